/* test_openapi.c -- the embedded src/api/openapi.json and src/api/routes.def agree (STYLE.md
 * R24): every route is documented with its method, every documented operation is routed, and
 * the submit schema carries the validation ranges the parser enforces.
 */
#include "common/setup.h"

#include <ctype.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>

#include "api/api_int.h"
#include "common/err.h"
#include "common/json.h"

static json_t *load_doc(void)
{
    json_t *doc = NULL;
    struct vx_err *err = NULL;

    if (vx_json_parse((const char *)vx_api_openapi_json, vx_api_openapi_json_len, &doc, &err) < 0)
        fail_msg("openapi.json does not parse: %s", err->msg);
    return doc;
}

static void test_every_route_documented(void **state)
{
    json_t *doc = load_doc(), *paths = json_object_get(doc, "paths");
    size_t n;
    const struct vx_route *routes = vx_api_routes(&n);

    assert_string_equal(vx_json_str(doc, "openapi"), "3.0.3");
    assert_true(json_is_object(paths));
    assert_true(n >= 12);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_object_get(paths, routes[i].pattern);
        char m[16];
        size_t k;

        for (k = 0; routes[i].method_name[k] && k < sizeof(m) - 1; k++)
            m[k] = (char)tolower((unsigned char)routes[i].method_name[k]);
        m[k] = '\0';
        if (!p || !json_object_get(p, m))
            fail_msg("route %s %s is not in openapi.json", routes[i].method_name,
                     routes[i].pattern);
        assert_non_null(json_object_get(json_object_get(p, m), "responses"));
    }
    json_decref(doc);
}

static void test_every_operation_routed(void **state)
{
    json_t *doc = load_doc(), *paths = json_object_get(doc, "paths"), *ops;
    const char *path, *method;
    size_t n;
    const struct vx_route *routes = vx_api_routes(&n);

    json_object_foreach(paths, path, ops)
    {
        json_t *op;

        json_object_foreach(ops, method, op)
        {
            bool found = false;

            for (size_t i = 0; i < n && !found; i++)
                found = strcmp(routes[i].pattern, path) == 0 &&
                        strcasecmp(routes[i].method_name, method) == 0;
            if (!found)
                fail_msg("openapi.json documents %s %s, which is not routed", method, path);
        }
    }
    json_decref(doc);
}

static void test_submit_schema(void **state)
{
    json_t *doc = load_doc();
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    json_t *req = json_object_get(schemas, "SubmitRequest");
    json_t *cfg = json_object_get(schemas, "AnalysisConfig");
    json_t *tt = json_object_get(json_object_get(cfg, "properties"), "test_timeout");
    json_t *prio = json_object_get(json_object_get(req, "properties"), "priority");

    assert_true(json_is_false(json_object_get(req, "additionalProperties")));
    assert_true(json_is_false(json_object_get(cfg, "additionalProperties")));
    assert_int_equal(json_integer_value(json_object_get(tt, "minimum")), 60);
    assert_int_equal(json_integer_value(json_object_get(tt, "maximum")), 900);
    assert_int_equal(json_integer_value(json_object_get(tt, "default")), 300);
    assert_int_equal(json_integer_value(json_object_get(prio, "minimum")), -10);
    assert_int_equal(json_integer_value(json_object_get(prio, "maximum")), 10);
    /* every config field the parser knows is documented */
    {
        static const char *const fields[] = {
            "test_script",          "test_timeout",     "analysis_duration",
            "enable_fuzzing",       "enable_profiling", "ports",
            "environment",          "command",          "health_check_path",
            "health_check_timeout",
        };

        for (size_t i = 0; i < VX_ARRAY_SIZE(fields); i++)
            assert_non_null(json_object_get(json_object_get(cfg, "properties"), fields[i]));
    }
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_documented),
        cmocka_unit_test(test_every_operation_routed),
        cmocka_unit_test(test_submit_schema),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
