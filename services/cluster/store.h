/* cluster's Postgres statements, inside the consumer frame's batch transaction:
 * serialise on every namespace and fingerprint of the batch (one lock order, see
 * store.c), then per alert either re-read an earlier decision (redelivery) or read
 * the candidate tickets, decide (cluster_decide) and bind or open. */
#ifndef HUTCH_CLUSTER_STORE_H
#define HUTCH_CLUSTER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pg.h"
#include "services/cluster/cluster.h"

/* What the transaction needs to know about the alert. All BORROWED. */
typedef struct {
    bool redelivered;        /* the frame found the message claimed before */
    const char *alert_id;    /* canonical UUID */
    const char *namespace_;  /* "" = none */
    const char *fingerprint;
    const char *title;
    const char *new_ticket_id; /* cluster_ticket_id of this alert */
} cluster_input;

typedef struct {
    char ticket_id[37];
    bool new_ticket;         /* this alert opened the ticket */
    bool again;              /* the alert was already bound: decision re-read, nothing written */
    int64_t alert_count;     /* the ticket's alert_count after this alert (for logs) */
} cluster_result;

/* Locks keys[0..n) (namespaces and fingerprints; NULL and "" skipped), all at once in
 * the one order. PG_OK, PG_RETRY or PG_FATAL. */
int cluster_store_lock(pg *db, const char *const *keys, size_t n);
/* Binds or opens for one alert (after cluster_store_lock covered its keys).
 * PG_OK (*res filled), PG_RETRY or PG_FATAL; the caller's transaction is then broken. */
int cluster_store_bind(pg *db, const cluster_input *in, int64_t window_ms, cluster_result *res);

#endif
