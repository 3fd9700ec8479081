/* http.c -- a small HTTP/1.1 client for the exerciser: one request per TCP connection.
 *
 * The workload is untrusted and may be hostile or broken: every wait is a poll(2) bounded
 * by the caller's deadline, the header block is capped at 64 KiB, bodies are kept up to
 * 1 MiB and never read further, chunk sizes and lines are bounded, and anything that is not
 * HTTP/1.x ends the exchange as a protocol error. The exerciser sends "Connection: close",
 * so there is no keep-alive, pipelining or connection reuse to get wrong; it never follows
 * redirects here (the crawler decides what a Location is worth).
 *
 * DESIGN: the parser is a state machine fed with whatever read(2) returned, so a response
 * split at any byte parses the same as one read at once (the fuzz target checks parsing
 * never crashes; tests/unit/sandbox checks split feeds).
 */
#include "common/setup.h"

#include "sandbox/exercise_int.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/util.h" /* vx_mono_ms */

enum {
    ST_HEADERS,
    ST_BODY_LEN,
    ST_CHUNK_SIZE,
    ST_CHUNK_DATA,
    ST_CHUNK_END,
    ST_TRAILERS,
    ST_BODY_EOF,
    ST_DONE,
    ST_BAD
};

#define MAX_LINE      4096 /* a chunk-size or trailer line */
#define MAX_CHUNK_HEX 15   /* hex digits of a chunk size: < 2^60 */

void vx_http_resp_init(struct vx_http_resp *r)
{
    memset(r, 0, sizeof(*r));
    vx_buf_init(&r->body, VX_HTTP_MAX_BODY);
}

void vx_http_resp_release(struct vx_http_resp *r)
{
    if (!r)
        return;
    vx_buf_release(&r->body);
    r->status = 0;
    r->truncated = false;
    r->content_type[0] = r->location[0] = '\0';
}

void vx_http_parser_init(struct vx_http_parser *p, struct vx_http_resp *resp, bool head)
{
    memset(p, 0, sizeof(*p));
    p->resp = resp;
    p->head = head;
    p->state = ST_HEADERS;
    /* Unconsumed input never exceeds a header block or a line plus one read. */
    vx_buf_init(&p->in, VX_HTTP_MAX_HEADER + 65536);
}

void vx_http_parser_release(struct vx_http_parser *p)
{
    vx_buf_release(&p->in);
}

/* Appends body bytes up to the cap; true when the cap was reached (stop reading). */
static bool add_body(struct vx_http_parser *p, const char *d, size_t n)
{
    struct vx_buf *b = &p->resp->body;
    size_t room = b->max - b->len;

    if (n > room) {
        vx_buf_add(b, d, room);
        p->resp->truncated = true;
        return true;
    }
    vx_buf_add(b, d, n);
    return false;
}

static void copy_value(char *dst, size_t dstlen, const char *v, size_t n, bool lower)
{
    size_t i;

    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= dstlen)
        n = dstlen - 1;
    for (i = 0; i < n; i++) {
        char c = v[i];
        dst[i] = lower && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    dst[n] = '\0';
}

/* Parses the status line and headers in h[0..n) (lines end in CRLF or LF). Returns 0, or -1
 * if it is not an HTTP/1.x response. Sets framing in p. */
static int parse_head(struct vx_http_parser *p, const char *h, size_t n)
{
    const char *line = h, *end = h + n, *eol;
    bool chunked = false, have_len = false;
    int64_t clen = 0;
    int status;

    eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol || eol - line < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
        return -1;
    if (line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' || line[11] < '0' ||
        line[11] > '9')
        return -1;
    status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (eol - line > 12 && line[12] != ' ' && line[12] != '\r')
        return -1;
    p->resp->status = status;
    p->resp->content_type[0] = p->resp->location[0] = '\0';
    for (line = eol + 1; line < end; line = eol + 1) {
        const char *colon;
        size_t len;

        eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        len = (size_t)(eol - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len == 0)
            break;
        colon = memchr(line, ':', len);
        if (!colon)
            continue; /* tolerated: obsolete folding or junk */
        size_t nlen = (size_t)(colon - line), vlen = len - nlen - 1;
        const char *v = colon + 1;
        if (nlen == 14 && !strncasecmp(line, "content-length", 14)) {
            char num[24];
            int64_t x;
            copy_value(num, sizeof(num), v, vlen, false);
            if (vx_parse_i64(num, 0, INT64_MAX / 2, &x) < 0)
                return -1; /* ambiguous framing: refuse rather than guess */
            if (have_len && x != clen)
                return -1;
            have_len = true;
            clen = x;
        } else if (nlen == 17 && !strncasecmp(line, "transfer-encoding", 17)) {
            char te[64];
            copy_value(te, sizeof(te), v, vlen, true);
            size_t tl = strlen(te);
            chunked = tl >= 7 && !strcmp(te + tl - 7, "chunked");
        } else if (nlen == 12 && !strncasecmp(line, "content-type", 12)) {
            char *semi;
            copy_value(p->resp->content_type, sizeof(p->resp->content_type), v, vlen, true);
            if ((semi = strchr(p->resp->content_type, ';')) != NULL)
                *semi = '\0';
        } else if (nlen == 8 && !strncasecmp(line, "location", 8)) {
            copy_value(p->resp->location, sizeof(p->resp->location), v, vlen, false);
        }
    }
    if (p->head || status == 204 || status == 304 || (status >= 100 && status < 200))
        p->state = ST_DONE;
    else if (chunked)
        p->state = ST_CHUNK_SIZE; /* chunked wins over Content-Length (RFC 9112 6.3) */
    else if (have_len) {
        p->left = clen;
        p->state = clen == 0 ? ST_DONE : ST_BODY_LEN;
    } else
        p->state = ST_BODY_EOF;
    return 0;
}

/* Finds the end of the header block: the offset just past CRLFCRLF or LFLF, or 0. */
static size_t head_end(const char *d, size_t n)
{
    size_t i;

    for (i = 0; i + 1 < n; i++) {
        if (d[i] != '\n')
            continue;
        if (d[i + 1] == '\n')
            return i + 2;
        if (d[i + 1] == '\r' && i + 2 < n && d[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Runs the state machine over p->in; returns the number of bytes consumed. */
static size_t step(struct vx_http_parser *p)
{
    const char *d = p->in.data;
    size_t n = p->in.len, pos = 0;

    while (pos < n || p->state == ST_DONE) {
        const char *nl;
        size_t avail = n - pos, take;

        switch (p->state) {
        case ST_HEADERS: {
            size_t e = head_end(d + pos, avail);
            /* The same limit whether the block arrived at once or in pieces. */
            if (e > VX_HTTP_MAX_HEADER || (!e && avail > VX_HTTP_MAX_HEADER)) {
                p->state = ST_BAD;
                return pos;
            }
            if (!e)
                return pos;
            if (parse_head(p, d + pos, e) < 0) {
                p->state = ST_BAD;
                return pos;
            }
            /* An interim 1xx (100 Continue) is followed by the real response. */
            if (p->resp->status >= 100 && p->resp->status < 200 && p->resp->status != 101)
                p->state = ST_HEADERS;
            pos += e;
            break;
        }
        case ST_BODY_LEN:
            take = avail < (uint64_t)p->left ? avail : (size_t)p->left;
            if (add_body(p, d + pos, take)) {
                p->state = ST_DONE;
                return n;
            }
            pos += take;
            p->left -= (int64_t)take;
            if (p->left == 0)
                p->state = ST_DONE;
            break;
        case ST_CHUNK_SIZE: {
            uint64_t sz = 0;
            size_t i, digits = 0;
            nl = memchr(d + pos, '\n', avail);
            if ((nl && (size_t)(nl - d) - pos > MAX_LINE) || (!nl && avail > MAX_LINE)) {
                p->state = ST_BAD;
                return pos;
            }
            if (!nl)
                return pos;
            for (i = pos; d + i < nl; i++) {
                int c = (unsigned char)d[i], v;
                if (c >= '0' && c <= '9')
                    v = c - '0';
                else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
                    v = (c | 0x20) - 'a' + 10;
                else
                    break; /* ';' extensions, spaces, CR */
                if (++digits > MAX_CHUNK_HEX) {
                    p->state = ST_BAD;
                    return pos;
                }
                sz = sz * 16 + (uint64_t)v;
            }
            if (digits == 0) {
                p->state = ST_BAD;
                return pos;
            }
            pos = (size_t)(nl - d) + 1;
            p->left = (int64_t)sz;
            p->state = sz == 0 ? ST_TRAILERS : ST_CHUNK_DATA;
            break;
        }
        case ST_CHUNK_DATA:
            take = avail < (uint64_t)p->left ? avail : (size_t)p->left;
            if (add_body(p, d + pos, take)) {
                p->state = ST_DONE;
                return n;
            }
            pos += take;
            p->left -= (int64_t)take;
            if (p->left == 0)
                p->state = ST_CHUNK_END;
            break;
        case ST_CHUNK_END:
            if (d[pos] == '\r') {
                if (avail < 2)
                    return pos;
                pos++;
            }
            if (d[pos] != '\n') {
                p->state = ST_BAD;
                return pos;
            }
            pos++;
            p->state = ST_CHUNK_SIZE;
            break;
        case ST_TRAILERS:
            nl = memchr(d + pos, '\n', avail);
            if ((nl && (size_t)(nl - d) - pos > MAX_LINE) || (!nl && avail > MAX_LINE)) {
                p->state = ST_BAD;
                return pos;
            }
            if (!nl)
                return pos;
            if (nl == d + pos || (nl == d + pos + 1 && d[pos] == '\r'))
                p->state = ST_DONE;
            pos = (size_t)(nl - d) + 1;
            break;
        case ST_BODY_EOF:
            if (add_body(p, d + pos, avail)) {
                p->state = ST_DONE;
                return n;
            }
            return n;
        default: /* ST_DONE, ST_BAD: the rest is ignored */
            return n;
        }
    }
    return pos;
}

static int verdict(const struct vx_http_parser *p)
{
    if (p->state == ST_DONE)
        return VX_HTTP_DONE;
    if (p->state == ST_BAD)
        return VX_HTTP_BAD;
    return VX_HTTP_MORE;
}

int vx_http_parser_feed(struct vx_http_parser *p, const char *data, size_t len)
{
    size_t used;

    if (p->state == ST_DONE || p->state == ST_BAD)
        return verdict(p);
    while (len > 0 && p->state != ST_DONE && p->state != ST_BAD) {
        /* Bounded slices keep p->in under its cap whatever the caller feeds at once. */
        size_t slice = len < 65536 ? len : 65536;
        if (vx_buf_add(&p->in, data, slice) < 0) {
            p->state = ST_BAD;
            break;
        }
        data += slice;
        len -= slice;
        used = step(p);
        if (used >= p->in.len) {
            p->in.len = 0;
        } else if (used > 0) {
            memmove(p->in.data, p->in.data + used, p->in.len - used);
            p->in.len -= used;
        }
        if (p->in.data)
            p->in.data[p->in.len] = '\0';
    }
    return verdict(p);
}

int vx_http_parser_eof(struct vx_http_parser *p)
{
    if (p->state == ST_BODY_EOF)
        p->state = ST_DONE;
    else if (p->state != ST_DONE)
        p->state = ST_BAD;
    return verdict(p);
}

/* ---- the socket side -------------------------------------------------------------------- */

static int remaining(int64_t deadline_ms)
{
    int64_t left = deadline_ms - vx_mono_ms();

    if (left <= 0)
        return 0;
    return left > 60000 ? 60000 : (int)left;
}

/* Non-blocking connect finished before the deadline: the fd, else -1 (*timed_out says
 * which). */
static int open_conn(const struct sockaddr *addr, socklen_t addrlen, int64_t deadline_ms,
                     bool *timed_out)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int soerr = 0;
    socklen_t sl = sizeof(soerr);

    *timed_out = false;
    if (fd < 0)
        return -1;
    if (connect(fd, addr, addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS)
        goto fail;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int ms = remaining(deadline_ms), rc;
        if (ms == 0) {
            *timed_out = true;
            goto fail;
        }
        rc = poll(&pfd, 1, ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            *timed_out = rc == 0;
            goto fail;
        }
        break;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

int vx_http_connect_probe(const struct sockaddr *addr, socklen_t addrlen, int64_t deadline_ms)
{
    bool to;
    int fd = open_conn(addr, addrlen, deadline_ms, &to);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

enum vx_http_result vx_http_exchange(const struct sockaddr *addr, socklen_t addrlen,
                                     const char *req, size_t len, bool head, int64_t deadline_ms,
                                     struct vx_http_resp *resp)
{
    struct vx_http_parser p;
    enum vx_http_result res = VX_HTTP_OK;
    bool timed_out, write_failed = false;
    size_t off = 0;
    char chunk[16384];
    int fd, st = VX_HTTP_MORE;

    vx_http_resp_release(resp);
    vx_http_resp_init(resp);
    fd = open_conn(addr, addrlen, deadline_ms, &timed_out);
    if (fd < 0)
        return VX_HTTP_E_CONNECT;
    vx_http_parser_init(&p, resp, head);
    /* Write the request; a server may answer (431, 400) and close before reading it all,
     * so a failed write still goes on to read whatever response there is. */
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT | POLLIN};
            int ms = remaining(deadline_ms), rc;
            if (ms == 0) {
                res = VX_HTTP_E_TIMEOUT;
                goto out;
            }
            rc = poll(&pfd, 1, ms);
            if (rc == 0) {
                res = VX_HTTP_E_TIMEOUT;
                goto out;
            }
            if (rc > 0 && (pfd.revents & POLLIN) && !(pfd.revents & POLLOUT))
                break; /* it answers before taking the rest */
            continue;
        }
        write_failed = true;
        break;
    }
    /* No shutdown(SHUT_WR): some servers take a half-close for an aborted request. */
    (void)write_failed;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ms = remaining(deadline_ms), rc;
        ssize_t r;

        if (ms == 0) {
            res = VX_HTTP_E_TIMEOUT;
            break;
        }
        rc = poll(&pfd, 1, ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc == 0) {
            res = VX_HTTP_E_TIMEOUT;
            break;
        }
        if (rc < 0) {
            res = VX_HTTP_E_CLOSED;
            break;
        }
        r = recv(fd, chunk, sizeof(chunk), 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            st = vx_http_parser_eof(&p);
            if (st == VX_HTTP_BAD)
                res = resp->status || p.in.len == 0 ? VX_HTTP_E_CLOSED : VX_HTTP_E_PROTOCOL;
            break;
        }
        st = vx_http_parser_feed(&p, chunk, (size_t)r);
        if (st == VX_HTTP_DONE)
            break;
        if (st == VX_HTTP_BAD) {
            res = VX_HTTP_E_PROTOCOL;
            break;
        }
    }
out:
    vx_http_parser_release(&p);
    close(fd);
    return res;
}
