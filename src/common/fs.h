/* fs.h -- small filesystem helpers that never follow symlinks where it matters. */
#ifndef VX_COMMON_FS_H
#define VX_COMMON_FS_H

struct vx_err;

/* mkdir -p with 'mode' for the last component (0755 for parents). */
int vx_fs_mkdirs(const char *path, unsigned mode, struct vx_err **err);
/* rm -rf that never follows a symlink (unlinkat/openat O_NOFOLLOW walk) and never leaves
 * the tree it was given; a missing path is success. */
int vx_fs_remove_tree(const char *path, struct vx_err **err);

#endif
