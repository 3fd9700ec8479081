#!/usr/bin/python3
"""test_trace_ebpf.py [probe|image] -- `vexxy trace --tracer ebpf` (src/trace/vexxy.bpf.c).

The deterministic probe workload (tests/trace/probe.c) traced with the eBPF backend alone:
the process tree (argv, exe, parent, exit codes incl. a signal death), files opened (an
absolute and a cwd-relative name, resolved in the kernel from the fd: same dev/ino as stat),
the exec'd binaries, executable mappings (the ELF loader's libraries, a dlopen'd library,
`probe mmapx FILE` of a plain data file), the static probe; then fanotify and eBPF together
(each file records which backend saw it), and a flood of opens into a tiny ring buffer with
the reader paused (lost > 0, complete false) against the default ring (nothing lost).
`image`: the `tiny` fixture image chroot'ed: in-image paths, busybox's exe, libc mapped.

Environment as for test_trace_fanotify.py (set by tests/trace/CMakeLists.txt). Needs root;
exits 77 (skip) otherwise, or when the eBPF programs do not load here (printing why: the
verifier's message).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_trace_fanotify import (LDSO, PROBE, PROBE_DLLIB, PROBE_LIB, PROBE_STATIC,  # noqa: E402
                                 VEXXY, ImageTests, files, resolve_in_root, trace)

EBPF = ["--tracer", "ebpf"]


class EbpfTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # next to the build's binaries: /tmp may be mounted noexec (PROT_EXEC maps fail there)
        cls.tmp = tempfile.mkdtemp(prefix="vx-trace-ebpf-", dir=os.path.dirname(PROBE))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_traced(self, args, tracer=EBPF, rc=0, **kw):
        got_rc, prof, err = trace(args, tracer_args=tracer, **kw)
        self.assertIsNotNone(prof, err)
        self.assertEqual(got_rc, rc, err)
        self.assertTrue(prof["complete"], prof["backends"])
        for b in prof["backends"]:
            self.assertTrue(b["ran"], b)
            self.assertEqual(b["lost"], 0, b)
        return prof

    def assert_how(self, prof, path, *hows):
        fs = files(prof)
        self.assertIn(path, fs, sorted(fs))
        for h in hows:
            self.assertIn(h, fs[path]["how"], fs[path])
        return fs[path]

    def procs_by_argv0(self, prof, argv0):
        return [p for p in prof["processes"] if p["argv"][:1] == [argv0]]

    def test_process_tree_and_files(self):
        opened = os.path.join(self.tmp, "opened.txt")
        with open(opened, "w") as f:
            f.write("x")
        script = f"{PROBE} open {opened}; {PROBE} exec /bin/false; exit 3"
        prof = self.run_traced(["/bin/sh", "-c", script], rc=3)
        self.assertEqual([b["name"] for b in prof["backends"]], ["ebpf"])
        sh = self.procs_by_argv0(prof, "/bin/sh")
        self.assertEqual(len(sh), 1, prof["processes"])
        self.assertEqual(sh[0]["argv"], ["/bin/sh", "-c", script])
        self.assertEqual(sh[0]["exe"], os.path.realpath("/bin/sh"))
        self.assertEqual(sh[0]["exit_code"], 3)
        op = self.procs_by_argv0(prof, PROBE)
        self.assertEqual(len(op), 1, prof["processes"])
        self.assertEqual(op[0]["argv"], [PROBE, "open", opened])
        self.assertEqual(op[0]["ppid"], sh[0]["pid"])
        self.assertEqual(op[0]["exit_code"], 0)
        false = self.procs_by_argv0(prof, "/bin/false")  # exec'd by probe: same pid
        self.assertEqual(len(false), 1, prof["processes"])
        self.assertEqual(false[0]["exe"], os.path.realpath("/bin/false"))
        self.assertEqual(false[0]["ppid"], sh[0]["pid"])
        self.assertEqual(false[0]["exit_code"], 1)
        f = self.assert_how(prof, opened, "open")
        st = os.stat(opened)
        self.assertEqual((f["dev"], f["ino"]), (st.st_dev, st.st_ino))
        self.assertEqual(f["backends"], ["ebpf"])
        self.assert_how(prof, os.path.realpath(PROBE), "exec")
        self.assert_how(prof, os.path.realpath("/bin/false"), "exec")
        # libraries mapped executable by ld.so, libc also labelled by DT_NEEDED
        self.assert_how(prof, "/usr/lib/x86_64-linux-gnu/libc.so.6", "open", "mmap-exec")
        self.assert_how(prof, os.path.realpath(PROBE_LIB), "mmap-exec", "needed")
        self.assert_how(prof, LDSO, "interp")
        for s in ("execve", "openat", "mmap", "clone"):
            self.assertIn(s, prof["syscalls"])

    def test_relative_open(self):
        """A cwd-relative name: the kernel-side walk gives the absolute path."""
        sub = os.path.join(self.tmp, "cwd")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, "rel.txt"), "w") as f:
            f.write("x")
        prof = self.run_traced(["/bin/sh", "-c", f"cd {sub} && {PROBE} open rel.txt"])
        self.assert_how(prof, os.path.join(sub, "rel.txt"), "open")

    def test_seen_once_per_kind(self):
        """300 opens of one file: after the first, the kernel side finds the file in its
        per-job "seen" map and sends nothing (no path walk, no event)."""
        path = os.path.join(self.tmp, "many.txt")
        with open(path, "w") as f:
            f.write("x\n")
        prof = self.run_traced(["/bin/sh", "-c", "i=0; while [ $i -lt 300 ]; do "
                                f"read x < {path}; i=$((i+1)); done"])
        self.assert_how(prof, path, "open")
        self.assertLess(files(prof)[path]["count"], 5, files(prof)[path])
        events = prof["backends"][0]["events"]
        self.assertLess(events, 150, prof["backends"])
        print(f"  300 opens of one file: {events} event(s) in all", file=sys.stderr)

    def test_killed(self):
        prof = self.run_traced(["/bin/sh", "-c", "kill -9 $$"], rc=128 + 9)
        sh = self.procs_by_argv0(prof, "/bin/sh")
        self.assertEqual(sh[0]["exit_code"], 128 + 9)

    def test_dlopen(self):
        prof = self.run_traced([PROBE, "dlopen", PROBE_DLLIB])
        f = self.assert_how(prof, os.path.realpath(PROBE_DLLIB), "open", "mmap-exec")
        self.assertNotIn("needed", f["how"])

    def test_mmapx(self):
        data = os.path.join(self.tmp, "blob.bin")
        with open(data, "wb") as f:
            f.write(b"\0" * 8192)
        prof = self.run_traced([PROBE, "mmapx", data])
        f = self.assert_how(prof, data, "open", "mmap-exec")
        self.assertEqual(f["ino"], os.stat(data).st_ino)

    def test_static(self):
        if not PROBE_STATIC:
            self.skipTest("no static glibc: probe-static not built")
        opened = os.path.join(self.tmp, "static.txt")
        with open(opened, "w") as f:
            f.write("x")
        prof = self.run_traced([PROBE_STATIC, "open", opened])
        self.assert_how(prof, os.path.realpath(PROBE_STATIC), "exec")
        self.assert_how(prof, opened, "open")
        self.assertNotIn(LDSO, files(prof))

    def test_with_fanotify(self):
        prof = self.run_traced([PROBE, "dlopen", PROBE_DLLIB], tracer=["--tracer", "fanotify,ebpf"])
        self.assertEqual([b["name"] for b in prof["backends"]], ["fanotify", "ebpf"])
        lib = self.assert_how(prof, os.path.realpath(PROBE_DLLIB), "open", "mmap-exec")
        self.assertEqual(sorted(lib["backends"]), ["ebpf", "fanotify"])
        # the loader: only fanotify sees the kernel open it as the interpreter
        self.assertIn("fanotify", files(prof)[LDSO]["backends"])
        self.assertIn("exec", files(prof)[LDSO]["how"])
        self.assertTrue(self.procs_by_argv0(prof, PROBE))

    def test_auto(self):
        """auto = fanotify + ebpf where both work (DESIGN.md §9)."""
        prof = self.run_traced([PROBE, "open", "/etc/hostname"], tracer=["--tracer", "auto"])
        self.assertEqual([b["name"] for b in prof["backends"]], ["fanotify", "ebpf"])

    def test_flood(self):
        """A tiny ring with its reader paused drops events and says so; the default ring
        keeps every one of the same flood."""
        n = 3000
        flood = tempfile.mkdtemp(prefix="flood-", dir=self.tmp)
        env = {"VEXXY_TRACE_TEST_PAUSE_MS": "1500"}
        rc, prof, err = trace([PROBE, "openmany", flood, str(n)], env=env,
                              tracer_args=EBPF + ["--queue-size", "1"])
        self.assertEqual(rc, 0, err)
        self.assertFalse(prof["complete"])
        self.assertGreater(prof["backends"][0]["lost"], 0)
        prof = self.run_traced([PROBE, "openmany", flood, str(n)])
        got = {f["path"] for f in prof["files"] if f["path"].startswith(flood + "/")}
        self.assertEqual(len(got), n)


class EbpfImageTests(unittest.TestCase):
    """The `tiny` fixture image unpacked and chroot'ed into: the kernel-side walk gives host
    paths, the profile makes them in-image paths (the process's root stripped)."""
    setUpClass = ImageTests.__dict__["setUpClass"]
    tearDownClass = ImageTests.__dict__["tearDownClass"]

    def test_chroot_busybox(self):
        root = self.rootfs
        rc, prof, err = trace(["chroot", root, "/bin/busybox", "sh", "-c",
                               "busybox cat /etc/os-release >/dev/null; busybox sleep 0.3"],
                              tracer_args=EBPF)
        self.assertEqual(rc, 0, err)
        self.assertTrue(prof["complete"], prof["backends"])
        fs = files(prof)
        for path in fs:
            self.assertFalse(path.startswith(root), f"host path leaked: {path}")
        busybox = resolve_in_root(root, "/bin/busybox")
        self.assertIn("exec", fs[busybox]["how"])
        self.assertEqual(fs[busybox]["ino"], os.stat(root + busybox).st_ino)
        self.assertIn(resolve_in_root(root, "/etc/os-release"), fs, sorted(fs))
        libc = resolve_in_root(root, "/lib/x86_64-linux-gnu/libc.so.6")
        self.assertIn("mmap-exec", fs[libc]["how"], fs[libc])
        cat = [p for p in prof["processes"] if p["argv"][:2] == ["busybox", "cat"]]
        self.assertEqual(len(cat), 1, prof["processes"])
        self.assertEqual(cat[0]["exe"], busybox)
        self.assertEqual(cat[0]["exit_code"], 0)


def main():
    if os.geteuid() != 0:
        print("skip: needs root (bpf)")
        return 77
    if not VEXXY or not PROBE:
        print("skip: VEXXY_BIN / VX_PROBE not set")
        return 77
    p = subprocess.run([VEXXY, "trace", "--list-tracers"], stdout=subprocess.PIPE, text=True)
    line = [x for x in p.stdout.splitlines() if x.startswith("ebpf ")]
    if not line or not line[0].split(None, 1)[1].startswith("ok"):
        print("skip: the eBPF backend does not load here: " + (line[0] if line else p.stdout))
        return 77
    group = sys.argv[1] if len(sys.argv) > 1 else "probe"
    cls = {"probe": EbpfTests, "image": EbpfImageTests}[group]
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(cls)
    res = unittest.TextTestRunner(verbosity=2).run(suite)
    if not res.wasSuccessful():
        return 1
    if res.testsRun and len(res.skipped) == res.testsRun:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
