/* Unit tests for ids.c: UUIDv7 format, version and variant bits, time prefix,
 * ordering, derived determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/ids.h"

static int64_t time_of(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    return (int64_t)strtoll(hex, NULL, 16);
}

static void test_format_and_bits(void **state)
{
    char id[IDS_UUID_LEN];
    int64_t before = ids_now_ms();
    ids_uuid7(id);
    int64_t after = ids_now_ms();
    assert_int_equal(strlen(id), 36);
    assert_true(ids_is_uuid(id));
    assert_int_equal(id[14], '7');                  /* version */
    assert_non_null(strchr("89ab", id[19]));        /* variant 10 */
    int64_t t = time_of(id);
    assert_true(t >= before && t <= after + 1);
    for (const char *p = id; *p; p++)
        assert_true(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
}

static void test_monotonic_and_unique(void **state)
{
    enum { N = 20000 };
    char (*ids)[IDS_UUID_LEN] = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++)
        ids_uuid7(ids[i]);
    for (int i = 1; i < N; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) < 0);
    free(ids);
}

static void test_derived(void **state)
{
    char a[IDS_UUID_LEN], b[IDS_UUID_LEN], c[IDS_UUID_LEN], d[IDS_UUID_LEN];
    ids_uuid7_derived(a, 1700000000123, "event-1/alert-0");
    ids_uuid7_derived(b, 1700000000123, "event-1/alert-0");
    ids_uuid7_derived(c, 1700000000123, "event-1/alert-1");
    ids_uuid7_derived(d, 1700000000124, "event-1/alert-0");
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_true(ids_is_uuid(a));
    assert_int_equal(a[14], '7');
    assert_non_null(strchr("89ab", a[19]));
    assert_int_equal(time_of(a), 1700000000123);
    assert_string_equal(a + 19, d + 19); /* same seed: same random part */
}

static void test_is_uuid(void **state)
{
    assert_true(ids_is_uuid("01890a5d-ac96-774b-bcce-b302099a8057"));
    assert_true(ids_is_uuid("01890A5D-AC96-774B-BCCE-B302099A8057"));
    assert_false(ids_is_uuid(NULL));
    assert_false(ids_is_uuid(""));
    assert_false(ids_is_uuid("01890a5d-ac96-774b-bcce-b302099a805"));
    assert_false(ids_is_uuid("01890a5d-ac96-774b-bcce-b302099a80577"));
    assert_false(ids_is_uuid("01890a5dxac96-774b-bcce-b302099a8057"));
    assert_false(ids_is_uuid("01890a5d-ac96-774b-bcce-b302099a805g"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_bits),
        cmocka_unit_test(test_monotonic_and_unique),
        cmocka_unit_test(test_derived),
        cmocka_unit_test(test_is_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
