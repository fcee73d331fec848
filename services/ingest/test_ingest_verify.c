/* Unit tests of what ingest verifies before it takes an event: every valid JSON
 * (numbers beyond int64/double kept byte for byte), the SNS canonical string and
 * certificate-host check (sns.c), the Pub/Sub email allow-list (pubsub.c; the JWT
 * and JWKS code has its own tests, common/test_jwt.c), and the auth.http policy
 * (auth.c).
 * The network paths (certificate and JWKS fetches) are covered end to end in
 * tests/e2e/test_ingest_verify.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rego/value.h"
#include "services/ingest/auth.h"
#include "services/ingest/ingest.h"
#include "services/ingest/pubsub.h"
#include "services/ingest/sns.h"

/* ---- every valid JSON ---------------------------------------------------------- */

static void expect_kept(const char *json, const char *number_text)
{
    char *payload = NULL;
    char err[256] = "";
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, json, strlen(json), &payload, err, sizeof err), INGEST_OK);
    assert_string_equal(payload, json); /* bytes passed on unchanged */
    /* and the policies see the number exactly (the engine's parser, as hutch-policy) */
    rv *v = rv_from_json_text(payload, strlen(payload), err, sizeof err);
    assert_non_null(v);
    rv *n = rv_object_get_cstr(v, "v");
    assert_non_null(n);
    assert_int_equal(rv_typeof(n), RV_NUMBER);
    char *t = rv_number_text(n);
    assert_string_equal(t, number_text);
    free(t);
    rv_unref(v);
    free(payload);
}

static void test_numbers_beyond_int64_and_double(void **state)
{
    expect_kept("{\"v\": 18446744073709551615}", "18446744073709551615");
    expect_kept("{\"v\":1234567890123456789012345678901234567890}", "1234567890123456789012345678901234567890");
    expect_kept("{\"v\":-1234567890123456789012345678901234567890}", "-1234567890123456789012345678901234567890");
    expect_kept("{\"v\": 1e400}", "1e400");
    expect_kept("{\"v\": 1E-400}", "1E-400");
    /* -0: the bytes stay "-0"; the engine holds it as the integer 0 (equal as a
     * number; OPA would print it back as -0) */
    expect_kept("{\"v\": -0}", "0");
    expect_kept("{\"v\": 0.1000000000000000000000000001}", "0.1000000000000000000000000001");
}

static void test_json_limits(void **state)
{
    char err[256];
    char *payload = NULL;
    /* nesting: 2048 levels accepted, 2049 refused */
    size_t depth = 2048;
    char *deep = malloc(2 * (depth + 1) + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, deep, strlen(deep), &payload, err, sizeof err), INGEST_OK);
    free(payload);
    memset(deep, '[', depth + 1);
    memset(deep + depth + 1, ']', depth + 1);
    deep[2 * depth + 2] = '\0';
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, deep, strlen(deep), &payload, err, sizeof err), INGEST_BAD);
    assert_non_null(strstr(err, "deep"));
    free(deep);
    /* storable as jsonb: \u0000 refused, in values and in keys */
    const char *nul = "{\"a\": \"x\\u0000y\"}";
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, nul, strlen(nul), &payload, err, sizeof err), INGEST_BAD);
    assert_non_null(strstr(err, "u0000"));
    nul = "[{\"k\\u0000\": 1}]";
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, nul, strlen(nul), &payload, err, sizeof err), INGEST_BAD);
    /* storable as jsonb: Postgres' numeric holds 131072 digits before the point and
     * 16383 after it (checked against Postgres 15: the first of each pair is stored,
     * the second refused) */
    const char *fits[] = {"[1e131071]", "[1E-16383]", "[0.5e131072]", "[-1.5E-16382]", "[0e999999]", NULL};
    const char *beyond[] = {"[1e131072]", "[1E-16384]", "[10e131071]", "[-1.25E-16382]", "[1e1000000000]", NULL};
    for (int i = 0; fits[i]; i++) {
        assert_int_equal(ingest_decode(INGEST_KIND_RAW, fits[i], strlen(fits[i]), &payload, err, sizeof err), INGEST_OK);
        free(payload);
    }
    for (int i = 0; beyond[i]; i++) {
        assert_int_equal(ingest_decode(INGEST_KIND_RAW, beyond[i], strlen(beyond[i]), &payload, err, sizeof err),
                         INGEST_BAD);
        assert_non_null(strstr(err, "131072"));
    }
    /* still invalid: trailing garbage, lone surrogate, bad UTF-8, NaN */
    const char *bad[] = {"{} x", "\"\\ud800\"", "\"\xff\"", "NaN", "[1,]", "01", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(ingest_decode(INGEST_KIND_RAW, bad[i], strlen(bad[i]), &payload, err, sizeof err), INGEST_BAD);
        assert_non_null(strstr(err, "invalid JSON"));
    }
    /* big numbers inside an SNS Message and a Pub/Sub data payload */
    const char *sns = "{\"Type\":\"Notification\",\"Message\":\"{\\\"id\\\":18446744073709551615}\"}";
    assert_int_equal(ingest_decode(INGEST_KIND_SNS, sns, strlen(sns), &payload, err, sizeof err), INGEST_OK);
    assert_string_equal(payload, "{\"id\":18446744073709551615}");
    free(payload);
    const char *ps = "{\"message\":{\"data\":\"eyJ2IjoxZTQwMH0=\"}}"; /* {"v":1e400} */
    assert_int_equal(ingest_decode(INGEST_KIND_PUBSUB, ps, strlen(ps), &payload, err, sizeof err), INGEST_OK);
    assert_string_equal(payload, "{\"v\":1e400}");
    free(payload);
}

/* ---- SNS ----------------------------------------------------------------------- */

static char *canonical(const char *json, char *err, size_t errlen)
{
    json_t *m = json_loads(json, 0, NULL);
    assert_non_null(m);
    char *c = sns_canonical_string(m, err, errlen);
    json_decref(m);
    return c;
}

static void test_sns_canonical_string(void **state)
{
    char err[256];
    /* Notification: Subject only when present; fields in byte order; values unescaped */
    char *c = canonical("{\"Type\":\"Notification\",\"MessageId\":\"m-1\",\"TopicArn\":\"arn:aws:sns:us-east-1:1:t\","
                        "\"Subject\":\"Hi\",\"Message\":\"{\\\"a\\\":1}\\nline2\",\"Timestamp\":\"2026-01-01T00:00:00.000Z\","
                        "\"SignatureVersion\":\"1\",\"Signature\":\"x\",\"SigningCertURL\":\"u\",\"UnsubscribeURL\":\"v\"}",
                        err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c, "Message\n{\"a\":1}\nline2\nMessageId\nm-1\nSubject\nHi\nTimestamp\n2026-01-01T00:00:00.000Z\n"
                           "TopicArn\narn:aws:sns:us-east-1:1:t\nType\nNotification\n");
    free(c);
    c = canonical("{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"t\",\"Subject\":null,\"Message\":\"x\","
                  "\"Timestamp\":\"ts\"}", err, sizeof err);
    assert_string_equal(c, "Message\nx\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n");
    free(c);
    /* confirmations: SubscribeURL and Token, never Subject */
    const char *types[] = {"SubscriptionConfirmation", "UnsubscribeConfirmation"};
    for (int i = 0; i < 2; i++) {
        char json[512], want[512];
        snprintf(json, sizeof json,
                 "{\"Type\":\"%s\",\"MessageId\":\"m\",\"Token\":\"tok\",\"TopicArn\":\"t\",\"Subject\":\"s\","
                 "\"Message\":\"x\",\"SubscribeURL\":\"https://sns.us-east-1.amazonaws.com/?a=1\",\"Timestamp\":\"ts\"}",
                 types[i]);
        snprintf(want, sizeof want,
                 "Message\nx\nMessageId\nm\nSubscribeURL\nhttps://sns.us-east-1.amazonaws.com/?a=1\nTimestamp\nts\n"
                 "Token\ntok\nTopicArn\nt\nType\n%s\n", types[i]);
        c = canonical(json, err, sizeof err);
        assert_non_null(c);
        assert_string_equal(c, want);
        free(c);
    }
    /* a missing or non-string field, an unknown type */
    assert_null(canonical("{\"Type\":\"Notification\",\"MessageId\":\"m\",\"Message\":\"x\",\"Timestamp\":\"ts\"}", err,
                          sizeof err));
    assert_non_null(strstr(err, "TopicArn"));
    assert_null(canonical("{\"Type\":\"Notification\",\"MessageId\":1,\"TopicArn\":\"t\",\"Message\":\"x\",\"Timestamp\":\"ts\"}",
                          err, sizeof err));
    assert_null(canonical("{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"m\",\"TopicArn\":\"t\",\"Message\":\"x\","
                          "\"Timestamp\":\"ts\",\"SubscribeURL\":\"u\"}", err, sizeof err));
    assert_non_null(strstr(err, "Token"));
    assert_null(canonical("{\"Type\":\"Other\"}", err, sizeof err));
    assert_null(canonical("{}", err, sizeof err));
}

static void test_sns_cert_hosts(void **state)
{
    char err[256];
    sns_options o = {.cert_hosts = NULL};
    sns_verifier *v = sns_verifier_new(&o, err, sizeof err);
    assert_non_null(v);
    assert_true(sns_url_allowed(v, "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"));
    assert_true(sns_url_allowed(v, "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem"));
    assert_false(sns_url_allowed(v, "http://sns.us-east-1.amazonaws.com/x.pem"));
    assert_false(sns_url_allowed(v, "https://evil.example/cert.pem"));
    assert_false(sns_url_allowed(v, "https://sns.us-east-1.amazonaws.com.evil.example/x.pem"));
    assert_false(sns_url_allowed(v, "https://evil.example/sns.us-east-1.amazonaws.com/x.pem"));
    assert_false(sns_url_allowed(v, "https://sns.us-east-1.amazonaws.com@evil.example/x.pem"));
    assert_false(sns_url_allowed(v, "https://u:p@sns.us-east-1.amazonaws.com/x.pem"));
    assert_false(sns_url_allowed(v, "https://sns.us-east-1.amazonaws.com:8443/x.pem")); /* host[:port] must match */
    assert_false(sns_url_allowed(v, "not a url"));
    sns_verifier_free(v);
    o.cert_hosts = "^127\\.0\\.0\\.1:[0-9]+$";
    v = sns_verifier_new(&o, err, sizeof err);
    assert_true(sns_url_allowed(v, "https://127.0.0.1:4443/cert.pem"));
    assert_false(sns_url_allowed(v, "https://127.0.0.1/cert.pem"));
    sns_verifier_free(v);
    o.cert_hosts = "(";
    assert_null(sns_verifier_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "pattern"));
}

static void test_sns_unverifiable(void **state)
{
    /* everything refused before any fetch: the forged message of issue 15, bad versions */
    char err[256];
    sns_options o = {.cert_hosts = NULL};
    sns_verifier *v = sns_verifier_new(&o, err, sizeof err);
    json_t *msg = NULL;
    const char *forged = "{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"t\",\"Message\":\"{}\","
                         "\"Timestamp\":\"ts\",\"SignatureVersion\":\"1\",\"Signature\":\"AAAA\","
                         "\"SigningCertURL\":\"https://evil.example/cert.pem\"}";
    assert_int_equal(sns_verify(v, forged, strlen(forged), &msg, err, sizeof err), SNS_UNVERIFIED);
    assert_non_null(strstr(err, "SigningCertURL"));
    assert_null(msg);
    const char *v3 = "{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"t\",\"Message\":\"{}\","
                     "\"Timestamp\":\"ts\",\"SignatureVersion\":\"3\",\"Signature\":\"AAAA\","
                     "\"SigningCertURL\":\"https://sns.us-east-1.amazonaws.com/x.pem\"}";
    assert_int_equal(sns_verify(v, v3, strlen(v3), &msg, err, sizeof err), SNS_UNVERIFIED);
    assert_non_null(strstr(err, "SignatureVersion"));
    const char *nosig = "{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"t\",\"Message\":\"{}\"}";
    assert_int_equal(sns_verify(v, nosig, strlen(nosig), &msg, err, sizeof err), SNS_UNVERIFIED);
    assert_int_equal(sns_verify(v, "[]", 2, &msg, err, sizeof err), SNS_UNVERIFIED);
    sns_verifier_free(v);
}

static void test_pubsub_email(void **state)
{
    char err[256];
    json_t *c = json_pack("{s:s, s:b}", "email", "push@proj.iam.gserviceaccount.com", "email_verified", 1);
    assert_int_equal(pubsub_check_email(c, "", err, sizeof err), 0);
    assert_int_equal(pubsub_check_email(c, "a@b, push@proj.iam.gserviceaccount.com", err, sizeof err), 0);
    assert_int_equal(pubsub_check_email(c, "a@b", err, sizeof err), -1);
    assert_int_equal(pubsub_check_email(c, "push@proj", err, sizeof err), -1); /* whole names only */
    json_object_set_new(c, "email_verified", json_false());
    assert_int_equal(pubsub_check_email(c, "push@proj.iam.gserviceaccount.com", err, sizeof err), -1);
    json_decref(c);
    /* without an audience nothing verifies */
    pubsub_options o = {.jwks_url = "https://127.0.0.1:1/none"};
    pubsub_verifier *v = pubsub_verifier_new(&o);
    json_t *claims = NULL;
    assert_int_equal(pubsub_verify(v, "Bearer x.y.z", &claims, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUDIENCE"));
    pubsub_verifier_free(v);
}

/* ---- auth.http ----------------------------------------------------------------- */

static char policy_dir[64];

static void write_policy(const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/auth.rego", policy_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static ingest_auth_request request(const char *const *names, const char *const *values, size_t n)
{
    ingest_auth_request r = {.method = "POST", .path = "/hooks/alert/raw/x", .query = "src=a&api_key=s3cret&src=b",
                             .remote = "127.0.0.1:5555", .header_names = names, .header_values = values,
                             .nheaders = n, .body = "{}", .body_len = 2};
    return r;
}

static void test_auth_policy(void **state)
{
    snprintf(policy_dir, sizeof policy_dir, "/tmp/hutch-auth-XXXXXX");
    assert_non_null(mkdtemp(policy_dir));
    setenv("HUTCH_TEST_HOOK_TOKEN", "t0ken", 1);
    write_policy("package auth.http\n\nimport rego.v1\n\ndefault allow := false\n\n"
                 "allow if {\n  startswith(input.req.path, \"/hooks/alert/\")\n"
                 "  input.req.header[\"X-Hook-Token\"][0] == input.env.HUTCH_TEST_HOOK_TOKEN\n"
                 "  input.req.query.src == [\"a\", \"b\"]\n  input.req.remote == \"127.0.0.1:5555\"\n"
                 "  input.req.method == \"POST\"\n}\n\n"
                 "allow if input.sns.TopicArn == \"arn:aws:sns:us-east-1:1:ok\"\n");
    char err[1024];
    ingest_auth *a = ingest_auth_load(policy_dir, err, sizeof err);
    assert_non_null(a);
    const char *names[] = {"x-hook-token", "authorization"}, *good[] = {"t0ken", "Bearer abc"},
               *bad[] = {"nope", "Bearer abc"};
    ingest_auth_request r = request(names, good, 2);
    bool allow = false;
    rv *in = ingest_auth_input(a, &r);
    assert_int_equal(ingest_auth_decide(a, in, &allow, err, sizeof err), 0);
    assert_true(allow);
    rv_unref(in);
    r = request(names, bad, 2);
    in = ingest_auth_input(a, &r);
    assert_int_equal(ingest_auth_decide(a, in, &allow, err, sizeof err), 0);
    assert_false(allow);
    rv_unref(in);
    json_t *sns = json_pack("{s:s}", "TopicArn", "arn:aws:sns:us-east-1:1:ok");
    r.sns = sns;
    in = ingest_auth_input(a, &r);
    assert_int_equal(ingest_auth_decide(a, in, &allow, err, sizeof err), 0);
    assert_true(allow);
    rv_unref(in);
    json_decref(sns);
    /* the log form: secrets redacted, the rest kept */
    json_t *red = ingest_auth_redacted(&r);
    char *text = json_dumps(red, JSON_COMPACT | JSON_SORT_KEYS);
    assert_null(strstr(text, "Bearer abc"));
    assert_null(strstr(text, "s3cret"));
    assert_non_null(strstr(text, "\"Authorization\":[\"[redacted]\"]"));
    assert_non_null(strstr(text, "\"X-Hook-Token\":[\"[redacted]\"]"));
    assert_non_null(strstr(text, "\"src\":[\"a\",\"b\"]"));
    assert_non_null(strstr(text, "127.0.0.1:5555"));
    free(text);
    json_decref(red);
    ingest_auth_free(a);

    /* allow that is not a boolean: a policy error; a conflict: a policy error */
    write_policy("package auth.http\n\nimport rego.v1\n\nallow := \"yes\"\n");
    a = ingest_auth_load(policy_dir, err, sizeof err);
    r = request(names, good, 2);
    in = ingest_auth_input(a, &r);
    assert_int_equal(ingest_auth_decide(a, in, &allow, err, sizeof err), -1);
    assert_non_null(strstr(err, "boolean"));
    rv_unref(in);
    ingest_auth_free(a);
    write_policy("package auth.http\n\nimport rego.v1\n\nallow := true if input.req.method == \"POST\"\n"
                 "allow := false if input.req.path\n");
    a = ingest_auth_load(policy_dir, err, sizeof err);
    in = ingest_auth_input(a, &r);
    assert_int_equal(ingest_auth_decide(a, in, &allow, err, sizeof err), -1);
    assert_non_null(strstr(err, "conflict"));
    rv_unref(in);
    ingest_auth_free(a);
    /* undefined allow: denied */
    write_policy("package auth.http\n\nimport rego.v1\n\nallow if input.req.method == \"GET\"\n");
    a = ingest_auth_load(policy_dir, err, sizeof err);
    in = ingest_auth_input(a, &r);
    assert_int_equal(ingest_auth_decide(a, in, &allow, err, sizeof err), 0);
    assert_false(allow);
    rv_unref(in);
    ingest_auth_free(a);
    /* no auth.http package; a syntax error */
    write_policy("package ingest.x\n\nimport rego.v1\n\nalerts contains 1\n");
    assert_null(ingest_auth_load(policy_dir, err, sizeof err));
    assert_non_null(strstr(err, "auth.http"));
    write_policy("package auth.http\n\nallow if {\n");
    assert_null(ingest_auth_load(policy_dir, err, sizeof err));
    assert_non_null(strstr(err, "auth.rego:"));
    char path[128];
    snprintf(path, sizeof path, "%s/auth.rego", policy_dir);
    unlink(path);
    rmdir(policy_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_beyond_int64_and_double),
        cmocka_unit_test(test_json_limits),
        cmocka_unit_test(test_sns_canonical_string),
        cmocka_unit_test(test_sns_cert_hosts),
        cmocka_unit_test(test_sns_unverifiable),
        cmocka_unit_test(test_pubsub_email),
        cmocka_unit_test(test_auth_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
