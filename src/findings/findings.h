/* findings.h -- the scanner's report: parse any supported format, bind to the inventory.
 *
 * The findings half of the `inventory` phase (DESIGN.md §7) and `vexxy findings`.
 *
 * Flow: vx_findings_parse() detects the format (Trivy JSON current and legacy, Grype JSON,
 * CycloneDX 1.4-1.6 with vulnerabilities, SPDX 2.3 + a separate vulnerability list, OSV-Scanner
 * JSON, plus OSV records / Go vulndb entries for symbol lists) and normalises every finding;
 * vx_findings_bind() attaches each to an inventory package (purl equal ignoring qualifiers,
 * then name + version + type, epoch-aware for deb/rpm). Unbound findings are kept, with
 * the reason, never dropped.
 */
#ifndef VX_FINDINGS_FINDINGS_H
#define VX_FINDINGS_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;
struct vx_inventory;

enum vx_findings_format {
    VX_FINDINGS_TRIVY,
    VX_FINDINGS_GRYPE,
    VX_FINDINGS_CYCLONEDX,
    VX_FINDINGS_SPDX,
    VX_FINDINGS_OSV,
};

/* "trivy", "grype", "cyclonedx", "spdx", "osv". */
const char *vx_findings_format_name(enum vx_findings_format f);

struct vx_finding {
    char *id;       /* the scanner's primary id ("CVE-2023-1234", "GHSA-...", "GO-2022-0463") */
    char **aliases; /* the other ids, de-duplicated, id itself excluded */
    size_t n_aliases;
    char *purl;          /* exactly as the scanner wrote it, or NULL if it gave none */
    char *name;          /* package name */
    char *version;       /* installed version */
    char *type;          /* purl type ("deb", "apk", "rpm", "pypi", "npm", "golang", "maven"),
                           or NULL when unknown */
    char *fixed_version; /* first fixed version, or NULL ("2.3, 2.4" keeps the list) */
    char *severity;      /* lower case: critical|high|medium|low|negligible|unknown */
    char *description;   /* or NULL; capped at 4 KiB */
    char *status;        /* scanner's status where it has one (Trivy "fixed", "affected",
                            "will_not_fix", ...) or NULL */
    char **symbols;      /* vulnerable functions ("golang.org/x/text/language.Parse") */
    size_t n_symbols;
    char **locations; /* file paths the scanner named for the package (Grype locations,
                            Trivy PkgPath) */
    size_t n_locations;
    /* binding (vx_findings_bind) */
    long pkg;             /* index into the inventory's pkgs, -1 when unbound */
    const char *bound_by; /* "purl", "name_version_type", "name_version" (static) or NULL */
    char *unbound_reason; /* when pkg == -1 after binding */
};

struct vx_findings {
    enum vx_findings_format format;
    char *format_version; /* "2" (Trivy SchemaVersion), "1.5" (CycloneDX specVersion), ... */
    char *artifact;       /* what the scanner scanned (ArtifactName, source.target), or NULL */
    struct vx_finding *items;
    size_t n, cap;
    char **warnings; /* entries skipped, with the JSON path ("Results[2].Vulnerabilities[7]") */
    size_t n_warnings, cap_warnings;
};

/* Caps: a report is untrusted input. */
#define VX_FINDINGS_MAX_BYTES (256 * 1024 * 1024)
#define VX_FINDINGS_MAX_ITEMS 1000000

/* Parses a report (auto-detected). A document of no known format, or a known format with a
 * wrong shape, is -VX_E_INVALID (or -VX_E_UNPROCESSABLE) naming the format and the JSON
 * path at fault ("trivy: Results[1].Vulnerabilities: not an array"). An entry missing its
 * id or package is skipped with a warning. Caller owns *out. */
int vx_findings_parse(const char *data, size_t len, struct vx_findings **out, struct vx_err **err);
/* The same from a file (capped at VX_FINDINGS_MAX_BYTES). */
int vx_findings_parse_file(const char *path, struct vx_findings **out, struct vx_err **err);
void vx_findings_free(struct vx_findings *f);

/* A vulnerability report together with the SBOM it was made from (SPDX 2.2/2.3 JSON or a
 * CycloneDX SBOM): an SPDX document lists packages, not vulnerabilities, so it is only read
 * alongside a report. The report is parsed as by vx_findings_parse (any format, its
 * CycloneDX affects refs may also name the SBOM's SPDXIDs / bom-refs or purls); findings
 * without a purl get the purl of the SBOM package of the same name and version. When the
 * SBOM is SPDX, format is VX_FINDINGS_SPDX and format_version "SPDX-2.3+<report format>".
 * Caller owns *out. */
int vx_findings_parse_with_sbom(const char *report, size_t report_len, const char *sbom,
                                size_t sbom_len, struct vx_findings **out, struct vx_err **err);

/* Adds vulnerable symbols from an OSV record or Go vulndb entry (ecosystem_specific /
 * database_specific symbol lists, affected[].ecosystem_specific.imports[].symbols) to the
 * findings whose id or aliases match the record's id or aliases. *n_matched counts them. */
int vx_findings_add_osv_symbols(struct vx_findings *f, const char *data, size_t len,
                                size_t *n_matched, struct vx_err **err);

/* Binds every finding to a package of inv (which must be indexed). Returns the number
 * bound in *n_bound. */
int vx_findings_bind(struct vx_findings *f, const struct vx_inventory *inv, size_t *n_bound,
                     struct vx_err **err);

/* {"format","format_version","findings":[{"id","aliases","purl","name","version","type",
 *  "fixed_version","severity","symbols","status","locations","bound":{"purl","by"} |
 *  "unbound_reason"}],"warnings":[...]} -- canonical; inv may be NULL (no binding info).
 * Caller frees. */
char *vx_findings_json(const struct vx_findings *f, const struct vx_inventory *inv);

/* Version comparison for binding and "fixed" checks: dpkg rules for deb, rpmvercmp for rpm
 * (epoch aware), apk rules for apk, otherwise a dotted-numeric compare. <0, 0, >0. */
int vx_version_cmp(const char *type, const char *a, const char *b);

#endif
