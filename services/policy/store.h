/* Policy's Postgres statements, inside the consumer frame's batch transaction (which
 * claimed the batch's message ids): the events rows of the batch in one statement,
 * the namespaces' persisted attributes, the alerts rows in one statement; and the
 * read-back of a decision for a redelivered event. */
#ifndef HUTCH_POLICY_STORE_H
#define HUTCH_POLICY_STORE_H

#include <stddef.h>

#include "common/pg.h"
#include "services/policy/policy.h"

/* One decided event of the batch. ev BORROWED (ev->meta set); d BORROWED and updated
 * (namespace attributes merged in: produce what was stored); d NULL for a dead event. */
typedef struct {
    const Hutch__V1__RawEvent *ev;
    policy_decision *d;
    const char *package; /* for a dead event: the package that failed, or "" */
    const char *reason;  /* for a dead event: why */
} policy_event_row;

/* Writes rows[0..n): each event (accepted, ignored or dead; a 'dead' row is the only
 * one a later decision overwrites), its alerts, the namespaces' attributes.
 * PG_OK, PG_RETRY or PG_FATAL. */
int policy_store_events(pg *db, policy_event_row *rows, size_t n);

/* The decision stored for ev's event (d zeroed by the caller; free it either way),
 * alerts in their original order. PG_OK, PG_RETRY or PG_FATAL. */
int policy_store_read_decision(pg *db, const Hutch__V1__RawEvent *ev, policy_decision *d);

#endif
