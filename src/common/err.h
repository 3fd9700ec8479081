/* err.h -- error values (STYLE.md R4, R5).
 *
 * A function that can fail takes 'struct vx_err **err' last and returns 0, or -code with
 * *err set (the receiver owns it). Layers add context with vx_err_wrap(). Only the top
 * (an API handler, the worker loop, main) turns it into output and frees it.
 */
#ifndef VX_COMMON_ERR_H
#define VX_COMMON_ERR_H

enum vx_code {
#define VX_CODE(name, value, http, str) VX_##name = value,
#include "common/codes.def"
#undef VX_CODE
    VX_CODE_LAST /* not a code; keep last */
};

struct vx_err {
    enum vx_code code;
    int sys_errno; /* errno at the failure, or 0 */
    char *field;   /* request field the error is about ("config.test_timeout"), or NULL */
    char *msg;     /* lowercase, no full stop; context prepended by vx_err_wrap() */
};

/* Sets *err (if err is non-NULL and *err is NULL; a first error is never overwritten).
 * Returns -code, so it can be the return expression. */
int vx_err_set(struct vx_err **err, enum vx_code code, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same, naming the request field the error is about. */
int vx_err_field(struct vx_err **err, enum vx_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prepends "context: " to (*err)->msg. Returns -(*err)->code (or -VX_E_INTERNAL if unset). */
int vx_err_wrap(struct vx_err **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees *err and sets it to NULL. NULL and *err == NULL are fine. */
void vx_err_free(struct vx_err **err);

/* Table lookups; unknown codes map to "internal_error" / 500. */
const char *vx_code_str(enum vx_code code);
int vx_code_http(enum vx_code code);
/* Name of the enum constant without the VX_ prefix ("E_INVALID"), for docs checks. */
const char *vx_code_name(enum vx_code code);

#endif
