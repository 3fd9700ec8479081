/* test_webhook.c -- unit tests of src/queue/webhook.c: the sender against a tiny HTTP
 * receiver on 127.0.0.1 (plain sockets, one request per connection) and a SQLite store.
 *
 * Built from tests/unit/auth/CMakeLists.txt with webhook.c compiled in directly, so it
 * does not depend on the rest of vx_queue. */
#include "common/setup.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "queue/queue.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "store/store.h"

#define SECRET    "whsec-test-0123456789"
#define MAX_POSTS 8

enum mode { FAIL_ONCE, FAIL_ALWAYS, HANG };

struct post {
    char signature[128];
    char delivery[64];
    char event[64];
    char user_agent[64];
    char content_type[64];
    char body[1024];
};

struct receiver {
    int fd;
    int port;
    enum mode mode;
    pthread_t thread;
    bool started; /* the mutex lives until teardown, so counts stay readable */
    atomic_bool stop;
    pthread_mutex_t mu;
    int posts;       /* guarded by mu */
    int connections; /* guarded by mu */
    struct post got[MAX_POSTS];
};

struct fx {
    char dir[64];
    char *url;
    struct vx_store *store;
    char job_id[37];
    struct receiver rx;
};

/* Copies the value of header 'name' (case-insensitive) from the raw head into out. */
static void header_value(const char *head, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);

    out[0] = '\0';
    for (const char *p = head; p && *p; p = strstr(p, "\r\n"), p = p ? p + 2 : NULL) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *end = strstr(v, "\r\n");

            while (*v == ' ')
                v++;
            snprintf(out, outlen, "%.*s", (int)(end ? end - v : (long)strlen(v)), v);
            return;
        }
    }
}

/* Reads one request (head + Content-Length body) into buf. Returns the head length. */
static long read_request(int c, char *buf, size_t max, size_t *total)
{
    size_t len = 0;
    char *end = NULL, cl[32];
    long head, want;

    while (!end) {
        ssize_t r = recv(c, buf + len, max - 1 - len, 0);

        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && len >= max - 1)
            return -1;
    }
    head = end + 4 - buf;
    header_value(buf, "Content-Length", cl, sizeof(cl));
    want = head + atol(cl);
    while ((long)len < want && len < max - 1) {
        ssize_t r = recv(c, buf + len, max - 1 - len, 0);

        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *total = len;
    return head;
}

static void *receiver_main(void *arg)
{
    struct receiver *rx = arg;
    char buf[8192];

    while (!atomic_load(&rx->stop)) {
        struct pollfd pfd = {rx->fd, POLLIN, 0};
        struct timeval tv = {5, 0};
        struct post *p;
        size_t total = 0;
        long head;
        int c, status, n;

        if (poll(&pfd, 1, 50) <= 0)
            continue;
        c = accept(rx->fd, NULL, NULL);
        if (c < 0)
            continue;
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        pthread_mutex_lock(&rx->mu);
        rx->connections++;
        pthread_mutex_unlock(&rx->mu);
        if (rx->mode == HANG) {
            while (!atomic_load(&rx->stop))
                usleep(10 * 1000);
            close(c);
            break;
        }
        head = read_request(c, buf, sizeof(buf), &total);
        if (head < 0 || strncmp(buf, "POST ", 5) != 0) {
            close(c);
            continue;
        }
        pthread_mutex_lock(&rx->mu);
        n = rx->posts++;
        if (n < MAX_POSTS) {
            p = &rx->got[n];
            header_value(buf, "X-Vexxy-Signature", p->signature, sizeof(p->signature));
            header_value(buf, "X-Vexxy-Delivery", p->delivery, sizeof(p->delivery));
            header_value(buf, "X-Vexxy-Event", p->event, sizeof(p->event));
            header_value(buf, "User-Agent", p->user_agent, sizeof(p->user_agent));
            header_value(buf, "Content-Type", p->content_type, sizeof(p->content_type));
            snprintf(p->body, sizeof(p->body), "%s", buf + head);
        }
        pthread_mutex_unlock(&rx->mu);
        status = rx->mode == FAIL_ONCE && n > 0 ? 200 : 500;
        snprintf(buf, sizeof(buf),
                 "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
        if (send(c, buf, strlen(buf), MSG_NOSIGNAL) < 0)
            fprintf(stderr, "receiver: send: %s\n", strerror(errno));
        close(c);
    }
    return NULL;
}

static int receiver_start(struct receiver *rx, enum mode mode)
{
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof(sa);
    int one = 1;

    rx->mode = mode;
    atomic_init(&rx->stop, false);
    pthread_mutex_init(&rx->mu, NULL);
    rx->started = true;
    rx->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rx->fd < 0)
        return -1;
    setsockopt(rx->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(rx->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(rx->fd, 8) < 0 ||
        getsockname(rx->fd, (struct sockaddr *)&sa, &sl) < 0)
        return -1;
    rx->port = ntohs(sa.sin_port);
    return pthread_create(&rx->thread, NULL, receiver_main, rx) == 0 ? 0 : -1;
}

static void receiver_stop(struct receiver *rx)
{
    atomic_store(&rx->stop, true);
    pthread_join(rx->thread, NULL);
    close(rx->fd);
}

static int rx_count(struct receiver *rx, bool connections)
{
    int n;

    pthread_mutex_lock(&rx->mu);
    n = connections ? rx->connections : rx->posts;
    pthread_mutex_unlock(&rx->mu);
    return n;
}

static int setup(void **state)
{
    struct fx *f = vx_xcalloc(1, sizeof(*f));
    struct vx_job_rec job = {0}, *out = NULL;
    enum vx_submit_outcome oc;
    struct vx_err *err = NULL;
    char key[65];

    snprintf(f->dir, sizeof(f->dir), "/tmp/vx-webhook-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->url = vx_xasprintf("sqlite:%s/w.db", f->dir);
    if (vx_store_open(f->url, NULL, &f->store, &err) < 0 ||
        vx_store_org_ensure(f->store, "org-a", "free", -1, NULL, &err) < 0)
        goto fail;
    /* a real job, so the delivery row has something to refer to */
    vx_uuid4(f->job_id);
    vx_sha256_hex(f->job_id, strlen(f->job_id), key);
    job.id = f->job_id;
    job.org_id = "org-a";
    job.image_ref = "nginx:latest";
    job.image_digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    job.profile = "standard";
    job.config_json = "{}";
    job.cache_key = key;
    if (vx_store_job_submit(f->store, &job, NULL, false, &out, &oc, &err) < 0)
        goto fail;
    vx_job_rec_free(out);
    *state = f;
    return 0;
fail:
    fprintf(stderr, "setup: %s\n", err->msg);
    vx_err_free(&err);
    return -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char *cmd = vx_xasprintf("rm -rf '%s'", f->dir);

    vx_store_close(f->store);
    if (f->rx.started)
        pthread_mutex_destroy(&f->rx.mu);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", f->dir);
    free(cmd);
    free(f->url);
    free(f);
    return 0;
}

/* Enqueues one delivery of the fixture's job to url and returns the payload (caller
 * frees). */
static char *enqueue(struct fx *f, const char *url)
{
    struct vx_err *err = NULL;
    char *payload = vx_xasprintf("{\"event\":\"job.complete\",\"job_id\":\"%s\",\"status\":"
                                 "\"complete\"}",
                                 f->job_id);

    if (vx_store_webhook_enqueue(f->store, f->job_id, url, payload, &err) < 0)
        fail_msg("enqueue: %s", err->msg);
    return payload;
}

/* The one delivery of the fixture's job (caller frees), after waiting up to 10 s for its
 * status to leave "pending" (want NULL: return at once). */
static struct vx_webhook_rec *wait_delivery(struct fx *f, const char *want)
{
    int64_t deadline = vx_mono_ms() + 10000;

    for (;;) {
        struct vx_webhook_rec **list = NULL, *r = NULL;
        struct vx_err *err = NULL;
        size_t n = 0;

        if (vx_store_webhook_list(f->store, f->job_id, &list, &n, &err) < 0)
            fail_msg("list: %s", err->msg);
        assert_int_equal(n, 1);
        r = list[0];
        free(list);
        if (!want || strcmp(r->status, want) == 0 || vx_mono_ms() > deadline)
            return r;
        vx_webhook_rec_free(r);
        usleep(20 * 1000);
    }
}

static struct vx_webhooks_config fast_cfg(void)
{
    struct vx_webhooks_config c = {0};

    c.secret = SECRET;
    c.max_attempts = 3;
    c.backoff_ms = 50;
    c.timeout_ms = 3000;
    c.poll_ms = 20;
    return c;
}

static void test_retry_then_delivered(void **state)
{
    struct fx *f = *state;
    struct vx_webhooks_config cfg = fast_cfg();
    struct vx_webhooks *w = NULL;
    struct vx_webhook_rec *rec;
    struct vx_err *err = NULL;
    char *url, *payload, sig[65], want[80];

    assert_int_equal(receiver_start(&f->rx, FAIL_ONCE), 0);
    url = vx_xasprintf("http://127.0.0.1:%d/hook", f->rx.port);
    payload = enqueue(f, url);
    assert_int_equal(vx_webhooks_start(&cfg, f->store, &w, &err), 0);
    rec = wait_delivery(f, "delivered");
    vx_webhooks_stop(w);
    receiver_stop(&f->rx);

    assert_string_equal(rec->status, "delivered");
    assert_int_equal(rec->last_http_status, 200);
    assert_int_equal(rx_count(&f->rx, false), 2);
    vx_hmac_sha256_hex(SECRET, strlen(SECRET), payload, strlen(payload), sig);
    snprintf(want, sizeof(want), "sha256=%s", sig);
    for (int i = 0; i < 2; i++) {
        struct post *p = &f->rx.got[i];

        assert_string_equal(p->signature, want);
        assert_string_equal(p->body, payload);
        assert_string_equal(p->delivery, rec->id);
        assert_string_equal(p->event, "job.complete");
        assert_string_equal(p->user_agent, "vexxy/" VX_VERSION);
        assert_string_equal(p->content_type, "application/json");
    }
    vx_webhook_rec_free(rec);
    free(payload);
    free(url);
}

static void test_gives_up_after_max_attempts(void **state)
{
    struct fx *f = *state;
    struct vx_webhooks_config cfg = fast_cfg();
    struct vx_webhooks *w = NULL;
    struct vx_webhook_rec *rec;
    struct vx_err *err = NULL;
    char *url, *payload;

    assert_int_equal(receiver_start(&f->rx, FAIL_ALWAYS), 0);
    url = vx_xasprintf("http://127.0.0.1:%d/hook", f->rx.port);
    payload = enqueue(f, url);
    assert_int_equal(vx_webhooks_start(&cfg, f->store, &w, &err), 0);
    rec = wait_delivery(f, "failed");
    usleep(200 * 1000); /* a further (wrong) attempt would show up in the count */
    vx_webhooks_stop(w);
    receiver_stop(&f->rx);

    assert_string_equal(rec->status, "failed");
    assert_int_equal(rec->last_http_status, 500);
    assert_int_equal(rec->attempts, 3);
    assert_non_null(rec->last_error);
    assert_int_equal(rx_count(&f->rx, false), 3);
    vx_webhook_rec_free(rec);
    free(payload);
    free(url);
}

static void test_bad_scheme_fails_at_once(void **state)
{
    struct fx *f = *state;
    struct vx_webhooks_config cfg = fast_cfg();
    struct vx_webhooks *w = NULL;
    struct vx_webhook_rec *rec;
    struct vx_err *err = NULL;
    char *payload;

    payload = enqueue(f, "file:///etc/passwd");
    assert_int_equal(vx_webhooks_start(&cfg, f->store, &w, &err), 0);
    rec = wait_delivery(f, "failed");
    vx_webhooks_stop(w);
    assert_string_equal(rec->status, "failed");
    assert_int_equal(rec->attempts, 1);
    vx_webhook_rec_free(rec);
    free(payload);
}

static void test_stop_does_not_wait_for_endpoint(void **state)
{
    struct fx *f = *state;
    struct vx_webhooks_config cfg = fast_cfg();
    struct vx_webhooks *w = NULL;
    struct vx_webhook_rec *rec;
    struct vx_err *err = NULL;
    int64_t deadline, t0;
    char *url, *payload;

    cfg.timeout_ms = 20000;
    assert_int_equal(receiver_start(&f->rx, HANG), 0);
    url = vx_xasprintf("http://127.0.0.1:%d/hook", f->rx.port);
    payload = enqueue(f, url);
    assert_int_equal(vx_webhooks_start(&cfg, f->store, &w, &err), 0);
    deadline = vx_mono_ms() + 10000;
    while (rx_count(&f->rx, true) == 0 && vx_mono_ms() < deadline)
        usleep(10 * 1000);
    assert_int_equal(rx_count(&f->rx, true), 1);
    usleep(100 * 1000);
    t0 = vx_mono_ms();
    vx_webhooks_stop(w);
    assert_true(vx_mono_ms() - t0 < 2000);
    receiver_stop(&f->rx);
    /* nothing recorded: the attempt did not finish, the delivery is still pending */
    rec = wait_delivery(f, NULL);
    assert_string_equal(rec->status, "pending");
    assert_int_equal(rec->attempts, 0);
    vx_webhook_rec_free(rec);
    free(payload);
    free(url);
}

static void test_start_needs_secret(void **state)
{
    struct fx *f = *state;
    struct vx_webhooks_config cfg = fast_cfg();
    struct vx_webhooks *w = NULL;
    struct vx_err *err = NULL;

    cfg.secret = "";
    assert_int_equal(vx_webhooks_start(&cfg, f->store, &w, &err), -VX_E_INVALID);
    vx_err_free(&err);
    vx_webhooks_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retry_then_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gives_up_after_max_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_scheme_fails_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_does_not_wait_for_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_needs_secret, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
