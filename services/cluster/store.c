/* cluster's Postgres statements (store.h), run inside the batch transaction of the
 * consumer frame (common/consumer.h), which has claimed the batch's message ids.
 *
 * Lock order (two cluster instances, two batches): cluster_store_lock takes, in ONE
 * statement, pg_advisory_xact_lock on hashtext() of every namespace and fingerprint
 * of the batch, distinct and in ascending hash order. Every transaction takes its
 * locks in that one order and takes them all before reading or writing a ticket, so
 * two transactions never wait on each other in a cycle. The fingerprint lock is
 * taken even with a namespace because a namespaced alert may bind by fingerprint
 * too, and two alerts of one fingerprint must not both open. Then, for the whole
 * batch (cluster_store_batch), a handful of statements whatever its size:
 *   1. the alerts ticket_alerts already has: their ticket is re-read (a redelivery,
 *      or the same alert arriving twice) and nothing is written for them;
 *   2. the open candidate tickets inside the window for every namespace and
 *      fingerprint of the batch, in one query;
 *   3. cluster_decide for each alert in batch order, in memory: a ticket opened or
 *      joined by an earlier alert of the batch is a candidate for the later ones, so
 *      the result is the one alert-by-alert processing would give;
 *   4. one insert of the new tickets, one statement binding the alerts (ticket_alerts),
 *      counting them on their tickets (alert_count + what this statement bound,
 *      last_alert_at, updated_at), stamping alerts.ticket_id/fingerprint/clustered_at
 *      and writing one ticket_history row per ticket touched ("opened" or "bound", the
 *      outbox of hutch.tickets.events: common/ticket.h), as the lifecycle module does.
 * Only open tickets are candidates, and an alert that was declined (alerts.declined_at,
 * common/ticket.h) is treated like a bound one: re-read, never bound again.
 * Ticket rows are not locked in a set order beyond the advisory locks: two batches
 * without a common key can still meet on one ticket (a namespace match for one, a
 * fingerprint match for the other); a deadlock there is PG_RETRY and the frame runs
 * the batch again.
 * The window is compared with the database's clock (now() of the transaction), so
 * the services' clocks do not matter. */
#include "services/cluster/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

int cluster_store_lock(pg *db, const char *const *keys, size_t n)
{
    pg_array arr;
    pg_array_init(&arr);
    for (size_t i = 0; i < n; i++)
        if (keys[i] && *keys[i])
            pg_array_add(&arr, keys[i]);
    const char *text = pg_array_text(&arr);
    int rc = PG_RETRY;
    if (text) {
        const char *p[] = {text};
        rc = arr.n == 0 ? PG_OK
                        : pg_exec(db, NULL,
                                  "SELECT count(pg_advisory_xact_lock(h)) FROM "
                                  "(SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS locks",
                                  1, p);
    }
    pg_array_free(&arr);
    return rc;
}

/* A candidate ticket as read (or opened in this batch), with its strings owned. */
typedef struct {
    char ticket_id[37];
    char *namespace_, *fingerprint, *status;
    int64_t last_alert_ms;
} candidate;

typedef struct {
    candidate *items;
    size_t n, cap;
} candidates;

static int candidates_add(candidates *c, const char *id, const char *ns, const char *fp, const char *status,
                          int64_t last_ms)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        candidate *grown = realloc(c->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        c->items = grown;
        c->cap = cap;
    }
    candidate *x = &c->items[c->n];
    snprintf(x->ticket_id, sizeof x->ticket_id, "%s", id);
    x->namespace_ = strdup(ns);
    x->fingerprint = strdup(fp);
    x->status = strdup(status);
    x->last_alert_ms = last_ms;
    c->n++;
    return x->namespace_ && x->fingerprint && x->status ? 0 : -1;
}

static void candidates_free(candidates *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].namespace_);
        free(c->items[i].fingerprint);
        free(c->items[i].status);
    }
    free(c->items);
}

/* Marks the rows whose alert is bound already (a redelivery, or the alert twice). */
static int read_bound(pg *db, cluster_row *rows, size_t n)
{
    pg_array ids;
    pg_array_init(&ids);
    for (size_t i = 0; i < n; i++)
        pg_array_add(&ids, rows[i].alert_id);
    const char *p[] = {pg_array_text(&ids)};
    PGresult *r = NULL;
    int rc = p[0] ? pg_exec(db, &r,
                            "SELECT x::text, coalesce(b.ticket_id::text, ''), a.declined_at IS NOT NULL"
                            " FROM unnest($1::uuid[]) AS x LEFT JOIN ticket_alerts b ON b.alert_id = x"
                            " LEFT JOIN alerts a ON a.alert_id = x"
                            " WHERE b.ticket_id IS NOT NULL OR a.declined_at IS NOT NULL",
                           1, p)
                 : PG_RETRY;
    for (int k = 0; rc == PG_OK && k < PQntuples(r); k++)
        for (size_t i = 0; i < n; i++)
            if (!strcasecmp(rows[i].alert_id, PQgetvalue(r, k, 0))) {
                snprintf(rows[i].ticket_id, sizeof rows[i].ticket_id, "%s", PQgetvalue(r, k, 1));
                rows[i].new_ticket = !strcasecmp(rows[i].ticket_id, rows[i].new_ticket_id);
                rows[i].declined = !*rows[i].ticket_id && !strcmp(PQgetvalue(r, k, 2), "t");
                rows[i].again = true;
            }
    PQclear(r);
    pg_array_free(&ids);
    return rc;
}

/* The open tickets inside the window that any pending row could join: one query. */
static int read_candidates(pg *db, const cluster_row *rows, size_t n, int64_t window_ms, candidates *out,
                           int64_t *now_ms)
{
    pg_array ns, fp;
    pg_array_init(&ns);
    pg_array_init(&fp);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].again)
            continue;
        if (*rows[i].namespace_)
            pg_array_add(&ns, rows[i].namespace_);
        pg_array_add(&fp, rows[i].fingerprint);
    }
    char window[32];
    snprintf(window, sizeof window, "%" PRId64, window_ms);
    const char *p[] = {pg_array_text(&ns), pg_array_text(&fp), window};
    PGresult *r = NULL;
    int rc = p[0] && p[1]
                 ? pg_exec(db, &r,
                           "SELECT ticket_id::text, namespace, fingerprint, status,"
                           " (extract(epoch FROM last_alert_at) * 1000)::bigint,"
                           " (extract(epoch FROM now()) * 1000)::bigint "
                           "FROM tickets "
                           "WHERE status = 'open'"
                           " AND last_alert_at >= now() - $3::bigint * interval '1 millisecond'"
                           " AND ((namespace <> '' AND namespace = ANY($1::text[])) OR fingerprint = ANY($2::text[]))",
                           3, p)
                 : PG_RETRY;
    if (rc == PG_OK) {
        PGresult *now = NULL;
        rc = PQntuples(r) ? PG_OK : pg_exec(db, &now, "SELECT (extract(epoch FROM now()) * 1000)::bigint", 0, NULL);
        if (rc == PG_OK)
            *now_ms = strtoll(PQntuples(r) ? PQgetvalue(r, 0, 5) : PQgetvalue(now, 0, 0), NULL, 10);
        PQclear(now);
    }
    for (int k = 0; rc == PG_OK && k < PQntuples(r); k++)
        if (candidates_add(out, PQgetvalue(r, k, 0), PQgetvalue(r, k, 1), PQgetvalue(r, k, 2), PQgetvalue(r, k, 3),
                           strtoll(PQgetvalue(r, k, 4), NULL, 10)) != 0)
            rc = PG_RETRY; /* out of memory */
    PQclear(r);
    pg_array_free(&ns);
    pg_array_free(&fp);
    return rc;
}

/* Decides every pending row in batch order, as if one by one: a ticket opened or
 * joined by an earlier row of the batch is a candidate for the later ones. */
static int decide_rows(cluster_row *rows, size_t n, candidates *cands, int64_t now_ms, int64_t window_ms)
{
    cluster_candidate *view = NULL;
    int rc = PG_OK;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        cluster_row *row = &rows[i];
        for (size_t j = 0; j < i && !row->again; j++)
            if (!strcasecmp(rows[j].alert_id, row->alert_id)) { /* the same alert twice in the batch */
                snprintf(row->ticket_id, sizeof row->ticket_id, "%s", rows[j].ticket_id);
                row->new_ticket = rows[j].new_ticket;
                row->again = true;
            }
        if (row->again)
            continue;
        cluster_candidate *grown = realloc(view, (cands->n ? cands->n : 1) * sizeof *view);
        if (!grown) {
            rc = PG_RETRY;
            break;
        }
        view = grown;
        for (size_t k = 0; k < cands->n; k++)
            view[k] =
                (cluster_candidate){cands->items[k].ticket_id, cands->items[k].namespace_, cands->items[k].fingerprint,
                                    cands->items[k].status, cands->items[k].last_alert_ms};
        cluster_decision d = cluster_decide(row->namespace_, row->fingerprint, view, cands->n, now_ms, window_ms);
        if (d.action == CLUSTER_BIND) {
            snprintf(row->ticket_id, sizeof row->ticket_id, "%s", cands->items[d.index].ticket_id);
            cands->items[d.index].last_alert_ms = now_ms;
            row->new_ticket = false;
        } else {
            snprintf(row->ticket_id, sizeof row->ticket_id, "%s", row->new_ticket_id);
            row->new_ticket = true;
            if (candidates_add(cands, row->new_ticket_id, row->namespace_, row->fingerprint, "open", now_ms) != 0)
                rc = PG_RETRY;
        }
        if (row->redelivered) /* claimed before yet unbound: cannot happen with this code; decided again */
            LOG_WARN("cluster_processed_but_unbound", "alert_id", row->alert_id, NULL);
    }
    free(view);
    return rc;
}

/* Writes the batch's decisions: new tickets, bindings, counts, alert rows. Then each
 * row's alert_count (for logs). */
static int write_rows(pg *db, cluster_row *rows, size_t n)
{
    pg_array t_id, t_title, t_ns, t_fp, b_alert, b_ticket, b_fp, again_tickets;
    pg_array *all[] = {&t_id, &t_title, &t_ns, &t_fp, &b_alert, &b_ticket, &b_fp, &again_tickets};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        pg_array_init(all[k]);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].again) {
            if (!rows[i].declined)
            pg_array_add(&again_tickets, rows[i].ticket_id);
            continue;
        }
        if (rows[i].new_ticket) {
            pg_array_add(&t_id, rows[i].ticket_id);
            pg_array_add(&t_title, rows[i].title);
            pg_array_add(&t_ns, rows[i].namespace_);
            pg_array_add(&t_fp, rows[i].fingerprint);
        }
        pg_array_add(&b_alert, rows[i].alert_id);
        pg_array_add(&b_ticket, rows[i].ticket_id);
        pg_array_add(&b_fp, rows[i].fingerprint);
    }
    const char *pt[] = {pg_array_text(&t_id), pg_array_text(&t_title), pg_array_text(&t_ns), pg_array_text(&t_fp)};
    const char *pb[] = {pg_array_text(&b_alert), pg_array_text(&b_ticket), pg_array_text(&b_fp), pt[0],
                        CLUSTER_PRODUCER};
    const char *pa[] = {pg_array_text(&again_tickets)};
    int rc = pt[0] && pt[1] && pt[2] && pt[3] && pb[0] && pb[1] && pb[2] && pa[0] ? PG_OK : PG_RETRY;
    PGresult *counts = NULL, *again_counts = NULL;
    if (rc == PG_OK && t_id.n)
        rc = pg_exec(db, NULL,
                     "INSERT INTO tickets (ticket_id, title, namespace, fingerprint, alert_count, last_alert_at,"
                     " history_seq) SELECT x.id, x.title, x.ns, x.fp, 0, now(), 1 "
                     "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS x(id, title, ns, fp) "
                     "ON CONFLICT DO NOTHING",
                     4, pt);
    /* Bind, count on each ticket only what this very statement bound (a batch run
     * again after a failed commit counts once), stamp the alert rows, and write one
     * history row per ticket: "opened" (seq 1, taken by the insert above) for the
     * batch's new tickets, "bound" (the next seq, taken by the UPDATE of the row,
     * which waits for any other writer of the ticket) for the others. */
    if (rc == PG_OK && b_alert.n)
        rc = pg_exec(
            db, &counts,
            "WITH x AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS x(alert_id, ticket_id, fp)),"
            " b AS (INSERT INTO ticket_alerts (alert_id, ticket_id) SELECT alert_id, ticket_id FROM x"
            " ON CONFLICT DO NOTHING RETURNING alert_id, ticket_id),"
            " k AS (SELECT ticket_id, count(*) AS k, array_agg(alert_id::text ORDER BY alert_id) AS ids,"
            " ticket_id = ANY($4::uuid[]) AS opened FROM b GROUP BY ticket_id),"
            " t AS (UPDATE tickets SET alert_count = alert_count + k.k,"
            " last_alert_at = greatest(last_alert_at, now()), updated_at = now(),"
            " history_seq = tickets.history_seq + CASE WHEN k.opened THEN 0 ELSE 1 END"
            " FROM k WHERE tickets.ticket_id = k.ticket_id RETURNING tickets.ticket_id, tickets.alert_count,"
            " tickets.history_seq, tickets.title, tickets.namespace, tickets.fingerprint, k.opened, k.ids),"
            " h AS (INSERT INTO ticket_history (ticket_id, seq, at, actor, kind, detail)"
            " SELECT ticket_id, history_seq, clock_timestamp(), $5, CASE WHEN opened THEN 'opened' ELSE 'bound' END,"
            " CASE WHEN opened THEN jsonb_build_object('alert_ids', to_jsonb(ids), 'title', title,"
            " 'namespace', namespace, 'fingerprint', fingerprint) ELSE jsonb_build_object('alert_ids', to_jsonb(ids))"
            " END FROM t RETURNING 1),"
            " a AS (UPDATE alerts SET ticket_id = x.ticket_id, fingerprint = x.fp,"
            " clustered_at = COALESCE(clustered_at, now()) FROM x WHERE alerts.alert_id = x.alert_id RETURNING 1) "
            "SELECT t.ticket_id::text, t.alert_count, (SELECT count(*) FROM a), (SELECT count(*) FROM h) FROM t",
            5, pb);
    if (rc == PG_OK && again_tickets.n)
        rc = pg_exec(db, &again_counts,
                     "SELECT ticket_id::text, alert_count FROM tickets WHERE ticket_id = ANY($1::uuid[])", 1, pa);
    /* each fresh row's count: the ticket's final count less the rows bound after it */
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        PGresult *src = rows[i].again ? again_counts : counts;
        for (int k = 0; src && k < PQntuples(src); k++)
            if (!strcasecmp(PQgetvalue(src, k, 0), rows[i].ticket_id))
                rows[i].alert_count = strtoll(PQgetvalue(src, k, 1), NULL, 10);
        for (size_t j = i + 1; !rows[i].again && j < n; j++)
            if (!rows[j].again && !strcasecmp(rows[j].ticket_id, rows[i].ticket_id))
                rows[i].alert_count--;
    }
    if (rc == PG_OK && counts && PQntuples(counts) > 0 &&
        strtoll(PQgetvalue(counts, 0, 2), NULL, 10) != (long long)b_alert.n)
        LOG_WARN("cluster_alert_rows_missing", NULL);
    PQclear(counts);
    PQclear(again_counts);
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        pg_array_free(all[k]);
    return rc;
}

int cluster_store_batch(pg *db, cluster_row *rows, size_t n, int64_t window_ms)
{
    candidates cands = {0};
    int64_t now_ms = 0;
    int rc = read_bound(db, rows, n);
    if (rc == PG_OK)
        rc = read_candidates(db, rows, n, window_ms, &cands, &now_ms);
    if (rc == PG_OK)
        rc = decide_rows(rows, n, &cands, now_ms, window_ms);
    if (rc == PG_OK)
        rc = write_rows(db, rows, n);
    candidates_free(&cands);
    return rc;
}
