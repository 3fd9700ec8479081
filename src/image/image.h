/* image.h -- container images: references, sources, pull + verify, safe unpack, config.
 *
 * The `image` phase of the pipeline (DESIGN.md §5) and `vexxy image pull|inspect|unpack`.
 *
 * Flow: vx_image_source_parse("docker://nginx:1.25") -> vx_image_pull() fetches (registry
 * over libcurl, or an OCI layout / OCI archive / docker-save archive on disk) the index,
 * the platform manifest, the config and the layers into a content-addressed blob cache,
 * verifying every byte against its sha256 while it streams; vx_image_unpack() applies the
 * layers in order into one rootfs directory, refusing anything that would write outside it.
 */
#ifndef VX_IMAGE_IMAGE_H
#define VX_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;

/* ---- references ------------------------------------------------------------------------ */

/* A parsed reference, normalised the way Docker does: "nginx" -> registry "docker.io",
 * repository "library/nginx", tag "latest". Strings owned by the struct. */
struct vx_image_ref {
    char *registry;   /* "docker.io", "localhost:5000", "ghcr.io" */
    char *repository; /* "library/nginx" */
    char *tag;        /* "latest" unless a digest alone was given; may be NULL then */
    char *digest;     /* "sha256:<64 hex>" or NULL */
};

/* -VX_E_INVALID naming what is wrong (upper-case repository, bad tag, bad digest...). */
int vx_image_ref_parse(const char *s, struct vx_image_ref *out, struct vx_err **err);
void vx_image_ref_release(struct vx_image_ref *r);
/* "docker.io/library/nginx:latest@sha256:..." (canonical form). Caller frees. */
char *vx_image_ref_str(const struct vx_image_ref *r);

enum vx_image_transport {
    VX_IMAGE_DOCKER,         /* docker://REF or a bare reference: a registry */
    VX_IMAGE_OCI_DIR,        /* oci:DIR[:TAG] -- an OCI image layout directory */
    VX_IMAGE_OCI_ARCHIVE,    /* oci-archive:FILE[:TAG] -- a tar of an OCI image layout */
    VX_IMAGE_DOCKER_ARCHIVE, /* docker-archive:FILE[:REF] -- `docker save` output */
};

struct vx_image_source {
    enum vx_image_transport transport;
    struct vx_image_ref ref; /* VX_IMAGE_DOCKER only */
    char *path;              /* the directory or file of the other transports */
    char *tag;               /* optional tag/ref selector inside a layout or archive, or NULL */
};

int vx_image_source_parse(const char *s, struct vx_image_source *out, struct vx_err **err);
void vx_image_source_release(struct vx_image_source *src);

/* ---- pull ------------------------------------------------------------------------------ */

struct vx_image_opts {
    const char *platform;      /* "os/arch[/variant]"; default "linux/amd64" */
    const char *cache_dir;     /* content-addressed blob cache (blobs/sha256/<hex>); required */
    const char *docker_config; /* Docker config.json with "auths"; default $DOCKER_CONFIG or
                                  ~/.docker/config.json when it exists */
    bool insecure_registry;    /* plain http to the registry; only when asked */
    int64_t timeout_ms;        /* per request without progress; default 60000 */
    int parallel;              /* blob downloads at once; default 4 */
    const char *user_agent;    /* default "vexxy/<version>" */
};

struct vx_image_config {
    char **entrypoint;
    size_t n_entrypoint;
    char **cmd;
    size_t n_cmd;
    char **env;
    size_t n_env;      /* "K=V" */
    char *working_dir; /* or NULL */
    char *user;        /* or NULL */
    int *exposed_ports;
    size_t n_exposed_ports; /* TCP ports ("80/tcp"); udp ignored */
    char **labels;
    size_t n_labels; /* "key=value" */
    char *os, *architecture, *variant;
};

struct vx_image_layer {
    char *digest;     /* of the compressed blob, as in the manifest */
    char *media_type; /* tar, tar+gzip, tar+zstd (OCI or Docker names) */
    int64_t size;
    char *blob_path; /* verified file in the cache */
};

struct vx_image {
    char *source;          /* as given */
    char *index_digest;    /* of the index / manifest list, or NULL if the ref named a manifest */
    char *manifest_digest; /* of the platform manifest */
    char *config_digest;
    char *platform; /* chosen "os/arch[/variant]" */
    struct vx_image_layer *layers;
    size_t n_layers;
    struct vx_image_config config;
    char *config_json; /* the raw config blob */
};

/* Fetches and verifies. When expected_digest is non-NULL it must equal index_digest or
 * manifest_digest, else -VX_E_UNPROCESSABLE with both digests in the message. Errors name
 * the registry status (401/403/404/429 with Retry-After) or the file. Caller owns *out. */
int vx_image_pull(const struct vx_image_source *src, const char *expected_digest,
                  const struct vx_image_opts *opts, struct vx_image **out, struct vx_err **err);
void vx_image_free(struct vx_image *img);

/* ---- unpack ---------------------------------------------------------------------------- */

struct vx_unpack_limits {
    int64_t max_total_bytes; /* default 8 GiB */
    int64_t max_file_bytes;  /* default 2 GiB */
    int64_t max_entries;     /* default 1,000,000 */
    int max_path_len;        /* default 4096 */
};

struct vx_unpack_opts {
    struct vx_unpack_limits limits;
    bool keep_ownership; /* chown to the entry's uid/gid (+ shift); needs root */
    uint32_t uid_shift;  /* added to every uid/gid (user-namespace mapping) */
    uint32_t id_range;   /* ids >= this are refused when shifting; default 65536 */
};

struct vx_unpack_report {
    int64_t entries;
    int64_t bytes;
    int64_t skipped_devices; /* device nodes and fifos: never created, recorded */
    int64_t whiteouts;
    char **skipped;
    size_t n_skipped; /* "layer N: path (reason)", capped at 1000 */
};
void vx_unpack_report_release(struct vx_unpack_report *r);

/* Applies one layer blob (tar, gzip or zstd; detected from the bytes) onto the directory
 * 'rootfd' (an O_PATH|O_DIRECTORY fd). Every path is resolved inside the root
 * (openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS); '..', absolute names, symlink tricks,
 * hardlinks to outside targets are refused with -VX_E_UNPROCESSABLE naming the entry.
 * Whiteouts (.wh.NAME) delete NAME from lower layers; .wh..wh..opq empties a directory. */
int vx_layer_apply(int rootfd, const char *blob_path, int layer_index,
                   const struct vx_unpack_opts *opts, struct vx_unpack_report *report,
                   struct vx_err **err);
/* The same from memory (fuzzing). */
int vx_layer_apply_mem(int rootfd, const void *data, size_t len, int layer_index,
                       const struct vx_unpack_opts *opts, struct vx_unpack_report *report,
                       struct vx_err **err);

/* Applies every layer of img in order into dest (created; must be empty or absent). */
int vx_image_unpack(const struct vx_image *img, const char *dest, const struct vx_unpack_opts *opts,
                    struct vx_unpack_report *report, struct vx_err **err);

/* ---- description ----------------------------------------------------------------------- */

/* The image as a qualifier-free purl, "pkg:oci/<name>@sha256%3A<hex>" ("pkg:oci/<name>" when
 * digest is NULL or not sha256): the product of the VEX documents, the SBOM's metadata
 * component and the signature's subject, so all of them name the image the same way.
 * <name> comes from the source as given: the last path element of a reference
 * ("docker.io/library/nginx:1.25" -> "nginx"); for oci:, oci-archive:, docker-archive: the
 * file name without extension, or the parent directory's when the layout dir is just "oci"
 * ("oci:/x/demo/oci" -> "demo"); lower case, other characters as '-'. Caller frees. */
char *vx_image_purl(const char *source, const char *digest);

/* The image as a JSON object (digests, platform, layers, config and, when rep is non-NULL,
 * the unpack report): the "image" evidence of a job and `vexxy image ... --json`.
 * Canonical (sorted keys). Caller frees. image_json.c. */
char *vx_image_json(const struct vx_image *img, const struct vx_unpack_report *rep);

#endif
