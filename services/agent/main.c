/* hutch-agent: consumes clustered alerts, triages them (agent.h: default triage
 * without an LLM), records the decision (store.h) and asks notify to tell people.
 *
 * Batches of alerts on hutch.alerts.clustered come from the frame (common/consumer.h)
 * inside one transaction: each alert's severity as decided upstream (never the
 * payload), the tickets' severity/summary and the alerts' triage stamp (store.c),
 * then outputs produced after the commit: a NotifyRequest on hutch.notify.requests
 * and a TicketEvent "triaged" on hutch.tickets.events, both keyed by ticket id so one
 * ticket's updates stay in order. Output ids derive from
 * the alert id, so a redelivered alert yields the same messages and notify
 * deduplicates on request_id.
 *
 * hutch.agent.requests (questions from Slack/hutchctl) is only logged for now. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    const agent_config *cfg;
    metric *m_triaged;
} agent_ctx;

/* One batch of clustered alerts (and agent requests), inside the frame's transaction:
 * read each alert's severity, record the batch's triage (store.c), then queue per
 * alert a NotifyRequest and a TicketEvent "triaged", both keyed by ticket id. */
static int handle_batch(void *vctx, pg *db, consumer_item **items, size_t n)
{
    agent_ctx *ctx = vctx;
    agent_notify *notes = calloc(n, sizeof *notes);
    agent_triage_row *rows = calloc(n, sizeof *rows);
    size_t *row_of = calloc(n, sizeof *row_of);
    int rc = notes && rows && row_of ? PG_OK : PG_RETRY;
    size_t n_rows = 0;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        consumer_item *it = items[i];
        if (it->value->descriptor == &hutch__v1__agent_request__descriptor) {
            const Hutch__V1__AgentRequest *r = (const Hutch__V1__AgentRequest *)it->value;
            consumer_item_log(LOG_LEVEL_INFO, it, "agent_request_received", "request_id", r->request_id, "ticket_id",
                              r->ticket_id, "user", r->user, "trace_id", r->meta->trace_id, "note",
                              "agent requests are not handled yet", NULL);
            continue;
        }
        const Hutch__V1__Alert *a = (const Hutch__V1__Alert *)it->value;
        if (!ids_is_uuid(a->ticket_id)) {
            consumer_item_dead(it, "alert without a valid ticket_id");
            continue;
        }
        const char *severity = agent_alert_severity(a);
        int64_t created_ms = agent_input_time_ms(a, it->msg.timestamp_ms > 0 ? it->msg.timestamp_ms : ids_now_ms());
        if (agent_notify_build(&notes[i], a, severity, ctx->cfg->default_channel, 0, created_ms) != 0) {
            rc = PG_RETRY; /* out of memory */
            break;
        }
        rows[n_rows] = (agent_triage_row){.alert_id = a->alert_id,
                                          .ticket_id = a->ticket_id,
                                          .severity = severity,
                                          .ticket_summary = a->new_ticket ? notes[i].summary : "",
                                          .fresh = !it->redelivered};
        row_of[i] = ++n_rows; /* 1-based: 0 = no row */
    }
    if (rc == PG_OK && n_rows)
        rc = agent_store_triage(db, rows, n_rows);
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        consumer_item *it = items[i];
        if (it->dead || !row_of[i])
            continue;
        const Hutch__V1__Alert *a = (const Hutch__V1__Alert *)it->value;
        const agent_triage_row *row = &rows[row_of[i] - 1];
        if (!row->ticket_found)
            consumer_item_log(LOG_LEVEL_WARN, it, "ticket_missing", "alert_id", a->alert_id, "ticket_id", a->ticket_id,
                              NULL);
        agent_notify *note = &notes[i];
        note->req.alert_count = row->alert_count < 1 ? 1 : row->alert_count;
        size_t ev_len = 0;
        uint8_t *ev =
            agent_pack_triaged(a, row->severity, note->req.alert_count, note->meta.meta.created_unix_ms, &ev_len);
        int taken = consumer_emit_take(it, TOPIC_TICKETS_EVENTS, a->ticket_id, ev, ev_len);
        /* a storm ticket notifies once, on the alert cluster marked (Alert.notify) */
        bool quiet = a->notify && !strcmp(a->notify, "quiet");
        if ((!quiet && consumer_emit(it, TOPIC_NOTIFY_REQUESTS, a->ticket_id, &note->req.base) != 0) || taken != 0)
            rc = PG_RETRY;
        consumer_item_log(LOG_LEVEL_INFO, it, "alert_triaged", "alert_id", a->alert_id, "ticket_id", a->ticket_id,
                          "trace_id", a->meta->trace_id, "severity", row->severity, "kind", quiet ? "quiet" : note->req.kind,
                          "request_id", note->request_id, "redelivered", it->redelivered ? "true" : "false", NULL);
        if (!it->redelivered)
            metrics_add(ctx->m_triaged, 1);
    }
    for (size_t i = 0; notes && i < n; i++)
        agent_notify_free(&notes[i]);
    free(notes);
    free(rows);
    free(row_of);
    return rc;
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
        agent_ctx ctx = {.cfg = &cfg,
                         .m_triaged =
                             metrics_counter("hutch_agent_alerts_triaged_total", "Alerts triaged (first delivery)")};
        static const consumer_input inputs[] = {
            {TOPIC_ALERTS_CLUSTERED, &hutch__v1__alert__descriptor, msg_check_alert},
            {TOPIC_AGENT_REQUESTS, &hutch__v1__agent_request__descriptor},
            {NULL, NULL}};
        consumer_spec spec = {.inputs = inputs, .handle = handle_batch};
        rc = service_consume(&svc, &spec, &ctx) == 0 ? 0 : 1;
    }
    service_stop(&svc);
    config_free(agent_config_table, &cfg);
    return rc;
}
