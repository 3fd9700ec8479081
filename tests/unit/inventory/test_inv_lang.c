/* test_inv_lang.c -- the rpm and language-ecosystem scanners of the inventory module.
 *
 * rpm: the cbl-mariner rpmdb.sqlite of ../shared/samples/pkgdb (counts established with
 * sqlite3 over its Name and Basenames index tables: 129 packages, 7269 files; glibc 84 files,
 * sudo 191), through the parser and through the scanner on a rootfs (which must not leave
 * -wal/-shm files), then headers with lying lengths, every truncation and random damage.
 * Python, npm, Go and Java: the samples plus trees built here (dist-info with RECORD and
 * __pycache__, egg-info, a venv, scoped and nested node_modules, jars written with
 * libarchive, a synthetic Go ELF and, when the go tool exists, a real Go binary).
 */
#include "common/setup.h"

#include <setjmp.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fs.h"
#include "inventory/inv_int.h"
#include "inventory/inventory.h"

#define RPM_SAMPLE VX_SAMPLES_DIR "/pkgdb/rpm/go-rpmdb-cbl-mariner-2.0-rpmdb.sqlite"

/* ---- helpers ------------------------------------------------------------------------------ */

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    struct vx_buf b = VX_BUF_INIT(256 << 20);
    char chunk[65536];
    size_t r;

    assert_non_null(fp);
    while ((r = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        assert_int_equal(vx_buf_add(&b, chunk, r), 0);
    fclose(fp);
    return vx_buf_detach(&b, len);
}

static char *mkroot(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = vx_xasprintf("%s/vx-inv-lang-XXXXXX", tmp && *tmp ? tmp : "/tmp");

    assert_non_null(mkdtemp(dir));
    return dir;
}

static void rmroot(char *dir)
{
    struct vx_err *err = NULL;

    assert_int_equal(vx_fs_remove_tree(dir, &err), 0);
    free(dir);
}

static void put(const char *root, const char *rel, const void *data, size_t len)
{
    char *path = vx_xasprintf("%s/%s", root, rel);
    char *dir = vx_xstrdup(path);
    struct vx_err *err = NULL;
    FILE *fp;

    *strrchr(dir, '/') = '\0';
    assert_int_equal(vx_fs_mkdirs(dir, 0755, &err), 0);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
    free(path);
    free(dir);
}

static void puts_(const char *root, const char *rel, const char *text)
{
    put(root, rel, text, strlen(text));
}

/* Runs one scanner over root; returns its rc. */
static int scan(const char *root, struct vx_inventory *inv, vx_inv_scanner_fn fn)
{
    struct vx_inventory_opts opts = {.max_db_bytes = 256 << 20, .max_files = 5000000};
    struct vx_inv_scan sc = {.rootfs = root, .opts = &opts, .inv = inv};
    struct vx_err *err = NULL;
    int rc;

    sc.rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(sc.rootfd >= 0);
    rc = fn(&sc, &err);
    if (rc < 0) {
        assert_non_null(err);
        print_message("scanner: %s\n", err->msg);
    }
    vx_err_free(&err);
    close(sc.rootfd);
    return rc;
}

static struct vx_pkg *pkg_named(struct vx_inventory *inv, enum vx_pkg_type t, const char *name)
{
    for (size_t i = 0; i < inv->n_pkgs; i++)
        if (inv->pkgs[i].type == t && strcmp(inv->pkgs[i].name, name) == 0)
            return &inv->pkgs[i];
    fail_msg("no %s package '%s'", vx_pkg_type_name(t), name);
    return NULL;
}

static bool pkg_has(const struct vx_pkg *p, const char *file)
{
    for (size_t i = 0; i < p->n_files; i++)
        if (strcmp(p->files[i], file) == 0)
            return true;
    return false;
}

static bool warned(const struct vx_inventory *inv, const char *needle)
{
    for (size_t i = 0; i < inv->n_warnings; i++)
        if (strstr(inv->warnings[i], needle))
            return true;
    return false;
}

static size_t count_type(const struct vx_inventory *inv, enum vx_pkg_type t)
{
    size_t n = 0;

    for (size_t i = 0; i < inv->n_pkgs; i++)
        n += inv->pkgs[i].type == t;
    return n;
}

/* ---- rpm -------------------------------------------------------------------------------- */

struct blobs {
    unsigned char **data;
    size_t *len;
    size_t n;
};

static void read_blobs(struct blobs *b)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    memset(b, 0, sizeof(*b));
    assert_int_equal(sqlite3_open_v2("file:" RPM_SAMPLE "?mode=ro&immutable=1", &db,
                                     SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL),
                     SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT blob FROM Packages ORDER BY hnum", -1, &st, NULL),
        SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);

        b->data = vx_xrealloc(b->data, (b->n + 1) * sizeof(*b->data));
        b->len = vx_xrealloc(b->len, (b->n + 1) * sizeof(*b->len));
        b->data[b->n] = vx_xmalloc(n);
        memcpy(b->data[b->n], sqlite3_column_blob(st, 0), n);
        b->len[b->n++] = n;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void free_blobs(struct blobs *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->data[i]);
    free(b->data);
    free(b->len);
}

static int64_t total_files(const struct vx_inventory *inv)
{
    int64_t n = 0;

    for (size_t i = 0; i < inv->n_pkgs; i++)
        n += (int64_t)inv->pkgs[i].n_files;
    return n;
}

static void check_mariner(struct vx_inventory *inv)
{
    struct vx_pkg *p;

    assert_int_equal(inv->n_pkgs, 129);
    assert_int_equal(total_files(inv), 7269);
    p = pkg_named(inv, VX_PKG_RPM, "glibc");
    assert_string_equal(p->version, "2.34-2.cm2");
    assert_string_equal(p->arch, "x86_64");
    assert_int_equal(p->n_files, 84);
    assert_string_equal(p->source_name, "glibc");
    assert_string_equal(p->source_version, "2.34-2.cm2");
    assert_true(pkg_has(p, "/etc/ld.so.cache"));
    p = pkg_named(inv, VX_PKG_RPM, "sudo");
    assert_int_equal(p->n_files, 191);
    assert_true(pkg_has(p, "/etc/pam.d/sudo"));
    p = pkg_named(inv, VX_PKG_RPM, "ca-certificates-tools");
    assert_string_equal(p->version, "1:2.0.0-1.cm2");
    assert_string_equal(p->arch, "noarch");
    assert_string_equal(p->source_name, "ca-certificates");
    assert_true(pkg_has(p, "/usr/bin/update-ca-trust"));
    p = pkg_named(inv, VX_PKG_RPM, "core-packages-container");
    assert_int_equal(p->n_files, 0);
}

static void test_rpm_sample_headers(void **state)
{
    struct vx_inventory *inv = vx_inventory_new();
    struct blobs b;

    (void)state;
    if (!exists(RPM_SAMPLE))
        skip();
    read_blobs(&b);
    assert_int_equal(b.n, 129);
    for (size_t i = 0; i < b.n; i++) {
        struct vx_err *err = NULL;

        assert_int_equal(vx_inv_parse_rpm_header(inv, "rpmdb", b.data[i], b.len[i], &err), 0);
    }
    check_mariner(inv);
    assert_int_equal(inv->n_warnings, 0);
    /* No os-release: the namespace comes from the vendor ("Microsoft Corporation"). */
    assert_string_equal(pkg_named(inv, VX_PKG_RPM, "glibc")->namespace, "cbl-mariner");
    free_blobs(&b);
    vx_inventory_free(inv);
}

static void test_rpm_scan_rootfs(void **state)
{
    struct vx_inventory *inv = vx_inventory_new();
    char *root = mkroot(), *db, *path;
    size_t len;

    (void)state;
    if (!exists(RPM_SAMPLE)) {
        rmroot(root);
        vx_inventory_free(inv);
        skip();
    }
    db = slurp(RPM_SAMPLE, &len);
    put(root, "var/lib/rpm/rpmdb.sqlite", db, len);
    free(db);
    inv->distro_id = vx_xstrdup("mariner"); /* os-release ID; Trivy says cbl-mariner */
    assert_int_equal(scan(root, inv, vx_inv_scan_rpm), 0);
    check_mariner(inv);
    assert_string_equal(pkg_named(inv, VX_PKG_RPM, "glibc")->namespace, "cbl-mariner");
    assert_string_equal(pkg_named(inv, VX_PKG_RPM, "glibc")->location, "var/lib/rpm/rpmdb.sqlite");
    /* Opened immutable: nothing written beside the database. */
    path = vx_xasprintf("%s/var/lib/rpm", root);
    {
        DIR *d = opendir(path);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)) != NULL)
            n += de->d_name[0] != '.';
        closedir(d);
        assert_int_equal(n, 1);
    }
    free(path);
    vx_inventory_free(inv);
    rmroot(root);
}

static void test_rpm_unsupported_and_garbage(void **state)
{
    struct vx_inventory *inv = vx_inventory_new();
    char *root = mkroot();
    static const unsigned char bdb[64] = {[12] = 0x61, [13] = 0x15, [14] = 0x06};

    (void)state;
    /* Berkeley DB: a warning, no packages, no error. */
    put(root, "var/lib/rpm/Packages", bdb, sizeof(bdb));
    assert_int_equal(scan(root, inv, vx_inv_scan_rpm), 0);
    assert_int_equal(inv->n_pkgs, 0);
    assert_true(warned(inv, "unsupported rpmdb format (berkeley db)"));
    vx_inventory_free(inv);
    /* An rpmdb.sqlite that is not SQLite: an error naming it. */
    inv = vx_inventory_new();
    puts_(root, "usr/lib/sysimage/rpm/rpmdb.sqlite", "this is not a database at all, sorry");
    assert_true(scan(root, inv, vx_inv_scan_rpm) < 0);
    vx_inventory_free(inv);
    /* A database whose Packages is a view, and one with no Packages at all. */
    rmroot(root);
    root = mkroot();
    {
        char *path = vx_xasprintf("%s/var/lib/rpm", root), *db;
        struct vx_err *err = NULL;
        sqlite3 *h = NULL;

        assert_int_equal(vx_fs_mkdirs(path, 0755, &err), 0);
        db = vx_xasprintf("%s/rpmdb.sqlite", path);
        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h,
                                      "CREATE TABLE t(x); CREATE VIEW Packages AS SELECT 1 AS "
                                      "hnum, randomblob(16) AS blob",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
        inv = vx_inventory_new();
        assert_int_equal(scan(root, inv, vx_inv_scan_rpm), -VX_E_INVALID);
        assert_int_equal(inv->n_pkgs, 0);
        vx_inventory_free(inv);
        free(db);
        free(path);
    }
    /* Empty root: nothing, silently. */
    rmroot(root);
    root = mkroot();
    inv = vx_inventory_new();
    assert_int_equal(scan(root, inv, vx_inv_scan_rpm), 0);
    assert_int_equal(inv->n_pkgs + inv->n_warnings, 0);
    vx_inventory_free(inv);
    rmroot(root);
}

/* A header built by hand: il entries + data. */
struct hb {
    unsigned char idx[16 * 16], data[512];
    uint32_t il, dl;
};

static void be32put(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void hb_entry(struct hb *h, uint32_t tag, uint32_t type, uint32_t off, uint32_t count)
{
    unsigned char *p = h->idx + 16 * h->il++;

    be32put(p, tag);
    be32put(p + 4, type);
    be32put(p + 8, off);
    be32put(p + 12, count);
}

static uint32_t hb_str(struct hb *h, uint32_t tag, const char *s)
{
    uint32_t off = h->dl;

    memcpy(h->data + h->dl, s, strlen(s) + 1);
    h->dl += (uint32_t)strlen(s) + 1;
    hb_entry(h, tag, 6, off, 1);
    return off;
}

static size_t hb_blob(const struct hb *h, unsigned char *out)
{
    be32put(out, h->il);
    be32put(out + 4, h->dl);
    memcpy(out + 8, h->idx, 16 * h->il);
    memcpy(out + 8 + 16 * h->il, h->data, h->dl);
    return 8 + 16 * h->il + h->dl;
}

/* name, version, release, one dir, two files. */
static void hb_good(struct hb *h)
{
    uint32_t off;

    memset(h, 0, sizeof(*h));
    hb_str(h, 1000, "tiny");
    hb_str(h, 1001, "1.0");
    hb_str(h, 1002, "3.el9");
    hb_str(h, 1022, "aarch64");
    off = h->dl;
    memcpy(h->data + off, "a\0b\0", 4);
    h->dl += 4;
    hb_entry(h, 1117, 8, off, 2);
    off = h->dl;
    memcpy(h->data + off, "/usr/bin/\0", 10);
    h->dl += 10;
    hb_entry(h, 1118, 8, off, 1);
    while (h->dl % 4)
        h->data[h->dl++] = 0;
    off = h->dl;
    memset(h->data + off, 0, 8);
    h->dl += 8;
    hb_entry(h, 1116, 4, off, 2);
}

static int parse_hb(struct vx_inventory *inv, const unsigned char *b, size_t n, char **msg)
{
    struct vx_err *err = NULL;
    int rc = vx_inv_parse_rpm_header(inv, "t", b, n, &err);

    if (rc < 0) {
        assert_non_null(err);
        assert_int_equal(-rc, err->code);
        if (msg)
            *msg = vx_xstrdup(err->msg);
    } else {
        assert_null(err);
    }
    vx_err_free(&err);
    return rc;
}

static void test_rpm_lying_headers(void **state)
{
    struct vx_inventory *inv = vx_inventory_new();
    unsigned char blob[16 * 16 + 512 + 8];
    struct hb h;
    size_t n;
    char *msg = NULL;

    (void)state;
    hb_good(&h);
    n = hb_blob(&h, blob);
    assert_int_equal(parse_hb(inv, blob, n, NULL), 0);
    assert_int_equal(inv->n_pkgs, 1);
    assert_string_equal(inv->pkgs[0].version, "1.0-3.el9");
    assert_int_equal(inv->pkgs[0].n_files, 2);
    assert_string_equal(inv->pkgs[0].files[1], "/usr/bin/b");
    /* The same with the 8-byte magic of a header read from a file. */
    {
        unsigned char m[sizeof(blob) + 8] = {0x8e, 0xad, 0xe8, 0x01};

        memcpy(m + 8, blob, n);
        assert_int_equal(parse_hb(inv, m, n + 8, NULL), 0);
        assert_int_equal(inv->n_pkgs, 2);
    }
    /* Data length larger than the blob. */
    be32put(blob + 4, h.dl + 1);
    assert_int_equal(parse_hb(inv, blob, n, &msg), -VX_E_INVALID);
    assert_non_null(strstr(msg, "but has"));
    free(msg);
    be32put(blob + 4, h.dl);
    /* Index count huge / zero. */
    be32put(blob, 0x7fffffff);
    assert_int_equal(parse_hb(inv, blob, n, NULL), -VX_E_INVALID);
    be32put(blob, 0);
    assert_int_equal(parse_hb(inv, blob, n, NULL), -VX_E_INVALID);
    be32put(blob, h.il);
    /* NAME's offset past the data. */
    be32put(blob + 8 + 8, h.dl);
    assert_int_equal(parse_hb(inv, blob, n, NULL), -VX_E_INVALID);
    be32put(blob + 8 + 8, 0xfffffff0);
    assert_int_equal(parse_hb(inv, blob, n, NULL), -VX_E_INVALID);
    be32put(blob + 8 + 8, 0);
    /* BASENAMES count larger than there are strings (entry 4 is BASENAMES). */
    be32put(blob + 8 + 4 * 16 + 12, 1000);
    assert_int_equal(parse_hb(inv, blob, n, NULL), -VX_E_INVALID);
    be32put(blob + 8 + 4 * 16 + 12, 2);
    /* DIRINDEXES count past the data, and an index past the dirnames. */
    be32put(blob + 8 + 6 * 16 + 12, 0x40000000);
    assert_int_equal(parse_hb(inv, blob, n, NULL), -VX_E_INVALID);
    be32put(blob + 8 + 6 * 16 + 12, 2);
    blob[n - 1] = 7;
    assert_int_equal(parse_hb(inv, blob, n, &msg), -VX_E_INVALID);
    assert_non_null(strstr(msg, "dir index 7"));
    free(msg);
    blob[n - 1] = 0;
    /* A string without its NUL at the end of the data. */
    {
        struct hb s;
        unsigned char b2[sizeof(blob)];
        size_t n2;

        memset(&s, 0, sizeof(s));
        hb_str(&s, 1001, "1");
        hb_str(&s, 1000, "x");
        n2 = hb_blob(&s, b2);
        assert_int_equal(parse_hb(inv, b2, n2 - 1, NULL), -VX_E_INVALID); /* short by one */
        be32put(b2 + 4, s.dl - 1);
        assert_int_equal(parse_hb(inv, b2, n2 - 1, NULL), -VX_E_INVALID); /* no NUL */
    }
    assert_int_equal(inv->n_pkgs, 2);
    /* Every truncation of the good header: an error, never a read past the end (ASan). */
    for (size_t cut = 0; cut < n; cut++) {
        unsigned char *copy = vx_xmalloc(cut ? cut : 1);

        memcpy(copy, blob, cut);
        assert_true(parse_hb(inv, copy, cut, NULL) < 0);
        free(copy);
    }
    vx_inventory_free(inv);
}

static void test_rpm_random_damage(void **state)
{
    struct vx_inventory *inv = vx_inventory_new();
    struct blobs b;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int ok = 0, bad = 0;

    (void)state;
    if (!exists(RPM_SAMPLE)) {
        vx_inventory_free(inv);
        skip();
    }
    read_blobs(&b);
    /* 2000 damaged copies of real headers (1-8 random bytes overwritten, sometimes cut):
     * accepted or refused, never a crash or an out-of-bounds read (ASan). */
    for (int round = 0; round < 2000; round++) {
        size_t i = (size_t)(round % (int)b.n), n = b.len[i];
        unsigned char *copy = vx_xmalloc(n);

        memcpy(copy, b.data[i], n);
        for (int k = 0; k < 1 + round % 8; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* Mostly in the counts and the index, where lies hurt. */
            size_t at = (x >> 8) % (k % 2 ? n : (n < 400 ? n : 400));

            copy[at] = (unsigned char)x;
        }
        if (round % 5 == 0)
            n = (size_t)(x % n);
        if (parse_hb(inv, copy, n, NULL) == 0)
            ok++;
        else
            bad++;
        free(copy);
        if (inv->n_pkgs > 500) {
            vx_inventory_free(inv);
            inv = vx_inventory_new();
        }
    }
    print_message("rpm damage: %d accepted, %d refused\n", ok, bad);
    assert_true(bad > 0);
    free_blobs(&b);
    vx_inventory_free(inv);
}

/* ---- python ----------------------------------------------------------------------------- */

static void test_python_record_sample(void **state)
{
    const char *path = VX_SAMPLES_DIR "/pkgdb/python/syft-nested-dist-info_RECORD";
    struct vx_inventory *inv;
    struct vx_pkg *p;
    struct vx_err *err = NULL;
    char *data;
    size_t len;

    (void)state;
    if (!exists(path))
        skip();
    data = slurp(path, &len);
    inv = vx_inventory_new();
    p = vx_inventory_add(inv, VX_PKG_PYPI, "Pygments", "2.6.1", NULL, NULL);
    assert_int_equal(
        vx_inv_parse_python_record(inv, p, "/usr/lib/python3.8/site-packages", data, len, &err), 0);
    p = &inv->pkgs[0];
    /* 7 lines, 7 paths; the script climbs three levels to /usr/bin. */
    assert_int_equal(p->n_files, 7);
    assert_true(pkg_has(p, "/usr/bin/pygmentize"));
    assert_true(pkg_has(p, "/usr/lib/python3.8/site-packages/pygments/util.py"));
    assert_true(pkg_has(
        p, "/usr/lib/python3.8/site-packages/pygments/__pycache__/__init__.cpython-38.pyc"));
    assert_true(pkg_has(p, "/usr/lib/python3.8/site-packages/Pygments-2.6.1.dist-info/RECORD"));
    assert_int_equal(inv->n_warnings, 0);
    vx_inventory_free(inv);
    /* A site dir two levels deep: the script would leave the rootfs and is skipped. */
    inv = vx_inventory_new();
    p = vx_inventory_add(inv, VX_PKG_PYPI, "Pygments", "2.6.1", NULL, NULL);
    assert_int_equal(vx_inv_parse_python_record(inv, p, "/a/b", data, len, &err), 0);
    assert_int_equal(inv->pkgs[0].n_files, 6);
    assert_true(warned(inv, "leaves the rootfs"));
    vx_inventory_free(inv);
    free(data);
}

static void test_python_record_malformed(void **state)
{
    static const char conflict[] = "foo/__init__.py,sha256=x,1\n"
                                   "<<<<<<< HEAD\n"
                                   "foo/a.py,sha256=y,2\n"
                                   "=======\n"
                                   "foo/b.py,sha256=z,3\n"
                                   ">>>>>>> branch\n"
                                   "\"foo/with,comma.py\",,\n"
                                   "\"foo/unterminated.py,,\n"
                                   "\"\",,\n"
                                   "\r\n"
                                   "foo/crlf.py,,\r\n"
                                   "../../../../../../../etc/passwd,,\n"
                                   "/abs/path.py,,";
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_pkg *p = vx_inventory_add(inv, VX_PKG_PYPI, "foo", "1", NULL, NULL);
    struct vx_err *err = NULL;
    char garbage[4096];

    (void)state;
    assert_int_equal(vx_inv_parse_python_record(inv, p, "/usr/lib/python3/dist-packages", conflict,
                                                sizeof(conflict) - 1, &err),
                     0);
    p = &inv->pkgs[0];
    assert_true(warned(inv, "merge conflict markers"));
    assert_true(warned(inv, "malformed path"));
    assert_true(warned(inv, "leaves the rootfs"));
    assert_int_equal(p->n_files, 6);
    assert_true(pkg_has(p, "/usr/lib/python3/dist-packages/foo/a.py"));
    assert_true(pkg_has(p, "/usr/lib/python3/dist-packages/foo/with,comma.py"));
    assert_true(pkg_has(p, "/usr/lib/python3/dist-packages/foo/crlf.py"));
    assert_true(pkg_has(p, "/abs/path.py"));
    /* Binary garbage (NULs included): whatever lines come out, no crash. */
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)((i * 7919u) ^ (i >> 3));
    assert_int_equal(vx_inv_parse_python_record(inv, p, "/x", garbage, sizeof(garbage), &err), 0);
    vx_inventory_free(inv);
}

static void test_python_rootfs(void **state)
{
    const char *flask = VX_SAMPLES_DIR "/pkgdb/python/trivy-Flask-2.0.0.dist-info_METADATA";
    char *root = mkroot();
    struct vx_inventory *inv = vx_inventory_new();
    const char *sp = "usr/lib/python3.11/site-packages";
    char rel[256];
    struct vx_pkg *p;

    (void)state;
    /* foo: RECORD lists two .py, a script and itself; bar.py's pyc exists in two flavours,
     * __init__'s is listed already, baz.py is not foo's so its pyc is not either. */
    snprintf(rel, sizeof(rel), "%s/foo-1.0.dist-info/METADATA", sp);
    puts_(root, rel, "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n\nName: not-this\n");
    snprintf(rel, sizeof(rel), "%s/foo-1.0.dist-info/RECORD", sp);
    puts_(root, rel,
          "foo/__init__.py,sha256=a,1\nfoo/bar.py,sha256=b,2\n"
          "foo/__pycache__/__init__.cpython-311.pyc,,\n../../../bin/foo,sha256=c,3\n"
          "foo-1.0.dist-info/RECORD,,\n");
    snprintf(rel, sizeof(rel), "%s/foo/__pycache__/__init__.cpython-311.pyc", sp);
    puts_(root, rel, "pyc");
    snprintf(rel, sizeof(rel), "%s/foo/__pycache__/bar.cpython-311.pyc", sp);
    puts_(root, rel, "pyc");
    snprintf(rel, sizeof(rel), "%s/foo/__pycache__/bar.cpython-311.opt-1.pyc", sp);
    puts_(root, rel, "pyc");
    snprintf(rel, sizeof(rel), "%s/foo/__pycache__/baz.cpython-311.pyc", sp);
    puts_(root, rel, "pyc");
    /* The Flask sample's METADATA in a dist-info without RECORD. */
    if (exists(flask)) {
        size_t len;
        char *m = slurp(flask, &len);

        snprintf(rel, sizeof(rel), "%s/Flask-2.0.0.dist-info/METADATA", sp);
        put(root, rel, m, len);
        free(m);
    }
    /* An egg-info dir and an egg-info file in dist-packages. */
    puts_(root, "usr/local/lib/python3.11/dist-packages/old-2.0.egg-info/PKG-INFO",
          "Metadata-Version: 1.0\nName: old\nVersion: 2.0\n");
    puts_(root, "usr/local/lib/python3.11/dist-packages/old-2.0.egg-info/installed-files.txt",
          "../old/__init__.py\n../old/core.py\nPKG-INFO\n");
    puts_(root, "usr/local/lib/python3.11/dist-packages/single-0.1.egg-info",
          "Name: single\nVersion: 0.1\n");
    /* A venv under opt, with a conflicted RECORD, and a dist-info with no Version. */
    puts_(root, "opt/app/venv/lib/python3.11/site-packages/req-2.31.0.dist-info/METADATA",
          "Name: requests\nVersion: 2.31.0\n");
    puts_(root, "opt/app/venv/lib/python3.11/site-packages/req-2.31.0.dist-info/RECORD",
          "requests/api.py,,\n<<<<<<< ours\nrequests/x.py,,\n>>>>>>> theirs\n");
    puts_(root, "opt/app/venv/lib/python3.11/site-packages/nover-1.dist-info/METADATA",
          "Name: nover\n");
    /* Debian style: an egg-info with no installed-files.txt; top_level.txt names the
     * package dir and an extension module. */
    puts_(root, "usr/lib/python3/dist-packages/Jinja2-3.1.2.egg-info/PKG-INFO",
          "Name: Jinja2\nVersion: 3.1.2\n");
    puts_(root, "usr/lib/python3/dist-packages/Jinja2-3.1.2.egg-info/top_level.txt",
          "jinja2\n_jinja_ext\n../../etc\n");
    puts_(root, "usr/lib/python3/dist-packages/jinja2/__init__.py", "");
    puts_(root, "usr/lib/python3/dist-packages/jinja2/ext.py", "");
    puts_(root, "usr/lib/python3/dist-packages/jinja2/__pycache__/__init__.cpython-311.pyc", "");
    puts_(root, "usr/lib/python3/dist-packages/_jinja_ext.cpython-311-x86_64-linux-gnu.so", "");
    puts_(root, "usr/lib/python3/dist-packages/_jinja_extra.py", ""); /* another module */
    assert_int_equal(scan(root, inv, vx_inv_scan_python), 0);

    assert_int_equal(count_type(inv, VX_PKG_PYPI), exists(flask) ? 6 : 5);
    p = pkg_named(inv, VX_PKG_PYPI, "Jinja2");
    assert_int_equal(p->n_files, 6);
    assert_true(pkg_has(p, "/usr/lib/python3/dist-packages/Jinja2-3.1.2.egg-info/top_level.txt"));
    assert_true(
        pkg_has(p, "/usr/lib/python3/dist-packages/jinja2/__pycache__/__init__.cpython-311.pyc"));
    assert_true(
        pkg_has(p, "/usr/lib/python3/dist-packages/_jinja_ext.cpython-311-x86_64-linux-gnu.so"));
    assert_false(warned(inv, "Jinja2"));
    p = pkg_named(inv, VX_PKG_PYPI, "foo");
    assert_string_equal(p->version, "1.0");
    assert_int_equal(p->n_files, 7);
    assert_true(pkg_has(p, "/usr/bin/foo"));
    assert_true(
        pkg_has(p, "/usr/lib/python3.11/site-packages/foo/__pycache__/bar.cpython-311.pyc"));
    assert_true(
        pkg_has(p, "/usr/lib/python3.11/site-packages/foo/__pycache__/bar.cpython-311.opt-1.pyc"));
    assert_false(
        pkg_has(p, "/usr/lib/python3.11/site-packages/foo/__pycache__/baz.cpython-311.pyc"));
    assert_string_equal(p->location, "usr/lib/python3.11/site-packages/foo-1.0.dist-info");
    if (exists(flask)) {
        p = pkg_named(inv, VX_PKG_PYPI, "Flask");
        assert_string_equal(p->version, "2.0.0");
        assert_int_equal(p->n_files, 1); /* only its METADATA: no RECORD */
        assert_true(warned(inv, "Flask-2.0.0.dist-info: no file list and no top_level.txt"));
    }
    p = pkg_named(inv, VX_PKG_PYPI, "old");
    assert_int_equal(p->n_files, 3); /* PKG-INFO is listed, so not added a second time */
    assert_true(pkg_has(p, "/usr/local/lib/python3.11/dist-packages/old/core.py"));
    assert_true(pkg_has(p, "/usr/local/lib/python3.11/dist-packages/old-2.0.egg-info/PKG-INFO"));
    p = pkg_named(inv, VX_PKG_PYPI, "single");
    assert_int_equal(p->n_files, 1);
    p = pkg_named(inv, VX_PKG_PYPI, "requests");
    assert_int_equal(p->n_files, 2);
    assert_true(warned(inv, "merge conflict markers"));
    assert_true(warned(inv, "nover-1.dist-info: no Name or Version"));
    vx_inventory_free(inv);
    rmroot(root);
}

/* ---- npm -------------------------------------------------------------------------------- */

static void test_npm_rootfs(void **state)
{
    const char *express = VX_SAMPLES_DIR "/pkgdb/npm/trivy-happy_node_modules_express_package.json";
    const char *lock = VX_SAMPLES_DIR "/pkgdb/npm/syft-npm-lock_package-lock.json";
    char *root = mkroot();
    struct vx_inventory *inv = vx_inventory_new();
    static const unsigned char garbage[] = {0x7b, 0x00, 0xff, 0xfe, 0x22, 0x6e, 0x61, 0x0a};
    struct vx_pkg *p;
    size_t n_expected = 5;

    (void)state;
    puts_(root, "app/node_modules/a/package.json", "{\"name\":\"a\",\"version\":\"1.0.0\"}");
    puts_(root, "app/node_modules/a/index.js", "x");
    puts_(root, "app/node_modules/a/lib/deep/x.js", "x");
    puts_(root, "app/node_modules/a/node_modules/b/package.json",
          "{\"name\":\"b\",\"version\":\"2.0.0\"}");
    puts_(root, "app/node_modules/a/node_modules/b/b.js", "x");
    puts_(root, "app/node_modules/b/package.json", "{\"name\":\"b\",\"version\":\"3.1.0\"}");
    puts_(root, "app/node_modules/@scope/c/package.json",
          "{\"name\":\"@scope/c\",\"version\":\"0.0.1-beta.1\"}");
    puts_(root, "app/node_modules/@scope/c/dist/c.min.js", "x");
    /* No "name": the directory names it. */
    puts_(root, "usr/lib/node_modules/@types/node/package.json", "{\"version\":\"20.1.0\"}");
    puts_(root, "app/node_modules/.bin/a", "#!/bin/sh\n");
    puts_(root, "app/node_modules/.package-lock.json", "{}");
    put(root, "app/node_modules/broken/package.json", garbage, sizeof(garbage));
    puts_(root, "app/node_modules/noversion/package.json", "{\"name\":\"noversion\"}");
    puts_(root, "app/node_modules/array/package.json", "[1,2]");
    puts_(root, "app/node_modules/notpkg/readme.txt", "no package.json here");
    if (exists(express)) {
        size_t len;
        char *d = slurp(express, &len);

        put(root, "srv/node_modules/express/package.json", d, len);
        free(d);
        n_expected++;
    }
    if (exists(lock)) {
        size_t len;
        char *d = slurp(lock, &len);

        /* A lock file in a package's place is still a package.json-shaped object. */
        put(root, "srv/node_modules/npm-lock/package.json", d, len);
        free(d);
        n_expected++;
    }
    assert_int_equal(scan(root, inv, vx_inv_scan_npm), 0);
    assert_int_equal(count_type(inv, VX_PKG_NPM), n_expected);
    p = pkg_named(inv, VX_PKG_NPM, "a");
    assert_int_equal(p->n_files, 3); /* package.json, index.js, lib/deep/x.js; not b's */
    assert_true(pkg_has(p, "/app/node_modules/a/lib/deep/x.js"));
    assert_false(pkg_has(p, "/app/node_modules/a/node_modules/b/b.js"));
    /* Two versions of b side by side, each owning its own copy. */
    for (size_t i = 0, seen = 0; i < inv->n_pkgs; i++) {
        p = &inv->pkgs[i];
        if (strcmp(p->name, "b") != 0)
            continue;
        seen++;
        if (strcmp(p->version, "2.0.0") == 0) {
            assert_int_equal(p->n_files, 2);
            assert_true(pkg_has(p, "/app/node_modules/a/node_modules/b/b.js"));
        } else {
            assert_string_equal(p->version, "3.1.0");
            assert_int_equal(p->n_files, 1);
        }
        if (i == inv->n_pkgs - 1)
            assert_int_equal(seen, 2);
    }
    p = pkg_named(inv, VX_PKG_NPM, "@scope/c");
    assert_string_equal(p->namespace, "@scope");
    assert_int_equal(p->n_files, 2);
    p = pkg_named(inv, VX_PKG_NPM, "@types/node");
    assert_string_equal(p->namespace, "@types");
    assert_string_equal(p->version, "20.1.0");
    if (exists(express)) {
        p = pkg_named(inv, VX_PKG_NPM, "express");
        assert_string_equal(p->version, "4.16.4");
        assert_null(p->namespace);
    }
    if (exists(lock))
        assert_string_equal(pkg_named(inv, VX_PKG_NPM, "npm-lock")->version, "1.0.0");
    assert_true(warned(inv, "broken/package.json: not a JSON object"));
    assert_true(warned(inv, "array/package.json: not a JSON object"));
    assert_true(warned(inv, "noversion/package.json: no \"version\""));
    vx_inventory_free(inv);
    rmroot(root);
}

/* ---- go --------------------------------------------------------------------------------- */

static void wr_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static size_t put_uvarint(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/* A minimal ELF64 little-endian file: one PT_LOAD mapping the whole file at 0x400000, and a
 * .go.buildinfo section holding gover and modinfo (wrapped in 16-byte sentinels): inline
 * when flags & 2 (Go >= 1.18), else as pointers to string headers placed after the header
 * (Go < 1.18). Caller frees. */
static unsigned char *go_elf(const char *gover, const char *modinfo, unsigned flags, size_t *len)
{
    static const char shstr[] = "\0.go.buildinfo\0.shstrtab";
    const uint64_t base = 0x400000;
    size_t gl = strlen(gover), ml = strlen(modinfo) + 32, sec_len, off = 128, str_off, sh_off;
    size_t n, total;
    unsigned char *b = vx_xcalloc(1, 4096 + ml);
    unsigned char *s = b + off, *mi;

    memcpy(s, "\xff Go buildinf:", 14);
    s[14] = 8;
    s[15] = (unsigned char)flags;
    n = 32;
    if (flags & 2) {
        n += put_uvarint(s + n, gl);
        memcpy(s + n, gover, gl);
        n += gl;
        n += put_uvarint(s + n, ml);
        mi = s + n;
        sec_len = n + ml;
    } else {
        /* header -> {ptr,len} at +32 and +48 -> bytes at +64 and after the version */
        wr_le(s + 16, base + off + 32, 8);
        wr_le(s + 24, base + off + 48, 8);
        wr_le(s + 32, base + off + 64, 8);
        wr_le(s + 40, gl, 8);
        wr_le(s + 48, base + off + 64 + gl, 8);
        wr_le(s + 56, ml, 8);
        memcpy(s + 64, gover, gl);
        mi = s + 64 + gl;
        sec_len = 64 + gl + ml;
    }
    memset(mi, 0x30, 16); /* sentinel bytes (content irrelevant) */
    memcpy(mi + 16, modinfo, strlen(modinfo));
    memset(mi + 16 + strlen(modinfo), 0x31, 16);
    str_off = (off + sec_len + 15) & ~(size_t)15;
    memcpy(b + str_off, shstr, sizeof(shstr));
    sh_off = (str_off + sizeof(shstr) + 7) & ~(size_t)7;
    total = sh_off + 3 * 64;
    memcpy(b,
           "\x7f"
           "ELF\x02\x01\x01",
           7);
    wr_le(b + 16, 2, 2);  /* ET_EXEC */
    wr_le(b + 18, 62, 2); /* x86-64 */
    wr_le(b + 20, 1, 4);
    wr_le(b + 32, 64, 8); /* e_phoff */
    wr_le(b + 40, sh_off, 8);
    wr_le(b + 52, 64, 2);
    wr_le(b + 54, 56, 2); /* e_phentsize, e_phnum */
    wr_le(b + 56, 1, 2);
    wr_le(b + 58, 64, 2);
    wr_le(b + 60, 3, 2);
    wr_le(b + 62, 2, 2);
    /* PT_LOAD: offset 0, vaddr base, the whole file, read+write. */
    wr_le(b + 64, 1, 4);
    wr_le(b + 68, 6, 4);
    wr_le(b + 64 + 16, base, 8);
    wr_le(b + 64 + 24, base, 8);
    wr_le(b + 64 + 32, total, 8);
    wr_le(b + 64 + 40, total, 8);
    /* [1] .go.buildinfo PROGBITS (its 32-byte header), [2] .shstrtab; [0] stays null. */
    wr_le(b + sh_off + 64 + 0, 1, 4);
    wr_le(b + sh_off + 64 + 4, 1, 4);
    wr_le(b + sh_off + 64 + 24, off, 8);
    wr_le(b + sh_off + 64 + 32, flags & 2 ? sec_len : 32, 8);
    wr_le(b + sh_off + 128 + 0, 15, 4);
    wr_le(b + sh_off + 128 + 4, 3, 4);
    wr_le(b + sh_off + 128 + 24, str_off, 8);
    wr_le(b + sh_off + 128 + 32, sizeof(shstr), 8);
    *len = total;
    return b;
}

static const char go_modinfo[] = "path\tgithub.com/acme/tool/cmd/tool\n"
                                 "mod\tgithub.com/acme/tool\tv0.3.7\th1:abc=\n"
                                 "dep\tgolang.org/x/text\tv0.3.7\th1:def=\n"
                                 "dep\tgithub.com/old/lib\tv1.0.0\th1:x=\n"
                                 "=>\tgithub.com/new/lib\tv1.2.0\th1:y=\n"
                                 "dep\tgithub.com/local/thing\tv0.1.0\n"
                                 "=>\t../thing\t\n"
                                 "dep\tgopkg.in/yaml.v3\tv3.0.1\th1:z=\n"
                                 "build\t-compiler=gc\n"
                                 "build\tGOOS=linux\n";

static void test_go_synthetic(void **state)
{
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_err *err = NULL;
    size_t len;
    unsigned char *elf = go_elf("go1.21.5 X:loopvar", go_modinfo, 2, &len);
    struct vx_pkg *p;

    (void)state;
    assert_int_equal(vx_inv_parse_go_elf(inv, "/usr/local/bin/tool", elf, len, &err), 0);
    assert_int_equal(inv->n_pkgs, 6);
    p = pkg_named(inv, VX_PKG_GOLANG, "github.com/acme/tool");
    assert_string_equal(p->version, "v0.3.7");
    assert_string_equal(p->namespace, "github.com/acme");
    assert_int_equal(p->n_files, 1);
    assert_string_equal(p->files[0], "/usr/local/bin/tool");
    assert_string_equal(pkg_named(inv, VX_PKG_GOLANG, "golang.org/x/text")->version, "v0.3.7");
    /* Replacement by a module: the replacement is what is compiled in. */
    assert_string_equal(pkg_named(inv, VX_PKG_GOLANG, "github.com/new/lib")->version, "v1.2.0");
    /* Replacement by a directory: the module keeps its name, version unknown. */
    assert_string_equal(pkg_named(inv, VX_PKG_GOLANG, "github.com/local/thing")->version,
                        "(devel)");
    assert_string_equal(pkg_named(inv, VX_PKG_GOLANG, "gopkg.in/yaml.v3")->namespace, "gopkg.in");
    p = pkg_named(inv, VX_PKG_GOLANG, "stdlib");
    assert_string_equal(p->version, "v1.21.5");
    assert_null(p->namespace);
    /* Not ELF, ELF without build info: nothing, no warning. */
    assert_int_equal(vx_inv_parse_go_elf(inv, "/x", "#!/bin/sh\n", 10, &err), 0);
    memset(elf + 128, 0, 14);
    assert_int_equal(vx_inv_parse_go_elf(inv, "/x", elf, len, &err), 0);
    assert_int_equal(inv->n_pkgs, 6);
    assert_int_equal(inv->n_warnings, 0);
    free(elf);
    /* The pointer format of Go < 1.18 (resolved through the program headers). */
    vx_inventory_free(inv);
    inv = vx_inventory_new();
    elf = go_elf("go1.16.15", go_modinfo, 0, &len);
    assert_int_equal(vx_inv_parse_go_elf(inv, "/old", elf, len, &err), 0);
    assert_int_equal(inv->n_pkgs, 6);
    assert_string_equal(pkg_named(inv, VX_PKG_GOLANG, "stdlib")->version, "v1.16.15");
    assert_string_equal(pkg_named(inv, VX_PKG_GOLANG, "github.com/new/lib")->version, "v1.2.0");
    /* ... with a pointer outside every segment: a warning. */
    wr_le(elf + 128 + 16, 0x10, 8);
    assert_int_equal(vx_inv_parse_go_elf(inv, "/old2", elf, len, &err), 0);
    assert_true(warned(inv, "/old2: go < 1.18 build info with unresolvable pointers"));
    assert_int_equal(inv->n_pkgs, 6);
    free(elf);
    elf = go_elf("go1.16.15", go_modinfo, 0, &len);
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *copy = vx_xmalloc(cut ? cut : 1);

        memcpy(copy, elf, cut);
        assert_int_equal(vx_inv_parse_go_elf(inv, "/t", copy, cut, &err), 0);
        free(copy);
    }
    free(elf);
    /* Every truncation, and the length varint made to lie: no crash. */
    elf = go_elf("go1.21.5", go_modinfo, 2, &len);
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *copy = vx_xmalloc(cut ? cut : 1);

        memcpy(copy, elf, cut);
        assert_int_equal(vx_inv_parse_go_elf(inv, "/t", copy, cut, &err), 0);
        free(copy);
    }
    elf[128 + 32 + 1 + 8] = 0xff; /* modinfo length: huge */
    elf[128 + 32 + 1 + 8 + 1] = 0x7f;
    assert_int_equal(vx_inv_parse_go_elf(inv, "/lie", elf, len, &err), 0);
    assert_true(warned(inv, "/lie: go build info is truncated"));
    free(elf);
    assert_null(err);
    vx_inventory_free(inv);
}

static void test_go_scan(void **state)
{
    char *root = mkroot();
    struct vx_inventory *inv = vx_inventory_new();
    size_t len;
    unsigned char *elf = go_elf("go1.22.1", go_modinfo, 2, &len);
    char *path;
    struct vx_pkg *p;

    (void)state;
    put(root, "usr/bin/tool", elf, len);
    put(root, "opt/x/bin/tool2", elf, len);
    put(root, "usr/bin/notexec", elf, len);
    put(root, "usr/share/doc/tool", elf, len);
    put(root, "usr/bin/short", elf, 40); /* a truncated ELF */
    for (const char *const *f = (const char *const[]){"usr/bin/tool", "opt/x/bin/tool2",
                                                      "usr/share/doc/tool", "usr/bin/short", NULL};
         *f; f++) {
        path = vx_xasprintf("%s/%s", root, *f);
        assert_int_equal(chmod(path, 0755), 0);
        free(path);
    }
    assert_int_equal(scan(root, inv, vx_inv_scan_go), 0);
    /* Two binaries with the same modules: one package each, owning both. */
    assert_int_equal(inv->n_pkgs, 6);
    p = pkg_named(inv, VX_PKG_GOLANG, "golang.org/x/text");
    assert_int_equal(p->n_files, 2);
    assert_true(pkg_has(p, "/usr/bin/tool"));
    assert_true(pkg_has(p, "/opt/x/bin/tool2"));
    assert_string_equal(pkg_named(inv, VX_PKG_GOLANG, "stdlib")->version, "v1.22.1");
    free(elf);
    vx_inventory_free(inv);
    /* Without a section table, from a file: found at the start of the writable segment. */
    inv = vx_inventory_new();
    elf = go_elf("go1.22.1", go_modinfo, 2, &len);
    wr_le(elf + 40, 0, 8); /* e_shoff */
    wr_le(elf + 60, 0, 2); /* e_shnum */
    put(root, "opt/x/bin/tool2", elf, len);
    assert_int_equal(scan(root, inv, vx_inv_scan_go), 0);
    p = pkg_named(inv, VX_PKG_GOLANG, "golang.org/x/text");
    assert_int_equal(p->n_files, 2);
    assert_true(pkg_has(p, "/opt/x/bin/tool2"));
    free(elf);
    vx_inventory_free(inv);
    rmroot(root);
}

static void test_go_real_binary(void **state)
{
#ifdef VX_GO_FIXTURE
    char *root, *bytes, *dst;
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_err *err = NULL;
    size_t len;
    struct vx_pkg *p;

    (void)state;
    if (!exists(VX_GO_FIXTURE)) {
        vx_inventory_free(inv);
        skip();
    }
    bytes = slurp(VX_GO_FIXTURE, &len);
    assert_int_equal(vx_inv_parse_go_elf(inv, "/app", bytes, len, &err), 0);
    assert_int_equal(inv->n_pkgs, 3);
    assert_string_equal(pkg_named(inv, VX_PKG_GOLANG, "example.com/app")->version, "(devel)");
    assert_string_equal(pkg_named(inv, VX_PKG_GOLANG, "example.com/dep")->version, "v1.2.3");
    assert_true(strncmp(pkg_named(inv, VX_PKG_GOLANG, "stdlib")->version, "v1.", 3) == 0);
    vx_inventory_free(inv);
    /* Through the scanner (pread of the section only). */
    root = mkroot();
    inv = vx_inventory_new();
    put(root, "usr/local/bin/app", bytes, len);
    dst = vx_xasprintf("%s/usr/local/bin/app", root);
    assert_int_equal(chmod(dst, 0755), 0);
    assert_int_equal(scan(root, inv, vx_inv_scan_go), 0);
    assert_int_equal(inv->n_pkgs, 3);
    p = pkg_named(inv, VX_PKG_GOLANG, "example.com/dep");
    assert_string_equal(p->files[0], "/usr/local/bin/app");
    free(dst);
    free(bytes);
    vx_inventory_free(inv);
    rmroot(root);
#else
    (void)state;
    skip(); /* no go tool at configure time */
#endif
}

/* ---- java ------------------------------------------------------------------------------- */

struct zent {
    const char *name;
    const void *data;
    size_t len;
};

/* A zip (stored) in memory. Caller frees. */
static unsigned char *zip(const struct zent *e, size_t n, size_t *len)
{
    struct archive *a = archive_write_new();
    size_t cap = 1 << 20, used = 0;
    unsigned char *buf = vx_xmalloc(cap);

    for (size_t i = 0; i < n; i++)
        cap += e[i].len + 512;
    buf = vx_xrealloc(buf, cap);
    assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();

        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, (la_int64_t)e[i].len);
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, e[i].data, e[i].len), (la_ssize_t)e[i].len);
        archive_entry_free(ae);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    *len = used;
    return buf;
}

#define ZS(n, s)                                                                                   \
    {                                                                                              \
        (n), (s), sizeof(s) - 1                                                                    \
    }

static void test_java_rootfs(void **state)
{
    static const char inner_pom[] = "#Generated by Maven\ngroupId=org.apache.commons\n"
                                    "artifactId=commons-lang3\nversion=3.12.0\n";
    static const char app_pom[] = "groupId=com.acme\r\nartifactId=shop\r\nversion=1.4.2\r\n";
    static const char fat1[] = "groupId=com.fasterxml.jackson.core\nartifactId=jackson-databind\n"
                               "version=2.15.2\n";
    static const char fat2[] = "version = 2.15.2\nartifactId = jackson-core\n"
                               "groupId = com.fasterxml.jackson.core\n";
    static const char manifest[] = "Manifest-Version: 1.0\r\nImplementation-Title: guava\r\n"
                                   "Implementation-Version: 32.1.2-jre\r\n";
    static const char titled[] = "Manifest-Version: 1.0\nImplementation-Title: ASM, a very "
                                 "small framework\nImplementation-Version: 9.7.1\n"
                                 "Bundle-SymbolicName: org.objectweb.asm;singleton:=true\n"
                                 "Bundle-Version: 9.7.1.0\n";
    char *root = mkroot();
    struct vx_inventory *inv = vx_inventory_new();
    struct zent inner_e[] = {
        ZS("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n"),
        ZS("META-INF/maven/org.apache.commons/commons-lang3/pom.properties", inner_pom),
        ZS("org/apache/commons/lang3/StringUtils.class", "\xca\xfe")};
    struct zent bare_e[] = {ZS("x/Y.class", "\xca\xfe")};
    unsigned char *inner, *bare, *war, *fat, *man, *asm_;
    size_t inner_len, bare_len, war_len, fat_len, man_len, asm_len;
    struct vx_pkg *p;

    (void)state;
    inner = zip(inner_e, 3, &inner_len);
    bare = zip(bare_e, 1, &bare_len);
    {
        struct zent war_e[] = {ZS("META-INF/maven/com.acme/shop/pom.properties", app_pom),
                               {"WEB-INF/lib/commons-lang3-3.12.0.jar", inner, inner_len},
                               {"WEB-INF/lib/tiny-util-0.9.1.jar", bare, bare_len},
                               ZS("WEB-INF/lib/broken.jar", "PK\x03\x04 not really"),
                               ZS("index.html", "<html>")};

        war = zip(war_e, 5, &war_len);
    }
    {
        struct zent fat_e[] = {
            ZS("META-INF/maven/com.fasterxml.jackson.core/jackson-databind/pom.properties", fat1),
            ZS("META-INF/maven/com.fasterxml.jackson.core/jackson-core/pom.properties", fat2),
            ZS("META-INF/maven/bad/pom.properties", "groupId=x\n"),  /* wrong depth: ignored */
            ZS("META-INF/maven/g/a/pom.properties", "groupId=g\n")}; /* no version: warned */

        fat = zip(fat_e, 4, &fat_len);
    }
    {
        struct zent man_e[] = {ZS("META-INF/MANIFEST.MF", manifest)};

        man = zip(man_e, 1, &man_len);
    }
    {
        struct zent asm_e[] = {ZS("META-INF/MANIFEST.MF", titled)};

        asm_ = zip(asm_e, 1, &asm_len);
    }
    put(root, "app/lib/asm-9.7.1.jar", asm_, asm_len); /* file name wins */
    put(root, "app/lib/objectweb.jar", asm_, asm_len); /* title has spaces: bundle name */
    put(root, "opt/tomcat/webapps/shop.war", war, war_len);
    put(root, "app/lib/jackson-bundle.jar", fat, fat_len);
    put(root, "app/lib/guava.jar", man, man_len);
    put(root, "app/lib/also-lang3.jar", inner, inner_len); /* the same artifact again */
    puts_(root, "app/lib/garbage.jar", "\x00\x01 definitely not a zip");
    assert_int_equal(scan(root, inv, vx_inv_scan_java), 0);

    /* shop, commons-lang3, tiny-util (guessed), jackson-databind, jackson-core, guava, asm,
     * org.objectweb.asm. */
    assert_int_equal(count_type(inv, VX_PKG_MAVEN), 8);
    assert_string_equal(pkg_named(inv, VX_PKG_MAVEN, "asm")->version, "9.7.1");
    assert_string_equal(pkg_named(inv, VX_PKG_MAVEN, "org.objectweb.asm")->version, "9.7.1.0");
    p = pkg_named(inv, VX_PKG_MAVEN, "shop");
    assert_string_equal(p->namespace, "com.acme");
    assert_string_equal(p->version, "1.4.2");
    assert_string_equal(p->files[0], "/opt/tomcat/webapps/shop.war");
    p = pkg_named(inv, VX_PKG_MAVEN, "commons-lang3");
    assert_string_equal(p->namespace, "org.apache.commons");
    assert_string_equal(p->version, "3.12.0");
    assert_int_equal(p->n_files, 2); /* inside the war, and as a jar of its own */
    assert_true(pkg_has(p, "/opt/tomcat/webapps/shop.war"));
    assert_true(pkg_has(p, "/app/lib/also-lang3.jar"));
    p = pkg_named(inv, VX_PKG_MAVEN, "tiny-util");
    assert_string_equal(p->version, "0.9.1");
    assert_null(p->namespace);
    assert_true(warned(inv, "tiny-util-0.9.1.jar: no pom.properties; maven identity"));
    assert_string_equal(pkg_named(inv, VX_PKG_MAVEN, "jackson-core")->version, "2.15.2");
    assert_string_equal(pkg_named(inv, VX_PKG_MAVEN, "jackson-core")->namespace,
                        "com.fasterxml.jackson.core");
    assert_string_equal(pkg_named(inv, VX_PKG_MAVEN, "guava")->version, "32.1.2-jre");
    assert_true(warned(inv, "guessed from its MANIFEST.MF"));
    assert_true(warned(inv, "pom.properties without artifactId or version"));
    assert_true(warned(inv, "app/lib/garbage.jar"));
    free(inner);
    free(bare);
    free(war);
    free(fat);
    free(man);
    free(asm_);
    vx_inventory_free(inv);
    rmroot(root);
}

static void test_skip_binaries(void **state)
{
    char *root = mkroot();
    struct vx_inventory *inv = vx_inventory_new();
    struct vx_inventory_opts opts = {.skip_binaries = true};
    struct vx_inv_scan sc = {.rootfs = root, .opts = &opts, .inv = inv};
    struct vx_err *err = NULL;

    (void)state;
    puts_(root, "a.jar", "x");
    sc.rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(vx_inv_scan_java(&sc, &err), 0);
    assert_int_equal(vx_inv_scan_go(&sc, &err), 0);
    assert_int_equal(inv->n_pkgs + inv->n_warnings, 0);
    close(sc.rootfd);
    vx_inventory_free(inv);
    rmroot(root);
}

/* A symlinked site-packages / node_modules pointing outside the rootfs is not followed. */
static void test_symlinks_stay_inside(void **state)
{
    char *root = mkroot(), *outside = mkroot(), *link;
    struct vx_inventory *inv = vx_inventory_new();

    (void)state;
    puts_(outside, "site-packages/evil-1.dist-info/METADATA", "Name: evil\nVersion: 1\n");
    puts_(outside, "node_modules/evil/package.json", "{\"name\":\"evil\",\"version\":\"1.0.0\"}");
    puts_(root, "usr/lib/python3/placeholder", "");
    link = vx_xasprintf("%s/usr/lib/python3/site-packages", root);
    assert_int_equal(symlink(outside, link), 0);
    free(link);
    link = vx_xasprintf("%s/usr/lib/python3/node_modules", root);
    assert_int_equal(symlink(outside, link), 0);
    free(link);
    assert_int_equal(scan(root, inv, vx_inv_scan_python), 0);
    assert_int_equal(scan(root, inv, vx_inv_scan_npm), 0);
    assert_int_equal(inv->n_pkgs, 0);
    vx_inventory_free(inv);
    rmroot(root);
    rmroot(outside);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rpm_sample_headers),
        cmocka_unit_test(test_rpm_scan_rootfs),
        cmocka_unit_test(test_rpm_unsupported_and_garbage),
        cmocka_unit_test(test_rpm_lying_headers),
        cmocka_unit_test(test_rpm_random_damage),
        cmocka_unit_test(test_python_record_sample),
        cmocka_unit_test(test_python_record_malformed),
        cmocka_unit_test(test_python_rootfs),
        cmocka_unit_test(test_npm_rootfs),
        cmocka_unit_test(test_go_synthetic),
        cmocka_unit_test(test_go_scan),
        cmocka_unit_test(test_go_real_binary),
        cmocka_unit_test(test_java_rootfs),
        cmocka_unit_test(test_skip_binaries),
        cmocka_unit_test(test_symlinks_stay_inside),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
