/* fuzz_python_record.c -- libFuzzer target for vx_inv_parse_python_record(), the reader of
 * a dist-info RECORD (CSV: quoted paths, "../" scripts, merge conflict markers).
 *
 * The first byte picks the site dir the paths are relative to; the rest is the RECORD.
 * Checks: the call succeeds (a bad line is a warning, never an error), and every path added
 * is absolute, lexically normal (no "//", "/./", "/../" and no trailing '/' except "/") and
 * free of NUL and newline -- i.e. "../" never climbed above the rootfs.
 */
#include "common/setup.h"

#include "common/err.h"
#include "inventory/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *p)
{
    size_t n = strlen(p);

    if (p[0] != '/' || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") ||
        strchr(p, '\n') || (n > 1 && p[n - 1] == '/') || (n >= 2 && strcmp(p + n - 2, "/.") == 0) ||
        (n >= 3 && strcmp(p + n - 3, "/..") == 0))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const sites[] = {"/usr/lib/python3/dist-packages",
                                        "/usr/local/lib/python3.11/site-packages", "/x", "/"};
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_pkg *pkg;
    struct vx_err *err = NULL;
    const char *site;

    if (size < 1)
        goto out;
    site = sites[data[0] % VX_ARRAY_SIZE(sites)];
    vx_inventory_limit(inv, 100000);
    pkg = vx_inventory_add(inv, VX_PKG_PYPI, "fuzz", "1", NULL, NULL);
    if (vx_inv_parse_python_record(inv, pkg, site, (const char *)data + 1, size - 1, &err) < 0) {
        /* only the file cap may stop it */
        if (!err || err->code != VX_E_TOO_LARGE)
            __builtin_trap();
    }
    for (size_t i = 0; i < inv->pkgs[0].n_files; i++)
        check_path(inv->pkgs[0].files[i]);
    vx_err_free(&err);
out:
    vx_inventory_free(inv);
    return 0;
}
