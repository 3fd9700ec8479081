/* langwalk.c -- rootfs access shared by the language-ecosystem scanners.
 *
 * The rootfs is an untrusted image: a symlink in it may point anywhere on the host, so every
 * open goes through openat2(RESOLVE_IN_ROOT) from the rootfs fd, and the walk opens each
 * directory with O_NOFOLLOW relative to its parent (symlinks are reported to the visitor,
 * never followed). The walk is bounded in depth and entry count: a hostile image with a
 * million empty directories costs a capped amount of work and a warning, not a hang.
 */
#include "common/setup.h"

#include "inventory/langwalk.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h> /* struct open_how, RESOLVE_* (glibc 2.36 has no wrapper) */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "inventory/inv_int.h"   /* struct vx_inv_scan */
#include "inventory/inventory.h" /* vx_inventory_add (dedup) */

#define MAX_DIR_ENTRIES 200000 /* names read from one directory before it is cut short */

int vx_lang_open(int rootfd, const char *rel, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    int fd = -1, cur = -1, next;
    char *copy = NULL, *comp, *slash;

    while (*rel == '/')
        rel++;
    if (!*rel)
        rel = ".";
    for (int tries = 0; tries < 16; tries++) {
        fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            break;
    }
    if (fd >= 0)
        return fd;
    if (errno != ENOSYS)
        return -errno;
    /* Linux < 5.6: every intermediate component must be a real directory. */
    copy = vx_xstrdup(rel);
    cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0) {
        fd = -errno;
        goto out;
    }
    for (comp = copy; (slash = strchr(comp, '/')) != NULL; comp = slash + 1) {
        *slash = '\0';
        if (!*comp || strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            fd = -EXDEV;
            goto out;
        }
        next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            fd = -errno;
            goto out;
        }
        close(cur);
        cur = next;
    }
    fd = openat(cur, *comp ? comp : ".", flags | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        fd = -errno;
out:
    if (cur >= 0)
        close(cur);
    free(copy);
    return fd;
}

int vx_lang_read_fd(int fd, size_t max, struct vx_buf *b, const char *what, struct vx_err **err)
{
    char chunk[65536];
    ssize_t n;

    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vx_err_set(err, VX_E_IO, errno, "cannot read '%s'", what);
        if (n == 0)
            return 0;
        if (b->len + (size_t)n > max || vx_buf_add(b, chunk, (size_t)n) < 0)
            return vx_err_set(err, VX_E_TOO_LARGE, 0, "'%s' is larger than %zu bytes", what, max);
    }
}

int vx_lang_read(int rootfd, const char *rel, size_t max, struct vx_buf *b, struct vx_err **err)
{
    int fd = vx_lang_open(rootfd, rel, O_RDONLY);
    int rc;

    if (fd == -ENOENT || fd == -ENOTDIR)
        return vx_err_set(err, VX_E_NOT_FOUND, -fd, "'%s' not found", rel);
    if (fd < 0)
        return vx_err_set(err, VX_E_IO, -fd, "cannot open '%s'", rel);
    rc = vx_lang_read_fd(fd, max, b, rel, err);
    close(fd);
    return rc;
}

struct dent {
    char *name;
    unsigned char type; /* DT_*, DT_UNKNOWN when readdir did not say */
};

static int cmp_dent(const void *a, const void *b)
{
    return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

/* Visits the entries of the open directory dfd (rel is its rootfs-relative path, "" for the
 * root); takes ownership of dfd. */
static int walk_dir(struct vx_lang_walk *w, int dfd, char *rel, size_t rel_len, int depth,
                    struct vx_err **err)
{
    DIR *d = fdopendir(dfd);
    struct dirent *de;
    struct dent *names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!d) {
        close(dfd);
        return 0; /* unreadable directory: nothing to find there */
    }
    while ((de = readdir(d)) != NULL) {
        if (n >= MAX_DIR_ENTRIES) {
            w->truncated = true; /* the scanner says its search was cut short */
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (depth == 0 && (strcmp(de->d_name, "proc") == 0 || strcmp(de->d_name, "sys") == 0 ||
                           strcmp(de->d_name, "dev") == 0))
            continue;
        names = vx_xgrow(names, sizeof(*names), n + 1, &cap);
        names[n].name = vx_xstrdup(de->d_name);
        names[n++].type = de->d_type;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_dent);
    for (size_t i = 0; i < n && rc >= 0; i++) {
        const char *name = names[i].name;
        unsigned char type = names[i].type;
        size_t nl = strlen(name);
        struct stat st;
        int v, sub;

        if (w->n_entries >= w->max_entries) {
            w->truncated = true;
            break;
        }
        w->n_entries++;
        if (rel_len + 1 + nl + 1 > PATH_MAX)
            continue;
        if (type == DT_UNKNOWN) {
            if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            type = S_ISDIR(st.st_mode)   ? DT_DIR
                   : S_ISREG(st.st_mode) ? DT_REG
                   : S_ISLNK(st.st_mode) ? DT_LNK
                                         : DT_FIFO; /* other: never opened */
        }
        if (rel_len)
            rel[rel_len] = '/';
        memcpy(rel + rel_len + (rel_len ? 1 : 0), name, nl + 1);
        v = w->visit(w, dirfd(d), name, rel, type, err);
        if (v < 0) {
            rc = v;
        } else if (v == 0 && type == DT_DIR && depth + 1 < w->max_depth) {
            sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                rc = walk_dir(w, sub, rel, rel_len + (rel_len ? 1 : 0) + nl, depth + 1, err);
        }
        rel[rel_len] = '\0';
    }
    for (size_t i = 0; i < n; i++)
        free(names[i].name);
    free(names);
    closedir(d);
    return rc;
}

int vx_lang_walk_run(struct vx_lang_walk *w, const char *start, struct vx_err **err)
{
    char *rel = vx_xmalloc(PATH_MAX + 1);
    int fd, rc;
    size_t len;

    while (start && *start == '/')
        start++;
    if (!start || strcmp(start, ".") == 0)
        start = "";
    len = strlen(start);
    if (len >= PATH_MAX) {
        free(rel);
        return 0;
    }
    memcpy(rel, start, len + 1);
    fd = vx_lang_open(w->sc->rootfd, len ? start : ".", O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        free(rel);
        return 0;
    }
    rc = walk_dir(w, fd, rel, len, len ? 1 : 0, err);
    free(rel);
    return rc;
}

char *vx_lang_path_join(const char *dir, const char *rel)
{
    struct vx_buf out = VX_BUF_INIT(SIZE_MAX / 2);
    char *joined = rel[0] == '/' ? vx_xstrdup(rel) : vx_xasprintf("%s/%s", dir, rel);
    char *save = NULL, *comp;
    bool bad = false;

    for (comp = strtok_r(joined, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        if (strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            char *slash;

            if (out.len == 0) {
                bad = true;
                break;
            }
            slash = strrchr(out.data, '/');
            out.len = (size_t)(slash - out.data);
            out.data[out.len] = '\0';
            continue;
        }
        vx_buf_adds(&out, "/");
        vx_buf_adds(&out, comp);
    }
    free(joined);
    if (bad) {
        vx_buf_release(&out);
        return NULL;
    }
    if (out.len == 0)
        vx_buf_adds(&out, "/");
    return vx_buf_detach(&out, NULL);
}

bool vx_lang_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void dedup_put(struct vx_lang_dedup *d, char *key, size_t idx)
{
    size_t mask = d->cap - 1, i = hash_str(key) & mask;

    while (d->keys[i])
        i = (i + 1) & mask;
    d->keys[i] = key;
    d->idx[i] = idx;
    d->n++;
}

size_t vx_lang_dedup_get(struct vx_lang_dedup *d, struct vx_inventory *inv, int type,
                         const char *name, const char *version, const char *namespace, bool *added)
{
    char *key = vx_xasprintf("%d %s %s %s", type, name, version, namespace ? namespace : "");
    size_t i;

    if ((d->n + 1) * 2 > d->cap) {
        struct vx_lang_dedup old = *d;

        d->cap = d->cap ? d->cap * 2 : 64;
        d->keys = vx_xcalloc(d->cap, sizeof(*d->keys));
        d->idx = vx_xcalloc(d->cap, sizeof(*d->idx));
        d->n = 0;
        for (size_t j = 0; j < old.cap; j++)
            if (old.keys[j])
                dedup_put(d, old.keys[j], old.idx[j]);
        free(old.keys);
        free(old.idx);
    }
    for (i = hash_str(key) & (d->cap - 1); d->keys[i]; i = (i + 1) & (d->cap - 1))
        if (strcmp(d->keys[i], key) == 0) {
            free(key);
            *added = false;
            return d->idx[i];
        }
    vx_inventory_add(inv, (enum vx_pkg_type)type, name, version, NULL, namespace);
    dedup_put(d, key, inv->n_pkgs - 1);
    *added = true;
    return inv->n_pkgs - 1;
}

void vx_lang_dedup_release(struct vx_lang_dedup *d)
{
    for (size_t i = 0; i < d->cap; i++)
        free(d->keys[i]);
    free(d->keys);
    free(d->idx);
    memset(d, 0, sizeof(*d));
}

bool vx_lang_pkg_has_file(const struct vx_pkg *pkg, const char *path)
{
    const char *p = path[0] == '/' ? path + 1 : path;

    for (size_t i = 0; i < pkg->n_files; i++)
        if (strcmp(pkg->files[i] + 1, p) == 0)
            return true;
    return false;
}
