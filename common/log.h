/* JSON-lines logging to stderr: one object per line with time, level, service,
 * event name and key/value fields. Thread-safe (one write(2) per line).
 *
 *   LOG_INFO("alert_accepted", "alert_id", id, "trace_id", trace, NULL);
 *
 * Fields are (const char *key, const char *value) pairs ended by NULL; a NULL
 * value is skipped. Never pass a secret. */
#ifndef HUTCH_LOG_H
#define HUTCH_LOG_H

#include <stdarg.h>

typedef enum { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level;

/* service is BORROWED for the process lifetime (a string literal). */
void log_init(const char *service, log_level min_level);
/* The service of log_init ("hutch" before it). */
const char *log_service_name(void);
log_level log_level_parse(const char *text); /* "debug"|"info"|"warn"|"error", default info */
void log_kv(log_level level, const char *event, ...) __attribute__((sentinel));
/* log_kv with the pairs of ap (NULL-ended), then those of extra (BORROWED, NULL-ended
 * name, value list, or NULL). */
void log_kv_va(log_level level, const char *event, va_list ap, const char *const *extra);

#define LOG_DEBUG(...) do { log_kv(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)
#define LOG_INFO(...)  do { log_kv(LOG_LEVEL_INFO, __VA_ARGS__); } while (0)
#define LOG_WARN(...)  do { log_kv(LOG_LEVEL_WARN, __VA_ARGS__); } while (0)
#define LOG_ERROR(...) do { log_kv(LOG_LEVEL_ERROR, __VA_ARGS__); } while (0)

#endif
