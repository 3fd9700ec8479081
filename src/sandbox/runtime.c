/* runtime.c -- driving the OCI runtime's CLI (runc or crun) and small process helpers.
 *
 * The runtime is a separate binary: vexxy spawns it with posix_spawn (safe in a threaded
 * worker: no code runs between fork and exec), stdin on /dev/null and a clean signal mask,
 * and reads its errors back from its --log file (JSON lines) because `runtime create`
 * hands its own stdout/stderr to the container: those are the workload's pipes.
 */
#include "common/setup.h"

#include "sandbox/sandbox_int.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_xasprintf, vx_xstrdup */
#include "common/buf.h"   /* run output */
#include "common/err.h"
#include "common/json.h" /* --log lines */
#include "common/util.h" /* vx_mono_ms */

extern char **environ;

char *vx_sbx_find_exe(const char *name)
{
    const char *path = getenv("PATH"), *p, *e;

    if (!name || !*name)
        return NULL;
    if (strchr(name, '/'))
        return access(name, X_OK) == 0 ? vx_xstrdup(name) : NULL;
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (p = path; *p; p = *e ? e + 1 : e) {
        char *cand;

        e = strchr(p, ':');
        if (!e)
            e = p + strlen(p);
        if (e == p)
            continue;
        cand = vx_xasprintf("%.*s/%s", (int)(e - p), p, name);
        if (access(cand, X_OK) == 0)
            return cand;
        free(cand);
    }
    return NULL;
}

int vx_sbx_spawn(char *const argv[], int out_fd, int err_fd, pid_t *pid, struct vx_err **err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (err_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    else
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    rc = posix_spawn(pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0)
        return vx_err_set(err, VX_E_SANDBOX, rc, "cannot run '%s': %s", argv[0], strerror(rc));
    return 0;
}

int vx_sbx_run(char *const argv[], int64_t timeout_ms, struct vx_buf *out, int *status,
               struct vx_err **err)
{
    int p[2] = {-1, -1}, rc = 0;
    pid_t pid = -1;
    int64_t deadline = vx_mono_ms() + timeout_ms;
    char chunk[4096];

    if (pipe2(p, O_CLOEXEC) < 0)
        return vx_err_set(err, VX_E_SANDBOX, errno, "pipe: %s", strerror(errno));
    rc = vx_sbx_spawn(argv, p[1], p[1], &pid, err);
    close(p[1]);
    if (rc < 0) {
        close(p[0]);
        return rc;
    }
    for (;;) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        int64_t left = deadline - vx_mono_ms();
        ssize_t n;

        if (left <= 0) {
            kill(pid, SIGKILL);
            rc = vx_err_set(err, VX_E_TIMEOUT, 0, "'%s %s' took longer than %" PRId64 " ms",
                            argv[0], argv[1] ? argv[1] : "", timeout_ms);
            break;
        }
        if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
            break;
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        n = read(p[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (out)
            (void)vx_buf_add(out, chunk, (size_t)n); /* capped: the rest is dropped */
    }
    close(p[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return rc;
}

char *vx_sbx_read_small(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct vx_buf b = VX_BUF_INIT(64 << 10);
    char chunk[4096];
    ssize_t n;

    if (fd < 0)
        return NULL;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0 && vx_buf_add(&b, chunk, (size_t)n) < 0)
            break;
    }
    close(fd);
    return vx_buf_detach(&b, NULL);
}

char *vx_sbx_runtime_log_error(const char *log_path)
{
    char *text = vx_sbx_read_small(log_path), *line, *next, *found = NULL, *last = NULL;

    if (!text)
        return NULL;
    for (line = text; line && *line; line = next) {
        json_t *j = NULL;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (!*line)
            continue;
        free(last);
        last = vx_xstrdup(line);
        if (vx_json_parse(line, strlen(line), &j, NULL) == 0) {
            const char *lvl = vx_json_str(j, "level"), *msg = vx_json_str(j, "msg");

            if (lvl && msg && (!strcmp(lvl, "error") || !strcmp(lvl, "fatal"))) {
                free(found);
                found = vx_xstrdup(msg);
            }
            json_decref(j);
        }
    }
    free(text);
    if (found) {
        free(last);
        return found;
    }
    return last;
}

uint64_t vx_sbx_proc_start(pid_t pid)
{
    char path[64], *text, *p;
    unsigned long long start = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    text = vx_sbx_read_small(path);
    if (!text)
        return 0;
    /* comm may contain spaces and parens: fields resume after the last ')' */
    p = strrchr(text, ')');
    if (p) {
        int field = 2;

        for (p++; *p && field < 22; p++) {
            if (*p == ' ')
                field++;
        }
        if (field == 22)
            start = strtoull(p, NULL, 10);
    }
    free(text);
    return start;
}
