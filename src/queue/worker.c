/* worker.c -- worker threads that claim jobs from the store and run the pipeline.
 *
 * DESIGN
 * Each slot is a thread: claim (store transaction with a lease) -> run the phases ->
 * finish, always (STYLE.md R16: run cannot fail, its outcome is written as the job's
 * state). One heartbeat thread per process renews the lease of every held job and reads
 * the job's cancel_requested flag, so a DELETE reaches a running job within one heartbeat;
 * it also refreshes this process's row in the workers table (metrics). One reaper thread
 * returns jobs whose lease expired (a killed worker) to the queue, with a retry limit, and
 * purges old evidence. Lease loss (the reaper gave our job to someone else) makes the
 * slot drop the job without writing anything: the store's compare-and-set guarantees a
 * job is finished exactly once.
 *
 * Locking: w->mu guards 'stopping' and every slot's job fields; the store is thread-safe.
 */
#include "common/setup.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "queue/queue.h"
#include "sandbox/sandbox.h" /* the reaper of crashed runs at start */
#include "trace/trace.h"     /* one tracer engine per process */
#include "common/alloc.h"    /* for vx_xcalloc() */
#include "common/err.h"
#include "common/log.h"
#include "common/util.h" /* for vx_now_ms() */

struct slot {
    struct vx_workers *w;
    pthread_t thread;
    bool started;
    char id[192];
    /* guarded by w->mu */
    char job_id[40];
    bool cancel_seen;
    bool lease_lost;
};

struct vx_workers {
    struct vx_workers_config cfg;
    char *prefix;
    char *data_dir;
    char *allowed_registries, *insecure_registries, *platform, *docker_config;
    char host[128];
    struct vx_store *store;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    _Atomic int busy;
    int nslots;
    struct slot *slots;
    pthread_t heartbeat, reaper;
    bool heartbeat_started, reaper_started;
    struct vx_trace_engine *engine; /* loaded once for every job of this process */
};

enum outcome { OUT_DONE, OUT_CANCELLED, OUT_SHUTDOWN, OUT_LEASE_LOST };

static bool is_transient(enum vx_code code)
{
    return code == VX_E_NETWORK || code == VX_E_TIMEOUT || code == VX_E_STORE ||
           code == VX_E_UNAVAILABLE || code == VX_E_IO;
}

/* Waits up to ms on the condvar; returns true if stopping. Caller does not hold mu. */
static bool wait_ms(struct vx_workers *w, int64_t ms)
{
    struct timespec ts;
    bool stopping;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    if (!w->stopping)
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    stopping = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return stopping;
}

static enum outcome slot_check(struct slot *sl)
{
    enum outcome o = OUT_DONE;

    pthread_mutex_lock(&sl->w->mu);
    if (sl->lease_lost)
        o = OUT_LEASE_LOST;
    else if (sl->cancel_seen)
        o = OUT_CANCELLED;
    else if (sl->w->stopping)
        o = OUT_SHUTDOWN;
    pthread_mutex_unlock(&sl->w->mu);
    return o;
}

static bool on_should_stop(const struct vx_phase_ctx *ctx)
{
    return slot_check(ctx->priv) != OUT_DONE;
}

/* The testing knob: hold the phase for debug_phase_delay_ms, waking for stop/cancel. */
static void debug_delay(struct slot *sl)
{
    int64_t end = vx_mono_ms() + sl->w->cfg.debug_phase_delay_ms;

    while (vx_mono_ms() < end && slot_check(sl) == OUT_DONE) {
        int64_t left = end - vx_mono_ms();
        wait_ms(sl->w, left < 100 ? left : 100);
    }
}

static void finish(struct slot *sl, const struct vx_job_rec *job, enum vx_job_state cur,
                   enum vx_job_state to, const char *msg, const char *results, int64_t backoff_ms)
{
    struct vx_job_update upd = VX_JOB_UPDATE_INIT;
    struct vx_err *err = NULL;

    upd.error_message = msg;
    upd.results_json = results;
    if (vx_job_set_state(sl->w->store, job->id, sl->id, cur, to, &upd, backoff_ms, &err) < 0) {
        /* a conflict here means the lease moved on (reaper) or the job was cancelled while
         * queued by an admin: the store already holds the truth, so nothing is lost */
        vx_warn("%s: %s", sl->id, err->msg);
        vx_err_free(&err);
    }
}

/* Runs every phase of one claimed job and writes its final state. Cannot fail. */
static void run_job(struct slot *sl, const struct vx_job_rec *job)
{
    struct vx_workers *w = sl->w;
    struct vx_phase_ctx ctx = {0};
    struct vx_pipeline_state st = {0};
    enum vx_job_state cur = VX_JOB_RUNNING;
    const struct vx_phase *phases;
    struct vx_err *err = NULL;
    enum outcome o = OUT_DONE;
    size_t n;
    int rc;

    ctx.store = w->store;
    ctx.job = job;
    ctx.worker_id = sl->id;
    ctx.data_dir = w->data_dir;
    ctx.should_stop = on_should_stop;
    ctx.priv = sl;
    ctx.cfg = &w->cfg.pipeline;
    ctx.state = &st;
    phases = vx_pipeline_phases(&n);
    for (size_t i = 0; i < n; i++) {
        const struct vx_phase *ph = &phases[i];

        if (ph->analyzing && cur == VX_JOB_RUNNING) {
            rc = vx_job_set_state(w->store, job->id, sl->id, cur, VX_JOB_ANALYZING, NULL, 0, &err);
            if (rc < 0) {
                if (rc == -VX_E_CONFLICT)
                    o = OUT_LEASE_LOST;
                break;
            }
            cur = VX_JOB_ANALYZING;
        }
        rc = vx_store_job_progress(w->store, job->id, sl->id, i ? phases[i - 1].progress_end : 0,
                                   ph->name, &err);
        if (rc < 0) {
            /* a store error (not a lost lease) is transient: the job is retried */
            if (rc == -VX_E_LEASE_LOST)
                o = OUT_LEASE_LOST;
            break;
        }
        if (w->cfg.debug_phase_delay_ms > 0)
            debug_delay(sl);
        o = slot_check(sl);
        if (o != OUT_DONE)
            break;
        if (ph->run(&ctx, &err) < 0) {
            /* a phase that stopped for a cancel or a shutdown fails: that is not the job's
             * failure */
            o = slot_check(sl);
            break;
        }
        o = slot_check(sl);
        if (o != OUT_DONE)
            break;
    }
    if (o == OUT_DONE && !err)
        o = slot_check(sl);
    switch (o) {
    case OUT_LEASE_LOST:
        vx_warn("%s: job %s: lease lost, leaving it to its new holder%s%s", sl->id, job->id,
                err ? ": " : "", err ? err->msg : "");
        break;
    case OUT_CANCELLED:
        finish(sl, job, cur, VX_JOB_CANCELLED, "cancelled by request", NULL, 0);
        break;
    case OUT_SHUTDOWN:
        finish(sl, job, cur, VX_JOB_QUEUED, "worker shut down; job returned to the queue", NULL, 0);
        break;
    case OUT_DONE:
        if (!err) {
            /* every phase ran: the vex phase has stored the results */
            finish(sl, job, cur, VX_JOB_COMPLETE, NULL, st.results_json, 0);
        } else if (is_transient(err->code) && job->retry_count < job->max_retries) {
            finish(sl, job, cur, VX_JOB_QUEUED, err->msg, NULL,
                   w->cfg.retry_backoff_ms << (job->retry_count < 16 ? job->retry_count : 16));
        } else {
            finish(sl, job, cur, VX_JOB_FAILED, err->msg, NULL, 0);
        }
        break;
    }
    vx_pipeline_state_release(&st);
    vx_err_free(&err);
}

static void *slot_main(void *arg)
{
    struct slot *sl = arg;
    struct vx_workers *w = sl->w;

    for (;;) {
        struct vx_job_rec *job = NULL;
        struct vx_err *err = NULL;
        bool stopping;

        pthread_mutex_lock(&w->mu);
        stopping = w->stopping;
        pthread_mutex_unlock(&w->mu);
        if (stopping)
            break;
        if (vx_store_job_claim(w->store, sl->id, w->cfg.lease_ms, &job, &err) < 0) {
            vx_warn("%s: claim: %s", sl->id, err->msg);
            vx_err_free(&err);
            wait_ms(w, w->cfg.poll_ms * 4);
            continue;
        }
        if (!job) {
            wait_ms(w, w->cfg.poll_ms);
            continue;
        }
        vx_info("job %s: claimed by %s (attempt %d)", job->id, sl->id, job->retry_count + 1);
        pthread_mutex_lock(&w->mu);
        snprintf(sl->job_id, sizeof(sl->job_id), "%s", job->id);
        sl->cancel_seen = job->cancel_requested;
        sl->lease_lost = false;
        pthread_mutex_unlock(&w->mu);
        atomic_fetch_add(&w->busy, 1);

        run_job(sl, job);

        atomic_fetch_sub(&w->busy, 1);
        pthread_mutex_lock(&w->mu);
        sl->job_id[0] = '\0';
        pthread_mutex_unlock(&w->mu);
        vx_job_rec_free(job);
    }
    return NULL;
}

static void *heartbeat_main(void *arg)
{
    struct vx_workers *w = arg;

    do {
        struct vx_err *err = NULL;

        for (int i = 0; i < w->nslots; i++) {
            struct slot *sl = &w->slots[i];
            char job_id[40];
            bool cancel = false;
            int rc;

            pthread_mutex_lock(&w->mu);
            snprintf(job_id, sizeof(job_id), "%s", sl->job_id);
            pthread_mutex_unlock(&w->mu);
            if (!job_id[0])
                continue;
            rc = vx_store_job_heartbeat(w->store, job_id, sl->id, w->cfg.lease_ms, &cancel, &err);
            pthread_mutex_lock(&w->mu);
            if (strcmp(sl->job_id, job_id) == 0) {
                if (rc == -VX_E_LEASE_LOST)
                    sl->lease_lost = true;
                else if (rc == 0 && cancel)
                    sl->cancel_seen = true;
            }
            pthread_cond_broadcast(&w->cv);
            pthread_mutex_unlock(&w->mu);
            if (rc < 0 && rc != -VX_E_LEASE_LOST)
                vx_warn("%s: heartbeat job %s: %s", sl->id, job_id, err->msg);
            vx_err_free(&err);
        }
        if (vx_store_worker_beat(w->store, w->prefix, w->host, atomic_load(&w->busy), w->nslots,
                                 &err) < 0) {
            vx_warn("worker %s: beat: %s", w->prefix, err->msg);
            vx_err_free(&err);
        }
    } while (!wait_ms(w, w->cfg.heartbeat_ms));
    return NULL;
}

static void *reaper_main(void *arg)
{
    struct vx_workers *w = arg;
    int64_t next_purge = 0;

    do {
        struct vx_err *err = NULL;
        int requeued = 0, failed = 0;
        int64_t now = vx_now_ms();

        if (vx_store_job_reap(w->store, now, w->cfg.retry_backoff_ms, &requeued, &failed, &err) <
            0) {
            vx_warn("reaper: %s", err->msg);
            vx_err_free(&err);
        } else if (requeued || failed) {
            vx_info("reaper: %d expired job(s) back to the queue, %d failed for good", requeued,
                    failed);
        }
        if (now >= next_purge) {
            int deleted = 0;
            int64_t before = now - (int64_t)w->cfg.evidence_retention_days * 86400000LL;

            if (vx_store_evidence_purge(w->store, before, &deleted, &err) < 0) {
                vx_warn("reaper: evidence purge: %s", err->msg);
                vx_err_free(&err);
            } else if (deleted) {
                vx_info("reaper: purged %d evidence document(s) older than %d days", deleted,
                        w->cfg.evidence_retention_days);
            }
            next_purge = now + 3600 * 1000;
        }
    } while (!wait_ms(w, w->cfg.reap_interval_ms));
    return NULL;
}

int vx_workers_start(const struct vx_workers_config *cfg, struct vx_store *store,
                     struct vx_workers **out, struct vx_err **err)
{
    struct vx_workers *w = vx_xcalloc(1, sizeof(*w));
    pthread_condattr_t ca;
    int rc = 0;

    w->cfg = *cfg;
    w->store = store;
    if (w->cfg.threads < 0 || w->cfg.threads > 256) {
        rc = vx_err_field(err, VX_E_INVALID, "workers", "worker threads must be 0..256, not %d",
                          w->cfg.threads);
        free(w);
        return rc;
    }
    if (w->cfg.lease_ms <= 0)
        w->cfg.lease_ms = 30000;
    if (w->cfg.heartbeat_ms <= 0)
        w->cfg.heartbeat_ms = w->cfg.lease_ms / 3 < 1000 ? w->cfg.lease_ms / 3 : 1000;
    if (w->cfg.heartbeat_ms < 10)
        w->cfg.heartbeat_ms = 10;
    if (w->cfg.reap_interval_ms == 0)
        w->cfg.reap_interval_ms = 5000;
    if (w->cfg.retry_backoff_ms <= 0)
        w->cfg.retry_backoff_ms = 5000;
    if (w->cfg.poll_ms <= 0)
        w->cfg.poll_ms = 500;
    if (w->cfg.evidence_retention_days <= 0)
        w->cfg.evidence_retention_days = 90;
    gethostname(w->host, sizeof(w->host) - 1);
    if (cfg->worker_prefix && *cfg->worker_prefix)
        w->prefix = vx_xstrdup(cfg->worker_prefix);
    else
        w->prefix = vx_xasprintf("%s-%d", w->host, (int)getpid());
    w->data_dir = vx_xstrdup(cfg->data_dir);
    w->cfg.worker_prefix = w->prefix;
    w->cfg.data_dir = w->data_dir;
    w->allowed_registries = vx_xstrdup(cfg->pipeline.allowed_registries);
    w->insecure_registries = vx_xstrdup(cfg->pipeline.insecure_registries);
    w->cfg.pipeline.allowed_registries = w->allowed_registries;
    w->platform = vx_xstrdup(cfg->pipeline.platform);
    w->docker_config = vx_xstrdup(cfg->pipeline.docker_config);
    w->cfg.pipeline.insecure_registries = w->insecure_registries;
    w->cfg.pipeline.platform = w->platform;
    w->cfg.pipeline.docker_config = w->docker_config;
    w->cfg.pipeline.allow_local_sources = false; /* never for a service */
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    w->nslots = w->cfg.threads;
    if (w->nslots > 0) {
        /* a worker that died mid-run left containers, mounts and cgroups: remove them
         * before taking new jobs (only records whose owner process is gone) */
        char *state = vx_xasprintf("%s/sandbox", w->data_dir);
        size_t reaped = 0;

        if (vx_sandbox_reap(state, &reaped, err) < 0) {
            vx_warn("workers: sandbox reap: %s", (*err)->msg);
            vx_err_free(err);
        } else if (reaped) {
            vx_info("workers: removed %zu sandbox(es) left by a crashed worker", reaped);
        }
        free(state);
        /* the tracer's shared parts (eBPF objects) load once per process; on Kubernetes
         * the tracer runs in each analysis's pod, not here */
        if (!w->cfg.pipeline.trace_engine &&
            !(w->cfg.pipeline.sandbox && strcmp(w->cfg.pipeline.sandbox, "kubernetes") == 0)) {
            if (vx_trace_engine_new(&w->engine, err) < 0) {
                rc = -(int)(*err)->code;
                w->nslots = 0; /* nothing started: stop has nothing to join */
                goto fail;
            }
            w->cfg.pipeline.trace_engine = w->engine;
        }
    }
    w->slots = vx_xcalloc((size_t)(w->nslots ? w->nslots : 1), sizeof(*w->slots));
    for (int i = 0; i < w->nslots; i++) {
        struct slot *sl = &w->slots[i];

        sl->w = w;
        snprintf(sl->id, sizeof(sl->id), "%s-%d", w->prefix, i);
        if (pthread_create(&sl->thread, NULL, slot_main, sl) != 0) {
            rc = vx_err_set(err, VX_E_INTERNAL, errno, "start worker thread %d", i);
            goto fail;
        }
        sl->started = true;
    }
    if (w->nslots > 0) {
        if (pthread_create(&w->heartbeat, NULL, heartbeat_main, w) != 0) {
            rc = vx_err_set(err, VX_E_INTERNAL, errno, "start heartbeat thread");
            goto fail;
        }
        w->heartbeat_started = true;
    }
    if (w->cfg.reap_interval_ms > 0) {
        if (pthread_create(&w->reaper, NULL, reaper_main, w) != 0) {
            rc = vx_err_set(err, VX_E_INTERNAL, errno, "start reaper thread");
            goto fail;
        }
        w->reaper_started = true;
    }
    vx_info("workers: %d slot(s) as '%s', lease %" PRId64 " ms", w->nslots, w->prefix,
            w->cfg.lease_ms);
    *out = w;
    return 0;
fail:
    vx_workers_stop(w);
    return rc;
}

void vx_workers_stop(struct vx_workers *w)
{
    struct vx_err *err = NULL;

    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nslots; i++) {
        if (w->slots[i].started)
            pthread_join(w->slots[i].thread, NULL);
    }
    if (w->heartbeat_started)
        pthread_join(w->heartbeat, NULL);
    if (w->reaper_started)
        pthread_join(w->reaper, NULL);
    if (w->nslots > 0 && vx_store_worker_remove(w->store, w->prefix, &err) < 0) {
        vx_warn("worker %s: deregister: %s", w->prefix, err->msg);
        vx_err_free(&err);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    vx_trace_engine_free(w->engine);
    free(w->slots);
    free(w->prefix);
    free(w->data_dir);
    free(w->allowed_registries);
    free(w->insecure_registries);
    free(w->platform);
    free(w->docker_config);
    free(w);
}

void vx_workers_usage(const struct vx_workers *w, int *busy, int *slots)
{
    *busy = w ? atomic_load(&((struct vx_workers *)w)->busy) : 0;
    *slots = w ? w->nslots : 0;
}
