/* findings_int.h -- internal interfaces between the files of the findings module: the
 * parse context every format parser fills, typed JSON accessors that name the path at
 * fault, and the ecosystem -> purl type tables. Not part of the module contract. */
#ifndef VX_FINDINGS_FINDINGS_INT_H
#define VX_FINDINGS_FINDINGS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct vx_err;
struct vx_findings;
struct vx_finding;

/* Per-field caps. A description is cut (at a UTF-8 boundary) to 4 KiB; an identifying
 * field (id, name, version, purl, ...) longer than 1 KiB is no real package: the entry is
 * skipped with a warning. */
#define VX_FND_MAX_DESC   4096
#define VX_FND_MAX_FIELD  1024
#define VX_FND_MAX_WARN   1000
#define VX_FND_MAX_LIST   4096 /* aliases, symbols, locations per finding */

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
int vx_fnd_str(const json_t *o, const char *key, const char *fmt, const char *where,
               const char **out, struct vx_err **err);
int vx_fnd_arr(const json_t *o, const char *key, const char *fmt, const char *where,
               json_t **out, struct vx_err **err);
int vx_fnd_obj(const json_t *o, const char *key, const char *fmt, const char *where,
               json_t **out, struct vx_err **err);

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
int vx_fnd_parse_trivy(const json_t *doc, struct vx_findings *f, struct vx_err **err);
int vx_fnd_parse_grype(const json_t *doc, struct vx_findings *f, struct vx_err **err);
int vx_fnd_parse_cyclonedx(const json_t *doc, const struct vx_fnd_sbom *sbom,
                           struct vx_findings *f, struct vx_err **err);
int vx_fnd_parse_osv_scanner(const json_t *doc, struct vx_findings *f, struct vx_err **err);
/* SPDX 2.x packages into sbom (borrowing from doc). -VX_E_INVALID naming the path. */
int vx_fnd_spdx_packages(const json_t *doc, struct vx_fnd_sbom *sbom, struct vx_err **err);
/* CycloneDX components (nested too) into sbom. */
int vx_fnd_cdx_components(const json_t *doc, struct vx_fnd_sbom *sbom, struct vx_err **err);

/* Sorts sbom by ref for lookups (both table builders call it). */
void vx_fnd_sbom_sort(struct vx_fnd_sbom *t);

/* Fills purl/type of findings without a purl from sbom packages of the same name+version. */
void vx_fnd_complete_from_sbom(struct vx_findings *f, const struct vx_fnd_sbom *sbom);

#endif
