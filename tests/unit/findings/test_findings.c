/* test_findings.c -- the findings module: every sample report in ../shared/samples with
 * finding counts established independently (python3 json over the files), the documents
 * that are not reports, malformed input naming the JSON path, OSV symbols, binding on a
 * hand-built inventory (epochs, qualifiers, types, reasons) and version ordering.
 */
#include "common/setup.h"

#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "findings/findings.h"
#include "inventory/inventory.h"

static bool have_samples(void)
{
    DIR *d = opendir(VX_SAMPLES_DIR);

    if (!d)
        return false;
    closedir(d);
    return true;
}

static char *slurp(const char *rel, size_t *len)
{
    char *path = vx_xasprintf("%s/%s", VX_SAMPLES_DIR, rel);
    FILE *fp = fopen(path, "rb");
    struct vx_buf b = VX_BUF_INIT(64 << 20);
    char chunk[65536];
    size_t r;

    assert_non_null(fp);
    while ((r = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        assert_int_equal(vx_buf_add(&b, chunk, r), 0);
    fclose(fp);
    free(path);
    return vx_buf_detach(&b, len);
}

static struct vx_findings *parse_ok(const char *text)
{
    struct vx_findings *f = NULL;
    struct vx_err *err = NULL;
    int rc = vx_findings_parse(text, strlen(text), &f, &err);

    if (rc < 0)
        fail_msg("unexpected error: %s", err->msg);
    return f;
}

/* the error message of a parse expected to fail */
static char *parse_err(const char *text, size_t len)
{
    struct vx_findings *f = NULL;
    struct vx_err *err = NULL;
    char *msg;

    assert_true(vx_findings_parse(text, len, &f, &err) < 0);
    assert_null(f);
    assert_non_null(err);
    msg = vx_xstrdup(err->msg);
    vx_err_free(&err);
    return msg;
}

static const struct vx_finding *by_id(const struct vx_findings *f, const char *id, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->items[i].id, id) && (!name || !strcmp(f->items[i].name, name)))
            return &f->items[i];
    fail_msg("no finding %s %s", id, name ? name : "");
    return NULL;
}

static bool has(char **l, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(l[i], s))
            return true;
    return false;
}

/* ---- every sample -------------------------------------------------------------------- */

struct sample {
    const char *file;
    long count;         /* -1: must fail */
    const char *format; /* or the error substring when count == -1 */
};

static const struct sample samples[] = {
    {"trivy/defectdojo-trivy-all_statuses-debian10.json", 8, "trivy"},
    {"trivy/defectdojo-trivy-legacy-array-format.json", 93, "trivy"},
    {"trivy/trivy-golden-alpine-39.json", 6, "trivy"},
    {"trivy/trivy-golden-centos-7.json", 3, "trivy"},
    {"trivy/trivy-golden-debian-stretch.json", 5, "trivy"},
    {"trivy/trivy-golden-npm.json", 1, "trivy"},
    {"grype/defectdojo-grype-busybox-epss.json", 15, "grype"},
    {"grype/defectdojo-grype-many_vulns3-debian10-old-schema.json", 327, "grype"},
    {"grype/grype-snapshot-TestJsonImgsPresenter.json", 2, "grype"},
    {"grype/syft-grype-sbom-ubuntu-20.04-pruned.syft.json", -1,
     "syft: a Syft JSON document is an SBOM"},
    {"cyclonedx/bom-examples-cisa-Case-1_vex-affected.json", -1,
     "cyclonedx: vulnerabilities[0].affects[0].ref: 'product-DEF' is the product the BOM "
     "describes"},
    {"cyclonedx/bom-examples-cisa-Case-1_vex-fixed.json", -1, "'product-DEF' is the product"},
    {"cyclonedx/bom-examples-cisa-Case-1_vex-not_affected.json", -1,
     "'product-ABC' is the product"},
    {"cyclonedx/bom-examples-cisa-Case-1_vex-under_investigation.json", -1,
     "'product-GHI' is the product"},
    {"cyclonedx/defectdojo-log4j-grype.cdx.json", 8, "cyclonedx"},
    {"cyclonedx/guac-alpine-cyclonedx.json", -1,
     "cyclonedx: an SBOM without vulnerabilities (15 components)"},
    {"cyclonedx/secobserve-trivy-container.cdx.json", 2, "cyclonedx"},
    {"spdx/guac-alpine-syft0.57.spdx-2.2.json", -1, "spdx: an SPDX document lists packages"},
    {"spdx/kubevuln-alpine-syft.spdx.json", -1, "spdx: an SPDX document lists packages"},
    {"osv/govulndb-GO-2021-0113.json", -1, "osv: 'GO-2021-0113' is a single OSV advisory"},
    {"osv/govulndb-GO-2022-0463.json", -1, "osv: 'GO-2022-0463' is a single OSV advisory"},
    {"osv/osv-scanner-multiple-packages-with-vulns.json", 3, "osv"},
};

static void test_every_sample(void **state)
{
    (void)state;
    static const char *const dirs[] = {"trivy", "grype", "cyclonedx", "spdx", "osv"};
    size_t seen = 0;

    if (!have_samples())
        skip();
    /* every .json in the directories is in the table: a new sample must get its count */
    for (size_t d = 0; d < VX_ARRAY_SIZE(dirs); d++) {
        char *path = vx_xasprintf("%s/%s", VX_SAMPLES_DIR, dirs[d]);
        DIR *dir = opendir(path);
        struct dirent *de;
        assert_non_null(dir);
        while ((de = readdir(dir))) {
            size_t l = strlen(de->d_name);
            bool found = false;
            if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
                continue;
            for (size_t i = 0; i < VX_ARRAY_SIZE(samples); i++) {
                const char *slash = strchr(samples[i].file, '/');
                if (!strncmp(samples[i].file, dirs[d], (size_t)(slash - samples[i].file)) &&
                    !strcmp(slash + 1, de->d_name))
                    found = true;
            }
            if (!found)
                fail_msg("sample %s/%s has no expected count", dirs[d], de->d_name);
            seen++;
        }
        closedir(dir);
        free(path);
    }
    assert_int_equal(seen, VX_ARRAY_SIZE(samples));
    for (size_t i = 0; i < VX_ARRAY_SIZE(samples); i++) {
        size_t len;
        char *data = slurp(samples[i].file, &len);
        struct vx_findings *f = NULL;
        struct vx_err *err = NULL;
        int rc = vx_findings_parse(data, len, &f, &err);

        if (samples[i].count < 0) {
            if (rc == 0)
                fail_msg("%s: parsed (%zu findings), expected an error", samples[i].file, f->n);
            if (!strstr(err->msg, samples[i].format))
                fail_msg("%s: error '%s' lacks '%s'", samples[i].file, err->msg, samples[i].format);
            vx_err_free(&err);
        } else {
            if (rc < 0)
                fail_msg("%s: %s", samples[i].file, err->msg);
            if ((long)f->n != samples[i].count)
                fail_msg("%s: %zu findings, expected %ld", samples[i].file, f->n, samples[i].count);
            assert_string_equal(vx_findings_format_name(f->format), samples[i].format);
            /* every finding has an id, a package and a normalised severity */
            for (size_t k = 0; k < f->n; k++) {
                const char *s = f->items[k].severity;
                assert_non_null(f->items[k].id);
                assert_true(f->items[k].name || f->items[k].purl);
                assert_true(!strcmp(s, "critical") || !strcmp(s, "high") || !strcmp(s, "medium") ||
                            !strcmp(s, "low") || !strcmp(s, "negligible") || !strcmp(s, "unknown"));
                assert_int_equal(f->items[k].pkg, -1);
            }
            char *js = vx_findings_json(f, NULL);
            assert_non_null(strstr(js, "\"findings\":["));
            free(js);
            vx_findings_free(f);
        }
        free(data);
    }
}

static struct vx_findings *sample(const char *file)
{
    size_t len;
    char *data = slurp(file, &len);
    struct vx_findings *f = NULL;
    struct vx_err *err = NULL;

    if (vx_findings_parse(data, len, &f, &err) < 0)
        fail_msg("%s: %s", file, err->msg);
    free(data);
    return f;
}

static void test_trivy_fields(void **state)
{
    (void)state;
    struct vx_findings *f;
    const struct vx_finding *x;

    if (!have_samples())
        skip();
    f = sample("trivy/trivy-golden-centos-7.json");
    assert_string_equal(f->format_version, "2");
    x = by_id(f, "CVE-2019-1559", NULL);
    assert_string_equal(x->name, "openssl-libs");
    assert_string_equal(x->version, "1:1.0.2k-16.el7");
    assert_string_equal(x->fixed_version, "1:1.0.2k-19.el7");
    assert_string_equal(x->type, "rpm");
    assert_string_equal(x->severity, "medium");
    assert_string_equal(x->status, "fixed");
    assert_string_equal(x->purl, "pkg:rpm/centos/openssl-libs@1.0.2k-16.el7?arch=x86_64&"
                                 "distro=centos-7.6.1810&epoch=1");
    assert_true(has(x->aliases, x->n_aliases, "RHSA-2019:2304"));
    vx_findings_free(f);

    /* every Status value survives */
    f = sample("trivy/defectdojo-trivy-all_statuses-debian10.json");
    static const char *const st[] = {"unknown",      "not_affected",        "affected",
                                     "fixed",        "under_investigation", "will_not_fix",
                                     "fix_deferred", "end_of_life"};
    for (size_t i = 0; i < VX_ARRAY_SIZE(st); i++) {
        bool found = false;
        for (size_t k = 0; k < f->n; k++)
            found |= f->items[k].status && !strcmp(f->items[k].status, st[i]);
        if (!found)
            fail_msg("status %s missing", st[i]);
    }
    assert_string_equal(f->items[0].type, "deb");
    assert_null(f->items[0].purl);
    vx_findings_free(f);

    f = sample("trivy/defectdojo-trivy-legacy-array-format.json");
    assert_string_equal(f->format_version, "legacy");
    x = by_id(f, f->items[0].id, "apt");
    assert_string_equal(x->version, "1.8.2.2");
    assert_string_equal(x->severity, "low");
    vx_findings_free(f);

    /* from a file; a missing file is not_found naming it */
    {
        struct vx_err *err = NULL;
        char *path = vx_xasprintf("%s/trivy/trivy-golden-npm.json", VX_SAMPLES_DIR);
        assert_int_equal(vx_findings_parse_file(path, &f, &err), 0);
        assert_int_equal(f->n, 1);
        vx_findings_free(f);
        assert_int_equal(vx_findings_parse_file("/nonexistent/x.json", &f, &err),
                         -VX_E_NOT_FOUND);
        assert_null(f);
        assert_non_null(strstr(err->msg, "'/nonexistent/x.json'"));
        vx_err_free(&err);
        free(path);
    }
    f = sample("trivy/trivy-golden-npm.json");
    assert_string_equal(f->items[0].type, "npm");
    assert_string_equal(f->items[0].purl, "pkg:npm/jquery@3.3.9");
    assert_string_equal(f->items[0].fixed_version, "3.4.0");
    vx_findings_free(f);
}

static void test_grype_fields(void **state)
{
    (void)state;
    struct vx_findings *f;
    size_t n_fixed = 0, n_python = 0;

    if (!have_samples())
        skip();
    f = sample("grype/defectdojo-grype-many_vulns3-debian10-old-schema.json");
    assert_string_equal(f->format_version, "0.7.0");
    for (size_t i = 0; i < f->n; i++) {
        n_fixed += f->items[i].fixed_version != NULL;
        n_python += f->items[i].type && !strcmp(f->items[i].type, "pypi");
    }
    assert_int_equal(n_fixed, 28); /* vulnerability.fixedInVersion present 28 times */
    assert_true(n_python > 0);
    const struct vx_finding *x = &f->items[0];
    assert_string_equal(x->id, "CVE-2019-18276");
    assert_string_equal(x->name, "bash");
    assert_string_equal(x->severity, "negligible");
    assert_int_equal(x->n_locations, 3);
    assert_string_equal(x->locations[0], "/var/lib/dpkg/status");
    vx_findings_free(f);

    f = sample("grype/grype-snapshot-TestJsonImgsPresenter.json");
    x = by_id(f, "CVE-1999-0001", NULL);
    assert_string_equal(x->fixed_version, "1.2.1, 2.1.3, 3.4.0");
    assert_string_equal(x->status, "fixed");
    assert_null(x->purl); /* "" in the report */
    assert_string_equal(x->type, "rpm");
    x = by_id(f, "CVE-1999-0002", NULL);
    assert_string_equal(x->severity, "critical");
    assert_string_equal(x->purl, "pkg:deb/package-2@2.2.2");
    vx_findings_free(f);

    f = sample("grype/defectdojo-grype-busybox-epss.json");
    assert_string_equal(f->items[0].type, "generic"); /* "binary", from its pkg:generic purl */
    assert_string_equal(f->items[0].locations[0], "/bin/[");
    vx_findings_free(f);
}

static void test_cyclonedx_fields(void **state)
{
    (void)state;
    struct vx_findings *f;
    const struct vx_finding *x;

    if (!have_samples())
        skip();
    f = sample("cyclonedx/secobserve-trivy-container.cdx.json");
    assert_string_equal(f->format_version, "1.4");
    x = by_id(f, "CVE-2023-28484", NULL);
    assert_string_equal(x->severity, "high"); /* the highest of medium, high */
    assert_string_equal(x->purl, "pkg:apk/alpine/icu-libs@72.1-r1?distro=3.17.3");
    assert_string_equal(x->name, "icu-libs");
    assert_string_equal(x->type, "apk");
    vx_findings_free(f);

    f = sample("cyclonedx/defectdojo-log4j-grype.cdx.json");
    x = by_id(f, "CVE-2021-44228", NULL);
    assert_string_equal(x->severity, "critical");
    assert_string_equal(x->name, "log4j-core");
    assert_string_equal(x->version, "2.13.2");
    assert_string_equal(x->status, "in_triage");
    vx_findings_free(f);
}

static void test_cyclonedx_nested_and_bom_link(void **state)
{
    (void)state;
    struct vx_findings *f =
        parse_ok("{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.6\","
                 "\"serialNumber\":\"urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79\","
                 "\"components\":[{\"bom-ref\":\"app\",\"name\":\"app\",\"components\":["
                 "{\"bom-ref\":\"inner\",\"name\":\"zlib\",\"version\":\"1.2.13\","
                 "\"purl\":\"pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1\"}]}],"
                 "\"vulnerabilities\":[{\"id\":\"CVE-1\",\"references\":[{\"id\":\"GHSA-x\"}],"
                 "\"ratings\":[{\"severity\":\"low\"},{\"severity\":\"critical\"}],"
                 "\"affects\":[{\"ref\":\"inner\"},"
                 "{\"ref\":\"urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#inner\"},"
                 "{\"ref\":\"urn:cdx:00000000-0000-0000-0000-000000000000/1#inner\"},"
                 "{\"ref\":\"pkg:npm/left-pad@1.0.0\"}]}]}");

    assert_int_equal(f->n, 3);
    assert_string_equal(f->items[0].name, "zlib");
    assert_string_equal(f->items[0].purl, "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1");
    assert_string_equal(f->items[0].severity, "critical");
    assert_true(has(f->items[0].aliases, f->items[0].n_aliases, "GHSA-x"));
    assert_string_equal(f->items[1].name, "zlib");
    assert_string_equal(f->items[2].name, "left-pad");
    assert_string_equal(f->items[2].version, "1.0.0");
    assert_int_equal(f->n_warnings, 1); /* the BOM-link to another document */
    assert_non_null(strstr(f->warnings[0], "vulnerabilities[0].affects[2].ref"));
    vx_findings_free(f);
}

static void test_osv_scanner(void **state)
{
    (void)state;
    struct vx_findings *f;
    const struct vx_finding *x;

    if (!have_samples())
        skip();
    f = sample("osv/osv-scanner-multiple-packages-with-vulns.json");
    /* one finding per group: GHSA + RUSTSEC records of the same problem */
    x = by_id(f, "GHSA-43w2-9j62-hq99", "smallvec");
    assert_string_equal(x->type, "cargo");
    assert_string_equal(x->version, "1.6.0");
    assert_string_equal(x->severity, "critical");
    assert_true(has(x->aliases, x->n_aliases, "RUSTSEC-2021-0003"));
    assert_true(has(x->aliases, x->n_aliases, "CVE-2021-25900"));
    assert_false(has(x->aliases, x->n_aliases, "GHSA-43w2-9j62-hq99"));
    assert_int_equal(x->n_symbols, 1);
    assert_string_equal(x->symbols[0], "smallvec::SmallVec::insert_many");
    assert_string_equal(x->fixed_version, "1.6.1"); /* not the 0.6 branch's 0.6.14 */
    x = by_id(f, "GHSA-wfg4-322g-9vqv", "memoffset");
    assert_string_equal(x->severity, "medium");
    assert_int_equal(x->n_symbols, 1);
    assert_string_equal(x->symbols[0], "memoffset::offset_of");
    x = by_id(f, "GHSA-qc84-gqf4-9926", "crossbeam-utils");
    assert_int_equal(x->n_symbols, 0);
    assert_string_equal(x->fixed_version, "0.8.7");
    assert_string_equal(f->artifact, "/path/to/Cargo.lock");
    vx_findings_free(f);
}

static void test_osv_symbols(void **state)
{
    (void)state;
    struct vx_findings *f;
    struct vx_err *err = NULL;
    size_t len, n = 0;
    char *rec;

    if (!have_samples())
        skip();
    f = parse_ok("{\"SchemaVersion\":2,\"Results\":[{\"Type\":\"gobinary\",\"Vulnerabilities\":["
                 "{\"VulnerabilityID\":\"CVE-2021-38561\",\"PkgName\":\"golang.org/x/text\","
                 "\"InstalledVersion\":\"v0.3.6\"},"
                 "{\"VulnerabilityID\":\"CVE-2099-1\",\"PkgName\":\"golang.org/x/text\","
                 "\"InstalledVersion\":\"v0.3.6\"}]}]}");
    rec = slurp("osv/govulndb-GO-2021-0113.json", &len);
    assert_int_equal(vx_findings_add_osv_symbols(f, rec, len, &n, &err), 0);
    free(rec);
    assert_int_equal(n, 1);
    assert_int_equal(f->items[0].n_symbols, 4);
    assert_true(has(f->items[0].symbols, 4, "golang.org/x/text/language.Parse"));
    assert_true(has(f->items[0].symbols, 4, "golang.org/x/text/language.MatchStrings"));
    assert_int_equal(f->items[1].n_symbols, 0);

    /* GO-2022-0463 names three modules: only the one of the finding contributes */
    vx_findings_free(f);
    f = parse_ok("{\"SchemaVersion\":2,\"Results\":[{\"Type\":\"gobinary\",\"Vulnerabilities\":["
                 "{\"VulnerabilityID\":\"GHSA-qx32-f6g6-fcfr\",\"PkgName\":"
                 "\"github.com/astaxie/beego\",\"InstalledVersion\":\"v1.12.3\"}]}]}");
    rec = slurp("osv/govulndb-GO-2022-0463.json", &len);
    assert_int_equal(vx_findings_add_osv_symbols(f, rec, len, &n, &err), 0);
    free(rec);
    assert_int_equal(n, 1);
    assert_int_equal(f->items[0].n_symbols, 11);
    assert_true(has(f->items[0].symbols, 11, "github.com/astaxie/beego.App.Run"));
    assert_int_equal(vx_findings_add_osv_symbols(f, "{\"x\":1}", 7, &n, &err), -VX_E_INVALID);
    vx_err_free(&err);
    vx_findings_free(f);
}

static void test_spdx_with_report(void **state)
{
    (void)state;
    struct vx_findings *f = NULL;
    struct vx_err *err = NULL;
    size_t len;
    char *spdx;
    /* a CycloneDX VEX about the SPDX document's packages, plus an OSV-scanner-like entry
       that names the package without a purl */
    const char *report =
        "{\"bomFormat\":\"CycloneDX\",\"specVersion\":\"1.5\",\"vulnerabilities\":["
        "{\"id\":\"CVE-2023-1\",\"affects\":[{\"ref\":"
        "\"SPDXRef-Package-apk-apk-tools-e5f757b0df1f62bc\"}]}]}";
    const char *report2 =
        "{\"SchemaVersion\":2,\"Results\":[{\"Type\":\"alpine\",\"Vulnerabilities\":["
        "{\"VulnerabilityID\":\"CVE-2023-2\",\"PkgName\":\"alpine-keys\","
        "\"InstalledVersion\":\"2.4-r1\"}]}]}";

    if (!have_samples())
        skip();
    spdx = slurp("spdx/kubevuln-alpine-syft.spdx.json", &len);
    assert_int_equal(vx_findings_parse_with_sbom(report, strlen(report), spdx, len, &f, &err), 0);
    assert_int_equal(f->format, VX_FINDINGS_SPDX);
    assert_string_equal(f->format_version, "SPDX-2.3+cyclonedx");
    assert_int_equal(f->n, 1);
    assert_string_equal(f->items[0].name, "apk-tools");
    assert_string_equal(f->items[0].purl,
                        "pkg:apk/alpine/apk-tools@2.12.10-r1?arch=x86_64&distro=alpine-3.17.2");
    vx_findings_free(f);
    assert_int_equal(vx_findings_parse_with_sbom(report2, strlen(report2), spdx, len, &f, &err), 0);
    assert_string_equal(f->items[0].purl,
                        "pkg:apk/alpine/alpine-keys@2.4-r1?arch=x86_64&distro=alpine-3.17.2");
    vx_findings_free(f);
    /* the report must be a report; the sbom an sbom */
    assert_true(vx_findings_parse_with_sbom(spdx, len, spdx, len, &f, &err) < 0);
    assert_non_null(strstr(err->msg, "spdx: an SPDX document lists packages"));
    vx_err_free(&err);
    assert_true(vx_findings_parse_with_sbom(report, strlen(report), report2, strlen(report2), &f,
                                            &err) < 0);
    assert_non_null(strstr(err->msg, "sbom: neither SPDX nor CycloneDX"));
    vx_err_free(&err);
    free(spdx);
}

/* ---- malformed input -------------------------------------------------------------------- */

static void test_malformed(void **state)
{
    (void)state;
    char *m;

    static const char deep_type[] =
        "{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[]},"
        "{\"Type\":\"debian\",\"Vulnerabilities\":[{\"VulnerabilityID\":\"a\","
        "\"PkgName\":\"b\"},{},{},{\"VulnerabilityID\":5}]}]}";
    m = parse_err(deep_type, strlen(deep_type));
    assert_string_equal(m, "trivy: Results[1].Vulnerabilities[3].VulnerabilityID: not a string");
    free(m);
#define ERR(json, want)                                                                            \
    do {                                                                                           \
        m = parse_err(json, strlen(json));                                                         \
        if (!strstr(m, want))                                                                      \
            fail_msg("'%s' lacks '%s'", m, want);                                                  \
        free(m);                                                                                   \
    } while (0)
    ERR("{\"SchemaVersion\":2,\"Results\":{}}", "trivy: Results: not an array");
    ERR("{\"SchemaVersion\":3,\"Results\":[]}", "trivy: SchemaVersion 3 is not supported");
    ERR("{\"SchemaVersion\":2,\"Results\":[{\"Vulnerabilities\":[{\"VulnerabilityID\":\"x\","
        "\"PkgIdentifier\":{\"PURL\":[]}}]}]}",
        "trivy: Results[0].Vulnerabilities[0].PkgIdentifier.PURL: not a string");
    ERR("[{\"Target\":\"x\",\"Vulnerabilities\":[1]}]",
        "trivy: [0].Vulnerabilities[0]: not an object");
    ERR("{\"matches\":[{\"vulnerability\":{\"id\":\"x\"},\"artifact\":{\"name\":\"n\","
        "\"locations\":\"x\"}}]}",
        "grype: matches[0].artifact.locations: not an array");
    ERR("{\"matches\":[{\"vulnerability\":{\"id\":\"x\",\"fix\":{\"versions\":[1]}},"
        "\"artifact\":{}}]}",
        "grype: matches[0].vulnerability.fix.versions[0]: not a string");
    ERR("{\"bomFormat\":\"CycloneDX\",\"vulnerabilities\":[{\"id\":\"x\",\"affects\":[{\"ref\":7}]}"
        "]}",
        "cyclonedx: vulnerabilities[0].affects[0].ref: not a string");
    ERR("{\"bomFormat\":\"CycloneDX\",\"components\":[{\"components\":[{\"purl\":{}}]}],"
        "\"vulnerabilities\":[]}",
        "cyclonedx: components[0].components[0].purl: not a string");
    ERR("{\"bomFormat\":\"CycloneDX\",\"vulnerabilities\":[{\"id\":\"x\"}]}",
        "cyclonedx: no vulnerability names an affected component");
    ERR("{\"results\":[{\"packages\":[{\"package\":{\"name\":1}}]}]}",
        "osv: results[0].packages[0].package.name: not a string");
    ERR("{\"bomFormat\":\"CycloneDX\",\"vulnerabilities\":[{\"id\":\"x\",\"affects\":"
        "[{\"ref\":\"elsewhere\"}]}]}",
        "cyclonedx: vulnerabilities[0].affects[0].ref: 'elsewhere' names no component of this "
        "document: a VEX about another BOM; give that BOM with --sbom");
    ERR("{\"foo\":1}", "not a report of a known format");
    ERR("42", "not a report of a known format");
    ERR("{\"SchemaVersion\":2,\"Results\":[", "report is not JSON");
    /* the reader (fjson.c) is as strict as jansson */
    ERR("{\"matches\":[],\"matches\":[]}", "duplicate object key");
    ERR("{\"matches\":[]} x", "trailing data after the value");
    ERR("{\"matches\":[\"\xc3\x28\"]}", "invalid UTF-8 in string");
    ERR("{\"matches\":[\"\xe0\x80\xaf\"]}", "invalid UTF-8 in string"); /* overlong */
    ERR("{\"matches\":[\"\xed\xa0\x80\"]}", "invalid UTF-8 in string"); /* surrogate */
    ERR("{\"matches\":[\"\\ud800x\"]}", "invalid surrogate pair");
    ERR("{\"matches\":[\"\\udc00\"]}", "invalid surrogate in");
    ERR("{\"matches\":[\"\\u0000\"]}", "\\u0000 in string");
    ERR("{\"matches\":[\"a\tb\"]}", "control character in string");
    ERR("{\"matches\":[01]}", "expected ',' or ']'");
    ERR("{\"matches\":[1.]}", "invalid number");
    ERR("{\"matches\":[tru]}", "invalid token");
    ERR("{\"matches\" []}", "expected ':'");
    ERR("{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,"
        "\"j\":1,\"k\":1,\"l\":1,\"m\":1,\"n\":1,\"o\":1,\"p\":1,\"q\":1,\"a\":2}",
        "duplicate object key");
    ERR("\n\n  {\"matches\": [}", "malformed json at line 3 column");

    /* truncated sample */
    if (have_samples()) {
        size_t len;
        char *d = slurp("trivy/trivy-golden-alpine-39.json", &len);
        for (size_t cut = 1; cut < len; cut += len / 7) {
            m = parse_err(d, cut);
            assert_non_null(strstr(m, "report is not JSON"));
            free(m);
        }
        free(d);
    }
    /* deep nesting: jansson's depth limit, an error, no crash */
    {
        size_t n = 200000;
        char *deep = vx_xmalloc(n + 1);
        memset(deep, '[', n);
        deep[n] = '\0';
        m = parse_err(deep, n);
        free(m);
        for (size_t i = 0; i < n / 2; i++)
            deep[i] = '{', deep[n / 2 + i] = '}';
        m = parse_err(deep, n);
        free(m);
        free(deep);
    }
#undef ERR
}

static void test_escapes(void **state)
{
    (void)state;
    struct vx_findings *f = parse_ok(
        "[{\"Target\":\"t\",\"Type\":\"npm\",\"Vulnerabilities\":[{\"VulnerabilityID\":"
        "\"CVE-\\u0031\\/x\",\"PkgName\":\"caf\\u00e9\\ud83d\\ude00\\\"q\\\\\","
        "\"InstalledVersion\":\"1.0\\n\",\"Severity\":\"Critical\",\"SeveritySource\":1.5e3,"
        "\"X\":[true,false,null,-0.5E-2,{}],\"PkgIdentifier\":null}]}]");

    assert_int_equal(f->n, 1);
    assert_string_equal(f->items[0].id, "CVE-1/x");
    assert_string_equal(f->items[0].name, "caf\xc3\xa9\xf0\x9f\x98\x80\"q\\");
    assert_string_equal(f->items[0].version, "1.0\n");
    assert_string_equal(f->items[0].severity, "critical");
    assert_null(f->items[0].purl);
    char *js = vx_findings_json(f, NULL);
    assert_non_null(strstr(js, "caf\xc3\xa9"));
    free(js);
    vx_findings_free(f);
}

static void test_huge_strings_and_skips(void **state)
{
    (void)state;
    size_t big = 10u << 20;
    struct vx_buf b = VX_BUF_INIT(64u << 20);
    char *s = vx_xmalloc(big + 1);
    struct vx_findings *f = NULL;
    struct vx_err *err = NULL;

    memset(s, 'a', big);
    s[big] = '\0';
    /* a 10 MB description is cut, a 10 MB package name skips its entry, missing ids too */
    vx_buf_addf(&b, "{\"SchemaVersion\":2,\"Results\":[{\"Type\":\"npm\",\"Vulnerabilities\":["
                    "{\"VulnerabilityID\":\"CVE-1\",\"PkgName\":\"p\",\"Description\":\"");
    vx_buf_adds(&b, s);
    vx_buf_adds(&b, "\"},{\"VulnerabilityID\":\"CVE-2\",\"PkgName\":\"");
    vx_buf_adds(&b, s);
    vx_buf_adds(&b, "\"},{\"PkgName\":\"q\"},{\"VulnerabilityID\":\"CVE-3\"},"
                    "{\"VulnerabilityID\":\"CVE-4\",\"PkgName\":\"r\",\"Severity\":\"WEIRD\"}]}]}");
    assert_int_equal(vx_findings_parse(b.data, b.len, &f, &err), 0);
    assert_int_equal(f->n, 2);
    assert_int_equal(strlen(f->items[0].description), 4096);
    assert_string_equal(f->items[1].id, "CVE-4");
    assert_string_equal(f->items[1].severity, "unknown");
    assert_int_equal(f->n_warnings, 3);
    assert_non_null(strstr(f->warnings[0], "Results[0].Vulnerabilities[1]: a field is over"));
    assert_non_null(strstr(f->warnings[1], "Results[0].Vulnerabilities[2]: no vulnerability id"));
    assert_non_null(strstr(f->warnings[2], "Results[0].Vulnerabilities[3]: no package name"));
    vx_findings_free(f);
    vx_buf_release(&b);
    free(s);
}

/* ---- binding ---------------------------------------------------------------------------- */

static struct vx_inventory *small_inventory(void)
{
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_err *err = NULL;
    struct vx_pkg *p;

    p = vx_inventory_add(inv, VX_PKG_DEB, "bash", "5.0-4", "amd64", "debian"); /* 0 */
    assert_int_equal(vx_pkg_add_file(inv, p, "/bin/bash", &err), 0);
    vx_inventory_add(inv, VX_PKG_DEB, "libpcre3", "2:8.39-12", "amd64", "debian"); /* 1 */
    vx_inventory_add(inv, VX_PKG_RPM, "openssl-libs", "1:1.0.2k-16.el7", "x86_64",
                     "centos");                                                /* 2 */
    vx_inventory_add(inv, VX_PKG_PYPI, "Flask_Login", "0.6.2", NULL, NULL);    /* 3 */
    vx_inventory_add(inv, VX_PKG_APK, "musl", "1.2.3-r0", "x86_64", "alpine"); /* 4 */
    vx_inventory_add(inv, VX_PKG_NPM, "core", "7.1.0", NULL, "@babel");        /* 5 */
    vx_inventory_add(inv, VX_PKG_DEB, "zsh", "5.8-6", "amd64", "debian");      /* 6 */
    vx_inventory_add(inv, VX_PKG_DEB, "zsh", "5.8-7", "i386", "debian");       /* 7 */
    vx_inventory_add(inv, VX_PKG_PYPI, "six", "1.16.0", NULL, NULL);           /* 8 */
    vx_inventory_add(inv, VX_PKG_DEB, "libc6", "2.36-9", "amd64", "debian");   /* 9 */
    vx_inventory_add(inv, VX_PKG_DEB, "libc6", "2.36-9", "i386", "debian");    /* 10 */
    return inv;
}

static void test_bind(void **state)
{
    (void)state;
    struct vx_inventory *inv = small_inventory();
    struct vx_findings *f, *g;
    struct vx_err *err = NULL;
    size_t n = 0;

    f = parse_ok(
        "{\"SchemaVersion\":2,\"Results\":["
        "{\"Type\":\"centos\",\"Vulnerabilities\":["
        /* 0: Trivy rpm: epoch in InstalledVersion, ?epoch= in the purl */
        "{\"VulnerabilityID\":\"CVE-0\",\"PkgName\":\"openssl-libs\",\"InstalledVersion\":"
        "\"1:1.0.2k-16.el7\",\"PkgIdentifier\":{\"PURL\":\"pkg:rpm/centos/openssl-libs@1.0.2k-"
        "16.el7?arch=x86_64&distro=centos-7.6.1810&epoch=1\"}},"
        /* 1: same without the epoch anywhere: not the installed package */
        "{\"VulnerabilityID\":\"CVE-1\",\"PkgName\":\"openssl-libs\",\"InstalledVersion\":"
        "\"1.0.2k-16.el7\"}]},"
        "{\"Type\":\"debian\",\"Vulnerabilities\":["
        /* 2: no purl: name+version+type */
        "{\"VulnerabilityID\":\"CVE-2\",\"PkgName\":\"bash\",\"InstalledVersion\":\"5.0-4\"},"
        /* 3: other version */
        "{\"VulnerabilityID\":\"CVE-3\",\"PkgName\":\"bash\",\"InstalledVersion\":\"5.0-3\"},"
        /* 4: absent */
        "{\"VulnerabilityID\":\"CVE-4\",\"PkgName\":\"zlib1g\",\"InstalledVersion\":\"1\"},"
        /* 5: two versions installed (multi-arch), reason names both */
        "{\"VulnerabilityID\":\"CVE-5\",\"PkgName\":\"zsh\",\"InstalledVersion\":\"5.8-5\"},"
        /* 6: explicit 0 epoch = none */
        "{\"VulnerabilityID\":\"CVE-6\",\"PkgName\":\"bash\",\"InstalledVersion\":\"0:5.0-4\"}]},"
        "{\"Type\":\"python-pkg\",\"Vulnerabilities\":["
        /* 7: PEP 503 names */
        "{\"VulnerabilityID\":\"CVE-7\",\"PkgName\":\"flask-login\",\"InstalledVersion\":"
        "\"0.6.2\"},"
        /* 8: same name+version, other type */
        "{\"VulnerabilityID\":\"CVE-8\",\"PkgName\":\"musl\",\"InstalledVersion\":\"1.2.3-r0\"}"
        "]}]}");
    assert_int_equal(vx_findings_bind(f, inv, &n, &err), 0);
    assert_int_equal(f->items[0].pkg, 2);
    assert_string_equal(f->items[0].bound_by, "purl");
    assert_int_equal(f->items[1].pkg, -1);
    assert_string_equal(f->items[1].unbound_reason,
                        "package 'openssl-libs' is there at version 1:1.0.2k-16.el7, the report "
                        "says 1.0.2k-16.el7");
    assert_int_equal(f->items[2].pkg, 0);
    assert_string_equal(f->items[2].bound_by, "name_version_type");
    assert_string_equal(f->items[3].unbound_reason,
                        "package 'bash' is there at version 5.0-4, the report says 5.0-3");
    assert_string_equal(f->items[4].unbound_reason, "no package 'zlib1g' in the inventory");
    assert_string_equal(f->items[5].unbound_reason,
                        "package 'zsh' is there at version 5.8-6, 5.8-7, the report says 5.8-5");
    assert_int_equal(f->items[6].pkg, 0);
    assert_int_equal(f->items[7].pkg, 3);
    assert_int_equal(f->items[8].pkg, -1);
    assert_string_equal(f->items[8].unbound_reason,
                        "package 'musl' 1.2.3-r0 is there as apk, the report says pypi");
    assert_int_equal(n, 4);

    /* Grype: epoch in the purl version, qualifiers differ, scoped npm, untyped binary */
    g = parse_ok(
        "{\"matches\":["
        "{\"vulnerability\":{\"id\":\"G0\"},\"artifact\":{\"name\":\"libpcre3\",\"version\":"
        "\"2:8.39-12\",\"type\":\"deb\",\"purl\":\"pkg:deb/debian/libpcre3@2:8.39-12?arch=i386\"}},"
        "{\"vulnerability\":{\"id\":\"G1\"},\"artifact\":{\"name\":\"libpcre3\",\"version\":"
        "\"8.39-12\",\"type\":\"deb\",\"purl\":\"pkg:deb/debian/libpcre3@8.39-12?epoch=2\"}},"
        "{\"vulnerability\":{\"id\":\"G2\"},\"artifact\":{\"name\":\"@babel/core\",\"version\":"
        "\"7.1.0\",\"type\":\"npm\",\"purl\":\"pkg:npm/%40babel/core@7.1.0\"}},"
        "{\"vulnerability\":{\"id\":\"G3\"},\"artifact\":{\"name\":\"musl\",\"version\":"
        "\"1.2.3-r0\",\"type\":\"binary\"}},"
        "{\"vulnerability\":{\"id\":\"G4\"},\"artifact\":{\"name\":\"Six\",\"version\":"
        "\"1.16.0\",\"type\":\"python\",\"purl\":\"pkg:pypi/Six@1.16.0#sub/path\"}},"
        "{\"vulnerability\":{\"id\":\"G5\"},\"artifact\":{\"name\":\"libpcre3\",\"version\":"
        "\"8.39-12\",\"type\":\"deb\",\"purl\":\"pkg:deb/ubuntu/libpcre3@8.39-12\"}},"
        "{\"vulnerability\":{\"id\":\"G6\"},\"artifact\":{\"name\":\"libc6\",\"version\":"
        "\"2.36-9\",\"type\":\"deb\",\"purl\":\"pkg:deb/debian/libc6@2.36-9?arch=i386\"}},"
        "{\"vulnerability\":{\"id\":\"G7\"},\"artifact\":{\"name\":\"libc6\",\"version\":"
        "\"2.36-9\",\"type\":\"deb\",\"purl\":\"pkg:deb/debian/libc6@2.36-9?arch=amd64\"}}"
        "]}");
    assert_int_equal(vx_findings_bind(g, inv, &n, &err), 0);
    assert_int_equal(g->items[0].pkg, 1);
    assert_string_equal(g->items[0].bound_by, "purl");
    assert_int_equal(g->items[1].pkg, 1);
    assert_string_equal(g->items[1].bound_by, "purl");
    assert_int_equal(g->items[2].pkg, 5);
    assert_string_equal(g->items[2].bound_by, "purl");
    assert_int_equal(g->items[3].pkg, 4);
    assert_string_equal(g->items[3].bound_by, "name_version");
    assert_int_equal(g->items[4].pkg, 8);
    assert_int_equal(g->items[5].pkg, -1);
    if (g->items[6].pkg != 10)
        fail_msg("G6: %ld %s", g->items[6].pkg, g->items[6].unbound_reason);
    assert_int_equal(g->items[7].pkg, 9);
    assert_int_equal(n, 7);

    /* json with binding info, and binding twice is the same */
    char *js = vx_findings_json(g, inv);
    assert_non_null(strstr(js, "\"by\":\"name_version\""));
    assert_non_null(strstr(js, "\"unbound_reason\":\"package 'libpcre3' is there at version "
                               "2:8.39-12, the report says 8.39-12\""));
    free(js);
    assert_int_equal(vx_findings_bind(g, inv, &n, &err), 0);
    assert_int_equal(n, 7);
    vx_findings_free(f);
    vx_findings_free(g);
    vx_inventory_free(inv);
}

/* ---- versions --------------------------------------------------------------------------- */

static void test_versions(void **state)
{
    (void)state;
    static const struct {
        const char *type, *a, *b;
        int want;
    } c[] = {
        {"deb", "1.0~rc1", "1.0", -1},
        {"deb", "1:1.0", "2.0", 1},
        {"deb", "1.0-1", "1.0-2", -1},
        {"deb", "1.0a", "1.0", 1},
        {"deb", "1.0+b1", "1.0", 1},
        {"deb", "2.30-1", "2.4-1", 1},
        {"deb", "0:1.0", "1.0", 0},
        {"deb", "1.0", "1.0-0", 0},
        {"deb", "1.0~~", "1.0~", -1},
        {"deb", "1.0~", "1.0", -1},
        {"deb", "3.0.11-1~deb12u2", "3.0.11-1", -1},
        {"deb", "1.2.13.dfsg-1", "1.2.13-1", 1},
        {"deb", "a", "+", -1},
        {"deb", "010", "10", 0},
        {"rpm", "1.0", "1.0.1", -1},
        {"rpm", "1.0~rc1", "1.0", -1},
        {"rpm", "1.0^post1", "1.0", 1},
        {"rpm", "1.0^post1", "1.0.1", -1},
        {"rpm", "2a", "2.0", -1},
        {"rpm", "1:1.0-1", "2.0-1", 1},
        {"rpm", "1.0-1.el7", "1.0-2.el7", -1},
        {"rpm", "1.0.2k-16.el7", "1.0.2k-19.el7", -1},
        {"rpm", "1.0", "1.0", 0},
        {"rpm", "1.0-1", "1.0", 0},
        {"rpm", "1.01", "1.1", 0},
        {"rpm", "a", "b", -1},
        {"apk", "1.2.3_rc1-r0", "1.2.3-r0", -1},
        {"apk", "1.2.3-r0", "1.2.3-r1", -1},
        {"apk", "1.2.3_p1-r0", "1.2.3-r0", 1},
        {"apk", "1.10", "1.9", 1},
        {"apk", "1.2a", "1.2", 1},
        {"apk", "1.2_alpha", "1.2_beta", -1},
        {"apk", "1.1.1b-r1", "1.1.1d-r0", -1},
        {"apk", "1.2.3", "1.2.3.1", -1},
        {"npm", "1.10.0", "1.9.0", 1},
        {"golang", "v1.2.3", "1.2.3", 0},
        {"npm", "1.0.0-rc.1", "1.0.0", -1},
        {"npm", "1.0.0-alpha", "1.0.0-alpha.1", -1},
        {"npm", "1.0.0-alpha.beta", "1.0.0-beta", -1},
        {"npm", "1.0.0-beta.2", "1.0.0-beta.11", -1},
        {"npm", "1.0.0+build", "1.0.0", 0},
        {NULL, "2.0", "10.0", -1},
        {"pypi", "1.0", "1.0.0", -1},
    };

    for (size_t i = 0; i < VX_ARRAY_SIZE(c); i++) {
        int r = vx_version_cmp(c[i].type, c[i].a, c[i].b);
        int back = vx_version_cmp(c[i].type, c[i].b, c[i].a);
        r = r < 0 ? -1 : r > 0;
        back = back < 0 ? -1 : back > 0;
        if (r != c[i].want || back != -c[i].want)
            fail_msg("%s: '%s' vs '%s' = %d (reverse %d), want %d", c[i].type ? c[i].type : "-",
                     c[i].a, c[i].b, r, back, c[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_sample),
        cmocka_unit_test(test_trivy_fields),
        cmocka_unit_test(test_grype_fields),
        cmocka_unit_test(test_cyclonedx_fields),
        cmocka_unit_test(test_cyclonedx_nested_and_bom_link),
        cmocka_unit_test(test_osv_scanner),
        cmocka_unit_test(test_osv_symbols),
        cmocka_unit_test(test_spdx_with_report),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_huge_strings_and_skips),
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
