/* sandbox.h -- run an image locked down under an OCI runtime, and exercise it.
 *
 * The `sandbox` phase of the pipeline (DESIGN.md §8). The tracer (trace module) attaches
 * between vx_sandbox_create() and vx_sandbox_start(): the workload's first instruction
 * runs only after start.
 *
 * Flow: vx_sandbox_create() writes an OCI bundle (config.json with user namespace, every
 * other namespace, seccomp allow-list, no_new_privs, minimal capabilities, masked /proc,
 * cgroup limits) over a per-job overlay (the unpacked image, ownership already shifted at
 * unpack time, as read-only lower dir; a fresh upper dir), then `runc create`s the
 * container and puts its init process into a cgroup v2 directory too. vx_sandbox_start()
 * lets it run; the exerciser and the test-script container reach it inside its network
 * namespace (loopback only); vx_sandbox_stop() / vx_sandbox_wait() end it and
 * vx_sandbox_destroy() removes everything it created (container, cgroups, mounts, dirs),
 * whatever happened before. vx_sandbox_reap() removes what a crashed worker left behind.
 */
#ifndef VX_SANDBOX_SANDBOX_H
#define VX_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vx_err;
struct vx_image_config;

/* ---- the container ---------------------------------------------------------------------- */

struct vx_sandbox_limits {
    int64_t memory_bytes; /* default 512 MiB */
    int64_t cpu_millis;   /* CPU quota in thousandths of a CPU; default 1000 (one CPU) */
    int64_t pids_max;     /* default 256 */
    int64_t wall_ms;      /* the workload is killed after this; default 300000 */
    int64_t log_bytes;    /* cap on each of stdout/stderr kept; default 1 MiB */
};

struct vx_sandbox_config {
    const char *runtime;      /* "runc" (default) or "crun" */
    const char *runtime_path; /* the binary, default found in PATH */
    const char *state_dir;    /* the runtime's --root and vexxy's bookkeeping, shared by all
                                 jobs of a host: "<data_dir>/sandbox"; required */
    const char *job_dir;      /* bundle, overlay upper/work, logs go under <job_dir>/sandbox;
                                 required */
    const char *name;         /* container id, unique per host ("vx-<job id>"); required */
    const char *rootfs;       /* the unpacked image (read-only lower dir); required */
    const struct vx_image_config *image; /* Entrypoint, Cmd, Env, WorkingDir, User; required */
    /* Analysis overrides (NULL/0 = from the image). */
    char *const *command; /* replaces Entrypoint + Cmd */
    size_t n_command;
    char *const *env; /* "K=V", added after the image's Env (overriding same keys) */
    size_t n_env;
    const char *hostname; /* default "sandbox" */
    /* User namespace: container ids 0..id_range-1 map to host uid_shift.. (the rootfs must
     * have been unpacked with the same shift). uid_shift 0 = no user namespace (refused
     * unless allow_no_userns: isolation is not optional). */
    uint32_t uid_shift;   /* host uid of container root; the caller picks it (vexxy
                                 default 0x10000000, configurable) */
    uint32_t id_range;    /* default 65536 */
    bool allow_no_userns; /* tests only */
    struct vx_sandbox_limits limits;
    /* Join the network namespace of another sandbox (the test-script container shares the
     * workload's) instead of a new loopback-only one; NULL for a new one. */
    const struct vx_sandbox *share_net_with;
    /* Extra read-only bind mounts "host_path:container_path" (the test script). */
    char *const *ro_binds;
    size_t n_ro_binds;
};

struct vx_sandbox; /* opaque */

/* What a finished container did. */
struct vx_sandbox_exit {
    bool exited;       /* false if it was still running when stopped */
    int exit_code;     /* when exited normally */
    int signal;        /* the signal that killed it, or 0 */
    bool oom_killed;   /* the memory limit killed a process of it */
    bool timed_out;    /* killed at limits.wall_ms */
    bool pids_limited; /* the pids limit refused a fork at least once */
    int64_t cpu_usec;  /* CPU time used (cgroup accounting) */
    int64_t memory_peak_bytes;
    int64_t ran_ms; /* start -> exit/stop */
};

/* Writes the bundle, mounts the overlay, `runtime create`s the container (stopped before
 * its first instruction) and places it in a cgroup v2 directory as well. On error nothing
 * is left behind. Caller owns *out (vx_sandbox_destroy). */
int vx_sandbox_create(const struct vx_sandbox_config *cfg, struct vx_sandbox **out,
                      struct vx_err **err);
/* The container's init pid on the host (valid after create). */
pid_t vx_sandbox_pid(const struct vx_sandbox *sb);
/* The cgroup v2 directory the container is in ("/sys/fs/cgroup/unified/vexxy/<name>" on a
 * hybrid host); the tracer filters on it. Borrowed. */
const char *vx_sandbox_cgroup_v2(const struct vx_sandbox *sb);
/* The merged overlay the container sees as / (the tracer's fanotify mark goes here).
 * Borrowed. */
const char *vx_sandbox_rootfs(const struct vx_sandbox *sb);
/* An fd of the container's network namespace (O_RDONLY of /proc/<pid>/ns/net, kept open
 * until destroy); the exerciser joins it. */
int vx_sandbox_netns_fd(const struct vx_sandbox *sb);

/* `runtime start`: the workload runs from here on. */
int vx_sandbox_start(struct vx_sandbox *sb, struct vx_err **err);
/* Waits for the container to exit, at most timeout_ms (-1 = until limits.wall_ms from start).
 * *running = true if it is still running when the wait ends. */
int vx_sandbox_wait(struct vx_sandbox *sb, int64_t timeout_ms, bool *running, struct vx_err **err);
/* SIGTERM, then SIGKILL after grace_ms; fills *ex. Idempotent. */
int vx_sandbox_stop(struct vx_sandbox *sb, int64_t grace_ms, struct vx_sandbox_exit *ex,
                    struct vx_err **err);
/* Captured output (capped), borrowed until destroy; "" when none. */
const char *vx_sandbox_stdout(struct vx_sandbox *sb);
const char *vx_sandbox_stderr(struct vx_sandbox *sb);
/* Kills what still runs, `runtime delete`s, unmounts, removes the cgroups and every
 * directory it created, frees sb. Always frees; returns the first cleanup error. */
int vx_sandbox_destroy(struct vx_sandbox *sb, struct vx_err **err);

/* At worker start: removes containers, mounts, cgroups and bundle dirs under state_dir
 * left by a process that died (their owner pid is gone). *n_reaped counts containers. */
int vx_sandbox_reap(const char *state_dir, size_t *n_reaped, struct vx_err **err);

/* Checks that the runtime, user namespaces, overlayfs, cgroups and seccomp are usable here;
 * the message says what is missing. */
int vx_sandbox_probe(const char *runtime, struct vx_err **err);

/* ---- exercising the workload ------------------------------------------------------------ */

struct vx_exercise_config {
    int netns_fd;     /* run inside this network namespace; -1 = the caller's */
    const char *host; /* default "127.0.0.1" */
    const int *ports; /* TCP ports to reach (image ExposedPorts + config.ports) */
    size_t n_ports;
    const char *health_path;        /* e.g. "/" or "/healthz"; NULL = TCP connect only */
    int64_t health_timeout_ms;      /* default 30000 */
    bool fuzz;                      /* send mutated requests after the crawl (enable_fuzzing) */
    int64_t max_requests;           /* budget; default by profile */
    int64_t budget_ms;              /* wall budget for crawl + fuzz */
    uint64_t seed;                  /* the run is reproducible for a seed */
    bool (*should_stop)(void *arg); /* polled; cancel */
    void *stop_arg;
    int64_t request_timeout_ms; /* per request (connect to last byte); default 5000, never
                                   past the budget */
    bool health_only; /* stop after the health check (the test script runs between the
                         health check and the crawl: DESIGN.md §2) */
};

struct vx_exercise_report {
    bool health_ok;
    int64_t health_ms;   /* time until the health check passed */
    char *health_detail; /* "GET / -> 200 after 84 ms" or why it failed */
    int64_t requests;
    int64_t errors;           /* connect/read failures, timeouts */
    int64_t status_counts[6]; /* 1xx..5xx at [1..5], [0] = no valid status */
    char **endpoints;         /* distinct "METHOD /path" that answered (not 404/405) */
    size_t n_endpoints;
    bool openapi_found; /* an OpenAPI/Swagger document was served and read */
    int64_t ran_ms;
};
void vx_exercise_report_release(struct vx_exercise_report *r);

/* Health check, then crawl (links and forms from HTML, OpenAPI documents), then (fuzz)
 * bounded seeded mutations, within the budgets. Never follows a link to another host.
 * Fails only on bad arguments or setns failure; an unreachable workload is a report with
 * health_ok = false. */
int vx_exercise_run(const struct vx_exercise_config *cfg, struct vx_exercise_report *out,
                    struct vx_err **err);
/* The report as JSON (canonical); caller frees. */
char *vx_exercise_json(const struct vx_exercise_report *r);

/* ---- the client's test script ------------------------------------------------------------ */

/* What the test script did: evidence of the job. */
struct vx_test_script_result {
    bool ran;       /* the tester container was started */
    int exit_code;  /* when it exited by itself, else -1 */
    int signal;     /* the signal that ended it, or 0 */
    bool timed_out; /* killed at timeout_ms */
    char *output;   /* stdout and stderr interleaved, capped at VX_TEST_SCRIPT_OUTPUT_MAX;
                       owned (vx_test_script_result_release) */
    int64_t ran_ms; /* start -> exit */
};
#define VX_TEST_SCRIPT_OUTPUT_MAX 65536
void vx_test_script_result_release(struct vx_test_script_result *r);

/* Runs script_text with `/bin/sh` in a second container "<workload name>-test" made from
 * tester_rootfs (scripts/build-tester.sh: busybox + curl, ownership shifted like the
 * workload's rootfs): the same user namespace shift (read from the workload's uid_map),
 * seccomp allow-list, capabilities and default limits as any sandbox, joined to the workload's
 * network namespace (which must be running), the script read-only at /script, env
 * TARGET_HOST=127.0.0.1 and TARGET_PORTS=<ports joined with ','>. Waits for it to end, at most
 * timeout_ms (killed then), and destroys it. The script is written under
 * <job_dir>/tester (removed afterwards). should_stop (may be NULL) is polled every 200 ms: a
 * true answer kills the script and fails with VX_E_CANCELLED. Fails only when the container
 * cannot be run or on a cancel; a script that fails is a result. out is filled on success
 * (caller releases). */
int vx_sandbox_run_test_script(const struct vx_sandbox *workload, const char *tester_rootfs,
                               const char *script_text, const int *ports, size_t n_ports,
                               int64_t timeout_ms, const char *state_dir, const char *job_dir,
                               bool (*should_stop)(void *arg), void *stop_arg,
                               struct vx_test_script_result *out, struct vx_err **err);

/* ---- profiles --------------------------------------------------------------------------- */

/* minimal|standard|comprehensive presets: duration, request budget, fuzzing. */
struct vx_profile {
    const char *name;
    int64_t duration_ms; /* workload observed at least this long (analysis_duration default) */
    int64_t max_requests;
    bool fuzz;
};
/* NULL if unknown. Static storage. */
const struct vx_profile *vx_profile_get(const char *name);

#endif
