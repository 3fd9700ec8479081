/* vexxy.bpf.c -- the eBPF side of the trace module's ebpf backend (ebpf.c loads it).
 *
 * tp_btf programs only (DESIGN.md §9: fentry/fexit, BPF LSM, kprobes and tracefs do not load
 * on the project's hosts, tp_btf does):
 *   sched_process_exec  the executed file (resolved from bprm->file), the new argv
 *   sched_process_fork  the process tree; a traced parent's child is traced too
 *   sched_process_exit  the exit status of a process (its thread group leader)
 *   sys_exit            open/openat/openat2 that returned an fd: that fd's file
 *   sys_enter           mmap with PROT_EXEC of a file: that fd's file
 *
 * DESIGN
 * Filter: a task is traced when its thread group id is in `pids` (a plain command: its pid is
 * added at attach, children inherit on fork) or its cgroup v2 id is in `cgroups` (a
 * container). Both map to the job's slot, which tags every event so one loaded object serves
 * every job of the process. Files are resolved in the kernel, at the event, by a dentry walk
 * from the struct file up to the root of its mount namespace (crossing mounts through struct
 * mount), so neither a closed fd nor a changed cwd can mislead user space. The walk emits the
 * components leaf first, each NUL-terminated; user space reverses them. Anything that cannot
 * be resolved completely (too deep, a too long name, an fd not found) is sent flagged
 * VX_EVF_LOST and counted as lost in user space: the tracer fails closed.
 * Events are built in a per-CPU scratch value and copied into the ring buffer with
 * bpf_ringbuf_output (variable size); when the ring is full the job's counter in `drops` is
 * incremented instead. A failed insertion of a forked child into `pids` counts as a drop too.
 *
 * The event layout below is mirrored in ebpf.c (struct vx_bpf_event): keep them in step.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL"; /* tp_btf and bpf_probe_read_* need a GPL program */

#define VX_MAX_JOBS   64
#define VX_NAME_MAX   256  /* one component, with its NUL */
#define VX_DATA       4096 /* path components (+ argv for exec) */
#define VX_DATA_MASK  (VX_DATA - 1)
#define VX_ARGS_MAX   1024
#define VX_WALK_DEPTH 64
#define VX_S_IFMT     00170000
#define VX_S_IFREG    0100000
#define VX_PROT_EXEC  0x4
#define VX_MAP_ANON   0x20

enum { VX_EV_EXEC = 1, VX_EV_FORK, VX_EV_EXIT, VX_EV_OPEN, VX_EV_MMAP };
#define VX_EVF_LOST 1u

struct vx_bpf_event {
    __u32 type, slot, pid, ppid;
    __s32 num;   /* exit status (wait(2) form) for EXIT, fd for OPEN/MMAP, syscall nr */
    __u32 flags; /* VX_EVF_* */
    __u64 dev, ino;
    __u32 n_comp;             /* path components (leaf first) at the start of data */
    __u32 path_len, args_len; /* bytes of data: components, then argv (NUL-separated) */
    __u32 n_root, root_len;   /* EXEC: the task's root dir, components between path and argv */
    __u32 pad;
    char data[VX_DATA + VX_ARGS_MAX + VX_NAME_MAX];
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4 << 20); /* user space sets it before load */
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32);   /* tgid */
    __type(value, __u32); /* slot */
} pids SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u64);   /* cgroup v2 id */
    __type(value, __u32); /* slot */
} cgroups SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, VX_MAX_JOBS);
    __type(key, __u32);
    __type(value, __u64);
} drops SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct vx_bpf_event);
} scratch SEC(".maps");

/* Files already reported to a job, per kind of event: repeated opens of the same file (a
 * server serving it per request) cost a map lookup instead of a path walk and an event.
 * gen (per slot, set by user space when a job takes the slot) keeps a new job of a reused
 * slot from inheriting the last one's entries; the LRU evicts what is no longer reachable. */
struct seen_key {
    __u32 gen, type;
    __u64 dev, ino;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, struct seen_key);
    __type(value, __u8);
} seen SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, VX_MAX_JOBS);
    __type(key, __u32);
    __type(value, __u32); /* generation of the job in that slot */
} gens SEC(".maps");

static __always_inline void count_drop(__u32 slot)
{
    __u64 *d = bpf_map_lookup_elem(&drops, &slot);

    if (d)
        __sync_fetch_and_add(d, 1);
}

/* The job slot of a task (its tgid and cgroup), or -1 when it is not traced. */
static __always_inline int match(__u32 tgid)
{
    __u32 *slot = bpf_map_lookup_elem(&pids, &tgid);
    __u64 cg;

    if (slot)
        return (int)*slot;
    cg = bpf_get_current_cgroup_id();
    slot = bpf_map_lookup_elem(&cgroups, &cg);
    return slot ? (int)*slot : -1;
}

static __always_inline struct vx_bpf_event *new_event(__u32 type, int slot, __u32 pid)
{
    __u32 zero = 0;
    struct vx_bpf_event *e = bpf_map_lookup_elem(&scratch, &zero);

    if (!e)
        return 0;
    e->type = type;
    e->slot = (__u32)slot;
    e->pid = pid;
    e->ppid = 0;
    e->num = 0;
    e->flags = 0;
    e->dev = 0;
    e->ino = 0;
    e->n_comp = 0;
    e->path_len = 0;
    e->args_len = 0;
    e->n_root = 0;
    e->root_len = 0;
    return e;
}

static __always_inline void send(struct vx_bpf_event *e)
{
    __u64 len =
        __builtin_offsetof(struct vx_bpf_event, data) + e->path_len + e->root_len + e->args_len;

    if (len > sizeof(*e))
        len = sizeof(*e);
    if (bpf_ringbuf_output(&events, e, len, 0) < 0)
        count_drop(e->slot);
}

/* Files of pseudo filesystems are not files of the image (/proc/self/status, sysfs
 * attributes): not reported, like the fanotify backend, which does not mark them. */
static __always_inline bool pseudo_fs(unsigned long magic)
{
    switch (magic) {
    case 0x9fa0:     /* proc */
    case 0x62656572: /* sysfs */
    case 0x63677270: /* cgroup2 */
    case 0x27e0eb:   /* cgroup */
    case 0x1cd1:     /* devpts */
    case 0x64626720: /* debugfs */
    case 0x74726163: /* tracefs */
    case 0xcafe4a11: /* bpf */
    case 0x73636673: /* securityfs */
    case 0x6e736673: /* nsfs */
    case 0x19800202: /* mqueue */
    case 0x42494e4d: /* binfmt_misc */
        return true;
    }
    return false;
}

struct walk {
    struct dentry *d;
    struct mount *m;
    __u32 off, n;
    int done; /* 1: reached the namespace's root; -1: gave up */
};

/* One step of the dentry walk (a bpf_loop callback: the verifier checks it once, not once
 * per level). Returns 1 to stop. */
static long walk_step(__u64 index, void *ctx)
{
    struct walk *w = ctx;
    __u32 zero = 0;
    struct vx_bpf_event *e = bpf_map_lookup_elem(&scratch, &zero);
    struct dentry *d = w->d, *mroot, *parent;
    struct mount *m = w->m;

    if (!e) {
        w->done = -1;
        return 1;
    }
    mroot = BPF_CORE_READ(m, mnt.mnt_root);
    parent = BPF_CORE_READ(d, d_parent);
    if (d == mroot || d == parent) {
        struct mount *mp = BPF_CORE_READ(m, mnt_parent);
        if (mp == m || !mp) { /* the namespace's root mount: done */
            w->done = 1;
            return 1;
        }
        w->d = BPF_CORE_READ(m, mnt_mountpoint);
        w->m = mp;
        return 0;
    }
    __u32 off = w->off;
    if (off > VX_DATA - VX_NAME_MAX) {
        w->done = -1;
        return 1;
    }
    const unsigned char *name = BPF_CORE_READ(d, d_name.name);
    long n = bpf_probe_read_kernel_str(&e->data[off & VX_DATA_MASK], VX_NAME_MAX, name);
    if (n <= 0) {
        w->done = -1;
        return 1;
    }
    w->off = off + (__u32)n;
    w->n++;
    w->d = parent;
    return 0;
}

/* Resolves f into e: dev, ino, and the path components up to the mount namespace's root.
 * Returns false for a file that is not a regular file (not reported). */
static __always_inline bool resolve_file(struct vx_bpf_event *e, struct file *f)
{
    struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
    struct dentry *d0 = BPF_CORE_READ(f, f_path.dentry);
    struct walk w = {.d = d0, .m = container_of(vm, struct mount, mnt)};
    struct inode *ino = BPF_CORE_READ(d0, d_inode);
    __u32 dev;

    if (!ino || (BPF_CORE_READ(ino, i_mode) & VX_S_IFMT) != VX_S_IFREG)
        return false;
    if (pseudo_fs(BPF_CORE_READ(ino, i_sb, s_magic)))
        return false;
    dev = BPF_CORE_READ(ino, i_sb, s_dev);
    /* the kernel's dev_t (major << 20 | minor) in the user-space encoding (glibc makedev) */
    __u64 ma = dev >> 20, mi = dev & 0xfffff;
    e->dev = ((ma & 0xfffff000ull) << 32) | ((ma & 0xfffull) << 8) | ((mi & 0xffffff00ull) << 12) |
             (mi & 0xffull);
    e->ino = BPF_CORE_READ(ino, i_ino);
    bpf_loop(VX_WALK_DEPTH, walk_step, &w, 0);
    e->path_len = w.off;
    e->n_comp = w.n;
    if (w.done != 1)
        e->flags |= VX_EVF_LOST; /* too deep / too long / unreadable: incomplete */
    return true;
}

/* The struct file of fd in the current task, or NULL. */
static __always_inline struct file *fd_file(int fd)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
    struct file **fds;
    struct file *f = 0;

    if (!fdt || fd < 0 || (unsigned)fd >= BPF_CORE_READ(fdt, max_fds))
        return 0;
    fds = BPF_CORE_READ(fdt, fd);
    bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
    return f;
}

static __always_inline int file_event(__u32 type, int slot, __u32 tgid, int fd, int nr)
{
    struct vx_bpf_event *e;
    struct file *f = fd_file(fd);
    struct seen_key k = {.type = type};
    __u32 s = (__u32)slot, *g;
    struct inode *in;

    if (f) {
        in = BPF_CORE_READ(f, f_inode);
        g = bpf_map_lookup_elem(&gens, &s);
        k.gen = g ? *g : 0;
        k.dev = BPF_CORE_READ(in, i_sb, s_dev);
        k.ino = BPF_CORE_READ(in, i_ino);
        if (in && bpf_map_lookup_elem(&seen, &k))
            return 0; /* reported to this job before */
    }
    e = new_event(type, slot, tgid);
    if (!e)
        return 0;
    e->num = nr;
    if (!f) {
        e->flags |= VX_EVF_LOST;
        send(e);
        return 0;
    }
    if (resolve_file(e, f)) {
        bool whole = !(e->flags & VX_EVF_LOST);
        __u8 one = 1;

        send(e);
        if (whole)
            bpf_map_update_elem(&seen, &k, &one, BPF_ANY);
    }
    return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vx_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 tgid = BPF_CORE_READ(p, tgid);
    int slot = match(tgid);
    struct vx_bpf_event *e;

    if (slot < 0)
        return 0;
    e = new_event(VX_EV_EXEC, slot, tgid);
    if (!e)
        return 0;
    e->ppid = BPF_CORE_READ(p, real_parent, tgid);
    if (!resolve_file(e, BPF_CORE_READ(bprm, file)))
        e->flags |= VX_EVF_LOST;
    /* the task's root (a chroot'ed process: user space makes the exe relative to it; read
     * here because the process may be gone by the time user space could ask /proc) */
    struct vfsmount *rm = BPF_CORE_READ(p, fs, root.mnt);
    struct walk w = {.d = BPF_CORE_READ(p, fs, root.dentry),
                     .m = container_of(rm, struct mount, mnt),
                     .off = e->path_len};
    if (w.d && rm) {
        bpf_loop(VX_WALK_DEPTH, walk_step, &w, 0);
        if (w.done == 1 && w.off >= e->path_len) {
            e->n_root = w.n;
            e->root_len = w.off - e->path_len;
        }
    }
    /* argv of the new image: the exec has just written it at the top of the new stack */
    unsigned long as = BPF_CORE_READ(p, mm, arg_start), ae = BPF_CORE_READ(p, mm, arg_end);
    __u64 n = ae > as ? ae - as : 0;
    __u64 off = e->path_len + e->root_len;
    if (n > VX_ARGS_MAX - 1)
        n = VX_ARGS_MAX - 1; /* capped: the engine keeps 32 args of 256 bytes anyway */
    /* re-bound for the verifier (a no-op after the cap): the size must be provably small */
    asm volatile("%0 &= 1023" : "+r"(n));
    if (off > VX_DATA)
        off = VX_DATA;
    if (n > 0 && bpf_probe_read_user(&e->data[off], n, (void *)as) == 0)
        e->args_len = (__u32)n;
    send(e);
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vx_fork, struct task_struct *parent, struct task_struct *child)
{
    __u32 ptgid = BPF_CORE_READ(parent, tgid), ctgid = BPF_CORE_READ(child, tgid);
    __u32 cpid = BPF_CORE_READ(child, pid);
    int slot;
    struct vx_bpf_event *e;

    if (cpid != ctgid) /* a thread, not a process */
        return 0;
    slot = match(ptgid);
    if (slot < 0)
        return 0;
    __u32 s = (__u32)slot;
    if (bpf_map_update_elem(&pids, &ctgid, &s, BPF_ANY) < 0)
        count_drop(s); /* the child's events would be missed */
    e = new_event(VX_EV_FORK, slot, ctgid);
    if (!e)
        return 0;
    e->ppid = ptgid;
    send(e);
    return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vx_exit, struct task_struct *p)
{
    __u32 tgid = BPF_CORE_READ(p, tgid), pid = BPF_CORE_READ(p, pid);
    int slot;
    struct vx_bpf_event *e;

    if (pid != tgid) /* only the thread group leader stands for the process */
        return 0;
    slot = match(tgid);
    if (slot < 0)
        return 0;
    e = new_event(VX_EV_EXIT, slot, tgid);
    if (e) {
        int code = BPF_CORE_READ(p, exit_code);
        /* exit_group: the group's status is the process's (the leader may carry its own) */
        if (BPF_CORE_READ(p, signal, flags) & 0x00000004 /* SIGNAL_GROUP_EXIT */)
            code = BPF_CORE_READ(p, signal, group_exit_code);
        e->num = code;
        e->ppid = BPF_CORE_READ(p, real_parent, tgid);
        send(e);
    }
    bpf_map_delete_elem(&pids, &tgid); /* the pid may be reused by anyone */
    return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vx_sys_exit, struct pt_regs *regs, long ret)
{
    /* a direct read (BTF pointer): no helper call on the path every syscall of the host
     * takes while the program is attached */
    long nr = regs->orig_ax;
    __u32 tgid;
    int slot;

    if (ret < 0 || (nr != 2 /* open */ && nr != 257 /* openat */ && nr != 437 /* openat2 */))
        return 0;
    tgid = bpf_get_current_pid_tgid() >> 32;
    slot = match(tgid);
    if (slot < 0)
        return 0;
    return file_event(VX_EV_OPEN, slot, tgid, (int)ret, (int)nr);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(vx_sys_enter, struct pt_regs *regs, long id)
{
    __u32 tgid;
    int slot;

    if (id != 9 /* mmap */)
        return 0;
    unsigned long prot = BPF_CORE_READ(regs, dx), flags = BPF_CORE_READ(regs, r10);
    long fd = (long)BPF_CORE_READ(regs, r8);
    if (!(prot & VX_PROT_EXEC) || (flags & VX_MAP_ANON) || fd < 0)
        return 0;
    tgid = bpf_get_current_pid_tgid() >> 32;
    slot = match(tgid);
    if (slot < 0)
        return 0;
    return file_event(VX_EV_MMAP, slot, tgid, (int)fd, 9);
}
