#!/usr/bin/env bash
# setup.sh DIR [ENV_FILE] -- installs the test-only npm package kubernetes-models (the
# Kubernetes OpenAPI validators used by fake-apiserver.js and validate-manifests.js) into
# DIR/node_modules, at the version pinned in package.json/package-lock.json beside this
# script, and writes ENV_FILE (default DIR/k8s.env) with K8S_NODE_MODULES=DIR/node_modules.
#
# Idempotent: when DIR already holds the pinned lockfile and the package, nothing is fetched.
# Exits 77 (skip) when node or npm is missing or the registry cannot be reached, so that the
# tests needing the package skip with that message instead of failing.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:?usage: setup.sh DIR [ENV_FILE]}"
envfile="${2:-$dir/k8s.env}"

rm -f "$envfile"
for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "k8s setup: skip: '$tool' not found (install Node.js >= 18 with npm)"
        exit 77
    fi
done
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 18 ]; then
    echo "k8s setup: skip: node $(node --version) is too old (need >= 18)"
    exit 77
fi

mkdir -p "$dir" || exit 1
want="$(node -p "require('$here/package.json').dependencies['kubernetes-models']")"
have="$(node -p "try { require('$dir/node_modules/kubernetes-models/package.json').version }
                 catch (e) { '' }")"
if [ "$have" = "$want" ] && cmp -s "$here/package-lock.json" "$dir/package-lock.json"; then
    echo "k8s setup: kubernetes-models $have already in $dir/node_modules"
else
    cp "$here/package.json" "$here/package-lock.json" "$dir/" || exit 1
    # npm warns (EBADENGINE) that 5.x asks for node >= 22; it runs on node 20, which
    # test_fake_apiserver.py checks by validating real objects.
    if ! npm ci --no-audit --no-fund --loglevel=error --prefix "$dir" >"$dir/npm.log" 2>&1; then
        cat "$dir/npm.log"
        echo "k8s setup: skip: npm ci of kubernetes-models@$want failed (registry unreachable?)"
        exit 77
    fi
    echo "k8s setup: installed kubernetes-models@$want into $dir/node_modules"
fi

# The package must load and reject an invalid object, or it is not what we need.
if ! K8S_NODE_MODULES="$dir/node_modules" node -e '
    require(process.argv[1]).load().then(async (v) => {
        const bad = await v.validate({apiVersion: "batch/v1", kind: "Job",
                                      metadata: {name: "x"}, spec: {backoffLimit: "zero"}});
        if (!bad.length) { console.error("no error for a wrong type"); process.exit(1); }
    }).catch((e) => { console.error(e); process.exit(1); });' "$here/k8s-schema.js"; then
    echo "k8s setup: kubernetes-models in $dir does not load or validate" >&2
    exit 1
fi
echo "K8S_NODE_MODULES=$dir/node_modules" >"$envfile"
echo "k8s setup: wrote $envfile"
