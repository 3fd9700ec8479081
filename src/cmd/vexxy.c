/* vexxy.c -- main: dispatches "vexxy <subcommand> ..." (git/docker style). */
#include "common/setup.h"

#include "cmd/cmd.h"

struct subcmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct subcmd subcmds[] = {
    {"analyze", vx_cmd_analyze, "analyse an image locally, no server (whole pipeline)"},
    {"serve", vx_cmd_serve, "run the REST API (with in-process workers on SQLite)"},
    {"worker", vx_cmd_worker, "run worker processes against a shared PostgreSQL"},
    {"image", vx_cmd_image, "pull, inspect or unpack an image (the image phase alone)"},
    {"inventory", vx_cmd_inventory, "list an image's packages and the files each owns"},
    {"findings", vx_cmd_findings, "read a scanner's report, optionally bound to a rootfs"},
    {"sandbox", vx_cmd_sandbox, "run an image or rootfs locked down under runc (debugging)"},
    {"trace", vx_cmd_trace, "run a command traced and print its execution profile"},
    {"submit", vx_cmd_submit, "submit an analysis to a server"},
    {"status", vx_cmd_status, "show a job's status"},
    {"results", vx_cmd_results, "show a job's results"},
    {"cancel", vx_cmd_cancel, "cancel a job"},
    {"list", vx_cmd_list, "list your jobs"},
    {"vex", vx_cmd_vex, "download a VEX document"},
    {"admin", vx_cmd_admin, "manage organizations, API keys and quotas"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: vexxy <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < VX_ARRAY_SIZE(subcmds); i++)
        fprintf(f, "  %-9s %s\n", subcmds[i].name, subcmds[i].summary);
    fprintf(f, "\nRun 'vexxy <command> --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return VX_EXIT_ERROR;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return VX_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("vexxy %s\n", VX_VERSION);
        return VX_EXIT_OK;
    }
    for (size_t i = 0; i < VX_ARRAY_SIZE(subcmds); i++) {
        if (strcmp(argv[1], subcmds[i].name) == 0)
            return subcmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "vexxy: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return VX_EXIT_ERROR;
}
