/* service.c -- signal handling, directories and secrets for the long-running commands. */
#include "common/setup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/service.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/util.h" /* for vx_random_bytes(), vx_hex() */
#include "queue/queue.h" /* struct vx_pipeline_config */

void vx_service_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int vx_service_wait(const sigset_t *set)
{
    int sig = 0;

    for (;;) {
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            vx_info("SIGHUP ignored (restart to reload configuration)");
            continue;
        }
        return sig;
    }
}

int vx_service_mkdirs(const char *dir)
{
    char *p = vx_xstrdup(dir);
    int rc = 0;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            rc = -1;
        *s = '/';
    }
    /* 0711: others may traverse (the sandbox's user namespace reaches the jobs' rootfs
     * below it) but not list; every file in it is owner-only */
    if (mkdir(p, 0711) < 0 && errno != EEXIST)
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "vexxy: cannot create directory '%s': %s\n", dir, strerror(errno));
    free(p);
    return rc;
}

char *vx_service_webhook_secret(const char *given, const char *data_dir)
{
    char *path = NULL, *secret = NULL;
    char buf[256];
    ssize_t n;
    int fd;

    if (given && *given)
        return vx_xstrdup(given);
    path = vx_xasprintf("%s/webhook.secret", data_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0) {
            fprintf(stderr, "vexxy: webhook secret file '%s' is empty or unreadable\n", path);
            goto out;
        }
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        secret = vx_xstrdup(buf);
        goto out;
    }
    if (errno != ENOENT) {
        fprintf(stderr, "vexxy: open '%s': %s\n", path, strerror(errno));
        goto out;
    }
    {
        unsigned char raw[32];
        char hex[65];

        vx_random_bytes(raw, sizeof(raw));
        vx_hex(raw, sizeof(raw), hex);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, hex, 64) != 64 || write(fd, "\n", 1) != 1) {
            fprintf(stderr, "vexxy: write '%s': %s\n", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            goto out;
        }
        close(fd);
        vx_info("generated a webhook signing secret in '%s' (set --webhook-secret to choose one)",
                path);
        secret = vx_xstrdup(hex);
    }
out:
    free(path);
    return secret;
}

int vx_service_log_level(const char *name)
{
    enum vx_log_level lvl;

    if (vx_log_level_parse(name, &lvl) < 0) {
        fprintf(stderr, "vexxy: --log-level must be debug, info, warn, error or off\n");
        return -1;
    }
    vx_log_set_level(lvl);
    return 0;
}

const struct vx_opt vx_service_pipeline_opts[VX_PIPE_COUNT] = {
    [VX_PIPE_ALLOWED_REG] = {"allowed-registries", VX_OPT_STR, "*", 0, 0,
                             "registries jobs may pull from: host[:port],... or *"},
    [VX_PIPE_INSECURE_REG] = {"insecure-registries", VX_OPT_STR, NULL, 0, 0,
                              "registries reached over plain http: host[:port],..."},
    [VX_PIPE_PLATFORM] = {"platform", VX_OPT_STR, "linux/amd64", 0, 0,
                          "platform chosen from multi-platform images"},
    [VX_PIPE_DOCKER_CONFIG] = {"docker-config", VX_OPT_STR, NULL, 0, 0,
                               "Docker config.json with registry credentials"},
    [VX_PIPE_RUNTIME] = {"runtime", VX_OPT_STR, "runc", 0, 0, "OCI runtime: runc or crun"},
    [VX_PIPE_TRACER] = {"tracer", VX_OPT_STR, "auto", 0, 0,
                        "auto, or tracer backends: fanotify,ebpf,ptrace (comma-separated)"},
    [VX_PIPE_TESTER_ROOTFS] = {"tester-rootfs", VX_OPT_STR, NULL, 0, 0,
                               "rootfs test scripts run in (default "
                               "DATA_DIR/tester/current/rootfs: scripts/build-tester.sh)"},
    [VX_PIPE_SANDBOX] = {"sandbox", VX_OPT_STR, "runc", 0, 0,
                         "where workloads run: runc (this host) or kubernetes (a Job each)"},
    [VX_PIPE_KUBECONFIG] = {"kubeconfig", VX_OPT_STR, NULL, 0, 0,
                            "kubernetes credentials (default $KUBECONFIG, ~/.kube/config, "
                            "then the in-cluster service account)"},
    [VX_PIPE_KUBE_CONTEXT] = {"kube-context", VX_OPT_STR, NULL, 0, 0,
                              "kubeconfig context (default: current-context)"},
    [VX_PIPE_KUBE_NAMESPACE] = {"kube-namespace", VX_OPT_STR, "vexxy-sandbox", 0, 0,
                                "namespace of the analysis Jobs"},
    [VX_PIPE_KUBE_RUNTIME_CLASS] = {"kube-runtime-class", VX_OPT_STR, NULL, 0, 0,
                                    "runtimeClassName of the analysis pods (e.g. gvisor)"},
    [VX_PIPE_KUBE_PULL_SECRET] = {"kube-pull-secret", VX_OPT_STR, NULL, 0, 0,
                                  "imagePullSecrets of the analysis pods (registry credentials "
                                  "in the sandbox namespace)"},
    [VX_PIPE_TRACER_IMAGE] = {"tracer-image", VX_OPT_STR, NULL, 0, 0,
                              "the vexxy image of the tracer sidecar (kubernetes; required)"},
    [VX_PIPE_ROOTFS_CACHE] = {"rootfs-cache", VX_OPT_INT, "8", -1, 100000,
                              "unpacked images kept for later analyses of the same image "
                              "(DATA_DIR/rootfs, least recently used evicted); -1 = off"},
};

/* Each comma-separated word is one of words[]. */
static bool words_in(const char *list, const char *const *words)
{
    const char *p = list;

    if (!*p)
        return false;
    while (*p) {
        size_t n = strcspn(p, ",");
        bool ok = false;

        for (size_t i = 0; words[i]; i++)
            ok = ok || (strlen(words[i]) == n && strncmp(p, words[i], n) == 0);
        if (!ok)
            return false;
        p += n;
        if (*p == ',')
            p++;
    }
    return true;
}

bool vx_service_tracer_list_ok(const char *list)
{
    static const char *const tracers[] = {"fanotify", "ebpf", "ptrace", NULL};

    return words_in(list, tracers);
}

int vx_service_pipeline_config(const struct vx_opt *o, struct vx_pipeline_config *pc)
{
    static const char *const runtimes[] = {"runc", "crun", NULL};
    const char *tr = o[VX_PIPE_TRACER].str;

    if (!words_in(o[VX_PIPE_RUNTIME].str, runtimes) || strchr(o[VX_PIPE_RUNTIME].str, ',')) {
        fprintf(stderr, "vexxy: --runtime must be runc or crun, not '%s'\n",
                o[VX_PIPE_RUNTIME].str);
        return -1;
    }
    if (strcmp(tr, "auto") != 0 && !vx_service_tracer_list_ok(tr)) {
        fprintf(stderr,
                "vexxy: --tracer must be auto or a comma list of fanotify, ebpf, ptrace, "
                "not '%s'\n",
                tr);
        return -1;
    }
    pc->allowed_registries =
        strcmp(o[VX_PIPE_ALLOWED_REG].str, "*") ? o[VX_PIPE_ALLOWED_REG].str : NULL;
    pc->insecure_registries = o[VX_PIPE_INSECURE_REG].str;
    pc->platform = o[VX_PIPE_PLATFORM].str;
    pc->docker_config = o[VX_PIPE_DOCKER_CONFIG].str;
    pc->runtime = o[VX_PIPE_RUNTIME].str;
    pc->tracers = strcmp(tr, "auto") ? tr : NULL;
    pc->tester_rootfs = o[VX_PIPE_TESTER_ROOTFS].str;
    if (strcmp(o[VX_PIPE_SANDBOX].str, "runc") != 0 &&
        strcmp(o[VX_PIPE_SANDBOX].str, "kubernetes") != 0) {
        fprintf(stderr, "vexxy: --sandbox must be runc or kubernetes, not '%s'\n",
                o[VX_PIPE_SANDBOX].str);
        return -1;
    }
    if (strcmp(o[VX_PIPE_SANDBOX].str, "kubernetes") == 0 && !o[VX_PIPE_TRACER_IMAGE].str) {
        fprintf(stderr, "vexxy: --sandbox kubernetes needs --tracer-image (the vexxy image the "
                        "tracer sidecar runs, pinned by digest)\n");
        return -1;
    }
    pc->sandbox = o[VX_PIPE_SANDBOX].str;
    pc->kubeconfig = o[VX_PIPE_KUBECONFIG].str;
    pc->kube_context = o[VX_PIPE_KUBE_CONTEXT].str;
    pc->kube_namespace = o[VX_PIPE_KUBE_NAMESPACE].str;
    pc->kube_runtime_class = o[VX_PIPE_KUBE_RUNTIME_CLASS].str;
    pc->kube_pull_secret = o[VX_PIPE_KUBE_PULL_SECRET].str;
    pc->tracer_image = o[VX_PIPE_TRACER_IMAGE].str;
    pc->rootfs_cache = o[VX_PIPE_ROOTFS_CACHE].num == 0 ? -1 : (int)o[VX_PIPE_ROOTFS_CACHE].num;
    return 0;
}
