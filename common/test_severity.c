/* Unit tests of common/severity.c: levels, scores and the normaliser's hints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/severity.h"

static int hint(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    assert_non_null(j);
    int h = severity_score_from_json(j, NULL, 0);
    json_decref(j);
    return h;
}

static void test_hints(void **state)
{
    assert_int_equal(hint("{\"detail\":{\"severity\":5}}"), 50); /* GuardDuty 0-10 */
    assert_int_equal(hint("{\"severity\":8.9}"), 89);
    assert_int_equal(hint("{\"Severity\":{\"Label\":\"HIGH\",\"Normalized\":70}}"), 70);
    assert_int_equal(hint("{\"Severity\":{\"Label\":\"CRITICAL\"}}"), 90);
    assert_int_equal(hint("{\"priority\":\"Warning\",\"output\":\"x\"}"), 40); /* Falco */
    assert_int_equal(hint("{\"priority\":1}"), -1);
    assert_int_equal(hint("{\"severity\":\"low\",\"x\":[{\"severity\":\"High\"}]}"), 70);
    assert_int_equal(hint("{\"severity\":\"7\"}"), 70);
    assert_int_equal(hint("{\"severity\":\"bogus\",\"level\":12}"), -1);
    assert_int_equal(hint("{\"severity\":500}"), -1);
    assert_int_equal(hint("[1,2]"), -1);
}

static void test_levels(void **state)
{
    /* GuardDuty's bands times ten, and ASFF's Normalized bands */
    assert_int_equal(severity_from_score(0), SEVERITY_INFO);
    assert_int_equal(severity_from_score(9.9), SEVERITY_INFO);
    assert_int_equal(severity_from_score(20), SEVERITY_LOW);
    assert_int_equal(severity_from_score(39), SEVERITY_LOW);
    assert_int_equal(severity_from_score(50), SEVERITY_MEDIUM);
    assert_int_equal(severity_from_score(80), SEVERITY_HIGH);
    assert_int_equal(severity_from_score(89.9), SEVERITY_HIGH);
    assert_int_equal(severity_from_score(90), SEVERITY_CRITICAL);
    assert_int_equal(severity_from_score(-1), SEVERITY_INFO);
    for (int l = SEVERITY_INFO; l <= SEVERITY_CRITICAL; l++) {
        /* a level's own score maps back to it, and its name parses back */
        assert_int_equal(severity_from_score(severity_score((severity_level)l)), l);
        severity_level back;
        assert_int_equal(severity_parse(severity_name((severity_level)l), &back), 0);
        assert_int_equal(back, l);
        assert_int_equal(severity_rank(severity_name((severity_level)l)), l);
    }
    severity_level x;
    assert_int_equal(severity_parse("High", &x), -1);
    assert_int_equal(severity_parse(NULL, &x), -1);
    assert_int_equal(severity_rank("urgent"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hints),
        cmocka_unit_test(test_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
