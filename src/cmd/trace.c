/* trace.c -- `vexxy trace [options] -- CMD [ARG...]`: the tracer on its own.
 *
 * Runs CMD traced from its first instruction (vx_trace_command) and prints its profile: a
 * summary table, or with --json the canonical JSON document, on stdout or into --output.
 * Exit status: the command's (128+N when killed by signal N); 125 when the tracer itself
 * failed or the usage was wrong (like timeout(1)), 127 when CMD could not be found.
 */
#include "common/setup.h"

#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/alloc.h" /* vx_xstrdup() for --symbol */
#include "common/err.h"   /* vx_err_*() */
#include "common/util.h"  /* vx_parse_i64() */
#include "trace/trace.h"

#define VX_TRACE_EXIT_FAILED   125
#define VX_TRACE_EXIT_NOTFOUND 127
#define VX_TRACE_MAX_SYMBOLS   256

static const char usage[] =
    "usage: vexxy trace [--json] [--tracer LIST] [--timeout SECONDS] [--symbol PATH:NAME]...\n"
    "                   [-o FILE] -- CMD [ARG...]\n"
    "Runs CMD traced from its first instruction until it and its descendants exit, then\n"
    "prints the execution profile (files opened/executed with canonical paths, how,\n"
    "interpreters and DT_NEEDED labels; what each backend lost).\n"
    "  --json            the profile as canonical JSON instead of a table\n"
    "  --tracer LIST     auto (default: fanotify+ebpf where both work, else what works,\n"
    "                    ptrace last) or a comma list of backends: fanotify, ebpf, ptrace,\n"
    "                    uprobe (uprobe counts --symbol functions only; auto adds it then)\n"
    "  --timeout SECONDS kill the command's process group after SECONDS (default: none)\n"
    "  --access          also record reads (FAN_ACCESS), not only opens and execs\n"
    "  --queue-size N    bounded kernel event queue (tests: force overflow); 0 = unlimited\n"
    "  --symbol PATH:NAME count calls of function NAME of the ELF file PATH (uprobe backend;\n"
    "                    repeatable, up to 256); PATH is split at the last ':'\n"
    "  -o, --output FILE write the profile to FILE instead of stdout\n"
    "  --list-tracers    print the backends that work on this host, and why others do not\n"
    "Exit status: the command's; 125 tracer or usage error; 127 CMD not found.";

static void how_str(unsigned how, char *out, size_t len)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {VX_HOW_OPEN, "open"},     {VX_HOW_EXEC, "exec"},     {VX_HOW_MMAP_EXEC, "mmap-exec"},
        {VX_HOW_INTERP, "interp"}, {VX_HOW_NEEDED, "needed"},
    };
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++)
        if ((how & names[i].bit) && n < len)
            n += (size_t)snprintf(out + n, len - n, "%s%s", n ? "," : "", names[i].name);
}

static void print_summary(FILE *f, const struct vx_trace_profile *p, int code)
{
    char how[64];

    fprintf(f, "trace: %s, %" PRId64 " ms, exit %d, %zu files, %zu processes\n",
            p->complete ? "complete" : "INCOMPLETE (events lost)", p->end_ms - p->start_ms, code,
            p->n_files, p->n_procs);
    for (size_t i = 0; i < p->n_backends; i++) {
        const struct vx_trace_backend_stat *b = &p->backends[i];
        fprintf(f, "backend %-9s %s, %" PRId64 " events, %" PRId64 " lost%s%s\n", b->name,
                b->ran ? "ran" : "did not run", b->events, b->lost, b->error ? ": " : "",
                b->error ? b->error : "");
    }
    fprintf(f, "\n%-24s %7s %8s  %s\n", "HOW", "COUNT", "FIRST_MS", "PATH");
    for (size_t i = 0; i < p->n_files; i++) {
        how_str(p->files[i].how, how, sizeof(how));
        fprintf(f, "%-24s %7" PRId64 " %8" PRId64 "  %s\n", how, p->files[i].count,
                p->files[i].first_ms, p->files[i].path);
    }
}

static int list_tracers(struct vx_trace_engine *e)
{
    static const char *const names[] = {"fanotify", "ebpf", "ptrace", "uprobe"};

    printf("available: %s\n",
           *vx_trace_engine_available(e) ? vx_trace_engine_available(e) : "(none)");
    for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++) {
        const char *why = vx_trace_engine_why(e, names[i]);
        printf("%-9s %s\n", names[i], why ? why : "ok");
    }
    return VX_EXIT_OK;
}

int vx_cmd_trace(int argc, char **argv)
{
    static const struct option lo[] = {
        {"json", no_argument, NULL, 'j'},
        {"tracer", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 'T'},
        {"access", no_argument, NULL, 'a'},
        {"queue-size", required_argument, NULL, 'q'},
        {"output", required_argument, NULL, 'o'},
        {"list-tracers", no_argument, NULL, 'l'},
        {"symbol", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct vx_trace_opts opts = {.backends = "auto"};
    struct vx_trace_engine *e = NULL;
    struct vx_trace_profile *p = NULL;
    struct vx_err *err = NULL;
    const char *output = NULL;
    bool json = false, list = false;
    int64_t timeout_s = 0;
    int c, code = -1, ret = VX_TRACE_EXIT_FAILED;
    FILE *f = NULL;
    /* --symbol: borrowed halves of copies of the arguments (split at the last ':') */
    char *sym_args[VX_TRACE_MAX_SYMBOLS];
    const char *sym_paths[VX_TRACE_MAX_SYMBOLS], *sym_names[VX_TRACE_MAX_SYMBOLS];
    size_t n_sym = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+o:h", lo, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 't':
            opts.backends = optarg;
            break;
        case 'T':
            if (vx_parse_i64(optarg, 0, 365LL * 86400, &timeout_s) < 0) {
                fprintf(stderr, "vexxy trace: --timeout wants whole seconds, not '%s'\n", optarg);
                goto usage_fail;
            }
            break;
        case 'a':
            opts.fan_access = true;
            break;
        case 'q':
            if (vx_parse_i64(optarg, 0, INT64_MAX, &opts.queue_size) < 0) {
                fprintf(stderr, "vexxy trace: bad --queue-size '%s'\n", optarg);
                goto usage_fail;
            }
            break;
        case 'o':
            output = optarg;
            break;
        case 'l':
            list = true;
            break;
        case 's': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg || !colon[1] || optarg[0] != '/') {
                fprintf(stderr, "vexxy trace: --symbol wants /PATH:NAME, not '%s'\n", optarg);
                goto usage_fail;
            }
            if (n_sym == VX_TRACE_MAX_SYMBOLS) {
                fprintf(stderr, "vexxy trace: at most %d --symbol options\n", VX_TRACE_MAX_SYMBOLS);
                goto usage_fail;
            }
            sym_args[n_sym] = vx_xstrdup(optarg);
            sym_args[n_sym][colon - optarg] = '\0';
            sym_paths[n_sym] = sym_args[n_sym];
            sym_names[n_sym] = sym_args[n_sym] + (colon - optarg) + 1;
            n_sym++;
            break;
        }
        case 'h':
            puts(usage);
            ret = VX_EXIT_OK;
            goto out;
        default:
            fprintf(stderr, "%s\n", usage);
            goto usage_fail;
        }
    }
    if (!list && optind >= argc) {
        fprintf(stderr, "vexxy trace: no command given\n%s\n", usage);
        goto usage_fail;
    }
    opts.symbol_paths = sym_paths;
    opts.symbol_names = sym_names;
    opts.n_symbols = n_sym;
    if (vx_trace_engine_new(&e, &err) < 0)
        goto fail;
    if (list) {
        ret = list_tracers(e);
        goto out;
    }
    if (vx_trace_command(e, &opts, argv + optind, timeout_s * 1000, &code, &p, &err) < 0)
        goto fail;

    if (output) {
        f = fopen(output, "we");
        if (!f) {
            vx_err_set(&err, VX_E_IO, errno, "cannot create '%s': %s", output, strerror(errno));
            goto fail;
        }
    }
    if (json) {
        char *doc = vx_trace_profile_json(p);
        fprintf(f ? f : stdout, "%s\n", doc);
        free(doc);
    } else {
        print_summary(f ? f : stdout, p, code);
    }
    if (f && fclose(f) != 0) {
        f = NULL;
        vx_err_set(&err, VX_E_IO, errno, "cannot write '%s': %s", output, strerror(errno));
        goto fail;
    }
    f = NULL;
    fflush(stdout);
    ret = code < 0 ? VX_TRACE_EXIT_FAILED : code;
    goto out;
usage_fail:
    ret = VX_TRACE_EXIT_FAILED;
    goto out;
fail:
    fprintf(stderr, "vexxy trace: %s\n", err && err->msg ? err->msg : "failed");
    if (err && err->code == VX_E_NOT_FOUND)
        ret = VX_TRACE_EXIT_NOTFOUND;
out:
    if (f)
        fclose(f);
    vx_err_free(&err);
    vx_trace_profile_free(p);
    vx_trace_engine_free(e);
    for (size_t i = 0; i < n_sym; i++)
        free(sym_args[i]);
    return ret;
}
