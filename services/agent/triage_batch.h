/* The triage and enrich policies in the agent's batch of clustered alerts: the thin
 * adapter between the consumer frame (common/consumer.h) and the pure decision
 * (triage.h) and its records (triage_store.h).
 *
 * Per alert of a batch, in the frame's transaction:
 *   1. the enrich policy's prompt tasks (an alert sent back by the enrich runner
 *      carries its results instead, Alert.triage_enrich_json, and asks none): with
 *      tasks and a model, the alert is queued for the runner and nothing more happens
 *      to it now (no notification, no "triaged" event: the triage comes when it comes
 *      back); with tasks and HUTCH_LLM_PROVIDER=none, the tasks are skipped with that
 *      reason, recorded with the decision;
 *   2. the triage policy's decision, which shapes the NotifyRequest (title, summary,
 *      channel, publish, page, a raised severity); `discard` produces none;
 *   3. the decision recorded (triage_decisions) and its attributes appended to the
 *      alert.
 * A policy error dead-letters the alert with its reason (file:line). After the commit,
 * the decision's effect on the ticket goes through the ticket module
 * (triage_store_apply), read back from the record, so a retried or redelivered batch
 * applies the same thing. Without a package triage or enrich in the policy directory
 * nothing here runs: the pipeline is the one it was. */
#ifndef HUTCH_AGENT_TRIAGE_BATCH_H
#define HUTCH_AGENT_TRIAGE_BATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/consumer.h"
#include "services/agent/agent.h"
#include "services/agent/triage.h"

typedef struct {
    const triage_policy *pol; /* BORROWED */
    bool model;               /* a model is configured: prompt tasks wait for it */
    int64_t enrich_wait_ms;   /* HUTCH_TRIAGE_ENRICH_WAIT */
} triage_step;

typedef struct {
    bool waiting;  /* queued for its prompt tasks: no output now */
    bool recorded; /* a decision to record (a package is there) */
    triage_decision d;
    json_t *enrich, *skipped, *tasks; /* NEW or NULL */
} triage_outcome;

/* True when a policy is there to run (else the step is skipped). */
bool triage_step_active(const triage_step *s);
/* Steps 1-2 for the batch's alerts (other items are left alone); out[n] zeroed by the
 * caller. PG_OK or PG_RETRY. */
int triage_step_decide(const triage_step *s, pg *db, consumer_item **items, size_t n, triage_outcome *out);
/* Step 3 and the queue of waiting alerts. PG_OK/PG_RETRY/PG_FATAL. */
int triage_step_store(const triage_step *s, pg *db, consumer_item **items, size_t n, triage_outcome *out);
/* Shapes a NotifyRequest by the decision (note's strings then point into o: o must
 * outlive note). */
void triage_step_shape(const triage_outcome *o, agent_notify *note);
/* After the commit: the decisions' effects on the tickets. PG_OK or PG_RETRY. */
int triage_step_apply(const triage_step *s, pg *db, consumer_item **items, size_t n);
void triage_outcomes_free(triage_outcome *o, size_t n);

#endif
