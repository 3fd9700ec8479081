/* trace_int.h -- private to src/trace/: the backend interface and the event sink.
 *
 * A backend (fanotify, and later ebpf, ptrace, uprobe) is a `struct vx_trace_backend`: a
 * table of function pointers the engine (engine.c) drives. To add one:
 *   1. write src/trace/<name>.c defining `const struct vx_trace_backend vx_trace_<name>;`
 *   2. declare it below and add it to `backends[]` in engine.c (the order there is the
 *      order of "auto" and of the profile's backends array);
 *   3. report what it sees through the vx_trace_note_*() sink, and what it lost through
 *      vx_trace_note_lost(); never touch the profile directly.
 *
 * Lifecycle, per process: probe() once per engine (may keep shared state, e.g. loaded eBPF
 * objects, released by unload()). Per job: attach() -> [events through the sink, from any
 * thread] -> stop() -> release(). attach() runs before the workload's first instruction;
 * stop() runs after the workload is gone and must drain every queue (the last events are
 * kept) and must not return while any of its threads can still call the sink. release()
 * frees the per-job state, also after a failed attach() (it gets whatever attach() left in
 * *state, possibly NULL).
 *
 * Threading: the sink functions lock the tracer; backends may call them from reader threads.
 * Everything else of a tracer is touched only by the thread that called vx_tracer_attach /
 * vx_tracer_stop.
 */
#ifndef VX_TRACE_TRACE_INT_H
#define VX_TRACE_TRACE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "trace/trace.h"

struct vx_err;

struct vx_trace_backend {
    const char *name; /* "fanotify", "ebpf", "ptrace", "uprobe": what --tracer names */
    bool in_auto;     /* part of "auto" when probe() succeeds */
    bool last_resort; /* ...and only when no other backend of "auto" probed OK (ptrace) */
    /* Counts opts' symbols only (uprobe): joins "auto" when symbols are asked for, next to
     * the others, never in place of them nor keeping the last resort out. */
    bool symbols_only;
    /* Is it usable on this host? 0, or -code with *err saying why (recorded by the engine
     * and shown by vx_trace_engine_why()). May set *shared to state kept for the engine's
     * life (NULL if none). */
    int (*probe)(struct vx_trace_engine *e, void **shared, struct vx_err **err);
    /* Frees what probe() put in *shared (NULL is fine). May be NULL. */
    void (*unload)(void *shared);
    /* Arms the backend on target. 'bi' is its index in the tracer (pass it to the sink).
     * Sets *state to the per-job state (freed by release()). */
    int (*attach)(struct vx_tracer *t, int bi, const struct vx_trace_target *target,
                  const struct vx_trace_opts *opts, void **state, struct vx_err **err);
    /* Stops and drains: after it returns, the backend never calls the sink again. An error
     * is recorded in the backend's stats (its events so far are kept). */
    int (*stop)(struct vx_tracer *t, int bi, void *state, struct vx_err **err);
    /* Frees per-job state (NULL is fine). */
    void (*release)(void *state);
};

extern const struct vx_trace_backend vx_trace_fanotify;
extern const struct vx_trace_backend vx_trace_ebpf;
extern const struct vx_trace_backend vx_trace_ptrace;
extern const struct vx_trace_backend vx_trace_uprobe;

/* In the child vx_trace_command forked, after the go and before its exec: when the ptrace
 * backend's helper (a child of our parent) traces us, installs its seccomp filter. 1 armed,
 * 0 not traced by it, -errno on failure. Async-signal-safe (no malloc). */
int vx_trace_ptrace_child_arm(void);

/* Shared state probe() of backend 'name' left in the engine, or NULL. */
void *vx_trace_engine_shared(const struct vx_trace_engine *e, const char *name);

/* ---- the event sink (thread-safe) ------------------------------------------------------- */

/* A file event. host_path is the path as the tracer's process sees it (e.g. readlink of
 * /proc/self/fd/N), or NULL to take it from fd (then fd is only read, never closed). dev/ino
 * as fstat(2) gives them, 0 when unknown. how: vx_trace_how bits. pid: host pid. */
void vx_trace_note_file(struct vx_tracer *t, int bi, const char *host_path, int fd, uint64_t dev,
                        uint64_t ino, unsigned how, pid_t pid);
/* A process seen starting (fork/exec: exe is a host path or NULL; argv may be NULL) or, with
 * exited set, ending with exit_code (-1 unknown). A pid seen again updates its entry. */
void vx_trace_note_proc(struct vx_tracer *t, int bi, pid_t pid, pid_t ppid, const char *exe,
                        char *const *argv, bool exited, int exit_code);
/* A network endpoint: kind "listen" | "connect" | "accept", numeric addr, port. */
void vx_trace_note_net(struct vx_tracer *t, int bi, const char *kind, const char *addr, int port,
                       pid_t pid);
/* A syscall the target used (a name like "openat"). */
void vx_trace_note_syscall(struct vx_tracer *t, int bi, const char *name);
/* Events the backend lost (overflow, drops, misses): any loss makes the profile incomplete. */
void vx_trace_note_lost(struct vx_tracer *t, int bi, int64_t n);
/* A uprobe count for symbol i of the opts (uprobe backend). */
void vx_trace_note_symbol(struct vx_tracer *t, int bi, size_t i, int64_t count, bool attached,
                          const char *error);

/* ms since the trace window started (monotonic). */
int64_t vx_tracer_now_ms(const struct vx_tracer *t);
/* The tracer's own pid's events are never the target's (the tracer reads files too). */
pid_t vx_tracer_self(const struct vx_tracer *t);
/* The engine the tracer was attached from (for vx_trace_engine_shared() in attach()). */
struct vx_trace_engine *vx_tracer_engine(const struct vx_tracer *t);

/* ---- profile building (profile.c) --------------------------------------------------------- */

/* One raw, deduplicated observation: a host path under a process root. */
struct vx_trace_raw {
    char *root;      /* host dir the process saw as "/" (NULL: unknown, e.g. it exited) */
    char *host_path; /* as the tracer saw it */
    uint64_t dev, ino;
    unsigned how, backends;
    int64_t first_ms, count;
    pid_t pids[8];
    size_t n_pids;
    char *shebang; /* "#!" interpreter of an executed script, read from the event's fd at the
                      time (the script may be gone by stop), or NULL */
};

/* Builds p->files from the raw records: canonical in-image paths (relative to the target's
 * root or the process's own root, resolved through the image's symlinks), merged by path,
 * sorted; then labels interpreters (PT_INTERP, #!) and DT_NEEDED libraries. 'target_root' is
 * the target's root ("/" for a plain command). Borrowed raw records. */
int vx_trace_profile_build_files(struct vx_trace_profile *p, const char *target_root,
                                 struct vx_trace_raw *const *raws, size_t n_raws,
                                 struct vx_err **err);

/* Canonical in-image path of 'path' (absolute, inside the image) under the host dir 'root':
 * resolved through the image's own symlinks (all components, the last one too), never
 * leaving root. Caller frees. -VX_E_NOT_FOUND when it does not exist. */
int vx_trace_canon_in_root(const char *root, const char *path, char **out, struct vx_err **err);

/* Reads "#!interp" from the first line of a file (caller frees *interp; NULL if not a
 * script). vx_trace_shebang_fd reads it from an open fd with pread (offset untouched). */
int vx_trace_shebang(int dirfd, const char *path, char **interp, struct vx_err **err);
char *vx_trace_shebang_fd(int fd);

#endif
