/* alloc.c -- the only code that calls the malloc(3) family (STYLE.md R12). */
#define VX_ALLOC_IMPL 1
#include "common/setup.h"

#include "common/alloc.h"

static void oom(size_t n)
{
    fprintf(stderr, "vexxy: out of memory allocating %zu bytes\n", n);
    abort();
}

void *vx_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        oom(n);
    return p;
}

void *vx_xcalloc(size_t nmemb, size_t size)
{
    size_t total;
    void *p;

    if (__builtin_mul_overflow(nmemb, size, &total))
        oom(SIZE_MAX);
    p = calloc(total ? total : 1, 1);
    if (!p)
        oom(total);
    return p;
}

void *vx_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        oom(n);
    return q;
}

void *vx_xgrow(void *p, size_t elem, size_t need, size_t *cap)
{
    size_t ncap = *cap ? *cap : 8;
    size_t bytes;

    if (need <= *cap)
        return p;
    while (ncap < need) {
        if (__builtin_mul_overflow(ncap, 2, &ncap))
            oom(SIZE_MAX);
    }
    if (__builtin_mul_overflow(ncap, elem, &bytes))
        oom(SIZE_MAX);
    p = vx_xrealloc(p, bytes);
    *cap = ncap;
    return p;
}

char *vx_xstrdup(const char *s)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        oom(strlen(s) + 1);
    return d;
}

char *vx_xstrndup(const char *s, size_t n)
{
    char *d;

    if (!s)
        return NULL;
    d = strndup(s, n);
    if (!d)
        oom(n + 1);
    return d;
}

char *vx_xvasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;

    if (vasprintf(&s, fmt, ap) < 0)
        oom(strlen(fmt));
    return s;
}

char *vx_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vx_xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}
