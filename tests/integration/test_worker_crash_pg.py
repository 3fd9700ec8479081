#!/usr/bin/env python3
"""A worker SIGKILLed mid-run, its job retried by another worker on the same host, and the
dead worker restarted while the retry runs (a supervisor's restart, e.g. systemd).

The killed worker's workload outlives it (its runtime and cgroup stay until a reaper runs).
The retry must get a sandbox of its own: with a name derived from the job id alone, the
retry joined the dead run's cgroups, and the restarted worker's start-up reaper
(`runc delete --force` of the dead run) killed the retry's workload seconds into its window
-- the job still ended "complete", with a profile of a cut-short run.

Checked: the retry's workload runs its whole window ("still up"), never shares a cgroup with
the dead run's workload, the restarted worker removes the dead run, the job's state history
(a test-only audit trigger on the jobs table) shows one holder at a time and one complete,
and nothing is left (records, runc containers, mounts, cgroups).

Needs root (sandbox, tracer) and the fixtures "pg", "images" and "registry"; skips (77)
otherwise.
"""
import glob
import json
import os
import signal
import subprocess
import sys
import time
import unittest

import vxtest
from vxdemo import read_env


IMAGES = read_env("VEXXY_FIXTURE_ENV")
REGISTRY = read_env("VEXXY_REGISTRY_ENV")
WINDOW_S = 8

# Test-only audit of the job's state changes (old and new holder), on the throwaway database.
AUDIT_SQL = """
CREATE TABLE audit (seq BIGSERIAL PRIMARY KEY, job_id TEXT, old_state TEXT, new_state TEXT,
  old_worker TEXT, new_worker TEXT);
CREATE FUNCTION audit_fn() RETURNS trigger AS $$
BEGIN
  INSERT INTO audit (job_id, old_state, new_state, old_worker, new_worker)
  VALUES (NEW.id, OLD.state, NEW.state, OLD.worker_id, NEW.worker_id);
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER audit_tr AFTER UPDATE ON jobs FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION audit_fn();
"""


def psql(url, sql):
    r = subprocess.run(["psql", url, "-qAt", "-F", "|", "-c", sql], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("psql: %s" % r.stderr)
    return [line.split("|") for line in r.stdout.splitlines() if line]


def cgroup_pids(name):
    """Pids in the sandbox's cgroup (v1 pids hierarchy, or v2), or None when it is gone."""
    for p in ("/sys/fs/cgroup/pids/vexxy/%s/cgroup.procs" % name,
              "/sys/fs/cgroup/vexxy/%s/cgroup.procs" % name):
        try:
            with open(p) as f:
                return f.read().split()
        except OSError:
            continue
    return None


class Worker:
    def __init__(self, tmp, db_url, name, data):
        self.name, self.db_url = name, db_url
        self.data_dir = os.path.join(tmp, data)
        self.log_path = os.path.join(tmp, name + ".log")
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [vxtest.VEXXY, "worker", "--db", db_url, "--data-dir", self.data_dir, "--id", name,
             "--concurrency", "1", "--lease-seconds", "3", "--allowed-registries", "127.0.0.1",
             "--insecure-registries", "127.0.0.1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=vxtest.clean_env())
        log.close()

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def records(self):
        return glob.glob(os.path.join(self.data_dir, "sandbox", "vexxy", "*.json"))

    def containers(self):
        root = os.path.join(self.data_dir, "sandbox", "runc")
        if not os.path.isdir(root):
            return []
        return subprocess.run(["runc", "--root", root, "list", "-q"], capture_output=True,
                              text=True, timeout=30).stdout.split()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class WorkerCrashTest(vxtest.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os.chmod(cls.tmp, 0o711)  # the sandbox's user namespace walks down to the rootfs
        cls.srv = cls.start_server(args=["--no-auth", "--workers", "0"])  # migrates
        psql(cls.db.url, AUDIT_SQL)
        cls.workers = []

    @classmethod
    def tearDownClass(cls):
        for w in cls.workers:
            w.stop()
        super().tearDownClass()

    def wait(self, what, pred, timeout):
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.1)

    def test_retry_on_the_same_host_survives_the_dead_runs_reaper(self):
        with open(IMAGES["VEXXY_FIXTURE_DIGESTS"]) as f:
            digest = json.load(f)["tiny"]["manifest"]
        w1 = Worker(self.tmp, self.db.url, "w1", "w1-data")
        self.workers.append(w1)
        r = self.srv.submit(image_ref="%s/vexxy-test/tiny:latest" % REGISTRY["VEXXY_REGISTRY"],
                            image_digest=digest, profile="minimal", force=True,
                            config={"analysis_duration": WINDOW_S, "test_timeout": 60,
                                    "command": ["busybox", "sleep", "600"]})
        self.assertEqual(r.status, 202, r.body)
        job = r.json["job_id"]
        first = "vx-" + job[:40]
        old = self.wait("the first run's workload never started", lambda: cgroup_pids(first),
                        90)
        time.sleep(0.5)
        w1.proc.kill()
        w1.proc.wait(timeout=10)
        self.assertEqual(cgroup_pids(first), old, "the dead run's workload should live on")

        # another worker of the same host takes the job once the lease expired
        w0 = Worker(self.tmp, self.db.url, "w0", "w0-data")
        self.workers.append(w0)

        def retry_running():
            rows = psql(self.db.url, "SELECT worker_id, current_phase, retry_count FROM jobs"
                        " WHERE id = '%s'" % job)
            if not rows or rows[0][0] != "w0-0" or rows[0][1] != "sandbox":
                return None
            recs = w0.records()
            if not recs:
                return None
            name = os.path.basename(recs[0])[:-len(".json")]
            pids = [p for p in cgroup_pids(name) or [] if p not in old]
            return (name, cgroup_pids(name)) if pids else None
        second, pids = self.wait("the retry's workload never started", retry_running, 90)
        self.assertNotEqual(second, first)
        self.assertFalse(set(pids) & set(old), "the retry shares the dead run's cgroup")

        # the dead worker comes back on its data directory: its reaper removes the dead run
        # while the retry is inside its window
        w1b = Worker(self.tmp, self.db.url, "w1b", "w1-data")
        self.workers.append(w1b)
        self.wait("the restarted worker did not reap", lambda: "left by a crashed worker"
                  in w1b.log(), 30)
        st = self.srv.wait_status(job, lambda s: s["status"] in vxtest.TERMINAL, 90)
        self.assertEqual(st["status"], "complete", st)
        self.assertIsNone(cgroup_pids(first), "the dead run's cgroup is still there")

        lines = [l for l in w0.log().splitlines() if "job %s: workload" % job in l
                 and " after " in l]
        self.assertEqual(len(lines), 1, w0.log()[-3000:])
        self.assertIn("workload still up after", lines[0], "the retry's workload was killed")
        ms = int(lines[0].split(" after ")[1].split()[0])
        self.assertGreaterEqual(ms, WINDOW_S * 1000 - 100, lines[0])
        rows = psql(self.db.url, "SELECT retry_count FROM jobs WHERE id = '%s'" % job)
        self.assertEqual(rows, [["1"]])

        # the job's history: held by one worker at a time, released by the reaper on the
        # dead holder's behalf, completed once
        hist = psql(self.db.url, "SELECT old_state, new_state, coalesce(old_worker, ''),"
                    " coalesce(new_worker, '') FROM audit WHERE job_id = '%s' ORDER BY seq"
                    % job)
        self.assertEqual(hist, [["queued", "running", "", "w1-0"],
                                ["running", "queued", "w1-0", ""],
                                ["queued", "running", "", "w0-0"],
                                ["running", "analyzing", "w0-0", "w0-0"],
                                ["analyzing", "complete", "w0-0", ""]])

        for w in (w0, w1b):
            self.assertEqual(w.records(), [], w.name)
            self.assertEqual(w.containers(), [], w.name)
        self.assertIsNone(cgroup_pids(second))
        with open("/proc/mounts") as f:
            self.assertNotIn(self.tmp, f.read())


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: the sandbox and the tracer need root")
        sys.exit(77)
    if not IMAGES or not REGISTRY:
        print("skipped: no image/registry fixtures (tests/fixtures)")
        sys.exit(77)
    vxtest.skip_unless_backend()
    if vxtest.BACKEND != "postgres":
        print("skipped: needs VEXXY_TEST_BACKEND=postgres")
        sys.exit(77)
    unittest.main(verbosity=2)
