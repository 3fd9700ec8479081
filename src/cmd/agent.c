/* agent.c -- `vexxy sandbox agent`: the tracer sidecar of a Kubernetes sandbox pod.
 *
 * It does inside the pod what the local sandbox phase (queue/phase_sandbox.c) does around a
 * runc container, and reports what it measured on its stdout, which the worker reads from the
 * pod's log (queue/phase_kube.c).
 *
 * DESIGN
 * The pod (built by the worker): an emptyDir at SYNC (/vexxy) in every container, one PID
 * namespace (shareProcessNamespace) and, as always, one network namespace. The init container
 * put the static waiter at SYNC/vexxy-wait (cmd/wait.c); the target container runs
 * `SYNC/vexxy-wait -- ENTRYPOINT CMD` with VEXXY_ROLE=target and waits for SYNC/go.
 *   find     scan /proc (every 100 ms, at most --find-timeout) for the process whose environ
 *            holds VEXXY_ROLE=target and whose exe is vexxy-wait; one that already runs its
 *            workload was released before any tracer was attached: an error, never a profile.
 *   attach   the target's root is pinned by an O_PATH fd and given to the tracer as
 *            /proc/self/fd/N, so paths still resolve (and ELF labels still read) after the
 *            workload and its mount namespace are gone; its pid (fanotify marks the mounts of
 *            its mount namespace); its cgroup v2 directory (eBPF, uprobes) when it has one of
 *            its own; the --symbol functions.
 *   go       SYNC/go is created: the waiter execs the workload, traced from its first
 *            instruction. The window starts here.
 *   exercise as the local phase: health check (in the pod's network namespace, which is
 *            ours) -> with --test-script: SYNC/healthy, then wait for SYNC/test-done (at most
 *            --test-timeout; the script's processes are killed when it passes) and read its
 *            exit code and SYNC/test-output (capped) -> crawl/fuzz with what is left of the
 *            window (at least 2 s).
 *   observe  until --duration since go, or until the target exited.
 *   end      SIGTERM to every process whose root is the target's, SIGKILL after 2 s; then the
 *            tracer is stopped (drained), so the workload's shutdown is in the profile.
 *   report   ONE line on stdout: "VEXXY-AGENT-REPORT " + compact JSON {"version":1,"facts",
 *            "exercise","test_script","profile","error"}. A failure after the options were
 *            read is a report with "error" set (exit 0): the worker then fails the job with
 *            that message. Usage errors exit 2. Logs go to stderr.
 * SIGTERM/SIGINT (the pod deleted on cancel) are blocked and polled: the run stops early, the
 * target is ended and a report with an error is still printed.
 */
#include "common/setup.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/alloc.h"
#include "common/buf.h" /* the test script's output */
#include "common/err.h"
#include "common/json.h" /* the report */
#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox.h" /* the exerciser and the profiles' presets */
#include "trace/trace.h"     /* the tracer */
#include "reach/reach.h"     /* struct vx_run_facts: the facts the report carries */

#define AGENT_MARK      "VEXXY-AGENT-REPORT "
#define MAX_PORTS       64
#define MAX_SYMBOLS     256
#define ENVIRON_MAX     (256u << 10)
#define STOP_GRACE_MS   2000
#define POLL_MS         100
#define TARGET_ROLE     "VEXXY_ROLE=target"
#define TEST_SCRIPT_ENV "VEXXY_TEST_SCRIPT="
#define MIN_CRAWL_MS    2000

static const char usage[] =
    "usage: vexxy sandbox agent --duration SECONDS [--port N]... [--health-path PATH]\n"
    "                           [--health-timeout SECONDS]\n"
    "                           [--profile minimal|standard|comprehensive] [--no-fuzz]\n"
    "                           [--tracer LIST] [--symbol PATH:NAME]... [--test-script]\n"
    "                           [--test-timeout SECONDS] [--sync-dir DIR]\n"
    "                           [--find-timeout SECONDS]\n"
    "The tracer sidecar of a Kubernetes sandbox pod (shareProcessNamespace, an emptyDir at\n"
    "the sync dir): finds the target container's process (VEXXY_ROLE=target, held by\n"
    "vexxy-wait), attaches the tracer, creates SYNC/go, exercises the workload, ends it and\n"
    "prints one line 'VEXXY-AGENT-REPORT {json}' (facts, exercise, test script, profile,\n"
    "error) on stdout. Logs go to stderr.\n"
    "  --duration SECONDS     observe the workload this long after SYNC/go (required)\n"
    "  --port N               a TCP port of the workload to health-check and crawl\n"
    "                         (repeatable, up to 64); without ports nothing is exercised\n"
    "  --health-path PATH     HTTP path of the health check (default '/'; with ports)\n"
    "  --health-timeout SECS  how long the health check may wait (default 30, within the\n"
    "                         window)\n"
    "  --profile NAME         minimal|standard|comprehensive: request budget and fuzzing\n"
    "                         (default standard)\n"
    "  --no-fuzz              crawl only, no mutated requests\n"
    "  --tracer LIST          auto (default) or a comma list: fanotify, ebpf, ptrace, uprobe\n"
    "  --symbol PATH:NAME     count calls of function NAME of the in-image ELF file PATH\n"
    "                         (repeatable, up to 256; split at the last ':')\n"
    "  --test-script          a test-script container runs in the pod: after the health\n"
    "                         check SYNC/healthy is created, then SYNC/test-done (its exit\n"
    "                         code) and SYNC/test-output are awaited\n"
    "  --test-timeout SECS    at most this long for the test script (default 300); its\n"
    "                         processes are killed when it passes\n"
    "  --sync-dir DIR         the shared emptyDir (default /vexxy)\n"
    "  --find-timeout SECS    how long to look for the target (default 60)\n"
    "Exit status: 0 the report was printed (even one with an error), 2 usage error.";

struct agent_opts {
    int64_t duration_ms, health_timeout_ms, test_timeout_ms, find_timeout_ms;
    int ports[MAX_PORTS];
    size_t n_ports;
    const char *health_path, *tracers, *sync_dir;
    const struct vx_profile *profile;
    bool fuzz, test_script;
    char *sym_args[MAX_SYMBOLS];
    const char *sym_paths[MAX_SYMBOLS], *sym_names[MAX_SYMBOLS];
    size_t n_sym;
};

/* The target: its pid, start time (against pid reuse) and pinned root. */
struct target {
    pid_t pid;
    uint64_t start; /* field 22 of /proc/<pid>/stat */
    int root_fd;    /* O_PATH of /proc/<pid>/root */
    dev_t root_dev;
    ino_t root_ino;
    char root[64]; /* "/proc/self/fd/<root_fd>" */
    char *cgroup;  /* its own cgroup v2 directory, or NULL */
};

/* ---- /proc ------------------------------------------------------------------------------ */

/* Reads a whole small /proc file (at most max bytes); NULL on error. *len gets its size. */
static char *read_proc(pid_t pid, const char *what, size_t max, size_t *len)
{
    char path[64], chunk[4096];
    struct vx_buf b = VX_BUF_INIT(max);
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (vx_buf_add(&b, chunk, (size_t)n) < 0)
            break;
    close(fd);
    if (n < 0) {
        vx_buf_release(&b);
        return NULL;
    }
    return vx_buf_detach(&b, len);
}

/* environ holds the NUL-terminated entry 'entry' (or, with prefix, one starting with it). */
static bool environ_has(pid_t pid, const char *entry, bool prefix)
{
    size_t len = 0, el = strlen(entry);
    char *env = read_proc(pid, "environ", ENVIRON_MAX, &len);
    bool found = false;

    for (size_t off = 0; env && off < len && !found;) {
        size_t n = strnlen(env + off, len - off);

        found = prefix ? n >= el && !memcmp(env + off, entry, el)
                       : n == el && !memcmp(env + off, entry, el);
        off += n + 1;
    }
    free(env);
    return found;
}

/* State letter and start time of pid ('\0' when gone); *wstatus = exit status of a zombie. */
static char proc_state(pid_t pid, uint64_t *start, int *wstatus)
{
    char *stat = read_proc(pid, "stat", 4096, NULL), *p, state;
    unsigned long long v = 0;
    int field = 3;

    if (!stat)
        return '\0';
    p = strrchr(stat, ')');
    if (!p || p[1] != ' ' || !p[2]) {
        free(stat);
        return '\0';
    }
    state = p[2];
    /* fields after the state: 4.. ; 22 is starttime, 52 exit_code */
    for (p += 3; *p; p++) {
        if (*p != ' ')
            continue;
        field++;
        if (field == 22 && start) {
            v = strtoull(p + 1, NULL, 10);
            *start = v;
        }
        if (field == 52 && wstatus)
            *wstatus = (int)strtol(p + 1, NULL, 10);
    }
    free(stat);
    return state;
}

static bool exe_is_waiter(pid_t pid)
{
    char path[64], exe[4096];
    ssize_t n;
    const char *base;

    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
        exe[n - 10] = '\0';
    base = strrchr(exe, '/');
    return !strcmp(base ? base + 1 : exe, "vexxy-wait");
}

/* One scan: the waiting target (lowest pid), or -1 with *running set to a target process that
 * already runs its workload. */
static pid_t scan_target(pid_t *running)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t best = -1, self = getpid();

    *running = 0;
    if (!d)
        return -1;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);

        if (*end || pid <= 0 || pid == self || !environ_has((pid_t)pid, TARGET_ROLE, false))
            continue;
        if (exe_is_waiter((pid_t)pid)) {
            if (best < 0 || pid < best)
                best = (pid_t)pid;
        } else if (!*running || pid < *running) {
            *running = (pid_t)pid;
        }
    }
    closedir(d);
    return best;
}

/* The cgroup v2 hierarchy's mount: /sys/fs/cgroup, or its unified mount on a hybrid host. */
static const char *cgroup2_base(void)
{
    static const char *const bases[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    struct statfs sf;

    for (size_t i = 0; i < VX_ARRAY_SIZE(bases); i++)
        if (statfs(bases[i], &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
            return bases[i];
    return NULL;
}

/* The "0::/path" line of /proc/<pid>/cgroup; caller frees. */
static char *cgroup2_path(pid_t pid)
{
    char *text = read_proc(pid, "cgroup", 65536, NULL), *line, *save = NULL, *out = NULL;

    for (line = text ? strtok_r(text, "\n", &save) : NULL; line && !out;
         line = strtok_r(NULL, "\n", &save))
        if (!strncmp(line, "0::", 3))
            out = vx_xstrdup(line + 3);
    free(text);
    return out;
}

/* The target's cgroup v2 directory when it is its own: not the root, not ours, visible
 * from our cgroup namespace. NULL otherwise (the tracer then scopes by pid). */
static char *target_cgroup(pid_t pid)
{
    const char *base = cgroup2_base();
    char *theirs = cgroup2_path(pid), *mine = cgroup2_path(getpid()), *dir = NULL;
    struct stat st;

    if (!base || !theirs) {
        vx_warn("agent: no cgroup v2 for the target; the tracer scopes by pid");
    } else if (!strcmp(theirs, "/") || strstr(theirs, "/..") || (mine && !strcmp(theirs, mine))) {
        vx_warn("agent: the target's cgroup '%s' is not its own here; the tracer scopes by pid",
                theirs);
    } else {
        dir = vx_xasprintf("%s%s", base, theirs);
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            vx_warn("agent: cgroup dir '%s': %s; the tracer scopes by pid", dir, strerror(errno));
            free(dir);
            dir = NULL;
        }
    }
    free(theirs);
    free(mine);
    return dir;
}

/* Sends sig to every process whose root is the target's (or whose environ holds the test
 * script's variable, with test_script); returns how many are left alive. */
static size_t signal_group(const struct target *t, bool test_script, int sig)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t self = getpid();
    size_t n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d))) {
        char *end, path[64];
        long pid = strtol(de->d_name, &end, 10);
        struct stat st;
        bool match;

        if (*end || pid <= 1 || pid == self)
            continue;
        if (test_script) {
            match = environ_has((pid_t)pid, TEST_SCRIPT_ENV, true);
        } else {
            snprintf(path, sizeof(path), "/proc/%ld/root", pid);
            /* a zombie has no root any more: it is gone for this purpose */
            match = stat(path, &st) == 0 && st.st_dev == t->root_dev && st.st_ino == t->root_ino;
        }
        if (match && proc_state((pid_t)pid, NULL, NULL) != 'Z') {
            if (sig)
                (void)kill((pid_t)pid, sig);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* SIGTERM, then SIGKILL after grace_ms, to the target's (or the test script's) processes. */
static void end_group(const struct target *t, bool test_script, int64_t grace_ms)
{
    int64_t deadline = vx_mono_ms() + grace_ms;
    size_t n = signal_group(t, test_script, test_script ? SIGKILL : SIGTERM);

    while (n && vx_mono_ms() < deadline) {
        struct timespec ts = {0, 50 * 1000 * 1000L};

        nanosleep(&ts, NULL);
        n = signal_group(t, test_script, 0);
    }
    if (n) {
        vx_warn("agent: %zu process(es) still up after %" PRId64 " ms: SIGKILL", n, grace_ms);
        signal_group(t, test_script, SIGKILL);
    }
}

/* Whether the target still runs; on exit, *code gets its status when it can be read
 * (a zombie not yet reaped by its parent), else -1. */
static bool target_running(const struct target *t, int *code)
{
    uint64_t start = 0;
    int ws = -1;
    char st = proc_state(t->pid, &start, &ws);

    if (st != '\0' && st != 'Z' && start == t->start)
        return true;
    *code = -1;
    if (st == 'Z' && start == t->start && ws >= 0)
        *code = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : -1;
    return false;
}

/* ---- signals (blocked, polled: no handler, no global state) ----------------------------- */

static bool stop_signalled(void *arg)
{
    sigset_t pending;

    (void)arg;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

/* ---- sync files ------------------------------------------------------------------------- */

static int touch(const char *dir, const char *name, struct vx_err **err)
{
    char *path = vx_xasprintf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    int r = 0;

    if (fd < 0)
        r = vx_err_set(err, VX_E_IO, errno, "create '%s': %s", path, strerror(errno));
    else
        close(fd);
    free(path);
    return r;
}

/* Text with every byte that is not part of valid UTF-8 (and NUL) replaced by '?', so the
 * report stays JSON whatever the script printed. In place. */
static void utf8_sanitize(char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = n > 0 && i + n <= len && c != 0;

        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && n == 2)
            ok = c >= 0xc2;
        if (ok && n == 3) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
        }
        if (ok && n == 4) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = c <= 0xf4 && !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
        }
        if (!ok) {
            s[i++] = '?';
            continue;
        }
        i += n;
    }
}

/* The script's output file, capped at VX_TEST_SCRIPT_OUTPUT_MAX (the start is kept). */
static char *read_output(const char *dir)
{
    char *path = vx_xasprintf("%s/test-output", dir);
    char *buf = vx_xmalloc(VX_TEST_SCRIPT_OUTPUT_MAX + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    size_t len = 0;

    while (fd >= 0 && len < VX_TEST_SCRIPT_OUTPUT_MAX) {
        ssize_t n = read(fd, buf + len, VX_TEST_SCRIPT_OUTPUT_MAX - len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    buf[len] = '\0';
    utf8_sanitize(buf, len);
    free(path);
    return buf;
}

/* Waits for SYNC/test-done (its content: the exit code) at most timeout_ms. */
static void wait_test_script(const struct agent_opts *o, const struct target *t,
                             struct vx_test_script_result *tsr)
{
    char *done = vx_xasprintf("%s/test-done", o->sync_dir);
    int64_t t0 = vx_mono_ms(), deadline = t0 + o->test_timeout_ms;
    struct stat st;

    tsr->exit_code = -1;
    while (stat(done, &st) < 0 && vx_mono_ms() < deadline && !stop_signalled(NULL)) {
        struct timespec ts = {0, POLL_MS * 1000 * 1000L};

        nanosleep(&ts, NULL);
    }
    tsr->ran_ms = vx_mono_ms() - t0;
    if (stat(done, &st) == 0) {
        char buf[32] = "";
        int fd = open(done, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        int64_t code;

        if (fd >= 0)
            close(fd);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\r\n ")] = '\0';
        tsr->ran = true;
        if (vx_parse_i64(buf, 0, 255, &code) == 0)
            tsr->exit_code = (int)code;
        else
            vx_warn("agent: test-done holds '%s', not an exit code", buf);
    } else {
        /* it started (the container runs from the pod's start) but did not finish */
        tsr->ran = true;
        tsr->timed_out = true;
        vx_warn("agent: the test script did not finish within %" PRId64 " ms: killed",
                o->test_timeout_ms);
        end_group(t, true, 0);
    }
    tsr->output = read_output(o->sync_dir);
    free(done);
}

/* ---- the report ------------------------------------------------------------------------- */

struct agent_run {
    struct vx_run_facts facts;
    struct vx_exercise_report rep, hrep;
    bool exercised;
    struct vx_test_script_result tsr;
    struct vx_trace_profile *profile;
};

static void print_report(const struct agent_run *a, const struct agent_opts *o, const char *error)
{
    const struct vx_run_facts *f = &a->facts;
    json_t *rep = json_object(), *facts, *v = NULL;
    char *doc;

    facts = json_pack("{s:b,s:b,s:i,s:I,s:I,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:b,s:i}", "ran", f->ran,
                      "stayed_up", f->stayed_up, "exit_code", f->exit_code, "window_ms",
                      (json_int_t)f->window_ms, "window_wanted_ms", (json_int_t)f->window_wanted_ms,
                      "health_checked", f->health_checked, "health_ok", f->health_ok, "requests",
                      (json_int_t)f->requests, "endpoints", (json_int_t)f->endpoints, "status_2xx",
                      (json_int_t)f->status_2xx, "status_4xx", (json_int_t)f->status_4xx,
                      "status_5xx", (json_int_t)f->status_5xx, "test_script_ran",
                      f->test_script_ran, "test_script_exit", f->test_script_exit);
    json_object_set_new(rep, "version", json_integer(1));
    json_object_set_new(rep, "facts", facts);
    v = NULL;
    if (a->exercised) {
        doc = vx_exercise_json(&a->rep);
        if (vx_json_parse(doc, strlen(doc), &v, NULL) < 0)
            v = NULL;
        free(doc);
    }
    json_object_set_new(rep, "exercise", v ? v : json_null());
    if (o->test_script && a->tsr.ran)
        json_object_set_new(rep, "test_script",
                            json_pack("{s:b,s:i,s:b,s:I,s:s}", "ran", a->tsr.ran, "exit_code",
                                      a->tsr.exit_code, "timed_out", a->tsr.timed_out, "ran_ms",
                                      (json_int_t)a->tsr.ran_ms, "output",
                                      a->tsr.output ? a->tsr.output : ""));
    else
        json_object_set_new(rep, "test_script", json_null());
    v = NULL;
    if (a->profile) {
        doc = vx_trace_profile_json(a->profile);
        if (vx_json_parse(doc, strlen(doc), &v, NULL) < 0)
            v = NULL;
        free(doc);
    }
    json_object_set_new(rep, "profile", v ? v : json_null());
    json_object_set_new(rep, "error", error ? json_string(error) : json_null());
    doc = vx_json_dump(rep);
    /* one line, whole, after everything else: the worker takes the last one */
    fflush(stderr);
    printf("%s%s\n", AGENT_MARK, doc);
    fflush(stdout);
    free(doc);
    json_decref(rep);
}

/* ---- the run ---------------------------------------------------------------------------- */

static int find_target(const struct agent_opts *o, struct target *t, struct vx_err **err)
{
    int64_t deadline = vx_mono_ms() + o->find_timeout_ms;
    char *go = vx_xasprintf("%s/go", o->sync_dir);
    pid_t running = 0, pid;
    struct stat st;
    int r = 0;

    if (lstat(go, &st) == 0) {
        r = vx_err_set(err, VX_E_SANDBOX, 0,
                       "'%s' exists before the tracer attached: the target may already run "
                       "untraced",
                       go);
        goto out;
    }
    while ((pid = scan_target(&running)) < 0 && !running && vx_mono_ms() < deadline &&
           !stop_signalled(NULL)) {
        struct timespec ts = {0, POLL_MS * 1000 * 1000L};

        nanosleep(&ts, NULL);
    }
    if (pid < 0 && running) {
        r = vx_err_set(err, VX_E_SANDBOX, 0,
                       "the target (pid %d) already runs its workload: it was released before "
                       "the tracer attached",
                       (int)running);
        goto out;
    }
    if (pid < 0) {
        r = vx_err_set(err, VX_E_SANDBOX, 0,
                       "no target process (%s, exe vexxy-wait) appeared within %" PRId64 " s",
                       TARGET_ROLE, o->find_timeout_ms / 1000);
        goto out;
    }
    t->pid = pid;
    if (proc_state(pid, &t->start, NULL) == '\0') {
        r = vx_err_set(err, VX_E_SANDBOX, 0, "the target (pid %d) vanished", (int)pid);
        goto out;
    }
    {
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
        t->root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (t->root_fd < 0 || fstat(t->root_fd, &st) < 0) {
            r = vx_err_set(err, VX_E_SANDBOX, errno, "open '%s': %s", path, strerror(errno));
            goto out;
        }
    }
    t->root_dev = st.st_dev;
    t->root_ino = st.st_ino;
    snprintf(t->root, sizeof(t->root), "/proc/self/fd/%d", t->root_fd);
    t->cgroup = target_cgroup(pid);
    vx_info("agent: target pid %d, cgroup %s", (int)pid, t->cgroup ? t->cgroup : "(none)");
out:
    free(go);
    return r;
}

static int agent_run(const struct agent_opts *o, struct agent_run *a, struct vx_err **err)
{
    struct target t = {.root_fd = -1};
    struct vx_trace_engine *engine = NULL;
    struct vx_tracer *tracer = NULL;
    struct vx_trace_opts to = {0};
    struct vx_trace_target tt = {0};
    struct vx_exercise_config ec = {0};
    struct vx_run_facts *f = &a->facts;
    struct vx_err *e2 = NULL;
    bool running = true, health_first = false, target_found = false;
    int64_t started = 0, deadline, ended = 0;
    int code = -1, r;

    f->exit_code = -1;
    f->window_wanted_ms = o->duration_ms;
    r = find_target(o, &t, err);
    if (r < 0)
        goto out;
    target_found = true;

    r = vx_trace_engine_new(&engine, err);
    if (r < 0)
        goto out;
    to.backends = o->tracers;
    to.symbol_paths = o->sym_paths;
    to.symbol_names = o->sym_names;
    to.n_symbols = o->n_sym;
    tt.root = t.root;
    tt.cgroup_v2 = t.cgroup;
    tt.pid = t.pid;
    r = vx_tracer_attach(engine, &to, &tt, &tracer, err);
    if (r < 0) {
        vx_err_wrap(err, "tracer");
        goto out;
    }
    if (!target_running(&t, &code)) {
        r = vx_err_set(err, VX_E_SANDBOX, 0, "the target (pid %d) exited before it was released",
                       (int)t.pid);
        goto out;
    }
    r = touch(o->sync_dir, "go", err);
    if (r < 0)
        goto out;
    started = vx_mono_ms();
    f->ran = true;
    vx_info("agent: workload released (pid %d), observed for %" PRId64 " ms", (int)t.pid,
            o->duration_ms);

    /* exercise within the window, as the local phase: health check -> test script ->
     * crawl/fuzz with what is left */
    ec.netns_fd = -1; /* the pod's network namespace is ours */
    ec.ports = o->ports;
    ec.n_ports = o->n_ports;
    ec.health_path = o->health_path;
    ec.health_timeout_ms =
        o->health_timeout_ms < o->duration_ms ? o->health_timeout_ms : o->duration_ms;
    ec.fuzz = o->fuzz;
    ec.max_requests = o->profile->max_requests;
    ec.budget_ms = o->duration_ms;
    ec.seed = 0x5eed;
    ec.should_stop = stop_signalled;
    if (o->test_script) {
        if (o->n_ports) {
            ec.health_only = true;
            r = vx_exercise_run(&ec, &a->hrep, err);
            if (r < 0)
                goto out;
            ec.health_only = false;
            health_first = true;
            vx_info("agent: health check: %s",
                    a->hrep.health_detail ? a->hrep.health_detail : "done");
        }
        r = touch(o->sync_dir, "healthy", err);
        if (r < 0)
            goto out;
        wait_test_script(o, &t, &a->tsr);
        vx_info("agent: test script exited %d%s after %" PRId64 " ms", a->tsr.exit_code,
                a->tsr.timed_out ? " (timed out)" : "", a->tsr.ran_ms);
    }
    if (o->n_ports && !stop_signalled(NULL)) {
        int64_t left = started + o->duration_ms - vx_mono_ms();

        ec.budget_ms = left > MIN_CRAWL_MS ? left : MIN_CRAWL_MS;
        r = vx_exercise_run(&ec, &a->rep, err);
        if (r < 0)
            goto out;
        a->exercised = true;
        if (health_first) {
            /* the first check is the one that says when the workload came up */
            a->rep.health_ok = a->hrep.health_ok;
            a->rep.health_ms = a->hrep.health_ms;
            free(a->rep.health_detail);
            a->rep.health_detail = a->hrep.health_detail;
            a->hrep.health_detail = NULL;
        }
    }

    /* observe the rest of the window (or until the workload exits) */
    deadline = started + o->duration_ms;
    while ((running = target_running(&t, &code)) && vx_mono_ms() < deadline &&
           !stop_signalled(NULL)) {
        struct timespec ts = {0, POLL_MS * 1000 * 1000L};

        nanosleep(&ts, NULL);
    }
    ended = vx_mono_ms();
    if (stop_signalled(NULL)) {
        r = vx_err_set(err, VX_E_CANCELLED, 0, "stopped by a signal while the workload ran");
        goto out;
    }

    f->stayed_up = running;
    f->exit_code = running ? -1 : code;
    f->window_ms = ended - started;
    f->health_checked = a->exercised && o->health_path;
    f->health_ok = a->exercised && a->rep.health_ok;
    f->requests = a->rep.requests;
    f->endpoints = (int64_t)a->rep.n_endpoints;
    f->status_2xx = a->rep.status_counts[2];
    f->status_4xx = a->rep.status_counts[4];
    f->status_5xx = a->rep.status_counts[5];
    f->test_script_ran = a->tsr.ran;
    f->test_script_exit = a->tsr.ran ? (a->tsr.timed_out ? -1 : a->tsr.exit_code) : 0;

    /* end the workload, then drain the tracer: its shutdown is in the profile */
    end_group(&t, false, STOP_GRACE_MS);
    r = vx_tracer_stop(tracer, &a->profile, err);
    tracer = NULL;
    if (r < 0) {
        vx_err_wrap(err, "tracer");
        goto out;
    }
    vx_info("agent: workload %s after %" PRId64 " ms; %" PRId64 " request(s), %zu endpoint(s); "
            "profile: %zu file(s), %s",
            running ? "still up" : "exited", f->window_ms, a->rep.requests, a->rep.n_endpoints,
            a->profile->n_files, a->profile->complete ? "complete" : "INCOMPLETE");
out:
    /* whatever happened, nothing of the target outlives the agent; after a failure, the
     * test-script container may still wait for SYNC/healthy: it is ended too, or the pod
     * would run on until its deadline */
    if (target_found)
        end_group(&t, false, STOP_GRACE_MS);
    if (r < 0 && o->test_script)
        end_group(&t, true, 0);
    if (tracer) {
        struct vx_trace_profile *p = NULL;

        if (vx_tracer_stop(tracer, &p, &e2) < 0)
            vx_err_free(&e2);
        vx_trace_profile_free(p);
    }
    vx_trace_engine_free(engine);
    if (t.root_fd >= 0)
        close(t.root_fd);
    free(t.cgroup);
    return r;
}

/* ---- options ---------------------------------------------------------------------------- */

static int parse_secs(const char *name, const char *v, int64_t min, int64_t *out_ms)
{
    int64_t s;

    if (vx_parse_i64(v, min, 86400, &s) < 0) {
        fprintf(stderr,
                "vexxy sandbox agent: %s wants whole seconds in [%" PRId64 ", 86400], "
                "not '%s'\n",
                name, min, v);
        return -1;
    }
    *out_ms = s * 1000;
    return 0;
}

static int parse_opts(int argc, char **argv, struct agent_opts *o)
{
    static const struct option lo[] = {
        {"duration", required_argument, NULL, 'd'},
        {"port", required_argument, NULL, 'p'},
        {"health-path", required_argument, NULL, 'H'},
        {"health-timeout", required_argument, NULL, 'T'},
        {"profile", required_argument, NULL, 'P'},
        {"no-fuzz", no_argument, NULL, 'n'},
        {"tracer", required_argument, NULL, 't'},
        {"symbol", required_argument, NULL, 's'},
        {"test-script", no_argument, NULL, 'S'},
        {"test-timeout", required_argument, NULL, 'O'},
        {"sync-dir", required_argument, NULL, 'y'},
        {"find-timeout", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool no_fuzz = false;
    int64_t v;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (parse_secs("--duration", optarg, 1, &o->duration_ms) < 0)
                return -1;
            break;
        case 'p':
            if (o->n_ports == MAX_PORTS || vx_parse_i64(optarg, 1, 65535, &v) < 0) {
                fprintf(stderr,
                        "vexxy sandbox agent: --port wants 1..65535 (at most %d), not "
                        "'%s'\n",
                        MAX_PORTS, optarg);
                return -1;
            }
            o->ports[o->n_ports++] = (int)v;
            break;
        case 'H':
            if (optarg[0] != '/') {
                fprintf(stderr, "vexxy sandbox agent: --health-path starts with '/', not '%s'\n",
                        optarg);
                return -1;
            }
            o->health_path = optarg;
            break;
        case 'T':
            if (parse_secs("--health-timeout", optarg, 1, &o->health_timeout_ms) < 0)
                return -1;
            break;
        case 'P':
            o->profile = vx_profile_get(optarg);
            if (!o->profile) {
                fprintf(stderr,
                        "vexxy sandbox agent: --profile is minimal, standard or "
                        "comprehensive, not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 'n':
            no_fuzz = true;
            break;
        case 't':
            o->tracers = optarg;
            break;
        case 's': {
            const char *colon = strrchr(optarg, ':');

            if (!colon || colon == optarg || !colon[1] || optarg[0] != '/' ||
                o->n_sym == MAX_SYMBOLS) {
                fprintf(stderr,
                        "vexxy sandbox agent: --symbol wants /PATH:NAME (at most %d), "
                        "not '%s'\n",
                        MAX_SYMBOLS, optarg);
                return -1;
            }
            o->sym_args[o->n_sym] = vx_xstrdup(optarg);
            o->sym_args[o->n_sym][colon - optarg] = '\0';
            o->sym_paths[o->n_sym] = o->sym_args[o->n_sym];
            o->sym_names[o->n_sym] = o->sym_args[o->n_sym] + (colon - optarg) + 1;
            o->n_sym++;
            break;
        }
        case 'S':
            o->test_script = true;
            break;
        case 'O':
            if (parse_secs("--test-timeout", optarg, 1, &o->test_timeout_ms) < 0)
                return -1;
            break;
        case 'y':
            o->sync_dir = optarg;
            break;
        case 'f':
            if (parse_secs("--find-timeout", optarg, 1, &o->find_timeout_ms) < 0)
                return -1;
            break;
        case 'h':
            puts(usage);
            return 1;
        default:
            fprintf(stderr, "vexxy sandbox agent: unknown or incomplete option '%s'\n%s\n",
                    argv[optind - 1], usage);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "vexxy sandbox agent: unexpected argument '%s'\n%s\n", argv[optind], usage);
        return -1;
    }
    if (!o->duration_ms) {
        fprintf(stderr, "vexxy sandbox agent: --duration is required\n%s\n", usage);
        return -1;
    }
    o->fuzz = o->profile->fuzz && !no_fuzz;
    if (o->n_ports && !o->health_path)
        o->health_path = "/";
    return 0;
}

int vx_cmd_sandbox_agent(int argc, char **argv)
{
    struct agent_opts o = {.health_timeout_ms = 30000,
                           .test_timeout_ms = 300000,
                           .find_timeout_ms = 60000,
                           .tracers = "auto",
                           .sync_dir = "/vexxy",
                           .profile = vx_profile_get("standard")};
    struct agent_run a = {0};
    struct vx_err *err = NULL;
    sigset_t set;
    int r, ret = VX_EXIT_OK;

    r = parse_opts(argc, argv, &o);
    if (r != 0) {
        ret = r > 0 ? VX_EXIT_OK : VX_EXIT_ERROR;
        goto out;
    }
    /* blocked before any thread starts, so every thread inherits the mask; polled */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);

    a.facts.exit_code = -1;
    r = agent_run(&o, &a, &err);
    if (r < 0)
        vx_error("agent: %s", err && err->msg ? err->msg : "failed");
    print_report(&a, &o, r < 0 ? (err && err->msg ? err->msg : "failed") : NULL);
out:
    vx_err_free(&err);
    vx_exercise_report_release(&a.rep);
    vx_exercise_report_release(&a.hrep);
    vx_test_script_result_release(&a.tsr);
    vx_trace_profile_free(a.profile);
    for (size_t i = 0; i < o.n_sym; i++)
        free(o.sym_args[i]);
    return ret;
}
