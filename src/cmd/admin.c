/* admin.c -- `vexxy admin`: organizations, API keys, quotas and test tokens, working
 * directly on the store (no server needed; an operator runs it next to the database).
 *
 *   vexxy admin [--db URL] org create NAME [--id ID] [--tier T] [--jobs-per-month N]
 *   vexxy admin [--db URL] org list [--json]
 *   vexxy admin [--db URL] apikey create --org ORG [--name NAME] [--json]
 *   vexxy admin [--db URL] apikey list [--org ORG] [--json]
 *   vexxy admin [--db URL] apikey revoke ID|PREFIX
 *   vexxy admin [--db URL] quota set --org ORG --jobs-per-month N|unlimited
 *   vexxy admin [--db URL] quota show --org ORG [--month YYYY-MM] [--json]
 *   vexxy admin [--db URL] token --org ORG --secret SECRET [--tier T] [--issuer I]
 *                               [--audience A] [--ttl SECONDS] [--sub S]
 *
 * The store is --db, else $VEXXY_DB, else sqlite:<data dir>/vexxy.db (cmd/util.c). ORG is
 * an organization id or name. Secrets (API key tokens, JWTs) go to stdout alone, so
 * `TOKEN=$(vexxy admin apikey create --org acme)` works; everything else a person reads
 * goes to stderr. Exit status: 0 done, 2 error or usage.
 */
#include "common/setup.h"

#include <getopt.h>
#include <jansson.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/service.h"  /* for vx_service_mkdirs() */
#include "common/alloc.h" /* for vx_xstrdup(), vx_xasprintf() */
#include "common/err.h"
#include "common/json.h" /* for vx_json_dump() */
#include "common/util.h" /* for vx_parse_i64(), vx_time_iso8601(), vx_now_ms() */
#include "store/store.h"
#include "auth/auth.h" /* for vx_apikey_issue(), vx_jwt_sign_hs256() */

static const char usage_text[] =
    "usage: vexxy admin [--db URL] org create NAME [--id ID] [--tier T] [--jobs-per-month N]\n"
    "       vexxy admin [--db URL] org list [--json]\n"
    "       vexxy admin [--db URL] apikey create --org ORG [--name NAME] [--json]\n"
    "       vexxy admin [--db URL] apikey list [--org ORG] [--json]\n"
    "       vexxy admin [--db URL] apikey revoke ID|PREFIX\n"
    "       vexxy admin [--db URL] quota set --org ORG --jobs-per-month N|unlimited\n"
    "       vexxy admin [--db URL] quota show --org ORG [--month YYYY-MM] [--json]\n"
    "       vexxy admin [--db URL] token --org ORG --secret SECRET [--tier T] [--issuer I]\n"
    "                                   [--audience A] [--ttl SECONDS] [--sub S]\n"
    "The store is --db, else $VEXXY_DB, else sqlite:DATA_DIR/vexxy.db. ORG is an id or a name.\n"
    "'token' mints an HS256 JWT (for scripts and tests); a negative --ttl mints an expired one.";

/* What every verb shares: where the store is and, once opened, the store itself. */
struct admin {
    char *db;         /* owned; from --db, or NULL until resolved */
    bool db_explicit; /* --db or $VEXXY_DB named the store */
    struct vx_store *store;
};

enum {
    OPT_DB = 256,
    OPT_ID,
    OPT_TIER,
    OPT_JPM,
    OPT_JSON,
    OPT_ORG,
    OPT_NAME,
    OPT_MONTH,
    OPT_SECRET,
    OPT_ISSUER,
    OPT_AUDIENCE,
    OPT_TTL,
    OPT_SUB,
    OPT_HELP
};

/* The union of every verb's options; each verb rejects the ones it does not take. */
static const struct option long_opts[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"id", required_argument, NULL, OPT_ID},
    {"tier", required_argument, NULL, OPT_TIER},
    {"jobs-per-month", required_argument, NULL, OPT_JPM},
    {"json", no_argument, NULL, OPT_JSON},
    {"org", required_argument, NULL, OPT_ORG},
    {"name", required_argument, NULL, OPT_NAME},
    {"month", required_argument, NULL, OPT_MONTH},
    {"secret", required_argument, NULL, OPT_SECRET},
    {"issuer", required_argument, NULL, OPT_ISSUER},
    {"audience", required_argument, NULL, OPT_AUDIENCE},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"sub", required_argument, NULL, OPT_SUB},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Parsed options of one verb; strings are borrowed from argv. */
struct verb_opts {
    const char *id, *tier, *jpm, *org, *name, *month, *secret, *issuer, *audience, *ttl, *sub;
    bool json, help;
    char **pos; /* positional arguments (borrowed, argv order) */
    int npos;
};

static int usage_error(const char *fmt, ...) VX_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "vexxy admin: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s\n", usage_text);
    return VX_EXIT_ERROR;
}

/* Prints the error once, frees it, and gives the exit code (STYLE.md R4: only the top
 * turns an error into output). */
static int fail(struct vx_err **err)
{
    fprintf(stderr, "vexxy admin: %s\n", *err && (*err)->msg ? (*err)->msg : "unknown error");
    vx_err_free(err);
    return VX_EXIT_ERROR;
}

/* 'allowed' is a string of OPT_* codes (as chars offset from OPT_DB) the verb accepts;
 * --db and --help are always accepted. Returns 0 or -1 after printing the usage error. */
static int parse_verb(struct admin *ad, int argc, char **argv, const char *allowed,
                      struct verb_opts *vo)
{
    int c;

    memset(vo, 0, sizeof(*vo));
    optind = 0; /* glibc: full re-initialisation, argv[0] is the verb */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        const char **slot = NULL;

        if (c == '?' || c == ':') {
            usage_error("%s: unknown option or missing value near '%s'", argv[0], argv[optind - 1]);
            return -1;
        }
        if (c != OPT_DB && c != OPT_HELP && !strchr(allowed, (char)(c - OPT_DB + 'a'))) {
            usage_error("%s: option '%s' does not apply here", argv[0], argv[optind - 1]);
            return -1;
        }
        switch (c) {
        case OPT_DB:
            free(ad->db);
            ad->db = vx_xstrdup(optarg);
            ad->db_explicit = true;
            break;
        case OPT_HELP:
            vo->help = true;
            break;
        case OPT_JSON:
            vo->json = true;
            break;
        case OPT_ID:
            slot = &vo->id;
            break;
        case OPT_TIER:
            slot = &vo->tier;
            break;
        case OPT_JPM:
            slot = &vo->jpm;
            break;
        case OPT_ORG:
            slot = &vo->org;
            break;
        case OPT_NAME:
            slot = &vo->name;
            break;
        case OPT_MONTH:
            slot = &vo->month;
            break;
        case OPT_SECRET:
            slot = &vo->secret;
            break;
        case OPT_ISSUER:
            slot = &vo->issuer;
            break;
        case OPT_AUDIENCE:
            slot = &vo->audience;
            break;
        case OPT_TTL:
            slot = &vo->ttl;
            break;
        case OPT_SUB:
            slot = &vo->sub;
            break;
        }
        if (slot)
            *slot = optarg;
    }
    vo->pos = argv + optind;
    vo->npos = argc - optind;
    if (vo->help) {
        printf("%s\n", usage_text);
        return 1;
    }
    return 0;
}

/* The option letters of parse_verb's 'allowed' string. */
#define A(o) ((char)((o)-OPT_DB + 'a'))

static int open_store(struct admin *ad, struct vx_err **err)
{
    char *data_dir = NULL;
    int rc = 0;

    if (ad->store)
        return 0;
    if (!ad->db) {
        const char *env = getenv("VEXXY_DB");

        data_dir = vx_cmd_default_data_dir();
        ad->db = vx_cmd_default_db(data_dir);
        ad->db_explicit = env && *env;
        /* the default store lives in the data dir, which the first admin command may
         * well precede `vexxy serve` in creating */
        if (!ad->db_explicit && vx_service_mkdirs(data_dir) < 0) {
            rc = vx_err_set(err, VX_E_IO, 0, "cannot create the data directory '%s'", data_dir);
            goto out;
        }
    }
    rc = vx_store_open(ad->db, NULL, &ad->store, err);
    if (rc < 0)
        rc = vx_err_wrap(err, "open store '%s'", ad->db);
out:
    free(data_dir);
    return rc;
}

/* Resolves ORG (id or name) to its record. Caller owns *out. */
static int find_org(struct admin *ad, const char *org, struct vx_org_rec **out, struct vx_err **err)
{
    int rc = open_store(ad, err);

    if (rc < 0)
        return rc;
    rc = vx_store_org_get(ad->store, org, out, err);
    if (rc < 0)
        return vx_err_wrap(err, "organization '%s'", org);
    return 0;
}

static int parse_limit(const char *s, int64_t *out)
{
    if (strcmp(s, "unlimited") == 0 || strcmp(s, "-1") == 0) {
        *out = -1;
        return 0;
    }
    return vx_parse_i64(s, 0, INT64_MAX, out);
}

static void print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);

    if (s)
        printf("%s\n", s);
    free(s); /* jansson allocates with malloc */
    json_decref(v);
}

static const char *fmt_time(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0)
        return "-";
    return vx_time_iso8601(ms, buf, len);
}

static json_t *json_time(int64_t ms)
{
    char t[32];

    return ms > 0 ? json_string(vx_time_iso8601(ms, t, sizeof(t))) : json_null();
}

static json_t *org_json(const struct vx_org_rec *o)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", o->id, "name", o->name ? o->name : "",
                     "tier", o->tier ? o->tier : "", "jobs_per_month",
                     o->jobs_per_month < 0 ? json_null() : json_integer(o->jobs_per_month),
                     "created_at", json_time(o->created_at));
}

/* ---- org ----------------------------------------------------------------------------- */

static int org_create(struct admin *ad, int argc, char **argv)
{
    const char allowed[] = {A(OPT_ID), A(OPT_TIER), A(OPT_JPM), A(OPT_JSON), 0};
    struct verb_opts vo;
    struct vx_org_rec *org = NULL;
    struct vx_err *err = NULL;
    int64_t jpm = -1;
    int rc;

    rc = parse_verb(ad, argc, argv, allowed, &vo);
    if (rc != 0)
        return rc < 0 ? VX_EXIT_ERROR : VX_EXIT_OK;
    if (vo.npos != 1 || !*vo.pos[0])
        return usage_error("org create: exactly one NAME is needed");
    if (vo.jpm && parse_limit(vo.jpm, &jpm) < 0)
        return usage_error("--jobs-per-month must be a number >= 0 or 'unlimited', not '%s'",
                           vo.jpm);
    if (open_store(ad, &err) < 0 ||
        vx_store_org_create(ad->store, vo.id, vo.pos[0], vo.tier ? vo.tier : "free", jpm, &org,
                            &err) < 0)
        return fail(&err);
    if (vo.json) {
        print_json(org_json(org));
    } else {
        printf("%s\n", org->id);
        fprintf(stderr, "created organization '%s' (tier %s, %s jobs per month)\n", org->name,
                org->tier, jpm < 0 ? "unlimited" : vo.jpm);
    }
    vx_org_rec_free(org);
    return VX_EXIT_OK;
}

static int org_list(struct admin *ad, int argc, char **argv)
{
    const char allowed[] = {A(OPT_JSON), 0};
    struct verb_opts vo;
    struct vx_org_rec **orgs = NULL;
    struct vx_err *err = NULL;
    size_t n = 0;
    char t[32];
    int rc;

    rc = parse_verb(ad, argc, argv, allowed, &vo);
    if (rc != 0)
        return rc < 0 ? VX_EXIT_ERROR : VX_EXIT_OK;
    if (vo.npos != 0)
        return usage_error("org list takes no arguments");
    if (open_store(ad, &err) < 0 || vx_store_org_list(ad->store, &orgs, &n, &err) < 0)
        return fail(&err);
    if (vo.json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, org_json(orgs[i]));
        print_json(arr);
    } else {
        printf("%-36s  %-20s  %-10s  %-10s  %s\n", "ID", "NAME", "TIER", "JOBS/MONTH", "CREATED");
        for (size_t i = 0; i < n; i++) {
            char lim[24];

            if (orgs[i]->jobs_per_month < 0)
                snprintf(lim, sizeof(lim), "unlimited");
            else
                snprintf(lim, sizeof(lim), "%" PRId64, orgs[i]->jobs_per_month);
            printf("%-36s  %-20s  %-10s  %-10s  %s\n", orgs[i]->id,
                   orgs[i]->name ? orgs[i]->name : "", orgs[i]->tier ? orgs[i]->tier : "", lim,
                   fmt_time(orgs[i]->created_at, t, sizeof(t)));
        }
    }
    for (size_t i = 0; i < n; i++)
        vx_org_rec_free(orgs[i]);
    free(orgs);
    return VX_EXIT_OK;
}

/* ---- apikey -------------------------------------------------------------------------- */

static int apikey_create(struct admin *ad, int argc, char **argv)
{
    const char allowed[] = {A(OPT_ORG), A(OPT_NAME), A(OPT_JSON), 0};
    struct verb_opts vo;
    struct vx_org_rec *org = NULL;
    struct vx_err *err = NULL;
    char *token = NULL, *id = NULL;
    int rc;

    rc = parse_verb(ad, argc, argv, allowed, &vo);
    if (rc != 0)
        return rc < 0 ? VX_EXIT_ERROR : VX_EXIT_OK;
    if (vo.npos != 0 || !vo.org)
        return usage_error("apikey create needs --org ORG and no other arguments");
    if (find_org(ad, vo.org, &org, &err) < 0)
        return fail(&err);
    rc = vx_apikey_issue(ad->store, org->id, vo.name ? vo.name : "", &token, &id, &err);
    if (rc < 0) {
        vx_org_rec_free(org);
        return fail(&err);
    }
    if (vo.json) {
        print_json(json_pack("{s:s, s:s, s:s}", "id", id, "org_id", org->id, "token", token));
    } else {
        printf("%s\n", token);
        fprintf(stderr,
                "api key %s for organization '%s' (%s); the token above is shown only "
                "once\n",
                id, org->name ? org->name : org->id, org->id);
    }
    explicit_bzero(token, strlen(token));
    free(token);
    free(id);
    vx_org_rec_free(org);
    return VX_EXIT_OK;
}

static int apikey_list(struct admin *ad, int argc, char **argv)
{
    const char allowed[] = {A(OPT_ORG), A(OPT_JSON), 0};
    struct verb_opts vo;
    struct vx_org_rec *org = NULL;
    struct vx_apikey_rec **keys = NULL;
    struct vx_err *err = NULL;
    size_t n = 0;
    char t1[32], t2[32];
    int rc;

    rc = parse_verb(ad, argc, argv, allowed, &vo);
    if (rc != 0)
        return rc < 0 ? VX_EXIT_ERROR : VX_EXIT_OK;
    if (vo.npos != 0)
        return usage_error("apikey list takes no arguments");
    if (vo.org && find_org(ad, vo.org, &org, &err) < 0)
        return fail(&err);
    if (open_store(ad, &err) < 0 ||
        vx_store_apikey_list(ad->store, org ? org->id : NULL, &keys, &n, &err) < 0) {
        vx_org_rec_free(org);
        return fail(&err);
    }
    if (vo.json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "id",
                                                 keys[i]->id, "org_id", keys[i]->org_id, "name",
                                                 keys[i]->name ? keys[i]->name : "", "prefix",
                                                 keys[i]->prefix, "revoked", keys[i]->revoked,
                                                 "created_at", json_time(keys[i]->created_at),
                                                 "last_used_at", json_time(keys[i]->last_used_at)));
        print_json(arr);
    } else {
        printf("%-36s  %-11s  %-20s  %-16s  %-7s  %-24s  %s\n", "ID", "PREFIX", "ORG", "NAME",
               "REVOKED", "CREATED", "LAST USED");
        for (size_t i = 0; i < n; i++)
            printf("%-36s  %-11s  %-20s  %-16s  %-7s  %-24s  %s\n", keys[i]->id, keys[i]->prefix,
                   keys[i]->org_id, keys[i]->name ? keys[i]->name : "",
                   keys[i]->revoked ? "yes" : "no", fmt_time(keys[i]->created_at, t1, sizeof(t1)),
                   fmt_time(keys[i]->last_used_at, t2, sizeof(t2)));
    }
    for (size_t i = 0; i < n; i++)
        vx_apikey_rec_free(keys[i]);
    free(keys);
    vx_org_rec_free(org);
    return VX_EXIT_OK;
}

static int apikey_revoke(struct admin *ad, int argc, char **argv)
{
    const char allowed[] = {0};
    struct verb_opts vo;
    struct vx_err *err = NULL;
    int rc;

    rc = parse_verb(ad, argc, argv, allowed, &vo);
    if (rc != 0)
        return rc < 0 ? VX_EXIT_ERROR : VX_EXIT_OK;
    if (vo.npos != 1 || !*vo.pos[0])
        return usage_error("apikey revoke needs exactly one key ID or PREFIX");
    if (open_store(ad, &err) < 0 || vx_store_apikey_revoke(ad->store, vo.pos[0], &err) < 0)
        return fail(&err);
    fprintf(stderr, "revoked api key '%s'\n", vo.pos[0]);
    return VX_EXIT_OK;
}

/* ---- quota --------------------------------------------------------------------------- */

static int quota_set(struct admin *ad, int argc, char **argv)
{
    const char allowed[] = {A(OPT_ORG), A(OPT_JPM), 0};
    struct verb_opts vo;
    struct vx_org_rec *org = NULL;
    struct vx_err *err = NULL;
    int64_t jpm;
    int rc;

    rc = parse_verb(ad, argc, argv, allowed, &vo);
    if (rc != 0)
        return rc < 0 ? VX_EXIT_ERROR : VX_EXIT_OK;
    if (vo.npos != 0 || !vo.org || !vo.jpm)
        return usage_error("quota set needs --org ORG and --jobs-per-month N|unlimited");
    if (parse_limit(vo.jpm, &jpm) < 0)
        return usage_error("--jobs-per-month must be a number >= 0 or 'unlimited', not '%s'",
                           vo.jpm);
    if (find_org(ad, vo.org, &org, &err) < 0)
        return fail(&err);
    rc = vx_store_quota_set(ad->store, org->id, jpm, &err);
    if (rc == 0)
        fprintf(stderr, "organization '%s': %s jobs per month\n", org->id,
                jpm < 0 ? "unlimited" : vo.jpm);
    vx_org_rec_free(org);
    return rc < 0 ? fail(&err) : VX_EXIT_OK;
}

static bool month_valid(const char *m)
{
    int mo;

    if (strlen(m) != 7 || m[4] != '-')
        return false;
    for (int i = 0; i < 7; i++) {
        if (i != 4 && (m[i] < '0' || m[i] > '9'))
            return false;
    }
    mo = (m[5] - '0') * 10 + (m[6] - '0');
    return mo >= 1 && mo <= 12;
}

static int quota_show(struct admin *ad, int argc, char **argv)
{
    const char allowed[] = {A(OPT_ORG), A(OPT_MONTH), A(OPT_JSON), 0};
    struct verb_opts vo;
    struct vx_org_rec *org = NULL;
    struct vx_err *err = NULL;
    int64_t limit = -1, used = 0;
    char month[16];
    int rc;

    rc = parse_verb(ad, argc, argv, allowed, &vo);
    if (rc != 0)
        return rc < 0 ? VX_EXIT_ERROR : VX_EXIT_OK;
    if (vo.npos != 0 || !vo.org)
        return usage_error("quota show needs --org ORG");
    if (vo.month && !month_valid(vo.month))
        return usage_error("--month must be YYYY-MM, not '%s'", vo.month);
    if (vo.month)
        snprintf(month, sizeof(month), "%s", vo.month);
    else
        vx_time_month(vx_now_ms(), month, sizeof(month));
    if (find_org(ad, vo.org, &org, &err) < 0)
        return fail(&err);
    rc = vx_store_quota_get(ad->store, org->id, month, &limit, &used, &err);
    if (rc < 0) {
        vx_org_rec_free(org);
        return fail(&err);
    }
    if (vo.json) {
        print_json(json_pack("{s:s, s:s, s:o, s:I}", "org_id", org->id, "month", month,
                             "jobs_per_month", limit < 0 ? json_null() : json_integer(limit),
                             "used", (json_int_t)used));
    } else if (limit < 0) {
        printf("organization '%s', %s: %" PRId64 " jobs used, no limit\n", org->id, month, used);
    } else {
        printf("organization '%s', %s: %" PRId64 " of %" PRId64 " jobs used\n", org->id, month,
               used, limit);
    }
    vx_org_rec_free(org);
    return VX_EXIT_OK;
}

/* ---- token --------------------------------------------------------------------------- */

/* The org claim: the id of ORG when a store is at hand and knows it (by id or name), else
 * ORG itself (a token for an organization the server will create on first sight). The
 * store is only consulted when one was named or the default one already exists, so
 * minting a token never creates a database as a side effect; a named store that cannot be
 * opened is an error, not a reason to guess. *out is a new string the caller frees. */
static int token_org(struct admin *ad, const char *org, char **out, struct vx_err **err)
{
    struct vx_org_rec *rec = NULL;
    struct vx_err *e = NULL;
    char *data_dir = NULL, *path = NULL;
    const char *env = getenv("VEXXY_DB");
    bool use_store = ad->db || (env && *env);
    int rc = 0;

    if (!use_store) {
        data_dir = vx_cmd_default_data_dir();
        path = vx_xasprintf("%s/vexxy.db", data_dir);
        use_store = access(path, F_OK) == 0;
    }
    if (use_store) {
        rc = open_store(ad, err);
        if (rc < 0)
            goto out;
        if (vx_store_org_get(ad->store, org, &rec, &e) == 0) {
            *out = vx_xstrdup(rec->id);
            goto out;
        }
        if (e && e->code != VX_E_NOT_FOUND) {
            rc = -e->code;
            *err = e;
            e = NULL;
            goto out;
        }
    }
    *out = vx_xstrdup(org);
out:
    vx_org_rec_free(rec);
    vx_err_free(&e);
    free(data_dir);
    free(path);
    return rc;
}

static int token(struct admin *ad, int argc, char **argv)
{
    const char allowed[] = {A(OPT_ORG),      A(OPT_SECRET), A(OPT_TIER), A(OPT_ISSUER),
                            A(OPT_AUDIENCE), A(OPT_TTL),    A(OPT_SUB),  0};
    struct verb_opts vo;
    struct vx_err *err = NULL;
    json_t *claims = NULL;
    char *org = NULL, *text = NULL, *jwt = NULL;
    int64_t ttl = 3600, now, exp;
    int rc;

    rc = parse_verb(ad, argc, argv, allowed, &vo);
    if (rc != 0)
        return rc < 0 ? VX_EXIT_ERROR : VX_EXIT_OK;
    if (vo.npos != 0 || !vo.org || !vo.secret)
        return usage_error("token needs --org ORG and --secret SECRET");
    if (!*vo.secret)
        return usage_error("--secret must not be empty");
    if (vo.ttl && vx_parse_i64(vo.ttl, -315360000, 315360000, &ttl) < 0)
        return usage_error("--ttl must be a number of seconds (at most 10 years), not '%s'",
                           vo.ttl);

    if (token_org(ad, vo.org, &org, &err) < 0)
        return fail(&err);
    now = vx_now_ms() / 1000;
    exp = now + ttl;
    claims = json_pack("{s:s, s:I, s:I}", "org", org, "iat", (json_int_t)(exp < now ? exp : now),
                       "exp", (json_int_t)exp);
    if (vo.tier)
        json_object_set_new(claims, "tier", json_string(vo.tier));
    if (vo.issuer)
        json_object_set_new(claims, "iss", json_string(vo.issuer));
    if (vo.audience)
        json_object_set_new(claims, "aud", json_string(vo.audience));
    if (vo.sub)
        json_object_set_new(claims, "sub", json_string(vo.sub));
    text = vx_json_dump(claims);
    rc = vx_jwt_sign_hs256(vo.secret, text, &jwt, &err);
    if (rc < 0) {
        rc = fail(&err);
    } else {
        printf("%s\n", jwt);
        rc = VX_EXIT_OK;
    }
    json_decref(claims);
    free(text);
    free(jwt);
    free(org);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------ */

struct admin_verb {
    const char *object, *verb; /* verb NULL: the object is the verb ("token") */
    int (*fn)(struct admin *ad, int argc, char **argv);
};

static const struct admin_verb verbs[] = {
    {"org", "create", org_create},       {"org", "list", org_list},
    {"apikey", "create", apikey_create}, {"apikey", "list", apikey_list},
    {"apikey", "revoke", apikey_revoke}, {"quota", "set", quota_set},
    {"quota", "show", quota_show},       {"token", NULL, token},
};

int vx_cmd_admin(int argc, char **argv)
{
    struct admin ad = {0};
    int i = 1, rc = VX_EXIT_ERROR;

    /* options before the object: only --db and --help */
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s\n", usage_text);
            rc = VX_EXIT_OK;
            goto out;
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            free(ad.db);
            ad.db = vx_xstrdup(argv[i + 1]);
            ad.db_explicit = true;
            i += 2;
        } else if (strncmp(argv[i], "--db=", 5) == 0) {
            free(ad.db);
            ad.db = vx_xstrdup(argv[i] + 5);
            ad.db_explicit = true;
            i++;
        } else {
            rc = usage_error("unknown option '%s'", argv[i]);
            goto out;
        }
    }
    if (i >= argc) {
        rc = usage_error("what to manage: org, apikey, quota or token");
        goto out;
    }
    for (size_t k = 0; k < VX_ARRAY_SIZE(verbs); k++) {
        if (strcmp(argv[i], verbs[k].object) != 0)
            continue;
        if (!verbs[k].verb) {
            rc = verbs[k].fn(&ad, argc - i, argv + i);
            goto out;
        }
        if (i + 1 < argc && strcmp(argv[i + 1], verbs[k].verb) == 0) {
            rc = verbs[k].fn(&ad, argc - i - 1, argv + i + 1);
            goto out;
        }
    }
    if (i + 1 < argc && (strcmp(argv[i + 1], "--help") == 0 || strcmp(argv[i + 1], "-h") == 0)) {
        printf("%s\n", usage_text);
        rc = VX_EXIT_OK;
        goto out;
    }
    rc = usage_error("unknown command '%s%s%s'", argv[i], i + 1 < argc ? " " : "",
                     i + 1 < argc ? argv[i + 1] : "");
out:
    vx_store_close(ad.store);
    free(ad.db);
    return rc;
}
