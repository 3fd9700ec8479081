/* uprobe.c -- the function-level trace backend: counts calls of the functions the findings
 * name (opts->symbol_paths[i] / symbol_names[i]) with the perf uprobe PMU in counting mode.
 *
 * No eBPF, kprobes or tracefs: a perf event of the dynamic PMU
 * /sys/bus/event_source/devices/uprobe (type from its `type` file), config1 = the host path
 * of the library or binary, config2 = the function's file offset (vx_elf_symbol_offset:
 * .symtab, then .dynsym). The kernel keys the probe on the file's (real) inode, so a path
 * under the job's overlay works, and so does a library mapped by any process of the scope.
 * A symbol that is not in its file is reported unresolved (vulnerable_code_not_present is
 * decided from that); a probe the kernel refuses is reported attached=false with the error.
 *
 * DESIGN
 * Scope, decided at attach before the workload's first instruction:
 *  - a container (target->cgroup_v2 set): the cgroup v2 directory, opened O_DIRECTORY, is the
 *    pid argument with PERF_FLAG_PID_CGROUP; a cgroup event must be per CPU, so one event per
 *    online CPU (/sys/devices/system/cpu/online), summed.
 *  - a plain command (root "/", target->pid, no cgroup): a fresh cgroup below our own
 *    (vexxy-uprobe-<our pid>-<pid>, removed at release) with the target moved into it while it
 *    waits for its exec, then as above: every descendant is in it. Per-task events with
 *    inherit = 1 were rejected: copying a uprobe event to a child makes the kernel read
 *    config1 (our path pointer) in the forking process's memory, and fork() fails (EFAULT).
 * One-shot (DESIGN.md §9): each hit traps (~11 us here), so by default a poller thread reads
 * every probe every POLL_MS and closes the ones that have counted, which removes their
 * breakpoints; a closed probe's count is then "at least 1" (the hits before the close).
 * Exact counts (tests; "how often" rather than "whether") keep every probe open until stop:
 * VEXXY_TRACE_UPROBE_EXACT=1 in the environment. Stop stops the poller, reads what is still
 * open, closes everything and reports each symbol through vx_trace_note_symbol(). Counting
 * events lose nothing, so this backend never reports lost events; a symbol that could not be
 * attached is not a loss of the others' events, and the profile says so per symbol.
 *
 * With no symbols asked for, attach is a no-op (the engine only picks the backend for "auto"
 * when there are symbols).
 */
#include "common/setup.h"

#include "trace/trace.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_x*() */
#include "common/err.h"   /* vx_err_*() */
#include "common/util.h"  /* vx_parse_i64() for the CPU list */
#include "trace/trace_int.h"

#define UPROBE_TYPE_FILE "/sys/bus/event_source/devices/uprobe/type"
#define CPU_ONLINE_FILE  "/sys/devices/system/cpu/online"
#define POLL_MS          50
#define MAX_CPUS         4096

struct up_sym {
    char *host_path; /* the file on the host, or NULL when it could not be resolved */
    uint64_t offset;
    int *fds; /* n_fds perf events, -1 once closed */
    size_t n_fds;
    int64_t count; /* summed from the events read at their close */
    bool attached;
    char *error;
};

struct up_state {
    struct vx_tracer *t;
    int bi;
    struct up_sym *syms;
    size_t n_syms;
    bool one_shot;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    char *own_cgroup; /* the cgroup made for a plain command (removed at release), or NULL */
};

static int perf_open(struct perf_event_attr *attr, pid_t pid, int cpu, unsigned long flags)
{
    return (int)syscall(SYS_perf_event_open, attr, pid, cpu, -1, flags | PERF_FLAG_FD_CLOEXEC);
}

/* The uprobe PMU's dynamic type number, or -code. */
static int pmu_type(uint32_t *type, struct vx_err **err)
{
    char buf[32];
    int64_t v;
    ssize_t n;
    int fd = open(UPROBE_TYPE_FILE, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, errno, "no uprobe PMU ('%s': %s)",
                          UPROBE_TYPE_FILE, strerror(errno));
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, 0, "cannot read '%s'", UPROBE_TYPE_FILE);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (vx_parse_i64(buf, 0, UINT32_MAX, &v) < 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, 0, "'%s' says '%s'", UPROBE_TYPE_FILE, buf);
    *type = (uint32_t)v;
    return 0;
}

static void attr_init(struct perf_event_attr *a, uint32_t type, const char *path, uint64_t off)
{
    memset(a, 0, sizeof(*a));
    a->size = sizeof(*a);
    a->type = type;
    a->config = 0; /* bit 0 (retprobe) clear: count entries */
    a->config1 = (uint64_t)(uintptr_t)path;
    a->config2 = off;
}

/* Online CPUs from "0-3,5" into cpus[] (capped). */
static int online_cpus(int **cpus, size_t *n, struct vx_err **err)
{
    char buf[4096];
    ssize_t len;
    int fd = open(CPU_ONLINE_FILE, O_RDONLY | O_CLOEXEC);

    *cpus = NULL;
    *n = 0;
    if (fd < 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, errno, "'%s': %s", CPU_ONLINE_FILE,
                          strerror(errno));
    len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, 0, "cannot read '%s'", CPU_ONLINE_FILE);
    buf[len] = '\0';
    size_t cap = 0;
    for (char *p = buf; *p && *p != '\n';) {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p || lo < 0)
            break;
        if (*end == '-') {
            p = end + 1;
            hi = strtol(p, &end, 10);
            if (end == p || hi < lo)
                break;
        }
        for (long c = lo; c <= hi && *n < MAX_CPUS; c++) {
            *cpus = vx_xgrow(*cpus, sizeof(**cpus), *n + 1, &cap);
            (*cpus)[(*n)++] = (int)c;
        }
        p = *end == ',' ? end + 1 : end;
    }
    if (*n == 0) {
        free(*cpus);
        *cpus = NULL;
        return vx_err_set(err, VX_E_UNAVAILABLE, 0, "no online CPU in '%s'", CPU_ONLINE_FILE);
    }
    return 0;
}

/* The cgroup v2 mount point (hybrid hosts mount it at /sys/fs/cgroup/unified). */
static char *cgroup2_mount(void)
{
    char line[4096], *out = NULL;
    FILE *f = fopen("/proc/self/mountinfo", "re");

    if (!f)
        return NULL;
    while (!out && fgets(line, sizeof(line), f)) {
        /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS" */
        char *sep = strstr(line, " - "), *mp = line;
        if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
            continue;
        for (int k = 0; k < 4 && mp; k++)
            mp = strchr(mp, ' ') ? strchr(mp, ' ') + 1 : NULL;
        if (mp && strchr(mp, ' '))
            out = vx_xstrndup(mp, (size_t)(strchr(mp, ' ') - mp));
    }
    fclose(f);
    return out;
}

/* A plain command: a fresh cgroup v2 below our own, with the target (still before its exec)
 * moved into it, so its whole tree is the scope. Inherited per-task uprobe events are not an
 * option: the kernel re-reads config1 (the path pointer) in the forking process's address
 * space when it copies the event to a child, so fork() fails with EFAULT. */
static int make_cgroup(pid_t pid, char **out, struct vx_err **err)
{
    char line[4096], *mnt = cgroup2_mount(), *dir = NULL, *own = NULL;
    FILE *f = NULL;
    int fd = -1, rc = 0;

    *out = NULL;
    if (!mnt)
        return vx_err_set(err, VX_E_UNAVAILABLE, 0,
                          "uprobe: no cgroup v2 mount to scope a "
                          "plain command's probes to");
    f = fopen("/proc/self/cgroup", "re");
    while (f && !own && fgets(line, sizeof(line), f))
        if (!strncmp(line, "0::/", 4)) {
            line[strcspn(line, "\n")] = '\0';
            own = vx_xstrdup(line + 3);
        }
    if (f)
        fclose(f);
    if (!own) {
        rc = vx_err_set(err, VX_E_UNAVAILABLE, 0, "uprobe: our own cgroup v2 is unknown");
        goto out;
    }
    dir = vx_xasprintf("%s%s%svexxy-uprobe-%d-%d", mnt, own, strcmp(own, "/") ? "/" : "",
                       (int)getpid(), (int)pid);
    if (mkdir(dir, 0700) < 0) {
        rc = vx_err_set(err, VX_E_UNAVAILABLE, errno, "uprobe: mkdir '%s': %s", dir,
                        strerror(errno));
        goto out;
    }
    *out = dir;
    dir = NULL;
    char procs[4200], num[32];
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", *out);
    int len = snprintf(num, sizeof(num), "%d", (int)pid);
    fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, num, (size_t)len) != len)
        rc = vx_err_set(err, VX_E_UNAVAILABLE, errno, "uprobe: move pid %d into '%s': %s", (int)pid,
                        *out, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    free(dir);
    free(own);
    free(mnt);
    return rc;
}

/* Removes the plain command's cgroup: its processes have exited by now, but the kernel may
 * take a moment to let go of the last one (EBUSY). */
static void remove_cgroup(const char *dir)
{
    for (int k = 0; k < 100; k++) {
        if (rmdir(dir) == 0 || errno != EBUSY)
            return;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Probe: the PMU exists and a counting probe on a libc function opens (for ourselves). */
static int up_probe(struct vx_trace_engine *e, void **shared, struct vx_err **err)
{
    struct perf_event_attr a;
    Dl_info info = {0};
    uint64_t off = 0;
    uint32_t type;
    int rc, fd;

    (void)e;
    *shared = NULL;
    rc = pmu_type(&type, err);
    if (rc < 0)
        return rc;
    if (!dladdr((void *)&getpid, &info) || !info.dli_fname || info.dli_fname[0] != '/')
        return vx_err_set(err, VX_E_UNAVAILABLE, 0, "cannot find the C library to probe");
    rc = vx_elf_symbol_offset(info.dli_fname, "getpid", &off, err);
    if (rc < 0)
        return vx_err_wrap(err, "uprobe probe");
    attr_init(&a, type, info.dli_fname, off);
    fd = perf_open(&a, getpid(), -1, 0);
    if (fd < 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, errno, "perf_event_open(uprobe '%s'): %s",
                          info.dli_fname, strerror(errno));
    close(fd);
    return 0;
}

static void sym_close(struct up_sym *s)
{
    for (size_t k = 0; k < s->n_fds; k++) {
        if (s->fds[k] < 0)
            continue;
        uint64_t v = 0;
        if (read(s->fds[k], &v, sizeof(v)) == (ssize_t)sizeof(v))
            s->count += (int64_t)v;
        close(s->fds[k]);
        s->fds[k] = -1;
    }
}

/* One-shot: close every probe of a symbol once any of its events counted. */
static void *poller(void *arg)
{
    struct up_state *st = arg;

    while (!atomic_load(&st->stop)) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        for (size_t i = 0; i < st->n_syms; i++) {
            struct up_sym *s = &st->syms[i];
            bool hit = false;
            for (size_t k = 0; k < s->n_fds && !hit; k++) {
                uint64_t v = 0;
                hit =
                    s->fds[k] >= 0 && read(s->fds[k], &v, sizeof(v)) == (ssize_t)sizeof(v) && v > 0;
            }
            if (hit)
                sym_close(s);
        }
    }
    return NULL;
}

/* Opens the events of one symbol; on failure s->error says why (the others go on). */
static void sym_attach(struct up_sym *s, uint32_t type, int cg_fd, const int *cpus, size_t n_cpus)
{
    struct perf_event_attr a;

    attr_init(&a, type, s->host_path, s->offset);
    s->fds = vx_xcalloc(n_cpus, sizeof(*s->fds));
    for (size_t k = 0; k < n_cpus; k++)
        s->fds[k] = -1;
    s->n_fds = n_cpus;
    for (size_t k = 0; k < n_cpus; k++) {
        s->fds[k] = perf_open(&a, cg_fd, cpus[k], PERF_FLAG_PID_CGROUP);
        if (s->fds[k] < 0) {
            s->error = vx_xasprintf("perf_event_open(uprobe '%s'+0x%" PRIx64 ", cpu %d): %s",
                                    s->host_path, s->offset, cpus[k], strerror(errno));
            sym_close(s);
            s->count = 0;
            return;
        }
    }
    s->attached = true;
}

static void up_release(void *state)
{
    struct up_state *st = state;

    if (!st)
        return;
    if (st->thread_started) {
        atomic_store(&st->stop, true);
        pthread_join(st->thread, NULL);
    }
    for (size_t i = 0; i < st->n_syms; i++) {
        sym_close(&st->syms[i]);
        free(st->syms[i].fds);
        free(st->syms[i].host_path);
        free(st->syms[i].error);
    }
    free(st->syms);
    if (st->own_cgroup)
        remove_cgroup(st->own_cgroup);
    free(st->own_cgroup);
    free(st);
}

static int up_attach(struct vx_tracer *t, int bi, const struct vx_trace_target *target,
                     const struct vx_trace_opts *opts, void **state, struct vx_err **err)
{
    struct up_state *st = NULL;
    int *cpus = NULL, cg_fd = -1, rc = 0;
    size_t n_cpus = 0;
    uint32_t type;
    const char *exact = getenv("VEXXY_TRACE_UPROBE_EXACT");

    *state = NULL;
    if (!opts->n_symbols)
        return 0;
    /* "" is "no cgroup" (the sandbox's way) */
    bool has_cg = target->cgroup_v2 && *target->cgroup_v2;
    bool plain = !strcmp(target->root, "/");
    if (!has_cg && !(plain && target->pid > 0))
        return vx_err_set(err, VX_E_INVALID, 0,
                          "uprobe: a container target needs its cgroup v2 "
                          "dir to scope the probes to");
    rc = pmu_type(&type, err);
    if (rc < 0)
        return rc;
    st = vx_xcalloc(1, sizeof(*st));
    if (!has_cg) {
        rc = make_cgroup(target->pid, &st->own_cgroup, err);
        if (rc < 0)
            goto out;
    }
    const char *cg = has_cg ? target->cgroup_v2 : st->own_cgroup;
    cg_fd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg_fd < 0) {
        rc = vx_err_set(err, VX_E_INVALID, errno, "uprobe: cgroup '%s': %s", cg, strerror(errno));
        goto out;
    }
    rc = online_cpus(&cpus, &n_cpus, err);
    if (rc < 0)
        goto out;
    st->t = t;
    st->bi = bi;
    st->one_shot = !(exact && !strcmp(exact, "1"));
    atomic_init(&st->stop, false);
    st->syms = vx_xcalloc(opts->n_symbols, sizeof(*st->syms));
    st->n_syms = opts->n_symbols;
    for (size_t i = 0; i < st->n_syms; i++) {
        struct up_sym *s = &st->syms[i];
        struct vx_err *serr = NULL;
        char *canon = NULL;

        if (vx_trace_canon_in_root(target->root, opts->symbol_paths[i], &canon, &serr) == 0) {
            s->host_path = strcmp(target->root, "/") ? vx_xasprintf("%s%s", target->root, canon)
                                                     : vx_xstrdup(canon);
            if (vx_elf_symbol_offset(s->host_path, opts->symbol_names[i], &s->offset, &serr) == 0)
                sym_attach(s, type, cg_fd, cpus, n_cpus);
        }
        if (serr && !s->error)
            s->error = vx_xstrdup(serr->msg ? serr->msg : "cannot resolve the symbol");
        vx_err_free(&serr);
        free(canon);
    }
    if (st->one_shot) {
        if (pthread_create(&st->thread, NULL, poller, st) != 0) {
            rc = vx_err_set(err, VX_E_INTERNAL, 0, "uprobe: cannot start the poller thread");
            goto out;
        }
        st->thread_started = true;
    }
out:
    if (cg_fd >= 0)
        close(cg_fd);
    free(cpus);
    *state = st;
    return rc;
}

static int up_stop(struct vx_tracer *t, int bi, void *state, struct vx_err **err)
{
    struct up_state *st = state;

    (void)err;
    if (!st)
        return 0;
    if (st->thread_started) {
        atomic_store(&st->stop, true);
        pthread_join(st->thread, NULL);
        st->thread_started = false;
    }
    for (size_t i = 0; i < st->n_syms; i++) {
        struct up_sym *s = &st->syms[i];
        sym_close(s);
        vx_trace_note_symbol(t, bi, i, s->count, s->attached, s->error);
    }
    return 0;
}

const struct vx_trace_backend vx_trace_uprobe = {
    .name = "uprobe",
    .in_auto = true,
    .last_resort = false,
    .symbols_only = true,
    .probe = up_probe,
    .unload = NULL,
    .attach = up_attach,
    .stop = up_stop,
    .release = up_release,
};
