/* queue_int.h -- private to src/queue/: the real phases as they land. */
#ifndef VX_QUEUE_QUEUE_INT_H
#define VX_QUEUE_QUEUE_INT_H

struct vx_phase_ctx;
struct vx_err;

/* phase_image.c: pull + verify + unpack the job's image into <job_dir>/rootfs. */
int vx_phase_image(struct vx_phase_ctx *ctx, struct vx_err **err);

/* phase_inventory.c: packages + file index of the rootfs, findings parsed and bound. */
int vx_phase_inventory(struct vx_phase_ctx *ctx, struct vx_err **err);

/* phase_sandbox.c: run + trace + exercise (sandbox), report on the profile (trace). */
int vx_phase_sandbox(struct vx_phase_ctx *ctx, struct vx_err **err);
int vx_phase_trace(struct vx_phase_ctx *ctx, struct vx_err **err);

/* phase_vex.c: verdicts (reach) and the documents (vex). */
int vx_phase_reach(struct vx_phase_ctx *ctx, struct vx_err **err);
int vx_phase_vex(struct vx_phase_ctx *ctx, struct vx_err **err);

#endif
