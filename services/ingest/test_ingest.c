/* Unit tests for ingest's domain logic (ingest.c): schema names, hook paths, the
 * three webhook envelopes, bearer tokens and RawEvent building. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/msg.h"
#include "services/ingest/ingest.h"

static void test_schema_names(void **state)
{
    assert_true(ingest_schema_valid("guardduty"));
    assert_true(ingest_schema_valid("a"));
    assert_true(ingest_schema_valid("0abc_d.e-f"));
    assert_true(ingest_schema_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */
    assert_false(ingest_schema_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */
    assert_false(ingest_schema_valid(""));
    assert_false(ingest_schema_valid(NULL));
    assert_false(ingest_schema_valid("_x"));
    assert_false(ingest_schema_valid(".x"));
    assert_false(ingest_schema_valid("GuardDuty"));
    assert_false(ingest_schema_valid("a/b"));
    assert_false(ingest_schema_valid("a b"));
    assert_false(ingest_schema_valid("a%2e"));
    assert_true(ingest_schema_valid_n("falcoXX", 5));
    assert_false(ingest_schema_valid_n("fal\0co", 6));
    assert_false(ingest_schema_valid_n("x", 0));
}

static void test_parse_path(void **state)
{
    ingest_kind kind;
    char schema[INGEST_SCHEMA_MAX + 1];
    assert_int_equal(ingest_parse_path("/hooks/alert/raw/guardduty", &kind, schema), 0);
    assert_int_equal(kind, INGEST_KIND_RAW);
    assert_string_equal(schema, "guardduty");
    assert_int_equal(ingest_parse_path("/hooks/alert/pubsub/scc", &kind, schema), 0);
    assert_int_equal(kind, INGEST_KIND_PUBSUB);
    assert_int_equal(ingest_parse_path("/hooks/alert/sns/security_hub", &kind, schema), 0);
    assert_int_equal(kind, INGEST_KIND_SNS);
    assert_string_equal(schema, "security_hub");
    assert_int_equal(ingest_parse_path("/hooks/alert/raw/Bad", &kind, schema), -2);
    assert_int_equal(ingest_parse_path("/hooks/alert/raw/", &kind, schema), -2);
    assert_int_equal(ingest_parse_path("/hooks/alert/raw/a/b", &kind, schema), -2);
    assert_int_equal(ingest_parse_path("/hooks/alert/raw", &kind, schema), -1);
    assert_int_equal(ingest_parse_path("/hooks/alert/other/x", &kind, schema), -1);
    assert_int_equal(ingest_parse_path("/hooks/other", &kind, schema), -1);
    assert_int_equal(ingest_parse_path("/", &kind, schema), -1);
    assert_int_equal(ingest_parse_path(NULL, &kind, schema), -1);
    assert_string_equal(ingest_kind_source(INGEST_KIND_PUBSUB), "http:pubsub");
}

static void test_decode_raw(void **state)
{
    char *payload = NULL;
    char err[256];
    const char *ok = "{\"title\": \"x\", \"n\": [1, 2]}";
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, ok, strlen(ok), &payload, err, sizeof err), INGEST_OK);
    assert_string_equal(payload, ok);
    free(payload);
    /* Not NUL-terminated input: only len bytes count. */
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, "[1]garbage", 3, &payload, err, sizeof err), INGEST_OK);
    assert_string_equal(payload, "[1]");
    free(payload);

    const char *bad[] = {"{", "{\"a\":1} x", "nope", "\"\xff\"", "{\"a\":\"\\ud800\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        payload = (char *)1;
        assert_int_equal(ingest_decode(INGEST_KIND_RAW, bad[i], strlen(bad[i]), &payload, err, sizeof err),
                         INGEST_BAD);
        assert_null(payload);
        assert_non_null(strstr(err, "invalid JSON"));
    }
    /* valid JSON, but not storable as jsonb (test_ingest_verify.c has the rest) */
    const char *nul = "{\"a\":\"\\u0000\"}";
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, nul, strlen(nul), &payload, err, sizeof err), INGEST_BAD);
    assert_non_null(strstr(err, "u0000"));
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, "{}\0", 3, &payload, err, sizeof err), INGEST_BAD);
    assert_int_equal(ingest_decode(INGEST_KIND_RAW, "", 0, &payload, err, sizeof err), INGEST_BAD);
}

static void test_base64(void **state)
{
    size_t n = 0;
    unsigned char *out = ingest_base64_decode("aGVsbG8=", 8, &n);
    assert_non_null(out);
    assert_int_equal(n, 5);
    assert_string_equal((char *)out, "hello");
    free(out);
    out = ingest_base64_decode("aGVsbG8", 7, &n); /* unpadded */
    assert_non_null(out);
    assert_int_equal(n, 5);
    free(out);
    out = ingest_base64_decode("aGk=", 4, &n);
    assert_int_equal(n, 2);
    assert_string_equal((char *)out, "hi");
    free(out);
    out = ingest_base64_decode("-_8=", 4, &n); /* URL-safe: fb ff */
    assert_non_null(out);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    free(out);
    out = ingest_base64_decode("", 0, &n);
    assert_non_null(out);
    assert_int_equal(n, 0);
    free(out);
    assert_null(ingest_base64_decode("a", 1, &n));
    assert_null(ingest_base64_decode("ab!d", 4, &n));
    assert_null(ingest_base64_decode("aa==aa", 6, &n));
}

static void test_decode_pubsub(void **state)
{
    char *payload = NULL;
    char err[256];
    /* base64('{"title":"from scc"}') */
    const char *env = "{\"message\":{\"data\":\"eyJ0aXRsZSI6ImZyb20gc2NjIn0=\",\"messageId\":\"1\"},"
                      "\"subscription\":\"projects/p/subscriptions/s\"}";
    assert_int_equal(ingest_decode(INGEST_KIND_PUBSUB, env, strlen(env), &payload, err, sizeof err), INGEST_OK);
    assert_string_equal(payload, "{\"title\":\"from scc\"}");
    free(payload);

    const char *bad[] = {
        "{}",
        "{\"message\":{}}",
        "{\"message\":{\"data\":\"***\"}}",
        "{\"message\":{\"data\":\"bm90IGpzb24=\"}}", /* "not json" */
        "[1]",
        "{",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ingest_decode(INGEST_KIND_PUBSUB, bad[i], strlen(bad[i]), &payload, err, sizeof err),
                         INGEST_BAD);
        assert_null(payload);
    }
}

static void test_decode_sns(void **state)
{
    char *payload = NULL;
    char err[256];
    const char *note = "{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"arn:aws:sns:x\","
                       "\"Message\":\"{\\\"detail\\\":{\\\"title\\\":\\\"t\\\"}}\"}";
    assert_int_equal(ingest_decode(INGEST_KIND_SNS, note, strlen(note), &payload, err, sizeof err), INGEST_OK);
    assert_string_equal(payload, "{\"detail\":{\"title\":\"t\"}}");
    free(payload);

    const char *confirm = "{\"Type\":\"SubscriptionConfirmation\",\"TopicArn\":\"arn:aws:sns:t\","
                          "\"SubscribeURL\":\"https://sns.example/confirm\"}";
    assert_int_equal(ingest_decode(INGEST_KIND_SNS, confirm, strlen(confirm), &payload, err, sizeof err),
                     INGEST_CONFIRM);
    assert_null(payload);
    assert_non_null(strstr(err, "arn:aws:sns:t"));

    const char *bad[] = {
        "{\"Type\":\"Notification\",\"Message\":\"not json\"}",
        "{\"Type\":\"Notification\",\"Message\":{\"a\":1}}",
        "{\"Type\":\"Notification\"}",
        "{\"Type\":\"Other\"}",
        "{\"Message\":\"{}\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ingest_decode(INGEST_KIND_SNS, bad[i], strlen(bad[i]), &payload, err, sizeof err),
                         INGEST_BAD);
        assert_null(payload);
    }
}

static void test_tokens(void **state)
{
    assert_true(ingest_token_ok(NULL, NULL));
    assert_true(ingest_token_ok("", "Bearer anything"));
    assert_false(ingest_token_ok("s3cret", NULL));
    assert_true(ingest_token_ok("s3cret", "Bearer s3cret"));
    assert_true(ingest_token_ok("s3cret", "bearer s3cret"));
    assert_true(ingest_token_ok("one, two ,three", "Bearer two"));
    assert_true(ingest_token_ok("one,two,three", "Bearer three"));
    assert_false(ingest_token_ok("one,two", "Bearer tw"));
    assert_false(ingest_token_ok("one,two", "Bearer two2"));
    assert_false(ingest_token_ok("one,two", "Basic dHdvOg=="));
    assert_false(ingest_token_ok("one,two", "Bearer "));
    assert_false(ingest_token_ok("one,,two", "Bearer "));
    assert_false(ingest_token_ok(",", "Bearer ,"));
}

static Hutch__V1__RawEvent *unpack(const uint8_t *buf, size_t len)
{
    return hutch__v1__raw_event__unpack(NULL, len, buf);
}

static void test_raw_event(void **state)
{
    ingest_ids a, b, c;
    ingest_ids_derived(&a, "hutch.ingest.json", 3, 42, 0, 1700000000000);
    ingest_ids_derived(&b, "hutch.ingest.json", 3, 42, 0, 1700000000000);
    ingest_ids_derived(&c, "hutch.ingest.json", 3, 43, 0, 1700000000000);
    assert_string_equal(a.event_id, b.event_id);
    assert_string_equal(a.trace_id, b.trace_id);
    assert_string_not_equal(a.event_id, c.event_id);
    assert_string_not_equal(a.event_id, a.trace_id);
    assert_true(ids_is_uuid(a.event_id));

    ingest_event ev = {
        .event_id = a.event_id, .trace_id = a.trace_id, .meta_seed = a.meta_seed, .schema = "json",
        .source = "kafka:hutch.ingest.json", .payload_json = "{\"a\":1}", .received_ms = 1700000000000,
    };
    size_t l1 = 0, l2 = 0;
    uint8_t *m1 = ingest_raw_event_pack(&ev, &l1);
    uint8_t *m2 = ingest_raw_event_pack(&ev, &l2);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_int_equal(l1, l2);
    assert_memory_equal(m1, m2, l1); /* redelivery reproduces the same bytes */
    Hutch__V1__RawEvent *r = unpack(m1, l1);
    assert_non_null(r);
    assert_string_equal(r->event_id, a.event_id);
    assert_string_equal(r->schema, "json");
    assert_string_equal(r->source, "kafka:hutch.ingest.json");
    assert_string_equal(r->payload_json, "{\"a\":1}");
    assert_int_equal(r->received_unix_ms, 1700000000000);
    assert_non_null(r->meta);
    assert_string_equal(r->meta->trace_id, a.trace_id);
    assert_string_equal(r->meta->producer, "hutch-ingest");
    assert_true(ids_is_uuid(r->meta->id));
    assert_int_equal(r->n_attributes, 0);
    hutch__v1__raw_event__free_unpacked(r, NULL);
    free(m1);
    free(m2);

    /* router.* attributes travel on the RawEvent, in order */
    const char *const attrs[] = {"router.kubernetes.pod", "falco-x7k2p", "router.stream", "stdout", NULL};
    ev.attributes = attrs;
    m1 = ingest_raw_event_pack(&ev, &l1);
    assert_non_null(m1);
    r = unpack(m1, l1);
    assert_non_null(r);
    assert_int_equal(r->n_attributes, 2);
    assert_string_equal(r->attributes[0]->key, "router.kubernetes.pod");
    assert_string_equal(r->attributes[0]->value, "falco-x7k2p");
    assert_string_equal(r->attributes[1]->key, "router.stream");
    assert_string_equal(r->attributes[1]->value, "stdout");
    hutch__v1__raw_event__free_unpacked(r, NULL);
    free(m1);

    ingest_ids h1, h2;
    ingest_ids_random(&h1);
    ingest_ids_random(&h2);
    assert_string_not_equal(h1.event_id, h2.event_id);
    assert_string_equal(h1.meta_seed, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_names), cmocka_unit_test(test_parse_path), cmocka_unit_test(test_decode_raw),
        cmocka_unit_test(test_base64),       cmocka_unit_test(test_decode_pubsub), cmocka_unit_test(test_decode_sns),
        cmocka_unit_test(test_tokens),       cmocka_unit_test(test_raw_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
