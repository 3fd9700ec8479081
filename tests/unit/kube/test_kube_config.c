/* test_kube_config.c -- the Kubernetes client without a server: kubeconfig files written by
 * the test (contexts, -data fields, tokenFile, errors naming the field), the in-cluster
 * service account through opts.serviceaccount_dir, namespace resolution, base64, and the
 * mapping of API Status answers to vexxy codes. */
#include "common/setup.h"

#include <setjmp.h> /* cmocka needs it */
#include <cmocka.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/kube.h"
#include "kube/kube_int.h" /* struct vx_kube: what was loaded */
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"

struct fx {
    char dir[64];
};

static int setup(void **state)
{
    struct fx *f = vx_xcalloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/vx_kube_test.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    /* no kubeconfig of the machine's user may leak in */
    setenv("HOME", f->dir, 1);
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    vx_fs_remove_tree(f->dir, NULL);
    free(f);
    return 0;
}

static char *write_file(struct fx *f, const char *name, const char *text)
{
    char *p = vx_xasprintf("%s/%s", f->dir, name);
    FILE *fp = fopen(p, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return p;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Opens 'text' as a kubeconfig; returns rc, *k or *err set. */
static int open_text(struct fx *f, const char *text, const char *context, const char *ns,
                     struct vx_kube **k, struct vx_err **err)
{
    char *p = write_file(f, "config", text);
    struct vx_kube_options o = {.kubeconfig = p, .context = context, .namespace_ = ns};
    int rc = vx_kube_open(&o, k, err);

    free(p);
    return rc;
}

#define TWO_CONTEXTS                                                                               \
    "apiVersion: v1\n"                                                                             \
    "kind: Config\n"                                                                               \
    "current-context: a\n"                                                                         \
    "clusters:\n"                                                                                  \
    "- name: ca\n"                                                                                 \
    "  cluster:\n"                                                                                 \
    "    server: https://kube-a.example:6443/\n"                                                   \
    "- name: cb\n"                                                                                 \
    "  cluster: {server: 'https://10.1.2.3', certificate-authority: ca-b.crt}\n"                   \
    "users:\n"                                                                                     \
    "- name: ua\n"                                                                                 \
    "  user:\n"                                                                                    \
    "    token: tok-a\n"                                                                           \
    "- name: ub\n"                                                                                 \
    "  user: {tokenFile: tokens/b}\n"                                                              \
    "contexts:\n"                                                                                  \
    "- name: a\n"                                                                                  \
    "  context: {cluster: ca, user: ua, namespace: ns-a}\n"                                        \
    "- name: b\n"                                                                                  \
    "  context:\n"                                                                                 \
    "    cluster: cb\n"                                                                            \
    "    user: ub\n"

static void test_contexts(void **state)
{
    struct fx *f = *state;
    struct vx_kube *k = NULL;
    struct vx_err *err = NULL;
    char *ca, *tok, *tokdir = vx_xasprintf("%s/tokens", f->dir);

    mkdir(tokdir, 0700);
    ca = write_file(f, "ca-b.crt", "not really a pem\n");
    tok = write_file(f, "tokens/b", "tok-b-from-file\n");

    /* current-context */
    assert_int_equal(open_text(f, TWO_CONTEXTS, NULL, NULL, &k, &err), 0);
    assert_string_equal(vx_kube_server(k), "https://kube-a.example:6443");
    assert_string_equal(vx_kube_namespace(k), "ns-a");
    assert_string_equal(k->token, "tok-a");
    assert_null(k->ca.file);
    assert_false(k->plain_http);
    vx_kube_close(k);

    /* a named context: relative CA and tokenFile paths, namespace "default" */
    assert_int_equal(open_text(f, TWO_CONTEXTS, "b", NULL, &k, &err), 0);
    assert_string_equal(vx_kube_server(k), "https://10.1.2.3");
    assert_string_equal(vx_kube_namespace(k), "default");
    assert_string_equal(k->ca.file, ca);
    assert_string_equal(k->token_file, tok);
    assert_string_equal(k->token, "tok-b-from-file"); /* newline trimmed */
    vx_kube_close(k);

    /* opts.namespace_ wins over the context's */
    assert_int_equal(open_text(f, TWO_CONTEXTS, "a", "other", &k, &err), 0);
    assert_string_equal(vx_kube_namespace(k), "other");
    vx_kube_close(k);

    /* an invalid namespace is refused */
    assert_int_equal(open_text(f, TWO_CONTEXTS, "a", "Bad_NS", &k, &err), -VX_E_INVALID);
    assert_non_null(strstr(err->msg, "Bad_NS"));
    vx_err_free(&err);

    /* unknown context */
    assert_int_equal(open_text(f, TWO_CONTEXTS, "nope", NULL, &k, &err), -VX_E_INVALID);
    assert_non_null(strstr(err->msg, "'nope'"));
    assert_non_null(strstr(err->msg, "contexts"));
    vx_err_free(&err);

    /* unreadable tokenFile names the field */
    unlink(tok);
    assert_int_equal(open_text(f, TWO_CONTEXTS, "b", NULL, &k, &err), -VX_E_INVALID);
    assert_non_null(strstr(err->msg, "users[1].user.tokenFile"));
    vx_err_free(&err);
    free(ca);
    free(tok);
    free(tokdir);
}

/* base64 of "-----CA-----\n", "-----CERT-----\n", "-----KEY-----\n" */
#define DATA_CONFIG                                                                                \
    "apiVersion: v1\n"                                                                             \
    "current-context: d\n"                                                                         \
    "clusters:\n"                                                                                  \
    "- name: c\n"                                                                                  \
    "  cluster:\n"                                                                                 \
    "    server: https://127.0.0.1:6443\n"                                                         \
    "    certificate-authority: /nonexistent/ignored-when-data-is-set\n"                           \
    "    certificate-authority-data: LS0tLS1DQS0tLS0tCg==\n"                                       \
    "users:\n"                                                                                     \
    "- name: u\n"                                                                                  \
    "  user:\n"                                                                                    \
    "    client-certificate-data: |\n"                                                             \
    "      LS0tLS1DRVJU\n"                                                                         \
    "      LS0tLS0K\n"                                                                             \
    "    client-key-data: LS0tLS1LRVktLS0tLQo=\n"                                                  \
    "contexts:\n"                                                                                  \
    "- name: d\n"                                                                                  \
    "  context: {cluster: c, user: u, namespace: vexxy-sandbox}\n"

static void test_data_fields(void **state)
{
    struct fx *f = *state;
    struct vx_kube *k = NULL;
    struct vx_err *err = NULL;

    assert_int_equal(open_text(f, DATA_CONFIG, NULL, NULL, &k, &err), 0);
    assert_null(k->ca.file);
    assert_int_equal(k->ca.len, strlen("-----CA-----\n"));
    assert_memory_equal(k->ca.data, "-----CA-----\n", k->ca.len);
    assert_null(k->cert.file);
    assert_int_equal(k->cert.len, strlen("-----CERT-----\n"));
    assert_memory_equal(k->cert.data, "-----CERT-----\n", k->cert.len);
    assert_int_equal(k->key.len, strlen("-----KEY-----\n"));
    assert_memory_equal(k->key.data, "-----KEY-----\n", k->key.len);
    assert_null(k->token);
    assert_string_equal(vx_kube_namespace(k), "vexxy-sandbox");
    vx_kube_close(k);
    assert_int_equal(count_files(f->dir), 1); /* only the kubeconfig: nothing written */
}

static const struct {
    const char *yaml, *needle;
    int code;
} bad[] = {
    {"apiVersion: v1\nclusters: [\n  - {name: x\n", "line", VX_E_INVALID},
    {"", "empty", VX_E_INVALID},
    {"- just\n- a list\n", "not a mapping", VX_E_INVALID},
    {"clusters: []\ncontexts: []\n", "current-context", VX_E_INVALID},
    {"current-context: [a]\n", "'current-context' is not a string", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n"
     "  cluster: {server: [https://a]}\n",
     "'clusters[0].cluster.server' is not a string", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n"
     "  cluster: {}\n",
     "'clusters[0].cluster.server' is missing", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n"
     "  cluster: {server: 'http://kube.example'}\n",
     "must be https", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n"
     "  cluster: {server: 'http://127.0.0.1.example.com:80'}\n",
     "must be https", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n"
     "  cluster: {server: 'https://a', insecure-skip-tls-verify: true}\n",
     "'clusters[0].cluster.insecure-skip-tls-verify'", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n"
     "  cluster: {server: 'https://a', certificate-authority-data: 'no!base64'}\n",
     "'clusters[0].cluster.certificate-authority-data' is not valid base64", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n"
     "  cluster: {server: 'https://a', certificate-authority: missing.crt}\n",
     "'clusters[0].cluster.certificate-authority'", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n"
     "- name: c\n  cluster: {server: 'https://a'}\nusers:\n- name: u\n  user:\n    exec: {}\n",
     "'users[0].user.exec' is not supported", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n"
     "- name: c\n  cluster: {server: 'https://a'}\nusers:\n- name: u\n  user:\n"
     "    client-certificate-data: QUJD\n",
     "'users[0].user.client-key' is missing", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: nobody}\n"
     "clusters:\n- name: c\n  cluster: {server: 'https://a'}\n",
     "no entry named 'nobody' in 'users'", VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: 7\n", "'contexts[0].context'",
     VX_E_INVALID},
    {"current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n"
     "  cluster: {server: 'https://a', token: [1]}\n",
     NULL, 0}, /* unknown fields of any type are ignored */
    {"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
     "alias bomb", VX_E_TOO_LARGE},
};

static void test_bad_configs(void **state)
{
    struct fx *f = *state;

    for (size_t i = 0; i < VX_ARRAY_SIZE(bad); i++) {
        struct vx_kube *k = NULL;
        struct vx_err *err = NULL;
        int rc = open_text(f, bad[i].yaml, NULL, NULL, &k, &err);

        if (!bad[i].needle) {
            assert_int_equal(rc, 0);
            vx_kube_close(k);
            continue;
        }
        if (rc == 0 || !strstr(err->msg, bad[i].needle) || !strstr(err->msg, "kubeconfig '"))
            fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc, err ? err->msg : "(none)",
                     bad[i].needle);
        assert_int_equal(rc, -bad[i].code);
        vx_err_free(&err);
    }
}

static void test_missing_current_context_field(void **state)
{
    struct fx *f = *state;
    struct vx_kube *k = NULL;
    struct vx_err *err = NULL;

    assert_int_equal(open_text(f, "apiVersion: v1\nkind: Config\n", NULL, NULL, &k, &err),
                     -VX_E_INVALID);
    assert_string_equal(err->field, "current-context");
    vx_err_free(&err);
    /* a context given by name does not need current-context */
    assert_int_equal(
        open_text(f,
                  "contexts:\n- name: x\n  context: {cluster: c}\n"
                  "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:8080'}\n",
                  "x", NULL, &k, &err),
        0);
    assert_true(k->plain_http); /* plain http is fine to loopback (tests) */
    vx_kube_close(k);
}

static void test_kubeconfig_env(void **state)
{
    struct fx *f = *state;
    struct vx_kube *k = NULL;
    struct vx_err *err = NULL;
    char *p = write_file(f, "second", TWO_CONTEXTS), *list;

    list = vx_xasprintf("%s/absent:%s", f->dir, p);
    setenv("KUBECONFIG", list, 1);
    assert_int_equal(vx_kube_open(NULL, &k, &err), 0);
    assert_string_equal(vx_kube_namespace(k), "ns-a");
    assert_non_null(strstr(k->source, "second"));
    vx_kube_close(k);
    unsetenv("KUBECONFIG");
    free(list);
    free(p);
}

static void test_in_cluster(void **state)
{
    struct fx *f = *state;
    struct vx_kube_options o = {.serviceaccount_dir = f->dir};
    struct vx_kube *k = NULL;
    struct vx_err *err = NULL;
    char *a, *b, *c;

    /* no kubeconfig anywhere and no KUBERNETES_SERVICE_HOST */
    assert_int_equal(vx_kube_open(&o, &k, &err), -VX_E_INVALID);
    assert_non_null(strstr(err->msg, "KUBERNETES_SERVICE_HOST"));
    vx_err_free(&err);

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    /* no token yet */
    assert_true(vx_kube_open(&o, &k, &err) < 0);
    assert_non_null(strstr(err->msg, "token"));
    vx_err_free(&err);

    a = write_file(f, "token", "sa-token\n");
    b = write_file(f, "ca.crt", "pem\n");
    c = write_file(f, "namespace", "vexxy-sandbox\n");
    assert_int_equal(vx_kube_open(&o, &k, &err), 0);
    assert_string_equal(vx_kube_server(k), "https://10.96.0.1:443");
    assert_string_equal(vx_kube_namespace(k), "vexxy-sandbox");
    assert_string_equal(k->token, "sa-token");
    assert_string_equal(k->ca.file, b);
    vx_kube_close(k);

    /* IPv6 service host; opts.namespace_ over the file */
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    o.namespace_ = "jobs";
    assert_int_equal(vx_kube_open(&o, &k, &err), 0);
    assert_string_equal(vx_kube_server(k), "https://[fd00::1]:443");
    assert_string_equal(vx_kube_namespace(k), "jobs");
    vx_kube_close(k);

    /* no namespace file -> "default" */
    unlink(c);
    o.namespace_ = NULL;
    assert_int_equal(vx_kube_open(&o, &k, &err), 0);
    assert_string_equal(vx_kube_namespace(k), "default");
    vx_kube_close(k);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    free(a);
    free(b);
    free(c);
}

static void test_base64(void **state)
{
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"", ""},    {"QQ==", "A"},        {"QUI=", "AB"}, {"QUJD", "ABC"}, {"QUJD\nRA==", "ABCD"},
        {"QQ", "A"}, {" Q U J D ", "ABC"},
    };
    static const char *const ko[] = {"Q", "QQ=A", "QUJD!", "QQ===", "Q=Q="};
    char *out;
    size_t len;

    (void)state;
    for (size_t i = 0; i < VX_ARRAY_SIZE(ok); i++) {
        assert_int_equal(vx_kube_base64_decode(ok[i].in, &out, &len), 0);
        assert_int_equal(len, strlen(ok[i].out));
        assert_memory_equal(out, ok[i].out, len);
        free(out);
    }
    for (size_t i = 0; i < VX_ARRAY_SIZE(ko); i++) {
        if (vx_kube_base64_decode(ko[i], &out, &len) == 0)
            fail_msg("'%s' decoded", ko[i]);
    }
}

static void test_status_mapping(void **state)
{
    static const struct {
        long status;
        const char *body, *needle;
        int code;
    } cases[] = {
        {401,
         "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
         "\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}",
         "401 Unauthorized: Unauthorized", VX_E_UNAUTHORIZED},
        {403,
         "{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"message\":\"jobs.batch is forbidden: "
         "User \\\"x\\\" cannot create resource \\\"jobs\\\"\"}",
         "cannot create resource", VX_E_FORBIDDEN},
        {403,
         "{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"message\":\"pods \\\"p\\\" is "
         "forbidden: exceeded quota: compute, requested: cpu=2\"}",
         "exceeded quota: compute", VX_E_QUOTA},
        {404,
         "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"message\":\"jobs.batch \\\"j\\\" "
         "not found\"}",
         "404 NotFound: jobs.batch \"j\" not found", VX_E_NOT_FOUND},
        {409, "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"message\":\"exists\"}",
         "409 AlreadyExists", VX_E_CONFLICT},
        {410, "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":\"too old\"}", "410",
         VX_E_CONFLICT},
        {422, "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"spec.x: bad\"}",
         "spec.x: bad", VX_E_UNPROCESSABLE},
        {503, "upstream \x01 down", "503: upstream   down", VX_E_UNAVAILABLE},
        {429, "", "(no body)", VX_E_UNAVAILABLE},
        {400, "{\"kind\":\"Status\",\"message\":\"container c is not valid\"}", "not valid",
         VX_E_INVALID},
    };

    (void)state;
    for (size_t i = 0; i < VX_ARRAY_SIZE(cases); i++) {
        struct vx_err *err = NULL;
        int rc = vx_kube_status_err(cases[i].status, cases[i].body, strlen(cases[i].body),
                                    "kubernetes GET /x", &err);

        assert_int_equal(rc, -cases[i].code);
        if (!strstr(err->msg, cases[i].needle) || strncmp(err->msg, "kubernetes GET /x: ", 19))
            fail_msg("case %zu: '%s' lacks '%s'", i, err->msg, cases[i].needle);
        vx_err_free(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_contexts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_current_context_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster, setup, teardown),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_status_mapping),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
