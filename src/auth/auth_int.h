/* auth_int.h -- private to src/auth/: base64url and the JWT verifier with a preloaded key.
 *
 * The unit tests include it too, to exercise the codec directly.
 */
#ifndef VX_AUTH_AUTH_INT_H
#define VX_AUTH_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h> /* for EVP_PKEY */

struct vx_err;
struct vx_auth_config;
struct vx_principal;

/* Caps on what a bearer token may make us decode or parse (untrusted input). */
#define VX_JWT_MAX_TOKEN        8192 /* whole compact token, bytes */
#define VX_JWT_MAX_HEADER       1024 /* decoded header JSON */
#define VX_JWT_MAX_PAYLOAD      4096 /* decoded claims JSON */
#define VX_JWT_MAX_SIG          1024 /* decoded signature: RSA up to 8192 bits */
#define VX_JWT_DEFAULT_LEEWAY_S 30

/* Unpadded base64url of data[0..len) into a new string the caller frees. */
char *vx_b64url_encode(const void *data, size_t len);
/* Strict unpadded base64url: rejects '=', characters outside [A-Za-z0-9_-], a length of
 * 1 mod 4 and non-zero trailing bits (so each byte string has exactly one encoding).
 * Writes at most 'max' bytes to out (needs max bytes of room). Returns the decoded length,
 * or -1 on malformed input, or -2 when the result would exceed max. */
long vx_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t max);

/* The verifier behind vx_jwt_verify(): rs256_key is the already-loaded RSA public key or
 * NULL (RS256 rejected). cfg->jwt_rs256_pubkey is ignored. Borrowed key. */
int vx_jwt_verify_key(const struct vx_auth_config *cfg, EVP_PKEY *rs256_key, const char *token,
                      int64_t now_s, struct vx_principal *out, struct vx_err **err);
/* Loads an RSA public key (>= 2048 bits) from PEM text. Caller owns *out (EVP_PKEY_free).
 * -VX_E_INVALID when unreadable, not RSA or too short. */
int vx_jwt_load_rs256_pubkey(const char *pem, EVP_PKEY **out, struct vx_err **err);

/* API key token: "vx_" 8 lowercase hex "_" 43 base64url = 55 characters. */
#define VX_APIKEY_LEN        55
#define VX_APIKEY_PREFIX_LEN 11 /* "vx_<8 hex>": what listings show */

struct vx_store;

/* true if token has exactly the shape of an API key (says nothing about validity). */
bool vx_apikey_format_ok(const char *token);
/* Looks the key up by its hash (sha256 hex of the whole token) and fills out with the
 * key's organization, tier, id and name. -VX_E_UNAUTHORIZED "unknown api key" / "api key
 * revoked"; store failures keep their own code. */
int vx_apikey_resolve(struct vx_store *store, const char *hash, struct vx_principal *out,
                      struct vx_err **err);

/* true if s is 1..max chars of [A-Za-z0-9._-]. */
bool vx_auth_ident_ok(const char *s, size_t max);

#endif
