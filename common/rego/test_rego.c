/* Unit tests for the Rego engine: parse errors, v0/v1 evaluation, with, every,
 * conflicts, step limits, prepared queries, the evaluator's fast paths and
 * concurrent evaluation of one prepared query. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
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

/* Compile-time errors OPA v1.19.0 reports (`opa check --format json`): code, text
 * and position line:col (col 0: not compared). */
/* Case i must fail to compile with code, a message containing text, at line and
 * (when col is not 0) col. */
static void expect_compile_error(size_t i, const char *src, rego_syntax syn, const char *code, const char *text,
                                 int line, int col)
{
    rego_error err;
    rego_policy *pol = compile1(src, syn, &err);
    if (pol) {
        rego_policy_free(pol);
        fail_msg("case %zu compiled: %s", i, src);
    }
    if (strcmp(err.code, code) != 0 || !strstr(err.message, text) || err.line != line || (col && err.col != col))
        fail_msg("case %zu: got %s at %d:%d: %s", i, err.code, err.line, err.col, err.message);
}

/* Every source compiles (as v1). */
static void expect_compiles(const char *const *srcs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rego_error err;
        rego_policy *pol = compile1(srcs[i], REGO_SYNTAX_V1, &err);
        if (!pol) fail_msg("ok case %zu rejected: %s", i, err.message);
        rego_policy_free(pol);
    }
}

static void test_compile_errors_like_opa(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        rego_syntax syn;
        const char *code, *text;
        int line, col;
    } cases[] = {
        /* unsafe vars inside `not` (a negated expression binds nothing) */
        {"package t\np if {\n  x := [1]\n  not x[_] == 2\n}\n", REGO_SYNTAX_V1, "rego_unsafe_var_error",
         "var _ is unsafe", 4, 3},
        {"package t\np if {\n  not q[x]\n}\nq := [1]\n", REGO_SYNTAX_V1, "rego_unsafe_var_error", "var x is unsafe", 3,
         3},
        {"package t\nq { not _ = 1 }\n", REGO_SYNTAX_V0, "rego_unsafe_var_error", "var _ is unsafe", 2, 5},
        {"package t\np if {\n  1 < y\n}\n", REGO_SYNTAX_V1, "rego_unsafe_var_error", "var y is unsafe", 3, 3},
        /* redeclared vars */
        {"package t\np if {\n  x := 1\n  y := 2\n  x := 3\n}\n", REGO_SYNTAX_V1, "rego_compile_error",
         "var x assigned above", 5, 3},
        {"package t\np if { [a, a] := [1, 1] }\n", REGO_SYNTAX_V1, "rego_compile_error", "var a assigned above", 2, 12},
        {"package t\np if { some x; x := 1 }\n", REGO_SYNTAX_V1, "rego_compile_error", "var x declared above", 2, 16},
        {"package t\np if { x := 1; some x in [1] }\n", REGO_SYNTAX_V1, "rego_compile_error", "var x assigned above", 2,
         16},
        {"package t\np { x = 1; x := 2 }\n", REGO_SYNTAX_V0, "rego_compile_error", "var x referenced above", 2, 12},
        {"package t\nf(x) := y if { x := 1; y := 2 }\n", REGO_SYNTAX_V1, "rego_compile_error", "arg x redeclared", 2,
         16},
        {"package t\np if { every x in [1] { x := 2 } }\n", REGO_SYNTAX_V1, "rego_compile_error",
         "var x declared above", 2, 25},
        {"package t\np if { x := 1 } else := 2 if { x := 1; x := 3 }\n", REGO_SYNTAX_V1, "rego_compile_error",
         "var x assigned above", 2, 40},
        {"package t\np if { x := 1; not x := 2 }\n", REGO_SYNTAX_V1, "rego_compile_error",
         "cannot assign vars inside negated expression", 2, 16},
        {"package t\np if { input := 1 }\n", REGO_SYNTAX_V1, "rego_compile_error",
         "variables must not shadow input (use a different variable name)", 2, 8},
        {"package t\ndata := 1\n", REGO_SYNTAX_V1, "rego_compile_error",
         "rules must not shadow data (use a different rule name)", 2, 1},
        /* conflicting rules */
        {"package t\np = 1\np[0] = true\n", REGO_SYNTAX_V1, "rego_type_error",
         "rule data.t.p conflicts with:\n  rule data.t.p[0] at p.rego:3", 2, 1},
        {"package t\np[0] = true\np = 1\n", REGO_SYNTAX_V1, "rego_type_error",
         "rule data.t.p conflicts with:\n  rule data.t.p[0] at p.rego:2", 3, 1},
        {"package t\np := 1\np.a := 2 if input.x\np.a := 3\np[1] := 3\np[true] := 3\np[\"x y\"] := 4\n", REGO_SYNTAX_V1,
         "rego_type_error",
         "rule data.t.p conflicts with:\n  rule data.t.p[true] at p.rego:6\n  rule data.t.p[1] at p.rego:5\n"
         "  rule data.t.p.a at p.rego:3\n  rule data.t.p[\"x y\"] at p.rego:7",
         2, 1},
        {"package t\np contains 1\np.q := 1\n", REGO_SYNTAX_V1, "rego_type_error",
         "rule data.t.p conflicts with:\n  rule data.t.p.q at p.rego:3", 2, 1},
        {"package t\nq := 5\nq[x] if { x := 1 }\n", REGO_SYNTAX_V1, "rego_type_error",
         "conflicting rules data.t.q[x] found", 2, 1},
        {"package t\np[0] := 1\np[0] contains 2\n", REGO_SYNTAX_V1, "rego_type_error",
         "conflicting rules data.t.p[0] found", 2, 1},
        {"package t\nf(x) := 1\nf := 2\n", REGO_SYNTAX_V1, "rego_type_error", "conflicting rules data.t.f found", 2, 1},
        /* imports, default values, calls */
        {"package t\nimport data.foo as x\nimport data.bar as x\np := 1\n", REGO_SYNTAX_V1, "rego_compile_error",
         "import must not shadow import data.foo as x", 3, 1},
        {"package t\nimport input.foo\nimport data.foo\np := 1\n", REGO_SYNTAX_V1, "rego_compile_error",
         "import must not shadow import input.foo", 3, 1},
        {"package t\ndefault p := input.x\n", REGO_SYNTAX_V1, "rego_parse_error",
         "illegal default rule (value cannot contain ref)", 2, 1},
        {"package t\ndefault p := [x]\n", REGO_SYNTAX_V1, "rego_parse_error",
         "illegal default rule (value cannot contain var)", 2, 1},
        {"package t\ndefault p := count([])\n", REGO_SYNTAX_V1, "rego_parse_error",
         "illegal default rule (value cannot contain call)", 2, 1},
        {"package t\np if count()\n", REGO_SYNTAX_V1, "rego_type_error", "count: arity mismatch", 2, 6},
        {"package t\np if { g(1) }\n", REGO_SYNTAX_V1, "rego_type_error", "undefined function g", 2, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_compile_error(i, cases[i].src, cases[i].syn, cases[i].code, cases[i].text, cases[i].line, cases[i].col);
    /* and what OPA accepts */
    static const char *const ok[] = {
        "package t\np if { x := 1; y := [x | x := 2] }\n",
        "package t\np if { some x, x in [1] }\n",
        "package t\np if { x := 1; x = 1 }\n",
        "package t\np if { _ := 1; _ := 2 }\n",
        "package t\nf(x, x) := 1\np if { x := 1; f(x, x) }\n",
        "package t\np if { x := 1 } else := 2 if { x := 1 }\n",
        "package t\np if { x := [1]; not x[0] == 2 }\n",
        "package t\np.q[r].s := 1 if { r := \"a\" }\np.q.r := 2\n",
        "package t\ndefault p := {\"a\": [1, -2.5, null]}\n",
        "package t\nimport data.foo\nimport data.bar\np := 1\n",
    };
    expect_compiles(ok, sizeof ok / sizeof ok[0]);
}

/* typecheck.c: what OPA 1.19's type checker rejects (each case checked with `opa
 * check`), and look-alikes it accepts. */
static void test_type_errors_like_opa(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        const char *text;
        int line, col;
    } cases[] = {
        /* match error: =, :=, == (negated too) between disjoint static types */
        {"package t\nq if { x := 1; x == \"a\" }\n", "match error", 2, 16},
        {"package t\nq if { [1] = {\"a\": 1} }\n", "match error", 2, 8},
        {"package t\nq if { x := 1; y := x; not y == \"a\" }\n", "match error", 2, 24},
        {"package t\nq if { not [10, 7] == [1e3] }\n", "match error", 2, 8},
        {"package t\nq if { {\"a\": 1} == {\"b\": 1} }\n", "match error", 2, 8},
        {"package t\nq if { input.a == input.b == {1} }\n", "match error", 2, 8},
        {"package t\nq if { count([1]) == \"a\" }\n", "match error", 2, 8},
        {"package t\nq if { [x, 1] = [\"a\", \"b\"] }\n", "match error", 2, 8},
        {"package t\nq if { z := [y | y := 1; y == \"a\"] }\n", "match error", 2, 26},
        {"package t\nq if { some x in [1]; x == \"a\" }\n", "match error", 2, 23},
        {"package t\nq if { x := 1 - 2; x == \"a\" }\n", "match error", 2, 20},
        /* rule and function types */
        {"package t\np := 1\nq if { p == \"a\" }\n", "match error", 3, 8},
        {"package t\ns contains 1\nq if { s == {\"a\"} }\n", "match error", 3, 8},
        {"package t\no[k] := 1 if { some k in input.x }\nq if { o == {\"a\": \"b\"} }\n", "match error", 3, 8},
        {"package t\ndefault d := {\"a\": 1}\nd := {\"b\": 2}\nq if { not {\"c\": 1} == d }\n", "match error", 4, 8},
        {"package t\nf(x) := 1\nq if { f(1) == \"a\" }\n", "match error", 3, 8},
        {"package t\np := 1 if { false } else := 2 if { 1 == \"a\" }\n", "match error", 2, 36},
        {"package t\np := {\"a\": [1, 2]}\nq if { p.a[0] == \"s\" }\n", "match error", 3, 8},
        /* builtin operands */
        {"package t\nr if { count(1) }\n",
         "count: invalid argument(s)\n\thave: (number)\n\twant: (collection: any<string, array[any], object[any: any], "
         "set[any]>, n: number)",
         2, 8},
        {"package t\nr if { not count(1) }\n", "count: invalid argument(s)\n\thave: (number)", 2, 8},
        {"package t\nr if { x := count(1) }\n", "count: invalid argument(s)\n\thave: (number, ??\?)", 2, 13},
        {"package t\nr if { x := 1 + \"a\" }\n",
         "plus: invalid argument(s)\n\thave: (number, string, ??\?)\n\twant: (x: number, y: number, z: number)", 2, 13},
        {"package t\nr if { lower({\"a\": [1, \"b\"]}) }\n",
         "lower: invalid argument(s)\n\thave: (object<a: array<number, string>>)\n\twant: (x: string, y: string)", 2,
         8},
        {"package t\nr if { concat(\"\", [1]) }\n", "concat: invalid argument(s)\n\thave: (string, array<number>)", 2,
         8},
        {"package t\np := 1\nr if { x := data.t.p; lower(x) }\n", "lower: invalid argument(s)\n\thave: (number)", 3,
         23},
        /* `some .. in` a scalar: a match error (constant) or undefined ref; an operator at
         * the start of a line continues the expression before it */
        {"package t\nq if { some x in 5 }\n", "match error", 2, 8},
        {"package t\nq if { some x in [1] == [1] }\n", "undefined ref", 2, 8},
        {"package t\nq if {\n\tsome v in input.x\n\t-1 > 3\n}\n", "undefined ref", 3, 2},
        {"package t\nq if {\n\tx := net.cidr_contains(\"10.0.0.0/8\", \"10.0.0.1\")\n\t-1 in {1}\n}\n",
         "minus: invalid argument(s)\n\thave: (boolean, number, ??\?)", 3, 7},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_compile_error(i, cases[i].src, REGO_SYNTAX_V1, "rego_type_error", cases[i].text, cases[i].line,
                             cases[i].col);
    /* look-alikes OPA accepts: unknown (any) types, unions, every bodies,
     * separate comprehension scopes, comparisons other than equality */
    static const char *const ok[] = {
        "package t\nq if { 1 != \"a\" }\n",
        "package t\nq if { 1 < \"a\" }\n",
        "package t\nq if { x := input; x == 1 }\n",
        "package t\nq if { x := data.foo; x == 1 }\n",
        "package t\nq if { [x | x = 1]; [x | x = \"a\"] }\n",
        "package t\nq if { every x in [1] { x == \"a\" } }\n",
        "package t\nq if { every x in [1] { y := 1; x; y == \"a\" } }\n",
        "package t\np := 1 if { false } else := \"a\"\nq if { p == \"a\" }\n",
        "package t\ndefault p := 1\np := \"a\" if input.x\nq if { p == \"b\" }\n",
        "package t\nq if { some x in [1, \"a\"]; x == \"a\" }\n",
        "package t\nq if { [1, 2] == [1, 3] }\n",
        "package t\nq if { {1} == set() }\n",
        "package t\nq if { x := sort([1]); x == [\"a\", \"b\"] }\n",
        "package t\nf(x) := x\nq if { f(1) == \"a\" }\n",
        "package t\nq if { \"a\" in {1} }\n",
        "package t\nq if { x := {1} - {2}; x == {\"a\"} }\n",
        "package t\nr if { count(input) }\n",
        "package t\nr if { count(\"abc\") }\n",
        "package t\nr if { lower(input.x) }\n",
        "package t\nr if { sum([1, 2]) }\n",
        "package t\nq if { some x in [\"a\", 1]; lower(x) }\n",
        "package t\nq if {\n\tx := 1\n\t+ 2 == 3\n}\n",
    };
    expect_compiles(ok, sizeof ok / sizeof ok[0]);
}

/* Arithmetic as OPA v1.19.0 prints it (opa eval): non-integers and quotients in a
 * 64-bit mantissa, shortest text, %g form; integers exact. */
static void test_number_precision(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"1/3", "0.33333333333333333334"},
        {"2/3", "0.6666666666666666667"},
        {"0.1 + 0.2", "0.3"},
        {"0.1 - 0.3", "-0.20000000000000000002"},
        {"3 - 2.9", "0.09999999999999999991"},
        {"-1/12345678901234567890", "-8.1000000729000006636e-20"},
        {"100000000000000000000 / 3", "33333333333333333334"},
        {"12345678901234567890123 * 3 / 3", "12345678901234567890000"},
        {"12345678901234567890123 + 1", "12345678901234567890124"},
        {"0.00001 * 1", "1e-05"},
        {"1234567.5 * 1", "1.2345675e+06"},
        {"123456.5 * 1", "123456.5"},
        {"1 / 1e30", "9.9999999999999999995e-31"},
        {"1/3 * 3", "1"},
        {"(1/3) == 0.3333333333333333333", "false"},
        {"10/3 > 3.3333333333333333", "true"},
    };
    rego_error err;
    rego_policy *pol = compile1("package t\n", REGO_SYNTAX_V1, &err);
    assert_non_null(pol);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char q[128], want[128];
        snprintf(q, sizeof q, "x := %s", cases[i][0]);
        snprintf(want, sizeof want, "[{\"x\":%s}]", cases[i][1]);
        char *t = eval_text(pol, q, NULL, &err);
        if (!t || strcmp(t, want) != 0) fail_msg("%s: got %s, want %s", q, t ? t : err.message, want);
        free(t);
    }
    rego_policy_free(pol);
}

static void test_step_limit(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol =
        compile1("package t\np := count([x | some x in numbers.range(1, 100000)])\n", REGO_SYNTAX_V1, &err);
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

/* expects query on policy src (v1) to give result set JSON `want` */
static void check_eval(const char *src, rego_syntax syn, const char *query, const char *input, const char *want)
{
    rego_error err;
    rego_policy *pol = compile1(src, syn, &err);
    if (!pol) fail_msg("compile: %s", err.message);
    char *t = eval_text(pol, query, input, &err);
    if (!t) fail_msg("eval: %s", err.message);
    assert_string_equal(t, want);
    free(t);
    rego_policy_free(pol);
}

static void test_template_strings(void **state)
{
    (void)state;
    const char *src = "package t\n"
                      "a := \"foo\"\n"
                      "p := $\"{a} \\{x} {1 + 2} {[1, \"b\"]} {input.missing} {$\"<{a}>\"}\"\n"
                      "q := $`x\n{data.t.a}`\n"
                      "f($\"{x}!\") := 1 if x := \"hi\"\n"
                      "r := f(\"hi!\")\n";
    check_eval(
        src, REGO_SYNTAX_V1, "x := data.t.p", NULL,
        "[{\"x\":\"foo {x} 3 [1, \\\"b\\\"] \\u003cundefined\\u003e \\u003cfoo\\u003e\"}]"); /* JSON text escapes < > */
    check_eval(src, REGO_SYNTAX_V1, "x := data.t.q", NULL, "[{\"x\":\"x\\nfoo\"}]");
    check_eval(src, REGO_SYNTAX_V1, "x := data.t.r", NULL, "[{\"x\":1}]");
    check_eval(src, REGO_SYNTAX_V1, "x := $\"{input.a with input.a as 2}\"", NULL, "[{\"x\":\"2\"}]");
}

static void test_logic_operators(void **state)
{
    (void)state;
    const char *src = "package t\n"
                      "import future.keywords.and\n"
                      "import future.keywords.or\n"
                      "import future.keywords.not\n"
                      "p if input.a and input.b or input.c\n"
                      "q := [1 | { some n in [1, 2, 3]; n > 0 } or true]\n"
                      "r if {\n"
                      "  a := -1\n"
                      "  { a := 1; a > 0 } and { a := 2; a > 1 }\n"
                      "  not (input.a or input.b)\n"
                      "  a == -1\n"
                      "}\n"
                      "s if input.x > 0 and input.y > 0 with input as {\"x\": 1, \"y\": 1}\n";
    check_eval(src, REGO_SYNTAX_V1, "x := data.t.p", "{\"a\":false,\"b\":true,\"c\":true}", "[{\"x\":true}]");
    check_eval(src, REGO_SYNTAX_V1, "x := data.t.p", "{\"a\":true,\"b\":false}", "[]");
    check_eval(src, REGO_SYNTAX_V1, "x := data.t.q", NULL, "[{\"x\":[1]}]");
    check_eval(src, REGO_SYNTAX_V1, "x := data.t.r", "{}", "[{\"x\":true}]");
    check_eval(src, REGO_SYNTAX_V1, "x := data.t.r", "{\"b\":true}", "[]");
    check_eval(src, REGO_SYNTAX_V1, "x := data.t.s", NULL, "[{\"x\":true}]");
}

static void test_scoping_and_data_keys(void **state)
{
    (void)state;
    /* a comprehension before `x :=` has its own x */
    check_eval("package t\nxs := {\"a\", \"b\"}\np := x if {\n  y := {x | xs[x]}\n  z := {x | xs[x]}\n"
               "  count(y) == count(z)\n  x := count(y)\n}\n",
               REGO_SYNTAX_V1, "x := data.t.p", NULL, "[{\"x\":2}]");
    /* `x == xs[x]`: the ref binds x */
    check_eval("package t\np := x if {\n  some x\n  x == input.xs[x]\n}\n", REGO_SYNTAX_V1, "x := data.t.p",
               "{\"xs\":[2,1,0]}", "[{\"x\":1}]");
    /* v0: two-part heads without value are sets, zero-argument functions are values */
    check_eval("package t\nbar[\"x\"]\nbaz.q { true }\nf() = 1\n", REGO_SYNTAX_V0, "x := data.t", NULL,
               "[{\"x\":{\"bar\":[\"x\"],\"baz\":[\"q\"],\"f\":1}}]");
    /* numbers index base documents by their text; a dynamic data ref is no recursion */
    rego_error err;
    rego_policy *pol = compile1("package t\np := data[2]\nq := data[k].v if k := \"o\"\n", REGO_SYNTAX_V1, &err);
    assert_non_null(pol);
    const char *dj = "{\"2\":\"bar\",\"o\":{\"v\":3}}";
    rv *data = rv_from_json_text(dj, strlen(dj), NULL, 0);
    assert_non_null(data);
    rv *rs = NULL;
    rego_options opts = {.max_steps = 100000};
    assert_int_equal(rego_eval_json(pol, "x := data.t.p; y := data.t.q", NULL, data, &opts, &rs, &err), 0);
    char *t = rv_to_json_text(rs);
    assert_string_equal(t, "[{\"x\":\"bar\",\"y\":3}]");
    free(t);
    rv_unref(rs);
    rv_unref(data);
    rego_policy_free(pol);
}

/* evaluates query with data (JSON text) against one module; compact JSON of the
 * result set, or "error <code>: <message>" (caller frees) */
static char *eval_with_data(const char *src, const char *query, const char *data_json)
{
    rego_error err;
    rego_policy *pol = compile1(src, REGO_SYNTAX_V1, &err);
    if (!pol) fail_msg("compile: %s", err.message);
    rv *data = rv_from_json_text(data_json, strlen(data_json), NULL, 0);
    assert_non_null(data);
    rv *rs = NULL;
    char *t;
    if (rego_eval_json(pol, query, NULL, data, NULL, &rs, &err) == 0) t = rv_to_json_text(rs);
    else {
        t = malloc(sizeof err.message + 64);
        snprintf(t, sizeof err.message + 64, "error %s: %s", err.code, err.message);
    }
    rv_unref(rs);
    rv_unref(data);
    rego_policy_free(pol);
    return t;
}

static void expect_with_data(const char *src, const char *query, const char *data_json, const char *want)
{
    char *t = eval_with_data(src, query, data_json);
    assert_string_equal(t, want);
    free(t);
}

/* Base documents (data) and rules under the same prefix, as OPA 1.19 answers. */
static void test_base_and_virtual_documents(void **state)
{
    (void)state;
    const char *src = "package a.b\nr := 1\nc.d := 5\n";
    const char *data = "{\"a\":{\"b\":{\"q\":2,\"c\":{\"e\":7}},\"z\":3}}";
    /* a ground path merges both */
    expect_with_data(src, "x := data.a.b", data, "[{\"x\":{\"c\":{\"d\":5,\"e\":7},\"q\":2,\"r\":1}}]");
    /* iteration: the base document's keys, then the rule tree's; c is in both, so twice */
    expect_with_data(src, "x := [k | data.a.b[k]]", data, "[{\"x\":[\"c\",\"q\",\"c\",\"r\"]}]");
    expect_with_data(src, "x := [k | some k, _ in data.a.b]", data, "[{\"x\":[\"c\",\"q\",\"c\",\"r\"]}]");
    expect_with_data(src, "x := {k | data.a.b[k]}", data, "[{\"x\":[\"c\",\"q\",\"r\"]}]");
    expect_with_data(src, "x := [[k, v] | v := data.a[k]]", "{\"a\":{\"y\":1}}",
                     "[{\"x\":[[\"y\",1],[\"b\",{\"c\":{\"d\":5},\"r\":1}]]}]");
    /* a rule where the base documents hold a value, or below a value that is not an object */
    expect_with_data(src, "x := 1", "{\"a\":{\"b\":{\"r\":{}}}}",
                     "error rego_compile_error: rego_compile_error: conflicting rule for data path a/b/r found");
    expect_with_data(src, "x := 1", "{\"a\":{\"b\":{\"c\":[1]}}}",
                     "error rego_compile_error: rego_compile_error: conflicting rule for data path a/b/c/d found");
    expect_with_data(src, "x := 1", "{\"a\":7}",
                     "error rego_compile_error: rego_compile_error: conflicting rule for data path a/b/c/d found");
    /* an empty package does not hide a base value that is not an object */
    expect_with_data("package a.b.e\n", "x := data.a.b.e", "{\"a\":{\"b\":{\"e\":1}}}", "[{\"x\":1}]");
    expect_with_data("package a.b.e\n", "x := data.a.b.e", "{}", "[{\"x\":{}}]");
    /* ... nor makes a set rule above it an object */
    expect_with_data("package a.b.e\n", "x := data.a", "{}", "[{\"x\":{\"b\":{\"e\":{}}}}]");
    rego_module_src two[] = {{.name = "p.rego", .source = "package p\nb contains 1\n", .syntax = REGO_SYNTAX_V1},
                             {.name = "q.rego", .source = "package p.b.c\n", .syntax = REGO_SYNTAX_V1}};
    rego_error err;
    rego_policy *pol = rego_compile(two, 2, REGO_SYNTAX_V1, &err);
    assert_non_null(pol);
    char *t = eval_text(pol, "x := data.p", NULL, &err);
    assert_string_equal(t, "[{\"x\":{\"b\":[1]}}]");
    free(t);
    rego_policy_free(pol);
    /* a rule at the path of a package, even an empty one (not a rule with a variable key) */
    two[1].source = "package p.b\n";
    assert_null(rego_compile(two, 2, REGO_SYNTAX_V1, &err));
    assert_string_equal(err.code, "rego_type_error");
    assert_non_null(strstr(err.message, "package p.b conflicts with rule b defined at p.rego:2"));
    two[0].source = "package p\nb[k] := 1 if some k in [\"x\"]\n";
    pol = rego_compile(two, 2, REGO_SYNTAX_V1, &err);
    assert_non_null(pol);
    rego_policy_free(pol);
    /* rules below a rule with a variable key (here from another package) are merged
     * into its object without their defaults, undefined ones left out */
    two[0].source = "package p\na[k] := 1 if some k in [\"x\"]\n";
    two[1].source = "package p.a.b\ndefault d := 0\nc := 2 if input.n > 1\ne := 3\n";
    pol = rego_compile(two, 2, REGO_SYNTAX_V1, &err);
    assert_non_null(pol);
    t = eval_text(pol, "x := data.p.a", "{\"n\":0}", &err);
    assert_string_equal(t, "[{\"x\":{\"b\":{\"e\":3},\"x\":1}}]");
    free(t);
    rego_policy_free(pol);
}

/* count() of a string counts runes as Go does: every invalid byte is one. */
static void test_count_invalid_utf8(void **state)
{
    (void)state;
    const char *src = "package t\n";
    /* "/w==" = ff, "gA==" = 80, "4oI=" = e2 82 (truncated), "4oKs" = e2 82 ac (the euro sign) */
    check_eval(src, REGO_SYNTAX_V1,
               "a := count(base64.decode(\"/w==\")); b := count(base64.decode(\"gA==\")); "
               "c := count(base64.decode(\"4oI=\")); d := count(base64.decode(\"4oKs\")); "
               "e := count(base64.decode(\"wIA=\"))",
               NULL, "[{\"a\":1,\"b\":1,\"c\":2,\"d\":1,\"e\":2}]");
    /* JSON text writes each invalid byte as \ufffd, as Go's encoding/json (and escapes U+2028) */
    check_eval(src, REGO_SYNTAX_V1, "x := json.marshal([base64.decode(\"4oJh/w==\"), \"\\u2028\"])", NULL,
               "[{\"x\":\"[\\\"\\\\ufffd\\\\ufffda\\\\ufffd\\\",\\\"\\\\u2028\\\"]\"}]");
}

/* The evaluator's fast paths (optimize.c, value.c): a `some` loop fused with a
 * builtin test, hashed membership in a large array, hashed keys of a large object,
 * derived data attached to values (parsed CIDRs, compiled regexes), all used by
 * several threads at once on one prepared query with fresh data (so that the
 * first-use attachments race). */
#include <pthread.h>

static const char *fast_src =
    "package f\n"
    "allowed if { some c in data.cidrs; net.cidr_contains(c, input.ip) }\n"
    "known if input.user in data.users\n"
    "deep := data.wide.k7\n"
    "tagged if { some t in input.tags; regex.match(`^env:(prod|stage)$`, t) }\n"
    "hits contains c if { some c in data.cidrs; net.cidr_contains(c, input.ip) }\n"
    "default allowed := false\ndefault known := false\ndefault tagged := false\n"
    "r := {\"allowed\": allowed, \"known\": known, \"deep\": deep, \"tagged\": tagged, \"hits\": hits}\n";

static rv *fast_data(void)
{
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{\"cidrs\": [\"10.0.0.0/8\", 7, \"bad\"");
    for (int i = 0; i < 40; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, ", \"192.168.%d.0/24\"", i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, ", \"192.168.3.0/25\"], \"users\": [1.0, true");
    for (int i = 0; i < 30; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, ", \"u%d\"", i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "], \"wide\": {");
    for (int i = 0; i < 12; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"k%d\": %d", i ? ", " : "", i, i);
    snprintf(buf + n, sizeof buf - n, "}}");
    char eb[128];
    rv *d = rv_from_json_text(buf, strlen(buf), eb, sizeof eb);
    assert_non_null(d);
    return d;
}

static char *fast_eval(const rego_query *q, const char *input, rv *data, bool strict)
{
    char eb[128];
    rv *in = rv_from_json_text(input, strlen(input), eb, sizeof eb), *rs = NULL;
    rego_error err;
    rego_options opts = {.strict_builtin_errors = strict};
    int rc = rego_query_eval(q, in, data, &opts, &rs, &err);
    rv_unref(in);
    if (rc < 0) return strdup(err.code);
    char *t = rv_to_json_text(rs);
    rv_unref(rs);
    return t;
}

static const char *fast_in = "{\"ip\": \"192.168.3.7\", \"user\": \"u17\", \"tags\": [\"a\", \"env:prod\"]}";
static const char *fast_want =
    "[{\"x\":{\"allowed\":true,\"deep\":7,\"hits\":[\"192.168.3.0/24\",\"192.168.3.0/25\"],\"known\":true,"
    "\"tagged\":true}}]";

typedef struct {
    const rego_query *q;
    int bad;
} fast_arg;

static void *fast_thread(void *p)
{
    fast_arg *a = p;
    for (int i = 0; i < 50; i++) {
        rv *data = fast_data(); /* fresh values: attachments are made concurrently */
        char *t = fast_eval(a->q, fast_in, data, false);
        if (strcmp(t, fast_want) != 0) a->bad++;
        free(t);
        rv_unref(data);
    }
    return NULL;
}

static void test_fast_paths_and_threads(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1(fast_src, REGO_SYNTAX_V1, &err);
    if (!pol) fail_msg("compile: %s", err.message);
    rego_query *q = rego_query_prepare(pol, "x := data.f.r", &err);
    assert_non_null(q);
    rv *data = fast_data();
    char *t = fast_eval(q, fast_in, data, false);
    assert_string_equal(t, fast_want);
    free(t);
    /* not in the lists; 1 (an integer) equals the 1.0 in the users array */
    t = fast_eval(q, "{\"ip\": \"172.16.0.1\", \"user\": 1, \"tags\": []}", data, false);
    assert_string_equal(t, "[{\"x\":{\"allowed\":false,\"deep\":7,\"hits\":[],\"known\":true,\"tagged\":false}}]");
    free(t);
    /* strict builtin errors: the number in the list is an operand type error (as OPA) */
    t = fast_eval(q, fast_in, data, true);
    assert_string_equal(t, "eval_type_error");
    free(t);
    rv_unref(data);
    pthread_t th[4];
    fast_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (fast_arg){q, 0};
        assert_int_equal(pthread_create(&th[i], NULL, fast_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    rego_query_free(q);
    rego_policy_free(pol);
}

/* One parsed document (its values share an arena and one reference count) used by
 * several threads at once: derived data (CIDRs, array index) attached concurrently
 * to its members, members referenced from results, each thread dropping its own
 * reference last in any order. */
typedef struct {
    const rego_query *q;
    rv *data; /* the thread's own reference */
    int bad;
} shared_arg;

static void *shared_thread(void *p)
{
    shared_arg *a = p;
    for (int i = 0; i < 50; i++) {
        char *t = fast_eval(a->q, fast_in, a->data, false);
        if (strcmp(t, fast_want) != 0) a->bad++;
        free(t);
    }
    rv_unref(a->data);
    return NULL;
}

static void test_shared_document_threads(void **state)
{
    (void)state;
    rego_error err;
    rego_policy *pol = compile1(fast_src, REGO_SYNTAX_V1, &err);
    if (!pol) fail_msg("compile: %s", err.message);
    rego_query *q = rego_query_prepare(pol, "x := data.f.r", &err);
    assert_non_null(q);
    rv *data = fast_data();
    pthread_t th[4];
    shared_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (shared_arg){q, rv_ref(data), 0};
        assert_int_equal(pthread_create(&th[i], NULL, shared_thread, &args[i]), 0);
    }
    rv_unref(data); /* the threads hold the document now */
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    rego_query_free(q);
    rego_policy_free(pol);
}

/* A result set outlives everything it was made from: members of two parsed
 * documents (input and data, each an arena whose references an evaluation counts on
 * its thread and adds up at the end, alternating here), the policy's constants
 * (short strings interned as immortal values, long ones counted) and the policy. */
static void test_result_outlives_sources(void **state)
{
    (void)state;
    static const char src[] = "package r\n"
                              "import rego.v1\n"
                              "out contains {\"k\": input.a[i], \"d\": data.b[i], \"c\": \"short\", "
                              "\"long\": \"a constant string longer than sixty-four bytes, kept by the policy\"} "
                              "if some i in numbers.range(0, 2)\n";
    rego_error err;
    rego_policy *pol = compile1(src, REGO_SYNTAX_V1, &err);
    if (!pol) fail_msg("compile: %s", err.message);
    char eb[64];
    static const char in_txt[] = "{\"a\": [\"x0\", \"x1\", \"x2\"]}", data_txt[] = "{\"b\": [\"y0\", \"y1\", \"y2\"]}";
    rv *rs = NULL;
    for (int round = 0; round < 3; round++) {
        rv *input = rv_from_json_text(in_txt, strlen(in_txt), eb, sizeof eb);
        rv *data = rv_from_json_text(data_txt, strlen(data_txt), eb, sizeof eb);
        assert_non_null(input);
        assert_non_null(data);
        rv_unref(rs);
        rs = NULL;
        assert_int_equal(rego_eval(pol, "x := data.r.out", input, data, NULL, &rs, &err), 0);
        rv_unref(input);
        rv_unref(data);
    }
    rego_policy_free(pol);
    char *t = rv_to_json_text(rs);
    assert_non_null(strstr(t, "{\"c\":\"short\",\"d\":\"y2\",\"k\":\"x2\",\"long\":\"a constant string longer"));
    free(t);
    rv_unref(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_error_position),
        cmocka_unit_test(test_v1_policy),
        cmocka_unit_test(test_v0_policy),
        cmocka_unit_test(test_with_and_every),
        cmocka_unit_test(test_conflict),
        cmocka_unit_test(test_unsafe_and_recursion),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_prepared_query),
        cmocka_unit_test(test_template_strings),
        cmocka_unit_test(test_logic_operators),
        cmocka_unit_test(test_scoping_and_data_keys),
        cmocka_unit_test(test_base_and_virtual_documents),
        cmocka_unit_test(test_count_invalid_utf8),
        cmocka_unit_test(test_compile_errors_like_opa),
        cmocka_unit_test(test_type_errors_like_opa),
        cmocka_unit_test(test_number_precision),
        cmocka_unit_test(test_fast_paths_and_threads),
        cmocka_unit_test(test_shared_document_threads),
        cmocka_unit_test(test_result_outlives_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
