/* Unit tests for hutchctl's rendering (output.c): cells, cuts at UTF-8 boundaries,
 * tables and key-value blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/output.h"

static char *render_table(const char *json, const col_spec *cols)
{
    json_t *rows = json_loads(json, 0, NULL);
    assert_non_null(rows);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    output_table(f, rows, cols);
    fclose(f);
    json_decref(rows);
    return text;
}

static void test_cells(void **state)
{
    char buf[64];
    json_t *v = json_string("2026-11-25T13:26:55.123456+00:00");
    output_cell(v, COL_TIME, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-25 13:26:55");
    output_cell(v, COL_TEXT, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-25T13:26:55.123456+00:00");
    json_decref(v);
    output_cell(NULL, COL_TEXT, buf, sizeof buf);
    assert_string_equal(buf, "-");
    output_cell(json_null(), COL_TEXT, buf, sizeof buf);
    assert_string_equal(buf, "-");
    v = json_string("");
    output_cell(v, COL_TEXT, buf, sizeof buf);
    assert_string_equal(buf, "-");
    json_decref(v);
    v = json_real(0.756);
    output_cell(v, COL_SCORE, buf, sizeof buf);
    assert_string_equal(buf, "0.76");
    json_decref(v);
    v = json_integer(42);
    output_cell(v, COL_TEXT, buf, sizeof buf);
    assert_string_equal(buf, "42");
    json_decref(v);
    v = json_string("line1\nline2\ttab");
    output_cell(v, COL_TEXT, buf, sizeof buf);
    assert_string_equal(buf, "line1 line2 tab");
    json_decref(v);
    /* A small buffer cuts at a character boundary and marks the cut. */
    v = json_string("ééééééééééé");
    char small[10];
    output_cell(v, COL_TEXT, small, sizeof small);
    assert_string_equal(small, "ééé...");
    json_decref(v);
}

static void test_width(void **state)
{
    assert_int_equal(output_width(""), 0);
    assert_int_equal(output_width("abc"), 3);
    assert_int_equal(output_width("日本語"), 3);
}

static void test_table(void **state)
{
    static const col_spec cols[] = {
        {"id", "ID", COL_TEXT, 0},
        {"title", "TITLE", COL_TEXT, 8},
        {NULL},
    };
    char *t = render_table("[{\"id\":\"a\",\"title\":\"short\"},{\"id\":\"bbbb\",\"title\":\"a much longer title\"}]", cols);
    assert_string_equal(t, "ID    TITLE\n"
                           "a     short\n"
                           "bbbb  a muc...\n");
    free(t);
    t = render_table("[]", cols);
    assert_string_equal(t, "ID  TITLE\n(none)\n");
    free(t);
    t = render_table("[{\"id\":\"日本\",\"title\":null}]", cols);
    assert_string_equal(t, "ID  TITLE\n日本  -\n");
    free(t);
}

static void test_fields(void **state)
{
    static const col_spec cols[] = {
        {"id", "id", COL_TEXT, 0},
        {"created", "created", COL_TIME, 0},
        {NULL},
    };
    json_t *o = json_pack("{s:s, s:s}", "id", "x", "created", "2026-01-02T03:04:05+00:00");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    output_fields(f, o, cols);
    output_json(f, json_object_get(o, "id"));
    fclose(f);
    assert_string_equal(text, "id:      x\ncreated: 2026-01-02 03:04:05\n\"x\"\n");
    free(text);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_width),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
