/* Unit tests for the Rego value model (value.c): ordering, numbers, JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rego/value.h"

static void test_order_across_types(void **state)
{
    (void)state;
    rv *vals[] = {rv_null(),       rv_bool(false),   rv_int(3),    rv_cstring("a"),
                  rv_array_new(0), rv_object_new(0), rv_set_new(0)};
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
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(rv_from_json_text(bad[i], strlen(bad[i]), eb, sizeof eb));
}

/* Parses src (must succeed) and returns its compact JSON text (NEW). */
static char *json_norm(const char *src, size_t len)
{
    char eb[128];
    rv *v = rv_from_json_text(src, len, eb, sizeof eb);
    if (!v) fail_msg("%s: %s", src, eb);
    char *t = rv_to_json_text(v);
    rv_unref(v);
    return t;
}

static void expect_json(const char *src, const char *want)
{
    char *t = json_norm(src, strlen(src));
    if (strcmp(t, want) != 0) fail_msg("%s: got %s, want %s", src, t, want);
    free(t);
}

static void expect_bad_json(const char *src, size_t len, const char *what)
{
    char eb[128];
    rv *v = rv_from_json_text(src, len, eb, sizeof eb);
    if (v) {
        char *t = rv_to_json_text(v);
        fail_msg("%s: accepted as %s", src, t);
    }
    if (what && !strstr(eb, what)) fail_msg("%s: message %s lacks %s", src, eb, what);
}

/* The single-pass JSON parser (rv_from_json_text): strings across the 8-byte scan,
 * every escape, UTF-8 validation, numbers at the int64 edges, duplicate keys in
 * small and large objects, nesting, whitespace, error positions. */
static void test_json_text_edges(void **state)
{
    (void)state;
    /* strings: a quote, an escape or non-ASCII at every offset of the 8-byte scan */
    for (int i = 0; i < 20; i++) {
        char src[64], want[64];
        snprintf(src, sizeof src, "[\"%.*s\\\"\\\\x\",\"%.*s\xc3\xa9\"]", i, "abcdefghijklmnopqrstuvwxyz", i,
                 "abcdefghijklmnopqrstuvwxyz");
        snprintf(want, sizeof want, "[\"%.*s\\\"\\\\x\",\"%.*s\xc3\xa9\"]", i, "abcdefghijklmnopqrstuvwxyz", i,
                 "abcdefghijklmnopqrstuvwxyz");
        expect_json(src, want);
    }
    expect_json("\"\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\uD834\\uDD1E\"",
                "\"/\\u0008\\u000c\\n\\r\\tA\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\"");
    expect_json("\"\x7f \xc2\x80 \xe0\xa0\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"",
                "\"\x7f \xc2\x80 \xe0\xa0\x80 \xef\xbf\xbf \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"");
    char eb[128];
    rv *nul = rv_from_json_text("\"a\\u0000b\"", 10, eb, sizeof eb); /* NUL inside a string */
    assert_non_null(nul);
    assert_int_equal(rv_strlen(nul), 3);
    assert_memory_equal(rv_str(nul), "a\0b", 3);
    rv_unref(nul);
    const char *bad_str[] = {"\"\\ud800\"",
                             "\"\\udc00\"",
                             "\"\\ud800\\u0041\"",
                             "\"\\ud800x\"",
                             "\"\\u12g4\"",
                             "\"\\u12\"",
                             "\"\\x\"",
                             "\"\\",
                             "\"abc",
                             "\"a\tb\"",
                             "\"a\nb\"",
                             "\"\xc0\x80\"",
                             "\"\xed\xa0\x80\"",
                             "\"\xf4\x90\x80\x80\"",
                             "\"\xe2\x82\"",
                             "\"\x80\"",
                             "\"\xf8\x88\x80\x80\x80\""};
    for (size_t i = 0; i < sizeof bad_str / sizeof bad_str[0]; i++)
        expect_bad_json(bad_str[i], strlen(bad_str[i]), NULL);
    /* numbers: int64 edges, exact text beyond them, floats keep their text */
    expect_json("[0,-0,123456789012345678,9223372036854775807,-9223372036854775808,9223372036854775808,"
                "-99999999999999999999,1e2,-1.5e-3,1.0,0.1,1E+2]",
                "[0,0,123456789012345678,9223372036854775807,-9223372036854775808,9223372036854775808,"
                "-99999999999999999999,1e2,-1.5e-3,1.0,0.1,1E+2]");
    rv *n = rv_from_json_text("[9223372036854775807, 1e2]", 26, eb, sizeof eb);
    assert_non_null(n);
    int64_t i64;
    assert_true(rv_number_as_int64(rv_array_at(n, 0), &i64));
    assert_true(i64 == INT64_MAX);
    assert_true(rv_number_as_int64(rv_array_at(n, 1), &i64));
    assert_int_equal(i64, 100);
    rv_unref(n);
    const char *bad_num[] = {"-",  "01",  "-01", "1.",       "1e",  "1e+",  "+1",
                             ".5", "0x1", "--1", "Infinity", "NaN", "1.e3", "-.5"};
    for (size_t i = 0; i < sizeof bad_num / sizeof bad_num[0]; i++)
        expect_bad_json(bad_num[i], strlen(bad_num[i]), NULL);
    /* duplicate keys: the last wins (small objects and the large-object sort) */
    expect_json("{\"b\":1,\"a\":2,\"b\":3,\"a\":4}", "{\"a\":4,\"b\":3}");
    char big[4096];
    size_t l = 0;
    big[l++] = '{';
    for (int k = 99; k >= 0; k--) l += (size_t)snprintf(big + l, sizeof big - l, "\"k%02d\":%d,", k, k);
    l += (size_t)snprintf(big + l, sizeof big - l, "\"k50\":\"last\"}");
    char *t = json_norm(big, l);
    assert_non_null(strstr(t, "{\"k00\":0,\"k01\":1,"));
    assert_non_null(strstr(t, "\"k49\":49,\"k50\":\"last\",\"k51\":51,"));
    assert_non_null(strstr(t, "\"k99\":99}"));
    free(t);
    /* structure and whitespace */
    expect_json(" \t\r\n[ ]", "[]");
    expect_json("{\n                \"a\" :\t[ 1 , {\"b\" : null} ,true,false ] \r\n}\n",
                "{\"a\":[1,{\"b\":null},true,false]}");
    expect_json("null", "null");
    expect_json(" \"s\" ", "\"s\"");
    expect_json("12", "12");
    const char *bad[] = {
        "[1,]", "[,1]",  "{,}",          "{\"a\":1,}",  "{\"a\"}", "{1:2}",    "[1 2]", "{\"a\":1 \"b\":2}", "[", "]",
        "nul",  "truex", "[true false]", "\"a\" \"b\"", "  ",      "{\"a\":}", "[1]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_bad_json(bad[i], strlen(bad[i]), NULL);
    expect_bad_json("{\n  \"a\": tru\n}", 14, "2:8: invalid token");
    expect_bad_json("[1] x", 5, "end of file expected");
    /* nesting: 2048 levels parse, 2049 do not */
    char *deep = malloc(2 * 2049 + 1);
    memset(deep, '[', 2049);
    memset(deep + 2049, ']', 2049);
    deep[2 * 2049] = 0;
    expect_bad_json(deep, 2 * 2049, "nesting too deep");
    rv *d = rv_from_json_text(deep + 1, 2 * 2048, eb, sizeof eb);
    assert_non_null(d);
    rv_unref(d);
    free(deep);
}

/* A parsed document lives in one arena: its members outlive the root as long as
 * they are referenced, large documents and strings span several blocks, and
 * derived data on members (an array index) goes with the document. */
static void test_json_text_arena(void **state)
{
    (void)state;
    size_t cap = 1 << 20, l = 0;
    char *src = malloc(cap);
    src[l++] = '[';
    for (int i = 0; i < 5000; i++) l += (size_t)snprintf(src + l, cap - l, "%s\"item-%d\"", i ? "," : "", i);
    src[l++] = ',';
    src[l++] = '"';
    memset(src + l, 'x', 300000); /* a string bigger than any block */
    l += 300000;
    l += (size_t)snprintf(src + l, cap - l, "\",{\"k\":[1,2,3]}]");
    char eb[128];
    rv *v = rv_from_json_text(src, l, eb, sizeof eb);
    free(src);
    assert_non_null(v);
    assert_int_equal(rv_len(v), 5002);
    assert_string_equal(rv_str(rv_array_at(v, 4999)), "item-4999");
    assert_int_equal(rv_strlen(rv_array_at(v, 5000)), 300000);
    rv *needle = rv_cstring("item-1234");
    bool found = false;
    assert_true(rv_index_contains(v, needle, &found)); /* attaches an index to the array */
    assert_true(found);
    rv_unref(needle);
    rv *member = rv_ref(rv_object_get_cstr(rv_array_at(v, 5001), "k"));
    rv *s = rv_ref(rv_array_at(v, 7));
    rv_unref(v); /* the members stay valid */
    assert_int_equal(rv_len(member), 3);
    assert_string_equal(rv_str(s), "item-7");
    rv *copy = rv_array_new(1);
    rv_array_push(copy, member); /* an ordinary container holding a member */
    rv_unref(s);
    char *t = rv_to_json_text(copy);
    assert_string_equal(t, "[[1,2,3]]");
    free(t);
    rv_unref(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_across_types), cmocka_unit_test(test_object_sorted_and_lookup),
        cmocka_unit_test(test_set_dedup),          cmocka_unit_test(test_big_numbers),
        cmocka_unit_test(test_division),           cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_json_text_exact),    cmocka_unit_test(test_json_text_edges),
        cmocka_unit_test(test_json_text_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
