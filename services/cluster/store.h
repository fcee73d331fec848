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

/* One alert of the batch: what the statements need (BORROWED) and what they decided. */
typedef struct {
    bool redelivered;        /* the frame found the message claimed before */
    const char *alert_id;    /* canonical UUID */
    const char *namespace_;  /* "" = none */
    const char *fingerprint;
    const char *title;
    const char *new_ticket_id; /* cluster_ticket_id of this alert */
    char ticket_id[37];        /* out */
    bool new_ticket;           /* out: this alert opened the ticket */
    bool again;                /* out: the alert was already bound: decision re-read, nothing written */
    bool declined;             /* out (with again): a person declined it from its ticket: no ticket, no output */
    int64_t alert_count;       /* out: the ticket's alert_count after this alert (for logs) */
} cluster_row;

/* Locks keys[0..n) (namespaces and fingerprints; NULL and "" skipped), all at once in
 * the one order. PG_OK, PG_RETRY or PG_FATAL. */
int cluster_store_lock(pg *db, const char *const *keys, size_t n);
/* Binds or opens for every row (after cluster_store_lock covered their keys), in
 * batch order, as if one by one. PG_OK (outs set), PG_RETRY or PG_FATAL. */
int cluster_store_batch(pg *db, cluster_row *rows, size_t n, int64_t window_ms);

#endif
