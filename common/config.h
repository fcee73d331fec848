/* Configuration from environment variables, one table per program.
 *
 * A table lists {env name, type, default, offset into the program's config struct,
 * help}. config_load reads every entry, validates all of them and reports every
 * error at once; secrets are masked in --help and never logged. Strings are NEW
 * (owned by the struct, released by config_free). `HUTCH_KAFKA_*` variables that are
 * not in a table are passed through to librdkafka (see kafka.h). */
#ifndef HUTCH_CONFIG_H
#define HUTCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    CONFIG_STRING,   /* char *  */
    CONFIG_SECRET,   /* char *, masked */
    CONFIG_INT,      /* int64_t */
    CONFIG_BOOL,     /* bool: 1/0/true/false/yes/no */
    CONFIG_DURATION_MS, /* int64_t milliseconds; accepts "500ms", "20s", "1h", or plain ms */
} config_type;

typedef struct {
    const char *env;       /* "HUTCH_DATABASE_URL" */
    config_type type;
    const char *def;       /* default as text, NULL = required */
    size_t offset;         /* offsetof(struct, field) */
    const char *help;
    int64_t min, max;      /* for CONFIG_INT when min < max */
    const char *choices;   /* CONFIG_STRING: allowed values, "|"-separated; NULL = any */
} config_field;

#define CONFIG_END { NULL, 0, NULL, 0, NULL, 0, 0, NULL }

/* One table and the struct it fills, for programs with several tables (a service:
 * its own settings and service_common_config), loaded and shown together. */
typedef struct {
    const config_field *table;
    void *out;
    const char *title; /* heading in --help, e.g. "Common settings" */
} config_section;

/* Fills `out` from the environment. Returns 0, or -1 with every problem listed
 * in err (one per line). */
int config_load(const config_field *table, void *out, char *err, size_t errlen);
void config_free(const config_field *table, void *out);
/* Writes the table as help text (name, default or "required", secret masked). */
void config_print_help(const config_field *table, const char *program, const char *about);

/* Writes only the settings under a heading (for programs with a help of their own). */
void config_print_settings(FILE *o, const config_field *table, const char *title);

/* For main(): handles --help (exit 0), loads, and on error prints every problem
 * and exits 78 (EX_CONFIG). */
void config_load_or_exit(const config_field *table, void *out, int argc, char **argv,
                         const char *program, const char *about);
/* The same for n sections: --help lists them all; every problem of every section
 * is reported before the exit 78. */
void config_sections_load_or_exit(const config_section *sections, size_t n, int argc, char **argv,
                                  const char *program, const char *about);

/* True if env names a field of a table already passed to config_load (kafka.c uses
 * it to keep table settings out of the HUTCH_KAFKA_* pass-through). */
bool config_is_known(const char *env);
/* True if s is one of the comma-separated items of list (each trimmed of spaces and
 * tabs): the allow-lists of settings (topics, issuers, e-mails). */
bool config_list_has(const char *list, const char *s);
/* Parses a CONFIG_DURATION_MS text ("500ms", "20s", "1m30s", "1500"). 0 or -1. */
int config_parse_duration_ms(const char *text, int64_t *out);

#endif
