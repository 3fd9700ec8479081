/* log.h -- one-line logs on stderr: "2026-11-28T17:20:01.123Z vexxy[pid] level: message".
 *
 * The level threshold is process configuration set once by main (vx_log_set_level)
 * before threads start; it is the only process-wide setting outside main's own frame.
 */
#ifndef VX_COMMON_LOG_H
#define VX_COMMON_LOG_H

enum vx_log_level { VX_LOG_DEBUG, VX_LOG_INFO, VX_LOG_WARN, VX_LOG_ERROR, VX_LOG_OFF };

void vx_log_set_level(enum vx_log_level level);
/* Parses "debug|info|warn|error|off"; returns -1 on an unknown name. */
int vx_log_level_parse(const char *name, enum vx_log_level *out);
void vx_log(enum vx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define vx_debug(...) vx_log(VX_LOG_DEBUG, __VA_ARGS__)
#define vx_info(...)  vx_log(VX_LOG_INFO, __VA_ARGS__)
#define vx_warn(...)  vx_log(VX_LOG_WARN, __VA_ARGS__)
#define vx_error(...) vx_log(VX_LOG_ERROR, __VA_ARGS__)

#endif
