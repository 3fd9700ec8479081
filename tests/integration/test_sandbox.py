#!/usr/bin/python3
"""`vexxy sandbox run|reap` under runc, as root, against the project's test images
(tests/fixtures): a container runs and leaves nothing behind; a hostile static program
(sandbox_hostile.c, compiled here with gcc -static) is contained (pids limit, OOM kill,
wall clock, refused syscalls, no host files, image files unchanged, no route out, host uid
of container root = the shift); the demo image's nginx answers on 127.0.0.1:80 inside the
container's network namespace and stops cleanly; a SIGKILLed run is cleaned by the reaper
and a SIGTERMed one cleans itself.

Skipped (77) unless root, runc, gcc with a static libc, nsenter, curl and the image fixtures
(VEXXY_FIXTURE_ENV) are there. Each test prints its time."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import vxtest

SHIFT = 0x10000000
HERE = os.path.dirname(os.path.abspath(__file__))


def read_env(var):
    path = os.environ.get(var)
    env = {}
    if path and os.path.exists(path):
        for line in open(path):
            k, _, v = line.strip().partition("=")
            if k:
                env[k] = v
    return env


IMAGES = read_env("VEXXY_FIXTURE_ENV")


def skip_reason():
    if os.geteuid() != 0:
        return "not root"
    for tool in ("runc", "gcc", "nsenter", "curl"):
        if not shutil.which(tool):
            return tool + " is not installed"
    if not IMAGES.get("VEXXY_FIXTURE_TINY") or not IMAGES.get("VEXXY_FIXTURE_DEMO"):
        return "no image fixtures (ctest fixture 'images')"
    return None


def shift_tree(root):
    """What vx_image_unpack's uid_shift does at unpack time: every owner + SHIFT."""
    os.lchown(root, SHIFT, SHIFT)
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            os.lchown(path, st.st_uid + SHIFT, st.st_gid + SHIFT)


class SandboxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vx-sbx-")
        os.chmod(cls.tmp, 0o711)  # the runtime reaches the rootfs from the user namespace
        cls.state = os.path.join(cls.tmp, "state")
        cls.cache = os.path.join(cls.tmp, "cache")
        hostile = os.path.join(cls.tmp, "hostile")
        subprocess.run(["gcc", "-static", "-O1", "-o", hostile,
                        os.path.join(HERE, "sandbox_hostile.c")], check=True)
        cls.rootfs = os.path.join(cls.tmp, "tiny")
        r = vxtest.run_vexxy(["image", "unpack", "oci:" + IMAGES["VEXXY_FIXTURE_TINY"],
                              "--dest", cls.rootfs, "--cache-dir", cls.cache])
        assert r.returncode == 0, r.stderr
        shutil.copy(hostile, os.path.join(cls.rootfs, "hostile"))
        os.chmod(os.path.join(cls.rootfs, "hostile"), 0o755)
        shift_tree(cls.rootfs)
        cls.canary = os.path.join(cls.tmp, "canary-" + uuid.uuid4().hex)
        with open(cls.canary, "w") as f:
            f.write("host secret\n")

    @classmethod
    def tearDownClass(cls):
        vxtest.run_vexxy(["sandbox", "reap", "--state-dir", cls.state])
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.t0 = time.monotonic()

    def tearDown(self):
        print(f"  {self.id().split('.')[-1]}: {time.monotonic() - self.t0:.2f} s",
              file=sys.stderr)

    # ---- helpers ------------------------------------------------------------------------

    def run_sb(self, *args, target=None, timeout=60):
        cmd = ["sandbox", "run", target or self.rootfs, "--state-dir", self.state,
               "--cache-dir", self.cache, "--json"] + list(args)
        r = vxtest.run_vexxy(cmd, timeout=timeout)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        return json.loads(r.stdout), r

    def cmd_args(self, *argv):
        out = []
        for a in argv:
            out += ["--command", a]
        return out

    def assert_clean(self, name):
        r = subprocess.run(["runc", "--root", os.path.join(self.state, "runc"), "list", "-q"],
                           capture_output=True, text=True)
        self.assertNotIn(name, r.stdout)
        with open("/proc/mounts") as f:
            mounts = f.read()
        self.assertNotIn(self.state, mounts)
        for h in ("memory", "pids", "cpu", "cpuacct", "freezer", "devices", "unified"):
            self.assertFalse(os.path.exists(f"/sys/fs/cgroup/{h}/vexxy/{name}"), h)
        self.assertFalse(os.path.exists(os.path.join(self.state, "vexxy", name + ".json")))
        self.assertFalse(os.path.exists(os.path.join(self.state, "run", name)))

    @staticmethod
    def name_of(doc):
        return os.path.basename(doc["cgroup_v2"])

    def start_bg(self, *args, target=None):
        pidfile = os.path.join(self.tmp, "pid-" + uuid.uuid4().hex)
        cmd = [vxtest.VEXXY, "sandbox", "run", target or self.rootfs, "--state-dir",
               self.state, "--cache-dir", self.cache, "--json", "--pid-file", pidfile]
        proc = subprocess.Popen(cmd + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(pidfile):
                with open(pidfile) as f:
                    text = f.read().strip()
                if text:
                    return proc, int(text), time.monotonic()
            if proc.poll() is not None:
                self.fail("sandbox run ended early: " + proc.stderr.read())
            time.sleep(0.005)
        proc.kill()
        self.fail("no pid file")

    # ---- (a) a container runs and leaves nothing behind --------------------------------

    def test_a_echo(self):
        doc, r = self.run_sb(*self.cmd_args("busybox", "echo", "hi"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(doc["exit"]["exited"])
        self.assertEqual(doc["exit"]["exit_code"], 0)
        self.assertEqual(doc["stdout"], "hi\n")
        self.assertTrue(doc["cgroup_v2"].startswith("/sys/fs/cgroup/"))
        self.assert_clean(self.name_of(doc))
        print(f"  echo timings: {doc['timings_ms']}", file=sys.stderr)

    def test_a_exit_code_and_stderr(self):
        doc, r = self.run_sb(*self.cmd_args("busybox", "sh", "-c", "echo oops >&2; exit 7"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(doc["exit"]["exit_code"], 7)
        self.assertEqual(doc["stderr"], "oops\n")
        self.assert_clean(self.name_of(doc))

    # ---- (b) containment ----------------------------------------------------------------

    def test_b_forkbomb_pids_limit(self):
        doc, _ = self.run_sb("--pids", "32", *self.cmd_args("/hostile", "forkbomb"))
        self.assertTrue(doc["exit"]["pids_limited"], doc)
        self.assertRegex(doc["stdout"], r"^forks ([0-9]|[12][0-9]|3[01]) errno EAGAIN\n$")
        self.assert_clean(self.name_of(doc))

    def test_b_memhog_oom(self):
        doc, _ = self.run_sb("--memory", str(64 << 20), *self.cmd_args("/hostile", "memhog"))
        self.assertTrue(doc["exit"]["oom_killed"], doc)
        self.assertEqual(doc["exit"]["signal"], signal.SIGKILL)
        self.assertLessEqual(doc["exit"]["memory_peak_bytes"], 64 << 20)
        self.assert_clean(self.name_of(doc))

    def test_b_spin_wall_clock(self):
        doc, _ = self.run_sb("--timeout", "2", "--cpu", "500", *self.cmd_args("/hostile", "spin"))
        ex = doc["exit"]
        self.assertTrue(ex["timed_out"], doc)
        self.assertFalse(ex["exited"])
        self.assertEqual(ex["signal"], signal.SIGKILL)
        self.assertGreaterEqual(ex["ran_ms"], 2000)
        self.assertLess(ex["ran_ms"], 3000)
        # --cpu 500: half a CPU at most (throttled), with some slack for accounting
        self.assertLess(ex["cpu_usec"], 0.7 * ex["ran_ms"] * 1000, ex)
        self.assert_clean(self.name_of(doc))

    def test_b_escapes_refused(self):
        with open(os.path.join(self.rootfs, "etc", "debian_version"), "rb") as f:
            before = f.read()
        doc, r = self.run_sb(*self.cmd_args("/hostile", "escape", self.canary))
        self.assertEqual(r.returncode, 0, r.stderr)
        res = dict(line.split("=", 1) for line in doc["stdout"].splitlines())
        for sc in ("unshare", "unshare_ns", "setns", "mount", "umount2", "pivot_root", "ptrace",
                   "bpf", "keyctl", "add_key", "perf_event_open", "userfaultfd", "kexec_load",
                   "init_module", "reboot", "settimeofday"):
            self.assertEqual(res.get(sc), "EPERM", f"{sc}: {res.get(sc)}")
        self.assertEqual(res["read_canary"], "ENOENT")
        self.assertEqual(res["connect_public"], "ENETUNREACH")
        self.assertEqual(res["connect_private"], "ENETUNREACH")
        self.assertEqual(res["connect_loopback"], "ok")
        # writes inside succeed (upper dir) but the image rootfs on the host is unchanged
        self.assertEqual(res["write_image_file"], "ok")
        self.assertEqual(res["unlink_image_file"], "ok")
        with open(os.path.join(self.rootfs, "etc", "debian_version"), "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertTrue(os.path.exists(os.path.join(self.rootfs, "etc", "issue")))
        self.assert_clean(self.name_of(doc))

    # ---- (d) host uid of container root; SIGKILLed run -> reap; SIGTERM -> cancel ---------

    def host_ids(self, pid):
        with open(f"/proc/{pid}/status") as f:
            st = dict(line.split(":", 1) for line in f.read().splitlines())
        return [int(x) for x in st["Uid"].split()], [int(x) for x in st["Gid"].split()]

    def descendants(self, pid):
        out = []
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for c in f.read().split():
                    out.append(int(c))
                    out += self.descendants(int(c))
        return out

    def test_d_host_uid_and_reap_after_sigkill(self):
        proc, pid, _ = self.start_bg(*self.cmd_args("/hostile", "sleep", "30"))
        time.sleep(0.2)  # the two children
        procs = [pid] + self.descendants(pid)
        self.assertGreaterEqual(len(procs), 3)
        for p in procs:
            uids, gids = self.host_ids(p)
            self.assertEqual(uids, [SHIFT] * 4, p)
            self.assertEqual(gids, [SHIFT] * 4, p)
        records = os.listdir(os.path.join(self.state, "vexxy"))
        self.assertEqual(len(records), 1, records)
        name = records[0][:-len(".json")]
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
        # the worker is gone, the container is not
        self.assertTrue(os.path.exists(f"/proc/{pid}"))
        self.assertTrue(os.path.exists(f"/sys/fs/cgroup/unified/vexxy/{name}"))
        t = time.monotonic()
        r = vxtest.run_vexxy(["sandbox", "reap", "--state-dir", self.state])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reaped 1 sandbox(es), 1 scratch dir(s)", r.stdout)
        print(f"  reap: {time.monotonic() - t:.2f} s", file=sys.stderr)
        deadline = time.monotonic() + 2
        while os.path.exists(f"/proc/{pid}/status") and time.monotonic() < deadline:
            with open(f"/proc/{pid}/status") as f:
                if "State:\tZ" in f.read():
                    break
            time.sleep(0.02)
        try:
            with open(f"/proc/{pid}/status") as f:
                self.assertIn("State:\tZ", f.read())  # gone, or a zombie of the host's init
        except FileNotFoundError:
            pass
        self.assert_clean(name)

    def test_d_cancel_sigterm(self):
        proc, pid, _ = self.start_bg(*self.cmd_args("/hostile", "sleep", "30"))
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - t
        self.assertLess(took, 2.0, err)  # 1 s grace (sleep ignores SIGTERM as pid 1) + cleanup
        doc = json.loads(out)
        self.assertFalse(doc["exit"]["exited"])
        self.assertFalse(os.path.exists(f"/proc/{pid}/status"))
        self.assert_clean(self.name_of(doc))
        print(f"  cancel -> cleaned: {took:.2f} s", file=sys.stderr)

    # ---- (c) nginx of the demo image ----------------------------------------------------

    def test_c_nginx(self):
        t_launch = time.monotonic()
        proc, pid, t_started = self.start_bg("--timeout", "60",
                                             target="oci:" + IMAGES["VEXXY_FIXTURE_DEMO"])
        status = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "curl", "-s", "-o",
                                "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                                "http://127.0.0.1:80/"], capture_output=True, text=True)
            status = r.stdout
            if status == "200":
                break
            time.sleep(0.01)
        t_200 = time.monotonic()
        self.assertEqual(status, "200")
        # not reachable from the host's network namespace
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                            "1", "http://127.0.0.1:80/"], capture_output=True, text=True)
        self.assertNotEqual(r.stdout, "200")
        t_stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        t_clean = time.monotonic()
        doc = json.loads(out)
        self.assertEqual(doc["exit"]["signal"], 0, doc)  # nginx quit on SIGTERM, no SIGKILL
        self.assert_clean(self.name_of(doc))
        tm = doc["timings_ms"]
        print(f"  nginx: unpack {tm['prepare']} ms, create {tm['create']} ms, start "
              f"{tm['start']} ms, started -> HTTP 200 {1000 * (t_200 - t_started):.0f} ms "
              f"(launch -> 200 {1000 * (t_200 - t_launch):.0f} ms), stop -> cleaned "
              f"{1000 * (t_clean - t_stop):.0f} ms (stop {tm['stop']} ms, destroy "
              f"{tm['destroy']} ms)", file=sys.stderr)


if __name__ == "__main__":
    why = skip_reason()
    if why:
        print("skipped:", why)
        sys.exit(vxtest.SKIP)
    unittest.main(verbosity=2)
