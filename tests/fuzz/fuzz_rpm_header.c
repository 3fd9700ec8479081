/* fuzz_rpm_header.c -- libFuzzer target for vx_inv_parse_rpm_header(), the RPM header blob
 * parser of rpm.c (the blobs of rpmdb.sqlite's Packages table are untrusted image content).
 *
 * Besides "never crash, never read out of bounds, never leak", it checks the error contract
 * (0, or a negative code with *err set, its code matching and a message) and that an
 * accepted header gave at most one package with a name and a version, whose files are all
 * absolute paths.
 */
#include "common/setup.h"

#include "common/err.h"
#include "inventory/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_err *err = NULL;
    int rc;

    vx_inventory_limit(inv, 100000);
    rc = vx_inv_parse_rpm_header(inv, "fuzz", data, size, &err);
    if (rc > 0 || (rc < 0 && (!err || !err->msg || err->code != (enum vx_code) - rc)) ||
        (rc == 0 && err))
        __builtin_trap();
    if (inv->n_pkgs > 1 ||
        (rc < 0 && inv->n_pkgs && inv->pkgs[0].n_files == 0 && inv->n_files_listed < 100000))
        __builtin_trap(); /* a refused header adds nothing unless the file cap stopped it */
    for (size_t i = 0; i < inv->n_pkgs; i++) {
        const struct vx_pkg *p = &inv->pkgs[i];

        if (!p->name[0] || !p->version[0])
            __builtin_trap();
        for (size_t j = 0; j < p->n_files; j++)
            if (p->files[j][0] != '/')
                __builtin_trap();
    }
    vx_err_free(&err);
    vx_inventory_free(inv);
    return 0;
}
