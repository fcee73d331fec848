/* cluster's Postgres statements (store.h), run inside the batch transaction of the
 * consumer frame (common/consumer.h), which has claimed the batch's message ids.
 *
 * Lock order (two cluster instances, two batches): cluster_store_lock takes, in ONE
 * statement, pg_advisory_xact_lock on hashtext() of every namespace and fingerprint
 * of the batch, distinct and in ascending hash order. Every transaction takes its
 * locks in that one order and takes them all before reading or writing a ticket, so
 * two transactions never wait on each other in a cycle. The fingerprint lock is
 * taken even with a namespace because a namespaced alert may bind by fingerprint
 * too, and two alerts of one fingerprint must not both open. Then per alert
 * (cluster_store_bind):
 *   1. ticket_alerts already has the alert: re-read its ticket (a redelivery, or the
 *      same alert arriving twice) and write nothing;
 *   2. else read the open candidate tickets inside the window, cluster_decide, and
 *      bind (ticket_alerts, tickets.alert_count + 1, last_alert_at, updated_at) or
 *      open (tickets with the derived id, ticket_alerts);
 *   3. alerts.ticket_id / fingerprint / clustered_at.
 * The window is compared with the database's clock (now() of the transaction), so
 * the services' clocks do not matter. */
#include "services/cluster/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

#define MAX_CANDIDATES 16

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

static int read_count(pg *db, const char *ticket_id, int64_t *count)
{
    PGresult *res = NULL;
    const char *p[] = {ticket_id};
    int rc = pg_exec(db, &res, "SELECT alert_count FROM tickets WHERE ticket_id = $1::uuid", 1, p);
    if (!rc && PQntuples(res) == 1)
        *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

/* Reads candidates and decides; fills res->ticket_id / new_ticket. */
static int decide(pg *db, const cluster_input *in, int64_t window_ms, cluster_result *res)
{
    char window[32];
    snprintf(window, sizeof window, "%" PRId64, window_ms);
    const char *p[] = {in->namespace_, in->fingerprint, window};
    PGresult *r = NULL;
    int rc = pg_exec(db, &r,
                     "SELECT ticket_id::text, namespace, fingerprint, status,"
                     " (extract(epoch FROM last_alert_at) * 1000)::bigint,"
                     " (extract(epoch FROM now()) * 1000)::bigint "
                     "FROM tickets "
                     "WHERE status <> 'resolved'"
                     " AND last_alert_at >= now() - $3::bigint * interval '1 millisecond'"
                     " AND ((namespace <> '' AND namespace = $1) OR fingerprint = $2) "
                     "ORDER BY (namespace <> '' AND namespace = $1) DESC, last_alert_at DESC, ticket_id "
                     "LIMIT 16",
                     3, p);
    if (rc)
        return rc;
    cluster_candidate cands[MAX_CANDIDATES];
    int n = PQntuples(r);
    if (n > MAX_CANDIDATES)
        n = MAX_CANDIDATES;
    int64_t now_ms = 0;
    for (int i = 0; i < n; i++) {
        cands[i] = (cluster_candidate){
            .ticket_id = PQgetvalue(r, i, 0),
            .namespace_ = PQgetvalue(r, i, 1),
            .fingerprint = PQgetvalue(r, i, 2),
            .status = PQgetvalue(r, i, 3),
            .last_alert_ms = strtoll(PQgetvalue(r, i, 4), NULL, 10),
        };
        now_ms = strtoll(PQgetvalue(r, i, 5), NULL, 10);
    }
    cluster_decision d = cluster_decide(in->namespace_, in->fingerprint, cands, (size_t)n, now_ms, window_ms);
    if (d.action == CLUSTER_BIND) {
        snprintf(res->ticket_id, sizeof res->ticket_id, "%s", cands[d.index].ticket_id);
        res->new_ticket = false;
    } else {
        snprintf(res->ticket_id, sizeof res->ticket_id, "%s", in->new_ticket_id);
        res->new_ticket = true;
    }
    PQclear(r);
    return 0;
}

int cluster_store_bind(pg *db, const cluster_input *in, int64_t window_ms, cluster_result *res)
{
    PGresult *r = NULL;
    memset(res, 0, sizeof *res);
    const char *p2[] = {in->alert_id};
    int rc = pg_exec(db, &r, "SELECT ticket_id::text FROM ticket_alerts WHERE alert_id = $1::uuid", 1, p2);
    if (rc)
        goto out;
    if (PQntuples(r) == 1) {
        snprintf(res->ticket_id, sizeof res->ticket_id, "%s", PQgetvalue(r, 0, 0));
        res->new_ticket = !strcasecmp(res->ticket_id, in->new_ticket_id);
        res->again = true;
        rc = read_count(db, res->ticket_id, &res->alert_count);
        goto out;
    }
    PQclear(r);
    r = NULL;
    if (in->redelivered) /* processed before yet unbound: cannot happen with this code; decide again */
        LOG_WARN("cluster_processed_but_unbound", "alert_id", in->alert_id, NULL);

    if ((rc = decide(db, in, window_ms, res)))
        goto out;

    /* The writes are one statement (data-modifying CTEs): bind the alert, count it on
     * the ticket only if this very statement bound it (a retried message counts once),
     * and stamp the alert row. */
    if (res->new_ticket) {
        const char *pw[] = {in->alert_id, res->ticket_id, in->fingerprint, in->title, in->namespace_};
        rc = pg_exec(db, &r,
                     "WITH t AS (INSERT INTO tickets (ticket_id, title, namespace, fingerprint, alert_count,"
                     " last_alert_at) VALUES ($2::uuid, $4, $5, $3, 1, now()) ON CONFLICT DO NOTHING),"
                     " b AS (INSERT INTO ticket_alerts (alert_id, ticket_id) VALUES ($1::uuid, $2::uuid)"
                     " ON CONFLICT DO NOTHING),"
                     " a AS (UPDATE alerts SET ticket_id = $2::uuid, fingerprint = $3,"
                     " clustered_at = COALESCE(clustered_at, now()) WHERE alert_id = $1::uuid RETURNING 1) "
                     "SELECT 1::bigint, (SELECT count(*) FROM a)",
                     5, pw);
    } else {
        const char *pw[] = {in->alert_id, res->ticket_id, in->fingerprint};
        rc = pg_exec(db, &r,
                     "WITH b AS (INSERT INTO ticket_alerts (alert_id, ticket_id) VALUES ($1::uuid, $2::uuid)"
                     " ON CONFLICT DO NOTHING RETURNING 1),"
                     " t AS (UPDATE tickets SET alert_count = alert_count + 1,"
                     " last_alert_at = greatest(last_alert_at, now()), updated_at = now()"
                     " WHERE ticket_id = $2::uuid AND EXISTS (SELECT 1 FROM b) RETURNING alert_count),"
                     " a AS (UPDATE alerts SET ticket_id = $2::uuid, fingerprint = $3,"
                     " clustered_at = COALESCE(clustered_at, now()) WHERE alert_id = $1::uuid RETURNING 1) "
                     "SELECT (SELECT alert_count FROM t), (SELECT count(*) FROM a)",
                     3, pw);
    }
    if (rc)
        goto out;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        res->alert_count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 1), "1") != 0)
        LOG_WARN("cluster_alert_row_missing", "alert_id", in->alert_id, "ticket_id", res->ticket_id, NULL);
    PQclear(r);
    r = NULL;
    /* Unknown only if an earlier attempt of this message bound the alert already. */
    if (res->alert_count == 0)
        rc = read_count(db, res->ticket_id, &res->alert_count);
out:
    PQclear(r);
    return rc;
}
