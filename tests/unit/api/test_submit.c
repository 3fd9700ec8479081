/* test_submit.c -- vx_api_parse_submit(): every validation rule names its field, defaults
 * are filled in, the config is canonical, the cache key is stable under key reordering, and
 * a corpus of malformed bodies is refused without a crash.
 */
#include "common/setup.h"

#include <dirent.h>
#include <setjmp.h>
#include <cmocka.h>

#include "api/api_int.h"
#include "common/alloc.h"
#include "common/err.h"

#define DIG  "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIG2 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define BASE "\"image_ref\":\"nginx:latest\",\"image_digest\":\"" DIG "\""

static int parse(const char *body, size_t len, struct vx_submit_req *out, struct vx_err **err)
{
    return vx_api_parse_submit(body, len, out, err);
}

/* Parses a body that must fail with code and name field (NULL = no field). */
static void expect_fail(const char *body, enum vx_code code, const char *field)
{
    struct vx_submit_req r;
    struct vx_err *err = NULL;
    int rc = parse(body, strlen(body), &r, &err);

    if (rc != -(int)code || !err || (field && (!err->field || strcmp(err->field, field) != 0)) ||
        (!field && err->field))
        print_error("body: %.200s\n  rc %d, field '%s', msg '%s' (want field '%s')\n", body, rc,
                    err && err->field ? err->field : "(none)", err ? err->msg : "(none)",
                    field ? field : "(none)");
    assert_int_equal(rc, -(int)code);
    assert_non_null(err);
    if (field) {
        assert_non_null(err->field);
        assert_string_equal(err->field, field);
    } else {
        assert_null(err->field);
    }
    assert_null(r.image_ref);
    assert_null(r.config_json);
    vx_err_free(&err);
}

static void expect_ok(const char *body, struct vx_submit_req *out)
{
    struct vx_err *err = NULL;
    int rc = parse(body, strlen(body), out, &err);

    if (rc != 0)
        print_error("body: %.200s\n  rc %d, field '%s', msg '%s'\n", body, rc,
                    err && err->field ? err->field : "(none)", err ? err->msg : "(none)");
    assert_int_equal(rc, 0);
    assert_null(err);
}

static void test_seed_example(void **state)
{
    struct vx_submit_req r;

    expect_ok("{" BASE "}", &r);
    assert_string_equal(r.image_ref, "nginx:latest");
    assert_string_equal(r.image_digest, DIG);
    assert_null(r.sbom_id);
    assert_string_equal(r.profile, "standard");
    assert_int_equal(r.priority, 0);
    assert_false(r.force);
    assert_null(r.callback_url);
    assert_null(r.findings_json);
    assert_null(r.findings_url);
    assert_int_equal(r.test_timeout, 300);
    assert_string_equal(r.config_json,
                        "{\"analysis_duration\":120,\"command\":[],\"enable_fuzzing\":true,"
                        "\"enable_profiling\":true,\"environment\":{},\"health_check_path\":null,"
                        "\"health_check_timeout\":60,\"ports\":[],\"test_script\":null,"
                        "\"test_timeout\":300}");
    assert_int_equal(strlen(r.cache_key), 64);
    vx_submit_req_release(&r);
}

static void test_full_body(void **state)
{
    struct vx_submit_req r;
    const char *body =
        "{" BASE
        ",\"sbom_id\":\"0E9D3A2C-1B4F-4C6D-8E7F-9A0B1C2D3E4F\",\"profile\":\"comprehensive\","
        "\"priority\":-10,\"force\":true,\"callback_url\":\"https://hooks.example.com/x?y=1\","
        "\"findings\":{\"SchemaVersion\":2,\"Results\":[]},"
        "\"config\":{\"test_script\":\"#!/bin/sh\\ncurl $TARGET_HOST\\n\",\"test_timeout\":60,"
        "\"enable_fuzzing\":false,\"enable_profiling\":false,\"ports\":[8080,80],"
        "\"environment\":{\"_A1\":\"x\",\"B\":\"\"},\"command\":[\"nginx\",\"-g\",\"daemon off;\"],"
        "\"health_check_path\":\"/healthz?x=1\",\"health_check_timeout\":60}}";

    expect_ok(body, &r);
    assert_string_equal(r.sbom_id, "0e9d3a2c-1b4f-4c6d-8e7f-9a0b1c2d3e4f");
    assert_string_equal(r.profile, "comprehensive");
    assert_int_equal(r.priority, -10);
    assert_true(r.force);
    assert_string_equal(r.callback_url, "https://hooks.example.com/x?y=1");
    assert_string_equal(r.findings_json, "{\"Results\":[],\"SchemaVersion\":2}");
    assert_int_equal(r.test_timeout, 60);
    /* analysis_duration defaults to min(120, test_timeout); ports keep the client's order */
    assert_string_equal(r.config_json,
                        "{\"analysis_duration\":60,\"command\":[\"nginx\",\"-g\",\"daemon off;\"],"
                        "\"enable_fuzzing\":false,\"enable_profiling\":false,"
                        "\"environment\":{\"B\":\"\",\"_A1\":\"x\"},"
                        "\"health_check_path\":\"/healthz?x=1\",\"health_check_timeout\":60,"
                        "\"ports\":[8080,80],\"test_script\":\"#!/bin/sh\\ncurl $TARGET_HOST\\n\","
                        "\"test_timeout\":60}");
    vx_submit_req_release(&r);
}

static void test_nulls_and_alternatives(void **state)
{
    struct vx_submit_req r;

    expect_ok("{" BASE ",\"sbom_id\":null,\"callback_url\":null,\"findings\":null,"
              "\"findings_url\":null,\"config\":{\"test_script\":null,\"health_check_path\":null}}",
              &r);
    assert_null(r.sbom_id);
    assert_null(r.findings_json);
    vx_submit_req_release(&r);

    /* Trivy's legacy report is a top-level array */
    expect_ok("{" BASE ",\"findings\":[{\"Target\":\"x\",\"Vulnerabilities\":null}]}", &r);
    assert_string_equal(r.findings_json, "[{\"Target\":\"x\",\"Vulnerabilities\":null}]");
    vx_submit_req_release(&r);

    expect_ok("{" BASE ",\"findings_url\":\"http://scanner.local/report.json\"}", &r);
    assert_string_equal(r.findings_url, "http://scanner.local/report.json");
    assert_null(r.findings_json);
    vx_submit_req_release(&r);

    for (int i = 0; i < 4; i++) {
        static const char *const p[] = {"minimal", "standard", "comprehensive", "custom"};
        char *b = vx_xasprintf("{" BASE ",\"profile\":\"%s\"}", p[i]);

        expect_ok(b, &r);
        assert_string_equal(r.profile, p[i]);
        vx_submit_req_release(&r);
        free(b);
    }
    expect_ok("{" BASE ",\"priority\":10,\"config\":{\"test_timeout\":900,"
              "\"analysis_duration\":900,\"health_check_timeout\":900,\"ports\":[1,65535]}}",
              &r);
    assert_int_equal(r.priority, 10);
    assert_int_equal(r.test_timeout, 900);
    vx_submit_req_release(&r);
}

static void test_top_level_rules(void **state)
{
    char *long_ref = vx_xmalloc(600), *b;

    expect_fail("{}", VX_E_INVALID, "image_ref");
    expect_fail("{\"image_digest\":\"" DIG "\"}", VX_E_INVALID, "image_ref");
    expect_fail("{\"image_ref\":\"nginx\"}", VX_E_INVALID, "image_digest");
    expect_fail("{\"image_ref\":123,\"image_digest\":\"" DIG "\"}", VX_E_INVALID, "image_ref");
    expect_fail("{\"image_ref\":null,\"image_digest\":\"" DIG "\"}", VX_E_INVALID, "image_ref");
    expect_fail("{\"image_ref\":\"\",\"image_digest\":\"" DIG "\"}", VX_E_INVALID, "image_ref");
    expect_fail("{\"image_ref\":\"a b\",\"image_digest\":\"" DIG "\"}", VX_E_INVALID, "image_ref");
    expect_fail("{\"image_ref\":\"a\\tb\",\"image_digest\":\"" DIG "\"}", VX_E_INVALID,
                "image_ref");
    expect_fail("{\"image_ref\":\"a\\u007fb\",\"image_digest\":\"" DIG "\"}", VX_E_INVALID,
                "image_ref");
    memset(long_ref, 'a', 513);
    long_ref[513] = '\0';
    b = vx_xasprintf("{\"image_ref\":\"%s\",\"image_digest\":\"" DIG "\"}", long_ref);
    expect_fail(b, VX_E_INVALID, "image_ref");
    free(b);
    long_ref[512] = '\0'; /* exactly 512 is fine */
    b = vx_xasprintf("{\"image_ref\":\"%s\",\"image_digest\":\"" DIG "\"}", long_ref);
    {
        struct vx_submit_req r;

        expect_ok(b, &r);
        vx_submit_req_release(&r);
    }
    free(b);
    free(long_ref);

    expect_fail("{\"image_ref\":\"x\",\"image_digest\":\"sha256:ABC\"}", VX_E_INVALID,
                "image_digest");
    expect_fail("{\"image_ref\":\"x\",\"image_digest\":"
                "\"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}",
                VX_E_INVALID, "image_digest");
    expect_fail("{\"image_ref\":\"x\",\"image_digest\":"
                "\"sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
                VX_E_INVALID, "image_digest");
    expect_fail("{\"image_ref\":\"x\",\"image_digest\":7}", VX_E_INVALID, "image_digest");
    expect_fail("{" BASE ",\"sbom_id\":\"not-a-uuid\"}", VX_E_INVALID, "sbom_id");
    expect_fail("{" BASE ",\"sbom_id\":42}", VX_E_INVALID, "sbom_id");
    expect_fail("{" BASE ",\"profile\":\"fast\"}", VX_E_INVALID, "profile");
    expect_fail("{" BASE ",\"profile\":null}", VX_E_INVALID, "profile");
    expect_fail("{" BASE ",\"priority\":11}", VX_E_INVALID, "priority");
    expect_fail("{" BASE ",\"priority\":-11}", VX_E_INVALID, "priority");
    expect_fail("{" BASE ",\"priority\":3.5}", VX_E_INVALID, "priority");
    expect_fail("{" BASE ",\"priority\":1.0}", VX_E_INVALID, "priority");
    expect_fail("{" BASE ",\"priority\":\"1\"}", VX_E_INVALID, "priority");
    expect_fail("{" BASE ",\"priority\":true}", VX_E_INVALID, "priority");
    expect_fail("{" BASE ",\"force\":\"yes\"}", VX_E_INVALID, "force");
    expect_fail("{" BASE ",\"force\":1}", VX_E_INVALID, "force");
    expect_fail("{" BASE ",\"callback_url\":\"ftp://x/y\"}", VX_E_INVALID, "callback_url");
    expect_fail("{" BASE ",\"callback_url\":\"http://\"}", VX_E_INVALID, "callback_url");
    expect_fail("{" BASE ",\"callback_url\":\"https://a b\"}", VX_E_INVALID, "callback_url");
    expect_fail("{" BASE ",\"callback_url\":\"javascript:alert(1)\"}", VX_E_INVALID,
                "callback_url");
    expect_fail("{" BASE ",\"callback_url\":[]}", VX_E_INVALID, "callback_url");
    {
        char *url = vx_xmalloc(2100);

        memcpy(url, "https://h/", 10);
        memset(url + 10, 'a', 2039);
        url[2049] = '\0';
        b = vx_xasprintf("{" BASE ",\"callback_url\":\"%s\"}", url);
        expect_fail(b, VX_E_INVALID, "callback_url");
        free(b);
        free(url);
    }
    expect_fail("{" BASE ",\"findings\":\"report\"}", VX_E_INVALID, "findings");
    expect_fail("{" BASE ",\"findings\":5}", VX_E_INVALID, "findings");
    expect_fail("{" BASE ",\"findings\":{},\"findings_url\":\"http://h/r\"}", VX_E_INVALID,
                "findings_url");
    expect_fail("{" BASE ",\"findings_url\":\"file:///etc/passwd\"}", VX_E_INVALID, "findings_url");
    expect_fail("{" BASE ",\"findings_url\":{}}", VX_E_INVALID, "findings_url");
    expect_fail("{" BASE ",\"foo\":1}", VX_E_INVALID, "foo");
    expect_fail("{" BASE ",\"Image_Ref\":\"x\"}", VX_E_INVALID, "Image_Ref");
    expect_fail("{" BASE ",\"config\":[]}", VX_E_INVALID, "config");
    expect_fail("{" BASE ",\"config\":null}", VX_E_INVALID, "config");
}

static void test_config_rules(void **state)
{
    static const struct {
        const char *cfg;
        const char *field;
    } cases[] = {
        {"{\"foo\":1}", "config.foo"},
        {"{\"test_timeout\":59}", "config.test_timeout"},
        {"{\"test_timeout\":901}", "config.test_timeout"},
        {"{\"test_timeout\":\"300\"}", "config.test_timeout"},
        {"{\"test_timeout\":300.0}", "config.test_timeout"},
        {"{\"test_timeout\":true}", "config.test_timeout"},
        {"{\"test_timeout\":null}", "config.test_timeout"},
        {"{\"analysis_duration\":0}", "config.analysis_duration"},
        {"{\"analysis_duration\":301}", "config.analysis_duration"},
        {"{\"test_timeout\":60,\"analysis_duration\":61}", "config.analysis_duration"},
        {"{\"health_check_timeout\":0}", "config.health_check_timeout"},
        {"{\"health_check_timeout\":301}", "config.health_check_timeout"},
        {"{\"enable_fuzzing\":\"true\"}", "config.enable_fuzzing"},
        {"{\"enable_profiling\":0}", "config.enable_profiling"},
        {"{\"test_script\":5}", "config.test_script"},
        {"{\"ports\":80}", "config.ports"},
        {"{\"ports\":[0]}", "config.ports[0]"},
        {"{\"ports\":[80,70000]}", "config.ports[1]"},
        {"{\"ports\":[80,443,80]}", "config.ports[2]"},
        {"{\"ports\":[\"80\"]}", "config.ports[0]"},
        {"{\"ports\":[80.5]}", "config.ports[0]"},
        {"{\"environment\":[]}", "config.environment"},
        {"{\"environment\":{\"1A\":\"x\"}}", "config.environment.1A"},
        {"{\"environment\":{\"A-B\":\"x\"}}", "config.environment.A-B"},
        {"{\"environment\":{\"\":\"x\"}}", "config.environment."},
        {"{\"environment\":{\"A\":1}}", "config.environment.A"},
        {"{\"environment\":{\"A\":null}}", "config.environment.A"},
        {"{\"command\":\"ls -l\"}", "config.command"},
        {"{\"command\":[\"ls\",1]}", "config.command[1]"},
        {"{\"health_check_path\":\"health\"}", "config.health_check_path"},
        {"{\"health_check_path\":\"/a b\"}", "config.health_check_path"},
        {"{\"health_check_path\":7}", "config.health_check_path"},
    };

    for (size_t i = 0; i < VX_ARRAY_SIZE(cases); i++) {
        char *b = vx_xasprintf("{" BASE ",\"config\":%s}", cases[i].cfg);

        expect_fail(b, VX_E_INVALID, cases[i].field);
        free(b);
    }
}

/* {BASE, "config": {"<key>": [...] or {...}}} with n generated entries. */
static char *repeat_body(const char *key, int n)
{
    struct vx_buf b = VX_BUF_INIT(16 * 1024 * 1024);
    bool env = strcmp(key, "environment") == 0;

    vx_buf_addf(&b, "{" BASE ",\"config\":{\"%s\":%s", key, env ? "{" : "[");
    for (int i = 0; i < n; i++) {
        if (i)
            vx_buf_adds(&b, ",");
        if (env)
            vx_buf_addf(&b, "\"V%d\":\"%d\"", i, i);
        else if (strcmp(key, "ports") == 0)
            vx_buf_addf(&b, "%d", i + 1);
        else
            vx_buf_addf(&b, "\"a%d\"", i);
    }
    vx_buf_addf(&b, "%s}}", env ? "}" : "]");
    return vx_buf_detach(&b, NULL);
}

/* before + n times 'x' + after. */
static char *big_string_field(const char *before, size_t n, const char *after)
{
    struct vx_buf b = VX_BUF_INIT(64 * 1024 * 1024);
    char *s = vx_xmalloc(n + 1);

    memset(s, 'x', n);
    s[n] = '\0';
    vx_buf_adds(&b, before);
    vx_buf_adds(&b, s);
    vx_buf_adds(&b, after);
    free(s);
    return vx_buf_detach(&b, NULL);
}

static void test_collection_limits(void **state)
{
    struct vx_submit_req r;
    char *b;

    b = repeat_body("ports", 64);
    expect_ok(b, &r);
    vx_submit_req_release(&r);
    free(b);
    b = repeat_body("ports", 65);
    expect_fail(b, VX_E_INVALID, "config.ports");
    free(b);

    b = repeat_body("environment", 256);
    expect_ok(b, &r);
    vx_submit_req_release(&r);
    free(b);
    b = repeat_body("environment", 257);
    expect_fail(b, VX_E_INVALID, "config.environment");
    free(b);

    b = repeat_body("command", 256);
    expect_ok(b, &r);
    vx_submit_req_release(&r);
    free(b);
    b = repeat_body("command", 257);
    expect_fail(b, VX_E_INVALID, "config.command");
    free(b);

    b = big_string_field("{" BASE ",\"config\":{\"command\":[\"", 4096, "\"]}}");
    expect_ok(b, &r);
    vx_submit_req_release(&r);
    free(b);
    b = big_string_field("{" BASE ",\"config\":{\"command\":[\"", 4097, "\"]}}");
    expect_fail(b, VX_E_INVALID, "config.command[0]");
    free(b);

    b = big_string_field("{" BASE ",\"config\":{\"environment\":{\"K\":\"", 32 * 1024, "\"}}}");
    expect_ok(b, &r);
    vx_submit_req_release(&r);
    free(b);
    b = big_string_field("{" BASE ",\"config\":{\"environment\":{\"K\":\"", 32 * 1024 + 1, "\"}}}");
    expect_fail(b, VX_E_INVALID, "config.environment.K");
    free(b);

    /* variable names: up to 256 characters */
    b = big_string_field("{" BASE ",\"config\":{\"environment\":{\"", 256, "\":\"v\"}}}");
    expect_ok(b, &r);
    vx_submit_req_release(&r);
    free(b);
    b = big_string_field("{" BASE ",\"config\":{\"environment\":{\"", 257, "\":\"v\"}}}");
    {
        struct vx_err *err = NULL;

        assert_int_equal(parse(b, strlen(b), &r, &err), -VX_E_INVALID);
        /* the echoed field is truncated, not the whole hostile key */
        assert_true(strncmp(err->field, "config.environment.xxxx", 23) == 0);
        assert_true(strlen(err->field) < 160);
        vx_err_free(&err);
    }
    free(b);

    b = big_string_field("{" BASE ",\"config\":{\"test_script\":\"", 256 * 1024, "\"}}");
    expect_ok(b, &r);
    vx_submit_req_release(&r);
    free(b);
    b = big_string_field("{" BASE ",\"config\":{\"test_script\":\"", 256 * 1024 + 1, "\"}}");
    expect_fail(b, VX_E_INVALID, "config.test_script");
    free(b);

    b = big_string_field("{" BASE ",\"config\":{\"health_check_path\":\"/", 2047, "\"}}");
    expect_ok(b, &r);
    vx_submit_req_release(&r);
    free(b);
    b = big_string_field("{" BASE ",\"config\":{\"health_check_path\":\"/", 2048, "\"}}");
    expect_fail(b, VX_E_INVALID, "config.health_check_path");
    free(b);
}

static void test_cache_key(void **state)
{
    struct vx_submit_req a, b, c, d, e;

    expect_ok("{" BASE ",\"findings\":{\"b\":1,\"a\":[1,{\"y\":2,\"x\":1}]},"
              "\"config\":{\"ports\":[80],\"test_timeout\":120,\"environment\":{\"B\":\"2\","
              "\"A\":\"1\"}},\"profile\":\"minimal\"}",
              &a);
    expect_ok("{\"profile\":\"minimal\",\"config\":{\"environment\":{\"A\":\"1\",\"B\":\"2\"},"
              "\"test_timeout\":120,\"ports\":[80]},\"findings\":{\"a\":[1,{\"x\":1,\"y\":2}],"
              "\"b\":1},\"image_digest\":\"" DIG "\",\"image_ref\":\"nginx:latest\"}",
              &b);
    assert_string_equal(a.cache_key, b.cache_key);
    assert_string_equal(a.config_json, b.config_json);
    assert_string_equal(a.findings_json, b.findings_json);

    /* spelling out the defaults is the same request */
    expect_ok("{" BASE "}", &c);
    expect_ok("{" BASE ",\"profile\":\"standard\",\"priority\":0,\"force\":false,"
              "\"config\":{\"test_timeout\":300,\"analysis_duration\":120,"
              "\"enable_fuzzing\":true,\"enable_profiling\":true,\"ports\":[],"
              "\"environment\":{},\"command\":[],\"health_check_timeout\":60}}",
              &d);
    assert_string_equal(c.cache_key, d.cache_key);
    assert_string_not_equal(a.cache_key, c.cache_key);
    vx_submit_req_release(&d);

    /* each component changes the key: profile, digest, findings, config */
    expect_ok("{" BASE ",\"profile\":\"minimal\"}", &d);
    assert_string_not_equal(c.cache_key, d.cache_key);
    vx_submit_req_release(&d);
    expect_ok("{\"image_ref\":\"nginx:latest\",\"image_digest\":\"" DIG2 "\"}", &d);
    assert_string_not_equal(c.cache_key, d.cache_key);
    vx_submit_req_release(&d);
    expect_ok("{" BASE ",\"findings\":{}}", &d);
    expect_ok("{" BASE ",\"findings_url\":\"http://h/r\"}", &e);
    assert_string_not_equal(c.cache_key, d.cache_key);
    assert_string_not_equal(d.cache_key, e.cache_key);
    vx_submit_req_release(&d);
    vx_submit_req_release(&e);
    expect_ok("{" BASE ",\"config\":{\"ports\":[81]}}", &d);
    assert_string_not_equal(c.cache_key, d.cache_key);
    vx_submit_req_release(&d);
    /* priority, force, callback and image_ref are not part of what is analysed */
    expect_ok("{\"image_ref\":\"other:tag\",\"image_digest\":\"" DIG "\",\"priority\":5,"
              "\"force\":true,\"callback_url\":\"http://h/cb\"}",
              &d);
    assert_string_equal(c.cache_key, d.cache_key);
    vx_submit_req_release(&d);

    vx_submit_req_release(&a);
    vx_submit_req_release(&b);
    vx_submit_req_release(&c);
}

static void test_estimate(void **state)
{
    assert_int_equal(vx_api_estimate_minutes("standard", 300), 7);
    assert_int_equal(vx_api_estimate_minutes("minimal", 60), 2);
    assert_int_equal(vx_api_estimate_minutes("comprehensive", 900), 20);
    assert_int_equal(vx_api_estimate_minutes("custom", 61), 4);
    assert_int_equal(vx_api_estimate_minutes(NULL, -1), 7);
}

/* Nested n deep: "[[[...]]]" optionally inside a field. */
static char *nest(const char *prefix, size_t n, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = vx_xmalloc(pl + 2 * n + sl + 1);

    memcpy(s, prefix, pl);
    memset(s + pl, '[', n);
    memset(s + pl + n, ']', n);
    memcpy(s + pl + 2 * n, suffix, sl + 1);
    return s;
}

static void expect_refused(const char *body, size_t len)
{
    struct vx_submit_req r;
    struct vx_err *err = NULL;
    int rc = parse(body, len, &r, &err);

    assert_true(rc == -VX_E_INVALID || rc == -VX_E_TOO_LARGE);
    assert_non_null(err);
    assert_non_null(err->msg);
    vx_err_free(&err);
}

static void test_malformed_corpus(void **state)
{
    static const char *const bodies[] = {
        "",
        " ",
        "{",
        "}",
        "[",
        "{\"image_ref\":",
        "{\"image_ref\":\"nginx",
        "{" BASE,
        "{" BASE ",",
        "{" BASE "}}",
        "{" BASE "} x",
        "null",
        "true",
        "1",
        "\"str\"",
        "[]",
        "[{" BASE "}]",
        "{'image_ref':'x'}",
        "{image_ref:\"x\"}",
        "{" BASE ",}",
        "{" BASE ",\"priority\":99999999999999999999999999}",
        "{" BASE ",\"priority\":1e999999}",
        "{" BASE ",\"priority\":-1e400}",
        "{" BASE ",\"priority\":9223372036854775807}",
        "{" BASE ",\"priority\":-9223372036854775808}",
        "{" BASE ",\"priority\":NaN}",
        "{" BASE ",\"priority\":Infinity}",
        "{" BASE ",\"priority\":0x10}",
        "{" BASE ",\"priority\":01}",
        "{" BASE ",\"image_ref\":\"dup\"}",
        "{" BASE ",\"config\":{\"test_timeout\":60,\"test_timeout\":61}}",
        "{" BASE ",\"image_ref\":\"a\\u0000b\"}",
        "{" BASE ",\"config\":{\"environment\":{\"A\":\"\\u0000\"}}}",
        "{" BASE ",\"image_ref\":\"\\ud800\"}",
        "{" BASE ",\"image_ref\":\"\\x41\"}",
        "{" BASE ",\"x\":\"\xff\xfe\"}",
        "{" BASE ",\"image_ref\":\"\xc3\x28\"}",
        "{\"image_ref\":\"\xed\xa0\x80\",\"image_digest\":\"" DIG "\"}",
        "\xef\xbb\xbf{" BASE "}",
        "{" BASE ",\"config\":{\"ports\":[1,2,3,]}}",
        "{" BASE ",\"findings\":{\"a\":[1,2}}",
        "{" BASE ",\"config\":{\"environment\":{\"\xc3\xa9\":\"x\"}}}",
        "{" BASE ",\"\xc3\xa9t\xc3\xa9\":1}",
    };
    char *b;

    for (size_t i = 0; i < VX_ARRAY_SIZE(bodies); i++)
        expect_refused(bodies[i], strlen(bodies[i]));

    /* NUL bytes in the middle and at the end of the body */
    {
        static const char nul1[] = "{\"image_ref\":\"ng\0inx\",\"image_digest\":\"" DIG "\"}";
        static const char nul2[] = "{" BASE "}\0";
        static const char nul3[] = "\0{" BASE "}";

        expect_refused(nul1, sizeof(nul1) - 1);
        expect_refused(nul2, sizeof(nul2) - 1);
        expect_refused(nul3, sizeof(nul3) - 1);
    }
    /* 10 MB strings in a required field, a nested field and an unknown one */
    b = big_string_field("{\"image_ref\":\"", 10 * 1000 * 1000, "\",\"image_digest\":\"" DIG "\"}");
    expect_refused(b, strlen(b));
    free(b);
    b = big_string_field("{" BASE ",\"config\":{\"test_script\":\"", 10 * 1000 * 1000, "\"}}");
    expect_refused(b, strlen(b));
    free(b);
    b = big_string_field("{" BASE ",\"", 10 * 1000 * 1000, "\":1}");
    expect_refused(b, strlen(b));
    free(b);
    b = big_string_field("{" BASE ",\"sbom_id\":\"", 10 * 1000 * 1000, "\"}");
    expect_refused(b, strlen(b));
    free(b);
    /* nesting 100000 deep: bare, in findings (which is otherwise verbatim), in config */
    b = nest("", 100000, "");
    expect_refused(b, strlen(b));
    free(b);
    b = nest("{" BASE ",\"findings\":", 100000, "}");
    expect_refused(b, strlen(b));
    free(b);
    b = nest("{" BASE ",\"config\":{\"command\":", 100000, "}}");
    expect_refused(b, strlen(b));
    free(b);
    /* and unterminated */
    b = nest("{" BASE ",\"findings\":", 100000, "}");
    expect_refused(b, strlen(b) - 50000);
    free(b);
    /* NULL and zero length */
    expect_refused(NULL, 0);
    expect_refused("{" BASE "}", 0);
}

/* Cheap deterministic mutation fuzzing of a valid body, so a unit run (and valgrind over it)
 * exercises odd inputs even without the libFuzzer build. */
static void test_mutations(void **state)
{
    const char *seed = "{" BASE ",\"profile\":\"custom\",\"priority\":3,\"findings\":{\"r\":[1]},"
                       "\"config\":{\"ports\":[80,443],\"environment\":{\"A\":\"b\"},"
                       "\"command\":[\"x\"],\"test_timeout\":100,\"health_check_path\":\"/h\"}}";
    size_t n = strlen(seed);
    char *buf = vx_xmalloc(n + 1);
    uint32_t x = 12345;
    int ok = 0;

    for (int iter = 0; iter < 20000; iter++) {
        struct vx_submit_req r;
        struct vx_err *err = NULL;
        size_t len = n;
        int rc;

        memcpy(buf, seed, n + 1);
        for (int k = 0; k < 1 + iter % 4; k++) {
            x = x * 1103515245u + 12345u;
            buf[(x >> 8) % n] = (char)(x >> 16);
        }
        if (iter % 7 == 0)
            len = (x >> 4) % n;
        rc = parse(buf, len, &r, &err);
        assert_true(rc == 0 || rc == -VX_E_INVALID || rc == -VX_E_TOO_LARGE);
        if (rc == 0) {
            ok++;
            assert_non_null(r.config_json);
            vx_submit_req_release(&r);
        } else {
            assert_non_null(err);
            vx_err_free(&err);
        }
    }
    assert_true(ok > 0); /* some mutations land in string values and still parse */
    free(buf);
}

static void test_fuzz_corpus(void **state)
{
    const char *dir = VX_FUZZ_CORPUS_DIR;
    DIR *d = opendir(dir);
    struct dirent *de;
    int files = 0;

    if (!d)
        skip();
    while ((de = readdir(d)) != NULL) {
        char *path, *data;
        struct vx_submit_req r;
        struct vx_err *err = NULL;
        FILE *f;
        long sz;
        int rc;

        if (de->d_name[0] == '.')
            continue;
        path = vx_xasprintf("%s/%s", dir, de->d_name);
        f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        data = vx_xmalloc((size_t)sz + 1);
        assert_int_equal(fread(data, 1, (size_t)sz, f), (size_t)sz);
        fclose(f);
        rc = parse(data, (size_t)sz, &r, &err);
        /* files named ok-* are valid requests, the rest must be refused */
        if (strncmp(de->d_name, "ok-", 3) == 0) {
            if (rc != 0)
                print_error("%s: %s\n", de->d_name, err ? err->msg : "?");
            assert_int_equal(rc, 0);
        } else {
            assert_true(rc == -VX_E_INVALID || rc == -VX_E_TOO_LARGE);
        }
        vx_submit_req_release(&r);
        vx_err_free(&err);
        free(data);
        free(path);
        files++;
    }
    closedir(d);
    assert_true(files > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_example),
        cmocka_unit_test(test_full_body),
        cmocka_unit_test(test_nulls_and_alternatives),
        cmocka_unit_test(test_top_level_rules),
        cmocka_unit_test(test_config_rules),
        cmocka_unit_test(test_collection_limits),
        cmocka_unit_test(test_cache_key),
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_malformed_corpus),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_fuzz_corpus),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
