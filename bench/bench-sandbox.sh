#!/usr/bin/env bash
# bench-sandbox.sh -- the demo image's nginx in `vexxy sandbox run`: create -> first HTTP 200
# and stop -> everything cleaned, against a plain `runc run -d` of the same rootfs measured
# in the same run (issue 5; targets < 150 ms and < 100 ms).
#
# Builds vexxy (Release) in build-bench/ (BENCH_BUILD_DIR), takes the demo OCI layout of the
# fixtures (tests/fixtures/fixtures.sh images: cached, not rebuilt) and unpacks it twice once:
#   vexxy     `vexxy image unpack` + every owner shifted by 0x10000000 (what the sandbox's
#             unpack does for its user namespace), run as a directory target:
#             `vexxy sandbox run ROOTFS --command /usr/sbin/nginx -g 'daemon off;' --json
#             --pid-file F --state-dir S` (user namespace, seccomp, overlay with a fresh upper
#             dir, cgroup limits: the real sandbox; a directory target has no pull/unpack)
#   baseline  `runc spec` edited to the same command, Docker's default capabilities (nginx
#             needs SETUID/SETGID), the same memory/pids/CPU limits, a writable copy of the
#             unshifted rootfs, no user namespace, no seccomp, no overlay; `runc run -d`.
# Then BENCH_RUNS (default 20) rounds, the order of the two sides alternated every round,
# after one untimed warm-up of each. Per run, measured from outside by one python process:
#   create -> health   vexxy: wall clock from spawning `vexxy sandbox run` to the first
#                      HTTP/1.0 200 for GET / on 127.0.0.1:80 inside the container's network
#                      namespace (setns(2) into /proc/PID/ns/net, polled every 1 ms once the
#                      pid file exists) minus the "prepare" phase of its --json timings (state
#                      and scratch dirs; ~0 for a directory); so it includes vexxy's exec,
#                      bundle, runc create, runc start, and nginx's start-up.
#                      baseline: spawning `runc run -d` to the same first 200.
#   stop -> cleaned    vexxy: timings_ms.stop + timings_ms.destroy of --json (runc kill TERM
#                      and wait, then runc delete, cgroups, overlay unmount, upper/work dirs;
#                      timed inside the process from the stop call after SIGTERM reached it),
#                      and checked from outside afterwards: no runc container, no mount under
#                      the state dir, no cgroup dir, no scratch dir (a leftover is reported).
#                      The outside wall clock SIGTERM -> process exit is printed too: it adds
#                      the CLI's signal poll (every 100 ms) and the JSON output.
#                      baseline: `runc kill ID TERM`, waitpid of the init (this script is a
#                      child subreaper), `runc delete ID` (its cgroup goes with it).
# Prints medians and p90 of both sides, the ratios vexxy / runc and pass/MISS against the
# targets (vexxy medians < 150 ms and < 100 ms); samples in BUILD/bench-sandbox.json. Needs
# root and runc. Exits 0 whether or not a target is met. Not part of `make test`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
runs=${BENCH_RUNS:-20}

[ "$(id -u)" = 0 ] || { echo "bench-sandbox: needs root (sandbox, runc)" >&2; exit 2; }
command -v runc >/dev/null || { echo "bench-sandbox: runc missing: run make deps" >&2; exit 2; }

echo "== building Release vexxy in $build/"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target vexxy -j2 >/dev/null
bin="$build/src/cmd/vexxy"
mkdir -p "$build/fixtures"
tests/fixtures/fixtures.sh images "$build/fixtures" >/dev/null
# shellcheck disable=SC1091
. "$build/fixtures/images.env"

tmp=$(mktemp -d /tmp/vx-bench-sandbox.XXXXXX)
cleanup() {
    "$bin" sandbox reap --state-dir "$tmp/state" >/dev/null 2>&1 || true
    for id in $(runc --root "$tmp/runc-base" list -q 2>/dev/null); do
        runc --root "$tmp/runc-base" delete --force "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 0711 "$tmp" # the runtime reaches the rootfs from inside the user namespace

echo "== unpacking the demo image (vexxy: shifted owners; runc: a bundle from runc spec)"
"$bin" image unpack "oci:$VEXXY_FIXTURE_DEMO" --dest "$tmp/rootfs-vx" --cache-dir "$tmp/cache" \
    >/dev/null
mkdir -p "$tmp/bundle"
"$bin" image unpack "oci:$VEXXY_FIXTURE_DEMO" --dest "$tmp/bundle/rootfs" \
    --cache-dir "$tmp/cache" >/dev/null
(cd "$tmp/bundle" && runc spec)

/usr/bin/python3 - "$bin" "$tmp" "$runs" "$build/bench-sandbox.json" <<'PY'
import ctypes, json, math, os, signal, socket, statistics, subprocess, sys, time

vexxy, tmp, runs, out_json = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
SHIFT = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
# the baseline's container init is orphaned when `runc run -d` exits: it becomes our child,
# so its exit can be waited for like runc's own `kill` + wait would
libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
state = os.path.join(tmp, "state")
runc_root = os.path.join(tmp, "runc-base")
bundle = os.path.join(tmp, "bundle")
rootfs_vx = os.path.join(tmp, "rootfs-vx")
NGINX = ["/usr/sbin/nginx", "-g", "daemon off;"]

# ---- the two rootfs ------------------------------------------------------------------
def shift_tree(top):
    """What the sandbox's unpack does for its user namespace: every owner + SHIFT (the
    mode is put back: chown clears set-id bits)."""
    def one(p):
        st = os.lstat(p)
        os.lchown(p, st.st_uid + SHIFT, st.st_gid + SHIFT)
        if not os.path.islink(p) and st.st_mode & 0o6000:
            os.chmod(p, st.st_mode & 0o7777)

    one(top)
    for dirpath, dirs, files in os.walk(top):
        for name in dirs + files:
            one(os.path.join(dirpath, name))

shift_tree(rootfs_vx)
with open(os.path.join(bundle, "config.json")) as f:
    spec = json.load(f)
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
spec["process"].update({"terminal": False, "args": NGINX, "cwd": "/",
                        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]})
spec["process"]["capabilities"] = {k: caps for k in
                                   ("bounding", "effective", "permitted")}
spec["root"]["readonly"] = False
spec["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}],
                              "memory": {"limit": 512 << 20, "swap": 512 << 20},
                              "pids": {"limit": 256},
                              "cpu": {"quota": 100000, "period": 100000}}
with open(os.path.join(bundle, "config.json"), "w") as f:
    json.dump(spec, f)

# ---- measuring -----------------------------------------------------------------------
def wait_file(path, proc, deadline):
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("ended early: %s" % proc.stderr.read())
        time.sleep(0.001)
    raise RuntimeError("no pid file %s" % path)

def first_200(pid, deadline):
    """Polls GET / on 127.0.0.1:80 in the network namespace of pid until a 200."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    ns = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY)
    try:
        if libc.setns(ns, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", 80), timeout=1) as s:
                    s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    line = s.recv(64)
                if line.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                    return time.monotonic()
            except OSError:
                pass
            time.sleep(0.001)
        raise RuntimeError("no HTTP 200 from pid %d" % pid)
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(own)
        os.close(ns)

def leftovers(name, cg2):
    bad = ["cgroup v2 " + cg2] if cg2.startswith("/") and os.path.exists(cg2) else []
    r = subprocess.run(["runc", "--root", os.path.join(state, "runc"), "list", "-q"],
                       capture_output=True, text=True)
    if name in r.stdout.split():
        bad.append("runc container")
    with open("/proc/mounts") as f:
        if state in f.read():
            bad.append("mount")
    for d in os.listdir("/sys/fs/cgroup"):
        for p in ("/sys/fs/cgroup/%s/vexxy/%s" % (d, name), "/sys/fs/cgroup/%s/%s" % (d, name)):
            if os.path.exists(p):
                bad.append("cgroup " + p)
    if os.path.exists(os.path.join(state, "run", name)):
        bad.append("scratch dir")
    return bad

seq = [0]

def run_vexxy():
    seq[0] += 1
    pidfile = os.path.join(tmp, "vx-%d.pid" % seq[0])
    cmd = [vexxy, "sandbox", "run", rootfs_vx, "--state-dir", state, "--json", "--timeout",
           "120", "--pid-file", pidfile]
    for a in NGINX:
        cmd += ["--command", a]
    t_spawn = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = t_spawn + 30
    pid = wait_file(pidfile, proc, deadline)
    t_started = time.monotonic()
    t_200 = first_200(pid, deadline)
    t_stop = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    t_exit = time.monotonic()
    doc = json.loads(out)
    tm = doc["timings_ms"]
    name = os.path.basename(doc["cgroup_v2"])
    return {"create_health_ms": 1000 * (t_200 - t_spawn) - tm["prepare"],
            "stop_clean_ms": tm["stop"] + tm["destroy"],
            "started_200_ms": 1000 * (t_200 - t_started),
            "sigterm_exit_ms": 1000 * (t_exit - t_stop),
            "timings_ms": tm, "signal": doc["exit"]["signal"], "leftovers": leftovers(name, doc["cgroup_v2"])}

def run_runc():
    seq[0] += 1
    cid = "vx-bench-base-%d" % seq[0]
    pidfile = os.path.join(tmp, "base-%d.pid" % seq[0])
    rc = ["runc", "--root", runc_root]
    t_spawn = time.monotonic()
    subprocess.run(rc + ["run", "-d", "--bundle", bundle, "--pid-file", pidfile, cid],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = t_spawn + 30
    pid = wait_file(pidfile, None, deadline)
    t_200 = first_200(pid, deadline)
    t_stop = time.monotonic()
    subprocess.run(rc + ["kill", cid, "TERM"], check=True)
    _, status = os.waitpid(pid, 0)
    subprocess.run(rc + ["delete", cid], check=True)
    t_gone = time.monotonic()
    bad = []
    for d in os.listdir("/sys/fs/cgroup"):
        if os.path.exists("/sys/fs/cgroup/%s/%s" % (d, cid)):
            bad.append("cgroup " + d)
    return {"create_health_ms": 1000 * (t_200 - t_spawn),
            "stop_clean_ms": 1000 * (t_gone - t_stop),
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0, "leftovers": bad}

sides = [("vexxy", run_vexxy), ("runc", run_runc)]
print("== warm-up, then %d rounds (order alternated)" % runs, flush=True)
for _, fn in sides:
    fn()
res = {"vexxy": [], "runc": []}
for i in range(runs):
    for key, fn in (sides if i % 2 == 0 else sides[::-1]):
        res[key].append(fn())

def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]

def col(key, field):
    return [r[field] for r in res[key]]

print()
print("%-22s %11s %9s %11s %9s %7s %9s  %s" % ("phase", "vexxy med", "p90", "runc med", "p90",
                                             "ratio", "target", "result"))
report = {"runs": runs, "unix_time": int(time.time()), "cases": [], "samples": res}
for field, label, target in (("create_health_ms", "create -> health 200", 150),
                             ("stop_clean_ms", "stop -> cleaned", 100)):
    v, b = col("vexxy", field), col("runc", field)
    vm, bm = statistics.median(v), statistics.median(b)
    ok = vm < target
    print("%-22s %8.1f ms %6.1f ms %8.1f ms %6.1f ms %6.2fx %6s ms  %s"
          % (label, vm, p90(v), bm, p90(b), vm / bm if bm else float("inf"), "< %d" % target,
             "pass" if ok else "MISS"))
    report["cases"].append({"case": label, "vexxy_median_ms": round(vm, 1),
                            "vexxy_p90_ms": round(p90(v), 1), "runc_median_ms": round(bm, 1),
                            "runc_p90_ms": round(p90(b), 1), "target_ms": target, "pass": ok})
print()
tms = [r["timings_ms"] for r in res["vexxy"]]
print("vexxy --json medians: prepare %d, create %d, start %d, stop %d, destroy %d ms; "
      "pid file -> first 200 %.1f ms; outside SIGTERM -> exit %.1f ms (CLI polls signals "
      "every 100 ms)" % tuple([statistics.median(t[k] for t in tms)
                                for k in ("prepare", "create", "start", "stop", "destroy")] +
                               [statistics.median(col("vexxy", "started_200_ms")),
                                statistics.median(col("vexxy", "sigterm_exit_ms"))]))
for key in ("vexxy", "runc"):
    bad = [r["leftovers"] for r in res[key] if r["leftovers"]]
    killed = sum(1 for r in res[key] if r["signal"] not in (0, signal.SIGTERM))
    print("%s: %d/%d runs left something behind%s; %d needed more than SIGTERM"
          % (key, len(bad), runs, (": %s" % bad[0]) if bad else "", killed))
with open(out_json, "w") as f:
    json.dump(report, f, indent=1)
print("(wall-clock medians of %d runs each, 2 cores shared with whatever else runs; "
      "samples in %s)" % (runs, out_json))
PY
