/* test_profile_parse.c -- vx_trace_profile_parse, the inverse of vx_trace_profile_json.
 *
 * Round trips (json -> parse -> json byte-identical) on a profile from a real trace (the demo
 * image's nginx under `vexxy sandbox agent`, data/nginx-agent.profile.json) and on one built
 * here with every field at an edge (u64 dev/ino above INT64_MAX, end_ms -1, null errors and
 * exe, 32 argv, 8 pids, symbols, network, syscalls); files and syscalls come back sorted;
 * malformed documents are rejected with -VX_E_INVALID naming the JSON path, as are every
 * truncation and many byte flips of the real one (no crash, no leak under ASan).
 */
#include "common/setup.h"

#include <setjmp.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "trace/trace.h"

#ifndef VX_TEST_DATA
#error "VX_TEST_DATA (the data directory) must be defined"
#endif

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", VX_TEST_DATA, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = vx_xmalloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* json -> parse -> json must give the same bytes; returns the parsed profile. */
static struct vx_trace_profile *round_trip(const char *doc)
{
    struct vx_trace_profile *p = NULL;
    struct vx_err *err = NULL;
    char *again;
    int r = vx_trace_profile_parse(doc, strlen(doc), &p, &err);

    if (r != 0)
        fail_msg("parse failed: %s", err ? err->msg : "?");
    again = vx_trace_profile_json(p);
    assert_string_equal(again, doc);
    free(again);
    return p;
}

static void test_real_trace(void **state)
{
    size_t len;
    char *doc = slurp("nginx-agent.profile.json", &len);
    struct vx_trace_profile *p;

    (void)state;
    p = round_trip(doc);
    assert_true(p->complete);
    assert_true(p->n_files > 10);
    assert_non_null(vx_trace_profile_file(p, "/usr/sbin/nginx"));
    assert_true(vx_trace_profile_file(p, "/usr/sbin/nginx")->how & VX_HOW_EXEC);
    assert_non_null(vx_trace_profile_file(p, "/usr/lib/x86_64-linux-gnu/libc.so.6"));
    assert_true(p->n_backends >= 1);
    vx_trace_profile_free(p);
    free(doc);
}

/* A profile with every field used, some at their edges. */
static struct vx_trace_profile *edge_profile(void)
{
    struct vx_trace_profile *p = vx_xcalloc(1, sizeof(*p));

    p->start_ms = 1700000000000;
    p->end_ms = 1700000004321;
    p->complete = false;
    p->n_backends = 2;
    p->backends = vx_xcalloc(2, sizeof(*p->backends));
    p->backends[0] = (struct vx_trace_backend_stat){vx_xstrdup("fanotify"), true, 12, 3, NULL};
    p->backends[1] =
        (struct vx_trace_backend_stat){vx_xstrdup("ebpf"), false, 0, 0, vx_xstrdup("no BTF")};
    p->n_files = p->cap_files = 2;
    p->files = vx_xcalloc(2, sizeof(*p->files));
    p->files[0].path = vx_xstrdup("/a/\xc3\xa9t\xc3\xa9 \"quoted\"");
    p->files[0].dev = UINT64_MAX;
    p->files[0].ino = 0x8000000000000001ull;
    p->files[0].how = VX_HOW_OPEN | VX_HOW_EXEC | VX_HOW_MMAP_EXEC | VX_HOW_INTERP | VX_HOW_NEEDED;
    p->files[0].backends = 3;
    p->files[0].first_ms = -5;
    p->files[0].count = INT64_MAX;
    p->files[0].n_pids = 8;
    for (size_t i = 0; i < 8; i++)
        p->files[0].pids[i] = (pid_t)(100 + i);
    p->files[1].path = vx_xstrdup("/b");
    p->files[1].backends = 2;
    p->n_procs = p->cap_procs = 2;
    p->procs = vx_xcalloc(2, sizeof(*p->procs));
    p->procs[0] = (struct vx_trace_proc){.pid = 7,
                                         .ppid = 1,
                                         .exe = vx_xstrdup("/usr/bin/x"),
                                         .start_ms = 1,
                                         .end_ms = -1,
                                         .exit_code = -1};
    p->procs[0].argc = 32;
    p->procs[0].argv = vx_xcalloc(32, sizeof(char *));
    for (size_t i = 0; i < 32; i++)
        p->procs[0].argv[i] = vx_xasprintf("arg%zu", i);
    p->procs[1] = (struct vx_trace_proc){
        .pid = 8, .ppid = 7, .exe = NULL, .start_ms = 2, .end_ms = 9, .exit_code = 137};
    p->n_net = p->cap_net = 1;
    p->net = vx_xcalloc(1, sizeof(*p->net));
    p->net[0] = (struct vx_trace_net){vx_xstrdup("listen"), vx_xstrdup("::1"), 65535, 2};
    p->n_syscalls = 2;
    p->syscalls = vx_xcalloc(2, sizeof(char *));
    p->syscalls[0] = vx_xstrdup("openat");
    p->syscalls[1] = vx_xstrdup("read");
    p->n_symbols = 2;
    p->symbols = vx_xcalloc(2, sizeof(*p->symbols));
    p->symbols[0] = (struct vx_trace_symbol){vx_xstrdup("/lib/libz.so.1"),
                                             vx_xstrdup("inflate"),
                                             0xffffffffffffff00ull,
                                             true,
                                             true,
                                             1,
                                             NULL};
    p->symbols[1] = (struct vx_trace_symbol){
        vx_xstrdup("/bin/app"), vx_xstrdup("main.Never"), 0, false, false, 0,
        vx_xstrdup("not found")};
    return p;
}

static void test_edges(void **state)
{
    struct vx_trace_profile *src = edge_profile(), *p;
    char *doc = vx_trace_profile_json(src);

    (void)state;
    p = round_trip(doc);
    assert_int_equal(p->files[0].dev, UINT64_MAX);
    assert_int_equal(p->files[0].ino, 0x8000000000000001ull);
    assert_int_equal(p->files[0].backends, 3);
    assert_int_equal(p->files[1].backends, 2);
    assert_int_equal(p->files[0].n_pids, 8);
    assert_int_equal(p->procs[0].end_ms, -1);
    assert_int_equal(p->procs[0].argc, 32);
    assert_null(p->procs[1].exe);
    assert_int_equal(p->symbols[0].offset, 0xffffffffffffff00ull);
    assert_string_equal(p->symbols[1].error, "not found");
    assert_null(p->backends[0].error);
    assert_int_equal(p->end_ms - p->start_ms, 4321);
    vx_trace_profile_free(p);
    vx_trace_profile_free(src);
    free(doc);
}

static void test_sorts(void **state)
{
    static const char doc[] =
        "{\"backends\":[{\"error\":null,\"events\":1,\"lost\":0,\"name\":\"fanotify\","
        "\"ran\":true}],\"complete\":true,\"files\":["
        "{\"backends\":[],\"count\":1,\"dev\":1,\"first_ms\":0,\"how\":[\"open\"],\"ino\":2,"
        "\"path\":\"/z\",\"pids\":[]},"
        "{\"backends\":[\"fanotify\"],\"count\":1,\"dev\":1,\"first_ms\":0,\"how\":[],\"ino\":3,"
        "\"path\":\"/a\",\"pids\":[1]}],"
        "\"network\":[],\"processes\":[],\"symbols\":[],\"syscalls\":[\"write\",\"read\"],"
        "\"window\":{\"duration_ms\":1,\"end_ms\":2,\"start_ms\":1},\"future\":{\"x\":1}}";
    struct vx_trace_profile *p = NULL;
    struct vx_err *err = NULL;

    (void)state;
    assert_int_equal(vx_trace_profile_parse(doc, strlen(doc), &p, &err), 0);
    assert_string_equal(p->files[0].path, "/a");
    assert_int_equal(p->files[0].backends, 1);
    assert_string_equal(p->files[1].path, "/z");
    assert_string_equal(p->syscalls[0], "read");
    assert_non_null(vx_trace_profile_file(p, "/z"));
    vx_trace_profile_free(p);
}

/* Replaces the first occurrence of from by to in doc; caller frees. */
static char *edit(const char *doc, const char *from, const char *to)
{
    const char *at = strstr(doc, from);

    if (!at)
        fail_msg("'%s' not in the document", from);
    return vx_xasprintf("%.*s%s%s", (int)(at - doc), doc, to, at + strlen(from));
}

static void expect_invalid(const char *doc, const char *where)
{
    struct vx_trace_profile *p = (void *)1;
    struct vx_err *err = NULL;
    int r = vx_trace_profile_parse(doc, strlen(doc), &p, &err);

    if (r == 0)
        fail_msg("accepted (wanted an error at '%s'): %.200s", where, doc);
    assert_int_equal(r, -VX_E_INVALID);
    assert_null(p);
    assert_non_null(err);
    if (!strstr(err->msg, where))
        fail_msg("error '%s' does not name '%s'", err->msg, where);
    vx_err_free(&err);
}

static void test_malformed(void **state)
{
    struct vx_trace_profile *src = edge_profile();
    char *doc = vx_trace_profile_json(src), *bad;
    char argv33[1024];
    static const struct {
        const char *from, *to, *where;
    } cases[] = {
        {"\"complete\":false", "\"complete\":0", "complete: not a boolean"},
        {"\"complete\":false,", "", "complete: missing"},
        {"\"how\":[\"open\",", "\"how\":[\"opened\",", "files[0].how[0]"},
        {"\"how\":[\"open\",", "\"how\":[7,", "files[0].how[0]"},
        {"\"backends\":[\"fanotify\",\"ebpf\"]", "\"backends\":[\"fanotify\",\"uprobe\"]",
         "files[0].backends"},
        {"\"pids\":[100,", "\"pids\":[99,100,", "files[0].pids: too many"},
        {"\"pids\":[100,", "\"pids\":[4294967296,", "files[0].pids"},
        /* jansson itself refuses \\u0000 (the parser checks again) */
        {"\"path\":\"/b\"", "\"path\":\"/b\\u0000c\"", "u0000 is not allowed"},
        {"\"path\":\"/b\"", "\"path\":null", "files[1].path: not a string"},
        {"\"port\":65535", "\"port\":65536", "network[0].port: out of range"},
        {"\"kind\":\"listen\"", "\"kind\":[]", "network[0].kind"},
        {"\"exit_code\":137", "\"exit_code\":\"x\"", "processes[1].exit_code"},
        {"\"end_ms\":9", "\"end_ms\":-2", "processes[1].end_ms"},
        {"\"exe\":null", "\"exe\":1", "processes[1].exe"},
        {"\"ppid\":7", "\"ppid\":7.5", "processes[1].ppid: not an integer"},
        {"\"resolved\":false", "\"resolved\":null", "symbols[1].resolved"},
        {"\"error\":\"not found\"", "\"error\":false", "symbols[1].error"},
        {"\"syscalls\":[\"openat\"", "\"syscalls\":[{}", "syscalls[0]"},
        {"\"duration_ms\":4321", "\"duration_ms\":\"4321\"", "window.duration_ms: not an"},
        {"\"window\":{\"duration_ms\":4321,", "\"window\":{", "window.duration_ms: missing"},
        {"\"events\":0", "\"events\":true", "backends[1].events: not an integer"},
        {"\"files\":[{", "\"files\":[1,{", "files[0]: not an object"},
        {"\"processes\":[", "\"processes\":{},\"x\":[", "processes: not an array"},
        {"\"symbols\":[", "\"symbols\":5,\"y\":[", "symbols: not an array"},
    };

    (void)state;
    for (size_t i = 0; i < VX_ARRAY_SIZE(cases); i++) {
        bad = edit(doc, cases[i].from, cases[i].to);
        expect_invalid(bad, cases[i].where);
        free(bad);
    }
    /* 33 argv entries */
    snprintf(argv33, sizeof(argv33), "\"argv\":[\"arg-extra\",\"arg0\",");
    bad = edit(doc, "\"argv\":[\"arg0\",", argv33);
    expect_invalid(bad, "processes[0].argv: too many");
    free(bad);
    /* a 257-byte argument */
    {
        char *longarg = vx_xmalloc(300), *to;

        memset(longarg, 'a', 257);
        longarg[257] = '\0';
        to = vx_xasprintf("\"argv\":[\"%s\",", longarg);
        bad = edit(doc, "\"argv\":[\"arg0\",", to);
        expect_invalid(bad, "processes[0].argv[0]: too long");
        free(bad);
        free(to);
        free(longarg);
    }
    expect_invalid("", "profile");
    expect_invalid("[]", "not a JSON object");
    expect_invalid("{}", "complete: missing");
    expect_invalid("null", "not a JSON object");
    expect_invalid("{\"complete\":true,\"window\":[]}", "window: not an object");
    vx_trace_profile_free(src);
    free(doc);
}

static void test_too_large(void **state)
{
    struct vx_trace_profile *p = NULL;
    struct vx_err *err = NULL;

    (void)state;
    assert_int_equal(vx_trace_profile_parse("{}", (size_t)65 << 20, &p, &err), -VX_E_TOO_LARGE);
    assert_null(p);
    vx_err_free(&err);
}

/* Every truncation and a sweep of byte flips of the real profile: an error or a profile whose
 * JSON parses again to itself, never a crash. */
static void test_mangled(void **state)
{
    size_t len;
    char *doc = slurp("nginx-agent.profile.json", &len);
    char *copy = vx_xmalloc(len + 1);
    static const char flips[] = {'"', '{', '}', '[', ']', ',', ':', '0', '-', 'x', '\\', '\0'};

    (void)state;
    for (size_t n = 0; n < len; n++) {
        struct vx_trace_profile *p = NULL;
        struct vx_err *err = NULL;

        assert_int_not_equal(vx_trace_profile_parse(doc, n, &p, &err), 0);
        assert_null(p);
        vx_err_free(&err);
    }
    for (size_t i = 0; i < len; i += 7) {
        for (size_t k = 0; k < sizeof(flips); k++) {
            struct vx_trace_profile *p = NULL, *q = NULL;
            struct vx_err *err = NULL;

            memcpy(copy, doc, len + 1);
            copy[i] = flips[k];
            if (vx_trace_profile_parse(copy, len, &p, &err) == 0) {
                char *a = vx_trace_profile_json(p), *b;

                assert_int_equal(vx_trace_profile_parse(a, strlen(a), &q, &err), 0);
                b = vx_trace_profile_json(q);
                assert_string_equal(a, b);
                free(a);
                free(b);
                vx_trace_profile_free(q);
            }
            vx_trace_profile_free(p);
            vx_err_free(&err);
        }
    }
    free(copy);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_trace), cmocka_unit_test(test_edges),
        cmocka_unit_test(test_sorts),      cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_too_large),  cmocka_unit_test(test_mangled),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
