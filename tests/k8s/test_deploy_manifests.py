#!/usr/bin/python3
"""test_deploy_manifests.py DEPLOY_DIR -- every Kubernetes manifest in deploy/ (*.yaml, *.yml,
recursively) is checked twice:

1. against the official Kubernetes OpenAPI schemas, with the validation code of the fake API
   server (tests/k8s/validate-manifests.js -> k8s-schema.js: the npm package kubernetes-models,
   unknown fields rejected);
2. by `kubectl apply --dry-run=client --validate=false -f FILE`. kubectl needs an API server
   for discovery even in client dry-run, so it is pointed (explicit --kubeconfig, never a
   default one) at fake-apiserver.js, which answers discovery and 404 for every object; the
   test also checks kubectl sent no write.

Environment: K8S_ENV_FILE (the `k8s` fixture). Exits 77 (skip) with a message when kubectl or
the npm packages are missing, after running the part that can run. Standard library only.
"""
import glob
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def node_modules():
    path = os.environ.get("K8S_ENV_FILE", "")
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k == "K8S_NODE_MODULES":
                    return v
    return os.environ.get("K8S_NODE_MODULES", "")


def manifests(deploy):
    files = []
    for ext in ("yaml", "yml"):
        files += glob.glob(os.path.join(deploy, "**", "*." + ext), recursive=True)
    return sorted(files)


def schema_check(files, nm):
    p = subprocess.run(["node", os.path.join(HERE, "validate-manifests.js"), *files],
                       env=dict(os.environ, K8S_NODE_MODULES=nm), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    print(p.stdout, end="")
    ok = sum(1 for l in p.stdout.splitlines() if l.startswith("ok "))
    bad = sum(1 for l in p.stdout.splitlines() if l.startswith("FAIL "))
    if p.returncode != 0 and bad == 0:
        bad = 1
    return ok, bad


def kubectl_check(files, nm, deploy):
    tmp = tempfile.mkdtemp(prefix="vx-k8s-kubectl-")
    fake = None
    try:
        subprocess.run(["bash", os.path.join(HERE, "make-certs.sh"), tmp], check=True,
                       stdout=subprocess.DEVNULL)
        token = "deploy-manifests-token"
        fake = subprocess.Popen(
            ["node", os.path.join(HERE, "fake-apiserver.js"), "--port", "0", "--token", token,
             "--cert", os.path.join(tmp, "server.crt"), "--key", os.path.join(tmp, "server.key")],
            stdout=subprocess.PIPE, text=True, env=dict(os.environ, K8S_NODE_MODULES=nm))
        line = fake.stdout.readline()
        if not line.startswith("listening "):
            print("FAIL fake-apiserver did not start: %r" % line)
            return 0, 1
        port = int(line.split()[1])
        kc = os.path.join(tmp, "kubeconfig")
        with open(kc, "w", encoding="utf-8") as f:
            f.write(subprocess.run(["bash", os.path.join(HERE, "make-certs.sh"), "kubeconfig", tmp,
                                    "https://127.0.0.1:%d" % port, token], check=True,
                                   stdout=subprocess.PIPE, text=True).stdout)
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["HOME"] = tmp  # kubectl's discovery cache goes here, not to the real home
        ok = bad = 0
        for f in files:
            p = subprocess.run(["kubectl", "--kubeconfig", kc, "apply", "--dry-run=client",
                                "--validate=false", "-f", f], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=120)
            lines = [l for l in p.stdout.splitlines() if l.strip()]
            rel = os.path.relpath(f, os.path.dirname(deploy))
            if p.returncode == 0 and lines and all(l.endswith("(dry run)") for l in lines):
                print("ok   kubectl apply --dry-run=client %s: %d object(s)" % (rel, len(lines)))
                ok += 1
            else:
                print("FAIL kubectl apply --dry-run=client %s (exit %d):\n%s" %
                      (rel, p.returncode, p.stdout))
                bad += 1
        ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.crt"))
        with urllib.request.urlopen("https://127.0.0.1:%d/_fake/requests" % port,
                                    context=ctx) as r:
            reqs = json.load(r)
        writes = [(r["method"], r["path"]) for r in reqs if r["method"] != "GET"]
        if writes:
            print("FAIL kubectl wrote to the API server in a client dry run: %s" % writes)
            bad += 1
        print("kubectl made %d request(s) to the fake API server, all reads" % len(reqs))
        return ok, bad
    finally:
        if fake:
            fake.send_signal(signal.SIGTERM)
            try:
                fake.wait(timeout=5)
            except subprocess.TimeoutExpired:
                fake.kill()
                fake.wait()
            fake.stdout.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    deploy = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                             os.path.join(HERE, "..", "..", "deploy"))
    files = manifests(deploy)
    if not files:
        print("FAIL no manifests under %s" % deploy)
        return 1
    print("%d manifest file(s) under %s" % (len(files), deploy))
    nm = node_modules()
    have_pkg = bool(nm) and os.path.exists(os.path.join(nm, "kubernetes-models", "package.json"))
    have_node = shutil.which("node") is not None
    kubectl = shutil.which("kubectl")
    passed = failed = 0
    skipped = []
    if have_node and have_pkg:
        ok, bad = schema_check(files, nm)
        passed, failed = passed + ok, failed + bad
    else:
        skipped.append("schema validation: node or the npm package kubernetes-models is missing "
                       "(the k8s fixture, tests/k8s/setup.sh)")
    if not kubectl:
        skipped.append("kubectl apply --dry-run=client: no kubectl on PATH (Debian 12 has it "
                       "in the package kubernetes-client)")
    elif not (have_node and have_pkg):
        skipped.append("kubectl apply --dry-run=client: needs the fake API server (node + "
                       "kubernetes-models) for discovery")
    else:
        v = subprocess.run([kubectl, "version", "--client"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True).stdout.splitlines()
        print("using %s (%s)" % (kubectl, v[0] if v else "?"))
        ok, bad = kubectl_check(files, nm, deploy)
        passed, failed = passed + ok, failed + bad
    for s in skipped:
        print("skip: " + s)
    print("%d passed, %d failed" % (passed, failed))
    if failed:
        return 1
    return 77 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
