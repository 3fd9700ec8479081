#!/usr/bin/env bash
# bench-scale.sh -- scale-out on PostgreSQL: analyses per minute against the worker count,
# and queue claim latency under a 10k-job backlog.
#
# 1. Throughput. A throwaway PostgreSQL (tests/pg/pg-fixture.sh), the local registry with
#    the `tiny` image (tests/fixtures/fixtures.sh), one `vexxy serve --workers 0 --no-auth`
#    and, per point, 1, 2 then 4 `vexxy worker --concurrency 1` processes (each with its own
#    data directory, as on separate hosts; BENCH_POINTS="1 2 4" overrides the counts, the
#    first being the baseline). BENCH_JOBS (default 20) real analyses of
#    REGISTRY/vexxy-test/tiny:latest pinned by digest (profile minimal, window 1 s, workload
#    `busybox sleep 30`, force: true so none is answered from the cache) are submitted at
#    once through the API; the point's time runs from the first submit to the last job
#    complete. Prints jobs/min and the speed-up against 1 worker (the baseline, measured in
#    the same run), the machine's CPU busy share during the point (/proc/stat: the machine is
#    shared, so this includes everyone else), the workers' own CPU seconds per analysis
#    (utime+stime of the processes and their reaped children) and the median time of each
#    phase, read from the workers' log lines: queue wait (submit -> claimed), image,
#    inventory, start (sandbox and tracers up), window (observation and the workload's stop),
#    rest (trace, reach, vex, documents -> complete).
# 2. Claim latency. scale_bench (tests/unit/store) inserts 10,000 queued jobs through the
#    store API and times BENCH_CLAIMS (default 1000) real claims (queued -> running with a
#    lease) one after the other: p50/p90/p99/max on PostgreSQL (target p99 < 10 ms) and on
#    SQLite (the named baseline, same run). The PostgreSQL cluster runs with fsync=off (the
#    fixture's setting), so commits do not wait for the disk.
# Needs root (sandbox, tracer). Everything it starts is stopped at exit, also on Ctrl-C.
# Results also in BUILD/bench-scale.json, the server's and workers' logs in
# BUILD/bench-scale-logs/. Not part of `make test`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
jobs=${BENCH_JOBS:-20}
claims=${BENCH_CLAIMS:-1000}
queued=10000
points=${BENCH_POINTS:-1 2 4}

[ "$(id -u)" = 0 ] || { echo "bench-scale: needs root (sandbox, tracer)" >&2; exit 2; }
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target vexxy scale_bench -j2 >/dev/null
bin="$build/src/cmd/vexxy"
sbench="$build/tests/unit/store/scale_bench"

tmp=$(mktemp -d /tmp/vx-bench-scale.XXXXXX)
chmod 0711 "$tmp" # the sandbox's user namespace and the postgres user walk down through it
pids=()
cleanup() {
    set +e
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    mkdir -p "$build/bench-scale-logs"
    cp "$tmp"/*.log "$build/bench-scale-logs/" 2>/dev/null
    [ -f "$tmp/fx/registry.env" ] && tests/fixtures/fixtures.sh registry-stop "$tmp/fx" >/dev/null
    [ -d "$tmp/pg" ] && tests/pg/pg-fixture.sh stop "$tmp/pg" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench-scale: fixtures, registry, PostgreSQL" >&2
tests/fixtures/fixtures.sh images "$tmp/fx" >/dev/null
tests/fixtures/fixtures.sh registry-start "$tmp/fx" >/dev/null
# shellcheck disable=SC1091
. "$tmp/fx/images.env"
# shellcheck disable=SC1091
. "$tmp/fx/registry.env"
tests/pg/pg-fixture.sh start "$tmp/pg" >/dev/null
url=$(cat "$tmp/pg/pg.url")


"$bin" serve --db "$url" --workers 0 --no-auth --listen 127.0.0.1:0 --port-file "$tmp/port" \
    --data-dir "$tmp/serve" --insecure-registries 127.0.0.1 --log-level warn \
    2>"$tmp/serve.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
if [ ! -s "$tmp/port" ]; then
    echo "bench-scale: serve did not start" >&2
    cat "$tmp/serve.log" >&2
    exit 1
fi
api="http://127.0.0.1:$(cat "$tmp/port")"

cpu_ticks() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat; }

for n in $points; do
    echo "bench-scale: $n worker(s), $jobs analyses" >&2
    wp=()
    for i in $(seq "$n"); do
        "$bin" worker --db "$url" --concurrency 1 --id "w$n-$i" --data-dir "$tmp/w$n-$i" \
            --insecure-registries 127.0.0.1 2>"$tmp/w$n-$i.log" &
        wp+=($!)
        pids+=($!)
    done
    for i in $(seq "$n"); do
        for _ in $(seq 100); do grep -q "slot(s) as" "$tmp/w$n-$i.log" && break; sleep 0.1; done
    done
    read -r c0 i0 < <(cpu_ticks)
    # in the background + wait: a signal's trap runs at once instead of after the child
    python3 - "$api" "$VEXXY_REGISTRY" "$VEXXY_FIXTURE_DIGESTS" "$jobs" "$tmp/p$n.json" <<'PY' &
import json, sys, time, urllib.request
api, reg, digests, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
digest = json.load(open(digests))["tiny"]["manifest"]
body = {"image_ref": "%s/vexxy-test/tiny:latest" % reg, "image_digest": digest,
        "profile": "minimal", "force": True,
        "config": {"analysis_duration": 1, "test_timeout": 60,
                   "command": ["busybox", "sleep", "30"]}}
def call(method, path, data=None):
    req = urllib.request.Request(api + path, method=method,
                                 data=json.dumps(data).encode() if data is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
t0 = time.time()
ids, sub = [], {}
for _ in range(n):
    j = call("POST", "/api/v1/analysis/submit", body)["job_id"]
    ids.append(j)
    sub[j] = time.time()
left, states = set(ids), {}
deadline = t0 + 60 * n
while left and time.time() < deadline:
    for j in list(left):
        st = call("GET", "/api/v1/analysis/%s/status" % j)["status"]
        if st in ("complete", "failed", "cancelled"):
            states[j] = st
            left.discard(j)
    time.sleep(0.2)
t1 = time.time()
json.dump({"elapsed_s": t1 - t0, "submitted": sub, "states": states, "left": sorted(left)},
          open(out, "w"))
PY
    pids+=($!)
    wait $!
    read -r c1 i1 < <(cpu_ticks)
    # the workers' own CPU (utime+stime) and that of their reaped children (runc, the
    # workload), in clock ticks: this share is ours, unlike the machine's busy share
    wt=0
    for p in "${wp[@]}"; do
        wt=$(( wt + $(awk '{sub(/^.*\) /, ""); print $12+$13+$14+$15}' "/proc/$p/stat") ))
    done
    echo "$(( (c1 - c0) - (i1 - i0) )) $(( c1 - c0 )) $wt $(getconf CLK_TCK)" >"$tmp/p$n.cpu"
    for p in "${wp[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${wp[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
done

echo "bench-scale: claim latency, $queued queued jobs, $claims claims" >&2
psql -q "$url" -c "CREATE DATABASE vexxy_claims" >/dev/null
"$sbench" "${url%/*}/vexxy_claims" "$queued" "$claims" >"$tmp/claim-pg.txt" &
pids+=($!)
wait $!
"$sbench" "sqlite:$tmp/claims.db" "$queued" "$claims" >"$tmp/claim-sqlite.txt" &
pids+=($!)
wait $!

python3 - "$tmp" "$points" "$jobs" "$build/bench-scale.json" <<'PY'
import datetime, json, re, statistics, sys
tmp, njobs, out = sys.argv[1], int(sys.argv[3]), sys.argv[4]
points = [int(p) for p in sys.argv[2].split()]
line = re.compile(r"^(\S+Z) vexxy\[\d+\] \w+: job (\S+): (.*)$")
marks = [("claimed", r"^claimed by"), ("image", r"^image "), ("inventory", r"package\(s\),"),
         ("started", r"^workload started in sandbox"),
         ("sandbox", r"^workload .* after \d+ ms"), ("complete", r"-> complete")]
def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
res = {"points": {}}
base = None
print("%-7s %6s %8s %8s %5s %7s | %6s %6s %9s %6s %6s %6s  (median s per phase)"
      % ("workers", "done", "jobs/min", "speed-up", "cpu%", "cpu/job", "queue", "image",
         "inventory", "start", "window", "rest"))
for n in points:
    p = json.load(open("%s/p%d.json" % (tmp, n)))
    busy, total, wticks, hz = (int(x) for x in open("%s/p%d.cpu" % (tmp, n)).read().split())
    t = {}
    for i in range(1, n + 1):
        for l in open("%s/w%d-%d.log" % (tmp, n, i)):
            m = line.match(l.strip())
            if not m:
                continue
            for name, rx in marks:
                if re.search(rx, m.group(3)):
                    t.setdefault(m.group(2), {})[name] = ts(m.group(1))
    phases = {"queue": [], "image": [], "inventory": [], "start": [], "window": [], "rest": []}
    for j, sub in p["submitted"].items():
        m = t.get(j, {})
        if not all(k in m for k, _ in marks):
            continue
        phases["queue"].append(m["claimed"] - sub)
        phases["image"].append(m["image"] - m["claimed"])
        phases["inventory"].append(m["inventory"] - m["image"])
        phases["start"].append(m["started"] - m["inventory"])
        phases["window"].append(m["sandbox"] - m["started"])
        phases["rest"].append(m["complete"] - m["sandbox"])
    done = sum(1 for s in p["states"].values() if s == "complete")
    jpm = done / p["elapsed_s"] * 60
    if base is None:
        base = jpm
    med = {k: (statistics.median(v) if v else float("nan")) for k, v in phases.items()}
    cpu = 100.0 * busy / max(total, 1)
    cpj = wticks / hz / max(done, 1)
    print("%-7d %3d/%-2d %8.1f %7.2fx %4.0f%% %6.2fs | %6.2f %6.2f %9.2f %6.2f %6.2f %6.2f"
          % (n, done, njobs, jpm, jpm / base if base else 0, cpu, cpj, med["queue"], med["image"],
             med["inventory"], med["start"], med["window"], med["rest"]))
    res["points"][n] = {"completed": done, "failed": njobs - done, "elapsed_s": p["elapsed_s"],
                        "jobs_per_min": jpm, "speedup": jpm / base if base else 0,
                        "cpu_busy_pct": cpu, "worker_cpu_s_per_job": cpj,
                        "phase_median_s": med}
    if done != njobs:
        print("  %d job(s) not complete: %s" % (njobs - done,
              sorted(set(p["states"].values()) | ({"timeout"} if p["left"] else set()))))
print("baseline: %d worker(s); speed-up = jobs/min over that point of this run; cpu%% = machine"
      " busy share (shared machine), cpu/job = the workers' own CPU seconds per analysis"
      % points[0])
print()
print("%-10s %10s %8s %9s %9s %9s %9s" % ("claims", "insert ms", "claimed", "p50 ms",
                                          "p90 ms", "p99 ms", "max ms"))
for kind in ("postgres", "sqlite"):
    f = "%s/claim-%s.txt" % (tmp, "pg" if kind == "postgres" else kind)
    ins, n, p50, p90, p99, mx = (int(x) for x in open(f).read().split())
    res[kind] = {"insert_ms": ins, "claimed": n, "p50_ms": p50 / 1000, "p90_ms": p90 / 1000,
                 "p99_ms": p99 / 1000, "max_ms": mx / 1000}
    print("%-10s %10d %8d %9.3f %9.3f %9.3f %9.3f" % (kind, ins, n, p50 / 1000, p90 / 1000,
                                                     p99 / 1000, mx / 1000))
p99 = res["postgres"]["p99_ms"]
print("postgres claim p99 %.3f ms under 10,000 queued (target < 10 ms): %s"
      % (p99, "pass" if p99 < 10 else "MISS"))
print("baseline: SQLite, same harness, same run: p99 %.3f ms" % res["sqlite"]["p99_ms"])
json.dump(res, open(out, "w"), indent=1)
PY
