/* trivy.c -- Trivy JSON reports: SchemaVersion 2 ({"Results":[...]}) and the legacy shape
 * (a top-level array of results, before SchemaVersion existed).
 *
 * One finding per Results[].Vulnerabilities[] entry. The ecosystem comes from
 * Results[].Type (debian, alpine, centos, npm, gobinary, jar, ...); the purl from
 * PkgIdentifier.PURL when Trivy wrote one (newer versions), kept verbatim: Trivy puts a
 * deb/rpm epoch in the version ("1:1.0.2k-16.el7") but in the purl as "?epoch=1", and the
 * binder normalises both. FixedVersion may be a comma-separated list ("2.3, 2.4"): it is kept
 * whole, since which one applies depends on the branch the user is on. VendorIDs (RHSA-...,
 * DSA-...) become aliases.
 */
#include "common/setup.h"

#include "findings/findings.h"

#include "common/alloc.h"
#include "common/err.h"
#include "findings/findings_int.h" /* typed accessors, finding helpers */

#define FMT "trivy"

static int one_vuln(struct vx_findings *f, const struct vx_fj *v, const char *where,
                    const char *type, struct vx_err **err)
{
    struct vx_finding *x;
    const char *id, *name, *pkgid, *ver, *fixed, *sev, *status, *title, *desc, *pkgpath;
    const char *purl = NULL;
    const struct vx_fj *ident, *vendor;
    int rc;

    if (!vx_fj_is_obj(v))
        return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", where);
    if ((rc = vx_fnd_str(v, "VulnerabilityID", FMT, where, &id, err)) < 0 ||
        (rc = vx_fnd_str(v, "PkgName", FMT, where, &name, err)) < 0 ||
        (rc = vx_fnd_str(v, "PkgID", FMT, where, &pkgid, err)) < 0 ||
        (rc = vx_fnd_str(v, "PkgPath", FMT, where, &pkgpath, err)) < 0 ||
        (rc = vx_fnd_str(v, "InstalledVersion", FMT, where, &ver, err)) < 0 ||
        (rc = vx_fnd_str(v, "FixedVersion", FMT, where, &fixed, err)) < 0 ||
        (rc = vx_fnd_str(v, "Severity", FMT, where, &sev, err)) < 0 ||
        (rc = vx_fnd_str(v, "Status", FMT, where, &status, err)) < 0 ||
        (rc = vx_fnd_str(v, "Title", FMT, where, &title, err)) < 0 ||
        (rc = vx_fnd_str(v, "Description", FMT, where, &desc, err)) < 0 ||
        (rc = vx_fnd_obj(v, "PkgIdentifier", FMT, where, &ident, err)) < 0 ||
        (rc = vx_fnd_arr(v, "VendorIDs", FMT, where, &vendor, err)) < 0)
        return rc;
    if (ident) {
        char w[192];
        snprintf(w, sizeof(w), "%s.PkgIdentifier", where);
        if ((rc = vx_fnd_str(ident, "PURL", FMT, w, &purl, err)) < 0)
            return rc;
    }
    if ((rc = vx_fnd_new(f, &x, err)) < 0)
        return rc;
    if (!vx_fnd_set(&x->id, id) || !vx_fnd_set(&x->name, name) || !vx_fnd_set(&x->version, ver) ||
        !vx_fnd_set(&x->purl, purl) || !vx_fnd_set(&x->fixed_version, fixed) ||
        !vx_fnd_set(&x->status, status)) {
        vx_fnd_warn(f, FMT ": %s: a field is over %d bytes (skipped)", where, VX_FND_MAX_FIELD);
        vx_fnd_drop_last(f);
        return 0;
    }
    /* legacy reports have no PkgName on some lang-pkgs: PkgID is "name@version" */
    if (!x->name && pkgid) {
        const char *at = strrchr(pkgid, '@');
        if (at && at != pkgid && (size_t)(at - pkgid) <= VX_FND_MAX_FIELD)
            x->name = vx_xstrndup(pkgid, (size_t)(at - pkgid));
    }
    if (type)
        x->type = vx_xstrdup(type);
    x->severity = vx_fnd_severity(sev);
    vx_fnd_set_desc(&x->description, desc ? desc : title);
    if (pkgpath)
        vx_fnd_list_add(&x->locations, &x->n_locations, pkgpath, NULL);
    for (size_t i = 0; vendor && i < vx_fj_len(vendor); i++) {
        const struct vx_fj *a = vx_fj_at(vendor, i);
        if (!vx_fj_is_str(a))
            return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s.VendorIDs[%zu]: not a string", where,
                              i);
        vx_fnd_list_add(&x->aliases, &x->n_aliases, vx_fj_strval(a), NULL);
    }
    vx_fnd_keep(f, FMT, where);
    return 0;
}

static int one_result(struct vx_findings *f, const struct vx_fj *r, size_t ri, const char *prefix,
                      struct vx_err **err)
{
    char where[64], vw[160];
    const char *rtype;
    const struct vx_fj *vulns;
    int rc;

    snprintf(where, sizeof(where), "%s[%zu]", prefix, ri);
    if (!vx_fj_is_obj(r))
        return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", where);
    if ((rc = vx_fnd_str(r, "Type", FMT, where, &rtype, err)) < 0 ||
        (rc = vx_fnd_arr(r, "Vulnerabilities", FMT, where, &vulns, err)) < 0)
        return rc;
    for (size_t i = 0; vulns && i < vx_fj_len(vulns); i++) {
        snprintf(vw, sizeof(vw), "%s.Vulnerabilities[%zu]", where, i);
        if ((rc = one_vuln(f, vx_fj_at(vulns, i), vw, vx_fnd_type_trivy(rtype), err)) < 0)
            return rc;
    }
    return 0;
}

int vx_fnd_parse_trivy(const struct vx_fj *doc, struct vx_findings *f, struct vx_err **err)
{
    const struct vx_fj *results = NULL, *sv;
    const char *artifact = NULL;
    long long version = 0;
    int rc;

    if (vx_fj_is_arr(doc)) {
        results = doc;
        f->format_version = vx_xstrdup("legacy");
        for (size_t i = 0; i < vx_fj_len(results); i++)
            if ((rc = one_result(f, vx_fj_at(results, i), i, "", err)) < 0)
                return rc;
        return 0;
    }
    sv = vx_fj_get(doc, "SchemaVersion");
    if (sv && !vx_fj_int(sv, &version))
        return vx_err_set(err, VX_E_INVALID, 0, FMT ": SchemaVersion: not an integer");
    if (sv && version != 2)
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          FMT ": SchemaVersion %lld is not supported (2 is)", version);
    f->format_version = vx_xstrdup("2");
    if ((rc = vx_fnd_str(doc, "ArtifactName", FMT, "", &artifact, err)) < 0 ||
        (rc = vx_fnd_arr(doc, "Results", FMT, "", &results, err)) < 0)
        return rc;
    if (artifact && strlen(artifact) <= VX_FND_MAX_FIELD)
        f->artifact = vx_xstrdup(artifact);
    for (size_t i = 0; results && i < vx_fj_len(results); i++)
        if ((rc = one_result(f, vx_fj_at(results, i), i, "Results", err)) < 0)
            return rc;
    return 0;
}
