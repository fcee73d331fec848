/* hutchctl's rendering: every command produces one JSON document (jansson), then
 * prints it either as JSON (--output json: machine-readable, one document) or as a
 * readable table / key-value block described by a column spec. Pure functions on
 * FILE *, so they are unit-tested with open_memstream. */
#ifndef HUTCH_CLI_OUTPUT_H
#define HUTCH_CLI_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

typedef enum {
    COL_TEXT = 0, /* strings as is (newlines become spaces), numbers, booleans */
    COL_TIME,     /* ISO-8601 timestamps shown as "YYYY-MM-DD HH:MM:SS" */
    COL_SCORE,    /* numbers with two decimals */
} col_kind;

typedef struct {
    const char *key;    /* field of each row object */
    const char *header;
    col_kind kind;
    int max_width;      /* 0 = unlimited; longer values are cut with "..." */
} col_spec;

/* Writes value (BORROWED) as one cell's text into buf (NUL-terminated, cut at a
 * UTF-8 boundary to fit). null, missing or "" -> "-". */
void output_cell(const json_t *value, col_kind kind, char *buf, size_t buflen);

/* Number of display columns of a UTF-8 string (code points; good enough for a terminal table). */
size_t output_width(const char *s);

/* rows: array of objects (BORROWED). cols: spec list ended by {NULL}. Prints a header
 * line, then one line per row; "(none)" when empty. */
void output_table(FILE *out, const json_t *rows, const col_spec *cols);

/* One object as "header: value" lines, in the order of cols. */
void output_fields(FILE *out, const json_t *obj, const col_spec *cols);

/* The document as indented JSON and a newline. */
void output_json(FILE *out, const json_t *doc);

#endif
