/* test_vex.c -- the document writers: shape, determinism, statuses, signing. The official
 * schemas are checked by tests/integration/test_vex_schemas.py. */
#include "common/setup.h"

#include <setjmp.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include "vex/vex.h"
#include "common/err.h"
#include "common/json.h"
#include "vex_sample.h"

static json_t *parse(const char *text)
{
    json_t *v = NULL;
    struct vx_err *err = NULL;

    assert_int_equal(vx_json_parse(text, strlen(text), &v, &err), 0);
    return v;
}

static void test_openvex_shape(void **state)
{
    char *a = vx_vex_openvex(&sample_doc), *b = vx_vex_openvex(&sample_doc);
    json_t *d = parse(a), *st, *s0, *prod;

    (void)state;
    assert_string_equal(a, b); /* deterministic */
    assert_string_equal(vx_json_str(d, "@context"), "https://openvex.dev/ns/v0.2.0");
    st = json_object_get(d, "statements");
    assert_int_equal(json_array_size(st), 5);
    s0 = json_array_get(st, 0);
    assert_string_equal(vx_json_str(s0, "status"), "affected");
    assert_non_null(vx_json_str(s0, "action_statement"));
    assert_string_equal(vx_json_str(json_object_get(s0, "vulnerability"), "name"), "CVE-2024-0727");
    prod = json_object_get(s0, "products");
    assert_int_equal(json_array_size(prod), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(prod, 0), "subcomponents")), 2);
    assert_string_equal(vx_json_str(json_array_get(st, 1), "justification"),
                        "vulnerable_code_not_in_execute_path");
    assert_string_equal(vx_json_str(json_array_get(st, 2), "justification"),
                        "component_not_present");
    assert_null(json_object_get(json_array_get(st, 3), "justification"));
    /* statement ids are stable and distinct */
    assert_string_not_equal(vx_json_str(s0, "@id"), vx_json_str(json_array_get(st, 1), "@id"));
    json_decref(d);
    free(a);
    free(b);
}

static void test_cyclonedx_and_csaf(void **state)
{
    char *c = vx_vex_cyclonedx(&sample_doc, "3b8a3e4c-5a0f-4f39-9a57-0b6f0c1e2d3f");
    char *s = vx_vex_csaf(&sample_doc);
    json_t *cd = parse(c), *cs = parse(s), *v;

    (void)state;
    v = json_object_get(cd, "vulnerabilities");
    assert_int_equal(json_array_size(v), 5);
    assert_string_equal(vx_json_str(json_object_get(json_array_get(v, 0), "analysis"), "state"),
                        "exploitable");
    assert_string_equal(
        vx_json_str(json_object_get(json_array_get(v, 1), "analysis"), "justification"),
        "code_not_reachable");
    /* components de-duplicated: ssl x2, curl, libxml2, go */
    assert_int_equal(json_array_size(json_object_get(cd, "components")), 5);
    v = json_object_get(cs, "vulnerabilities");
    assert_int_equal(json_array_size(v), 5);
    assert_non_null(json_object_get(json_object_get(json_array_get(v, 1), "product_status"),
                                    "known_not_affected"));
    assert_non_null(json_object_get(json_array_get(v, 0), "remediations"));
    assert_non_null(json_object_get(json_array_get(v, 3), "ids")); /* GO- id is not a cve */
    json_decref(cd);
    json_decref(cs);
    free(c);
    free(s);
}

static void write_key(EVP_PKEY *k, const char *path, bool priv)
{
    FILE *f = fopen(path, "we");

    assert_non_null(f);
    assert_int_equal(
        priv ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, k), 1);
    fclose(f);
}

static void test_sign_verify(void **state)
{
    char dir[] = "/tmp/vx-vex-XXXXXX", priv[4200], pub[4200], other[4200];
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *k2 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    struct vx_err *err = NULL;
    char *doc = vx_vex_openvex(&sample_doc), *env = NULL, *bad;
    json_t *e;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(priv, sizeof(priv), "%s/k.pem", dir);
    snprintf(pub, sizeof(pub), "%s/k.pub", dir);
    snprintf(other, sizeof(other), "%s/o.pub", dir);
    write_key(k1, priv, true);
    write_key(k1, pub, false);
    write_key(k2, other, false);
    assert_int_equal(vx_vex_sign(doc, &sample_doc, priv, &env, &err), 0);
    assert_int_equal(vx_vex_verify(env, pub, &err), 0);
    assert_true(vx_vex_verify(env, other, &err) < 0);
    vx_err_free(&err);
    /* a changed payload no longer verifies */
    e = parse(env);
    json_object_set_new(e, "payload", json_string("e30="));
    bad = vx_json_dump(e);
    assert_true(vx_vex_verify(bad, pub, &err) < 0);
    vx_err_free(&err);
    /* the public key is not a signing key */
    free(bad);
    bad = NULL;
    assert_true(vx_vex_sign(doc, &sample_doc, pub, &bad, &err) < 0);
    vx_err_free(&err);
    json_decref(e);
    free(bad);
    free(env);
    free(doc);
    unlink(priv);
    unlink(pub);
    unlink(other);
    rmdir(dir);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openvex_shape),
        cmocka_unit_test(test_cyclonedx_and_csaf),
        cmocka_unit_test(test_sign_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
