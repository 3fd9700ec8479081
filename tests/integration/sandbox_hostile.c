/* sandbox_hostile.c -- a deliberately hostile workload for test_sandbox.py.
 *
 * Built by the test with `gcc -static` and copied into a test rootfs; never installed.
 *   hostile forkbomb          fork until refused; prints "forks N errno E"
 *   hostile memhog            touch memory 1 MiB at a time until killed
 *   hostile spin              burn CPU forever
 *   hostile sleep SECONDS     fork two children, then sleep (for host-side checks)
 *   hostile escape CANARY     try the escapes; one "name=result" line each:
 *                             syscalls that must be refused (unshare, setns, mount, umount2,
 *                             pivot_root, ptrace, bpf, keyctl, add_key, perf_event_open,
 *                             userfaultfd, kexec_load, init_module, reboot, settimeofday),
 *                             reading the host canary path, writing the image's files,
 *                             connecting out (a public and a private address) and to
 *                             loopback (must work)
 * Not project code: plain libc, no vexxy headers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r)
{
    if (r < 0)
        printf("%s=%s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    else
        printf("%s=ok\n", name);
    fflush(stdout);
}

static int try_connect(const char *addr, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), r;

    if (fd < 0)
        return -1;
    inet_pton(AF_INET, addr, &sa.sin_addr);
    r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    return r;
}

static int loopback(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(sa);
    int l = socket(AF_INET, SOCK_STREAM, 0), r;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    r = try_connect("127.0.0.1", ntohs(sa.sin_port));
    close(l);
    return r;
}

static int escape(const char *canary)
{
    struct timeval tv = {0, 0};
    char buf[64];
    int fd;

    report("unshare", unshare(CLONE_NEWUSER));
    report("unshare_ns", unshare(CLONE_NEWNS));
    fd = open("/proc/1/ns/mnt", O_RDONLY);
    report("setns", setns(fd, 0));
    report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
    report("umount2", umount2("/proc", MNT_DETACH));
    report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    report("ptrace", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
    report("bpf", syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, buf, 16));
    report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    report("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -3));
    report("perf_event_open", syscall(SYS_perf_event_open, buf, 0, -1, -1, 0));
    report("userfaultfd", syscall(SYS_userfaultfd, 0));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("init_module", syscall(SYS_init_module, buf, 0, ""));
    report("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321fedc, NULL));
    report("settimeofday", settimeofday(&tv, NULL));
    /* the host's canary: the path does not exist in this root */
    fd = open(canary, O_RDONLY);
    report("read_canary", fd);
    fd = open("/proc/1/root/../../../../etc/hostname", O_RDONLY); /* stays in our root */
    report("proc_root_hop", fd < 0 ? -1 : (read(fd, buf, sizeof(buf)) >= 0 ? 0 : -1));
    /* the image's files: writes land in the overlay's upper dir */
    fd = open("/etc/debian_version", O_WRONLY | O_TRUNC);
    report("write_image_file", fd < 0 ? -1 : write(fd, "hostile\n", 8));
    report("unlink_image_file", unlink("/etc/issue"));
    report("connect_public", try_connect("1.1.1.1", 80));
    report("connect_private", try_connect("10.0.0.1", 80));
    report("connect_loopback", loopback());
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";

    if (!strcmp(mode, "forkbomb")) {
        long n = 0;

        for (;;) {
            pid_t p = fork();

            if (p == 0) {
                pause();
                _exit(0);
            }
            if (p < 0)
                break;
            n++;
        }
        printf("forks %ld errno %s\n", n, strerrorname_np(errno));
        return 0;
    }
    if (!strcmp(mode, "memhog")) {
        for (long mb = 0;; mb++) {
            char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);

            if (p == MAP_FAILED) {
                printf("mmap failed at %ld MiB\n", mb);
                return 3;
            }
            memset(p, 1, 1 << 20);
        }
    }
    if (!strcmp(mode, "spin")) {
        volatile unsigned long x = 0;

        for (;;)
            x++;
    }
    if (!strcmp(mode, "sleep") && argc > 2) {
        for (int i = 0; i < 2; i++)
            if (fork() == 0) {
                pause();
                _exit(0);
            }
        printf("sleeping\n");
        fflush(stdout);
        sleep((unsigned)atoi(argv[2]));
        return 0;
    }
    if (!strcmp(mode, "escape") && argc > 2)
        return escape(argv[2]);
    fprintf(stderr, "usage: hostile forkbomb|memhog|spin|sleep N|escape CANARY\n");
    return 2;
}
