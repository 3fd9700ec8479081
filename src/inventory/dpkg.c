/* dpkg.c -- Debian packages: var/lib/dpkg/status, distroless status.d/, info/ file lists.
 *
 * The status file is a sequence of RFC 822-style stanzas separated by blank lines; a line
 * starting with a space or tab continues the previous field. We read Package, Status,
 * Version (epoch kept: "1:2.5.1-4"), Architecture and Source ("name" or "name (version)",
 * for binNMUs whose source version differs).
 *
 * Which packages are kept: the third word of Status must say the package's files are on
 * disk -- installed, half-configured, unpacked, triggers-awaited, triggers-pending -- and
 * the first word must not be deinstall or purge (the scanners users run skip those too,
 * so no finding could bind to them; a "deinstall ok installed" package is reported in a
 * warning because its files are still there). not-installed, config-files (only conffiles
 * remain) and half-installed (files in an unknown state) are skipped silently or with a
 * warning. A stanza without a Status (distroless status.d/ files sometimes omit it) counts
 * as installed.
 *
 * Files: info/<name>:<arch>.list (multi-arch "same" packages) or info/<name>.list, else
 * info/<name>[:<arch>].md5sums ("md5  relative/path" lines), else, for a status.d/ entry,
 * the sibling status.d/<file>.md5sums (distroless ships no .list files). A package with no
 * list at all is kept and ends up unmapped. Paths another package diverted away
 * (var/lib/dpkg/diversions) are moved to where dpkg put them (apply_diversions).
 *
 * Malformed input (binary garbage, NUL bytes, lines without ':') is skipped with a warning
 * naming the file and the entry; a status file with no Package field anywhere is not a
 * status file and is an error. A last stanza without its final newline may have been cut
 * off: when the unterminated line is one of the fields we read (its value may be cut short,
 * "Version: 1.2" of "1.2.3-4") the entry is dropped with a warning; when it is any other
 * field or a continuation (a file written without the trailing newline, or cut inside the
 * Description that dpkg writes last) the entry is kept, with a warning all the same.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "inventory/inv_int.h"  /* the scan context, vx_inv_read_file */
#include "inventory/langwalk.h" /* vx_lang_open for status.d/ */

#define MAX_FIELD      4096 /* a name/version/arch longer than this is not one */
#define MAX_STATUSD    10000
#define STATUS_REL     "var/lib/dpkg/status"
#define STATUSD_REL    "var/lib/dpkg/status.d"
#define INFO_REL       "var/lib/dpkg/info"
#define DIVERSIONS_REL "var/lib/dpkg/diversions"

struct stanza {
    /* pointers into the data, with lengths; NULL when the field is absent */
    const char *package, *status, *version, *arch, *source;
    size_t package_len, status_len, version_len, arch_len, source_len;
    bool has_nul, bad_line;
};

static bool field_is(const char *line, size_t n, const char *name, size_t *vstart)
{
    size_t k = strlen(name);

    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return false;
    k++;
    while (k < n && (line[k] == ' ' || line[k] == '\t'))
        k++;
    *vstart = k;
    return true;
}

static void trim(const char **s, size_t *n)
{
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
        (*n)--;
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
}

static void take(const char *line, size_t n, size_t v, const char **out, size_t *out_len)
{
    *out = line + v;
    *out_len = n - v;
    trim(out, out_len);
}

/* the n-th (0-based) space-separated word of s[0..n) */
static bool word(const char *s, size_t n, int idx, const char **w, size_t *wl)
{
    size_t i = 0;

    for (int k = 0;; k++) {
        while (i < n && s[i] == ' ')
            i++;
        if (i >= n)
            return false;
        size_t st = i;
        while (i < n && s[i] != ' ')
            i++;
        if (k == idx) {
            *w = s + st;
            *wl = i - st;
            return true;
        }
    }
}

static bool weq(const char *w, size_t wl, const char *lit)
{
    return wl == strlen(lit) && memcmp(w, lit, wl) == 0;
}

static bool printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f)
            return false;
    return n > 0;
}

enum cut {
    CUT_NONE,  /* the entry ended with a newline */
    CUT_FIELD, /* its unterminated last line is a field we read: the value may be short */
    CUT_OTHER, /* its unterminated last line is something else: what we read is whole */
};

/* Adds the package of one stanza (or warns why not). */
static void add_stanza(struct vx_inventory *inv, const char *where, size_t entry,
                       const struct stanza *s, enum cut cut)
{
    const char *w0 = NULL, *w2 = NULL;
    size_t l0 = 0, l2 = 0;
    char *name = NULL, *version = NULL, *arch = NULL;
    struct vx_pkg *p;

    if (s->has_nul) {
        vx_inventory_warn(inv, "%s: entry %zu: NUL byte in the entry (skipped)", where, entry);
        return;
    }
    if (!s->package || !s->package_len) {
        vx_inventory_warn(inv, "%s: entry %zu: no Package (skipped)", where, entry);
        return;
    }
    if (s->package_len > MAX_FIELD || !printable(s->package, s->package_len)) {
        vx_inventory_warn(inv, "%s: entry %zu: malformed Package (skipped)", where, entry);
        return;
    }
    name = vx_xstrndup(s->package, s->package_len);
    if (cut == CUT_FIELD) {
        vx_inventory_warn(inv,
                          "%s: entry %zu ('%s'): truncated (no final newline after a "
                          "field we read; skipped)",
                          where, entry, name);
        goto out;
    }
    if (cut == CUT_OTHER)
        vx_inventory_warn(inv,
                          "%s: entry %zu ('%s'): no final newline (possibly truncated; "
                          "kept)",
                          where, entry, name);
    if (s->status) {
        if (!word(s->status, s->status_len, 0, &w0, &l0) ||
            !word(s->status, s->status_len, 2, &w2, &l2)) {
            vx_inventory_warn(inv, "%s: entry %zu ('%s'): malformed Status (skipped)", where, entry,
                              name);
            goto out;
        }
        if (weq(w2, l2, "not-installed") || weq(w2, l2, "config-files"))
            goto out;
        if (weq(w2, l2, "half-installed")) {
            vx_inventory_warn(inv, "%s: entry %zu ('%s'): half-installed (skipped)", where, entry,
                              name);
            goto out;
        }
        if (!weq(w2, l2, "installed") && !weq(w2, l2, "half-configured") &&
            !weq(w2, l2, "unpacked") && !weq(w2, l2, "triggers-awaited") &&
            !weq(w2, l2, "triggers-pending")) {
            vx_inventory_warn(inv, "%s: entry %zu ('%s'): unknown status '%.*s' (skipped)", where,
                              entry, name, (int)(l2 > 64 ? 64 : l2), w2);
            goto out;
        }
        if (weq(w0, l0, "deinstall") || weq(w0, l0, "purge")) {
            vx_inventory_warn(inv,
                              "%s: entry %zu ('%s'): marked %.*s but still on disk (skipped "
                              "like the scanners do)",
                              where, entry, name, (int)l0, w0);
            goto out;
        }
    }
    if (!s->version || !s->version_len) {
        vx_inventory_warn(inv, "%s: entry %zu ('%s'): no Version (skipped)", where, entry, name);
        goto out;
    }
    if (s->version_len > MAX_FIELD || !printable(s->version, s->version_len) ||
        (s->arch && (s->arch_len > MAX_FIELD || !printable(s->arch, s->arch_len)))) {
        vx_inventory_warn(inv,
                          "%s: entry %zu ('%s'): malformed Version or Architecture "
                          "(skipped)",
                          where, entry, name);
        goto out;
    }
    version = vx_xstrndup(s->version, s->version_len);
    arch = s->arch && s->arch_len ? vx_xstrndup(s->arch, s->arch_len) : NULL;
    p = vx_inventory_add(inv, VX_PKG_DEB, name, version, arch,
                         inv->distro_id ? inv->distro_id : "debian");
    p->location = vx_xstrdup(where);
    if (s->source && s->source_len && s->source_len <= MAX_FIELD) {
        const char *src = s->source, *paren = memchr(src, '(', s->source_len);
        size_t nl = paren ? (size_t)(paren - src) : s->source_len;
        while (nl && (src[nl - 1] == ' ' || src[nl - 1] == '\t'))
            nl--;
        if (nl)
            p->source_name = vx_xstrndup(src, nl);
        if (paren) {
            const char *close = memchr(paren, ')', s->source_len - (size_t)(paren - src));
            if (close && close > paren + 1)
                p->source_version = vx_xstrndup(paren + 1, (size_t)(close - paren - 1));
        }
    }
out:
    free(name);
    free(version);
    free(arch);
}

int vx_inv_parse_dpkg_status(struct vx_inventory *inv, const char *where, const char *data,
                             size_t len, struct vx_err **err)
{
    struct stanza s = {0};
    const char *p = data, *end = data + len;
    size_t entry = 0, n_lines = 0, n_package_fields = 0, bad_lines = 0;
    bool in_stanza = false;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - p), v;
        bool ours = false; /* this line is a field we read */

        n_lines++;
        if (memchr(p, '\0', n))
            s.has_nul = true;
        if (n == 0 || (n == 1 && p[0] == '\r')) {
            if (in_stanza)
                add_stanza(inv, where, entry, &s, CUT_NONE);
            in_stanza = false;
            memset(&s, 0, sizeof(s));
        } else {
            if (!in_stanza) {
                entry++;
                in_stanza = true;
            }
            if (p[0] == ' ' || p[0] == '\t') {
                /* continuation of a multi-line field we do not read */
            } else if (field_is(p, n, "Package", &v)) {
                take(p, n, v, &s.package, &s.package_len);
                n_package_fields++;
                ours = true;
            } else if (field_is(p, n, "Status", &v)) {
                take(p, n, v, &s.status, &s.status_len);
                ours = true;
            } else if (field_is(p, n, "Version", &v)) {
                take(p, n, v, &s.version, &s.version_len);
                ours = true;
            } else if (field_is(p, n, "Architecture", &v)) {
                take(p, n, v, &s.arch, &s.arch_len);
                ours = true;
            } else if (field_is(p, n, "Source", &v)) {
                take(p, n, v, &s.source, &s.source_len);
                ours = true;
            } else if (!memchr(p, ':', n)) {
                s.bad_line = true;
                bad_lines++;
            }
        }
        if (!nl) {
            /* "Archit" may be the start of a field we read, cut before its ':' */
            static const char *const names[] = {"Package", "Status", "Version", "Architecture",
                                                "Source"};
            for (size_t i = 0; i < VX_ARRAY_SIZE(names) && !ours; i++)
                ours = n < strlen(names[i]) && !strncasecmp(p, names[i], n);
            if (in_stanza)
                add_stanza(inv, where, entry, &s, ours ? CUT_FIELD : CUT_OTHER);
            in_stanza = false;
        }
        p = nl ? nl + 1 : end;
    }
    if (in_stanza)
        add_stanza(inv, where, entry, &s, CUT_NONE);
    if (n_package_fields == 0 && len > 0) {
        bool blank = true;
        for (size_t i = 0; i < len && blank; i++)
            blank = data[i] == '\n' || data[i] == ' ' || data[i] == '\t' || data[i] == '\r';
        if (!blank)
            return vx_err_set(err, VX_E_INVALID, 0,
                              "'%s': not a dpkg status file (no Package field in %zu lines)", where,
                              n_lines);
    }
    if (bad_lines)
        vx_inventory_warn(inv,
                          "%s: %zu lines that are neither a field nor a continuation "
                          "(ignored)",
                          where, bad_lines);
    return 0;
}

/* One path per line ("/usr/bin/x"), or with md5 the "md5  relative/path" lines of an
 * md5sums file. */
static int parse_lines(struct vx_inventory *inv, struct vx_pkg *pkg, const char *data, size_t len,
                       bool md5, struct vx_err **err)
{
    const char *p = data, *end = data + len;
    size_t bad = 0;
    int rc = 0;

    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *s = p;
        size_t n = (size_t)(le - p);

        p = nl ? nl + 1 : end;
        if (n && s[n - 1] == '\r')
            n--;
        if (md5) {
            /* 32 hex digits, two spaces (or " *"), the path */
            const char *sp = memchr(s, ' ', n);
            if (!sp) {
                if (n)
                    bad++;
                continue;
            }
            while (sp < s + n && (*sp == ' ' || *sp == '*'))
                sp++;
            n -= (size_t)(sp - s);
            s = sp;
        }
        if (!n)
            continue;
        if (memchr(s, '\0', n) || n > 4096) {
            bad++;
            continue;
        }
        if ((n == 2 && s[0] == '/' && s[1] == '.') || (n == 1 && s[0] == '/'))
            continue; /* "/.": every package lists the root */
        char *path = vx_xstrndup(s, n);
        rc = vx_pkg_add_file(inv, pkg, path, err);
        free(path);
    }
    if (bad)
        vx_inventory_warn(inv,
                          "%s '%s': %zu malformed file-list lines (NUL bytes, over-long "
                          "or not 'md5  path'; ignored)",
                          vx_pkg_type_name(pkg->type), pkg->name, bad);
    return rc;
}

int vx_inv_parse_dpkg_list(struct vx_inventory *inv, struct vx_pkg *pkg, const char *data,
                           size_t len, struct vx_err **err)
{
    return parse_lines(inv, pkg, data, len, false, err);
}

/* Reads one file list; 1 when found and parsed, 0 when absent, <0 on error. */
static int try_list(const struct vx_inv_scan *sc, size_t pi, const char *rel, bool md5,
                    struct vx_buf *b, struct vx_err **err)
{
    struct vx_err *e = NULL;
    size_t max = (size_t)sc->opts->max_db_bytes;
    int rc;

    vx_buf_release(b);
    rc = vx_inv_read_file(sc, rel, max, b, &e);
    if (rc == -VX_E_NOT_FOUND) {
        vx_err_free(&e);
        return 0;
    }
    if (rc < 0) {
        vx_inventory_warn(sc->inv, "%s: %s", rel, e ? e->msg : "cannot read");
        vx_err_free(&e);
        return 0;
    }
    rc = parse_lines(sc->inv, &sc->inv->pkgs[pi], b->data ? b->data : "", b->len, md5, err);
    return rc < 0 ? rc : 1;
}

/* Attaches the files of packages [first, inv->n_pkgs). */
static int attach_files(const struct vx_inv_scan *sc, size_t first, struct vx_err **err)
{
    struct vx_buf b = VX_BUF_INIT(SIZE_MAX / 2);
    int rc = 0;

    for (size_t i = first; i < sc->inv->n_pkgs && rc >= 0; i++) {
        const struct vx_pkg *p = &sc->inv->pkgs[i];
        char *rel = NULL;
        int got = 0;

        if (strchr(p->name, '/') || !strcmp(p->name, "..") || !strcmp(p->name, "."))
            continue; /* never a path out of info/ */
        if (p->arch) {
            rel = vx_xasprintf(INFO_REL "/%s:%s.list", p->name, p->arch);
            got = try_list(sc, i, rel, false, &b, err);
            free(rel);
        }
        if (got == 0) {
            rel = vx_xasprintf(INFO_REL "/%s.list", p->name);
            got = try_list(sc, i, rel, false, &b, err);
            free(rel);
        }
        if (got == 0 && p->arch) {
            rel = vx_xasprintf(INFO_REL "/%s:%s.md5sums", p->name, p->arch);
            got = try_list(sc, i, rel, true, &b, err);
            free(rel);
        }
        if (got == 0) {
            rel = vx_xasprintf(INFO_REL "/%s.md5sums", p->name);
            got = try_list(sc, i, rel, true, &b, err);
            free(rel);
        }
        if (got == 0 && !strncmp(p->location, STATUSD_REL "/", strlen(STATUSD_REL) + 1)) {
            rel = vx_xasprintf("%s.md5sums", p->location);
            got = try_list(sc, i, rel, true, &b, err);
            free(rel);
        }
        if (got < 0)
            rc = got;
        else if (got == 0)
            vx_inventory_warn(sc->inv,
                              "deb '%s': no file list in " INFO_REL " (the package stays unmapped)",
                              p->name);
    }
    vx_buf_release(&b);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* distroless: one file per package (or several stanzas per file) in status.d/ */
static int scan_statusd(const struct vx_inv_scan *sc, struct vx_err **err)
{
    int fd = vx_lang_open(sc->rootfd, STATUSD_REL, O_RDONLY | O_DIRECTORY);
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct vx_buf b = VX_BUF_INIT((size_t)sc->opts->max_db_bytes);
    int rc = 0;

    if (fd < 0)
        return 0;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || (l > 8 && !strcmp(de->d_name + l - 8, ".md5sums")))
            continue;
        if (n >= MAX_STATUSD) {
            vx_inventory_warn(sc->inv, STATUSD_REL ": more than %d entries; the rest ignored",
                              MAX_STATUSD);
            break;
        }
        names = vx_xgrow(names, sizeof(*names), n + 1, &cap);
        names[n++] = vx_xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *rel = vx_xasprintf(STATUSD_REL "/%s", names[i]);
        struct vx_err *e = NULL;

        vx_buf_release(&b);
        if (vx_inv_read_file(sc, rel, (size_t)sc->opts->max_db_bytes, &b, &e) < 0 ||
            vx_inv_parse_dpkg_status(sc->inv, rel, b.data ? b.data : "", b.len, &e) < 0) {
            /* one bad file of many: the others still count */
            vx_inventory_warn(sc->inv, "%s", e ? e->msg : rel);
            vx_err_free(&e);
        }
        free(rel);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    vx_buf_release(&b);
    return rc;
}

struct diversion {
    char *from, *to, *by; /* by: the diverting package, ":" for a local diversion */
};

static int div_cmp(const void *a, const void *b)
{
    return strcmp(((const struct diversion *)a)->from, ((const struct diversion *)b)->from);
}

/* dpkg-divert: var/lib/dpkg/diversions is a sequence of three-line records -- the contested
 * path, where other packages' copy of it goes instead, the diverting package (":" local).
 * A file list names the path as the package ships it, so a package other than the diverting
 * one that lists a contested path really has its file at the divert-to path (dpkg -L says
 * "diverted by dash to: /bin/sh.distrib"). Rewrites those paths of packages [first, n). */
static void apply_diversions(const struct vx_inv_scan *sc, size_t first)
{
    struct vx_buf b = VX_BUF_INIT((size_t)sc->opts->max_db_bytes);
    struct diversion *dv = NULL;
    size_t n = 0, cap = 0, n_lines = 0;
    const char *line[3];
    size_t llen[3];
    struct vx_err *e = NULL;

    if (vx_inv_read_file(sc, DIVERSIONS_REL, (size_t)sc->opts->max_db_bytes, &b, &e) < 0) {
        if (e && e->code != VX_E_NOT_FOUND)
            vx_inventory_warn(sc->inv, "%s", e->msg);
        vx_err_free(&e);
        vx_buf_release(&b);
        return;
    }
    for (const char *p = b.data ? b.data : "", *end = p + b.len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;

        line[n_lines % 3] = p;
        llen[n_lines % 3] = (size_t)(le - p);
        n_lines++;
        p = nl ? nl + 1 : end;
        if (n_lines % 3)
            continue;
        if (llen[0] == 0 || llen[1] == 0 || llen[2] == 0 || llen[0] > 4096 || llen[1] > 4096 ||
            llen[2] > MAX_FIELD || memchr(line[0], '\0', llen[0]) ||
            memchr(line[1], '\0', llen[1]) || memchr(line[2], '\0', llen[2]) || line[0][0] != '/' ||
            line[1][0] != '/') {
            vx_inventory_warn(sc->inv, DIVERSIONS_REL ": record %zu malformed (ignored)",
                              n_lines / 3);
            continue;
        }
        dv = vx_xgrow(dv, sizeof(*dv), n + 1, &cap);
        dv[n].from = vx_xstrndup(line[0], llen[0]);
        dv[n].to = vx_xstrndup(line[1], llen[1]);
        dv[n].by = vx_xstrndup(line[2], llen[2]);
        n++;
    }
    if (n_lines % 3)
        vx_inventory_warn(sc->inv,
                          DIVERSIONS_REL ": %zu lines, not a multiple of 3 (the last "
                                         "record ignored)",
                          n_lines);
    vx_buf_release(&b);
    if (n > 1)
        qsort(dv, n, sizeof(*dv), div_cmp);
    for (size_t i = first; n && i < sc->inv->n_pkgs; i++) {
        struct vx_pkg *p = &sc->inv->pkgs[i];
        for (size_t f = 0; f < p->n_files; f++) {
            struct diversion key = {.from = p->files[f]};
            const struct diversion *d = bsearch(&key, dv, n, sizeof(*dv), div_cmp);
            if (!d || !strcmp(d->by, p->name))
                continue;
            free(p->files[f]);
            p->files[f] = vx_xstrdup(d->to);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(dv[i].from);
        free(dv[i].to);
        free(dv[i].by);
    }
    free(dv);
}

int vx_inv_scan_dpkg(const struct vx_inv_scan *sc, struct vx_err **err)
{
    struct vx_buf b = VX_BUF_INIT((size_t)sc->opts->max_db_bytes);
    size_t first = sc->inv->n_pkgs;
    int rc;

    rc = vx_inv_read_file(sc, STATUS_REL, (size_t)sc->opts->max_db_bytes, &b, err);
    if (rc == -VX_E_NOT_FOUND) {
        vx_err_free(err);
        rc = 0;
    } else if (rc == 0) {
        rc = vx_inv_parse_dpkg_status(sc->inv, STATUS_REL, b.data ? b.data : "", b.len, err);
    }
    vx_buf_release(&b);
    if (rc < 0)
        return rc;
    rc = scan_statusd(sc, err);
    if (rc < 0)
        return rc;
    rc = attach_files(sc, first, err);
    if (rc == 0)
        apply_diversions(sc, first);
    return rc;
}
