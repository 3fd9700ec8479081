/* command.c -- vx_trace_command(): run a plain command traced from its first instruction
 * (`vexxy trace -- CMD`).
 *
 * DESIGN
 * The child is forked into its own process group and its own mount namespace (fanotify
 * attributes events by the mounts it marks: see fanotify.c), tells the parent it is ready
 * and blocks on a pipe; the parent attaches the tracer to it and only then lets it execvp.
 * An exec failure comes back through a close-on-exec pipe (errno), so "not found" is told
 * from a command that ran and exited 127.
 *
 * The caller becomes a child subreaper for the duration, so descendants that outlive their
 * parent are reparented to it and waited for too: the trace ends when the whole tree has
 * exited, or at the timeout (then the process group is killed). SIGCHLD is blocked in the
 * calling thread before the tracer's threads start (they inherit the mask), and waited for
 * with sigtimedwait. This is meant for a process that runs one command (the CLI): the
 * subreaper setting and waitpid(-1) concern every child of the process.
 */
#include "common/setup.h"

#include "trace/trace.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"  /* vx_err_*() */
#include "common/util.h" /* vx_mono_ms() for the timeout */
#include "trace/trace_int.h"

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static ssize_t read_full(int fd, void *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -1 : (ssize_t)done;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* The child: own process group and mount namespace, wait for the go, exec. Never returns. */
static void child_run(char *const *argv, int ready_w, int go_r, int err_w, const sigset_t *old)
{
    char c;
    int e;

    sigprocmask(SIG_SETMASK, old, NULL);
    setpgid(0, 0);
    if (unshare(CLONE_NEWNS) < 0)
        goto fail;
    if (write(ready_w, "r", 1) != 1)
        goto fail;
    if (read(go_r, &c, 1) != 1) /* the parent gave up: do not run untraced */
        _exit(127);
    if ((e = vx_trace_ptrace_child_arm()) < 0) { /* ptrace backend: its seccomp filter */
        errno = -e;
        goto fail;
    }
    execvp(argv[0], argv);
fail:
    e = errno;
    if (write(err_w, &e, sizeof(e)) < 0)
        _exit(127);
    _exit(127);
}

int vx_trace_command(struct vx_trace_engine *e, const struct vx_trace_opts *opts, char *const *argv,
                     int64_t timeout_ms, int *exit_code, struct vx_trace_profile **out,
                     struct vx_err **err)
{
    int ready[2] = {-1, -1}, go[2] = {-1, -1}, errp[2] = {-1, -1};
    int was_subreaper = 0, rc = 0, status = 0, code = -1, child_errno = 0;
    sigset_t chld, old;
    struct vx_tracer *t = NULL;
    pid_t pid = -1;
    bool main_done = false, timed_out = false;
    int64_t deadline = timeout_ms > 0 ? vx_mono_ms() + timeout_ms : 0;

    if (!argv || !argv[0])
        return vx_err_set(err, VX_E_USAGE, 0, "no command to trace");
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = vx_err_set(err, VX_E_INTERNAL, errno, "pipe: %s", strerror(errno));
        goto out_fds;
    }
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &old);
    prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper, 0, 0, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    pid = fork();
    if (pid < 0) {
        rc = vx_err_set(err, VX_E_INTERNAL, errno, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child_run(argv, ready[1], go[0], errp[1], &old);
    close_fd(&ready[1]);
    close_fd(&go[0]);
    close_fd(&errp[1]);

    char c;
    if (read_full(ready[0], &c, 1) != 1) {
        if (read_full(errp[0], &child_errno, sizeof(child_errno)) != sizeof(child_errno))
            child_errno = 0;
        rc = vx_err_set(err, VX_E_INTERNAL, child_errno, "prepare the traced child: %s",
                        child_errno ? strerror(child_errno) : "it died");
        goto out_reap;
    }
    struct vx_trace_target target = {.root = "/", .cgroup_v2 = NULL, .pid = pid};
    rc = vx_tracer_attach(e, opts, &target, &t, err);
    if (rc < 0)
        goto out_reap; /* closing go makes the child exit 127 without running anything */
    if (write(go[1], "g", 1) != 1) {
        rc = vx_err_set(err, VX_E_INTERNAL, errno, "start the traced child: %s", strerror(errno));
        goto out_reap;
    }
    close_fd(&go[1]);
    if (read_full(errp[0], &child_errno, sizeof(child_errno)) == sizeof(child_errno)) {
        rc = vx_err_set(err, child_errno == ENOENT ? VX_E_NOT_FOUND : VX_E_INVALID, child_errno,
                        "cannot run '%s': %s", argv[0], strerror(child_errno));
        goto out_reap;
    }

    /* Wait for the whole tree: the child, then every orphan reparented to us. */
    for (;;) {
        pid_t w;
        while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
            if (w == pid) {
                main_done = true;
                code = status_code(status);
            }
        }
        if (w < 0 && errno == ECHILD)
            break;
        if (w < 0 && errno != EINTR) {
            rc = vx_err_set(err, VX_E_INTERNAL, errno, "waitpid: %s", strerror(errno));
            break;
        }
        int64_t left = deadline ? deadline - vx_mono_ms() : 1000;
        if (deadline && left <= 0 && !timed_out) {
            timed_out = true;
            kill(-pid, SIGKILL);
            if (!main_done)
                kill(pid, SIGKILL);
            deadline = vx_mono_ms() + 5000; /* reap what the kill reached, then give up */
            continue;
        }
        if (deadline && left <= 0)
            break;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        if (left > 1000)
            ts = (struct timespec){.tv_sec = 1, .tv_nsec = 0};
        (void)sigtimedwait(&chld, NULL, &ts);
    }
    (void)main_done;
    vx_trace_note_proc(t, -1, pid, getpid(), NULL, argv, true, code);
    rc = vx_tracer_stop(t, out, err);
    t = NULL;
    if (rc == 0)
        *exit_code = code;
    goto out;

out_reap:
    close_fd(&go[1]);
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (t) {
        struct vx_trace_profile *p = NULL;
        vx_tracer_stop(t, &p, NULL);
        vx_trace_profile_free(p);
    }
out:
    prctl(PR_SET_CHILD_SUBREAPER, was_subreaper, 0, 0, 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
out_fds:
    close_fd(&ready[0]);
    close_fd(&ready[1]);
    close_fd(&go[0]);
    close_fd(&go[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    return rc;
}
