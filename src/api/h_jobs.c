/* h_jobs.c -- the /api/v1 handlers: submit, status, results, cancel, list, evidence, vex
 * documents and quota (DESIGN.md §3).
 *
 * Every store call is scoped to the caller's organization (r->principal.org_id), so another
 * organization's job is indistinguishable from a missing one (404). Handlers validate their
 * inputs (path id, query, headers, body) before touching the store, and turn every store
 * error into the JSON error body at the top, never deeper.
 */
#include "common/setup.h"

#include <jansson.h>

#include "api/api_int.h"
#include "store/store.h" /* jobs, evidence, quota */
#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h" /* for vx_json_parse(), vx_json_dump() */
#include "common/util.h" /* for vx_uuid4(), vx_now_ms(), vx_time_month(), vx_digest_valid() */

#define DEFAULT_MAX_RETRIES 3 /* a job whose worker dies is retried this often, then failed */
#define MAX_IDEMPOTENCY_KEY 255
#define MAX_CURSOR          512

/* ---- shared shapes --------------------------------------------------------------------- */

static json_t *job_status_obj(const struct vx_job_rec *j)
{
    json_t *o = json_object();

    json_object_set_new(o, "job_id", vx_api_jstr(j->id));
    json_object_set_new(o, "status", vx_api_jstr(vx_job_state_str(j->state)));
    json_object_set_new(o, "progress_percent", json_integer(j->progress_percent));
    json_object_set_new(o, "current_phase", vx_api_jstr(j->current_phase));
    json_object_set_new(o, "started_at", vx_api_jtime(j->started_at));
    json_object_set_new(o, "completed_at", vx_api_jtime(j->completed_at));
    json_object_set_new(o, "error_message", vx_api_jstr(j->error_message));
    json_object_set_new(o, "sandbox_id", vx_api_jstr(j->sandbox_id));
    json_object_set_new(o, "image_ref", vx_api_jstr(j->image_ref));
    json_object_set_new(o, "image_digest", vx_api_jstr(j->image_digest));
    json_object_set_new(o, "profile", vx_api_jstr(j->profile));
    json_object_set_new(o, "priority", json_integer(j->priority));
    json_object_set_new(o, "retry_count", json_integer(j->retry_count));
    json_object_set_new(o, "cancel_requested", json_boolean(j->cancel_requested));
    json_object_set_new(o, "created_at", vx_api_jtime(j->created_at));
    return o;
}

/* test_timeout of a stored normalized config, or -1 when unreadable. */
static int config_timeout(const char *config_json)
{
    json_t *cfg = NULL, *v;
    int t = -1;

    if (config_json && vx_json_parse(config_json, strlen(config_json), &cfg, NULL) == 0) {
        v = json_object_get(cfg, "test_timeout");
        if (json_is_integer(v))
            t = (int)json_integer_value(v);
    }
    json_decref(cfg);
    return t;
}

static json_t *submit_obj(const struct vx_job_rec *j)
{
    json_t *o = json_object();

    json_object_set_new(o, "job_id", vx_api_jstr(j->id));
    json_object_set_new(o, "status", vx_api_jstr(vx_job_state_str(j->state)));
    json_object_set_new(o, "image_ref", vx_api_jstr(j->image_ref));
    json_object_set_new(o, "image_digest", vx_api_jstr(j->image_digest));
    json_object_set_new(o, "profile", vx_api_jstr(j->profile));
    json_object_set_new(
        o, "estimated_duration_minutes",
        json_integer(vx_api_estimate_minutes(j->profile, config_timeout(j->config_json))));
    json_object_set_new(o, "created_at", vx_api_jtime(j->created_at));
    return o;
}

static void reply_obj(struct vx_api_req *r, int status, json_t *o)
{
    vx_api_reply_json(r, status, vx_json_dump(o));
    json_decref(o);
}

/* 'application/json', any case, with optional parameters ("; charset=utf-8"). */
static bool is_json_type(const char *ct)
{
    size_t n = strlen("application/json");

    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, "application/json", n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* Seconds from now to 00:00 UTC on the first day of next month. */
static int64_t seconds_to_next_month(int64_t now_ms)
{
    time_t now = (time_t)(now_ms / 1000);
    struct tm tm;

    gmtime_r(&now, &tm);
    tm.tm_mon += 1;
    if (tm.tm_mon == 12) {
        tm.tm_mon = 0;
        tm.tm_year += 1;
    }
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = 0;
    return (int64_t)(timegm(&tm) - now);
}

static void reply_quota_exceeded(struct vx_api_req *r, struct vx_err **err)
{
    struct vx_err *qerr = NULL;
    int64_t now = vx_now_ms(), limit = -1, used = 0;
    char month[16], retry[32];
    json_t *usage = NULL;

    vx_time_month(now, month, sizeof(month));
    if (vx_store_quota_get(r->api->store, r->principal.org_id, month, &limit, &used, &qerr) == 0) {
        usage = json_object();
        json_object_set_new(usage, "month", json_string(month));
        json_object_set_new(usage, "limit", limit < 0 ? json_null() : json_integer(limit));
        json_object_set_new(usage, "used", json_integer(used));
    }
    vx_err_free(&qerr);
    snprintf(retry, sizeof(retry), "%" PRId64, seconds_to_next_month(now));
    vx_api_add_header(r, "Retry-After", retry);
    vx_api_reply_err_extra(r, err, "usage", usage);
}

static bool idempotency_key_ok(const char *k)
{
    size_t n = strlen(k);

    if (n < 1 || n > MAX_IDEMPOTENCY_KEY)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7e)
            return false;
    return true;
}

/* ---- POST /api/v1/analysis/submit ------------------------------------------------------ */

void vx_api_h_analysis_submit(struct vx_api_req *r)
{
    struct vx_submit_req req = {0};
    struct vx_job_rec job = {0}, *stored = NULL;
    enum vx_submit_outcome outcome = VX_SUBMIT_CREATED;
    struct vx_err *err = NULL;
    const char *ct = vx_api_header(r, "Content-Type");
    const char *idem = vx_api_header(r, "Idempotency-Key");
    char id[37];
    json_t *o;

    if (ct && !is_json_type(ct)) {
        vx_api_reply_error(r, VX_E_UNSUPPORTED, NULL,
                           "content type is not supported: send application/json");
        goto out;
    }
    if (idem && !idempotency_key_ok(idem)) {
        vx_api_reply_error(r, VX_E_INVALID, "Idempotency-Key",
                           "'Idempotency-Key' must be 1 to %d printable ascii characters",
                           MAX_IDEMPOTENCY_KEY);
        goto out;
    }
    if (vx_api_parse_submit(vx_buf_str(&r->body), r->body.len, &req, &err) < 0) {
        vx_api_reply_err(r, &err);
        goto out;
    }

    vx_uuid4(id);
    job.id = id;
    job.org_id = r->principal.org_id;
    job.image_ref = req.image_ref;
    job.image_digest = req.image_digest;
    job.sbom_id = req.sbom_id;
    job.profile = req.profile;
    job.state = VX_JOB_QUEUED;
    job.priority = req.priority;
    job.config_json = req.config_json;
    job.findings_url = req.findings_url;
    job.callback_url = req.callback_url;
    job.idempotency_key = (char *)idem;
    job.cache_key = req.cache_key;
    job.max_retries = DEFAULT_MAX_RETRIES;
    job.cost_credits = -1.0;

    if (vx_store_job_submit(r->api->store, &job, req.findings_json, req.force, &stored, &outcome,
                            &err) < 0) {
        if (err && err->code == VX_E_QUOTA)
            reply_quota_exceeded(r, &err);
        else
            vx_api_reply_err(r, &err);
        goto out;
    }

    /* An Idempotency-Key names one request: replaying it with another body is a client
     * bug we report instead of silently returning an unrelated job. */
    if (outcome == VX_SUBMIT_IDEMPOTENT && stored->cache_key &&
        (strcmp(stored->cache_key, req.cache_key) != 0 ||
         strcmp(stored->image_ref ? stored->image_ref : "", req.image_ref) != 0)) {
        vx_api_reply_error(r, VX_E_UNPROCESSABLE, "Idempotency-Key",
                           "'Idempotency-Key' was already used for a different request (job "
                           "'%s')",
                           stored->id);
        goto out;
    }
    o = submit_obj(stored);
    if (outcome == VX_SUBMIT_CREATED) {
        reply_obj(r, 202, o);
    } else {
        if (outcome == VX_SUBMIT_CACHED)
            json_object_set_new(o, "cached", json_true());
        else
            vx_api_add_header(r, "Idempotent-Replayed", "true");
        reply_obj(r, 200, o);
    }
out:
    vx_job_rec_free(stored);
    vx_submit_req_release(&req);
}

/* ---- GET /api/v1/analysis/{id}/status -------------------------------------------------- */

static int load_job(struct vx_api_req *r, struct vx_job_rec **job)
{
    struct vx_err *err = NULL;

    if (vx_store_job_get(r->api->store, r->principal.org_id, r->id, job, &err) < 0) {
        if (err && err->code == VX_E_NOT_FOUND) {
            vx_err_free(&err);
            vx_api_reply_error(r, VX_E_NOT_FOUND, NULL, "job '%s' not found", r->id);
        } else {
            vx_api_reply_err(r, &err);
        }
        return -1;
    }
    return 0;
}

void vx_api_h_analysis_status(struct vx_api_req *r)
{
    struct vx_job_rec *job = NULL;

    if (load_job(r, &job) < 0)
        return;
    reply_obj(r, 200, job_status_obj(job));
    vx_job_rec_free(job);
}

/* ---- GET /api/v1/analysis/{id}/results ------------------------------------------------- */

static void reply_evidence_doc(struct vx_api_req *r, const struct vx_job_rec *job, const char *type)
{
    struct vx_evidence_rec **ev = NULL, *pick = NULL;
    struct vx_err *err = NULL;
    size_t n = 0;

    if (vx_store_evidence_list(r->api->store, job->id, &ev, &n, &err) < 0) {
        vx_api_reply_err(r, &err);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (ev[i]->type && strcmp(ev[i]->type, type) == 0 &&
            (!pick || ev[i]->created_at > pick->created_at))
            pick = ev[i];
    if (!pick)
        vx_api_reply_error(r, VX_E_NOT_FOUND, "format", "job '%s' has no %s document", job->id,
                           type);
    else if (!pick->data)
        vx_api_reply_error(r, VX_E_NOT_FOUND, "format",
                           "the %s document of job '%s' is not stored inline", type, job->id);
    else
        vx_api_reply_raw(r, 200, "application/json", pick->data, strlen(pick->data));
    for (size_t i = 0; i < n; i++)
        vx_evidence_rec_free(ev[i]);
    free(ev);
}

void vx_api_h_analysis_results(struct vx_api_req *r)
{
    static const char *const allowed[] = {"format", NULL};
    struct vx_job_rec *job = NULL;
    struct vx_err *err = NULL;
    const char *format;
    json_t *res = NULL;

    if (vx_api_query_check(r, allowed, &err) < 0) {
        vx_api_reply_err(r, &err);
        return;
    }
    format = vx_api_query(r, "format");
    if (format && *format && strcmp(format, "openvex") != 0 && strcmp(format, "cyclonedx") != 0 &&
        strcmp(format, "csaf") != 0 && strcmp(format, "sbom") != 0 &&
        strcmp(format, "sbom-in-use") != 0) {
        vx_api_reply_error(r, VX_E_INVALID, "format",
                           "'format' must be one of openvex, cyclonedx, csaf, sbom, sbom-in-use");
        return;
    }
    if (load_job(r, &job) < 0)
        return;
    if (job->state != VX_JOB_COMPLETE) {
        vx_api_reply_error(r, VX_E_CONFLICT, NULL,
                           "job '%s' is %s; results exist only for complete jobs", job->id,
                           vx_job_state_str(job->state));
        goto out;
    }
    if (format && *format) {
        reply_evidence_doc(r, job, format);
        goto out;
    }
    if (!job->results_json ||
        vx_json_parse(job->results_json, strlen(job->results_json), &res, &err) < 0 ||
        !json_is_object(res)) {
        vx_err_free(&err);
        vx_api_reply_error(r, VX_E_INTERNAL, NULL, "stored results of job '%s' are unreadable",
                           job->id);
        goto out;
    }
    json_object_set_new(res, "job_id", json_string(job->id));
    reply_obj(r, 200, res);
    res = NULL;
out:
    json_decref(res);
    vx_job_rec_free(job);
}

/* ---- DELETE /api/v1/analysis/{id} ------------------------------------------------------ */

void vx_api_h_analysis_cancel(struct vx_api_req *r)
{
    struct vx_job_rec *job = NULL;
    struct vx_err *err = NULL;
    json_t *o;

    if (vx_store_job_cancel(r->api->store, r->principal.org_id, r->id, &job, &err) < 0) {
        if (err && err->code == VX_E_CONFLICT) {
            vx_err_free(&err);
            if (load_job(r, &job) < 0)
                return;
            vx_api_reply_error(r, VX_E_CONFLICT, NULL, "job '%s' is %s and cannot be cancelled",
                               job->id, vx_job_state_str(job->state));
        } else if (err && err->code == VX_E_NOT_FOUND) {
            vx_err_free(&err);
            vx_api_reply_error(r, VX_E_NOT_FOUND, NULL, "job '%s' not found", r->id);
        } else {
            vx_api_reply_err(r, &err);
        }
        goto out;
    }
    /* the full status object: {"job_id","status"} plus cancel_requested and the rest */
    o = job_status_obj(job);
    if (job->state == VX_JOB_CANCELLED) {
        reply_obj(r, 200, o);
    } else {
        json_object_set_new(o, "cancel_requested", json_true());
        reply_obj(r, 202, o);
    }
out:
    vx_job_rec_free(job);
}

/* ---- GET /api/v1/analysis -------------------------------------------------------------- */

void vx_api_h_analysis_list(struct vx_api_req *r)
{
    static const char *const allowed[] = {"status", "image_digest", "limit", "cursor", NULL};
    struct vx_job_filter f = {.org_id = r->principal.org_id, .limit = 20};
    struct vx_job_rec **jobs = NULL;
    struct vx_err *err = NULL;
    char *next = NULL;
    size_t n = 0;
    const char *v;
    json_t *o, *arr;
    int64_t limit;

    if (vx_api_query_check(r, allowed, &err) < 0) {
        vx_api_reply_err(r, &err);
        return;
    }
    v = vx_api_query(r, "status");
    if (v && *v) {
        if (vx_job_state_parse(v, &f.state) < 0) {
            vx_api_reply_error(r, VX_E_INVALID, "status",
                               "'status' must be one of queued, running, analyzing, complete, "
                               "failed, cancelled");
            return;
        }
        f.has_state = 1;
    }
    v = vx_api_query(r, "image_digest");
    if (v && *v) {
        if (!vx_digest_valid(v)) {
            vx_api_reply_error(r, VX_E_INVALID, "image_digest",
                               "'image_digest' must be 'sha256:' followed by 64 lowercase hex "
                               "digits");
            return;
        }
        f.image_digest = v;
    }
    v = vx_api_query(r, "limit");
    if (v && *v) {
        if (vx_parse_i64(v, 1, 100, &limit) < 0) {
            vx_api_reply_error(r, VX_E_INVALID, "limit",
                               "'limit' must be an integer between 1 and 100");
            return;
        }
        f.limit = (int)limit;
    }
    v = vx_api_query(r, "cursor");
    if (v && *v) {
        if (strlen(v) > MAX_CURSOR) {
            vx_api_reply_error(r, VX_E_INVALID, "cursor", "'cursor' is malformed");
            return;
        }
        f.cursor = v;
    }
    if (vx_store_job_list(r->api->store, &f, &jobs, &n, &next, &err) < 0) {
        vx_api_reply_err(r, &err);
        return;
    }
    o = json_object();
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, job_status_obj(jobs[i]));
    json_object_set_new(o, "jobs", arr);
    json_object_set_new(o, "next_cursor", vx_api_jstr(next));
    reply_obj(r, 200, o);
    vx_job_rec_array_free(jobs, n);
    free(next);
}

/* ---- GET /api/v1/analysis/{id}/evidence ------------------------------------------------ */

void vx_api_h_analysis_evidence(struct vx_api_req *r)
{
    struct vx_evidence_rec **ev = NULL;
    struct vx_job_rec *job = NULL;
    struct vx_err *err = NULL;
    size_t n = 0;
    json_t *o, *arr;

    if (load_job(r, &job) < 0)
        return;
    if (vx_store_evidence_list(r->api->store, job->id, &ev, &n, &err) < 0) {
        vx_api_reply_err(r, &err);
        goto out;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_object();

        json_object_set_new(e, "id", vx_api_jstr(ev[i]->id));
        json_object_set_new(e, "type", vx_api_jstr(ev[i]->type));
        json_object_set_new(e, "media_type", vx_api_jstr(ev[i]->media_type));
        json_object_set_new(e, "size", json_integer(ev[i]->size));
        json_object_set_new(e, "created_at", vx_api_jtime(ev[i]->created_at));
        json_array_append_new(arr, e);
        vx_evidence_rec_free(ev[i]);
    }
    free(ev);
    o = json_object();
    json_object_set_new(o, "job_id", vx_api_jstr(job->id));
    json_object_set_new(o, "evidence", arr);
    reply_obj(r, 200, o);
out:
    vx_job_rec_free(job);
}

/* ---- GET /api/v1/vex/{id} -------------------------------------------------------------- */

void vx_api_h_vex_get(struct vx_api_req *r)
{
    struct vx_evidence_rec *ev = NULL;
    struct vx_err *err = NULL;

    if (vx_store_evidence_get(r->api->store, r->principal.org_id, r->id, &ev, &err) < 0) {
        if (err && err->code == VX_E_NOT_FOUND) {
            vx_err_free(&err);
            vx_api_reply_error(r, VX_E_NOT_FOUND, NULL, "document '%s' not found", r->id);
        } else {
            vx_api_reply_err(r, &err);
        }
        return;
    }
    if (!ev->data)
        vx_api_reply_error(r, VX_E_NOT_FOUND, NULL, "document '%s' is not stored inline", r->id);
    else
        /* documents are served as stored: VEX and evidence are JSON, sandbox logs text */
        vx_api_reply_raw(r, 200,
                         ev->media_type && strcmp(ev->media_type, "text/plain") == 0
                             ? "text/plain; charset=utf-8"
                             : "application/json",
                         ev->data, strlen(ev->data));
    vx_evidence_rec_free(ev);
}

/* ---- GET /api/v1/analysis/quota -------------------------------------------------------- */

void vx_api_h_analysis_quota(struct vx_api_req *r)
{
    struct vx_org_rec *org = NULL;
    struct vx_err *err = NULL;
    int64_t limit = -1, used = 0;
    char month[16];
    json_t *o;

    vx_time_month(vx_now_ms(), month, sizeof(month));
    if (vx_store_quota_get(r->api->store, r->principal.org_id, month, &limit, &used, &err) < 0) {
        vx_api_reply_err(r, &err);
        return;
    }
    if (vx_store_org_get(r->api->store, r->principal.org_id, &org, &err) < 0)
        vx_err_free(&err); /* the tier is informative; the principal's is the fallback */
    o = json_object();
    json_object_set_new(o, "organization", vx_api_jstr(r->principal.org_id));
    json_object_set_new(o, "tier",
                        org && org->tier       ? vx_api_jstr(org->tier)
                        : r->principal.tier[0] ? vx_api_jstr(r->principal.tier)
                                               : json_null());
    json_object_set_new(o, "month", json_string(month));
    json_object_set_new(o, "limit", limit < 0 ? json_null() : json_integer(limit));
    json_object_set_new(o, "used", json_integer(used));
    json_object_set_new(o, "remaining",
                        limit < 0 ? json_null() : json_integer(limit > used ? limit - used : 0));
    reply_obj(r, 200, o);
    vx_org_rec_free(org);
}
