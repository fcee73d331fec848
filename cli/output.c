/* hutchctl's rendering (output.h): JSON documents to tables and key-value blocks.
 * Widths count UTF-8 code points and cuts never split a sequence, so titles in any
 * language stay valid text. */
#include "cli/output.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

#define CELL_MAX 4096

size_t output_width(const char *s)
{
    return utf8_chars(s);
}

/* Copies at most max_cols code points of src (all of it if max_cols == 0) into
 * buf, ending with "..." when cut; control whitespace becomes spaces. */
static void copy_cut(char *buf, size_t buflen, const char *src, int max_cols)
{
    bool cut = max_cols > 0 && output_width(src) > (size_t)max_cols;
    size_t limit = cut ? (size_t)(max_cols > 3 ? max_cols - 3 : max_cols) : SIZE_MAX;
    size_t cols = 0, i = 0, o = 0;
    while (src[i] && cols < limit) {
        size_t len = utf8_seq_len(src + i, 4);
        if (len == 0) /* not UTF-8: a byte is a column */
            len = 1;
        if (o + len + 4 > buflen) {
            cut = true;
            break;
        }
        for (size_t k = 0; k < len && src[i]; k++, i++) {
            char ch = src[i];
            buf[o++] = (ch == '\n' || ch == '\r' || ch == '\t') ? ' ' : ch;
        }
        cols++;
    }
    if (cut && o + 4 <= buflen) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

void output_cell(const json_t *value, col_kind kind, char *buf, size_t buflen)
{
    char tmp[64];
    if (buflen == 0)
        return;
    if (!value || json_is_null(value) || (json_is_string(value) && json_string_length(value) == 0)) {
        snprintf(buf, buflen, "-");
    } else if (json_is_string(value)) {
        const char *s = json_string_value(value);
        if (kind == COL_TIME && strlen(s) >= 19 && s[10] == 'T') {
            snprintf(tmp, sizeof tmp, "%.19s", s);
            tmp[10] = ' ';
            snprintf(buf, buflen, "%s", tmp);
        } else {
            copy_cut(buf, buflen, s, 0);
        }
    } else if (json_is_integer(value)) {
        snprintf(buf, buflen, "%lld", (long long)json_integer_value(value));
    } else if (json_is_real(value)) {
        snprintf(buf, buflen, kind == COL_SCORE ? "%.2f" : "%g", json_real_value(value));
    } else if (json_is_boolean(value)) {
        snprintf(buf, buflen, "%s", json_is_true(value) ? "true" : "false");
    } else {
        char *text = json_dumps(value, JSON_COMPACT);
        copy_cut(buf, buflen, text ? text : "?", 0);
        free(text);
    }
}

static void fit(char *cell, size_t len, int max_width)
{
    if (max_width <= 0 || output_width(cell) <= (size_t)max_width)
        return;
    char *copy = strdup(cell);
    if (!copy)
        return;
    copy_cut(cell, len, copy, max_width);
    free(copy);
}

static void pad(FILE *out, const char *text, size_t width, bool last)
{
    fputs(text, out);
    if (last)
        return;
    for (size_t w = output_width(text); w < width + 2; w++)
        fputc(' ', out);
}

void output_table(FILE *out, const json_t *rows, const col_spec *cols)
{
    size_t ncols = 0;
    while (cols[ncols].key)
        ncols++;
    size_t nrows = json_array_size(rows);
    size_t *width = calloc(ncols ? ncols : 1, sizeof *width);
    char *cell = malloc(CELL_MAX);
    if (!width || !cell)
        goto done;
    for (size_t c = 0; c < ncols; c++)
        width[c] = output_width(cols[c].header);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            output_cell(json_object_get(json_array_get(rows, r), cols[c].key), cols[c].kind, cell, CELL_MAX);
            fit(cell, CELL_MAX, cols[c].max_width);
            size_t w = output_width(cell);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t c = 0; c < ncols; c++)
        pad(out, cols[c].header, width[c], c + 1 == ncols);
    fputc('\n', out);
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            output_cell(json_object_get(json_array_get(rows, r), cols[c].key), cols[c].kind, cell, CELL_MAX);
            fit(cell, CELL_MAX, cols[c].max_width);
            pad(out, cell, width[c], c + 1 == ncols);
        }
        fputc('\n', out);
    }
    if (nrows == 0)
        fputs("(none)\n", out);
done:
    free(width);
    free(cell);
}

void output_fields(FILE *out, const json_t *obj, const col_spec *cols)
{
    size_t width = 0;
    for (const col_spec *c = cols; c->key; c++)
        if (output_width(c->header) > width)
            width = output_width(c->header);
    char *cell = malloc(CELL_MAX);
    if (!cell)
        return;
    for (const col_spec *c = cols; c->key; c++) {
        output_cell(json_object_get(obj, c->key), c->kind, cell, CELL_MAX);
        fit(cell, CELL_MAX, c->max_width);
        fprintf(out, "%s:", c->header);
        for (size_t w = output_width(c->header); w < width + 1; w++)
            fputc(' ', out);
        fprintf(out, "%s\n", cell);
    }
    free(cell);
}

void output_json(FILE *out, const json_t *doc)
{
    json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    fputc('\n', out);
}
