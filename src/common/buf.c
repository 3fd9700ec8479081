/* buf.c -- capped growable buffer (see buf.h). */
#include "common/setup.h"

#include "common/buf.h"
#include "common/alloc.h" /* for vx_xrealloc() */
#include "common/err.h"   /* for VX_E_TOO_LARGE */

void vx_buf_init(struct vx_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void vx_buf_release(struct vx_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

static int reserve(struct vx_buf *b, size_t extra)
{
    size_t need, ncap;

    if (__builtin_add_overflow(b->len, extra, &need) || need > b->max)
        return -VX_E_TOO_LARGE;
    if (need + 1 <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need + 1)
        ncap = ncap > SIZE_MAX / 2 ? need + 1 : ncap * 2;
    b->data = vx_xrealloc(b->data, ncap);
    b->cap = ncap;
    return 0;
}

int vx_buf_add(struct vx_buf *b, const void *data, size_t len)
{
    if (reserve(b, len) < 0)
        return -VX_E_TOO_LARGE;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int vx_buf_adds(struct vx_buf *b, const char *s)
{
    return vx_buf_add(b, s, strlen(s));
}

int vx_buf_addf(struct vx_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -VX_E_INTERNAL;
    if (reserve(b, (size_t)n) < 0)
        return -VX_E_TOO_LARGE;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int vx_buf_add_json_str(struct vx_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    char esc[7] = "\\u00";

    if (vx_buf_add(b, "\"", 1) < 0)
        return -VX_E_TOO_LARGE;
    for (; *p; p++) {
        int rc;

        if (*p == '"' || *p == '\\') {
            char two[2] = {'\\', (char)*p};
            rc = vx_buf_add(b, two, 2);
        } else if (*p == '\n') {
            rc = vx_buf_add(b, "\\n", 2);
        } else if (*p == '\t') {
            rc = vx_buf_add(b, "\\t", 2);
        } else if (*p == '\r') {
            rc = vx_buf_add(b, "\\r", 2);
        } else if (*p < 0x20) {
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            rc = vx_buf_add(b, esc, 6);
        } else {
            rc = vx_buf_add(b, p, 1);
        }
        if (rc < 0)
            return rc;
    }
    return vx_buf_add(b, "\"", 1);
}

char *vx_buf_detach(struct vx_buf *b, size_t *len)
{
    char *d = b->data;

    if (!d)
        d = vx_xstrdup("");
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}

const char *vx_buf_str(const struct vx_buf *b)
{
    return b->data ? b->data : "";
}
