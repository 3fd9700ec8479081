/* tester.c -- the client's test_script, run in a second locked-down container.
 *
 * The script is untrusted, so it gets exactly what a workload gets (container.c, bundle.c):
 * a user namespace with the workload's uid shift, the seccomp allow-list, no_new_privs, the
 * minimal capabilities, masked /proc, cgroup limits (the module's defaults) and a wall clock
 * (timeout_ms). What differs: its rootfs is the trusted tester image (busybox + curl, Debian
 * packages, scripts/build-tester.sh) instead of the image under analysis, and it joins the
 * workload's network namespace instead of a new one, so 127.0.0.1 is the workload's loopback
 * and there is still no route out. The uid shift is read from the workload's
 * /proc/<pid>/uid_map (the tester rootfs must be shifted by the same amount) and its name is
 * the last component of the workload's cgroup v2 directory, both so that sandbox.h's opaque
 * struct needs no new getter.
 *
 * Output: the script runs as `/bin/sh -c 'exec /bin/sh /script 2>&1'`, so stderr is
 * interleaved with stdout in the order written, in one capped stream.
 */
#include "common/setup.h"

#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_xasprintf */
#include "common/buf.h"   /* TARGET_PORTS */
#include "common/err.h"
#include "common/fs.h" /* vx_fs_remove_tree */
#include "common/log.h"
#include "common/util.h" /* vx_mono_ms */
#include "image/image.h" /* struct vx_image_config (an empty one: the command is ours) */

#define TESTER_SCRIPT_MAX (1 << 20)

void vx_test_script_result_release(struct vx_test_script_result *r)
{
    if (!r)
        return;
    free(r->output);
    r->output = NULL;
}

/* The host uid of container root: "0 <shift> <range>" in the init's uid_map. */
static int workload_shift(pid_t pid, uint32_t *shift, uint32_t *range, struct vx_err **err)
{
    char path[64];
    unsigned long inside = 1, outside = 0, len = 0;
    FILE *f;
    int n;

    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return vx_err_set(err, VX_E_SANDBOX, errno, "test script: workload not running ('%s': %s)",
                          path, strerror(errno));
    n = fscanf(f, "%lu %lu %lu", &inside, &outside, &len);
    fclose(f);
    if (n != 3 || inside != 0 || len == 0 || outside > UINT32_MAX || len > UINT32_MAX)
        return vx_err_set(err, VX_E_SANDBOX, 0, "test script: cannot read the workload's uid map");
    /* identity map = no user namespace: the tester runs without one too (tests only) */
    *shift = outside == 0 && len == 4294967295UL ? 0 : (uint32_t)outside;
    *range = (uint32_t)len;
    return 0;
}

static char *tester_name(const struct vx_sandbox *workload)
{
    const char *cg = vx_sandbox_cgroup_v2(workload), *base = strrchr(cg, '/');

    if (base && base[1] && strlen(base + 1) <= 59)
        return vx_xasprintf("%s-test", base + 1);
    return vx_xasprintf("vx-test-%d", (int)vx_sandbox_pid(workload));
}

static int write_script(const char *path, const char *text, struct vx_err **err)
{
    size_t len = strlen(text);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644), rc = 0;

    if (fd < 0)
        return vx_err_set(err, VX_E_IO, errno, "test script: create '%s': %s", path,
                          strerror(errno));
    /* read by the container's root, a host uid of its own: world-readable, never writable */
    if (fchmod(fd, 0644) < 0 || write(fd, text, len) != (ssize_t)len)
        rc = vx_err_set(err, VX_E_IO, errno, "test script: write '%s': %s", path, strerror(errno));
    if (close(fd) < 0 && rc == 0)
        rc = vx_err_set(err, VX_E_IO, errno, "test script: write '%s': %s", path, strerror(errno));
    return rc;
}

int vx_sandbox_run_test_script(const struct vx_sandbox *workload, const char *tester_rootfs,
                               const char *script_text, const int *ports, size_t n_ports,
                               int64_t timeout_ms, const char *state_dir, const char *job_dir,
                               bool (*should_stop)(void *arg), void *stop_arg,
                               struct vx_test_script_result *out, struct vx_err **err)
{
    static char *const command[] = {"/bin/sh", "-c", "exec /bin/sh /script 2>&1", NULL};
    struct vx_image_config empty = {0};
    struct vx_sandbox_config cfg = {0};
    struct vx_sandbox *sb = NULL;
    struct vx_sandbox_exit ex = {0};
    struct vx_buf tp = VX_BUF_INIT(8192);
    char *dir = NULL, *script = NULL, *bind = NULL, *name = NULL, *env_ports = NULL;
    char *binds[1], *env[4];
    bool running = false;
    uint32_t shift = 0, range = 0;
    int64_t t0;
    struct stat st;
    int rc, x;

    memset(out, 0, sizeof(*out));
    out->exit_code = -1;
    if (!workload || vx_sandbox_pid(workload) <= 0 || !tester_rootfs || !script_text ||
        !state_dir || !job_dir || timeout_ms <= 0)
        return vx_err_set(err, VX_E_INVALID, 0,
                          "test script: workload, tester rootfs, script, state and job dirs and "
                          "a timeout are required");
    if (strlen(script_text) > TESTER_SCRIPT_MAX)
        return vx_err_set(err, VX_E_INVALID, 0, "test script: over %d bytes", TESTER_SCRIPT_MAX);
    if (stat(tester_rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
        return vx_err_set(err, VX_E_INVALID, errno,
                          "test script: tester rootfs '%s' is not a directory "
                          "(scripts/build-tester.sh builds it)",
                          tester_rootfs);
    if ((rc = workload_shift(vx_sandbox_pid(workload), &shift, &range, err)) < 0)
        return rc;
    if (shift && st.st_uid != shift)
        return vx_err_set(err, VX_E_INVALID, 0,
                          "test script: tester rootfs '%s' is owned by uid %u, not the workload's "
                          "container root %u (build it with --uid-shift %u)",
                          tester_rootfs, (unsigned)st.st_uid, shift, shift);
    for (size_t i = 0; i < n_ports; i++)
        (void)vx_buf_addf(&tp, "%s%d", i ? "," : "", ports[i]);

    dir = vx_xasprintf("%s/tester", job_dir);
    if (mkdir(dir, 0711) < 0) {
        rc = vx_err_set(err, errno == EEXIST ? VX_E_CONFLICT : VX_E_IO, errno,
                        "test script: mkdir '%s': %s", dir, strerror(errno));
        free(dir); /* not ours: never removed */
        dir = NULL;
        goto out;
    }
    (void)chmod(dir, 0711); /* the runtime reaches the rootfs from the user namespace */
    script = vx_xasprintf("%s/script", dir);
    if ((rc = write_script(script, script_text, err)) < 0)
        goto out;
    bind = vx_xasprintf("%s:/script", script);
    binds[0] = bind;
    env_ports = vx_xasprintf("TARGET_PORTS=%s", vx_buf_str(&tp));
    env[0] = "TARGET_HOST=127.0.0.1";
    env[1] = env_ports;
    env[2] = "HOME=/root";
    env[3] = "PATH=/usr/bin:/bin";
    name = tester_name(workload);

    cfg.state_dir = state_dir;
    cfg.job_dir = dir;
    cfg.name = name;
    cfg.rootfs = tester_rootfs;
    cfg.image = &empty;
    cfg.command = command;
    cfg.n_command = 3;
    cfg.env = env;
    cfg.n_env = 4;
    cfg.hostname = "tester";
    cfg.uid_shift = shift;
    cfg.id_range = range;
    cfg.allow_no_userns = shift == 0;
    cfg.limits.wall_ms = timeout_ms;
    cfg.limits.log_bytes = VX_TEST_SCRIPT_OUTPUT_MAX;
    cfg.share_net_with = workload;
    cfg.ro_binds = binds;
    cfg.n_ro_binds = 1;

    if ((rc = vx_sandbox_create(&cfg, &sb, err)) < 0)
        goto out;
    if ((rc = vx_sandbox_start(sb, err)) < 0)
        goto out;
    out->ran = true;
    t0 = vx_mono_ms();
    /* in 200 ms steps (a cancel is seen within that), until the monitor's wall-clock kill
     * at timeout_ms, plus its slack */
    do {
        if (should_stop && should_stop(stop_arg)) {
            (void)vx_sandbox_stop(sb, 0, &ex, NULL);
            rc = vx_err_set(err, VX_E_CANCELLED, 0, "test script: stopped while it ran");
            goto out;
        }
        if ((rc = vx_sandbox_wait(sb, should_stop ? 200 : -1, &running, err)) < 0)
            goto out;
    } while (running && should_stop && vx_mono_ms() - t0 < timeout_ms + 2000);
    if ((rc = vx_sandbox_stop(sb, 0, &ex, err)) < 0)
        goto out;
    out->exit_code = ex.exited ? ex.exit_code : -1;
    out->signal = ex.signal;
    out->timed_out = ex.timed_out || running;
    out->ran_ms = ex.ran_ms;
    out->output = vx_xstrdup(vx_sandbox_stdout(sb));
    vx_info("test script: exit %d%s in %" PRId64 " ms", out->exit_code,
            out->timed_out ? " (timed out)" : "", out->ran_ms);
out:
    if (sb && (x = vx_sandbox_destroy(sb, rc < 0 ? NULL : err)) < 0 && rc == 0)
        rc = x;
    if (dir && (x = vx_fs_remove_tree(dir, rc < 0 ? NULL : err)) < 0 && rc == 0)
        rc = x;
    if (rc < 0)
        vx_test_script_result_release(out);
    vx_buf_release(&tp);
    free(dir);
    free(script);
    free(bind);
    free(name);
    free(env_ports);
    return rc;
}
