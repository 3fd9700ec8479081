/* java.c -- Java archives: .jar/.war/.ear files and the Maven artifacts inside them.
 *
 * Each archive in the rootfs is read as a zip with libarchive, streaming (never unpacked to
 * disk). Every META-INF/maven/<groupId>/<artifactId>/pom.properties in it is one maven
 * package (groupId, artifactId, version), owning the archive's path: a fat/shaded jar thus
 * yields every artifact it bundles. Jars nested one level deep (WEB-INF/lib/x.jar in a war,
 * BOOT-INF/lib/x.jar in a Spring Boot jar, lib/x.jar in an ear, any *.jar entry) are read
 * from memory the same way and also own the outer archive, with location "outer!/inner".
 * An archive with no pom.properties is named from its file name ("name-1.2.3.jar") or its
 * MANIFEST.MF (Implementation-Title / -Version, Bundle-SymbolicName / Bundle-Version), with a
 * warning that the identity is a guess. Entry counts and sizes are capped.
 */
#include "common/setup.h"

#include "inventory/inventory.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h> /* DT_* */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "inventory/inv_int.h"  /* struct vx_inv_scan */
#include "inventory/langwalk.h" /* vx_lang_walk_run, vx_lang_dedup */

#define MAX_ARCHIVE_BYTES (2ull << 30) /* archives larger are not opened */
#define MAX_ENTRIES       200000       /* entries read from one archive */
#define MAX_PROPS_BYTES   (64u << 10)  /* pom.properties, MANIFEST.MF */
#define MAX_NESTED_BYTES  (64u << 20)  /* one nested jar read into memory */
#define MAX_NESTED_TOTAL  (512u << 20) /* nested bytes over one outer archive */
#define MAX_ARCHIVES      50000
#define MAX_WALK_DEPTH    24
#define MAX_WALK_ENTRIES  4000000

struct javascan {
    const struct vx_inv_scan *sc;
    struct vx_lang_dedup dd;
    size_t n_archives;
};

/* What one archive (outer or nested) yielded. */
struct found {
    size_t n_poms;
    char *manifest; /* MANIFEST.MF text, or NULL */
};

/* The value of "key=value" (or "key: value" for manifests) in a properties text; NULL if
 * absent. Caller frees. */
static char *prop(const char *text, const char *key, char sep)
{
    size_t klen = strlen(key);

    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        const char *le = eol ? eol : p + strlen(p);

        while (p < le && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(le - p) > klen && strncmp(p, key, klen) == 0) {
            const char *v = p + klen;

            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            if (v < le && *v == sep) {
                v++;
                while (v < le && (*v == ' ' || *v == '\t'))
                    v++;
                while (le > v && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
                    le--;
                if (le > v)
                    return vx_xstrndup(v, (size_t)(le - v));
                return NULL;
            }
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* Reads the current entry's data (at most max bytes; larger -> false). */
static bool entry_bytes(struct archive *a, int64_t size, size_t max, struct vx_buf *b)
{
    char chunk[16384];
    la_ssize_t n;

    if (size > (int64_t)max)
        return false;
    while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
        if (b->len + (size_t)n > max || vx_buf_add(b, chunk, (size_t)n) < 0)
            return false;
    return n == 0;
}

/* "META-INF/maven/<g>/<a>/pom.properties" */
static bool is_pom_properties(const char *name)
{
    int slashes = 0;

    if (strncmp(name, "META-INF/maven/", 15) != 0 || !vx_lang_ends_with(name, "/pom.properties"))
        return false;
    for (const char *p = name + 15; *p; p++)
        slashes += *p == '/';
    return slashes == 2;
}

static int add_maven(struct javascan *js, const char *owner, const char *location,
                     const char *group, const char *artifact, const char *version,
                     struct vx_err **err)
{
    struct vx_inventory *inv = js->sc->inv;
    bool added;
    size_t i = vx_lang_dedup_get(&js->dd, inv, VX_PKG_MAVEN, artifact, version, group, &added);

    if (added)
        inv->pkgs[i].location = vx_xstrdup(location);
    if (added || !vx_lang_pkg_has_file(&inv->pkgs[i], owner))
        return vx_pkg_add_file(inv, &inv->pkgs[i], owner, err);
    return 0;
}

static int pom(struct javascan *js, const char *owner, const char *location, const char *text,
               struct found *f, struct vx_err **err)
{
    char *g = prop(text, "groupId", '='), *a = prop(text, "artifactId", '='),
         *v = prop(text, "version", '=');
    int rc = 0;

    if (a && v) {
        rc = add_maven(js, owner, location, g, a, v, err);
        f->n_poms++;
    } else {
        vx_inventory_warn(js->sc->inv,
                          "%s: pom.properties without artifactId or version "
                          "(skipped)",
                          location);
    }
    free(g);
    free(a);
    free(v);
    return rc;
}

/* "commons-io-2.11.0.jar" -> "commons-io", "2.11.0" (the last '-' before a digit). */
static void name_from_file(const char *file, char **name, char **version)
{
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    size_t len = strlen(base);
    const char *dash = NULL;

    if (len > 4 && base[len - 4] == '.')
        len -= 4;
    for (const char *p = base; p < base + len; p++)
        if (*p == '-' && p + 1 < base + len && p[1] >= '0' && p[1] <= '9')
            dash = p;
    *name = dash ? vx_xstrndup(base, (size_t)(dash - base)) : vx_xstrndup(base, len);
    *version = dash ? vx_xstrndup(dash + 1, (size_t)(base + len - dash - 1)) : NULL;
}

/* A manifest value usable as an artifact name: one token, no spaces ("guava", not "ASM, a
 * very small and fast Java bytecode manipulation framework"). */
static bool name_like(const char *s)
{
    return s && *s && strlen(s) <= 128 && !strpbrk(s, " \t,;:/");
}

/* An archive without pom.properties: name and version guessed, in this order: the file
 * name when it carries a version ("asm-9.7.1.jar", usually artifactId-version), the
 * manifest's Implementation-Title/-Version when the title looks like a name, then
 * Bundle-SymbolicName/Bundle-Version (OSGi). */
static int guess(struct javascan *js, const char *owner, const char *location,
                 const char *archive_name, const struct found *f, struct vx_err **err)
{
    char *name = NULL, *version = NULL, *t = NULL, *v = NULL;
    const char *how = "file name";
    int rc = 0;

    name_from_file(archive_name, &name, &version);
    if (f->manifest && (!version || !*version)) {
        t = prop(f->manifest, "Implementation-Title", ':');
        v = prop(f->manifest, "Implementation-Version", ':');
        if (!name_like(t) || !v) {
            free(t);
            free(v);
            t = prop(f->manifest, "Bundle-SymbolicName", ':');
            v = prop(f->manifest, "Bundle-Version", ':');
            if (t && strchr(t, ';'))
                *strchr(t, ';') = '\0';
        }
        if (name_like(t) && v && *v) {
            free(name);
            free(version);
            name = t;
            version = v;
            t = v = NULL;
            how = "MANIFEST.MF";
        }
    }
    if (!name || !*name || !version || !*version) {
        vx_inventory_warn(js->sc->inv,
                          "%s: no pom.properties and no version in its manifest "
                          "or name (skipped)",
                          location);
        goto out;
    }
    vx_inventory_warn(js->sc->inv,
                      "%s: no pom.properties; maven identity '%s' '%s' guessed "
                      "from its %s",
                      location, name, version, how);
    rc = add_maven(js, owner, location, NULL, name, version, err);
out:
    free(name);
    free(version);
    free(t);
    free(v);
    return rc;
}

/* Reads an open archive. nested == false for an archive found in the rootfs: then jar
 * entries in it are opened too (from memory, one level). */
static int read_archive(struct javascan *js, struct archive *a, const char *owner,
                        const char *location, bool nested, struct found *f, struct vx_err **err)
{
    struct archive_entry *ent;
    size_t n = 0, nested_total = 0;
    int r, rc = 0;

    while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK || (r == ARCHIVE_WARN && ent)) {
        const char *name = archive_entry_pathname(ent);
        int64_t size = archive_entry_size_is_set(ent) ? archive_entry_size(ent) : -1;
        struct vx_buf b = VX_BUF_INIT(MAX_NESTED_BYTES);

        if (++n > MAX_ENTRIES) {
            vx_inventory_warn(js->sc->inv, "%s: more than %d entries; the rest not read", location,
                              MAX_ENTRIES);
            break;
        }
        if (!name || archive_entry_filetype(ent) != AE_IFREG)
            continue;
        if (is_pom_properties(name)) {
            if (entry_bytes(a, size, MAX_PROPS_BYTES, &b))
                rc = pom(js, owner, location, vx_buf_str(&b), f, err);
        } else if (strcmp(name, "META-INF/MANIFEST.MF") == 0 && !f->manifest) {
            if (entry_bytes(a, size, MAX_PROPS_BYTES, &b))
                f->manifest = vx_xstrdup(vx_buf_str(&b));
        } else if (!nested && vx_lang_ends_with(name, ".jar")) {
            char *loc = vx_xasprintf("%s!/%s", location, name);

            if (nested_total < MAX_NESTED_TOTAL && entry_bytes(a, size, MAX_NESTED_BYTES, &b)) {
                struct archive *in = archive_read_new();
                struct found nf = {0};

                nested_total += b.len;
                archive_read_support_format_zip(in);
                if (archive_read_open_memory(in, b.data ? b.data : "", b.len) == ARCHIVE_OK) {
                    rc = read_archive(js, in, owner, loc, true, &nf, err);
                    if (rc == 0 && nf.n_poms == 0)
                        rc = guess(js, owner, loc, name, &nf, err);
                } else {
                    vx_inventory_warn(js->sc->inv, "%s: not a readable zip (%s)", loc,
                                      archive_error_string(in) ? archive_error_string(in) : "?");
                }
                free(nf.manifest);
                archive_read_free(in);
            } else {
                vx_inventory_warn(js->sc->inv, "%s: nested jar too large or unreadable (skipped)",
                                  loc);
            }
            free(loc);
        }
        vx_buf_release(&b);
        if (rc < 0)
            return rc;
    }
    if (r != ARCHIVE_EOF && r != ARCHIVE_OK && n <= MAX_ENTRIES)
        vx_inventory_warn(js->sc->inv, "%s: archive read stopped: %s", location,
                          archive_error_string(a) ? archive_error_string(a) : "error");
    return rc;
}

static int visit(struct vx_lang_walk *w, int dirfd, const char *name, const char *rel,
                 unsigned char type, struct vx_err **err)
{
    struct javascan *js = w->ctx;
    struct archive *a = NULL;
    struct found f = {0};
    struct stat st;
    char *owner = NULL;
    int fd = -1, rc = 0;

    if (type == DT_DIR)
        return (strcmp(rel, "proc") == 0 || strcmp(name, "node_modules") == 0 ||
                strcmp(name, "__pycache__") == 0)
                   ? 1
                   : 0;
    if (type != DT_REG || !(vx_lang_ends_with(name, ".jar") || vx_lang_ends_with(name, ".war") ||
                            vx_lang_ends_with(name, ".ear")))
        return 0;
    if (++js->n_archives > MAX_ARCHIVES) {
        if (js->n_archives == MAX_ARCHIVES + 1)
            vx_inventory_warn(js->sc->inv, "java: more than %d archives; the rest not read",
                              MAX_ARCHIVES);
        return 0;
    }
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        goto out;
    if ((uint64_t)st.st_size > MAX_ARCHIVE_BYTES) {
        vx_inventory_warn(js->sc->inv, "%s: archive larger than %llu bytes (not read)", rel,
                          (unsigned long long)MAX_ARCHIVE_BYTES);
        goto out;
    }
    owner = vx_xasprintf("/%s", rel);
    a = archive_read_new();
    archive_read_support_format_zip(a);
    if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
        vx_inventory_warn(js->sc->inv, "%s: not a readable zip (%s)", rel,
                          archive_error_string(a) ? archive_error_string(a) : "?");
        goto out;
    }
    rc = read_archive(js, a, owner, rel, false, &f, err);
    if (rc == 0 && f.n_poms == 0)
        rc = guess(js, owner, rel, name, &f, err);
out:
    if (a)
        archive_read_free(a);
    if (fd >= 0)
        close(fd);
    free(owner);
    free(f.manifest);
    return rc;
}

int vx_inv_scan_java(const struct vx_inv_scan *sc, struct vx_err **err)
{
    struct javascan js = {.sc = sc};
    struct vx_lang_walk w = {.sc = sc,
                             .max_depth = MAX_WALK_DEPTH,
                             .max_entries = MAX_WALK_ENTRIES,
                             .visit = visit,
                             .ctx = &js};
    int rc;

    if (sc->opts->skip_binaries)
        return 0;
    rc = vx_lang_walk_run(&w, "", err);
    if (w.truncated)
        vx_inventory_warn(sc->inv,
                          "java: the search for archives stopped after %" PRId64 " entries",
                          w.n_entries);
    vx_lang_dedup_release(&js.dd);
    return rc;
}
