/* cyclonedx.c -- CycloneDX 1.4-1.6 JSON with vulnerabilities[] (what Trivy, Grype and
 * Dependency-Track emit as "cyclonedx" output), and the components table of a CycloneDX SBOM.
 *
 * One finding per (vulnerabilities[i], affects[j]): the affected component is found by its
 * bom-ref among components[] (nested components included), by a BOM-link
 * "urn:cdx:<serial>/<version>#<bom-ref>" naming this document, or in the accompanying SBOM
 * (vx_findings_parse_with_sbom); a ref that is itself a purl is used as the purl. A ref that
 * resolves nowhere is skipped with a warning; when that leaves nothing at all (a VEX written
 * about another BOM, like CISA's examples with refs such as "product-ABC") the document is
 * refused with the first such ref named, since an empty result would look like "no
 * vulnerabilities". Severity: the highest of ratings[].severity; status: analysis.state.
 */
#include "common/setup.h"

#include "findings/findings.h"

#include "common/alloc.h"
#include "common/err.h"
#include "findings/findings_int.h" /* typed accessors, finding helpers, sbom table */

#define FMT "cyclonedx"

static int sev_rank(const char *s)
{
    static const char *const order[] = {"unknown", "negligible", "low",
                                        "medium",  "high",       "critical"};
    for (int i = 0; s && i < (int)VX_ARRAY_SIZE(order); i++)
        if (strcmp(s, order[i]) == 0)
            return i;
    return 0;
}

static void sbom_add(struct vx_fnd_sbom *t, const char *ref, const char *purl, const char *name,
                     const char *version)
{
    t->pkgs = vx_xgrow(t->pkgs, sizeof(*t->pkgs), t->n + 1, &t->cap);
    t->pkgs[t->n++] = (struct vx_fnd_sbom_pkg){ref, purl, name, version, false};
}

static int components(const struct vx_fj *arr, const char *where, struct vx_fnd_sbom *t,
                      struct vx_err **err);

static int one_component(const struct vx_fj *c, const char *w, struct vx_fnd_sbom *t,
                         struct vx_err **err)
{
    const struct vx_fj *sub;
    const char *ref, *purl, *name, *ver;
    int rc;

    if (!vx_fj_is_obj(c))
        return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", w);
    if ((rc = vx_fnd_str(c, "bom-ref", FMT, w, &ref, err)) < 0 ||
        (rc = vx_fnd_str(c, "purl", FMT, w, &purl, err)) < 0 ||
        (rc = vx_fnd_str(c, "name", FMT, w, &name, err)) < 0 ||
        (rc = vx_fnd_str(c, "version", FMT, w, &ver, err)) < 0 ||
        (rc = vx_fnd_arr(c, "components", FMT, w, &sub, err)) < 0)
        return rc;
    sbom_add(t, ref, purl, name, ver);
    if (sub) {
        char *sw = vx_xasprintf("%s.components", w);
        rc = components(sub, sw, t, err);
        free(sw);
    }
    return rc;
}

static int components(const struct vx_fj *arr, const char *where, struct vx_fnd_sbom *t,
                      struct vx_err **err)
{
    char w[512];
    int rc;

    for (size_t i = 0; i < vx_fj_len(arr); i++) {
        snprintf(w, sizeof(w), "%s[%zu]", where, i);
        if ((rc = one_component(vx_fj_at(arr, i), w, t, err)) < 0)
            return rc;
    }
    return 0;
}

int vx_fnd_cdx_components(const struct vx_fj *doc, struct vx_fnd_sbom *t, struct vx_err **err)
{
    const struct vx_fj *comps, *meta, *mc;
    int rc;

    t->what = "cyclonedx";
    if ((rc = vx_fnd_arr(doc, "components", FMT, "", &comps, err)) < 0 ||
        (rc = vx_fnd_obj(doc, "metadata", FMT, "", &meta, err)) < 0)
        return rc;
    /* metadata.component: an affects target in a VEX about the product itself, which says
       nothing about which of its packages is vulnerable (one_vuln refuses it) */
    if (meta && (rc = vx_fnd_obj(meta, "component", FMT, "metadata", &mc, err)) < 0)
        return rc;
    if (meta && mc) {
        size_t first = t->n;
        if ((rc = one_component(mc, "metadata.component", t, err)) < 0)
            return rc;
        t->pkgs[first].subject = true; /* nested components of the product are packages */
    }
    if (comps && (rc = components(comps, "components", t, err)) < 0)
        return rc;
    vx_fnd_sbom_sort(t);
    return 0;
}

static int by_ref(const void *a, const void *b)
{
    const struct vx_fnd_sbom_pkg *x = a, *y = b;

    if (!x->ref || !y->ref)
        return !x->ref - !y->ref; /* refless entries last */
    return strcmp(x->ref, y->ref);
}

void vx_fnd_sbom_sort(struct vx_fnd_sbom *t)
{
    if (t->n > 1)
        qsort(t->pkgs, t->n, sizeof(*t->pkgs), by_ref);
}

static const struct vx_fnd_sbom_pkg *lookup(const struct vx_fnd_sbom *t, const char *ref)
{
    struct vx_fnd_sbom_pkg key = {.ref = ref};
    const struct vx_fnd_sbom_pkg *hit;

    if (!t || t->n == 0)
        return NULL;
    hit = bsearch(&key, t->pkgs, t->n, sizeof(*t->pkgs), by_ref);
    if (hit)
        return hit;
    /* a ref that is a purl may name a component without a bom-ref: rare, so linear */
    for (size_t i = 0; strncmp(ref, "pkg:", 4) == 0 && i < t->n; i++)
        if (t->pkgs[i].purl && strcmp(t->pkgs[i].purl, ref) == 0)
            return &t->pkgs[i];
    return NULL;
}

/* "urn:cdx:<uuid>/<version>#<ref>" naming this document -> "<ref>" (borrowed); else NULL */
static const char *bom_link_ref(const char *ref, const char *serial)
{
    const char *slash, *hash;

    if (strncmp(ref, "urn:cdx:", 8) != 0)
        return NULL;
    slash = strchr(ref + 8, '/');
    hash = strchr(ref + 8, '#');
    if (!slash || !hash || hash < slash)
        return NULL;
    if (serial && strncmp(serial, "urn:uuid:", 9) == 0)
        serial += 9;
    if (!serial || strlen(serial) != (size_t)(slash - ref - 8) ||
        strncmp(ref + 8, serial, (size_t)(slash - ref - 8)) != 0)
        return NULL;
    return hash + 1;
}

/* name and version from a purl, for display only (the binder parses purls properly) */
static void names_from_purl(struct vx_finding *x)
{
    const char *p = x->purl, *end, *slash, *at;

    if (!p || strncmp(p, "pkg:", 4) != 0)
        return;
    end = p + strcspn(p, "?#");
    at = memchr(p, '@', (size_t)(end - p));
    if (!at)
        at = end;
    slash = p;
    for (const char *c = p; c < at; c++)
        if (*c == '/')
            slash = c;
    if (!x->name && at > slash + 1)
        x->name = vx_xstrndup(slash + 1, (size_t)(at - slash - 1));
    if (!x->version && at < end && end > at + 1)
        x->version = vx_xstrndup(at + 1, (size_t)(end - at - 1));
}

struct cdx_state {
    const struct vx_fnd_sbom *own, *sbom;
    const char *serial;
    char *first_unresolved; /* "vulnerabilities[0].affects[0].ref: 'product-ABC'" */
    char *first_subject;    /* the same for a ref naming metadata.component */
    size_t n_affects;
};

static int one_vuln(struct vx_findings *f, struct cdx_state *st, const struct vx_fj *v,
                    const char *where, struct vx_err **err)
{
    const struct vx_fj *ratings, *affects, *refs, *analysis, *source;
    const char *id, *desc, *state = NULL, *best = NULL;
    char w[192];
    int rc;

    if (!vx_fj_is_obj(v))
        return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", where);
    if ((rc = vx_fnd_str(v, "id", FMT, where, &id, err)) < 0 ||
        (rc = vx_fnd_str(v, "description", FMT, where, &desc, err)) < 0 ||
        (rc = vx_fnd_arr(v, "ratings", FMT, where, &ratings, err)) < 0 ||
        (rc = vx_fnd_arr(v, "affects", FMT, where, &affects, err)) < 0 ||
        (rc = vx_fnd_arr(v, "references", FMT, where, &refs, err)) < 0 ||
        (rc = vx_fnd_obj(v, "analysis", FMT, where, &analysis, err)) < 0 ||
        (rc = vx_fnd_obj(v, "source", FMT, where, &source, err)) < 0)
        return rc;
    if (analysis) {
        snprintf(w, sizeof(w), "%s.analysis", where);
        if ((rc = vx_fnd_str(analysis, "state", FMT, w, &state, err)) < 0)
            return rc;
    }
    for (size_t i = 0; ratings && i < vx_fj_len(ratings); i++) {
        const struct vx_fj *r = vx_fj_at(ratings, i);
        const char *s;
        snprintf(w, sizeof(w), "%s.ratings[%zu]", where, i);
        if (!vx_fj_is_obj(r))
            return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", w);
        if ((rc = vx_fnd_str(r, "severity", FMT, w, &s, err)) < 0)
            return rc;
        if (s) {
            char *n = vx_fnd_severity(s);
            char *b = best ? vx_fnd_severity(best) : NULL;
            if (!best || sev_rank(n) > sev_rank(b))
                best = s;
            free(n);
            free(b);
        }
    }
    if (!affects || vx_fj_len(affects) == 0) {
        vx_fnd_warn(f, FMT ": %s: no affects (skipped)", where);
        return 0;
    }
    for (size_t j = 0; j < vx_fj_len(affects); j++) {
        const struct vx_fj *a = vx_fj_at(affects, j);
        const struct vx_fnd_sbom_pkg *c = NULL;
        struct vx_finding *x;
        const char *ref, *inner;

        snprintf(w, sizeof(w), "%s.affects[%zu]", where, j);
        if (!vx_fj_is_obj(a))
            return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", w);
        if ((rc = vx_fnd_str(a, "ref", FMT, w, &ref, err)) < 0)
            return rc;
        st->n_affects++;
        if (!ref || !*ref) {
            vx_fnd_warn(f, FMT ": %s: no ref (skipped)", w);
            continue;
        }
        inner = bom_link_ref(ref, st->serial);
        c = lookup(st->own, inner ? inner : ref);
        if (!c)
            c = lookup(st->sbom, inner ? inner : ref);
        if (!c && strncmp(ref, "pkg:", 4) != 0) {
            if (!st->first_unresolved)
                st->first_unresolved = vx_xasprintf("%s.ref: '%.200s'", w, ref);
            vx_fnd_warn(f,
                        FMT ": %s.ref: '%.200s' names no component of this document "
                            "(skipped)",
                        w, ref);
            continue;
        }
        if (c && c->subject) {
            if (!st->first_subject)
                st->first_subject = vx_xasprintf("%s.ref: '%.200s'", w, ref);
            vx_fnd_warn(f,
                        FMT ": %s.ref: '%.200s' is the product the BOM describes "
                            "(metadata.component), not one of its packages (skipped)",
                        w, ref);
            continue;
        }
        if ((rc = vx_fnd_new(f, &x, err)) < 0)
            return rc;
        if (!vx_fnd_set(&x->id, id) || !vx_fnd_set(&x->purl, c ? c->purl : ref) ||
            !vx_fnd_set(&x->name, c ? c->name : NULL) ||
            !vx_fnd_set(&x->version, c ? c->version : NULL) || !vx_fnd_set(&x->status, state)) {
            vx_fnd_warn(f, FMT ": %s: a field is over %d bytes (skipped)", w, VX_FND_MAX_FIELD);
            vx_fnd_drop_last(f);
            continue;
        }
        names_from_purl(x);
        x->severity = vx_fnd_severity(best);
        vx_fnd_set_desc(&x->description, desc);
        for (size_t k = 0; refs && k < vx_fj_len(refs); k++) {
            const struct vx_fj *r = vx_fj_at(refs, k);
            const char *rid;
            char rw[192];
            snprintf(rw, sizeof(rw), "%s.references[%zu]", where, k);
            if (!vx_fj_is_obj(r))
                return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", rw);
            if ((rc = vx_fnd_str(r, "id", FMT, rw, &rid, err)) < 0)
                return rc;
            vx_fnd_list_add(&x->aliases, &x->n_aliases, rid, NULL);
        }
        vx_fnd_keep(f, FMT, w);
    }
    return 0;
}

int vx_fnd_parse_cyclonedx(const struct vx_fj *doc, const struct vx_fnd_sbom *sbom,
                           struct vx_findings *f, struct vx_err **err)
{
    struct vx_fnd_sbom own = {0};
    struct cdx_state st = {0};
    const char *spec, *serial;
    const struct vx_fj *vulns;
    char where[64];
    int rc;

    if ((rc = vx_fnd_str(doc, "specVersion", FMT, "", &spec, err)) < 0 ||
        (rc = vx_fnd_str(doc, "serialNumber", FMT, "", &serial, err)) < 0 ||
        (rc = vx_fnd_arr(doc, "vulnerabilities", FMT, "", &vulns, err)) < 0)
        return rc;
    if (spec && strlen(spec) <= 16)
        f->format_version = vx_xstrdup(spec);
    if ((rc = vx_fnd_cdx_components(doc, &own, err)) < 0)
        goto out;
    if (!vulns) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        FMT ": an SBOM without vulnerabilities (%zu components), not a "
                            "vulnerability report; scan it (trivy sbom, grype sbom:FILE) and "
                            "give the report, or give it with --sbom",
                        own.n - (own.n && vx_fj_get(vx_fj_get(doc, "metadata"), "component")));
        goto out;
    }
    st.own = &own;
    st.sbom = sbom;
    st.serial = serial;
    for (size_t i = 0; i < vx_fj_len(vulns); i++) {
        snprintf(where, sizeof(where), "vulnerabilities[%zu]", i);
        if ((rc = one_vuln(f, &st, vx_fj_at(vulns, i), where, err)) < 0)
            goto out;
    }
    if (f->n == 0 && st.first_subject) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        FMT ": %s is the product the BOM describes (metadata.component): a VEX "
                            "statement about a product, not a vulnerability report of its "
                            "packages",
                        st.first_subject);
        goto out;
    }
    if (f->n == 0 && st.first_unresolved) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        FMT ": %s names no component of this document: a VEX about another "
                            "BOM; give that BOM with --sbom",
                        st.first_unresolved);
        goto out;
    }
    if (f->n == 0 && vx_fj_len(vulns) > 0 && st.n_affects == 0)
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        FMT ": no vulnerability names an affected component "
                            "(vulnerabilities[].affects)");
out:
    free(st.first_unresolved);
    free(st.first_subject);
    free(own.pkgs);
    return rc;
}
