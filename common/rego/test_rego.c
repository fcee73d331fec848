/* Unit tests for the Rego engine: parse errors, v0/v1 evaluation, with, every,
 * conflicts, step limits, prepared queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rego/rego.h"

static rego_policy *compile1(const char *src, rego_syntax syn, rego_error *err)
{
    rego_module_src m = {.name = "p.rego", .source = src, .syntax = syn};
    return rego_compile(&m, 1, syn, err);
}

/* evaluates query, returns compact JSON of the result set (caller frees) or NULL */
static char *eval_text(rego_policy *pol, const char *query, const char *input, rego_error *err)
{
    rv *rs = NULL;
    rego_options opts = {.max_steps = 100000};
    if (rego_eval_json(pol, query, input, NULL, &opts, &rs, err) < 0) return NULL;
    char *t = rv_to_json_text(rs);
    rv_unref(rs);
    return t;
}

static void test_parse_error_position(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package x\n\np if {\n  1 +\n}\n", REGO_SYNTAX_V1, &err);
    assert_null(pol);
    assert_string_equal(err.code, "rego_parse_error");
    assert_int_equal(err.line, 5);
    assert_non_null(strstr(err.message, "p.rego:5:"));
}

static void test_v1_policy(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package t\n"
                                "import rego.v1\n"
                                "default allow := false\n"
                                "allow if input.user == \"alice\"\n"
                                "deny contains msg if {\n"
                                "  some r in input.roles\n"
                                "  r == \"guest\"\n"
                                "  msg := sprintf_free(r)\n"
                                "}\n"
                                "sprintf_free(r) := concat_free if concat_free := r\n",
                                REGO_SYNTAX_AUTO, &err);
    assert_non_null(pol);
    char *t = eval_text(pol, "x := data.t.allow", "{\"user\":\"alice\"}", &err);
    assert_string_equal(t, "[{\"x\":true}]");
    free(t);
    t = eval_text(pol, "x := data.t.allow", "{\"user\":\"bob\"}", &err);
    assert_string_equal(t, "[{\"x\":false}]");
    free(t);
    t = eval_text(pol, "x := data.t.deny", "{\"roles\":[\"guest\",\"admin\"]}", &err);
    assert_string_equal(t, "[{\"x\":[\"guest\"]}]");
    free(t);
    rego_policy_free(pol);
}

static void test_v0_policy(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package t\n"
                                "deny[msg] { input.x > 1; msg := \"big\" }\n"
                                "p = 7 { true }\n"
                                "f(x) = y { y := x * 2 }\n"
                                "obj[k] = v { v := input.m[k] }\n",
                                REGO_SYNTAX_V0, &err);
    assert_non_null(pol);
    char *t = eval_text(pol, "a := data.t.deny; b := data.t.p; c := data.t.f(4); d := data.t.obj",
                        "{\"x\":2,\"m\":{\"q\":1}}", &err);
    assert_string_equal(t, "[{\"a\":[\"big\"],\"b\":7,\"c\":8,\"d\":{\"q\":1}}]");
    free(t);
    rego_policy_free(pol);
}

static void test_with_and_every(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package t\n"
                                "all_pos if every x in input.xs { x > 0 }\n"
                                "q if { all_pos with input.xs as [1, 2] }\n"
                                "r if { all_pos with input.xs as [1, -2] }\n",
                                REGO_SYNTAX_V1, &err);
    assert_non_null(pol);
    char *t = eval_text(pol, "x := data.t.q", NULL, &err);
    assert_string_equal(t, "[{\"x\":true}]");
    free(t);
    t = eval_text(pol, "x := data.t.r", NULL, &err);
    assert_string_equal(t, "[]");
    free(t);
    rego_policy_free(pol);
}

static void test_conflict(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package t\np := 1\np := 2\n", REGO_SYNTAX_V1, &err);
    assert_non_null(pol);
    char *t = eval_text(pol, "x := data.t.p", NULL, &err);
    assert_null(t);
    assert_string_equal(err.code, "eval_conflict_error");
    assert_non_null(strstr(err.message, "complete rules must not produce multiple outputs"));
    rego_policy_free(pol);
}

static void test_unsafe_and_recursion(void **state)
{
    (void)state;
    rego_error err;
    assert_null(compile1("package t\np if { x > 1 }\n", REGO_SYNTAX_V1, &err));
    assert_string_equal(err.code, "rego_unsafe_var_error");
    assert_non_null(strstr(err.message, "var x is unsafe"));
    assert_null(compile1("package t\np if q\nq if p\n", REGO_SYNTAX_V1, &err));
    assert_string_equal(err.code, "rego_recursion_error");
}

static void test_step_limit(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package t\np := count([x | some x in numbers.range(1, 100000)])\n",
                                REGO_SYNTAX_V1, &err);
    assert_non_null(pol);
    char *t = eval_text(pol, "x := data.t.p", NULL, &err);
    assert_null(t);
    assert_string_equal(err.code, "eval_limit_error");
    rego_policy_free(pol);
}

static void test_prepared_query(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package t\nallow if input.n > 3\n", REGO_SYNTAX_V1, &err);
    rego_query *q = rego_query_prepare(pol, "data.t.allow", &err);
    assert_non_null(q);
    for (int i = 0; i < 10; i++) {
        rv *in = rv_object_new(1), *rs = NULL;
        rv_object_set(in, rv_cstring("n"), rv_int(i));
        assert_int_equal(rego_query_eval(q, in, NULL, NULL, &rs, &err), 0);
        assert_int_equal(rv_len(rs), i > 3 ? 1 : 0);
        rv_unref(rs);
        rv_unref(in);
    }
    rego_query_free(q);
    rego_policy_free(pol);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_error_position), cmocka_unit_test(test_v1_policy),
        cmocka_unit_test(test_v0_policy),            cmocka_unit_test(test_with_and_every),
        cmocka_unit_test(test_conflict),             cmocka_unit_test(test_unsafe_and_recursion),
        cmocka_unit_test(test_step_limit),           cmocka_unit_test(test_prepared_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
