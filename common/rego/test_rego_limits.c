/* Unit tests for the Rego engine's evaluation limits (steps, memory: hostile policies
 * must stop with eval_limit_error instead of hanging or exhausting memory), the
 * regressions found by fuzzing (fuzz/regressions) and by the differential test
 * against OPA (tests/rego-diff), the `opa eval`-style capture API and rule listing
 * used by `hutchctl policy`, and compile error positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rego/rego.h"

static rego_policy *compile1(const char *src, rego_error *err)
{
    rego_module_src m = {.name = "p.rego", .source = src, .syntax = REGO_SYNTAX_AUTO};
    return rego_compile(&m, 1, REGO_SYNTAX_V1, err);
}

/* Result set as compact JSON (NEW) or NULL with *err; limits as given. */
static char *run(rego_policy *pol, const char *query, const char *input, uint64_t steps, size_t mem, rego_error *err)
{
    rv *rs = NULL;
    rego_options opts = {.max_steps = steps, .max_memory = mem};
    if (rego_eval_json(pol, query, input, NULL, &opts, &rs, err) < 0) return NULL;
    char *t = rv_to_json_text(rs);
    rv_unref(rs);
    return t;
}

static void expect(const char *src, const char *query, const char *input, const char *want)
{
    rego_error err;
    memset(&err, 0, sizeof err);
    rego_policy *pol = compile1(src, &err);
    if (!pol) fail_msg("compile: %s", err.message);
    char *t = run(pol, query, input, 1000000, 64 << 20, &err);
    if (!t) fail_msg("eval: %s", err.message);
    if (strcmp(t, want) != 0) fail_msg("%s: got %s, want %s", query, t, want);
    free(t);
    rego_policy_free(pol);
}

/* The evaluation must stop with eval_limit_error (message containing what). */
static void expect_limit(const char *src, uint64_t steps, size_t mem, const char *what)
{
    rego_error err;
    memset(&err, 0, sizeof err);
    rego_policy *pol = compile1(src, &err);
    if (!pol) fail_msg("compile: %s", err.message);
    char *t = run(pol, "x := data.l.r", NULL, steps, mem, &err);
    if (t) fail_msg("evaluated to %s", t);
    assert_string_equal(err.code, "eval_limit_error");
    if (!strstr(err.message, what)) fail_msg("message %s lacks %s", err.message, what);
    rego_policy_free(pol);
}

/* ------------------------------------------------------------ limits */

static void test_limit_huge_range(void **state)
{
    (void)state;
    expect_limit("package l\nimport rego.v1\nr := count(numbers.range(1, 100000000))\n", 0, 64 << 20,
                 "numbers.range: result would exceed the evaluation's memory limit");
}

static void test_limit_string_doubling(void **state)
{
    (void)state;
    char src[4096];
    int n = snprintf(src, sizeof src, "package l\nimport rego.v1\ns0 := \"aaaaaaaaaaaaaaaa\"\n");
    for (int i = 1; i < 40; i++)
        n += snprintf(src + n, sizeof src - (size_t)n, "s%d := concat(\"\", [s%d, s%d])\n", i, i - 1, i - 1);
    snprintf(src + n, sizeof src - (size_t)n, "r := count(s39)\n");
    expect_limit(src, 0, 64 << 20, "memory limit");
}

static void test_limit_array_doubling(void **state)
{
    (void)state;
    char src[4096];
    int n = snprintf(src, sizeof src, "package l\nimport rego.v1\na0 := [1, 2, 3, 4]\n");
    for (int i = 1; i < 40; i++)
        n += snprintf(src + n, sizeof src - (size_t)n, "a%d := array.concat(a%d, a%d)\n", i, i - 1, i - 1);
    snprintf(src + n, sizeof src - (size_t)n, "r := count(a39)\n");
    expect_limit(src, 0, 64 << 20, "memory limit");
}

static void test_limit_replace_bombs(void **state)
{
    (void)state;
    const char *pre = "package l\nimport rego.v1\ns := sprintf(\"%099999d\", [1])\n";
    const char *bodies[] = {
        "r := count(replace(s, \"0\", s))\n",
        "r := count(regex.replace(s, \"0\", s))\n",
        "r := count(strings.replace_n({\"0\": s}, s))\n",
        "r := count(concat(\"\", [s | some i in numbers.range(1, 5000)]))\n",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        char src[512];
        snprintf(src, sizeof src, "%s%s", pre, bodies[i]);
        expect_limit(src, 0, 16 << 20, "memory limit");
    }
}

/* values of shared subtrees: tiny in memory, exponential as text or when walked */
static void test_limit_shared_subtrees(void **state)
{
    (void)state;
    char base[4096];
    int n = snprintf(base, sizeof base, "package l\nimport rego.v1\nx0 := [1, 2, 3, 4]\n");
    for (int i = 1; i < 40; i++)
        n += snprintf(base + n, sizeof base - (size_t)n, "x%d := [x%d, x%d]\n", i, i - 1, i - 1);
    const char *rules[] = {"r := count(json.marshal(x39))\n", "r := count(sprintf(\"%v\", [x39]))\n",
                           "r := count([p | walk(x39, [p, _])])\n"};
    for (size_t i = 0; i < 3; i++) {
        char src[4600];
        snprintf(src, sizeof src, "%s%s", base, rules[i]);
        expect_limit(src, 0, 16 << 20, "memory limit");
    }
    /* equality of such values is cheap (shared pointers) and must stay defined */
    char src[4600];
    snprintf(src, sizeof src, "%sr := x39 == [x38, x38]\n", base);
    expect(src, "x := data.l.r", NULL, "[{\"x\":true}]");
}

static void test_limit_steps_nested_comprehensions(void **state)
{
    (void)state;
    expect_limit("package l\nimport rego.v1\n"
                 "r := [x | some x in numbers.range(1, 5000); y := [z | some z in numbers.range(1, 5000); z > x]]\n",
                 100000, 0, "step limit");
}

/* ------------------------------------------------------------ fuzz regressions */

/* fuzz/regressions/fuzz_eval_policy/complete-then-object-rule: NULL object */
/* `some v in coll` + a builtin test (the fused loop of eval.c) accounts steps and
 * memory like the general path, and gives the same answer with limits set. */
static void test_limit_fused_loop(void **state)
{
    (void)state;
    const char *src = "package l\nimport rego.v1\n"
                      "b := concat(\"\", [\"0123456789\" | some _ in numbers.range(1, 10000)])\n"
                      "xs := [concat(\"\", [b, format_int(i, 10)]) | some i in numbers.range(1, 100)]\n"
                      "r := count([v | some v in xs; upper(v)])\n";
    expect_limit(src, 0, 15 << 20, "memory limit");
    expect(src, "x := data.l.r", NULL, "[{\"x\":100}]");
    const char *steps = "package l\nimport rego.v1\n"
                        "xs := [format_int(i, 10) | some i in numbers.range(1, 5000)]\n"
                        "r := count([v | some v in xs; startswith(v, \"1\")])\n";
    expect_limit(steps, 15000, 0, "step limit");
    expect(steps, "x := data.l.r", NULL, "[{\"x\":1111}]");
}

static void test_fuzz_complete_then_object_rule(void **state)
{
    (void)state;
    /* (once a crash at evaluation; OPA rejects the pair at compile time) */
    rego_error err;
    assert_null(compile1("package f\np = strings.replace_n({2: \"x\" | true}, \"foo\")\np[0] = true\n", &err));
    assert_string_equal(err.code, "rego_type_error");
    assert_non_null(strstr(err.message, "rule data.f.p conflicts with:\n  rule data.f.p[0] at p.rego:3"));
}

/* fuzz/regressions/fuzz_eval_policy/walk-without-argument: a NULL dereference (walk,
 * like the membership calls, skipped the arity check of ordinary builtins) */
static void test_fuzz_walk_arity(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package f\nx := walk()\n", &err);
    rv *rs = NULL;
    if (pol) /* reported when compiling (as OPA does) or, at the latest, when evaluating */
        assert_int_equal(rego_eval(pol, "x := data.f.x", NULL, NULL, NULL, &rs, &err), -1);
    assert_string_equal(err.code, "rego_type_error");
    assert_non_null(strstr(err.message, "walk: arity mismatch"));
    rego_policy_free(pol);
}

/* fuzz/regressions/fuzz_eval_input/format-int-huge-exponent: signed overflow, then
 * minutes of quadratic base conversion */
static void test_fuzz_format_int_huge(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package f\nimport rego.v1\nr := format_int(input.n, 16)\n", &err);
    assert_non_null(pol);
    char *t = run(pol, "x := data.f", "{\"n\": 3.2e308222222222222222222}", 100000, 0, &err);
    assert_string_equal(t, "[{\"x\":{}}]");
    free(t);
    rv *rs = NULL;
    rego_options strict = {.strict_builtin_errors = true};
    assert_int_equal(rego_eval_json(pol, "x := data.f.r", "{\"n\": 1e99999}", NULL, &strict, &rs, &err), -1);
    assert_non_null(strstr(err.message, "format_int: operand 1 is too large"));
    t = run(pol, "x := data.f.r", "{\"n\": 255.9}", 100000, 0, &err);
    assert_string_equal(t, "[{\"x\":\"ff\"}]");
    free(t);
    rego_policy_free(pol);
}

/* fuzz/regressions/fuzz_parse/with-target-parse-error-leak (a leak: ASan/LSan) */
static void test_fuzz_with_parse_error(void **state)
{
    (void)state;
    rego_error err;
    assert_null(
        compile1("package g\np = x {\n  x := data.a with input.foo as \"x\" with input.foo.barunits.parse_bytes( as "
                 "\"y\"\n}\n",
                 &err));
    assert_string_equal(err.code, "rego_parse_error");
}

/* fuzz/regressions/fuzz_parse/deep-bracket-nesting: stack overflow */
static void test_fuzz_deep_nesting(void **state)
{
    (void)state;
    char src[8192];
    int n = snprintf(src, sizeof src, "package d\nimport rego.v1\np := ");
    for (int i = 0; i < 3000; i++) src[n++] = '[';
    src[n] = 0;
    rego_error err;
    assert_null(compile1(src, &err));
    assert_string_equal(err.code, "rego_parse_error");
    assert_non_null(strstr(err.message, "nested too deeply"));
    /* 100 levels are fine */
    n = snprintf(src, sizeof src, "package d\nimport rego.v1\np := ");
    for (int i = 0; i < 100; i++) src[n++] = '[';
    for (int i = 0; i < 100; i++) src[n++] = ']';
    src[n] = 0;
    rego_policy *pol = compile1(src, &err);
    assert_non_null(pol);
    rego_policy_free(pol);
}

/* fuzz/regressions/fuzz_eval_policy/else-on-set-rule: NULL value; OPA's parse errors */
static void test_fuzz_else_on_multi_value_rule(void **state)
{
    (void)state;
    rego_error err;
    assert_null(compile1("package f\nimport rego.v1\ns contains 1 if false else := 2\n", &err));
    assert_string_equal(err.message, "p.rego:3:23: rego_parse_error: else keyword cannot be used on multi-value rules");
    assert_null(compile1("package f\nimport rego.v1\ns[k] := 1 if { k := 1; false } else := 2\n", &err));
    assert_non_null(strstr(err.message, "else keyword cannot be used on rules with variables in head"));
}

/* fuzz/regressions/fuzz_eval_input/units-parse-bytes-huge-exponent: minutes in BN_bn2dec */
static void test_fuzz_units_huge_exponent(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package u\nimport rego.v1\nr := units.parse_bytes(input)\n", &err);
    assert_non_null(pol);
    rv *rs = NULL;
    rego_options strict = {.strict_builtin_errors = true};
    assert_int_equal(rego_eval_json(pol, "x := data.u.r", "\"034.216e730855\"", NULL, &strict, &rs, &err), -1);
    assert_non_null(strstr(err.message, "exponent too large"));
    char *t = run(pol, "x := data.u.r", "\"1.5KiB\"", 1000, 0, &err);
    assert_string_equal(t, "[{\"x\":1536}]");
    free(t);
    rego_policy_free(pol);
}

/* fuzz/regressions/fuzz_parse/function-mocked-by-itself: stack overflow under ASan */
static void test_fuzz_self_mock_recursion(void **state)
{
    (void)state;
    rego_error err;
    rego_module_src m = {.name = "p.rego",
                         .source =
                             "package test\n\nf() {\n  q with time.now_ns as f\n}\nq {\n  time.now_ns() == 2\n}\n",
                         .syntax = REGO_SYNTAX_V0};
    rego_policy *pol = rego_compile(&m, 1, REGO_SYNTAX_V0, &err);
    assert_non_null(pol);
    rv *rs = NULL;
    assert_int_equal(rego_eval(pol, "x := data.test", NULL, NULL, NULL, &rs, &err), -1);
    assert_true(strcmp(err.code, "rego_recursion_error") == 0 || strcmp(err.code, "eval_limit_error") == 0);
    rego_policy_free(pol);
}

/* fuzz/regressions/fuzz_eval_policy/long-call-name: names longer than the parser's and
 * compiler's buffers were read (and written) past them */
static void test_fuzz_long_names(void **state)
{
    (void)state;
    char name[1200], src[8192];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = 0;
    rego_error err;
    snprintf(src, sizeof src, "package t\nimport rego.v1\np if %s.%s.match(\"x\")\n", name, name);
    assert_null(compile1(src, &err));
    assert_string_equal(err.code, "rego_parse_error");
    assert_non_null(strstr(err.message, "function name too long"));
    snprintf(src, sizeof src, "package %s.%s\nimport rego.v1\np := 1\n", name, name);
    assert_null(compile1(src, &err));
    assert_non_null(strstr(err.message, "package name too long"));
    name[300] = 0;
    snprintf(src, sizeof src, "package t\nimport rego.v1\nimport data.%s.%s as z\np := 1 if { z.q with %s.%s as 1 }\n",
             name, name, name, name);
    rego_policy *pol = compile1(src, &err); /* may or may not compile: must not overflow */
    rego_policy_free(pol);
}

/* ------------------------------------------------------------ OPA divergences */

/* OPA evaluates refs and calls among a negated call's arguments outside the `not`
 * (opa#1877), while `=`/`==` keep their operand refs inside. */
static void test_not_hoists_dynamic_terms(void **state)
{
    (void)state;
    const char *src = "package d\nimport rego.v1\n"
                      "a if not startswith(input.x, \"a\")\n"
                      "b if not input.x == \"a\"\n"
                      "c if not lower(input.x) == \"a\"\n"
                      "d if not input.x in {\"a\"}\n"
                      "e if not input.arr[input.i]\n"
                      "g if not input.x\n";
    expect(src, "x := data.d", "{}", "[{\"x\":{\"b\":true,\"g\":true}}]");
    expect(src, "x := data.d", "{\"x\":\"b\",\"arr\":[true],\"i\":5}",
           "[{\"x\":{\"a\":true,\"b\":true,\"c\":true,\"d\":true,\"e\":true}}]");
}

static void test_else_after_undefined_value(void **state)
{
    (void)state;
    expect("package h\nimport rego.v1\n"
           "a := input.x if true else := 2\n"
           "b := count(input.x) if true else := 2\n"
           "f(v) := count(input.x) if true else := v\n"
           "c := f(5)\n",
           "x := data.h", "{}", "[{\"x\":{\"a\":2,\"b\":2,\"c\":5}}]");
}

static void test_not_bracket_negation(void **state)
{
    (void)state;
    expect("package n\nimport rego.v1\np if not [1, 2] == input.x\nq if not (input.y)\n", "x := data.n", "{\"x\":[1]}",
           "[{\"x\":{\"p\":true,\"q\":true}}]");
}

static void test_numeric_quirks(void **state)
{
    (void)state;
    expect("package m\nimport rego.v1\n"
           "a := [ceil(-0.5), floor(-0.4), ceil(0.03), floor(-2.5), ceil(-1.9), round(-0.5)]\n"
           "b := [bits.and(0, 12345678901234567890), bits.xor(-1, 12345678901234567890),"
           " bits.negate(12345678901234567890)]\n"
           "c := sprintf(\"%s|%d|%v|%d|%q\", [7, 1e3, 1E2, 2.5, 12345678901234567890])\n",
           "x := data.m", NULL,
           "[{\"x\":{\"a\":[1,0,1,-3,-1,-1],\"b\":[0,-12345678901234567891,-12345678901234567891],"
           "\"c\":\"%!s(int64=7)|%!d(string=1e3)|1E2|%!d(float64=2.5)|%!q(big.Int=12345678901234567890)\"}}]");
}

/* ------------------------------------------------------------ API */

static void test_capture_api(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1("package p\nimport rego.v1\ndefault allow := false\nxs := [1, 2]\n", &err);
    assert_non_null(pol);
    rego_query_expr *ex = NULL;
    size_t n = 0;
    rego_query *q = rego_query_prepare_capture(pol, "data.p.allow", &ex, &n, &err);
    assert_non_null(q);
    assert_int_equal(n, 1);
    assert_true(ex[0].captured);
    rv *rs = NULL;
    assert_int_equal(rego_query_eval(q, NULL, NULL, NULL, &rs, &err), 0);
    char *t = rv_to_json_text(rs);
    assert_string_equal(t, "[{\"$0\":false}]"); /* a lone false is defined */
    free(t);
    rv_unref(rs);
    rego_query_free(q);
    free(ex);

    q = rego_query_prepare_capture(pol, "x := data.p.xs[i];\n  not data.p.allow; data.p.allow", &ex, &n, &err);
    assert_non_null(q);
    assert_int_equal(n, 3);
    assert_false(ex[0].captured);
    assert_false(ex[1].captured);
    assert_int_equal(ex[1].line, 2);
    assert_int_equal(ex[1].col, 3); /* at `not`, not after it */
    assert_true(ex[2].captured);
    assert_int_equal(rego_query_eval(q, NULL, NULL, NULL, &rs, &err), 0);
    assert_int_equal(rv_len(rs), 0); /* several expressions: false fails */
    rv_unref(rs);
    rego_query_free(q);
    free(ex);

    assert_null(rego_query_prepare_capture(pol, "x := 1; y := z", &ex, &n, &err));
    assert_null(ex);
    assert_string_equal(err.code, "rego_unsafe_var_error");
    assert_non_null(strstr(err.message, "var z is unsafe"));
    rego_policy_free(pol);
}

static void test_rule_listing(void **state)
{
    (void)state;
    rego_error err;
    rego_module_src m[2] = {
        {.name = "a.rego", .source = "package a\nimport rego.v1\nallow if true\n"},
        {.name = "a_test.rego",
         .source = "package a\nimport rego.v1\ntest_x if data.a.allow\ntest_f(x) := x\ndefault test_d := true\n"},
    };
    rego_policy *pol = rego_compile(m, 2, REGO_SYNTAX_V1, &err);
    assert_non_null(pol);
    rego_rule_info *r = NULL;
    size_t n = rego_policy_rules(pol, &r);
    assert_int_equal(n, 4);
    assert_string_equal(r[0].path, "data.a.allow");
    assert_string_equal(r[1].path, "data.a.test_x");
    assert_string_equal(r[1].file, "a_test.rego");
    assert_int_equal(r[1].line, 3);
    assert_true(r[2].is_function);
    assert_true(r[3].is_default);
    free(r);
    rego_policy_free(pol);
}

static void test_error_positions(void **state)
{
    (void)state;
    rego_error err;
    assert_null(compile1("package t\nimport rego.v1\np if {\n  x\n}\n", &err));
    assert_string_equal(err.message, "p.rego:4:3: rego_unsafe_var_error: var x is unsafe");
    assert_int_equal(err.col, 3);
    assert_null(compile1("package t\nimport rego.v1\np if foo(1)\n", &err));
    assert_string_equal(err.message, "p.rego:3:6: rego_type_error: undefined function foo");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_huge_range),
        cmocka_unit_test(test_limit_string_doubling),
        cmocka_unit_test(test_limit_array_doubling),
        cmocka_unit_test(test_limit_replace_bombs),
        cmocka_unit_test(test_limit_shared_subtrees),
        cmocka_unit_test(test_limit_steps_nested_comprehensions),
        cmocka_unit_test(test_limit_fused_loop),
        cmocka_unit_test(test_fuzz_complete_then_object_rule),
        cmocka_unit_test(test_fuzz_walk_arity),
        cmocka_unit_test(test_fuzz_format_int_huge),
        cmocka_unit_test(test_fuzz_with_parse_error),
        cmocka_unit_test(test_fuzz_deep_nesting),
        cmocka_unit_test(test_fuzz_else_on_multi_value_rule),
        cmocka_unit_test(test_fuzz_units_huge_exponent),
        cmocka_unit_test(test_fuzz_self_mock_recursion),
        cmocka_unit_test(test_fuzz_long_names),
        cmocka_unit_test(test_not_hoists_dynamic_terms),
        cmocka_unit_test(test_else_after_undefined_value),
        cmocka_unit_test(test_not_bracket_negation),
        cmocka_unit_test(test_numeric_quirks),
        cmocka_unit_test(test_capture_api),
        cmocka_unit_test(test_rule_listing),
        cmocka_unit_test(test_error_positions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
