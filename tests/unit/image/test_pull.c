/* test_pull.c -- vx_image_pull from the local transports (pull.c, layout.c, blobcache.c,
 * config.c).
 *
 * Every image is built here: a tiny layer (tar.gz or plain tar, libarchive's writer), a
 * config, manifests and index.json written as blobs of an OCI layout in a temp dir; the
 * archives are made from those with tar(1). Cases: layout by tag and without, OCI archive,
 * docker-archive (synthesised manifest, image-ID digest), expected digest match and
 * mismatch, corrupted blob, a two-platform index (right one picked, a missing one lists the
 * available ones), a corrupted cache entry being fetched again, config parsing.
 */
#include "common/setup.h"

#include <setjmp.h> /* cmocka needs it */
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "image/pull_int.h" /* vx_image_config_parse */
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/util.h"

struct fx {
    char root[64];
    char *lay, *cache;
    char *layer_d, *config_d, *man_d, *arm_man_d, *index_d;
    int64_t layer_n, config_n;
};

static void write_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* Writes a blob into the layout; returns its digest (caller frees). */
static char *put_blob(struct fx *f, const void *data, size_t n)
{
    char hex[65], *p;

    vx_sha256_hex(data, n, hex);
    p = vx_xasprintf("%s/blobs/sha256/%s", f->lay, hex);
    write_file(p, data, n);
    free(p);
    return vx_xasprintf("sha256:%s", hex);
}

/* A one-file layer ("hello.txt" with 'content'), gzip or plain. Caller frees *out. */
static void make_layer(const char *content, bool gz, void **out, size_t *n)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    size_t cap = 65536, used = 0;
    char *buf = vx_xmalloc(cap);

    archive_write_set_format_pax_restricted(a);
    if (gz)
        archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    archive_entry_set_pathname(e, "hello.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)strlen(content));
    archive_write_header(a, e);
    archive_write_data(a, content, strlen(content));
    archive_write_close(a);
    archive_write_free(a);
    archive_entry_free(e);
    *out = buf;
    *n = used;
}

static char *manifest_json(const char *cfg_d, int64_t cfg_n, const char *layer_d, int64_t layer_n,
                           const char *layer_mt)
{
    return vx_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
        "\"size\":%" PRId64
        "},\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%" PRId64 "}]}",
        cfg_d, cfg_n, layer_mt, layer_d, layer_n);
}

static char *config_json(const char *arch, const char *diff_id)
{
    return vx_xasprintf(
        "{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\",\"-c\",\"x\"],"
        "\"Entrypoint\":null,\"Env\":[\"PATH=/bin\"],\"WorkingDir\":\"/srv\",\"User\":\"1000\","
        "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{},\"8443\":{}},\"Labels\":{\"a\":\"b\"}},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
        arch, diff_id);
}

static int setup(void **state)
{
    struct fx *f = vx_xcalloc(1, sizeof(*f));
    void *layer, *plain;
    size_t ln, pn;
    char *cfg, *man, *arm_cfg, *arm_man, *idx, *top, *p, *cd, *diff, *arm_cd;

    snprintf(f->root, sizeof(f->root), "/tmp/vx-test-pull-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    f->lay = vx_xasprintf("%s/lay", f->root);
    f->cache = vx_xasprintf("%s/cache", f->root);
    p = vx_xasprintf("%s/blobs/sha256", f->lay);
    assert_int_equal(vx_fs_mkdirs(p, 0755, NULL), 0);
    free(p);
    make_layer("hello\n", true, &layer, &ln);
    make_layer("hello\n", false, &plain, &pn);
    f->layer_d = put_blob(f, layer, ln);
    f->layer_n = (int64_t)ln;
    diff = vx_xasprintf("sha256:%s", "");
    free(diff);
    {
        char hex[65];

        vx_sha256_hex(plain, pn, hex);
        diff = vx_xasprintf("sha256:%s", hex);
    }
    cfg = config_json("amd64", diff);
    f->config_d = put_blob(f, cfg, strlen(cfg));
    f->config_n = (int64_t)strlen(cfg);
    man = manifest_json(f->config_d, f->config_n, f->layer_d, f->layer_n,
                        "application/vnd.oci.image.layer.v1.tar+gzip");
    f->man_d = put_blob(f, man, strlen(man));
    arm_cfg = config_json("arm64", diff);
    arm_cd = put_blob(f, arm_cfg, strlen(arm_cfg));
    arm_man = manifest_json(arm_cd, (int64_t)strlen(arm_cfg), f->layer_d, f->layer_n,
                            "application/vnd.oci.image.layer.v1.tar+gzip");
    f->arm_man_d = put_blob(f, arm_man, strlen(arm_man));
    idx = vx_xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
        "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":"
        "\"amd64\"}},{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
        "\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\","
        "\"variant\":\"v8\"}}]}",
        f->man_d, strlen(man), f->arm_man_d, strlen(arm_man));
    f->index_d = put_blob(f, idx, strlen(idx));
    top = vx_xasprintf(
        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
        "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},{\"mediaType\":"
        "\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"multi\"}}]}",
        f->man_d, strlen(man), f->index_d, strlen(idx));
    p = vx_xasprintf("%s/index.json", f->lay);
    write_file(p, top, strlen(top));
    free(p);
    p = vx_xasprintf("%s/oci-layout", f->lay);
    write_file(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
    free(p);

    /* a docker-archive directory: manifest.json, <hex>.json, layer dir with layer.tar */
    p = vx_xasprintf("%s/dsave/abc", f->root);
    assert_int_equal(vx_fs_mkdirs(p, 0755, NULL), 0);
    free(p);
    p = vx_xasprintf("%s/dsave/abc/layer.tar", f->root);
    write_file(p, plain, pn);
    free(p);
    p = vx_xasprintf("%s/dsave/%s.json", f->root, f->config_d + 7);
    write_file(p, cfg, strlen(cfg));
    free(p);
    cd = vx_xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":[\"example.com/t:1\",\"t:2\"],"
                      "\"Layers\":[\"abc/layer.tar\"]}]",
                      f->config_d + 7);
    p = vx_xasprintf("%s/dsave/manifest.json", f->root);
    write_file(p, cd, strlen(cd));
    free(p);
    free(cd);
    p = vx_xasprintf("cd '%s/dsave' && tar -cf ../docker.tar manifest.json *.json abc && "
                     "cd ../lay && tar -cf ../oci.tar oci-layout index.json blobs",
                     f->root);
    assert_int_equal(system(p), 0);
    free(p);

    free(layer);
    free(plain);
    free(cfg);
    free(man);
    free(arm_cfg);
    free(arm_man);
    free(arm_cd);
    free(idx);
    free(top);
    free(diff);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    vx_fs_remove_tree(f->root, NULL);
    free(f->lay);
    free(f->cache);
    free(f->layer_d);
    free(f->config_d);
    free(f->man_d);
    free(f->arm_man_d);
    free(f->index_d);
    free(f);
    return 0;
}

static int pull(struct fx *f, const char *srcfmt, const char *platform, const char *expect,
                struct vx_image **img, struct vx_err **err)
{
    struct vx_image_opts o = {.cache_dir = f->cache, .platform = platform};
    struct vx_image_source src;
    const char *mark = strstr(srcfmt, "%s"); /* the test root goes there */
    char *s = vx_xasprintf("%.*s%s%s", (int)(mark - srcfmt), srcfmt, f->root, mark + 2);
    int rc;

    *img = NULL;
    rc = vx_image_source_parse(s, &src, err);
    free(s);
    if (rc < 0)
        return rc;
    rc = vx_image_pull(&src, expect, &o, img, err);
    vx_image_source_release(&src);
    return rc;
}

static void check_tiny(struct fx *f, struct vx_image *img)
{
    struct stat st;

    assert_string_equal(img->manifest_digest, f->man_d);
    assert_string_equal(img->config_digest, f->config_d);
    assert_string_equal(img->platform, "linux/amd64");
    assert_int_equal(img->n_layers, 1);
    assert_int_equal(stat(img->layers[0].blob_path, &st), 0);
    assert_int_equal(st.st_size, img->layers[0].size);
    assert_int_equal(img->config.n_cmd, 3);
    assert_string_equal(img->config.cmd[0], "/bin/sh");
    assert_int_equal(img->config.n_entrypoint, 0);
    assert_string_equal(img->config.working_dir, "/srv");
    assert_string_equal(img->config.user, "1000");
    assert_int_equal(img->config.n_exposed_ports, 2); /* 80/tcp and 8443; udp ignored */
    assert_int_equal(img->config.n_labels, 1);
    assert_string_equal(img->config.labels[0], "a=b");
}

static void test_layout(void **state)
{
    struct fx *f = *state;
    struct vx_image *img;
    struct vx_err *err = NULL;

    assert_int_equal(pull(f, "oci:%s/lay:v1", NULL, NULL, &img, &err), 0);
    check_tiny(f, img);
    assert_null(img->index_digest);
    assert_string_equal(img->layers[0].digest, f->layer_d);
    vx_image_free(img);
    /* two images and no tag: an error naming the tags */
    assert_int_equal(pull(f, "oci:%s/lay", NULL, NULL, &img, &err), -VX_E_INVALID);
    assert_non_null(strstr(err->msg, "'multi'"));
    vx_err_free(&err);
    assert_int_equal(pull(f, "oci:%s/lay:nope", NULL, NULL, &img, &err), -VX_E_NOT_FOUND);
    assert_non_null(strstr(err->msg, "'v1'"));
    vx_err_free(&err);
    assert_int_equal(pull(f, "oci:%s/missing", NULL, NULL, &img, &err), -VX_E_NOT_FOUND);
    vx_err_free(&err);
}

static void test_platforms(void **state)
{
    struct fx *f = *state;
    struct vx_image *img;
    struct vx_err *err = NULL;

    assert_int_equal(pull(f, "oci:%s/lay:multi", NULL, NULL, &img, &err), 0);
    check_tiny(f, img);
    assert_string_equal(img->index_digest, f->index_d);
    vx_image_free(img);
    assert_int_equal(pull(f, "oci:%s/lay:multi", "linux/arm64", NULL, &img, &err), 0);
    assert_string_equal(img->manifest_digest, f->arm_man_d);
    assert_string_equal(img->platform, "linux/arm64");
    vx_image_free(img);
    assert_int_equal(pull(f, "oci:%s/lay:multi", "linux/arm64/v8", NULL, &img, &err), 0);
    assert_string_equal(img->manifest_digest, f->arm_man_d);
    vx_image_free(img);
    assert_int_equal(pull(f, "oci:%s/lay:multi", "linux/arm64/v7", NULL, &img, &err),
                     -VX_E_NOT_FOUND);
    vx_err_free(&err);
    assert_int_equal(pull(f, "oci:%s/lay:multi", "linux/s390x", NULL, &img, &err), -VX_E_NOT_FOUND);
    assert_non_null(strstr(err->msg, "available: linux/amd64, linux/arm64/v8"));
    vx_err_free(&err);
    assert_int_equal(pull(f, "oci:%s/lay:multi", "linux", NULL, &img, &err), -VX_E_INVALID);
    vx_err_free(&err);
}

static void test_expected_digest(void **state)
{
    struct fx *f = *state;
    struct vx_image *img;
    struct vx_err *err = NULL;
    const char *zero = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    assert_int_equal(pull(f, "oci:%s/lay:v1", NULL, f->man_d, &img, &err), 0);
    vx_image_free(img);
    assert_int_equal(pull(f, "oci:%s/lay:multi", NULL, f->index_d, &img, &err), 0);
    vx_image_free(img);
    assert_int_equal(pull(f, "oci:%s/lay:multi", NULL, f->man_d, &img, &err), 0);
    vx_image_free(img);
    assert_int_equal(pull(f, "oci:%s/lay:multi", NULL, zero, &img, &err), -VX_E_UNPROCESSABLE);
    assert_non_null(strstr(err->msg, "image digest mismatch: expected sha256:0000"));
    assert_non_null(strstr(err->msg, f->index_d));
    assert_non_null(strstr(err->msg, f->man_d));
    assert_null(img);
    vx_err_free(&err);
    assert_int_equal(pull(f, "oci:%s/lay:v1", NULL, "sha256:abc", &img, &err), -VX_E_INVALID);
    vx_err_free(&err);
}

static void test_corrupt_blob(void **state)
{
    struct fx *f = *state;
    struct vx_image *img;
    struct vx_err *err = NULL;
    char *p = vx_xasprintf("%s/blobs/sha256/%s", f->lay, f->layer_d + 7), *cp;
    char *junk = vx_xcalloc(1, (size_t)f->layer_n);

    /* pull once: cached */
    assert_int_equal(pull(f, "oci:%s/lay:v1", NULL, NULL, &img, &err), 0);
    cp = vx_xstrdup(img->layers[0].blob_path);
    vx_image_free(img);
    write_file(p, junk, (size_t)f->layer_n);
    /* the verified cache still serves it */
    assert_int_equal(pull(f, "oci:%s/lay:v1", NULL, NULL, &img, &err), 0);
    vx_image_free(img);
    /* a corrupted cache entry is noticed, dropped and fetched again: from the bad layout */
    write_file(cp, junk, (size_t)f->layer_n);
    assert_int_equal(pull(f, "oci:%s/lay:v1", NULL, NULL, &img, &err), -VX_E_UNPROCESSABLE);
    assert_non_null(strstr(err->msg, f->layer_d));
    assert_non_null(strstr(err->msg, "does not match its digest"));
    assert_int_equal(access(cp, F_OK), -1); /* nothing unverified left in the cache */
    vx_err_free(&err);
    /* a corrupt manifest */
    free(p);
    p = vx_xasprintf("%s/blobs/sha256/%s", f->lay, f->man_d + 7);
    write_file(p, "{}", 2);
    assert_int_equal(pull(f, "oci:%s/lay:v1", NULL, NULL, &img, &err), -VX_E_UNPROCESSABLE);
    assert_non_null(strstr(err->msg, f->man_d));
    vx_err_free(&err);
    free(junk);
    free(cp);
    free(p);
}

static void test_oci_archive(void **state)
{
    struct fx *f = *state;
    struct vx_image *img;
    struct vx_err *err = NULL;

    assert_int_equal(pull(f, "oci-archive:%s/oci.tar:v1", NULL, f->man_d, &img, &err), 0);
    check_tiny(f, img);
    vx_image_free(img);
    assert_int_equal(pull(f, "oci-archive:%s/oci.tar:multi", "linux/arm64", NULL, &img, &err), 0);
    assert_string_equal(img->manifest_digest, f->arm_man_d);
    vx_image_free(img);
    assert_int_equal(pull(f, "oci-archive:%s/nothere.tar", NULL, NULL, &img, &err),
                     -VX_E_NOT_FOUND);
    vx_err_free(&err);
}

static void test_docker_archive(void **state)
{
    struct fx *f = *state;
    struct vx_image *img;
    struct vx_err *err = NULL;
    const char *zero = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

    assert_int_equal(pull(f, "docker-archive:%s/docker.tar", NULL, NULL, &img, &err), 0);
    assert_string_equal(img->config_digest, f->config_d);
    assert_null(img->index_digest);
    assert_non_null(img->manifest_digest);
    assert_int_equal(img->n_layers, 1);
    assert_string_equal(img->layers[0].media_type, "application/vnd.docker.image.rootfs.diff.tar");
    assert_int_equal(img->config.n_exposed_ports, 2);
    vx_image_free(img);
    /* the image ID is the digest that identifies a docker-archive image */
    assert_int_equal(
        pull(f, "docker-archive:%s/docker.tar:example.com/t:1", NULL, f->config_d, &img, &err), 0);
    vx_image_free(img);
    assert_int_equal(
        pull(f, "docker-archive:%s/docker.tar:docker.io/library/t:2", NULL, NULL, &img, &err), 0);
    vx_image_free(img);
    assert_int_equal(pull(f, "docker-archive:%s/docker.tar:t:3", NULL, NULL, &img, &err),
                     -VX_E_NOT_FOUND);
    assert_non_null(strstr(err->msg, "'t:2'"));
    vx_err_free(&err);
    assert_int_equal(pull(f, "docker-archive:%s/docker.tar", NULL, zero, &img, &err),
                     -VX_E_UNPROCESSABLE);
    assert_non_null(strstr(err->msg, f->config_d));
    vx_err_free(&err);
    /* an OCI archive is not docker save output */
    assert_int_equal(pull(f, "docker-archive:%s/oci.tar", NULL, NULL, &img, &err),
                     -VX_E_UNPROCESSABLE);
    assert_non_null(strstr(err->msg, "manifest.json"));
    vx_err_free(&err);
}

static void test_docker_archive_bad_layer(void **state)
{
    struct fx *f = *state;
    struct vx_image *img;
    struct vx_err *err = NULL;
    char *p = vx_xasprintf("%s/dsave/abc/layer.tar", f->root);
    void *other;
    size_t on;

    make_layer("tampered\n", false, &other, &on);
    write_file(p, other, on);
    free(p);
    p = vx_xasprintf("cd '%s/dsave' && tar -cf ../docker2.tar manifest.json *.json abc", f->root);
    assert_int_equal(system(p), 0);
    assert_int_equal(pull(f, "docker-archive:%s/docker2.tar", NULL, NULL, &img, &err),
                     -VX_E_UNPROCESSABLE);
    assert_non_null(strstr(err->msg, "but the config says"));
    vx_err_free(&err);
    free(p);
    free(other);
}

static void test_config_parse(void **state)
{
    struct vx_image_config c;
    struct vx_err *err = NULL;
    const char *bad[] = {
        "[]",
        "{\"config\":[]}",
        "{\"config\":{\"Cmd\":\"sh\"}}",
        "{\"config\":{\"Env\":[1]}}",
        "{\"os\":7}",
        "not json",
    };

    (void)state;
    for (size_t i = 0; i < VX_ARRAY_SIZE(bad); i++) {
        assert_true(vx_image_config_parse(bad[i], strlen(bad[i]), &c, &err) < 0);
        vx_err_free(&err);
    }
    assert_int_equal(vx_image_config_parse("{}", 2, &c, NULL), 0);
    assert_null(c.os);
    vx_image_config_release(&c);
    {
        const char *j = "{\"config\":{\"ExposedPorts\":{\"x/tcp\":{},\"70000/tcp\":{},"
                        "\"22/tcp\":{},\"1/sctp\":{}}}}";

        assert_int_equal(vx_image_config_parse(j, strlen(j), &c, NULL), 0);
    }
    assert_int_equal(c.n_exposed_ports, 1);
    assert_int_equal(c.exposed_ports[0], 22);
    vx_image_config_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_platforms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expected_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oci_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docker_archive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_docker_archive_bad_layer, setup, teardown),
        cmocka_unit_test(test_config_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
