/* fuzz_submit.c -- libFuzzer target for vx_api_parse_submit(), the submit-body validator.
 *
 * Besides "never crash, never leak" (ASan/UBSan/LeakSanitizer), it checks two properties
 * of every accepted body: the error contract (0, or -VX_E_INVALID/-VX_E_TOO_LARGE with
 * *err set), and that normalization is a fixed point -- a request rebuilt from the
 * normalized output parses again to the same config text and the same cache key.
 */
#include "common/setup.h"

#include <jansson.h>

#include "api/api_int.h"
#include "common/err.h"
#include "common/json.h" /* for vx_json_parse(), vx_json_dump() */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void check_fixed_point(const struct vx_submit_req *r)
{
    struct vx_submit_req again;
    struct vx_err *err = NULL;
    json_t *body = json_object(), *cfg = NULL, *findings = NULL;
    char *text;

    if (vx_json_parse(r->config_json, strlen(r->config_json), &cfg, NULL) < 0)
        abort();
    json_object_set_new(body, "image_ref", json_string(r->image_ref));
    json_object_set_new(body, "image_digest", json_string(r->image_digest));
    json_object_set_new(body, "sbom_id", str_or_null(r->sbom_id));
    json_object_set_new(body, "profile", json_string(r->profile));
    json_object_set_new(body, "priority", json_integer(r->priority));
    json_object_set_new(body, "force", json_boolean(r->force));
    json_object_set_new(body, "callback_url", str_or_null(r->callback_url));
    json_object_set_new(body, "findings_url", str_or_null(r->findings_url));
    if (r->findings_json) {
        if (vx_json_parse(r->findings_json, strlen(r->findings_json), &findings, NULL) < 0)
            abort();
        json_object_set_new(body, "findings", findings);
    }
    json_object_set_new(body, "config", cfg);
    text = vx_json_dump(body);
    if (vx_api_parse_submit(text, strlen(text), &again, &err) != 0)
        abort();
    if (strcmp(again.config_json, r->config_json) != 0 ||
        strcmp(again.cache_key, r->cache_key) != 0)
        abort();
    vx_submit_req_release(&again);
    free(text);
    json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vx_submit_req r;
    struct vx_err *err = NULL;
    int rc = vx_api_parse_submit((const char *)data, size, &r, &err);

    if (rc == 0) {
        if (err || !r.image_ref || !r.config_json || strlen(r.cache_key) != 64)
            abort();
        check_fixed_point(&r);
        vx_submit_req_release(&r);
    } else {
        if ((rc != -VX_E_INVALID && rc != -VX_E_TOO_LARGE) || !err || !err->msg || r.image_ref ||
            r.config_json)
            abort();
        vx_err_free(&err);
    }
    return 0;
}
