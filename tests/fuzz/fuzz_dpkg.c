/* fuzz_dpkg.c -- libFuzzer target for the dpkg readers: vx_inv_parse_dpkg_status() (a status
 * file or a status.d/ entry) and vx_inv_parse_dpkg_list() (an info/NAME.list), then the lexical
 * index, the JSON and CycloneDX writers and the purls built for what was parsed.
 *
 * Input: a status file, optionally followed by "\n--LIST--\n" and a file list given to the
 * first package. Checks: parsing never fails except "not a status file" / the file cap;
 * every package has a non-empty name and version; every purl built parses back to the same
 * type and (case-folded) name; every indexed path is absolute and lexically normal.
 */
#include "common/setup.h"

#include "common/err.h"
#include "inventory/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sep[] = "\n--LIST--\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_err *err = NULL;
    const char *s = (const char *)data, *list = NULL;
    size_t slen = size, llen = 0;
    char *j;

    const char *m = memmem(s, size, sep, sizeof(sep) - 1);
    if (m) {
        slen = (size_t)(m - s);
        list = m + sizeof(sep) - 1;
        llen = size - slen - (sizeof(sep) - 1);
    }
    vx_inventory_limit(inv, 100000);
    if (vx_inv_parse_dpkg_status(inv, "status", s, slen, &err) < 0) {
        if (!err || err->code != VX_E_INVALID || inv->n_pkgs)
            __builtin_trap();
        vx_err_free(&err);
    }
    if (list && inv->n_pkgs && vx_inv_parse_dpkg_list(inv, &inv->pkgs[0], list, llen, &err) < 0) {
        if (!err || err->code != VX_E_TOO_LARGE)
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
        if (vx_purl_parse(p->purl, &u, &err) < 0 || strcmp(u.type, "deb") != 0 ||
            strcasecmp(u.name, p->name) != 0 || !u.version || strcmp(u.version, p->version))
            __builtin_trap();
        vx_purl_release(&u);
    }
    for (size_t i = 0; i < inv->n_owners; i++) {
        const char *p = inv->owners[i].path;
        size_t n = strlen(p);
        if (p[0] != '/' || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") ||
            (n > 1 && p[n - 1] == '/') || (i && strcmp(inv->owners[i - 1].path, p) > 0))
            __builtin_trap();
    }
    j = vx_inventory_json(inv, true);
    free(j);
    j = vx_inventory_cyclonedx(inv, "pkg:oci/fuzz", "00000000-0000-4000-8000-000000000000", 0);
    free(j);
    vx_inventory_free(inv);
    return 0;
}
