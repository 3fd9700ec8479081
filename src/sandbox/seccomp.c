/* seccomp.c -- the syscall allow-list every sandbox runs under (linux.seccomp of config.json).
 *
 * Neither `runc spec` nor `crun spec` emits a seccomp section, so vexxy writes its own, in
 * the spirit of Docker's default profile (the idea, not its text): every syscall is refused
 * with EPERM unless allowed here. What is allowed is what ordinary services, shells and
 * language runtimes use; what is left out is the kernel's attack surface and everything
 * that would let a workload leave or change its namespaces, mounts, keyrings, BPF, tracing,
 * modules, clocks, swap or the machine's state. Those are also listed explicitly (the same
 * EPERM) so the profile documents itself and the tests can name them.
 *
 * Argument filters: clone is allowed only without namespace flags (a new namespace needs
 * unshare/clone flags we refuse); clone3 answers ENOSYS because its flags live in memory a
 * filter cannot read, and libc then falls back to clone; personality only for the
 * harmless personas; socket for every family but AF_VSOCK (the host's hypervisor socket).
 * Only the native architecture is listed: other ABIs (i386 on x86_64) hit the runtime's
 * bad-architecture action and cannot be used to sidestep the list. Names the runtime's
 * libseccomp does not know are skipped by runc and crun; newer syscalls than the list
 * knows get ENOSYS from runc.
 */
#include "common/setup.h"

#include "sandbox/sandbox_int.h"

#include <errno.h>

static const char *const allowed[] = {
    /* files and directories */
    "access",
    "chdir",
    "chmod",
    "chown",
    "close",
    "close_range",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "getcwd",
    "getdents",
    "getdents64",
    "getxattr",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "sendfile",
    "setxattr",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "truncate",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vmsplice",
    "write",
    "writev",
    "chroot",
    /* events and polling */
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "eventfd",
    "eventfd2",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "pause",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "pselect6",
    "select",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "alarm",
    /* async I/O (not io_uring) */
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_setup",
    "io_submit",
    "ioprio_get",
    "ioprio_set",
    "ioctl",
    /* memory */
    "brk",
    "madvise",
    "membarrier",
    "memfd_create",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mremap",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "remap_file_pages",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "get_mempolicy",
    /* processes, threads, signals */
    "arch_prctl",
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "futex",
    "futex_waitv",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "getuid",
    "kill",
    "pidfd_getfd",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "prlimit64",
    "restart_syscall",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "setsid",
    "setuid",
    "sigaltstack",
    "tgkill",
    "tkill",
    "vfork",
    "wait4",
    "waitid",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    /* time (reading only) */
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "gettimeofday",
    "nanosleep",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "times",
    /* System V and POSIX IPC (namespaced) */
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    /* sockets (socket itself has an argument filter below) */
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socketpair",
    /* the machine (reading only) */
    "sysinfo",
    "uname",
};

const char *const vx_sbx_seccomp_denied[] = {
    "unshare",
    "setns",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "open_by_handle_at",
    "name_to_handle_at",
    "userfaultfd",
    "acct",
    "quotactl",
    "lookup_dcookie",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "iopl",
    "ioperm",
    "vm86",
    "vm86old",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "fanotify_init",
    "set_mempolicy",
    "mbind",
    "move_pages",
    "migrate_pages",
    "vhangup",
    "syslog",
    NULL,
};

/* CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET */
#define NS_CLONE_FLAGS 0x7E020000ull
#define AF_VSOCK_NUM   40

static json_t *rule(const char *const *names, size_t n, const char *action)
{
    json_t *r = json_object(), *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    json_object_set_new(r, "names", a);
    json_object_set_new(r, "action", json_string(action));
    return r;
}

static json_t *arg(unsigned index, uint64_t value, uint64_t value2, const char *op)
{
    json_t *a = json_object();

    json_object_set_new(a, "index", json_integer(index));
    json_object_set_new(a, "value", json_integer((json_int_t)value));
    if (value2)
        json_object_set_new(a, "valueTwo", json_integer((json_int_t)value2));
    json_object_set_new(a, "op", json_string(op));
    return a;
}

static json_t *rule_args1(const char *name, const char *action, json_t *a)
{
    const char *names[] = {name};
    json_t *r = rule(names, 1, action), *args = json_array();

    json_array_append_new(args, a);
    json_object_set_new(r, "args", args);
    return r;
}

json_t *vx_sbx_seccomp_json(void)
{
    static const uint64_t personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    json_t *s = json_object(), *archs = json_array(), *rules = json_array(), *r;
    size_t n_denied = 0;

    json_object_set_new(s, "defaultAction", json_string("SCMP_ACT_ERRNO"));
    json_object_set_new(s, "defaultErrnoRet", json_integer(EPERM));
#if defined(__x86_64__)
    json_array_append_new(archs, json_string("SCMP_ARCH_X86_64"));
#elif defined(__aarch64__)
    json_array_append_new(archs, json_string("SCMP_ARCH_AARCH64"));
#endif
    json_object_set_new(s, "architectures", archs);

    json_array_append_new(rules, rule(allowed, VX_ARRAY_SIZE(allowed), "SCMP_ACT_ALLOW"));
    /* clone without any namespace flag: (flags & NS_CLONE_FLAGS) == 0 */
    json_array_append_new(rules, rule_args1("clone", "SCMP_ACT_ALLOW",
                                            arg(0, NS_CLONE_FLAGS, 0, "SCMP_CMP_MASKED_EQ")));
    {
        const char *names[] = {"clone3"};
        r = rule(names, 1, "SCMP_ACT_ERRNO");
        json_object_set_new(r, "errnoRet", json_integer(ENOSYS));
        json_array_append_new(rules, r);
    }
    for (size_t i = 0; i < VX_ARRAY_SIZE(personas); i++)
        json_array_append_new(rules, rule_args1("personality", "SCMP_ACT_ALLOW",
                                                arg(0, personas[i], 0, "SCMP_CMP_EQ")));
    json_array_append_new(
        rules, rule_args1("socket", "SCMP_ACT_ALLOW", arg(0, AF_VSOCK_NUM, 0, "SCMP_CMP_NE")));
    while (vx_sbx_seccomp_denied[n_denied])
        n_denied++;
    r = rule(vx_sbx_seccomp_denied, n_denied, "SCMP_ACT_ERRNO");
    json_object_set_new(r, "errnoRet", json_integer(EPERM));
    json_array_append_new(rules, r);
    json_object_set_new(s, "syscalls", rules);
    return s;
}
