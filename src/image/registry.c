/* registry.c -- the registry client: OCI distribution spec v2 over libcurl (manifests and
 * blobs, token and Basic authentication, parallel resumable blob downloads).
 *
 * DESIGN
 * - https only; plain http only with opts->insecure_registry (CURLOPT_PROTOCOLS_STR). curl
 *   never follows redirects by itself: a manifest redirect is an error; a blob redirect (to
 *   S3-like storage) is followed by hand, GET only, at most 3 hops, without the
 *   Authorization header, and never from https to http.
 * - Authentication: anonymous first. On 401 the WWW-Authenticate challenge decides:
 *   "Bearer realm,service,scope" -> GET realm?service=&scope= (Basic credentials from
 *   config.json when there are any) -> "token" or "access_token" -> retry; "Basic" -> retry
 *   with config.json credentials. The resulting Authorization header is shared by all
 *   download threads under a mutex; a thread that meets a 401 (token expired) repeats the
 *   flow. config.json "auths" keys are matched after dropping the scheme and any path, with
 *   index.docker.io and registry-1.docker.io meaning docker.io. Credential helpers
 *   (credsStore) are not consulted.
 * - Manifests: capped at 4 MiB while streaming; the sha256 of the bytes is the digest, and a
 *   Docker-Content-Digest header that disagrees is an error (as is a digest reference that
 *   the bytes do not hash to).
 * - Blobs: opts->parallel threads (each with its own curl handle) take blobs from a shared
 *   cursor. A blob already cached is re-verified (blobcache.c). Otherwise bytes stream into
 *   the cache writer; a partial file from an interrupted pull is continued with
 *   "Range: bytes=N-" (206), or restarted when the server answers 200. A network error keeps
 *   the partial file; a digest mismatch deletes it. The first error stops the other threads
 *   at their next blob.
 * - Timeouts: connect within timeout_ms and never less than 1 byte/s for timeout_ms
 *   (CURLOPT_LOW_SPEED_*): a slow but moving download of a big layer is not cut off.
 */
#include "common/setup.h"

#include "image/pull_int.h"

#include <ctype.h>
#include <curl/curl.h> /* the HTTP client */
#include <jansson.h>
#include <openssl/evp.h> /* EVP_EncodeBlock for Basic credentials */
#include <pthread.h>
#include <sys/stat.h>

#include "image/image.h"  /* struct vx_image_ref, vx_image_opts */
#include "common/alloc.h" /* vx_xasprintf */
#include "common/err.h"   /* vx_err_set */
#include "common/json.h"  /* vx_json_parse */
#include "common/util.h"  /* vx_sha256_hex, vx_digest_valid */

#define ERRBODY_MAX   65536
#define MAX_REDIRECTS 3

struct vx_reg {
    char *registry; /* as in the reference: "docker.io", "localhost:5000" */
    char *base;     /* "https://registry-1.docker.io" */
    char *repo;
    char *what;  /* "registry 'localhost:5000'" */
    char *basic; /* base64 "user:pass" from config.json, or NULL */
    bool insecure;
    long timeout_ms;
    int parallel;
    char *user_agent;
    pthread_mutex_t mu; /* guards auth and creds_sent */
    char *auth;         /* "Authorization: ..." or NULL */
    bool creds_sent;
};

struct resp {
    long status;
    char *dcd; /* Docker-Content-Digest */
    char *www_auth;
    char *retry_after;
    char *ctype;
    struct vx_buf *body;    /* manifest or token body, or NULL */
    struct vx_buf errbody;  /* the body of a non-2xx answer (capped) */
    struct vx_bc_writer *w; /* blob destination, or NULL */
    struct vx_err *werr;    /* a write failure inside the callback */
    bool too_large;
    bool restarted;
    CURL *h;
};

static void resp_release(struct resp *rs)
{
    free(rs->dcd);
    free(rs->www_auth);
    free(rs->retry_after);
    free(rs->ctype);
    vx_buf_release(&rs->errbody);
    vx_err_free(&rs->werr);
    rs->dcd = rs->www_auth = rs->retry_after = rs->ctype = NULL;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct resp *rs = ud;
    size_t len = size * n, k;
    static const struct {
        const char *name;
        size_t off;
    } want[] = {
        {"docker-content-digest", offsetof(struct resp, dcd)},
        {"www-authenticate", offsetof(struct resp, www_auth)},
        {"retry-after", offsetof(struct resp, retry_after)},
        {"content-type", offsetof(struct resp, ctype)},
    };

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        free(rs->dcd);
        free(rs->www_auth);
        free(rs->retry_after);
        free(rs->ctype);
        rs->dcd = rs->www_auth = rs->retry_after = rs->ctype = NULL;
        return len;
    }
    for (size_t i = 0; i < VX_ARRAY_SIZE(want); i++) {
        k = strlen(want[i].name);
        if (len > k && p[k] == ':' && strncasecmp(p, want[i].name, k) == 0) {
            char **slot = (char **)((char *)rs + want[i].off);
            size_t s = k + 1, e = len;

            while (s < e && isspace((unsigned char)p[s]))
                s++;
            while (e > s && isspace((unsigned char)p[e - 1]))
                e--;
            free(*slot);
            *slot = vx_xstrndup(p + s, e - s > 8192 ? 8192 : e - s);
        }
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct resp *rs = ud;
    size_t len = size * n;
    long status = 0;

    curl_easy_getinfo(rs->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 && status != 206) {
        vx_buf_add(&rs->errbody, p, len < ERRBODY_MAX ? len : 0); /* keep the start only */
        return len;
    }
    if (rs->w) {
        if (status == 200 && rs->w->written > 0 && !rs->restarted) {
            /* our Range request was ignored: start over */
            if (vx_bc_writer_restart(rs->w, &rs->werr) < 0)
                return 0;
        }
        rs->restarted = true;
        return vx_bc_writer_write(rs->w, p, len, &rs->werr) < 0 ? 0 : len;
    }
    if (rs->body && vx_buf_add(rs->body, p, len) < 0) {
        rs->too_large = true;
        return 0;
    }
    return len;
}

static void setup_handle(struct vx_reg *r, CURL *h, const char *url, struct curl_slist *hdrs,
                         struct resp *rs)
{
    long lst = r->timeout_ms / 1000;

    curl_easy_reset(h);
    rs->h = h;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, r->insecure ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, r->user_agent);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, rs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, lst < 1 ? 1L : lst);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, NULL);
}

/* One GET; transport failures become errors, HTTP statuses are left to the caller. */
static int get_once(struct vx_reg *r, CURL *h, const char *url, const char *accept,
                    const char *auth, int64_t range_from, struct resp *rs, struct vx_err **err)
{
    struct curl_slist *hdrs = NULL;
    char line[128];
    CURLcode cc;
    int rc = 0;

    resp_release(rs);
    vx_buf_init(&rs->errbody, ERRBODY_MAX);
    rs->status = 0;
    rs->restarted = false;
    if (accept)
        hdrs = curl_slist_append(hdrs, accept);
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    if (range_from > 0) {
        snprintf(line, sizeof(line), "Range: bytes=%" PRId64 "-", range_from);
        hdrs = curl_slist_append(hdrs, line);
    }
    setup_handle(r, h, url, hdrs, rs);
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
    if (rs->werr) {
        rc = -(int)rs->werr->code;
        if (err && !*err) {
            *err = rs->werr;
            rs->werr = NULL;
        }
    } else if (rs->too_large) {
        rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "%s: manifest larger than %d bytes", r->what,
                        VX_MANIFEST_MAX);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = vx_err_set(err, VX_E_TIMEOUT, 0, "%s: no progress for %ld ms (%s)", r->what,
                        r->timeout_ms, curl_easy_strerror(cc));
    } else if (cc != CURLE_OK) {
        rc = vx_err_set(err, VX_E_NETWORK, 0, "%s: %s", r->what, curl_easy_strerror(cc));
    }
    curl_slist_free_all(hdrs);
    return rc;
}

/* Value of key in a challenge's params ("realm=\"...\",service=..."). Caller frees. */
static char *challenge_param(const char *s, const char *key)
{
    size_t kl = strlen(key);

    while (s && *s) {
        while (*s == ' ' || *s == ',')
            s++;
        if (strncasecmp(s, key, kl) == 0 && s[kl] == '=') {
            const char *v = s + kl + 1, *e;

            if (*v == '"') {
                v++;
                e = strchr(v, '"');
            } else {
                e = v + strcspn(v, ", ");
            }
            return e ? vx_xstrndup(v, (size_t)(e - v)) : NULL;
        }
        /* skip this param */
        s += strcspn(s, "=,");
        if (*s == '=') {
            s++;
            if (*s == '"') {
                s = strchr(s + 1, '"');
                if (s)
                    s++;
            } else {
                s += strcspn(s, ",");
            }
        }
    }
    return NULL;
}

static char *url_escape(CURL *h, const char *s)
{
    char *e = curl_easy_escape(h, s, 0), *r = vx_xstrdup(e ? e : "");

    curl_free(e);
    return r;
}

/* Answers a 401 challenge; sets r->auth. */
static int authenticate(struct vx_reg *r, CURL *h, const char *challenge, struct vx_err **err)
{
    char *realm = NULL, *service = NULL, *scope = NULL, *url = NULL, *a = NULL, *b = NULL;
    char *basic = NULL, *token_auth = NULL;
    struct vx_buf body = VX_BUF_INIT(1024 * 1024);
    struct resp rs = {0};
    json_t *j = NULL;
    const char *tok;
    int rc = 0;

    if (!challenge)
        return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "%s: 401 without a challenge", r->what);
    if (strncasecmp(challenge, "Basic", 5) == 0) {
        if (!r->basic)
            return vx_err_set(err, VX_E_UNAUTHORIZED, 0,
                              "%s requires credentials (401, Basic) and config.json has none "
                              "for it; no credentials were sent",
                              r->what);
        pthread_mutex_lock(&r->mu);
        free(r->auth);
        r->auth = vx_xasprintf("Authorization: Basic %s", r->basic);
        r->creds_sent = true;
        pthread_mutex_unlock(&r->mu);
        return 0;
    }
    if (strncasecmp(challenge, "Bearer", 6) != 0)
        return vx_err_set(err, VX_E_UNAUTHORIZED, 0, "%s: unsupported challenge '%.40s'", r->what,
                          challenge);
    realm = challenge_param(challenge + 6, "realm");
    service = challenge_param(challenge + 6, "service");
    scope = challenge_param(challenge + 6, "scope");
    if (!realm || (strncmp(realm, "https://", 8) != 0 &&
                   !(r->insecure && strncmp(realm, "http://", 7) == 0))) {
        rc = vx_err_set(err, VX_E_UNAUTHORIZED, 0, "%s: token realm '%.200s' is not https", r->what,
                        realm ? realm : "(none)");
        goto out;
    }
    a = service ? url_escape(h, service) : NULL;
    if (!scope)
        scope = vx_xasprintf("repository:%s:pull", r->repo);
    b = url_escape(h, scope);
    url = vx_xasprintf("%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?", b,
                       a ? "&service=" : "", a ? a : "");
    if (r->basic) {
        basic = vx_xasprintf("Authorization: Basic %s", r->basic);
        pthread_mutex_lock(&r->mu);
        r->creds_sent = true;
        pthread_mutex_unlock(&r->mu);
    }
    rs.body = &body;
    if ((rc = get_once(r, h, url, "Accept: application/json", basic, 0, &rs, err)) < 0)
        goto out;
    if (rs.status != 200) {
        rc = vx_err_set(err, rs.status == 403 ? VX_E_FORBIDDEN : VX_E_UNAUTHORIZED, 0,
                        "%s: token endpoint answered %ld (%s)", r->what, rs.status,
                        basic ? "credentials were sent" : "no credentials were sent");
        goto out;
    }
    if ((rc = vx_json_parse(body.data ? body.data : "", body.len, &j, err)) < 0) {
        rc = vx_err_wrap(err, "%s: token response", r->what);
        goto out;
    }
    tok = vx_json_str(j, "token");
    if (!tok || !*tok)
        tok = vx_json_str(j, "access_token");
    if (!tok || !*tok || strlen(tok) > 65536 || strpbrk(tok, "\r\n")) {
        rc = vx_err_set(err, VX_E_UNAUTHORIZED, 0, "%s: token response has no usable token",
                        r->what);
        goto out;
    }
    token_auth = vx_xasprintf("Authorization: Bearer %s", tok);
    pthread_mutex_lock(&r->mu);
    free(r->auth);
    r->auth = token_auth;
    token_auth = NULL;
    pthread_mutex_unlock(&r->mu);
out:
    json_decref(j);
    resp_release(&rs);
    vx_buf_release(&body);
    free(realm);
    free(service);
    free(scope);
    free(url);
    free(a);
    free(b);
    free(basic);
    free(token_auth);
    return rc;
}

/* GET with the auth dance: at most two challenges answered. */
static int get_authed(struct vx_reg *r, CURL *h, const char *url, const char *accept,
                      int64_t range_from, struct resp *rs, struct vx_err **err)
{
    int rc = 0;

    for (int attempt = 0; attempt < 3; attempt++) {
        char *auth;

        pthread_mutex_lock(&r->mu);
        auth = r->auth ? vx_xstrdup(r->auth) : NULL;
        pthread_mutex_unlock(&r->mu);
        rc = get_once(r, h, url, accept, auth, range_from, rs, err);
        free(auth);
        if (rc < 0 || rs->status != 401 || attempt == 2)
            return rc;
        /* the failed answer's body was not written anywhere that matters */
        if (rs->w && rs->w->written > range_from && vx_bc_writer_restart(rs->w, err) < 0)
            return -VX_E_IO;
        if ((rc = authenticate(r, h, rs->www_auth, err)) < 0)
            return rc;
    }
    return rc;
}

static int status_error(struct vx_reg *r, const struct resp *rs, const char *what_obj, bool is_blob,
                        struct vx_err **err)
{
    bool sent;

    pthread_mutex_lock(&r->mu);
    sent = r->creds_sent;
    pthread_mutex_unlock(&r->mu);
    switch (rs->status) {
    case 401:
    case 403:
        return vx_err_set(err, rs->status == 401 ? VX_E_UNAUTHORIZED : VX_E_FORBIDDEN, 0,
                          "%s denied access (%ld) to %s of '%s'; %s", r->what, rs->status, what_obj,
                          r->repo,
                          sent ? "credentials from config.json were sent"
                               : "no credentials were sent (none in config.json for it)");
    case 404:
        return vx_err_set(err, VX_E_NOT_FOUND, 0, "%s: %s unknown (404): %s of '%s' not found",
                          r->what, is_blob ? "blob" : "manifest", what_obj, r->repo);
    case 429:
        return vx_err_set(err, VX_E_QUOTA, 0,
                          "%s: too many requests (429) for %s; retry after %s seconds", r->what,
                          what_obj, rs->retry_after ? rs->retry_after : "an unknown number of");
    default:
        return vx_err_set(err, rs->status >= 500 ? VX_E_UNAVAILABLE : VX_E_NETWORK, 0,
                          "%s: HTTP %ld for %s of '%s'", r->what, rs->status, what_obj, r->repo);
    }
}

static int reg_manifest(void *ctx, const char *reference, struct vx_buf *body, char **media_type,
                        char **digest, struct vx_err **err)
{
    static const char accept[] = "Accept: application/vnd.oci.image.index.v1+json, "
                                 "application/vnd.oci.image.manifest.v1+json, "
                                 "application/vnd.docker.distribution.manifest.list.v2+json, "
                                 "application/vnd.docker.distribution.manifest.v2+json";
    struct vx_reg *r = ctx;
    struct resp rs = {0};
    CURL *h = curl_easy_init();
    char *url = vx_xasprintf("%s/v2/%s/manifests/%s", r->base, r->repo, reference), hex[65];
    char *obj = vx_xasprintf("manifest '%s'", reference);
    int rc;

    *media_type = NULL;
    *digest = NULL;
    vx_buf_release(body);
    vx_buf_init(body, VX_MANIFEST_MAX);
    rs.body = body;
    if (!h) {
        rc = vx_err_set(err, VX_E_NOMEM, 0, "curl_easy_init failed");
        goto out;
    }
    if ((rc = get_authed(r, h, url, accept, 0, &rs, err)) < 0)
        goto out;
    if (rs.status != 200) {
        rc = status_error(r, &rs, obj, false, err);
        goto out;
    }
    vx_sha256_hex(body->data ? body->data : "", body->len, hex);
    *digest = vx_xasprintf("sha256:%s", hex);
    if (rs.dcd && strncmp(rs.dcd, "sha256:", 7) == 0 && strcmp(rs.dcd, *digest) != 0) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        "%s: Docker-Content-Digest says %.80s but the bytes of %s hash to %s",
                        r->what, rs.dcd, obj, *digest);
        goto out;
    }
    if (strncmp(reference, "sha256:", 7) == 0 && strcmp(reference, *digest) != 0) {
        rc = vx_err_set(err, VX_E_UNPROCESSABLE, 0,
                        "%s: manifest %s does not match its digest: the bytes hash to %s", r->what,
                        reference, *digest);
        goto out;
    }
    if (rs.ctype) {
        size_t n = strcspn(rs.ctype, ";");

        *media_type = vx_xstrndup(rs.ctype, n);
    }
out:
    if (rc < 0) {
        free(*digest);
        *digest = NULL;
    }
    resp_release(&rs);
    if (h)
        curl_easy_cleanup(h);
    free(url);
    free(obj);
    return rc;
}

/* One blob into the cache. */
static int fetch_blob(struct vx_reg *r, CURL *h, const char *cache_dir, const char *digest,
                      int64_t size, char **path, struct vx_err **err)
{
    struct vx_bc_writer w;
    struct resp rs = {0};
    char *url = vx_xasprintf("%s/v2/%s/blobs/%s", r->base, r->repo, digest), *loc = NULL;
    char *obj = vx_xasprintf("blob %s", digest);
    int rc, hops = 0;
    bool keep = true;

    if (vx_bc_lookup(cache_dir, digest, size, path, NULL) == 0) {
        free(url);
        free(obj);
        return 0;
    }
    if ((rc = vx_bc_writer_begin(cache_dir, digest, size, true, &w, err)) < 0)
        goto out_nowriter;
    rs.w = &w;
    if (size >= 0 && w.written == size) {
        rc = vx_bc_writer_commit(&w, path, NULL, err);
        if (rc == 0)
            goto out_nowriter;
        /* a complete but wrong partial file: it was deleted; start again */
        vx_err_free(err);
        if ((rc = vx_bc_writer_begin(cache_dir, digest, size, false, &w, err)) < 0)
            goto out_nowriter;
    }
    rc = get_authed(r, h, url, NULL, w.written, &rs, err);
    while (rc == 0 && rs.status >= 301 && rs.status <= 308 && rs.status != 304 &&
           rs.status != 305 && rs.status != 306) {
        char *next = NULL;

        curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &next);
        if (!next || ++hops > MAX_REDIRECTS) {
            rc = vx_err_set(err, VX_E_NETWORK, 0, "%s: too many or bad redirects for %s", r->what,
                            obj);
            goto out;
        }
        if (strncmp(next, "https://", 8) != 0 &&
            !(r->insecure && strncmp(next, "http://", 7) == 0 &&
              strncmp(r->base, "http://", 7) == 0)) {
            rc = vx_err_set(err, VX_E_NETWORK, 0, "%s: refusing redirect of %s to '%.200s'",
                            r->what, obj, next);
            goto out;
        }
        free(loc);
        loc = vx_xstrdup(next);
        /* storage URLs are pre-signed: no Authorization header goes there */
        rc = get_once(r, h, loc, NULL, NULL, w.written, &rs, err);
    }
    if (rc < 0)
        goto out;
    if (rs.status != 200 && rs.status != 206) {
        rc = status_error(r, &rs, obj, true, err);
        goto out;
    }
    keep = false;
    rc = vx_bc_writer_commit(&w, path, NULL, err);
    goto out_nowriter;
out:
    if (rc < 0 && err && *err && (*err)->code == VX_E_UNPROCESSABLE)
        keep = false;
    vx_bc_writer_abort(&w, keep);
out_nowriter:
    resp_release(&rs);
    free(url);
    free(loc);
    free(obj);
    return rc;
}

struct pool {
    struct vx_reg *r;
    const char *cache_dir;
    char **digests;
    const int64_t *sizes;
    char **paths;
    size_t n, next;
    pthread_mutex_t mu;
    struct vx_err *err; /* the first failure */
    int rc;
};

static void *worker(void *arg)
{
    struct pool *p = arg;
    CURL *h = curl_easy_init();

    for (;;) {
        struct vx_err *e = NULL;
        size_t i;
        int rc;

        pthread_mutex_lock(&p->mu);
        if (p->rc < 0 || p->next == p->n || !h) {
            if (!h && p->rc == 0)
                p->rc = vx_err_set(&p->err, VX_E_NOMEM, 0, "curl_easy_init failed");
            pthread_mutex_unlock(&p->mu);
            break;
        }
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        rc = fetch_blob(p->r, h, p->cache_dir, p->digests[i], p->sizes[i], &p->paths[i], &e);
        if (rc < 0) {
            pthread_mutex_lock(&p->mu);
            if (p->rc == 0) {
                p->rc = rc;
                p->err = e;
                e = NULL;
            }
            pthread_mutex_unlock(&p->mu);
            vx_err_free(&e);
        }
    }
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

static int reg_blobs(void *ctx, const char *cache_dir, char **digests, const int64_t *sizes,
                     size_t n, char **paths, struct vx_err **err)
{
    struct vx_reg *r = ctx;
    struct pool p = {r, cache_dir, digests, sizes, paths, n, 0, PTHREAD_MUTEX_INITIALIZER, NULL, 0};
    size_t nt = (size_t)r->parallel < n ? (size_t)r->parallel : n;
    pthread_t *t = vx_xcalloc(nt + 1, sizeof(pthread_t));
    size_t started = 0;

    for (size_t i = 0; i < nt; i++) {
        if (pthread_create(&t[i], NULL, worker, &p) != 0)
            break;
        started++;
    }
    if (started == 0)
        worker(&p);
    for (size_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    free(t);
    pthread_mutex_destroy(&p.mu);
    if (p.rc < 0) {
        for (size_t i = 0; i < n; i++) {
            free(paths[i]);
            paths[i] = NULL;
        }
        if (err && !*err)
            *err = p.err;
        else
            vx_err_free(&p.err);
        return p.rc;
    }
    return 0;
}

void vx_reg_fetcher(struct vx_reg *r, struct vx_fetcher *f)
{
    f->ctx = r;
    f->what = r->what;
    f->manifest = reg_manifest;
    f->blobs = reg_blobs;
}

/* "https://index.docker.io/v1/" -> "docker.io"; "host:5000" stays. Caller frees. */
static char *auth_key_host(const char *k)
{
    const char *s = strstr(k, "://");
    char *h;

    s = s ? s + 3 : k;
    h = vx_xstrndup(s, strcspn(s, "/"));
    if (strcmp(h, "index.docker.io") == 0 || strcmp(h, "registry-1.docker.io") == 0) {
        free(h);
        h = vx_xstrdup("docker.io");
    }
    return h;
}

static char *config_path(const struct vx_image_opts *opts)
{
    const char *d = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

    if (opts->docker_config)
        return vx_xstrdup(opts->docker_config);
    if (d && *d)
        return vx_xasprintf("%s/config.json", d);
    if (home && *home)
        return vx_xasprintf("%s/.docker/config.json", home);
    return NULL;
}

static int load_creds(struct vx_reg *r, const struct vx_image_opts *opts, struct vx_err **err)
{
    char *path = config_path(opts);
    struct vx_buf b = VX_BUF_INIT(1024 * 1024);
    json_t *j = NULL, *auths, *v;
    const char *k;
    struct stat st;
    int rc = 0;

    if (!path || (!opts->docker_config && stat(path, &st) < 0))
        goto out;
    if ((rc = vx_bc_read_file(path, 1024 * 1024, &b, err)) < 0 ||
        (rc = vx_json_parse(b.data ? b.data : "", b.len, &j, err)) < 0) {
        rc = vx_err_wrap(err, "docker config '%s'", path);
        goto out;
    }
    auths = json_object_get(j, "auths");
    json_object_foreach(auths, k, v)
    {
        char *h = auth_key_host(k);
        bool match = strcmp(h, r->registry) == 0;

        free(h);
        if (!match)
            continue;
        if (vx_json_str(v, "auth") && *vx_json_str(v, "auth")) {
            r->basic = vx_xstrdup(vx_json_str(v, "auth"));
        } else if (vx_json_str(v, "username") && vx_json_str(v, "password")) {
            char *up =
                vx_xasprintf("%s:%s", vx_json_str(v, "username"), vx_json_str(v, "password"));
            size_t n = strlen(up);

            r->basic = vx_xmalloc(4 * ((n + 2) / 3) + 1);
            EVP_EncodeBlock((unsigned char *)r->basic, (unsigned char *)up, (int)n);
            free(up);
        }
        if (r->basic && strpbrk(r->basic, "\r\n")) {
            free(r->basic);
            r->basic = NULL;
        }
        break;
    }
out:
    json_decref(j);
    vx_buf_release(&b);
    free(path);
    return rc;
}

int vx_reg_open(const struct vx_image_ref *ref, const struct vx_image_opts *opts,
                struct vx_reg **out, struct vx_err **err)
{
    struct vx_reg *r = vx_xcalloc(1, sizeof(*r));
    const char *api = ref->registry;
    int rc;

    *out = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&r->mu, NULL);
    if (strcmp(api, "docker.io") == 0)
        api = "registry-1.docker.io";
    r->registry = vx_xstrdup(ref->registry);
    r->repo = vx_xstrdup(ref->repository);
    r->insecure = opts->insecure_registry;
    r->base = vx_xasprintf("%s://%s", r->insecure ? "http" : "https", api);
    r->what = vx_xasprintf("registry '%s'", ref->registry);
    r->timeout_ms = opts->timeout_ms > 0 ? (long)opts->timeout_ms : 60000;
    r->parallel = opts->parallel > 0 ? (opts->parallel > 32 ? 32 : opts->parallel) : 4;
    r->user_agent = vx_xstrdup(opts->user_agent ? opts->user_agent : "vexxy/" VX_VERSION);
    if ((rc = load_creds(r, opts, err)) < 0) {
        vx_reg_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void vx_reg_close(struct vx_reg *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r->registry);
    free(r->base);
    free(r->repo);
    free(r->what);
    free(r->basic);
    free(r->user_agent);
    free(r->auth);
    free(r);
}
