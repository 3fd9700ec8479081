/* submit.c -- strict validation of a POST /api/v1/analysis/submit body (DESIGN.md §3).
 *
 * The body is parsed once here into a typed struct vx_submit_req (STYLE.md R20); the
 * handler and the store never see the request's JSON tree. Every rule names the offending
 * field as a dotted path so a client can fix its request without guessing, unknown fields
 * are errors at every level we own (findings is the scanner's report and is stored
 * verbatim, in canonical form), and the analysis config comes out normalized with every
 * default filled in, serialized canonically (sorted keys), so the same request always
 * yields the same config text and cache key.
 *
 * This function is pure: no store, no clock, no globals. The fuzzer (tests/fuzz) and the
 * unit tests call it directly.
 */
#include "common/setup.h"

#include <jansson.h>

#include "api/api_int.h"
#include "common/alloc.h" /* for vx_xstrdup(), vx_xasprintf() */
#include "common/err.h"
#include "common/json.h" /* for vx_json_parse(), vx_json_dump() */
#include "common/util.h" /* for vx_digest_valid(), vx_uuid_valid(), vx_sha256_hex() */

#define FIELD_MAX 160 /* longest field path echoed back; client keys are truncated to fit */

static const char *const top_fields[] = {
    "image_ref",    "image_digest", "sbom_id",      "profile", "priority", "force",
    "callback_url", "findings",     "findings_url", "config",  NULL,
};

static const char *const config_fields[] = {
    "test_script", "test_timeout", "analysis_duration", "enable_fuzzing",    "enable_profiling",
    "ports",       "environment",  "command",           "health_check_path", "health_check_timeout",
    NULL,
};

static const char *const profiles[] = {"minimal", "standard", "comprehensive", "custom", NULL};

/* Copies at most max bytes of s into out without splitting a UTF-8 sequence (jansson has
 * already checked the key is valid UTF-8), so the echoed field name stays valid JSON. */
static void utf8_trunc(const char *s, size_t max, char *out, size_t outlen)
{
    size_t n = strlen(s);

    if (max >= outlen)
        max = outlen - 1;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

static void field_path(char *out, size_t outlen, const char *prefix, const char *key)
{
    char k[FIELD_MAX];

    utf8_trunc(key, 96, k, sizeof(k));
    if (prefix)
        snprintf(out, outlen, "%s.%s", prefix, k);
    else
        snprintf(out, outlen, "%s", k);
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static int check_known(const json_t *obj, const char *const *known, const char *prefix,
                       struct vx_err **err)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        if (!in_list(key, known)) {
            char f[FIELD_MAX + 8];

            field_path(f, sizeof(f), prefix, key);
            return vx_err_field(err, VX_E_INVALID, f, "unknown field '%s'", f);
        }
    }
    return 0;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static int type_err(struct vx_err **err, const char *field, const char *want, const json_t *v)
{
    return vx_err_field(err, VX_E_INVALID, field, "'%s' must be %s, not %s", field, want,
                        json_kind(v));
}

/* true when every byte is printable ASCII other than space: no whitespace, no control
 * characters, no 8-bit bytes (image references and URLs are ASCII by definition). */
static bool is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

/* *out is borrowed from the tree; NULL when absent (or null and nullable). */
static int get_str(const json_t *obj, const char *key, const char *field, bool nullable, size_t max,
                   const char **out, struct vx_err **err)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v || (nullable && json_is_null(v)))
        return 0;
    if (!json_is_string(v))
        return type_err(err, field, nullable ? "a string or null" : "a string", v);
    if (json_string_length(v) > max)
        return vx_err_field(err, VX_E_INVALID, field, "'%s' is longer than %zu bytes", field, max);
    *out = json_string_value(v);
    return 0;
}

static int get_int(const json_t *obj, const char *key, const char *field, json_int_t min,
                   json_int_t max, json_int_t def, json_int_t *out, struct vx_err **err)
{
    json_t *v = json_object_get(obj, key);
    json_int_t i;

    *out = def;
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return type_err(err, field, "an integer", v);
    i = json_integer_value(v);
    if (i < min || i > max)
        return vx_err_field(err, VX_E_INVALID, field,
                            "'%s' must be between %" JSON_INTEGER_FORMAT
                            " and %" JSON_INTEGER_FORMAT,
                            field, min, max);
    *out = i;
    return 0;
}

static int get_bool(const json_t *obj, const char *key, const char *field, bool def, bool *out,
                    struct vx_err **err)
{
    json_t *v = json_object_get(obj, key);

    *out = def;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return type_err(err, field, "a boolean", v);
    *out = json_is_true(v);
    return 0;
}

static int check_url(const char *url, const char *field, struct vx_err **err)
{
    size_t n = strlen(url);
    size_t skip;

    if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else
        return vx_err_field(err, VX_E_INVALID, field, "'%s' must be an http:// or https:// url",
                            field);
    if (n == skip || url[skip] == '/' || url[skip] == '?' || url[skip] == '#')
        return vx_err_field(err, VX_E_INVALID, field, "'%s' has no host", field);
    if (!is_token(url, n))
        return vx_err_field(err, VX_E_INVALID, field,
                            "'%s' must not contain whitespace, control or non-ascii characters",
                            field);
    return 0;
}

static bool env_name_ok(const char *k)
{
    size_t n = strlen(k);

    if (n == 0 || n > 256)
        return false;
    if (!(k[0] == '_' || (k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z')))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = k[i];

        if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static int parse_ports(const json_t *v, json_t *outcfg, struct vx_err **err)
{
    uint8_t seen[65536 / 8] = {0}; /* bitmap of ports already listed */
    json_t *arr = NULL;
    size_t i;
    json_t *e;
    int rc = 0;

    if (!json_is_array(v))
        return type_err(err, "config.ports", "an array", v);
    if (json_array_size(v) > VX_SUBMIT_MAX_PORTS)
        return vx_err_field(err, VX_E_INVALID, "config.ports",
                            "'config.ports' has more than %d entries", VX_SUBMIT_MAX_PORTS);
    arr = json_array();
    json_array_foreach(v, i, e)
    {
        char f[48];

        snprintf(f, sizeof(f), "config.ports[%zu]", i);
        if (!json_is_integer(e)) {
            rc = type_err(err, f, "an integer", e);
            goto out;
        }
        if (json_integer_value(e) < 1 || json_integer_value(e) > 65535) {
            rc = vx_err_field(err, VX_E_INVALID, f, "'%s' must be between 1 and 65535", f);
            goto out;
        }
        if (seen[json_integer_value(e) / 8] & (1u << (json_integer_value(e) % 8))) {
            rc = vx_err_field(err, VX_E_INVALID, f,
                              "'%s': port %" JSON_INTEGER_FORMAT " is listed twice", f,
                              json_integer_value(e));
            goto out;
        }
        seen[json_integer_value(e) / 8] |= (uint8_t)(1u << (json_integer_value(e) % 8));
        json_array_append_new(arr, json_integer(json_integer_value(e)));
    }
    json_object_set_new(outcfg, "ports", arr);
    arr = NULL;
out:
    json_decref(arr);
    return rc;
}

static int parse_environment(const json_t *v, json_t *outcfg, struct vx_err **err)
{
    json_t *obj = NULL;
    const char *key;
    json_t *e;
    int rc = 0;

    if (!json_is_object(v))
        return type_err(err, "config.environment", "an object", v);
    if (json_object_size(v) > VX_SUBMIT_MAX_ENV)
        return vx_err_field(err, VX_E_INVALID, "config.environment",
                            "'config.environment' has more than %d entries", VX_SUBMIT_MAX_ENV);
    obj = json_object();
    json_object_foreach((json_t *)v, key, e)
    {
        char f[FIELD_MAX + 32];

        field_path(f, sizeof(f), "config.environment", key);
        if (!env_name_ok(key)) {
            rc = vx_err_field(err, VX_E_INVALID, f,
                              "'%s': variable names must match [A-Za-z_][A-Za-z0-9_]{0,255}", f);
            goto out;
        }
        if (!json_is_string(e)) {
            rc = type_err(err, f, "a string", e);
            goto out;
        }
        if (json_string_length(e) > VX_SUBMIT_MAX_ENV_VALUE) {
            rc = vx_err_field(err, VX_E_INVALID, f, "'%s' is longer than %d bytes", f,
                              VX_SUBMIT_MAX_ENV_VALUE);
            goto out;
        }
        json_object_set_new(obj, key, json_stringn(json_string_value(e), json_string_length(e)));
    }
    json_object_set_new(outcfg, "environment", obj);
    obj = NULL;
out:
    json_decref(obj);
    return rc;
}

static int parse_command(const json_t *v, json_t *outcfg, struct vx_err **err)
{
    json_t *arr = NULL;
    size_t i;
    json_t *e;
    int rc = 0;

    if (!json_is_array(v))
        return type_err(err, "config.command", "an array", v);
    if (json_array_size(v) > VX_SUBMIT_MAX_COMMAND)
        return vx_err_field(err, VX_E_INVALID, "config.command",
                            "'config.command' has more than %d entries", VX_SUBMIT_MAX_COMMAND);
    arr = json_array();
    json_array_foreach(v, i, e)
    {
        char f[48];

        snprintf(f, sizeof(f), "config.command[%zu]", i);
        if (!json_is_string(e)) {
            rc = type_err(err, f, "a string", e);
            goto out;
        }
        if (json_string_length(e) > VX_SUBMIT_MAX_COMMAND_ARG) {
            rc = vx_err_field(err, VX_E_INVALID, f, "'%s' is longer than %d bytes", f,
                              VX_SUBMIT_MAX_COMMAND_ARG);
            goto out;
        }
        json_array_append_new(arr, json_stringn(json_string_value(e), json_string_length(e)));
    }
    json_object_set_new(outcfg, "command", arr);
    arr = NULL;
out:
    json_decref(arr);
    return rc;
}

/* Builds the normalized config object from the client's (NULL = absent). */
static int parse_config(const json_t *cfg, json_t **out, int *test_timeout, struct vx_err **err)
{
    json_t *n = NULL, *empty = NULL, *v;
    json_int_t timeout, duration, hc_timeout;
    bool fuzz, prof;
    const char *script, *hc_path;
    int rc;

    if (cfg && !json_is_object(cfg))
        return type_err(err, "config", "an object", cfg);
    if (!cfg)
        cfg = empty = json_object(); /* every default */
    n = json_object();
    rc = check_known(cfg, config_fields, "config", err);
    if (rc < 0)
        goto out;

    rc = get_int(cfg, "test_timeout", "config.test_timeout", 60, 900, 300, &timeout, err);
    if (rc < 0)
        goto out;
    rc = get_int(cfg, "analysis_duration", "config.analysis_duration", 1, timeout,
                 timeout < 120 ? timeout : 120, &duration, err);
    if (rc < 0)
        goto out;
    rc = get_int(cfg, "health_check_timeout", "config.health_check_timeout", 1, timeout, 60,
                 &hc_timeout, err);
    if (rc < 0)
        goto out;
    rc = get_bool(cfg, "enable_fuzzing", "config.enable_fuzzing", true, &fuzz, err);
    if (rc < 0)
        goto out;
    rc = get_bool(cfg, "enable_profiling", "config.enable_profiling", true, &prof, err);
    if (rc < 0)
        goto out;
    rc = get_str(cfg, "test_script", "config.test_script", true, VX_SUBMIT_MAX_TEST_SCRIPT, &script,
                 err);
    if (rc < 0)
        goto out;
    rc = get_str(cfg, "health_check_path", "config.health_check_path", true, VX_SUBMIT_MAX_URL,
                 &hc_path, err);
    if (rc < 0)
        goto out;
    if (hc_path && (hc_path[0] != '/' || !is_token(hc_path, strlen(hc_path)))) {
        rc = vx_err_field(err, VX_E_INVALID, "config.health_check_path",
                          "'config.health_check_path' must start with '/' and contain no "
                          "whitespace, control or non-ascii characters");
        goto out;
    }

    v = json_object_get(cfg, "ports");
    rc = v ? parse_ports(v, n, err) : json_object_set_new(n, "ports", json_array());
    if (rc < 0)
        goto out;
    v = json_object_get(cfg, "environment");
    rc = v ? parse_environment(v, n, err) : json_object_set_new(n, "environment", json_object());
    if (rc < 0)
        goto out;
    v = json_object_get(cfg, "command");
    rc = v ? parse_command(v, n, err) : json_object_set_new(n, "command", json_array());
    if (rc < 0)
        goto out;
    /* the script is kept byte for byte (jansson has checked it is valid UTF-8) */
    json_object_set_new(n, "test_script", script ? json_string(script) : json_null());
    json_object_set_new(n, "health_check_path", hc_path ? json_string(hc_path) : json_null());
    json_object_set_new(n, "test_timeout", json_integer(timeout));
    json_object_set_new(n, "analysis_duration", json_integer(duration));
    json_object_set_new(n, "health_check_timeout", json_integer(hc_timeout));
    json_object_set_new(n, "enable_fuzzing", json_boolean(fuzz));
    json_object_set_new(n, "enable_profiling", json_boolean(prof));
    *test_timeout = (int)timeout;
    *out = n;
    n = NULL;
out:
    json_decref(n);
    json_decref(empty);
    return rc;
}

int vx_api_normalize_config(const char *cfg_json, char **out, struct vx_err **err)
{
    json_t *in = NULL, *norm = NULL;
    int timeout = 0, rc = 0;

    *out = NULL;
    if (cfg_json) {
        rc = vx_json_parse(cfg_json, strlen(cfg_json), &in, err);
        if (rc < 0) {
            vx_err_wrap(err, "config");
            return rc;
        }
    }
    rc = parse_config(in, &norm, &timeout, err);
    if (rc == 0)
        *out = vx_json_dump(norm);
    json_decref(in);
    json_decref(norm);
    return rc;
}

void vx_submit_req_release(struct vx_submit_req *r)
{
    if (!r)
        return;
    free(r->image_ref);
    free(r->image_digest);
    free(r->sbom_id);
    free(r->profile);
    free(r->callback_url);
    free(r->findings_json);
    free(r->findings_url);
    free(r->config_json);
    memset(r, 0, sizeof(*r));
}

int vx_api_estimate_minutes(const char *profile, int test_timeout)
{
    int overhead = 120; /* pull, unpack, inventory, analysis: a standard run's fixed cost */

    if (profile && strcmp(profile, "minimal") == 0)
        overhead = 60;
    else if (profile && strcmp(profile, "comprehensive") == 0)
        overhead = 300;
    if (test_timeout < 0)
        test_timeout = 300;
    return (test_timeout + overhead + 59) / 60;
}

static void compute_cache_key(struct vx_submit_req *r)
{
    const char *f = r->findings_json ? r->findings_json : r->findings_url ? r->findings_url : "";
    char fh[65], ch[65];
    char *material;

    vx_sha256_hex(f, strlen(f), fh);
    vx_sha256_hex(r->config_json, strlen(r->config_json), ch);
    material = vx_xasprintf("%s\n%s\n%s\n%s", r->image_digest, fh, ch, r->profile);
    vx_sha256_hex(material, strlen(material), r->cache_key);
    free(material);
}

int vx_api_parse_submit(const char *body, size_t len, struct vx_submit_req *out,
                        struct vx_err **err)
{
    struct vx_submit_req r = {0};
    json_t *root = NULL, *cfg = NULL, *v;
    const char *s;
    json_int_t prio;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!body || len == 0) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "request body is empty");
        goto out;
    }
    rc = vx_json_parse(body, len, &root, err);
    if (rc < 0)
        goto out;
    if (!json_is_object(root)) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "request body must be a json object, not %s",
                        json_kind(root));
        goto out;
    }
    rc = check_known(root, top_fields, NULL, err);
    if (rc < 0)
        goto out;

    /* image_ref */
    v = json_object_get(root, "image_ref");
    if (!v) {
        rc = vx_err_field(err, VX_E_INVALID, "image_ref", "'image_ref' is required");
        goto out;
    }
    rc = get_str(root, "image_ref", "image_ref", false, VX_SUBMIT_MAX_IMAGE_REF, &s, err);
    if (rc < 0)
        goto out;
    if (!*s || !is_token(s, strlen(s))) {
        rc = vx_err_field(err, VX_E_INVALID, "image_ref",
                          "'image_ref' must be 1 to %d printable ascii characters without "
                          "whitespace",
                          VX_SUBMIT_MAX_IMAGE_REF);
        goto out;
    }
    r.image_ref = vx_xstrdup(s);

    /* image_digest */
    if (!json_object_get(root, "image_digest")) {
        rc = vx_err_field(err, VX_E_INVALID, "image_digest", "'image_digest' is required");
        goto out;
    }
    rc = get_str(root, "image_digest", "image_digest", false, 71, &s, err);
    if (rc < 0)
        goto out;
    if (!vx_digest_valid(s)) {
        rc = vx_err_field(err, VX_E_INVALID, "image_digest",
                          "'image_digest' must be 'sha256:' followed by 64 lowercase hex digits");
        goto out;
    }
    r.image_digest = vx_xstrdup(s);

    /* sbom_id */
    rc = get_str(root, "sbom_id", "sbom_id", true, 36, &s, err);
    if (rc < 0)
        goto out;
    if (s) {
        if (!vx_uuid_valid(s)) {
            rc = vx_err_field(err, VX_E_INVALID, "sbom_id", "'sbom_id' must be a uuid");
            goto out;
        }
        r.sbom_id = vx_xstrdup(s);
        for (char *p = r.sbom_id; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
    }

    /* profile */
    rc = get_str(root, "profile", "profile", false, 32, &s, err);
    if (rc < 0)
        goto out;
    if (s && !in_list(s, profiles)) {
        rc = vx_err_field(err, VX_E_INVALID, "profile",
                          "'profile' must be one of minimal, standard, comprehensive, custom");
        goto out;
    }
    r.profile = vx_xstrdup(s ? s : "standard");

    /* priority, force */
    rc = get_int(root, "priority", "priority", -10, 10, 0, &prio, err);
    if (rc < 0)
        goto out;
    r.priority = (int)prio;
    rc = get_bool(root, "force", "force", false, &r.force, err);
    if (rc < 0)
        goto out;

    /* callback_url */
    rc = get_str(root, "callback_url", "callback_url", true, VX_SUBMIT_MAX_URL, &s, err);
    if (rc < 0)
        goto out;
    if (s) {
        rc = check_url(s, "callback_url", err);
        if (rc < 0)
            goto out;
        r.callback_url = vx_xstrdup(s);
    }

    /* findings | findings_url */
    rc = get_str(root, "findings_url", "findings_url", true, VX_SUBMIT_MAX_URL, &s, err);
    if (rc < 0)
        goto out;
    v = json_object_get(root, "findings");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v) && !json_is_array(v)) {
            rc = type_err(err, "findings", "an object or an array", v);
            goto out;
        }
        if (s) {
            rc = vx_err_field(err, VX_E_INVALID, "findings_url",
                              "give either 'findings' or 'findings_url', not both");
            goto out;
        }
        r.findings_json = vx_json_dump(v);
        /* canonical form is never meant to outgrow what the client sent; if escaping made it
         * larger than the body itself, refuse rather than store more than the cap allows */
        if (strlen(r.findings_json) > len) {
            rc = vx_err_field(err, VX_E_TOO_LARGE, "findings", "'findings' is too large");
            goto out;
        }
    } else if (s) {
        rc = check_url(s, "findings_url", err);
        if (rc < 0)
            goto out;
        r.findings_url = vx_xstrdup(s);
    }

    /* config */
    rc = parse_config(json_object_get(root, "config"), &cfg, &r.test_timeout, err);
    if (rc < 0)
        goto out;
    r.config_json = vx_json_dump(cfg);

    compute_cache_key(&r);
    *out = r;
    memset(&r, 0, sizeof(r));
out:
    vx_submit_req_release(&r);
    json_decref(cfg);
    json_decref(root);
    return rc;
}
