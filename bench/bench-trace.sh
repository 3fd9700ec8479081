#!/usr/bin/env bash
# bench-trace.sh -- what tracing costs (issue 6): the demo image's nginx under a fixed HTTP
# load, untraced and under each tracer backend, against `strace -f` in the same run; plus
# the per-syscall tax the loaded tracers put on the host.
#
# Builds vexxy and tests' netchroot (Release, tests on; netchroot needs the static glibc) in
# build-bench/ (BENCH_BUILD_DIR) and bench/bench-trace-openloop.c with cc, unpacks the demo
# OCI layout of the fixtures (tests/fixtures/fixtures.sh images: cached, not rebuilt). The
# workload is the setup of tests/trace/test_trace_recall.py, the same in every variant:
#   netchroot ROOTFS /usr/sbin/nginx -g 'daemon off;'
# (static; a network namespace of its own with lo up, chroot into the unpacked rootfs, exec
# of the image's nginx with its own config: master + workers), run as is or wrapped:
#   untraced        (nothing)
#   fanotify        vexxy trace --tracer fanotify -o PROFILE --
#   fanotify+ebpf   vexxy trace --tracer fanotify,ebpf -o PROFILE --
#   ptrace          vexxy trace --tracer ptrace -o PROFILE --   (ptrace + seccomp-bpf filter)
#   strace -f       strace -f -qq -o FILE --   (every syscall, the usual invocation)
# Once nginx answers GET / inside its namespace, the load is `ab -n BENCH_REQUESTS (10000)
# -c 8 http://127.0.0.1/` run there with nsenter --net (no keep-alive: a connection, an
# accept and an open of index.html per request); the measured wall is ab's "Time taken for
# tests" (load only, not start-up or stop). Then the master gets SIGTERM and the run must
# end cleanly. BENCH_RUNS (default 5) rounds, the order of the variants rotated every round,
# after one untimed warm-up of each; medians. Per traced run, the tracer's own CPU time
# (utime+stime of the tracer processes from /proc/PID/stat: the wrapper and every descendant
# outside the chroot; during the load, and over its whole life up to the SIGTERM) and max
# RSS (VmHWM). eBPF programs run in the traced processes' context, so their cost shows in
# the wall ratio, not in the tracer's CPU.
# Host tax: bench-trace-openloop (BENCH_LOOP pairs, default 100000, of openat+close on a
# file) on the host with nothing loaded, then while `vexxy trace --tracer T -- sleep` holds
# the backend loaded (T = ebpf, fanotify: the loop is not traced, it is any other host
# process), and the loop itself traced (`vexxy trace --tracer T -- openloop`); ns per pair,
# medians of 3 interleaved rounds.
# Targets (wall ratio to untraced): fanotify <= 1.10x, fanotify+eBPF <= 1.20x,
# ptrace+seccomp <= 1.6x; strace -f is the reference (measured ~3.3-6x before). Prints the
# table, pass/MISS per target; samples in BUILD/bench-trace.json. Needs root, ab (apt-get
# install apache2-utils when missing), strace, nsenter. Exits 0 whether or not a target is
# met. Takes 2-4 minutes. Not part of `make test`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
runs=${BENCH_RUNS:-5}
requests=${BENCH_REQUESTS:-10000}
loop=${BENCH_LOOP:-100000}

[ "$(id -u)" = 0 ] || { echo "bench-trace: needs root (tracers)" >&2; exit 2; }
if ! command -v ab >/dev/null; then
    echo "== installing ab (apache2-utils)"
    apt-get install -y -q apache2-utils >/dev/null
fi
for tool in strace nsenter cc cmake; do
    command -v "$tool" >/dev/null || { echo "bench-trace: '$tool' missing: run make deps" >&2; exit 2; }
done

echo "== building Release vexxy, netchroot and bench-trace-openloop in $build/"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVX_BUILD_TESTS=ON >/dev/null
cmake --build "$build" --target vexxy vx_netchroot -j2 >/dev/null || {
    echo "bench-trace: cannot build netchroot (static glibc: libc6-dev)" >&2
    exit 2
}
bin=$(realpath "$build/src/cmd/vexxy")
netchroot=$(realpath "$build/tests/trace/netchroot")
openloop="$(realpath "$build")/bench-trace-openloop"
cc -O2 -Wall -Wextra -o "$openloop" bench/bench-trace-openloop.c
mkdir -p "$build/fixtures"
tests/fixtures/fixtures.sh images "$build/fixtures" >/dev/null
# shellcheck disable=SC1091
. "$build/fixtures/images.env"

# next to the build's binaries: /tmp may be mounted noexec
tmp=$(mktemp -d "$(realpath "$build")/bench-trace.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
chmod 0755 "$tmp" # nginx's workers run as www-data
echo "== unpacking the demo image"
"$bin" image unpack "oci:$VEXXY_FIXTURE_DEMO" --dest "$tmp/rootfs" --cache-dir "$tmp/cache" \
    >/dev/null

/usr/bin/python3 - "$bin" "$netchroot" "$openloop" "$tmp" "$runs" "$requests" "$loop" \
    "$build/bench-trace.json" <<'PY'
import ctypes, json, os, re, signal, socket, statistics, subprocess, sys, time

vexxy, netchroot, openloop_bin, tmp, runs, requests, loop, out_json = sys.argv[1:9]
runs, requests, loop = int(runs), int(requests), int(loop)
rootfs = os.path.join(tmp, "rootfs")
NGINX = ["/usr/sbin/nginx", "-g", "daemon off;"]
CLK = os.sysconf("SC_CLK_TCK")
libc = ctypes.CDLL(None, use_errno=True)


def wrap(tracer):
    return [vexxy, "trace", "--tracer", tracer, "-o", os.path.join(tmp, "profile.json"), "--"]


VARIANTS = [("untraced", []), ("fanotify", wrap("fanotify")),
            ("fanotify+ebpf", wrap("fanotify,ebpf")), ("ptrace", wrap("ptrace")),
            ("strace -f", ["strace", "-f", "-qq", "-o", os.path.join(tmp, "strace.out"), "--"])]
TARGETS = {"fanotify": 1.10, "fanotify+ebpf": 1.20, "ptrace": 1.6}


# ---- /proc helpers -----------------------------------------------------------------------
def children(pid):
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree(pid):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


def proc_root(pid):
    try:
        return os.readlink("/proc/%d/root" % pid)
    except OSError:
        return None


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime (all threads)
    except (OSError, IndexError):
        return 0.0


def hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"^VmHWM:\s+(\d+)", f.read(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def wait_200(pid, deadline):
    """GET / on 127.0.0.1:80 in pid's network namespace until a 200."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    ns = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY)
    try:
        if libc.setns(ns, 0x40000000) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", 80), timeout=1) as s:
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("nginx did not answer")
    finally:
        libc.setns(own, 0x40000000)
        os.close(own)
        os.close(ns)


# ---- one run of nginx under load ---------------------------------------------------------
def run(name, wrapper):
    p = subprocess.Popen(wrapper + [netchroot, rootfs] + NGINX, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        work = []
        while not work and time.monotonic() < deadline and p.poll() is None:
            work = [q for q in tree(p.pid) if proc_root(q) == rootfs]
            time.sleep(0.01)
        if not work:
            raise RuntimeError("%s: nginx did not start: %s" % (name, p.stderr.read()))
        wait_200(work[0], deadline)
        tracer = [q for q in tree(p.pid) if proc_root(q) != rootfs] if wrapper else []
        cpu0 = sum(cpu_s(q) for q in tracer)
        ab = subprocess.run(["nsenter", "--net=/proc/%d/ns/net" % work[0], "ab", "-q", "-n",
                             str(requests), "-c", "8", "http://127.0.0.1:80/"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=600)
        m = re.search(r"Time taken for tests:\s+([\d.]+) seconds", ab.stdout)
        done = re.search(r"Complete requests:\s+(\d+)", ab.stdout)
        bad = re.search(r"Failed requests:\s+(\d+)", ab.stdout)
        non2xx = re.search(r"Non-2xx responses:\s+(\d+)", ab.stdout)
        if ab.returncode != 0 or not m or int(done.group(1)) != requests or \
                int(bad.group(1)) != 0 or non2xx:
            raise RuntimeError("%s: ab failed: %s" % (name, ab.stdout[-800:]))
        tracer = [q for q in tree(p.pid) if proc_root(q) != rootfs] if wrapper else []
        cpu1 = sum(cpu_s(q) for q in tracer)
        rss = sum(hwm_kb(q) for q in tracer)
        masters = [q for q in tree(p.pid) if proc_root(q) == rootfs and
                   proc_root(int(open("/proc/%d/stat" % q).read().rsplit(")", 1)[1].split()[1]))
                   != rootfs]
        for q in masters:
            os.kill(q, signal.SIGTERM)
        rc = p.wait(timeout=120)
        if rc != 0:
            raise RuntimeError("%s: exit %d: %s" % (name, rc, p.stderr.read()[-800:]))
        return {"wall_s": float(m.group(1)), "tracer_cpu_load_s": round(cpu1 - cpu0, 3),
                "tracer_cpu_total_s": round(cpu1, 3), "tracer_maxrss_kb": rss}
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for f in ("profile.json", "strace.out"):
            try:
                os.unlink(os.path.join(tmp, f))
            except FileNotFoundError:
                pass


# ---- the host tax: openat+close loop -----------------------------------------------------
target_file = os.path.join(tmp, "openloop-target")
open(target_file, "w").close()


def openloop(prefix=()):
    r = subprocess.run(list(prefix) + [openloop_bin, str(loop), target_file], check=True,
                       stdout=subprocess.PIPE, text=True)
    return float(r.stdout.split()[0])


def openloop_loaded(tracer):
    """The loop as another host process while `vexxy trace --tracer T -- sleep` runs: the
    backend is armed before the traced command's first instruction, so once sleep runs the
    programs/marks are in place."""
    p = subprocess.Popen(wrap(tracer) + ["/bin/sleep", "600"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        sleeper = None
        while sleeper is None and time.monotonic() < deadline and p.poll() is None:
            for q in tree(p.pid)[1:]:
                try:
                    if os.readlink("/proc/%d/exe" % q).endswith("/sleep"):
                        sleeper = q
                except OSError:
                    pass
            time.sleep(0.01)
        if sleeper is None:
            raise RuntimeError("vexxy trace --tracer %s did not start sleep" % tracer)
        return openloop()
    finally:
        if sleeper:
            os.kill(sleeper, signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


LOOPS = [("host, nothing loaded", lambda: openloop()),
         ("host, ebpf loaded", lambda: openloop_loaded("ebpf")),
         ("host, fanotify loaded", lambda: openloop_loaded("fanotify")),
         ("traced by ebpf", lambda: openloop(wrap("ebpf"))),
         ("traced by fanotify", lambda: openloop(wrap("fanotify"))),
         ("traced by ptrace", lambda: openloop(wrap("ptrace")))]

# ---- rounds --------------------------------------------------------------------------------
t_start = time.monotonic()
print("== nginx, ab -n %d -c 8: warm-up, then %d rounds (order rotated)" % (requests, runs),
      flush=True)
for name, w in VARIANTS:
    run(name, w)
res = {name: [] for name, _ in VARIANTS}
for i in range(runs):
    k = i % len(VARIANTS)
    for name, w in VARIANTS[k:] + VARIANTS[:k]:
        res[name].append(run(name, w))
    print("   round %d/%d done (%.0f s)" % (i + 1, runs, time.monotonic() - t_start), flush=True)
print("== openat+close loop, %d pairs: 3 rounds (order rotated)" % loop, flush=True)
tax = {name: [] for name, _ in LOOPS}
for i in range(3):
    k = i % len(LOOPS)
    for name, fn in LOOPS[k:] + LOOPS[:k]:
        tax[name].append(fn())

# ---- report --------------------------------------------------------------------------------
med = lambda xs: statistics.median(xs)
base = med([r["wall_s"] for r in res["untraced"]])
print()
print("nginx, %d requests (ab -c 8, no keep-alive), medians of %d rounds:" % (requests, runs))
print("%-14s %8s %8s %7s %10s %10s %10s %8s  %s" % ("variant", "wall s", "req/s", "ratio",
                                                  "cpu load", "cpu total", "max RSS",
                                                  "target", "result"))
report = {"runs": runs, "requests": requests, "loop": loop, "unix_time": int(time.time()),
          "nginx": res, "openloop_ns": tax, "cases": []}
for name, _ in VARIANTS:
    rs = res[name]
    w = med([r["wall_s"] for r in rs])
    ratio = w / base
    t = TARGETS.get(name)
    verdict = ("pass" if ratio <= t else "MISS") if t else \
        ("(baseline)" if name == "untraced" else "(reference)")
    tracer = name != "untraced"
    cl = med([r["tracer_cpu_load_s"] for r in rs])
    ct = med([r["tracer_cpu_total_s"] for r in rs])
    mr = med([r["tracer_maxrss_kb"] for r in rs])
    print("%-14s %8.3f %8.0f %6.2fx %10s %10s %10s %8s  %s"
          % (name, w, requests / w, ratio, "%.2f s" % cl if tracer else "-",
             "%.2f s" % ct if tracer else "-", "%.1f MB" % (mr / 1024) if tracer else "-",
             "<= %.2fx" % t if t else "", verdict))
    report["cases"].append({"variant": name, "wall_median_s": w, "ratio": round(ratio, 3),
                            "target_ratio": t, "pass": (ratio <= t) if t else None,
                            "tracer_cpu_load_median_s": cl, "tracer_cpu_total_median_s": ct,
                            "tracer_maxrss_median_kb": mr})
print()
h0 = med(tax["host, nothing loaded"])
print("openat+close pair, %d per run, medians of 3 (ns per pair; + = tax over the bare "
      "host loop):" % loop)
for name, _ in LOOPS:
    v = med(tax[name])
    print("  %-24s %8.0f ns  %+7.0f ns  (%.2fx)" % (name, v, v - h0, v / h0))
with open(out_json, "w") as f:
    json.dump(report, f, indent=1)
print("(%.0f s in all; cpu = the tracer processes' utime+stime during the load / over their "
      "life, max RSS = their VmHWM; eBPF programs run in the traced processes and show in "
      "the wall only; samples in %s)" % (time.monotonic() - t_start, out_json))
PY
