#!/usr/bin/python3
"""`vexxy analyze`: the stable command-line surface is validated (clear message, exit 2),
and until the pipeline's phases exist the command says which one is missing and exits 2
without writing any document."""
import json
import os
import tempfile
import unittest

import vxtest

DIGEST = vxtest.DIGEST


class AnalyzeTest(unittest.TestCase):
    def run_analyze(self, *args):
        return vxtest.run_vexxy(["analyze"] + list(args))

    def test_help(self):
        r = self.run_analyze("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--findings", r.stdout)

    def test_missing_phase_is_reported_not_faked(self):
        with tempfile.TemporaryDirectory() as d:
            findings = os.path.join(d, "trivy.json")
            with open(findings, "w") as f:
                json.dump({"SchemaVersion": 2, "Results": []}, f)
            out = os.path.join(d, "vex.json")
            r = self.run_analyze("nginx:latest", "--digest", DIGEST, "--findings", findings,
                                 "--profile", "minimal", "--port", "80", "--env", "A=b",
                                 "--tracer", "fanotify,ebpf", "-o", out)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("phase 'image' is not available yet", r.stderr)
            self.assertFalse(os.path.exists(out), "no document is written")

    def test_bad_values(self):
        cases = [
            (["x", "--digest", "sha256:abc"], "--digest"),
            (["x", "--port", "70000"], "--port"),
            (["x", "--profile", "huge"], "--profile"),
            (["x", "--tracer", "dtrace"], "--tracer"),
            (["x", "--fail-on", "everything"], "--fail-on"),
            (["x", "--findings", "/nonexistent/report.json"], "--findings"),
            ([], "IMAGE"),
            (["a", "b"], "IMAGE"),
            (["x", "--bogus"], "--bogus"),
        ]
        for args, word in cases:
            r = self.run_analyze(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(word, r.stderr, args)

    def test_findings_must_be_json(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write("{not json")
            f.flush()
            r = self.run_analyze("x", "--findings", f.name)
            self.assertEqual(r.returncode, 2)
            self.assertIn("malformed json", r.stderr)


if __name__ == "__main__":
    vxtest.main()
