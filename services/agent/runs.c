/* Records of action runs and the namespace store for chains (runs.h). Every
 * statement is parameterised and runs in autocommit: a record must survive the
 * process dying right after it. */
#include "services/agent/runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ids.h"

static const char sql_lookup[] = "SELECT status, coalesce(result::text, 'null'), coalesce(error, '') FROM action_runs "
                                 "WHERE alert_id = $1::uuid AND action_id = $2";
static const char sql_start[] =
    "INSERT INTO action_runs (run_id, alert_id, action_id, seq, name, action, args, status) "
    "VALUES ($1::uuid, $2::uuid, $3, $4::int, $5, $6, $7::jsonb, 'started') ON CONFLICT (alert_id, action_id) DO "
    "NOTHING";
static const char sql_finish[] = "UPDATE action_runs SET status = $3, result = $4::jsonb, error = nullif($5, ''),"
                                 " duration_ms = $6::bigint, finished_at = now() "
                                 "WHERE alert_id = $1::uuid AND action_id = $2";
static const char sql_interrupted[] = "UPDATE action_runs SET status = 'interrupted', error = $3, finished_at = now() "
                                      "WHERE alert_id = $1::uuid AND action_id = $2 AND status = 'started'";

#define INTERRUPTED_ERROR                                                                                              \
    "interrupted: the agent stopped while this action ran; it may have half-run and is not repeated"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agent_runs_exec(void *ctx, const chain_action *a, const json_t *alert, json_t **result, char *err, size_t errlen)
{
    agent_runs *r = ctx;
    const char *key[] = {r->alert_id, a->id};
    PGresult *res = NULL;
    if (pg_exec(r->db, &res, sql_lookup, 2, key) != PG_OK) {
        snprintf(err, errlen, "database unavailable reading action_runs");
        return CHAIN_RETRY;
    }
    if (PQntuples(res) > 0) {
        const char *status = PQgetvalue(res, 0, 0);
        int rc = 0;
        if (strcmp(status, "done") == 0) {
            *result = json_loads(PQgetvalue(res, 0, 1), JSON_DECODE_ANY, NULL);
            if (json_is_null(*result)) {
                json_decref(*result);
                *result = NULL;
            }
            r->replayed++;
        } else if (strcmp(status, "started") == 0) {
            PQclear(res);
            res = NULL;
            const char *p[] = {r->alert_id, a->id, INTERRUPTED_ERROR};
            if (pg_exec(r->db, NULL, sql_interrupted, 3, p) != PG_OK) {
                snprintf(err, errlen, "database unavailable marking an interrupted action");
                return CHAIN_RETRY;
            }
            snprintf(err, errlen, "%s", INTERRUPTED_ERROR);
            r->interrupted++;
            rc = -1;
        } else { /* failed, interrupted: the recorded error again */
            snprintf(err, errlen, "%s", *PQgetvalue(res, 0, 2) ? PQgetvalue(res, 0, 2) : status);
            r->replayed++;
            rc = -1;
        }
        PQclear(res);
        return rc;
    }
    PQclear(res);

    char run_id[IDS_UUID_LEN], seed[300], seq[16];
    snprintf(seed, sizeof seed, "%s/action/%s", r->alert_id, a->id);
    ids_uuid7_derived(run_id, ids_now_ms(), seed);
    snprintf(seq, sizeof seq, "%d", a->seq);
    json_t *masked = chain_mask(a->args);
    char *args = masked ? json_dumps(masked, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(masked);
    const char *p_start[] = {run_id, r->alert_id, a->id, seq, a->name, a->uses, args ? args : "{}"};
    int prc = pg_exec(r->db, NULL, sql_start, 7, p_start);
    free(args);
    if (prc != PG_OK) {
        snprintf(err, errlen, "database unavailable recording the action");
        return CHAIN_RETRY;
    }

    int64_t t0 = mono_ms();
    int arc = actions_run(r->cfg, a, alert, result, err, errlen);
    char dur[24];
    snprintf(dur, sizeof dur, "%lld", (long long)(mono_ms() - t0));
    r->executed++;
    json_t *mres = arc == ACTIONS_OK && *result ? chain_mask(*result) : NULL;
    char *res_text = mres ? json_dumps(mres, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(mres);
    const char *p_fin[] = {r->alert_id,
                           a->id,
                           arc == ACTIONS_OK ? "done" : "failed",
                           res_text ? res_text : "null",
                           arc == ACTIONS_OK ? "" : err,
                           dur};
    /* The action happened (or failed): a lost finish record would leave 'started',
     * which a later run reads as interrupted: never repeated either way. */
    if (pg_exec(r->db, NULL, sql_finish, 6, p_fin) != PG_OK) {
        free(res_text);
        json_decref(*result);
        *result = NULL;
        snprintf(err, errlen, "database unavailable recording the action's outcome");
        return CHAIN_RETRY;
    }
    free(res_text);
    return arc == ACTIONS_OK ? 0 : -1;
}

int agent_runs_alert(pg *db, const Hutch__V1__Alert *a, json_t **out)
{
    *out = NULL;
    char *payload = NULL;
    if (a->payload_json && *a->payload_json) {
        payload = strdup(a->payload_json);
    } else if (a->event_id && ids_is_uuid(a->event_id)) {
        PGresult *res = NULL;
        const char *p[] = {a->event_id};
        if (pg_exec(db, &res, "SELECT payload::text FROM events WHERE event_id = $1::uuid", 1, p) != PG_OK)
            return PG_RETRY;
        if (PQntuples(res) > 0)
            payload = strdup(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    json_t *attrs = json_array();
    for (size_t i = 0; i < a->n_attributes; i++) {
        const Hutch__V1__Attribute *at = a->attributes[i];
        json_array_append_new(
            attrs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:I}", "key", at->key ? at->key : "", "value",
                             at->value ? at->value : "", "value_json", at->value_json ? at->value_json : "", "type",
                             at->type ? at->type : "", "link", at->link ? at->link : "", "id", at->id ? at->id : "",
                             "persist", at->persist, "ttl_seconds", (json_int_t)at->ttl_seconds));
    }
    char created[80] = "";
    int64_t ms = a->created_unix_ms;
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (ms > 0 && gmtime_r(&s, &tm))
        snprintf(created, sizeof created, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    *out = chain_alert_new(a->alert_id, a->schema, created, a->title, a->description, a->source, a->namespace_, attrs,
                           payload);
    json_decref(attrs);
    free(payload);
    if (*out == NULL)
        return PG_RETRY;
    json_object_set_new(*out, "severity", json_string(a->severity ? a->severity : ""));
    json_object_set_new(*out, "ticket_id", json_string(a->ticket_id ? a->ticket_id : ""));
    json_object_set_new(*out, "new_ticket", json_boolean(a->new_ticket));
    return PG_OK;
}

static const char sql_persisted[] =
    "SELECT coalesce(json_agg(value ORDER BY key), '[]')::text FROM namespace_attributes "
    "WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > now())";
static const char sql_persist[] =
    "INSERT INTO namespace_attributes (namespace, key, value, expires_at) "
    "VALUES ($1, $2, $3::jsonb, now() + make_interval(secs => $4::bigint)) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

int agent_runs_namespace_begin(pg *db, const char *ns, json_t *alert)
{
    if (ns == NULL || *ns == '\0')
        return PG_OK;
    const char *p[] = {ns};
    if (pg_exec(db, NULL, "SELECT pg_advisory_lock(hashtext('hutch-action-ns:' || $1))", 1, p) != PG_OK)
        return PG_RETRY;
    PGresult *res = NULL;
    if (pg_exec(db, &res, sql_persisted, 1, p) != PG_OK)
        return PG_RETRY;
    json_t *stored = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    /* The store's live value wins over an alert attribute of the same key: hutch-policy
     * merged the store into the alert when it decided, and a chain of the namespace
     * may have changed it since; read under the lock, the store is the current one. */
    json_t *attrs = json_object_get(alert, "attrs");
    size_t i;
    json_t *st;
    json_array_foreach (stored, i, st) {
        const char *key = json_string_value(json_object_get(st, "key"));
        if (!key)
            continue;
        for (size_t j = json_array_size(attrs); j-- > 0;)
            if (json_equal(json_object_get(json_array_get(attrs, j), "key"), json_object_get(st, "key")))
                json_array_remove(attrs, j);
        json_t *ttl = json_object_get(st, "ttl");
        if (!ttl)
            ttl = json_object_get(st, "ttl_seconds");
        char id[300];
        const char *sid = json_string_value(json_object_get(st, "id"));
        snprintf(id, sizeof id, "%s", sid && *sid ? sid : key);
        const char *typed = json_string_value(json_object_get(st, "value_json"));
        json_t *value = typed && *typed ? json_loads(typed, JSON_DECODE_ANY, NULL) : NULL;
        if (value == NULL)
            value = json_incref(json_object_get(st, "value") ?: json_null());
        json_array_append_new(attrs, json_pack("{s:s, s:s, s:o, s:s, s:b, s:I}", "id", id, "key", key, "value", value,
                                               "type", json_string_value(json_object_get(st, "type")) ?: "", "persist",
                                               1, "ttl", (json_int_t)json_integer_value(ttl)));
    }
    json_decref(stored);
    return PG_OK;
}

int agent_runs_namespace_end(pg *db, const char *ns, const json_t *attrs, int rc)
{
    if (ns == NULL || *ns == '\0')
        return rc;
    size_t i;
    json_t *at;
    json_array_foreach (attrs, i, at) {
        if (rc != PG_OK)
            break;
        if (!json_is_true(json_object_get(at, "persist")))
            continue;
        json_int_t ttl = json_integer_value(json_object_get(at, "ttl"));
        json_t *v = json_deep_copy(at);
        json_object_set_new(v, "ttl_seconds", json_integer(ttl > 0 ? ttl : 86400));
        /* stored as hutch-policy stores AlertChain's values (it merges them into the next
         * alerts): value as text, value_json the typed value when it is not a string */
        const json_t *val = json_object_get(at, "value");
        if (val && !json_is_string(val)) {
            char *typed = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
            json_object_set_new(v, "value", json_string(typed ? typed : ""));
            json_object_set_new(v, "value_json", json_string(typed ? typed : "null"));
            free(typed);
        }
        char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(v);
        char ttl_s[24];
        snprintf(ttl_s, sizeof ttl_s, "%lld", (long long)(ttl > 0 ? ttl : 86400));
        const char *p[] = {ns, json_string_value(json_object_get(at, "key")) ?: "", text ? text : "{}", ttl_s};
        rc = pg_exec(db, NULL, sql_persist, 4, p) == PG_OK ? PG_OK : PG_RETRY;
        free(text);
    }
    const char *p[] = {ns};
    if (pg_exec(db, NULL, "SELECT pg_advisory_unlock(hashtext('hutch-action-ns:' || $1))", 1, p) != PG_OK)
        rc = PG_RETRY;
    return rc;
}
