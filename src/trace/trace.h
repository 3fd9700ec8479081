/* trace.h -- a kernel-level execution profile of a sandboxed run (or of a plain command)
 * that fails closed.
 *
 * The `trace` phase of the pipeline (DESIGN.md §9) and `vexxy trace`.
 *
 * Flow: one vx_trace_engine per process probes which backends work on this host and loads
 * the shared parts once (the eBPF programs: load + verify costs 0.4-1 s). Per job a
 * vx_tracer is attached to the target between `runtime create` and `runtime start`
 * (fanotify: a FILESYSTEM mark on the job's overlay; eBPF: the job's cgroup v2 id in the
 * filter map; uprobes: perf counting events scoped to the cgroup), and stopped after the
 * workload: every queue is drained so the last events are kept, and each backend reports
 * what it lost. A profile with any loss says complete = false, and verdicts built on it
 * stay under_investigation.
 *
 * Paths in the profile are canonical in-image paths: the host path of an event (under the
 * job's overlay or /proc/<pid>/root) is made relative to the target's root and resolved
 * through the image's own symlinks (/lib -> /usr/lib), so "/usr/lib/x86_64-linux-gnu/
 * libz.so.1.2.13" is what the inventory index is asked about.
 */
#ifndef VX_TRACE_TRACE_H
#define VX_TRACE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vx_err;

/* ---- the profile ------------------------------------------------------------------------ */

enum vx_trace_how {
    VX_HOW_OPEN = 1 << 0,      /* opened (read or write) */
    VX_HOW_EXEC = 1 << 1,      /* execve'd as the program */
    VX_HOW_MMAP_EXEC = 1 << 2, /* mapped executable (shared library, dlopen) */
    VX_HOW_INTERP = 1 << 3,    /* the ELF interpreter (PT_INTERP) or a #! interpreter */
    VX_HOW_NEEDED = 1 << 4,    /* named by DT_NEEDED of an executed/mapped ELF (a label) */
};

struct vx_trace_file {
    char *path;        /* canonical in-image path */
    uint64_t dev, ino; /* as seen on the host (0 when unknown) */
    unsigned how;      /* vx_trace_how bits */
    unsigned backends; /* bit i = backend i of the profile saw it */
    int64_t first_ms;  /* ms since the trace window started */
    int64_t count;
    pid_t pids[8]; /* first distinct host pids seen */
    size_t n_pids;
};

struct vx_trace_proc {
    pid_t pid, ppid; /* host pids */
    char *exe;       /* canonical in-image path, or NULL */
    char **argv;     /* capped (32 args, 256 bytes each) */
    size_t argc;
    int64_t start_ms, end_ms; /* end_ms -1 while running */
    int exit_code;            /* -1 unknown; 128+sig when killed */
};

struct vx_trace_net {
    char *kind; /* "listen", "connect", "accept" */
    char *addr; /* "127.0.0.1", "::1" */
    int port;
    int64_t count;
};

/* A function the findings name: counted with the perf uprobe PMU. */
struct vx_trace_symbol {
    char *path;      /* canonical in-image path of the library / binary */
    char *symbol;    /* "inflate", "golang.org/x/text/language.Parse" */
    uint64_t offset; /* file offset resolved from .symtab/.dynsym/pclntab; 0 if not found */
    bool resolved;   /* the symbol exists in the file (false: vulnerable_code_not_present) */
    bool attached;   /* a probe was placed */
    int64_t count;   /* calls seen (one-shot probes: 0 or 1+) */
    char *error;     /* why it could not be resolved/attached, or NULL */
};

struct vx_trace_backend_stat {
    char *name; /* "fanotify", "ebpf", "ptrace", "uprobe" */
    bool ran;
    int64_t events;
    int64_t lost; /* overflow / ring-buffer drops / missed stops: > 0 => incomplete */
    char *error;  /* why it did not run, or NULL */
};

struct vx_trace_profile {
    int64_t start_ms, end_ms; /* wall clock of the trace window */
    bool complete;            /* every running backend lost nothing */
    struct vx_trace_file *files; /* sorted by path (strcmp): consumers binary-search it */
    size_t n_files, cap_files;
    struct vx_trace_proc *procs;
    size_t n_procs, cap_procs;
    struct vx_trace_net *net;
    size_t n_net, cap_net;
    char **syscalls; /* names of syscalls used, where a backend sees them; sorted */
    size_t n_syscalls;
    struct vx_trace_symbol *symbols;
    size_t n_symbols;
    struct vx_trace_backend_stat *backends;
    size_t n_backends;
};

void vx_trace_profile_free(struct vx_trace_profile *p);
/* Canonical JSON (sorted): {"complete","window":{...},"backends":[...],"files":[{"path","dev",
 * "ino","how":["open","exec",...],"first_ms","count","pids"}],"processes":[...],
 * "network":[...],"syscalls":[...],"symbols":[...]}. Caller frees. */
char *vx_trace_profile_json(const struct vx_trace_profile *p);
/* The inverse of vx_trace_profile_json, for a profile that crossed a process boundary (the
 * Kubernetes tracer sidecar's report: untrusted). Every field is required with its type;
 * counts and strings are capped; files come back sorted by path. Errors (-VX_E_INVALID,
 * -VX_E_TOO_LARGE) name the JSON path at fault. Caller owns *out (vx_trace_profile_free). */
int vx_trace_profile_parse(const char *json, size_t len, struct vx_trace_profile **out,
                           struct vx_err **err);
/* The file entry of a canonical path, or NULL. */
const struct vx_trace_file *vx_trace_profile_file(const struct vx_trace_profile *p,
                                                  const char *path);

/* ---- tracing ------------------------------------------------------------------------------ */

struct vx_trace_opts {
    const char *backends; /* "auto" (default: fanotify+ebpf where both work, else what works,
                             ptrace last), or a comma list "fanotify", "ebpf", "ptrace" */
    bool fan_access;      /* also FAN_ACCESS (reads), costlier */
    int64_t queue_size;   /* fanotify queue / ring buffer bytes hint; 0 = default. Tests set
                             it tiny to force overflow */
    /* Functions to count (from the findings): in-image path + symbol. Borrowed. */
    const char *const *symbol_paths;
    const char *const *symbol_names;
    size_t n_symbols;
};

/* What to trace: a container between create and start, or a process tree. */
struct vx_trace_target {
    const char *root;      /* the target's root on the host: the job's merged overlay, or "/"
                              for a plain command; events outside it are ignored */
    const char *cgroup_v2; /* the container's cgroup v2 dir (eBPF filter, uprobe scope), or NULL */
    pid_t pid;             /* the container's init pid (stopped before its first instruction),
                              or 0 */
};

struct vx_trace_engine; /* per process: probe results + loaded eBPF objects */
struct vx_tracer;       /* per job */

/* Probes the host (which backends load; what each lacks, in messages) and loads shared parts.
 * Never fails for a missing backend: vx_trace_engine_available() says what works. */
int vx_trace_engine_new(struct vx_trace_engine **out, struct vx_err **err);
void vx_trace_engine_free(struct vx_trace_engine *e);
/* "fanotify,ebpf,ptrace" subset that works here (borrowed); and why one does not (or NULL). */
const char *vx_trace_engine_available(const struct vx_trace_engine *e);
const char *vx_trace_engine_why(const struct vx_trace_engine *e, const char *backend);

/* Attaches to target with the chosen backends. A backend that was asked for by name and
 * cannot attach is an error; under "auto", the next one is used and the reason recorded.
 * Caller owns *out. */
int vx_tracer_attach(struct vx_trace_engine *e, const struct vx_trace_opts *opts,
                     const struct vx_trace_target *target, struct vx_tracer **out,
                     struct vx_err **err);
/* Stops every backend, drains what is queued, resolves paths, labels interpreters and
 * DT_NEEDED libraries, and builds the profile (caller owns *out). Frees t. */
int vx_tracer_stop(struct vx_tracer *t, struct vx_trace_profile **out, struct vx_err **err);

/* `vexxy trace -- CMD`: runs argv (argv[0] looked up in PATH) traced from its first
 * instruction until it and its descendants exit (or timeout_ms), with root "/".
 * *exit_code gets the command's status. */
int vx_trace_command(struct vx_trace_engine *e, const struct vx_trace_opts *opts, char *const *argv,
                     int64_t timeout_ms, int *exit_code, struct vx_trace_profile **out,
                     struct vx_err **err);

/* ---- ELF helpers (user space; used by the profile and by the findings' symbols) ---------- */

/* PT_INTERP (caller frees, NULL if none) and DT_NEEDED names of an ELF file. */
int vx_elf_deps(const char *path, char **interp, char ***needed, size_t *n_needed,
                struct vx_err **err);
/* File offset of a function symbol (.symtab, then .dynsym, then Go pclntab); -VX_E_NOT_FOUND
 * when the symbol is absent. */
int vx_elf_symbol_offset(const char *path, const char *symbol, uint64_t *offset,
                         struct vx_err **err);

#endif
