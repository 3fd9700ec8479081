/* alloc.h -- the one door for heap allocation (STYLE.md R12).
 *
 * Every function here either succeeds or logs the size and aborts: a daemon with a
 * durable queue restarts cleanly, and untrusted sizes are capped before they get here.
 * Memory from these functions is released with free(3).
 */
#ifndef VX_COMMON_ALLOC_H
#define VX_COMMON_ALLOC_H

#include <stddef.h>
#include <stdarg.h>

/* Caller owns the result; never NULL. */
void *vx_xmalloc(size_t n);
/* Zeroed; aborts on nmemb * size overflow. Caller owns the result; never NULL. */
void *vx_xcalloc(size_t nmemb, size_t size);
/* Like realloc(3) but never NULL; 'p' is no longer valid afterwards. */
void *vx_xrealloc(void *p, size_t n);
/* Grows an array to hold at least 'need' elements, doubling; updates *cap. */
void *vx_xgrow(void *p, size_t elem, size_t need, size_t *cap);
/* Caller owns the copy. NULL in, NULL out. */
char *vx_xstrdup(const char *s);
/* Copies at most n bytes and terminates. Caller owns the copy. */
char *vx_xstrndup(const char *s, size_t n);
/* printf into a new string the caller owns. */
char *vx_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *vx_xvasprintf(const char *fmt, va_list ap);

#endif
