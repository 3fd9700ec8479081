/* config.c -- where the Kubernetes client's credentials come from: a kubeconfig file
 * (YAML, through libyaml) or the in-cluster service account; vx_kube_open/close.
 *
 * DESIGN
 * - The kubeconfig is loaded as one YAML document (at most 1 MiB) and turned into a
 *   jansson tree (mappings -> objects, sequences -> arrays, scalars -> strings; plain
 *   true/false/null -> JSON literals). Aliases are followed, so the conversion counts nodes
 *   and depth: an alias bomb is an error, not an OOM.
 * - Only what the client needs is read: the context (named or current-context), its cluster
 *   (server, certificate-authority file or -data) and user (token, tokenFile,
 *   client-certificate/-key files or -data). Relative paths are relative to the kubeconfig's
 *   directory, as kubectl does. -data fields are decoded into memory and handed to curl as
 *   blobs: nothing is written to disk. insecure-skip-tls-verify, exec and auth-provider are
 *   refused with a message naming the field (TLS is always verified; no plugins run).
 * - $KUBECONFIG may be a ':' list; kubectl merges the files, we take the first that exists.
 * - In-cluster: token, ca.crt and namespace from the service-account directory, the server
 *   from KUBERNETES_SERVICE_HOST/PORT. Tokens from files are re-read every minute, since
 *   bound service-account tokens rotate.
 * - Every error names the file and the field ("users[0].user.token").
 */
#include "common/setup.h"

#include "kube/kube.h"

#include <arpa/inet.h> /* inet_pton: is the server loopback */
#include <curl/curl.h> /* curl_global_init, curl_url for the server URL check */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h> /* libyaml: the kubeconfig */

#include "kube/kube_int.h"  /* struct vx_kube */
#include "common/alloc.h"   /* vx_xstrdup, vx_xasprintf */
#include "common/cleanup.h" /* vx_steal_ptr */
#include "common/err.h"     /* vx_err_set, vx_err_field */
#include "common/util.h"    /* vx_mono_ms */

#define KUBECONFIG_MAX (1u << 20)
#define YAML_MAX_NODES 100000
#define YAML_MAX_DEPTH 64
#define NAMESPACE_MAX  253
#define DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

int vx_kube_read_file(const char *path, size_t max, char **out, size_t *len, struct vx_err **err)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    ssize_t r;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vx_err_set(err, VX_E_INVALID, errno, "open '%s'", path);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "'%s' is not a regular file", path);
        goto out;
    }
    buf = vx_xmalloc(max + 1);
    for (;;) {
        r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = vx_err_set(err, VX_E_IO, errno, "read '%s'", path);
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            rc = vx_err_set(err, VX_E_TOO_LARGE, 0, "'%s' is over %zu bytes", path, max);
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    if (len)
        *len = n;
out:
    free(buf);
    close(fd);
    return rc;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int vx_kube_base64_decode(const char *in, char **out, size_t *len)
{
    size_t n = strlen(in), o = 0, pad = 0, q = 0;
    unsigned acc = 0;
    char *buf = vx_xmalloc(n / 4 * 3 + 4);

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i], v;

        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        v = b64val(c);
        if (v < 0 || pad)
            goto bad; /* junk, or data after padding */
        acc = acc << 6 | (unsigned)v;
        if (++q == 4) {
            buf[o++] = (char)(acc >> 16);
            buf[o++] = (char)(acc >> 8);
            buf[o++] = (char)acc;
            acc = 0;
            q = 0;
        }
    }
    if (q == 1 || pad > 2 || (pad && q + pad != 4))
        goto bad;
    if (q == 2) {
        buf[o++] = (char)(acc >> 4);
    } else if (q == 3) {
        buf[o++] = (char)(acc >> 10);
        buf[o++] = (char)(acc >> 2);
    }
    buf[o] = '\0';
    *out = buf;
    *len = o;
    return 0;
bad:
    free(buf);
    return -1;
}

void vx_kube_refresh_token(struct vx_kube *k)
{
    char *tok = NULL;
    struct vx_err *e = NULL;
    int64_t now = vx_mono_ms();
    size_t n;

    if (!k->token_file || (k->token && now - k->token_read_ms < KUBE_TOKEN_REREAD))
        return;
    if (vx_kube_read_file(k->token_file, KUBE_TOKEN_MAX, &tok, &n, &e) < 0) {
        vx_err_free(&e);
        return;
    }
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        tok[--n] = '\0';
    free(k->token);
    k->token = tok;
    k->token_read_ms = now;
}

/* ---- YAML -> JSON ---------------------------------------------------------------------- */

struct yconv {
    yaml_document_t *doc;
    long nodes;
};

static json_t *yaml_node_json(struct yconv *c, yaml_node_t *n, int depth)
{
    json_t *v = NULL;

    if (!n || depth > YAML_MAX_DEPTH || ++c->nodes > YAML_MAX_NODES)
        return NULL;
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;

        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            if (strcmp(s, "true") == 0)
                return json_true();
            if (strcmp(s, "false") == 0)
                return json_false();
            if (len == 0 || strcmp(s, "null") == 0 || strcmp(s, "~") == 0)
                return json_null();
        }
        v = json_stringn_nocheck(s, len);
        return v ? v : json_null();
    }
    case YAML_SEQUENCE_NODE:
        v = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            json_t *e = yaml_node_json(c, yaml_document_get_node(c->doc, *it), depth + 1);
            if (!e)
                goto fail;
            json_array_append_new(v, e);
        }
        return v;
    case YAML_MAPPING_NODE:
        v = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
            json_t *e;

            if (!kn || kn->type != YAML_SCALAR_NODE)
                continue; /* complex keys: nothing we read uses them */
            e = yaml_node_json(c, yaml_document_get_node(c->doc, p->value), depth + 1);
            if (!e)
                goto fail;
            json_object_set_new_nocheck(v, (const char *)kn->data.scalar.value, e);
        }
        return v;
    default:
        return NULL;
    }
fail:
    json_decref(v);
    return NULL;
}

/* Parses text as one YAML document into a JSON tree (caller owns). */
static int yaml_to_json(const char *path, const char *text, size_t len, json_t **out,
                        struct vx_err **err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    struct yconv c = {&doc, 0};
    json_t *v = NULL;
    int rc = 0;

    if (!yaml_parser_initialize(&parser))
        return vx_err_set(err, VX_E_INTERNAL, 0, "yaml parser initialisation failed");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "kubeconfig '%s': line %zu column %zu: %s%s%s", path,
                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "invalid yaml", parser.context ? " " : "",
                        parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return rc;
    }
    root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "kubeconfig '%s' is empty", path);
        goto out;
    }
    v = yaml_node_json(&c, root, 0);
    if (!v) {
        rc = vx_err_set(err, VX_E_TOO_LARGE, 0,
                        "kubeconfig '%s': more than %d nodes or deeper than %d (alias bomb?)", path,
                        YAML_MAX_NODES, YAML_MAX_DEPTH);
        goto out;
    }
    if (!json_is_object(v)) {
        rc = vx_err_set(err, VX_E_INVALID, 0, "kubeconfig '%s' is not a mapping", path);
        goto out;
    }
    *out = v;
    v = NULL;
out:
    json_decref(v);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- kubeconfig ------------------------------------------------------------------------ */

struct kcfg {
    const char *path;
    char *dir; /* for relative paths */
};

static int field_err(struct kcfg *c, struct vx_err **err, const char *field, const char *fmt, ...)
    VX_PRINTF(4, 5);

static int field_err(struct kcfg *c, struct vx_err **err, const char *field, const char *fmt, ...)
{
    va_list ap;
    char *m;
    int rc;

    va_start(ap, fmt);
    m = vx_xvasprintf(fmt, ap);
    va_end(ap);
    rc = vx_err_field(err, VX_E_INVALID, field, "kubeconfig '%s': '%s' %s", c->path, field, m);
    free(m);
    return rc;
}

/* *out = the string at obj.key (borrowed) or NULL when absent/null; other types fail. */
static int get_str(struct kcfg *c, const json_t *obj, const char *key, const char *prefix,
                   const char **out, struct vx_err **err)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    char field[256];

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(field, sizeof(field), "%s%s", prefix, key);
        return field_err(c, err, field, "is not a string");
    }
    *out = json_string_value(v);
    return 0;
}

/* Finds the entry of list 'key' ("contexts") whose name is 'name'; *inner = its 'sub'
 * mapping ("context"), *idx its index. */
static int find_named(struct kcfg *c, const json_t *root, const char *key, const char *sub,
                      const char *name, const json_t **inner, size_t *idx, struct vx_err **err)
{
    json_t *list = json_object_get(root, key), *e;
    char field[128];
    size_t i;

    if (list && !json_is_array(list) && !json_is_null(list))
        return field_err(c, err, key, "is not a list");
    json_array_foreach(list, i, e)
    {
        json_t *n = json_object_get(e, "name"), *in;

        if (!json_is_string(n) || strcmp(json_string_value(n), name) != 0)
            continue;
        in = json_object_get(e, sub);
        if (!json_is_object(in)) {
            snprintf(field, sizeof(field), "%s[%zu].%s", key, i, sub);
            return field_err(c, err, field, "is missing or not a mapping");
        }
        *inner = in;
        *idx = i;
        return 0;
    }
    return vx_err_field(err, VX_E_INVALID, key, "kubeconfig '%s': no entry named '%s' in '%s'",
                        c->path, name, key);
}

static char *resolve_path(struct kcfg *c, const char *p)
{
    if (p[0] == '/' || !c->dir)
        return vx_xstrdup(p);
    return vx_xasprintf("%s/%s", c->dir, p);
}

/* A file field and its -data twin ("certificate-authority" / "certificate-authority-data"). */
static int load_pem(struct kcfg *c, const json_t *obj, const char *prefix, const char *key,
                    struct kube_pem *pem, struct vx_err **err)
{
    char dkey[64], field[256];
    const char *file = NULL, *data = NULL;
    int rc;

    snprintf(dkey, sizeof(dkey), "%s-data", key);
    rc = get_str(c, obj, key, prefix, &file, err);
    if (rc == 0)
        rc = get_str(c, obj, dkey, prefix, &data, err);
    if (rc < 0)
        return rc;
    if (data && *data) {
        if (vx_kube_base64_decode(data, &pem->data, &pem->len) < 0 || pem->len == 0) {
            snprintf(field, sizeof(field), "%s%s", prefix, dkey);
            return field_err(c, err, field, "is not valid base64");
        }
        return 0; /* -data wins over the file, as in kubectl */
    }
    if (file && *file) {
        pem->file = resolve_path(c, file);
        if (access(pem->file, R_OK) < 0) {
            snprintf(field, sizeof(field), "%s%s", prefix, key);
            return vx_err_field(err, VX_E_INVALID, field,
                                "kubeconfig '%s': '%s': cannot read '%s': %s", c->path, field,
                                pem->file, strerror(errno));
        }
    }
    return 0;
}

static bool is_loopback(const char *host)
{
    struct in_addr a;

    /* numeric only: a name like "127.example.com" is not loopback */
    if (inet_pton(AF_INET, host, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    return strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

/* Checks and stores the server URL: https, or http to a loopback address. */
static int set_server(struct vx_kube *k, const char *url, const char *where, struct vx_err **err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    size_t n;
    int rc = 0;

    if (!u)
        return vx_err_set(err, VX_E_INTERNAL, 0, "curl_url failed");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        rc = vx_err_field(err, VX_E_INVALID, "server", "%s: server '%s' is not a URL", where, url);
        goto out;
    }
    if (strcmp(scheme, "http") == 0 && is_loopback(host)) {
        k->plain_http = true;
    } else if (strcmp(scheme, "https") != 0) {
        rc = vx_err_field(err, VX_E_INVALID, "server",
                          "%s: server '%s' must be https (plain http only to a loopback address)",
                          where, url);
        goto out;
    }
    if (strchr(url, '?') || strchr(url, '#')) {
        rc = vx_err_field(err, VX_E_INVALID, "server", "%s: server '%s' has a query or fragment",
                          where, url);
        goto out;
    }
    k->server = vx_xstrdup(url);
    n = strlen(k->server);
    while (n > 0 && k->server[n - 1] == '/')
        k->server[--n] = '\0';
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static int load_kubeconfig(struct vx_kube *k, const char *path, const struct vx_kube_options *o,
                           struct vx_err **err)
{
    struct kcfg c = {path, NULL};
    char *text = NULL, *slash, field[160], where[512];
    size_t len, ci, ki, ui;
    json_t *root = NULL;
    const json_t *ctx, *cluster, *user;
    const char *ctxname = o->context, *cname, *uname, *ns = NULL, *server = NULL;
    const char *token = NULL, *token_file = NULL;
    int rc;

    rc = vx_kube_read_file(path, KUBECONFIG_MAX, &text, &len, err);
    if (rc < 0) {
        vx_err_wrap(err, "kubeconfig");
        goto out;
    }
    c.dir = vx_xstrdup(path);
    slash = strrchr(c.dir, '/');
    if (slash)
        *slash = '\0';
    else {
        free(c.dir);
        c.dir = NULL;
    }
    rc = yaml_to_json(path, text, len, &root, err);
    if (rc < 0)
        goto out;

    if (!ctxname) {
        rc = get_str(&c, root, "current-context", "", &ctxname, err);
        if (rc < 0)
            goto out;
        if (!ctxname || !*ctxname) {
            rc = vx_err_field(err, VX_E_INVALID, "current-context",
                              "kubeconfig '%s': no context asked for and 'current-context' is "
                              "not set",
                              path);
            goto out;
        }
    }
    rc = find_named(&c, root, "contexts", "context", ctxname, &ctx, &ci, err);
    if (rc < 0)
        goto out;
    snprintf(field, sizeof(field), "contexts[%zu].context.", ci);
    if ((rc = get_str(&c, ctx, "cluster", field, &cname, err)) < 0 ||
        (rc = get_str(&c, ctx, "user", field, &uname, err)) < 0 ||
        (rc = get_str(&c, ctx, "namespace", field, &ns, err)) < 0)
        goto out;
    if (!cname || !*cname) {
        rc =
            field_err(&c, err, "contexts[].context.cluster", "is missing in context '%s'", ctxname);
        goto out;
    }

    rc = find_named(&c, root, "clusters", "cluster", cname, &cluster, &ki, err);
    if (rc < 0)
        goto out;
    snprintf(field, sizeof(field), "clusters[%zu].cluster.", ki);
    rc = get_str(&c, cluster, "server", field, &server, err);
    if (rc < 0)
        goto out;
    if (!server || !*server) {
        snprintf(field, sizeof(field), "clusters[%zu].cluster.server", ki);
        rc = field_err(&c, err, field, "is missing");
        goto out;
    }
    if (json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"))) {
        snprintf(field, sizeof(field), "clusters[%zu].cluster.insecure-skip-tls-verify", ki);
        rc = field_err(&c, err, field, "is set: TLS verification cannot be turned off");
        goto out;
    }
    snprintf(where, sizeof(where), "kubeconfig '%s': 'clusters[%zu].cluster'", path, ki);
    rc = set_server(k, server, where, err);
    if (rc < 0)
        goto out;
    snprintf(field, sizeof(field), "clusters[%zu].cluster.", ki);
    rc = load_pem(&c, cluster, field, "certificate-authority", &k->ca, err);
    if (rc < 0)
        goto out;

    if (uname && *uname) {
        rc = find_named(&c, root, "users", "user", uname, &user, &ui, err);
        if (rc < 0)
            goto out;
        snprintf(field, sizeof(field), "users[%zu].user.", ui);
        if ((rc = get_str(&c, user, "token", field, &token, err)) < 0 ||
            (rc = get_str(&c, user, "tokenFile", field, &token_file, err)) < 0 ||
            (rc = load_pem(&c, user, field, "client-certificate", &k->cert, err)) < 0 ||
            (rc = load_pem(&c, user, field, "client-key", &k->key, err)) < 0)
            goto out;
        if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
            if (!token && !token_file && !k->cert.file && !k->cert.data) {
                snprintf(field, sizeof(field), "users[%zu].user.%s", ui,
                         json_object_get(user, "exec") ? "exec" : "auth-provider");
                rc = field_err(&c, err, field,
                               "is not supported: use a token or a client "
                               "certificate");
                goto out;
            }
        }
        if ((k->cert.file || k->cert.data) != (k->key.file || k->key.data)) {
            snprintf(field, sizeof(field), "users[%zu].user.%s", ui,
                     k->cert.file || k->cert.data ? "client-key" : "client-certificate");
            rc = field_err(&c, err, field, "is missing (a client certificate needs its key)");
            goto out;
        }
        if (token && *token) {
            k->token = vx_xstrdup(token);
        } else if (token_file && *token_file) {
            char *t = NULL;

            k->token_file = resolve_path(&c, token_file);
            rc = vx_kube_read_file(k->token_file, KUBE_TOKEN_MAX, &t, NULL, err);
            free(t);
            if (rc < 0) {
                snprintf(field, sizeof(field), "users[%zu].user.tokenFile", ui);
                rc = vx_err_wrap(err, "kubeconfig '%s': '%s'", path, field);
                goto out;
            }
            vx_kube_refresh_token(k);
        }
    }
    if (!o->namespace_ && ns && *ns)
        k->namespace_ = vx_xstrdup(ns);
    k->source = vx_xasprintf("kubeconfig '%s' context '%s'", path, ctxname);
out:
    json_decref(root);
    free(text);
    free(c.dir);
    return rc;
}

static int load_in_cluster(struct vx_kube *k, const struct vx_kube_options *o, struct vx_err **err)
{
    const char *dir = o->serviceaccount_dir ? o->serviceaccount_dir : DEFAULT_SA_DIR;
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    char *url = NULL, *ns = NULL;
    size_t n;
    int rc = 0;

    if (!host || !*host) {
        return vx_err_set(err, VX_E_INVALID, 0,
                          "no kubeconfig found and not in a cluster (KUBERNETES_SERVICE_HOST "
                          "is not set)");
    }
    url = vx_xasprintf(strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                       port && *port ? port : "443");
    rc = set_server(k, url, "in-cluster", err);
    if (rc < 0)
        goto out;
    k->token_file = vx_xasprintf("%s/token", dir);
    vx_kube_refresh_token(k);
    if (!k->token) {
        char *t = NULL;

        rc = vx_kube_read_file(k->token_file, KUBE_TOKEN_MAX, &t, NULL, err);
        free(t);
        rc = vx_err_wrap(err, "in-cluster service account token");
        goto out;
    }
    k->ca.file = vx_xasprintf("%s/ca.crt", dir);
    if (access(k->ca.file, R_OK) < 0) {
        rc = vx_err_set(err, VX_E_INVALID, errno, "in-cluster service account: '%s'", k->ca.file);
        goto out;
    }
    if (!o->namespace_) {
        char *p = vx_xasprintf("%s/namespace", dir);
        struct vx_err *e = NULL;

        if (vx_kube_read_file(p, 4096, &ns, &n, &e) == 0) {
            while (n > 0 && (ns[n - 1] == '\n' || ns[n - 1] == ' ' || ns[n - 1] == '\r'))
                ns[--n] = '\0';
            if (n > 0)
                k->namespace_ = vx_steal_ptr(&ns);
        }
        vx_err_free(&e);
        free(p);
    }
    k->source = vx_xasprintf("in-cluster service account '%s'", dir);
out:
    free(url);
    free(ns);
    return rc;
}

/* The kubeconfig to use, or NULL for in-cluster. Caller owns the result. */
static char *find_kubeconfig(const struct vx_kube_options *o)
{
    const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
    char *p;

    if (o->kubeconfig)
        return vx_xstrdup(o->kubeconfig);
    if (env && *env) {
        const char *s = env;

        while (*s) {
            size_t n = strcspn(s, ":");

            if (n > 0) {
                p = vx_xstrndup(s, n);
                if (access(p, F_OK) == 0)
                    return p;
                free(p);
            }
            s += n;
            if (*s == ':')
                s++;
        }
    }
    if (home && *home) {
        p = vx_xasprintf("%s/.kube/config", home);
        if (access(p, F_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

static bool valid_namespace(const char *ns)
{
    size_t n = strlen(ns);

    if (n == 0 || n > NAMESPACE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = ns[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return false;
    }
    return ns[0] != '-' && ns[n - 1] != '-';
}

int vx_kube_open(const struct vx_kube_options *opts, struct vx_kube **out, struct vx_err **err)
{
    struct vx_kube_options none = {0};
    const struct vx_kube_options *o = opts ? opts : &none;
    struct vx_kube *k = vx_xcalloc(1, sizeof(*k));
    char *path = NULL;
    int rc;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = vx_err_set(err, VX_E_INTERNAL, 0, "curl_global_init failed");
        goto out;
    }
    k->max_retries = o->max_retries > 0 ? o->max_retries : 4;
    k->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 200;
    k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    path = find_kubeconfig(o);
    rc = path ? load_kubeconfig(k, path, o, err) : load_in_cluster(k, o, err);
    if (rc < 0)
        goto out;
    if (o->namespace_) {
        free(k->namespace_);
        k->namespace_ = vx_xstrdup(o->namespace_);
    }
    if (!k->namespace_)
        k->namespace_ = vx_xstrdup("default");
    if (!valid_namespace(k->namespace_)) {
        rc = vx_err_field(err, VX_E_INVALID, "namespace", "%s: namespace '%s' is not a valid name",
                          k->source, k->namespace_);
        goto out;
    }
    k->h = curl_easy_init();
    if (!k->h) {
        rc = vx_err_set(err, VX_E_INTERNAL, 0, "curl_easy_init failed");
        goto out;
    }
    *out = k;
    k = NULL;
out:
    free(path);
    vx_kube_close(k);
    return rc;
}

static void pem_release(struct kube_pem *p)
{
    free(p->file);
    if (p->data) {
        explicit_bzero(p->data, p->len);
        free(p->data);
    }
}

void vx_kube_close(struct vx_kube *k)
{
    if (!k)
        return;
    if (k->h)
        curl_easy_cleanup(k->h);
    free(k->server);
    free(k->namespace_);
    free(k->source);
    if (k->token) {
        explicit_bzero(k->token, strlen(k->token));
        free(k->token);
    }
    free(k->token_file);
    pem_release(&k->ca);
    pem_release(&k->cert);
    pem_release(&k->key);
    free(k);
}

const char *vx_kube_namespace(const struct vx_kube *k)
{
    return k->namespace_;
}

const char *vx_kube_server(const struct vx_kube *k)
{
    return k->server;
}
