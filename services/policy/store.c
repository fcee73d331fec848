/* Policy's Postgres statements (store.h), inside the frame's batch transaction: a
 * message seen before is not handed here (the caller reads its decision back). An
 * events row left 'dead' by a policy error is the only row a later decision
 * overwrites (the event redelivered or replayed from the DLQ).
 *
 * Lock order: namespace_attributes rows are written per alert in key order; two
 * batches writing the same namespace's keys take them in that order. */
#include "services/policy/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sql_events[] =
    "INSERT INTO events (event_id, schema, source, trace_id, payload, received_at, status, policy_package,"
    " alert_count, reason, decided_at) "
    "SELECT x.event_id, x.schema, x.source, x.trace_id, x.payload, to_timestamp(x.received / 1000.0), x.status,"
    " x.package, x.alert_count, x.reason, now() "
    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bigint[], $7::text[], $8::text[],"
    " $9::int[], $10::text[])"
    " AS x(event_id, schema, source, trace_id, payload, received, status, package, alert_count, reason) "
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
    "SELECT alert_id::text, title, description, namespace, source, channel, to_json(tags)::text, attributes::text,"
    " CASE WHEN severity_source = 'policy' THEN severity ELSE '' END,"
    " CASE WHEN severity_source = 'policy' THEN severity_score ELSE -1 END "
    "FROM alerts WHERE event_id = $1::uuid";

static const char sql_alerts[] =
    "INSERT INTO alerts (alert_id, event_id, trace_id, schema, title, description, namespace, source, channel,"
    " tags, attributes, policy_package, severity, severity_score, severity_source) "
    "SELECT x.alert_id, x.event_id, x.trace_id, x.schema, x.title, x.description, x.namespace, x.source, x.channel,"
    " ARRAY(SELECT jsonb_array_elements_text(x.tags)), x.attributes, x.package, x.severity, x.score,"
    " CASE WHEN x.severity IS NULL THEN NULL ELSE 'policy' END "
    "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],"
    " $9::text[], $10::jsonb[], $11::jsonb[], $12::text[], $13::text[], $14::int[])"
    " AS x(alert_id, event_id, trace_id, schema, title, description, namespace, source, channel, tags, attributes,"
    " package, severity, score) "
    "ON CONFLICT (alert_id) DO NOTHING";

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

#define EVENT_COLUMNS 10
#define ALERT_COLUMNS 14

static void add_alert(pg_array *c, const Hutch__V1__RawEvent *ev, const policy_decision *d, size_t i, char **owned)
{
    const policy_alert *a = &d->alerts[i];
    char alert_id[37];
    policy_alert_id(alert_id, ev->event_id, ev->meta->created_unix_ms, i);
    owned[0] = json_dumps(a->tags, JSON_COMPACT);
    owned[1] = json_dumps(a->attributes, JSON_COMPACT);
    const char *v[] = {alert_id,
                       ev->event_id,
                       ev->meta->trace_id,
                       ev->schema,
                       a->title,
                       a->description,
                       a->namespace,
                       a->source,
                       a->channel,
                       owned[0],
                       owned[1],
                       d->package ? d->package : "",
                       *a->severity ? a->severity : NULL};
    for (int k = 0; k < 13; k++)
        pg_array_add(&c[k], v[k]);
    if (*a->severity)
        pg_array_addf(&c[13], "%d", a->severity_score);
    else
        pg_array_add(&c[13], NULL);
    if (!owned[0] || !owned[1])
        c[0].text.failed = true; /* out of memory: the statement is not run */
}

int policy_store_events(pg *db, policy_event_row *rows, size_t n)
{
    if (n == 0)
        return PG_OK;
    int rc = PG_OK;
    /* namespaces first: they change the alerts that are then stored */
    for (size_t i = 0; rc == PG_OK && i < n; i++)
        for (size_t k = 0; rc == PG_OK && rows[i].d && k < rows[i].d->count; k++)
            rc = namespace_attributes(db, &rows[i].d->alerts[k]);
    if (rc != PG_OK)
        return rc;
    pg_array ev[EVENT_COLUMNS], al[ALERT_COLUMNS];
    for (int c = 0; c < EVENT_COLUMNS; c++)
        pg_array_init(&ev[c]);
    for (int c = 0; c < ALERT_COLUMNS; c++)
        pg_array_init(&al[c]);
    size_t n_alerts = 0;
    for (size_t i = 0; i < n; i++) {
        const Hutch__V1__RawEvent *e = rows[i].ev;
        const policy_decision *d = rows[i].d;
        size_t count = d ? d->count : 0;
        const char *status = !d ? "dead" : count ? "accepted" : "ignored";
        const char *package = d ? (d->package ? d->package : "") : (rows[i].package ? rows[i].package : "");
        const char *reason = !d ? rows[i].reason : count ? NULL : d->reason;
        const char *v[] = {e->event_id, e->schema, e->source, e->meta->trace_id, e->payload_json};
        for (int k = 0; k < 5; k++)
            pg_array_add(&ev[k], v[k]);
        pg_array_addf(&ev[5], "%lld", (long long)e->received_unix_ms);
        pg_array_add(&ev[6], status);
        pg_array_add(&ev[7], package);
        pg_array_addf(&ev[8], "%zu", count);
        pg_array_add(&ev[9], reason);
        for (size_t k = 0; k < count; k++, n_alerts++) {
            char *owned[2];
            add_alert(al, e, d, k, owned);
            free(owned[0]);
            free(owned[1]);
        }
    }
    const char *pe[EVENT_COLUMNS], *pa[ALERT_COLUMNS];
    for (int c = 0; c < EVENT_COLUMNS; c++)
        if (!(pe[c] = pg_array_text(&ev[c])))
            rc = PG_RETRY; /* out of memory */
    for (int c = 0; c < ALERT_COLUMNS; c++)
        if (!(pa[c] = pg_array_text(&al[c])) || pg_array_failed(&al[c]))
            rc = PG_RETRY;
    if (rc == PG_OK)
        rc = pg_exec(db, NULL, sql_events, EVENT_COLUMNS, pe);
    if (rc == PG_OK && n_alerts)
        rc = pg_exec(db, NULL, sql_alerts, ALERT_COLUMNS, pa);
    for (int c = 0; c < EVENT_COLUMNS; c++)
        pg_array_free(&ev[c]);
    for (int c = 0; c < ALERT_COLUMNS; c++)
        pg_array_free(&al[c]);
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
            if (policy_set_string(&a->title, PQgetvalue(res, row, 1)) ||
                policy_set_string(&a->description, PQgetvalue(res, row, 2)) ||
                policy_set_string(&a->namespace, PQgetvalue(res, row, 3)) ||
                policy_set_string(&a->source, PQgetvalue(res, row, 4)) ||
                policy_set_string(&a->channel, PQgetvalue(res, row, 5)) ||
                policy_set_string(&a->severity, PQgetvalue(res, row, 8)) || !a->tags || !a->attributes) {
                PQclear(res);
                return PG_FATAL;
            }
            a->severity_score = (int)strtol(PQgetvalue(res, row, 9), NULL, 10);
            found++;
        }
    }
    PQclear(res);
    return found == count ? PG_OK : PG_FATAL;
}
