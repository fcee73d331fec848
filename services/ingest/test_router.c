/* Unit tests of router.c: settings, splitting (one value, arrays, NDJSON with blank
 * and broken lines), unwrapping (string-in-field, nested paths), schema choice,
 * router.* attributes, derived ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ids.h"
#include "services/ingest/router.h"

static router *make(const char *topics, const char *field, const char *map, const char *unwrap)
{
    char err[512];
    router *r = router_new(topics, field, map, unwrap, "json", err, sizeof err);
    if (!r)
        fail_msg("router_new: %s", err);
    return r;
}

static router_result route(const router *r, const char *topic, int64_t offset, const char *header, const char *text)
{
    router_msg m = {.topic = topic, .partition = 2, .offset = offset, .timestamp_ms = 1700000000000,
                    .header_schema = header, .header_schema_len = header ? strlen(header) : 0,
                    .value = text, .value_len = text ? strlen(text) : 0};
    router_result res;
    char err[256];
    router_status st = router_route(r, &m, &res, err, sizeof err);
    if (st != ROUTER_OK)
        fail_msg("router_route: %d %s", st, err);
    return res;
}

static const char *attr(const router_event *ev, const char *key)
{
    for (size_t i = 0; i < ev->n_attrs; i++)
        if (!strcmp(ev->attrs[i].key, key))
            return ev->attrs[i].value;
    return NULL;
}

static void test_settings(void **state)
{
    char err[1024];
    router *r = router_new(NULL, NULL, NULL, NULL, "json", err, sizeof err);
    assert_non_null(r);
    const char *const *t = router_topics(r);
    assert_string_equal(t[0], "hutch.ingest.json");
    assert_null(t[1]);
    router_free(r);

    r = router_new(" hutch.ingest.falco=falco, hutch.ingest.wazuh = wazuh ,,hutch.ingest.json", NULL, NULL, NULL,
                   "json", err, sizeof err);
    assert_non_null(r);
    t = router_topics(r);
    assert_string_equal(t[0], "hutch.ingest.falco");
    assert_string_equal(t[1], "hutch.ingest.wazuh");
    assert_string_equal(t[2], "hutch.ingest.json");
    assert_null(t[3]);
    router_free(r);

    /* every problem at once */
    r = router_new("bad topic!,a=Bad,b,b", "x..y", "novalue,v=ok", ".lead", "Json", err, sizeof err);
    assert_null(r);
    assert_non_null(strstr(err, "\"bad topic!\" is not a Kafka topic name"));
    assert_non_null(strstr(err, "topic a: invalid schema name \"Bad\""));
    assert_non_null(strstr(err, "topic b is listed twice"));
    assert_non_null(strstr(err, "HUTCH_INGEST_SCHEMA_MAP: \"novalue\" is not value=schema"));
    assert_non_null(strstr(err, "HUTCH_INGEST_SCHEMA_FIELD: \"x..y\""));
    assert_non_null(strstr(err, "HUTCH_INGEST_UNWRAP: \".lead\""));
    assert_non_null(strstr(err, "HUTCH_INGEST_DEFAULT_SCHEMA"));

    assert_null(router_new("t", NULL, "a=b", NULL, "json", err, sizeof err));
    assert_non_null(strstr(err, "HUTCH_INGEST_SCHEMA_MAP is set but HUTCH_INGEST_SCHEMA_FIELD is not"));
    assert_null(router_new(" , ", NULL, NULL, NULL, "json", err, sizeof err));
    assert_non_null(strstr(err, "no topic"));
}

static void test_topic_schema_and_header(void **state)
{
    router *r = make("hutch.ingest.falco=falco,hutch.ingest.json", NULL, NULL, NULL);
    const char *text = "{\"rule\":\"Write below binary dir\",\"priority\":\"Error\"}";
    router_result res = route(r, "hutch.ingest.falco", 7, NULL, text);
    assert_int_equal(res.n_events, 1);
    assert_int_equal(res.n_errors, 0);
    assert_string_equal(res.events[0].schema, "falco");
    assert_string_equal(res.events[0].payload, text); /* verbatim */
    assert_int_equal(res.events[0].payload_len, strlen(text));
    assert_int_equal(res.events[0].n_attrs, 0);
    router_result_free(&res);

    /* the header wins over the topic */
    res = route(r, "hutch.ingest.falco", 7, "wazuh", text);
    assert_string_equal(res.events[0].schema, "wazuh");
    router_result_free(&res);

    /* a topic without =schema: the default */
    res = route(r, "hutch.ingest.json", 7, NULL, "  {\"a\":1}\r\n");
    assert_string_equal(res.events[0].schema, "json");
    assert_string_equal(res.events[0].payload, "{\"a\":1}");
    router_result_free(&res);

    /* a pretty-printed object is one record, not lines */
    res = route(r, "hutch.ingest.json", 7, NULL, "{\n  \"a\": 1,\n  \"b\": [1, 2]\n}\n");
    assert_int_equal(res.n_events, 1);
    assert_int_equal(res.n_errors, 0);
    router_result_free(&res);

    /* refused wholes */
    router_msg m = {.topic = "hutch.ingest.json", .value = "{}", .value_len = 2, .header_schema = "Bad!",
                    .header_schema_len = 4};
    char err[256];
    assert_int_equal(router_route(r, &m, &res, err, sizeof err), ROUTER_BAD);
    assert_non_null(strstr(err, "hutch-schema header"));
    assert_int_equal(res.n_events + res.n_errors, 0);
    m.header_schema = NULL;
    m.value = " \n\t ";
    m.value_len = 4;
    assert_int_equal(router_route(r, &m, &res, err, sizeof err), ROUTER_BAD);
    assert_string_equal(err, "empty message");
    m.value = NULL;
    assert_int_equal(router_route(r, &m, &res, err, sizeof err), ROUTER_BAD);
    m.value = "[]";
    m.value_len = 2;
    assert_int_equal(router_route(r, &m, &res, err, sizeof err), ROUTER_BAD);
    assert_string_equal(err, "empty JSON array");
    router_free(r);
}

/* Fluent Bit's kafka output with Kubernetes metadata: the alert is a JSON string in `log`. */
static void test_unwrap_string_in_field(void **state)
{
    router *r = make("logs=falco", NULL, NULL, "log");
    const char *text =
        "{\"@timestamp\":1700000000.5,\"log\":\"{\\\"rule\\\":\\\"Terminal shell in container\\\",\\\"priority\\\":\\\"Warning\\\"}\\n\","
        "\"stream\":\"stdout\",\"kubernetes\":{\"pod_name\":\"falco-x7k2p\",\"namespace_name\":\"falco\","
        "\"host\":\"node-3\",\"container_name\":\"falco\",\"labels\":{\"app\":\"falco\"}}}";
    router_result res = route(r, "logs", 11, NULL, text);
    assert_int_equal(res.n_events, 1);
    assert_int_equal(res.n_errors, 0);
    router_event *ev = &res.events[0];
    assert_string_equal(ev->schema, "falco");
    assert_string_equal(ev->payload, "{\"rule\":\"Terminal shell in container\",\"priority\":\"Warning\"}");
    assert_string_equal(attr(ev, "router.kubernetes.pod"), "falco-x7k2p");
    assert_string_equal(attr(ev, "router.kubernetes.namespace"), "falco");
    assert_string_equal(attr(ev, "router.kubernetes.node"), "node-3");
    assert_string_equal(attr(ev, "router.kubernetes.container"), "falco");
    assert_string_equal(attr(ev, "router.stream"), "stdout");
    assert_string_equal(attr(ev, "router.@timestamp"), "1700000000.5");
    assert_null(attr(ev, "router.log"));
    assert_null(attr(ev, "router.kubernetes")); /* objects are not attributes */
    assert_int_equal(ev->n_attrs, 6);
    router_result_free(&res);

    /* a record without the field is the alert itself (mixed streams) */
    res = route(r, "logs", 12, NULL, "{\"rule\":\"x\",\"priority\":\"Error\"}");
    assert_int_equal(res.n_events, 1);
    assert_string_equal(res.events[0].payload, "{\"rule\":\"x\",\"priority\":\"Error\"}");
    assert_int_equal(res.events[0].n_attrs, 0);
    router_result_free(&res);

    /* a string that is not JSON: a per-record error that points at the record */
    const char *bad = "{\"log\":\"plain text, not an alert\",\"stream\":\"stderr\"}";
    res = route(r, "logs", 13, NULL, bad);
    assert_int_equal(res.n_events, 0);
    assert_int_equal(res.n_errors, 1);
    assert_non_null(strstr(res.errors[0].reason, "log holds a string that is not JSON"));
    assert_int_equal(res.errors[0].line_len, strlen(bad));
    assert_memory_equal(res.errors[0].line, bad, strlen(bad));
    router_result_free(&res);

    res = route(r, "logs", 14, NULL, "{\"log\":42}");
    assert_int_equal(res.n_errors, 1);
    assert_non_null(strstr(res.errors[0].reason, "neither an object nor JSON text"));
    router_result_free(&res);
    router_free(r);
}

/* Vector / Logstash-style nesting: the alert is an object two levels down. */
static void test_unwrap_nested_path(void **state)
{
    router *r = make("t", NULL, NULL, "event.original");
    router_result res = route(r, "t", 1, NULL,
                              "{\"host\":\"edge-1\",\"event\":{\"original\":{\"rule\":{\"level\":10,\"id\":\"5712\"}},"
                              "\"module\":\"wazuh\"},\"tags\":[\"a\"]}");
    assert_int_equal(res.n_events, 1);
    router_event *ev = &res.events[0];
    assert_string_equal(ev->payload, "{\"rule\":{\"level\":10,\"id\":\"5712\"}}");
    assert_string_equal(attr(ev, "router.host"), "edge-1");
    assert_null(attr(ev, "router.event"));
    assert_null(attr(ev, "router.tags"));
    router_result_free(&res);

    /* nested string holding JSON, and keys that hold dots themselves */
    router_free(r);
    r = make("t", NULL, NULL, "fields.k8s.raw");
    res = route(r, "t", 1, NULL, "{\"fields\":{\"k8s.raw\":\"[1,2]\"}}");
    assert_int_equal(res.n_events, 1);
    assert_string_equal(res.events[0].payload, "[1,2]");
    router_result_free(&res);
    router_free(r);
}

static void test_schema_field(void **state)
{
    router *r = make("mixed=json", "source.type", "falco=falco,wazuh-alerts=wazuh", NULL);
    router_result res = route(r, "mixed", 5, NULL,
                              "{\"source\":{\"type\":\"falco\"},\"rule\":\"a\"}\n"
                              "{\"source\":{\"type\":\"wazuh-alerts\"}}\n"
                              "{\"source\":{\"type\":\"unknown\"}}\n"
                              "{\"no\":\"field\"}\n");
    assert_int_equal(res.n_events, 4);
    assert_string_equal(res.events[0].schema, "falco");
    assert_string_equal(res.events[1].schema, "wazuh");
    assert_string_equal(res.events[2].schema, "json"); /* unmapped: the topic's */
    assert_string_equal(res.events[3].schema, "json");
    router_result_free(&res);
    /* the header still wins */
    res = route(r, "mixed", 5, "okta", "{\"source\":{\"type\":\"falco\"}}");
    assert_string_equal(res.events[0].schema, "okta");
    router_result_free(&res);
    router_free(r);

    /* no map: the value is the schema when it is a valid name; the field may be in
     * the record around an unwrapped alert */
    r = make("t", "kubernetes.labels.hutch-schema", NULL, "log");
    res = route(r, "t", 5, NULL,
                "[{\"log\":\"{}\",\"kubernetes\":{\"labels\":{\"hutch-schema\":\"falco\"}}},"
                "{\"log\":\"{}\",\"kubernetes\":{\"labels\":{\"hutch-schema\":\"Not Valid\"}}}]");
    assert_int_equal(res.n_events, 2);
    assert_string_equal(res.events[0].schema, "falco");
    assert_string_equal(res.events[1].schema, "json");
    router_result_free(&res);
    router_free(r);
}

/* Odd but valid inputs: nothing is lost and nothing is guessed. */
static void test_edges(void **state)
{
    router *r = make("t", "kind", NULL, "log");
    /* a whole message that is a scalar is one event, as before */
    router_result res = route(r, "t", 1, NULL, " \"just a string\" ");
    assert_int_equal(res.n_events, 1);
    assert_string_equal(res.events[0].payload, "\"just a string\"");
    router_result_free(&res);
    /* null at the unwrap path, and array elements that are not objects: the record is the alert */
    res = route(r, "t", 1, NULL, "[{\"log\":null,\"a\":1},7,[1]]");
    assert_int_equal(res.n_events, 3);
    assert_int_equal(res.n_errors, 0);
    assert_string_equal(res.events[0].payload, "{\"log\":null,\"a\":1}");
    assert_string_equal(res.events[1].payload, "7");
    assert_string_equal(res.events[2].payload, "[1]");
    router_result_free(&res);
    /* a schema field that is not a string names nothing */
    res = route(r, "t", 1, NULL, "{\"kind\":42}");
    assert_string_equal(res.events[0].schema, "json");
    router_result_free(&res);
    /* an unwrapped object keeps the record's scalars, whatever their type */
    res = route(r, "t", 1, NULL, "{\"log\":{\"x\":1},\"n\":3,\"ok\":true,\"f\":0.25,\"z\":null}");
    assert_string_equal(res.events[0].payload, "{\"x\":1}");
    assert_string_equal(attr(&res.events[0], "router.n"), "3");
    assert_string_equal(attr(&res.events[0], "router.ok"), "true");
    assert_string_equal(attr(&res.events[0], "router.f"), "0.25");
    assert_null(attr(&res.events[0], "router.z"));
    router_result_free(&res);
    /* NDJSON whose every line is broken: errors only (the caller dead-letters the message) */
    res = route(r, "t", 1, NULL, "{\n}\n{");
    assert_int_equal(res.n_events, 0);
    assert_int_equal(res.n_errors, 3);
    router_result_free(&res);
    /* invalid UTF-8 is not JSON (Postgres' jsonb would refuse it later) */
    res = route(r, "t", 1, NULL, "{\"a\":\"\xff\"}");
    assert_int_equal(res.n_events, 0);
    assert_int_equal(res.n_errors, 1);
    router_result_free(&res);
    router_free(r);
}

static void test_arrays(void **state)
{
    router *r = make("t=suricata", NULL, NULL, NULL);
    router_result res = route(r, "t", 9, NULL, " [ {\"event_type\":\"alert\",\"n\":1.5}, {\"b\":[true,null]}, 3 ]");
    assert_int_equal(res.n_events, 3);
    assert_int_equal(res.n_errors, 0);
    assert_string_equal(res.events[0].payload, "{\"event_type\":\"alert\",\"n\":1.5}");
    assert_string_equal(res.events[1].payload, "{\"b\":[true,null]}");
    assert_string_equal(res.events[2].payload, "3");
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(res.events[i].index, i);
        assert_string_equal(res.events[i].schema, "suricata");
        assert_true(ids_is_uuid(res.events[i].ids.event_id));
    }
    assert_string_not_equal(res.events[0].ids.event_id, res.events[1].ids.event_id);
    assert_string_not_equal(res.events[1].ids.event_id, res.events[2].ids.event_id);
    router_result_free(&res);
    router_free(r);

    /* an array of wrapped records: one of them fails to unwrap, the others go on */
    r = make("t", NULL, NULL, "log");
    const char *text = "[{\"log\":\"{\\\"a\\\":1}\"},{\"log\":\"oops\"},{\"log\":\"{\\\"c\\\":3}\"}]";
    res = route(r, "t", 9, NULL, text);
    assert_int_equal(res.n_events, 2);
    assert_int_equal(res.n_errors, 1);
    assert_int_equal(res.events[0].index, 0);
    assert_int_equal(res.events[1].index, 2);
    assert_string_equal(res.events[1].payload, "{\"c\":3}");
    assert_int_equal(res.errors[0].index, 1);
    assert_ptr_equal(res.errors[0].line, text);
    router_result_free(&res);
    router_free(r);
}

static void test_ndjson_blank_and_broken_lines(void **state)
{
    router *r = make("t=wazuh", NULL, NULL, NULL);
    const char *text = "{\"rule\":{\"level\":10}}\r\n"
                       "\n"
                       "   \n"
                       "this is not json\n"
                       "{\"rule\":{\"level\":3}}\n"
                       "{\"truncated\":\n"
                       "[1,2]";
    router_result res = route(r, "t", 40, NULL, text);
    assert_int_equal(res.n_events, 3);
    assert_int_equal(res.n_errors, 2);
    assert_int_equal(res.events[0].index, 0);
    assert_string_equal(res.events[0].payload, "{\"rule\":{\"level\":10}}"); /* \r trimmed */
    assert_int_equal(res.events[1].index, 4);
    assert_string_equal(res.events[1].payload, "{\"rule\":{\"level\":3}}");
    assert_int_equal(res.events[2].index, 6);
    assert_string_equal(res.events[2].payload, "[1,2]"); /* a line is one record, even an array */

    assert_int_equal(res.errors[0].index, 3);
    assert_non_null(strstr(res.errors[0].reason, "line 4 is not JSON"));
    assert_int_equal(res.errors[0].line_len, strlen("this is not json"));
    assert_memory_equal(res.errors[0].line, "this is not json", res.errors[0].line_len);
    assert_int_equal(res.errors[1].index, 5);
    assert_non_null(strstr(res.errors[1].reason, "line 6 is not JSON"));
    assert_memory_equal(res.errors[1].line, "{\"truncated\":", res.errors[1].line_len);
    router_result_free(&res);

    /* nothing but a broken line: no event, one error (the caller dead-letters the message) */
    res = route(r, "t", 41, NULL, "<13>Dec  2 01:00:00 host app: plain syslog\n");
    assert_int_equal(res.n_events, 0);
    assert_int_equal(res.n_errors, 1);
    router_result_free(&res);
    router_free(r);
}

static void test_derived_ids_stable(void **state)
{
    router *r = make("t", NULL, NULL, NULL);
    const char *text = "{\"a\":1}\n{\"b\":2}\n";
    router_result a = route(r, "t", 100, NULL, text);
    router_result b = route(r, "t", 100, NULL, text);
    router_result other = route(r, "t", 101, NULL, text);
    assert_int_equal(a.n_events, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(a.events[i].ids.event_id, b.events[i].ids.event_id);
        assert_string_equal(a.events[i].ids.trace_id, b.events[i].ids.trace_id);
        assert_string_equal(a.events[i].ids.meta_seed, b.events[i].ids.meta_seed);
        assert_string_not_equal(a.events[i].ids.event_id, other.events[i].ids.event_id);
        assert_string_not_equal(a.events[i].ids.event_id, a.events[i].ids.trace_id);
    }
    assert_string_not_equal(a.events[0].ids.event_id, a.events[1].ids.event_id);

    /* index 0 is what a one-event message always had; index i is (topic, partition, offset, i) */
    ingest_ids want;
    ingest_ids_derived(&want, "t", 2, 100, 0, 1700000000000);
    assert_string_equal(a.events[0].ids.event_id, want.event_id);
    ingest_ids_derived(&want, "t", 2, 100, 1, 1700000000000);
    assert_string_equal(a.events[1].ids.event_id, want.event_id);
    assert_string_equal(a.events[1].ids.trace_id, want.trace_id);
    /* the same line on another topic is another event */
    router_free(r);
    r = make("u", NULL, NULL, NULL);
    router_result u = route(r, "u", 100, NULL, text);
    assert_string_not_equal(u.events[0].ids.event_id, a.events[0].ids.event_id);
    router_result_free(&a);
    router_result_free(&b);
    router_result_free(&other);
    router_result_free(&u);
    router_free(r);
}

static void test_limits(void **state)
{
    router *r = make("t", NULL, NULL, "log");
    /* more records than allowed: the rest is one error */
    size_t n = ROUTER_MAX_EVENTS + 5;
    char *text = malloc(n * 3 + 3);
    size_t k = 0;
    text[k++] = '[';
    for (size_t i = 0; i < n; i++) {
        text[k++] = '1';
        text[k++] = i + 1 < n ? ',' : ']';
    }
    text[k] = '\0';
    router_result res = route(r, "t", 1, NULL, text);
    assert_int_equal(res.n_events, ROUTER_MAX_EVENTS);
    assert_int_equal(res.n_errors, 1);
    assert_int_equal(res.errors[0].index, ROUTER_MAX_EVENTS);
    router_result_free(&res);
    free(text);

    /* attributes: at most ROUTER_MAX_ATTRS, values cut at ROUTER_ATTR_VALUE_MAX */
    char big[8192];
    k = 0;
    k += (size_t)snprintf(big + k, sizeof big - k, "{\"log\":\"{}\",\"long\":\"");
    for (int i = 0; i < 1000; i++)
        big[k++] = 'x';
    k += (size_t)snprintf(big + k, sizeof big - k, "\"");
    for (int i = 0; i < 40; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, ",\"f%d\":%d", i, i);
    snprintf(big + k, sizeof big - k, "}");
    res = route(r, "t", 1, NULL, big);
    assert_int_equal(res.events[0].n_attrs, ROUTER_MAX_ATTRS);
    assert_int_equal(strlen(attr(&res.events[0], "router.long")), ROUTER_ATTR_VALUE_MAX);
    router_result_free(&res);
    router_free(r);
}

/* Valid JSON that jansson cannot hold (numbers beyond int64 and double) passes as the
 * bytes sent when nothing has to be looked up inside it; an unwrap needs a look. */
static void test_exact_numbers_verbatim(void **state)
{
    const char *text = "{\"id\": 18446744073709551615, \"huge\": 1e400, \"tiny\": 1E-400, \"neg0\": -0}";
    router *r = make(NULL, NULL, NULL, NULL);
    router_result res = route(r, "hutch.ingest.json", 7, "guardduty", text);
    assert_int_equal(res.n_events, 1);
    assert_int_equal(res.n_errors, 0);
    assert_string_equal(res.events[0].payload, text);
    assert_string_equal(res.events[0].schema, "guardduty");
    router_result one = route(r, "hutch.ingest.json", 7, "guardduty", "{\"id\": 1}");
    assert_string_equal(res.events[0].ids.event_id, one.events[0].ids.event_id); /* same coordinates, same id */
    router_result_free(&one);
    router_result_free(&res);
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_topic_schema_and_header),
        cmocka_unit_test(test_unwrap_string_in_field),
        cmocka_unit_test(test_unwrap_nested_path),
        cmocka_unit_test(test_schema_field),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_ndjson_blank_and_broken_lines),
        cmocka_unit_test(test_derived_ids_stable),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_exact_numbers_verbatim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
