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

    def test_missing_phase_is_reported_not_faked(self):
        layout = fixture("VEXXY_FIXTURE_TINY")
        if not layout:
            self.skipTest("no image fixtures (tests/fixtures; ctest fixture 'images')")
        with tempfile.TemporaryDirectory() as d:
            findings = os.path.join(d, "trivy.json")
            with open(fixture("VEXXY_FIXTURE_PACKAGES")) as f:
                dash = [p for p in json.load(f) if p["name"] == "dash"][0]
            vulns = [{"VulnerabilityID": "CVE-2099-0001", "PkgName": "dash",
                      "InstalledVersion": dash["version"], "Severity": "LOW"},
                     {"VulnerabilityID": "CVE-2099-0002", "PkgName": "libxml2",
                      "InstalledVersion": "2.9.14+dfsg-1.3", "Severity": "LOW"}]
            with open(findings, "w") as f:
                json.dump({"SchemaVersion": 2, "ArtifactName": "tiny",
                           "Results": [{"Target": "tiny (debian 12)", "Class": "os-pkgs",
                                        "Type": "debian", "Vulnerabilities": vulns}]}, f)
            out = os.path.join(d, "vex.json")
            r = self.run_analyze("oci:" + layout, "--findings", findings, "--profile", "minimal",
                                 "--port", "80", "--env", "A=b", "--tracer", "fanotify,ebpf",
                                 "--data-dir", os.path.join(d, "data"), "-o", out)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("[1/6] image", r.stderr)
            # the inventory phase runs: packages found, both findings read, dash bound
            self.assertIn("[2/6] inventory", r.stderr)
            self.assertIn("2 finding(s), 1 bound", r.stderr)
            self.assertIn("phase 'sandbox' is not available yet", r.stderr)
            self.assertFalse(os.path.exists(out), "no document is written")
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
