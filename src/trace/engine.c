/* engine.c -- the trace engine: the backend table, probing, selection, and the per-job tracer
 * that orchestrates attach/stop and collects what the backends report through the sink.
 *
 * DESIGN
 * The engine probes every backend of `backends[]` once (vx_trace_engine_new) and remembers
 * which work and why the others do not. A tracer is attached with a selection: "auto" takes
 * every backend that probed OK and is marked in_auto, in table order; an explicit list
 * ("fanotify,ebpf") takes exactly those, and any of them failing to probe or attach is an
 * error. Under "auto" a backend that fails to attach is recorded (ran=false, error) and the
 * others go on; none attaching is an error.
 *
 * Concurrency: backends report events from their own threads through vx_trace_note_*(),
 * which take the tracer's mutex. Raw file events are deduplicated on arrival by (process
 * root, host path) in an open-addressing hash table, so memory grows with distinct files,
 * not events; past VX_TRACE_MAX_FILES distinct files new ones are counted as lost (the
 * profile is then incomplete, never silently truncated). Canonical paths, ELF labels and the
 * profile are built in vx_tracer_stop() after every backend has stopped (profile.c).
 */
#include "common/setup.h"

#include "trace/trace.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "common/alloc.h"   /* vx_x*() */
#include "common/buf.h"     /* vx_buf for the list of available backends */
#include "common/cleanup.h" /* vx_steal_ptr() */
#include "common/err.h"     /* vx_err_*() */
#include "common/log.h"     /* vx_warn() for backends failing under "auto" */
#include "common/util.h"    /* vx_mono_ms(), vx_now_ms() */
#include "trace/trace_int.h"

/* Every backend, in the order "auto" uses them (and the profile lists them). */
static const struct vx_trace_backend *const backends[] = {
    &vx_trace_fanotify,
    &vx_trace_ebpf,
    &vx_trace_ptrace,
    &vx_trace_uprobe,
};
#define N_BACKENDS VX_ARRAY_SIZE(backends)
#define MAX_ACTIVE 8

#define VX_TRACE_MAX_FILES   (1u << 20) /* distinct (root, path) records per job */
#define VX_TRACE_MAX_PROCS   (1u << 18)
#define VX_TRACE_MAX_NET     4096
#define VX_TRACE_MAX_ROOTS   64
#define VX_TRACE_MAX_ARGS    32
#define VX_TRACE_MAX_ARG_LEN 256

struct engine_slot {
    bool ok;
    char *why; /* probe failure, or NULL */
    void *shared;
};

struct vx_trace_engine {
    struct engine_slot slot[N_BACKENDS];
    char *available; /* "fanotify,ebpf" */
    char *known;     /* every backend's name, from backends[]: "fanotify, ebpf, ..." */
    char *no_such;   /* vx_trace_engine_why() of a name not in backends[] */
};

struct tracer_slot {
    const struct vx_trace_backend *be;
    void *state;
    bool attached;
    int64_t events, lost;
    char *error;
};

struct vx_tracer {
    struct vx_trace_engine *e;
    pthread_mutex_t mu;
    char *root; /* the target's root */
    pid_t self;
    int64_t start_mono, start_wall;
    struct tracer_slot slots[MAX_ACTIVE];
    size_t n_slots;
    /* raw files, deduplicated by (root pointer, host path) */
    struct vx_trace_raw **raws;
    size_t n_raws, cap_raws;
    size_t *ht; /* index + 1, 0 = empty; size ht_cap (a power of two) */
    size_t ht_cap;
    int64_t lost_files; /* past VX_TRACE_MAX_FILES */
    /* process roots as seen by backends, interned (raw->root points here) */
    char *roots[VX_TRACE_MAX_ROOTS];
    size_t n_roots;
    struct vx_trace_proc *procs;
    size_t n_procs, cap_procs;
    struct vx_trace_net *net;
    size_t n_net, cap_net;
    char **syscalls;
    size_t n_syscalls, cap_syscalls;
    /* symbols asked for (copied from the opts) and their counts */
    struct vx_trace_symbol *symbols;
    size_t n_symbols;
};

/* ---- engine ------------------------------------------------------------------------------ */

int vx_trace_engine_new(struct vx_trace_engine **out, struct vx_err **err)
{
    struct vx_trace_engine *e = vx_xcalloc(1, sizeof(*e));
    struct vx_buf av = VX_BUF_INIT(4096), kn = VX_BUF_INIT(4096);

    for (size_t i = 0; i < N_BACKENDS; i++)
        vx_buf_addf(&kn, "%s%s", i ? ", " : "", backends[i]->name);
    e->known = vx_buf_detach(&kn, NULL);
    e->no_such = vx_xasprintf("no such tracer backend (known: %s)", e->known);
    for (size_t i = 0; i < N_BACKENDS; i++) {
        struct vx_err *perr = NULL;
        int rc = backends[i]->probe(e, &e->slot[i].shared, &perr);
        if (rc == 0) {
            e->slot[i].ok = true;
            vx_buf_addf(&av, "%s%s", av.len ? "," : "", backends[i]->name);
        } else {
            e->slot[i].why = vx_xstrdup(perr && perr->msg ? perr->msg : "probe failed");
        }
        vx_err_free(&perr);
    }
    e->available = vx_buf_detach(&av, NULL);
    *out = e;
    (void)err;
    return 0;
}

void vx_trace_engine_free(struct vx_trace_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < N_BACKENDS; i++) {
        if (backends[i]->unload)
            backends[i]->unload(e->slot[i].shared);
        free(e->slot[i].why);
    }
    free(e->available);
    free(e->known);
    free(e->no_such);
    free(e);
}

const char *vx_trace_engine_available(const struct vx_trace_engine *e)
{
    return e->available;
}

static int backend_index(const char *name, size_t len)
{
    for (size_t i = 0; i < N_BACKENDS; i++)
        if (strlen(backends[i]->name) == len && !strncmp(backends[i]->name, name, len))
            return (int)i;
    return -1;
}

const char *vx_trace_engine_why(const struct vx_trace_engine *e, const char *backend)
{
    int i = backend_index(backend, strlen(backend));

    if (i < 0)
        return e->no_such;
    return e->slot[i].ok ? NULL : e->slot[i].why;
}

void *vx_trace_engine_shared(const struct vx_trace_engine *e, const char *name)
{
    int i = backend_index(name, strlen(name));

    return i < 0 ? NULL : e->slot[i].shared;
}

/* ---- selection ----------------------------------------------------------------------------- */

/* Fills idx[] with the backend table indexes to attach; *explicit = named by the caller. */
static int select_backends(const struct vx_trace_engine *e, const char *spec, size_t n_symbols,
                           int *idx, size_t *n, bool *is_explicit, struct vx_err **err)
{
    *n = 0;
    *is_explicit = false;
    if (!spec || !*spec || !strcmp(spec, "auto")) {
        for (size_t i = 0; i < N_BACKENDS; i++)
            if (e->slot[i].ok && backends[i]->in_auto && !backends[i]->last_resort &&
                !backends[i]->symbols_only)
                idx[(*n)++] = (int)i;
        for (size_t i = 0; i < N_BACKENDS && *n == 0; i++)
            if (e->slot[i].ok && backends[i]->in_auto && backends[i]->last_resort)
                idx[(*n)++] = (int)i;
        if (*n == 0) {
            const char *why = N_BACKENDS ? e->slot[0].why : "none built";
            return vx_err_set(err, VX_E_UNAVAILABLE, 0,
                              "no tracer backend works on this host (%s: %s)",
                              N_BACKENDS ? backends[0]->name : "-", why ? why : "?");
        }
        for (size_t i = 0; i < N_BACKENDS && n_symbols; i++)
            if (e->slot[i].ok && backends[i]->in_auto && backends[i]->symbols_only &&
                *n < MAX_ACTIVE)
                idx[(*n)++] = (int)i;
        return 0;
    }
    *is_explicit = true;
    for (const char *p = spec; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int i = backend_index(p, len);

        if (len == 0)
            return vx_err_set(err, VX_E_USAGE, 0, "empty name in tracer list '%s'", spec);
        if (i < 0)
            return vx_err_set(err, VX_E_USAGE, 0, "unknown tracer '%.*s' (known: %s)", (int)len, p,
                              e->known);
        if (!e->slot[i].ok)
            return vx_err_set(err, VX_E_UNAVAILABLE, 0, "tracer '%s' is not available here: %s",
                              backends[i]->name, e->slot[i].why ? e->slot[i].why : "?");
        bool dup = false;
        for (size_t k = 0; k < *n; k++)
            dup |= idx[k] == i;
        if (!dup && *n < MAX_ACTIVE)
            idx[(*n)++] = i;
        p += len;
        if (*p == ',')
            p++;
    }
    if (*n == 0)
        return vx_err_set(err, VX_E_USAGE, 0, "empty tracer list");
    return 0;
}

/* ---- tracer -------------------------------------------------------------------------------- */

static void tracer_free(struct vx_tracer *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_slots; i++) {
        if (t->slots[i].be->release)
            t->slots[i].be->release(t->slots[i].state);
        free(t->slots[i].error);
    }
    for (size_t i = 0; i < t->n_raws; i++) {
        free(t->raws[i]->host_path);
        free(t->raws[i]->shebang);
        free(t->raws[i]);
    }
    free(t->raws);
    free(t->ht);
    for (size_t i = 0; i < t->n_roots; i++)
        free(t->roots[i]);
    for (size_t i = 0; i < t->n_procs; i++) {
        free(t->procs[i].exe);
        for (size_t k = 0; k < t->procs[i].argc; k++)
            free(t->procs[i].argv[k]);
        free(t->procs[i].argv);
    }
    free(t->procs);
    for (size_t i = 0; i < t->n_net; i++) {
        free(t->net[i].kind);
        free(t->net[i].addr);
    }
    free(t->net);
    for (size_t i = 0; i < t->n_syscalls; i++)
        free(t->syscalls[i]);
    free(t->syscalls);
    for (size_t i = 0; i < t->n_symbols; i++) {
        free(t->symbols[i].path);
        free(t->symbols[i].symbol);
        free(t->symbols[i].error);
    }
    free(t->symbols);
    free(t->root);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int vx_tracer_attach(struct vx_trace_engine *e, const struct vx_trace_opts *opts,
                     const struct vx_trace_target *target, struct vx_tracer **out,
                     struct vx_err **err)
{
    static const struct vx_trace_opts defaults = {0};
    struct vx_tracer *t = NULL;
    int idx[MAX_ACTIVE];
    size_t n = 0, n_ok = 0;
    bool is_explicit = false;
    int rc;

    if (!opts)
        opts = &defaults;
    if (!target || !target->root || target->root[0] != '/')
        return vx_err_set(err, VX_E_INVALID, 0, "trace target needs an absolute root");
    rc = select_backends(e, opts->backends, opts->n_symbols, idx, &n, &is_explicit, err);
    if (rc < 0)
        return rc;

    t = vx_xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    t->e = e;
    t->self = getpid();
    t->root = vx_xstrdup(target->root);
    while (strlen(t->root) > 1 && t->root[strlen(t->root) - 1] == '/')
        t->root[strlen(t->root) - 1] = '\0';
    t->start_mono = vx_mono_ms();
    t->start_wall = vx_now_ms();
    if (opts->n_symbols) {
        t->symbols = vx_xcalloc(opts->n_symbols, sizeof(*t->symbols));
        t->n_symbols = opts->n_symbols;
        for (size_t i = 0; i < opts->n_symbols; i++) {
            t->symbols[i].path = vx_xstrdup(opts->symbol_paths[i]);
            t->symbols[i].symbol = vx_xstrdup(opts->symbol_names[i]);
        }
    }
    /* Slots are fixed before the first attach: a backend's thread may call the sink while a
     * later backend is still attaching. */
    for (size_t i = 0; i < n; i++)
        t->slots[i].be = backends[idx[i]];
    t->n_slots = n;
    for (size_t i = 0; i < n; i++) {
        struct tracer_slot *s = &t->slots[i];
        struct vx_err *aerr = NULL;

        rc = s->be->attach(t, (int)i, target, opts, &s->state, &aerr);
        if (rc == 0) {
            s->attached = true;
            n_ok++;
            continue;
        }
        if (is_explicit) {
            rc = vx_err_wrap(&aerr, "attach tracer '%s'", s->be->name);
            if (err && !*err)
                *err = vx_steal_ptr(&aerr);
            vx_err_free(&aerr);
            goto fail;
        }
        vx_warn("tracer '%s' did not attach: %s", s->be->name, aerr ? aerr->msg : "?");
        s->error = vx_xstrdup(aerr && aerr->msg ? aerr->msg : "attach failed");
        vx_err_free(&aerr);
    }
    if (n_ok == 0) {
        rc = vx_err_set(err, VX_E_UNAVAILABLE, 0, "no tracer backend attached (%s: %s)",
                        t->slots[0].be->name, t->slots[0].error ? t->slots[0].error : "?");
        goto fail;
    }
    *out = t;
    return 0;
fail:
    for (size_t i = 0; i < t->n_slots; i++)
        if (t->slots[i].attached)
            t->slots[i].be->stop(t, (int)i, t->slots[i].state, NULL);
    tracer_free(t);
    return rc;
}

int64_t vx_tracer_now_ms(const struct vx_tracer *t)
{
    return vx_mono_ms() - t->start_mono;
}

struct vx_trace_engine *vx_tracer_engine(const struct vx_tracer *t)
{
    return t->e;
}

pid_t vx_tracer_self(const struct vx_tracer *t)
{
    return t->self;
}

/* ---- the sink ------------------------------------------------------------------------------ */

static uint64_t hash_key(const char *root, const char *path)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)root;

    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

static void ht_insert(struct vx_tracer *t, size_t index)
{
    const struct vx_trace_raw *r = t->raws[index];
    size_t mask = t->ht_cap - 1, h = (size_t)hash_key(r->root, r->host_path) & mask;

    while (t->ht[h])
        h = (h + 1) & mask;
    t->ht[h] = index + 1;
}

static void ht_grow(struct vx_tracer *t)
{
    free(t->ht);
    t->ht_cap = t->ht_cap ? t->ht_cap * 2 : 1024;
    t->ht = vx_xcalloc(t->ht_cap, sizeof(*t->ht));
    for (size_t i = 0; i < t->n_raws; i++)
        ht_insert(t, i);
}

/* Interned process root; NULL for unknown. Caller holds the lock. */
static char *intern_root(struct vx_tracer *t, const char *root)
{
    if (!root)
        return NULL;
    for (size_t i = 0; i < t->n_roots; i++)
        if (!strcmp(t->roots[i], root))
            return t->roots[i];
    if (t->n_roots == VX_TRACE_MAX_ROOTS)
        return NULL;
    t->roots[t->n_roots] = vx_xstrdup(root);
    return t->roots[t->n_roots++];
}

/* The root directory pid sees as "/", as a host path; NULL when it cannot be read. */
static char *proc_root(pid_t pid)
{
    char link[64], buf[4096];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/%d/root", (int)pid);
    n = readlink(link, buf, sizeof(buf) - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return vx_xstrdup(buf);
}

void vx_trace_note_file(struct vx_tracer *t, int bi, const char *host_path, int fd, uint64_t dev,
                        uint64_t ino, unsigned how, pid_t pid)
{
    char pathbuf[4096], *proot = NULL, *shebang = NULL;
    const char *root;

    if (!host_path) {
        char link[64];
        ssize_t n;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, pathbuf, sizeof(pathbuf) - 1);
        if (n <= 0 || n >= (ssize_t)sizeof(pathbuf) - 1) {
            vx_trace_note_lost(t, bi, 1);
            return;
        }
        pathbuf[n] = '\0';
        host_path = pathbuf;
    }
    if (host_path[0] != '/') /* "anon_inode:[...]", "pipe:[...]": not a file of the image */
        return;
    /* A plain command may chroot: its files are then relative to its own root. */
    if (!strcmp(t->root, "/") && pid > 0)
        proot = proc_root(pid);
    /* A script may be deleted before stop: its "#!" line is read now, from the event's fd. */
    if ((how & VX_HOW_EXEC) && fd >= 0)
        shebang = vx_trace_shebang_fd(fd);

    pthread_mutex_lock(&t->mu);
    root = strcmp(t->root, "/") ? t->root : intern_root(t, proot);
    if (bi >= 0 && (size_t)bi < t->n_slots)
        t->slots[bi].events++;
    if (t->n_raws * 2 >= t->ht_cap)
        ht_grow(t);
    size_t mask = t->ht_cap - 1, h = (size_t)hash_key(root, host_path) & mask;
    struct vx_trace_raw *r = NULL;
    while (t->ht[h]) {
        struct vx_trace_raw *c = t->raws[t->ht[h] - 1];
        if (c->root == root && !strcmp(c->host_path, host_path)) {
            r = c;
            break;
        }
        h = (h + 1) & mask;
    }
    if (!r) {
        if (t->n_raws >= VX_TRACE_MAX_FILES) {
            t->lost_files++;
            goto out;
        }
        r = vx_xcalloc(1, sizeof(*r));
        r->root = (char *)root;
        r->host_path = vx_xstrdup(host_path);
        r->first_ms = vx_tracer_now_ms(t);
        t->raws = vx_xgrow(t->raws, sizeof(*t->raws), t->n_raws + 1, &t->cap_raws);
        t->raws[t->n_raws++] = r;
        t->ht[h] = t->n_raws;
    }
    r->how |= how;
    if (shebang && !r->shebang)
        r->shebang = vx_steal_ptr(&shebang);
    if (bi >= 0)
        r->backends |= 1u << bi;
    if (!r->dev && !r->ino) {
        r->dev = dev;
        r->ino = ino;
    }
    r->count++;
    if (pid > 0 && r->n_pids < VX_ARRAY_SIZE(r->pids)) {
        bool seen = false;
        for (size_t i = 0; i < r->n_pids; i++)
            seen |= r->pids[i] == pid;
        if (!seen)
            r->pids[r->n_pids++] = pid;
    }
out:
    pthread_mutex_unlock(&t->mu);
    free(proot);
    free(shebang);
}

static struct vx_trace_proc *find_proc(struct vx_tracer *t, pid_t pid)
{
    for (size_t i = t->n_procs; i-- > 0;)
        if (t->procs[i].pid == pid)
            return &t->procs[i];
    return NULL;
}

void vx_trace_note_proc(struct vx_tracer *t, int bi, pid_t pid, pid_t ppid, const char *exe,
                        char *const *argv, bool exited, int exit_code)
{
    pthread_mutex_lock(&t->mu);
    struct vx_trace_proc *p = find_proc(t, pid);
    if (!p) {
        if (t->n_procs >= VX_TRACE_MAX_PROCS) {
            if (bi >= 0 && (size_t)bi < t->n_slots)
                t->slots[bi].lost++;
            goto out;
        }
        t->procs = vx_xgrow(t->procs, sizeof(*t->procs), t->n_procs + 1, &t->cap_procs);
        p = &t->procs[t->n_procs++];
        memset(p, 0, sizeof(*p));
        p->pid = pid;
        p->ppid = ppid;
        p->start_ms = vx_tracer_now_ms(t);
        p->end_ms = -1;
        p->exit_code = -1;
    }
    if (ppid > 0)
        p->ppid = ppid;
    if (exe) {
        free(p->exe);
        p->exe = vx_xstrdup(exe);
    }
    if (argv) {
        for (size_t k = 0; k < p->argc; k++)
            free(p->argv[k]);
        free(p->argv);
        size_t n = 0;
        while (argv[n] && n < VX_TRACE_MAX_ARGS)
            n++;
        p->argv = vx_xcalloc(n + 1, sizeof(*p->argv));
        for (size_t k = 0; k < n; k++)
            p->argv[k] = vx_xstrndup(argv[k], VX_TRACE_MAX_ARG_LEN);
        p->argc = n;
    }
    if (exited) {
        p->end_ms = vx_tracer_now_ms(t);
        p->exit_code = exit_code;
    }
out:
    pthread_mutex_unlock(&t->mu);
}

void vx_trace_note_net(struct vx_tracer *t, int bi, const char *kind, const char *addr, int port,
                       pid_t pid)
{
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n_net; i++) {
        if (t->net[i].port == port && !strcmp(t->net[i].kind, kind) &&
            !strcmp(t->net[i].addr, addr)) {
            t->net[i].count++;
            goto out;
        }
    }
    if (t->n_net >= VX_TRACE_MAX_NET) {
        if (bi >= 0 && (size_t)bi < t->n_slots)
            t->slots[bi].lost++;
        goto out;
    }
    t->net = vx_xgrow(t->net, sizeof(*t->net), t->n_net + 1, &t->cap_net);
    t->net[t->n_net].kind = vx_xstrdup(kind);
    t->net[t->n_net].addr = vx_xstrdup(addr);
    t->net[t->n_net].port = port;
    t->net[t->n_net].count = 1;
    t->n_net++;
out:
    if (bi >= 0 && (size_t)bi < t->n_slots)
        t->slots[bi].events++;
    pthread_mutex_unlock(&t->mu);
    (void)pid;
}

void vx_trace_note_syscall(struct vx_tracer *t, int bi, const char *name)
{
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n_syscalls; i++)
        if (!strcmp(t->syscalls[i], name))
            goto out;
    if (t->n_syscalls < 1024) {
        t->syscalls =
            vx_xgrow(t->syscalls, sizeof(*t->syscalls), t->n_syscalls + 1, &t->cap_syscalls);
        t->syscalls[t->n_syscalls++] = vx_xstrdup(name);
    }
out:
    pthread_mutex_unlock(&t->mu);
    (void)bi;
}

void vx_trace_note_lost(struct vx_tracer *t, int bi, int64_t n)
{
    pthread_mutex_lock(&t->mu);
    if (bi >= 0 && (size_t)bi < t->n_slots)
        t->slots[bi].lost += n;
    pthread_mutex_unlock(&t->mu);
}

void vx_trace_note_symbol(struct vx_tracer *t, int bi, size_t i, int64_t count, bool attached,
                          const char *error)
{
    pthread_mutex_lock(&t->mu);
    if (i < t->n_symbols) {
        t->symbols[i].count += count;
        t->symbols[i].attached |= attached;
        if (error && !t->symbols[i].error)
            t->symbols[i].error = vx_xstrdup(error);
    }
    pthread_mutex_unlock(&t->mu);
    (void)bi;
}

/* ---- stop: build the profile ------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_proc(const void *a, const void *b)
{
    const struct vx_trace_proc *x = a, *y = b;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int cmp_net(const void *a, const void *b)
{
    const struct vx_trace_net *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    if (!c)
        c = strcmp(x->addr, y->addr);
    return c ? c : (x->port > y->port) - (x->port < y->port);
}

/* exe of a process as a canonical path (best effort: relative to the target root). */
static char *canon_exe(const char *root, const char *host)
{
    size_t rl = strlen(root);
    char *out = NULL;

    if (strcmp(root, "/") && !strncmp(host, root, rl) && host[rl] == '/')
        host += rl;
    if (vx_trace_canon_in_root(root, host, &out, NULL) < 0)
        out = vx_xstrdup(host);
    return out;
}

int vx_tracer_stop(struct vx_tracer *t, struct vx_trace_profile **out, struct vx_err **err)
{
    struct vx_trace_profile *p = NULL;
    int rc = 0;

    if (!t)
        return vx_err_set(err, VX_E_INVALID, 0, "no tracer to stop");
    /* Stop every backend first: after this no thread touches the tracer. */
    for (size_t i = 0; i < t->n_slots; i++) {
        struct tracer_slot *s = &t->slots[i];
        struct vx_err *serr = NULL;

        if (!s->attached)
            continue;
        if (s->be->stop(t, (int)i, s->state, &serr) < 0) {
            s->error = vx_xstrdup(serr && serr->msg ? serr->msg : "stop failed");
            /* A backend that could not drain may have lost the tail of its events. */
            s->lost += s->lost ? 0 : 1;
        }
        vx_err_free(&serr);
    }

    p = vx_xcalloc(1, sizeof(*p));
    p->start_ms = t->start_wall;
    p->end_ms = vx_now_ms();
    p->complete = true;
    p->n_backends = t->n_slots;
    p->backends = vx_xcalloc(t->n_slots ? t->n_slots : 1, sizeof(*p->backends));
    for (size_t i = 0; i < t->n_slots; i++) {
        struct vx_trace_backend_stat *b = &p->backends[i];
        b->name = vx_xstrdup(t->slots[i].be->name);
        b->ran = t->slots[i].attached;
        b->events = t->slots[i].events;
        b->lost = t->slots[i].lost + (i == 0 ? t->lost_files : 0);
        b->error = t->slots[i].error ? vx_xstrdup(t->slots[i].error) : NULL;
        if (b->ran && b->lost > 0)
            p->complete = false;
    }

    rc = vx_trace_profile_build_files(p, t->root, t->raws, t->n_raws, err);
    if (rc < 0)
        goto out;

    p->procs = t->procs;
    p->n_procs = p->cap_procs = t->n_procs;
    t->procs = NULL;
    t->n_procs = 0;
    for (size_t i = 0; i < p->n_procs; i++) {
        if (p->procs[i].exe) {
            char *c = canon_exe(t->root, p->procs[i].exe);
            free(p->procs[i].exe);
            p->procs[i].exe = c;
        }
    }
    if (p->n_procs)
        qsort(p->procs, p->n_procs, sizeof(*p->procs), cmp_proc);
    p->net = t->net;
    p->n_net = p->cap_net = t->n_net;
    t->net = NULL;
    t->n_net = 0;
    if (p->n_net)
        qsort(p->net, p->n_net, sizeof(*p->net), cmp_net);
    p->syscalls = t->syscalls;
    p->n_syscalls = t->n_syscalls;
    t->syscalls = NULL;
    t->n_syscalls = 0;
    if (p->n_syscalls)
        qsort(p->syscalls, p->n_syscalls, sizeof(*p->syscalls), cmp_str);

    /* Symbols: resolved in user space whether or not a uprobe backend counted them, so a
     * symbol absent from its file is known (vulnerable_code_not_present). */
    p->symbols = t->symbols;
    p->n_symbols = t->n_symbols;
    t->symbols = NULL;
    t->n_symbols = 0;
    for (size_t i = 0; i < p->n_symbols; i++) {
        struct vx_trace_symbol *s = &p->symbols[i];
        struct vx_err *serr = NULL;
        char *host = NULL, *canon = NULL;

        if (vx_trace_canon_in_root(t->root, s->path, &canon, &serr) == 0) {
            host = strcmp(t->root, "/") ? vx_xasprintf("%s%s", t->root, canon) : vx_xstrdup(canon);
            if (vx_elf_symbol_offset(host, s->symbol, &s->offset, &serr) == 0)
                s->resolved = true;
        }
        if (!s->error && !s->attached)
            s->error =
                vx_xstrdup(serr && serr->msg ? serr->msg : "no uprobe backend counted this symbol");
        vx_err_free(&serr);
        free(host);
        free(canon);
    }
    *out = p;
    p = NULL;
out:
    vx_trace_profile_free(p);
    tracer_free(t);
    return rc;
}
