/* pipeline.c -- the analysis pipeline as a list of named phases (DESIGN.md §1).
 *
 * DESIGN
 * A job runs image -> inventory -> sandbox -> trace -> reach -> vex, each phase writing its
 * outputs to the store before the next starts. Each phase is one struct vx_phase; later
 * issues replace the run function of a phase with the real one. Until then a phase says
 * that it is not available yet, and the job fails with that message: the service never
 * invents a result.
 */
#include "common/setup.h"

#include "queue/queue.h"
#include "queue/queue_int.h" /* the phases that exist */
#include "common/err.h"      /* for vx_err_set() */

static int phase_unavailable(const char *name, struct vx_err **err)
{
    return vx_err_set(err, VX_E_NOT_AVAILABLE, 0,
                      "phase '%s' is not available yet in this version of vexxy", name);
}

static int run_sandbox(struct vx_phase_ctx *ctx, struct vx_err **err)
{
    return phase_unavailable("sandbox", err);
}

static int run_trace(struct vx_phase_ctx *ctx, struct vx_err **err)
{
    return phase_unavailable("trace", err);
}

static const struct vx_phase phases[] = {
    {"image", 15, false, vx_phase_image}, {"inventory", 25, false, vx_phase_inventory},
    {"sandbox", 45, false, run_sandbox},  {"trace", 75, false, run_trace},
    {"reach", 90, true, vx_phase_reach},       {"vex", 100, true, vx_phase_vex},
};

const struct vx_phase *vx_pipeline_phases(size_t *n)
{
    *n = VX_ARRAY_SIZE(phases);
    return phases;
}
