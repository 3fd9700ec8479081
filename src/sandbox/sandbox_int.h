/* sandbox_int.h -- the container half of the sandbox module, private to it.
 *
 * container.c composes these pieces into the vx_sandbox_* lifecycle of sandbox.h:
 *   bundle.c   config.json of the OCI bundle (jansson)
 *   seccomp.c  the syscall allow-list (linux.seccomp of config.json)
 *   runtime.c  spawning the runtime's CLI (runc/crun) and other helpers
 *   overlay.c  the per-job overlayfs over the read-only image rootfs
 *   cgroup.c   cgroup layout detection, the extra cgroup v2 directory, accounting
 *   reap.c     the bookkeeping record of a live sandbox and the reaper
 *   probe.c    what this host can do
 * Names are vx_sbx_* (module-internal but external linkage, STYLE.md R3).
 */
#ifndef VX_SANDBOX_SANDBOX_INT_H
#define VX_SANDBOX_SANDBOX_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct vx_err;
struct vx_buf;
struct vx_sandbox_config;
struct vx_sandbox_exit;
struct vx_sandbox_limits;

/* ---- bundle.c / seccomp.c --------------------------------------------------------------- */

struct vx_sbx_bundle_args {
    const struct vx_sandbox_config *cfg;
    const char *rootfs;       /* the merged overlay */
    const char *cgroups_path; /* "/vexxy/<name>" */
    pid_t share_net_pid;      /* > 0: join /proc/<pid>/ns/net instead of a new netns */
    const char *lower;        /* the image rootfs, for resolving User through its passwd */
    const struct vx_sandbox_limits *limits; /* with defaults applied */
};

/* The config.json document (caller json_decref's). Errors: -VX_E_INVALID (bad user,
 * bad ro bind, no command). */
int vx_sbx_bundle_json(const struct vx_sbx_bundle_args *a, json_t **out, struct vx_err **err);
/* Writes <bundle_dir>/config.json (0600). */
int vx_sbx_bundle_write(const char *bundle_dir, const json_t *doc, struct vx_err **err);
/* Resolves an image User ("name", "uid", "name:group", "uid:gid") through <rootfs>/etc/passwd
 * and /etc/group, read without leaving the rootfs. Empty/NULL = 0:0. */
int vx_sbx_resolve_user(const char *rootfs, const char *user, uint32_t *uid, uint32_t *gid,
                        struct vx_err **err);

/* The linux.seccomp object (caller json_decref's): default ERRNO(EPERM), allow-list. */
json_t *vx_sbx_seccomp_json(void);
/* Syscall names the allow-list denies on purpose (for tests and docs); NULL-terminated. */
extern const char *const vx_sbx_seccomp_denied[];

/* ---- runtime.c -------------------------------------------------------------------------- */

/* Finds 'name' in $PATH (or takes it as is when it contains '/'); caller frees; NULL if
 * not found or not executable. */
char *vx_sbx_find_exe(const char *name);
/* Spawns argv[0] (a path) with stdin /dev/null and stdout/stderr on out_fd/err_fd (-1 =
 * /dev/null), a clean signal mask and default dispositions. */
int vx_sbx_spawn(char *const argv[], int out_fd, int err_fd, pid_t *pid, struct vx_err **err);
/* Runs argv to completion (killed after timeout_ms), stdout+stderr collected into *out
 * (capped, may be NULL). *status is the waitpid status. */
int vx_sbx_run(char *const argv[], int64_t timeout_ms, struct vx_buf *out, int *status,
               struct vx_err **err);
/* The last "msg" of level error/fatal in a runtime --log file (JSON lines), or the file's
 * last line; caller frees; NULL if nothing. */
char *vx_sbx_runtime_log_error(const char *log_path);
/* Reads a small file whole (capped at 64 KiB); caller frees; NULL with errno on failure. */
char *vx_sbx_read_small(const char *path);
/* The start time (clock ticks since boot, /proc/<pid>/stat field 22) or 0 if gone. */
uint64_t vx_sbx_proc_start(pid_t pid);

/* ---- overlay.c -------------------------------------------------------------------------- */

/* Creates <dir>/upper, <dir>/work (owned by uid:gid = the container's root on the host)
 * and <dir>/merged, and mounts overlayfs lowerdir=lower there. *merged is owned by the
 * caller. On failure nothing is mounted (the dirs may remain: the caller removes dir). */
int vx_sbx_overlay_mount(const char *lower, const char *dir, uid_t uid, gid_t gid, char **merged,
                         struct vx_err **err);
/* Unmounts merged (lazily if busy). Not mounted = success. */
int vx_sbx_overlay_umount(const char *merged, struct vx_err **err);
/* true if 'path' is a mount point listed in /proc/self/mountinfo. */
bool vx_sbx_is_mounted(const char *path);

/* ---- cgroup.c --------------------------------------------------------------------------- */

enum vx_sbx_cgmode {
    VX_SBX_CG_V1,     /* v1 controllers only: no v2 directory possible */
    VX_SBX_CG_HYBRID, /* v1 controllers + cgroup2 at /sys/fs/cgroup/unified */
    VX_SBX_CG_V2,     /* unified hierarchy at /sys/fs/cgroup */
};
enum vx_sbx_cgmode vx_sbx_cgroup_mode(void);
/* The cgroup v2 directory of a sandbox: "<v2 root>/vexxy/<name>", or NULL (v1 only).
 * Caller frees. */
char *vx_sbx_cgroup_v2_path(enum vx_sbx_cgmode mode, const char *name);
/* mkdir of the v2 directory (and its "vexxy" parent). */
int vx_sbx_cgroup_v2_make(const char *path, struct vx_err **err);
/* Moves pid into the directory (cgroup.procs). */
int vx_sbx_cgroup_v2_attach(const char *path, pid_t pid, struct vx_err **err);
/* Kills what is left in it and rmdirs it, retrying while dying tasks linger (<= 1 s).
 * Absent = success. */
int vx_sbx_cgroup_v2_remove(const char *path, struct vx_err **err);
/* Fills cpu_usec, memory_peak_bytes, oom_killed, pids_limited from the runtime's cgroups
 * ("/vexxy/<name>" under each v1 controller, or under the v2 root). Best effort. */
void vx_sbx_cgroup_stats(enum vx_sbx_cgmode mode, const char *cgroups_path,
                         struct vx_sandbox_exit *ex);
/* rmdir of the runtime's own cgroups of cgroups_path under every hierarchy (the reaper's
 * fallback when the runtime lost its state). */
void vx_sbx_cgroup_remove_all(enum vx_sbx_cgmode mode, const char *cgroups_path);

/* ---- reap.c ----------------------------------------------------------------------------- */

/* What a live sandbox created, written to <state_dir>/vexxy/<name>.json before anything
 * else is made, removed last by destroy. The reaper undoes it when owner_pid is gone. */
struct vx_sbx_record {
    const char *name;
    pid_t owner_pid;
    uint64_t owner_start;
    const char *runtime_path;
    const char *runtime_root; /* the runtime's --root */
    const char *sandbox_dir;  /* <job_dir>/sandbox */
    const char *merged;
    const char *cgroup_v2; /* or NULL */
    const char *cgroups_path;
};
/* <state_dir>/vexxy/<name>.json; caller frees. */
char *vx_sbx_record_path(const char *state_dir, const char *name);
int vx_sbx_record_write(const char *path, const struct vx_sbx_record *r, struct vx_err **err);
/* Undoes everything a record names (runtime delete --force, umount, cgroups, sandbox dir).
 * Returns the first error but tries every step. */
int vx_sbx_undo(const struct vx_sbx_record *r, struct vx_err **err);

#endif
