/* analyze.c -- `vexxy analyze IMAGE`: the whole pipeline locally, no server.
 *
 * It validates every option of the stable command-line surface (DESIGN.md §2), then runs
 * the same phases a worker runs, reporting each on stderr. Phases that later issues add
 * are reported as not available yet, and the command exits 2 with that message: it
 * never writes a document it could not justify.
 */
#include "common/setup.h"

#include <getopt.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"
#include "queue/queue.h"

static const char usage[] =
    "usage: vexxy analyze IMAGE [--digest sha256:HEX] [--findings FILE]...\n"
    "       [--profile minimal|standard|comprehensive] [--config FILE] [--test-script FILE]\n"
    "       [--port N]... [--env K=V]... [--command ARG]... [--duration SECONDS]\n"
    "       [--format openvex|cyclonedx|csaf|all] [-o PATH] [--evidence PATH] [--sign-key FILE]\n"
    "       [--json] [--fail-on affected] [--platform OS/ARCH] [--insecure-registry]\n"
    "       [--runtime runc|crun] [--tracer fanotify|ebpf|ptrace[,..]] [--data-dir DIR] [--keep]\n"
    "IMAGE is docker://REF, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or a bare "
    "reference.\n"
    "Exit status: 0 done, 1 done with affected CVEs under --fail-on affected, 2 error.";

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

static bool is_tracer_list(const char *s)
{
    static const char *const tracers[] = {"fanotify", "ebpf", "ptrace", NULL};
    char *copy = vx_xstrdup(s), *save = NULL, *tok;
    bool ok = *s != '\0';

    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        ok = ok && one_of(tok, tracers);
    free(copy);
    return ok;
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
    bool insecure = false, keep = false;
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
            break;
        case 't':
        case 'k':
            if (access(optarg, R_OK) < 0) {
                fprintf(stderr, "vexxy analyze: '%s': %s\n", optarg, strerror(errno));
                return VX_EXIT_ERROR;
            }
            break;
        case 'p':
            if (!one_of(optarg, profiles))
                goto bad_value;
            job.profile = optarg;
            break;
        case 'F':
            if (!one_of(optarg, formats))
                goto bad_value;
            break;
        case 'r':
            if (!one_of(optarg, runtimes))
                goto bad_value;
            break;
        case 'T':
            if (!is_tracer_list(optarg))
                goto bad_value;
            break;
        case 'x':
            if (strcmp(optarg, "affected") != 0)
                goto bad_value;
            break;
        case 'P':
            if (vx_parse_i64(optarg, 1, 65535, &num) < 0)
                goto bad_value;
            break;
        case 'D':
            if (vx_parse_i64(optarg, 1, 900, &num) < 0)
                goto bad_value;
            break;
        case 'e':
            if (!strchr(optarg, '=') || optarg[0] == '=')
                goto bad_value;
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
        case 'C':
        case 'o':
        case 'E':
        case 'j':
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
    job.image_ref = argv[optind];
    vx_uuid4(uuid);
    snprintf(id, sizeof(id), "analyze-%s", uuid);
    job.id = id;
    data_dir = data_dir_arg ? vx_xstrdup(data_dir_arg) : vx_cmd_default_data_dir();
    if (vx_fs_mkdirs(data_dir, 0700, &err) < 0)
        goto fail;
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
        fprintf(stderr, "[%zu/%zu] %s\n", i + 1, n, phases[i].name);
        if (phases[i].run(&ctx, &err) < 0)
            goto fail;
    }
    rc = VX_EXIT_OK;
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
    return rc;
}
