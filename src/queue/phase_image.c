/* phase_image.c -- the `image` phase: resolve, pull, verify and unpack the job's image.
 *
 * DESIGN
 * The job's image_ref is parsed as an image source. A service only pulls from registries:
 * a client never gets the server to read a path of its own (oci:, oci-archive:,
 * docker-archive: are for `vexxy analyze` on the user's machine). The pull verifies every
 * blob and requires the job's image_digest to be the index or the platform manifest
 * digest. The unpacked tree is shared by every analysis of the same manifest on this host
 * (rootfs_cache.c: <data_dir>/rootfs/<digest>-<shift>, held with a shared lock until the job
 * ends), or with --rootfs-cache -1 goes to <data_dir>/jobs/<id>/rootfs. The job directory
 * (overlay, logs) is removed first: a retried job starts from a clean state. What was pulled (digests, platform, layers, config,
 * unpack report) is stored as the job's "image" evidence before the phase ends.
 */
#include "common/setup.h"

#include <unistd.h>

#include "queue/queue.h"
#include "queue/queue_int.h"
#include "image/image.h"
#include "inventory/inventory.h" /* vx_inventory_free in the state release */
#include "findings/findings.h"   /* vx_findings_free in the state release */
#include "reach/reach.h"         /* vx_reach_result_free in the state release */
#include "trace/trace.h"         /* vx_trace_profile_free in the state release */
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/log.h"

void vx_pipeline_state_release(struct vx_pipeline_state *st)
{
    vx_image_free(st->image);
    st->image = NULL;
    vx_inventory_free(st->inventory);
    st->inventory = NULL;
    vx_findings_free(st->findings);
    st->findings = NULL;
    vx_trace_profile_free(st->profile);
    st->profile = NULL;
    free(st->facts);
    st->facts = NULL;
    vx_reach_result_free(st->reach);
    st->reach = NULL;
    free(st->results_json);
    free(st->openvex);
    free(st->cyclonedx);
    free(st->csaf);
    free(st->evidence);
    free(st->evidence_id);
    free(st->sbom);
    free(st->sbom_in_use);
    st->results_json = st->openvex = st->cyclonedx = st->csaf = st->evidence = NULL;
    st->sbom = st->sbom_in_use = NULL;
    st->evidence_id = NULL;
    free(st->job_dir);
    free(st->rootfs);
    st->job_dir = NULL;
    st->rootfs = NULL;
    if (st->rootfs_lock > 0)
        close(st->rootfs_lock - 1); /* the shared tree may be evicted from now on */
    st->rootfs_lock = 0;
}

/* true if the registry "host[:port]" is in the comma-separated list: an entry "*" matches
 * every registry, "host:port" that one, and a bare "host" the host on any port. */
static bool in_list(const char *list, const char *registry)
{
    size_t n = strlen(registry);
    const char *colon = strrchr(registry, ':');
    size_t hostlen = colon && !strchr(colon, ']') ? (size_t)(colon - registry) : n;

    while (list && *list) {
        const char *end = strchr(list, ',');
        size_t len = end ? (size_t)(end - list) : strlen(list);

        while (len && *list == ' ') {
            list++;
            len--;
        }
        while (len && list[len - 1] == ' ')
            len--;
        if ((len == 1 && *list == '*') || (len == n && strncmp(list, registry, n) == 0) ||
            (len == hostlen && strncmp(list, registry, hostlen) == 0))
            return true;
        list = end ? end + 1 : NULL;
    }
    return false;
}

int vx_phase_image(struct vx_phase_ctx *ctx, struct vx_err **err)
{
    const struct vx_job_rec *job = ctx->job;
    const struct vx_pipeline_config *cfg = ctx->cfg;
    struct vx_image_source src = {0};
    struct vx_image_opts opts = {0};
    struct vx_unpack_opts uopts = {0};
    struct vx_unpack_report rep = {0};
    struct vx_image *img = NULL;
    char *cache = NULL, *job_dir = NULL, *rootfs = NULL, *doc = NULL;
    int rc, lock_fd = -1, max_cached = cfg && cfg->rootfs_cache ? cfg->rootfs_cache : 8;
    bool hit = false;

    rc = vx_image_source_parse(job->image_ref, &src, err);
    if (rc < 0)
        goto out;
    if (src.transport != VX_IMAGE_DOCKER && !(cfg && cfg->allow_local_sources)) {
        rc = vx_err_field(err, VX_E_INVALID, "image_ref",
                          "image_ref '%s' names a local path; the service pulls only from "
                          "registries",
                          job->image_ref);
        goto out;
    }
    if (src.transport == VX_IMAGE_DOCKER && cfg && cfg->allowed_registries &&
        !in_list(cfg->allowed_registries, src.ref.registry)) {
        rc = vx_err_field(err, VX_E_FORBIDDEN, "image_ref",
                          "registry '%s' is not in the allowed registries of this service (%s)",
                          src.ref.registry, cfg->allowed_registries);
        goto out;
    }
    cache = vx_xasprintf("%s/cache", ctx->data_dir); /* + blobs/sha256/<hex> */
    job_dir = vx_xasprintf("%s/jobs/%s", ctx->data_dir, job->id);
    rc = vx_fs_remove_tree(job_dir, err);
    if (rc < 0)
        goto out;
    rc = vx_fs_mkdirs(cache, 0700, err);
    if (rc == 0)
        rc = vx_fs_mkdirs(job_dir, 0711, err);
    if (rc < 0)
        goto out;

    opts.cache_dir = cache;
    opts.platform = cfg ? cfg->platform : NULL;
    opts.docker_config = cfg ? cfg->docker_config : NULL;
    opts.insecure_registry = src.transport == VX_IMAGE_DOCKER && cfg &&
                             in_list(cfg->insecure_registries, src.ref.registry);
    rc = vx_image_pull(&src, job->image_digest, &opts, &img, err);
    if (rc < 0) {
        vx_err_wrap(err, "pull '%s'", job->image_ref);
        goto out;
    }
    if (ctx->should_stop && ctx->should_stop(ctx)) {
        rc = vx_err_set(err, VX_E_CANCELLED, 0, "stopped after the pull");
        goto out;
    }
    /* As root, ownership is kept and shifted into the sandbox's user namespace range at
     * unpack time: the read-only lower dir then needs no copy per job (DESIGN.md §8). */
    uopts.keep_ownership = geteuid() == 0;
    uopts.uid_shift =
        uopts.keep_ownership ? (cfg && cfg->uid_shift ? cfg->uid_shift : 0x10000000u) : 0;
    uopts.id_range = 65536;
    if (max_cached > 0) {
        rc = vx_rootfs_cache_get(ctx->data_dir, img, &uopts, max_cached, &rootfs, &lock_fd, &rep,
                                 &hit, err);
    } else {
        rootfs = vx_xasprintf("%s/rootfs", job_dir);
        rc = vx_image_unpack(img, rootfs, &uopts, &rep, err);
    }
    if (rc < 0) {
        vx_err_wrap(err, "unpack '%s'", job->image_ref);
        goto out;
    }
    vx_info("job %s: image %s (%s, manifest %s): %zu layer(s), %" PRId64 " entries %s", job->id,
            job->image_ref, img->platform ? img->platform : "?",
            img->manifest_digest ? img->manifest_digest : "?", img->n_layers, rep.entries,
            hit ? "(unpacked before: shared tree reused)" : "unpacked");
    if (ctx->store) {
        doc = vx_image_json(img, &rep);
        rc = vx_store_evidence_put(ctx->store, job->id, "image", "application/json", doc,
                                   strlen(doc), NULL, NULL, err);
        if (rc < 0)
            goto out;
    }
    if (ctx->state) {
        vx_pipeline_state_release(ctx->state);
        ctx->state->image = img;
        ctx->state->job_dir = job_dir;
        ctx->state->rootfs = rootfs;
        ctx->state->rootfs_lock = lock_fd >= 0 ? lock_fd + 1 : 0;
        img = NULL;
        job_dir = rootfs = NULL;
        lock_fd = -1;
    }
    rc = 0;
out:
    if (lock_fd >= 0)
        close(lock_fd);
    vx_unpack_report_release(&rep);
    vx_image_source_release(&src);
    vx_image_free(img);
    free(cache);
    free(job_dir);
    free(rootfs);
    free(doc);
    return rc;
}
