/* test_ref.c -- image references and sources (ref.c): a table of valid references with their
 * normalised parts and canonical string, a table of invalid ones with the word the error
 * must contain, and the source transports. */
#include "common/setup.h"

#include <setjmp.h> /* cmocka needs it */
#include <cmocka.h>

#include "image/image.h"
#include "common/alloc.h"
#include "common/err.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct {
    const char *in, *registry, *repository, *tag, *digest, *canon;
} valid[] = {
    {"nginx", "docker.io", "library/nginx", "latest", NULL, "docker.io/library/nginx:latest"},
    {"nginx:1.25", "docker.io", "library/nginx", "1.25", NULL, NULL},
    {"library/nginx", "docker.io", "library/nginx", "latest", NULL, NULL},
    {"bitnami/redis:7.2.4-debian-12-r0", "docker.io", "bitnami/redis", "7.2.4-debian-12-r0", NULL,
     NULL},
    {"docker.io/nginx", "docker.io", "library/nginx", "latest", NULL, NULL},
    {"index.docker.io/nginx", "docker.io", "library/nginx", "latest", NULL, NULL},
    {"index.docker.io/foo/bar", "docker.io", "foo/bar", "latest", NULL, NULL},
    {"localhost/foo", "localhost", "foo", "latest", NULL, NULL},
    {"localhost:5000/foo/bar:v1", "localhost:5000", "foo/bar", "v1", NULL,
     "localhost:5000/foo/bar:v1"},
    {"localhost:5000", "docker.io", "library/localhost", "5000", NULL, NULL},
    {"ghcr.io/a/b/c", "ghcr.io", "a/b/c", "latest", NULL, NULL},
    {"my-reg.example.com:443/x_y/a__b/c--d/e.f", "my-reg.example.com:443", "x_y/a__b/c--d/e.f",
     "latest", NULL, NULL},
    {"127.0.0.1:5050/tiny:latest", "127.0.0.1:5050", "tiny", "latest", NULL, NULL},
    {"[::1]:5000/foo", "[::1]:5000", "foo", "latest", NULL, NULL},
    {"[fe80::1]/foo:t", "[fe80::1]", "foo", "t", NULL, NULL},
    {"nginx@sha256:" D64, "docker.io", "library/nginx", NULL, "sha256:" D64,
     "docker.io/library/nginx@sha256:" D64},
    {"nginx:1.25@sha256:" D64, "docker.io", "library/nginx", "1.25", "sha256:" D64,
     "docker.io/library/nginx:1.25@sha256:" D64},
    {"quay.io/Org:TAG_Upper", NULL, NULL, NULL, NULL, NULL}, /* see invalid: path upper */
    {"foo:_under", "docker.io", "library/foo", "_under", NULL, NULL},
    {"Localhost.example/foo", "Localhost.example", "foo", "latest", NULL, NULL},
};

static const struct {
    const char *in, *needle;
} invalid[] = {
    {"", "empty"},
    {"Nginx", "lowercase"},
    {"docker.io/Library/nginx", "lowercase"},
    {"quay.io/Org:TAG_Upper", "lowercase"},
    {"nginx:", "tag"},
    {"nginx:-bad", "tag"},
    {"nginx:.bad", "tag"},
    {"nginx:a/b", "host"}, /* "nginx:a" is then a host with a bad port */
    {"nginx@sha256:abc", "64"},
    {"nginx@sha512:" D64 D64, "sha512"},
    {"nginx@md5:abcd", "md5"},
    {"nginx@sha256:"
     "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
     "hex"},
    {"nginx@" D64, "algorithm"},
    {"foo//bar", "component"},
    {"foo/", "component"},
    {"-foo", "component"},
    {"foo-", "component"},
    {"foo..bar", "component"},
    {"foo___bar", "component"},
    {"exa_mple.com/foo", "host"},
    {"example.com:abc/foo", "host"},
    {"example.com:123456/foo", "host"},
    {"[zz::1]:5000/foo", "host"},
    {"localhost:5000/", "repository"},
};

static void test_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < VX_ARRAY_SIZE(valid); i++) {
        struct vx_image_ref r;
        struct vx_err *err = NULL;
        char *s;

        if (!valid[i].registry)
            continue;
        if (vx_image_ref_parse(valid[i].in, &r, &err) != 0)
            fail_msg("'%s': %s", valid[i].in, err->msg);
        assert_string_equal(r.registry, valid[i].registry);
        assert_string_equal(r.repository, valid[i].repository);
        if (valid[i].tag)
            assert_string_equal(r.tag, valid[i].tag);
        else
            assert_null(r.tag);
        if (valid[i].digest)
            assert_string_equal(r.digest, valid[i].digest);
        else
            assert_null(r.digest);
        s = vx_image_ref_str(&r);
        if (valid[i].canon)
            assert_string_equal(s, valid[i].canon);
        {
            /* the canonical form parses to itself */
            struct vx_image_ref r2;
            char *s2;

            assert_int_equal(vx_image_ref_parse(s, &r2, NULL), 0);
            s2 = vx_image_ref_str(&r2);
            assert_string_equal(s, s2);
            free(s2);
            vx_image_ref_release(&r2);
        }
        free(s);
        vx_image_ref_release(&r);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < VX_ARRAY_SIZE(invalid); i++) {
        struct vx_image_ref r;
        struct vx_err *err = NULL;
        int rc = vx_image_ref_parse(invalid[i].in, &r, &err);

        if (rc == 0)
            fail_msg("'%s' parsed as %s/%s", invalid[i].in, r.registry, r.repository);
        assert_int_equal(rc, -VX_E_INVALID);
        if (!strstr(err->msg, invalid[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", invalid[i].in, err->msg, invalid[i].needle);
        assert_null(r.registry);
        vx_err_free(&err);
    }
}

static void test_length_cap(void **state)
{
    char *big = vx_xmalloc(5000);
    struct vx_image_ref r;
    struct vx_err *err = NULL;

    (void)state;
    memset(big, 'a', 4999);
    big[4999] = '\0';
    assert_int_equal(vx_image_ref_parse(big, &r, &err), -VX_E_INVALID);
    assert_non_null(strstr(err->msg, "4096"));
    vx_err_free(&err);
    big[4000] = '\0'; /* one long component: valid length */
    assert_int_equal(vx_image_ref_parse(big, &r, NULL), 0);
    vx_image_ref_release(&r);
    free(big);
}

static void test_sources(void **state)
{
    struct vx_image_source s;
    struct vx_err *err = NULL;

    (void)state;
    assert_int_equal(vx_image_source_parse("docker://localhost:5000/a/b:c", &s, NULL), 0);
    assert_int_equal(s.transport, VX_IMAGE_DOCKER);
    assert_string_equal(s.ref.registry, "localhost:5000");
    assert_string_equal(s.ref.tag, "c");
    vx_image_source_release(&s);

    assert_int_equal(vx_image_source_parse("busybox", &s, NULL), 0);
    assert_int_equal(s.transport, VX_IMAGE_DOCKER);
    assert_string_equal(s.ref.repository, "library/busybox");
    vx_image_source_release(&s);

    assert_int_equal(vx_image_source_parse("oci:/tmp/lay", &s, NULL), 0);
    assert_int_equal(s.transport, VX_IMAGE_OCI_DIR);
    assert_string_equal(s.path, "/tmp/lay");
    assert_null(s.tag);
    vx_image_source_release(&s);

    assert_int_equal(vx_image_source_parse("oci:rel/dir:v1.2", &s, NULL), 0);
    assert_string_equal(s.path, "rel/dir");
    assert_string_equal(s.tag, "v1.2");
    vx_image_source_release(&s);

    assert_int_equal(vx_image_source_parse("oci-archive:x.tar:latest", &s, NULL), 0);
    assert_int_equal(s.transport, VX_IMAGE_OCI_ARCHIVE);
    assert_string_equal(s.path, "x.tar");
    assert_string_equal(s.tag, "latest");
    vx_image_source_release(&s);

    assert_int_equal(vx_image_source_parse("docker-archive:s.tar:localhost:5000/x:1", &s, NULL), 0);
    assert_int_equal(s.transport, VX_IMAGE_DOCKER_ARCHIVE);
    assert_string_equal(s.path, "s.tar");
    assert_string_equal(s.tag, "localhost:5000/x:1");
    vx_image_source_release(&s);

    assert_int_equal(vx_image_source_parse("docker-archive:s.tar", &s, NULL), 0);
    assert_null(s.tag);
    vx_image_source_release(&s);

    assert_int_equal(vx_image_source_parse("oci:", &s, &err), -VX_E_INVALID);
    assert_non_null(strstr(err->msg, "empty path"));
    vx_err_free(&err);
    assert_int_equal(vx_image_source_parse("oci:dir:", &s, &err), -VX_E_INVALID);
    vx_err_free(&err);
    assert_int_equal(vx_image_source_parse("docker-archive:s.tar:BAD", &s, &err), -VX_E_INVALID);
    vx_err_free(&err);
    assert_int_equal(vx_image_source_parse("docker://UPPER", &s, &err), -VX_E_INVALID);
    vx_err_free(&err);
    assert_int_equal(vx_image_source_parse("", &s, &err), -VX_E_INVALID);
    vx_err_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_length_cap),
        cmocka_unit_test(test_sources),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
