/* probe.c -- the deterministic trace workload (STYLE.md R21): each subcommand makes exactly
 * the events a trace test asserts. Built dynamic (linked to libvxprobe.so) and, where glibc's
 * static library exists, static (vxprobe_fn linked in). Messages go to stderr only, so the
 * tracer's stdout stays clean.
 *
 *   open FILE            open FILE read-only, read a byte, close
 *   exec PATH [ARG...]   execv PATH
 *   script DIR           write DIR/probe-script.sh ("#!/bin/sh"), run it, remove it
 *   dlopen LIB           dlopen(LIB, RTLD_NOW) (dynamic build only)
 *   mmapx FILE           mmap FILE with PROT_EXEC
 *   connect HOST PORT    TCP connect to a numeric HOST (a refusal is fine)
 *   call N               call vxprobe_fn N times
 *   openmany DIR N       create DIR/f0..f<N-1> (N distinct open events), then remove them
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifndef VXPROBE_STATIC
#include <dlfcn.h>
#endif

int vxprobe_fn(int x);

static int die(const char *what)
{
    fprintf(stderr, "probe: %s: %s\n", what, strerror(errno));
    return 1;
}

static int do_open(const char *path)
{
    char c;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return die(path);
    if (read(fd, &c, 1) < 0)
        return die("read");
    close(fd);
    return 0;
}

static int do_script(const char *dir)
{
    char path[4096];
    int fd, status;
    pid_t pid;
    static const char body[] = "#!/bin/sh\nexit 0\n";

    snprintf(path, sizeof(path), "%s/probe-script.sh", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (fd < 0)
        return die(path);
    if (write(fd, body, sizeof(body) - 1) != (ssize_t)(sizeof(body) - 1))
        return die("write");
    close(fd);
    pid = fork();
    if (pid == 0) {
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return die("fork/wait");
    unlink(path);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int do_mmapx(const char *path)
{
    struct stat st;
    void *p;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        return die(path);
    p = mmap(NULL, st.st_size ? (size_t)st.st_size : 1, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return die("mmap");
    munmap(p, st.st_size ? (size_t)st.st_size : 1);
    close(fd);
    return 0;
}

static int do_connect(const char *host, const char *port)
{
    struct sockaddr_in a4 = {0};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return die("socket");
    a4.sin_family = AF_INET;
    a4.sin_port = htons((unsigned short)atoi(port));
    if (inet_pton(AF_INET, host, &a4.sin_addr) != 1) {
        fprintf(stderr, "probe: not a numeric IPv4 address: %s\n", host);
        return 1;
    }
    if (connect(s, (struct sockaddr *)&a4, sizeof(a4)) < 0)
        fprintf(stderr, "probe: connect: %s (fine)\n", strerror(errno));
    close(s);
    return 0;
}

static int do_openmany(const char *dir, long n)
{
    char path[4096];
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/f%ld", dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return die(path);
        close(fd);
    }
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/f%ld", dir, i);
        unlink(path);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";

    if (!strcmp(cmd, "open") && argc == 3)
        return do_open(argv[2]);
    if (!strcmp(cmd, "exec") && argc >= 3) {
        execv(argv[2], argv + 2);
        return die(argv[2]);
    }
    if (!strcmp(cmd, "script") && argc == 3)
        return do_script(argv[2]);
#ifndef VXPROBE_STATIC
    if (!strcmp(cmd, "dlopen") && argc == 3) {
        void *h = dlopen(argv[2], RTLD_NOW);
        if (!h) {
            fprintf(stderr, "probe: dlopen: %s\n", dlerror());
            return 1;
        }
        dlclose(h);
        return 0;
    }
#endif
    if (!strcmp(cmd, "mmapx") && argc == 3)
        return do_mmapx(argv[2]);
    if (!strcmp(cmd, "connect") && argc == 4)
        return do_connect(argv[2], argv[3]);
    if (!strcmp(cmd, "call") && argc == 3) {
        long n = atol(argv[2]), sum = 0;
        for (long i = 0; i < n; i++)
            sum += vxprobe_fn((int)i);
        fprintf(stderr, "probe: called %ld times (%ld)\n", n, sum);
        return 0;
    }
    if (!strcmp(cmd, "openmany") && argc == 4)
        return do_openmany(argv[2], atol(argv[3]));
    fprintf(stderr, "usage: probe open FILE | exec PATH [ARG...] | script DIR | dlopen LIB |"
                    " mmapx FILE | connect HOST PORT | call N | openmany DIR N\n");
    return 2;
}
