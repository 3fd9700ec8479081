/* test_kube_http.c -- the client's HTTP edge cases against canned answers from a tiny
 * server thread on 127.0.0.1 (plain http is allowed to loopback): the response cap, the watch
 * line cap, a watch split over writes and resumed from the last resourceVersion, 429 then
 * success, connection refused after the retries, logs keeping the end of a long body. */
#include "common/setup.h"

#include <setjmp.h> /* cmocka needs it */
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kube/kube.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"

#define MAXRESP 4

struct srv {
    int lfd, port;
    const char *resp[MAXRESP]; /* one per connection; the last repeats */
    size_t flood;              /* bytes of 'x' after each answer (no newline) */
    int conns;
    char reqline[MAXRESP][512]; /* the request lines seen */
    pthread_t th;
};

static void *serve(void *arg)
{
    struct srv *s = arg;

    for (;;) {
        int fd = accept(s->lfd, NULL, NULL), i;
        char buf[8192];
        size_t got = 0;
        const char *r;

        if (fd < 0)
            return NULL;
        i = s->conns < MAXRESP ? s->conns : MAXRESP - 1;
        while (got < sizeof(buf) - 1) {
            ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        buf[got] = '\0';
        snprintf(s->reqline[i], sizeof(s->reqline[i]), "%.*s", (int)strcspn(buf, "\r"), buf);
        r = NULL;
        for (int j = i; j >= 0 && !r; j--)
            r = s->resp[j]; /* the last answer given repeats */
        s->conns++;
        send(fd, r, strlen(r), MSG_NOSIGNAL);
        if (s->flood) {
            static char blk[65536];
            size_t sent = 0;

            memset(blk, 'x', sizeof(blk));
            while (sent < s->flood && send(fd, blk, sizeof(blk), MSG_NOSIGNAL) > 0)
                sent += sizeof(blk);
        }
        close(fd);
    }
}

static void srv_start(struct srv *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);

    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    getsockname(s->lfd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, serve, s);
}

static void srv_stop(struct srv *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    close(s->lfd);
    pthread_join(s->th, NULL);
}

/* A client of the server at port (or of a closed port). */
static struct vx_kube *client(int port, char *dir, size_t dirlen)
{
    struct vx_kube_options o = {.max_retries = 2, .backoff_ms = 5, .timeout_ms = 5000};
    struct vx_kube *k = NULL;
    struct vx_err *err = NULL;
    char *path, *text;
    FILE *f;

    snprintf(dir, dirlen, "/tmp/vx_kube_http.XXXXXX");
    assert_non_null(mkdtemp(dir));
    path = vx_xasprintf("%s/config", dir);
    text = vx_xasprintf("current-context: t\ncontexts:\n- name: t\n  context: {cluster: c}\n"
                        "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:%d'}\n",
                        port);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    o.kubeconfig = path;
    assert_int_equal(vx_kube_open(&o, &k, &err), 0);
    free(path);
    free(text);
    return k;
}

static void done(struct vx_kube *k, const char *dir)
{
    vx_kube_close(k);
    vx_fs_remove_tree(dir, NULL);
}

static void test_plain_and_429(void **state)
{
    struct srv s = {.resp = {"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\n"
                             "Content-Length: 0\r\nConnection: close\r\n\r\n",
                             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Connection: close\r\n\r\n"
                             "{\"kind\":\"JobList\",\"metadata\":{},\"items\":[]}\n"}};
    char dir[64];
    struct vx_kube *k;
    struct vx_err *err = NULL;
    json_t *out = NULL;

    (void)state;
    srv_start(&s);
    k = client(s.port, dir, sizeof(dir));
    assert_int_equal(vx_kube_list(k, "apis/batch/v1", "jobs", "a=b,c=d", &out, &err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "kind")), "JobList");
    assert_int_equal(s.conns, 2);
    assert_string_equal(s.reqline[1], "GET /apis/batch/v1/namespaces/default/jobs"
                                      "?labelSelector=a%3Db%2Cc%3Dd HTTP/1.1");
    json_decref(out);
    done(k, dir);
    srv_stop(&s);
}

static void test_body_cap(void **state)
{
    struct srv s = {.resp = {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"}, .flood = 20u << 20};
    char dir[64];
    struct vx_kube *k;
    struct vx_err *err = NULL;
    json_t *out = NULL;

    (void)state;
    srv_start(&s);
    k = client(s.port, dir, sizeof(dir));
    assert_int_equal(vx_kube_get(k, "api/v1", "pods", "p", &out, &err), -VX_E_TOO_LARGE);
    assert_non_null(strstr(err->msg, "over"));
    assert_int_equal(s.conns, 1); /* not retried */
    vx_err_free(&err);
    done(k, dir);
    srv_stop(&s);
}

static bool count_events(const char *type, const json_t *obj, void *arg)
{
    json_t *seen = arg;

    json_array_append_new(
        seen,
        json_sprintf("%s %s", type,
                     json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"))));
    return strcmp(type, "DELETED") != 0;
}

static void test_watch_line_cap(void **state)
{
    struct srv s = {.resp = {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"}, .flood = 6u << 20};
    char dir[64];
    struct vx_kube *k;
    struct vx_err *err = NULL;
    json_t *seen = json_array();

    (void)state;
    srv_start(&s);
    k = client(s.port, dir, sizeof(dir));
    assert_int_equal(
        vx_kube_watch(k, "apis/batch/v1", "jobs", NULL, "5", 10000, count_events, seen, NULL, &err),
        -VX_E_TOO_LARGE);
    vx_err_free(&err);
    json_decref(seen);
    done(k, dir);
    srv_stop(&s);
}

#define EV(type, name, rv)                                                                         \
    "{\"type\":\"" type "\",\"object\":{\"metadata\":{\"name\":\"" name                            \
    "\",\"resourceVersion\":\"" rv "\"}}}"

static void test_watch_resume(void **state)
{
    struct srv s = {
        .resp = {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" EV("ADDED", "a", "6") "\r\n\n" EV(
                     "BOOKMARK", "", "7") "\n" EV("MODIFIED", "a", "8") "\n{\"type\":\"MOD",
                 "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" EV("DELETED", "a", "9") "\n"}};
    char dir[64];
    struct vx_kube *k;
    struct vx_err *err = NULL;
    json_t *seen = json_array();
    char *d;

    (void)state;
    srv_start(&s);
    k = client(s.port, dir, sizeof(dir));
    assert_int_equal(vx_kube_watch(k, "apis/batch/v1", "jobs", "x=y", "5", 10000, count_events,
                                   seen, NULL, &err),
                     0);
    d = json_dumps(seen, JSON_COMPACT);
    assert_string_equal(d, "[\"ADDED a\",\"BOOKMARK \",\"MODIFIED a\",\"DELETED a\"]");
    free(d);
    assert_int_equal(s.conns, 2);
    assert_non_null(strstr(s.reqline[0], "resourceVersion=5&labelSelector=x%3Dy"));
    assert_non_null(strstr(s.reqline[1], "resourceVersion=8&")); /* the partial line dropped */
    json_decref(seen);
    done(k, dir);
    srv_stop(&s);
}

static void test_refused(void **state)
{
    struct srv s = {0};
    char dir[64];
    struct vx_kube *k;
    struct vx_err *err = NULL;
    json_t *out = NULL;
    int port;

    (void)state;
    srv_start(&s);
    port = s.port;
    srv_stop(&s); /* nothing listens there any more */
    k = client(port, dir, sizeof(dir));
    assert_int_equal(vx_kube_get(k, "apis/batch/v1", "jobs", "j", &out, &err), -VX_E_NETWORK);
    assert_non_null(strstr(err->msg, "after 3 attempts"));
    assert_non_null(strstr(err->msg, "'j'"));
    vx_err_free(&err);
    /* an invalid name never reaches the server */
    assert_int_equal(vx_kube_get(k, "apis/batch/v1", "jobs", "../secrets", &out, &err),
                     -VX_E_INVALID);
    vx_err_free(&err);
    done(k, dir);
}

static void test_logs_tail(void **state)
{
    struct srv s = {.resp = {"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstart\n"},
                    .flood = 3u << 20};
    char dir[64], *logs = NULL;
    struct vx_kube *k;
    struct vx_err *err = NULL;

    (void)state;
    srv_start(&s);
    k = client(s.port, dir, sizeof(dir));
    assert_int_equal(vx_kube_logs(k, "p", "main", 1000, &logs, &err), 0);
    assert_int_equal(strlen(logs), 1000);
    assert_int_equal(strspn(logs, "x"), 1000);
    free(logs);
    assert_int_equal(vx_kube_logs(k, "p", "main", 5u << 20, &logs, &err), 0);
    assert_int_equal(strncmp(logs, "start\nxxx", 9), 0); /* under the cap: all of it */
    free(logs);
    done(k, dir);
    srv_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_429),  cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_watch_line_cap), cmocka_unit_test(test_watch_resume),
        cmocka_unit_test(test_refused),        cmocka_unit_test(test_logs_tail),
    };

    unsetenv("KUBECONFIG");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
