/* purl.c -- package URLs: parse, build, strip.
 *
 * "pkg:type/namespace/name@version?key=value&...#subpath" per the purl specification, with
 * the spellings the scanners our users run actually produce (../shared/samples):
 *   deb    pkg:deb/debian/libssl1.1@1.1.1n-0+deb10u3?arch=amd64&distro=debian-10; the epoch
 *          stays in the version, unencoded ("@1:2.20.1-2+deb10u3", as Grype writes it; the
 *          binder normalises Trivy's "epoch=" form to the same key)
 *   rpm    pkg:rpm/redhat/openssl-libs@1.0.2k-16.el7?arch=x86_64&epoch=1 (Trivy/Grype: epoch
 *          as a qualifier, version V-R)
 *   apk    pkg:apk/alpine/libstdc%2B%2B@12.2.1-r4?arch=x86_64&distro=alpine-3.17
 *   pypi   name lower case with '_' and '.' runs -> '-' (PEP 503, as the spec asks)
 *   npm    scope as namespace: pkg:npm/%40babel/core@7.0.0
 *   golang namespace = module path minus its last element: pkg:golang/github.com/foo/bar@v1.2
 *   maven  namespace = groupId, name = artifactId
 * Encoding: every byte outside [A-Za-z0-9._~-] is percent-encoded in names and namespace
 * segments; versions and qualifier values also keep ':' and '+' literal (what the samples
 * show), and a qualifier value encodes '/' ("file_path=usr%2Flib...").
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"

#define MAX_PURL 8192

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '~';
}

static void enc(struct vx_buf *b, const char *s, const char *keep)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (unreserved(*c) || (keep && strchr(keep, *c)))
            vx_buf_add(b, c, 1);
        else
            vx_buf_addf(b, "%%%02X", *c);
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 32;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* decodes s[0..n); NULL on a bad escape or an encoded NUL */
static char *dec(const char *s, size_t n)
{
    char *out = vx_xmalloc(n + 1), *o = out;

    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= n) {
            free(out);
            return NULL;
        }
        int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
        if (h < 0 || l < 0 || (h == 0 && l == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(h * 16 + l);
        i += 2;
    }
    *o = '\0';
    return out;
}

static void lower(char *s)
{
    for (; s && *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* PEP 503: lower case, runs of '-', '_', '.' become one '-' */
static char *pypi_name(const char *n)
{
    char *out = vx_xmalloc(strlen(n) + 1), *o = out;

    for (const char *c = n; *c; c++) {
        if (*c == '-' || *c == '_' || *c == '.') {
            while (c[1] == '-' || c[1] == '_' || c[1] == '.')
                c++;
            *o++ = '-';
        } else {
            *o++ = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
        }
    }
    *o = '\0';
    return out;
}

void vx_purl_release(struct vx_purl *p)
{
    if (!p)
        return;
    free(p->type);
    free(p->namespace);
    free(p->name);
    free(p->version);
    for (size_t i = 0; i < p->n_quals; i++) {
        free(p->qual_keys[i]);
        free(p->qual_vals[i]);
    }
    free(p->qual_keys);
    free(p->qual_vals);
    free(p->subpath);
    memset(p, 0, sizeof(*p));
}

/* Types whose names the spec says are case-insensitive. */
static bool case_insensitive(const char *type)
{
    return !strcmp(type, "deb") || !strcmp(type, "apk") || !strcmp(type, "npm") ||
           !strcmp(type, "pypi") || !strcmp(type, "github") || !strcmp(type, "bitbucket") ||
           !strcmp(type, "composer");
}

int vx_purl_parse(const char *s, struct vx_purl *out, struct vx_err **err)
{
    const char *p, *end, *q = NULL, *hash, *at, *slash;
    size_t len;
    int rc = -VX_E_INVALID;

    memset(out, 0, sizeof(*out));
    if (!s || strncmp(s, "pkg:", 4) != 0)
        return vx_err_set(err, VX_E_INVALID, 0, "purl does not start with 'pkg:'");
    len = strlen(s);
    if (len > MAX_PURL)
        return vx_err_set(err, VX_E_INVALID, 0, "purl longer than %d bytes", MAX_PURL);
    p = s + 4;
    while (*p == '/')
        p++;
    end = s + len;
    hash = strchr(p, '#');
    if (hash) {
        const char *sp = hash + 1;
        while (*sp == '/')
            sp++;
        size_t sl = strlen(sp);
        while (sl && sp[sl - 1] == '/')
            sl--;
        if (sl) {
            out->subpath = dec(sp, sl);
            if (!out->subpath) {
                vx_err_set(err, VX_E_INVALID, 0, "purl subpath has a bad %%-escape");
                goto fail;
            }
        }
        end = hash;
    }
    q = memchr(p, '?', (size_t)(end - p));
    if (q) {
        const char *k = q + 1;
        while (k < end) {
            const char *amp = memchr(k, '&', (size_t)(end - k));
            const char *ke = amp ? amp : end;
            const char *eq = memchr(k, '=', (size_t)(ke - k));
            if (ke > k) {
                char *key, *val;
                if (!eq || eq == k) {
                    vx_err_set(err, VX_E_INVALID, 0, "purl qualifier '%.*s' has no key=value",
                               (int)(ke - k > 64 ? 64 : ke - k), k);
                    goto fail;
                }
                key = vx_xstrndup(k, (size_t)(eq - k));
                lower(key);
                val = dec(eq + 1, (size_t)(ke - eq - 1));
                if (!val) {
                    free(key);
                    vx_err_set(err, VX_E_INVALID, 0, "purl qualifier has a bad %%-escape");
                    goto fail;
                }
                if (!*val) { /* empty value = no qualifier (spec) */
                    free(key);
                    free(val);
                } else {
                    size_t i = out->n_quals;
                    out->qual_keys = vx_xrealloc(out->qual_keys, (i + 1) * sizeof(char *));
                    out->qual_vals = vx_xrealloc(out->qual_vals, (i + 1) * sizeof(char *));
                    /* insertion sort by key: a purl has few qualifiers */
                    while (i > 0 && strcmp(out->qual_keys[i - 1], key) > 0) {
                        out->qual_keys[i] = out->qual_keys[i - 1];
                        out->qual_vals[i] = out->qual_vals[i - 1];
                        i--;
                    }
                    out->qual_keys[i] = key;
                    out->qual_vals[i] = val;
                    out->n_quals++;
                }
            }
            k = amp ? amp + 1 : end;
        }
        end = q;
    }
    slash = memchr(p, '/', (size_t)(end - p));
    if (!slash || slash == p) {
        vx_err_set(err, VX_E_INVALID, 0, "purl has no type");
        goto fail;
    }
    out->type = vx_xstrndup(p, (size_t)(slash - p));
    lower(out->type);
    for (const char *t = out->type; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '.' || *t == '+' ||
              *t == '-')) {
            vx_err_set(err, VX_E_INVALID, 0, "purl type '%.32s' has a bad character", out->type);
            goto fail;
        }
    p = slash + 1;
    while (end > p && end[-1] == '/')
        end--;
    at = end > p ? memrchr(p, '@', (size_t)(end - p)) : NULL;
    if (at) {
        out->version = dec(at + 1, (size_t)(end - at - 1));
        if (!out->version || !*out->version) {
            vx_err_set(err, VX_E_INVALID, 0, "purl version is empty or badly %%-encoded");
            goto fail;
        }
        end = at;
    }
    while (p < end && *p == '/')
        p++;
    slash = end > p ? memrchr(p, '/', (size_t)(end - p)) : NULL;
    if (slash) {
        /* namespace: segments decoded one by one, empty ones dropped */
        struct vx_buf ns = VX_BUF_INIT(MAX_PURL);
        const char *seg = p;
        while (seg < slash) {
            const char *se = memchr(seg, '/', (size_t)(slash - seg));
            if (!se)
                se = slash;
            if (se > seg) {
                char *d = dec(seg, (size_t)(se - seg));
                if (!d || strchr(d, '/')) {
                    free(d);
                    vx_buf_release(&ns);
                    vx_err_set(err, VX_E_INVALID, 0, "purl namespace segment is badly encoded");
                    goto fail;
                }
                if (ns.len)
                    vx_buf_adds(&ns, "/");
                vx_buf_adds(&ns, d);
                free(d);
            }
            seg = se + 1;
        }
        if (ns.len)
            out->namespace = vx_buf_detach(&ns, NULL);
        vx_buf_release(&ns);
        p = slash + 1;
    }
    if (end <= p) {
        vx_err_set(err, VX_E_INVALID, 0, "purl has no name");
        goto fail;
    }
    out->name = dec(p, (size_t)(end - p));
    if (!out->name) {
        vx_err_set(err, VX_E_INVALID, 0, "purl name is badly %%-encoded");
        goto fail;
    }
    if (case_insensitive(out->type)) {
        lower(out->name);
        if (strcmp(out->type, "npm") != 0)
            lower(out->namespace);
    }
    if (!strcmp(out->type, "pypi")) {
        char *n = pypi_name(out->name);
        free(out->name);
        out->name = n;
    }
    return 0;
fail:
    vx_purl_release(out);
    return rc;
}

char *vx_purl_build(const struct vx_pkg *pkg, const char *distro)
{
    struct vx_buf b = VX_BUF_INIT(MAX_PURL * 4);
    const char *name = pkg->name ? pkg->name : "";
    const char *ns = pkg->namespace;
    const char *version = pkg->version;
    char *own_name = NULL, *epoch = NULL, *own_ns = NULL;
    bool first = true;

    vx_buf_adds(&b, "pkg:");
    vx_buf_adds(&b, vx_pkg_type_name(pkg->type));
    vx_buf_adds(&b, "/");
    switch (pkg->type) {
    case VX_PKG_PYPI:
        name = own_name = pypi_name(name);
        ns = NULL;
        break;
    case VX_PKG_NPM:
        if (name[0] == '@' && strchr(name, '/')) {
            own_ns = vx_xstrndup(name, (size_t)(strchr(name, '/') - name));
            ns = own_ns;
            name = strchr(name, '/') + 1;
        }
        break;
    case VX_PKG_GOLANG:
        /* the module path: all but its last element is the namespace */
        if (strrchr(name, '/')) {
            own_ns = vx_xstrndup(name, (size_t)(strrchr(name, '/') - name));
            ns = own_ns;
            name = strrchr(name, '/') + 1;
        }
        break;
    case VX_PKG_RPM: {
        const char *d = version ? version : "";
        while (*d >= '0' && *d <= '9')
            d++;
        if (*d == ':' && d > version) {
            epoch = vx_xstrndup(version, (size_t)(d - version));
            version = d + 1;
        }
        break;
    }
    default:
        break;
    }
    if (ns && *ns) {
        /* each segment encoded on its own, '/' kept between them */
        const char *seg = ns;
        while (*seg) {
            size_t n = strcspn(seg, "/");
            if (n) {
                char *s = vx_xstrndup(seg, n);
                enc(&b, s, NULL);
                free(s);
                vx_buf_adds(&b, "/");
            }
            seg += n;
            if (*seg == '/')
                seg++;
        }
    }
    enc(&b, name, NULL);
    if (version && *version) {
        vx_buf_adds(&b, "@");
        enc(&b, version, ":+");
    }
    /* qualifiers in key order: arch, distro, epoch */
    if (pkg->arch && *pkg->arch) {
        vx_buf_adds(&b, first ? "?" : "&");
        first = false;
        vx_buf_adds(&b, "arch=");
        enc(&b, pkg->arch, ":+");
    }
    if (distro && *distro &&
        (pkg->type == VX_PKG_DEB || pkg->type == VX_PKG_APK || pkg->type == VX_PKG_RPM)) {
        vx_buf_adds(&b, first ? "?" : "&");
        first = false;
        vx_buf_adds(&b, "distro=");
        enc(&b, distro, ":+");
    }
    if (epoch && strcmp(epoch, "0") != 0) {
        vx_buf_adds(&b, first ? "?" : "&");
        vx_buf_adds(&b, "epoch=");
        enc(&b, epoch, NULL);
    }
    free(own_name);
    free(own_ns);
    free(epoch);
    return vx_buf_detach(&b, NULL);
}

char *vx_purl_strip(const char *s)
{
    size_t n;

    if (!s || strncmp(s, "pkg:", 4) != 0 || !strchr(s + 4, '/'))
        return NULL;
    n = strcspn(s, "?#");
    return vx_xstrndup(s, n);
}
