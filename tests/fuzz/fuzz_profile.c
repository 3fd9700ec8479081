/* fuzz_profile.c -- libFuzzer target for vx_trace_profile_parse(), which reads the execution
 * profile back from a Kubernetes tracer sidecar's log (untrusted bytes).
 *
 * Besides "never crash, never leak" (ASan/UBSan/LeakSanitizer), it checks the error contract
 * (0, or -VX_E_INVALID/-VX_E_TOO_LARGE with *err set and *out NULL), that an accepted
 * profile keeps its files sorted by path (consumers binary-search them), and that the JSON
 * form is a fixed point: the profile written out parses again to the very same text.
 */
#include "common/setup.h"

#include "common/err.h"
#include "trace/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fixed_point(const struct vx_trace_profile *p)
{
    struct vx_trace_profile *again = NULL;
    struct vx_err *err = NULL;
    char *a = vx_trace_profile_json(p), *b;

    if (vx_trace_profile_parse(a, strlen(a), &again, &err) != 0)
        abort();
    b = vx_trace_profile_json(again);
    if (strcmp(a, b) != 0)
        abort();
    free(a);
    free(b);
    vx_trace_profile_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vx_trace_profile *p = NULL;
    struct vx_err *err = NULL;
    int rc = vx_trace_profile_parse((const char *)data, size, &p, &err);

    if (rc == 0) {
        if (err || !p)
            abort();
        for (size_t i = 1; i < p->n_files; i++)
            if (strcmp(p->files[i - 1].path, p->files[i].path) > 0)
                abort();
        check_fixed_point(p);
        vx_trace_profile_free(p);
    } else {
        if ((rc != -VX_E_INVALID && rc != -VX_E_TOO_LARGE) || !err || !err->msg || p)
            abort();
        vx_err_free(&err);
    }
    return 0;
}
