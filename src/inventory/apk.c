/* apk.c -- Alpine packages: lib/apk/db/installed.
 *
 * The database is a sequence of records separated by blank lines, one "K:value" per line:
 * P name, V version, A arch, o origin (the source package), F a directory (relative to the
 * root) and R a file in the last F directory (R before any F is at the root). Every other
 * key (checksums, sizes, dependencies, permissions) is ignored. A record without P or V is
 * skipped with a warning; lines that are not "K:value" are counted and reported once. The
 * last record needs no final newline (apk writes none after its last checksum).
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "inventory/inv_int.h" /* the scan context, vx_inv_read_file */

#define APK_REL   "lib/apk/db/installed"
#define MAX_FIELD 4096

struct rec {
    const char *p, *v, *a, *o;
    size_t pl, vl, al, ol;
    size_t first_line;
    bool has_nul;
    /* file lines, resolved when the record ends: offsets of F and R lines */
    struct {
        const char *s;
        size_t n;
        bool dir;
    } * paths;
    size_t n_paths, cap_paths;
};

static bool clean(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static int finish(struct vx_inventory *inv, const char *where, size_t entry, struct rec *r,
                  struct vx_err **err)
{
    struct vx_pkg *pkg;
    char *name = NULL, *version = NULL, *arch = NULL, *dir = NULL;
    int rc = 0;

    if (r->has_nul) {
        vx_inventory_warn(inv, "%s: entry %zu: NUL byte in the entry (skipped)", where, entry);
        goto out;
    }
    if (!r->p || !r->pl || r->pl > MAX_FIELD || !clean(r->p, r->pl)) {
        vx_inventory_warn(inv, "%s: entry %zu: no or malformed P: (skipped)", where, entry);
        goto out;
    }
    name = vx_xstrndup(r->p, r->pl);
    if (!r->v || !r->vl || r->vl > MAX_FIELD || !clean(r->v, r->vl)) {
        vx_inventory_warn(inv, "%s: entry %zu ('%s'): no or malformed V: (skipped)", where, entry,
                          name);
        goto out;
    }
    version = vx_xstrndup(r->v, r->vl);
    if (r->a && r->al && r->al <= MAX_FIELD && clean(r->a, r->al))
        arch = vx_xstrndup(r->a, r->al);
    pkg = vx_inventory_add(inv, VX_PKG_APK, name, version, arch,
                           inv->distro_id ? inv->distro_id : "alpine");
    pkg->location = vx_xstrdup(where);
    if (r->o && r->ol && r->ol <= MAX_FIELD && clean(r->o, r->ol))
        pkg->source_name = vx_xstrndup(r->o, r->ol);
    for (size_t i = 0; i < r->n_paths && rc == 0; i++) {
        if (r->paths[i].n > MAX_FIELD || !clean(r->paths[i].s, r->paths[i].n))
            continue;
        if (r->paths[i].dir) {
            free(dir);
            dir = vx_xstrndup(r->paths[i].s, r->paths[i].n);
            continue;
        }
        char *path = dir && *dir ? vx_xasprintf("%s/%.*s", dir, (int)r->paths[i].n, r->paths[i].s)
                                 : vx_xstrndup(r->paths[i].s, r->paths[i].n);
        /* the last package added is the one to extend */
        rc = vx_pkg_add_file(inv, &inv->pkgs[inv->n_pkgs - 1], path, err);
        free(path);
    }
out:
    free(name);
    free(version);
    free(arch);
    free(dir);
    return rc;
}

int vx_inv_parse_apk(struct vx_inventory *inv, const char *where, const char *data, size_t len,
                     struct vx_err **err)
{
    const char *p = data, *end = data + len;
    struct rec r = {0};
    size_t entry = 0, bad = 0, n_p = 0;
    bool in_rec = false;
    int rc = 0;

    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        const char *s = p;

        p = nl ? nl + 1 : end;
        if (n && s[n - 1] == '\r')
            n--;
        if (n == 0) {
            if (in_rec)
                rc = finish(inv, where, entry, &r, err);
            in_rec = false;
            free(r.paths);
            memset(&r, 0, sizeof(r));
            continue;
        }
        if (!in_rec) {
            in_rec = true;
            entry++;
        }
        if (memchr(s, '\0', n))
            r.has_nul = true;
        if (n < 2 || s[1] != ':') {
            bad++;
            continue;
        }
        const char *v = s + 2;
        size_t vl = n - 2;
        switch (s[0]) {
        case 'P':
            r.p = v;
            r.pl = vl;
            n_p++;
            break;
        case 'V':
            r.v = v;
            r.vl = vl;
            break;
        case 'A':
            r.a = v;
            r.al = vl;
            break;
        case 'o':
            r.o = v;
            r.ol = vl;
            break;
        case 'F':
        case 'R':
            r.paths = vx_xgrow(r.paths, sizeof(*r.paths), r.n_paths + 1, &r.cap_paths);
            r.paths[r.n_paths].s = v;
            r.paths[r.n_paths].n = vl;
            r.paths[r.n_paths++].dir = s[0] == 'F';
            break;
        default:
            break;
        }
    }
    if (in_rec && rc == 0)
        rc = finish(inv, where, entry, &r, err);
    free(r.paths);
    if (rc < 0)
        return rc;
    if (n_p == 0 && len > 0) {
        bool blank = true;
        for (size_t i = 0; i < len && blank; i++)
            blank = data[i] == '\n' || data[i] == '\r' || data[i] == ' ' || data[i] == '\t';
        if (!blank)
            return vx_err_set(err, VX_E_INVALID, 0,
                              "'%s': not an apk installed database (no P: line)", where);
    }
    if (bad)
        vx_inventory_warn(inv, "%s: %zu lines that are not 'K:value' (ignored)", where, bad);
    return 0;
}

int vx_inv_scan_apk(const struct vx_inv_scan *sc, struct vx_err **err)
{
    struct vx_buf b = VX_BUF_INIT((size_t)sc->opts->max_db_bytes);
    int rc;

    rc = vx_inv_read_file(sc, APK_REL, (size_t)sc->opts->max_db_bytes, &b, err);
    if (rc == -VX_E_NOT_FOUND) {
        vx_err_free(err);
        rc = 0;
    } else if (rc == 0) {
        rc = vx_inv_parse_apk(sc->inv, APK_REL, b.data ? b.data : "", b.len, err);
    }
    vx_buf_release(&b);
    return rc;
}
