/* bench-trace-openloop.c -- `bench-trace-openloop N PATH`: opens and closes PATH N times
 * (openat(2) + close(2), nothing else in the loop) and prints the mean nanoseconds per
 * openat+close pair on stdout, for bench/bench-trace.sh: the per-syscall tax a loaded tracer
 * puts on this process, whether it is traced or just another process on the host.
 *
 * Standalone (no vexxy library): built by the bench script with the system compiler. The
 * loop is the raw syscall pair through libc, timed with CLOCK_MONOTONIC around the whole
 * loop (one clock read per N pairs, so the clock costs nothing per iteration).
 */
#define _GNU_SOURCE /* openat(2) flags */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct timespec a, b;
    char *end = NULL;
    long n;

    if (argc != 3) {
        fprintf(stderr, "usage: bench-trace-openloop N PATH\n");
        return 2;
    }
    errno = 0;
    n = strtol(argv[1], &end, 10);
    if (errno || !end || *end || n <= 0) {
        fprintf(stderr, "bench-trace-openloop: bad count '%s'\n", argv[1]);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        int fd = openat(AT_FDCWD, argv[2], O_RDONLY | O_CLOEXEC);

        if (fd < 0) {
            fprintf(stderr, "bench-trace-openloop: open '%s': %s\n", argv[2], strerror(errno));
            return 1;
        }
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
                         (double)n);
    return 0;
}
