/* pull_int.h -- internal interfaces between the pull files of the image module (blob cache,
 * registry client, layouts and archives, config). Not part of the module contract. */
#ifndef VX_IMAGE_PULL_INT_H
#define VX_IMAGE_PULL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h> /* EVP_MD_CTX in the writer */

#include "common/buf.h"

struct vx_err;
struct vx_image;
struct vx_image_config;
struct vx_image_opts;
struct vx_image_ref;
struct vx_image_source;

#define VX_MANIFEST_MAX (4 * 1024 * 1024)
#define VX_CONFIG_MAX   (16 * 1024 * 1024)

/* ---- blob cache (blobcache.c) ---- */

/* "<cache>/blobs/sha256/<hex>". Caller frees. */
char *vx_bc_path(const char *cache_dir, const char *digest);
/* 0 and *path (caller frees) when the blob is cached, has 'size' bytes (when size >= 0) and
 * hashes to its digest; a cached blob that does not is removed. -VX_E_NOT_FOUND if absent. */
int vx_bc_lookup(const char *cache_dir, const char *digest, int64_t size, char **path,
                 struct vx_err **err);

struct vx_bc_writer {
    int fd;
    EVP_MD_CTX *md;
    char *dir;    /* <cache>/blobs/sha256 */
    char *tmp;    /* the temp file */
    char *digest; /* expected, or NULL when the content names the blob */
    int64_t size; /* expected, or -1 */
    int64_t written;
    bool resumable; /* tmp is the shared ".<hex>.partial" (locked) */
};
/* Opens a temp file in the cache. With resume, an existing partial file of this digest is
 * kept and re-hashed: w->written says how many bytes are already there. */
int vx_bc_writer_begin(const char *cache_dir, const char *digest, int64_t size, bool resume,
                       struct vx_bc_writer *w, struct vx_err **err);
/* Drops what was written (a server that ignored our Range request). */
int vx_bc_writer_restart(struct vx_bc_writer *w, struct vx_err **err);
int vx_bc_writer_write(struct vx_bc_writer *w, const void *data, size_t len, struct vx_err **err);
/* Verifies size and digest, fsyncs and renames into place. *path (caller frees) and, when
 * digest_out is non-NULL, the digest ("sha256:...", caller frees). The writer is released
 * either way; a mismatching file is deleted. */
int vx_bc_writer_commit(struct vx_bc_writer *w, char **path, char **digest_out,
                        struct vx_err **err);
/* Releases the writer; keep leaves a resumable partial file for the next attempt. */
void vx_bc_writer_abort(struct vx_bc_writer *w, bool keep);
/* Copies an open file (from its current offset) into the cache, verifying. */
int vx_bc_put_fd(const char *cache_dir, const char *digest, int64_t size, int fd, char **path,
                 char **digest_out, struct vx_err **err);
int vx_bc_put_mem(const char *cache_dir, const char *digest, const void *data, size_t len,
                  char **path, struct vx_err **err);
/* Reads a (cached) file of at most max bytes into b. */
int vx_bc_read_file(const char *path, size_t max, struct vx_buf *b, struct vx_err **err);

/* ---- a source of manifests and blobs (pull.c drives it) ---- */

struct vx_fetcher {
    void *ctx;
    const char *what; /* "the registry 'host'" / "the layout 'dir'": for messages */
    /* The manifest or index named by digest (or a tag for a registry) into body (capped at
     * VX_MANIFEST_MAX); *media_type from the transport when it has one (or NULL); *digest
     * the sha256 of the bytes, already checked against the reference when it is a digest. */
    int (*manifest)(void *ctx, const char *reference, struct vx_buf *body, char **media_type,
                    char **digest, struct vx_err **err);
    /* Fetches n blobs into the cache (verified); paths[i] set (caller frees). */
    int (*blobs)(void *ctx, const char *cache_dir, char **digests, const int64_t *sizes, size_t n,
                 char **paths, struct vx_err **err);
};

/* ---- registry (registry.c) ---- */

struct vx_reg;
int vx_reg_open(const struct vx_image_ref *ref, const struct vx_image_opts *opts,
                struct vx_reg **out, struct vx_err **err);
void vx_reg_close(struct vx_reg *r);
void vx_reg_fetcher(struct vx_reg *r, struct vx_fetcher *f);

/* ---- layouts and archives (layout.c) ---- */

struct vx_layout;
/* oci: and oci-archive: sources. *top is the digest of the selected manifest or index
 * (caller frees), or NULL when index.json itself is the index to choose a platform from
 * (then *top_index holds it). */
int vx_layout_open(const struct vx_image_source *src, const struct vx_image_opts *opts,
                   struct vx_layout **out, char **top, struct vx_buf *top_index,
                   struct vx_err **err);
void vx_layout_close(struct vx_layout *l);
void vx_layout_fetcher(struct vx_layout *l, struct vx_fetcher *f);
/* docker-archive: fills img (digests, layers, config_json) entirely. */
int vx_docker_archive_load(const struct vx_image_source *src, const struct vx_image_opts *opts,
                           struct vx_image *img, struct vx_err **err);

/* ---- config (config.c) ---- */

int vx_image_config_parse(const char *json, size_t len, struct vx_image_config *out,
                          struct vx_err **err);
void vx_image_config_release(struct vx_image_config *c);

/* Layer media types we can unpack (OCI and Docker names). */
bool vx_layer_media_type_ok(const char *mt);

#endif
