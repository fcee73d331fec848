/* Unit tests of the agent's default triage (agent.h): severity hints of each
 * vendor, the risk-score fallback, the summary, and the NotifyRequest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/agent/agent.h"

static agent_severity sev_of(const char *payload_json)
{
    json_error_t err;
    json_t *p = json_loads(payload_json, 0, &err);
    assert_non_null(p);
    agent_severity s = agent_severity_from_payload(p);
    json_decref(p);
    return s;
}

static void test_guardduty(void **state)
{
    assert_int_equal(agent_severity_from_guardduty(0.0), AGENT_SEV_LOW);
    assert_int_equal(agent_severity_from_guardduty(3.9), AGENT_SEV_LOW);
    assert_int_equal(agent_severity_from_guardduty(4.0), AGENT_SEV_MEDIUM);
    assert_int_equal(agent_severity_from_guardduty(6.9), AGENT_SEV_MEDIUM);
    assert_int_equal(agent_severity_from_guardduty(7.0), AGENT_SEV_HIGH);
    assert_int_equal(agent_severity_from_guardduty(8.9), AGENT_SEV_HIGH);
    assert_int_equal(agent_severity_from_guardduty(9.0), AGENT_SEV_CRITICAL);
    assert_int_equal(sev_of("{\"type\":\"Recon:EC2/PortProbeUnprotectedPort\",\"severity\":2}"), AGENT_SEV_LOW);
    assert_int_equal(sev_of("{\"severity\":8,\"title\":\"x\"}"), AGENT_SEV_HIGH);
    assert_int_equal(sev_of("{\"source\":\"aws.guardduty\",\"detail\":{\"severity\":5.5}}"), AGENT_SEV_MEDIUM);
}

static void test_asff(void **state)
{
    assert_int_equal(sev_of("{\"detail\":{\"findings\":[{\"Severity\":{\"Label\":\"CRITICAL\",\"Normalized\":90}}]}}"),
                     AGENT_SEV_CRITICAL);
    assert_int_equal(sev_of("{\"findings\":[{\"Severity\":{\"Label\":\"INFORMATIONAL\"}}]}"), AGENT_SEV_INFO);
    assert_int_equal(sev_of("{\"Severity\":{\"Label\":\"HIGH\"}}"), AGENT_SEV_HIGH);
    assert_int_equal(sev_of("{\"Severity\":{\"Normalized\":40}}"), AGENT_SEV_MEDIUM);
}

static void test_falco(void **state)
{
    assert_int_equal(sev_of("{\"priority\":\"Emergency\",\"rule\":\"r\"}"), AGENT_SEV_CRITICAL);
    assert_int_equal(sev_of("{\"priority\":\"Alert\"}"), AGENT_SEV_CRITICAL);
    assert_int_equal(sev_of("{\"priority\":\"Critical\"}"), AGENT_SEV_CRITICAL);
    assert_int_equal(sev_of("{\"priority\":\"Error\"}"), AGENT_SEV_HIGH);
    assert_int_equal(sev_of("{\"priority\":\"Warning\"}"), AGENT_SEV_MEDIUM);
    assert_int_equal(sev_of("{\"priority\":\"Notice\"}"), AGENT_SEV_LOW);
    assert_int_equal(sev_of("{\"priority\":\"Informational\"}"), AGENT_SEV_LOW);
    assert_int_equal(agent_severity_from_falco("debug"), AGENT_SEV_LOW);
}

static void test_strings_and_vendors(void **state)
{
    assert_int_equal(sev_of("{\"severity\":\"high\"}"), AGENT_SEV_HIGH);
    assert_int_equal(sev_of("{\"severity\":\" Medium \"}"), AGENT_SEV_MEDIUM); /* Defender */
    assert_int_equal(sev_of("{\"properties\":{\"severity\":\"Low\"}}"), AGENT_SEV_LOW);
    assert_int_equal(sev_of("{\"finding\":{\"severity\":\"CRITICAL\"}}"), AGENT_SEV_CRITICAL); /* Google SCC */
    assert_int_equal(sev_of("{\"severity\":\"informational\"}"), AGENT_SEV_INFO);
    assert_int_equal(sev_of("{\"severity\":\"8.5\"}"), AGENT_SEV_HIGH);
    /* CrowdStrike */
    assert_int_equal(sev_of("{\"event\":{\"SeverityName\":\"Critical\",\"Severity\":5}}"), AGENT_SEV_CRITICAL);
    assert_int_equal(sev_of("{\"event\":{\"Severity\":4}}"), AGENT_SEV_HIGH);
    assert_int_equal(sev_of("{\"Severity\":2}"), AGENT_SEV_LOW);
    assert_int_equal(sev_of("{\"SeverityName\":\"Medium\",\"Severity\":5}"), AGENT_SEV_MEDIUM);
    /* Wazuh */
    assert_int_equal(sev_of("{\"rule\":{\"level\":12,\"description\":\"x\"}}"), AGENT_SEV_CRITICAL);
    /* nothing to go on */
    assert_int_equal(sev_of("{\"severity\":\"bogus\",\"x\":1}"), AGENT_SEV_NONE);
    assert_int_equal(sev_of("[1,2]"), AGENT_SEV_NONE);
    assert_int_equal(agent_severity_from_payload(NULL), AGENT_SEV_NONE);
    assert_int_equal(agent_severity_from_text(NULL), AGENT_SEV_NONE);
    assert_int_equal(agent_severity_from_text(""), AGENT_SEV_NONE);
    assert_int_equal(agent_severity_from_text("an overly long severity text that does not fit"), AGENT_SEV_NONE);
}

static void test_names(void **state)
{
    assert_string_equal(agent_severity_name(AGENT_SEV_INFO), "info");
    assert_string_equal(agent_severity_name(AGENT_SEV_CRITICAL), "critical");
    assert_string_equal(agent_severity_name(AGENT_SEV_NONE), "medium");
    for (int i = AGENT_SEV_INFO; i <= AGENT_SEV_CRITICAL; i++)
        assert_int_equal(agent_severity_parse(agent_severity_name((agent_severity)i)), i);
    assert_int_equal(agent_severity_parse("High"), AGENT_SEV_NONE);
}

static void test_risk_fallback(void **state)
{
    Hutch__V1__Alert a = HUTCH__V1__ALERT__INIT;
    json_t *p = json_pack("{s:s}", "title", "no hints");
    a.risk_score = 85;
    assert_int_equal(agent_triage_severity(&a, p), AGENT_SEV_CRITICAL);
    a.risk_score = 80;
    assert_int_equal(agent_triage_severity(&a, p), AGENT_SEV_CRITICAL);
    a.risk_score = 60;
    assert_int_equal(agent_triage_severity(&a, p), AGENT_SEV_HIGH);
    a.risk_score = 30;
    assert_int_equal(agent_triage_severity(&a, p), AGENT_SEV_MEDIUM);
    a.risk_score = 29.9;
    assert_int_equal(agent_triage_severity(&a, p), AGENT_SEV_LOW);
    a.risk_score = 0;
    assert_int_equal(agent_triage_severity(&a, NULL), AGENT_SEV_LOW);

    /* an attribute named severity beats the risk score, the payload beats both */
    Hutch__V1__Attribute attr = HUTCH__V1__ATTRIBUTE__INIT;
    attr.key = "Severity";
    attr.value = "critical";
    Hutch__V1__Attribute *attrs[] = {&attr};
    a.attributes = attrs;
    a.n_attributes = 1;
    assert_int_equal(agent_triage_severity(&a, p), AGENT_SEV_CRITICAL);
    json_object_set_new(p, "severity", json_real(1.0));
    assert_int_equal(agent_triage_severity(&a, p), AGENT_SEV_LOW);
    json_decref(p);
}

static Hutch__V1__Indicator ind_storage[12];
static Hutch__V1__Indicator *ind_ptrs[12];
static char ind_values[12][32];

static void fill_indicators(Hutch__V1__Alert *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hutch__v1__indicator__init(&ind_storage[i]);
        ind_storage[i].type = "ipv4";
        snprintf(ind_values[i], sizeof ind_values[i], "10.0.0.%zu", i + 1);
        ind_storage[i].value = ind_values[i];
        ind_storage[i].path = "x";
        ind_ptrs[i] = &ind_storage[i];
    }
    a->indicators = ind_ptrs;
    a->n_indicators = n;
}

static void test_summary(void **state)
{
    Hutch__V1__Alert a = HUTCH__V1__ALERT__INIT;
    a.title = "Port probe";
    char *s = agent_summary(&a);
    assert_string_equal(s, "Port probe");
    free(s);

    a.description = "EC2 instance is being probed.";
    fill_indicators(&a, 7);
    ind_values[1][0] = '\0'; /* empty values are skipped */
    strcpy(ind_values[2], "10.0.0.1"); /* duplicate of the first */
    s = agent_summary(&a);
    assert_string_equal(s, "EC2 instance is being probed.\n"
                           "Indicators: ipv4:10.0.0.1, ipv4:10.0.0.4, ipv4:10.0.0.5, ipv4:10.0.0.6, ipv4:10.0.0.7");
    free(s);

    /* 499 ASCII bytes then a 3-byte character: cut before it, never inside it */
    char desc[1024];
    memset(desc, 'a', 499);
    strcpy(desc + 499, "\xE2\x82\xAC tail that goes past the limit");
    a.description = desc;
    a.n_indicators = 0;
    s = agent_summary(&a);
    assert_int_equal(strlen(s), 499 + 3);
    assert_memory_equal(s + 499, "\xE2\x80\xA6", 3);
    free(s);
}

static void test_notify_build(void **state)
{
    Hutch__V1__Meta meta = HUTCH__V1__META__INIT;
    meta.id = "0190f2a0-0000-7000-8000-000000000001";
    meta.trace_id = "0190f2a0-0000-7000-8000-0000000000aa";
    meta.created_unix_ms = 1720000000000;
    Hutch__V1__Alert a = HUTCH__V1__ALERT__INIT;
    a.meta = &meta;
    a.alert_id = "0190f2a0-0000-7000-8000-000000000002";
    a.ticket_id = "0190f2a0-0000-7000-8000-000000000003";
    a.title = "Port probe";
    a.description = "probed";
    a.new_ticket = true;
    fill_indicators(&a, 12);

    agent_notify n;
    assert_int_equal(agent_notify_build(&n, &a, "high", "#alerts", 0, agent_input_time_ms(&a, 1)), 0);
    assert_string_equal(n.req.kind, "new_ticket");
    assert_string_equal(n.req.severity, "high");
    assert_string_equal(n.req.channel, "#alerts");
    assert_string_equal(n.req.publish, "alert");
    assert_string_equal(n.req.ticket_id, a.ticket_id);
    assert_string_equal(n.req.alert_id, a.alert_id);
    assert_string_equal(n.req.title, "Port probe");
    assert_int_equal(n.req.alert_count, 1);
    assert_int_equal(n.req.n_indicators, AGENT_NOTIFY_INDICATORS);
    assert_string_equal(n.req.indicators[0], "ipv4:10.0.0.1");
    assert_true(ids_is_uuid(n.req.request_id));
    assert_string_equal(n.req.meta->trace_id, meta.trace_id);
    assert_string_equal(n.req.meta->producer, "hutch-agent");

    /* the same alert gives byte-identical output */
    agent_notify m;
    assert_int_equal(agent_notify_build(&m, &a, "high", "#alerts", 0, agent_input_time_ms(&a, 2)), 0);
    size_t l1, l2;
    uint8_t *b1 = msg_pack(&n.req.base, &l1);
    uint8_t *b2 = msg_pack(&m.req.base, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1);
    free(b2);
    agent_notify_free(&m);
    /* re-sent later by someone else: another message id, the same request id */
    assert_int_equal(agent_notify_build(&m, &a, "high", "#alerts", 0, 1720000099999), 0);
    assert_string_equal(m.req.request_id, n.req.request_id);
    assert_string_not_equal(m.req.meta->id, n.req.meta->id);
    assert_memory_equal(m.req.request_id, "0190f2a0-0000-7", 15); /* the alert's time */
    agent_notify_free(&m);

    /* a bound alert, with its own channel and a ticket count */
    a.new_ticket = false;
    a.channel = "#cloud";
    a.alert_id = "0190f2a0-0000-7000-8000-000000000004";
    a.title = "";
    a.n_indicators = 0;
    assert_int_equal(agent_notify_build(&m, &a, "low", "#alerts", 3, 5), 0);
    assert_string_equal(m.req.kind, "alert_bound");
    assert_string_equal(m.req.channel, "#cloud");
    assert_string_equal(m.req.title, "(no title)");
    assert_int_equal(m.req.alert_count, 3);
    assert_int_equal(m.req.n_indicators, 0);
    assert_string_not_equal(m.req.request_id, n.req.request_id);
    agent_notify_free(&m);
    agent_notify_free(&n);
    agent_notify_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guardduty),   cmocka_unit_test(test_asff),
        cmocka_unit_test(test_falco),       cmocka_unit_test(test_strings_and_vendors),
        cmocka_unit_test(test_names),       cmocka_unit_test(test_risk_fallback),
        cmocka_unit_test(test_summary),     cmocka_unit_test(test_notify_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
