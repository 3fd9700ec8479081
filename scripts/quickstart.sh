#!/usr/bin/env bash
# quickstart.sh -- the README's first command: install what is needed, build, and run vexxy.
#
# Today the analysis pipeline's phases (image, inventory, sandbox, trace, reach, VEX) are not
# built yet, so this starts `vexxy serve --no-auth` on 127.0.0.1:8080 (QUICKSTART_LISTEN to
# move it) with a throwaway data dir, submits one job with the seed service's example body
# (bench/submit-body.json), follows it until it ends and prints its status: it fails with
# "phase 'image' is not available yet". When the image phase lands with its demo image, this
# script runs `vexxy analyze` on that image instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
listen=${QUICKSTART_LISTEN:-127.0.0.1:8080}

scripts/install-deps.sh
build=${VX_BUILD_DIR:-build}
make build BUILD_DIR="$build"
bin=$build/src/cmd/vexxy

tmp=$(mktemp -d /tmp/vexxy-quickstart.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== vexxy serve --listen $listen --no-auth (data in $tmp)"
"$bin" serve --listen "$listen" --no-auth --data-dir "$tmp" --port-file "$tmp/port" \
    >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    [ -s "$tmp/port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ ! -s "$tmp/port" ]; then
    echo "quickstart: vexxy serve did not start (is $listen in use? set QUICKSTART_LISTEN):" >&2
    cat "$tmp/serve.log" >&2
    exit 1
fi
url="http://${listen%:*}:$(cat "$tmp/port")"

echo "== POST $url/api/v1/analysis/submit"
reply=$(curl -sS --max-time 10 -H 'Content-Type: application/json' \
    -d @bench/submit-body.json "$url/api/v1/analysis/submit")
echo "$reply"
id=$(sed -nE 's/.*"job_id": *"([0-9a-f-]{36})".*/\1/p' <<<"$reply")
[ -n "$id" ] || { echo "quickstart: no job id in the reply" >&2; exit 1; }

echo "== GET $url/api/v1/analysis/$id/status (until the job ends, at most 20 s)"
for _ in $(seq 40); do
    status=$(curl -sS --max-time 5 "$url/api/v1/analysis/$id/status")
    grep -qE '"status": *"(complete|failed|cancelled)"' <<<"$status" && break
    sleep 0.5
done
if command -v python3 >/dev/null; then
    python3 -m json.tool <<<"$status"
else
    echo "$status"
fi
echo
echo "Run it yourself: $bin serve --no-auth   (then curl $url/health; see docs/api.md)"
