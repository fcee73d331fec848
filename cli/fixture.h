/* Policy test fixtures in Warren's layout (hutchctl policy test --detect/--ignore):
 * the text of one fixture file split into its cases, each one JSON object.
 *
 *   .json   one JSON document, or several objects one after another (whitespace
 *           between them or not), read with jansson's JSON_DISABLE_EOF_CHECK;
 *   .jsonl  one object per non-empty line.
 *
 * A piece that is not valid JSON, or not an object, becomes a case with an error
 * instead of a value, so the runner reports it (never a silent skip). In a .json
 * file parsing stops at the first bad document (the rest cannot be resynchronised);
 * in a .jsonl file every line stands alone. A file with no document at all is one
 * error case too. Pure functions on memory, unit-tested in test_cli_fixture.c. */
#ifndef HUTCH_CLI_FIXTURE_H
#define HUTCH_CLI_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    size_t off, len; /* the document's bytes in the file's text */
    int line;        /* 1-based line where it starts (or where the error is) */
    json_t *value;   /* the parsed object, NEW (owned by the list); NULL on error */
    char *error;     /* why this piece is not a case, NEW; NULL when value is set */
} fixture_doc;

typedef struct {
    fixture_doc *v;
    size_t n, cap;
} fixture_docs;

/* True for names the runner reads as fixtures: *.json and *.jsonl. *jsonl tells which. */
bool fixture_is_file(const char *name, bool *jsonl);

/* Splits text (len bytes, BORROWED, need not be NUL-terminated) into out (zeroed by
 * the caller; fixture_docs_free it either way). 0, or -1 when out of memory. */
int fixture_split(const char *text, size_t len, bool jsonl, fixture_docs *out);
void fixture_docs_free(fixture_docs *d);

#endif
