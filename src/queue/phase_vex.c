/* phase_vex.c -- the `reach` and `vex` phases: verdicts, then the documents.
 *
 * DESIGN
 * reach: vx_reach_decide over the inventory, the bound findings, the run's profile and facts
 * (both NULL when no run happened: then nothing is not_affected by execution evidence).
 * vex: the verdicts become statements and the documents are written in this order:
 * evidence first (the statements point into it by id), then OpenVEX, CycloneDX and CSAF,
 * then the results object the API returns. With a store every document is stored as
 * evidence of the job before the phase ends; the worker then completes the job with the
 * results. Without one (`vexxy analyze`) they stay in the pipeline state for the command
 * to write. Documents are deterministic for the same inputs except ids and timestamps.
 */
#include "common/setup.h"

#include "queue/queue.h"
#include "queue/queue_int.h"
#include "reach/reach.h"         /* verdicts and statements */
#include "vex/vex.h"             /* document writers */
#include "findings/findings.h"   /* counts for the evidence */
#include "inventory/inventory.h" /* packages for the evidence */
#include "image/image.h"         /* the image's digests = the products */
#include "trace/trace.h"         /* the profile in the evidence */
#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

int vx_phase_reach(struct vx_phase_ctx *ctx, struct vx_err **err)
{
    struct vx_pipeline_state *st = ctx->state;
    struct vx_reach_result *r = NULL;
    int rc;

    if (!st || !st->inventory)
        return vx_err_set(err, VX_E_INTERNAL, 0, "the reach phase runs after the inventory");
    rc = vx_reach_decide(st->inventory, st->findings, st->profile, st->facts, NULL, &r, err);
    if (rc < 0)
        return rc;
    vx_info("job %s: %zu verdict(s): %zu affected, %zu not affected, %zu under investigation, "
            "%zu fixed (run confidence %.2f)",
            ctx->job->id, r->n, r->n_affected, r->n_not_affected, r->n_under_investigation,
            r->n_fixed, r->run_confidence);
    vx_reach_result_free(st->reach);
    st->reach = r;
    return 0;
}

/* vx_image_purl for each known digest, without duplicates. */
static size_t products(const struct vx_phase_ctx *ctx, char **out)
{
    const struct vx_image *img = ctx->state->image;
    const char *digests[3] = {ctx->job->image_digest, img ? img->index_digest : NULL,
                              img ? img->manifest_digest : NULL};
    size_t n = 0;

    for (size_t i = 0; i < 3; i++) {
        const char *d = digests[i];
        char *p;
        bool dup = false;

        if (!d || strncmp(d, "sha256:", 7) != 0)
            continue;
        p = vx_image_purl(ctx->job->image_ref, d);
        for (size_t k = 0; k < n; k++)
            dup |= !strcmp(out[k], p);
        if (dup)
            free(p);
        else
            out[n++] = p;
    }
    return n;
}

/* The evidence document: per verdict the files and what touched them, the trace window
 * and loss counts, the run's figures, tool versions. */
static char *evidence_doc(const struct vx_phase_ctx *ctx, const char *reach_json)
{
    const struct vx_pipeline_state *st = ctx->state;
    json_t *root = json_object(), *reach = NULL, *tools = json_object(), *run = json_object();
    struct vx_err *err = NULL;
    char *out;

    if (vx_json_parse(reach_json, strlen(reach_json), &reach, &err) < 0)
        vx_err_free(&err);
    json_object_set_new(root, "job_id", json_string(ctx->job->id));
    json_object_set_new(root, "image_ref", json_string(ctx->job->image_ref));
    if (ctx->job->image_digest)
        json_object_set_new(root, "image_digest", json_string(ctx->job->image_digest));
    if (st->image) {
        char *img = vx_image_json(st->image, NULL);
        json_t *v = NULL;

        if (vx_json_parse(img, strlen(img), &v, &err) < 0)
            vx_err_free(&err);
        else
            json_object_set_new(root, "image", v);
        free(img);
    }
    json_object_set_new(tools, "vexxy", json_string(VX_VERSION));
    json_object_set_new(root, "tools", tools);
    json_object_set_new(root, "verdicts",
                        reach ? json_incref(json_object_get(reach, "reachability_results"))
                              : json_array());
    json_object_set_new(root, "summary",
                        reach ? json_incref(json_object_get(reach, "summary")) : json_object());
    if (st->facts) {
        const struct vx_run_facts *f = st->facts;

        json_object_set_new(run, "ran", json_boolean(f->ran));
        json_object_set_new(run, "stayed_up", json_boolean(f->stayed_up));
        json_object_set_new(run, "exit_code", json_integer(f->exit_code));
        json_object_set_new(run, "window_ms", json_integer(f->window_ms));
        json_object_set_new(run, "window_wanted_ms", json_integer(f->window_wanted_ms));
        json_object_set_new(run, "health_checked", json_boolean(f->health_checked));
        json_object_set_new(run, "health_ok", json_boolean(f->health_ok));
        json_object_set_new(run, "requests", json_integer(f->requests));
        json_object_set_new(run, "endpoints", json_integer(f->endpoints));
        json_object_set_new(run, "test_script_ran", json_boolean(f->test_script_ran));
        json_object_set_new(run, "test_script_exit", json_integer(f->test_script_exit));
    } else {
        json_object_set_new(run, "ran", json_false());
    }
    if (reach)
        json_object_update(run, json_object_get(reach, "run"));
    json_object_set_new(root, "run", run);
    if (st->profile) {
        const struct vx_trace_profile *p = st->profile;
        json_t *tr = json_object(), *be = json_array();

        json_object_set_new(tr, "complete", json_boolean(p->complete));
        json_object_set_new(tr, "start_ms", json_integer(p->start_ms));
        json_object_set_new(tr, "end_ms", json_integer(p->end_ms));
        json_object_set_new(tr, "files", json_integer((json_int_t)p->n_files));
        json_object_set_new(tr, "processes", json_integer((json_int_t)p->n_procs));
        for (size_t i = 0; i < p->n_backends; i++)
            json_array_append_new(be, json_pack("{ss sb sI sI ss?}", "name", p->backends[i].name,
                                                "ran", p->backends[i].ran, "events",
                                                (json_int_t)p->backends[i].events, "lost",
                                                (json_int_t)p->backends[i].lost, "error",
                                                p->backends[i].error));
        json_object_set_new(tr, "backends", be);
        json_object_set_new(root, "trace", tr);
    }
    if (st->inventory)
        json_object_set_new(root, "inventory",
                            json_pack("{sI sI}", "packages", (json_int_t)st->inventory->n_pkgs,
                                      "files_listed", (json_int_t)st->inventory->n_files_listed));
    json_decref(reach);
    out = vx_json_dump(root);
    json_decref(root);
    return out;
}

static int store_doc(struct vx_phase_ctx *ctx, const char *type, const char *doc, char **id,
                     struct vx_err **err)
{
    if (!ctx->store || !doc)
        return 0;
    return vx_store_evidence_put(ctx->store, ctx->job->id, type, "application/json", doc,
                                 strlen(doc), NULL, id, err);
}

int vx_phase_vex(struct vx_phase_ctx *ctx, struct vx_err **err)
{
    struct vx_pipeline_state *st = ctx->state;
    struct vx_reach_statements stm = {0};
    struct vx_vex_doc doc = {0};
    struct vx_findings none = {0};
    char *prods[3] = {NULL, NULL, NULL}, *reach_json = NULL, *doc_id = NULL;
    char *ev_id = NULL, *ev_ref = NULL, *openvex_id = NULL, uuid[37];
    json_t *res = NULL, *ov = NULL;
    size_t n_prods;
    int rc;

    if (!st || !st->reach || !st->inventory)
        return vx_err_set(err, VX_E_INTERNAL, 0, "the vex phase runs after the reach phase");
    n_prods = products(ctx, prods);
    reach_json = vx_reach_json(st->reach, st->inventory, st->findings ? st->findings : &none);

    /* evidence first: the statements point into it */
    free(st->evidence);
    st->evidence = evidence_doc(ctx, reach_json);
    rc = store_doc(ctx, "evidence", st->evidence, &ev_id, err);
    if (rc < 0)
        goto out;
    ev_ref = ev_id ? vx_xasprintf("/api/v1/analysis/%s/evidence (%s)", ctx->job->id, ev_id)
                   : vx_xstrdup("evidence.json");
    rc = vx_reach_statements(st->reach, st->inventory, st->findings ? st->findings : &none, ev_ref,
                             &stm, err);
    if (rc < 0)
        goto out;
    doc_id = vx_xasprintf("https://vexxy.dev/vex/%s", ctx->job->id);
    doc.id = doc_id;
    doc.author = "vexxy";
    doc.tooling = "vexxy/" VX_VERSION;
    doc.timestamp_ms = vx_now_ms();
    doc.version = 1;
    doc.products = (const char *const *)prods;
    doc.n_products = n_prods;
    doc.image_name = ctx->job->image_ref;
    doc.statements = stm.items;
    doc.n_statements = stm.n;
    free(st->openvex);
    free(st->cyclonedx);
    free(st->csaf);
    /* OpenVEX requires at least one statement: no findings, no OpenVEX document */
    st->openvex = stm.n ? vx_vex_openvex(&doc) : NULL;
    vx_uuid4(uuid);
    st->cyclonedx = vx_vex_cyclonedx(&doc, uuid);
    st->csaf = vx_vex_csaf(&doc);
    /* the SBOMs: every package, and those whose files ran (opened, executed, mapped) */
    free(st->sbom);
    free(st->sbom_in_use);
    vx_uuid4(uuid);
    st->sbom = vx_inventory_cyclonedx(st->inventory, prods[0], uuid, doc.timestamp_ms);
    st->sbom_in_use = NULL;
    if (st->profile) {
        const struct vx_inventory *inv = st->inventory;
        bool *used = vx_xcalloc(inv->n_owners ? inv->n_owners : 1, sizeof(*used));

        for (size_t k = 0; k < inv->n_owners; k++)
            used[k] = !inv->owners[k].is_dir &&
                      vx_trace_profile_file(st->profile, inv->owners[k].path) != NULL;
        vx_uuid4(uuid);
        st->sbom_in_use = vx_inventory_cyclonedx_used(inv, prods[0], uuid, doc.timestamp_ms, used);
        free(used);
    }
    rc = store_doc(ctx, "openvex", st->openvex, &openvex_id, err);
    if (rc == 0 && st->sbom_in_use)
        rc = store_doc(ctx, "sbom-in-use", st->sbom_in_use, NULL, err);
    if (rc == 0)
        rc = store_doc(ctx, "cyclonedx", st->cyclonedx, NULL, err);
    if (rc == 0)
        rc = store_doc(ctx, "csaf", st->csaf, NULL, err);
    if (rc < 0)
        goto out;

    /* results: summary, per-CVE results, the OpenVEX document, profile summary, coverage */
    rc = vx_json_parse(reach_json, strlen(reach_json), &res, err);
    if (rc < 0)
        goto out;
    if (st->openvex && vx_json_parse(st->openvex, strlen(st->openvex), &ov, err) < 0) {
        rc = -VX_E_INTERNAL;
        goto out;
    }
    json_object_set_new(res, "vex_document", ov ? ov : json_null());
    ov = NULL;
    json_object_set_new(res, "vex_document_id", openvex_id ? json_string(openvex_id) : json_null());
    json_object_set_new(res, "evidence_id", ev_id ? json_string(ev_id) : json_null());
    json_object_set_new(res, "execution_profile",
                        st->profile
                            ? json_pack("{sb sI sI sI}", "complete", st->profile->complete, "files",
                                        (json_int_t)st->profile->n_files, "processes",
                                        (json_int_t)st->profile->n_procs, "window_ms",
                                        (json_int_t)(st->profile->end_ms - st->profile->start_ms))
                            : json_null());
    json_object_set_new(res, "coverage",
                        st->facts ? json_pack("{sb sb sI sI sI}", "health_checked",
                                              st->facts->health_checked, "health_ok",
                                              st->facts->health_ok, "requests",
                                              (json_int_t)st->facts->requests, "endpoints",
                                              (json_int_t)st->facts->endpoints, "window_ms",
                                              (json_int_t)st->facts->window_ms)
                                  : json_null());
    {
        char ts[32];

        json_object_set_new(res, "completed_at",
                            json_string(vx_time_iso8601(vx_now_ms(), ts, sizeof(ts))));
    }
    free(st->results_json);
    st->results_json = vx_json_dump(res);
    free(st->evidence_id);
    st->evidence_id = ev_id;
    ev_id = NULL;
    rc = 0;
out:
    json_decref(res);
    json_decref(ov);
    vx_reach_statements_free(&stm);
    for (size_t i = 0; i < 3; i++)
        free(prods[i]);
    free(reach_json);
    free(doc_id);
    free(ev_id);
    free(ev_ref);
    free(openvex_id);
    return rc;
}
