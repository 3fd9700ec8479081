/* nofanbpf.c -- `nofanbpf CMD [ARG...]`: runs CMD with fanotify_init(2) and bpf(2) failing
 * with EPERM (a seccomp filter, inherited by everything CMD starts), as on a host that grants
 * neither. The trace tests run vexxy under it to force the ptrace fallback (issue 6).
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DENY(nr)                                                                                   \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                               \
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

int main(int argc, char **argv)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* only the native ABI has these here */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        DENY(SYS_fanotify_init),
        DENY(SYS_bpf),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

    if (argc < 2) {
        fprintf(stderr, "usage: nofanbpf CMD [ARG...]\n");
        return 125;
    }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
        /* without CAP_SYS_ADMIN a filter needs no_new_privs */
        if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
            fprintf(stderr, "nofanbpf: seccomp: %s\n", strerror(errno));
            return 125;
        }
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "nofanbpf: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
