/* pipeline.c -- the analysis pipeline as a list of named phases (DESIGN.md §1).
 *
 * DESIGN
 * A job runs image -> inventory -> sandbox -> trace -> reach -> vex, each phase writing its
 * outputs to the store before the next starts. Each phase is one struct vx_phase whose
 * run function lives in phase_<name>.c. A phase that cannot do its work fails the job with
 * its reason: the service never invents a result.
 */
#include "common/setup.h"

#include "queue/queue.h"
#include "queue/queue_int.h" /* the phases that exist */

static const struct vx_phase phases[] = {
    {"image", 15, false, vx_phase_image},     {"inventory", 25, false, vx_phase_inventory},
    {"sandbox", 75, false, vx_phase_sandbox}, {"trace", 80, false, vx_phase_trace},
    {"reach", 90, true, vx_phase_reach},      {"vex", 100, true, vx_phase_vex},
};

const struct vx_phase *vx_pipeline_phases(size_t *n)
{
    *n = VX_ARRAY_SIZE(phases);
    return phases;
}
