/* vex_sample.h -- a fixed set of statements covering every status and justification, shared
 * by test_vex and vex_driver (the schema test). */
#ifndef VX_TEST_VEX_SAMPLE_H
#define VX_TEST_VEX_SAMPLE_H

#include "vex/vex.h"

static const char *const sample_products[] = {
    "pkg:oci/demo@sha256%3A1111111111111111111111111111111111111111111111111111111111111111",
    "pkg:oci/demo@sha256%3A2222222222222222222222222222222222222222222222222222222222222222",
};
static const char *const sample_aliases[] = {"GHSA-xxxx-yyyy-zzzz"};
static const char *const sample_subs_ssl[] = {
    "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
    "pkg:deb/debian/libssl3@3.0.11-1~deb12u2"};
static const char *const sample_subs_curl[] = {"pkg:deb/debian/curl@7.88.1-10+deb12u5"};
static const char *const sample_subs_gone[] = {"pkg:deb/debian/libxml2@2.9.14"};
static const char *const sample_subs_go[] = {"pkg:golang/golang.org/x/text@v0.3.7"};

static const struct vx_vex_statement sample_statements[] = {
    {.vuln_id = "CVE-2024-0727",
     .aliases = sample_aliases,
     .n_aliases = 1,
     .subcomponents = sample_subs_ssl,
     .n_subcomponents = 2,
     .status = VX_VEX_AFFECTED,
     .action_statement = "upgrade libssl3 to 3.0.13-1~deb12u1",
     .confidence = 0.95,
     .severity = "medium",
     .fixed_version = "3.0.13-1~deb12u1",
     .status_notes = "evidence#verdicts/0"},
    {.vuln_id = "CVE-2023-38545",
     .subcomponents = sample_subs_curl,
     .n_subcomponents = 1,
     .status = VX_VEX_NOT_AFFECTED,
     .justification = VX_JUST_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
     .impact_statement = "none of the 12 files of curl ran",
     .confidence = 0.81},
    {.vuln_id = "CVE-2022-40303",
     .subcomponents = sample_subs_gone,
     .n_subcomponents = 1,
     .status = VX_VEX_NOT_AFFECTED,
     .justification = VX_JUST_COMPONENT_NOT_PRESENT,
     .impact_statement = "libxml2 is not installed",
     .confidence = 0.95},
    {.vuln_id = "GO-2022-1059",
     .subcomponents = sample_subs_go,
     .n_subcomponents = 1,
     .status = VX_VEX_UNDER_INVESTIGATION,
     .confidence = 0.0},
    {.vuln_id = "CVE-2023-0001",
     .subcomponents = sample_subs_curl,
     .n_subcomponents = 1,
     .status = VX_VEX_FIXED,
     .confidence = 0.9},
};

static const struct vx_vex_doc sample_doc = {
    .id = "https://vexxy.dev/vex/analyze-0000",
    .author = "vexxy",
    .tooling = "vexxy/0.1.0",
    .timestamp_ms = 1795000000000,
    .version = 1,
    .products = sample_products,
    .n_products = 2,
    .image_name = "demo:latest",
    .statements = sample_statements,
    .n_statements = sizeof(sample_statements) / sizeof(sample_statements[0]),
};

#endif
