/* layout.c -- images on disk: an OCI image layout directory (oci:DIR[:TAG]), a tar of one
 * (oci-archive:FILE[:TAG]) and `docker save` output (docker-archive:FILE[:REF]).
 *
 * DESIGN
 * - OCI layout: "oci-layout" must say imageLayoutVersion 1.0.0; index.json selects the image
 *   by the org.opencontainers.image.ref.name annotation (the TAG), or, without a TAG, the one
 *   descriptor it has. An index.json whose descriptors carry platforms and no names is itself
 *   the index to choose a platform from (it has no digest: index_digest stays NULL then).
 *   Manifests are read from blobs/sha256 and hashed; config and layers are copied into the
 *   blob cache while hashing (never trusted in place: the directory could change later).
 * - OCI archive: one libarchive pass copies index.json, oci-layout (memory) and every
 *   blobs/sha256/<hex> entry (cache, verified against its name); nothing else is extracted,
 *   so names like "../x" cannot write anywhere. Blobs of other platforms are cached too.
 * - docker-archive: one pass hashes every regular file into the cache (the archive names
 *   files by path, not digest) and keeps manifest.json. Symlinked duplicate layers (old
 *   `docker save`) are resolved inside the archive's names. A docker-archive has no registry
 *   manifest: we synthesise the Docker v2 schema 2 manifest (config + layers with sizes,
 *   digests and media types from the file magic), serialised compactly with sorted keys,
 *   and call its sha256 the manifest digest; it is stable for the same archive but no
 *   registry will ever show it. The image ID (config digest) is the digest that identifies
 *   such an image, so pull.c accepts an expected digest equal to the config digest. A config
 *   named "<hex>.json" must hash to <hex>, and the config's rootfs.diff_ids must equal the
 *   digests of uncompressed layers.
 */
#include "common/setup.h"

#include "image/pull_int.h"

#include <archive.h> /* the archive reader */
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"  /* sources, struct vx_image */
#include "common/alloc.h" /* vx_xasprintf, vx_xcalloc */
#include "common/err.h"   /* vx_err_set */
#include "common/json.h"  /* vx_json_parse */
#include "common/util.h"  /* vx_digest_valid, vx_sha256_hex */

#define MAX_ENTRIES 100000
#define REF_NAME    "org.opencontainers.image.ref.name"

struct vx_layout {
    char *blobdir; /* the layout's blobs/sha256, or the cache's after an archive */
    bool in_cache; /* blobs were verified into the cache by us in this pull */
    char *what;
};

static int lay_manifest(void *ctx, const char *ref, struct vx_buf *body, char **media_type,
                        char **digest, struct vx_err **err)
{
    struct vx_layout *l = ctx;
    char *p = NULL, hex[65];
    int rc;

    *media_type = NULL;
    *digest = NULL;
    if (!vx_digest_valid(ref))
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s: '%.80s' is not a sha256 digest", l->what,
                          ref);
    p = vx_xasprintf("%s/%s", l->blobdir, ref + 7);
    if ((rc = vx_bc_read_file(p, VX_MANIFEST_MAX, body, err)) < 0) {
        rc = vx_err_wrap(err, "%s: manifest %s", l->what, ref);
        goto out;
    }
    vx_sha256_hex(body->data ? body->data : "", body->len, hex);
    if (strcmp(hex, ref + 7) != 0) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        "%s: blob %s does not match its digest: the bytes hash to sha256:%s",
                        l->what, ref, hex);
        goto out;
    }
    *digest = vx_xstrdup(ref);
out:
    free(p);
    return rc;
}

static int lay_blobs(void *ctx, const char *cache_dir, char **digests, const int64_t *sizes,
                     size_t n, char **paths, struct vx_err **err)
{
    struct vx_layout *l = ctx;
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++) {
        char *src = NULL;
        int fd;

        if (vx_bc_lookup(cache_dir, digests[i], sizes[i], &paths[i], NULL) == 0)
            continue;
        src = vx_xasprintf("%s/%s", l->blobdir, digests[i] + 7);
        fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            rc = vx_err_set(err, VX_E_NOT_FOUND, errno, "%s: blob %s is missing", l->what,
                            digests[i]);
        } else {
            rc = vx_bc_put_fd(cache_dir, digests[i], sizes[i], fd, &paths[i], NULL, err);
            if (rc < 0)
                vx_err_wrap(err, "%s", l->what);
            close(fd);
        }
        free(src);
    }
    if (rc < 0)
        for (size_t i = 0; i < n; i++) {
            free(paths[i]);
            paths[i] = NULL;
        }
    return rc;
}

void vx_layout_fetcher(struct vx_layout *l, struct vx_fetcher *f)
{
    f->ctx = l;
    f->what = l->what;
    f->manifest = lay_manifest;
    f->blobs = lay_blobs;
}

void vx_layout_close(struct vx_layout *l)
{
    if (!l)
        return;
    free(l->blobdir);
    free(l->what);
    free(l);
}

/* Entry name without leading "./" and "/"; NULL for names with ".." components. */
static const char *clean_name(const char *n)
{
    while (n[0] == '.' && n[1] == '/')
        n += 2;
    while (n[0] == '/')
        n++;
    if (strstr(n, "..") && (strncmp(n, "../", 3) == 0 || strstr(n, "/../")))
        return NULL;
    return n;
}

static int read_entry_mem(struct archive *a, struct vx_buf *b, size_t max, const char *name,
                          struct vx_err **err)
{
    char buf[65536];
    la_ssize_t r;

    vx_buf_release(b);
    vx_buf_init(b, max);
    while ((r = archive_read_data(a, buf, sizeof(buf))) > 0)
        if (vx_buf_add(b, buf, (size_t)r) < 0)
            return vx_err_set(err, VX_E_TOO_LARGE, 0, "'%s' is larger than %zu bytes", name, max);
    if (r < 0)
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0, "read '%s': %s", name,
                          archive_error_string(a));
    return 0;
}

/* Streams the current entry into the cache; digest NULL means "whatever it hashes to". */
static int read_entry_cache(struct archive *a, const char *cache_dir, const char *digest,
                            int64_t size, char **path, char **digest_out, char magic[4],
                            struct vx_err **err)
{
    struct vx_bc_writer w;
    char buf[65536];
    la_ssize_t r;
    bool first = true;
    int rc;

    if ((rc = vx_bc_writer_begin(cache_dir, digest, size, false, &w, err)) < 0)
        return rc;
    while ((r = archive_read_data(a, buf, sizeof(buf))) > 0) {
        if (first && magic)
            memcpy(magic, buf, r >= 4 ? 4 : (size_t)r);
        first = false;
        if ((rc = vx_bc_writer_write(&w, buf, (size_t)r, err)) < 0) {
            vx_bc_writer_abort(&w, false);
            return rc;
        }
    }
    if (r < 0) {
        vx_bc_writer_abort(&w, false);
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0, "read archive entry: %s",
                          archive_error_string(a));
    }
    return vx_bc_writer_commit(&w, path, digest_out, err);
}

static int open_archive(const char *path, struct archive **out, struct vx_err **err)
{
    struct archive *a;
    struct stat st;

    *out = NULL;
    if (stat(path, &st) < 0)
        return vx_err_set(err, errno == ENOENT ? VX_E_NOT_FOUND : VX_E_IO, errno, "'%s': %s", path,
                          strerror(errno));
    a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_none(a);
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        int rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "open archive '%s': %s", path,
                            archive_error_string(a));

        archive_read_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int extract_oci_archive(const char *file, const char *cache_dir, struct vx_buf *index,
                               struct vx_buf *oci_layout, struct vx_err **err)
{
    struct archive *a = NULL;
    struct archive_entry *e;
    int rc, r, count = 0;

    if ((rc = open_archive(file, &a, err)) < 0)
        return rc;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *n = clean_name(archive_entry_pathname(e));

        if (++count > MAX_ENTRIES) {
            rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "more than %d entries", MAX_ENTRIES);
            goto out;
        }
        if (!n || archive_entry_filetype(e) != AE_IFREG)
            continue;
        if (strcmp(n, "index.json") == 0) {
            if ((rc = read_entry_mem(a, index, VX_MANIFEST_MAX, n, err)) < 0)
                goto out;
        } else if (strcmp(n, "oci-layout") == 0) {
            if ((rc = read_entry_mem(a, oci_layout, 4096, n, err)) < 0)
                goto out;
        } else if (strncmp(n, "blobs/sha256/", 13) == 0) {
            char *d = vx_xasprintf("sha256:%s", n + 13), *p = NULL;

            if (vx_digest_valid(d)) {
                rc = vx_bc_lookup(cache_dir, d, archive_entry_size(e), &p, NULL) == 0
                         ? 0
                         : read_entry_cache(a, cache_dir, d, archive_entry_size(e), &p, NULL, NULL,
                                            err);
            }
            free(p);
            free(d);
            if (rc < 0)
                goto out;
        }
    }
    if (r != ARCHIVE_EOF)
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "read archive: %s", archive_error_string(a));
out:
    archive_read_free(a);
    if (rc < 0)
        vx_err_wrap(err, "oci archive '%s'", file);
    return rc;
}

static int check_oci_layout(const struct vx_buf *b, const char *what, struct vx_err **err)
{
    json_t *j = NULL;
    const char *v;
    int rc;

    if ((rc = vx_json_parse(b->data ? b->data : "", b->len, &j, err)) < 0)
        return vx_err_wrap(err, "%s: oci-layout", what);
    v = vx_json_str(j, "imageLayoutVersion");
    if (!v || strncmp(v, "1.", 2) != 0)
        rc = vx_err_set(err, VX_E_UNSUPPORTED, 0, "%s: image layout version '%s' unsupported", what,
                        v ? v : "(none)");
    json_decref(j);
    return rc;
}

int vx_layout_open(const struct vx_image_source *src, const struct vx_image_opts *opts,
                   struct vx_layout **out, char **top, struct vx_buf *top_index,
                   struct vx_err **err)
{
    struct vx_layout *l = vx_xcalloc(1, sizeof(*l));
    struct vx_buf idx = VX_BUF_INIT(VX_MANIFEST_MAX), ol = VX_BUF_INIT(4096);
    struct vx_buf names = VX_BUF_INIT(4096);
    json_t *j = NULL, *m, *d;
    size_t i, n_named = 0, n_platform = 0;
    char *p = NULL;
    int rc;

    *out = NULL;
    *top = NULL;
    if (src->transport == VX_IMAGE_OCI_DIR) {
        l->what = vx_xasprintf("oci layout '%s'", src->path);
        l->blobdir = vx_xasprintf("%s/blobs/sha256", src->path);
        p = vx_xasprintf("%s/oci-layout", src->path);
        if ((rc = vx_bc_read_file(p, 4096, &ol, err)) < 0) {
            rc = vx_err_wrap(err, "%s is not an oci image layout", l->what);
            goto out;
        }
        free(p);
        p = vx_xasprintf("%s/index.json", src->path);
        if ((rc = vx_bc_read_file(p, VX_MANIFEST_MAX, &idx, err)) < 0) {
            rc = vx_err_wrap(err, "%s", l->what);
            goto out;
        }
    } else {
        l->what = vx_xasprintf("oci archive '%s'", src->path);
        l->blobdir = vx_xasprintf("%s/blobs/sha256", opts->cache_dir);
        l->in_cache = true;
        if ((rc = extract_oci_archive(src->path, opts->cache_dir, &idx, &ol, err)) < 0)
            goto out;
        if (!idx.len) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s has no index.json", l->what);
            goto out;
        }
    }
    if ((rc = check_oci_layout(&ol, l->what, err)) < 0)
        goto out;
    if ((rc = vx_json_parse(idx.data, idx.len, &j, err)) < 0) {
        rc = vx_err_wrap(err, "%s: index.json", l->what);
        goto out;
    }
    m = json_object_get(j, "manifests");
    if (!json_is_array(m) || json_array_size(m) == 0) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s: index.json lists no manifests", l->what);
        goto out;
    }
    json_array_foreach(m, i, d)
    {
        const char *name = vx_json_str(json_object_get(d, "annotations"), REF_NAME);
        const char *dg = vx_json_str(d, "digest");

        if (json_is_object(json_object_get(d, "platform")))
            n_platform++;
        if (!name)
            continue;
        n_named++;
        vx_buf_addf(&names, "%s'%s'", names.len ? ", " : "", name);
        if (src->tag && strcmp(name, src->tag) == 0) {
            if (!dg || !vx_digest_valid(dg)) {
                rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s: '%s' has no sha256 digest",
                                l->what, name);
                goto out;
            }
            *top = vx_xstrdup(dg);
        }
    }
    if (src->tag && !*top) {
        rc = vx_err_set(err, VX_E_NOT_FOUND, 0, "%s has no image tagged '%s' (tags: %s)", l->what,
                        src->tag, n_named ? vx_buf_str(&names) : "none");
        goto out;
    }
    if (!src->tag) {
        if (json_array_size(m) == 1) {
            const char *dg = vx_json_str(json_array_get(m, 0), "digest");

            if (!dg || !vx_digest_valid(dg)) {
                rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s: descriptor has no sha256 digest",
                                l->what);
                goto out;
            }
            *top = vx_xstrdup(dg);
        } else if (n_named == 0 && n_platform == json_array_size(m)) {
            vx_buf_release(top_index);
            vx_buf_init(top_index, VX_MANIFEST_MAX);
            vx_buf_add(top_index, idx.data, idx.len);
        } else {
            rc = vx_err_set(err, VX_E_INVALID, 0,
                            "%s holds %zu images: choose one with ':TAG' (tags: %s)", l->what,
                            json_array_size(m), n_named ? vx_buf_str(&names) : "none");
            goto out;
        }
    }
    *out = l;
    l = NULL;
out:
    json_decref(j);
    vx_buf_release(&idx);
    vx_buf_release(&ol);
    vx_buf_release(&names);
    free(p);
    vx_layout_close(l);
    return rc;
}

/* ---- docker-archive ---- */

struct dfile {
    char *name;
    char *target; /* symlink target (archive name), or NULL */
    char *digest, *path;
    int64_t size;
    char magic[4];
};

struct dfiles {
    struct dfile *v;
    size_t n, cap;
};

static void dfiles_release(struct dfiles *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->v[i].name);
        free(fs->v[i].target);
        free(fs->v[i].digest);
        free(fs->v[i].path);
    }
    free(fs->v);
}

static const struct dfile *dfind(const struct dfiles *fs, const char *name, int depth)
{
    const char *n = clean_name(name);

    for (size_t i = 0; n && i < fs->n; i++) {
        if (strcmp(fs->v[i].name, n) != 0)
            continue;
        if (fs->v[i].target && depth < 8)
            return dfind(fs, fs->v[i].target, depth + 1);
        return fs->v[i].digest ? &fs->v[i] : NULL;
    }
    return NULL;
}

/* "a/b/layer.tar" + "../c/layer.tar" -> "a/c/layer.tar" (only leading ".." handled). */
static char *resolve_link(const char *name, const char *target)
{
    char *dir = vx_xstrdup(name), *slash, *r;

    if (target[0] == '/') {
        free(dir);
        return vx_xstrdup(target + 1);
    }
    slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    while (strncmp(target, "../", 3) == 0) {
        slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            dir[0] = '\0';
        target += 3;
    }
    r = dir[0] ? vx_xasprintf("%s/%s", dir, target) : vx_xstrdup(target);
    free(dir);
    return r;
}

static const char *layer_mt(const char magic[4])
{
    if ((unsigned char)magic[0] == 0x1f && (unsigned char)magic[1] == 0x8b)
        return "application/vnd.docker.image.rootfs.diff.tar.gzip";
    if ((unsigned char)magic[0] == 0x28 && (unsigned char)magic[1] == 0xb5 &&
        (unsigned char)magic[2] == 0x2f && (unsigned char)magic[3] == 0xfd)
        return "application/vnd.oci.image.layer.v1.tar+zstd";
    return "application/vnd.docker.image.rootfs.diff.tar";
}

static bool repotag_matches(const char *want, const char *have)
{
    struct vx_image_ref a, b;
    bool eq = false;

    if (vx_image_ref_parse(want, &a, NULL) < 0)
        return false;
    if (vx_image_ref_parse(have, &b, NULL) == 0) {
        eq = strcmp(a.registry, b.registry) == 0 && strcmp(a.repository, b.repository) == 0 &&
             a.tag && b.tag && strcmp(a.tag, b.tag) == 0;
        vx_image_ref_release(&b);
    }
    vx_image_ref_release(&a);
    return eq;
}

int vx_docker_archive_load(const struct vx_image_source *src, const struct vx_image_opts *opts,
                           struct vx_image *img, struct vx_err **err)
{
    struct archive *a = NULL;
    struct archive_entry *e;
    struct dfiles fs = {0};
    struct vx_buf man = VX_BUF_INIT(VX_MANIFEST_MAX), tags = VX_BUF_INIT(4096);
    json_t *j = NULL, *entry = NULL, *x, *layers, *synth = NULL, *sl, *cfg = NULL, *diffs;
    const struct dfile *cf;
    char *text = NULL, *p = NULL, hex[65];
    size_t i;
    int rc = 0, r;

    if ((rc = open_archive(src->path, &a, err)) < 0)
        goto out;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *n = clean_name(archive_entry_pathname(e));
        struct dfile *f;

        if (!n || (archive_entry_filetype(e) != AE_IFREG && archive_entry_filetype(e) != AE_IFLNK))
            continue;
        if (strcmp(n, "manifest.json") == 0) {
            if ((rc = read_entry_mem(a, &man, VX_MANIFEST_MAX, n, err)) < 0)
                goto out;
            continue;
        }
        if (fs.n == MAX_ENTRIES) {
            rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "more than %d files", MAX_ENTRIES);
            goto out;
        }
        fs.v = vx_xgrow(fs.v, sizeof(*fs.v), fs.n + 1, &fs.cap);
        f = &fs.v[fs.n++];
        memset(f, 0, sizeof(*f));
        f->name = vx_xstrdup(n);
        if (archive_entry_filetype(e) == AE_IFLNK) {
            f->target = resolve_link(n, archive_entry_symlink(e) ? archive_entry_symlink(e) : "");
            continue;
        }
        f->size = archive_entry_size(e);
        if ((rc = read_entry_cache(a, opts->cache_dir, NULL, f->size, &f->path, &f->digest,
                                   f->magic, err)) < 0)
            goto out;
    }
    if (r != ARCHIVE_EOF) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "read archive: %s", archive_error_string(a));
        goto out;
    }
    if (!man.len) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "no manifest.json (not `docker save` output)");
        goto out;
    }
    if ((rc = vx_json_parse(man.data, man.len, &j, err)) < 0 || !json_is_array(j) ||
        json_array_size(j) == 0) {
        rc = rc < 0 ? vx_err_wrap(err, "manifest.json")
                    : vx_err_set(err, VX_E_UNPROCESSABLE, 0, "manifest.json lists no images");
        goto out;
    }
    json_array_foreach(j, i, x)
    {
        json_t *rt = json_object_get(x, "RepoTags"), *t;
        size_t k;

        json_array_foreach(rt, k, t)
        {
            if (!json_is_string(t))
                continue;
            vx_buf_addf(&tags, "%s'%s'", tags.len ? ", " : "", json_string_value(t));
            if (src->tag && !entry && repotag_matches(src->tag, json_string_value(t)))
                entry = x;
        }
    }
    if (!src->tag && json_array_size(j) == 1)
        entry = json_array_get(j, 0);
    if (!entry) {
        rc = src->tag
                 ? vx_err_set(err, VX_E_NOT_FOUND, 0, "no image tagged '%s' (tags: %s)", src->tag,
                              tags.len ? vx_buf_str(&tags) : "none")
                 : vx_err_set(err, VX_E_INVALID, 0, "%zu images: choose one with ':REF' (tags: %s)",
                              json_array_size(j), tags.len ? vx_buf_str(&tags) : "none");
        goto out;
    }
    cf = vx_json_str(entry, "Config") ? dfind(&fs, vx_json_str(entry, "Config"), 0) : NULL;
    layers = json_object_get(entry, "Layers");
    if (!cf || !json_is_array(layers) || json_array_size(layers) > 1000) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        "manifest.json: Config or Layers missing or not in the archive");
        goto out;
    }
    {
        /* "<hex>.json" (classic) or "blobs/sha256/<hex>" (docker 25+) must hash to <hex> */
        const char *cn = vx_json_str(entry, "Config"), *base = strrchr(cn, '/');

        base = base ? base + 1 : cn;
        if (strlen(base) >= 64 && strspn(base, "0123456789abcdef") == 64 &&
            strncmp(base, cf->digest + 7, 64) != 0) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                            "config '%s' does not match its name: the bytes hash to %s", cn,
                            cf->digest);
            goto out;
        }
    }
    img->config_digest = vx_xstrdup(cf->digest);
    vx_buf_release(&man);
    if ((rc = vx_bc_read_file(cf->path, VX_CONFIG_MAX, &man, err)) < 0)
        goto out;
    img->config_json = vx_buf_detach(&man, NULL);
    if ((rc = vx_json_parse(img->config_json, strlen(img->config_json), &cfg, err)) < 0)
        goto out;
    diffs = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    img->layers = vx_xcalloc(json_array_size(layers) + 1, sizeof(*img->layers));
    sl = json_array();
    json_array_foreach(layers, i, x)
    {
        const struct dfile *lf = json_is_string(x) ? dfind(&fs, json_string_value(x), 0) : NULL;
        const char *mt, *diff;

        if (!lf) {
            json_decref(sl);
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "layer %zu is not in the archive", i);
            goto out;
        }
        mt = layer_mt(lf->magic);
        diff = json_string_value(json_array_get(diffs, i));
        if (strcmp(mt, "application/vnd.docker.image.rootfs.diff.tar") == 0 && diff &&
            strcmp(diff, lf->digest) != 0) {
            json_decref(sl);
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                            "layer %zu ('%s') hashes to %s but the config says %s", i, lf->name,
                            lf->digest, diff);
            goto out;
        }
        img->layers[i].digest = vx_xstrdup(lf->digest);
        img->layers[i].media_type = vx_xstrdup(mt);
        img->layers[i].size = lf->size;
        img->layers[i].blob_path = vx_xstrdup(lf->path);
        img->n_layers++;
        json_array_append_new(sl, json_pack("{s:s,s:I,s:s}", "mediaType", mt, "size",
                                            (json_int_t)lf->size, "digest", lf->digest));
    }
    synth = json_pack("{s:i,s:s,s:{s:s,s:I,s:s},s:o}", "schemaVersion", 2, "mediaType",
                      "application/vnd.docker.distribution.manifest.v2+json", "config", "mediaType",
                      "application/vnd.docker.container.image.v1+json", "size",
                      (json_int_t)cf->size, "digest", cf->digest, "layers", sl);
    text = json_dumps(synth, JSON_COMPACT | JSON_SORT_KEYS);
    vx_sha256_hex(text, strlen(text), hex);
    img->manifest_digest = vx_xasprintf("sha256:%s", hex);
    if ((rc = vx_bc_put_mem(opts->cache_dir, img->manifest_digest, text, strlen(text), &p, err)) <
        0)
        goto out;
out:
    if (rc < 0)
        vx_err_wrap(err, "docker archive '%s'", src->path);
    if (a)
        archive_read_free(a);
    free(text); /* jansson's json_dumps uses the default allocator */
    free(p);
    json_decref(synth);
    json_decref(cfg);
    json_decref(j);
    dfiles_release(&fs);
    vx_buf_release(&man);
    vx_buf_release(&tags);
    return rc;
}
