/* cgroup.c -- cgroup layout of this host, the extra cgroup v2 directory, accounting.
 *
 * The runtime puts the container into "/vexxy/<name>" of every hierarchy it manages (its
 * linux.cgroupsPath): the v1 controllers on a v1 or hybrid host, the unified hierarchy on a
 * pure v2 host. The tracer's BPF and uprobe filters need a cgroup v2 id, so on a hybrid host
 * the container's init is also moved (between create and start, so every process of the
 * workload inherits it) into <cgroup2 mount>/vexxy/<name>, which holds no controllers and
 * exists only to name the workload. On a pure v2 host the runtime's cgroup is that
 * directory already.
 *
 * Accounting is read before the runtime deletes the cgroups: memory peak and OOM kills
 * (v1 memory.max_usage_in_bytes + memory.oom_control's oom_kill; v2 memory.peak +
 * memory.events), refused forks (pids.events "max"), CPU time (cpuacct.usage / cpu.stat).
 */
#include "common/setup.h"

#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_xasprintf */
#include "common/err.h"

#define CG_ROOT    "/sys/fs/cgroup"
#define CG_UNIFIED "/sys/fs/cgroup/unified"

static bool is_cgroup2(const char *path)
{
    struct statfs st;

    return statfs(path, &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

enum vx_sbx_cgmode vx_sbx_cgroup_mode(void)
{
    if (is_cgroup2(CG_ROOT))
        return VX_SBX_CG_V2;
    if (is_cgroup2(CG_UNIFIED))
        return VX_SBX_CG_HYBRID;
    return VX_SBX_CG_V1;
}

char *vx_sbx_cgroup_v2_path(enum vx_sbx_cgmode mode, const char *name)
{
    if (mode == VX_SBX_CG_V2)
        return vx_xasprintf(CG_ROOT "/vexxy/%s", name);
    if (mode == VX_SBX_CG_HYBRID)
        return vx_xasprintf(CG_UNIFIED "/vexxy/%s", name);
    return NULL;
}

int vx_sbx_cgroup_v2_make(const char *path, struct vx_err **err)
{
    char *parent = vx_xstrdup(path), *slash = strrchr(parent, '/');
    int rc = 0;

    if (slash)
        *slash = '\0';
    if (mkdir(parent, 0755) < 0 && errno != EEXIST)
        rc = vx_err_set(err, VX_E_SANDBOX, errno, "mkdir '%s': %s", parent, strerror(errno));
    else if (mkdir(path, 0755) < 0 && errno != EEXIST)
        rc = vx_err_set(err, VX_E_SANDBOX, errno, "mkdir '%s': %s", path, strerror(errno));
    free(parent);
    return rc;
}

static int write_str(const char *path, const char *s)
{
    FILE *f = fopen(path, "we");
    int rc = 0;

    if (!f)
        return -errno;
    if (fputs(s, f) < 0)
        rc = -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

int vx_sbx_cgroup_v2_attach(const char *path, pid_t pid, struct vx_err **err)
{
    char *procs = vx_xasprintf("%s/cgroup.procs", path), num[32];
    int rc;

    snprintf(num, sizeof(num), "%d\n", (int)pid);
    rc = write_str(procs, num);
    free(procs);
    if (rc < 0)
        return vx_err_set(err, VX_E_SANDBOX, -rc, "move pid %d into '%s': %s", (int)pid, path,
                          strerror(-rc));
    return 0;
}

int vx_sbx_cgroup_v2_remove(const char *path, struct vx_err **err)
{
    char *kill_file, *procs;
    struct timespec ts = {0, 10 * 1000 * 1000};

    if (!path)
        return 0;
    kill_file = vx_xasprintf("%s/cgroup.kill", path);
    procs = vx_xasprintf("%s/cgroup.procs", path);
    for (int i = 0; i < 100; i++) {
        if (rmdir(path) == 0 || errno == ENOENT)
            break;
        if (errno != EBUSY) {
            int e = errno;

            free(kill_file);
            free(procs);
            return vx_err_set(err, VX_E_SANDBOX, e, "rmdir '%s': %s", path, strerror(e));
        }
        if (i == 0 && write_str(kill_file, "1") < 0) {
            /* no cgroup.kill (kernel < 5.14): kill the listed pids one by one */
            char *list = vx_sbx_read_small(procs), *p = list;

            while (p && *p) {
                long pid = strtol(p, &p, 10);

                if (pid > 0)
                    kill((pid_t)pid, SIGKILL);
                while (*p == '\n')
                    p++;
            }
            free(list);
        }
        nanosleep(&ts, NULL);
    }
    free(kill_file);
    free(procs);
    if (access(path, F_OK) == 0)
        return vx_err_set(err, VX_E_SANDBOX, EBUSY, "cgroup '%s' still busy after 1 s", path);
    return 0;
}

/* The integer after 'key ' in a "key value" per line file, or -1. */
static int64_t keyed(const char *path, const char *key)
{
    char *text = vx_sbx_read_small(path), *p;
    size_t kl = strlen(key);
    int64_t v = -1;

    for (p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
        if (!strncmp(p, key, kl) && p[kl] == ' ') {
            v = strtoll(p + kl + 1, NULL, 10);
            break;
        }
    }
    free(text);
    return v;
}

static int64_t single(const char *path)
{
    char *text = vx_sbx_read_small(path);
    int64_t v = -1;

    if (text && *text >= '0' && *text <= '9')
        v = strtoll(text, NULL, 10);
    free(text);
    return v;
}

void vx_sbx_cgroup_stats(enum vx_sbx_cgmode mode, const char *cgroups_path,
                         struct vx_sandbox_exit *ex)
{
    char *p;
    int64_t v;

    if (mode == VX_SBX_CG_V2) {
        p = vx_xasprintf(CG_ROOT "%s/memory.events", cgroups_path);
        ex->oom_killed = ex->oom_killed || keyed(p, "oom_kill") > 0;
        free(p);
        p = vx_xasprintf(CG_ROOT "%s/memory.peak", cgroups_path);
        if ((v = single(p)) >= 0)
            ex->memory_peak_bytes = v;
        free(p);
        p = vx_xasprintf(CG_ROOT "%s/pids.events", cgroups_path);
        ex->pids_limited = ex->pids_limited || keyed(p, "max") > 0;
        free(p);
        p = vx_xasprintf(CG_ROOT "%s/cpu.stat", cgroups_path);
        if ((v = keyed(p, "usage_usec")) >= 0)
            ex->cpu_usec = v;
        free(p);
        return;
    }
    p = vx_xasprintf(CG_ROOT "/memory%s/memory.oom_control", cgroups_path);
    ex->oom_killed = ex->oom_killed || keyed(p, "oom_kill") > 0;
    free(p);
    p = vx_xasprintf(CG_ROOT "/memory%s/memory.max_usage_in_bytes", cgroups_path);
    if ((v = single(p)) >= 0)
        ex->memory_peak_bytes = v;
    free(p);
    p = vx_xasprintf(CG_ROOT "/pids%s/pids.events", cgroups_path);
    ex->pids_limited = ex->pids_limited || keyed(p, "max") > 0;
    free(p);
    p = vx_xasprintf(CG_ROOT "/cpuacct%s/cpuacct.usage", cgroups_path);
    if ((v = single(p)) >= 0)
        ex->cpu_usec = v / 1000;
    free(p);
}

void vx_sbx_cgroup_remove_all(enum vx_sbx_cgmode mode, const char *cgroups_path)
{
    static const char *const v1[] = {"cpu",        "cpuacct", "cpuset", "memory",  "devices",
                                     "freezer",    "blkio",   "pids",   "net_cls", "net_prio",
                                     "perf_event", "hugetlb", "rdma",   "misc",    "systemd"};
    char *p;

    if (mode == VX_SBX_CG_V2) {
        p = vx_xasprintf(CG_ROOT "%s", cgroups_path);
        (void)vx_sbx_cgroup_v2_remove(p, NULL);
        free(p);
        return;
    }
    for (size_t i = 0; i < VX_ARRAY_SIZE(v1); i++) {
        p = vx_xasprintf(CG_ROOT "/%s%s", v1[i], cgroups_path);
        (void)rmdir(p);
        free(p);
    }
    if (mode == VX_SBX_CG_HYBRID) {
        p = vx_xasprintf(CG_UNIFIED "%s", cgroups_path);
        (void)rmdir(p);
        free(p);
    }
}
