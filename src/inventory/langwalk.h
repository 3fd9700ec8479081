/* langwalk.h -- helpers shared by the language-ecosystem scanners (rpm.c, python.c, npm.c,
 * golang.c, java.c): opening a file inside the rootfs without leaving it, reading it with a
 * cap, walking the tree with bounds, and lexical path normalisation. Private to the module.
 */
#ifndef VX_INVENTORY_LANGWALK_H
#define VX_INVENTORY_LANGWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_buf;
struct vx_err;
struct vx_inv_scan;

/* Opens rootfs-relative rel with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from
 * rootfd (component-by-component with O_NOFOLLOW on kernels without openat2). Returns an fd
 * the caller closes, or -errno. */
int vx_lang_open(int rootfd, const char *rel, int flags);

/* Reads all of fd (from its current offset) into b; -VX_E_TOO_LARGE past max bytes,
 * -VX_E_IO on a read error. 'what' names the file in messages. */
int vx_lang_read_fd(int fd, size_t max, struct vx_buf *b, const char *what, struct vx_err **err);
/* vx_lang_open + vx_lang_read_fd; -VX_E_NOT_FOUND when rel is absent. */
int vx_lang_read(int rootfd, const char *rel, size_t max, struct vx_buf *b, struct vx_err **err);

/* A bounded depth-first walk of the rootfs that never follows a symlink. Entries of a
 * directory are visited in byte order of their names (reproducible warnings). */
struct vx_lang_walk {
    const struct vx_inv_scan *sc;
    int max_depth;       /* directories deeper than this are not opened */
    int64_t max_entries; /* the walk stops (truncated) after this many entries */
    int64_t n_entries;
    bool truncated; /* max_entries reached */
    /* Called for every entry; rel is rootfs-relative ("usr/lib/x"), dirfd the directory
     * holding it, type a DT_* value. Return 0 to go on (and descend into a directory), 1 to
     * not descend, or a negative code (with *err set) to stop the walk. */
    int (*visit)(struct vx_lang_walk *w, int dirfd, const char *name, const char *rel,
                 unsigned char type, struct vx_err **err);
    void *ctx;
};
/* Walks from rootfs-relative start ("" or "." for the root). proc, sys and dev at the top
 * of the rootfs are never entered. A start that does not exist is not an error. */
int vx_lang_walk_run(struct vx_lang_walk *w, const char *start, struct vx_err **err);

/* Joins dir and rel ("/usr/lib/python3/site-packages" + "../../bin/x") and normalises
 * lexically ("//", ".", ".."). Returns a new absolute path, or NULL when it would climb
 * above "/" (caller frees). */
char *vx_lang_path_join(const char *dir, const char *rel);

/* True when s ends with suffix. */
bool vx_lang_ends_with(const char *s, const char *suffix);

#endif
