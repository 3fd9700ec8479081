/* probe.c -- can this host run sandboxes? (vx_sandbox_probe, `vexxy sandbox probe`)
 *
 * Checks, in the order a failure is easiest to act on: the runtime binary runs; user
 * namespaces are enabled (/proc/sys/user/max_user_namespaces); overlayfs is known to the
 * kernel; seccomp filters are available (Seccomp in /proc/self/status); the cgroup layout
 * (v1 / hybrid / v2) gives a v2 directory for the tracer; and crun's known refusal of
 * hybrid hosts (crun 1.8 aborts on the v1 controllers + /sys/fs/cgroup/unified layout).
 * The error lists every problem found, separated by "; ".
 */
#include "common/setup.h"

#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

#include <sys/wait.h>

#include "common/alloc.h" /* vx_xasprintf */
#include "common/buf.h"   /* the message */
#include "common/err.h"

static bool file_has(const char *path, const char *needle)
{
    char *t = vx_sbx_read_small(path);
    bool r = t && strstr(t, needle);

    free(t);
    return r;
}

int vx_sandbox_probe(const char *runtime, struct vx_err **err)
{
    struct vx_buf msg = VX_BUF_INIT(4096), out = VX_BUF_INIT(4096);
    const char *rt = runtime && *runtime ? runtime : "runc";
    char *path = NULL, *t;
    enum vx_sbx_cgmode mode = vx_sbx_cgroup_mode();
    int status = 0, rc = 0;

    if (strcmp(rt, "runc") && strcmp(rt, "crun")) {
        vx_buf_addf(&msg, "runtime '%s' is not runc or crun; ", rt);
    } else if (!(path = vx_sbx_find_exe(rt))) {
        vx_buf_addf(&msg, "'%s' is not installed (Debian package %s); ", rt, rt);
    } else {
        char *argv[] = {path, "--version", NULL};
        struct vx_err *e = NULL;

        if (vx_sbx_run(argv, 10000, &out, &status, &e) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            vx_buf_addf(&msg, "'%s --version' failed; ", path);
        vx_err_free(&e);
    }
    t = vx_sbx_read_small("/proc/sys/user/max_user_namespaces");
    if (!t || strtol(t, NULL, 10) <= 0)
        vx_buf_adds(&msg, "user namespaces are disabled (user.max_user_namespaces); ");
    free(t);
    if (!file_has("/proc/filesystems", "\toverlay\n"))
        vx_buf_adds(&msg, "the kernel has no overlayfs; ");
    if (!file_has("/proc/self/status", "Seccomp:"))
        vx_buf_adds(&msg, "the kernel has no seccomp; ");
    if (mode == VX_SBX_CG_V1)
        vx_buf_adds(&msg, "no cgroup v2 hierarchy (neither /sys/fs/cgroup nor "
                          "/sys/fs/cgroup/unified): the tracer's cgroup filter needs one; ");
    if (!strcmp(rt, "crun") && mode == VX_SBX_CG_HYBRID)
        vx_buf_adds(&msg, "crun cannot run containers on this host's hybrid cgroup layout "
                          "(crun 1.8 refuses v1 controllers with cgroup2 at "
                          "/sys/fs/cgroup/unified); use runc; ");
    if (msg.len) {
        msg.len -= 2; /* the last "; " */
        msg.data[msg.len] = '\0';
        rc = vx_err_set(err, VX_E_UNAVAILABLE, 0, "sandbox: %s", vx_buf_str(&msg));
    }
    vx_buf_release(&msg);
    vx_buf_release(&out);
    free(path);
    return rc;
}
