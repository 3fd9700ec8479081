#!/usr/bin/python3
"""`vexxy analyze`: the stable command-line surface is validated (clear message, exit 2),
and until the pipeline's phases exist the command says which one is missing and exits 2
without writing any document."""
import json
import os
import tempfile
import unittest

import vxtest

DIGEST = vxtest.DIGEST


def fixture(name):
    """A path from the image fixtures' env file (tests/fixtures), or None."""
    path = os.environ.get("VEXXY_FIXTURE_ENV")
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k == name:
                return v.strip('"')
    return None


class AnalyzeTest(unittest.TestCase):
    def run_analyze(self, *args):
        return vxtest.run_vexxy(["analyze"] + list(args))

    def test_help(self):
        r = self.run_analyze("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--findings", r.stdout)

    def test_missing_source_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "vex.json")
            r = self.run_analyze("oci:" + os.path.join(d, "no-such-layout"), "--digest", DIGEST,
                                 "--data-dir", os.path.join(d, "data"), "-o", out)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("no-such-layout", r.stderr)
            self.assertFalse(os.path.exists(out), "no document is written")

    def test_workload_exiting_at_once_proves_nothing(self):
        """A workload that exits at once (dash -c 'exit 3'): every finding on a package
        that is there stays under_investigation; only the absent package is not_affected
        (component_not_present). The documents are written and the work dir is removed."""
        layout = fixture("VEXXY_FIXTURE_TINY")
        if not layout:
            self.skipTest("no image fixtures (tests/fixtures; ctest fixture 'images')")
        if os.geteuid() != 0:
            self.skipTest("the sandbox needs root")
        with tempfile.TemporaryDirectory() as d:
            os.chmod(d, 0o711)  # the sandbox's user namespace walks down to the rootfs
            findings = os.path.join(d, "trivy.json")
            with open(fixture("VEXXY_FIXTURE_PACKAGES")) as f:
                pk = {p["name"]: p["version"] for p in json.load(f)}
            vulns = [{"VulnerabilityID": "CVE-2099-0001", "PkgName": "dash",
                      "InstalledVersion": pk["dash"], "Severity": "LOW"},
                     {"VulnerabilityID": "CVE-2099-0003", "PkgName": "libc6",
                      "InstalledVersion": pk["libc6"], "Severity": "LOW"},
                     {"VulnerabilityID": "CVE-2099-0002", "PkgName": "libxml2",
                      "InstalledVersion": "2.9.14+dfsg-1.3", "Severity": "LOW"}]
            with open(findings, "w") as f:
                json.dump({"SchemaVersion": 2, "ArtifactName": "tiny",
                           "Results": [{"Target": "tiny (debian 12)", "Class": "os-pkgs",
                                        "Type": "debian", "Vulnerabilities": vulns}]}, f)
            out = os.path.join(d, "vex.json")
            ev = os.path.join(d, "evidence.json")
            r = self.run_analyze("oci:" + layout, "--findings", findings, "--profile", "minimal",
                                 "--duration", "3", "--env", "A=b", "--tracer", "fanotify",
                                 "--command", "/bin/dash", "--command", "-c",
                                 "--command", "exit 3",
                                 "--data-dir", os.path.join(d, "data"), "-o", out,
                                 "--evidence", ev, "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            for phase in ("[1/6] image", "[2/6] inventory", "[3/6] sandbox", "[6/6] vex"):
                self.assertIn(phase, r.stderr)
            res = json.loads(r.stdout)
            got = {v["cve"]: (v["status"], v["justification"])
                   for v in res["reachability_results"]}
            self.assertEqual(got, {
                "CVE-2099-0001": ("under_investigation", None),
                "CVE-2099-0003": ("under_investigation", None),
                "CVE-2099-0002": ("not_affected", "component_not_present")}, r.stderr)
            with open(out) as f:
                vex = json.load(f)
            self.assertEqual(vex["@context"], "https://openvex.dev/ns/v0.2.0")
            self.assertEqual(len(vex["statements"]), 3)
            with open(ev) as f:
                self.assertIn("verdicts", json.load(f))
            jobs = os.path.join(d, "data", "jobs")
            self.assertEqual(os.listdir(jobs) if os.path.isdir(jobs) else [], [],
                             "the work directory is removed")

    def test_bad_values(self):
        cases = [
            (["x", "--digest", "sha256:abc"], "--digest"),
            (["x", "--port", "70000"], "--port"),
            (["x", "--profile", "huge"], "--profile"),
            (["x", "--tracer", "dtrace"], "--tracer"),
            (["x", "--fail-on", "everything"], "--fail-on"),
            (["x", "--findings", "/nonexistent/report.json"], "--findings"),
            ([], "IMAGE"),
            (["a", "b"], "IMAGE"),
            (["x", "--bogus"], "--bogus"),
        ]
        for args, word in cases:
            r = self.run_analyze(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(word, r.stderr, args)

    def test_findings_must_be_json(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write("{not json")
            f.flush()
            r = self.run_analyze("x", "--findings", f.name)
            self.assertEqual(r.returncode, 2)
            self.assertIn("malformed json", r.stderr)


if __name__ == "__main__":
    vxtest.main()
