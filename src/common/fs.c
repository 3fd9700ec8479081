/* fs.c -- mkdir -p and a symlink-safe rm -rf (see fs.h).
 *
 * The tree walk works on directory fds: each child directory is opened with
 * O_NOFOLLOW|O_DIRECTORY relative to its parent, so a symlink planted in the tree (an
 * image rootfs is hostile input) is unlinked as a link and never entered.
 */
#include "common/setup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/alloc.h"
#include "common/err.h"

int vx_fs_mkdirs(const char *path, unsigned mode, struct vx_err **err)
{
    char *p = vx_xstrdup(path);
    int rc = 0;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = vx_err_set(err, VX_E_IO, errno, "create directory '%s'", p);
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        rc = vx_err_set(err, VX_E_IO, errno, "create directory '%s'", p);
out:
    free(p);
    return rc;
}

/* Empties the directory open as dfd (takes ownership of dfd). depth bounds recursion. */
static int empty_dir(int dfd, const char *path, int depth, struct vx_err **err)
{
    DIR *d = fdopendir(dfd);
    struct dirent *de;
    int rc = 0;

    if (!d) {
        close(dfd);
        return vx_err_set(err, VX_E_IO, errno, "open directory '%s'", path);
    }
    if (depth > 4096) {
        closedir(d);
        return vx_err_set(err, VX_E_IO, 0, "directory tree under '%s' is too deep", path);
    }
    while ((de = readdir(d)) != NULL) {
        int cfd;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            continue;
        if (errno != EISDIR && errno != EPERM) {
            if (errno == ENOENT)
                continue;
            rc = vx_err_set(err, VX_E_IO, errno, "remove '%s/%s'", path, de->d_name);
            break;
        }
        cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0) {
            rc = vx_err_set(err, VX_E_IO, errno, "open '%s/%s'", path, de->d_name);
            break;
        }
        (void)fchmod(cfd, 0700); /* best effort: an image may ship read-only directories */
        rc = empty_dir(cfd, de->d_name, depth + 1, err);
        if (rc < 0)
            break;
        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
            rc = vx_err_set(err, VX_E_IO, errno, "remove directory '%s/%s'", path, de->d_name);
            break;
        }
    }
    closedir(d);
    return rc;
}

int vx_fs_remove_tree(const char *path, struct vx_err **err)
{
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : vx_err_set(err, VX_E_IO, errno, "stat '%s'", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return vx_err_set(err, VX_E_IO, errno, "remove '%s'", path);
        return 0;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return vx_err_set(err, VX_E_IO, errno, "open '%s'", path);
    (void)fchmod(fd, 0700);
    rc = empty_dir(fd, path, 0, err);
    if (rc < 0)
        return rc;
    if (rmdir(path) < 0 && errno != ENOENT)
        return vx_err_set(err, VX_E_IO, errno, "remove directory '%s'", path);
    return 0;
}
