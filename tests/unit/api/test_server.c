/* test_server.c -- the REST API end to end in one process: vx_api_start() on 127.0.0.1
 * port 0 over a temporary SQLite store, driven with real HTTP requests through libcurl.
 * Jobs are moved through their states with the store API directly (no workers), so every
 * response shape can be checked deterministically.
 */
#include "common/setup.h"

#include <setjmp.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "api/api.h"
#include "auth/auth.h"
#include "store/store.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/util.h"

#define DIG      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define BODY     "{\"image_ref\":\"nginx:latest\",\"image_digest\":\"" DIG "\"}"
#define BODY_CAP 16384

struct fixture {
    char dir[64];
    struct vx_store *store;
    struct vx_api *api;
    int port;
    CURL *curl;
};

struct resp {
    long status;
    struct vx_buf body;
    struct vx_buf headers;
    json_t *json; /* parsed body when it is JSON */
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct vx_buf *b = arg;

    return vx_buf_add(b, p, size * n) == 0 ? size * n : 0;
}

static void resp_free(struct resp *r)
{
    vx_buf_release(&r->body);
    vx_buf_release(&r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* Response header value (case-insensitive name) into out, or NULL. */
static const char *resp_header(const struct resp *r, const char *name, char *out, size_t outlen)
{
    const char *p = vx_buf_str(&r->headers);
    size_t n = strlen(name);

    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);

        if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;

            while (*v == ' ')
                v++;
            snprintf(out, outlen, "%.*s", (int)(len - (size_t)(v - p)), v);
            return out;
        }
        p = eol ? eol + 2 : NULL;
    }
    return NULL;
}

/* One request. hdrs: NULL-terminated "Name: value" list, may be NULL. body NULL = none. */
static void http_ex(struct fixture *f, const char *method, const char *path, const char *body,
                    size_t body_len, const char *const *hdrs, struct resp *r)
{
    struct curl_slist *list = NULL;
    char url[2048];
    CURLcode cc;

    memset(r, 0, sizeof(*r));
    vx_buf_init(&r->body, 64 * 1024 * 1024);
    vx_buf_init(&r->headers, 1024 * 1024);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    curl_easy_reset(f->curl);
    curl_easy_setopt(f->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(f->curl, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(f->curl, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT, 20L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(f->curl, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(f->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    list = curl_slist_append(list, "Expect:");
    for (; hdrs && *hdrs; hdrs++)
        list = curl_slist_append(list, *hdrs);
    curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, list);
    cc = curl_easy_perform(f->curl);
    curl_slist_free_all(list);
    if (cc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->body.len)
        vx_json_parse(r->body.data, r->body.len, &r->json, NULL);
}

static void http(struct fixture *f, const char *method, const char *path, const char *body,
                 struct resp *r)
{
    static const char *const json_ct[] = {"Content-Type: application/json", NULL};

    http_ex(f, method, path, body, body ? strlen(body) : 0, body ? json_ct : NULL, r);
}

static const char *jget(const struct resp *r, const char *key)
{
    return vx_json_str(r->json, key);
}

/* Asserts an error response: status, code string and (optional) field. */
static void assert_error(const struct resp *r, long status, const char *code, const char *field)
{
    json_t *e = json_object_get(r->json, "error");
    char ct[128];

    if (r->status != status || !e || strcmp(vx_json_str(e, "code") ?: "", code) != 0)
        print_error("got %ld %s\n", r->status, vx_buf_str(&r->body));
    assert_int_equal(r->status, status);
    assert_non_null(e);
    assert_string_equal(vx_json_str(e, "code"), code);
    assert_non_null(vx_json_str(e, "message"));
    if (field)
        assert_string_equal(vx_json_str(e, "field") ?: "(none)", field);
    assert_non_null(resp_header(r, "Content-Type", ct, sizeof(ct)));
    assert_true(strncmp(ct, "application/json", 16) == 0);
}

static int start_api(struct fixture *f, bool no_auth, struct vx_auth *auth)
{
    struct vx_api_config cfg = {0};
    struct vx_err *err = NULL;

    cfg.listen_addr = "127.0.0.1";
    cfg.port = 0;
    cfg.threads = 2;
    cfg.max_body_bytes = BODY_CAP;
    cfg.no_auth = no_auth;
    cfg.store = f->store;
    cfg.auth = auth;
    if (vx_api_start(&cfg, &f->api, &err) < 0) {
        print_error("vx_api_start: %s\n", err->msg);
        vx_err_free(&err);
        return -1;
    }
    f->port = vx_api_port(f->api);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = vx_xcalloc(1, sizeof(*f));
    struct vx_err *err = NULL;
    char *url;

    snprintf(f->dir, sizeof(f->dir), "/tmp/vx-api-test.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    url = vx_xasprintf("sqlite:%s/store.db", f->dir);
    if (vx_store_open(url, NULL, &f->store, &err) < 0) {
        print_error("vx_store_open: %s\n", err->msg);
        vx_err_free(&err);
        free(url);
        return -1;
    }
    free(url);
    if (start_api(f, true, NULL) < 0)
        return -1;
    f->curl = curl_easy_init();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char *cmd;

    curl_easy_cleanup(f->curl);
    vx_api_stop(f->api);
    vx_store_close(f->store);
    cmd = vx_xasprintf("rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        print_error("could not remove %s\n", f->dir);
    free(cmd);
    free(f);
    return 0;
}

/* Submits BODY with another digest so jobs are distinct; returns the job id (static). */
static const char *submit_digest(struct fixture *f, int n, char id[37])
{
    struct resp r;
    char *body = vx_xasprintf("{\"image_ref\":\"app:%d\",\"image_digest\":\"sha256:%064x\"}", n, n);

    http(f, "POST", "/api/v1/analysis/submit", body, &r);
    free(body);
    assert_int_equal(r.status, 202);
    snprintf(id, 37, "%s", jget(&r, "job_id"));
    resp_free(&r);
    return id;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_health_ready(void **state)
{
    struct fixture *f = *state;
    struct resp r;
    char v[128];
    json_t *store;

    http(f, "GET", "/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jget(&r, "status"), "healthy");
    assert_string_equal(jget(&r, "service"), "premium-vex-service");
    assert_string_equal(jget(&r, "version"), VX_VERSION);
    store = json_object_get(json_object_get(r.json, "checks"), "store");
    assert_string_equal(vx_json_str(store, "status"), "ok");
    assert_string_equal(vx_json_str(store, "backend"), "sqlite");
    assert_true(json_integer_value(json_object_get(store, "schema_version")) >= 1);
    assert_non_null(
        json_object_get(json_object_get(json_object_get(r.json, "checks"), "workers"), "slots"));
    assert_non_null(resp_header(&r, "X-Request-Id", v, sizeof(v)));
    assert_int_equal(strlen(v), 36);
    assert_non_null(resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    resp_free(&r);

    {
        static const char *const h[] = {"X-Request-Id: trace-42.a", NULL};

        http_ex(f, "GET", "/ready", NULL, 0, h, &r);
        assert_int_equal(r.status, 200);
        assert_true(json_is_true(json_object_get(r.json, "ready")));
        assert_string_equal(resp_header(&r, "X-Request-Id", v, sizeof(v)), "trace-42.a");
        resp_free(&r);
    }
    {
        static const char *const h[] = {"X-Request-Id: bad id with spaces", NULL};

        http_ex(f, "GET", "/ready", NULL, 0, h, &r);
        assert_int_equal(strlen(resp_header(&r, "X-Request-Id", v, sizeof(v))), 36);
        resp_free(&r);
    }
    http(f, "HEAD", "/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    resp_free(&r);
}

static void test_openapi(void **state)
{
    struct fixture *f = *state;
    struct resp r;

    http(f, "GET", "/openapi.json", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(r.json);
    assert_string_equal(jget(&r, "openapi"), "3.0.3");
    assert_non_null(json_object_get(json_object_get(r.json, "paths"), "/api/v1/analysis/submit"));
    resp_free(&r);
}

static void test_not_found_and_method(void **state)
{
    struct fixture *f = *state;
    struct resp r;
    char v[128];

    http(f, "GET", "/nope", NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis/not-a-uuid/status", NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis/0e9d3a2c-1b4f-4c6d-8e7f-9a0b1c2d3e4f/status", NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis/0e9d3a2c-1b4f-4c6d-8e7f-9a0b1c2d3e4f/results", NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);
    http(f, "DELETE", "/api/v1/analysis/0e9d3a2c-1b4f-4c6d-8e7f-9a0b1c2d3e4f", NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);
    http(f, "GET", "/api/v1/vex/0e9d3a2c-1b4f-4c6d-8e7f-9a0b1c2d3e4f", NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);
    http(f, "GET", "/health/", NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);

    http(f, "PUT", "/api/v1/analysis/submit", "{}", &r);
    assert_error(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(resp_header(&r, "Allow", v, sizeof(v)), "POST");
    resp_free(&r);
    http(f, "DELETE", "/health", NULL, &r);
    assert_error(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(resp_header(&r, "Allow", v, sizeof(v)), "GET");
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis/submit", NULL, &r);
    assert_error(&r, 405, "method_not_allowed", NULL);
    resp_free(&r);
    /* quota is a literal segment, never an id */
    http(f, "DELETE", "/api/v1/analysis/quota", NULL, &r);
    assert_error(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(resp_header(&r, "Allow", v, sizeof(v)), "GET");
    resp_free(&r);
    http(f, "POST", "/api/v1/analysis/0e9d3a2c-1b4f-4c6d-8e7f-9a0b1c2d3e4f", "{}", &r);
    assert_error(&r, 405, "method_not_allowed", NULL);
    assert_string_equal(resp_header(&r, "Allow", v, sizeof(v)), "DELETE");
    resp_free(&r);
}

static void test_submit_status_results_cancel(void **state)
{
    struct fixture *f = *state;
    struct resp r;
    char path[128], id[37];

    http(f, "POST", "/api/v1/analysis/submit", BODY, &r);
    assert_int_equal(r.status, 202);
    assert_true(vx_uuid_valid(jget(&r, "job_id")));
    assert_string_equal(jget(&r, "status"), "queued");
    assert_string_equal(jget(&r, "image_ref"), "nginx:latest");
    assert_string_equal(jget(&r, "image_digest"), DIG);
    assert_string_equal(jget(&r, "profile"), "standard");
    assert_int_equal(json_integer_value(json_object_get(r.json, "estimated_duration_minutes")), 7);
    assert_int_equal(strlen(jget(&r, "created_at")), 24);
    assert_int_equal(jget(&r, "created_at")[23], 'Z');
    snprintf(id, sizeof(id), "%s", jget(&r, "job_id"));
    resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/analysis/%s/status", id);
    http(f, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jget(&r, "job_id"), id);
    assert_string_equal(jget(&r, "status"), "queued");
    assert_int_equal(json_integer_value(json_object_get(r.json, "progress_percent")), 0);
    assert_true(json_is_null(json_object_get(r.json, "started_at")));
    assert_true(json_is_null(json_object_get(r.json, "completed_at")));
    assert_true(json_is_null(json_object_get(r.json, "error_message")));
    assert_true(json_is_false(json_object_get(r.json, "cancel_requested")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "retry_count")), 0);
    assert_string_equal(jget(&r, "image_digest"), DIG);
    resp_free(&r);

    /* uppercase ids are the same job */
    for (char *p = path; *p; p++)
        if (*p >= 'a' && *p <= 'f' && p > path + 17 && p < path + 17 + 36)
            *p = (char)(*p - 'a' + 'A');
    http(f, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jget(&r, "job_id"), id);
    resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/analysis/%s/results", id);
    http(f, "GET", path, NULL, &r);
    assert_error(&r, 409, "conflict", NULL);
    assert_non_null(strstr(vx_json_str(json_object_get(r.json, "error"), "message"),
                           "is queued; results exist only for complete jobs"));
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/analysis/%s/results?format=pdf", id);
    http(f, "GET", path, NULL, &r);
    assert_error(&r, 400, "invalid_request", "format");
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/analysis/%s/results?fmt=openvex", id);
    http(f, "GET", path, NULL, &r);
    assert_error(&r, 400, "invalid_request", "fmt");
    resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/analysis/%s/evidence", id);
    http(f, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "evidence")), 0);
    resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/analysis/%s", id);
    http(f, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jget(&r, "job_id"), id);
    assert_string_equal(jget(&r, "status"), "cancelled");
    resp_free(&r);
    http(f, "DELETE", path, NULL, &r);
    assert_error(&r, 409, "conflict", NULL);
    resp_free(&r);
}

static void test_running_cancel_and_complete(void **state)
{
    struct fixture *f = *state;
    struct vx_job_rec *job = NULL;
    struct vx_job_update upd = VX_JOB_UPDATE_INIT;
    struct vx_err *err = NULL;
    struct resp r;
    char path[160], id[37], id2[37], *evid = NULL;
    const char *results = "{\"summary\":{\"total_cves_analyzed\":1,\"affected\":0,"
                          "\"not_affected\":1,\"under_investigation\":0,\"fixed\":0,"
                          "\"analysis_method\":\"runtime\",\"confidence\":0.9},"
                          "\"reachability_results\":[]}";
    const char *openvex = "{\"@context\":\"https://openvex.dev/ns/v0.2.0\",\"statements\":[]}";

    /* drain whatever earlier tests left queued, then claim exactly our job */
    submit_digest(f, 1001, id);
    for (;;) {
        assert_int_equal(vx_store_job_claim(f->store, "test-worker", 60000, &job, &err), 0);
        if (!job)
            break;
        if (strcmp(job->id, id) == 0)
            break;
        vx_job_rec_free(job);
        job = NULL;
    }
    assert_non_null(job);
    vx_job_rec_free(job);

    snprintf(path, sizeof(path), "/api/v1/analysis/%s", id);
    http(f, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(jget(&r, "status"), "running");
    assert_true(json_is_true(json_object_get(r.json, "cancel_requested")));
    resp_free(&r);

    /* a second job is completed by "the worker" with results and documents */
    submit_digest(f, 1002, id2);
    assert_int_equal(vx_store_job_claim(f->store, "test-worker", 60000, &job, &err), 0);
    assert_non_null(job);
    assert_string_equal(job->id, id2);
    vx_job_rec_free(job);
    upd.results_json = results;
    upd.progress_percent = 100;
    assert_int_equal(vx_store_job_transition(f->store, id2, "test-worker", VX_JOB_RUNNING,
                                             VX_JOB_COMPLETE, &upd, 0, &err),
                     0);
    assert_int_equal(vx_store_evidence_put(f->store, id2, "openvex", "application/json", openvex,
                                           strlen(openvex), NULL, &evid, &err),
                     0);

    snprintf(path, sizeof(path), "/api/v1/analysis/%s/results", id2);
    http(f, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jget(&r, "job_id"), id2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(r.json, "summary"), "not_affected")), 1);
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/analysis/%s/results?format=openvex", id2);
    http(f, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jget(&r, "@context"), "https://openvex.dev/ns/v0.2.0");
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/analysis/%s/results?format=csaf", id2);
    http(f, "GET", path, NULL, &r);
    assert_error(&r, 404, "not_found", NULL);
    resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/analysis/%s/evidence", id2);
    http(f, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "evidence")), 1);
    assert_string_equal(vx_json_str(json_array_get(json_object_get(r.json, "evidence"), 0), "id"),
                        evid);
    assert_string_equal(vx_json_str(json_array_get(json_object_get(r.json, "evidence"), 0), "type"),
                        "openvex");
    resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/vex/%s", evid);
    http(f, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jget(&r, "@context"), "https://openvex.dev/ns/v0.2.0");
    resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/analysis/%s", id2);
    http(f, "DELETE", path, NULL, &r);
    assert_error(&r, 409, "conflict", NULL);
    resp_free(&r);

    /* the same request again is answered from the cache unless forced */
    {
        char *body =
            vx_xasprintf("{\"image_ref\":\"app:1002\",\"image_digest\":\"sha256:%064x\"}", 1002);
        char *forced = vx_xasprintf("{\"image_ref\":\"app:1002\",\"image_digest\":"
                                    "\"sha256:%064x\",\"force\":true}",
                                    1002);

        http(f, "POST", "/api/v1/analysis/submit", body, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(jget(&r, "job_id"), id2);
        assert_string_equal(jget(&r, "status"), "complete");
        assert_true(json_is_true(json_object_get(r.json, "cached")));
        resp_free(&r);
        http(f, "POST", "/api/v1/analysis/submit", forced, &r);
        assert_int_equal(r.status, 202);
        assert_string_not_equal(jget(&r, "job_id"), id2);
        resp_free(&r);
        free(body);
        free(forced);
    }
    free(evid);
}

static void test_submit_errors(void **state)
{
    struct fixture *f = *state;
    struct resp r;
    char v[64];

    http(f, "POST", "/api/v1/analysis/submit",
         "{\"image_ref\":\"x\",\"image_digest\":\"" DIG "\",\"config\":{\"foo\":1}}", &r);
    assert_error(&r, 400, "invalid_request", "config.foo");
    resp_free(&r);
    http(f, "POST", "/api/v1/analysis/submit",
         "{\"image_ref\":\"x\",\"image_digest\":\"" DIG "\",\"config\":{\"test_timeout\":30}}", &r);
    assert_error(&r, 400, "invalid_request", "config.test_timeout");
    resp_free(&r);
    http(f, "POST", "/api/v1/analysis/submit", "{\"image_ref\":", &r);
    assert_error(&r, 400, "invalid_request", NULL);
    resp_free(&r);
    http(f, "POST", "/api/v1/analysis/submit", NULL, &r);
    assert_error(&r, 400, "invalid_request", NULL);
    resp_free(&r);
    {
        static const char *const h[] = {"Content-Type: text/plain", NULL};

        http_ex(f, "POST", "/api/v1/analysis/submit", BODY, strlen(BODY), h, &r);
        assert_error(&r, 415, "unsupported_media_type", NULL);
        resp_free(&r);
    }
    {
        static const char *const h[] = {"Content-Type: application/json; charset=UTF-8", NULL};

        http_ex(f, "POST", "/api/v1/analysis/submit", "{\"image_ref\":\"x\"}", 17, h, &r);
        assert_error(&r, 400, "invalid_request", "image_digest");
        resp_free(&r);
    }
    {
        static const char nul[] = "{\"image_ref\":\"a\0b\",\"image_digest\":\"" DIG "\"}";
        static const char *const h[] = {"Content-Type: application/json", NULL};

        http_ex(f, "POST", "/api/v1/analysis/submit", nul, sizeof(nul) - 1, h, &r);
        assert_error(&r, 400, "invalid_request", NULL);
        resp_free(&r);
    }
    /* 413: declared Content-Length over the cap, refused before the body is read */
    {
        char *big = vx_xmalloc(BODY_CAP + 2);

        memset(big, ' ', BODY_CAP + 1);
        big[0] = '{';
        big[BODY_CAP] = '}';
        big[BODY_CAP + 1] = '\0';
        http(f, "POST", "/api/v1/analysis/submit", big, &r);
        assert_error(&r, 413, "payload_too_large", NULL);
        assert_non_null(resp_header(&r, "X-Request-Id", v, sizeof(v)));
        resp_free(&r);
        free(big);
    }
    /* exactly at the cap is read (and then judged on its content) */
    {
        char *big = vx_xmalloc(BODY_CAP + 1);

        memset(big, ' ', BODY_CAP);
        memcpy(big, BODY, strlen(BODY));
        big[BODY_CAP] = '\0';
        http(f, "POST", "/api/v1/analysis/submit", big, &r);
        assert_int_equal(r.status, 202);
        resp_free(&r);
        free(big);
    }
}

/* Chunked upload (no Content-Length) that passes the cap while streaming. */
struct chunk_src {
    size_t left;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct chunk_src *s = arg;
    size_t k = size * n < s->left ? size * n : s->left;

    if (k > 1000)
        k = 1000;
    memset(buf, ' ', k);
    s->left -= k;
    return k;
}

/* Streams n bytes chunked; returns the curl result, *status and the body's error code. */
static CURLcode stream_body(struct fixture *f, size_t n, long *status, char code[64])
{
    struct chunk_src src = {n};
    struct curl_slist *list = NULL;
    struct vx_buf body = VX_BUF_INIT(1 << 20);
    char url[128];
    json_t *j = NULL;
    CURLcode cc;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/analysis/submit", f->port);
    curl_easy_reset(f->curl);
    curl_easy_setopt(f->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(f->curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(f->curl, CURLOPT_READDATA, &src);
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT, 20L);
    list = curl_slist_append(list, "Transfer-Encoding: chunked");
    list = curl_slist_append(list, "Content-Type: application/json");
    list = curl_slist_append(list, "Expect:");
    curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, list);
    cc = curl_easy_perform(f->curl);
    *status = 0;
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(list);
    code[0] = '\0';
    if (body.len && vx_json_parse(body.data, body.len, &j, NULL) == 0)
        snprintf(code, 64, "%s", vx_json_str(json_object_get(j, "error"), "code") ?: "");
    json_decref(j);
    vx_buf_release(&body);
    return cc;
}

static void test_streamed_body_over_cap(void **state)
{
    struct fixture *f = *state;
    char code[64];
    long status;

    /* a little over the cap: drained and answered 413 */
    assert_int_equal(stream_body(f, BODY_CAP + BODY_CAP / 2, &status, code), CURLE_OK);
    assert_int_equal(status, 413);
    assert_string_equal(code, "payload_too_large");
    /* far over: the connection is dropped rather than drained forever */
    if (stream_body(f, BODY_CAP * 64, &status, code) == CURLE_OK)
        assert_int_equal(status, 413);
    /* and the server is still fine */
    {
        struct resp r;

        http(f, "GET", "/ready", NULL, &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
}

static void test_idempotency(void **state)
{
    struct fixture *f = *state;
    static const char *const h1[] = {"Content-Type: application/json",
                                     "Idempotency-Key: order-7 retry", NULL};
    static const char *const bad[] = {"Content-Type: application/json",
                                      "Idempotency-Key: caf\xc3\xa9", NULL};
    struct resp r;
    char id[37], v[32];
    char *other = vx_xasprintf("{\"image_ref\":\"x\",\"image_digest\":\"sha256:%064x\"}", 77);

    http_ex(f, "POST", "/api/v1/analysis/submit", BODY, strlen(BODY), h1, &r);
    assert_int_equal(r.status, 202);
    snprintf(id, sizeof(id), "%s", jget(&r, "job_id"));
    assert_null(resp_header(&r, "Idempotent-Replayed", v, sizeof(v)));
    resp_free(&r);
    http_ex(f, "POST", "/api/v1/analysis/submit", BODY, strlen(BODY), h1, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jget(&r, "job_id"), id);
    assert_string_equal(resp_header(&r, "Idempotent-Replayed", v, sizeof(v)), "true");
    resp_free(&r);
    http_ex(f, "POST", "/api/v1/analysis/submit", other, strlen(other), h1, &r);
    assert_error(&r, 422, "unprocessable_entity", "Idempotency-Key");
    resp_free(&r);
    http_ex(f, "POST", "/api/v1/analysis/submit", BODY, strlen(BODY), bad, &r);
    assert_error(&r, 400, "invalid_request", "Idempotency-Key");
    resp_free(&r);
    free(other);
}

static void test_list_pagination(void **state)
{
    struct fixture *f = *state;
    char ids[5][37], path[512], *cursor = NULL;
    int seen = 0, pages = 0, mine = 0;
    struct resp r;

    for (int i = 0; i < 5; i++) {
        struct timespec ts = {0, 3 * 1000 * 1000}; /* distinct created_at (ms resolution) */

        submit_digest(f, 500 + i, ids[i]);
        nanosleep(&ts, NULL);
    }

    do {
        json_t *jobs, *j;
        size_t i;

        if (cursor)
            snprintf(path, sizeof(path), "/api/v1/analysis?limit=2&status=queued&cursor=%s",
                     cursor);
        else
            snprintf(path, sizeof(path), "/api/v1/analysis?limit=2&status=queued");
        free(cursor);
        cursor = NULL;
        http(f, "GET", path, NULL, &r);
        assert_int_equal(r.status, 200);
        jobs = json_object_get(r.json, "jobs");
        assert_true(json_array_size(jobs) <= 2);
        json_array_foreach(jobs, i, j)
        {
            assert_string_equal(vx_json_str(j, "status"), "queued");
            for (int k = 0; k < 5; k++)
                if (strcmp(vx_json_str(j, "job_id"), ids[k]) == 0) {
                    /* newest first: ids[4] is seen before ids[0] */
                    assert_int_equal(k, 4 - mine);
                    mine++;
                }
            seen++;
        }
        if (json_is_string(json_object_get(r.json, "next_cursor")))
            cursor = curl_easy_escape(f->curl, jget(&r, "next_cursor"), 0);
        else
            assert_true(json_is_null(json_object_get(r.json, "next_cursor")));
        resp_free(&r);
        pages++;
    } while (cursor && pages < 100);
    assert_int_equal(mine, 5);
    assert_true(pages >= 3);

    snprintf(path, sizeof(path), "/api/v1/analysis?image_digest=sha256:%064x", 502);
    http(f, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 1);
    assert_string_equal(vx_json_str(json_array_get(json_object_get(r.json, "jobs"), 0), "job_id"),
                        ids[2]);
    resp_free(&r);

    http(f, "GET", "/api/v1/analysis?limit=0", NULL, &r);
    assert_error(&r, 400, "invalid_request", "limit");
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis?limit=101", NULL, &r);
    assert_error(&r, 400, "invalid_request", "limit");
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis?limit=2x", NULL, &r);
    assert_error(&r, 400, "invalid_request", "limit");
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis?status=done", NULL, &r);
    assert_error(&r, 400, "invalid_request", "status");
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis?image_digest=sha256:abc", NULL, &r);
    assert_error(&r, 400, "invalid_request", "image_digest");
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis?sort=asc", NULL, &r);
    assert_error(&r, 400, "invalid_request", "sort");
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis?limit=1&limit=2", NULL, &r);
    assert_error(&r, 400, "invalid_request", "limit");
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis?cursor=%ff%fe", NULL, &r);
    assert_error(&r, 400, "invalid_request", "cursor");
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis?cursor=garbage", NULL, &r);
    assert_error(&r, 400, "invalid_request", "cursor");
    resp_free(&r);
}

static void test_quota(void **state)
{
    struct fixture *f = *state;
    struct vx_err *err = NULL;
    struct resp r;
    char v[32];
    json_t *usage;

    http(f, "GET", "/api/v1/analysis/quota", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jget(&r, "organization"), VX_API_NOAUTH_ORG);
    assert_true(json_is_null(json_object_get(r.json, "limit")));
    assert_true(json_is_null(json_object_get(r.json, "remaining")));
    assert_int_equal(strlen(jget(&r, "month")), 7);
    assert_true(json_integer_value(json_object_get(r.json, "used")) >= 1);
    resp_free(&r);

    /* a limit at the current usage: the next submit is 429 with the usage */
    http(f, "GET", "/api/v1/analysis/quota", NULL, &r);
    assert_int_equal(vx_store_quota_set(f->store, VX_API_NOAUTH_ORG,
                                        json_integer_value(json_object_get(r.json, "used")), &err),
                     0);
    resp_free(&r);
    http(f, "GET", "/api/v1/analysis/quota", NULL, &r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "remaining")), 0);
    resp_free(&r);
    {
        char id[37];
        char *body = vx_xasprintf("{\"image_ref\":\"q\",\"image_digest\":\"sha256:%064x\"}", 9);

        http(f, "POST", "/api/v1/analysis/submit", body, &r);
        assert_error(&r, 429, "quota_exceeded", NULL);
        usage = json_object_get(r.json, "usage");
        assert_non_null(usage);
        assert_int_equal(json_integer_value(json_object_get(usage, "limit")),
                         json_integer_value(json_object_get(usage, "used")));
        assert_non_null(resp_header(&r, "Retry-After", v, sizeof(v)));
        assert_true(atol(v) > 0 && atol(v) <= 31 * 86400);
        resp_free(&r);
        free(body);
        assert_int_equal(vx_store_quota_set(f->store, VX_API_NOAUTH_ORG, -1, &err), 0);
        submit_digest(f, 9, id);
    }
}

/* Every line of the exposition is a comment or "name{labels} value". */
static void test_metrics(void **state)
{
    struct fixture *f = *state;
    struct resp r;
    char v[128];
    const char *p;
    int samples = 0;
    double inf_bucket = -1, count = -1;

    http(f, "GET", "/health", NULL, &r);
    resp_free(&r);
    http(f, "GET", "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(resp_header(&r, "Content-Type", v, sizeof(v)),
                        "text/plain; version=0.0.4; charset=utf-8");
    for (p = vx_buf_str(&r.body); *p;) {
        const char *eol = strchr(p, '\n');
        char line[512], name[256];
        double val;
        char *end;
        const char *sp;

        assert_non_null(eol);
        snprintf(line, sizeof(line), "%.*s", (int)(eol - p), p);
        p = eol + 1;
        if (line[0] == '#') {
            assert_true(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
            continue;
        }
        sp = strrchr(line, ' ');
        assert_non_null(sp);
        val = strtod(sp + 1, &end);
        assert_true(*end == '\0');
        snprintf(name, sizeof(name), "%.*s", (int)(sp - line), line);
        assert_true(strncmp(name, "vexxy_", 6) == 0);
        if (strcmp(name, "vexxy_http_request_duration_seconds_bucket{route=\"/health\","
                         "le=\"+Inf\"}") == 0)
            inf_bucket = val;
        if (strcmp(name, "vexxy_http_request_duration_seconds_count{route=\"/health\"}") == 0)
            count = val;
        samples++;
    }
    assert_true(samples > 10);
    assert_true(count >= 1 && inf_bucket == count);
    assert_non_null(strstr(r.body.data, "vexxy_http_requests_total{method=\"GET\","
                                        "route=\"/health\",code=\"200\"} "));
    /* the pattern, never the raw path */
    assert_null(strstr(r.body.data, "route=\"/api/v1/analysis/0e9d"));
    assert_non_null(strstr(r.body.data, "vexxy_jobs{state=\"queued\"} "));
    assert_non_null(strstr(r.body.data, "vexxy_queue_depth "));
    assert_non_null(strstr(r.body.data, "vexxy_workers_busy "));
    assert_non_null(strstr(r.body.data, "vexxy_workers_slots "));
    assert_non_null(strstr(r.body.data, "vexxy_worker_utilization "));
    assert_non_null(strstr(r.body.data, "vexxy_build_info{version=\"" VX_VERSION "\"} 1"));
    resp_free(&r);
}

static void test_auth(void **state)
{
    struct fixture *f = *state;
    struct vx_auth_config acfg = {0};
    struct fixture g = *f;
    struct vx_auth *auth = NULL;
    struct vx_err *err = NULL;
    char *tok_a = NULL, *tok_b = NULL, *kid = NULL, *hdr_a, *hdr_b, id[37], path[128], v[64];
    struct resp r;

    assert_int_equal(vx_auth_new(&acfg, f->store, &auth, &err), 0);
    assert_int_equal(vx_store_org_create(f->store, "org-a", "org-a", "pro", -1, NULL, &err), 0);
    assert_int_equal(vx_store_org_create(f->store, "org-b", "org-b", "free", -1, NULL, &err), 0);
    assert_int_equal(vx_apikey_issue(f->store, "org-a", "a", &tok_a, &kid, &err), 0);
    free(kid);
    assert_int_equal(vx_apikey_issue(f->store, "org-b", "b", &tok_b, &kid, &err), 0);
    free(kid);
    g.api = NULL;
    assert_int_equal(start_api(&g, false, auth), 0);
    hdr_a = vx_xasprintf("Authorization: Bearer %s", tok_a);
    hdr_b = vx_xasprintf("Authorization: Bearer %s", tok_b);

    http(&g, "GET", "/api/v1/analysis", NULL, &r);
    assert_error(&r, 401, "unauthorized", NULL);
    assert_string_equal(resp_header(&r, "WWW-Authenticate", v, sizeof(v)),
                        "Bearer realm=\"vexxy\"");
    resp_free(&r);
    {
        static const char *const h[] = {"Authorization: Bearer vx_00000000_nope", NULL};

        http_ex(&g, "GET", "/api/v1/analysis/quota", NULL, 0, h, &r);
        assert_error(&r, 401, "unauthorized", NULL);
        resp_free(&r);
    }
    http(&g, "GET", "/health", NULL, &r); /* no auth on the service endpoints */
    assert_int_equal(r.status, 200);
    resp_free(&r);
    {
        const char *const ha[] = {"Content-Type: application/json", hdr_a, NULL};
        const char *const hb[] = {hdr_b, NULL};

        http_ex(&g, "POST", "/api/v1/analysis/submit", BODY, strlen(BODY), ha, &r);
        assert_int_equal(r.status, 202);
        snprintf(id, sizeof(id), "%s", jget(&r, "job_id"));
        resp_free(&r);
        snprintf(path, sizeof(path), "/api/v1/analysis/%s/status", id);
        http_ex(&g, "GET", path, NULL, 0, ha + 1, &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
        /* another organization cannot see, cancel or list it */
        http_ex(&g, "GET", path, NULL, 0, hb, &r);
        assert_error(&r, 404, "not_found", NULL);
        resp_free(&r);
        snprintf(path, sizeof(path), "/api/v1/analysis/%s", id);
        http_ex(&g, "DELETE", path, NULL, 0, hb, &r);
        assert_error(&r, 404, "not_found", NULL);
        resp_free(&r);
        http_ex(&g, "GET", "/api/v1/analysis", NULL, 0, hb, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_array_size(json_object_get(r.json, "jobs")), 0);
        resp_free(&r);
        http_ex(&g, "GET", "/api/v1/analysis/quota", NULL, 0, hb, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(jget(&r, "organization"), "org-b");
        assert_string_equal(jget(&r, "tier"), "free");
        resp_free(&r);
    }
    vx_api_stop(g.api);
    vx_auth_free(auth);
    free(hdr_a);
    free(hdr_b);
    free(tok_a);
    free(tok_b);
}

static void test_start_rules(void **state)
{
    struct fixture *f = *state;
    struct vx_api_config cfg = {0};
    struct vx_api *api = NULL;
    struct vx_err *err = NULL;

    cfg.store = f->store;
    cfg.no_auth = true;
    cfg.listen_addr = "0.0.0.0";
    assert_int_equal(vx_api_start(&cfg, &api, &err), -VX_E_INVALID);
    vx_err_free(&err);
    cfg.listen_addr = "192.168.1.10";
    assert_int_equal(vx_api_start(&cfg, &api, &err), -VX_E_INVALID);
    vx_err_free(&err);
    cfg.listen_addr = "::";
    assert_int_equal(vx_api_start(&cfg, &api, &err), -VX_E_INVALID);
    vx_err_free(&err);
    cfg.listen_addr = "localhost"; /* literals only */
    assert_int_equal(vx_api_start(&cfg, &api, &err), -VX_E_INVALID);
    vx_err_free(&err);
    cfg.listen_addr = "127.0.0.1";
    cfg.no_auth = false; /* and no authenticator */
    assert_int_equal(vx_api_start(&cfg, &api, &err), -VX_E_INVALID);
    vx_err_free(&err);

    /* IPv6 loopback, where the host has it */
    cfg.listen_addr = "::1";
    cfg.no_auth = true;
    if (vx_api_start(&cfg, &api, &err) == 0) {
        char url[64];
        long status = 0;
        CURL *c = curl_easy_init();

        assert_true(vx_api_port(api) > 0);
        snprintf(url, sizeof(url), "http://[::1]:%d/ready", vx_api_port(api));
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        {
            struct vx_buf b = VX_BUF_INIT(4096);

            curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
            assert_int_equal(curl_easy_perform(c), CURLE_OK);
            vx_buf_release(&b);
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        assert_int_equal(status, 200);
        curl_easy_cleanup(c);
        vx_api_stop(api);
    } else {
        print_message("# ipv6 loopback unavailable: %s\n", err->msg);
        vx_err_free(&err);
    }
}

/* Not a benchmark: a sanity figure for one keep-alive client doing GET status in a loop. */
static void test_status_rate(void **state)
{
    struct fixture *f = *state;
    struct vx_buf b = VX_BUF_INIT(1 << 20);
    char id[37], url[160];
    int64_t t0, t1;
    int n = 2000;

    submit_digest(f, 4242, id);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/analysis/%s/status", f->port, id);
    curl_easy_reset(f->curl);
    curl_easy_setopt(f->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, &b);
    t0 = vx_mono_ms();
    for (int i = 0; i < n; i++) {
        long status = 0;

        vx_buf_release(&b);
        assert_int_equal(curl_easy_perform(f->curl), CURLE_OK);
        curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
        assert_int_equal(status, 200);
    }
    t1 = vx_mono_ms();
    print_message("# GET status: %d requests in %" PRId64 " ms = %.0f req/s (1 client, "
                  "keep-alive)\n",
                  n, t1 - t0, n * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1));
    vx_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_ready),
        cmocka_unit_test(test_openapi),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_submit_status_results_cancel),
        cmocka_unit_test(test_running_cancel_and_complete),
        cmocka_unit_test(test_submit_errors),
        cmocka_unit_test(test_streamed_body_over_cap),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_list_pagination),
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_start_rules),
        cmocka_unit_test(test_status_rate),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
