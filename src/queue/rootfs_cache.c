/* rootfs_cache.c -- unpacked images shared by the analyses of one host.
 *
 * DESIGN
 * The image phase used to unpack every job's image into its own job directory; on ext4 that
 * is most of an analysis's time outside the observation window (thousands of inode
 * creations), and the unpacked tree is only ever read: the inventory reads it, the sandbox
 * uses it as the read-only lower dir of a per-job overlay. So an unpacked image is kept in
 *   <data_dir>/rootfs/<manifest hex>-<uid shift hex>/{rootfs/, report.json, lock}
 * and reused by every later analysis of the same platform manifest with the same ownership
 * shift (the digest covers every layer: the same key is the same tree).
 * Locking (flock on `lock`, across processes and threads of one host):
 *   a user holds LOCK_SH from before it reads report.json until its job ends (the fd lives in
 *   the pipeline state); a builder takes LOCK_EX, unpacks, writes report.json last (tmp +
 *   rename: a tree without it is never used) and downgrades to LOCK_SH; an evicter removes
 *   an entry only when it gets LOCK_EX without waiting (nobody uses it), report.json first.
 * Eviction keeps at most max_entries entries, least recently used first (report.json's mtime
 * is touched on every use), never the one being acquired.
 */
#include "common/setup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/queue_int.h"
#include "image/image.h" /* vx_image_unpack */
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"

#define REPORT_MAX (1u << 20)

static int write_report(const char *dir, const struct vx_unpack_report *rep, struct vx_err **err)
{
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:[]}", "entries", (json_int_t)rep->entries, "bytes",
                          (json_int_t)rep->bytes, "whiteouts", (json_int_t)rep->whiteouts,
                          "skipped_devices", (json_int_t)rep->skipped_devices, "skipped");
    char *doc, *tmp = vx_xasprintf("%s/report.json.tmp", dir);
    char *path = vx_xasprintf("%s/report.json", dir);
    int fd, rc = 0;

    for (size_t i = 0; i < rep->n_skipped; i++)
        json_array_append_new(json_object_get(o, "skipped"), json_string(rep->skipped[i]));
    doc = vx_json_dump(o);
    json_decref(o);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, doc, strlen(doc)) != (ssize_t)strlen(doc) || fsync(fd) < 0)
        rc = vx_err_set(err, VX_E_IO, errno, "rootfs cache: write '%s': %s", tmp, strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = vx_err_set(err, VX_E_IO, errno, "rootfs cache: rename '%s': %s", tmp, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    free(doc);
    free(tmp);
    free(path);
    return rc;
}

/* 1 when report.json exists and was read into rep, 0 when absent, -code on error. */
static int read_report(const char *dir, struct vx_unpack_report *rep, struct vx_err **err)
{
    char *path = vx_xasprintf("%s/report.json", dir), *buf;
    json_t *o = NULL, *sk;
    ssize_t n;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? 0
                             : vx_err_set(err, VX_E_IO, errno, "rootfs cache: open '%s': %s", path,
                                          strerror(errno));
        free(path);
        return rc;
    }
    buf = vx_xmalloc(REPORT_MAX);
    n = read(fd, buf, REPORT_MAX - 1);
    close(fd);
    (void)utimensat(AT_FDCWD, path, NULL, 0); /* recently used */
    rc = n < 0 ? vx_err_set(err, VX_E_IO, errno, "rootfs cache: read '%s'", path)
               : vx_json_parse(buf, (size_t)n, &o, err);
    free(path);
    free(buf);
    if (rc < 0)
        return rc;
    memset(rep, 0, sizeof(*rep));
    rep->entries = json_integer_value(json_object_get(o, "entries"));
    rep->bytes = json_integer_value(json_object_get(o, "bytes"));
    rep->whiteouts = json_integer_value(json_object_get(o, "whiteouts"));
    rep->skipped_devices = json_integer_value(json_object_get(o, "skipped_devices"));
    sk = json_object_get(o, "skipped");
    rep->skipped = vx_xcalloc(json_array_size(sk) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(sk); i++)
        if (json_is_string(json_array_get(sk, i)))
            rep->skipped[rep->n_skipped++] = vx_xstrdup(json_string_value(json_array_get(sk, i)));
    json_decref(o);
    return 1;
}

struct entry {
    char *name;
    struct timespec used;
};

static int by_age(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;

    if (x->used.tv_sec != y->used.tv_sec)
        return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
    return (x->used.tv_nsec > y->used.tv_nsec) - (x->used.tv_nsec < y->used.tv_nsec);
}

/* Removes the least recently used entries nobody holds until at most max remain (keep is
 * never removed). Failures are logged: eviction never fails an analysis. */
static void evict(const char *base, const char *keep, int max)
{
    struct entry *e = NULL;
    size_t n = 0, cap = 0;
    struct dirent *d;
    DIR *dir = opendir(base);

    if (!dir)
        return;
    while ((d = readdir(dir)) != NULL) {
        char *rp;
        struct stat st;

        if (d->d_name[0] == '.' || strcmp(d->d_name, keep) == 0)
            continue;
        rp = vx_xasprintf("%s/%s/report.json", base, d->d_name);
        if (stat(rp, &st) < 0)
            st.st_mtim = (struct timespec){0}; /* half-built or evicted: oldest */
        free(rp);
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            e = vx_xrealloc(e, cap * sizeof(*e));
        }
        e[n].name = vx_xstrdup(d->d_name);
        e[n++].used = st.st_mtim;
    }
    closedir(dir);
    if (n == 0)
        return; /* only the entry being acquired (e is NULL: qsort must not see it) */
    qsort(e, n, sizeof(*e), by_age);
    for (size_t i = 0; i < n && n - i + 1 > (size_t)max; i++) {
        char *dirp = vx_xasprintf("%s/%s", base, e[i].name);
        char *lock = vx_xasprintf("%s/lock", dirp), *rp = vx_xasprintf("%s/report.json", dirp);
        struct vx_err *err = NULL;
        int fd = open(lock, O_RDONLY | O_CLOEXEC);

        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
            unlink(rp); /* no longer valid before anything of it goes */
            if (vx_fs_remove_tree(dirp, &err) < 0) {
                vx_warn("rootfs cache: evict '%s': %s", dirp, err->msg);
                vx_err_free(&err);
            } else {
                vx_info("rootfs cache: evicted %s (least recently used)", e[i].name);
            }
        }
        if (fd >= 0)
            close(fd);
        free(dirp);
        free(lock);
        free(rp);
    }
    for (size_t i = 0; i < n; i++)
        free(e[i].name);
    free(e);
}

int vx_rootfs_cache_get(const char *data_dir, const struct vx_image *img,
                        const struct vx_unpack_opts *uopts, int max_entries, char **rootfs,
                        int *lock_fd, struct vx_unpack_report *rep, bool *hit, struct vx_err **err)
{
    const char *digest = img->manifest_digest;
    char *base = vx_xasprintf("%s/rootfs", data_dir), *key = NULL, *dir = NULL, *lock = NULL;
    char *tree = NULL;
    int fd = -1, rc;

    *rootfs = NULL;
    *lock_fd = -1;
    *hit = false;
    if (!digest || strncmp(digest, "sha256:", 7) != 0) {
        rc = vx_err_set(err, VX_E_INTERNAL, 0, "rootfs cache: the image has no sha256 manifest");
        goto out;
    }
    key = vx_xasprintf("%s-%08x", digest + 7, (unsigned)uopts->uid_shift);
    dir = vx_xasprintf("%s/%s", base, key);
    lock = vx_xasprintf("%s/lock", dir);
    tree = vx_xasprintf("%s/rootfs", dir);
    /* an evicter may remove the directory between mkdir and open: try again */
    for (int attempt = 0; fd < 0; attempt++) {
        if ((rc = vx_fs_mkdirs(dir, 0711, err)) < 0)
            goto out;
        (void)chmod(base, 0711); /* the sandbox's user namespace walks down to the tree */
        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 && (errno != ENOENT || attempt == 5)) {
            rc = vx_err_set(err, VX_E_IO, errno, "rootfs cache: open '%s': %s", lock,
                            strerror(errno));
            goto out;
        }
    }
    if (flock(fd, LOCK_SH) < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "rootfs cache: lock '%s'", lock);
        goto out;
    }
    rc = read_report(dir, rep, err);
    if (rc < 0)
        goto out;
    if (rc == 0) {
        /* build it: one builder at a time; the next one finds it done */
        if (flock(fd, LOCK_EX) < 0) {
            rc = vx_err_set(err, VX_E_IO, errno, "rootfs cache: lock '%s'", lock);
            goto out;
        }
        rc = read_report(dir, rep, err);
        if (rc == 0) {
            rc = vx_fs_remove_tree(tree, err); /* a builder that died half-way */
            if (rc == 0)
                rc = vx_image_unpack(img, tree, uopts, rep, err);
            if (rc == 0)
                rc = write_report(dir, rep, err);
            if (rc < 0) {
                struct vx_err *e2 = NULL;

                if (vx_fs_remove_tree(tree, &e2) < 0)
                    vx_err_free(&e2);
                goto out;
            }
        } else if (rc > 0) {
            *hit = true;
        } else {
            goto out;
        }
        if (flock(fd, LOCK_SH) < 0) {
            rc = vx_err_set(err, VX_E_IO, errno, "rootfs cache: lock '%s'", lock);
            goto out;
        }
    } else {
        *hit = true;
    }
    if (max_entries > 0)
        evict(base, key, max_entries);
    *rootfs = tree;
    *lock_fd = fd;
    tree = NULL;
    fd = -1;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(base);
    free(key);
    free(dir);
    free(lock);
    free(tree);
    return rc;
}
