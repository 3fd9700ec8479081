#!/usr/bin/env bash
# bench-image.sh -- image unpack against GNU tar and registry pull against skopeo, both on the
# demo image of the test fixtures and measured in the same run.
#
# Builds vexxy and tests' unpack_driver (Release, tests on) in build-bench/ (BENCH_BUILD_DIR),
# finds the demo OCI layout (VEXXY_FIXTURE_DEMO from BENCH_FIXTURE_ENV or
# build-bench/fixtures/images.env; built with `ctest -R fixture_images` when missing), then
# times BENCH_RUNS (default 5) rounds of every side, the order rotated each round, after one
# untimed warm-up run of each (page cache warm for all), and takes the medians:
#   unpack    vexxy image unpack oci:DEMO --dest FRESH --cache-dir C   (C already holds the
#             blobs: what is left is re-verifying their sha256 and applying the layers)
#   baseline  tar -x[z|--zstd]f LAYER -C FRESH --numeric-owner [--same-owner -p as root],
#             every layer in manifest order (GNU tar; -z runs gzip -d, like vexxy's zlib)
#   unpack alone (informational): unpack_driver FRESH LAYER... (vx_image_unpack() of the
#             cached blobs, no manifest walk and no re-hashing) against the same tar runs
#   pull      vexxy image pull docker://REG/vexxy-bench/demo:latest --insecure-registry
#             --cache-dir FRESH_EMPTY
#   baseline  skopeo copy --src-tls-verify=false docker://REG/... oci:FRESH_EMPTY:latest
# REG is a throwaway docker-registry on 127.0.0.1 (tests/fixtures/registry.sh) that the demo
# image is pushed to with skopeo; it is stopped on exit. Every destination is a fresh directory
# in one temp dir (BENCH_TMPDIR, default /tmp), so both sides write to the same filesystem.
# Trees are only deleted after a whole group (about 3 GB for the unpack group): on ext4 a
# deletion makes the next inode allocations scan past the freed inodes (seconds of system time
# per 8000-file tree, seen with perf as recently_deleted/find_inode_bit), which would turn the
# figures into a measure of the previous run's rm -rf.
# Prints a table of the medians (wall clock; user+sys CPU below it) with the ratio
# vexxy / baseline against the targets: unpack <= 1.2, pull <= 1.0, and writes every sample
# to build-bench/bench-image.json. Exits 0 whether or not a target is met.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
runs=${BENCH_RUNS:-5}
python=/usr/bin/python3

for tool in tar skopeo docker-registry cmake "$python"; do
    command -v "$tool" >/dev/null || { echo "bench-image: '$tool' missing: run make deps" >&2; exit 2; }
done
tar --version | head -1 | grep -q 'GNU tar' || { echo "bench-image: tar is not GNU tar" >&2; exit 2; }

echo "== building Release vexxy and unpack_driver in $build/"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVX_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j2 --target vexxy unpack_driver >/dev/null
bin="$build/src/cmd/vexxy"
driver="$build/tests/unit/image/unpack_driver"

envf=${BENCH_FIXTURE_ENV:-$build/fixtures/images.env}
if [ ! -f "$envf" ] || ! grep -q '^VEXXY_FIXTURE_DEMO=' "$envf"; then
    echo "== building the image fixtures (debootstrap the first time on a machine)"
    (cd "$build" && ctest -R '^fixture_images$' --output-on-failure >/dev/null) || true
fi
demo=$(sed -n 's/^VEXXY_FIXTURE_DEMO=//p' "$envf" 2>/dev/null | head -1)
if [ -z "$demo" ] || [ ! -f "$demo/index.json" ]; then
    echo "bench-image: no demo fixture in $envf" >&2
    exit 1
fi

tmp=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/vexxy-bench-image.XXXXXX")
cleanup() {
    # registry.sh stop kills only the registry whose pid it wrote, and removes its dir
    tests/fixtures/registry.sh stop "$tmp/registry" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== starting a throwaway registry and pushing the demo image with skopeo"
url=$(tests/fixtures/registry.sh start "$tmp/registry")
reg=${url#http://}
skopeo copy -q --dest-tls-verify=false "oci:$demo:latest" "docker://$reg/vexxy-bench/demo:latest"

"$python" - "$bin" "$driver" "$demo" "docker://$reg/vexxy-bench/demo:latest" "$tmp" "$runs" \
    "$build/bench-image.json" <<'PY'
import json, os, resource, shutil, statistics, subprocess, sys, time

vexxy, driver, demo, ref, tmp, runs, out_json = sys.argv[1:8]
runs = int(runs)
as_root = os.geteuid() == 0

# ---- the demo layout's layers, in order, with their compression -------------------------
def blob(digest):
    return os.path.join(demo, "blobs", "sha256", digest.split(":", 1)[1])

def load(digest):
    with open(blob(digest)) as f:
        return json.load(f)

with open(os.path.join(demo, "index.json")) as f:
    doc = json.load(f)
for _ in range(4):  # index -> (nested index ->) manifest, linux/amd64 when there is a choice
    if "layers" in doc:
        break
    ms = doc["manifests"]
    pick = [m for m in ms if m.get("annotations", {}).get("org.opencontainers.image.ref.name")
            == "latest"] or [m for m in ms if m.get("platform", {}).get("architecture") == "amd64"
                             and m.get("platform", {}).get("os") == "linux"] or ms
    doc = load(pick[0]["digest"])
layers = []
for l in doc["layers"]:
    mt = l["mediaType"]
    flag = ["--zstd"] if "zstd" in mt else ["-z"] if "gzip" in mt else []
    layers.append((blob(l["digest"]), flag))
total = sum(os.path.getsize(p) for p, _ in layers)
print(f"   demo image: {len(layers)} layer(s), {total / 1e6:.1f} MB compressed; "
      f"{runs} timed runs per side after one warm-up")

# ---- timing ---------------------------------------------------------------------------
seq = [0]

def fresh(tag):
    seq[0] += 1
    return os.path.join(tmp, f"{tag}-{seq[0]}")

def timed(argv_fn, tag, make_dir):
    """Runs argv_fn(dir) in a fresh dir; returns (wall s, cpu s, dir)."""
    d = fresh(tag)
    if make_dir:
        os.mkdir(d)
    cmds = argv_fn(d)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    for c in cmds:
        subprocess.run(c, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, d

def tree_stats(d):
    n = size = 0
    for base, dirs, files in os.walk(d):
        n += len(dirs) + len(files)
        for f in files:
            st = os.lstat(os.path.join(base, f))
            if not os.path.islink(os.path.join(base, f)):
                size += st.st_size
    return n, size

# The layers go into the cache once; every vexxy unpack then reads them from there.
cache = os.path.join(tmp, "cache")
subprocess.run([vexxy, "image", "unpack", "oci:" + demo, "--dest", os.path.join(tmp, "prime"),
                "--cache-dir", cache], check=True, stdout=subprocess.DEVNULL)

def vx_unpack(d):
    return [[vexxy, "image", "unpack", "oci:" + demo, "--dest", d, "--cache-dir", cache]]

def vx_driver(d):
    return [[driver] + (["--keep-ownership"] if as_root else []) + [d] +
            [p for p, _ in layers]]

def tar_x(d):
    own = ["--same-owner", "--same-permissions"] if as_root else []
    return [["tar", "-x"] + flag + ["-f", p, "-C", d, "--numeric-owner"] + own
            for p, flag in layers]

def vx_pull(d):
    return [[vexxy, "image", "pull", ref, "--insecure-registry", "--cache-dir", d]]

def skopeo(d):
    return [["skopeo", "copy", "-q", "--src-tls-verify=false", ref, "oci:" + d + ":latest"]]

def measure(sides):
    """sides: [(key, argv_fn, make_dir)]. One warm-up of each, then 'runs' rounds with the
    order rotated every round. Nothing is deleted in between (the caller removes the trees
    afterwards): ext4 scans past recently deleted inodes when it allocates new ones, so a
    deletion makes the next runs pay for it (seconds of system time for 8000 files).
    Returns ({key: [wall...], key + "_cpu": [cpu...]}, {key: warm-up dir}, [timed dirs])."""
    warm = {key: timed(fn, key, mk)[2] for key, fn, mk in sides}
    res = {}
    dirs = []
    for i in range(runs):
        k = i % len(sides)
        for key, fn, mk in sides[k:] + sides[:k]:
            wall, cpu, d = timed(fn, key, mk)
            res.setdefault(key, []).append(round(wall, 4))
            res.setdefault(key + "_cpu", []).append(round(cpu, 4))
            dirs.append(d)
    return res, warm, dirs

def pair(res, ours, base):
    return {"vexxy": res[ours], "baseline": res[base], "vexxy_cpu": res[ours + "_cpu"],
            "baseline_cpu": res[base + "_cpu"]}

cases = []
free = shutil.disk_usage(tmp).free
need = 3 * (runs + 1) * 4 * total  # three sides, warm-up + runs, a tree <= 4x the layers
if free < need:
    sys.exit(f"bench-image: {tmp} has {free >> 20} MB free, about {need >> 20} MB are needed "
             "(BENCH_TMPDIR, BENCH_RUNS)")
print("== unpack: vexxy image unpack (cached blobs), unpack_driver, tar -x; order rotated")
r, warm, dirs = measure([("cli", vx_unpack, False), ("driver", vx_driver, False),
                         ("tar", tar_x, True)])
(n1, s1), (n2, s2) = tree_stats(warm["cli"]), tree_stats(warm["tar"])
print(f"   vexxy tree {n1} entries {s1 / 1e6:.1f} MB, tar tree {n2} entries {s2 / 1e6:.1f} MB "
      "(vexxy creates no device nodes and no whiteout files)")
for d in list(warm.values()) + dirs:
    shutil.rmtree(d)
cases.append(("unpack demo (vexxy image unpack)", "tar -x per layer", 1.2, True,
              pair(r, "cli", "tar")))
cases.append(("unpack demo, unpack alone (driver)", "tar -x per layer", 1.2, False,
              pair(r, "driver", "tar")))
print("== pull: vexxy image pull (cold cache) vs skopeo copy; order alternated")
r, warm, dirs = measure([("vexxy", vx_pull, False), ("skopeo", skopeo, False)])
for d in list(warm.values()) + dirs:
    shutil.rmtree(d)
cases.append(("pull demo from local registry", "skopeo copy", 1.0, True,
              pair(r, "vexxy", "skopeo")))

print()
print(f"{'case':<36} {'vexxy s':>8} {'baseline':<18} {'base s':>7} {'ratio':>6} "
      f"{'target':>7}  result")
report = {"runs": runs, "image": demo, "layers": len(layers), "compressed_bytes": total,
          "unix_time": int(time.time()), "cases": []}
for name, base, target, headline, r in cases:
    vm, bm = statistics.median(r["vexxy"]), statistics.median(r["baseline"])
    ratio = vm / bm if bm > 0 else float("inf")
    ok = ratio <= target
    print(f"{name:<36} {vm:8.3f} {base:<18} {bm:7.3f} {ratio:5.2f}x {'<= ' + str(target):>7}  "
          f"{'pass' if ok else 'MISS'}{'' if headline else ' (informational)'}")
    report["cases"].append({
        "case": name, "baseline": base, "target_ratio": target, "headline": headline,
        "vexxy_median_s": round(vm, 4), "baseline_median_s": round(bm, 4),
        "ratio": round(ratio, 3), "pass": ok,
        "vexxy_cpu_median_s": round(statistics.median(r["vexxy_cpu"]), 4),
        "baseline_cpu_median_s": round(statistics.median(r["baseline_cpu"]), 4),
        "samples": r})
print()
for c in report["cases"]:
    print(f"cpu (user+sys) medians, {c['case']}: vexxy {c['vexxy_cpu_median_s']:.3f} s, "
          f"{c['baseline']} {c['baseline_cpu_median_s']:.3f} s")
with open(out_json + ".tmp", "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
os.replace(out_json + ".tmp", out_json)
print(f"(wall-clock medians of {runs} runs, 2 cores shared with whatever else runs; "
      f"samples in {out_json})")
PY
