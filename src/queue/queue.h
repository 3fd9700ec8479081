/* queue.h -- the job pipeline, the workers that run it, and webhook delivery.
 *
 * The queue itself lives in the store (store.h: claim/heartbeat/reap). This module owns:
 *  - vx_job_set_state(): the one function that changes a job's state (STYLE.md R16);
 *  - the pipeline: named phases behind one interface (image -> inventory -> sandbox ->
 *    trace -> reach -> vex); a phase that does not exist yet fails the job with
 *    "phase '<name>' is not available yet" -- never a fake result;
 *  - vx_workers: N worker threads that claim, heartbeat, run and finish jobs, plus a
 *    reaper that returns expired leases to the queue;
 *  - vx_webhooks: a background sender of signed webhook deliveries.
 */
#ifndef VX_QUEUE_QUEUE_H
#define VX_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h" /* for enum vx_job_state, struct vx_job_update */

struct vx_err;

/* Validates, persists (compare-and-set on 'from'), logs "job <id>: running -> failed".
 * worker_id NULL = no lease check. */
int vx_job_set_state(struct vx_store *s, const char *id, const char *worker_id,
                     enum vx_job_state from, enum vx_job_state to, const struct vx_job_update *upd,
                     int64_t backoff_ms, struct vx_err **err);

/* ---- pipeline -------------------------------------------------------------------------- */

struct vx_image;
struct vx_inventory;
struct vx_findings;
struct vx_trace_profile;
struct vx_trace_engine;
struct vx_run_facts;
struct vx_reach_result;

/* Settings of the analysis that come from the operator, not from the job. */
struct vx_pipeline_config {
    const char *allowed_registries;  /* comma-separated "host[:port]" a job may pull from, or
                                        "*" / NULL for any: keeps tenants' image_refs from
                                        reaching hosts the operator did not intend */
    const char *insecure_registries; /* comma-separated "host[:port]" reached over plain http */
    const char *platform;            /* default "linux/amd64" */
    const char *docker_config;       /* registry credentials (Docker config.json), or NULL */
    bool allow_local_sources;        /* oci:, oci-archive:, docker-archive: (CLI only; a
                                        server never reads paths named by a client) */
    const char *runtime;             /* OCI runtime: "runc" (default) or "crun" */
    const char *tracers;             /* "auto" (default) or a comma list of backends */
    uint32_t uid_shift;              /* host uid of container root; default 0x10000000 */
    /* Where workloads run: "runc" (default: the local OCI runtime, `runtime` above) or
     * "kubernetes" (a Job per analysis with the tracer as a privileged sidecar). */
    const char *sandbox;
    const char *kubeconfig;         /* kubernetes credentials; NULL = $KUBECONFIG,
                                       ~/.kube/config, then the in-cluster service account */
    const char *kube_context;       /* NULL = current-context */
    const char *kube_namespace;     /* where Jobs go; default "vexxy-sandbox" */
    const char *kube_runtime_class; /* the Jobs' runtimeClassName (e.g. gVisor), or NULL */
    const char *kube_pull_secret;   /* imagePullSecrets of the analysis pods (a Secret in the
                                       sandbox namespace), or NULL */
    const char *tracer_image;       /* the vexxy image the tracer sidecar, the init container
                                       and the test-script container run; required */
    int rootfs_cache;          /* unpacked images kept for reuse by later analyses of the same image
                         (<data_dir>/rootfs); 0 = default 8, -1 = off (each job unpacks
                         into its own directory) */
    const char *tester_rootfs; /* the rootfs a job's test_script runs in
                                        (scripts/build-tester.sh, shifted by uid_shift); NULL =
                                        <data_dir>/tester/current/rootfs */
    struct vx_trace_engine *trace_engine; /* loaded once per process (borrowed), or NULL:
                                             then one per job */
};

/* What the phases of one run hand to each other; owned by the runner and released by
 * vx_pipeline_state_release() after the last phase. */
struct vx_pipeline_state {
    struct vx_image *image;           /* pulled and verified (image phase) */
    char *job_dir;                    /* <data_dir>/jobs/<id>: everything the run writes */
    char *rootfs;                     /* the unpacked image: <job_dir>/rootfs, or a shared tree of
                                         <data_dir>/rootfs (read only either way) */
    int rootfs_lock;                  /* fd + 1 of the shared tree's lock, 0 when none */
    struct vx_inventory *inventory;   /* packages and file index (inventory phase) */
    struct vx_findings *findings;     /* the job's findings, bound (inventory phase); NULL when
                                       the job has none */
    struct vx_trace_profile *profile; /* the run's execution profile (trace phase), or NULL */
    struct vx_run_facts *facts;       /* measured facts of the run (sandbox phase), or NULL */
    struct vx_reach_result *reach;    /* verdicts (reach phase) */
    /* Documents (vex phase), also stored as evidence when there is a store. */
    char *results_json; /* the API's results object, stored with the complete job */
    char *openvex;      /* NULL when there is no statement (OpenVEX needs one at least) */
    char *cyclonedx, *csaf, *evidence;
    char *sbom;        /* CycloneDX SBOM of the image's packages (vex phase) */
    char *sbom_in_use; /* the same for the packages whose files ran; NULL without a run */
    char *evidence_id; /* the evidence document's id in the store, or NULL */
};
void vx_pipeline_state_release(struct vx_pipeline_state *st);

struct vx_phase_ctx {
    struct vx_store *store;       /* borrowed; NULL for `vexxy analyze` (no service) */
    const struct vx_job_rec *job; /* borrowed for the run */
    const char *worker_id;
    const char *data_dir;
    const struct vx_pipeline_config *cfg;
    struct vx_pipeline_state *state;
    /* true once the job's cancellation was seen by the heartbeat (or shutdown began) */
    bool (*should_stop)(const struct vx_phase_ctx *ctx);
    void *priv; /* the worker's own state */
    /* `vexxy analyze --findings FILE...`: report files read by the inventory phase, merged
     * in order (a service job's findings come from the store instead). Borrowed. */
    const char *const *findings_files;
    size_t n_findings_files;
};

struct vx_phase {
    const char *name; /* "image", "inventory", "sandbox", "trace", "reach", "vex" */
    int progress_end; /* progress_percent once this phase is done */
    bool analyzing;   /* runs in state 'analyzing' (after the workload ran), else 'running' */
    /* 0 on success; -code with *err on failure (the job fails with the message). */
    int (*run)(struct vx_phase_ctx *ctx, struct vx_err **err);
};

/* The phases in order; *n gets their count. Static storage. */
const struct vx_phase *vx_pipeline_phases(size_t *n);

/* ---- workers --------------------------------------------------------------------------- */

struct vx_workers_config {
    int threads;               /* worker threads in this process; default 2 */
    const char *worker_prefix; /* worker ids are "<prefix>-<n>"; default "<host>-<pid>" */
    const char *data_dir;
    int64_t lease_ms;         /* default 30000 */
    int64_t heartbeat_ms;     /* default lease_ms / 3 */
    int64_t reap_interval_ms; /* default 5000; 0 = default, -1 = this process never reaps */
    int64_t retry_backoff_ms; /* base of the exponential retry backoff; default 5000 */
    int64_t poll_ms;          /* idle wait between claims; default 500 */
    /* Testing knob (documented): each phase waits this long, checking for cancellation,
     * before it runs. Lets tests hold a job in 'running'. 0 = off. */
    int64_t debug_phase_delay_ms;
    int evidence_retention_days; /* evidence older than this is purged; default 90 */
    struct vx_pipeline_config pipeline;
};

struct vx_workers;

/* Starts the threads. The store is borrowed until vx_workers_stop(). */
int vx_workers_start(const struct vx_workers_config *cfg, struct vx_store *store,
                     struct vx_workers **out, struct vx_err **err);
/* Graceful stop: no new claims; a job in progress is handed back to the queue (state
 * queued; this counts as one retry) at its next phase boundary. Joins and frees. NULL is
 * fine. */
void vx_workers_stop(struct vx_workers *w);
/* Busy and total slots of this process (metrics). */
void vx_workers_usage(const struct vx_workers *w, int *busy, int *slots);

/* ---- webhooks -------------------------------------------------------------------------- */

struct vx_webhooks_config {
    const char *secret; /* HMAC-SHA256 key; required */
    int max_attempts;   /* default 8 */
    int64_t backoff_ms; /* first retry delay, doubled each attempt; default 2000 */
    int64_t timeout_ms; /* per request; default 10000 */
    int64_t poll_ms;    /* default 500 */
};

struct vx_webhooks;

/* Starts one background sender thread. Header "X-Vexxy-Signature: sha256=<hex>" is the
 * HMAC of the exact body; "X-Vexxy-Delivery: <id>" and "X-Vexxy-Event: job.<state>" too. */
int vx_webhooks_start(const struct vx_webhooks_config *cfg, struct vx_store *store,
                      struct vx_webhooks **out, struct vx_err **err);
void vx_webhooks_stop(struct vx_webhooks *w);

#endif
