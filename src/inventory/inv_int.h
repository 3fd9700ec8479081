/* inv_int.h -- internal interfaces between the files of the inventory module: the scan
 * context each ecosystem scanner receives, and the scanners scan.c runs in order. Not part
 * of the module contract. */
#ifndef VX_INVENTORY_INV_INT_H
#define VX_INVENTORY_INV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct vx_err;
struct vx_inventory;
struct vx_inventory_opts;

/* What a scanner gets: the rootfs both as a path (for messages and nftw-style walks) and as
 * an O_PATH directory fd (open files with openat2(RESOLVE_IN_ROOT) through
 * vx_inv_read_file so that a symlink in the image never leads outside it). */
struct vx_inv_scan {
    const char *rootfs;                    /* absolute or relative path of the rootfs dir */
    int rootfd;                            /* O_PATH|O_DIRECTORY of rootfs */
    const struct vx_inventory_opts *opts;  /* never NULL (defaults filled in) */
    struct vx_inventory *inv;
};

/* Reads rootfs-relative 'rel' (resolved inside the root) into b, at most max bytes
 * (-VX_E_TOO_LARGE naming the file beyond that). -VX_E_NOT_FOUND when absent. scan.c. */
int vx_inv_read_file(const struct vx_inv_scan *sc, const char *rel, size_t max, struct vx_buf *b,
                     struct vx_err **err);

/* One ecosystem. A scanner that finds no database of its kind returns 0 having added
 * nothing; a database that is there but unreadable as a whole is an error naming it; a bad
 * entry is a warning (vx_inventory_warn) and is skipped. */
typedef int (*vx_inv_scanner_fn)(const struct vx_inv_scan *sc, struct vx_err **err);

int vx_inv_scan_dpkg(const struct vx_inv_scan *sc, struct vx_err **err);   /* dpkg.c */
int vx_inv_scan_apk(const struct vx_inv_scan *sc, struct vx_err **err);    /* apk.c */
int vx_inv_scan_rpm(const struct vx_inv_scan *sc, struct vx_err **err);    /* rpm.c */
int vx_inv_scan_python(const struct vx_inv_scan *sc, struct vx_err **err); /* python.c */
int vx_inv_scan_npm(const struct vx_inv_scan *sc, struct vx_err **err);    /* npm.c */
int vx_inv_scan_go(const struct vx_inv_scan *sc, struct vx_err **err);     /* golang.c */
int vx_inv_scan_java(const struct vx_inv_scan *sc, struct vx_err **err);   /* java.c */

#endif
