/* Unit tests for the net, time, crypto, encoding and misc builtin families.
 *
 * Builtins are called directly through rego_builtin_find(name)->fn with a
 * rego_bctx built on the stack. builtins.h has no public constructor for a
 * context, so this test reaches into rego_int.h for struct rego_bctx; the cases
 * mirror OPA's conformance cases (expected values and error texts) plus edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/builtins.h"
#include "rego/rego_int.h"
#include "rego/value.h"

typedef struct {
    struct rego_bctx ctx;
    rv *cache;
} tctx;

static void tctx_init(tctx *t)
{
    memset(t, 0, sizeof *t);
    t->ctx.now_ns = INT64_C(1670006453141828752);
    t->ctx.cache = &t->cache;
}

static void tctx_done(tctx *t) { rv_unref(t->cache); }

/* Calls name with args given as a JSON array. */
static int call(tctx *t, const char *name, const char *args_json, rv **out)
{
    const rego_builtin_def *def = rego_builtin_find(name);
    if (def == NULL) {
        fprintf(stderr, "builtin %s not found\n", name);
        return -100;
    }
    char eb[128];
    rv *args = rv_from_json_text(args_json, strlen(args_json), eb, sizeof eb);
    if (args == NULL) {
        fprintf(stderr, "bad test args %s: %s\n", args_json, eb);
        return -100;
    }
    assert_int_equal((int)rv_len(args), def->nargs);
    rv *argv[8] = {NULL};
    for (size_t i = 0; i < rv_len(args); i++) argv[i] = rv_array_at(args, i);
    *out = NULL;
    t->ctx.msg[0] = '\0';
    int rc = def->fn(&t->ctx, argv, out);
    rv_unref(args);
    return rc;
}

/* Calls with prepared values (for sets). Steals args. */
static int callv(tctx *t, const char *name, rv *a0, rv *a1, rv **out)
{
    const rego_builtin_def *def = rego_builtin_find(name);
    if (def == NULL) return -100;
    rv *argv[2] = {a0, a1};
    t->ctx.msg[0] = '\0';
    int rc = def->fn(&t->ctx, argv, out);
    rv_unref(a0);
    rv_unref(a1);
    return rc;
}

static rv *json(const char *text)
{
    char eb[128];
    rv *v = rv_from_json_text(text, strlen(text), eb, sizeof eb);
    if (v == NULL) fail_msg("bad json %s: %s", text, eb);
    return v;
}

static rv *set_of(const char *array_json)
{
    rv *a = json(array_json);
    rv *s = rv_set_new(rv_len(a));
    for (size_t i = 0; i < rv_len(a); i++) rv_set_add(s, rv_ref(rv_array_at(a, i)));
    rv_unref(a);
    return s;
}

static void check_value(rv *out, const char *want_json, const char *ctxdesc)
{
    /* numbers go through rv_number_from_text: jansson cannot read integers beyond int64 */
    rv *want = (want_json[0] == '-' || (want_json[0] >= '0' && want_json[0] <= '9'))
                   ? rv_number_from_text(want_json, strlen(want_json))
                   : json(want_json);
    assert_non_null(want);
    char *got = rv_to_json_text(out);
    char *exp = rv_to_json_text(want);
    if (strcmp(got, exp) != 0 && !rv_equal(out, want)) fail_msg("%s: got %s want %s", ctxdesc, got, exp);
    free(got);
    free(exp);
    rv_unref(want);
}

static void ok_impl(const char *name, const char *args, const char *want, int line)
{
    tctx t;
    tctx_init(&t);
    rv *out = NULL;
    int rc = call(&t, name, args, &out);
    if (rc != REGO_OK) fail_msg("line %d: %s(%s) rc=%d msg=%s", line, name, args, rc, t.ctx.msg);
    char desc[256];
    snprintf(desc, sizeof desc, "line %d: %s%s", line, name, args);
    check_value(out, want, desc);
    rv_unref(out);
    tctx_done(&t);
}

static void err_impl(const char *name, const char *args, const char *want_msg, int line)
{
    tctx t;
    tctx_init(&t);
    rv *out = NULL;
    int rc = call(&t, name, args, &out);
    if (rc != REGO_ERR) {
        char *got = out ? rv_to_json_text(out) : NULL;
        fail_msg("line %d: %s(%s) expected error, rc=%d out=%s", line, name, args, rc, got ? got : "-");
    }
    if (out != NULL) fail_msg("line %d: out set on error", line);
    if (strstr(t.ctx.msg, want_msg) == NULL)
        fail_msg("line %d: %s(%s) error %s, want %s", line, name, args, t.ctx.msg, want_msg);
    tctx_done(&t);
}

static void undef_impl(const char *name, const char *args, int line)
{
    tctx t;
    tctx_init(&t);
    rv *out = NULL;
    int rc = call(&t, name, args, &out);
    if (rc != REGO_UNDEF) fail_msg("line %d: %s(%s) expected undefined, rc=%d", line, name, args, rc);
    rv_unref(out);
    tctx_done(&t);
}

/* One-operand call with a number too big for jansson. */
static void big_err(const char *name, const char *num, const char *want_msg)
{
    tctx t;
    tctx_init(&t);
    rv *out = NULL;
    assert_int_equal(callv(&t, name, rv_number_from_text(num, strlen(num)), NULL, &out), REGO_ERR);
    assert_null(out);
    assert_non_null(strstr(t.ctx.msg, want_msg));
    tctx_done(&t);
}

#define OK(name, args, want) ok_impl(name, args, want, __LINE__)
#define ERR(name, args, msg) err_impl(name, args, msg, __LINE__)
#define UNDEF(name, args) undef_impl(name, args, __LINE__)

/* ---------------------------------------------------------------- crypto */

static void test_crypto(void **state)
{
    (void)state;
    OK("crypto.md5", "[\"lorem ipsum\"]", "\"80a751fde577028640c419000e33eba6\"");
    OK("crypto.sha1", "[\"lorem ipsum\"]", "\"bfb7759a67daeb65410490b4d98bb9da7d1ea2ce\"");
    OK("crypto.sha256", "[\"lorem ipsum\"]", "\"5e2bf57d3f40c4b6df69daf1936cb766f832374b4fc0259a7cbff06e2f70f269\"");
    OK("crypto.md5", "[\"\"]", "\"d41d8cd98f00b204e9800998ecf8427e\"");
    OK("crypto.hmac.md5", "[\"foo\", \"bar\"]", "\"31b6db9e5eb4addb42f1a6ca07367adc\"");
    OK("crypto.hmac.sha1", "[\"foo\", \"bar\"]", "\"85d155c55ed286a300bd1cf124de08d87e914f3a\"");
    OK("crypto.hmac.sha256", "[\"foo\", \"bar\"]",
       "\"147933218aaabc0b8b10a2b3a5c34684c8d94341bcf10a4736dc7270f7741851\"");
    OK("crypto.hmac.sha512", "[\"foo\", \"bar\"]",
       "\"24257d7210582a65c731ec55159c8184cc24c02489453e58587f71f44c23a2d61b4b72154a89d17b2d49448a8452ea066f4fc56a2bcea"
       "d45c088572ffccdb3d8\"");
    OK("crypto.hmac.md5", "[\"\u00e5\u00e4\u00f6\u00e7\u00df\U0001F972\u2659\u03a9\", \"\u79d8\u5bc6\u306e\"]",
       "\"20a8743c2157ac60b7e8b79c83651b8d\"");
    OK("crypto.hmac.sha256", "[\"\u00e5\u00e4\u00f6\u00e7\u00df\U0001F972\u2659\u03a9\", \"\u79d8\u5bc6\u306e\"]",
       "\"eb90daeb76d4b2571fbdaf94bbb240809faa8fed93ec0c260dd38c3fdf8d963a\"");
    OK("crypto.hmac.sha1", "[\"foo\", \"\"]", "\"a3cc770fc033e2cb419d42b64e0081a3bd3be30e\"");
    OK("crypto.hmac.equal", "[\"31b6db9e5eb4addb42f1a6ca07367adc\", \"31b6db9e5eb4addb42f1a6ca07367adc\"]", "true");
    OK("crypto.hmac.equal", "[\"31b6db9e5eb4addb42f1a6ca07367adc\", \"31b6db9e5eb4addb\"]", "false");
    OK("crypto.hmac.equal", "[\"\", \"\"]", "true");
    OK("crypto.hmac.equal", "[\"ab\", \"ac\"]", "false");
}

/* ---------------------------------------------------------------- encoding */

static void test_base64(void **state)
{
    (void)state;
    OK("base64.encode", "[\"hello\"]", "\"aGVsbG8=\"");
    OK("base64.encode", "[\"there\"]", "\"dGhlcmU=\"");
    OK("base64.encode", "[\"subjects?_d\"]", "\"c3ViamVjdHM/X2Q=\"");
    OK("base64.encode", "[\"\"]", "\"\"");
    OK("base64.decode", "[\"dGhlcmU=\"]", "\"there\"");
    OK("base64.decode", "[\"c3ViamVjdHM/X2Q=\"]", "\"subjects?_d\"");
    OK("base64.decode", "[\"\"]", "\"\"");
    OK("base64.decode", "[\"aGVs\\nbG8=\"]", "\"hello\"");
    OK("base64.decode", "[\"YQ==\"]", "\"a\"");
    ERR("base64.decode", "[\"YQ\"]", "base64.decode: illegal base64 data at input byte 0");
    ERR("base64.decode", "[\"aGVsbG8\"]", "base64.decode: illegal base64 data at input byte 4");
    ERR("base64.decode", "[\"a=\"]", "illegal base64 data at input byte 1");
    ERR("base64.decode", "[\"YQ=\"]", "illegal base64 data at input byte 3");
    ERR("base64.decode", "[\"YQ==YQ==\"]", "illegal base64 data at input byte 4");
    ERR("base64.decode", "[\"c3ViamVjdHM_X2Q=\"]", "illegal base64 data at input byte 11");
    OK("base64.is_valid", "[\"aGVsbG8=\"]", "true");
    OK("base64.is_valid", "[\"{'not':'base64'}\"]", "false");
    OK("base64url.encode", "[\"hello\"]", "\"aGVsbG8=\"");
    OK("base64url.encode", "[\"subjects?_d\"]", "\"c3ViamVjdHM_X2Q=\"");
    OK("base64url.encode_no_pad", "[\"hello\"]", "\"aGVsbG8\"");
    OK("base64url.encode_no_pad", "[\"there\"]", "\"dGhlcmU\"");
    OK("base64url.decode", "[\"aGVsbG8=\"]", "\"hello\"");
    OK("base64url.decode", "[\"aGVsbG8\"]", "\"hello\"");
    OK("base64url.decode", "[\"c3ViamVjdHM_X2Q\"]", "\"subjects?_d\"");
    ERR("base64url.decode", "[\"c3ViamVjdHM/X2Q=\"]", "base64url.decode: illegal base64 data at input byte 11");
    ERR("base64url.decode", "[\"abcde\"]", "base64url.decode: illegal base64url string: abcde");
}

static void test_hex(void **state)
{
    (void)state;
    OK("hex.encode", "[\"lorem ipsum\"]", "\"6c6f72656d20697073756d\"");
    OK("hex.decode", "[\"6c6f72656d20697073756d\"]", "\"lorem ipsum\"");
    OK("hex.decode", "[\"6C6F\"]", "\"lo\"");
    ERR("hex.decode", "[\"fghijkl\"]", "hex.decode: encoding/hex: invalid byte: U+0067 'g'");
    ERR("hex.decode", "[\"abc\"]", "hex.decode: encoding/hex: odd length hex string");
    ERR("hex.decode", "[\"abz\"]", "invalid byte: U+007A 'z'");
}

static void test_urlquery(void **state)
{
    (void)state;
    OK("urlquery.encode", "[\"a=b+1\"]", "\"a%3Db%2B1\"");
    OK("urlquery.encode", "[\"\"]", "\"\"");
    OK("urlquery.encode", "[\"a b~c.d_e-f/\u00e9\"]", "\"a+b~c.d_e-f%2F%C3%A9\"");
    OK("urlquery.decode", "[\"a%3Db%2B1\"]", "\"a=b+1\"");
    OK("urlquery.decode", "[\"a+b%20c\"]", "\"a b c\"");
    ERR("urlquery.decode", "[\"a%zzb\"]", "urlquery.decode: invalid URL escape \"%zz\"");
    ERR("urlquery.decode", "[\"a%4\"]", "invalid URL escape \"%4\"");
    OK("urlquery.encode_object", "[{}]", "\"\"");
    OK("urlquery.encode_object", "[{\"a\": \"b\", \"c\": \"d\"}]", "\"a=b&c=d\"");
    OK("urlquery.encode_object", "[{\"c\": \"d\", \"a\": [\"b+1\", \"c+2\"]}]", "\"a=b%2B1&a=c%2B2&c=d\"");
    ERR("urlquery.encode_object", "[{\"a\": 1}]", "urlquery.encode_object: operand 1");
    ERR("urlquery.encode_object", "[{\"a\": [1]}]", "urlquery.encode_object: operand 1");

    tctx t;
    tctx_init(&t);
    rv *obj = rv_object_new(1);
    rv_object_set(obj, rv_cstring("a"), set_of("[\"b+1\"]"));
    rv *out = NULL;
    assert_int_equal(callv(&t, "urlquery.encode_object", obj, NULL, &out), REGO_OK);
    check_value(out, "\"a=b%2B1\"", "encode_object set");
    rv_unref(out);
    tctx_done(&t);

    OK("urlquery.decode_object", "[\"a=value_a1&b=value_b&a=value_a2\"]",
       "{\"a\": [\"value_a1\", \"value_a2\"], \"b\": [\"value_b\"]}");
    OK("urlquery.decode_object", "[\"a=value_a1&b\"]", "{\"a\": [\"value_a1\"], \"b\": [\"\"]}");
    OK("urlquery.decode_object", "[\"\"]", "{}");
    OK("urlquery.decode_object", "[\"&&x=%41+b&\"]", "{\"x\": [\"A b\"]}");
    ERR("urlquery.decode_object", "[\"a=1;b=2\"]", "urlquery.decode_object: invalid semicolon separator in query");
    ERR("urlquery.decode_object", "[\"a=%zz\"]", "invalid URL escape \"%zz\"");
}

static void test_uri(void **state)
{
    (void)state;
    OK("uri.parse", "[\"https://example.com:8080/api?q=1#top\"]",
       "{\"scheme\": \"https\", \"hostname\": \"example.com\", \"port\": \"8080\", \"path\": \"/api\", "
       "\"raw_path\": \"/api\", \"raw_query\": \"q=1\", \"fragment\": \"top\"}");
    OK("uri.parse", "[\"https://example.com?q=1#frag\"]",
       "{\"scheme\": \"https\", \"hostname\": \"example.com\", \"raw_query\": \"q=1\", \"fragment\": \"frag\"}");
    OK("uri.parse", "[\"http://[::1]:8080/path\"]",
       "{\"scheme\": \"http\", \"hostname\": \"::1\", \"port\": \"8080\", \"path\": \"/path\", \"raw_path\": "
       "\"/path\"}");
    OK("uri.parse", "[\"https://example.com/path%2Fwith%2Fslashes\"]",
       "{\"scheme\": \"https\", \"hostname\": \"example.com\", \"path\": \"/path/with/slashes\", "
       "\"raw_path\": \"/path%2Fwith%2Fslashes\"}");
    OK("uri.parse", "[\"https://u:p@example.com/a b\"]",
       "{\"scheme\": \"https\", \"hostname\": \"example.com\", \"path\": \"/a b\", \"raw_path\": \"/a%20b\"}");
    OK("uri.parse", "[\"\"]", "{}");
    OK("uri.parse", "[\"mailto:user@example.com\"]", "{\"scheme\": \"mailto\"}");
    ERR("uri.parse", "[\"http://[invalid\"]", "uri.parse: parse \"http://[invalid\": missing ']' in host");
    ERR("uri.parse", "[\"http://host:port/\"]", "invalid port \":port\" after host");
    OK("uri.is_valid", "[\"https://example.com/path?q=1\"]", "true");
    OK("uri.is_valid", "[\"\"]", "false");
    OK("uri.is_valid", "[\"http://[invalid\"]", "false");
    OK("uri.is_valid", "[\"1:x\"]", "false");
    OK("uri.is_valid", "[\"/a/%zz\"]", "false");
}

/* ---------------------------------------------------------------- misc */

static void test_units(void **state)
{
    (void)state;
    OK("units.parse", "[\"500m\"]", "0.5");
    OK("units.parse", "[\"0.0005K\"]", "0.5");
    OK("units.parse", "[\"0.0000005M\"]", "0.5");
    OK("units.parse", "[\"\\\"100TI\\\"\"]", "109951162777600");
    OK("units.parse", "[\"0\"]", "0");
    OK("units.parse", "[\".0\"]", "0");
    OK("units.parse", "[\"12345\"]", "12345");
    OK("units.parse", "[\"10KI\"]", "10240");
    OK("units.parse", "[\"1.1K\"]", "1100");
    OK("units.parse", "[\"1.1Ki\"]", "1126.4");
    OK("units.parse", "[\".5K\"]", "500");
    OK("units.parse", "[\"100m\"]", "0.1");
    OK("units.parse", "[\"100mi\"]", "104857600");
    OK("units.parse", "[\"10e\"]", "10000000000000000000");
    OK("units.parse", "[\"10Ei\"]", "11529215046068469760");
    OK("units.parse", "[\"1e10\"]", "10000000000");
    OK("units.parse", "[\"2.5e3K\"]", "2500000");
    OK("units.parse", "[\"1e-2\"]", "0.01");
    OK("units.parse", "[\"7.8E-1\"]", "0.78");
    OK("units.parse", "[\"6e3Mi\"]", "6291456000");
    OK("units.parse", "[\"5E\"]", "5000000000000000000");
    OK("units.parse", "[\"-3.5E2m\"]", "-0.35");
    ERR("units.parse", "[\"\"]", "units.parse: no amount provided");
    ERR("units.parse", "[\"G\"]", "units.parse: no amount provided");
    ERR("units.parse", "[\"0.0.0\"]", "units.parse: could not parse amount to a number");
    ERR("units.parse", "[\".5.2\"]", "units.parse: could not parse amount to a number");
    ERR("units.parse", "[\"100 k\"]", "units.parse: spaces not allowed in resource strings");
    ERR("units.parse", "[\"10e10000000Ei\"]", "units.parse: exponent too large");
    ERR("units.parse", "[\"10x\"]", "units.parse: unit x not recognized");

    OK("units.parse_bytes", "[\"\\\"100TIB\\\"\"]", "109951162777600");
    OK("units.parse_bytes", "[\"0.0\"]", "0");
    OK("units.parse_bytes", "[\"10KB\"]", "10000");
    OK("units.parse_bytes", "[\"10Kib\"]", "10240");
    OK("units.parse_bytes", "[\"1.1KiB\"]", "1126");
    OK("units.parse_bytes", "[\".5KB\"]", "500");
    OK("units.parse_bytes", "[\"100m\"]", "100000000");
    OK("units.parse_bytes", "[\"10eib\"]", "11529215046068469760");
    OK("units.parse_bytes", "[\"1e3KB\"]", "1000000");
    OK("units.parse_bytes", "[\"3.2E2MiB\"]", "335544320");
    OK("units.parse_bytes", "[\"1e-2KB\"]", "10");
    OK("units.parse_bytes", "[\"7.5e1TiB\"]", "82463372083200");
    OK("units.parse_bytes", "[\"128Gi\"]", "137438953472");
    ERR("units.parse_bytes", "[\"GB\"]", "units.parse_bytes: no byte amount provided");
    ERR("units.parse_bytes", "[\"0.0.0\"]", "units.parse_bytes: could not parse byte amount to a number");
    ERR("units.parse_bytes", "[\" 327MiB \"]", "units.parse_bytes: spaces not allowed in resource strings");
    ERR("units.parse_bytes", "[\"10e10000000EiB\"]", "units.parse_bytes: exponent too large");
}

static void test_semver(void **state)
{
    (void)state;
    OK("semver.is_valid", "[\"1.0.0\"]", "true");
    OK("semver.is_valid", "[\"1\"]", "false");
    OK("semver.is_valid", "[1]", "false");
    OK("semver.is_valid", "[\"1.0.0-rc.1+build.5\"]", "true");
    OK("semver.is_valid", "[\"1.0.0-rc..1\"]", "false");
    OK("semver.is_valid", "[\"1.0.0+\"]", "true");
    OK("semver.is_valid", "[\"1.0.0.0\"]", "false");
    OK("semver.is_valid", "[\"a.b.c\"]", "false");
    OK("semver.compare", "[\"1.0.0\", \"2.0.0\"]", "-1");
    OK("semver.compare", "[\"1.0.0\", \"1.0.0\"]", "0");
    OK("semver.compare", "[\"1.10.0\", \"1.9.0\"]", "1");
    OK("semver.compare", "[\"1.0.0-alpha\", \"1.0.0\"]", "-1");
    OK("semver.compare", "[\"1.0.0-alpha.1\", \"1.0.0-alpha\"]", "1");
    OK("semver.compare", "[\"1.0.0-alpha.beta\", \"1.0.0-alpha.1\"]", "1");
    OK("semver.compare", "[\"1.0.0-rc.11\", \"1.0.0-rc.2\"]", "1");
    OK("semver.compare", "[\"1.0.0+a\", \"1.0.0+b\"]", "0");
    ERR("semver.compare", "[\"1\", \"1.0.0\"]", "semver.compare: operand 1: string \"1\" is not a valid SemVer");
    ERR("semver.compare", "[\"1.0.0\", \"1\"]", "semver.compare: operand 2: string \"1\" is not a valid SemVer");
}

static void test_uuid(void **state)
{
    (void)state;
    OK("uuid.parse", "[\"00000000-0000-4000-8000-000000000000\"]", "{\"variant\": \"RFC4122\", \"version\": 4}");
    OK("uuid.parse", "[\"{00000000-0000-4000-8000-000000000000}\"]", "{\"variant\": \"RFC4122\", \"version\": 4}");
    OK("uuid.parse", "[\"6bea8ef2d3d33cd184e09bab06a52ece\"]", "{\"variant\": \"RFC4122\", \"version\": 3}");
    const char *v2 = "{\"clocksequence\": 12800, \"domain\": \"Person\", \"id\": 1000, \"macvariables\": "
                     "\"local:unicast\", \"nodeid\": \"32-50-96-b3-9f-47\", \"time\": 1693566990121469600, "
                     "\"variant\": \"RFC4122\", \"version\": 2}";
    OK("uuid.parse", "[\"000003e8-48b9-21ee-b200-325096b39f47\"]", v2);
    OK("uuid.parse", "[\"urn:uuid:000003e8-48b9-21ee-b200-325096b39f47\"]", v2);
    UNDEF("uuid.parse", "[\"00000000-0000-4000-8000-00000000000\"]");
    UNDEF("uuid.parse", "[\"not a uuid\"]");

    /* rfc4122: random v4, cached per key within one evaluation */
    tctx t;
    tctx_init(&t);
    rv *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(call(&t, "uuid.rfc4122", "[\"k\"]", &a), REGO_OK);
    assert_int_equal(call(&t, "uuid.rfc4122", "[\"k\"]", &b), REGO_OK);
    assert_int_equal(call(&t, "uuid.rfc4122", "[\"other\"]", &c), REGO_OK);
    assert_true(rv_equal(a, b));
    assert_false(rv_equal(a, c));
    assert_int_equal(rv_strlen(a), 36);
    assert_int_equal(rv_str(a)[14], '4');
    rv_unref(a);
    rv_unref(b);
    rv_unref(c);
    tctx_done(&t);
}

static void test_rand(void **state)
{
    (void)state;
    tctx t;
    tctx_init(&t);
    rv *a = NULL, *b = NULL;
    assert_int_equal(call(&t, "rand.intn", "[\"key\", 100]", &a), REGO_OK);
    assert_int_equal(call(&t, "rand.intn", "[\"key\", 100]", &b), REGO_OK);
    assert_true(rv_equal(a, b));
    int64_t v;
    assert_true(rv_number_as_int64(a, &v));
    assert_true(v >= 0 && v < 100);
    rv_unref(a);
    rv_unref(b);
    assert_int_equal(call(&t, "rand.intn", "[\"neg\", -5]", &a), REGO_OK);
    assert_true(rv_number_as_int64(a, &v));
    assert_true(v >= 0 && v < 5);
    rv_unref(a);
    tctx_done(&t);
    OK("rand.intn", "[\"z\", 0]", "0");
    ERR("rand.intn", "[\"z\", 1.5]", "rand.intn: operand 2 must be integer number");
}

/* ---------------------------------------------------------------- net */

static void test_net_contains(void **state)
{
    (void)state;
    OK("net.cidr_contains", "[\"10.0.0.0/8\", \"10.1.0.0/24\"]", "true");
    OK("net.cidr_contains", "[\"172.17.0.0/24\", \"172.17.0.0/16\"]", "false");
    OK("net.cidr_contains", "[\"10.0.0.0/8\", \"192.168.1.0/24\"]", "false");
    OK("net.cidr_contains", "[\"10.0.0.0/8\", \"10.1.1.1/32\"]", "true");
    OK("net.cidr_contains", "[\"2001:4860:4860::8888/32\", \"2001:4860:4860:1234:5678:1234:5678:8888/128\"]", "true");
    OK("net.cidr_contains", "[\"2001:4860::/96\", \"2001:4860::/32\"]", "false");
    OK("net.cidr_contains", "[\"10.0.0.0/8\", \"10.1.2.3\"]", "true");
    OK("net.cidr_contains", "[\"10.0.0.0/8\", \"192.168.1.1\"]", "false");
    OK("net.cidr_contains", "[\"10.0.0.0/8\", \"::ffff:10.1.2.3\"]", "true");
    OK("net.cidr_contains", "[\"::/0\", \"10.1.2.3\"]", "false");
    ERR("net.cidr_contains", "[\"not-a-cidr\", \"192.168.1.67\"]",
        "net.cidr_contains: invalid CIDR address: not-a-cidr");
    ERR("net.cidr_contains", "[\"192.168.1.0/28\", \"not-a-cidr\"]", "net.cidr_contains");

    OK("net.cidr_intersects", "[\"192.168.1.0/25\", \"192.168.1.64/25\"]", "true");
    OK("net.cidr_intersects", "[\"fd1e:5bfe:8af3:9ddc::/64\", \"fd1e:5bfe:8af3:9ddc:1111::/72\"]", "true");
    OK("net.cidr_intersects", "[\"fd1e:5bfe:8af3:9ddc::/64\", \"2001:4860:4860::8888/32\"]", "false");
    OK("net.cidr_intersects", "[\"10.0.0.0/16\", \"10.1.0.0/16\"]", "false");
    ERR("net.cidr_intersects", "[\"not-a-cidr\", \"192.168.1.0/24\"]", "invalid CIDR address: not-a-cidr");
    ERR("net.cidr_intersects", "[\"192.168.1.0/28\", \"not-a-cidr\"]", "invalid CIDR address: not-a-cidr");

    OK("net.cidr_is_valid", "[\"192.168.1.0/24\"]", "true");
    OK("net.cidr_is_valid", "[\"\"]", "false");
    OK("net.cidr_is_valid", "[\"there goes a string\"]", "false");
    OK("net.cidr_is_valid", "[\"192.168.1.2\"]", "false");
    OK("net.cidr_is_valid", "[\"2002::1234:abcd:ffff:c0a8:101/64\"]", "true");
    OK("net.cidr_is_valid", "[\"192.168.1.2/33\"]", "false");
    OK("net.cidr_is_valid", "[\"010.168.1.2/24\"]", "false");
    OK("net.cidr_is_valid", "[\"fe80::1%eth0/64\"]", "false");
    OK("net.cidr_is_valid", "[\"1.2.3.4/\"]", "false");
}

static void test_net_expand(void **state)
{
    (void)state;
    OK("net.cidr_expand", "[\"192.168.1.1/30\"]",
       "[\"192.168.1.0\", \"192.168.1.1\", \"192.168.1.2\", \"192.168.1.3\"]");
    OK("net.cidr_expand", "[\"172.16.100.255/30\"]",
       "[\"172.16.100.252\", \"172.16.100.253\", \"172.16.100.254\", \"172.16.100.255\"]");
    OK("net.cidr_expand", "[\"192.168.1.1/32\"]", "[\"192.168.1.1\"]");
    OK("net.cidr_expand", "[\"2001:db8::/127\"]", "[\"2001:db8::\", \"2001:db8::1\"]");
    ERR("net.cidr_expand", "[\"192.168.1.1/33\"]", "net.cidr_expand: invalid CIDR address: 192.168.1.1/33");
    ERR("net.cidr_expand", "[\"2001:db8::/64\"]", "net.cidr_expand");
}

static void test_net_merge(void **state)
{
    (void)state;
    OK("net.cidr_merge", "[[\"192.0.128.0/24\"]]", "[\"192.0.128.0/24\"]");
    OK("net.cidr_merge", "[[\"192.0.128.0/24\", \"192.0.128.0/24\"]]", "[\"192.0.128.0/24\"]");
    OK("net.cidr_merge", "[[\"192.0.128.0/24\", \"0.0.0.0/0\"]]", "[\"0.0.0.0/0\"]");
    OK("net.cidr_merge", "[[\"192.0.128.0/24\", \"192.0.129.0/24\"]]", "[\"192.0.128.0/23\"]");
    OK("net.cidr_merge", "[[\"192.0.2.112/30\", \"192.0.2.116/31\", \"192.0.2.118/31\"]]", "[\"192.0.2.112/29\"]");
    OK("net.cidr_merge", "[[\"192.0.129.0/24\", \"192.0.130.0/24\"]]", "[\"192.0.129.0/24\", \"192.0.130.0/24\"]");
    OK("net.cidr_merge", "[[\"192.0.2.112/30\", \"192.0.2.116/32\", \"192.0.2.118/31\"]]",
       "[\"192.0.2.112/30\", \"192.0.2.116/32\", \"192.0.2.118/31\"]");
    OK("net.cidr_merge", "[[\"192.0.2.112/31\", \"192.0.2.116/31\", \"192.0.2.118/31\"]]",
       "[\"192.0.2.112/31\", \"192.0.2.116/30\"]");
    OK("net.cidr_merge",
       "[[\"192.0.1.254/31\", \"192.0.2.0/28\", \"192.0.2.16/28\", \"192.0.2.32/28\", \"192.0.2.48/28\", "
       "\"192.0.2.64/28\", \"192.0.2.80/28\", \"192.0.2.96/28\", \"192.0.2.112/28\", \"192.0.2.128/28\", "
       "\"192.0.2.144/28\", \"192.0.2.160/28\", \"192.0.2.176/28\", \"192.0.2.192/28\", \"192.0.2.208/28\", "
       "\"192.0.2.224/28\", \"192.0.2.240/28\", \"192.0.3.0/28\"]]",
       "[\"192.0.1.254/31\", \"192.0.2.0/24\", \"192.0.3.0/28\"]");
    OK("net.cidr_merge", "[[\"::/0\", \"fe80::1/128\"]]", "[\"::/0\"]");
    OK("net.cidr_merge", "[[\"::/0\", \"::192.0.2.0/124\", \"ff00::101/128\"]]", "[\"::/0\"]");
    OK("net.cidr_merge", "[[\"fe80::/120\", \"192.0.2.0/24\", \"192.0.3.0/24\", \"192.0.4.0/25\", \"192.0.4.128/25\"]]",
       "[\"192.0.2.0/23\", \"192.0.4.0/24\", \"fe80::/120\"]");
    OK("net.cidr_merge", "[[]]", "[]");
    OK("net.cidr_merge", "[[\"192.0.2.112\", \"192.0.2.116/31\", \"192.0.2.118/31\"]]", "[\"192.0.2.0/24\"]");
    OK("net.cidr_merge", "[[\"192.0.128.0\", \"192.0.129.0\"]]", "[\"192.0.128.0/23\"]");
    OK("net.cidr_merge", "[[\"2601:600:8a80:207e:a57d:7567:e2c9:e7b3/128\"]]",
       "[\"2601:600:8a80:207e:a57d:7567:e2c9:e7b3/128\"]");
    OK("net.cidr_merge",
       "[[\"2601:600:8a80:207e:a57d:7567:e2c9:e7b3/64\", \"2601:600:8a80:207e:a57d:7567:e2c9:e7b3/128\"]]",
       "[\"2601:600:8a80:207e::/64\"]");
    OK("net.cidr_merge", "[[\"::c000:200/120\"]]", "[\"::c000:200/120\"]");
    ERR("net.cidr_merge", "[[\"2601:600:8a80:207e:a57d:7567:e2c9:e7b3\"]]",
        "net.cidr_merge: IPv6 invalid: needs prefix length");
    ERR("net.cidr_merge", "[[\"foo\"]]", "net.cidr_merge");

    tctx t;
    tctx_init(&t);
    rv *out = NULL;
    assert_int_equal(
        callv(&t, "net.cidr_merge", set_of("[\"192.0.2.112/30\", \"192.0.2.116/31\", \"192.0.2.118/31\"]"), NULL, &out),
        REGO_OK);
    check_value(out, "[\"192.0.2.112/29\"]", "merge set");
    rv_unref(out);
    tctx_done(&t);
}

static void test_net_contains_matches(void **state)
{
    (void)state;
    OK("net.cidr_contains_matches", "[\"1.1.1.0/24\", \"1.1.1.1\"]", "[[\"1.1.1.0/24\", \"1.1.1.1\"]]");
    OK("net.cidr_contains_matches", "[[\"1.1.2.0/24\", \"1.1.1.0/24\"], [\"1.1.1.1\", \"1.1.2.1\"]]",
       "[[0, 1], [1, 0]]");
    ERR("net.cidr_contains_matches", "[[\"1.1.2.0/24\", \"1.1.1.0/24\"], [\"1.1.1.1\", 1]]",
        "net.cidr_contains_matches: operand 2: element must be string or non-empty array");
    OK("net.cidr_contains_matches", "[{\"k1\": \"1.1.1.1/24\", \"k2\": [\"1.1.1.2/24\", 1]}, \"1.1.1.128\"]",
       "[[\"k1\", \"1.1.1.128\"], [\"k2\", \"1.1.1.128\"]]");

    tctx t;
    tctx_init(&t);
    rv *out = NULL;
    assert_int_equal(callv(&t, "net.cidr_contains_matches", set_of("[\"1.1.1.0/24\", \"1.1.2.0/24\"]"),
                           set_of("[\"1.1.1.1\", \"1.1.2.1\"]"), &out),
                     REGO_OK);
    check_value(out, "[[\"1.1.1.0/24\", \"1.1.1.1\"], [\"1.1.2.0/24\", \"1.1.2.1\"]]", "sets of strings");
    rv_unref(out);
    assert_int_equal(callv(&t, "net.cidr_contains_matches",
                           set_of("[[\"1.1.1.0/24\", \"bar\"], [\"1.1.2.0/24\", \"foo\"]]"),
                           set_of("[[\"1.1.1.1\", \"baz\"], [\"1.1.2.1\", \"qux\"]]"), &out),
                     REGO_OK);
    check_value(
        out,
        "[[[\"1.1.1.0/24\", \"bar\"], [\"1.1.1.1\", \"baz\"]], [[\"1.1.2.0/24\", \"foo\"], [\"1.1.2.1\", \"qux\"]]]",
        "sets of tuples");
    rv_unref(out);
    out = NULL;
    assert_int_equal(callv(&t, "net.cidr_contains_matches",
                           set_of("[[\"1.1.1.0/24\", \"bar\"], [\"1.1.2.0/24\", \"foo\"]]"),
                           set_of("[[], [\"1.1.2.1\", \"qux\"]]"), &out),
                     REGO_ERR);
    assert_string_equal(t.ctx.msg, "net.cidr_contains_matches: operand 2: element must be string or non-empty array");
    assert_null(out);
    tctx_done(&t);

    OK("net.cidr_overlap", "[\"10.0.0.0/8\", \"10.1.2.3\"]", "true");
}

/* ---------------------------------------------------------------- time */

static void test_time_parse(void **state)
{
    (void)state;
    const char *rfc = "2006-01-02T15:04:05Z07:00";
    char args[256];
#define PARSE_OK(layout, value, want)                                                                                  \
    do {                                                                                                               \
        snprintf(args, sizeof args, "[\"%s\", \"%s\"]", layout, value);                                                \
        OK("time.parse_ns", args, want);                                                                               \
    } while (0)
    PARSE_OK(rfc, "2017-06-02T19:00:00-07:00", "1496455200000000000");
    PARSE_OK(rfc, "1677-09-21T00:12:43.145224192-00:00", "-9223372036854775808");
    PARSE_OK(rfc, "2262-04-11T23:47:16.854775807-00:00", "9223372036854775807");
    PARSE_OK("01/02 03:04:05PM '06 -0700", "06/02 07:00:00PM '17 -0700", "1496455200000000000");
    PARSE_OK("02 Jan 06 15:04 -0700", "02 Jun 17 19:00 -0700", "1496455200000000000");
    PARSE_OK("RFC822Z", "02 Jun 17 19:00 -0700", "1496455200000000000");
    PARSE_OK("2006-01-02", "2020-02-02", "1580601600000000000");
    PARSE_OK("Mon, 02 Jan 2006 15:04:05 MST", "Fri, 02 Jun 2017 19:00:00 UTC", "1496430000000000000");
    PARSE_OK("January 2, 2006 3:04pm", "june 2, 2017 7:00pm", "1496430000000000000");
    PARSE_OK("2006-01-02 15:04:05.000", "2017-06-02 19:00:00.123", "1496430000123000000");
    PARSE_OK("2006-01-02 15:04:05.999", "2017-06-02 19:00:00", "1496430000000000000");
    PARSE_OK("2006-002", "2020-060", "1582934400000000000");
    snprintf(args, sizeof args, "[\"%s\", \"%s\"]", rfc, "1677-09-21T00:12:43.145224191-00:00");
    ERR("time.parse_ns", args, "time outside of valid range");
    snprintf(args, sizeof args, "[\"%s\", \"%s\"]", rfc, "2262-04-11T23:47:16.854775808-00:00");
    ERR("time.parse_ns", args, "time outside of valid range");
    ERR("time.parse_ns", "[\"2006-01-02\", \"2020-02-30\"]",
        "time.parse_ns: parsing time \"2020-02-30\": day out of range");
    ERR("time.parse_ns", "[\"2006-01-02\", \"2020-13-01\"]", "parsing time \"2020-13-01\": month out of range");
    ERR("time.parse_ns", "[\"2006-01-02\", \"2020/01/01\"]",
        "parsing time \"2020/01/01\" as \"2006-01-02\": cannot parse \"/01/01\" as \"-\"");
    ERR("time.parse_ns", "[\"2006-01-02\", \"2020-01-01x\"]", "parsing time \"2020-01-01x\": extra text: \"x\"");
    ERR("time.parse_ns", "[\"2006-01-02\", \"20-01-01\"]",
        "parsing time \"20-01-01\" as \"2006-01-02\": cannot parse \"20-01-01\" as \"2006\"");

    OK("time.parse_rfc3339_ns", "[\"1677-09-21T00:12:43.145224192-00:00\"]", "-9223372036854775808");
    OK("time.parse_rfc3339_ns", "[\"1970-01-01T00:00:00-00:00\"]", "0");
    OK("time.parse_rfc3339_ns", "[\"2017-06-02T19:00:00-07:00\"]", "1496455200000000000");
    OK("time.parse_rfc3339_ns", "[\"2017-06-02T19:00:00.5Z\"]", "1496430000500000000");
    OK("time.parse_rfc3339_ns", "[\"2262-04-11T23:47:16.854775807-00:00\"]", "9223372036854775807");
    ERR("time.parse_rfc3339_ns", "[\"2262-04-11T23:47:16.854775808-00:00\"]", "time outside of valid range");
    ERR("time.parse_rfc3339_ns", "[\"1677-09-21T00:12:43.145224191-00:00\"]", "time outside of valid range");
#undef PARSE_OK
}

static void test_time_duration(void **state)
{
    (void)state;
    OK("time.parse_duration_ns", "[\"100ms\"]", "100000000");
    OK("time.parse_duration_ns", "[\"1h30m\"]", "5400000000000");
    OK("time.parse_duration_ns", "[\"-1.5s\"]", "-1500000000");
    OK("time.parse_duration_ns", "[\"0\"]", "0");
    OK("time.parse_duration_ns", "[\"1us\"]", "1000");
    OK("time.parse_duration_ns", "[\"1\u00b5s\"]", "1000");
    OK("time.parse_duration_ns", "[\".5m\"]", "30000000000");
    OK("time.parse_duration_ns", "[\"365d\"]", "31536000000000000");
    OK("time.parse_duration_ns", "[\"1w\"]", "604800000000000");
    OK("time.parse_duration_ns", "[\"1y\"]", "31536000000000000");
    OK("time.parse_duration_ns", "[\"1d2h\"]", "93600000000000");
    ERR("time.parse_duration_ns", "[\"1\"]", "time.parse_duration_ns: time: missing unit in duration \"1\"");
    ERR("time.parse_duration_ns", "[\"1x\"]", "time: unknown unit \"x\" in duration \"1x\"");
    ERR("time.parse_duration_ns", "[\"\"]", "time: invalid duration \"\"");
    ERR("time.parse_duration_ns", "[\"99999999999h\"]", "time: invalid duration");
}

static void test_time_fields(void **state)
{
    (void)state;
    OK("time.date", "[1517814000000000000]", "[2018, 2, 5]");
    OK("time.date", "[[1517814000000000000, \"America/Los_Angeles\"]]", "[2018, 2, 4]");
    OK("time.date", "[[1517832000000000000, \"\"]]", "[2018, 2, 5]");
    OK("time.date", "[1582977600000000000]", "[2020, 2, 29]");
    OK("time.date", "[-9223372036854775808]", "[1677, 9, 21]");
    big_err("time.date", "1582977600000000000000", "time.date: timestamp too big");
    ERR("time.date", "[[0, \"Nowhere/Special\"]]", "time.date: unknown time zone Nowhere/Special");
    ERR("time.date", "[[0, \"../etc/passwd\"]]", "time.date: time: invalid location name");
    OK("time.clock", "[1517832000000000000]", "[12, 0, 0]");
    OK("time.clock", "[1582977600000000000]", "[12, 0, 0]");
    OK("time.clock", "[[1582977600000000000, \"Asia/Kolkata\"]]", "[17, 30, 0]");
    OK("time.weekday", "[1517832000000000000]", "\"Monday\"");
    OK("time.weekday", "[1517918400000000000]", "\"Tuesday\"");
    OK("time.weekday", "[1518004800000000000]", "\"Wednesday\"");
    OK("time.weekday", "[1518091200000000000]", "\"Thursday\"");
    OK("time.weekday", "[1518264000000000000]", "\"Saturday\"");
    OK("time.weekday", "[0]", "\"Thursday\"");
    /* after the last transition in the file: the POSIX footer rule applies (PDT in July 2100) */
    OK("time.clock", "[[4118072400000000000, \"America/Los_Angeles\"]]", "[14, 0, 0]");
    OK("time.clock", "[[4104781200000000000, \"America/Los_Angeles\"]]", "[17, 0, 0]");
    OK("time.clock", "[[4108701599000000000, \"America/Los_Angeles\"]]", "[1, 59, 59]");
    OK("time.clock", "[[4108701600000000000, \"America/Los_Angeles\"]]", "[3, 0, 0]");
    OK("time.clock", "[[4118072400000000000, \"Australia/Sydney\"]]", "[7, 0, 0]");
    OK("time.clock", "[[4110447600000000000, \"Australia/Sydney\"]]", "[2, 0, 0]");
    OK("time.clock", "[[4110451200000000000, \"Australia/Sydney\"]]", "[2, 0, 0]");
    OK("time.clock", "[[4110454800000000000, \"Australia/Sydney\"]]", "[3, 0, 0]");
    OK("time.date", "[[4110444000000000000, \"Australia/Sydney\"]]", "[2100, 4, 4]");
    OK("time.clock", "[[4104781200000000000, \"Europe/Berlin\"]]", "[2, 0, 0]");
    OK("time.clock", "[[1689940800000000000, \"Australia/Sydney\"]]", "[22, 0, 0]");
}

static void test_time_format(void **state)
{
    (void)state;
    OK("time.format", "[1670006453141828752]", "\"2022-12-02T18:40:53.141828752Z\"");
    OK("time.format", "[[1670006453141828752, \"Asia/Kolkata\"]]", "\"2022-12-03T00:10:53.141828752+05:30\"");
    OK("time.format", "[[1670006453141828752, \"Asia/Kolkata\", \"Mon Jan 02 15:04:05 -0700 2006\"]]",
       "\"Sat Dec 03 00:10:53 +0530 2022\"");
    OK("time.format", "[[1670006453141828752, \"Asia/Kolkata\", \"RFC1123Z\"]]", "\"Sat, 03 Dec 2022 00:10:53 +0530\"");
    OK("time.format", "[[1670006453141828752, \"Asia/Kolkata\", \"RFC1123\"]]", "\"Sat, 03 Dec 2022 00:10:53 IST\"");
    OK("time.format",
       "[[1670006453141828752, \"America/New_York\", \"Monday January _2 3:04:05.000 pm MST Z07:00 __2 002\"]]",
       "\"Friday December  2 1:40:53.141 pm EST -05:00 336 336\"");
    OK("time.format", "[[1670006453000000000, \"UTC\", \"2006-01-02T15:04:05.999999999Z07:00 .000 Kitchen\"]]",
       "\"2022-12-02T18:40:53Z .000 Kitchen\"");
    OK("time.format", "[[1670006453000000000, \"\", \"Kitchen\"]]", "\"6:40PM\"");
    OK("time.format", "[-9223372036854775808]", "\"1677-09-21T00:12:43.145224192Z\"");
    big_err("time.format", "15829776000000000000000", "time.format: timestamp too big");
    ERR("time.format", "[1.5]", "time.format: timestamp too big");
}

static void test_time_add_date_diff(void **state)
{
    (void)state;
    OK("time.add_date", "[1585852421593912000, 3, 9, 12]", "1705257221593912000");
    OK("time.add_date", "[1585852421593912000, -1, -1, -1]", "1551465221593912000");
    OK("time.add_date", "[1580515200000000000, 0, 1, 0]", "1583020800000000000"); /* Jan 31 + 1 month = Mar 2 */
    ERR("time.add_date", "[0, 2262, 1, 1]", "time.add_date: time outside of valid range");
    ERR("time.add_date", "[-9223372036854775808, 0, 0, -1]", "time outside of valid range");

    OK("time.diff", "[1580601600000000000, 1583020800000000000]", "[0, 0, 28, 0, 0, 0]");
    OK("time.diff", "[1612224000000000000, 1614556800000000000]", "[0, 0, 27, 0, 0, 0]");
    OK("time.diff", "[1078012800000000000, 1109635200000000000]", "[1, 0, 1, 0, 0, 0]");
    OK("time.diff", "[1670006514141828752, 1670006453141828752]", "[0, 0, 0, 0, 1, 1]");
    OK("time.diff", "[[1670006513141828752, \"UTC\"], [1670006453141828752, \"Asia/Shanghai\"]]", "[0, 0, 0, 0, 1, 0]");

    tctx t;
    tctx_init(&t);
    rv *out = NULL;
    assert_int_equal(call(&t, "time.now_ns", "[]", &out), REGO_OK);
    check_value(out, "1670006453141828752", "now_ns");
    rv_unref(out);
    tctx_done(&t);
}

/* Zone loading and lookups from many threads at once (run under TSan/ASan). */
static void *zone_worker(void *arg)
{
    const char *zones[] = {"Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney", "Local"};
    (void)arg;
    for (int i = 0; i < 200; i++) {
        tctx t;
        tctx_init(&t);
        char args[128];
        snprintf(args, sizeof args, "[[%lld, \"%s\"]]", (long long)(1600000000000000000LL + i * 86400000000000LL),
                 zones[i % 5]);
        rv *out = NULL;
        if (call(&t, "time.date", args, &out) != REGO_OK) return (void *)1;
        rv_unref(out);
        tctx_done(&t);
    }
    return NULL;
}

static void test_time_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, zone_worker, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypto),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_urlquery),
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_semver),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_rand),
        cmocka_unit_test(test_net_contains),
        cmocka_unit_test(test_net_expand),
        cmocka_unit_test(test_net_merge),
        cmocka_unit_test(test_net_contains_matches),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_duration),
        cmocka_unit_test(test_time_fields),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_add_date_diff),
        cmocka_unit_test(test_time_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
