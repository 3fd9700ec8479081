/* crawl.c -- what the exerciser learns from responses: links and forms in HTML, where a
 * reference leads, and the operations an OpenAPI/Swagger document declares.
 *
 * The HTML side is a tolerant tag scanner, not a parser: it walks '<' ... '>' tags,
 * skips comments and the bodies of <script>/<style>, reads attributes (quoted, unquoted or
 * bare) and keeps href/src/action values plus the fields of forms. Malformed markup only
 * loses links; every loop advances and every count is capped, because pages come from the
 * workload under analysis. References are resolved against the page (RFC 3986 style, dot
 * segments removed) and kept only when they stay on the target host and one of the ports
 * being exercised: the exerciser never reaches anything else.
 *
 * The OpenAPI side walks "paths" of an OpenAPI 3 or Swagger 2 document and fills each
 * operation's parameters from example, default, enum or type, and a JSON body from its
 * schema; $ref is followed inside the document only, with a depth bound (a cyclic schema
 * ends as null).
 */
#include "common/setup.h"

#include "sandbox/exercise_int.h"

#include "common/alloc.h"
#include "common/json.h" /* vx_json_str */
#include "common/util.h" /* vx_parse_i64 */

#define MAX_FORM_FIELDS  64
#define MAX_ATTR         8192 /* an attribute value longer than this is cut */
#define MAX_SCHEMA_DEPTH 6
#define MAX_SCHEMA_NODES 400

/* ---- HTML ------------------------------------------------------------------------------- */

struct attr {
    char name[16]; /* lowercased, cut; only short names matter */
    char *value;   /* entity-decoded; NULL for a bare attribute */
};

struct tag {
    char name[16];
    bool closing;
    struct attr attrs[24];
    size_t n_attrs;
};

static void tag_release(struct tag *t)
{
    size_t i;

    for (i = 0; i < t->n_attrs; i++)
        free(t->attrs[i].value);
    t->n_attrs = 0;
}

static const char *attr_get(const struct tag *t, const char *name)
{
    size_t i;

    for (i = 0; i < t->n_attrs; i++)
        if (!strcmp(t->attrs[i].name, name))
            return t->attrs[i].value ? t->attrs[i].value : "";
    return NULL;
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Decodes the few entities that appear in URLs and values: &amp; &quot; &apos; &lt; &gt;
 * &#N; &#xN;. Others stay as written. */
static char *decode_entities(const char *s, size_t n)
{
    struct vx_buf b = VX_BUF_INIT(MAX_ATTR + 1);
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}, {"lt;", '<'}, {"gt;", '>'}};
    size_t i = 0, k;

    if (n > MAX_ATTR)
        n = MAX_ATTR;
    while (i < n) {
        if (s[i] != '&') {
            vx_buf_add(&b, s + i, 1);
            i++;
            continue;
        }
        for (k = 0; k < VX_ARRAY_SIZE(named); k++) {
            size_t l = strlen(named[k].name);
            if (i + 1 + l <= n && !memcmp(s + i + 1, named[k].name, l)) {
                vx_buf_add(&b, &named[k].c, 1);
                i += 1 + l;
                break;
            }
        }
        if (k < VX_ARRAY_SIZE(named))
            continue;
        if (i + 2 < n && s[i + 1] == '#') {
            size_t j = i + 2;
            bool hex = s[j] == 'x' || s[j] == 'X';
            unsigned long v = 0;
            size_t digits = 0;
            if (hex)
                j++;
            for (; j < n && digits < 7; j++, digits++) {
                int c = (unsigned char)s[j];
                if (c >= '0' && c <= '9')
                    v = v * (hex ? 16 : 10) + (unsigned long)(c - '0');
                else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
                    v = v * 16 + (unsigned long)((c | 0x20) - 'a' + 10);
                else
                    break;
            }
            if (digits > 0 && j < n && s[j] == ';' && v > 0 && v < 0x80) {
                char c = (char)v;
                vx_buf_add(&b, &c, 1);
                i = j + 1;
                continue;
            }
        }
        vx_buf_add(&b, "&", 1);
        i++;
    }
    return vx_buf_detach(&b, NULL);
}

/* Parses the tag starting at s[0] == '<'; returns the offset just past it (at least 1). */
static size_t parse_tag(const char *s, size_t n, struct tag *t)
{
    size_t i = 1, k = 0;

    memset(t, 0, sizeof(*t));
    if (i < n && s[i] == '/') {
        t->closing = true;
        i++;
    }
    while (i < n && !is_space((unsigned char)s[i]) && s[i] != '>' && s[i] != '/') {
        if (k + 1 < sizeof(t->name))
            t->name[k++] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] - 'A' + 'a' : s[i]);
        i++;
    }
    t->name[k] = '\0';
    for (;;) {
        size_t ns, ne, vs, ve;
        struct attr *a;

        while (i < n && (is_space((unsigned char)s[i]) || s[i] == '/'))
            i++;
        if (i >= n)
            return n;
        if (s[i] == '>')
            return i + 1;
        ns = i;
        while (i < n && !is_space((unsigned char)s[i]) && s[i] != '=' && s[i] != '>' && s[i] != '/')
            i++;
        ne = i;
        if (ne == ns) /* a stray '=' */
            i++;
        while (i < n && is_space((unsigned char)s[i]))
            i++;
        vs = ve = 0;
        bool has_value = false;
        if (i < n && s[i] == '=') {
            i++;
            while (i < n && is_space((unsigned char)s[i]))
                i++;
            if (i < n && (s[i] == '"' || s[i] == '\'')) {
                char q = s[i++];
                const char *e = memchr(s + i, q, n - i);
                vs = i;
                ve = e ? (size_t)(e - s) : n;
                i = e ? ve + 1 : n;
            } else {
                vs = i;
                while (i < n && !is_space((unsigned char)s[i]) && s[i] != '>')
                    i++;
                ve = i;
            }
            has_value = true;
        }
        if (ne == ns || t->n_attrs >= VX_ARRAY_SIZE(t->attrs))
            continue;
        a = &t->attrs[t->n_attrs++];
        for (k = 0; k < ne - ns && k + 1 < sizeof(a->name); k++)
            a->name[k] =
                (char)((s[ns + k] >= 'A' && s[ns + k] <= 'Z') ? s[ns + k] - 'A' + 'a' : s[ns + k]);
        a->name[k] = '\0';
        a->value = has_value ? decode_entities(s + vs, ve - vs) : NULL;
    }
}

/* Finds "</name" case-insensitively from s; returns its offset or n. */
static size_t find_close(const char *s, size_t n, const char *name)
{
    size_t l = strlen(name), i;

    for (i = 0; i + 2 + l <= n; i++)
        if (s[i] == '<' && s[i + 1] == '/' && !strncasecmp(s + i + 2, name, l))
            return i;
    return n;
}

static void pct_append(struct vx_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            vx_buf_add(b, s, 1);
        } else if (c == ' ') {
            vx_buf_add(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            vx_buf_add(b, e, 3);
        }
    }
}

/* A plausible value for an input of this type: the page's value when it has one. */
static const char *sample_for(const char *type, const char *value)
{
    static const struct {
        const char *type, *sample;
    } t[] = {{"email", "test@example.com"},
             {"number", "42"},
             {"range", "5"},
             {"password", "Passw0rd!"},
             {"url", "http://127.0.0.1/"},
             {"date", "2024-01-01"},
             {"tel", "5551234"},
             {"checkbox", "on"},
             {"radio", "on"},
             {"search", "test"},
             {"time", "12:00"},
             {"color", "#000000"}};
    size_t i;

    if (value && *value)
        return value;
    for (i = 0; type && i < VX_ARRAY_SIZE(t); i++)
        if (!strcasecmp(type, t[i].type))
            return t[i].sample;
    return "test";
}

static void form_add_field(struct vx_buf *fields, size_t *count, const char *name,
                           const char *value)
{
    if (!name || !*name || *count >= MAX_FORM_FIELDS)
        return;
    if (fields->len)
        vx_buf_add(fields, "&", 1);
    pct_append(fields, name);
    vx_buf_add(fields, "=", 1);
    pct_append(fields, value);
    (*count)++;
}

static void add_link(struct vx_html_scan *out, size_t max, const char *v)
{
    if (!v || !*v || out->n_links >= max)
        return;
    out->links = vx_xrealloc(out->links, (out->n_links + 1) * sizeof(*out->links));
    out->links[out->n_links++] = vx_xstrdup(v);
}

void vx_html_scan(const char *html, size_t len, size_t max_items, struct vx_html_scan *out)
{
    struct vx_buf fields = VX_BUF_INIT(16384);
    struct vx_html_form *form = NULL; /* the open form, if any */
    size_t i = 0, n_fields = 0;
    char *select_name = NULL;

    memset(out, 0, sizeof(*out));
    while (i < len) {
        const char *lt = memchr(html + i, '<', len - i);
        struct tag t;

        if (!lt)
            break;
        i = (size_t)(lt - html);
        if (len - i >= 4 && !memcmp(html + i, "<!--", 4)) {
            const char *e = memmem(html + i + 4, len - i - 4, "-->", 3);
            i = e ? (size_t)(e - html) + 3 : len;
            continue;
        }
        if (i + 1 < len && html[i + 1] != '/' && html[i + 1] != '!' &&
            !((html[i + 1] | 0x20) >= 'a' && (html[i + 1] | 0x20) <= 'z')) {
            i++; /* "a < b" in text */
            continue;
        }
        i += parse_tag(html + i, len - i, &t);
        if (t.closing) {
            if (!strcmp(t.name, "form") && form) {
                form->fields = vx_buf_detach(&fields, NULL);
                form = NULL;
                n_fields = 0;
            } else if (!strcmp(t.name, "select")) {
                free(select_name);
                select_name = NULL;
            }
            tag_release(&t);
            continue;
        }
        if (!strcmp(t.name, "a") || !strcmp(t.name, "link") || !strcmp(t.name, "area"))
            add_link(out, max_items, attr_get(&t, "href"));
        else if (!strcmp(t.name, "img") || !strcmp(t.name, "script") || !strcmp(t.name, "iframe") ||
                 !strcmp(t.name, "frame") || !strcmp(t.name, "source") || !strcmp(t.name, "embed"))
            add_link(out, max_items, attr_get(&t, "src"));
        if (!strcmp(t.name, "form") && out->n_forms < max_items) {
            const char *m = attr_get(&t, "method"), *a = attr_get(&t, "action");
            if (form) /* an unclosed form before this one */
                form->fields = vx_buf_detach(&fields, NULL);
            out->forms = vx_xrealloc(out->forms, (out->n_forms + 1) * sizeof(*out->forms));
            form = &out->forms[out->n_forms++];
            form->action = a && *a ? vx_xstrdup(a) : NULL;
            form->method = vx_xstrdup(m && !strcasecmp(m, "post") ? "POST" : "GET");
            form->fields = NULL;
            n_fields = 0;
        } else if (form && !strcmp(t.name, "input")) {
            const char *type = attr_get(&t, "type");
            if (!type || (strcasecmp(type, "file") && strcasecmp(type, "image") &&
                          strcasecmp(type, "reset") && strcasecmp(type, "button")))
                form_add_field(&fields, &n_fields, attr_get(&t, "name"),
                               sample_for(type, attr_get(&t, "value")));
        } else if (form && !strcmp(t.name, "textarea")) {
            form_add_field(&fields, &n_fields, attr_get(&t, "name"), "test");
        } else if (form && !strcmp(t.name, "select")) {
            free(select_name);
            select_name = vx_xstrdup(attr_get(&t, "name"));
        } else if (form && select_name && !strcmp(t.name, "option")) {
            const char *v = attr_get(&t, "value");
            form_add_field(&fields, &n_fields, select_name, v && *v ? v : "1");
            free(select_name); /* the first option is the sample */
            select_name = NULL;
        }
        if (!strcmp(t.name, "script") || !strcmp(t.name, "style") || !strcmp(t.name, "textarea")) {
            /* Raw text: a "<a" inside a script string is not a link. */
            i += find_close(html + i, len - i, t.name);
        }
        tag_release(&t);
    }
    if (form)
        form->fields = vx_buf_detach(&fields, NULL);
    vx_buf_release(&fields);
    free(select_name);
}

void vx_html_scan_release(struct vx_html_scan *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->n_links; i++)
        free(s->links[i]);
    free(s->links);
    for (i = 0; i < s->n_forms; i++) {
        free(s->forms[i].action);
        free(s->forms[i].method);
        free(s->forms[i].fields);
    }
    free(s->forms);
    memset(s, 0, sizeof(*s));
}

/* ---- URLs ------------------------------------------------------------------------------- */

void vx_url_remove_dots(char *path)
{
    /* Output segments are written over the input, which is never behind the output. */
    char *in = path, *out = path;

    if (*in != '/')
        return;
    while (*in) {
        if (!strncmp(in, "/./", 3)) {
            in += 2;
        } else if (!strcmp(in, "/.")) {
            in[1] = '\0';
        } else if (!strncmp(in, "/../", 4) || !strcmp(in, "/..")) {
            bool last = in[3] == '\0';
            while (out > path && *--out != '/')
                ;
            if (last) {
                in += 2;
                *in = '/'; /* "/.." becomes "/" */
            } else {
                in += 3;
            }
        } else {
            do
                *out++ = *in++;
            while (*in && *in != '/');
        }
    }
    if (out == path)
        *out++ = '/';
    *out = '\0';
}

static bool port_known(const struct vx_url_base *b, int port)
{
    size_t i;

    for (i = 0; i < b->n_ports; i++)
        if (b->ports[i] == port)
            return true;
    return false;
}

int vx_url_resolve(const struct vx_url_base *base, const char *ref, int *port, char **target)
{
    static const char hex[] = "0123456789ABCDEF";
    struct vx_buf b = VX_BUF_INIT(VX_HTTP_MAX_TARGET);
    const char *p = ref, *q;
    char *path = NULL;
    int rc = -1;

    *target = NULL;
    *port = base->port;
    while (*p && is_space((unsigned char)*p))
        p++;
    if (!*p || *p == '#')
        goto out;
    if (!strncasecmp(p, "http://", 7))
        p += 5; /* now "//host..." */
    else {
        /* Another scheme ("mailto:", "javascript:", "https:"): a letter run then ':' before
         * any '/', '?' or '#'. */
        for (q = p; *q && *q != '/' && *q != '?' && *q != '#'; q++)
            if (*q == ':')
                goto out;
    }
    if (p[0] == '/' && p[1] == '/') {
        const char *h = p + 2, *he = h + strcspn(h, "/?#");
        const char *colon = NULL, *c;
        size_t hl = strlen(base->host);
        int pt = 80;

        /* The port is after the last ':' not inside brackets. */
        for (c = h; c < he; c++)
            if (*c == ':')
                colon = c;
            else if (*c == ']')
                colon = NULL;
        if (colon) {
            char num[8];
            int64_t v;
            if ((size_t)(he - colon - 1) >= sizeof(num))
                goto out;
            memcpy(num, colon + 1, (size_t)(he - colon - 1));
            num[he - colon - 1] = '\0';
            if (vx_parse_i64(num, 1, 65535, &v) < 0)
                goto out;
            pt = (int)v;
        } else {
            colon = he;
        }
        if ((size_t)(colon - h) != hl || strncasecmp(h, base->host, hl) != 0)
            goto out; /* another host: never followed */
        if (!port_known(base, pt))
            goto out;
        *port = pt;
        p = *he ? he : "/";
        if (*p != '/') {
            vx_buf_adds(&b, "/");
        }
    } else if (*p != '/') {
        /* Relative: the page's directory, or the page itself for "?query". */
        const char *bp = base->path && *base->path == '/' ? base->path : "/";
        const char *slash = strrchr(bp, '/');
        if (*p == '?')
            vx_buf_adds(&b, bp);
        else
            vx_buf_add(&b, bp, (size_t)(slash - bp) + 1);
    }
    for (; *p && *p != '#'; p++) {
        unsigned char c = (unsigned char)*p;
        int r;
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
            c == '`' || c == '{' || c == '|' || c == '}') {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            r = vx_buf_add(&b, e, 3);
        } else {
            r = vx_buf_add(&b, p, 1);
        }
        if (r < 0)
            goto out;
    }
    path = vx_buf_detach(&b, NULL);
    {
        /* Dot segments are removed from the path part only. */
        char *qm = strchr(path, '?');
        char *query = qm ? vx_xstrdup(qm) : NULL;
        if (qm)
            *qm = '\0';
        vx_url_remove_dots(path);
        if (query) {
            char *joined = vx_xasprintf("%s%s", path, query);
            free(path);
            free(query);
            path = joined;
        }
    }
    if (path[0] != '/')
        goto out;
    *target = path;
    path = NULL;
    rc = 0;
out:
    free(path);
    vx_buf_release(&b);
    return rc;
}

/* ---- OpenAPI ---------------------------------------------------------------------------- */

void vx_ex_req_release(struct vx_ex_req *r)
{
    if (!r)
        return;
    free(r->method);
    free(r->target);
    free(r->content_type);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Follows a local "#/a/b" reference (JSON pointer, ~0 ~1 unescaped); NULL if it does not
 * resolve. */
static const json_t *deref(const json_t *doc, const json_t *v, int depth)
{
    while (v && json_is_object(v) && depth-- > 0) {
        const char *ref = vx_json_str(v, "$ref");
        const json_t *cur = doc;
        char seg[256];
        if (!ref)
            return v;
        if (strncmp(ref, "#/", 2) != 0)
            return NULL;
        ref += 2;
        while (cur && *ref) {
            size_t k = 0;
            for (; *ref && *ref != '/'; ref++) {
                char c = *ref;
                if (c == '~' && (ref[1] == '0' || ref[1] == '1'))
                    c = *++ref == '0' ? '~' : '/';
                if (k + 1 < sizeof(seg))
                    seg[k++] = c;
            }
            seg[k] = '\0';
            if (*ref == '/')
                ref++;
            cur = json_is_object(cur) ? json_object_get(cur, seg) : NULL;
        }
        v = cur;
    }
    return depth < 0 ? NULL : v;
}

/* A sample value for a schema (caller owns the reference). */
static json_t *sample_schema(const json_t *doc, const json_t *schema, int depth, int *nodes)
{
    const json_t *s = deref(doc, schema, 8), *v;
    const char *type, *fmt;

    /* Depth and a node count bound it: 32 properties nested 6 deep would be 10^9 nodes. */
    if (!s || depth > MAX_SCHEMA_DEPTH || !json_is_object(s) || --*nodes < 0)
        return json_null();
    if ((v = json_object_get(s, "example")) != NULL)
        return json_deep_copy(v);
    if ((v = json_object_get(s, "default")) != NULL)
        return json_deep_copy(v);
    v = json_object_get(s, "enum");
    if (json_is_array(v) && json_array_size(v) > 0)
        return json_deep_copy(json_array_get(v, 0));
    v = json_object_get(s, "allOf");
    if (!v)
        v = json_object_get(s, "oneOf");
    if (!v)
        v = json_object_get(s, "anyOf");
    if (json_is_array(v) && json_array_size(v) > 0)
        return sample_schema(doc, json_array_get(v, 0), depth + 1, nodes);
    type = vx_json_str(s, "type");
    fmt = vx_json_str(s, "format");
    if (!type)
        type = json_object_get(s, "properties") ? "object" : "string";
    if (!strcmp(type, "integer"))
        return json_integer(1);
    if (!strcmp(type, "number"))
        return json_real(1.5);
    if (!strcmp(type, "boolean"))
        return json_true();
    if (!strcmp(type, "array")) {
        json_t *a = json_array();
        json_array_append_new(a, sample_schema(doc, json_object_get(s, "items"), depth + 1, nodes));
        return a;
    }
    if (!strcmp(type, "object")) {
        json_t *o = json_object();
        const json_t *props = json_object_get(s, "properties"), *pv;
        const char *k;
        size_t n = 0;
        if (json_is_object(props))
            json_object_foreach((json_t *)props, k, pv)
            {
                if (n++ >= 32)
                    break;
                json_object_set_new(o, k, sample_schema(doc, pv, depth + 1, nodes));
            }
        return o;
    }
    if (fmt && !strcmp(fmt, "date-time"))
        return json_string("2024-01-01T00:00:00Z");
    if (fmt && !strcmp(fmt, "date"))
        return json_string("2024-01-01");
    if (fmt && !strcmp(fmt, "email"))
        return json_string("test@example.com");
    if (fmt && !strcmp(fmt, "uuid"))
        return json_string("00000000-0000-4000-8000-000000000000");
    return json_string("test");
}

/* A parameter's sample as text (caller frees). */
static char *param_text(const json_t *doc, const json_t *param)
{
    const json_t *schema = json_object_get(param, "schema"), *v;
    json_t *sample;
    char *out;
    int nodes = MAX_SCHEMA_NODES;

    if ((v = json_object_get(param, "example")) != NULL)
        sample = json_deep_copy(v);
    else if (schema)
        sample = sample_schema(doc, schema, 0, &nodes);
    else /* Swagger 2 non-body parameters carry type/format/enum/default directly */
        sample = sample_schema(doc, param, 0, &nodes);
    if (json_is_string(sample))
        out = vx_xstrdup(json_string_value(sample));
    else if (json_is_integer(sample))
        out = vx_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(sample));
    else if (json_is_real(sample))
        out = vx_xasprintf("%g", json_real_value(sample));
    else if (json_is_true(sample))
        out = vx_xstrdup("true");
    else if (json_is_false(sample))
        out = vx_xstrdup("false");
    else
        out = vx_xstrdup("1");
    json_decref(sample);
    return out;
}

static void add_path_bytes(struct vx_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
            c == '`' || c == '{' || c == '|' || c == '}' || c == '#') {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            vx_buf_add(b, e, 3);
        } else {
            vx_buf_add(b, s, 1);
        }
    }
}

/* Builds the request of one operation. */
static void build_op(const json_t *doc, const char *prefix, const char *tmpl, const char *method,
                     const json_t *path_item, const json_t *op, struct vx_ex_req *r)
{
    struct vx_buf path = VX_BUF_INIT(VX_HTTP_MAX_TARGET), query = VX_BUF_INIT(4096);
    struct vx_buf form = VX_BUF_INIT(4096);
    const json_t *lists[2] = {json_object_get(path_item, "parameters"),
                              json_object_get(op, "parameters")};
    json_t *body = NULL;
    const char *p;
    char *m;
    size_t li, i;
    int nodes = MAX_SCHEMA_NODES;

    memset(r, 0, sizeof(*r));
    /* The template, with each {name} replaced by its path parameter's sample; bytes that
     * cannot stand in a request line are %-encoded (the document is the workload's). */
    add_path_bytes(&path, prefix);
    for (p = tmpl; *p; p++) {
        const char *close;
        char *val = NULL;
        if (*p != '{' || !(close = strchr(p, '}'))) {
            char one[2] = {*p, '\0'};
            add_path_bytes(&path, one);
            continue;
        }
        for (li = 2; li-- > 0 && !val;) {
            const json_t *list = lists[li];
            for (i = 0; json_is_array(list) && i < json_array_size(list) && !val; i++) {
                const json_t *prm = deref(doc, json_array_get(list, i), 8);
                const char *nm = vx_json_str(prm, "name"), *in = vx_json_str(prm, "in");
                if (nm && in && !strcmp(in, "path") && strlen(nm) == (size_t)(close - p - 1) &&
                    !strncmp(nm, p + 1, (size_t)(close - p - 1)))
                    val = param_text(doc, prm);
            }
        }
        pct_append(&path, val ? val : "1");
        free(val);
        p = close;
    }
    for (li = 0; li < 2; li++) {
        const json_t *list = lists[li];
        for (i = 0; json_is_array(list) && i < json_array_size(list) && i < 64; i++) {
            const json_t *prm = deref(doc, json_array_get(list, i), 8);
            const char *nm = vx_json_str(prm, "name"), *in = vx_json_str(prm, "in");
            char *val;
            struct vx_buf *dst;
            if (!nm || !in)
                continue;
            if (!strcmp(in, "body")) {
                json_decref(body);
                body = sample_schema(doc, json_object_get(prm, "schema"), 0, &nodes);
                continue;
            }
            if (!strcmp(in, "query"))
                dst = &query;
            else if (!strcmp(in, "formData"))
                dst = &form;
            else
                continue;
            val = param_text(doc, prm);
            if (dst->len)
                vx_buf_add(dst, "&", 1);
            pct_append(dst, nm);
            vx_buf_add(dst, "=", 1);
            pct_append(dst, val);
            free(val);
        }
    }
    /* OpenAPI 3 requestBody: JSON when offered, else a form. */
    {
        const json_t *rb = deref(doc, json_object_get(op, "requestBody"), 8);
        const json_t *content = json_object_get(rb, "content"), *media;
        if (json_is_object(content)) {
            if ((media = json_object_get(content, "application/json")) != NULL) {
                const json_t *ex = json_object_get(media, "example");
                json_decref(body);
                body = ex ? json_deep_copy(ex)
                          : sample_schema(doc, json_object_get(media, "schema"), 0, &nodes);
            } else if ((media = json_object_get(content, "application/x-www-form-urlencoded")) !=
                       NULL) {
                json_t *o = sample_schema(doc, json_object_get(media, "schema"), 0, &nodes);
                const char *k;
                json_t *v;
                if (json_is_object(o))
                    json_object_foreach(o, k, v)
                    {
                        if (form.len)
                            vx_buf_add(&form, "&", 1);
                        pct_append(&form, k);
                        vx_buf_add(&form, "=", 1);
                        pct_append(&form, json_is_string(v) ? json_string_value(v) : "1");
                    }
                json_decref(o);
            }
        }
    }
    r->method = vx_xstrdup(method);
    for (m = r->method; *m; m++)
        *m = (char)(*m >= 'a' && *m <= 'z' ? *m - 32 : *m);
    if (query.len)
        r->target = vx_xasprintf("%s?%s", vx_buf_str(&path), vx_buf_str(&query));
    else
        r->target = vx_xstrdup(vx_buf_str(&path));
    if (body) {
        r->body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY); /* free(3)d */
        if (r->body) {
            r->body_len = strlen(r->body);
            r->content_type = vx_xstrdup("application/json");
        }
    } else if (form.len) {
        r->body_len = form.len;
        r->body = vx_buf_detach(&form, NULL);
        r->content_type = vx_xstrdup("application/x-www-form-urlencoded");
    }
    json_decref(body);
    vx_buf_release(&path);
    vx_buf_release(&query);
    vx_buf_release(&form);
}

int vx_openapi_requests(const json_t *doc, struct vx_ex_req **reqs, size_t *n, size_t *cap,
                        size_t max)
{
    static const char *const methods[] = {"get",    "post", "put",    "patch",
                                          "delete", "head", "options"};
    const json_t *paths = json_object_get(doc, "paths"), *item;
    const char *tmpl, *prefix = "";
    char *prefix_buf = NULL;
    int added = 0;

    if (!json_is_object(doc) || !json_is_object(paths) ||
        (!json_object_get(doc, "openapi") && !json_object_get(doc, "swagger")))
        return -1;
    /* Where the paths live: Swagger 2 basePath, or an OpenAPI 3 server URL's path. */
    if (vx_json_str(doc, "basePath")) {
        prefix = vx_json_str(doc, "basePath");
    } else {
        const json_t *servers = json_object_get(doc, "servers");
        const char *url = vx_json_str(json_array_get(servers, 0), "url");
        if (url) {
            const char *s = strstr(url, "://");
            s = s ? strchr(s + 3, '/') : (url[0] == '/' ? url : NULL);
            if (s)
                prefix = s;
        }
    }
    if (prefix[0] != '/')
        prefix = ""; /* only a path prefix: never another host or a query */
    prefix_buf = vx_xstrndup(prefix, strlen(prefix) > 512 ? 512 : strlen(prefix));
    if (*prefix_buf && prefix_buf[strlen(prefix_buf) - 1] == '/')
        prefix_buf[strlen(prefix_buf) - 1] = '\0';
    json_object_foreach((json_t *)paths, tmpl, item)
    {
        size_t m;
        const json_t *pi = deref(doc, item, 8);
        if (tmpl[0] != '/' || !json_is_object(pi))
            continue;
        for (m = 0; m < VX_ARRAY_SIZE(methods); m++) {
            const json_t *op = json_object_get(pi, methods[m]);
            if (!json_is_object(op))
                continue;
            if (*n >= max)
                goto out;
            *reqs = vx_xgrow(*reqs, sizeof(**reqs), *n + 1, cap);
            build_op(doc, prefix_buf, tmpl, methods[m], pi, op, &(*reqs)[*n]);
            (*n)++;
            added++;
        }
    }
out:
    free(prefix_buf);
    return added;
}
