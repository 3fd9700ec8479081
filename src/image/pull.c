/* pull.c -- vx_image_pull: resolves a source to one platform manifest, fetches its config
 * and layers into the blob cache and checks the expected digest.
 *
 * DESIGN
 * - One walk for every transport: a struct vx_fetcher (registry.c, layout.c) hands out
 *   manifests by tag or digest and stores blobs in the cache; this file follows
 *   index -> (nested index ->) manifest -> config + layers, at most 4 levels deep.
 * - The kind of a manifest is its "mediaType" field, else the transport's content type, else
 *   its shape ("manifests" = index, "layers" = manifest). Schema 1 manifests are refused.
 * - Platform choice: "os/arch[/variant]" (default linux/amd64); a variant is only compared
 *   when one was asked for. No match lists the platforms the index has. A manifest reached
 *   without an index is taken as it is; its platform is read from the config.
 * - The first index met is index_digest; the platform manifest is manifest_digest. An
 *   expected digest must equal one of them (docker-archive: see layout.c).
 */
#include "common/setup.h"

#include "image/image.h"

#include <jansson.h>

#include "image/pull_int.h" /* fetchers, blob cache, config */
#include "common/alloc.h"   /* vx_xcalloc, vx_xasprintf */
#include "common/buf.h"     /* manifest bodies */
#include "common/err.h"     /* vx_err_set */
#include "common/json.h"    /* vx_json_parse */
#include "common/util.h"    /* vx_digest_valid */

#define MAX_DEPTH  4
#define MAX_LAYERS 1000

static bool is_index_type(const char *mt)
{
    return mt && (strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
                  strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0);
}

static bool is_manifest_type(const char *mt)
{
    return mt && (strcmp(mt, "application/vnd.oci.image.manifest.v1+json") == 0 ||
                  strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json") == 0);
}

struct platform {
    char os[64], arch[64], variant[64];
};

static int platform_parse(const char *s, struct platform *p, struct vx_err **err)
{
    memset(p, 0, sizeof(*p));
    if (!s || !*s)
        s = "linux/amd64";
    if (sscanf(s, "%63[^/]/%63[^/]/%63s", p->os, p->arch, p->variant) < 2 || !*p->os || !*p->arch)
        return vx_err_set(err, VX_E_INVALID, 0, "platform '%.64s' is not os/arch[/variant]", s);
    return 0;
}

/* The descriptor of 'idx' matching 'want'; *next and *next_mt set (borrowed from idx). */
static int select_platform(json_t *idx, const struct platform *want, const char *what,
                           const char **next, const char **next_mt, struct vx_err **err)
{
    json_t *m = json_object_get(idx, "manifests"), *d;
    struct vx_buf avail = VX_BUF_INIT(4096);
    size_t i;
    int rc = 0;

    if (!json_is_array(m)) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s: index has no 'manifests' array", what);
        goto out;
    }
    json_array_foreach(m, i, d)
    {
        json_t *p = json_object_get(d, "platform");
        const char *os = vx_json_str(p, "os"), *arch = vx_json_str(p, "architecture");
        const char *var = vx_json_str(p, "variant");

        if (!os || !arch)
            continue;
        if (strcmp(os, want->os) == 0 && strcmp(arch, want->arch) == 0 &&
            (!*want->variant || (var && strcmp(var, want->variant) == 0))) {
            *next = vx_json_str(d, "digest");
            *next_mt = vx_json_str(d, "mediaType");
            goto out;
        }
        if (strcmp(os, "unknown") == 0) /* attestations */
            continue;
        vx_buf_addf(&avail, "%s%s/%s%s%s", avail.len ? ", " : "", os, arch, var ? "/" : "",
                    var ? var : "");
    }
    rc = vx_err_set(err, VX_E_NOT_FOUND, 0, "%s: no image for platform %s/%s%s%s; available: %s",
                    what, want->os, want->arch, *want->variant ? "/" : "", want->variant,
                    avail.len ? vx_buf_str(&avail) : "none");
out:
    vx_buf_release(&avail);
    return rc;
}

static int layers_from_manifest(json_t *man, struct vx_image *img, int64_t *cfg_size,
                                const char *what, struct vx_err **err)
{
    json_t *cfg = json_object_get(man, "config"), *ls = json_object_get(man, "layers"), *l;
    json_t *sz = json_object_get(cfg, "size");
    const char *cd = vx_json_str(cfg, "digest");
    size_t i;

    if (!cd || !json_is_integer(sz) || !json_is_array(ls))
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          "%s: manifest %s lacks config digest/size or layers", what,
                          img->manifest_digest);
    if (!vx_digest_valid(cd))
        return vx_err_set(err, VX_E_UNSUPPORTED, 0, "%s: config digest '%.80s' is not sha256", what,
                          cd);
    if (json_array_size(ls) > MAX_LAYERS)
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s: more than %d layers", what, MAX_LAYERS);
    img->config_digest = vx_xstrdup(cd);
    *cfg_size = json_integer_value(sz);
    img->layers = vx_xcalloc(json_array_size(ls) + 1, sizeof(*img->layers));
    json_array_foreach(ls, i, l)
    {
        const char *d = vx_json_str(l, "digest"), *mt = vx_json_str(l, "mediaType");
        json_t *s = json_object_get(l, "size");

        if (!d || !vx_digest_valid(d) || !json_is_integer(s) || json_integer_value(s) < 0)
            return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                              "%s: layer %zu has no sha256 digest or size", what, i);
        if (!vx_layer_media_type_ok(mt))
            return vx_err_set(err, VX_E_UNSUPPORTED, 0,
                              "%s: layer %s has media type '%.100s' we cannot unpack", what, d,
                              mt ? mt : "(none)");
        img->layers[i].digest = vx_xstrdup(d);
        img->layers[i].media_type = vx_xstrdup(mt);
        img->layers[i].size = json_integer_value(s);
        img->n_layers++;
    }
    return 0;
}

static int walk(struct vx_fetcher *f, const char *top, json_t *top_index,
                const struct vx_image_opts *opts, struct vx_image *img, struct vx_err **err)
{
    struct vx_buf body = VX_BUF_INIT(VX_MANIFEST_MAX);
    struct platform want;
    char *ref = top ? vx_xstrdup(top) : NULL, *ct = NULL, *dg = NULL, *cfg_path = NULL;
    char **digests = NULL, **paths = NULL;
    int64_t *sizes = NULL, cfg_size = 0;
    json_t *doc = NULL;
    int rc;

    if ((rc = platform_parse(opts->platform, &want, err)) < 0)
        goto out;
    if (top_index) {
        const char *next = NULL, *nmt = NULL;

        if ((rc = select_platform(top_index, &want, f->what, &next, &nmt, err)) < 0)
            goto out;
        if (!next || !vx_digest_valid(next)) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s: descriptor without sha256 digest",
                            f->what);
            goto out;
        }
        ref = vx_xstrdup(next);
    }
    for (int depth = 0;; depth++) {
        const char *mt, *next = NULL, *nmt = NULL;

        if (depth == MAX_DEPTH) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s: indexes nested too deep", f->what);
            goto out;
        }
        vx_buf_release(&body);
        free(ct);
        free(dg);
        ct = dg = NULL;
        if ((rc = f->manifest(f->ctx, ref, &body, &ct, &dg, err)) < 0)
            goto out;
        json_decref(doc);
        doc = NULL;
        if ((rc = vx_json_parse(body.data ? body.data : "", body.len, &doc, err)) < 0) {
            rc = vx_err_wrap(err, "%s: manifest %s", f->what, dg);
            goto out;
        }
        mt = vx_json_str(doc, "mediaType");
        if (!mt && ct && (is_index_type(ct) || is_manifest_type(ct)))
            mt = ct;
        if (!mt)
            mt =
                json_object_get(doc, "manifests")
                    ? "application/vnd.oci.image.index.v1+json"
                    : (json_object_get(doc, "layers") ? "application/vnd.oci.image.manifest.v1+json"
                                                      : "");
        if (is_index_type(mt)) {
            if (!img->index_digest)
                img->index_digest = vx_xstrdup(dg);
            if ((rc = select_platform(doc, &want, f->what, &next, &nmt, err)) < 0)
                goto out;
            if (!next || !vx_digest_valid(next)) {
                rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0, "%s: descriptor without sha256 digest",
                                f->what);
                goto out;
            }
            free(ref);
            ref = vx_xstrdup(next);
            continue;
        }
        if (!is_manifest_type(mt)) {
            rc = vx_err_set(err, VX_E_UNSUPPORTED, 0,
                            "%s: manifest %s has media type '%.100s' (schema 1 and other "
                            "formats are not supported)",
                            f->what, dg, mt);
            goto out;
        }
        img->manifest_digest = vx_xstrdup(dg);
        break;
    }
    if ((rc = layers_from_manifest(doc, img, &cfg_size, f->what, err)) < 0)
        goto out;
    if (cfg_size < 0 || cfg_size > VX_CONFIG_MAX) {
        rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "%s: config of %" PRId64 " bytes", f->what,
                        cfg_size);
        goto out;
    }
    digests = vx_xcalloc(img->n_layers + 1, sizeof(char *));
    sizes = vx_xcalloc(img->n_layers + 1, sizeof(int64_t));
    paths = vx_xcalloc(img->n_layers + 1, sizeof(char *));
    digests[0] = img->config_digest;
    sizes[0] = cfg_size;
    for (size_t i = 0; i < img->n_layers; i++) {
        digests[i + 1] = img->layers[i].digest;
        sizes[i + 1] = img->layers[i].size;
    }
    if ((rc = f->blobs(f->ctx, opts->cache_dir, digests, sizes, img->n_layers + 1, paths, err)) < 0)
        goto out;
    cfg_path = paths[0];
    for (size_t i = 0; i < img->n_layers; i++)
        img->layers[i].blob_path = paths[i + 1];
    vx_buf_release(&body);
    if ((rc = vx_bc_read_file(cfg_path, VX_CONFIG_MAX, &body, err)) < 0)
        goto out;
    img->config_json = vx_buf_detach(&body, NULL);
out:
    free(cfg_path);
    if (rc < 0 && paths)
        for (size_t i = 0; i < img->n_layers; i++)
            if (!img->layers[i].blob_path)
                free(paths[i + 1]);
    free(paths);
    free(digests);
    free(sizes);
    json_decref(doc);
    vx_buf_release(&body);
    free(ref);
    free(ct);
    free(dg);
    return rc;
}

static char *source_str(const struct vx_image_source *src)
{
    static const char *const pre[] = {"docker://", "oci:", "oci-archive:", "docker-archive:"};

    if (src->transport == VX_IMAGE_DOCKER) {
        char *r = vx_image_ref_str(&src->ref), *s = vx_xasprintf("docker://%s", r);

        free(r);
        return s;
    }
    return vx_xasprintf("%s%s%s%s", pre[src->transport], src->path, src->tag ? ":" : "",
                        src->tag ? src->tag : "");
}

int vx_image_pull(const struct vx_image_source *src, const char *expected_digest,
                  const struct vx_image_opts *opts, struct vx_image **out, struct vx_err **err)
{
    struct vx_image *img = vx_xcalloc(1, sizeof(*img));
    struct vx_reg *reg = NULL;
    struct vx_layout *lay = NULL;
    struct vx_fetcher f = {0};
    struct vx_buf top_index = VX_BUF_INIT(VX_MANIFEST_MAX);
    json_t *ti = NULL;
    char *top = NULL;
    const char *served = "the source served";
    int rc = 0;

    *out = NULL;
    if (!opts || !opts->cache_dir || !*opts->cache_dir) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "image pull needs a cache directory");
        goto out;
    }
    if (expected_digest && !vx_digest_valid(expected_digest)) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "expected digest '%.80s' is not sha256:<64 hex>",
                        expected_digest);
        goto out;
    }
    img->source = source_str(src);
    switch (src->transport) {
    case VX_IMAGE_DOCKER:
        served = "the registry served";
        if ((rc = vx_reg_open(&src->ref, opts, &reg, err)) < 0)
            goto out;
        vx_reg_fetcher(reg, &f);
        rc = walk(&f, src->ref.digest ? src->ref.digest : src->ref.tag, NULL, opts, img, err);
        break;
    case VX_IMAGE_OCI_DIR:
    case VX_IMAGE_OCI_ARCHIVE:
        if ((rc = vx_layout_open(src, opts, &lay, &top, &top_index, err)) < 0)
            goto out;
        vx_layout_fetcher(lay, &f);
        if (!top && (rc = vx_json_parse(top_index.data, top_index.len, &ti, err)) < 0)
            goto out;
        rc = walk(&f, top, ti, opts, img, err);
        break;
    case VX_IMAGE_DOCKER_ARCHIVE:
        rc = vx_docker_archive_load(src, opts, img, err);
        break;
    default:
        rc = vx_err_set(err, VX_E_INVALID, 0, "unknown image transport");
    }
    if (rc < 0)
        goto out;
    if ((rc = vx_image_config_parse(img->config_json, strlen(img->config_json), &img->config,
                                    err)) < 0)
        goto out;
    if (img->config.os && img->config.architecture)
        img->platform = vx_xasprintf("%s/%s%s%s", img->config.os, img->config.architecture,
                                     img->config.variant ? "/" : "",
                                     img->config.variant ? img->config.variant : "");
    if (expected_digest) {
        bool ok = (img->index_digest && strcmp(expected_digest, img->index_digest) == 0) ||
                  strcmp(expected_digest, img->manifest_digest) == 0;

        /* docker-archive has no registry digest: the config digest (the image ID) counts */
        if (src->transport == VX_IMAGE_DOCKER_ARCHIVE)
            ok |= strcmp(expected_digest, img->config_digest) == 0;
        if (!ok) {
            rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                            "image digest mismatch: expected %s but %s %s%s%smanifest %s%s%s",
                            expected_digest, served, img->index_digest ? "index " : "",
                            img->index_digest ? img->index_digest : "",
                            img->index_digest ? " / " : "", img->manifest_digest,
                            src->transport == VX_IMAGE_DOCKER_ARCHIVE ? " / config " : "",
                            src->transport == VX_IMAGE_DOCKER_ARCHIVE ? img->config_digest : "");
            goto out;
        }
    }
    *out = img;
    img = NULL;
out:
    if (rc < 0 && err && *err && img && img->source && !strstr((*err)->msg, "digest mismatch"))
        vx_err_wrap(err, "pull '%s'", img->source);
    json_decref(ti);
    vx_buf_release(&top_index);
    free(top);
    vx_reg_close(reg);
    vx_layout_close(lay);
    vx_image_free(img);
    return rc;
}

void vx_image_free(struct vx_image *img)
{
    if (!img)
        return;
    free(img->source);
    free(img->index_digest);
    free(img->manifest_digest);
    free(img->config_digest);
    free(img->platform);
    for (size_t i = 0; i < img->n_layers; i++) {
        free(img->layers[i].digest);
        free(img->layers[i].media_type);
        free(img->layers[i].blob_path);
    }
    free(img->layers);
    vx_image_config_release(&img->config);
    free(img->config_json);
    free(img);
}
