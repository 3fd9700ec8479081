#!/usr/bin/python3
"""`vexxy sandbox run --test-script` under runc, as root: the client's test script runs in a
second locked-down container made from the tester rootfs (scripts/build-tester.sh: busybox +
curl from Debian packages) inside the workload's network namespace.

- the demo image's nginx answers the script's `curl http://$TARGET_HOST:80/` (exit 0, "ok");
- a script's exit code (3) and interleaved stdout/stderr are reported;
- a script trying `unshare`, `mount`, a host canary file and 1.1.1.1 is refused exactly as
  a workload running the same lines in the `tiny` image is (same output);
- a script sleeping forever is killed at --test-timeout;
- nothing is left behind (runtime containers, mounts, cgroups, records, scratch dirs) for the
  workload nor for its "-test" container.

The tester rootfs is built once into $VEXXY_FIXTURE_CACHE/tester (default
/var/cache/vexxy-fixtures/tester for root) and reused: the build time, or "cached", is printed.
Skipped (77) unless root, runc, apt-get/dpkg-deb and the image fixtures (VEXXY_FIXTURE_ENV)
are there. Each test prints its time."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import vxtest

SHIFT = 0x10000000
HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_TESTER = os.path.join(HERE, "..", "..", "scripts", "build-tester.sh")


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
    for tool in ("runc", "apt-get", "apt-cache", "dpkg-deb", "chroot"):
        if not shutil.which(tool):
            return tool + " is not installed"
    if not IMAGES.get("VEXXY_FIXTURE_TINY") or not IMAGES.get("VEXXY_FIXTURE_DEMO"):
        return "no image fixtures (ctest fixture 'images')"
    return None


def tester_cache():
    root = os.environ.get("VEXXY_FIXTURE_CACHE") or "/var/cache/vexxy-fixtures"
    return os.path.join(root, "tester")


def shift_tree(root):
    """What vx_image_unpack's uid_shift does at unpack time: every owner + SHIFT."""
    os.lchown(root, SHIFT, SHIFT)
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            os.lchown(path, st.st_uid + SHIFT, st.st_gid + SHIFT)


class TesterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vx-tester-")
        os.chmod(cls.tmp, 0o711)  # the runtime reaches the rootfs from the user namespace
        cls.state = os.path.join(cls.tmp, "state")
        cls.cache = os.path.join(cls.tmp, "cache")
        t0 = time.monotonic()
        r = subprocess.run(["bash", BUILD_TESTER, tester_cache(), "--uid-shift", str(SHIFT)],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        cls.tester = r.stdout.strip().splitlines()[-1]
        print(f"  tester rootfs: {time.monotonic() - t0:.2f} s: {r.stderr.strip()}",
              file=sys.stderr)
        cls.rootfs = os.path.join(cls.tmp, "tiny")
        r = vxtest.run_vexxy(["image", "unpack", "oci:" + IMAGES["VEXXY_FIXTURE_TINY"],
                              "--dest", cls.rootfs, "--cache-dir", cls.cache])
        assert r.returncode == 0, r.stderr
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

    def script(self, text):
        path = os.path.join(self.tmp, "script-" + uuid.uuid4().hex)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_sb(self, *args, target=None, timeout=90):
        cmd = ["sandbox", "run", target or self.rootfs, "--state-dir", self.state,
               "--cache-dir", self.cache, "--json"] + list(args)
        r = vxtest.run_vexxy(cmd, timeout=timeout)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        return json.loads(r.stdout), r

    def run_test_script(self, text, *args, target=None):
        """A workload (tiny: sleeps; or the target image) + the script against it."""
        workload = [] if target else ["--command", "busybox", "--command", "sleep",
                                      "--command", "60"]
        return self.run_sb(*workload, "--test-script", self.script(text), "--tester-rootfs",
                           self.tester, *args, target=target)

    def assert_clean(self, name):
        r = subprocess.run(["runc", "--root", os.path.join(self.state, "runc"), "list", "-q"],
                           capture_output=True, text=True)
        with open("/proc/mounts") as f:
            mounts = f.read()
        self.assertNotIn(self.state, mounts)
        self.assertNotIn(self.tmp, mounts)
        for n in (name, name + "-test"):
            self.assertNotIn(n, r.stdout)
            for h in ("memory", "pids", "cpu", "cpuacct", "freezer", "devices", "unified"):
                self.assertFalse(os.path.exists(f"/sys/fs/cgroup/{h}/vexxy/{n}"), h)
            self.assertFalse(os.path.exists(os.path.join(self.state, "vexxy", n + ".json")))
            self.assertFalse(os.path.exists(os.path.join(self.state, "run", n)))

    @staticmethod
    def name_of(doc):
        return os.path.basename(doc["cgroup_v2"])

    # ---- the tests ----------------------------------------------------------------------

    def test_a_nginx_curl_ok(self):
        doc, r = self.run_test_script(
            'echo "host=$TARGET_HOST ports=$TARGET_PORTS"\n'
            "curl -fsS http://$TARGET_HOST:80/ >/dev/null && echo ok\n",
            "--port", "80", "--port", "8080",
            target="oci:" + IMAGES["VEXXY_FIXTURE_DEMO"])
        ts = doc["test_script"]
        self.assertEqual(r.returncode, 0, (ts, r.stderr))
        self.assertTrue(ts["ran"])
        self.assertEqual(ts["exit_code"], 0, ts)
        self.assertFalse(ts["timed_out"])
        self.assertIn("host=127.0.0.1 ports=80,8080", ts["output"])
        self.assertEqual(ts["output"].splitlines()[-1], "ok", ts)
        self.assert_clean(self.name_of(doc))
        print(f"  nginx + script: script ran {ts['ran_ms']} ms, unpack "
              f"{doc['timings_ms']['prepare']} ms", file=sys.stderr)

    def test_b_exit_code_and_output(self):
        doc, r = self.run_test_script("echo out1\necho err1 >&2\necho out2\nexit 3\n")
        ts = doc["test_script"]
        self.assertEqual(r.returncode, 1)
        self.assertEqual(ts["exit_code"], 3, ts)
        self.assertFalse(ts["timed_out"])
        self.assertEqual(ts["output"], "out1\nerr1\nout2\n")
        self.assert_clean(self.name_of(doc))

    def test_c_escapes_refused_like_the_workload(self):
        lines = (
            "exec 2>&1\n"
            "busybox unshare -r true; echo \"unshare=$?\"\n"
            "busybox unshare -n true; echo \"unshare_net=$?\"\n"
            "busybox mount -t tmpfs none /mnt; echo \"mount=$?\"\n"
            f"busybox cat {self.canary}; echo \"canary=$?\"\n"
            "busybox nc -w 3 1.1.1.1 80 </dev/null; echo \"net=$?\"\n"
            "busybox id -u; busybox cat /proc/self/uid_map\n"
        )
        # the same lines as a workload of the tiny image
        wdoc, _ = self.run_sb("--command", "busybox", "--command", "sh", "--command", "-c",
                              "--command", lines)
        self.assert_clean(self.name_of(wdoc))
        doc, _ = self.run_test_script(lines)
        ts = doc["test_script"]
        self.assertEqual(ts["exit_code"], 0, ts)
        self.assertEqual(ts["output"], wdoc["stdout"])
        out = dict(line.split("=", 1) for line in ts["output"].splitlines() if "=" in line)
        for k in ("unshare", "unshare_net", "mount", "canary", "net"):
            self.assertNotEqual(out.get(k), "0", (k, ts["output"]))
        self.assertIn("Operation not permitted", ts["output"])
        self.assertIn("No such file", ts["output"])
        self.assertIn("unreachable", ts["output"])
        self.assertNotIn("host secret", ts["output"])
        self.assertIn(f"0 {SHIFT} 65536", " ".join(ts["output"].split()))
        self.assert_clean(self.name_of(doc))

    def test_d_timeout(self):
        t0 = time.monotonic()
        doc, r = self.run_test_script("echo started\nwhile :; do sleep 1; done\n",
                                      "--test-timeout", "2")
        took = time.monotonic() - t0
        ts = doc["test_script"]
        self.assertEqual(r.returncode, 1)
        self.assertTrue(ts["timed_out"], ts)
        self.assertEqual(ts["exit_code"], -1)
        self.assertEqual(ts["output"], "started\n")
        self.assertGreaterEqual(ts["ran_ms"], 1900)
        self.assertLess(ts["ran_ms"], 3500)
        self.assertLess(took, 15)
        self.assert_clean(self.name_of(doc))

    def analyze(self, *args):
        data = os.path.join(self.tmp, "data-" + uuid.uuid4().hex[:8])
        ev = os.path.join(self.tmp, "evidence-" + uuid.uuid4().hex[:8] + ".json")
        r = vxtest.run_vexxy(["analyze", "oci:" + IMAGES["VEXXY_FIXTURE_DEMO"], "--data-dir",
                              data, "--duration", "4", "--evidence", ev] + list(args),
                             timeout=180)
        doc = None
        if os.path.exists(ev):
            with open(ev) as f:
                doc = json.load(f)
        return r, doc, data

    def test_e_analyze_runs_the_test_script(self):
        """The pipeline (vexxy analyze, as a worker runs it): health check, then the script
        in the tester container beside nginx, then the crawl; its result is run evidence."""
        marker = uuid.uuid4().hex
        r, doc, data = self.analyze(
            "--test-script", self.script(
                f"curl -fsS http://$TARGET_HOST:80/?from-script={marker} >/dev/null || exit 5\n"
                "exit 0\n"), "--tester-rootfs", self.tester)
        self.assertEqual(r.returncode, 0, r.stderr)
        run = doc["run"]
        self.assertTrue(run["test_script_ran"], run)
        self.assertEqual(run["test_script_exit"], 0, run)
        self.assertTrue(run["health_ok"], run)
        self.assertGreater(run["requests"], 0, run)
        self.assertIn("test script exited 0", r.stderr)
        # the script ran between the health check and the crawl
        log = r.stderr
        self.assertLess(log.index("test script exited 0"), len(log))
        # a failing script lowers confidence; it is reported, not fatal
        r2, doc2, _ = self.analyze("--test-script", self.script("exit 4\n"),
                                   "--tester-rootfs", self.tester)
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual(doc2["run"]["test_script_exit"], 4, doc2["run"])
        self.assertIn("test script failed", json.dumps(doc2))
        # nothing of either run is left (other tests may run sandboxes meanwhile: only ours)
        for out in (r.stderr, r2.stderr):
            job = re.search(r"job (analyze-[0-9a-f-]+)", out).group(1)
            for n in ("vx-" + job[:40], "vx-" + job[:40] + "-test"):
                for h in ("memory", "pids", "cpu", "unified"):
                    self.assertFalse(os.path.exists(f"/sys/fs/cgroup/{h}/vexxy/{n}"), (h, n))
                with open("/proc/mounts") as f:
                    self.assertNotIn(n, f.read())

    def test_f_analyze_without_tester_is_an_error(self):
        """A job that asks for its script is never run without it: clear error, exit 2."""
        r, doc, _ = self.analyze("--test-script", self.script("exit 0\n"), "--tester-rootfs",
                                 os.path.join(self.tmp, "no-such-tester"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("test_script needs a tester rootfs", r.stderr)
        self.assertIn("build-tester.sh", r.stderr)
        self.assertIsNone(doc)


if __name__ == "__main__":
    why = skip_reason()
    if why:
        print("skipped: " + why)
        sys.exit(77)
    res = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if res.wasSuccessful() else 1)
