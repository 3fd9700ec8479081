/* openvex.c -- names of statuses and justifications, and the OpenVEX 0.2.0 writer.
 *
 * Shape (DESIGN.md §11): one statement per verdict; products = the image's digest-pinned
 * qualifier-free pkg:oci purls, each with the statement's subcomponents (the report's purl
 * verbatim, then normalised variants) -- how Trivy and Grype both find the package a
 * statement is about. No field outside the official schema. Statement @ids are stable:
 * derived from the document id, the vulnerability and the subcomponents, so the same
 * verdict keeps its id across runs.
 */
#include "common/setup.h"

#include "vex/vex.h"

#include "common/alloc.h"
#include "common/json.h"
#include "common/util.h"

const char *vx_vex_status_name(enum vx_vex_status s)
{
    switch (s) {
    case VX_VEX_NOT_AFFECTED:
        return "not_affected";
    case VX_VEX_AFFECTED:
        return "affected";
    case VX_VEX_FIXED:
        return "fixed";
    default:
        return "under_investigation";
    }
}

const char *vx_vex_justification_name(enum vx_vex_justification j)
{
    switch (j) {
    case VX_JUST_COMPONENT_NOT_PRESENT:
        return "component_not_present";
    case VX_JUST_VULNERABLE_CODE_NOT_PRESENT:
        return "vulnerable_code_not_present";
    case VX_JUST_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH:
        return "vulnerable_code_not_in_execute_path";
    case VX_JUST_VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY:
        return "vulnerable_code_cannot_be_controlled_by_adversary";
    case VX_JUST_INLINE_MITIGATIONS_ALREADY_EXIST:
        return "inline_mitigations_already_exist";
    default:
        return "";
    }
}

/* A stable id for a statement: sha256 over the vulnerability and its subcomponents. */
static char *statement_id(const char *doc_id, const struct vx_vex_statement *s)
{
    char hex[65];
    char *text;
    size_t len = strlen(s->vuln_id) + 2;

    for (size_t i = 0; i < s->n_subcomponents; i++)
        len += strlen(s->subcomponents[i]) + 1;
    text = vx_xmalloc(len + 1);
    len = (size_t)snprintf(text, len + 1, "%s\n", s->vuln_id);
    for (size_t i = 0; i < s->n_subcomponents; i++)
        len += (size_t)snprintf(text + len, strlen(s->subcomponents[i]) + 2, "%s\n",
                                s->subcomponents[i]);
    vx_sha256_hex(text, len, hex);
    free(text);
    return vx_xasprintf("%s#statement-%.16s", doc_id, hex);
}

static json_t *purl_component(const char *purl, json_t *subcomponents)
{
    json_t *c = json_object(), *ids = json_object();

    json_object_set_new(c, "@id", json_string(purl));
    json_object_set_new(ids, "purl", json_string(purl));
    json_object_set_new(c, "identifiers", ids);
    if (subcomponents)
        json_object_set_new(c, "subcomponents", subcomponents);
    return c;
}

char *vx_vex_openvex(const struct vx_vex_doc *d)
{
    json_t *root = json_object(), *stmts = json_array();
    char ts[32], *out;

    vx_time_iso8601(d->timestamp_ms, ts, sizeof(ts));
    json_object_set_new(root, "@context", json_string("https://openvex.dev/ns/v0.2.0"));
    json_object_set_new(root, "@id", json_string(d->id));
    json_object_set_new(root, "author", json_string(d->author ? d->author : "vexxy"));
    json_object_set_new(root, "timestamp", json_string(ts));
    json_object_set_new(root, "version", json_integer(d->version >= 1 ? d->version : 1));
    if (d->tooling)
        json_object_set_new(root, "tooling", json_string(d->tooling));
    for (size_t i = 0; i < d->n_statements; i++) {
        const struct vx_vex_statement *s = &d->statements[i];
        json_t *st = json_object(), *vuln = json_object(), *products = json_array();
        char *sid = statement_id(d->id, s);

        json_object_set_new(st, "@id", json_string(sid));
        free(sid);
        json_object_set_new(vuln, "name", json_string(s->vuln_id));
        if (s->n_aliases) {
            json_t *al = json_array();

            for (size_t a = 0; a < s->n_aliases; a++)
                json_array_append_new(al, json_string(s->aliases[a]));
            json_object_set_new(vuln, "aliases", al);
        }
        json_object_set_new(st, "vulnerability", vuln);
        json_object_set_new(st, "timestamp", json_string(ts));
        for (size_t p = 0; p < d->n_products; p++) {
            json_t *subs = json_array();

            for (size_t k = 0; k < s->n_subcomponents; k++)
                json_array_append_new(subs, purl_component(s->subcomponents[k], NULL));
            json_array_append_new(products,
                                  purl_component(d->products[p], s->n_subcomponents ? subs : NULL));
            if (!s->n_subcomponents)
                json_decref(subs);
        }
        json_object_set_new(st, "products", products);
        json_object_set_new(st, "status", json_string(vx_vex_status_name(s->status)));
        if (s->status == VX_VEX_NOT_AFFECTED) {
            if (s->justification != VX_JUST_NONE)
                json_object_set_new(st, "justification",
                                    json_string(vx_vex_justification_name(s->justification)));
            json_object_set_new(
                st, "impact_statement",
                json_string(s->impact_statement ? s->impact_statement : "not affected"));
        }
        if (s->status == VX_VEX_AFFECTED) {
            json_object_set_new(st, "action_statement",
                                json_string(s->action_statement ? s->action_statement
                                                                : "no remediation is known yet"));
            json_object_set_new(st, "action_statement_timestamp", json_string(ts));
        }
        if (s->status_notes)
            json_object_set_new(st, "status_notes", json_string(s->status_notes));
        json_array_append_new(stmts, st);
    }
    json_object_set_new(root, "statements", stmts);
    out = vx_json_dump(root);
    json_decref(root);
    return out;
}
