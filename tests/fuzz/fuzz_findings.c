/* fuzz_findings.c -- libFuzzer target for the findings parsers (every format, detected from
 * the input's shape), the SBOM combination, the OSV symbol reader and the binder.
 *
 * Besides "never crash, never leak", it checks the error contract: a parse either succeeds
 * with every finding carrying an id, a package (name or purl) and a normalised severity, or
 * fails with a negative code and a message. Accepted reports are bound to a small inventory
 * and serialised, so the binder's purl reader and the json writer see fuzzed strings too.
 */
#include "common/setup.h"

#include "common/err.h"
#include "findings/findings.h"
#include "inventory/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct vx_findings *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const struct vx_finding *x = &f->items[i];
        if (!x->id || !(x->name || x->purl) || !x->severity)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vx_findings *f = NULL, *g = NULL;
    struct vx_inventory *inv;
    struct vx_err *err = NULL;
    size_t n = 0;
    char *js;
    int rc;

    rc = vx_findings_parse((const char *)data, size, &f, &err);
    if (rc < 0) {
        if (!err || !err->msg || f)
            __builtin_trap();
        vx_err_free(&err);
        /* the same bytes as an SBOM next to a tiny report */
        static const char rep[] = "{\"bomFormat\":\"CycloneDX\",\"vulnerabilities\":[{\"id\":"
                                  "\"CVE-1\",\"affects\":[{\"ref\":\"SPDXRef-a\"}]}]}";
        if (vx_findings_parse_with_sbom(rep, sizeof(rep) - 1, (const char *)data, size, &g, &err) ==
            0)
            check(g);
        vx_err_free(&err);
        vx_findings_free(g);
        return 0;
    }
    check(f);
    if (vx_findings_add_osv_symbols(f, (const char *)data, size, &n, &err) < 0)
        vx_err_free(&err);
    inv = vx_inventory_new();
    vx_inventory_add(inv, VX_PKG_DEB, "bash", "5.0-4", "amd64", "debian");
    vx_inventory_add(inv, VX_PKG_RPM, "openssl-libs", "1:1.0.2k-16.el7", "x86_64", "centos");
    vx_inventory_add(inv, VX_PKG_NPM, "jquery", "3.3.9", NULL, NULL);
    if (vx_findings_bind(f, inv, &n, &err) < 0)
        vx_err_free(&err);
    js = vx_findings_json(f, inv);
    free(js);
    vx_inventory_free(inv);
    vx_findings_free(f);
    return 0;
}
