/* test_store.c -- the store against a real backend: one suite, run on SQLite (a temp file
 * under /tmp) and on PostgreSQL (argv[1] = "pg"; the URL comes from the file named by
 * VEXXY_TEST_PG_URL_FILE, written by tests/pg/pg-fixture.sh). Each test gets a fresh
 * database: a new SQLite file, or a new PostgreSQL schema (search_path set through the
 * URL's "options"), so every test also runs the migrations from scratch.
 *
 * Without the URL file the PostgreSQL run exits 77 (skipped), except when CI=true: there a
 * missing PostgreSQL is a failure, never a silent skip.
 */
#include "common/setup.h"

#include <pthread.h>
#include <setjmp.h>
#include <cmocka.h>
#include <unistd.h>

#include "store/store.h"
#include "store/db.h" /* to create and drop the per-test PostgreSQL schema */
#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h" /* jansson, to read webhook payloads */
#include "common/util.h"

#define DIGEST  "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DIGEST2 "sha256:0000000000000000000000000000000000000000000000000000000000000001"

struct cfg {
    bool pg;
    char *pg_url;
    int seq;
};

struct fx {
    struct cfg *cfg;
    char dir[64];
    char schema[64];
    char *url;
    struct vx_store *s;
};

static void fail_err(struct vx_err **err, const char *what)
{
    fprintf(stderr, "%s: %s\n", what, *err ? (*err)->msg : "(no error)");
    vx_err_free(err);
}

#define OK(expr)                                                                                   \
    do {                                                                                           \
        struct vx_err *e_ = NULL;                                                                  \
        struct vx_err **err = &e_;                                                                 \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            fail_err(&e_, #expr);                                                                  \
        assert_int_equal(rc_, 0);                                                                  \
    } while (0)

#define FAILS(code, expr)                                                                          \
    do {                                                                                           \
        struct vx_err *e_ = NULL;                                                                  \
        struct vx_err **err = &e_;                                                                 \
        int rc_ = (expr);                                                                          \
        if (rc_ != -(code))                                                                        \
            fail_err(&e_, #expr);                                                                  \
        assert_int_equal(rc_, -(code));                                                            \
        assert_non_null(e_);                                                                       \
        vx_err_free(&e_);                                                                          \
    } while (0)

static int pg_admin(const char *url, const char *sql)
{
    struct vx_db *db = NULL;
    struct vx_err *err = NULL;
    int rc;

    rc = vx_db_pg_open(url, &db, &err);
    if (rc == 0)
        rc = vx_db_script(db, sql, &err);
    if (rc < 0)
        fail_err(&err, sql);
    vx_db_close(db);
    return rc;
}

static int setup(void **state)
{
    struct cfg *cfg = *state;
    struct fx *f = vx_xcalloc(1, sizeof(*f));
    struct vx_err *err = NULL;

    f->cfg = cfg;
    if (cfg->pg) {
        char *sql;
        int rc;

        snprintf(f->schema, sizeof(f->schema), "vxt_%d_%d", (int)getpid(), ++cfg->seq);
        sql = vx_xasprintf("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", f->schema,
                           f->schema);
        rc = pg_admin(cfg->pg_url, sql);
        free(sql);
        if (rc < 0)
            return -1;
        f->url = vx_xasprintf("%s%soptions=-csearch_path%%3D%s", cfg->pg_url,
                              strchr(cfg->pg_url, '?') ? "&" : "?", f->schema);
    } else {
        snprintf(f->dir, sizeof(f->dir), "/tmp/vx-store-XXXXXX");
        if (!mkdtemp(f->dir))
            return -1;
        f->url = vx_xasprintf("sqlite:%s/store.db", f->dir);
    }
    if (vx_store_open(f->url, NULL, &f->s, &err) < 0) {
        fail_err(&err, "vx_store_open");
        return -1;
    }
    if (vx_store_org_ensure(f->s, "org-a", "pro", -1, NULL, &err) < 0 ||
        vx_store_org_ensure(f->s, "org-b", "free", -1, NULL, &err) < 0) {
        fail_err(&err, "vx_store_org_ensure");
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    vx_store_close(f->s);
    if (f->cfg->pg) {
        char *sql = vx_xasprintf("DROP SCHEMA IF EXISTS %s CASCADE", f->schema);

        pg_admin(f->cfg->pg_url, sql);
        free(sql);
    } else {
        char *cmd = vx_xasprintf("rm -rf '%s'", f->dir);

        if (system(cmd) != 0)
            fprintf(stderr, "cleanup of %s failed\n", f->dir);
        free(cmd);
    }
    free(f->url);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

struct jspec {
    const char *org;
    int priority;
    const char *idem;
    const char *cache;
    const char *callback;
    const char *digest;
    int max_retries;
    bool force;
};

static int submit_spec(struct fx *f, const struct jspec *js, struct vx_job_rec **out,
                       enum vx_submit_outcome *oc, struct vx_err **err)
{
    struct vx_job_rec job = {0};
    char id[37], key[65];

    vx_uuid4(id);
    vx_sha256_hex(id, strlen(id), key);
    job.id = id;
    /* the record's fields are not const; submit only reads them */
    job.org_id = (char *)(js->org ? js->org : "org-a");
    job.image_ref = (char *)"nginx:latest";
    job.image_digest = (char *)(js->digest ? js->digest : DIGEST);
    job.profile = (char *)"standard";
    job.priority = js->priority;
    job.config_json = (char *)"{\"profile\":\"standard\"}";
    job.cache_key = js->cache ? (char *)js->cache : key;
    job.idempotency_key = (char *)js->idem;
    job.callback_url = (char *)js->callback;
    job.max_retries = js->max_retries;
    return vx_store_job_submit(f->s, &job, "{\"findings\":[]}", js->force, out, oc, err);
}

/* Submits a job that must be created; returns its id (caller frees). */
static char *submit(struct fx *f, const struct jspec *js)
{
    struct vx_job_rec *out = NULL;
    enum vx_submit_outcome oc;
    char *id;

    OK(submit_spec(f, js, &out, &oc, err));
    assert_int_equal(oc, VX_SUBMIT_CREATED);
    id = vx_xstrdup(out->id);
    vx_job_rec_free(out);
    return id;
}

static char *submit_simple(struct fx *f, const char *org, int priority)
{
    struct jspec js = {.org = org, .priority = priority, .max_retries = 2};

    return submit(f, &js);
}

static struct vx_job_rec *get(struct fx *f, const char *id)
{
    struct vx_job_rec *j = NULL;

    OK(vx_store_job_get(f->s, NULL, id, &j, err));
    return j;
}

static enum vx_job_state state_of(struct fx *f, const char *id)
{
    struct vx_job_rec *j = get(f, id);
    enum vx_job_state st = j->state;

    vx_job_rec_free(j);
    return st;
}

/* Claims the next job for worker w and checks it is 'expect' (NULL = none). */
static void claim_expect(struct fx *f, const char *w, int64_t lease, const char *expect)
{
    struct vx_job_rec *j = NULL;

    OK(vx_store_job_claim(f->s, w, lease, &j, err));
    if (!expect) {
        assert_null(j);
        return;
    }
    assert_non_null(j);
    assert_string_equal(j->id, expect);
    assert_int_equal(j->state, VX_JOB_RUNNING);
    assert_string_equal(j->worker_id, w);
    vx_job_rec_free(j);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_migrations_idempotent(void **state)
{
    struct fx *f = *state;
    struct vx_store *again = NULL;

    assert_int_equal(vx_store_schema_version(f->s), 1);
    assert_string_equal(vx_store_backend(f->s), f->cfg->pg ? "postgres" : "sqlite");
    OK(vx_store_ping(f->s, err));
    OK(vx_store_open(f->url, NULL, &again, err));
    assert_int_equal(vx_store_schema_version(again), 1);
    OK(vx_store_ping(again, err));
    vx_store_close(again);
    FAILS(VX_E_INVALID, vx_store_open("mysql://x", NULL, &again, err));
    FAILS(VX_E_INVALID, vx_store_open("sqlite:", NULL, &again, err));
}

struct opener {
    const char *url;
    pthread_barrier_t *go;
    int rc;
    int version;
};

static void *open_one(void *arg)
{
    struct opener *o = arg;
    struct vx_store *s = NULL;
    struct vx_err *err = NULL;

    pthread_barrier_wait(o->go);
    o->rc = vx_store_open(o->url, NULL, &s, &err);
    if (o->rc < 0) {
        fprintf(stderr, "concurrent open: %s\n", err->msg);
        vx_err_free(&err);
    } else {
        o->version = vx_store_schema_version(s);
    }
    vx_store_close(s);
    return NULL;
}

/* Three openers of one new database at once (separate connections, as separate processes
 * would be): each migration step is applied once, nobody fails. */
static void test_migrations_concurrent(void **state)
{
    struct fx *f = *state;
    struct opener o[3];
    pthread_t t[3];
    pthread_barrier_t go;
    char *url, *sql = NULL, dir[64] = "";
    struct vx_store *s = NULL;

    if (f->cfg->pg) {
        sql = vx_xasprintf("DROP SCHEMA IF EXISTS %s_m CASCADE; CREATE SCHEMA %s_m", f->schema,
                           f->schema);
        assert_int_equal(pg_admin(f->cfg->pg_url, sql), 0);
        free(sql);
        url = vx_xasprintf("%s%soptions=-csearch_path%%3D%s_m", f->cfg->pg_url,
                           strchr(f->cfg->pg_url, '?') ? "&" : "?", f->schema);
    } else {
        snprintf(dir, sizeof(dir), "%s", f->dir);
        url = vx_xasprintf("sqlite:%s/concurrent.db", dir);
    }
    pthread_barrier_init(&go, NULL, 3);
    for (int i = 0; i < 3; i++) {
        o[i] = (struct opener){url, &go, -1, 0};
        assert_int_equal(pthread_create(&t[i], NULL, open_one, &o[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].rc, 0);
        assert_int_equal(o[i].version, 1);
    }
    /* one row per step in schema_migrations, and the schema works */
    OK(vx_store_open(url, NULL, &s, err));
    OK(vx_store_org_ensure(s, "org-m", "free", -1, NULL, err));
    vx_store_close(s);
    {
        struct vx_db *db = NULL;
        int64_t rows = -1;

        if (f->cfg->pg) {
            OK(vx_db_pg_open(url, &db, err));
        } else {
            char *path = vx_xasprintf("%s/concurrent.db", dir);

            OK(vx_db_sqlite_open(path, 1000, &db, err));
            free(path);
        }
        OK(vx_db_query(db, "SELECT COUNT(*) FROM schema_migrations", 0, NULL, err));
        assert_int_equal(vx_db_step(db, NULL), 1);
        rows = strtoll(vx_db_col(db, 0), NULL, 10);
        vx_db_done(db);
        vx_db_close(db);
        assert_int_equal(rows, 1);
    }
    if (f->cfg->pg) {
        sql = vx_xasprintf("DROP SCHEMA IF EXISTS %s_m CASCADE", f->schema);
        pg_admin(f->cfg->pg_url, sql);
        free(sql);
    }
    free(url);
}

static void test_submit_get(void **state)
{
    struct fx *f = *state;
    struct jspec js = {.priority = 3, .callback = "http://127.0.0.1:9/cb", .max_retries = 4};
    struct vx_job_rec *j = NULL;
    char *id = submit(f, &js), *findings = NULL;
    int64_t now = vx_now_ms();

    OK(vx_store_job_get(f->s, "org-a", id, &j, err));
    assert_string_equal(j->id, id);
    assert_string_equal(j->org_id, "org-a");
    assert_string_equal(j->image_ref, "nginx:latest");
    assert_string_equal(j->image_digest, DIGEST);
    assert_string_equal(j->profile, "standard");
    assert_int_equal(j->state, VX_JOB_QUEUED);
    assert_int_equal(j->priority, 3);
    assert_string_equal(j->config_json, "{\"profile\":\"standard\"}");
    assert_string_equal(j->callback_url, "http://127.0.0.1:9/cb");
    assert_null(j->sbom_id);
    assert_null(j->idempotency_key);
    assert_null(j->results_json);
    assert_null(j->worker_id);
    assert_int_equal(j->max_retries, 4);
    assert_int_equal(j->retry_count, 0);
    assert_false(j->cancel_requested);
    assert_true(j->created_at > now - 10000 && j->created_at <= now);
    assert_int_equal(j->updated_at, j->created_at);
    assert_int_equal(j->completed_at, 0);
    vx_job_rec_free(j);

    FAILS(VX_E_NOT_FOUND, vx_store_job_get(f->s, "org-b", id, &j, err));
    FAILS(VX_E_NOT_FOUND,
          vx_store_job_get(f->s, NULL, "00000000-0000-4000-8000-000000000000", &j, err));
    OK(vx_store_job_get_findings(f->s, id, &findings, err));
    assert_string_equal(findings, "{\"findings\":[]}");
    free(findings);
    FAILS(VX_E_NOT_FOUND, vx_store_job_get_findings(f->s, "nope", &findings, err));

    /* a job of an organization that does not exist is refused */
    {
        struct jspec bad = {.org = "org-missing"};
        struct vx_job_rec *out = NULL;
        enum vx_submit_outcome oc;

        FAILS(VX_E_NOT_FOUND, submit_spec(f, &bad, &out, &oc, err));
    }
    free(id);
}

static void test_idempotency(void **state)
{
    struct fx *f = *state;
    struct jspec js = {.idem = "key-1"};
    struct vx_job_rec *out = NULL;
    enum vx_submit_outcome oc;
    char *first = submit(f, &js), *other;
    int64_t limit, used;
    char month[8];

    OK(submit_spec(f, &js, &out, &oc, err));
    assert_int_equal(oc, VX_SUBMIT_IDEMPOTENT);
    assert_string_equal(out->id, first);
    assert_string_equal(out->idempotency_key, "key-1");
    vx_job_rec_free(out);
    /* the replay did not count against the quota */
    OK(vx_store_quota_get(f->s, "org-a", vx_time_month(vx_now_ms(), month, sizeof(month)), &limit,
                          &used, err));
    assert_int_equal(used, 1);
    assert_int_equal(limit, -1);

    js.org = "org-b";
    other = submit(f, &js);
    assert_string_not_equal(other, first);
    free(first);
    free(other);
}

static void test_cache(void **state)
{
    struct fx *f = *state;
    struct jspec js = {.cache = "cafe"};
    struct vx_job_update upd = VX_JOB_UPDATE_INIT;
    struct vx_job_rec *out = NULL;
    enum vx_submit_outcome oc;
    char *first = submit(f, &js), *second, *forced;

    /* not complete yet: a second submit is a new job */
    second = submit(f, &js);
    claim_expect(f, "w1", 60000, first);
    upd.results_json = "{\"summary\":{\"affected\":0}}";
    OK(vx_store_job_transition(f->s, first, "w1", VX_JOB_RUNNING, VX_JOB_COMPLETE, &upd, 0, err));

    OK(submit_spec(f, &js, &out, &oc, err));
    assert_int_equal(oc, VX_SUBMIT_CACHED);
    assert_string_equal(out->id, first);
    assert_int_equal(out->state, VX_JOB_COMPLETE);
    assert_string_equal(out->results_json, "{\"summary\":{\"affected\":0}}");
    vx_job_rec_free(out);

    js.force = true;
    forced = submit(f, &js);
    assert_string_not_equal(forced, first);

    /* another organization never sees the cached result */
    js.force = false;
    js.org = "org-b";
    free(submit(f, &js));
    free(first);
    free(second);
    free(forced);
}

static void test_quota(void **state)
{
    struct fx *f = *state;
    struct jspec js = {.org = "org-q"};
    struct vx_job_filter flt = {.org_id = "org-q", .limit = 100};
    struct vx_job_rec **rows = NULL, *out = NULL;
    enum vx_submit_outcome oc;
    int64_t limit = 0, used = 0;
    char month[8], *cursor = NULL;
    size_t n = 0;

    vx_time_month(vx_now_ms(), month, sizeof(month));
    OK(vx_store_org_create(f->s, "org-q", "quota-org", "free", 2, NULL, err));
    free(submit(f, &js));
    free(submit(f, &js));
    FAILS(VX_E_QUOTA, submit_spec(f, &js, &out, &oc, err));
    assert_null(out);
    OK(vx_store_job_list(f->s, &flt, &rows, &n, &cursor, err));
    assert_int_equal(n, 2);
    vx_job_rec_array_free(rows, n);
    OK(vx_store_quota_get(f->s, "org-q", month, &limit, &used, err));
    assert_int_equal(limit, 2);
    assert_int_equal(used, 2);

    OK(vx_store_quota_set(f->s, "org-q", 3, err));
    free(submit(f, &js));
    FAILS(VX_E_QUOTA, submit_spec(f, &js, &out, &oc, err));
    OK(vx_store_quota_get(f->s, "org-q", month, &limit, &used, err));
    assert_int_equal(limit, 3);
    assert_int_equal(used, 3);
    OK(vx_store_quota_get(f->s, "org-q", "1999-01", &limit, &used, err));
    assert_int_equal(used, 0);
    FAILS(VX_E_NOT_FOUND, vx_store_quota_set(f->s, "org-none", 3, err));
    FAILS(VX_E_NOT_FOUND, vx_store_quota_get(f->s, "org-none", month, &limit, &used, err));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_list_pagination(void **state)
{
    struct fx *f = *state;
    char *ids[5], *late, *cursor = NULL, *cursor2 = NULL, *cursor3 = NULL;
    struct vx_job_filter flt = {.org_id = "org-a", .limit = 2};
    struct vx_job_rec **rows = NULL, *c = NULL;
    size_t n = 0;

    for (int i = 0; i < 5; i++) {
        struct jspec js = {.digest = i == 1 ? DIGEST2 : NULL};

        ids[i] = submit(f, &js);
        usleep(3000); /* distinct created_at, so the expected order is known */
    }
    free(submit_simple(f, "org-b", 0));

    OK(vx_store_job_list(f->s, &flt, &rows, &n, &cursor, err));
    assert_int_equal(n, 2);
    assert_string_equal(rows[0]->id, ids[4]);
    assert_string_equal(rows[1]->id, ids[3]);
    assert_non_null(cursor);
    vx_job_rec_array_free(rows, n);

    /* a job inserted between pages does not shift the next page */
    late = submit_simple(f, "org-a", 0);
    flt.cursor = cursor;
    OK(vx_store_job_list(f->s, &flt, &rows, &n, &cursor2, err));
    assert_int_equal(n, 2);
    assert_string_equal(rows[0]->id, ids[2]);
    assert_string_equal(rows[1]->id, ids[1]);
    vx_job_rec_array_free(rows, n);
    flt.cursor = cursor2;
    OK(vx_store_job_list(f->s, &flt, &rows, &n, &cursor3, err));
    assert_int_equal(n, 1);
    assert_string_equal(rows[0]->id, ids[0]);
    assert_null(cursor3);
    vx_job_rec_array_free(rows, n);

    /* filters: state, digest; admin view; bad cursor and limit */
    OK(vx_store_job_cancel(f->s, "org-a", ids[2], &c, err));
    vx_job_rec_free(c);
    flt.cursor = NULL;
    flt.limit = 100;
    flt.has_state = 1;
    flt.state = VX_JOB_CANCELLED;
    OK(vx_store_job_list(f->s, &flt, &rows, &n, &cursor3, err));
    assert_int_equal(n, 1);
    assert_string_equal(rows[0]->id, ids[2]);
    vx_job_rec_array_free(rows, n);
    flt.has_state = 0;
    flt.image_digest = DIGEST2;
    OK(vx_store_job_list(f->s, &flt, &rows, &n, &cursor3, err));
    assert_int_equal(n, 1);
    assert_string_equal(rows[0]->id, ids[1]);
    vx_job_rec_array_free(rows, n);
    flt.image_digest = NULL;
    flt.org_id = NULL;
    OK(vx_store_job_list(f->s, &flt, &rows, &n, &cursor3, err));
    assert_int_equal(n, 7);
    assert_null(cursor3);
    vx_job_rec_array_free(rows, n);

    flt.cursor = "zz";
    FAILS(VX_E_INVALID, vx_store_job_list(f->s, &flt, &rows, &n, &cursor3, err));
    flt.cursor = "3132333a"; /* "123:" without an id */
    FAILS(VX_E_INVALID, vx_store_job_list(f->s, &flt, &rows, &n, &cursor3, err));
    flt.cursor = NULL;
    flt.limit = 101;
    FAILS(VX_E_INVALID, vx_store_job_list(f->s, &flt, &rows, &n, &cursor3, err));

    /* jobs created within one millisecond still page exactly once each, newest first */
    {
        char *seen[12];
        int nseen = 0;
        char *cur = NULL;

        OK(vx_store_org_ensure(f->s, "org-p", "free", -1, NULL, err));
        for (int i = 0; i < 12; i++)
            free(submit_simple(f, "org-p", 0));
        flt = (struct vx_job_filter){.org_id = "org-p", .limit = 5};
        do {
            char *next = NULL;

            flt.cursor = cur;
            OK(vx_store_job_list(f->s, &flt, &rows, &n, &next, err));
            for (size_t i = 0; i < n; i++) {
                assert_true(nseen < 12);
                seen[nseen++] = vx_xstrdup(rows[i]->id);
                if (i > 0)
                    assert_true(rows[i - 1]->created_at > rows[i]->created_at ||
                                (rows[i - 1]->created_at == rows[i]->created_at &&
                                 strcmp(rows[i - 1]->id, rows[i]->id) > 0));
            }
            vx_job_rec_array_free(rows, n);
            free(cur);
            cur = next;
        } while (cur);
        assert_int_equal(nseen, 12);
        qsort(seen, 12, sizeof(seen[0]), cmp_str);
        for (int i = 1; i < 12; i++)
            assert_string_not_equal(seen[i - 1], seen[i]);
        for (int i = 0; i < 12; i++)
            free(seen[i]);
    }
    for (int i = 0; i < 5; i++)
        free(ids[i]);
    free(late);
    free(cursor);
    free(cursor2);
}

static void test_claim_order(void **state)
{
    struct fx *f = *state;
    char *low_old = submit_simple(f, "org-a", 0);
    char *high_old, *low_new, *high_new;

    usleep(3000);
    high_old = submit_simple(f, "org-b", 5);
    usleep(3000);
    low_new = submit_simple(f, "org-a", 0);
    usleep(3000);
    high_new = submit_simple(f, "org-a", 5);

    claim_expect(f, "w1", 60000, high_old);
    claim_expect(f, "w1", 60000, high_new);
    claim_expect(f, "w2", 60000, low_old);
    claim_expect(f, "w2", 60000, low_new);
    claim_expect(f, "w2", 60000, NULL);
    {
        struct vx_job_rec *j = get(f, low_old);

        assert_true(j->started_at > 0);
        assert_true(j->lease_expires_at >= j->started_at + 60000);
        vx_job_rec_free(j);
    }
    free(low_old);
    free(high_old);
    free(low_new);
    free(high_new);
}

static void test_not_before(void **state)
{
    struct fx *f = *state;
    char *id = submit_simple(f, "org-a", 0);
    struct vx_job_rec *j;

    claim_expect(f, "w1", 60000, id);
    /* handed back with a 300 ms backoff: not claimable before then */
    OK(vx_store_job_transition(f->s, id, "w1", VX_JOB_RUNNING, VX_JOB_QUEUED, NULL, 300, err));
    j = get(f, id);
    assert_int_equal(j->state, VX_JOB_QUEUED);
    assert_int_equal(j->retry_count, 1);
    assert_null(j->worker_id);
    assert_int_equal(j->lease_expires_at, 0);
    assert_true(j->not_before > vx_now_ms());
    vx_job_rec_free(j);
    claim_expect(f, "w2", 60000, NULL);
    usleep(400000);
    claim_expect(f, "w2", 60000, id);
    free(id);
}

static void test_heartbeat_lease(void **state)
{
    struct fx *f = *state;
    char *id = submit_simple(f, "org-a", 0);
    struct vx_job_rec *j = NULL;
    bool cancel = true;
    int64_t before;

    FAILS(VX_E_LEASE_LOST, vx_store_job_heartbeat(f->s, id, "w1", 1000, &cancel, err));
    claim_expect(f, "w1", 1000, id);
    before = vx_now_ms();
    OK(vx_store_job_heartbeat(f->s, id, "w1", 120000, &cancel, err));
    assert_false(cancel);
    j = get(f, id);
    assert_true(j->lease_expires_at >= before + 120000);
    vx_job_rec_free(j);
    FAILS(VX_E_LEASE_LOST, vx_store_job_heartbeat(f->s, id, "w2", 1000, &cancel, err));

    OK(vx_store_job_progress(f->s, id, "w1", 40, "sandbox", err));
    OK(vx_store_job_progress(f->s, id, "w1", 45, NULL, err));
    j = get(f, id);
    assert_int_equal(j->progress_percent, 45);
    assert_string_equal(j->current_phase, "sandbox");
    vx_job_rec_free(j);
    FAILS(VX_E_LEASE_LOST, vx_store_job_progress(f->s, id, "w2", 50, "trace", err));

    OK(vx_store_job_cancel(f->s, NULL, id, &j, err));
    vx_job_rec_free(j);
    OK(vx_store_job_heartbeat(f->s, id, "w1", 1000, &cancel, err));
    assert_true(cancel);
    OK(vx_store_job_transition(f->s, id, "w1", VX_JOB_RUNNING, VX_JOB_CANCELLED, NULL, 0, err));
    FAILS(VX_E_LEASE_LOST, vx_store_job_heartbeat(f->s, id, "w1", 1000, &cancel, err));
    FAILS(VX_E_LEASE_LOST, vx_store_job_progress(f->s, id, "w1", 50, "trace", err));
    free(id);
}

static void test_transitions(void **state)
{
    struct fx *f = *state;
    char *id = submit_simple(f, "org-a", 0);
    struct vx_job_update upd = VX_JOB_UPDATE_INIT;
    struct vx_job_rec *j;

    FAILS(VX_E_INVALID,
          vx_store_job_transition(f->s, id, NULL, VX_JOB_QUEUED, VX_JOB_COMPLETE, NULL, 0, err));
    FAILS(VX_E_INVALID,
          vx_store_job_transition(f->s, id, NULL, VX_JOB_COMPLETE, VX_JOB_RUNNING, NULL, 0, err));
    /* CAS: not in 'from' */
    FAILS(VX_E_CONFLICT,
          vx_store_job_transition(f->s, id, NULL, VX_JOB_RUNNING, VX_JOB_ANALYZING, NULL, 0, err));
    FAILS(VX_E_CONFLICT, vx_store_job_transition(f->s, "no-such-job", NULL, VX_JOB_QUEUED,
                                                 VX_JOB_FAILED, NULL, 0, err));
    claim_expect(f, "w1", 60000, id);
    /* CAS: held by someone else */
    FAILS(VX_E_CONFLICT,
          vx_store_job_transition(f->s, id, "w2", VX_JOB_RUNNING, VX_JOB_ANALYZING, NULL, 0, err));
    upd.sandbox_id = "sb-1";
    upd.current_phase = "reach";
    upd.progress_percent = 80;
    OK(vx_store_job_transition(f->s, id, "w1", VX_JOB_RUNNING, VX_JOB_ANALYZING, &upd, 0, err));
    j = get(f, id);
    assert_int_equal(j->state, VX_JOB_ANALYZING);
    assert_string_equal(j->sandbox_id, "sb-1");
    assert_string_equal(j->current_phase, "reach");
    assert_int_equal(j->progress_percent, 80);
    assert_string_equal(j->worker_id, "w1");
    vx_job_rec_free(j);

    upd = (struct vx_job_update)VX_JOB_UPDATE_INIT;
    upd.results_json = "{\"summary\":{\"not_affected\":3}}";
    upd.progress_percent = 100;
    upd.cost_credits = 1.5;
    OK(vx_store_job_transition(f->s, id, "w1", VX_JOB_ANALYZING, VX_JOB_COMPLETE, &upd, 0, err));
    j = get(f, id);
    assert_int_equal(j->state, VX_JOB_COMPLETE);
    assert_string_equal(j->results_json, "{\"summary\":{\"not_affected\":3}}");
    assert_int_equal(j->progress_percent, 100);
    assert_true(j->cost_credits > 1.49 && j->cost_credits < 1.51);
    assert_true(j->completed_at > 0);
    assert_null(j->worker_id);
    assert_int_equal(j->lease_expires_at, 0);
    assert_string_equal(j->sandbox_id, "sb-1"); /* unchanged when not given */
    vx_job_rec_free(j);
    /* a second finisher loses */
    FAILS(VX_E_CONFLICT,
          vx_store_job_transition(f->s, id, "w1", VX_JOB_ANALYZING, VX_JOB_FAILED, NULL, 0, err));

    /* queued -> failed without a lease (API/admin) */
    free(id);
    id = submit_simple(f, "org-a", 0);
    upd = (struct vx_job_update)VX_JOB_UPDATE_INIT;
    upd.error_message = "image 'x' not found";
    OK(vx_store_job_transition(f->s, id, NULL, VX_JOB_QUEUED, VX_JOB_FAILED, &upd, 0, err));
    j = get(f, id);
    assert_int_equal(j->state, VX_JOB_FAILED);
    assert_string_equal(j->error_message, "image 'x' not found");
    vx_job_rec_free(j);
    free(id);
}

static void test_cancel(void **state)
{
    struct fx *f = *state;
    char *q = submit_simple(f, "org-a", 0), *r, *a, *done;
    struct vx_job_rec *j = NULL;

    usleep(2000);
    r = submit_simple(f, "org-a", 0);
    usleep(2000);
    a = submit_simple(f, "org-a", 0);
    usleep(2000);
    done = submit_simple(f, "org-a", 0);

    FAILS(VX_E_NOT_FOUND, vx_store_job_cancel(f->s, "org-b", q, &j, err));
    OK(vx_store_job_cancel(f->s, "org-a", q, &j, err));
    assert_int_equal(j->state, VX_JOB_CANCELLED);
    assert_true(j->completed_at > 0);
    vx_job_rec_free(j);
    FAILS(VX_E_CONFLICT, vx_store_job_cancel(f->s, "org-a", q, &j, err));

    claim_expect(f, "w1", 60000, r);
    claim_expect(f, "w1", 60000, a);
    claim_expect(f, "w1", 60000, done);
    OK(vx_store_job_transition(f->s, a, "w1", VX_JOB_RUNNING, VX_JOB_ANALYZING, NULL, 0, err));
    OK(vx_store_job_transition(f->s, done, "w1", VX_JOB_RUNNING, VX_JOB_COMPLETE, NULL, 0, err));

    OK(vx_store_job_cancel(f->s, "org-a", r, &j, err));
    assert_int_equal(j->state, VX_JOB_RUNNING);
    assert_true(j->cancel_requested);
    vx_job_rec_free(j);
    OK(vx_store_job_cancel(f->s, NULL, a, &j, err));
    assert_int_equal(j->state, VX_JOB_ANALYZING);
    assert_true(j->cancel_requested);
    vx_job_rec_free(j);
    FAILS(VX_E_CONFLICT, vx_store_job_cancel(f->s, NULL, done, &j, err));
    FAILS(VX_E_NOT_FOUND, vx_store_job_cancel(f->s, NULL, "no-such-job", &j, err));
    free(q);
    free(r);
    free(a);
    free(done);
}

static void test_reap(void **state)
{
    struct fx *f = *state;
    struct jspec js = {.max_retries = 2};
    struct jspec js0 = {.max_retries = 0, .callback = "http://127.0.0.1:9/hook"};
    char *id, *id0, *live;
    struct vx_job_rec *j;
    int requeued = -1, failed = -1;
    int64_t now;

    id = submit(f, &js);
    usleep(2000);
    id0 = submit(f, &js0);
    usleep(2000);
    live = submit_simple(f, "org-a", 0);

    /* a negative lease is already expired */
    claim_expect(f, "w1", -1000, id);
    claim_expect(f, "w1", -1000, id0);
    claim_expect(f, "w1", 60000, live);
    now = vx_now_ms();
    OK(vx_store_job_reap(f->s, now, 0, &requeued, &failed, err));
    assert_int_equal(requeued, 1);
    assert_int_equal(failed, 1);

    j = get(f, id0);
    assert_int_equal(j->state, VX_JOB_FAILED);
    assert_string_equal(j->error_message, "worker lost: lease expired 1 times");
    assert_true(j->completed_at > 0);
    vx_job_rec_free(j);
    assert_int_equal(state_of(f, live), VX_JOB_RUNNING);

    j = get(f, id);
    assert_int_equal(j->state, VX_JOB_QUEUED);
    assert_int_equal(j->retry_count, 1);
    assert_int_equal(j->not_before, now); /* backoff 0 */
    vx_job_rec_free(j);

    /* second expiry: backoff 1000 * 2^1 */
    claim_expect(f, "w2", -1000, id);
    now = vx_now_ms();
    OK(vx_store_job_reap(f->s, now, 1000, &requeued, &failed, err));
    assert_int_equal(requeued, 1);
    assert_int_equal(failed, 0);
    j = get(f, id);
    assert_int_equal(j->retry_count, 2);
    assert_int_equal(j->not_before, now + 2000);
    vx_job_rec_free(j);

    /* retry_count reached max_retries: the next expiry fails it. The reaper's clock is
     * ours, so pretend time passed rather than sleeping through the backoff. */
    OK(vx_store_job_reap(f->s, now + 10000, 1000, &requeued, &failed, err));
    assert_int_equal(requeued, 0);
    assert_int_equal(failed, 0); /* queued, not running: nothing to reap */
    {
        struct vx_webhook_rec **w = NULL;
        size_t n = 0;

        OK(vx_store_webhook_list(f->s, id0, &w, &n, err));
        assert_int_equal(n, 1);
        assert_non_null(strstr(w[0]->payload, "\"event\":\"job.failed\""));
        for (size_t i = 0; i < n; i++)
            vx_webhook_rec_free(w[i]);
        free(w);
    }
    free(id);
    free(id0);
    free(live);
}

static void test_reap_fails_at_max(void **state)
{
    struct fx *f = *state;
    struct jspec js = {.max_retries = 1};
    char *id = submit(f, &js);
    struct vx_job_rec *j;
    int requeued = -1, failed = -1;

    claim_expect(f, "w1", -1000, id);
    OK(vx_store_job_reap(f->s, vx_now_ms(), 0, &requeued, &failed, err));
    assert_int_equal(requeued, 1);
    claim_expect(f, "w1", -1000, id);
    OK(vx_store_job_reap(f->s, vx_now_ms(), 0, &requeued, &failed, err));
    assert_int_equal(requeued, 0);
    assert_int_equal(failed, 1);
    j = get(f, id);
    assert_int_equal(j->state, VX_JOB_FAILED);
    assert_int_equal(j->retry_count, 1);
    assert_string_equal(j->error_message, "worker lost: lease expired 2 times");
    vx_job_rec_free(j);
    /* the old holder cannot finish it any more */
    FAILS(VX_E_CONFLICT,
          vx_store_job_transition(f->s, id, "w1", VX_JOB_RUNNING, VX_JOB_COMPLETE, NULL, 0, err));
    free(id);
}

static void test_counts(void **state)
{
    struct fx *f = *state;
    int64_t c[VX_JOB_STATE_COUNT];
    char *a = submit_simple(f, "org-a", 0), *b, *d;
    struct vx_job_rec *j = NULL;

    usleep(2000);
    b = submit_simple(f, "org-b", 0);
    usleep(2000);
    d = submit_simple(f, "org-a", 0);
    claim_expect(f, "w1", 60000, a);
    OK(vx_store_job_cancel(f->s, NULL, b, &j, err));
    vx_job_rec_free(j);
    OK(vx_store_job_counts(f->s, c, err));
    assert_int_equal(c[VX_JOB_QUEUED], 1);
    assert_int_equal(c[VX_JOB_RUNNING], 1);
    assert_int_equal(c[VX_JOB_CANCELLED], 1);
    assert_int_equal(c[VX_JOB_COMPLETE], 0);
    assert_int_equal(c[VX_JOB_FAILED], 0);
    assert_int_equal(c[VX_JOB_ANALYZING], 0);
    free(a);
    free(b);
    free(d);
}

static void test_evidence(void **state)
{
    struct fx *f = *state;
    char *job = submit_simple(f, "org-a", 0), *e1 = NULL, *e2 = NULL;
    static const char doc[] = "{\"@context\":\"https://openvex.dev/ns/v0.2.0\"}";
    struct vx_evidence_rec *e = NULL, **list = NULL;
    size_t n = 0;
    int deleted = -1;

    OK(vx_store_evidence_put(f->s, job, "openvex", "application/json", doc, strlen(doc), NULL, &e1,
                             err));
    usleep(2000);
    OK(vx_store_evidence_put(f->s, job, "log", "text/plain", NULL, 1234, "logs/ab/cd.log", &e2,
                             err));
    OK(vx_store_evidence_get(f->s, "org-a", e1, &e, err));
    assert_string_equal(e->job_id, job);
    assert_string_equal(e->type, "openvex");
    assert_string_equal(e->data, doc);
    assert_int_equal(e->size, (int64_t)strlen(doc));
    assert_null(e->storage_path);
    vx_evidence_rec_free(e);
    FAILS(VX_E_NOT_FOUND, vx_store_evidence_get(f->s, "org-b", e1, &e, err));
    OK(vx_store_evidence_get(f->s, NULL, e2, &e, err));
    assert_null(e->data);
    assert_string_equal(e->storage_path, "logs/ab/cd.log");
    assert_int_equal(e->size, 1234);
    vx_evidence_rec_free(e);

    OK(vx_store_evidence_list(f->s, job, &list, &n, err));
    assert_int_equal(n, 2);
    assert_string_equal(list[0]->id, e1);
    assert_string_equal(list[1]->id, e2);
    for (size_t i = 0; i < n; i++)
        vx_evidence_rec_free(list[i]);
    free(list);

    FAILS(VX_E_INVALID, vx_store_evidence_put(f->s, job, "bin", "x", "a\0b", 3, NULL, NULL, err));
    FAILS(VX_E_NOT_FOUND,
          vx_store_evidence_put(f->s, "no-such-job", "log", "text/plain", "x", 1, NULL, NULL, err));
    OK(vx_store_evidence_purge(f->s, 0, &deleted, err));
    assert_int_equal(deleted, 0);
    OK(vx_store_evidence_purge(f->s, vx_now_ms() + 1, &deleted, err));
    assert_int_equal(deleted, 2);
    FAILS(VX_E_NOT_FOUND, vx_store_evidence_get(f->s, NULL, e1, &e, err));
    free(job);
    free(e1);
    free(e2);
}

static void test_orgs_and_keys(void **state)
{
    struct fx *f = *state;
    struct vx_org_rec *o = NULL, **orgs = NULL;
    struct vx_apikey_rec *k = NULL, **keys = NULL;
    char *kid = NULL, *kid2 = NULL;
    int64_t used_at;
    size_t n = 0;

    OK(vx_store_org_create(f->s, NULL, "Acme", "enterprise", 1000, &o, err));
    assert_true(vx_uuid_valid(o->id));
    assert_string_equal(o->name, "Acme");
    assert_string_equal(o->tier, "enterprise");
    assert_int_equal(o->jobs_per_month, 1000);
    FAILS(VX_E_CONFLICT, vx_store_org_create(f->s, NULL, "Acme", "free", 1, NULL, err));
    FAILS(VX_E_CONFLICT, vx_store_org_create(f->s, o->id, "Other", "free", 1, NULL, err));
    {
        struct vx_org_rec *g = NULL;

        OK(vx_store_org_get(f->s, "Acme", &g, err));
        assert_string_equal(g->id, o->id);
        vx_org_rec_free(g);
        OK(vx_store_org_get(f->s, o->id, &g, err));
        assert_string_equal(g->name, "Acme");
        vx_org_rec_free(g);
        FAILS(VX_E_NOT_FOUND, vx_store_org_get(f->s, "nobody", &g, err));
        /* ensure returns the existing row untouched */
        OK(vx_store_org_ensure(f->s, o->id, "free", 5, &g, err));
        assert_string_equal(g->tier, "enterprise");
        assert_int_equal(g->jobs_per_month, 1000);
        vx_org_rec_free(g);
    }
    OK(vx_store_org_list(f->s, &orgs, &n, err));
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        vx_org_rec_free(orgs[i]);
    free(orgs);

    OK(vx_store_apikey_create(f->s, o->id, "ci", "vx_abc123", "h1", &kid, err));
    OK(vx_store_apikey_create(f->s, "org-a", "dev", "vx_def456", "h2", &kid2, err));
    FAILS(VX_E_CONFLICT, vx_store_apikey_create(f->s, o->id, "dup", "vx_zzz", "h1", NULL, err));
    FAILS(VX_E_NOT_FOUND, vx_store_apikey_create(f->s, "org-none", "x", "vx_y", "h3", NULL, err));

    OK(vx_store_apikey_lookup(f->s, "h1", &k, err));
    assert_string_equal(k->id, kid);
    assert_string_equal(k->org_id, o->id);
    assert_string_equal(k->prefix, "vx_abc123");
    assert_false(k->revoked);
    assert_true(k->last_used_at > 0);
    used_at = k->last_used_at;
    vx_apikey_rec_free(k);
    usleep(5000);
    /* within the minute: no write, the stored time stays */
    OK(vx_store_apikey_lookup(f->s, "h1", &k, err));
    assert_int_equal(k->last_used_at, used_at);
    vx_apikey_rec_free(k);
    FAILS(VX_E_NOT_FOUND, vx_store_apikey_lookup(f->s, "nope", &k, err));

    OK(vx_store_apikey_list(f->s, o->id, &keys, &n, err));
    assert_int_equal(n, 1);
    vx_apikey_rec_free(keys[0]);
    free(keys);
    OK(vx_store_apikey_list(f->s, NULL, &keys, &n, err));
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        vx_apikey_rec_free(keys[i]);
    free(keys);

    OK(vx_store_apikey_revoke(f->s, "vx_abc123", err));
    OK(vx_store_apikey_lookup(f->s, "h1", &k, err));
    assert_true(k->revoked);
    vx_apikey_rec_free(k);
    OK(vx_store_apikey_revoke(f->s, kid2, err));
    FAILS(VX_E_NOT_FOUND, vx_store_apikey_revoke(f->s, "vx_nothing", err));
    vx_org_rec_free(o);
    free(kid);
    free(kid2);
}

static void test_webhooks(void **state)
{
    struct fx *f = *state;
    struct jspec js = {.callback = "http://127.0.0.1:9/hook"};
    struct vx_job_update upd = VX_JOB_UPDATE_INIT;
    struct vx_webhook_rec *w = NULL, **list = NULL;
    char *id = submit(f, &js), *plain = submit_simple(f, "org-a", 0), *q;
    json_t *body;
    int64_t now;
    size_t n = 0;

    claim_expect(f, "w1", 60000, id);
    OK(vx_store_job_transition(f->s, id, "w1", VX_JOB_RUNNING, VX_JOB_ANALYZING, NULL, 0, err));
    OK(vx_store_webhook_list(f->s, id, &list, &n, err));
    assert_int_equal(n, 0); /* not terminal yet */
    free(list);
    upd.results_json = "{\"summary\":{\"affected\":1,\"not_affected\":7},\"x\":[]}";
    OK(vx_store_job_transition(f->s, id, "w1", VX_JOB_ANALYZING, VX_JOB_COMPLETE, &upd, 0, err));
    OK(vx_store_webhook_list(f->s, id, &list, &n, err));
    assert_int_equal(n, 1);
    assert_string_equal(list[0]->status, "pending");
    assert_string_equal(list[0]->url, "http://127.0.0.1:9/hook");
    assert_int_equal(list[0]->attempts, 0);
    body = json_loads(list[0]->payload, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "event")), "job.complete");
    assert_string_equal(json_string_value(json_object_get(body, "job_id")), id);
    assert_string_equal(json_string_value(json_object_get(body, "status")), "complete");
    assert_string_equal(json_string_value(json_object_get(body, "image_ref")), "nginx:latest");
    assert_string_equal(json_string_value(json_object_get(body, "image_digest")), DIGEST);
    assert_int_equal(strlen(json_string_value(json_object_get(body, "completed_at"))), 24);
    assert_true(json_is_null(json_object_get(body, "error_message")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(body, "summary"), "not_affected")), 7);
    json_decref(body);
    vx_webhook_rec_free(list[0]);
    free(list);

    /* a job without a callback gets none */
    claim_expect(f, "w1", 60000, plain);
    OK(vx_store_job_transition(f->s, plain, "w1", VX_JOB_RUNNING, VX_JOB_FAILED, NULL, 0, err));
    OK(vx_store_webhook_list(f->s, plain, &list, &n, err));
    assert_int_equal(n, 0);
    free(list);

    /* claim leases it: a second claim finds nothing until the lease passes */
    now = vx_now_ms();
    OK(vx_store_webhook_claim(f->s, now, 30000, &w, err));
    assert_non_null(w);
    assert_string_equal(w->job_id, id);
    assert_int_equal(w->next_attempt_at, now + 30000);
    {
        struct vx_webhook_rec *none = NULL;

        OK(vx_store_webhook_claim(f->s, now, 30000, &none, err));
        assert_null(none);
        OK(vx_store_webhook_claim(f->s, now + 30000, 1000, &none, err));
        assert_non_null(none);
        vx_webhook_rec_free(none);
    }
    OK(vx_store_webhook_result(f->s, w->id, false, 503, "service unavailable", now + 5000, err));
    OK(vx_store_webhook_list(f->s, id, &list, &n, err));
    assert_string_equal(list[0]->status, "pending");
    assert_int_equal(list[0]->attempts, 1);
    assert_int_equal(list[0]->last_http_status, 503);
    assert_string_equal(list[0]->last_error, "service unavailable");
    assert_int_equal(list[0]->next_attempt_at, now + 5000);
    vx_webhook_rec_free(list[0]);
    free(list);
    OK(vx_store_webhook_result(f->s, w->id, true, 200, NULL, 0, err));
    OK(vx_store_webhook_list(f->s, id, &list, &n, err));
    assert_string_equal(list[0]->status, "delivered");
    assert_int_equal(list[0]->attempts, 2);
    vx_webhook_rec_free(list[0]);
    free(list);
    {
        struct vx_webhook_rec *none = NULL;

        OK(vx_store_webhook_claim(f->s, now + 1000000, 1000, &none, err));
        assert_null(none); /* delivered is never claimed again */
    }
    FAILS(VX_E_NOT_FOUND, vx_store_webhook_result(f->s, "nope", true, 200, NULL, 0, err));
    vx_webhook_rec_free(w);

    /* cancelling a queued job is terminal too; direct enqueue; failure for good */
    q = submit(f, &js);
    {
        struct vx_job_rec *j = NULL;

        OK(vx_store_job_cancel(f->s, "org-a", q, &j, err));
        vx_job_rec_free(j);
    }
    OK(vx_store_webhook_enqueue(f->s, q, "http://127.0.0.1:9/other", "{}", err));
    OK(vx_store_webhook_list(f->s, q, &list, &n, err));
    assert_int_equal(n, 2);
    /* both rows may share a millisecond: tell them apart by url */
    {
        int hook = strcmp(list[0]->url, "http://127.0.0.1:9/hook") == 0 ? 0 : 1;

        assert_non_null(strstr(list[hook]->payload, "\"event\":\"job.cancelled\""));
        OK(vx_store_webhook_result(f->s, list[1 - hook]->id, false, 0, "connection refused", 0,
                                   err));
    }
    for (size_t i = 0; i < n; i++)
        vx_webhook_rec_free(list[i]);
    free(list);
    OK(vx_store_webhook_list(f->s, q, &list, &n, err));
    assert_int_equal(n, 2);
    assert_string_equal(strcmp(list[0]->status, "failed") == 0 ? list[0]->url : list[1]->url,
                        "http://127.0.0.1:9/other");
    for (size_t i = 0; i < n; i++)
        vx_webhook_rec_free(list[i]);
    free(list);
    free(id);
    free(plain);
    free(q);
}

static void test_workers(void **state)
{
    struct fx *f = *state;
    int busy = -1, slots = -1, workers = -1;

    OK(vx_store_worker_beat(f->s, "w1", "host-1", 1, 4, err));
    OK(vx_store_worker_beat(f->s, "w2", "host-2", 2, 4, err));
    OK(vx_store_worker_stats(f->s, 60000, &busy, &slots, &workers, err));
    assert_int_equal(busy, 3);
    assert_int_equal(slots, 8);
    assert_int_equal(workers, 2);
    OK(vx_store_worker_beat(f->s, "w1", "host-1", 0, 4, err));
    OK(vx_store_worker_stats(f->s, 60000, &busy, &slots, &workers, err));
    assert_int_equal(busy, 2);
    OK(vx_store_worker_remove(f->s, "w2", err));
    OK(vx_store_worker_stats(f->s, 60000, &busy, &slots, &workers, err));
    assert_int_equal(workers, 1);
    assert_int_equal(slots, 4);
    usleep(20000);
    OK(vx_store_worker_stats(f->s, 5, &busy, &slots, &workers, err));
    assert_int_equal(workers, 0);
    assert_int_equal(busy, 0);
}

/* ---- concurrency --------------------------------------------------------------------- */

#define CC_JOBS    200
#define CC_THREADS 4

struct claimer {
    struct vx_store *s;
    pthread_barrier_t *go;
    char name[16];
    char *ids[CC_JOBS];
    int n;
    int errors;
};

static void *claim_loop(void *arg)
{
    struct claimer *c = arg;

    pthread_barrier_wait(c->go);
    for (;;) {
        struct vx_job_rec *j = NULL;
        struct vx_err *err = NULL;

        if (vx_store_job_claim(c->s, c->name, 60000, &j, &err) < 0) {
            fprintf(stderr, "%s: %s\n", c->name, err->msg);
            vx_err_free(&err);
            if (++c->errors > 50)
                break;
            continue;
        }
        if (!j)
            break;
        if (c->n < CC_JOBS)
            c->ids[c->n++] = vx_xstrdup(j->id);
        vx_job_rec_free(j);
    }
    return NULL;
}

static void test_concurrent_claims(void **state)
{
    struct fx *f = *state;
    struct claimer c[CC_THREADS];
    pthread_t t[CC_THREADS];
    pthread_barrier_t go;
    char *all[CC_JOBS];
    int total = 0;
    int64_t counts[VX_JOB_STATE_COUNT];

    for (int i = 0; i < CC_JOBS; i++)
        free(submit_simple(f, i % 2 ? "org-a" : "org-b", i % 3));
    memset(c, 0, sizeof(c));
    pthread_barrier_init(&go, NULL, CC_THREADS);
    for (int i = 0; i < CC_THREADS; i++) {
        c[i].s = f->s;
        c[i].go = &go;
        snprintf(c[i].name, sizeof(c[i].name), "w%d", i);
        assert_int_equal(pthread_create(&t[i], NULL, claim_loop, &c[i]), 0);
    }
    for (int i = 0; i < CC_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < CC_THREADS; i++) {
        assert_int_equal(c[i].errors, 0);
        for (int k = 0; k < c[i].n; k++) {
            assert_true(total < CC_JOBS);
            all[total++] = c[i].ids[k];
        }
    }
    assert_int_equal(total, CC_JOBS);
    qsort(all, (size_t)total, sizeof(all[0]), cmp_str);
    for (int i = 1; i < total; i++)
        assert_string_not_equal(all[i - 1], all[i]);
    OK(vx_store_job_counts(f->s, counts, err));
    assert_int_equal(counts[VX_JOB_RUNNING], CC_JOBS);
    assert_int_equal(counts[VX_JOB_QUEUED], 0);
    for (int i = 0; i < total; i++)
        free(all[i]);
    fprintf(stderr, "# claims per thread: %d %d %d %d\n", c[0].n, c[1].n, c[2].n, c[3].n);
}

struct submitter {
    struct fx *f;
    int created, quota, other;
};

static void *submit_loop(void *arg)
{
    struct submitter *sb = arg;
    struct jspec js = {.org = "org-c"};

    for (int i = 0; i < 20; i++) {
        struct vx_job_rec *out = NULL;
        enum vx_submit_outcome oc;
        struct vx_err *err = NULL;
        int rc = submit_spec(sb->f, &js, &out, &oc, &err);

        if (rc == 0)
            sb->created++;
        else if (rc == -VX_E_QUOTA)
            sb->quota++;
        else
            sb->other++;
        if (rc < 0 && rc != -VX_E_QUOTA)
            fprintf(stderr, "submit: %s\n", err->msg);
        vx_err_free(&err);
        vx_job_rec_free(out);
    }
    return NULL;
}

/* 4 threads x 20 submits against a limit of 50: exactly 50 get in. */
static void test_concurrent_quota(void **state)
{
    struct fx *f = *state;
    struct submitter sb[4];
    pthread_t t[4];
    int created = 0, quota = 0, other = 0;
    int64_t limit, used;
    char month[8];

    OK(vx_store_org_create(f->s, "org-c", "org-c", "free", 50, NULL, err));
    memset(sb, 0, sizeof(sb));
    for (int i = 0; i < 4; i++) {
        sb[i].f = f;
        assert_int_equal(pthread_create(&t[i], NULL, submit_loop, &sb[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        created += sb[i].created;
        quota += sb[i].quota;
        other += sb[i].other;
    }
    assert_int_equal(other, 0);
    assert_int_equal(created, 50);
    assert_int_equal(quota, 30);
    OK(vx_store_quota_get(f->s, "org-c", vx_time_month(vx_now_ms(), month, sizeof(month)), &limit,
                          &used, err));
    assert_int_equal(used, 50);
}

/* Not a pass/fail benchmark: prints the rate of single-row status reads, one thread and
 * two, for the report; asserts only that every read succeeded. */
#define SPEED_GETS 10000

struct getter {
    struct vx_store *s;
    const char *id;
    int fails;
};

static void *get_loop(void *arg)
{
    struct getter *g = arg;

    for (int i = 0; i < SPEED_GETS; i++) {
        struct vx_job_rec *j = NULL;
        struct vx_err *err = NULL;

        if (vx_store_job_get(g->s, "org-a", g->id, &j, &err) < 0) {
            g->fails++;
            vx_err_free(&err);
        }
        vx_job_rec_free(j);
    }
    return NULL;
}

static void test_get_speed(void **state)
{
    struct fx *f = *state;
    char *id = submit_simple(f, "org-a", 0);
    struct getter g[2] = {{f->s, id, 0}, {f->s, id, 0}};
    pthread_t t[2];
    int64_t t0, t1, t2;

    for (int i = 0; i < 50; i++)
        free(submit_simple(f, "org-a", 0));
    t0 = vx_mono_ms();
    get_loop(&g[0]);
    t1 = vx_mono_ms();
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, get_loop, &g[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    t2 = vx_mono_ms();
    assert_int_equal(g[0].fails + g[1].fails, 0);
    fprintf(stderr,
            "# %s: %d gets in %" PRId64 " ms on 1 thread (%.0f/s); %d in %" PRId64
            " ms on 2 threads (%.0f/s)\n",
            vx_store_backend(f->s), SPEED_GETS, t1 - t0,
            SPEED_GETS * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1), 2 * SPEED_GETS, t2 - t1,
            2 * SPEED_GETS * 1000.0 / (double)(t2 - t1 > 0 ? t2 - t1 : 1));
    free(id);
}

/* ---- main ---------------------------------------------------------------------------- */

static char *read_url(const char *path)
{
    char line[512];
    FILE *fp = fopen(path, "r");
    size_t len;

    if (!fp)
        return NULL;
    if (!fgets(line, sizeof(line), fp)) {
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
        line[--len] = '\0';
    return len ? vx_xstrdup(line) : NULL;
}

#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, &cfg)

int main(int argc, char **argv)
{
    struct cfg cfg = {0};
    int rc;

    if (argc > 1 && strcmp(argv[1], "pg") == 0) {
        const char *file = getenv("VEXXY_TEST_PG_URL_FILE");
        const char *ci = getenv("CI");

        cfg.pg = true;
        cfg.pg_url = file ? read_url(file) : NULL;
        if (!cfg.pg_url) {
            if (ci && strcmp(ci, "true") == 0) {
                fprintf(stderr, "test_store pg: no PostgreSQL URL in '%s' (CI must not skip)\n",
                        file ? file : "$VEXXY_TEST_PG_URL_FILE");
                return 1;
            }
            fprintf(stderr, "test_store pg: skipped, no PostgreSQL URL file\n");
            return 77;
        }
    }

    const struct CMUnitTest tests[] = {
        T(test_migrations_idempotent),
        T(test_migrations_concurrent),
        T(test_submit_get),
        T(test_idempotency),
        T(test_cache),
        T(test_quota),
        T(test_list_pagination),
        T(test_claim_order),
        T(test_not_before),
        T(test_heartbeat_lease),
        T(test_transitions),
        T(test_cancel),
        T(test_reap),
        T(test_reap_fails_at_max),
        T(test_counts),
        T(test_evidence),
        T(test_orgs_and_keys),
        T(test_webhooks),
        T(test_workers),
        T(test_concurrent_claims),
        T(test_concurrent_quota),
        T(test_get_speed),
    };
    rc = cmocka_run_group_tests_name(cfg.pg ? "store_pg" : "store_sqlite", tests, NULL, NULL);
    free(cfg.pg_url);
    return rc;
}
