#!/usr/bin/env python3
"""Ground truth on the demo image (nginx-light, curl, python3-minimal on Debian bookworm).

Oracle: the demo image is started on its own (`vexxy sandbox run`, no tracer) and the file
paths in /proc/PID/maps of its processes (nginx master and workers) are read from the host
while it runs; the inventory (`vexxy inventory --json`) says which package owns each. Then
`vexxy analyze` runs the image with a report holding one finding per package of interest:
 - every package owning a file in the oracle must be `affected` -- zero false not_affected;
 - curl, libcurl4, python3.11-minimal, libgnutls30, coreutils (nothing runs them) must be
   `not_affected` / `vulnerable_code_not_in_execute_path`;
 - libxml2 (not in the image) must be `not_affected` / `component_not_present`.
Ids CVE-2099-* are synthetic (this test is about reachability, not the CVE data). The run's
OpenVEX, CycloneDX and CSAF documents are validated against ../shared/schemas (skipped with a
note when that or python3-jsonschema is absent).
Needs root and the "images" fixture; skips (77) otherwise.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

import vxdemo

VEXXY = os.environ.get("VEXXY_BIN", "vexxy")


def read_env(var):
    out = {}
    path = os.environ.get(var)
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    out[k] = v
    return out


IMAGES = read_env("VEXXY_FIXTURE_ENV")


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


class DemoTruthTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vx-demo-truth-")
        os.chmod(self.tmp, 0o711)
        self.image = "oci:" + IMAGES["VEXXY_FIXTURE_DEMO"]

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.tmp])

    def oracle(self):
        """In-image paths mapped by the demo's processes while it runs."""
        pidf = os.path.join(self.tmp, "pid")
        p = subprocess.Popen([VEXXY, "sandbox", "run", self.image, "--timeout", "6",
                              "--pid-file", pidf, "--state-dir", os.path.join(self.tmp, "st")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        paths = set()
        try:
            deadline = time.time() + 60
            while time.time() < deadline and not (os.path.exists(pidf) and
                                                   os.path.getsize(pidf)):
                time.sleep(0.05)
            with open(pidf) as f:
                init = int(f.read())
            end = time.time() + 3
            while time.time() < end:  # sample a few times: workers start after the master
                for pid in descendants(init):
                    try:
                        with open("/proc/%d/maps" % pid) as f:
                            for line in f:
                                parts = line.split()
                                if len(parts) >= 6 and parts[5].startswith("/") and \
                                        not parts[5].startswith("/dev/"):
                                    paths.add(parts[5])
                    except OSError:
                        pass
                time.sleep(0.3)
        finally:
            p.wait(timeout=60)
            p.stderr.close()
        return paths

    def test_ground_truth(self):
        maps = self.oracle()
        self.assertIn("/usr/sbin/nginx", maps)
        inv = json.loads(subprocess.run([VEXXY, "inventory", self.image, "--json"], check=True,
                                        capture_output=True, text=True).stdout)
        owner = {}
        for pkg in inv["packages"]:
            for f in pkg.get("files", []):
                owner.setdefault(f, set()).add(pkg["name"])
        loaded = set()
        for path in maps:
            self.assertIn(path, owner, "mapped file %s has no owner in the inventory" % path)
            loaded |= owner[path]
        for must in ("nginx", "libc6", "libssl3", "libpcre2-8-0", "zlib1g"):
            self.assertIn(must, loaded)
        versions = {p["name"]: p["version"] for p in inv["packages"]}
        quiet = ["curl", "libcurl4", "python3.11-minimal", "libgnutls30", "coreutils"]
        vulns = []
        for i, name in enumerate(sorted(loaded) + quiet):
            vulns.append({"VulnerabilityID": "CVE-2099-%04d" % (1000 + i), "PkgName": name,
                          "InstalledVersion": versions[name], "Severity": "HIGH"})
        vulns.append({"VulnerabilityID": "CVE-2099-0999", "PkgName": "libxml2",
                      "InstalledVersion": "2.9.14+dfsg-1.3", "Severity": "HIGH"})
        findings = os.path.join(self.tmp, "findings.json")
        with open(findings, "w") as f:
            json.dump({"SchemaVersion": 2, "ArtifactName": "demo", "Results": [{
                "Target": "demo (debian 12)", "Class": "os-pkgs", "Type": "debian",
                "Vulnerabilities": vulns}]}, f)
        docs = os.path.join(self.tmp, "docs")
        r = subprocess.run([VEXXY, "analyze", self.image, "--findings", findings,
                            "--duration", "10", "--data-dir", os.path.join(self.tmp, "data"),
                            "--format", "all", "-o", docs, "--json"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)
        verdict = {v["package"]: (v["status"], v["justification"], v["reason"])
                   for v in res["reachability_results"]}
        false_na = [n for n in loaded if verdict[n][0] == "not_affected"]
        self.assertEqual(false_na, [], "false not_affected: %s" % verdict)
        for n in loaded:
            self.assertEqual(verdict[n][0], "affected", (n, verdict[n]))
        for n in quiet:
            self.assertEqual(verdict[n][:2], ("not_affected",
                                              "vulnerable_code_not_in_execute_path"),
                             (n, verdict[n]))
        self.assertEqual(verdict["libxml2"][:2], ("not_affected", "component_not_present"))
        for n in sorted(verdict):
            print("  %-22s %-13s %s" % (n, verdict[n][0], verdict[n][1] or ""))
        if vxdemo.have_schemas():
            for kind in ("openvex", "cyclonedx", "csaf"):
                with open(os.path.join(docs, kind + ".json")) as f:
                    self.assertEqual(vxdemo.validate(json.load(f), kind), [], kind)
        else:
            print("schema validation skipped: no ../shared/schemas or python3-jsonschema")
        print("oracle: %d mapped files of %d packages (%s); %d verdicts, %d affected, "
              "%d not_affected" % (len(maps), len(loaded), ", ".join(sorted(loaded)),
                                   len(verdict), res["summary"]["affected"],
                                   res["summary"]["not_affected"]))


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: the sandbox and the tracer need root")
        sys.exit(77)
    if not IMAGES.get("VEXXY_FIXTURE_DEMO"):
        print("skipped: no demo image fixture (tests/fixtures)")
        sys.exit(77)
    unittest.main(verbosity=2)
