/* Unit tests for strbuf.c: appends of every kind, growth across many appends, the
 * NUL terminator, taking and reusing a buffer, and sticky failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/strbuf.h"

static void test_appends(void **state)
{
    strbuf b = {0};
    assert_null(b.p);
    assert_int_equal(strbuf_puts(&b, "alert"), 0);
    assert_int_equal(strbuf_add(&b, " id=", 4), 0);
    assert_int_equal(strbuf_printf(&b, "%d/%s", 42, "x"), 0);
    assert_int_equal(strbuf_add(&b, "", 0), 0);
    assert_string_equal(b.p, "alert id=42/x");
    assert_int_equal(b.len, strlen("alert id=42/x"));
    assert_true(b.cap > b.len);
    assert_false(b.failed);
    /* bytes, not strings: an embedded NUL is kept and the end is still terminated */
    assert_int_equal(strbuf_add(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 16);
    assert_memory_equal(b.p + 13, "a\0b", 4);
    strbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void test_growth(void **state)
{
    strbuf b = {0};
    char expect[10 * 1000 + 1];
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(strbuf_printf(&b, "%09d,", i), 0);
        char piece[16];
        snprintf(piece, sizeof piece, "%09d,", i);
        memcpy(expect + 10 * i, piece, 11); /* with its NUL, overwritten by the next */
    }
    assert_int_equal(b.len, 10000);
    assert_string_equal(b.p, expect);
    /* a printf larger than the room left at once */
    char big[5000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(strbuf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 10000 + 5001);
    assert_int_equal(b.p[b.len - 1], ']');
    assert_int_equal(b.p[b.len], '\0');
    strbuf_free(&b);
}

static void test_take(void **state)
{
    strbuf b = {0};
    char *empty = strbuf_take(&b);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    free(empty);

    strbuf_puts(&b, "first");
    char *first = strbuf_take(&b);
    assert_string_equal(first, "first");
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    /* usable again after a take */
    strbuf_puts(&b, "second");
    assert_string_equal(b.p, "second");
    free(first);
    strbuf_free(&b);
}

static void test_failure_is_sticky(void **state)
{
    strbuf b = {0};
    strbuf_puts(&b, "kept");
    /* a size that cannot be allocated fails the buffer, keeping what came before */
    assert_int_equal(strbuf_add(&b, "x", SIZE_MAX - 2), -1);
    assert_true(b.failed);
    assert_string_equal(b.p, "kept");
    assert_int_equal(strbuf_puts(&b, "dropped"), -1);
    assert_int_equal(strbuf_printf(&b, "%s", "dropped"), -1);
    assert_string_equal(b.p, "kept");
    assert_null(strbuf_take(&b)); /* a failed buffer has no text to hand over */
    assert_false(b.failed);       /* and is empty and usable again */
    assert_int_equal(strbuf_puts(&b, "again"), 0);
    assert_string_equal(b.p, "again");
    strbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_failure_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
