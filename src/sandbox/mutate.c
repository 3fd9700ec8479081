/* mutate.c -- the exerciser's fuzz stage: a seeded PRNG and request mutations.
 *
 * Every choice comes from one splitmix64 stream seeded by the job's seed, so a run is
 * reproducible: the same endpoints and seed give byte-identical requests in the same order
 * (tests/unit/sandbox checks it against a server's log). Mutations start from a request
 * the crawl found and change one thing: the method, the path (traversal, a long segment,
 * %-encodings), query values, the body (hostile strings, numbers at limits, JSON type
 * confusion, deep nesting), headers (oversized, odd Content-Type) or the request line
 * itself (malformed). The request is only ever built here; where it is sent is the
 * caller's business (the target host, never anything else). Sizes are bounded so a
 * mutated request stays well under 80 KiB.
 */
#include "common/setup.h"

#include "sandbox/exercise_int.h"

#include "common/alloc.h"

void vx_prng_seed(struct vx_prng *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t vx_prng_next(struct vx_prng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t vx_prng_below(struct vx_prng *r, uint64_t n)
{
    return n ? vx_prng_next(r) % n : 0; /* the modulo bias is irrelevant here */
}

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"};

/* Values that tend to reach error paths: limits, formats, injection-shaped strings. */
static const char *const hostile[] = {
    "-1",
    "0",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "-9223372036854775809",
    "18446744073709551616",
    "1e308",
    "-1e-308",
    "NaN",
    "Infinity",
    "0x7fffffff",
    "",
    "null",
    "true",
    "[]",
    "{}",
    "%00",
    "%s%s%s%n",
    "' OR '1'='1",
    "\"; --",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%ff%fe",
    "\xc3\x28",
    "\xef\xbb\xbf",
    "$(id)",
    "`id`",
    "|id",
    "{{7*7}}",
    "\\",
    "a\r\nX-Injected: 1",
};

static const char *const traversals[] = {
    "/../../../../etc/passwd",
    "/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/....//....//etc/passwd",
    "/..;/..;/etc/passwd",
    "/%c0%ae%c0%ae/etc/passwd",
    "/.%00/",
    "/./././.",
};

static const char *const content_types[] = {
    "application/json; charset=utf-7",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "text/xml",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "application/json",
    ";;;;",
    "text/plain; charset=\"\"",
};

static void add_repeat(struct vx_buf *b, char c, size_t n)
{
    char chunk[256];

    memset(chunk, c, sizeof(chunk));
    while (n > 0) {
        size_t k = n < sizeof(chunk) ? n : sizeof(chunk);
        vx_buf_add(b, chunk, k);
        n -= k;
    }
}

static void add_pct(struct vx_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '%') {
            vx_buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            vx_buf_add(b, e, 3);
        }
    }
}

static const char *pick_hostile(struct vx_prng *rng)
{
    return hostile[vx_prng_below(rng, VX_ARRAY_SIZE(hostile))];
}

/* A hostile body value into b: mostly from the table, sometimes a long run. */
static void add_value(struct vx_prng *rng, struct vx_buf *b)
{
    if (vx_prng_below(rng, 5) == 0)
        add_repeat(b, 'A', 256 + vx_prng_below(rng, 8192));
    else
        add_pct(b, pick_hostile(rng));
}

/* Replaces every query value of target (or adds "q=") with hostile ones. */
static void mutate_query(struct vx_prng *rng, const char *target, struct vx_buf *out)
{
    const char *q = strchr(target, '?'), *p;

    if (!q) {
        vx_buf_adds(out, target);
        vx_buf_adds(out, "?q=");
        add_value(rng, out);
        return;
    }
    vx_buf_add(out, target, (size_t)(q - target) + 1);
    for (p = q + 1; *p;) {
        size_t klen = strcspn(p, "=&");
        vx_buf_add(out, p, klen);
        vx_buf_add(out, "=", 1);
        add_value(rng, out);
        p += klen;
        p += strcspn(p, "&");
        if (*p == '&') {
            vx_buf_add(out, "&", 1);
            p++;
        }
    }
}

/* JSON type confusion: each member of a JSON object body gets a value of another type. */
static char *mutate_json(struct vx_prng *rng, const char *body)
{
    json_error_t je;
    json_t *v = body ? json_loads(body, 0, &je) : NULL, *nv;
    const char *k;
    json_t *old;
    char *out;

    if (!json_is_object(v)) {
        json_decref(v);
        v = json_object();
        json_object_set_new(v, "id", json_integer(1));
        json_object_set_new(v, "name", json_string("x"));
    }
    json_object_foreach(v, k, old)
    {
        switch (vx_prng_below(rng, 9)) {
        case 0:
            nv = json_is_string(old) ? json_integer(INT64_MAX) : json_string("1");
            break;
        case 1:
            nv = json_null();
            break;
        case 2:
            nv = json_pack("[s,i]", "a", -1);
            break;
        case 3:
            nv = json_pack("{s:s}", "$gt", "");
            break;
        case 4:
            nv = json_real(-1e308);
            break;
        case 5:
            nv = json_string(pick_hostile(rng));
            break;
        case 6:
            nv = json_integer(INT64_MIN);
            break;
        case 7:
            nv = json_false();
            break;
        default:
            nv = json_deep_copy(old); /* unchanged */
            break;
        }
        if (!nv) /* a hostile string that is not UTF-8 */
            nv = json_string("\\u0000");
        json_object_set_new(v, k, nv);
    }
    out = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return out;
}

static void add_nested(struct vx_buf *b, size_t depth)
{
    add_repeat(b, '[', depth);
    add_repeat(b, ']', depth);
}

/* The request line, headers and body of a (possibly changed) request. */
static void emit(struct vx_buf *out, const char *method, const char *target, const char *host_hdr,
                 const char *ctype, const char *body, size_t body_len, const char *extra)
{
    vx_buf_addf(out, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vexxy-exerciser\r\n", method,
                target, host_hdr);
    vx_buf_adds(out, "Accept: */*\r\nConnection: close\r\n");
    if (extra)
        vx_buf_adds(out, extra);
    if (body) {
        if (ctype)
            vx_buf_addf(out, "Content-Type: %s\r\n", ctype);
        vx_buf_addf(out, "Content-Length: %zu\r\n", body_len);
    } else if (!strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH")) {
        vx_buf_adds(out, "Content-Length: 0\r\n");
    }
    vx_buf_adds(out, "\r\n");
    if (body)
        vx_buf_add(out, body, body_len);
}

void vx_format_request(const struct vx_ex_req *r, const char *host_hdr, struct vx_buf *out)
{
    vx_buf_release(out);
    emit(out, r->method, r->target, host_hdr, r->content_type, r->body, r->body_len, NULL);
}

void vx_mutate_request(struct vx_prng *rng, const struct vx_ex_req *r, const char *host_hdr,
                       struct vx_buf *out, const char **method_out, enum vx_mutation *kind)
{
    enum vx_mutation k = (enum vx_mutation)vx_prng_below(rng, VX_MUT_COUNT);
    struct vx_buf t = VX_BUF_INIT(32768), extra = VX_BUF_INIT(40000), body = VX_BUF_INIT(32768);
    const char *method = r->method, *ctype = r->content_type;
    const char *path_end = r->target + strcspn(r->target, "?");
    char *json = NULL;
    bool has_body = r->body != NULL;

    vx_buf_release(out);
    switch (k) {
    case VX_MUT_METHOD:
        method = methods[vx_prng_below(rng, VX_ARRAY_SIZE(methods))];
        vx_buf_adds(&t, r->target);
        break;
    case VX_MUT_TRAVERSAL: {
        /* Drop the last segment sometimes, then climb. */
        size_t plen = (size_t)(path_end - r->target);
        if (plen > 1 && vx_prng_below(rng, 2))
            vx_buf_add(&t, r->target, plen - 1);
        else
            vx_buf_add(&t, r->target, plen);
        vx_buf_adds(&t, traversals[vx_prng_below(rng, VX_ARRAY_SIZE(traversals))]);
        break;
    }
    case VX_MUT_LONG_SEGMENT:
        vx_buf_add(&t, r->target, (size_t)(path_end - r->target));
        if (t.len == 0 || t.data[t.len - 1] != '/')
            vx_buf_adds(&t, "/");
        add_repeat(&t, "Aa0/."[vx_prng_below(rng, 3)], 256 + vx_prng_below(rng, 16000));
        break;
    case VX_MUT_PCT: {
        /* Encode path bytes, or plant invalid/NUL/overlong escapes. */
        static const char *const bad[] = {"%", "%zz", "%00", "%ff", "%2f", "%5c", "%u002e", "%%"};
        const char *c;
        for (c = r->target; c < path_end; c++) {
            if (*c != '/' && vx_prng_below(rng, 3) == 0)
                vx_buf_addf(&t, "%%%02X", (unsigned char)*c);
            else
                vx_buf_add(&t, c, 1);
        }
        vx_buf_adds(&t, bad[vx_prng_below(rng, VX_ARRAY_SIZE(bad))]);
        vx_buf_adds(&t, path_end);
        break;
    }
    case VX_MUT_QUERY:
        mutate_query(rng, r->target, &t);
        break;
    case VX_MUT_BODY:
        vx_buf_adds(&t, r->target);
        if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
            method = "POST";
        switch (vx_prng_below(rng, 4)) {
        case 0:
            json = mutate_json(rng,
                               r->content_type && strstr(r->content_type, "json") ? r->body : NULL);
            if (json)
                vx_buf_adds(&body, json);
            ctype = "application/json";
            break;
        case 1:
            add_nested(&body, 512 + vx_prng_below(rng, 4096));
            ctype = "application/json";
            break;
        case 2:
            vx_buf_adds(&body, "a=");
            add_value(rng, &body);
            vx_buf_adds(&body, "&b=");
            add_value(rng, &body);
            ctype = "application/x-www-form-urlencoded";
            break;
        default: {
            size_t n = 1 + vx_prng_below(rng, 2048), i;
            for (i = 0; i < n; i++) {
                char c = (char)vx_prng_next(rng);
                vx_buf_add(&body, &c, 1);
            }
            ctype = content_types[vx_prng_below(rng, VX_ARRAY_SIZE(content_types))];
            break;
        }
        }
        has_body = true;
        break;
    case VX_MUT_HEADER:
        vx_buf_adds(&t, r->target);
        switch (vx_prng_below(rng, 4)) {
        case 0:
            vx_buf_adds(&extra, "X-Vexxy-Fuzz: ");
            add_repeat(&extra, 'A', 4096 + vx_prng_below(rng, 32768));
            vx_buf_adds(&extra, "\r\n");
            break;
        case 1: {
            size_t i, n = 50 + vx_prng_below(rng, 150);
            for (i = 0; i < n; i++)
                vx_buf_addf(&extra, "X-F%zu: %s\r\n", i, i % 2 ? "1" : "");
            break;
        }
        case 2:
            ctype = content_types[vx_prng_below(rng, VX_ARRAY_SIZE(content_types))];
            if (!has_body) {
                vx_buf_adds(&body, "{\"a\":1}");
                has_body = true;
                if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
                    method = "POST";
            }
            break;
        default:
            vx_buf_adds(&extra, "Accept-Encoding: gzip, deflate, br\r\nRange: bytes=0-0,-1\r\n"
                                "If-None-Match: *\r\nCookie: a=");
            add_value(rng, &extra);
            vx_buf_adds(&extra, "\r\n");
            break;
        }
        break;
    case VX_MUT_REQUEST_LINE:
    default: {
        /* method (NULL = the request's), separator, target, then tail[0..tail_len). */
        static const struct {
            const char *method, *sep, *tail;
            size_t tail_len;
        } lines[] = {
            {NULL, "  ", " HTTP/1.1\r\n", 11},
            {NULL, " ", " HTTP/9.9\r\n", 11},
            {NULL, " ", "\r\n", 2},
            {"get", " ", " HTTP/1.1\r\n", 11},
            {"FOO", " ", " HTTP/1.1\r\n", 11},
            {NULL, " ", " HTTP/1.1 extra\r\n", 17},
            {NULL, "\t", " HTTP/1.1\r\n", 11},
            {NULL, " ", " HTTP/1.1\n", 10},
            {NULL, " ", "\0 HTTP/1.1\r\n", 12},
        };
        size_t which = vx_prng_below(rng, VX_ARRAY_SIZE(lines) + 2);
        k = VX_MUT_REQUEST_LINE;
        if (which < VX_ARRAY_SIZE(lines)) {
            if (lines[which].method)
                method = lines[which].method;
            vx_buf_adds(out, method);
            vx_buf_adds(out, lines[which].sep);
            vx_buf_adds(out, r->target);
            vx_buf_add(out, lines[which].tail, lines[which].tail_len);
            vx_buf_addf(out, "Host: %s\r\nConnection: close\r\n\r\n", host_hdr);
        } else if (which == VX_ARRAY_SIZE(lines)) {
            /* Absolute form, still naming the target host only. */
            vx_buf_addf(out, "%s http://%s%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                        method, host_hdr, r->target, host_hdr);
        } else {
            /* No Host header (mandatory in HTTP/1.1) and LF-only line ends. */
            vx_buf_addf(out, "%s %s HTTP/1.1\nConnection: close\n\n", method, r->target);
        }
        *method_out = method;
        *kind = k;
        goto out;
    }
    }
    emit(out, method, vx_buf_str(&t), host_hdr, ctype,
         has_body ? (body.len ? vx_buf_str(&body) : r->body) : NULL,
         has_body ? (body.len ? body.len : r->body_len) : 0, extra.len ? vx_buf_str(&extra) : NULL);
    *method_out = method;
    *kind = k;
out:
    free(json);
    vx_buf_release(&t);
    vx_buf_release(&extra);
    vx_buf_release(&body);
}
