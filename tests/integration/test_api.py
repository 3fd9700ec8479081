#!/usr/bin/python3
"""The REST API end to end against a real `vexxy serve` (DESIGN.md §3), without auth
(auth, tenancy and quotas are in test_auth.py).

- the seed's example requests: health, submit, status, results 409, cancel, list
- every validation rule of the submit body -> 400 naming the field; 413 over the body cap
- a corpus of malformed bodies -> 4xx, and the server still answers /health
- idempotency keys; the pipeline (a job naming a registry outside --allowed-registries fails at the image phase)
- cancel of a running job; restart on the same store keeps every job and its state

Runs on SQLite, or on PostgreSQL with VEXXY_TEST_BACKEND=postgres (see vxtest.py).
"""
import os
import re
import sys
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vxtest  # noqa: E402
from vxtest import DIGEST, TERMINAL  # noqa: E402

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ApiBasics(vxtest.ServerTestCase):
    """One server with two in-process workers, no auth."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.start_server(args=["--no-auth", "--workers", "2", "--auth-cache-ms", "0"])

    # ---- the seed's examples ---------------------------------------------------------

    def test_health(self):
        r = self.s.request("GET", "/health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "healthy")
        self.assertEqual(r.json["service"], "premium-vex-service")
        self.assertIn("version", r.json)
        self.assertIn("application/json", r.headers.get("Content-Type", ""))

    def test_ready_metrics_openapi(self):
        self.assertEqual(self.s.request("GET", "/ready").status, 200)
        m = self.s.request("GET", "/metrics")
        self.assertEqual(m.status, 200)
        self.assertIn(b"# TYPE", m.body)
        o = self.s.request("GET", "/openapi.json")
        self.assertEqual(o.status, 200)
        self.assertIn("/api/v1/analysis/submit", o.json["paths"])

    def test_submit_status_results_cancel_list(self):
        r = self.s.submit(image_ref="nginx:latest", image_digest=DIGEST)
        self.assertEqual(r.status, 202, r)
        job = r.json["job_id"]
        self.assertRegex(job, UUID_RE)
        self.assertEqual(r.json["status"], "queued")
        self.assertEqual(r.json["image_ref"], "nginx:latest")
        self.assertEqual(r.json["image_digest"], DIGEST)
        self.assertEqual(r.json["profile"], "standard")
        self.assertIsInstance(r.json["estimated_duration_minutes"], int)
        self.assertTrue(r.json["created_at"])

        st = self.s.status(job)
        self.assertEqual(st.status, 200, st)
        self.assertEqual(st.json["job_id"], job)
        self.assertIn(st.json["status"], ("queued", "running", "analyzing", "failed"))
        for key in ("progress_percent", "current_phase", "started_at", "completed_at",
                    "error_message", "sandbox_id"):
            self.assertIn(key, st.json)

        res = self.s.request("GET", "/api/v1/analysis/%s/results" % job)
        self.assertEqual(res.status, 409, res)
        self.assertEqual(res.error()["code"], "conflict")

        lst = self.s.request("GET", "/api/v1/analysis")
        self.assertEqual(lst.status, 200, lst)
        self.assertIn(job, [j["job_id"] for j in lst.json["jobs"]])
        self.assertIn("next_cursor", lst.json)

        c = self.s.request("DELETE", "/api/v1/analysis/%s" % job)
        # queued -> cancelled at once (200), running -> requested (202), ended -> 409
        self.assertIn(c.status, (200, 202, 409), c)
        if c.status == 409:
            self.assertEqual(self.s.status(job).json["status"], "failed")
        else:
            final = self.s.wait_status(job, lambda j: j["status"] in TERMINAL, 15)
            self.assertIn(final["status"], ("cancelled", "failed"))

    def test_unknown_job_404(self):
        missing = str(uuid.uuid4())
        for method, path in (("GET", "/api/v1/analysis/%s/status"),
                             ("GET", "/api/v1/analysis/%s/results"),
                             ("GET", "/api/v1/analysis/%s/evidence"),
                             ("DELETE", "/api/v1/analysis/%s"),
                             ("GET", "/api/v1/vex/%s")):
            r = self.s.request(method, path % missing)
            self.assertEqual(r.status, 404, (method, path, r))
            self.assertEqual(r.error()["code"], "not_found")
        self.assertEqual(self.s.request("GET", "/api/v1/analysis/not-a-uuid/status").status, 404)
        self.assertEqual(self.s.request("GET", "/no/such/route").status, 404)

    def test_list_filters_and_pages(self):
        digest = "sha256:" + "fe" * 32
        ids = []
        for i in range(5):
            r = self.s.submit(image_ref="list/app:%d" % i, image_digest=digest)
            self.assertEqual(r.status, 202, r)
            ids.append(r.json["job_id"])
        seen, created, cursor, pages = [], [], None, 0
        while True:
            q = "/api/v1/analysis?image_digest=%s&limit=2" % digest
            if cursor:
                q += "&cursor=" + cursor
            r = self.s.request("GET", q)
            self.assertEqual(r.status, 200, r)
            self.assertLessEqual(len(r.json["jobs"]), 2)
            seen += [j["job_id"] for j in r.json["jobs"]]
            created += [j["created_at"] for j in r.json["jobs"]]
            cursor = r.json["next_cursor"]
            pages += 1
            if not cursor or pages > 10:
                break
        # newest first; jobs of the same millisecond are ordered by id
        self.assertEqual(sorted(seen), sorted(ids), "each job once")
        self.assertEqual(len(seen), len(ids), "each job once")
        self.assertEqual(created, sorted(created, reverse=True), "newest first")
        for q, field in (("status=bogus", "status"), ("limit=0", "limit"), ("limit=101", "limit"),
                         ("image_digest=sha256:xyz", "image_digest"),
                         ("cursor=garbage!!", "cursor"), ("colour=red", "colour")):
            r = self.s.request("GET", "/api/v1/analysis?" + q)
            self.assertEqual(r.status, 400, (q, r))
            self.assertEqual(r.error().get("field"), field, (q, r))
        r = self.s.request("GET", "/api/v1/analysis?status=queued&limit=100")
        self.assertEqual(r.status, 200)
        self.assertTrue(all(j["status"] == "queued" for j in r.json["jobs"]))

    def test_results_format_validated(self):
        r = self.s.submit()
        job = r.json["job_id"]
        bad = self.s.request("GET", "/api/v1/analysis/%s/results?format=pdf" % job)
        self.assertEqual(bad.status, 400, bad)
        self.assertEqual(bad.error()["field"], "format")

    # ---- validation ------------------------------------------------------------------

    def assert_invalid(self, body, field, status=400, field_prefix=False):
        r = self.s.request("POST", "/api/v1/analysis/submit", body)
        self.assertEqual(r.status, status, (body, r))
        err = r.error()
        if status == 400:
            self.assertEqual(err.get("code"), "invalid_request", r)
        self.assertTrue(err.get("message"), r)
        if field_prefix:
            self.assertTrue((err.get("field") or "").startswith(field), (body, r))
        else:
            self.assertEqual(err.get("field"), field, (body, r))
        return err

    def body(self, **kw):
        b = {"image_ref": "nginx:latest", "image_digest": DIGEST}
        for k, v in kw.items():
            if v is None:
                b.pop(k, None)
            else:
                b[k] = v
        return b

    def cfg(self, **kw):
        return self.body(config=kw)

    def test_valid_boundaries_accepted(self):
        for b in (self.cfg(test_timeout=60), self.cfg(test_timeout=900),
                  self.cfg(test_timeout=900, analysis_duration=900),
                  self.cfg(ports=[1, 65535]), self.body(profile="minimal"),
                  self.body(profile="comprehensive"), self.body(profile="custom"),
                  self.body(sbom_id=str(uuid.uuid4()).upper()),
                  self.body(findings={"Results": []}), self.body(findings=[]),
                  self.body(findings_url="https://scanner.example/report.json"),
                  self.body(callback_url="http://127.0.0.1:9/hook"),
                  self.body(priority=-10), self.body(priority=10), self.body(force=True),
                  self.cfg(environment={"A_1": "x", "_b": ""}, command=["nginx", "-g", "x"],
                           health_check_path="/healthz", enable_fuzzing=False,
                           enable_profiling=True, test_script="#!/bin/sh\necho ok\n",
                           health_check_timeout=30)):
            r = self.s.request("POST", "/api/v1/analysis/submit", b)
            self.assertIn(r.status, (200, 202), (b, r))

    def test_required_fields_and_digest(self):
        self.assert_invalid(self.body(image_ref=None), "image_ref")
        self.assert_invalid(self.body(image_digest=None), "image_digest")
        for ref in ("", 5, "has space", "tab\there", "\u00e9t\u00e9", ["x"]):
            self.assert_invalid(self.body(image_ref=ref), "image_ref")
        self.assert_invalid(self.body(image_ref="a" * 5000), "image_ref")
        for d in ("sha256:abc", "sha256:" + "A" * 64, "sha256:" + "g" * 64,
                  "sha512:" + "a" * 64, "md5:" + "a" * 32, "sha256:" + "a" * 65,
                  "sha256-" + "a" * 64, " sha256:" + "a" * 64, "", 12):
            self.assert_invalid(self.body(image_digest=d), "image_digest")

    def test_optional_top_fields(self):
        for v in ("not-a-uuid", "12345678-1234-1234-1234-12345678901", 7,
                  "g2345678-1234-1234-1234-123456789012"):
            self.assert_invalid(self.body(sbom_id=v), "sbom_id")
        for v in ("turbo", "", "STANDARD", 1):
            self.assert_invalid(self.body(profile=v), "profile")
        for v in ("high", 11, -11, 1.5, True):
            self.assert_invalid(self.body(priority=v), "priority")
        for v in ("yes", 1):
            self.assert_invalid(self.body(force=v), "force")
        for v in ("not a url", "ftp://example.com/x", "http://", "https:///path", 5,
                  "http://exa mple.com/"):
            self.assert_invalid(self.body(callback_url=v), "callback_url")
        self.assert_invalid(self.body(colour="red"), "colour")
        self.assert_invalid(self.body(IMAGE_REF="x"), "IMAGE_REF")

    def test_findings_rules(self):
        for v in ("a report", 5, True):
            self.assert_invalid(self.body(findings=v), "findings")
        self.assert_invalid(self.body(findings={"Results": []},
                                      findings_url="https://x.example/r.json"), "findings_url")
        for v in ("file:///etc/passwd", "not a url", 3):
            self.assert_invalid(self.body(findings_url=v), "findings_url")

    def test_config_rules(self):
        self.assert_invalid(self.body(config="fast"), "config")
        self.assert_invalid(self.body(config=[]), "config")
        for t in (59, 901, 0, -1, "300", 300.5, True, 10 ** 12):
            self.assert_invalid(self.cfg(test_timeout=t), "config.test_timeout")
        self.assert_invalid(self.cfg(test_timeout=100, analysis_duration=101),
                            "config.analysis_duration")
        self.assert_invalid(self.cfg(analysis_duration=0), "config.analysis_duration")
        self.assert_invalid(self.cfg(analysis_duration="60"), "config.analysis_duration")
        self.assert_invalid(self.cfg(health_check_timeout=0), "config.health_check_timeout")
        for p in ([0], [65536], [-1], ["80"], [80.0], [None], [80, 80]):
            self.assert_invalid(self.cfg(ports=p), "config.ports", field_prefix=True)
        self.assert_invalid(self.cfg(ports=80), "config.ports")
        self.assert_invalid(self.cfg(ports=list(range(1, 2000))), "config.ports",
                            field_prefix=True)
        self.assert_invalid(self.cfg(environment=["A=1"]), "config.environment")
        self.assert_invalid(self.cfg(environment={"1BAD": "x"}), "config.environment",
                            field_prefix=True)
        self.assert_invalid(self.cfg(environment={"A-B": "x"}), "config.environment",
                            field_prefix=True)
        self.assert_invalid(self.cfg(environment={"A": 1}), "config.environment.A")
        self.assert_invalid(self.cfg(command="nginx -g"), "config.command")
        self.assert_invalid(self.cfg(command=["nginx", 1]), "config.command[1]")
        self.assert_invalid(self.cfg(enable_fuzzing="yes"), "config.enable_fuzzing")
        self.assert_invalid(self.cfg(enable_profiling=1), "config.enable_profiling")
        self.assert_invalid(self.cfg(health_check_path="healthz"), "config.health_check_path")
        self.assert_invalid(self.cfg(health_check_path="/a b"), "config.health_check_path")
        self.assert_invalid(self.cfg(test_script=5), "config.test_script")
        self.assert_invalid(self.cfg(turbo=True), "config.turbo")

    def test_content_type_and_idempotency_header(self):
        r = self.s.request("POST", "/api/v1/analysis/submit", self.body(),
                           content_type="text/plain")
        self.assertEqual(r.status, 415, r)
        r = self.s.request("POST", "/api/v1/analysis/submit", self.body(),
                           headers={"Idempotency-Key": "k" * 300})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error()["field"], "Idempotency-Key")

    # ---- size caps and malformed bodies ----------------------------------------------

    def test_413_over_body_cap(self):
        cap = 10 * 1024 * 1024  # serve's default --max-body-bytes
        status, body = self.s.send_streamed("/api/v1/analysis/submit", cap + 1)
        self.assertEqual(status, 413, body)
        status, body = self.s.send_streamed("/api/v1/analysis/submit", cap + (1 << 16),
                                            content_length=False)
        self.assertEqual(status, 413, body)
        self.assertEqual(self.s.request("GET", "/health").status, 200)

    def test_malformed_corpus(self):
        deep = b"[" * 100000 + b"]" * 100000
        corpus = [
            b"", b" ", b"{", b"}", b"[", b'{"image_ref": "nginx:latest", "image_digest": "sha',
            b'{"image_ref": "nginx:latest",', b"{'image_ref': 'x'}", b"null", b"42", b'"str"',
            b"[]", b"true", b'{"image_ref": "x", "image_digest": "' + DIGEST.encode() + b'"}x',
            b'{"image_ref": "' + b"a" * (2 << 20) + b'", "image_digest": "'
            + DIGEST.encode() + b'"}',
            b'{"a": "' + b"\\u0041" * 100000 + b'"}',
            deep, b'{"findings": ' + deep + b"}",
            b'{"image_ref": "' + b"\x00" + b'"}',
            b'{"image_ref": "\\u0000", "image_digest": "' + DIGEST.encode() + b'"}',
            b'{"image_ref": "\xff\xfe", "image_digest": "' + DIGEST.encode() + b'"}',
            b'{"image_ref": "\xc0\xaf", "image_digest": "' + DIGEST.encode() + b'"}',
            b'{"image_ref": "\xed\xa0\x80"}',
            b'{"image_ref": "\\ud800", "image_digest": "' + DIGEST.encode() + b'"}',
            b'{"\xff": 1}',
            b'{"image_ref": "a", "image_ref": "b", "image_digest": "' + DIGEST.encode() + b'"}',
            b'{"image_ref": "nginx", "image_digest": "' + DIGEST.encode()
            + b'", "config": {"test_timeout": 1e400}}',
            b'{"image_ref": "nginx", "image_digest": "' + DIGEST.encode()
            + b'", "config": {"test_timeout": 99999999999999999999999999}}',
            b'{"image_ref": "nginx", "image_digest": "' + DIGEST.encode()
            + b'", "config": {"ports": [' + b"1," * 100000 + b"1]}}",
            b'{"image_ref": "nginx", "image_digest": "' + DIGEST.encode()
            + b'", "config": {"environment": {' + b",".join(b'"K%d": "v"' % i
                                                          for i in range(20000)) + b"}}}",
            b'{"image_ref": "nginx", "image_digest": "' + DIGEST.encode()
            + b'", "' + b"k" * 100000 + b'": 1}',
            b"\xef\xbb\xbf{}", b"\x00\x01\x02\x03", os.urandom(4096),
        ]
        for i, raw in enumerate(corpus):
            r = self.s.request("POST", "/api/v1/analysis/submit", raw=raw)
            self.assertTrue(400 <= r.status < 500, (i, raw[:80], r))
            if r.status != 413:
                self.assertTrue(r.error().get("message"), (i, raw[:80], r))
        self.assertTrue(self.s.alive(), "the server died on the malformed corpus")
        h = self.s.request("GET", "/health")
        self.assertEqual(h.status, 200)
        self.assertEqual(h.json["status"], "healthy")

    def test_bad_methods_and_paths(self):
        for method, path in (("PUT", "/api/v1/analysis/submit"), ("GET", "/api/v1/analysis/submit"),
                             ("POST", "/health"), ("PATCH", "/api/v1/analysis")):
            r = self.s.request(method, path, raw=b"{}" if method != "GET" else None)
            self.assertTrue(r.status in (404, 405), (method, path, r))
        for path in ("/api/v1/analysis/../../etc/passwd", "/api/v1/analysis/%00/status",
                     "/" + "a" * 8000, "/api/v1/analysis/" + "x" * 5000 + "/status"):
            r = self.s.request("GET", path)
            self.assertTrue(400 <= r.status < 500, (path[:60], r))
        self.assertEqual(self.s.request("GET", "/health").status, 200)

    # ---- idempotency -----------------------------------------------------------------

    def test_idempotency_key(self):
        key = "idem-" + uuid.uuid4().hex
        b = {"image_ref": "idem/app:1", "image_digest": DIGEST}
        r1 = self.s.request("POST", "/api/v1/analysis/submit", b,
                            headers={"Idempotency-Key": key})
        self.assertEqual(r1.status, 202, r1)
        self.assertIsNone(r1.headers.get("Idempotent-Replayed"))
        r2 = self.s.request("POST", "/api/v1/analysis/submit", b,
                            headers={"Idempotency-Key": key})
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.json["job_id"], r1.json["job_id"])
        self.assertEqual(r2.headers.get("Idempotent-Replayed"), "true")
        # another key: another job
        r3 = self.s.request("POST", "/api/v1/analysis/submit", b,
                            headers={"Idempotency-Key": key + "-2"})
        self.assertEqual(r3.status, 202, r3)
        self.assertNotEqual(r3.json["job_id"], r1.json["job_id"])
        # same key, different request: refused rather than an unrelated job
        r4 = self.s.request("POST", "/api/v1/analysis/submit",
                            {"image_ref": "idem/other:2", "image_digest": DIGEST},
                            headers={"Idempotency-Key": key})
        self.assertEqual(r4.status, 422, r4)

    # ---- pipeline --------------------------------------------------------------------

    def test_pipeline_fails_at_image_phase(self):
        r = self.s.submit(image_ref="pipeline/app:1", findings={"Results": []})
        self.assertEqual(r.status, 202, r)
        job = r.json["job_id"]
        st = self.s.wait_status(job, lambda j: j["status"] in TERMINAL, 30)
        self.assertEqual(st["status"], "failed", st)
        self.assertIn(vxtest.NOT_ALLOWED, st["error_message"])
        self.assertTrue(st["started_at"])
        self.assertTrue(st["completed_at"])
        res = self.s.request("GET", "/api/v1/analysis/%s/results" % job)
        self.assertEqual(res.status, 409, res)
        c = self.s.request("DELETE", "/api/v1/analysis/%s" % job)
        self.assertEqual(c.status, 409, c)
        ev = self.s.request("GET", "/api/v1/analysis/%s/evidence" % job)
        self.assertEqual(ev.status, 200, ev)
        self.assertEqual(ev.json["job_id"], job)
        self.assertIsInstance(ev.json["evidence"], list)


class CancelRunning(vxtest.ServerTestCase):
    """A worker holds every phase for a minute, so a job stays running until cancelled."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = cls.start_server(args=["--no-auth", "--workers", "1",
                                       "--debug-phase-delay-ms", "60000"])

    def test_cancel_running_job(self):
        r = self.s.submit(image_ref="slow/app:1")
        self.assertEqual(r.status, 202, r)
        job = r.json["job_id"]
        self.s.wait_status(job, lambda j: j["status"] == "running", 15)
        c = self.s.request("DELETE", "/api/v1/analysis/%s" % job)
        self.assertEqual(c.status, 202, c)
        self.assertTrue(c.json.get("cancel_requested"), c)
        t0 = time.time()
        st = self.s.wait_status(job, lambda j: j["status"] in TERMINAL, 10)
        self.assertEqual(st["status"], "cancelled", st)
        self.assertLess(time.time() - t0, 10)
        self.assertTrue(st["completed_at"])
        again = self.s.request("DELETE", "/api/v1/analysis/%s" % job)
        self.assertEqual(again.status, 409, again)

    def test_cancel_queued_job_behind_busy_worker(self):
        # the single worker is busy with (or about to take) another slow job
        first = self.s.submit(image_ref="slow/first:1").json["job_id"]
        self.s.wait_status(first, lambda j: j["status"] == "running", 15)
        r = self.s.submit(image_ref="slow/second:1")
        job = r.json["job_id"]
        self.assertEqual(self.s.status(job).json["status"], "queued")
        c = self.s.request("DELETE", "/api/v1/analysis/%s" % job)
        self.assertEqual(c.status, 200, c)
        self.assertEqual(c.json["status"], "cancelled")
        self.assertEqual(self.s.status(job).json["status"], "cancelled")
        self.s.request("DELETE", "/api/v1/analysis/%s" % first)
        self.s.wait_status(first, lambda j: j["status"] in TERMINAL, 10)


class Restart(vxtest.ServerTestCase):
    """Jobs survive a SIGTERM and a new server on the same data dir and store."""

    def snapshot(self, s, ids):
        out = {}
        for j in ids:
            r = s.status(j)
            self.assertEqual(r.status, 200, r)
            out[j] = r.json
        return out

    def test_restart_keeps_terminal_jobs(self):
        s = self.start_server("term", args=["--no-auth", "--workers", "2"])
        ids = [s.submit(image_ref="restart/app:%d" % i).json["job_id"] for i in range(3)]
        for j in ids:
            s.wait_status(j, lambda st: st["status"] in TERMINAL, 30)
        before = self.snapshot(s, ids)
        self.assertEqual(s.stop(), 0, s.log())
        s.start()
        after = self.snapshot(s, ids)
        self.assertEqual(after, before)
        self.assertEqual(s.stop(), 0, s.log())

    def test_restart_keeps_queued_and_cancelled_jobs(self):
        # no workers: what is queued stays queued across the restart
        s = self.start_server("queued", args=["--no-auth", "--workers", "0"])
        ids = [s.submit(image_ref="restart/q:%d" % i).json["job_id"] for i in range(4)]
        c = s.request("DELETE", "/api/v1/analysis/%s" % ids[0])
        self.assertEqual(c.status, 200, c)
        before = self.snapshot(s, ids)
        self.assertEqual([before[j]["status"] for j in ids],
                         ["cancelled", "queued", "queued", "queued"])
        self.assertEqual(s.stop(), 0, s.log())
        s.start()
        after = self.snapshot(s, ids)
        self.assertEqual(after, before)
        lst = s.request("GET", "/api/v1/analysis?limit=100").json["jobs"]
        listed = [j for j in lst if j["job_id"] in ids]
        self.assertEqual(sorted(j["job_id"] for j in listed), sorted(ids))
        self.assertEqual([j["created_at"] for j in listed],
                         sorted((j["created_at"] for j in listed), reverse=True))
        self.assertEqual(s.stop(), 0, s.log())


if __name__ == "__main__":
    vxtest.main()
