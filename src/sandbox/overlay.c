/* overlay.c -- the per-job overlayfs a sandbox sees as its root.
 *
 * The unpacked image (ownership already shifted for the user namespace) is the read-only
 * lower dir, shared by every job of that image and never written: a fresh upper dir takes
 * every change, and is removed with the job. upper/ and work/ belong to the container's
 * root on the host (uid_shift), because the merged root directory takes the upper dir's
 * owner and mode: the container's root owns its "/" as it would in a normal image.
 */
#include "common/setup.h"

#include "sandbox/sandbox_int.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_xasprintf */
#include "common/err.h"

static int mkdir_owned(const char *path, uid_t uid, gid_t gid, struct vx_err **err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return vx_err_set(err, VX_E_IO, errno, "mkdir '%s': %s", path, strerror(errno));
    if (chown(path, uid, gid) < 0)
        return vx_err_set(err, VX_E_IO, errno, "chown '%s': %s", path, strerror(errno));
    /* chown clears nothing on a directory, but the mode must not depend on the umask */
    if (chmod(path, 0755) < 0)
        return vx_err_set(err, VX_E_IO, errno, "chmod '%s': %s", path, strerror(errno));
    return 0;
}

int vx_sbx_overlay_mount(const char *lower, const char *dir, uid_t uid, gid_t gid, char **merged,
                         struct vx_err **err)
{
    char *upper = vx_xasprintf("%s/upper", dir), *work = vx_xasprintf("%s/work", dir);
    char *mnt = vx_xasprintf("%s/merged", dir), *data = NULL;
    int rc;

    /* overlayfs splits its options on ',' and lowerdir on ':'; '\\' escapes */
    if (strpbrk(lower, ",:\\") || strpbrk(dir, ",:\\")) {
        rc = vx_err_set(err, VX_E_INVALID, 0,
                        "overlay paths may not contain ',', ':' or '\\': "
                        "'%s', '%s'",
                        lower, dir);
        goto out;
    }
    if ((rc = mkdir_owned(upper, uid, gid, err)) < 0 || (rc = mkdir_owned(work, 0, 0, err)) < 0 ||
        (rc = mkdir_owned(mnt, 0, 0, err)) < 0)
        goto out;
    if (chmod(work, 0700) < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "chmod '%s': %s", work, strerror(errno));
        goto out;
    }
    data = vx_xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    if (mount("overlay", mnt, "overlay", MS_NODEV, data) < 0) {
        rc =
            vx_err_set(err, VX_E_SANDBOX, errno, "mount overlay on '%s': %s", mnt, strerror(errno));
        goto out;
    }
    *merged = mnt;
    mnt = NULL;
    rc = 0;
out:
    free(upper);
    free(work);
    free(mnt);
    free(data);
    return rc;
}

bool vx_sbx_is_mounted(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t cap = 0;
    bool found = false;

    if (!f)
        return false;
    while (!found && getline(&line, &cap, f) > 0) {
        /* "id parent maj:min root mountpoint ..." with octal escapes for spaces */
        char mp[4096];

        if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && !strcmp(mp, path))
            found = true;
    }
    free(line);
    fclose(f);
    return found;
}

int vx_sbx_overlay_umount(const char *merged, struct vx_err **err)
{
    if (!merged)
        return 0;
    if (umount2(merged, UMOUNT_NOFOLLOW) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOENT)
        return 0; /* not a mount point (any more) */
    if (errno == EBUSY && umount2(merged, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        return 0;
    return vx_err_set(err, VX_E_SANDBOX, errno, "umount '%s': %s", merged, strerror(errno));
}
