/* Splitting a fixture file into cases (fixture.h). What must stay true: every byte
 * of the file that is not whitespace ends up in a case or in an error case. */
#include "cli/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/policy/policy.h"

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

bool fixture_is_file(const char *name, bool *jsonl)
{
    bool l = has_suffix(name, ".jsonl");
    if (jsonl)
        *jsonl = l;
    return l || has_suffix(name, ".json");
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static fixture_doc *docs_add(fixture_docs *d)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        fixture_doc *nv = realloc(d->v, cap * sizeof *nv);
        if (!nv)
            return NULL;
        d->v = nv;
        d->cap = cap;
    }
    fixture_doc *f = &d->v[d->n++];
    memset(f, 0, sizeof *f);
    return f;
}

/* Parses text[off, off+len) into one case; flags adds JSON_DISABLE_EOF_CHECK for
 * concatenated documents, and *used then tells how many bytes it took. 0 when the
 * piece was a valid document (object or not), 1 on a JSON syntax error, -1 OOM. */
static int add_doc(fixture_docs *d, const char *text, size_t off, size_t len, int line, size_t flags, size_t *used)
{
    fixture_doc *f = docs_add(d);
    if (!f)
        return -1;
    json_error_t je;
    json_t *v = json_loadb(text + off, len, flags | JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    char msg[300];
    f->off = off;
    f->line = line;
    if (!v) {
        f->line = line + (je.line > 0 ? je.line - 1 : 0);
        f->len = len;
        snprintf(msg, sizeof msg, "invalid JSON at line %d, column %d: %s", f->line, je.column, je.text);
        return (f->error = strdup(msg)) ? 1 : -1;
    }
    f->len = (flags & JSON_DISABLE_EOF_CHECK) ? (size_t)je.position : len;
    if (used)
        *used = f->len;
    if (!json_is_object(v)) {
        snprintf(msg, sizeof msg, "a case must be a JSON object, not %s (line %d)", policy_json_type(v), line);
        json_decref(v);
        return (f->error = strdup(msg)) ? 0 : -1;
    }
    f->value = v;
    return 0;
}

static int count_lines(const char *text, size_t from, size_t to, int line)
{
    for (size_t i = from; i < to; i++)
        line += text[i] == '\n';
    return line;
}

int fixture_split(const char *text, size_t len, bool jsonl, fixture_docs *out)
{
    size_t pos = 0;
    int line = 1;
    while (pos < len) {
        if (jsonl) {
            const char *nl = memchr(text + pos, '\n', len - pos);
            size_t end = nl ? (size_t)(nl - text) : len, a = pos, z = end;
            while (a < z && is_space(text[a]))
                a++;
            while (z > a && is_space(text[z - 1]))
                z--;
            if (z > a && add_doc(out, text, a, z - a, line, 0, NULL) < 0)
                return -1;
            pos = end + 1;
            line++;
            continue;
        }
        size_t a = pos;
        while (a < len && is_space(text[a]))
            a++;
        line = count_lines(text, pos, a, line);
        if (a == len)
            break;
        size_t used = 0;
        int rc = add_doc(out, text, a, len - a, line, JSON_DISABLE_EOF_CHECK, &used);
        if (rc < 0)
            return -1;
        if (rc > 0 || used == 0)
            break; /* a syntax error: what follows cannot be resynchronised */
        line = count_lines(text, a, a + used, line);
        pos = a + used;
    }
    if (out->n == 0) {
        fixture_doc *f = docs_add(out);
        if (!f || !(f->error = strdup(jsonl ? "no JSON lines in the file" : "no JSON document in the file")))
            return -1;
        f->line = 1;
    }
    return 0;
}

void fixture_docs_free(fixture_docs *d)
{
    for (size_t i = 0; i < d->n; i++) {
        json_decref(d->v[i].value);
        free(d->v[i].error);
    }
    free(d->v);
    memset(d, 0, sizeof *d);
}
