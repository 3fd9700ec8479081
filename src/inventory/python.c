/* python.c -- installed Python distributions: *.dist-info and *.egg-info in site dirs.
 *
 * The walk looks for directories named site-packages or dist-packages anywhere in the
 * rootfs (usr/lib/python3.X, usr/local/lib/..., virtualenvs under opt/ or app/), bounded in
 * depth and entries. In each site dir:
 *   - NAME-VER.dist-info: METADATA (Name, Version) and RECORD, a CSV whose first column is a
 *     path relative to the site dir ("../../../bin/x" for scripts: allowed only while the
 *     result stays inside the rootfs). For every listed .py, the __pycache__/<stem>.*.pyc
 *     siblings that exist are added too: pip does not always list them, yet they are what
 *     the interpreter actually opens.
 *   - NAME-VER.egg-info: PKG-INFO (same fields) and installed-files.txt, paths relative to the
 *     egg-info dir; a single-file .egg-info is the PKG-INFO itself (no file list).
 *   - Without a file list (Debian's python3-* packages ship egg-info dirs with no
 *     installed-files.txt, some dist-info dirs lack RECORD), top_level.txt names the
 *     top-level modules: the files under <site>/<name>/, <site>/<name>.py and extension
 *     modules <site>/<name>.*.so are attributed, with the metadata dir's own files.
 * A distribution dpkg also knows about (python3-foo) is reported here as pypi too: the two
 * are different purls for the same files, and the index keeps both owners.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "inventory/inv_int.h"  /* struct vx_inv_scan */
#include "inventory/langwalk.h" /* vx_lang_walk_run, vx_lang_read, vx_lang_path_join */

#define MAX_META_BYTES      (4u << 20)  /* METADATA / PKG-INFO */
#define MAX_RECORD_BYTES    (64u << 20) /* RECORD / installed-files.txt */
#define MAX_WALK_DEPTH      12
#define MAX_WALK_ENTRIES    2000000
#define MAX_PYCACHE         4096   /* entries read from one __pycache__ dir */
#define MAX_TOP_LEVEL_FILES 200000 /* files attributed from top_level.txt's modules */

/* The value of header 'key' in an RFC 822 style metadata block (before the first blank
 * line), trimmed; caller frees; NULL when absent. */
static char *meta_field(const char *data, size_t len, const char *key)
{
    size_t klen = strlen(key);
    const char *p = data, *end = data + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *v;

        if (le == p || (le - p == 1 && *p == '\r'))
            break; /* the body starts */
        if ((size_t)(le - p) > klen && strncasecmp(p, key, klen) == 0 && p[klen] == ':') {
            v = p + klen + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            while (le > v && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
                le--;
            if (le > v && !memchr(v, '\0', (size_t)(le - v)))
                return vx_xstrndup(v, (size_t)(le - v));
            return NULL;
        }
        p = eol ? eol + 1 : end;
    }
    return NULL;
}

/* The first CSV field of one RECORD line (quotes and doubled quotes handled). Returns a new
 * string or NULL when the field is malformed. */
static char *csv_first(const char *p, const char *le)
{
    struct vx_buf b = VX_BUF_INIT(8192);

    if (p < le && *p == '"') {
        for (p++; p < le; p++) {
            if (*p == '"') {
                if (p + 1 < le && p[1] == '"') {
                    vx_buf_add(&b, "\"", 1);
                    p++;
                    continue;
                }
                break;
            }
            if (vx_buf_add(&b, p, 1) < 0)
                break;
        }
        if (p >= le) { /* no closing quote */
            vx_buf_release(&b);
            return NULL;
        }
    } else {
        const char *comma = memchr(p, ',', (size_t)(le - p));

        if (vx_buf_add(&b, p, (size_t)((comma ? comma : le) - p)) < 0) {
            vx_buf_release(&b);
            return NULL;
        }
    }
    if (b.len == 0 || memchr(b.data, '\0', b.len)) {
        vx_buf_release(&b);
        return NULL;
    }
    return vx_buf_detach(&b, NULL);
}

int vx_inv_parse_python_record(struct vx_inventory *inv, struct vx_pkg *pkg, const char *site_dir,
                               const char *data, size_t len, struct vx_err **err)
{
    const char *p = data, *end = data + len;
    size_t pkg_i = (size_t)(pkg - inv->pkgs), line = 0;
    bool conflict = false;
    int rc = 0;

    while (p < end && rc == 0) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        char *rel = NULL, *abs = NULL;

        line++;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p)
            goto next;
        if ((le - p >= 7 && (memcmp(p, "<<<<<<<", 7) == 0 || memcmp(p, "=======", 7) == 0 ||
                             memcmp(p, ">>>>>>>", 7) == 0 || memcmp(p, "|||||||", 7) == 0))) {
            if (!conflict)
                vx_inventory_warn(inv,
                                  "%s: RECORD of '%s' has merge conflict markers (line %zu); "
                                  "the marker lines are skipped",
                                  site_dir, inv->pkgs[pkg_i].name, line);
            conflict = true;
            goto next;
        }
        rel = csv_first(p, le);
        if (!rel) {
            vx_inventory_warn(inv, "%s: RECORD of '%s' line %zu: malformed path (skipped)",
                              site_dir, inv->pkgs[pkg_i].name, line);
            goto next;
        }
        abs = vx_lang_path_join(site_dir, rel);
        if (!abs) {
            vx_inventory_warn(inv, "%s: RECORD of '%s' line %zu: '%s' leaves the rootfs (skipped)",
                              site_dir, inv->pkgs[pkg_i].name, line, rel);
            goto next;
        }
        rc = vx_pkg_add_file(inv, &inv->pkgs[pkg_i], abs, err);
    next:
        free(rel);
        free(abs);
        p = eol ? eol + 1 : end;
    }
    return rc;
}

/* ---- the scan ------------------------------------------------------------------------- */

struct pyscan {
    const struct vx_inv_scan *sc;
    int rc;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds, for every .py file pkg lists from index 'from' on, the __pycache__/<stem>.*.pyc files
 * present in the rootfs that pkg does not list yet. */
static int add_pycache(const struct vx_inv_scan *sc, size_t pkg_i, size_t from, struct vx_err **err)
{
    struct vx_inventory *inv = sc->inv;
    char **sorted, *last_dir = NULL;
    size_t n = inv->pkgs[pkg_i].n_files, n_py_dirs = 0;
    int rc = 0;

    if (from >= n)
        return 0;
    sorted = vx_xmalloc(n * sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = vx_xstrdup(inv->pkgs[pkg_i].files[i]);
    qsort(sorted, n, sizeof(*sorted), cmp_str);
    /* Sorted, a directory's .py files are adjacent: one readdir per __pycache__ dir. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *f = sorted[i], *slash = strrchr(f, '/');
        char *dir, *cache_rel;
        DIR *d;
        struct dirent *de;
        int fd, seen = 0;

        if (!vx_lang_ends_with(f, ".py") || !slash)
            continue;
        dir = vx_xstrndup(f, (size_t)(slash - f));
        if (last_dir && strcmp(dir, last_dir) == 0) {
            free(dir);
            continue;
        }
        free(last_dir);
        last_dir = dir;
        if (++n_py_dirs > 100000)
            break;
        cache_rel = vx_xasprintf("%s/__pycache__", dir + 1);
        fd = vx_lang_open(sc->rootfd, cache_rel, O_RDONLY | O_DIRECTORY);
        free(cache_rel);
        if (fd < 0)
            continue;
        d = fdopendir(fd);
        if (!d) {
            close(fd);
            continue;
        }
        while ((de = readdir(d)) != NULL && seen++ < MAX_PYCACHE && rc == 0) {
            const char *dot = strchr(de->d_name, '.');
            char *py, *pyc, *key;

            if (!dot || !vx_lang_ends_with(de->d_name, ".pyc"))
                continue;
            /* "<stem>.cpython-311.pyc" belongs to <dir>/<stem>.py when that is listed. */
            py = vx_xasprintf("%s/%.*s.py", dir, (int)(dot - de->d_name), de->d_name);
            pyc = vx_xasprintf("%s/__pycache__/%s", dir, de->d_name);
            key = py;
            if (bsearch(&key, sorted, n, sizeof(*sorted), cmp_str)) {
                key = pyc;
                if (!bsearch(&key, sorted, n, sizeof(*sorted), cmp_str))
                    rc = vx_pkg_add_file(inv, &inv->pkgs[pkg_i], pyc, err);
            }
            free(py);
            free(pyc);
        }
        closedir(d);
    }
    free(last_dir);
    for (size_t i = 0; i < n; i++)
        free(sorted[i]);
    free(sorted);
    return rc;
}

struct files_ctx {
    struct vx_inventory *inv;
    size_t pkg_i;
    size_t n;
};

static int visit_file(struct vx_lang_walk *w, int dirfd, const char *name, const char *rel,
                      unsigned char type, struct vx_err **err)
{
    struct files_ctx *fc = w->ctx;

    (void)dirfd;
    (void)name;
    if ((type != DT_REG && type != DT_LNK) || fc->n >= MAX_TOP_LEVEL_FILES)
        return 0;
    fc->n++;
    return vx_pkg_add_file(fc->inv, &fc->inv->pkgs[fc->pkg_i], rel, err);
}

/* Adds every file under rootfs-relative dir_rel (bounded). */
static int add_tree(const struct vx_inv_scan *sc, size_t pkg_i, const char *dir_rel, size_t *n,
                    struct vx_err **err)
{
    struct files_ctx fc = {.inv = sc->inv, .pkg_i = pkg_i};
    struct vx_lang_walk w = {.sc = sc,
                             .max_depth = 16,
                             .max_entries = MAX_TOP_LEVEL_FILES * 2,
                             .visit = visit_file,
                             .ctx = &fc};
    int rc = vx_lang_walk_run(&w, dir_rel, err);

    *n += fc.n;
    return rc;
}

/* The fallback without a file list: the metadata dir itself plus, for each module that
 * top_level.txt names, <site>/<name>/ (all files), <site>/<name>.py and <name>.*.so.
 * *any tells whether top_level.txt named anything. */
static int add_top_level(const struct vx_inv_scan *sc, size_t pkg_i, const char *site_rel,
                         const char *dist_rel, bool *any, struct vx_err **err)
{
    struct vx_buf tl = VX_BUF_INIT(MAX_META_BYTES);
    char *tl_rel = vx_xasprintf("%s/top_level.txt", dist_rel), *save = NULL, *line;
    struct vx_err *e = NULL;
    size_t n = 0;
    int rc = add_tree(sc, pkg_i, dist_rel, &n, err);

    if (rc < 0 || vx_lang_read(sc->rootfd, tl_rel, MAX_META_BYTES, &tl, &e) < 0 || !tl.data)
        goto out;
    for (line = strtok_r(tl.data, "\r\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\r\n", &save)) {
        char *sub;
        int fd;
        DIR *d;
        struct dirent *de;
        size_t nl = strlen(line);

        /* "foo" or "foo/bar" (namespace packages); never climbing out of the site dir. */
        if (!nl || line[0] == '/' || strstr(line, "..") || nl > 255)
            continue;
        *any = true;
        sub = vx_xasprintf("%s/%s", site_rel, line);
        rc = add_tree(sc, pkg_i, sub, &n, err);
        free(sub);
        fd = vx_lang_open(sc->rootfd, site_rel, O_RDONLY | O_DIRECTORY);
        if (rc < 0 || fd < 0 || !(d = fdopendir(fd))) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        while ((de = readdir(d)) != NULL && rc == 0) {
            if (strncmp(de->d_name, line, nl) != 0 || de->d_name[nl] != '.' ||
                (strcmp(de->d_name + nl, ".py") != 0 && !vx_lang_ends_with(de->d_name, ".so")))
                continue;
            sub = vx_xasprintf("%s/%s", site_rel, de->d_name);
            rc = vx_pkg_add_file(sc->inv, &sc->inv->pkgs[pkg_i], sub, err);
            free(sub);
        }
        closedir(d);
    }
out:
    vx_err_free(&e);
    vx_buf_release(&tl);
    free(tl_rel);
    return rc;
}

/* One NAME-VER.dist-info or NAME-VER.egg-info entry of the site dir site_rel. */
static int read_dist(struct pyscan *ps, const char *site_rel, const char *entry, bool egg,
                     bool is_dir, struct vx_err **err)
{
    const struct vx_inv_scan *sc = ps->sc;
    struct vx_inventory *inv = sc->inv;
    struct vx_buf meta = VX_BUF_INIT(MAX_META_BYTES), rec = VX_BUF_INIT(MAX_RECORD_BYTES);
    char *dist_rel = vx_xasprintf("%s/%s", site_rel, entry);
    char *meta_rel = NULL, *rec_rel = NULL, *name = NULL, *version = NULL, *site_abs = NULL;
    char *base_abs = NULL;
    struct vx_err *e = NULL;
    size_t pkg_i, from;
    int rc = 0;

    meta_rel = !is_dir ? vx_xstrdup(dist_rel)
                       : vx_xasprintf("%s/%s", dist_rel, egg ? "PKG-INFO" : "METADATA");
    if (vx_lang_read(sc->rootfd, meta_rel, MAX_META_BYTES, &meta, &e) < 0) {
        vx_inventory_warn(inv, "%s: skipped: %s", dist_rel, e->msg);
        goto out;
    }
    name = meta_field(meta.data ? meta.data : "", meta.len, "Name");
    version = meta_field(meta.data ? meta.data : "", meta.len, "Version");
    if (!name || !version) {
        vx_inventory_warn(inv, "%s: no Name or Version in %s (skipped)", dist_rel, meta_rel);
        goto out;
    }
    vx_inventory_add(inv, VX_PKG_PYPI, name, version, NULL, NULL);
    pkg_i = inv->n_pkgs - 1;
    inv->pkgs[pkg_i].location = vx_xstrdup(dist_rel);
    if (!is_dir) {
        rc = vx_pkg_add_file(inv, &inv->pkgs[pkg_i], dist_rel, err);
        goto out;
    }
    from = inv->pkgs[pkg_i].n_files;
    rec_rel = vx_xasprintf("%s/%s", dist_rel, egg ? "installed-files.txt" : "RECORD");
    if (vx_lang_read(sc->rootfd, rec_rel, MAX_RECORD_BYTES, &rec, &e) < 0) {
        bool any = false;

        vx_err_free(&e);
        rc = add_top_level(sc, pkg_i, site_rel, dist_rel, &any, err);
        if (rc == 0 && !any)
            vx_inventory_warn(inv,
                              "%s: no file list and no top_level.txt; only the metadata "
                              "dir is attributed",
                              dist_rel);
        if (rc == 0)
            rc = add_pycache(sc, pkg_i, from, err);
        goto out;
    }
    site_abs = vx_xasprintf("/%s", site_rel);
    base_abs = egg ? vx_xasprintf("/%s", dist_rel) : vx_xstrdup(site_abs);
    if (egg) {
        /* installed-files.txt: one path per line relative to the egg-info dir. Same shape
         * as a RECORD whose lines have one field (none contains a comma in practice). */
        rc = vx_inv_parse_python_record(inv, &inv->pkgs[pkg_i], base_abs, rec.data ? rec.data : "",
                                        rec.len, err);
        if (rc == 0 && !vx_lang_pkg_has_file(&inv->pkgs[pkg_i], meta_rel))
            rc = vx_pkg_add_file(inv, &inv->pkgs[pkg_i], meta_rel, err);
    } else {
        rc = vx_inv_parse_python_record(inv, &inv->pkgs[pkg_i], base_abs, rec.data ? rec.data : "",
                                        rec.len, err);
    }
    if (rc == 0)
        rc = add_pycache(sc, pkg_i, from, err);
out:
    vx_err_free(&e);
    vx_buf_release(&meta);
    vx_buf_release(&rec);
    free(dist_rel);
    free(meta_rel);
    free(rec_rel);
    free(name);
    free(version);
    free(site_abs);
    free(base_abs);
    return rc;
}

static int visit(struct vx_lang_walk *w, int dirfd, const char *name, const char *rel,
                 unsigned char type, struct vx_err **err)
{
    struct pyscan *ps = w->ctx;
    DIR *d;
    struct dirent *de;
    char **entries = NULL;
    size_t n = 0, cap = 0;
    int fd, rc = 0;

    if (type != DT_DIR)
        return 0;
    if (strcmp(name, "site-packages") != 0 && strcmp(name, "dist-packages") != 0)
        return 0;
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 1;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 1;
    }
    while ((de = readdir(d)) != NULL && n < 100000) {
        if (vx_lang_ends_with(de->d_name, ".dist-info") ||
            vx_lang_ends_with(de->d_name, ".egg-info")) {
            entries = vx_xgrow(entries, sizeof(*entries), n + 1, &cap);
            entries[n++] = vx_xasprintf("%c%s", de->d_type == DT_REG ? 'f' : 'd', de->d_name);
        }
    }
    closedir(d);
    if (n > 1)
        qsort(entries, n, sizeof(*entries), cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *entry = entries[i] + 1;

        rc = read_dist(ps, rel, entry, vx_lang_ends_with(entry, ".egg-info"), entries[i][0] == 'd',
                       err);
    }
    for (size_t i = 0; i < n; i++)
        free(entries[i]);
    free(entries);
    /* A site dir holds packages, not other site dirs: do not descend. */
    return rc < 0 ? rc : 1;
}

int vx_inv_scan_python(const struct vx_inv_scan *sc, struct vx_err **err)
{
    struct pyscan ps = {.sc = sc};
    struct vx_lang_walk w = {.sc = sc,
                             .max_depth = MAX_WALK_DEPTH,
                             .max_entries = MAX_WALK_ENTRIES,
                             .visit = visit,
                             .ctx = &ps};
    int rc = vx_lang_walk_run(&w, "", err);

    if (w.truncated)
        vx_inventory_warn(sc->inv,
                          "python: the search for site-packages stopped after %" PRId64 " entries",
                          w.n_entries);
    return rc;
}
