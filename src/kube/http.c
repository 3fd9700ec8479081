/* http.c -- one Kubernetes API request over libcurl: TLS and credentials, the response cap,
 * Status -> vexxy error mapping, retries; and the conveniences over it (create, get, list,
 * delete, logs).
 *
 * DESIGN
 * - TLS is always verified (VERIFYPEER + VERIFYHOST) against the configured CA (file or an
 *   in-memory blob), else the system store. Client certificates likewise. Only https, or
 *   http when the server is a loopback address (config.c decided), is allowed to curl, and
 *   redirects are never followed: the bearer token must not leave for another host.
 * - A 2xx body is capped at KUBE_BODY_MAX (VX_E_TOO_LARGE past it); a non-2xx body is kept
 *   up to KUBE_ERRBODY_MAX for its Status. Logs keep the last max_bytes instead (a
 *   2*max_bytes window slid as bytes arrive), so a chatty container costs bounded memory.
 * - Retries: 429, 5xx and transport failures are retried max_retries times after
 *   backoff_ms, 2*backoff_ms, ... (capped at 30 s, a quarter of jitter so workers that failed
 *   together do not retry together; a Retry-After of up to 30 s is honoured). A POST is not
 *   idempotent: it is retried only when it cannot have been processed (no connection, 429,
 *   503). TLS verification failures are never retried.
 * - The easy handle lives in struct vx_kube and is reset per request, keeping curl's
 *   connection cache (keep-alive) across requests. Watches use their own handle (watch.c),
 *   so an on_event callback may issue requests.
 */
#include "common/setup.h"

#include "kube/kube.h"

#include <ctype.h>
#include <curl/curl.h> /* the HTTP client */
#include <jansson.h>
#include <time.h>

#include "kube/kube_int.h"  /* struct vx_kube, vx_kube_setup_handle */
#include "common/alloc.h"   /* vx_xasprintf */
#include "common/buf.h"     /* vx_buf: capped bodies */
#include "common/cleanup.h" /* vx_steal_ptr */
#include "common/err.h"     /* vx_err_set */
#include "common/json.h"    /* vx_json_parse, vx_json_dump */
#include "common/util.h"    /* vx_random_bytes */

#define BACKOFF_MAX_MS 30000
#define TAIL_MAX       (256u << 20)

struct resp {
    CURL *h;
    long status;
    struct vx_buf body;    /* 2xx body (SINK_BODY) */
    struct vx_buf errbody; /* non-2xx body: the Status */
    bool tail_mode;        /* logs: keep the last tail_max bytes */
    size_t tail_max;
    char *tail;
    size_t tail_len;
    bool too_large;
    int64_t retry_after_ms;
};

static bool is_2xx(long s)
{
    return s >= 200 && s < 300;
}

static void tail_add(struct resp *rs, const char *p, size_t len)
{
    size_t max = rs->tail_max;

    if (len >= max) {
        memcpy(rs->tail, p + len - max, max);
        rs->tail_len = max;
        return;
    }
    if (rs->tail_len + len > 2 * max) {
        size_t keep = max - len; /* of the old bytes, only these can still be in the end */

        memmove(rs->tail, rs->tail + rs->tail_len - keep, keep);
        rs->tail_len = keep;
    }
    memcpy(rs->tail + rs->tail_len, p, len);
    rs->tail_len += len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct resp *rs = ud;
    size_t len = size * n;

    curl_easy_getinfo(rs->h, CURLINFO_RESPONSE_CODE, &rs->status);
    if (!is_2xx(rs->status)) {
        size_t room = rs->errbody.max - rs->errbody.len;

        vx_buf_add(&rs->errbody, p, len < room ? len : room); /* the start is enough */
        return len;
    }
    if (rs->tail_mode) {
        tail_add(rs, p, len);
        return len;
    }
    if (vx_buf_add(&rs->body, p, len) < 0) {
        rs->too_large = true;
        return 0;
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct resp *rs = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    int64_t secs = 0;

    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        for (size_t i = sizeof(name) - 1; i < len; i++) {
            if (isdigit((unsigned char)p[i]) && secs < 3600)
                secs = secs * 10 + (p[i] - '0');
            else if (!isspace((unsigned char)p[i]))
                break;
        }
        rs->retry_after_ms = secs * 1000;
    }
    return len;
}

void vx_kube_setup_handle(struct vx_kube *k, CURL *h, const char *url, struct curl_slist **hdrs)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, k->plain_http ? "http" : "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "vexxy/" VX_VERSION);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)k->timeout_ms);
    if (k->ca.data) {
        struct curl_blob b = {k->ca.data, k->ca.len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else if (k->ca.file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, k->ca.file);
    }
    if (k->cert.data) {
        struct curl_blob b = {k->cert.data, k->cert.len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
    } else if (k->cert.file) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, k->cert.file);
    }
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    if (k->key.data) {
        struct curl_blob b = {k->key.data, k->key.len, CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
    } else if (k->key.file) {
        curl_easy_setopt(h, CURLOPT_SSLKEY, k->key.file);
    }
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    vx_kube_refresh_token(k);
    if (k->token && *k->token) {
        char *line = vx_xasprintf("Authorization: Bearer %s", k->token);

        *hdrs = curl_slist_append(*hdrs, line);
        explicit_bzero(line, strlen(line));
        free(line);
    }
    *hdrs = curl_slist_append(*hdrs, "Accept: application/json");
}

/* The printable start of an unexpected body, for messages. Caller frees. */
static char *excerpt(const char *body, size_t len)
{
    size_t n = len < 300 ? len : 300;
    char *s = vx_xstrndup(body, n);

    for (size_t i = 0; s[i]; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s[i] = ' ';
    }
    return s;
}

int vx_kube_status_err(long status, const char *body, size_t len, const char *what,
                       struct vx_err **err)
{
    json_t *st = NULL;
    const char *msg = NULL, *reason = NULL;
    char *ex = NULL;
    enum vx_code code;
    int rc;

    if (len > 0 && vx_json_parse(body, len, &st, NULL) == 0 && json_is_object(st)) {
        msg = vx_json_str(st, "message");
        reason = vx_json_str(st, "reason");
    }
    switch (status) {
    case 400:
        code = VX_E_INVALID;
        break;
    case 401:
        code = VX_E_UNAUTHORIZED;
        break;
    case 403:
        code = msg && strstr(msg, "exceeded quota") ? VX_E_QUOTA : VX_E_FORBIDDEN;
        break;
    case 404:
        code = VX_E_NOT_FOUND;
        break;
    case 409:
    case 410:
        code = VX_E_CONFLICT;
        break;
    case 422:
        code = VX_E_UNPROCESSABLE;
        break;
    case 429:
        code = VX_E_UNAVAILABLE;
        break;
    default:
        code = status >= 500 ? VX_E_UNAVAILABLE : VX_E_INVALID;
        break;
    }
    if (!msg)
        msg = ex = len > 0 ? excerpt(body, len) : vx_xstrdup("(no body)");
    rc = vx_err_set(err, code, 0, "%s: %ld%s%s: %s", what, status, reason ? " " : "",
                    reason ? reason : "", msg);
    free(ex);
    json_decref(st);
    return rc;
}

int vx_kube_curl_err(CURLcode cc, const char *errbuf, const char *what, struct vx_err **err)
{
    const char *detail = errbuf && *errbuf ? errbuf : curl_easy_strerror(cc);
    bool tls = cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
               cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
               cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;

    return vx_err_set(err, VX_E_NETWORK, 0, "%s: %s%s", what, tls ? "tls: " : "", detail);
}

bool vx_kube_curl_retriable(CURLcode cc, bool idempotent)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return true; /* nothing was sent */
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return idempotent;
    default:
        return false;
    }
}

bool vx_kube_sleep(int64_t ms, bool (*should_stop)(void *arg), void *arg)
{
    int64_t end = vx_mono_ms() + ms;

    for (;;) {
        int64_t left = end - vx_mono_ms();
        struct timespec ts;

        if (should_stop && should_stop(arg))
            return false;
        if (left <= 0)
            return true;
        if (left > 50)
            left = 50;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

char *vx_kube_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *r;

    if (!e)
        return vx_xstrdup("");
    r = vx_xstrdup(e);
    curl_free(e);
    return r;
}

static bool ok_chars(const char *s, const char *extra)
{
    if (!s || !*s || strstr(s, ".."))
        return false;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(extra, *s)))
            return false;
    }
    return true;
}

int vx_kube_path(struct vx_kube *k, const char *api, const char *plural, const char *name,
                 char **out, struct vx_err **err)
{
    if (!ok_chars(api, "./-") || api[0] == '/' || !ok_chars(plural, ""))
        return vx_err_set(err, VX_E_INVALID, 0, "kubernetes resource '%s/%s' is not valid",
                          api ? api : "", plural ? plural : "");
    if (name && (!ok_chars(name, ".-") || name[0] == '.' || strlen(name) > 253))
        return vx_err_set(err, VX_E_INVALID, 0, "kubernetes object name '%s' is not valid", name);
    if (name)
        *out = vx_xasprintf("/%s/namespaces/%s/%s/%s", api, k->namespace_, plural, name);
    else
        *out = vx_xasprintf("/%s/namespaces/%s/%s", api, k->namespace_, plural);
    return 0;
}

static int64_t backoff(struct vx_kube *k, int attempt, int64_t retry_after_ms)
{
    int64_t ms = k->backoff_ms;
    uint32_t r;

    for (int i = 0; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    vx_random_bytes(&r, sizeof(r));
    ms += (int64_t)(r % (uint32_t)(ms / 4 + 1));
    if (retry_after_ms > ms)
        ms = retry_after_ms < BACKOFF_MAX_MS ? retry_after_ms : BACKOFF_MAX_MS;
    return ms;
}

/* One request with retries. The 2xx body is in rs (body or tail); *status as in kube.h. */
static int kube_do(struct vx_kube *k, const char *method, const char *path, const char *body,
                   struct resp *rs, long *status, struct vx_err **err)
{
    bool idempotent = strcmp(method, "POST") != 0 && strcmp(method, "PATCH") != 0;
    char *url = NULL, *what = NULL, errbuf[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL;
    CURLcode cc;
    int rc = 0;

    *status = 0;
    if (!path || path[0] != '/')
        return vx_err_set(err, VX_E_INVALID, 0, "kubernetes path '%s' is not absolute",
                          path ? path : "");
    url = vx_xasprintf("%s%s", k->server, path);
    what = vx_xasprintf("kubernetes %s %s", method, path);
    for (int attempt = 0;; attempt++) {
        bool retry;

        vx_buf_release(&rs->body);
        vx_buf_release(&rs->errbody);
        rs->tail_len = 0;
        rs->status = 0;
        rs->too_large = false;
        rs->retry_after_ms = 0;
        rs->h = k->h;
        errbuf[0] = '\0';
        curl_slist_free_all(hdrs);
        hdrs = NULL;
        vx_kube_setup_handle(k, k->h, url, &hdrs);
        if (body) {
            hdrs = curl_slist_append(hdrs, strcmp(method, "PATCH") == 0
                                               ? "Content-Type: application/merge-patch+json"
                                               : "Content-Type: application/json");
            curl_easy_setopt(k->h, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(k->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        }
        if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
            curl_easy_setopt(k->h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(k->h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(k->h, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
        curl_easy_setopt(k->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(k->h, CURLOPT_WRITEDATA, rs);
        curl_easy_setopt(k->h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(k->h, CURLOPT_HEADERDATA, rs);
        curl_easy_setopt(k->h, CURLOPT_ERRORBUFFER, errbuf);
        cc = curl_easy_perform(k->h);
        if (cc == CURLE_OK)
            curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &rs->status);
        if (rs->too_large) {
            rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "%s: response over %zu bytes", what,
                            rs->body.max);
            goto out;
        }
        if (cc == CURLE_OK && is_2xx(rs->status)) {
            *status = rs->status;
            goto out;
        }
        if (cc != CURLE_OK)
            retry = vx_kube_curl_retriable(cc, idempotent);
        else if (idempotent)
            retry = rs->status == 429 || rs->status >= 500;
        else
            retry = rs->status == 429 || rs->status == 503;
        if (retry && attempt < k->max_retries) {
            vx_kube_sleep(backoff(k, attempt, rs->retry_after_ms), NULL, NULL);
            continue;
        }
        if (cc != CURLE_OK) {
            rc = vx_kube_curl_err(cc, errbuf, what, err);
        } else {
            *status = rs->status;
            rc = vx_kube_status_err(rs->status, rs->errbody.data, rs->errbody.len, what, err);
        }
        if (attempt > 0)
            vx_err_wrap(err, "after %d attempts", attempt + 1);
        goto out;
    }
out:
    curl_easy_setopt(k->h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdrs);
    free(url);
    free(what);
    return rc;
}

int vx_kube_request(struct vx_kube *k, const char *method, const char *path, const json_t *body,
                    json_t **out, long *status, struct vx_err **err)
{
    struct resp rs = {.body = VX_BUF_INIT(KUBE_BODY_MAX), .errbody = VX_BUF_INIT(KUBE_ERRBODY_MAX)};
    char *text = body ? vx_json_dump(body) : NULL;
    json_t *v = NULL;
    long st = 0;
    int rc;

    rc = kube_do(k, method, path, text, &rs, &st, err);
    if (status)
        *status = st;
    if (rc < 0)
        goto out;
    if (out && rs.body.len > 0) {
        rc = vx_json_parse(rs.body.data, rs.body.len, &v, err);
        if (rc < 0) {
            vx_err_wrap(err, "kubernetes %s %s: response", method, path);
            goto out;
        }
    }
    if (out)
        *out = v;
    v = NULL;
out:
    json_decref(v);
    free(text);
    vx_buf_release(&rs.body);
    vx_buf_release(&rs.errbody);
    return rc;
}

int vx_kube_create(struct vx_kube *k, const char *api, const char *plural, const json_t *obj,
                   json_t **out, struct vx_err **err)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = vx_json_str(md, "name");
    char *path = NULL;
    int rc;

    if (!name)
        name = vx_json_str(md, "generateName");
    rc = vx_kube_path(k, api, plural, NULL, &path, err);
    if (rc == 0)
        rc = vx_kube_request(k, "POST", path, obj, out, NULL, err);
    if (rc < 0)
        vx_err_wrap(err, "create %s '%s' in namespace '%s'", plural, name ? name : "",
                    k->namespace_);
    free(path);
    return rc;
}

int vx_kube_get(struct vx_kube *k, const char *api, const char *plural, const char *name,
                json_t **out, struct vx_err **err)
{
    char *path = NULL;
    int rc;

    rc = vx_kube_path(k, api, plural, name, &path, err);
    if (rc == 0)
        rc = vx_kube_request(k, "GET", path, NULL, out, NULL, err);
    if (rc < 0)
        vx_err_wrap(err, "get %s '%s' in namespace '%s'", plural, name ? name : "", k->namespace_);
    free(path);
    return rc;
}

int vx_kube_list(struct vx_kube *k, const char *api, const char *plural, const char *label_selector,
                 json_t **out, struct vx_err **err)
{
    char *path = NULL, *full = NULL, *sel = NULL;
    int rc;

    rc = vx_kube_path(k, api, plural, NULL, &path, err);
    if (rc < 0)
        goto out;
    if (label_selector && *label_selector) {
        sel = vx_kube_escape(label_selector);
        full = vx_xasprintf("%s?labelSelector=%s", path, sel);
    } else {
        full = vx_xstrdup(path);
    }
    rc = vx_kube_request(k, "GET", full, NULL, out, NULL, err);
out:
    if (rc < 0)
        vx_err_wrap(err, "list %s in namespace '%s'%s%s%s", plural, k->namespace_,
                    sel ? " with labels '" : "", sel ? label_selector : "", sel ? "'" : "");
    free(path);
    free(full);
    free(sel);
    return rc;
}

int vx_kube_delete(struct vx_kube *k, const char *api, const char *plural, const char *name,
                   const char *propagation, struct vx_err **err)
{
    struct vx_err *e = NULL;
    json_t *opts = NULL;
    char *path = NULL;
    int rc;

    rc = vx_kube_path(k, api, plural, name, &path, err);
    if (rc < 0)
        goto out;
    if (propagation) {
        opts = json_pack("{s:s, s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions",
                         "propagationPolicy", propagation);
    }
    rc = vx_kube_request(k, "DELETE", path, opts, NULL, NULL, &e);
    if (rc == -VX_E_NOT_FOUND) {
        vx_err_free(&e); /* already gone: what the caller wanted */
        rc = 0;
    } else if (rc < 0) {
        if (err && !*err)
            *err = vx_steal_ptr(&e);
        vx_err_wrap(err, "delete %s '%s' in namespace '%s'", plural, name, k->namespace_);
    }
out:
    vx_err_free(&e);
    json_decref(opts);
    free(path);
    return rc;
}

int vx_kube_logs(struct vx_kube *k, const char *pod, const char *container, size_t max_bytes,
                 char **out, struct vx_err **err)
{
    struct resp rs = {.body = VX_BUF_INIT(KUBE_BODY_MAX), .errbody = VX_BUF_INIT(KUBE_ERRBODY_MAX)};
    char *path = NULL, *full = NULL, *c = NULL;
    long st;
    int rc;

    rc = vx_kube_path(k, "api/v1", "pods", pod, &path, err);
    if (rc < 0)
        goto out;
    if (container) {
        c = vx_kube_escape(container);
        full = vx_xasprintf("%s/log?container=%s", path, c);
    } else {
        full = vx_xasprintf("%s/log", path);
    }
    rs.tail_mode = true;
    rs.tail_max = max_bytes < TAIL_MAX ? max_bytes : TAIL_MAX;
    rs.tail = vx_xmalloc(2 * rs.tail_max + 1);
    rc = kube_do(k, "GET", full, NULL, &rs, &st, err);
    if (rc < 0)
        goto out;
    if (rs.tail_len > rs.tail_max) {
        memmove(rs.tail, rs.tail + rs.tail_len - rs.tail_max, rs.tail_max);
        rs.tail_len = rs.tail_max;
    }
    *out = vx_xstrndup(rs.tail, rs.tail_len);
out:
    if (rc < 0)
        vx_err_wrap(err, "logs of pod '%s' container '%s' in namespace '%s'", pod ? pod : "",
                    container ? container : "", k->namespace_);
    free(rs.tail);
    vx_buf_release(&rs.body);
    vx_buf_release(&rs.errbody);
    free(path);
    free(full);
    free(c);
    return rc;
}
