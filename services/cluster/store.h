/* cluster's Postgres statements, inside the consumer frame's batch transaction:
 * serialise on every actor key and namespace of the batch (one lock order, see
 * store.c), then per alert either re-read an earlier decision (redelivery) or read
 * the candidate tickets, decide (cluster_bind_decide, bind.h) and bind or open; then
 * the storm tickets' counts, titles, severities and their one notification. */
#ifndef HUTCH_CLUSTER_STORE_H
#define HUTCH_CLUSTER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pg.h"
#include "services/cluster/bind.h"
#include "services/cluster/cluster.h"
#include "services/cluster/shapes.h"

/* One alert of the batch: what the statements need (BORROWED) and what they decided. */
typedef struct {
    bool redelivered;       /* the frame found the message claimed before */
    const char *alert_id;   /* canonical UUID */
    const char *namespace_; /* "" = none */
    const char *fingerprint;
    const char *title;
    const char *severity; /* the alert's (info..critical), "" if none */
    const char *shape_hash;
    const float *vector;       /* shapes_dim() floats, or NULL (no embedding) */
    const bind_alert *bind;    /* actor keys, storm kind */
    const char *new_ticket_id; /* cluster_ticket_id of this alert */
    char ticket_id[37];        /* out */
    bool new_ticket;           /* out: this alert opened the ticket */
    bool again;                /* out: the alert was already bound: decision re-read, nothing written */
    bind_reason reason;        /* out: why it joined (BIND_OPEN: opened; unknown when again) */
    bool declined;             /* out (with again): a person declined it from its ticket: no ticket, no output */
    int64_t alert_count;       /* out: the ticket's alert_count after this alert (for logs) */
    const char *notify;        /* out: "" (as usual), "quiet" (storm, below its level), "storm" (crossed it); static */
    char ticket_title[256];    /* out: a storm ticket's title, "" otherwise */
} cluster_row;

typedef struct {
    double threshold;  /* HUTCH_CLUSTER_BIND_THRESHOLD */
    int64_t window_ms; /* HUTCH_CLUSTER_WINDOW */
} cluster_store_params;

/* Locks keys[0..n) (actor keys and namespaces; NULL and "" skipped), all at once in
 * the one order. PG_OK, PG_RETRY or PG_FATAL. */
int cluster_store_lock(pg *db, const char *const *keys, size_t n);
/* Binds or opens for every row (after cluster_store_lock covered their keys), in
 * batch order, as if one by one; sh gives the candidate tickets' shape vectors.
 * PG_OK (outs set), PG_RETRY or PG_FATAL. */
int cluster_store_batch(pg *db, shapes *sh, cluster_row *rows, size_t n, const cluster_store_params *p);

#endif
