/* unpack_driver.c -- `unpack_driver [--keep-ownership] [--max-* N] DEST LAYER...`: vx_image_unpack() of
 * the given layer blobs into DEST, for the integration test that compares the result with
 * GNU tar (tests/integration/test_unpack_vs_tar.py) and for timing. Prints the report as
 * "entries=N bytes=N skipped_devices=N whiteouts=N" and one "skipped: ..." line per record;
 * on failure prints the error and exits 1 (DEST is removed by vx_image_unpack).
 */
#include "common/setup.h"

#include "image/image.h"

#include "common/alloc.h"
#include "common/err.h"

int main(int argc, char **argv)
{
    struct vx_unpack_opts opts = {0};
    struct vx_unpack_report rep = {0};
    struct vx_image img = {0};
    struct vx_err *err = NULL;
    int i = 1, rc;

    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        int64_t *cap = !strcmp(argv[i], "--max-entries")       ? &opts.limits.max_entries
                       : !strcmp(argv[i], "--max-file-bytes")  ? &opts.limits.max_file_bytes
                       : !strcmp(argv[i], "--max-total-bytes") ? &opts.limits.max_total_bytes
                                                               : NULL;
        if (!strcmp(argv[i], "--keep-ownership")) {
            opts.keep_ownership = true;
        } else if (cap && i + 1 < argc) {
            *cap = strtoll(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "unpack_driver: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (argc - i < 1) {
        fprintf(stderr, "usage: unpack_driver [--keep-ownership] [--max-entries N] "
                        "[--max-file-bytes N] [--max-total-bytes N] DEST LAYER...\n");
        return 2;
    }
    img.n_layers = (size_t)(argc - i - 1);
    img.layers = vx_xcalloc(img.n_layers ? img.n_layers : 1, sizeof(*img.layers));
    for (size_t l = 0; l < img.n_layers; l++)
        img.layers[l].blob_path = argv[i + 1 + (int)l];
    rc = vx_image_unpack(&img, argv[i], &opts, &rep, &err);
    if (rc < 0) {
        fprintf(stderr, "unpack_driver: %s (%s)\n", err->msg, vx_code_str(err->code));
        vx_err_free(&err);
    } else {
        printf("entries=%" PRId64 " bytes=%" PRId64 " skipped_devices=%" PRId64
               " whiteouts=%" PRId64 "\n",
               rep.entries, rep.bytes, rep.skipped_devices, rep.whiteouts);
        for (size_t s = 0; s < rep.n_skipped; s++)
            printf("skipped: %s\n", rep.skipped[s]);
    }
    vx_unpack_report_release(&rep);
    free(img.layers);
    return rc < 0 ? 1 : 0;
}
