/* kube_client_check.c -- a small command-line front end to src/kube for
 * test_kube_client.py: one client call per run against a (fake) API server, its result as
 * one JSON line on stdout:
 *   {"rc": 0 | -code, "code": "E_...", "msg": "...", "status": N, "out": ..., "events": [...],
 *    "elapsed_ms": N, "stop_to_return_ms": N (from when should_stop turned true)}
 * Exit status 0 whenever the call ran (the test judges "rc"), 2 on usage errors.
 *
 *   kube_client_check [-k KUBECONFIG] [-r RETRIES] [-b BACKOFF_MS] CMD ARGS...
 *   create API PLURAL FILE.json | get API PLURAL NAME | list API PLURAL [SELECTOR]
 *   delete API PLURAL NAME [PROPAGATION] | logs POD CONTAINER MAX_BYTES
 *   request METHOD PATH [FILE.json]
 *   watch-job NAME RV TIMEOUT_MS [STOP_AFTER_MS]   jobs until NAME has a Complete or Failed
 *                                                  condition (or stop/timeout)
 *   watch-count API PLURAL SELECTOR RV TIMEOUT_MS N   until N events were seen
 */
#include "common/setup.h"

#include <jansson.h>
#include <unistd.h>

#include "kube/kube.h"
#include "common/err.h"  /* vx_code_name */
#include "common/json.h" /* vx_json_dump */
#include "common/util.h" /* vx_mono_ms */

struct watch_ctx {
    const char *job;
    json_t *events; /* ["ADDED name", ...] */
    const char *final;
    int want; /* watch-count: stop after this many events */
    int64_t start_ms, stop_after_ms, stop_asked_ms;
};

static bool on_event(const char *type, const json_t *obj, void *arg)
{
    struct watch_ctx *w = arg;
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = vx_json_str(md, "name");
    json_t *conds, *c;
    size_t i;

    json_array_append_new(w->events, json_sprintf("%s %s", type, name ? name : "?"));
    if (w->want > 0)
        return (int)json_array_size(w->events) < w->want;
    if (!name || strcmp(name, w->job) != 0)
        return true;
    conds = json_object_get(json_object_get(obj, "status"), "conditions");
    json_array_foreach(conds, i, c)
    {
        const char *t = vx_json_str(c, "type"), *s = vx_json_str(c, "status");

        if (t && s && strcmp(s, "True") == 0 &&
            (strcmp(t, "Complete") == 0 || strcmp(t, "Failed") == 0)) {
            w->final = strcmp(t, "Complete") == 0 ? "Complete" : "Failed";
            return false;
        }
    }
    return true;
}

static bool should_stop(void *arg)
{
    struct watch_ctx *w = arg;

    if (w->stop_after_ms > 0 && vx_mono_ms() - w->start_ms >= w->stop_after_ms) {
        if (!w->stop_asked_ms)
            w->stop_asked_ms = vx_mono_ms();
        return true;
    }
    return false;
}

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *v = json_load_file(path, 0, &je);

    if (!v) {
        fprintf(stderr, "kube_client_check: %s: %s\n", path, je.text);
        exit(2);
    }
    return v;
}

static int usage(void)
{
    fprintf(stderr, "usage: kube_client_check [-k KUBECONFIG] [-r RETRIES] [-b BACKOFF_MS] "
                    "CMD ARGS... (see the source)\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct vx_kube_options o = {0};
    struct watch_ctx w = {0};
    struct vx_kube *k = NULL;
    struct vx_err *err = NULL;
    json_t *res = json_object(), *out = NULL, *body = NULL;
    char *text = NULL, *dump;
    long status = 0;
    int64_t t0;
    int opt, rc, n;
    const char *cmd;

    while ((opt = getopt(argc, argv, "k:r:b:n:")) != -1) {
        switch (opt) {
        case 'k':
            o.kubeconfig = optarg;
            break;
        case 'r':
            o.max_retries = atoi(optarg);
            break;
        case 'b':
            o.backoff_ms = atoi(optarg);
            break;
        case 'n':
            o.namespace_ = optarg;
            break;
        default:
            return usage();
        }
    }
    if (optind >= argc)
        return usage();
    cmd = argv[optind];
    argv += optind + 1;
    n = argc - optind - 1;
    w.events = json_array();
    t0 = vx_mono_ms();
    rc = vx_kube_open(&o, &k, &err);
    if (rc < 0)
        goto done;
    if (strcmp(cmd, "create") == 0 && n == 3) {
        body = load_json(argv[2]);
        rc = vx_kube_create(k, argv[0], argv[1], body, &out, &err);
    } else if (strcmp(cmd, "get") == 0 && n == 3) {
        rc = vx_kube_get(k, argv[0], argv[1], argv[2], &out, &err);
    } else if (strcmp(cmd, "list") == 0 && (n == 2 || n == 3)) {
        rc = vx_kube_list(k, argv[0], argv[1], n == 3 ? argv[2] : NULL, &out, &err);
    } else if (strcmp(cmd, "delete") == 0 && (n == 3 || n == 4)) {
        rc = vx_kube_delete(k, argv[0], argv[1], argv[2], n == 4 ? argv[3] : NULL, &err);
    } else if (strcmp(cmd, "logs") == 0 && n == 3) {
        rc = vx_kube_logs(k, argv[0], argv[1], (size_t)atol(argv[2]), &text, &err);
        if (rc == 0)
            out = json_string(text);
    } else if (strcmp(cmd, "request") == 0 && (n == 2 || n == 3)) {
        if (n == 3)
            body = load_json(argv[2]);
        rc = vx_kube_request(k, argv[0], argv[1], body, &out, &status, &err);
    } else if (strcmp(cmd, "watch-job") == 0 && (n == 3 || n == 4)) {
        w.job = argv[0];
        w.stop_after_ms = n == 4 ? atol(argv[3]) : 0;
        w.start_ms = vx_mono_ms();
        rc = vx_kube_watch(k, "apis/batch/v1", "jobs", NULL, *argv[1] ? argv[1] : NULL,
                           atol(argv[2]), on_event, &w, should_stop, &err);
        if (w.stop_asked_ms) /* from the moment should_stop turned true, not first seen */
            json_object_set_new(res, "stop_to_return_ms",
                                json_integer(vx_mono_ms() - w.start_ms - w.stop_after_ms));
        json_object_set_new(res, "final", w.final ? json_string(w.final) : json_null());
    } else if (strcmp(cmd, "watch-count") == 0 && n == 6) {
        w.want = atoi(argv[5]);
        rc = vx_kube_watch(k, argv[0], argv[1], *argv[2] ? argv[2] : NULL,
                           *argv[3] ? argv[3] : NULL, atol(argv[4]), on_event, &w, NULL, &err);
    } else {
        vx_kube_close(k);
        json_decref(res);
        json_decref(w.events);
        return usage();
    }
done:
    json_object_set_new(res, "rc", json_integer(rc));
    json_object_set_new(res, "code", json_string(err ? vx_code_name(err->code) : "OK"));
    json_object_set_new(res, "msg", json_string(err ? err->msg : ""));
    json_object_set_new(res, "field", err && err->field ? json_string(err->field) : json_null());
    json_object_set_new(res, "status", json_integer(status));
    json_object_set_new(res, "out", out ? out : json_null());
    json_object_set_new(res, "events", w.events);
    json_object_set_new(res, "elapsed_ms", json_integer(vx_mono_ms() - t0));
    dump = vx_json_dump(res);
    printf("%s\n", dump);
    free(dump);
    free(text);
    json_decref(res);
    json_decref(body);
    vx_err_free(&err);
    vx_kube_close(k);
    return 0;
}
