/* cdx_csaf.c -- the same statements as CycloneDX 1.6 VEX and as CSAF 2.0 (csaf_vex).
 *
 * Mappings (documented in docs/vex.md):
 *   status      CycloneDX analysis.state      CSAF product_status
 *   not_affected  not_affected                known_not_affected (+ flag, + impact threat)
 *   affected      exploitable                 known_affected (+ remediation)
 *   fixed         resolved                    fixed
 *   under_inv.    in_triage                   under_investigation
 *   justification: component_not_present and vulnerable_code_not_present -> code_not_present,
 *   vulnerable_code_not_in_execute_path -> code_not_reachable, cannot_be_controlled ->
 *   requires_environment, inline_mitigations -> protected_by_mitigating_control; the CSAF
 *   flags carry the OpenVEX names unchanged (the csaf_vex labels are the same words).
 * Both documents carry vexxy's confidence: CycloneDX as a vulnerability property, CSAF as a
 * note. Components / products are de-duplicated across statements.
 */
#include "common/setup.h"

#include "vex/vex.h"

#include "common/alloc.h"
#include "common/json.h"
#include "common/util.h"

/* The package name of a purl for display: the segment after the last '/' up to '@'/'?'. */
static char *purl_name(const char *purl)
{
    const char *end = purl + strcspn(purl, "@?#"), *slash = purl;

    for (const char *p = purl; p < end; p++)
        if (*p == '/')
            slash = p + 1;
    return vx_xstrndup(slash, (size_t)(end - slash));
}

/* True the first time s is offered to set (a JSON object used as a hash set: a lookup per
 * string, where a list would cost a scan of every earlier one). A string jansson refuses
 * (not UTF-8) is never recorded, so it is "new" every time, as it was with a list. */
static bool first_time(json_t *set, const char *s)
{
    if (json_object_get(set, s))
        return false;
    json_object_set_new(set, s, json_true());
    return true;
}

static const char *cdx_state(enum vx_vex_status s)
{
    switch (s) {
    case VX_VEX_NOT_AFFECTED:
        return "not_affected";
    case VX_VEX_AFFECTED:
        return "exploitable";
    case VX_VEX_FIXED:
        return "resolved";
    default:
        return "in_triage";
    }
}

static const char *cdx_justification(enum vx_vex_justification j)
{
    switch (j) {
    case VX_JUST_COMPONENT_NOT_PRESENT:
    case VX_JUST_VULNERABLE_CODE_NOT_PRESENT:
        return "code_not_present";
    case VX_JUST_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH:
        return "code_not_reachable";
    case VX_JUST_VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY:
        return "requires_environment";
    case VX_JUST_INLINE_MITIGATIONS_ALREADY_EXIST:
        return "protected_by_mitigating_control";
    default:
        return NULL;
    }
}

static json_t *cdx_component(const char *type, const char *purl)
{
    json_t *c = json_object();
    char *name = purl_name(purl);

    json_object_set_new(c, "type", json_string(type));
    json_object_set_new(c, "bom-ref", json_string(purl));
    json_object_set_new(c, "name", json_string(name));
    json_object_set_new(c, "purl", json_string(purl));
    free(name);
    return c;
}

char *vx_vex_cyclonedx(const struct vx_vex_doc *d, const char *serial_uuid)
{
    json_t *root = json_object(), *meta = json_object(), *tools = json_object();
    json_t *tool = json_object(), *comps = json_array(), *vulns = json_array();
    json_t *seen = json_object();
    char ts[32], conf[16], *out;

    vx_time_iso8601(d->timestamp_ms, ts, sizeof(ts));
    json_object_set_new(root, "bomFormat", json_string("CycloneDX"));
    json_object_set_new(root, "specVersion", json_string("1.6"));
    json_object_set_new(root, "serialNumber", json_sprintf("urn:uuid:%s", serial_uuid));
    json_object_set_new(root, "version", json_integer(d->version >= 1 ? d->version : 1));
    json_object_set_new(meta, "timestamp", json_string(ts));
    json_object_set_new(tool, "type", json_string("application"));
    json_object_set_new(tool, "name", json_string("vexxy"));
    if (d->tooling && strchr(d->tooling, '/'))
        json_object_set_new(tool, "version", json_string(strchr(d->tooling, '/') + 1));
    json_object_set_new(tools, "components", json_pack("[o]", tool));
    json_object_set_new(meta, "tools", tools);
    if (d->n_products) {
        json_t *c = cdx_component("container", d->products[0]);

        if (d->image_name)
            json_object_set_new(c, "name", json_string(d->image_name));
        json_object_set_new(meta, "component", c);
    }
    json_object_set_new(root, "metadata", meta);
    for (size_t i = 0; i < d->n_statements; i++) {
        const struct vx_vex_statement *s = &d->statements[i];
        json_t *v = json_object(), *an = json_object(), *affects = json_array();
        json_t *props = json_array(), *prop = json_object();
        const char *j = cdx_justification(s->justification);

        for (size_t k = 0; k < s->n_subcomponents; k++) {
            if (first_time(seen, s->subcomponents[k]))
                json_array_append_new(comps, cdx_component("library", s->subcomponents[k]));
            json_array_append_new(affects, json_pack("{ss}", "ref", s->subcomponents[k]));
        }
        json_object_set_new(v, "bom-ref", json_sprintf("vuln-%zu", i));
        json_object_set_new(v, "id", json_string(s->vuln_id));
        if (s->n_aliases) {
            json_t *refs = json_array();

            for (size_t a = 0; a < s->n_aliases; a++)
                json_array_append_new(
                    refs, json_pack("{ss s{ss}}", "id", s->aliases[a], "source", "name",
                                    strncmp(s->aliases[a], "CVE-", 4) == 0    ? "NVD"
                                    : strncmp(s->aliases[a], "GHSA-", 5) == 0 ? "GitHub"
                                                                              : "other"));
            json_object_set_new(v, "references", refs);
        }
        json_object_set_new(an, "state", json_string(cdx_state(s->status)));
        if (s->status == VX_VEX_NOT_AFFECTED && j)
            json_object_set_new(an, "justification", json_string(j));
        if (s->status == VX_VEX_AFFECTED)
            json_object_set_new(an, "response", json_pack("[s]", "update"));
        json_object_set_new(an, "detail",
                            json_string(s->impact_statement   ? s->impact_statement
                                        : s->action_statement ? s->action_statement
                                        : s->status_notes     ? s->status_notes
                                                              : ""));
        json_object_set_new(v, "analysis", an);
        json_object_set_new(v, "affects", affects);
        snprintf(conf, sizeof(conf), "%.2f", s->confidence);
        json_object_set_new(prop, "name", json_string("vexxy:confidence"));
        json_object_set_new(prop, "value", json_string(conf));
        json_array_append_new(props, prop);
        json_object_set_new(v, "properties", props);
        json_array_append_new(vulns, v);
    }
    json_object_set_new(root, "components", comps);
    json_object_set_new(root, "vulnerabilities", vulns);
    json_decref(seen);
    out = vx_json_dump(root);
    json_decref(root);
    return out;
}

/* ---- CSAF ------------------------------------------------------------------------------------ */

static bool is_cve(const char *id)
{
    size_t n = 0;

    if (strncmp(id, "CVE-", 4) != 0)
        return false;
    for (id += 4; id[n] >= '0' && id[n] <= '9'; n++)
        ;
    if (n != 4 || id[4] != '-')
        return false;
    id += 5;
    for (n = 0; id[n] >= '0' && id[n] <= '9'; n++)
        ;
    return n >= 4 && id[n] == '\0';
}

char *vx_vex_csaf(const struct vx_vex_doc *d)
{
    json_t *root = json_object(), *doc = json_object(), *tree = json_object();
    json_t *fpn = json_array(), *rels = json_array(), *vulns = json_array();
    json_t *pkgs = json_object(), *pairs = json_object(); /* sets of what is listed */
    char ts[32], *out;

    vx_time_iso8601(d->timestamp_ms, ts, sizeof(ts));
    json_object_set_new(doc, "category", json_string("csaf_vex"));
    json_object_set_new(doc, "csaf_version", json_string("2.0"));
    json_object_set_new(doc, "publisher",
                        json_pack("{ss ss ss}", "category", "other", "name",
                                  d->author ? d->author : "vexxy", "namespace",
                                  "https://vexxy.dev"));
    json_object_set_new(
        doc, "title",
        json_sprintf("vexxy runtime reachability VEX for %s", d->image_name   ? d->image_name
                                                              : d->n_products ? d->products[0]
                                                                              : "an image"));
    json_object_set_new(doc, "tracking",
                        json_pack("{ss ss ss s[{ss ss ss}] ss ss}", "id", d->id,
                                  "current_release_date", ts, "initial_release_date", ts,
                                  "revision_history", "date", ts, "number", "1", "summary",
                                  "initial version", "status", "final", "version", "1"));
    json_object_set_new(root, "document", doc);

    for (size_t p = 0; p < d->n_products; p++) {
        char *name = purl_name(d->products[p]);

        json_array_append_new(fpn, json_pack("{ss ss s{ss}}", "name",
                                             d->image_name ? d->image_name : name, "product_id",
                                             d->products[p], "product_identification_helper",
                                             "purl", d->products[p]));
        free(name);
    }
    for (size_t i = 0; i < d->n_statements; i++) {
        const struct vx_vex_statement *s = &d->statements[i];
        const char *bucket = s->status == VX_VEX_NOT_AFFECTED ? "known_not_affected"
                             : s->status == VX_VEX_AFFECTED   ? "known_affected"
                             : s->status == VX_VEX_FIXED      ? "fixed"
                                                              : "under_investigation";
        json_t *v = json_object(), *ids = json_array(), *status = json_object();
        char conf[64];

        for (size_t k = 0; k < s->n_subcomponents; k++) {
            if (first_time(pkgs, s->subcomponents[k])) {
                char *name = purl_name(s->subcomponents[k]);

                json_array_append_new(
                    fpn, json_pack("{ss ss s{ss}}", "name", name, "product_id", s->subcomponents[k],
                                   "product_identification_helper", "purl", s->subcomponents[k]));
                free(name);
            }
            for (size_t p = 0; p < d->n_products; p++) {
                char *pair = vx_xasprintf("%s:%s", d->products[p], s->subcomponents[k]);

                if (first_time(pairs, pair)) {
                    char *name = purl_name(s->subcomponents[k]);

                    json_array_append_new(
                        rels, json_pack("{ss s{ss ss} ss ss}", "category", "default_component_of",
                                        "full_product_name", "name", name, "product_id", pair,
                                        "product_reference", s->subcomponents[k],
                                        "relates_to_product_reference", d->products[p]));
                    free(name);
                }
                json_array_append_new(ids, json_string(pair));
                free(pair);
            }
        }
        if (is_cve(s->vuln_id))
            json_object_set_new(v, "cve", json_string(s->vuln_id));
        else
            json_object_set_new(v, "ids",
                                json_pack("[{ss ss}]", "system_name",
                                          strncmp(s->vuln_id, "GHSA-", 5) == 0 ? "GitHub" : "other",
                                          "text", s->vuln_id));
        json_object_set_new(status, bucket, json_deep_copy(ids));
        json_object_set_new(v, "product_status", status);
        snprintf(conf, sizeof(conf), "vexxy confidence %.2f", s->confidence);
        json_object_set_new(v, "notes",
                            json_pack("[{ss ss ss}]", "category", "details", "title",
                                      "vexxy verdict", "text",
                                      s->status_notes ? s->status_notes : conf));
        if (s->status == VX_VEX_NOT_AFFECTED) {
            if (s->justification != VX_JUST_NONE)
                json_object_set_new(v, "flags",
                                    json_pack("[{ss sO}]", "label",
                                              vx_vex_justification_name(s->justification),
                                              "product_ids", ids));
            json_object_set_new(
                v, "threats",
                json_pack("[{ss ss sO}]", "category", "impact", "details",
                          s->impact_statement ? s->impact_statement : "not affected", "product_ids",
                          ids));
        }
        if (s->status == VX_VEX_AFFECTED)
            json_object_set_new(
                v, "remediations",
                json_pack("[{ss ss sO}]", "category",
                          s->fixed_version ? "vendor_fix" : "none_available", "details",
                          s->action_statement ? s->action_statement : "no remediation is known yet",
                          "product_ids", ids));
        json_decref(ids);
        json_array_append_new(vulns, v);
    }
    json_object_set_new(tree, "full_product_names", fpn);
    if (json_array_size(rels))
        json_object_set_new(tree, "relationships", rels);
    else
        json_decref(rels);
    json_object_set_new(root, "product_tree", tree);
    json_object_set_new(root, "vulnerabilities", vulns);
    json_decref(pkgs);
    json_decref(pairs);
    out = vx_json_dump(root);
    json_decref(root);
    return out;
}
