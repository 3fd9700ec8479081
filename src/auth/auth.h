/* auth.h -- who is calling: API keys and JWTs resolved to an organization.
 *
 * API keys look like "vx_<8 hex prefix>_<43 base64url secret>"; only their SHA-256 is
 * stored (they carry 256 random bits, so a slow hash adds nothing). JWTs are HS256 (shared
 * secret) or RS256 (PEM public key); issuer, audience, exp and nbf are checked, and the
 * organization comes from the "org" claim (tier from "tier").
 */
#ifndef VX_AUTH_AUTH_H
#define VX_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;
struct vx_store;

struct vx_auth_config {
    const char *jwt_hs256_secret;   /* or NULL: HS256 tokens rejected */
    const char *jwt_rs256_pubkey;   /* PEM text, or NULL: RS256 tokens rejected */
    const char *jwt_issuer;         /* required "iss" when set */
    const char *jwt_audience;       /* required in "aud" (string or array) when set */
    int64_t leeway_s;               /* clock skew allowed on exp/nbf; default 30 */
    int64_t default_jobs_per_month; /* quota of organizations created from a JWT; -1 unlimited */
    int64_t cache_ttl_ms;           /* API key lookups cached per instance; 0 = no cache */
};

struct vx_principal {
    char org_id[129];
    char tier[33];
    char key_id[37];   /* API key id, or "" for a JWT */
    char subject[129]; /* JWT "sub" or the API key's name */
};

struct vx_auth;

/* Caller owns *out (vx_auth_free). The store is borrowed for the life of the vx_auth.
 * -VX_E_INVALID for an unreadable RS256 key. */
int vx_auth_new(const struct vx_auth_config *cfg, struct vx_store *store, struct vx_auth **out,
                struct vx_err **err);
void vx_auth_free(struct vx_auth *a);

/* Resolves an "Authorization" header value ("Bearer <token>"). -VX_E_UNAUTHORIZED with a
 * reason ("missing bearer token", "token expired", "unknown api key", "api key revoked",
 * "bad signature", ...). Thread-safe. */
/* Caching: successful API key lookups (and JWT organizations) are kept per vx_auth for
 * cfg->cache_ttl_ms, so a key revoked elsewhere keeps working on an instance that cached
 * it for up to that long. Store failures keep their own code (not UNAUTHORIZED). */
int vx_auth_check(struct vx_auth *a, const char *authorization, struct vx_principal *out,
                  struct vx_err **err);

/* Creates an API key for org: *token_out is the only copy of the secret (caller frees),
 * *id_out the key id (caller frees). */
int vx_apikey_issue(struct vx_store *store, const char *org_id, const char *name, char **token_out,
                    char **id_out, struct vx_err **err);

/* Verifies a compact JWT against cfg (no store access). Fills out->org_id, tier, subject.
 * Exposed for tests and tools. */
int vx_jwt_verify(const struct vx_auth_config *cfg, const char *token, int64_t now_s,
                  struct vx_principal *out, struct vx_err **err);
/* Signs claims_json as a compact JWT with HS256 (tests, `vexxy admin token`). Caller frees. */
int vx_jwt_sign_hs256(const char *secret, const char *claims_json, char **out, struct vx_err **err);
/* Signs with RS256 using a PEM private key (tests). Caller frees. */
int vx_jwt_sign_rs256(const char *privkey_pem, const char *claims_json, char **out,
                      struct vx_err **err);

#endif
