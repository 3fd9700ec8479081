#!/usr/bin/env bash
# bench-analyze.sh -- wall time of each phase of `vexxy analyze` on the demo image.
#
# Runs `vexxy analyze oci:DEMO --findings F --duration 10` BENCH_RUNS times (default 3) with
# the report of scripts/demo-findings.py, reads the "[i/6] NAME done in N ms" lines, and
# prints the median per phase plus the time outside the exercise window (total minus the
# 10 s window the workload is observed; target < 3 s). Needs root (sandbox, tracer).
# Baseline: none in the same run for this one (the target is absolute); the exercise window
# itself is reported so the two can be told apart. Results also in BUILD/bench-analyze.json.
# Not part of `make test`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
runs=${BENCH_RUNS:-3}
window=10

[ "$(id -u)" = 0 ] || { echo "bench-analyze: needs root (sandbox, tracer)" >&2; exit 2; }
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target vexxy -j2 >/dev/null
bin="$build/src/cmd/vexxy"
mkdir -p "$build/fixtures"
tests/fixtures/fixtures.sh images "$build/fixtures" >/dev/null
# shellcheck disable=SC1091
. "$build/fixtures/images.env"

tmp=$(mktemp -d /tmp/vx-bench-analyze.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 0711 "$tmp"
"$bin" inventory "oci:$VEXXY_FIXTURE_DEMO" --json --no-files >"$tmp/inv.json"
python3 scripts/demo-findings.py "$tmp/inv.json" >"$tmp/findings.json"

for i in $(seq "$runs"); do
    rm -rf "$tmp/data"
    "$bin" analyze "oci:$VEXXY_FIXTURE_DEMO" --findings "$tmp/findings.json" \
        --duration "$window" --data-dir "$tmp/data" >/dev/null 2>"$tmp/run$i.log"
done

python3 - "$tmp" "$runs" "$window" "$build/bench-analyze.json" <<'PY'
import json, re, statistics, sys
tmp, runs, window, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per = {}
totals = []
for i in range(1, runs + 1):
    tot = 0
    with open("%s/run%d.log" % (tmp, i)) as f:
        for line in f:
            m = re.match(r"\[\d+/\d+\] (\S+) done in (\d+) ms", line)
            if m:
                per.setdefault(m.group(1), []).append(int(m.group(2)))
                tot += int(m.group(2))
    totals.append(tot)
print("%-10s %10s" % ("phase", "median ms"))
for name, v in per.items():
    print("%-10s %10d" % (name, statistics.median(v)))
total = statistics.median(totals)
outside = total - window * 1000
print("%-10s %10d" % ("total", total))
print("outside the %d s exercise window: %d ms (target < 3000 ms): %s"
      % (window, outside, "pass" if outside < 3000 else "MISS"))
json.dump({"phases_ms": per, "totals_ms": totals, "outside_window_ms": outside}, open(out, "w"))
PY
