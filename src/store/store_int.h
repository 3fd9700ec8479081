/* store_int.h -- private to src/store/: the store struct, its connection pool and the
 * row helpers shared by store.c, store_jobs.c and store_misc.c. */
#ifndef VX_STORE_STORE_INT_H
#define VX_STORE_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "store/db.h"

struct vx_err;

struct vx_store {
    enum vx_db_kind kind;
    char *target; /* SQLite path or libpq conninfo; owned */
    int busy_timeout_ms;
    int schema_version;
    pthread_mutex_t mu;  /* guards the pool fields below */
    pthread_cond_t cv;   /* signalled when a connection is returned or a slot frees */
    struct vx_db **idle; /* stack of idle connections (LIFO keeps hot caches hot) */
    int n_idle;
    int n_open; /* idle + lent out + being opened */
    int pool_size;
};

/* Lends a connection (waits while pool_size are lent out; opens one lazily). Return it
 * with vx_store_conn_put(), always, outside any transaction. */
int vx_store_conn_get(struct vx_store *s, struct vx_db **out, struct vx_err **err);
/* Takes the connection back; a broken one (or one left in a transaction) is closed. */
void vx_store_conn_put(struct vx_store *s, struct vx_db *db);

/* Builds one record from the current row of a query. */
typedef void *vx_store_row_fn(struct vx_db *db);
/* Runs a SELECT on a pooled connection and collects one record per row (built by fn). On
 * failure everything built so far is freed with free_fn. Caller owns *out and each row. */
int vx_store_fetch_all(struct vx_store *s, const char *sql, int n, const char *const *p,
                       vx_store_row_fn *fn, void (*free_fn)(void *), void ***out, size_t *count,
                       struct vx_err **err);

/* Moves *src into *dst when *dst is free (and dst non-NULL), else frees it; for retry
 * loops that run a step with a local error first. */
void vx_store_err_pass(struct vx_err **dst, struct vx_err **src);

/* Decimal text of v in buf, for a statement parameter; returns buf. */
static inline const char *vx_store_i64(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

/* Column helpers: NULL reads as 0 / NULL. */
int64_t vx_store_col_i64(struct vx_db *db, int i);
double vx_store_col_dbl(struct vx_db *db, int i);
/* A copy the caller owns, or NULL for SQL NULL. */
char *vx_store_col_dup(struct vx_db *db, int i);

/* Webhook row insertion inside the caller's transaction (store_misc.c). */
int vx_store_webhook_insert(struct vx_db *db, const char *job_id, const char *url,
                            const char *payload, int64_t now, struct vx_err **err);

/* ---- a statement assembled at run time (list filters, transitions) ------------------- */

#define VX_SQLB_MAX_ARGS 24

struct vx_sqlb {
    char sql[2048];
    size_t len;
    const char *args[VX_SQLB_MAX_ARGS];
    char nums[VX_SQLB_MAX_ARGS][32]; /* text of numeric arguments */
    int n;
    bool overflow; /* a programming error: checked by vx_sqlb_ok() */
};

void vx_sqlb_init(struct vx_sqlb *b);
void vx_sqlb_add(struct vx_sqlb *b, const char *text);
/* Appends "$k" and binds v (borrowed: must outlive the statement's vx_db_query). */
void vx_sqlb_arg(struct vx_sqlb *b, const char *v);
void vx_sqlb_i64(struct vx_sqlb *b, int64_t v);
void vx_sqlb_dbl(struct vx_sqlb *b, double v);
int vx_sqlb_ok(const struct vx_sqlb *b, struct vx_err **err);

#endif
