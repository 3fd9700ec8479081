#!/usr/bin/python3
"""test_trace_fanotify.py probe|image -- `vexxy trace` with the fanotify backend.

probe: the deterministic workload (tests/trace/probe.c) for every subcommand: the opened
       file, the exec'd binary (how=exec) and its ELF interpreter (/lib64/ld-linux-x86-64.so.2
       canonicalised, how has interp), the `#!` interpreter, DT_NEEDED libraries, the dlopen'd
       library, the mmapped file (fanotify sees its open only: mmap-exec is the eBPF
       backend's), the static variant (no interpreter), exit status passthrough, timeout,
       and overflow of a bounded queue (lost > 0, complete false) against the same flood on
       the unbounded default queue (nothing lost, every file there).
image: the `tiny` fixture image unpacked, `chroot ROOTFS /bin/busybox ...` traced: its files
       appear with in-image canonical paths.

Environment (set by tests/trace/CMakeLists.txt): VEXXY_BIN, VX_PROBE, VX_PROBE_STATIC,
VX_PROBE_LIB, VX_PROBE_DLLIB, and for image VEXXY_FIXTURE_ENV. Needs root; exits 77 (skip)
otherwise. Standard library only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

VEXXY = os.environ.get("VEXXY_BIN", "")
PROBE = os.environ.get("VX_PROBE", "")
PROBE_STATIC = os.environ.get("VX_PROBE_STATIC", "")
PROBE_LIB = os.environ.get("VX_PROBE_LIB", "")
PROBE_DLLIB = os.environ.get("VX_PROBE_DLLIB", "")
LDSO = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"


def trace(args, env=None, timeout=60, tracer_args=()):
    """Runs `vexxy trace --json -o FILE [tracer_args] -- args`; returns (rc, profile, stderr).
    Without a --tracer in tracer_args, `--tracer fanotify` (auto adds ebpf where it loads)."""
    if "--tracer" not in tracer_args:
        tracer_args = ("--tracer", "fanotify", *tracer_args)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        e = dict(os.environ)
        e.update(env or {})
        cmd = [VEXXY, "trace", "--json", "-o", out.name, *tracer_args, "--", *args]
        p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, text=True)
        with open(out.name, encoding="utf-8") as f:
            text = f.read()
        prof = json.loads(text) if text.strip() else None
        return p.returncode, prof, p.stderr


def files(prof):
    return {f["path"]: f for f in prof["files"]}


def resolve_in_root(root, path, depth=0):
    """The canonical in-image path of path under root (symlinks resolved inside root)."""
    parts = [p for p in path.split("/") if p and p != "."]
    out = []
    while parts:
        p = parts.pop(0)
        if p == "..":
            if out:
                out.pop()
            continue
        host = os.path.join(root, *out, p)
        if os.path.islink(host):
            if depth > 40:
                raise RuntimeError("symlink loop")
            target = os.readlink(host)
            base = [] if target.startswith("/") else out
            rest = resolve_in_root(root, "/".join(base + [target] + parts), depth + 1)
            return rest
        out.append(p)
    return "/" + "/".join(out)


class ProbeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vx-trace-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_probe(self, *args, probe=None, **kw):
        rc, prof, err = trace([probe or PROBE, *args], **kw)
        self.assertIsNotNone(prof, err)
        self.assertEqual(rc, 0, err)
        self.assertTrue(prof["complete"], prof["backends"])
        self.assertEqual([b["name"] for b in prof["backends"]], ["fanotify"])
        self.assertTrue(prof["backends"][0]["ran"])
        self.assertEqual(prof["backends"][0]["lost"], 0)
        return prof

    def assert_how(self, prof, path, *hows):
        fs = files(prof)
        self.assertIn(path, fs, sorted(fs))
        for h in hows:
            self.assertIn(h, fs[path]["how"], fs[path])
        return fs[path]

    def assert_dynamic_start(self, prof):
        """The probe itself was exec'd, through its interpreter, with its libraries."""
        probe = self.assert_how(prof, os.path.realpath(PROBE), "exec", "open")
        self.assertGreater(probe["ino"], 0)
        self.assertEqual(os.stat(PROBE).st_ino, probe["ino"])
        self.assert_how(prof, LDSO, "interp", "exec")
        self.assert_how(prof, "/usr/lib/x86_64-linux-gnu/libc.so.6", "open", "needed")
        self.assert_how(prof, os.path.realpath(PROBE_LIB), "open", "needed")
        self.assertNotIn("/lib64/ld-linux-x86-64.so.2", files(prof))

    def test_json_shape(self):
        prof = self.run_probe("open", "/etc/hostname")
        for k in ("complete", "window", "backends", "files", "processes", "network", "syscalls",
                  "symbols"):
            self.assertIn(k, prof)
        self.assertEqual([f["path"] for f in prof["files"]],
                         sorted(f["path"] for f in prof["files"]))
        for f in prof["files"]:
            self.assertTrue(f["path"].startswith("/"), f)
            self.assertGreaterEqual(f["count"], 0)
            self.assertIsInstance(f["pids"], list)
        self.assertGreaterEqual(prof["window"]["end_ms"], prof["window"]["start_ms"])
        main = [p for p in prof["processes"] if p["argv"][:1] == [PROBE]]
        self.assertEqual(len(main), 1, prof["processes"])
        self.assertEqual(main[0]["exit_code"], 0)

    def test_open(self):
        path = os.path.join(self.tmp, "opened.txt")
        with open(path, "w") as f:
            f.write("x")
        prof = self.run_probe("open", path)
        f = self.assert_how(prof, path, "open")
        self.assertNotIn("exec", f["how"])
        self.assertEqual(f["ino"], os.stat(path).st_ino)
        self.assertEqual(f["dev"], os.stat(path).st_dev)
        self.assert_dynamic_start(prof)

    def test_exec(self):
        prof = self.run_probe("exec", "/bin/true")
        self.assert_how(prof, os.path.realpath("/bin/true"), "exec")
        self.assert_dynamic_start(prof)
        # two exec'd programs, one loader: it ran twice
        self.assertGreaterEqual(len(files(prof)[LDSO]["pids"]), 1)

    def test_seen_once_per_kind(self):
        """A file opened 300 times is reported a handful of times (after the first event
        the kernel is told to ignore opens of it), yet a later exec of a file first only
        opened is still reported as exec."""
        path = os.path.join(self.tmp, "many.txt")
        with open(path, "w") as f:
            f.write("x\n")
        true = os.path.realpath("/bin/true")
        script = ("i=0; while [ $i -lt 300 ]; do read x < %s; i=$((i+1)); done; "
                  "cat %s > /dev/null; %s" % (path, true, true))
        rc, prof, err = trace(["/bin/sh", "-c", script])
        self.assertEqual(rc, 0, err)
        self.assertTrue(prof["complete"], prof["backends"])
        fs = files(prof)
        self.assertIn("open", fs[path]["how"])
        self.assertLess(fs[path]["count"], 50, fs[path])
        self.assertEqual(sorted(fs[true]["how"]), ["exec", "open"], fs[true])
        events = prof["backends"][0]["events"]
        self.assertLess(events, 150, prof["backends"])  # not 300+
        print("  300 opens of one file: %d event(s) in all" % events, file=sys.stderr)

    def test_script(self):
        prof = self.run_probe("script", self.tmp)
        script = os.path.join(self.tmp, "probe-script.sh")
        self.assert_how(prof, script, "exec")
        # #!/bin/sh -> its real file (dash on Debian), labelled interp; script is gone by now
        sh = self.assert_how(prof, os.path.realpath("/bin/sh"), "exec", "interp")
        self.assertGreater(sh["ino"], 0)
        self.assertFalse(os.path.exists(script))

    def test_dlopen(self):
        prof = self.run_probe("dlopen", PROBE_DLLIB)
        f = self.assert_how(prof, os.path.realpath(PROBE_DLLIB), "open")
        self.assertNotIn("needed", f["how"])
        self.assert_dynamic_start(prof)

    def test_mmapx(self):
        lib = "/usr/lib/x86_64-linux-gnu/libz.so.1"
        if not os.path.exists(lib):
            self.skipTest("no libz here")
        prof = self.run_probe("mmapx", lib)
        # soname link resolved to the real file; fanotify sees the open, not the mapping
        f = self.assert_how(prof, os.path.realpath(lib), "open")
        self.assertNotIn("mmap-exec", f["how"])

    def test_connect(self):
        prof = self.run_probe("connect", "127.0.0.1", "9")
        self.assert_dynamic_start(prof)
        self.assertEqual(prof["network"], [])  # fanotify does not see sockets

    def test_call(self):
        prof = self.run_probe("call", "1000")
        self.assert_dynamic_start(prof)

    def test_static(self):
        if not PROBE_STATIC:
            self.skipTest("no static glibc: probe-static not built")
        path = os.path.join(self.tmp, "static-opened.txt")
        with open(path, "w") as f:
            f.write("x")
        prof = self.run_probe("open", path, probe=PROBE_STATIC)
        self.assert_how(prof, os.path.realpath(PROBE_STATIC), "exec")
        self.assert_how(prof, path, "open")
        self.assertNotIn(LDSO, files(prof))
        for f in prof["files"]:
            self.assertNotIn("interp", f["how"], f)

    def test_exit_status_and_errors(self):
        rc, prof, err = trace([PROBE, "exec", "/bin/false"])
        self.assertEqual(rc, 1, err)
        self.assert_how(prof, os.path.realpath("/bin/false"), "exec")
        rc, prof, err = trace(["/nonexistent/vx-no-such-cmd"])
        self.assertEqual(rc, 127, err)
        self.assertIn("cannot run", err)
        rc, _, err = trace([PROBE, "open", "/etc/hostname"], tracer_args=["--tracer", "nope"])
        self.assertEqual(rc, 125, err)
        self.assertIn("unknown tracer", err)

    def test_timeout(self):
        t0 = time.monotonic()
        rc, prof, err = trace([PROBE, "exec", "/bin/sleep", "30"], tracer_args=["--timeout", "1"])
        self.assertLess(time.monotonic() - t0, 15)
        self.assertEqual(rc, 128 + 9, err)
        self.assert_how(prof, os.path.realpath("/bin/sleep"), "exec")

    def test_overflow(self):
        """A flood while the reader is paused: the bounded queue (kernel default 16384
        events) overflows and says so; the unbounded default keeps every event."""
        n = 20000
        # tmpfs when there is one: creating 20k files on a disk filesystem can outlast the pause
        base = "/dev/shm" if os.path.isdir("/dev/shm") else self.tmp
        flood = tempfile.mkdtemp(prefix="vx-trace-flood-", dir=base)
        self.addCleanup(shutil.rmtree, flood, True)
        env = {"VEXXY_TRACE_TEST_PAUSE_MS": "3000"}
        rc, prof, err = trace([PROBE, "openmany", flood, str(n)], env=env,
                              tracer_args=["--queue-size", "1"], timeout=120)
        self.assertEqual(rc, 0, err)
        self.assertFalse(prof["complete"])
        self.assertGreater(prof["backends"][0]["lost"], 0)
        rc, prof, err = trace([PROBE, "openmany", flood, str(n)], env=env, timeout=120)
        self.assertEqual(rc, 0, err)
        self.assertTrue(prof["complete"], prof["backends"])
        self.assertEqual(prof["backends"][0]["lost"], 0)
        got = {f["path"] for f in prof["files"] if f["path"].startswith(flood + "/")}
        self.assertEqual(len(got), n)


class ImageTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env_file = os.environ.get("VEXXY_FIXTURE_ENV", "")
        if not env_file or not os.path.exists(env_file):
            raise unittest.SkipTest("no fixture images (VEXXY_FIXTURE_ENV)")
        fx = dict(line.strip().split("=", 1) for line in open(env_file) if "=" in line)
        cls.tmp = tempfile.mkdtemp(prefix="vx-trace-img-")
        cls.rootfs = os.path.join(cls.tmp, "rootfs")
        p = subprocess.run([VEXXY, "image", "unpack", "oci:" + fx["VEXXY_FIXTURE_TINY"],
                            "--dest", cls.rootfs, "--cache-dir", os.path.join(cls.tmp, "cache")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("unpack failed: " + p.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_chroot_busybox(self):
        root = self.rootfs
        # sh stays alive after cat so its root is known while events are read
        rc, prof, err = trace(["chroot", root, "/bin/busybox", "sh", "-c",
                               "busybox cat /etc/os-release >/dev/null; /bin/sh -c true; "
                               "busybox sleep 0.3"])
        self.assertEqual(rc, 0, err)
        self.assertTrue(prof["complete"])
        fs = files(prof)
        for path in fs:
            self.assertFalse(path.startswith(root), f"host path leaked: {path}")
        busybox = resolve_in_root(root, "/bin/busybox")
        self.assertIn("exec", fs[busybox]["how"])
        self.assertEqual(fs[busybox]["ino"], os.stat(root + busybox).st_ino)
        os_release = resolve_in_root(root, "/etc/os-release")
        self.assertIn(os_release, fs, sorted(fs))
        self.assertNotEqual(os_release, "/etc/os-release")  # a symlink into /usr/lib in the image
        ldso = resolve_in_root(root, "/lib64/ld-linux-x86-64.so.2")
        self.assertIn("interp", fs[ldso]["how"], fs[ldso])
        self.assertIn("needed", fs[resolve_in_root(root, "/lib/x86_64-linux-gnu/libc.so.6")]["how"])
        dash = resolve_in_root(root, "/bin/sh")
        self.assertEqual(dash, "/bin/dash")
        self.assertIn("exec", fs[dash]["how"])


def main():
    if os.geteuid() != 0:
        print("skip: needs root (fanotify)")
        return 77
    if not VEXXY or not PROBE:
        print("skip: VEXXY_BIN / VX_PROBE not set")
        return 77
    p = subprocess.run([VEXXY, "trace", "--list-tracers"], stdout=subprocess.PIPE, text=True)
    if "fanotify  ok" not in p.stdout:
        print("skip: fanotify not available here:\n" + p.stdout)
        return 77
    group = sys.argv[1] if len(sys.argv) > 1 else "probe"
    cls = {"probe": ProbeTests, "image": ImageTests}[group]
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
    res = unittest.TextTestRunner(verbosity=2).run(suite)
    if not res.wasSuccessful():
        return 1
    if res.testsRun and len(res.skipped) == res.testsRun:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
