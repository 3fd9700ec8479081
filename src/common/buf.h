/* buf.h -- a growable byte buffer with a mandatory cap (STYLE.md R11).
 *
 * The contents are always NUL-terminated (the terminator is not counted in len and not
 * against the cap), so a buffer of text can be handed to C string functions.
 */
#ifndef VX_COMMON_BUF_H
#define VX_COMMON_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct vx_buf {
    char *data; /* owned; NULL until the first add */
    size_t len;
    size_t cap; /* allocated bytes */
    size_t max; /* cap on len; adds past it fail with -VX_E_TOO_LARGE */
};

#define VX_BUF_INIT(max_)                                                                          \
    {                                                                                              \
        NULL, 0, 0, (max_)                                                                         \
    }

void vx_buf_init(struct vx_buf *b, size_t max);
/* Frees the contents, not b itself; b is left empty and reusable with the same max. */
void vx_buf_release(struct vx_buf *b);
/* Returns 0, or -VX_E_TOO_LARGE (contents unchanged) when len would pass max. */
int vx_buf_add(struct vx_buf *b, const void *data, size_t len);
int vx_buf_adds(struct vx_buf *b, const char *s);
int vx_buf_addf(struct vx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes and escapes). */
int vx_buf_add_json_str(struct vx_buf *b, const char *s);
/* Detaches the bytes; caller frees with free(3); b is left empty and reusable.
 * Never NULL: an empty buffer detaches as "". */
char *vx_buf_detach(struct vx_buf *b, size_t *len);
/* Borrowed: valid until the next call on b; "" when empty. */
const char *vx_buf_str(const struct vx_buf *b);

#endif
