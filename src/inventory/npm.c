/* npm.c -- installed npm packages: node_modules/<name>/package.json, node_modules/@scope/<name>.
 *
 * Every node_modules directory in the rootfs (global usr/lib/node_modules, an app's own,
 * nested ones inside packages) is read: each child directory with a package.json is one
 * package ("name" and "version" from it, the directory name when "name" is missing), and it
 * owns every file under its directory except those of its own nested node_modules, which
 * hold other packages (read in turn, so several versions of one library side by side each
 * own their copy). Depth, packages and files per package are capped.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"        /* vx_json_parse */
#include "inventory/inv_int.h"  /* struct vx_inv_scan */
#include "inventory/langwalk.h" /* vx_lang_walk_run, vx_lang_read */

#define MAX_PKG_JSON_BYTES (4u << 20)
#define MAX_WALK_DEPTH     48 /* nested node_modules go deep */
#define MAX_WALK_ENTRIES   4000000
#define MAX_PKG_FILES      200000 /* files attributed to one package */
#define MAX_PKG_DEPTH      16     /* directory depth inside one package */
#define MAX_PACKAGES       200000

struct npmscan {
    const struct vx_inv_scan *sc;
    size_t n_packages;
    bool warned_cap;
};

struct files_ctx {
    struct vx_inventory *inv;
    size_t pkg_i;
    size_t n;
    bool capped;
};

/* Adds the files of the package dir (visited by its own walk): everything but node_modules. */
static int visit_files(struct vx_lang_walk *w, int dirfd, const char *name, const char *rel,
                       unsigned char type, struct vx_err **err)
{
    struct files_ctx *fc = w->ctx;

    (void)dirfd;
    if (type == DT_DIR)
        return strcmp(name, "node_modules") == 0 ? 1 : 0;
    if (type != DT_REG && type != DT_LNK)
        return 0;
    if (fc->n >= MAX_PKG_FILES) {
        fc->capped = true;
        return 0;
    }
    fc->n++;
    return vx_pkg_add_file(fc->inv, &fc->inv->pkgs[fc->pkg_i], rel, err);
}

/* One package directory pkg_rel ("usr/lib/node_modules/@babel/core"). */
static int read_package(struct npmscan *ns, const char *pkg_rel, const char *dir_name,
                        const char *scope, struct vx_err **err)
{
    struct vx_inventory *inv = ns->sc->inv;
    struct vx_buf b = VX_BUF_INIT(MAX_PKG_JSON_BYTES);
    char *json_rel = vx_xasprintf("%s/package.json", pkg_rel);
    char *fallback = scope ? vx_xasprintf("%s/%s", scope, dir_name) : vx_xstrdup(dir_name);
    char *ns_str = NULL;
    const char *name, *version;
    json_t *root = NULL;
    struct vx_err *e = NULL;
    struct files_ctx fc = {.inv = inv};
    struct vx_lang_walk w = {.sc = ns->sc,
                             .max_depth = MAX_PKG_DEPTH,
                             .max_entries = MAX_PKG_FILES * 2,
                             .visit = visit_files,
                             .ctx = &fc};
    int rc = 0;

    if (vx_lang_read(ns->sc->rootfd, json_rel, MAX_PKG_JSON_BYTES, &b, &e) < 0) {
        /* A directory without package.json (".bin", a leftover) is not a package. */
        if (e->code != VX_E_NOT_FOUND)
            vx_inventory_warn(inv, "%s: skipped: %s", json_rel, e->msg);
        goto out;
    }
    if (vx_json_parse(b.data ? b.data : "", b.len, &root, &e) < 0 || !json_is_object(root)) {
        vx_inventory_warn(inv, "%s: not a JSON object (%s); skipped", json_rel,
                          e ? e->msg : "another JSON value");
        goto out;
    }
    name = vx_json_str(root, "name");
    version = vx_json_str(root, "version");
    if (!version || !*version) {
        vx_inventory_warn(inv, "%s: no \"version\"; skipped", json_rel);
        goto out;
    }
    if (!name || !*name || strlen(name) > 512)
        name = fallback;
    if (name[0] == '@' && strchr(name, '/'))
        ns_str = vx_xstrndup(name, (size_t)(strchr(name, '/') - name));
    if (++ns->n_packages > MAX_PACKAGES) {
        if (!ns->warned_cap)
            vx_inventory_warn(inv, "npm: more than %d packages; the rest skipped", MAX_PACKAGES);
        ns->warned_cap = true;
        goto out;
    }
    vx_inventory_add(inv, VX_PKG_NPM, name, version, NULL, ns_str);
    fc.pkg_i = inv->n_pkgs - 1;
    inv->pkgs[fc.pkg_i].location = vx_xstrdup(json_rel);
    rc = vx_lang_walk_run(&w, pkg_rel, err);
    if (rc == 0 && (fc.capped || w.truncated))
        vx_inventory_warn(inv, "%s: more than %d files; the rest are not attributed", pkg_rel,
                          MAX_PKG_FILES);
out:
    json_decref(root);
    vx_err_free(&e);
    vx_buf_release(&b);
    free(json_rel);
    free(fallback);
    free(ns_str);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the subdirectories (or symlinks: npm links workspaces) of dir_rel. */
static char **list_dirs(const struct vx_inv_scan *sc, const char *dir_rel, size_t *n)
{
    int fd = vx_lang_open(sc->rootfd, dir_rel, O_RDONLY | O_DIRECTORY);
    DIR *d;
    struct dirent *de;
    char **v = NULL;
    size_t cap = 0;

    *n = 0;
    if (fd < 0)
        return NULL;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return NULL;
    }
    while ((de = readdir(d)) != NULL && *n < 100000) {
        if (de->d_name[0] == '.' || de->d_type == DT_REG)
            continue;
        v = vx_xgrow(v, sizeof(*v), *n + 1, &cap);
        v[(*n)++] = vx_xstrdup(de->d_name);
    }
    closedir(d);
    if (*n > 1)
        qsort(v, *n, sizeof(*v), cmp_str);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int visit(struct vx_lang_walk *w, int dirfd, const char *name, const char *rel,
                 unsigned char type, struct vx_err **err)
{
    struct npmscan *ns = w->ctx;
    char **kids;
    size_t n_kids;
    int rc = 0;

    (void)dirfd;
    if (type != DT_DIR || strcmp(name, "node_modules") != 0)
        return 0;
    kids = list_dirs(ns->sc, rel, &n_kids);
    for (size_t i = 0; i < n_kids && rc == 0; i++) {
        char *kid_rel = vx_xasprintf("%s/%s", rel, kids[i]);

        if (kids[i][0] == '@') {
            size_t n_scoped;
            char **scoped = list_dirs(ns->sc, kid_rel, &n_scoped);

            for (size_t j = 0; j < n_scoped && rc == 0; j++) {
                char *pkg_rel = vx_xasprintf("%s/%s", kid_rel, scoped[j]);

                rc = read_package(ns, pkg_rel, scoped[j], kids[i], err);
                free(pkg_rel);
            }
            free_list(scoped, n_scoped);
        } else {
            rc = read_package(ns, kid_rel, kids[i], NULL, err);
        }
        free(kid_rel);
    }
    free_list(kids, n_kids);
    /* Descend: the nested node_modules of the packages are found by this same walk. */
    return rc < 0 ? rc : 0;
}

int vx_inv_scan_npm(const struct vx_inv_scan *sc, struct vx_err **err)
{
    struct npmscan ns = {.sc = sc};
    struct vx_lang_walk w = {.sc = sc,
                             .max_depth = MAX_WALK_DEPTH,
                             .max_entries = MAX_WALK_ENTRIES,
                             .visit = visit,
                             .ctx = &ns};
    int rc = vx_lang_walk_run(&w, "", err);

    if (w.truncated)
        vx_inventory_warn(sc->inv,
                          "npm: the search for node_modules stopped after %" PRId64 " entries",
                          w.n_entries);
    return rc;
}
