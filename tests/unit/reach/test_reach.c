/* test_reach.c -- the verdict rules of DESIGN.md §10 on hand-built inventories, findings and
 * profiles: every rule, the fail-closed cases, grouping of aliases, and the statements'
 * subcomponents. A not_affected must be true: most cases here check that evidence which is
 * incomplete in some way never yields one. */
#include "common/setup.h"

#include <setjmp.h>
#include <cmocka.h>

#include "reach/reach.h"
#include "findings/findings.h"
#include "inventory/inventory.h"
#include "trace/trace.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"

#include <fcntl.h>
#include <unistd.h>

/* mkdir -p of the directory holding path. */
static int mkdirs_parent(const char *path)
{
    char *dir = vx_xstrdup(path);
    struct vx_err *err = NULL;
    int rc;

    *strrchr(dir, '/') = '\0';
    rc = vx_fs_mkdirs(dir, 0755, &err);
    vx_err_free(&err);
    free(dir);
    return rc;
}

/* ---- builders ---------------------------------------------------------------------------- */

struct world {
    char root[64]; /* a temp rootfs holding the packages' files (the index checks presence) */
    struct vx_inventory *inv;
    struct vx_findings f;
    struct vx_trace_profile prof;
    struct vx_run_facts facts;
    struct vx_reach_result *r;
};

static struct vx_pkg *pkg(struct world *w, enum vx_pkg_type t, const char *name,
                          const char *version, const char *const *files)
{
    struct vx_err *err = NULL;
    struct vx_pkg *p =
        vx_inventory_add(w->inv, t, name, version, "amd64", t == VX_PKG_DEB ? "debian" : NULL);

    for (; files && *files; files++) {
        char *path = vx_xasprintf("%s%s", w->root, *files);

        assert_int_equal(mkdirs_parent(path), 0);
        close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        free(path);
        assert_int_equal(vx_pkg_add_file(w->inv, p, *files, &err), 0);
    }
    return p;
}

static struct vx_finding *finding(struct world *w, const char *id, const char *type,
                                  const char *name, const char *version, long bound_pkg)
{
    struct vx_finding *f;

    w->f.items = vx_xgrow(w->f.items, sizeof(*w->f.items), w->f.n + 1, &w->f.cap);
    f = &w->f.items[w->f.n++];
    memset(f, 0, sizeof(*f));
    f->id = vx_xstrdup(id);
    f->type = vx_xstrdup(type);
    f->name = vx_xstrdup(name);
    f->version = vx_xstrdup(version);
    f->purl = vx_xasprintf("pkg:%s/%s%s@%s?arch=amd64", type, !strcmp(type, "deb") ? "debian/" : "",
                           name, version);
    f->severity = vx_xstrdup("high");
    f->pkg = bound_pkg;
    f->bound_by = bound_pkg >= 0 ? "purl" : NULL;
    return f;
}

static void add_alias(struct vx_finding *f, const char *alias)
{
    f->aliases = vx_xrealloc(f->aliases, (f->n_aliases + 1) * sizeof(char *));
    f->aliases[f->n_aliases++] = vx_xstrdup(alias);
}

static void add_symbol(struct vx_finding *f, const char *sym)
{
    f->symbols = vx_xrealloc(f->symbols, (f->n_symbols + 1) * sizeof(char *));
    f->symbols[f->n_symbols++] = vx_xstrdup(sym);
}

/* Adds a traced file; files must be added in path order (the profile is sorted). */
static void touched(struct world *w, const char *path, unsigned how)
{
    struct vx_trace_file *tf;

    w->prof.files =
        vx_xgrow(w->prof.files, sizeof(*w->prof.files), w->prof.n_files + 1, &w->prof.cap_files);
    tf = &w->prof.files[w->prof.n_files++];
    memset(tf, 0, sizeof(*tf));
    tf->path = vx_xstrdup(path);
    tf->how = how;
    tf->count = 1;
}

static void symbol(struct world *w, const char *path, const char *name, bool resolved,
                   bool attached, int64_t count)
{
    struct vx_trace_symbol *s;

    w->prof.symbols =
        vx_xrealloc(w->prof.symbols, (w->prof.n_symbols + 1) * sizeof(*w->prof.symbols));
    s = &w->prof.symbols[w->prof.n_symbols++];
    memset(s, 0, sizeof(*s));
    s->path = vx_xstrdup(path);
    s->symbol = vx_xstrdup(name);
    s->resolved = resolved;
    s->attached = attached;
    s->count = count;
}

static int setup(void **state)
{
    struct world *w = vx_xcalloc(1, sizeof(*w));

    snprintf(w->root, sizeof(w->root), "/tmp/vx-reach-XXXXXX");
    assert_non_null(mkdtemp(w->root));
    w->inv = vx_inventory_new();
    w->prof.complete = true;
    w->prof.backends = vx_xcalloc(1, sizeof(*w->prof.backends));
    w->prof.backends[0].name = vx_xstrdup("fanotify");
    w->prof.backends[0].ran = true;
    w->prof.n_backends = 1;
    /* a good run: up for the whole window, health check passed, traffic */
    w->facts = (struct vx_run_facts){.ran = true,
                                     .stayed_up = true,
                                     .exit_code = -1,
                                     .window_ms = 60000,
                                     .window_wanted_ms = 60000,
                                     .health_checked = true,
                                     .health_ok = true,
                                     .requests = 400,
                                     .endpoints = 6,
                                     .status_2xx = 300,
                                     .status_4xx = 100};
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;

    vx_reach_result_free(w->r);
    /* the findings were built by hand: free them through the module's own free */
    {
        struct vx_findings *f = vx_xcalloc(1, sizeof(*f));

        *f = w->f;
        vx_findings_free(f);
    }
    for (size_t i = 0; i < w->prof.n_files; i++)
        free(w->prof.files[i].path);
    free(w->prof.files);
    for (size_t i = 0; i < w->prof.n_symbols; i++) {
        free(w->prof.symbols[i].path);
        free(w->prof.symbols[i].symbol);
    }
    free(w->prof.symbols);
    free(w->prof.backends[0].name);
    free(w->prof.backends);
    vx_inventory_free(w->inv);
    assert_int_equal(vx_fs_remove_tree(w->root, NULL), 0);
    free(w);
    return 0;
}

static const struct vx_verdict *decide(struct world *w, size_t expect_n)
{
    struct vx_err *err = NULL;

    assert_int_equal(vx_inventory_index(w->inv, w->root, &err), 0);
    vx_reach_result_free(w->r);
    w->r = NULL;
    assert_int_equal(vx_reach_decide(w->inv, &w->f, &w->prof, &w->facts, NULL, &w->r, &err), 0);
    assert_int_equal(w->r->n, expect_n);
    return w->r->verdicts;
}

static const char *const ssl_files[] = {"/usr/lib/x86_64-linux-gnu/libssl.so.3",
                                        "/usr/share/doc/libssl3/copyright", NULL};
static const char *const curl_files[] = {"/usr/bin/curl", "/usr/share/man/man1/curl.1.gz", NULL};
static const char *const tz_files[] = {"/usr/share/zoneinfo/UTC", NULL};
static const char *const conf_files[] = {"/usr/bin/openssl", "/etc/ssl/openssl.cnf", NULL};

/* ---- the rules ----------------------------------------------------------------------------- */

static void test_mapped_library_is_affected(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    pkg(w, VX_PKG_DEB, "libssl3", "3.0.11-1~deb12u2", ssl_files);
    finding(w, "CVE-2024-0727", "deb", "libssl3", "3.0.11-1~deb12u2", 0);
    touched(w, "/usr/lib/x86_64-linux-gnu/libssl.so.3", VX_HOW_OPEN | VX_HOW_MMAP_EXEC);
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_AFFECTED);
    assert_true(v->confidence >= 0.9);
    assert_int_equal(v->n_touched, 1);
}

static void test_opened_shared_object_is_affected(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    /* fanotify sees ld.so's open of a library, not the mmap: still code that ran */
    pkg(w, VX_PKG_DEB, "libssl3", "3.0.11-1~deb12u2", ssl_files);
    finding(w, "CVE-2024-0727", "deb", "libssl3", "3.0.11-1~deb12u2", 0);
    touched(w, "/usr/lib/x86_64-linux-gnu/libssl.so.3", VX_HOW_OPEN);
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_AFFECTED);
}

static void test_untouched_package_is_not_affected(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    pkg(w, VX_PKG_DEB, "curl", "7.88.1-10+deb12u5", curl_files);
    finding(w, "CVE-2023-38545", "deb", "curl", "7.88.1-10+deb12u5", 0);
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_NOT_AFFECTED);
    assert_int_equal(v->justification, VX_JUST_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH);
    assert_true(v->confidence >= 0.7);
    assert_int_equal(v->n_files, 2);
}

static void test_lost_events_fail_closed(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    pkg(w, VX_PKG_DEB, "curl", "7.88.1-10+deb12u5", curl_files);
    finding(w, "CVE-2023-38545", "deb", "curl", "7.88.1-10+deb12u5", 0);
    w->prof.complete = false;
    w->prof.backends[0].lost = 3;
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_UNDER_INVESTIGATION);
    assert_non_null(strstr(v->reason, "lost 3"));
}

static void test_workload_exiting_at_once(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    pkg(w, VX_PKG_DEB, "curl", "7.88.1-10+deb12u5", curl_files);
    finding(w, "CVE-2023-38545", "deb", "curl", "7.88.1-10+deb12u5", 0);
    w->facts.stayed_up = false;
    w->facts.exit_code = 1;
    w->facts.window_ms = 40;
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_UNDER_INVESTIGATION);
}

static void test_no_profile(void **state)
{
    struct world *w = *state;
    struct vx_err *err = NULL;

    pkg(w, VX_PKG_DEB, "curl", "7.88.1-10+deb12u5", curl_files);
    finding(w, "CVE-2023-38545", "deb", "curl", "7.88.1-10+deb12u5", 0);
    assert_int_equal(vx_inventory_index(w->inv, w->root, &err), 0);
    assert_int_equal(vx_reach_decide(w->inv, &w->f, NULL, &w->facts, NULL, &w->r, &err), 0);
    assert_int_equal(w->r->verdicts[0].status, VX_VEX_UNDER_INVESTIGATION);
}

static void test_low_confidence_run(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    pkg(w, VX_PKG_DEB, "curl", "7.88.1-10+deb12u5", curl_files);
    finding(w, "CVE-2023-38545", "deb", "curl", "7.88.1-10+deb12u5", 0);
    /* up, but health check failed and observed for a fifth of the window */
    w->facts.health_ok = false;
    w->facts.window_ms = 12000;
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_UNDER_INVESTIGATION);
    assert_true(v->confidence < 0.7);
}

static void test_component_not_present(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    pkg(w, VX_PKG_DEB, "curl", "7.88.1-10+deb12u5", curl_files);
    finding(w, "CVE-2022-40303", "deb", "libxml2", "2.9.14+dfsg-1.3", -1);
    finding(w, "PYSEC-2023-1", "pypi", "requests", "2.28.1", -1);
    v = decide(w, 2);
    /* sorted by id: CVE first */
    assert_string_equal(v[0].vuln_id, "CVE-2022-40303");
    assert_int_equal(v[0].status, VX_VEX_NOT_AFFECTED);
    assert_int_equal(v[0].justification, VX_JUST_COMPONENT_NOT_PRESENT);
    /* a language package we did not find is not proof of absence */
    assert_int_equal(v[1].status, VX_VEX_UNDER_INVESTIGATION);
}

static void test_other_version_is_not_absence(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    pkg(w, VX_PKG_DEB, "curl", "7.88.1-10+deb12u5", curl_files);
    finding(w, "CVE-2023-38545", "deb", "curl", "7.88.1-10+deb12u4", -1);
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_UNDER_INVESTIGATION);
}

static void test_unmapped_package(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    pkg(w, VX_PKG_PYPI, "flask", "2.0.0", NULL);
    finding(w, "CVE-2023-30861", "pypi", "flask", "2.0.0", 0);
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_UNDER_INVESTIGATION);
    assert_non_null(strstr(v->reason, "owns no file"));
}

static void test_data_only_package_read(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    pkg(w, VX_PKG_DEB, "tzdata", "2024a-0+deb12u1", tz_files);
    finding(w, "CVE-2099-0001", "deb", "tzdata", "2024a-0+deb12u1", 0);
    touched(w, "/usr/share/zoneinfo/UTC", VX_HOW_OPEN);
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_AFFECTED);
}

static void test_code_package_whose_config_was_read(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;

    /* libssl reads /etc/ssl/openssl.cnf of package openssl; /usr/bin/openssl never ran */
    pkg(w, VX_PKG_DEB, "openssl", "3.0.11-1~deb12u2", conf_files);
    finding(w, "CVE-2024-0727", "deb", "openssl", "3.0.11-1~deb12u2", 0);
    touched(w, "/etc/ssl/openssl.cnf", VX_HOW_OPEN);
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_NOT_AFFECTED);
    assert_true(v->confidence < 0.95);
    assert_non_null(strstr(v->reason, "data file"));
}

static void test_function_level(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;
    const char *lib = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
    struct vx_finding *f;

    pkg(w, VX_PKG_DEB, "libssl3", "3.0.11-1~deb12u2", ssl_files);
    f = finding(w, "CVE-2024-0727", "deb", "libssl3", "3.0.11-1~deb12u2", 0);
    add_symbol(f, "PKCS12_parse");
    f = finding(w, "CVE-2024-0001", "deb", "libssl3", "3.0.11-1~deb12u2", 0);
    add_symbol(f, "SSL_read");
    f = finding(w, "CVE-2024-0002", "deb", "libssl3", "3.0.11-1~deb12u2", 0);
    add_symbol(f, "no_such_function");
    touched(w, lib, VX_HOW_OPEN | VX_HOW_MMAP_EXEC);
    symbol(w, lib, "PKCS12_parse", true, true, 0);
    symbol(w, lib, "SSL_read", true, true, 7);
    symbol(w, lib, "no_such_function", false, false, 0);
    v = decide(w, 3);
    assert_string_equal(v[0].vuln_id, "CVE-2024-0001");
    assert_int_equal(v[0].status, VX_VEX_AFFECTED);
    assert_int_equal(v[0].n_symbols_called, 1);
    assert_string_equal(v[1].vuln_id, "CVE-2024-0002");
    assert_int_equal(v[1].status, VX_VEX_NOT_AFFECTED);
    assert_int_equal(v[1].justification, VX_JUST_VULNERABLE_CODE_NOT_PRESENT);
    assert_string_equal(v[2].vuln_id, "CVE-2024-0727");
    assert_int_equal(v[2].status, VX_VEX_NOT_AFFECTED);
    assert_int_equal(v[2].justification, VX_JUST_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH);
}

static void test_function_level_needs_complete_profile(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;
    const char *lib = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
    struct vx_finding *f;

    pkg(w, VX_PKG_DEB, "libssl3", "3.0.11-1~deb12u2", ssl_files);
    f = finding(w, "CVE-2024-0727", "deb", "libssl3", "3.0.11-1~deb12u2", 0);
    add_symbol(f, "PKCS12_parse");
    touched(w, lib, VX_HOW_OPEN | VX_HOW_MMAP_EXEC);
    symbol(w, lib, "PKCS12_parse", true, true, 0);
    w->prof.complete = false;
    w->prof.backends[0].lost = 1;
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_AFFECTED); /* loaded, and absence of calls unproven */
}

static void test_go_binary_without_symbols(void **state)
{
    struct world *w = *state;
    static const char *const bin[] = {"/usr/local/bin/app", NULL};
    const struct vx_verdict *v;

    pkg(w, VX_PKG_GOLANG, "golang.org/x/text", "v0.3.7", bin);
    finding(w, "GO-2022-1059", "golang", "golang.org/x/text", "v0.3.7", 0);
    touched(w, "/usr/local/bin/app", VX_HOW_EXEC);
    v = decide(w, 1);
    assert_int_equal(v->status, VX_VEX_UNDER_INVESTIGATION);
}

static void test_aliases_make_one_verdict(void **state)
{
    struct world *w = *state;
    const struct vx_verdict *v;
    struct vx_finding *a, *b;

    pkg(w, VX_PKG_DEB, "curl", "7.88.1-10+deb12u5", curl_files);
    a = finding(w, "CVE-2023-38545", "deb", "curl", "7.88.1-10+deb12u5", 0);
    b = finding(w, "GHSA-wh7h-73v4-8qx5", "deb", "curl", "7.88.1-10+deb12u5", 0);
    add_alias(b, "CVE-2023-38545");
    (void)a;
    v = decide(w, 1);
    assert_int_equal(v->n_findings, 2);
}

static void test_statements(void **state)
{
    struct world *w = *state;
    struct vx_reach_statements st;
    struct vx_err *err = NULL;
    struct vx_finding *f;
    char *json;

    pkg(w, VX_PKG_DEB, "curl", "7.88.1-10+deb12u5", curl_files);
    f = finding(w, "CVE-2023-38545", "deb", "curl", "7.88.1-10+deb12u5", 0);
    add_alias(f, "GHSA-wh7h-73v4-8qx5");
    decide(w, 1);
    assert_int_equal(vx_reach_statements(w->r, w->inv, &w->f, "ev-1", &st, &err), 0);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.items[0].subcomponents[0], f->purl); /* verbatim first */
    assert_true(st.items[0].n_subcomponents >= 2);
    for (size_t i = 1; i < st.items[0].n_subcomponents; i++)
        assert_null(strchr(st.items[0].subcomponents[i], '?'));
    assert_int_equal(st.items[0].n_aliases, 1);
    assert_non_null(st.items[0].impact_statement);
    vx_reach_statements_free(&st);
    json = vx_reach_json(w->r, w->inv, &w->f);
    assert_non_null(strstr(json, "\"not_affected\":1"));
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mapped_library_is_affected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opened_shared_object_is_affected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untouched_package_is_not_affected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_events_fail_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workload_exiting_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_low_confidence_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_component_not_present, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_version_is_not_absence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmapped_package, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_only_package_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_code_package_whose_config_was_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_function_level_needs_complete_profile, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_go_binary_without_symbols, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aliases_make_one_verdict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statements, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
