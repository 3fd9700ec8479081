/* reach.h -- per (vulnerability, package): affected, not_affected (with its justification)
 * or under_investigation, with a confidence score and the evidence behind it.
 *
 * The `reach` phase (DESIGN.md §10). Inputs: the inventory (packages and file index), the
 * bound findings, the execution profile of the run (NULL when there was none) and the
 * measured facts of the run. Output: one verdict per (vulnerability id, package), never
 * two conflicting ones, each with a one-line reason and the files it rests on.
 *
 * What matters most: a not_affected must be true. Every rule that could say not_affected
 * first checks that the evidence is complete (tracer lost nothing, the run was adequate,
 * the package's files are mapped); otherwise the verdict is under_investigation.
 */
#ifndef VX_REACH_REACH_H
#define VX_REACH_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vex/vex.h" /* status and justification enums */

struct vx_err;
struct vx_inventory;
struct vx_findings;
struct vx_trace_profile;

/* Measured facts of the run (sandbox + exerciser + test script). */
struct vx_run_facts {
    bool ran;                 /* a workload was started at all */
    bool stayed_up;           /* still running at the end of the window (or exited 0 after
                                  the test script finished, for batch images) */
    int exit_code;            /* when it exited; -1 if not */
    int64_t window_ms;        /* how long it was observed */
    int64_t window_wanted_ms; /* analysis_duration asked for */
    bool health_checked;      /* a health check was configured/attempted */
    bool health_ok;
    int64_t requests;  /* exerciser requests sent */
    int64_t endpoints; /* distinct endpoints that answered */
    int64_t status_2xx, status_4xx, status_5xx;
    bool test_script_ran;
    int test_script_exit; /* when it ran */
};

struct vx_reach_opts {
    double threshold; /* not_affected below this confidence -> under_investigation; default 0.7 */
};

struct vx_verdict {
    const char *vuln_id; /* borrowed from the findings */
    size_t *findings;    /* indices of the findings this verdict covers (same id + package) */
    size_t n_findings;
    long pkg; /* inventory package index, -1 if unbound */
    enum vx_vex_status status;
    enum vx_vex_justification justification;
    double confidence; /* 0..1 */
    char *reason;      /* one line, human */
    /* files and touched belong to the result and are shared by the package's verdicts */
    char **files; /* the package's files present in the image (capped at 200) */
    size_t n_files;
    int64_t n_files_total; /* before the cap */
    char **touched;        /* "path (exec,mmap-exec)" of the package's files seen in the run */
    size_t n_touched;
    char **symbols_called; /* named vulnerable functions counted > 0 */
    size_t n_symbols_called;
};

struct vx_reach_result {
    struct vx_verdict *verdicts; /* sorted by vuln id, then package purl */
    size_t n;
    size_t n_affected, n_not_affected, n_under_investigation, n_fixed;
    double run_confidence; /* the run-level factor of the formula */
    char *run_reason;      /* why the run factor is what it is */
    bool profile_complete;
    void **shared; /* private: the blocks the verdicts' files and touched point into */
    size_t n_shared;
};

/* Decides every bound and unbound finding. profile may be NULL (no run: nothing can be
 * not_affected by execution evidence; component_not_present still can). */
int vx_reach_decide(const struct vx_inventory *inv, const struct vx_findings *f,
                    const struct vx_trace_profile *profile, const struct vx_run_facts *facts,
                    const struct vx_reach_opts *opts, struct vx_reach_result **out,
                    struct vx_err **err);
void vx_reach_result_free(struct vx_reach_result *r);

/* {"summary":{...},"reachability_results":[{"cve","package","purl","status","justification",
 *  "confidence_score","reason","vulnerable_files","executed_files",...}],"run":{...}} */
char *vx_reach_json(const struct vx_reach_result *r, const struct vx_inventory *inv,
                    const struct vx_findings *f);

/* VEX statements of the verdicts (subcomponents: the report's purl verbatim + normalised
 * variants). The strings point into r/inv/f and into *storage (caller frees storage with
 * vx_reach_statements_free). */
struct vx_reach_statements {
    struct vx_vex_statement *items;
    size_t n;
    char **owned; /* strings made for the statements */
    size_t n_owned, cap_owned;
};
int vx_reach_statements(const struct vx_reach_result *r, const struct vx_inventory *inv,
                        const struct vx_findings *f, const char *evidence_ref,
                        struct vx_reach_statements *out, struct vx_err **err);
void vx_reach_statements_free(struct vx_reach_statements *s);

#endif
