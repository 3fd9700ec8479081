/* apikey.c -- API keys: issuing, recognising the token shape, resolving a key to its
 * organization through the store.
 *
 * A token is "vx_<8 lowercase hex>_<43 base64url>": the hex part is a public prefix shown
 * in listings and accepted by revoke; the rest is 32 random bytes. The store only ever
 * sees the prefix and the SHA-256 of the whole token: with 256 bits of entropy a fast
 * hash is as good as a slow one, and the hot path stays cheap.
 */
#include "common/setup.h"

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "common/alloc.h" /* for vx_xasprintf() */
#include "common/err.h"
#include "common/util.h" /* for vx_random_bytes(), vx_sha256_hex() */
#include "store/store.h" /* for vx_store_apikey_*(), vx_store_org_get() */

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

bool vx_apikey_format_ok(const char *token)
{
    if (strnlen(token, VX_APIKEY_LEN + 1) != VX_APIKEY_LEN || strncmp(token, "vx_", 3) != 0 ||
        token[11] != '_')
        return false;
    for (int i = 3; i < 11; i++) {
        if (!is_lower_hex(token[i]))
            return false;
    }
    for (int i = 12; i < VX_APIKEY_LEN; i++) {
        if (!is_b64url(token[i]))
            return false;
    }
    return true;
}

int vx_apikey_issue(struct vx_store *store, const char *org_id, const char *name, char **token_out,
                    char **id_out, struct vx_err **err)
{
    unsigned char pre[4], secret[32];
    char hex[9], hash[65], prefix[VX_APIKEY_PREFIX_LEN + 1];
    char *b64 = NULL, *token = NULL, *id = NULL;
    int rc;

    if (!org_id || !*org_id)
        return vx_err_set(err, VX_E_INVALID, 0, "an api key needs an organization");
    vx_random_bytes(pre, sizeof(pre));
    vx_random_bytes(secret, sizeof(secret));
    vx_hex(pre, sizeof(pre), hex);
    b64 = vx_b64url_encode(secret, sizeof(secret));
    token = vx_xasprintf("vx_%s_%s", hex, b64);
    snprintf(prefix, sizeof(prefix), "vx_%s", hex);
    vx_sha256_hex(token, strlen(token), hash);

    rc = vx_store_apikey_create(store, org_id, name, prefix, hash, &id, err);
    if (rc < 0) {
        rc = vx_err_wrap(err, "issue api key for '%s'", org_id);
        goto out;
    }
    *token_out = token;
    token = NULL;
    *id_out = id;
    id = NULL;
out:
    explicit_bzero(secret, sizeof(secret));
    if (token)
        explicit_bzero(token, strlen(token));
    if (b64)
        explicit_bzero(b64, strlen(b64));
    free(token);
    free(b64);
    free(id);
    return rc;
}

/* Hands a store error up unchanged (its code says "store trouble", not "bad key"). */
static int pass_on(struct vx_err **err, struct vx_err **e)
{
    int rc = -(int)(*e)->code;

    if (err && !*err) {
        *err = *e;
        *e = NULL;
    }
    return rc;
}

int vx_apikey_resolve(struct vx_store *store, const char *hash, struct vx_principal *out,
                      struct vx_err **err)
{
    struct vx_apikey_rec *key = NULL;
    struct vx_org_rec *org = NULL;
    struct vx_err *e = NULL;
    int rc;

    rc = vx_store_apikey_lookup(store, hash, &key, &e);
    if (rc == -VX_E_NOT_FOUND) {
        rc = vx_err_set(err, VX_E_UNAUTHORIZED, 0, "unknown api key");
        goto out;
    }
    if (rc < 0) {
        vx_err_wrap(&e, "api key lookup");
        rc = pass_on(err, &e);
        goto out;
    }
    if (key->revoked) {
        rc = vx_err_set(err, VX_E_UNAUTHORIZED, 0, "api key revoked");
        goto out;
    }
    rc = vx_store_org_get(store, key->org_id, &org, &e);
    if (rc == -VX_E_NOT_FOUND) {
        rc = vx_err_set(err, VX_E_UNAUTHORIZED, 0, "api key organization not found");
        goto out;
    }
    if (rc < 0) {
        vx_err_wrap(&e, "api key organization '%s'", key->org_id);
        rc = pass_on(err, &e);
        goto out;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->org_id, sizeof(out->org_id), "%s", key->org_id);
    snprintf(out->tier, sizeof(out->tier), "%s", org->tier ? org->tier : "free");
    snprintf(out->key_id, sizeof(out->key_id), "%s", key->id);
    snprintf(out->subject, sizeof(out->subject), "%s", key->name ? key->name : "");
    rc = 0;
out:
    vx_err_free(&e);
    vx_apikey_rec_free(key);
    vx_org_rec_free(org);
    return rc;
}
