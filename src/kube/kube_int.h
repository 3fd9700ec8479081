/* kube_int.h -- private to src/kube/ (and its unit tests): the client's state and the
 * helpers config.c, http.c and watch.c share.
 */
#ifndef VX_KUBE_KUBE_INT_H
#define VX_KUBE_KUBE_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;
struct vx_buf;

#define KUBE_BODY_MAX     (16u << 20) /* one response (a List of a namespace's pods) */
#define KUBE_ERRBODY_MAX  65536u      /* the body of a non-2xx answer: a Status */
#define KUBE_LINE_MAX     (4u << 20)  /* one watch event */
#define KUBE_TOKEN_MAX    65536u      /* a token file */
#define KUBE_TOKEN_REREAD 60000       /* ms: bound service-account tokens rotate */

/* Credentials: a file path or in-memory bytes (from *-data fields; never written to disk). */
struct kube_pem {
    char *file; /* owned, or NULL */
    char *data; /* owned decoded bytes, or NULL */
    size_t len;
};

struct vx_kube {
    char *server;     /* "https://host:port[/prefix]", no trailing '/' */
    char *namespace_; /* never NULL */
    char *source;     /* "kubeconfig '<path>' context '<name>'" or "in-cluster service account" */
    bool plain_http;  /* http:// to a loopback address (tests) */
    char *token;      /* bearer token, or NULL */
    char *token_file; /* re-read every KUBE_TOKEN_REREAD ms when set */
    int64_t token_read_ms;
    struct kube_pem ca, cert, key;
    int max_retries;
    int64_t backoff_ms;
    int64_t timeout_ms;
    CURL *h; /* reused between requests for keep-alive */
};

/* config.c */
/* Reads a whole small file (at most max bytes) into a new NUL-terminated string. */
int vx_kube_read_file(const char *path, size_t max, char **out, size_t *len, struct vx_err **err);
/* Re-reads k->token_file when it is due; a failed re-read keeps the old token. */
void vx_kube_refresh_token(struct vx_kube *k);
/* Strict base64 (whitespace skipped). Caller owns *out. Returns 0 or -1. */
int vx_kube_base64_decode(const char *in, char **out, size_t *len);

/* http.c */
/* Sets the connection, TLS and credential options shared by requests and watches on h
 * (after curl_easy_reset); hdrs gets the Authorization header appended (caller frees). */
void vx_kube_setup_handle(struct vx_kube *k, CURL *h, const char *url, struct curl_slist **hdrs);
/* Maps a non-2xx answer (its body, possibly a Status) to a vx error: see kube.h. 'what' is
 * "GET /api/v1/..." for the message. Returns -code. */
int vx_kube_status_err(long status, const char *body, size_t len, const char *what,
                    struct vx_err **err);
/* Maps a transport failure to VX_E_NETWORK with curl's message. Returns -code. */
int vx_kube_curl_err(CURLcode cc, const char *errbuf, const char *what, struct vx_err **err);
/* true for curl failures worth retrying (connection refused/reset, timeouts). TLS
 * verification failures are not. Without 'idempotent' only failures where nothing can have
 * reached the server (no connection) are. */
bool vx_kube_curl_retriable(CURLcode cc, bool idempotent);
/* Sleeps ms in short slices; returns false early when should_stop says so. */
bool vx_kube_sleep(int64_t ms, bool (*should_stop)(void *arg), void *arg);
/* Percent-encodes s for a query value (caller frees with free(3)). */
char *vx_kube_escape(const char *s);
/* Collection path "/<api>/namespaces/<ns>/<plural>[/<name>]"; name may be NULL. Fails on
 * names that could escape the path. */
int vx_kube_path(struct vx_kube *k, const char *api, const char *plural, const char *name, char **out,
              struct vx_err **err);

#endif
