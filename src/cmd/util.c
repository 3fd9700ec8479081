/* util.c -- defaults shared by the subcommands: where vexxy keeps its state.
 *
 * The data directory follows the usual places for a service's state: $VEXXY_DATA_DIR when
 * set, /var/lib/vexxy for root (a system service), else the XDG state directory of the
 * user ($XDG_STATE_HOME/vexxy, ~/.local/state/vexxy). The default store is a SQLite file
 * inside it; VEXXY_DB overrides that default (flags override both, in the callers).
 */
#include "common/setup.h"

#include <pwd.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/alloc.h" /* for vx_xstrdup(), vx_xasprintf() */

/* An environment value that is set and not empty, else NULL. Borrowed. */
static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

char *vx_cmd_default_data_dir(void)
{
    const char *v, *home;
    struct passwd *pw;

    v = env_nonempty("VEXXY_DATA_DIR");
    if (v)
        return vx_xstrdup(v);
    if (geteuid() == 0)
        return vx_xstrdup("/var/lib/vexxy");
    /* XDG says a relative $XDG_STATE_HOME is invalid and must be ignored */
    v = env_nonempty("XDG_STATE_HOME");
    if (v && v[0] == '/')
        return vx_xasprintf("%s/vexxy", v);
    home = env_nonempty("HOME");
    if (!home) {
        pw = getpwuid(geteuid());
        home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
    }
    if (!home)
        return vx_xstrdup("./vexxy-data"); /* no home at all (a bare container): stay local */
    return vx_xasprintf("%s/.local/state/vexxy", home);
}

char *vx_cmd_default_db(const char *data_dir)
{
    const char *v = env_nonempty("VEXXY_DB");

    if (v)
        return vx_xstrdup(v);
    return vx_xasprintf("sqlite:%s/vexxy.db", data_dir);
}
