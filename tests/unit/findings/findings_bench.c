/* findings_bench.c -- times vx_findings_parse + vx_findings_bind of a report against a
 * synthetic inventory: `findings_bench REPORT N_PKGS` builds N_PKGS deb packages named
 * pkgI at version 1.I-1 (what bench/bench-findings.sh's generator refers to) and prints
 * "parse_ms bind_ms findings bound". Not a test; bench/bench-findings.sh runs it.
 */
#include "common/setup.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "findings/findings.h"
#include "inventory/inventory.h"

int main(int argc, char **argv)
{
    struct vx_findings *f = NULL;
    struct vx_inventory *inv;
    struct vx_err *err = NULL;
    int64_t t0, t1, t2, npk;
    size_t bound = 0;

    if (argc != 3 || vx_parse_i64(argv[2], 1, 10000000, &npk) < 0) {
        fprintf(stderr, "usage: findings_bench REPORT N_PKGS\n");
        return 2;
    }
    inv = vx_inventory_new();
    for (int64_t i = 0; i < npk; i++) {
        char name[32], ver[32];
        snprintf(name, sizeof(name), "pkg%" PRId64, i);
        snprintf(ver, sizeof(ver), "%s1.%" PRId64 "-1", i % 10 == 0 ? "1:" : "", i);
        vx_inventory_add(inv, VX_PKG_DEB, name, ver, "amd64", "debian");
    }
    t0 = vx_mono_ms();
    if (vx_findings_parse_file(argv[1], &f, &err) < 0) {
        fprintf(stderr, "findings_bench: %s\n", err->msg);
        return 2;
    }
    t1 = vx_mono_ms();
    if (vx_findings_bind(f, inv, &bound, &err) < 0) {
        fprintf(stderr, "findings_bench: %s\n", err->msg);
        return 2;
    }
    t2 = vx_mono_ms();
    printf("%" PRId64 " %" PRId64 " %zu %zu\n", t1 - t0, t2 - t1, f->n, bound);
    vx_findings_free(f);
    vx_inventory_free(inv);
    return 0;
}
