/* phase_inventory.c -- the `inventory` phase: packages and files of the rootfs, the
 * scanner's findings, and the binding of each finding to a package.
 *
 * DESIGN
 * Input: the rootfs the image phase unpacked (state->rootfs) and the findings: for a
 * service job the report stored with the job (vx_store_job_get_findings); for `vexxy
 * analyze` the files named by --findings (ctx->findings_files), merged in order. Output,
 * in the store before the phase ends (a retried job recomputes it; nothing here is
 * incremental): evidence "inventory" (packages, files, unmapped packages, warnings),
 * "findings" (normalised findings with their binding or the reason they stayed unbound)
 * and "sbom" (CycloneDX 1.6 of the image's packages). The inventory and findings stay in
 * the pipeline state for the phases that decide verdicts.
 */
#include "common/setup.h"

#include "queue/queue.h"
#include "queue/queue_int.h"
#include "findings/findings.h"   /* parse + bind */
#include "inventory/inventory.h" /* scan */
#include "image/image.h"         /* the image's digests for the SBOM */
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/* Moves every item and warning of src to the end of dst; src is left empty. */
static void merge_findings(struct vx_findings *dst, struct vx_findings *src)
{
    dst->items = vx_xgrow(dst->items, sizeof(*dst->items), dst->n + src->n, &dst->cap);
    memcpy(dst->items + dst->n, src->items, src->n * sizeof(*src->items));
    dst->n += src->n;
    src->n = 0;
    dst->warnings = vx_xgrow(dst->warnings, sizeof(*dst->warnings),
                             dst->n_warnings + src->n_warnings, &dst->cap_warnings);
    memcpy(dst->warnings + dst->n_warnings, src->warnings,
           src->n_warnings * sizeof(*src->warnings));
    dst->n_warnings += src->n_warnings;
    src->n_warnings = 0;
}

/* The job's findings, or *out = NULL when it has none. */
static int load_findings(struct vx_phase_ctx *ctx, struct vx_findings **out, struct vx_err **err)
{
    struct vx_findings *all = NULL, *one = NULL;
    char *text = NULL;
    int rc = 0;

    *out = NULL;
    for (size_t i = 0; i < ctx->n_findings_files; i++) {
        rc = vx_findings_parse_file(ctx->findings_files[i], &one, err);
        if (rc < 0) {
            vx_err_wrap(err, "findings '%s'", ctx->findings_files[i]);
            goto out;
        }
        if (!all) {
            all = one;
        } else {
            merge_findings(all, one);
            vx_findings_free(one);
        }
        one = NULL;
    }
    if (ctx->store) {
        if (ctx->job->findings_url && !ctx->n_findings_files) {
            rc = vx_err_field(err, VX_E_NOT_AVAILABLE, "findings_url",
                              "findings_url is not fetched by this version of vexxy; send the "
                              "report inline as 'findings'");
            goto out;
        }
        rc = vx_store_job_get_findings(ctx->store, ctx->job->id, &text, err);
        if (rc < 0)
            goto out;
        if (text) {
            rc = vx_findings_parse(text, strlen(text), &one, err);
            if (rc < 0) {
                vx_err_wrap(err, "the job's findings");
                goto out;
            }
            if (!all) {
                all = one;
            } else {
                merge_findings(all, one);
                vx_findings_free(one);
            }
            one = NULL;
        }
    }
    *out = all;
    all = NULL;
out:
    vx_findings_free(all);
    vx_findings_free(one);
    free(text);
    return rc;
}

static int put_evidence(struct vx_phase_ctx *ctx, const char *type, char *doc, struct vx_err **err)
{
    int rc = 0;

    if (ctx->store)
        rc = vx_store_evidence_put(ctx->store, ctx->job->id, type, "application/json", doc,
                                   strlen(doc), NULL, NULL, err);
    free(doc);
    return rc;
}

/* The image's purl for the SBOM's metadata component (the VEX documents' product), or NULL
 * when no sha256 digest is known. */
static char *image_purl(const struct vx_phase_ctx *ctx)
{
    const struct vx_image *img = ctx->state ? ctx->state->image : NULL;
    const char *digest = ctx->job->image_digest;

    if (!digest && img)
        digest = img->index_digest ? img->index_digest : img->manifest_digest;
    if (!digest || strncmp(digest, "sha256:", 7) != 0)
        return NULL;
    return vx_image_purl(ctx->job->image_ref, digest);
}

int vx_phase_inventory(struct vx_phase_ctx *ctx, struct vx_err **err)
{
    struct vx_pipeline_state *st = ctx->state;
    struct vx_inventory *inv = NULL;
    struct vx_findings *fnd = NULL;
    size_t n_bound = 0, n_unmapped = 0;
    size_t *unmapped = NULL;
    char *purl = NULL, uuid[37];
    int rc;

    if (!st || !st->rootfs) {
        rc = vx_err_set(err, VX_E_INTERNAL, 0, "the inventory phase runs after the image phase");
        goto out;
    }
    rc = vx_inventory_scan(st->rootfs, NULL, &inv, err);
    if (rc < 0) {
        vx_err_wrap(err, "inventory");
        goto out;
    }
    rc = load_findings(ctx, &fnd, err);
    if (rc < 0)
        goto out;
    if (fnd) {
        rc = vx_findings_bind(fnd, inv, &n_bound, err);
        if (rc < 0)
            goto out;
    }
    unmapped = vx_inventory_unmapped(inv, &n_unmapped);
    vx_info("job %s: %zu package(s), %" PRId64 " file(s) listed, %zu unmapped; %zu finding(s), "
            "%zu bound",
            ctx->job->id, inv->n_pkgs, inv->n_files_listed, n_unmapped, fnd ? fnd->n : 0, n_bound);
    rc = put_evidence(ctx, "inventory", vx_inventory_json(inv, true), err);
    if (rc == 0 && fnd)
        rc = put_evidence(ctx, "findings", vx_findings_json(fnd, inv), err);
    if (rc == 0) {
        purl = image_purl(ctx);
        vx_uuid4(uuid);
        rc = put_evidence(ctx, "sbom", vx_inventory_cyclonedx(inv, purl, uuid, vx_now_ms()), err);
    }
    if (rc < 0)
        goto out;
    vx_inventory_free(st->inventory);
    vx_findings_free(st->findings);
    st->inventory = inv;
    st->findings = fnd;
    inv = NULL;
    fnd = NULL;
out:
    vx_inventory_free(inv);
    vx_findings_free(fnd);
    free(unmapped);
    free(purl);
    return rc;
}
