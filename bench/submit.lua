-- submit.lua -- wrk script for POST /api/v1/analysis/submit (bench/bench-api.sh).
-- The body (bench/submit-body.json, or $VX_BENCH_BODY) is the seed service's example
-- request, valid for both vexxy and the FastAPI baseline. No Idempotency-Key, so every
-- request creates a job row on vexxy (with --workers 0 none of them runs).
local path = os.getenv("VX_BENCH_BODY") or "bench/submit-body.json"
local f = assert(io.open(path, "r"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()
