/* osv.c -- OSV-Scanner JSON reports and OSV records (Go vulndb, RustSec, GHSA) as sources of
 * vulnerable symbols.
 *
 * OSV-Scanner: results[].packages[] each name one package {name, version, ecosystem} and
 * carry full OSV records in vulnerabilities[], plus groups[].ids saying which records are the
 * same vulnerability (GHSA-x and RUSTSEC-y). One finding per group (the first id primary, the
 * other ids and every alias as aliases); a record in no group is a finding of its own.
 * Severity: database_specific.severity of any record in the group (GHSA's "HIGH",
 * "MODERATE"), the highest; fixed version: the first ranges[].events[].fixed of the
 * affected entry naming the package.
 *
 * Symbols, wherever a record names them for the package: ecosystem_specific.imports[]
 * .{path,symbols[]} (Go vulndb: "path.Symbol"), ecosystem_specific.affects.functions[]
 * (RustSec), ecosystem_specific.affected_functions[] (older GHSA), and plain symbols[] /
 * functions[] lists in ecosystem_specific or database_specific.
 */
#include "common/setup.h"

#include "findings/findings.h"

#include "common/alloc.h"
#include "common/err.h"
#include "findings/findings_int.h" /* typed accessors, finding helpers */

#define FMT "osv"

static void add_str_array(struct vx_finding *x, const struct vx_fj *arr, const char *prefix)
{
    for (size_t i = 0; vx_fj_is_arr(arr) && i < vx_fj_len(arr); i++) {
        const char *s = vx_fj_strval(vx_fj_at(arr, i));
        if (!s)
            continue;
        if (prefix) {
            char *full = vx_xasprintf("%.512s.%.512s", prefix, s);
            vx_fnd_list_add(&x->symbols, &x->n_symbols, full, NULL);
            free(full);
        } else {
            vx_fnd_list_add(&x->symbols, &x->n_symbols, s, NULL);
        }
    }
}

/* Symbols of one ecosystem_specific / database_specific object. Lenient on purpose: these
 * objects are free-form per database, so an unexpected shape adds nothing, never fails. */
static void symbols_of(struct vx_finding *x, const struct vx_fj *o)
{
    const struct vx_fj *imports = vx_fj_get(o, "imports"), *affects = vx_fj_get(o, "affects");

    for (size_t i = 0; vx_fj_is_arr(imports) && i < vx_fj_len(imports); i++) {
        const struct vx_fj *im = vx_fj_at(imports, i);
        add_str_array(x, vx_fj_get(im, "symbols"), vx_fj_str_member(im, "path"));
    }
    if (vx_fj_is_obj(affects))
        add_str_array(x, vx_fj_get(affects, "functions"), NULL);
    add_str_array(x, vx_fj_get(o, "affected_functions"), NULL);
    add_str_array(x, vx_fj_get(o, "symbols"), NULL);
    add_str_array(x, vx_fj_get(o, "functions"), NULL);
}

/* Symbols (and the applicable fixed version) from the affected[] entries of a record that name
 * package 'name' (all entries when none names it or name is NULL). */
static void from_affected(struct vx_finding *x, const struct vx_fj *rec, const char *name,
                          bool want_fixed)
{
    const struct vx_fj *aff = vx_fj_get(rec, "affected");
    bool any = false;

    for (size_t i = 0; name && vx_fj_is_arr(aff) && i < vx_fj_len(aff); i++) {
        const char *n = vx_fj_str_member(vx_fj_get(vx_fj_at(aff, i), "package"), "name");
        if (n && strcmp(n, name) == 0)
            any = true;
    }
    for (size_t i = 0; vx_fj_is_arr(aff) && i < vx_fj_len(aff); i++) {
        const struct vx_fj *a = vx_fj_at(aff, i), *ranges;
        const char *n = vx_fj_str_member(vx_fj_get(a, "package"), "name");
        if (any && (!n || strcmp(n, name) != 0))
            continue;
        symbols_of(x, vx_fj_get(a, "ecosystem_specific"));
        symbols_of(x, vx_fj_get(a, "database_specific"));
        ranges = vx_fj_get(a, "ranges");
        /* the fix that applies: the lowest fixed version above the installed one (a record
           lists one range per release branch: smallvec 0.6.14 and 1.6.1) */
        for (size_t r = 0; want_fixed && vx_fj_is_arr(ranges) && r < vx_fj_len(ranges); r++) {
            const struct vx_fj *ev = vx_fj_get(vx_fj_at(ranges, r), "events");
            for (size_t e = 0; vx_fj_is_arr(ev) && e < vx_fj_len(ev); e++) {
                const char *fx = vx_fj_str_member(vx_fj_at(ev, e), "fixed");
                if (!fx || strlen(fx) > VX_FND_MAX_FIELD)
                    continue;
                if (x->version && vx_version_cmp(x->type, fx, x->version) <= 0)
                    continue;
                if (x->fixed_version && vx_version_cmp(x->type, fx, x->fixed_version) >= 0)
                    continue;
                free(x->fixed_version);
                x->fixed_version = vx_xstrdup(fx);
            }
        }
    }
}

static int sev_rank(const char *s)
{
    static const char *const order[] = {"unknown", "negligible", "low",
                                        "medium",  "high",       "critical"};
    for (int i = 0; s && i < (int)VX_ARRAY_SIZE(order); i++)
        if (strcmp(s, order[i]) == 0)
            return i;
    return 0;
}

static void merge_record(struct vx_finding *x, const struct vx_fj *rec, const char *pkgname)
{
    const struct vx_fj *aliases = vx_fj_get(rec, "aliases");
    const struct vx_fj *dbs = vx_fj_get(rec, "database_specific");
    const char *id = vx_fj_str_member(rec, "id");

    vx_fnd_list_add(&x->aliases, &x->n_aliases, id, NULL);
    for (size_t i = 0; vx_fj_is_arr(aliases) && i < vx_fj_len(aliases); i++)
        vx_fnd_list_add(&x->aliases, &x->n_aliases, vx_fj_strval(vx_fj_at(aliases, i)), NULL);
    if (vx_fj_is_obj(dbs) && vx_fj_str_member(dbs, "severity")) {
        char *s = vx_fnd_severity(vx_fj_str_member(dbs, "severity"));
        if (!x->severity || sev_rank(s) > sev_rank(x->severity)) {
            free(x->severity);
            x->severity = s;
        } else {
            free(s);
        }
    }
    if (!x->description) {
        const char *d = vx_fj_str_member(rec, "summary");
        vx_fnd_set_desc(&x->description, d ? d : vx_fj_str_member(rec, "details"));
    }
    from_affected(x, rec, pkgname, true);
}

/* index of the record with this id in vulns, or -1 */
static long record_index(const struct vx_fj *vulns, const char *id)
{
    for (size_t i = 0; id && i < vx_fj_len(vulns); i++) {
        const char *v = vx_fj_str_member(vx_fj_at(vulns, i), "id");
        if (v && strcmp(v, id) == 0)
            return (long)i;
    }
    return -1;
}

static int one_package(struct vx_findings *f, const struct vx_fj *p, const char *where,
                       struct vx_err **err)
{
    const struct vx_fj *pkg, *vulns, *groups;
    const char *name, *ver, *eco;
    bool *used = NULL;
    char w[192];
    int rc;

    if (!vx_fj_is_obj(p))
        return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", where);
    if ((rc = vx_fnd_obj(p, "package", FMT, where, &pkg, err)) < 0 ||
        (rc = vx_fnd_arr(p, "vulnerabilities", FMT, where, &vulns, err)) < 0 ||
        (rc = vx_fnd_arr(p, "groups", FMT, where, &groups, err)) < 0)
        return rc;
    if (!pkg) {
        vx_fnd_warn(f, FMT ": %s: no package (skipped)", where);
        return 0;
    }
    snprintf(w, sizeof(w), "%s.package", where);
    if ((rc = vx_fnd_str(pkg, "name", FMT, w, &name, err)) < 0 ||
        (rc = vx_fnd_str(pkg, "version", FMT, w, &ver, err)) < 0 ||
        (rc = vx_fnd_str(pkg, "ecosystem", FMT, w, &eco, err)) < 0)
        return rc;
    for (size_t i = 0; vulns && i < vx_fj_len(vulns); i++) {
        snprintf(w, sizeof(w), "%s.vulnerabilities[%zu]", where, i);
        if (!vx_fj_is_obj(vx_fj_at(vulns, i)))
            return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", w);
        const char *id;
        if ((rc = vx_fnd_str(vx_fj_at(vulns, i), "id", FMT, w, &id, err)) < 0)
            return rc;
    }
    used = vx_xcalloc(vx_fj_len(vulns) + 1, sizeof(*used));
    /* groups first, then every record no group took */
    size_t ng = groups ? vx_fj_len(groups) : 0, nv = vulns ? vx_fj_len(vulns) : 0;
    for (size_t g = 0; g < ng + nv; g++) {
        struct vx_finding *x;
        const struct vx_fj *ids = NULL;
        size_t nids;

        if (g < ng) {
            const struct vx_fj *grp = vx_fj_at(groups, g);
            snprintf(w, sizeof(w), "%s.groups[%zu]", where, g);
            if (!vx_fj_is_obj(grp)) {
                rc = vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", w);
                goto out;
            }
            if ((rc = vx_fnd_arr(grp, "ids", FMT, w, &ids, err)) < 0)
                goto out;
            if (!ids || vx_fj_len(ids) == 0)
                continue;
            nids = vx_fj_len(ids);
        } else {
            if (used[g - ng])
                continue;
            snprintf(w, sizeof(w), "%s.vulnerabilities[%zu]", where, g - ng);
            nids = 1;
        }
        if ((rc = vx_fnd_new(f, &x, err)) < 0)
            goto out;
        /* the package first: merging records picks the fixed version by it */
        if (!vx_fnd_set(&x->name, name) || !vx_fnd_set(&x->version, ver)) {
            vx_fnd_warn(f, FMT ": %s: a field is over %d bytes (skipped)", w, VX_FND_MAX_FIELD);
            vx_fnd_drop_last(f);
            continue;
        }
        if (vx_fnd_type_osv(eco))
            x->type = vx_xstrdup(vx_fnd_type_osv(eco));
        for (size_t k = 0; k < nids; k++) {
            const char *id;
            long r;
            if (ids) {
                const struct vx_fj *iv = vx_fj_at(ids, k);
                if (!vx_fj_is_str(iv)) {
                    rc = vx_err_set(err, VX_E_INVALID, 0, FMT ": %s.ids[%zu]: not a string", w, k);
                    goto out;
                }
                id = vx_fj_strval(iv);
                r = record_index(vulns, id);
            } else {
                r = (long)(g - ng);
                id = vx_fj_str_member(vx_fj_at(vulns, (size_t)r), "id");
            }
            if (k == 0 && !vx_fnd_set(&x->id, id))
                break;
            if (r >= 0) {
                used[r] = true;
                merge_record(x, vx_fj_at(vulns, (size_t)r), name);
            } else {
                vx_fnd_list_add(&x->aliases, &x->n_aliases, id, NULL);
            }
        }
        vx_fnd_keep(f, FMT, w);
    }
out:
    free(used);
    return rc;
}

int vx_fnd_parse_osv_scanner(const struct vx_fj *doc, struct vx_findings *f, struct vx_err **err)
{
    const struct vx_fj *results = vx_fj_get(doc, "results");
    char where[64], pw[128];
    int rc;

    for (size_t i = 0; i < vx_fj_len(results); i++) {
        const struct vx_fj *r = vx_fj_at(results, i), *pkgs, *src;
        snprintf(where, sizeof(where), "results[%zu]", i);
        if (!vx_fj_is_obj(r))
            return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", where);
        if ((rc = vx_fnd_arr(r, "packages", FMT, where, &pkgs, err)) < 0 ||
            (rc = vx_fnd_obj(r, "source", FMT, where, &src, err)) < 0)
            return rc;
        if (src && !f->artifact) {
            const char *path = vx_fj_str_member(src, "path");
            if (path && strlen(path) <= VX_FND_MAX_FIELD)
                f->artifact = vx_xstrdup(path);
        }
        for (size_t j = 0; pkgs && j < vx_fj_len(pkgs); j++) {
            snprintf(pw, sizeof(pw), "%s.packages[%zu]", where, j);
            if ((rc = one_package(f, vx_fj_at(pkgs, j), pw, err)) < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- OSV records as a symbol source ------------------------------------------------------ */

static bool names_record(const struct vx_finding *x, const struct vx_fj *rec)
{
    const struct vx_fj *aliases = vx_fj_get(rec, "aliases");
    const char *ids[1 + 64];
    size_t n = 0;

    ids[n++] = vx_fj_str_member(rec, "id");
    for (size_t i = 0; vx_fj_is_arr(aliases) && i < vx_fj_len(aliases) && n < 65; i++)
        ids[n++] = vx_fj_strval(vx_fj_at(aliases, i));
    for (size_t i = 0; i < n; i++) {
        if (!ids[i])
            continue;
        if (strcmp(ids[i], x->id) == 0)
            return true;
        for (size_t k = 0; k < x->n_aliases; k++)
            if (strcmp(ids[i], x->aliases[k]) == 0)
                return true;
    }
    return false;
}

static int one_record(struct vx_findings *f, const struct vx_fj *rec, const char *where,
                      size_t *n_matched, struct vx_err **err)
{
    const char *id;
    const struct vx_fj *aff;
    int rc;

    if (!vx_fj_is_obj(rec))
        return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s: not an object", where);
    if ((rc = vx_fnd_str(rec, "id", FMT, where, &id, err)) < 0 ||
        (rc = vx_fnd_arr(rec, "affected", FMT, where, &aff, err)) < 0)
        return rc;
    if (!id)
        return vx_err_set(err, VX_E_INVALID, 0, FMT ": %s%sid: missing", where, *where ? "." : "");
    for (size_t i = 0; i < f->n; i++) {
        struct vx_finding *x = &f->items[i];
        if (!names_record(x, rec))
            continue;
        from_affected(x, rec, x->name, false);
        (*n_matched)++;
    }
    return 0;
}

int vx_findings_add_osv_symbols(struct vx_findings *f, const char *data, size_t len,
                                size_t *n_matched, struct vx_err **err)
{
    struct vx_fj_doc *d = NULL;
    const struct vx_fj *doc;
    char where[32];
    int rc;

    *n_matched = 0;
    if (len > VX_FINDINGS_MAX_BYTES)
        return vx_err_set(err, VX_E_TOO_LARGE, 0, FMT ": record of %zu bytes is over the cap", len);
    if ((rc = vx_fj_parse(data, len, &d, err)) < 0)
        return vx_err_wrap(err, FMT ": record is not JSON");
    doc = vx_fj_root(d);
    /* one record, or an array of records (a vulndb slice) */
    if (vx_fj_is_arr(doc)) {
        for (size_t i = 0; rc == 0 && i < vx_fj_len(doc); i++) {
            snprintf(where, sizeof(where), "[%zu]", i);
            rc = one_record(f, vx_fj_at(doc, i), where, n_matched, err);
        }
    } else if (vx_fj_is_obj(doc) && vx_fj_get(doc, "affected")) {
        rc = one_record(f, doc, "", n_matched, err);
    } else {
        rc = vx_err_set(err, VX_E_INVALID, 0,
                        FMT ": not an OSV record (an object with id and affected)");
    }
    vx_fj_free(d);
    return rc;
}
