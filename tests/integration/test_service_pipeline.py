#!/usr/bin/env python3
"""The service runs the whole pipeline: a job submitted over the API for an image in the
local registry is pulled, inventoried, run in the sandbox under the tracer, decided and
documented; results, documents and evidence are served by the API.

Needs root (sandbox, tracer) and the fixtures "images" and "registry" (tests/fixtures);
skips (77) otherwise. The image is the `tiny` fixture (dash): its workload stays up for the
3 s window without traffic, so the run's confidence is low and nothing is not_affected by
execution evidence -- but a package that is not in the image is component_not_present.
"""
import json
import os
import sys
import unittest

import vxtest


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
REGISTRY = read_env("VEXXY_REGISTRY_ENV")


class ServicePipelineTest(vxtest.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os.chmod(cls.tmp, 0o711)  # the sandbox's user namespace walks down to the rootfs
        cls.srv = cls.start_server(args=["--no-auth", "--workers", "1",
                                         "--insecure-registries", "127.0.0.1"])

    def test_job_runs_end_to_end(self):
        with open(IMAGES["VEXXY_FIXTURE_DIGESTS"]) as f:
            digest = json.load(f)["tiny"]["manifest"]
        with open(IMAGES["VEXXY_FIXTURE_PACKAGES"]) as f:
            dash = [p for p in json.load(f) if p["name"] == "dash"][0]["version"]
        findings = {"SchemaVersion": 2, "ArtifactName": "tiny", "Results": [{
            "Target": "tiny (debian 12)", "Class": "os-pkgs", "Type": "debian",
            "Vulnerabilities": [
                {"VulnerabilityID": "CVE-2099-0001", "PkgName": "dash",
                 "InstalledVersion": dash, "Severity": "LOW"},
                {"VulnerabilityID": "CVE-2099-0002", "PkgName": "libxml2",
                 "InstalledVersion": "2.9.14+dfsg-1.3", "Severity": "HIGH"}]}]}
        r = self.srv.submit(image_ref="%s/vexxy-test/tiny:latest" % REGISTRY["VEXXY_REGISTRY"],
                            image_digest=digest, profile="minimal", findings=findings,
                            config={"analysis_duration": 3, "test_timeout": 60})
        self.assertEqual(r.status, 202, r.body)
        job = r.json["job_id"]
        st = self.srv.wait_status(job, lambda s: s["status"] in ("complete", "failed",
                                                                 "cancelled"), 90)
        self.assertEqual(st["status"], "complete", st)

        res = self.srv.request("GET", "/api/v1/analysis/%s/results" % job)
        self.assertEqual(res.status, 200, res.body)
        body = res.json
        self.assertEqual(body["summary"]["total_cves_analyzed"], 2)
        got = {v["cve"]: (v["status"], v["justification"])
               for v in body["reachability_results"]}
        self.assertEqual(got["CVE-2099-0002"], ("not_affected", "component_not_present"))
        self.assertNotEqual(got["CVE-2099-0001"][0], "not_affected")  # low-confidence run
        self.assertEqual(body["vex_document"]["@context"], "https://openvex.dev/ns/v0.2.0")
        self.assertTrue(body["execution_profile"]["complete"])
        self.assertIsNotNone(body["coverage"])
        for fmt, key in (("cyclonedx", "bomFormat"), ("csaf", "document"),
                         ("openvex", "statements")):
            d = self.srv.request("GET", "/api/v1/analysis/%s/results?format=%s" % (job, fmt))
            self.assertEqual(d.status, 200, (fmt, d.body))
            self.assertIn(key, d.json)
        vex = self.srv.request("GET", "/api/v1/vex/%s" % body["vex_document_id"])
        self.assertEqual(vex.status, 200)
        self.assertEqual(vex.json["@id"], body["vex_document"]["@id"])
        ev = self.srv.request("GET", "/api/v1/analysis/%s/evidence" % job)
        self.assertEqual(ev.status, 200, ev.body)
        types = json.dumps(ev.json)
        for t in ("image", "inventory", "findings", "sbom", "profile", "sandbox-log",
                  "evidence", "openvex", "cyclonedx", "csaf"):
            self.assertIn('"%s"' % t, types)
        # nothing of the run is left on the host
        self.assertEqual(os.listdir(os.path.join(self.srv.data_dir, "jobs", job, "sandbox"))
                         if os.path.isdir(os.path.join(self.srv.data_dir, "jobs", job,
                                                       "sandbox")) else [], [])
        with open("/proc/mounts") as f:
            self.assertNotIn(self.srv.data_dir, f.read())

    def test_cancel_kills_the_workload_within_2s(self):
        """DELETE during the sandbox phase: the worker's heartbeat (every second) sees the
        request, the phase's loop (200 ms) stops, the workload is killed and everything is
        removed. Timed from the DELETE to the workload's last process gone."""
        import time
        with open(IMAGES["VEXXY_FIXTURE_DIGESTS"]) as f:
            digest = json.load(f)["tiny"]["manifest"]
        r = self.srv.submit(image_ref="%s/vexxy-test/tiny:latest" % REGISTRY["VEXXY_REGISTRY"],
                            image_digest=digest, profile="minimal",
                            config={"analysis_duration": 120, "test_timeout": 300,
                                    "command": ["busybox", "sleep", "600"]})
        self.assertEqual(r.status, 202, r.body)
        job = r.json["job_id"]
        name = "vx-" + job[:40]
        procs = "/sys/fs/cgroup/pids/vexxy/%s/cgroup.procs" % name

        def pids():
            try:
                with open(procs) as f:
                    return f.read().split()
            except OSError:
                return []
        deadline = time.monotonic() + 60
        while not pids():
            st = self.srv.status(job).json
            self.assertNotIn(st["status"], ("complete", "failed", "cancelled"), st)
            self.assertLess(time.monotonic(), deadline, ("the workload never started", st))
            time.sleep(0.05)
        time.sleep(0.5)  # past create: the workload runs
        first = pids()
        self.assertTrue(first, "the workload is not running")
        t0 = time.monotonic()
        d = self.srv.request("DELETE", "/api/v1/analysis/%s" % job)
        print("  workload pids %s; DELETE answered in %.3f s" % (first, time.monotonic() - t0),
              file=sys.stderr)
        self.assertIn(d.status, (200, 202), d.body)
        while pids():
            self.assertLess(time.monotonic() - t0, 10, "the workload outlived the cancel")
            time.sleep(0.02)
        took = time.monotonic() - t0
        print("  cancel -> workload gone: %.2f s" % took, file=sys.stderr)
        self.assertLess(took, 2.0)
        st = self.srv.wait_status(job, lambda s: s["status"] in ("complete", "failed",
                                                                 "cancelled"), 30)
        self.assertEqual(st["status"], "cancelled", st)
        for h in ("memory", "pids", "cpu", "unified"):
            self.assertFalse(os.path.exists("/sys/fs/cgroup/%s/vexxy/%s" % (h, name)), h)
        with open("/proc/mounts") as f:
            self.assertNotIn(name, f.read())
        sb = os.path.join(self.srv.data_dir, "jobs", job, "sandbox")
        self.assertEqual(os.listdir(sb) if os.path.isdir(sb) else [], [])


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: the sandbox and the tracer need root")
        sys.exit(77)
    if not IMAGES or not REGISTRY:
        print("skipped: no image/registry fixtures (tests/fixtures)")
        sys.exit(77)
    unittest.main(verbosity=2)
