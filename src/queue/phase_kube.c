/* phase_kube.c -- the sandbox phase on Kubernetes: one Job per analysis, the tracer as a
 * privileged sidecar, a deny-all NetworkPolicy beside it.
 *
 * DESIGN
 * The worker pulled and unpacked the image (inventory needs its files); the workload itself
 * runs in the cluster, pinned by digest. Objects, all labelled vexxy.io/job-id=<id> in the
 * sandbox namespace:
 *   NetworkPolicy vx-<id>: podSelector on that label, policyTypes Ingress+Egress, no rules:
 *     nothing in or out (the exerciser and the test script reach the workload over the pod's
 *     loopback).
 *   Job vx-<id>: backoffLimit 0, ttlSecondsAfterFinished, activeDeadlineSeconds from
 *     test_timeout (+ slack for image pulls), a pod with shareProcessNamespace and an emptyDir
 *     at /vexxy shared by
 *       init  vexxy-init   (tracer image) `vexxy-wait --install /vexxy`: a static waiter;
 *       target             (the image@digest) `/vexxy/vexxy-wait -- ENTRYPOINT CMD`: holds the
 *                          workload before its first instruction until /vexxy/go exists;
 *                          seccomp RuntimeDefault, no privilege escalation, all capabilities
 *                          dropped, runAsNonRoot when the image's User is not root, limits;
 *       tracer             (tracer image, the only privileged container) `vexxy sandbox agent`:
 *                          finds the target, attaches the tracer, creates /vexxy/go, runs the
 *                          health check, waits for the test script, crawls, ends the target,
 *                          prints one `VEXXY-AGENT-REPORT {json}` line;
 *       test-script        (tracer image, only when the job has one) waits for /vexxy/healthy,
 *                          runs $VEXXY_TEST_SCRIPT, leaves its exit code for the agent.
 * The worker watches the Job (from the resourceVersion its create returned; dropped watches
 * resume, a 410 re-lists) until it has a Complete or Failed condition, the deadline passes or
 * the job is cancelled; reads the tracer's and the target's logs; turns the report into the
 * profile and run facts the verdicts use; and always deletes the Job (Foreground: its pods
 * go first) and the NetworkPolicy, on success, failure and cancel. A report missing or
 * incomplete makes the phase fail: no verdict is drawn from a run nobody saw.
 * A 409 on create means a Job of this analysis survived an earlier attempt (a worker died):
 * it is deleted and created again once.
 */
#include "common/setup.h"

#include <time.h>

#include "queue/queue.h"
#include "queue/queue_int.h"
#include "kube/kube.h"       /* the REST client */
#include "image/image.h"     /* the reference to pin and the image's User */
#include "reach/reach.h"     /* struct vx_run_facts */
#include "trace/trace.h"     /* the profile from the agent's report */
#include "sandbox/sandbox.h" /* profile presets */
#include "common/alloc.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define AGENT_MARK       "VEXXY-AGENT-REPORT "
#define LOG_CAP          (16u << 20) /* the report carries the whole profile */
#define TARGET_LOG_CAP   (1u << 20)
#define DEADLINE_SLACK_S 120 /* image pull and scheduling before the window starts */
#define TTL_S            600

struct kube_run {
    struct vx_phase_ctx *ctx;
    const struct vx_run_cfg *rc;
    const char *ns;
    char *name;     /* vx-<id>: Job and NetworkPolicy */
    char *selector; /* vexxy.io/job-id=<id> */
    bool done, failed;
    char *reason; /* the Failed condition's reason/message */
};

static bool stop_requested(void *arg)
{
    const struct kube_run *k = arg;

    return k->ctx->should_stop && k->ctx->should_stop(k->ctx);
}

/* "registry/repo@sha256:..." for the pod: the tag is dropped, the digest is what was
 * verified. Only registry images can run in a cluster. */
static int pinned_ref(const struct vx_phase_ctx *ctx, char **out, struct vx_err **err)
{
    const struct vx_image *img = ctx->state->image;
    struct vx_image_source src = {0};
    const char *digest = img->index_digest ? img->index_digest : img->manifest_digest;
    int r;

    r = vx_image_source_parse(img->source, &src, err);
    if (r < 0)
        return r;
    if (src.transport != VX_IMAGE_DOCKER) {
        vx_image_source_release(&src);
        return vx_err_field(err, VX_E_INVALID, "image_ref",
                            "the kubernetes sandbox runs registry images only; '%s' is a local "
                            "layout or archive",
                            img->source);
    }
    *out = vx_xasprintf("%s/%s@%s", src.ref.registry, src.ref.repository, digest);
    vx_image_source_release(&src);
    return 0;
}

static json_t *str_array(char *const *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *env_var(const char *name, const char *value)
{
    return json_pack("{s:s,s:s}", "name", name, "value", value);
}

static json_t *labels(const struct kube_run *k)
{
    return json_pack("{s:s,s:s,s:s}", "app.kubernetes.io/name", "vexxy-sandbox",
                     "app.kubernetes.io/managed-by", "vexxy", "vexxy.io/job-id", k->ctx->job->id);
}

static json_t *restricted_security(bool non_root)
{
    json_t *sc = json_pack("{s:b,s:{s:[s]},s:{s:s}}", "allowPrivilegeEscalation", 0, "capabilities",
                           "drop", "ALL", "seccompProfile", "type", "RuntimeDefault");

    if (non_root)
        json_object_set_new(sc, "runAsNonRoot", json_true());
    return sc;
}

static bool image_user_is_root(const struct vx_image_config *ic)
{
    const char *u = ic->user;

    return !u || !*u || strcmp(u, "root") == 0 || strcmp(u, "0") == 0 || strncmp(u, "0:", 2) == 0 ||
           strncmp(u, "root:", 5) == 0;
}

static json_t *volume_mount(void)
{
    return json_pack("{s:s,s:s}", "name", "vexxy", "mountPath", "/vexxy");
}

/* The target's command: the waiter, then the image's entrypoint + cmd (or the job's). */
static json_t *target_command(const struct vx_run_cfg *rc, const struct vx_image_config *ic)
{
    json_t *a = json_pack("[s,s]", "/vexxy/vexxy-wait", "--");

    if (rc->n_command) {
        json_t *c = str_array(rc->command, rc->n_command);

        json_array_extend(a, c);
        json_decref(c);
    } else {
        json_t *e = str_array(ic->entrypoint, ic->n_entrypoint);
        json_t *c = str_array(ic->cmd, ic->n_cmd);

        json_array_extend(a, e);
        json_array_extend(a, c);
        json_decref(e);
        json_decref(c);
    }
    return a;
}

static json_t *agent_args(const struct kube_run *k)
{
    const struct vx_run_cfg *rc = k->rc;
    const struct vx_pipeline_config *pc = k->ctx->cfg;
    const char *sym_paths[VX_RUN_MAX_SYMBOLS], *sym_names[VX_RUN_MAX_SYMBOLS];
    size_t n_sym = 0;
    json_t *a = json_pack("[s,s,s,s]", "vexxy", "sandbox", "agent", "--duration");
    char buf[64];

    snprintf(buf, sizeof(buf), "%" PRId64, (rc->duration_ms + 999) / 1000);
    json_array_append_new(a, json_string(buf));
    for (size_t i = 0; i < rc->n_ports; i++) {
        snprintf(buf, sizeof(buf), "%d", rc->ports[i]);
        json_array_append_new(a, json_string("--port"));
        json_array_append_new(a, json_string(buf));
    }
    if (rc->health_path) {
        json_array_append_new(a, json_string("--health-path"));
        json_array_append_new(a, json_string(rc->health_path));
    }
    snprintf(buf, sizeof(buf), "%" PRId64, (rc->health_timeout_ms + 999) / 1000);
    json_array_append_new(a, json_string("--health-timeout"));
    json_array_append_new(a, json_string(buf));
    json_array_append_new(a, json_string("--profile"));
    json_array_append_new(a,
                          json_string(k->ctx->job->profile && vx_profile_get(k->ctx->job->profile)
                                          ? k->ctx->job->profile
                                          : "standard"));
    if (!rc->fuzz)
        json_array_append_new(a, json_string("--no-fuzz"));
    if (pc->tracers) {
        json_array_append_new(a, json_string("--tracer"));
        json_array_append_new(a, json_string(pc->tracers));
    }
    vx_run_symbol_probes(k->ctx->state, sym_paths, sym_names, &n_sym);
    for (size_t i = 0; i < n_sym; i++) {
        char *s = vx_xasprintf("%s:%s", sym_paths[i], sym_names[i]);

        json_array_append_new(a, json_string("--symbol"));
        json_array_append_new(a, json_string(s));
        free(s);
    }
    if (rc->test_script) {
        snprintf(buf, sizeof(buf), "%" PRId64, (rc->timeout_ms + 999) / 1000);
        json_array_append_new(a, json_string("--test-script"));
        json_array_append_new(a, json_string("--test-timeout"));
        json_array_append_new(a, json_string(buf));
    }
    json_array_append_new(a, json_string("--sync-dir"));
    json_array_append_new(a, json_string("/vexxy"));
    return a;
}

static const char test_script_wrapper[] =
    "while [ ! -e /vexxy/healthy ]; do sleep 0.1; done; "
    "sh -c \"$VEXXY_TEST_SCRIPT\" >/vexxy/test-output 2>&1; "
    "echo $? >/vexxy/test-done.tmp; mv /vexxy/test-done.tmp /vexxy/test-done";

/* The Job object (owned). */
static json_t *job_object(const struct kube_run *k, const char *image)
{
    const struct vx_run_cfg *rc = k->rc;
    const struct vx_pipeline_config *pc = k->ctx->cfg;
    const struct vx_image_config *ic = &k->ctx->state->image->config;
    json_t *target, *tracer, *containers, *pod, *env, *ports;
    char ports_s[512] = "";
    size_t off = 0;

    env = json_array();
    json_array_append_new(env, env_var("VEXXY_ROLE", "target"));
    for (size_t i = 0; i < rc->n_env; i++) {
        char *eq = strchr(rc->env[i], '=');
        char *name = vx_xasprintf("%.*s", (int)(eq - rc->env[i]), rc->env[i]);

        json_array_append_new(env, env_var(name, eq + 1));
        free(name);
    }
    ports = json_array();
    for (size_t i = 0; i < rc->n_ports; i++) {
        json_array_append_new(
            ports, json_pack("{s:i,s:s}", "containerPort", rc->ports[i], "protocol", "TCP"));
        off += (size_t)snprintf(ports_s + off, sizeof(ports_s) - off, "%s%d", i ? "," : "",
                                rc->ports[i]);
        if (off >= sizeof(ports_s))
            off = sizeof(ports_s) - 1;
    }
    target =
        json_pack("{s:s,s:s,s:o,s:o,s:o,s:{s:{s:s,s:s},s:{s:s,s:s}},s:o,s:[o]}", "name", "target",
                  "image", image, "command", target_command(rc, ic), "env", env, "ports", ports,
                  "resources", "limits", "memory", "512Mi", "cpu", "1", "requests", "memory",
                  "128Mi", "cpu", "250m", "securityContext",
                  restricted_security(!image_user_is_root(ic)), "volumeMounts", volume_mount());
    if (ic->working_dir && *ic->working_dir)
        json_object_set_new(target, "workingDir", json_string(ic->working_dir));
    /* root inside the privileged sidecar: the image's default user (uid 10001) has no
     * capabilities even in a privileged container */
    tracer = json_pack("{s:s,s:s,s:o,s:{s:b,s:i},s:[o],s:{s:{s:s,s:s}}}", "name", "tracer", "image",
                       pc->tracer_image, "command", agent_args(k), "securityContext", "privileged",
                       1, "runAsUser", 0, "volumeMounts", volume_mount(), "resources", "limits",
                       "memory", "512Mi", "cpu", "1");
    containers = json_pack("[o,o]", target, tracer);
    if (rc->test_script) {
        json_t *tenv = json_array();

        json_array_append_new(tenv, env_var("TARGET_HOST", "127.0.0.1"));
        json_array_append_new(tenv, env_var("TARGET_PORTS", ports_s));
        json_array_append_new(tenv, env_var("VEXXY_TEST_SCRIPT", rc->test_script));
        json_array_append_new(
            containers,
            json_pack("{s:s,s:s,s:[s,s,s],s:o,s:o,s:[o],s:{s:{s:s,s:s}}}", "name", "test-script",
                      "image", pc->tracer_image, "command", "/bin/sh", "-c", test_script_wrapper,
                      "env", tenv, "securityContext", restricted_security(false), "volumeMounts",
                      volume_mount(), "resources", "limits", "memory", "256Mi", "cpu", "500m"));
    }
    pod = json_pack("{s:s,s:b,s:b,s:b,s:i,s:o,s:[{s:s,s:s,s:[s,s,s],s:[o],s:{s:b,s:{s:[s]}}}],"
                    "s:[{s:s,s:{}}]}",
                    "restartPolicy", "Never", "shareProcessNamespace", 1,
                    "automountServiceAccountToken", 0, "enableServiceLinks", 0,
                    "terminationGracePeriodSeconds", 2, "containers", containers, "initContainers",
                    "name", "vexxy-init", "image", pc->tracer_image, "command", "vexxy-wait",
                    "--install", "/vexxy", "volumeMounts", volume_mount(), "securityContext",
                    "allowPrivilegeEscalation", 0, "capabilities", "drop", "ALL", "volumes", "name",
                    "vexxy", "emptyDir");
    if (pc->kube_runtime_class)
        json_object_set_new(pod, "runtimeClassName", json_string(pc->kube_runtime_class));
    if (pc->kube_pull_secret)
        json_object_set_new(pod, "imagePullSecrets",
                            json_pack("[{s:s}]", "name", pc->kube_pull_secret));
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:o},s:{s:i,s:i,s:I,s:{s:{s:o},s:o}}}", "apiVersion",
                     "batch/v1", "kind", "Job", "metadata", "name", k->name, "namespace", k->ns,
                     "labels", labels(k), "spec", "backoffLimit", 0, "ttlSecondsAfterFinished",
                     TTL_S, "activeDeadlineSeconds",
                     (json_int_t)((rc->timeout_ms + 999) / 1000 + DEADLINE_SLACK_S), "template",
                     "metadata", "labels", labels(k), "spec", pod);
}

/* Nothing in, nothing out: the pod talks to itself over loopback only. */
static json_t *netpol_object(const struct kube_run *k)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:o},s:{s:{s:{s:s}},s:[s,s]}}", "apiVersion",
                     "networking.k8s.io/v1", "kind", "NetworkPolicy", "metadata", "name", k->name,
                     "namespace", k->ns, "labels", labels(k), "spec", "podSelector", "matchLabels",
                     "vexxy.io/job-id", k->ctx->job->id, "policyTypes", "Ingress", "Egress");
}

/* Creates obj; a 409 (left by an earlier attempt of this analysis) -> delete it, once. */
static int create_fresh(struct vx_kube *kc, const char *api, const char *plural, const char *name,
                        const json_t *obj, json_t **out, struct vx_err **err)
{
    int r = vx_kube_create(kc, api, plural, obj, out, err);

    if (r != -VX_E_CONFLICT)
        return r;
    vx_warn("kubernetes: %s '%s' exists (an earlier attempt of this analysis): replacing it",
            plural, name);
    vx_err_free(err);
    r = vx_kube_delete(kc, api, plural, name, "Foreground", err);
    if (r < 0)
        return r;
    /* foreground deletion finishes after the pods are gone: retry for a while */
    for (int i = 0; i < 60; i++) {
        r = vx_kube_create(kc, api, plural, obj, out, err);
        if (r != -VX_E_CONFLICT)
            return r;
        vx_err_free(err);
        nanosleep(&(struct timespec){.tv_nsec = 500 * 1000000L}, NULL);
    }
    return vx_err_set(err, VX_E_CONFLICT, 0, "kubernetes: %s '%s' is still being deleted", plural,
                      name);
}

/* Polls until the object is gone (404), at most 30 s; a failure to ask is only logged. */
static void wait_gone(struct vx_kube *kc, const char *api, const char *plural, const char *name)
{
    struct vx_err *e = NULL;
    json_t *o = NULL;

    for (int i = 0; i < 150; i++) {
        int r = vx_kube_get(kc, api, plural, name, &o, &e);

        json_decref(o);
        o = NULL;
        if (r == -VX_E_NOT_FOUND) {
            vx_err_free(&e);
            return;
        }
        if (r < 0) {
            vx_warn("kubernetes: waiting for %s '%s' to go: %s", plural, name, e->msg);
            vx_err_free(&e);
            return;
        }
        nanosleep(&(struct timespec){.tv_nsec = 200 * 1000000L}, NULL);
    }
    vx_warn("kubernetes: %s '%s' is still there 30 s after its deletion", plural, name);
}

static bool on_job_event(const char *type, const json_t *obj, void *arg)
{
    struct kube_run *k = arg;
    const json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions");
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    size_t i;
    json_t *c;

    if (!name || strcmp(name, k->name) != 0)
        return true;
    if (strcmp(type, "DELETED") == 0) {
        k->done = k->failed = true;
        free(k->reason);
        k->reason = vx_xstrdup("the Job was deleted by someone else");
        return false;
    }
    json_array_foreach(conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));

        if (!t || !s || strcmp(s, "True") != 0)
            continue;
        if (strcmp(t, "Complete") == 0 || strcmp(t, "Failed") == 0) {
            const char *why = json_string_value(json_object_get(c, "reason"));
            const char *msg = json_string_value(json_object_get(c, "message"));

            k->done = true;
            k->failed = strcmp(t, "Failed") == 0;
            free(k->reason);
            k->reason = vx_xasprintf("%s%s%s", why ? why : t, msg ? ": " : "", msg ? msg : "");
            return false;
        }
    }
    return true;
}

/* The pod of the Job (owned name), or NULL when none was created. */
static int job_pod(struct vx_kube *kc, const struct kube_run *k, char **pod, json_t **pod_obj,
                   struct vx_err **err)
{
    json_t *list = NULL, *items;
    char *sel = vx_xasprintf("job-name=%s", k->name);
    int r = vx_kube_list(kc, "api/v1", "pods", sel, &list, err);

    free(sel);
    *pod = NULL;
    *pod_obj = NULL;
    if (r < 0)
        return r;
    items = json_object_get(list, "items");
    if (json_array_size(items) > 0) {
        json_t *p = json_array_get(items, json_array_size(items) - 1);

        *pod =
            vx_xstrdup(json_string_value(json_object_get(json_object_get(p, "metadata"), "name")));
        *pod_obj = json_incref(p);
    }
    json_decref(list);
    return 0;
}

/* The target container's exit as the kubelet saw it: exit code or -1. */
static int target_exit(const json_t *pod)
{
    const json_t *cs = json_object_get(json_object_get(pod, "status"), "containerStatuses");
    size_t i;
    json_t *c;

    json_array_foreach(cs, i, c)
    {
        const json_t *t;

        if (!json_is_string(json_object_get(c, "name")) ||
            strcmp(json_string_value(json_object_get(c, "name")), "target") != 0)
            continue;
        t = json_object_get(json_object_get(c, "state"), "terminated");
        if (json_is_integer(json_object_get(t, "exitCode")))
            return (int)json_integer_value(json_object_get(t, "exitCode"));
    }
    return -1;
}

static int64_t get_i64(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static bool get_bool(const json_t *o, const char *k)
{
    return json_is_true(json_object_get(o, k));
}

/* The agent's report: the last line of the tracer's log starting with the mark. */
static int parse_report(struct vx_phase_ctx *ctx, const char *log, const json_t *pod,
                        struct vx_err **err)
{
    struct vx_pipeline_state *st = ctx->state;
    const char *line = NULL, *p = log;
    json_t *rep = NULL, *facts, *prof;
    struct vx_trace_profile *profile = NULL;
    struct vx_run_facts *f = NULL;
    char *doc = NULL;
    size_t len;
    int r;

    while ((p = strstr(p, AGENT_MARK)) != NULL) {
        if (p == log || p[-1] == '\n')
            line = p;
        p += strlen(AGENT_MARK);
    }
    if (!line)
        return vx_err_set(err, VX_E_SANDBOX, 0,
                          "kubernetes: the tracer sidecar printed no report (its log ends: "
                          "'%.300s')",
                          strlen(log) > 300 ? log + strlen(log) - 300 : log);
    line += strlen(AGENT_MARK);
    len = strcspn(line, "\n");
    r = vx_json_parse(line, len, &rep, err);
    if (r < 0)
        return vx_err_wrap(err, "kubernetes: the tracer's report");
    if (json_is_string(json_object_get(rep, "error"))) {
        r = vx_err_set(err, VX_E_SANDBOX, 0, "kubernetes: the tracer sidecar failed: %s",
                       json_string_value(json_object_get(rep, "error")));
        goto out;
    }
    facts = json_object_get(rep, "facts");
    prof = json_object_get(rep, "profile");
    if (!json_is_object(facts) || !json_is_object(prof)) {
        r = vx_err_set(err, VX_E_SANDBOX, 0,
                       "kubernetes: the tracer's report has no facts or no profile");
        goto out;
    }
    doc = vx_json_dump(prof);
    r = vx_trace_profile_parse(doc, strlen(doc), &profile, err);
    if (r < 0) {
        vx_err_wrap(err, "kubernetes: the tracer's profile");
        goto out;
    }
    f = vx_xcalloc(1, sizeof(*f));
    f->ran = get_bool(facts, "ran");
    f->stayed_up = get_bool(facts, "stayed_up");
    f->exit_code = (int)get_i64(facts, "exit_code");
    if (!f->stayed_up && f->exit_code < 0)
        f->exit_code = target_exit(pod);
    f->window_ms = get_i64(facts, "window_ms");
    f->window_wanted_ms = get_i64(facts, "window_wanted_ms");
    f->health_checked = get_bool(facts, "health_checked");
    f->health_ok = get_bool(facts, "health_ok");
    f->requests = get_i64(facts, "requests");
    f->endpoints = get_i64(facts, "endpoints");
    f->status_2xx = get_i64(facts, "status_2xx");
    f->status_4xx = get_i64(facts, "status_4xx");
    f->status_5xx = get_i64(facts, "status_5xx");
    f->test_script_ran = get_bool(facts, "test_script_ran");
    f->test_script_exit = (int)get_i64(facts, "test_script_exit");
    /* evidence as a local run stores it */
    r = vx_run_put_evidence(ctx, "profile", "application/json", doc, err);
    if (r == 0 && json_is_object(json_object_get(rep, "exercise"))) {
        char *ex = vx_json_dump(json_object_get(rep, "exercise"));

        r = vx_run_put_evidence(ctx, "exercise", "application/json", ex, err);
        free(ex);
    }
    if (r == 0 && json_is_object(json_object_get(rep, "test_script"))) {
        char *ts = vx_json_dump(json_object_get(rep, "test_script"));

        r = vx_run_put_evidence(ctx, "test-script", "application/json", ts, err);
        free(ts);
    }
    if (r < 0)
        goto out;
    vx_trace_profile_free(st->profile);
    free(st->facts);
    st->profile = profile;
    st->facts = f;
    profile = NULL;
    f = NULL;
out:
    vx_trace_profile_free(profile);
    free(f);
    free(doc);
    json_decref(rep);
    return r;
}

int vx_phase_sandbox_kube(struct vx_phase_ctx *ctx, const struct vx_run_cfg *rc,
                          struct vx_err **err)
{
    const struct vx_pipeline_config *pc = ctx->cfg;
    struct vx_kube_options ko = {0};
    struct vx_kube *kc = NULL;
    struct kube_run k = {.ctx = ctx, .rc = rc};
    json_t *job = NULL, *np = NULL, *created = NULL, *pod_obj = NULL;
    char *image = NULL, *pod = NULL, *tracer_log = NULL, *target_log = NULL, *doc = NULL;
    const char *rv;
    bool made_job = false, made_np = false;
    struct vx_err *e2 = NULL;
    int64_t wait_ms;
    int r;

    if (!pc->tracer_image)
        return vx_err_field(err, VX_E_INVALID, "tracer_image",
                            "the kubernetes sandbox needs --tracer-image (the vexxy image the "
                            "tracer sidecar runs)");
    r = pinned_ref(ctx, &image, err);
    if (r < 0)
        goto out;
    ko.kubeconfig = pc->kubeconfig;
    ko.context = pc->kube_context;
    ko.namespace_ = pc->kube_namespace ? pc->kube_namespace : "vexxy-sandbox";
    r = vx_kube_open(&ko, &kc, err);
    if (r < 0)
        goto out;
    k.ns = vx_kube_namespace(kc);
    k.name = vx_xasprintf("vx-%.40s", ctx->job->id);
    for (char *c = k.name; *c; c++)
        *c = (char)((*c >= 'A' && *c <= 'Z') ? *c - 'A' + 'a' : *c);
    k.selector = vx_xasprintf("vexxy.io/job-id=%s", ctx->job->id);

    np = netpol_object(&k);
    r = create_fresh(kc, "apis/networking.k8s.io/v1", "networkpolicies", k.name, np, NULL, err);
    if (r < 0)
        goto out;
    made_np = true;
    job = job_object(&k, image);
    r = create_fresh(kc, "apis/batch/v1", "jobs", k.name, job, &created, err);
    if (r < 0)
        goto out;
    made_job = true;
    rv =
        json_string_value(json_object_get(json_object_get(created, "metadata"), "resourceVersion"));
    vx_info("job %s: kubernetes Job %s/%s created on %s (%s), observed for %" PRId64 " ms",
            ctx->job->id, k.ns, k.name, vx_kube_server(kc), image, rc->duration_ms);

    wait_ms = rc->timeout_ms + DEADLINE_SLACK_S * 1000 + 30000;
    r = vx_kube_watch(kc, "apis/batch/v1", "jobs", k.selector, rv, wait_ms, on_job_event, &k,
                      stop_requested, err);
    if (r == -VX_E_CANCELLED)
        vx_info("job %s: cancelled while the Job ran: deleting it", ctx->job->id);
    if (r < 0)
        goto out;
    r = job_pod(kc, &k, &pod, &pod_obj, err);
    if (r < 0)
        goto out;
    if (!pod) {
        r = vx_err_set(err, VX_E_SANDBOX, 0, "kubernetes: Job %s ended (%s) without a pod", k.name,
                       k.reason ? k.reason : "no reason given");
        goto out;
    }
    r = vx_kube_logs(kc, pod, "target", TARGET_LOG_CAP, &target_log, err);
    if (r == 0)
        r = vx_kube_logs(kc, pod, "tracer", LOG_CAP, &tracer_log, err);
    if (r < 0)
        goto out;
    doc = vx_xasprintf("kubernetes Job %s/%s, pod %s: %s\n--- target ---\n%s\n", k.ns, k.name, pod,
                       k.reason ? k.reason : "", target_log);
    r = vx_run_put_evidence(ctx, "sandbox-log", "text/plain", doc, err);
    if (r < 0)
        goto out;
    r = parse_report(ctx, tracer_log, pod_obj, err);
    if (r < 0)
        goto out;
    vx_info("job %s: kubernetes run: %s; %" PRId64 " request(s), %" PRId64
            " endpoint(s); profile: %zu file(s), %s",
            ctx->job->id, k.reason ? k.reason : "ended", ctx->state->facts->requests,
            ctx->state->facts->endpoints, ctx->state->profile->n_files,
            ctx->state->profile->complete ? "complete" : "INCOMPLETE");
out:
    /* always: the Job (its pods first) and the policy go, whatever happened; the phase
     * ends when they are gone (bounded), so a retried analysis finds the name free */
    if (made_job && vx_kube_delete(kc, "apis/batch/v1", "jobs", k.name, "Foreground", &e2) < 0) {
        vx_warn("job %s: kubernetes: delete Job %s: %s", ctx->job->id, k.name, e2->msg);
        vx_err_free(&e2);
    } else if (made_job) {
        wait_gone(kc, "apis/batch/v1", "jobs", k.name);
    }
    if (made_np &&
        vx_kube_delete(kc, "apis/networking.k8s.io/v1", "networkpolicies", k.name, NULL, &e2) < 0) {
        vx_warn("job %s: kubernetes: delete NetworkPolicy %s: %s", ctx->job->id, k.name, e2->msg);
        vx_err_free(&e2);
    }
    vx_kube_close(kc);
    json_decref(job);
    json_decref(np);
    json_decref(created);
    json_decref(pod_obj);
    free(image);
    free(pod);
    free(tracer_log);
    free(target_log);
    free(doc);
    free(k.name);
    free(k.selector);
    free(k.reason);
    return r;
}
