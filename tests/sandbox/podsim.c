/* podsim.c -- `podsim ROOT CMD [ARG...]`: a Kubernetes pod's target container, simulated on the
 * host for test_sandbox_agent.py.
 *
 * Like a container runtime: a mount namespace of its own whose root is ROOT (bind-mounted on
 * itself, pivot_root, the old root detached: /proc/<pid>/root/.. is the root itself, as for a
 * pod's container seen from its tracer sidecar), a network namespace of its own with its
 * loopback up (the "pod's" network namespace: the agent joins it with nsenter), the host's
 * PID namespace (shareProcessNamespace). Then execve(CMD) with only VEXXY_ROLE=target and PATH
 * in the environment: CMD is ROOT's /vexxy/vexxy-wait. Built static: no host library is
 * mapped into the target before the pivot.
 */
#define _GNU_SOURCE /* unshare(2), CLONE_NEWNS/NEWNET */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
    static char *const env[] = {"VEXXY_ROLE=target", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};

    if (argc < 3) {
        fprintf(stderr, "usage: podsim ROOT CMD [ARG...]\n");
        return 125;
    }
    if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0 || loopback_up() < 0) {
        fprintf(stderr, "podsim: namespaces: %s\n", strerror(errno));
        return 125;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(argv[1], argv[1], NULL, MS_BIND | MS_REC, NULL) < 0 || chdir(argv[1]) < 0 ||
        syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
        fprintf(stderr, "podsim: root '%s': %s\n", argv[1], strerror(errno));
        return 125;
    }
    execve(argv[2], argv + 2, env);
    fprintf(stderr, "podsim: exec '%s': %s\n", argv[2], strerror(errno));
    return 127;
}
