/* Unit tests for utf8.c: RFC 3629's valid and invalid sequences (with the boundary
 * code points), sanitising, cutting on a character boundary, counting characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/utf8.h"

#define SEQ(s) utf8_seq_len(s, sizeof(s) - 1)

static void test_seq_len_valid(void **state)
{
    assert_int_equal(SEQ("a"), 1);
    assert_int_equal(SEQ("\x7F"), 1);
    assert_int_equal(SEQ("\xC2\x80"), 2);         /* U+0080, the smallest 2-byte */
    assert_int_equal(SEQ("\xC3\xA9"), 2);         /* é */
    assert_int_equal(SEQ("\xDF\xBF"), 2);         /* U+07FF */
    assert_int_equal(SEQ("\xE0\xA0\x80"), 3);     /* U+0800, the smallest 3-byte */
    assert_int_equal(SEQ("\xE2\x80\xA6"), 3);     /* … */
    assert_int_equal(SEQ("\xED\x9F\xBF"), 3);     /* U+D7FF, just below the surrogates */
    assert_int_equal(SEQ("\xEE\x80\x80"), 3);     /* U+E000, just above them */
    assert_int_equal(SEQ("\xEF\xBF\xBF"), 3);     /* U+FFFF */
    assert_int_equal(SEQ("\xF0\x90\x80\x80"), 4); /* U+10000, the smallest 4-byte */
    assert_int_equal(SEQ("\xF0\x9F\x98\x80"), 4); /* 😀 */
    assert_int_equal(SEQ("\xF4\x8F\xBF\xBF"), 4); /* U+10FFFF, the largest */
    /* only the first sequence counts */
    assert_int_equal(utf8_seq_len("ab", 2), 1);
    assert_int_equal(utf8_seq_len("\xC3\xA9z", 3), 2);
}

static void test_seq_len_invalid(void **state)
{
    assert_int_equal(utf8_seq_len("a", 0), 0);    /* nothing to look at */
    assert_int_equal(SEQ("\x80"), 0);             /* stray continuation */
    assert_int_equal(SEQ("\xBF"), 0);
    assert_int_equal(SEQ("\xC0\xAF"), 0);         /* overlong '/' */
    assert_int_equal(SEQ("\xC1\xBF"), 0);         /* overlong */
    assert_int_equal(SEQ("\xE0\x9F\xBF"), 0);     /* overlong 3-byte (U+07FF) */
    assert_int_equal(SEQ("\xF0\x8F\xBF\xBF"), 0); /* overlong 4-byte (U+FFFF) */
    assert_int_equal(SEQ("\xED\xA0\x80"), 0);     /* U+D800, a surrogate */
    assert_int_equal(SEQ("\xED\xBF\xBF"), 0);     /* U+DFFF */
    assert_int_equal(SEQ("\xF4\x90\x80\x80"), 0); /* U+110000 */
    assert_int_equal(SEQ("\xF5\x80\x80\x80"), 0); /* no such lead byte */
    assert_int_equal(SEQ("\xF8\x88\x80\x80\x80"), 0);
    assert_int_equal(SEQ("\xFF"), 0);
    assert_int_equal(SEQ("\xC3"), 0);             /* truncated */
    assert_int_equal(SEQ("\xE2\x80"), 0);
    assert_int_equal(utf8_seq_len("\xE2\x80\xA6", 2), 0); /* avail cuts it */
    assert_int_equal(SEQ("\xC3\x41"), 0);         /* not followed by a continuation */
    assert_int_equal(SEQ("\xF0\x9F\x98\x41"), 0);
}

static void test_valid(void **state)
{
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid("plain ascii", 11));
    const char *mixed = "caf\xC3\xA9 \xE2\x80\xA6 \xF0\x9F\x98\x80";
    assert_true(utf8_valid(mixed, strlen(mixed)));
    assert_false(utf8_valid("ok\xFF", 3));
    assert_false(utf8_valid("\xC3", 1));
    /* a NUL byte is a valid character: length, not the terminator, bounds the text */
    assert_true(utf8_valid("a\0b", 3));
}

static void test_sanitize(void **state)
{
    const char *in = "a\xFF" "b\xC3\xA9" "c\xE2\x80" "d\xED\xA0\x80";
    char *out = utf8_sanitize(in, strlen(in));
    assert_non_null(out);
    /* each bad byte is one '?': the length stays, the valid é stays */
    assert_string_equal(out, "a?b\xC3\xA9" "c??d???");
    assert_int_equal(strlen(out), strlen(in));
    assert_true(utf8_valid(out, strlen(out)));
    free(out);

    out = utf8_sanitize("", 0);
    assert_non_null(out);
    assert_string_equal(out, "");
    free(out);

    /* only len bytes are read */
    out = utf8_sanitize("abc\xFF", 2);
    assert_string_equal(out, "ab");
    free(out);
}

static void test_cut(void **state)
{
    const char *s = "ab\xE2\x80\xA6" "cd"; /* a b … c d: 7 bytes */
    assert_int_equal(utf8_cut(s, 7, 100), 7);
    assert_int_equal(utf8_cut(s, 7, 7), 7);
    assert_int_equal(utf8_cut(s, 7, 6), 6);
    assert_int_equal(utf8_cut(s, 7, 5), 5); /* right after … */
    assert_int_equal(utf8_cut(s, 7, 4), 2); /* inside …: before it */
    assert_int_equal(utf8_cut(s, 7, 3), 2);
    assert_int_equal(utf8_cut(s, 7, 2), 2);
    assert_int_equal(utf8_cut(s, 7, 0), 0);
    const char *emoji = "\xF0\x9F\x98\x80";
    assert_int_equal(utf8_cut(emoji, 4, 3), 0);
    assert_int_equal(utf8_cut(emoji, 4, 1), 0);
}

static void test_chars(void **state)
{
    assert_int_equal(utf8_chars(""), 0);
    assert_int_equal(utf8_chars("abc"), 3);
    assert_int_equal(utf8_chars("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"), 3); /* 日本語 */
    assert_int_equal(utf8_chars("\xF0\x9F\x98\x80!"), 2);
    assert_int_equal(utf8_chars("a\xFF" "b"), 3); /* an invalid lead byte counts as one */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_len_valid), cmocka_unit_test(test_seq_len_invalid),
        cmocka_unit_test(test_valid),         cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_cut),           cmocka_unit_test(test_chars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
