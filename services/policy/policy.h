/* Policy's domain logic: the decision about one raw event (the alerts to raise, or
 * none with a reason), Warren's non-strict default alert, the merge of a
 * namespace's persisted attributes, and the packing of each alert as a
 * hutch.v1.Alert. The Rego policies that decide are in rules.h. No Kafka, no
 * Postgres here; main.c and store.c do the I/O.
 *
 * What must stay true: Alert ids and times derive from the RawEvent, so a
 * redelivered event re-produces the same messages; since policies can change
 * between two deliveries (hot reload), a redelivery re-reads what the first one
 * stored (store.h) rather than deciding again. */
#ifndef HUTCH_POLICY_H
#define HUTCH_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/msg.h"
#include "rego/value.h"

/* One alert a policy decided to raise. Strings are NEW (owned by the decision). */
typedef struct {
    char *title;
    char *description;
    char *namespace;   /* "" when none: the Alert is then keyed by its alert id */
    char *source;
    char *channel;
    json_t *tags;       /* array of strings, NEW reference */
    json_t *attributes; /* array of {key, value, link, type, ...}, NEW reference */
    char *severity;     /* the policy's severity level name, "" when it named none (enrich decides) */
    int severity_score; /* 0-100 with severity, else -1 */
} policy_alert;

/* What an engine decided for one event. Release with policy_decision_free. */
typedef struct {
    policy_alert *alerts;
    size_t count;
    char *package;     /* the policy that decided, e.g. "ingest.guardduty"; "" for the default */
    char *reason;      /* why no alert (count == 0), or NULL */
} policy_decision;

/* One event as an engine sees it. Everything BORROWED for the call. */
typedef struct {
    const char *event_id;
    const char *schema;
    const char *source;
    const char *payload_json; /* the event's JSON text: what the policies see as input */
    rv *input;                /* payload_json parsed once by the caller (rv_from_json_text,
                               * numbers exact), or NULL: parsed when a policy needs it */
} policy_input;

/* Warren's non-strict default: one alert with title, description and namespace
 * from the payload's common fields (a payload that is not JSON gets "(no title)").
 * Fills out (zeroed by the caller): 0, or -1 with err on OOM. */
int policy_default_eval(const policy_input *in, policy_decision *out, char *err, size_t errlen);

/* A JSON value's type as Rego names it ("object", "array", "string", "number",
 * "boolean", "null"), for messages about what a policy or a fixture holds. */
const char *policy_json_type(const json_t *v);

/* Adds to a->attributes every attribute of `stored` (an array of attribute objects,
 * a namespace's persisted ones, BORROWED) whose key the alert does not have
 * already: the alert's own values win. 0, or -1 on OOM. */
int policy_merge_attributes(policy_alert *a, const json_t *stored);

/* Adds the event's own attributes (RawEvent.attributes: a log router's router.*
 * metadata, ev BORROWED) to every alert of d, after the policy's: a key the
 * policy set wins. 0, or -1 on OOM. */
int policy_add_event_attributes(policy_decision *d, const Hutch__V1__RawEvent *ev);

/* Frees what a decision owns; the struct itself is the caller's. NULL is fine. */
void policy_decision_free(policy_decision *d);

/* Replaces the NEW string in *slot with a copy of value (NULL: ""). 0, or -1 on
 * OOM (the slot unchanged). */
int policy_set_string(char **slot, const char *value);

/* Adds an alert to d and returns it with every string set to "" and empty arrays
 * (for engines). NULL on OOM. */
policy_alert *policy_decision_add(policy_decision *d);

/* First non-empty string among the dotted paths (NULL-terminated list), e.g.
 * "detail.title"; BORROWED from payload, or NULL. */
const char *policy_first_string(const json_t *payload, const char *const *paths);

/* The id of the index-th alert of an event: derived from (created_ms, event_id, index). */
void policy_alert_id(char out[37], const char *event_id, int64_t created_ms, size_t index);

/* The Kafka key of an Alert: its namespace when non-empty, else its alert id. BORROWED. */
const char *policy_alert_key(const policy_alert *a, const char *alert_id);

/* Packs the index-th alert of the decision as a hutch.v1.Alert: alert_id from
 * policy_alert_id, meta trace id from the event, created time = the event's.
 * ev BORROWED (must have meta). NEW buffer (free()), length in *len; NULL on OOM. */
uint8_t *policy_alert_pack(const Hutch__V1__RawEvent *ev, const policy_decision *d, size_t index, size_t *len);

#endif
