/* inventory.h -- the packages of a root filesystem and the files each owns.
 *
 * The `inventory` phase of the pipeline (DESIGN.md §6) and `vexxy inventory`.
 *
 * Flow: vx_inventory_scan(rootfs) reads every package database it knows (dpkg, apk, rpm,
 * Python dist-info/egg-info, npm node_modules, Go build info in ELF binaries, Java archives),
 * adds one vx_pkg per installed package with its purl and the files it lists, then builds
 * the file index: every listed path is canonicalised inside the rootfs (directory symlinks
 * such as /lib -> usr/lib on merged-usr images resolved, the last component kept) so that a
 * path the tracer saw maps to its owner whichever spelling the database used. Packages
 * that own no file we could attribute are "unmapped": they can never be judged not_affected
 * by file evidence, and the caller is told so.
 *
 * The parsers also run from memory (unit tests, fuzzing): build an empty inventory with
 * vx_inventory_new() and feed it with the vx_inv_parse_* functions.
 */
#ifndef VX_INVENTORY_INVENTORY_H
#define VX_INVENTORY_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;

/* ---- packages --------------------------------------------------------------------------- */

enum vx_pkg_type {
    VX_PKG_DEB,
    VX_PKG_APK,
    VX_PKG_RPM,
    VX_PKG_PYPI,
    VX_PKG_NPM,
    VX_PKG_GOLANG,
    VX_PKG_MAVEN,
};
#define VX_PKG_TYPE_COUNT 7

/* "deb", "apk", "rpm", "pypi", "npm", "golang", "maven" (the purl types). */
const char *vx_pkg_type_name(enum vx_pkg_type t);
/* The type of a purl type name; -1 if none of ours. */
int vx_pkg_type_parse(const char *name);

struct vx_pkg {
    enum vx_pkg_type type;
    char *name;           /* as the ecosystem spells it ("libssl3", "Flask", "@babel/core") */
    char *version;        /* full version: deb/rpm with epoch ("1:2.3-4"), rpm "V-R" */
    char *arch;           /* "amd64", "x86_64", "noarch", or NULL */
    char *namespace;      /* purl namespace: "debian", "alpine", "redhat", maven groupId, npm scope
                        ("@babel"), Go module path prefix; or NULL */
    char *source_name;    /* deb Source / apk origin / rpm sourcerpm name, or NULL */
    char *source_version; /* or NULL (= version) */
    char *purl;           /* built by vx_purl_build, with qualifiers (arch, distro, epoch) */
    char *location;       /* the database or file it was read from, relative to the rootfs */
    char **files;         /* absolute paths as the database lists them (owned) */
    size_t n_files, cap_files;
    size_t n_mapped; /* files found in the rootfs (set by the index build) */
};

/* ---- the inventory ---------------------------------------------------------------------- */

struct vx_inventory_opts {
    int64_t max_db_bytes; /* cap per database file read; default 256 MiB */
    int64_t max_files;    /* cap on listed files over all packages; default 5,000,000 */
    bool skip_binaries;   /* do not open ELF files / archives (Go, Java); default false */
};

struct vx_inv_owner {
    char *path;   /* canonical absolute path inside the rootfs ("/usr/lib/x86_64-linux-gnu/...") */
    size_t pkg;   /* index into pkgs */
    bool present; /* the path exists in the rootfs (regular file, symlink or dir) */
    bool is_dir;  /* it is a directory (shared by packages: not counted in n_mapped) */
};

struct vx_inventory {
    struct vx_pkg *pkgs;
    size_t n_pkgs, cap_pkgs;
    char *distro_id;      /* os-release ID ("debian", "alpine"), or NULL */
    char *distro_version; /* os-release VERSION_ID ("12"), or NULL */
    char **warnings;      /* "var/lib/dpkg/status: entry 12: no Version (skipped)"; capped */
    size_t n_warnings, cap_warnings;
    /* The index (after vx_inventory_index): sorted by path, then pkg. */
    struct vx_inv_owner *owners;
    size_t n_owners, cap_owners;
    int64_t n_files_listed;   /* over every package, before de-duplication */
    int64_t max_files;        /* cap on n_files_listed (vx_inventory_limit) */
    int64_t warnings_dropped; /* warnings past the cap, counted only */
};

struct vx_inventory *vx_inventory_new(void);
void vx_inventory_free(struct vx_inventory *inv);

/* Adds a package (strings copied; namespace/arch/source may be NULL) and returns it; the
 * pointer is valid until the next add. purl is built later by vx_inventory_index (or now
 * by the caller with vx_purl_build). */
struct vx_pkg *vx_inventory_add(struct vx_inventory *inv, enum vx_pkg_type type, const char *name,
                                const char *version, const char *arch, const char *namespace);
/* Adds a file path (copied; made absolute by prefixing '/' if needed) to pkg. -VX_E_TOO_LARGE
 * past the max_files cap given to vx_inventory_limit. */
int vx_pkg_add_file(struct vx_inventory *inv, struct vx_pkg *pkg, const char *path,
                    struct vx_err **err);
/* Sets the file cap used by vx_pkg_add_file (default 5,000,000). */
void vx_inventory_limit(struct vx_inventory *inv, int64_t max_files);
/* Records a warning (printf-style; the first 1000 are kept, then a count). */
void vx_inventory_warn(struct vx_inventory *inv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reads every known package database under rootfs (a directory) and builds the index.
 * A database that cannot be parsed at all is an error naming it; a bad entry inside one is
 * skipped with a warning. Caller owns *out. */
int vx_inventory_scan(const char *rootfs, const struct vx_inventory_opts *opts,
                      struct vx_inventory **out, struct vx_err **err);

/* Builds every missing purl, then the file index: each listed path canonicalised inside
 * rootfs (when rootfs is NULL, paths are only normalised lexically: "//", ".", ".."), sorted,
 * n_mapped counted. Idempotent. */
int vx_inventory_index(struct vx_inventory *inv, const char *rootfs, struct vx_err **err);

/* The owners of a canonical absolute path: *n entries starting at the returned pointer
 * (NULL and 0 when none). The index must have been built. Borrowed. */
const struct vx_inv_owner *vx_inventory_owners(const struct vx_inventory *inv, const char *path,
                                               size_t *n);
/* Canonicalises path inside rootfs the way the index does (caller frees). */
char *vx_inventory_canon(const char *rootfs, const char *path);

/* The indices of packages with no present file (unmapped), in pkgs order; caller frees. */
size_t *vx_inventory_unmapped(const struct vx_inventory *inv, size_t *n);

/* {"packages":[{"name","version","type","purl","arch","files":[...]}],"unmapped":[purls],
 *  "distro":{...},"warnings":[...]} -- canonical (sorted keys; packages sorted by purl).
 * with_files=false leaves "files" out (a count "n_files" stays). Caller frees. */
char *vx_inventory_json(const struct vx_inventory *inv, bool with_files);

/* CycloneDX 1.6 JSON SBOM of the packages (components with purl, evidence.occurrences of
 * their files). image_purl names the metadata component (or NULL). Caller frees. */
char *vx_inventory_cyclonedx(const struct vx_inventory *inv, const char *image_purl,
                             const char *serial_uuid, int64_t timestamp_ms);
/* The in-use SBOM: the same document restricted to the packages with at least one file that
 * ran (owner_used[k] for inv->owners[k]: opened, executed or mapped during the run), each
 * listing only those files as occurrences. Caller frees. */
char *vx_inventory_cyclonedx_used(const struct vx_inventory *inv, const char *image_purl,
                                  const char *serial_uuid, int64_t timestamp_ms,
                                  const bool *owner_used);

/* ---- parsers from memory (rootfs-relative 'where' names the file in messages) ----------- */

/* dpkg status (or one status.d/ file): one package per stanza; deinstall/not-installed
 * skipped; Source: "name (version)" split. Files are added later from the info/ list files. */
int vx_inv_parse_dpkg_status(struct vx_inventory *inv, const char *where, const char *data,
                             size_t len, struct vx_err **err);
/* dpkg info/<pkg>[:arch].list: one absolute path per line, added to pkg. */
int vx_inv_parse_dpkg_list(struct vx_inventory *inv, struct vx_pkg *pkg, const char *data,
                           size_t len, struct vx_err **err);
/* apk lib/apk/db/installed (P:, V:, A:, o:, F:, R: records). */
int vx_inv_parse_apk(struct vx_inventory *inv, const char *where, const char *data, size_t len,
                     struct vx_err **err);
/* rpm header blob (from rpmdb.sqlite Packages.blob). */
int vx_inv_parse_rpm_header(struct vx_inventory *inv, const char *where, const void *data,
                            size_t len, struct vx_err **err);
/* Python RECORD of a dist-info dir; site_dir is the absolute dir the paths are relative to. */
int vx_inv_parse_python_record(struct vx_inventory *inv, struct vx_pkg *pkg, const char *site_dir,
                               const char *data, size_t len, struct vx_err **err);
/* Go build info from an ELF binary's bytes; adds the main module and its deps, each owning
 * the binary at 'path'. 0 with nothing added when the file is not a Go binary. */
int vx_inv_parse_go_elf(struct vx_inventory *inv, const char *path, const void *data, size_t len,
                        struct vx_err **err);

/* ---- purls -------------------------------------------------------------------------------- */

struct vx_purl {
    char *type, *namespace, *name, *version; /* decoded; namespace/version may be NULL */
    char **qual_keys, **qual_vals;           /* decoded, sorted by key */
    size_t n_quals;
    char *subpath; /* or NULL */
};

/* Parses "pkg:type/namespace/name@version?k=v#sub" (percent-decoding; type lower-cased;
 * name lower-cased for types that are case-insensitive). -VX_E_INVALID naming the problem. */
int vx_purl_parse(const char *s, struct vx_purl *out, struct vx_err **err);
void vx_purl_release(struct vx_purl *p);
/* Canonical purl string of pkg: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=
 * debian-12", with the ecosystem's name normalisation (pypi: lower case, '_' -> '-').
 * distro is "debian-12" or NULL. Caller frees. */
char *vx_purl_build(const struct vx_pkg *pkg, const char *distro);
/* The purl without qualifiers and subpath (caller frees); NULL if s is not a purl. */
char *vx_purl_strip(const char *s);

#endif
