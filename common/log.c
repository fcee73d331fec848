/* JSON-lines logging (log.h).
 *
 * Each call builds one JSON object with jansson (so every value is escaped the same
 * way), in the fixed order ts, level, service, event, then the caller's fields, and
 * writes it with a single write(2) so lines from several threads never interleave.
 * The level and service are set once by log_init before threads start; they are
 * read without locking afterwards. Logging must never fail the caller: on OOM the
 * line is dropped. */
#include "common/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/utf8.h"

static const char *log_service = "hutch";
static log_level log_min = LOG_LEVEL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, log_level min_level)
{
    if (service)
        log_service = service;
    if (min_level >= LOG_LEVEL_DEBUG && min_level <= LOG_LEVEL_ERROR)
        log_min = min_level;
}

log_level log_level_parse(const char *text)
{
    if (!text)
        return LOG_LEVEL_INFO;
    if (!strcasecmp(text, "debug"))
        return LOG_LEVEL_DEBUG;
    if (!strcasecmp(text, "warn") || !strcasecmp(text, "warning"))
        return LOG_LEVEL_WARN;
    if (!strcasecmp(text, "error"))
        return LOG_LEVEL_ERROR;
    return LOG_LEVEL_INFO;
}

static void format_ts(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", (long)(ts.tv_nsec / 1000000));
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        len -= (size_t)w;
    }
}

/* s as a JSON string with every byte that is not part of a valid UTF-8 sequence as '?'. */
static json_t *sanitized_string(const char *s)
{
    char *copy = utf8_sanitize(s, strlen(s));
    json_t *v = copy ? json_string(copy) : NULL;
    free(copy);
    return v;
}

void log_kv(log_level level, const char *event, ...)
{
    va_list ap;
    va_start(ap, event);
    log_kv_va(level, event, ap, NULL);
    va_end(ap);
}

void log_kv_va(log_level level, const char *event, va_list ap, const char *const *extra)
{
    if (level < log_min)
        return;
    if (level < LOG_LEVEL_DEBUG || level > LOG_LEVEL_ERROR)
        level = LOG_LEVEL_ERROR;

    char ts[40];
    format_ts(ts, sizeof ts);

    json_t *o = json_object();
    if (!o)
        return;
    /* json_string fails on invalid UTF-8: fall back to a lossy copy so the line still appears. */
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "service", json_string(log_service));
    json_object_set_new(o, "event", json_string(event ? event : "(null)"));

    for (const char *const *x = NULL;;) {
        const char *key, *value;
        if (!x) {
            key = va_arg(ap, const char *);
            if (!key) {
                if (!(x = extra))
                    break;
                continue;
            }
            value = va_arg(ap, const char *);
        } else {
            if (!(key = x[0]))
                break;
            value = x[1];
            x += 2;
        }
        if (!value)
            continue;
        json_t *v = json_string(value);
        if (!v) /* not UTF-8: keep the field, with the bad bytes replaced */
            v = sanitized_string(value);
        json_object_set_new(o, key, v);
    }

    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!text)
        return;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    write_all(STDERR_FILENO, line, n + 1);
    free(line);
}
