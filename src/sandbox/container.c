/* container.c -- the lifecycle of one sandbox: create, start, wait, stop, destroy.
 *
 * DESIGN
 * create  writes the bookkeeping record (reap.c) first, then <job_dir>/sandbox/{bundle,
 *         upper,work,merged}, mounts the overlay, writes config.json and runs
 *         `runtime create` with its stdout/stderr on two pipes: the runtime hands its own
 *         stdio to the container's init, so those pipes carry the workload's output. The
 *         init pid comes from --pid-file; it sits in the runtime's init, before the
 *         workload's first instruction, until start. It is moved into the cgroup v2
 *         directory (cgroup.c) and a pidfd and its network namespace are opened.
 * exit    The service is a child subreaper (PR_SET_CHILD_SUBREAPER, set at the first
 *         create): `runtime create` exits after creating, so the container's init is
 *         re-parented to the service and its exit status can be collected with
 *         waitid(P_PIDFD) -- no polling of `runtime state`. Without the subreaper status
 *         the exit is still seen (the pidfd turns readable) but the code is unknown (-1).
 * monitor one thread per sandbox polls the two pipes (copied to capped buffers and to
 *         <job_dir>/sandbox/{stdout,stderr}.log, the rest dropped but still read so the
 *         workload never blocks on a full pipe), the pidfd (exit) and an eventfd (start,
 *         stop); it SIGKILLs the init at start + limits.wall_ms whoever is waiting, and
 *         marks timed_out. Killing the init of a pid namespace kills every process in it.
 *         It ends when the init is collected and both pipes are at EOF, or when told to.
 *         State it shares is under sb->mu; sb->cv signals exit and the monitor's end.
 * stop    SIGTERM to the init (delivered only if it handles it, like any pid-1), SIGKILL
 *         after the grace, then the cgroup accounting (OOM kills, refused forks, CPU,
 *         memory peak) is read before anything is deleted.
 * destroy kills what still runs, `runtime delete --force`, unmounts, removes the cgroup v2
 *         directory and <job_dir>/sandbox, and the record last. On a create error the same
 *         teardown runs on whatever was made.
 * Thread use: one sandbox is driven by one thread at a time (its owner); the getters of
 * output may run concurrently with the monitor.
 */
#include "common/setup.h"

#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_xasprintf */
#include "common/buf.h"   /* captured output */
#include "common/err.h"
#include "common/fs.h" /* vx_fs_mkdirs, vx_fs_remove_tree */
#include "common/log.h"
#include "common/util.h" /* vx_mono_ms */

#define DEF_MEMORY   (512LL << 20)
#define DEF_CPU      1000
#define DEF_PIDS     256
#define DEF_WALL     300000
#define DEF_LOG      (1LL << 20)
#define DEF_ID_RANGE 65536u

struct stream {
    int fd;   /* read end, non-blocking; -1 at EOF */
    int file; /* the capped copy in <job_dir>/sandbox, or -1 */
    struct vx_buf buf;
    int64_t dropped;
};

struct vx_sandbox {
    char *name, *runtime, *runtime_path, *runtime_root, *record;
    char *sbx_dir, *bundle, *merged, *cg_v2, *cgroups_path, *log_path;
    enum vx_sbx_cgmode cgmode;
    struct vx_sandbox_limits limits;
    bool record_written, created, overlay;
    pid_t pid;
    int pidfd, netns_fd, wake_fd;
    pthread_t mon;
    bool mon_started, mon_joined;
    char **snapshots;
    size_t n_snapshots;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    struct stream out, err;
    bool started, exited, collected, kill_sent, timed_out, quit, mon_done;
    int wstatus_code, wstatus_sig; /* exit code / signal, -1/0 when unknown */
    int64_t start_ms, exit_ms;
    bool stopped;
    struct vx_sandbox_exit ex;
};

/* ---- helpers -------------------------------------------------------------------------------- */

static bool name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;

    if (len == 0 || len > 64 || n[0] == '.' || n[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* The container's root runs the runtime's mount setup inside the user namespace: every
 * directory above its rootfs must be searchable by "others". */
static int check_searchable(const char *path, uint32_t uid, struct vx_err **err)
{
    char *p = vx_xstrdup(path), *slash;
    int rc = 0;

    while ((slash = strrchr(p, '/')) != NULL) {
        struct stat st;

        *slash = '\0';
        if (stat(*p ? p : "/", &st) == 0 && !(st.st_mode & S_IXOTH)) {
            rc = vx_err_set(err, VX_E_SANDBOX, EACCES,
                            "'%s' is not searchable by the container's root (host uid %u): "
                            "the runtime cannot reach the rootfs from the user namespace "
                            "(chmod o+x)",
                            *p ? p : "/", uid);
            break;
        }
    }
    free(p);
    return rc;
}

static void wake(struct vx_sandbox *sb)
{
    uint64_t one = 1;

    if (sb->wake_fd >= 0)
        (void)!write(sb->wake_fd, &one, sizeof(one));
}

static void abs_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits on sb->cv (mu held) until pred or ms elapsed. */
#define WAIT_UNTIL(sb, pred, ms)                                                                   \
    do {                                                                                           \
        struct timespec ts_;                                                                       \
        abs_deadline(&ts_, (ms));                                                                  \
        while (!(pred))                                                                            \
            if (pthread_cond_timedwait(&(sb)->cv, &(sb)->mu, &ts_) == ETIMEDOUT)                   \
                break;                                                                             \
    } while (0)

/* ---- the monitor thread --------------------------------------------------------------------- */

static void stream_read(struct vx_sandbox *sb, struct stream *s, int64_t cap)
{
    char chunk[16384];

    for (;;) {
        ssize_t n = read(s->fd, chunk, sizeof(chunk));
        size_t keep;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            close(s->fd);
            s->fd = -1;
            return;
        }
        keep = (size_t)n;
        if ((int64_t)(s->buf.len + keep) > cap)
            keep = s->buf.len < (size_t)cap ? (size_t)cap - s->buf.len : 0;
        pthread_mutex_lock(&sb->mu);
        if (keep)
            (void)vx_buf_add(&s->buf, chunk, keep);
        s->dropped += n - (ssize_t)keep;
        pthread_mutex_unlock(&sb->mu);
        if (keep && s->file >= 0)
            (void)!write(s->file, chunk, keep);
    }
}

static void collect(struct vx_sandbox *sb)
{
    siginfo_t si;
    int code = -1, sig = 0;

    memset(&si, 0, sizeof(si));
    if (waitid((idtype_t)P_PIDFD, (id_t)sb->pidfd, &si, WEXITED | WNOHANG) == 0) {
        if (si.si_pid == 0)
            return; /* not yet (spurious wake-up) */
        if (si.si_code == CLD_EXITED)
            code = si.si_status;
        else
            sig = si.si_status;
    }
    /* ECHILD: not our child (no subreaper): the exit is known, its status is not */
    pthread_mutex_lock(&sb->mu);
    sb->exited = true;
    sb->collected = true;
    sb->wstatus_code = code;
    sb->wstatus_sig = sig;
    sb->exit_ms = vx_mono_ms();
    pthread_cond_broadcast(&sb->cv);
    pthread_mutex_unlock(&sb->mu);
}

static void *monitor(void *arg)
{
    struct vx_sandbox *sb = arg;

    for (;;) {
        struct pollfd p[4];
        int n = 0, io = -1, ie = -1, ip = -1, timeout = -1;
        bool quit, collected;
        int64_t deadline = 0;

        pthread_mutex_lock(&sb->mu);
        quit = sb->quit;
        collected = sb->collected;
        if (sb->started && !sb->exited && !sb->timed_out)
            deadline = sb->start_ms + sb->limits.wall_ms;
        pthread_mutex_unlock(&sb->mu);
        if (quit)
            break;
        if (collected && sb->out.fd < 0 && sb->err.fd < 0)
            break;
        if (deadline) {
            int64_t left = deadline - vx_mono_ms();

            if (left <= 0) {
                pthread_mutex_lock(&sb->mu);
                sb->timed_out = true;
                sb->kill_sent = true;
                pthread_mutex_unlock(&sb->mu);
                vx_info("sandbox %s: wall-clock limit of %" PRId64 " ms reached: killed", sb->name,
                        sb->limits.wall_ms);
                (void)pidfd_send_signal(sb->pidfd, SIGKILL, NULL, 0);
                continue;
            }
            timeout = left > 60000 ? 60000 : (int)left;
        }
        p[n] = (struct pollfd){.fd = sb->wake_fd, .events = POLLIN};
        n++;
        if (sb->out.fd >= 0) {
            io = n;
            p[n++] = (struct pollfd){.fd = sb->out.fd, .events = POLLIN};
        }
        if (sb->err.fd >= 0) {
            ie = n;
            p[n++] = (struct pollfd){.fd = sb->err.fd, .events = POLLIN};
        }
        if (!collected) {
            ip = n;
            p[n++] = (struct pollfd){.fd = sb->pidfd, .events = POLLIN};
        }
        if (poll(p, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            vx_warn("sandbox %s: monitor poll: %s", sb->name, strerror(errno));
            break;
        }
        if (p[0].revents & POLLIN) {
            uint64_t v;

            (void)!read(sb->wake_fd, &v, sizeof(v));
        }
        if (io >= 0 && p[io].revents)
            stream_read(sb, &sb->out, sb->limits.log_bytes);
        if (ie >= 0 && p[ie].revents)
            stream_read(sb, &sb->err, sb->limits.log_bytes);
        if (ip >= 0 && p[ip].revents)
            collect(sb);
    }
    /* told to end: whatever is already in the pipes */
    if (sb->out.fd >= 0)
        stream_read(sb, &sb->out, sb->limits.log_bytes);
    if (sb->err.fd >= 0)
        stream_read(sb, &sb->err, sb->limits.log_bytes);
    pthread_mutex_lock(&sb->mu);
    sb->mon_done = true;
    pthread_cond_broadcast(&sb->cv);
    pthread_mutex_unlock(&sb->mu);
    return NULL;
}

static void monitor_end(struct vx_sandbox *sb, int64_t drain_ms)
{
    if (!sb->mon_started || sb->mon_joined)
        return;
    pthread_mutex_lock(&sb->mu);
    WAIT_UNTIL(sb, sb->mon_done, drain_ms);
    sb->quit = true;
    pthread_mutex_unlock(&sb->mu);
    wake(sb);
    pthread_join(sb->mon, NULL);
    sb->mon_joined = true;
}

/* ---- runtime commands ----------------------------------------------------------------------- */

static int runtime_cmd(struct vx_sandbox *sb, const char *verb, const char *arg, int64_t timeout_ms,
                       struct vx_err **err)
{
    char *argv[] = {sb->runtime_path,
                    "--root",
                    sb->runtime_root,
                    (char *)verb,
                    (char *)(arg ? arg : sb->name),
                    arg ? sb->name : NULL,
                    NULL};
    struct vx_buf out = VX_BUF_INIT(8192);
    int status = 0, rc;

    rc = vx_sbx_run(argv, timeout_ms, &out, &status, err);
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = vx_err_set(err, VX_E_SANDBOX, 0, "%s %s %s: %s", sb->runtime, verb, sb->name,
                        vx_buf_str(&out)[0] ? vx_buf_str(&out) : "failed");
    vx_buf_release(&out);
    return rc;
}

/* `runtime create` with the workload's pipes; waits for it (it exits once created). */
static int runtime_create(struct vx_sandbox *sb, int out_w, int err_w, struct vx_err **err)
{
    char *pidfile = vx_xasprintf("%s/init.pid", sb->sbx_dir), *text = NULL, *why = NULL;
    char *argv[] = {sb->runtime_path, "--root", sb->runtime_root, "--log",    sb->log_path,
                    "--log-format",   "json",   "create",         "--bundle", sb->bundle,
                    "--pid-file",     pidfile,  sb->name,         NULL};
    pid_t child = -1;
    int status = 0, pfd = -1, rc;
    long pid;

    if ((rc = vx_sbx_spawn(argv, out_w, err_w, &child, err)) < 0)
        goto out;
    /* created is set before the outcome is known: a half-made container is deleted too */
    sb->created = true;
    pfd = (int)pidfd_open(child, 0);
    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};

        if (poll(&p, 1, 60000) == 0) {
            kill(child, SIGKILL);
            vx_warn("sandbox %s: %s create took over 60 s: killed", sb->name, sb->runtime);
        }
        close(pfd);
    }
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        why = vx_sbx_runtime_log_error(sb->log_path);
        rc = vx_err_set(err, VX_E_SANDBOX, 0, "%s create: %s", sb->runtime,
                        why ? why : "failed without a message");
        goto out;
    }
    text = vx_sbx_read_small(pidfile);
    pid = text ? strtol(text, NULL, 10) : 0;
    if (pid <= 1) {
        rc = vx_err_set(err, VX_E_SANDBOX, 0, "%s create: no init pid in '%s'", sb->runtime,
                        pidfile);
        goto out;
    }
    sb->pid = (pid_t)pid;
out:
    free(pidfile);
    free(text);
    free(why);
    return rc;
}

/* ---- teardown ------------------------------------------------------------------------------- */

static int teardown(struct vx_sandbox *sb, struct vx_err **err)
{
    int rc = 0, x;

    pthread_mutex_lock(&sb->mu);
    if (sb->pidfd >= 0 && !sb->collected)
        (void)pidfd_send_signal(sb->pidfd, SIGKILL, NULL, 0);
    sb->kill_sent = true;
    if (sb->mon_started)
        WAIT_UNTIL(sb, sb->collected, 2000);
    pthread_mutex_unlock(&sb->mu);
    monitor_end(sb, 200);
    if (sb->created) {
        if ((x = runtime_cmd(sb, "delete", "--force", 10000, err)) < 0 && rc == 0)
            rc = x;
    }
    if (sb->netns_fd >= 0) {
        close(sb->netns_fd);
        sb->netns_fd = -1;
    }
    if (sb->pidfd >= 0) {
        if (!sb->collected) {
            /* no monitor ran (a create error): collect the killed init ourselves, or it
             * stays a zombie of this subreaper */
            struct pollfd p = {.fd = sb->pidfd, .events = POLLIN};
            siginfo_t si;

            (void)poll(&p, 1, 2000);
            (void)waitid((idtype_t)P_PIDFD, (id_t)sb->pidfd, &si, WEXITED | WNOHANG);
        }
        close(sb->pidfd);
        sb->pidfd = -1;
    }
    if (sb->overlay && (x = vx_sbx_overlay_umount(sb->merged, err)) < 0 && rc == 0)
        rc = x;
    if (sb->cg_v2 && (x = vx_sbx_cgroup_v2_remove(sb->cg_v2, err)) < 0 && rc == 0)
        rc = x;
    if (sb->out.file >= 0)
        close(sb->out.file);
    if (sb->err.file >= 0)
        close(sb->err.file);
    sb->out.file = sb->err.file = -1;
    if (rc == 0 && sb->sbx_dir && (x = vx_fs_remove_tree(sb->sbx_dir, err)) < 0)
        rc = x;
    /* the record stays when something could not be undone: the reaper retries later */
    if (rc == 0 && sb->record_written)
        unlink(sb->record);
    return rc;
}

static void sb_free(struct vx_sandbox *sb)
{
    if (sb->out.fd >= 0)
        close(sb->out.fd);
    if (sb->err.fd >= 0)
        close(sb->err.fd);
    if (sb->wake_fd >= 0)
        close(sb->wake_fd);
    vx_buf_release(&sb->out.buf);
    vx_buf_release(&sb->err.buf);
    for (size_t i = 0; i < sb->n_snapshots; i++)
        free(sb->snapshots[i]);
    free(sb->snapshots);
    pthread_mutex_destroy(&sb->mu);
    pthread_cond_destroy(&sb->cv);
    free(sb->name);
    free(sb->runtime);
    free(sb->runtime_path);
    free(sb->runtime_root);
    free(sb->record);
    free(sb->sbx_dir);
    free(sb->bundle);
    free(sb->merged);
    free(sb->cg_v2);
    free(sb->cgroups_path);
    free(sb->log_path);
    free(sb);
}

/* ---- the API -------------------------------------------------------------------------------- */

static void limits_default(struct vx_sandbox_limits *l)
{
    if (l->memory_bytes <= 0)
        l->memory_bytes = DEF_MEMORY;
    if (l->memory_bytes < (4LL << 20))
        l->memory_bytes = 4LL << 20; /* below this the runtime's own init cannot start */
    if (l->cpu_millis <= 0)
        l->cpu_millis = DEF_CPU;
    if (l->cpu_millis < 10)
        l->cpu_millis = 10; /* a quota of at least 1 ms per 100 ms period */
    if (l->pids_max <= 0)
        l->pids_max = DEF_PIDS;
    if (l->wall_ms <= 0)
        l->wall_ms = DEF_WALL;
    if (l->log_bytes <= 0)
        l->log_bytes = DEF_LOG;
}

static int open_log(const char *dir, const char *name)
{
    char *p = vx_xasprintf("%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    free(p);
    return fd;
}

int vx_sandbox_create(const struct vx_sandbox_config *cfg, struct vx_sandbox **out,
                      struct vx_err **err)
{
    struct vx_sandbox *sb = NULL;
    struct vx_sbx_record rec = {0};
    struct vx_sbx_bundle_args ba = {0};
    json_t *doc = NULL;
    char *vexxy_dir = NULL;
    int pout[2] = {-1, -1}, perr[2] = {-1, -1}, rc;
    uint32_t id_range;
    int64_t t0 = vx_mono_ms();

    *out = NULL;
    if (!cfg || !cfg->state_dir || !*cfg->state_dir || !cfg->job_dir || !*cfg->job_dir ||
        !cfg->rootfs || !*cfg->rootfs)
        return vx_err_set(err, VX_E_INVALID, 0,
                          "sandbox: state_dir, job_dir and rootfs are "
                          "required");
    if (cfg->state_dir[0] != '/' || cfg->job_dir[0] != '/' || cfg->rootfs[0] != '/')
        return vx_err_set(err, VX_E_INVALID, 0,
                          "sandbox: state_dir, job_dir and rootfs must "
                          "be absolute paths");
    if (!name_ok(cfg->name))
        return vx_err_set(err, VX_E_INVALID, 0,
                          "sandbox: name '%s' must be 1-64 of [A-Za-z0-9_.-], not starting "
                          "with '.' or '-'",
                          cfg->name ? cfg->name : "");
    if (!cfg->image && !cfg->n_command)
        return vx_err_set(err, VX_E_INVALID, 0, "sandbox: no image config and no command");
    if (cfg->uid_shift == 0 && !cfg->allow_no_userns)
        return vx_err_set(err, VX_E_INVALID, 0,
                          "sandbox: a user namespace is required (uid_shift 0 refused)");
    id_range = cfg->id_range ? cfg->id_range : DEF_ID_RANGE;
    if (cfg->uid_shift && (uint64_t)cfg->uid_shift + id_range > UINT32_MAX)
        return vx_err_set(err, VX_E_INVALID, 0, "sandbox: uid_shift + id_range overflow");
    if (cfg->runtime && strcmp(cfg->runtime, "runc") && strcmp(cfg->runtime, "crun"))
        return vx_err_set(err, VX_E_INVALID, 0, "sandbox: runtime '%s' is not runc or crun",
                          cfg->runtime);

    sb = vx_xcalloc(1, sizeof(*sb));
    pthread_mutex_init(&sb->mu, NULL);
    {
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&sb->cv, &ca);
        pthread_condattr_destroy(&ca);
    }
    sb->pidfd = sb->netns_fd = sb->wake_fd = -1;
    sb->out.fd = sb->err.fd = sb->out.file = sb->err.file = -1;
    sb->wstatus_code = -1;
    sb->limits = cfg->limits;
    limits_default(&sb->limits);
    vx_buf_init(&sb->out.buf, (size_t)sb->limits.log_bytes);
    vx_buf_init(&sb->err.buf, (size_t)sb->limits.log_bytes);
    sb->name = vx_xstrdup(cfg->name);
    sb->runtime = vx_xstrdup(cfg->runtime ? cfg->runtime : "runc");
    sb->runtime_path = vx_sbx_find_exe(cfg->runtime_path ? cfg->runtime_path : sb->runtime);
    if (!sb->runtime_path) {
        rc = vx_err_set(err, VX_E_SANDBOX, ENOENT, "sandbox: runtime '%s' not found",
                        cfg->runtime_path ? cfg->runtime_path : sb->runtime);
        goto fail;
    }
    sb->runtime_root = vx_xasprintf("%s/%s", cfg->state_dir, sb->runtime);
    sb->record = vx_sbx_record_path(cfg->state_dir, sb->name);
    sb->sbx_dir = vx_xasprintf("%s/sandbox", cfg->job_dir);
    sb->bundle = vx_xasprintf("%s/bundle", sb->sbx_dir);
    sb->merged = vx_xasprintf("%s/merged", sb->sbx_dir);
    sb->log_path = vx_xasprintf("%s/runtime.log", sb->sbx_dir);
    sb->cgroups_path = vx_xasprintf("/vexxy/%s", sb->name);
    sb->cgmode = vx_sbx_cgroup_mode();
    sb->cg_v2 = vx_sbx_cgroup_v2_path(sb->cgmode, sb->name);

    /* the runtime's init is re-parented to us: its exit status is ours to collect */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        vx_warn("sandbox: cannot become a child subreaper (%s): exit codes unknown",
                strerror(errno));

    vexxy_dir = vx_xasprintf("%s/vexxy", cfg->state_dir);
    if ((rc = vx_fs_mkdirs(vexxy_dir, 0700, err)) < 0 ||
        (rc = vx_fs_mkdirs(sb->runtime_root, 0700, err)) < 0)
        goto fail;
    if (access(sb->record, F_OK) == 0) {
        rc = vx_err_set(err, VX_E_CONFLICT, 0,
                        "sandbox '%s' already exists (a live one, or leftovers: run the reaper)",
                        sb->name);
        goto fail;
    }
    rec.name = sb->name;
    rec.owner_pid = getpid();
    rec.owner_start = vx_sbx_proc_start(getpid());
    rec.runtime_path = sb->runtime_path;
    rec.runtime_root = sb->runtime_root;
    rec.sandbox_dir = sb->sbx_dir;
    rec.merged = sb->merged;
    rec.cgroup_v2 = sb->cgmode == VX_SBX_CG_HYBRID ? sb->cg_v2 : NULL;
    rec.cgroups_path = sb->cgroups_path;
    if ((rc = vx_sbx_record_write(sb->record, &rec, err)) < 0)
        goto fail;
    sb->record_written = true;

    if (mkdir(sb->sbx_dir, 0711) < 0) {
        rc = vx_err_set(err, errno == EEXIST ? VX_E_CONFLICT : VX_E_IO, errno,
                        "sandbox: mkdir '%s': %s", sb->sbx_dir, strerror(errno));
        free(sb->sbx_dir); /* not ours: never removed by the teardown */
        sb->sbx_dir = NULL;
        goto fail;
    }
    if (chmod(sb->sbx_dir, 0711) < 0 || mkdir(sb->bundle, 0700) < 0) {
        rc =
            vx_err_set(err, VX_E_IO, errno, "sandbox: mkdir '%s': %s", sb->bundle, strerror(errno));
        goto fail;
    }
    if (cfg->uid_shift && (rc = check_searchable(sb->merged, cfg->uid_shift, err)) < 0)
        goto fail;
    {
        char *m = NULL;

        if ((rc = vx_sbx_overlay_mount(cfg->rootfs, sb->sbx_dir, cfg->uid_shift, cfg->uid_shift, &m,
                                       err)) < 0)
            goto fail;
        free(m); /* the same path as sb->merged */
    }
    sb->overlay = true;
    {
        struct vx_sandbox_config c2 = *cfg;

        c2.id_range = id_range;
        ba.cfg = &c2;
        ba.rootfs = sb->merged;
        ba.cgroups_path = sb->cgroups_path;
        ba.share_net_pid = cfg->share_net_with ? vx_sandbox_pid(cfg->share_net_with) : 0;
        ba.lower = cfg->rootfs;
        ba.limits = &sb->limits;
        if ((rc = vx_sbx_bundle_json(&ba, &doc, err)) < 0)
            goto fail;
    }
    if ((rc = vx_sbx_bundle_write(sb->bundle, doc, err)) < 0)
        goto fail;
    sb->out.file = open_log(sb->sbx_dir, "stdout.log");
    sb->err.file = open_log(sb->sbx_dir, "stderr.log");
    if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0 ||
        (sb->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        rc = vx_err_set(err, VX_E_SANDBOX, errno, "sandbox: pipe: %s", strerror(errno));
        goto fail;
    }
    sb->out.fd = pout[0];
    sb->err.fd = perr[0];
    pout[0] = perr[0] = -1;
    fcntl(sb->out.fd, F_SETFL, O_NONBLOCK);
    fcntl(sb->err.fd, F_SETFL, O_NONBLOCK);
    rc = runtime_create(sb, pout[1], perr[1], err);
    close(pout[1]);
    close(perr[1]);
    pout[1] = perr[1] = -1;
    if (rc < 0)
        goto fail;
    sb->pidfd = (int)pidfd_open(sb->pid, 0);
    if (sb->pidfd < 0) {
        rc = vx_err_set(err, VX_E_SANDBOX, errno, "sandbox: pidfd of init %d: %s", (int)sb->pid,
                        strerror(errno));
        goto fail;
    }
    {
        char ns[64];

        snprintf(ns, sizeof(ns), "/proc/%d/ns/net", (int)sb->pid);
        sb->netns_fd = open(ns, O_RDONLY | O_CLOEXEC);
        if (sb->netns_fd < 0) {
            rc =
                vx_err_set(err, VX_E_SANDBOX, errno, "sandbox: open '%s': %s", ns, strerror(errno));
            goto fail;
        }
    }
    if (sb->cgmode == VX_SBX_CG_HYBRID) {
        if ((rc = vx_sbx_cgroup_v2_make(sb->cg_v2, err)) < 0 ||
            (rc = vx_sbx_cgroup_v2_attach(sb->cg_v2, sb->pid, err)) < 0)
            goto fail;
    } else if (sb->cgmode == VX_SBX_CG_V1) {
        vx_warn("sandbox %s: no cgroup v2 hierarchy on this host", sb->name);
        free(sb->cg_v2);
        sb->cg_v2 = NULL;
    } else {
        free(sb->cg_v2); /* the runtime's own cgroup: the runtime removes it */
        sb->cg_v2 = vx_xasprintf("/sys/fs/cgroup%s", sb->cgroups_path);
    }
    if (pthread_create(&sb->mon, NULL, monitor, sb) != 0) {
        rc = vx_err_set(err, VX_E_SANDBOX, 0, "sandbox: cannot start the monitor thread");
        goto fail;
    }
    sb->mon_started = true;
    vx_debug("sandbox %s: created in %" PRId64 " ms (init %d)", sb->name, vx_mono_ms() - t0,
             (int)sb->pid);
    json_decref(doc);
    free(vexxy_dir);
    *out = sb;
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
    }
    if (sb->cgmode == VX_SBX_CG_V2) {
        free(sb->cg_v2);
        sb->cg_v2 = NULL;
    }
    (void)teardown(sb, NULL);
    json_decref(doc);
    free(vexxy_dir);
    sb_free(sb);
    return rc;
}

pid_t vx_sandbox_pid(const struct vx_sandbox *sb)
{
    return sb ? sb->pid : -1;
}

const char *vx_sandbox_cgroup_v2(const struct vx_sandbox *sb)
{
    return sb && sb->cg_v2 ? sb->cg_v2 : "";
}

const char *vx_sandbox_rootfs(const struct vx_sandbox *sb)
{
    return sb ? sb->merged : "";
}

int vx_sandbox_netns_fd(const struct vx_sandbox *sb)
{
    return sb ? sb->netns_fd : -1;
}

int vx_sandbox_start(struct vx_sandbox *sb, struct vx_err **err)
{
    int64_t t0;
    int rc;

    pthread_mutex_lock(&sb->mu);
    if (sb->started || sb->exited) {
        pthread_mutex_unlock(&sb->mu);
        return vx_err_set(err, VX_E_CONFLICT, 0, "sandbox %s: already started or ended", sb->name);
    }
    pthread_mutex_unlock(&sb->mu);
    /* the workload may run (and end) before `runtime start` returns */
    t0 = vx_mono_ms();
    rc = runtime_cmd(sb, "start", NULL, 30000, err);
    pthread_mutex_lock(&sb->mu);
    if (rc == 0) {
        sb->started = true;
        sb->start_ms = t0;
    }
    pthread_mutex_unlock(&sb->mu);
    wake(sb); /* the monitor now keeps the wall clock */
    return rc;
}

int vx_sandbox_wait(struct vx_sandbox *sb, int64_t timeout_ms, bool *running, struct vx_err **err)
{
    int64_t ms;

    pthread_mutex_lock(&sb->mu);
    if (!sb->started && !sb->exited) {
        pthread_mutex_unlock(&sb->mu);
        *running = false;
        return vx_err_set(err, VX_E_CONFLICT, 0, "sandbox %s: not started", sb->name);
    }
    if (timeout_ms < 0) /* the monitor kills at the wall clock; a little slack for that */
        ms = sb->start_ms + sb->limits.wall_ms + 3000 - vx_mono_ms();
    else
        ms = timeout_ms;
    if (ms > 0)
        WAIT_UNTIL(sb, sb->exited, ms);
    *running = !sb->exited;
    pthread_mutex_unlock(&sb->mu);
    return 0;
}

int vx_sandbox_stop(struct vx_sandbox *sb, int64_t grace_ms, struct vx_sandbox_exit *ex,
                    struct vx_err **err)
{
    (void)err;
    pthread_mutex_lock(&sb->mu);
    if (sb->stopped) {
        *ex = sb->ex;
        pthread_mutex_unlock(&sb->mu);
        return 0;
    }
    if (!sb->exited) {
        sb->kill_sent = true;
        if (sb->started && grace_ms > 0) {
            (void)pidfd_send_signal(sb->pidfd, SIGTERM, NULL, 0);
            WAIT_UNTIL(sb, sb->exited, grace_ms);
        }
        if (!sb->exited) {
            (void)pidfd_send_signal(sb->pidfd, SIGKILL, NULL, 0);
            WAIT_UNTIL(sb, sb->exited, 5000);
        }
    }
    memset(&sb->ex, 0, sizeof(sb->ex));
    sb->ex.exited = sb->exited && !sb->kill_sent;
    sb->ex.timed_out = sb->timed_out;
    sb->ex.exit_code = sb->wstatus_code;
    sb->ex.signal = sb->wstatus_sig;
    if (sb->started)
        sb->ex.ran_ms = (sb->exited ? sb->exit_ms : vx_mono_ms()) - sb->start_ms;
    pthread_mutex_unlock(&sb->mu);
    /* the last output, then the accounting before `runtime delete` removes the cgroups */
    monitor_end(sb, 1000);
    vx_sbx_cgroup_stats(sb->cgmode, sb->cgroups_path, &sb->ex);
    pthread_mutex_lock(&sb->mu);
    sb->stopped = true;
    *ex = sb->ex;
    pthread_mutex_unlock(&sb->mu);
    return 0;
}

static const char *output(struct vx_sandbox *sb, struct stream *s)
{
    char *snap;

    if (sb->mon_joined || !sb->mon_started)
        return vx_buf_str(&s->buf);
    pthread_mutex_lock(&sb->mu);
    snap = vx_xstrdup(vx_buf_str(&s->buf));
    pthread_mutex_unlock(&sb->mu);
    sb->snapshots = vx_xrealloc(sb->snapshots, (sb->n_snapshots + 1) * sizeof(char *));
    sb->snapshots[sb->n_snapshots++] = snap;
    return snap;
}

const char *vx_sandbox_stdout(struct vx_sandbox *sb)
{
    return sb ? output(sb, &sb->out) : "";
}

const char *vx_sandbox_stderr(struct vx_sandbox *sb)
{
    return sb ? output(sb, &sb->err) : "";
}

int vx_sandbox_destroy(struct vx_sandbox *sb, struct vx_err **err)
{
    int rc;
    int64_t t0 = vx_mono_ms();

    if (!sb)
        return 0;
    rc = teardown(sb, err);
    vx_debug("sandbox %s: destroyed in %" PRId64 " ms", sb->name, vx_mono_ms() - t0);
    sb_free(sb);
    return rc;
}
