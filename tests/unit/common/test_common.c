/* test_common.c -- unit tests of src/common: errors, capped buffers, ids, hashes, time. */
#include "common/setup.h"

#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"

static void test_err_set_wrap_free(void **state)
{
    struct vx_err *err = NULL;

    assert_int_equal(vx_err_set(&err, VX_E_INVALID, 0, "bad '%s'", "x"), -VX_E_INVALID);
    /* the first error is never overwritten */
    assert_int_equal(vx_err_set(&err, VX_E_IO, 0, "second"), -VX_E_IO);
    assert_string_equal(err->msg, "bad 'x'");
    assert_int_equal(vx_err_wrap(&err, "parse '%s'", "f.json"), -VX_E_INVALID);
    assert_string_equal(err->msg, "parse 'f.json': bad 'x'");
    vx_err_free(&err);
    assert_null(err);
    vx_err_free(&err); /* NULL-safe */
    assert_int_equal(vx_err_field(&err, VX_E_INVALID, "config.test_timeout", "out of range"),
                     -VX_E_INVALID);
    assert_string_equal(err->field, "config.test_timeout");
    vx_err_free(&err);
    assert_int_equal(vx_err_set(&err, VX_E_IO, ENOENT, "open 'x'"), -VX_E_IO);
    assert_string_equal(err->msg, "open 'x': No such file or directory");
    vx_err_free(&err);
    /* a NULL err pointer is allowed: the code is still returned */
    assert_int_equal(vx_err_set(NULL, VX_E_QUOTA, 0, "x"), -VX_E_QUOTA);
}

static void test_code_table(void **state)
{
    assert_int_equal(vx_code_http(VX_E_INVALID), 400);
    assert_int_equal(vx_code_http(VX_E_TOO_LARGE), 413);
    assert_int_equal(vx_code_http(VX_E_QUOTA), 429);
    assert_int_equal(vx_code_http(VX_E_NOT_FOUND), 404);
    assert_string_equal(vx_code_str(VX_E_INVALID), "invalid_request");
    assert_string_equal(vx_code_str((enum vx_code)9999), "internal_error");
    assert_int_equal(vx_code_http((enum vx_code) - 3), 500);
    for (int c = 0; c < VX_CODE_LAST; c++)
        assert_non_null(vx_code_name((enum vx_code)c));
}

static void test_buf_cap(void **state)
{
    struct vx_buf b = VX_BUF_INIT(10);
    char *s;
    size_t len;

    assert_int_equal(vx_buf_adds(&b, "hello"), 0);
    assert_int_equal(vx_buf_addf(&b, "%d", 1234), 0);
    assert_string_equal(vx_buf_str(&b), "hello1234");
    assert_int_equal(vx_buf_adds(&b, "xx"), -VX_E_TOO_LARGE);
    assert_string_equal(vx_buf_str(&b), "hello1234"); /* unchanged on failure */
    assert_int_equal(vx_buf_addf(&b, "%s", "yy"), -VX_E_TOO_LARGE);
    s = vx_buf_detach(&b, &len);
    assert_int_equal(len, 9);
    assert_string_equal(s, "hello1234");
    free(s);
    assert_int_equal(b.len, 0);
    s = vx_buf_detach(&b, NULL);
    assert_string_equal(s, "");
    free(s);
    vx_buf_release(&b);
}

static void test_buf_json_str(void **state)
{
    struct vx_buf b = VX_BUF_INIT(1024);
    json_t *v = NULL;
    struct vx_err *err = NULL;

    assert_int_equal(vx_buf_add_json_str(&b, "a\"b\\c\n\x01\t"), 0);
    assert_string_equal(vx_buf_str(&b), "\"a\\\"b\\\\c\\n\\u0001\\t\"");
    assert_int_equal(vx_json_parse(b.data, b.len, &v, &err), 0);
    assert_string_equal(json_string_value(v), "a\"b\\c\n\x01\t");
    json_decref(v);
    vx_buf_release(&b);
}

static void test_uuid_digest(void **state)
{
    char a[37], b[37];

    vx_uuid4(a);
    vx_uuid4(b);
    assert_true(vx_uuid_valid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_false(vx_uuid_valid("not-a-uuid"));
    assert_false(vx_uuid_valid("123e4567-e89b-12d3-a456-42661417400g"));
    assert_true(vx_uuid_valid("123E4567-E89B-12D3-A456-426614174000"));
    assert_true(
        vx_digest_valid("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_false(
        vx_digest_valid("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    assert_false(vx_digest_valid("sha256:abc"));
    assert_false(
        vx_digest_valid("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_false(vx_digest_valid(NULL));
}

static void test_hashes(void **state)
{
    char hex[65];

    vx_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* RFC 4231 test case 2 */
    vx_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_true(vx_streq_ct("abc", "abc"));
    assert_false(vx_streq_ct("abc", "abd"));
    assert_false(vx_streq_ct("abc", "abcd"));
}

static void test_time_and_numbers(void **state)
{
    char ts[40], month[16];
    int64_t v;

    vx_time_iso8601(1764350401123LL, ts, sizeof(ts));
    assert_string_equal(ts, "2025-11-28T17:20:01.123Z");
    vx_time_month(1764350401123LL, month, sizeof(month));
    assert_string_equal(month, "2025-11");
    assert_int_equal(vx_parse_i64("300", 60, 900, &v), 0);
    assert_int_equal(v, 300);
    assert_int_equal(vx_parse_i64("59", 60, 900, &v), -1);
    assert_int_equal(vx_parse_i64("3x", 0, 900, &v), -1);
    assert_int_equal(vx_parse_i64("", 0, 900, &v), -1);
    assert_int_equal(vx_parse_i64("99999999999999999999", 0, INT64_MAX, &v), -1);
    assert_true(vx_now_ms() > 1700000000000LL);
}

static void test_alloc_grow(void **state)
{
    size_t cap = 0;
    int *a = NULL;

    for (int i = 0; i < 1000; i++) {
        a = vx_xgrow(a, sizeof(*a), (size_t)i + 1, &cap);
        a[i] = i;
    }
    assert_true(cap >= 1000);
    assert_int_equal(a[999], 999);
    free(a);
    char *s = vx_xasprintf("%s-%d", "x", 7);
    assert_string_equal(s, "x-7");
    free(s);
    assert_null(vx_xstrdup(NULL));
}

static void test_json_helpers(void **state)
{
    struct vx_err *err = NULL;
    json_t *v = NULL;
    char *s;

    assert_int_equal(vx_json_parse("{\"b\":1,\"a\":\"x\"}", 15, &v, &err), 0);
    s = vx_json_dump(v);
    assert_string_equal(s, "{\"a\":\"x\",\"b\":1}");
    assert_string_equal(vx_json_str(v, "a"), "x");
    assert_null(vx_json_str(v, "b"));
    free(s);
    json_decref(v);
    assert_int_equal(vx_json_parse("{\"a\":1,\"a\":2}", 13, &v, &err), -VX_E_INVALID);
    vx_err_free(&err);
    assert_int_equal(vx_json_parse("{\"a\":\"\xff\"}", 9, &v, &err), -VX_E_INVALID);
    vx_err_free(&err);
    assert_int_equal(vx_json_parse("{\"a\":", 5, &v, &err), -VX_E_INVALID);
    assert_non_null(strstr(err->msg, "malformed json"));
    vx_err_free(&err);
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
}

/* remove_tree deletes links as links: a symlink to a directory outside the tree (as a
 * hostile rootfs could contain) must not lead it out of the tree. */
static void test_fs_remove_tree_never_follows_links(void **state)
{
    char base[] = "/tmp/vx-fs-XXXXXX", *tree, *outside, *p;
    struct vx_err *err = NULL;
    struct stat st;

    assert_non_null(mkdtemp(base));
    tree = vx_xasprintf("%s/tree/a/b", base);
    outside = vx_xasprintf("%s/outside", base);
    assert_int_equal(vx_fs_mkdirs(tree, 0700, &err), 0);
    assert_int_equal(vx_fs_mkdirs(outside, 0700, &err), 0);
    p = vx_xasprintf("%s/keep", outside);
    touch(p);
    free(p);
    p = vx_xasprintf("%s/tree/a/b/file", base);
    touch(p);
    free(p);
    p = vx_xasprintf("%s/tree/a/link", base);
    assert_int_equal(symlink(outside, p), 0);
    free(p);
    p = vx_xasprintf("%s/tree/a/b", base);
    assert_int_equal(chmod(p, 0500), 0); /* read-only directory inside the tree */
    free(p);
    p = vx_xasprintf("%s/tree", base);
    assert_int_equal(vx_fs_remove_tree(p, &err), 0);
    assert_int_equal(lstat(p, &st), -1);
    assert_int_equal(vx_fs_remove_tree(p, &err), 0); /* missing is fine */
    free(p);
    p = vx_xasprintf("%s/keep", outside);
    assert_int_equal(stat(p, &st), 0);
    free(p);
    assert_int_equal(vx_fs_remove_tree(base, &err), 0);
    free(tree);
    free(outside);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set_wrap_free),
        cmocka_unit_test(test_code_table),
        cmocka_unit_test(test_buf_cap),
        cmocka_unit_test(test_buf_json_str),
        cmocka_unit_test(test_uuid_digest),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_time_and_numbers),
        cmocka_unit_test(test_alloc_grow),
        cmocka_unit_test(test_json_helpers),
        cmocka_unit_test(test_fs_remove_tree_never_follows_links),
    };

    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
