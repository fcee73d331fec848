/* cluster's Postgres statements (store.h), run inside the batch transaction of the
 * consumer frame (common/consumer.h), which has claimed the batch's message ids.
 *
 * Lock order (two cluster instances, two batches): cluster_store_lock takes, in ONE
 * statement, pg_advisory_xact_lock on hashtext() of every actor key and namespace of
 * the batch, distinct and in ascending hash order. Every transaction takes its locks
 * in that one order and takes them all before reading or writing a ticket, so two
 * transactions never wait on each other in a cycle, and two alerts of one actor (the
 * only ones that may join one ticket, bar a namespace, which is locked too) never
 * both open. Then, for the whole batch (cluster_store_batch), a handful of
 * statements whatever its size:
 *   1. the alerts ticket_alerts already has: their ticket is re-read (a redelivery,
 *      or the same alert arriving twice) and nothing is written for them;
 *   2. the open candidate tickets inside the window for every actor key and
 *      namespace of the batch, in one query, with their actor keys, storm kind and
 *      shape hashes; the shapes' vectors through shapes.h (memory, then Postgres);
 *   3. cluster_bind_decide for each alert in batch order, in memory: a ticket opened
 *      or joined by an earlier alert of the batch is a candidate for the later ones
 *      (with the keys and shape the earlier alert gave it), so the result is the one
 *      alert-by-alert processing would give;
 *   4. one insert of the new tickets, one statement binding the alerts (ticket_alerts),
 *      counting them on their tickets, stamping the alert rows and writing one
 *      ticket_history row per ticket touched ("opened" or "bound", the outbox of
 *      hutch.tickets.events: common/ticket.h), as the lifecycle module does; then the
 *      tickets' actor keys and shapes, the alerts' embeddings;
 *   5. storms: the storm tickets' targets, their counts read back, their title and
 *      severity (bind_storm_severity) written, and the alert whose arrival first
 *      reached the kind's notification level recorded once (ticket_storms.
 *      notify_alert_id); every alert of a storm ticket is then "quiet" except that
 *      one ("storm"), which a redelivery reads back the same;
 *   6. the tickets' severity raised to the highest of the batch's alerts' and storms'.
 * Only open tickets are candidates, and an alert that was declined (alerts.declined_at,
 * common/ticket.h) is treated like a bound one: re-read, never bound again.
 * Ticket rows are not locked in a set order beyond the advisory locks: two batches
 * without a common key can still meet on one ticket (a namespace match for one, an
 * actor match for the other); a deadlock there is PG_RETRY and the frame runs the
 * batch again.
 * The window is compared with the database's clock (now() of the transaction), so
 * the services' clocks do not matter. */
#include "services/cluster/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/severity.h"
#include "common/strbuf.h"

#define SEP "\x1f" /* separates the items of an aggregated column */

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

/* A list of owned strings. */
typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static bool strlist_has(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s))
            return true;
    return false;
}

/* Adds s unless there. 0 or -1 (out of memory). */
static int strlist_add(strlist *l, const char *s)
{
    if (!s || !*s || strlist_has(l, s))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **grown = realloc(l->v, cap * sizeof *grown);
        if (!grown)
            return -1;
        l->v = grown;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

/* Adds every item of a SEP-separated text. */
static int strlist_split(strlist *l, const char *text)
{
    int rc = 0;
    while (rc == 0 && text && *text) {
        const char *end = strstr(text, SEP);
        size_t len = end ? (size_t)(end - text) : strlen(text);
        char *item = strndup(text, len);
        rc = item ? strlist_add(l, item) : -1;
        free(item);
        text = end ? end + 1 : NULL;
    }
    return rc;
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* A candidate ticket as read (or opened in this batch), with its strings owned. */
typedef struct {
    char ticket_id[37];
    char *namespace_, *status, *storm;
    int64_t last_alert_ms;
    strlist keys, shapes;
} candidate;

typedef struct {
    candidate *items;
    size_t n, cap;
} candidates;

static candidate *candidates_add(candidates *c, const char *id, const char *ns, const char *status, const char *storm,
                                 int64_t last_ms)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        candidate *grown = realloc(c->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        c->items = grown;
        c->cap = cap;
    }
    candidate *x = &c->items[c->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->ticket_id, sizeof x->ticket_id, "%s", id);
    x->namespace_ = strdup(ns);
    x->status = strdup(status);
    x->storm = strdup(storm);
    x->last_alert_ms = last_ms;
    return x->namespace_ && x->status && x->storm ? x : NULL;
}

static void candidates_free(candidates *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].namespace_);
        free(c->items[i].status);
        free(c->items[i].storm);
        strlist_free(&c->items[i].keys);
        strlist_free(&c->items[i].shapes);
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
    pg_array ns, keys;
    pg_array_init(&ns);
    pg_array_init(&keys);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].again)
            continue;
        if (*rows[i].namespace_)
            pg_array_add(&ns, rows[i].namespace_);
        for (size_t k = 0; k < rows[i].bind->n_keys; k++)
            pg_array_add(&keys, rows[i].bind->keys[k]);
    }
    char window[32];
    snprintf(window, sizeof window, "%" PRId64, window_ms);
    const char *p[] = {pg_array_text(&keys), pg_array_text(&ns), window};
    PGresult *r = NULL, *now = NULL;
    int rc = p[0] && p[1] ? PG_OK : PG_RETRY;
    if (rc == PG_OK)
        rc = pg_exec(db, &now, "SELECT (extract(epoch FROM now()) * 1000)::bigint", 0, NULL);
    if (rc == PG_OK) {
        *now_ms = strtoll(PQgetvalue(now, 0, 0), NULL, 10);
        rc = pg_exec(
            db, &r,
            "SELECT t.ticket_id::text, t.namespace, t.status,"
            " (extract(epoch FROM t.last_alert_at) * 1000)::bigint,"
            " coalesce((SELECT string_agg(a.actor_key, chr(31)) FROM ticket_actors a"
            "  WHERE a.ticket_id = t.ticket_id AND a.actor_key = ANY($1::text[])), ''),"
            " coalesce((SELECT string_agg(s.shape_hash, chr(31)) FROM ticket_shapes s WHERE s.ticket_id = t.ticket_id),"
            " ''), coalesce(st.kind, '') "
            "FROM tickets t LEFT JOIN ticket_storms st USING (ticket_id) "
            "WHERE t.status NOT IN ('resolved', 'archived')"
            " AND t.last_alert_at >= now() - $3::bigint * interval '1 millisecond'"
            " AND (t.ticket_id IN (SELECT ticket_id FROM ticket_actors WHERE actor_key = ANY($1::text[]))"
            "  OR (t.namespace <> '' AND t.namespace = ANY($2::text[])))",
            3, p);
    }
    for (int k = 0; rc == PG_OK && k < PQntuples(r); k++) {
        candidate *c = candidates_add(out, PQgetvalue(r, k, 0), PQgetvalue(r, k, 1), PQgetvalue(r, k, 2),
                                      PQgetvalue(r, k, 6), strtoll(PQgetvalue(r, k, 3), NULL, 10));
        if (!c || strlist_split(&c->keys, PQgetvalue(r, k, 4)) != 0 || strlist_split(&c->shapes, PQgetvalue(r, k, 5)))
            rc = PG_RETRY; /* out of memory */
    }
    PQclear(r);
    PQclear(now);
    pg_array_free(&ns);
    pg_array_free(&keys);
    return rc;
}

/* The vectors of the candidates' shapes (and of the batch's, already known). */
typedef struct {
    const char **hashes;
    const float **vecs;
    size_t n;
} shape_vectors;

static const float *vector_of(const shape_vectors *sv, const cluster_row *rows, size_t n_rows, const char *hash)
{
    for (size_t i = 0; i < n_rows; i++)
        if (rows[i].vector && !strcmp(rows[i].shape_hash, hash))
            return rows[i].vector;
    for (size_t i = 0; i < sv->n; i++)
        if (sv->vecs[i] && !strcmp(sv->hashes[i], hash))
            return sv->vecs[i];
    return NULL;
}

static int read_shape_vectors(pg *db, shapes *sh, const candidates *cands, shape_vectors *sv)
{
    size_t total = 0;
    for (size_t i = 0; i < cands->n; i++)
        total += cands->items[i].shapes.n;
    sv->hashes = calloc(total ? total : 1, sizeof *sv->hashes);
    sv->vecs = calloc(total ? total : 1, sizeof *sv->vecs);
    if (!sv->hashes || !sv->vecs)
        return PG_RETRY;
    for (size_t i = 0; i < cands->n; i++)
        for (size_t k = 0; k < cands->items[i].shapes.n; k++)
            sv->hashes[sv->n++] = cands->items[i].shapes.v[k];
    return sv->n ? shapes_vectors(sh, db, sv->hashes, NULL, sv->n, sv->vecs, NULL) : PG_OK;
}

/* Decides every pending row in batch order, as if one by one. */
static int decide_rows(shapes *sh, cluster_row *rows, size_t n, candidates *cands, const shape_vectors *sv,
                       const bind_params *bp)
{
    bind_candidate *view = NULL;
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
        bind_candidate *grown = realloc(view, (cands->n ? cands->n : 1) * sizeof *view);
        if (!grown) {
            rc = PG_RETRY;
            break;
        }
        view = grown;
        for (size_t k = 0; k < cands->n; k++) {
            candidate *c = &cands->items[k];
            double best = -1;
            for (size_t s = 0; row->vector && s < c->shapes.n; s++) {
                const float *v = vector_of(sv, rows, n, c->shapes.v[s]);
                double score = v ? shapes_dot(sh, row->vector, v) : -1;
                best = score > best ? score : best;
            }
            view[k] = (bind_candidate){
                c->ticket_id, c->namespace_, c->status, c->last_alert_ms, (const char *const *)c->keys.v,
                c->keys.n,    c->storm,      best};
        }
        bind_decision d = cluster_bind_decide(row->namespace_, row->bind, view, cands->n, bp);
        row->reason = d.reason;
        candidate *c;
        if (d.reason != BIND_OPEN) {
            c = &cands->items[d.index];
            c->last_alert_ms = bp->now_ms;
            row->new_ticket = false;
        } else {
            c = candidates_add(cands, row->new_ticket_id, row->namespace_, "open",
                               row->bind->storm ? row->bind->storm->name : "", bp->now_ms);
            row->new_ticket = true;
            if (!c) {
                rc = PG_RETRY;
                break;
            }
        }
        snprintf(row->ticket_id, sizeof row->ticket_id, "%s", c->ticket_id);
        for (size_t k = 0; k < row->bind->n_keys; k++)
            if (strlist_add(&c->keys, row->bind->keys[k]) != 0)
                rc = PG_RETRY;
        if (strlist_add(&c->shapes, row->shape_hash) != 0)
            rc = PG_RETRY;
        if (row->redelivered) /* claimed before yet unbound: cannot happen with this code; decided again */
            LOG_WARN("cluster_processed_but_unbound", "alert_id", row->alert_id, NULL);
    }
    free(view);
    return rc;
}

/* The levels in order, for array_position (common/severity.h is their one home). */
static const char *levels_literal(pg_array *levels)
{
    pg_array_init(levels);
    for (int l = SEVERITY_INFO; l <= SEVERITY_CRITICAL; l++)
        pg_array_add(levels, severity_name((severity_level)l));
    return pg_array_text(levels);
}

/* Writes the batch's decisions: new tickets, bindings, counts, alert rows, actor keys,
 * shapes, embeddings. Then each row's alert_count (for logs). */
static int write_rows(pg *db, shapes *sh, cluster_row *rows, size_t n)
{
    pg_array t_id, t_title, t_ns, t_fp, b_alert, b_ticket, b_fp, again_tickets, k_ticket, k_key, s_ticket, s_hash,
        e_alert, e_hash, v_hash, v_vec;
    pg_array *all[] = {&t_id,     &t_title, &t_ns,     &t_fp,   &b_alert, &b_ticket, &b_fp,   &again_tickets,
                       &k_ticket, &k_key,   &s_ticket, &s_hash, &e_alert, &e_hash,   &v_hash, &v_vec};
    const char **vector_shapes = calloc(n ? n : 1, sizeof *vector_shapes); /* v_hash's, for the search */
    size_t n_vector_shapes = 0;
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        pg_array_init(all[k]);
    strbuf vb = {0};
    bool oom = false;
    int dim = shapes_dim(sh);
    for (size_t i = 0; i < n; i++) {
        cluster_row *r = &rows[i];
        if (r->again) {
            if (!r->declined)
                pg_array_add(&again_tickets, r->ticket_id);
            continue;
        }
        if (r->new_ticket) {
            pg_array_add(&t_id, r->ticket_id);
            pg_array_add(&t_title, r->title);
            pg_array_add(&t_ns, r->namespace_);
            pg_array_add(&t_fp, r->fingerprint);
        }
        pg_array_add(&b_alert, r->alert_id);
        pg_array_add(&b_ticket, r->ticket_id);
        pg_array_add(&b_fp, r->fingerprint);
        for (size_t k = 0; k < r->bind->n_keys; k++) {
            pg_array_add(&k_ticket, r->ticket_id);
            pg_array_add(&k_key, r->bind->keys[k]);
        }
        pg_array_add(&s_ticket, r->ticket_id);
        pg_array_add(&s_hash, r->shape_hash);
        if (r->vector && dim > 0) {
            pg_array_add(&e_alert, r->alert_id);
            pg_array_add(&e_hash, r->shape_hash);
            bool listed = false; /* each shape's vector once per batch */
            for (size_t k = 0; k < n_vector_shapes && !listed; k++)
                listed = !strcmp(vector_shapes[k], r->shape_hash);
            if (!listed && vector_shapes) {
                vector_shapes[n_vector_shapes++] = r->shape_hash;
                strbuf_free(&vb);
                strbuf_puts(&vb, "{");
                for (int d = 0; d < dim; d++)
                    strbuf_printf(&vb, d ? ",%.9g" : "%.9g", (double)r->vector[d]);
                strbuf_puts(&vb, "}");
                oom = oom || vb.failed;
                pg_array_add(&v_hash, r->shape_hash);
                pg_array_add(&v_vec, vb.p ? vb.p : "{}");
            }
        }
    }
    oom = oom || !vector_shapes;
    free(vector_shapes);
    strbuf_free(&vb);
    char dims[16];
    snprintf(dims, sizeof dims, "%d", dim);
    const char *pt[] = {pg_array_text(&t_id), pg_array_text(&t_title), pg_array_text(&t_ns), pg_array_text(&t_fp)};
    const char *pb[] = {pg_array_text(&b_alert), pg_array_text(&b_ticket), pg_array_text(&b_fp), pt[0],
                        CLUSTER_PRODUCER};
    const char *pa[] = {pg_array_text(&again_tickets)};
    const char *pk[] = {pg_array_text(&k_ticket), pg_array_text(&k_key)};
    const char *ps[] = {pg_array_text(&s_ticket), pg_array_text(&s_hash)};
    const char *pe[] = {pg_array_text(&e_alert), pg_array_text(&e_hash),   pg_array_text(&v_hash),
                        pg_array_text(&v_vec),   shapes_embedder_name(sh), dims};
    int rc = !oom && pt[0] && pt[1] && pt[2] && pt[3] && pb[0] && pb[1] && pb[2] && pa[0] && pk[0] && pk[1] && ps[0] &&
                     ps[1] && pe[0] && pe[1] && pe[2] && pe[3]
                 ? PG_OK
                 : PG_RETRY;
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
    if (rc == PG_OK && k_key.n)
        rc = pg_exec(db, NULL,
                     "INSERT INTO ticket_actors (ticket_id, actor_key) SELECT DISTINCT * FROM unnest($1::uuid[], "
                     "$2::text[]) ON CONFLICT DO NOTHING",
                     2, pk);
    if (rc == PG_OK && s_hash.n)
        rc = pg_exec(db, NULL,
                     "INSERT INTO ticket_shapes (ticket_id, shape_hash) SELECT DISTINCT * FROM unnest($1::uuid[], "
                     "$2::text[]) ON CONFLICT DO NOTHING",
                     2, ps);
    /* an alert's vector is its shape's: kept once in shape_embeddings (shapes.c wrote
     * it, in this transaction or before), so the alert's row names the shape and
     * carries the vector only when shape_embeddings has no row for it (1.5 KB an
     * alert at 384-d was the cluster's largest write) */
    if (rc == PG_OK && e_alert.n)
        rc = pg_exec(db, NULL,
                     "INSERT INTO embeddings (alert_id, vector, model, dims, shape_hash) "
                     "SELECT x.a, CASE WHEN s.shape_hash IS NULL THEN v.v::real[] END, $5, $6::int, x.h "
                     "FROM unnest($1::uuid[], $2::text[]) AS x(a, h) JOIN unnest($3::text[], $4::text[]) AS v(h, v)"
                     " ON v.h = x.h "
                     "LEFT JOIN shape_embeddings s ON s.shape_hash = x.h AND s.embedder = $5 AND s.dims = $6::int "
                     "ON CONFLICT (alert_id) DO NOTHING",
                     6, pe);
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

/* Step 5: storm tickets' targets, counts, titles, severities and their one
 * notification; then every row's notify and ticket_title. *storm_sev gets, per row,
 * the storm severity of its ticket (static string) or NULL. */
static int write_storms(pg *db, cluster_row *rows, size_t n, const char **storm_sev)
{
    pg_array st_id, st_kind, st_actor, tg_id, tg_target, all_ids;
    pg_array *all[] = {&st_id, &st_kind, &st_actor, &tg_id, &tg_target, &all_ids};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        pg_array_init(all[k]);
    for (size_t i = 0; i < n; i++) {
        if (!*rows[i].ticket_id)
            continue; /* declined: no ticket */
        pg_array_add(&all_ids, rows[i].ticket_id);
        const bind_alert *b = rows[i].bind;
        if (rows[i].again || !b->storm || rows[i].reason == BIND_BY_NAMESPACE || rows[i].reason == BIND_BY_SHAPE)
            continue;
        if (rows[i].new_ticket) {
            pg_array_add(&st_id, rows[i].ticket_id);
            pg_array_add(&st_kind, b->storm->name);
            pg_array_add(&st_actor, b->keys[0] + 3); /* "ip:" */
        }
        if (*b->storm_target) {
            pg_array_add(&tg_id, rows[i].ticket_id);
            pg_array_add(&tg_target, b->storm_target);
        }
    }
    const char *ps[] = {pg_array_text(&st_id), pg_array_text(&st_kind), pg_array_text(&st_actor)};
    const char *pg_[] = {pg_array_text(&tg_id), pg_array_text(&tg_target)};
    const char *pa[] = {pg_array_text(&all_ids)};
    int rc = ps[0] && ps[1] && ps[2] && pg_[0] && pg_[1] && pa[0] ? PG_OK : PG_RETRY;
    if (rc == PG_OK && st_id.n)
        rc = pg_exec(db, NULL,
                     "INSERT INTO ticket_storms (ticket_id, kind, actor) SELECT * FROM unnest($1::uuid[], $2::text[], "
                     "$3::text[]) ON CONFLICT DO NOTHING",
                     3, ps);
    PGresult *added = NULL; /* the targets new to their ticket: the spread grows by them */
    if (rc == PG_OK && tg_id.n)
        rc = pg_exec(db, &added,
                     "INSERT INTO ticket_storm_targets (ticket_id, target) SELECT DISTINCT * FROM unnest($1::uuid[], "
                     "$2::text[]) ON CONFLICT DO NOTHING RETURNING ticket_id::text, target",
                     2, pg_);
    PGresult *r = NULL;
    if (rc == PG_OK)
        rc = pg_exec(db, &r,
                     "SELECT s.ticket_id::text, s.kind, s.actor, t.alert_count,"
                     " (SELECT count(*) FROM ticket_storm_targets g WHERE g.ticket_id = s.ticket_id),"
                     " coalesce(s.notify_alert_id::text, ''), s.title, t.title "
                     "FROM ticket_storms s JOIN tickets t USING (ticket_id) WHERE s.ticket_id = ANY($1::uuid[])",
                     1, pa);
    int64_t *fresh_counts = calloc(n ? n : 1, sizeof *fresh_counts);
    int64_t *fresh_spreads = calloc(n ? n : 1, sizeof *fresh_spreads);
    size_t *fresh_rows = calloc(n ? n : 1, sizeof *fresh_rows);
    if (!fresh_counts || !fresh_spreads || !fresh_rows)
        rc = PG_RETRY;
    pg_array u_id, u_title, u_sev, u_notify, u_old;
    pg_array *ups[] = {&u_id, &u_title, &u_sev, &u_notify, &u_old};
    for (size_t k = 0; k < sizeof ups / sizeof *ups; k++)
        pg_array_init(ups[k]);
    for (int k = 0; rc == PG_OK && k < PQntuples(r); k++) {
        const char *id = PQgetvalue(r, k, 0);
        const bind_storm_kind *kind = bind_storm_named(PQgetvalue(r, k, 1));
        if (!kind)
            continue; /* a kind this version does not know: left as it is */
        int64_t count = strtoll(PQgetvalue(r, k, 3), NULL, 10), spread = strtoll(PQgetvalue(r, k, 4), NULL, 10);
        const char *sev = bind_storm_severity(kind, count, spread);
        char title[256], notify_id[37];
        bind_storm_title(kind, PQgetvalue(r, k, 2), count, spread, title, sizeof title);
        snprintf(notify_id, sizeof notify_id, "%s", PQgetvalue(r, k, 5));
        /* the first fresh row of this ticket at whose count and spread the level was
         * reached: the spread before the batch, plus each new target when its first
         * row comes */
        int64_t spread_now = spread;
        for (int g = 0; added && g < PQntuples(added); g++)
            spread_now -= !strcasecmp(PQgetvalue(added, g, 0), id);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!rows[i].again && !strcasecmp(rows[i].ticket_id, id)) {
                const char *tg = rows[i].bind->storm_target;
                bool first = false;
                for (int g = 0; *tg && added && g < PQntuples(added) && !first; g++)
                    first = !strcasecmp(PQgetvalue(added, g, 0), id) && !strcmp(PQgetvalue(added, g, 1), tg);
                for (size_t j = 0; first && j < m; j++)
                    first = strcmp(rows[fresh_rows[j]].bind->storm_target, tg) != 0;
                spread_now += first;
                fresh_counts[m] = rows[i].alert_count;
                fresh_spreads[m] = spread_now;
                fresh_rows[m++] = i;
            }
        int at = bind_storm_notify_index(kind, fresh_counts, fresh_spreads, m, *notify_id != 0);
        if (at >= 0)
            snprintf(notify_id, sizeof notify_id, "%s", rows[fresh_rows[at]].alert_id);
        for (size_t i = 0; i < n; i++)
            if (!strcasecmp(rows[i].ticket_id, id)) {
                rows[i].notify = !strcasecmp(rows[i].alert_id, notify_id) ? "storm" : "quiet";
                snprintf(rows[i].ticket_title, sizeof rows[i].ticket_title, "%s", title);
                storm_sev[i] = sev;
            }
        /* a title a person changed is theirs: only cluster's own (or the first) is replaced */
        const char *old = *PQgetvalue(r, k, 6) ? PQgetvalue(r, k, 6) : PQgetvalue(r, k, 7);
        pg_array_add(&u_id, id);
        pg_array_add(&u_title, title);
        pg_array_add(&u_sev, sev);
        pg_array_add(&u_notify, *notify_id ? notify_id : NULL);
        pg_array_add(&u_old, old);
    }
    const char *pu[] = {pg_array_text(&u_id), pg_array_text(&u_title), pg_array_text(&u_sev), pg_array_text(&u_notify),
                        pg_array_text(&u_old)};
    if (rc == PG_OK && u_id.n)
        rc =
            pu[0] && pu[1] && pu[2] && pu[3] && pu[4]
                ? pg_exec(db, NULL,
                          "WITH x AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[])"
                          "  AS x(id, title, sev, notify, old)),"
                          " s AS (UPDATE ticket_storms SET title = x.title, severity = x.sev,"
                          "  notify_alert_id = coalesce(ticket_storms.notify_alert_id, x.notify)"
                          "  FROM x WHERE ticket_storms.ticket_id = x.id RETURNING 1),"
                          /* the new title is part of the batch's "bound" (or "opened") change */
                          " h AS (UPDATE ticket_history h SET detail = h.detail || jsonb_build_object('title', x.title)"
                          "  FROM x JOIN tickets t ON t.ticket_id = x.id WHERE h.ticket_id = x.id"
                          "  AND h.seq = t.history_seq AND h.published_at IS NULL"
                          "  AND t.title = x.old AND t.title <> x.title RETURNING 1) "
                          "UPDATE tickets SET title = x.title FROM x WHERE tickets.ticket_id = x.id"
                          " AND tickets.title = x.old AND tickets.title <> x.title",
                          5, pu)
                : PG_RETRY;
    PQclear(r);
    free(fresh_counts);
    free(fresh_spreads);
    PQclear(added);
    free(fresh_rows);
    for (size_t k = 0; k < sizeof ups / sizeof *ups; k++)
        pg_array_free(ups[k]);
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        pg_array_free(all[k]);
    return rc;
}

/* Step 6: each ticket's severity raised to the highest of its fresh alerts' and its
 * storm's. */
static int write_severity(pg *db, const cluster_row *rows, size_t n, const char *const *storm_sev)
{
    pg_array ids, sevs, levels;
    pg_array_init(&ids);
    pg_array_init(&sevs);
    for (size_t i = 0; i < n; i++) {
        const char *s = rows[i].again ? NULL : rows[i].severity;
        if (storm_sev[i] && severity_rank(storm_sev[i]) > severity_rank(s ? s : ""))
            s = storm_sev[i];
        if (!s || severity_rank(s) < 0)
            continue;
        pg_array_add(&ids, rows[i].ticket_id);
        pg_array_add(&sevs, s);
    }
    const char *p[] = {pg_array_text(&ids), pg_array_text(&sevs), levels_literal(&levels)};
    int rc = p[0] && p[1] && p[2] ? PG_OK : PG_RETRY;
    if (rc == PG_OK && ids.n)
        rc = pg_exec(db, NULL,
                     "WITH x AS (SELECT DISTINCT ON (id) id, s FROM unnest($1::uuid[], $2::text[]) AS x(id, s)"
                     "  ORDER BY id, array_position($3::text[], s) DESC),"
                     " r AS (SELECT x.id, x.s, t.history_seq FROM x JOIN tickets t ON t.ticket_id = x.id"
                     "  WHERE t.severity IS NULL"
                     "  OR coalesce(array_position($3::text[], t.severity), 0) < array_position($3::text[], x.s)),"
                     /* the raise is part of the batch's "bound" (or "opened") change */
                     " h AS (UPDATE ticket_history h SET detail = h.detail || jsonb_build_object('severity', r.s)"
                     "  FROM r WHERE h.ticket_id = r.id AND h.seq = r.history_seq AND h.published_at IS NULL"
                     "  RETURNING 1) "
                     "UPDATE tickets SET severity = r.s FROM r WHERE tickets.ticket_id = r.id",
                     3, p);
    pg_array_free(&ids);
    pg_array_free(&sevs);
    pg_array_free(&levels);
    return rc;
}

int cluster_store_batch(pg *db, shapes *sh, cluster_row *rows, size_t n, const cluster_store_params *p)
{
    candidates cands = {0};
    shape_vectors sv = {0};
    bind_params bp = {.threshold = p->threshold, .window_ms = p->window_ms};
    const char **storm_sev = calloc(n ? n : 1, sizeof *storm_sev);
    int rc = storm_sev ? PG_OK : PG_RETRY;
    for (size_t i = 0; i < n; i++)
        rows[i].notify = "";
    if (rc == PG_OK)
        rc = read_bound(db, rows, n);
    if (rc == PG_OK)
        rc = read_candidates(db, rows, n, p->window_ms, &cands, &bp.now_ms);
    if (rc == PG_OK)
        rc = read_shape_vectors(db, sh, &cands, &sv);
    if (rc == PG_OK)
        rc = decide_rows(sh, rows, n, &cands, &sv, &bp);
    if (rc == PG_OK)
        rc = write_rows(db, sh, rows, n);
    if (rc == PG_OK)
        rc = write_storms(db, rows, n, storm_sev);
    if (rc == PG_OK)
        rc = write_severity(db, rows, n, storm_sev);
    free(sv.hashes);
    free(sv.vecs);
    free(storm_sev);
    candidates_free(&cands);
    return rc;
}
