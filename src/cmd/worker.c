/* worker.c -- `vexxy worker`: a worker process for the distributed mode.
 *
 * Any number of these share one PostgreSQL with any number of `vexxy serve` instances.
 * Each runs --concurrency worker threads, a reaper and a webhook sender; SIGTERM stops
 * claiming and hands a job in progress back to the queue.
 */
#include "common/setup.h"

#include <signal.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "cmd/service.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "store/store.h"
#include "queue/queue.h"

static const char usage[] =
    "usage: vexxy worker --db postgres://... [--concurrency N] [--data-dir DIR] [options]";

enum {
    O_DB,
    O_CONCURRENCY,
    O_DATA_DIR,
    O_ID,
    O_LEASE,
    O_RETENTION,
    O_WEBHOOK_SECRET,
    O_DELAY,
    O_LOG_LEVEL,
    O_CONFIG,
    O_PIPELINE, /* vx_service_pipeline_opts from here */
    O_COUNT = O_PIPELINE + VX_PIPE_COUNT
};

static const struct vx_opt worker_opts[O_PIPELINE] = {
    [O_DB] = {"db", VX_OPT_STR, NULL, 0, 0, "store URL (postgres://... for many hosts)"},
    [O_CONCURRENCY] = {"concurrency", VX_OPT_INT, "2", 1, 256, "jobs run at once by this process"},
    [O_DATA_DIR] = {"data-dir", VX_OPT_STR, NULL, 0, 0, "data directory"},
    [O_ID] = {"id", VX_OPT_STR, NULL, 0, 0, "worker id prefix (default HOST-PID)"},
    [O_LEASE] = {"lease-seconds", VX_OPT_INT, "30", 1, 3600,
                 "job lease; a silent worker loses its job after this"},
    [O_RETENTION] = {"retention-days", VX_OPT_INT, "90", 1, 36500, "evidence retention"},
    [O_WEBHOOK_SECRET] = {"webhook-secret", VX_OPT_STR, NULL, 0, 0,
                          "HMAC key of webhook signatures (default: DATA_DIR/webhook.secret)"},
    [O_DELAY] = {"debug-phase-delay-ms", VX_OPT_INT, "0", 0, 3600000,
                 "testing: hold each phase this long"},
    [O_LOG_LEVEL] = {"log-level", VX_OPT_STR, "info", 0, 0, "debug, info, warn, error, off"},
    [O_CONFIG] = {"config", VX_OPT_STR, NULL, 0, 0, "JSON config file"},
};

int vx_cmd_worker(int argc, char **argv)
{
    struct vx_opt o[O_COUNT];
    struct vx_workers_config wcfg = {0};
    struct vx_webhooks_config hcfg = {0};
    struct vx_store_opts sopts = {0};
    struct vx_store *store = NULL;
    struct vx_workers *workers = NULL;
    struct vx_webhooks *hooks = NULL;
    struct vx_err *err = NULL;
    char *data_dir = NULL, *secret = NULL;
    int rc = VX_EXIT_ERROR, sig;
    bool help;
    sigset_t sigs;

    memcpy(o, worker_opts, sizeof(worker_opts));
    memcpy(o + O_PIPELINE, vx_service_pipeline_opts, sizeof(vx_service_pipeline_opts));
    if (vx_opts_parse(o, O_COUNT, argc, argv, usage, &help) < 0)
        goto out;
    if (help) {
        rc = VX_EXIT_OK;
        goto out;
    }
    if (vx_service_log_level(o[O_LOG_LEVEL].str) < 0)
        goto out;
    if (!o[O_DB].str) {
        fprintf(stderr, "vexxy worker: --db (or VEXXY_DB) is required: the store the API "
                        "servers use, e.g. postgres://vexxy@dbhost/vexxy\n");
        goto out;
    }
    data_dir = o[O_DATA_DIR].str ? vx_xstrdup(o[O_DATA_DIR].str) : vx_cmd_default_data_dir();
    if (vx_service_mkdirs(data_dir) < 0)
        goto out;
    vx_service_block_signals(&sigs);
    sopts.pool_size = (int)o[O_CONCURRENCY].num + 4;
    if (vx_store_open(o[O_DB].str, &sopts, &store, &err) < 0)
        goto fail;
    wcfg.threads = (int)o[O_CONCURRENCY].num;
    wcfg.worker_prefix = o[O_ID].str;
    wcfg.data_dir = data_dir;
    wcfg.lease_ms = o[O_LEASE].num * 1000;
    wcfg.evidence_retention_days = (int)o[O_RETENTION].num;
    wcfg.debug_phase_delay_ms = o[O_DELAY].num;
    if (vx_service_pipeline_config(o + O_PIPELINE, &wcfg.pipeline) < 0)
        goto out;
    if (vx_workers_start(&wcfg, store, &workers, &err) < 0)
        goto fail;
    secret = vx_service_webhook_secret(o[O_WEBHOOK_SECRET].str, data_dir);
    if (!secret)
        goto out;
    hcfg.secret = secret;
    if (vx_webhooks_start(&hcfg, store, &hooks, &err) < 0)
        goto fail;
    vx_info("worker ready: %d slot(s) on %s", wcfg.threads, vx_store_backend(store));
    sig = vx_service_wait(&sigs);
    vx_info("signal %d: stopping (a job in progress goes back to the queue)", sig);
    rc = VX_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "vexxy worker: %s\n", err->msg);
out:
    vx_workers_stop(workers);
    vx_webhooks_stop(hooks);
    vx_store_close(store);
    vx_err_free(&err);
    free(data_dir);
    free(secret);
    vx_opts_release(o, O_COUNT);
    return rc;
}
