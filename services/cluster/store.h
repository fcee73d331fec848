/* cluster's Postgres transaction: record the message, serialise on the alert's
 * namespace and fingerprint, then either re-read an earlier decision (redelivery)
 * or read the candidate tickets, decide (cluster_decide) and bind or open. */
#ifndef HUTCH_CLUSTER_STORE_H
#define HUTCH_CLUSTER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/pg.h"
#include "services/cluster/cluster.h"

/* What the transaction needs to know about the alert. All BORROWED. */
typedef struct {
    const char *message_id;  /* input Meta id (processed_messages) */
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

/* Runs the whole transaction. 0 (committed, *res filled), PG_RETRY or PG_FATAL (rolled back). */
int cluster_store(pg *db, const cluster_input *in, int64_t window_ms, cluster_result *res);

#endif
