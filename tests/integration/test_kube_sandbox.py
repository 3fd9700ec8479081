#!/usr/bin/env python3
"""The Kubernetes sandbox backend (src/queue/phase_kube.c) against the fake API server
(tests/k8s/fake-apiserver.js, which validates every object against the official Kubernetes
schemas of the npm package kubernetes-models, enforces the bearer token and simulates the Job
lifecycle). No cluster runs here, so the pod's containers do not run: the fake plays the
tracer sidecar's log back (a `VEXXY-AGENT-REPORT` line as `vexxy sandbox agent` prints it).

What is checked, with `vexxy analyze IMAGE --sandbox kubernetes` on the `tiny` image from the
local registry:
- the NetworkPolicy (deny all, selected by the job label) and the Job are accepted by the
  schemas; the Job pins the image by digest, has backoffLimit 0, ttlSecondsAfterFinished,
  activeDeadlineSeconds, shareProcessNamespace, the waiter init container, a restricted
  target (RuntimeDefault seccomp, no privilege escalation, capabilities dropped) and the
  tracer as the only privileged container; the test-script container when asked;
- verdicts come from the report: dash (executed) affected, zlib1g (never loaded)
  not_affected, a package not in the image component_not_present;
- the Job (Foreground) and the NetworkPolicy are deleted at the end, on failure and on
  cancel; nothing is left on the fake;
- 403 (RBAC) and 403 quota name the cause; a run whose sidecar printed no report fails
  (nothing is decided from a run nobody saw).
And through the service: `vexxy serve --sandbox kubernetes`, DELETE while the Job runs ->
the Job is deleted and the job ends cancelled.
Skips (77) without root, node + the `k8s` fixture, or the image/registry fixtures.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
K8S = os.path.join(HERE, "..", "k8s")
sys.path.insert(0, K8S)

import vxtest  # noqa: E402
from vxdemo import read_env  # noqa: E402

TOKEN = "t0ken-for-tests"
TRACER_IMAGE = "registry.example/vexxy@sha256:" + "ab" * 32


IMAGES = read_env("VEXXY_FIXTURE_ENV")
REGISTRY = read_env("VEXXY_REGISTRY_ENV")
K8SENV = read_env("K8S_ENV_FILE")


def report_line(window_ms=3000, files=None, complete=True, test_script=None):
    files = files or [
        ("/bin/dash", ["exec"]),  # tiny is not merged-/usr: the canonical paths
        ("/lib/x86_64-linux-gnu/libc.so.6", ["mmap-exec", "needed"]),
        ("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", ["interp"]),
    ]
    profile = {
        "complete": complete,
        "window": {"start_ms": 1000, "end_ms": 1000 + window_ms, "duration_ms": window_ms},
        "backends": [{"name": "fanotify", "ran": True, "events": 40,
                      "lost": 0 if complete else 3, "error": None}],
        "files": [{"path": p, "dev": 2049, "ino": 100 + i, "how": how, "first_ms": 1001 + i,
                   "count": 1, "pids": [7], "backends": ["fanotify"]}
                  for i, (p, how) in enumerate(sorted(files))],
        "processes": [{"pid": 7, "ppid": 1, "exe": "/bin/dash", "argv": ["dash"],
                       "end_ms": None, "start_ms": 1000, "exit_code": 0}],
        "network": [], "syscalls": [], "symbols": [],
    }
    facts = {"ran": True, "stayed_up": True, "exit_code": -1, "window_ms": window_ms,
             "window_wanted_ms": window_ms, "health_checked": True, "health_ok": True,
             "requests": 120, "endpoints": 6, "status_2xx": 100, "status_4xx": 20,
             "status_5xx": 0, "test_script_ran": test_script is not None,
             "test_script_exit": test_script or 0}
    rep = {"version": 1, "facts": facts, "exercise": {"requests": 120}, "profile": profile,
           "test_script": ({"ran": True, "exit_code": test_script, "output": "ok\n"}
                           if test_script is not None else None), "error": None}
    return "agent: attached\nVEXXY-AGENT-REPORT " + json.dumps(rep) + "\n"


def skip_reason():
    if os.geteuid() != 0:
        return "not root"
    if not IMAGES or not REGISTRY:
        return "no image/registry fixtures (tests/fixtures)"
    nm = K8SENV.get("K8S_NODE_MODULES")
    if not nm or not os.path.isdir(os.path.join(nm, "kubernetes-models")):
        return "no kubernetes-models (the 'k8s' fixture: tests/k8s/setup.sh)"
    return None


class KubeSandboxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from test_kube_client import Fake  # tests/k8s: one fake-apiserver.js process
        cls.tmp = tempfile.mkdtemp(prefix="vx-kube-sbx-")
        os.chmod(cls.tmp, 0o711)
        certs = os.path.join(cls.tmp, "certs")
        subprocess.run([os.path.join(K8S, "make-certs.sh"), certs], check=True,
                       capture_output=True)
        cls.fake = Fake(certs, K8SENV["K8S_NODE_MODULES"])
        kc = subprocess.run([os.path.join(K8S, "make-certs.sh"), "kubeconfig", certs,
                             cls.fake.url, TOKEN, "vexxy-sandbox"], check=True,
                            capture_output=True, text=True).stdout
        cls.kubeconfig = os.path.join(cls.tmp, "kubeconfig")
        with open(cls.kubeconfig, "w") as f:
            f.write(kc)
        with open(IMAGES["VEXXY_FIXTURE_DIGESTS"]) as f:
            cls.digest = json.load(f)["tiny"]["manifest"]
        cls.image = "%s/vexxy-test/tiny:latest" % REGISTRY["VEXXY_REGISTRY"]
        with open(IMAGES["VEXXY_FIXTURE_PACKAGES"]) as f:
            ver = {p["name"]: p["version"] for p in json.load(f)}
        cls.findings = os.path.join(cls.tmp, "findings.json")
        with open(cls.findings, "w") as f:
            json.dump({"SchemaVersion": 2, "ArtifactName": "tiny", "Results": [{
                "Target": "tiny (debian 12)", "Class": "os-pkgs", "Type": "debian",
                "Vulnerabilities": [
                    {"VulnerabilityID": "CVE-2099-1001", "PkgName": "dash",
                     "InstalledVersion": ver["dash"], "Severity": "LOW"},
                    {"VulnerabilityID": "CVE-2099-1002", "PkgName": "zlib1g",
                     "InstalledVersion": ver["zlib1g"], "Severity": "HIGH"},
                    {"VulnerabilityID": "CVE-2099-1003", "PkgName": "libxml2",
                     "InstalledVersion": "2.9.14+dfsg-1.3", "Severity": "HIGH"}]}]}, f)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.t0 = time.monotonic()
        self.n_req = len(self.fake.requests())

    def tearDown(self):
        print("  %s: %.2f s" % (self.id().split(".")[-1], time.monotonic() - self.t0),
              file=sys.stderr)

    def script(self, logs, run_ms=300, outcome="failed", exit_code=143):
        # the target is ended by the agent (SIGTERM): the pod fails, the report is what counts
        self.fake.ctl("POST", "/_fake/script", {"match": "vx-", "run_ms": run_ms,
                                                "outcome": outcome, "exit_code": exit_code,
                                                "logs": logs})

    def analyze(self, *extra, timeout=120):
        ev = os.path.join(self.tmp, "evidence-%d.json" % time.monotonic_ns())
        args = ["analyze", self.image, "--digest", self.digest, "--insecure-registry",
                "--findings", self.findings, "--sandbox", "kubernetes", "--kubeconfig",
                self.kubeconfig, "--tracer-image", TRACER_IMAGE, "--duration", "3",
                "--data-dir", os.path.join(self.tmp, "data"), "--evidence", ev, "--json",
                *extra]
        r = vxtest.run_vexxy(args, timeout=timeout)
        doc = None
        if os.path.exists(ev):
            with open(ev) as f:
                doc = json.load(f)
        return r, doc

    def new_requests(self):
        return self.fake.requests()[self.n_req:]

    def assert_nothing_left(self):
        objs = self.fake.ctl("GET", "/_fake/objects")
        left = {k: v for k, v in objs.items() if v} if isinstance(objs, dict) else objs
        self.assertFalse(left, left)

    def posted(self, plural):
        return [r for r in self.new_requests()
                if r["method"] == "POST" and r["path"].endswith("/" + plural)]

    def test_a_run_decides_from_the_report(self):
        self.script({"tracer": report_line(), "target": "dash started\n"})
        r, doc = self.analyze()
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        verdicts = {v["cve"]: (v["status"], v.get("justification"))
                    for v in out["reachability_results"]}
        self.assertEqual(verdicts["CVE-2099-1001"][0], "affected", out)
        self.assertEqual(verdicts["CVE-2099-1002"],
                         ("not_affected", "vulnerable_code_not_in_execute_path"), out)
        self.assertEqual(verdicts["CVE-2099-1003"], ("not_affected", "component_not_present"))
        self.assertTrue(doc["run"]["health_ok"])
        self.assertEqual(doc["run"]["requests"], 120)

        # the objects as the fake received them (and accepted: the schemas checked them)
        np = self.posted("networkpolicies")
        self.assertEqual(len(np), 1)
        self.assertEqual(np[0]["status"], 201, np[0])
        spec = np[0]["body"]["spec"]
        self.assertEqual(sorted(spec["policyTypes"]), ["Egress", "Ingress"])
        self.assertNotIn("egress", spec)
        self.assertNotIn("ingress", spec)
        jobs = self.posted("jobs")
        self.assertEqual(len(jobs), 1)
        self.assertEqual(jobs[0]["status"], 201, jobs[0])
        job = jobs[0]["body"]
        name = job["metadata"]["name"]
        js = job["spec"]
        self.assertEqual(js["backoffLimit"], 0)
        self.assertGreater(js["ttlSecondsAfterFinished"], 0)
        self.assertGreaterEqual(js["activeDeadlineSeconds"], 60)
        pod = js["template"]["spec"]
        self.assertTrue(pod["shareProcessNamespace"])
        self.assertFalse(pod["automountServiceAccountToken"])
        self.assertEqual(pod["restartPolicy"], "Never")
        byname = {c["name"]: c for c in pod["containers"]}
        self.assertEqual(sorted(byname), ["target", "tracer"])
        tgt = byname["target"]
        self.assertEqual(tgt["image"], "%s/vexxy-test/tiny@%s"
                         % (REGISTRY["VEXXY_REGISTRY"], self.digest))
        self.assertEqual(tgt["command"][:2], ["/vexxy/vexxy-wait", "--"])
        sc = tgt["securityContext"]
        self.assertEqual(sc["seccompProfile"]["type"], "RuntimeDefault")
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertNotIn("privileged", sc)
        self.assertIn("limits", tgt["resources"])
        trc = byname["tracer"]
        self.assertEqual(trc["image"], TRACER_IMAGE)
        self.assertTrue(trc["securityContext"]["privileged"])
        self.assertEqual(trc["securityContext"]["runAsUser"], 0)
        self.assertEqual(trc["command"][:3], ["vexxy", "sandbox", "agent"])
        self.assertIn("--duration", trc["command"])
        self.assertEqual(pod["initContainers"][0]["command"],
                         ["vexxy-wait", "--install", "/vexxy"])
        # cleaned up: Job deleted in the foreground, the policy deleted
        dels = [(q["path"], json.dumps(q.get("query")) + json.dumps(q.get("body")))
                for q in self.new_requests() if q["method"] == "DELETE"]
        self.assertTrue(any(p.endswith("/jobs/" + name) and "Foreground" in qb
                            for p, qb in dels), dels)
        self.assertTrue(any(p.endswith("/networkpolicies/" + name) for p, _ in dels), dels)
        self.assert_nothing_left()

    def test_b_test_script_container(self):
        self.script({"tracer": report_line(test_script=0)})
        script = os.path.join(self.tmp, "script.sh")
        with open(script, "w") as f:
            f.write("curl -fsS http://$TARGET_HOST:$TARGET_PORTS/\n")
        r, doc = self.analyze("--test-script", script, "--port", "8080", "--kube-pull-secret",
                              "registry-creds", "--kube-runtime-class", "gvisor")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(doc["run"]["test_script_ran"])
        pod = self.posted("jobs")[0]["body"]["spec"]["template"]["spec"]
        self.assertEqual(pod["imagePullSecrets"], [{"name": "registry-creds"}])
        self.assertEqual(pod["runtimeClassName"], "gvisor")
        byname = {c["name"]: c for c in pod["containers"]}
        ts = byname["test-script"]
        env = {e["name"]: e["value"] for e in ts["env"]}
        self.assertEqual(env["TARGET_HOST"], "127.0.0.1")
        self.assertEqual(env["TARGET_PORTS"], "8080")
        self.assertIn("curl", env["VEXXY_TEST_SCRIPT"])
        self.assertNotIn("privileged", ts["securityContext"])
        self.assertIn("--test-script", byname["tracer"]["command"])
        self.assert_nothing_left()

    def test_c_no_report_fails_and_cleans_up(self):
        self.script({"tracer": "agent: could not find the target\n"})
        r, _ = self.analyze()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("printed no report", r.stderr)
        self.assert_nothing_left()

    def test_d_forbidden_and_quota(self):
        self.fake.ctl("POST", "/_fake/fail-next", {"verb": "create", "resource": "jobs",
                                                   "code": 403, "reason": "Forbidden",
                                                   "message": "exceeded quota: vexxy-quota, "
                                                   "requested: count/jobs.batch=1"})
        r, _ = self.analyze()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("exceeded quota", r.stderr)
        self.assert_nothing_left()  # the NetworkPolicy made before the Job is gone too
        self.fake.ctl("POST", "/_fake/fail-next", {"verb": "create", "resource": "jobs",
                                                   "code": 403, "reason": "Forbidden",
                                                   "message": "jobs.batch is forbidden: User "
                                                   "\"system:serviceaccount:vexxy:vexxy-worker\""
                                                   " cannot create resource \"jobs\""})
        r, _ = self.analyze()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("forbidden", r.stderr)
        self.assert_nothing_left()

    def test_e_service_cancel_deletes_the_job(self):
        self.script({"tracer": report_line()}, run_ms=120000)
        srv = vxtest.Server(self.tmp, "sqlite:" + os.path.join(self.tmp, "svc.db"),
                            args=["--no-auth", "--workers", "1", "--insecure-registries",
                                  "127.0.0.1", "--sandbox", "kubernetes", "--kubeconfig",
                                  self.kubeconfig, "--tracer-image", TRACER_IMAGE])
        srv.start()
        try:
            r = srv.submit(image_ref=self.image, image_digest=self.digest, profile="minimal",
                           config={"analysis_duration": 60, "test_timeout": 120})
            self.assertEqual(r.status, 202, r.body)
            job = r.json["job_id"]
            name = "vx-" + job[:40]

            def job_exists():
                objs = self.fake.ctl("GET", "/_fake/objects")
                return any(o.get("metadata", {}).get("name") == name
                           for o in (objs.get("jobs") or []))
            deadline = time.monotonic() + 60
            while not job_exists():
                st = srv.status(job).json
                self.assertNotIn(st["status"], ("complete", "failed", "cancelled"), st)
                self.assertLess(time.monotonic(), deadline, st)
                time.sleep(0.1)
            t0 = time.monotonic()
            d = srv.request("DELETE", "/api/v1/analysis/%s" % job)
            self.assertIn(d.status, (200, 202), d.body)
            st = srv.wait_status(job, lambda s: s["status"] in ("complete", "failed",
                                                                "cancelled"), 30)
            self.assertEqual(st["status"], "cancelled", st)
            while job_exists():
                self.assertLess(time.monotonic() - t0, 10)
                time.sleep(0.05)
            print("  cancel -> Job deleted: %.2f s" % (time.monotonic() - t0),
                  file=sys.stderr)
            self.assert_nothing_left()
        finally:
            srv.stop()


if __name__ == "__main__":
    why = skip_reason()
    if why:
        print("skipped: " + why)
        sys.exit(77)
    res = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if res.wasSuccessful() else 1)
