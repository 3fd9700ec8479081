/* sandbox.c -- `vexxy sandbox run|probe|reap|agent`: the sandbox phase's container on its own.
 *
 * run    IMAGE|ROOTFS: an image is pulled into the blob cache and unpacked with its
 *        ownership shifted for the user namespace into a scratch dir under
 *        <state-dir>/run/<name>; a directory is used as the rootfs as is (its ownership must
 *        already be shifted, or --no-userns). Then create -> start -> wait (the wall clock)
 *        -> stop -> destroy, printing the exit, the accounting and the captured output.
 *        SIGINT/SIGTERM stop the container (SIGTERM, SIGKILL after 1 s) and clean up.
 *        --test-script FILE: once the workload's ports accept connections, the script runs in
 *        the tester container (vx_sandbox_run_test_script) and the workload is stopped after
 *        it; its exit and output are printed too and decide the exit status.
 * probe  what the host lacks for sandboxes.
 * reap   what crashed runs left: vx_sandbox_reap(), then the scratch dirs of dead runs.
 * agent  the Kubernetes tracer sidecar (agent.c).
 * Exit status: 0 done (run: the workload exited 0), 1 the workload failed (non-zero exit,
 * killed, timed out), 2 error.
 */
#include "common/setup.h"

#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/alloc.h"
#include "common/buf.h" /* the test script's text */
#include "common/err.h"
#include "common/fs.h"
#include "common/json.h" /* --json output */
#include "common/util.h"
#include "image/image.h"
#include "sandbox/sandbox.h"

#define DEFAULT_UID_SHIFT 0x10000000u
#define MAX_ARGS          256

static const char usage[] =
    "usage: vexxy sandbox run IMAGE|ROOTFS [--command ARG]... [--env K=V]... [--memory BYTES]\n"
    "                         [--pids N] [--cpu MILLICPUS] [--timeout SECONDS] [--no-userns]\n"
    "                         [--uid-shift N] [--runtime runc|crun] [--state-dir DIR]\n"
    "                         [--cache-dir DIR] [--pid-file FILE] [--json]\n"
    "                         [--test-script FILE [--tester-rootfs DIR] [--port N]...\n"
    "                          [--test-timeout SECONDS]]\n"
    "       vexxy sandbox probe [--runtime runc|crun]\n"
    "       vexxy sandbox reap [--state-dir DIR]\n"
    "       vexxy sandbox agent --duration SECONDS [...]   (the Kubernetes tracer sidecar;\n"
    "                         'vexxy sandbox agent --help' lists its options)\n"
    "run a command or an image's Entrypoint+Cmd locked down under an OCI runtime (debugging).";

struct run_opts {
    char *command[MAX_ARGS];
    size_t n_command;
    char *env[MAX_ARGS];
    size_t n_env;
    int64_t memory, pids, cpu, timeout_s;
    bool no_userns, json;
    uint32_t uid_shift;
    const char *runtime, *state_dir, *cache_dir, *pid_file;
    const char *test_script, *tester_rootfs;
    int ports[MAX_ARGS];
    size_t n_ports;
    int64_t test_timeout_s;
};

static char *state_dir_default(void)
{
    char *d = vx_cmd_default_data_dir(), *s = vx_xasprintf("%s/sandbox", d);

    free(d);
    return s;
}

/* The scratch dir of a run remembers its owner ("<pid> <start>") for `sandbox reap`. */
static uint64_t proc_start(pid_t pid)
{
    char path[64], buf[1024], *p;
    FILE *f;
    unsigned long long v = 0;
    int field = 2;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (!f)
        return 0;
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    p = strrchr(buf, ')');
    for (p = p ? p + 1 : buf + strlen(buf); *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field == 22)
        v = strtoull(p, NULL, 10);
    return v;
}

static int write_owner(const char *dir)
{
    char *p = vx_xasprintf("%s/owner", dir);
    FILE *f = fopen(p, "we");
    int rc = -1;

    if (f) {
        fprintf(f, "%d %llu\n", (int)getpid(), (unsigned long long)proc_start(getpid()));
        rc = fclose(f) == 0 ? 0 : -1;
    }
    free(p);
    return rc;
}

static bool owner_alive(const char *dir)
{
    char *p = vx_xasprintf("%s/owner", dir);
    FILE *f = fopen(p, "re");
    int pid = 0;
    unsigned long long start = 0;
    bool alive = false;

    free(p);
    if (!f)
        return false;
    if (fscanf(f, "%d %llu", &pid, &start) == 2 && pid > 0)
        alive = proc_start(pid) == start && start != 0;
    fclose(f);
    return alive;
}

static json_t *test_script_json(const struct vx_test_script_result *tr)
{
    json_t *o = json_object();

    json_object_set_new(o, "ran", json_boolean(tr->ran));
    json_object_set_new(o, "exit_code", json_integer(tr->exit_code));
    json_object_set_new(o, "signal", json_integer(tr->signal));
    json_object_set_new(o, "timed_out", json_boolean(tr->timed_out));
    json_object_set_new(o, "ran_ms", json_integer(tr->ran_ms));
    json_object_set_new(o, "output", json_string(tr->output ? tr->output : ""));
    return o;
}

static void print_exit_json(const struct vx_sandbox_exit *ex, const char *out, const char *err,
                            const char *cg, const int64_t t[5],
                            const struct vx_test_script_result *tr)
{
    json_t *o = json_object(), *e = json_object(), *tm = json_object();
    char *text;

    json_object_set_new(e, "exited", json_boolean(ex->exited));
    json_object_set_new(e, "exit_code", json_integer(ex->exit_code));
    json_object_set_new(e, "signal", json_integer(ex->signal));
    json_object_set_new(e, "oom_killed", json_boolean(ex->oom_killed));
    json_object_set_new(e, "timed_out", json_boolean(ex->timed_out));
    json_object_set_new(e, "pids_limited", json_boolean(ex->pids_limited));
    json_object_set_new(e, "cpu_usec", json_integer(ex->cpu_usec));
    json_object_set_new(e, "memory_peak_bytes", json_integer(ex->memory_peak_bytes));
    json_object_set_new(e, "ran_ms", json_integer(ex->ran_ms));
    json_object_set_new(o, "exit", e);
    /* jansson refuses invalid UTF-8: such output is left out of the document */
    json_object_set_new(o, "stdout", json_string(out));
    json_object_set_new(o, "stderr", json_string(err));
    json_object_set_new(o, "cgroup_v2", json_string(cg));
    json_object_set_new(tm, "prepare", json_integer(t[0]));
    json_object_set_new(tm, "create", json_integer(t[1]));
    json_object_set_new(tm, "start", json_integer(t[2]));
    json_object_set_new(tm, "stop", json_integer(t[3]));
    json_object_set_new(tm, "destroy", json_integer(t[4]));
    json_object_set_new(o, "timings_ms", tm);
    if (tr)
        json_object_set_new(o, "test_script", test_script_json(tr));
    text = vx_json_dump(o);
    printf("%s\n", text);
    free(text);
    json_decref(o);
}

static void print_exit_human(const struct vx_sandbox_exit *ex, const char *out, const char *err,
                             const struct vx_test_script_result *tr)
{
    printf("exited       %s\n", ex->exited ? "yes" : "no (stopped)");
    printf("exit code    %d\n", ex->exit_code);
    printf("signal       %d\n", ex->signal);
    printf("oom killed   %s\n", ex->oom_killed ? "yes" : "no");
    printf("timed out    %s\n", ex->timed_out ? "yes" : "no");
    printf("pids limited %s\n", ex->pids_limited ? "yes" : "no");
    printf("cpu          %" PRId64 " us\n", ex->cpu_usec);
    printf("memory peak  %" PRId64 " bytes\n", ex->memory_peak_bytes);
    printf("ran          %" PRId64 " ms\n", ex->ran_ms);
    printf("--- stdout\n%s", out);
    printf("--- stderr\n%s", err);
    if (tr) {
        printf("--- test script: exit %d%s, signal %d, %" PRId64 " ms\n%s", tr->exit_code,
               tr->timed_out ? " (timed out)" : "", tr->signal, tr->ran_ms,
               tr->output ? tr->output : "");
    }
}

/* Waits for the container, stopping it on SIGINT/SIGTERM (blocked, polled). */
static int wait_or_signal(struct vx_sandbox *sb, struct vx_err **err)
{
    sigset_t set;
    struct timespec zero = {0, 0};
    bool running = true;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    while (running) {
        int rc = vx_sandbox_wait(sb, 100, &running, err);

        if (rc < 0)
            return rc;
        /* the monitor kills at the wall clock: this loop only adds the signals */
        if (running && sigtimedwait(&set, NULL, &zero) > 0)
            return 1; /* cancelled */
    }
    return 0;
}

/* The test script's text (at most 1 MiB); caller frees. */
static char *read_script(const char *path, struct vx_err **err)
{
    struct vx_buf b = VX_BUF_INIT(1 << 20);
    char chunk[8192];
    FILE *f = fopen(path, "re");
    size_t n;

    if (!f) {
        vx_err_set(err, VX_E_INVALID, errno, "test script '%s': %s", path, strerror(errno));
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (vx_buf_add(&b, chunk, n) < 0) {
            vx_err_set(err, VX_E_INVALID, 0, "test script '%s': over 1 MiB", path);
            fclose(f);
            vx_buf_release(&b);
            return NULL;
        }
    fclose(f);
    return vx_buf_detach(&b, NULL);
}

/* The workload is up when its first port accepts a connection (the health check, TCP only,
 * no crawl: it waits for every port given, and a workload need not serve them all); without
 * ports the script runs at once. */
static void wait_ports(struct vx_sandbox *sb, const int *ports, size_t n_ports)
{
    struct vx_exercise_config ec = {.netns_fd = vx_sandbox_netns_fd(sb),
                                    .ports = ports,
                                    .n_ports = 1,
                                    .health_timeout_ms = 30000,
                                    .max_requests = 1,
                                    .budget_ms = 1};
    struct vx_exercise_report rep = {0};
    struct vx_err *err = NULL;

    if (n_ports == 0)
        return;
    if (vx_exercise_run(&ec, &rep, &err) < 0) {
        fprintf(stderr, "vexxy sandbox run: health check: %s\n", err->msg);
        vx_err_free(&err);
    } else if (!rep.health_ok) {
        fprintf(stderr, "vexxy sandbox run: health check: %s\n",
                rep.health_detail ? rep.health_detail : "failed");
    }
    vx_exercise_report_release(&rep);
}

static char *tester_rootfs_default(void)
{
    char *d = vx_cmd_default_data_dir(), *s = vx_xasprintf("%s/tester/current/rootfs", d);

    free(d);
    return s;
}

static int cmd_run(const char *target, struct run_opts *o)
{
    struct vx_image_source src = {0};
    struct vx_image *img = NULL;
    struct vx_image_config empty = {0};
    struct vx_unpack_opts uo = {0};
    struct vx_unpack_report rep = {0};
    struct vx_sandbox_config cfg = {0};
    struct vx_sandbox *sb = NULL;
    struct vx_sandbox_exit ex = {0};
    struct vx_err *err = NULL;
    struct stat st;
    char *state_own = NULL, *scratch = NULL, *rootfs_own = NULL, *job = NULL, *cache_own = NULL;
    char name[32], hex[9];
    const char *rootfs;
    uint8_t rnd[4];
    int64_t t[5] = {0}, t0;
    char *out_text = NULL, *err_text = NULL, *cg = NULL, *script = NULL, *tester_own = NULL;
    struct vx_test_script_result tr = {0};
    int rc = VX_EXIT_ERROR, w, w2;
    sigset_t set;

    /* SIGINT/SIGTERM are polled by wait_or_signal (blocked before any thread starts) */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);

    t0 = vx_mono_ms();
    vx_random_bytes(rnd, sizeof(rnd));
    vx_hex(rnd, sizeof(rnd), hex);
    snprintf(name, sizeof(name), "vx-run-%s", hex);
    if (!o->state_dir)
        o->state_dir = state_own = state_dir_default();
    if (o->state_dir[0] != '/') {
        fprintf(stderr, "vexxy sandbox run: --state-dir must be an absolute path\n");
        goto out;
    }
    scratch = vx_xasprintf("%s/run/%s", o->state_dir, name);
    if (vx_fs_mkdirs(scratch, 0711, &err) < 0 || chmod(scratch, 0711) < 0)
        goto fail;
    {
        /* the runtime reaches the rootfs from inside the user namespace: o+x on the way */
        char *runs = vx_xasprintf("%s/run", o->state_dir);

        (void)chmod(o->state_dir, 0711);
        (void)chmod(runs, 0711);
        free(runs);
    }
    if (write_owner(scratch) < 0) {
        vx_err_set(&err, VX_E_IO, errno, "cannot write '%s/owner'", scratch);
        goto fail;
    }
    job = vx_xasprintf("%s/job", scratch);
    if (mkdir(job, 0711) < 0 || chmod(job, 0711) < 0) {
        vx_err_set(&err, VX_E_IO, errno, "mkdir '%s': %s", job, strerror(errno));
        goto fail;
    }
    if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) {
        rootfs = target;
        cfg.image = &empty;
    } else {
        const char *cache = o->cache_dir;

        if (vx_image_source_parse(target, &src, &err) < 0)
            goto fail;
        if (!cache) {
            char *d = vx_cmd_default_data_dir();

            cache = cache_own = vx_xasprintf("%s/blobs", d);
            free(d);
        }
        if (vx_fs_mkdirs(cache, 0700, &err) < 0)
            goto fail;
        {
            struct vx_image_opts io = {.cache_dir = cache};

            if (vx_image_pull(&src, NULL, &io, &img, &err) < 0)
                goto fail;
        }
        rootfs = rootfs_own = vx_xasprintf("%s/rootfs", scratch);
        uo.keep_ownership = true;
        uo.uid_shift = o->no_userns ? 0 : o->uid_shift;
        uo.id_range = 65536;
        if (vx_image_unpack(img, rootfs_own, &uo, &rep, &err) < 0)
            goto fail;
        cfg.image = &img->config;
    }
    if (rootfs[0] != '/') {
        vx_err_set(&err, VX_E_INVALID, 0, "ROOTFS must be an absolute path, not '%s'", rootfs);
        goto fail;
    }
    t[0] = vx_mono_ms() - t0;

    cfg.runtime = o->runtime;
    cfg.state_dir = o->state_dir;
    cfg.job_dir = job;
    cfg.name = name;
    cfg.rootfs = rootfs;
    cfg.command = o->n_command ? o->command : NULL;
    cfg.n_command = o->n_command;
    cfg.env = o->env;
    cfg.n_env = o->n_env;
    cfg.uid_shift = o->no_userns ? 0 : o->uid_shift;
    cfg.id_range = 65536;
    cfg.allow_no_userns = o->no_userns;
    cfg.limits.memory_bytes = o->memory;
    cfg.limits.pids_max = o->pids;
    cfg.limits.cpu_millis = o->cpu;
    cfg.limits.wall_ms = o->timeout_s * 1000;

    t0 = vx_mono_ms();
    if (vx_sandbox_create(&cfg, &sb, &err) < 0)
        goto fail;
    t[1] = vx_mono_ms() - t0;
    t0 = vx_mono_ms();
    if (vx_sandbox_start(sb, &err) < 0)
        goto fail;
    t[2] = vx_mono_ms() - t0;
    if (o->pid_file) {
        FILE *f = fopen(o->pid_file, "we");

        if (f) {
            fprintf(f, "%d\n", (int)vx_sandbox_pid(sb));
            fclose(f);
        }
    }
    if (o->test_script) {
        const int *ports = o->ports;
        size_t n_ports = o->n_ports;

        if (!(script = read_script(o->test_script, &err)))
            goto fail;
        if (!o->tester_rootfs)
            o->tester_rootfs = tester_own = tester_rootfs_default();
        if (n_ports == 0 && cfg.image) {
            ports = cfg.image->exposed_ports;
            n_ports = cfg.image->n_exposed_ports;
        }
        wait_ports(sb, ports, n_ports);
        if (vx_sandbox_run_test_script(sb, o->tester_rootfs, script, ports, n_ports,
                                       o->test_timeout_s * 1000, o->state_dir, job, NULL, NULL,
                                       &tr, &err) < 0)
            goto fail;
        w = 0; /* the script is done: the workload has served its purpose */
    } else if ((w = wait_or_signal(sb, &err)) < 0) {
        goto fail;
    }
    t0 = vx_mono_ms();
    if (vx_sandbox_stop(sb, 1000, &ex, &err) < 0)
        goto fail;
    t[3] = vx_mono_ms() - t0;
    out_text = vx_xstrdup(vx_sandbox_stdout(sb));
    err_text = vx_xstrdup(vx_sandbox_stderr(sb));
    cg = vx_xstrdup(vx_sandbox_cgroup_v2(sb));
    t0 = vx_mono_ms();
    w2 = vx_sandbox_destroy(sb, &err);
    sb = NULL;
    t[4] = vx_mono_ms() - t0;
    if (w2 < 0)
        goto fail;
    if (o->json)
        print_exit_json(&ex, out_text, err_text, cg, t, o->test_script ? &tr : NULL);
    else
        print_exit_human(&ex, out_text, err_text, o->test_script ? &tr : NULL);
    fflush(stdout);
    if (o->test_script)
        rc = tr.exit_code == 0 && !tr.timed_out ? VX_EXIT_OK : VX_EXIT_NEGATIVE;
    else
        rc = ex.exited && ex.exit_code == 0 && w == 0 ? VX_EXIT_OK : VX_EXIT_NEGATIVE;
    goto out;
fail:
    fprintf(stderr, "vexxy sandbox run: %s\n", err ? err->msg : "failed");
    vx_err_free(&err);
    rc = VX_EXIT_ERROR;
out:
    if (sb && vx_sandbox_destroy(sb, &err) < 0) {
        fprintf(stderr, "vexxy sandbox run: cleanup: %s\n", err->msg);
        vx_err_free(&err);
        rc = VX_EXIT_ERROR;
    }
    if (scratch && vx_fs_remove_tree(scratch, &err) < 0) {
        fprintf(stderr, "vexxy sandbox run: cleanup: %s\n", err->msg);
        vx_err_free(&err);
    }
    vx_unpack_report_release(&rep);
    vx_image_free(img);
    vx_image_source_release(&src);
    free(state_own);
    free(scratch);
    free(rootfs_own);
    free(job);
    free(cache_own);
    free(out_text);
    free(err_text);
    free(cg);
    free(script);
    free(tester_own);
    vx_test_script_result_release(&tr);
    return rc;
}

static int cmd_reap(const char *state_dir)
{
    struct vx_err *err = NULL;
    size_t n = 0, scratch = 0;
    char *own = NULL, *runs;
    DIR *d;
    struct dirent *de;
    int rc = VX_EXIT_OK;

    if (!state_dir)
        state_dir = own = state_dir_default();
    if (vx_sandbox_reap(state_dir, &n, &err) < 0) {
        fprintf(stderr, "vexxy sandbox reap: %s\n", err->msg);
        vx_err_free(&err);
        rc = VX_EXIT_ERROR;
    }
    /* then the scratch dirs of dead `sandbox run`s whose sandboxes are gone */
    runs = vx_xasprintf("%s/run", state_dir);
    if ((d = opendir(runs))) {
        while ((de = readdir(d))) {
            char *dir, *rec;

            if (de->d_name[0] == '.')
                continue;
            dir = vx_xasprintf("%s/%s", runs, de->d_name);
            rec = vx_xasprintf("%s/vexxy/%s.json", state_dir, de->d_name);
            if (!owner_alive(dir) && access(rec, F_OK) != 0) {
                if (vx_fs_remove_tree(dir, &err) < 0) {
                    fprintf(stderr, "vexxy sandbox reap: %s\n", err->msg);
                    vx_err_free(&err);
                    rc = VX_EXIT_ERROR;
                } else {
                    scratch++;
                }
            }
            free(dir);
            free(rec);
        }
        closedir(d);
    }
    printf("reaped %zu sandbox(es), %zu scratch dir(s)\n", n, scratch);
    free(runs);
    free(own);
    return rc;
}

static int parse_i64_opt(const char *name, const char *v, int64_t min, int64_t max, int64_t *out)
{
    if (vx_parse_i64(v, min, max, out) < 0) {
        fprintf(stderr,
                "vexxy sandbox: %s must be an integer in [%" PRId64 ", %" PRId64 "], not '%s'\n",
                name, min, max, v);
        return -1;
    }
    return 0;
}

int vx_cmd_sandbox(int argc, char **argv)
{
    static const struct option lo[] = {
        {"command", required_argument, NULL, 'c'},
        {"env", required_argument, NULL, 'e'},
        {"memory", required_argument, NULL, 'm'},
        {"pids", required_argument, NULL, 'p'},
        {"cpu", required_argument, NULL, 'C'},
        {"timeout", required_argument, NULL, 't'},
        {"no-userns", no_argument, NULL, 'N'},
        {"uid-shift", required_argument, NULL, 'u'},
        {"runtime", required_argument, NULL, 'r'},
        {"state-dir", required_argument, NULL, 's'},
        {"cache-dir", required_argument, NULL, 'k'},
        {"pid-file", required_argument, NULL, 'P'},
        {"json", no_argument, NULL, 'j'},
        {"test-script", required_argument, NULL, 'T'},
        {"tester-rootfs", required_argument, NULL, 'R'},
        {"port", required_argument, NULL, 'o'},
        {"test-timeout", required_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct run_opts o = {.uid_shift = DEFAULT_UID_SHIFT, .timeout_s = 300, .test_timeout_s = 60};
    const char *verb;
    int64_t v;
    int c;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("%s\n", usage);
        return argc < 2 ? VX_EXIT_ERROR : VX_EXIT_OK;
    }
    verb = argv[1];
    if (!strcmp(verb, "agent"))
        return vx_cmd_sandbox_agent(argc - 1, argv + 1);
    if (strcmp(verb, "run") && strcmp(verb, "probe") && strcmp(verb, "reap")) {
        fprintf(stderr, "vexxy sandbox: unknown subcommand '%s'\n%s\n", verb, usage);
        return VX_EXIT_ERROR;
    }
    optind = 1;
    opterr = 0;
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("%s\n", usage);
            return VX_EXIT_OK;
        case 'c':
        case 'e':
            if ((c == 'c' ? o.n_command : o.n_env) >= MAX_ARGS) {
                fprintf(stderr, "vexxy sandbox: at most %d --command/--env each\n", MAX_ARGS);
                return VX_EXIT_ERROR;
            }
            if (c == 'c')
                o.command[o.n_command++] = optarg;
            else
                o.env[o.n_env++] = optarg;
            break;
        case 'm':
            if (parse_i64_opt("--memory", optarg, 4 << 20, INT64_MAX / 2, &o.memory) < 0)
                return VX_EXIT_ERROR;
            break;
        case 'p':
            if (parse_i64_opt("--pids", optarg, 1, 1 << 22, &o.pids) < 0)
                return VX_EXIT_ERROR;
            break;
        case 'C':
            if (parse_i64_opt("--cpu", optarg, 10, 1 << 20, &o.cpu) < 0)
                return VX_EXIT_ERROR;
            break;
        case 't':
            if (parse_i64_opt("--timeout", optarg, 1, 86400, &o.timeout_s) < 0)
                return VX_EXIT_ERROR;
            break;
        case 'N':
            o.no_userns = true;
            break;
        case 'u':
            if (parse_i64_opt("--uid-shift", optarg, 1, UINT32_MAX - 65536, &v) < 0)
                return VX_EXIT_ERROR;
            o.uid_shift = (uint32_t)v;
            break;
        case 'r':
            if (strcmp(optarg, "runc") && strcmp(optarg, "crun")) {
                fprintf(stderr, "vexxy sandbox: --runtime is runc or crun, not '%s'\n", optarg);
                return VX_EXIT_ERROR;
            }
            o.runtime = optarg;
            break;
        case 's':
            o.state_dir = optarg;
            break;
        case 'k':
            o.cache_dir = optarg;
            break;
        case 'P':
            o.pid_file = optarg;
            break;
        case 'j':
            o.json = true;
            break;
        case 'T':
            o.test_script = optarg;
            break;
        case 'R':
            o.tester_rootfs = optarg;
            break;
        case 'o':
            if (o.n_ports >= MAX_ARGS) {
                fprintf(stderr, "vexxy sandbox: at most %d --port\n", MAX_ARGS);
                return VX_EXIT_ERROR;
            }
            if (parse_i64_opt("--port", optarg, 1, 65535, &v) < 0)
                return VX_EXIT_ERROR;
            o.ports[o.n_ports++] = (int)v;
            break;
        case 'O':
            if (parse_i64_opt("--test-timeout", optarg, 1, 86400, &o.test_timeout_s) < 0)
                return VX_EXIT_ERROR;
            break;
        default:
            fprintf(stderr, "vexxy sandbox: unknown or incomplete option '%s'\n%s\n",
                    argv[optind - 1], usage);
            return VX_EXIT_ERROR;
        }
    }
    if (!strcmp(verb, "probe")) {
        struct vx_err *err = NULL;

        if (vx_sandbox_probe(o.runtime, &err) < 0) {
            printf("sandbox: not usable with %s: %s\n", o.runtime ? o.runtime : "runc", err->msg);
            vx_err_free(&err);
            return VX_EXIT_NEGATIVE;
        }
        printf("sandbox: usable with %s\n", o.runtime ? o.runtime : "runc");
        return VX_EXIT_OK;
    }
    if (!strcmp(verb, "reap"))
        return cmd_reap(o.state_dir);
    if (optind != argc - 1) {
        fprintf(stderr, "vexxy sandbox run: exactly one IMAGE or ROOTFS is required\n%s\n", usage);
        return VX_EXIT_ERROR;
    }
    return cmd_run(argv[optind], &o);
}
