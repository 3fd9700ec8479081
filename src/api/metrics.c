/* metrics.c -- request counters and latency histograms for GET /metrics.
 *
 * DESIGN
 * Request threads count without locks: a (route, method, status) triple is packed into a
 * 32-bit key and placed in an open-addressing table whose slots are claimed with one
 * compare-and-swap (0 -> key) and never released, so a slot's key, once set, is stable
 * and its counter is a plain atomic add. Histograms are per route (the pattern, never the
 * raw path, so label cardinality is bounded by the route table) with one atomic cell per
 * bucket. A scrape reads the cells with relaxed loads: each value is exact, the set is
 * not a snapshot, which is what Prometheus expects of counters.
 */
#include "common/setup.h"

#include "api/api_int.h"
#include "common/buf.h" /* for vx_buf_addf() */
#include "common/err.h"

/* Upper bounds in nanoseconds; the last bucket is +Inf. */
static const uint64_t bucket_ns[VX_METRICS_BUCKETS - 1] = {
    500000,   1000000,   2500000,   5000000,   10000000,   25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000,
};
static const char *const bucket_le[VX_METRICS_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "+Inf",
};
static const char *const method_names[VX_HTTP_METHOD_COUNT] = {
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
};

static uint32_t pack(size_t route, enum vx_http_method m, int status)
{
    if (status < 100 || status > 999)
        status = 999;
    return (uint32_t)1 << 31 | (uint32_t)route << 16 | (uint32_t)m << 12 | (uint32_t)status;
}

void vx_metrics_observe(struct vx_metrics *m, size_t route_idx, enum vx_http_method method,
                        int status, uint64_t duration_ns)
{
    uint32_t key, h;
    int b;

    if (route_idx > VX_METRICS_MAX_ROUTES)
        route_idx = VX_METRICS_MAX_ROUTES;
    key = pack(route_idx, method, status);
    h = (key * 2654435761u) % VX_METRICS_SLOTS;
    for (int probe = 0; probe < VX_METRICS_SLOTS; probe++) {
        uint32_t slot = (h + (uint32_t)probe) % VX_METRICS_SLOTS;
        uint32_t cur = atomic_load_explicit(&m->key[slot], memory_order_acquire);

        if (cur == 0) {
            uint32_t expected = 0;

            if (atomic_compare_exchange_strong(&m->key[slot], &expected, key))
                cur = key;
            else
                cur = expected; /* another thread claimed it first */
        }
        if (cur == key) {
            atomic_fetch_add_explicit(&m->count[slot], 1, memory_order_relaxed);
            goto hist;
        }
    }
    atomic_fetch_add_explicit(&m->overflow, 1, memory_order_relaxed);
hist:
    for (b = 0; b < VX_METRICS_BUCKETS - 1; b++)
        if (duration_ns <= bucket_ns[b])
            break;
    atomic_fetch_add_explicit(&m->bucket[route_idx][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_ns[route_idx], duration_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->total[route_idx], 1, memory_order_relaxed);
}

static const char *route_label(const struct vx_route *routes, size_t nroutes, size_t idx)
{
    return idx < nroutes ? routes[idx].pattern : "unmatched";
}

int vx_metrics_render_http(struct vx_metrics *m, struct vx_buf *out)
{
    size_t nroutes;
    const struct vx_route *routes = vx_api_routes(&nroutes);
    int rc = 0;

    rc |= vx_buf_adds(out, "# HELP vexxy_http_requests_total HTTP requests by route pattern, "
                           "method and status code.\n"
                           "# TYPE vexxy_http_requests_total counter\n");
    for (int i = 0; i < VX_METRICS_SLOTS; i++) {
        uint32_t key = atomic_load_explicit(&m->key[i], memory_order_acquire);
        size_t route;

        if (key == 0)
            continue;
        route = (key >> 16) & 0x7fff;
        rc |= vx_buf_addf(out,
                          "vexxy_http_requests_total{method=\"%s\",route=\"%s\",code=\"%u\"} "
                          "%" PRIu64 "\n",
                          method_names[(key >> 12) & 0xf], route_label(routes, nroutes, route),
                          key & 0xfff, atomic_load_explicit(&m->count[i], memory_order_relaxed));
    }
    rc |= vx_buf_addf(out,
                      "# HELP vexxy_http_requests_uncounted_total Requests not broken "
                      "down by label (label table full).\n"
                      "# TYPE vexxy_http_requests_uncounted_total counter\n"
                      "vexxy_http_requests_uncounted_total %" PRIu64 "\n",
                      atomic_load_explicit(&m->overflow, memory_order_relaxed));

    rc |= vx_buf_adds(out, "# HELP vexxy_http_request_duration_seconds Time from the first "
                           "byte of a request to its response being queued.\n"
                           "# TYPE vexxy_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= nroutes && r <= VX_METRICS_MAX_ROUTES; r++) {
        uint64_t total = atomic_load_explicit(&m->total[r], memory_order_relaxed);
        uint64_t cum = 0;
        const char *label = route_label(routes, nroutes, r);

        if (total == 0)
            continue;
        for (int b = 0; b < VX_METRICS_BUCKETS; b++) {
            cum += atomic_load_explicit(&m->bucket[r][b], memory_order_relaxed);
            rc |= vx_buf_addf(out,
                              "vexxy_http_request_duration_seconds_bucket{route=\"%s\","
                              "le=\"%s\"} %" PRIu64 "\n",
                              label, bucket_le[b], cum);
        }
        rc |= vx_buf_addf(out,
                          "vexxy_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
                          "vexxy_http_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n",
                          label,
                          (double)atomic_load_explicit(&m->sum_ns[r], memory_order_relaxed) / 1e9,
                          label, cum);
    }
    return rc < 0 ? -VX_E_TOO_LARGE : 0;
}
