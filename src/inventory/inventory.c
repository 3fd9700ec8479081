/* inventory.c -- the inventory container: packages, their file lists, warnings.
 *
 * The parsers of each ecosystem only call vx_inventory_add / vx_pkg_add_file /
 * vx_inventory_warn; the index (index.c), purls (purl.c) and the scan of a rootfs (scan.c)
 * work on what they added. Every count is capped: a database is untrusted input and a
 * hostile image could list billions of files.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include <stdarg.h>

#include "common/alloc.h"
#include "common/err.h"

#define MAX_WARNINGS      1000
#define DEFAULT_MAX_FILES 5000000

static const char *const type_names[VX_PKG_TYPE_COUNT] = {
    [VX_PKG_DEB] = "deb",     [VX_PKG_APK] = "apk", [VX_PKG_RPM] = "rpm",
    [VX_PKG_PYPI] = "pypi",   [VX_PKG_NPM] = "npm", [VX_PKG_GOLANG] = "golang",
    [VX_PKG_MAVEN] = "maven",
};

const char *vx_pkg_type_name(enum vx_pkg_type t)
{
    return (unsigned)t < VX_PKG_TYPE_COUNT ? type_names[t] : "unknown";
}

int vx_pkg_type_parse(const char *name)
{
    for (int i = 0; name && i < VX_PKG_TYPE_COUNT; i++)
        if (strcasecmp(name, type_names[i]) == 0)
            return i;
    return -1;
}

struct vx_inventory *vx_inventory_new(void)
{
    struct vx_inventory *inv = vx_xcalloc(1, sizeof(*inv));

    inv->max_files = DEFAULT_MAX_FILES;
    return inv;
}

static void pkg_release(struct vx_pkg *p)
{
    free(p->name);
    free(p->version);
    free(p->arch);
    free(p->namespace);
    free(p->source_name);
    free(p->source_version);
    free(p->purl);
    free(p->location);
    for (size_t i = 0; i < p->n_files; i++)
        free(p->files[i]);
    free(p->files);
}

void vx_inventory_free(struct vx_inventory *inv)
{
    if (!inv)
        return;
    for (size_t i = 0; i < inv->n_pkgs; i++)
        pkg_release(&inv->pkgs[i]);
    free(inv->pkgs);
    for (size_t i = 0; i < inv->n_warnings; i++)
        free(inv->warnings[i]);
    free(inv->warnings);
    for (size_t i = 0; i < inv->n_owners; i++)
        free(inv->owners[i].path);
    free(inv->owners);
    free(inv->distro_id);
    free(inv->distro_version);
    free(inv);
}

struct vx_pkg *vx_inventory_add(struct vx_inventory *inv, enum vx_pkg_type type, const char *name,
                                const char *version, const char *arch, const char *namespace)
{
    struct vx_pkg *p;

    inv->pkgs = vx_xgrow(inv->pkgs, sizeof(*inv->pkgs), inv->n_pkgs + 1, &inv->cap_pkgs);
    p = &inv->pkgs[inv->n_pkgs++];
    memset(p, 0, sizeof(*p));
    p->type = type;
    p->name = vx_xstrdup(name ? name : "");
    p->version = vx_xstrdup(version ? version : "");
    p->arch = vx_xstrdup(arch);
    p->namespace = vx_xstrdup(namespace);
    return p;
}

void vx_inventory_limit(struct vx_inventory *inv, int64_t max_files)
{
    inv->max_files = max_files > 0 ? max_files : DEFAULT_MAX_FILES;
}

int vx_pkg_add_file(struct vx_inventory *inv, struct vx_pkg *pkg, const char *path,
                    struct vx_err **err)
{
    if (inv->n_files_listed >= inv->max_files)
        return vx_err_set(err, VX_E_TOO_LARGE, 0,
                          "more than %" PRId64 " files listed by the package databases "
                          "(at '%s' of %s)",
                          inv->max_files, pkg->name, vx_pkg_type_name(pkg->type));
    pkg->files = vx_xgrow(pkg->files, sizeof(*pkg->files), pkg->n_files + 1, &pkg->cap_files);
    pkg->files[pkg->n_files++] = path[0] == '/' ? vx_xstrdup(path) : vx_xasprintf("/%s", path);
    inv->n_files_listed++;
    return 0;
}

void vx_inventory_warn(struct vx_inventory *inv, const char *fmt, ...)
{
    va_list ap;

    if (inv->n_warnings >= MAX_WARNINGS) {
        inv->warnings_dropped++;
        return;
    }
    inv->warnings =
        vx_xgrow(inv->warnings, sizeof(*inv->warnings), inv->n_warnings + 1, &inv->cap_warnings);
    va_start(ap, fmt);
    inv->warnings[inv->n_warnings++] = vx_xvasprintf(fmt, ap);
    va_end(ap);
}
