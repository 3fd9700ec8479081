/* db_sqlite.c -- the SQLite backend of the driver layer (see db.h).
 *
 * DESIGN
 * Each connection is opened SQLITE_OPEN_NOMUTEX: the pool guarantees one thread per
 * connection at a time, so SQLite's own per-connection mutex would be pure cost. The
 * database runs in WAL mode (readers never block the writer), synchronous=NORMAL (durable
 * at checkpoints, safe against corruption), with foreign keys on and a busy handler so
 * concurrent writers queue instead of failing. Statements are prepared once with
 * SQLITE_PREPARE_PERSISTENT and kept per connection; the store's "$N" placeholders are
 * rewritten to SQLite's "?N" so each index binds exactly parameter N whatever the order
 * of first appearance.
 */
#include "common/setup.h"

#include <sys/stat.h>

#include <sqlite3.h>
#include <unistd.h>

#include "store/db.h"
#include "common/alloc.h" /* for vx_xcalloc(), vx_xstrdup() */
#include "common/err.h"   /* for vx_err_set() */
#include "common/util.h"  /* for vx_mono_ms() */
#include "common/log.h"   /* for vx_warn() */

struct sq_db {
    struct vx_db base;
    sqlite3 *h;
    struct vx_db_cache cache;
    sqlite3_stmt *cur; /* the active statement, or NULL */
    bool cur_cached;   /* false: finalize at done */
    bool row_pending;  /* the first row was fetched by query and not yet handed out */
    bool finished;     /* sqlite3_step returned DONE */
    int busy_timeout_ms;
    int64_t busy_since_ms; /* monotonic start of the current wait for the write lock */
};

/* SQLite's default busy handler sleeps 1, 2, 5, 10 ... 100 ms between attempts, so two
 * threads contending for the write lock turn a 0.1 ms transaction into a 100 ms stall
 * (p99 of submit under load). Retrying after short, growing sleeps (50 us .. 2 ms) keeps
 * the queue of writers moving; the overall limit is still busy_timeout_ms. */
static int on_busy(void *arg, int count)
{
    struct sq_db *d = arg;
    int64_t now = vx_mono_ms();
    unsigned us;

    if (count == 0)
        d->busy_since_ms = now;
    if (now - d->busy_since_ms >= d->busy_timeout_ms)
        return 0;
    us = 50u << (count < 6 ? count : 6);
    usleep(us > 2000 ? 2000 : us);
    return 1;
}

static int sq_fail(struct sq_db *d, int rc, struct vx_err **err)
{
    enum vx_code code = VX_E_STORE;

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = VX_E_UNAVAILABLE;
        break;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            code = VX_E_CONFLICT;
        else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            code = VX_E_NOT_FOUND;
        break;
    default:
        break;
    }
    return vx_err_set(err, code, 0, "sqlite: %s", sqlite3_errmsg(d->h));
}

static void sq_done(struct vx_db *db)
{
    struct sq_db *d = (struct sq_db *)db;

    if (!d->cur)
        return;
    if (d->cur_cached)
        sqlite3_reset(d->cur);
    else
        sqlite3_finalize(d->cur);
    d->cur = NULL;
    d->row_pending = false;
    d->finished = false;
}

static void sq_close(struct vx_db *db)
{
    struct sq_db *d = (struct sq_db *)db;

    sq_done(db);
    for (int i = 0; i < d->cache.n; i++)
        sqlite3_finalize(d->cache.e[i].stmt);
    vx_db_cache_clear(&d->cache);
    sqlite3_close_v2(d->h);
    free(d);
}

static int sq_script(struct vx_db *db, const char *sql, struct vx_err **err)
{
    struct sq_db *d = (struct sq_db *)db;
    char *msg = NULL;
    int rc;

    sq_done(db);
    rc = sqlite3_exec(d->h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        enum vx_code code = (rc & 0xff) == SQLITE_BUSY ? VX_E_UNAVAILABLE : VX_E_STORE;

        rc = vx_err_set(err, code, 0, "sqlite: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int sq_begin(struct vx_db *db, struct vx_err **err)
{
    return sq_script(db, "BEGIN IMMEDIATE", err);
}

/* "$N" -> "?N" outside quoted literals and identifiers; same length. */
static char *translate(const char *sql)
{
    char *t = vx_xstrdup(sql);
    char quote = 0;

    for (char *p = t; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            *p = '?';
        }
    }
    return t;
}

static int sq_query(struct vx_db *db, const char *sql, int n, const char *const *params,
                    struct vx_err **err)
{
    struct sq_db *d = (struct sq_db *)db;
    struct vx_db_cache_entry *e;
    sqlite3_stmt *st = NULL;
    bool cached = true;
    int rc;

    sq_done(db);
    e = vx_db_cache_find(&d->cache, sql);
    if (e) {
        st = e->stmt;
    } else {
        char *t = translate(sql);

        rc = sqlite3_prepare_v3(d->h, t, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        free(t);
        if (rc != SQLITE_OK)
            return sq_fail(d, rc, err);
        cached = vx_db_cache_add(&d->cache, sql, st) != NULL;
    }
    if (sqlite3_bind_parameter_count(st) > n) {
        if (!cached)
            sqlite3_finalize(st);
        return vx_err_set(err, VX_E_INTERNAL, 0, "sqlite: statement wants %d parameters, got %d",
                          sqlite3_bind_parameter_count(st), n);
    }
    for (int i = 0; i < n; i++) {
        rc = params[i] ? sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT)
                       : sqlite3_bind_null(st, i + 1);
        if (rc != SQLITE_OK && rc != SQLITE_RANGE) {
            rc = sq_fail(d, rc, err);
            sqlite3_reset(st);
            if (!cached)
                sqlite3_finalize(st);
            return rc;
        }
    }
    d->cur = st;
    d->cur_cached = cached;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        d->row_pending = true;
        return 0;
    }
    if (rc == SQLITE_DONE) {
        d->finished = true;
        return 0;
    }
    rc = sq_fail(d, rc, err);
    sq_done(db);
    return rc;
}

static int sq_step(struct vx_db *db, struct vx_err **err)
{
    struct sq_db *d = (struct sq_db *)db;
    int rc;

    if (!d->cur || d->finished)
        return 0;
    if (d->row_pending) {
        d->row_pending = false;
        return 1;
    }
    rc = sqlite3_step(d->cur);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        d->finished = true;
        return 0;
    }
    return sq_fail(d, rc, err);
}

static const char *sq_col(struct vx_db *db, int i)
{
    struct sq_db *d = (struct sq_db *)db;

    if (!d->cur || sqlite3_column_type(d->cur, i) == SQLITE_NULL)
        return NULL;
    return (const char *)sqlite3_column_text(d->cur, i);
}

static int64_t sq_changes(struct vx_db *db)
{
    return sqlite3_changes64(((struct sq_db *)db)->h);
}

/* A connection handed back inside a transaction (an error path that forgot to roll
 * back) is not fit for the next user. */
static bool sq_healthy(struct vx_db *db)
{
    return sqlite3_get_autocommit(((struct sq_db *)db)->h) != 0;
}

static const struct vx_db_ops sq_ops = {
    .close = sq_close,
    .script = sq_script,
    .query = sq_query,
    .step = sq_step,
    .col = sq_col,
    .done = sq_done,
    .changes = sq_changes,
    .begin = sq_begin,
    .healthy = sq_healthy,
};

int vx_db_sqlite_open(const char *path, int busy_timeout_ms, struct vx_db **out,
                      struct vx_err **err)
{
    struct sq_db *d = vx_xcalloc(1, sizeof(*d));
    int rc;

    d->base.ops = &sq_ops;
    d->base.kind = VX_DB_SQLITE;
    rc = sqlite3_open_v2(path, &d->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = vx_err_set(err, VX_E_STORE, 0, "open sqlite database '%s': %s", path,
                        d->h ? sqlite3_errmsg(d->h) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(d->h, 1);
    /* The data directory is traversable by others (0711: the sandbox's user namespace must
     * reach the job's rootfs under it), so the database itself is owner-only. */
    if (strcmp(path, ":memory:") != 0 && chmod(path, 0600) < 0 && errno != ENOENT)
        vx_warn("cannot make '%s' owner-only: %s", path, strerror(errno));
    d->busy_timeout_ms = busy_timeout_ms;
    sqlite3_busy_handler(d->h, on_busy, d);
    rc = sq_script(&d->base,
                   "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
                   err);
    if (rc < 0) {
        rc = vx_err_wrap(err, "open sqlite database '%s'", path);
        goto fail;
    }
    *out = &d->base;
    return 0;
fail:
    sqlite3_close_v2(d->h);
    free(d);
    return rc;
}
