/* jwt.c -- compact JWS/JWT (RFC 7515, 7519) verification and signing, HS256 and RS256 only.
 *
 * DESIGN
 * A bearer token is hostile until its signature checks out, so verification goes:
 *  1. size cap on the whole token, then exactly three non-empty segments;
 *  2. the header is decoded (strict base64url, capped) and parsed; "alg" must be HS256 or
 *     RS256 and "crit" is refused (we implement no extensions);
 *  3. the header names the algorithm, but the KEY comes from our configuration by that
 *     algorithm: HS256 only ever uses the shared secret and RS256 only the RSA public key.
 *     An HS256 token "signed" with the public key PEM (the classic algorithm-confusion
 *     attack) is therefore checked against the secret, or rejected when none is set;
 *  4. the signature is checked over the first two segments exactly as sent (HMAC compared
 *     in constant time; RSA PKCS#1 v1.5 with SHA-256 through EVP_DigestVerify);
 *  5. only then are the claims decoded and checked: exp (required), nbf and iat (if
 *     present) with leeway, iss and aud when configured, org (required), tier, sub.
 * Every failure is -VX_E_UNAUTHORIZED with a short reason; nothing here touches the store.
 *
 * Leeway: cfg->leeway_s > 0 is used as given, 0 means the default (30 s), < 0 means none.
 */
#include "common/setup.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "common/alloc.h" /* for vx_xmalloc(), vx_xasprintf() */
#include "common/err.h"
#include "common/json.h" /* for vx_json_parse() */

enum jwt_alg { ALG_HS256, ALG_RS256 };

bool vx_auth_ident_ok(const char *s, size_t max)
{
    size_t n = 0;

    if (!s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];

        if (n >= max)
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

static int unauthorized(struct vx_err **err, const char *reason)
{
    return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "%s", reason);
}

/* Decodes one segment into a JSON object. Caller owns *out. */
static int decode_object(const char *seg, size_t len, size_t max, json_t **out, struct vx_err **err)
{
    unsigned char *buf = vx_xmalloc(max + 1);
    json_t *v = NULL;
    long n;
    int rc;

    n = vx_b64url_decode(seg, len, buf, max);
    if (n == -2) {
        rc = unauthorized(err, "token too large");
        goto out;
    }
    if (n < 0) {
        rc = unauthorized(err, "malformed token: bad base64url");
        goto out;
    }
    if (vx_json_parse((const char *)buf, (size_t)n, &v, NULL) < 0 || !json_is_object(v)) {
        rc = unauthorized(err, "malformed token: not a json object");
        goto out;
    }
    *out = v;
    v = NULL;
    rc = 0;
out:
    json_decref(v);
    free(buf);
    return rc;
}

static bool hs256_ok(const char *secret, const char *input, size_t len, const unsigned char *sig,
                     size_t siglen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)input, len, md,
              &mdlen))
        return false;
    /* the length is public (always 32); only the bytes need a constant-time compare */
    return siglen == mdlen && CRYPTO_memcmp(md, sig, mdlen) == 0;
}

static bool rs256_ok(EVP_PKEY *key, const char *input, size_t len, const unsigned char *sig,
                     size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = false;

    if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1)
        ok = EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)input, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error(); /* a bad signature leaves entries in this thread's error queue */
    return ok;
}

/* Reads an optional NumericDate claim. 0 and *has = false when absent. */
static int number_claim(const json_t *claims, const char *name, double *v, bool *has,
                        struct vx_err **err)
{
    json_t *j = json_object_get(claims, name);

    *has = j != NULL;
    if (!j)
        return 0;
    if (!json_is_number(j))
        return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "malformed token: '%s' is not a number", name);
    *v = json_number_value(j);
    return 0;
}

static bool audience_ok(const json_t *aud, const char *want)
{
    size_t i;
    json_t *v;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return false;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

static bool subject_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    }
    return true;
}

static int check_claims(const struct vx_auth_config *cfg, const json_t *claims, int64_t now_s,
                        struct vx_principal *out, struct vx_err **err)
{
    int64_t leeway =
        cfg->leeway_s > 0 ? cfg->leeway_s : (cfg->leeway_s == 0 ? VX_JWT_DEFAULT_LEEWAY_S : 0);
    double now = (double)now_s, exp = 0, nbf = 0, iat = 0;
    const char *org, *tier = "free", *sub = "";
    bool has;
    json_t *v;
    int rc;

    rc = number_claim(claims, "exp", &exp, &has, err);
    if (rc < 0)
        return rc;
    if (!has)
        return unauthorized(err, "token has no 'exp' claim");
    if (now - (double)leeway >= exp)
        return unauthorized(err, "token expired");
    rc = number_claim(claims, "nbf", &nbf, &has, err);
    if (rc < 0)
        return rc;
    if (has && now + (double)leeway < nbf)
        return unauthorized(err, "token not yet valid");
    rc = number_claim(claims, "iat", &iat, &has, err);
    if (rc < 0)
        return rc;
    if (has && now + (double)leeway < iat)
        return unauthorized(err, "token issued in the future");

    if (cfg->jwt_issuer) {
        const char *iss = vx_json_str(claims, "iss");

        if (!iss || strcmp(iss, cfg->jwt_issuer) != 0)
            return unauthorized(err, "wrong issuer");
    }
    if (cfg->jwt_audience && !audience_ok(json_object_get(claims, "aud"), cfg->jwt_audience))
        return unauthorized(err, "wrong audience");

    v = json_object_get(claims, "org");
    if (!v)
        return unauthorized(err, "token has no 'org' claim");
    org = json_is_string(v) ? json_string_value(v) : NULL;
    if (!vx_auth_ident_ok(org, sizeof(out->org_id) - 1))
        return unauthorized(err, "invalid 'org' claim");
    v = json_object_get(claims, "tier");
    if (v) {
        tier = json_is_string(v) ? json_string_value(v) : NULL;
        if (!vx_auth_ident_ok(tier, sizeof(out->tier) - 1))
            return unauthorized(err, "invalid 'tier' claim");
    }
    v = json_object_get(claims, "sub");
    if (v) {
        sub = json_is_string(v) ? json_string_value(v) : NULL;
        if (!sub || !subject_ok(sub))
            return unauthorized(err, "invalid 'sub' claim");
    }

    memset(out, 0, sizeof(*out));
    snprintf(out->org_id, sizeof(out->org_id), "%s", org);
    snprintf(out->tier, sizeof(out->tier), "%s", tier);
    snprintf(out->subject, sizeof(out->subject), "%s", sub);
    return 0;
}

int vx_jwt_verify_key(const struct vx_auth_config *cfg, EVP_PKEY *rs256_key, const char *token,
                      int64_t now_s, struct vx_principal *out, struct vx_err **err)
{
    const char *dot1, *dot2, *alg_name;
    size_t len, siglen_b64;
    unsigned char *sig = NULL;
    json_t *header = NULL, *claims = NULL, *typ;
    enum jwt_alg alg;
    long siglen;
    bool ok;
    int rc;

    if (!token || !*token)
        return unauthorized(err, "missing bearer token");
    len = strnlen(token, VX_JWT_MAX_TOKEN + 1);
    if (len > VX_JWT_MAX_TOKEN)
        return unauthorized(err, "token too large");
    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.') || dot1 == token || dot2 == dot1 + 1 || !dot2[1])
        return unauthorized(err, "malformed token");

    rc = decode_object(token, (size_t)(dot1 - token), VX_JWT_MAX_HEADER, &header, err);
    if (rc < 0)
        goto out;
    alg_name = vx_json_str(header, "alg");
    if (!alg_name) {
        rc = unauthorized(err, "malformed token: no 'alg' in header");
        goto out;
    }
    if (strcmp(alg_name, "HS256") == 0) {
        alg = ALG_HS256;
    } else if (strcmp(alg_name, "RS256") == 0) {
        alg = ALG_RS256;
    } else {
        rc = unauthorized(err, "unsupported token algorithm");
        goto out;
    }
    typ = json_object_get(header, "typ");
    if (typ && !json_is_string(typ)) {
        rc = unauthorized(err, "malformed token: 'typ' is not a string");
        goto out;
    }
    if (json_object_get(header, "crit")) {
        rc = unauthorized(err, "unsupported critical token header");
        goto out;
    }
    if ((alg == ALG_HS256 && (!cfg->jwt_hs256_secret || !*cfg->jwt_hs256_secret)) ||
        (alg == ALG_RS256 && !rs256_key)) {
        rc = unauthorized(err, "token algorithm not accepted here");
        goto out;
    }

    siglen_b64 = len - (size_t)(dot2 + 1 - token);
    sig = vx_xmalloc(VX_JWT_MAX_SIG);
    siglen = vx_b64url_decode(dot2 + 1, siglen_b64, sig, VX_JWT_MAX_SIG);
    if (siglen < 0) {
        rc = unauthorized(err, siglen == -2 ? "token too large" : "malformed token: bad base64url");
        goto out;
    }
    if (alg == ALG_HS256)
        ok = hs256_ok(cfg->jwt_hs256_secret, token, (size_t)(dot2 - token), sig, (size_t)siglen);
    else
        ok = rs256_ok(rs256_key, token, (size_t)(dot2 - token), sig, (size_t)siglen);
    if (!ok) {
        rc = unauthorized(err, "bad signature");
        goto out;
    }

    rc = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), VX_JWT_MAX_PAYLOAD, &claims, err);
    if (rc < 0)
        goto out;
    rc = check_claims(cfg, claims, now_s, out, err);
out:
    json_decref(header);
    json_decref(claims);
    free(sig);
    return rc;
}

int vx_jwt_load_rs256_pubkey(const char *pem, EVP_PKEY **out, struct vx_err **err)
{
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    int rc;

    bio = BIO_new_mem_buf(pem, -1);
    if (bio)
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    ERR_clear_error();
    if (!key) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "rs256 public key: not a readable pem public key");
        goto out;
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "rs256 public key: not an rsa key");
        goto out;
    }
    if (EVP_PKEY_get_bits(key) < 2048) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "rs256 public key: %d bits, 2048 needed",
                        EVP_PKEY_get_bits(key));
        goto out;
    }
    *out = key;
    key = NULL;
    rc = 0;
out:
    EVP_PKEY_free(key);
    BIO_free(bio);
    return rc;
}

int vx_jwt_verify(const struct vx_auth_config *cfg, const char *token, int64_t now_s,
                  struct vx_principal *out, struct vx_err **err)
{
    EVP_PKEY *key = NULL;
    int rc;

    if (cfg->jwt_rs256_pubkey) {
        rc = vx_jwt_load_rs256_pubkey(cfg->jwt_rs256_pubkey, &key, err);
        if (rc < 0)
            return rc;
    }
    rc = vx_jwt_verify_key(cfg, key, token, now_s, out, err);
    EVP_PKEY_free(key);
    return rc;
}

/* ---- signing --------------------------------------------------------------------------- */

/* "<b64 header>.<b64 claims>" for alg; claims must be a JSON object. Caller frees. */
static int signing_input(const char *alg, const char *claims_json, char **out, struct vx_err **err)
{
    char header[64];
    char *h = NULL, *p = NULL;
    json_t *claims = NULL;

    if (!claims_json || vx_json_parse(claims_json, strlen(claims_json), &claims, NULL) < 0 ||
        !json_is_object(claims)) {
        json_decref(claims);
        return vx_err_set(err, VX_E_INVALID, 0, "jwt claims must be a json object");
    }
    json_decref(claims);
    snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    h = vx_b64url_encode(header, strlen(header));
    p = vx_b64url_encode(claims_json, strlen(claims_json));
    *out = vx_xasprintf("%s.%s", h, p);
    free(h);
    free(p);
    return 0;
}

static char *finish_token(const char *input, const unsigned char *sig, size_t siglen)
{
    char *s = vx_b64url_encode(sig, siglen);
    char *tok = vx_xasprintf("%s.%s", input, s);

    free(s);
    return tok;
}

int vx_jwt_sign_hs256(const char *secret, const char *claims_json, char **out, struct vx_err **err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *input = NULL;
    int rc;

    if (!secret || !*secret)
        return vx_err_set(err, VX_E_INVALID, 0, "hs256 secret is empty");
    rc = signing_input("HS256", claims_json, &input, err);
    if (rc < 0)
        return rc;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)input,
              strlen(input), md, &mdlen)) {
        free(input);
        return vx_err_set(err, VX_E_INTERNAL, 0, "hmac-sha256 failed");
    }
    *out = finish_token(input, md, mdlen);
    free(input);
    return 0;
}

int vx_jwt_sign_rs256(const char *privkey_pem, const char *claims_json, char **out,
                      struct vx_err **err)
{
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *ctx = NULL;
    unsigned char *sig = NULL;
    char *input = NULL;
    size_t siglen = 0;
    int rc;

    bio = privkey_pem ? BIO_new_mem_buf(privkey_pem, -1) : NULL;
    if (bio)
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "rs256 private key: not a readable pem rsa key");
        goto out;
    }
    rc = signing_input("RS256", claims_json, &input, err);
    if (rc < 0)
        goto out;
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        rc = vx_err_set(err, VX_E_INTERNAL, 0, "rsa signing failed");
        goto out;
    }
    sig = vx_xmalloc(siglen);
    if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        rc = vx_err_set(err, VX_E_INTERNAL, 0, "rsa signing failed");
        goto out;
    }
    *out = finish_token(input, sig, siglen);
    rc = 0;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    BIO_free(bio);
    free(sig);
    free(input);
    return rc;
}
