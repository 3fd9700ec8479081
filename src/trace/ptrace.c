/* ptrace.c -- the last-resort trace backend: ptrace(2) driven by a seccomp-bpf filter, for hosts
 * where neither fanotify nor BPF is permitted (DESIGN.md §9, issue 6 item 3).
 *
 * Only the syscalls that matter stop the target: a seccomp filter installed by the traced child
 * itself returns SECCOMP_RET_TRACE for open, openat, openat2, creat, execve, execveat, clone,
 * clone3, fork, vfork and mmap with PROT_EXEC in its prot argument, SECCOMP_RET_ALLOW for the
 * rest. Plain syscall tracing (a stop at every syscall) is never used. It sees opened files
 * (successful opens only), executed files (the `#!` script and the real binary), executable
 * mappings (shared libraries, dlopen, mmap(PROT_EXEC) of a file), the process tree with argv and
 * exit codes, and the names of the stopped syscalls. It does not see what the kernel opens by
 * itself (the ELF interpreter: the profile labels it from PT_INTERP), nor sockets.
 *
 * DESIGN
 * The tracer is a helper *process*, not a thread of vexxy. ptrace is per-thread (the thread
 * that attaches must make every ptrace call and wait), and a tracer thread in the same thread
 * group as the tracee's real parent counts as that parent for wait(2): the waitpid(-1) of
 * vx_trace_command (which reaps the whole tree, orphans included) would then consume the
 * tracer's ptrace stops. A separate tracer process keeps the two apart: the kernel reports a
 * tracee's exit to the tracer first and then to its real parent, and stops only to the tracer.
 * The helper is made with a raw clone(2) without exit signal, so a waitpid(-1) in vexxy never
 * sees it (only __WCLONE does: stop() reaps it), and it gets SIGKILL when its creating thread
 * dies (PR_SET_PDEATHSIG); PTRACE_O_EXITKILL kills the tracees if the helper dies, so nothing
 * runs untraced. The helper calls no malloc (a child of a multithreaded process): its tables
 * are allocated by attach() before the clone.
 *
 * Protocol: attach() clones the helper, which PTRACE_SEIZEs target->pid (blocked in
 * vx_trace_command before its exec) with TRACESECCOMP | TRACECLONE | TRACEFORK | TRACEVFORK |
 * TRACEEXEC | TRACESYSGOOD | EXITKILL and reports READY (or the errno) over a SOCK_SEQPACKET
 * socket pair; then the child, told to go, sees it is traced by a child of its own parent
 * (vx_trace_ptrace_child_arm) and installs the filter just before execvp, so the exec is the
 * first stop. Each event is one message (header + NUL-separated strings, and for an exec'd
 * file the opened file as SCM_RIGHTS so the `#!` line of a script deleted before stop is read
 * from it); a reader thread in vexxy turns messages into sink calls. A full socket blocks the
 * helper while the tracee is stopped: back-pressure, never loss.
 *
 * Per stop (helper): seccomp stop of an open-class call -> PTRACE_SYSCALL to get its exit
 * stop, where the result fd is resolved by the kernel (readlink /proc/TID/fd/N: dirfd-relative
 * names and symlinks done, failed opens dropped); mmap -> the fd argument resolved the same way
 * at entry; PTRACE_EVENT_EXEC -> /proc/PID/exe (the binary, or a script's interpreter), the
 * name given to execve from AT_EXECFN in /proc/PID/auxv read with process_vm_readv (the script
 * itself), argv from /proc/PID/cmdline; fork/vfork/clone events -> the new pid (threads, by
 * Tgid, are not processes); exits of known processes -> exit code (128+N when killed).
 * Anything that cannot be read while the tracee is known to be alive counts as lost.
 *
 * Containers (target->root not "/") are not supported yet: ptrace of a container's init
 * between `runtime create` and `start` would need the runtime's cooperation; the sandbox
 * uses fanotify. x86_64 only (the filter's syscall numbers, with x32 and i386 compat too).
 */
#include "common/setup.h"

#include "trace/trace.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_x*() */
#include "common/err.h"   /* vx_err_*() */
#include "trace/trace_int.h"

#define PT_PATH_MAX  4096
#define PT_ARGV_MAX  8192 /* bytes of /proc/PID/cmdline kept */
#define PT_MSG_MAX   (sizeof(struct pt_rec) + PT_PATH_MAX * 2 + PT_ARGV_MAX)
#define PT_PROCS_CAP (1u << 16) /* live processes tracked at once (open addressing) */
#define PT_READY_MS  10000
#define PT_DRAIN_MS  10000 /* a helper that does not finish after stop is killed */

/* Syscall kinds, in SECCOMP_RET_DATA of the filter's verdict. */
enum pt_kind {
    K_NONE,
    K_OPEN,
    K_OPENAT,
    K_OPENAT2,
    K_CREAT,
    K_EXECVE,
    K_EXECVEAT,
    K_CLONE,
    K_CLONE3,
    K_FORK,
    K_VFORK,
    K_MMAP,
    K_COUNT
};

static const char *const kind_name[K_COUNT] = {
    "",         "open",  "openat", "openat2", "creat", "execve",
    "execveat", "clone", "clone3", "fork",    "vfork", "mmap",
};

enum pt_type { R_READY = 1, R_FILE, R_PROC, R_EXIT, R_LOST, R_SYSCALL };

/* One message helper -> reader; strings follow (NUL-terminated each). */
struct pt_rec {
    uint32_t type, how;
    int32_t pid, ppid, code; /* READY: errno; EXIT: exit code; LOST: count */
    uint32_t len;            /* bytes of strings after the header */
    uint64_t dev, ino;
};

/* The helper's world: allocated before the clone, used only by the helper. */
struct pt_helper {
    int sock;
    pid_t target, parent;
    pid_t *procs; /* live processes: 0 empty, -1 deleted */
    size_t n_procs, n_used;
    uint32_t seen; /* kinds already reported as syscalls */
    char *msg;     /* PT_MSG_MAX */
};

struct pt_state {
    struct vx_tracer *t;
    int bi;
    int sock;         /* vexxy's end */
    int stop_pipe[2]; /* stop() -> reader: drain to EOF, then leave */
    pid_t helper;
    bool thread_started;
    pthread_t thread;
    struct pt_helper h;
};

/* ---- the seccomp filter (installed by the traced child) --------------------------------- */

struct pt_nr {
    uint32_t nr;
    uint16_t kind;
};

/* x86_64 numbers; x32 calls have bit 30 set (masked off before the compare) and their own
 * execve/execveat (520, 545). */
static const struct pt_nr nr_x64[] = {
    {2, K_OPEN},    {257, K_OPENAT},   {437, K_OPENAT2}, {85, K_CREAT},
    {59, K_EXECVE}, {322, K_EXECVEAT}, {520, K_EXECVE},  {545, K_EXECVEAT},
    {56, K_CLONE},  {435, K_CLONE3},   {57, K_FORK},     {58, K_VFORK},
};
static const struct pt_nr nr_i386[] = {
    {5, K_OPEN},       {295, K_OPENAT}, {437, K_OPENAT2}, {8, K_CREAT}, {11, K_EXECVE},
    {358, K_EXECVEAT}, {120, K_CLONE},  {435, K_CLONE3},  {2, K_FORK},  {190, K_VFORK},
};
#define NR_X64_MMAP   9
#define NR_I386_MMAP2 192
#define X32_BIT       0x40000000u

#define STMT(c, k)       ((struct sock_filter)BPF_STMT((c), (k)))
#define JUMP(c, k, t, f) ((struct sock_filter)BPF_JUMP((c), (k), (t), (f)))
#define ARG_LO(i)        (offsetof(struct seccomp_data, args) + (i)*8) /* little endian */
#define FILTER_MAX       96

/* One arch's block: load nr, one compare+return per syscall, mmap with PROT_EXEC, allow. */
static size_t filter_block(struct sock_filter *f, const struct pt_nr *tab, size_t n, bool x32,
                           uint32_t mmap_nr)
{
    size_t k = 0;

    f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    if (x32)
        f[k++] = STMT(BPF_ALU | BPF_AND | BPF_K, ~X32_BIT);
    for (size_t i = 0; i < n; i++) {
        f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, tab[i].nr, 0, 1);
        f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | tab[i].kind);
    }
    f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, mmap_nr, 0, 3);
    f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2));
    f[k++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1);
    f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | K_MMAP);
    f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    return k;
}

static size_t build_filter(struct sock_filter *f)
{
    size_t k = 0, n64;
    struct sock_filter blk[FILTER_MAX];

    n64 = filter_block(blk, nr_x64, VX_ARRAY_SIZE(nr_x64), true, NR_X64_MMAP);
    f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, (uint8_t)n64);
    memcpy(f + k, blk, n64 * sizeof(*f));
    k += n64;
    /* not x86_64: i386 compat (the only other ABI an x86_64 kernel runs) */
    k += filter_block(f + k, nr_i386, VX_ARRAY_SIZE(nr_i386), false, NR_I386_MMAP2);
    return k;
}

/* Reads a small /proc file into buf (NUL-terminated); bytes read or -1. No malloc. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t done = 0;

    if (fd < 0)
        return -1;
    while (done < len - 1) {
        ssize_t n = read(fd, buf + done, len - 1 - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    buf[done] = '\0';
    return (ssize_t)done;
}

/* The integer after "key" in a /proc/PID/status text, or -1. */
static long status_field(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    if (!p)
        return -1;
    p += strlen(key);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    return strtol(p, NULL, 10);
}

/* The parent pid of pid from /proc/PID/stat (comm may hold spaces and parens), or -1. */
static long stat_ppid(pid_t pid)
{
    char path[64], buf[1024], *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
        return -1;
    p++;
    while (*p == ' ')
        p++;
    if (!*p)
        return -1;
    p++; /* state */
    return strtol(p, NULL, 10);
}

int vx_trace_ptrace_child_arm(void)
{
    char buf[4096];
    struct sock_filter f[FILTER_MAX];
    struct sock_fprog prog;
    long tracer;

    if (read_small("/proc/self/status", buf, sizeof(buf)) <= 0)
        return -errno;
    tracer = status_field(buf, "TracerPid:");
    /* Not traced, or by something else (a debugger around vexxy): no filter, whose
     * SECCOMP_RET_TRACE would fail every open for a tracer that does not expect it. */
    if (tracer <= 0 || stat_ppid((pid_t)tracer) != (long)getppid())
        return 0;
    prog.len = (unsigned short)build_filter(f);
    prog.filter = f;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
        return 1;
    if (errno != EACCES)
        return -errno;
    /* Without CAP_SYS_ADMIN a filter needs no_new_privs (then set-uid programs do not gain
     * privileges in the traced tree). */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return -errno;
    return 1;
}

/* ---- the helper process (no malloc from here to the reader) ----------------------------- */

static size_t proc_slot(const struct pt_helper *h, pid_t pid, bool for_insert)
{
    size_t mask = h->n_procs - 1, i = ((size_t)pid * 2654435761u) & mask, tomb = SIZE_MAX;

    for (size_t n = 0; n < h->n_procs; n++, i = (i + 1) & mask) {
        if (h->procs[i] == pid)
            return i;
        if (h->procs[i] == -1 && tomb == SIZE_MAX)
            tomb = i;
        if (h->procs[i] == 0)
            return for_insert && tomb != SIZE_MAX ? tomb : (for_insert ? i : SIZE_MAX);
    }
    return for_insert ? tomb : SIZE_MAX;
}

static bool proc_add(struct pt_helper *h, pid_t pid)
{
    size_t i = proc_slot(h, pid, true);

    if (i == SIZE_MAX || h->n_used >= h->n_procs - h->n_procs / 8)
        return false;
    if (h->procs[i] != pid) {
        if (h->procs[i] == 0)
            h->n_used++;
        h->procs[i] = pid;
    }
    return true;
}

static bool proc_del(struct pt_helper *h, pid_t pid)
{
    size_t i = proc_slot(h, pid, false);

    if (i == SIZE_MAX || h->procs[i] != pid)
        return false;
    h->procs[i] = -1; /* stays counted in n_used: the table is sized for it */
    return true;
}

/* Sends one record with strings s[0..n) and, if fd >= 0, the fd. A dead reader ends the
 * helper (and, by EXITKILL, the tracees: nothing runs untraced). */
static void send_rec(struct pt_helper *h, struct pt_rec *r, const char *const *s, size_t n,
                     const size_t *lens, int fd)
{
    size_t off = sizeof(*r);
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cm;
    struct iovec iov;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

    for (size_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(s[i]) + 1;
        if (off + l > PT_MSG_MAX)
            l = PT_MSG_MAX - off;
        memcpy(h->msg + off, s[i], l);
        off += l;
        if (l)
            h->msg[off - 1] = '\0';
    }
    r->len = (uint32_t)(off - sizeof(*r));
    memcpy(h->msg, r, sizeof(*r));
    iov.iov_base = h->msg;
    iov.iov_len = off;
    if (fd >= 0) {
        memset(&cm, 0, sizeof(cm));
        mh.msg_control = cm.buf;
        mh.msg_controllen = sizeof(cm.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    while (sendmsg(h->sock, &mh, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR)
            _exit(3);
    }
}

static void send_lost(struct pt_helper *h, int n)
{
    struct pt_rec r = {.type = R_LOST, .code = n};
    send_rec(h, &r, NULL, 0, NULL, -1);
}

static bool alive(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d", (int)tid);
    return access(path, F_OK) == 0;
}

/* A file the tracee has open as fd: its kernel path (as this process sees it) + dev/ino. */
static void send_fd_file(struct pt_helper *h, pid_t tid, long fd, unsigned how)
{
    char link[64], path[PT_PATH_MAX];
    const char *s[1] = {path};
    struct stat st;
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/%d/fd/%ld", (int)tid, fd);
    n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0 || n >= (ssize_t)sizeof(path) - 1) {
        if (n < 0 && errno != EBADF && errno != ENOENT && alive(tid))
            send_lost(h, 1);
        return;
    }
    path[n] = '\0';
    if (path[0] != '/') /* pipe:[..], socket:[..], anon_inode: not a file */
        return;
    struct pt_rec r = {.type = R_FILE, .how = how, .pid = tid};
    if (stat(link, &st) == 0) {
        r.dev = (uint64_t)st.st_dev;
        r.ino = (uint64_t)st.st_ino;
    }
    send_rec(h, &r, s, 1, NULL, -1);
}

static int readlink_z(const char *link, char *out, size_t len)
{
    ssize_t n = readlink(link, out, len - 1);
    if (n <= 0 || n >= (ssize_t)len - 1)
        return -1;
    out[n] = '\0';
    return 0;
}

/* The name execve was given (AT_EXECFN), as a host path, into out; -1 if unknown. */
static int exec_name(pid_t pid, char *out, size_t len)
{
    char path[64], name[PT_PATH_MAX], base[PT_PATH_MAX];
    uint64_t auxv[128];
    uint64_t addr = 0;
    int fd;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/auxv", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, auxv, sizeof(auxv));
    close(fd);
    for (ssize_t i = 0; n > 0 && i + 1 < n / 8; i += 2) /* 64-bit (key, value) pairs */
        if (auxv[i] == 31 /* AT_EXECFN */)
            addr = auxv[i + 1];
    if (!addr)
        return -1;
    struct iovec local = {.iov_base = name, .iov_len = sizeof(name) - 1};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = sizeof(name) - 1};
    /* The string may end just before an unmapped page: read what there is, then bound. */
    n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n <= 0) {
        remote.iov_len = local.iov_len = 4096 - (addr & 4095);
        n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    }
    if (n <= 0)
        return -1;
    name[n] = '\0';
    if (!name[0] || !strncmp(name, "/dev/fd/", 8)) /* fexecve: /proc/PID/exe says it */
        return -1;
    snprintf(path, sizeof(path), name[0] == '/' ? "/proc/%d/root" : "/proc/%d/cwd", (int)pid);
    if (readlink_z(path, base, sizeof(base)) < 0)
        return -1;
    if (name[0] == '/')
        n = snprintf(out, len, "%s%s", strcmp(base, "/") ? base : "", name);
    else
        n = snprintf(out, len, "%s/%s", strcmp(base, "/") ? base : "", name);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The ELF interpreter the kernel mapped itself (no syscall of the tracee opens it): at the
 * exec stop the only executable file mappings are the program's and its interpreter's. */
static void send_interp(struct pt_helper *h, pid_t pid, const char *exe)
{
    char path[64], maps[PT_ARGV_MAX];
    char *line, *next;

    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    if (read_small(path, maps, sizeof(maps)) <= 0)
        return;
    for (line = maps; line && *line; line = next) {
        char perms[8] = "", *file;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        file = strchr(line, '/');
        if (!file || sscanf(line, "%*s %7s", perms) != 1 || !strchr(perms, 'x') ||
            !strcmp(file, exe))
            continue;
        struct pt_rec r = {.type = R_FILE, .how = VX_HOW_EXEC, .pid = pid};
        const char *s[1] = {file};
        send_rec(h, &r, s, 1, NULL, -1);
        return;
    }
}

static void on_exec(struct pt_helper *h, pid_t pid)
{
    char link[64], exe[PT_PATH_MAX], name[PT_PATH_MAX];
    struct stat st;
    ssize_t na;

    snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
    if (readlink_z(link, exe, sizeof(exe)) < 0) {
        send_lost(h, 1);
        return;
    }
    /* The name given to execve: a `#!` script (exe is then its interpreter) or a link to
     * the binary; sent with the opened file so the profile reads its "#!" line now. */
    if (exec_name(pid, name, sizeof(name)) == 0) {
        int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        struct pt_rec r = {.type = R_FILE, .how = VX_HOW_EXEC, .pid = pid};
        const char *s[1] = {name};
        if (fd >= 0 && fstat(fd, &st) == 0) {
            r.dev = (uint64_t)st.st_dev;
            r.ino = (uint64_t)st.st_ino;
        }
        send_rec(h, &r, s, 1, NULL, fd);
        if (fd >= 0)
            close(fd);
    }
    struct pt_rec r = {.type = R_FILE, .how = VX_HOW_EXEC, .pid = pid};
    const char *s[1] = {exe};
    if (stat(link, &st) == 0) {
        r.dev = (uint64_t)st.st_dev;
        r.ino = (uint64_t)st.st_ino;
    }
    send_rec(h, &r, s, 1, NULL, -1);
    send_interp(h, pid, exe);

    /* The process entry: exe + argv (cmdline is NUL-separated already). */
    char args[PT_ARGV_MAX];
    snprintf(link, sizeof(link), "/proc/%d/cmdline", (int)pid);
    na = read_small(link, args, sizeof(args));
    struct pt_rec p = {.type = R_PROC, .pid = pid};
    const char *ps[2] = {exe, args};
    size_t lens[2] = {strlen(exe) + 1, na > 0 ? (size_t)na : 0};
    if (na > 0 && args[na - 1] != '\0' && (size_t)na < sizeof(args) - 1)
        lens[1]++; /* keep the NUL read_small put after a truncated last arg */
    send_rec(h, &p, ps, 2, lens, -1);
}

static void on_seccomp(struct pt_helper *h, pid_t tid, bool *want_exit)
{
    struct __ptrace_syscall_info si;
    unsigned kind;
    uint64_t flags = 0;

    *want_exit = false;
    memset(&si, 0, sizeof(si));
    if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof(si), &si) <= 0 ||
        si.op != PTRACE_SYSCALL_INFO_SECCOMP) {
        if (alive(tid))
            send_lost(h, 1);
        return;
    }
    kind = si.seccomp.ret_data & SECCOMP_RET_DATA;
    if (kind == K_NONE || kind >= K_COUNT)
        return;
    if (!(h->seen & (1u << kind))) {
        struct pt_rec r = {.type = R_SYSCALL, .pid = tid};
        const char *s[1] = {kind_name[kind]};
        h->seen |= 1u << kind;
        send_rec(h, &r, s, 1, NULL, -1);
    }
    switch (kind) {
    case K_OPEN:
        flags = si.seccomp.args[1];
        break;
    case K_OPENAT:
        flags = si.seccomp.args[2];
        break;
    case K_OPENAT2: {
        /* struct open_how starts with the u64 flags */
        struct iovec local = {.iov_base = &flags, .iov_len = sizeof(flags)};
        struct iovec remote = {.iov_base = (void *)(uintptr_t)si.seccomp.args[2],
                               .iov_len = sizeof(flags)};
        if (process_vm_readv(tid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof(flags))
            flags = 0; /* a bad pointer fails the call itself: the exit stop sees the error */
        break;
    }
    case K_CREAT:
        break;
    case K_MMAP:
        /* the filter checked PROT_EXEC; anonymous mappings have no file */
        if (!(si.seccomp.args[3] & MAP_ANONYMOUS) && (int)si.seccomp.args[4] >= 0)
            send_fd_file(h, tid, (long)(int)si.seccomp.args[4], VX_HOW_MMAP_EXEC);
        return;
    default: /* exec, clone: their ptrace events say more */
        return;
    }
    /* O_PATH opens no file's contents (fanotify does not see them either) */
    if (!(flags & O_PATH))
        *want_exit = true;
}

static void on_open_exit(struct pt_helper *h, pid_t tid)
{
    struct __ptrace_syscall_info si;

    memset(&si, 0, sizeof(si));
    if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof(si), &si) <= 0 ||
        si.op != PTRACE_SYSCALL_INFO_EXIT) {
        if (alive(tid))
            send_lost(h, 1);
        return;
    }
    if (si.exit.is_error || si.exit.rval < 0)
        return;
    send_fd_file(h, tid, (long)si.exit.rval, VX_HOW_OPEN);
}

static pid_t tgid_of(struct pt_helper *h, pid_t tid)
{
    char path[64], buf[2048];
    long v;

    if (proc_slot(h, tid, false) != SIZE_MAX)
        return tid;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
    if (read_small(path, buf, sizeof(buf)) <= 0 || (v = status_field(buf, "Tgid:")) <= 0)
        return 0;
    return (pid_t)v;
}

static void on_fork(struct pt_helper *h, pid_t tid, int event)
{
    unsigned long msg = 0;
    pid_t child, parent = tgid_of(h, tid);

    if (ptrace(PTRACE_GETEVENTMSG, tid, NULL, &msg) < 0) {
        if (alive(tid))
            send_lost(h, 1);
        return;
    }
    child = (pid_t)msg;
    if (event == PTRACE_EVENT_CLONE && tgid_of(h, child) != child)
        return; /* a thread */
    if (!proc_add(h, child))
        send_lost(h, 1); /* its exit code will be missing */
    struct pt_rec r = {.type = R_PROC, .pid = child, .ppid = parent};
    send_rec(h, &r, NULL, 0, NULL, -1);
}

/* The helper's life: seize, report, trace until no tracee is left. Never returns. */
static __attribute__((noreturn)) void helper_main(struct pt_helper *h)
{
    long opts = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
                PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD |
                PTRACE_O_EXITKILL;
    struct pt_rec ready = {.type = R_READY, .pid = h->target};

    prctl(PR_SET_NAME, "vx-ptrace", 0, 0, 0);
    /* Dies with the thread that made it; and keeps no fd of vexxy but its socket (a held
     * copy of a pipe's write end would hide an EOF someone waits for). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != h->parent)
        _exit(2);
    if (h->sock > 3)
        syscall(SYS_close_range, 3u, (unsigned)h->sock - 1, 0u);
    syscall(SYS_close_range, (unsigned)h->sock + 1, ~0u, 0u);
    if (ptrace(PTRACE_SEIZE, h->target, NULL, (void *)opts) < 0) {
        ready.code = errno ? errno : EPERM;
        send_rec(h, &ready, NULL, 0, NULL, -1);
        _exit(2);
    }
    proc_add(h, h->target);
    send_rec(h, &ready, NULL, 0, NULL, -1);

    for (;;) {
        int st = 0;
        pid_t tid = waitpid(-1, &st, __WALL);

        if (tid < 0) {
            if (errno == EINTR)
                continue;
            break; /* ECHILD: every tracee is gone */
        }
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            if (proc_del(h, tid)) {
                struct pt_rec r = {.type = R_EXIT, .pid = tid};
                r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                send_rec(h, &r, NULL, 0, NULL, -1);
            }
            continue;
        }
        if (!WIFSTOPPED(st))
            continue;
        int sig = WSTOPSIG(st), event = (unsigned)st >> 16, inject = 0;
        enum __ptrace_request next = PTRACE_CONT;
        bool want_exit = false;

        switch (event) {
        case PTRACE_EVENT_SECCOMP:
            on_seccomp(h, tid, &want_exit);
            if (want_exit)
                next = PTRACE_SYSCALL;
            break;
        case PTRACE_EVENT_FORK:
        case PTRACE_EVENT_VFORK:
        case PTRACE_EVENT_CLONE:
            on_fork(h, tid, event);
            break;
        case PTRACE_EVENT_EXEC:
            on_exec(h, tid);
            break;
        case PTRACE_EVENT_STOP:
            /* group-stop: keep it stopped until SIGCONT (PTRACE_LISTEN); else the first
             * stop of an auto-attached child */
            if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
                next = PTRACE_LISTEN;
            break;
        case 0:
            if (sig == (SIGTRAP | 0x80))
                on_open_exit(h, tid);
            else
                inject = sig; /* a signal for the tracee: deliver it */
            break;
        default:
            break;
        }
        ptrace(next, tid, NULL, (void *)(uintptr_t)inject);
    }
    _exit(0);
}

/* ---- vexxy's side ------------------------------------------------------------------------- */

static int pt_probe(struct vx_trace_engine *e, void **shared, struct vx_err **err)
{
    char buf[64];
    struct utsname u;
    int major = 0, minor = 0;

    (void)e;
    *shared = NULL;
#ifndef __x86_64__
    return vx_err_set(err, VX_E_UNAVAILABLE, 0, "the ptrace backend's filter is x86_64 only");
#endif
    if (read_small("/proc/sys/kernel/yama/ptrace_scope", buf, sizeof(buf)) > 0 && buf[0] == '3')
        return vx_err_set(err, VX_E_UNAVAILABLE, 0, "ptrace disabled (yama ptrace_scope 3)");
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
        return vx_err_set(err, VX_E_UNAVAILABLE, errno, "seccomp: %s", strerror(errno));
    if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 &&
        (major < 5 || (major == 5 && minor < 3)))
        return vx_err_set(err, VX_E_UNAVAILABLE, 0,
                          "kernel %s lacks PTRACE_GET_SYSCALL_INFO (needs 5.3)", u.release);
    return 0;
}

/* Splits the strings of a record; returns how many (at most max). */
static size_t split(char *s, size_t len, char **out, size_t max)
{
    size_t n = 0, i = 0;

    while (i < len && n < max) {
        out[n++] = s + i;
        i += strnlen(s + i, len - i) + 1;
    }
    return n;
}

static void handle(struct pt_state *s, char *buf, size_t len, int fd)
{
    struct pt_rec r;
    char *str[34] = {0};
    size_t n;

    if (len < sizeof(r))
        return;
    memcpy(&r, buf, sizeof(r));
    if (len > sizeof(r))
        buf[len - 1] = '\0'; /* whatever it says, strings end in the buffer */
    n = split(buf + sizeof(r), len - sizeof(r), str, VX_ARRAY_SIZE(str) - 1);
    switch (r.type) {
    case R_FILE:
        if (n >= 1)
            vx_trace_note_file(s->t, s->bi, str[0], fd, r.dev, r.ino, r.how, r.pid);
        break;
    case R_PROC:
        if (n >= 2) {
            str[n] = NULL;
            vx_trace_note_proc(s->t, s->bi, r.pid, r.ppid, str[0][0] ? str[0] : NULL, str + 1,
                               false, -1);
        } else {
            vx_trace_note_proc(s->t, s->bi, r.pid, r.ppid, n ? str[0] : NULL, NULL, false, -1);
        }
        break;
    case R_EXIT:
        vx_trace_note_proc(s->t, s->bi, r.pid, 0, NULL, NULL, true, r.code);
        break;
    case R_LOST:
        vx_trace_note_lost(s->t, s->bi, r.code);
        break;
    case R_SYSCALL:
        if (n >= 1)
            vx_trace_note_syscall(s->t, s->bi, str[0]);
        break;
    default:
        break;
    }
}

/* Receives one message (+ fd); bytes, 0 at EOF, -1 when nothing is ready / error. */
static ssize_t recv_one(int sock, char *buf, size_t len, int *fd, int flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cm;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
    ssize_t n;

    *fd = -1;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n;
}

static void *reader(void *arg)
{
    struct pt_state *s = arg;
    char *buf = vx_xmalloc(PT_MSG_MAX);
    int64_t deadline = 0;
    bool killed = false;

    for (;;) {
        struct pollfd p[2] = {{.fd = s->sock, .events = POLLIN},
                              {.fd = s->stop_pipe[0], .events = POLLIN}};
        int timeout = -1;

        if (deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t left = deadline - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
            if (left <= 0 && !killed) {
                /* stop() came and the tree is still traced: end it, the tail is lost */
                kill(s->helper, SIGKILL);
                vx_trace_note_lost(s->t, s->bi, 1);
                killed = true;
            }
            timeout = left > 0 ? (int)left : 1000;
        }
        if (poll(p, deadline ? 1 : 2, timeout) < 0 && errno != EINTR)
            break;
        if (!deadline && (p[1].revents & (POLLIN | POLLHUP))) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + PT_DRAIN_MS;
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        int fd;
        ssize_t n = recv_one(s->sock, buf, PT_MSG_MAX, &fd, MSG_DONTWAIT);
        if (n == 0)
            break; /* the helper is gone: everything it sent has been read */
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            break;
        }
        handle(s, buf, (size_t)n, fd);
        if (fd >= 0)
            close(fd);
    }
    free(buf);
    return NULL;
}

static int pt_attach(struct vx_tracer *t, int bi, const struct vx_trace_target *target,
                     const struct vx_trace_opts *opts, void **state, struct vx_err **err)
{
    struct pt_state *s = NULL;
    int sv[2] = {-1, -1}, rc = 0, fd;
    char buf[sizeof(struct pt_rec) + 64];
    ssize_t n;

    (void)opts;
    *state = NULL;
    if (strcmp(target->root, "/") != 0)
        return vx_err_set(err, VX_E_NOT_AVAILABLE, 0,
                          "ptrace of a container's init is not supported yet (the sandbox "
                          "uses fanotify); the ptrace backend traces plain commands");
    if (target->pid <= 0)
        return vx_err_set(err, VX_E_INVALID, 0, "the ptrace backend needs a process to trace");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return vx_err_set(err, VX_E_INTERNAL, errno, "socketpair: %s", strerror(errno));

    s = vx_xcalloc(1, sizeof(*s));
    *state = s;
    s->t = t;
    s->bi = bi;
    s->sock = sv[0];
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->helper = -1;
    s->h.sock = sv[1];
    s->h.target = target->pid;
    s->h.parent = getpid();
    s->h.n_procs = PT_PROCS_CAP;
    s->h.procs = vx_xcalloc(PT_PROCS_CAP, sizeof(*s->h.procs));
    s->h.msg = vx_xmalloc(PT_MSG_MAX);
    if (pipe2(s->stop_pipe, O_CLOEXEC) < 0) {
        close(sv[1]);
        return vx_err_set(err, VX_E_INTERNAL, errno, "pipe: %s", strerror(errno));
    }
    /* Like fork(2) (a copy of everything, tables included, on a copy of this stack) but with
     * no exit signal: invisible to a waitpid(-1) without __WCLONE (vx_trace_command's). */
    s->helper = (pid_t)syscall(SYS_clone, 0ul, NULL, NULL, NULL, 0ul);
    if (s->helper == 0)
        helper_main(&s->h);
    fd = sv[1];
    close(fd); /* the helper has its own copy */
    s->h.sock = -1;
    if (s->helper < 0)
        return vx_err_set(err, VX_E_INTERNAL, errno, "clone the ptrace helper: %s",
                          strerror(errno));

    struct pollfd p = {.fd = s->sock, .events = POLLIN};
    if (poll(&p, 1, PT_READY_MS) <= 0)
        return vx_err_set(err, VX_E_INTERNAL, 0, "the ptrace helper did not report");
    n = recv_one(s->sock, buf, sizeof(buf), &fd, 0);
    if (fd >= 0)
        close(fd);
    struct pt_rec r = {0};
    if (n >= (ssize_t)sizeof(r))
        memcpy(&r, buf, sizeof(r));
    if (r.type != R_READY)
        return vx_err_set(err, VX_E_INTERNAL, 0, "the ptrace helper died before attaching");
    if (r.code)
        return vx_err_set(err, r.code == EPERM ? VX_E_UNAVAILABLE : VX_E_INTERNAL, r.code,
                          "ptrace(PTRACE_SEIZE, %d): %s", (int)target->pid, strerror(r.code));
    rc = pthread_create(&s->thread, NULL, reader, s);
    if (rc)
        return vx_err_set(err, VX_E_INTERNAL, rc, "ptrace reader thread: %s", strerror(rc));
    s->thread_started = true;
    return 0;
}

static int pt_stop(struct vx_tracer *t, int bi, void *state, struct vx_err **err)
{
    struct pt_state *s = state;

    (void)t;
    (void)bi;
    (void)err;
    if (!s || !s->thread_started)
        return 0;
    /* The reader reads until the helper closes its end (it exits when no tracee is left),
     * or kills it after PT_DRAIN_MS. */
    if (write(s->stop_pipe[1], "s", 1) < 0) {
        kill(s->helper, SIGKILL);
        vx_trace_note_lost(s->t, s->bi, 1);
    }
    pthread_join(s->thread, NULL);
    s->thread_started = false;
    return 0;
}

static void pt_release(void *state)
{
    struct pt_state *s = state;

    if (!s)
        return;
    if (s->thread_started) { /* released without stop (a failed attach of a later backend) */
        kill(s->helper, SIGKILL);
        pthread_join(s->thread, NULL);
    }
    if (s->helper > 0) {
        kill(s->helper, SIGKILL); /* harmless when it has exited */
        while (waitpid(s->helper, NULL, __WCLONE) < 0 && errno == EINTR)
            ;
    }
    if (s->sock >= 0)
        close(s->sock);
    if (s->stop_pipe[0] >= 0)
        close(s->stop_pipe[0]);
    if (s->stop_pipe[1] >= 0)
        close(s->stop_pipe[1]);
    free(s->h.procs);
    free(s->h.msg);
    free(s);
}

const struct vx_trace_backend vx_trace_ptrace = {
    .name = "ptrace",
    .in_auto = true,
    .last_resort = true,
    .probe = pt_probe,
    .unload = NULL,
    .attach = pt_attach,
    .stop = pt_stop,
    .release = pt_release,
};
