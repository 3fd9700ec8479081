/* scan.c -- vx_inventory_scan: every package database of a rootfs, then the index.
 *
 * The rootfs is opened once as an O_PATH directory; every database file is opened from it
 * with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) (vx_lang_open), so a symlinked
 * /var/lib/dpkg/status in a hostile image resolves inside the image, never on the host; only
 * regular files are read (a FIFO planted as a database would block a plain open, hence
 * O_NONBLOCK and a type check), each up to opts->max_db_bytes.
 *
 * The distro comes from /etc/os-release (or /usr/lib/os-release, which it usually links
 * to): ID and VERSION_ID, used as the purl namespace of deb/apk/rpm packages and in the
 * "distro" qualifier ("debian-12"). Then the scanners run in a fixed order -- OS package
 * managers first, then language ecosystems, then binaries (Go, Java: skipped with
 * skip_binaries) -- and the index is built.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "inventory/inv_int.h"  /* the scanners */
#include "inventory/langwalk.h" /* vx_lang_open, vx_lang_read_fd */

#define DEFAULT_MAX_DB    ((int64_t)256 * 1024 * 1024)
#define DEFAULT_MAX_FILES 5000000
#define MAX_OS_RELEASE    (64 * 1024)

int vx_inv_read_file(const struct vx_inv_scan *sc, const char *rel, size_t max, struct vx_buf *b,
                     struct vx_err **err)
{
    struct stat st;
    int fd, rc;

    fd = vx_lang_open(sc->rootfd, rel, O_RDONLY | O_NONBLOCK);
    if (fd == -ENOENT || fd == -ENOTDIR)
        return vx_err_set(err, VX_E_NOT_FOUND, -fd, "'%s' not found", rel);
    if (fd == -ELOOP || fd == -EXDEV)
        return vx_err_set(err, VX_E_IO, -fd, "'%s': a symlink loop or a link leaving the root",
                          rel);
    if (fd < 0)
        return vx_err_set(err, VX_E_IO, -fd, "cannot open '%s'", rel);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vx_err_set(err, VX_E_IO, 0, "'%s' is not a regular file", rel);
    }
    if (st.st_size > 0 && (uint64_t)st.st_size > max) {
        close(fd);
        return vx_err_set(err, VX_E_TOO_LARGE, 0, "'%s' is larger than %zu bytes", rel, max);
    }
    rc = vx_lang_read_fd(fd, max, b, rel, err);
    close(fd);
    return rc;
}

/* value of KEY= in an os-release file: quotes removed, NULL when absent */
static char *os_value(const char *data, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *p = data, *end = data + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if ((size_t)(le - p) > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            const char *v = p + kl + 1;
            size_t n = (size_t)(le - v);
            while (n && (v[n - 1] == '\r' || v[n - 1] == ' '))
                n--;
            if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
                v++;
                n -= 2;
            }
            if (!n || n > 256 || memchr(v, '\0', n))
                return NULL;
            char *out = vx_xstrndup(v, n);
            for (char *c = out; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == '/' || *c == '&' || *c == '?' || *c == '#')
                    *c = '_';
            return out;
        }
        p = nl ? nl + 1 : end;
    }
    return NULL;
}

static void read_os_release(const struct vx_inv_scan *sc)
{
    static const char *const where[] = {"etc/os-release", "usr/lib/os-release"};
    struct vx_buf b = VX_BUF_INIT(MAX_OS_RELEASE);

    for (size_t i = 0; i < VX_ARRAY_SIZE(where); i++) {
        vx_buf_release(&b);
        if (vx_inv_read_file(sc, where[i], MAX_OS_RELEASE, &b, NULL) < 0)
            continue;
        sc->inv->distro_id = os_value(b.data ? b.data : "", b.len, "ID");
        sc->inv->distro_version = os_value(b.data ? b.data : "", b.len, "VERSION_ID");
        for (char *c = sc->inv->distro_id; c && *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        break;
    }
    vx_buf_release(&b);
}

static const struct {
    const char *name;
    vx_inv_scanner_fn fn;
    bool binary; /* opens ELF files / archives */
} scanners[] = {
    {"dpkg", vx_inv_scan_dpkg, false}, {"apk", vx_inv_scan_apk, false},
    {"rpm", vx_inv_scan_rpm, false},   {"python", vx_inv_scan_python, false},
    {"npm", vx_inv_scan_npm, false},   {"go", vx_inv_scan_go, true},
    {"java", vx_inv_scan_java, true},
};

int vx_inventory_scan(const char *rootfs, const struct vx_inventory_opts *opts,
                      struct vx_inventory **out, struct vx_err **err)
{
    struct vx_inventory_opts o = {0};
    struct vx_inv_scan sc = {0};
    struct vx_inventory *inv = NULL;
    struct stat st;
    int rc = 0;

    *out = NULL;
    if (opts)
        o = *opts;
    if (o.max_db_bytes <= 0)
        o.max_db_bytes = DEFAULT_MAX_DB;
    if (o.max_files <= 0)
        o.max_files = DEFAULT_MAX_FILES;
    sc.rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sc.rootfd < 0)
        return vx_err_set(err, errno == ENOENT ? VX_E_NOT_FOUND : VX_E_IO, errno,
                          "cannot open rootfs '%s'", rootfs);
    if (fstat(sc.rootfd, &st) < 0 || !S_ISDIR(st.st_mode)) {
        close(sc.rootfd);
        return vx_err_set(err, VX_E_INVALID, 0, "'%s' is not a directory", rootfs);
    }
    inv = vx_inventory_new();
    vx_inventory_limit(inv, o.max_files);
    sc.rootfs = rootfs;
    sc.opts = &o;
    sc.inv = inv;
    read_os_release(&sc);
    for (size_t i = 0; i < VX_ARRAY_SIZE(scanners) && rc == 0; i++) {
        if (scanners[i].binary && o.skip_binaries)
            continue;
        rc = scanners[i].fn(&sc, err);
        if (rc < 0)
            vx_err_wrap(err, "inventory (%s)", scanners[i].name);
    }
    if (rc == 0)
        rc = vx_inventory_index(inv, rootfs, err);
    close(sc.rootfd);
    if (rc < 0) {
        vx_inventory_free(inv);
        return rc;
    }
    *out = inv;
    return 0;
}
