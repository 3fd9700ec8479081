/* netchroot.c -- `netchroot ROOT CMD [ARG...]`: runs CMD (an in-image path) chroot'ed into ROOT
 * in a network namespace of its own with its loopback up, for test_trace_recall.py.
 *
 * Built static (like probe-static): the traced tree then maps no host library before the
 * chroot, so a host file can never stand in for an image file of the same path
 * (/usr/lib/x86_64-linux-gnu/libc.so.6 exists in both) in a profile or in strace's output.
 * The namespace keeps the workload's port 80 away from everything else on the machine; the
 * test reaches it with `nsenter --net`.
 */
#define _GNU_SOURCE /* unshare(2), CLONE_NEWNET */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int loopback_up(void)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

    if (fd < 0)
        return -1;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    static char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

    if (argc < 3) {
        fprintf(stderr, "usage: netchroot ROOT CMD [ARG...]\n");
        return 125;
    }
    if (unshare(CLONE_NEWNET) < 0 || loopback_up() < 0) {
        fprintf(stderr, "netchroot: network namespace: %s\n", strerror(errno));
        return 125;
    }
    if (chroot(argv[1]) < 0 || chdir("/") < 0) {
        fprintf(stderr, "netchroot: chroot '%s': %s\n", argv[1], strerror(errno));
        return 125;
    }
    execve(argv[2], argv + 2, env);
    fprintf(stderr, "netchroot: exec '%s': %s\n", argv[2], strerror(errno));
    return 127;
}
