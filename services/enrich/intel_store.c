/* intel_store: the statements of alert_lookups, intel_waiting and intel_queue
 * (intel_store.h). Batches travel as arrays, unnest()ed, so a batch of 500 alerts is
 * two statements whatever its lookups, and writes one row per alert plus one per
 * pending lookup, not one per lookup. */
#include "services/enrich/intel_store.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/enrich/enrich.h"

int intel_store_attach(pg *db, intel_attach_row *rows, size_t n, int64_t now_ms)
{
    if (n == 0)
        return PG_OK;
    pg_array prov, kind, val, alert, ind, state;
    pg_array *all[] = {&prov, &kind, &val, &alert, &ind, &state};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        pg_array_init(all[i]);
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&prov, intel_provider_name(rows[i].ask->provider));
        pg_array_add(&kind, intel_kind_name(rows[i].ask->ind.kind));
        pg_array_add(&val, rows[i].ask->ind.value);
    }
    char now[32];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    int rc = PG_RETRY; /* out of memory building the arrays */
    PGresult *r = NULL;
    if (!pg_array_failed(&prov) && !pg_array_failed(&kind) && !pg_array_failed(&val)) {
        const char *params[] = {pg_array_text(&prov), pg_array_text(&kind), pg_array_text(&val), now};
        rc = pg_exec(db, &r,
                     "SELECT k.i, c.verdict, c.score::text, c.summary, c.link, c.not_found::text"
                     " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(provider, kind, value, i)"
                     " JOIN intel_cache c ON (c.provider, c.kind, c.value) = (k.provider, k.kind, k.value)"
                     " WHERE c.expires_at > to_timestamp($4::bigint / 1000.0)",
                     4, params);
    }
    for (int row = 0; rc == PG_OK && row < PQntuples(r); row++) {
        long i = strtol(PQgetvalue(r, row, 0), NULL, 10) - 1;
        if (i < 0 || (size_t)i >= n)
            continue;
        intel_attach_row *a = &rows[i];
        int lv = intel_level_parse(PQgetvalue(r, row, 1));
        a->hit = true;
        a->level = lv < 0 ? INTEL_UNKNOWN : lv;
        a->score = atoi(PQgetvalue(r, row, 2));
        a->summary = strdup(PQgetvalue(r, row, 3));
        a->link = strdup(PQgetvalue(r, row, 4));
        a->not_found = !strcmp(PQgetvalue(r, row, 5), "true");
        if (!a->summary || !a->link)
            rc = PG_RETRY;
    }
    PQclear(r);
    size_t recorded = 0;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        if (!rows[i].record)
            continue;
        pg_array_add(&alert, rows[i].alert_id);
        pg_array_add(&ind, rows[i].ask->indicator);
        pg_array_add(&state, rows[i].hit ? "done" : "pending");
        recorded++;
    }
    if (rc == PG_OK && recorded) {
        /* prov/kind/val hold every row; the recorded ones are re-listed beside them */
        pg_array rp, rk, rv;
        pg_array_init(&rp);
        pg_array_init(&rk);
        pg_array_init(&rv);
        for (size_t i = 0; i < n; i++) {
            if (!rows[i].record)
                continue;
            pg_array_add(&rp, intel_provider_name(rows[i].ask->provider));
            pg_array_add(&rk, intel_kind_name(rows[i].ask->ind.kind));
            pg_array_add(&rv, rows[i].ask->ind.value);
        }
        const char *params[] = {pg_array_text(&alert), pg_array_text(&rp),  pg_array_text(&rk),
                                pg_array_text(&rv),    pg_array_text(&ind), pg_array_text(&state)};
        rc = PG_RETRY;
        /* one alert_lookups row per alert that exists, its lookups in the batch's
         * order, each key once (its first ask); nothing for an alert recorded before
         * (a redelivery). Its pending lookups wait in intel_waiting and their keys
         * join the queue, in key order (two batches lock shared keys in one order);
         * a key already queued is locked (DO UPDATE ... WHERE false writes nothing),
         * so a worker resolving it meanwhile waits for this commit and then sees
         * these alerts waiting */
        if (params[0] && params[1] && params[2] && params[3] && params[4] && params[5])
            rc = pg_exec(
                db, NULL,
                "WITH x AS (SELECT DISTINCT ON (a, p, k, v) a, p, k, v, i, s, o"
                "   FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
                "   WITH ORDINALITY AS x(a, p, k, v, i, s, o) ORDER BY a, p, k, v, o),"
                " ins AS (INSERT INTO alert_lookups (alert_id, lookups)"
                "   SELECT a, jsonb_agg(jsonb_build_array(p, k, v, i, s) ORDER BY o) FROM x"
                "   WHERE EXISTS (SELECT 1 FROM alerts WHERE alerts.alert_id = x.a) GROUP BY a"
                "   ON CONFLICT DO NOTHING RETURNING alert_id),"
                " w AS (SELECT x.p, x.k, x.v, x.a FROM x JOIN ins ON ins.alert_id = x.a WHERE x.s = 'pending'),"
                " wi AS (INSERT INTO intel_waiting (provider, kind, value, alert_id)"
                "   SELECT p, k, v, a FROM w ON CONFLICT DO NOTHING)"
                " INSERT INTO intel_queue (provider, kind, value)"
                " SELECT DISTINCT p, k, v FROM w ORDER BY p, k, v"
                " ON CONFLICT (provider, kind, value) DO UPDATE SET attempts = intel_queue.attempts WHERE false",
                6, params);
        pg_array_free(&rp);
        pg_array_free(&rk);
        pg_array_free(&rv);
    }
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        pg_array_free(all[i]);
    return rc;
}

void intel_attach_rows_free(intel_attach_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].summary);
        free(rows[i].link);
        rows[i].summary = rows[i].link = NULL;
    }
}

int intel_store_due(pg *db, int64_t now_ms, intel_due *out, size_t max, size_t *n)
{
    *n = 0;
    char now[32], lim[32];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(lim, sizeof lim, "%zu", max);
    pg_array names;
    pg_array_init(&names);
    for (int p = 0; p < INTEL_PROVIDER_COUNT; p++)
        pg_array_add(&names, intel_provider_name((intel_provider)p));
    const char *params[] = {now, lim, pg_array_text(&names)};
    PGresult *r = NULL;
    /* per provider not on hold, its due keys in index order (intel_queue_due): a
     * round reads at most max rows per provider whatever the backlog */
    int rc = params[2] ? pg_exec(db, &r,
                                 "SELECT q.provider, q.kind, q.value, q.attempts"
                                 " FROM unnest($3::text[]) AS p(name)"
                                 " CROSS JOIN LATERAL (SELECT * FROM intel_queue"
                                 "   WHERE provider = p.name AND next_attempt_ms <= $1::bigint"
                                 "   ORDER BY next_attempt_ms, queued_at LIMIT $2::int) q"
                                 " WHERE NOT EXISTS (SELECT 1 FROM intel_queue_hold h"
                                 "   WHERE h.provider = p.name AND h.until_ms > $1::bigint)"
                                 " ORDER BY q.next_attempt_ms, q.queued_at LIMIT $2::int",
                                 3, params)
                       : PG_RETRY;
    pg_array_free(&names);
    for (int row = 0; rc == PG_OK && row < PQntuples(r) && *n < max; row++) {
        int p = intel_provider_parse(PQgetvalue(r, row, 0));
        int k = intel_kind_parse(PQgetvalue(r, row, 1));
        if (p < 0 || k < 0)
            continue; /* written by a newer version: not ours to ask */
        intel_due *d = &out[(*n)++];
        d->provider = (intel_provider)p;
        d->kind = (intel_kind)k;
        snprintf(d->value, sizeof d->value, "%s", PQgetvalue(r, row, 2));
        d->attempts = atoi(PQgetvalue(r, row, 3));
    }
    PQclear(r);
    return rc;
}

int intel_store_defer(pg *db, const intel_due *k, int64_t until_ms, bool attempt)
{
    char until[32];
    snprintf(until, sizeof until, "%" PRId64, until_ms);
    const char *params[] = {intel_provider_name(k->provider), intel_kind_name(k->kind), k->value, until,
                            attempt ? "1" : "0"};
    return pg_exec(db, NULL,
                   "UPDATE intel_queue SET next_attempt_ms = $4::bigint, attempts = attempts + $5::int"
                   " WHERE provider = $1 AND kind = $2 AND value = $3",
                   5, params);
}

int intel_store_defer_provider(pg *db, intel_provider p, int64_t until_ms)
{
    char until[32];
    snprintf(until, sizeof until, "%" PRId64, until_ms);
    const char *params[] = {intel_provider_name(p), until};
    return pg_exec(db, NULL,
                   "INSERT INTO intel_queue_hold (provider, until_ms) VALUES ($1, $2::bigint)"
                   " ON CONFLICT (provider) DO UPDATE SET until_ms = greatest(intel_queue_hold.until_ms, $2::bigint)",
                   2, params);
}

int intel_store_pending_count(pg *db, int64_t *n)
{
    PGresult *r = NULL;
    int rc = pg_exec(db, &r, "SELECT count(*) FROM intel_queue", 0, NULL);
    if (rc == PG_OK)
        *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return rc;
}

void intel_updates_free(intel_update *u, size_t n)
{
    for (size_t i = 0; u && i < n; i++)
        free(u[i].detail_json);
    free(u);
}

/* Builds the updates from the rows of every touched alert (ordered by alert). */
static int updates_from_rows(PGresult *r, intel_update **out, size_t *n)
{
    int rows = PQntuples(r);
    intel_update *u = calloc(rows ? (size_t)rows : 1, sizeof *u);
    if (!u)
        return PG_RETRY;
    size_t nu = 0;
    json_t *list = NULL;
    int worst = INTEL_UNKNOWN;
    double base = 0;
    for (int row = 0; row <= rows; row++) {
        bool new_alert = row == rows || nu == 0 || strcmp(u[nu - 1].alert_id, PQgetvalue(r, row, 0));
        if (new_alert && nu > 0) { /* close the previous alert */
            intel_update *p = &u[nu - 1];
            p->risk_score = enrich_risk_with_intel(base, worst);
            json_t *d = json_pack("{s:f, s:I, s:o}", "risk_score", p->risk_score, "pending", (json_int_t)p->pending,
                                  "intel", list);
            list = NULL;
            p->detail_json = d ? json_dumps(d, JSON_COMPACT) : NULL;
            json_decref(d);
            if (!p->detail_json) {
                intel_updates_free(u, nu);
                return PG_RETRY;
            }
        }
        if (row == rows)
            break;
        if (new_alert) {
            intel_update *p = &u[nu++];
            snprintf(p->alert_id, sizeof p->alert_id, "%s", PQgetvalue(r, row, 0));
            snprintf(p->ticket_id, sizeof p->ticket_id, "%s", PQgetvalue(r, row, 1));
            snprintf(p->trace_id, sizeof p->trace_id, "%s", PQgetvalue(r, row, 2));
            base = strtod(PQgetvalue(r, row, 3), NULL);
            p->created_ms = strtoll(PQgetvalue(r, row, 15), NULL, 10);
            worst = INTEL_UNKNOWN;
            list = json_array();
        }
        intel_update *p = &u[nu - 1];
        const char *state = PQgetvalue(r, row, 8);
        if (!strcmp(state, "pending"))
            p->pending++;
        else
            p->settled++;
        json_t *v =
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "provider", PQgetvalue(r, row, 4), "kind", PQgetvalue(r, row, 5),
                      "value", PQgetvalue(r, row, 6), "indicator", PQgetvalue(r, row, 7), "state", state);
        if (v && !PQgetisnull(r, row, 9)) {
            int lv = intel_level_parse(PQgetvalue(r, row, 9));
            if (lv > worst)
                worst = lv;
            json_object_set_new(v, "verdict", json_string(PQgetvalue(r, row, 9)));
            json_object_set_new(v, "score", json_integer(atoi(PQgetvalue(r, row, 10))));
            json_object_set_new(v, "summary", json_string(PQgetvalue(r, row, 11)));
            json_object_set_new(v, "link", json_string(PQgetvalue(r, row, 12)));
            json_object_set_new(v, "not_found", json_boolean(!strcmp(PQgetvalue(r, row, 13), "true")));
        }
        if (v && !PQgetisnull(r, row, 14))
            json_object_set_new(v, "error", json_string(PQgetvalue(r, row, 14)));
        json_array_append_new(list, v);
    }
    json_decref(list);
    *out = u;
    *n = nu;
    return PG_OK;
}

int intel_store_resolve(pg *db, const intel_due *k, const char *state, const char *error, intel_update **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *p1[] = {intel_provider_name(k->provider), intel_kind_name(k->kind), k->value, state, error};
    PGresult *r = NULL;
    /* 1. take the key off the queue (a batch queueing it meanwhile holds its row: this
     * waits for that commit, and 2. then sees the batch's alerts waiting); 2. take the
     * key's waiting alerts; 3. lock those alerts in alert order (a concurrent resolve
     * of another key of the same alert waits here, before either rewrites the alert's
     * lookups); 4. settle the key in each alert's lookups and read all of them back, in
     * a snapshot taken after the locks, so the later of two resolves sees the earlier
     * one's verdict and the score it writes counts both. */
    int rc = pg_exec(db, NULL, "DELETE FROM intel_queue WHERE provider = $1 AND kind = $2 AND value = $3", 3, p1);
    if (rc == PG_OK)
        rc = pg_exec(db, &r,
                     "DELETE FROM intel_waiting WHERE provider = $1 AND kind = $2 AND value = $3"
                     " RETURNING alert_id::text",
                     3, p1);
    pg_array ids;
    pg_array_init(&ids);
    for (int row = 0; rc == PG_OK && row < PQntuples(r); row++)
        pg_array_add(&ids, PQgetvalue(r, row, 0));
    bool none = rc == PG_OK && PQntuples(r) == 0;
    PQclear(r);
    r = NULL;
    if (rc != PG_OK || none) {
        pg_array_free(&ids);
        return rc;
    }
    const char *p2[] = {pg_array_text(&ids)};
    if (!p2[0]) {
        pg_array_free(&ids);
        return PG_RETRY;
    }
    rc = pg_exec(db, NULL, "SELECT 1 FROM alerts WHERE alert_id = ANY($1::uuid[]) ORDER BY alert_id FOR UPDATE", 1, p2);
    const char *p3[] = {p1[0], p1[1], p1[2], p1[3], p1[4], p2[0]};
    if (rc == PG_OK)
        rc = pg_exec(db, &r,
                     "WITH u AS (UPDATE alert_lookups l SET updated_at = now(), lookups = (SELECT"
                     "   jsonb_agg(CASE WHEN e->>0 = $1 AND e->>1 = $2 AND e->>2 = $3 AND e->>4 = 'pending'"
                     "     THEN CASE WHEN $5::text IS NULL THEN jsonb_build_array(e->0, e->1, e->2, e->3, $4::text)"
                     "       ELSE jsonb_build_array(e->0, e->1, e->2, e->3, $4::text, $5::text) END"
                     "     ELSE e END ORDER BY o)"
                     "   FROM jsonb_array_elements(l.lookups) WITH ORDINALITY AS x(e, o))"
                     " WHERE l.alert_id = ANY($6::uuid[]) RETURNING l.alert_id, l.lookups)"
                     " SELECT a.alert_id::text, coalesce(a.ticket_id::text, ''), a.trace_id,"
                     "  coalesce(a.risk_base, a.risk_score, 0)::text,"
                     "  ai.provider, ai.kind, ai.value, ai.indicator, ai.state,"
                     "  c.verdict, c.score::text, c.summary, c.link, c.not_found::text, ai.error,"
                     "  (extract(epoch FROM a.created_at) * 1000)::bigint::text"
                     " FROM alerts a JOIN u ON u.alert_id = a.alert_id"
                     " CROSS JOIN LATERAL (SELECT e->>0 AS provider, e->>1 AS kind, e->>2 AS value, e->>3 AS indicator,"
                     "   e->>4 AS state, e->>5 AS error FROM jsonb_array_elements(u.lookups) AS x(e)) ai"
                     " LEFT JOIN intel_cache c ON (c.provider, c.kind, c.value) = (ai.provider, ai.kind, ai.value)"
                     "   AND ai.state = 'done'"
                     " ORDER BY a.alert_id, ai.provider, ai.kind, ai.value",
                     6, p3);
    pg_array_free(&ids);
    if (rc != PG_OK) {
        PQclear(r);
        return rc;
    }
    rc = updates_from_rows(r, out, n);
    PQclear(r);
    if (rc != PG_OK || *n == 0)
        return rc;
    pg_array uids, scores;
    pg_array_init(&uids);
    pg_array_init(&scores);
    for (size_t i = 0; i < *n; i++) {
        pg_array_add(&uids, (*out)[i].alert_id);
        pg_array_addf(&scores, "%.17g", (*out)[i].risk_score);
    }
    const char *p4[] = {pg_array_text(&uids), pg_array_text(&scores)};
    rc = PG_RETRY;
    if (p4[0] && p4[1])
        rc = pg_exec(db, NULL,
                     "UPDATE alerts SET risk_score = x.s FROM unnest($1::uuid[], $2::double precision[]) AS x(a, s)"
                     " WHERE alerts.alert_id = x.a",
                     2, p4);
    pg_array_free(&uids);
    pg_array_free(&scores);
    if (rc != PG_OK) {
        intel_updates_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
