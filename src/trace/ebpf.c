/* ebpf.c -- the eBPF trace backend: the process tree (fork, exec with argv, exit status),
 * files opened, executed and mapped executable, from tp_btf programs (vexxy.bpf.c) loaded
 * with libbpf CO-RE from a skeleton generated at build time.
 *
 * It sees what fanotify does not: mmap(PROT_EXEC) (libraries mapped by ld.so or dlopen),
 * argv and the exit codes of every process of the tree. It does not see the ELF interpreter
 * or `#!` interpreters as files of their own (the kernel opens them without open(2)); the
 * profile labels them from the executed files either way.
 *
 * DESIGN
 * Loading and verifying costs 0.4-1 s, so probe() loads the object once per engine (the
 * "shared" state) and attaches its programs; jobs come and go through the filter maps: a job
 * gets a slot (0..VX_MAX_JOBS-1), attach() puts the target's pid (children inherit it on
 * fork, in the kernel) and/or its cgroup v2 id in the maps with that slot, and every event
 * carries its slot. One reader thread per loaded object consumes the ring buffer and hands
 * each event to the tracer registered for its slot; the consume and the slot table share one
 * mutex, so stop() can remove the job's filter entries, consume what is left (the drain: the
 * last events are kept), read the job's drop counter and unregister, and no event of that job
 * reaches the sink afterwards.
 * A job that asks for a ring size (opts->queue_size > 0; tests use a tiny one to force drops)
 * gets an object of its own loaded with that size, released with the job.
 * Lost events (fail closed): ring-buffer-full drops and failed child insertions counted in
 * the kernel per slot, events the kernel could not resolve completely (flagged), and records
 * too short to parse.
 * Test-only: VEXXY_TRACE_TEST_PAUSE_MS=N delays a private object's reader by N ms (stop still
 * drains) so a test can fill its ring.
 */
#include "common/setup.h"

#include "trace/trace.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_x*() */
#include "common/err.h"   /* vx_err_*() */
#include "common/log.h"   /* vx_debug() for libbpf's messages */
#include "common/util.h"  /* vx_parse_i64() for the test switch */
#include "trace/trace_int.h"

#ifdef VX_HAVE_BPF
#include <bpf/bpf.h>    /* bpf_map_update_elem() and friends on the filter maps */
#include <bpf/libbpf.h> /* ring_buffer__*(), skeleton support */

/* The generated skeleton allocates with calloc(3) and checks it (third-party code in a
 * header): lift the project's ban for it alone. */
#pragma push_macro("calloc")
#undef calloc
#include "vexxy.skel.h" /* generated from vexxy.bpf.c by bpftool gen skeleton */
#pragma pop_macro("calloc")

#define VX_MAX_JOBS    64 /* = VX_MAX_JOBS of vexxy.bpf.c (the drops map's size) */
#define DEFAULT_RING   (4u << 20)
#define READER_POLL_MS 100
#define MAX_ARGV       32
#define VERIFIER_LOG   (256 * 1024)

/* Mirror of struct vx_bpf_event in vexxy.bpf.c (header; data follows). */
enum { EV_EXEC = 1, EV_FORK, EV_EXIT, EV_OPEN, EV_MMAP };
#define EVF_LOST 1u
struct bpf_event {
    uint32_t type, slot, pid, ppid;
    int32_t num;
    uint32_t flags;
    uint64_t dev, ino;
    uint32_t n_comp;
    uint32_t path_len, args_len;
    uint32_t n_root, root_len;
    uint32_t pad;
    char data[];
};

struct bpf_obj {
    struct vexxy_bpf *skel;
    struct ring_buffer *rb;
    pthread_mutex_t mu; /* ring_buffer__consume() and jobs[] */
    pthread_t thread;
    bool thread_started;
    int stop_pipe[2];
    int64_t pause_ms;
    struct {
        struct vx_tracer *t; /* NULL: free slot */
        int bi;
    } jobs[VX_MAX_JOBS];
    uint32_t next_slot;
    uint32_t next_gen; /* the gens map: a new job's generation (see vexxy.bpf.c "seen") */
};

struct ebpf_state {
    struct bpf_obj *obj; /* the shared one, or own when own_obj */
    bool own_obj;
    int slot;      /* -1 until registered */
    uint64_t cgid; /* 0: none in the map */
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char buf[1024];

    if (level == LIBBPF_DEBUG)
        return 0;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    vx_debug("libbpf: %s", buf);
    return 0;
}

/* The components arrive leaf first, NUL-terminated: "/" + reversed, joined by '/'. */
static int build_path(const char *data, size_t data_len, uint32_t n_comp, char *out, size_t len)
{
    const char *comp[64];
    size_t n = 0, pos = 0;
    const char *p = data, *end = data + data_len;

    while (p < end && n < VX_ARRAY_SIZE(comp)) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        if (!z)
            return -1;
        comp[n++] = p;
        p = z + 1;
    }
    if (n != n_comp)
        return -1;
    if (n == 0)
        return snprintf(out, len, "/") < (int)len ? 0 : -1;
    for (size_t i = n; i-- > 0;) {
        int w = snprintf(out + pos, len - pos, "/%s", comp[i]);
        if (w < 0 || (size_t)w >= len - pos)
            return -1;
        pos += (size_t)w;
    }
    return 0;
}

/* exit status in wait(2) form -> the profile's exit code (128+sig when killed) */
static int exit_code_of(int status)
{
    if (status & 0x7f)
        return 128 + (status & 0x7f);
    return (status >> 8) & 0xff;
}

/* exe in the process's own root when it runs chroot'ed (the walk gives the path from its
 * mount namespace's root; the exec program sends the task's root too, read there because
 * the process may be gone before /proc could be asked), like the files the engine gets
 * (it strips the root itself). */
static void exe_in_root(const struct bpf_event *e, char *path, size_t len)
{
    char root[4096];
    size_t rl;

    if (e->n_root == 0 ||
        build_path(e->data + e->path_len, e->root_len, e->n_root, root, sizeof(root)) < 0)
        return;
    rl = strlen(root);
    if (!strncmp(path, root, rl) && path[rl] == '/')
        memmove(path, path + rl, strnlen(path + rl, len - rl) + 1);
}

static void deliver(struct vx_tracer *t, int bi, const struct bpf_event *e, size_t size)
{
    char path[4096];
    bool have_path = false;

    if (e->flags & EVF_LOST) {
        vx_trace_note_lost(t, bi, 1);
        if (e->type != EV_EXEC)
            return;
    } else if (e->type == EV_EXEC || e->type == EV_OPEN || e->type == EV_MMAP) {
        if (build_path(e->data, e->path_len, e->n_comp, path, sizeof(path)) < 0) {
            vx_trace_note_lost(t, bi, 1);
            if (e->type != EV_EXEC)
                return;
        } else {
            have_path = true;
        }
    }
    switch (e->type) {
    case EV_EXEC: {
        char *argv[MAX_ARGV + 1];
        size_t argc = 0;
        const char *p = e->data + e->path_len + e->root_len, *end = p + e->args_len;
        (void)size;
        while (p < end && argc < MAX_ARGV) {
            const char *z = memchr(p, '\0', (size_t)(end - p));
            size_t l = z ? (size_t)(z - p) : (size_t)(end - p);
            argv[argc++] = vx_xstrndup(p, l);
            p += l + 1;
        }
        argv[argc] = NULL;
        if (have_path) {
            vx_trace_note_file(t, bi, path, -1, e->dev, e->ino, VX_HOW_EXEC, (pid_t)e->pid);
            exe_in_root(e, path, sizeof(path));
        }
        vx_trace_note_proc(t, bi, (pid_t)e->pid, (pid_t)e->ppid, have_path ? path : NULL,
                           argc ? argv : NULL, false, -1);
        vx_trace_note_syscall(t, bi, "execve");
        for (size_t i = 0; i < argc; i++)
            free(argv[i]);
        break;
    }
    case EV_FORK:
        vx_trace_note_proc(t, bi, (pid_t)e->pid, (pid_t)e->ppid, NULL, NULL, false, -1);
        vx_trace_note_syscall(t, bi, "clone");
        break;
    case EV_EXIT:
        vx_trace_note_proc(t, bi, (pid_t)e->pid, (pid_t)e->ppid, NULL, NULL, true,
                           exit_code_of(e->num));
        break;
    case EV_OPEN:
        vx_trace_note_file(t, bi, path, -1, e->dev, e->ino, VX_HOW_OPEN, (pid_t)e->pid);
        vx_trace_note_syscall(t, bi, e->num == 2 ? "open" : e->num == 437 ? "openat2" : "openat");
        break;
    case EV_MMAP:
        vx_trace_note_file(t, bi, path, -1, e->dev, e->ino, VX_HOW_MMAP_EXEC, (pid_t)e->pid);
        vx_trace_note_syscall(t, bi, "mmap");
        break;
    default:
        vx_trace_note_lost(t, bi, 1);
    }
}

/* ring buffer callback; obj->mu is held (consume runs only under it) */
static int on_event(void *ctx, void *data, size_t size)
{
    struct bpf_obj *o = ctx;
    const struct bpf_event *e = data;

    if (size < sizeof(*e))
        return 0; /* cannot even tell whose: nothing to charge it to */
    if (e->slot >= VX_MAX_JOBS || !o->jobs[e->slot].t)
        return 0; /* a job already stopped (an event in flight when its entry went) */
    if (sizeof(*e) + (size_t)e->path_len + e->root_len + e->args_len > size) {
        vx_trace_note_lost(o->jobs[e->slot].t, o->jobs[e->slot].bi, 1);
        return 0;
    }
    deliver(o->jobs[e->slot].t, o->jobs[e->slot].bi, e, size);
    return 0;
}

static void *reader(void *arg)
{
    struct bpf_obj *o = arg;
    int rfd = ring_buffer__epoll_fd(o->rb);

    if (o->pause_ms > 0) {
        struct pollfd p = {.fd = o->stop_pipe[0], .events = POLLIN};
        (void)poll(&p, 1, (int)o->pause_ms);
    }
    for (;;) {
        struct pollfd p[2] = {{.fd = rfd, .events = POLLIN},
                              {.fd = o->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, READER_POLL_MS) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        pthread_mutex_lock(&o->mu);
        (void)ring_buffer__consume(o->rb);
        pthread_mutex_unlock(&o->mu);
    }
    return NULL;
}

static void obj_free(struct bpf_obj *o)
{
    if (!o)
        return;
    if (o->thread_started) {
        if (write(o->stop_pipe[1], "x", 1) < 0)
            pthread_cancel(o->thread);
        pthread_join(o->thread, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (o->stop_pipe[i] >= 0)
            close(o->stop_pipe[i]);
    ring_buffer__free(o->rb);
    vexxy_bpf__destroy(o->skel);
    pthread_mutex_destroy(&o->mu);
    free(o);
}

/* The last lines of a verifier log (where it says why), flattened to one line, in place. */
static const char *verifier_tail(char *log)
{
    size_t n = strlen(log);
    char *p;

    while (n > 0 && (log[n - 1] == '\n' || log[n - 1] == ' '))
        log[--n] = '\0';
    p = n > 600 ? log + n - 600 : log;
    for (char *q = p; *q; q++)
        if (*q == '\n')
            *q = ' ';
    return p;
}

/* Opens, sizes, loads and attaches the programs, and starts the reader. */
static int obj_load(uint32_t ring_bytes, int64_t pause_ms, struct bpf_obj **out,
                    struct vx_err **err)
{
    struct bpf_obj *o = vx_xcalloc(1, sizeof(*o));
    struct bpf_program *prog;
    char *log = NULL;
    int rc;

    pthread_mutex_init(&o->mu, NULL);
    o->stop_pipe[0] = o->stop_pipe[1] = -1;
    o->pause_ms = pause_ms;
    libbpf_set_print(libbpf_log);
    o->skel = vexxy_bpf__open();
    if (!o->skel) {
        rc = vx_err_set(err, VX_E_UNAVAILABLE, errno, "open the eBPF object: %s", strerror(errno));
        goto fail;
    }
    rc = bpf_map__set_max_entries(o->skel->maps.events, ring_bytes);
    if (rc < 0) {
        rc = vx_err_set(err, VX_E_INVALID, -rc, "ring buffer size %u: %s", ring_bytes,
                        strerror(-rc));
        goto fail;
    }
    /* the verifier's log of a program that fails to load, kept for the error message
     * (libbpf asks the kernel for it only after a failure) */
    log = vx_xcalloc(1, VERIFIER_LOG);
    bpf_object__for_each_program(prog, o->skel->obj)
    {
        (void)bpf_program__set_log_buf(prog, log, VERIFIER_LOG);
    }
    rc = vexxy_bpf__load(o->skel);
    if (rc < 0) {
        int e = rc == -1 ? errno : -rc;
        rc = vx_err_set(err, VX_E_UNAVAILABLE, 0, "load the eBPF programs (tp_btf): %s%s%s%s",
                        strerror(e), e == EPERM ? " (needs CAP_BPF + CAP_PERFMON, or root)" : "",
                        *log ? "; verifier: " : "", verifier_tail(log));
        goto fail;
    }
    rc = vexxy_bpf__attach(o->skel);
    if (rc < 0) {
        int e = rc == -1 ? errno : -rc;
        rc = vx_err_set(err, VX_E_UNAVAILABLE, e, "attach the eBPF programs (tp_btf): %s",
                        strerror(e));
        goto fail;
    }
    o->rb = ring_buffer__new(bpf_map__fd(o->skel->maps.events), on_event, o, NULL);
    if (!o->rb) {
        rc = vx_err_set(err, VX_E_UNAVAILABLE, errno, "ring buffer: %s", strerror(errno));
        goto fail;
    }
    if (pipe2(o->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        rc = vx_err_set(err, VX_E_INTERNAL, errno, "pipe: %s", strerror(errno));
        goto fail;
    }
    rc = pthread_create(&o->thread, NULL, reader, o);
    if (rc != 0) {
        rc = vx_err_set(err, VX_E_INTERNAL, rc, "start the eBPF reader: %s", strerror(rc));
        goto fail;
    }
    o->thread_started = true;
    *out = o;
    free(log);
    return 0;
fail:
    obj_free(o);
    free(log);
    return rc;
}

static int ebpf_probe(struct vx_trace_engine *e, void **shared, struct vx_err **err)
{
    struct bpf_obj *o = NULL;
    int rc;

    *shared = NULL;
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, errno,
                          "no kernel BTF (/sys/kernel/btf/vmlinux): CO-RE programs cannot load");
    rc = obj_load(DEFAULT_RING, 0, &o, err);
    if (rc < 0)
        return rc;
    *shared = o;
    (void)e;
    return 0;
}

static void ebpf_unload(void *shared)
{
    obj_free(shared);
}

/* A ring size libbpf accepts: a power of two, at least a page. */
static uint32_t ring_size(int64_t hint)
{
    uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE), sz = page;

    while ((int64_t)sz < hint && sz < (1u << 30))
        sz <<= 1;
    return sz;
}

static int ebpf_attach(struct vx_tracer *t, int bi, const struct vx_trace_target *target,
                       const struct vx_trace_opts *opts, void **state, struct vx_err **err)
{
    struct ebpf_state *s = vx_xcalloc(1, sizeof(*s));
    bool cgroup = target->cgroup_v2 && *target->cgroup_v2; /* "": none (the sandbox's way) */
    struct bpf_obj *o;
    uint32_t slot = 0;
    uint64_t zero = 0;
    int rc;

    s->slot = -1;
    *state = s;
    if (!cgroup && target->pid <= 0)
        return vx_err_set(err, VX_E_INVALID, 0, "eBPF tracing needs the target's cgroup or pid");
    if (opts->queue_size > 0) {
        const char *pause = getenv("VEXXY_TRACE_TEST_PAUSE_MS");
        int64_t pause_ms = 0;
        if (pause && vx_parse_i64(pause, 0, 600000, &pause_ms) < 0)
            pause_ms = 0;
        rc = obj_load(ring_size(opts->queue_size), pause_ms, &s->obj, err);
        if (rc < 0)
            return rc;
        s->own_obj = true;
    } else {
        s->obj = vx_trace_engine_shared(vx_tracer_engine(t), "ebpf");
        if (!s->obj)
            return vx_err_set(err, VX_E_UNAVAILABLE, 0, "the eBPF object is not loaded");
    }
    o = s->obj;

    /* Slots are handed out round robin: an event still in flight for a stopped job (committed
     * after its drain) is dropped as unowned rather than credited to the next job. */
    pthread_mutex_lock(&o->mu);
    for (uint32_t k = 0; k < VX_MAX_JOBS && s->slot < 0; k++) {
        slot = (o->next_slot + k) % VX_MAX_JOBS;
        if (!o->jobs[slot].t) {
            o->jobs[slot].t = t;
            o->jobs[slot].bi = bi;
            s->slot = (int)slot;
            o->next_slot = (slot + 1) % VX_MAX_JOBS;
        }
    }
    pthread_mutex_unlock(&o->mu);
    if (s->slot < 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, 0, "more than %d jobs traced at once",
                          VX_MAX_JOBS);
    slot = (uint32_t)s->slot;
    (void)bpf_map_update_elem(bpf_map__fd(o->skel->maps.drops), &slot, &zero, BPF_ANY);
    {
        /* a fresh generation: files the slot's last job saw are news to this one */
        uint32_t gen;

        pthread_mutex_lock(&o->mu);
        gen = ++o->next_gen;
        pthread_mutex_unlock(&o->mu);
        if (bpf_map_update_elem(bpf_map__fd(o->skel->maps.gens), &slot, &gen, BPF_ANY))
            return vx_err_set(err, VX_E_UNAVAILABLE, errno, "set the job's eBPF generation: %s",
                              strerror(errno));
    }

    if (cgroup) {
        struct stat st;
        /* a cgroup v2 id is its directory's kernfs inode number */
        if (stat(target->cgroup_v2, &st) < 0)
            return vx_err_set(err, VX_E_INVALID, errno, "stat cgroup '%s': %s", target->cgroup_v2,
                              strerror(errno));
        s->cgid = (uint64_t)st.st_ino;
        if (bpf_map_update_elem(bpf_map__fd(o->skel->maps.cgroups), &s->cgid, &slot, BPF_ANY))
            return vx_err_set(err, VX_E_UNAVAILABLE, errno, "add cgroup to the eBPF filter: %s",
                              strerror(errno));
    }
    if (target->pid > 0) {
        uint32_t pid = (uint32_t)target->pid;
        if (bpf_map_update_elem(bpf_map__fd(o->skel->maps.pids), &pid, &slot, BPF_ANY))
            return vx_err_set(err, VX_E_UNAVAILABLE, errno, "add pid to the eBPF filter: %s",
                              strerror(errno));
    }
    return 0;
}

/* Removes every filter entry of the job (pids inherited by its processes included). */
static void remove_filter(struct ebpf_state *s)
{
    int fd = bpf_map__fd(s->obj->skel->maps.pids);
    uint32_t key, next, val, *prev = NULL;
    uint32_t dead[256];
    size_t n_dead;

    if (s->cgid)
        (void)bpf_map_delete_elem(bpf_map__fd(s->obj->skel->maps.cgroups), &s->cgid);
    s->cgid = 0;
    /* deleting while iterating restarts the walk: collect a batch, delete, repeat */
    do {
        n_dead = 0;
        prev = NULL;
        while (n_dead < VX_ARRAY_SIZE(dead) && bpf_map_get_next_key(fd, prev, &next) == 0) {
            if (bpf_map_lookup_elem(fd, &next, &val) == 0 && (int)val == s->slot)
                dead[n_dead++] = next;
            key = next;
            prev = &key;
        }
        for (size_t i = 0; i < n_dead; i++)
            (void)bpf_map_delete_elem(fd, &dead[i]);
    } while (n_dead == VX_ARRAY_SIZE(dead));
}

static void unregister(struct ebpf_state *s)
{
    uint32_t slot = (uint32_t)s->slot;
    uint64_t drops = 0;

    remove_filter(s);
    pthread_mutex_lock(&s->obj->mu);
    /* the drain: every event the job's programs committed so far */
    (void)ring_buffer__consume(s->obj->rb);
    if (bpf_map_lookup_elem(bpf_map__fd(s->obj->skel->maps.drops), &slot, &drops) == 0 &&
        drops > 0 && s->obj->jobs[slot].t)
        vx_trace_note_lost(s->obj->jobs[slot].t, s->obj->jobs[slot].bi, (int64_t)drops);
    s->obj->jobs[slot].t = NULL;
    pthread_mutex_unlock(&s->obj->mu);
    s->slot = -1;
}

static int ebpf_stop(struct vx_tracer *t, int bi, void *state, struct vx_err **err)
{
    struct ebpf_state *s = state;

    if (s && s->slot >= 0)
        unregister(s);
    (void)t;
    (void)bi;
    (void)err;
    return 0;
}

static void ebpf_release(void *state)
{
    struct ebpf_state *s = state;

    if (!s)
        return;
    if (s->slot >= 0) /* attach failed half way: never leave a stale filter entry */
        unregister(s);
    if (s->own_obj)
        obj_free(s->obj);
    free(s);
}

const struct vx_trace_backend vx_trace_ebpf = {
    .name = "ebpf",
    .in_auto = true,
    .probe = ebpf_probe,
    .unload = ebpf_unload,
    .attach = ebpf_attach,
    .stop = ebpf_stop,
    .release = ebpf_release,
};

#else /* !VX_HAVE_BPF */

static int ebpf_probe(struct vx_trace_engine *e, void **shared, struct vx_err **err)
{
    *shared = NULL;
    (void)e;
    return vx_err_set(err, VX_E_UNAVAILABLE, 0,
                      "built without eBPF support (libbpf-dev, bpftool, clang missing at build)");
}

static int ebpf_attach(struct vx_tracer *t, int bi, const struct vx_trace_target *target,
                       const struct vx_trace_opts *opts, void **state, struct vx_err **err)
{
    *state = NULL;
    (void)t, (void)bi, (void)target, (void)opts;
    return vx_err_set(err, VX_E_UNAVAILABLE, 0, "built without eBPF support");
}

static int ebpf_stop(struct vx_tracer *t, int bi, void *state, struct vx_err **err)
{
    (void)t, (void)bi, (void)state, (void)err;
    return 0;
}

static void ebpf_release(void *state)
{
    (void)state;
}

const struct vx_trace_backend vx_trace_ebpf = {
    .name = "ebpf",
    .in_auto = true,
    .probe = ebpf_probe,
    .unload = NULL,
    .attach = ebpf_attach,
    .stop = ebpf_stop,
    .release = ebpf_release,
};

#endif
