/* Tickets ranked by similarity to an alert or to a ticket: the one ranking behind
 * `hutchctl ticket similar` and the Slack bind modal ("the ten nearest open tickets").
 *
 * Over the vectors hutch-cluster stored: embeddings (one row per alert, its vector,
 * embedder and shape hash), shape_embeddings (one vector per shape and embedder) and
 * ticket_shapes (the shapes of a ticket's alerts). The query's vectors are the alert's
 * own, or the ticket's shapes' under the embedder most of them have; the candidates are
 * the other tickets' shapes under that same embedder and size (vectors of different
 * embedders are never compared). A candidate ticket's score is its best pair: the
 * highest cosine between any of its shapes and any query vector (vectors are stored
 * L2-normalised, so the dot product is the cosine; common/vindex.h does the scan).
 * Order: score descending, then ticket id. */
#ifndef HUTCH_SIMILAR_H
#define HUTCH_SIMILAR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/pg.h"

/* SQL: every alert's embedding as rows (alert_id, model, dims, created_at, vector),
 * aliased e. An alert's row carries its vector only when its shape had none in
 * shape_embeddings (migration 18); otherwise the vector is its shape's. */
#define EMBEDDING_VECTORS                                                                                              \
    "(SELECT e.alert_id, e.model, e.dims, e.created_at, coalesce(e.vector, s.vector) AS vector FROM embeddings e"      \
    " LEFT JOIN shape_embeddings s ON s.shape_hash = e.shape_hash AND s.embedder = e.model AND s.dims = e.dims) e"

/* The query has no stored vector (an alert not embedded yet, a ticket without
 * shapes). */
enum { SIMILAR_NO_VECTORS = -4 };

typedef struct {
    const char *alert_id;          /* the query is this alert (exactly one of alert_id, ticket_id) */
    const char *ticket_id;         /* the query is this ticket (left out of the answer) */
    const char *exclude_ticket_id; /* also left out (e.g. the alert's own ticket); NULL: none */
    bool open_only;                /* only tickets whose status is open */
    size_t limit;                  /* at most this many (1..) */
} similar_query;

typedef struct {
    char ticket_id[37];
    double score; /* cosine, -1..1 */
} similar_ticket;

/* Strings of q BORROWED. On PG_OK *out is NEW (free(); NULL when *n is 0), best first.
 * Returns PG_OK, SIMILAR_NO_VECTORS, PG_RETRY, PG_FATAL (with err: a stored vector
 * that is not of its size, out of memory, bad arguments). Runs plain statements (no
 * transaction of its own). */
int similar_tickets(pg *db, const similar_query *q, similar_ticket **out, size_t *n, char *err, size_t errlen);

#endif
