/* spdx.c -- SPDX 2.2/2.3 JSON documents as the package side of a report
 * (vx_findings_parse_with_sbom), and the completion of findings from any SBOM table.
 *
 * SPDX carries no vulnerabilities, so an SPDX document never yields findings alone; its
 * packages (SPDXID, name, versionInfo, and the purl of externalRefs with referenceCategory
 * PACKAGE-MANAGER / PACKAGE_MANAGER and referenceType purl) let a report made from it name
 * packages by SPDXID (CycloneDX affects refs) or by name + version without a purl.
 */
#include "common/setup.h"

#include "findings/findings.h"

#include "common/alloc.h"
#include "common/err.h"
#include "findings/findings_int.h" /* typed accessors, sbom table */

#define FMT "spdx"

static int pkg_purl(const struct vx_fj *p, const char *where, const char **purl,
                    struct vx_err **err)
{
    const struct vx_fj *refs;
    char w[160];
    int rc;

    *purl = NULL;
    if ((rc = vx_fnd_arr(p, "externalRefs", FMT, where, &refs, err)) < 0)
        return rc;
    for (size_t i = 0; refs && i < vx_fj_len(refs); i++) {
        const struct vx_fj *r = vx_fj_at(refs, i);
        const char *cat, *type, *loc;
        snprintf(w, sizeof(w), "%s.externalRefs[%zu]", where, i);
        if (!vx_fj_is_obj(r))
            return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", w);
        if ((rc = vx_fnd_str(r, "referenceCategory", FMT, w, &cat, err)) < 0 ||
            (rc = vx_fnd_str(r, "referenceType", FMT, w, &type, err)) < 0 ||
            (rc = vx_fnd_str(r, "referenceLocator", FMT, w, &loc, err)) < 0)
            return rc;
        /* SPDX 2.2 spelled the category PACKAGE_MANAGER, 2.3 PACKAGE-MANAGER */
        if (cat && type && loc && strcmp(type, "purl") == 0 &&
            (strcmp(cat, "PACKAGE-MANAGER") == 0 || strcmp(cat, "PACKAGE_MANAGER") == 0)) {
            *purl = loc;
            return 0;
        }
    }
    return 0;
}

int vx_fnd_spdx_packages(const struct vx_fj *doc, struct vx_fnd_sbom *t, struct vx_err **err)
{
    const struct vx_fj *pkgs;
    char w[64];
    int rc;

    t->what = "spdx";
    if ((rc = vx_fnd_arr(doc, "packages", FMT, "", &pkgs, err)) < 0)
        return rc;
    for (size_t i = 0; pkgs && i < vx_fj_len(pkgs); i++) {
        const struct vx_fj *p = vx_fj_at(pkgs, i);
        const char *id, *name, *ver, *purl;
        snprintf(w, sizeof(w), "packages[%zu]", i);
        if (!vx_fj_is_obj(p))
            return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", w);
        if ((rc = vx_fnd_str(p, "SPDXID", FMT, w, &id, err)) < 0 ||
            (rc = vx_fnd_str(p, "name", FMT, w, &name, err)) < 0 ||
            (rc = vx_fnd_str(p, "versionInfo", FMT, w, &ver, err)) < 0 ||
            (rc = pkg_purl(p, w, &purl, err)) < 0)
            return rc;
        t->pkgs = vx_xgrow(t->pkgs, sizeof(*t->pkgs), t->n + 1, &t->cap);
        t->pkgs[t->n++] = (struct vx_fnd_sbom_pkg){id, purl, name, ver, false};
    }
    vx_fnd_sbom_sort(t);
    return 0;
}

static int by_name_version(const void *a, const void *b)
{
    const struct vx_fnd_sbom_pkg *x = *(const struct vx_fnd_sbom_pkg *const *)a;
    const struct vx_fnd_sbom_pkg *y = *(const struct vx_fnd_sbom_pkg *const *)b;
    int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");

    return c ? c : strcmp(x->version ? x->version : "", y->version ? y->version : "");
}

void vx_fnd_complete_from_sbom(struct vx_findings *f, const struct vx_fnd_sbom *t)
{
    const struct vx_fnd_sbom_pkg **idx;
    size_t n = 0;

    if (!t || t->n == 0)
        return;
    idx = vx_xcalloc(t->n, sizeof(*idx));
    for (size_t i = 0; i < t->n; i++)
        if (t->pkgs[i].purl && t->pkgs[i].name)
            idx[n++] = &t->pkgs[i];
    qsort(idx, n, sizeof(*idx), by_name_version);
    for (size_t i = 0; i < f->n; i++) {
        struct vx_finding *x = &f->items[i];
        struct vx_fnd_sbom_pkg key = {.name = x->name, .version = x->version};
        const struct vx_fnd_sbom_pkg *kp = &key, **hit;

        if (x->purl || !x->name)
            continue;
        hit = bsearch(&kp, idx, n, sizeof(*idx), by_name_version);
        if (!hit || strlen((*hit)->purl) > VX_FND_MAX_FIELD)
            continue;
        x->purl = vx_xstrdup((*hit)->purl);
        if (!x->type)
            x->type = vx_fnd_purl_type(x->purl);
    }
    free(idx);
}
