/* unpack.c -- applies image layers (tar, tar+gzip, tar+zstd) into one rootfs, safely.
 *
 * A layer is hostile input: every name is checked, and every path is resolved inside the
 * root, so no entry can create, modify or link anything outside it.
 *
 * DESIGN
 * - Streaming: libarchive reads the blob (format tar: ustar, pax, GNU incl. long names and
 *   sparse; filters gzip, zstd or none, detected from the bytes); file data goes block by
 *   block to pwrite(2). A layer is never held in memory (vx_layer_apply_mem is for fuzzing).
 * - Names: leading "./" and "." components are dropped, trailing '/' too. Refused with
 *   -VX_E_UNPROCESSABLE naming the entry: empty names, absolute names (we reject rather
 *   than strip the leading '/' like tar: a layer writer never produces them, so one is a
 *   sign of an attack or a broken tool), any ".." component, names longer than
 *   max_path_len, a ".wh." prefix on a directory component. The root entry itself ("./")
 *   is skipped: the caller owns the root's mode. libarchive hands out C strings, so a NUL
 *   inside a pax name cannot reach us (it truncates the name).
 * - Resolution: the entry's parent directory is opened with openat2(RESOLVE_IN_ROOT |
 *   RESOLVE_NO_MAGICLINKS) relative to the root (created 0755 component by component, each
 *   component again resolved in root); the leaf is then created relative to that parent fd
 *   with calls that never follow a final symlink (O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat,
 *   symlinkat, linkat, fchownat/utimensat with AT_SYMLINK_NOFOLLOW). A symlink planted by
 *   an earlier entry ("l -> /etc", then "l/x") is thus followed as if the root were '/':
 *   the file lands in root/etc/x. A parent that is a dangling symlink is followed the same
 *   way (its target created as directories inside the root, at most 40 links deep), so
 *   "l -> /tmp", then "l/x" creates root/tmp/x.
 *   The parent fd of the previous entry is cached: removals only ever touch children of the
 *   current parent, and an entry that replaces an ancestor of the cached path has another
 *   parent, so the cache is replaced (or, for a root-level entry, dropped) before it could
 *   go stale.
 * - Kernels before 5.6 have no openat2 (ENOSYS): we then walk component by component with
 *   openat(O_NOFOLLOW) and refuse any symlink in an intermediate component (stricter:
 *   "l/x" through a planted symlink becomes an error instead of landing in root/l-target).
 * - Symlink targets are stored verbatim (absolute or with ".."): nothing on the host ever
 *   follows them, every later resolution is RESOLVE_IN_ROOT.
 * - Hardlink targets follow the name rules and are resolved in root (O_PATH|O_NOFOLLOW),
 *   then linked with linkat(AT_EMPTY_PATH) (needs CAP_DAC_READ_SEARCH; without it the
 *   entry is an error, never a /proc/self/fd magic-link detour).
 * - An existing non-directory at a path is replaced; an existing directory is kept when the
 *   entry is a directory (mode, owner, mtime updated) and removed recursively otherwise
 *   (docker's rule). Removal walks fds with O_NOFOLLOW and never leaves the tree.
 * - Device nodes, fifos and sockets are never created: counted and recorded in the report;
 *   a hardlink to one skipped earlier in the same layer is skipped and recorded too.
 * - Modes are kept as given, setuid/setgid included: the rootfs is analysed, never executed
 *   on the host. Directory mtimes are not restored (children added later change them).
 * - xattrs: none is applied and none is recorded. trusted.overlay.* would let a layer forge
 *   overlayfs whiteouts and opaque dirs if the rootfs is ever used as an overlay lower dir,
 *   security.* carries file capabilities and SELinux labels, and the analysis reads file
 *   contents, never attributes; recording each one would only flood the report's 1000
 *   "skipped" slots that device nodes need.
 * - Whiteouts: ".wh.NAME" removes NAME (recursively) from lower layers in the same directory;
 *   ".wh..wh..opq" empties the directory of lower-layer content. Paths created by the
 *   current layer are kept in a hash set, so an opaque marker seen after the layer's own
 *   entries in that directory spares them (and recurses into the layer's own directories to
 *   drop lower content below them); a whiteout never removes an entry of its own layer.
 *   Other ".wh..wh." names (aufs metadata) are ignored. Whiteouts are never materialised.
 * - Caps are checked against the running totals in the report (so they are per image when
 *   one report is used for all layers): entries, bytes (the declared size of every regular
 *   file: a 10 GB sparse file counts as 10 GB), per-file declared size, path length.
 */
#include "common/setup.h"

#include "image/image.h"

#include <archive.h> /* the tar/gzip/zstd reader */
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>        /* PATH_MAX for readlinkat */
#include <linux/openat2.h> /* struct open_how, RESOLVE_* (glibc 2.36 has no wrapper) */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h" /* vx_fs_remove_tree() for the failure cleanup of vx_image_unpack */

#define DEF_MAX_TOTAL   (8LL << 30)
#define DEF_MAX_FILE    (2LL << 30)
#define DEF_MAX_ENTRIES 1000000
#define DEF_MAX_PATH    4096
#define DEF_ID_RANGE    65536u
#define MAX_SKIPPED     1000
#define WH_PREFIX       ".wh."
#define WH_OPAQUE       ".wh..wh..opq"
#define WH_META         ".wh..wh."

/* ---- a set of paths created by the current layer ------------------------------------- */

struct pathset {
    char **slots;
    size_t cap, n; /* cap is a power of two or 0 */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool pathset_has(const struct pathset *ps, const char *s)
{
    if (!ps->cap)
        return false;
    for (size_t i = hash_str(s) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
        if (!ps->slots[i])
            return false;
        if (!strcmp(ps->slots[i], s))
            return true;
    }
}

static void pathset_put(struct pathset *ps, char *owned)
{
    size_t i = hash_str(owned) & (ps->cap - 1);

    while (ps->slots[i])
        i = (i + 1) & (ps->cap - 1);
    ps->slots[i] = owned;
    ps->n++;
}

static void pathset_add(struct pathset *ps, const char *s)
{
    if (pathset_has(ps, s))
        return;
    if ((ps->n + 1) * 2 > ps->cap) {
        struct pathset bigger = {vx_xcalloc(ps->cap ? ps->cap * 2 : 256, sizeof(char *)),
                                 ps->cap ? ps->cap * 2 : 256, 0};
        for (size_t i = 0; i < ps->cap; i++)
            if (ps->slots[i])
                pathset_put(&bigger, ps->slots[i]);
        free(ps->slots);
        *ps = bigger;
    }
    pathset_put(ps, vx_xstrdup(s));
}

/* Adds path and its ancestors: an entry "o/keep/new" puts "o/keep" into the layer even when
 * the directory came from below (an opaque "o" must keep it and filter inside it). */
static void pathset_add_with_parents(struct pathset *ps, const char *path)
{
    char *p = vx_xstrdup(path), *slash;

    while (!pathset_has(ps, p)) {
        pathset_add(ps, p);
        slash = strrchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
    free(p);
}

static void pathset_release(struct pathset *ps)
{
    for (size_t i = 0; i < ps->cap; i++)
        free(ps->slots[i]);
    free(ps->slots);
    memset(ps, 0, sizeof(*ps));
}

/* ---- the state of one layer application ------------------------------------------------ */

struct ctx {
    int root; /* borrowed O_PATH|O_DIRECTORY fd */
    int layer;
    struct vx_unpack_limits lim;
    bool keep_ownership;
    uint32_t uid_shift, id_range;
    struct vx_unpack_report *rep;
    bool no_openat2;  /* the kernel said ENOSYS once */
    char *cache_path; /* parent of the previous entry, or NULL */
    int cache_fd;     /* its O_PATH fd, or -1 */
    struct pathset created;
    struct pathset skipped_nodes; /* devices, fifos, sockets of this layer (hardlink targets) */
};

static void record_skip(struct ctx *c, const char *path, const char *why)
{
    if (c->rep->n_skipped >= MAX_SKIPPED)
        return;
    c->rep->skipped = vx_xrealloc(c->rep->skipped, (c->rep->n_skipped + 1) * sizeof(char *));
    c->rep->skipped[c->rep->n_skipped++] = vx_xasprintf("layer %d: %s (%s)", c->layer, path, why);
}

/* Opens 'path' (relative, already checked) inside the root. Returns an fd or -errno. */
static int open_in_root(struct ctx *c, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    int fd = -1, cur, next;
    char *copy, *comp, *slash;

    if (!c->no_openat2) {
        /* EAGAIN: a concurrent rename or mount raced the lookup (nothing renames here). */
        for (int tries = 0; tries < 16; tries++) {
            fd = (int)syscall(SYS_openat2, c->root, path, &how, sizeof(how));
            if (fd >= 0 || errno != EAGAIN)
                break;
        }
        if (fd >= 0)
            return fd;
        if (errno != ENOSYS)
            return -errno;
        c->no_openat2 = true; /* Linux < 5.6 */
    }
    /* Fallback walk: every intermediate component must be a real directory. */
    copy = vx_xstrdup(path);
    cur = openat(c->root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0) {
        fd = -errno;
        goto out;
    }
    for (comp = copy; (slash = strchr(comp, '/')) != NULL; comp = slash + 1) {
        *slash = '\0';
        next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            fd = errno == ENOTDIR ? -ELOOP : -errno;
            goto out;
        }
        close(cur);
        cur = next;
    }
    fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        fd = -errno;
out:
    if (cur >= 0)
        close(cur);
    free(copy);
    return fd;
}

/* A dangling symlink met while creating parents: the path is rewritten as prefix + target +
 * rest (an absolute target restarts at the root) and the walk starts again, so "l -> /tmp"
 * then "l/x" creates root/tmp and puts x there, as if the root were '/'. Bounded like the
 * kernel's own symlink limit. Returns the new path (caller frees) or NULL when unreadable. */
#define MAX_SYMLINK_HOPS 40

static char *rewrite_through_link(int dirfd_, const char *prefix, const char *comp,
                                  const char *rest)
{
    char target[PATH_MAX + 1];
    ssize_t n = readlinkat(dirfd_, comp, target, sizeof(target) - 1);
    const char *t = target;
    char *joined;

    if (n <= 0)
        return NULL;
    target[n] = '\0';
    if (*t == '/')
        prefix = "";
    while (*t == '/')
        t++;
    joined = vx_xasprintf("%s%s%s%s%s", prefix, *prefix && *t ? "/" : "", t,
                          rest && (*prefix || *t) ? "/" : "", rest ? rest : "");
    return joined;
}

/* Creates the missing directories of 'dir' inside the root, one component at a time.
 * *out is an O_PATH fd owned by the caller. */
static int make_parents(struct ctx *c, const char *ename, const char *dir, int *out,
                        struct vx_err **err)
{
    char *p = vx_xstrdup(dir);
    int prev = c->root, fd = -1, rc = 0, hops = 0;
    char *s = p;

    for (;;) {
        char *slash, *comp;

        while (*s == '/') /* empty components ("a//b", a link target ending in '/') */
            s++;
        if (!*s)
            break;
        slash = strchr(s, '/');
        comp = s;
        if (slash)
            *slash = '\0';
        fd = open_in_root(c, p, O_PATH | O_DIRECTORY);
        if (fd == -ENOENT) {
            if (mkdirat(prev, comp, 0755) == 0) {
                if (!hops)
                    pathset_add(&c->created, p);
                if (c->keep_ownership)
                    (void)fchownat(prev, comp, c->uid_shift, c->uid_shift, AT_SYMLINK_NOFOLLOW);
            } else if (errno != EEXIST) {
                rc = vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': create directory '%s'",
                                c->layer, ename, p);
                goto out;
            }
            fd = open_in_root(c, p, O_PATH | O_DIRECTORY);
            if (fd == -ENOENT) {
                /* comp is a dangling symlink: follow it inside the root and start again */
                char *np;

                if (comp != p)
                    comp[-1] = '\0'; /* p is now the prefix before comp */
                np = rewrite_through_link(prev, comp == p ? "" : p, comp, slash ? slash + 1 : NULL);
                if (!np || ++hops > MAX_SYMLINK_HOPS ||
                    strlen(np) > 16 * (size_t)c->lim.max_path_len) {
                    free(np);
                    rc = vx_err_set(err, VX_E_UNPROCESSABLE, ELOOP,
                                    "layer %d: entry '%s': parent '%s' is a dangling symlink "
                                    "that cannot be followed inside the root",
                                    c->layer, ename, dir);
                    goto out;
                }
                free(p);
                p = s = np;
                if (prev != c->root)
                    close(prev);
                prev = c->root;
                continue;
            }
        }
        if (fd < 0) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, -fd,
                            "layer %d: entry '%s': parent '%s' is not a directory inside the root",
                            c->layer, ename, p);
            fd = -1;
            goto out;
        }
        if (prev != c->root)
            close(prev);
        prev = fd;
        fd = -1;
        if (!slash)
            break;
        *slash = '/';
        s = slash + 1;
    }
    if (prev == c->root) { /* every link led back to the root itself: an fd of our own */
        prev = openat(c->root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (prev < 0) {
            rc =
                vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': open root", c->layer, ename);
            prev = c->root;
            goto out;
        }
    }
    *out = prev;
    prev = c->root;
out:
    if (prev != c->root)
        close(prev);
    free(p);
    return rc;
}

/* The parent directory fd of an entry (borrowed: owned by the cache or the root). */
static int get_parent(struct ctx *c, const char *ename, const char *dir, bool create, int *out,
                      struct vx_err **err)
{
    int fd, rc;

    if (!*dir) {
        /* Only a root-level entry can remove or replace an ancestor of the cached path
         * without going through the cache (a deeper entry's parent replaces the cache
         * first): "l -> a", "l/b/f", then "l" as a real directory must not reuse the fd of
         * "a/b" for "l/b/g". So the cache goes here. */
        if (c->cache_fd >= 0)
            close(c->cache_fd);
        c->cache_fd = -1;
        free(c->cache_path);
        c->cache_path = NULL;
        *out = c->root;
        return 0;
    }
    if (c->cache_path && !strcmp(c->cache_path, dir)) {
        *out = c->cache_fd;
        return 0;
    }
    fd = open_in_root(c, dir, O_PATH | O_DIRECTORY);
    if (fd == -ENOENT && create) {
        rc = make_parents(c, ename, dir, &fd, err);
        if (rc < 0)
            return rc;
    } else if (fd == -ENOENT) {
        *out = -1;
        return 0;
    } else if (fd < 0) {
        return vx_err_set(err, VX_E_UNPROCESSABLE, -fd,
                          "layer %d: entry '%s': parent '%s' is not a directory inside the root",
                          c->layer, ename, dir);
    }
    if (c->cache_fd >= 0)
        close(c->cache_fd);
    free(c->cache_path);
    c->cache_path = vx_xstrdup(dir);
    c->cache_fd = fd;
    *out = fd;
    return 0;
}

/* ---- removal that never follows a symlink ---------------------------------------------- */

static bool is_dir_entry(int dfd, const struct dirent *de)
{
    struct stat st;

    if (de->d_type != DT_UNKNOWN)
        return de->d_type == DT_DIR;
    return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Removes the children of the directory 'dfd' (taken). With prefix != NULL (an opaque
 * dir, prefix is its path in the root), children whose path is in the created set are kept
 * and, when directories, filtered the same way. Returns 0 or -errno. */
static int empty_dir(struct ctx *c, int dfd, const char *prefix, int depth)
{
    DIR *d = fdopendir(dfd);
    struct dirent *de;
    int rc = 0;

    if (!d) {
        close(dfd);
        return -errno;
    }
    if (depth > 4096) {
        closedir(d);
        return -ELOOP;
    }
    while ((de = readdir(d)) != NULL) {
        char *child = NULL;
        int cfd;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (prefix) {
            child = *prefix ? vx_xasprintf("%s/%s", prefix, de->d_name) : vx_xstrdup(de->d_name);
            if (!pathset_has(&c->created, child)) {
                free(child);
                child = NULL;
            } else if (!is_dir_entry(dirfd(d), de)) {
                free(child);
                continue;
            }
        }
        if (!child && unlinkat(dirfd(d), de->d_name, 0) == 0)
            continue;
        if (!child && errno != EISDIR && errno != EPERM) {
            if (errno == ENOENT)
                continue;
            rc = -errno;
            break;
        }
        cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0) {
            free(child);
            rc = -errno;
            break;
        }
        rc = empty_dir(c, cfd, child, depth + 1);
        if (rc == 0 && !child && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 &&
            errno != ENOENT)
            rc = -errno;
        free(child);
        if (rc < 0)
            break;
    }
    closedir(d);
    return rc;
}

/* Removes dfd/name whatever it is; a missing name is success. Returns 0 or -errno. */
static int remove_at(struct ctx *c, int dfd, const char *name)
{
    int cfd, rc;

    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0)
        return -errno;
    rc = empty_dir(c, cfd, NULL, 0);
    if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rc = -errno;
    return rc;
}

/* ---- names ---------------------------------------------------------------------------- */

/* Normalises 'raw' into a fresh string (caller frees): "./a//b/./c/" -> "a/b/c".
 * Returns 0, 1 for the root itself, or -VX_E_UNPROCESSABLE. */
static int clean_name(struct ctx *c, const char *what, const char *raw, char **out,
                      struct vx_err **err)
{
    size_t n = raw ? strlen(raw) : 0, o = 0;
    char *buf;
    const char *s;

    *out = NULL;
    if (!raw || !n)
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0, "layer %d: %s has an empty name", c->layer,
                          what);
    if (n > (size_t)c->lim.max_path_len)
        return vx_err_set(err, VX_E_TOO_LARGE, 0,
                          "layer %d: %s '%.64s...' is %zu bytes long (cap %d)", c->layer, what, raw,
                          n, c->lim.max_path_len);
    if (raw[0] == '/')
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          "layer %d: %s '%s' is an absolute path (refused)", c->layer, what, raw);
    buf = vx_xmalloc(n + 1);
    for (s = raw; *s;) {
        const char *end = strchrnul(s, '/');
        size_t len = (size_t)(end - s);

        if (len == 2 && s[0] == '.' && s[1] == '.') {
            free(buf);
            return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                              "layer %d: %s '%s' has a '..' component (refused)", c->layer, what,
                              raw);
        }
        if (len && !(len == 1 && s[0] == '.')) {
            if (o)
                buf[o++] = '/';
            memcpy(buf + o, s, len);
            o += len;
        }
        s = *end ? end + 1 : end;
    }
    buf[o] = '\0';
    *out = buf;
    return o ? 0 : 1;
}

/* ---- entries -------------------------------------------------------------------------- */

static int check_ids(struct ctx *c, const char *name, struct archive_entry *e, uid_t *uid,
                     gid_t *gid, struct vx_err **err)
{
    la_int64_t u = archive_entry_uid(e), g = archive_entry_gid(e);

    if (u < 0 || g < 0 || u >= (la_int64_t)c->id_range || g >= (la_int64_t)c->id_range)
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          "layer %d: entry '%s': owner %" PRId64 ":%" PRId64
                          " is outside the id range 0..%" PRIu32,
                          c->layer, name, (int64_t)u, (int64_t)g, c->id_range - 1);
    *uid = (uid_t)(u + c->uid_shift);
    *gid = (gid_t)(g + c->uid_shift);
    return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
    ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
    if (archive_entry_mtime_is_set(e)) {
        ts[1].tv_sec = archive_entry_mtime(e);
        ts[1].tv_nsec = archive_entry_mtime_nsec(e);
        ts[0] = ts[1];
    }
}

/* Removes whatever is at pfd/leaf unless it is a directory and keep_dir. */
static int clear_leaf(struct ctx *c, const char *name, int pfd, const char *leaf, bool keep_dir,
                      bool *is_dir, struct vx_err **err)
{
    struct stat st;
    int rc;

    *is_dir = false;
    if (fstatat(pfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': stat", c->layer, name);
    }
    if (S_ISDIR(st.st_mode) && keep_dir) {
        *is_dir = true;
        return 0;
    }
    rc = S_ISDIR(st.st_mode) ? remove_at(c, pfd, leaf) : (unlinkat(pfd, leaf, 0) < 0 ? -errno : 0);
    if (rc < 0 && rc != -ENOENT)
        return vx_err_set(err, VX_E_IO, -rc, "layer %d: entry '%s': replace existing entry",
                          c->layer, name);
    return 0;
}

static int write_file(struct ctx *c, struct archive *a, struct archive_entry *e, const char *name,
                      int pfd, const char *leaf, struct vx_err **err)
{
    int64_t size = archive_entry_size(e), end = 0;
    struct timespec ts[2];
    uid_t uid = 0;
    gid_t gid = 0;
    int fd = -1, rc;
    bool is_dir;

    if (c->keep_ownership && (rc = check_ids(c, name, e, &uid, &gid, err)) < 0)
        return rc;
    rc = clear_leaf(c, name, pfd, leaf, false, &is_dir, err);
    if (rc < 0)
        return rc;
    fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': create", c->layer, name);
    for (;;) {
        const void *blk;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(a, &blk, &len, &off);

        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "layer %d: entry '%s': read data: %s",
                            c->layer, name, archive_error_string(a));
            goto out;
        }
        if (off < 0 || (int64_t)len > size || off > size - (int64_t)len) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                            "layer %d: entry '%s': data block past the declared size", c->layer,
                            name);
            goto out;
        }
        for (size_t done = 0; done < len;) {
            ssize_t w = pwrite(fd, (const char *)blk + done, len - done, off + (off_t)done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': write", c->layer, name);
                goto out;
            }
            done += (size_t)w;
        }
        if (off + (int64_t)len > end)
            end = off + (int64_t)len;
    }
    /* Trailing hole of a sparse file (holes in the middle were skipped by pwrite). */
    if (end < size && ftruncate(fd, size) < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': extend", c->layer, name);
        goto out;
    }
    if (c->keep_ownership && fchown(fd, uid, gid) < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': chown", c->layer, name);
        goto out;
    }
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': chmod", c->layer, name);
        goto out;
    }
    entry_times(e, ts);
    (void)futimens(fd, ts);
out:
    close(fd);
    return rc;
}

static int make_dir(struct ctx *c, struct archive_entry *e, const char *name, int pfd,
                    const char *leaf, struct vx_err **err)
{
    struct timespec ts[2];
    uid_t uid = 0;
    gid_t gid = 0;
    bool is_dir;
    int fd, rc;

    if (c->keep_ownership && (rc = check_ids(c, name, e, &uid, &gid, err)) < 0)
        return rc;
    rc = clear_leaf(c, name, pfd, leaf, true, &is_dir, err);
    if (rc < 0)
        return rc;
    if (!is_dir && mkdirat(pfd, leaf, 0700) < 0)
        return vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': mkdir", c->layer, name);
    fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': open directory", c->layer,
                          name);
    if (c->keep_ownership && fchown(fd, uid, gid) < 0)
        rc = vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': chown", c->layer, name);
    else if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        rc = vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': chmod", c->layer, name);
    entry_times(e, ts);
    if (rc == 0)
        (void)futimens(fd, ts);
    close(fd);
    return rc;
}

static int make_symlink(struct ctx *c, struct archive_entry *e, const char *name, int pfd,
                        const char *leaf, struct vx_err **err)
{
    const char *target = archive_entry_symlink(e);
    struct timespec ts[2];
    uid_t uid = 0;
    gid_t gid = 0;
    bool is_dir;
    int rc;

    if (!target || !*target)
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0, "layer %d: symlink '%s' has no target",
                          c->layer, name);
    if (strlen(target) > (size_t)c->lim.max_path_len)
        return vx_err_set(err, VX_E_TOO_LARGE, 0,
                          "layer %d: symlink '%s': target is longer than %d bytes", c->layer, name,
                          c->lim.max_path_len);
    if (c->keep_ownership && (rc = check_ids(c, name, e, &uid, &gid, err)) < 0)
        return rc;
    rc = clear_leaf(c, name, pfd, leaf, false, &is_dir, err);
    if (rc < 0)
        return rc;
    if (symlinkat(target, pfd, leaf) < 0)
        return vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': symlink", c->layer, name);
    if (c->keep_ownership && fchownat(pfd, leaf, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return vx_err_set(err, VX_E_IO, errno, "layer %d: entry '%s': chown", c->layer, name);
    entry_times(e, ts);
    (void)utimensat(pfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

static int make_hardlink(struct ctx *c, struct archive_entry *e, const char *name, int pfd,
                         const char *leaf, struct vx_err **err)
{
    const char *raw = archive_entry_hardlink(e);
    char *target = NULL, *what = NULL;
    struct stat st;
    bool is_dir;
    int tfd = -1, rc;

    what = vx_xasprintf("hardlink '%s': target", name);
    rc = clean_name(c, what, raw, &target, err);
    if (rc != 0) {
        if (rc > 0)
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "layer %d: hardlink target is the root",
                            c->layer);
        goto out;
    }
    tfd = open_in_root(c, target, O_PATH | O_NOFOLLOW);
    if (tfd == -ENOENT && pathset_has(&c->skipped_nodes, target)) {
        /* a second name of a device node we did not create: skipped the same way */
        c->rep->skipped_devices++;
        record_skip(c, name, "hardlink to a skipped node");
        pathset_add(&c->skipped_nodes, name);
        rc = 0;
        goto out;
    }
    if (tfd < 0) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, -tfd,
                        "layer %d: hardlink '%s' to '%s': no such entry inside the root", c->layer,
                        name, raw);
        goto out;
    }
    if (fstat(tfd, &st) < 0 || S_ISDIR(st.st_mode)) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        "layer %d: hardlink '%s' to '%s': target is a directory", c->layer, name,
                        raw);
        goto out;
    }
    if (!strcmp(name, target))
        goto out; /* a link to itself: already there */
    rc = clear_leaf(c, name, pfd, leaf, false, &is_dir, err);
    if (rc < 0)
        goto out;
    /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (unpacking runs as root). Without it we fail
     * rather than go through /proc/self/fd: that is a magic link, the very thing
     * RESOLVE_NO_MAGICLINKS keeps out of every other lookup here. */
    if (linkat(tfd, "", pfd, leaf, AT_EMPTY_PATH) < 0) {
        rc =
            vx_err_set(err, VX_E_IO, errno, "layer %d: hardlink '%s' to '%s'", c->layer, name, raw);
        goto out;
    }
out:
    if (tfd >= 0)
        close(tfd);
    free(what);
    free(target);
    return rc;
}

/* ".wh.NAME" in directory dir (pfd may be -1 when dir does not exist). */
static int apply_whiteout(struct ctx *c, const char *name, const char *dir, const char *leaf,
                          struct vx_err **err)
{
    const char *victim = leaf + strlen(WH_PREFIX);
    char *vpath = NULL;
    int pfd, rc = 0, dfd;

    c->rep->whiteouts++;
    if (!strcmp(leaf, WH_OPAQUE)) {
        rc = get_parent(c, name, dir, true, &pfd, err);
        if (rc < 0)
            return rc;
        dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return vx_err_set(err, VX_E_IO, errno, "layer %d: opaque whiteout '%s'", c->layer,
                              name);
        pathset_add(&c->created, dir);
        rc = empty_dir(c, dfd, dir, 0);
        if (rc < 0)
            return vx_err_set(err, VX_E_IO, -rc, "layer %d: opaque whiteout '%s'", c->layer, name);
        return 0;
    }
    if (!strncmp(leaf, WH_META, strlen(WH_META)))
        return 0; /* aufs metadata (.wh..wh.plnk and friends) */
    if (!*victim || !strcmp(victim, ".") || !strcmp(victim, ".."))
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          "layer %d: whiteout '%s' names '%s' (refused)", c->layer, name, victim);
    vpath = *dir ? vx_xasprintf("%s/%s", dir, victim) : vx_xstrdup(victim);
    if (pathset_has(&c->created, vpath))
        goto out; /* a whiteout only hides lower layers */
    rc = get_parent(c, name, dir, false, &pfd, err);
    if (rc < 0 || pfd < 0)
        goto out;
    rc = remove_at(c, pfd, victim);
    if (rc < 0)
        rc = vx_err_set(err, VX_E_IO, -rc, "layer %d: whiteout '%s'", c->layer, name);
out:
    free(vpath);
    return rc < 0 ? rc : 0;
}

static const char *type_name(mode_t t)
{
    switch (t) {
    case AE_IFCHR:
        return "char device";
    case AE_IFBLK:
        return "block device";
    case AE_IFIFO:
        return "fifo";
    case AE_IFSOCK:
        return "socket";
    default:
        return "unknown type";
    }
}

static int apply_entry(struct ctx *c, struct archive *a, struct archive_entry *e,
                       struct vx_err **err)
{
    const char *raw = archive_entry_pathname(e);
    char *name = NULL, *dir = NULL;
    const char *leaf;
    mode_t type = archive_entry_filetype(e);
    bool hard = archive_entry_hardlink(e) != NULL;
    int rc, pfd;

    if (!raw)
        raw = archive_entry_pathname_utf8(e);
    if (++c->rep->entries > c->lim.max_entries)
        return vx_err_set(err, VX_E_TOO_LARGE, 0,
                          "layer %d: entry '%s': more than %" PRId64 " entries (cap)", c->layer,
                          raw ? raw : "", (int64_t)c->lim.max_entries);
    rc = clean_name(c, "entry", raw, &name, err);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        rc = 0; /* the root itself */
        goto out;
    }
    {
        char *slash = strrchr(name, '/');

        dir = slash ? vx_xstrndup(name, (size_t)(slash - name)) : vx_xstrdup("");
        leaf = slash ? slash + 1 : name;
    }
    /* A ".wh." prefix is only meaningful on the last component. */
    for (const char *s = dir; *s; s = strchrnul(s, '/'), s += *s ? 1 : 0) {
        if (!strncmp(s, WH_PREFIX, strlen(WH_PREFIX))) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                            "layer %d: entry '%s': whiteout in a directory component (refused)",
                            c->layer, raw);
            goto out;
        }
    }
    if (!strncmp(leaf, WH_PREFIX, strlen(WH_PREFIX))) {
        rc = apply_whiteout(c, name, dir, leaf, err);
        goto out;
    }
    if (!hard && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
        c->rep->skipped_devices++;
        record_skip(c, name, type_name(type));
        pathset_add(&c->skipped_nodes, name);
        goto out;
    }
    if (!hard && type == AE_IFREG) {
        int64_t size = archive_entry_size(e);

        if (size < 0 || size > c->lim.max_file_bytes) {
            rc = vx_err_set(err, VX_E_TOO_LARGE, 0,
                            "layer %d: entry '%s': %" PRId64 " bytes (per-file cap %" PRId64 ")",
                            c->layer, name, size, (int64_t)c->lim.max_file_bytes);
            goto out;
        }
        if (size > c->lim.max_total_bytes - c->rep->bytes) {
            rc = vx_err_set(err, VX_E_TOO_LARGE, 0,
                            "layer %d: entry '%s': total size passes the cap of %" PRId64 " bytes",
                            c->layer, name, (int64_t)c->lim.max_total_bytes);
            goto out;
        }
        c->rep->bytes += size;
    }
    rc = get_parent(c, name, dir, true, &pfd, err);
    if (rc < 0)
        goto out;
    if (hard)
        rc = make_hardlink(c, e, name, pfd, leaf, err);
    else if (type == AE_IFREG)
        rc = write_file(c, a, e, name, pfd, leaf, err);
    else if (type == AE_IFDIR)
        rc = make_dir(c, e, name, pfd, leaf, err);
    else
        rc = make_symlink(c, e, name, pfd, leaf, err);
    if (rc == 0)
        pathset_add_with_parents(&c->created, name);
out:
    free(name);
    free(dir);
    return rc;
}

/* ---- layers --------------------------------------------------------------------------- */

static void fill_limits(const struct vx_unpack_opts *o, struct ctx *c)
{
    static const struct vx_unpack_opts zero;

    if (!o)
        o = &zero;
    c->lim = o->limits;
    if (c->lim.max_total_bytes <= 0)
        c->lim.max_total_bytes = DEF_MAX_TOTAL;
    if (c->lim.max_file_bytes <= 0)
        c->lim.max_file_bytes = DEF_MAX_FILE;
    if (c->lim.max_entries <= 0)
        c->lim.max_entries = DEF_MAX_ENTRIES;
    if (c->lim.max_path_len <= 0)
        c->lim.max_path_len = DEF_MAX_PATH;
    c->keep_ownership = o->keep_ownership;
    c->uid_shift = o->uid_shift;
    c->id_range = o->id_range ? o->id_range : DEF_ID_RANGE;
}

/* Runs the layer in 'a' (opened by the caller; closed and freed here). */
static int apply_archive(int rootfd, struct archive *a, int r, int layer_index,
                         const struct vx_unpack_opts *opts, struct vx_unpack_report *report,
                         struct vx_err **err)
{
    struct ctx c = {.root = rootfd, .layer = layer_index, .rep = report, .cache_fd = -1};
    struct archive_entry *e;
    int rc = 0;

    fill_limits(opts, &c);
    if (r != ARCHIVE_OK) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, archive_errno(a) > 0 ? archive_errno(a) : 0,
                        "layer %d: open: %s", layer_index, archive_error_string(a));
        goto out;
    }
    for (;;) {
        r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                            "layer %d: bad archive after %" PRId64 " entries: %s", layer_index,
                            report->entries, archive_error_string(a));
            goto out;
        }
        rc = apply_entry(&c, a, e, err);
        if (rc < 0)
            goto out;
    }
out:
    if (c.cache_fd >= 0)
        close(c.cache_fd);
    free(c.cache_path);
    pathset_release(&c.created);
    pathset_release(&c.skipped_nodes);
    archive_read_free(a);
    return rc;
}

static struct archive *new_reader(void)
{
    struct archive *a = archive_read_new();

    if (!a)
        abort();                        /* allocation failure, like vx_xmalloc */
    archive_read_support_format_tar(a); /* ustar, pax, GNU (long names, sparse) */
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_none(a);
    return a;
}

int vx_layer_apply(int rootfd, const char *blob_path, int layer_index,
                   const struct vx_unpack_opts *opts, struct vx_unpack_report *report,
                   struct vx_err **err)
{
    struct archive *a = new_reader();
    int r = archive_read_open_filename(a, blob_path, 128 * 1024);

    if (r != ARCHIVE_OK && archive_errno(a) == ENOENT) {
        archive_read_free(a);
        return vx_err_set(err, VX_E_IO, ENOENT, "layer %d: open '%s'", layer_index, blob_path);
    }
    return apply_archive(rootfd, a, r, layer_index, opts, report, err);
}

int vx_layer_apply_mem(int rootfd, const void *data, size_t len, int layer_index,
                       const struct vx_unpack_opts *opts, struct vx_unpack_report *report,
                       struct vx_err **err)
{
    struct archive *a = new_reader();
    int r = archive_read_open_memory(a, data, len);

    return apply_archive(rootfd, a, r, layer_index, opts, report, err);
}

void vx_unpack_report_release(struct vx_unpack_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_skipped; i++)
        free(r->skipped[i]);
    free(r->skipped);
    memset(r, 0, sizeof(*r));
}

/* dest must be absent (created 0755) or an empty directory that is not a symlink. */
static int prepare_dest(const char *dest, struct vx_err **err)
{
    DIR *d;
    struct dirent *de;
    int fd, n = 0;

    if (mkdir(dest, 0755) == 0)
        return 0;
    if (errno != EEXIST)
        return vx_err_set(err, VX_E_IO, errno, "create '%s'", dest);
    fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return vx_err_set(err, VX_E_INVALID, errno, "'%s' exists and is not a directory", dest);
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return vx_err_set(err, VX_E_IO, errno, "read '%s'", dest);
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    if (n)
        return vx_err_set(err, VX_E_INVALID, 0, "'%s' is not empty", dest);
    return 0;
}

int vx_image_unpack(const struct vx_image *img, const char *dest, const struct vx_unpack_opts *opts,
                    struct vx_unpack_report *report, struct vx_err **err)
{
    struct vx_err *cleanup_err = NULL;
    int rootfd = -1, rc;

    rc = prepare_dest(dest, err);
    if (rc < 0)
        return rc;
    rootfd = open(dest, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rootfd < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "open '%s'", dest);
        goto out;
    }
    for (size_t i = 0; i < img->n_layers; i++) {
        rc = vx_layer_apply(rootfd, img->layers[i].blob_path, (int)i, opts, report, err);
        if (rc < 0) {
            vx_err_wrap(err, "unpack %s", img->layers[i].digest ? img->layers[i].digest : "layer");
            goto out;
        }
    }
out:
    if (rootfd >= 0)
        close(rootfd);
    if (rc < 0 && vx_fs_remove_tree(dest, &cleanup_err) < 0)
        vx_err_free(&cleanup_err); /* the first error is the one to report */
    return rc;
}
