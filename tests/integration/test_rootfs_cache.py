#!/usr/bin/env python3
"""The shared rootfs cache (src/queue/rootfs_cache.c) through `vexxy analyze`, as root:

- a second analysis of the same image reuses the unpacked tree (log says so, the image
  phase's unpack report is the same, the verdicts are the same);
- two analyses of a new image started at once: one unpacks, the other waits and reuses;
  both complete, one tree;
- --rootfs-cache 1: analysing another image evicts the least recently used tree nobody
  holds; --rootfs-cache -1: no shared tree, the job unpacks into its own directory;
- a half-built tree (no report.json: a builder died) is rebuilt, never used.
Skips (77) without root or the image fixtures.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import vxtest
from vxdemo import read_env

IMAGES = read_env("VEXXY_FIXTURE_ENV")


class RootfsCacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vx-rootfs-cache-")
        os.chmod(cls.tmp, 0o711)
        cls.tiny = "oci:" + IMAGES["VEXXY_FIXTURE_TINY"]
        cls.demo = "oci:" + IMAGES["VEXXY_FIXTURE_DEMO"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.t0 = time.monotonic()

    def tearDown(self):
        print("  %s: %.2f s" % (self.id().split(".")[-1], time.monotonic() - self.t0),
              file=sys.stderr)

    def args(self, image, data, *extra):
        ev = os.path.join(self.tmp, "ev-%d.json" % time.monotonic_ns())
        return ["analyze", image, "--data-dir", data, "--duration", "1", "--evidence", ev,
                "--profile", "minimal", *extra], ev

    def analyze(self, image, data, *extra):
        args, ev = self.args(image, data, *extra)
        r = vxtest.run_vexxy(args, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(ev) as f:
            return r.stderr, json.load(f)

    @staticmethod
    def trees(data):
        base = os.path.join(data, "rootfs")
        return sorted(os.listdir(base)) if os.path.isdir(base) else []

    def test_a_reuse(self):
        data = os.path.join(self.tmp, "a")
        log1, ev1 = self.analyze(self.tiny, data)
        self.assertRegex(log1, r"entries unpacked")
        log2, ev2 = self.analyze(self.tiny, data)
        self.assertIn("shared tree reused", log2)
        self.assertEqual(len(self.trees(data)), 1)
        self.assertEqual(ev1["run"]["ran"], ev2["run"]["ran"])
        t1 = re.search(r"image done in (\d+) ms", log1).group(1)
        t2 = re.search(r"image done in (\d+) ms", log2).group(1)
        print("  image phase: %s ms unpacking, %s ms reusing" % (t1, t2), file=sys.stderr)
        # the job's own directory no longer holds a rootfs
        jobs = os.path.join(data, "jobs")
        for j in os.listdir(jobs) if os.path.isdir(jobs) else []:
            self.assertFalse(os.path.exists(os.path.join(jobs, j, "rootfs")))

    def test_b_concurrent_first_use(self):
        data = os.path.join(self.tmp, "b")
        procs = []
        for _ in range(2):
            args, _ = self.args(self.tiny, data)
            procs.append(subprocess.Popen([vxtest.VEXXY] + args, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True,
                                          env=vxtest.clean_env()))
        logs = []
        for p in procs:
            out, err = p.communicate(timeout=180)
            self.assertEqual(p.returncode, 0, err)
            logs.append(err)
        built = sum("entries unpacked" in lg for lg in logs)
        reused = sum("shared tree reused" in lg for lg in logs)
        self.assertEqual((built, reused), (1, 1), logs)
        self.assertEqual(len(self.trees(data)), 1)

    def test_c_eviction_and_off(self):
        data = os.path.join(self.tmp, "c")
        self.analyze(self.tiny, data, "--rootfs-cache", "1")
        first = self.trees(data)
        self.assertEqual(len(first), 1)
        self.analyze(self.demo, data, "--rootfs-cache", "1")
        second = self.trees(data)
        self.assertEqual(len(second), 1, second)
        self.assertNotEqual(first, second)  # tiny's tree was evicted for demo's
        off = os.path.join(self.tmp, "c-off")
        log, _ = self.analyze(self.tiny, off, "--rootfs-cache", "-1")
        self.assertIn("entries unpacked", log)
        self.assertEqual(self.trees(off), [])

    def test_d_half_built_tree_is_rebuilt(self):
        data = os.path.join(self.tmp, "d")
        self.analyze(self.tiny, data)
        (tree,) = self.trees(data)
        base = os.path.join(data, "rootfs", tree)
        os.unlink(os.path.join(base, "report.json"))  # as if the builder had died
        with open(os.path.join(base, "rootfs", "leftover"), "w") as f:
            f.write("x")
        log, _ = self.analyze(self.tiny, data)
        self.assertIn("entries unpacked", log)
        self.assertFalse(os.path.exists(os.path.join(base, "rootfs", "leftover")))
        self.assertTrue(os.path.exists(os.path.join(base, "report.json")))


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: the sandbox needs root")
        sys.exit(77)
    if not IMAGES.get("VEXXY_FIXTURE_TINY") or not IMAGES.get("VEXXY_FIXTURE_DEMO"):
        print("skipped: no image fixtures (tests/fixtures)")
        sys.exit(77)
    res = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if res.wasSuccessful() else 1)
