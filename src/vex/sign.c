/* sign.c -- an OpenVEX document as an in-toto statement in a DSSE envelope, ed25519-signed.
 *
 * DESIGN
 * Statement: {"_type":"https://in-toto.io/Statement/v1","subject":[{"name":<product purl>,
 * "digest":{"sha256":<hex>}}...],"predicateType":"https://openvex.dev/ns","predicate":<doc>}.
 * Envelope (DSSE v1): {"payloadType":"application/vnd.in-toto+json","payload":b64(statement),
 * "signatures":[{"keyid":<sha256 hex of the raw public key>,"sig":b64(sig)}]}; the signature
 * is ed25519 over PAE = "DSSEv1" SP len(type) SP type SP len(payload) SP payload (lengths
 * in decimal ASCII). docs/vex.md shows how to check it with the openssl command line.
 */
#include "common/setup.h"

#include "vex/vex.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/util.h"

#define PAYLOAD_TYPE "application/vnd.in-toto+json"
#define MAX_DOC      (64u << 20)

static char *b64(const unsigned char *data, size_t len)
{
    char *out = vx_xmalloc(4 * ((len + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

/* Decodes standard base64 (with padding); -1 on bad input. Caller frees *out. */
static int unb64(const char *s, unsigned char **out, size_t *len)
{
    size_t n = strlen(s);
    int got;

    if (n % 4 || n > MAX_DOC)
        return -1;
    *out = vx_xmalloc(n / 4 * 3 + 1);
    got = EVP_DecodeBlock(*out, (const unsigned char *)s, (int)n);
    if (got < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    while (n && s[n - 1] == '=') {
        n--;
        got--;
    }
    *len = (size_t)got;
    return 0;
}

static char *pae(const char *payload, size_t len, size_t *out_len)
{
    struct vx_buf b = VX_BUF_INIT(MAX_DOC * 2);

    vx_buf_addf(&b, "DSSEv1 %zu %s %zu ", strlen(PAYLOAD_TYPE), PAYLOAD_TYPE, len);
    vx_buf_add(&b, payload, len);
    return vx_buf_detach(&b, out_len);
}

static int load_key(const char *path, bool private_key, EVP_PKEY **out, struct vx_err **err)
{
    FILE *f = fopen(path, "re");

    if (!f)
        return vx_err_set(err, VX_E_INVALID, errno, "signing key '%s'", path);
    *out = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL)
                       : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!*out)
        return vx_err_set(err, VX_E_INVALID, 0, "'%s' is not a PEM %s key", path,
                          private_key ? "private" : "public");
    if (EVP_PKEY_get_base_id(*out) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(*out);
        *out = NULL;
        return vx_err_set(err, VX_E_INVALID, 0, "'%s' is not an ed25519 key", path);
    }
    return 0;
}

static void key_id(EVP_PKEY *k, char hex[65])
{
    unsigned char raw[32];
    size_t n = sizeof(raw);

    if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1)
        n = 0;
    vx_sha256_hex(raw, n, hex);
}

int vx_vex_sign(const char *openvex_json, const struct vx_vex_doc *d, const char *key_pem_path,
                char **out, struct vx_err **err)
{
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    json_t *doc = NULL, *stmt = NULL, *subjects, *env = NULL;
    char *payload = NULL, *msg = NULL, *p64 = NULL, *s64 = NULL, kid[65];
    unsigned char sig[64];
    size_t siglen = sizeof(sig), msglen;
    int rc;

    *out = NULL;
    rc = load_key(key_pem_path, true, &key, err);
    if (rc < 0)
        goto out;
    rc = vx_json_parse(openvex_json, strlen(openvex_json), &doc, err);
    if (rc < 0)
        goto out;
    subjects = json_array();
    for (size_t i = 0; i < d->n_products; i++) {
        const char *at = strstr(d->products[i], "@sha256%3A");

        if (at)
            json_array_append_new(subjects, json_pack("{ss s{ss}}", "name", d->products[i],
                                                      "digest", "sha256", at + 10));
    }
    stmt = json_pack("{ss so ss sO}", "_type", "https://in-toto.io/Statement/v1", "subject",
                     subjects, "predicateType", "https://openvex.dev/ns", "predicate", doc);
    payload = vx_json_dump(stmt);
    msg = pae(payload, strlen(payload), &msglen);
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)msg, msglen) != 1) {
        rc = vx_err_set(err, VX_E_INTERNAL, 0, "ed25519 signing failed");
        goto out;
    }
    key_id(key, kid);
    p64 = b64((const unsigned char *)payload, strlen(payload));
    s64 = b64(sig, siglen);
    env = json_pack("{ss ss s[{ss ss}]}", "payloadType", PAYLOAD_TYPE, "payload", p64, "signatures",
                    "keyid", kid, "sig", s64);
    *out = vx_json_dump(env);
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    json_decref(doc);
    json_decref(stmt);
    json_decref(env);
    free(payload);
    free(msg);
    free(p64);
    free(s64);
    return rc;
}

int vx_vex_verify(const char *envelope_json, const char *pub_pem_path, struct vx_err **err)
{
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    json_t *env = NULL, *sigs;
    unsigned char *payload = NULL, *sig = NULL;
    size_t plen = 0, slen = 0, msglen;
    char *msg = NULL, kid[65];
    const char *type, *p64;
    bool ok = false;
    int rc;

    rc = load_key(pub_pem_path, false, &key, err);
    if (rc < 0)
        goto out;
    rc = vx_json_parse(envelope_json, strlen(envelope_json), &env, err);
    if (rc < 0)
        goto out;
    type = vx_json_str(env, "payloadType");
    p64 = vx_json_str(env, "payload");
    sigs = json_object_get(env, "signatures");
    if (!type || strcmp(type, PAYLOAD_TYPE) != 0 || !p64 || !json_is_array(sigs) ||
        unb64(p64, &payload, &plen) < 0) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "not a DSSE envelope with an in-toto payload");
        goto out;
    }
    msg = pae((const char *)payload, plen, &msglen);
    key_id(key, kid);
    for (size_t i = 0; i < json_array_size(sigs) && !ok; i++) {
        const char *s64 = vx_json_str(json_array_get(sigs, i), "sig");

        free(sig);
        sig = NULL;
        if (!s64 || unb64(s64, &sig, &slen) < 0)
            continue;
        EVP_MD_CTX_free(md);
        md = EVP_MD_CTX_new();
        ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(md, sig, slen, (const unsigned char *)msg, msglen) == 1;
    }
    rc = ok ? 0
            : vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                         "no signature of the envelope verifies with key %.16s...", kid);
out:
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    json_decref(env);
    free(payload);
    free(sig);
    free(msg);
    return rc;
}
