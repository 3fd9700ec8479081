/* analyze.c -- `vexxy analyze IMAGE`: the whole pipeline locally, no server.
 *
 * It validates every option of the stable command-line surface (DESIGN.md §2), builds the
 * analysis config from --config FILE and the flags through the API's own normaliser (so
 * the CLI and the API accept the same settings), then runs the same phases a worker runs,
 * reporting each on stderr. Documents are written only when every phase succeeded (each
 * file atomically: a temp file renamed into place); a phase that is missing or fails
 * ends the command with exit 2 and its message: it never writes a document it could not
 * justify.
 */
#include "common/setup.h"

#include <getopt.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/service.h" /* vx_service_tracer_list_ok */
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"
#include "queue/queue.h"
#include "api/api.h"     /* vx_api_normalize_config */
#include "reach/reach.h" /* the verdicts for the summary */
#include "findings/findings.h"
#include "inventory/inventory.h"
#include "vex/vex.h"         /* signing */
#include "image/image.h"     /* the verified digest for the signature subject */
#include "sandbox/sandbox.h" /* profile presets */

static const char usage[] =
    "usage: vexxy analyze IMAGE [--digest sha256:HEX] [--findings FILE]...\n"
    "       [--profile minimal|standard|comprehensive] [--config FILE] [--test-script FILE]\n"
    "       [--port N]... [--env K=V]... [--command ARG]... [--duration SECONDS]\n"
    "       [--format openvex|cyclonedx|csaf|all] [-o PATH] [--evidence PATH] [--sign-key FILE]\n"
    "       [--json] [--fail-on affected] [--platform OS/ARCH] [--insecure-registry]\n"
    "       [--runtime runc|crun] [--tracer fanotify|ebpf|ptrace[,..]] [--data-dir DIR] [--keep]\n"
    "       [--tester-rootfs DIR] [--sandbox runc|kubernetes [--kubeconfig FILE]\n"
    "       [--kube-context NAME] [--kube-namespace NS] [--kube-runtime-class NAME]\n"
    "       [--kube-pull-secret NAME]\n"
    "       --tracer-image REF] [--rootfs-cache N]\n"
    "IMAGE is docker://REF, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or a bare "
    "reference.\n"
    "Exit status: 0 done, 1 done with affected CVEs under --fail-on affected, 2 error.";

enum { /* long-only options */
       OPT_TESTER_ROOTFS = 1000,
       OPT_SANDBOX,
       OPT_KUBECONFIG,
       OPT_KUBE_CONTEXT,
       OPT_KUBE_NAMESPACE,
       OPT_KUBE_RUNTIME_CLASS,
       OPT_KUBE_PULL_SECRET,
       OPT_TRACER_IMAGE,
       OPT_ROOTFS_CACHE,
};

static bool one_of(const char *v, const char *const *set)
{
    for (; *set; set++) {
        if (!strcmp(v, *set))
            return true;
    }
    return false;
}

static bool file_is_json(const char *path, char *why, size_t whylen)
{
    struct vx_err *err = NULL;
    json_t *v = NULL;
    char *text = NULL;
    size_t len;
    FILE *f = fopen(path, "re");
    bool ok = false;

    if (!f) {
        snprintf(why, whylen, "%s", strerror(errno));
        return false;
    }
    text = vx_xmalloc(256u << 20);
    len = fread(text, 1, (256u << 20) - 1, f);
    fclose(f);
    if (len == (256u << 20) - 1) {
        snprintf(why, whylen, "larger than 256 MiB");
    } else if (vx_json_parse(text, len, &v, &err) < 0) {
        snprintf(why, whylen, "%s", err->msg);
    } else {
        ok = true;
    }
    vx_err_free(&err);
    json_decref(v);
    free(text);
    return ok;
}

/* Reads a whole file (capped) into a new string; NULL with errno on failure. */
static char *slurp(const char *path, size_t max)
{
    FILE *f = fopen(path, "re");
    char *buf;
    size_t len;

    if (!f)
        return NULL;
    buf = vx_xmalloc(max + 1);
    len = fread(buf, 1, max + 1, f);
    fclose(f);
    if (len > max) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Writes text to path through a temp file in the same directory, renamed into place. */
static int write_atomic(const char *path, const char *text)
{
    char *tmp = vx_xasprintf("%s.tmp-%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wex");
    int ok;

    if (!f) {
        fprintf(stderr, "vexxy analyze: cannot write '%s': %s\n", path, strerror(errno));
        free(tmp);
        return -1;
    }
    ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = (fflush(f) == 0) && ok && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) < 0) {
        fprintf(stderr, "vexxy analyze: cannot write '%s': %s\n", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* Writes the documents the options ask for. 0 or -1 (message printed). */
static int write_outputs(const struct vx_pipeline_state *st, const char *format, const char *out,
                         const char *evidence, const char *sign_key, const struct vx_job_rec *job)
{
    struct vx_err *err = NULL;
    int rc = 0;

    if (out && !strcmp(format, "all")) {
        char *p;

        if (vx_fs_mkdirs(out, 0755, &err) < 0) {
            fprintf(stderr, "vexxy analyze: -o '%s': %s\n", out, err->msg);
            vx_err_free(&err);
            return -1;
        }
        if (st->openvex) {
            p = vx_xasprintf("%s/openvex.json", out);
            rc |= write_atomic(p, st->openvex);
            free(p);
        }
        p = vx_xasprintf("%s/cyclonedx.json", out);
        rc |= write_atomic(p, st->cyclonedx);
        free(p);
        p = vx_xasprintf("%s/csaf.json", out);
        rc |= write_atomic(p, st->csaf);
        free(p);
        p = vx_xasprintf("%s/sbom.cdx.json", out);
        rc |= write_atomic(p, st->sbom);
        free(p);
        if (st->sbom_in_use) {
            p = vx_xasprintf("%s/sbom-in-use.cdx.json", out);
            rc |= write_atomic(p, st->sbom_in_use);
            free(p);
        }
    } else if (out) {
        const char *doc = !strcmp(format, "cyclonedx") ? st->cyclonedx
                          : !strcmp(format, "csaf")    ? st->csaf
                                                       : st->openvex;

        if (!doc) {
            fprintf(stderr,
                    "vexxy analyze: no findings to state anything about: OpenVEX needs "
                    "at least one statement, so '%s' was not written\n",
                    out);
            rc = -1;
        } else {
            rc |= write_atomic(out, doc);
        }
    }
    if (evidence)
        rc |= write_atomic(evidence, st->evidence);
    if (sign_key && st->openvex) {
        struct vx_vex_doc d = {0};
        const char *prod[1];
        char *env = NULL, *path;
        char *name_digest = NULL;

        /* the in-toto subject: the image pinned by the digest the run verified, named as
         * the document's products are */
        if (job->image_digest && !strncmp(job->image_digest, "sha256:", 7))
            name_digest = vx_image_purl(job->image_ref, job->image_digest);
        else if (st->image && st->image->manifest_digest)
            name_digest = vx_image_purl(job->image_ref, st->image->manifest_digest);
        prod[0] = name_digest;
        d.products = prod;
        d.n_products = name_digest ? 1 : 0;
        if (vx_vex_sign(st->openvex, &d, sign_key, &env, &err) < 0) {
            fprintf(stderr, "vexxy analyze: --sign-key: %s\n", err->msg);
            vx_err_free(&err);
            rc = -1;
        } else {
            path = vx_xasprintf("%s.intoto.json", out && strcmp(format, "all") ? out
                                                  : out                        ? "openvex"
                                                                               : "vex");
            if (out && !strcmp(format, "all")) {
                free(path);
                path = vx_xasprintf("%s/openvex.intoto.json", out);
            }
            rc |= write_atomic(path, env);
            fprintf(stderr, "vexxy analyze: signed statement written to '%s'\n", path);
            free(path);
        }
        free(env);
        free(name_digest);
    }
    return rc ? -1 : 0;
}

/* The summary table on stdout: counts, then the affected CVEs with their fixed versions. */
static void print_summary(const struct vx_pipeline_state *st)
{
    const struct vx_reach_result *r = st->reach;
    size_t shown = 0;

    printf("verdicts: %zu  affected: %zu  not_affected: %zu  under_investigation: %zu  fixed: "
           "%zu\n",
           r->n, r->n_affected, r->n_not_affected, r->n_under_investigation, r->n_fixed);
    printf("run confidence %.2f: %s\n", r->run_confidence, r->run_reason ? r->run_reason : "");
    if (!r->n)
        return;
    printf("\n%-22s %-24s %-24s %-35s %-5s %s\n", "VULNERABILITY", "PACKAGE", "VERSION", "STATUS",
           "CONF", "FIXED IN / REASON");
    /* affected first (most useful to act on), then the rest in verdict order */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < r->n; i++) {
            const struct vx_verdict *v = &r->verdicts[i];
            const struct vx_finding *f = &st->findings->items[v->findings[0]];
            const struct vx_pkg *p = v->pkg >= 0 ? &st->inventory->pkgs[v->pkg] : NULL;
            const char *status = vx_vex_status_name(v->status);

            if ((pass == 0) != (v->status == VX_VEX_AFFECTED))
                continue;
            if (shown++ == 50) {
                printf("... %zu more (see --json or the documents)\n", r->n - 50);
                return;
            }
            printf("%-22.22s %-24.24s %-24.24s %-35.35s %.2f  %s\n", v->vuln_id,
                   p         ? p->name
                   : f->name ? f->name
                             : "?",
                   p            ? p->version
                   : f->version ? f->version
                                : "?",
                   v->status == VX_VEX_NOT_AFFECTED ? vx_vex_justification_name(v->justification)
                                                    : status,
                   v->confidence,
                   v->status == VX_VEX_AFFECTED && f->fixed_version ? f->fixed_version : v->reason);
        }
    }
}

/* The analysis config as the API would normalise it: --config FILE, then the flags on top. */
static int build_config(const char *config_file, const char *profile, const char *const *ports,
                        size_t n_ports, const char *const *env, size_t n_env,
                        const char *const *command, size_t n_command, const char *duration,
                        const char *test_script, char **out, struct vx_err **err)
{
    json_t *cfg = NULL, *arr, *obj;
    char *text = NULL;
    int rc;

    if (config_file) {
        text = slurp(config_file, 1u << 20);
        if (!text)
            return vx_err_set(err, VX_E_INVALID, errno, "--config '%s'", config_file);
        rc = vx_json_parse(text, strlen(text), &cfg, err);
        free(text);
        text = NULL;
        if (rc < 0)
            return vx_err_wrap(err, "--config '%s'", config_file);
        if (!json_is_object(cfg)) {
            json_decref(cfg);
            return vx_err_set(err, VX_E_INVALID, 0, "--config '%s' must hold a JSON object",
                              config_file);
        }
    } else {
        cfg = json_object();
    }
    if (n_ports) {
        arr = json_array();
        for (size_t i = 0; i < n_ports; i++)
            json_array_append_new(arr, json_integer(atoi(ports[i])));
        json_object_set_new(cfg, "ports", arr);
    }
    if (n_env) {
        obj = json_object_get(cfg, "environment");
        if (!json_is_object(obj)) {
            obj = json_object();
            json_object_set_new(cfg, "environment", obj);
        }
        for (size_t i = 0; i < n_env; i++) {
            const char *eq = strchr(env[i], '=');
            char *k = vx_xstrndup(env[i], (size_t)(eq - env[i]));

            json_object_set_new(obj, k, json_string(eq + 1));
            free(k);
        }
    }
    if (n_command) {
        arr = json_array();
        for (size_t i = 0; i < n_command; i++)
            json_array_append_new(arr, json_string(command[i]));
        json_object_set_new(cfg, "command", arr);
    }
    if (duration) {
        json_object_set_new(cfg, "analysis_duration", json_integer(atoi(duration)));
    } else if (!json_object_get(cfg, "analysis_duration")) {
        /* the profile's preset (the API's default of 120 s is for the service) */
        const struct vx_profile *p = vx_profile_get(profile ? profile : "standard");

        if (p)
            json_object_set_new(cfg, "analysis_duration", json_integer(p->duration_ms / 1000));
    }
    if (test_script) {
        text = slurp(test_script, 64u << 10);
        if (!text) {
            json_decref(cfg);
            return vx_err_set(err, VX_E_INVALID, errno, "--test-script '%s'", test_script);
        }
        json_object_set_new(cfg, "test_script", json_string(text));
        free(text);
    }
    text = vx_json_dump(cfg);
    json_decref(cfg);
    rc = vx_api_normalize_config(text, out, err);
    free(text);
    return rc;
}

int vx_cmd_analyze(int argc, char **argv)
{
    static const char *const profiles[] = {"minimal", "standard", "comprehensive", NULL};
    static const char *const formats[] = {"openvex", "cyclonedx", "csaf", "all", NULL};
    static const char *const runtimes[] = {"runc", "crun", NULL};
    static const struct option lo[] = {
        {"digest", required_argument, NULL, 'd'},
        {"findings", required_argument, NULL, 'f'},
        {"profile", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'c'},
        {"test-script", required_argument, NULL, 't'},
        {"port", required_argument, NULL, 'P'},
        {"env", required_argument, NULL, 'e'},
        {"command", required_argument, NULL, 'C'},
        {"duration", required_argument, NULL, 'D'},
        {"format", required_argument, NULL, 'F'},
        {"output", required_argument, NULL, 'o'},
        {"evidence", required_argument, NULL, 'E'},
        {"sign-key", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"fail-on", required_argument, NULL, 'x'},
        {"platform", required_argument, NULL, 'L'},
        {"insecure-registry", no_argument, NULL, 'i'},
        {"runtime", required_argument, NULL, 'r'},
        {"tracer", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {"data-dir", required_argument, NULL, 'R'},
        {"keep", no_argument, NULL, 'K'},
        {"tester-rootfs", required_argument, NULL, OPT_TESTER_ROOTFS},
        {"sandbox", required_argument, NULL, OPT_SANDBOX},
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"kube-context", required_argument, NULL, OPT_KUBE_CONTEXT},
        {"kube-namespace", required_argument, NULL, OPT_KUBE_NAMESPACE},
        {"kube-runtime-class", required_argument, NULL, OPT_KUBE_RUNTIME_CLASS},
        {"kube-pull-secret", required_argument, NULL, OPT_KUBE_PULL_SECRET},
        {"tracer-image", required_argument, NULL, OPT_TRACER_IMAGE},
        {"rootfs-cache", required_argument, NULL, OPT_ROOTFS_CACHE},
        {NULL, 0, NULL, 0},
    };
    struct vx_job_rec job = {0};
    struct vx_phase_ctx ctx = {0};
    struct vx_pipeline_config cfg = {.allow_local_sources = true};
    struct vx_pipeline_state st = {0};
    const struct vx_phase *phases;
    struct vx_err *err = NULL;
    char *data_dir = NULL, id[48], uuid[37];
    const char *data_dir_arg = NULL;
    const char *findings_files[64]; /* argv strings */
    size_t n_findings_files = 0;
    const char *ports[64], *envs[256], *command[256]; /* argv strings */
    size_t n_ports = 0, n_envs = 0, n_command = 0;
    const char *config_file = NULL, *duration = NULL, *test_script = NULL, *format = "openvex";
    const char *out = NULL, *evidence = NULL, *sign_key = NULL;
    char *config_json = NULL;
    bool insecure = false, keep = false, json_out = false, fail_on_affected = false;
    int rc = VX_EXIT_ERROR;
    char why[512];
    int64_t num;
    size_t n;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("%s\n", usage);
            return VX_EXIT_OK;
        case 'd':
            if (!vx_digest_valid(optarg)) {
                fprintf(stderr,
                        "vexxy analyze: --digest must be sha256: followed by 64 "
                        "lowercase hex digits, not '%s'\n",
                        optarg);
                return VX_EXIT_ERROR;
            }
            job.image_digest = optarg;
            break;
        case 'f':
        case 'c':
            if (!file_is_json(optarg, why, sizeof(why))) {
                fprintf(stderr, "vexxy analyze: %s '%s': %s\n",
                        c == 'f' ? "--findings" : "--config", optarg, why);
                return VX_EXIT_ERROR;
            }
            if (c == 'f' && n_findings_files == VX_ARRAY_SIZE(findings_files)) {
                fprintf(stderr, "vexxy analyze: at most %zu --findings files\n",
                        VX_ARRAY_SIZE(findings_files));
                return VX_EXIT_ERROR;
            }
            if (c == 'f')
                findings_files[n_findings_files++] = optarg;
            else
                config_file = optarg;
            break;
        case 't':
        case 'k':
            if (access(optarg, R_OK) < 0) {
                fprintf(stderr, "vexxy analyze: '%s': %s\n", optarg, strerror(errno));
                return VX_EXIT_ERROR;
            }
            if (c == 't')
                test_script = optarg;
            else
                sign_key = optarg;
            break;
        case 'p':
            if (!one_of(optarg, profiles))
                goto bad_value;
            job.profile = optarg;
            break;
        case 'F':
            if (!one_of(optarg, formats))
                goto bad_value;
            format = optarg;
            break;
        case 'r':
            if (!one_of(optarg, runtimes))
                goto bad_value;
            cfg.runtime = optarg;
            break;
        case 'T':
            if (!vx_service_tracer_list_ok(optarg))
                goto bad_value;
            cfg.tracers = optarg;
            break;
        case 'x':
            if (strcmp(optarg, "affected") != 0)
                goto bad_value;
            fail_on_affected = true;
            break;
        case 'P':
            if (vx_parse_i64(optarg, 1, 65535, &num) < 0 || n_ports == VX_ARRAY_SIZE(ports))
                goto bad_value;
            ports[n_ports++] = optarg;
            break;
        case 'D':
            if (vx_parse_i64(optarg, 1, 900, &num) < 0)
                goto bad_value;
            duration = optarg;
            break;
        case 'e':
            if (!strchr(optarg, '=') || optarg[0] == '=' || n_envs == VX_ARRAY_SIZE(envs))
                goto bad_value;
            envs[n_envs++] = optarg;
            break;
        case 'L':
            if (!strchr(optarg, '/'))
                goto bad_value;
            cfg.platform = optarg;
            break;
        case 'i':
            insecure = true;
            break;
        case 'R':
            data_dir_arg = optarg;
            break;
        case 'K':
            keep = true;
            break;
        case OPT_TESTER_ROOTFS:
            cfg.tester_rootfs = optarg;
            break;
        case OPT_SANDBOX:
            if (strcmp(optarg, "runc") != 0 && strcmp(optarg, "kubernetes") != 0)
                goto bad_value;
            cfg.sandbox = optarg;
            break;
        case OPT_KUBECONFIG:
            cfg.kubeconfig = optarg;
            break;
        case OPT_KUBE_CONTEXT:
            cfg.kube_context = optarg;
            break;
        case OPT_KUBE_NAMESPACE:
            cfg.kube_namespace = optarg;
            break;
        case OPT_KUBE_RUNTIME_CLASS:
            cfg.kube_runtime_class = optarg;
            break;
        case OPT_KUBE_PULL_SECRET:
            cfg.kube_pull_secret = optarg;
            break;
        case OPT_TRACER_IMAGE:
            cfg.tracer_image = optarg;
            break;
        case OPT_ROOTFS_CACHE:
            if (vx_parse_i64(optarg, -1, 100000, &num) < 0)
                goto bad_value;
            cfg.rootfs_cache = num == 0 ? -1 : (int)num;
            break;
        case 'C':
            if (n_command == VX_ARRAY_SIZE(command))
                goto bad_value;
            command[n_command++] = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'E':
            evidence = optarg;
            break;
        case 'j':
            json_out = true;
            break;
        default:
            fprintf(stderr, "vexxy analyze: unknown or incomplete option '%s'\n%s\n",
                    argv[optind - 1], usage);
            return VX_EXIT_ERROR;
        }
        continue;
    bad_value:
        fprintf(stderr, "vexxy analyze: invalid value '%s' for '%s'\n%s\n", optarg,
                argv[optind - 1][1] == '-' ? argv[optind - 1] : argv[optind - 2], usage);
        return VX_EXIT_ERROR;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "vexxy analyze: exactly one IMAGE is required\n%s\n", usage);
        return VX_EXIT_ERROR;
    }
    if (cfg.sandbox && strcmp(cfg.sandbox, "kubernetes") == 0 && !cfg.tracer_image) {
        fprintf(stderr, "vexxy analyze: --sandbox kubernetes needs --tracer-image (the vexxy "
                        "image the tracer sidecar runs)\n");
        return VX_EXIT_ERROR;
    }
    job.image_ref = argv[optind];
    if (sign_key && (!out || strcmp(format, "cyclonedx") == 0 || strcmp(format, "csaf") == 0)) {
        fprintf(stderr, "vexxy analyze: --sign-key signs the OpenVEX document: give -o with "
                        "--format openvex or all\n");
        return VX_EXIT_ERROR;
    }
    if (build_config(config_file, job.profile, ports, n_ports, envs, n_envs, command, n_command,
                     duration, test_script, &config_json, &err) < 0) {
        fprintf(stderr, "vexxy analyze: %s%s%s\n", err->field ? err->field : "",
                err->field ? ": " : "", err->msg);
        vx_err_free(&err);
        return VX_EXIT_ERROR;
    }
    job.config_json = config_json;
    vx_uuid4(uuid);
    snprintf(id, sizeof(id), "analyze-%s", uuid);
    job.id = id;
    data_dir = data_dir_arg ? vx_xstrdup(data_dir_arg) : vx_cmd_default_data_dir();
    if (vx_fs_mkdirs(data_dir, 0711, &err) < 0)
        goto fail;
    {
        /* the sandbox needs absolute paths (bundle, overlay, runtime state) */
        char *abs = realpath(data_dir, NULL);

        if (!abs) {
            vx_err_set(&err, VX_E_IO, errno, "data dir '%s'", data_dir);
            goto fail;
        }
        free(data_dir);
        data_dir = vx_xstrdup(abs);
        free(abs); /* realpath's memory, released the libc way */
    }
    /* --insecure-registry applies to the registry this command names, whatever it is */
    cfg.insecure_registries = insecure ? "*" : NULL;
    ctx.job = &job;
    ctx.data_dir = data_dir;
    ctx.cfg = &cfg;
    ctx.state = &st;
    ctx.findings_files = findings_files;
    ctx.n_findings_files = n_findings_files;
    phases = vx_pipeline_phases(&n);
    for (size_t i = 0; i < n; i++) {
        int64_t t0 = vx_mono_ms();

        fprintf(stderr, "[%zu/%zu] %s\n", i + 1, n, phases[i].name);
        if (phases[i].run(&ctx, &err) < 0)
            goto fail;
        /* one line per phase with its wall time (bench/bench-analyze.sh reads these) */
        fprintf(stderr, "[%zu/%zu] %s done in %" PRId64 " ms\n", i + 1, n, phases[i].name,
                vx_mono_ms() - t0);
    }
    if (json_out)
        printf("%s\n", st.results_json ? st.results_json : "{}");
    else
        print_summary(&st);
    if (write_outputs(&st, format, out, evidence, sign_key, &job) < 0) {
        rc = VX_EXIT_ERROR;
        goto out;
    }
    rc = fail_on_affected && st.reach && st.reach->n_affected ? VX_EXIT_NEGATIVE : VX_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "vexxy analyze: %s: %s\n", job.image_ref, err->msg);
    vx_err_free(&err);
out:
    if (st.job_dir && !keep && vx_fs_remove_tree(st.job_dir, &err) < 0) {
        fprintf(stderr, "vexxy analyze: cleanup: %s\n", err->msg);
        vx_err_free(&err);
    } else if (st.job_dir && keep) {
        fprintf(stderr, "vexxy analyze: kept the work directory '%s'\n", st.job_dir);
    }
    vx_pipeline_state_release(&st);
    free(data_dir);
    free(config_json);
    return rc;
}
