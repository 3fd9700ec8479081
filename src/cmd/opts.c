/* opts.c -- option tables with flag/env/config-file precedence (see opts.h). */
#include "common/setup.h"

#include <getopt.h>

#include "cmd/opts.h"
#include "common/alloc.h" /* for vx_xstrdup() */
#include "common/err.h"
#include "common/json.h" /* for the config file */
#include "common/util.h" /* for vx_parse_i64() */

static int set_value(struct vx_opt *o, const char *val, const char *origin)
{
    if (o->type == VX_OPT_BOOL) {
        if (!val || !strcmp(val, "1") || !strcasecmp(val, "true") || !strcasecmp(val, "yes")) {
            o->flag = true;
        } else if (!strcmp(val, "0") || !strcasecmp(val, "false") || !strcasecmp(val, "no")) {
            o->flag = false;
        } else {
            fprintf(stderr, "vexxy: %s: '%s' for --%s is not a boolean\n", origin, val, o->name);
            return -1;
        }
    } else if (o->type == VX_OPT_INT) {
        int64_t v;

        if (vx_parse_i64(val, o->min, o->max, &v) < 0) {
            fprintf(stderr,
                    "vexxy: %s: --%s must be an integer in %" PRId64 "..%" PRId64 ", not '%s'\n",
                    origin, o->name, o->min, o->max, val);
            return -1;
        }
        o->num = v;
    }
    free(o->str);
    o->str = vx_xstrdup(val ? val : "true");
    o->set = true;
    return 0;
}

static int load_config_file(struct vx_opt *opts, int n, const char *path)
{
    struct vx_err *err = NULL;
    json_t *root = NULL, *v;
    const char *key;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int rc = -1;

    f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "vexxy: config file '%s': %s\n", path, strerror(errno));
        return -1;
    }
    text = vx_xmalloc(1 << 20);
    len = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    if (len == (1 << 20) - 1) {
        fprintf(stderr, "vexxy: config file '%s' is over 1 MiB\n", path);
        goto out;
    }
    if (vx_json_parse(text, len, &root, &err) < 0 || !json_is_object(root)) {
        fprintf(stderr, "vexxy: config file '%s': %s\n", path,
                err ? err->msg : "must be a JSON object");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        struct vx_opt *o = NULL;
        char buf[64];
        const char *val = buf;

        for (int i = 0; i < n; i++) {
            if (!strcmp(opts[i].name, key))
                o = &opts[i];
        }
        if (!o || !strcmp(key, "config")) {
            fprintf(stderr, "vexxy: config file '%s': unknown setting '%s'\n", path, key);
            goto out;
        }
        if (json_is_string(v))
            val = json_string_value(v);
        else if (json_is_integer(v))
            snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_boolean(v))
            snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
        else {
            fprintf(stderr, "vexxy: config file '%s': '%s' must be a string, integer or boolean\n",
                    path, key);
            goto out;
        }
        if (set_value(o, val, path) < 0)
            goto out;
    }
    rc = 0;
out:
    vx_err_free(&err);
    json_decref(root);
    free(text);
    return rc;
}

static void print_help(const struct vx_opt *opts, int n, const char *usage)
{
    printf("%s\n\noptions (flag > VEXXY_* environment > --config file > default):\n", usage);
    for (int i = 0; i < n; i++) {
        char env[96], *p;

        snprintf(env, sizeof(env), "VEXXY_%s", opts[i].name);
        for (p = env; *p; p++)
            *p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        printf("  --%-22s %s%s%s%s [%s]\n", opts[i].name, opts[i].help,
               opts[i].defval ? " (default " : "", opts[i].defval ? opts[i].defval : "",
               opts[i].defval ? ")" : "", env);
    }
}

int vx_opts_parse(struct vx_opt *opts, int n, int argc, char **argv, const char *usage, bool *help)
{
    struct option *lo = vx_xcalloc((size_t)n + 2, sizeof(*lo));
    const char *config = getenv("VEXXY_CONFIG");
    int rc = -1, c, idx;

    *help = false;
    for (int i = 0; i < n; i++) {
        lo[i].name = opts[i].name;
        lo[i].has_arg = opts[i].type == VX_OPT_BOOL ? optional_argument : required_argument;
        lo[i].val = 1000 + i;
        if (opts[i].defval && set_value(&opts[i], opts[i].defval, "default") < 0)
            goto out;
        opts[i].set = false;
    }
    lo[n].name = "help";
    lo[n].val = 'h';
    /* first pass only to find --config, so the file sits below env and flags */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            config = argv[i] + 9;
    }
    if (config && *config && load_config_file(opts, n, config) < 0)
        goto out;
    for (int i = 0; i < n; i++) {
        char env[96], *p;
        const char *val;

        snprintf(env, sizeof(env), "VEXXY_%s", opts[i].name);
        for (p = env; *p; p++)
            *p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        val = getenv(env);
        if (val && *val && strcmp(opts[i].name, "config") != 0 && set_value(&opts[i], val, env) < 0)
            goto out;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", lo, &idx)) != -1) {
        if (c == 'h') {
            print_help(opts, n, usage);
            *help = true;
            rc = 0;
            goto out;
        }
        if (c < 1000) {
            fprintf(stderr, "vexxy %s: unknown or incomplete option '%s'\n%s\n", argv[0],
                    argv[optind - 1], usage);
            goto out;
        }
        if (set_value(&opts[c - 1000], optarg, "command line") < 0)
            goto out;
    }
    if (optind < argc) {
        fprintf(stderr, "vexxy %s: unexpected argument '%s'\n%s\n", argv[0], argv[optind], usage);
        goto out;
    }
    rc = 0;
out:
    free(lo);
    return rc;
}

void vx_opts_release(struct vx_opt *opts, int n)
{
    for (int i = 0; i < n; i++) {
        free(opts[i].str);
        opts[i].str = NULL;
    }
}

struct vx_opt *vx_opt_get(struct vx_opt *opts, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (!strcmp(opts[i].name, name))
            return &opts[i];
    }
    fprintf(stderr, "vexxy: internal error: no option '%s'\n", name);
    abort();
}
