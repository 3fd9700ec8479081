#!/usr/bin/python3
"""Webhooks end to end: a job with a callback_url ends, the server POSTs the status and
summary to it, signed with HMAC-SHA256 of the exact body, and retries with backoff when the
receiver fails. The receiver is a plain http.server on 127.0.0.1."""
import hashlib
import hmac
import http.server
import json
import threading
import time
import unittest

import vxtest

SECRET = "integration-webhook-secret"


class Receiver(http.server.ThreadingHTTPServer):
    """Answers the first `fail_first` POSTs with 500, then 200; keeps every request."""

    def __init__(self, fail_first):
        self.fail_first = fail_first
        self.got = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.got.append((dict(self.headers), body, time.time()))
            code = 500 if len(self.server.got) <= self.server.fail_first else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class WebhookTest(vxtest.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv = cls.start_server(args=["--no-auth", "--webhook-secret", SECRET])

    def receive(self, fail_first, want, timeout=30):
        rx = Receiver(fail_first)
        t = threading.Thread(target=rx.serve_forever, daemon=True)
        t.start()
        self.addCleanup(rx.server_close)
        self.addCleanup(rx.shutdown)
        url = "http://127.0.0.1:%d/hook" % rx.server_address[1]
        r = self.srv.submit(callback_url=url)
        self.assertEqual(r.status, 202, r)
        job = r.json["job_id"]
        deadline = time.time() + timeout
        while time.time() < deadline:
            with rx.lock:
                if len(rx.got) >= want:
                    break
            time.sleep(0.05)
        with rx.lock:
            return job, list(rx.got)

    def check_signed(self, headers, body):
        sig = headers.get("X-Vexxy-Signature", "")
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        self.assertTrue(hmac.compare_digest(sig, want), (sig, want))
        self.assertEqual(headers.get("Content-Type"), "application/json")
        self.assertTrue(headers.get("X-Vexxy-Delivery"))

    def test_failed_job_is_delivered_signed(self):
        job, got = self.receive(fail_first=0, want=1)
        self.assertEqual(len(got), 1, "one delivery")
        headers, body, _ = got[0]
        self.check_signed(headers, body)
        payload = json.loads(body)
        self.assertEqual(payload["job_id"], job)
        self.assertEqual(payload["status"], "failed")
        self.assertEqual(payload["event"], "job.failed")
        self.assertEqual(headers.get("X-Vexxy-Event"), "job.failed")
        self.assertIn(vxtest.NOT_ALLOWED, payload["error_message"])
        self.assertEqual(payload["image_digest"], vxtest.DIGEST)

    def test_retried_after_receiver_errors(self):
        job, got = self.receive(fail_first=2, want=3)
        self.assertEqual(len(got), 3, "two failures, then delivered")
        ids = {h.get("X-Vexxy-Delivery") for h, _, _ in got}
        self.assertEqual(len(ids), 1, "the same delivery each time")
        bodies = {b for _, b, _ in got}
        self.assertEqual(len(bodies), 1, "the same body each time")
        for h, b, _ in got:
            self.check_signed(h, b)
        gaps = [got[i + 1][2] - got[i][2] for i in range(2)]
        self.assertGreater(gaps[1], gaps[0] * 1.5, "backoff grows: %r" % gaps)
        # delivered: nothing more arrives
        time.sleep(1.0)


if __name__ == "__main__":
    vxtest.main()
