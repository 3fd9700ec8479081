/* fuzz_apk.c -- libFuzzer target for vx_inv_parse_apk() (lib/apk/db/installed), then the
 * lexical index, the JSON writer and the purls built for what was parsed.
 *
 * Checks: parsing never fails except "not an apk database" / the file cap; every package
 * has a non-empty name and version; every purl parses back to type apk and the same
 * (case-folded) name; every indexed path is absolute and lexically normal.
 */
#include "common/setup.h"

#include "common/err.h"
#include "inventory/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_err *err = NULL;
    char *j;

    vx_inventory_limit(inv, 100000);
    if (vx_inv_parse_apk(inv, "lib/apk/db/installed", (const char *)data, size, &err) < 0) {
        if (!err || (err->code != VX_E_INVALID && err->code != VX_E_TOO_LARGE))
            __builtin_trap();
        vx_err_free(&err);
    }
    if (vx_inventory_index(inv, NULL, &err) < 0)
        __builtin_trap();
    for (size_t i = 0; i < inv->n_pkgs; i++) {
        const struct vx_pkg *p = &inv->pkgs[i];
        struct vx_purl u;
        if (!*p->name || !*p->version || !p->purl)
            __builtin_trap();
        if (vx_purl_parse(p->purl, &u, &err) < 0 || strcmp(u.type, "apk") != 0 ||
            strcasecmp(u.name, p->name) != 0 || !u.version || strcmp(u.version, p->version))
            __builtin_trap();
        vx_purl_release(&u);
    }
    for (size_t i = 0; i < inv->n_owners; i++) {
        const char *p = inv->owners[i].path;
        size_t n = strlen(p);
        if (p[0] != '/' || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") ||
            (n > 1 && p[n - 1] == '/'))
            __builtin_trap();
    }
    j = vx_inventory_json(inv, true);
    free(j);
    vx_inventory_free(inv);
    return 0;
}
