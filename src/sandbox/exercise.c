/* exercise.c -- the built-in HTTP exerciser (vx_exercise_run): health check, crawl, fuzz.
 *
 * It drives the workload from inside the workload's network namespace and records the
 * coverage figures a verdict uses: requests sent, errors, the status histogram, the
 * distinct endpoints that answered, whether an OpenAPI document was read.
 *
 * DESIGN
 * - Namespace: network namespace membership is per thread, so with cfg->netns_fd >= 0 the
 *   whole run happens on a thread of its own that first setns()es into the namespace; the
 *   caller's threads never change namespace. The thread is joined before returning.
 * - Health check: every port must accept a TCP connection; with health_path, a GET of it on
 *   one of the ports must then answer a status below 500. Polled with backoff 20 -> 200 ms
 *   until health_timeout_ms. Its result and time are evidence; the crawl runs on the ports
 *   that accepted connections even when the path never answered well.
 * - Crawl: breadth first from "/" of every port plus the OpenAPI/Swagger document paths,
 *   links, redirects and forms from responses (crawl.c), a visited set keyed by method, port
 *   and target. Only cfg->host is ever connected to, and only on cfg->ports: a reference to
 *   anything else is dropped by vx_url_resolve().
 * - Fuzz: with cfg->fuzz the crawl may use two thirds of the request and time budgets; the
 *   rest (and whatever the crawl left) goes to seeded mutations of the requests that
 *   answered (mutate.c). The same server and seed give the same requests in the same order.
 * - Budgets: max_requests, budget_ms (from the end of the health check) and should_stop are
 *   checked before every request; each request has its own timeout, never past the budget.
 *   With a netns_fd, should_stop is called on the exerciser's thread, not the caller's.
 * - One request per connection ("Connection: close"): simple and robust against servers
 *   that mishandle keep-alive, at the price of a handshake per request (cheap on loopback).
 */
#include "common/setup.h"

#include "sandbox/sandbox.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"          /* vx_json_parse, vx_json_dump */
#include "common/util.h"          /* vx_mono_ms */
#include "sandbox/exercise_int.h" /* http, crawl, mutate */

#define DEFAULT_HEALTH_MS  30000
#define DEFAULT_REQ_MS     5000
#define DEFAULT_MAX_REQ    500
#define DEFAULT_BUDGET_MS  60000
#define MAX_QUEUE          8192 /* crawl requests ever queued per run */
#define MAX_LINKS_PER_PAGE 512
#define MAX_ENDPOINTS      4096
#define MAX_API_OPS        1024

/* ---- a set of strings (visited targets, endpoints) -------------------------------------- */

struct strset {
    char **slot; /* open addressing; NULL = empty */
    size_t cap;  /* power of two */
    size_t n;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static bool set_has_or_add(struct strset *s, const char *key, bool add);

static void set_grow(struct strset *s)
{
    struct strset bigger = {vx_xcalloc(s->cap ? s->cap * 2 : 64, sizeof(char *)),
                            s->cap ? s->cap * 2 : 64, 0};
    size_t i;

    for (i = 0; i < s->cap; i++)
        if (s->slot[i]) {
            size_t j = fnv1a(s->slot[i]) & (bigger.cap - 1);
            while (bigger.slot[j])
                j = (j + 1) & (bigger.cap - 1);
            bigger.slot[j] = s->slot[i];
            bigger.n++;
        }
    free(s->slot);
    *s = bigger;
}

/* true if key was there; adds it when add (a copy). */
static bool set_has_or_add(struct strset *s, const char *key, bool add)
{
    size_t j;

    if ((s->n + 1) * 2 > s->cap)
        set_grow(s);
    for (j = fnv1a(key) & (s->cap - 1); s->slot[j]; j = (j + 1) & (s->cap - 1))
        if (!strcmp(s->slot[j], key))
            return true;
    if (add) {
        s->slot[j] = vx_xstrdup(key);
        s->n++;
    }
    return false;
}

static void set_release(struct strset *s)
{
    size_t i;

    for (i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof(*s));
}

/* ---- the run ---------------------------------------------------------------------------- */

struct item {
    struct vx_ex_req req;
    int port;
    bool is_doc; /* an OpenAPI/Swagger document path */
};

struct run {
    const struct vx_exercise_config *cfg;
    struct vx_exercise_report *rep;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char url_host[64]; /* "127.0.0.1", "[::1]" */
    int64_t t0, budget_end, req_timeout, max_requests;
    bool *port_up; /* per cfg->ports: accepted a connection in the health check */
    struct item *queue;
    size_t q_n, q_cap, q_head, q_total;
    struct strset visited, endpoints;
    struct item *seeds; /* requests that answered, for the fuzz stage */
    size_t n_seeds, seeds_cap;
    struct vx_buf raw;
    struct vx_http_resp resp;
    bool stopped;
};

static void set_port(struct run *r, int port)
{
    if (r->addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&r->addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&r->addr)->sin_port = htons((uint16_t)port);
}

static void host_header(const struct run *r, int port, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s:%d", r->url_host, port);
}

static bool should_stop(struct run *r, int64_t limit_requests, int64_t until)
{
    if (r->stopped)
        return true;
    if (r->cfg->should_stop && r->cfg->should_stop(r->cfg->stop_arg)) {
        r->stopped = true;
        return true;
    }
    return r->rep->requests >= limit_requests || vx_mono_ms() >= until;
}

/* Sends raw, records the outcome. endpoint_path: "METHOD /path" is recorded when it
 * answered (any status but 404/405); NULL for requests that are not endpoints. */
static enum vx_http_result send_raw(struct run *r, int port, bool head, const char *method,
                                    const char *endpoint_path, int64_t until)
{
    int64_t now = vx_mono_ms(), dl = now + r->req_timeout;
    enum vx_http_result res;
    int st;

    if (dl > until)
        dl = until;
    set_port(r, port);
    res = vx_http_exchange((struct sockaddr *)&r->addr, r->addrlen, r->raw.data, r->raw.len, head,
                           dl, &r->resp);
    st = r->resp.status;
    r->rep->requests++;
    if (res != VX_HTTP_OK)
        r->rep->errors++;
    r->rep->status_counts[st >= 100 && st < 600 ? st / 100 : 0]++;
    if (endpoint_path && st >= 100 && st != 404 && st != 405 && r->endpoints.n < MAX_ENDPOINTS) {
        char *key =
            vx_xasprintf("%s %.*s", method, (int)strcspn(endpoint_path, "?"), endpoint_path);
        set_has_or_add(&r->endpoints, key, true);
        free(key);
    }
    return res;
}

/* Queues a request unless it was seen; takes ownership of req in every case. */
static void enqueue(struct run *r, struct vx_ex_req *req, int port, bool is_doc)
{
    char *key = vx_xasprintf("%s %d %s", req->method, port, req->target);
    struct item *it;

    if (r->q_total >= MAX_QUEUE || set_has_or_add(&r->visited, key, true)) {
        free(key);
        vx_ex_req_release(req);
        return;
    }
    free(key);
    r->queue = vx_xgrow(r->queue, sizeof(*r->queue), r->q_n + 1, &r->q_cap);
    it = &r->queue[r->q_n++];
    it->req = *req;
    it->port = port;
    it->is_doc = is_doc;
    r->q_total++;
    memset(req, 0, sizeof(*req));
}

static void enqueue_get(struct run *r, int port, char *target, bool is_doc)
{
    struct vx_ex_req req = {.method = vx_xstrdup("GET"), .target = target};

    enqueue(r, &req, port, is_doc);
}

static bool looks_html(const struct vx_http_resp *resp)
{
    const char *b = vx_buf_str(&resp->body);

    if (strstr(resp->content_type, "html"))
        return true;
    if (resp->content_type[0])
        return false;
    while (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t')
        b++;
    return *b == '<';
}

/* Links, forms and redirects of a response become queued requests. */
static void harvest(struct run *r, const struct item *it)
{
    char path[VX_HTTP_MAX_TARGET + 1];
    struct vx_url_base base = {.host = r->url_host,
                               .ports = r->cfg->ports,
                               .n_ports = r->cfg->n_ports,
                               .port = it->port,
                               .path = path};
    struct vx_html_scan scan;
    char *target;
    int port;
    size_t i;

    snprintf(path, sizeof(path), "%.*s", (int)strcspn(it->req.target, "?"), it->req.target);
    if (r->resp.status >= 300 && r->resp.status < 400 && r->resp.location[0]) {
        if (vx_url_resolve(&base, r->resp.location, &port, &target) == 0)
            enqueue_get(r, port, target, false); /* another host: dropped, never followed */
        return;
    }
    if (!r->resp.body.len || !looks_html(&r->resp))
        return;
    vx_html_scan(r->resp.body.data, r->resp.body.len, MAX_LINKS_PER_PAGE, &scan);
    for (i = 0; i < scan.n_links; i++)
        if (vx_url_resolve(&base, scan.links[i], &port, &target) == 0)
            enqueue_get(r, port, target, false);
    for (i = 0; i < scan.n_forms; i++) {
        const struct vx_html_form *f = &scan.forms[i];
        struct vx_ex_req req = {0};
        const char *fields = f->fields ? f->fields : "";

        if (vx_url_resolve(&base, f->action ? f->action : path, &port, &target) < 0)
            continue;
        req.method = vx_xstrdup(f->method);
        if (!strcmp(f->method, "POST")) {
            req.target = target;
            req.body = vx_xstrdup(fields);
            req.body_len = strlen(fields);
            req.content_type = vx_xstrdup("application/x-www-form-urlencoded");
        } else {
            req.target = vx_xasprintf("%s%s%s", target, strchr(target, '?') ? "&" : "?", fields);
            free(target);
        }
        enqueue(r, &req, port, false);
    }
    vx_html_scan_release(&scan);
}

/* An OpenAPI/Swagger document: its operations join the queue. */
static void read_api_doc(struct run *r, const struct item *it)
{
    struct vx_ex_req *ops = NULL;
    size_t n = 0, cap = 0, i;
    json_t *doc = NULL;
    struct vx_err *err = NULL;

    if (r->resp.status != 200 || r->resp.truncated ||
        vx_json_parse(r->resp.body.data ? r->resp.body.data : "", r->resp.body.len, &doc, &err) <
            0) {
        vx_err_free(&err);
        return;
    }
    if (vx_openapi_requests(doc, &ops, &n, &cap, MAX_API_OPS) >= 0)
        r->rep->openapi_found = true;
    for (i = 0; i < n; i++)
        enqueue(r, &ops[i], it->port, false);
    free(ops);
    json_decref(doc);
}

static void keep_seed(struct run *r, struct item *it)
{
    r->seeds = vx_xgrow(r->seeds, sizeof(*r->seeds), r->n_seeds + 1, &r->seeds_cap);
    r->seeds[r->n_seeds++] = *it;
    memset(&it->req, 0, sizeof(it->req));
}

static void crawl(struct run *r, int64_t limit_requests, int64_t until)
{
    static const char *const docs[] = {"/openapi.json", "/swagger.json", "/v2/api-docs",
                                       "/v3/api-docs"};
    char host_hdr[96];
    size_t p, d;

    for (p = 0; p < r->cfg->n_ports; p++) {
        if (!r->port_up[p])
            continue;
        enqueue_get(r, r->cfg->ports[p], vx_xstrdup("/"), false);
        for (d = 0; d < VX_ARRAY_SIZE(docs); d++)
            enqueue_get(r, r->cfg->ports[p], vx_xstrdup(docs[d]), true);
    }
    while (r->q_head < r->q_n && !should_stop(r, limit_requests, until)) {
        struct item it = r->queue[r->q_head];
        bool head = !strcmp(it.req.method, "HEAD");

        memset(&r->queue[r->q_head++], 0, sizeof(it));
        host_header(r, it.port, host_hdr, sizeof(host_hdr));
        vx_format_request(&it.req, host_hdr, &r->raw);
        send_raw(r, it.port, head, it.req.method, it.req.target, until);
        if (it.is_doc)
            read_api_doc(r, &it);
        else
            harvest(r, &it);
        if (r->resp.status >= 100 && r->resp.status != 404 && r->resp.status != 405 && !it.is_doc)
            keep_seed(r, &it);
        vx_ex_req_release(&it.req);
    }
}

static void fuzz(struct run *r, int64_t until)
{
    struct vx_prng rng;
    char host_hdr[96];
    size_t p;

    vx_prng_seed(&rng, r->cfg->seed);
    if (r->n_seeds == 0) /* nothing answered well: mutate "/" of the live ports */
        for (p = 0; p < r->cfg->n_ports; p++) {
            struct item it = {.req = {.method = vx_xstrdup("GET"), .target = vx_xstrdup("/")},
                              .port = r->cfg->ports[p]};
            if (r->port_up[p])
                keep_seed(r, &it);
        }
    if (r->n_seeds == 0)
        return;
    while (!should_stop(r, r->max_requests, until)) {
        const struct item *it = &r->seeds[vx_prng_below(&rng, r->n_seeds)];
        enum vx_mutation kind;
        const char *method = "GET";

        host_header(r, it->port, host_hdr, sizeof(host_hdr));
        vx_mutate_request(&rng, &it->req, host_hdr, &r->raw, &method, &kind);
        /* A method swap on a known path is an endpoint when it answers; the other
         * mutations are probes, not endpoints. */
        send_raw(r, it->port, !strcmp(method, "HEAD"), method,
                 kind == VX_MUT_METHOD ? it->req.target : NULL, until);
    }
}

static void sleep_ms(int64_t ms)
{
    if (ms > 0)
        poll(NULL, 0, (int)ms);
}

static void health(struct run *r)
{
    const struct vx_exercise_config *cfg = r->cfg;
    int64_t timeout = cfg->health_timeout_ms > 0 ? cfg->health_timeout_ms : DEFAULT_HEALTH_MS;
    int64_t deadline = r->t0 + timeout, backoff = 20;
    char *last = NULL;
    size_t p;

    for (;;) {
        bool all = true;
        int64_t now;

        for (p = 0; p < cfg->n_ports; p++) {
            if (r->port_up[p])
                continue;
            set_port(r, cfg->ports[p]);
            now = vx_mono_ms();
            if (vx_http_connect_probe((struct sockaddr *)&r->addr, r->addrlen,
                                      now + 1000 < deadline ? now + 1000 : deadline) == 0)
                r->port_up[p] = true;
            else {
                all = false;
                free(last);
                last = vx_xasprintf("port %d not accepting connections", cfg->ports[p]);
            }
        }
        if (all && !cfg->health_path) {
            r->rep->health_ok = true;
            r->rep->health_ms = vx_mono_ms() - r->t0;
            r->rep->health_detail = vx_xasprintf("tcp connect to port%s %d%s after %" PRId64 " ms",
                                                 cfg->n_ports > 1 ? "s" : "", cfg->ports[0],
                                                 cfg->n_ports > 1 ? ",..." : "", r->rep->health_ms);
            break;
        }
        for (p = 0; all && p < cfg->n_ports; p++) {
            struct vx_ex_req req = {.method = (char *)"GET", .target = (char *)cfg->health_path};
            char host_hdr[96];
            enum vx_http_result res;
            int64_t dl = vx_mono_ms() + r->req_timeout;

            host_header(r, cfg->ports[p], host_hdr, sizeof(host_hdr));
            vx_format_request(&req, host_hdr, &r->raw);
            set_port(r, cfg->ports[p]);
            res = vx_http_exchange((struct sockaddr *)&r->addr, r->addrlen, r->raw.data, r->raw.len,
                                   false, dl < deadline ? dl : deadline, &r->resp);
            if (r->resp.status >= 100 && r->resp.status < 500) {
                r->rep->health_ok = true;
                r->rep->health_ms = vx_mono_ms() - r->t0;
                r->rep->health_detail =
                    vx_xasprintf("GET %s on port %d -> %d after %" PRId64 " ms", cfg->health_path,
                                 cfg->ports[p], r->resp.status, r->rep->health_ms);
                break;
            }
            free(last);
            if (r->resp.status)
                last = vx_xasprintf("GET %s on port %d -> %d", cfg->health_path, cfg->ports[p],
                                    r->resp.status);
            else
                last = vx_xasprintf("GET %s on port %d: %s", cfg->health_path, cfg->ports[p],
                                    res == VX_HTTP_E_TIMEOUT    ? "timed out"
                                    : res == VX_HTTP_E_PROTOCOL ? "not an HTTP response"
                                                                : "no response");
        }
        if (r->rep->health_ok)
            break;
        now = vx_mono_ms();
        if (now >= deadline || (cfg->should_stop && cfg->should_stop(cfg->stop_arg))) {
            r->rep->health_detail = vx_xasprintf("%s (gave up after %" PRId64 " ms)",
                                                 last ? last : "no ports", now - r->t0);
            break;
        }
        sleep_ms(backoff < deadline - now ? backoff : deadline - now);
        backoff = backoff * 2 > 200 ? 200 : backoff * 2;
    }
    free(last);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_all(struct run *r)
{
    const struct vx_exercise_config *cfg = r->cfg;
    int64_t budget = cfg->budget_ms > 0 ? cfg->budget_ms : DEFAULT_BUDGET_MS;
    int64_t start, crawl_requests = r->max_requests, crawl_until;
    bool any_up = false;
    size_t i;

    r->t0 = vx_mono_ms();
    if (cfg->n_ports == 0)
        r->rep->health_detail = vx_xstrdup("no ports to exercise");
    else
        health(r);
    for (i = 0; i < cfg->n_ports; i++)
        any_up = any_up || r->port_up[i];
    if (cfg->health_only)
        any_up = false;
    start = vx_mono_ms();
    r->budget_end = start + budget;
    crawl_until = r->budget_end;
    if (cfg->fuzz) {
        crawl_requests = r->max_requests - r->max_requests / 3;
        crawl_until = start + budget - budget / 3;
    }
    if (any_up) {
        crawl(r, crawl_requests, crawl_until);
        if (cfg->fuzz)
            fuzz(r, r->budget_end);
    }
    r->rep->n_endpoints = 0;
    r->rep->endpoints = vx_xcalloc(r->endpoints.n + 1, sizeof(char *));
    for (i = 0; i < r->endpoints.cap; i++)
        if (r->endpoints.slot[i]) {
            r->rep->endpoints[r->rep->n_endpoints++] = r->endpoints.slot[i];
            r->endpoints.slot[i] = NULL;
        }
    qsort(r->rep->endpoints, r->rep->n_endpoints, sizeof(char *), cmp_str);
    r->rep->ran_ms = vx_mono_ms() - r->t0;
}

struct thread_arg {
    struct run *run;
    int netns_fd;
    int setns_errno;
};

static void *exercise_thread(void *arg)
{
    struct thread_arg *ta = arg;

    if (setns(ta->netns_fd, CLONE_NEWNET) < 0) {
        ta->setns_errno = errno;
        return NULL;
    }
    run_all(ta->run);
    return NULL;
}

static void run_release(struct run *r)
{
    size_t i;

    for (i = r->q_head; i < r->q_n; i++)
        vx_ex_req_release(&r->queue[i].req);
    free(r->queue);
    for (i = 0; i < r->n_seeds; i++)
        vx_ex_req_release(&r->seeds[i].req);
    free(r->seeds);
    set_release(&r->visited);
    set_release(&r->endpoints);
    vx_buf_release(&r->raw);
    vx_http_resp_release(&r->resp);
    free(r->port_up);
}

int vx_exercise_run(const struct vx_exercise_config *cfg, struct vx_exercise_report *out,
                    struct vx_err **err)
{
    const char *host = cfg && cfg->host ? cfg->host : "127.0.0.1";
    struct run r = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&r.addr;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r.addr;
    size_t i;
    int rc = 0;

    if (!cfg || !out)
        return vx_err_set(err, VX_E_INVALID, 0, "exercise: no config or report");
    memset(out, 0, sizeof(*out));
    if (cfg->n_ports > 0 && !cfg->ports)
        return vx_err_set(err, VX_E_INVALID, 0, "exercise: ports missing");
    for (i = 0; i < cfg->n_ports; i++)
        if (cfg->ports[i] < 1 || cfg->ports[i] > 65535)
            return vx_err_set(err, VX_E_INVALID, 0, "exercise: port %d out of range",
                              cfg->ports[i]);
    if (cfg->health_path &&
        (cfg->health_path[0] != '/' || strlen(cfg->health_path) > VX_HTTP_MAX_TARGET ||
         strpbrk(cfg->health_path, " \r\n\t")))
        return vx_err_set(err, VX_E_INVALID, 0, "exercise: health path '%.64s' is not a path",
                          cfg->health_path);
    /* A numeric address only: no name resolution inside a namespace without DNS. */
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        r.addrlen = sizeof(*sin);
        snprintf(r.url_host, sizeof(r.url_host), "%s", host);
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        r.addrlen = sizeof(*sin6);
        snprintf(r.url_host, sizeof(r.url_host), "[%s]", host);
    } else {
        return vx_err_set(err, VX_E_INVALID, 0, "exercise: host '%.64s' is not an IP address",
                          host);
    }
    r.cfg = cfg;
    r.rep = out;
    r.req_timeout = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : DEFAULT_REQ_MS;
    r.max_requests = cfg->max_requests > 0 ? cfg->max_requests : DEFAULT_MAX_REQ;
    r.port_up = vx_xcalloc(cfg->n_ports + 1, sizeof(bool));
    vx_buf_init(&r.raw, 128u << 10);
    vx_http_resp_init(&r.resp);
    if (cfg->netns_fd >= 0) {
        struct thread_arg ta = {.run = &r, .netns_fd = cfg->netns_fd};
        pthread_t th;
        int e = pthread_create(&th, NULL, exercise_thread, &ta);
        if (e != 0) {
            rc = vx_err_set(err, VX_E_INTERNAL, e, "exercise: thread: %s", strerror(e));
            goto out;
        }
        pthread_join(th, NULL);
        if (ta.setns_errno) {
            rc = vx_err_set(err, VX_E_SANDBOX, ta.setns_errno,
                            "exercise: join network namespace: %s", strerror(ta.setns_errno));
            goto out;
        }
    } else {
        run_all(&r);
    }
out:
    run_release(&r);
    if (rc < 0)
        vx_exercise_report_release(out);
    return rc;
}

void vx_exercise_report_release(struct vx_exercise_report *r)
{
    size_t i;

    if (!r)
        return;
    free(r->health_detail);
    for (i = 0; i < r->n_endpoints; i++)
        free(r->endpoints[i]);
    free(r->endpoints);
    memset(r, 0, sizeof(*r));
}

char *vx_exercise_json(const struct vx_exercise_report *r)
{
    static const char *const classes[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    json_t *o = json_object(), *sc = json_object(), *eps = json_array();
    char *s;
    size_t i;

    for (i = 0; i < 6; i++)
        json_object_set_new(sc, classes[i], json_integer(r->status_counts[i]));
    for (i = 0; i < r->n_endpoints; i++)
        json_array_append_new(eps, json_string(r->endpoints[i]));
    json_object_set_new(o, "health_ok", json_boolean(r->health_ok));
    json_object_set_new(o, "health_ms", json_integer(r->health_ms));
    json_object_set_new(o, "health_detail",
                        r->health_detail ? json_string(r->health_detail) : json_null());
    json_object_set_new(o, "requests", json_integer(r->requests));
    json_object_set_new(o, "errors", json_integer(r->errors));
    json_object_set_new(o, "status_counts", sc);
    json_object_set_new(o, "endpoints", eps);
    json_object_set_new(o, "openapi_found", json_boolean(r->openapi_found));
    json_object_set_new(o, "ran_ms", json_integer(r->ran_ms));
    s = vx_json_dump(o);
    json_decref(o);
    return s;
}
