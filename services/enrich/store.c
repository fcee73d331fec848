/* enrich's Postgres statements (store.h). Indicators go in as one statement: a JSON
 * array of [type, value, path] triples expanded by jsonb_array_elements, so an alert
 * with 1,000 indicators is one round trip and no SQL is ever built from values.
 * Every write is a no-op the second time (ON CONFLICT DO NOTHING, a COALESCE on
 * enriched_at), and processed_messages says whether there is a second time. */
#include "services/enrich/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define CONSUMER "hutch-enrich"

static char *indicators_json(const enrich_indicators *ind)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < ind->count; i++) {
        const enrich_indicator *it = &ind->items[i];
        if (json_array_append_new(arr, json_pack("[sss]", it->type, it->value, it->path))) {
            json_decref(arr);
            return NULL;
        }
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

int enrich_store(pg *db, const char *message_id, const char *alert_id, const enrich_indicators *ind,
                 double risk_score, enrich_store_outcome *outcome)
{
    PGresult *res = NULL;
    char *json = indicators_json(ind);
    if (!json)
        return PG_RETRY; /* out of memory: try again later */
    char score[32];
    snprintf(score, sizeof score, "%.17g", risk_score);

    int rc = pg_begin(db);
    if (rc)
        goto out;
    const char *p1[] = {CONSUMER, message_id};
    rc = pg_exec(db, &res,
                 "INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2) "
                 "ON CONFLICT DO NOTHING RETURNING 1",
                 2, p1);
    if (rc)
        goto out;
    int fresh = PQntuples(res) == 1;
    PQclear(res);
    res = NULL;
    if (!fresh) {
        *outcome = ENRICH_ALREADY;
        rc = pg_commit(db);
        goto out;
    }
    const char *p2[] = {alert_id, score};
    rc = pg_exec(db, &res,
                 "UPDATE alerts SET risk_score = $2::double precision, enriched_at = COALESCE(enriched_at, now()) "
                 "WHERE alert_id = $1::uuid RETURNING 1",
                 2, p2);
    if (rc)
        goto out;
    int found = PQntuples(res) == 1;
    PQclear(res);
    res = NULL;
    if (!found) {
        *outcome = ENRICH_NO_ALERT;
        pg_rollback(db);
        goto out;
    }
    if (ind->count) {
        const char *p3[] = {alert_id, json};
        rc = pg_exec(db, NULL,
                     "INSERT INTO indicators (alert_id, type, value, path) "
                     "SELECT $1::uuid, x->>0, x->>1, x->>2 FROM jsonb_array_elements($2::jsonb) AS x "
                     "ON CONFLICT DO NOTHING",
                     2, p3);
        if (rc)
            goto out;
    }
    rc = pg_commit(db);
    if (!rc)
        *outcome = ENRICH_STORED;
out:
    if (rc)
        pg_rollback(db);
    PQclear(res);
    free(json);
    return rc;
}
