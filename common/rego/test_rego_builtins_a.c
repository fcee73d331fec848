/* Unit tests for the strings, regex, collections and json builtin families.
 *
 * Builtins are called directly through rego_builtin_find(name)->fn with a
 * zeroed per-call context (struct rego_bctx from rego_int.h), so these tests do
 * not depend on the parser or the evaluator. Arguments and expectations are
 * written as JSON; an object {"$set": [...]} stands for a Rego set. Most cases
 * mirror OPA's conformance cases for these builtins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "rego/builtins.h"
#include "rego/rego_int.h"
#include "rego/value.h"

/* JSON with {"$set": [...]} markers -> value. */
static rv *conv(const rv *v)
{
    switch (rv_typeof(v)) {
    case RV_ARRAY: {
        rv *r = rv_array_new(rv_len(v));
        for (size_t i = 0; i < rv_len(v); i++) rv_array_push(r, conv(rv_array_at(v, i)));
        return r;
    }
    case RV_OBJECT: {
        rv *s = rv_object_get_cstr(v, "$set");
        if (s && rv_len(v) == 1) {
            rv *r = rv_set_new(rv_len(s));
            for (size_t i = 0; i < rv_len(s); i++) rv_set_add(r, conv(rv_array_at(s, i)));
            return r;
        }
        rv *r = rv_object_new(rv_len(v));
        for (size_t i = 0; i < rv_len(v); i++)
            rv_object_set(r, conv(rv_object_key_at(v, i)), conv(rv_object_val_at(v, i)));
        return r;
    }
    default: return rv_ref((rv *)v);
    }
}

static rv *parse(const char *json)
{
    /* json.unmarshal keeps big numbers exact, unlike jansson */
    struct rego_bctx ctx;
    memset(&ctx, 0, sizeof ctx);
    rv *text = rv_cstring(json), *raw = NULL;
    int rc = rego_builtin_find("json.unmarshal")->fn(&ctx, &text, &raw);
    rv_unref(text);
    if (rc != REGO_OK) fail_msg("bad test JSON %s: %s", json, ctx.msg);
    rv *v = conv(raw);
    rv_unref(raw);
    return v;
}

/* Calls name with the elements of the JSON array args. Returns the rc; *out set on OK. */
static int call(const char *name, const char *args, rv **out, struct rego_bctx *ctx)
{
    const rego_builtin_def *d = rego_builtin_find(name);
    if (!d) fail_msg("builtin %s not found", name);
    rv *arr = parse(args);
    assert_int_equal(rv_len(arr), (size_t)d->nargs);
    rv *argv[8];
    for (int i = 0; i < d->nargs; i++) argv[i] = rv_array_at(arr, (size_t)i);
    *out = NULL;
    int rc = d->fn(ctx, argv, out);
    rv_unref(arr);
    return rc;
}

static void expect_at(const char *file, int line, const char *name, const char *args, const char *want)
{
    struct rego_bctx ctx;
    memset(&ctx, 0, sizeof ctx);
    rv *out;
    int rc = call(name, args, &out, &ctx);
    if (rc != REGO_OK) fail_msg("%s:%d: %s(%s) rc=%d msg=%s", file, line, name, args, rc, ctx.msg);
    rv *w = parse(want);
    if (!rv_equal(out, w)) {
        char *got = rv_to_rego_text(out), *exp = rv_to_rego_text(w);
        print_error("%s:%d: %s(%s)\n  got  %s\n  want %s\n", file, line, name, args, got, exp);
        free(got);
        free(exp);
        rv_unref(out);
        rv_unref(w);
        fail();
    }
    rv_unref(out);
    rv_unref(w);
}

/* rc must be REGO_ERR (or UNDEF when msg is NULL) and the message must contain msg. */
static void expect_fail_at(const char *file, int line, const char *name, const char *args, int want_rc, const char *msg,
                           int want_type)
{
    struct rego_bctx ctx;
    memset(&ctx, 0, sizeof ctx);
    rv *out;
    int rc = call(name, args, &out, &ctx);
    if (rc != want_rc) {
        char *got = out ? rv_to_rego_text(out) : NULL;
        print_error("%s:%d: %s(%s) rc=%d want %d (out %s, msg %s)\n", file, line, name, args, rc, want_rc,
                    got ? got : "-", ctx.msg);
        free(got);
        rv_unref(out);
        fail();
    }
    if (msg && !strstr(ctx.msg, msg)) fail_msg("%s:%d: %s: message %s lacks %s", file, line, name, ctx.msg, msg);
    if (want_type >= 0 && ctx.is_type_error != want_type)
        fail_msg("%s:%d: %s: is_type_error=%d", file, line, name, ctx.is_type_error);
}

#define EXPECT(name, args, want) expect_at(__FILE__, __LINE__, name, args, want)
#define EXPECT_ERR(name, args, msg) expect_fail_at(__FILE__, __LINE__, name, args, REGO_ERR, msg, 0)
#define EXPECT_TYPE_ERR(name, args, msg) expect_fail_at(__FILE__, __LINE__, name, args, REGO_ERR, msg, 1)
#define EXPECT_UNDEF(name, args) expect_fail_at(__FILE__, __LINE__, name, args, REGO_UNDEF, NULL, -1)

/* ------------------------------------------------------------ strings */

static void test_strings_basic(void **state)
{
    (void)state;
    EXPECT("concat", "[\"/\", [\"\", \"foo\", \"bar\", \"0\", \"baz\"]]", "\"/foo/bar/0/baz\"");
    EXPECT("concat", "[\",\", {\"$set\": [\"b\", \"a\"]}]", "\"a,b\"");
    EXPECT_TYPE_ERR("concat", "[\",\", [\"a\", 1]]",
                    "concat: operand 2 must be array of strings but got array containing number");
    EXPECT("split", "[\"\", \".\"]", "[\"\"]");
    EXPECT("split", "[\"test\", \"\"]", "[\"t\", \"e\", \"s\", \"t\"]");
    EXPECT("split", "[\"\", \"\"]", "[]");
    EXPECT("split", "[\"a.b.c\", \".\"]", "[\"a\", \"b\", \"c\"]");
    EXPECT("strings.split_n", "[\"a.b.c.d\", \".\", 2]", "[\"a\", \"b\"]");
    EXPECT("strings.split_n", "[\"a.b.c.d\", \".\", -2]", "[\"c\", \"d\"]");
    EXPECT("strings.split_n", "[\"a.b.c.d\", \".\", 0]", "[]");
    EXPECT("strings.split_n", "[\"a.b.c.d\", \".\", -10]", "[\"a\", \"b\", \"c\", \"d\"]");
    EXPECT("strings.split_n", "[\"abc\", \"\", -2]", "[\"b\", \"c\"]");
    EXPECT_TYPE_ERR("strings.split_n", "[\"a.b.c\", \".\", 1.5]",
                    "strings.split_n: operand 3 must be integer number but got floating-point number");
    EXPECT("replace", "[\"foo...bar\", \"..\", \",,\"]", "\"foo,,.bar\"");
    EXPECT("replace", "[\"\", \"hi\", \"bye\"]", "\"\"");
    EXPECT("replace", "[\"ab\", \"\", \"-\"]", "\"-a-b-\"");
    EXPECT("strings.replace_n", "[{\"<\": \"&lt;\", \">\": \"&gt;\"}, \"This is <b>HTML</b>!\"]",
           "\"This is &lt;b&gt;HTML&lt;/b&gt;!\"");
    EXPECT("strings.replace_n", "[{\"f\": \"x\", \"foo\": \"xxx\"}, \"foobar\"]", "\"xoobar\"");
    EXPECT_TYPE_ERR("strings.replace_n", "[{\"f\": 100}, \"foo\"]",
                    "strings.replace_n: operand 1 non-string value found in pattern object");
    EXPECT("trim", "[\"...foo.bar...\", \".fr\"]", "\"oo.ba\"");
    EXPECT("trim", "[\"¡¡¡foo, bar!!!\", \"!¡\"]", "\"foo, bar\"");
    EXPECT("trim_left", "[\"¡¡¡foo, bar!!!\", \"!¡\"]", "\"foo, bar!!!\"");
    EXPECT("trim_right", "[\"¡¡¡foo, bar!!!\", \"!¡\"]", "\"¡¡¡foo, bar\"");
    EXPECT("trim_prefix", "[\"¡¡¡foo, bar!!!\", \"¡¡¡foo\"]", "\", bar!!!\"");
    EXPECT("trim_prefix", "[\"¡¡¡foo, bar!!!\", \"¡¡¡bar\"]", "\"¡¡¡foo, bar!!!\"");
    EXPECT("trim_suffix", "[\"¡¡¡foo, bar!!!\", \", bar!!!\"]", "\"¡¡¡foo\"");
    EXPECT("trim_space", "[\" \\t\\n foo, bar \\n\\t\\r\\n\"]", "\"foo, bar\"");
    EXPECT("lower", "[\"AbCdEf\"]", "\"abcdef\"");
    EXPECT("upper", "[\"abcÅäö\"]", "\"ABCÅÄÖ\"");
    EXPECT("lower", "[\"ÅÄÖ\"]", "\"åäö\"");
    EXPECT("startswith", "[\"abcdefgh\", \"abcd\"]", "true");
    EXPECT("startswith", "[\"abcdefgh\", \"bcd\"]", "false");
    EXPECT("endswith", "[\"abcdefgh\", \"fgh\"]", "true");
    EXPECT("contains", "[\"abcdefgh\", \"defg\"]", "true");
    EXPECT("contains", "[\"abcdefgh\", \"ac\"]", "false");
}

static void test_strings_index(void **state)
{
    (void)state;
    EXPECT("indexof", "[\"abcdefgh\", \"cde\"]", "2");
    EXPECT("indexof", "[\"abcabcabcdefgh\", \"cde\"]", "8");
    EXPECT("indexof", "[\"abcdefgh\", \"xyz\"]", "-1");
    EXPECT("indexof", "[\"åäöx\", \"x\"]", "3");
    EXPECT_ERR("indexof", "[\"abc\", \"\"]", "empty search character");
    EXPECT("indexof_n", "[\"dogcatdogcat\", \"cat\"]", "[3, 9]");
    EXPECT("indexof_n", "[\"dogcat\", \"rabbit\"]", "[]");
    EXPECT("indexof_n", "[\"😇😀😇😀😇😀\", \"😀\"]", "[1, 3, 5]");
    EXPECT("substring", "[\"abcdefgh\", 2, 3]", "\"cde\"");
    EXPECT("substring", "[\"åäö\", 0, 2]", "\"åä\"");
    EXPECT("substring", "[\"aåäö\", 2, -1]", "\"äö\"");
    EXPECT("substring", "[\"abcdefghåäö\", 2, 10000]", "\"cdefghåäö\"");
    EXPECT("substring", "[\"åäö\", 3, -1]", "\"\"");
    EXPECT("substring", "[\"aaa\", 4, -1]", "\"\"");
    EXPECT_ERR("substring", "[\"aaa\", -1, 1]", "negative offset");
    EXPECT("strings.reverse", "[\"bar\"]", "\"rab\"");
    EXPECT("strings.reverse", "[\"2\\ufe0f\\u20e3\"]", "\"\\u20e3\\ufe0f2\"");
    EXPECT("strings.reverse", "[\"1\\ud83d\\ude00\\ud835\\udefe\"]", "\"\\ud835\\udefe\\ud83d\\ude001\"");
    EXPECT_TYPE_ERR("strings.reverse", "[123]", "reverse: operand 1 must be string but got number");
    EXPECT("strings.count", "[\"cheese\", \"e\"]", "3");
    EXPECT("strings.count", "[\"dummy\", \"\"]", "6");
    EXPECT("strings.count", "[\"\", \"\"]", "1");
    EXPECT("strings.count", "[\"11111\", \"11\"]", "2");
    EXPECT("strings.any_prefix_match", "[[\"a/b/c\", \"e/f/g\"], [\"d/\", \"e/f/g\"]]", "true");
    EXPECT("strings.any_prefix_match", "[\"a/b/c\", [\"g/\", \"d/\"]]", "false");
    EXPECT("strings.any_prefix_match", "[{\"$set\": [\"a/b/c\"]}, {\"$set\": [\"a/\"]}]", "true");
    EXPECT_TYPE_ERR("strings.any_prefix_match", "[[1, 2], [\"f/\"]]",
                    "strings.any_prefix_match: operand 1 must be array of strings but got array containing number");
    EXPECT_TYPE_ERR("strings.any_prefix_match", "[\"a\", 1]",
                    "strings.any_prefix_match: operand 2 must be one of {string, set, array} but got number");
    EXPECT("strings.any_suffix_match", "[[\"a/b/c\", \"e/f/g\"], [\"/c\", \"/a\"]]", "true");
    EXPECT("strings.any_suffix_match", "[\"a/b/g\", [\"/c\", \"/a\"]]", "false");
}

static void test_format_int(void **state)
{
    (void)state;
    EXPECT("format_int", "[15.5, 16]", "\"f\"");
    EXPECT("format_int", "[-15.9, 16]", "\"-f\"");
    EXPECT("format_int", "[4.1, 10]", "\"4\"");
    EXPECT("format_int", "[18446744073709551617, 16]", "\"10000000000000001\"");
    EXPECT("format_int", "[18446744073709551617, 8]", "\"2000000000000000000001\"");
    EXPECT("format_int", "[18446744073709551617, 2]",
           "\"10000000000000000000000000000000000000000000000000000000000000001\"");
    EXPECT("format_int", "[-18446744073709551617, 10]", "\"-18446744073709551617\"");
    EXPECT("format_int", "[0, 2]", "\"0\"");
    EXPECT_TYPE_ERR("format_int", "[4.1, 199]", "operand 2 must be one of {2, 8, 10, 16}");
}

static void test_sprintf(void **state)
{
    (void)state;
    EXPECT("sprintf", "[\"hi %s\", [\"there\"]]", "\"hi there\"");
    EXPECT("sprintf", "[\"hi %02d\", [5]]", "\"hi 05\"");
    EXPECT("sprintf", "[\"hi %.2f\", [3.1415]]", "\"hi 3.14\"");
    EXPECT("sprintf", "[\"hi %s\", [true]]", "\"hi true\"");
    EXPECT("sprintf", "[\"hi %v\", [[\"there\", 5, 3.14]]]", "\"hi [\\\"there\\\", 5, 3.14]\"");
    EXPECT("sprintf", "[\"%s\", [123456789123456789123]]", "\"123456789123456789123\"");
    EXPECT("sprintf", "[\"%d\", [1208925819614629174706175]]", "\"1208925819614629174706175\"");
    EXPECT("sprintf", "[\"%x\", [255]]", "\"ff\"");
    EXPECT("sprintf", "[\"%#X|%o|%b\", [255, 8, 5]]", "\"0XFF|10|101\"");
    EXPECT("sprintf", "[\"%5d|%-5d|%+d\", [42, 42, 42]]", "\"   42|42   |+42\"");
    EXPECT("sprintf", "[\"%08.3f\", [-3.14159]]", "\"-003.142\"");
    EXPECT("sprintf", "[\"%e\", [1234.5678]]", "\"1.234568e+03\"");
    EXPECT("sprintf", "[\"%g|%g|%g\", [0.00001234, 1234567.5, 100.5]]", "\"1.234e-05|1.2345675e+06|100.5\"");
    EXPECT("sprintf", "[\"%v\", [1.5e-7]]", "\"1.5e-07\"");
    EXPECT("sprintf", "[\"%.3g\", [1234.5678]]", "\"1.23e+03\"");
    EXPECT("sprintf", "[\"%q\", [\"a\\\"b\\n\"]]", "\"\\\"a\\\\\\\"b\\\\n\\\"\"");
    EXPECT("sprintf", "[\"%t\", [true]]", "\"%!t(string=true)\"");
    EXPECT("sprintf", "[\"%d\", [\"x\"]]", "\"%!d(string=x)\"");
    EXPECT("sprintf", "[\"%d %d\", [1]]", "\"1 %!d(MISSING)\"");
    EXPECT("sprintf", "[\"%d\", [1, \"a\"]]", "\"1%!(EXTRA string=a)\"");
    EXPECT("sprintf", "[\"100%%\", []]", "\"100%\"");
    EXPECT("sprintf", "[\"%5s|%-5s|%.2s\", [\"ab\", \"ab\", \"abc\"]]", "\"   ab|ab   |ab\"");
    EXPECT("sprintf", "[\"%x\", [\"hi\"]]", "\"6869\"");
    EXPECT("sprintf", "[\"%v %v\", [null, {\"a\": 1}]]", "\"null {\\\"a\\\": 1}\"");
    EXPECT("sprintf", "[\"%*d\", [4, 7]]", "\"   7\"");
    EXPECT("sprintf", "[\"%[2]d %[1]d\", [1, 2]]", "\"2 1\"");
    EXPECT("sprintf", "[\"%f\", [1]]", "\"%!f(int64=1)\"");
    EXPECT("sprintf", "[\"%d\", [1.5]]", "\"%!d(float64=1.5)\"");
}

/* ------------------------------------------------------------ regex */

static void test_regex(void **state)
{
    (void)state;
    EXPECT("regex.match", "[\"^[a-z]+\\\\[[0-9]+\\\\]$\", \"foo[1]\"]", "true");
    EXPECT("regex.match", "[\"^$\", \"\"]", "true");
    EXPECT("regex.match", "[\"\", \"x\"]", "true");
    EXPECT("regex.match", "[\"^$\", \"something\"]", "false");
    EXPECT("regex.match", "[\"^a$\", \"a\\n\"]", "false"); /* RE2's $ is end of text */
    EXPECT_ERR("regex.match", "[\"$^[[[\", \"something\"]", "error parsing regexp");
    EXPECT("regex.is_valid", "[10]", "false");
    EXPECT("regex.is_valid", "[\"++\"]", "false");
    EXPECT("regex.is_valid", "[\".+\"]", "true");
    EXPECT("regex.is_valid", "[\"(?=x)\"]", "false");
    EXPECT("regex.is_valid", "[\"(a)\\\\1\"]", "false");
    EXPECT("regex.is_valid", "[\"a**\"]", "false");
    EXPECT("regex.is_valid", "[\"a{1001}\"]", "false");
    EXPECT("regex.is_valid", "[\"(?P<x>a)(?i:b)\\\\pL[[:alpha:]]\"]", "true");
    EXPECT("regex.find_n", "[\"a.\", \"paranormal\", -1]", "[\"ar\", \"an\", \"al\"]");
    EXPECT("regex.find_n", "[\"a.\", \"paranormal\", 2]", "[\"ar\", \"an\"]");
    EXPECT("regex.find_n", "[\"a.\", \"paranormal\", 0]", "[]");
    EXPECT("regex.find_n", "[\"^a.\", \"abacadaeaf\", -1]", "[\"ab\"]");
    EXPECT("regex.find_n", "[\".$\", \"abacadaeaf\", -1]", "[\"f\"]");
    EXPECT("regex.find_n", "[\"[abcdef]{2}\", \"abacadaeaf\", -1]", "[\"ab\", \"ac\", \"ad\", \"ae\", \"af\"]");
    EXPECT("regex.find_n", "[\"a*\", \"baaab\", -1]", "[\"\", \"aaa\", \"\"]");
    EXPECT("regex.find_all_string_submatch_n", "[\"a(x*)b\", \"-\", -1]", "[]");
    EXPECT("regex.find_all_string_submatch_n", "[\"a(x*)b\", \"-ab-axb-\", -1]", "[[\"ab\", \"\"], [\"axb\", \"x\"]]");
    EXPECT("regex.find_all_string_submatch_n", "[\"[^aouiye]([aouiye])([^aouiye])?\", \"somestri\", -1]",
           "[[\"som\", \"o\", \"m\"], [\"ri\", \"i\", \"\"]]");
    EXPECT("regex.find_all_string_submatch_n", "[\"[^aouiye]([aouiye])([^aouiye])?\", \"somestri\", 1]",
           "[[\"som\", \"o\", \"m\"]]");
    EXPECT("regex.split", "[\"^[a-z]+\\\\[[0-9]+\\\\]$\", \"\"]", "[\"\"]");
    EXPECT("regex.split", "[\"^[a-z]+\", \"foobar baz\"]", "[\"\", \" baz\"]");
    EXPECT("regex.split", "[\"[a-z]+$\", \"foobar baz\"]", "[\"foobar \", \"\"]");
    EXPECT("regex.split", "[\"^[a-z]+$\", \"foobar baz\"]", "[\"foobar baz\"]");
    EXPECT("regex.split", "[\"^[a-z ]+$\", \"foobar baz\"]", "[\"\", \"\"]");
    EXPECT("regex.split", "[\"a\", \"banana\"]", "[\"b\", \"n\", \"n\", \"\"]");
    EXPECT("regex.split", "[\"z+\", \"pizza\"]", "[\"pi\", \"a\"]");
    EXPECT("regex.replace", "[\"-wy-wxxy-\", \"w(x*)y\", \"0\"]", "\"-0-0-\"");
    EXPECT("regex.replace", "[\"foo\", \"(foo)\", \"$1$1\"]", "\"foofoo\"");
    EXPECT("regex.replace", "[\"foo\", \"(?P<w>o)\", \"[${w}]\"]", "\"f[o][o]\"");
    EXPECT_ERR("regex.replace", "[\"foo\", \"[\", \"$1\"]", "error parsing regexp");
    EXPECT("regex.replace", "[\"foo\", \"^[a-z]\", \"F\"]", "\"Foo\"");
    EXPECT("regex.replace", "[\"foo\", \"^[a-z]+$\", \"M\"]", "\"M\"");
    EXPECT("regex.replace", "[\"foo\", \"[a-z]$\", \"F\"]", "\"foF\"");
    EXPECT("regex.replace", "[\"foo bar\", \"[a-z]\", \"_\"]", "\"___ ___\"");
    EXPECT("regex.replace", "[\"foo barx\", \"[a-z]{2}\", \"_\"]", "\"_o __\"");
    EXPECT("regex.replace", "[\"abc\", \"x*\", \"-\"]", "\"-a-b-c-\"");
    EXPECT("regex.template_match", "[\"urn:foo:{.*}\", \"urn:foo:bar:baz\", \"{\", \"}\"]", "true");
    EXPECT("regex.template_match", "[\"urn:foo:<.*>\", \"urn:foo:bar:baz\", \"<\", \">\"]", "true");
    EXPECT("regex.template_match", "[\"urn:foo.{[a-z]+}\", \"urn:fooXbar\", \"{\", \"}\"]", "false");
    EXPECT_ERR("regex.template_match", "[\"urn:{.*\", \"urn:x\", \"{\", \"}\"]", "unbalanced braces");
}

static void test_glob(void **state)
{
    (void)state;
    EXPECT("glob.match", "[\"*.github.com\", [\".\"], \"api.github.com\"]", "true");
    EXPECT("glob.match", "[\"api.**.com\", [\".\"], \"api.cdn.github.com\"]", "true");
    EXPECT("glob.match", "[\"*:github:com\", [\":\"], \"api:github:com\"]", "true");
    EXPECT("glob.match", "[\"*.github.com\", [\".\"], \"api.not-github.com\"]", "false");
    EXPECT("glob.match", "[\"[abc]at\", [], \"cat\"]", "true");
    EXPECT("glob.match", "[\"[abc]at\", [], \"fat\"]", "false");
    EXPECT("glob.match", "[\"[!abc]at\", [], \"fat\"]", "true");
    EXPECT("glob.match", "[\"[!abc]at\", [], \"cat\"]", "false");
    EXPECT("glob.match", "[\"[a-c]at\", [], \"bat\"]", "true");
    EXPECT("glob.match", "[\"[a-c]at\", [], \"fat\"]", "false");
    EXPECT("glob.match", "[\"?at\", [], \"fat\"]", "true");
    EXPECT("glob.match", "[\"?at\", [], \"at\"]", "false");
    EXPECT("glob.match", "[\"?at\", [\"f\"], \"bat\"]", "true");
    EXPECT("glob.match", "[\"?at\", [\"f\"], \"fat\"]", "false");
    EXPECT("glob.match", "[\"{cat,bat,[fr]at}\", [], \"rat\"]", "true");
    EXPECT("glob.match", "[\"{cat,bat,[fr]at}\", [], \"at\"]", "false");
    EXPECT("glob.match", "[\"*\", [], \"foo\"]", "true");
    EXPECT("glob.match", "[\"*\", [], \"foo.bar\"]", "false");
    EXPECT("glob.match", "[\"*\", null, \"foo.bar\"]", "true");
    EXPECT("glob.match", "[\"a\\\\*b\", [], \"a*b\"]", "true");
    EXPECT("glob.match", "[\"a\\\\*b\", [], \"axb\"]", "false");
    EXPECT_ERR("glob.match", "[\"[abc\", [], \"a\"]", "glob.match");
    EXPECT("regex.globs_match", "[\"a.a.[0-9]+z\", \".b.b2359825792*594823z\"]", "true");
    EXPECT("regex.globs_match", "[\"[a-z]+\", \"[0-9]*\"]", "false");
    EXPECT("regex.globs_match", "[\"b.*\", \"bar\"]", "true");
    EXPECT("regex.globs_match", "[\"[a-z]+\\\\[[0-9]+\\\\]\", \"foo[\\\"bar\\\"]\"]", "false");
    EXPECT("regex.globs_match", "[\"a+b\", \"[^x]*\"]", "true");
    EXPECT_ERR("regex.globs_match", "[\"pqrs]\", \"[a-b]+\"]",
               "input:pqrs], pos:5, set-close ']' with no preceding '[': the input provided is invalid");
    EXPECT("glob.quote_meta", "[\"*.github.com\"]", "\"\\\\*.github.com\"");
    EXPECT("glob.quote_meta", "[\"[a]{b}?\\\\\"]", "\"\\\\[a\\\\]\\\\{b\\\\}\\\\?\\\\\\\\\"");
}

/* Several threads share the pattern cache. */
static void *regex_worker(void *arg)
{
    (void)arg;
    const rego_builtin_def *d = rego_builtin_find("regex.match");
    for (int i = 0; i < 2000; i++) {
        char pat[32];
        snprintf(pat, sizeof pat, "^a{%d}$", i % 700);
        rv *args[2] = {rv_cstring(pat), rv_cstring("aaa")};
        rv *out = NULL;
        struct rego_bctx ctx;
        memset(&ctx, 0, sizeof ctx);
        if (d->fn(&ctx, args, &out) != REGO_OK || rv_is_true(out) != (i % 700 == 3)) {
            rv_unref(args[0]);
            rv_unref(args[1]);
            rv_unref(out);
            return (void *)1;
        }
        rv_unref(out);
        rv_unref(args[0]);
        rv_unref(args[1]);
    }
    return NULL;
}

static void test_regex_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, regex_worker, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
}

/* ------------------------------------------------------------ collections */

static void test_arrays(void **state)
{
    (void)state;
    EXPECT("array.concat", "[[1, 2], [3, 4]]", "[1, 2, 3, 4]");
    EXPECT("array.slice", "[[1, 2, 3, 4, 5], 1, 3]", "[2, 3]");
    EXPECT("array.slice", "[[1, 2, 3, 4, 5], -4, -1]", "[]");
    EXPECT("array.slice", "[[1, 2, 3, 4, 5], 4, 1]", "[]");
    EXPECT("array.slice", "[[1, 2, 3, 4, 5], -1, 2]", "[1, 2]");
    EXPECT("array.slice", "[[1, 2, 3, 4, 5], 3, 6]", "[4, 5]");
    EXPECT("array.slice", "[[], 1000, 2000]", "[]");
    EXPECT("array.reverse", "[[1, 2, 3]]", "[3, 2, 1]");
    EXPECT("array.reverse", "[[]]", "[]");
    EXPECT("array.flatten", "[[[[1], [2, 3, []]], [[4, 5]]]]", "[[1], [2, 3, []], [4, 5]]");
    EXPECT("array.flatten", "[[[1, 2], \"string\", [3, {\"a\": \"b\"}], 4.5, [6, [7, 8]]]]",
           "[1, 2, \"string\", 3, {\"a\": \"b\"}, 4.5, 6, [7, 8]]");
}

static void test_objects(void **state)
{
    (void)state;
    EXPECT("object.get", "[{\"a\": \"b\"}, \"a\", \"c\"]", "\"b\"");
    EXPECT("object.get", "[{\"a\": \"b\"}, \"c\", \"c\"]", "\"c\"");
    EXPECT("object.get", "[{\"a\": {\"b\": \"c\"}}, \"b\", true]", "true");
    EXPECT("object.get", "[{\"a\": [{\"b\": true}]}, [\"a\", 0, \"b\"], false]", "true");
    EXPECT("object.get", "[{\"a\": [{\"b\": true}]}, [\"a\", 1, \"b\"], false]", "false");
    EXPECT("object.get", "[{\"a\": 1}, [], false]", "{\"a\": 1}");
    EXPECT("object.keys", "[{\"a\": 1, \"b\": 2}]", "{\"$set\": [\"a\", \"b\"]}");
    EXPECT("object.remove", "[{\"a\": 1, \"b\": {\"c\": 3}, \"d\": 4}, {\"$set\": [\"b\", \"d\"]}]", "{\"a\": 1}");
    EXPECT("object.remove", "[{\"a\": 1, \"b\": {\"c\": 3}, \"d\": 4}, [\"d\", \"b\"]]", "{\"a\": 1}");
    EXPECT("object.remove", "[{\"a\": 1, \"b\": {\"c\": 3}, \"d\": 4}, {\"b\": 1, \"d\": \"\"}]", "{\"a\": 1}");
    EXPECT("object.remove", "[{\"a\": {\"b\": {\"c\": 2}}, \"x\": 123}, {\"a\": {\"b\": {\"foo\": \"bar\"}}}]",
           "{\"x\": 123}");
    EXPECT("object.remove", "[{\"a\": 1}, {\"$set\": [\"z\"]}]", "{\"a\": 1}");
    EXPECT("object.filter", "[{\"a\": 1, \"b\": 2, \"c\": 3, \"e\": 9}, {\"$set\": [\"a\", \"e\"]}]",
           "{\"a\": 1, \"e\": 9}");
    EXPECT("object.filter", "[{\"a\": 1, \"b\": 2, \"c\": 3, \"e\": 9}, {\"a\": \"foo\", \"e\": \"\"}]",
           "{\"a\": 1, \"e\": 9}");
    EXPECT("object.filter", "[{\"a\": 7}, []]", "{}");
    EXPECT("object.union",
           "[{\"a\": {\"b\": {\"c\": 1}}, \"e\": 1}, {\"a\": {\"b\": \"foo\", \"b1\": \"bar\"}, \"d\": 7, \"e\": 17}]",
           "{\"a\": {\"b\": \"foo\", \"b1\": \"bar\"}, \"d\": 7, \"e\": 17}");
    EXPECT("object.union", "[{\"a\": {\"b\": {\"c\": 1}}}, {\"a\": {\"b\": {\"d\": 2}}}]",
           "{\"a\": {\"b\": {\"c\": 1, \"d\": 2}}}");
    EXPECT("object.union_n", "[[{}]]", "{}");
    EXPECT("object.union_n",
           "[[{\"a\": 1, \"b\": 2, \"c\": 3}, {\"foo\": \"baz\", \"a\": \"a\", \"b\": 2, \"d\": 4}, "
           "{\"a\": \"final A!\", \"e\": 5.0}]]",
           "{\"a\": \"final A!\", \"b\": 2, \"c\": 3, \"d\": 4, \"e\": 5, \"foo\": \"baz\"}");
    EXPECT_TYPE_ERR("object.union_n", "[[{\"foo\": 1}, {\"bar\": 2}, \"baz\"]]", "object.union_n");
}

static void test_subset_sets(void **state)
{
    (void)state;
    EXPECT("object.subset", "[{\"a\": 5, \"b\": 7, \"c\": 15}, {\"a\": 5}]", "true");
    EXPECT("object.subset", "[{\"a\": 5}, {\"a\": 5, \"b\": 7}]", "false");
    EXPECT("object.subset",
           "[{\"a\": 5, \"n\": {\"x\": 10, \"s\": {\"$set\": [1, 2, 3, 4]}, \"arr\": [6, 7, 8, 9]}}, "
           "{\"n\": {\"s\": {\"$set\": [4, 1]}, \"arr\": [6, 7]}}]",
           "true");
    EXPECT("object.subset", "[{\"$set\": [1, 2, 3]}, {\"$set\": [3, 2]}]", "true");
    EXPECT("object.subset",
           "[{\"$set\": [1, 2, 3, {\"$set\": [\"a\", \"b\", \"c\"]}]}, {\"$set\": [3, 2, {\"$set\": [\"a\", \"b\"]}]}]",
           "false");
    EXPECT("object.subset", "[[1, 2, 3, 4, 5, 6], [3, 4, 5]]", "true");
    EXPECT("object.subset", "[[1, 2, 3, 4, 5, 6], [4, 5, 6, 8]]", "false");
    EXPECT("object.subset", "[[1, 2, 3, 4, 5, 6], {\"$set\": [4, 3, 2]}]", "true");
    EXPECT("object.subset", "[[1, 2, 3, 4, 5, 6], {\"$set\": [9]}]", "false");
    EXPECT_TYPE_ERR("object.subset", "[{\"$set\": [1]}, [1]]", "object.subset");
    EXPECT_TYPE_ERR("object.subset", "[1, [1]]",
                    "object.subset: operand 1 must be one of {object, set, array} but got number");
    EXPECT_TYPE_ERR("object.remove", "[{}, \"a\"]",
                    "object.remove: operand 2 must be one of {object, set, array} but got string");
    EXPECT_TYPE_ERR("object.filter", "[{}, null]",
                    "object.filter: operand 2 must be one of {object, set, array} but got null");
    EXPECT_TYPE_ERR("json.remove", "[{}, 1]", "json.remove: operand 2 must be one of {set, array} but got number");
    EXPECT_TYPE_ERR("concat", "[\",\", 1]", "concat: operand 2 must be one of {set, array} but got number");
    EXPECT("intersection", "[{\"$set\": []}]", "{\"$set\": []}");
    EXPECT("intersection", "[{\"$set\": [{\"$set\": [1, 2, 3]}, {\"$set\": [2]}]}]", "{\"$set\": [2]}");
    EXPECT("intersection",
           "[{\"$set\": [{\"$set\": [\"a\", \"b\", \"c\", \"d\"]}, {\"$set\": [\"b\", \"c\", \"d\"]}, "
           "{\"$set\": [\"c\", \"d\"]}, {\"$set\": [\"d\"]}]}]",
           "{\"$set\": [\"d\"]}");
    EXPECT("union", "[{\"$set\": [{\"$set\": []}, {\"$set\": [1, 2]}]}]", "{\"$set\": [1, 2]}");
    EXPECT("union", "[{\"$set\": [{\"$set\": [1, 2, 3]}, {\"$set\": [2, 4]}]}]", "{\"$set\": [1, 2, 3, 4]}");
}

/* ------------------------------------------------------------ json */

static void test_json_marshal(void **state)
{
    (void)state;
    EXPECT("json.marshal", "[[{\"foo\": {\"$set\": [1, 2, 3]}}]]", "\"[{\\\"foo\\\":[1,2,3]}]\"");
    EXPECT("json.marshal_with_options", "[[1234567890, 2000000, 1000000000], {\"indent\": \"  \"}]",
           "\"[\\n  1234567890,\\n  2000000,\\n  1000000000\\n]\"");
    EXPECT("json.marshal_with_options", "[[1, 2], {}]", "\"[1,2]\"");
    EXPECT("json.marshal_with_options", "[[1, 2], {\"pretty\": true}]", "\"[\\n\\t1,\\n\\t2\\n]\"");
    EXPECT("json.marshal_with_options", "[[1, 2], {\"pretty\": false, \"prefix\": \"NO!\", \"indent\": \"BAD!\"}]",
           "\"[1,2]\"");
    EXPECT("json.marshal_with_options", "[{\"foo\": \"bar\", \"bar\": \"baz\"}, {\"prefix\": \"JSON => \"}]",
           "\"JSON => {\\nJSON => \\t\\\"bar\\\": \\\"baz\\\",\\nJSON => \\t\\\"foo\\\": \\\"bar\\\"\\nJSON => }\"");
    EXPECT("json.marshal_with_options", "[[], {\"indent\": \"    \", \"prefix\": \"---\"}]", "\"---[]\"");
    EXPECT("json.marshal_with_options", "[[[[]]], {\"indent\": \" \"}]", "\"[\\n [\\n  []\\n ]\\n]\"");
    EXPECT_TYPE_ERR("json.marshal_with_options",
                    "[[], {\"indent\": \"    \", \"include_winning_lottery_numbers\": true}]",
                    "object contained unknown key \"include_winning_lottery_numbers\"");
    EXPECT("json.unmarshal", "[\"[{\\\"foo\\\":[1,2,3]}]\"]", "[{\"foo\": [1, 2, 3]}]");
    EXPECT("json.unmarshal", "[\"123456789012345678901234567890\"]", "123456789012345678901234567890");
    EXPECT("json.unmarshal",
           "[\" {\\\"a\\\": \\\"\\\\u00e5\\\\ud83d\\\\ude00\\\", \\\"b\\\": [true, false, null, -1.5e3]} \"]",
           "{\"a\": \"å😀\", \"b\": [true, false, null, -1500]}");
    EXPECT_ERR("json.unmarshal", "[\"{\"]", "json.unmarshal: unexpected end of JSON input");
    EXPECT_ERR("json.unmarshal", "[\"plainstring\"]", "invalid character 'p' looking for beginning of value");
    EXPECT_ERR("json.unmarshal", "[\"[1,]\"]", "invalid character ']' looking for beginning of value");
    EXPECT("json.is_valid", "[\"plainstring\"]", "false");
    EXPECT("json.is_valid", "[\"{\"]", "false");
    EXPECT("json.is_valid", "[\"{\\\"json\\\": \\\"ok\\\"}\"]", "true");
    EXPECT("json.is_valid", "[1]", "false");
}

static void test_json_filter_remove(void **state)
{
    (void)state;
    const char *doc = "{\"a\": {\"b\": {\"c\": 7, \"d\": 8}}, \"e\": 9}";
    char args[512];
    snprintf(args, sizeof args, "[%s, {\"$set\": [\"a/b/c\"]}]", doc);
    EXPECT("json.filter", args, "{\"a\": {\"b\": {\"c\": 7}}}");
    snprintf(args, sizeof args, "[%s, [\"a/b/c\", \"e\"]]", doc);
    EXPECT("json.filter", args, "{\"a\": {\"b\": {\"c\": 7}}, \"e\": 9}");
    snprintf(args, sizeof args, "[%s, {\"$set\": [[\"a\", \"b\", \"c\"], [\"e\"]]}]", doc);
    EXPECT("json.filter", args, "{\"a\": {\"b\": {\"c\": 7}}, \"e\": 9}");
    EXPECT("json.filter", "[{\"a\": {\"b\": 7}}, {\"$set\": [\"a\", \"a/b\"]}]", "{\"a\": {\"b\": 7}}");
    EXPECT("json.filter", "[{\"a\": [{\"1\": [\"b\", \"c\", \"d\"]}, {\"x\": \"y\"}]}, {\"$set\": [\"a/0/1/2\"]}]",
           "{\"a\": [{\"1\": [\"d\"]}]}");
    EXPECT("json.filter", "[{}, {\"$set\": [\"a/b\"]}]", "{}");
    EXPECT_TYPE_ERR("json.filter", "[{}, [1]]",
                    "json.filter: operand 2 must be one of {set, array} containing string paths or array of path "
                    "segments but got number");
    snprintf(args, sizeof args, "[%s, [\"a/b/c\", \"e\"]]", doc);
    EXPECT("json.remove", args, "{\"a\": {\"b\": {\"d\": 8}}}");
    EXPECT("json.remove", "[{\"a\": {\"b\": 7}, \"c\": 1}, {\"$set\": [\"a\", \"a/b\"]}]", "{\"c\": 1}");
    EXPECT("json.remove", "[{\"a\": {\"b\": 7}, \"c\": 1}, {\"$set\": [\"a/b\", \"c\"]}]", "{\"a\": {}}");
    EXPECT("json.remove", "[{\"a\": [{\"b\": 7, \"c\": 8}, {\"d\": 9}]}, {\"$set\": [\"a/0/b\", \"a/1\"]}]",
           "{\"a\": [{\"c\": 8}]}");
    EXPECT("json.remove", "[{\"a\": [{\"1\": [\"b\", \"c\", \"d\"]}, {\"x\": \"y\"}]}, {\"$set\": [\"a/0/1/2\"]}]",
           "{\"a\": [{\"1\": [\"b\", \"c\"]}, {\"x\": \"y\"}]}");
    EXPECT("json.remove", "[{\"a\": 7}, {\"$set\": []}]", "{\"a\": 7}");
    EXPECT_TYPE_ERR("json.remove", "[{}, {\"$set\": [{\"a\": 1}]}]", "but got object");
}

static void test_json_patch(void **state)
{
    (void)state;
    EXPECT("json.patch", "[{\"foo\": \"bar\"}, [{\"op\": \"add\", \"path\": \"/baz\", \"value\": \"qux\"}]]",
           "{\"baz\": \"qux\", \"foo\": \"bar\"}");
    EXPECT("json.patch",
           "[{\"foo\": [\"bar\", \"baz\"]}, [{\"op\": \"add\", \"path\": \"/foo/1\", \"value\": \"qux\"}]]",
           "{\"foo\": [\"bar\", \"qux\", \"baz\"]}");
    EXPECT("json.patch", "[{\"foo\": [\"bar\", \"qux\", \"baz\"]}, [{\"op\": \"remove\", \"path\": \"/foo/1\"}]]",
           "{\"foo\": [\"bar\", \"baz\"]}");
    EXPECT("json.patch",
           "[{\"foo\": {\"bar\": \"baz\", \"waldo\": \"fred\"}, \"qux\": {\"corge\": \"grault\"}}, "
           "[{\"op\": \"move\", \"from\": \"/foo/waldo\", \"path\": \"/qux/thud\"}]]",
           "{\"foo\": {\"bar\": \"baz\"}, \"qux\": {\"corge\": \"grault\", \"thud\": \"fred\"}}");
    EXPECT("json.patch",
           "[{\"foo\": [\"all\", \"grass\", \"cows\", \"eat\"]}, [{\"op\": \"move\", \"from\": \"/foo/1\", \"path\": "
           "\"/foo/3\"}]]",
           "{\"foo\": [\"all\", \"cows\", \"eat\", \"grass\"]}");
    EXPECT("json.patch", "[{\"/\": 9, \"~1\": 10}, [{\"op\": \"test\", \"path\": \"/~01\", \"value\": 10}]]",
           "{\"/\": 9, \"~1\": 10}");
    EXPECT_UNDEF("json.patch", "[{\"/\": 9, \"~1\": 10}, [{\"op\": \"test\", \"path\": \"/~01\", \"value\": \"10\"}]]");
    EXPECT_UNDEF("json.patch", "[{\"q\": {\"bar\": 2}}, [{\"op\": \"add\", \"path\": \"/a/b\", \"value\": 1}]]");
    EXPECT("json.patch", "[{}, [{\"op\": \"add\", \"path\": \"/\", \"value\": 1}]]", "{\"\": 1}");
    EXPECT("json.patch", "[{\"foo\": {}}, [{\"op\": \"add\", \"path\": \"/foo/\", \"value\": 1}]]",
           "{\"foo\": {\"\": 1}}");
    EXPECT("json.patch", "[{}, [{\"op\": \"add\", \"path\": \"\", \"value\": []}]]", "[]");
    EXPECT("json.patch", "[[], [{\"op\": \"add\", \"path\": \"/-\", \"value\": \"hi\"}]]", "[\"hi\"]");
    EXPECT("json.patch", "[[1, 2, [3, [4, 5]]], [{\"op\": \"add\", \"path\": \"/2/1/-\", \"value\": 6}]]",
           "[1, 2, [3, [4, 5, 6]]]");
    EXPECT_UNDEF("json.patch", "[{\"bar\": [1, 2]}, [{\"op\": \"add\", \"path\": \"/bar/8\", \"value\": \"5\"}]]");
    EXPECT_UNDEF("json.patch", "[{\"bar\": [1, 2]}, [{\"op\": \"add\", \"path\": \"/bar/-1\", \"value\": \"5\"}]]");
    EXPECT_UNDEF("json.patch", "[[\"foo\", \"bar\"], [{\"op\": \"test\", \"path\": \"/1e0\", \"value\": \"bar\"}]]");
    EXPECT_UNDEF("json.patch", "[[\"foo\", \"bar\"], [{\"op\": \"test\", \"path\": \"/01\", \"value\": \"bar\"}]]");
    EXPECT_UNDEF("json.patch", "[{\"foo\": \"bar\"}, [{\"op\": \"remove\", \"path\": \"/baz\"}]]");
    EXPECT_UNDEF("json.patch", "[[\"foo\", \"sil\"], [{\"op\": \"add\", \"path\": \"/bar\", \"value\": 42}]]");
    EXPECT("json.patch",
           "[[1, 2, 3, 4], [{\"op\": \"remove\", \"path\": \"/1\"}, {\"op\": \"remove\", \"path\": \"/2\"}]]",
           "[1, 3]");
    EXPECT("json.patch",
           "[{\"baz\": [{\"qux\": \"hello\"}], \"bar\": 1}, [{\"op\": \"copy\", \"from\": \"/baz/0\", \"path\": "
           "\"/boo\"}]]",
           "{\"baz\": [{\"qux\": \"hello\"}], \"bar\": 1, \"boo\": {\"qux\": \"hello\"}}");
    EXPECT("json.patch", "[{\"foo\": 1}, [{\"op\": \"move\", \"from\": \"/foo\", \"path\": \"/foo\"}]]",
           "{\"foo\": 1}");
    EXPECT_ERR("json.patch", "[{\"foo\": 1}, [{\"op\": \"spam\", \"path\": \"/foo\", \"value\": 1}]]", "json.patch");
    EXPECT_ERR("json.patch", "[[1], [{\"op\": \"add\", \"path\": \"/-\"}]]", "missing 'value'");
    /* sets are addressed by member; string paths need no leading slash */
    EXPECT("json.patch", "[{\"foo\": {\"$set\": [\"a\", \"b\", \"c\"]}}, [{\"op\": \"remove\", \"path\": \"foo/b\"}]]",
           "{\"foo\": {\"$set\": [\"a\", \"c\"]}}");
    EXPECT("json.patch",
           "[{\"foo\": {\"$set\": [\"a\", \"b\", \"c\"]}}, [{\"op\": \"add\", \"path\": \"foo/d\", \"value\": \"d\"}]]",
           "{\"foo\": {\"$set\": [\"a\", \"b\", \"c\", \"d\"]}}");
    EXPECT_UNDEF(
        "json.patch",
        "[{\"foo\": {\"$set\": [\"a\", \"b\", \"c\"]}}, [{\"op\": \"add\", \"path\": \"foo/d\", \"value\": \"e\"}]]");
    EXPECT("json.patch",
           "[{\"foo\": {\"$set\": [\"a\", \"b\"]}, \"bar\": {\"$set\": [\"c\", \"d\"]}}, "
           "[{\"op\": \"move\", \"from\": \"foo/a\", \"path\": \"bar/a\"}]]",
           "{\"foo\": {\"$set\": [\"b\"]}, \"bar\": {\"$set\": [\"a\", \"c\", \"d\"]}}");
    EXPECT("json.patch", "[{\"$set\": [[1]]}, [{\"op\": \"add\", \"path\": [[1], 1], \"value\": 2}]]",
           "{\"$set\": [[1, 2]]}");
    EXPECT_UNDEF("json.patch", "[[1, 2, 3], [{\"op\": \"add\", \"path\": \"1.2\", \"value\": \"foo\"}]]");
}

static void test_yaml(void **state)
{
    (void)state;
    EXPECT("yaml.is_valid", "[\"foo:\\n  - qux: bar\\n  - baz: 2\"]", "true");
    EXPECT("yaml.is_valid", "[\"foo:\\n  - qux: bar\\n  - baz: {\"]", "false");
    EXPECT("yaml.is_valid", "[\"{\\\"json\\\": \\\"ok\\\"}\"]", "true");
    EXPECT("yaml.is_valid", "[1]", "false");
    EXPECT("yaml.unmarshal", "[\"a: 1\\nb: [true, no, ~, 1.5, '2', x]\\nc: 0x1f\\n\"]",
           "{\"a\": 1, \"b\": [true, false, null, 1.5, \"2\", \"x\"], \"c\": 31}");
    EXPECT_ERR("yaml.unmarshal", "[\"[1,2,3\"]", "yaml: line 1: did not find");
    EXPECT("yaml.marshal", "[[{\"foo\": {\"$set\": [1, 2, 3]}}]]", "\"- foo:\\n  - 1\\n  - 2\\n  - 3\\n\"");
    EXPECT("yaml.marshal", "[{\"a\": \"true\", \"b\": \"x\", \"c\": \"\"}]",
           "\"a: \\\"true\\\"\\nb: x\\nc: \\\"\\\"\\n\"");
    /* round trip */
    struct rego_bctx ctx;
    memset(&ctx, 0, sizeof ctx);
    rv *y;
    assert_int_equal(call("yaml.marshal", "[{\"k\": [\"on\", \"1\", 2, null, {\"n\": \"multi\\nline\"}]}]", &y, &ctx),
                     REGO_OK);
    rv *args[1] = {y};
    rv *back = NULL;
    assert_int_equal(rego_builtin_find("yaml.unmarshal")->fn(&ctx, args, &back), REGO_OK);
    rv *want = parse("{\"k\": [\"on\", \"1\", 2, null, {\"n\": \"multi\\nline\"}]}");
    assert_true(rv_equal(back, want));
    rv_unref(want);
    rv_unref(back);
    rv_unref(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_basic), cmocka_unit_test(test_strings_index),
        cmocka_unit_test(test_format_int),    cmocka_unit_test(test_sprintf),
        cmocka_unit_test(test_regex),         cmocka_unit_test(test_glob),
        cmocka_unit_test(test_regex_threads), cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_objects),       cmocka_unit_test(test_subset_sets),
        cmocka_unit_test(test_json_marshal),  cmocka_unit_test(test_json_filter_remove),
        cmocka_unit_test(test_json_patch),    cmocka_unit_test(test_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
