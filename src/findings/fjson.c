/* fjson.c -- a read-only JSON document for scanner reports: one pass over a private copy of
 * the input, strings decoded in place, every node in one array.
 *
 * Why not jansson (json.h) here: a 20k-finding Trivy report is 10-40 MB, and jansson spends
 * most of the findings budget (DESIGN: parse + bind of 20k findings < 200 ms) on one malloc
 * per value and a hash table per object, then as long again freeing them. Reports are read
 * once, front to back, and thrown away; this reader allocates three arrays, whatever the
 * size. It is as strict as jansson where it matters for untrusted input: RFC 8259 grammar,
 * UTF-8 validated (overlongs, surrogates and bytes past U+10FFFF refused), \u escapes with
 * surrogate pairs, control characters refused, duplicate keys refused, nesting capped,
 * one value with only whitespace around it. Numbers are kept as text and only read as
 * integers on demand. Output JSON is still written with jansson.
 *
 * Layout: nodes[] holds every value; a container's children are contiguous in kids[]
 * (objects as key, value pairs), copied there from a stack when the container closes, so a
 * lookup is a scan of a short contiguous run.
 */
#include "common/setup.h"

#include "findings/findings_int.h"

#include "common/alloc.h"
#include "common/err.h"

#define MAX_DEPTH 512

enum { T_NULL, T_TRUE, T_FALSE, T_NUM, T_STR, T_ARR, T_OBJ };

struct vx_fj {
    unsigned char type;
    union {
        size_t a;                     /* while parsing: offset in text, or first index in kids */
        const char *s;                /* after: T_STR decoded text (NUL-terminated), T_NUM text */
        const struct vx_fj *const *k; /* after: containers' children */
    } u;
    size_t n; /* T_STR/T_NUM: byte length; T_ARR: items; T_OBJ: members (2n kids) */
};

struct vx_fj_doc {
    char *text; /* the private, in-place decoded copy */
    size_t len;
    struct vx_fj *nodes;
    size_t n_nodes, cap_nodes;
    size_t *kids; /* indices while parsing */
    size_t n_kids, cap_kids;
    const struct vx_fj **kidp; /* the same as pointers, once nodes[] no longer moves */
};

struct parser {
    struct vx_fj_doc *d;
    char *s;
    size_t pos, len;
    size_t *stack;
    size_t n_stack, cap_stack;
    const char *fail; /* static reason */
    size_t fail_at;
};

static int err_at(struct parser *p, const char *why)
{
    if (!p->fail) {
        p->fail = why;
        p->fail_at = p->pos;
    }
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            break;
        p->pos++;
    }
}

static size_t new_node(struct parser *p, unsigned char type)
{
    struct vx_fj_doc *d = p->d;

    d->nodes = vx_xgrow(d->nodes, sizeof(*d->nodes), d->n_nodes + 1, &d->cap_nodes);
    d->nodes[d->n_nodes] = (struct vx_fj){.type = type};
    return d->n_nodes++;
}

static void push(struct parser *p, size_t node)
{
    p->stack = vx_xgrow(p->stack, sizeof(*p->stack), p->n_stack + 1, &p->cap_stack);
    p->stack[p->n_stack++] = node;
}

/* moves the top 'count' stack entries to kids[] as the children of node */
static void close_container(struct parser *p, size_t node, size_t count)
{
    struct vx_fj_doc *d = p->d;
    size_t from = p->n_stack - count;

    d->kids = vx_xgrow(d->kids, sizeof(*d->kids), d->n_kids + count + 1, &d->cap_kids);
    if (count) /* the stack may still be unallocated */
        memcpy(d->kids + d->n_kids, p->stack + from, count * sizeof(*d->kids));
    d->nodes[node].u.a = d->n_kids;
    d->n_kids += count;
    p->n_stack = from;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 32);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int read_u4(struct parser *p, size_t at, unsigned *out)
{
    unsigned v = 0;

    if (at + 4 > p->len)
        return -1;
    for (size_t i = 0; i < 4; i++) {
        int h = hexval(p->s[at + i]);
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* length of the valid UTF-8 sequence at s[0..avail), 0 if invalid */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* p->pos at the opening quote; decodes in place */
static int parse_string(struct parser *p, size_t *node)
{
    size_t start = ++p->pos, out = start;
    char *s = p->s;

    for (;;) {
        /* fast path: plain ASCII runs */
        while (p->pos < p->len) {
            unsigned char c = (unsigned char)s[p->pos];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
            s[out++] = (char)c;
            p->pos++;
        }
        if (p->pos >= p->len)
            return err_at(p, "unterminated string");
        unsigned char c = (unsigned char)s[p->pos];
        if (c == '"')
            break;
        if (c < 0x20)
            return err_at(p, "control character in string");
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)s + p->pos, p->len - p->pos);
            if (!n)
                return err_at(p, "invalid UTF-8 in string");
            memmove(s + out, s + p->pos, n);
            out += n;
            p->pos += n;
            continue;
        }
        /* escape */
        if (p->pos + 1 >= p->len)
            return err_at(p, "unterminated string");
        char e = s[p->pos + 1];
        static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
        const char *k = e ? strchr(simple_in, e) : NULL;
        if (k) {
            s[out++] = simple_out[k - simple_in];
            p->pos += 2;
            continue;
        }
        if (e != 'u')
            return err_at(p, "invalid escape in string");
        unsigned cp, lo;
        if (read_u4(p, p->pos + 2, &cp) < 0)
            return err_at(p, "invalid \\u escape");
        p->pos += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p->pos + 1 >= p->len || s[p->pos] != '\\' || s[p->pos + 1] != 'u' ||
                read_u4(p, p->pos + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                return err_at(p, "invalid surrogate pair in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p->pos += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return err_at(p, "invalid surrogate in \\u escape");
        }
        if (cp == 0)
            return err_at(p, "\\u0000 in string");
        /* the escape took 6 or 12 bytes, the character at most 4: 'out' stays behind pos */
        out += put_utf8(s + out, cp);
    }
    s[out] = '\0'; /* over a byte already consumed (out <= pos, which holds the quote) */
    p->pos++;
    *node = new_node(p, T_STR);
    p->d->nodes[*node].u.a = start;
    p->d->nodes[*node].n = out - start;
    return 0;
}

static int parse_number(struct parser *p, size_t *node)
{
    size_t start = p->pos;
    const char *s = p->s;

#define DIGIT(i) ((i) < p->len && s[i] >= '0' && s[i] <= '9')
    if (p->pos < p->len && s[p->pos] == '-')
        p->pos++;
    if (!DIGIT(p->pos))
        return err_at(p, "invalid number");
    if (s[p->pos] == '0')
        p->pos++;
    else
        while (DIGIT(p->pos))
            p->pos++;
    if (p->pos < p->len && s[p->pos] == '.') {
        p->pos++;
        if (!DIGIT(p->pos))
            return err_at(p, "invalid number");
        while (DIGIT(p->pos))
            p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
            p->pos++;
        if (!DIGIT(p->pos))
            return err_at(p, "invalid number");
        while (DIGIT(p->pos))
            p->pos++;
    }
#undef DIGIT
    *node = new_node(p, T_NUM);
    p->d->nodes[*node].u.a = start;
    p->d->nodes[*node].n = p->pos - start;
    return 0;
}

static int key_cmp(const void *a, const void *b, void *arg)
{
    const struct vx_fj_doc *d = arg;
    const struct vx_fj *x = &d->nodes[*(const size_t *)a], *y = &d->nodes[*(const size_t *)b];
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(d->text + x->u.a, d->text + y->u.a, n);

    return c ? c : (x->n < y->n ? -1 : x->n > y->n);
}

/* the members of the object whose key nodes are keys[0, 2*n) step 2 */
static int check_duplicates(struct parser *p, const size_t *pairs, size_t n)
{
    const struct vx_fj_doc *d = p->d;
    size_t *keys;
    int rc = 0;

    if (n < 2)
        return 0;
    if (n <= 16) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (key_cmp(&pairs[2 * i], &pairs[2 * j], (void *)d) == 0)
                    return err_at(p, "duplicate object key");
        return 0;
    }
    keys = vx_xmalloc(n * sizeof(*keys));
    for (size_t i = 0; i < n; i++)
        keys[i] = pairs[2 * i];
    qsort_r(keys, n, sizeof(*keys), key_cmp, (void *)d);
    for (size_t i = 1; i < n && rc == 0; i++)
        if (key_cmp(&keys[i - 1], &keys[i], (void *)d) == 0)
            rc = err_at(p, "duplicate object key");
    free(keys);
    return rc;
}

static int parse_value(struct parser *p, size_t *node, int depth);

static int parse_container(struct parser *p, size_t *node, int depth, bool obj)
{
    size_t me = new_node(p, obj ? T_OBJ : T_ARR), count = 0, base = p->n_stack;
    char close = obj ? '}' : ']';

    if (depth >= MAX_DEPTH)
        return err_at(p, "nesting too deep");
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        close_container(p, me, 0);
        *node = me;
        return 0;
    }
    for (;;) {
        size_t k, v;
        skip_ws(p);
        if (obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return err_at(p, "expected a string as object key");
            if (parse_string(p, &k) < 0)
                return -1;
            push(p, k);
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return err_at(p, "expected ':'");
            p->pos++;
        }
        if (parse_value(p, &v, depth + 1) < 0)
            return -1;
        push(p, v);
        count++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return err_at(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    if (obj && check_duplicates(p, p->stack + base, count) < 0)
        return -1;
    p->d->nodes[me].n = count;
    close_container(p, me, p->n_stack - base);
    *node = me;
    return 0;
}

static int literal(struct parser *p, const char *word, unsigned char type, size_t *node)
{
    size_t n = strlen(word);

    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return err_at(p, "invalid token");
    p->pos += n;
    *node = new_node(p, type);
    return 0;
}

static int parse_value(struct parser *p, size_t *node, int depth)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return err_at(p, "unexpected end of input");
    switch (p->s[p->pos]) {
    case '{':
        return parse_container(p, node, depth, true);
    case '[':
        return parse_container(p, node, depth, false);
    case '"':
        return parse_string(p, node);
    case 't':
        return literal(p, "true", T_TRUE, node);
    case 'f':
        return literal(p, "false", T_FALSE, node);
    case 'n':
        return literal(p, "null", T_NULL, node);
    default:
        return parse_number(p, node);
    }
}

int vx_fj_parse(const char *text, size_t len, struct vx_fj_doc **out, struct vx_err **err)
{
    struct vx_fj_doc *d = vx_xcalloc(1, sizeof(*d));
    struct parser p = {0};
    size_t root;

    *out = NULL;
    d->text = vx_xmalloc(len + 1);
    memcpy(d->text, text, len);
    d->text[len] = '\0';
    d->len = len;
    /* about one node per 12 bytes of a typical indented report: one growth step or two */
    d->cap_nodes = len / 12 + 16;
    d->nodes = vx_xmalloc(d->cap_nodes * sizeof(*d->nodes));
    p.d = d;
    p.s = d->text;
    p.len = len;
    if (parse_value(&p, &root, 0) == 0) {
        skip_ws(&p);
        if (p.pos != len)
            err_at(&p, "trailing data after the value");
    }
    free(p.stack);
    if (p.fail) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < p.fail_at && i < len; i++) {
            /* count on the original bytes: in-place decoding only rewrote string bodies */
            if (text[i] == '\n')
                line++, col = 1;
            else
                col++;
        }
        vx_fj_free(d);
        return vx_err_set(err, VX_E_INVALID, 0, "malformed json at line %zu column %zu: %s", line,
                          col, p.fail);
    }
    /* nodes[] is final: turn offsets and indices into pointers */
    d->kidp = vx_xmalloc((d->n_kids + 1) * sizeof(*d->kidp));
    for (size_t i = 0; i < d->n_kids; i++)
        d->kidp[i] = &d->nodes[d->kids[i]];
    free(d->kids);
    d->kids = NULL;
    for (size_t i = 0; i < d->n_nodes; i++) {
        struct vx_fj *v = &d->nodes[i];
        if (v->type == T_STR || v->type == T_NUM)
            v->u.s = d->text + v->u.a;
        else if (v->type == T_ARR || v->type == T_OBJ)
            v->u.k = d->kidp + v->u.a;
    }
    *out = d;
    return 0;
}

void vx_fj_free(struct vx_fj_doc *d)
{
    if (!d)
        return;
    free(d->text);
    free(d->nodes);
    free(d->kids);
    free(d->kidp);
    free(d);
}

const struct vx_fj *vx_fj_root(const struct vx_fj_doc *d)
{
    return &d->nodes[0];
}

/* ---- access --------------------------------------------------------------------------- */

bool vx_fj_is_obj(const struct vx_fj *v)
{
    return v && v->type == T_OBJ;
}
bool vx_fj_is_arr(const struct vx_fj *v)
{
    return v && v->type == T_ARR;
}
bool vx_fj_is_str(const struct vx_fj *v)
{
    return v && v->type == T_STR;
}
bool vx_fj_is_null(const struct vx_fj *v)
{
    return v && v->type == T_NULL;
}
bool vx_fj_is_num(const struct vx_fj *v)
{
    return v && v->type == T_NUM;
}

size_t vx_fj_len(const struct vx_fj *v)
{
    return v && (v->type == T_ARR || v->type == T_OBJ) ? v->n : 0;
}

const struct vx_fj *vx_fj_at(const struct vx_fj *arr, size_t i)
{
    if (!arr || arr->type != T_ARR || i >= arr->n)
        return NULL;
    return arr->u.k[i];
}

const struct vx_fj *vx_fj_get(const struct vx_fj *obj, const char *key)
{
    size_t klen;

    if (!obj || obj->type != T_OBJ)
        return NULL;
    klen = strlen(key);
    for (size_t i = 0; i < obj->n; i++) {
        const struct vx_fj *k = obj->u.k[2 * i];
        if (k->n == klen && memcmp(k->u.s, key, klen) == 0)
            return obj->u.k[2 * i + 1];
    }
    return NULL;
}

const char *vx_fj_strval(const struct vx_fj *v)
{
    return v && v->type == T_STR ? v->u.s : NULL;
}

bool vx_fj_int(const struct vx_fj *v, long long *out)
{
    char buf[24];
    char *end;

    if (!v || v->type != T_NUM || v->n == 0 || v->n >= sizeof(buf))
        return false;
    memcpy(buf, v->u.s, v->n);
    buf[v->n] = '\0';
    errno = 0;
    *out = strtoll(buf, &end, 10);
    return !*end && !errno;
}

const char *vx_fj_str_member(const struct vx_fj *obj, const char *key)
{
    return vx_fj_strval(vx_fj_get(obj, key));
}
