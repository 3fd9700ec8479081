/* findings.c -- the findings container, format detection, the shared parse helpers and the
 * canonical JSON of a report.
 *
 * Detection is by shape, never by file name: a top-level array is a legacy Trivy report;
 * an object with SchemaVersion/Results is Trivy, with matches Grype, with bomFormat or
 * specVersion CycloneDX, with spdxVersion SPDX, with results[].packages OSV-Scanner. The
 * documents that are close but carry no vulnerabilities (a CycloneDX or Syft SBOM, an SPDX
 * document, a single OSV record) are refused with a sentence saying what they are and what
 * to pass instead, since that is the mistake a user actually makes.
 */
#include "common/setup.h"

#include "findings/findings.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"           /* the canonical output (parsing is fjson.c's) */
#include "findings/findings_int.h" /* parsers and helpers shared by the module's files */
#include "inventory/inventory.h"   /* pkgs of the bound inventory for the json */

static const char *const format_names[] = {
    [VX_FINDINGS_TRIVY] = "trivy",
    [VX_FINDINGS_GRYPE] = "grype",
    [VX_FINDINGS_CYCLONEDX] = "cyclonedx",
    [VX_FINDINGS_SPDX] = "spdx",
    [VX_FINDINGS_OSV] = "osv",
};

const char *vx_findings_format_name(enum vx_findings_format f)
{
    return (unsigned)f < VX_ARRAY_SIZE(format_names) ? format_names[f] : "unknown";
}

/* ---- helpers shared by the parsers ------------------------------------------------------- */

static int wrong_type(const char *fmt, const char *where, const char *key, const char *what,
                      struct vx_err **err)
{
    return vx_err_set(err, VX_E_INVALID, 0, "%s: %s%s%s: not %s", fmt, where, *where ? "." : "",
                      key, what);
}

int vx_fnd_str(const struct vx_fj *o, const char *key, const char *fmt, const char *where,
               const char **out, struct vx_err **err)
{
    const struct vx_fj *v = vx_fj_get(o, key);

    *out = NULL;
    if (!v || vx_fj_is_null(v))
        return 0;
    if (!vx_fj_is_str(v))
        return wrong_type(fmt, where, key, "a string", err);
    *out = vx_fj_strval(v);
    return 0;
}

int vx_fnd_arr(const struct vx_fj *o, const char *key, const char *fmt, const char *where,
               const struct vx_fj **out, struct vx_err **err)
{
    const struct vx_fj *v = vx_fj_get(o, key);

    *out = NULL;
    if (!v || vx_fj_is_null(v))
        return 0;
    if (!vx_fj_is_arr(v))
        return wrong_type(fmt, where, key, "an array", err);
    *out = v;
    return 0;
}

int vx_fnd_obj(const struct vx_fj *o, const char *key, const char *fmt, const char *where,
               const struct vx_fj **out, struct vx_err **err)
{
    const struct vx_fj *v = vx_fj_get(o, key);

    *out = NULL;
    if (!v || vx_fj_is_null(v))
        return 0;
    if (!vx_fj_is_obj(v))
        return wrong_type(fmt, where, key, "an object", err);
    *out = v;
    return 0;
}

int vx_fnd_new(struct vx_findings *f, struct vx_finding **out, struct vx_err **err)
{
    struct vx_finding *x;

    if (f->n >= VX_FINDINGS_MAX_ITEMS)
        return vx_err_set(err, VX_E_TOO_LARGE, 0, "%s: more than %d findings",
                          vx_findings_format_name(f->format), VX_FINDINGS_MAX_ITEMS);
    f->items = vx_xgrow(f->items, sizeof(*f->items), f->n + 1, &f->cap);
    x = &f->items[f->n++];
    memset(x, 0, sizeof(*x));
    x->pkg = -1;
    *out = x;
    return 0;
}

static void list_free(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static void finding_release(struct vx_finding *x)
{
    free(x->id);
    list_free(x->aliases, x->n_aliases);
    free(x->purl);
    free(x->name);
    free(x->version);
    free(x->type);
    free(x->fixed_version);
    free(x->severity);
    free(x->description);
    free(x->status);
    list_free(x->symbols, x->n_symbols);
    list_free(x->locations, x->n_locations);
    free(x->unbound_reason);
}

void vx_fnd_drop_last(struct vx_findings *f)
{
    if (f->n == 0)
        return;
    finding_release(&f->items[--f->n]);
}

void vx_fnd_warn(struct vx_findings *f, const char *fmt, ...)
{
    va_list ap;

    if (f->n_warnings > VX_FND_MAX_WARN)
        return;
    f->warnings = vx_xgrow(f->warnings, sizeof(*f->warnings), f->n_warnings + 1, &f->cap_warnings);
    if (f->n_warnings == VX_FND_MAX_WARN) {
        f->warnings[f->n_warnings++] = vx_xstrdup("more warnings not shown");
        return;
    }
    va_start(ap, fmt);
    f->warnings[f->n_warnings++] = vx_xvasprintf(fmt, ap);
    va_end(ap);
}

bool vx_fnd_set(char **dst, const char *s)
{
    if (!s)
        return true;
    if (strlen(s) > VX_FND_MAX_FIELD)
        return false;
    free(*dst);
    *dst = vx_xstrdup(s);
    return true;
}

void vx_fnd_set_desc(char **dst, const char *s)
{
    size_t n;

    if (!s)
        return;
    n = strlen(s);
    if (n > VX_FND_MAX_DESC) {
        n = VX_FND_MAX_DESC;
        /* back off continuation bytes so the cut never splits a character */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    free(*dst);
    *dst = vx_xstrndup(s, n);
}

char *vx_fnd_severity(const char *s)
{
    static const struct {
        const char *in, *out;
    } map[] = {
        {"critical", "critical"},     {"high", "high"},
        {"important", "high"},        {"medium", "medium"},
        {"moderate", "medium"},       {"low", "low"},
        {"negligible", "negligible"}, {"none", "negligible"},
        {"info", "negligible"},       {"informational", "negligible"},
        {"unknown", "unknown"},
    };

    for (size_t i = 0; s && i < VX_ARRAY_SIZE(map); i++)
        if (strcasecmp(s, map[i].in) == 0)
            return vx_xstrdup(map[i].out);
    return vx_xstrdup("unknown");
}

void vx_fnd_list_add(char ***list, size_t *n, const char *s, const char *skip)
{
    if (!s || !*s || *n >= VX_FND_MAX_LIST || strlen(s) > VX_FND_MAX_FIELD)
        return;
    if (skip && strcmp(s, skip) == 0)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], s) == 0)
            return;
    /* lists are short (a handful of aliases): grow one by one */
    *list = vx_xrealloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = vx_xstrdup(s);
}

void vx_fnd_fix_aliases(struct vx_finding *x)
{
    char **old = x->aliases;
    size_t n = x->n_aliases;

    x->aliases = NULL;
    x->n_aliases = 0;
    for (size_t i = 0; i < n; i++)
        vx_fnd_list_add(&x->aliases, &x->n_aliases, old[i], x->id);
    list_free(old, n);
}

char *vx_fnd_purl_type(const char *purl)
{
    const char *p, *e;

    if (!purl || strncmp(purl, "pkg:", 4) != 0)
        return NULL;
    p = purl + 4;
    while (*p == '/')
        p++;
    e = strchr(p, '/');
    if (!e || e == p || e - p > 32)
        return NULL;
    char *t = vx_xstrndup(p, (size_t)(e - p));
    for (char *c = t; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return t;
}

bool vx_fnd_keep(struct vx_findings *f, const char *fmt, const char *where)
{
    struct vx_finding *x = &f->items[f->n - 1];
    const char *what = NULL;

    if (!x->id || !*x->id)
        what = "vulnerability id";
    else if ((!x->name || !*x->name) && (!x->purl || !*x->purl))
        what = "package name";
    if (!what) {
        if (!x->type && x->purl)
            x->type = vx_fnd_purl_type(x->purl);
        if (!x->severity)
            x->severity = vx_xstrdup("unknown");
        vx_fnd_fix_aliases(x);
        return true;
    }
    vx_fnd_warn(f, "%s: %s: no %s (skipped)", fmt, where, what);
    vx_fnd_drop_last(f);
    return false;
}

/* ---- ecosystems ------------------------------------------------------------------------ */

struct type_map {
    const char *in, *out;
};

static const char *map_type(const struct type_map *m, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcasecmp(s, m[i].in) == 0)
            return m[i].out;
    return NULL;
}

const char *vx_fnd_type_trivy(const char *t)
{
    /* Trivy's Results[].Type: the OS family for os-pkgs, the analyzer for lang-pkgs */
    static const struct type_map m[] = {
        {"debian", "deb"},
        {"ubuntu", "deb"},
        {"alpine", "apk"},
        {"wolfi", "apk"},
        {"chainguard", "apk"},
        {"redhat", "rpm"},
        {"centos", "rpm"},
        {"rocky", "rpm"},
        {"alma", "rpm"},
        {"amazon", "rpm"},
        {"oracle", "rpm"},
        {"fedora", "rpm"},
        {"photon", "rpm"},
        {"suse", "rpm"},
        {"opensuse", "rpm"},
        {"opensuse.leap", "rpm"},
        {"opensuse.tumbleweed", "rpm"},
        {"sles", "rpm"},
        {"cbl-mariner", "rpm"},
        {"azurelinux", "rpm"},
        {"npm", "npm"},
        {"yarn", "npm"},
        {"pnpm", "npm"},
        {"node-pkg", "npm"},
        {"bun", "npm"},
        {"pip", "pypi"},
        {"pipenv", "pypi"},
        {"poetry", "pypi"},
        {"uv", "pypi"},
        {"python-pkg", "pypi"},
        {"gobinary", "golang"},
        {"gomod", "golang"},
        {"jar", "maven"},
        {"pom", "maven"},
        {"gradle", "maven"},
        {"sbt", "maven"},
        {"cargo", "cargo"},
        {"rust-binary", "cargo"},
        {"composer", "composer"},
        {"bundler", "gem"},
        {"gemspec", "gem"},
        {"nuget", "nuget"},
        {"dotnet-core", "nuget"},
        {"packages-props", "nuget"},
        {"conan", "conan"},
        {"pub", "pub"},
        {"hex", "hex"},
        {"swift", "swift"},
        {"cocoapods", "cocoapods"},
    };
    return map_type(m, VX_ARRAY_SIZE(m), t);
}

const char *vx_fnd_type_grype(const char *t)
{
    static const struct type_map m[] = {
        {"deb", "deb"},
        {"rpm", "rpm"},
        {"apk", "apk"},
        {"python", "pypi"},
        {"npm", "npm"},
        {"go-module", "golang"},
        {"java-archive", "maven"},
        {"jenkins-plugin", "maven"},
        {"gem", "gem"},
        {"rust-crate", "cargo"},
        {"php-composer", "composer"},
        {"dotnet", "nuget"},
    };
    return map_type(m, VX_ARRAY_SIZE(m), t);
}

const char *vx_fnd_type_osv(const char *e)
{
    static const struct type_map m[] = {
        {"Go", "golang"},       {"npm", "npm"},      {"PyPI", "pypi"},   {"Maven", "maven"},
        {"crates.io", "cargo"}, {"RubyGems", "gem"}, {"NuGet", "nuget"}, {"Packagist", "composer"},
        {"Debian", "deb"},      {"Ubuntu", "deb"},   {"Alpine", "apk"},  {"Pub", "pub"},
        {"Hex", "hex"},
    };
    char head[32];
    const char *colon;

    /* "Debian:12", "Alpine:v3.18": the distro release follows a colon */
    colon = e ? strchr(e, ':') : NULL;
    if (colon && (size_t)(colon - e) < sizeof(head)) {
        memcpy(head, e, (size_t)(colon - e));
        head[colon - e] = '\0';
        return map_type(m, VX_ARRAY_SIZE(m), head);
    }
    return map_type(m, VX_ARRAY_SIZE(m), e);
}

/* ---- container ----------------------------------------------------------------------- */

void vx_findings_free(struct vx_findings *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        finding_release(&f->items[i]);
    free(f->items);
    list_free(f->warnings, f->n_warnings);
    free(f->format_version);
    free(f->artifact);
    free(f);
}

/* ---- detection --------------------------------------------------------------------------- */

enum shape {
    SHAPE_TRIVY,
    SHAPE_GRYPE,
    SHAPE_CYCLONEDX,
    SHAPE_SPDX,
    SHAPE_OSV_SCANNER,
    SHAPE_OSV_RECORD,
    SHAPE_SYFT,
    SHAPE_UNKNOWN,
};

static enum shape detect(const struct vx_fj *doc)
{
    if (vx_fj_is_arr(doc)) {
        /* legacy Trivy: [{"Target":..,"Vulnerabilities":[..]}]; [] is an empty report */
        const struct vx_fj *first = vx_fj_at(doc, 0);
        if (!first || (vx_fj_is_obj(first) &&
                       (vx_fj_get(first, "Target") || vx_fj_get(first, "Vulnerabilities"))))
            return SHAPE_TRIVY;
        return SHAPE_UNKNOWN;
    }
    if (!vx_fj_is_obj(doc))
        return SHAPE_UNKNOWN;
    if (vx_fj_get(doc, "SchemaVersion") || vx_fj_get(doc, "Results"))
        return SHAPE_TRIVY;
    if (vx_fj_get(doc, "matches"))
        return SHAPE_GRYPE;
    if (vx_fj_get(doc, "bomFormat") ||
        (vx_fj_get(doc, "specVersion") &&
         (vx_fj_get(doc, "components") || vx_fj_get(doc, "vulnerabilities"))))
        return SHAPE_CYCLONEDX;
    if (vx_fj_get(doc, "spdxVersion"))
        return SHAPE_SPDX;
    if (vx_fj_is_arr(vx_fj_get(doc, "results")))
        return SHAPE_OSV_SCANNER;
    if (vx_fj_get(doc, "id") && vx_fj_get(doc, "affected"))
        return SHAPE_OSV_RECORD;
    if (vx_fj_get(doc, "artifacts") && vx_fj_get(doc, "descriptor"))
        return SHAPE_SYFT;
    return SHAPE_UNKNOWN;
}

static int parse_doc(const struct vx_fj *doc, const struct vx_fnd_sbom *sbom, struct vx_findings *f,
                     struct vx_err **err)
{
    const char *s;

    switch (detect(doc)) {
    case SHAPE_TRIVY:
        f->format = VX_FINDINGS_TRIVY;
        return vx_fnd_parse_trivy(doc, f, err);
    case SHAPE_GRYPE:
        f->format = VX_FINDINGS_GRYPE;
        return vx_fnd_parse_grype(doc, f, err);
    case SHAPE_CYCLONEDX:
        f->format = VX_FINDINGS_CYCLONEDX;
        return vx_fnd_parse_cyclonedx(doc, sbom, f, err);
    case SHAPE_OSV_SCANNER:
        f->format = VX_FINDINGS_OSV;
        return vx_fnd_parse_osv_scanner(doc, f, err);
    case SHAPE_SPDX:
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          "spdx: an SPDX document lists packages, not vulnerabilities; give it "
                          "together with a vulnerability report made from it (vexxy findings "
                          "REPORT --sbom SPDX)");
    case SHAPE_OSV_RECORD:
        s = vx_fj_str_member(doc, "id");
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          "osv: '%.200s' is a single OSV advisory, not a scan report; give it "
                          "with --osv to add its vulnerable symbols to a report",
                          s ? s : "?");
    case SHAPE_SYFT:
        return vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                          "syft: a Syft JSON document is an SBOM (artifacts), not a "
                          "vulnerability report; scan it with grype and give the grype JSON");
    case SHAPE_UNKNOWN:
        break;
    }
    return vx_err_set(err, VX_E_INVALID, 0,
                      "not a report of a known format (trivy, grype, cyclonedx with "
                      "vulnerabilities, osv-scanner; spdx only with a report)");
}

static int parse_json(const char *data, size_t len, struct vx_fj_doc **doc, struct vx_err **err)
{
    if (len > VX_FINDINGS_MAX_BYTES)
        return vx_err_set(err, VX_E_TOO_LARGE, 0, "report of %zu bytes is over the %d byte cap",
                          len, VX_FINDINGS_MAX_BYTES);
    if (vx_fj_parse(data, len, doc, err) < 0)
        return vx_err_wrap(err, "report is not JSON");
    return 0;
}

int vx_findings_parse(const char *data, size_t len, struct vx_findings **out, struct vx_err **err)
{
    struct vx_findings *f = vx_xcalloc(1, sizeof(*f));
    struct vx_fj_doc *doc = NULL;
    int rc;

    *out = NULL;
    rc = parse_json(data, len, &doc, err);
    if (rc == 0)
        rc = parse_doc(vx_fj_root(doc), NULL, f, err);
    vx_fj_free(doc);
    if (rc < 0) {
        vx_findings_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

static int read_file(const char *path, struct vx_buf *b, struct vx_err **err)
{
    char chunk[65536];
    int fd = -1, rc = 0;
    ssize_t r;

    fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vx_err_set(err, errno == ENOENT ? VX_E_NOT_FOUND : VX_E_IO, errno,
                          "cannot open '%s': %s", path, strerror(errno));
    while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = vx_err_set(err, VX_E_IO, errno, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        if (vx_buf_add(b, chunk, (size_t)r) < 0) {
            rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "'%s' is over the %d byte cap", path,
                            VX_FINDINGS_MAX_BYTES);
            break;
        }
    }
    close(fd);
    return rc;
}

int vx_findings_parse_file(const char *path, struct vx_findings **out, struct vx_err **err)
{
    struct vx_buf b = VX_BUF_INIT(VX_FINDINGS_MAX_BYTES);
    int rc;

    *out = NULL;
    rc = read_file(path, &b, err);
    if (rc == 0)
        rc = vx_findings_parse(vx_buf_str(&b), b.len, out, err);
    vx_buf_release(&b);
    return rc;
}

int vx_findings_parse_with_sbom(const char *report, size_t report_len, const char *sbom,
                                size_t sbom_len, struct vx_findings **out, struct vx_err **err)
{
    struct vx_findings *f = vx_xcalloc(1, sizeof(*f));
    struct vx_fnd_sbom table = {0};
    struct vx_fj_doc *rdoc = NULL, *sdoc = NULL;
    bool spdx = false;
    char *fv;
    int rc;

    *out = NULL;
    rc = parse_json(sbom, sbom_len, &sdoc, err);
    if (rc < 0) {
        vx_err_wrap(err, "sbom");
        goto out;
    }
    switch (detect(vx_fj_root(sdoc))) {
    case SHAPE_SPDX:
        spdx = true;
        rc = vx_fnd_spdx_packages(vx_fj_root(sdoc), &table, err);
        break;
    case SHAPE_CYCLONEDX:
        rc = vx_fnd_cdx_components(vx_fj_root(sdoc), &table, err);
        break;
    default:
        rc = vx_err_set(err, VX_E_INVALID, 0, "sbom: neither SPDX nor CycloneDX JSON");
        break;
    }
    if (rc < 0)
        goto out;
    rc = parse_json(report, report_len, &rdoc, err);
    if (rc == 0)
        rc = parse_doc(vx_fj_root(rdoc), &table, f, err);
    if (rc < 0)
        goto out;
    vx_fnd_complete_from_sbom(f, &table);
    if (spdx) {
        const char *sv = vx_fj_str_member(vx_fj_root(sdoc), "spdxVersion");
        fv = vx_xasprintf("%.32s+%s", sv ? sv : "SPDX", vx_findings_format_name(f->format));
        free(f->format_version);
        f->format_version = fv;
        f->format = VX_FINDINGS_SPDX;
    }
out:
    free(table.pkgs);
    vx_fj_free(rdoc);
    vx_fj_free(sdoc);
    if (rc < 0) {
        vx_findings_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- canonical json --------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *str_list(char **l, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(l[i]));
    return a;
}

char *vx_findings_json(const struct vx_findings *f, const struct vx_inventory *inv)
{
    json_t *root = json_object(), *items = json_array();
    char *s;

    json_object_set_new(root, "format", json_string(vx_findings_format_name(f->format)));
    json_object_set_new(root, "format_version", str_or_null(f->format_version));
    json_object_set_new(root, "artifact", str_or_null(f->artifact));
    for (size_t i = 0; i < f->n; i++) {
        const struct vx_finding *x = &f->items[i];
        json_t *o = json_object();

        json_object_set_new(o, "id", json_string(x->id));
        json_object_set_new(o, "aliases", str_list(x->aliases, x->n_aliases));
        json_object_set_new(o, "purl", str_or_null(x->purl));
        json_object_set_new(o, "name", str_or_null(x->name));
        json_object_set_new(o, "version", str_or_null(x->version));
        json_object_set_new(o, "type", str_or_null(x->type));
        json_object_set_new(o, "fixed_version", str_or_null(x->fixed_version));
        json_object_set_new(o, "severity", str_or_null(x->severity));
        json_object_set_new(o, "symbols", str_list(x->symbols, x->n_symbols));
        json_object_set_new(o, "status", str_or_null(x->status));
        json_object_set_new(o, "locations", str_list(x->locations, x->n_locations));
        if (inv && x->pkg >= 0 && (size_t)x->pkg < inv->n_pkgs) {
            const struct vx_pkg *p = &inv->pkgs[x->pkg];
            json_t *b = json_object();
            json_object_set_new(b, "purl", str_or_null(p->purl));
            json_object_set_new(b, "name", str_or_null(p->name));
            json_object_set_new(b, "version", str_or_null(p->version));
            json_object_set_new(b, "by", str_or_null(x->bound_by));
            json_object_set_new(o, "bound", b);
        } else if (inv && x->unbound_reason) {
            json_object_set_new(o, "unbound_reason", json_string(x->unbound_reason));
        }
        json_array_append_new(items, o);
    }
    json_object_set_new(root, "findings", items);
    json_object_set_new(root, "warnings", str_list(f->warnings, f->n_warnings));
    s = vx_json_dump(root);
    json_decref(root);
    return s;
}
