/* golang.c -- Go modules compiled into ELF binaries, from the build info the linker embeds.
 *
 * A Go binary (Go >= 1.13 with modules) carries a build-info blob, in the .go.buildinfo
 * section of ELF files: a 32-byte header starting with the 14-byte magic "\xff Go buildinf:",
 * then the pointer size and a flags byte. Since Go 1.18 (flags & 2) two strings follow the
 * header inline, each prefixed by its length as an unsigned varint: the Go version
 * ("go1.21.5") and the module info text, which is wrapped in 16-byte sentinels. Older
 * binaries (Go 1.13-1.17) store two pointers to Go string headers {data, len} instead
 * (pointer size and byte order from the header): those addresses are mapped to file offsets
 * through the PT_LOAD program headers. The module info is tab-separated lines:
 *   path  <main package path>
 *   mod   <main module> <version> [<sum>]
 *   dep   <module> <version> [<sum>]
 *   =>    <replacement> <version> [<sum>]     (replaces the line before it)
 *   build <key>=<value>
 * Each module becomes a golang package owning the binary, plus "stdlib" at the Go version
 * (how Trivy/Grype name the standard library). A module bundled in many binaries is one
 * package owning all of them.
 *
 * The scan reads only what it needs from each file (ELF header, section headers, section
 * names, the section itself) with pread, every size capped: a 2 GB binary costs a few KB.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include <dirent.h> /* DT_* */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "inventory/inv_int.h"  /* struct vx_inv_scan */
#include "inventory/langwalk.h" /* vx_lang_walk_run, vx_lang_dedup */

#define MAX_SECTIONS       8192
#define MAX_SHSTRTAB       (1u << 20)
#define MAX_BUILDINFO      (16u << 20) /* the .go.buildinfo section (modinfo of huge binaries) */
#define MAX_SEGMENT_SEARCH (1u << 20)  /* bytes of the data segment read without a section table */
#define MAX_MODINFO_LINES  100000
#define MAX_BINARIES       100000
#define MAX_WALK_DEPTH     16
#define MAX_WALK_ENTRIES   4000000

static const char go_magic[14] = "\xff Go buildinf:";

/* Where the bytes come from: memory (tests, fuzzing) or a file read piecewise. */
struct src {
    const unsigned char *mem;
    int fd;
    uint64_t size;
};

/* Copies len bytes at off into out; false when out of range or unreadable. */
static bool src_get(const struct src *s, uint64_t off, size_t len, void *out)
{
    if (off > s->size || len > s->size - off)
        return false;
    if (s->mem) {
        memcpy(out, s->mem + off, len);
        return true;
    }
    for (size_t done = 0; done < len;) {
        ssize_t n = pread(s->fd, (char *)out + done, len - done, (off_t)(off + done));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}

struct elf {
    bool is64, big;
};

static uint64_t rd(const struct elf *e, const unsigned char *p, int bytes)
{
    uint64_t v = 0;

    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[e->big ? bytes - 1 - i : i] << (8 * i);
    return v;
}

/* Finds section 'want' of the ELF file; its file offset and size in *off, *size. 1 found,
 * 0 not found (or no section headers), -1 not an ELF file. */
static int elf_section(const struct src *s, const char *want, uint64_t *off, uint64_t *size)
{
    unsigned char eh[64], *shdrs = NULL;
    char *names = NULL;
    struct elf e;
    uint64_t shoff, str_off, str_size;
    size_t shentsize, shnum, shstrndx, wlen = strlen(want) + 1;
    int rc = 0;

    if (!src_get(s, 0, 16, eh) || memcmp(eh,
                                         "\x7f"
                                         "ELF",
                                         4) != 0)
        return -1;
    if ((eh[4] != 1 && eh[4] != 2) || (eh[5] != 1 && eh[5] != 2))
        return -1;
    e.is64 = eh[4] == 2;
    e.big = eh[5] == 2;
    if (!src_get(s, 0, e.is64 ? 64 : 52, eh))
        return -1;
    shoff = e.is64 ? rd(&e, eh + 40, 8) : rd(&e, eh + 32, 4);
    shentsize = (size_t)rd(&e, eh + (e.is64 ? 58 : 46), 2);
    shnum = (size_t)rd(&e, eh + (e.is64 ? 60 : 48), 2);
    shstrndx = (size_t)rd(&e, eh + (e.is64 ? 62 : 50), 2);
    if (shoff == 0 || shnum == 0 || shnum > MAX_SECTIONS || shstrndx >= shnum ||
        shentsize < (e.is64 ? 64u : 40u))
        return 0;
    shdrs = vx_xmalloc(shnum * shentsize);
    if (!src_get(s, shoff, shnum * shentsize, shdrs))
        goto out;
#define SH_FIELD(i, o64, o32)                                                                      \
    (e.is64 ? rd(&e, shdrs + (i)*shentsize + (o64), 8) : rd(&e, shdrs + (i)*shentsize + (o32), 4))
    str_off = SH_FIELD(shstrndx, 24, 16);
    str_size = SH_FIELD(shstrndx, 32, 20);
    if (str_size == 0 || str_size > MAX_SHSTRTAB)
        goto out;
    names = vx_xmalloc(str_size + 1);
    if (!src_get(s, str_off, str_size, names))
        goto out;
    names[str_size] = '\0';
    for (size_t i = 0; i < shnum; i++) {
        uint64_t name_off = rd(&e, shdrs + i * shentsize, 4);
        uint64_t type = rd(&e, shdrs + i * shentsize + 4, 4);

        if (name_off >= str_size || str_size - name_off < wlen ||
            memcmp(names + name_off, want, wlen) != 0)
            continue;
        if (type == 8) /* SHT_NOBITS: no bytes in the file */
            break;
        *off = SH_FIELD(i, 24, 16);
        *size = SH_FIELD(i, 32, 20);
        rc = 1;
        break;
    }
#undef SH_FIELD
out:
    free(shdrs);
    free(names);
    return rc;
}

/* An unsigned varint at *p (advanced), bounded by end; false when malformed. */
static bool uvarint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char c = *(*p)++;

        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

/* "github.com/foo/bar" -> namespace "github.com/foo" (NULL for a one-element path). */
static char *module_namespace(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? vx_xstrndup(path, (size_t)(slash - path)) : NULL;
}

/* Adds (or finds) module path@version and makes it own binary. */
static int add_module(struct vx_inventory *inv, struct vx_lang_dedup *dd, const char *where,
                      const char *binary, const char *path, const char *version,
                      struct vx_err **err)
{
    char *ns = module_namespace(path);
    size_t i;
    bool added = true;
    int rc = 0;

    if (dd) {
        i = vx_lang_dedup_get(dd, inv, VX_PKG_GOLANG, path, version, ns, &added);
    } else {
        vx_inventory_add(inv, VX_PKG_GOLANG, path, version, NULL, ns);
        i = inv->n_pkgs - 1;
    }
    if (added)
        inv->pkgs[i].location = vx_xstrdup(where);
    if (added || !vx_lang_pkg_has_file(&inv->pkgs[i], binary))
        rc = vx_pkg_add_file(inv, &inv->pkgs[i], binary, err);
    free(ns);
    return rc;
}

/* Splits a modinfo line into up to 4 tab-separated fields (in place). */
static int split_tabs(char *line, char *f[4])
{
    int n = 0;

    f[n++] = line;
    for (char *p = line; *p && n < 4; p++)
        if (*p == '\t') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static int parse_modinfo(struct vx_inventory *inv, struct vx_lang_dedup *dd, const char *binary,
                         const char *mi, size_t len, struct vx_err **err)
{
    char *text = vx_xstrndup(mi, len);
    char *pend_path = NULL, *pend_ver = NULL, *save = NULL, *line;
    int rc = 0, lines = 0;

    /* A module line takes effect when the next line is not its "=>" replacement. */
    for (line = strtok_r(text, "\n", &save); rc == 0; line = strtok_r(NULL, "\n", &save)) {
        char *f[4] = {NULL};
        int n = line ? split_tabs(line, f) : 0;

        if (line && ++lines > MAX_MODINFO_LINES) {
            vx_inventory_warn(inv, "%s: go build info has more than %d lines; the rest skipped",
                              binary, MAX_MODINFO_LINES);
            line = NULL;
        }
        if (line && n >= 2 && strcmp(f[0], "=>") == 0) {
            /* Replaced by another module (with a version), or a local directory (none):
             * the code in the binary is the replacement's. */
            if (pend_path && n >= 3 && f[1][0] && f[2][0] && strcmp(f[2], "(devel)") != 0) {
                free(pend_path);
                free(pend_ver);
                pend_path = vx_xstrdup(f[1]);
                pend_ver = vx_xstrdup(f[2]);
            } else if (pend_path) {
                free(pend_ver);
                pend_ver = vx_xstrdup("(devel)");
            }
            continue;
        }
        if (pend_path) {
            rc = add_module(inv, dd, binary, binary, pend_path, pend_ver, err);
            free(pend_path);
            free(pend_ver);
            pend_path = pend_ver = NULL;
        }
        if (!line)
            break;
        if (n >= 2 && (strcmp(f[0], "mod") == 0 || strcmp(f[0], "dep") == 0) && f[1][0]) {
            pend_path = vx_xstrdup(f[1]);
            pend_ver = vx_xstrdup(n >= 3 && f[2][0] ? f[2] : "(devel)");
        }
    }
    free(pend_path);
    free(pend_ver);
    free(text);
    return rc;
}

/* Virtual address range [va, va+len) -> file offset, through the PT_LOAD program headers;
 * false when the range is not backed by file bytes of one segment. */
static bool vaddr_off(const struct src *s, uint64_t va, uint64_t len, uint64_t *off)
{
    unsigned char eh[64], ph[56];
    struct elf e;
    uint64_t phoff;
    size_t phentsize, phnum;

    if (!src_get(s, 0, 64, eh) || memcmp(eh,
                                         "\x7f"
                                         "ELF",
                                         4) != 0)
        return false;
    e.is64 = eh[4] == 2;
    e.big = eh[5] == 2;
    phoff = e.is64 ? rd(&e, eh + 32, 8) : rd(&e, eh + 28, 4);
    phentsize = (size_t)rd(&e, eh + (e.is64 ? 54 : 42), 2);
    phnum = (size_t)rd(&e, eh + (e.is64 ? 56 : 44), 2);
    if (phentsize < (e.is64 ? 56u : 32u) || phnum > 4096)
        return false;
    for (size_t i = 0; i < phnum; i++) {
        uint64_t poff, pva, filesz;

        if (phoff > UINT64_MAX - (uint64_t)i * phentsize ||
            !src_get(s, phoff + (uint64_t)i * phentsize, e.is64 ? 56 : 32, ph))
            return false;
        if (rd(&e, ph, 4) != 1) /* PT_LOAD */
            continue;
        poff = e.is64 ? rd(&e, ph + 8, 8) : rd(&e, ph + 4, 4);
        pva = e.is64 ? rd(&e, ph + 16, 8) : rd(&e, ph + 8, 4);
        filesz = e.is64 ? rd(&e, ph + 32, 8) : rd(&e, ph + 16, 4);
        if (va >= pva && va - pva <= filesz && len <= filesz - (va - pva) &&
            poff <= UINT64_MAX - (va - pva)) {
            *off = poff + (va - pva);
            return true;
        }
    }
    return false;
}

/* The bytes of the Go string whose header {data pointer, length} is at address va (Go <
 * 1.18 build info); NULL when anything does not resolve or is longer than max. */
static char *go_string_at(const struct src *s, uint64_t va, int ps, bool big, size_t max,
                          size_t *len)
{
    struct elf e = {.big = big};
    unsigned char h[16];
    uint64_t off, dptr, dlen;
    char *out;

    if (!vaddr_off(s, va, (uint64_t)ps * 2, &off) || !src_get(s, off, (size_t)ps * 2, h))
        return NULL;
    dptr = rd(&e, h, ps);
    dlen = rd(&e, h + ps, ps);
    if (dlen > max || !vaddr_off(s, dptr, dlen, &off))
        return NULL;
    out = vx_xmalloc((size_t)dlen + 1);
    if (!src_get(s, off, (size_t)dlen, out)) {
        free(out);
        return NULL;
    }
    out[dlen] = '\0';
    *len = (size_t)dlen;
    return out;
}

/* Modules from the module info (still wrapped in its sentinels) and stdlib from gover. */
static int finish(struct vx_inventory *inv, struct vx_lang_dedup *dd, const char *path,
                  const char *gover, size_t glen, const char *mi, size_t mlen, struct vx_err **err)
{
    int rc = 0;

    /* The module info sits between two 16-byte sentinels, the last ending after a '\n'. */
    if (mlen >= 33 && mi[mlen - 17] == '\n')
        rc = parse_modinfo(inv, dd, path, mi + 16, mlen - 32, err);
    else if (mlen > 0)
        vx_inventory_warn(inv, "%s: go build info without module sentinels (ignored)", path);
    if (rc == 0 && glen > 3 && glen < 64 && strncmp(gover, "go1", 3) == 0 &&
        !memchr(gover, '\n', glen) && !memchr(gover, '\0', glen)) {
        /* "go1.21.5 X:loopvar" -> "v1.21.5". */
        size_t vl = 0;
        char *v;

        while (2 + vl < glen && gover[2 + vl] != ' ')
            vl++;
        v = vx_xasprintf("v%.*s", (int)vl, gover + 2);
        rc = add_module(inv, dd, path, path, "stdlib", v, err);
        free(v);
    }
    return rc;
}

/* Parses the build info blob (bytes of the section, or a window found by the magic); s is
 * the whole file, for the pointers of the format before Go 1.18. */
static int parse_buildinfo(struct vx_inventory *inv, struct vx_lang_dedup *dd, const char *path,
                           const struct src *s, const unsigned char *b, size_t len,
                           struct vx_err **err)
{
    const unsigned char *p, *end = b + len;
    uint64_t vlen, mlen;
    size_t at;
    int rc;

    /* The header is 16-byte aligned within its section. */
    for (at = 0; at + 32 <= len; at += 16)
        if (memcmp(b + at, go_magic, sizeof(go_magic)) == 0)
            break;
    if (at + 32 > len)
        return 0; /* not a Go binary, or one built without module info */
    if (!(b[at + 15] & 2)) {
        /* Go < 1.18: two pointers to the string headers of runtime.buildVersion and
         * runtime.modinfo. */
        int ps = b[at + 14];
        struct elf e = {.big = (b[at + 15] & 1) != 0};
        char *gover = NULL, *mi = NULL;
        size_t gl = 0, ml = 0;

        if (ps == 4 || ps == 8) {
            gover = go_string_at(s, rd(&e, b + at + 16, ps), ps, e.big, 64, &gl);
            mi = go_string_at(s, rd(&e, b + at + 16 + ps, ps), ps, e.big, MAX_BUILDINFO, &ml);
        }
        if (!gover) {
            vx_inventory_warn(inv,
                              "%s: go < 1.18 build info with unresolvable pointers "
                              "(skipped)",
                              path);
            free(mi);
            return 0;
        }
        rc = finish(inv, dd, path, gover, gl, mi, ml, err);
        free(gover);
        free(mi);
        return rc;
    }
    p = b + at + 32;
    if (!uvarint(&p, end, &vlen) || vlen > (uint64_t)(end - p))
        goto bad;
    {
        const char *gover = (const char *)p;

        p += vlen;
        if (!uvarint(&p, end, &mlen) || mlen > (uint64_t)(end - p))
            goto bad;
        return finish(inv, dd, path, gover, (size_t)vlen, (const char *)p, (size_t)mlen, err);
    }
bad:
    vx_inventory_warn(inv, "%s: go build info is truncated (skipped)", path);
    return 0;
}

/* The file range of the first writable PT_LOAD segment; false when there is none. */
static bool first_writable(const struct src *s, uint64_t *off, uint64_t *size)
{
    unsigned char eh[64], ph[56];
    struct elf e;
    uint64_t phoff;
    size_t phentsize, phnum;

    if (!src_get(s, 0, 64, eh))
        return false;
    e.is64 = eh[4] == 2;
    e.big = eh[5] == 2;
    phoff = e.is64 ? rd(&e, eh + 32, 8) : rd(&e, eh + 28, 4);
    phentsize = (size_t)rd(&e, eh + (e.is64 ? 54 : 42), 2);
    phnum = (size_t)rd(&e, eh + (e.is64 ? 56 : 44), 2);
    if (phentsize < (e.is64 ? 56u : 32u) || phnum > 4096)
        return false;
    for (size_t i = 0; i < phnum; i++) {
        uint64_t flags;

        if (phoff > UINT64_MAX - (uint64_t)i * phentsize ||
            !src_get(s, phoff + (uint64_t)i * phentsize, e.is64 ? 56 : 32, ph))
            return false;
        flags = e.is64 ? rd(&e, ph + 4, 4) : rd(&e, ph + 24, 4);
        if (rd(&e, ph, 4) != 1 || !(flags & 2)) /* PT_LOAD, PF_W */
            continue;
        *off = e.is64 ? rd(&e, ph + 8, 8) : rd(&e, ph + 4, 4);
        *size = e.is64 ? rd(&e, ph + 32, 8) : rd(&e, ph + 16, 4);
        if (*off > s->size)
            return false;
        if (*size > s->size - *off)
            *size = s->size - *off;
        return true;
    }
    return false;
}

/* Finds and parses the build info of one ELF (memory or file). dd may be NULL. */
static int go_elf(struct vx_inventory *inv, struct vx_lang_dedup *dd, const char *path,
                  const struct src *s, struct vx_err **err)
{
    uint64_t off = 0, size = 0;
    unsigned char *sec;
    int found = elf_section(s, ".go.buildinfo", &off, &size), rc;

    if (found < 0)
        return 0;
    if (found == 0) {
        /* No section table (stripped with it): the linker puts the build info at the start
         * of the first writable segment. In memory, without even that, search everything. */
        if (!first_writable(s, &off, &size)) {
            if (!s->mem)
                return 0;
            return parse_buildinfo(inv, dd, path, s, s->mem, (size_t)s->size, err);
        }
        if (size > MAX_SEGMENT_SEARCH)
            size = MAX_SEGMENT_SEARCH;
    }
    if (size > MAX_BUILDINFO || off > s->size || size > s->size - off) {
        vx_inventory_warn(inv, "%s: .go.buildinfo of %" PRIu64 " bytes is out of range (skipped)",
                          path, size);
        return 0;
    }
    if (s->mem)
        return parse_buildinfo(inv, dd, path, s, s->mem + off, (size_t)size, err);
    sec = vx_xmalloc(size ? (size_t)size : 1);
    if (!src_get(s, off, (size_t)size, sec)) {
        free(sec);
        vx_inventory_warn(inv, "%s: cannot read .go.buildinfo (skipped)", path);
        return 0;
    }
    rc = parse_buildinfo(inv, dd, path, s, sec, (size_t)size, err);
    free(sec);
    return rc;
}

int vx_inv_parse_go_elf(struct vx_inventory *inv, const char *path, const void *data, size_t len,
                        struct vx_err **err)
{
    struct src s = {.mem = data, .fd = -1, .size = len};

    return go_elf(inv, NULL, path, &s, err);
}

/* ---- the scan ------------------------------------------------------------------------- */

struct goscan {
    const struct vx_inv_scan *sc;
    struct vx_lang_dedup dd;
    size_t n_checked;
};

static int visit(struct vx_lang_walk *w, int dirfd, const char *name, const char *rel,
                 unsigned char type, struct vx_err **err)
{
    struct goscan *gs = w->ctx;
    struct stat st;
    struct src s;
    char *path;
    int fd, rc;

    if (type == DT_DIR)
        /* Trees that hold no programs: documentation, headers, package manager state. */
        return (strcmp(rel, "usr/share") == 0 || strcmp(rel, "usr/include") == 0 ||
                strcmp(rel, "var/lib/dpkg") == 0 || strcmp(rel, "var/cache") == 0 ||
                strcmp(rel, "var/log") == 0 || strcmp(name, "node_modules") == 0 ||
                strcmp(name, "__pycache__") == 0)
                   ? 1
                   : 0;
    if (type != DT_REG)
        return 0;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
        !(st.st_mode & 0111) || st.st_size < 64)
        return 0;
    if (++gs->n_checked > MAX_BINARIES) {
        if (gs->n_checked == MAX_BINARIES + 1)
            vx_inventory_warn(gs->sc->inv, "go: more than %d executables; the rest not read",
                              MAX_BINARIES);
        return 0;
    }
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    s.mem = NULL;
    s.fd = fd;
    s.size = (uint64_t)st.st_size;
    path = vx_xasprintf("/%s", rel);
    rc = go_elf(gs->sc->inv, &gs->dd, path, &s, err);
    free(path);
    close(fd);
    return rc;
}

int vx_inv_scan_go(const struct vx_inv_scan *sc, struct vx_err **err)
{
    struct goscan gs = {.sc = sc};
    struct vx_lang_walk w = {.sc = sc,
                             .max_depth = MAX_WALK_DEPTH,
                             .max_entries = MAX_WALK_ENTRIES,
                             .visit = visit,
                             .ctx = &gs};
    int rc;

    if (sc->opts->skip_binaries)
        return 0;
    rc = vx_lang_walk_run(&w, "", err);
    if (w.truncated)
        vx_inventory_warn(sc->inv, "go: the search for binaries stopped after %" PRId64 " entries",
                          w.n_entries);
    vx_lang_dedup_release(&gs.dd);
    return rc;
}
