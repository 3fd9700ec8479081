#!/usr/bin/env bash
# bench-reach.sh -- the reach and vex phases alone on a synthetic 1,000-package, 200k-file,
# 10k-finding case, against a baseline in the same run.
#
# Builds reach_bench (Release; not built by default) in build-bench/ (BENCH_BUILD_DIR). It
# builds the case in memory (tests/unit/reach/reach_bench.c says how): BENCH_PKGS deb
# packages (default 1000) owning BENCH_FILES files (default 200000), BENCH_FINDINGS findings
# (default 10000; a tenth unbound, some aliases and duplicates), and the profile of a good run
# touching 2 % of the files in 15 % of the packages. Over BENCH_RUNS rounds (default 5) it
# times vx_reach_decide (every verdict), vx_reach_statements and vx_vex_openvex -- together
# "reach + vex", the figure against the target < 100 ms -- and, reported apart, CycloneDX,
# CSAF, the results JSON (vx_reach_json) and jansson's json_dumps of the OpenVEX document
# already held as a tree (the serialisation floor of the jansson writer). Medians.
# Baseline: python3 json.dumps(sort_keys, compact) of the same OpenVEX document, loaded
# untimed from the harness's output, median of 5: serialisation only, no decisions. Prints
# the ratio (reach + vex) / baseline and pass or MISS; exits 1 on a MISS.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
np=${BENCH_PKGS:-1000}
nfiles=${BENCH_FILES:-200000}
nf=${BENCH_FINDINGS:-10000}
runs=${BENCH_RUNS:-5}
target=100
python=/usr/bin/python3

tmp=$(mktemp -d /tmp/vexxy-bench-reach.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target reach_bench -j2 >/dev/null
bin="$build/tests/unit/reach/reach_bench"

"$bin" "$np" "$nfiles" "$nf" "$runs" "$tmp/doc" >"$tmp/out"
declare -A m
while read -r k v; do
    m[$k]=$v
done <"$tmp/out"

base=$("$python" - "$tmp/doc.openvex.json" "$runs" <<'PY'
import json, statistics, sys, time
with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
doc = json.loads(text)
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    out = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    times.append((time.perf_counter() - t) * 1000)
# the same document byte for byte, or the comparison would not be fair
same = "same bytes" if out == text else "differs from vexxy's bytes"
print(f"{statistics.median(times):.2f} {same.replace(' ', '_')}")
PY
)
read -r base_ms base_same <<<"$base"

total=$(awk -v a="${m[reach]}" -v b="${m[statements]}" -v c="${m[openvex]}" \
    'BEGIN { printf "%.2f", a + b + c }')
ratio=$(awk -v t="$total" -v b="$base_ms" 'BEGIN { printf "%.2f", (b > 0) ? t / b : 0 }')
verdict=$(awk -v t="$total" -v g="$target" 'BEGIN { print (t < g) ? "pass" : "MISS" }')

echo "case: ${m[packages]} packages, ${m[files]} files, ${m[findings]} findings, profile of" \
    "${m[profile_files]} files; median of $runs runs"
echo "verdicts ${m[verdicts]}: ${m[affected]} affected, ${m[not_affected]} not_affected," \
    "${m[under_investigation]} under_investigation, ${m[fixed]} fixed;" \
    "OpenVEX ${m[openvex_bytes]} bytes"
printf '  %-34s %9s ms\n' "reach (vx_reach_decide)" "${m[reach]}" \
    "statements (vx_reach_statements)" "${m[statements]}" \
    "OpenVEX (vx_vex_openvex)" "${m[openvex]}"
echo "reach + vex: ${total} ms (target < ${target} ms): ${verdict}"
echo "reported apart:"
printf '  %-34s %9s ms\n' "CycloneDX (vx_vex_cyclonedx)" "${m[cyclonedx]}" \
    "CSAF (vx_vex_csaf)" "${m[csaf]}" \
    "results JSON (vx_reach_json)" "${m[reach_json]}" \
    "jansson json_dumps of the OpenVEX" "${m[jansson_dump]}"
echo "  (results JSON: ${m[reach_json_bytes]} bytes; CycloneDX and CSAF are written from" \
    "the same statements)"
echo "baseline python3 json.dumps of the same OpenVEX document: ${base_ms} ms" \
    "(serialisation only; ${base_same//_/ })"
echo "ratio (reach + vex) / baseline: ${ratio}"
[ "$verdict" = pass ]
