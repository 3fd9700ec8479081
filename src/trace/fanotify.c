/* fanotify.c -- the default trace backend: fanotify(7) open/exec notifications in fd mode.
 *
 * It sees every open and every exec of a file on the marked mounts/filesystem, including the
 * ones the kernel makes itself (the ELF interpreter, `#!` interpreters), and nothing else:
 * not mmap(PROT_EXEC) (a dlopen'd library is seen by its open), not the process tree, not
 * the network. Host pids come with each event.
 *
 * DESIGN
 * Which events are the target's is decided by where the mark sits, not by pid lookups
 * (a pid may be gone by the time its event is read):
 *  - a container (target->root is not "/"): a FAN_MARK_FILESYSTEM mark on target->root, which
 *    must be its own superblock (the job's overlay): only the job uses it. It can be placed
 *    before `runtime create`. When target->pid is set, events of live pids in another pid
 *    namespace than the target's (runc, the host) are dropped; the tracer's own are always.
 *  - a plain command (root "/"): the target must run in its own mount namespace
 *    (vx_trace_command unshares one for its child). Every mount of that namespace gets a
 *    FAN_MARK_MOUNT mark through /proc/<pid>/root/<mountpoint>: those mount objects are
 *    copies only that namespace uses, so events are exactly the target's and its
 *    descendants' (a descendant that unshares a new mount namespace again is not seen).
 *    Pseudo filesystems (proc, sysfs, cgroup, devtmpfs, devpts, ...) are not marked.
 *    A FILESYSTEM mark on "/" filtered by pid tree was rejected: short-lived children exit
 *    before their events are read, so their pids can no longer be attributed.
 *  - a container's root that is the root of its own mount namespace (target->root is
 *    /proc/<pid>/root, or an fd of it, as the Kubernetes tracer sidecar gives it): MOUNT marks
 *    on that namespace's mounts, as for a plain command; paths stay relative to target->root.
 *
 * A reader thread polls the group fd and a stop pipe. Each event: readlink of
 * /proc/self/fd/N (the kernel's path, symlinks already resolved), fstat for dev/ino, close,
 * then the sink, then an ignore mark on the file for the kinds of event seen (the profile
 * needs which files were opened or executed, not every open: counts and pids of a file are
 * those of its first events). FAN_Q_OVERFLOW (the kernel dropped events) and events without an fd count
 * as lost: one overflow event stands for at least one lost event. On stop the thread reads
 * to EAGAIN before exiting, so nothing queued before the stop is dropped.
 *
 * The queue is unbounded (FAN_UNLIMITED_QUEUE) unless opts->queue_size > 0, which leaves the
 * kernel's bound (/proc/sys/fs/fanotify/max_queued_events): tests use it to force overflow.
 * Test-only: VEXXY_TRACE_TEST_PAUSE_MS=N delays the reader's first read by N ms (the stop
 * still interrupts it) so a test can fill the queue.
 */
#include "common/setup.h"

#include "trace/trace.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_x*() */
#include "common/err.h"   /* vx_err_*() */
#include "common/log.h"   /* vx_debug() for marks skipped */
#include "common/util.h"  /* vx_parse_i64() for the test switch */
#include "trace/trace_int.h"

#define DRAIN_AFTER_STOP_MS 10000 /* a target still running after stop cannot hold us forever */
#define MAX_MOUNTS          4096

struct fan_state {
    struct vx_tracer *t;
    int bi;
    int fan_fd;
    int stop_pipe[2];
    pthread_t thread;
    bool thread_started;
    int64_t pause_ms;
    uint64_t pidns_ino; /* filter: the target's pid namespace inode, 0 = none */
    size_t n_marks;
    /* Mount mode: the marked mounts of the target's namespace. The kernel's path of a file on
     * a mount not reachable from the tracer's root is relative to that mount's root, so the
     * mount point is put back in front (by the mount id statx reports). */
    struct fan_mount {
        uint64_t id;
        char *mountpoint;
    } * mounts;
    size_t n_mounts;
};

static int fan_probe(struct vx_trace_engine *e, void **shared, struct vx_err **err)
{
    int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
                           O_RDONLY | O_LARGEFILE | O_CLOEXEC);

    *shared = NULL;
    if (fd < 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, errno, "fanotify_init: %s%s", strerror(errno),
                          errno == EPERM ? " (needs CAP_SYS_ADMIN)" : "");
    /* FAN_OPEN_EXEC needs Linux 5.0; FAN_MARK_FILESYSTEM 4.20. Try both on "/". */
    if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN | FAN_OPEN_EXEC, AT_FDCWD,
                      "/") < 0) {
        int e2 = errno;
        close(fd);
        return vx_err_set(err, VX_E_UNAVAILABLE, e2, "fanotify_mark(FILESYSTEM, OPEN_EXEC): %s",
                          strerror(e2));
    }
    close(fd);
    (void)e;
    return 0;
}

static uint64_t ns_ino(pid_t pid, const char *ns)
{
    char path[64];
    struct stat st;

    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
    if (stat(path, &st) < 0)
        return 0;
    return (uint64_t)st.st_ino;
}

static pid_t proc_ppid(pid_t pid)
{
    char path[64], buf[512];
    int fd;
    ssize_t n;
    char *p;
    int ppid = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* comm may hold spaces and parens */
    if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return 0;
    return (pid_t)ppid;
}

/* The host-side path of an event's file in mount mode: mount point + the kernel's path. */
static int event_path(const struct fan_state *s, int fd, uint64_t mnt_id, dev_t dev, uint64_t ino,
                      char *out, size_t len)
{
    char link[64], rel[4096];
    const char *mp = NULL;
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, rel, sizeof(rel) - 1);
    if (n <= 0 || n >= (ssize_t)sizeof(rel) - 1)
        return -1;
    rel[n] = '\0';
    for (size_t i = 0; i < s->n_mounts && mnt_id; i++)
        if (s->mounts[i].id == mnt_id)
            mp = s->mounts[i].mountpoint;
    /* The kernel gives the full path when the file is reachable from our root, else the
     * path from the mount's root (seen for unlinked files on submounts): tell them apart by
     * whether the path names this very file here. */
    struct stat st;
    if (!mp || !strcmp(mp, "/") || rel[0] != '/' ||
        (stat(rel, &st) == 0 && (uint64_t)st.st_ino == ino && st.st_dev == dev))
        n = snprintf(out, len, "%s", rel);
    else
        n = snprintf(out, len, "%s%s", mp, strcmp(rel, "/") ? rel : "");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void handle_event(struct fan_state *s, const struct fanotify_event_metadata *m,
                         pid_t *last_pid)
{
    unsigned how = 0;
    struct statx stx;
    bool have_st;
    uint64_t dev;
    char path[4096];

    if (m->mask & FAN_Q_OVERFLOW) {
        vx_trace_note_lost(s->t, s->bi, 1);
        return;
    }
    if (m->fd < 0) {
        vx_trace_note_lost(s->t, s->bi, 1);
        return;
    }
    if (m->pid == vx_tracer_self(s->t))
        goto out;
    if (s->pidns_ino) {
        uint64_t ino = ns_ino(m->pid, "pid");
        if (ino && ino != s->pidns_ino)
            goto out; /* a live host process (runc, the host) touching the overlay */
    }
    if (m->mask & (FAN_OPEN | FAN_ACCESS))
        how |= VX_HOW_OPEN;
    if (m->mask & FAN_OPEN_EXEC)
        how |= VX_HOW_EXEC;
    have_st = statx(m->fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
                    STATX_TYPE | STATX_INO | STATX_MNT_ID, &stx) == 0;
    if (have_st && !S_ISREG(stx.stx_mode))
        goto out; /* directories are not marked (no FAN_ONDIR); devices, fifos: not files */
    dev = have_st ? makedev(stx.stx_dev_major, stx.stx_dev_minor) : 0;
    if (s->n_mounts &&
        event_path(s, m->fd, have_st && (stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id : 0,
                   (dev_t)dev, have_st ? stx.stx_ino : 0, path, sizeof(path)) < 0) {
        vx_trace_note_lost(s->t, s->bi, 1);
        goto out;
    }
    vx_trace_note_file(s->t, s->bi, s->n_mounts ? path : NULL, m->fd, dev,
                       have_st ? stx.stx_ino : 0, how, m->pid);
    /* Seen: the kernel need not report this kind of event on this file to this group again
     * (an ignore mask on its inode, kept across modifications). The profile needs which
     * files were opened / executed, not every open: a server opening the same file per
     * request otherwise costs the tracer an event, an fd and three syscalls per request.
     * An exec after an open (or the reverse) is still reported: only the kinds seen are
     * ignored. A failure only costs speed. */
    if (have_st)
        (void)fanotify_mark(s->fan_fd,
                            FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY,
                            m->mask & (FAN_OPEN | FAN_OPEN_EXEC | FAN_ACCESS), m->fd, NULL);
    if (m->pid != *last_pid) {
        vx_trace_note_proc(s->t, s->bi, m->pid, proc_ppid(m->pid), NULL, NULL, false, -1);
        *last_pid = m->pid;
    }
out:
    close(m->fd);
}

/* Reads until EAGAIN. Returns 0, or -errno on a read error. */
static int drain(struct fan_state *s, char *buf, size_t len, pid_t *last_pid)
{
    for (;;) {
        ssize_t n = read(s->fan_fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : -errno;
        if (n == 0)
            return 0;
        const struct fanotify_event_metadata *m = (const void *)buf;
        while (FAN_EVENT_OK(m, n)) {
            if (m->vers != FANOTIFY_METADATA_VERSION) {
                vx_trace_note_lost(s->t, s->bi, 1);
                if (m->fd >= 0)
                    close(m->fd);
            } else {
                handle_event(s, m, last_pid);
            }
            m = FAN_EVENT_NEXT(m, n);
        }
    }
}

static void *reader(void *arg)
{
    struct fan_state *s = arg;
    /* aligned for struct fanotify_event_metadata */
    static const size_t buflen = 64 * 1024;
    uint64_t *buf = vx_xmalloc(buflen);
    pid_t last_pid = 0;
    bool stopping = false;

    if (s->pause_ms > 0) {
        struct pollfd p = {.fd = s->stop_pipe[0], .events = POLLIN};
        (void)poll(&p, 1, (int)s->pause_ms);
    }
    while (!stopping) {
        struct pollfd p[2] = {{.fd = s->fan_fd, .events = POLLIN},
                              {.fd = s->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            vx_trace_note_lost(s->t, s->bi, 1);
            break;
        }
        if (p[1].revents)
            stopping = true;
        if (drain(s, (char *)buf, buflen, &last_pid) < 0) {
            vx_trace_note_lost(s->t, s->bi, 1);
            break;
        }
    }
    /* Final drain: everything the target did before stop is queued by now (fsnotify is
     * synchronous with open/exec); read it all. */
    int64_t deadline = vx_tracer_now_ms(s->t) + DRAIN_AFTER_STOP_MS;
    for (;;) {
        struct pollfd p = {.fd = s->fan_fd, .events = POLLIN};
        if (drain(s, (char *)buf, buflen, &last_pid) < 0)
            break;
        if (poll(&p, 1, 0) <= 0 || vx_tracer_now_ms(s->t) > deadline)
            break;
    }
    free(buf);
    return NULL;
}

/* Unescapes the octal escapes of /proc/<pid>/mountinfo (\040 for a space) in place. */
static void unescape_mountinfo(char *s)
{
    char *w = s;

    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

static bool pseudo_fs(const char *type)
{
    static const char *const skip[] = {
        "proc",   "sysfs",       "cgroup",   "cgroup2",    "devpts", "devtmpfs",   "mqueue",
        "bpf",    "tracefs",     "debugfs",  "securityfs", "pstore", "configfs",   "fusectl",
        "autofs", "binfmt_misc", "efivarfs", "hugetlbfs",  "nsfs",   "rpc_pipefs",
    };

    for (size_t i = 0; i < VX_ARRAY_SIZE(skip); i++)
        if (!strcmp(type, skip[i]))
            return true;
    return false;
}

/* MOUNT marks on every (non-pseudo) mount of pid's mount namespace. */
static int mark_mounts_of(struct fan_state *s, pid_t pid, uint64_t mask, struct vx_err **err)
{
    char path[64], *line = NULL;
    size_t cap = 0;
    FILE *f;
    int rc = 0;

    snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return vx_err_set(err, VX_E_INVALID, errno, "read '%s': %s", path, strerror(errno));
    while (getline(&line, &cap, f) > 0 && s->n_marks < MAX_MOUNTS) {
        /* id parent major:minor root mountpoint opts [optional...] - fstype source superopts */
        char *fields[5] = {0}, *sep = strstr(line, " - "), *save = NULL, *type;
        size_t nf = 0;

        if (!sep)
            continue;
        *sep = '\0';
        for (char *tok = strtok_r(line, " ", &save); tok && nf < 5;
             tok = strtok_r(NULL, " ", &save))
            fields[nf++] = tok;
        type = strtok_r(sep + 3, " ", &save);
        if (nf < 5 || !type)
            continue;
        if (pseudo_fs(type))
            continue;
        unescape_mountinfo(fields[4]);
        char *mp = vx_xasprintf("/proc/%d/root%s", (int)pid, fields[4]);
        if (fanotify_mark(s->fan_fd, FAN_MARK_ADD | FAN_MARK_MOUNT, mask, AT_FDCWD, mp) == 0) {
            s->n_marks++;
            s->mounts = vx_xrealloc(s->mounts, (s->n_mounts + 1) * sizeof(*s->mounts));
            s->mounts[s->n_mounts].id = strtoull(fields[0], NULL, 10);
            s->mounts[s->n_mounts].mountpoint = vx_xstrdup(fields[4]);
            s->n_mounts++;
        } else
            vx_debug("fanotify: mount '%s' (%s) not marked: %s", fields[4], type, strerror(errno));
        free(mp);
    }
    free(line);
    fclose(f);
    if (s->n_marks == 0)
        rc = vx_err_set(err, VX_E_UNAVAILABLE, 0, "no mount of pid %d could be marked", (int)pid);
    return rc;
}

static int fan_attach(struct vx_tracer *t, int bi, const struct vx_trace_target *target,
                      const struct vx_trace_opts *opts, void **state, struct vx_err **err)
{
    struct fan_state *s = vx_xcalloc(1, sizeof(*s));
    unsigned init_flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK;
    uint64_t mask = FAN_OPEN | FAN_OPEN_EXEC;
    const char *pause = getenv("VEXXY_TRACE_TEST_PAUSE_MS");
    int rc = 0;

    s->t = t;
    s->bi = bi;
    s->fan_fd = s->stop_pipe[0] = s->stop_pipe[1] = -1;
    *state = s;
    if (opts->fan_access)
        mask |= FAN_ACCESS;
    if (opts->queue_size <= 0)
        init_flags |= FAN_UNLIMITED_QUEUE;
    if (pause && vx_parse_i64(pause, 0, 600000, &s->pause_ms) < 0)
        s->pause_ms = 0;

    s->fan_fd = fanotify_init(init_flags, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (s->fan_fd < 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, errno, "fanotify_init: %s", strerror(errno));

    if (strcmp(target->root, "/") != 0) {
        struct stat st_root, st_parent;
        char *parent = vx_xasprintf("%s/..", target->root);
        int prc = stat(parent, &st_parent);
        free(parent);
        if (stat(target->root, &st_root) < 0 || prc < 0)
            return vx_err_set(err, VX_E_INVALID, errno, "stat '%s': %s", target->root,
                              strerror(errno));
        if (st_root.st_dev == st_parent.st_dev && st_root.st_ino == st_parent.st_ino &&
            target->pid > 0 && ns_ino(target->pid, "mnt") != ns_ino(getpid(), "mnt")) {
            /* The root of the target's own mount namespace, seen through /proc/<pid>/root
             * (a Kubernetes pod's container, to the tracer sidecar): its ".." is itself. Its
             * superblock may be shared, but its mounts are copies only that namespace uses:
             * MOUNT marks on them, as for a plain command. */
            rc = mark_mounts_of(s, target->pid, mask, err);
            if (rc < 0)
                return rc;
            goto marked;
        }
        /* A FILESYSTEM mark on a directory that shares the host's superblock would trace the
         * whole host filesystem: the root must be the job's own mount (its overlay). */
        if (st_root.st_dev == st_parent.st_dev)
            return vx_err_set(err, VX_E_INVALID, 0,
                              "trace root '%s' is not its own filesystem (mount the job's "
                              "overlay there, or trace it as a plain command)",
                              target->root);
        if (fanotify_mark(s->fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD,
                          target->root) < 0)
            return vx_err_set(err, VX_E_UNAVAILABLE, errno, "fanotify_mark(FILESYSTEM '%s'): %s",
                              target->root, strerror(errno));
        s->n_marks = 1;
        if (target->pid > 0)
            s->pidns_ino = ns_ino(target->pid, "pid");
    } else {
        if (target->pid <= 0)
            return vx_err_set(err, VX_E_INVALID, 0,
                              "tracing root '/' needs the target's pid (its own mount namespace)");
        uint64_t mine = ns_ino(getpid(), "mnt"), theirs = ns_ino(target->pid, "mnt");
        if (!theirs)
            return vx_err_set(err, VX_E_INVALID, errno, "pid %d: cannot read its mount namespace",
                              (int)target->pid);
        if (mine == theirs)
            return vx_err_set(err, VX_E_INVALID, 0,
                              "pid %d shares the tracer's mount namespace: fanotify cannot tell "
                              "its events apart (run it in its own, e.g. unshare -m)",
                              (int)target->pid);
        rc = mark_mounts_of(s, target->pid, mask, err);
        if (rc < 0)
            return rc;
    }

marked:
    if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return vx_err_set(err, VX_E_INTERNAL, errno, "pipe: %s", strerror(errno));
    rc = pthread_create(&s->thread, NULL, reader, s);
    if (rc != 0)
        return vx_err_set(err, VX_E_INTERNAL, rc, "start fanotify reader: %s", strerror(rc));
    s->thread_started = true;
    return 0;
}

static int fan_stop(struct vx_tracer *t, int bi, void *state, struct vx_err **err)
{
    struct fan_state *s = state;

    if (!s || !s->thread_started)
        return 0;
    if (write(s->stop_pipe[1], "x", 1) < 0 && errno != EAGAIN)
        return vx_err_set(err, VX_E_INTERNAL, errno, "stop fanotify reader: %s", strerror(errno));
    pthread_join(s->thread, NULL);
    s->thread_started = false;
    /* Closing the group removes its marks. */
    close(s->fan_fd);
    s->fan_fd = -1;
    (void)t;
    (void)bi;
    return 0;
}

static void fan_release(void *state)
{
    struct fan_state *s = state;

    if (!s)
        return;
    if (s->thread_started) { /* attach failed after the thread started: stop it */
        if (write(s->stop_pipe[1], "x", 1) < 0)
            pthread_cancel(s->thread);
        pthread_join(s->thread, NULL);
    }
    if (s->fan_fd >= 0)
        close(s->fan_fd);
    if (s->stop_pipe[0] >= 0)
        close(s->stop_pipe[0]);
    if (s->stop_pipe[1] >= 0)
        close(s->stop_pipe[1]);
    for (size_t i = 0; i < s->n_mounts; i++)
        free(s->mounts[i].mountpoint);
    free(s->mounts);
    free(s);
}

const struct vx_trace_backend vx_trace_fanotify = {
    .name = "fanotify",
    .in_auto = true,
    .probe = fan_probe,
    .unload = NULL,
    .attach = fan_attach,
    .stop = fan_stop,
    .release = fan_release,
};
