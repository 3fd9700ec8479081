#!/usr/bin/python3
"""The client subcommands (`vexxy submit|status|results|cancel|list|vex`) against a real
server: --json and human output, options mapped into the request, exit codes (0 done,
1 job failed under --wait, 2 usage / unreachable server / HTTP error).
"""
import json
import os
import re
import sys
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vxtest  # noqa: E402
from vxtest import DIGEST, run_vexxy  # noqa: E402

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SECRET = "cli-secret-" + uuid.uuid4().hex


class Cli(vxtest.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # no workers: jobs stay queued, so what the CLI shows is deterministic
        cls.idle = cls.start_server("idle", args=["--no-auth", "--workers", "0"])

    def cli(self, *args, server=None, env=None):
        return run_vexxy(list(args) + ["--server", server or self.idle.url], env=env)

    def submit_json(self, *extra):
        r = self.cli("submit", "nginx:latest", "--digest", DIGEST, "--json", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_submit_human_and_json(self):
        r = self.cli("submit", "nginx:latest", "--digest", DIGEST)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.strip(), r"^job %s queued \(estimated \d+ min\)$" % UUID)
        out = self.submit_json()
        self.assertEqual(out["status"], "queued")
        self.assertEqual(out["image_digest"], DIGEST)
        self.assertRegex(out["job_id"], UUID)
        # --json is the server's JSON, indented
        r = self.cli("submit", "nginx:latest", "--digest", DIGEST, "--json")
        self.assertTrue(r.stdout.startswith("{\n  \""), r.stdout)

    def test_submit_digest_from_reference(self):
        r = self.cli("submit", "nginx@" + DIGEST, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["image_digest"], DIGEST)

    def test_submit_all_options(self):
        findings = os.path.join(self.tmp, "trivy.json")
        with open(findings, "w") as f:
            json.dump({"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": []}]},
                      f)
        config = os.path.join(self.tmp, "config.json")
        with open(config, "w") as f:
            json.dump({"enable_fuzzing": False, "environment": {"FROM_FILE": "1"}}, f)
        script = os.path.join(self.tmp, "test.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\ncurl -fsS http://$TARGET_HOST/\n")
        out = self.submit_json("--findings", findings, "--profile", "minimal",
                               "--config", config, "--test-script", script,
                               "--test-timeout", "120", "--duration", "60", "--port", "80",
                               "--port", "443", "--env", "A=1", "--env", "B=x=y",
                               "--command", "nginx", "--command", "-g",
                               "--health-check-path", "/healthz", "--priority", "5",
                               "--callback-url", "http://127.0.0.1:9/hook",
                               "--sbom-id", str(uuid.uuid4()), "--force")
        self.assertEqual(out["profile"], "minimal")
        self.assertEqual(out["status"], "queued")
        st = self.cli("status", out["job_id"], "--json")
        self.assertEqual(json.loads(st.stdout)["priority"], 5)

    def test_submit_validation_errors(self):
        r = self.cli("submit", "nginx:latest", "--digest", DIGEST, "--test-timeout", "5")
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"^vexxy: .+ \(invalid_request, field 'config\.test_timeout'\)")
        r = self.cli("submit", "nginx:latest", "--digest", "sha256:short")
        self.assertEqual(r.returncode, 2)
        self.assertIn("field 'image_digest'", r.stderr)
        r = self.cli("submit", "nginx:latest", "--digest", DIGEST, "--port", "70000")
        self.assertEqual(r.returncode, 2)
        self.assertIn("config.ports[0]", r.stderr)
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        r = self.cli("submit", "nginx:latest", "--digest", DIGEST, "--findings", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad.json", r.stderr)
        r = self.cli("submit", "nginx:latest", "--digest", DIGEST, "--findings",
                     os.path.join(self.tmp, "missing.json"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing.json", r.stderr)

    def test_submit_usage_errors(self):
        for args in (["submit"], ["submit", "nginx:latest"], ["submit", "a", "b", "--digest",
                                                             DIGEST],
                     ["submit", "nginx", "--digest", DIGEST, "--env", "NOEQUALS"],
                     ["submit", "nginx", "--digest", DIGEST, "--port", "eighty"],
                     ["submit", "nginx", "--digest", DIGEST, "--bogus"],
                     ["submit", "nginx", "--digest", DIGEST, "--findings", "a",
                      "--findings-url", "http://x/"],
                     ["status"], ["status", "a", "b"], ["cancel"], ["results"], ["vex"],
                     ["list", "extra"], ["status", "x", "--timeout", "0"]):
            r = self.cli(*args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertIn("usage:", r.stderr, args)
        for cmd in ("submit", "status", "results", "cancel", "list", "vex"):
            r = run_vexxy([cmd, "--help"])
            self.assertEqual(r.returncode, 0, cmd)
            self.assertIn("usage: vexxy " + cmd, r.stdout)
            self.assertIn("--server", r.stdout)

    def test_status_human_and_json(self):
        job = self.submit_json()["job_id"]
        r = self.cli("status", job)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^job +%s$" % job)
        self.assertRegex(r.stdout, r"(?m)^status +queued$")
        self.assertRegex(r.stdout, r"(?m)^progress +0%$")
        r = self.cli("status", job, "--json")
        self.assertEqual(json.loads(r.stdout)["job_id"], job)

    def test_not_found_exit_2(self):
        missing = str(uuid.uuid4())
        for cmd in ("status", "results", "cancel", "vex"):
            r = self.cli(cmd, missing)
            self.assertEqual(r.returncode, 2, (cmd, r.stdout))
            self.assertIn("not found", r.stderr)
            self.assertIn("(not_found)", r.stderr)
        r = self.cli("status", "../../etc/passwd")
        self.assertEqual(r.returncode, 2)

    def test_unreachable_server_exit_2(self):
        r = run_vexxy(["status", str(uuid.uuid4()), "--server", "http://127.0.0.1:1"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("http://127.0.0.1:1", r.stderr)
        self.assertIn("cannot reach", r.stderr)
        r = run_vexxy(["list", "--server", "ftp://127.0.0.1/"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--server", r.stderr)
        # the environment names the server when --server is absent
        r = run_vexxy(["list", "--json"], env={"VEXXY_SERVER": self.idle.url + "/"})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run_vexxy(["list"], env={"VEXXY_SERVER": "http://127.0.0.1:1"})
        self.assertEqual(r.returncode, 2)

    def test_results_409_while_not_complete(self):
        job = self.submit_json()["job_id"]
        r = self.cli("results", job)
        self.assertEqual(r.returncode, 2)
        self.assertIn("(conflict)", r.stderr)
        r = self.cli("results", job, "--format", "pdf")
        self.assertEqual(r.returncode, 2)
        self.assertIn("field 'format'", r.stderr)

    def test_cancel(self):
        job = self.submit_json()["job_id"]
        r = self.cli("cancel", job)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "job %s cancelled" % job)
        r = self.cli("status", job, "--json")
        self.assertEqual(json.loads(r.stdout)["status"], "cancelled")
        r = self.cli("cancel", job)
        self.assertEqual(r.returncode, 2)
        self.assertIn("(conflict)", r.stderr)
        job2 = self.submit_json()["job_id"]
        r = self.cli("cancel", job2, "--json")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(json.loads(r.stdout)["status"], "cancelled")

    def test_list(self):
        digest = "sha256:" + "cd" * 32
        ids = [self.submit_json("--digest", digest)["job_id"] for _ in range(5)]
        r = self.cli("list", "--digest", digest)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split()[:3], ["JOB", "ID", "STATUS"])
        for col in ("PROGRESS", "PHASE", "IMAGE", "CREATED"):
            self.assertIn(col, lines[0])
        # newest first; jobs of the same millisecond may come in either order
        self.assertEqual(sorted(ln.split()[0] for ln in lines[1:]), sorted(ids))
        r = self.cli("list", "--digest", digest, "--json", "--limit", "2")
        page = json.loads(r.stdout)
        self.assertEqual(len(page["jobs"]), 2)
        self.assertTrue(page["next_cursor"])
        r = self.cli("list", "--digest", digest, "--limit", "2")
        self.assertIn("--cursor", r.stderr)
        r = self.cli("list", "--digest", digest, "--limit", "2", "--all", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = [j["job_id"] for j in json.loads(r.stdout)["jobs"]]
        self.assertEqual(sorted(got), sorted(ids))
        self.assertEqual(len(got), len(ids))
        r = self.cli("list", "--digest", digest, "--limit", "2", "--all")
        self.assertEqual(len(r.stdout.splitlines()), 6)
        r = self.cli("list", "--status", "nonsense")
        self.assertEqual(r.returncode, 2)
        self.assertIn("field 'status'", r.stderr)

    def test_results_and_vex_of_missing_documents(self):
        r = self.cli("vex", str(uuid.uuid4()), "-o", os.path.join(self.tmp, "x.json"))
        self.assertEqual(r.returncode, 2)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.json")))


class CliWait(vxtest.ServerTestCase):
    """--wait against a server whose workers run (and, for now, fail) the pipeline."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.start_server("busy", args=["--no-auth", "--workers", "2"])

    def test_submit_wait_failed_exit_1(self):
        r = run_vexxy(["submit", "nginx:latest", "--digest", DIGEST, "--wait", "--poll", "0.2",
                       "--server", self.s.url], timeout=60)
        self.assertEqual(r.returncode, 1, (r.stdout, r.stderr))
        self.assertRegex(r.stdout, r"(?m)^status +failed$")
        self.assertIn(vxtest.NOT_ALLOWED, r.stdout)
        r = run_vexxy(["submit", "nginx:latest", "--digest", DIGEST, "--wait", "--poll", "0.2",
                       "--json", "--server", self.s.url], timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual(st["status"], "failed")

    def test_token_from_env_is_sent(self):
        # --no-auth ignores tokens; a token must not break anything either way
        r = run_vexxy(["list", "--json", "--server", self.s.url],
                      env={"VEXXY_TOKEN": "anything"})
        self.assertEqual(r.returncode, 0, r.stderr)


class CliAuth(vxtest.ServerTestCase):
    """--token and $VEXXY_TOKEN against an authenticating server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        vxtest.admin(cls.db.url, "org", "create", "cli-org", "--id", "cli-org")
        cls.key = vxtest.admin(cls.db.url, "apikey", "create", "--org",
                               "cli-org").stdout.strip()
        cls.s = cls.start_server("auth", args=["--workers", "0", "--jwt-secret", SECRET])

    def test_token_option_and_env(self):
        r = run_vexxy(["list", "--server", self.s.url])
        self.assertEqual(r.returncode, 2)
        self.assertIn("(unauthorized)", r.stderr)
        r = run_vexxy(["submit", "nginx:latest", "--digest", DIGEST, "--json", "--server",
                       self.s.url, "--token", self.key])
        self.assertEqual(r.returncode, 0, r.stderr)
        job = json.loads(r.stdout)["job_id"]
        r = run_vexxy(["status", job, "--server", self.s.url], env={"VEXXY_TOKEN": self.key})
        self.assertEqual(r.returncode, 0, r.stderr)
        tok = vxtest.admin(self.db.url, "token", "--org", "cli-org", "--secret",
                           SECRET).stdout.strip()
        r = run_vexxy(["status", job, "--server", self.s.url, "--token", tok])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run_vexxy(["status", job, "--server", self.s.url, "--token", "wrong"])
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    vxtest.main()
