/* vex.h -- VEX documents from statements: OpenVEX 0.2.0, CycloneDX 1.6 VEX, CSAF 2.0
 * csaf_vex, and the in-toto/DSSE signature of an OpenVEX document.
 *
 * The `vex` phase's writers (DESIGN.md §11). This module only serialises: the statements
 * (one per vulnerability x package, already decided by the reach module) come in as plain
 * data, so the documents are deterministic for the same statements (sorted, canonical
 * JSON) except for the document id and timestamps, which the caller passes in.
 */
#ifndef VX_VEX_VEX_H
#define VX_VEX_VEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;

enum vx_vex_status {
    VX_VEX_NOT_AFFECTED,
    VX_VEX_AFFECTED,
    VX_VEX_FIXED,
    VX_VEX_UNDER_INVESTIGATION,
};

enum vx_vex_justification {
    VX_JUST_NONE,
    VX_JUST_COMPONENT_NOT_PRESENT,
    VX_JUST_VULNERABLE_CODE_NOT_PRESENT,
    VX_JUST_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
    VX_JUST_VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY,
    VX_JUST_INLINE_MITIGATIONS_ALREADY_EXIST,
};

/* "not_affected", "affected", "fixed", "under_investigation". */
const char *vx_vex_status_name(enum vx_vex_status s);
/* OpenVEX names ("vulnerable_code_not_in_execute_path"); "" for NONE. */
const char *vx_vex_justification_name(enum vx_vex_justification j);

struct vx_vex_statement {
    const char *vuln_id;        /* primary name: the scanner's id */
    const char *const *aliases; /* other ids (CVE/GHSA/...) */
    size_t n_aliases;
    const char *const *subcomponents; /* package purls: the report's spelling first, then
                                         qualifier-free normalised variants (no duplicates) */
    size_t n_subcomponents;
    enum vx_vex_status status;
    enum vx_vex_justification justification; /* not_affected only */
    const char *impact_statement;            /* what was observed (not_affected) */
    const char *action_statement;            /* affected: "upgrade libssl3 to 3.0.13-1~deb12u1" */
    const char *status_notes;  /* pointer to the evidence ("evidence <id>#verdicts/3") */
    double confidence;         /* 0..1; CycloneDX/CSAF carry it in notes/properties */
    const char *severity;      /* for CSAF scores/notes, may be NULL */
    const char *fixed_version; /* may be NULL */
};

struct vx_vex_doc {
    const char *id;       /* document @id, in the service's namespace
                                 ("https://vexxy.dev/vex/<job id>") */
    const char *author;   /* default "vexxy" */
    const char *tooling;  /* "vexxy/<version>" */
    int64_t timestamp_ms; /* document and statement timestamp */
    int version;          /* >= 1 */
    /* The image: qualifier-free digest-pinned purls "pkg:oci/nginx@sha256%3A<hex>", one per
     * known digest (index and platform manifest). */
    const char *const *products;
    size_t n_products;
    const char *image_name; /* "nginx:1.25" for titles, may be NULL */
    const struct vx_vex_statement *statements;
    size_t n_statements;
};

/* OpenVEX 0.2.0 (valid against the official schema: no extra fields). Caller frees. */
char *vx_vex_openvex(const struct vx_vex_doc *d);
/* CycloneDX 1.6 VEX (vulnerabilities[].analysis; affects refs to components). Caller frees. */
char *vx_vex_cyclonedx(const struct vx_vex_doc *d, const char *serial_uuid);
/* CSAF 2.0 with the csaf_vex profile (product tree from products x subcomponents). */
char *vx_vex_csaf(const struct vx_vex_doc *d);

/* An in-toto statement (predicateType https://openvex.dev/ns, subject = the products with
 * their sha256 digests, predicate = the OpenVEX document) in a DSSE envelope signed with an
 * ed25519 private key (PEM). Caller frees *out. */
int vx_vex_sign(const char *openvex_json, const struct vx_vex_doc *d, const char *key_pem_path,
                char **out, struct vx_err **err);
/* Verifies an envelope with an ed25519 public key (PEM); 0 when the signature holds. */
int vx_vex_verify(const char *envelope_json, const char *pub_pem_path, struct vx_err **err);

#endif
