/* Policy's Postgres statements: one transaction per event records the decision
 * (events row, one alerts row per alert) together with the processed_messages row
 * that makes a redelivery a no-op. */
#ifndef HUTCH_POLICY_STORE_H
#define HUTCH_POLICY_STORE_H

#include "common/pg.h"
#include "services/policy/policy.h"

#define POLICY_CONSUMER "hutch-policy"

/* Records ev's decision d (both BORROWED; ev->meta must be set) in one transaction.
 * *already is set to 1 when the message (meta.id) had been processed before: nothing
 * is written then, and the caller re-produces the same outputs.
 * Returns PG_OK, PG_RETRY (database unavailable: run again later) or PG_FATAL (the
 * database refused the data: dead-letter). */
int policy_store_decision(pg *db, const Hutch__V1__RawEvent *ev, const policy_decision *d, int *already);

#endif
