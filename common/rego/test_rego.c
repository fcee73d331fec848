/* Unit tests for the Rego engine: parse errors, v0/v1 evaluation, with, every,
 * conflicts, step limits, prepared queries, the evaluator's fast paths and
 * concurrent evaluation of one prepared query. */
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
    check_eval(src, REGO_SYNTAX_V1, "x := data.t.p", NULL,
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_error_position), cmocka_unit_test(test_v1_policy),
        cmocka_unit_test(test_v0_policy),            cmocka_unit_test(test_with_and_every),
        cmocka_unit_test(test_conflict),             cmocka_unit_test(test_unsafe_and_recursion),
        cmocka_unit_test(test_step_limit),           cmocka_unit_test(test_prepared_query),
        cmocka_unit_test(test_template_strings),     cmocka_unit_test(test_logic_operators),
        cmocka_unit_test(test_scoping_and_data_keys),
        cmocka_unit_test(test_fast_paths_and_threads),
        cmocka_unit_test(test_shared_document_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
