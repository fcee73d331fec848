/* Unit tests for the Rego value model (value.c): ordering, numbers, JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rego/value.h"

static void test_order_across_types(void **state)
{
    (void)state;
    rv *vals[] = {rv_null(), rv_bool(false), rv_int(3), rv_cstring("a"), rv_array_new(0), rv_object_new(0),
                  rv_set_new(0)};
    for (size_t i = 0; i + 1 < sizeof vals / sizeof vals[0]; i++) assert_true(rv_compare(vals[i], vals[i + 1]) < 0);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) rv_unref(vals[i]);
}

static void test_object_sorted_and_lookup(void **state)
{
    (void)state;
    rv *o = rv_object_new(0);
    rv_object_set(o, rv_cstring("b"), rv_int(2));
    rv_object_set(o, rv_cstring("a"), rv_int(1));
    rv_object_set(o, rv_int(5), rv_int(0));
    rv_object_set(o, rv_cstring("b"), rv_int(3)); /* replace */
    assert_int_equal(rv_len(o), 3);
    assert_int_equal(rv_typeof(rv_object_key_at(o, 0)), RV_NUMBER);
    assert_string_equal(rv_str(rv_object_key_at(o, 1)), "a");
    int64_t i;
    assert_true(rv_number_as_int64(rv_object_get_cstr(o, "b"), &i));
    assert_int_equal(i, 3);
    assert_null(rv_object_get_cstr(o, "zz"));
    char *t = rv_to_json_text(o);
    assert_string_equal(t, "{\"5\":0,\"a\":1,\"b\":3}");
    free(t);
    rv_unref(o);
}

static void test_set_dedup(void **state)
{
    (void)state;
    rv *s = rv_set_new(0);
    rv_set_add(s, rv_int(2));
    rv_set_add(s, rv_int(1));
    rv_set_add(s, rv_int(2));
    rv *one = rv_number_from_text("1.0", 3);
    assert_true(rv_set_contains(s, one));
    rv_unref(one);
    char *t = rv_to_rego_text(s);
    assert_string_equal(t, "{1, 2}");
    free(t);
    rv_unref(s);
    rv *e = rv_set_new(0);
    t = rv_to_rego_text(e);
    assert_string_equal(t, "set()");
    free(t);
    rv_unref(e);
}

static void test_big_numbers(void **state)
{
    (void)state;
    const char *big = "123456789012345678901234567890";
    rv *a = rv_number_from_text(big, strlen(big));
    assert_non_null(a);
    char *t = rv_number_text(a);
    assert_string_equal(t, big);
    free(t);
    const char *err = NULL;
    rv *b = rv_num_add(a, a, &err);
    t = rv_number_text(b);
    assert_string_equal(t, "246913578024691357802469135780");
    free(t);
    rv *m = rv_int(INT64_MAX);
    rv *c = rv_num_mul(m, m, &err);
    t = rv_number_text(c);
    assert_string_equal(t, "85070591730234615847396907784232501249");
    free(t);
    assert_true(rv_compare(a, b) < 0);
    rv_unref(a);
    rv_unref(b);
    rv_unref(c);
    rv_unref(m);
}

static void test_division(void **state)
{
    (void)state;
    const char *err = NULL;
    rv *x = rv_int(10), *y = rv_int(4), *z = rv_int(0);
    rv *q = rv_num_div(x, y, &err);
    char *t = rv_number_text(q);
    assert_string_equal(t, "2.5");
    free(t);
    assert_null(rv_num_div(x, z, &err));
    assert_string_equal(err, "divide by zero");
    rv *r = rv_num_rem(x, y, &err);
    int64_t i;
    assert_true(rv_number_as_int64(r, &i));
    assert_int_equal(i, 2);
    rv_unref(q);
    rv_unref(r);
    rv_unref(x);
    rv_unref(y);
    rv_unref(z);
}

static void test_json_roundtrip(void **state)
{
    (void)state;
    const char *src = "{\"b\":[1,2.5,\"x\",null,true],\"a\":{\"c\":false}}";
    char eb[128];
    rv *v = rv_from_json_text(src, strlen(src), eb, sizeof eb);
    assert_non_null(v);
    char *t = rv_to_json_text(v);
    assert_string_equal(t, "{\"a\":{\"c\":false},\"b\":[1,2.5,\"x\",null,true]}");
    free(t);
    rv_unref(v);
    assert_null(rv_from_json_text("{", 1, eb, sizeof eb));
}

/* JSON text keeps exact numbers (beyond int64 and float64), decodes escapes and
 * surrogate pairs, keeps the last of duplicate keys and refuses bad input. */
static void test_json_text_exact(void **state)
{
    (void)state;
    const char *src = " {\"big\": 123456789012345678901234567890, \"huge\": 2e308, \"f\": 1.50,"
                      " \"s\": \"a\\u00e9\\ud83d\\ude00\\n\", \"d\": 1, \"d\": 2, \"e\": [], \"o\": {}} ";
    char eb[128];
    rv *v = rv_from_json_text(src, strlen(src), eb, sizeof eb);
    assert_non_null(v);
    char *t = rv_to_json_text(v);
    assert_string_equal(t, "{\"big\":123456789012345678901234567890,\"d\":2,\"e\":[],\"f\":1.50,\"huge\":2e308,"
                           "\"o\":{},\"s\":\"a\u00e9\U0001F600\\n\"}");
    free(t);
    rv_unref(v);
    const char *bad[] = {"[1,]", "{\"a\" 1}", "01", "\"\\ud800\"", "\"\xff\"", "[1] x", "tru", "-", "1.", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_null(rv_from_json_text(bad[i], strlen(bad[i]), eb, sizeof eb));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_across_types), cmocka_unit_test(test_object_sorted_and_lookup),
        cmocka_unit_test(test_set_dedup),          cmocka_unit_test(test_big_numbers),
        cmocka_unit_test(test_division),           cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_json_text_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
