#!/usr/bin/env bash
# install-deps.sh -- install the Debian 12 packages vexxy needs to build, test and benchmark.
#
# Idempotent: each package is checked with dpkg-query first; on a machine that has them all,
# this prints one line and changes nothing (no apt-get update, no network). Run as root
# (or it uses sudo when some package is missing).
#
# PostgreSQL: only the server binaries are needed (tests/pg starts a throwaway cluster of its
# own), so on a first install we tell postgresql-common not to create and start the default
# 'main' cluster.
set -euo pipefail

packages=(
    build-essential cmake pkg-config         # gcc 12, make, cmake 3.25
    clang libclang-rt-14-dev clang-format    # fuzz build (libFuzzer/ASan runtime), make format
    libjansson-dev libmicrohttpd-dev libsqlite3-dev libpq-dev libcurl4-openssl-dev libssl-dev
    libcmocka-dev uuid-dev
    libyaml-dev                              # kubeconfig (Kubernetes sandbox backend)
    libarchive-dev libzstd-dev zstd          # image layers: tar, gzip, zstd
    debootstrap docker-registry skopeo apache2-utils  # test images, local registry, htpasswd
    postgresql                               # server binaries for the tests' own cluster
    python3 curl                             # integration tests (stdlib only), quick start
    python3-jsonschema                       # document schema tests (OpenVEX, CycloneDX, CSAF)
    golang-go                                # test_inv_lang builds a real Go binary (offline)
    wrk python3-fastapi python3-uvicorn      # make bench-api and its baseline
    runc crun                                # sandbox OCI runtimes (runc default; crun selectable)
    libbpf-dev bpftool strace                # trace eBPF backend: libbpf, vmlinux.h + skeleton (clang above)
)

# Tools the Kubernetes tests use, from Debian only where the machine has none of its own (a
# kubectl or node from elsewhere owns the same paths; installing Debian's beside it fails).
command -v kubectl >/dev/null || packages+=(kubernetes-client) # deploy/ dry-run check
command -v node >/dev/null || packages+=(nodejs)               # tests/k8s fake API server
command -v npm >/dev/null || packages+=(npm)                   # its schema package

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

echo "install-deps: installing: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install" >&2; exit 1; }
    sudo=(sudo)
fi

if ! installed postgresql-common; then
    # No default cluster: it would be an unused server on port 5432 (a site that wants one
    # runs pg_createcluster later). Written before postgresql-common's postinst reads it.
    "${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" |
        "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/vexxy-no-main.conf >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"

still=()
for p in "${missing[@]}"; do
    installed "$p" || still+=("$p")
done
if [ "${#still[@]}" -ne 0 ]; then
    echo "install-deps: still missing after install: ${still[*]}" >&2
    exit 1
fi
echo "install-deps: installed ${#missing[@]} package(s)"
