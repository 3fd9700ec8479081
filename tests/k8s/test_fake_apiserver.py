#!/usr/bin/python3
"""test_fake_apiserver.py -- the fake Kubernetes API server behaves like its contract
(docs/internals/fake-k8s.md), so that tests of vexxy's Kubernetes client and sandbox backend
against it mean something.

Starts tests/k8s/fake-apiserver.js over HTTPS (certificates from make-certs.sh) and checks, with
a Job like the one vexxy's backend sends (backoffLimit 0, ttlSecondsAfterFinished,
activeDeadlineSeconds, shareProcessNamespace, target + privileged tracer sidecar + test-script
container, seccomp RuntimeDefault, no privilege escalation, capabilities dropped,
runtimeClassName) and a deny-all-egress NetworkPolicy: bearer-token and client-certificate
auth (401), --forbid (403 with the real message), schema validation (422: a wrong type, an
unknown field, a container without image, a bad enum), 409, 404, the Job lifecycle
(Pending -> Running -> Succeeded, Failed, DeadlineExceeded, ttlSecondsAfterFinished), watches
from a resourceVersion, 410 Expired, dropped watches, Foreground/Background/Orphan deletion,
logs (tailLines, limitBytes, errors), injected failures and the request log.

Environment: K8S_ENV_FILE (written by the `k8s` fixture, tests/k8s/setup.sh) naming
K8S_NODE_MODULES. Skips (77) without node, openssl or the npm package. Standard library only.
"""
import http.client
import json
import os
import queue
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "test-token-0123456789"
NS = "vexxy-sandbox"
DIGEST = "sha256:" + "ab" * 32
ENV = {}


def load_env():
    path = os.environ.get("K8S_ENV_FILE", "")
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    ENV[k] = v
    if "K8S_NODE_MODULES" not in ENV and os.environ.get("K8S_NODE_MODULES"):
        ENV["K8S_NODE_MODULES"] = os.environ["K8S_NODE_MODULES"]


class Fake:
    """One fake-apiserver.js process."""

    def __init__(self, certs, *extra):
        env = dict(os.environ, K8S_NODE_MODULES=ENV["K8S_NODE_MODULES"])
        self.proc = subprocess.Popen(
            ["node", os.path.join(HERE, "fake-apiserver.js"), "--port", "0", "--token", TOKEN,
             "--cert", os.path.join(certs, "server.crt"), "--key",
             os.path.join(certs, "server.key"), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.proc.kill()
            raise RuntimeError("fake-apiserver did not start: %r %s" %
                               (line, self.proc.stderr.read()))
        self.port = int(line.split()[1])
        self.ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
        self.certs = certs

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode

    def conn(self, ctx=None, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx or self.ctx,
                                           timeout=timeout)

    def req(self, method, path, body=None, token=TOKEN, ctx=None):
        """-> (status, decoded body or text)."""
        c = self.conn(ctx)
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read().decode()
        c.close()
        if r.getheader("Content-Type", "").startswith("application/json"):
            return r.status, json.loads(raw)
        return r.status, raw

    def ctl(self, method, what, body=None):
        return self.req(method, "/_fake/" + what, body, token=None)

    def watch(self, path, rv=None, extra=""):
        return Watch(self, path, rv, extra)


class StreamBroken(Exception):
    pass


class Watch:
    """A watch stream read by a thread into a queue; None in the queue = the stream ended with
    its terminating chunk, a StreamBroken = it was cut. The chunked encoding is decoded here:
    http.client takes a stream cut mid-chunk for a clean end."""

    def __init__(self, fake, path, rv, extra):
        import socket
        q = "?watch=1" + ("&resourceVersion=%s" % rv if rv is not None else "") + extra
        raw = socket.create_connection(("127.0.0.1", fake.port), timeout=30)
        self.sock = fake.ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.sock.sendall(("GET %s%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Authorization: Bearer %s\r\n\r\n" % (path, q, TOKEN)).encode())
        self.f = self.sock.makefile("rb")
        status = self.f.readline().split()
        assert status[1] == b"200", status
        headers = {}
        while True:
            h = self.f.readline().strip()
            if not h:
                break
            k, _, v = h.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        assert headers.get("transfer-encoding") == "chunked", headers
        self.q = queue.Queue()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        buf = b""
        try:
            while True:
                size = self.f.readline()
                if not size.endswith(b"\r\n"):
                    raise StreamBroken("cut before a chunk size (%r)" % size)
                n = int(size.split(b";")[0], 16)
                data = self.f.read(n + 2)
                if len(data) != n + 2:
                    raise StreamBroken("cut inside a chunk")
                if n == 0:
                    self.q.put(None)
                    return
                buf += data[:-2]
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    self.q.put(json.loads(line))
        except Exception as e:  # noqa: BLE001 -- a broken stream is what some tests want
            self.q.put(e if isinstance(e, StreamBroken) else StreamBroken(repr(e)))

    def next(self, timeout=5):
        return self.q.get(timeout=timeout)

    def until(self, pred, timeout=10):
        """Events until pred(event) is true (included); fails on timeout or end."""
        out = []
        end = time.monotonic() + timeout
        while True:
            ev = self.next(max(0.01, end - time.monotonic()))
            if ev is None or isinstance(ev, Exception):
                raise AssertionError("watch ended (%r) after %r" % (ev, brief(out)))
            out.append(ev)
            if pred(ev):
                return out

    def close(self):
        try:
            self.sock.shutdown(2)
        except OSError:
            pass
        self.f.close()
        self.sock.close()


def brief(events):
    return [(e["type"], e["object"]["kind"] if "kind" in e["object"] else "?",
             e["object"]["metadata"].get("name"), phase(e["object"])) for e in events]


def phase(o):
    st = o.get("status") or {}
    if "phase" in st:
        return st["phase"]
    for c in st.get("conditions") or []:
        if c["type"] in ("Complete", "Failed") and c["status"] == "True":
            return c["type"] + "/" + c.get("reason", "")
    return "active" if st.get("active") else ""


def jobs_path(name=None):
    return "/apis/batch/v1/namespaces/%s/jobs" % NS + ("/" + name if name else "")


def pods_path(name=None):
    return "/api/v1/namespaces/%s/pods" % NS + ("/" + name if name else "")


def netpol_path(name=None):
    return ("/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies" % NS +
            ("/" + name if name else ""))


def vexxy_job(name, deadline=600, runtime_class="gvisor"):
    """A Job shaped like the one the vexxy Kubernetes backend sends for one analysis."""
    locked = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    labels = {"app.kubernetes.io/name": "vexxy-sandbox", "vexxy.dev/job-id": name[-36:]}
    spec = {
        "restartPolicy": "Never",
        "shareProcessNamespace": True,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"},
                            "runAsNonRoot": True, "runAsUser": 65534},
        "containers": [
            {"name": "target", "image": "registry.example/app@" + DIGEST,
             "command": ["/app/server"], "args": ["--port", "8080"],
             "env": [{"name": "MODE", "value": "test"}],
             "ports": [{"containerPort": 8080, "protocol": "TCP"}],
             "resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                           "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "1Gi"}},
             "securityContext": locked},
            {"name": "tracer", "image": "ghcr.example/vexxy/vexxy@" + DIGEST,
             "command": ["vexxy", "trace", "--json", "-o", "/profile/profile.json",
                         "--target-container", "target"],
             "securityContext": {"privileged": True, "runAsUser": 0, "runAsNonRoot": False},
             "volumeMounts": [{"name": "profile", "mountPath": "/profile"}],
             "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}},
            {"name": "test-script", "image": "ghcr.example/vexxy/tester@" + DIGEST,
             "command": ["/bin/sh", "/script/test.sh"],
             "env": [{"name": "TARGET_HOST", "value": "127.0.0.1"},
                     {"name": "TARGET_PORTS", "value": "8080"}],
             "volumeMounts": [{"name": "script", "mountPath": "/script", "readOnly": True}],
             "securityContext": locked},
        ],
        "volumes": [{"name": "profile", "emptyDir": {"sizeLimit": "64Mi"}},
                    {"name": "script", "configMap": {"name": name + "-script",
                                                     "defaultMode": 0o444}}],
    }
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": NS, "labels": labels,
                     "annotations": {"vexxy.dev/image": "registry.example/app@" + DIGEST}},
        "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 600,
                 "activeDeadlineSeconds": deadline,
                 "template": {"metadata": {"labels": labels}, "spec": spec}},
    }


def deny_egress(name, job_name, owner_uid=None):
    np = {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"podSelector": {"matchLabels": {"job-name": job_name}},
                 "policyTypes": ["Egress", "Ingress"], "egress": [], "ingress": []},
    }
    if owner_uid:
        np["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job",
                                              "name": job_name, "uid": owner_uid,
                                              "blockOwnerDeletion": True}]
    return np


class FakeApiServerTests(unittest.TestCase):
    certs = None
    fake = None
    n = 0

    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="vx-k8s-certs-")
        subprocess.run(["bash", os.path.join(HERE, "make-certs.sh"), cls.certs], check=True,
                       stdout=subprocess.DEVNULL)
        cls.fake = Fake(cls.certs, "--client-ca", os.path.join(cls.certs, "ca.crt"),
                        "--namespace", NS, "--namespace", "other")

    @classmethod
    def tearDownClass(cls):
        rc = cls.fake.stop()
        shutil.rmtree(cls.certs, ignore_errors=True)
        assert rc == 0, "fake-apiserver exited %s on SIGTERM" % rc

    def name(self, prefix="vx"):
        FakeApiServerTests.n += 1
        return "%s-%d-%d" % (prefix, os.getpid() % 10000, FakeApiServerTests.n)

    def create_job(self, name, **kw):
        st, body = self.fake.req("POST", jobs_path(), vexxy_job(name, **kw))
        self.assertEqual(st, 201, body)
        return body

    def assert_status(self, st, body, code, reason):
        self.assertEqual(st, code, body)
        self.assertEqual(body["kind"], "Status")
        self.assertEqual(body["apiVersion"], "v1")
        self.assertEqual(body["status"], "Failure")
        self.assertEqual(body["reason"], reason, body)
        self.assertEqual(body["code"], code)

    # --- auth ------------------------------------------------------------------------------

    def test_auth_401(self):
        for tok in (None, "wrong", TOKEN + "x"):
            st, body = self.fake.req("GET", jobs_path(), token=tok)
            self.assert_status(st, body, 401, "Unauthorized")
        st, body = self.fake.req("GET", jobs_path())
        self.assertEqual(st, 200)
        self.assertEqual(body["kind"], "JobList")

    def test_client_certificate(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        ctx.load_cert_chain(os.path.join(self.certs, "client.crt"),
                            os.path.join(self.certs, "client.key"))
        st, body = self.fake.req("GET", pods_path(), token=None, ctx=ctx)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["kind"], "PodList")

    def test_tls_verified(self):
        # the server's certificate does not verify against the system store
        c = http.client.HTTPSConnection("127.0.0.1", self.fake.port,
                                        context=ssl.create_default_context(), timeout=5)
        with self.assertRaises(ssl.SSLCertVerificationError):
            c.request("GET", jobs_path())
        c.close()

    def test_forbid_403(self):
        f = Fake(self.certs, "--forbid", "create:jobs", "--forbid", "get:pods/log",
                 "--forbid", "*:networkpolicies")
        try:
            st, body = f.req("POST", jobs_path(), vexxy_job(self.name()))
            self.assert_status(st, body, 403, "Forbidden")
            self.assertEqual(body["message"],
                             'jobs.batch is forbidden: User "system:serviceaccount:vexxy:'
                             'vexxy-worker" cannot create resource "jobs" in API group "batch" '
                             'in the namespace "vexxy-sandbox"')
            st, body = f.req("GET", jobs_path())  # list is allowed
            self.assertEqual(st, 200, body)
            st, body = f.req("GET", pods_path("p1") + "/log?container=x")
            self.assert_status(st, body, 403, "Forbidden")
            self.assertIn('pods "p1" is forbidden', body["message"])
            self.assertIn('cannot get resource "pods/log" in API group ""', body["message"])
            st, body = f.req("DELETE", netpol_path("np"))
            self.assert_status(st, body, 403, "Forbidden")
            self.assertIn("networkpolicies.networking.k8s.io", body["message"])
            st, _ = f.req("GET", "/api/v1/namespaces/%s/pods/x" % NS)
            self.assertEqual(st, 404)
            st, log = f.ctl("GET", "requests")
            self.assertEqual([r["status"] for r in log], [403, 200, 403, 403, 404])
        finally:
            self.assertEqual(f.stop(), 0)

    # --- validation ------------------------------------------------------------------------

    def test_valid_objects_accepted(self):
        name = self.name()
        job = self.create_job(name)
        self.assertEqual(job["metadata"]["namespace"], NS)
        self.assertTrue(job["metadata"]["uid"])
        self.assertRegex(job["metadata"]["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(job["metadata"]["resourceVersion"].isdigit())
        self.assertEqual(job["spec"]["backoffLimit"], 0)
        self.assertEqual(job["spec"]["template"]["metadata"]["labels"]["job-name"], name)
        st, np = self.fake.req("POST", netpol_path(), deny_egress(name + "-egress", name))
        self.assertEqual(st, 201, np)
        # without runtimeClassName too
        st, body = self.fake.req("POST", jobs_path(), vexxy_job(self.name(), runtime_class=None))
        self.assertEqual(st, 201, body)
        # generateName
        j = vexxy_job("")
        del j["metadata"]["name"]
        j["metadata"]["generateName"] = "vx-gen-"
        st, body = self.fake.req("POST", jobs_path(), j)
        self.assertEqual(st, 201, body)
        self.assertRegex(body["metadata"]["name"], r"^vx-gen-[a-z0-9]{5}$")

    def invalid(self, obj, path=None, *needles):
        st, body = self.fake.req("POST", path or jobs_path(), obj)
        self.assert_status(st, body, 422, "Invalid")
        for n in needles:
            self.assertIn(n, body["message"])
        self.assertTrue(body["details"]["causes"], body)
        return body

    def test_422_container_without_image(self):
        j = vexxy_job(self.name())
        del j["spec"]["template"]["spec"]["containers"][2]["image"]
        b = self.invalid(j, None, "spec.template.spec.containers[2].image: Required value")
        self.assertTrue(b["message"].startswith('Job.batch "vx-'), b["message"])
        self.assertEqual(b["details"]["kind"], "Job")

    def test_422_wrong_type(self):
        j = vexxy_job(self.name())
        j["spec"]["backoffLimit"] = "0"
        self.invalid(j, None, "spec.backoffLimit: must be integer")
        j = vexxy_job(self.name())
        j["spec"]["template"]["spec"]["shareProcessNamespace"] = "yes"
        self.invalid(j, None, "spec.template.spec.shareProcessNamespace: must be boolean")
        j = vexxy_job(self.name())
        j["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "lots"
        self.invalid(j, None, 'containers[0].resources.limits.memory: must match format "quantity"')

    def test_422_unknown_field(self):
        j = vexxy_job(self.name())
        j["spec"]["backoffLimits"] = 0
        self.invalid(j, None, 'strict decoding error: unknown field "spec.backoffLimits"')
        j = vexxy_job(self.name())
        j["spec"]["template"]["spec"]["containers"][1]["securityContext"]["priviledged"] = True
        self.invalid(j, None, 'unknown field "spec.template.spec.containers[1].securityContext.'
                              'priviledged"')
        j = vexxy_job(self.name())
        j["metadata"]["label"] = {"a": "b"}
        self.invalid(j, None, 'unknown field "metadata.label"')
        # a map's keys are free (labels), and are not taken for unknown fields
        j = vexxy_job(self.name())
        j["metadata"]["labels"]["anything.example/at-all"] = "x"
        self.create_job_obj(j)

    def create_job_obj(self, j):
        st, body = self.fake.req("POST", jobs_path(), j)
        self.assertEqual(st, 201, body)
        return body

    def test_422_others(self):
        j = vexxy_job(self.name())
        j["spec"]["template"]["spec"]["restartPolicy"] = "Always"
        self.invalid(j, None, 'restartPolicy: Unsupported value: "Always"')
        j = vexxy_job(self.name())
        j["spec"]["template"]["spec"]["containers"][0]["securityContext"]["seccompProfile"] = \
            {"type": "Whatever"}
        self.invalid(j, None, "seccompProfile.type: must be equal to one of the allowed values")
        j = vexxy_job("Bad_Name")
        self.invalid(j, None, 'metadata.name: Invalid value: "Bad_Name"')
        j = vexxy_job(self.name())
        del j["metadata"]["name"]
        self.invalid(j, None, "metadata.name: Required value")
        np = deny_egress(self.name(), "x")
        np["spec"]["policyTypes"] = ["Sideways"]
        self.invalid(np, netpol_path(), "spec.policyTypes[0]")
        np = deny_egress(self.name(), "x")
        np["spec"]["egress"] = [{"to": [{"ipBlock": {"cidr": 10}}]}]
        self.invalid(np, netpol_path(), "spec.egress[0].to[0].ipBlock.cidr: must be string")
        st, body = self.fake.req("POST", jobs_path(), "{not json")
        self.assert_status(st, body, 400, "BadRequest")
        st, body = self.fake.req("POST", jobs_path(), deny_egress("x", "y"))
        self.assert_status(st, body, 400, "BadRequest")

    def test_409_404(self):
        name = self.name()
        self.create_job(name)
        st, body = self.fake.req("POST", jobs_path(), vexxy_job(name))
        self.assert_status(st, body, 409, "AlreadyExists")
        self.assertEqual(body["message"], 'jobs.batch "%s" already exists' % name)
        st, body = self.fake.req("GET", jobs_path("nope"))
        self.assert_status(st, body, 404, "NotFound")
        self.assertEqual(body["message"], 'jobs.batch "nope" not found')
        st, body = self.fake.req("GET", "/apis/batch/v1/namespaces/nowhere/jobs")
        self.assert_status(st, body, 404, "NotFound")
        self.assertEqual(body["message"], 'namespaces "nowhere" not found')
        st, body = self.fake.req("GET", "/apis/batch/v1/namespaces/other/jobs")
        self.assertEqual(st, 200, body)
        st, body = self.fake.req("DELETE", pods_path("nope"))
        self.assert_status(st, body, 404, "NotFound")

    # --- lifecycle and watches -------------------------------------------------------------

    def run_job(self, name, script, **kw):
        """Creates the Job under a watch from the list's resourceVersion; returns the events
        of the Job and its pods until the Job finished, and the final Job."""
        st, lst = self.fake.req("GET", jobs_path())
        rv = lst["metadata"]["resourceVersion"]
        if script is not None:
            st, _ = self.fake.ctl("POST", "script", dict(script, match=name))
            self.assertEqual(st, 200)
        wj = self.fake.watch(jobs_path(), rv, "&labelSelector=job-name%3D" + name)
        wp = self.fake.watch(pods_path(), rv, "&labelSelector=job-name%3D" + name)
        try:
            self.create_job(name, **kw)
            jev = wj.until(lambda e: phase(e["object"]).startswith(("Complete", "Failed")),
                           timeout=15)
            pev = wp.until(lambda e: phase(e["object"]) in ("Succeeded", "Failed"), timeout=5)
        finally:
            wj.close()
            wp.close()
        return jev, pev, jev[-1]["object"]

    def test_lifecycle_succeeded(self):
        name = self.name()
        t0 = time.monotonic()
        jev, pev, job = self.run_job(name, {"run_ms": 300, "outcome": "succeeded",
                                            "logs": {"target": "a\nb\nc\n"}})
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)
        self.assertEqual([e["type"] for e in jev[:1]], ["ADDED"])
        self.assertEqual([phase(e["object"]) for e in pev], ["Pending", "Running", "Succeeded"])
        self.assertEqual([e["type"] for e in pev], ["ADDED", "MODIFIED", "MODIFIED"])
        self.assertIn("active", [phase(e["object"]) for e in jev])
        st = job["status"]
        self.assertEqual(st["succeeded"], 1)
        self.assertNotIn("active", st)
        self.assertIn({"type": "Complete", "status": "True"},
                      [{"type": c["type"], "status": c["status"]} for c in st["conditions"]])
        self.assertTrue(st["startTime"] and st["completionTime"])
        pod = pev[-1]["object"]
        self.assertRegex(pod["metadata"]["name"], "^%s-[a-z0-9]{5}$" % name)
        lab = pod["metadata"]["labels"]
        self.assertEqual(lab["job-name"], name)
        self.assertEqual(lab["controller-uid"], job["metadata"]["uid"])
        self.assertEqual(lab["app.kubernetes.io/name"], "vexxy-sandbox")
        ref = pod["metadata"]["ownerReferences"][0]
        self.assertEqual((ref["kind"], ref["name"], ref["uid"], ref["controller"]),
                         ("Job", name, job["metadata"]["uid"], True))
        self.assertTrue(pod["spec"]["shareProcessNamespace"])
        self.assertEqual([c["name"] for c in pod["spec"]["containers"]],
                         ["target", "tracer", "test-script"])
        term = {c["name"]: c["state"]["terminated"] for c in pod["status"]["containerStatuses"]}
        self.assertEqual(term["target"]["exitCode"], 0)
        self.assertEqual(term["target"]["reason"], "Completed")
        # resourceVersions strictly increase over the stream
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in jev]
        self.assertEqual(rvs, sorted(set(rvs)))
        # logs
        pn = pod["metadata"]["name"]
        st, text = self.fake.req("GET", pods_path(pn) + "/log?container=target")
        self.assertEqual((st, text), (200, "a\nb\nc\n"))
        st, text = self.fake.req("GET", pods_path(pn) + "/log?container=target&tailLines=2")
        self.assertEqual((st, text), (200, "b\nc\n"))
        st, text = self.fake.req("GET", pods_path(pn) + "/log?container=target&limitBytes=3")
        self.assertEqual((st, text), (200, "a\nb"))
        st, text = self.fake.req("GET", pods_path(pn) + "/log?container=tracer")
        self.assertEqual((st, text), (200, ""))
        st, body = self.fake.req("GET", pods_path(pn) + "/log?container=nope")
        self.assert_status(st, body, 400, "BadRequest")
        self.assertEqual(body["message"], "container nope is not valid for pod " + pn)
        st, body = self.fake.req("GET", pods_path(pn) + "/log")
        self.assert_status(st, body, 400, "BadRequest")
        self.assertIn("choose one of: [target tracer test-script]", body["message"])
        st, body = self.fake.req("GET", pods_path("gone-xxxxx") + "/log?container=target")
        self.assert_status(st, body, 404, "NotFound")

    def test_lifecycle_failed(self):
        name = self.name()
        _, pev, job = self.run_job(name, {"run_ms": 100, "outcome": "failed", "exit_code": 3,
                                          "exit_codes": {"tracer": 0}})
        self.assertEqual(job["status"]["failed"], 1)
        cond = [c for c in job["status"]["conditions"] if c["type"] == "Failed"][0]
        self.assertEqual((cond["status"], cond["reason"]), ("True", "BackoffLimitExceeded"))
        pod = pev[-1]["object"]
        self.assertEqual(pod["status"]["phase"], "Failed")
        term = {c["name"]: c["state"]["terminated"] for c in pod["status"]["containerStatuses"]}
        self.assertEqual((term["target"]["exitCode"], term["target"]["reason"]), (3, "Error"))
        self.assertEqual(term["tracer"]["exitCode"], 0)

    def test_lifecycle_deadline_exceeded(self):
        name = self.name()
        t0 = time.monotonic()
        _, pev, job = self.run_job(name, {"run_ms": 20000}, deadline=1)
        took = time.monotonic() - t0
        self.assertTrue(0.9 < took < 5, took)
        cond = [c for c in job["status"]["conditions"] if c["type"] == "Failed"][0]
        self.assertEqual(cond["reason"], "DeadlineExceeded")
        self.assertEqual(pev[-1]["object"]["status"]["reason"], "DeadlineExceeded")

    def test_default_script_and_ttl(self):
        name = self.name()
        j = vexxy_job(name)
        j["spec"]["ttlSecondsAfterFinished"] = 0
        st, lst = self.fake.req("GET", jobs_path())
        w = self.fake.watch(jobs_path(), lst["metadata"]["resourceVersion"],
                            "&fieldSelector=metadata.name%3D" + name)
        try:
            self.create_job_obj(j)
            evs = w.until(lambda e: e["type"] == "DELETED", timeout=5)
        finally:
            w.close()
        self.assertTrue(any(phase(e["object"]) == "Complete/CompletionsReached" for e in evs),
                        brief(evs))
        # Background: the pod goes too
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            _, pods = self.fake.req("GET", pods_path() + "?labelSelector=job-name%3D" + name)
            if not pods["items"]:
                break
            time.sleep(0.05)
        self.assertEqual(pods["items"], [])

    def test_watch_resource_version(self):
        name = self.name()
        self.create_job(name)
        st, lst = self.fake.req("GET", jobs_path() + "?labelSelector=job-name%3D" + name)
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], [name])
        self.assertNotIn("kind", lst["items"][0])
        rv = int(lst["metadata"]["resourceVersion"])
        # no resourceVersion: the current state as ADDED events first
        w = self.fake.watch(jobs_path(), None, "&labelSelector=job-name%3D" + name)
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", name))
        w.close()
        # from the list's resourceVersion: only what changed after it
        name2 = self.name()
        self.create_job(name2)
        w = self.fake.watch(jobs_path(), rv)
        evs = w.until(lambda e: e["object"]["metadata"]["name"] == name2)
        self.assertEqual(evs[-1]["type"], "ADDED")
        self.assertTrue(all(int(e["object"]["metadata"]["resourceVersion"]) > rv for e in evs))
        w.close()
        # timeoutSeconds ends the stream cleanly
        w = self.fake.watch(jobs_path(), self.current_rv(), "&timeoutSeconds=1&labelSelector=x%3Dy")
        self.assertIsNone(w.next(timeout=5))

    def current_rv(self):
        return self.fake.req("GET", jobs_path())[1]["metadata"]["resourceVersion"]

    def test_watch_410_expired(self):
        f = Fake(self.certs, "--watch-window", "5")
        try:
            st, lst = f.req("GET", jobs_path())
            old = lst["metadata"]["resourceVersion"]
            for i in range(4):
                st, _ = f.req("POST", netpol_path(), deny_egress("np-%d" % i, "x"))
                self.assertEqual(st, 201)
            w = f.watch(netpol_path(), old)  # still in the window
            self.assertEqual(w.next()["type"], "ADDED")
            w.close()
            for i in range(4, 8):
                f.req("POST", netpol_path(), deny_egress("np-%d" % i, "x"))
            w = f.watch(netpol_path(), old)
            ev = w.next()
            self.assertEqual(ev["type"], "ERROR")
            self.assertEqual((ev["object"]["kind"], ev["object"]["code"], ev["object"]["reason"]),
                             ("Status", 410, "Expired"))
            self.assertIn("too old resource version: %s" % old, ev["object"]["message"])
            self.assertIsNone(w.next())  # then the server closes the stream
            w.close()
        finally:
            f.stop()

    def test_drop_watches(self):
        name = self.name()
        w = self.fake.watch(jobs_path(), self.current_rv(), "&labelSelector=job-name%3D" + name)
        self.create_job(name)
        ev = w.next()
        last_rv = ev["object"]["metadata"]["resourceVersion"]
        time.sleep(0.02)
        st, body = self.fake.ctl("POST", "drop-watches")
        self.assertEqual(st, 200)
        self.assertGreaterEqual(body["dropped"], 1)
        end = w.next()
        while isinstance(end, dict):  # events already on the way
            last_rv = end["object"]["metadata"]["resourceVersion"]
            end = w.next()
        self.assertIsInstance(end, StreamBroken, "expected a broken stream, got %r" % end)
        w.close()
        # a resumed watch from the last seen resourceVersion misses nothing
        w = self.fake.watch(jobs_path(), last_rv, "&labelSelector=job-name%3D" + name)
        evs = w.until(lambda e: phase(e["object"]).startswith("Complete"))
        self.assertTrue(all(int(e["object"]["metadata"]["resourceVersion"]) > int(last_rv)
                            for e in evs))
        w.close()

    # --- deletion --------------------------------------------------------------------------

    def test_delete_foreground(self):
        name = self.name()
        self.fake.ctl("POST", "script", {"match": name, "run_ms": 60000})
        job = self.create_job(name)
        st, np = self.fake.req("POST", netpol_path(),
                               deny_egress(name + "-egress", name, job["metadata"]["uid"]))
        self.assertEqual(st, 201, np)
        # wait for the pod to be running
        w = self.fake.watch(pods_path(), self.current_rv(), "&labelSelector=job-name%3D" + name)
        w.until(lambda e: phase(e["object"]) == "Running")
        rv = self.current_rv()
        w.close()
        wj = self.fake.watch(jobs_path(), rv)
        wp = self.fake.watch(pods_path(), rv)
        st, body = self.fake.req("DELETE", jobs_path(name),
                                 {"kind": "DeleteOptions", "apiVersion": "v1",
                                  "propagationPolicy": "Foreground"})
        self.assertEqual(st, 200, body)
        self.assertIn("foregroundDeletion", body["metadata"]["finalizers"])
        self.assertTrue(body["metadata"]["deletionTimestamp"])
        jev = wj.until(lambda e: e["type"] == "DELETED")
        pev = wp.until(lambda e: e["type"] == "DELETED")
        wj.close()
        wp.close()
        self.assertEqual(jev[0]["type"], "MODIFIED")
        self.assertIn("foregroundDeletion", jev[0]["object"]["metadata"]["finalizers"])
        # the pod was gone before the Job
        self.assertLess(int(pev[-1]["object"]["metadata"]["resourceVersion"]),
                        int(jev[-1]["object"]["metadata"]["resourceVersion"]))
        _, objs = self.fake.ctl("GET", "objects")
        left = [o["metadata"]["name"] for k in objs for o in objs[k]
                if o["metadata"]["name"].startswith(name)]
        self.assertEqual(left, [])
        st, body = self.fake.req("GET", jobs_path(name))
        self.assertEqual(st, 404)

    def test_delete_background_and_orphan(self):
        name = self.name()
        self.fake.ctl("POST", "script", {"match": name, "run_ms": 60000})
        self.create_job(name)
        w = self.fake.watch(pods_path(), self.current_rv(), "&labelSelector=job-name%3D" + name)
        pod = w.until(lambda e: phase(e["object"]) == "Running")[-1]["object"]
        # query-string policy, Background: the Job goes at once, the pod right after
        st, body = self.fake.req("DELETE", jobs_path(name) + "?propagationPolicy=Background")
        self.assertEqual((st, body["status"]), (200, "Success"))
        w.until(lambda e: e["type"] == "DELETED")
        w.close()
        # no policy on a Job: orphaned, like the real batch/v1 API
        name = self.name()
        self.fake.ctl("POST", "script", {"match": name, "run_ms": 60000})
        self.create_job(name)
        w = self.fake.watch(pods_path(), self.current_rv(), "&labelSelector=job-name%3D" + name)
        pod = w.until(lambda e: phase(e["object"]) == "Running")[-1]["object"]
        w.close()
        st, body = self.fake.req("DELETE", jobs_path(name))
        self.assertEqual(st, 200, body)
        st, p = self.fake.req("GET", pods_path(pod["metadata"]["name"]))
        self.assertEqual(st, 200)
        self.assertNotIn("ownerReferences", p["metadata"])
        st, body = self.fake.req("DELETE", pods_path(pod["metadata"]["name"]))
        self.assertEqual(st, 200)
        st, body = self.fake.req("DELETE", jobs_path(name), {"propagationPolicy": "Sometimes"})
        self.assert_status(st, body, 422, "Invalid")

    # --- control endpoints -----------------------------------------------------------------

    def test_fail_next_and_request_log(self):
        self.fake.ctl("POST", "fail-next", {"verb": "create", "resource": "jobs", "code": 403,
                                            "reason": "Forbidden",
                                            "message": "exceeded quota: sandbox, requested: "
                                                       "limits.cpu=1, used: limits.cpu=4, "
                                                       "limited: limits.cpu=4"})
        self.fake.ctl("POST", "fail-next", {"verb": "get", "resource": "jobs", "code": 503,
                                            "reason": "ServiceUnavailable", "count": 2})
        name = self.name()
        st, body = self.fake.req("POST", jobs_path(), vexxy_job(name))
        self.assert_status(st, body, 403, "Forbidden")
        self.assertIn("exceeded quota", body["message"])
        self.create_job(name)  # once only
        for _ in range(2):
            st, body = self.fake.req("GET", jobs_path(name))
            self.assert_status(st, body, 503, "ServiceUnavailable")
        st, body = self.fake.req("GET", jobs_path(name) + "?pretty=false")
        self.assertEqual(st, 200)
        st, log = self.fake.ctl("GET", "requests")
        self.assertEqual(st, 200)
        mine = [r for r in log if name in r["path"] or
                (isinstance(r["body"], dict) and r["body"].get("metadata", {}).get("name") == name)]
        self.assertEqual([(r["method"], r["status"]) for r in mine],
                         [("POST", 403), ("POST", 201), ("GET", 503), ("GET", 503),
                          ("GET", 200)])
        self.assertEqual(mine[0]["path"], jobs_path())
        self.assertEqual(mine[1]["body"]["spec"]["backoffLimit"], 0)
        self.assertEqual(mine[-1]["query"], "pretty=false")
        st, objs = self.fake.ctl("GET", "objects")
        self.assertEqual(sorted(objs), ["jobs", "networkpolicies", "pods"])
        self.assertIn(name, [o["metadata"]["name"] for o in objs["jobs"]])
        self.assertTrue(all("_fake" not in o["metadata"] for o in objs["pods"]))


def main():
    load_env()
    for tool in ("node", "openssl"):
        if not shutil.which(tool):
            print("skip: %s not found" % tool)
            return 77
    nm = ENV.get("K8S_NODE_MODULES", "")
    if not nm or not os.path.exists(os.path.join(nm, "kubernetes-models", "package.json")):
        print("skip: npm package kubernetes-models not installed (the k8s fixture, "
              "tests/k8s/setup.sh, did not run or could not reach the npm registry)")
        return 77
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(FakeApiServerTests)
    res = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(res.failures) + len(res.errors)
    print("%d passed, %d failed" % (res.testsRun - failed - len(res.skipped), failed))
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
