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
#include "common/buf.h" /* the streaming writer */
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

/* ---- a streaming writer: the document is written as it is walked, never built as a tree
 * (a 10,000-statement document is ~15 MB; building it with jansson took 3x as long as
 * writing it). The output is byte for byte what jansson's compact, sorted-key dump gives:
 * keys are written in sorted order by hand, strings escaped the way jansson escapes them. */

struct w {
    struct vx_buf b;
    int err;
};

static void put(struct w *w, const char *s, size_t n)
{
    if (!w->err && vx_buf_add(&w->b, s, n) < 0)
        w->err = 1;
}

static void puts_(struct w *w, const char *s)
{
    put(w, s, strlen(s));
}

/* A JSON string as jansson writes it: '"' and '\\' escaped, \b \f \n \r \t, other control
 * characters as \u00XX (upper-case hex), everything else (UTF-8 included) verbatim. */
static void str(struct w *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)(s ? s : ""), *run = p;

    put(w, "\"", 1);
    for (; *p; p++) {
        char esc[7] = "\\u00";
        const char *e = NULL;
        size_t n = 2;

        if (*p >= 0x20 && *p != '"' && *p != '\\')
            continue;
        put(w, (const char *)run, (size_t)(p - run));
        switch (*p) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\b':
            e = "\\b";
            break;
        case '\f':
            e = "\\f";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\t':
            e = "\\t";
            break;
        default:
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            e = esc;
            n = 6;
        }
        put(w, e, n);
        run = p + 1;
    }
    put(w, (const char *)run, (size_t)(p - run));
    put(w, "\"", 1);
}

/* "KEY":"VALUE" with the separator before it unless first */
static void kv(struct w *w, const char *key, const char *value, bool first)
{
    if (!first)
        put(w, ",", 1);
    str(w, key);
    put(w, ":", 1);
    str(w, value);
}

/* {"@id":P,"identifiers":{"purl":P}[,"subcomponents":[...]]} */
static void component(struct w *w, const char *purl, const struct vx_vex_statement *subs_of)
{
    put(w, "{", 1);
    kv(w, "@id", purl, true);
    puts_(w, ",\"identifiers\":{");
    kv(w, "purl", purl, true);
    put(w, "}", 1);
    if (subs_of && subs_of->n_subcomponents) {
        puts_(w, ",\"subcomponents\":[");
        for (size_t k = 0; k < subs_of->n_subcomponents; k++) {
            if (k)
                put(w, ",", 1);
            component(w, subs_of->subcomponents[k], NULL);
        }
        put(w, "]", 1);
    }
    put(w, "}", 1);
}

static void statement(struct w *w, const struct vx_vex_doc *d, const struct vx_vex_statement *s,
                      const char *ts)
{
    char *sid = statement_id(d->id, s);

    /* keys in sorted order: @id, action_statement, action_statement_timestamp,
     * impact_statement, justification, products, status, status_notes, timestamp,
     * vulnerability */
    put(w, "{", 1);
    kv(w, "@id", sid, true);
    free(sid);
    if (s->status == VX_VEX_AFFECTED) {
        kv(w, "action_statement",
           s->action_statement ? s->action_statement : "no remediation is known yet", false);
        kv(w, "action_statement_timestamp", ts, false);
    }
    if (s->status == VX_VEX_NOT_AFFECTED) {
        kv(w, "impact_statement", s->impact_statement ? s->impact_statement : "not affected",
           false);
        if (s->justification != VX_JUST_NONE)
            kv(w, "justification", vx_vex_justification_name(s->justification), false);
    }
    puts_(w, ",\"products\":[");
    for (size_t p = 0; p < d->n_products; p++) {
        if (p)
            put(w, ",", 1);
        component(w, d->products[p], s);
    }
    put(w, "]", 1);
    kv(w, "status", vx_vex_status_name(s->status), false);
    if (s->status_notes)
        kv(w, "status_notes", s->status_notes, false);
    kv(w, "timestamp", ts, false);
    puts_(w, ",\"vulnerability\":{");
    if (s->n_aliases) {
        puts_(w, "\"aliases\":[");
        for (size_t a = 0; a < s->n_aliases; a++) {
            if (a)
                put(w, ",", 1);
            str(w, s->aliases[a]);
        }
        puts_(w, "],");
    }
    kv(w, "name", s->vuln_id, true);
    puts_(w, "}}");
}

char *vx_vex_openvex(const struct vx_vex_doc *d)
{
    struct w w = {VX_BUF_INIT((size_t)1 << 31), 0};
    char ts[32], ver[24];

    vx_time_iso8601(d->timestamp_ms, ts, sizeof(ts));
    snprintf(ver, sizeof(ver), "%d", d->version >= 1 ? d->version : 1);
    /* keys in sorted order: @context, @id, author, statements, timestamp, tooling, version */
    put(&w, "{", 1);
    kv(&w, "@context", "https://openvex.dev/ns/v0.2.0", true);
    kv(&w, "@id", d->id, false);
    kv(&w, "author", d->author ? d->author : "vexxy", false);
    puts_(&w, ",\"statements\":[");
    for (size_t i = 0; i < d->n_statements; i++) {
        if (i)
            put(&w, ",", 1);
        statement(&w, d, &d->statements[i], ts);
    }
    put(&w, "]", 1);
    kv(&w, "timestamp", ts, false);
    if (d->tooling)
        kv(&w, "tooling", d->tooling, false);
    puts_(&w, ",\"version\":");
    puts_(&w, ver);
    put(&w, "}", 1);
    if (w.err) {
        vx_buf_release(&w.b);
        return NULL; /* over 2 GiB: never for a real report */
    }
    return vx_buf_detach(&w.b, NULL);
}
