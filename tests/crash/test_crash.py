#!/usr/bin/python3
"""Crash and scale tests of the durable queue with real processes.

- A `vexxy worker` killed with SIGKILL while it holds a job: the job is reclaimed after its
  lease by another worker and ends exactly once.
- 200 jobs through 4 workers (two `vexxy worker` processes x two threads): every job is
  claimed exactly once and none is lost.

Runs against SQLite always, and against PostgreSQL when VEXXY_TEST_PG_URL_FILE names a file
holding a postgres:// URL (the ctest fixture in tests/pg starts a throwaway cluster).
Every process started here is killed in tearDown; every wait has a deadline.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

VEXXY = os.environ.get("VEXXY_BIN", "vexxy")
DIGEST = "sha256:" + "ab" * 32
BACKEND = os.environ.get("VEXXY_TEST_BACKEND", "sqlite")


def pg_url():
    path = os.environ.get("VEXXY_TEST_PG_URL_FILE")
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read().strip()


class Cluster:
    """One API server (no in-process workers) plus any number of worker processes."""

    def __init__(self, tmp, db):
        self.tmp = tmp
        self.db = db
        self.procs = []
        self.logs = []
        self.port = None

    def _spawn(self, name, args):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen([VEXXY] + args, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        self.logs.append(log.name)
        return p

    def start_api(self):
        port_file = os.path.join(self.tmp, "port")
        self._spawn("serve", ["serve", "--listen", "127.0.0.1:0", "--port-file", port_file,
                              "--db", self.db, "--workers", "0", "--no-auth",
                              "--data-dir", os.path.join(self.tmp, "api")])
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    self.port = int(f.read())
                return
            if self.procs[-1].poll() is not None:
                raise RuntimeError("vexxy serve exited: " + open(self.logs[-1]).read())
            time.sleep(0.05)
        raise RuntimeError("vexxy serve did not start")

    def start_worker(self, name, concurrency, extra=()):
        return self._spawn(name, ["worker", "--db", self.db, "--concurrency", str(concurrency),
                                  "--id", name, "--data-dir", os.path.join(self.tmp, name),
                                  "--allowed-registries", "127.0.0.1"]
                           + list(extra))

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def submit(self, n):
        ids = []
        for i in range(n):
            code, body = self.request("POST", "/api/v1/analysis/submit", {
                "image_ref": "registry.example/app:%d" % i, "image_digest": DIGEST,
                "config": {"environment": {"N": str(i)}}})
            assert code == 202, (code, body)
            ids.append(body["job_id"])
        return ids

    def status(self, job_id):
        code, body = self.request("GET", "/api/v1/analysis/%s/status" % job_id)
        assert code == 200, (code, body)
        return body

    def wait(self, job_ids, pred, timeout):
        deadline = time.time() + timeout
        pending = set(job_ids)
        while pending and time.time() < deadline:
            for j in list(pending):
                if pred(self.status(j)):
                    pending.discard(j)
            if pending:
                time.sleep(0.1)
        return pending

    def claims(self):
        """job id -> list of worker slots that claimed it, from every worker's log."""
        out = {}
        for path in self.logs:
            with open(path) as f:
                for m in re.finditer(r"job ([0-9a-f-]{36}): claimed by (\S+)", f.read()):
                    out.setdefault(m.group(1), []).append(m.group(2))
        return out

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


TERMINAL = ("complete", "failed", "cancelled")


class CrashTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vx-crash-")
        if BACKEND == "postgres":
            base = pg_url()
            if not base:
                if os.environ.get("CI") == "true":
                    self.fail("VEXXY_TEST_PG_URL_FILE is missing in CI: PostgreSQL fixture did not run")
                raise unittest.SkipTest("no PostgreSQL fixture (VEXXY_TEST_PG_URL_FILE)")
            dbname = "vx_crash_%d_%d" % (os.getpid(), int(time.time() * 1000) % 100000000)
            subprocess.run(["psql", base, "-q", "-c", "CREATE DATABASE %s" % dbname],
                           check=True, capture_output=True)
            self.db = base.rsplit("/", 1)[0] + "/" + dbname
        else:
            self.db = "sqlite:" + os.path.join(self.tmp, "vexxy.db")
        self.c = Cluster(self.tmp, self.db)
        self.c.start_api()

    def tearDown(self):
        self.c.stop()
        if self.id().endswith("_keep"):
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_sigkill_worker_job_reclaimed_once(self):
        [job] = self.c.submit(1)
        victim = self.c.start_worker("victim", 1, ["--lease-seconds", "2",
                                                   "--debug-phase-delay-ms", "600000"])
        left = self.c.wait([job], lambda s: s["status"] == "running", 20)
        self.assertFalse(left, "the victim never claimed the job")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        time.sleep(0.5)
        self.assertEqual(self.c.status(job)["status"], "running")  # still leased to the dead
        self.c.start_worker("rescuer", 1, ["--lease-seconds", "2"])
        left = self.c.wait([job], lambda s: s["status"] in TERMINAL, 40)
        self.assertFalse(left, "the job was not reclaimed after its lease expired")
        st = self.c.status(job)
        self.assertEqual(st["status"], "failed")
        self.assertIn("not in the allowed registries", st["error_message"])
        self.assertEqual(st["retry_count"], 1)
        claims = self.c.claims()[job]
        self.assertEqual(claims, ["victim-0", "rescuer-0"])

    def test_200_jobs_4_workers_each_claimed_once(self):
        ids = self.c.submit(200)
        # each phase held 20 ms: 200 jobs take one process seconds, so the second one (whose
        # start can take longer: sandbox reaper, tracer probe) always gets some of them
        self.c.start_worker("w1", 2, ["--debug-phase-delay-ms", "20"])
        self.c.start_worker("w2", 2, ["--debug-phase-delay-ms", "20"])
        left = self.c.wait(ids, lambda s: s["status"] in TERMINAL, 240)
        self.assertFalse(left, "%d job(s) never finished" % len(left))
        claims = self.c.claims()
        self.assertEqual(set(claims), set(ids), "every job claimed")
        twice = {j: w for j, w in claims.items() if len(w) != 1}
        self.assertEqual(twice, {}, "jobs claimed more than once")
        used = {w[0].rsplit("-", 1)[0] for w in claims.values()}
        self.assertEqual(used, {"w1", "w2"}, "both processes took jobs")
        for j in ids[:20]:
            st = self.c.status(j)
            self.assertEqual(st["status"], "failed")
            self.assertEqual(st["retry_count"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
