/* hutch-agent: consumes clustered alerts, triages them (agent.h: default triage
 * without an LLM), records the decision (store.h) and asks notify to tell people.
 *
 * Per alert on hutch.alerts.clustered: severity from payload hints, one transaction
 * (processed_messages + alerts.severity + tickets.severity/summary), then outputs
 * produced by the consumer loop after the commit: a NotifyRequest on
 * hutch.notify.requests and a TicketEvent "triaged" on hutch.tickets.events, both
 * keyed by ticket id so one ticket's updates stay in order. Output ids derive from
 * the alert id, so a redelivered alert yields the same messages and notify
 * deduplicates on request_id.
 *
 * hutch.agent.requests (questions from Slack/hutchctl) is only logged for now. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/service.h"
#include "common/topics.h"
#include "services/agent/agent.h"
#include "services/agent/store.h"

typedef struct {
    char *default_channel;
} agent_config;

static const config_field agent_config_table[] = {
    {"HUTCH_AGENT_DEFAULT_CHANNEL", CONFIG_STRING, "", offsetof(agent_config, default_channel),
     "Slack channel for alerts whose policy named none", 0, 0},
    CONFIG_END,
};

typedef struct {
    service *svc;
    const agent_config *cfg;
} agent_ctx;

static void count(const char *result)
{
    char name[128];
    snprintf(name, sizeof name, "hutch_agent_alerts_total{result=\"%s\"}", result);
    metrics_add(metrics_counter(name, "Clustered alerts handled by the agent, by result"), 1);
}

static kafka_result handle_agent_request(const kafka_msg *msg, char *reason, size_t reason_len)
{
    Hutch__V1__AgentRequest *r = hutch__v1__agent_request__unpack(NULL, msg->value_len, msg->value);
    if (r == NULL) {
        snprintf(reason, reason_len, "cannot unpack AgentRequest");
        return KAFKA_DEAD;
    }
    LOG_INFO("agent_request_received", "request_id", r->request_id, "ticket_id", r->ticket_id, "user", r->user,
             "trace_id", r->meta ? r->meta->trace_id : NULL, "note", "agent requests are not handled yet", NULL);
    hutch__v1__agent_request__free_unpacked(r, NULL);
    return KAFKA_OK;
}

/* Adds a packed message to out. 0 or -1 (OOM). */
static int add_output(kafka_out *out, const char *topic, const char *key, const ProtobufCMessage *m)
{
    size_t len = 0;
    uint8_t *buf = msg_pack(m, &len);
    if (buf == NULL)
        return -1;
    int rc = kafka_out_add(out, topic, key, strlen(key), buf, len, NULL);
    free(buf);
    return rc;
}

static kafka_result handle_alert(agent_ctx *ctx, const kafka_msg *msg, kafka_out *out, char *reason,
                                 size_t reason_len)
{
    kafka_result result = KAFKA_OK;
    json_t *payload = NULL;
    char *detail = NULL;
    agent_notify n;
    memset(&n, 0, sizeof n);
    char partition[16], offset[32];
    snprintf(partition, sizeof partition, "%" PRId32, msg->partition);
    snprintf(offset, sizeof offset, "%" PRId64, msg->offset);

    Hutch__V1__Alert *alert = hutch__v1__alert__unpack(NULL, msg->value_len, msg->value);
    if (alert == NULL) {
        snprintf(reason, reason_len, "cannot unpack Alert");
        return KAFKA_DEAD;
    }
    const char *trace_id = alert->meta ? alert->meta->trace_id : NULL;
    if (!ids_is_uuid(alert->alert_id) || !ids_is_uuid(alert->ticket_id)) {
        snprintf(reason, reason_len, "alert without a valid alert_id or ticket_id");
        result = KAFKA_DEAD;
        goto done;
    }
    if (alert->payload_json != NULL && alert->payload_json[0] != '\0') {
        json_error_t jerr;
        payload = json_loads(alert->payload_json, JSON_DECODE_ANY, &jerr);
        if (payload == NULL) {
            snprintf(reason, reason_len, "invalid JSON payload: %s", jerr.text);
            result = KAFKA_DEAD;
            goto done;
        }
    }

    agent_severity sev = agent_triage_severity(alert, payload);
    const char *severity = agent_severity_name(sev);
    int64_t created_ms = agent_input_time_ms(alert, msg->timestamp_ms > 0 ? msg->timestamp_ms : ids_now_ms());
    if (agent_notify_build(&n, alert, severity, ctx->cfg->default_channel, 0, created_ms) != 0) {
        snprintf(reason, reason_len, "out of memory");
        result = KAFKA_RETRY;
        goto done;
    }

    agent_store_result st;
    int rc = agent_store_triage(ctx->svc->db, alert->alert_id, alert->ticket_id, severity,
                                alert->new_ticket ? n.summary : "", &st);
    if (rc != PG_OK) {
        snprintf(reason, reason_len, rc == PG_RETRY ? "database unavailable" : "database rejected the triage");
        result = rc == PG_RETRY ? KAFKA_RETRY : KAFKA_DEAD;
        goto done;
    }
    if (!st.ticket_found)
        LOG_WARN("ticket_missing", "alert_id", alert->alert_id, "ticket_id", alert->ticket_id, "trace_id", trace_id,
                 NULL);
    n.req.alert_count = st.alert_count < 1 ? 1 : st.alert_count;

    /* TicketEvent "triaged" */
    msg_meta_buf ev_meta;
    char seed[160];
    snprintf(seed, sizeof seed, "%s/agent/triaged", alert->alert_id);
    msg_meta_init(&ev_meta, trace_id && *trace_id ? trace_id : NULL, "hutch-agent", created_ms, seed);
    json_t *d = json_pack("{s:s, s:s, s:i}", "severity", severity, "publish", "alert", "alert_count",
                          (json_int_t)n.req.alert_count);
    detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (detail == NULL) {
        snprintf(reason, reason_len, "out of memory");
        result = KAFKA_RETRY;
        goto done;
    }
    Hutch__V1__TicketEvent ev = HUTCH__V1__TICKET_EVENT__INIT;
    ev.meta = &ev_meta.meta;
    ev.ticket_id = alert->ticket_id;
    ev.kind = "triaged";
    ev.alert_id = alert->alert_id;
    ev.actor = "hutch-agent";
    ev.detail_json = detail;

    if (add_output(out, TOPIC_NOTIFY_REQUESTS, alert->ticket_id, &n.req.base) != 0 ||
        add_output(out, TOPIC_TICKETS_EVENTS, alert->ticket_id, &ev.base) != 0) {
        snprintf(reason, reason_len, "cannot queue outputs");
        result = KAFKA_RETRY;
        goto done;
    }
    LOG_INFO("alert_triaged", "alert_id", alert->alert_id, "ticket_id", alert->ticket_id, "trace_id", trace_id,
             "severity", severity, "kind", n.req.kind, "request_id", n.request_id, "redelivered",
             st.already_processed ? "true" : "false", "topic", msg->topic, "partition", partition, "offset", offset,
             NULL);

done:
    if (result != KAFKA_OK)
        LOG_WARN("alert_not_triaged", "alert_id", alert->alert_id, "trace_id", trace_id, "reason", reason, "topic",
                 msg->topic, "partition", partition, "offset", offset, NULL);
    count(result == KAFKA_OK ? "ok" : result == KAFKA_RETRY ? "retry" : "dead");
    free(detail);
    agent_notify_free(&n);
    json_decref(payload);
    hutch__v1__alert__free_unpacked(alert, NULL);
    return result;
}

static kafka_result handle(void *vctx, const kafka_msg *msg, kafka_out *out, char *reason, size_t reason_len)
{
    if (strcmp(msg->topic, TOPIC_AGENT_REQUESTS) == 0)
        return handle_agent_request(msg, reason, reason_len);
    return handle_alert(vctx, msg, out, reason, reason_len);
}

int main(int argc, char **argv)
{
    agent_config cfg;
    memset(&cfg, 0, sizeof cfg);
    service_config_or_exit(agent_config_table, &cfg, argc, argv, "hutch-agent",
                           "Triages clustered alerts (severity, summary) and asks notify to tell people.");
    service svc;
    memset(&svc, 0, sizeof svc);
    int rc = 1;
    if (service_start(&svc, "agent", argc, argv) == 0) {
        agent_ctx ctx = {.svc = &svc, .cfg = &cfg};
        static const char *const topics[] = {TOPIC_ALERTS_CLUSTERED, TOPIC_AGENT_REQUESTS, NULL};
        rc = service_consume(&svc, topics, handle, &ctx) == 0 ? 0 : 1;
    }
    service_stop(&svc);
    config_free(agent_config_table, &cfg);
    return rc;
}
