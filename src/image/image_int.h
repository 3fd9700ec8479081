/* image_int.h -- helpers shared by the files of the image module; not a public contract.
 *
 * Blob cache (blob.c): blobs live at CACHE/blobs/sha256/<hex>. Every write goes to a temp
 * file in that same directory, is hashed while it streams, and is fsync'ed and renamed
 * into place only when its sha256 equals the expected digest, so a cache path always holds
 * verified bytes at the moment it was written. A cached blob that is reused is hashed
 * again before use (a cheap guard against a corrupted or tampered cache).
 */
#ifndef VX_IMAGE_IMAGE_INT_H
#define VX_IMAGE_IMAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;
struct vx_image_config;

/* ref.c: Docker's tag grammar [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
bool vx_image_tag_valid(const char *s);

/* ---- blob.c ---- */

/* Caps on what the module reads into memory. */
#define VX_IMAGE_MAX_MANIFEST (4u << 20)  /* manifests, indexes, index.json */
#define VX_IMAGE_MAX_CONFIG (8u << 20)    /* image config blobs */

/* "sha256:<hex>" of the file at path into out[72]. */
int vx_blob_hash_file(const char *path, char out[72], struct vx_err **err);
/* CACHE/blobs/sha256/<hex> for digest (validated). Caller frees. */
int vx_blob_cache_path(const char *cache_dir, const char *digest, char **out,
                       struct vx_err **err);

/* A streaming write into the cache: begin, write..., commit (verify + fsync + rename) or
 * abort. Exceeding max_bytes (0 = no cap) fails the write with -VX_E_TOO_LARGE. */
struct vx_blob_writer {
    int fd;
    char *tmp_path;
    char *final_path;
    char *digest;    /* expected */
    void *md;        /* EVP_MD_CTX */
    int64_t bytes;
    int64_t max_bytes;
};
int vx_blob_writer_begin(struct vx_blob_writer *w, const char *cache_dir, const char *digest,
                         int64_t max_bytes, struct vx_err **err);
int vx_blob_writer_write(struct vx_blob_writer *w, const void *data, size_t len,
                         struct vx_err **err);
/* On success *path (optional) receives the cache path (caller frees). -VX_E_UNPROCESSABLE
 * naming the blob and both digests on mismatch. The writer is released either way. */
int vx_blob_writer_commit(struct vx_blob_writer *w, char **path, struct vx_err **err);
void vx_blob_writer_abort(struct vx_blob_writer *w);

/* Copies src_path into the cache under digest, verifying it; a cached copy is re-hashed and
 * reused when it still matches (replaced otherwise). *path receives the cache path. */
int vx_blob_import_file(const char *cache_dir, const char *src_path, const char *digest,
                        char **path, struct vx_err **err);
/* Reads a whole file of at most max bytes (NUL-terminated). Caller frees *data. */
int vx_file_read(const char *path, size_t max, char **data, size_t *len, struct vx_err **err);

/* ---- config.c ---- */

/* Parses an image config blob (OCI / Docker) into cfg. -VX_E_UNPROCESSABLE when it is not
 * a JSON object or a field has the wrong type or passes a cap. */
int vx_image_config_parse(const char *json, size_t len, struct vx_image_config *cfg,
                          struct vx_err **err);
void vx_image_config_release(struct vx_image_config *cfg);

#endif
