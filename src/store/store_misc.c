/* store_misc.c -- the store's smaller tables: evidence, organizations and their quotas,
 * API keys, webhook deliveries and live workers (see store.h).
 *
 * DESIGN
 * An API key lookup happens on every authenticated request, so it must stay a read: it
 * writes last_used_at only when the stored value is more than a minute old, and that
 * write is itself conditional, so concurrent requests with one key cause one write. A
 * webhook delivery is claimed by pushing its next_attempt_at into the future (a lease),
 * so two senders never post it at once and a sender that dies releases it by time.
 */
#include "common/setup.h"

#include "store/store.h"
#include "store/store_int.h" /* pool, row helpers */
#include "store/db.h"        /* the driver layer */
#include "common/alloc.h"    /* for vx_xcalloc(), vx_xgrow() */
#include "common/err.h"      /* for vx_err_set() */
#include "common/util.h"     /* for vx_now_ms(), vx_uuid4() */

typedef vx_store_row_fn row_fn;

/* Runs a SELECT for at most one row; 0 and *out NULL when there is none. */
static int fetch_one(struct vx_store *s, const char *sql, int n, const char *const *p, row_fn *fn,
                     void **out, struct vx_err **err)
{
    struct vx_db *db = NULL;
    int rc;

    *out = NULL;
    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_query(db, sql, n, p, err);
    if (rc == 0) {
        rc = vx_db_step(db, err);
        if (rc == 1) {
            *out = fn(db);
            rc = 0;
        }
    }
    vx_store_conn_put(s, db);
    return rc;
}

/* One write statement on a pooled connection; *changed optional. */
static int exec_one(struct vx_store *s, const char *sql, int n, const char *const *p,
                    int64_t *changed, struct vx_err **err)
{
    struct vx_db *db = NULL;
    int rc;

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_exec(db, sql, n, p, changed, err);
    vx_store_conn_put(s, db);
    return rc;
}

/* ---- evidence ------------------------------------------------------------------------ */

#define EVIDENCE_COLS "id, job_id, type, media_type, data, storage_path, size, created_at"

static void *evidence_row(struct vx_db *db)
{
    struct vx_evidence_rec *e = vx_xcalloc(1, sizeof(*e));

    e->id = vx_store_col_dup(db, 0);
    e->job_id = vx_store_col_dup(db, 1);
    e->type = vx_store_col_dup(db, 2);
    e->media_type = vx_store_col_dup(db, 3);
    e->data = vx_store_col_dup(db, 4);
    e->storage_path = vx_store_col_dup(db, 5);
    e->size = vx_store_col_i64(db, 6);
    e->created_at = vx_store_col_i64(db, 7);
    return e;
}

static void evidence_free(void *p)
{
    vx_evidence_rec_free(p);
}

int vx_store_evidence_put(struct vx_store *s, const char *job_id, const char *type,
                          const char *media_type, const char *data, size_t len,
                          const char *storage_path, char **id_out, struct vx_err **err)
{
    char id[37], size[24], ts[24];
    char *text = NULL;
    int rc;

    if (!job_id || !type)
        return vx_err_set(err, VX_E_INVALID, 0, "evidence needs a job and a type");
    /* Columns are text: inline content must be text too (documents are JSON). */
    if (data) {
        if (memchr(data, '\0', len))
            return vx_err_set(err, VX_E_INVALID, 0, "evidence '%s' of job '%s' contains a NUL byte",
                              type, job_id);
        text = vx_xstrndup(data, len);
    }
    vx_uuid4(id);
    {
        const char *p[] = {id,
                           job_id,
                           type,
                           media_type ? media_type : "application/json",
                           text,
                           storage_path,
                           vx_store_i64(size, (int64_t)len),
                           vx_store_i64(ts, vx_now_ms())};

        rc = exec_one(s,
                      "INSERT INTO evidence (" EVIDENCE_COLS ")"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                      8, p, NULL, err);
    }
    free(text);
    if (rc < 0)
        return vx_err_wrap(err, "store evidence '%s' of job '%s'", type, job_id);
    if (id_out)
        *id_out = vx_xstrdup(id);
    return 0;
}

int vx_store_evidence_get(struct vx_store *s, const char *org_id, const char *id,
                          struct vx_evidence_rec **out, struct vx_err **err)
{
    const char *p[] = {id, org_id};
    void *row = NULL;
    int rc;

    if (!id)
        return vx_err_set(err, VX_E_INVALID, 0, "no evidence id");
    if (org_id)
        rc = fetch_one(s,
                       "SELECT e.id, e.job_id, e.type, e.media_type, e.data, e.storage_path,"
                       " e.size, e.created_at FROM evidence e JOIN jobs j ON j.id = e.job_id"
                       " WHERE e.id = $1 AND j.org_id = $2",
                       2, p, evidence_row, &row, err);
    else
        rc = fetch_one(s, "SELECT " EVIDENCE_COLS " FROM evidence WHERE id = $1", 1, p,
                       evidence_row, &row, err);
    if (rc < 0)
        return rc;
    if (!row)
        return vx_err_set(err, VX_E_NOT_FOUND, 0, "evidence '%s' not found", id);
    *out = row;
    return 0;
}

int vx_store_evidence_list(struct vx_store *s, const char *job_id, struct vx_evidence_rec ***out,
                           size_t *n, struct vx_err **err)
{
    const char *p[] = {job_id};

    return vx_store_fetch_all(s,
                              "SELECT " EVIDENCE_COLS " FROM evidence WHERE job_id = $1"
                              " ORDER BY created_at, id",
                              1, p, evidence_row, evidence_free, (void ***)out, n, err);
}

int vx_store_evidence_purge(struct vx_store *s, int64_t before, int *deleted, struct vx_err **err)
{
    char ts[24];
    const char *p[] = {vx_store_i64(ts, before)};
    int64_t changed = 0;
    int rc;

    rc = exec_one(s, "DELETE FROM evidence WHERE created_at < $1", 1, p, &changed, err);
    if (rc == 0 && deleted)
        *deleted = (int)changed;
    return rc;
}

/* ---- organizations and quotas -------------------------------------------------------- */

#define ORG_COLS "id, name, tier, jobs_per_month, created_at"

static void *org_row(struct vx_db *db)
{
    struct vx_org_rec *o = vx_xcalloc(1, sizeof(*o));

    o->id = vx_store_col_dup(db, 0);
    o->name = vx_store_col_dup(db, 1);
    o->tier = vx_store_col_dup(db, 2);
    o->jobs_per_month = vx_store_col_i64(db, 3);
    o->created_at = vx_store_col_i64(db, 4);
    return o;
}

static void org_free(void *p)
{
    vx_org_rec_free(p);
}

static const char SQL_ORG_BY_ID[] = "SELECT " ORG_COLS " FROM organizations WHERE id = $1";

int vx_store_org_create(struct vx_store *s, const char *id, const char *name, const char *tier,
                        int64_t jobs_per_month, struct vx_org_rec **out, struct vx_err **err)
{
    char idbuf[37], lim[24], ts[24];
    void *row = NULL;
    int rc;

    if (!name || !*name)
        return vx_err_field(err, VX_E_INVALID, "name", "organization needs a name");
    if (!id) {
        vx_uuid4(idbuf);
        id = idbuf;
    }
    {
        const char *p[] = {id, name, tier ? tier : "free",
                           vx_store_i64(lim, jobs_per_month < 0 ? -1 : jobs_per_month),
                           vx_store_i64(ts, vx_now_ms())};

        rc = exec_one(s, "INSERT INTO organizations (" ORG_COLS ") VALUES ($1, $2, $3, $4, $5)", 5,
                      p, NULL, err);
    }
    if (rc < 0)
        return vx_err_wrap(err, "create organization '%s'", name);
    if (!out)
        return 0;
    {
        const char *p[] = {id};

        rc = fetch_one(s, SQL_ORG_BY_ID, 1, p, org_row, &row, err);
    }
    if (rc < 0)
        return rc;
    if (!row)
        return vx_err_set(err, VX_E_STORE, 0, "organization '%s' vanished", id);
    *out = row;
    return 0;
}

int vx_store_org_ensure(struct vx_store *s, const char *id, const char *tier,
                        int64_t jobs_per_month, struct vx_org_rec **out, struct vx_err **err)
{
    char lim[24], ts[24];
    const char *p[] = {id, tier ? tier : "free",
                       vx_store_i64(lim, jobs_per_month < 0 ? -1 : jobs_per_month),
                       vx_store_i64(ts, vx_now_ms())};
    void *row = NULL;
    int rc;

    if (!id || !*id)
        return vx_err_field(err, VX_E_INVALID, "org", "organization needs an id");
    /* The id doubles as the name of an organization that appears on first use. */
    rc = exec_one(s,
                  "INSERT INTO organizations (" ORG_COLS ") VALUES ($1, $1, $2, $3, $4)"
                  " ON CONFLICT DO NOTHING",
                  4, p, NULL, err);
    if (rc < 0)
        return vx_err_wrap(err, "ensure organization '%s'", id);
    rc = fetch_one(s, SQL_ORG_BY_ID, 1, p, org_row, &row, err);
    if (rc < 0)
        return rc;
    if (!row)
        return vx_err_set(err, VX_E_CONFLICT, 0,
                          "organization '%s' cannot be created: another one has that name", id);
    if (out)
        *out = row;
    else
        vx_org_rec_free(row);
    return 0;
}

int vx_store_org_get(struct vx_store *s, const char *id_or_name, struct vx_org_rec **out,
                     struct vx_err **err)
{
    const char *p[] = {id_or_name};
    void *row = NULL;
    int rc;

    if (!id_or_name)
        return vx_err_set(err, VX_E_INVALID, 0, "no organization id");
    rc = fetch_one(s, SQL_ORG_BY_ID, 1, p, org_row, &row, err);
    if (rc == 0 && !row)
        rc = fetch_one(s, "SELECT " ORG_COLS " FROM organizations WHERE name = $1", 1, p, org_row,
                       &row, err);
    if (rc < 0)
        return rc;
    if (!row)
        return vx_err_set(err, VX_E_NOT_FOUND, 0, "organization '%s' not found", id_or_name);
    *out = row;
    return 0;
}

int vx_store_org_list(struct vx_store *s, struct vx_org_rec ***out, size_t *n, struct vx_err **err)
{
    return vx_store_fetch_all(s, "SELECT " ORG_COLS " FROM organizations ORDER BY created_at, id",
                              0, NULL, org_row, org_free, (void ***)out, n, err);
}

int vx_store_quota_set(struct vx_store *s, const char *org_id, int64_t jobs_per_month,
                       struct vx_err **err)
{
    char lim[24];
    const char *p[] = {org_id, vx_store_i64(lim, jobs_per_month < 0 ? -1 : jobs_per_month)};
    int64_t changed = 0;
    int rc;

    rc = exec_one(s, "UPDATE organizations SET jobs_per_month = $2 WHERE id = $1", 2, p, &changed,
                  err);
    if (rc == 0 && changed == 0)
        rc = vx_err_set(err, VX_E_NOT_FOUND, 0, "organization '%s' not found", org_id);
    return rc;
}

int vx_store_quota_get(struct vx_store *s, const char *org_id, const char *month, int64_t *limit,
                       int64_t *used, struct vx_err **err)
{
    const char *p[] = {org_id, month};
    struct vx_db *db = NULL;
    int rc;

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_query(db,
                     "SELECT o.jobs_per_month, COALESCE(q.jobs_used, 0) FROM organizations o"
                     " LEFT JOIN quota_usage q ON q.org_id = o.id AND q.month = $2"
                     " WHERE o.id = $1",
                     2, p, err);
    if (rc == 0) {
        rc = vx_db_step(db, err);
        if (rc == 1) {
            if (limit)
                *limit = vx_store_col_i64(db, 0);
            if (used)
                *used = vx_store_col_i64(db, 1);
            rc = 0;
        } else if (rc == 0) {
            rc = vx_err_set(err, VX_E_NOT_FOUND, 0, "organization '%s' not found", org_id);
        }
    }
    vx_store_conn_put(s, db);
    return rc;
}

/* ---- API keys ------------------------------------------------------------------------ */

#define APIKEY_COLS "id, org_id, name, prefix, hash, revoked, created_at, last_used_at"
/* Coarse on purpose: a write per request would make every API call a write. */
#define APIKEY_TOUCH_MS 60000

static void *apikey_row(struct vx_db *db)
{
    struct vx_apikey_rec *k = vx_xcalloc(1, sizeof(*k));

    k->id = vx_store_col_dup(db, 0);
    k->org_id = vx_store_col_dup(db, 1);
    k->name = vx_store_col_dup(db, 2);
    k->prefix = vx_store_col_dup(db, 3);
    k->hash = vx_store_col_dup(db, 4);
    k->revoked = vx_store_col_i64(db, 5) != 0;
    k->created_at = vx_store_col_i64(db, 6);
    k->last_used_at = vx_store_col_i64(db, 7);
    return k;
}

static void apikey_free(void *p)
{
    vx_apikey_rec_free(p);
}

int vx_store_apikey_create(struct vx_store *s, const char *org_id, const char *name,
                           const char *prefix, const char *hash, char **id_out, struct vx_err **err)
{
    char id[37], ts[24];
    const char *p[] = {id, org_id, name ? name : "", prefix, hash, vx_store_i64(ts, vx_now_ms())};
    int rc;

    if (!org_id || !prefix || !hash)
        return vx_err_set(err, VX_E_INVALID, 0, "api key needs an organization, prefix and hash");
    vx_uuid4(id);
    rc = exec_one(s,
                  "INSERT INTO api_keys (id, org_id, name, prefix, hash, revoked, created_at,"
                  " last_used_at) VALUES ($1, $2, $3, $4, $5, 0, $6, 0)",
                  6, p, NULL, err);
    if (rc < 0)
        return vx_err_wrap(err, "create api key for organization '%s'", org_id);
    if (id_out)
        *id_out = vx_xstrdup(id);
    return 0;
}

int vx_store_apikey_lookup(struct vx_store *s, const char *hash, struct vx_apikey_rec **out,
                           struct vx_err **err)
{
    const char *p[] = {hash};
    struct vx_apikey_rec *k = NULL;
    int64_t now = vx_now_ms();
    void *row = NULL;
    int rc;

    if (!hash)
        return vx_err_set(err, VX_E_INVALID, 0, "no api key hash");
    rc = fetch_one(s, "SELECT " APIKEY_COLS " FROM api_keys WHERE hash = $1", 1, p, apikey_row,
                   &row, err);
    if (rc < 0)
        return rc;
    if (!row)
        return vx_err_set(err, VX_E_NOT_FOUND, 0, "unknown api key");
    k = row;
    if (!k->revoked && now - k->last_used_at >= APIKEY_TOUCH_MS) {
        char ts[24], before[24];
        const char *u[] = {k->id, vx_store_i64(ts, now),
                           vx_store_i64(before, now - APIKEY_TOUCH_MS)};
        struct vx_err *e = NULL;

        /* Best effort: a busy database must not turn a valid key into a failed request. */
        if (exec_one(s,
                     "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND last_used_at <= $3",
                     3, u, NULL, &e) == 0)
            k->last_used_at = now;
        vx_err_free(&e);
    }
    *out = k;
    return 0;
}

int vx_store_apikey_revoke(struct vx_store *s, const char *id_or_prefix, struct vx_err **err)
{
    const char *p[] = {id_or_prefix};
    int64_t changed = 0;
    struct vx_db *db = NULL;
    int rc;

    if (!id_or_prefix || !*id_or_prefix)
        return vx_err_set(err, VX_E_INVALID, 0, "no api key id");
    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_begin(db, err);
    if (rc < 0)
        goto out;
    rc = vx_db_exec(db, "UPDATE api_keys SET revoked = 1 WHERE id = $1", 1, p, &changed, err);
    if (rc == 0 && changed == 0) {
        int64_t matches = 0;

        rc = vx_db_query(db, "SELECT COUNT(*) FROM api_keys WHERE prefix = $1", 1, p, err);
        if (rc == 0 && (rc = vx_db_step(db, err)) == 1) {
            matches = vx_store_col_i64(db, 0);
            rc = 0;
        }
        vx_db_done(db);
        if (rc == 0 && matches > 1)
            rc = vx_err_set(err, VX_E_CONFLICT, 0, "prefix '%s' matches %" PRId64 " keys",
                            id_or_prefix, matches);
        else if (rc == 0)
            rc = vx_db_exec(db, "UPDATE api_keys SET revoked = 1 WHERE prefix = $1", 1, p, &changed,
                            err);
        if (rc == 0 && changed == 0)
            rc = vx_err_set(err, VX_E_NOT_FOUND, 0, "api key '%s' not found", id_or_prefix);
    }
    if (rc == 0)
        rc = vx_db_commit(db, err);
    if (rc < 0)
        vx_db_rollback(db);
out:
    vx_store_conn_put(s, db);
    return rc;
}

int vx_store_apikey_list(struct vx_store *s, const char *org_id, struct vx_apikey_rec ***out,
                         size_t *n, struct vx_err **err)
{
    const char *p[] = {org_id};

    if (org_id)
        return vx_store_fetch_all(s,
                                  "SELECT " APIKEY_COLS " FROM api_keys WHERE org_id = $1"
                                  " ORDER BY created_at, id",
                                  1, p, apikey_row, apikey_free, (void ***)out, n, err);
    return vx_store_fetch_all(s, "SELECT " APIKEY_COLS " FROM api_keys ORDER BY created_at, id", 0,
                              NULL, apikey_row, apikey_free, (void ***)out, n, err);
}

/* ---- webhook deliveries -------------------------------------------------------------- */

#define WEBHOOK_COLS                                                                               \
    "id, job_id, url, payload, attempts, next_attempt_at, status, last_http_status, "              \
    "last_error"

static void *webhook_row(struct vx_db *db)
{
    struct vx_webhook_rec *w = vx_xcalloc(1, sizeof(*w));

    w->id = vx_store_col_dup(db, 0);
    w->job_id = vx_store_col_dup(db, 1);
    w->url = vx_store_col_dup(db, 2);
    w->payload = vx_store_col_dup(db, 3);
    w->attempts = (int)vx_store_col_i64(db, 4);
    w->next_attempt_at = vx_store_col_i64(db, 5);
    w->status = vx_store_col_dup(db, 6);
    w->last_http_status = (int)vx_store_col_i64(db, 7);
    w->last_error = vx_store_col_dup(db, 8);
    return w;
}

static void webhook_free(void *p)
{
    vx_webhook_rec_free(p);
}

int vx_store_webhook_insert(struct vx_db *db, const char *job_id, const char *url,
                            const char *payload, int64_t now, struct vx_err **err)
{
    char id[37], ts[24];
    const char *p[] = {id, job_id, url, payload, vx_store_i64(ts, now)};

    vx_uuid4(id);
    return vx_db_exec(db,
                      "INSERT INTO webhook_deliveries (id, job_id, url, payload, attempts,"
                      " next_attempt_at, status, last_http_status, created_at)"
                      " VALUES ($1, $2, $3, $4, 0, $5, 'pending', 0, $5)",
                      5, p, NULL, err);
}

int vx_store_webhook_enqueue(struct vx_store *s, const char *job_id, const char *url,
                             const char *payload, struct vx_err **err)
{
    struct vx_db *db = NULL;
    int rc;

    if (!job_id || !url || !payload)
        return vx_err_set(err, VX_E_INVALID, 0, "webhook needs a job, a url and a payload");
    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_store_webhook_insert(db, job_id, url, payload, vx_now_ms(), err);
    vx_store_conn_put(s, db);
    if (rc < 0)
        return vx_err_wrap(err, "enqueue webhook of job '%s'", job_id);
    return 0;
}

static const char SQL_WEBHOOK_CLAIM_PG[] =
    "UPDATE webhook_deliveries SET next_attempt_at = $2"
    " WHERE status = 'pending' AND id = (SELECT id FROM webhook_deliveries"
    " WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT 1"
    " FOR UPDATE SKIP LOCKED) RETURNING " WEBHOOK_COLS;
static const char SQL_WEBHOOK_CLAIM_SQLITE[] =
    "UPDATE webhook_deliveries SET next_attempt_at = $2"
    " WHERE status = 'pending' AND id = (SELECT id FROM webhook_deliveries"
    " WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT 1)"
    " RETURNING " WEBHOOK_COLS;

int vx_store_webhook_claim(struct vx_store *s, int64_t now, int64_t lease_ms,
                           struct vx_webhook_rec **out, struct vx_err **err)
{
    char ts[24], until[24];
    const char *p[] = {vx_store_i64(ts, now), vx_store_i64(until, now + lease_ms)};

    return fetch_one(s, s->kind == VX_DB_PG ? SQL_WEBHOOK_CLAIM_PG : SQL_WEBHOOK_CLAIM_SQLITE, 2, p,
                     webhook_row, (void **)out, err);
}

int vx_store_webhook_result(struct vx_store *s, const char *id, bool delivered, int http_status,
                            const char *error, int64_t next_attempt_at, struct vx_err **err)
{
    const char *status = delivered ? "delivered" : next_attempt_at > 0 ? "pending" : "failed";
    char code[24], next[24];
    const char *p[] = {id, status, vx_store_i64(code, http_status), error,
                       vx_store_i64(next, delivered ? 0 : next_attempt_at)};
    int64_t changed = 0;
    int rc;

    rc = exec_one(s,
                  "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2,"
                  " last_http_status = $3, last_error = $4, next_attempt_at = $5 WHERE id = $1",
                  5, p, &changed, err);
    if (rc == 0 && changed == 0)
        rc = vx_err_set(err, VX_E_NOT_FOUND, 0, "webhook delivery '%s' not found", id);
    return rc;
}

int vx_store_webhook_list(struct vx_store *s, const char *job_id, struct vx_webhook_rec ***out,
                          size_t *n, struct vx_err **err)
{
    const char *p[] = {job_id};

    return vx_store_fetch_all(s,
                              "SELECT " WEBHOOK_COLS " FROM webhook_deliveries WHERE job_id = $1"
                              " ORDER BY created_at, id",
                              1, p, webhook_row, webhook_free, (void ***)out, n, err);
}

/* ---- workers ------------------------------------------------------------------------- */

int vx_store_worker_beat(struct vx_store *s, const char *worker_id, const char *host, int busy,
                         int slots, struct vx_err **err)
{
    char b[24], sl[24], ts[24];
    const char *p[] = {worker_id, host, vx_store_i64(b, busy), vx_store_i64(sl, slots),
                       vx_store_i64(ts, vx_now_ms())};

    if (!worker_id)
        return vx_err_set(err, VX_E_INVALID, 0, "no worker id");
    return exec_one(s,
                    "INSERT INTO workers (id, host, busy, slots, last_seen)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET"
                    " host = excluded.host, busy = excluded.busy, slots = excluded.slots,"
                    " last_seen = excluded.last_seen",
                    5, p, NULL, err);
}

int vx_store_worker_remove(struct vx_store *s, const char *worker_id, struct vx_err **err)
{
    const char *p[] = {worker_id};

    return exec_one(s, "DELETE FROM workers WHERE id = $1", 1, p, NULL, err);
}

int vx_store_worker_stats(struct vx_store *s, int64_t max_age_ms, int *busy, int *slots,
                          int *workers, struct vx_err **err)
{
    char ts[24];
    const char *p[] = {vx_store_i64(ts, vx_now_ms() - max_age_ms)};
    struct vx_db *db = NULL;
    int rc;

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_query(db,
                     "SELECT COALESCE(SUM(busy), 0), COALESCE(SUM(slots), 0), COUNT(*)"
                     " FROM workers WHERE last_seen >= $1",
                     1, p, err);
    if (rc == 0 && (rc = vx_db_step(db, err)) == 1) {
        if (busy)
            *busy = (int)vx_store_col_i64(db, 0);
        if (slots)
            *slots = (int)vx_store_col_i64(db, 1);
        if (workers)
            *workers = (int)vx_store_col_i64(db, 2);
        rc = 0;
    } else if (rc == 0) {
        rc = vx_err_set(err, VX_E_STORE, 0, "worker stats returned no row");
    }
    vx_store_conn_put(s, db);
    return rc;
}
