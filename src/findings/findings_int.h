/* findings_int.h -- internal interfaces between the files of the findings module: the
 * parse context every format parser fills, typed JSON accessors that name the path at
 * fault, and the ecosystem -> purl type tables. Not part of the module contract. */
#ifndef VX_FINDINGS_FINDINGS_INT_H
#define VX_FINDINGS_FINDINGS_INT_H

#include <stdbool.h>
#include <stddef.h>

struct vx_err;
struct vx_findings;
struct vx_finding;

/* ---- fjson.c: the read-only JSON document the parsers walk --------------------------- */

struct vx_fj;     /* one value; borrowed from its document */
struct vx_fj_doc; /* owns every value and string */

/* Parses exactly one JSON value (RFC 8259, UTF-8 checked, duplicate keys and nesting past
 * 512 refused). -VX_E_INVALID "malformed json at line L column C: why". Caller frees. */
int vx_fj_parse(const char *text, size_t len, struct vx_fj_doc **out, struct vx_err **err);
void vx_fj_free(struct vx_fj_doc *d);
const struct vx_fj *vx_fj_root(const struct vx_fj_doc *d);
/* Type tests; NULL is none of them. */
bool vx_fj_is_obj(const struct vx_fj *v);
bool vx_fj_is_arr(const struct vx_fj *v);
bool vx_fj_is_str(const struct vx_fj *v);
bool vx_fj_is_null(const struct vx_fj *v);
bool vx_fj_is_num(const struct vx_fj *v);
/* Items of an array / members of an object; 0 for anything else. */
size_t vx_fj_len(const struct vx_fj *v);
/* Item i of an array, member key of an object; NULL when absent or not a container. */
const struct vx_fj *vx_fj_at(const struct vx_fj *arr, size_t i);
const struct vx_fj *vx_fj_get(const struct vx_fj *obj, const char *key);
/* The decoded text of a string (NUL-terminated), NULL for other types. */
const char *vx_fj_strval(const struct vx_fj *v);
/* An integer number; false for other types, fractions, exponents, out of range. */
bool vx_fj_int(const struct vx_fj *v, long long *out);
/* vx_fj_strval(vx_fj_get(obj, key)). */
const char *vx_fj_str_member(const struct vx_fj *obj, const char *key);

/* Per-field caps. A description is cut (at a UTF-8 boundary) to 4 KiB; an identifying
 * field (id, name, version, purl, ...) longer than 1 KiB is no real package: the entry is
 * skipped with a warning. */
#define VX_FND_MAX_DESC  4096
#define VX_FND_MAX_FIELD 1024
#define VX_FND_MAX_WARN  1000
#define VX_FND_MAX_LIST  4096 /* aliases, symbols, locations per finding */

/* A package known from an accompanying SBOM (SPDX packages, CycloneDX components): lets a
 * report whose entries name SPDXIDs or bom-refs, or give no purl, be completed. */
struct vx_fnd_sbom_pkg {
    const char *ref; /* SPDXID or bom-ref (borrowed from the SBOM's json) */
    const char *purl, *name, *version;
    bool subject; /* CycloneDX metadata.component: the product the BOM describes */
};
struct vx_fnd_sbom {
    struct vx_fnd_sbom_pkg *pkgs;
    size_t n, cap;
    const char *what; /* "spdx" or "cyclonedx" */
};

/* Typed accessors. Each returns 0 with *out = the member (borrowed) or NULL when absent or
 * JSON null; a member of another type is -VX_E_INVALID "<fmt>: <where>.<key>: not a <type>". */
int vx_fnd_str(const struct vx_fj *o, const char *key, const char *fmt, const char *where,
               const char **out, struct vx_err **err);
int vx_fnd_arr(const struct vx_fj *o, const char *key, const char *fmt, const char *where,
               const struct vx_fj **out, struct vx_err **err);
int vx_fnd_obj(const struct vx_fj *o, const char *key, const char *fmt, const char *where,
               const struct vx_fj **out, struct vx_err **err);

/* Appends an empty finding (pkg = -1) and returns it; -VX_E_TOO_LARGE past
 * VX_FINDINGS_MAX_ITEMS. */
int vx_fnd_new(struct vx_findings *f, struct vx_finding **out, struct vx_err **err);
/* Drops the last finding (an entry found bad after vx_fnd_new). */
void vx_fnd_drop_last(struct vx_findings *f);
/* Records a warning (printf-style); the first VX_FND_MAX_WARN are kept, then one note. */
void vx_fnd_warn(struct vx_findings *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies s into *dst (NULL stays NULL). false when longer than VX_FND_MAX_FIELD. */
bool vx_fnd_set(char **dst, const char *s);
/* Copies a description, cut to VX_FND_MAX_DESC at a UTF-8 boundary. */
void vx_fnd_set_desc(char **dst, const char *s);
/* Lower-case severity mapped onto critical|high|medium|low|negligible|unknown (copy). */
char *vx_fnd_severity(const char *s);
/* Adds s to a string list unless present or equal to skip; capped at VX_FND_MAX_LIST. */
void vx_fnd_list_add(char ***list, size_t *n, const char *s, const char *skip);
/* Drops aliases equal to the id and duplicates (after the id was changed). */
void vx_fnd_fix_aliases(struct vx_finding *x);
/* purl type from a purl string ("pkg:deb/..." -> "deb"), copy or NULL. */
char *vx_fnd_purl_type(const char *purl);
/* The finding is complete enough to keep: id and a package (name or purl). When not, a
 * warning "<fmt>: <where>: no <what> (skipped)" is added, the entry dropped, false. */
bool vx_fnd_keep(struct vx_findings *f, const char *fmt, const char *where);

/* Ecosystem names -> purl type (static strings, NULL when unknown). */
const char *vx_fnd_type_trivy(const char *result_type);
const char *vx_fnd_type_grype(const char *artifact_type);
const char *vx_fnd_type_osv(const char *ecosystem);

/* The format parsers, on a parsed document whose shape detect chose. sbom may be NULL. */
int vx_fnd_parse_trivy(const struct vx_fj *doc, struct vx_findings *f, struct vx_err **err);
int vx_fnd_parse_grype(const struct vx_fj *doc, struct vx_findings *f, struct vx_err **err);
int vx_fnd_parse_cyclonedx(const struct vx_fj *doc, const struct vx_fnd_sbom *sbom,
                           struct vx_findings *f, struct vx_err **err);
int vx_fnd_parse_osv_scanner(const struct vx_fj *doc, struct vx_findings *f, struct vx_err **err);
/* SPDX 2.x packages into sbom (borrowing from doc). -VX_E_INVALID naming the path. */
int vx_fnd_spdx_packages(const struct vx_fj *doc, struct vx_fnd_sbom *sbom, struct vx_err **err);
/* CycloneDX components (nested too) into sbom. */
int vx_fnd_cdx_components(const struct vx_fj *doc, struct vx_fnd_sbom *sbom, struct vx_err **err);

/* Sorts sbom by ref for lookups (both table builders call it). */
void vx_fnd_sbom_sort(struct vx_fnd_sbom *t);

/* Fills purl/type of findings without a purl from sbom packages of the same name+version. */
void vx_fnd_complete_from_sbom(struct vx_findings *f, const struct vx_fnd_sbom *sbom);

#endif
