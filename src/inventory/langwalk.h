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
struct vx_inventory;
struct vx_pkg;

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

/* Packages that several files bundle (a Go module in many binaries, a jar in many wars) are
 * added once and own every such file: a table from "type name version namespace" to the
 * package index in the inventory. */
struct vx_lang_dedup {
    char **keys;
    size_t *idx;
    size_t n, cap; /* cap is a power of two (open addressing) */
};
/* The package of that identity: found, or added (namespace may be NULL). Its index is
 * returned; &inv->pkgs[index] stays valid until the next add. */
size_t vx_lang_dedup_get(struct vx_lang_dedup *d, struct vx_inventory *inv, int type,
                         const char *name, const char *version, const char *namespace, bool *added);
void vx_lang_dedup_release(struct vx_lang_dedup *d);
/* True when pkg lists path already (linear: for the few files a bundled package owns). */
bool vx_lang_pkg_has_file(const struct vx_pkg *pkg, const char *path);

/* True when s ends with suffix. */
bool vx_lang_ends_with(const char *s, const char *suffix);

#endif
