/* blobcache.c -- the content-addressed blob cache: <cache>/blobs/sha256/<hex>.
 *
 * DESIGN
 * - A blob only ever appears under its final name after its bytes were hashed (EVP sha256,
 *   while streaming), its size and digest matched, the file was fsync'd and renamed in the
 *   same directory. Readers thus never see partial content.
 * - Cached blobs are re-verified on every lookup (size, then a full sha256). Layers are read
 *   once per pull anyway and sha256 runs at about 1 GB/s, so this costs little and protects
 *   against a cache that was modified or truncated behind our back. A blob that fails is
 *   deleted and fetched again.
 * - Resume: a download with a known digest writes ".<hex>.partial", locked with flock so
 *   that two pulls of the same blob do not interleave (the second one uses a private temp
 *   file and does not resume). A later attempt re-hashes the bytes already there and
 *   continues with an HTTP Range request (registry.c); a server that answers 200 instead
 *   of 206 makes us restart from zero.
 */
#include "common/setup.h"

#include "image/pull_int.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h" /* vx_xasprintf */
#include "common/err.h"   /* vx_err_set */
#include "common/fs.h"    /* vx_fs_mkdirs */
#include "common/util.h"  /* vx_hex, vx_digest_valid */

static const char *hex_of(const char *digest)
{
    return digest + 7; /* after "sha256:" (validated by callers) */
}

char *vx_bc_path(const char *cache_dir, const char *digest)
{
    return vx_xasprintf("%s/blobs/sha256/%s", cache_dir, hex_of(digest));
}

static int hash_fd(int fd, EVP_MD_CTX *md, int64_t *n, struct vx_err **err)
{
    char buf[65536];
    ssize_t r;

    *n = 0;
    while ((r = read(fd, buf, sizeof(buf))) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return vx_err_set(err, VX_E_IO, errno, "read blob: %s", strerror(errno));
        }
        EVP_DigestUpdate(md, buf, (size_t)r);
        *n += r;
    }
    return 0;
}

static void md_digest(EVP_MD_CTX *md, char out[72])
{
    unsigned char d[32];
    unsigned int dl = 0;

    EVP_DigestFinal_ex(md, d, &dl);
    memcpy(out, "sha256:", 7);
    vx_hex(d, 32, out + 7);
}

int vx_bc_lookup(const char *cache_dir, const char *digest, int64_t size, char **path,
                 struct vx_err **err)
{
    char *p = vx_bc_path(cache_dir, digest), got[72];
    EVP_MD_CTX *md = NULL;
    struct stat st;
    int fd = -1, rc = 0;
    int64_t n = 0;

    *path = NULL;
    fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = errno == ENOENT ? -VX_E_NOT_FOUND
                             : vx_err_set(err, VX_E_IO, errno, "open '%s': %s", p, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size >= 0 && st.st_size != size))
        goto bad;
    md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    if ((rc = hash_fd(fd, md, &n, err)) < 0)
        goto out;
    md_digest(md, got);
    if (strcmp(got, digest) != 0)
        goto bad;
    *path = p;
    p = NULL;
    goto out;
bad:
    unlink(p); /* corrupt: fetch again */
    rc = -VX_E_NOT_FOUND;
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(md);
    free(p);
    return rc;
}

int vx_bc_writer_begin(const char *cache_dir, const char *digest, int64_t size, bool resume,
                       struct vx_bc_writer *w, struct vx_err **err)
{
    int rc;

    memset(w, 0, sizeof(*w));
    w->fd = -1;
    w->size = size;
    w->dir = vx_xasprintf("%s/blobs/sha256", cache_dir);
    if ((rc = vx_fs_mkdirs(w->dir, 0755, err)) < 0)
        goto fail;
    w->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
    if (digest) {
        w->digest = vx_xstrdup(digest);
        w->tmp = vx_xasprintf("%s/.%s.partial", w->dir, hex_of(digest));
        w->fd = open(w->tmp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (w->fd >= 0 && flock(w->fd, LOCK_EX | LOCK_NB) == 0) {
            w->resumable = true;
            if (!resume) {
                if (ftruncate(w->fd, 0) < 0) {
                    rc = vx_err_set(err, VX_E_IO, errno, "truncate '%s'", w->tmp);
                    goto fail;
                }
            } else if ((rc = hash_fd(w->fd, w->md, &w->written, err)) < 0) {
                goto fail;
            }
            if (size >= 0 && w->written > size) {
                /* longer than the blob: worthless */
                if ((rc = vx_bc_writer_restart(w, err)) < 0)
                    goto fail;
            }
            return 0;
        }
        if (w->fd >= 0)
            close(w->fd);
        w->fd = -1;
        free(w->tmp);
        w->tmp = NULL;
    }
    w->tmp = vx_xasprintf("%s/.tmp-XXXXXX", w->dir);
    w->fd = mkostemp(w->tmp, O_CLOEXEC);
    if (w->fd < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "create temp file in '%s': %s", w->dir,
                        strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        goto fail;
    }
    return 0;
fail:
    vx_bc_writer_abort(w, true);
    return rc;
}

int vx_bc_writer_restart(struct vx_bc_writer *w, struct vx_err **err)
{
    if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0)
        return vx_err_set(err, VX_E_IO, errno, "truncate '%s': %s", w->tmp, strerror(errno));
    EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
    w->written = 0;
    return 0;
}

int vx_bc_writer_write(struct vx_bc_writer *w, const void *data, size_t len, struct vx_err **err)
{
    const char *p = data;

    if (w->size >= 0 && w->written + (int64_t)len > w->size)
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          "blob %s is larger than the %" PRId64 " bytes its descriptor says",
                          w->digest ? w->digest : "(unnamed)", w->size);
    EVP_DigestUpdate(w->md, data, len);
    while (len > 0) {
        ssize_t r = write(w->fd, p, len);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            return vx_err_set(err, VX_E_IO, errno, "write '%s': %s", w->tmp, strerror(errno));
        }
        p += r;
        len -= (size_t)r;
        w->written += r;
    }
    return 0;
}

void vx_bc_writer_abort(struct vx_bc_writer *w, bool keep)
{
    if (w->fd >= 0) {
        if (!keep || !w->resumable)
            unlink(w->tmp);
        close(w->fd);
    } else if (w->tmp && (!keep || !w->resumable)) {
        unlink(w->tmp);
    }
    EVP_MD_CTX_free(w->md);
    free(w->dir);
    free(w->tmp);
    free(w->digest);
    memset(w, 0, sizeof(*w));
    w->fd = -1;
}

int vx_bc_writer_commit(struct vx_bc_writer *w, char **path, char **digest_out, struct vx_err **err)
{
    char got[72], *final = NULL;
    int rc = 0, dfd = -1;

    *path = NULL;
    md_digest(w->md, got);
    if (w->size >= 0 && w->written != w->size) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        "blob %s: got %" PRId64 " bytes, its descriptor says %" PRId64,
                        w->digest ? w->digest : got, w->written, w->size);
        goto out;
    }
    if (w->digest && strcmp(got, w->digest) != 0) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        "blob %s does not match its digest: the bytes hash to %s", w->digest, got);
        goto out;
    }
    if (fsync(w->fd) < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "fsync '%s': %s", w->tmp, strerror(errno));
        goto out;
    }
    final = vx_xasprintf("%s/%s", w->dir, got + 7);
    if (rename(w->tmp, final) < 0) {
        rc = vx_err_set(err, VX_E_IO, errno, "rename to '%s': %s", final, strerror(errno));
        goto out;
    }
    if ((dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd);
        close(dfd);
    }
    *path = final;
    final = NULL;
    if (digest_out)
        *digest_out = vx_xstrdup(got);
    /* renamed: nothing left to unlink */
    free(w->tmp);
    w->tmp = NULL;
    close(w->fd);
    w->fd = -1;
out:
    free(final);
    vx_bc_writer_abort(w, false);
    return rc;
}

int vx_bc_put_fd(const char *cache_dir, const char *digest, int64_t size, int fd, char **path,
                 char **digest_out, struct vx_err **err)
{
    struct vx_bc_writer w;
    char buf[65536];
    ssize_t r;
    int rc;

    *path = NULL;
    if (digest && vx_bc_lookup(cache_dir, digest, size, path, NULL) == 0) {
        if (digest_out)
            *digest_out = vx_xstrdup(digest);
        return 0;
    }
    if ((rc = vx_bc_writer_begin(cache_dir, digest, size, false, &w, err)) < 0)
        return rc;
    while ((r = read(fd, buf, sizeof(buf))) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = vx_err_set(err, VX_E_IO, errno, "read: %s", strerror(errno));
            vx_bc_writer_abort(&w, false);
            return rc;
        }
        if ((rc = vx_bc_writer_write(&w, buf, (size_t)r, err)) < 0) {
            vx_bc_writer_abort(&w, false);
            return rc;
        }
    }
    return vx_bc_writer_commit(&w, path, digest_out, err);
}

int vx_bc_put_mem(const char *cache_dir, const char *digest, const void *data, size_t len,
                  char **path, struct vx_err **err)
{
    struct vx_bc_writer w;
    int rc;

    *path = NULL;
    if ((rc = vx_bc_writer_begin(cache_dir, digest, (int64_t)len, false, &w, err)) < 0)
        return rc;
    if ((rc = vx_bc_writer_write(&w, data, len, err)) < 0) {
        vx_bc_writer_abort(&w, false);
        return rc;
    }
    return vx_bc_writer_commit(&w, path, NULL, err);
}

int vx_bc_read_file(const char *path, size_t max, struct vx_buf *b, struct vx_err **err)
{
    char buf[65536];
    ssize_t r;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;

    if (fd < 0)
        return vx_err_set(err, errno == ENOENT ? VX_E_NOT_FOUND : VX_E_IO, errno, "open '%s': %s",
                          path, strerror(errno));
    vx_buf_init(b, max);
    while ((r = read(fd, buf, sizeof(buf))) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = vx_err_set(err, VX_E_IO, errno, "read '%s': %s", path, strerror(errno));
            break;
        }
        if (vx_buf_add(b, buf, (size_t)r) < 0) {
            rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "'%s' is larger than %zu bytes", path, max);
            break;
        }
    }
    close(fd);
    if (rc < 0)
        vx_buf_release(b);
    return rc;
}
