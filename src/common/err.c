/* err.c -- error values and the code table (see err.h). */
#include "common/setup.h"

#include "common/err.h"
#include "common/alloc.h" /* for vx_xvasprintf() */

struct code_row {
    const char *name;
    int http;
    const char *str;
};

static const struct code_row code_rows[] = {
#define VX_CODE(name, value, http, str) [value] = {#name, http, str},
#include "common/codes.def"
#undef VX_CODE
};

static const struct code_row *row(enum vx_code code)
{
    if ((unsigned)code >= VX_ARRAY_SIZE(code_rows) || !code_rows[code].str)
        return &code_rows[VX_E_INTERNAL];
    return &code_rows[code];
}

const char *vx_code_str(enum vx_code code)
{
    return row(code)->str;
}

int vx_code_http(enum vx_code code)
{
    return row(code)->http;
}

const char *vx_code_name(enum vx_code code)
{
    return row(code)->name;
}

static int err_setv(struct vx_err **err, enum vx_code code, int sys_errno, const char *field,
                    const char *fmt, va_list ap)
{
    struct vx_err *e;

    if (!err || *err)
        return -(int)code;
    e = vx_xcalloc(1, sizeof(*e));
    e->code = code;
    e->sys_errno = sys_errno;
    e->field = vx_xstrdup(field);
    e->msg = vx_xvasprintf(fmt, ap);
    if (sys_errno) {
        char *m = vx_xasprintf("%s: %s", e->msg, strerror(sys_errno));
        free(e->msg);
        e->msg = m;
    }
    *err = e;
    return -(int)code;
}

int vx_err_set(struct vx_err **err, enum vx_code code, int sys_errno, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = err_setv(err, code, sys_errno, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int vx_err_field(struct vx_err **err, enum vx_code code, const char *field, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = err_setv(err, code, 0, field, fmt, ap);
    va_end(ap);
    return rc;
}

int vx_err_wrap(struct vx_err **err, const char *fmt, ...)
{
    va_list ap;
    char *ctx, *m;

    if (!err || !*err)
        return -VX_E_INTERNAL;
    va_start(ap, fmt);
    ctx = vx_xvasprintf(fmt, ap);
    va_end(ap);
    m = vx_xasprintf("%s: %s", ctx, (*err)->msg);
    free(ctx);
    free((*err)->msg);
    (*err)->msg = m;
    return -(int)(*err)->code;
}

void vx_err_free(struct vx_err **err)
{
    if (!err || !*err)
        return;
    free((*err)->field);
    free((*err)->msg);
    free(*err);
    *err = NULL;
}
