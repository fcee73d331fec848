/* Unit tests for policy's domain logic (policy.c): the default engine's field
 * choices, alert ids and keys, and Alert packing (determinism included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/msg.h"
#include "services/policy/policy.h"

#define EVENT_ID "01890a5d-ac96-774b-bcce-b302099a8057"

static policy_decision decide(const char *json)
{
    policy_input in = {.event_id = EVENT_ID, .schema = "guardduty", .source = "http:raw", .payload_json = json};
    policy_decision d = {0};
    char err[128];
    assert_int_equal(policy_default_eval(&in, &d, err, sizeof err), 0);
    return d;
}

static void expect_title(const char *json, const char *title)
{
    policy_decision d = decide(json);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.alerts[0].title, title);
    policy_decision_free(&d);
}

static void test_title_order(void **state)
{
    expect_title("{\"title\":\"a\",\"Title\":\"b\",\"name\":\"c\"}", "a");
    expect_title("{\"Title\":\"b\",\"name\":\"c\"}", "b");
    expect_title("{\"name\":\"c\",\"rule\":\"d\"}", "c");
    expect_title("{\"rule\":\"Terminal shell in container\",\"output\":\"o\"}", "Terminal shell in container");
    expect_title("{\"Rule\":\"R\"}", "R");
    expect_title("{\"detail\":{\"title\":\"GuardDuty title\",\"type\":\"Recon:EC2/PortProbe\"}}", "GuardDuty title");
    expect_title("{\"detail\":{\"type\":\"Recon:EC2/PortProbe\"}}", "Recon:EC2/PortProbe");
    expect_title("{\"finding\":{\"category\":\"MALWARE\"}}", "MALWARE");
    expect_title("{\"detail\":{\"findings\":[{\"Title\":\"S3 bucket allows public read\"},{\"Title\":\"x\"}]}}",
                 "S3 bucket allows public read");
    expect_title("{\"detail\":{\"findings\":[]}}", "(no title)");
    expect_title("{\"rule\":{\"level\":10,\"description\":\"sshd: brute force\"}}", "sshd: brute force");
    expect_title("{\"output\":\"shell spawned\"}", "shell spawned");
    expect_title("{\"Message\":\"M\",\"message\":\"m\"}", "M");
    expect_title("{\"message\":\"m\"}", "m");
    expect_title("{\"description\":\"only a description\"}", "only a description");
    expect_title("{\"title\":\"\",\"name\":\"non-empty wins\"}", "non-empty wins");
    expect_title("{\"title\":42,\"detail\":\"not an object\"}", "(no title)");
    expect_title("{}", "(no title)");
    expect_title("[1,2]", "(no title)");
    expect_title("\"just a string\"", "(no title)");
}

static void test_fields(void **state)
{
    policy_decision d = decide("{\"detail\":{\"title\":\"t\",\"description\":\"dd\"},\"namespace\":\"acct-1\"}");
    assert_int_equal(d.count, 1);
    assert_string_equal(d.package, "");
    assert_null(d.reason);
    assert_string_equal(d.alerts[0].description, "dd");
    assert_string_equal(d.alerts[0].namespace, "acct-1");
    assert_string_equal(d.alerts[0].source, "guardduty");
    assert_string_equal(d.alerts[0].channel, "");
    assert_int_equal(json_array_size(d.alerts[0].tags), 0);
    assert_int_equal(json_array_size(d.alerts[0].attributes), 0);
    policy_decision_free(&d);

    d = decide("{\"Description\":\"D\",\"output\":\"o\",\"namespace\":7}");
    assert_string_equal(d.alerts[0].description, "D");
    assert_string_equal(d.alerts[0].namespace, "");
    policy_decision_free(&d);
    d = decide("{\"output\":\"o\"}");
    assert_string_equal(d.alerts[0].description, "o");
    policy_decision_free(&d);
    d = decide("{}");
    assert_string_equal(d.alerts[0].description, "");
    policy_decision_free(&d);
}

static void test_first_string(void **state)
{
    json_t *p = json_loads("{\"a\":{\"b\":{\"c\":\"deep\"}}}", 0, NULL);
    const char *const paths[] = {"a.b.x", "a.b.c", NULL};
    assert_string_equal(policy_first_string(p, paths), "deep");
    const char *const none[] = {"a.b", "a.b.c.d", "x", "a.0", NULL};
    assert_null(policy_first_string(p, none));
    json_decref(p);
    p = json_loads("{\"l\":[\"zero\",{\"k\":\"one\"}]}", 0, NULL);
    const char *const indexed[] = {"l.2", "l.x", "l.1.k", NULL};
    assert_string_equal(policy_first_string(p, indexed), "one");
    const char *const first[] = {"l.0", NULL};
    assert_string_equal(policy_first_string(p, first), "zero");
    json_decref(p);
}

static void test_ids_and_keys(void **state)
{
    char a0[37], a0b[37], a1[37];
    policy_alert_id(a0, EVENT_ID, 1700000000000, 0);
    policy_alert_id(a0b, EVENT_ID, 1700000000000, 0);
    policy_alert_id(a1, EVENT_ID, 1700000000000, 1);
    assert_string_equal(a0, a0b);
    assert_string_not_equal(a0, a1);
    assert_true(ids_is_uuid(a0));

    policy_alert with_ns = {.namespace = "acct-1"}, without = {.namespace = ""};
    assert_string_equal(policy_alert_key(&with_ns, a0), "acct-1");
    assert_string_equal(policy_alert_key(&without, a0), a0);
}

static void test_pack(void **state)
{
    Hutch__V1__Meta meta = HUTCH__V1__META__INIT;
    meta.id = "01890a5d-ac96-774b-bcce-b302099a8058";
    meta.trace_id = "01890a5d-ac96-774b-bcce-b302099a8059";
    meta.created_unix_ms = 1700000000000;
    Hutch__V1__RawEvent ev = HUTCH__V1__RAW_EVENT__INIT;
    ev.meta = &meta;
    ev.event_id = EVENT_ID;
    ev.schema = "guardduty";
    ev.source = "http:raw";
    ev.payload_json = "{\"title\":\"x\",\"namespace\":\"n\"}";
    ev.received_unix_ms = 1700000000000;

    policy_decision d = decide(ev.payload_json);
    policy_alert *extra = policy_decision_add(&d); /* an engine may raise several */
    assert_non_null(extra);
    json_array_append_new(extra->tags, json_string("t1"));
    json_array_append_new(extra->attributes, json_pack("{s:s, s:s, s:b}", "key", "ip", "value", "10.0.0.1", "persist", 1));

    size_t l1 = 0, l2 = 0;
    uint8_t *m1 = policy_alert_pack(&ev, &d, 0, &l1);
    uint8_t *m2 = policy_alert_pack(&ev, &d, 0, &l2);
    assert_non_null(m1);
    assert_int_equal(l1, l2);
    assert_memory_equal(m1, m2, l1);
    Hutch__V1__Alert *a = hutch__v1__alert__unpack(NULL, l1, m1);
    assert_non_null(a);
    char want_id[37];
    policy_alert_id(want_id, EVENT_ID, 1700000000000, 0);
    assert_string_equal(a->alert_id, want_id);
    assert_string_equal(a->event_id, EVENT_ID);
    assert_string_equal(a->schema, "guardduty");
    assert_string_equal(a->title, "x");
    assert_string_equal(a->namespace_, "n");
    assert_string_equal(a->source, "guardduty");
    assert_string_equal(a->payload_json, ev.payload_json);
    assert_string_equal(a->policy_package, "");
    assert_int_equal(a->created_unix_ms, 1700000000000);
    assert_string_equal(a->meta->trace_id, meta.trace_id);
    assert_string_equal(a->meta->producer, "hutch-policy");
    assert_string_not_equal(a->meta->id, a->alert_id);
    hutch__v1__alert__free_unpacked(a, NULL);
    free(m1);
    free(m2);

    m1 = policy_alert_pack(&ev, &d, 1, &l1);
    a = hutch__v1__alert__unpack(NULL, l1, m1);
    assert_non_null(a);
    assert_int_equal(a->n_tags, 1);
    assert_string_equal(a->tags[0], "t1");
    assert_int_equal(a->n_attributes, 1);
    assert_string_equal(a->attributes[0]->key, "ip");
    assert_string_equal(a->attributes[0]->value, "10.0.0.1");
    assert_true(a->attributes[0]->persist);
    hutch__v1__alert__free_unpacked(a, NULL);
    free(m1);

    assert_null(policy_alert_pack(&ev, &d, 2, &l1));
    ev.meta = NULL;
    assert_null(policy_alert_pack(&ev, &d, 0, &l1));
    policy_decision_free(&d);
}

static void test_event_attributes(void **state)
{
    Hutch__V1__Attribute pod = HUTCH__V1__ATTRIBUTE__INIT, ip = HUTCH__V1__ATTRIBUTE__INIT;
    pod.key = "router.kubernetes.pod";
    pod.value = "falco-x7k2p";
    ip.key = "ip"; /* the policy's own ip wins */
    ip.value = "192.0.2.1";
    Hutch__V1__Attribute *list[] = {&pod, &ip};
    Hutch__V1__RawEvent ev = HUTCH__V1__RAW_EVENT__INIT;
    ev.n_attributes = 2;
    ev.attributes = list;

    policy_decision d = decide("{\"title\":\"x\"}");
    policy_alert *extra = policy_decision_add(&d);
    assert_non_null(extra);
    json_array_append_new(extra->attributes, json_pack("{s:s, s:s}", "key", "ip", "value", "10.0.0.1"));
    assert_int_equal(policy_add_event_attributes(&d, &ev), 0);
    for (size_t i = 0; i < d.count; i++) {
        json_t *attrs = d.alerts[i].attributes;
        size_t n = json_array_size(attrs);
        json_t *last = json_array_get(attrs, n - 1);
        const char *want_ip = i == 0 ? "192.0.2.1" : "10.0.0.1";
        bool pod_seen = false, ip_seen = false;
        for (size_t j = 0; j < n; j++) {
            json_t *a = json_array_get(attrs, j);
            const char *k = json_string_value(json_object_get(a, "key"));
            const char *v = json_string_value(json_object_get(a, "value"));
            if (!strcmp(k, "router.kubernetes.pod")) {
                assert_string_equal(v, "falco-x7k2p");
                pod_seen = true;
            }
            if (!strcmp(k, "ip")) {
                assert_false(ip_seen); /* never twice */
                assert_string_equal(v, want_ip);
                ip_seen = true;
            }
        }
        assert_true(pod_seen);
        assert_true(ip_seen);
        assert_non_null(last);
    }
    /* an event without attributes changes nothing */
    ev.n_attributes = 0;
    size_t before = json_array_size(d.alerts[0].attributes);
    assert_int_equal(policy_add_event_attributes(&d, &ev), 0);
    assert_int_equal(json_array_size(d.alerts[0].attributes), before);
    policy_decision_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_title_order), cmocka_unit_test(test_fields), cmocka_unit_test(test_first_string),
        cmocka_unit_test(test_ids_and_keys), cmocka_unit_test(test_pack), cmocka_unit_test(test_event_attributes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
