/* watch.c -- vx_kube_watch: a Kubernetes watch stream that survives dropped connections
 * and expired resourceVersions, and stops promptly when asked.
 *
 * DESIGN
 * - The stream is GET <collection>?watch=true&resourceVersion=RV: one JSON event per line
 *   of a chunked body. Bytes are cut into lines in a buffer capped at KUBE_LINE_MAX (an
 *   event longer than that is VX_E_TOO_LARGE); each event's object carries the
 *   resourceVersion we resume from.
 * - Stopping: the transfer runs on a curl multi handle polled in 100 ms slices; between
 *   slices should_stop and the deadline are checked, so a cancel takes effect within about
 *   100 ms even when the server sends nothing. Backoff sleeps are sliced the same way.
 * - Reconnecting: a stream that ends (server timeout, dropped connection) is reopened from
 *   the last resourceVersion at once when it had been useful (an event, or open for a
 *   second); a connection that fails or closes at once counts as a failure: backoff, and
 *   after max_retries failures in a row, VX_E_NETWORK / VX_E_UNAVAILABLE. 429 and 5xx
 *   answers are failures too; other non-2xx answers end the watch with their error.
 * - 410 Gone (an HTTP answer, or an ERROR event with code 410: the resourceVersion left
 *   the server's window): re-list, deliver the items as ADDED, watch on from the list's
 *   resourceVersion. Changes between our last event and the list are seen only as the
 *   list's state (a deleted object is simply absent).
 * - The watch has its own easy handle: on_event may call the vx_kube_* request functions.
 */
#include "common/setup.h"

#include "kube/kube.h"

#include <curl/curl.h> /* the multi interface for sliced polling */
#include <jansson.h>

#include "kube/kube_int.h"  /* vx_kube_setup_handle, vx_kube_status_err */
#include "common/alloc.h"   /* vx_xasprintf */
#include "common/buf.h"     /* the line buffer */
#include "common/cleanup.h" /* vx_steal_ptr */
#include "common/err.h"     /* vx_err_set */
#include "common/json.h"    /* vx_json_parse */
#include "common/util.h"    /* vx_mono_ms */

#define POLL_MS          100
#define SERVER_TIMEOUT_S 290 /* the server closes the stream; we reopen it */
#define USEFUL_MS        1000

struct wstate {
    struct vx_kube *k;
    CURL *h;
    vx_kube_event_fn on_event;
    void *arg;
    struct vx_buf line;
    struct vx_buf errbody; /* non-2xx body, or the Status of an ERROR event */
    char *rv;              /* owned: where to resume */
    long status;           /* HTTP status, or the code of an ERROR event */
    bool got_event;
    bool done;             /* on_event returned false */
    bool error_event;      /* an ERROR event ended the stream */
    struct vx_err *cb_err; /* a failure inside the write callback */
};

static void set_rv(struct wstate *w, const json_t *obj)
{
    const char *rv = vx_json_str(json_object_get(obj, "metadata"), "resourceVersion");

    if (rv && *rv) {
        free(w->rv);
        w->rv = vx_xstrdup(rv);
    }
}

/* One event line; returns false to abort the transfer. */
static bool handle_line(struct wstate *w, const char *s, size_t len)
{
    json_t *ev = NULL, *obj;
    const char *type;
    bool go_on = true;

    while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' '))
        len--;
    if (len == 0)
        return true;
    if (vx_json_parse(s, len, &ev, &w->cb_err) < 0) {
        vx_err_wrap(&w->cb_err, "watch event");
        return false;
    }
    type = vx_json_str(ev, "type");
    obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        vx_err_set(&w->cb_err, VX_E_INVALID, 0, "watch event without type or object");
        go_on = false;
    } else if (strcmp(type, "ERROR") == 0) {
        char *dump = vx_json_dump(obj);
        json_int_t code = json_integer_value(json_object_get(obj, "code"));

        w->status = code > 0 ? (long)code : 500;
        w->error_event = true;
        vx_buf_release(&w->errbody);
        vx_buf_adds(&w->errbody, dump);
        free(dump);
        go_on = false;
    } else {
        set_rv(w, obj);
        w->got_event = true;
        if (!w->on_event(type, obj, w->arg)) {
            w->done = true;
            go_on = false;
        }
    }
    json_decref(ev);
    return go_on;
}

static size_t on_stream(char *p, size_t size, size_t n, void *ud)
{
    struct wstate *w = ud;
    size_t len = size * n, i = 0;

    curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &w->status);
    if (w->status < 200 || w->status >= 300) {
        size_t room = w->errbody.max - w->errbody.len;

        vx_buf_add(&w->errbody, p, len < room ? len : room);
        return len;
    }
    while (i < len) {
        char *nl = memchr(p + i, '\n', len - i);
        size_t seg = nl ? (size_t)(nl - (p + i)) : len - i;
        bool ok;

        if (vx_buf_add(&w->line, p + i, seg) < 0) {
            vx_err_set(&w->cb_err, VX_E_TOO_LARGE, 0, "watch event over %u bytes", KUBE_LINE_MAX);
            return 0;
        }
        i += seg;
        if (!nl)
            break;
        i++;
        ok = handle_line(w, vx_buf_str(&w->line), w->line.len);
        w->line.len = 0;
        if (!ok)
            return 0;
    }
    return len;
}

enum wend { W_ENDED, W_STOPPED, W_TIMEOUT };

/* One connection: runs until the stream ends, the callback aborts it, should_stop or the
 * deadline (0 = none). *cc is curl's result for the transfer. */
static enum wend watch_once(struct wstate *w, const char *url, bool (*should_stop)(void *),
                            void *arg, int64_t deadline, CURLcode *cc, char *errbuf)
{
    struct curl_slist *hdrs = NULL;
    CURLM *m = curl_multi_init();
    enum wend end = W_ENDED;
    int running = 1;

    *cc = CURLE_OK;
    vx_kube_setup_handle(w->k, w->h, url, &hdrs);
    curl_easy_setopt(w->h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(w->h, CURLOPT_ERRORBUFFER, errbuf);
    /* a silent half-dead connection: the server would have ended the stream by now */
    curl_easy_setopt(w->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(w->h, CURLOPT_LOW_SPEED_TIME, (long)SERVER_TIMEOUT_S + 30);
    curl_multi_add_handle(m, w->h);
    for (;;) {
        CURLMsg *msg;
        int left;

        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg == CURLMSG_DONE)
                *cc = msg->data.result;
        }
        if (!running)
            break;
        if (should_stop && should_stop(arg)) {
            end = W_STOPPED;
            break;
        }
        if (deadline && vx_mono_ms() >= deadline) {
            end = W_TIMEOUT;
            break;
        }
        curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
    }
    if (!w->error_event) {
        long st = 0;

        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &st);
        if (st)
            w->status = st; /* also for a non-2xx answer without a body */
    }
    curl_multi_remove_handle(m, w->h);
    curl_multi_cleanup(m);
    curl_slist_free_all(hdrs);
    return end;
}

/* Lists the collection: w->rv = the list's resourceVersion; items delivered as ADDED when
 * 'deliver' (w->done set if on_event says stop). */
static int relist(struct wstate *w, const char *api, const char *plural, const char *sel,
                  bool deliver, struct vx_err **err)
{
    json_t *list = NULL, *items, *it;
    size_t i;
    int rc;

    rc = vx_kube_list(w->k, api, plural, sel, &list, err);
    if (rc < 0)
        return rc;
    set_rv(w, list);
    items = json_object_get(list, "items");
    if (deliver) {
        json_array_foreach(items, i, it)
        {
            if (!w->on_event("ADDED", it, w->arg)) {
                w->done = true;
                break;
            }
        }
    }
    json_decref(list);
    return 0;
}

/* Sleeps ms, or less when should_stop / the deadline come first. */
static enum wend wsleep(int64_t ms, bool (*should_stop)(void *), void *arg, int64_t deadline)
{
    if (deadline && vx_mono_ms() + ms > deadline)
        ms = deadline - vx_mono_ms();
    if (ms > 0 && !vx_kube_sleep(ms, should_stop, arg))
        return W_STOPPED;
    if (deadline && vx_mono_ms() >= deadline)
        return W_TIMEOUT;
    return W_ENDED;
}

static int64_t wbackoff(const struct vx_kube *k, int failures)
{
    int64_t ms = k->backoff_ms;

    for (int i = 1; i < failures && ms < 30000; i++)
        ms *= 2;
    return ms < 30000 ? ms : 30000;
}

int vx_kube_watch(struct vx_kube *k, const char *api, const char *plural,
                  const char *label_selector, const char *resource_version, int64_t timeout_ms,
                  vx_kube_event_fn on_event, void *arg, bool (*should_stop)(void *arg),
                  struct vx_err **err)
{
    struct wstate w = {
        .k = k,
        .on_event = on_event,
        .arg = arg,
        .line = VX_BUF_INIT(KUBE_LINE_MAX),
        .errbody = VX_BUF_INIT(KUBE_ERRBODY_MAX),
    };
    int64_t deadline = timeout_ms > 0 ? vx_mono_ms() + timeout_ms : 0;
    char *path = NULL, *sel = NULL, *url = NULL, *what = NULL, errbuf[CURL_ERROR_SIZE];
    int failures = 0, rc;
    enum wend end;

    rc = vx_kube_path(k, api, plural, NULL, &path, err);
    if (rc < 0)
        goto out;
    what = vx_xasprintf("watch %s in namespace '%s'", plural, k->namespace_);
    w.h = curl_easy_init();
    if (!w.h) {
        rc = vx_err_set(err, VX_E_INTERNAL, 0, "curl_easy_init failed");
        goto out;
    }
    if (label_selector && *label_selector)
        sel = vx_kube_escape(label_selector);
    if (resource_version && *resource_version) {
        w.rv = vx_xstrdup(resource_version);
    } else {
        rc = relist(&w, api, plural, label_selector, false, err); /* "now" */
        if (rc < 0)
            goto out;
    }
    for (;;) {
        int64_t t0 = vx_mono_ms();
        CURLcode cc;
        char *rvq = vx_kube_escape(w.rv ? w.rv : "0");

        free(url);
        url = vx_xasprintf("%s%s?watch=true&allowWatchBookmarks=true&timeoutSeconds=%d"
                           "&resourceVersion=%s%s%s",
                           k->server, path, SERVER_TIMEOUT_S, rvq, sel ? "&labelSelector=" : "",
                           sel ? sel : "");
        free(rvq);
        vx_buf_release(&w.line);
        vx_buf_release(&w.errbody);
        w.status = 0;
        w.got_event = false;
        w.error_event = false;
        errbuf[0] = '\0';
        end = watch_once(&w, url, should_stop, arg, deadline, &cc, errbuf);
        if (w.done)
            break;
        if (w.cb_err) {
            if (err && !*err)
                *err = vx_steal_ptr(&w.cb_err);
            rc = vx_err_wrap(err, "%s", what);
            goto out;
        }
        if (end == W_STOPPED) {
            rc = vx_err_set(err, VX_E_CANCELLED, 0, "%s: cancelled", what);
            goto out;
        }
        if (end == W_TIMEOUT) {
            rc = vx_err_set(err, VX_E_TIMEOUT, 0, "%s: no end within %" PRId64 " ms", what,
                            timeout_ms);
            goto out;
        }
        if (w.status == 410) {
            rc = relist(&w, api, plural, label_selector, true, err);
            if (rc < 0) {
                vx_err_wrap(err, "%s: re-list after 410", what);
                goto out;
            }
            if (w.done)
                break;
            failures = 0;
            continue;
        }
        if (w.status != 0 && (w.status < 200 || w.status >= 300)) {
            if (w.status != 429 && w.status < 500) {
                rc = vx_kube_status_err(w.status, w.errbody.data, w.errbody.len, what, err);
                goto out;
            }
        } else if (cc != CURLE_OK && !vx_kube_curl_retriable(cc, true) && cc != CURLE_WRITE_ERROR) {
            rc = vx_kube_curl_err(cc, errbuf, what, err); /* TLS, bad URL: retrying won't help */
            goto out;
        } else if (w.got_event || vx_mono_ms() - t0 >= USEFUL_MS) {
            failures = 0; /* the stream served us: resume at once */
            continue;
        }
        if (++failures > k->max_retries) {
            if (w.status >= 400)
                rc = vx_kube_status_err(w.status, w.errbody.data, w.errbody.len, what, err);
            else if (cc != CURLE_OK)
                rc = vx_kube_curl_err(cc, errbuf, what, err);
            else
                rc = vx_err_set(err, VX_E_NETWORK, 0, "%s: the stream keeps closing at once", what);
            vx_err_wrap(err, "after %d attempts", failures);
            goto out;
        }
        end = wsleep(wbackoff(k, failures), should_stop, arg, deadline);
        if (end == W_STOPPED) {
            rc = vx_err_set(err, VX_E_CANCELLED, 0, "%s: cancelled", what);
            goto out;
        }
        if (end == W_TIMEOUT) {
            rc = vx_err_set(err, VX_E_TIMEOUT, 0, "%s: no end within %" PRId64 " ms", what,
                            timeout_ms);
            goto out;
        }
    }
    rc = 0;
out:
    if (w.h)
        curl_easy_cleanup(w.h);
    vx_err_free(&w.cb_err);
    vx_buf_release(&w.line);
    vx_buf_release(&w.errbody);
    free(w.rv);
    free(path);
    free(sel);
    free(url);
    free(what);
    return rc;
}
