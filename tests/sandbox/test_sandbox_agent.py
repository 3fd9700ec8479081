#!/usr/bin/python3
"""`vexxy sandbox agent` (the Kubernetes tracer sidecar) and `vexxy-wait`, in a pod simulated on
this host, as root.

The pod: a sync dir (the emptyDir) at ROOTFS/vexxy of the `demo` image's unpacked rootfs, the
waiter copied there by `vexxy-wait --install` (the init container); the target container is
tests/sandbox/podsim: its own mount namespace with ROOTFS as its root (pivot_root, as a
runtime does) and its own network namespace (the pod's), VEXXY_ROLE=target, running
`/vexxy/vexxy-wait -- /usr/sbin/nginx -g 'daemon off;'`, placed in a cgroup v2 directory of
its own; the agent runs on the host in the same PID namespace (shareProcessNamespace) and joins
the target's network namespace with nsenter --net (one network namespace per pod). The fake
test-script container is the pod's own shell loop run on the host in that network namespace,
with the sync dir's host path for /vexxy.

Checked: vexxy-wait is statically linked, --install copies it with mode 0755, it exits 125 /
127 as documented; the agent's one report line: health ok, requests > 0, the profile holds
nginx's files (/usr/sbin/nginx, ld.so, libc) and is complete, the target is gone afterwards;
with --test-script the script's exit code and output are in the report (and its processes are
killed when --test-timeout passes); no target -> a report with an error; usage -> exit 2.
Skipped (77) unless root, nsenter, a static podsim, cgroup v2 and the image fixtures are there.
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

VEXXY = os.environ.get("VEXXY_BIN", "vexxy")
WAIT = os.environ.get("VEXXY_WAIT_BIN", "")
PODSIM = os.environ.get("VX_PODSIM", "")
MARK = "VEXXY-AGENT-REPORT "
LDSO = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"

# The test-script container's command, as the worker writes it (queue/phase_kube.c), with the
# sync dir's host path in place of /vexxy.
TEST_WRAPPER = ("while [ ! -e {d}/healthy ]; do sleep 0.1; done; "
                "sh -c \"$VEXXY_TEST_SCRIPT\" >{d}/test-output 2>&1; "
                "echo $? >{d}/test-done.tmp; mv {d}/test-done.tmp {d}/test-done")


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


def cgroup2_base():
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if os.path.exists(os.path.join(base, "cgroup.procs")) and \
                os.path.exists(os.path.join(base, "cgroup.subtree_control")):
            return base
    return None


def skip_reason():
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("nsenter"):
        return "nsenter is not installed"
    if not PODSIM or not os.path.exists(PODSIM):
        return "no static podsim (glibc's static library is missing)"
    if not WAIT or not os.path.exists(WAIT):
        return "no vexxy-wait binary"
    if not cgroup2_base():
        return "no cgroup v2 hierarchy"
    if not IMAGES.get("VEXXY_FIXTURE_DEMO"):
        return "no image fixtures (ctest fixture 'images')"
    return None


def report_of(stdout):
    lines = [l for l in stdout.splitlines() if l.startswith(MARK)]
    assert len(lines) == 1, "expected one report line, got: %r" % stdout[-2000:]
    return json.loads(lines[0][len(MARK):])


def procs_with_root(st):
    """pids whose root is the directory of stat st (zombies have none)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            r = os.stat("/proc/%s/root" % d)
        except OSError:
            continue
        if (r.st_dev, r.st_ino) == (st.st_dev, st.st_ino):
            out.append(int(d))
    return out


class AgentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vx-agent-")
        cls.rootfs = os.path.join(cls.tmp, "rootfs")
        r = subprocess.run([VEXXY, "image", "unpack", "oci:" + IMAGES["VEXXY_FIXTURE_DEMO"],
                            "--dest", cls.rootfs, "--cache-dir", os.path.join(cls.tmp, "cache")],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        cls.cgroups = []

    @classmethod
    def tearDownClass(cls):
        for cg in cls.cgroups:
            try:
                os.rmdir(cg)
            except OSError:
                pass
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.t0 = time.monotonic()
        self.procs = []
        self.fresh_sync()

    def fresh_sync(self):
        """A fresh emptyDir: the init container installs the waiter into it."""
        self.sync = os.path.join(self.rootfs, "vexxy")
        shutil.rmtree(self.sync, ignore_errors=True)
        os.mkdir(self.sync)
        r = subprocess.run([WAIT, "--install", self.sync], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        print(f"  {self.id().split('.')[-1]}: {time.monotonic() - self.t0:.2f} s",
              file=sys.stderr)

    # ---- the pod -----------------------------------------------------------------------

    def start_target(self, *cmd):
        """podsim ROOTFS /vexxy/vexxy-wait -- CMD..., in a cgroup v2 dir of its own."""
        cg = os.path.join(cgroup2_base(), "vx-agent-test-" + uuid.uuid4().hex[:12])
        os.mkdir(cg)
        self.cgroups.append(cg)
        p = subprocess.Popen([PODSIM, self.rootfs, "/vexxy/vexxy-wait", "--"] + list(cmd),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        # the waiter holds the workload: moving it now puts the whole workload in the cgroup
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(p.pid))
        netns = "/proc/%d/ns/net" % p.pid
        deadline = time.monotonic() + 10
        while os.readlink(netns) == os.readlink("/proc/self/ns/net"):
            self.assertLess(time.monotonic(), deadline, "podsim did not unshare")
            time.sleep(0.01)
        return p, netns

    def start_test_container(self, netns, script):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TARGET_HOST": "127.0.0.1",
               "TARGET_PORTS": "80", "VEXXY_TEST_SCRIPT": script}
        p = subprocess.Popen(["nsenter", "--net=" + netns, "/bin/sh", "-c",
                              TEST_WRAPPER.format(d=self.sync)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def agent(self, netns, *args, timeout=120):
        cmd = [VEXXY, "sandbox", "agent", "--sync-dir", self.sync] + list(args)
        if netns:
            cmd = ["nsenter", "--net=" + netns] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def assert_target_gone(self, target):
        rc = target.wait(timeout=10)
        self.assertEqual(procs_with_root(os.stat(self.rootfs)), [])
        return rc

    # ---- vexxy-wait ----------------------------------------------------------------------

    def test_wait_static_and_installed(self):
        out = subprocess.run(["file", "-L", WAIT], capture_output=True, text=True).stdout
        if out:
            self.assertIn("statically linked", out)
        installed = os.path.join(self.sync, "vexxy-wait")
        st = os.stat(installed)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o755)
        with open(WAIT, "rb") as a, open(installed, "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(sorted(os.listdir(self.sync)), ["vexxy-wait"])  # no temporary left
        # released at once when go exists; 127 when the command cannot run
        open(os.path.join(self.sync, "go"), "w").close()
        r = subprocess.run([installed, "--sync-dir", self.sync, "--", "echo", "released"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual((r.returncode, r.stdout), (0, "released\n"))
        r = subprocess.run([installed, "--sync-dir", self.sync, "--", "/no/such/program"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 127)
        self.assertIn("cannot run '/no/such/program'", r.stderr)
        r = subprocess.run([installed, "--sync-dir"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 125)

    def test_wait_holds_until_go(self):
        os.unlink(os.path.join(self.sync, "vexxy-wait"))
        shutil.copy(WAIT, os.path.join(self.sync, "w"))
        p = subprocess.Popen([os.path.join(self.sync, "w"), "--sync-dir", self.sync, "--",
                              "echo", "run"], stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        time.sleep(0.5)
        self.assertIsNone(p.poll(), "the waiter did not wait")
        t = time.monotonic()
        open(os.path.join(self.sync, "go"), "w").close()
        out, _ = p.communicate(timeout=10)
        self.assertEqual((p.returncode, out), (0, "run\n"))
        self.assertLess(time.monotonic() - t, 1.0)

    # ---- the agent -----------------------------------------------------------------------

    def test_agent_nginx(self):
        target, netns = self.start_target("/usr/sbin/nginx", "-g", "daemon off;")
        r = self.agent(netns, "--duration", "5", "--port", "80", "--profile", "minimal")
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = report_of(r.stdout)
        self.assertIsNone(rep["error"], r.stderr)
        self.assertEqual(rep["version"], 1)
        f = rep["facts"]
        self.assertTrue(f["ran"])
        self.assertTrue(f["stayed_up"])
        self.assertEqual(f["exit_code"], -1)
        self.assertTrue(f["health_checked"] and f["health_ok"], rep["exercise"])
        self.assertGreater(f["requests"], 0)
        self.assertGreater(f["status_2xx"], 0)
        self.assertGreaterEqual(f["window_ms"], 5000)
        self.assertEqual(f["window_wanted_ms"], 5000)
        self.assertFalse(f["test_script_ran"])
        self.assertTrue(rep["exercise"]["health_ok"])
        self.assertIsNone(rep["test_script"])
        prof = rep["profile"]
        self.assertTrue(prof["complete"], prof["backends"])
        paths = {x["path"]: x for x in prof["files"]}
        for p in ("/usr/sbin/nginx", LDSO, LIBC):
            self.assertIn(p, paths, sorted(paths))
        self.assertIn("exec", paths["/usr/sbin/nginx"]["how"])
        self.assertEqual([x["path"] for x in prof["files"]],
                         sorted(x["path"] for x in prof["files"]))
        # the waiter ran before the tracer: nothing of the sync dir's go handshake is "used"
        self.assertNotIn("/vexxy/go", paths)
        self.assert_target_gone(target)
        print("  backends: %s; %d files, %d requests" %
              (",".join(b["name"] for b in prof["backends"] if b["ran"]), len(paths),
               f["requests"]), file=sys.stderr)

    def test_agent_each_backend(self):
        # fanotify alone (MOUNT marks on the target's own mount namespace, through the pinned
        # root) and eBPF alone (its cgroup) each give the whole picture
        out = subprocess.run([VEXXY, "trace", "--list-tracers"], capture_output=True,
                             text=True).stdout
        avail = out.splitlines()[0].split(":", 1)[1].strip().split(",") if out else []
        for tracer in ("fanotify", "ebpf"):
            if tracer not in avail:
                print("  %s: not available here, skipped" % tracer, file=sys.stderr)
                continue
            self.fresh_sync()
            target, netns = self.start_target("/usr/sbin/nginx", "-g", "daemon off;")
            r = self.agent(netns, "--duration", "2", "--port", "80", "--tracer", tracer,
                           "--no-fuzz")
            rep = report_of(r.stdout)
            self.assertIsNone(rep["error"], r.stderr)
            prof = rep["profile"]
            self.assertEqual([b["name"] for b in prof["backends"] if b["ran"]], [tracer])
            self.assertTrue(prof["complete"], prof["backends"])
            paths = {x["path"] for x in prof["files"]}
            for p in ("/usr/sbin/nginx", LDSO, LIBC):
                self.assertIn(p, paths, (tracer, sorted(paths)))
            self.assertTrue(rep["facts"]["health_ok"])
            self.assert_target_gone(target)

    def test_agent_test_script(self):
        target, netns = self.start_target("/usr/sbin/nginx", "-g", "daemon off;")
        script = ("python3 -c \"import os, urllib.request; "
                  "u = 'http://%s:%s/' % (os.environ['TARGET_HOST'], "
                  "os.environ['TARGET_PORTS'].split(',')[0]); "
                  "print('status', urllib.request.urlopen(u).status)\"; "
                  "echo script-done; exit 3")
        tc = self.start_test_container(netns, script)
        r = self.agent(netns, "--duration", "4", "--port", "80", "--test-script",
                       "--test-timeout", "60", "--no-fuzz")
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = report_of(r.stdout)
        self.assertIsNone(rep["error"], r.stderr)
        ts = rep["test_script"]
        self.assertTrue(ts["ran"])
        self.assertEqual(ts["exit_code"], 3, ts)
        self.assertFalse(ts["timed_out"])
        self.assertIn("status 200", ts["output"])
        self.assertIn("script-done", ts["output"])
        self.assertTrue(rep["facts"]["test_script_ran"])
        self.assertEqual(rep["facts"]["test_script_exit"], 3)
        self.assertTrue(rep["facts"]["health_ok"])
        self.assertGreater(rep["facts"]["requests"], 0)
        self.assertTrue(rep["profile"]["complete"])
        self.assertEqual(tc.wait(timeout=10), 0)
        self.assert_target_gone(target)

    def test_agent_test_script_timeout(self):
        target, netns = self.start_target("/usr/sbin/nginx", "-g", "daemon off;")
        tc = self.start_test_container(netns, "echo started; sleep 600")
        r = self.agent(netns, "--duration", "2", "--port", "80", "--test-script",
                       "--test-timeout", "2", "--no-fuzz")
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = report_of(r.stdout)
        self.assertIsNone(rep["error"], r.stderr)
        ts = rep["test_script"]
        self.assertTrue(ts["ran"] and ts["timed_out"], ts)
        self.assertEqual(ts["exit_code"], -1)
        self.assertEqual(rep["facts"]["test_script_exit"], -1)
        self.assertIn("started", ts["output"])
        # the script's processes were killed: the container's loop goes on to test-done
        tc.wait(timeout=10)
        self.assert_target_gone(target)

    def test_agent_workload_exits(self):
        target, netns = self.start_target("/bin/sh", "-c", "cat /etc/hostname; exit 7")
        r = self.agent(netns, "--duration", "30")
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = report_of(r.stdout)
        self.assertIsNone(rep["error"], r.stderr)
        f = rep["facts"]
        self.assertTrue(f["ran"])
        self.assertFalse(f["stayed_up"])
        self.assertLess(f["window_ms"], 20000)  # not the whole window: it exited
        self.assertIn(f["exit_code"], (7, -1))  # -1: reaped before the agent looked
        self.assertEqual(target.wait(timeout=10), 7)
        self.assertIsNone(rep["exercise"])
        paths = {x["path"] for x in rep["profile"]["files"]}
        self.assertIn("/usr/bin/dash", paths)
        self.assertIn("/usr/bin/cat", paths)

    def test_agent_no_target(self):
        r = self.agent(None, "--duration", "5", "--find-timeout", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = report_of(r.stdout)
        self.assertIn("no target process", rep["error"])
        self.assertFalse(rep["facts"]["ran"])
        self.assertIsNone(rep["profile"])
        self.assertFalse(os.path.exists(os.path.join(self.sync, "go")))

    def test_agent_error_ends_test_script(self):
        # a failed agent never writes SYNC/healthy: the waiting test container is ended, or
        # the pod would run on until its deadline
        tc = self.start_test_container("/proc/%d/ns/net" % os.getpid(), "echo never")
        r = self.agent(None, "--duration", "5", "--find-timeout", "1", "--test-script")
        self.assertEqual(r.returncode, 0, r.stderr)
        rep = report_of(r.stdout)
        self.assertIn("no target process", rep["error"])
        self.assertIsNone(rep["test_script"])
        self.assertEqual(tc.wait(timeout=10), -signal.SIGKILL)
        self.assertFalse(os.path.exists(os.path.join(self.sync, "test-done")))

    def test_agent_go_left_over(self):
        open(os.path.join(self.sync, "go"), "w").close()
        r = self.agent(None, "--duration", "5", "--find-timeout", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("exists before the tracer attached", report_of(r.stdout)["error"])

    def test_agent_usage(self):
        for args in ([], ["--duration", "x"], ["--duration", "5", "--port", "0"],
                     ["--duration", "5", "--profile", "huge"], ["--duration", "5", "extra"]):
            r = self.agent(None, *args)
            self.assertEqual(r.returncode, 2, args)
            self.assertNotIn(MARK, r.stdout)
        r = self.agent(None, "--help")
        self.assertEqual(r.returncode, 0)
        for opt in ("--duration", "--port", "--health-path", "--health-timeout", "--profile",
                    "--no-fuzz", "--tracer", "--symbol", "--test-script", "--test-timeout",
                    "--sync-dir"):
            self.assertIn(opt, r.stdout)


if __name__ == "__main__":
    why = skip_reason()
    if why:
        print("SKIP: " + why)
        sys.exit(77)
    unittest.main(verbosity=2)
