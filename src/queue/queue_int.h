/* queue_int.h -- private to src/queue/: the real phases as they land. */
#ifndef VX_QUEUE_QUEUE_INT_H
#define VX_QUEUE_QUEUE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct vx_phase_ctx;
struct vx_pipeline_state;
struct vx_err;

/* phase_image.c: pull + verify + unpack the job's image into <job_dir>/rootfs. */
int vx_phase_image(struct vx_phase_ctx *ctx, struct vx_err **err);

/* phase_inventory.c: packages + file index of the rootfs, findings parsed and bound. */
int vx_phase_inventory(struct vx_phase_ctx *ctx, struct vx_err **err);

/* phase_sandbox.c: run + trace + exercise (sandbox), report on the profile (trace). */
int vx_phase_sandbox(struct vx_phase_ctx *ctx, struct vx_err **err);
int vx_phase_trace(struct vx_phase_ctx *ctx, struct vx_err **err);

/* The run settings of a job: its normalised config over its profile's preset (both
 * sandbox backends read them). */
#define VX_RUN_MAX_PORTS   64
#define VX_RUN_MAX_SYMBOLS 256
struct vx_run_cfg {
    json_t *cfg; /* the job's normalised config (owned) */
    char **command, **env;
    size_t n_command, n_env;
    int ports[VX_RUN_MAX_PORTS];
    size_t n_ports;
    int64_t duration_ms, timeout_ms, health_timeout_ms;
    const char *health_path;
    bool fuzz;
    int64_t max_requests;
    const char *test_script; /* borrowed from cfg, or NULL */
};
int vx_run_cfg_load(const struct vx_phase_ctx *ctx, struct vx_run_cfg *rc, struct vx_err **err);
void vx_run_cfg_release(struct vx_run_cfg *rc);
/* Functions named by bound findings to count: (in-image code file of the package, name)
 * pairs, at most VX_RUN_MAX_SYMBOLS; the strings are borrowed from the state. */
void vx_run_symbol_probes(const struct vx_pipeline_state *st, const char **paths,
                          const char **names, size_t *n);
/* Stores one evidence document of the job (no-op without a store). */
int vx_run_put_evidence(struct vx_phase_ctx *ctx, const char *type, const char *media,
                        const char *doc, struct vx_err **err);

/* rootfs_cache.c: the shared unpacked tree of img (built on first use), held with a shared
 * lock until *lock_fd is closed (at the job's end); *rootfs owned; rep filled (from the
 * cache on a hit, *hit = true). At most max_entries trees are kept (LRU; 0 = no limit). */
struct vx_image;
struct vx_unpack_opts;
struct vx_unpack_report;
int vx_rootfs_cache_get(const char *data_dir, const struct vx_image *img,
                        const struct vx_unpack_opts *uopts, int max_entries, char **rootfs,
                        int *lock_fd, struct vx_unpack_report *rep, bool *hit, struct vx_err **err);

/* phase_kube.c: the sandbox phase on Kubernetes (a Job with the tracer as a sidecar). */
int vx_phase_sandbox_kube(struct vx_phase_ctx *ctx, const struct vx_run_cfg *rc,
                          struct vx_err **err);

/* phase_vex.c: verdicts (reach) and the documents (vex). */
int vx_phase_reach(struct vx_phase_ctx *ctx, struct vx_err **err);
int vx_phase_vex(struct vx_phase_ctx *ctx, struct vx_err **err);

#endif
