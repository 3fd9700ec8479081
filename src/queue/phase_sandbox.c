/* phase_sandbox.c -- the `sandbox` and `trace` phases: run the image locked down, traced
 * from its first instruction, exercise it, and keep what was measured.
 *
 * DESIGN
 * sandbox: create the container (stopped before its first instruction) -> attach the
 * tracer (fanotify mark on the job's overlay, eBPF/uprobes on its cgroup v2) -> start ->
 * exercise (health check, crawl, fuzz: inside the container's network namespace) -> keep
 * observing until analysis_duration has passed since start (or the workload exited) ->
 * stop the workload (SIGTERM, then SIGKILL) -> stop the tracer, draining what is queued, so
 * the workload's shutdown is in the profile too -> destroy (container, cgroups, overlay).
 * Every exit path destroys what was created; a cancel reaches the loop within 200 ms.
 * The measured figures (started, stayed up, exit, window, health, requests, endpoints)
 * become the run facts the verdicts' confidence rests on.
 * trace: the profile is stored as evidence ("profile") with the sandbox's logs and the
 * exerciser's report; the in-memory profile stays in the state for the reach phase.
 * Functions named by findings (symbols) are counted: for each bound finding with symbols,
 * every code file of its package that is present is probed for each name.
 */
#include "common/setup.h"

#include <sys/stat.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/queue_int.h"
#include "sandbox/sandbox.h"     /* the container and the exerciser */
#include "trace/trace.h"         /* the tracer */
#include "reach/reach.h"         /* struct vx_run_facts */
#include "findings/findings.h"   /* symbols to count */
#include "inventory/inventory.h" /* which files hold them */
#include "image/image.h"         /* the image config */
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define DEFAULT_UID_SHIFT 0x10000000u

void vx_run_cfg_release(struct vx_run_cfg *rc)
{
    for (size_t i = 0; i < rc->n_command; i++)
        free(rc->command[i]);
    free(rc->command);
    for (size_t i = 0; i < rc->n_env; i++)
        free(rc->env[i]);
    free(rc->env);
    json_decref(rc->cfg);
}

static void add_port(struct vx_run_cfg *rc, int port)
{
    for (size_t i = 0; i < rc->n_ports; i++)
        if (rc->ports[i] == port)
            return;
    if (rc->n_ports < VX_RUN_MAX_PORTS && port > 0 && port < 65536)
        rc->ports[rc->n_ports++] = port;
}

/* The run settings: the job's normalised config over the profile's preset. */
int vx_run_cfg_load(const struct vx_phase_ctx *ctx, struct vx_run_cfg *rc, struct vx_err **err)
{
    const struct vx_profile *prof =
        vx_profile_get(ctx->job->profile ? ctx->job->profile : "standard");
    const struct vx_image_config *ic = &ctx->state->image->config;
    json_t *v;
    const char *key;
    size_t i;
    int r;

    if (!prof)
        prof = vx_profile_get("standard");
    if (ctx->job->config_json) {
        r = vx_json_parse(ctx->job->config_json, strlen(ctx->job->config_json), &rc->cfg, err);
        if (r < 0)
            return vx_err_wrap(err, "the job's config");
    } else {
        rc->cfg = json_object();
    }
    v = json_object_get(rc->cfg, "command");
    rc->command = vx_xcalloc(json_array_size(v) + 1, sizeof(char *));
    for (i = 0; i < json_array_size(v); i++)
        if (json_is_string(json_array_get(v, i)))
            rc->command[rc->n_command++] = vx_xstrdup(json_string_value(json_array_get(v, i)));
    v = json_object_get(rc->cfg, "environment");
    rc->env = vx_xcalloc(json_object_size(v) + 1, sizeof(char *));
    {
        json_t *val;

        json_object_foreach(v, key, val)
        {
            if (json_is_string(val))
                rc->env[rc->n_env++] = vx_xasprintf("%s=%s", key, json_string_value(val));
        }
    }
    for (i = 0; i < ic->n_exposed_ports; i++)
        add_port(rc, ic->exposed_ports[i]);
    v = json_object_get(rc->cfg, "ports");
    for (i = 0; i < json_array_size(v); i++)
        add_port(rc, (int)json_integer_value(json_array_get(v, i)));
    v = json_object_get(rc->cfg, "analysis_duration");
    rc->duration_ms = json_is_integer(v) ? json_integer_value(v) * 1000 : prof->duration_ms;
    v = json_object_get(rc->cfg, "test_timeout");
    rc->timeout_ms = json_is_integer(v) ? json_integer_value(v) * 1000 : 300000;
    if (rc->duration_ms > rc->timeout_ms)
        rc->duration_ms = rc->timeout_ms;
    v = json_object_get(rc->cfg, "health_check_timeout");
    rc->health_timeout_ms = json_is_integer(v) ? json_integer_value(v) * 1000 : 30000;
    rc->health_path = vx_json_str(rc->cfg, "health_check_path");
    if (!rc->health_path && rc->n_ports)
        rc->health_path = "/";
    v = json_object_get(rc->cfg, "enable_fuzzing");
    rc->fuzz = json_is_boolean(v) ? json_is_true(v) && prof->fuzz : prof->fuzz;
    rc->max_requests = prof->max_requests;
    rc->test_script = vx_json_str(rc->cfg, "test_script");
    if (rc->test_script && !*rc->test_script)
        rc->test_script = NULL;
    return 0;
}

/* The tester rootfs a test script needs, checked before anything is started: a job that
 * asked for its script is never run without it. *out is owned. */
static int tester_rootfs(const struct vx_phase_ctx *ctx, char **out, struct vx_err **err)
{
    const struct vx_pipeline_config *pc = ctx->cfg;
    char *path = pc && pc->tester_rootfs ? vx_xstrdup(pc->tester_rootfs)
                                         : vx_xasprintf("%s/tester/current/rootfs", ctx->data_dir);
    char *sh = vx_xasprintf("%s/bin/sh", path);
    struct stat st;
    int r = 0;

    if (lstat(sh, &st) < 0)
        r = vx_err_field(err, VX_E_UNAVAILABLE, "config.test_script",
                         "the job's test_script needs a tester rootfs and this worker has none "
                         "at '%s' (build it with scripts/build-tester.sh %s/tester, or give "
                         "--tester-rootfs); the workload was not run without the script",
                         path, ctx->data_dir);
    free(sh);
    if (r < 0)
        free(path);
    else
        *out = path;
    return r;
}

/* Symbols to count: (present code file of the package, symbol) for bound findings. */
void vx_run_symbol_probes(const struct vx_pipeline_state *st, const char **paths,
                          const char **names, size_t *n)
{
    const struct vx_findings *f = st->findings;
    const struct vx_inventory *inv = st->inventory;

    *n = 0;
    for (size_t i = 0; f && i < f->n; i++) {
        const struct vx_finding *fi = &f->items[i];

        if (fi->pkg < 0 || !fi->n_symbols)
            continue;
        for (size_t o = 0; o < inv->n_owners; o++) {
            const struct vx_inv_owner *ow = &inv->owners[o];
            const char *base;

            if ((long)ow->pkg != fi->pkg || !ow->present || ow->is_dir)
                continue;
            base = strrchr(ow->path, '/');
            base = base ? base + 1 : ow->path;
            if (!strstr(base, ".so") && !strstr(ow->path, "/bin/") && !strstr(ow->path, "/sbin/"))
                continue;
            for (size_t s = 0; s < fi->n_symbols && *n < VX_RUN_MAX_SYMBOLS; s++) {
                paths[*n] = ow->path;
                names[*n] = fi->symbols[s];
                (*n)++;
            }
        }
    }
}

static bool stop_requested(void *arg)
{
    const struct vx_phase_ctx *ctx = arg;

    return ctx->should_stop && ctx->should_stop(ctx);
}

int vx_run_put_evidence(struct vx_phase_ctx *ctx, const char *type, const char *media,
                        const char *doc, struct vx_err **err)
{
    if (!ctx->store || !doc)
        return 0;
    return vx_store_evidence_put(ctx->store, ctx->job->id, type, media, doc, strlen(doc), NULL,
                                 NULL, err);
}

int vx_phase_sandbox(struct vx_phase_ctx *ctx, struct vx_err **err)
{
    struct vx_pipeline_state *st = ctx->state;
    const struct vx_pipeline_config *pc = ctx->cfg;
    struct vx_run_cfg rc = {0};
    struct vx_sandbox_config sc = {0};
    struct vx_sandbox *sb = NULL;
    struct vx_trace_engine *engine = NULL;
    struct vx_tracer *tracer = NULL;
    struct vx_trace_opts to = {0};
    struct vx_trace_target tt = {0};
    struct vx_trace_profile *profile = NULL;
    struct vx_exercise_config ec = {0};
    struct vx_exercise_report rep = {0};
    struct vx_sandbox_exit ex = {0};
    struct vx_run_facts *facts = NULL;
    const char *sym_paths[VX_RUN_MAX_SYMBOLS], *sym_names[VX_RUN_MAX_SYMBOLS];
    char *state_dir = NULL, *name = NULL, *jobs = NULL, *doc = NULL, *tester = NULL;
    struct vx_test_script_result tsr = {0};
    struct vx_exercise_report hrep = {0};
    bool health_first = false;
    int64_t started = 0, deadline;
    bool running = true, exercised = false;
    struct vx_err *e2 = NULL;
    int r;

    if (!st || !st->image || !st->rootfs || !st->job_dir)
        return vx_err_set(err, VX_E_INTERNAL, 0, "the sandbox phase runs after the image phase");
    r = vx_run_cfg_load(ctx, &rc, err);
    if (r < 0)
        goto out;
    if (pc && pc->sandbox && strcmp(pc->sandbox, "kubernetes") == 0) {
        r = vx_phase_sandbox_kube(ctx, &rc, err);
        goto out;
    }
    if (rc.test_script && (r = tester_rootfs(ctx, &tester, err)) < 0)
        goto out;

    /* the runtime reaches the rootfs from inside the user namespace: o+x on the way down */
    jobs = vx_xasprintf("%s/jobs", ctx->data_dir);
    (void)chmod(ctx->data_dir, 0711);
    (void)chmod(jobs, 0711);
    (void)chmod(st->job_dir, 0711);
    state_dir = vx_xasprintf("%s/sandbox", ctx->data_dir);
    r = vx_fs_mkdirs(state_dir, 0711, err);
    if (r < 0)
        goto out;
    (void)chmod(state_dir, 0711);
    /* One name per attempt (every return to the queue increments retry_count): a worker
     * killed mid-run leaves its workload, runtime state and cgroups behind until its own
     * reaper runs, and a retry on the same host must neither join those cgroups nor be
     * killed by that reaper's `runtime delete --force`. */
    name = ctx->job->retry_count > 0
               ? vx_xasprintf("vx-%.40s-r%d", ctx->job->id, ctx->job->retry_count)
               : vx_xasprintf("vx-%.40s", ctx->job->id);
    sc.runtime = pc && pc->runtime ? pc->runtime : "runc";
    sc.state_dir = state_dir;
    sc.job_dir = st->job_dir;
    sc.name = name;
    sc.rootfs = st->rootfs;
    sc.image = &st->image->config;
    sc.command = rc.n_command ? rc.command : NULL;
    sc.n_command = rc.n_command;
    sc.env = rc.env;
    sc.n_env = rc.n_env;
    sc.uid_shift = pc && pc->uid_shift ? pc->uid_shift : DEFAULT_UID_SHIFT;
    sc.id_range = 65536;
    sc.limits.wall_ms = rc.timeout_ms;
    r = vx_sandbox_create(&sc, &sb, err);
    if (r < 0) {
        vx_err_wrap(err, "sandbox");
        goto out;
    }

    /* the tracer is armed before the workload's first instruction */
    engine = pc && pc->trace_engine ? pc->trace_engine : NULL;
    if (!engine) {
        r = vx_trace_engine_new(&engine, err);
        if (r < 0)
            goto out;
    }
    vx_run_symbol_probes(st, sym_paths, sym_names, &to.n_symbols);
    to.backends = pc && pc->tracers ? pc->tracers : "auto";
    to.symbol_paths = sym_paths;
    to.symbol_names = sym_names;
    tt.root = vx_sandbox_rootfs(sb);
    tt.cgroup_v2 = vx_sandbox_cgroup_v2(sb);
    tt.pid = vx_sandbox_pid(sb);
    r = vx_tracer_attach(engine, &to, &tt, &tracer, err);
    if (r < 0) {
        vx_err_wrap(err, "tracer");
        goto out;
    }
    r = vx_sandbox_start(sb, err);
    if (r < 0)
        goto out;
    started = vx_mono_ms();
    vx_info("job %s: workload started in sandbox %s (pid %d), observed for %" PRId64 " ms",
            ctx->job->id, name, (int)vx_sandbox_pid(sb), rc.duration_ms);

    /* exercise within the window (DESIGN.md §2): health check -> the client's test script
     * -> crawl/fuzz with what is left of the window */
    if (rc.n_ports) {
        ec.netns_fd = vx_sandbox_netns_fd(sb);
        ec.ports = rc.ports;
        ec.n_ports = rc.n_ports;
        ec.health_path = rc.health_path;
        ec.health_timeout_ms =
            rc.health_timeout_ms < rc.duration_ms ? rc.health_timeout_ms : rc.duration_ms;
        ec.fuzz = rc.fuzz;
        ec.max_requests = rc.max_requests;
        ec.budget_ms = rc.duration_ms;
        ec.seed = 0x5eed;
        ec.should_stop = stop_requested;
        ec.stop_arg = ctx;
    }
    if (rc.test_script) {
        int64_t left;

        if (rc.n_ports) {
            ec.health_only = true;
            r = vx_exercise_run(&ec, &hrep, err);
            if (r < 0)
                goto out;
            ec.health_only = false;
            health_first = true;
        }
        /* the script may use the whole wall limit, less a margin to stop and collect */
        left = rc.timeout_ms - (vx_mono_ms() - started) - 5000;
        r = vx_sandbox_run_test_script(sb, tester, rc.test_script, rc.ports, rc.n_ports,
                                       left > 1000 ? left : 1000, state_dir, st->job_dir,
                                       stop_requested, ctx, &tsr, err);
        if (r < 0) {
            vx_err_wrap(err, "test script");
            goto out;
        }
        vx_info("job %s: test script exited %d%s after %" PRId64 " ms", ctx->job->id, tsr.exit_code,
                tsr.timed_out ? " (timed out)" : "", tsr.ran_ms);
    }
    if (rc.n_ports && !stop_requested(ctx)) {
        int64_t left = started + rc.duration_ms - vx_mono_ms();

        /* at least a short crawl even when the script used the window up */
        ec.budget_ms = left > 2000 ? left : 2000;
        r = vx_exercise_run(&ec, &rep, err);
        if (r < 0)
            goto out;
        exercised = true;
        if (health_first) {
            /* the first check is the one that says when the workload came up */
            rep.health_ok = hrep.health_ok;
            rep.health_ms = hrep.health_ms;
            free(rep.health_detail);
            rep.health_detail = hrep.health_detail;
            hrep.health_detail = NULL;
        }
    }
    /* observe the rest of the window (or until the workload exits / a cancel) */
    deadline = started + rc.duration_ms;
    while (running && vx_mono_ms() < deadline && !stop_requested(ctx)) {
        int64_t left = deadline - vx_mono_ms();

        r = vx_sandbox_wait(sb, left < 200 ? left : 200, &running, err);
        if (r < 0)
            goto out;
    }
    if (stop_requested(ctx)) {
        r = vx_err_set(err, VX_E_CANCELLED, 0, "stopped while the workload ran");
        goto out;
    }
    /* the loop may not have run at all (the exerciser used the whole window) */
    r = vx_sandbox_wait(sb, 0, &running, err);
    if (r < 0)
        goto out;
    r = vx_sandbox_stop(sb, 2000, &ex, err);
    if (r < 0)
        goto out;
    r = vx_tracer_stop(tracer, &profile, err);
    tracer = NULL;
    if (r < 0)
        goto out;

    facts = vx_xcalloc(1, sizeof(*facts));
    facts->ran = true;
    facts->stayed_up = running;
    facts->exit_code = running ? -1 : ex.exited ? ex.exit_code : 128 + ex.signal;
    facts->window_ms = running ? vx_mono_ms() - started : ex.ran_ms;
    facts->window_wanted_ms = rc.duration_ms;
    facts->health_checked = exercised && rc.health_path;
    facts->health_ok = exercised && rep.health_ok;
    facts->requests = rep.requests;
    facts->endpoints = (int64_t)rep.n_endpoints;
    facts->status_2xx = rep.status_counts[2];
    facts->status_4xx = rep.status_counts[4];
    facts->status_5xx = rep.status_counts[5];
    facts->test_script_ran = tsr.ran;
    facts->test_script_exit = tsr.ran ? (tsr.timed_out ? -1 : tsr.exit_code) : 0;
    vx_info("job %s: workload %s after %" PRId64 " ms; %" PRId64 " request(s), %zu endpoint(s); "
            "profile: %zu file(s), %s",
            ctx->job->id, running ? "still up" : "exited", facts->window_ms, rep.requests,
            rep.n_endpoints, profile->n_files, profile->complete ? "complete" : "INCOMPLETE");

    /* evidence: sandbox output, exerciser report, the profile */
    doc = vx_xasprintf("exit: %s %d%s%s\n--- stdout ---\n%s\n--- stderr ---\n%s\n",
                       running     ? "stopped"
                       : ex.exited ? "code"
                                   : "signal",
                       running     ? 0
                       : ex.exited ? ex.exit_code
                                   : ex.signal,
                       ex.oom_killed ? " (oom killed)" : "", ex.timed_out ? " (timed out)" : "",
                       vx_sandbox_stdout(sb), vx_sandbox_stderr(sb));
    r = vx_run_put_evidence(ctx, "sandbox-log", "text/plain", doc, err);
    free(doc);
    doc = NULL;
    if (r == 0 && exercised) {
        doc = vx_exercise_json(&rep);
        r = vx_run_put_evidence(ctx, "exercise", "application/json", doc, err);
        free(doc);
        doc = NULL;
    }
    if (r == 0 && tsr.ran) {
        json_t *o =
            json_pack("{s:b,s:i,s:i,s:b,s:I,s:s}", "ran", tsr.ran, "exit_code", tsr.exit_code,
                      "signal", tsr.signal, "timed_out", tsr.timed_out, "ran_ms",
                      (json_int_t)tsr.ran_ms, "output", tsr.output ? tsr.output : "");

        doc = vx_json_dump(o);
        json_decref(o);
        r = vx_run_put_evidence(ctx, "test-script", "application/json", doc, err);
        free(doc);
        doc = NULL;
    }
    if (r == 0) {
        doc = vx_trace_profile_json(profile);
        r = vx_run_put_evidence(ctx, "profile", "application/json", doc, err);
        free(doc);
        doc = NULL;
    }
    if (r < 0)
        goto out;
    vx_trace_profile_free(st->profile);
    free(st->facts);
    st->profile = profile;
    st->facts = facts;
    profile = NULL;
    facts = NULL;
    r = 0;
out:
    if (tracer) {
        struct vx_trace_profile *p = NULL;

        if (vx_tracer_stop(tracer, &p, &e2) < 0)
            vx_err_free(&e2);
        vx_trace_profile_free(p);
    }
    if (sb && vx_sandbox_destroy(sb, &e2) < 0) {
        vx_warn("job %s: sandbox cleanup: %s", ctx->job->id, e2->msg);
        vx_err_free(&e2);
    }
    if (engine && !(pc && pc->trace_engine))
        vx_trace_engine_free(engine);
    vx_trace_profile_free(profile);
    free(facts);
    vx_exercise_report_release(&rep);
    vx_exercise_report_release(&hrep);
    vx_test_script_result_release(&tsr);
    free(tester);
    vx_run_cfg_release(&rc);
    free(state_dir);
    free(name);
    free(jobs);
    return r;
}

/* The trace phase: the profile was collected while the sandbox ran; say what it holds. A
 * profile that lost events is kept and flagged (the verdicts fail closed on it). */
int vx_phase_trace(struct vx_phase_ctx *ctx, struct vx_err **err)
{
    const struct vx_trace_profile *p = ctx->state ? ctx->state->profile : NULL;

    if (!p)
        return vx_err_set(err, VX_E_INTERNAL, 0, "the trace phase runs after the sandbox");
    for (size_t i = 0; i < p->n_backends; i++)
        vx_info("job %s: tracer %s: %s, %" PRId64 " event(s), %" PRId64 " lost%s%s", ctx->job->id,
                p->backends[i].name, p->backends[i].ran ? "ran" : "did not run",
                p->backends[i].events, p->backends[i].lost, p->backends[i].error ? ": " : "",
                p->backends[i].error ? p->backends[i].error : "");
    if (!p->complete)
        vx_warn("job %s: the profile is incomplete: verdicts that need absence of execution "
                "stay under_investigation",
                ctx->job->id);
    return 0;
}
