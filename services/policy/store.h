/* Policy's Postgres statements: one transaction per event records the decision
 * (events row, one alerts row per alert, the namespace's persisted attributes)
 * together with the processed_messages row that makes a redelivery a no-op. */
#ifndef HUTCH_POLICY_STORE_H
#define HUTCH_POLICY_STORE_H

#include "common/pg.h"
#include "services/policy/policy.h"

#define POLICY_CONSUMER "hutch-policy"

/* Records ev's decision d (both BORROWED; ev->meta must be set) in one transaction.
 * Alerts with a namespace get its persisted attributes merged in (d is updated:
 * produce what was stored). *already is set to 1 when the message (meta.id) had
 * been processed before: nothing is written then, and the caller re-reads what the
 * first delivery stored with policy_store_read_decision.
 * Returns PG_OK, PG_RETRY (database unavailable: run again later) or PG_FATAL (the
 * database refused the data: dead-letter). */
int policy_store_decision(pg *db, const Hutch__V1__RawEvent *ev, policy_decision *d, int *already);

/* The decision stored for ev's event (d zeroed by the caller; free it either way),
 * alerts in their original order. PG_OK, PG_RETRY or PG_FATAL. */
int policy_store_read_decision(pg *db, const Hutch__V1__RawEvent *ev, policy_decision *d);

/* Records the event as 'dead' (a policy error; the message goes to the DLQ) so
 * `hutchctl event list` shows it; a later decision (DLQ replay) overwrites it.
 * Not a claim of the message. PG_OK, PG_RETRY or PG_FATAL. */
int policy_store_dead(pg *db, const Hutch__V1__RawEvent *ev, const char *package, const char *reason);

#endif
