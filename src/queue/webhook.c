/* webhook.c -- the background sender of signed webhook deliveries.
 *
 * DESIGN
 * A delivery is a row in the store, enqueued in the same transaction as the job's terminal
 * state change, so the worker that finished a job never waits on a customer's endpoint.
 * One sender thread per process loops:
 *   claim (the store pushes the row's next_attempt_at by a lease, so another sender leaves
 *   it alone while we talk to the endpoint) -> POST -> record the attempt: a 2xx is
 *   delivered; anything else is pending again at now + backoff_ms * 2^(attempt - 1), or
 *   failed for good once max_attempts attempts were made (or at once when the URL can
 *   never work: unsupported scheme, malformed URL).
 * When there is nothing due it sleeps on a condvar for poll_ms. vx_webhooks_stop() signals
 * the condvar and curl's progress callback aborts an in-flight request, so stopping waits
 * for neither the poll interval nor a slow endpoint. An aborted request records nothing:
 * the claim lease runs out and the delivery is sent again later. Delivery is therefore
 * at-least-once; receivers deduplicate on X-Vexxy-Delivery.
 *
 * Each request: POST of the stored payload, "Content-Type: application/json",
 * "User-Agent: vexxy/<version>", "X-Vexxy-Signature: sha256=<hex HMAC-SHA256(secret,
 * body)>", "X-Vexxy-Delivery: <id>", "X-Vexxy-Event: <payload's "event">" (left out when the
 * payload has no plain "event" string); total timeout timeout_ms; no redirects; only http
 * and https; no signals (we are one thread of many).
 *
 * Locking: w->mu guards 'stopping' for the condvar; 'abort_io' mirrors it for curl's
 * callback, which must not block.
 */
#include "common/setup.h"

#include <pthread.h>
#include <stdatomic.h>
#include <curl/curl.h>

#include "queue/queue.h"
#include "common/alloc.h" /* for vx_xcalloc(), vx_xstrdup() */
#include "common/err.h"
#include "common/json.h" /* for vx_json_parse(), to read the payload's "event" */
#include "common/log.h"
#include "common/util.h" /* for vx_now_ms(), vx_hmac_sha256_hex() */

#define MAX_DELAY_MS     (24LL * 3600 * 1000) /* cap of one retry delay */
#define MAX_HEADER_VALUE 128

struct vx_webhooks {
    struct vx_webhooks_config cfg; /* cfg.secret points at 'secret' */
    char *secret;
    struct vx_store *store; /* borrowed */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;        /* guarded by mu */
    atomic_bool abort_io; /* read by curl's progress callback */
};

/* Waits up to ms on the condvar; returns true if stopping. Caller does not hold mu. */
static bool wait_ms(struct vx_webhooks *w, int64_t ms)
{
    struct timespec ts;
    bool stopping;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    if (!w->stopping)
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    stopping = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return stopping;
}

static bool is_stopping(struct vx_webhooks *w)
{
    bool s;

    pthread_mutex_lock(&w->mu);
    s = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* A header value we put on the wire must not smuggle CR/LF or anything odd. */
static bool header_safe(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        char c = s[n];

        if (n >= MAX_HEADER_VALUE)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':'))
            return false;
    }
    return n > 0;
}

/* Appends one header line; curl only fails here on OOM, which we treat like vx_xmalloc. */
static struct curl_slist *add_header(struct curl_slist *list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static struct curl_slist *add_header(struct curl_slist *list, const char *fmt, ...)
{
    struct curl_slist *r;
    char *line;
    va_list ap;

    va_start(ap, fmt);
    line = vx_xvasprintf(fmt, ap);
    va_end(ap);
    r = curl_slist_append(list, line);
    free(line);
    if (!r) {
        vx_error("out of memory building webhook headers");
        abort();
    }
    return r;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    return size * nmemb; /* the receiver's answer is not needed, only its status */
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct vx_webhooks *w = arg;

    return atomic_load(&w->abort_io) ? 1 : 0;
}

/* The payload's "event" (e.g. "job.complete") if it is a plain token, else NULL. Caller
 * frees. */
static char *payload_event(const char *body, size_t len)
{
    json_t *v = NULL;
    const char *ev;
    char *r = NULL;

    if (vx_json_parse(body, len, &v, NULL) < 0)
        return NULL;
    ev = vx_json_str(v, "event");
    if (ev && header_safe(ev))
        r = vx_xstrdup(ev);
    json_decref(v);
    return r;
}

static int64_t retry_delay_ms(int64_t base, int attempt)
{
    int shift = attempt - 1 < 0 ? 0 : (attempt - 1 > 30 ? 30 : attempt - 1);
    int64_t d;

    if (base <= 0)
        base = 1;
    if (__builtin_mul_overflow(base, (int64_t)1 << shift, &d) || d > MAX_DELAY_MS)
        d = MAX_DELAY_MS;
    return d;
}

static void deliver(struct vx_webhooks *w, const struct vx_webhook_rec *rec)
{
    const char *body = rec->payload ? rec->payload : "";
    size_t len = strlen(body);
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char sig[65], *event = NULL, *error = NULL;
    bool delivered = false, permanent = false;
    int attempt = rec->attempts + 1;
    int64_t next = 0;
    struct vx_err *err = NULL;
    long status = 0;
    CURLcode res;
    CURL *c;

    c = curl_easy_init();
    if (!c) {
        error = vx_xstrdup("curl_easy_init failed");
        goto record;
    }
    vx_hmac_sha256_hex(w->secret, strlen(w->secret), body, len, sig);
    event = payload_event(body, len);
    hdrs = add_header(hdrs, "Content-Type: application/json");
    hdrs = add_header(hdrs, "X-Vexxy-Signature: sha256=%s", sig);
    if (header_safe(rec->id))
        hdrs = add_header(hdrs, "X-Vexxy-Delivery: %s", rec->id);
    if (event)
        hdrs = add_header(hdrs, "X-Vexxy-Event: %s", event);
    hdrs = add_header(hdrs, "Expect:"); /* no 100-continue round trip */

    curl_easy_setopt(c, CURLOPT_URL, rec->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vexxy/" VX_VERSION);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->cfg.timeout_ms);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the string form; the bitmask is deprecated */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

    res = curl_easy_perform(c);
    if (res == CURLE_ABORTED_BY_CALLBACK && atomic_load(&w->abort_io)) {
        vx_info("webhook %s: interrupted by shutdown; it will be sent again", rec->id);
        goto out;
    }
    if (res == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300)
            delivered = true;
        else
            error = vx_xasprintf("http status %ld", status);
    } else {
        error = vx_xstrdup(errbuf[0] ? errbuf : curl_easy_strerror(res));
        permanent = res == CURLE_UNSUPPORTED_PROTOCOL || res == CURLE_URL_MALFORMAT;
    }

record:
    if (!delivered && !permanent && attempt < w->cfg.max_attempts)
        next = vx_now_ms() + retry_delay_ms(w->cfg.backoff_ms, attempt);
    if (vx_store_webhook_result(w->store, rec->id, delivered, (int)status, error, next, &err) < 0) {
        vx_warn("webhook %s: recording the attempt: %s", rec->id, err->msg);
        vx_err_free(&err);
    } else if (delivered) {
        vx_debug("webhook %s: delivered to '%s' (http %ld)", rec->id, rec->url, status);
    } else {
        vx_warn("webhook %s: attempt %d to '%s' failed: %s%s", rec->id, attempt, rec->url, error,
                next ? "; will retry" : "; giving up");
    }
out:
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    free(event);
    free(error);
}

static void *sender_main(void *arg)
{
    struct vx_webhooks *w = arg;
    /* long enough to cover one request; a sender that dies mid-request frees the row
     * after this */
    int64_t lease = w->cfg.timeout_ms * 2 + 5000;

    while (!is_stopping(w)) {
        struct vx_webhook_rec *rec = NULL;
        struct vx_err *err = NULL;

        if (vx_store_webhook_claim(w->store, vx_now_ms(), lease, &rec, &err) < 0) {
            vx_warn("webhooks: claim: %s", err->msg);
            vx_err_free(&err);
            wait_ms(w, w->cfg.poll_ms);
            continue;
        }
        if (!rec) {
            wait_ms(w, w->cfg.poll_ms);
            continue;
        }
        deliver(w, rec);
        vx_webhook_rec_free(rec);
    }
    return NULL;
}

int vx_webhooks_start(const struct vx_webhooks_config *cfg, struct vx_store *store,
                      struct vx_webhooks **out, struct vx_err **err)
{
    struct vx_webhooks *w;
    pthread_condattr_t ca;
    int rc;

    if (!cfg->secret || !*cfg->secret)
        return vx_err_set(err, VX_E_INVALID, 0, "webhook signing secret is empty");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return vx_err_set(err, VX_E_INTERNAL, 0, "curl_global_init failed");
    w = vx_xcalloc(1, sizeof(*w));
    w->cfg = *cfg;
    w->secret = vx_xstrdup(cfg->secret);
    w->cfg.secret = w->secret;
    w->store = store;
    if (w->cfg.max_attempts <= 0)
        w->cfg.max_attempts = 8;
    if (w->cfg.backoff_ms <= 0)
        w->cfg.backoff_ms = 2000;
    if (w->cfg.timeout_ms <= 0)
        w->cfg.timeout_ms = 10000;
    if (w->cfg.poll_ms <= 0)
        w->cfg.poll_ms = 500;
    atomic_init(&w->abort_io, false);
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&w->thread, NULL, sender_main, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w->secret);
        free(w);
        curl_global_cleanup();
        return vx_err_set(err, VX_E_INTERNAL, rc, "start webhook sender thread");
    }
    *out = w;
    return 0;
}

void vx_webhooks_stop(struct vx_webhooks *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    atomic_store(&w->abort_io, true);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    explicit_bzero(w->secret, strlen(w->secret));
    free(w->secret);
    free(w);
    curl_global_cleanup();
}
