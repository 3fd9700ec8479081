/* test_auth.c -- unit tests of src/auth: base64url, JWT (HS256/RS256) verification and its
 * attacks, bearer parsing, API keys against a real SQLite store, and the principal cache. */
#include "common/setup.h"

#include <pthread.h>
#include <setjmp.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "auth/auth.h"
#include "auth/auth_int.h" /* for vx_b64url_*(), the caps */
#include "common/alloc.h"
#include "common/err.h"
#include "common/util.h"
#include "store/store.h"

#define SECRET "0123456789abcdef0123456789abcdef-test"

struct fixture {
    char dir[256];
    char url[300];
    struct vx_store *store;
    char *priv_pem, *pub_pem;
};

static struct fixture fx;

static char *bio_text(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);

    return vx_xstrndup(data, (size_t)n);
}

static int group_setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    EVP_PKEY *key = EVP_RSA_gen(2048);
    BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
    struct vx_err *err = NULL;

    if (!key || !PEM_write_bio_PrivateKey(priv, key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_PUBKEY(pub, key))
        return -1;
    fx.priv_pem = bio_text(priv);
    fx.pub_pem = bio_text(pub);
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(key);

    snprintf(fx.dir, sizeof(fx.dir), "%s/vx_auth_test_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx.dir))
        return -1;
    snprintf(fx.url, sizeof(fx.url), "sqlite:%s/store.db", fx.dir);
    if (vx_store_open(fx.url, NULL, &fx.store, &err) < 0) {
        fprintf(stderr, "store: %s\n", err->msg);
        vx_err_free(&err);
        return -1;
    }
    if (vx_store_org_create(fx.store, "org-a", "Org A", "pro", 100, NULL, &err) < 0) {
        fprintf(stderr, "org: %s\n", err->msg);
        vx_err_free(&err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    char path[300];

    vx_store_close(fx.store);
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < VX_ARRAY_SIZE(suffixes); i++) {
        snprintf(path, sizeof(path), "%s/store.db%s", fx.dir, suffixes[i]);
        unlink(path);
    }
    rmdir(fx.dir);
    free(fx.priv_pem);
    free(fx.pub_pem);
    return 0;
}

static int64_t now_s(void)
{
    return vx_now_ms() / 1000;
}

static struct vx_auth_config hs_cfg(void)
{
    struct vx_auth_config c = {0};

    c.jwt_hs256_secret = SECRET;
    c.jwt_issuer = "https://issuer.example";
    c.jwt_audience = "vexxy";
    c.leeway_s = 30;
    c.default_jobs_per_month = 50;
    return c;
}

/* Signs claims with HS256 (SECRET). Caller frees. */
static char *hs_token(const char *claims)
{
    struct vx_err *err = NULL;
    char *tok = NULL;
    int rc = vx_jwt_sign_hs256(SECRET, claims, &tok, &err);

    if (rc < 0)
        fail_msg("sign: %s", err->msg);
    return tok;
}

static char *claims_std(int64_t exp_delta)
{
    return vx_xasprintf("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":%" PRId64
                        ",\"iat\":%" PRId64 ",\"org\":\"acme\",\"tier\":\"pro\",\"sub\":\"ci\"}",
                        now_s() + exp_delta, now_s());
}

/* Verifies and returns the code; if msg is set, the error message must equal it. */
static int verify(const struct vx_auth_config *cfg, const char *tok, const char *msg)
{
    struct vx_principal p;
    struct vx_err *err = NULL;
    int rc = vx_jwt_verify(cfg, tok, now_s(), &p, &err);

    if (msg) {
        assert_non_null(err);
        assert_string_equal(err->msg, msg);
        assert_int_equal(rc, -VX_E_UNAUTHORIZED);
    }
    vx_err_free(&err);
    return rc;
}

/* ---- base64url --------------------------------------------------------------------------- */

static void test_b64url(void **state)
{
    unsigned char in[40], out[64];

    for (size_t n = 0; n < sizeof(in); n++) {
        char *e;

        in[n] = (unsigned char)(n * 37 + 11);
        e = vx_b64url_encode(in, n);
        assert_null(strchr(e, '='));
        assert_int_equal(vx_b64url_decode(e, strlen(e), out, sizeof(out)), (long)n);
        assert_memory_equal(in, out, n);
        free(e);
    }
    assert_int_equal(vx_b64url_decode("_-8", 3, out, sizeof(out)), 2);
    assert_int_equal(vx_b64url_decode("AA==", 4, out, sizeof(out)), -1);  /* padding */
    assert_int_equal(vx_b64url_decode("ab+/", 4, out, sizeof(out)), -1);  /* std alphabet */
    assert_int_equal(vx_b64url_decode("abcde", 5, out, sizeof(out)), -1); /* 1 mod 4 */
    assert_int_equal(vx_b64url_decode("AB", 2, out, sizeof(out)), -1);    /* stray bits */
    assert_int_equal(vx_b64url_decode("ab c", 4, out, sizeof(out)), -1);
    assert_int_equal(vx_b64url_decode("AAAAAAAA", 8, out, 5), -2); /* over max */
}

/* ---- JWT ----------------------------------------------------------------------------------- */

static void test_hs256_good(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    struct vx_principal p;
    struct vx_err *err = NULL;
    char *claims = claims_std(300), *tok = hs_token(claims);

    assert_int_equal(vx_jwt_verify(&cfg, tok, now_s(), &p, &err), 0);
    assert_string_equal(p.org_id, "acme");
    assert_string_equal(p.tier, "pro");
    assert_string_equal(p.subject, "ci");
    assert_string_equal(p.key_id, "");
    free(tok);
    free(claims);

    /* tier defaults to free; sub optional; aud may be an array containing ours */
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":[\"other\",\"vexxy\"],"
                   "\"exp\":9999999999,\"org\":\"a.b_c-9\"}");
    assert_int_equal(vx_jwt_verify(&cfg, tok, now_s(), &p, &err), 0);
    assert_string_equal(p.tier, "free");
    assert_string_equal(p.subject, "");
    free(tok);
}

static void test_rs256_good(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    struct vx_principal p;
    struct vx_err *err = NULL;
    char *claims = claims_std(300), *tok = NULL;

    cfg.jwt_hs256_secret = NULL;
    cfg.jwt_rs256_pubkey = fx.pub_pem;
    assert_int_equal(vx_jwt_sign_rs256(fx.priv_pem, claims, &tok, &err), 0);
    assert_int_equal(vx_jwt_verify(&cfg, tok, now_s(), &p, &err), 0);
    assert_string_equal(p.org_id, "acme");
    /* an RS256 token is refused where only HS256 is configured */
    cfg = hs_cfg();
    verify(&cfg, tok, "token algorithm not accepted here");
    free(tok);
    free(claims);

    /* a bad public key is refused at configuration time */
    cfg.jwt_rs256_pubkey = "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n";
    assert_int_equal(vx_jwt_verify(&cfg, "a.b.c", now_s(), &p, &err), -VX_E_INVALID);
    vx_err_free(&err);
}

static void test_time_claims(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    char *c, *tok;

    c = claims_std(-100); /* expired beyond the 30 s leeway */
    tok = hs_token(c);
    verify(&cfg, tok, "token expired");
    free(tok);
    free(c);
    c = claims_std(-10); /* expired, but within leeway */
    tok = hs_token(c);
    assert_int_equal(verify(&cfg, tok, NULL), 0);
    free(tok);
    free(c);

    c = vx_xasprintf("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":%" PRId64
                     ",\"nbf\":%" PRId64 ",\"org\":\"acme\"}",
                     now_s() + 600, now_s() + 100);
    tok = hs_token(c);
    verify(&cfg, tok, "token not yet valid");
    free(tok);
    free(c);
    c = vx_xasprintf("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":%" PRId64
                     ",\"iat\":%" PRId64 ",\"org\":\"acme\"}",
                     now_s() + 600, now_s() + 100);
    tok = hs_token(c);
    verify(&cfg, tok, "token issued in the future");
    free(tok);
    free(c);

    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"org\":\"acme\"}");
    verify(&cfg, tok, "token has no 'exp' claim");
    free(tok);
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"org\":\"acme\","
                   "\"exp\":\"tomorrow\"}");
    verify(&cfg, tok, "malformed token: 'exp' is not a number");
    free(tok);
}

static void test_issuer_audience(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    char *tok;

    tok = hs_token("{\"iss\":\"https://evil.example\",\"aud\":\"vexxy\",\"exp\":9999999999,"
                   "\"org\":\"acme\"}");
    verify(&cfg, tok, "wrong issuer");
    free(tok);
    tok = hs_token("{\"aud\":\"vexxy\",\"exp\":9999999999,\"org\":\"acme\"}");
    verify(&cfg, tok, "wrong issuer");
    free(tok);
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":\"other\",\"exp\":9999999999,"
                   "\"org\":\"acme\"}");
    verify(&cfg, tok, "wrong audience");
    free(tok);
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":[\"a\",\"b\",7],"
                   "\"exp\":9999999999,\"org\":\"acme\"}");
    verify(&cfg, tok, "wrong audience");
    free(tok);
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"exp\":9999999999,\"org\":\"acme\"}");
    verify(&cfg, tok, "wrong audience");
    /* without a configured issuer/audience the same token passes */
    cfg.jwt_issuer = NULL;
    cfg.jwt_audience = NULL;
    assert_int_equal(verify(&cfg, tok, NULL), 0);
    free(tok);
}

static void test_org_claim(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    char long_org[200], *c, *tok;

    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":9999999999}");
    verify(&cfg, tok, "token has no 'org' claim");
    free(tok);
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":9999999999,"
                   "\"org\":\"a b\"}");
    verify(&cfg, tok, "invalid 'org' claim");
    free(tok);
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":9999999999,"
                   "\"org\":42}");
    verify(&cfg, tok, "invalid 'org' claim");
    free(tok);
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":9999999999,"
                   "\"org\":\"\"}");
    verify(&cfg, tok, "invalid 'org' claim");
    free(tok);
    memset(long_org, 'o', 129);
    long_org[129] = '\0';
    c = vx_xasprintf("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":9999999999,"
                     "\"org\":\"%s\"}",
                     long_org);
    tok = hs_token(c);
    verify(&cfg, tok, "invalid 'org' claim");
    free(tok);
    free(c);
    long_org[128] = '\0'; /* 128 is the maximum */
    c = vx_xasprintf("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":9999999999,"
                     "\"org\":\"%s\"}",
                     long_org);
    tok = hs_token(c);
    assert_int_equal(verify(&cfg, tok, NULL), 0);
    free(tok);
    free(c);
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":9999999999,"
                   "\"org\":\"acme\",\"tier\":\"gold\\nplated\"}");
    verify(&cfg, tok, "invalid 'tier' claim");
    free(tok);
}

/* Builds "<b64 header>.<b64 claims>.<sig>" by hand, for headers we would never sign. */
static char *raw_token(const char *header, const char *claims, const char *sig)
{
    char *h = vx_b64url_encode(header, strlen(header));
    char *c = vx_b64url_encode(claims, strlen(claims));
    char *t = vx_xasprintf("%s.%s.%s", h, c, sig);

    free(h);
    free(c);
    return t;
}

static void test_alg_attacks(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    const char *claims = "{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\","
                         "\"exp\":9999999999,\"org\":\"acme\"}";
    struct vx_err *err = NULL;
    char *tok;

    tok = raw_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "");
    verify(&cfg, tok, "malformed token"); /* empty signature segment */
    free(tok);
    tok = raw_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, "AAAA");
    verify(&cfg, tok, "unsupported token algorithm");
    free(tok);
    tok = raw_token("{\"alg\":\"HS512\"}", claims, "AAAA");
    verify(&cfg, tok, "unsupported token algorithm");
    free(tok);
    tok = raw_token("{\"typ\":\"JWT\"}", claims, "AAAA");
    verify(&cfg, tok, "malformed token: no 'alg' in header");
    free(tok);
    tok = raw_token("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", claims, "AAAA");
    verify(&cfg, tok, "unsupported critical token header");
    free(tok);

    /* algorithm confusion: an HS256 token keyed with the RSA public key PEM */
    assert_int_equal(vx_jwt_sign_hs256(fx.pub_pem, claims, &tok, &err), 0);
    cfg.jwt_hs256_secret = NULL;
    cfg.jwt_rs256_pubkey = fx.pub_pem;
    verify(&cfg, tok, "token algorithm not accepted here");
    cfg.jwt_hs256_secret = SECRET; /* both configured: HS256 uses the secret, never the PEM */
    verify(&cfg, tok, "bad signature");
    free(tok);
}

static void test_tampered(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    char *c = claims_std(300), *tok = hs_token(c), *evil = NULL, *forged;
    char *other_claims;
    size_t dot1, dot2; /* offsets of the two dots in tok */

    /* same header and signature, payload swapped for another organization */
    dot1 = (size_t)(strchr(tok, '.') - tok);
    dot2 = (size_t)(strchr(tok + dot1 + 1, '.') - tok);
    other_claims = vx_xasprintf("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\","
                                "\"exp\":%" PRId64 ",\"org\":\"victim\"}",
                                now_s() + 300);
    evil = vx_b64url_encode(other_claims, strlen(other_claims));
    forged = vx_xasprintf("%.*s.%s%s", (int)dot1, tok, evil, tok + dot2);
    verify(&cfg, forged, "bad signature");
    free(forged);

    /* a flipped signature character */
    forged = vx_xstrdup(tok);
    forged[strlen(forged) - 2] = forged[strlen(forged) - 2] == 'A' ? 'B' : 'A';
    verify(&cfg, forged, "bad signature");
    free(forged);

    /* padded base64 in the signature, standard alphabet in the header */
    forged = vx_xasprintf("%s=", tok);
    verify(&cfg, forged, "malformed token: bad base64url");
    free(forged);
    forged = vx_xasprintf("eyJ+bGci.%s", tok + dot1 + 1);
    verify(&cfg, forged, "malformed token: bad base64url");
    free(forged);
    forged = raw_token("[1,2]", c, "AAAA");
    verify(&cfg, forged, "malformed token: not a json object");
    free(forged);
    verify(&cfg, "a.b", "malformed token");
    verify(&cfg, "a.b.c.d", "malformed token");
    verify(&cfg, "..", "malformed token");
    verify(&cfg, "", "missing bearer token");

    free(other_claims);
    free(evil);
    free(tok);
    free(c);
}

static void test_oversized(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    size_t n = VX_JWT_MAX_TOKEN + 100;
    char *big = vx_xmalloc(n + 1), *hdr;
    char *claims, *tok;

    memset(big, 'A', n);
    big[n] = '\0';
    big[10] = '.';
    big[20] = '.';
    verify(&cfg, big, "token too large");
    hdr = vx_xasprintf("Bearer %s", big);
    {
        struct vx_auth *a = NULL;
        struct vx_principal p;
        struct vx_err *err = NULL;

        assert_int_equal(vx_auth_new(&cfg, fx.store, &a, &err), 0);
        assert_int_equal(vx_auth_check(a, hdr, &p, &err), -VX_E_UNAUTHORIZED);
        assert_string_equal(err->msg, "token too large");
        vx_err_free(&err);
        vx_auth_free(a);
    }
    free(hdr);
    free(big);

    /* a signed token whose claims decode past the payload cap */
    big = vx_xmalloc(VX_JWT_MAX_PAYLOAD + 1);
    memset(big, 'x', VX_JWT_MAX_PAYLOAD);
    big[VX_JWT_MAX_PAYLOAD] = '\0';
    claims = vx_xasprintf("{\"exp\":9999999999,\"org\":\"acme\",\"pad\":\"%s\"}", big);
    tok = hs_token(claims);
    verify(&cfg, tok, "token too large");
    free(tok);
    free(claims);
    free(big);
}

/* ---- vx_auth_check ------------------------------------------------------------------------- */

static int check(struct vx_auth *a, const char *header, struct vx_principal *p, const char *msg)
{
    struct vx_err *err = NULL;
    int rc = vx_auth_check(a, header, p, &err);

    if (msg) {
        assert_non_null(err);
        assert_string_equal(err->msg, msg);
        assert_int_equal(rc, -VX_E_UNAUTHORIZED);
    } else if (rc < 0) {
        fail_msg("unexpected: %s", err->msg);
    }
    vx_err_free(&err);
    return rc;
}

static void test_bearer_parsing(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    struct vx_auth *a = NULL;
    struct vx_principal p;
    struct vx_err *err = NULL;
    char *c = claims_std(300), *tok = hs_token(c), *h;

    assert_int_equal(vx_auth_new(&cfg, fx.store, &a, &err), 0);
    check(a, "Basic x", &p, "authorization scheme must be bearer");
    check(a, "Bearerx abc", &p, "authorization scheme must be bearer");
    check(a, "Bearer", &p, "missing bearer token");
    check(a, "Bearer    ", &p, "missing bearer token");
    check(a, "", &p, "missing bearer token");
    check(a, NULL, &p, "missing bearer token");
    check(a, "Bearer a.b", &p, "malformed bearer token");
    check(a, "Bearer abc\x01", &p, "malformed bearer token");
    check(a, "Bearer vx_nope", &p, "malformed api key");

    h = vx_xasprintf("bEaReR   %s  ", tok);
    check(a, h, &p, NULL);
    assert_string_equal(p.org_id, "acme");
    assert_string_equal(p.tier, "pro");
    free(h);
    vx_auth_free(a);
    free(tok);
    free(c);
}

static void test_jwt_creates_org(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    struct vx_auth *a = NULL;
    struct vx_principal p;
    struct vx_org_rec *org = NULL;
    struct vx_err *err = NULL;
    char *tok, *h;

    cfg.cache_ttl_ms = 60000;
    tok = hs_token("{\"iss\":\"https://issuer.example\",\"aud\":\"vexxy\",\"exp\":9999999999,"
                   "\"org\":\"jwt-born\",\"tier\":\"enterprise\"}");
    h = vx_xasprintf("Bearer %s", tok);
    assert_int_equal(vx_auth_new(&cfg, fx.store, &a, &err), 0);
    check(a, h, &p, NULL);
    check(a, h, &p, NULL); /* second time from the cache */
    assert_int_equal(vx_store_org_get(fx.store, "jwt-born", &org, &err), 0);
    assert_string_equal(org->tier, "enterprise");
    assert_int_equal(org->jobs_per_month, 50);
    vx_org_rec_free(org);
    vx_auth_free(a);
    free(h);
    free(tok);
}

static void test_apikey_lifecycle(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    struct vx_auth *a = NULL;
    struct vx_principal p;
    struct vx_apikey_rec **keys = NULL;
    struct vx_err *err = NULL;
    char *token = NULL, *id = NULL, *h, hash[65], unknown[VX_APIKEY_LEN + 1];
    size_t n = 0;
    bool found = false;

    cfg.cache_ttl_ms = 0;
    assert_int_equal(vx_apikey_issue(fx.store, "org-a", "ci key", &token, &id, &err), 0);
    assert_int_equal(strlen(token), VX_APIKEY_LEN);
    assert_true(vx_apikey_format_ok(token));
    assert_memory_equal(token, "vx_", 3);

    /* only the hash and the prefix are stored */
    vx_sha256_hex(token, strlen(token), hash);
    assert_int_equal(vx_store_apikey_list(fx.store, "org-a", &keys, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(keys[i]->id, id) == 0) {
            found = true;
            assert_string_equal(keys[i]->hash, hash);
            assert_int_equal(strlen(keys[i]->prefix), VX_APIKEY_PREFIX_LEN);
            assert_memory_equal(keys[i]->prefix, token, VX_APIKEY_PREFIX_LEN);
        }
        vx_apikey_rec_free(keys[i]);
    }
    free(keys);
    assert_true(found);

    assert_int_equal(vx_auth_new(&cfg, fx.store, &a, &err), 0);
    h = vx_xasprintf("Bearer %s", token);
    check(a, h, &p, NULL);
    assert_string_equal(p.org_id, "org-a");
    assert_string_equal(p.tier, "pro");
    assert_string_equal(p.key_id, id);
    assert_string_equal(p.subject, "ci key");

    assert_int_equal(vx_store_apikey_revoke(fx.store, id, &err), 0);
    check(a, h, &p, "api key revoked");
    free(h);

    /* right shape, never issued */
    snprintf(unknown, sizeof(unknown), "%s", token);
    unknown[20] = unknown[20] == 'a' ? 'b' : 'a';
    h = vx_xasprintf("Bearer %s", unknown);
    check(a, h, &p, "unknown api key");
    free(h);

    vx_auth_free(a);
    free(token);
    free(id);
}

static void test_apikey_cache_ttl(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    struct vx_auth *a = NULL;
    struct vx_principal p;
    struct vx_err *err = NULL;
    char *token = NULL, *id = NULL, *h;

    cfg.cache_ttl_ms = 300;
    assert_int_equal(vx_apikey_issue(fx.store, "org-a", "cached", &token, &id, &err), 0);
    assert_int_equal(vx_auth_new(&cfg, fx.store, &a, &err), 0);
    h = vx_xasprintf("Bearer %s", token);
    check(a, h, &p, NULL);
    assert_int_equal(vx_store_apikey_revoke(fx.store, id, &err), 0);
    /* within the TTL this instance still trusts its cache (documented behaviour) */
    check(a, h, &p, NULL);
    assert_string_equal(p.key_id, id);
    usleep(400 * 1000);
    check(a, h, &p, "api key revoked");
    /* and a failure is never cached: it keeps failing */
    check(a, h, &p, "api key revoked");
    free(h);
    vx_auth_free(a);
    free(token);
    free(id);
}

struct race_arg {
    struct vx_auth *a;
    const char *header;
    int failures;
};

static void *race_main(void *arg)
{
    struct race_arg *r = arg;

    for (int i = 0; i < 200; i++) {
        struct vx_principal p;
        struct vx_err *err = NULL;

        if (vx_auth_check(r->a, r->header, &p, &err) < 0 || strcmp(p.org_id, "org-a") != 0)
            r->failures++;
        vx_err_free(&err);
    }
    return NULL;
}

static void test_concurrent_checks(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    struct vx_auth *a = NULL;
    struct vx_err *err = NULL;
    struct race_arg args[4];
    pthread_t th[4];
    char *token = NULL, *id = NULL, *h;

    cfg.cache_ttl_ms = 5; /* short: entries expire and are refilled while threads race */
    assert_int_equal(vx_apikey_issue(fx.store, "org-a", "race", &token, &id, &err), 0);
    assert_int_equal(vx_auth_new(&cfg, fx.store, &a, &err), 0);
    h = vx_xasprintf("Bearer %s", token);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct race_arg){a, h, 0};
        assert_int_equal(pthread_create(&th[i], NULL, race_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    vx_auth_free(a);
    free(h);
    free(token);
    free(id);
}

static void test_auth_new_errors(void **state)
{
    struct vx_auth_config cfg = hs_cfg();
    struct vx_auth *a = NULL;
    struct vx_err *err = NULL;

    assert_int_equal(vx_auth_new(&cfg, NULL, &a, &err), -VX_E_INVALID);
    vx_err_free(&err);
    cfg.jwt_rs256_pubkey = "not a key";
    assert_int_equal(vx_auth_new(&cfg, fx.store, &a, &err), -VX_E_INVALID);
    assert_null(a);
    vx_err_free(&err);
    cfg.jwt_rs256_pubkey = fx.pub_pem;
    assert_int_equal(vx_auth_new(&cfg, fx.store, &a, &err), 0);
    vx_auth_free(a);
    vx_auth_free(NULL);
    assert_int_equal(vx_jwt_sign_hs256("", "{}", &(char *){NULL}, &err), -VX_E_INVALID);
    vx_err_free(&err);
    assert_int_equal(vx_jwt_sign_hs256(SECRET, "[1]", &(char *){NULL}, &err), -VX_E_INVALID);
    vx_err_free(&err);
    assert_int_equal(vx_jwt_sign_rs256(fx.pub_pem, "{}", &(char *){NULL}, &err), -VX_E_INVALID);
    vx_err_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),           cmocka_unit_test(test_hs256_good),
        cmocka_unit_test(test_rs256_good),       cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_issuer_audience),  cmocka_unit_test(test_org_claim),
        cmocka_unit_test(test_alg_attacks),      cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_oversized),        cmocka_unit_test(test_bearer_parsing),
        cmocka_unit_test(test_jwt_creates_org),  cmocka_unit_test(test_apikey_lifecycle),
        cmocka_unit_test(test_apikey_cache_ttl), cmocka_unit_test(test_concurrent_checks),
        cmocka_unit_test(test_auth_new_errors),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
