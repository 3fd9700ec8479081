/* client.c -- `vexxy submit|status|results|cancel|list|vex`: a client of a running server
 * (DESIGN.md §2–3) over libcurl.
 *
 * Every subcommand takes --server URL (else $VEXXY_SERVER, else http://127.0.0.1:8080),
 * --token TOKEN (else $VEXXY_TOKEN; none = no Authorization header), --json (the server's
 * JSON on stdout, verbatim but indented), --timeout SECONDS (per request) and --help.
 *
 * Exit status: 0 done; 1 a negative outcome (submit --wait: the job failed or was
 * cancelled); 2 an error -- bad usage, the server could not be reached, or an HTTP error,
 * printed as "vexxy: <message> (<code>[, field '<field>'])" from the server's error body.
 *
 * The request body of submit is built with jansson (a findings file is parsed and embedded
 * as JSON); the server does all range and format validation, so the user sees one set of
 * rules and one wording. Responses are read into a capped buffer.
 */
#include "common/setup.h"

#include <getopt.h>
#include <jansson.h>
#include <unistd.h>
#include <curl/curl.h>

#include "cmd/cmd.h"
#include "common/alloc.h" /* for vx_xstrdup(), vx_xasprintf() */
#include "common/buf.h"   /* response and file bodies, capped */
#include "common/err.h"
#include "common/json.h" /* for vx_json_parse(), vx_json_dump(), vx_json_str() */
#include "common/util.h" /* for vx_parse_i64(), vx_mono_ms() */

#define DEFAULT_SERVER    "http://127.0.0.1:8080"
#define RESPONSE_MAX      ((size_t)64 << 20) /* largest response body we accept */
#define FILE_MAX          ((size_t)64 << 20) /* largest findings/config/script file we send */
#define DEFAULT_TIMEOUT_S 30
#define MAX_LIST_PAGES    100000 /* --all: a server handing out cursors forever */
#define WAIT_MAX_FAILURES 30     /* --wait: consecutive failed polls tolerated */

/* Settings every subcommand shares. */
struct client {
    char *server;      /* owned; no trailing '/' */
    const char *token; /* borrowed from argv or the environment; NULL = no Authorization */
    bool json;
    long timeout_s;
    const char *cmd; /* subcommand name, for messages */
};

struct http_resp {
    long status;
    struct vx_buf body;
    bool replayed;  /* Idempotent-Replayed: true */
    bool too_large; /* the body passed its cap and the transfer was stopped */
};

enum {
    O_SERVER = 256,
    O_TOKEN,
    O_JSON,
    O_TIMEOUT,
    O_HELP,
    /* submit */
    O_DIGEST,
    O_FINDINGS,
    O_FINDINGS_URL,
    O_PROFILE,
    O_CONFIG,
    O_TEST_SCRIPT,
    O_TEST_TIMEOUT,
    O_DURATION,
    O_PORT,
    O_ENV,
    O_COMMAND,
    O_HC_PATH,
    O_PRIORITY,
    O_CALLBACK,
    O_SBOM,
    O_IDEM,
    O_FORCE,
    O_WAIT,
    O_POLL,
    /* results, list */
    O_FORMAT,
    O_OUTPUT,
    O_STATUS,
    O_LIMIT,
    O_CURSOR,
    O_ALL,
};

/* clang-format off */
#define COMMON_OPTS                                                                 \
    {"server", required_argument, NULL, O_SERVER},                                  \
    {"token", required_argument, NULL, O_TOKEN},                                    \
    {"json", no_argument, NULL, O_JSON},                                            \
    {"timeout", required_argument, NULL, O_TIMEOUT},                                \
    {"help", no_argument, NULL, O_HELP}
/* clang-format on */

#define COMMON_USAGE                                                                               \
    "common options: --server URL (or $VEXXY_SERVER, default " DEFAULT_SERVER ")\n"                \
    "                --token TOKEN (or $VEXXY_TOKEN)  --json  --timeout SECONDS  --help\n"         \
    "exit status: 0 done, 1 job failed or cancelled (submit --wait), 2 error"

/* ---- plumbing ------------------------------------------------------------------------ */

static int usage_error(const struct client *c, const char *usage, const char *fmt, ...)
    VX_PRINTF(3, 4);

static int usage_error(const struct client *c, const char *usage, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "vexxy %s: ", c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s\n%s\n", usage, COMMON_USAGE);
    return VX_EXIT_ERROR;
}

/* usage_error() for the option parsers, which return -1. */
#define usage_fail(...) (usage_error(__VA_ARGS__), -1)

static int fail(struct vx_err **err)
{
    fprintf(stderr, "vexxy: %s\n", *err && (*err)->msg ? (*err)->msg : "unknown error");
    vx_err_free(err);
    return VX_EXIT_ERROR;
}

static void client_init(struct client *c, const char *cmd)
{
    const char *v;

    memset(c, 0, sizeof(*c));
    c->cmd = cmd;
    v = getenv("VEXXY_SERVER");
    c->server = vx_xstrdup(v && *v ? v : DEFAULT_SERVER);
    v = getenv("VEXXY_TOKEN");
    c->token = v && *v ? v : NULL;
    c->timeout_s = DEFAULT_TIMEOUT_S;
}

static void client_release(struct client *c)
{
    free(c->server);
    c->server = NULL;
}

/* Handles a common option. Returns 1 if c was one (0 otherwise), -1 on a bad value. */
static int common_opt(struct client *c, int opt, const char *arg, const char *usage)
{
    int64_t t;

    switch (opt) {
    case O_SERVER:
        free(c->server);
        c->server = vx_xstrdup(arg);
        return 1;
    case O_TOKEN:
        c->token = *arg ? arg : NULL;
        return 1;
    case O_JSON:
        c->json = true;
        return 1;
    case O_TIMEOUT:
        if (vx_parse_i64(arg, 1, 86400, &t) < 0) {
            usage_error(c, usage, "--timeout must be 1 to 86400 seconds, not '%s'", arg);
            return -1;
        }
        c->timeout_s = (long)t;
        return 1;
    }
    return 0;
}

/* Checks and normalizes --server once options are parsed; prints the usage error. */
static int client_ready(struct client *c, const char *usage)
{
    size_t n;

    if (strncasecmp(c->server, "http://", 7) != 0 && strncasecmp(c->server, "https://", 8) != 0)
        return usage_fail(c, usage, "--server must be an http:// or https:// url, not '%s'",
                          c->server);
    n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        c->server[--n] = '\0';
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct http_resp *r = arg;

    if (vx_buf_add(&r->body, data, size * nmemb) < 0) {
        r->too_large = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return size * nmemb;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct http_resp *r = arg;
    size_t n = size * nmemb;

    if (n > 20 && strncasecmp(data, "Idempotent-Replayed:", 20) == 0)
        r->replayed = true;
    return n;
}

/* Escapes one path segment or query value; caller frees. */
static char *esc(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = vx_xstrdup(e ? e : "");

    curl_free(e);
    return r;
}

/* One HTTP exchange. Returns 0 when the server answered (any status, in r), or -code:
 * -VX_E_NETWORK when it could not be reached, -VX_E_TOO_LARGE when the answer passed the
 * cap. r->body must be initialised by the caller (VX_BUF_INIT(RESPONSE_MAX)). */
static int http_do(const struct client *c, const char *method, const char *path, const char *body,
                   const char *idem_key, struct http_resp *r, struct vx_err **err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    char *url = vx_xasprintf("%s%s", c->server, path), *h = NULL;
    CURL *curl = curl_easy_init();
    CURLcode cc;
    int rc = 0;

    if (!curl) {
        rc = vx_err_set(err, VX_E_INTERNAL, 0, "cannot initialise libcurl");
        goto out;
    }
    vx_buf_release(&r->body);
    r->status = 0;
    r->replayed = false;
    r->too_large = false;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (c->token) {
        h = vx_xasprintf("Authorization: Bearer %s", c->token);
        hdrs = curl_slist_append(hdrs, h);
        explicit_bzero(h, strlen(h));
        free(h);
    }
    if (idem_key) {
        h = vx_xasprintf("Idempotency-Key: %s", idem_key);
        hdrs = curl_slist_append(hdrs, h);
        free(h);
    }
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip for big bodies */
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "vexxy/" VX_VERSION);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, c->timeout_s < 10 ? c->timeout_s : 10L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }
    cc = curl_easy_perform(curl);
    if (cc == CURLE_WRITE_ERROR && r->too_large) {
        rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "the answer of %s is larger than %zu MiB", url,
                        r->body.max >> 20);
        goto out;
    }
    if (cc != CURLE_OK) {
        rc = vx_err_set(err, VX_E_NETWORK, 0, "cannot reach the server at '%s': %s", c->server,
                        errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
out:
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(curl);
    free(url);
    return rc;
}

/* For a status >= 400: prints the server's error and returns VX_EXIT_ERROR; else 0. */
static int http_error(const struct client *c, const struct http_resp *r)
{
    json_t *root = NULL, *e;
    const char *msg = NULL, *code = NULL, *field = NULL;

    if (r->status < 400)
        return 0;
    if (vx_json_parse(r->body.data ? r->body.data : "", r->body.len, &root, NULL) == 0) {
        e = json_object_get(root, "error");
        msg = vx_json_str(e, "message");
        code = vx_json_str(e, "code");
        field = vx_json_str(e, "field");
    }
    if (msg)
        fprintf(stderr, "vexxy: %s (%s%s%s%s)\n", msg, code ? code : "http",
                field ? ", field '" : "", field ? field : "", field ? "'" : "");
    else
        fprintf(stderr, "vexxy: %s answered HTTP %ld\n", c->server, r->status);
    json_decref(root);
    return VX_EXIT_ERROR;
}

/* Writes JSON text indented by two spaces, keeping every token as the server wrote it
 * (re-serialising through jansson would reformat numbers such as 0.7). The text must be
 * valid JSON: callers check that first. */
static void write_pretty(FILE *f, const char *s, size_t len)
{
    int depth = 0;
    bool in_str = false, esc_next = false;

    for (size_t i = 0; i < len; i++) {
        char ch = s[i];

        if (in_str) {
            fputc(ch, f);
            if (esc_next)
                esc_next = false;
            else if (ch == '\\')
                esc_next = true;
            else if (ch == '"')
                in_str = false;
            continue;
        }
        switch (ch) {
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            break;
        case '"':
            in_str = true;
            fputc(ch, f);
            break;
        case '{':
        case '[': {
            size_t j = i + 1;

            while (j < len && strchr(" \t\r\n", s[j]))
                j++;
            if (j < len && (s[j] == '}' || s[j] == ']')) { /* empty: keep "{}" / "[]" */
                fputc(ch, f);
                fputc(s[j], f);
                i = j;
                break;
            }
            fputc(ch, f);
            depth++;
            fprintf(f, "\n%*s", depth * 2, "");
            break;
        }
        case '}':
        case ']':
            depth--;
            fprintf(f, "\n%*s%c", depth * 2, "", ch);
            break;
        case ',':
            fprintf(f, ",\n%*s", depth * 2, "");
            break;
        case ':':
            fputs(": ", f);
            break;
        default:
            fputc(ch, f);
        }
    }
    fputc('\n', f);
}

/* The body to f: indented when it is JSON, as is otherwise (a text log, say). */
static void write_body(FILE *f, const struct http_resp *r)
{
    json_t *v = NULL;

    if (r->body.len && vx_json_parse(r->body.data, r->body.len, &v, NULL) == 0) {
        write_pretty(f, r->body.data, r->body.len);
        json_decref(v);
    } else if (r->body.len) {
        fwrite(r->body.data, 1, r->body.len, f);
        if (r->body.data[r->body.len - 1] != '\n')
            fputc('\n', f);
    }
}

/* Writes the body to 'path' ("-" = stdout). 0 or -1 with a message printed. */
static int save_body(const char *path, const struct http_resp *r)
{
    FILE *f;
    int rc = 0;

    if (strcmp(path, "-") == 0) {
        write_body(stdout, r);
        return 0;
    }
    f = fopen(path, "we");
    if (!f) {
        fprintf(stderr, "vexxy: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    write_body(f, r);
    if (ferror(f))
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "vexxy: cannot write '%s': %s\n", path, strerror(errno));
    return rc;
}

/* Parses the body as a JSON object; NULL (and a message) when the server sent something
 * else on success, which is a server bug worth saying plainly. Caller owns the result. */
static json_t *body_object(const struct http_resp *r)
{
    json_t *v = NULL;

    if (!r->body.len || vx_json_parse(r->body.data, r->body.len, &v, NULL) < 0 ||
        !json_is_object(v)) {
        json_decref(v);
        fprintf(stderr, "vexxy: the server's answer (HTTP %ld) is not a json object\n", r->status);
        return NULL;
    }
    return v;
}

static int read_file(const char *path, struct vx_buf *out, struct vx_err **err)
{
    char chunk[65536];
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    size_t n;
    int rc = 0;

    if (!f)
        return vx_err_set(err, VX_E_IO, errno, "cannot read '%s': %s", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (vx_buf_add(out, chunk, n) < 0) {
            rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "'%s' is larger than %zu MiB", path,
                            out->max >> 20);
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = vx_err_set(err, VX_E_IO, errno, "cannot read '%s': %s", path, strerror(errno));
    if (f != stdin)
        fclose(f);
    return rc;
}

static int read_json_file(const char *path, json_t **out, struct vx_err **err)
{
    struct vx_buf b = VX_BUF_INIT(FILE_MAX);
    int rc = read_file(path, &b, err);

    if (rc == 0 && vx_json_parse(b.data ? b.data : "", b.len, out, err) < 0)
        rc = vx_err_wrap(err, "'%s'", path);
    vx_buf_release(&b);
    return rc;
}

static const char *jstr_or(const json_t *o, const char *key, const char *def)
{
    const char *s = vx_json_str(o, key);

    return s ? s : def;
}

/* Terminal states: the server's strings (store/states.def). */
static bool state_terminal(const char *s)
{
    return s && (!strcmp(s, "complete") || !strcmp(s, "failed") || !strcmp(s, "cancelled"));
}

/* ---- status -------------------------------------------------------------------------- */

static void print_status_human(const json_t *st)
{
    static const struct {
        const char *label, *key;
    } rows[] = {
        {"job", "job_id"},          {"status", "status"},          {"progress", "progress_percent"},
        {"phase", "current_phase"}, {"image", "image_ref"},        {"digest", "image_digest"},
        {"profile", "profile"},     {"priority", "priority"},      {"created", "created_at"},
        {"started", "started_at"},  {"completed", "completed_at"}, {"retries", "retry_count"},
        {"sandbox", "sandbox_id"},  {"error", "error_message"},
    };

    for (size_t i = 0; i < VX_ARRAY_SIZE(rows); i++) {
        json_t *v = json_object_get(st, rows[i].key);

        if (json_is_string(v))
            printf("%-10s %s\n", rows[i].label, json_string_value(v));
        else if (json_is_integer(v))
            printf("%-10s %" JSON_INTEGER_FORMAT "%s\n", rows[i].label, json_integer_value(v),
                   strcmp(rows[i].key, "progress_percent") == 0 ? "%" : "");
    }
    if (json_is_true(json_object_get(st, "cancel_requested")) &&
        !state_terminal(vx_json_str(st, "status")))
        printf("%-10s %s\n", "cancel", "requested");
}

static int get_status(const struct client *c, const char *id, struct http_resp *r, json_t **out,
                      struct vx_err **err)
{
    char *eid = esc(id), *path = vx_xasprintf("/api/v1/analysis/%s/status", eid);
    int rc = http_do(c, "GET", path, NULL, NULL, r, err);

    free(eid);
    free(path);
    if (rc < 0)
        return rc;
    if (r->status >= 400)
        return -VX_E_INVALID; /* the caller prints it with http_error() */
    *out = body_object(r);
    return *out ? 0 : -VX_E_INVALID;
}

static const char status_usage[] = "usage: vexxy status JOB_ID [--json]";

int vx_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {NULL, 0, NULL, 0}};
    struct client c;
    struct http_resp r = {.body = VX_BUF_INIT(RESPONSE_MAX)};
    struct vx_err *err = NULL;
    json_t *st = NULL;
    int opt, rc = VX_EXIT_ERROR;

    client_init(&c, "status");
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int k = common_opt(&c, opt, optarg, status_usage);

        if (k < 0)
            goto out;
        if (k > 0)
            continue;
        if (opt == O_HELP || opt == 'h') {
            printf("%s\n%s\n", status_usage, COMMON_USAGE);
            rc = VX_EXIT_OK;
            goto out;
        }
        usage_error(&c, status_usage, "unknown option");
        goto out;
    }
    if (argc - optind != 1) {
        usage_error(&c, status_usage, "exactly one JOB_ID is needed");
        goto out;
    }
    if (client_ready(&c, status_usage) < 0)
        goto out;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (get_status(&c, argv[optind], &r, &st, &err) < 0) {
        rc = err ? fail(&err) : (r.status >= 400 ? http_error(&c, &r) : VX_EXIT_ERROR);
    } else {
        if (c.json)
            write_body(stdout, &r);
        else
            print_status_human(st);
        rc = VX_EXIT_OK;
    }
    curl_global_cleanup();
out:
    json_decref(st);
    vx_buf_release(&r.body);
    client_release(&c);
    return rc;
}

/* ---- submit -------------------------------------------------------------------------- */

static const char submit_usage[] =
    "usage: vexxy submit IMAGE --digest sha256:HEX [--findings FILE | --findings-url URL]\n"
    "       [--profile minimal|standard|comprehensive|custom] [--config FILE]\n"
    "       [--test-script FILE] [--test-timeout N] [--duration N] [--port N]... [--env K=V]...\n"
    "       [--command ARG]... [--health-check-path P] [--priority N] [--callback-url URL]\n"
    "       [--sbom-id UUID] [--idempotency-key K] [--force] [--wait [--poll SECONDS]]\n"
    "--config FILE is a JSON object sent as \"config\"; the other config flags override its keys.\n"
    "With --wait: exit 0 when the job completes, 1 when it fails or is cancelled.";

/* Options of submit as given; strings borrowed from argv. Lists are built directly. */
struct submit_opts {
    const char *image, *digest, *findings, *findings_url, *profile, *config, *test_script;
    const char *hc_path, *callback, *sbom, *idem;
    int64_t test_timeout, duration, priority, poll_ms;
    bool has_test_timeout, has_duration, has_priority, force, wait;
    json_t *ports, *env, *command; /* owned; NULL when not given */
};

static int parse_submit(struct client *c, int argc, char **argv, struct submit_opts *so, bool *help)
{
    static const struct option opts[] = {
        COMMON_OPTS,
        {"digest", required_argument, NULL, O_DIGEST},
        {"findings", required_argument, NULL, O_FINDINGS},
        {"findings-url", required_argument, NULL, O_FINDINGS_URL},
        {"profile", required_argument, NULL, O_PROFILE},
        {"config", required_argument, NULL, O_CONFIG},
        {"test-script", required_argument, NULL, O_TEST_SCRIPT},
        {"test-timeout", required_argument, NULL, O_TEST_TIMEOUT},
        {"duration", required_argument, NULL, O_DURATION},
        {"port", required_argument, NULL, O_PORT},
        {"env", required_argument, NULL, O_ENV},
        {"command", required_argument, NULL, O_COMMAND},
        {"health-check-path", required_argument, NULL, O_HC_PATH},
        {"priority", required_argument, NULL, O_PRIORITY},
        {"callback-url", required_argument, NULL, O_CALLBACK},
        {"sbom-id", required_argument, NULL, O_SBOM},
        {"idempotency-key", required_argument, NULL, O_IDEM},
        {"force", no_argument, NULL, O_FORCE},
        {"wait", no_argument, NULL, O_WAIT},
        {"poll", required_argument, NULL, O_POLL},
        {NULL, 0, NULL, 0},
    };
    int opt;
    int64_t n;
    char *end;
    double secs;

    so->poll_ms = 2000;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int k = common_opt(c, opt, optarg, submit_usage);

        if (k < 0)
            return -1;
        if (k > 0)
            continue;
        switch (opt) {
        case 'h':
        case O_HELP:
            *help = true;
            return 0;
        case O_DIGEST:
            so->digest = optarg;
            break;
        case O_FINDINGS:
            so->findings = optarg;
            break;
        case O_FINDINGS_URL:
            so->findings_url = optarg;
            break;
        case O_PROFILE:
            so->profile = optarg;
            break;
        case O_CONFIG:
            so->config = optarg;
            break;
        case O_TEST_SCRIPT:
            so->test_script = optarg;
            break;
        case O_HC_PATH:
            so->hc_path = optarg;
            break;
        case O_CALLBACK:
            so->callback = optarg;
            break;
        case O_SBOM:
            so->sbom = optarg;
            break;
        case O_IDEM:
            so->idem = optarg;
            break;
        case O_FORCE:
            so->force = true;
            break;
        case O_WAIT:
            so->wait = true;
            break;
        case O_TEST_TIMEOUT:
        case O_DURATION:
        case O_PRIORITY:
            /* ranges are the server's to enforce; only the syntax is checked here */
            if (vx_parse_i64(optarg, INT32_MIN, INT32_MAX, &n) < 0)
                return usage_fail(c, submit_usage, "'%s' is not an integer", optarg);
            if (opt == O_TEST_TIMEOUT) {
                so->test_timeout = n;
                so->has_test_timeout = true;
            } else if (opt == O_DURATION) {
                so->duration = n;
                so->has_duration = true;
            } else {
                so->priority = n;
                so->has_priority = true;
            }
            break;
        case O_PORT:
            if (vx_parse_i64(optarg, INT32_MIN, INT32_MAX, &n) < 0)
                return usage_fail(c, submit_usage, "--port '%s' is not an integer", optarg);
            if (!so->ports)
                so->ports = json_array();
            json_array_append_new(so->ports, json_integer(n));
            break;
        case O_ENV: {
            const char *eq = strchr(optarg, '=');
            char *key;

            if (!eq || eq == optarg)
                return usage_fail(c, submit_usage, "--env needs K=V, not '%s'", optarg);
            if (!so->env)
                so->env = json_object();
            key = vx_xstrndup(optarg, (size_t)(eq - optarg));
            json_object_set_new(so->env, key, json_string(eq + 1));
            free(key);
            break;
        }
        case O_COMMAND:
            if (!so->command)
                so->command = json_array();
            json_array_append_new(so->command, json_string(optarg));
            break;
        case O_POLL:
            errno = 0;
            secs = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(secs >= 0.1 && secs <= 3600))
                return usage_fail(c, submit_usage, "--poll must be 0.1 to 3600 seconds");
            so->poll_ms = (int64_t)(secs * 1000);
            break;
        default:
            return usage_fail(c, submit_usage, "unknown option");
        }
    }
    if (argc - optind != 1)
        return usage_fail(c, submit_usage, "exactly one IMAGE is needed");
    so->image = argv[optind];
    if (!so->digest) {
        /* IMAGE@sha256:... already names the digest */
        const char *at = strstr(so->image, "@sha256:");

        if (!at)
            return usage_fail(c, submit_usage, "--digest sha256:HEX is required");
        so->digest = at + 1;
    }
    if (so->findings && so->findings_url)
        return usage_fail(c, submit_usage, "give --findings or --findings-url, not both");
    return 0;
}

/* json_string() refuses invalid UTF-8; the server would too, so say it here. */
static int set_str(json_t *obj, const char *key, const char *val, struct vx_err **err)
{
    json_t *s = json_string(val);

    if (!s)
        return vx_err_field(err, VX_E_INVALID, key, "'%s' is not valid utf-8", key);
    json_object_set_new(obj, key, s);
    return 0;
}

static int build_submit_body(struct submit_opts *so, char **out, struct vx_err **err)
{
    struct vx_buf script = VX_BUF_INIT(FILE_MAX);
    json_t *body = json_object(), *cfg = NULL, *findings = NULL, *v;
    int rc;

    if ((rc = set_str(body, "image_ref", so->image, err)) < 0 ||
        (rc = set_str(body, "image_digest", so->digest, err)) < 0)
        goto out;
    if (so->profile && (rc = set_str(body, "profile", so->profile, err)) < 0)
        goto out;
    if (so->sbom && (rc = set_str(body, "sbom_id", so->sbom, err)) < 0)
        goto out;
    if (so->callback && (rc = set_str(body, "callback_url", so->callback, err)) < 0)
        goto out;
    if (so->findings_url && (rc = set_str(body, "findings_url", so->findings_url, err)) < 0)
        goto out;
    if (so->has_priority)
        json_object_set_new(body, "priority", json_integer(so->priority));
    if (so->force)
        json_object_set_new(body, "force", json_true());
    if (so->findings) {
        rc = read_json_file(so->findings, &findings, err);
        if (rc < 0)
            goto out;
        json_object_set_new(body, "findings", findings);
    }

    if (so->config) {
        rc = read_json_file(so->config, &cfg, err);
        if (rc < 0)
            goto out;
        if (!json_is_object(cfg)) {
            rc = vx_err_set(err, VX_E_INVALID, 0, "--config '%s' must hold a json object",
                            so->config);
            goto out;
        }
    }
    if (so->test_script || so->has_test_timeout || so->has_duration || so->ports || so->env ||
        so->command || so->hc_path) {
        if (!cfg)
            cfg = json_object();
        if (so->test_script) {
            rc = read_file(so->test_script, &script, err);
            if (rc < 0)
                goto out;
            v = json_stringn(script.data ? script.data : "", script.len);
            if (!v) {
                rc = vx_err_set(err, VX_E_INVALID, 0, "test script '%s' is not utf-8 text",
                                so->test_script);
                goto out;
            }
            json_object_set_new(cfg, "test_script", v);
        }
        if (so->has_test_timeout)
            json_object_set_new(cfg, "test_timeout", json_integer(so->test_timeout));
        if (so->has_duration)
            json_object_set_new(cfg, "analysis_duration", json_integer(so->duration));
        if (so->ports)
            json_object_set(cfg, "ports", so->ports);
        if (so->env) {
            v = json_object_get(cfg, "environment");
            if (json_is_object(v))
                json_object_update(v, so->env);
            else
                json_object_set(cfg, "environment", so->env);
        }
        if (so->command)
            json_object_set(cfg, "command", so->command);
        if (so->hc_path && (rc = set_str(cfg, "health_check_path", so->hc_path, err)) < 0)
            goto out;
    }
    if (cfg)
        json_object_set(body, "config", cfg);
    *out = vx_json_dump(body);
out:
    json_decref(cfg);
    json_decref(body);
    vx_buf_release(&script);
    return rc;
}

/* Polls the job until it is terminal. Returns the exit code; prints progress on stderr
 * (human mode) and the final status on stdout. */
static int wait_job(const struct client *c, const char *id, int64_t poll_ms)
{
    struct http_resp r = {.body = VX_BUF_INIT(RESPONSE_MAX)};
    struct vx_err *err = NULL;
    json_t *st = NULL;
    char last[256] = "";
    int rc = VX_EXIT_ERROR, failures = 0;

    for (;;) {
        const char *s;
        char line[256];

        json_decref(st);
        st = NULL;
        if (get_status(c, id, &r, &st, &err) < 0) {
            /* a long wait outlives a server restart or a network blip: keep polling for
             * a while before giving up */
            bool transient = (err && err->code == VX_E_NETWORK) || r.status == 502 ||
                             r.status == 503 || r.status == 504;

            if (transient && ++failures <= WAIT_MAX_FAILURES) {
                fprintf(stderr, "vexxy: %s; retrying (%d/%d)\n",
                        err ? err->msg : "server unavailable", failures, WAIT_MAX_FAILURES);
                vx_err_free(&err);
                usleep((useconds_t)(poll_ms * 1000));
                continue;
            }
            rc = err ? fail(&err) : (r.status >= 400 ? http_error(c, &r) : VX_EXIT_ERROR);
            break;
        }
        failures = 0;
        s = jstr_or(st, "status", "?");
        snprintf(line, sizeof(line), "job %s: %s %" JSON_INTEGER_FORMAT "%%%s%s", id, s,
                 json_integer_value(json_object_get(st, "progress_percent")),
                 vx_json_str(st, "current_phase") ? " " : "", jstr_or(st, "current_phase", ""));
        if (!c->json && strcmp(line, last) != 0) {
            fprintf(stderr, "%s\n", line);
            snprintf(last, sizeof(last), "%s", line);
        }
        if (state_terminal(s)) {
            if (c->json)
                write_body(stdout, &r);
            else
                print_status_human(st);
            rc = strcmp(s, "complete") == 0 ? VX_EXIT_OK : VX_EXIT_NEGATIVE;
            break;
        }
        usleep((useconds_t)(poll_ms * 1000));
    }
    json_decref(st);
    vx_buf_release(&r.body);
    return rc;
}

int vx_cmd_submit(int argc, char **argv)
{
    struct client c;
    struct submit_opts so = {0};
    struct http_resp r = {.body = VX_BUF_INIT(RESPONSE_MAX)};
    struct vx_err *err = NULL;
    json_t *res = NULL;
    char *body = NULL, *id = NULL;
    bool help = false;
    int rc = VX_EXIT_ERROR;

    client_init(&c, "submit");
    if (parse_submit(&c, argc, argv, &so, &help) < 0)
        goto out;
    if (help) {
        printf("%s\n%s\n", submit_usage, COMMON_USAGE);
        rc = VX_EXIT_OK;
        goto out;
    }
    if (client_ready(&c, submit_usage) < 0)
        goto out;
    if (build_submit_body(&so, &body, &err) < 0) {
        rc = fail(&err);
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (http_do(&c, "POST", "/api/v1/analysis/submit", body, so.idem, &r, &err) < 0) {
        rc = fail(&err);
        goto cleanup;
    }
    if (r.status >= 400) {
        rc = http_error(&c, &r);
        goto cleanup;
    }
    res = body_object(&r);
    if (!res || !vx_json_str(res, "job_id")) {
        if (res)
            fprintf(stderr, "vexxy: the server's answer has no job_id\n");
        goto cleanup;
    }
    id = vx_xstrdup(vx_json_str(res, "job_id"));
    if (c.json && !so.wait) {
        write_body(stdout, &r);
    } else if (!c.json) {
        const char *st = jstr_or(res, "status", "?");

        if (r.replayed)
            printf("job %s %s (same idempotency key: the earlier job)\n", id, st);
        else if (json_is_true(json_object_get(res, "cached")))
            printf("job %s %s (result of an identical analysis; --force runs it again)\n", id, st);
        else
            printf("job %s %s (estimated %" JSON_INTEGER_FORMAT " min)\n", id, st,
                   json_integer_value(json_object_get(res, "estimated_duration_minutes")));
        fflush(stdout);
    }
    rc = so.wait ? wait_job(&c, id, so.poll_ms) : VX_EXIT_OK;
cleanup:
    curl_global_cleanup();
out:
    json_decref(res);
    json_decref(so.ports);
    json_decref(so.env);
    json_decref(so.command);
    vx_buf_release(&r.body);
    free(body);
    free(id);
    client_release(&c);
    return rc;
}

/* ---- results, vex -------------------------------------------------------------------- */

static void print_results_human(const json_t *res)
{
    const json_t *sum = json_object_get(res, "summary"), *list, *e;
    size_t i;

#define NUM(o, k) json_integer_value(json_object_get((o), (k)))
    printf("job %s: %" JSON_INTEGER_FORMAT " CVEs analysed: %" JSON_INTEGER_FORMAT
           " affected, %" JSON_INTEGER_FORMAT " not affected, %" JSON_INTEGER_FORMAT
           " under investigation, %" JSON_INTEGER_FORMAT " fixed\n",
           jstr_or(res, "job_id", "?"), NUM(sum, "total_cves_analyzed"), NUM(sum, "affected"),
           NUM(sum, "not_affected"), NUM(sum, "under_investigation"), NUM(sum, "fixed"));
#undef NUM
    if (vx_json_str(sum, "analysis_method"))
        printf("method %s", vx_json_str(sum, "analysis_method"));
    if (json_is_number(json_object_get(sum, "confidence")))
        printf("%sconfidence %.2f", vx_json_str(sum, "analysis_method") ? ", " : "",
               json_number_value(json_object_get(sum, "confidence")));
    if (vx_json_str(sum, "analysis_method") || json_is_number(json_object_get(sum, "confidence")))
        printf("\n");
    list = json_object_get(res, "reachability_results");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return;
    printf("\n%-20s  %-19s  %-36s  %-5s  %s\n", "CVE", "STATUS", "JUSTIFICATION", "CONF", "REASON");
    json_array_foreach(list, i, e)
    {
        const char *cve = vx_json_str(e, "cve_id");

        if (!cve)
            cve = jstr_or(e, "vulnerability_id", jstr_or(e, "id", "?"));
        printf("%-20s  %-19s  %-36s  %5.2f  %s\n", cve, jstr_or(e, "status", "?"),
               jstr_or(e, "justification", "-"),
               json_number_value(json_object_get(e, "confidence_score")), jstr_or(e, "reason", ""));
    }
}

static const char results_usage[] =
    "usage: vexxy results JOB_ID [--format openvex|cyclonedx|csaf] [-o FILE] [--json]\n"
    "Without --format: the summary (or the whole results object with --json or -o).\n"
    "With --format: that document alone.";
static const char vex_usage[] = "usage: vexxy vex DOCUMENT_ID [-o FILE]";

/* results and vex: GET a document, print it or save it. */
static int get_document(int argc, char **argv, const char *cmd, bool is_results)
{
    static const struct option opts[] = {
        COMMON_OPTS,
        {"format", required_argument, NULL, O_FORMAT},
        {"output", required_argument, NULL, O_OUTPUT},
        {NULL, 0, NULL, 0},
    };
    const char *usage = is_results ? results_usage : vex_usage;
    struct client c;
    struct http_resp r = {.body = VX_BUF_INIT(RESPONSE_MAX)};
    struct vx_err *err = NULL;
    const char *format = NULL, *output = NULL;
    char *eid = NULL, *ef = NULL, *path = NULL;
    json_t *res = NULL;
    int opt, rc = VX_EXIT_ERROR;

    client_init(&c, cmd);
    optind = 0;
    while ((opt = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        int k = common_opt(&c, opt, optarg, usage);

        if (k < 0)
            goto out;
        if (k > 0)
            continue;
        if (opt == 'h' || opt == O_HELP) {
            printf("%s\n%s\n", usage, COMMON_USAGE);
            rc = VX_EXIT_OK;
            goto out;
        } else if (opt == 'o' || opt == O_OUTPUT) {
            output = optarg;
        } else if (opt == O_FORMAT && is_results) {
            format = optarg;
        } else {
            usage_error(&c, usage, "unknown option");
            goto out;
        }
    }
    if (argc - optind != 1) {
        usage_error(&c, usage, "exactly one id is needed");
        goto out;
    }
    if (client_ready(&c, usage) < 0)
        goto out;
    eid = esc(argv[optind]);
    if (!is_results) {
        path = vx_xasprintf("/api/v1/vex/%s", eid);
    } else if (format) {
        ef = esc(format);
        path = vx_xasprintf("/api/v1/analysis/%s/results?format=%s", eid, ef);
    } else {
        path = vx_xasprintf("/api/v1/analysis/%s/results", eid);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (http_do(&c, "GET", path, NULL, NULL, &r, &err) < 0) {
        rc = fail(&err);
    } else if (r.status >= 400) {
        rc = http_error(&c, &r);
    } else if (output) {
        rc = save_body(output, &r) < 0 ? VX_EXIT_ERROR : VX_EXIT_OK;
        if (rc == VX_EXIT_OK && strcmp(output, "-") != 0)
            fprintf(stderr, "wrote %s\n", output);
    } else if (c.json || format || !is_results) {
        write_body(stdout, &r);
        rc = VX_EXIT_OK;
    } else if ((res = body_object(&r)) != NULL) {
        print_results_human(res);
        rc = VX_EXIT_OK;
    }
    curl_global_cleanup();
out:
    json_decref(res);
    vx_buf_release(&r.body);
    free(eid);
    free(ef);
    free(path);
    client_release(&c);
    return rc;
}

int vx_cmd_results(int argc, char **argv)
{
    return get_document(argc, argv, "results", true);
}

int vx_cmd_vex(int argc, char **argv)
{
    return get_document(argc, argv, "vex", false);
}

/* ---- cancel -------------------------------------------------------------------------- */

static const char cancel_usage[] = "usage: vexxy cancel JOB_ID [--json]";

int vx_cmd_cancel(int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {NULL, 0, NULL, 0}};
    struct client c;
    struct http_resp r = {.body = VX_BUF_INIT(RESPONSE_MAX)};
    struct vx_err *err = NULL;
    char *eid = NULL, *path = NULL;
    json_t *res = NULL;
    int opt, rc = VX_EXIT_ERROR;

    client_init(&c, "cancel");
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int k = common_opt(&c, opt, optarg, cancel_usage);

        if (k < 0)
            goto out;
        if (k > 0)
            continue;
        if (opt == 'h' || opt == O_HELP) {
            printf("%s\n%s\n", cancel_usage, COMMON_USAGE);
            rc = VX_EXIT_OK;
            goto out;
        }
        usage_error(&c, cancel_usage, "unknown option");
        goto out;
    }
    if (argc - optind != 1) {
        usage_error(&c, cancel_usage, "exactly one JOB_ID is needed");
        goto out;
    }
    if (client_ready(&c, cancel_usage) < 0)
        goto out;
    eid = esc(argv[optind]);
    path = vx_xasprintf("/api/v1/analysis/%s", eid);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (http_do(&c, "DELETE", path, NULL, NULL, &r, &err) < 0) {
        rc = fail(&err);
    } else if (r.status >= 400) {
        rc = http_error(&c, &r);
    } else if (c.json) {
        write_body(stdout, &r);
        rc = VX_EXIT_OK;
    } else if ((res = body_object(&r)) != NULL) {
        const char *st = jstr_or(res, "status", "?");

        if (strcmp(st, "cancelled") == 0)
            printf("job %s cancelled\n", jstr_or(res, "job_id", argv[optind]));
        else
            printf("job %s: cancellation requested (status %s)\n",
                   jstr_or(res, "job_id", argv[optind]), st);
        rc = VX_EXIT_OK;
    }
    curl_global_cleanup();
out:
    json_decref(res);
    vx_buf_release(&r.body);
    free(eid);
    free(path);
    client_release(&c);
    return rc;
}

/* ---- list ---------------------------------------------------------------------------- */

static const char list_usage[] =
    "usage: vexxy list [--status S] [--digest sha256:HEX] [--limit N] [--cursor C] [--all] "
    "[--json]\n"
    "--all follows next_cursor to the last page.";

static void print_jobs_table(const json_t *jobs, bool header)
{
    size_t i;
    json_t *j;

    if (header)
        printf("%-36s  %-10s  %8s  %-12s  %-40s  %s\n", "JOB ID", "STATUS", "PROGRESS", "PHASE",
               "IMAGE", "CREATED");
    json_array_foreach(jobs, i, j)
    {
        char pct[16];

        snprintf(pct, sizeof(pct), "%" JSON_INTEGER_FORMAT "%%",
                 json_integer_value(json_object_get(j, "progress_percent")));
        printf("%-36s  %-10s  %8s  %-12s  %-40s  %s\n", jstr_or(j, "job_id", "?"),
               jstr_or(j, "status", "?"), pct, jstr_or(j, "current_phase", "-"),
               jstr_or(j, "image_ref", "?"), jstr_or(j, "created_at", "-"));
    }
}

int vx_cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {
        COMMON_OPTS,
        {"status", required_argument, NULL, O_STATUS},
        {"digest", required_argument, NULL, O_DIGEST},
        {"limit", required_argument, NULL, O_LIMIT},
        {"cursor", required_argument, NULL, O_CURSOR},
        {"all", no_argument, NULL, O_ALL},
        {NULL, 0, NULL, 0},
    };
    struct client c;
    struct http_resp r = {.body = VX_BUF_INIT(RESPONSE_MAX)};
    struct vx_err *err = NULL;
    const char *status = NULL, *digest = NULL, *limit = NULL;
    char *cursor = NULL;
    json_t *all = NULL, *page = NULL;
    bool follow = false;
    int opt, rc = VX_EXIT_ERROR, pages = 0;

    client_init(&c, "list");
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int k = common_opt(&c, opt, optarg, list_usage);

        if (k < 0)
            goto out;
        if (k > 0)
            continue;
        switch (opt) {
        case 'h':
        case O_HELP:
            printf("%s\n%s\n", list_usage, COMMON_USAGE);
            rc = VX_EXIT_OK;
            goto out;
        case O_STATUS:
            status = optarg;
            break;
        case O_DIGEST:
            digest = optarg;
            break;
        case O_LIMIT:
            limit = optarg;
            break;
        case O_CURSOR:
            free(cursor);
            cursor = vx_xstrdup(optarg);
            break;
        case O_ALL:
            follow = true;
            break;
        default:
            usage_error(&c, list_usage, "unknown option");
            goto out;
        }
    }
    if (argc != optind) {
        usage_error(&c, list_usage, "list takes no arguments");
        goto out;
    }
    if (client_ready(&c, list_usage) < 0)
        goto out;
    all = json_array();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (;;) {
        struct vx_buf q = VX_BUF_INIT(4096);
        const char *sep = "?";
        const char *keys[] = {"status", "image_digest", "limit", "cursor"};
        const char *vals[] = {status, digest, limit, cursor};
        const char *next;

        vx_buf_adds(&q, "/api/v1/analysis");
        for (size_t i = 0; i < VX_ARRAY_SIZE(keys); i++) {
            char *e;

            if (!vals[i])
                continue;
            e = esc(vals[i]);
            vx_buf_addf(&q, "%s%s=%s", sep, keys[i], e);
            free(e);
            sep = "&";
        }
        rc = http_do(&c, "GET", vx_buf_str(&q), NULL, NULL, &r, &err);
        vx_buf_release(&q);
        if (rc < 0) {
            rc = fail(&err);
            break;
        }
        if (r.status >= 400) {
            rc = http_error(&c, &r);
            break;
        }
        json_decref(page);
        page = body_object(&r);
        if (!page || !json_is_array(json_object_get(page, "jobs"))) {
            if (page)
                fprintf(stderr, "vexxy: the server's answer has no 'jobs' list\n");
            rc = VX_EXIT_ERROR;
            break;
        }
        next = vx_json_str(page, "next_cursor");
        if (!follow) {
            if (c.json) {
                write_body(stdout, &r);
            } else {
                print_jobs_table(json_object_get(page, "jobs"), true);
                if (next)
                    fprintf(stderr, "more: vexxy list --cursor %s (or --all)\n", next);
            }
            rc = VX_EXIT_OK;
            break;
        }
        json_array_extend(all, json_object_get(page, "jobs"));
        if (!next || ++pages >= MAX_LIST_PAGES || (cursor && strcmp(next, cursor) == 0)) {
            if (c.json) {
                json_t *o = json_pack("{s:O, s:n}", "jobs", all);
                char *text = vx_json_dump(o);

                write_pretty(stdout, text, strlen(text));
                free(text);
                json_decref(o);
            } else {
                print_jobs_table(all, true);
            }
            rc = VX_EXIT_OK;
            break;
        }
        free(cursor);
        cursor = vx_xstrdup(next);
    }
    curl_global_cleanup();
out:
    json_decref(page);
    json_decref(all);
    vx_buf_release(&r.body);
    free(cursor);
    client_release(&c);
    return rc;
}
