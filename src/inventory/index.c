/* index.c -- the file -> package index of an inventory.
 *
 * Every path a package database lists is canonicalised inside the rootfs: its directory
 * part is resolved through the image's own symlinks (merged-usr "/lib -> usr/lib", "/bin ->
 * usr/bin", distro-specific links) the way the kernel would inside a chroot -- an absolute
 * link target is taken from the rootfs root, ".." never climbs above it -- and the last
 * component is kept as listed, so a symlink owned by a package stays that package's entry.
 * When the last component is itself a symlink, its fully resolved target is ALSO indexed
 * for the same package, but only when no package lists that target itself: the tracer sees
 * the file the loader opened ("libz.so.1.2.13"), and a link-only package (a -dev package's
 * "libfoo.so" pointing at the runtime library's file) must not be credited with a file
 * another package owns.
 *
 * Directory resolutions are cached by their listed spelling (dpkg lists thousands of files
 * per directory), so the cost is one fstatat per listed path plus one readlinkat per
 * symlink met. Nothing here opens a file or follows a link through the host: every lookup
 * is relative to the rootfs fd on a path already free of symlinks, and a link that does not
 * resolve within 40 hops leaves the path lexical and "not present".
 *
 * The index is an array sorted by (path, pkg) with duplicates removed; lookups bsearch it.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#define MAX_HOPS 40

/* ---- lexical normalisation ----------------------------------------------------------------- */

/* "/a//b/./c/../d/" -> "/a/b/d"; ".." at the root stays at the root (chroot semantics).
 * Always returns an absolute path (caller frees). */
static char *lexnorm(const char *path)
{
    size_t n = strlen(path);
    char *out = vx_xmalloc(n + 2);
    size_t o = 0;
    const char *p = path;

    out[o++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t l = strcspn(p, "/");
        if (l == 1 && p[0] == '.') {
            /* nothing */
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--; /* the '/' before the dropped component */
        } else {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, p, l);
            o += l;
        }
        p += l;
    }
    out[o] = '\0';
    return out;
}

/* ---- the directory cache ------------------------------------------------------------------- */

struct slot {
    char *key;   /* listed (lexically normal) directory path */
    char *canon; /* its canonical form, or NULL when it did not resolve (a loop): the
                    failure is cached only for a resolution that started with 0 hops */
};

struct canon_ctx {
    int rootfd; /* -1: lexical only */
    struct slot *slots;
    size_t n, cap; /* cap a power of two */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct slot *cache_find(struct canon_ctx *c, const char *key)
{
    if (!c->cap)
        return NULL;
    for (size_t i = hash_str(key) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        if (!c->slots[i].key)
            return NULL;
        if (!strcmp(c->slots[i].key, key))
            return &c->slots[i];
    }
}

/* takes ownership of key and canon */
static void cache_put(struct canon_ctx *c, char *key, char *canon)
{
    if ((c->n + 1) * 2 > c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        struct slot *ns = vx_xcalloc(ncap, sizeof(*ns));
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->slots[i].key)
                continue;
            size_t j = hash_str(c->slots[i].key) & (ncap - 1);
            while (ns[j].key)
                j = (j + 1) & (ncap - 1);
            ns[j] = c->slots[i];
        }
        free(c->slots);
        c->slots = ns;
        c->cap = ncap;
    }
    size_t j = hash_str(key) & (c->cap - 1);
    while (c->slots[j].key)
        j = (j + 1) & (c->cap - 1);
    c->slots[j].key = key;
    c->slots[j].canon = canon;
    c->n++;
}

static void ctx_release(struct canon_ctx *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        free(c->slots[i].key);
        free(c->slots[i].canon);
    }
    free(c->slots);
    memset(c, 0, sizeof(*c));
}

static char *join(const char *dir, const char *base)
{
    return !strcmp(dir, "/") ? vx_xasprintf("/%s", base) : vx_xasprintf("%s/%s", dir, base);
}

/* Resolves every component of the lexically normal absolute path inside the root. Returns
 * a new canonical path, or NULL when a link chain does not end within *hops. */
static char *resolve(struct canon_ctx *c, const char *path, int *hops)
{
    struct slot *s;
    char *parent = NULL, *pc = NULL, *cand = NULL, *res = NULL;
    const char *slash, *base;
    struct stat st;

    if (!strcmp(path, "/"))
        return vx_xstrdup("/");
    s = cache_find(c, path);
    if (s)
        return s->canon ? vx_xstrdup(s->canon) : NULL;
    slash = strrchr(path, '/');
    parent = slash == path ? vx_xstrdup("/") : vx_xstrndup(path, (size_t)(slash - path));
    base = slash + 1;
    pc = resolve(c, parent, hops);
    if (!pc)
        goto out;
    cand = join(pc, base);
    if (fstatat(c->rootfd, cand + 1, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t tl;
        char *t;

        if (++*hops > MAX_HOPS)
            goto out;
        tl = readlinkat(c->rootfd, cand + 1, target, sizeof(target) - 1);
        if (tl <= 0) {
            res = cand;
            cand = NULL;
            goto cache;
        }
        target[tl] = '\0';
        if (target[0] == '/') {
            t = lexnorm(target);
        } else {
            char *j = join(pc, target);
            t = lexnorm(j);
            free(j);
        }
        res = resolve(c, t, hops);
        free(t);
        if (!res)
            goto out;
    } else {
        res = cand;
        cand = NULL;
    }
cache:
    cache_put(c, vx_xstrdup(path), vx_xstrdup(res));
out:
    free(parent);
    free(pc);
    free(cand);
    return res;
}

/* The canonical spelling of a listed path (directory resolved, last component kept).
 * *safe is false when the directory did not resolve (the path is then only lexical and
 * must not be looked up in the rootfs). */
static char *canon_path(struct canon_ctx *c, const char *listed, bool *safe)
{
    char *n = lexnorm(listed), *dir, *dc, *out;
    const char *slash;
    int hops = 0;

    *safe = c->rootfd >= 0;
    if (c->rootfd < 0 || !strcmp(n, "/"))
        return n;
    slash = strrchr(n, '/');
    dir = slash == n ? vx_xstrdup("/") : vx_xstrndup(n, (size_t)(slash - n));
    dc = resolve(c, dir, &hops);
    if (!dc) {
        /* Remembered: a directory that does not resolve from a fresh start never will, and
         * a hostile list of a million files in a link loop must not cost 40 hops each. */
        if (!cache_find(c, dir))
            cache_put(c, dir, NULL);
        else
            free(dir);
        *safe = false;
        return n;
    }
    out = join(dc, slash + 1);
    free(dir);
    free(dc);
    free(n);
    return out;
}

char *vx_inventory_canon(const char *rootfs, const char *path)
{
    struct canon_ctx c = {.rootfd = -1};
    bool safe;
    char *out;

    if (rootfs) {
        c.rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (c.rootfd < 0)
            return NULL;
    }
    out = canon_path(&c, path ? path : "/", &safe);
    if (c.rootfd >= 0)
        close(c.rootfd);
    ctx_release(&c);
    return out;
}

/* ---- the index ----------------------------------------------------------------------------- */

static int owner_cmp(const void *a, const void *b)
{
    const struct vx_inv_owner *x = a, *y = b;
    int c = strcmp(x->path, y->path);

    return c ? c : (x->pkg < y->pkg ? -1 : x->pkg > y->pkg);
}

static void add_owner(struct vx_inventory *inv, char *path, size_t pkg, bool present, bool dir)
{
    inv->owners = vx_xgrow(inv->owners, sizeof(*inv->owners), inv->n_owners + 1, &inv->cap_owners);
    inv->owners[inv->n_owners++] = (struct vx_inv_owner){path, pkg, present, dir};
}

static void sort_dedup(struct vx_inventory *inv)
{
    size_t o = 0;

    if (inv->n_owners > 1)
        qsort(inv->owners, inv->n_owners, sizeof(*inv->owners), owner_cmp);
    for (size_t i = 0; i < inv->n_owners; i++) {
        if (o && inv->owners[o - 1].pkg == inv->owners[i].pkg &&
            !strcmp(inv->owners[o - 1].path, inv->owners[i].path)) {
            inv->owners[o - 1].present |= inv->owners[i].present;
            inv->owners[o - 1].is_dir |= inv->owners[i].is_dir;
            free(inv->owners[i].path);
            continue;
        }
        inv->owners[o++] = inv->owners[i];
    }
    inv->n_owners = o;
}

struct link_target {
    char *path;
    size_t pkg;
};

int vx_inventory_index(struct vx_inventory *inv, const char *rootfs, struct vx_err **err)
{
    struct canon_ctx c = {.rootfd = -1};
    struct link_target *links = NULL;
    size_t n_links = 0, cap_links = 0;
    char *distro = NULL;

    if (rootfs) {
        c.rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (c.rootfd < 0)
            return vx_err_set(err, VX_E_IO, errno, "cannot open rootfs '%s'", rootfs);
    }
    /* purls first: they need only the package fields */
    if (inv->distro_id && inv->distro_version)
        distro = vx_xasprintf("%s-%s", inv->distro_id, inv->distro_version);
    for (size_t i = 0; i < inv->n_pkgs; i++)
        if (!inv->pkgs[i].purl)
            inv->pkgs[i].purl = vx_purl_build(&inv->pkgs[i], distro);
    free(distro);

    for (size_t i = 0; i < inv->n_owners; i++)
        free(inv->owners[i].path);
    inv->n_owners = 0;

    for (size_t p = 0; p < inv->n_pkgs; p++) {
        const struct vx_pkg *pkg = &inv->pkgs[p];
        for (size_t f = 0; f < pkg->n_files; f++) {
            bool safe, present = false, dir = false;
            char *cp = canon_path(&c, pkg->files[f], &safe);
            struct stat st;

            if (safe && strcmp(cp, "/") != 0 &&
                fstatat(c.rootfd, cp + 1, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                present = true;
                dir = S_ISDIR(st.st_mode);
                if (S_ISLNK(st.st_mode)) {
                    int hops = 0;
                    char *t = resolve(&c, cp, &hops);
                    struct stat ts;
                    /* a link to a directory ("/lib" on merged-usr) is a directory here */
                    if (t &&
                        fstatat(c.rootfd, strcmp(t, "/") ? t + 1 : ".", &ts, AT_SYMLINK_NOFOLLOW) ==
                            0 &&
                        S_ISDIR(ts.st_mode)) {
                        dir = true;
                        free(t);
                        t = NULL;
                    }
                    if (t && strcmp(t, cp) != 0) {
                        links = vx_xgrow(links, sizeof(*links), n_links + 1, &cap_links);
                        links[n_links++] = (struct link_target){t, p};
                    } else {
                        free(t);
                    }
                }
            } else if (safe && !strcmp(cp, "/")) {
                present = dir = true;
            }
            add_owner(inv, cp, p, present, dir);
        }
    }
    sort_dedup(inv);

    /* link targets nobody lists: credited to the link's package */
    if (n_links) {
        size_t before = inv->n_owners;
        for (size_t i = 0; i < n_links; i++) {
            struct stat st;
            bool listed = false;
            /* the sorted prefix [0, before) is what packages list themselves */
            size_t lo = 0, hi = before;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(inv->owners[mid].path, links[i].path) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            listed = lo < before && !strcmp(inv->owners[lo].path, links[i].path);
            if (listed || fstatat(c.rootfd, links[i].path + 1, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                S_ISDIR(st.st_mode)) {
                free(links[i].path);
                continue;
            }
            add_owner(inv, links[i].path, links[i].pkg, true, false);
        }
        if (inv->n_owners != before)
            sort_dedup(inv);
    }
    free(links);

    for (size_t p = 0; p < inv->n_pkgs; p++)
        inv->pkgs[p].n_mapped = 0;
    /* a directory is shared by many packages and proves nothing about one of them */
    for (size_t i = 0; i < inv->n_owners; i++)
        if (inv->owners[i].present && !inv->owners[i].is_dir)
            inv->pkgs[inv->owners[i].pkg].n_mapped++;
    if (c.rootfd >= 0)
        close(c.rootfd);
    ctx_release(&c);
    return 0;
}

const struct vx_inv_owner *vx_inventory_owners(const struct vx_inventory *inv, const char *path,
                                               size_t *n)
{
    size_t lo = 0, hi = inv->n_owners, k = 0;

    *n = 0;
    if (!path)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(inv->owners[mid].path, path) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo + k < inv->n_owners && !strcmp(inv->owners[lo + k].path, path))
        k++;
    *n = k;
    return k ? &inv->owners[lo] : NULL;
}

size_t *vx_inventory_unmapped(const struct vx_inventory *inv, size_t *n)
{
    size_t *out = vx_xcalloc(inv->n_pkgs ? inv->n_pkgs : 1, sizeof(*out));

    *n = 0;
    for (size_t i = 0; i < inv->n_pkgs; i++)
        if (inv->pkgs[i].n_mapped == 0)
            out[(*n)++] = i;
    return out;
}
