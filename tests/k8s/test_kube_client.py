#!/usr/bin/env python3
"""test_kube_client.py -- src/kube (the Kubernetes REST client) against the fake API server
(fake-apiserver.js) over HTTPS, driven through the kube_client_check tool.

Checks: create a Job and watch it to Complete; list with a labelSelector; logs (whole, and
capped keeping the end); Foreground delete (Job and pods gone; a second delete is a success);
401 -> E_UNAUTHORIZED; 403 -> E_FORBIDDEN and E_QUOTA; 409; 422 with the validator's message;
503 twice then success (and 503 past the retries -> E_UNAVAILABLE); dropped watch connections
resumed from the last resourceVersion; 410 -> re-list and watch on; cancel via should_stop
within 300 ms; watch timeout; a CA that did not sign the server's certificate -> TLS error;
client certificate and CA given as -data (no token).

Needs node and the npm package of tests/k8s/setup.sh: $K8S_NODE_MODULES, or the env file the
`k8s` fixture writes ($VX_K8S_ENV). Skips (77) without them. Standard library only.
"""
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "t0ken-for-tests"
NS = "vexxy-sandbox"
FAILURES = []


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(77)


def check(cond, what, detail=None):
    if cond:
        print(f"ok   {what}")
    else:
        print(f"FAIL {what}" + (f": {detail}" if detail is not None else ""))
        FAILURES.append(what)
    return cond


def node_modules():
    nm = os.environ.get("K8S_NODE_MODULES")
    envf = os.environ.get("VX_K8S_ENV")
    if not nm and envf and os.path.exists(envf):
        for line in open(envf):
            if line.startswith("K8S_NODE_MODULES="):
                nm = line.strip().split("=", 1)[1]
    if not nm or not os.path.isdir(os.path.join(nm, "kubernetes-models")):
        skip("kubernetes-models not installed (the 'k8s' fixture: tests/k8s/setup.sh)")
    return nm


class Fake:
    """One fake-apiserver.js process over HTTPS."""

    def __init__(self, certs, nm, *extra):
        self.certs = certs
        args = ["node", os.path.join(HERE, "fake-apiserver.js"), "--port", "0", "--token", TOKEN,
                "--cert", f"{certs}/server.crt", "--key", f"{certs}/server.key",
                "--node-modules", nm, *extra]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        line = [None]
        t = threading.Thread(target=lambda: line.__setitem__(0, self.p.stdout.readline()))
        t.start()
        t.join(30)
        if not line[0] or not line[0].startswith("listening "):
            self.stop()
            raise RuntimeError(f"fake-apiserver did not start: {line[0]!r}")
        self.port = int(line[0].split()[1])
        self.url = f"https://127.0.0.1:{self.port}"
        self.ctx = ssl.create_default_context(cafile=f"{certs}/ca.crt")

    def ctl(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def requests(self):
        r = self.ctl("GET", "/_fake/requests")
        return r["requests"] if isinstance(r, dict) else r

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Client:
    def __init__(self, tool, tmp):
        self.tool = tool
        self.tmp = tmp
        self.n = 0

    def kubeconfig(self, fake, token=TOKEN, certs=None):
        out = subprocess.run([os.path.join(HERE, "make-certs.sh"), "kubeconfig",
                              certs or fake.certs, fake.url, token, NS],
                             check=True, capture_output=True, text=True).stdout
        self.n += 1
        path = os.path.join(self.tmp, f"kubeconfig{self.n}")
        with open(path, "w") as f:
            f.write(out)
        return path

    def run(self, kc, *args, retries=None, backoff=None, obj=None, background=False):
        argv = [self.tool, "-k", kc]
        if retries is not None:
            argv += ["-r", str(retries)]
        if backoff is not None:
            argv += ["-b", str(backoff)]
        args = list(args)
        if obj is not None:
            self.n += 1
            path = os.path.join(self.tmp, f"obj{self.n}.json")
            with open(path, "w") as f:
                json.dump(obj, f)
            args.append(path)
        p = subprocess.Popen(argv + args, stdout=subprocess.PIPE, text=True)
        if background:
            return p
        return self.result(p)

    @staticmethod
    def result(p, timeout=60):
        out, _ = p.communicate(timeout=timeout)
        if p.returncode != 0:  # a usage error, or a sanitizer's report (leaks in the Asan build)
            check(False, f"kube_client_check exits 0 ({p.args[3:]})", p.returncode)
        try:
            return json.loads(out)
        except ValueError:
            return {"rc": None, "code": "BAD_OUTPUT", "msg": out, "exit": p.returncode}


def job(name, labels=None, **spec):
    s = {"backoffLimit": 0, "ttlSecondsAfterFinished": 600,
         "template": {"metadata": {"labels": {"app": "vexxy-test"}},
                      "spec": {"restartPolicy": "Never",
                               "containers": [{"name": "main", "image": "registry.example/tiny:1",
                                               "command": ["/bin/true"]}]}}}
    s.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": {"vexxy.dev/job": name, **(labels or {})}},
            "spec": s}


def wait_for(fn, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.05)
    return False


def watch_requests(fake, name_hint=None):
    out = []
    for r in fake.requests():
        q = r.get("query") or ""
        if isinstance(q, dict):
            q = "&".join(f"{k}={v}" for k, v in q.items())
        if r.get("method") == "GET" and r.get("path", "").endswith("/jobs") and "watch=" in q:
            out.append(q)
    return out


def rv_of(q):
    for part in q.split("&"):
        if part.startswith("resourceVersion="):
            return int(part.split("=", 1)[1])
    return None


def main():
    tool = os.environ.get("VX_KUBE_CLIENT_CHECK")
    if not tool or not os.access(tool, os.X_OK):
        skip("VX_KUBE_CLIENT_CHECK does not name the kube_client_check binary")
    if not shutil.which("node") or not shutil.which("openssl"):
        skip("node or openssl not found")
    nm = node_modules()
    tmp = tempfile.mkdtemp(prefix="vx_kube_client.")
    fakes = []
    try:
        certs, other = os.path.join(tmp, "certs"), os.path.join(tmp, "other-ca")
        for d in (certs, other):
            subprocess.run([os.path.join(HERE, "make-certs.sh"), d], check=True,
                           capture_output=True)
        fake = Fake(certs, nm, "--client-ca", f"{certs}/ca.crt",
                    "--forbid", "create:networkpolicies")
        fakes.append(fake)
        small = Fake(certs, nm, "--watch-window", "3")  # resourceVersions expire quickly
        fakes.append(small)
        c = Client(tool, tmp)
        kc = c.kubeconfig(fake)
        run_tests(c, fake, small, kc, certs, other)
    finally:
        for f in fakes:
            f.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed: {', '.join(FAILURES)}")
        sys.exit(1)
    print("all checks passed")


def run_tests(c, fake, small, kc, certs, other):
    B = "apis/batch/v1"
    logs = "".join(f"line {i}\n" for i in range(200))
    fake.ctl("POST", "/_fake/script", {"match": "j1", "run_ms": 300, "outcome": "succeeded",
                                       "exit_code": 0, "logs": {"main": logs}})

    # create + watch to Complete
    r = c.run(kc, "create", B, "jobs", obj=job("j1"))
    check(r["rc"] == 0 and r["out"]["metadata"]["name"] == "j1", "create job", r)
    rv = r["out"]["metadata"].get("resourceVersion", "") if r["rc"] == 0 else ""
    r = c.run(kc, "watch-job", "j1", rv, "10000")
    check(r["rc"] == 0 and r.get("final") == "Complete", "watch until Complete", r)

    # list with labelSelector
    c.run(kc, "create", B, "jobs", obj=job("j2", {"other": "yes"}))
    r = c.run(kc, "list", B, "jobs", "vexxy.dev/job=j1")
    names = [i["metadata"]["name"] for i in (r.get("out") or {}).get("items", [])]
    check(r["rc"] == 0 and names == ["j1"], "list with labelSelector", r if r["rc"] else names)
    r = c.run(kc, "list", B, "jobs")
    names = sorted(i["metadata"]["name"] for i in (r.get("out") or {}).get("items", []))
    check(r["rc"] == 0 and names == ["j1", "j2"], "list without selector", names)

    # logs of the job's pod
    r = c.run(kc, "list", "api/v1", "pods", "job-name=j1")
    pods = [i["metadata"]["name"] for i in (r.get("out") or {}).get("items", [])]
    check(len(pods) == 1, "the job's pod is listed by job-name", r)
    if pods:
        r = c.run(kc, "logs", pods[0], "main", "1000000")
        check(r["rc"] == 0 and r["out"] == logs, "logs: the whole text", r["msg"])
        r = c.run(kc, "logs", pods[0], "main", "100")
        check(r["rc"] == 0 and r["out"] == logs[-100:], "logs: capped, the end kept", r)
        r = c.run(kc, "logs", pods[0], "nope", "100")
        check(r["code"] == "E_INVALID" and "nope" in r["msg"], "logs: unknown container", r)
    r = c.run(kc, "logs", "no-such-pod", "main", "100")
    check(r["code"] == "E_NOT_FOUND" and "no-such-pod" in r["msg"], "logs: no pod -> 404", r)

    # Foreground delete
    r = c.run(kc, "delete", B, "jobs", "j1", "Foreground")
    check(r["rc"] == 0, "foreground delete", r)
    gone = wait_for(lambda: c.run(kc, "get", B, "jobs", "j1")["code"] == "E_NOT_FOUND")
    check(gone, "job gone after foreground delete")
    r = c.run(kc, "list", "api/v1", "pods", "job-name=j1")
    check(r["rc"] == 0 and not r["out"]["items"], "its pods gone too", r)
    dels = [q for q in fake.requests() if q.get("method") == "DELETE"]
    body = dels[-1].get("body") if dels else None
    body = json.loads(body) if isinstance(body, str) and body else body
    check(isinstance(body, dict) and body.get("propagationPolicy") == "Foreground",
          "DeleteOptions sent with propagationPolicy", body)
    r = c.run(kc, "delete", B, "jobs", "j1", "Foreground")
    check(r["rc"] == 0, "deleting a gone job is a success", r)
    r = c.run(kc, "get", B, "jobs", "j1")
    check(r["code"] == "E_NOT_FOUND" and "'j1'" in r["msg"], "get: 404 names the object", r)

    # 401, 403, quota, 409, 422
    r = c.run(c.kubeconfig(fake, token="wrong"), "list", B, "jobs")
    check(r["code"] == "E_UNAUTHORIZED", "wrong token -> E_UNAUTHORIZED", r)
    np = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
          "metadata": {"name": "deny-egress"},
          "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}
    r = c.run(kc, "create", "apis/networking.k8s.io/v1", "networkpolicies", obj=np)
    check(r["code"] == "E_FORBIDDEN" and "cannot create resource" in r["msg"]
          and "'deny-egress'" in r["msg"], "403 -> E_FORBIDDEN, message kept, object named", r)
    fake.ctl("POST", "/_fake/fail-next", {"verb": "create", "resource": "jobs", "code": 403,
                                          "reason": "Forbidden",
                                          "message": "jobs.batch \"q1\" is forbidden: exceeded "
                                                     "quota: compute, requested: cpu=2"})
    r = c.run(kc, "create", B, "jobs", obj=job("q1"))
    check(r["code"] == "E_QUOTA" and "exceeded quota: compute" in r["msg"], "quota -> E_QUOTA", r)
    r = c.run(kc, "create", B, "jobs", obj=job("j2"))
    check(r["code"] == "E_CONFLICT" and "already exists" in r["msg"], "409 -> E_CONFLICT", r)
    r = c.run(kc, "create", B, "jobs", obj=job("bad1", backoffLimit="zero"))
    check(r["code"] == "E_UNPROCESSABLE" and "backoffLimit" in r["msg"],
          "422 -> E_UNPROCESSABLE with the validator's message", r)
    r = c.run(kc, "create", B, "jobs", obj=job("bad2", surprise=1))
    check(r["code"] == "E_UNPROCESSABLE" and "surprise" in r["msg"], "422 on an unknown field", r)

    # 503 twice, then success; and past the retries
    before = len(fake.requests())
    fake.ctl("POST", "/_fake/fail-next", {"verb": "create", "resource": "jobs", "code": 503,
                                          "reason": "ServiceUnavailable", "message": "busy",
                                          "count": 2})
    r = c.run(kc, "create", B, "jobs", obj=job("j3"), retries=4, backoff=50)
    posts = [q for q in fake.requests()[before:] if q.get("method") == "POST"]
    check(r["rc"] == 0 and [q.get("status") for q in posts] == [503, 503, 201],
          "503 twice then success", (r, [q.get("status") for q in posts]))
    fake.ctl("POST", "/_fake/fail-next", {"verb": "get", "resource": "jobs", "code": 503,
                                          "reason": "ServiceUnavailable", "message": "busy",
                                          "count": 10})
    r = c.run(kc, "get", B, "jobs", "j3", retries=2, backoff=20)
    check(r["code"] == "E_UNAVAILABLE" and "after 3 attempts" in r["msg"],
          "503 past the retries -> E_UNAVAILABLE", r)

    # a dropped watch is resumed from the last resourceVersion and still sees completion
    fake.ctl("POST", "/_fake/script", {"match": "j4", "run_ms": 1500})
    r = c.run(kc, "create", B, "jobs", obj=job("j4"))
    rv = r["out"]["metadata"]["resourceVersion"] if r["rc"] == 0 else ""
    nwatch = len(watch_requests(fake))
    p = c.run(kc, "watch-job", "j4", rv, "15000", background=True)
    time.sleep(0.8)  # the pod is Running by now: some events were seen
    dropped = fake.ctl("POST", "/_fake/drop-watches", {})
    r = c.result(p)
    ws = watch_requests(fake)[nwatch:]
    rvs = [rv_of(q) for q in ws]
    check(r["rc"] == 0 and r.get("final") == "Complete", "dropped watch: still sees Complete",
          (r, dropped))
    check(len(ws) >= 2 and rvs[1] is not None and rvs[1] > rvs[0],
          "dropped watch resumed from a later resourceVersion", ws)
    print(f"     dropped {dropped}; watch requests: {ws}")

    # 410 Gone -> re-list and watch on (the small server keeps 3 events)
    ks = c.kubeconfig(small)
    small.ctl("POST", "/_fake/script", {"match": "g", "run_ms": 800})
    r = c.run(ks, "create", B, "jobs", obj=job("g1"))
    check(r["rc"] == 0, "create on the small-window server", r)
    # pod created and running: the window moves past resourceVersion 1
    check(wait_for(lambda: int(small.ctl("GET", "/_fake/watches")["oldest"]) > 1),
          "the small server's window moved on")
    r = c.run(ks, "watch-job", "g1", "1", "10000")
    lists = [q for q in small.requests() if q.get("method") == "GET"
             and q.get("path", "").endswith("/jobs") and "watch" not in str(q.get("query"))]
    check(r["rc"] == 0 and r.get("final") == "Complete" and "ADDED g1" in r["events"],
          "410 -> re-list (items as ADDED) and watch on to Complete", r)
    check(len(lists) >= 1, "the re-list was a plain list request", lists)
    print(f"     small server requests: "
          f"{[(q['method'], q['query'], q['status']) for q in small.requests()]}")

    # cancel and timeout
    fake.ctl("POST", "/_fake/script", {"match": "j6", "run_ms": 30000})
    r = c.run(kc, "create", B, "jobs", obj=job("j6"))
    rv = r["out"]["metadata"]["resourceVersion"] if r["rc"] == 0 else ""
    r = c.run(kc, "watch-job", "j6", rv, "20000", "500")
    check(r["code"] == "E_CANCELLED" and r.get("stop_to_return_ms", 9999) < 300,
          "should_stop -> E_CANCELLED within 300 ms", r)
    print(f"     stop to return: {r.get('stop_to_return_ms')} ms")
    r = c.run(kc, "watch-job", "j6", rv, "400")
    check(r["code"] == "E_TIMEOUT" and r["elapsed_ms"] < 1500, "watch timeout -> E_TIMEOUT", r)

    # TLS: a CA that did not sign the server's certificate
    r = c.run(c.kubeconfig(fake, certs=other), "list", B, "jobs")
    check(r["code"] == "E_NETWORK" and "tls" in r["msg"], "CA mismatch -> TLS error", r)

    # client certificate, key and CA as -data (no token, nothing on disk)
    b64 = lambda f: __import__("base64").b64encode(open(f"{certs}/{f}", "rb").read()).decode()
    kcd = os.path.join(c.tmp, "kubeconfig-data")
    with open(kcd, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
current-context: data
clusters:
- name: fake
  cluster:
    server: {fake.url}
    certificate-authority-data: {b64('ca.crt')}
users:
- name: cert
  user:
    client-certificate-data: {b64('client.crt')}
    client-key-data: {b64('client.key')}
contexts:
- name: data
  context: {{cluster: fake, user: cert, namespace: {NS}}}
""")
    r = c.run(kcd, "list", B, "jobs")
    check(r["rc"] == 0, "client certificate + CA from -data fields", r)

    # clean up: nothing left behind
    for n in ("j2", "j3", "j4", "j6"):
        c.run(kc, "delete", B, "jobs", n, "Foreground")

    def empty():
        objs = fake.ctl("GET", "/_fake/objects")
        return all(not v for v in (objs.get("objects", objs) or {}).values()
                   if isinstance(v, (list, dict)))
    check(wait_for(empty), "nothing left on the server", fake.ctl("GET", "/_fake/objects"))


if __name__ == "__main__":
    main()
