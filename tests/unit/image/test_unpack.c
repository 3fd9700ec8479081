/* test_unpack.c -- vx_layer_apply / vx_layer_apply_mem / vx_image_unpack (unpack.c).
 *
 * Layers are written with libarchive's writer into temporary files (pax format, with the
 * gzip or zstd filter or none), applied into a fresh directory under a private temp tree,
 * and the result is checked with lstat/readlink/read. The hostile corpus of
 * tests/data/hostile/gen-hostile.py is exercised by test_unpack_hostile (a ctest driven by
 * the same generator); here we keep the cases that need exact assertions.
 */
#include "common/setup.h"

#include <setjmp.h> /* cmocka needs it */
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/image.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"

/* ---- a small layer writer ------------------------------------------------------------- */

enum filt { F_NONE, F_GZIP, F_ZSTD };

struct lb {
    struct archive *a;
    char *path;
};

struct tree {
    char *top;  /* private temp dir */
    char *root; /* top/root, the unpack dir */
    int rootfd;
    int nlayers;
};

static void lb_begin(struct lb *b, struct tree *t, enum filt f)
{
    b->a = archive_write_new();
    assert_non_null(b->a);
    assert_int_equal(archive_write_set_format_pax_restricted(b->a), ARCHIVE_OK);
    if (f == F_GZIP)
        assert_int_equal(archive_write_add_filter_gzip(b->a), ARCHIVE_OK);
    else if (f == F_ZSTD)
        assert_int_equal(archive_write_add_filter_zstd(b->a), ARCHIVE_OK);
    b->path = vx_xasprintf("%s/layer%d.tar", t->top, t->nlayers++);
    assert_int_equal(archive_write_open_filename(b->a, b->path), ARCHIVE_OK);
}

static void lb_add(struct lb *b, const char *name, mode_t type, mode_t perm, const char *data,
                   const char *link, bool hard)
{
    struct archive_entry *e = archive_entry_new();
    size_t len = data ? strlen(data) : 0;

    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_mtime(e, 1500000000, 0);
    archive_entry_set_uid(e, 1000);
    archive_entry_set_gid(e, 1001);
    if (hard)
        archive_entry_set_hardlink(e, link);
    else if (link)
        archive_entry_set_symlink(e, link);
    if (type == AE_IFREG && !hard)
        archive_entry_set_size(e, (la_int64_t)len);
    assert_int_equal(archive_write_header(b->a, e), ARCHIVE_OK);
    if (len)
        assert_int_equal(archive_write_data(b->a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

static void lb_file(struct lb *b, const char *name, const char *data, mode_t perm)
{
    lb_add(b, name, AE_IFREG, perm, data, NULL, false);
}

static void lb_dir(struct lb *b, const char *name, mode_t perm)
{
    lb_add(b, name, AE_IFDIR, perm, NULL, NULL, false);
}

/* Returns the path (owned by the caller). */
static char *lb_end(struct lb *b)
{
    assert_int_equal(archive_write_close(b->a), ARCHIVE_OK);
    archive_write_free(b->a);
    return b->path;
}

static int apply(struct tree *t, char *layer, int idx, const struct vx_unpack_opts *o,
                 struct vx_unpack_report *rep, struct vx_err **err)
{
    int rc = vx_layer_apply(t->rootfd, layer, idx, o, rep, err);

    free(layer);
    return rc;
}

static int setup(void **state)
{
    struct tree *t = vx_xcalloc(1, sizeof(*t));
    const char *tmp = getenv("TMPDIR");
    char *canary;

    t->top = vx_xasprintf("%s/vx-unpack-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(t->top));
    t->root = vx_xasprintf("%s/root", t->top);
    assert_int_equal(mkdir(t->root, 0755), 0);
    canary = vx_xasprintf("%s/canary", t->top);
    assert_int_equal(mkdir(canary, 0755), 0);
    free(canary);
    t->rootfd = open(t->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(t->rootfd >= 0);
    *state = t;
    return 0;
}

/* The sibling "canary" directory next to the root must stay empty, and nothing but the
 * root, the canary and the test's own layer files may appear next to them. */
static void assert_canary_untouched(struct tree *t)
{
    char *canary = vx_xasprintf("%s/canary", t->top);
    DIR *d = opendir(canary);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            fail_msg("canary gained '%s'", de->d_name);
    closedir(d);
    free(canary);
    d = opendir(t->top);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") && strcmp(n, "..") && strcmp(n, "root") && strcmp(n, "canary") &&
            strcmp(n, "img") && strncmp(n, "layer", 5))
            fail_msg("unexpected '%s' next to the root", n);
    }
    closedir(d);
}

static int teardown(void **state)
{
    struct tree *t = *state;

    assert_canary_untouched(t);

    close(t->rootfd);
    assert_int_equal(vx_fs_remove_tree(t->top, NULL), 0);
    free(t->top);
    free(t->root);
    free(t);
    return 0;
}

/* lstat of root/rel; returns -1 when missing. */
static int rstat(struct tree *t, const char *rel, struct stat *st)
{
    char *p = vx_xasprintf("%s/%s", t->root, rel);
    int r = lstat(p, st);

    free(p);
    return r;
}

static char *rread(struct tree *t, const char *rel)
{
    char *p = vx_xasprintf("%s/%s", t->root, rel);
    char *buf = vx_xcalloc(1, 4096);
    int fd = open(p, O_RDONLY | O_NOFOLLOW);

    assert_true(fd >= 0);
    assert_true(read(fd, buf, 4095) >= 0);
    close(fd);
    free(p);
    return buf;
}

static bool exists(struct tree *t, const char *rel)
{
    struct stat st;

    return rstat(t, rel, &st) == 0;
}

static void expect_err(int rc, struct vx_err **err, int code, const char *needle)
{
    assert_int_equal(rc, -code);
    assert_non_null(*err);
    if (!strstr((*err)->msg, needle))
        fail_msg("error '%s' does not mention '%s'", (*err)->msg, needle);
    vx_err_free(err);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_basic_types(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct lb b;
    struct stat st, st2;
    char link[256] = {0};
    char *s;

    lb_begin(&b, t, F_NONE);
    lb_dir(&b, "./", 0755);
    lb_dir(&b, "./etc/", 0750);
    lb_file(&b, "./etc/hosts", "127.0.0.1 localhost\n", 0644);
    lb_file(&b, "usr/bin/tool", "#!/bin/sh\n", 04755); /* parents created implicitly */
    lb_add(&b, "usr/bin/tool2", AE_IFREG, 0, NULL, "usr/bin/tool", true);
    lb_add(&b, "bin", AE_IFLNK, 0777, NULL, "usr/bin", false);
    lb_add(&b, "abs", AE_IFLNK, 0777, NULL, "/etc/../etc/hosts", false);
    assert_int_equal(apply(t, lb_end(&b), 0, NULL, &rep, &err), 0);
    assert_null(err);

    assert_int_equal(rstat(t, "etc", &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0750);
    s = rread(t, "etc/hosts");
    assert_string_equal(s, "127.0.0.1 localhost\n");
    free(s);
    assert_int_equal(rstat(t, "etc/hosts", &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_mtim.tv_sec, 1500000000);
    assert_int_equal(rstat(t, "usr/bin/tool", &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    assert_int_equal(rstat(t, "usr/bin/tool2", &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    assert_int_equal(rstat(t, "usr", &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    s = vx_xasprintf("%s/abs", t->root);
    assert_true(readlink(s, link, sizeof(link) - 1) > 0);
    assert_string_equal(link, "/etc/../etc/hosts"); /* verbatim */
    free(s);
    assert_int_equal(rep.entries, 7);
    assert_int_equal(rep.bytes, 30);
    vx_unpack_report_release(&rep);
}

static void test_filters(void **state)
{
    struct tree *t = *state;
    enum filt fs[] = {F_NONE, F_GZIP, F_ZSTD};
    const char *names[] = {"plain", "gzip", "zstd"};

    for (int i = 0; i < 3; i++) {
        struct vx_unpack_report rep = {0};
        struct vx_err *err = NULL;
        struct lb b;
        char *s;

        lb_begin(&b, t, fs[i]);
        lb_file(&b, names[i], names[i], 0600);
        assert_int_equal(apply(t, lb_end(&b), i, NULL, &rep, &err), 0);
        s = rread(t, names[i]);
        assert_string_equal(s, names[i]);
        free(s);
        vx_unpack_report_release(&rep);
    }
}

static void test_mem_and_garbage(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    static const char junk[] = "this is not a tar archive, not even close, at all........";

    static const char empty_tar[1024];

    assert_int_equal(
        vx_layer_apply_mem(t->rootfd, empty_tar, sizeof(empty_tar), 0, NULL, &rep, &err), 0);
    expect_err(vx_layer_apply_mem(t->rootfd, "", 0, 2, NULL, &rep, &err), &err, VX_E_UNPROCESSABLE,
               "layer 2");
    expect_err(vx_layer_apply_mem(t->rootfd, junk, sizeof(junk), 3, NULL, &rep, &err), &err,
               VX_E_UNPROCESSABLE, "layer 3");
    vx_unpack_report_release(&rep);
}

static void test_whiteouts(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct lb b;

    lb_begin(&b, t, F_GZIP);
    lb_file(&b, "a/f", "1", 0644);
    lb_file(&b, "a/g", "2", 0644);
    lb_file(&b, "d/sub/deep", "3", 0644);
    lb_file(&b, "o/lower1", "4", 0644);
    lb_file(&b, "o/keep/lower2", "5", 0644);
    lb_file(&b, "p/lower", "6", 0644);
    assert_int_equal(apply(t, lb_end(&b), 0, NULL, &rep, &err), 0);

    lb_begin(&b, t, F_GZIP);
    lb_file(&b, "a/.wh.f", "", 0644);       /* file */
    lb_file(&b, ".wh.d", "", 0644);         /* directory, recursively */
    lb_file(&b, "a/.wh.missing", "", 0644); /* nothing to remove: fine */
    /* opaque after the layer's own entries: they survive, lower ones go */
    lb_file(&b, "o/new", "7", 0644);
    lb_file(&b, "o/keep/new2", "8", 0644);
    lb_file(&b, "o/.wh..wh..opq", "", 0644);
    /* opaque before the layer's own entries */
    lb_file(&b, "p/.wh..wh..opq", "", 0644);
    lb_file(&b, "p/mine", "9", 0644);
    /* a whiteout never hides an entry of its own layer */
    lb_file(&b, "a/same", "x", 0644);
    lb_file(&b, "a/.wh.same", "", 0644);
    assert_int_equal(apply(t, lb_end(&b), 1, NULL, &rep, &err), 0);
    assert_null(err);

    assert_false(exists(t, "a/f"));
    assert_true(exists(t, "a/g"));
    assert_true(exists(t, "a/same"));
    assert_false(exists(t, "d"));
    assert_false(exists(t, "o/lower1"));
    assert_false(exists(t, "o/keep/lower2"));
    assert_true(exists(t, "o/new"));
    assert_true(exists(t, "o/keep/new2"));
    assert_false(exists(t, "p/lower"));
    assert_true(exists(t, "p/mine"));
    assert_false(exists(t, "a/.wh.f"));
    assert_false(exists(t, "o/.wh..wh..opq"));
    assert_int_equal(rep.whiteouts, 6);
    vx_unpack_report_release(&rep);
}

static void test_override(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct lb b;
    struct stat st;
    char *s;

    lb_begin(&b, t, F_NONE);
    lb_file(&b, "x", "lower", 0644);
    lb_file(&b, "dir/inner", "lower", 0644);
    lb_add(&b, "l", AE_IFLNK, 0777, NULL, "x", false);
    assert_int_equal(apply(t, lb_end(&b), 0, NULL, &rep, &err), 0);
    lb_begin(&b, t, F_NONE);
    lb_file(&b, "x", "upper", 0600);        /* file over file */
    lb_file(&b, "dir", "now a file", 0644); /* file over directory */
    lb_file(&b, "l", "not a link", 0644);   /* file over symlink: the link is replaced */
    assert_int_equal(apply(t, lb_end(&b), 1, NULL, &rep, &err), 0);
    s = rread(t, "x");
    assert_string_equal(s, "upper");
    free(s);
    assert_int_equal(rstat(t, "dir", &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(rstat(t, "l", &st), 0);
    assert_true(S_ISREG(st.st_mode));
    s = rread(t, "x");
    assert_string_equal(s, "upper"); /* writing 'l' did not go through the old link */
    free(s);
    vx_unpack_report_release(&rep);
}

/* The parent-fd cache must not outlive a root-level entry that replaces an ancestor. */
static void test_replaced_ancestor(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct lb b;
    struct stat st;

    lb_begin(&b, t, F_NONE);
    lb_dir(&b, "a", 0755);
    lb_add(&b, "l", AE_IFLNK, 0777, NULL, "a", false);
    lb_file(&b, "l/b/f", "via link", 0644); /* root/a/b/f */
    lb_dir(&b, "l", 0755);                  /* the link becomes a real directory */
    lb_file(&b, "l/b/g", "real", 0644);     /* root/l/b/g, not root/a/b/g */
    lb_file(&b, "d/x/f", "1", 0644);
    lb_file(&b, "d", "now a file", 0644); /* replaces the directory d */
    lb_file(&b, "d2/x/f", "2", 0644);
    assert_int_equal(apply(t, lb_end(&b), 0, NULL, &rep, &err), 0);
    assert_null(err);
    assert_true(exists(t, "a/b/f"));
    assert_false(exists(t, "a/b/g"));
    assert_true(exists(t, "l/b/g"));
    assert_int_equal(rstat(t, "l", &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(rstat(t, "d", &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_true(exists(t, "d2/x/f"));
    vx_unpack_report_release(&rep);
}

static void test_symlink_write_stays_inside(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct lb b;
    char *outside = vx_xasprintf("%s/canary", t->top);
    char *host_target, *name;
    struct stat st;

    /* l -> <absolute canary dir>, then l/evil: must land in root/<that path>/evil */
    lb_begin(&b, t, F_NONE);
    lb_add(&b, "l", AE_IFLNK, 0777, NULL, outside, false);
    lb_add(&b, "up", AE_IFLNK, 0777, NULL, "../../../..", false);
    lb_dir(&b, "etc", 0755);
    lb_add(&b, "e", AE_IFLNK, 0777, NULL, "/etc", false);
    lb_file(&b, "up/evil", "up", 0644);
    lb_file(&b, "e/vx-unpack-test-evil", "in root", 0644);
    assert_int_equal(apply(t, lb_end(&b), 0, NULL, &rep, &err), 0);
    assert_true(exists(t, "evil")); /* "../../.." from the root is the root */
    assert_true(exists(t, "etc/vx-unpack-test-evil"));
    assert_int_not_equal(lstat("/etc/vx-unpack-test-evil", &st), 0);

    assert_canary_untouched(t);

    /* the canary path does not exist inside the root: the dangling link is followed inside
     * the root (its directories created there), exactly as if the root were '/' */
    lb_begin(&b, t, F_NONE);
    lb_file(&b, "l/evil", "x", 0644);
    lb_add(&b, "l2", AE_IFLNK, 0777, NULL, "l/deeper", false); /* link to a link */
    lb_file(&b, "l2/evil2", "y", 0644);
    lb_add(&b, "slash", AE_IFLNK, 0777, NULL, "/", false);
    lb_file(&b, "slash/at-root", "z", 0644);
    assert_int_equal(apply(t, lb_end(&b), 1, NULL, &rep, &err), 0);
    assert_null(err);
    host_target = vx_xasprintf("%s/evil", outside);
    assert_int_not_equal(lstat(host_target, &st), 0);
    name = vx_xasprintf("%s/evil", outside + 1);
    assert_true(exists(t, name));
    free(name);
    name = vx_xasprintf("%s/deeper/evil2", outside + 1);
    assert_true(exists(t, name));
    free(name);
    assert_true(exists(t, "at-root"));
    assert_canary_untouched(t);

    /* a link loop is refused, not followed forever */
    lb_begin(&b, t, F_NONE);
    lb_add(&b, "loop1", AE_IFLNK, 0777, NULL, "loop2", false);
    lb_add(&b, "loop2", AE_IFLNK, 0777, NULL, "loop1/x", false);
    lb_file(&b, "loop1/f", "x", 0644);
    expect_err(apply(t, lb_end(&b), 2, NULL, &rep, &err), &err, VX_E_UNPROCESSABLE, "loop1/f");
    /* a dangling link that re-enters itself through a missing dir: refused (by the kernel's
     * ELOOP once the dir exists, or by our own hop count) */
    lb_begin(&b, t, F_NONE);
    lb_add(&b, "grow", AE_IFLNK, 0777, NULL, "g2/../grow/y", false);
    lb_file(&b, "grow/f", "x", 0644);
    expect_err(apply(t, lb_end(&b), 3, NULL, &rep, &err), &err, VX_E_UNPROCESSABLE, "grow/f");
    free(host_target);
    free(outside);
    vx_unpack_report_release(&rep);
}

static void test_bad_names(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct {
        const char *name, *needle;
        int code;
    } cases[] = {
        {"../evil", "'..' component", VX_E_UNPROCESSABLE},
        {"a/../../evil", "a/../../evil", VX_E_UNPROCESSABLE},
        {"/tmp/vx-abs-evil", "absolute", VX_E_UNPROCESSABLE},
        {".wh...", "'..'", VX_E_UNPROCESSABLE},
        {"a/.wh.../x", "a/.wh.../x", VX_E_UNPROCESSABLE},
        {"a/.wh..", "'.'", VX_E_UNPROCESSABLE},
    };

    for (size_t i = 0; i < VX_ARRAY_SIZE(cases); i++) {
        struct lb b;

        lb_begin(&b, t, F_NONE);
        lb_file(&b, cases[i].name, "x", 0644);
        expect_err(apply(t, lb_end(&b), 2, NULL, &rep, &err), &err, cases[i].code, cases[i].needle);
        assert_canary_untouched(t);
    }
    assert_false(exists(t, "evil"));
    vx_unpack_report_release(&rep);
}

static void test_hardlink_escape(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    const char *targets[] = {"../outside", "../../etc/passwd", "/etc/passwd", "etc/passwd",
                             "nothere"};

    for (size_t i = 0; i < VX_ARRAY_SIZE(targets); i++) {
        struct lb b;

        lb_begin(&b, t, F_NONE);
        lb_add(&b, "h", AE_IFREG, 0644, NULL, targets[i], true);
        expect_err(apply(t, lb_end(&b), 0, NULL, &rep, &err), &err, VX_E_UNPROCESSABLE, targets[i]);
        assert_false(exists(t, "h"));
        assert_canary_untouched(t);
    }
    vx_unpack_report_release(&rep);
}

static void test_devices_skipped(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct lb b;

    lb_begin(&b, t, F_NONE);
    lb_add(&b, "dev/null", AE_IFCHR, 0666, NULL, NULL, false);
    lb_add(&b, "dev/sda", AE_IFBLK, 0660, NULL, NULL, false);
    lb_add(&b, "run/fifo", AE_IFIFO, 0600, NULL, NULL, false);
    lb_add(&b, "dev/null2", AE_IFCHR, 0, NULL, "dev/null", true); /* second name */
    assert_int_equal(apply(t, lb_end(&b), 4, NULL, &rep, &err), 0);
    assert_null(err);
    assert_int_equal(rep.skipped_devices, 4);
    assert_int_equal(rep.n_skipped, 4);
    assert_string_equal(rep.skipped[3], "layer 4: dev/null2 (hardlink to a skipped node)");
    assert_false(exists(t, "dev/null2"));
    assert_string_equal(rep.skipped[0], "layer 4: dev/null (char device)");
    assert_string_equal(rep.skipped[1], "layer 4: dev/sda (block device)");
    assert_string_equal(rep.skipped[2], "layer 4: run/fifo (fifo)");
    assert_false(exists(t, "dev/null"));
    assert_false(exists(t, "run/fifo"));
    vx_unpack_report_release(&rep);
}

static void test_caps(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct vx_unpack_opts o = {0};
    struct lb b;
    char longname[200];

    o.limits.max_entries = 3;
    lb_begin(&b, t, F_NONE);
    for (int i = 0; i < 5; i++) {
        char n[16];
        snprintf(n, sizeof(n), "f%d", i);
        lb_file(&b, n, "x", 0644);
    }
    expect_err(apply(t, lb_end(&b), 0, &o, &rep, &err), &err, VX_E_TOO_LARGE, "'f3'");
    vx_unpack_report_release(&rep);

    memset(&o, 0, sizeof(o));
    o.limits.max_file_bytes = 10;
    lb_begin(&b, t, F_NONE);
    lb_file(&b, "small", "0123456789", 0644);
    lb_file(&b, "big", "0123456789A", 0644);
    expect_err(apply(t, lb_end(&b), 0, &o, &rep, &err), &err, VX_E_TOO_LARGE, "'big'");
    vx_unpack_report_release(&rep);

    memset(&o, 0, sizeof(o));
    o.limits.max_total_bytes = 15;
    lb_begin(&b, t, F_NONE);
    lb_file(&b, "t1", "0123456789", 0644);
    lb_file(&b, "t2", "0123456789", 0644);
    expect_err(apply(t, lb_end(&b), 0, &o, &rep, &err), &err, VX_E_TOO_LARGE, "'t2'");
    vx_unpack_report_release(&rep);

    memset(&o, 0, sizeof(o));
    o.limits.max_path_len = 100;
    memset(longname, 'n', sizeof(longname));
    longname[150] = '\0';
    lb_begin(&b, t, F_NONE);
    lb_file(&b, longname, "x", 0644);
    expect_err(apply(t, lb_end(&b), 0, &o, &rep, &err), &err, VX_E_TOO_LARGE, "nnnnnnnn");
    vx_unpack_report_release(&rep);
}

static void test_sparse(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct lb b;
    struct archive_entry *e = archive_entry_new();
    char block[4096];
    struct stat st;

    memset(block, 'z', sizeof(block));
    lb_begin(&b, t, F_NONE);
    archive_entry_set_pathname(e, "sparse");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 64 << 20);
    archive_entry_sparse_add_entry(e, 0, 4096);
    archive_entry_sparse_add_entry(e, 32 << 20, 4096);
    assert_int_equal(archive_write_header(b.a, e), ARCHIVE_OK);
    assert_int_equal(archive_write_data(b.a, block, 4096), 4096);
    assert_int_equal(archive_write_data(b.a, block, 4096), 4096);
    archive_entry_free(e);
    assert_int_equal(apply(t, lb_end(&b), 0, NULL, &rep, &err), 0);
    assert_null(err);
    assert_int_equal(rstat(t, "sparse", &st), 0);
    assert_int_equal(st.st_size, 64 << 20);
    /* holes kept: far fewer blocks allocated than 64 MiB (tmpfs and ext4 both keep holes) */
    assert_true(st.st_blocks * 512 < (8 << 20));
    vx_unpack_report_release(&rep);
}

static void test_xattrs(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct lb b;
    struct archive_entry *e = archive_entry_new();
    char *path;

    lb_begin(&b, t, F_NONE);
    archive_entry_set_pathname(e, "xf");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 0);
    archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
    archive_entry_xattr_add_entry(e, "security.capability", "\1\0\0\2", 4);
    archive_entry_xattr_add_entry(e, "user.note", "hi", 2);
    assert_int_equal(archive_write_header(b.a, e), ARCHIVE_OK);
    archive_entry_free(e);
    assert_int_equal(apply(t, lb_end(&b), 0, NULL, &rep, &err), 0);
    /* skipped and not recorded (the report's slots are for device nodes) */
    assert_int_equal(rep.n_skipped, 0);
    assert_true(exists(t, "xf"));
    path = vx_xasprintf("%s/xf", t->root);
    assert_int_equal(llistxattr(path, NULL, 0), 0);
    free(path);
    vx_unpack_report_release(&rep);
}

static void test_ownership(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct vx_unpack_opts o = {0};
    struct lb b;
    struct stat st;

    if (geteuid() != 0) {
        print_message("skipped: ownership needs root\n");
        skip();
    }
    o.keep_ownership = true;
    o.uid_shift = 100000;
    lb_begin(&b, t, F_NONE);
    lb_file(&b, "owned", "x", 0644);                           /* 1000:1001 */
    lb_add(&b, "olink", AE_IFLNK, 0777, NULL, "owned", false); /* 1000:1001 */
    assert_int_equal(apply(t, lb_end(&b), 0, &o, &rep, &err), 0);
    assert_int_equal(rstat(t, "owned", &st), 0);
    assert_int_equal(st.st_uid, 101000);
    assert_int_equal(st.st_gid, 101001);
    assert_int_equal(rstat(t, "olink", &st), 0);
    assert_int_equal(st.st_uid, 101000);

    o.id_range = 1000; /* 1000 is now out of range */
    lb_begin(&b, t, F_NONE);
    lb_file(&b, "owned2", "x", 0644);
    expect_err(apply(t, lb_end(&b), 1, &o, &rep, &err), &err, VX_E_UNPROCESSABLE, "'owned2'");
    vx_unpack_report_release(&rep);
}

static void test_image_unpack(void **state)
{
    struct tree *t = *state;
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    struct vx_image_layer layers[2] = {{0}};
    struct vx_image img = {.layers = layers, .n_layers = 2};
    char *dest = vx_xasprintf("%s/img", t->top), *f;
    struct lb b;
    struct stat st;

    lb_begin(&b, t, F_ZSTD);
    lb_file(&b, "etc/os-release", "ID=debian\n", 0644);
    lb_file(&b, "tmp/junk", "x", 0644);
    layers[0].blob_path = lb_end(&b);
    lb_begin(&b, t, F_GZIP);
    lb_file(&b, "tmp/.wh.junk", "", 0644);
    layers[1].blob_path = lb_end(&b);
    assert_int_equal(vx_image_unpack(&img, dest, NULL, &rep, &err), 0);
    f = vx_xasprintf("%s/etc/os-release", dest);
    assert_int_equal(lstat(f, &st), 0);
    free(f);
    f = vx_xasprintf("%s/tmp/junk", dest);
    assert_int_not_equal(lstat(f, &st), 0);
    free(f);
    vx_unpack_report_release(&rep);

    /* not empty -> refused, and left alone */
    expect_err(vx_image_unpack(&img, dest, NULL, &rep, &err), &err, VX_E_INVALID, "not empty");
    assert_int_equal(lstat(dest, &st), 0);
    assert_int_equal(vx_fs_remove_tree(dest, NULL), 0);

    /* a failing layer: dest is removed */
    free(layers[1].blob_path);
    lb_begin(&b, t, F_NONE);
    lb_file(&b, "../escape", "x", 0644);
    layers[1].blob_path = lb_end(&b);
    expect_err(vx_image_unpack(&img, dest, NULL, &rep, &err), &err, VX_E_UNPROCESSABLE, "layer 1");
    assert_int_not_equal(lstat(dest, &st), 0);
    free(layers[0].blob_path);
    free(layers[1].blob_path);
    free(dest);
    vx_unpack_report_release(&rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mem_and_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_ancestor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_write_stays_inside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hardlink_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_devices_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sparse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ownership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_unpack, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
