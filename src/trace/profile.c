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
