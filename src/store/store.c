/* store.c -- opening a store, its connection pool, the schema and its migrations, and the
 * small helpers the other store files share (see store.h, store_int.h).
 *
 * DESIGN
 * A struct vx_store owns up to pool_size connections of one backend. Callers borrow one
 * per operation (vx_store_conn_get/put); the pool is a LIFO stack under a mutex, with a
 * condition variable for callers that find every connection lent out. Connections are
 * opened lazily, so a PostgreSQL store does not start eight server processes before it
 * needs them, and a broken one is closed on return and replaced on demand.
 *
 * The schema is one text for both backends: ids are TEXT UUIDs, timestamps BIGINT
 * milliseconds, booleans INTEGER 0/1, JSON TEXT. Migrations are numbered steps applied in
 * order inside one transaction at open, and recorded in schema_migrations; on PostgreSQL
 * the transaction first takes an advisory lock, so two processes opening the same
 * database at once apply each step exactly once (SQLite's BEGIN IMMEDIATE does the same).
 */
#include "common/setup.h"

#include "store/store.h"
#include "store/store_int.h" /* struct vx_store, pool, row helpers */
#include "store/db.h"        /* the driver layer */
#include "common/alloc.h"    /* for vx_xcalloc(), vx_xstrdup() */
#include "common/err.h"      /* for vx_err_set() */
#include "common/util.h"     /* for vx_now_ms() */

/* ---- job states ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    bool terminal;
} state_rows[] = {
#define VX_JOB_STATE(e, s, t) [VX_JOB_##e] = {s, t},
#include "store/states.def"
#undef VX_JOB_STATE
};

const char *vx_job_state_str(enum vx_job_state s)
{
    if ((unsigned)s >= VX_JOB_STATE_COUNT)
        return NULL;
    return state_rows[s].name;
}

int vx_job_state_parse(const char *s, enum vx_job_state *out)
{
    if (!s)
        return -1;
    for (int i = 0; i < VX_JOB_STATE_COUNT; i++) {
        if (strcmp(state_rows[i].name, s) == 0) {
            *out = (enum vx_job_state)i;
            return 0;
        }
    }
    return -1;
}

bool vx_job_state_terminal(enum vx_job_state s)
{
    return (unsigned)s < VX_JOB_STATE_COUNT && state_rows[s].terminal;
}

bool vx_job_transition_ok(enum vx_job_state from, enum vx_job_state to)
{
    switch (from) {
    case VX_JOB_QUEUED:
        return to == VX_JOB_RUNNING || to == VX_JOB_CANCELLED || to == VX_JOB_FAILED;
    case VX_JOB_RUNNING:
        return to == VX_JOB_ANALYZING || to == VX_JOB_COMPLETE || to == VX_JOB_FAILED ||
               to == VX_JOB_CANCELLED || to == VX_JOB_QUEUED;
    case VX_JOB_ANALYZING:
        return to == VX_JOB_COMPLETE || to == VX_JOB_FAILED || to == VX_JOB_CANCELLED ||
               to == VX_JOB_QUEUED;
    default:
        return false;
    }
}

/* ---- records ------------------------------------------------------------------------- */

void vx_job_rec_free(struct vx_job_rec *j)
{
    if (!j)
        return;
    free(j->id);
    free(j->org_id);
    free(j->image_ref);
    free(j->image_digest);
    free(j->sbom_id);
    free(j->profile);
    free(j->config_json);
    free(j->findings_url);
    free(j->callback_url);
    free(j->idempotency_key);
    free(j->cache_key);
    free(j->current_phase);
    free(j->results_json);
    free(j->error_message);
    free(j->sandbox_id);
    free(j->worker_id);
    free(j);
}

void vx_job_rec_array_free(struct vx_job_rec **a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        vx_job_rec_free(a[i]);
    free(a);
}

void vx_evidence_rec_free(struct vx_evidence_rec *e)
{
    if (!e)
        return;
    free(e->id);
    free(e->job_id);
    free(e->type);
    free(e->media_type);
    free(e->data);
    free(e->storage_path);
    free(e);
}

void vx_org_rec_free(struct vx_org_rec *o)
{
    if (!o)
        return;
    free(o->id);
    free(o->name);
    free(o->tier);
    free(o);
}

void vx_apikey_rec_free(struct vx_apikey_rec *k)
{
    if (!k)
        return;
    free(k->id);
    free(k->org_id);
    free(k->name);
    free(k->prefix);
    free(k->hash);
    free(k);
}

void vx_webhook_rec_free(struct vx_webhook_rec *w)
{
    if (!w)
        return;
    free(w->id);
    free(w->job_id);
    free(w->url);
    free(w->payload);
    free(w->status);
    free(w->last_error);
    free(w);
}

/* ---- shared helpers ------------------------------------------------------------------ */

void vx_store_err_pass(struct vx_err **dst, struct vx_err **src)
{
    if (dst && !*dst) {
        *dst = *src;
        *src = NULL;
    } else {
        vx_err_free(src);
    }
}

int64_t vx_store_col_i64(struct vx_db *db, int i)
{
    const char *v = vx_db_col(db, i);

    return v ? strtoll(v, NULL, 10) : 0;
}

double vx_store_col_dbl(struct vx_db *db, int i)
{
    const char *v = vx_db_col(db, i);

    return v ? strtod(v, NULL) : 0.0;
}

char *vx_store_col_dup(struct vx_db *db, int i)
{
    return vx_xstrdup(vx_db_col(db, i));
}

void vx_sqlb_init(struct vx_sqlb *b)
{
    b->sql[0] = '\0';
    b->len = 0;
    b->n = 0;
    b->overflow = false;
}

void vx_sqlb_add(struct vx_sqlb *b, const char *text)
{
    size_t l = strlen(text);

    if (b->len + l >= sizeof(b->sql)) {
        b->overflow = true;
        return;
    }
    memcpy(b->sql + b->len, text, l + 1);
    b->len += l;
}

void vx_sqlb_arg(struct vx_sqlb *b, const char *v)
{
    char ph[16];

    if (b->n >= VX_SQLB_MAX_ARGS) {
        b->overflow = true;
        return;
    }
    b->args[b->n++] = v;
    snprintf(ph, sizeof(ph), "$%d", b->n);
    vx_sqlb_add(b, ph);
}

void vx_sqlb_i64(struct vx_sqlb *b, int64_t v)
{
    if (b->n >= VX_SQLB_MAX_ARGS) {
        b->overflow = true;
        return;
    }
    snprintf(b->nums[b->n], sizeof(b->nums[b->n]), "%" PRId64, v);
    vx_sqlb_arg(b, b->nums[b->n]);
}

void vx_sqlb_dbl(struct vx_sqlb *b, double v)
{
    if (b->n >= VX_SQLB_MAX_ARGS) {
        b->overflow = true;
        return;
    }
    snprintf(b->nums[b->n], sizeof(b->nums[b->n]), "%.17g", v);
    vx_sqlb_arg(b, b->nums[b->n]);
}

int vx_sqlb_ok(const struct vx_sqlb *b, struct vx_err **err)
{
    if (b->overflow)
        return vx_err_set(err, VX_E_INTERNAL, 0, "statement too long");
    return 0;
}

/* ---- the pool ------------------------------------------------------------------------ */

static int conn_open(struct vx_store *s, struct vx_db **out, struct vx_err **err)
{
    if (s->kind == VX_DB_SQLITE)
        return vx_db_sqlite_open(s->target, s->busy_timeout_ms, out, err);
    return vx_db_pg_open(s->target, out, err);
}

int vx_store_conn_get(struct vx_store *s, struct vx_db **out, struct vx_err **err)
{
    struct vx_db *db = NULL;
    int rc;

    pthread_mutex_lock(&s->mu);
    while (s->n_idle == 0 && s->n_open >= s->pool_size)
        pthread_cond_wait(&s->cv, &s->mu);
    if (s->n_idle > 0) {
        *out = s->idle[--s->n_idle];
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->n_open++;
    pthread_mutex_unlock(&s->mu);

    rc = conn_open(s, &db, err);
    if (rc < 0) {
        pthread_mutex_lock(&s->mu);
        s->n_open--;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    *out = db;
    return 0;
}

void vx_store_conn_put(struct vx_store *s, struct vx_db *db)
{
    if (!db)
        return;
    vx_db_done(db);
    if (!vx_db_healthy(db)) {
        vx_db_close(db);
        pthread_mutex_lock(&s->mu);
        s->n_open--;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->idle[s->n_idle++] = db;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- schema and migrations ----------------------------------------------------------- */

struct migration {
    int version;
    const char *sql;
};

/* Append-only: a released step is never edited; changes are new steps. */
static const struct migration migrations[] = {
    {1, "CREATE TABLE organizations ("
        "  id TEXT PRIMARY KEY,"
        "  name TEXT NOT NULL UNIQUE,"
        "  tier TEXT NOT NULL DEFAULT 'free',"
        "  jobs_per_month BIGINT NOT NULL DEFAULT -1,"
        "  created_at BIGINT NOT NULL);"
        "CREATE TABLE api_keys ("
        "  id TEXT PRIMARY KEY,"
        "  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
        "  name TEXT NOT NULL,"
        "  prefix TEXT NOT NULL,"
        "  hash TEXT NOT NULL UNIQUE,"
        "  revoked INTEGER NOT NULL DEFAULT 0,"
        "  created_at BIGINT NOT NULL,"
        "  last_used_at BIGINT NOT NULL DEFAULT 0);"
        "CREATE INDEX api_keys_org ON api_keys (org_id, created_at);"
        "CREATE INDEX api_keys_prefix ON api_keys (prefix);"
        "CREATE TABLE quota_usage ("
        "  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,"
        "  month TEXT NOT NULL,"
        "  jobs_used BIGINT NOT NULL DEFAULT 0,"
        "  PRIMARY KEY (org_id, month));"
        "CREATE TABLE jobs ("
        "  id TEXT PRIMARY KEY,"
        "  org_id TEXT NOT NULL REFERENCES organizations(id),"
        "  image_ref TEXT NOT NULL,"
        "  image_digest TEXT,"
        "  sbom_id TEXT,"
        "  profile TEXT,"
        "  state TEXT NOT NULL,"
        "  priority INTEGER NOT NULL DEFAULT 0,"
        "  config_json TEXT,"
        "  findings_url TEXT,"
        "  callback_url TEXT,"
        "  idempotency_key TEXT,"
        "  cache_key TEXT,"
        "  progress_percent INTEGER NOT NULL DEFAULT 0,"
        "  current_phase TEXT,"
        "  results_json TEXT,"
        "  error_message TEXT,"
        "  sandbox_id TEXT,"
        "  worker_id TEXT,"
        "  lease_expires_at BIGINT NOT NULL DEFAULT 0,"
        "  not_before BIGINT NOT NULL DEFAULT 0,"
        "  retry_count INTEGER NOT NULL DEFAULT 0,"
        "  max_retries INTEGER NOT NULL DEFAULT 3,"
        "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
        "  cost_credits DOUBLE PRECISION NOT NULL DEFAULT 0,"
        "  billed_at BIGINT NOT NULL DEFAULT 0,"
        "  created_at BIGINT NOT NULL,"
        "  updated_at BIGINT NOT NULL,"
        "  started_at BIGINT NOT NULL DEFAULT 0,"
        "  completed_at BIGINT NOT NULL DEFAULT 0,"
        "  findings TEXT);"
        "CREATE INDEX jobs_claim ON jobs (state, priority DESC, created_at);"
        "CREATE INDEX jobs_org_list ON jobs (org_id, created_at DESC, id DESC);"
        "CREATE INDEX jobs_list ON jobs (created_at DESC, id DESC);"
        "CREATE UNIQUE INDEX jobs_idempotency ON jobs (org_id, idempotency_key)"
        "  WHERE idempotency_key IS NOT NULL;"
        "CREATE INDEX jobs_cache ON jobs (org_id, cache_key, state);"
        "CREATE TABLE evidence ("
        "  id TEXT PRIMARY KEY,"
        "  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
        "  type TEXT NOT NULL,"
        "  media_type TEXT NOT NULL,"
        "  data TEXT,"
        "  storage_path TEXT,"
        "  size BIGINT NOT NULL DEFAULT 0,"
        "  created_at BIGINT NOT NULL);"
        "CREATE INDEX evidence_job ON evidence (job_id, created_at);"
        "CREATE INDEX evidence_created ON evidence (created_at);"
        "CREATE TABLE webhook_deliveries ("
        "  id TEXT PRIMARY KEY,"
        "  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
        "  url TEXT NOT NULL,"
        "  payload TEXT NOT NULL,"
        "  attempts INTEGER NOT NULL DEFAULT 0,"
        "  next_attempt_at BIGINT NOT NULL DEFAULT 0,"
        "  status TEXT NOT NULL DEFAULT 'pending',"
        "  last_http_status INTEGER NOT NULL DEFAULT 0,"
        "  last_error TEXT,"
        "  created_at BIGINT NOT NULL);"
        "CREATE INDEX webhook_due ON webhook_deliveries (status, next_attempt_at);"
        "CREATE INDEX webhook_job ON webhook_deliveries (job_id, created_at);"
        "CREATE TABLE workers ("
        "  id TEXT PRIMARY KEY,"
        "  host TEXT,"
        "  busy INTEGER NOT NULL DEFAULT 0,"
        "  slots INTEGER NOT NULL DEFAULT 0,"
        "  last_seen BIGINT NOT NULL);"},
};

/* Any constant works; it only has to be the same in every process using the database. */
#define MIGRATION_LOCK "7436251903"

static int migrate(struct vx_db *db, int *version, struct vx_err **err)
{
    char v[24], now[24];
    int64_t cur = 0;
    int rc;

    rc = vx_db_begin(db, err);
    if (rc < 0)
        return rc;
    if (db->kind == VX_DB_PG) {
        rc = vx_db_script(db, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")", err);
        if (rc < 0)
            goto out;
    }
    rc = vx_db_script(db,
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      "  version INTEGER PRIMARY KEY,"
                      "  applied_at BIGINT NOT NULL)",
                      err);
    if (rc < 0)
        goto out;
    rc = vx_db_query(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", 0, NULL, err);
    if (rc < 0)
        goto out;
    if (vx_db_step(db, err) == 1)
        cur = vx_store_col_i64(db, 0);
    vx_db_done(db);
    for (size_t i = 0; i < VX_ARRAY_SIZE(migrations); i++) {
        const char *p[2];

        if (migrations[i].version <= cur)
            continue;
        rc = vx_db_script(db, migrations[i].sql, err);
        if (rc < 0) {
            rc = vx_err_wrap(err, "migration %d", migrations[i].version);
            goto out;
        }
        p[0] = vx_store_i64(v, migrations[i].version);
        p[1] = vx_store_i64(now, vx_now_ms());
        rc = vx_db_exec(db, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                        2, p, NULL, err);
        if (rc < 0)
            goto out;
        cur = migrations[i].version;
    }
    rc = vx_db_commit(db, err);
out:
    if (rc < 0)
        vx_db_rollback(db);
    else
        *version = (int)cur;
    return rc;
}

/* ---- open / close -------------------------------------------------------------------- */

int vx_store_open(const char *url, const struct vx_store_opts *opts, struct vx_store **out,
                  struct vx_err **err)
{
    struct vx_store *s = NULL;
    struct vx_db *db = NULL;
    int rc;

    if (!url || !*url)
        return vx_err_set(err, VX_E_INVALID, 0, "empty store url");
    s = vx_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->pool_size = opts && opts->pool_size > 0 ? opts->pool_size : 8;
    s->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    if (strncmp(url, "sqlite:", 7) == 0) {
        const char *path = url + 7;

        if (strncmp(path, "//", 2) == 0)
            path += 2;
        if (!*path) {
            rc = vx_err_set(err, VX_E_INVALID, 0, "store url '%s' has no path", url);
            goto fail;
        }
        s->kind = VX_DB_SQLITE;
        s->target = vx_xstrdup(path);
        /* every connection to ":memory:" would be a separate, empty database */
        if (strcmp(path, ":memory:") == 0)
            s->pool_size = 1;
    } else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        s->kind = VX_DB_PG;
        s->target = vx_xstrdup(url);
    } else {
        rc = vx_err_set(err, VX_E_INVALID, 0,
                        "store url must start with 'sqlite:', 'postgres://' or 'postgresql://'");
        goto fail;
    }
    s->idle = vx_xcalloc((size_t)s->pool_size, sizeof(*s->idle));

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        goto fail;
    rc = migrate(db, &s->schema_version, err);
    vx_store_conn_put(s, db);
    if (rc < 0) {
        rc = vx_err_wrap(err, "migrate %s store", vx_store_backend(s));
        goto fail;
    }
    *out = s;
    return 0;
fail:
    vx_store_close(s);
    return rc;
}

void vx_store_close(struct vx_store *s)
{
    if (!s)
        return;
    /* Every connection must have been returned: closing with work in flight is a bug
     * of the caller, and waiting here would hang rather than report it. */
    for (int i = 0; i < s->n_idle; i++)
        vx_db_close(s->idle[i]);
    free(s->idle);
    free(s->target);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *vx_store_backend(const struct vx_store *s)
{
    return s->kind == VX_DB_SQLITE ? "sqlite" : "postgres";
}

int vx_store_schema_version(const struct vx_store *s)
{
    return s->schema_version;
}

int vx_store_ping(struct vx_store *s, struct vx_err **err)
{
    struct vx_db *db = NULL;
    int rc;

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_query(db, "SELECT 1", 0, NULL, err);
    if (rc == 0)
        rc = vx_db_step(db, err) == 1 ? 0 : vx_err_set(err, VX_E_STORE, 0, "ping: no row");
    vx_store_conn_put(s, db);
    return rc;
}

/* Runs a SELECT and hands each row to 'fn', which builds one record; collects them. */
int vx_store_fetch_all(struct vx_store *s, const char *sql, int n, const char *const *p,
                       vx_store_row_fn *fn, void (*free_fn)(void *), void ***out, size_t *count,
                       struct vx_err **err)
{
    void **rows = NULL;
    size_t nrows = 0, cap = 0;
    struct vx_db *db = NULL;
    int rc;

    rc = vx_store_conn_get(s, &db, err);
    if (rc < 0)
        return rc;
    rc = vx_db_query(db, sql, n, p, err);
    while (rc == 0) {
        rc = vx_db_step(db, err);
        if (rc <= 0)
            break;
        rc = 0;
        rows = vx_xgrow(rows, sizeof(*rows), nrows + 1, &cap);
        rows[nrows++] = fn(db);
    }
    vx_store_conn_put(s, db);
    if (rc < 0) {
        for (size_t i = 0; i < nrows; i++)
            free_fn(rows[i]);
        free(rows);
        return rc;
    }
    *out = rows;
    *count = nrows;
    return 0;
}
