/* fuzz_http.c -- libFuzzer target for what the exerciser reads from a workload: the HTTP
 * response parser (http.c), the HTML link/form scanner and reference resolution, and the
 * OpenAPI reader (crawl.c), whose requests then go through the mutator (mutate.c).
 *
 * The first byte picks the reader; the rest is the workload's bytes. The parser is fed in
 * slices whose sizes come from the input too, and must give the same verdict and body as
 * one feed of everything (the split-invariance the exerciser relies on). Resolved targets
 * must be absolute paths on an exercised port, so a hostile page can never send the
 * exerciser elsewhere.
 */
#include "common/setup.h"

#include "sandbox/exercise_int.h"

#include "common/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse(const uint8_t *d, size_t n, bool head, size_t step, struct vx_http_resp *r)
{
    struct vx_http_parser p;
    size_t off = 0;
    int st = VX_HTTP_MORE;

    vx_http_resp_init(r);
    vx_http_parser_init(&p, r, head);
    while (off < n && st == VX_HTTP_MORE) {
        size_t k = n - off < step ? n - off : step;
        st = vx_http_parser_feed(&p, (const char *)d + off, k);
        off += k;
    }
    if (st == VX_HTTP_MORE)
        st = vx_http_parser_eof(&p);
    vx_http_parser_release(&p);
    return st;
}

static void fuzz_response(const uint8_t *d, size_t n)
{
    struct vx_http_resp a, b;
    bool head = n > 0 && (d[0] & 1);
    size_t step = n > 1 ? 1 + d[1] % 97 : 1;
    int sa, sb;

    if (n < 2)
        return;
    sa = parse(d + 2, n - 2, head, n, &a);
    sb = parse(d + 2, n - 2, head, step, &b);
    if (sa != sb || a.status != b.status || a.body.len != b.body.len ||
        (a.body.len && memcmp(a.body.data, b.body.data, a.body.len)) ||
        strcmp(a.content_type, b.content_type) || strcmp(a.location, b.location))
        abort(); /* a split changed the outcome */
    if (a.body.len > VX_HTTP_MAX_BODY || (a.status && (a.status < 100 || a.status > 599)))
        abort();
    vx_http_resp_release(&a);
    vx_http_resp_release(&b);
}

static void fuzz_html(const uint8_t *d, size_t n)
{
    static const int ports[] = {8080, 9090};
    struct vx_url_base base = {
        .host = "127.0.0.1", .ports = ports, .n_ports = 2, .port = 8080, .path = "/a/b/c.html"};
    struct vx_html_scan s;
    size_t i;

    vx_html_scan((const char *)d, n, 64, &s);
    if (s.n_links > 64 || s.n_forms > 64)
        abort();
    for (i = 0; i < s.n_links + s.n_forms; i++) {
        const char *ref = i < s.n_links ? s.links[i] : s.forms[i - s.n_links].action;
        char *t = NULL;
        int port = 0;
        if (!ref)
            continue;
        if (vx_url_resolve(&base, ref, &port, &t) == 0) {
            if (t[0] != '/' || (port != 8080 && port != 9090) || strlen(t) > VX_HTTP_MAX_TARGET ||
                strpbrk(t, " \r\n\t#"))
                abort();
            free(t);
        } else if (t) {
            abort();
        }
    }
    vx_html_scan_release(&s);
}

static void fuzz_openapi(const uint8_t *d, size_t n)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)d, n, 0, &je);
    struct vx_ex_req *reqs = NULL;
    struct vx_buf out = VX_BUF_INIT(256u << 10);
    struct vx_prng rng;
    size_t cnt = 0, cap = 0, i;

    if (!doc)
        return;
    vx_openapi_requests(doc, &reqs, &cnt, &cap, 16);
    json_decref(doc);
    vx_prng_seed(&rng, n);
    for (i = 0; i < cnt; i++) {
        const char *m;
        enum vx_mutation k;
        /* An absolute path with nothing that could break the request line. */
        if (!reqs[i].method || !reqs[i].target || reqs[i].target[0] != '/' ||
            strpbrk(reqs[i].target, " \r\n\t#"))
            abort();
        vx_format_request(&reqs[i], "127.0.0.1:8080", &out);
        vx_mutate_request(&rng, &reqs[i], "127.0.0.1:8080", &out, &m, &k);
        vx_ex_req_release(&reqs[i]);
    }
    free(reqs);
    vx_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_response(data + 1, size - 1);
        break;
    case 1:
        fuzz_html(data + 1, size - 1);
        break;
    default:
        fuzz_openapi(data + 1, size - 1);
        break;
    }
    return 0;
}
