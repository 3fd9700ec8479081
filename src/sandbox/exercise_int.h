/* exercise_int.h -- the HTTP exerciser's pieces, private to the sandbox module.
 *
 * http.c: one request over a fresh TCP connection (non-blocking connect, poll, deadline)
 * and an incremental HTTP/1.1 response parser (Content-Length, chunked, read-to-close,
 * capped body). crawl.c: a tolerant HTML tag scanner (links, forms), reference
 * resolution against the page and the target host, and OpenAPI/Swagger documents turned
 * into requests. mutate.c: the seeded PRNG and the request mutations of the fuzz stage.
 * exercise.c composes them (vx_exercise_run). The fuzz target tests/fuzz/fuzz_http.c and
 * tests/unit/sandbox/test_exercise.c use these declarations directly.
 */
#ifndef VX_SANDBOX_EXERCISE_INT_H
#define VX_SANDBOX_EXERCISE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"

#include <jansson.h>

#define VX_HTTP_MAX_BODY   (1u << 20) /* response bodies kept; the rest is not read */
#define VX_HTTP_MAX_HEADER (64u << 10)
#define VX_HTTP_MAX_TARGET 4096 /* a crawled request target longer than this is dropped */

/* ---- http.c ----------------------------------------------------------------------------- */

struct vx_http_resp {
    int status;             /* 100..599, 0 if no valid status line arrived */
    char content_type[128]; /* lowercased, parameters cut; "" if absent */
    char location[1024];    /* Location header (redirects); "" if absent */
    struct vx_buf body;     /* decoded (de-chunked) body, capped at VX_HTTP_MAX_BODY */
    bool truncated;         /* the body was longer than the cap (not an error) */
};

void vx_http_resp_init(struct vx_http_resp *r);
void vx_http_resp_release(struct vx_http_resp *r);

enum vx_http_parse { VX_HTTP_MORE = 0, VX_HTTP_DONE = 1, VX_HTTP_BAD = -1 };

/* Incremental response parser; feed bytes as they arrive. */
struct vx_http_parser {
    struct vx_http_resp *resp; /* borrowed; filled */
    bool head;                 /* the request was HEAD: no body whatever the headers say */
    int state;
    int64_t left;     /* bytes left of a Content-Length body or the current chunk */
    struct vx_buf in; /* unconsumed input */
};

void vx_http_parser_init(struct vx_http_parser *p, struct vx_http_resp *resp, bool head);
void vx_http_parser_release(struct vx_http_parser *p);
/* Returns VX_HTTP_MORE (need more input), VX_HTTP_DONE or VX_HTTP_BAD (malformed). After
 * DONE or BAD further input is ignored. */
int vx_http_parser_feed(struct vx_http_parser *p, const char *data, size_t len);
/* The peer closed: DONE if that ends the message (read-to-close body), else BAD. */
int vx_http_parser_eof(struct vx_http_parser *p);

/* Outcome of one exchange. */
enum vx_http_result {
    VX_HTTP_OK = 0,        /* a complete response (possibly with a truncated body) */
    VX_HTTP_E_CONNECT = 1, /* refused, unreachable, or connect timeout */
    VX_HTTP_E_TIMEOUT = 2, /* connected but the response did not complete in time */
    VX_HTTP_E_CLOSED = 3,  /* the peer closed or reset before the response completed */
    VX_HTTP_E_PROTOCOL = 4 /* the response was not HTTP/1.x */
};

/* Connects to addr, writes req[0..len) and reads one response (the request should say
 * "Connection: close"), all before deadline_ms (vx_mono_ms clock). resp->status is set
 * whenever a status line arrived, even if the exchange then failed. */
enum vx_http_result vx_http_exchange(const struct sockaddr *addr, socklen_t addrlen,
                                     const char *req, size_t len, bool head, int64_t deadline_ms,
                                     struct vx_http_resp *resp);
/* Only the TCP handshake (health check). Returns 0 when it succeeded before deadline. */
int vx_http_connect_probe(const struct sockaddr *addr, socklen_t addrlen, int64_t deadline_ms);

/* ---- crawl.c ---------------------------------------------------------------------------- */

struct vx_html_form {
    char *action; /* raw attribute value, NULL = the page itself */
    char *method; /* "GET" or "POST" (upper-cased; others become GET) */
    char *fields; /* "name=value&..." urlencoded sample values */
};

struct vx_html_scan {
    char **links; /* raw href/src values, entity-decoded, in document order */
    size_t n_links;
    struct vx_html_form *forms;
    size_t n_forms;
};

/* Scans html for href/src/action attributes and forms (inputs, textareas, selects); at
 * most max_items links and max_items forms are kept. Tolerant: never fails. */
void vx_html_scan(const char *html, size_t len, size_t max_items, struct vx_html_scan *out);
void vx_html_scan_release(struct vx_html_scan *s);

/* Where a reference on a page leads, if it stays on the target. */
struct vx_url_base {
    const char *host; /* the target host as written in URLs ("127.0.0.1", "[::1]") */
    const int *ports; /* the ports being exercised */
    size_t n_ports;
    int port;         /* the page's port */
    const char *path; /* the page's path (no query) */
};
/* Resolves ref against base: "http://host[:port]/p", "//host/p", "/p", "p", "?q". Returns 0
 * with *port and *target (caller frees: a normalised "/path[?query]", dot segments removed,
 * fragment cut, bytes outside printable ASCII %-encoded) or -1 when the reference is
 * skipped (another host or port, another scheme, empty, too long). */
int vx_url_resolve(const struct vx_url_base *base, const char *ref, int *port, char **target);
/* Removes "." and ".." segments of an absolute path in place (RFC 3986 5.2.4). */
void vx_url_remove_dots(char *path);

/* A request the crawler or the OpenAPI reader wants sent. */
struct vx_ex_req {
    char *method;
    char *target;       /* "/path?query" */
    char *content_type; /* NULL without body */
    char *body;
    size_t body_len;
};
void vx_ex_req_release(struct vx_ex_req *r);

/* Turns an OpenAPI 3 or Swagger 2 document into one request per path and method, parameters
 * filled from examples, defaults, enums or types, JSON bodies from schemas ($ref followed
 * within the document, bounded depth). Returns the number of requests appended to *reqs
 * (grown with vx_xgrow; at most max), or -1 if doc is not such a document. */
int vx_openapi_requests(const json_t *doc, struct vx_ex_req **reqs, size_t *n, size_t *cap,
                        size_t max);

/* ---- mutate.c --------------------------------------------------------------------------- */

/* splitmix64: small, fast, and the same sequence for the same seed everywhere. */
struct vx_prng {
    uint64_t s;
};
void vx_prng_seed(struct vx_prng *r, uint64_t seed);
uint64_t vx_prng_next(struct vx_prng *r);
/* Uniform in [0, n); n > 0. */
uint64_t vx_prng_below(struct vx_prng *r, uint64_t n);

/* What a mutation did (the endpoint of a method swap is recorded as reached). */
enum vx_mutation {
    VX_MUT_METHOD,
    VX_MUT_TRAVERSAL,
    VX_MUT_LONG_SEGMENT,
    VX_MUT_PCT,
    VX_MUT_QUERY,
    VX_MUT_BODY,
    VX_MUT_HEADER,
    VX_MUT_REQUEST_LINE,
    VX_MUT_COUNT
};

/* Builds one raw mutated request from seed request r into out (cleared first; out's cap
 * should allow ~80 KiB). host_hdr is the Host header value ("127.0.0.1:8080"). *method_out
 * receives the method sent (static storage) and *kind the mutation applied. */
void vx_mutate_request(struct vx_prng *rng, const struct vx_ex_req *r, const char *host_hdr,
                       struct vx_buf *out, const char **method_out, enum vx_mutation *kind);
/* A well-formed raw request (the crawl's). */
void vx_format_request(const struct vx_ex_req *r, const char *host_hdr, struct vx_buf *out);

#endif
