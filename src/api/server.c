/* server.c -- the HTTP side of the REST API: libmicrohttpd daemon, routing, auth, body
 * caps, response helpers, request logging and metrics.
 *
 * DESIGN
 * MHD runs its own thread pool (cfg->threads threads, each with an epoll loop, or poll where
 * epoll is unavailable). A request goes through on_request() up to three times: first with
 * the headers only (we route, allocate the request context and refuse an oversized
 * Content-Length at once, before reading a byte of body), then once per chunk of body
 * (appended to a capped vx_buf; a streamed body that passes the cap gets 413 too), then a
 * last time with no data, when the handler runs. Handlers only call the store, never a job's
 * work, so a pool thread is never held for long. on_completed() frees the context whatever
 * happened to the connection. All mutable state lives in struct vx_api (the metrics are
 * atomics inside it); the route table is const.
 *
 * Every response is JSON (except /metrics) and carries X-Request-Id; errors use the body
 * {"error":{"code","message","field"}} with the status of vx_code_http().
 */
#include "common/setup.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <jansson.h>
#include <microhttpd.h>

#include "api/api.h"
#include "api/api_int.h"
#include "auth/auth.h"    /* for vx_auth_check() */
#include "store/store.h"  /* for vx_store_org_ensure() */
#include "common/alloc.h" /* for vx_xcalloc(), vx_xstrdup() */
#include "common/err.h"
#include "common/json.h" /* for vx_json_dump() */
#include "common/log.h"
#include "common/util.h" /* for vx_uuid4(), vx_uuid_valid(), vx_time_iso8601() */

#define DEFAULT_MAX_BODY     (10u * 1024 * 1024)
#define CONNECTION_LIMIT     1024
#define CONNECTION_TIMEOUT_S 30
#define CONNECTION_MEMORY    (64 * 1024) /* request line + headers per connection */
#define STOP_DRAIN_MS        10000       /* how long vx_api_stop waits for in-flight requests */

/* ---- route table --------------------------------------------------------------------- */

static const struct vx_route routes[] = {
#define VX_ROUTE(m, pattern, handler, auth) {VX_HTTP_##m, #m, pattern, vx_api_##handler, auth},
#include "api/routes.def"
#undef VX_ROUTE
};

_Static_assert(VX_ARRAY_SIZE(routes) <= VX_METRICS_MAX_ROUTES, "raise VX_METRICS_MAX_ROUTES");

const struct vx_route *vx_api_routes(size_t *n)
{
    *n = VX_ARRAY_SIZE(routes);
    return routes;
}

static enum vx_http_method method_of(const char *m)
{
    static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};

    for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++)
        if (strcmp(m, names[i]) == 0)
            return (enum vx_http_method)i;
    return VX_HTTP_OTHER;
}

/* Matches path against pattern segment by segment. {id} takes one UUID segment, copied
 * lowercase into id. *bad_id is set when the path would match with a non-UUID there. */
static bool route_match(const char *pattern, const char *path, char id[37], bool *bad_id)
{
    const char *p = pattern, *s = path;
    bool saw_bad = false;

    while (*p && *s) {
        if (strncmp(p, "{id}", 4) == 0) {
            size_t n = strcspn(s, "/");
            char seg[37];

            if (n == 0)
                return false;
            if (n == 36) {
                memcpy(seg, s, 36);
                seg[36] = '\0';
            }
            if (n == 36 && vx_uuid_valid(seg)) {
                for (int i = 0; i < 36; i++)
                    id[i] = (char)((seg[i] >= 'A' && seg[i] <= 'F') ? seg[i] - 'A' + 'a' : seg[i]);
                id[36] = '\0';
            } else {
                saw_bad = true;
            }
            p += 4;
            s += n;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*p || *s)
        return false;
    if (saw_bad) {
        *bad_id = true;
        return false;
    }
    return true;
}

/* ---- response helpers ------------------------------------------------------------------ */

json_t *vx_api_jstr(const char *s)
{
    json_t *v;
    char *copy;

    if (!s)
        return json_null();
    v = json_string(s);
    if (v)
        return v;
    /* not valid UTF-8 (a message quoting client bytes): keep ASCII, mask the rest */
    copy = vx_xstrdup(s);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v ? v : json_null();
}

json_t *vx_api_jtime(int64_t ms)
{
    char ts[32];

    if (ms <= 0)
        return json_null();
    return json_string(vx_time_iso8601(ms, ts, sizeof(ts)));
}

static void set_body(struct vx_api_req *r, int status, const char *ctype, char *data, size_t len)
{
    free(r->resp);
    r->resp = data;
    r->resp_len = len;
    r->status = status;
    r->content_type = ctype;
}

void vx_api_reply_json(struct vx_api_req *r, int status, char *json)
{
    if (!json)
        json = vx_xstrdup("{}");
    set_body(r, status, "application/json", json, strlen(json));
}

void vx_api_reply_raw(struct vx_api_req *r, int status, const char *content_type, const char *data,
                      size_t len)
{
    char *copy = vx_xmalloc(len + 1);

    memcpy(copy, data, len);
    copy[len] = '\0';
    set_body(r, status, content_type, copy, len);
}

void vx_api_reply_err_extra(struct vx_api_req *r, struct vx_err **err, const char *extra_key,
                            json_t *extra)
{
    enum vx_code code = (err && *err) ? (*err)->code : VX_E_INTERNAL;
    json_t *root = json_object(), *e = json_object();

    json_object_set_new(e, "code", json_string(vx_code_str(code)));
    json_object_set_new(e, "message",
                        vx_api_jstr(err && *err && (*err)->msg ? (*err)->msg : "internal error"));
    if (err && *err && (*err)->field)
        json_object_set_new(e, "field", vx_api_jstr((*err)->field));
    json_object_set_new(root, "error", e);
    if (extra_key && extra)
        json_object_set_new(root, extra_key, extra);
    else
        json_decref(extra);
    free(r->log_msg);
    r->log_msg = vx_xstrdup(err && *err && (*err)->msg ? (*err)->msg : "internal error");
    vx_api_reply_json(r, vx_code_http(code), vx_json_dump(root));
    json_decref(root);
    vx_err_free(err);
}

void vx_api_reply_err(struct vx_api_req *r, struct vx_err **err)
{
    vx_api_reply_err_extra(r, err, NULL, NULL);
}

void vx_api_reply_error(struct vx_api_req *r, int code, const char *field, const char *fmt, ...)
{
    struct vx_err *err = NULL;
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = vx_xvasprintf(fmt, ap);
    va_end(ap);
    if (field)
        vx_err_field(&err, (enum vx_code)code, field, "%s", msg);
    else
        vx_err_set(&err, (enum vx_code)code, 0, "%s", msg);
    free(msg);
    vx_api_reply_err(r, &err);
}

void vx_api_add_header(struct vx_api_req *r, const char *name, const char *value)
{
    if (r->nhdr >= VX_API_MAX_HEADERS)
        return;
    r->hdr_name[r->nhdr] = name;
    r->hdr_value[r->nhdr] = vx_xstrdup(value);
    r->nhdr++;
}

const char *vx_api_header(struct vx_api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *vx_api_query(struct vx_api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_check {
    const char *const *allowed;
    const char *bad; /* first offending key, borrowed from MHD */
    bool repeated;
    const char *seen[16];
    int nseen;
};

static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct query_check *qc = cls;
    bool known = false;

    for (const char *const *a = qc->allowed; *a; a++)
        if (strcmp(key, *a) == 0)
            known = true;
    if (!known) {
        qc->bad = key;
        return MHD_NO;
    }
    for (int i = 0; i < qc->nseen; i++) {
        if (strcmp(qc->seen[i], key) == 0) {
            qc->bad = key;
            qc->repeated = true;
            return MHD_NO;
        }
    }
    if (qc->nseen < (int)VX_ARRAY_SIZE(qc->seen))
        qc->seen[qc->nseen++] = key;
    return MHD_YES;
}

int vx_api_query_check(struct vx_api_req *r, const char *const *allowed, struct vx_err **err)
{
    struct query_check qc = {.allowed = allowed};
    char f[97];
    size_t n;

    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, on_query_arg, &qc);
    if (!qc.bad)
        return 0;
    /* echo at most 96 bytes of the client's key, cut on a UTF-8 boundary */
    n = strlen(qc.bad);
    if (n > 96) {
        n = 96;
        while (n > 0 && ((unsigned char)qc.bad[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(f, qc.bad, n);
    f[n] = '\0';
    if (qc.repeated)
        return vx_err_field(err, VX_E_INVALID, f, "query parameter '%s' is repeated", f);
    return vx_err_field(err, VX_E_INVALID, f, "unknown query parameter '%s'", f);
}

/* ---- request lifecycle ----------------------------------------------------------------- */

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A client-supplied X-Request-Id is echoed when it is short and plain; otherwise (or when
 * absent) we mint a UUID, so logs and responses always correlate. */
static void set_request_id(struct vx_api_req *r)
{
    const char *h = vx_api_header(r, "X-Request-Id");
    size_t n = h ? strlen(h) : 0;
    bool ok = n > 0 && n < sizeof(r->request_id);

    for (size_t i = 0; ok && i < n; i++) {
        char c = h[i];

        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.' || c == ':';
    }
    if (ok)
        memcpy(r->request_id, h, n + 1);
    else
        vx_uuid4(r->request_id);
}

static void req_free(struct vx_api_req *r)
{
    if (!r)
        return;
    vx_buf_release(&r->body);
    free(r->resp);
    for (int i = 0; i < r->nhdr; i++)
        free(r->hdr_value[i]);
    free(r->log_msg);
    free(r);
}

static enum MHD_Result send_reply(struct vx_api_req *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    uint64_t dur;

    if (r->status == 0)
        vx_api_reply_error(r, VX_E_INTERNAL, NULL, "handler produced no response");
    resp = MHD_create_response_from_buffer(r->resp_len, r->resp, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO;
    r->resp = NULL; /* MHD frees it with free(3) */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < r->nhdr; i++)
        MHD_add_response_header(resp, r->hdr_name[i], r->hdr_value[i]);
    ret = MHD_queue_response(r->conn, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    r->responded = true;

    dur = (uint64_t)(mono_ns() - r->start_ns);
    vx_metrics_observe(&r->api->metrics, r->route_idx, r->method, r->status, dur);
    if (r->status >= 500)
        vx_warn("api: %s %s -> %d (%.1f ms) rid=%s org=%s: %s", r->method_name, r->path, r->status,
                (double)dur / 1e6, r->request_id, r->principal.org_id,
                r->log_msg ? r->log_msg : "");
    else
        vx_debug("api: %s %s -> %d (%.1f ms) rid=%s org=%s%s%s", r->method_name, r->path, r->status,
                 (double)dur / 1e6, r->request_id, r->principal.org_id, r->log_msg ? ": " : "",
                 r->log_msg ? r->log_msg : "");
    return ret;
}

static void add_allow(struct vx_api_req *r, const char *path)
{
    char allow[96] = "";
    size_t len = 0;
    char id[37];

    for (size_t i = 0; i < VX_ARRAY_SIZE(routes); i++) {
        bool bad = false;

        if (!route_match(routes[i].pattern, path, id, &bad) || strstr(allow, routes[i].method_name))
            continue;
        len += (size_t)snprintf(allow + len, sizeof(allow) - len, "%s%s", len ? ", " : "",
                                routes[i].method_name);
        if (len >= sizeof(allow))
            break;
    }
    vx_api_add_header(r, "Allow", allow);
}

/* Finds the route; on a miss replies 404 or 405 and returns false. */
static bool route(struct vx_api_req *r)
{
    enum vx_http_method m = r->method == VX_HTTP_HEAD ? VX_HTTP_GET : r->method;
    bool path_known = false, bad_id = false;

    for (size_t i = 0; i < VX_ARRAY_SIZE(routes); i++) {
        char id[37] = "";

        if (!route_match(routes[i].pattern, r->path, id, &bad_id))
            continue;
        path_known = true;
        if (routes[i].method == m) {
            r->route_idx = i;
            memcpy(r->id, id, sizeof(id));
            return true;
        }
    }
    if (path_known) {
        add_allow(r, r->path);
        vx_api_reply_error(r, VX_E_METHOD, NULL, "method '%s' is not allowed on '%s'",
                           r->method_name, r->path);
    } else if (bad_id) {
        vx_api_reply_error(r, VX_E_NOT_FOUND, NULL, "not found: ids are uuids");
    } else {
        vx_api_reply_error(r, VX_E_NOT_FOUND, NULL, "no such endpoint");
    }
    return false;
}

static bool authenticate(struct vx_api_req *r)
{
    const struct vx_route *rt = &routes[r->route_idx];
    struct vx_err *err = NULL;
    const char *h;

    if (rt->auth == VX_AUTH_NONE)
        return true;
    if (r->api->no_auth) {
        snprintf(r->principal.org_id, sizeof(r->principal.org_id), "%s", VX_API_NOAUTH_ORG);
        snprintf(r->principal.subject, sizeof(r->principal.subject), "no-auth");
        return true;
    }
    h = vx_api_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || !*h)
        vx_err_set(&err, VX_E_UNAUTHORIZED, 0, "missing bearer token");
    else
        vx_auth_check(r->api->auth, h, &r->principal, &err);
    if (!err)
        return true;
    if (err->code == VX_E_UNAUTHORIZED)
        vx_api_add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"vexxy\"");
    memset(&r->principal, 0, sizeof(r->principal));
    vx_api_reply_err(r, &err);
    return false;
}

static void dispatch(struct vx_api_req *r)
{
    if (r->body_too_large) {
        vx_api_reply_error(r, VX_E_TOO_LARGE, NULL, "request body is larger than %zu bytes",
                           r->api->max_body);
        return;
    }
    if (r->status) /* routing already answered */
        return;
    if (!authenticate(r))
        return;
    routes[r->route_idx].handler(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct vx_api *api = cls;
    struct vx_api_req *r = *con_cls;

    if (!r) {
        const char *cl;
        int64_t n;

        r = vx_xcalloc(1, sizeof(*r));
        r->api = api;
        r->conn = conn;
        r->start_ns = mono_ns();
        r->method = method_of(method);
        r->method_name = method;
        r->path = url;
        r->route_idx = VX_ARRAY_SIZE(routes);
        vx_buf_init(&r->body, api->max_body);
        set_request_id(r);
        atomic_fetch_add(&api->inflight, 1);
        *con_cls = r;
        route(r);
        /* refuse a declared oversized body before reading any of it */
        cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && (vx_parse_i64(cl, 0, INT64_MAX, &n) < 0 || (uint64_t)n > api->max_body)) {
            r->body_too_large = true;
            dispatch(r);
            return send_reply(r);
        }
        return MHD_YES;
    }
    if (r->responded) {
        *upload_data_size = 0; /* an early reply went out; drop whatever still arrives */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!r->body_too_large && vx_buf_add(&r->body, upload_data, *upload_data_size) < 0) {
            r->body_too_large = true;
            vx_buf_release(&r->body);
        }
        /* MHD cannot answer in the middle of an upload, so a streamed body over the cap is
         * drained and answered 413 at its end -- but only up to one more cap's worth: past
         * that the client is not going to stop, and the connection is dropped. */
        if (r->body_too_large) {
            r->discarded += *upload_data_size;
            if (r->discarded > api->max_body) {
                vx_debug("api: %s %s: streamed body passed twice the cap, closing rid=%s",
                         r->method_name, r->path, r->request_id);
                return MHD_NO;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    dispatch(r);
    return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct vx_api *api = cls;
    struct vx_api_req *r = *con_cls;

    if (!r)
        return;
    req_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&api->inflight, 1);
}

VX_PRINTF(2, 0) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    vx_debug("api: libmicrohttpd: %s", msg);
}

/* ---- start / stop ---------------------------------------------------------------------- */

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        /* ::ffff:127.x.y.z is the IPv4 loopback seen through a dual-stack socket */
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

static int parse_listen(const char *addr, int port, struct sockaddr_storage *ss,
                        struct vx_err **err)
{
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(addr);

    memset(ss, 0, sizeof(*ss));
    if (port < 0 || port > 65535)
        return vx_err_set(err, VX_E_INVALID, 0, "port %d is out of range", port);
    if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        return 0;
    }
    /* accept "[::1]" as well as "::1" */
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']' && n - 2 < sizeof(buf)) {
        memcpy(buf, addr + 1, n - 2);
        buf[n - 2] = '\0';
        addr = buf;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    return vx_err_set(err, VX_E_INVALID, 0, "listen address '%s' is not an ipv4 or ipv6 literal",
                      addr);
}

static struct MHD_Daemon *start_daemon(struct vx_api *api, const struct sockaddr_storage *ss,
                                       int threads, bool epoll)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;

    flags |= epoll ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (ss->ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, api, MHD_OPTION_SOCK_ADDR,
                            (const struct sockaddr *)ss, MHD_OPTION_THREAD_POOL_SIZE,
                            (unsigned int)threads, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned int)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned int)CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)CONNECTION_MEMORY, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                            (unsigned int)1, MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, api, MHD_OPTION_END);
}

int vx_api_start(const struct vx_api_config *cfg, struct vx_api **out, struct vx_err **err)
{
    struct sockaddr_storage ss;
    struct vx_api *api = NULL;
    const char *addr = cfg->listen_addr && *cfg->listen_addr ? cfg->listen_addr : "127.0.0.1";
    int threads = cfg->threads > 0 ? cfg->threads : 2;
    const union MHD_DaemonInfo *info;
    bool epoll;
    int rc;

    if (!cfg->store)
        return vx_err_set(err, VX_E_INVALID, 0, "the api needs a store");
    if (threads > 256)
        return vx_err_set(err, VX_E_INVALID, 0, "%d api threads is more than 256", threads);
    rc = parse_listen(addr, cfg->port, &ss, err);
    if (rc < 0)
        return rc;
    if (cfg->no_auth && !is_loopback(&ss))
        return vx_err_set(err, VX_E_INVALID, 0,
                          "refusing to serve without authentication on '%s': --no-auth is "
                          "allowed on a loopback address only",
                          addr);
    if (!cfg->no_auth && !cfg->auth)
        return vx_err_set(err, VX_E_INVALID, 0, "the api needs an authenticator (or no_auth)");
    if (cfg->no_auth) {
        rc = vx_store_org_ensure(cfg->store, VX_API_NOAUTH_ORG, "local", -1, NULL, err);
        if (rc < 0)
            return vx_err_wrap(err, "create the no-auth organization '%s'", VX_API_NOAUTH_ORG);
    }

    api = vx_xcalloc(1, sizeof(*api));
    api->store = cfg->store;
    api->auth = cfg->auth;
    api->workers = cfg->workers;
    api->no_auth = cfg->no_auth;
    api->max_body = cfg->max_body_bytes ? cfg->max_body_bytes : DEFAULT_MAX_BODY;
    api->listen_addr = vx_xstrdup(addr);
    atomic_init(&api->inflight, 0);

    epoll = MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES;
    api->daemon = start_daemon(api, &ss, threads, epoll);
    if (!api->daemon && epoll) {
        vx_debug("api: epoll daemon failed to start, retrying with poll");
        api->daemon = start_daemon(api, &ss, threads, false);
    }
    if (!api->daemon) {
        rc = vx_err_set(err, VX_E_IO, errno, "listen on '%s' port %d: %s", addr, cfg->port,
                        errno ? strerror(errno) : "libmicrohttpd failed to start");
        goto out;
    }
    info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info ? (int)info->port : cfg->port;
    if (cfg->public_url && *cfg->public_url)
        api->public_url = vx_xstrdup(cfg->public_url);
    else if (ss.ss_family == AF_INET6)
        api->public_url = vx_xasprintf("http://[%s]:%d", addr, api->port);
    else
        api->public_url = vx_xasprintf("http://%s:%d", addr, api->port);
    vx_debug("api: serving on %s port %d with %d thread(s), %s, body cap %zu bytes", addr,
             api->port, threads, epoll ? "epoll" : "poll", api->max_body);
    *out = api;
    api = NULL;
    rc = 0;
out:
    vx_api_stop(api);
    return rc;
}

int vx_api_port(const struct vx_api *api)
{
    return api ? api->port : 0;
}

void vx_api_stop(struct vx_api *api)
{
    if (!api)
        return;
    if (api->daemon) {
        int64_t deadline = vx_mono_ms() + STOP_DRAIN_MS;
        MHD_socket ls = MHD_quiesce_daemon(api->daemon);

        /* no new connections from here; let requests already being handled finish */
        while (atomic_load(&api->inflight) > 0 && vx_mono_ms() < deadline) {
            struct timespec ts = {0, 10 * 1000 * 1000};

            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(api->daemon);
        if (ls != MHD_INVALID_SOCKET)
            close(ls);
    }
    free(api->listen_addr);
    free(api->public_url);
    free(api);
}
