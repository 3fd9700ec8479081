/* store.h -- durable state of the service: jobs (and the queue inside them), evidence,
 * organizations, API keys, quota usage, webhook deliveries and live workers.
 *
 * One interface, two backends chosen by URL: "sqlite:PATH" (embedded default, WAL, one
 * file) and "postgres://..." / "postgresql://..." (libpq). Same schema and behaviour;
 * versioned migrations are applied by vx_store_open().
 *
 * Thread safety: a struct vx_store may be used from any number of threads at once (it
 * keeps a pool of connections). Timestamps are milliseconds since the epoch (0 = unset).
 * JSON columns are passed as serialized text.
 */
#ifndef VX_STORE_STORE_H
#define VX_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vx_err;
struct vx_store;

enum vx_job_state {
#define VX_JOB_STATE(e, s, t) VX_JOB_##e,
#include "store/states.def"
#undef VX_JOB_STATE
    VX_JOB_STATE_COUNT
};

/* "queued", ...; NULL for an out-of-range value. */
const char *vx_job_state_str(enum vx_job_state s);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int vx_job_state_parse(const char *s, enum vx_job_state *out);
bool vx_job_state_terminal(enum vx_job_state s);
/* The state machine: queued->running|cancelled|failed, running->analyzing|complete|failed|
 * cancelled|queued (lease lost / retry), analyzing->complete|failed|cancelled|queued. */
bool vx_job_transition_ok(enum vx_job_state from, enum vx_job_state to);

struct vx_store_opts {
    int pool_size;       /* connections kept open; 0 = default (8) */
    int busy_timeout_ms; /* SQLite busy timeout; 0 = default (5000) */
};

/* Opens (creating if needed) and migrates. Caller owns *out; close with vx_store_close(). */
int vx_store_open(const char *url, const struct vx_store_opts *opts, struct vx_store **out,
                  struct vx_err **err);
void vx_store_close(struct vx_store *s); /* NULL is a no-op */
/* "sqlite" or "postgres". Borrowed, static. */
const char *vx_store_backend(const struct vx_store *s);
/* Schema version after migrations. */
int vx_store_schema_version(const struct vx_store *s);
/* Cheap round trip, for /health and /ready. */
int vx_store_ping(struct vx_store *s, struct vx_err **err);

/* ---- jobs ---------------------------------------------------------------------------- */

/* A job row. Every string is owned by the record (free with vx_job_rec_free). Columns not
 * fetched by a call are NULL/0 (e.g. findings_json is only loaded by
 * vx_store_job_get_findings). */
struct vx_job_rec {
    char *id; /* UUID */
    char *org_id;
    char *image_ref;
    char *image_digest; /* sha256:<64 hex> */
    char *sbom_id;      /* UUID or NULL */
    char *profile;      /* minimal|standard|comprehensive|custom */
    enum vx_job_state state;
    int priority;          /* higher runs first; 0 default */
    char *config_json;     /* normalized analysis config */
    char *findings_url;    /* or NULL */
    char *callback_url;    /* or NULL */
    char *idempotency_key; /* or NULL */
    char *cache_key;       /* sha256 hex of (digest, findings hash, config hash, profile) */
    int progress_percent;
    char *current_phase; /* or NULL */
    char *results_json;  /* set when complete, else NULL */
    char *error_message; /* set when failed, else NULL */
    char *sandbox_id;    /* or NULL */
    char *worker_id;     /* holder of the lease, or NULL */
    int64_t lease_expires_at;
    int64_t not_before; /* earliest time a retry may be claimed */
    int retry_count;
    int max_retries;
    bool cancel_requested;
    double cost_credits;
    int64_t billed_at;
    int64_t created_at, updated_at, started_at, completed_at;
};

void vx_job_rec_free(struct vx_job_rec *j); /* NULL is a no-op */
void vx_job_rec_array_free(struct vx_job_rec **a, size_t n);

enum vx_submit_outcome {
    VX_SUBMIT_CREATED,    /* a new queued job */
    VX_SUBMIT_IDEMPOTENT, /* same org + idempotency key: the earlier job */
    VX_SUBMIT_CACHED,     /* same org + cache_key already complete and !force: that job */
};

/* Inserts 'job' (id, org_id, image fields, config, cache_key, ... filled by the caller;
 * state is forced to queued, created_at to now) with findings_json, in one transaction:
 *  1. if job->idempotency_key is set and (org, key) exists: *out = that job, IDEMPOTENT;
 *  2. if !force and a complete job of the org has the same cache_key: *out = it, CACHED;
 *  3. quota: month usage of the org + 1 must not pass its jobs_per_month limit, else
 *     -VX_E_QUOTA (nothing written); on success usage is incremented;
 *  4. insert; *out = the stored row, CREATED.
 * Caller owns *out. */
int vx_store_job_submit(struct vx_store *s, const struct vx_job_rec *job, const char *findings_json,
                        bool force, struct vx_job_rec **out, enum vx_submit_outcome *outcome,
                        struct vx_err **err);

/* org_id NULL = any organization (workers, admin). -VX_E_NOT_FOUND when absent or owned
 * by another organization. Caller owns *out. Does not load findings. */
int vx_store_job_get(struct vx_store *s, const char *org_id, const char *id,
                     struct vx_job_rec **out, struct vx_err **err);
/* The stored findings text of a job (caller frees), or NULL in *out if none. */
int vx_store_job_get_findings(struct vx_store *s, const char *id, char **out, struct vx_err **err);

struct vx_job_filter {
    const char *org_id; /* required unless NULL = all (admin) */
    int has_state;
    enum vx_job_state state;
    const char *image_digest; /* or NULL */
    int limit;                /* 1..100 */
    const char *cursor;       /* opaque, from a previous page, or NULL */
};
/* Newest first (created_at desc, id desc). *next_cursor is a new string (caller frees) or
 * NULL on the last page. -VX_E_INVALID for a malformed cursor (field "cursor"). */
int vx_store_job_list(struct vx_store *s, const struct vx_job_filter *f, struct vx_job_rec ***out,
                      size_t *n, char **next_cursor, struct vx_err **err);

/* Claims the highest-priority oldest queued job whose not_before has passed, in one
 * transaction (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE): state
 * queued->running, worker_id, lease_expires_at = now + lease_ms, started_at = now.
 * *out = NULL (and 0) when nothing is claimable. Caller owns *out. */
int vx_store_job_claim(struct vx_store *s, const char *worker_id, int64_t lease_ms,
                       struct vx_job_rec **out, struct vx_err **err);
/* Extends the lease of a job the worker holds; reports whether cancel was requested.
 * -VX_E_LEASE_LOST when the job is no longer held by worker_id in a non-terminal state. */
int vx_store_job_heartbeat(struct vx_store *s, const char *id, const char *worker_id,
                           int64_t lease_ms, bool *cancel_requested, struct vx_err **err);
/* Progress of a held job. -VX_E_LEASE_LOST as above. */
int vx_store_job_progress(struct vx_store *s, const char *id, const char *worker_id, int percent,
                          const char *phase, struct vx_err **err);

/* Fields written together with a state change; NULL/negative = leave unchanged. */
struct vx_job_update {
    const char *results_json;
    const char *error_message;
    const char *sandbox_id;
    int progress_percent; /* -1 = unchanged */
    const char *current_phase;
    double cost_credits; /* < 0 = unchanged */
};
#define VX_JOB_UPDATE_INIT                                                                         \
    {                                                                                              \
        NULL, NULL, NULL, -1, NULL, -1.0                                                           \
    }

/* The one primitive that changes a job's state: compare-and-set from 'from' to 'to'
 * (validated with vx_job_transition_ok), only while worker_id holds it (worker_id NULL =
 * no lease check, for the API/admin). Sets completed_at on a terminal state and clears the
 * lease; on to == queued increments retry_count, clears the lease and sets not_before =
 * now + backoff_ms. Enqueues the job's webhook delivery (if callback_url) in the same
 * transaction when 'to' is terminal. -VX_E_CONFLICT when the job was not in 'from' (or
 * not held): nothing written. */
int vx_store_job_transition(struct vx_store *s, const char *id, const char *worker_id,
                            enum vx_job_state from, enum vx_job_state to,
                            const struct vx_job_update *upd, int64_t backoff_ms,
                            struct vx_err **err);

/* Cancel on behalf of org (NULL = any): queued -> cancelled at once; running/analyzing ->
 * cancel_requested = true (the holding worker ends it as cancelled); terminal ->
 * -VX_E_CONFLICT. Caller owns *out (the row after the change). */
int vx_store_job_cancel(struct vx_store *s, const char *org_id, const char *id,
                        struct vx_job_rec **out, struct vx_err **err);

/* Returns running/analyzing jobs whose lease expired before 'now' to queued with
 * retry_count + 1 and not_before = now + backoff_ms * 2^retry_count; those already at
 * max_retries become failed ("worker lost: lease expired N times"). Counts are optional. */
int vx_store_job_reap(struct vx_store *s, int64_t now, int64_t backoff_ms, int *requeued,
                      int *failed, struct vx_err **err);

/* Number of jobs in each state (index = enum vx_job_state), across organizations. */
int vx_store_job_counts(struct vx_store *s, int64_t counts[VX_JOB_STATE_COUNT],
                        struct vx_err **err);

/* ---- evidence ------------------------------------------------------------------------ */

struct vx_evidence_rec {
    char *id; /* UUID */
    char *job_id;
    char *type;         /* "openvex", "cyclonedx", "csaf", "evidence", "log", ... */
    char *media_type;   /* "application/json" */
    char *data;         /* inline content or NULL */
    char *storage_path; /* path under the data dir when not inline, or NULL */
    int64_t size;
    int64_t created_at;
};
void vx_evidence_rec_free(struct vx_evidence_rec *e);

/* Stores one document for a job. *id_out (optional) is a new string the caller frees. */
int vx_store_evidence_put(struct vx_store *s, const char *job_id, const char *type,
                          const char *media_type, const char *data, size_t len,
                          const char *storage_path, char **id_out, struct vx_err **err);
/* By evidence id, restricted to org (NULL = any) through the job. -VX_E_NOT_FOUND. */
int vx_store_evidence_get(struct vx_store *s, const char *org_id, const char *id,
                          struct vx_evidence_rec **out, struct vx_err **err);
/* All evidence of a job (metadata and data). Caller frees each and the array. */
int vx_store_evidence_list(struct vx_store *s, const char *job_id, struct vx_evidence_rec ***out,
                           size_t *n, struct vx_err **err);
/* Deletes evidence created before 'before'; *deleted optional. */
int vx_store_evidence_purge(struct vx_store *s, int64_t before, int *deleted, struct vx_err **err);

/* ---- organizations, API keys, quotas ------------------------------------------------- */

struct vx_org_rec {
    char *id; /* UUID, or a caller-chosen id (JWT "org" claim) */
    char *name;
    char *tier;             /* "free", "pro", "enterprise", ... */
    int64_t jobs_per_month; /* -1 = unlimited */
    int64_t created_at;
};
void vx_org_rec_free(struct vx_org_rec *o);

/* Creates an organization. id NULL = a new UUID. -VX_E_CONFLICT if the id or name exists.
 * Caller owns *out (optional). */
int vx_store_org_create(struct vx_store *s, const char *id, const char *name, const char *tier,
                        int64_t jobs_per_month, struct vx_org_rec **out, struct vx_err **err);
/* Like create, but returns the existing row when the id exists (JWT orgs appear on first
 * use). */
int vx_store_org_ensure(struct vx_store *s, const char *id, const char *tier,
                        int64_t jobs_per_month, struct vx_org_rec **out, struct vx_err **err);
/* By id or by name. -VX_E_NOT_FOUND. */
int vx_store_org_get(struct vx_store *s, const char *id_or_name, struct vx_org_rec **out,
                     struct vx_err **err);
int vx_store_org_list(struct vx_store *s, struct vx_org_rec ***out, size_t *n, struct vx_err **err);
/* Sets the monthly job limit (-1 = unlimited). -VX_E_NOT_FOUND. */
int vx_store_quota_set(struct vx_store *s, const char *org_id, int64_t jobs_per_month,
                       struct vx_err **err);
/* Limit and usage of 'month' ("YYYY-MM"). */
int vx_store_quota_get(struct vx_store *s, const char *org_id, const char *month, int64_t *limit,
                       int64_t *used, struct vx_err **err);

struct vx_apikey_rec {
    char *id; /* UUID */
    char *org_id;
    char *name;
    char *prefix; /* the first characters of the token, shown in listings */
    char *hash;   /* sha256 hex of the whole token */
    bool revoked;
    int64_t created_at;
    int64_t last_used_at;
};
void vx_apikey_rec_free(struct vx_apikey_rec *k);

int vx_store_apikey_create(struct vx_store *s, const char *org_id, const char *name,
                           const char *prefix, const char *hash, char **id_out,
                           struct vx_err **err);
/* By hash; -VX_E_NOT_FOUND when unknown (revoked keys are returned with revoked = true). */
int vx_store_apikey_lookup(struct vx_store *s, const char *hash, struct vx_apikey_rec **out,
                           struct vx_err **err);
/* By id or prefix. -VX_E_NOT_FOUND. */
int vx_store_apikey_revoke(struct vx_store *s, const char *id_or_prefix, struct vx_err **err);
/* org_id NULL = all. */
int vx_store_apikey_list(struct vx_store *s, const char *org_id, struct vx_apikey_rec ***out,
                         size_t *n, struct vx_err **err);

/* ---- webhook deliveries -------------------------------------------------------------- */

struct vx_webhook_rec {
    char *id;
    char *job_id;
    char *url;
    char *payload; /* JSON body to POST */
    int attempts;
    int64_t next_attempt_at;
    char *status; /* "pending", "delivered", "failed" */
    int last_http_status;
    char *last_error;
};
void vx_webhook_rec_free(struct vx_webhook_rec *w);

/* Enqueue a delivery directly (vx_store_job_transition does this for terminal states). */
int vx_store_webhook_enqueue(struct vx_store *s, const char *job_id, const char *url,
                             const char *payload, struct vx_err **err);
/* Claims one pending delivery due at 'now' by pushing its next_attempt_at to now + lease_ms
 * (so two senders never send it at once). *out NULL when none. */
int vx_store_webhook_claim(struct vx_store *s, int64_t now, int64_t lease_ms,
                           struct vx_webhook_rec **out, struct vx_err **err);
/* Records an attempt: delivered, or pending again at next_attempt_at, or failed for good
 * when next_attempt_at is 0. */
int vx_store_webhook_result(struct vx_store *s, const char *id, bool delivered, int http_status,
                            const char *error, int64_t next_attempt_at, struct vx_err **err);
int vx_store_webhook_list(struct vx_store *s, const char *job_id, struct vx_webhook_rec ***out,
                          size_t *n, struct vx_err **err);

/* ---- workers ------------------------------------------------------------------------- */

/* Upserts the live-worker row (id, host, busy and total slots, last_seen = now). */
int vx_store_worker_beat(struct vx_store *s, const char *worker_id, const char *host, int busy,
                         int slots, struct vx_err **err);
int vx_store_worker_remove(struct vx_store *s, const char *worker_id, struct vx_err **err);
/* Sums busy and total slots of workers seen within max_age_ms. */
int vx_store_worker_stats(struct vx_store *s, int64_t max_age_ms, int *busy, int *slots,
                          int *workers, struct vx_err **err);

#endif
