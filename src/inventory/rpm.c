/* rpm.c -- the rpm database: rpmdb.sqlite read-only, and the RPM header blobs in it.
 *
 * rpm >= 4.16 keeps its database in var/lib/rpm/rpmdb.sqlite (usr/lib/sysimage/rpm/ on
 * newer Fedora/SUSE), table Packages(hnum, blob). Each blob is an RPM header without the
 * 8-byte magic: two big-endian 32-bit counts (index entries il, data bytes dl), il index
 * entries of four big-endian 32-bit words (tag, type, offset into data, count), then dl bytes
 * of data. We parse it here rather than through librpm: the blob is untrusted, so every
 * offset and count is checked against the data before anything is read, and a header that
 * lies about its lengths is refused as a whole (the scanner turns that into a warning).
 *
 * The database is opened through /proc/self/fd of an fd obtained with RESOLVE_IN_ROOT (a
 * symlinked var/lib/rpm cannot lead outside the image) as an "immutable" URI, so SQLite never
 * creates -wal/-shm/-journal files in the image. Berkeley DB (rpm < 4.16) and ndb (SUSE)
 * databases are detected and reported as unsupported.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "inventory/inv_int.h"  /* struct vx_inv_scan */
#include "inventory/langwalk.h" /* vx_lang_open */

/* Tags (rpmtag.h) and types we read. */
#define TAG_NAME         1000
#define TAG_VERSION      1001
#define TAG_RELEASE      1002
#define TAG_EPOCH        1003
#define TAG_VENDOR       1011
#define TAG_ARCH         1022
#define TAG_OLDFILENAMES 1027
#define TAG_SOURCERPM    1044
#define TAG_DIRINDEXES   1116
#define TAG_BASENAMES    1117
#define TAG_DIRNAMES     1118

#define T_INT32        4
#define T_STRING       6
#define T_STRING_ARRAY 8
#define T_I18NSTRING   9

#define MAX_INDEX   0x10000      /* rpm's own limit on index entries */
#define MAX_DATA    (256u << 20) /* rpm's own limit on header data */
#define MAX_HEADERS 200000       /* packages read from one database */

struct hdr {
    const unsigned char *index; /* il entries of 16 bytes */
    const unsigned char *data;  /* dl bytes */
    uint32_t il, dl;
};

struct entry {
    uint32_t tag, type, offset, count;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool find_entry(const struct hdr *h, uint32_t tag, struct entry *e)
{
    for (uint32_t i = 0; i < h->il; i++) {
        const unsigned char *p = h->index + (size_t)i * 16;

        if (be32(p) == tag) {
            e->tag = tag;
            e->type = be32(p + 4);
            e->offset = be32(p + 8);
            e->count = be32(p + 12);
            return true;
        }
    }
    return false;
}

/* The string of a STRING/I18NSTRING entry (first one), NUL-terminated inside the data, or
 * NULL when absent; -1 in *bad when present but malformed. */
static const char *get_string(const struct hdr *h, uint32_t tag, int *bad)
{
    struct entry e;
    const char *s;

    if (!find_entry(h, tag, &e))
        return NULL;
    if ((e.type != T_STRING && e.type != T_I18NSTRING && e.type != T_STRING_ARRAY) ||
        e.offset >= h->dl || !memchr(h->data + e.offset, '\0', h->dl - e.offset)) {
        *bad = -1;
        return NULL;
    }
    s = (const char *)h->data + e.offset;
    return s;
}

/* The count strings of a STRING_ARRAY entry, each checked to end inside the data.
 * Returns the count (pointers into the data in *out, caller frees the array), 0 when absent,
 * -1 when malformed. */
static int64_t get_string_array(const struct hdr *h, uint32_t tag, const char ***out)
{
    struct entry e;
    const char **v;
    size_t off;

    *out = NULL;
    if (!find_entry(h, tag, &e))
        return 0;
    /* Every string takes at least one byte: a count above the data size is a lie. */
    if (e.type != T_STRING_ARRAY || e.offset >= h->dl || e.count > h->dl - e.offset)
        return -1;
    v = vx_xcalloc(e.count ? e.count : 1, sizeof(*v));
    off = e.offset;
    for (uint32_t i = 0; i < e.count; i++) {
        const unsigned char *nul;

        if (off >= h->dl || !(nul = memchr(h->data + off, '\0', h->dl - off))) {
            free(v);
            return -1;
        }
        v[i] = (const char *)h->data + off;
        off = (size_t)(nul - h->data) + 1;
    }
    *out = v;
    return e.count;
}

/* The INT32 array of an entry: count values decoded into a new array; 0 absent, -1 bad. */
static int64_t get_int32_array(const struct hdr *h, uint32_t tag, uint32_t **out)
{
    struct entry e;
    uint32_t *v;

    *out = NULL;
    if (!find_entry(h, tag, &e))
        return 0;
    if (e.type != T_INT32 || e.offset > h->dl || e.count > (h->dl - e.offset) / 4)
        return -1;
    v = vx_xcalloc(e.count ? e.count : 1, sizeof(*v));
    for (uint32_t i = 0; i < e.count; i++)
        v[i] = be32(h->data + e.offset + (size_t)i * 4);
    *out = v;
    return e.count;
}

/* purl namespace from the vendor when the image has no os-release: the distro the scanners
 * would name ("pkg:rpm/redhat/...", "pkg:rpm/centos/..."). */
static char *vendor_namespace(const char *vendor)
{
    static const struct {
        const char *needle, *ns;
    } known[] = {
        {"Red Hat", "redhat"},        {"CentOS", "centos"},       {"Fedora", "fedora"},
        {"Rocky", "rocky"},           {"AlmaLinux", "almalinux"}, {"Amazon", "amazon"},
        {"Oracle", "oracle"},         {"openSUSE", "opensuse"},   {"SUSE", "suse"},
        {"Microsoft", "cbl-mariner"},
    };
    struct vx_buf b = VX_BUF_INIT(64);

    if (!vendor || !*vendor)
        return NULL;
    for (size_t i = 0; i < VX_ARRAY_SIZE(known); i++)
        if (strstr(vendor, known[i].needle))
            return vx_xstrdup(known[i].ns);
    /* Otherwise the first word, lower-cased, letters and digits only. */
    for (const char *p = vendor; *p && *p != ' ' && *p != ','; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            vx_buf_add(&b, p, 1);
        else if (*p >= 'A' && *p <= 'Z')
            vx_buf_addf(&b, "%c", *p - 'A' + 'a');
    if (b.len == 0) {
        vx_buf_release(&b);
        return NULL;
    }
    return vx_buf_detach(&b, NULL);
}

/* purl namespace from the os-release ID, spelled the way the scanners' rpm purls spell the
 * distro where the two differ (Trivy: pkg:rpm/redhat/..., pkg:rpm/amazon/...). */
static char *distro_namespace(const char *id)
{
    static const struct {
        const char *id, *ns;
    } map[] = {
        {"rhel", "redhat"}, {"amzn", "amazon"}, {"ol", "oracle"}, {"mariner", "cbl-mariner"}};

    for (size_t i = 0; i < VX_ARRAY_SIZE(map); i++)
        if (strcmp(id, map[i].id) == 0)
            return vx_xstrdup(map[i].ns);
    return vx_xstrdup(id);
}

/* "bash-4.2.46-31.el7.src.rpm" -> name "bash", version "4.2.46-31.el7". */
static void split_sourcerpm(const char *srpm, char **name, char **version)
{
    size_t len = strlen(srpm);
    char *copy, *rel_dash, *ver_dash;

    *name = *version = NULL;
    if (len > 8 && strcmp(srpm + len - 8, ".src.rpm") == 0)
        len -= 8;
    else if (len > 10 && strcmp(srpm + len - 10, ".nosrc.rpm") == 0)
        len -= 10;
    else
        return;
    copy = vx_xstrndup(srpm, len);
    rel_dash = strrchr(copy, '-');
    if (rel_dash) {
        *rel_dash = '\0';
        ver_dash = strrchr(copy, '-');
        *rel_dash = '-';
        if (ver_dash && ver_dash > copy) {
            *name = vx_xstrndup(copy, (size_t)(ver_dash - copy));
            *version = vx_xstrdup(ver_dash + 1);
        }
    }
    free(copy);
}

int vx_inv_parse_rpm_header(struct vx_inventory *inv, const char *where, const void *data,
                            size_t len, struct vx_err **err)
{
    static const unsigned char magic[3] = {0x8e, 0xad, 0xe8};
    const unsigned char *p = data;
    struct hdr h;
    const char *name, *ver, *rel, *arch, *vendor, *srpm;
    const char **base = NULL, **dirs = NULL, **old = NULL;
    uint32_t *didx = NULL, *epoch = NULL;
    int64_t n_base = 0, n_dirs = 0, n_didx = 0, n_old = 0, n_epoch = 0;
    char *version = NULL, *ns = NULL;
    struct vx_pkg *pkg;
    int bad = 0, rc = 0;

    /* A header read from a file carries an 8-byte magic + reserved; the rpmdb blob not. */
    if (len >= 8 && memcmp(p, magic, 3) == 0) {
        p += 8;
        len -= 8;
    }
    if (len < 8)
        return vx_err_set(err, VX_E_INVALID, 0, "%s: rpm header of %zu bytes is truncated", where,
                          len);
    h.il = be32(p);
    h.dl = be32(p + 4);
    if (h.il < 1 || h.il > MAX_INDEX || h.dl > MAX_DATA)
        return vx_err_set(err, VX_E_INVALID, 0,
                          "%s: rpm header claims %" PRIu32 " entries and %" PRIu32
                          " data bytes (out of range)",
                          where, h.il, h.dl);
    if ((uint64_t)h.il * 16 + h.dl > len - 8)
        return vx_err_set(err, VX_E_INVALID, 0,
                          "%s: rpm header claims %" PRIu32 " entries and %" PRIu32
                          " data bytes but has %zu bytes",
                          where, h.il, h.dl, len - 8);
    h.index = p + 8;
    h.data = h.index + (size_t)h.il * 16;

    name = get_string(&h, TAG_NAME, &bad);
    ver = get_string(&h, TAG_VERSION, &bad);
    rel = get_string(&h, TAG_RELEASE, &bad);
    arch = get_string(&h, TAG_ARCH, &bad);
    vendor = get_string(&h, TAG_VENDOR, &bad);
    srpm = get_string(&h, TAG_SOURCERPM, &bad);
    n_epoch = get_int32_array(&h, TAG_EPOCH, &epoch);
    if (bad || n_epoch < 0) {
        rc = vx_err_set(err, VX_E_INVALID, 0,
                        "%s: rpm header: a string or epoch entry points "
                        "outside its data",
                        where);
        goto out;
    }
    if (!name || !*name || !ver || !*ver) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "%s: rpm header without name or version", where);
        goto out;
    }
    /* The pseudo-packages holding imported signing keys are not software. */
    if (strcmp(name, "gpg-pubkey") == 0)
        goto out;
    n_base = get_string_array(&h, TAG_BASENAMES, &base);
    n_dirs = get_string_array(&h, TAG_DIRNAMES, &dirs);
    n_didx = get_int32_array(&h, TAG_DIRINDEXES, &didx);
    n_old = get_string_array(&h, TAG_OLDFILENAMES, &old);
    if (n_base < 0 || n_dirs < 0 || n_didx < 0 || n_old < 0 || n_base != n_didx) {
        rc = vx_err_set(err, VX_E_INVALID, 0,
                        "%s: rpm header of '%s': malformed file list (basenames %" PRId64
                        ", dirindexes %" PRId64 ")",
                        where, name, n_base, n_didx);
        goto out;
    }
    for (int64_t i = 0; i < n_didx; i++)
        if (didx[i] >= (uint64_t)n_dirs) {
            rc = vx_err_set(err, VX_E_INVALID, 0,
                            "%s: rpm header of '%s': dir index %" PRIu32 " past %" PRId64
                            " dirnames",
                            where, name, didx[i], n_dirs);
            goto out;
        }

    version = rel && *rel ? vx_xasprintf("%s-%s", ver, rel) : vx_xstrdup(ver);
    if (n_epoch > 0) {
        char *v = vx_xasprintf("%" PRIu32 ":%s", epoch[0], version);

        free(version);
        version = v;
    }
    ns = inv->distro_id ? distro_namespace(inv->distro_id) : vendor_namespace(vendor);
    pkg = vx_inventory_add(inv, VX_PKG_RPM, name, version, arch && *arch ? arch : NULL, ns);
    pkg->location = vx_xstrdup(where);
    if (srpm)
        split_sourcerpm(srpm, &pkg->source_name, &pkg->source_version);
    for (int64_t i = 0; i < n_base && rc == 0; i++) {
        char *path = vx_xasprintf("%s%s", dirs[didx[i]], base[i]);

        rc = vx_pkg_add_file(inv, pkg, path, err);
        free(path);
        pkg = &inv->pkgs[inv->n_pkgs - 1];
    }
    for (int64_t i = 0; i < n_old && rc == 0 && n_base == 0; i++)
        rc = vx_pkg_add_file(inv, pkg, old[i], err);
out:
    free(base);
    free(dirs);
    free(old);
    free(didx);
    free(epoch);
    free(version);
    free(ns);
    return rc;
}

/* Reads every header of an open rpmdb.sqlite. A bad header is a warning. */
static int read_sqlite(const struct vx_inv_scan *sc, const char *rel, int fd, struct vx_err **err)
{
    char uri[64];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = 0, s, n = 0;

    /* immutable=1: no locking, no journal or WAL files created beside the database. */
    snprintf(uri, sizeof(uri), "file:/proc/self/fd/%d?mode=ro&immutable=1", fd);
    s = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    if (s != SQLITE_OK) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "%s: cannot open as sqlite: %s", rel,
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(s));
        goto out;
    }
    /* The file comes from an image: SQLite's advice for untrusted databases (no schema
     * functions or triggers trusted, corrupt pages detected early, no mmap, capped values). */
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, (int)MAX_DATA + 8 + 16 * MAX_INDEX);
    sqlite3_exec(db, "PRAGMA cell_size_check=ON; PRAGMA mmap_size=0", NULL, NULL, NULL);
    /* Only rows of a real table: a view named Packages could compute anything. */
    s = sqlite3_prepare_v2(db, "SELECT type FROM sqlite_master WHERE name = 'Packages'", -1, &st,
                           NULL);
    if (s != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
        sqlite3_column_type(st, 0) != SQLITE_TEXT ||
        strcmp((const char *)sqlite3_column_text(st, 0), "table") != 0) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "%s: not an rpm database: %s", rel,
                        s != SQLITE_OK ? sqlite3_errmsg(db) : "no Packages table");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    s = sqlite3_prepare_v2(db, "SELECT hnum, blob FROM Packages ORDER BY hnum", -1, &st, NULL);
    if (s != SQLITE_OK) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "%s: not an rpm database: %s", rel,
                        sqlite3_errmsg(db));
        goto out;
    }
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 1);
        int blen = sqlite3_column_bytes(st, 1);
        long long hnum = sqlite3_column_int64(st, 0);
        struct vx_err *e = NULL;

        if (++n > MAX_HEADERS) {
            vx_inventory_warn(sc->inv, "%s: more than %d packages; the rest skipped", rel,
                              MAX_HEADERS);
            break;
        }
        rc = vx_inv_parse_rpm_header(sc->inv, rel, blob ? blob : "", blob ? (size_t)blen : 0, &e);
        if (rc == -VX_E_TOO_LARGE) {
            if (err && !*err)
                *err = e;
            else
                vx_err_free(&e);
            goto out;
        }
        if (rc < 0) {
            vx_inventory_warn(sc->inv, "%s: package %lld skipped: %s", rel, hnum, e->msg);
            vx_err_free(&e);
            rc = 0;
        }
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = vx_err_set(err, VX_E_INVALID, 0, "%s: reading Packages: %s", rel, sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* True when the file at rel exists (a database of a format we do not read). */
static bool exists(const struct vx_inv_scan *sc, const char *rel)
{
    int fd = vx_lang_open(sc->rootfd, rel, O_RDONLY);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int vx_inv_scan_rpm(const struct vx_inv_scan *sc, struct vx_err **err)
{
    static const char *const sqlite_dbs[] = {"var/lib/rpm/rpmdb.sqlite",
                                             "usr/lib/sysimage/rpm/rpmdb.sqlite"};
    static const char *const other_dbs[] = {"var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages",
                                            "var/lib/rpm/Packages.db",
                                            "usr/lib/sysimage/rpm/Packages.db"};
    bool found = false;

    for (size_t i = 0; i < VX_ARRAY_SIZE(sqlite_dbs); i++) {
        int fd = vx_lang_open(sc->rootfd, sqlite_dbs[i], O_RDONLY);
        int rc;

        if (fd < 0)
            continue;
        /* usr/lib/sysimage/rpm is often where var/lib/rpm points: read one database once. */
        if (found) {
            close(fd);
            continue;
        }
        found = true;
        rc = read_sqlite(sc, sqlite_dbs[i], fd, err);
        close(fd);
        if (rc < 0)
            return rc;
    }
    if (found)
        return 0;
    for (size_t i = 0; i < VX_ARRAY_SIZE(other_dbs); i++)
        if (exists(sc, other_dbs[i])) {
            vx_inventory_warn(sc->inv,
                              "%s: unsupported rpmdb format (%s); its packages are "
                              "not inventoried",
                              other_dbs[i],
                              vx_lang_ends_with(other_dbs[i], ".db") ? "ndb" : "berkeley db");
            break;
        }
    return 0;
}
