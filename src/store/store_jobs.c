/* store_jobs.c -- jobs and the queue that lives inside them (see store.h).
 *
 * DESIGN
 * Every state change is a compare-and-set: UPDATE ... WHERE id = $ AND state = $from
 * [AND worker_id = $w], judged by the number of rows it changed, so two actors racing
 * on one job (a worker finishing it, the reaper expiring it, a user cancelling it) can
 * never both win. A claim picks and takes the next job in one statement; on PostgreSQL
 * its inner SELECT uses FOR UPDATE SKIP LOCKED so concurrent claimers pass over each
 * other's rows instead of queueing on them, on SQLite the statement holds the single
 * write lock. Work that must land together (submit with its quota bump, a terminal
 * change with its webhook delivery, a cancel) runs in one transaction on one pooled
 * connection.
 *
 * The job list pages newest first on (created_at, id), a total order, so a cursor (the
 * hex of "created_at:id" of the last row shown) resumes exactly after that row however
 * many jobs were inserted since.
 */
#include "common/setup.h"

#include "store/store.h"
#include "store/store_int.h" /* pool, row and statement helpers */
#include "store/db.h"        /* the driver layer */
#include "common/alloc.h"    /* for vx_xcalloc(), vx_xgrow() */
#include "common/err.h"      /* for vx_err_set() */
#include "common/json.h"     /* for the webhook payload */
#include "common/util.h"     /* for vx_now_ms(), vx_uuid4(), vx_time_* */

#define JOB_COLS                                                                                   \
    "id, org_id, image_ref, image_digest, sbom_id, profile, state, priority, config_json, "        \
    "findings_url, callback_url, idempotency_key, cache_key, progress_percent, "                   \
    "current_phase, results_json, error_message, sandbox_id, worker_id, lease_expires_at, "        \
    "not_before, retry_count, max_retries, cancel_requested, cost_credits, billed_at, "            \
    "created_at, updated_at, started_at, completed_at"

#define LIVE_STATES "('running', 'analyzing')"

static struct vx_job_rec *job_from_row(struct vx_db *db)
{
    struct vx_job_rec *j = vx_xcalloc(1, sizeof(*j));

    j->id = vx_store_col_dup(db, 0);
    j->org_id = vx_store_col_dup(db, 1);
    j->image_ref = vx_store_col_dup(db, 2);
    j->image_digest = vx_store_col_dup(db, 3);
    j->sbom_id = vx_store_col_dup(db, 4);
    j->profile = vx_store_col_dup(db, 5);
    if (vx_job_state_parse(vx_db_col(db, 6), &j->state) < 0)
        j->state = VX_JOB_FAILED; /* only a hand-edited row can get here */
    j->priority = (int)vx_store_col_i64(db, 7);
    j->config_json = vx_store_col_dup(db, 8);
    j->findings_url = vx_store_col_dup(db, 9);
    j->callback_url = vx_store_col_dup(db, 10);
    j->idempotency_key = vx_store_col_dup(db, 11);
    j->cache_key = vx_store_col_dup(db, 12);
    j->progress_percent = (int)vx_store_col_i64(db, 13);
    j->current_phase = vx_store_col_dup(db, 14);
    j->results_json = vx_store_col_dup(db, 15);
    j->error_message = vx_store_col_dup(db, 16);
    j->sandbox_id = vx_store_col_dup(db, 17);
    j->worker_id = vx_store_col_dup(db, 18);
    j->lease_expires_at = vx_store_col_i64(db, 19);
    j->not_before = vx_store_col_i64(db, 20);
    j->retry_count = (int)vx_store_col_i64(db, 21);
    j->max_retries = (int)vx_store_col_i64(db, 22);
    j->cancel_requested = vx_store_col_i64(db, 23) != 0;
    j->cost_credits = vx_store_col_dbl(db, 24);
    j->billed_at = vx_store_col_i64(db, 25);
    j->created_at = vx_store_col_i64(db, 26);
    j->updated_at = vx_store_col_i64(db, 27);
    j->started_at = vx_store_col_i64(db, 28);
    j->completed_at = vx_store_col_i64(db, 29);
    return j;
}

/* Adapters for vx_store_fetch_all(). */
static void *job_row(struct vx_db *db)
{
    return job_from_row(db);
}

static void job_row_free(void *p)
{
    vx_job_rec_free(p);
}

/* Runs a statement that yields at most one job row; *out NULL when it yields none. */
static int job_fetch(struct vx_db *db, const char *sql, int n, const char *const *p,
                     struct vx_job_rec **out, struct vx_err **err)
{
    int rc;

    *out = NULL;
    rc = vx_db_query(db, sql, n, p, err);
    if (rc < 0)
        return rc;
    rc = vx_db_step(db, err);
    if (rc == 1)
        *out = job_from_row(db);
    vx_db_done(db);
    return rc < 0 ? rc : 0;
}

/* ---- submit -------------------------------------------------------------------------- */

static const char SQL_JOB_GET[] = "SELECT " JOB_COLS " FROM jobs WHERE id = $1";
static const char SQL_JOB_GET_ORG[] = "SELECT " JOB_COLS " FROM jobs WHERE id = $1 AND org_id = $2";
static const char SQL_JOB_BY_IDEM[] =
    "SELECT " JOB_COLS " FROM jobs WHERE org_id = $1 AND idempotency_key = $2";
static const char SQL_JOB_BY_CACHE[] =
    "SELECT " JOB_COLS " FROM jobs WHERE org_id = $1 AND cache_key = $2 AND state = 'complete'"
    " ORDER BY completed_at DESC, id DESC LIMIT 1";
static const char SQL_ORG_LIMIT[] = "SELECT jobs_per_month FROM organizations WHERE id = $1";
/* The row lock this upsert takes serializes concurrent submits of one org on PostgreSQL,
 * so the count it returns is exact and the limit check cannot be raced. */
static const char SQL_QUOTA_BUMP[] =
    "INSERT INTO quota_usage (org_id, month, jobs_used) VALUES ($1, $2, 1)"
    " ON CONFLICT (org_id, month) DO UPDATE SET jobs_used = quota_usage.jobs_used + 1"
    " RETURNING jobs_used";
static const char SQL_JOB_INSERT[] =
    "INSERT INTO jobs (id, org_id, image_ref, image_digest, sbom_id, profile, state, priority,"
    " config_json, findings_url, callback_url, idempotency_key, cache_key, max_retries,"
    " not_before, created_at, updated_at, findings)"
    " VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $10, $11, $12, $13, $14, $15, $15,"
    " $16)";

static int submit_once(struct vx_db *db, const struct vx_job_rec *job, const char *id,
                       const char *findings_json, bool force, struct vx_job_rec **out,
                       enum vx_submit_outcome *outcome, struct vx_err **err)
{
    struct vx_job_rec *row = NULL;
    enum vx_submit_outcome oc = VX_SUBMIT_CREATED;
    int64_t now = vx_now_ms(), limit, used;
    char month[8], prio[24], maxr[24], nb[24], ts[24];
    int rc;

    rc = vx_db_begin(db, err);
    if (rc < 0)
        return rc;
    if (job->idempotency_key) {
        const char *p[] = {job->org_id, job->idempotency_key};

        rc = job_fetch(db, SQL_JOB_BY_IDEM, 2, p, &row, err);
        if (rc < 0)
            goto out;
        if (row) {
            oc = VX_SUBMIT_IDEMPOTENT;
            goto commit;
        }
    }
    if (!force && job->cache_key) {
        const char *p[] = {job->org_id, job->cache_key};

        rc = job_fetch(db, SQL_JOB_BY_CACHE, 2, p, &row, err);
        if (rc < 0)
            goto out;
        if (row) {
            oc = VX_SUBMIT_CACHED;
            goto commit;
        }
    }

    {
        const char *p[] = {job->org_id};

        rc = vx_db_query(db, SQL_ORG_LIMIT, 1, p, err);
        if (rc < 0)
            goto out;
        rc = vx_db_step(db, err);
        if (rc == 0)
            rc = vx_err_field(err, VX_E_NOT_FOUND, "org_id", "organization '%s' not found",
                              job->org_id);
        if (rc < 0)
            goto out;
        limit = vx_store_col_i64(db, 0);
        vx_db_done(db);
    }
    {
        const char *p[] = {job->org_id, vx_time_month(now, month, sizeof(month))};

        rc = vx_db_query(db, SQL_QUOTA_BUMP, 2, p, err);
        if (rc < 0)
            goto out;
        rc = vx_db_step(db, err);
        if (rc == 0)
            rc = vx_err_set(err, VX_E_STORE, 0, "quota update returned no row");
        if (rc < 0)
            goto out;
        used = vx_store_col_i64(db, 0);
        vx_db_done(db);
        if (limit >= 0 && used > limit) {
            rc = vx_err_set(err, VX_E_QUOTA, 0,
                            "organization '%s' has used its %" PRId64 " jobs for %s", job->org_id,
                            limit, month);
            goto out;
        }
    }
    {
        const char *p[] = {
            id,
            job->org_id,
            job->image_ref,
            job->image_digest,
            job->sbom_id,
            job->profile,
            vx_store_i64(prio, job->priority),
            job->config_json,
            job->findings_url,
            job->callback_url,
            job->idempotency_key,
            job->cache_key,
            vx_store_i64(maxr, job->max_retries),
            vx_store_i64(nb, job->not_before),
            vx_store_i64(ts, now),
            findings_json,
        };
        const char *g[] = {id};

        rc = vx_db_exec(db, SQL_JOB_INSERT, (int)VX_ARRAY_SIZE(p), p, NULL, err);
        if (rc < 0)
            goto out;
        rc = job_fetch(db, SQL_JOB_GET, 1, g, &row, err);
        if (rc < 0)
            goto out;
        if (!row) {
            rc = vx_err_set(err, VX_E_STORE, 0, "inserted job '%s' is not there", id);
            goto out;
        }
    }
commit:
    rc = vx_db_commit(db, err);
out:
    if (rc < 0) {
        vx_db_rollback(db);
        vx_job_rec_free(row);
        return rc;
    }
    *out = row;
    *outcome = oc;
    return 0;
}

int vx_store_job_submit(struct vx_store *s, const struct vx_job_rec *job, const char *findings_json,
                        bool force, struct vx_job_rec **out, enum vx_submit_outcome *outcome,
                        struct vx_err **err)
{
    struct vx_db *db = NULL;
    struct vx_err *e = NULL;
    char idbuf[37];
    const char *id;
    int rc;

    if (!job || !job->org_id || !job->image_ref)
        return vx_err_set(err, VX_E_INVALID, 0, "job needs an organization and an image");
    id = job->id;
    if (!id) {
        vx_uuid4(idbuf);
        id = idbuf;
    }
    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = submit_once(db, job, id, findings_json, force, out, outcome, &e);
    /* Two submits with one idempotency key can both miss it and then collide on the
     * unique index (PostgreSQL); the loser's second pass finds the winner's job. */
    if (rc == -VX_E_CONFLICT && job->idempotency_key) {
        vx_err_free(&e);
        rc = submit_once(db, job, id, findings_json, force, out, outcome, &e);
    }
    vx_store_conn_put(s, db);
    if (rc < 0) {
        vx_store_err_pass(err, &e);
        return vx_err_wrap(err, "submit job for organization '%s'", job->org_id);
    }
    return 0;
}

/* ---- reads --------------------------------------------------------------------------- */

int vx_store_job_get(struct vx_store *s, const char *org_id, const char *id,
                     struct vx_job_rec **out, struct vx_err **err)
{
    const char *p[] = {id, org_id};
    struct vx_job_rec *j = NULL;
    struct vx_db *db = NULL;
    int rc;

    if (!id)
        return vx_err_set(err, VX_E_INVALID, 0, "no job id");
    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = job_fetch(db, org_id ? SQL_JOB_GET_ORG : SQL_JOB_GET, org_id ? 2 : 1, p, &j, err);
    vx_store_conn_put(s, db);
    if (rc < 0)
        return rc;
    if (!j)
        return vx_err_set(err, VX_E_NOT_FOUND, 0, "job '%s' not found", id);
    *out = j;
    return 0;
}

int vx_store_job_get_findings(struct vx_store *s, const char *id, char **out, struct vx_err **err)
{
    const char *p[] = {id};
    struct vx_db *db = NULL;
    int rc;

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_query(db, "SELECT findings FROM jobs WHERE id = $1", 1, p, err);
    if (rc == 0) {
        rc = vx_db_step(db, err);
        if (rc == 1) {
            *out = vx_store_col_dup(db, 0);
            rc = 0;
        } else if (rc == 0) {
            rc = vx_err_set(err, VX_E_NOT_FOUND, 0, "job '%s' not found", id);
        }
    }
    vx_store_conn_put(s, db);
    return rc;
}

/* ---- list ---------------------------------------------------------------------------- */

#define CURSOR_MAX 160

static char *cursor_encode(int64_t created_at, const char *id)
{
    char plain[CURSOR_MAX], *hex;
    int n = snprintf(plain, sizeof(plain), "%" PRId64 ":%s", created_at, id);

    if (n < 0 || (size_t)n >= sizeof(plain))
        n = (int)sizeof(plain) - 1;
    hex = vx_xmalloc(2 * (size_t)n + 1);
    vx_hex(plain, (size_t)n, hex);
    return hex;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Fills ts (decimal text) and id from a cursor; -VX_E_INVALID for anything else. */
static int cursor_decode(const char *cur, char ts[24], char id[CURSOR_MAX], struct vx_err **err)
{
    char plain[CURSOR_MAX];
    size_t len = strlen(cur), n = len / 2;
    const char *colon;
    int64_t v;

    if (len == 0 || len % 2 || n >= sizeof(plain))
        goto bad;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(cur[2 * i]), lo = hexval(cur[2 * i + 1]);

        if (hi < 0 || lo < 0)
            goto bad;
        plain[i] = (char)(hi << 4 | lo);
    }
    plain[n] = '\0';
    colon = memchr(plain, ':', n);
    if (!colon || colon == plain || (size_t)(colon - plain) >= 20 || !colon[1])
        goto bad;
    memcpy(ts, plain, (size_t)(colon - plain));
    ts[colon - plain] = '\0';
    if (vx_parse_i64(ts, 0, INT64_MAX, &v) < 0)
        goto bad;
    for (const char *p = colon + 1; *p; p++)
        if (!(*p == '-' || *p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z')))
            goto bad;
    snprintf(id, CURSOR_MAX, "%s", colon + 1);
    return 0;
bad:
    return vx_err_field(err, VX_E_INVALID, "cursor", "malformed cursor");
}

int vx_store_job_list(struct vx_store *s, const struct vx_job_filter *f, struct vx_job_rec ***out,
                      size_t *n, char **next_cursor, struct vx_err **err)
{
    struct vx_job_rec **rows = NULL;
    size_t nrows = 0;
    struct vx_sqlb b;
    char cts[24], cid[CURSOR_MAX];
    int limit = f->limit ? f->limit : 20;
    int rc;

    if (limit < 1 || limit > 100)
        return vx_err_field(err, VX_E_INVALID, "limit", "limit must be between 1 and 100");
    if (f->has_state && (unsigned)f->state >= VX_JOB_STATE_COUNT)
        return vx_err_field(err, VX_E_INVALID, "status", "unknown job state");
    vx_sqlb_init(&b);
    vx_sqlb_add(&b, "SELECT " JOB_COLS " FROM jobs WHERE 1 = 1");
    if (f->org_id) {
        vx_sqlb_add(&b, " AND org_id = ");
        vx_sqlb_arg(&b, f->org_id);
    }
    if (f->has_state) {
        vx_sqlb_add(&b, " AND state = ");
        vx_sqlb_arg(&b, vx_job_state_str(f->state));
    }
    if (f->image_digest) {
        vx_sqlb_add(&b, " AND image_digest = ");
        vx_sqlb_arg(&b, f->image_digest);
    }
    if (f->cursor) {
        rc = cursor_decode(f->cursor, cts, cid, err);
        if (rc < 0)
            return rc;
        /* a row-value comparison: both backends walk the (created_at, id) index from it */
        vx_sqlb_add(&b, " AND (created_at, id) < (");
        vx_sqlb_arg(&b, cts);
        vx_sqlb_add(&b, ", ");
        vx_sqlb_arg(&b, cid);
        vx_sqlb_add(&b, ")");
    }
    vx_sqlb_add(&b, " ORDER BY created_at DESC, id DESC LIMIT CAST(");
    vx_sqlb_i64(&b, limit + 1);
    vx_sqlb_add(&b, " AS INTEGER)");
    rc = vx_sqlb_ok(&b, err);
    if (rc < 0)
        return rc;

    rc = vx_store_fetch_all(s, b.sql, b.n, b.args, job_row, job_row_free, (void ***)&rows, &nrows,
                            err);
    if (rc < 0)
        return rc;
    *next_cursor = NULL;
    if (nrows > (size_t)limit) {
        vx_job_rec_free(rows[limit]);
        nrows = (size_t)limit;
        *next_cursor = cursor_encode(rows[limit - 1]->created_at, rows[limit - 1]->id);
    }
    *out = rows;
    *n = nrows;
    return 0;
}

/* ---- claim, heartbeat, progress ------------------------------------------------------ */

static const char SQL_CLAIM_PG[] =
    "UPDATE jobs SET state = 'running', worker_id = $1, lease_expires_at = $2, started_at = $3,"
    " updated_at = $3"
    " WHERE state = 'queued' AND id = (SELECT id FROM jobs WHERE state = 'queued'"
    " AND not_before <= $3 ORDER BY priority DESC, created_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " RETURNING " JOB_COLS;
/* One statement is one write transaction on SQLite: nobody else writes between its pick
 * and its update. */
static const char SQL_CLAIM_SQLITE[] =
    "UPDATE jobs SET state = 'running', worker_id = $1, lease_expires_at = $2, started_at = $3,"
    " updated_at = $3"
    " WHERE state = 'queued' AND id = (SELECT id FROM jobs WHERE state = 'queued'"
    " AND not_before <= $3 ORDER BY priority DESC, created_at LIMIT 1)"
    " RETURNING " JOB_COLS;

int vx_store_job_claim(struct vx_store *s, const char *worker_id, int64_t lease_ms,
                       struct vx_job_rec **out, struct vx_err **err)
{
    int64_t now = vx_now_ms();
    char lease[24], ts[24];
    const char *p[] = {worker_id, vx_store_i64(lease, now + lease_ms), vx_store_i64(ts, now)};
    struct vx_db *db = NULL;
    int rc;

    *out = NULL;
    if (!worker_id)
        return vx_err_set(err, VX_E_INVALID, 0, "no worker id");
    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = job_fetch(db, db->kind == VX_DB_PG ? SQL_CLAIM_PG : SQL_CLAIM_SQLITE, 3, p, out, err);
    vx_store_conn_put(s, db);
    return rc;
}

static const char SQL_HEARTBEAT[] =
    "UPDATE jobs SET lease_expires_at = $3, updated_at = $4"
    " WHERE id = $1 AND worker_id = $2 AND state IN " LIVE_STATES " RETURNING cancel_requested";

int vx_store_job_heartbeat(struct vx_store *s, const char *id, const char *worker_id,
                           int64_t lease_ms, bool *cancel_requested, struct vx_err **err)
{
    int64_t now = vx_now_ms();
    char lease[24], ts[24];
    const char *p[] = {id, worker_id, vx_store_i64(lease, now + lease_ms), vx_store_i64(ts, now)};
    struct vx_db *db = NULL;
    int rc;

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_query(db, SQL_HEARTBEAT, 4, p, err);
    if (rc == 0) {
        rc = vx_db_step(db, err);
        if (rc == 1) {
            if (cancel_requested)
                *cancel_requested = vx_store_col_i64(db, 0) != 0;
            rc = 0;
        } else if (rc == 0) {
            rc = vx_err_set(err, VX_E_LEASE_LOST, 0, "job '%s' is no longer held by '%s'", id,
                            worker_id);
        }
    }
    vx_store_conn_put(s, db);
    return rc;
}

static const char SQL_PROGRESS[] =
    "UPDATE jobs SET progress_percent = $3, current_phase = COALESCE($4, current_phase),"
    " updated_at = $5 WHERE id = $1 AND worker_id = $2 AND state IN " LIVE_STATES;

int vx_store_job_progress(struct vx_store *s, const char *id, const char *worker_id, int percent,
                          const char *phase, struct vx_err **err)
{
    char pct[24], ts[24];
    const char *p[] = {id, worker_id,
                       vx_store_i64(pct, percent < 0     ? 0
                                         : percent > 100 ? 100
                                                         : percent),
                       phase, vx_store_i64(ts, vx_now_ms())};
    struct vx_db *db = NULL;
    int64_t changed = 0;
    int rc;

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_exec(db, SQL_PROGRESS, 5, p, &changed, err);
    vx_store_conn_put(s, db);
    if (rc == 0 && changed == 0)
        rc = vx_err_set(err, VX_E_LEASE_LOST, 0, "job '%s' is no longer held by '%s'", id,
                        worker_id);
    return rc;
}

/* ---- state changes ------------------------------------------------------------------- */

/* The webhook body for a job that reached terminal state 'to'. Caller frees. */
static char *webhook_payload(const char *id, enum vx_job_state to, const char *image_ref,
                             const char *image_digest, int64_t completed_at,
                             const char *error_message, const char *results_json)
{
    json_t *o = json_object(), *summary = NULL, *results = NULL;
    char event[32], when[32];
    char *body;

    snprintf(event, sizeof(event), "job.%s", vx_job_state_str(to));
    vx_time_iso8601(completed_at, when, sizeof(when));
    if (results_json)
        results = json_loads(results_json, 0, NULL);
    if (json_is_object(results))
        summary = json_object_get(results, "summary");
    json_object_set_new(o, "event", json_string(event));
    json_object_set_new(o, "job_id", json_string(id));
    json_object_set_new(o, "status", json_string(vx_job_state_str(to)));
    json_object_set_new(o, "image_ref", image_ref ? json_string(image_ref) : json_null());
    json_object_set_new(o, "image_digest", image_digest ? json_string(image_digest) : json_null());
    json_object_set_new(o, "completed_at", json_string(when));
    json_object_set_new(o, "error_message",
                        error_message ? json_string(error_message) : json_null());
    json_object_set(o, "summary", summary ? summary : json_null());
    body = vx_json_dump(o);
    json_decref(results);
    json_decref(o);
    return body;
}

/* The compare-and-set under every state change, on a connection the caller holds (inside
 * a transaction when 'to' is terminal, since it may also insert the webhook delivery).
 * reap_before > 0 adds "and the lease expired before it", for the reaper. */
static int job_change(struct vx_db *db, const char *id, const char *worker_id,
                      enum vx_job_state from, enum vx_job_state to, const struct vx_job_update *upd,
                      int64_t backoff_ms, int64_t now, int64_t reap_before, struct vx_err **err)
{
    bool terminal = vx_job_state_terminal(to);
    char *callback = NULL, *image_ref = NULL, *digest = NULL, *emsg = NULL, *results = NULL;
    int64_t completed_at = 0;
    struct vx_sqlb b;
    int rc;

    vx_sqlb_init(&b);
    vx_sqlb_add(&b, "UPDATE jobs SET state = ");
    vx_sqlb_arg(&b, vx_job_state_str(to));
    vx_sqlb_add(&b, ", updated_at = ");
    vx_sqlb_i64(&b, now);
    if (upd->results_json) {
        vx_sqlb_add(&b, ", results_json = ");
        vx_sqlb_arg(&b, upd->results_json);
    }
    if (upd->error_message) {
        vx_sqlb_add(&b, ", error_message = ");
        vx_sqlb_arg(&b, upd->error_message);
    }
    if (upd->sandbox_id) {
        vx_sqlb_add(&b, ", sandbox_id = ");
        vx_sqlb_arg(&b, upd->sandbox_id);
    }
    if (upd->progress_percent >= 0) {
        vx_sqlb_add(&b, ", progress_percent = ");
        vx_sqlb_i64(&b, upd->progress_percent > 100 ? 100 : upd->progress_percent);
    }
    if (upd->current_phase) {
        vx_sqlb_add(&b, ", current_phase = ");
        vx_sqlb_arg(&b, upd->current_phase);
    }
    if (upd->cost_credits >= 0) {
        vx_sqlb_add(&b, ", cost_credits = ");
        vx_sqlb_dbl(&b, upd->cost_credits);
    }
    if (terminal) {
        vx_sqlb_add(&b, ", completed_at = ");
        vx_sqlb_i64(&b, now);
        vx_sqlb_add(&b, ", worker_id = NULL, lease_expires_at = 0");
    } else if (to == VX_JOB_QUEUED) {
        vx_sqlb_add(&b, ", retry_count = retry_count + 1, worker_id = NULL,"
                        " lease_expires_at = 0, not_before = ");
        vx_sqlb_i64(&b, now + (backoff_ms > 0 ? backoff_ms : 0));
    }
    vx_sqlb_add(&b, " WHERE id = ");
    vx_sqlb_arg(&b, id);
    vx_sqlb_add(&b, " AND state = ");
    vx_sqlb_arg(&b, vx_job_state_str(from));
    if (worker_id) {
        vx_sqlb_add(&b, " AND worker_id = ");
        vx_sqlb_arg(&b, worker_id);
    }
    if (reap_before > 0) {
        vx_sqlb_add(&b, " AND lease_expires_at < ");
        vx_sqlb_i64(&b, reap_before);
    }
    vx_sqlb_add(&b, " RETURNING callback_url, image_ref, image_digest, completed_at,"
                    " error_message, results_json");
    rc = vx_sqlb_ok(&b, err);
    if (rc < 0)
        return rc;

    rc = vx_db_query(db, b.sql, b.n, b.args, err);
    if (rc < 0)
        return rc;
    rc = vx_db_step(db, err);
    if (rc == 0)
        rc = vx_err_set(err, VX_E_CONFLICT, 0, "job '%s' is not %s%s%s", id, vx_job_state_str(from),
                        worker_id ? " and held by " : "", worker_id ? worker_id : "");
    if (rc < 0) {
        vx_db_done(db);
        return rc;
    }
    callback = vx_store_col_dup(db, 0);
    image_ref = vx_store_col_dup(db, 1);
    digest = vx_store_col_dup(db, 2);
    completed_at = vx_store_col_i64(db, 3);
    emsg = vx_store_col_dup(db, 4);
    results = vx_store_col_dup(db, 5);
    vx_db_done(db);
    rc = 0;
    if (terminal && callback) {
        char *payload = webhook_payload(id, to, image_ref, digest, completed_at, emsg, results);

        rc = vx_store_webhook_insert(db, id, callback, payload, now, err);
        free(payload);
    }
    free(callback);
    free(image_ref);
    free(digest);
    free(emsg);
    free(results);
    return rc;
}

int vx_store_job_transition(struct vx_store *s, const char *id, const char *worker_id,
                            enum vx_job_state from, enum vx_job_state to,
                            const struct vx_job_update *upd, int64_t backoff_ms,
                            struct vx_err **err)
{
    struct vx_job_update none = VX_JOB_UPDATE_INIT;
    bool txn = vx_job_state_terminal(to);
    struct vx_db *db = NULL;
    int rc;

    if (!id)
        return vx_err_set(err, VX_E_INVALID, 0, "no job id");
    if (!vx_job_transition_ok(from, to))
        return vx_err_set(err, VX_E_INVALID, 0, "job '%s': transition %s -> %s is not allowed", id,
                          vx_job_state_str(from) ? vx_job_state_str(from) : "?",
                          vx_job_state_str(to) ? vx_job_state_str(to) : "?");
    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    if (txn) {
        rc = vx_db_begin(db, err);
        if (rc < 0)
            goto out;
    }
    rc =
        job_change(db, id, worker_id, from, to, upd ? upd : &none, backoff_ms, vx_now_ms(), 0, err);
    if (txn) {
        if (rc == 0)
            rc = vx_db_commit(db, err);
        if (rc < 0)
            vx_db_rollback(db);
    }
out:
    vx_store_conn_put(s, db);
    return rc;
}

/* ---- cancel -------------------------------------------------------------------------- */

/* *raced is set when a compare-and-set lost to a concurrent change (worth a retry). */
static int cancel_once(struct vx_db *db, const char *org_id, const char *id,
                       struct vx_job_rec **out, bool *raced, struct vx_err **err)
{
    const char *p[] = {id, org_id};
    struct vx_job_update none = VX_JOB_UPDATE_INIT;
    struct vx_job_rec *row = NULL;
    int64_t now = vx_now_ms();
    int rc;

    rc = vx_db_begin(db, err);
    if (rc < 0)
        return rc;
    rc = job_fetch(db, org_id ? SQL_JOB_GET_ORG : SQL_JOB_GET, org_id ? 2 : 1, p, &row, err);
    if (rc < 0)
        goto out;
    if (!row) {
        rc = vx_err_set(err, VX_E_NOT_FOUND, 0, "job '%s' not found", id);
        goto out;
    }
    if (row->state == VX_JOB_QUEUED) {
        rc = job_change(db, id, NULL, VX_JOB_QUEUED, VX_JOB_CANCELLED, &none, 0, now, 0, err);
        *raced = rc == -VX_E_CONFLICT;
    } else if (row->state == VX_JOB_RUNNING || row->state == VX_JOB_ANALYZING) {
        char ts[24];
        const char *u[] = {id, vx_job_state_str(row->state), vx_store_i64(ts, now)};
        int64_t changed = 0;

        rc = vx_db_exec(db,
                        "UPDATE jobs SET cancel_requested = 1, updated_at = $3"
                        " WHERE id = $1 AND state = $2",
                        3, u, &changed, err);
        if (rc == 0 && changed == 0) {
            *raced = true;
            rc = vx_err_set(err, VX_E_CONFLICT, 0, "job '%s' changed state", id);
        }
    } else {
        rc = vx_err_set(err, VX_E_CONFLICT, 0, "job '%s' is already %s", id,
                        vx_job_state_str(row->state));
        goto out;
    }
    if (rc < 0)
        goto out;
    vx_job_rec_free(row);
    rc = job_fetch(db, SQL_JOB_GET, 1, p, &row, err);
    if (rc < 0)
        goto out;
    rc = vx_db_commit(db, err);
out:
    if (rc < 0) {
        vx_db_rollback(db);
        vx_job_rec_free(row);
        return rc;
    }
    *out = row;
    return 0;
}

int vx_store_job_cancel(struct vx_store *s, const char *org_id, const char *id,
                        struct vx_job_rec **out, struct vx_err **err)
{
    struct vx_db *db = NULL;
    struct vx_err *e = NULL;
    int rc;

    if (!id)
        return vx_err_set(err, VX_E_INVALID, 0, "no job id");
    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    /* On PostgreSQL the row read and the compare-and-set are not one snapshot: a worker
     * may move the job in between. Then the CAS fails and we look again. */
    for (int attempt = 0; attempt < 5; attempt++) {
        bool raced = false;

        vx_err_free(&e);
        rc = cancel_once(db, org_id, id, out, &raced, &e);
        if (!raced)
            break;
    }
    vx_store_conn_put(s, db);
    if (rc < 0)
        vx_store_err_pass(err, &e);
    return rc;
}

/* ---- reaper -------------------------------------------------------------------------- */

#define REAP_BATCH 200

struct reap_row {
    char *id;
    char *worker_id;
    enum vx_job_state state;
    int retry_count, max_retries;
};

int vx_store_job_reap(struct vx_store *s, int64_t now, int64_t backoff_ms, int *requeued,
                      int *failed, struct vx_err **err)
{
    char ts[24];
    const char *p[] = {vx_store_i64(ts, now)};
    struct reap_row rows[REAP_BATCH];
    struct vx_db *db = NULL;
    int n = 0, nreq = 0, nfail = 0;
    int rc;

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_query(db,
                     "SELECT id, worker_id, state, retry_count, max_retries FROM jobs"
                     " WHERE state IN " LIVE_STATES " AND lease_expires_at < $1"
                     " ORDER BY lease_expires_at LIMIT 200",
                     1, p, err);
    while (rc == 0 && n < REAP_BATCH) {
        rc = vx_db_step(db, err);
        if (rc <= 0)
            break;
        rc = 0;
        rows[n].id = vx_store_col_dup(db, 0);
        rows[n].worker_id = vx_store_col_dup(db, 1);
        if (vx_job_state_parse(vx_db_col(db, 2), &rows[n].state) < 0)
            rows[n].state = VX_JOB_RUNNING;
        rows[n].retry_count = (int)vx_store_col_i64(db, 3);
        rows[n].max_retries = (int)vx_store_col_i64(db, 4);
        n++;
    }
    vx_db_done(db);

    for (int i = 0; i < n && rc >= 0; i++) {
        struct reap_row *r = &rows[i];
        struct vx_job_update upd = VX_JOB_UPDATE_INIT;
        struct vx_err *e = NULL;
        enum vx_job_state to;
        char msg[96];
        int64_t delay = 0;

        if (r->retry_count >= r->max_retries) {
            to = VX_JOB_FAILED;
            snprintf(msg, sizeof(msg), "worker lost: lease expired %d times", r->retry_count + 1);
            upd.error_message = msg;
        } else {
            /* backoff_ms * 2^retry_count, saturating instead of overflowing */
            to = VX_JOB_QUEUED;
            delay = backoff_ms > 0 ? backoff_ms : 0;
            for (int k = 0; k < r->retry_count && delay < INT64_MAX / 4; k++)
                delay *= 2;
        }
        rc = vx_db_begin(db, err);
        if (rc < 0)
            break;
        /* CAS on state, holder and expiry: a heartbeat that arrived since the SELECT, or
         * another reaper, wins and this row is skipped. */
        rc = job_change(db, r->id, r->worker_id, r->state, to, &upd, delay, now, now, &e);
        if (rc == 0)
            rc = vx_db_commit(db, &e);
        if (rc < 0) {
            vx_db_rollback(db);
            if (rc == -VX_E_CONFLICT) {
                vx_err_free(&e);
                rc = 0;
                continue;
            }
            vx_store_err_pass(err, &e);
            break;
        }
        if (to == VX_JOB_FAILED)
            nfail++;
        else
            nreq++;
    }
    vx_store_conn_put(s, db);
    for (int i = 0; i < n; i++) {
        free(rows[i].id);
        free(rows[i].worker_id);
    }
    if (requeued)
        *requeued = nreq;
    if (failed)
        *failed = nfail;
    return rc < 0 ? rc : 0;
}

int vx_store_job_counts(struct vx_store *s, int64_t counts[VX_JOB_STATE_COUNT], struct vx_err **err)
{
    struct vx_db *db = NULL;
    int rc;

    for (int i = 0; i < VX_JOB_STATE_COUNT; i++)
        counts[i] = 0;
    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_query(db, "SELECT state, COUNT(*) FROM jobs GROUP BY state", 0, NULL, err);
    while (rc == 0) {
        enum vx_job_state st;

        rc = vx_db_step(db, err);
        if (rc <= 0)
            break;
        rc = 0;
        if (vx_job_state_parse(vx_db_col(db, 0), &st) == 0)
            counts[st] = vx_store_col_i64(db, 1);
    }
    vx_store_conn_put(s, db);
    return rc < 0 ? rc : 0;
}
