/* test_exercise.c -- the HTTP exerciser (exercise.c, http.c, crawl.c, mutate.c, profile.c).
 *
 * Pieces first (response parser fed byte by byte, reference resolution, the HTML scanner,
 * OpenAPI requests), then whole runs against an in-test HTTP server on 127.0.0.1: a site with
 * links, forms, a chunked page, an OpenAPI document, a slow endpoint, a 500 and a response
 * cut short, plus links to a second server on 127.0.0.2 that must never see a connection.
 * The server logs every request it reads, so request counts, budgets and the "same seed,
 * same requests" property are checked from the server's side. Health checks against a port
 * that opens late and one that never opens; a run inside a fresh network namespace (root).
 */
#include "common/setup.h"

#include <setjmp.h> /* cmocka needs it */
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/util.h"
#include "sandbox/exercise_int.h" /* the pieces */

/* ---- the in-test server ----------------------------------------------------------------- */

struct srv {
    const char *bind_addr; /* default 127.0.0.1 */
    int port;              /* 0 = any; set once listening */
    int ext_port;          /* the 127.0.0.2 server the site links to */
    int open_after_ms;     /* listen only after this long (health check test) */
    bool netns;            /* listen inside a new network namespace */
    int netns_fd;          /* then: an fd of it */
    int lfd;
    int stop[2];
    int ready[2];
    pthread_t th;
    pthread_mutex_t mu;
    struct vx_buf log; /* one line per request read */
    int n_requests;
    int n_conns;
    int parked[64]; /* /slow connections: never answered, closed at stop */
    size_t n_parked;
};

static const char INDEX_FMT[] =
    "<!DOCTYPE html><html><head><link rel=\"stylesheet\" href=\"/static/app.js\">"
    "<script src=\"/static/app.js\"></script>"
    "<script>var s = \"<a href='/in-script'>\";</script></head><body>\n"
    "<!-- <a href=\"/commented\"> -->\n"
    "<a href=\"/about\">About</a> <A HREF='docs/page.html'>Docs</A> <a href=/about#top>x</a>\n"
    "<a href=\"/external\">ext</a> <img src=\"/img/logo.png\"> <a href=\"/missing\">m</a>\n"
    "<a href=\"/chunked\">c</a> <a href=\"/slow\">s</a> <a href=\"/error\">e</a>\n"
    "<a href=\"/cut\">cut</a> <a href=\"mailto:someone@example.com\">mail</a>\n"
    "<a href=\"/go-away\">r1</a> <a href=\"/moved\">r2</a>\n"
    "<a href=\"javascript:void(0)\">js</a> <a href=\"http://127.0.0.2:%d/secret\">far</a>\n"
    "<form action=\"/search\" method=\"get\"><input type=\"text\" name=\"q\">"
    "<input type=\"number\" name=\"n\"><input type=\"submit\"></form>\n"
    "<form action=\"/login\" method=\"POST\"><input name=\"user\">"
    "<input type=\"password\" name=\"pass\"><input type=\"hidden\" name=\"csrf\" value=\"abc\">"
    "</form></body></html>\n";

static const char EXTERNAL_FMT[] =
    "<html><a href=\"http://127.0.0.2:%d/secret2\">a</a> <a href=\"//127.0.0.2:%d/x\">b</a>"
    "<a href=\"https://127.0.0.1:%d/tls\">c</a> <a href=\"http://127.0.0.1:%d/otherport\">d</a>"
    "<a href=\"http://127.0.0.1:%d/about?x=1&amp;y=2\">e</a></html>";

static const char OPENAPI[] =
    "{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\",\"version\":\"1\"},\"paths\":{"
    "\"/api/items\":{\"get\":{\"parameters\":[{\"name\":\"limit\",\"in\":\"query\","
    "\"schema\":{\"type\":\"integer\"}}]},\"post\":{\"requestBody\":{\"content\":{"
    "\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Item\"}}}}}},"
    "\"/api/items/{id}\":{\"get\":{\"parameters\":[{\"name\":\"id\",\"in\":\"path\","
    "\"required\":true,\"schema\":{\"type\":\"integer\",\"example\":7}}]},"
    "\"delete\":{\"parameters\":[{\"name\":\"id\",\"in\":\"path\",\"schema\":{\"type\":"
    "\"integer\",\"example\":7}}]}}},\"components\":{\"schemas\":{\"Item\":{\"type\":"
    "\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"count\":{\"type\":"
    "\"integer\"}}}}}}";

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int status, const char *ctype, const char *body)
{
    char *r = vx_xasprintf("HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                           "Connection: close\r\n\r\n%s",
                           status, ctype, strlen(body), body);
    send_all(fd, r, strlen(r));
    free(r);
}

/* Reads one request (headers + Content-Length body) within 1.5 s into buf (kept
 * NUL-terminated, *got bytes); returns 1 when complete, 0 if the peer sent nothing, -1 if
 * incomplete. */
static int read_request(int fd, char *buf, size_t cap, size_t *hdr_len, size_t *got)
{
    size_t len = 0;
    int64_t dl = vx_mono_ms() + 1500;

    *hdr_len = 0;
    buf[0] = '\0';
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char *e;
        ssize_t r;

        *got = len;
        buf[len] = '\0';
        if (!*hdr_len && len) {
            if ((e = memmem(buf, len, "\r\n\r\n", 4)) != NULL)
                *hdr_len = (size_t)(e - buf) + 4;
            else if ((e = memmem(buf, len, "\n\n", 2)) != NULL)
                *hdr_len = (size_t)(e - buf) + 2;
        }
        if (*hdr_len) {
            const char *cl = strcasestr(buf, "\ncontent-length:");
            size_t want = *hdr_len + (cl && cl < buf + *hdr_len ? strtoul(cl + 16, NULL, 10) : 0);
            if (want > cap - 1)
                return -1;
            if (len >= want)
                return 1;
        }
        if (len >= cap - 1 || poll(&p, 1, (int)(dl - vx_mono_ms())) <= 0)
            return len ? -1 : 0;
        r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            return len ? -1 : 0;
        len += (size_t)r;
    }
}

static void log_request(struct srv *s, const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    size_t n = nl ? (size_t)(nl - buf) : len, i;

    pthread_mutex_lock(&s->mu);
    for (i = 0; i < n && i < 200; i++) {
        char c = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?';
        vx_buf_add(&s->log, &c, 1);
    }
    vx_buf_addf(&s->log, " [%zu]\n", len);
    s->n_requests++;
    pthread_mutex_unlock(&s->mu);
}

static bool wait_stop(struct srv *s, int ms)
{
    struct pollfd p = {.fd = s->stop[0], .events = POLLIN};

    return poll(&p, 1, ms) > 0;
}

static void handle(struct srv *s, int fd)
{
    char *buf = vx_xmalloc(256u << 10);
    char method[16], target[4096], *body, *page = NULL;
    size_t hdr_len, got;
    int n = read_request(fd, buf, 256u << 10, &hdr_len, &got);
    const char *path;
    size_t plen;

    if (n == 0) {
        free(buf);
        close(fd);
        return; /* a health-check connect */
    }
    log_request(s, buf, got);
    if (n < 0 || sscanf(buf, "%15s %4095s HTTP/1.1", method, target) != 2 ||
        strncmp(buf + strlen(method) + 1 + strlen(target), " HTTP/1.1\r\n", 11) != 0) {
        respond(fd, 400, "text/plain", "bad");
        free(buf);
        close(fd);
        return;
    }
    body = buf + hdr_len;
    path = target;
    plen = strcspn(target, "?");
#define IS(p) (plen == strlen(p) && !strncmp(path, p, plen))
#define GET   (!strcmp(method, "GET"))
    if (IS("/") && GET) {
        page = vx_xasprintf(INDEX_FMT, s->ext_port);
        respond(fd, 200, "text/html; charset=utf-8", page);
    } else if (IS("/about") && GET) {
        respond(fd, 200, "text/html",
                "<a href=\"/\">home</a><a href=\"../docs/./page.html\">docs</a>");
    } else if (IS("/docs/page.html") && GET) {
        respond(fd, 200, "text/html", "<a href=\"sub/../other.html\">o</a><a href=\"?p=2\">2</a>");
    } else if ((IS("/docs/other.html") || IS("/from-chunk") || IS("/static/app.js")) && GET) {
        respond(fd, 200, "text/plain", "ok");
    } else if (IS("/img/logo.png") && GET) {
        respond(fd, 200, "image/png", "\x89PNG");
    } else if (IS("/external") && GET) {
        page = vx_xasprintf(EXTERNAL_FMT, s->ext_port, s->ext_port, s->port, s->ext_port, s->port);
        respond(fd, 200, "text/html", page);
    } else if (IS("/chunked") && GET) {
        const char *r = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n"
                        "6\r\n<html>\r\n10;ext=1\r\n<a href=\"/from-c\r\n"
                        "e\r\nhunk\">x</a></h\r\n4\r\ntml>\r\n0\r\nX-T: 1\r\n\r\n";
        send_all(fd, r, strlen(r));
    } else if (IS("/slow") && GET && s->n_parked < VX_ARRAY_SIZE(s->parked)) {
        /* Never answered while the server goes on serving others: the client times out. */
        s->parked[s->n_parked++] = fd;
        fd = -1;
    } else if (IS("/go-away") && GET) {
        /* A redirect to another host: never followed. */
        page = vx_xasprintf("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:%d/redirected\r\n"
                            "Content-Length: 0\r\n\r\n",
                            s->ext_port);
        send_all(fd, page, strlen(page));
    } else if (IS("/moved") && GET) {
        const char *r = "HTTP/1.1 301 Moved\r\nLocation: /docs/other.html?moved=1\r\n"
                        "Content-Length: 0\r\n\r\n";
        send_all(fd, r, strlen(r));
    } else if (IS("/error")) {
        respond(fd, 500, "text/plain", "boom");
    } else if (IS("/cut") && GET) {
        const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789";
        send_all(fd, r, strlen(r));
    } else if (IS("/search") && GET) {
        bool ok = strstr(target, "q=test") && strstr(target, "n=42");
        respond(fd, ok ? 200 : 400, "text/plain", "s");
    } else if (IS("/login") && !strcmp(method, "POST")) {
        bool ok = strstr(body, "csrf=abc") && strstr(body, "user=test") &&
                  strstr(body, "pass=Passw0rd%21");
        respond(fd, ok ? 200 : 400, "text/plain", "l");
    } else if (IS("/openapi.json") && GET) {
        respond(fd, 200, "application/json", OPENAPI);
    } else if (IS("/api/items") && GET) {
        respond(fd, strstr(target, "limit=1") ? 200 : 400, "application/json", "[]");
    } else if (IS("/api/items") && !strcmp(method, "POST")) {
        bool ok = strstr(buf, "Content-Type: application/json") &&
                  strstr(body, "\"name\":\"test\"") && strstr(body, "\"count\":1");
        respond(fd, ok ? 201 : 400, "application/json", "{}");
    } else if (IS("/api/items/7") && (GET || !strcmp(method, "DELETE"))) {
        if (GET)
            respond(fd, 200, "application/json", "{\"id\":7}");
        else
            send_all(fd, "HTTP/1.1 204 No Content\r\n\r\n", 27);
    } else if (IS("/") || IS("/about") || IS("/api/items")) {
        respond(fd, 405, "text/plain", "method");
    } else {
        respond(fd, 404, "text/plain", "no");
    }
#undef IS
#undef GET
    free(page);
    free(buf);
    if (fd >= 0)
        close(fd);
}

static void bring_lo_up(void)
{
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    /* Runs on the server thread: no cmocka asserts there. */
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        abort();
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        abort();
    close(fd);
}

static int listen_on(const char *addr, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    inet_pton(AF_INET, addr, &sin.sin_addr);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 64) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    getsockname(fd, (struct sockaddr *)&sin, &sl);
    return ntohs(sin.sin_port);
}

static void *srv_main(void *arg)
{
    struct srv *s = arg;
    char c = 1;

    if (s->netns) {
        /* Namespace membership is per thread: only this thread moves. */
        if (unshare(CLONE_NEWNET) < 0)
            abort();
        bring_lo_up();
        s->netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    }
    if (!s->open_after_ms) {
        s->lfd = listen_on(s->bind_addr, s->port);
        if (s->lfd < 0)
            abort();
        s->port = bound_port(s->lfd);
    }
    if (write(s->ready[1], &c, 1) != 1)
        abort();
    if (s->open_after_ms) {
        if (wait_stop(s, s->open_after_ms))
            return NULL;
        s->lfd = listen_on(s->bind_addr, s->port);
        if (s->lfd < 0)
            abort();
    }
    for (;;) {
        struct pollfd p[2] = {{.fd = s->lfd, .events = POLLIN},
                              {.fd = s->stop[0], .events = POLLIN}};
        int fd;

        if (poll(p, 2, -1) < 0 || p[1].revents)
            break;
        fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        s->n_conns++;
        pthread_mutex_unlock(&s->mu);
        handle(s, fd); /* closes or parks fd */
    }
    return NULL;
}

static void srv_start(struct srv *s)
{
    char c;

    s->lfd = s->netns_fd = -1;
    if (!s->bind_addr)
        s->bind_addr = "127.0.0.1";
    vx_buf_init(&s->log, 16u << 20);
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pipe2(s->stop, O_CLOEXEC), 0);
    assert_int_equal(pipe2(s->ready, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
    assert_int_equal(read(s->ready[0], &c, 1), 1);
    assert_true(s->port > 0);
}

static void srv_stop(struct srv *s)
{
    char c = 1;

    assert_int_equal(write(s->stop[1], &c, 1), 1);
    pthread_join(s->th, NULL);
    while (s->n_parked > 0)
        close(s->parked[--s->n_parked]);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->netns_fd >= 0)
        close(s->netns_fd);
    close(s->stop[0]);
    close(s->stop[1]);
    close(s->ready[0]);
    close(s->ready[1]);
    vx_buf_release(&s->log);
    pthread_mutex_destroy(&s->mu);
}

/* A port nothing listens on (bound, read, closed). */
static int free_port(void)
{
    int fd = listen_on("127.0.0.1", 0), port = bound_port(fd);

    close(fd);
    return port;
}

/* ---- the pieces ------------------------------------------------------------------------- */

static int parse_all(const char *resp, size_t len, size_t step, bool head, bool eof,
                     struct vx_http_resp *out)
{
    struct vx_http_parser p;
    size_t off;
    int st = VX_HTTP_MORE;

    vx_http_resp_init(out);
    vx_http_parser_init(&p, out, head);
    for (off = 0; off < len && st == VX_HTTP_MORE; off += step)
        st = vx_http_parser_feed(&p, resp + off, len - off < step ? len - off : step);
    if (st == VX_HTTP_MORE && eof)
        st = vx_http_parser_eof(&p);
    vx_http_parser_release(&p);
    return st;
}

static void test_parser(void **state)
{
    static const struct {
        const char *in;
        bool head, eof;
        int st, status;
        const char *body;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, false, VX_HTTP_DONE, 200,
         "hello"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n"
         "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
         false, false, VX_HTTP_DONE, 200, "abcde"},
        {"HTTP/1.0 404 Not Found\nContent-Type: text/html\n\n<p>gone", false, true, VX_HTTP_DONE,
         404, "<p>gone"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, false, VX_HTTP_DONE, 200, ""},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", false,
         false, VX_HTTP_DONE, 201, "ok"},
        {"HTTP/1.1 204 No Content\r\n\r\n", false, false, VX_HTTP_DONE, 204, ""},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false, true, VX_HTTP_BAD, 200,
         "short"},
        {"SSH-2.0-OpenSSH_9.2\r\n\r\n", false, true, VX_HTTP_BAD, 0, ""},
        {"HTTP/1.1 2x0 OK\r\n\r\n", false, true, VX_HTTP_BAD, 0, ""},
        /* Ambiguous framing is refused; the status line itself was fine. */
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, true, VX_HTTP_BAD, 200, ""},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", false, true,
         VX_HTTP_BAD, 200, ""},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, true, VX_HTTP_BAD,
         200, ""},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", false, true,
         VX_HTTP_BAD, 200, ""},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", false, true, VX_HTTP_BAD,
         200, "ab"},
    };
    size_t i, step;

    for (i = 0; i < VX_ARRAY_SIZE(cases); i++)
        for (step = 1; step <= strlen(cases[i].in); step = step < 4 ? step + 1 : step * 3) {
            struct vx_http_resp r;
            int st =
                parse_all(cases[i].in, strlen(cases[i].in), step, cases[i].head, cases[i].eof, &r);
            if (st != cases[i].st || r.status != cases[i].status ||
                (st == VX_HTTP_DONE && strcmp(vx_buf_str(&r.body), cases[i].body)))
                fail_msg("case %zu step %zu: st %d status %d body '%s'", i, step, st, r.status,
                         vx_buf_str(&r.body));
            vx_http_resp_release(&r);
        }
    (void)state;
}

static void test_parser_caps(void **state)
{
    struct vx_http_resp r;
    struct vx_buf big = VX_BUF_INIT(4u << 20);
    size_t i;

    /* A body past the cap is kept up to 1 MiB and marked truncated (not an error). */
    vx_buf_addf(&big, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", 3u << 20);
    for (i = 0; i < (3u << 20) / 64; i++)
        vx_buf_adds(&big, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_int_equal(parse_all(big.data, big.len, 70000, false, false, &r), VX_HTTP_DONE);
    assert_true(r.truncated);
    assert_int_equal(r.body.len, VX_HTTP_MAX_BODY);
    vx_http_resp_release(&r);
    /* An endless header block is refused once over 64 KiB. */
    vx_buf_release(&big);
    vx_buf_adds(&big, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < 5000; i++)
        vx_buf_adds(&big, "X-Pad: aaaaaaaaaaaa\r\n");
    assert_int_equal(parse_all(big.data, big.len, 4096, false, false, &r), VX_HTTP_BAD);
    vx_http_resp_release(&r);
    vx_buf_release(&big);
    (void)state;
}

static void test_resolve(void **state)
{
    static const int ports[] = {8080, 9090};
    static const struct {
        const char *ref, *target; /* NULL: skipped */
        int port;
    } cases[] = {
        {"/a/b", "/a/b", 8080},
        {"c", "/dir/c", 8080},
        {"../x/./y", "/x/y", 8080},
        {"../../../../etc", "/etc", 8080},
        {"?q=1", "/dir/page.html?q=1", 8080},
        {"#top", NULL, 0},
        {"", NULL, 0},
        {"/p#frag", "/p", 8080},
        {"http://127.0.0.1:9090/z?a=/../b", "/z?a=/../b", 9090},
        {"HTTP://127.0.0.1:8080", "/", 8080},
        {"http://127.0.0.1/", NULL, 0},      /* port 80 is not exercised */
        {"http://127.0.0.1:7/", NULL, 0},    /* nor 7 */
        {"http://127.0.0.2:8080/", NULL, 0}, /* another host */
        {"http://127.0.0.1.evil:8080/", NULL, 0},
        {"http://127.0.0.1:8080@evil/", NULL, 0},
        {"//evil.example/x", NULL, 0},
        {"//127.0.0.1:8080/y", "/y", 8080},
        {"https://127.0.0.1:8080/", NULL, 0},
        {"mailto:a@b", NULL, 0},
        {"javascript:alert(1)", NULL, 0},
        {"a b\"<>", "/dir/a%20b%22%3C%3E", 8080},
        {"/\xc3\xa9", "/%C3%A9", 8080},
        {"/a/..", "/", 8080},
        {"/a/.", "/a/", 8080},
        {"/./.././", "/", 8080},
    };
    struct vx_url_base base = {
        .host = "127.0.0.1", .ports = ports, .n_ports = 2, .port = 8080, .path = "/dir/page.html"};
    size_t i;

    for (i = 0; i < VX_ARRAY_SIZE(cases); i++) {
        char *t = NULL;
        int port = 0, rc = vx_url_resolve(&base, cases[i].ref, &port, &t);
        if (!cases[i].target) {
            if (rc != -1)
                fail_msg("'%s' should be skipped, got '%s'", cases[i].ref, t);
            continue;
        }
        if (rc != 0 || strcmp(t, cases[i].target) || port != cases[i].port)
            fail_msg("'%s': rc %d target '%s' port %d", cases[i].ref, rc, t ? t : "", port);
        free(t);
    }
    (void)state;
}

static void test_html_scan(void **state)
{
    const char *html =
        "<html><A HREF=/a>x</A><a href='b?x=1&amp;y=2'><a href = \"c\" ><a href>"
        "<!-- <a href=\"/no1\"> --><script>document.write('<a href=\"/no2\">')</script>"
        "<img src=\"/i.png\"><a href=\"/&#47;d\"><form method=post action=/f>"
        "<input name=\"e\" type=\"email\"><input name=\"h\" type=hidden value=\"v v\">"
        "<input type=file name=up><textarea name=t><a href=/no3></textarea>"
        "<select name=s><option value=o1>1</option><option value=o2></select>"
        "</form><form><input name=z></form><a href=\"/unterminated";
    struct vx_html_scan s;

    vx_html_scan(html, strlen(html), 100, &s);
    assert_int_equal(s.n_links, 6);
    assert_string_equal(s.links[0], "/a");
    assert_string_equal(s.links[1], "b?x=1&y=2");
    assert_string_equal(s.links[2], "c");
    assert_string_equal(s.links[3], "/i.png");
    assert_string_equal(s.links[4], "//d");
    assert_string_equal(s.links[5], "/unterminated");
    assert_int_equal(s.n_forms, 2);
    assert_string_equal(s.forms[0].method, "POST");
    assert_string_equal(s.forms[0].action, "/f");
    assert_string_equal(s.forms[0].fields, "e=test%40example.com&h=v+v&t=test&s=o1");
    assert_string_equal(s.forms[1].method, "GET");
    assert_null(s.forms[1].action);
    assert_string_equal(s.forms[1].fields, "z=test");
    vx_html_scan_release(&s);
    /* Caps and junk. */
    vx_html_scan("<<<a href=1><a href=2><a href=3>", 31, 2, &s);
    assert_int_equal(s.n_links, 2);
    vx_html_scan_release(&s);
    vx_html_scan("<", 1, 10, &s);
    assert_int_equal(s.n_links, 0);
    vx_html_scan_release(&s);
    (void)state;
}

static void test_openapi(void **state)
{
    const char *swagger =
        "{\"swagger\":\"2.0\",\"basePath\":\"/v1/\",\"paths\":{\"/u/{name}\":{\"put\":{"
        "\"parameters\":[{\"name\":\"name\",\"in\":\"path\",\"type\":\"string\","
        "\"enum\":[\"bob\"]},{\"name\":\"b\",\"in\":\"body\",\"schema\":{\"$ref\":"
        "\"#/definitions/U\"}},{\"name\":\"f\",\"in\":\"query\",\"type\":\"boolean\"}]}}},"
        "\"definitions\":{\"U\":{\"properties\":{\"age\":{\"type\":\"integer\"},\"self\":"
        "{\"$ref\":\"#/definitions/U\"}}}}}";
    struct vx_ex_req *reqs = NULL;
    size_t n = 0, cap = 0, i;
    json_error_t je;
    json_t *doc = json_loads(OPENAPI, 0, &je);

    assert_int_equal(vx_openapi_requests(doc, &reqs, &n, &cap, 100), 4);
    json_decref(doc);
    assert_string_equal(reqs[0].method, "GET");
    assert_string_equal(reqs[0].target, "/api/items?limit=1");
    assert_string_equal(reqs[1].method, "POST");
    assert_string_equal(reqs[1].body, "{\"name\":\"test\",\"count\":1}");
    assert_string_equal(reqs[2].target, "/api/items/7");
    assert_string_equal(reqs[3].method, "DELETE");
    doc = json_loads(swagger, 0, &je);
    assert_int_equal(vx_openapi_requests(doc, &reqs, &n, &cap, 100), 1);
    json_decref(doc);
    assert_string_equal(reqs[4].method, "PUT");
    assert_string_equal(reqs[4].target, "/v1/u/bob?f=true");
    assert_non_null(strstr(reqs[4].body, "\"age\":1"));
    /* Not a document, and the cap. */
    doc = json_loads("{\"paths\":{}}", 0, &je);
    assert_int_equal(vx_openapi_requests(doc, &reqs, &n, &cap, 100), -1);
    json_decref(doc);
    doc = json_loads(OPENAPI, 0, &je);
    assert_int_equal(vx_openapi_requests(doc, &reqs, &n, &cap, 6), 1);
    json_decref(doc);
    for (i = 0; i < n; i++)
        vx_ex_req_release(&reqs[i]);
    free(reqs);
    (void)state;
}

static void test_prng(void **state)
{
    struct vx_prng a, b;
    struct vx_buf x = VX_BUF_INIT(256u << 10), y = VX_BUF_INIT(256u << 10);
    struct vx_ex_req req = {.method = "POST",
                            .target = "/api/items?limit=1",
                            .content_type = "application/json",
                            .body = "{\"name\":\"a\",\"n\":1}",
                            .body_len = 18};
    int i, kinds[VX_MUT_COUNT] = {0};

    vx_prng_seed(&a, 7);
    vx_prng_seed(&b, 7);
    for (i = 0; i < 2000; i++) {
        const char *m1, *m2;
        enum vx_mutation k1, k2;
        vx_mutate_request(&a, &req, "127.0.0.1:1", &x, &m1, &k1);
        vx_mutate_request(&b, &req, "127.0.0.1:1", &y, &m2, &k2);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.data, y.data, x.len);
        assert_true(x.len < 80000);
        kinds[k1]++;
    }
    for (i = 0; i < VX_MUT_COUNT; i++)
        assert_true(kinds[i] > 100); /* every mutation is drawn */
    vx_buf_release(&x);
    vx_buf_release(&y);
    (void)state;
}

/* ---- whole runs ------------------------------------------------------------------------- */

static const char *const SITE_ENDPOINTS[] = {
    "DELETE /api/items/7",
    "GET /",
    "GET /about",
    "GET /api/items",
    "GET /api/items/7",
    "GET /chunked",
    "GET /cut",
    "GET /docs/other.html",
    "GET /docs/page.html",
    "GET /error",
    "GET /external",
    "GET /from-chunk",
    "GET /go-away",
    "GET /img/logo.png",
    "GET /moved",
    "GET /openapi.json",
    "GET /search",
    "GET /static/app.js",
    "POST /api/items",
    "POST /login",
};

/* 20 endpoints, plus 404s (/missing, 3 document paths), /slow, and the same endpoints with
 * other queries (/about?x=1&y=2, /docs/page.html?p=2, /docs/other.html?moved=1). */
#define SITE_REQUESTS 28

static void test_crawl_site(void **state)
{
    struct srv far = {.bind_addr = "127.0.0.2"}, site = {0};
    struct vx_exercise_report rep;
    struct vx_err *err = NULL;
    char *json;
    size_t i;

    srv_start(&far);
    site.ext_port = far.port;
    srv_start(&site);
    {
        const int ports[] = {site.port};
        struct vx_exercise_config cfg = {.netns_fd = -1,
                                         .ports = ports,
                                         .n_ports = 1,
                                         .health_path = "/",
                                         .health_timeout_ms = 2000,
                                         .max_requests = 1000,
                                         .budget_ms = 20000,
                                         .request_timeout_ms = 1000,
                                         .seed = 1};
        int64_t t0 = vx_mono_ms();
        assert_int_equal(vx_exercise_run(&cfg, &rep, &err), 0);
        printf("# crawl: %" PRId64 " requests in %" PRId64 " ms\n", rep.requests,
               vx_mono_ms() - t0);
    }
    json = vx_exercise_json(&rep);
    printf("# %s\n", json);
    free(json);
    assert_true(rep.health_ok);
    assert_non_null(strstr(rep.health_detail, "GET / on port"));
    assert_true(rep.openapi_found);
    assert_int_equal(rep.requests, SITE_REQUESTS);
    assert_int_equal(rep.errors, 2); /* /slow timed out, /cut was cut */
    assert_int_equal(rep.status_counts[0], 1);
    assert_int_equal(rep.status_counts[2], 20);
    assert_int_equal(rep.status_counts[3], 2);
    assert_int_equal(rep.status_counts[4], 4); /* /missing and three document paths */
    assert_int_equal(rep.status_counts[5], 1);
    assert_int_equal(rep.n_endpoints, VX_ARRAY_SIZE(SITE_ENDPOINTS));
    for (i = 0; i < rep.n_endpoints; i++)
        assert_string_equal(rep.endpoints[i], SITE_ENDPOINTS[i]);
    srv_stop(&site);
    /* The health GET is a request the server saw; every other one is counted. */
    assert_int_equal(site.n_requests, rep.requests + 1);
    srv_stop(&far);
    assert_int_equal(far.n_conns, 0); /* the other host was never contacted */
    vx_exercise_report_release(&rep);
}

/* Two ports: both are crawled, endpoints are merged ("METHOD /path" carries no port). */
static void test_two_ports(void **state)
{
    struct srv far = {.bind_addr = "127.0.0.2"}, s1 = {0}, s2 = {0};
    struct vx_exercise_report rep;
    struct vx_err *err = NULL;

    srv_start(&far);
    s1.ext_port = s2.ext_port = far.port;
    srv_start(&s1);
    srv_start(&s2);
    {
        const int ports[] = {s1.port, s2.port};
        struct vx_exercise_config cfg = {.netns_fd = -1,
                                         .ports = ports,
                                         .n_ports = 2,
                                         .health_path = "/",
                                         .max_requests = 1000,
                                         .budget_ms = 20000,
                                         .request_timeout_ms = 1000};
        assert_int_equal(vx_exercise_run(&cfg, &rep, &err), 0);
    }
    srv_stop(&s1);
    srv_stop(&s2);
    srv_stop(&far);
    assert_true(rep.health_ok);
    assert_int_equal(rep.requests, 2 * SITE_REQUESTS);
    assert_int_equal(s1.n_requests, SITE_REQUESTS + 1); /* + the health GET */
    assert_int_equal(s2.n_requests, SITE_REQUESTS);
    assert_int_equal(rep.n_endpoints, VX_ARRAY_SIZE(SITE_ENDPOINTS));
    assert_int_equal(far.n_conns, 0);
    vx_exercise_report_release(&rep);
    (void)state;
}

static bool stop_after(void *arg)
{
    int *n = arg;

    return --*n < 0;
}

/* One fuzz run against site; returns the server's log of it (caller frees). The same server
 * serves every run, so Host headers (the port) are the same. */
static char *fuzz_log(struct srv *site, uint64_t seed, int64_t max_requests,
                      struct vx_exercise_report *rep)
{
    const int ports[] = {site->port};
    struct vx_exercise_config cfg = {.netns_fd = -1,
                                     .ports = ports,
                                     .n_ports = 1,
                                     .health_timeout_ms = 2000,
                                     .fuzz = true,
                                     .max_requests = max_requests,
                                     .budget_ms = 30000,
                                     .request_timeout_ms = 1000,
                                     .seed = seed};
    struct vx_err *err = NULL;
    int64_t t0 = vx_mono_ms(), ms;
    char *log;

    pthread_mutex_lock(&site->mu);
    vx_buf_release(&site->log);
    site->n_requests = 0;
    pthread_mutex_unlock(&site->mu);
    assert_int_equal(vx_exercise_run(&cfg, rep, &err), 0);
    ms = vx_mono_ms() - t0;
    printf("# fuzz seed %" PRIu64 ": %" PRId64 " requests in %" PRId64 " ms (%.0f/s)\n", seed,
           rep->requests, ms, rep->requests * 1000.0 / (double)(ms + 1));
    assert_true(rep->requests <= max_requests);
    /* The server saw exactly what was counted (requests it could not read in full are logged
     * as well: one line each). The last one may still be in its hands: wait a little. */
    for (t0 = vx_mono_ms(); vx_mono_ms() - t0 < 2000;) {
        pthread_mutex_lock(&site->mu);
        bool all = site->n_requests == rep->requests;
        pthread_mutex_unlock(&site->mu);
        if (all)
            break;
        poll(NULL, 0, 10);
    }
    pthread_mutex_lock(&site->mu);
    assert_int_equal(site->n_requests, rep->requests);
    log = vx_xstrdup(vx_buf_str(&site->log));
    pthread_mutex_unlock(&site->mu);
    return log;
}

static void test_fuzz_seeded(void **state)
{
    struct srv far = {.bind_addr = "127.0.0.2"}, site = {0};
    struct vx_exercise_report r1, r2, r3;
    char *l1, *l2, *l3;

    srv_start(&far);
    site.ext_port = far.port;
    srv_start(&site);
    l1 = fuzz_log(&site, 42, 300, &r1);
    l2 = fuzz_log(&site, 42, 300, &r2);
    l3 = fuzz_log(&site, 43, 300, &r3);
    srv_stop(&site);
    srv_stop(&far);
    assert_int_equal(far.n_conns, 0); /* never the other host, whatever the mutation */
    assert_int_equal(r1.requests, 300);
    if (strcmp(l1, l2) != 0) { /* the same seed: the same requests in the same order */
        size_t i = 0, line = 1;
        for (; l1[i] && l1[i] == l2[i]; i++)
            line += l1[i] == '\n';
        fail_msg("seed 42 twice: line %zu differs: '%.120s' vs '%.120s'", line,
                 l1 + i - (i > 40 ? 40 : i), l2 + i - (i > 40 ? 40 : i));
    }
    assert_string_not_equal(l1, l3);
    assert_int_equal(r1.n_endpoints, r2.n_endpoints);
    assert_true(r1.n_endpoints >= VX_ARRAY_SIZE(SITE_ENDPOINTS));
    assert_true(r1.status_counts[4] > 20); /* mutations reach error paths */
    free(l1);
    free(l2);
    free(l3);
    vx_exercise_report_release(&r1);
    vx_exercise_report_release(&r2);
    vx_exercise_report_release(&r3);
    (void)state;
}

static void test_budgets(void **state)
{
    struct srv site = {0};
    struct vx_exercise_report rep;
    struct vx_err *err = NULL;
    int calls = 40;

    site.ext_port = 1;
    srv_start(&site);
    {
        const int ports[] = {site.port};
        struct vx_exercise_config cfg = {.netns_fd = -1,
                                         .ports = ports,
                                         .n_ports = 1,
                                         .fuzz = true,
                                         .max_requests = 1000000,
                                         .budget_ms = 700,
                                         .request_timeout_ms = 300,
                                         .seed = 5};
        /* The time budget: the slow endpoint's timeout is cut at the budget too. */
        assert_int_equal(vx_exercise_run(&cfg, &rep, &err), 0);
        assert_true(rep.health_ok);
        assert_true(rep.requests > 10);
        assert_true(rep.ran_ms <= 700 + 250);
        /* One of them is /slow, which holds the exerciser for its 300 ms timeout. */
        printf("# time budget 700 ms: %" PRId64 " requests in %" PRId64 " ms, %.0f/s outside the "
               "slow one\n",
               rep.requests, rep.ran_ms, (rep.requests - 1) * 1000.0 / (double)(rep.ran_ms - 300));
        vx_exercise_report_release(&rep);
        /* Cancel: should_stop is polled before every request. */
        cfg.budget_ms = 30000;
        cfg.should_stop = stop_after;
        cfg.stop_arg = &calls;
        assert_int_equal(vx_exercise_run(&cfg, &rep, &err), 0);
        assert_int_equal(rep.requests, 40);
        vx_exercise_report_release(&rep);
        /* The request budget without fuzzing: the crawl stops at it. */
        cfg.should_stop = NULL;
        cfg.fuzz = false;
        cfg.max_requests = 7;
        assert_int_equal(vx_exercise_run(&cfg, &rep, &err), 0);
        assert_int_equal(rep.requests, 7);
        vx_exercise_report_release(&rep);
    }
    srv_stop(&site);
    (void)state;
}

static void test_health_late(void **state)
{
    struct srv site = {.open_after_ms = 300};
    struct vx_exercise_report rep;
    struct vx_err *err = NULL;

    site.port = free_port();
    srv_start(&site);
    {
        const int ports[] = {site.port};
        struct vx_exercise_config cfg = {.netns_fd = -1,
                                         .ports = ports,
                                         .n_ports = 1,
                                         .health_path = "/nothing-here",
                                         .health_timeout_ms = 3000,
                                         .max_requests = 3,
                                         .budget_ms = 2000,
                                         .request_timeout_ms = 300};
        assert_int_equal(vx_exercise_run(&cfg, &rep, &err), 0);
    }
    srv_stop(&site);
    printf("# %s\n", rep.health_detail);
    assert_true(rep.health_ok); /* a 404 is an answer: below 500 */
    assert_true(rep.health_ms >= 300);
    assert_true(rep.health_ms < 1500);
    assert_non_null(strstr(rep.health_detail, "-> 404"));
    assert_int_equal(rep.requests, 3);
    vx_exercise_report_release(&rep);
    (void)state;
}

static void test_health_never(void **state)
{
    const int ports[] = {free_port()};
    struct vx_exercise_config cfg = {
        .netns_fd = -1, .ports = ports, .n_ports = 1, .health_path = "/", .health_timeout_ms = 500};
    struct vx_exercise_report rep;
    struct vx_err *err = NULL;
    int64_t t0 = vx_mono_ms();

    assert_int_equal(vx_exercise_run(&cfg, &rep, &err), 0);
    assert_false(rep.health_ok);
    assert_true(vx_mono_ms() - t0 < 500 + 300);
    assert_true(vx_mono_ms() - t0 >= 500);
    assert_int_equal(rep.requests, 0);
    assert_non_null(strstr(rep.health_detail, "not accepting connections"));
    vx_exercise_report_release(&rep);
    (void)state;
}

static void test_netns(void **state)
{
    struct srv far = {.bind_addr = "127.0.0.2"}, site = {.netns = true};
    struct vx_exercise_report rep;
    struct vx_err *err = NULL;

    if (geteuid() != 0)
        skip();
    srv_start(&far);
    site.ext_port = far.port;
    srv_start(&site);
    assert_true(site.netns_fd >= 0);
    {
        const int ports[] = {site.port};
        struct vx_exercise_config cfg = {.netns_fd = site.netns_fd,
                                         .ports = ports,
                                         .n_ports = 1,
                                         .health_path = "/",
                                         .health_timeout_ms = 2000,
                                         .max_requests = 1000,
                                         .budget_ms = 20000,
                                         .request_timeout_ms = 1000};
        assert_int_equal(vx_exercise_run(&cfg, &rep, &err), 0);
        assert_true(rep.health_ok);
        assert_int_equal(rep.requests, SITE_REQUESTS);
        assert_int_equal(rep.n_endpoints, VX_ARRAY_SIZE(SITE_ENDPOINTS));
        vx_exercise_report_release(&rep);
        /* From here (the host's namespace) 127.0.0.2 of the namespace's own loopback is not
         * reachable: the host's far server must not have been contacted. */
    }
    srv_stop(&site);
    srv_stop(&far);
    assert_int_equal(far.n_conns, 0);
    (void)state;
}

static void test_args_profiles_json(void **state)
{
    const int bad_port[] = {0};
    struct vx_exercise_config cfg = {.netns_fd = -1, .ports = bad_port, .n_ports = 1};
    struct vx_exercise_report rep = {0};
    struct vx_err *err = NULL;
    const struct vx_profile *p;
    char *json;

    assert_int_equal(vx_exercise_run(&cfg, &rep, &err), -VX_E_INVALID);
    vx_err_free(&err);
    cfg.n_ports = 0;
    cfg.host = "localhost";
    assert_int_equal(vx_exercise_run(&cfg, &rep, &err), -VX_E_INVALID);
    vx_err_free(&err);
    cfg.host = NULL;
    cfg.health_path = "no-slash";
    assert_int_equal(vx_exercise_run(&cfg, &rep, &err), -VX_E_INVALID);
    vx_err_free(&err);
    cfg.health_path = NULL;
    cfg.netns_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_int_equal(vx_exercise_run(&cfg, &rep, &err), -VX_E_SANDBOX);
    assert_non_null(strstr(err->msg, "network namespace"));
    vx_err_free(&err);
    close(cfg.netns_fd);
    cfg.netns_fd = -1;
    assert_int_equal(vx_exercise_run(&cfg, &rep, &err), 0); /* no ports: nothing to do */
    assert_false(rep.health_ok);
    json = vx_exercise_json(&rep);
    assert_string_equal(json, "{\"endpoints\":[],\"errors\":0,\"health_detail\":\"no ports to "
                              "exercise\",\"health_ms\":0,\"health_ok\":false,\"openapi_found\":"
                              "false,\"ran_ms\":0,\"requests\":0,\"status_counts\":{\"1xx\":0,"
                              "\"2xx\":0,\"3xx\":0,\"4xx\":0,\"5xx\":0,\"none\":0}}");
    free(json);
    vx_exercise_report_release(&rep);
    vx_exercise_report_release(NULL);

    p = vx_profile_get("minimal");
    assert_non_null(p);
    assert_int_equal(p->duration_ms, 30000);
    assert_int_equal(p->max_requests, 50);
    assert_false(p->fuzz);
    p = vx_profile_get("standard");
    assert_int_equal(p->duration_ms, 60000);
    assert_int_equal(p->max_requests, 500);
    assert_true(p->fuzz);
    p = vx_profile_get("comprehensive");
    assert_int_equal(p->duration_ms, 300000);
    assert_int_equal(p->max_requests, 5000);
    assert_true(p->fuzz);
    assert_null(vx_profile_get("custom"));
    assert_null(vx_profile_get(NULL));
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser),      cmocka_unit_test(test_parser_caps),
        cmocka_unit_test(test_resolve),     cmocka_unit_test(test_html_scan),
        cmocka_unit_test(test_openapi),     cmocka_unit_test(test_prng),
        cmocka_unit_test(test_crawl_site),  cmocka_unit_test(test_two_ports),
        cmocka_unit_test(test_fuzz_seeded), cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_health_late), cmocka_unit_test(test_health_never),
        cmocka_unit_test(test_netns),       cmocka_unit_test(test_args_profiles_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
