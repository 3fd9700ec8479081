#!/usr/bin/python3
"""test_trace_uprobe.py -- `vexxy trace --symbol PATH:NAME` with the uprobe backend.

The probe workload (tests/trace/probe.c) `call N` calls vxprobe_fn of libvxprobe.so N times;
vxprobe_never is never called. With exact counts (VEXXY_TRACE_UPROBE_EXACT=1: probes stay
open) the count is N, the uncalled function counts 0, a name the library does not have is
resolved=false, and calls of children (fork + exec from a shell) count too. With the default
one-shot probes the count is >= 1 and a long call loop runs untrapped after the first poll.
A stripped Go binary (built at test time when `go` is installed) gets its offsets from
.gopclntab. No cgroup made for the plain command is left behind.

Environment (set by tests/trace/CMakeLists.txt): VEXXY_BIN, VX_PROBE, VX_PROBE_LIB. Needs
root and the uprobe PMU; exits 77 (skip) otherwise. Standard library only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

GO_PROG = """package main

import (
	"os"
	"strconv"
)

//go:noinline
func Hit(x int) int { return x*2 + 1 }

//go:noinline
func Never(x int) int { return x - 1 }

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	s := 0
	for i := 0; i < n; i++ {
		s += Hit(i)
	}
	if n < 0 {
		s += Never(n)
	}
	os.Stderr.WriteString(strconv.Itoa(s) + "\\n")
}
"""

VEXXY = os.environ.get("VEXXY_BIN", "")
PROBE = os.environ.get("VX_PROBE", "")
PROBE_LIB = os.environ.get("VX_PROBE_LIB", "")


def trace(args, symbols=(), exact=True, tracer_args=(), timeout=30):
    """`vexxy trace --json -o FILE --symbol ... -- args`; returns (rc, profile, stderr)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = dict(os.environ)
        env.pop("VEXXY_TRACE_UPROBE_EXACT", None)
        if exact:
            env["VEXXY_TRACE_UPROBE_EXACT"] = "1"
        cmd = [VEXXY, "trace", "--json", "-o", out.name, *tracer_args]
        for s in symbols:
            cmd += ["--symbol", s]
        cmd += ["--", *args]
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, text=True)
        with open(out.name, encoding="utf-8") as f:
            text = f.read()
        return p.returncode, (json.loads(text) if text.strip() else None), p.stderr


def cgroup2_mount():
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.startswith("cgroup2 "):
                return pre.split()[4]
    return None


def leftover_cgroups():
    mnt = cgroup2_mount()
    if not mnt:
        return []
    return [os.path.join(d, n) for d, dirs, _ in os.walk(mnt) for n in dirs
            if n.startswith("vexxy-uprobe-")]


class UprobeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lib = os.path.realpath(PROBE_LIB)
        cls.fn = cls.lib + ":vxprobe_fn"
        cls.never = cls.lib + ":vxprobe_never"
        cls.absent = cls.lib + ":vxprobe_no_such_function"

    def symbols(self, prof):
        return {s["symbol"]: s for s in prof["symbols"]}

    def run_ok(self, args, symbols, **kw):
        rc, prof, err = trace(args, symbols, **kw)
        self.assertIsNotNone(prof, err)
        self.assertEqual(rc, 0, err)
        up = [b for b in prof["backends"] if b["name"] == "uprobe"]
        self.assertEqual(len(up), 1, prof["backends"])
        self.assertTrue(up[0]["ran"], up[0])
        return self.symbols(prof)

    def test_exact_counts(self):
        s = self.run_ok([PROBE, "call", "1000"], [self.fn, self.never, self.absent])
        self.assertEqual(s["vxprobe_fn"]["count"], 1000, s)
        self.assertTrue(s["vxprobe_fn"]["resolved"])
        self.assertTrue(s["vxprobe_fn"]["attached"])
        self.assertGreater(s["vxprobe_fn"]["offset"], 0)
        self.assertEqual(s["vxprobe_fn"]["path"], self.lib)
        self.assertIsNone(s["vxprobe_fn"]["error"])
        self.assertEqual(s["vxprobe_never"]["count"], 0, s)
        self.assertTrue(s["vxprobe_never"]["attached"])
        self.assertTrue(s["vxprobe_never"]["resolved"])
        self.assertFalse(s["vxprobe_no_such_function"]["resolved"])
        self.assertFalse(s["vxprobe_no_such_function"]["attached"])
        self.assertEqual(s["vxprobe_no_such_function"]["count"], 0)
        self.assertIn("not in", s["vxprobe_no_such_function"]["error"])

    def test_children_count(self):
        # fork + exec from a shell, one child in the background: 500 + 300 calls
        script = f"{PROBE} call 500; {PROBE} call 300 & wait"
        s = self.run_ok(["/bin/sh", "-c", script], [self.fn, self.never])
        self.assertEqual(s["vxprobe_fn"]["count"], 800, s)
        self.assertEqual(s["vxprobe_never"]["count"], 0, s)

    def test_one_shot(self):
        s = self.run_ok([PROBE, "call", "1000"], [self.fn, self.never], exact=False)
        self.assertGreaterEqual(s["vxprobe_fn"]["count"], 1, s)
        self.assertEqual(s["vxprobe_never"]["count"], 0, s)
        # 3M calls: trapped all the way (~11 us each) would take ~30 s; one-shot closes the
        # probe at the first poll after the first hit
        t0 = time.monotonic()
        s = self.run_ok([PROBE, "call", "3000000"], [self.fn], exact=False)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertGreaterEqual(s["vxprobe_fn"]["count"], 1, s)
        self.assertLess(s["vxprobe_fn"]["count"], 3000000, s)

    def test_uprobe_alone(self):
        rc, prof, err = trace([PROBE, "call", "10"], [self.fn], tracer_args=["--tracer", "uprobe"])
        self.assertEqual(rc, 0, err)
        self.assertEqual([b["name"] for b in prof["backends"]], ["uprobe"])
        self.assertEqual(self.symbols(prof)["vxprobe_fn"]["count"], 10)

    def test_no_symbols_no_uprobe(self):
        rc, prof, err = trace([PROBE, "call", "10"])
        self.assertEqual(rc, 0, err)
        self.assertNotIn("uprobe", [b["name"] for b in prof["backends"]])
        self.assertEqual(prof["symbols"], [])

    def test_bad_symbol_option(self):
        for bad in ("vxprobe_fn", "relative/lib.so:fn", self.lib + ":"):
            rc, _, err = trace([PROBE, "call", "1"], [bad])
            self.assertEqual(rc, 125, err)
            self.assertIn("--symbol", err)

    def test_missing_file(self):
        s = self.run_ok([PROBE, "call", "1"], ["/nonexistent/libvx-nope.so:fn"])
        self.assertFalse(s["fn"]["resolved"])
        self.assertFalse(s["fn"]["attached"])
        self.assertTrue(s["fn"]["error"])

    def test_go_stripped(self):
        """A Go binary built with -ldflags=-s -w (no .symtab): offsets from .gopclntab."""
        go = shutil.which("go")
        if not go:
            self.skipTest("no Go toolchain")
        tmp = tempfile.mkdtemp(prefix="vx-uprobe-go-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(tmp, "go.mod"), "w", encoding="utf-8") as f:
            f.write("module vxgo\n\ngo 1.16\n")
        with open(os.path.join(tmp, "main.go"), "w", encoding="utf-8") as f:
            f.write(GO_PROG)
        env = dict(os.environ, HOME=tmp, GOCACHE=os.path.join(tmp, "cache"), GOPATH=os.path.join(tmp, "gopath"),
                   GOFLAGS="-mod=mod", GOTOOLCHAIN="local", CGO_ENABLED="0", GOPROXY="off")
        exe = os.path.join(tmp, "vxgo")
        p = subprocess.run([go, "build", "-ldflags=-s -w", "-o", exe, "."], cwd=tmp, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        if p.returncode != 0:
            self.skipTest("go build failed: " + p.stdout)
        s = self.run_ok([exe, "700"], [exe + ":main.Hit", exe + ":main.Never",
                                       exe + ":main.NoSuchFunc"])
        self.assertEqual(s["main.Hit"]["count"], 700, s)
        self.assertTrue(s["main.Hit"]["resolved"])
        self.assertEqual(s["main.Never"]["count"], 0, s)
        self.assertTrue(s["main.Never"]["attached"])
        self.assertFalse(s["main.NoSuchFunc"]["resolved"])
        self.assertIn(".gopclntab", s["main.NoSuchFunc"]["error"])

    def test_zz_no_cgroup_left(self):
        self.assertEqual(leftover_cgroups(), [])


def main():
    if os.geteuid() != 0:
        print("skip: needs root (uprobe PMU, cgroup)")
        return 77
    if not VEXXY or not PROBE or not PROBE_LIB:
        print("skip: VEXXY_BIN / VX_PROBE / VX_PROBE_LIB not set")
        return 77
    p = subprocess.run([VEXXY, "trace", "--list-tracers"], stdout=subprocess.PIPE, text=True)
    if not any(line.split()[:2] == ["uprobe", "ok"] for line in p.stdout.splitlines()):
        print("skip: uprobe not available here:\n" + p.stdout)
        return 77
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(UprobeTests)
    res = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
