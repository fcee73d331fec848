/* JSON-lines logging (log.h).
 *
 * Each call formats one JSON object straight into a buffer (strbuf; every key and
 * value escaped by the same function, ASCII only, as
 * jansson's JSON_ENSURE_ASCII would: building a jansson object per line was the
 * largest part of ingest's CPU per request after the network), in the fixed order
 * ts, level, service, event, then the caller's fields (a key given twice keeps its
 * first place and its last value), and
 * writes it with a single write(2) so lines from several threads never interleave.
 * The level and service are set once by log_init before threads start; they are
 * read without locking afterwards. Logging must never fail the caller: on OOM the
 * line is dropped. */
#include "common/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/strbuf.h"
#include "common/utf8.h"

static const char *log_service = "hutch";
static log_level log_min = LOG_LEVEL_INFO;

const char *log_service_name(void) { return log_service; }

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

/* s as a JSON string, ASCII only (what jansson's JSON_ENSURE_ASCII prints): other
 * code points as \uXXXX (surrogate pairs above U+FFFF), each byte that is not part
 * of valid UTF-8 as '?', so a line always appears. */
static void put_string(strbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    strbuf_add(b, "\"", 1);
    size_t i = 0;
    while (i < len) {
        size_t run = i; /* plain ASCII is copied in runs */
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        strbuf_add(b, s + i, run - i);
        if (run >= len)
            break;
        i = run;
        unsigned char c = p[i];
        char esc[12];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            strbuf_add(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            const char *named = c == '\b'   ? "\\b"
                                : c == '\f' ? "\\f"
                                : c == '\n' ? "\\n"
                                : c == '\r' ? "\\r"
                                : c == '\t' ? "\\t"
                                            : NULL;
            if (named) {
                strbuf_add(b, named, 2);
            } else {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                strbuf_add(b, u, 6);
            }
            i++;
        } else {
            unsigned cp = 0;
            size_t n = utf8_decode(s + i, len - i, &cp);
            if (n == 0) {
                strbuf_add(b, "?", 1);
                i++;
                continue;
            }
            unsigned units[2] = {cp, 0};
            int nu = 1;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                units[0] = 0xD800 | (cp >> 10);
                units[1] = 0xDC00 | (cp & 0x3FF);
                nu = 2;
            }
            for (int k = 0; k < nu; k++) {
                char u[6] = {'\\',
                             'u',
                             hex[units[k] >> 12 & 15],
                             hex[units[k] >> 8 & 15],
                             hex[units[k] >> 4 & 15],
                             hex[units[k] & 15]};
                strbuf_add(b, u, 6);
            }
            i += n;
        }
    }
    strbuf_add(b, "\"", 1);
}

#define LOG_MAX_FIELDS 64

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

    /* Fields in order; a key given again replaces the earlier value in its place
     * (as a JSON object would have it), the four fixed ones included. */
    const char *keys[LOG_MAX_FIELDS], *values[LOG_MAX_FIELDS];
    int n = 0;
    keys[n] = "ts", values[n++] = ts;
    keys[n] = "level", values[n++] = level_names[level];
    keys[n] = "service", values[n++] = log_service;
    keys[n] = "event", values[n++] = event ? event : "(null)";
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
        int i = 0;
        while (i < n && strcmp(keys[i], key) != 0)
            i++;
        if (i == n && n == LOG_MAX_FIELDS)
            continue;
        keys[i] = key;
        values[i] = value;
        if (i == n)
            n++;
    }

    strbuf b = {0};
    strbuf_add(&b, "{", 1);
    for (int i = 0; i < n; i++) {
        if (i)
            strbuf_add(&b, ",", 1);
        put_string(&b, keys[i]);
        strbuf_add(&b, ":", 1);
        put_string(&b, values[i]);
    }
    strbuf_add(&b, "}\n", 2);
    if (!b.failed)
        write_all(STDERR_FILENO, b.p, b.len);
    strbuf_free(&b);
}
