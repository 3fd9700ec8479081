/* grype.c -- Grype JSON reports ({"matches":[...]}), old and new schemas.
 *
 * One finding per matches[] entry: vulnerability.id, severity, description; the fixed
 * versions from vulnerability.fix.versions (new schema, joined with ", " like Trivy's list)
 * or vulnerability.fixedInVersion (grype 0.7-era schema); fix.state as status ("fixed",
 * "not-fixed", "wont-fix", "unknown"); relatedVulnerabilities[].id as aliases; the package
 * from artifact (name, version, type, purl, locations[].path). Grype writes a deb epoch in
 * the purl version ("libpcre3@2:8.39-12"): kept verbatim, the binder normalises it.
 */
#include "common/setup.h"

#include "findings/findings.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "findings/findings_int.h" /* typed accessors, finding helpers */

#define FMT "grype"

static int fixed_versions(const struct vx_fj *vuln, const char *where, char **out,
                          const char **state, struct vx_err **err)
{
    struct vx_buf b = VX_BUF_INIT(VX_FND_MAX_FIELD);
    char w[192];
    const char *s;
    const struct vx_fj *fix, *vers;
    int rc;

    *out = NULL;
    *state = NULL;
    if ((rc = vx_fnd_obj(vuln, "fix", FMT, where, &fix, err)) < 0)
        return rc;
    if (!fix) {
        if ((rc = vx_fnd_str(vuln, "fixedInVersion", FMT, where, &s, err)) < 0)
            return rc;
        if (s && *s)
            *out = vx_xstrndup(s, VX_FND_MAX_FIELD);
        return 0;
    }
    snprintf(w, sizeof(w), "%s.fix", where);
    if ((rc = vx_fnd_str(fix, "state", FMT, w, state, err)) < 0 ||
        (rc = vx_fnd_arr(fix, "versions", FMT, w, &vers, err)) < 0)
        return rc;
    if (*state && !**state)
        *state = NULL;
    for (size_t i = 0; vers && i < vx_fj_len(vers); i++) {
        const struct vx_fj *v = vx_fj_at(vers, i);
        if (!vx_fj_is_str(v)) {
            vx_buf_release(&b);
            return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s.versions[%zu]: not a string", w, i);
        }
        /* a list too long for the cap keeps the versions that fit */
        if (vx_buf_addf(&b, "%s%s", b.len ? ", " : "", vx_fj_strval(v)) < 0)
            break;
    }
    if (b.len)
        *out = vx_buf_detach(&b, NULL);
    vx_buf_release(&b);
    return 0;
}

static int one_match(struct vx_findings *f, const struct vx_fj *m, const char *where,
                     struct vx_err **err)
{
    struct vx_finding *x;
    const struct vx_fj *vuln, *art, *related, *locs;
    const char *id, *sev, *desc, *name, *ver, *atype, *purl, *state;
    char *fixed = NULL;
    char w[160];
    int rc;

    if (!vx_fj_is_obj(m))
        return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", where);
    if ((rc = vx_fnd_obj(m, "vulnerability", FMT, where, &vuln, err)) < 0 ||
        (rc = vx_fnd_obj(m, "artifact", FMT, where, &art, err)) < 0 ||
        (rc = vx_fnd_arr(m, "relatedVulnerabilities", FMT, where, &related, err)) < 0)
        return rc;
    if (!vuln || !art) {
        vx_fnd_warn(f, FMT ": %s: no %s (skipped)", where, vuln ? "artifact" : "vulnerability");
        return 0;
    }
    snprintf(w, sizeof(w), "%s.vulnerability", where);
    if ((rc = vx_fnd_str(vuln, "id", FMT, w, &id, err)) < 0 ||
        (rc = vx_fnd_str(vuln, "severity", FMT, w, &sev, err)) < 0 ||
        (rc = vx_fnd_str(vuln, "description", FMT, w, &desc, err)) < 0 ||
        (rc = fixed_versions(vuln, w, &fixed, &state, err)) < 0)
        return rc;
    snprintf(w, sizeof(w), "%s.artifact", where);
    if ((rc = vx_fnd_str(art, "name", FMT, w, &name, err)) < 0 ||
        (rc = vx_fnd_str(art, "version", FMT, w, &ver, err)) < 0 ||
        (rc = vx_fnd_str(art, "type", FMT, w, &atype, err)) < 0 ||
        (rc = vx_fnd_str(art, "purl", FMT, w, &purl, err)) < 0 ||
        (rc = vx_fnd_arr(art, "locations", FMT, w, &locs, err)) < 0)
        goto out;
    if ((rc = vx_fnd_new(f, &x, err)) < 0)
        goto out;
    if (purl && !*purl)
        purl = NULL; /* the presenter writes "" for "none" */
    if (!vx_fnd_set(&x->id, id) || !vx_fnd_set(&x->name, name) || !vx_fnd_set(&x->version, ver) ||
        !vx_fnd_set(&x->purl, purl) || !vx_fnd_set(&x->status, state)) {
        vx_fnd_warn(f, FMT ": %s: a field is over %d bytes (skipped)", where, VX_FND_MAX_FIELD);
        vx_fnd_drop_last(f);
        goto out;
    }
    x->fixed_version = fixed;
    fixed = NULL;
    x->severity = vx_fnd_severity(sev);
    vx_fnd_set_desc(&x->description, desc);
    if (vx_fnd_type_grype(atype))
        x->type = vx_xstrdup(vx_fnd_type_grype(atype));
    for (size_t i = 0; locs && i < vx_fj_len(locs); i++) {
        const struct vx_fj *l = vx_fj_at(locs, i);
        const char *p;
        char lw[192];
        snprintf(lw, sizeof(lw), "%s.locations[%zu]", w, i);
        if (!vx_fj_is_obj(l)) {
            rc = vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", lw);
            goto out;
        }
        if ((rc = vx_fnd_str(l, "path", FMT, lw, &p, err)) < 0)
            goto out;
        vx_fnd_list_add(&x->locations, &x->n_locations, p, NULL);
    }
    for (size_t i = 0; related && i < vx_fj_len(related); i++) {
        const struct vx_fj *r = vx_fj_at(related, i);
        const char *rid;
        char rw[160];
        snprintf(rw, sizeof(rw), "%s.relatedVulnerabilities[%zu]", where, i);
        if (!vx_fj_is_obj(r)) {
            rc = vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", rw);
            goto out;
        }
        if ((rc = vx_fnd_str(r, "id", FMT, rw, &rid, err)) < 0)
            goto out;
        vx_fnd_list_add(&x->aliases, &x->n_aliases, rid, NULL);
    }
    vx_fnd_keep(f, FMT, where);
out:
    free(fixed);
    return rc;
}

int vx_fnd_parse_grype(const struct vx_fj *doc, struct vx_findings *f, struct vx_err **err)
{
    const struct vx_fj *matches, *src, *desc;
    char where[64];
    int rc;

    if ((rc = vx_fnd_arr(doc, "matches", FMT, "", &matches, err)) < 0)
        return rc;
    if ((rc = vx_fnd_obj(doc, "descriptor", FMT, "", &desc, err)) < 0)
        return rc;
    if (desc) {
        const char *v = NULL;
        if ((rc = vx_fnd_str(desc, "version", FMT, "descriptor", &v, err)) < 0)
            return rc;
        if (v && strlen(v) <= 64)
            f->format_version = vx_xstrdup(v);
    }
    /* source.target is a string for directories and an object (userInput) for images */
    src = vx_fj_get(doc, "source");
    if (vx_fj_is_obj(src)) {
        const struct vx_fj *t = vx_fj_get(src, "target");
        const char *s = vx_fj_is_str(t) ? vx_fj_strval(t) : vx_fj_strval(vx_fj_get(t, "userInput"));
        if (s && strlen(s) <= VX_FND_MAX_FIELD)
            f->artifact = vx_xstrdup(s);
    }
    for (size_t i = 0; matches && i < vx_fj_len(matches); i++) {
        snprintf(where, sizeof(where), "matches[%zu]", i);
        if ((rc = one_match(f, vx_fj_at(matches, i), where, err)) < 0)
            return rc;
    }
    return 0;
}
