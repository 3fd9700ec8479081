/* pull_driver.c -- a test driver for vx_image_pull (used by tests/integration/test_pull.py
 * until `vexxy image pull` exists): pulls SOURCE and prints vx_image_json() on stdout, or
 * "error: <code string>: <message>" on stderr with exit status 1 (2 for usage).
 *
 *   pull_driver SOURCE --cache-dir DIR [--digest sha256:...] [--platform OS/ARCH[/V]]
 *               [--insecure-registry] [--docker-config FILE] [--parallel N] [--timeout-ms N]
 */
#include "common/setup.h"

#include <getopt.h>

#include "image/image.h"
#include "common/err.h"

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"cache-dir", required_argument, NULL, 'c'},
        {"digest", required_argument, NULL, 'd'},
        {"platform", required_argument, NULL, 'p'},
        {"insecure-registry", no_argument, NULL, 'k'},
        {"docker-config", required_argument, NULL, 'a'},
        {"parallel", required_argument, NULL, 'j'},
        {"timeout-ms", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    struct vx_image_opts opts = {0};
    struct vx_image_source src;
    struct vx_image *img = NULL;
    struct vx_err *err = NULL;
    const char *digest = NULL;
    char *json;
    int c;

    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts.cache_dir = optarg;
            break;
        case 'd':
            digest = optarg;
            break;
        case 'p':
            opts.platform = optarg;
            break;
        case 'k':
            opts.insecure_registry = true;
            break;
        case 'a':
            opts.docker_config = optarg;
            break;
        case 'j':
            opts.parallel = atoi(optarg);
            break;
        case 't':
            opts.timeout_ms = atoll(optarg);
            break;
        default:
            return 2;
        }
    }
    if (optind != argc - 1 || !opts.cache_dir) {
        fprintf(stderr, "usage: pull_driver SOURCE --cache-dir DIR [options]\n");
        return 2;
    }
    if (vx_image_source_parse(argv[optind], &src, &err) < 0 ||
        vx_image_pull(&src, digest, &opts, &img, &err) < 0) {
        fprintf(stderr, "error: %s: %s\n", vx_code_str(err->code), err->msg);
        vx_err_free(&err);
        vx_image_source_release(&src);
        return 1;
    }
    json = vx_image_json(img, NULL);
    printf("%s\n", json);
    free(json);
    vx_image_free(img);
    vx_image_source_release(&src);
    return 0;
}
