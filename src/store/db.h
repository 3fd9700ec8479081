/* db.h -- the store's private driver layer: one connection to SQLite or PostgreSQL.
 *
 * Private to src/store/. A struct vx_db is used by one thread at a time (the pool in
 * store.c hands it out). SQL is written once with $1, $2 ... placeholders; parameters
 * and result columns are text (NULL = SQL NULL). Every statement run through
 * vx_db_query() is prepared once per connection and kept in a cache keyed by the SQL
 * text, so a hot query never parses again.
 *
 * One statement is active per connection: vx_db_query() starts it (a write has been
 * carried out when it returns), vx_db_step() walks its rows, vx_db_done() ends it.
 * Errors map to codes: a unique violation is VX_E_CONFLICT, a foreign-key violation
 * VX_E_NOT_FOUND, a busy/locked database or a lost server VX_E_UNAVAILABLE, anything
 * else VX_E_STORE.
 */
#ifndef VX_STORE_DB_H
#define VX_STORE_DB_H

#include <stdbool.h>
#include <stdint.h>

struct vx_err;

enum vx_db_kind {
    VX_DB_SQLITE,
    VX_DB_PG,
};

struct vx_db;

struct vx_db_ops {
    void (*close)(struct vx_db *db);
    int (*script)(struct vx_db *db, const char *sql, struct vx_err **err);
    int (*query)(struct vx_db *db, const char *sql, int n, const char *const *params,
                 struct vx_err **err);
    int (*step)(struct vx_db *db, struct vx_err **err);
    const char *(*col)(struct vx_db *db, int i);
    void (*done)(struct vx_db *db);
    int64_t (*changes)(struct vx_db *db);
    int (*begin)(struct vx_db *db, struct vx_err **err);
    bool (*healthy)(struct vx_db *db);
};

/* The common head of every backend's connection struct. */
struct vx_db {
    const struct vx_db_ops *ops;
    enum vx_db_kind kind;
};

/* Opens a SQLite database file (created if absent) with WAL, synchronous=NORMAL,
 * foreign_keys=ON and the busy timeout. Caller owns *out (vx_db_close). */
int vx_db_sqlite_open(const char *path, int busy_timeout_ms, struct vx_db **out,
                      struct vx_err **err);
/* Connects with libpq to a postgres:// URL or conninfo string. Caller owns *out. */
int vx_db_pg_open(const char *conninfo, struct vx_db **out, struct vx_err **err);

/* NULL is a no-op. Finalizes the cached statements. */
static inline void vx_db_close(struct vx_db *db)
{
    if (db)
        db->ops->close(db);
}

/* Runs one or more ';'-separated statements without parameters or result rows
 * (migrations, BEGIN/COMMIT). Not cached. */
static inline int vx_db_script(struct vx_db *db, const char *sql, struct vx_err **err)
{
    return db->ops->script(db, sql, err);
}

/* Runs 'sql' with n text parameters (params[i] binds $i+1; NULL binds SQL NULL). On
 * success the statement stays active until vx_db_done(); on failure it is already done.
 * 'params' need only live until this call returns. */
static inline int vx_db_query(struct vx_db *db, const char *sql, int n, const char *const *params,
                              struct vx_err **err)
{
    return db->ops->query(db, sql, n, params, err);
}

/* 1 = a row is available through vx_db_col(), 0 = no more rows, or -code. */
static inline int vx_db_step(struct vx_db *db, struct vx_err **err)
{
    return db->ops->step(db, err);
}

/* Column i of the current row as text, NULL for SQL NULL. Borrowed until the next
 * vx_db_step() or vx_db_done(). */
static inline const char *vx_db_col(struct vx_db *db, int i)
{
    return db->ops->col(db, i);
}

/* Ends the active statement (no-op when none). */
static inline void vx_db_done(struct vx_db *db)
{
    db->ops->done(db);
}

/* Rows changed by the last INSERT/UPDATE/DELETE (valid after vx_db_query returned). */
static inline int64_t vx_db_changes(struct vx_db *db)
{
    return db->ops->changes(db);
}

/* Starts a write transaction: BEGIN IMMEDIATE on SQLite (takes the write lock now, so
 * the busy timeout applies and no read-to-write upgrade can fail), BEGIN on PostgreSQL. */
static inline int vx_db_begin(struct vx_db *db, struct vx_err **err)
{
    return db->ops->begin(db, err);
}

static inline int vx_db_commit(struct vx_db *db, struct vx_err **err)
{
    return db->ops->script(db, "COMMIT", err);
}

/* Best effort: errors are ignored (the connection is dropped if it is broken). */
static inline void vx_db_rollback(struct vx_db *db)
{
    db->ops->script(db, "ROLLBACK", NULL);
}

/* false when the connection is broken and should be dropped from the pool. */
static inline bool vx_db_healthy(struct vx_db *db)
{
    return db->ops->healthy(db);
}

/* Runs a statement and ends it; *changes (optional) gets the affected row count. */
int vx_db_exec(struct vx_db *db, const char *sql, int n, const char *const *params,
               int64_t *changes, struct vx_err **err);

/* ---- the statement cache, shared by both backends ------------------------------------ */

#define VX_DB_CACHE_MAX 128

struct vx_db_cache_entry {
    const char *key; /* the caller's pointer, for the fast path */
    char *sql;       /* owned copy, for lookups by content */
    uint64_t hash;
    void *stmt; /* backend handle (sqlite3_stmt *, or the PG statement number) */
};

struct vx_db_cache {
    struct vx_db_cache_entry e[VX_DB_CACHE_MAX];
    int n;
};

/* The entry for 'sql' or NULL: first by pointer (string literals), then by content
 * (SQL built at run time); a pointer hit is confirmed with strcmp, since a freed buffer's
 * address can come back holding other text. */
struct vx_db_cache_entry *vx_db_cache_find(struct vx_db_cache *c, const char *sql);
/* Adds an entry (copies sql); NULL when the cache is full (then run uncached). */
struct vx_db_cache_entry *vx_db_cache_add(struct vx_db_cache *c, const char *sql, void *stmt);
/* Frees the copies; the caller releases the backend handles first. */
void vx_db_cache_clear(struct vx_db_cache *c);

#endif
