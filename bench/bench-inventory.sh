#!/usr/bin/env bash
# bench-inventory.sh -- `vexxy inventory` of the demo image's rootfs against dpkg's own tools
# on the same rootfs, in the same run; then bench-findings.sh when present.
#
# Builds vexxy (Release) in build-bench/ (BENCH_BUILD_DIR), unpacks the demo image of the
# test fixtures (VEXXY_FIXTURE_DEMO, read from BENCH_FIXTURE_ENV or
# build-bench/fixtures/images.env; the fixture is built with `ctest -R fixture_images` when
# missing) once, then times BENCH_RUNS (default 5) runs of each side and takes the medians:
#   vexxy:    vexxy inventory ROOTFS --json > /dev/null   (packages, files, index, purls)
#   baseline: dpkg-query --admindir=ROOTFS/var/lib/dpkg -W -f='${Package} ${Version}\n'
#             plus dpkg-query --admindir=... -L for every package, one process per package
#             (what a script wanting the same package -> files answer does)
# Prints both medians and the ratio vexxy / baseline against the target <= 0.5.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
runs=${BENCH_RUNS:-5}
python=/usr/bin/python3

command -v dpkg-query >/dev/null || { echo "bench-inventory: dpkg-query is needed"; exit 1; }
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target vexxy -j2 >/dev/null
bin="$build/src/cmd/vexxy"

envf=${BENCH_FIXTURE_ENV:-$build/fixtures/images.env}
if [ ! -f "$envf" ] || ! grep -q '^VEXXY_FIXTURE_DEMO=' "$envf"; then
    (cd "$build" && ctest -R '^fixture_images$' --output-on-failure >/dev/null) || true
fi
demo=$(sed -n 's/^VEXXY_FIXTURE_DEMO=//p' "$envf" 2>/dev/null | head -1)
[ -n "$demo" ] || { echo "bench-inventory: no demo fixture in $envf"; exit 1; }

tmp=$(mktemp -d /tmp/vexxy-bench-inventory.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$bin" image unpack "oci:$demo" --dest "$tmp/rootfs" --cache-dir "$tmp/cache" >/dev/null
admin="$tmp/rootfs/var/lib/dpkg"

"$python" - "$bin" "$tmp/rootfs" "$admin" "$runs" <<'PY'
import statistics, subprocess, sys, time
vexxy, rootfs, admin, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def ours():
    t = time.monotonic()
    subprocess.run([vexxy, "inventory", rootfs, "--json"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - t

def baseline():
    t = time.monotonic()
    r = subprocess.run(["dpkg-query", "--admindir=" + admin, "-W",
                        "-f=${Package} ${Version}\n"], check=True, capture_output=True,
                       text=True)
    n = 0
    for line in r.stdout.splitlines():
        name = line.split(" ", 1)[0]
        subprocess.run(["dpkg-query", "--admindir=" + admin, "-L", name], check=True,
                       stdout=subprocess.DEVNULL)
        n += 1
    return time.monotonic() - t, n

a, b, n = [], [], 0
for _ in range(runs):   # interleaved: both sides see the same machine load
    a.append(ours())
    dt, n = baseline()
    b.append(dt)
ma, mb = statistics.median(a), statistics.median(b)
print("demo rootfs: %d packages" % n)
print("vexxy inventory --json      median of %d: %8.1f ms" % (runs, ma * 1000))
print("dpkg-query -W + -L per pkg  median of %d: %8.1f ms" % (runs, mb * 1000))
print("ratio %.3f (target <= 0.5): %s" % (ma / mb, "met" if ma / mb <= 0.5 else "NOT met"))
PY

if [ -x bench/bench-findings.sh ]; then
    echo
    bench/bench-findings.sh
fi
