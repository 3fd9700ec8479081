/* db.c -- the parts of the driver layer shared by both backends (see db.h): the
 * prepared-statement cache and vx_db_exec(). */
#include "common/setup.h"

#include "store/db.h"
#include "common/alloc.h" /* for vx_xstrdup() */

int vx_db_exec(struct vx_db *db, const char *sql, int n, const char *const *params,
               int64_t *changes, struct vx_err **err)
{
    int rc = vx_db_query(db, sql, n, params, err);

    if (rc < 0)
        return rc;
    if (changes)
        *changes = vx_db_changes(db);
    vx_db_done(db);
    return 0;
}

/* FNV-1a: the keys are a few hundred SQL strings, collisions only cost a strcmp. */
static uint64_t sql_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

struct vx_db_cache_entry *vx_db_cache_find(struct vx_db_cache *c, const char *sql)
{
    uint64_t h;

    for (int i = 0; i < c->n; i++)
        if (c->e[i].key == sql && strcmp(c->e[i].sql, sql) == 0)
            return &c->e[i];
    h = sql_hash(sql);
    for (int i = 0; i < c->n; i++) {
        if (c->e[i].hash == h && strcmp(c->e[i].sql, sql) == 0) {
            c->e[i].key = sql;
            return &c->e[i];
        }
    }
    return NULL;
}

struct vx_db_cache_entry *vx_db_cache_add(struct vx_db_cache *c, const char *sql, void *stmt)
{
    struct vx_db_cache_entry *e;

    if (c->n >= VX_DB_CACHE_MAX)
        return NULL;
    e = &c->e[c->n++];
    e->key = sql;
    e->sql = vx_xstrdup(sql);
    e->hash = sql_hash(sql);
    e->stmt = stmt;
    return e;
}

void vx_db_cache_clear(struct vx_db_cache *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->e[i].sql);
    c->n = 0;
}
