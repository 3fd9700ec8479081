/* reap.c -- the bookkeeping record of a live sandbox, undoing it, and the reaper.
 *
 * DESIGN: vx_sandbox_create writes <state_dir>/vexxy/<name>.json (atomically: temp file +
 * rename) before it makes anything, naming everything it is going to make and its owner
 * (pid + process start time, so a reused pid is not mistaken for the owner). destroy
 * removes the record last. A worker that dies mid-run leaves the record behind; at its next
 * start vx_sandbox_reap() undoes every record whose owner is gone: `runtime delete --force`
 * (which kills the container and removes its v1/v2 cgroups and runtime state), umount of the
 * overlay, rmdir of the extra cgroup v2 directory, removal of <job_dir>/sandbox, then the
 * record. Each step tolerates "already gone", so a reap interrupted half-way is redone.
 * Records of live owners (another worker on the same host) are left alone.
 */
#include "common/setup.h"

#include "sandbox/sandbox.h"
#include "sandbox/sandbox_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_xasprintf */
#include "common/buf.h"   /* runtime output */
#include "common/err.h"
#include "common/fs.h"   /* vx_fs_remove_tree */
#include "common/json.h" /* records */
#include "common/log.h"

char *vx_sbx_record_path(const char *state_dir, const char *name)
{
    return vx_xasprintf("%s/vexxy/%s.json", state_dir, name);
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

int vx_sbx_record_write(const char *path, const struct vx_sbx_record *r, struct vx_err **err)
{
    json_t *o = json_object();
    char *text, *tmp = vx_xasprintf("%s.tmp", path);
    int fd = -1, rc = 0;
    size_t len;

    set_str(o, "name", r->name);
    json_object_set_new(o, "owner_pid", json_integer(r->owner_pid));
    json_object_set_new(o, "owner_start", json_integer((json_int_t)r->owner_start));
    set_str(o, "runtime_path", r->runtime_path);
    set_str(o, "runtime_root", r->runtime_root);
    set_str(o, "sandbox_dir", r->sandbox_dir);
    set_str(o, "merged", r->merged);
    set_str(o, "cgroup_v2", r->cgroup_v2);
    set_str(o, "cgroups_path", r->cgroups_path);
    text = vx_json_dump(o);
    json_decref(o);
    len = strlen(text);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "write '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) < 0)
        rc = vx_err_set(err, VX_E_IO, errno, "rename to '%s': %s", path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(text);
    free(tmp);
    return rc;
}

/* `runtime --root R delete --force name`; "does not exist" counts as done. */
static int runtime_delete(const struct vx_sbx_record *r, struct vx_err **err)
{
    char *argv[] = {(char *)r->runtime_path, "--root", (char *)r->runtime_root, "delete", "--force",
                    (char *)r->name,         NULL};
    struct vx_buf out = VX_BUF_INIT(8192);
    int status = 0, rc;

    rc = vx_sbx_run(argv, 10000, &out, &status, err);
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        const char *o = vx_buf_str(&out);

        if (!strstr(o, "does not exist") && !strstr(o, "not found") && !strstr(o, "No such"))
            rc = vx_err_set(err, VX_E_SANDBOX, 0, "%s delete %s: %s", r->runtime_path, r->name, o);
    }
    vx_buf_release(&out);
    return rc;
}

int vx_sbx_undo(const struct vx_sbx_record *r, struct vx_err **err)
{
    struct vx_err *e = NULL;
    int rc = 0, x;
    enum vx_sbx_cgmode mode = vx_sbx_cgroup_mode();

    if (r->runtime_path && r->runtime_root && r->name) {
        if ((x = runtime_delete(r, &e)) < 0 && rc == 0) {
            rc = x;
            if (err && !*err)
                *err = e, e = NULL;
        }
        vx_err_free(&e);
    }
    if (r->merged && (x = vx_sbx_overlay_umount(r->merged, err)) < 0 && rc == 0)
        rc = x;
    if (r->cgroup_v2 && (x = vx_sbx_cgroup_v2_remove(r->cgroup_v2, err)) < 0 && rc == 0)
        rc = x;
    if (r->cgroups_path)
        vx_sbx_cgroup_remove_all(mode, r->cgroups_path); /* runtime delete did it normally */
    if (r->sandbox_dir && (x = vx_fs_remove_tree(r->sandbox_dir, err)) < 0 && rc == 0)
        rc = x;
    return rc;
}

static bool owner_alive(pid_t pid, uint64_t start)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return false;
    return vx_sbx_proc_start(pid) == start;
}

/* A record's strings must be plain absolute paths / names before anything acts on them:
 * the state dir is root's, but a damaged file must not make the reaper remove '/'. */
static bool sane_path(const char *p)
{
    return !p || (p[0] == '/' && p[1] && !strstr(p, "/../") && !strstr(p, "/./"));
}

static int reap_one(const char *path, bool *reaped, struct vx_err **err)
{
    char *text = vx_sbx_read_small(path);
    json_t *j = NULL;
    struct vx_sbx_record r = {0};
    int rc = 0;

    *reaped = false;
    if (!text || vx_json_parse(text, strlen(text), &j, NULL) < 0 || !json_is_object(j)) {
        vx_warn("sandbox reap: unreadable record '%s' removed", path);
        unlink(path);
        goto out;
    }
    r.name = vx_json_str(j, "name");
    r.owner_pid = (pid_t)json_integer_value(json_object_get(j, "owner_pid"));
    r.owner_start = (uint64_t)json_integer_value(json_object_get(j, "owner_start"));
    if (owner_alive(r.owner_pid, r.owner_start))
        goto out;
    r.runtime_path = vx_json_str(j, "runtime_path");
    r.runtime_root = vx_json_str(j, "runtime_root");
    r.sandbox_dir = vx_json_str(j, "sandbox_dir");
    r.merged = vx_json_str(j, "merged");
    r.cgroup_v2 = vx_json_str(j, "cgroup_v2");
    r.cgroups_path = vx_json_str(j, "cgroups_path");
    if (!r.name || strchr(r.name, '/') || !sane_path(r.runtime_path) ||
        !sane_path(r.runtime_root) || !sane_path(r.sandbox_dir) || !sane_path(r.merged) ||
        !sane_path(r.cgroup_v2) || !sane_path(r.cgroups_path) ||
        (r.cgroup_v2 && strncmp(r.cgroup_v2, "/sys/fs/cgroup/", 15))) {
        rc = vx_err_set(err, VX_E_SANDBOX, 0, "sandbox record '%s' is damaged: left alone", path);
        goto out;
    }
    vx_info("sandbox reap: '%s' of dead pid %d", r.name, (int)r.owner_pid);
    rc = vx_sbx_undo(&r, err);
    if (rc == 0) {
        unlink(path);
        *reaped = true;
    }
out:
    json_decref(j);
    free(text);
    return rc;
}

int vx_sandbox_reap(const char *state_dir, size_t *n_reaped, struct vx_err **err)
{
    char *dir;
    DIR *d;
    struct dirent *de;
    int rc = 0;

    *n_reaped = 0;
    if (!state_dir || !*state_dir)
        return vx_err_set(err, VX_E_INVALID, 0, "sandbox reap: no state dir");
    dir = vx_xasprintf("%s/vexxy", state_dir);
    d = opendir(dir);
    if (!d) {
        int e = errno;

        free(dir);
        if (e == ENOENT)
            return 0;
        return vx_err_set(err, VX_E_IO, e, "open '%s/vexxy': %s", state_dir, strerror(e));
    }
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        char *path;
        bool reaped = false;
        int x;

        if (n <= 5 || strcmp(de->d_name + n - 5, ".json"))
            continue;
        path = vx_xasprintf("%s/%s", dir, de->d_name);
        x = reap_one(path, &reaped, err);
        if (x < 0 && rc == 0)
            rc = x;
        if (reaped)
            (*n_reaped)++;
        free(path);
    }
    closedir(d);
    free(dir);
    return rc;
}
