/* auth.c -- resolving an "Authorization: Bearer ..." header to a principal.
 *
 * DESIGN
 * A bearer token starting with "vx_" is an API key; one with exactly two dots is a JWT;
 * anything else is refused. API keys are looked up in the store by the SHA-256 of the
 * token (apikey.c); JWTs are verified without the store (jwt.c) and then their
 * organization is created on first sight (vx_store_org_ensure).
 *
 * Cache: the API handlers call vx_auth_check() on every request from several threads, so
 * each vx_auth keeps an in-memory map, guarded by one mutex, from "k:<key hash>" to the
 * resolved principal and from "o:<org>" to "this organization is known to exist". Entries
 * live cfg->cache_ttl_ms (0 disables the cache) and at most CACHE_MAX of them are kept: when
 * full, expired entries are dropped first, then the one closest to expiry. Only successes
 * are cached, so unknown keys cannot fill the map and a key issued elsewhere works at once.
 * The consequence, by design: a revoked API key keeps working on an instance that cached
 * it for up to cache_ttl_ms (each instance has its own cache; nothing is broadcast).
 */
#include "common/setup.h"

#include <pthread.h>

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "common/alloc.h" /* for vx_xcalloc(), vx_xstrdup() */
#include "common/err.h"
#include "common/log.h"  /* for vx_warn() */
#include "common/util.h" /* for vx_mono_ms(), vx_now_ms(), vx_sha256_hex() */
#include "store/store.h" /* for vx_store_org_ensure() */

#define CACHE_MAX     4096
#define CACHE_BUCKETS 1024 /* power of two */

struct cache_entry {
    struct cache_entry *next; /* bucket chain */
    char key[144];            /* "k:<64 hex>" or "o:<org id up to 128>" */
    int64_t expires_ms;       /* vx_mono_ms() deadline */
    struct vx_principal p;
};

struct vx_auth {
    struct vx_auth_config cfg; /* strings below are our own copies */
    char *hs256_secret, *issuer, *audience;
    EVP_PKEY *rs256_key;    /* loaded once; EVP_DigestVerify on a shared key is safe */
    struct vx_store *store; /* borrowed */
    pthread_mutex_t mu;     /* guards everything below */
    struct cache_entry *buckets[CACHE_BUCKETS];
    size_t n;
};

static size_t bucket_of(const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a: org ids are not uniformly distributed */

    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h & (CACHE_BUCKETS - 1);
}

static void cache_unlink(struct vx_auth *a, struct cache_entry **link)
{
    struct cache_entry *e = *link;

    *link = e->next;
    explicit_bzero(e, sizeof(*e));
    free(e);
    a->n--;
}

/* Makes room for one entry. Caller holds a->mu. */
static void cache_evict(struct vx_auth *a, int64_t now)
{
    struct cache_entry **soonest = NULL;

    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        struct cache_entry **link = &a->buckets[b];

        while (*link) {
            if ((*link)->expires_ms <= now) {
                cache_unlink(a, link);
                continue;
            }
            link = &(*link)->next;
        }
    }
    if (a->n < CACHE_MAX)
        return;
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        for (struct cache_entry **link = &a->buckets[b]; *link; link = &(*link)->next) {
            if (!soonest || (*link)->expires_ms < (*soonest)->expires_ms)
                soonest = link;
        }
    }
    if (soonest)
        cache_unlink(a, soonest);
}

static bool cache_get(struct vx_auth *a, const char *key, struct vx_principal *out)
{
    int64_t now = vx_mono_ms();
    bool hit = false;

    if (a->cfg.cache_ttl_ms <= 0)
        return false;
    pthread_mutex_lock(&a->mu);
    for (struct cache_entry **link = &a->buckets[bucket_of(key)]; *link; link = &(*link)->next) {
        if (strcmp((*link)->key, key) != 0)
            continue;
        if ((*link)->expires_ms <= now) {
            cache_unlink(a, link);
        } else {
            if (out)
                *out = (*link)->p;
            hit = true;
        }
        break;
    }
    pthread_mutex_unlock(&a->mu);
    return hit;
}

static void cache_put(struct vx_auth *a, const char *key, const struct vx_principal *p)
{
    int64_t now = vx_mono_ms();
    struct cache_entry *e;
    size_t b = bucket_of(key);

    if (a->cfg.cache_ttl_ms <= 0)
        return;
    pthread_mutex_lock(&a->mu);
    for (e = a->buckets[b]; e; e = e->next) {
        if (strcmp(e->key, key) == 0)
            break;
    }
    if (!e) {
        if (a->n >= CACHE_MAX)
            cache_evict(a, now);
        e = vx_xcalloc(1, sizeof(*e));
        snprintf(e->key, sizeof(e->key), "%s", key);
        e->next = a->buckets[b];
        a->buckets[b] = e;
        a->n++;
    }
    e->p = *p;
    e->expires_ms = now + a->cfg.cache_ttl_ms;
    pthread_mutex_unlock(&a->mu);
}

int vx_auth_new(const struct vx_auth_config *cfg, struct vx_store *store, struct vx_auth **out,
                struct vx_err **err)
{
    struct vx_auth *a = NULL;
    int rc;

    if (!store)
        return vx_err_set(err, VX_E_INVALID, 0, "authentication needs a store");
    a = vx_xcalloc(1, sizeof(*a));
    a->cfg = *cfg;
    a->store = store;
    pthread_mutex_init(&a->mu, NULL);
    if (cfg->jwt_hs256_secret && *cfg->jwt_hs256_secret) {
        a->hs256_secret = vx_xstrdup(cfg->jwt_hs256_secret);
        if (strlen(a->hs256_secret) < 32)
            vx_warn("the jwt hs256 secret is shorter than 32 bytes: easy to brute-force");
    }
    a->issuer = vx_xstrdup(cfg->jwt_issuer);
    a->audience = vx_xstrdup(cfg->jwt_audience);
    a->cfg.jwt_hs256_secret = a->hs256_secret;
    a->cfg.jwt_issuer = a->issuer;
    a->cfg.jwt_audience = a->audience;
    a->cfg.jwt_rs256_pubkey = NULL; /* the loaded key below is used instead */
    if (a->cfg.cache_ttl_ms < 0)
        a->cfg.cache_ttl_ms = 0;
    if (cfg->jwt_rs256_pubkey) {
        rc = vx_jwt_load_rs256_pubkey(cfg->jwt_rs256_pubkey, &a->rs256_key, err);
        if (rc < 0)
            goto out;
    }
    *out = a;
    a = NULL;
    rc = 0;
out:
    vx_auth_free(a);
    return rc;
}

void vx_auth_free(struct vx_auth *a)
{
    if (!a)
        return;
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        while (a->buckets[b])
            cache_unlink(a, &a->buckets[b]);
    }
    pthread_mutex_destroy(&a->mu);
    EVP_PKEY_free(a->rs256_key);
    if (a->hs256_secret)
        explicit_bzero(a->hs256_secret, strlen(a->hs256_secret));
    free(a->hs256_secret);
    free(a->issuer);
    free(a->audience);
    free(a);
}

/* Points *tok and *len at the token of "Bearer <token>": case-insensitive scheme, one or more
 * spaces, trailing blanks ignored, only visible ASCII inside. */
static int parse_bearer(const char *h, const char **tok, size_t *len, struct vx_err **err)
{
    const char *p;
    size_t n;

    if (!h || !*h)
        return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "missing bearer token");
    if (strncasecmp(h, "bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\0'))
        return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "authorization scheme must be bearer");
    p = h + 6;
    while (*p == ' ')
        p++;
    n = strnlen(p, VX_JWT_MAX_TOKEN + 64);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0)
        return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "missing bearer token");
    if (n > VX_JWT_MAX_TOKEN)
        return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "token too large");
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "malformed bearer token");
    }
    *tok = p;
    *len = n;
    return 0;
}

static int check_apikey(struct vx_auth *a, const char *token, struct vx_principal *out,
                        struct vx_err **err)
{
    char hash[65], key[144];
    struct vx_principal p;
    int rc;

    if (!vx_apikey_format_ok(token))
        return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "malformed api key");
    vx_sha256_hex(token, strlen(token), hash);
    snprintf(key, sizeof(key), "k:%s", hash);
    if (cache_get(a, key, out))
        return 0;
    rc = vx_apikey_resolve(a->store, hash, &p, err);
    if (rc < 0)
        return rc;
    cache_put(a, key, &p);
    *out = p;
    return 0;
}

static int check_jwt(struct vx_auth *a, const char *token, struct vx_principal *out,
                     struct vx_err **err)
{
    struct vx_principal p;
    char key[144];
    int rc;

    rc = vx_jwt_verify_key(&a->cfg, a->rs256_key, token, vx_now_ms() / 1000, &p, err);
    if (rc < 0)
        return rc;
    snprintf(key, sizeof(key), "o:%s", p.org_id);
    if (!cache_get(a, key, NULL)) {
        rc = vx_store_org_ensure(a->store, p.org_id, p.tier, a->cfg.default_jobs_per_month, NULL,
                                 err);
        if (rc < 0)
            return vx_err_wrap(err, "organization '%s'", p.org_id);
        cache_put(a, key, &p);
    }
    *out = p;
    return 0;
}

int vx_auth_check(struct vx_auth *a, const char *authorization, struct vx_principal *out,
                  struct vx_err **err)
{
    const char *tok = NULL;
    char *token = NULL;
    size_t len = 0, dots = 0;
    int rc;

    rc = parse_bearer(authorization, &tok, &len, err);
    if (rc < 0)
        return rc;
    token = vx_xstrndup(tok, len);
    for (size_t i = 0; i < len; i++)
        dots += token[i] == '.';
    if (strncmp(token, "vx_", 3) == 0)
        rc = check_apikey(a, token, out, err);
    else if (dots == 2)
        rc = check_jwt(a, token, out, err);
    else
        rc = vx_err_set(err, VX_E_UNAUTHORIZED, 0, "malformed bearer token");
    explicit_bzero(token, len);
    free(token);
    return rc;
}
