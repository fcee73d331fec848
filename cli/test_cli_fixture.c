/* Unit tests of fixture.c: splitting Warren-style fixture files into cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cli/fixture.h"

static fixture_docs split(const char *text, bool jsonl)
{
    fixture_docs d = {0};
    assert_int_equal(fixture_split(text, strlen(text), jsonl, &d), 0);
    return d;
}

static void test_is_file(void **state)
{
    bool l = true;
    assert_true(fixture_is_file("a.json", &l));
    assert_false(l);
    assert_true(fixture_is_file("dir/a.jsonl", &l));
    assert_true(l);
    assert_false(fixture_is_file("a.yaml", NULL));
    assert_false(fixture_is_file(".json", NULL));
    assert_false(fixture_is_file("README.md", NULL));
}

static void test_one_document(void **state)
{
    const char *t = "\n  {\"a\": {\"b\": [1, 2]}}\n";
    fixture_docs d = split(t, false);
    assert_int_equal(d.n, 1);
    assert_non_null(d.v[0].value);
    assert_null(d.v[0].error);
    assert_int_equal(d.v[0].line, 2);
    assert_memory_equal(t + d.v[0].off, "{\"a\": {\"b\": [1, 2]}}", d.v[0].len);
    fixture_docs_free(&d);
}

static void test_concatenated(void **state)
{
    const char *t = "{\"n\": 1}{\"n\": 2}\n\n{\n  \"n\": 3\n}";
    fixture_docs d = split(t, false);
    assert_int_equal(d.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(d.v[i].value);
        assert_int_equal(json_integer_value(json_object_get(d.v[i].value, "n")), (json_int_t)i + 1);
    }
    assert_int_equal(d.v[0].line, 1);
    assert_int_equal(d.v[1].line, 1);
    assert_int_equal(d.v[2].line, 3);
    assert_memory_equal(t + d.v[1].off, "{\"n\": 2}", d.v[1].len);
    fixture_docs_free(&d);
}

static void test_invalid_stops(void **state)
{
    fixture_docs d = split("{\"ok\": true}\n{\"bad\": }\n{\"later\": 1}", false);
    assert_int_equal(d.n, 2);
    assert_non_null(d.v[0].value);
    assert_null(d.v[1].value);
    assert_non_null(strstr(d.v[1].error, "invalid JSON at line 2"));
    fixture_docs_free(&d);
}

static void test_not_an_object(void **state)
{
    fixture_docs d = split("[{\"a\": 1}]", false);
    assert_int_equal(d.n, 1);
    assert_null(d.v[0].value);
    assert_non_null(strstr(d.v[0].error, "must be a JSON object, not array"));
    fixture_docs_free(&d);
}

static void test_empty(void **state)
{
    fixture_docs d = split("  \n\n", false);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.v[0].error, "no JSON document"));
    fixture_docs_free(&d);
    d = split("\n \n", true);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.v[0].error, "no JSON lines"));
    fixture_docs_free(&d);
}

static void test_jsonl(void **state)
{
    const char *t = "{\"n\": 1}\r\n\n  {\"n\": 2}  \nnot json\n[1]\n{\"n\": 3}";
    fixture_docs d = split(t, true);
    assert_int_equal(d.n, 5);
    assert_non_null(d.v[0].value);
    assert_int_equal(d.v[0].line, 1);
    assert_int_equal(d.v[0].len, 8);
    assert_non_null(d.v[1].value);
    assert_int_equal(d.v[1].line, 3);
    assert_null(d.v[2].value);
    assert_int_equal(d.v[2].line, 4);
    assert_non_null(strstr(d.v[2].error, "invalid JSON at line 4"));
    assert_non_null(strstr(d.v[3].error, "not array"));
    assert_non_null(d.v[4].value);
    assert_int_equal(d.v[4].line, 6);
    fixture_docs_free(&d);
}

static void test_jsonl_two_objects_on_a_line(void **state)
{
    fixture_docs d = split("{\"a\": 1} {\"b\": 2}\n", true);
    assert_int_equal(d.n, 1);
    assert_non_null(d.v[0].error);
    fixture_docs_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_file),       cmocka_unit_test(test_one_document),
        cmocka_unit_test(test_concatenated),  cmocka_unit_test(test_invalid_stops),
        cmocka_unit_test(test_not_an_object), cmocka_unit_test(test_empty),
        cmocka_unit_test(test_jsonl),         cmocka_unit_test(test_jsonl_two_objects_on_a_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
