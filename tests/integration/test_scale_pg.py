#!/usr/bin/env python3
"""Scale-out on one PostgreSQL: 2 `vexxy serve` (no workers of their own) and 3 `vexxy worker`
processes share a fresh database; 100 real analyses of the `tiny` image from the local
registry are submitted alternately through both servers, and every one must reach `complete`
exactly once -- while one worker is SIGKILLed in the middle of a sandbox run and another is
stopped with SIGTERM.

What is checked:
  * through the API (both servers): 100 complete, results served, retry counts;
  * in PostgreSQL: states, completed_at and results set, exactly one terminal webhook
    delivery row per job (a job completed twice would have queued two), the OpenVEX
    evidence of each job stored once;
  * SIGKILL: the job the killed worker held in the sandbox phase is re-leased after its 5 s
    lease and completes (retry_count >= 1); the worker restarted on the killed one's data
    dir reaps what it left: no runc container, no mount under that dir, no vx-* cgroup of
    our jobs under /sys/fs/cgroup/*/vexxy/;
  * SIGTERM: the worker exits 0 within about a lease, its job completes (by it, or queued
    again and finished elsewhere);
  * GET /metrics shows vexxy_queue_depth (> 0 right after the submits, 0 at the end).

Needs root (sandbox, tracer), the fixtures "pg", "images" and "registry"; skips (77)
otherwise. Figures (total time, jobs/min, retries) are printed to stderr.
"""
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

import vxtest
from vxdemo import read_env

JOBS = 100
LEASE_S = 5
CONFIG = {"analysis_duration": 1, "test_timeout": 60, "command": ["busybox", "sleep", "30"]}
LIVE = ("queued", "running", "analyzing")


IMAGES = read_env("VEXXY_FIXTURE_ENV")
REGISTRY = read_env("VEXXY_REGISTRY_ENV")


def of_jobs(name, jobs):
    """Whether a sandbox name (vx-<job id...>) belongs to one of 'jobs'. Matched on the id's
    first 8 hex digits, not the exact name, so the test does not depend on how the rest of
    the name is made (e.g. an attempt suffix)."""
    return name.startswith("vx-") and any(j[:8] in name for j in jobs)


def cgroups(jobs):
    """Paths /sys/fs/cgroup/<hierarchy>/vexxy/vx-* that exist and belong to 'jobs'."""
    out = []
    for h in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", h, "vexxy")
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in os.listdir(d) if of_jobs(n, jobs)]
    return out


def say(fmt, *args):
    print("  " + (fmt % args if args else fmt), file=sys.stderr, flush=True)


class Worker:
    """One `vexxy worker` process with its own data dir."""

    def __init__(self, tmp, db_url, name, data_dir=None):
        self.name = name
        self.data_dir = data_dir or os.path.join(tmp, name + "-data")
        self.log_path = os.path.join(tmp, name + ".log")
        log = open(self.log_path, "a")
        cmd = [vxtest.VEXXY, "worker", "--db", db_url, "--concurrency", "2",
               "--data-dir", self.data_dir, "--id", name, "--lease-seconds", str(LEASE_S),
               "--insecure-registries", "127.0.0.1", "--allowed-registries", "127.0.0.1",
               "--log-level", "info"]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=vxtest.clean_env())
        log.close()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "worker ready" in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s"
                                     % (self.name, self.proc.returncode, self.log()[-3000:]))
            time.sleep(0.05)
        raise AssertionError("%s not ready in %ss:\n%s" % (self.name, timeout, self.log()[-3000:]))

    def alive(self):
        return self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)


class Sink(http.server.BaseHTTPRequestHandler):
    """Receives the job webhooks: records (job_id, event) per POST."""
    got = []
    lock = threading.Lock()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, 1 << 20))
        try:
            d = json.loads(body)
            with Sink.lock:
                Sink.got.append((d.get("job_id"), d.get("event")))
        except ValueError:
            pass
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


class ScaleTest(vxtest.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os.chmod(cls.tmp, 0o711)  # the sandbox's user namespace walks down to the rootfs
        args = ["--no-auth", "--workers", "0", "--insecure-registries", "127.0.0.1"]
        cls.srv = [cls.start_server(name="serve%d" % i, args=args) for i in (1, 2)]
        cls.workers = []
        cls.sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
        threading.Thread(target=cls.sink.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        problems = []
        for w in cls.workers:
            if w.alive():
                w.proc.send_signal(signal.SIGTERM)
                try:
                    rc = w.proc.wait(timeout=20)
                    if rc != 0:
                        problems.append("%s exited %s on SIGTERM" % (w.name, rc))
                except subprocess.TimeoutExpired:
                    w.kill()
                    problems.append("%s ignored SIGTERM" % w.name)
            for m in vxtest.SANITIZER_MARKERS:
                if m in w.log():
                    problems.append("%s logged '%s'" % (w.name, m))
        cls.sink.shutdown()
        try:
            super().tearDownClass()
        finally:
            if problems:
                raise AssertionError("\n".join(problems))

    # ---- helpers --------------------------------------------------------------------

    def start_worker(self, name, data_dir=None):
        w = Worker(self.tmp, self.db.url, name, data_dir)
        self.workers.append(w)
        w.wait_ready()
        return w

    def sql(self, query):
        """Rows of a query on the test database, as lists of strings."""
        r = subprocess.run(["psql", self.db.url, "-X", "-A", "-t", "-F", "\t", "-c", query],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def counts(self):
        return {s: int(n) for s, n in self.sql("SELECT state, count(*) FROM jobs GROUP BY 1")}

    def held_by(self, wname):
        """Live jobs whose lease names a slot of worker 'wname': [(id, state, phase)]."""
        return self.sql("SELECT id, state, coalesce(current_phase, '') FROM jobs WHERE "
                        "state IN ('running', 'analyzing') AND worker_id LIKE '%s-%%'" % wname)

    def in_sandbox(self, candidates):
        """(worker, job id) of a live worker whose job is in the sandbox phase, or None."""
        for w in candidates:
            if not w.alive():
                continue
            for jid, state, phase in self.held_by(w.name):
                if state == "running" and phase == "sandbox":
                    return w, jid
        return None

    def metric(self, srv, name):
        r = srv.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r.body)
        m = re.search(r"^%s (\d+)" % re.escape(name), r.body.decode(), re.M)
        self.assertIsNotNone(m, "no %s in /metrics:\n%s" % (name, r.body[:2000]))
        return int(m.group(1))

    # ---- the test -------------------------------------------------------------------

    def test_scale_out(self):
        t_start = time.monotonic()
        with open(IMAGES["VEXXY_FIXTURE_DIGESTS"]) as f:
            digest = json.load(f)["tiny"]["manifest"]
        with open(IMAGES["VEXXY_FIXTURE_PACKAGES"]) as f:
            dash = [p for p in json.load(f) if p["name"] == "dash"][0]["version"]
        findings = {"SchemaVersion": 2, "ArtifactName": "tiny", "Results": [{
            "Target": "tiny (debian 12)", "Class": "os-pkgs", "Type": "debian",
            "Vulnerabilities": [{"VulnerabilityID": "CVE-2099-0001", "PkgName": "dash",
                                 "InstalledVersion": dash, "Severity": "LOW"}]}]}
        image = "%s/vexxy-test/tiny:latest" % REGISTRY["VEXXY_REGISTRY"]
        hook = "http://127.0.0.1:%d/hook" % self.sink.server_address[1]

        w = [self.start_worker("w%d" % i) for i in (1, 2, 3)]

        # 100 submits, alternately through both servers
        jobs = []
        t0 = time.monotonic()
        for i in range(JOBS):
            r = self.srv[i % 2].submit(image_ref=image, image_digest=digest, profile="minimal",
                                       findings=findings, config=CONFIG, force=True,
                                       callback_url=hook)
            self.assertEqual(r.status, 202, r.body)
            jobs.append(r.json["job_id"])
        self.assertEqual(len(set(jobs)), JOBS)
        t_submitted = time.monotonic()
        depth0 = self.metric(self.srv[1], "vexxy_queue_depth")
        say("submitted %d jobs in %.1f s; vexxy_queue_depth right after: %d",
            JOBS, t_submitted - t0, depth0)
        self.assertGreater(depth0, 0)

        # ---- SIGKILL a worker whose job is in the sandbox phase ------------------------
        victim = None
        deadline = time.monotonic() + 90
        while victim is None:
            self.assertLess(time.monotonic(), deadline, "no job ever seen in the sandbox phase")
            hit = self.in_sandbox(w)
            if hit:
                killed, jid = hit
                st = self.srv[0].status(jid).json
                if st["status"] == "running" and st["current_phase"] == "sandbox":
                    killed.proc.send_signal(signal.SIGKILL)
                    killed.proc.wait(timeout=10)
                    t_kill = time.monotonic()
                    orphans = [j for j, _, _ in self.held_by(killed.name)]
                    if jid in orphans:
                        victim = jid
                    elif orphans:  # finished in the instant before the kill: take another
                        victim = orphans[0]
                    else:  # it held nothing any more: start it again and retry
                        w[w.index(killed)] = self.start_worker(killed.name + "x")
                        continue
            else:
                time.sleep(0.05)
        kdir = killed.data_dir
        runc_root = os.path.join(kdir, "sandbox", "runc")

        def runc_names(root):
            if not os.path.isdir(root):
                return []
            r = subprocess.run(["runc", "--root", root, "list", "-q"], capture_output=True,
                               text=True, timeout=20)
            return r.stdout.split()

        left = runc_names(runc_root)
        with open("/proc/mounts") as f:
            mounted = sum(1 for line in f if kdir in line)
        say("SIGKILLed %s holding %s (orphans %s); left behind: runc %s, %d mount(s)",
            killed.name, victim, orphans, left, mounted)
        self.assertTrue([n for n in left if of_jobs(n, [victim])],
                        "the killed worker's container should still be there")

        # restart on the killed one's data dir: its start-up reaper removes the leftovers
        w[w.index(killed)] = restarted = self.start_worker(killed.name + "r", data_dir=kdir)
        # (the restarted worker claims new jobs at once: only the orphans' things are looked for)
        self.assertEqual([n for n in runc_names(runc_root) if of_jobs(n, orphans)], [],
                         restarted.log()[-3000:])
        with open("/proc/mounts") as f:
            mounts = f.read()
        for j in orphans:
            self.assertNotIn(os.path.join(kdir, "jobs", j) + "/", mounts)
        self.assertIn("sandbox(es) left by a crashed worker", restarted.log())
        # the orphans' cgroups: listed first, then the store asked whether the orphan is still
        # leased to the dead worker -- if so no retry can have made a cgroup of that name yet
        cgs = cgroups(orphans)
        still = [j for j, _, _ in self.held_by(killed.name)]
        for j in still:
            self.assertEqual([c for c in cgs if of_jobs(os.path.basename(c), [j])], [], j)
        say("after the restart: %d orphan(s) still leased to the dead worker, their cgroups "
            "gone", len(still))

        # the victim is given back after the lease and completes elsewhere
        st = self.srv[1].wait_status(victim, lambda s: s["retry_count"] >= 1
                                     or s["status"] in vxtest.TERMINAL, 60)
        t_relet = time.monotonic()
        say("victim back in the queue %.1f s after the kill (lease %d s)", t_relet - t_kill,
            LEASE_S)
        st = self.srv[1].wait_status(victim, lambda s: s["status"] in vxtest.TERMINAL, 120)
        self.assertEqual(st["status"], "complete", st)
        self.assertGreaterEqual(st["retry_count"], 1, st)

        # ---- SIGTERM a worker holding a job ---------------------------------------------
        termed = None
        deadline = time.monotonic() + 60
        while termed is None and sum(self.counts().get(s, 0) for s in LIVE) > 0:
            self.assertLess(time.monotonic(), deadline, "no worker holding a job to SIGTERM")
            for cand in (w[1], w[2], w[0]):
                held = self.held_by(cand.name)
                if cand.alive() and held:
                    termed, held_jobs = cand, [j for j, _, _ in held]
                    break
            else:
                time.sleep(0.05)
        if termed is not None:
            t_term = time.monotonic()
            termed.proc.send_signal(signal.SIGTERM)
            rc = termed.proc.wait(timeout=LEASE_S + 20)
            took = time.monotonic() - t_term
            say("SIGTERM to %s holding %s: exit %d after %.1f s", termed.name, held_jobs, rc,
                took)
            self.assertEqual(rc, 0, termed.log()[-3000:])
            self.assertLess(took, LEASE_S + 10)
            self.assertEqual(self.held_by(termed.name), [], "SIGTERM left a job leased")
            for j in held_jobs:
                self.assertIn(self.sql("SELECT state FROM jobs WHERE id = '%s'" % j)[0][0],
                              ("queued", "running", "analyzing", "complete"), j)
            w[w.index(termed)] = self.start_worker(termed.name + "r", data_dir=termed.data_dir)
        else:
            say("the queue drained before a SIGTERM candidate was found: SIGTERM not tested")
            self.fail("SIGTERM scenario not exercised")

        # ---- everything completes ---------------------------------------------------------
        deadline = time.monotonic() + 180
        while True:
            c = self.counts()
            if sum(c.get(s, 0) for s in LIVE) == 0:
                break
            self.assertLess(time.monotonic(), deadline, ("jobs still live", c))
            time.sleep(0.5)
        t_done = time.monotonic()
        self.assertEqual(c, {"complete": JOBS}, c)
        for j in held_jobs:
            self.assertEqual(self.srv[0].status(j).json["status"], "complete")

        # API: both servers see every job complete, with its results
        retries = 0
        for i, jid in enumerate(jobs):
            st = self.srv[(i + 1) % 2].status(jid)
            self.assertEqual(st.status, 200, st.body)
            self.assertEqual(st.json["status"], "complete", st.json)
            retries += st.json["retry_count"]
            res = self.srv[i % 2].request("GET", "/api/v1/analysis/%s/results" % jid)
            self.assertEqual(res.status, 200, res.body)
            self.assertEqual(res.json["summary"]["total_cves_analyzed"], 1, jid)

        # the store: completed once
        rows = self.sql("SELECT id, completed_at, results_json IS NOT NULL, worker_id IS NULL,"
                        " retry_count FROM jobs")
        self.assertEqual(len(rows), JOBS)
        for jid, completed_at, has_results, unleased, _ in rows:
            self.assertGreater(int(completed_at), 0, jid)
            self.assertEqual((has_results, unleased), ("t", "t"), jid)
        hooks = dict(self.sql("SELECT job_id, count(*) FROM webhook_deliveries GROUP BY 1"))
        twice = {j: n for j, n in hooks.items() if n != "1"}
        self.assertEqual(len(hooks), JOBS, "jobs without a terminal webhook")
        self.assertEqual(twice, {}, "jobs that reached a terminal state more than once")
        events = {e for _, e in self.sql("SELECT job_id, payload::json->>'event' "
                                         "FROM webhook_deliveries")}
        self.assertEqual(events, {"job.complete"})
        vex = dict(self.sql("SELECT job_id, count(*) FROM evidence WHERE type = 'openvex'"
                            " GROUP BY 1"))
        self.assertEqual(len(vex), JOBS)
        self.assertEqual({j: n for j, n in vex.items() if n != "1"}, {},
                         "OpenVEX evidence stored more than once")
        # an attempt that was cut short keeps the evidence it stored; only retried jobs may
        # hold a type twice
        dups = self.sql("SELECT e.job_id, e.type, j.retry_count FROM evidence e JOIN jobs j"
                        " ON j.id = e.job_id GROUP BY 1, 2, 3 HAVING count(*) > 1")
        self.assertEqual([d for d in dups if d[2] == "0"], [], "evidence twice, no retry")
        dup = len(dups)
        self.assertEqual(self.metric(self.srv[0], "vexxy_queue_depth"), 0)

        # nothing of any run is left on the host
        for x in w:
            self.assertEqual(runc_names(os.path.join(x.data_dir, "sandbox", "runc")), [],
                             x.name)
        with open("/proc/mounts") as f:
            mounts = f.read()
        self.assertNotIn(self.tmp, mounts)
        self.assertEqual(cgroups(jobs), [])

        # webhooks are at-least-once: every job's complete event arrived (duplicates counted)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with Sink.lock:
                got = {j for j, e in Sink.got if e == "job.complete"}
                n_got = len(Sink.got)
            if got >= set(jobs):
                break
            time.sleep(0.2)
        self.assertEqual(set(jobs) - got, set())

        total = t_done - t0
        say("FIGURES: %d jobs on 2 serve + 3 worker x 2 slots: %.1f s from first submit to "
            "last complete, %.1f jobs/min; retries %d (API) = %d (store); kill -> re-leased "
            "%.1f s; (job, evidence type) pairs stored twice: %s; webhooks received %d for %d "
            "jobs; test wall time %.1f s",
            JOBS, total, JOBS * 60.0 / total, retries, sum(int(r[4]) for r in rows),
            t_relet - t_kill, dup, n_got, len(got), time.monotonic() - t_start)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: the sandbox and the tracer need root")
        sys.exit(77)
    if not IMAGES or not REGISTRY:
        print("skipped: no image/registry fixtures (tests/fixtures)")
        sys.exit(77)
    vxtest.skip_unless_backend()
    if vxtest.BACKEND != "postgres":
        print("skipped: the scale test needs PostgreSQL")
        sys.exit(77)
    unittest.main(verbosity=2)
