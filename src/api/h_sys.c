/* h_sys.c -- the unauthenticated service endpoints: /health, /ready, /metrics and
 * /openapi.json. They answer from the store's cheap queries and the in-process counters,
 * so a load balancer or a Prometheus scrape never waits on job work.
 */
#include "common/setup.h"

#include <jansson.h>

#include "api/api_int.h"
#include "store/store.h" /* for vx_store_ping(), vx_store_job_counts(), worker stats */
#include "common/alloc.h"
#include "common/buf.h" /* for the metrics text */
#include "common/err.h"
#include "common/json.h" /* for vx_json_dump() */

#define WORKER_MAX_AGE_MS 60000 /* workers that beat within this window count as live */
#define METRICS_MAX       (4u * 1024 * 1024)

void vx_api_h_health(struct vx_api_req *r)
{
    struct vx_store *st = r->api->store;
    struct vx_err *err = NULL;
    json_t *root = json_object(), *checks = json_object(), *store = json_object();
    json_t *workers = json_object();
    int busy = 0, slots = 0, live = 0;
    bool ok;

    ok = vx_store_ping(st, &err) == 0;
    json_object_set_new(store, "status", json_string(ok ? "ok" : "error"));
    json_object_set_new(store, "backend", json_string(vx_store_backend(st)));
    json_object_set_new(store, "schema_version", json_integer(vx_store_schema_version(st)));
    if (!ok) {
        json_object_set_new(store, "error", vx_api_jstr(err ? err->msg : "ping failed"));
        free(r->log_msg);
        r->log_msg = vx_xstrdup(err && err->msg ? err->msg : "store ping failed");
    }
    vx_err_free(&err);
    if (ok && vx_store_worker_stats(st, WORKER_MAX_AGE_MS, &busy, &slots, &live, &err) < 0) {
        json_object_set_new(workers, "error", vx_api_jstr(err ? err->msg : NULL));
        vx_err_free(&err);
    }
    json_object_set_new(workers, "busy", json_integer(busy));
    json_object_set_new(workers, "slots", json_integer(slots));
    json_object_set_new(workers, "live", json_integer(live));
    json_object_set_new(checks, "store", store);
    json_object_set_new(checks, "workers", workers);

    json_object_set_new(root, "status", json_string(ok ? "healthy" : "unhealthy"));
    json_object_set_new(root, "service", json_string(VX_SERVICE_NAME));
    json_object_set_new(root, "version", json_string(VX_VERSION));
    json_object_set_new(root, "checks", checks);
    vx_api_reply_json(r, ok ? 200 : 503, vx_json_dump(root));
    json_decref(root);
}

void vx_api_h_ready(struct vx_api_req *r)
{
    struct vx_err *err = NULL;
    bool ok = vx_store_ping(r->api->store, &err) == 0;

    if (!ok) {
        free(r->log_msg);
        r->log_msg = vx_xstrdup(err && err->msg ? err->msg : "store ping failed");
    }
    vx_err_free(&err);
    vx_api_reply_json(r, ok ? 200 : 503, vx_xstrdup(ok ? "{\"ready\":true}" : "{\"ready\":false}"));
}

void vx_api_h_metrics(struct vx_api_req *r)
{
    struct vx_buf b = VX_BUF_INIT(METRICS_MAX);
    struct vx_store *st = r->api->store;
    struct vx_err *err = NULL;
    int64_t counts[VX_JOB_STATE_COUNT] = {0};
    int busy = 0, slots = 0, live = 0;
    bool jobs_ok, workers_ok;
    int rc = 0;
    size_t len;
    char *text;

    rc |= vx_metrics_render_http(&r->api->metrics, &b);

    jobs_ok = vx_store_job_counts(st, counts, &err) == 0;
    vx_err_free(&err);
    workers_ok = vx_store_worker_stats(st, WORKER_MAX_AGE_MS, &busy, &slots, &live, &err) == 0;
    vx_err_free(&err);

    rc |= vx_buf_addf(&b,
                      "# HELP vexxy_store_up Whether the last store query of this scrape "
                      "succeeded.\n# TYPE vexxy_store_up gauge\nvexxy_store_up %d\n",
                      jobs_ok && workers_ok);
    if (jobs_ok) {
        rc |= vx_buf_adds(&b, "# HELP vexxy_jobs Jobs by state, all organizations.\n"
                              "# TYPE vexxy_jobs gauge\n");
        for (int s = 0; s < VX_JOB_STATE_COUNT; s++)
            rc |= vx_buf_addf(&b, "vexxy_jobs{state=\"%s\"} %" PRId64 "\n",
                              vx_job_state_str((enum vx_job_state)s), counts[s]);
        rc |= vx_buf_addf(&b,
                          "# HELP vexxy_queue_depth Jobs waiting for a worker.\n"
                          "# TYPE vexxy_queue_depth gauge\nvexxy_queue_depth %" PRId64 "\n",
                          counts[VX_JOB_QUEUED]);
    }
    if (workers_ok) {
        rc |= vx_buf_addf(&b,
                          "# HELP vexxy_workers_busy Busy worker slots (workers seen in 60 s).\n"
                          "# TYPE vexxy_workers_busy gauge\nvexxy_workers_busy %d\n"
                          "# HELP vexxy_workers_slots Worker slots (workers seen in 60 s).\n"
                          "# TYPE vexxy_workers_slots gauge\nvexxy_workers_slots %d\n"
                          "# HELP vexxy_worker_utilization Busy slots over slots.\n"
                          "# TYPE vexxy_worker_utilization gauge\n"
                          "vexxy_worker_utilization %.4f\n",
                          busy, slots, slots > 0 ? (double)busy / slots : 0.0);
    }
    rc |= vx_buf_addf(&b,
                      "# HELP vexxy_build_info Build information.\n"
                      "# TYPE vexxy_build_info gauge\n"
                      "vexxy_build_info{version=\"%s\"} 1\n",
                      VX_VERSION);
    if (rc < 0) {
        vx_buf_release(&b);
        vx_api_reply_error(r, VX_E_INTERNAL, NULL, "metrics text passed %u bytes", METRICS_MAX);
        return;
    }
    text = vx_buf_detach(&b, &len);
    vx_api_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

void vx_api_h_openapi(struct vx_api_req *r)
{
    vx_api_reply_raw(r, 200, "application/json", (const char *)vx_api_openapi_json,
                     vx_api_openapi_json_len);
}
