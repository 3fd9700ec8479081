/* findings.c -- `vexxy findings FILE`: parse a scanner's report on its own (the findings half
 * of the inventory phase), optionally bound to the packages of a root filesystem.
 *
 * FILE is a Trivy, Grype, CycloneDX (with vulnerabilities) or OSV-Scanner JSON report, "-"
 * for stdin. --sbom adds the SPDX or CycloneDX SBOM the report was made from; --osv adds
 * vulnerable symbols from OSV records / Go vulndb entries; --inventory scans ROOTFS and
 * binds each finding to a package, printing the reason for those it cannot bind.
 * Exit status: 0 done, 2 error (usage, unreadable or unsupported report, scan failure).
 */
#include "common/setup.h"

#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "findings/findings.h"
#include "inventory/inventory.h"

static const char usage[] =
    "usage: vexxy findings FILE [--json] [--inventory ROOTFS] [--osv FILE]... [--sbom FILE]\n"
    "FILE is a Trivy, Grype, CycloneDX (with vulnerabilities) or OSV-Scanner JSON report\n"
    "('-' reads stdin); the format is detected from its shape.\n"
    "  --json            the canonical JSON instead of a table\n"
    "  --inventory DIR   scan the root filesystem DIR and bind each finding to a package\n"
    "  --osv FILE        add vulnerable symbols from an OSV record or Go vulndb entry\n"
    "                    (a JSON object, or an array of them); repeatable\n"
    "  --sbom FILE       the SPDX 2.2/2.3 or CycloneDX SBOM the report was made from (an SPDX\n"
    "                    document carries no vulnerabilities: give it here, with a report)";

#define MAX_OSV 64

static int slurp(const char *path, struct vx_buf *b, struct vx_err **err)
{
    char chunk[65536];
    ssize_t r;
    int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return vx_err_set(err, VX_E_IO, errno, "cannot open '%s': %s", path, strerror(errno));
    while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || vx_buf_add(b, chunk, (size_t)r) < 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            return r < 0 ? vx_err_set(err, VX_E_IO, e, "cannot read '%s': %s", path, strerror(e))
                         : vx_err_set(err, VX_E_TOO_LARGE, 0, "'%s' is over the %d byte cap", path,
                                      VX_FINDINGS_MAX_BYTES);
        }
    }
    close(fd);
    return 0;
}

static const char *dash(const char *s)
{
    return s && *s ? s : "-";
}

static void print_table(const struct vx_findings *f, const struct vx_inventory *inv, size_t n_bound)
{
    static const char *const sev[] = {"critical", "high", "medium", "low", "negligible", "unknown"};
    size_t counts[VX_ARRAY_SIZE(sev)] = {0};

    printf("format %s %s%s%s, %zu findings\n", vx_findings_format_name(f->format),
           dash(f->format_version), f->artifact ? ", artifact " : "",
           f->artifact ? f->artifact : "", f->n);
    printf("%-22s %-30s %-24s %-20s %-10s%s\n", "ID", "PACKAGE", "VERSION", "FIXED", "SEVERITY",
           inv ? " BOUND" : "");
    for (size_t i = 0; i < f->n; i++) {
        const struct vx_finding *x = &f->items[i];
        printf("%-22s %-30s %-24s %-20s %-10s", x->id, dash(x->name ? x->name : x->purl),
               dash(x->version), dash(x->fixed_version), x->severity);
        if (inv && x->pkg >= 0)
            printf(" %s (%s)",
                   dash(inv->pkgs[x->pkg].purl ? inv->pkgs[x->pkg].purl : inv->pkgs[x->pkg].name),
                   x->bound_by);
        else if (inv)
            printf(" no: %s", dash(x->unbound_reason));
        printf("\n");
        for (size_t k = 0; k < VX_ARRAY_SIZE(sev); k++)
            if (!strcmp(x->severity, sev[k]))
                counts[k]++;
    }
    printf("\nby severity:");
    for (size_t k = 0; k < VX_ARRAY_SIZE(sev); k++)
        printf(" %s %zu%s", sev[k], counts[k], k + 1 < VX_ARRAY_SIZE(sev) ? "," : "\n");
    if (inv)
        printf("bound %zu of %zu findings to %zu packages\n", n_bound, f->n, inv->n_pkgs);
    for (size_t i = 0; i < f->n_warnings; i++)
        printf("warning: %s\n", f->warnings[i]);
}

int vx_cmd_findings(int argc, char **argv)
{
    static const struct option lo[] = {
        {"json", no_argument, NULL, 'j'},      {"inventory", required_argument, NULL, 'i'},
        {"osv", required_argument, NULL, 'o'}, {"sbom", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    const char *osv[MAX_OSV], *rootfs = NULL, *sbom = NULL, *file;
    struct vx_buf rb = VX_BUF_INIT(VX_FINDINGS_MAX_BYTES), sb = VX_BUF_INIT(VX_FINDINGS_MAX_BYTES);
    struct vx_findings *f = NULL;
    struct vx_inventory *inv = NULL;
    struct vx_err *err = NULL;
    size_t n_osv = 0, n_bound = 0;
    bool json = false;
    char *doc = NULL;
    int rc = VX_EXIT_ERROR, c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("%s\n", usage);
            return VX_EXIT_OK;
        case 'j':
            json = true;
            break;
        case 'i':
            rootfs = optarg;
            break;
        case 'o':
            if (n_osv == MAX_OSV) {
                fprintf(stderr, "vexxy findings: at most %d --osv files\n", MAX_OSV);
                return VX_EXIT_ERROR;
            }
            osv[n_osv++] = optarg;
            break;
        case 's':
            sbom = optarg;
            break;
        default:
            fprintf(stderr, "vexxy findings: unknown or incomplete option '%s'\n%s\n",
                    argv[optind - 1], usage);
            return VX_EXIT_ERROR;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "vexxy findings: exactly one FILE is required\n%s\n", usage);
        return VX_EXIT_ERROR;
    }
    file = argv[optind];
    if (slurp(file, &rb, &err) < 0)
        goto fail;
    if (sbom) {
        if (slurp(sbom, &sb, &err) < 0)
            goto fail;
        if (vx_findings_parse_with_sbom(vx_buf_str(&rb), rb.len, vx_buf_str(&sb), sb.len, &f,
                                        &err) < 0)
            goto fail;
    } else if (vx_findings_parse(vx_buf_str(&rb), rb.len, &f, &err) < 0) {
        goto fail;
    }
    for (size_t i = 0; i < n_osv; i++) {
        struct vx_buf ob = VX_BUF_INIT(VX_FINDINGS_MAX_BYTES);
        size_t matched = 0;
        int r = slurp(osv[i], &ob, &err);
        if (r == 0)
            r = vx_findings_add_osv_symbols(f, vx_buf_str(&ob), ob.len, &matched, &err);
        vx_buf_release(&ob);
        if (r < 0) {
            vx_err_wrap(&err, "%s", osv[i]);
            goto fail;
        }
        if (!json)
            fprintf(stderr, "%s: symbols added to %zu findings\n", osv[i], matched);
    }
    if (rootfs) {
        struct vx_inventory_opts io = {0};
        if (vx_inventory_scan(rootfs, &io, &inv, &err) < 0)
            goto fail;
        if (vx_findings_bind(f, inv, &n_bound, &err) < 0)
            goto fail;
    }
    if (json) {
        doc = vx_findings_json(f, inv);
        printf("%s\n", doc);
    } else {
        print_table(f, inv, n_bound);
    }
    rc = VX_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "vexxy findings: %s\n", err->msg);
    vx_err_free(&err);
out:
    vx_buf_release(&rb);
    vx_buf_release(&sb);
    vx_findings_free(f);
    vx_inventory_free(inv);
    free(doc);
    return rc;
}
