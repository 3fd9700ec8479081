#!/usr/bin/env bash
# bench-api.sh -- REST API throughput and latency of `vexxy serve` against the FastAPI seed.
#
# Builds a Release vexxy in build-bench/, starts it API-only on loopback (--workers 0,
# --no-auth, SQLite in a temp dir), submits one job to get an id, then runs wrk (2 threads,
# 64 connections, 15 s, --latency) against
#   GET  /api/v1/analysis/{id}/status
#   POST /api/v1/analysis/submit          (bench/submit.lua + submit-body.json; one row each)
# and the same two loads against ../shared/baselines/seed-fastapi/main.py under uvicorn
# (Debian's python3-fastapi/python3-uvicorn), skipped when ../shared is absent.
# Prints req/s, p99 and their ratios, and vexxy's idle RSS, against the targets:
# status throughput >= 10x baseline, p99 < 5 ms, idle RSS < 20 MB.
# Everything stays on 127.0.0.1; every process started here is killed on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
duration=${BENCH_DURATION:-15}
conns=${BENCH_CONNECTIONS:-64}
threads=${BENCH_THREADS:-2}
build=${BENCH_BUILD_DIR:-build-bench}
baseline_src="$root/../shared/baselines/seed-fastapi"
python=/usr/bin/python3

for tool in wrk curl cmake; do
    command -v "$tool" >/dev/null || { echo "bench-api: '$tool' missing: run make deps" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/vexxy-bench.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        # bounded: SIGKILL whatever is still there after ~5 s
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building Release vexxy in $build/"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVX_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target vexxy >/dev/null
bin="$build/src/cmd/vexxy"

# wait_for COND_CMD... : polls for up to 15 s
wait_for() {
    for _ in $(seq 150); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

echo "== starting vexxy serve (API only, SQLite, no auth)"
"$bin" serve --listen 127.0.0.1:0 --port-file "$tmp/port" --no-auth --workers 0 \
    --data-dir "$tmp/data" --db "sqlite:$tmp/b.db" >"$tmp/vexxy.log" 2>&1 &
vx_pid=$!
pids+=("$vx_pid")
if ! wait_for test -s "$tmp/port"; then
    echo "bench-api: vexxy did not start; its log:" >&2
    cat "$tmp/vexxy.log" >&2
    exit 1
fi
vx_port=$(cat "$tmp/port")
vx_url="http://127.0.0.1:$vx_port"
sleep 1
vx_rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$vx_pid/status")

export VX_BENCH_BODY="$root/bench/submit-body.json"
submit_json=$(curl -sS --max-time 10 -H 'Content-Type: application/json' -d @"$VX_BENCH_BODY" \
    "$vx_url/api/v1/analysis/submit")
job_id=$(sed -nE 's/.*"job_id": *"([0-9a-f-]{36})".*/\1/p' <<<"$submit_json")
if [ -z "$job_id" ]; then
    echo "bench-api: submit did not return a job id: $submit_json" >&2
    exit 1
fi
echo "   listening on $vx_url, job $job_id, idle RSS $((vx_rss_kb / 1024)) MB"

# run_wrk NAME URL [wrk args]: prints "REQS P99_MS NON2XX" and keeps the raw output.
run_wrk() {
    local name=$1 url=$2 out
    shift 2
    out="$tmp/wrk-$name.txt"
    timeout $((duration + 30)) wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 2s \
        --latency "$@" "$url" >"$out" 2>&1 || true
    awk '
        /^Requests\/sec:/ { reqs = $2 }
        $1 == "99%" { v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
                      p99 = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : (unit == "m") ? v * 60000 : v }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { errs = $0 }
        END { printf "%s %s %s\n", reqs == "" ? "0" : reqs, p99 == "" ? "nan" : p99, non2xx == "" ? 0 : non2xx }
    ' "$out"
}

echo "== wrk -t$threads -c$conns -d${duration}s against vexxy"
read -r vs_rps vs_p99 vs_bad < <(run_wrk vx-status "$vx_url/api/v1/analysis/$job_id/status")
read -r vp_rps vp_p99 vp_bad < <(run_wrk vx-submit "$vx_url/api/v1/analysis/submit" -s bench/submit.lua)

have_base=0
if [ -f "$baseline_src/main.py" ]; then
    if ! "$python" -c 'import fastapi, uvicorn' 2>/dev/null; then
        echo "bench-api: python3-fastapi/python3-uvicorn missing: run make deps" >&2
        exit 2
    fi
    echo "== starting the FastAPI baseline (uvicorn, one process)"
    cp -r "$baseline_src" "$tmp/baseline"
    base_port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    (cd "$tmp/baseline" && exec "$python" -m uvicorn main:app --host 127.0.0.1 --port "$base_port") \
        >"$tmp/baseline.log" 2>&1 &
    pids+=("$!")
    base_url="http://127.0.0.1:$base_port"
    if ! wait_for curl -sf --max-time 1 -o /dev/null "$base_url/health"; then
        echo "bench-api: baseline did not start; its log:" >&2
        tail -20 "$tmp/baseline.log" >&2
        exit 1
    fi
    echo "== wrk -t$threads -c$conns -d${duration}s against the baseline"
    read -r bs_rps bs_p99 bs_bad < <(run_wrk base-status "$base_url/api/v1/analysis/$job_id/status")
    read -r bp_rps bp_p99 bp_bad < <(run_wrk base-submit "$base_url/api/v1/analysis/submit" -s bench/submit.lua)
    have_base=1
else
    echo "== baseline skipped: ../shared/baselines/seed-fastapi/main.py not found beside the checkout"
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else printf "-" }'; }
row() {  # endpoint vx_rps vx_p99 base_rps base_p99
    local b_rps=- b_p99=- r=-
    if [ "$have_base" = 1 ]; then
        b_rps=$(printf '%.0f' "$4")
        b_p99=$(printf '%.2f' "$5")
        r=$(ratio "$2" "$4")
    fi
    printf '%-34s %12.0f %10.2f %14s %12s %8s\n' "$1" "$2" "$3" "$b_rps" "$b_p99" "$r"
}

echo
printf '%-34s %12s %10s %14s %12s %8s\n' endpoint "vexxy req/s" "p99 ms" "baseline req/s" \
    "base p99 ms" ratio
row "GET /api/v1/analysis/{id}/status" "$vs_rps" "$vs_p99" "${bs_rps:-}" "${bs_p99:-}"
row "POST /api/v1/analysis/submit" "$vp_rps" "$vp_p99" "${bp_rps:-}" "${bp_p99:-}"
[ "$vs_bad$vp_bad" = "00" ] || echo "note: vexxy non-2xx responses: status $vs_bad, submit $vp_bad"
[ "$have_base" = 0 ] || [ "$bs_bad$bp_bad" = "00" ] ||
    echo "note: baseline non-2xx responses: status $bs_bad, submit $bp_bad"

echo
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "NOT met"; fi; }
ok=$(awk -v r="$vx_rss_kb" 'BEGIN { print (r < 20 * 1024) ? 1 : 0 }')
printf 'idle RSS: %.1f MB (target < 20 MB): %s\n' "$(awk -v r="$vx_rss_kb" 'BEGIN { print r / 1024 }')" "$(verdict "$ok")"
ok=$(awk -v a="$vs_p99" -v b="$vp_p99" 'BEGIN { print (a < 5 && b < 5) ? 1 : 0 }')
echo "p99 < 5 ms on both endpoints: $(verdict "$ok") (status $vs_p99 ms, submit $vp_p99 ms)"
if [ "$have_base" = 1 ]; then
    ok=$(awk -v a="$vs_rps" -v b="$bs_rps" 'BEGIN { print (b > 0 && a >= 10 * b) ? 1 : 0 }')
    echo "status throughput >= 10x baseline: $(verdict "$ok") ($(ratio "$vs_rps" "$bs_rps"))"
fi
echo "(2 cores shared by wrk and the server; raw wrk output was in $tmp, removed on exit)"
