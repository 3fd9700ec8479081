/* bind.c -- attach each finding to the inventory package it is about.
 *
 * Three keys, tried in order, each looked up in a table of the inventory sorted once
 * (O((P + F) log P), never P x F):
 *   purl               type/namespace/name@version of the finding's purl (qualifiers and
 *                      subpath ignored) against the same coordinates of each package;
 *   name_version_type  the finding's type, name and version;
 *   name_version       name and version alone, only for findings whose type is not one the
 *                      inventory has (Grype "binary", "generic" purls, no type at all), so a
 *                      deb finding never binds to a pypi package of the same name.
 * Versions are compared after epoch normalisation for deb and rpm: Trivy writes
 * "1:1.0.2k-16.el7" in InstalledVersion but "@1.0.2k-16.el7?epoch=1" in its purl, Grype
 * "@2:8.39-12" in the purl, dpkg "2:8.39-12"; all become "E:rest" with "0:" dropped.
 * Names are compared case-folded where the ecosystem is case-insensitive (deb, apk, npm;
 * pypi also folds runs of '-', '_', '.' to '-', PEP 503).
 *
 * The purl coordinates are decoded here by a small reader rather than vx_purl_parse: only
 * type, namespace, name, version and the epoch qualifier matter, and a purl we cannot read
 * just falls through to the next key.
 *
 * An unbound finding gets a reason: the package is absent, or present at other versions
 * (named, up to three), or present under another type.
 */
#include "common/setup.h"

#include "findings/findings.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "inventory/inventory.h" /* packages to bind to */

struct entry {
    char *key;
    size_t pkg;
};

struct table {
    struct entry *e;
    size_t n;
};

static bool folds_case(const char *type)
{
    return type && (!strcmp(type, "deb") || !strcmp(type, "apk") || !strcmp(type, "npm") ||
                    !strcmp(type, "pypi"));
}

static void add_name(struct vx_buf *b, const char *type, const char *name, bool fold_all)
{
    bool pypi = type && !strcmp(type, "pypi");
    bool fold = fold_all || folds_case(type);

    for (const char *c = name ? name : ""; *c; c++) {
        char ch = *c;
        if (pypi && (ch == '-' || ch == '_' || ch == '.')) {
            while (c[1] == '-' || c[1] == '_' || c[1] == '.')
                c++;
            ch = '-';
        } else if (fold && ch >= 'A' && ch <= 'Z') {
            ch = (char)(ch - 'A' + 'a');
        }
        vx_buf_add(b, &ch, 1);
    }
}

/* version with the epoch made explicit for deb/rpm ("E:rest", nothing for epoch 0) */
static void add_version(struct vx_buf *b, const char *type, const char *v, const char *epoch_q)
{
    bool epochs = type && (!strcmp(type, "deb") || !strcmp(type, "rpm"));
    const char *c = v ? v : "";

    if (!epochs) {
        vx_buf_adds(b, c);
        return;
    }
    const char *d = c;
    while (*d >= '0' && *d <= '9')
        d++;
    if (*d == ':' && d > c) {
        /* explicit epoch in the version wins over a qualifier */
        const char *z = c;
        while (z < d - 1 && *z == '0')
            z++;
        if (!(d - z == 1 && *z == '0'))
            vx_buf_addf(b, "%.*s:", (int)(d - z), z);
        vx_buf_adds(b, d + 1);
        return;
    }
    if (epoch_q && *epoch_q && strcmp(epoch_q, "0") != 0)
        vx_buf_addf(b, "%s:", epoch_q);
    vx_buf_adds(b, c);
}

static char *key3(const char *type, const char *ns, const char *name, const char *ver,
                  const char *epoch_q, int kind)
{
    struct vx_buf b = VX_BUF_INIT(4 * 4096 + 64);

    /* kind 0: purl (type ns name ver), 1: type name ver, 2: name ver, 3: name */
    if (kind <= 1) {
        vx_buf_adds(&b, type ? type : "");
        vx_buf_add(&b, "\x1f", 1);
    }
    if (kind == 0) {
        for (const char *c = ns ? ns : ""; *c; c++) {
            char ch = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
            vx_buf_add(&b, &ch, 1);
        }
        vx_buf_add(&b, "\x1f", 1);
    }
    add_name(&b, type, name, kind >= 2);
    if (kind <= 2) {
        vx_buf_add(&b, "\x1f", 1);
        add_version(&b, kind == 2 ? NULL : type, ver, epoch_q);
    }
    return vx_buf_detach(&b, NULL);
}

/* ---- a minimal purl reader ----------------------------------------------------------------- */

struct coords {
    char *type, *ns, *name, *version, *epoch, *arch;
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 32);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *decode(const char *s, size_t n)
{
    char *out = vx_xmalloc(n + 1), *o = out;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static void coords_release(struct coords *c)
{
    free(c->type);
    free(c->ns);
    free(c->name);
    free(c->version);
    free(c->epoch);
    free(c->arch);
    memset(c, 0, sizeof(*c));
}

static bool purl_coords(const char *purl, struct coords *c)
{
    const char *p, *end, *at, *slash, *t;

    memset(c, 0, sizeof(*c));
    if (!purl || strncmp(purl, "pkg:", 4) != 0)
        return false;
    p = purl + 4;
    while (*p == '/')
        p++;
    end = p + strcspn(p, "?#");
    /* qualifiers: the epoch is part of the version; arch picks among multi-arch packages */
    if (*end == '?') {
        const char *qs = end + 1, *qe = qs + strcspn(qs, "#");
        for (const char *k = qs; k < qe;) {
            const char *amp = memchr(k, '&', (size_t)(qe - k));
            const char *ke = amp ? amp : qe;
            if (ke - k > 6 && strncmp(k, "epoch=", 6) == 0)
                c->epoch = decode(k + 6, (size_t)(ke - k - 6));
            else if (ke - k > 5 && strncmp(k, "arch=", 5) == 0)
                c->arch = decode(k + 5, (size_t)(ke - k - 5));
            k = amp ? amp + 1 : qe;
        }
    }
    t = memchr(p, '/', (size_t)(end - p));
    if (!t || t == p)
        goto bad;
    c->type = decode(p, (size_t)(t - p));
    for (char *x = c->type; *x; x++)
        if (*x >= 'A' && *x <= 'Z')
            *x = (char)(*x - 'A' + 'a');
    p = t + 1;
    at = memrchr(p, '@', (size_t)(end - p));
    if (at) {
        c->version = decode(at + 1, (size_t)(end - at - 1));
        end = at;
    }
    slash = memrchr(p, '/', (size_t)(end - p));
    if (slash) {
        c->ns = decode(p, (size_t)(slash - p));
        p = slash + 1;
    }
    if (end == p)
        goto bad;
    c->name = decode(p, (size_t)(end - p));
    return true;
bad:
    coords_release(c);
    return false;
}

/* ---- tables ------------------------------------------------------------------------------ */

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    return c ? c : (x->pkg < y->pkg ? -1 : x->pkg > y->pkg);
}

/* first entry with key, or NULL; *n = how many share it */
static const struct entry *find(const struct table *t, const char *key, size_t *n)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->e[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *n = 0;
    if (lo == t->n || strcmp(t->e[lo].key, key) != 0)
        return NULL;
    while (lo + *n < t->n && strcmp(t->e[lo + *n].key, key) == 0)
        (*n)++;
    return &t->e[lo];
}

static void table_release(struct table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->e[i].key);
    free(t->e);
}

static void build(const struct vx_inventory *inv, struct table t[4])
{
    for (int k = 0; k < 4; k++) {
        t[k].e = vx_xcalloc(inv->n_pkgs ? inv->n_pkgs : 1, sizeof(*t[k].e));
        t[k].n = inv->n_pkgs;
    }
    for (size_t i = 0; i < inv->n_pkgs; i++) {
        const struct vx_pkg *p = &inv->pkgs[i];
        const char *type = vx_pkg_type_name(p->type);
        for (int k = 0; k < 4; k++)
            t[k].e[i] = (struct entry){key3(type, p->namespace, p->name, p->version, NULL, k), i};
    }
    for (int k = 0; k < 4; k++)
        qsort(t[k].e, t[k].n, sizeof(*t[k].e), entry_cmp);
}

static char *reason(const struct vx_inventory *inv, const struct table *byname,
                    const struct vx_finding *x, const char *name)
{
    struct vx_buf b = VX_BUF_INIT(2048);
    const struct entry *e;
    char *key = key3(x->type, NULL, name, NULL, NULL, 3);
    size_t n;

    e = find(byname, key, &n);
    free(key);
    if (!e) {
        vx_buf_addf(&b, "no package '%.200s' in the inventory", name);
        return vx_buf_detach(&b, NULL);
    }
    /* the same version under another type, or other versions */
    for (size_t i = 0; i < n; i++) {
        const struct vx_pkg *p = &inv->pkgs[e[i].pkg];
        if (x->version && p->version && strcmp(p->version, x->version) == 0) {
            vx_buf_addf(&b, "package '%.200s' %.100s is there as %s, the report says %.40s", name,
                        x->version, vx_pkg_type_name(p->type), x->type ? x->type : "no type");
            return vx_buf_detach(&b, NULL);
        }
    }
    vx_buf_addf(&b, "package '%.200s' is there at version ", name);
    for (size_t i = 0; i < n && i < 3; i++)
        vx_buf_addf(&b, "%s%.100s", i ? ", " : "", inv->pkgs[e[i].pkg].version);
    if (n > 3)
        vx_buf_addf(&b, " (and %zu more)", n - 3);
    vx_buf_addf(&b, ", the report says %.100s", x->version ? x->version : "no version");
    return vx_buf_detach(&b, NULL);
}

int vx_findings_bind(struct vx_findings *f, const struct vx_inventory *inv, size_t *n_bound,
                     struct vx_err **err)
{
    struct table t[4];
    size_t bound = 0;

    (void)err;
    *n_bound = 0;
    build(inv, t);
    for (size_t i = 0; i < f->n; i++) {
        struct vx_finding *x = &f->items[i];
        struct coords c;
        const struct entry *e = NULL;
        const char *by = NULL, *name = x->name;
        bool have = purl_coords(x->purl, &c);
        size_t n;
        char *key;

        x->pkg = -1;
        x->bound_by = NULL;
        free(x->unbound_reason);
        x->unbound_reason = NULL;
        if (have) {
            key = key3(c.type, c.ns, c.name, c.version, c.epoch, 0);
            e = find(&t[0], key, &n);
            free(key);
            by = "purl";
            if (!name)
                name = c.name;
        }
        const char *type = x->type ? x->type : (have ? c.type : NULL);
        const char *ver = x->version ? x->version : (have ? c.version : NULL);
        const char *epoch = x->version ? NULL : (have ? c.epoch : NULL);
        if (!e && type && vx_pkg_type_parse(type) >= 0) {
            key = key3(type, NULL, name, ver, epoch, 1);
            e = find(&t[1], key, &n);
            free(key);
            by = "name_version_type";
        } else if (!e) {
            key = key3(type, NULL, name, ver, epoch, 2);
            e = find(&t[2], key, &n);
            free(key);
            by = "name_version";
        }
        /* libc6:amd64 and libc6:i386 share every key but the arch the purl may name */
        for (size_t k = 1; e && have && c.arch && k < n; k++) {
            const char *pa = inv->pkgs[e[0].pkg].arch;
            if (pa && strcmp(pa, c.arch) == 0)
                break;
            if (inv->pkgs[e[k].pkg].arch && strcmp(inv->pkgs[e[k].pkg].arch, c.arch) == 0)
                e = &e[k], n = 1;
        }
        if (e) {
            x->pkg = (long)e->pkg;
            x->bound_by = by;
            bound++;
        } else {
            x->unbound_reason = reason(inv, &t[3], x, name ? name : "?");
        }
        coords_release(&c);
    }
    for (int k = 0; k < 4; k++)
        table_release(&t[k]);
    *n_bound = bound;
    return 0;
}
