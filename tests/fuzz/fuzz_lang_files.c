/* fuzz_lang_files.c -- libFuzzer target for the inventory scanners that read whole files of
 * an image: Java archives (java.c: zip via libarchive, pom.properties, MANIFEST.MF, nested
 * jars) and npm packages (npm.c: package.json, scoped names, nested node_modules).
 *
 * The first byte picks where the rest of the input is written in a fresh rootfs: as
 * app/lib/x.jar (Java) or usr/lib/node_modules/@s/p/package.json and a nested
 * node_modules/q/package.json (npm, the input split at its middle). The scanner then runs
 * over that rootfs. Checks: no crash or sanitizer report, and every file a package owns is
 * an absolute path inside the rootfs (no "..").
 */
#include "common/setup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fs.h"
#include "inventory/inv_int.h"
#include "inventory/inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put(const char *root, const char *rel, const uint8_t *data, size_t len)
{
    char path[4096], *slash;
    struct vx_err *err = NULL;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    slash = strrchr(path, '/');
    *slash = '\0';
    if (vx_fs_mkdirs(path, 0755, &err) < 0)
        __builtin_trap();
    *slash = '/';
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
        __builtin_trap();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char root[] = "/tmp/vx-fuzz-lang-XXXXXX";
    struct vx_inventory_opts opts = {.max_db_bytes = 1 << 20, .max_files = 100000};
    struct vx_inv_scan sc = {0};
    struct vx_err *err = NULL;
    bool java;

    if (size < 1 || !mkdtemp(root))
        return 0;
    java = data[0] & 1;
    data++;
    size--;
    if (java) {
        put(root, "app/lib/x.jar", data, size);
    } else {
        put(root, "usr/lib/node_modules/@s/p/package.json", data, size / 2);
        put(root, "usr/lib/node_modules/@s/p/node_modules/q/package.json", data + size / 2,
            size - size / 2);
        put(root, "usr/lib/node_modules/@s/p/index.js", (const uint8_t *)"x", 1);
    }
    sc.rootfs = root;
    sc.rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    sc.opts = &opts;
    sc.inv = vx_inventory_new();
    vx_inventory_limit(sc.inv, opts.max_files);
    if (sc.rootfd < 0)
        __builtin_trap();
    if ((java ? vx_inv_scan_java(&sc, &err) : vx_inv_scan_npm(&sc, &err)) < 0)
        vx_err_free(&err); /* an error is fine; a crash is not */
    for (size_t i = 0; i < sc.inv->n_pkgs; i++)
        for (size_t f = 0; f < sc.inv->pkgs[i].n_files; f++) {
            const char *p = sc.inv->pkgs[i].files[f];

            if (p[0] != '/' || strstr(p, "/../"))
                __builtin_trap();
        }
    vx_inventory_free(sc.inv);
    close(sc.rootfd);
    if (vx_fs_remove_tree(root, &err) < 0)
        __builtin_trap();
    return 0;
}
