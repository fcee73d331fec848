/* Unit tests for the console's pure checks (guard.c): the sign-in rate limiter (limit,
 * window, keys apart, a full table reusing its oldest slot), the cookie reader and
 * the static-path rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "services/console/guard.h"

static void test_limiter_blocks_after_limit_until_window_ends(void **state)
{
    guard_counter slots[8];
    memset(slots, 0, sizeof slots);
    guard_limiter l = {slots, 8, 3, 60000};
    int64_t t = 1000000;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(guard_blocked_for(&l, "ip:1.2.3.4", t + i), 0);
        guard_failed(&l, "ip:1.2.3.4", t + i);
    }
    assert_int_equal(guard_blocked_for(&l, "ip:1.2.3.4", t + 10), 60); /* 59 990 ms, rounded up */
    assert_int_equal(guard_blocked_for(&l, "ip:1.2.3.4", t + 59001), 1);
    assert_int_equal(guard_blocked_for(&l, "name:alice", t + 10), 0);    /* other keys are free */
    assert_int_equal(guard_blocked_for(&l, "ip:1.2.3.4", t + 60000), 0); /* window over */
    guard_failed(&l, "ip:1.2.3.4", t + 60000);                           /* a new window, one failure */
    assert_int_equal(guard_blocked_for(&l, "ip:1.2.3.4", t + 60001), 0);
}

static void test_limiter_full_table_reuses_oldest(void **state)
{
    guard_counter slots[2];
    memset(slots, 0, sizeof slots);
    guard_limiter l = {slots, 2, 1, 60000};
    guard_failed(&l, "a", 100);
    guard_failed(&l, "b", 200);
    guard_failed(&l, "c", 300); /* replaces a */
    assert_int_equal(guard_blocked_for(&l, "a", 400), 0);
    assert_true(guard_blocked_for(&l, "b", 400) > 0);
    assert_true(guard_blocked_for(&l, "c", 400) > 0);
}

static void test_cookie(void **state)
{
    char v[64];
    assert_true(guard_cookie("a=1; hutch_session=tok-EN_1; b=2", "hutch_session", v, sizeof v));
    assert_string_equal(v, "tok-EN_1");
    assert_true(guard_cookie("hutch_session=x", "hutch_session", v, sizeof v));
    assert_string_equal(v, "x");
    assert_false(guard_cookie("xhutch_session=1; hutch_sessionx=2", "hutch_session", v, sizeof v));
    assert_false(guard_cookie(NULL, "hutch_session", v, sizeof v));
    assert_false(guard_cookie("", "hutch_session", v, sizeof v));
    assert_false(guard_cookie("hutch_session=0123456789", "hutch_session", v, 5)); /* too long */
    assert_true(guard_cookie("hutch_session=", "hutch_session", v, sizeof v));
    assert_string_equal(v, "");
}

static void test_web_path(void **state)
{
    static const char *ok[] = {"/", "/app.js", "/tickets/01a23520-ca52-736a-863f-79d94c6397c4", "/a/b_c-d.css"};
    static const char *bad[] = {"",           "app.js", "/../etc/passwd", "/a/../b", "/.git/config",
                                "/a/.hidden", "/a b",   "/a%2e%2e",       "/a?b",    "/a\\b"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(guard_web_path(ok[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(guard_web_path(bad[i]));
    char longp[260];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    assert_false(guard_web_path(longp));
    assert_false(guard_web_path(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limiter_blocks_after_limit_until_window_ends),
        cmocka_unit_test(test_limiter_full_table_reuses_oldest),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_web_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
