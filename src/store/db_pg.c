/* db_pg.c -- the PostgreSQL backend of the driver layer (see db.h), over libpq.
 *
 * DESIGN
 * Every statement is prepared once per connection (PQprepare, named "vxN") and run with
 * PQexecPrepared in text format, so a hot read is one round trip with no parse or plan
 * on the server after the first executions. Parameter types are left to the server's
 * inference; the store writes CAST(... AS ...) where an expression alone would not tell
 * it. A result is fetched whole (the store's queries are single rows or bounded pages).
 * A connection that breaks is reported as VX_E_UNAVAILABLE and dropped by the pool
 * (vx_db_healthy), which then connects afresh, so no state (prepared statements, an
 * aborted transaction) carries over.
 */
#include "common/setup.h"

#include <libpq-fe.h>

#include "store/db.h"
#include "common/alloc.h" /* for vx_xcalloc() */
#include "common/err.h"   /* for vx_err_set() */

struct pg_db {
    struct vx_db base;
    PGconn *c;
    struct vx_db_cache cache;
    int next_stmt; /* numbers the prepared statements */
    PGresult *res; /* the active result, or NULL */
    int row, nrows;
    int64_t changes;
};

/* The server's message without libpq's trailing newline. */
static int pg_fail(struct pg_db *d, const PGresult *res, struct vx_err **err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    enum vx_code code = VX_E_STORE;
    size_t len;

    if (!msg || !*msg)
        msg = PQerrorMessage(d->c);
    len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        len--;
    if (PQstatus(d->c) != CONNECTION_OK)
        code = VX_E_UNAVAILABLE;
    else if (state && strcmp(state, "23505") == 0)
        code = VX_E_CONFLICT;
    else if (state && strcmp(state, "23503") == 0)
        code = VX_E_NOT_FOUND;
    else if (state && (strncmp(state, "08", 2) == 0 || strcmp(state, "40001") == 0 ||
                       strcmp(state, "40P01") == 0 || strncmp(state, "57P", 3) == 0))
        code = VX_E_UNAVAILABLE;
    return vx_err_set(err, code, 0, "postgresql: %.*s", (int)len, msg);
}

static void pg_done(struct vx_db *db)
{
    struct pg_db *d = (struct pg_db *)db;

    PQclear(d->res);
    d->res = NULL;
    d->row = -1;
    d->nrows = 0;
}

static void pg_close(struct vx_db *db)
{
    struct pg_db *d = (struct pg_db *)db;

    pg_done(db);
    vx_db_cache_clear(&d->cache);
    PQfinish(d->c);
    free(d);
}

static int pg_script(struct vx_db *db, const char *sql, struct vx_err **err)
{
    struct pg_db *d = (struct pg_db *)db;
    PGresult *res;
    int rc = 0;

    pg_done(db);
    res = PQexec(d->c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = pg_fail(d, res, err);
    PQclear(res);
    return rc;
}

static int pg_begin(struct vx_db *db, struct vx_err **err)
{
    return pg_script(db, "BEGIN", err);
}

static int pg_query(struct vx_db *db, const char *sql, int n, const char *const *params,
                    struct vx_err **err)
{
    struct pg_db *d = (struct pg_db *)db;
    struct vx_db_cache_entry *e;
    char name[24];
    PGresult *res;
    int rc;

    pg_done(db);
    if (PQstatus(d->c) != CONNECTION_OK)
        return pg_fail(d, NULL, err);
    e = vx_db_cache_find(&d->cache, sql);
    if (e) {
        snprintf(name, sizeof(name), "vx%d", (int)(intptr_t)e->stmt);
        res = PQexecPrepared(d->c, name, n, params, NULL, NULL, 0);
    } else if (d->cache.n < VX_DB_CACHE_MAX) {
        int no = ++d->next_stmt;

        snprintf(name, sizeof(name), "vx%d", no);
        res = PQprepare(d->c, name, sql, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = pg_fail(d, res, err);
            PQclear(res);
            return rc;
        }
        PQclear(res);
        vx_db_cache_add(&d->cache, sql, (void *)(intptr_t)no);
        res = PQexecPrepared(d->c, name, n, params, NULL, NULL, 0);
    } else {
        res = PQexecParams(d->c, sql, n, NULL, params, NULL, NULL, 0);
    }
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_fail(d, res, err);
        PQclear(res);
        return rc;
    }
    d->res = res;
    d->row = -1;
    d->nrows = PQntuples(res);
    d->changes = strtoll(PQcmdTuples(res), NULL, 10);
    return 0;
}

static int pg_step(struct vx_db *db, struct vx_err **err)
{
    struct pg_db *d = (struct pg_db *)db;

    if (!d->res || d->row + 1 >= d->nrows)
        return 0;
    d->row++;
    return 1;
}

static const char *pg_col(struct vx_db *db, int i)
{
    struct pg_db *d = (struct pg_db *)db;

    if (!d->res || d->row < 0 || i >= PQnfields(d->res) || PQgetisnull(d->res, d->row, i))
        return NULL;
    return PQgetvalue(d->res, d->row, i);
}

static int64_t pg_changes(struct vx_db *db)
{
    return ((struct pg_db *)db)->changes;
}

static bool pg_healthy(struct vx_db *db)
{
    struct pg_db *d = (struct pg_db *)db;

    return PQstatus(d->c) == CONNECTION_OK && PQtransactionStatus(d->c) == PQTRANS_IDLE;
}

static const struct vx_db_ops pg_ops = {
    .close = pg_close,
    .script = pg_script,
    .query = pg_query,
    .step = pg_step,
    .col = pg_col,
    .done = pg_done,
    .changes = pg_changes,
    .begin = pg_begin,
    .healthy = pg_healthy,
};

/* NOTICEs ("relation already exists, skipping") are expected during migrations. */
static void on_notice(void *arg, const char *message)
{
}

int vx_db_pg_open(const char *conninfo, struct vx_db **out, struct vx_err **err)
{
    struct pg_db *d = vx_xcalloc(1, sizeof(*d));
    int rc;

    d->base.ops = &pg_ops;
    d->base.kind = VX_DB_PG;
    d->row = -1;
    d->c = PQconnectdb(conninfo);
    if (!d->c || PQstatus(d->c) != CONNECTION_OK) {
        const char *msg = d->c ? PQerrorMessage(d->c) : "out of memory";
        size_t len = strlen(msg);

        while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
            len--;
        rc = vx_err_set(err, VX_E_UNAVAILABLE, 0, "connect to postgresql: %.*s", (int)len, msg);
        PQfinish(d->c);
        free(d);
        return rc;
    }
    PQsetNoticeProcessor(d->c, on_notice, NULL);
    *out = &d->base;
    return 0;
}
