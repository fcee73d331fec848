/* Configuration from environment variables (config.h).
 *
 * A program describes its settings as a table; config_load walks the table once,
 * parses every entry and collects every problem into one message, so an operator
 * fixes a deployment in one round instead of one variable per restart. An unset or
 * empty variable takes the default; a NULL default means required.
 *
 * Secrets: a CONFIG_SECRET value never appears in an error, in --help or in a log
 * line; only whether it is set. Parse errors quote the offending value for the
 * other types, because it helps and it is not secret.
 *
 * Tables passed to config_load are remembered (they are static arrays), so that
 * config_is_known can tell kafka.c which HUTCH_KAFKA_* variables belong to a table
 * and must not be passed through to librdkafka. */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EX_CONFIG 78
#define MAX_TABLES 16

static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;
static const config_field *known_tables[MAX_TABLES];
static int known_count;

static void remember_table(const config_field *table)
{
    pthread_mutex_lock(&tables_lock);
    int found = 0;
    for (int i = 0; i < known_count; i++)
        found |= known_tables[i] == table;
    if (!found && known_count < MAX_TABLES)
        known_tables[known_count++] = table;
    pthread_mutex_unlock(&tables_lock);
}

bool config_is_known(const char *env)
{
    bool known = false;
    pthread_mutex_lock(&tables_lock);
    for (int i = 0; i < known_count && !known; i++)
        for (const config_field *f = known_tables[i]; f->env && !known; f++)
            known = strcmp(f->env, env) == 0;
    pthread_mutex_unlock(&tables_lock);
    return known;
}

/* Appends one formatted line to err (truncating quietly if it is full). */
static void err_add(char *err, size_t errlen, size_t *used, const char *fmt, ...)
{
    if (!err || errlen == 0 || *used >= errlen - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err + *used, errlen - *used, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *used += (size_t)n;
    if (*used >= errlen - 1) {
        *used = errlen - 1;
        return;
    }
    err[(*used)++] = '\n';
    err[*used] = '\0';
}

static int parse_int(const char *text, int64_t *out)
{
    errno = 0;
    char *end = NULL;
    while (isspace((unsigned char)*text))
        text++;
    if (!*text)
        return -1;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    if (*end)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on", "y", "t"};
    static const char *const no[] = {"0", "false", "no", "off", "n", "f"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!strcasecmp(text, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcasecmp(text, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* "500ms", "20s", "5m", "1h", "2d", "1500" (ms), also sums like "1m30s". */
int config_parse_duration_ms(const char *text, int64_t *out)
{
    const char *p = text;
    int64_t total = 0;
    int parts = 0;
    while (isspace((unsigned char)*p))
        p++;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        errno = 0;
        char *end = NULL;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0)
            return -1;
        p = end;
        int64_t mul;
        if (!strncmp(p, "ms", 2)) {
            mul = 1;
            p += 2;
        } else if (*p == 's') {
            mul = 1000;
            p++;
        } else if (*p == 'm') {
            mul = 60 * 1000;
            p++;
        } else if (*p == 'h') {
            mul = 3600 * 1000;
            p++;
        } else if (*p == 'd') {
            mul = 24 * 3600 * 1000LL;
            p++;
        } else if (*p == '\0' || isspace((unsigned char)*p)) {
            if (parts > 0) /* "1m30" is ambiguous */
                return -1;
            mul = 1;
        } else {
            return -1;
        }
        if (v > INT64_MAX / mul || total > INT64_MAX - v * mul)
            return -1;
        total += v * mul;
        parts++;
        while (isspace((unsigned char)*p))
            p++;
    }
    if (parts == 0)
        return -1;
    *out = total;
    return 0;
}

static void free_strings(const config_field *table, void *out)
{
    for (const config_field *f = table; f->env; f++) {
        if (f->type == CONFIG_STRING || f->type == CONFIG_SECRET) {
            char **slot = (char **)((char *)out + f->offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

/* True if text is one of the "|"-separated choices. */
static bool choice_ok(const char *choices, const char *text)
{
    size_t n = strlen(text);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && !strncmp(c, text, n))
            return true;
        c += len + (bar ? 1 : 0);
    }
    return false;
}

int config_load(const config_field *table, void *out, char *err, size_t errlen)
{
    size_t used = 0;
    int errors = 0;
    if (err && errlen)
        err[0] = '\0';
    if (!table || !out) {
        err_add(err, errlen, &used, "config: no table");
        return -1;
    }
    remember_table(table);

    for (const config_field *f = table; f->env; f++) {
        const char *raw = getenv(f->env);
        bool from_env = raw && *raw;
        const char *text = from_env ? raw : f->def;
        void *slot = (char *)out + f->offset;
        bool secret = f->type == CONFIG_SECRET;

        if (f->type == CONFIG_STRING || f->type == CONFIG_SECRET)
            *(char **)slot = NULL;
        if (!text) {
            err_add(err, errlen, &used, "%s: required but not set (%s)", f->env, f->help ? f->help : "");
            errors++;
            continue;
        }
        const char *origin = from_env ? "" : " (default)";
        switch (f->type) {
        case CONFIG_STRING:
        case CONFIG_SECRET: {
            if (f->choices && !choice_ok(f->choices, text)) {
                err_add(err, errlen, &used, "%s: \"%s\" is not one of %s%s", f->env, secret ? "****" : text,
                        f->choices, origin);
                errors++;
                break;
            }
            char *copy = strdup(text);
            if (!copy) {
                err_add(err, errlen, &used, "%s: out of memory", f->env);
                errors++;
                break;
            }
            *(char **)slot = copy;
            break;
        }
        case CONFIG_INT: {
            int64_t v;
            if (parse_int(text, &v) < 0) {
                err_add(err, errlen, &used, "%s: not an integer: \"%s\"%s", f->env, secret ? "****" : text, origin);
                errors++;
            } else if (f->min < f->max && (v < f->min || v > f->max)) {
                err_add(err, errlen, &used, "%s: %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]%s", f->env, v,
                        f->min, f->max, origin);
                errors++;
            } else {
                *(int64_t *)slot = v;
            }
            break;
        }
        case CONFIG_BOOL: {
            bool v;
            if (parse_bool(text, &v) < 0) {
                err_add(err, errlen, &used, "%s: not a boolean (1/0/true/false/yes/no): \"%s\"%s", f->env, text,
                        origin);
                errors++;
            } else {
                *(bool *)slot = v;
            }
            break;
        }
        case CONFIG_DURATION_MS: {
            int64_t v;
            if (config_parse_duration_ms(text, &v) < 0) {
                err_add(err, errlen, &used, "%s: not a duration (e.g. 500ms, 20s, 5m, 1h): \"%s\"%s", f->env, text,
                        origin);
                errors++;
            } else if (f->min < f->max && (v < f->min || v > f->max)) {
                err_add(err, errlen, &used, "%s: %" PRId64 "ms is out of range [%" PRId64 ", %" PRId64 "] ms%s", f->env,
                        v, f->min, f->max, origin);
                errors++;
            } else {
                *(int64_t *)slot = v;
            }
            break;
        }
        default:
            err_add(err, errlen, &used, "%s: unknown setting type %d", f->env, (int)f->type);
            errors++;
            break;
        }
    }
    if (errors) {
        free_strings(table, out);
        /* Drop the trailing newline so callers can print err as they like. */
        if (used > 0 && err[used - 1] == '\n')
            err[used - 1] = '\0';
        return -1;
    }
    return 0;
}

void config_free(const config_field *table, void *out)
{
    if (table && out)
        free_strings(table, out);
}

static const char *type_name(config_type t)
{
    switch (t) {
    case CONFIG_STRING: return "string";
    case CONFIG_SECRET: return "secret";
    case CONFIG_INT: return "integer";
    case CONFIG_BOOL: return "bool";
    case CONFIG_DURATION_MS: return "duration";
    }
    return "?";
}

static void print_fields(FILE *o, const config_field *table)
{
    for (const config_field *f = table; f && f->env; f++) {
        char def[160];
        if (!f->def)
            snprintf(def, sizeof def, "required");
        else if (f->type == CONFIG_SECRET)
            snprintf(def, sizeof def, "default %s", *f->def ? "****" : "\"\"");
        else
            snprintf(def, sizeof def, "default \"%s\"", f->def);
        fprintf(o, "  %-32s %-9s %s\n", f->env, type_name(f->type), def);
        if (f->type == CONFIG_INT && f->min < f->max)
            fprintf(o, "  %-32s %-9s range [%" PRId64 ", %" PRId64 "]\n", "", "", f->min, f->max);
        if (f->choices)
            fprintf(o, "  %-32s %-9s one of %s\n", "", "", f->choices);
        if (f->help && *f->help)
            fprintf(o, "      %s\n", f->help);
    }
}

void config_print_settings(FILE *o, const config_field *table, const char *title)
{
    fprintf(o, "%s (environment variables):\n", title ? title : "Settings");
    print_fields(o, table);
}

static void print_help(const config_section *sections, size_t n, const char *program, const char *about)
{
    FILE *o = stdout;
    fprintf(o, "Usage: %s [--help]\n", program ? program : "hutch");
    if (about && *about)
        fprintf(o, "\n%s\n", about);
    for (size_t i = 0; i < n; i++) {
        fputc('\n', o);
        config_print_settings(o, sections[i].table, sections[i].title);
    }
    fprintf(o, "\nHUTCH_KAFKA_<NAME> variables not listed are passed to librdkafka as <name> "
               "('_' -> '.'), e.g. HUTCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL.\n");
    fflush(o);
}

void config_print_help(const config_field *table, const char *program, const char *about)
{
    config_section one = {table, NULL, "Settings"};
    print_help(&one, 1, program, about);
}

void config_load_or_exit(const config_field *table, void *out, int argc, char **argv, const char *program,
                         const char *about)
{
    config_section one = {table, out, "Settings"};
    config_sections_load_or_exit(&one, 1, argc, argv, program, about);
}

void config_sections_load_or_exit(const config_section *sections, size_t n, int argc, char **argv,
                                  const char *program, const char *about)
{
    for (int i = 1; i < argc && argv; i++) {
        if (argv[i] && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
            print_help(sections, n, program, about);
            exit(0);
        }
    }
    bool failed = false;
    for (size_t s = 0; s < n; s++) {
        char err[4096];
        if (config_load(sections[s].table, sections[s].out, err, sizeof err) == 0)
            continue;
        if (!failed)
            fprintf(stderr, "%s: invalid configuration:\n", program ? program : "hutch");
        failed = true;
        /* Indent each problem for readability. */
        const char *p = err;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(stderr, "  %.*s\n", (int)len, p);
            p += len + (nl ? 1 : 0);
        }
    }
    if (failed) {
        fprintf(stderr, "(run %s --help for the list of settings)\n", program ? program : "with");
        exit(EX_CONFIG);
    }
}

bool config_list_has(const char *list, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if ((size_t)(b - a) == n && memcmp(a, s, n) == 0)
            return true;
        p = *end ? end + 1 : end;
    }
    return false;
}
