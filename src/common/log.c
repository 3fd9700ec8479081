/* log.c -- stderr logging (see log.h). */
#include "common/setup.h"

#include <stdatomic.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h" /* for vx_time_iso8601() */

/* Written once by main before threads start; atomic so late changes are still safe. */
static _Atomic int log_level = VX_LOG_INFO;

void vx_log_set_level(enum vx_log_level level)
{
    atomic_store(&log_level, (int)level);
}

int vx_log_level_parse(const char *name, enum vx_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};

    for (size_t i = 0; i < VX_ARRAY_SIZE(names); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum vx_log_level)i;
            return 0;
        }
    }
    return -1;
}

void vx_log(enum vx_log_level level, const char *fmt, ...)
{
    static const char *const tags[] = {"debug", "info", "warn", "error"};
    char line[2048], ts[40];
    va_list ap;
    int n;

    if ((int)level < atomic_load(&log_level) || level >= VX_LOG_OFF)
        return;
    vx_time_iso8601(vx_now_ms(), ts, sizeof(ts));
    n = snprintf(line, sizeof(line), "%s vexxy[%d] %s: ", ts, (int)getpid(), tags[level]);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* one fputs per line: stdio locks the stream, so lines from threads do not interleave */
    fprintf(stderr, "%s\n", line);
}
