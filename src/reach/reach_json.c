/* reach_json.c -- the verdicts as the API's reachability results, and as VEX statements.
 *
 * The JSON is what GET /results returns under "reachability_results" and "summary" (DESIGN.md
 * §3) and what the evidence document embeds. The statements feed the vex module's writers:
 * their subcomponents are the purl exactly as the client's report wrote it (so the
 * scanner that produced the report matches it), then qualifier-free variants of it and of
 * the inventory's purl (so other scanners, which spell qualifiers differently, match too).
 */
#include "common/setup.h"

#include "reach/reach.h"

#include "findings/findings.h"   /* finding fields */
#include "inventory/inventory.h" /* package purls, vx_purl_strip */
#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"

static json_t *str_array(char *const *a, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(a[i]));
    return arr;
}

static json_t *nullable(const char *s)
{
    return s ? json_string(s) : json_null();
}

char *vx_reach_json(const struct vx_reach_result *r, const struct vx_inventory *inv,
                    const struct vx_findings *f)
{
    json_t *root = json_object(), *sum = json_object(), *list = json_array(), *run;
    double conf_sum = 0.0;
    char *out;

    for (size_t i = 0; i < r->n; i++) {
        const struct vx_verdict *v = &r->verdicts[i];
        const struct vx_finding *f0 = &f->items[v->findings[0]];
        const struct vx_pkg *p = v->pkg >= 0 ? &inv->pkgs[v->pkg] : NULL;
        json_t *o = json_object(), *aliases = json_array(), *ids = json_array();

        conf_sum += v->confidence;
        for (size_t m = 0; m < v->n_findings; m++) {
            const struct vx_finding *fm = &f->items[v->findings[m]];

            json_array_append_new(ids, json_integer((json_int_t)v->findings[m]));
            for (size_t a = 0; a < fm->n_aliases; a++) {
                bool dup = strcmp(fm->aliases[a], v->vuln_id) == 0;

                for (size_t k = 0; !dup && k < json_array_size(aliases); k++)
                    dup = !strcmp(json_string_value(json_array_get(aliases, k)), fm->aliases[a]);
                if (!dup)
                    json_array_append_new(aliases, json_string(fm->aliases[a]));
            }
        }
        json_object_set_new(o, "cve", json_string(v->vuln_id));
        json_object_set_new(o, "aliases", aliases);
        json_object_set_new(o, "package", nullable(p ? p->name : f0->name));
        json_object_set_new(o, "version", nullable(p ? p->version : f0->version));
        json_object_set_new(o, "purl", nullable(p ? p->purl : f0->purl));
        json_object_set_new(o, "report_purl", nullable(f0->purl));
        json_object_set_new(o, "fixed_version", nullable(f0->fixed_version));
        json_object_set_new(o, "severity", nullable(f0->severity));
        json_object_set_new(o, "status", json_string(vx_vex_status_name(v->status)));
        json_object_set_new(o, "justification",
                            v->justification == VX_JUST_NONE
                                ? json_null()
                                : json_string(vx_vex_justification_name(v->justification)));
        json_object_set_new(o, "confidence_score", json_real(v->confidence));
        json_object_set_new(o, "reason", json_string(v->reason ? v->reason : ""));
        json_object_set_new(o, "vulnerable_files", str_array(v->files, v->n_files));
        json_object_set_new(o, "vulnerable_files_total", json_integer(v->n_files_total));
        json_object_set_new(o, "executed_files", str_array(v->touched, v->n_touched));
        json_object_set_new(o, "symbols_called", str_array(v->symbols_called, v->n_symbols_called));
        json_object_set_new(o, "findings", ids);
        json_object_set_new(o, "evidence", json_sprintf("verdicts/%zu", i));
        json_array_append_new(list, o);
    }
    json_object_set_new(sum, "total_cves_analyzed", json_integer((json_int_t)r->n));
    json_object_set_new(sum, "affected", json_integer((json_int_t)r->n_affected));
    json_object_set_new(sum, "not_affected", json_integer((json_int_t)r->n_not_affected));
    json_object_set_new(sum, "under_investigation",
                        json_integer((json_int_t)r->n_under_investigation));
    json_object_set_new(sum, "fixed", json_integer((json_int_t)r->n_fixed));
    json_object_set_new(sum, "analysis_method", json_string("runtime_reachability"));
    json_object_set_new(sum, "confidence", json_real(r->n ? conf_sum / (double)r->n : 0.0));
    run = json_object();
    json_object_set_new(run, "confidence", json_real(r->run_confidence));
    json_object_set_new(run, "reason", json_string(r->run_reason ? r->run_reason : ""));
    json_object_set_new(run, "profile_complete", json_boolean(r->profile_complete));
    json_object_set_new(root, "summary", sum);
    json_object_set_new(root, "reachability_results", list);
    json_object_set_new(root, "run", run);
    out = vx_json_dump(root);
    json_decref(root);
    return out;
}

/* ---- statements ------------------------------------------------------------------------------ */

static const char *keep(struct vx_reach_statements *s, char *str)
{
    s->owned = vx_xgrow(s->owned, sizeof(*s->owned), s->n_owned + 1, &s->cap_owned);
    s->owned[s->n_owned++] = str;
    return str;
}

/* Adds str to the list unless it is NULL or already there. */
static void add_unique(const char **list, size_t *n, const char *str)
{
    if (!str || !*str)
        return;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(list[i], str))
            return;
    list[(*n)++] = str;
}

/* A qualifier-free purl for a finding that came with none and names no package of the image
 * (a package that is not there): without a subcomponent a statement would be about the whole
 * image, which CSAF cannot express (empty product_ids) and which scanners would apply to
 * every package with that id. OS packages take the distro's namespace. NULL if the finding
 * lacks a name, version or known type. Caller frees. */
static char *finding_purl(const struct vx_finding *fm, const struct vx_inventory *inv)
{
    struct vx_pkg tmp = {0};
    int type = fm->type ? vx_pkg_type_parse(fm->type) : -1;

    if (type < 0 || !fm->name || !fm->version)
        return NULL;
    tmp.type = (enum vx_pkg_type)type;
    tmp.name = fm->name;
    tmp.version = fm->version;
    if (type == VX_PKG_DEB || type == VX_PKG_APK || type == VX_PKG_RPM)
        tmp.namespace = inv && inv->distro_id ? inv->distro_id : NULL;
    return vx_purl_build(&tmp, NULL);
}

int vx_reach_statements(const struct vx_reach_result *r, const struct vx_inventory *inv,
                        const struct vx_findings *f, const char *evidence_ref,
                        struct vx_reach_statements *out, struct vx_err **err)
{
    (void)err;
    memset(out, 0, sizeof(*out));
    out->items = vx_xcalloc(r->n + 1, sizeof(*out->items));
    for (size_t i = 0; i < r->n; i++) {
        const struct vx_verdict *v = &r->verdicts[i];
        const struct vx_finding *f0 = &f->items[v->findings[0]];
        const struct vx_pkg *p = v->pkg >= 0 ? &inv->pkgs[v->pkg] : NULL;
        struct vx_vex_statement *st = &out->items[i];
        size_t n_alias = 0, n_sub = 0, max_alias = 0;
        const char **aliases, **subs;

        for (size_t m = 0; m < v->n_findings; m++)
            max_alias += f->items[v->findings[m]].n_aliases + 1;
        aliases = (const char **)keep(out, vx_xcalloc(max_alias + 1, sizeof(char *)));
        subs = (const char **)keep(out, vx_xcalloc(2 * v->n_findings + 3, sizeof(char *)));
        for (size_t m = 0; m < v->n_findings; m++) {
            const struct vx_finding *fm = &f->items[v->findings[m]];

            if (strcmp(fm->id, v->vuln_id) != 0)
                add_unique(aliases, &n_alias, fm->id);
            for (size_t a = 0; a < fm->n_aliases; a++)
                if (strcmp(fm->aliases[a], v->vuln_id) != 0)
                    add_unique(aliases, &n_alias, fm->aliases[a]);
            add_unique(subs, &n_sub, fm->purl);
        }
        for (size_t m = 0; m < v->n_findings; m++) {
            const char *purl = f->items[v->findings[m]].purl;
            char *stripped = purl ? vx_purl_strip(purl) : NULL;

            if (stripped)
                add_unique(subs, &n_sub, keep(out, stripped));
        }
        if (p && p->purl) {
            char *stripped = vx_purl_strip(p->purl);

            if (stripped)
                add_unique(subs, &n_sub, keep(out, stripped));
        }
        if (n_sub == 0) {
            char *synth = finding_purl(f0, inv);

            if (synth)
                add_unique(subs, &n_sub, keep(out, synth));
        }
        st->vuln_id = v->vuln_id;
        st->aliases = aliases;
        st->n_aliases = n_alias;
        st->subcomponents = subs;
        st->n_subcomponents = n_sub;
        st->status = v->status;
        st->justification = v->justification;
        st->confidence = v->confidence;
        st->severity = f0->severity;
        st->fixed_version = f0->fixed_version;
        if (v->status == VX_VEX_NOT_AFFECTED)
            st->impact_statement = v->reason;
        if (v->status == VX_VEX_AFFECTED)
            st->action_statement =
                f0->fixed_version && *f0->fixed_version
                    ? keep(out, vx_xasprintf("upgrade %s to %s", p ? p->name : f0->name,
                                             f0->fixed_version))
                    : keep(out, vx_xasprintf("no fixed version of %s is known yet; %s",
                                             p ? p->name : f0->name, v->reason));
        st->status_notes =
            keep(out, vx_xasprintf("%s%sverdicts/%zu: %s", evidence_ref ? evidence_ref : "",
                                   evidence_ref ? "#" : "", i, v->reason));
    }
    out->n = r->n;
    return 0;
}

void vx_reach_statements_free(struct vx_reach_statements *s)
{
    for (size_t i = 0; i < s->n_owned; i++)
        free(s->owned[i]);
    free(s->owned);
    free(s->items);
    memset(s, 0, sizeof(*s));
}
