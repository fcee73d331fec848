/* The agent's default triage (no LLM yet): pure functions on an Alert and its
 * JSON payload, so they can be tested without Kafka or Postgres.
 *
 * - agent_severity_* maps the hints vendors put in payloads (GuardDuty numeric
 *   severity, ASFF Severity.Label, Falco priority, Defender/CrowdStrike strings and
 *   numbers) to one of info < low < medium < high < critical, falling back on the
 *   enrich risk score.
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

typedef enum {
    AGENT_SEV_NONE = -1, /* no hint found */
    AGENT_SEV_INFO = 0,
    AGENT_SEV_LOW,
    AGENT_SEV_MEDIUM,
    AGENT_SEV_HIGH,
    AGENT_SEV_CRITICAL,
} agent_severity;

#define AGENT_SUMMARY_DESCRIPTION_MAX 500 /* bytes of description kept in a summary */
#define AGENT_SUMMARY_INDICATORS 5        /* indicators listed in a summary */
#define AGENT_NOTIFY_INDICATORS 10        /* indicators carried by a NotifyRequest */

/* "info" ... "critical"; "medium" for AGENT_SEV_NONE. Static string. */
const char *agent_severity_name(agent_severity s);
/* Parses a name made by agent_severity_name (exact, lowercase); AGENT_SEV_NONE otherwise. */
agent_severity agent_severity_parse(const char *name);

/* Maps a free-text severity ("High", "CRITICAL", "informational", "warning", ...)
 * or a number in text form; AGENT_SEV_NONE when it means nothing to us. */
agent_severity agent_severity_from_text(const char *text);
/* Falco priorities: Emergency/Alert/Critical -> critical, Error -> high,
 * Warning -> medium, Notice/Informational/Debug -> low. */
agent_severity agent_severity_from_falco(const char *priority);
/* GuardDuty's 0.0-10.0 scale: <4 low, <7 medium, <9 high, else critical. */
agent_severity agent_severity_from_guardduty(double severity);
/* The enrich risk score (0-100): >=80 critical, >=60 high, >=30 medium, else low. */
agent_severity agent_severity_from_risk(double risk_score);

/* Looks for severity hints in payload (BORROWED; NULL is fine) in the places the
 * vendors we know put them; AGENT_SEV_NONE when there is none. */
agent_severity agent_severity_from_payload(const json_t *payload);

/* The triage decision for one alert: payload hints, then an attribute named
 * "severity", then the risk score. payload may be NULL (unparseable payload). */
agent_severity agent_triage_severity(const Hutch__V1__Alert *alert, const json_t *payload);

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
    char *summary;               /* NEW, owned */
    char **indicators;           /* NEW array of NEW "type:value" strings */
} agent_notify;

/* Fills n for alert (BORROWED; n's strings may point into it, so it must outlive n).
 * severity: a name from agent_severity_name. default_channel: used when the alert
 * has none (BORROWED). alert_count: read from the ticket (values < 1 become 1).
 * created_ms: the input message's time, from which the message id is derived; the
 * request id derives from the alert id alone (and the time inside it, a UUIDv7), so
 * a re-sent alert always asks for the same notification.
 * Returns 0, or -1 on OOM (n is then safe to agent_notify_free). */
int agent_notify_build(agent_notify *n, const Hutch__V1__Alert *alert, const char *severity,
                       const char *default_channel, int32_t alert_count, int64_t created_ms);
void agent_notify_free(agent_notify *n);

/* The time ids are derived from: the input Meta's time, else the alert's, else fallback_ms. */
int64_t agent_input_time_ms(const Hutch__V1__Alert *alert, int64_t fallback_ms);

#endif
