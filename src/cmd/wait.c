/* wait.c -- `vexxy-wait`: holds a Kubernetes sandbox's workload before its first instruction
 * until the tracer sidecar is attached (DESIGN.md §8, §9).
 *
 * It is the pod's analogue of `runc create` -> attach -> `runc start`:
 *   vexxy-wait --install DIR           (the init container, in the vexxy image) copies this
 *                                      very executable to DIR/vexxy-wait (mode 0755), atomically
 *                                      (a temporary name, then rename), so the shared emptyDir
 *                                      holds a waiter any image can run;
 *   vexxy-wait [--sync-dir DIR] -- CMD ARGS...
 *                                      (the target container) polls DIR/go (default /vexxy)
 *                                      every 10 ms; once the agent created it, execvp(CMD): the
 *                                      workload's first instruction runs traced. After 10 minutes
 *                                      without it: exit 125. CMD not runnable: exit 127.
 * Built static against libc alone (no project library), so it runs in any image, whatever
 * libc (or none) the image has. Messages go to stderr.
 */
#include "common/setup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_POLL_NS   (10 * 1000 * 1000L)
#define WAIT_MAX_S     600
#define EXIT_WAIT_FAIL 125
#define EXIT_EXEC_FAIL 127

static const char usage[] =
    "usage: vexxy-wait --install DIR\n"
    "       vexxy-wait [--sync-dir DIR] -- CMD [ARG...]\n"
    "--install DIR    copy this program to DIR/vexxy-wait (mode 0755, atomically)\n"
    "--sync-dir DIR   wait until DIR/go exists (default /vexxy; at most 10 minutes, then\n"
    "                 exit 125), then run CMD in place of this process (127 if it cannot)\n";

static int install(const char *dir)
{
    char tmp[4096], dst[4096], buf[65536];
    int in = -1, out = -1, rc = EXIT_WAIT_FAIL;
    ssize_t n;

    if ((size_t)snprintf(dst, sizeof(dst), "%s/vexxy-wait", dir) >= sizeof(dst) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s/.vexxy-wait.%d", dir, (int)getpid()) >=
            sizeof(tmp)) {
        fprintf(stderr, "vexxy-wait: install dir '%s' is too long\n", dir);
        return EXIT_WAIT_FAIL;
    }
    in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        fprintf(stderr, "vexxy-wait: open /proc/self/exe: %s\n", strerror(errno));
        goto out;
    }
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0700);
    if (out < 0) {
        fprintf(stderr, "vexxy-wait: create '%s': %s\n", tmp, strerror(errno));
        goto out;
    }
    while ((n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "vexxy-wait: read /proc/self/exe: %s\n", strerror(errno));
            goto out;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                fprintf(stderr, "vexxy-wait: write '%s': %s\n", tmp, strerror(errno));
                goto out;
            }
            off += w;
        }
    }
    /* 0755 whatever the umask: the target may run as any user */
    if (fchmod(out, 0755) < 0 || fsync(out) < 0) {
        fprintf(stderr, "vexxy-wait: finish '%s': %s\n", tmp, strerror(errno));
        goto out;
    }
    if (close(out) < 0) {
        out = -1;
        fprintf(stderr, "vexxy-wait: close '%s': %s\n", tmp, strerror(errno));
        goto out;
    }
    out = -1;
    if (rename(tmp, dst) < 0) {
        fprintf(stderr, "vexxy-wait: rename to '%s': %s\n", dst, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (rc != 0)
        (void)unlink(tmp);
    return rc;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    const char *sync_dir = "/vexxy";
    char go[4096];
    struct stat st;
    int64_t deadline;
    int i = 1;

    if (argc == 3 && !strcmp(argv[1], "--install"))
        return install(argv[2]);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (i + 1 < argc && !strcmp(argv[i], "--sync-dir")) {
        sync_dir = argv[i + 1];
        i += 2;
    }
    if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
        fputs(usage, stderr);
        return EXIT_WAIT_FAIL;
    }
    i++;
    if ((size_t)snprintf(go, sizeof(go), "%s/go", sync_dir) >= sizeof(go)) {
        fprintf(stderr, "vexxy-wait: sync dir '%s' is too long\n", sync_dir);
        return EXIT_WAIT_FAIL;
    }
    deadline = mono_ms() + WAIT_MAX_S * 1000;
    while (stat(go, &st) < 0) {
        struct timespec ts = {0, WAIT_POLL_NS};

        if (mono_ms() >= deadline) {
            fprintf(stderr,
                    "vexxy-wait: '%s' did not appear within %d s (the tracer never attached); "
                    "'%s' not started\n",
                    go, WAIT_MAX_S, argv[i]);
            return EXIT_WAIT_FAIL;
        }
        nanosleep(&ts, NULL);
    }
    execvp(argv[i], argv + i);
    fprintf(stderr, "vexxy-wait: cannot run '%s': %s\n", argv[i], strerror(errno));
    return EXIT_EXEC_FAIL;
}
