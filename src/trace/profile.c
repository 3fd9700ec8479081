/* profile.c -- turns the raw observations of the backends into the profile: canonical
 * in-image paths, one entry per path, interpreter and DT_NEEDED labels, and the JSON form.
 *
 * Canonical path of a raw record: the host path is made relative to the root its process saw
 * (the target's root, or for a plain command the process's own root, so a chroot'ed image
 * gives in-image paths), then resolved inside that root with openat2(RESOLVE_IN_ROOT): every
 * symlink, the last component's too, is followed the way the image's own programs would
 * see it ("/lib64/ld-linux-x86-64.so.2" -> "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
 * on a merged-/usr image) and can never lead out of the root. A path that no longer
 * resolves (deleted, unreachable) keeps its lexical form.
 *
 * Labels: for every executed file, its PT_INTERP (or `#!` interpreter) gets VX_HOW_INTERP,
 * and its DT_NEEDED libraries that were opened get VX_HOW_NEEDED, transitively (libraries'
 * own DT_NEEDED), as do those of every opened shared object (dlopen). An interpreter that no
 * backend reported (the kernel loaded it, so it ran) is added with count 0.
 */
#include "common/setup.h"

#include "trace/trace.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_x*() */
#include "common/err.h"   /* vx_err_*() */
#include "common/json.h"  /* vx_json_dump() */
#include "trace/trace_int.h"

#define MAX_LABEL_WORK 100000

/* ---- canonical paths ---------------------------------------------------------------------- */

static int sys_openat2(int dirfd, const char *path, struct open_how *how)
{
    return (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

static char *fd_path(int fd)
{
    char link[64], buf[4096];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, buf, sizeof(buf) - 1);
    if (n <= 0 || n >= (ssize_t)sizeof(buf) - 1)
        return NULL;
    buf[n] = '\0';
    return vx_xstrdup(buf);
}

int vx_trace_canon_in_root(const char *root, const char *path, char **out, struct vx_err **err)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    char *real_root = NULL, *real = NULL;
    int rootfd = -1, fd = -1, rc = 0;
    size_t rl;

    if (!path || path[0] != '/')
        return vx_err_set(err, VX_E_INVALID, 0, "'%s' is not an absolute path", path ? path : "");
    rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        rc = vx_err_set(err, VX_E_NOT_FOUND, errno, "open root '%s': %s", root, strerror(errno));
        goto out;
    }
    while (*path == '/')
        path++;
    fd = sys_openat2(rootfd, *path ? path : ".", &how);
    if (fd < 0) {
        rc = vx_err_set(err, errno == ENOENT || errno == ENOTDIR ? VX_E_NOT_FOUND : VX_E_IO, errno,
                        "resolve '/%s' in '%s': %s", path, root, strerror(errno));
        goto out;
    }
    real_root = fd_path(rootfd);
    real = fd_path(fd);
    if (!real_root || !real) {
        rc = vx_err_set(err, VX_E_IO, 0, "resolve '/%s' in '%s': cannot read the result", path,
                        root);
        goto out;
    }
    rl = strlen(real_root);
    if (!strcmp(real_root, "/")) {
        *out = real;
        real = NULL;
    } else if (!strncmp(real, real_root, rl) && (real[rl] == '/' || real[rl] == '\0')) {
        *out = vx_xstrdup(real[rl] ? real + rl : "/");
    } else {
        /* The root's mount is not reachable from here (a container's own mount namespace):
         * the kernel's path is already relative to it. */
        *out = real;
        real = NULL;
    }
out:
    free(real_root);
    free(real);
    if (fd >= 0)
        close(fd);
    if (rootfd >= 0)
        close(rootfd);
    return rc;
}

/* "/a/./b//c" -> "/a/b/c", ".." clamped at "/"; for paths that no longer resolve. */
static char *lexical(const char *path)
{
    size_t n = strlen(path);
    char *out = vx_xmalloc(n + 2);
    size_t w = 0;

    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        const char *e = strchrnul(p, '/');
        size_t len = (size_t)(e - p);
        if (len == 0)
            break;
        if (len == 1 && p[0] == '.') {
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (w > 0 && out[w - 1] != '/')
                w--;
            if (w > 0)
                w--;
        } else {
            out[w++] = '/';
            memcpy(out + w, p, len);
            w += len;
        }
        p = e;
    }
    if (w == 0)
        out[w++] = '/';
    out[w] = '\0';
    return out;
}

/* The interpreter of a "#!" first line in buf[0..n), or NULL. */
static char *parse_shebang(char *buf, ssize_t n)
{
    char *s, *e;

    if (n < 3 || buf[0] != '#' || buf[1] != '!')
        return NULL;
    buf[n] = '\0';
    s = buf + 2;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s;
    while (*e && *e != ' ' && *e != '\t' && *e != '\n' && *e != '\r')
        e++;
    if (e == s || *s != '/')
        return NULL;
    return vx_xstrndup(s, (size_t)(e - s));
}

char *vx_trace_shebang_fd(int fd)
{
    char buf[512];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    return parse_shebang(buf, n);
}

int vx_trace_shebang(int dirfd, const char *path, char **interp, struct vx_err **err)
{
    char buf[512];
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    ssize_t n;

    *interp = NULL;
    if (fd < 0)
        return vx_err_set(err, VX_E_IO, errno, "open '%s': %s", path, strerror(errno));
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    *interp = parse_shebang(buf, n);
    return 0;
}

/* ---- building the file list --------------------------------------------------------------- */

struct work {
    char *path;       /* canonical */
    const char *root; /* host root it lives under (borrowed) */
    const struct vx_trace_raw *raw;
};

static int cmp_work(const void *a, const void *b)
{
    const struct work *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : strcmp(x->root, y->root);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct vx_trace_file *)a)->path, ((const struct vx_trace_file *)b)->path);
}

/* The root of a record whose process root is unknown (it exited before the backend asked):
 * the longest known process root the host path lies under, else the target's. */
static const char *guess_root(const char *target_root, struct vx_trace_raw *const *raws, size_t n,
                              const char *host)
{
    const char *best = target_root;
    size_t best_len = 0;

    for (size_t i = 0; i < n; i++) {
        const char *r = raws[i]->root;
        size_t rl;
        if (!r || !strcmp(r, "/"))
            continue;
        rl = strlen(r);
        if (rl > best_len && !strncmp(host, r, rl) && host[rl] == '/') {
            best = r;
            best_len = rl;
        }
    }
    return best;
}

static void add_pid(struct vx_trace_file *f, pid_t pid)
{
    for (size_t i = 0; i < f->n_pids; i++)
        if (f->pids[i] == pid)
            return;
    if (f->n_pids < VX_ARRAY_SIZE(f->pids))
        f->pids[f->n_pids++] = pid;
}

/* Roots per file, parallel to p->files while labelling. */
struct label_ctx {
    struct vx_trace_profile *p;
    const char **roots;
    bool *done;            /* deps of file i looked at */
    const char **shebangs; /* "#!" interpreter recorded at exec time (borrowed), or NULL */
    size_t cap;
    const char *target_root;
};

static char *host_of(const char *root, const char *path)
{
    return strcmp(root, "/") ? vx_xasprintf("%s%s", root, path) : vx_xstrdup(path);
}

static ssize_t find_file(const struct label_ctx *c, const char *root, const char *path)
{
    for (size_t i = 0; i < c->p->n_files; i++)
        if (!strcmp(c->p->files[i].path, path) && !strcmp(c->roots[i], root))
            return (ssize_t)i;
    return -1;
}

static size_t add_file(struct label_ctx *c, const char *root, const char *path)
{
    struct vx_trace_profile *p = c->p;
    struct stat st;
    char *host = host_of(root, path);
    size_t old_cap = p->cap_files;

    p->files = vx_xgrow(p->files, sizeof(*p->files), p->n_files + 1, &p->cap_files);
    if (p->cap_files != old_cap) {
        c->roots = vx_xrealloc(c->roots, p->cap_files * sizeof(*c->roots));
        c->done = vx_xrealloc(c->done, p->cap_files * sizeof(*c->done));
        c->shebangs = vx_xrealloc(c->shebangs, p->cap_files * sizeof(*c->shebangs));
    }
    struct vx_trace_file *f = &p->files[p->n_files];
    memset(f, 0, sizeof(*f));
    f->path = vx_xstrdup(path);
    if (stat(host, &st) == 0) {
        f->dev = (uint64_t)st.st_dev;
        f->ino = (uint64_t)st.st_ino;
    }
    c->roots[p->n_files] = root;
    c->done[p->n_files] = false;
    c->shebangs[p->n_files] = NULL;
    free(host);
    return p->n_files++;
}

/* Labels the file 'path' (as the image names it) under root with how; adds it if add_missing. */
static ssize_t label(struct label_ctx *c, const char *root, const char *path, unsigned how,
                     bool add_missing)
{
    char *canon = NULL;
    ssize_t i;

    if (vx_trace_canon_in_root(root, path, &canon, NULL) < 0)
        return -1;
    i = find_file(c, root, canon);
    if (i < 0 && add_missing)
        i = (ssize_t)add_file(c, root, canon);
    if (i >= 0)
        c->p->files[i].how |= how;
    free(canon);
    return i;
}

static bool is_shared_object_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    return strstr(b, ".so") && (strstr(b, ".so")[3] == '\0' || strstr(b, ".so")[3] == '.');
}

/* DT_NEEDED name -> the opened file it names, searched the way ld.so would on a Debian-like
 * image (the interpreter's directory, multiarch and plain lib dirs), then by basename. */
static ssize_t label_needed(struct label_ctx *c, const char *root, const char *name,
                            const char *interp_dir)
{
    static const char *const dirs[] = {
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/lib",
        "/usr/lib",
        "/usr/local/lib",
    };
    ssize_t i = -1;

    if (strchr(name, '/'))
        return label(c, root, name, VX_HOW_NEEDED, false);
    if (interp_dir) {
        char *p = vx_xasprintf("%s/%s", interp_dir, name);
        i = label(c, root, p, VX_HOW_NEEDED, false);
        free(p);
        if (i >= 0)
            return i;
    }
    for (size_t d = 0; d < VX_ARRAY_SIZE(dirs); d++) {
        char *p = vx_xasprintf("%s/%s", dirs[d], name);
        i = label(c, root, p, VX_HOW_NEEDED, false);
        free(p);
        if (i >= 0)
            return i;
    }
    /* RUNPATH/RPATH or $ORIGIN libraries: an opened file of that very name */
    for (size_t k = 0; k < c->p->n_files; k++) {
        const char *b = strrchr(c->p->files[k].path, '/');
        if (b && !strcmp(b + 1, name) && !strcmp(c->roots[k], root)) {
            c->p->files[k].how |= VX_HOW_NEEDED;
            return (ssize_t)k;
        }
    }
    return -1;
}

static void label_one(struct label_ctx *c, size_t i)
{
    const char *root = c->roots[i];
    char *host = host_of(root, c->p->files[i].path), *interp = NULL, **needed = NULL;
    char *interp_dir = NULL;
    size_t n_needed = 0;

    c->done[i] = true;
    if (c->p->files[i].how & VX_HOW_EXEC) {
        char *sb = c->shebangs[i] ? vx_xstrdup(c->shebangs[i]) : NULL;
        if (sb || (vx_trace_shebang(AT_FDCWD, host, &sb, NULL) == 0 && sb)) {
            label(c, root, sb, VX_HOW_INTERP, true);
            free(sb);
            goto out;
        }
    }
    if (vx_elf_deps(host, &interp, &needed, &n_needed, NULL) < 0)
        goto out;
    if (interp) {
        ssize_t k = label(c, root, interp, VX_HOW_INTERP, true);
        if (k >= 0) {
            const char *path = c->p->files[k].path, *slash = strrchr(path, '/');
            interp_dir = vx_xstrndup(path, slash && slash != path ? (size_t)(slash - path) : 1);
        }
    }
    for (size_t k = 0; k < n_needed; k++) {
        ssize_t j = label_needed(c, root, needed[k], interp_dir);
        (void)j;
    }
out:
    for (size_t k = 0; k < n_needed; k++)
        free(needed[k]);
    free(needed);
    free(interp);
    free(interp_dir);
    free(host);
}

static void label_all(struct label_ctx *c)
{
    size_t budget = MAX_LABEL_WORK;
    bool progress = true;

    /* Executed files and opened shared objects first; then, until nothing changes, the
     * libraries labelled NEEDED (their own DT_NEEDED). */
    while (progress && budget) {
        progress = false;
        for (size_t i = 0; i < c->p->n_files && budget; i++) {
            const struct vx_trace_file *f = &c->p->files[i];
            if (c->done[i])
                continue;
            if (!(f->how & (VX_HOW_EXEC | VX_HOW_NEEDED | VX_HOW_MMAP_EXEC)) &&
                !((f->how & VX_HOW_OPEN) && is_shared_object_name(f->path)))
                continue;
            label_one(c, i);
            budget--;
            progress = true;
        }
    }
}

int vx_trace_profile_build_files(struct vx_trace_profile *p, const char *target_root,
                                 struct vx_trace_raw *const *raws, size_t n_raws,
                                 struct vx_err **err)
{
    struct work *w = vx_xcalloc(n_raws ? n_raws : 1, sizeof(*w));
    struct label_ctx c = {.p = p, .target_root = target_root};
    size_t n = 0;

    for (size_t i = 0; i < n_raws; i++) {
        const struct vx_trace_raw *r = raws[i];
        const char *root = r->root ? r->root : guess_root(target_root, raws, n_raws, r->host_path);
        const char *rel = r->host_path;
        size_t rl = strlen(root);
        char *canon = NULL;

        if (strcmp(root, "/") != 0) {
            if (!strncmp(rel, root, rl) && rel[rl] == '/')
                rel += rl;
            else if (strcmp(root, target_root) != 0)
                root = "/"; /* outside its chroot (an inherited fd): a host path */
            /* else: the target's own mount seen from another namespace: already in-image */
        }
        if (vx_trace_canon_in_root(root, rel, &canon, NULL) < 0) {
            char *tmp = vx_xstrdup(rel);
            size_t tl = strlen(tmp);
            if (tl > 10 && !strcmp(tmp + tl - 10, " (deleted)"))
                tmp[tl - 10] = '\0';
            canon = lexical(tmp);
            free(tmp);
        }
        w[n].path = canon;
        w[n].root = root;
        w[n].raw = r;
        n++;
    }
    if (n)
        qsort(w, n, sizeof(*w), cmp_work);

    for (size_t i = 0; i < n; i++) {
        const struct vx_trace_raw *r = w[i].raw;
        struct vx_trace_file *f;
        /* compare with the last kept entry: a merged entry's own path is freed below */
        if (p->n_files > 0 && !strcmp(w[i].path, p->files[p->n_files - 1].path) &&
            !strcmp(w[i].root, c.roots[p->n_files - 1])) {
            f = &p->files[p->n_files - 1];
            free(w[i].path);
            if (r->first_ms < f->first_ms)
                f->first_ms = r->first_ms;
        } else {
            size_t old_cap = p->cap_files;
            p->files = vx_xgrow(p->files, sizeof(*p->files), p->n_files + 1, &p->cap_files);
            if (p->cap_files != old_cap) {
                c.roots = vx_xrealloc(c.roots, p->cap_files * sizeof(*c.roots));
                c.done = vx_xrealloc(c.done, p->cap_files * sizeof(*c.done));
                c.shebangs = vx_xrealloc(c.shebangs, p->cap_files * sizeof(*c.shebangs));
            }
            f = &p->files[p->n_files];
            memset(f, 0, sizeof(*f));
            f->path = w[i].path;
            f->first_ms = r->first_ms;
            c.roots[p->n_files] = w[i].root;
            c.done[p->n_files] = false;
            c.shebangs[p->n_files] = NULL;
            p->n_files++;
        }
        if (r->shebang && !c.shebangs[p->n_files - 1])
            c.shebangs[p->n_files - 1] = r->shebang;
        f->how |= r->how;
        f->backends |= r->backends;
        f->count += r->count;
        if (!f->dev && !f->ino) {
            f->dev = r->dev;
            f->ino = r->ino;
        }
        for (size_t k = 0; k < r->n_pids; k++)
            add_pid(f, r->pids[k]);
    }
    free(w);

    label_all(&c);
    if (p->n_files)
        qsort(p->files, p->n_files, sizeof(*p->files), cmp_file);
    free(c.roots);
    free(c.done);
    free(c.shebangs);
    (void)err;
    return 0;
}

/* ---- the profile -------------------------------------------------------------------------- */

void vx_trace_profile_free(struct vx_trace_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_files; i++)
        free(p->files[i].path);
    free(p->files);
    for (size_t i = 0; i < p->n_procs; i++) {
        free(p->procs[i].exe);
        for (size_t k = 0; k < p->procs[i].argc; k++)
            free(p->procs[i].argv[k]);
        free(p->procs[i].argv);
    }
    free(p->procs);
    for (size_t i = 0; i < p->n_net; i++) {
        free(p->net[i].kind);
        free(p->net[i].addr);
    }
    free(p->net);
    for (size_t i = 0; i < p->n_syscalls; i++)
        free(p->syscalls[i]);
    free(p->syscalls);
    for (size_t i = 0; i < p->n_symbols; i++) {
        free(p->symbols[i].path);
        free(p->symbols[i].symbol);
        free(p->symbols[i].error);
    }
    free(p->symbols);
    for (size_t i = 0; i < p->n_backends; i++) {
        free(p->backends[i].name);
        free(p->backends[i].error);
    }
    free(p->backends);
    free(p);
}

const struct vx_trace_file *vx_trace_profile_file(const struct vx_trace_profile *p,
                                                  const char *path)
{
    size_t lo = 0, hi = p->n_files;

    while (lo < hi) { /* files are sorted by path */
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(p->files[mid].path, path);
        if (c == 0) {
            while (mid > 0 && !strcmp(p->files[mid - 1].path, path))
                mid--;
            return &p->files[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static json_t *how_json(unsigned how)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {VX_HOW_OPEN, "open"},     {VX_HOW_EXEC, "exec"},     {VX_HOW_MMAP_EXEC, "mmap-exec"},
        {VX_HOW_INTERP, "interp"}, {VX_HOW_NEEDED, "needed"},
    };
    json_t *a = json_array();

    for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++)
        if (how & names[i].bit)
            json_array_append_new(a, json_string(names[i].name));
    return a;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

char *vx_trace_profile_json(const struct vx_trace_profile *p)
{
    json_t *root = json_object(), *a;
    char *out;

    json_object_set_new(root, "complete", json_boolean(p->complete));
    json_object_set_new(root, "window",
                        json_pack("{sIsIsI}", "start_ms", (json_int_t)p->start_ms, "end_ms",
                                  (json_int_t)p->end_ms, "duration_ms",
                                  (json_int_t)(p->end_ms - p->start_ms)));
    a = json_array();
    for (size_t i = 0; i < p->n_backends; i++) {
        const struct vx_trace_backend_stat *b = &p->backends[i];
        json_array_append_new(a, json_pack("{sssbsIsIso}", "name", b->name, "ran", b->ran, "events",
                                           (json_int_t)b->events, "lost", (json_int_t)b->lost,
                                           "error", str_or_null(b->error)));
    }
    json_object_set_new(root, "backends", a);

    a = json_array();
    for (size_t i = 0; i < p->n_files; i++) {
        const struct vx_trace_file *f = &p->files[i];
        json_t *pids = json_array(), *bes = json_array();
        for (size_t k = 0; k < f->n_pids; k++)
            json_array_append_new(pids, json_integer(f->pids[k]));
        for (size_t k = 0; k < p->n_backends && k < 32; k++)
            if (f->backends & (1u << k))
                json_array_append_new(bes, json_string(p->backends[k].name));
        json_array_append_new(a, json_pack("{sssIsIsosIsIsoso}", "path", f->path, "dev",
                                           (json_int_t)f->dev, "ino", (json_int_t)f->ino, "how",
                                           how_json(f->how), "first_ms", (json_int_t)f->first_ms,
                                           "count", (json_int_t)f->count, "pids", pids, "backends",
                                           bes));
    }
    json_object_set_new(root, "files", a);

    a = json_array();
    for (size_t i = 0; i < p->n_procs; i++) {
        const struct vx_trace_proc *pr = &p->procs[i];
        json_t *argv = json_array();
        for (size_t k = 0; k < pr->argc; k++)
            json_array_append_new(argv, json_string(pr->argv[k]));
        json_t *o = json_pack("{sisisosososIsi}", "pid", (int)pr->pid, "ppid", (int)pr->ppid, "exe",
                              str_or_null(pr->exe), "argv", argv, "end_ms",
                              pr->end_ms < 0 ? json_null() : json_integer(pr->end_ms), "start_ms",
                              (json_int_t)pr->start_ms, "exit_code", pr->exit_code);
        json_array_append_new(a, o);
    }
    json_object_set_new(root, "processes", a);

    a = json_array();
    for (size_t i = 0; i < p->n_net; i++)
        json_array_append_new(a, json_pack("{sssssisI}", "kind", p->net[i].kind, "addr",
                                           p->net[i].addr, "port", p->net[i].port, "count",
                                           (json_int_t)p->net[i].count));
    json_object_set_new(root, "network", a);

    a = json_array();
    for (size_t i = 0; i < p->n_syscalls; i++)
        json_array_append_new(a, json_string(p->syscalls[i]));
    json_object_set_new(root, "syscalls", a);

    a = json_array();
    for (size_t i = 0; i < p->n_symbols; i++) {
        const struct vx_trace_symbol *s = &p->symbols[i];
        json_array_append_new(a, json_pack("{sssssIsbsbsIso}", "path", s->path, "symbol", s->symbol,
                                           "offset", (json_int_t)s->offset, "resolved", s->resolved,
                                           "attached", s->attached, "count", (json_int_t)s->count,
                                           "error", str_or_null(s->error)));
    }
    json_object_set_new(root, "symbols", a);

    out = vx_json_dump(root);
    json_decref(root);
    return out;
}

/* ---- reading the JSON form back ------------------------------------------------------------
 *
 * The profile of a Kubernetes run arrives in the tracer sidecar's log: untrusted bytes. Every
 * field vx_trace_profile_json writes is required with its type, every count and string has a
 * cap, and an error names the JSON path at fault ("files[3].how[1]"). Unknown members are
 * ignored (a newer writer may add some). */

#define PARSE_MAX_INPUT    (64u << 20)
#define PARSE_MAX_FILES    (1u << 20)
#define PARSE_MAX_PROCS    (1u << 18)
#define PARSE_MAX_NET      (1u << 16)
#define PARSE_MAX_SYSCALLS 1024u
#define PARSE_MAX_SYMBOLS  4096u
#define PARSE_MAX_BACKENDS 32u
#define PARSE_MAX_ARGV     32u
#define PARSE_MAX_ARG      256u
#define PARSE_MAX_PATH     4096u
#define PARSE_MAX_TEXT     4096u /* names, errors, addresses */

static int bad(struct vx_err **err, const char *where, const char *key, const char *what)
{
    return vx_err_set(err, VX_E_INVALID, 0, "profile %s%s%s: %s", where, *where && key ? "." : "",
                      key ? key : "", what);
}

static int get_member(const json_t *o, const char *where, const char *key, json_t **out,
                      struct vx_err **err)
{
    *out = json_object_get(o, key);
    if (!*out)
        return bad(err, where, key, "missing");
    return 0;
}

static int get_i64(const json_t *o, const char *where, const char *key, int64_t min, int64_t max,
                   int64_t *out, struct vx_err **err)
{
    json_t *v;
    int r = get_member(o, where, key, &v, err);

    if (r < 0)
        return r;
    if (!json_is_integer(v))
        return bad(err, where, key, "not an integer");
    if (json_integer_value(v) < min || json_integer_value(v) > max)
        return bad(err, where, key, "out of range");
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int get_bool(const json_t *o, const char *where, const char *key, bool *out,
                    struct vx_err **err)
{
    json_t *v;
    int r = get_member(o, where, key, &v, err);

    if (r < 0)
        return r;
    if (!json_is_boolean(v))
        return bad(err, where, key, "not a boolean");
    *out = json_is_true(v);
    return 0;
}

/* A string value (no NUL inside, at most max bytes); owned copy in *out. */
static int str_value(const json_t *v, const char *where, const char *key, size_t max, char **out,
                     struct vx_err **err)
{
    if (!json_is_string(v))
        return bad(err, where, key, "not a string");
    if (json_string_length(v) > max)
        return bad(err, where, key, "too long");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(err, where, key, "holds a NUL character");
    *out = vx_xstrdup(json_string_value(v));
    return 0;
}

/* A string member; with nullable, JSON null gives *out = NULL. */
static int get_str(const json_t *o, const char *where, const char *key, bool nullable, size_t max,
                   char **out, struct vx_err **err)
{
    json_t *v;
    int r = get_member(o, where, key, &v, err);

    *out = NULL;
    if (r < 0)
        return r;
    if (nullable && json_is_null(v))
        return 0;
    return str_value(v, where, key, max, out, err);
}

static int get_array(const json_t *o, const char *where, const char *key, size_t max, json_t **out,
                     struct vx_err **err)
{
    int r = get_member(o, where, key, out, err);

    if (r < 0)
        return r;
    if (!json_is_array(*out))
        return bad(err, where, key, "not an array");
    if (json_array_size(*out) > max)
        return bad(err, where, key, "too many entries");
    return 0;
}

/* The object at a[i], its path written into where[len]. */
static int item_object(const json_t *a, size_t i, const char *key, char *where, size_t len,
                       json_t **out, struct vx_err **err)
{
    snprintf(where, len, "%s[%zu]", key, i);
    *out = json_array_get(a, i);
    if (!json_is_object(*out))
        return bad(err, where, NULL, "not an object");
    return 0;
}

static int parse_how(const json_t *a, const char *where, unsigned *how, struct vx_err **err)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {VX_HOW_OPEN, "open"},     {VX_HOW_EXEC, "exec"},     {VX_HOW_MMAP_EXEC, "mmap-exec"},
        {VX_HOW_INTERP, "interp"}, {VX_HOW_NEEDED, "needed"},
    };
    size_t i;

    *how = 0;
    for (i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        char sub[32];
        size_t k;

        snprintf(sub, sizeof(sub), "how[%zu]", i);
        for (k = 0; s && k < VX_ARRAY_SIZE(names); k++)
            if (!strcmp(s, names[k].name))
                break;
        if (!s || k == VX_ARRAY_SIZE(names))
            return bad(err, where, sub, "not one of open, exec, mmap-exec, interp, needed");
        *how |= names[k].bit;
    }
    return 0;
}

static int parse_backends(struct vx_trace_profile *p, const json_t *a, struct vx_err **err)
{
    char where[64];
    int r = 0;

    p->backends = vx_xcalloc(json_array_size(a) + 1, sizeof(*p->backends));
    for (size_t i = 0; i < json_array_size(a) && r == 0; i++) {
        struct vx_trace_backend_stat *b = &p->backends[i];
        json_t *o;

        p->n_backends++;
        if ((r = item_object(a, i, "backends", where, sizeof(where), &o, err)) < 0 ||
            (r = get_str(o, where, "name", false, PARSE_MAX_TEXT, &b->name, err)) < 0 ||
            (r = get_bool(o, where, "ran", &b->ran, err)) < 0 ||
            (r = get_i64(o, where, "events", INT64_MIN, INT64_MAX, &b->events, err)) < 0 ||
            (r = get_i64(o, where, "lost", INT64_MIN, INT64_MAX, &b->lost, err)) < 0)
            break;
        r = get_str(o, where, "error", true, PARSE_MAX_TEXT, &b->error, err);
    }
    return r;
}

static int parse_file(struct vx_trace_profile *p, const json_t *o, const char *where,
                      struct vx_trace_file *f, struct vx_err **err)
{
    json_t *a;
    int64_t v;
    int r;

    if ((r = get_str(o, where, "path", false, PARSE_MAX_PATH, &f->path, err)) < 0)
        return r;
    if ((r = get_i64(o, where, "dev", INT64_MIN, INT64_MAX, &v, err)) < 0)
        return r;
    f->dev = (uint64_t)v; /* written as the signed image of the u64 */
    if ((r = get_i64(o, where, "ino", INT64_MIN, INT64_MAX, &v, err)) < 0)
        return r;
    f->ino = (uint64_t)v;
    if ((r = get_array(o, where, "how", 16, &a, err)) < 0 ||
        (r = parse_how(a, where, &f->how, err)) < 0)
        return r;
    if ((r = get_i64(o, where, "first_ms", INT64_MIN, INT64_MAX, &f->first_ms, err)) < 0 ||
        (r = get_i64(o, where, "count", INT64_MIN, INT64_MAX, &f->count, err)) < 0)
        return r;
    if ((r = get_array(o, where, "pids", VX_ARRAY_SIZE(f->pids), &a, err)) < 0)
        return r;
    for (size_t k = 0; k < json_array_size(a); k++) {
        json_t *pv = json_array_get(a, k);

        if (!json_is_integer(pv) || json_integer_value(pv) < INT32_MIN ||
            json_integer_value(pv) > INT32_MAX)
            return bad(err, where, "pids", "holds a value that is not a pid");
        f->pids[f->n_pids++] = (pid_t)json_integer_value(pv);
    }
    if ((r = get_array(o, where, "backends", PARSE_MAX_BACKENDS, &a, err)) < 0)
        return r;
    for (size_t k = 0; k < json_array_size(a); k++) {
        const char *name = json_string_value(json_array_get(a, k));
        size_t b;

        for (b = 0; name && b < p->n_backends && b < 32; b++)
            if (!strcmp(p->backends[b].name, name))
                break;
        if (!name || b == p->n_backends || b == 32)
            return bad(err, where, "backends", "names a backend the profile does not list");
        f->backends |= 1u << b;
    }
    return 0;
}

static int parse_proc(const json_t *o, const char *where, struct vx_trace_proc *pr,
                      struct vx_err **err)
{
    json_t *a, *end;
    int64_t v;
    int r;

    if ((r = get_i64(o, where, "pid", INT32_MIN, INT32_MAX, &v, err)) < 0)
        return r;
    pr->pid = (pid_t)v;
    if ((r = get_i64(o, where, "ppid", INT32_MIN, INT32_MAX, &v, err)) < 0)
        return r;
    pr->ppid = (pid_t)v;
    if ((r = get_str(o, where, "exe", true, PARSE_MAX_PATH, &pr->exe, err)) < 0)
        return r;
    if ((r = get_array(o, where, "argv", PARSE_MAX_ARGV, &a, err)) < 0)
        return r;
    pr->argv = vx_xcalloc(json_array_size(a) + 1, sizeof(char *));
    for (size_t k = 0; k < json_array_size(a); k++) {
        char sub[32];

        snprintf(sub, sizeof(sub), "argv[%zu]", k);
        if ((r = str_value(json_array_get(a, k), where, sub, PARSE_MAX_ARG, &pr->argv[k], err)) < 0)
            return r;
        pr->argc++;
    }
    if ((r = get_member(o, where, "end_ms", &end, err)) < 0)
        return r;
    if (json_is_null(end))
        pr->end_ms = -1;
    else if ((r = get_i64(o, where, "end_ms", 0, INT64_MAX, &pr->end_ms, err)) < 0)
        return r; /* -1 is written as null: a negative end cannot come back the same */
    if ((r = get_i64(o, where, "start_ms", INT64_MIN, INT64_MAX, &pr->start_ms, err)) < 0 ||
        (r = get_i64(o, where, "exit_code", INT32_MIN, INT32_MAX, &v, err)) < 0)
        return r;
    pr->exit_code = (int)v;
    return 0;
}

static int parse_symbol(const json_t *o, const char *where, struct vx_trace_symbol *s,
                        struct vx_err **err)
{
    int64_t v;
    int r;

    if ((r = get_str(o, where, "path", false, PARSE_MAX_PATH, &s->path, err)) < 0 ||
        (r = get_str(o, where, "symbol", false, PARSE_MAX_TEXT, &s->symbol, err)) < 0 ||
        (r = get_i64(o, where, "offset", INT64_MIN, INT64_MAX, &v, err)) < 0)
        return r;
    s->offset = (uint64_t)v;
    if ((r = get_bool(o, where, "resolved", &s->resolved, err)) < 0 ||
        (r = get_bool(o, where, "attached", &s->attached, err)) < 0 ||
        (r = get_i64(o, where, "count", INT64_MIN, INT64_MAX, &s->count, err)) < 0)
        return r;
    return get_str(o, where, "error", true, PARSE_MAX_TEXT, &s->error, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_profile(const json_t *root, struct vx_trace_profile *p, struct vx_err **err)
{
    json_t *a, *win, *o;
    char where[64];
    int64_t dur;
    bool sorted = true;
    int r;

    if (!json_is_object(root))
        return vx_err_set(err, VX_E_INVALID, 0, "profile: not a JSON object");
    if ((r = get_bool(root, "", "complete", &p->complete, err)) < 0 ||
        (r = get_member(root, "", "window", &win, err)) < 0)
        return r;
    if (!json_is_object(win))
        return bad(err, "", "window", "not an object");
    if ((r = get_i64(win, "window", "start_ms", INT64_MIN, INT64_MAX, &p->start_ms, err)) < 0 ||
        (r = get_i64(win, "window", "end_ms", INT64_MIN, INT64_MAX, &p->end_ms, err)) < 0 ||
        (r = get_i64(win, "window", "duration_ms", INT64_MIN, INT64_MAX, &dur, err)) < 0)
        return r;

    if ((r = get_array(root, "", "backends", PARSE_MAX_BACKENDS, &a, err)) < 0 ||
        (r = parse_backends(p, a, err)) < 0)
        return r;

    if ((r = get_array(root, "", "files", PARSE_MAX_FILES, &a, err)) < 0)
        return r;
    p->files = vx_xcalloc(json_array_size(a) + 1, sizeof(*p->files));
    p->cap_files = json_array_size(a) + 1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        p->n_files++;
        if ((r = item_object(a, i, "files", where, sizeof(where), &o, err)) < 0 ||
            (r = parse_file(p, o, where, &p->files[i], err)) < 0)
            return r;
        if (i > 0 && strcmp(p->files[i - 1].path, p->files[i].path) > 0)
            sorted = false;
    }
    /* consumers binary-search the files: a writer that did not sort gets sorted */
    if (!sorted)
        qsort(p->files, p->n_files, sizeof(*p->files), cmp_file);

    if ((r = get_array(root, "", "processes", PARSE_MAX_PROCS, &a, err)) < 0)
        return r;
    p->procs = vx_xcalloc(json_array_size(a) + 1, sizeof(*p->procs));
    p->cap_procs = json_array_size(a) + 1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        p->n_procs++;
        if ((r = item_object(a, i, "processes", where, sizeof(where), &o, err)) < 0 ||
            (r = parse_proc(o, where, &p->procs[i], err)) < 0)
            return r;
    }

    if ((r = get_array(root, "", "network", PARSE_MAX_NET, &a, err)) < 0)
        return r;
    p->net = vx_xcalloc(json_array_size(a) + 1, sizeof(*p->net));
    p->cap_net = json_array_size(a) + 1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        struct vx_trace_net *n = &p->net[i];
        int64_t port;

        p->n_net++;
        if ((r = item_object(a, i, "network", where, sizeof(where), &o, err)) < 0 ||
            (r = get_str(o, where, "kind", false, PARSE_MAX_TEXT, &n->kind, err)) < 0 ||
            (r = get_str(o, where, "addr", false, PARSE_MAX_TEXT, &n->addr, err)) < 0 ||
            (r = get_i64(o, where, "port", 0, 65535, &port, err)) < 0 ||
            (r = get_i64(o, where, "count", INT64_MIN, INT64_MAX, &n->count, err)) < 0)
            return r;
        n->port = (int)port;
    }

    if ((r = get_array(root, "", "syscalls", PARSE_MAX_SYSCALLS, &a, err)) < 0)
        return r;
    p->syscalls = vx_xcalloc(json_array_size(a) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(a); i++) {
        snprintf(where, sizeof(where), "syscalls[%zu]", i);
        if ((r = str_value(json_array_get(a, i), "", where, 64, &p->syscalls[i], err)) < 0)
            return r;
        p->n_syscalls++;
    }
    if (p->n_syscalls > 1)
        qsort(p->syscalls, p->n_syscalls, sizeof(char *), cmp_str);

    if ((r = get_array(root, "", "symbols", PARSE_MAX_SYMBOLS, &a, err)) < 0)
        return r;
    p->symbols = vx_xcalloc(json_array_size(a) + 1, sizeof(*p->symbols));
    for (size_t i = 0; i < json_array_size(a); i++) {
        p->n_symbols++;
        if ((r = item_object(a, i, "symbols", where, sizeof(where), &o, err)) < 0 ||
            (r = parse_symbol(o, where, &p->symbols[i], err)) < 0)
            return r;
    }
    return 0;
}

int vx_trace_profile_parse(const char *json, size_t len, struct vx_trace_profile **out,
                           struct vx_err **err)
{
    struct vx_trace_profile *p = NULL;
    json_t *root = NULL;
    int r;

    *out = NULL;
    if (len > PARSE_MAX_INPUT)
        return vx_err_set(err, VX_E_TOO_LARGE, 0, "profile: over %u MiB", PARSE_MAX_INPUT >> 20);
    r = vx_json_parse(json, len, &root, err);
    if (r < 0)
        return vx_err_wrap(err, "profile");
    p = vx_xcalloc(1, sizeof(*p));
    r = parse_profile(root, p, err);
    json_decref(root);
    if (r < 0) {
        vx_trace_profile_free(p);
        return r;
    }
    *out = p;
    return 0;
}
