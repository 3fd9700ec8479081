/* opts.h -- table-driven options for the long-running subcommands (serve, worker).
 *
 * Precedence: flags > environment (VEXXY_<NAME>, upper-case, '-' -> '_') > config file
 * (a JSON object whose keys are the long option names, given with --config or
 * VEXXY_CONFIG) > the default in the table.
 */
#ifndef VX_CMD_OPTS_H
#define VX_CMD_OPTS_H

#include <stdbool.h>
#include <stdint.h>

enum vx_opt_type { VX_OPT_STR, VX_OPT_INT, VX_OPT_BOOL };

struct vx_opt {
    const char *name; /* long option name, e.g. "listen" */
    enum vx_opt_type type;
    const char *defval; /* text of the default, or NULL */
    int64_t min, max;   /* VX_OPT_INT range */
    const char *help;
    /* filled by vx_opts_parse: */
    char *str; /* owned; NULL when unset and no default */
    int64_t num;
    bool flag;
    bool set; /* given by flag, environment or config file */
};

/* Parses argv (argv[0] = subcommand) into opts[0..n). Prints the error (or the help for
 * --help, then *help = true) to stderr/stdout. Returns 0 or -1 on a usage error. */
int vx_opts_parse(struct vx_opt *opts, int n, int argc, char **argv, const char *usage, bool *help);
void vx_opts_release(struct vx_opt *opts, int n);
/* Borrowed lookup by name; aborts on an unknown name (a programming error). */
struct vx_opt *vx_opt_get(struct vx_opt *opts, int n, const char *name);

#endif
