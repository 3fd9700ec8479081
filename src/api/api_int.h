/* api_int.h -- private to src/api/: the request context handlers work on, the route table,
 * the metrics registry and the pure submit-body parser (also used by tests and the fuzzer).
 */
#ifndef VX_API_API_INT_H
#define VX_API_API_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"    /* for struct vx_api_config */
#include "auth/auth.h"  /* for struct vx_principal (embedded in the request) */
#include "common/buf.h" /* for struct vx_buf (embedded in the request) */

struct vx_err;
struct json_t;
struct MHD_Connection;

/* ---- submit body ----------------------------------------------------------------------- */

/* Largest config.test_script, environment value, command element (DESIGN §3 limits). */
#define VX_SUBMIT_MAX_IMAGE_REF   512
#define VX_SUBMIT_MAX_URL         2048
#define VX_SUBMIT_MAX_TEST_SCRIPT (256 * 1024)
#define VX_SUBMIT_MAX_PORTS       64
#define VX_SUBMIT_MAX_ENV         256
#define VX_SUBMIT_MAX_ENV_VALUE   (32 * 1024)
#define VX_SUBMIT_MAX_COMMAND     256
#define VX_SUBMIT_MAX_COMMAND_ARG 4096

/* A validated, normalized submit request. Every string is owned by the struct (released by
 * vx_submit_req_release); optional ones are NULL when absent. */
struct vx_submit_req {
    char *image_ref;
    char *image_digest; /* "sha256:" + 64 lowercase hex */
    char *sbom_id;      /* lowercase UUID or NULL */
    char *profile;      /* minimal|standard|comprehensive|custom */
    int priority;       /* -10..10 */
    bool force;
    char *callback_url;  /* or NULL */
    char *findings_json; /* canonical JSON (sorted keys, compact) or NULL */
    char *findings_url;  /* or NULL; never set together with findings_json */
    char *config_json;   /* canonical normalized config, every default filled in */
    int test_timeout;    /* config.test_timeout, for the duration estimate */
    char cache_key[65];  /* sha256 hex, see vx_api_parse_submit */
};

/* Validates a POST /api/v1/analysis/submit body (DESIGN §3) without touching anything else:
 * pure, thread-safe, safe on any bytes. On success fills *out (caller releases it with
 * vx_submit_req_release) and returns 0. Errors: -VX_E_INVALID with (*err)->field naming the
 * offending field as a dotted path ("config.ports[2]"), or -VX_E_TOO_LARGE. *out is left
 * zeroed on error.
 *
 * cache_key = sha256 hex of
 *   image_digest "\n" sha256(findings canonical | findings_url | "") "\n"
 *   sha256(config canonical) "\n" profile */
int vx_api_parse_submit(const char *body, size_t len, struct vx_submit_req *out,
                        struct vx_err **err);
/* Frees the strings, not r itself; NULL is fine. */
void vx_submit_req_release(struct vx_submit_req *r);

/* Minutes a job is expected to take: the run (test_timeout) plus the profile's fixed cost
 * (pull, unpack, analysis), rounded up. */
int vx_api_estimate_minutes(const char *profile, int test_timeout);

/* ---- routes ---------------------------------------------------------------------------- */

enum vx_http_method {
    VX_HTTP_GET,
    VX_HTTP_POST,
    VX_HTTP_PUT,
    VX_HTTP_PATCH,
    VX_HTTP_DELETE,
    VX_HTTP_HEAD,
    VX_HTTP_OPTIONS,
    VX_HTTP_OTHER,
    VX_HTTP_METHOD_COUNT
};

enum vx_route_auth {
    VX_AUTH_NONE,  /* health, readiness, metrics, openapi */
    VX_AUTH_TOKEN, /* Authorization: Bearer, or the no-auth organization */
};

struct vx_api_req;
typedef void vx_api_handler_fn(struct vx_api_req *r);

struct vx_route {
    enum vx_http_method method;
    const char *method_name;
    const char *pattern; /* "/api/v1/analysis/{id}/status"; {id} matches a UUID segment */
    vx_api_handler_fn *handler;
    enum vx_route_auth auth;
};

/* The table built from routes.def, in match order. Static storage; *n gets the count. */
const struct vx_route *vx_api_routes(size_t *n);

/* Embedded src/api/openapi.json (generated at build time; not NUL-terminated). */
extern const unsigned char vx_api_openapi_json[];
extern const size_t vx_api_openapi_json_len;

/* ---- metrics --------------------------------------------------------------------------- */

#define VX_METRICS_SLOTS      512 /* (route, method, status) counters; open addressing */
#define VX_METRICS_BUCKETS    13  /* histogram buckets including +Inf */
#define VX_METRICS_MAX_ROUTES 32

/* Lock-free: every cell is an atomic, and a counter slot is claimed with a CAS on its key,
 * so request threads never take a lock to count. Lives inside struct vx_api. */
struct vx_metrics {
    _Atomic uint32_t key[VX_METRICS_SLOTS]; /* 0 = free, else packed route/method/status */
    _Atomic uint64_t count[VX_METRICS_SLOTS];
    _Atomic uint64_t overflow; /* requests not counted: table full */
    /* per route (index nroutes = unmatched): histogram of durations */
    _Atomic uint64_t bucket[VX_METRICS_MAX_ROUTES + 1][VX_METRICS_BUCKETS];
    _Atomic uint64_t sum_ns[VX_METRICS_MAX_ROUTES + 1];
    _Atomic uint64_t total[VX_METRICS_MAX_ROUTES + 1];
};

/* route_idx == number of routes means "no route matched". */
void vx_metrics_observe(struct vx_metrics *m, size_t route_idx, enum vx_http_method method,
                        int status, uint64_t duration_ns);
/* Appends the vexxy_http_* families in Prometheus text format. */
int vx_metrics_render_http(struct vx_metrics *m, struct vx_buf *out);

/* ---- the server and the request context ------------------------------------------------ */

struct vx_api {
    struct MHD_Daemon *daemon;
    struct vx_store *store;
    struct vx_auth *auth;
    struct vx_workers *workers;
    bool no_auth;
    size_t max_body;
    int port;
    char *listen_addr;
    char *public_url;
    _Atomic int inflight; /* requests between first byte and completion */
    struct vx_metrics metrics;
};

#define VX_API_MAX_HEADERS 4

/* One request from first byte to response. Handlers read the input fields and set the
 * response through the vx_api_reply_* helpers; they never talk to MHD directly. */
struct vx_api_req {
    struct vx_api *api;          /* borrowed */
    struct MHD_Connection *conn; /* borrowed; for headers and query arguments */
    enum vx_http_method method;
    const char *method_name;
    const char *path;              /* decoded path, borrowed from MHD */
    size_t route_idx;              /* index in vx_api_routes(), or the count */
    char id[37];                   /* the {id} segment, lowercase, or "" */
    struct vx_principal principal; /* set before a VX_AUTH_TOKEN handler runs */
    struct vx_buf body;            /* request body, capped at api->max_body */
    bool body_too_large;
    size_t discarded; /* body bytes dropped after passing the cap */
    int64_t start_ns; /* monotonic */
    char request_id[65];
    bool responded;

    /* response */
    int status;
    char *resp; /* body, owned (handed to MHD) */
    size_t resp_len;
    const char *content_type; /* static string; default application/json */
    const char *hdr_name[VX_API_MAX_HEADERS];
    char *hdr_value[VX_API_MAX_HEADERS]; /* owned */
    int nhdr;
    char *log_msg; /* error message for the log line, owned */
};

/* Sets the response to 'status' with body 'json' (stolen; may be NULL for an empty
 * object). */
void vx_api_reply_json(struct vx_api_req *r, int status, char *json);
/* Sets the response to the error body of err (status from its code); consumes *err.
 * extra (stolen, may be NULL) is added to the top-level object under extra_key. */
void vx_api_reply_err(struct vx_api_req *r, struct vx_err **err);
void vx_api_reply_err_extra(struct vx_api_req *r, struct vx_err **err, const char *extra_key,
                            struct json_t *extra);
/* Sets a raw response body (copied) with a static content type. */
void vx_api_reply_raw(struct vx_api_req *r, int status, const char *content_type, const char *data,
                      size_t len);
/* A JSON string for s: null for NULL; bytes that are not valid UTF-8 become '?'. New ref. */
struct json_t *vx_api_jstr(const char *s);
/* RFC 3339 string for ms since the epoch, or null for 0. New ref. */
struct json_t *vx_api_jtime(int64_t ms);
/* Shortcut: error of 'code' with a message and an optional field. */
void vx_api_reply_error(struct vx_api_req *r, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds a response header (value copied). At most VX_API_MAX_HEADERS. */
void vx_api_add_header(struct vx_api_req *r, const char *name, const char *value);
/* Request header or query argument, borrowed from MHD; NULL if absent. */
const char *vx_api_header(struct vx_api_req *r, const char *name);
const char *vx_api_query(struct vx_api_req *r, const char *name);
/* -VX_E_INVALID naming the first query argument not in 'allowed' (NULL-terminated), or a
 * repeated one. */
int vx_api_query_check(struct vx_api_req *r, const char *const *allowed, struct vx_err **err);

/* Handlers (h_sys.c, h_jobs.c): routes.def names them h_<x>; the symbol is vx_api_h_<x>, so
 * the library exports only vx_-prefixed names. */
#define VX_ROUTE(m, pattern, handler, auth) vx_api_handler_fn vx_api_##handler;
#include "api/routes.def"
#undef VX_ROUTE

#endif
