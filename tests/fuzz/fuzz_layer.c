/* fuzz_layer.c -- libFuzzer target for vx_layer_apply_mem(), the tar/whiteout applier.
 *
 * Each input is applied as a layer into a fresh directory "root" inside a fresh private
 * "box" directory, with small caps. Besides "never crash, never leak", it checks the error
 * contract (0, or a negative code with *err set and a message) and that nothing was
 * created beside "root" in the box (an escape would most likely land there: "../x"). The
 * box is removed afterwards with the symlink-safe vx_fs_remove_tree().
 */
#include "common/setup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h" /* vx_fs_remove_tree() */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_box(const char *box)
{
    DIR *d = opendir(box);
    struct dirent *de;

    if (!d)
        abort();
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "root"))
            abort(); /* something was written outside the root */
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vx_unpack_opts o = {.limits = {.max_total_bytes = 1 << 20,
                                          .max_file_bytes = 256 << 10,
                                          .max_entries = 256,
                                          .max_path_len = 512}};
    struct vx_unpack_report rep = {0};
    struct vx_err *err = NULL;
    const char *tmp = getenv("TMPDIR");
    char *box = vx_xasprintf("%s/vx-fuzz-layer-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *root = NULL;
    int fd, rc;

    if (!mkdtemp(box))
        abort();
    root = vx_xasprintf("%s/root", box);
    if (mkdir(root, 0755) < 0)
        abort();
    fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        abort();
    rc = vx_layer_apply_mem(fd, data, size, 0, &o, &rep, &err);
    if (rc > 0 || (rc < 0 && (!err || !err->msg || err->code != (enum vx_code) - rc)))
        abort();
    if (rc == 0 && err)
        abort();
    close(fd);
    check_box(box);
    vx_err_free(&err);
    vx_unpack_report_release(&rep);
    if (vx_fs_remove_tree(box, NULL) < 0)
        abort();
    free(root);
    free(box);
    return 0;
}
