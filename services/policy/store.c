/* Policy's Postgres statements (store.h). Every write is INSERT ... ON CONFLICT DO
 * NOTHING, and the processed_messages row is claimed first, in the same
 * transaction: a message seen before commits nothing new. */
#include "services/policy/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_claim[] =
    "INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2) "
    "ON CONFLICT DO NOTHING RETURNING 1";

static const char sql_event[] =
    "INSERT INTO events (event_id, schema, source, trace_id, payload, received_at, status, policy_package,"
    " alert_count, reason, decided_at) "
    "VALUES ($1::uuid, $2, $3, $4, $5::jsonb, to_timestamp($6::bigint / 1000.0), $7, $8, $9::int, $10, now()) "
    "ON CONFLICT (event_id) DO NOTHING";

static const char sql_alert[] =
    "INSERT INTO alerts (alert_id, event_id, trace_id, schema, title, description, namespace, source, channel,"
    " tags, attributes, payload, policy_package) "
    "VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9,"
    " ARRAY(SELECT jsonb_array_elements_text($10::jsonb)), $11::jsonb, $12::jsonb, $13) "
    "ON CONFLICT (alert_id) DO NOTHING";

static int insert_alert(pg *db, const Hutch__V1__RawEvent *ev, const policy_decision *d, size_t i)
{
    const policy_alert *a = &d->alerts[i];
    char alert_id[37];
    policy_alert_id(alert_id, ev->event_id, ev->meta->created_unix_ms, i);
    char *tags = json_dumps(a->tags, JSON_COMPACT);
    char *attrs = json_dumps(a->attributes, JSON_COMPACT);
    int rc = PG_FATAL;
    if (tags && attrs) {
        const char *params[] = {
            alert_id, ev->event_id, ev->meta->trace_id, ev->schema, a->title, a->description, a->namespace,
            a->source, a->channel, tags, attrs, ev->payload_json, d->package ? d->package : "",
        };
        rc = pg_exec(db, NULL, sql_alert, 13, params);
    }
    free(tags);
    free(attrs);
    return rc;
}

int policy_store_decision(pg *db, const Hutch__V1__RawEvent *ev, const policy_decision *d, int *already)
{
    *already = 0;
    int rc = pg_begin(db);
    if (rc != PG_OK)
        return rc;
    PGresult *res = NULL;
    const char *claim[] = {POLICY_CONSUMER, ev->meta->id};
    rc = pg_exec(db, &res, sql_claim, 2, claim);
    if (rc != PG_OK)
        goto fail;
    *already = PQntuples(res) == 0;
    PQclear(res);
    if (*already) {
        pg_rollback(db);
        return PG_OK;
    }

    char received[24], count[16];
    snprintf(received, sizeof received, "%lld", (long long)ev->received_unix_ms);
    snprintf(count, sizeof count, "%zu", d->count);
    const char *event[] = {
        ev->event_id, ev->schema, ev->source, ev->meta->trace_id, ev->payload_json, received,
        d->count ? "accepted" : "ignored", d->package ? d->package : "", count, d->count ? NULL : d->reason,
    };
    rc = pg_exec(db, NULL, sql_event, 10, event);
    for (size_t i = 0; rc == PG_OK && i < d->count; i++)
        rc = insert_alert(db, ev, d, i);
    if (rc != PG_OK)
        goto fail;
    return pg_commit(db);
fail:
    pg_rollback(db);
    return rc;
}
