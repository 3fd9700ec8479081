/* inventory.c -- `vexxy inventory IMAGE|ROOTFS`: the inventory phase on its own.
 *
 * A directory argument is a root filesystem and is scanned in place; anything else is an
 * image source (docker://, oci:, oci-archive:, docker-archive:, bare reference) that is
 * pulled into the blob cache, unpacked into a private temporary directory, scanned, and the
 * directory removed again whatever happens. Prints the packages (a table, or with --json the
 * document of DESIGN.md §2), optionally writes a CycloneDX 1.6 SBOM (--sbom FILE).
 * Exit status: 0 done, 2 error (usage, pull/unpack failure, a database that cannot be read).
 */
#include "common/setup.h"

#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/util.h"
#include "image/image.h"
#include "inventory/inventory.h"

static const char usage[] =
    "usage: vexxy inventory IMAGE|ROOTFS [--json] [--no-files] [--sbom FILE]\n"
    "       [--skip-binaries] [--platform OS/ARCH] [--insecure-registry] [--cache-dir DIR]\n"
    "ROOTFS is a directory (an unpacked root filesystem); anything else is an IMAGE\n"
    "(docker://REF, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or a bare reference),\n"
    "pulled and unpacked into a temporary directory that is removed afterwards.\n"
    "  --json              the canonical JSON document instead of a table\n"
    "  --no-files          leave the per-package file lists out of --json\n"
    "  --sbom FILE         also write a CycloneDX 1.6 SBOM of the packages to FILE\n"
    "  --skip-binaries     do not open ELF binaries or Java archives (Go, Java packages)\n"
    "  --platform OS/ARCH  the platform to pick from a multi-platform image\n"
    "  --insecure-registry plain http to the registry\n"
    "  --cache-dir DIR     the blob cache (default <data dir>/blobs)";

/* Names, versions and warnings come from the image: control bytes (an ESC sequence in a
 * package name) must not reach the terminal. A copy with them as '?' (caller frees). */
static char *tty_safe(const char *s)
{
    char *c = vx_xstrdup(s ? s : "");

    for (unsigned char *p = (unsigned char *)c; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    return c;
}

static void print_human(const struct vx_inventory *inv, const char *what)
{
    size_t by_type[VX_PKG_TYPE_COUNT] = {0}, n_unmapped, n_present = 0;
    size_t *unm = vx_inventory_unmapped(inv, &n_unmapped);

    for (size_t i = 0; i < inv->n_pkgs; i++)
        by_type[inv->pkgs[i].type]++;
    for (size_t i = 0; i < inv->n_owners; i++)
        if (inv->owners[i].present && !inv->owners[i].is_dir)
            n_present++;
    printf("inventory of %s", what);
    if (inv->distro_id)
        printf(" (%s %s)", inv->distro_id, inv->distro_version ? inv->distro_version : "");
    printf("\npackages   %zu:", inv->n_pkgs);
    for (int t = 0; t < VX_PKG_TYPE_COUNT; t++)
        if (by_type[t])
            printf(" %s %zu", vx_pkg_type_name((enum vx_pkg_type)t), by_type[t]);
    printf("\nfiles      %" PRId64 " listed, %zu index entries, %zu present files\n",
           inv->n_files_listed, inv->n_owners, n_present);
    printf("unmapped   %zu\nwarnings   %zu%s\n\n", n_unmapped,
           inv->n_warnings + (size_t)inv->warnings_dropped,
           inv->warnings_dropped ? " (some not kept)" : "");
    printf("%-6s %-40s %-32s %-8s %7s %7s\n", "TYPE", "NAME", "VERSION", "ARCH", "FILES", "MAPPED");
    for (size_t i = 0; i < inv->n_pkgs; i++) {
        const struct vx_pkg *p = &inv->pkgs[i];
        char *n = tty_safe(p->name), *v = tty_safe(p->version);
        char *a = tty_safe(p->arch ? p->arch : "-");
        printf("%-6s %-40s %-32s %-8s %7zu %7zu\n", vx_pkg_type_name(p->type), n, v, a, p->n_files,
               p->n_mapped);
        free(n);
        free(v);
        free(a);
    }
    if (n_unmapped) {
        printf("\nunmapped (no file of theirs found in the image):\n");
        for (size_t i = 0; i < n_unmapped; i++) {
            char *u =
                tty_safe(inv->pkgs[unm[i]].purl ? inv->pkgs[unm[i]].purl : inv->pkgs[unm[i]].name);
            printf("  %s\n", u);
            free(u);
        }
    }
    for (size_t i = 0; i < inv->n_warnings; i++) {
        char *w = tty_safe(inv->warnings[i]);
        printf("%swarning: %s\n", i ? "" : "\n", w);
        free(w);
    }
    free(unm);
}

/* The SBOM's metadata component: vx_image_purl of the image source, or of the rootfs
 * directory's name for a plain rootfs. */
static char *image_purl(const struct vx_image *img, const char *target)
{
    const char *digest =
        img ? (img->index_digest ? img->index_digest : img->manifest_digest) : NULL;
    char *base = vx_xstrdup(target), *out;
    size_t n = strlen(base);

    while (n > 1 && base[n - 1] == '/')
        base[--n] = '\0';
    out = vx_image_purl(base, digest);
    free(base);
    return out;
}

static int write_file(const char *path, const char *data, struct vx_err **err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(data), off = 0;

    if (fd < 0)
        return vx_err_set(err, VX_E_IO, errno, "cannot create '%s': %s", path, strerror(errno));
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            return vx_err_set(err, VX_E_IO, e, "cannot write '%s': %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (close(fd) < 0)
        return vx_err_set(err, VX_E_IO, errno, "cannot write '%s': %s", path, strerror(errno));
    return 0;
}

int vx_cmd_inventory(int argc, char **argv)
{
    static const struct option lo[] = {
        {"json", no_argument, NULL, 'j'},
        {"no-files", no_argument, NULL, 'n'},
        {"sbom", required_argument, NULL, 's'},
        {"skip-binaries", no_argument, NULL, 'b'},
        {"platform", required_argument, NULL, 'p'},
        {"insecure-registry", no_argument, NULL, 'i'},
        {"cache-dir", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct vx_image_source src = {0};
    struct vx_image_opts iopts = {0};
    struct vx_unpack_opts uopts = {0};
    struct vx_unpack_report rep = {0};
    struct vx_inventory_opts opts = {0};
    struct vx_inventory *inv = NULL;
    struct vx_image *img = NULL;
    struct vx_err *err = NULL;
    const char *target, *sbom = NULL, *cache = NULL, *rootfs;
    char *data_dir = NULL, *cache_own = NULL, *tmp = NULL, *doc = NULL, *ipurl = NULL;
    bool json = false, files = true;
    struct stat st;
    int rc = VX_EXIT_ERROR, c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("%s\n", usage);
            return VX_EXIT_OK;
        case 'j':
            json = true;
            break;
        case 'n':
            files = false;
            break;
        case 's':
            sbom = optarg;
            break;
        case 'b':
            opts.skip_binaries = true;
            break;
        case 'p':
            if (!strchr(optarg, '/')) {
                fprintf(stderr,
                        "vexxy inventory: --platform must be OS/ARCH[/VARIANT], not "
                        "'%s'\n",
                        optarg);
                return VX_EXIT_ERROR;
            }
            iopts.platform = optarg;
            break;
        case 'i':
            iopts.insecure_registry = true;
            break;
        case 'c':
            cache = optarg;
            break;
        default:
            fprintf(stderr, "vexxy inventory: unknown or incomplete option '%s'\n%s\n",
                    argv[optind - 1], usage);
            return VX_EXIT_ERROR;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "vexxy inventory: exactly one IMAGE or ROOTFS is required\n%s\n", usage);
        return VX_EXIT_ERROR;
    }
    target = argv[optind];
    rootfs = target;
    if (stat(target, &st) < 0 || !S_ISDIR(st.st_mode)) {
        /* not a directory: an image to pull and unpack */
        const char *td = getenv("TMPDIR");
        if (vx_image_source_parse(target, &src, &err) < 0)
            goto fail;
        if (!cache) {
            data_dir = vx_cmd_default_data_dir();
            cache = cache_own = vx_xasprintf("%s/cache", data_dir);
        }
        if (vx_fs_mkdirs(cache, 0700, &err) < 0)
            goto fail;
        iopts.cache_dir = cache;
        if (vx_image_pull(&src, NULL, &iopts, &img, &err) < 0)
            goto fail;
        tmp = vx_xasprintf("%s/vexxy-inventory-XXXXXX", td && *td ? td : "/tmp");
        if (!mkdtemp(tmp)) {
            vx_err_set(&err, VX_E_IO, errno, "cannot create a temporary directory '%s': %s", tmp,
                       strerror(errno));
            free(tmp);
            tmp = NULL;
            goto fail;
        }
        /* vx_image_unpack wants an absent or empty dest: unpack into a child of ours */
        rootfs = doc = vx_xasprintf("%s/rootfs", tmp);
        uopts.keep_ownership = false;
        if (vx_image_unpack(img, rootfs, &uopts, &rep, &err) < 0)
            goto fail;
    }
    if (vx_inventory_scan(rootfs, &opts, &inv, &err) < 0)
        goto fail;
    if (sbom) {
        char *bom;
        ipurl = image_purl(img, target);
        bom = vx_inventory_cyclonedx(inv, ipurl, NULL, vx_now_ms());
        int w = write_file(sbom, bom, &err);
        free(bom);
        if (w < 0)
            goto fail;
    }
    if (json) {
        char *j = vx_inventory_json(inv, files);
        printf("%s\n", j);
        free(j);
    } else {
        print_human(inv, target);
    }
    rc = VX_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "vexxy inventory: %s\n", err ? err->msg : "failed");
    vx_err_free(&err);
out:
    if (tmp) {
        struct vx_err *e = NULL;
        if (vx_fs_remove_tree(tmp, &e) < 0) {
            fprintf(stderr, "vexxy inventory: cannot remove '%s': %s\n", tmp, e->msg);
            vx_err_free(&e);
        }
    }
    vx_inventory_free(inv);
    vx_unpack_report_release(&rep);
    vx_image_free(img);
    vx_image_source_release(&src);
    free(data_dir);
    free(cache_own);
    free(tmp);
    free(doc);
    free(ipurl);
    return rc;
}
