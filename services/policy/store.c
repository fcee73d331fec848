/* Policy's Postgres statements (store.h). The processed_messages row is claimed
 * first, in the same transaction as every other write: a message seen before
 * commits nothing new. An events row left 'dead' by a policy error is the only
 * row a later decision overwrites (the event replayed from the DLQ). */
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
    "ON CONFLICT (event_id) DO UPDATE SET status = excluded.status, policy_package = excluded.policy_package,"
    " alert_count = excluded.alert_count, reason = excluded.reason, decided_at = excluded.decided_at "
    "WHERE events.status = 'dead'";

/* A namespace's persisted attributes: this alert's persist:true ones are stored
 * (value = the attribute object) with their TTL, expired ones dropped, and the live
 * ones read back for merging. */
static const char sql_persist[] =
    "INSERT INTO namespace_attributes (namespace, key, value, expires_at) "
    "VALUES ($1, $2, $3::jsonb, now() + make_interval(secs => $4::bigint)) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";
static const char sql_expire[] = "DELETE FROM namespace_attributes WHERE namespace = $1 AND expires_at <= now()";
static const char sql_persisted[] =
    "SELECT coalesce(json_agg(value ORDER BY key), '[]')::text FROM namespace_attributes "
    "WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > now())";

static const char sql_read_event[] =
    "SELECT coalesce(policy_package, ''), alert_count, reason FROM events WHERE event_id = $1::uuid";
static const char sql_read_alerts[] =
    "SELECT alert_id::text, title, description, namespace, source, channel, to_json(tags)::text, attributes::text "
    "FROM alerts WHERE event_id = $1::uuid";

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

static int attr_key_cmp(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "key"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "key"));
    return strcmp(x ? x : "", y ? y : "");
}

/* Stores a's persisted attributes and merges the namespace's live ones into a. */
static int namespace_attributes(pg *db, policy_alert *a)
{
    if (!a->namespace || !*a->namespace)
        return PG_OK;
    size_t n = json_array_size(a->attributes), np = 0;
    json_t **persist = calloc(n ? n : 1, sizeof *persist);
    if (!persist)
        return PG_FATAL;
    for (size_t i = 0; i < n; i++)
        if (json_is_true(json_object_get(json_array_get(a->attributes, i), "persist")))
            persist[np++] = json_array_get(a->attributes, i);
    /* one order for every writer, so two transactions never lock keys crosswise */
    qsort(persist, np, sizeof *persist, attr_key_cmp);
    const char *ns[] = {a->namespace};
    int rc = pg_exec(db, NULL, sql_expire, 1, ns);
    for (size_t i = 0; rc == PG_OK && i < np; i++) {
        char *value = json_dumps(persist[i], JSON_COMPACT);
        char ttl[24];
        snprintf(ttl, sizeof ttl, "%lld", (long long)json_integer_value(json_object_get(persist[i], "ttl_seconds")));
        const char *params[] = {a->namespace, json_string_value(json_object_get(persist[i], "key")), value, ttl};
        rc = value ? pg_exec(db, NULL, sql_persist, 4, params) : PG_FATAL;
        free(value);
    }
    free(persist);
    PGresult *res = NULL;
    if (rc == PG_OK)
        rc = pg_exec(db, &res, sql_persisted, 1, ns);
    if (rc != PG_OK)
        return rc;
    json_t *stored = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    rc = stored && policy_merge_attributes(a, stored) == 0 ? PG_OK : PG_FATAL;
    json_decref(stored);
    return rc;
}

int policy_store_dead(pg *db, const Hutch__V1__RawEvent *ev, const char *package, const char *reason)
{
    char received[24];
    snprintf(received, sizeof received, "%lld", (long long)ev->received_unix_ms);
    const char *event[] = {
        ev->event_id, ev->schema, ev->source, ev->meta->trace_id, ev->payload_json, received,
        "dead", package ? package : "", "0", reason,
    };
    return pg_exec(db, NULL, sql_event, 10, event);
}

int policy_store_decision(pg *db, const Hutch__V1__RawEvent *ev, policy_decision *d, int *already)
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
        rc = namespace_attributes(db, &d->alerts[i]);
    for (size_t i = 0; rc == PG_OK && i < d->count; i++)
        rc = insert_alert(db, ev, d, i);
    if (rc != PG_OK)
        goto fail;
    return pg_commit(db);
fail:
    pg_rollback(db);
    return rc;
}

int policy_store_read_decision(pg *db, const Hutch__V1__RawEvent *ev, policy_decision *d)
{
    PGresult *res = NULL;
    const char *id[] = {ev->event_id};
    int rc = pg_exec(db, &res, sql_read_event, 1, id);
    if (rc != PG_OK)
        return rc;
    if (PQntuples(res) != 1) { /* claimed but no row: cannot happen (one transaction) */
        PQclear(res);
        return PG_FATAL;
    }
    size_t count = strtoul(PQgetvalue(res, 0, 1), NULL, 10);
    d->package = strdup(PQgetvalue(res, 0, 0));
    d->reason = PQgetisnull(res, 0, 2) ? NULL : strdup(PQgetvalue(res, 0, 2));
    PQclear(res);
    if (!d->package)
        return PG_FATAL;
    for (size_t i = 0; i < count; i++)
        if (!policy_decision_add(d))
            return PG_FATAL;
    rc = pg_exec(db, &res, sql_read_alerts, 1, id);
    if (rc != PG_OK)
        return rc;
    /* alert ids derive from the index (policy_alert_id): put each row back in place */
    size_t found = 0;
    for (int row = 0; row < PQntuples(res); row++) {
        for (size_t i = 0; i < count; i++) {
            char alert_id[37];
            policy_alert_id(alert_id, ev->event_id, ev->meta->created_unix_ms, i);
            if (strcmp(alert_id, PQgetvalue(res, row, 0)) != 0)
                continue;
            policy_alert *a = &d->alerts[i];
            json_decref(a->tags);
            json_decref(a->attributes);
            a->tags = json_loads(PQgetvalue(res, row, 6), 0, NULL);
            a->attributes = json_loads(PQgetvalue(res, row, 7), 0, NULL);
            if (policy_set_string(&a->title, PQgetvalue(res, row, 1)) || policy_set_string(&a->description, PQgetvalue(res, row, 2)) ||
                policy_set_string(&a->namespace, PQgetvalue(res, row, 3)) || policy_set_string(&a->source, PQgetvalue(res, row, 4)) ||
                policy_set_string(&a->channel, PQgetvalue(res, row, 5)) || !a->tags || !a->attributes) {
                PQclear(res);
                return PG_FATAL;
            }
            found++;
        }
    }
    PQclear(res);
    return found == count ? PG_OK : PG_FATAL;
}
