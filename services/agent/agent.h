/* The agent's default triage (no LLM yet): pure functions on an Alert, so they can
 * be tested without Kafka or Postgres.
 *
 * - agent_alert_severity reads the severity decided upstream (never the payload).
 * - agent_summary makes the text people read: the description plus top indicators.
 * - agent_notify_build fills the NotifyRequest the agent produces for one alert.
 *
 * Everything here is deterministic: the same alert gives the same output, which is
 * what lets a redelivered alert produce byte-identical messages. */
#ifndef HUTCH_AGENT_H
#define HUTCH_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "common/msg.h"

#define AGENT_SUMMARY_DESCRIPTION_MAX 500 /* bytes of description kept in a summary */
#define AGENT_SUMMARY_INDICATORS 5        /* indicators listed in a summary */
#define AGENT_NOTIFY_INDICATORS 10        /* indicators carried by a NotifyRequest */

/* The alert's severity name: Alert.severity as decided upstream (policy or enrich,
 * common/severity.h); for an alert without one, the level of its risk score.
 * BORROWED, static. */
const char *agent_alert_severity(const Hutch__V1__Alert *alert);

/* Summary: the description (or the title when there is none), cut at
 * AGENT_SUMMARY_DESCRIPTION_MAX bytes on a UTF-8 boundary with "…", then a line
 * "Indicators: type:value, ..." with the first AGENT_SUMMARY_INDICATORS distinct
 * indicators. NEW string (free()), NULL on OOM. */
char *agent_summary(const Hutch__V1__Alert *alert);

/* A NotifyRequest with the storage its strings point to. Initialise with
 * agent_notify_build, release with agent_notify_free. */
typedef struct {
    Hutch__V1__NotifyRequest req;
    msg_meta_buf meta;
    char request_id[IDS_UUID_LEN];
    char *summary;     /* NEW, owned */
    char **indicators; /* NEW array of NEW "type:value" strings */
} agent_notify;

/* Fills n for alert (BORROWED; n's strings may point into it, so it must outlive n).
 * severity: a severity name (common/severity.h). default_channel: used when the alert
 * has none (BORROWED). alert_count: read from the ticket (values < 1 become 1).
 * created_ms: the input message's time, from which the message id is derived; the
 * request id derives from the alert id alone (and the time inside it, a UUIDv7), so
 * a re-sent alert always asks for the same notification.
 * Returns 0, or -1 on OOM (n is then safe to agent_notify_free). */
int agent_notify_build(agent_notify *n, const Hutch__V1__Alert *alert, const char *severity,
                       const char *default_channel, int32_t alert_count, int64_t created_ms);
void agent_notify_free(agent_notify *n);

/* The NotifyRequest "agent_answer" of a question of hutch.agent.requests: title "Answer
 * from the agent", summary "USER: answer", publish "notice", no alert. The request id
 * derives from the question's request_id alone, so an answer sent twice is one
 * notification (notify deduplicates on it).
 * question_id, ticket_id, user, trace_id, answer BORROWED (must outlive n). 0 or -1. */
int agent_answer_build(agent_notify *n, const char *question_id, const char *ticket_id, const char *user,
                       const char *trace_id, const char *answer, int64_t created_ms);

/* The time ids are derived from: the input Meta's time, else the alert's, else fallback_ms. */
int64_t agent_input_time_ms(const Hutch__V1__Alert *alert, int64_t fallback_ms);

#define AGENT_PRODUCER "hutch-agent"

/* The TicketEvent "triaged" of one alert, packed: its id derives from the alert id,
 * so a redelivered alert packs to the same bytes. publish: the triage's decision
 * (alert, notice, discard; NULL = alert). NEW buffer (free()) or NULL (OOM). */
uint8_t *agent_pack_triaged(const Hutch__V1__Alert *alert, const char *severity, const char *publish,
                            int32_t alert_count, int64_t created_ms, size_t *len);

#endif
