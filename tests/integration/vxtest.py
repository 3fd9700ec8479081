"""Shared pieces of the integration tests: a real `vexxy serve` on loopback, an HTTP client
on urllib, and the `vexxy` CLI as a subprocess.

Standard library only. Every process started here is killed by Server.stop()/kill() (the
test classes call them in tearDown/tearDownClass); every wait has a deadline.

Environment:
  VEXXY_BIN               the vexxy executable (ctest sets it to the built target)
  VEXXY_TEST_BACKEND      "sqlite" (default) or "postgres"
  VEXXY_TEST_PG_URL_FILE  a file holding postgres://... (the tests/pg fixture); each server
                          group gets a fresh database created in it and dropped afterwards
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

VEXXY = os.environ.get("VEXXY_BIN", "vexxy")
BACKEND = os.environ.get("VEXXY_TEST_BACKEND", "sqlite")
DIGEST = "sha256:" + "0123456789abcdef" * 4
TERMINAL = ("complete", "failed", "cancelled")
NOT_ALLOWED = "not in the allowed registries"
SKIP = 77  # ctest SKIP_RETURN_CODE
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


def pg_base_url():
    path = os.environ.get("VEXXY_TEST_PG_URL_FILE")
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read().strip() or None


def skip_unless_backend():
    """Exit 77 (skipped) when the PostgreSQL backend is asked for but has no fixture."""
    if BACKEND == "postgres" and not pg_base_url():
        if os.environ.get("CI") == "true":
            print("VEXXY_TEST_PG_URL_FILE missing in CI: the PostgreSQL fixture did not run")
            sys.exit(1)
        print("skipped: no PostgreSQL fixture (VEXXY_TEST_PG_URL_FILE)")
        sys.exit(SKIP)


def clean_env(extra=None):
    """The environment for child processes: none of the caller's VEXXY_* settings leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEXXY_")}
    env.update(extra or {})
    return env


class Database:
    """One store for a group of servers: a SQLite file in tmp, or a fresh PostgreSQL
    database (created now, dropped by drop())."""

    def __init__(self, tmp):
        self.pg_name = None
        if BACKEND == "postgres":
            base = pg_base_url()
            self.pg_base = base
            self.pg_name = "vx_integ_%d_%s" % (os.getpid(), uuid.uuid4().hex[:10])
            subprocess.run(["psql", base, "-q", "-c", "CREATE DATABASE %s" % self.pg_name],
                           check=True, capture_output=True, timeout=30)
            self.url = base.rsplit("/", 1)[0] + "/" + self.pg_name
        else:
            self.url = "sqlite:" + os.path.join(tmp, "vexxy.db")

    def drop(self):
        if self.pg_name:
            subprocess.run(["psql", self.pg_base, "-q", "-c",
                            "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.pg_name],
                           capture_output=True, timeout=30)
            self.pg_name = None


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def error(self):
        """The {"error": {...}} object of an error answer, or {}."""
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"]
        return {}

    def __repr__(self):
        return "<HTTP %d %r>" % (self.status, self.body[:400])


class Server:
    """A `vexxy serve` on 127.0.0.1 with an ephemeral port, written to --port-file."""

    def __init__(self, tmp, db_url, name="serve", args=()):
        self.tmp = tmp
        self.db_url = db_url
        self.name = name
        self.args = list(args)
        self.data_dir = os.path.join(tmp, name + "-data")
        self.proc = None
        self.port = None
        self.log_path = os.path.join(tmp, name + ".log")
        self.starts = 0

    def start(self, timeout=20):
        port_file = os.path.join(self.tmp, self.name + ".port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.starts += 1
        log = open(self.log_path, "a")
        log.write("---- start %d ----\n" % self.starts)
        log.flush()
        cmd = [VEXXY, "serve", "--listen", "127.0.0.1:0", "--port-file", port_file,
               "--db", self.db_url, "--data-dir", self.data_dir, "--log-level", "info",
               # tests never reach outside the machine: a job naming another registry fails
               # at the image phase with "not in the allowed registries"
               "--allowed-registries", "127.0.0.1"]
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=clean_env())
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError("vexxy serve exited with %s:\n%s"
                                   % (self.proc.returncode, self.log()))
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("vexxy serve did not write its port file in %ds:\n%s"
                           % (timeout, self.log()))

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self, timeout=15):
        """SIGTERM, wait; SIGKILL if it does not go. Returns the exit code."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError("vexxy serve ignored SIGTERM for %ds" % timeout)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- HTTP --------------------------------------------------------------------------

    def request(self, method, path, body=None, raw=None, token=None, headers=None,
                content_type="application/json", timeout=15):
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        hdrs = {}
        if data is not None and content_type:
            hdrs["Content-Type"] = content_type
        if token:
            hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Resp(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Resp(e.code, e.headers, e.read())

    def submit(self, token=None, headers=None, **fields):
        body = {"image_ref": "nginx:latest", "image_digest": DIGEST}
        body.update(fields)
        return self.request("POST", "/api/v1/analysis/submit", body, token=token,
                            headers=headers)

    def status(self, job_id, token=None):
        return self.request("GET", "/api/v1/analysis/%s/status" % job_id, token=token)

    def wait_status(self, job_id, pred, timeout, token=None):
        """Polls status until pred(status json) holds; returns that json or raises."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            r = self.status(job_id, token=token)
            if r.status == 200:
                last = r.json
                if pred(last):
                    return last
            time.sleep(0.1)
        raise AssertionError("job %s: condition not reached in %ss (last status %r)"
                             % (job_id, timeout, last))

    def send_streamed(self, path, total, chunk=1 << 16, content_length=True, token=None):
        """POSTs 'total' bytes of a JSON-ish body in chunks (Content-Length or chunked);
        the server may answer and close early. Returns (status, body) or (None, error)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", "application/json")
            if token:
                conn.putheader("Authorization", "Bearer " + token)
            if content_length:
                conn.putheader("Content-Length", str(total))
            else:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            piece = b'{"image_ref": "' + b"a" * chunk
            sent = 0
            try:
                while sent < total:
                    n = min(chunk, total - sent)
                    data = (piece * (n // len(piece) + 1))[:n]
                    if content_length:
                        conn.send(data)
                    else:
                        conn.send(b"%x\r\n" % n + data + b"\r\n")
                    sent += n
                if not content_length:
                    conn.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server gave up on the body early: its answer should be waiting
            try:
                r = conn.getresponse()
                return r.status, r.read()
            except (ConnectionResetError, http.client.RemoteDisconnected) as e:
                return None, repr(e)
        finally:
            conn.close()


def run_vexxy(args, env=None, timeout=60, input_text=None):
    """Runs the vexxy CLI; returns CompletedProcess with text stdout/stderr."""
    return subprocess.run([VEXXY] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=clean_env(env), input=input_text,
                          stdin=None if input_text is not None else subprocess.DEVNULL)


def admin(db_url, *args, check=True):
    r = run_vexxy(["admin", "--db", db_url] + list(args))
    if check and r.returncode != 0:
        raise AssertionError("vexxy admin %s failed (%d): %s%s"
                             % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


class ServerTestCase(unittest.TestCase):
    """A class-wide temp dir, database and servers; subclasses start servers in
    setUpClass with cls.start_server(...)."""

    servers = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vx-integ-")
        cls.servers = []
        cls.db = Database(cls.tmp)

    @classmethod
    def start_server(cls, name="serve", args=(), db_url=None):
        s = Server(cls.tmp, db_url or cls.db.url, name=name, args=args)
        cls.servers.append(s)
        return s.start()

    @classmethod
    def tearDownClass(cls):
        """Stops every server with SIGTERM (a clean shutdown is part of what is tested, and
        lets sanitizer builds report leaks), then fails the class if one exited badly or
        logged a sanitizer report."""
        problems = []
        for s in cls.servers:
            try:
                rc = s.stop()
            except AssertionError as e:
                rc = None
                problems.append("%s: %s" % (s.name, e))
            finally:
                s.kill()
            log = s.log()
            if rc not in (0, None):
                problems.append("%s exited with %s on SIGTERM" % (s.name, rc))
            for marker in SANITIZER_MARKERS:
                if marker in log:
                    problems.append("%s logged '%s':\n%s" % (s.name, marker, log))
                    break
        cls.db.drop()
        if os.environ.get("VEXXY_TEST_KEEP") or problems:
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if problems:
            raise AssertionError("\n".join(problems))


def main():
    skip_unless_backend()
    if not shutil.which(VEXXY) and not os.path.exists(VEXXY):
        print("skipped: VEXXY_BIN is not set to the vexxy executable")
        sys.exit(SKIP)
    unittest.main(verbosity=2)
