/* reach_bench.c -- times the reach and vex phases on a synthetic case built in memory:
 * `reach_bench PKGS FILES FINDINGS RUNS [OUT_PREFIX]`.
 *
 * The case: PKGS deb packages (pkgI at version 1.I-1, every tenth with epoch 1) sharing FILES
 * files evenly (a tenth shared objects, a tenth programs, a fifth Python modules, the rest
 * data and docs), all present; FINDINGS findings, a twentieth naming a package the image
 * lacks, a twentieth another version of an installed one, a twentieth carrying a GHSA alias
 * and a twentieth repeating the previous finding's id without qualifiers in its purl (a
 * second scanner: grouped into one verdict), the rest bound to their package; a complete
 * profile of a good run (up for the whole window, health check passed, traffic) touching 2 %
 * of the files, all in 15 % of the packages, plus 500 files no package owns. Not a test:
 * bench/bench-reach.sh runs it.
 *
 * Each of RUNS rounds times, on the same inputs: vx_reach_decide (every verdict),
 * vx_reach_statements, vx_vex_openvex, vx_vex_cyclonedx, vx_vex_csaf and vx_reach_json, and
 * (the serialisation floor) json_dumps of the OpenVEX document already parsed into jansson.
 * Prints "name median_ms" lines, then the verdict counts; OUT_PREFIX.openvex.json,
 * .cyclonedx.json and .csaf.json get the documents of the last round (the script's baseline
 * reads the OpenVEX one).
 */
#include "common/setup.h"

#include <time.h>

#include "reach/reach.h"         /* what is timed */
#include "vex/vex.h"             /* the document writers */
#include "findings/findings.h"   /* the synthetic findings */
#include "inventory/inventory.h" /* the synthetic inventory */
#include "trace/trace.h"         /* the synthetic profile (struct only: no trace code linked) */
#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "common/util.h"

#define MAX_RUNS 51

enum { T_REACH, T_STM, T_OPENVEX, T_CDX, T_CSAF, T_JSON, T_DUMP, T_COUNT };
static const char *const t_names[T_COUNT] = {"reach", "statements", "openvex",     "cyclonedx",
                                             "csaf",  "reach_json", "jansson_dump"};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int cmp_tfile(const void *a, const void *b)
{
    return strcmp(((const struct vx_trace_file *)a)->path, ((const struct vx_trace_file *)b)->path);
}

/* File j of package i: its path and how the workload would touch it. */
static char *file_path(int64_t i, int64_t j, unsigned *how)
{
    switch (j % 10) {
    case 0:
        *how = VX_HOW_OPEN | VX_HOW_MMAP_EXEC;
        return vx_xasprintf("/usr/lib/x86_64-linux-gnu/libpkg%" PRId64 "-%" PRId64 ".so.1", i, j);
    case 1:
        *how = VX_HOW_EXEC;
        return vx_xasprintf("/usr/bin/pkg%" PRId64 "-%" PRId64, i, j);
    case 2:
    case 3:
        *how = VX_HOW_OPEN;
        return vx_xasprintf("/usr/lib/python3/dist-packages/pkg%" PRId64 "/m%" PRId64 ".py", i, j);
    case 4:
    case 5:
        *how = VX_HOW_OPEN;
        return vx_xasprintf("/usr/share/doc/pkg%" PRId64 "/f%" PRId64 ".txt", i, j);
    default:
        *how = VX_HOW_OPEN;
        return vx_xasprintf("/usr/share/pkg%" PRId64 "/data/d%" PRId64 ".dat", i, j);
    }
}

static struct vx_inventory *make_inventory(int64_t npk, int64_t nfiles)
{
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_err *err = NULL;

    inv->distro_id = vx_xstrdup("debian");
    inv->distro_version = vx_xstrdup("12");
    vx_inventory_limit(inv, nfiles + 1);
    for (int64_t i = 0; i < npk; i++) {
        char name[32], ver[32];
        struct vx_pkg *p;
        /* spread the remainder so the total is exactly nfiles */
        int64_t nf = nfiles / npk + (i < nfiles % npk);

        snprintf(name, sizeof(name), "pkg%" PRId64, i);
        snprintf(ver, sizeof(ver), "%s1.%" PRId64 "-1", i % 10 == 0 ? "1:" : "", i);
        p = vx_inventory_add(inv, VX_PKG_DEB, name, ver, "amd64", "debian");
        for (int64_t j = 0; j < nf; j++) {
            unsigned how;
            char *path = file_path(i, j, &how);

            if (vx_pkg_add_file(inv, p, path, &err) < 0) {
                fprintf(stderr, "reach_bench: %s\n", err->msg);
                exit(2);
            }
            free(path);
        }
    }
    /* no rootfs: the index is lexical and nothing is "present"; the synthetic image has
     * every listed file, as a real one would */
    if (vx_inventory_index(inv, NULL, &err) < 0) {
        fprintf(stderr, "reach_bench: %s\n", err->msg);
        exit(2);
    }
    for (size_t k = 0; k < inv->n_owners; k++)
        inv->owners[k].present = true;
    for (size_t k = 0; k < inv->n_owners; k++)
        inv->pkgs[inv->owners[k].pkg].n_mapped++;
    return inv;
}

static struct vx_finding *add_finding(struct vx_findings *f)
{
    struct vx_finding *x;

    f->items = vx_xgrow(f->items, sizeof(*f->items), f->n + 1, &f->cap);
    x = &f->items[f->n++];
    memset(x, 0, sizeof(*x));
    return x;
}

static struct vx_findings *make_findings(const struct vx_inventory *inv, int64_t nf)
{
    static const char *const sev[] = {"low", "medium", "high", "critical"};
    struct vx_findings *f = vx_xcalloc(1, sizeof(*f));
    size_t npk = inv->n_pkgs;

    f->format = VX_FINDINGS_TRIVY;
    f->format_version = vx_xstrdup("2");
    for (int64_t i = 0; i < nf; i++) {
        struct vx_finding *x = add_finding(f);
        /* a multiplicative hash spreads findings over packages unevenly, like real reports */
        size_t p = (size_t)(((uint64_t)i * 2654435761u) % npk);
        int kind = (int)(i % 20);
        bool epoch = p % 10 == 0;
        char ver[32];

        snprintf(ver, sizeof(ver), "1.%zu-1", p);
        x->id = vx_xasprintf("CVE-2024-%05" PRId64, i);
        x->type = vx_xstrdup("deb");
        x->severity = vx_xstrdup(sev[i % 4]);
        x->status = vx_xstrdup("fixed");
        x->description = vx_xasprintf("synthetic finding %" PRId64 " of pkg%zu", i, p);
        x->pkg = -1;
        if (kind == 0) { /* a package the image does not have */
            x->name = vx_xasprintf("absent%zu", p);
            x->version = vx_xstrdup(ver);
            x->purl =
                vx_xasprintf("pkg:deb/debian/absent%zu@%s?arch=amd64&distro=debian-12", p, ver);
            x->fixed_version = vx_xasprintf("1.%zu-2", p);
            x->unbound_reason = vx_xasprintf("no package 'absent%zu' in the inventory", p);
            continue;
        }
        if (kind == 1) { /* another version of an installed package */
            x->name = vx_xasprintf("pkg%zu", p);
            x->version = vx_xasprintf("0.%zu-1", p);
            x->purl =
                vx_xasprintf("pkg:deb/debian/pkg%zu@0.%zu-1?arch=amd64&distro=debian-12", p, p);
            x->fixed_version = vx_xasprintf("0.%zu-2", p);
            x->unbound_reason =
                vx_xasprintf("pkg%zu is installed at %s only", p, inv->pkgs[p].version);
            continue;
        }
        if (kind == 4) { /* a second scanner repeats the previous finding */
            const struct vx_finding *prev = &f->items[f->n - 2];

            free(x->id);
            x->id = vx_xstrdup(prev->id);
            p = (size_t)prev->pkg;
            epoch = p % 10 == 0;
            snprintf(ver, sizeof(ver), "1.%zu-1", p);
        }
        x->name = vx_xasprintf("pkg%zu", p);
        x->version = vx_xasprintf("%s%s", epoch ? "1:" : "", ver);
        x->fixed_version = vx_xasprintf("%s1.%zu-2", epoch ? "1:" : "", p);
        if (kind == 4)
            x->purl = vx_xasprintf("pkg:deb/debian/pkg%zu@%s", p, ver);
        else
            x->purl = vx_xasprintf("pkg:deb/debian/pkg%zu@%s?arch=amd64&distro=debian-12%s", p, ver,
                                   epoch ? "&epoch=1" : "");
        if (kind == 3) {
            x->aliases = vx_xcalloc(1, sizeof(*x->aliases));
            x->aliases[0] = vx_xasprintf("GHSA-%04" PRId64 "-abcd-efgh", i % 10000);
            x->n_aliases = 1;
        }
        x->pkg = (long)p;
        x->bound_by = "purl";
    }
    return f;
}

static struct vx_trace_file *add_tfile(struct vx_trace_profile *prof, char *path, unsigned how)
{
    struct vx_trace_file *tf;

    prof->files = vx_xgrow(prof->files, sizeof(*prof->files), prof->n_files + 1, &prof->cap_files);
    tf = &prof->files[prof->n_files++];
    memset(tf, 0, sizeof(*tf));
    tf->path = path;
    tf->how = how;
    tf->backends = 1;
    tf->count = 3;
    tf->pids[0] = 4242;
    tf->n_pids = 1;
    return tf;
}

/* 15 % of the packages (i % 20 < 3) ran; 2 % of all files, spread over them (every
 * package's first files, in its own order: libraries, programs, modules, data). */
static struct vx_trace_profile *make_profile(int64_t npk, int64_t nfiles)
{
    struct vx_trace_profile *prof = vx_xcalloc(1, sizeof(*prof));
    int64_t n_used = 0, per, want = nfiles / 50;

    for (int64_t i = 0; i < npk; i++)
        n_used += i % 20 < 3;
    per = n_used ? (want + n_used - 1) / n_used : 0;
    for (int64_t i = 0, left = want; i < npk && left > 0; i++) {
        int64_t nf = nfiles / npk + (i < nfiles % npk);

        if (i % 20 >= 3)
            continue;
        for (int64_t j = 0; j < nf && j < per && left > 0; j++, left--) {
            unsigned how;
            char *path = file_path(i, j, &how);

            add_tfile(prof, path, how);
        }
    }
    for (int64_t k = 0; k < 500; k++) /* /etc, /proc, caches: files nobody owns */
        add_tfile(prof, vx_xasprintf("/var/cache/app/tmp-%03" PRId64, k), VX_HOW_OPEN);
    qsort(prof->files, prof->n_files, sizeof(*prof->files), cmp_tfile);
    prof->complete = true;
    prof->start_ms = 1700000000000;
    prof->end_ms = prof->start_ms + 10000;
    prof->backends = vx_xcalloc(1, sizeof(*prof->backends));
    prof->backends[0].name = vx_xstrdup("fanotify");
    prof->backends[0].ran = true;
    prof->backends[0].events = 123456;
    prof->n_backends = 1;
    return prof;
}

/* The trace module has the real free; linking it would pull in the tracers. */
static void profile_free(struct vx_trace_profile *p)
{
    for (size_t i = 0; i < p->n_files; i++)
        free(p->files[i].path);
    free(p->files);
    free(p->backends[0].name);
    free(p->backends);
    free(p);
}

/* PREFIX.NAME.json gets doc. */
static int write_doc(const char *prefix, const char *name, const char *doc)
{
    char *path = vx_xasprintf("%s.%s.json", prefix, name);
    FILE *out = fopen(path, "we");
    size_t len = strlen(doc);
    int rc = 0;

    if (!out || fwrite(doc, 1, len, out) != len || fclose(out) != 0) {
        fprintf(stderr, "reach_bench: cannot write '%s': %s\n", path, strerror(errno));
        rc = -1;
    }
    free(path);
    return rc;
}

int main(int argc, char **argv)
{
    const struct vx_run_facts facts = {.ran = true,
                                       .stayed_up = true,
                                       .exit_code = -1,
                                       .window_ms = 10000,
                                       .window_wanted_ms = 10000,
                                       .health_checked = true,
                                       .health_ok = true,
                                       .requests = 1200,
                                       .endpoints = 6,
                                       .status_2xx = 1100,
                                       .status_4xx = 100};
    const char *products[2] = {
        "pkg:oci/demo@sha256%3A1111111111111111111111111111111111111111111111111111111111111111",
        "pkg:oci/demo@sha256%3A2222222222222222222222222222222222222222222222222222222222222222"};
    static double t[T_COUNT][MAX_RUNS];
    struct vx_inventory *inv;
    struct vx_findings *f;
    struct vx_trace_profile *prof;
    struct vx_err *err = NULL;
    struct vx_reach_result *last = NULL;
    char *openvex_last = NULL, *cdx_last = NULL, *csaf_last = NULL;
    size_t openvex_bytes = 0, rj_bytes = 0, n_stm = 0;
    int64_t npk, nfiles, nf, runs;

    if ((argc != 5 && argc != 6) || vx_parse_i64(argv[1], 1, 1000000, &npk) < 0 ||
        vx_parse_i64(argv[2], 0, 50000000, &nfiles) < 0 ||
        vx_parse_i64(argv[3], 2, 1000000, &nf) < 0 ||
        vx_parse_i64(argv[4], 1, MAX_RUNS, &runs) < 0) {
        fprintf(stderr, "usage: reach_bench PKGS FILES FINDINGS RUNS [OUT_PREFIX]\n");
        return 2;
    }
    inv = make_inventory(npk, nfiles);
    f = make_findings(inv, nf);
    prof = make_profile(npk, nfiles);

    for (int64_t run = 0; run < runs; run++) {
        struct vx_reach_result *r = NULL;
        struct vx_reach_statements stm = {0};
        struct vx_vex_doc doc = {0};
        char *ov, *cdx, *csaf, *rj, *dumped;
        json_t *parsed = NULL;
        double t0;

        t0 = now_ms();
        if (vx_reach_decide(inv, f, prof, &facts, NULL, &r, &err) < 0) {
            fprintf(stderr, "reach_bench: %s\n", err->msg);
            return 2;
        }
        t[T_REACH][run] = now_ms() - t0;

        t0 = now_ms();
        if (vx_reach_statements(r, inv, f, "evidence.json", &stm, &err) < 0) {
            fprintf(stderr, "reach_bench: %s\n", err->msg);
            return 2;
        }
        t[T_STM][run] = now_ms() - t0;
        doc.id = "https://vexxy.dev/vex/bench";
        doc.author = "vexxy";
        doc.tooling = "vexxy/bench";
        doc.timestamp_ms = 1700000000000;
        doc.version = 1;
        doc.products = products;
        doc.n_products = VX_ARRAY_SIZE(products);
        doc.image_name = "demo:latest";
        doc.statements = stm.items;
        doc.n_statements = stm.n;

        t0 = now_ms();
        ov = vx_vex_openvex(&doc);
        t[T_OPENVEX][run] = now_ms() - t0;
        t0 = now_ms();
        cdx = vx_vex_cyclonedx(&doc, "00000000-0000-4000-8000-000000000000");
        t[T_CDX][run] = now_ms() - t0;
        t0 = now_ms();
        csaf = vx_vex_csaf(&doc);
        t[T_CSAF][run] = now_ms() - t0;
        t0 = now_ms();
        rj = vx_reach_json(r, inv, f);
        t[T_JSON][run] = now_ms() - t0;

        /* the floor: the same document, already a jansson tree, only serialised */
        if (vx_json_parse(ov, strlen(ov), &parsed, &err) < 0) {
            fprintf(stderr, "reach_bench: openvex output: %s\n", err->msg);
            return 2;
        }
        t0 = now_ms();
        dumped = vx_json_dump(parsed);
        t[T_DUMP][run] = now_ms() - t0;
        if (strcmp(dumped, ov) != 0) {
            fprintf(stderr, "reach_bench: openvex output is not canonical jansson\n");
            return 2;
        }
        json_decref(parsed);
        free(dumped);

        free(openvex_last);
        free(cdx_last);
        free(csaf_last);
        openvex_last = ov;
        cdx_last = cdx;
        csaf_last = csaf;
        openvex_bytes = strlen(ov);
        n_stm = stm.n;
        rj_bytes = strlen(rj);
        free(rj);
        vx_reach_statements_free(&stm);
        vx_reach_result_free(last);
        last = r;
    }

    for (int i = 0; i < T_COUNT; i++) {
        qsort(t[i], (size_t)runs, sizeof(double), cmp_double);
        printf("%s %.2f\n", t_names[i], t[i][runs / 2]);
    }
    printf("packages %zu\nfiles %zu\nfindings %zu\nprofile_files %zu\n", inv->n_pkgs, inv->n_owners,
           f->n, prof->n_files);
    printf("verdicts %zu\naffected %zu\nnot_affected %zu\nunder_investigation %zu\nfixed %zu\n",
           last->n, last->n_affected, last->n_not_affected, last->n_under_investigation,
           last->n_fixed);
    printf("n_statements %zu\nopenvex_bytes %zu\nreach_json_bytes %zu\n", n_stm, openvex_bytes,
           rj_bytes);
    if (argc == 6 && (write_doc(argv[5], "openvex", openvex_last) < 0 ||
                      write_doc(argv[5], "cyclonedx", cdx_last) < 0 ||
                      write_doc(argv[5], "csaf", csaf_last) < 0))
        return 2;
    free(openvex_last);
    free(cdx_last);
    free(csaf_last);
    vx_reach_result_free(last);
    profile_free(prof);
    vx_findings_free(f);
    vx_inventory_free(inv);
    return 0;
}
