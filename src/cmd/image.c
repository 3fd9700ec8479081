/* image.c -- `vexxy image pull|inspect|unpack IMAGE`: the image phase on its own.
 *
 * pull     fetch and verify into the blob cache; print digests, platform and layers
 * inspect  the same, printing the image config (Entrypoint, Cmd, Env, ports, ...)
 * unpack   pull, then apply the layers safely into --dest
 * Exit status: 0 done, 2 error (bad usage, pull, verification or unpack failure).
 */
#include "common/setup.h"

#include <getopt.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/util.h"
#include "image/image.h"

static const char usage[] =
    "usage: vexxy image pull|inspect|unpack IMAGE [--dest DIR] [--json] [--platform OS/ARCH]\n"
    "       [--insecure-registry] [--digest sha256:HEX] [--cache-dir DIR] [--docker-config FILE]\n"
    "IMAGE is docker://REF, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE or a bare "
    "reference.\n"
    "--digest requires the index or platform manifest digest to match (docker-archive: the\n"
    "config digest). unpack needs --dest, which must be absent or empty.";

static void print_human(const char *verb, const struct vx_image *img,
                        const struct vx_unpack_report *rep, const char *dest)
{
    const struct vx_image_config *c = &img->config;

    printf("image      %s\n", img->source);
    if (img->index_digest)
        printf("index      %s\n", img->index_digest);
    printf("manifest   %s\n", img->manifest_digest ? img->manifest_digest : "-");
    printf("config     %s\n", img->config_digest ? img->config_digest : "-");
    printf("platform   %s\n", img->platform ? img->platform : "-");
    for (size_t i = 0; i < img->n_layers; i++)
        printf("layer %-4zu %s %12" PRId64 " bytes\n", i, img->layers[i].digest,
               img->layers[i].size);
    if (!strcmp(verb, "inspect")) {
        printf("entrypoint");
        for (size_t i = 0; i < c->n_entrypoint; i++)
            printf(" '%s'", c->entrypoint[i]);
        printf("\ncmd       ");
        for (size_t i = 0; i < c->n_cmd; i++)
            printf(" '%s'", c->cmd[i]);
        printf("\nworkdir    %s\nuser       %s\n", c->working_dir ? c->working_dir : "-",
               c->user && *c->user ? c->user : "-");
        for (size_t i = 0; i < c->n_env; i++)
            printf("env        %s\n", c->env[i]);
        for (size_t i = 0; i < c->n_exposed_ports; i++)
            printf("port       %d/tcp\n", c->exposed_ports[i]);
        for (size_t i = 0; i < c->n_labels; i++)
            printf("label      %s\n", c->labels[i]);
    }
    if (rep) {
        printf("unpacked   %" PRId64 " entries, %" PRId64 " bytes into %s\n", rep->entries,
               rep->bytes, dest);
        for (size_t i = 0; i < rep->n_skipped; i++)
            printf("skipped    %s\n", rep->skipped[i]);
    }
}

int vx_cmd_image(int argc, char **argv)
{
    static const struct option lo[] = {
        {"dest", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"platform", required_argument, NULL, 'p'},
        {"insecure-registry", no_argument, NULL, 'i'},
        {"digest", required_argument, NULL, 'D'},
        {"cache-dir", required_argument, NULL, 'c'},
        {"docker-config", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct vx_image_source src = {0};
    struct vx_image_opts opts = {0};
    struct vx_unpack_opts uopts = {0};
    struct vx_unpack_report rep = {0};
    struct vx_image *img = NULL;
    struct vx_err *err = NULL;
    const char *verb, *dest = NULL, *digest = NULL, *cache = NULL;
    char *data_dir = NULL, *cache_own = NULL, *doc = NULL;
    bool json = false, unpacked = false;
    int rc = VX_EXIT_ERROR, c;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("%s\n", usage);
        return argc < 2 ? VX_EXIT_ERROR : VX_EXIT_OK;
    }
    verb = argv[1];
    if (strcmp(verb, "pull") && strcmp(verb, "inspect") && strcmp(verb, "unpack")) {
        fprintf(stderr, "vexxy image: unknown subcommand '%s'\n%s\n", verb, usage);
        return VX_EXIT_ERROR;
    }
    optind = 1;
    opterr = 0;
    /* argv[1] is the verb: parse options in argv[1..] so getopt sees it as argv[0] */
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("%s\n", usage);
            return VX_EXIT_OK;
        case 'd':
            dest = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'p':
            if (!strchr(optarg, '/')) {
                fprintf(stderr, "vexxy image: --platform must be OS/ARCH[/VARIANT], not '%s'\n",
                        optarg);
                return VX_EXIT_ERROR;
            }
            opts.platform = optarg;
            break;
        case 'i':
            opts.insecure_registry = true;
            break;
        case 'D':
            if (!vx_digest_valid(optarg)) {
                fprintf(stderr,
                        "vexxy image: --digest must be sha256: followed by 64 lowercase "
                        "hex digits, not '%s'\n",
                        optarg);
                return VX_EXIT_ERROR;
            }
            digest = optarg;
            break;
        case 'c':
            cache = optarg;
            break;
        case 'C':
            opts.docker_config = optarg;
            break;
        default:
            fprintf(stderr, "vexxy image: unknown or incomplete option '%s'\n%s\n",
                    argv[optind - 1], usage);
            return VX_EXIT_ERROR;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "vexxy image %s: exactly one IMAGE is required\n%s\n", verb, usage);
        return VX_EXIT_ERROR;
    }
    if (!strcmp(verb, "unpack") && !dest) {
        fprintf(stderr, "vexxy image unpack: --dest DIR is required\n");
        return VX_EXIT_ERROR;
    }
    if (vx_image_source_parse(argv[optind], &src, &err) < 0)
        goto fail;
    if (!cache) {
        data_dir = vx_cmd_default_data_dir();
        cache = cache_own = vx_xasprintf("%s/cache", data_dir);
    }
    if (vx_fs_mkdirs(cache, 0700, &err) < 0)
        goto fail;
    opts.cache_dir = cache;
    if (vx_image_pull(&src, digest, &opts, &img, &err) < 0)
        goto fail;
    if (dest) {
        uopts.keep_ownership = geteuid() == 0;
        if (vx_image_unpack(img, dest, &uopts, &rep, &err) < 0)
            goto fail;
        unpacked = true;
    }
    if (json) {
        doc = vx_image_json(img, unpacked ? &rep : NULL);
        printf("%s\n", doc);
    } else {
        print_human(verb, img, unpacked ? &rep : NULL, dest);
    }
    rc = VX_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "vexxy image %s: %s\n", verb, err->msg);
    vx_err_free(&err);
out:
    vx_unpack_report_release(&rep);
    vx_image_free(img);
    vx_image_source_release(&src);
    free(data_dir);
    free(cache_own);
    free(doc);
    return rc;
}
