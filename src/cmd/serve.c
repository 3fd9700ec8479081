/* serve.c -- `vexxy serve`: the REST API, plus in-process workers and the webhook sender.
 *
 * With SQLite (the default) the workers run in this process; with PostgreSQL they are
 * usually separate `vexxy worker` processes, so --workers defaults to 0 there.
 */
#include "common/setup.h"

#include <signal.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "cmd/service.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h" /* for vx_parse_i64() */
#include "store/store.h"
#include "auth/auth.h"
#include "queue/queue.h"
#include "api/api.h"

static const char usage[] =
    "usage: vexxy serve [--listen ADDR:PORT] [--db sqlite:PATH|postgres://...] [--workers N]\n"
    "                   [--data-dir DIR] [--no-auth] [options]";

enum {
    O_LISTEN,
    O_DB,
    O_WORKERS,
    O_DATA_DIR,
    O_NO_AUTH,
    O_HTTP_THREADS,
    O_MAX_BODY,
    O_JWT_SECRET,
    O_JWT_PUBKEY,
    O_JWT_ISSUER,
    O_JWT_AUDIENCE,
    O_JWT_QUOTA,
    O_AUTH_CACHE,
    O_WEBHOOK_SECRET,
    O_LEASE,
    O_RETENTION,
    O_PORT_FILE,
    O_PUBLIC_URL,
    O_DELAY,
    O_LOG_LEVEL,
    O_CONFIG,
    O_PIPELINE, /* vx_service_pipeline_opts from here */
    O_COUNT = O_PIPELINE + VX_PIPE_COUNT
};

/* A template: each run copies it, so no option state outlives the call. */
static const struct vx_opt serve_opts[O_PIPELINE] = {
    [O_LISTEN] = {"listen", VX_OPT_STR, "127.0.0.1:8080", 0, 0, "address and port to listen on"},
    [O_DB] = {"db", VX_OPT_STR, NULL, 0, 0, "store URL (default sqlite:DATA_DIR/vexxy.db)"},
    [O_WORKERS] = {"workers", VX_OPT_INT, NULL, 0, 256,
                   "in-process workers (2 on SQLite, 0 on PostgreSQL)"},
    [O_DATA_DIR] = {"data-dir", VX_OPT_STR, NULL, 0, 0, "data directory"},
    [O_NO_AUTH] = {"no-auth", VX_OPT_BOOL, NULL, 0, 0, "no authentication (loopback only)"},
    [O_HTTP_THREADS] = {"http-threads", VX_OPT_INT, "2", 1, 256, "HTTP thread pool size"},
    [O_MAX_BODY] = {"max-body-bytes", VX_OPT_INT, "10485760", 1024, 1073741824, "request body cap"},
    [O_JWT_SECRET] = {"jwt-secret", VX_OPT_STR, NULL, 0, 0, "HS256 secret for JWTs"},
    [O_JWT_PUBKEY] = {"jwt-public-key", VX_OPT_STR, NULL, 0, 0,
                      "PEM file: RS256 public key for JWTs"},
    [O_JWT_ISSUER] = {"jwt-issuer", VX_OPT_STR, NULL, 0, 0, "required JWT issuer (iss)"},
    [O_JWT_AUDIENCE] = {"jwt-audience", VX_OPT_STR, NULL, 0, 0, "required JWT audience (aud)"},
    [O_JWT_QUOTA] = {"jwt-default-jobs-per-month", VX_OPT_INT, "100", -1, INT64_MAX,
                     "quota of organizations first seen in a JWT (-1 unlimited)"},
    [O_AUTH_CACHE] = {"auth-cache-ms", VX_OPT_INT, "30000", 0, 3600000,
                      "API key cache lifetime per instance"},
    [O_WEBHOOK_SECRET] = {"webhook-secret", VX_OPT_STR, NULL, 0, 0,
                          "HMAC key of webhook signatures (default: DATA_DIR/webhook.secret)"},
    [O_LEASE] = {"lease-seconds", VX_OPT_INT, "30", 1, 3600,
                 "job lease; a silent worker loses its job after this"},
    [O_RETENTION] = {"retention-days", VX_OPT_INT, "90", 1, 36500, "evidence retention"},
    [O_PORT_FILE] = {"port-file", VX_OPT_STR, NULL, 0, 0, "write the bound port to this file"},
    [O_PUBLIC_URL] = {"public-url", VX_OPT_STR, NULL, 0, 0, "base URL used in document ids"},
    [O_DELAY] = {"debug-phase-delay-ms", VX_OPT_INT, "0", 0, 3600000,
                 "testing: hold each phase this long"},
    [O_LOG_LEVEL] = {"log-level", VX_OPT_STR, "info", 0, 0, "debug, info, warn, error, off"},
    [O_CONFIG] = {"config", VX_OPT_STR, NULL, 0, 0, "JSON config file"},
};

/* Splits "ADDR:PORT" / "[v6]:PORT"; 0 or -1. addr is written into a caller buffer. */
static int split_listen(const char *s, char *addr, size_t addrlen, int *port)
{
    const char *colon;
    int64_t p;

    if (s[0] == '[') {
        const char *end = strchr(s, ']');

        if (!end || end[1] != ':')
            return -1;
        snprintf(addr, addrlen, "%.*s", (int)(end - s - 1), s + 1);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        snprintf(addr, addrlen, "%.*s", (int)(colon - s), s);
    }
    if (vx_parse_i64(colon + 1, 0, 65535, &p) < 0 || !addr[0])
        return -1;
    *port = (int)p;
    return 0;
}

static int write_port_file(const char *path, int port)
{
    char *tmp = vx_xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    int rc = -1;

    if (f && fprintf(f, "%d\n", port) > 0 && fclose(f) == 0) {
        f = NULL;
        rc = rename(tmp, path);
    }
    if (f)
        fclose(f);
    if (rc < 0)
        fprintf(stderr, "vexxy: write port file '%s': %s\n", path, strerror(errno));
    free(tmp);
    return rc;
}

static char *read_file_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "re");
    char *buf;
    size_t n;

    if (!f)
        return NULL;
    buf = vx_xmalloc(max + 1);
    n = fread(buf, 1, max, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

int vx_cmd_serve(int argc, char **argv)
{
    struct vx_opt o[O_COUNT];
    struct vx_store_opts sopts = {0};
    struct vx_auth_config acfg = {0};
    struct vx_workers_config wcfg = {0};
    struct vx_webhooks_config hcfg = {0};
    struct vx_api_config apicfg = {0};
    struct vx_store *store = NULL;
    struct vx_auth *auth = NULL;
    struct vx_workers *workers = NULL;
    struct vx_webhooks *hooks = NULL;
    struct vx_api *api = NULL;
    struct vx_err *err = NULL;
    char *data_dir = NULL, *db = NULL, *secret = NULL, *pubkey = NULL;
    char addr[128];
    int port = 0, nworkers, rc = VX_EXIT_ERROR, sig;
    bool help;
    sigset_t sigs;

    memcpy(o, serve_opts, sizeof(serve_opts));
    memcpy(o + O_PIPELINE, vx_service_pipeline_opts, sizeof(vx_service_pipeline_opts));
    if (vx_opts_parse(o, O_COUNT, argc, argv, usage, &help) < 0)
        goto out;
    if (help) {
        rc = VX_EXIT_OK;
        goto out;
    }
    if (vx_service_log_level(o[O_LOG_LEVEL].str) < 0)
        goto out;
    if (split_listen(o[O_LISTEN].str, addr, sizeof(addr), &port) < 0) {
        fprintf(stderr, "vexxy serve: --listen must be ADDR:PORT, not '%s'\n", o[O_LISTEN].str);
        goto out;
    }
    data_dir = o[O_DATA_DIR].str ? vx_xstrdup(o[O_DATA_DIR].str) : vx_cmd_default_data_dir();
    if (vx_service_mkdirs(data_dir) < 0)
        goto out;
    db = o[O_DB].str ? vx_xstrdup(o[O_DB].str) : vx_cmd_default_db(data_dir);
    vx_service_block_signals(&sigs);

    sopts.pool_size = (int)o[O_HTTP_THREADS].num + 8;
    if (vx_store_open(db, &sopts, &store, &err) < 0)
        goto fail;
    vx_info("store: %s (schema version %d)", vx_store_backend(store),
            vx_store_schema_version(store));

    if (!o[O_NO_AUTH].flag) {
        if (o[O_JWT_PUBKEY].str) {
            pubkey = read_file_text(o[O_JWT_PUBKEY].str, 64 * 1024);
            if (!pubkey) {
                fprintf(stderr, "vexxy serve: --jwt-public-key '%s': %s\n", o[O_JWT_PUBKEY].str,
                        strerror(errno));
                goto out;
            }
        }
        acfg.jwt_hs256_secret = o[O_JWT_SECRET].str;
        acfg.jwt_rs256_pubkey = pubkey;
        acfg.jwt_issuer = o[O_JWT_ISSUER].str;
        acfg.jwt_audience = o[O_JWT_AUDIENCE].str;
        acfg.leeway_s = 30;
        acfg.default_jobs_per_month = o[O_JWT_QUOTA].num;
        acfg.cache_ttl_ms = o[O_AUTH_CACHE].num;
        if (vx_auth_new(&acfg, store, &auth, &err) < 0)
            goto fail;
    }

    nworkers = o[O_WORKERS].set ? (int)o[O_WORKERS].num
                                : (strcmp(vx_store_backend(store), "sqlite") == 0 ? 2 : 0);
    if (nworkers > 0) {
        wcfg.threads = nworkers;
        wcfg.data_dir = data_dir;
        wcfg.lease_ms = o[O_LEASE].num * 1000;
        wcfg.evidence_retention_days = (int)o[O_RETENTION].num;
        wcfg.debug_phase_delay_ms = o[O_DELAY].num;
        if (vx_service_pipeline_config(o + O_PIPELINE, &wcfg.pipeline) < 0)
            goto out;
        if (vx_workers_start(&wcfg, store, &workers, &err) < 0)
            goto fail;
    }
    secret = vx_service_webhook_secret(o[O_WEBHOOK_SECRET].str, data_dir);
    if (!secret)
        goto out;
    hcfg.secret = secret;
    if (vx_webhooks_start(&hcfg, store, &hooks, &err) < 0)
        goto fail;

    apicfg.listen_addr = addr;
    apicfg.port = port;
    apicfg.threads = (int)o[O_HTTP_THREADS].num;
    apicfg.max_body_bytes = (size_t)o[O_MAX_BODY].num;
    apicfg.no_auth = o[O_NO_AUTH].flag;
    apicfg.store = store;
    apicfg.auth = auth;
    apicfg.workers = workers;
    apicfg.public_url = o[O_PUBLIC_URL].str;
    if (vx_api_start(&apicfg, &api, &err) < 0)
        goto fail;
    vx_info("listening on %s:%d (%s, %d worker(s))%s", addr, vx_api_port(api),
            vx_store_backend(store), nworkers, o[O_NO_AUTH].flag ? " without authentication" : "");
    if (o[O_PORT_FILE].str && write_port_file(o[O_PORT_FILE].str, vx_api_port(api)) < 0)
        goto out;

    sig = vx_service_wait(&sigs);
    vx_info("signal %d: shutting down (no new jobs are claimed; running ones go back to the queue)",
            sig);
    rc = VX_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "vexxy serve: %s\n", err->msg);
out:
    vx_api_stop(api);
    vx_workers_stop(workers);
    vx_webhooks_stop(hooks);
    vx_auth_free(auth);
    vx_store_close(store);
    vx_err_free(&err);
    free(data_dir);
    free(db);
    free(secret);
    free(pubkey);
    vx_opts_release(o, O_COUNT);
    return rc;
}
