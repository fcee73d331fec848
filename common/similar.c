/* Tickets ranked by similarity (similar.h): two statements (the query's vectors, the
 * candidates' shape vectors) and a scan of the candidates in a vindex per query vector,
 * keeping each candidate row's best score; a ticket's score is its best row's. */
#include "common/similar.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/vindex.h"

#define MAX_CANDIDATES "1000000"

/* The alert's vector, or the ticket's shapes' under the embedder most of them have:
 * rows of (vector, embedder, dims). */
static const char sql_alert[] = "SELECT e.vector::text, e.model, e.dims::text FROM " EMBEDDING_VECTORS
                                " WHERE e.alert_id = $1::uuid AND e.vector IS NOT NULL AND e.model IS NOT NULL";
static const char sql_ticket[] =
    "WITH m AS (SELECT s.embedder, s.dims FROM ticket_shapes t JOIN shape_embeddings s USING (shape_hash)"
    " WHERE t.ticket_id = $1::uuid GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1) "
    "SELECT s.vector::text, s.embedder, s.dims::text FROM ticket_shapes t"
    " JOIN shape_embeddings s USING (shape_hash) JOIN m ON m.embedder = s.embedder AND m.dims = s.dims"
    " WHERE t.ticket_id = $1::uuid";
/* Every other ticket's shapes under the embedder, grouped by ticket. */
static const char sql_candidates[] =
    "SELECT t.ticket_id::text, s.vector::text FROM ticket_shapes t JOIN shape_embeddings s USING (shape_hash)"
    " JOIN tickets k ON k.ticket_id = t.ticket_id"
    " WHERE t.ticket_id IS DISTINCT FROM $1::uuid AND t.ticket_id IS DISTINCT FROM $2::uuid"
    " AND s.embedder = $3 AND s.dims = $4::int AND (NOT $5::bool OR k.status = 'open')"
    " ORDER BY t.ticket_id LIMIT " MAX_CANDIDATES;

static int rc_of(int rc) { return rc == PG_OK ? PG_OK : rc == PG_RETRY ? PG_RETRY : PG_FATAL; }

static int fail(char *err, size_t errlen, int rc, const char *what)
{
    snprintf(err, errlen, "%s", what);
    return rc;
}

static int keep_best(uint32_t row, float score, void *arg)
{
    float *best = arg;
    if (score > best[row])
        best[row] = score;
    return 0;
}

static int by_score(const void *a, const void *b)
{
    const similar_ticket *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->ticket_id, y->ticket_id);
}

int similar_tickets(pg *db, const similar_query *q, similar_ticket **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    bool by_alert = q->alert_id != NULL;
    const char *id = by_alert ? q->alert_id : q->ticket_id;
    if (by_alert == (q->ticket_id != NULL) || !ids_is_uuid(id) || q->limit == 0 ||
        (q->exclude_ticket_id && !ids_is_uuid(q->exclude_ticket_id)))
        return fail(err, errlen, PG_FATAL, "similar_tickets: one alert or ticket id, and a limit");
    PGresult *me = NULL, *cand = NULL;
    const char *p1[] = {id};
    int rc = rc_of(pg_exec(db, &me, by_alert ? sql_alert : sql_ticket, 1, p1));
    if (rc != PG_OK)
        return fail(err, errlen, rc, pg_last_error(db) ? pg_last_error(db) : "database error");
    if (PQntuples(me) == 0) {
        PQclear(me);
        return fail(err, errlen, SIMILAR_NO_VECTORS,
                    by_alert ? "the alert has no embedding (not clustered yet)" : "the ticket has no embedded shapes");
    }
    int dim = atoi(PQgetvalue(me, 0, 2));
    const char *p2[] = {by_alert ? NULL : q->ticket_id, q->exclude_ticket_id, PQgetvalue(me, 0, 1),
                        PQgetvalue(me, 0, 2), q->open_only ? "true" : "false"};
    rc = rc_of(pg_exec(db, &cand, sql_candidates, 5, p2));
    if (rc != PG_OK) {
        PQclear(me);
        return fail(err, errlen, rc, pg_last_error(db) ? pg_last_error(db) : "database error");
    }
    int rows = PQntuples(cand);
    vindex *ix = vindex_new(dim, VINDEX_F32);
    float *best = malloc(((size_t)rows + 1) * sizeof *best);
    similar_ticket *tickets = calloc((size_t)rows + 1, sizeof *tickets);
    rc = ix && best && tickets && vindex_reserve(ix, (size_t)rows) == 0 ? PG_OK : PG_FATAL;
    if (rc != PG_OK)
        fail(err, errlen, rc, "out of memory");
    for (int k = 0; rc == PG_OK && k < rows; k++) {
        float *v = vindex_parse_vector(PQgetvalue(cand, k, 1), dim);
        if (v == NULL || vindex_add(ix, (uint64_t)k, v) != 0)
            rc = fail(err, errlen, PG_FATAL, "a stored shape vector is not of its size");
        free(v);
        best[k] = -2.0f;
    }
    for (int k = 0; rc == PG_OK && k < PQntuples(me); k++) {
        float *v = vindex_parse_vector(PQgetvalue(me, k, 0), dim);
        if (v == NULL || vindex_range(ix, v, -2.0f, keep_best, best) != 0)
            rc = fail(err, errlen, PG_FATAL, "a stored query vector is not of its size");
        free(v);
    }
    /* rows come grouped by ticket: one entry per ticket, its best row's score */
    size_t m = 0;
    for (int k = 0; rc == PG_OK && k < rows; k++) {
        const char *t = PQgetvalue(cand, k, 0);
        if (m == 0 || strcmp(tickets[m - 1].ticket_id, t) != 0) {
            snprintf(tickets[m].ticket_id, sizeof tickets[m].ticket_id, "%s", t);
            tickets[m++].score = best[k];
        } else if (best[k] > tickets[m - 1].score) {
            tickets[m - 1].score = best[k];
        }
    }
    if (rc == PG_OK) {
        qsort(tickets, m, sizeof *tickets, by_score);
        *n = m < q->limit ? m : q->limit;
        *out = *n ? tickets : NULL;
        if (*n)
            tickets = NULL;
    }
    free(tickets);
    free(best);
    vindex_free(ix);
    PQclear(cand);
    PQclear(me);
    return rc;
}
