/* The Postgres side of the agent's triage policy (triage.h): the raw payloads the
 * policy reads, the record of every decision, the queue of alerts waiting for their
 * enrich prompts, and the decision's effect on the ticket through the ticket module.
 *
 * Inside the consumer frame's batch transaction: triage_store_payloads,
 * triage_store_record (one row per alert, first write wins, so a redelivered alert
 * records nothing new), triage_store_attr, triage_enrich_queue.
 * After the commit (no transaction open; the ticket module runs its own):
 * triage_store_apply. The enrich runner's queue functions run outside any
 * transaction. Strings BORROWED unless said otherwise.
 *
 * What triage_store_apply does to the ticket, and why: `publish: alert` keeps the
 * ticket (a title or description of the policy is written to a ticket the alert
 * opened: a bound alert does not rename the ticket it joined); `notice` and
 * `discard` leave no open ticket for the alert, so `hutchctl ticket list` shows what
 * needs a person and nothing else: a ticket the alert is alone in is archived (its
 * history says archived by hutch-agent; `ticket list --status archived` and the
 * triage_decisions row say why), and an alert bound into a ticket that has other
 * alerts is declined out of it (the ticket stays for the others, the alert is never
 * bound automatically again). A severity of the policy raises the ticket's. Each step
 * reads the ticket first and skips what is done, and a refusal of the ticket module
 * (the ticket was archived or resolved by a person meanwhile) ends the step: running
 * it twice changes nothing. */
#ifndef HUTCH_AGENT_TRIAGE_STORE_H
#define HUTCH_AGENT_TRIAGE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pg.h"
#include "services/agent/triage.h"

/* payloads[i] gets events.payload of alerts[i]'s event_id as NEW text (free()), or
 * NULL when the alert carries its payload or the row is missing. One statement.
 * PG_OK/PG_RETRY/PG_FATAL. */
int triage_store_payloads(pg *db, const Hutch__V1__Alert *const *alerts, size_t n, char **payloads);

/* One decision to record. */
typedef struct {
    const char *alert_id, *ticket_id;
    const triage_decision *d;
    const char *policy;    /* triage_policy_source, "" = the default */
    const json_t *enrich;  /* [{id, prompt, result}] or NULL */
    const json_t *skipped; /* [{id, reason}] or NULL */
} triage_record;

/* In the batch transaction: inserts the decisions not yet recorded. */
int triage_store_record(pg *db, const triage_record *recs, size_t n);
/* In the batch transaction: appends attr (marked auto) to the alert's attributes
 * unless they are there already. */
int triage_store_attr(pg *db, const char *alert_id, const json_t *attr);

/* After the commit: the decision's effect on the ticket (above). new_ticket: the alert
 * opened it. PG_OK or PG_RETRY (the caller runs it again). */
int triage_store_apply(pg *db, const char *alert_id, const char *ticket_id, bool new_ticket, const triage_decision *d);

/* --- alerts waiting for their enrich prompts (services/agent/enrich_runner.h) --- */

/* In the batch transaction: queues the packed alert (copied) with its tasks and a
 * deadline wait_ms from now; an alert queued before stays as it is. */
int triage_enrich_queue(pg *db, const char *alert_id, const char *ticket_id, const uint8_t *alert, size_t len,
                        const json_t *tasks, int64_t wait_ms);

typedef struct {
    char alert_id[37];
    char ticket_id[37];
    uint8_t *alert; /* NEW packed Alert */
    size_t alert_len;
    json_t *tasks, *results, *skipped; /* NEW */
    bool expired;                      /* the deadline passed */
    int64_t ms_left;                   /* until the deadline */
} triage_enrich_row;

/* Takes the oldest waiting alert (pending, or running with an expired lease) for
 * lease_ms. 1 with *row filled (triage_enrich_row_clear), 0 when none, or
 * PG_RETRY/PG_FATAL. */
int triage_enrich_claim(pg *db, int64_t lease_ms, triage_enrich_row *row);
void triage_enrich_row_clear(triage_enrich_row *row);
/* Stores the results and skipped tasks so far (a restart does not ask them again). */
int triage_enrich_progress(pg *db, const char *alert_id, const json_t *results, const json_t *skipped);
/* Marks the alert done (after it was sent back to triage). */
int triage_enrich_done(pg *db, const char *alert_id);

#endif
