/* The console's JSON API (docs/API.md): routing, the read endpoints and the policy
 * playground. Every document is built by one SQL statement (json_build_object) and
 * sent as Postgres wrote it; tickets are read with to_jsonb(t), so the columns the
 * ticket module adds (assignee, conclusion, merged_into, finding...) appear without
 * a change here. Lists are keyset-paged: ?limit=1..200 and ?after=<the "next" of the
 * previous page>, ordered by (time, id), so a page costs the same at row 100 000 as
 * at row 0 (migration 11's indexes). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/ids.h"
#include "common/log.h"
#include "services/console/console.h"
#include "services/policy/decide_json.h"

void console_sse_open(console *c, struct evhttp_request *req); /* main.c */

#define API_MAX_LIMIT 200
#define API_DEFAULT_LIMIT 50

void console_headers(struct evhttp_request *req, bool api)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                      "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                      "frame-ancestors 'none'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "same-origin");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Cache-Control", api ? "no-store" : "no-cache");
}

const char *console_peer(struct evhttp_request *req)
{
    char *addr = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (!conn)
        return "";
    evhttp_connection_get_peer(conn, &addr, &port);
    return addr ? addr : "";
}

void console_reply_query(console *c, struct evhttp_request *req, const char *not_found, const char *sql, int n,
                         const char *const *params)
{
    PGresult *r = NULL;
    int rc = pg_exec(c->db, &r, sql, n, params);
    if (rc != PG_OK) {
        http_reply_error(req, rc == PG_RETRY ? 503 : 500, rc == PG_RETRY ? "database unavailable" : "query failed");
        return;
    }
    console_headers(req, true);
    if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0))
        http_reply_error(req, 404, not_found);
    else
        http_reply_json(req, 200, PQgetvalue(r, 0, 0));
    PQclear(r);
}

json_t *console_body_object(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (!ct || strncmp(ct, "application/json", 16) != 0) {
        http_reply_error(req, 415, "the body must be JSON (Content-Type: application/json)");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &je);
    if (!o || !json_is_object(o)) {
        char msg[300];
        if (o)
            snprintf(msg, sizeof msg, "the body must be a JSON object");
        else
            snprintf(msg, sizeof msg, "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
        json_decref(o);
        http_reply_error(req, 400, msg);
        return NULL;
    }
    return o;
}

/* ---------------------------------------------------------- query strings */

typedef struct {
    struct evkeyvalq q;
} query;

static const char *q_get(query *q, const char *k)
{
    const char *v = evhttp_find_header(&q->q, k);
    return v && *v ? v : NULL;
}

/* ?limit: 1..200, default 50. 0 or -1 (replied 400). */
static int q_limit(struct evhttp_request *req, query *q, char out[16])
{
    const char *v = q_get(q, "limit");
    long n = API_DEFAULT_LIMIT;
    if (v) {
        char *end;
        n = strtol(v, &end, 10);
        if (*end || n < 1 || n > API_MAX_LIMIT) {
            http_reply_error(req, 400, "limit must be an integer from 1 to 200");
            return -1;
        }
    }
    snprintf(out, 16, "%ld", n + 1); /* one more: tells whether there is a next page */
    return 0;
}

/* ?after=TIME,ID (the "next" of a previous page): the two parts, or replies 400. */
static int q_after(struct evhttp_request *req, query *q, char at[40], char id[IDS_UUID_LEN], bool *has)
{
    const char *v = q_get(q, "after");
    *has = false;
    if (!v)
        return 0;
    const char *comma = strchr(v, ',');
    size_t tl = comma ? (size_t)(comma - v) : 0;
    bool ok = comma && tl >= 20 && tl < 40 && ids_is_uuid(comma + 1);
    for (size_t i = 0; ok && i < tl; i++)
        ok = isdigit((unsigned char)v[i]) || strchr("-:.TZ", v[i]);
    if (!ok) {
        http_reply_error(req, 400, "after must be the \"next\" value of a previous page");
        return -1;
    }
    memcpy(at, v, tl);
    at[tl] = '\0';
    snprintf(id, IDS_UUID_LEN, "%s", comma + 1);
    *has = true;
    return 0;
}

static bool one_of(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (!strcmp(v, *allowed))
            return true;
    return false;
}

/* Replies with {items: rows[0..limit-1], next: cursor|null}; rows is the JSON array of
 * a paging query whose rows carry "cursor" (one more row than the limit). */
static void reply_page(console *c, struct evhttp_request *req, const char *key, const char *sql, int n,
                       const char *const *params, long limit)
{
    PGresult *r = NULL;
    int rc = pg_exec(c->db, &r, sql, n, params);
    if (rc != PG_OK) {
        http_reply_error(req, rc == PG_RETRY ? 503 : 500, rc == PG_RETRY ? "database unavailable" : "query failed");
        return;
    }
    json_t *rows = json_loads(PQgetisnull(r, 0, 0) ? "[]" : PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    if (!rows) {
        http_reply_error(req, 500, "query failed");
        return;
    }
    json_t *next = json_null();
    if ((long)json_array_size(rows) > limit) {
        json_array_remove(rows, (size_t)limit);
        next = json_incref(json_object_get(json_array_get(rows, (size_t)limit - 1), "cursor"));
    }
    json_t *doc = json_pack("{s:o,s:o}", key, rows, "next", next);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    console_headers(req, true);
    if (text)
        http_reply_json(req, 200, text);
    else
        http_reply_error(req, 500, "out of memory");
    free(text);
}

#define CURSOR(col, id) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ',' || " id

/* ---------------------------------------------------------- tickets */

/* The ticket list in its four orders, each a constant the planner can serve from
 * migration 11's (time, id) indexes. $1 status, $2 severity ("none": not triaged),
 * $3 assignee, $4 search (part of the title, LIKE wildcards escaped, or an id),
 * $5/$6 the cursor, $7 limit + 1. */
#define TICKETS_SQL(COL, CMP, DIR)                                                                                     \
    "SELECT json_agg(x) FROM (SELECT t.ticket_id, t.title, t.status, t.severity, t.alert_count,"                       \
    " t.namespace, t.created_at, t.last_alert_at, nullif(to_jsonb(t)->>'assignee', '') AS assignee,"                   \
    " to_jsonb(t)->>'conclusion' AS conclusion, " CURSOR(                                                              \
        COL, "t.ticket_id") " AS cursor"                                                                               \
                            " FROM tickets t"                                                                          \
                            " WHERE ($1::text IS NULL OR t.status = $1)"                                               \
                            " AND ($2::text IS NULL OR coalesce(t.severity, 'none') = $2)"                             \
                            " AND ($3::text IS NULL OR to_jsonb(t)->>'assignee' = $3)"                                 \
                            " AND ($4::text IS NULL OR t.ticket_id::text = $4 OR t.title ILIKE '%' ||"                 \
                            "  replace(replace(replace($4, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')"            \
                            " AND ($5::timestamptz IS NULL OR (" COL ", t.ticket_id) " CMP                             \
                            " ($5::timestamptz, $6::uuid))"                                                            \
                            " ORDER BY " COL " " DIR ", t.ticket_id " DIR " LIMIT $7::int) x"
static const char *const tickets_sql[2][2] = {
    {TICKETS_SQL("t.last_alert_at", "<", "DESC"), TICKETS_SQL("t.last_alert_at", ">", "ASC")},
    {TICKETS_SQL("t.created_at", "<", "DESC"), TICKETS_SQL("t.created_at", ">", "ASC")},
};

static void tickets_list(console *c, struct evhttp_request *req, query *q)
{
    static const char *const statuses[] = {"open", "resolved", "archived", NULL};
    static const char *const severities[] = {"info", "low", "medium", "high", "critical", "none", NULL};
    static const char *const sorts[] = {"last_alert", "created", NULL};
    static const char *const orders[] = {"desc", "asc", NULL};
    const char *status = q_get(q, "status"), *severity = q_get(q, "severity"), *assignee = q_get(q, "assignee");
    const char *search = q_get(q, "q"), *sort = q_get(q, "sort"), *order = q_get(q, "order");
    char limit[16], at[40] = "", id[IDS_UUID_LEN] = "";
    bool has_after;
    if (status && !one_of(status, statuses)) {
        http_reply_error(req, 400, "status must be open, resolved or archived");
        return;
    }
    if (severity && !one_of(severity, severities)) {
        http_reply_error(req, 400, "severity must be info, low, medium, high, critical or none");
        return;
    }
    if (sort && !one_of(sort, sorts)) {
        http_reply_error(req, 400, "sort must be last_alert or created");
        return;
    }
    if (order && !one_of(order, orders)) {
        http_reply_error(req, 400, "order must be desc or asc");
        return;
    }
    if (search && strlen(search) > 200) {
        http_reply_error(req, 400, "q is at most 200 characters");
        return;
    }
    if (assignee && strlen(assignee) > 100) {
        http_reply_error(req, 400, "assignee is at most 100 characters");
        return;
    }
    if (q_limit(req, q, limit) != 0 || q_after(req, q, at, id, &has_after) != 0)
        return;
    bool created = sort && !strcmp(sort, "created");
    bool asc = order && !strcmp(order, "asc");
    const char *params[] = {status, severity, assignee, search, has_after ? at : NULL, has_after ? id : NULL, limit};
    const char *sql = tickets_sql[created][asc];
    reply_page(c, req, "tickets", sql, 7, params, atol(limit) - 1);
}

static void ticket_detail(console *c, struct evhttp_request *req, const char *id)
{
    const char *params[] = {id};
    static const char sql[] =
        "SELECT json_build_object('ticket', to_jsonb(t),"
        " 'alerts', (SELECT coalesce(json_agg(json_build_object('alert_id', a.alert_id, 'title', a.title,"
        "  'schema', a.schema, 'severity', a.severity, 'created_at', a.created_at, 'source', a.source,"
        "  'attributes', a.attributes, 'tags', a.tags, 'policy_package', a.policy_package,"
        "  'indicators', (SELECT coalesce(json_agg(json_build_object('type', i.type, 'value', i.value,"
        "    'verdicts', (SELECT coalesce(json_agg(json_build_object('provider', ic.provider, 'verdict', ic.verdict,"
        "      'score', ic.score, 'link', ic.link) ORDER BY ic.provider), '[]') FROM intel_cache ic"
        "      WHERE ic.value = i.value AND ic.verdict IS NOT NULL)) ORDER BY i.type, i.value), '[]')"
        "   FROM indicators i WHERE i.alert_id = a.alert_id)) ORDER BY a.created_at DESC, a.alert_id), '[]')"
        "  FROM (SELECT * FROM alerts WHERE ticket_id = t.ticket_id"
        "   OR alert_id IN (SELECT alert_id FROM ticket_alerts WHERE ticket_id = t.ticket_id)"
        "   ORDER BY created_at DESC LIMIT 2000) a),"
        " 'similar', (SELECT coalesce(json_agg(s), '[]') FROM (SELECT o.ticket_id, o.title, o.status, o.severity,"
        "  o.last_alert_at FROM tickets o WHERE o.ticket_id <> t.ticket_id AND ((t.fingerprint <> ''"
        "  AND o.fingerprint = t.fingerprint) OR (t.namespace <> '' AND o.namespace = t.namespace))"
        "  ORDER BY o.last_alert_at DESC LIMIT 10) s),"
        " 'history', (SELECT coalesce(json_agg(json_build_object('seq', h.seq, 'at', h.at, 'actor', h.actor,"
        "  'kind', h.kind, 'detail', h.detail) ORDER BY h.seq), '[]') FROM ticket_history h"
        "  WHERE h.ticket_id = t.ticket_id))"
        " FROM tickets t WHERE t.ticket_id = $1::uuid";
    console_reply_query(c, req, "no such ticket", sql, 1, params);
}

/* ---------------------------------------------------------- alerts, events */

static void alert_detail(console *c, struct evhttp_request *req, const char *id)
{
    const char *params[] = {id};
    console_reply_query(
        c, req, "no such alert",
        "SELECT json_build_object('alert', to_jsonb(a), 'payload', e.payload,"
        " 'event', CASE WHEN e.event_id IS NULL THEN NULL ELSE json_build_object('event_id', e.event_id,"
        "  'schema', e.schema, 'source', e.source, 'status', e.status, 'policy_package', e.policy_package,"
        "  'reason', e.reason, 'received_at', e.received_at, 'decided_at', e.decided_at) END,"
        " 'indicators', (SELECT coalesce(json_agg(json_build_object('type', i.type, 'value', i.value, 'paths', i.paths,"
        "   'verdicts', (SELECT coalesce(json_agg(json_build_object('provider', ic.provider, 'verdict', ic.verdict,"
        "    'score', ic.score, 'summary', ic.summary, 'link', ic.link) ORDER BY ic.provider), '[]') FROM intel_cache "
        "ic"
        "    WHERE ic.value = i.value AND ic.verdict IS NOT NULL)) ORDER BY i.type, i.value), '[]')"
        "  FROM indicators i WHERE i.alert_id = a.alert_id),"
        " 'ticket', (SELECT json_build_object('ticket_id', t.ticket_id, 'title', t.title, 'status', t.status,"
        "  'severity', t.severity) FROM tickets t WHERE t.ticket_id = coalesce(a.ticket_id,"
        "  (SELECT ta.ticket_id FROM ticket_alerts ta WHERE ta.alert_id = a.alert_id))),"
        " 'similar', (SELECT coalesce(json_agg(s), '[]') FROM (SELECT o.alert_id, o.title, o.created_at, o.ticket_id"
        "  FROM alerts o WHERE o.alert_id <> a.alert_id AND a.fingerprint IS NOT NULL AND o.fingerprint = a.fingerprint"
        "  ORDER BY o.created_at DESC LIMIT 10) s))"
        " FROM alerts a LEFT JOIN events e ON e.event_id = a.event_id WHERE a.alert_id = $1::uuid",
        1, params);
}

static void events_list(console *c, struct evhttp_request *req, query *q)
{
    static const char *const statuses[] = {"received", "accepted", "ignored", "dead", NULL};
    const char *status = q_get(q, "status"), *schema = q_get(q, "schema");
    char limit[16], at[40] = "", id[IDS_UUID_LEN] = "";
    bool has_after;
    if (status && !one_of(status, statuses)) {
        http_reply_error(req, 400, "status must be received, accepted, ignored or dead");
        return;
    }
    if (schema && strlen(schema) > 100) {
        http_reply_error(req, 400, "schema is at most 100 characters");
        return;
    }
    if (q_limit(req, q, limit) != 0 || q_after(req, q, at, id, &has_after) != 0)
        return;
    const char *params[] = {status, schema, has_after ? at : NULL, has_after ? id : NULL, limit};
    reply_page(
        c, req, "events",
        "SELECT json_agg(x) FROM (SELECT e.event_id, e.schema, e.source, e.status, e.reason,"
        " e.policy_package, e.alert_count, e.received_at, e.decided_at, e.trace_id,"
        " (SELECT coalesce(json_agg(a.alert_id ORDER BY a.alert_id), '[]') FROM alerts a"
        "  WHERE a.event_id = e.event_id) AS alert_ids, " CURSOR(
            "e.received_at",
            "e.event_id") " AS cursor"
                          " FROM events e WHERE ($1::text IS NULL OR e.status = $1) AND ($2::text IS NULL OR e.schema "
                          "= $2)"
                          " AND ($3::timestamptz IS NULL OR (e.received_at, e.event_id) < ($3::timestamptz, $4::uuid))"
                          " ORDER BY e.received_at DESC, e.event_id DESC LIMIT $5::int) x",
        5, params, atol(limit) - 1);
}

static void event_detail(console *c, struct evhttp_request *req, const char *id)
{
    const char *params[] = {id};
    console_reply_query(c, req, "no such event",
                        "SELECT json_build_object('event', to_jsonb(e) - 'payload', 'payload', e.payload,"
                        " 'alert_ids', (SELECT coalesce(json_agg(a.alert_id), '[]') FROM alerts a"
                        "  WHERE a.event_id = e.event_id)) FROM events e WHERE e.event_id = $1::uuid",
                        1, params);
}

/* GET /api/dlq: the stored dead letters (dlq.c), newest first; ?topic= (the source
 * topic) and ?consumer= narrow them. */
static void dlq_list(console *c, struct evhttp_request *req, query *q)
{
    const char *topic = q_get(q, "topic"), *consumer = q_get(q, "consumer");
    char limit[16], at[40] = "", id[IDS_UUID_LEN] = "";
    bool has_after;
    if ((topic && strlen(topic) > 200) || (consumer && strlen(consumer) > 100)) {
        http_reply_error(req, 400, "topic is at most 200 characters, consumer at most 100");
        return;
    }
    if (q_limit(req, q, limit) != 0 || q_after(req, q, at, id, &has_after) != 0)
        return;
    const char *params[] = {topic, consumer, has_after ? at : NULL, has_after ? id : NULL, limit};
    reply_page(
        c, req, "dead_letters",
        "SELECT json_agg(x) FROM (SELECT d.dlq_id, d.dead_at, d.consumer, d.reason, d.source_topic,"
        " d.source_partition, d.source_offset, d.trace_id, octet_length(d.payload) AS payload_size,"
        " regexp_replace(encode(substring(d.payload from 1 for 300), 'escape'), '[\\x01-\\x09\\x0b-\\x1f\\x7f]',"
        " '.', 'g') AS preview, d.replay_count, d.replayed_at,"
        " d.replayed_by, " CURSOR(
            "d.dead_at",
            "d.dlq_id") " AS cursor FROM dead_letters d"
                        " WHERE ($1::text IS NULL OR d.source_topic = $1) AND ($2::text IS NULL OR d.consumer = $2)"
                        " AND ($3::timestamptz IS NULL OR (d.dead_at, d.dlq_id) < ($3::timestamptz, $4::uuid))"
                        " ORDER BY d.dead_at DESC, d.dlq_id DESC LIMIT $5::int) x",
        5, params, atol(limit) - 1);
}

static void dashboard(console *c, struct evhttp_request *req)
{
    char modules[24], loaded[24];
    snprintf(modules, sizeof modules, "%zu", c->rules ? policy_rules_module_count(c->rules) : 0);
    snprintf(loaded, sizeof loaded, "%lld", (long long)c->policy_loaded_ms);
    const char *params[] = {c->cfg->policy_dir, modules, loaded, c->rules ? NULL : c->policy_error};
    console_reply_query(
        c, req, "no data",
        "SELECT json_build_object("
        " 'open_by_severity', (SELECT coalesce(json_object_agg(s, n), '{}') FROM (SELECT coalesce(severity, 'none') s,"
        "  count(*) n FROM tickets WHERE status = 'open' GROUP BY 1) x),"
        " 'open_tickets', (SELECT count(*) FROM tickets WHERE status = 'open'),"
        " 'alerts_per_hour', (SELECT coalesce(json_agg(json_build_object('hour', h, 'source', src, 'count', n)"
        "  ORDER BY h, src), '[]') FROM (SELECT date_trunc('hour', created_at) h, coalesce(nullif(source, ''), schema) "
        "src,"
        "  count(*) n FROM alerts WHERE created_at > now() - interval '24 hours' GROUP BY 1, 2) x),"
        " 'ignored_reasons', (SELECT coalesce(json_agg(json_build_object('reason', r, 'count', n) ORDER BY n DESC, r),"
        "  '[]') FROM (SELECT coalesce(reason, '') r, count(*) n FROM events WHERE status = 'ignored'"
        "  AND received_at > now() - interval '24 hours' GROUP BY 1 ORDER BY 2 DESC LIMIT 10) x),"
        " 'dead_events', (SELECT count(*) FROM events WHERE status = 'dead'),"
        " 'dead_letters', (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL),"
        " 'policy_service', (SELECT coalesce(json_agg(jsonb_build_object('instance', instance, 'updated_at',"
        "  updated_at) || state ORDER BY instance), '[]') FROM service_state WHERE service = 'policy'"
        "  AND updated_at > now() - interval '5 minutes'),"
        " 'playground_policy', json_build_object('dir', $1::text, 'modules', $2::int, 'loaded_at',"
        "  to_timestamp($3::bigint / 1000.0), 'error', $4::text),"
        " 'intel_quota', (SELECT coalesce(json_agg(json_build_object('provider', provider, 'used_today', day_used,"
        "  'tokens', round(tokens::numeric, 2), 'cooldown_until', CASE WHEN cooldown_until_ms > 0 THEN"
        "  to_timestamp(cooldown_until_ms / 1000.0) END) ORDER BY provider), '[]') FROM intel_quota))",
        4, params);
}

/* POST /api/playground {schema, event}: event is the event itself (any JSON) or its
 * text (a string, parsed here so a bad paste is a 400, not a policy error). */
static void playground(console *c, struct evhttp_request *req)
{
    json_t *body = console_body_object(req);
    if (!body)
        return;
    const char *schema = json_string_value(json_object_get(body, "schema"));
    json_t *event = json_object_get(body, "event");
    char *text = NULL;
    char err[2048];
    if (!schema || !*schema || strlen(schema) > 100) {
        http_reply_error(req, 400, "schema (a string of 1 to 100 characters) is required");
        goto done;
    }
    for (const char *p = schema; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') {
            http_reply_error(req, 400, "schema may hold letters, digits, _ - . only");
            goto done;
        }
    if (!event) {
        http_reply_error(req, 400, "event is required (the event as JSON, or its text)");
        goto done;
    }
    if (json_is_string(event)) {
        json_error_t je;
        json_t *parsed = json_loads(json_string_value(event), JSON_DECODE_ANY, &je);
        if (!parsed) {
            snprintf(err, sizeof err, "the event is not valid JSON: line %d, column %d: %s", je.line, je.column,
                     je.text);
            http_reply_error(req, 400, err);
            goto done;
        }
        text = json_dumps(parsed, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(parsed);
    } else {
        text = json_dumps(event, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    if (!c->rules) {
        snprintf(err, sizeof err, "the policies did not load: %s", c->policy_error);
        http_reply_error(req, 503, err);
        goto done;
    }
    json_t *doc =
        text ? policy_decide_json(c->rules, schema, text, "console", c->cfg->policy_strict, err, sizeof err) : NULL;
    if (!doc) {
        /* a policy error: what hutch-policy would dead-letter */
        json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:[]}", "schema", schema, "package", "", "status", "dead", "reason",
                              json_string(text ? err : "out of memory"), "alerts");
        char *out = json_dumps(o, JSON_COMPACT);
        console_headers(req, true);
        http_reply_json(req, 200, out);
        free(out);
        json_decref(o);
        goto done;
    }
    char *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    console_headers(req, true);
    http_reply_json(req, 200, out);
    free(out);
done:
    free(text);
    json_decref(body);
}

static void schemas_list(console *c, struct evhttp_request *req)
{
    console_reply_query(c, req, "no data",
                        "SELECT coalesce(json_agg(s ORDER BY s), '[]') FROM (SELECT DISTINCT schema s FROM events"
                        " WHERE received_at > now() - interval '30 days') x",
                        0, NULL);
}

/* ---------------------------------------------------------- routing */

/* path after "/api/tickets/" -> id and verb ("" for the ticket itself). */
static bool split_id(const char *rest, char id[IDS_UUID_LEN], const char **verb)
{
    if (strlen(rest) < 36)
        return false;
    memcpy(id, rest, 36);
    id[36] = '\0';
    if (!ids_is_uuid(id))
        return false;
    if (rest[36] == '\0') {
        *verb = "";
        return true;
    }
    if (rest[36] != '/')
        return false;
    *verb = rest + 37;
    return true;
}

void api_route(console *c, struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = evhttp_uri_get_path(uri);
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    bool get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD, post = method == EVHTTP_REQ_POST;
    if (!path) {
        http_reply_error(req, 400, "bad path");
        return;
    }
    if (!strcmp(path, "/api/login")) {
        if (!post) {
            http_reply_error(req, 405, "POST /api/login {name, password}");
            return;
        }
        {
            auth_login(c, req);
            return;
        }
    }
    console_user u;
    if (!auth_user(c, req, &u)) {
        console_headers(req, true);
        {
            http_reply_error(req, 401, "sign in first (POST /api/login)");
            return;
        }
    }
    query q;
    TAILQ_INIT(&q.q);
    const char *qs = evhttp_uri_get_query(uri);
    if (qs && evhttp_parse_query_str(qs, &q.q) != 0) {
        http_reply_error(req, 400, "bad query string");
        return;
    }
    char id[IDS_UUID_LEN];
    const char *verb = NULL;
    if (post) {
        if (!strcmp(path, "/api/logout")) {
            /* signing out needs the CSRF token too, but is open to viewers */
            const char *t = evhttp_find_header(evhttp_request_get_input_headers(req), "X-CSRF-Token");
            if (!t || strcmp(t, u.csrf) != 0)
                http_reply_error(req, 403, "missing or wrong X-CSRF-Token (GET /api/me gives it)");
            else
                auth_logout(c, req, &u);
        } else if (!auth_may_change(req, &u)) {
            /* replied 403 */
        } else if (!strcmp(path, "/api/playground")) {
            playground(c, req);
        } else if (!strncmp(path, "/api/tickets/", 13) && split_id(path + 13, id, &verb) && *verb) {
            json_t *body = console_body_object(req);
            if (body && !strcmp(verb, "chat"))
                chat_ask(c, req, &u, id, body);
            else if (body)
                actions_ticket(c, req, &u, id, verb, body);
            json_decref(body);
        } else if (!strncmp(path, "/api/dlq/", 9) && split_id(path + 9, id, &verb) && !strcmp(verb, "replay")) {
            json_t *body = console_body_object(req); /* {} today: the JSON type is part of the CSRF defence */
            if (body)
                dlq_replay(c, req, &u, id);
            json_decref(body);
        } else {
            http_reply_error(req, 404, "no such API");
        }
    } else if (!get) {
        http_reply_error(req, 405, "GET or POST only");
    } else if (!strcmp(path, "/api/me")) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:b}", "name", u.name, "role", u.role, "csrf", u.csrf, "trusted_header",
                              u.from_header);
        char *text = json_dumps(o, JSON_COMPACT);
        console_headers(req, true);
        http_reply_json(req, 200, text);
        free(text);
        json_decref(o);
    } else if (!strcmp(path, "/api/dashboard")) {
        dashboard(c, req);
    } else if (!strcmp(path, "/api/tickets")) {
        tickets_list(c, req, &q);
    } else if (!strncmp(path, "/api/tickets/", 13)) {
        if (split_id(path + 13, id, &verb) && !*verb)
            ticket_detail(c, req, id);
        else if (split_id(path + 13, id, &verb) && !strcmp(verb, "chat"))
            chat_get(c, req, id);
        else if (split_id(path + 13, id, &verb))
            http_reply_error(req, 404, "no such API");
        else
            http_reply_error(req, 400, "a ticket id is a UUID");
    } else if (!strncmp(path, "/api/alerts/", 12)) {
        if (ids_is_uuid(path + 12))
            alert_detail(c, req, path + 12);
        else
            http_reply_error(req, 400, "an alert id is a UUID");
    } else if (!strcmp(path, "/api/events")) {
        events_list(c, req, &q);
    } else if (!strncmp(path, "/api/events/", 12)) {
        if (ids_is_uuid(path + 12))
            event_detail(c, req, path + 12);
        else
            http_reply_error(req, 400, "an event id is a UUID");
    } else if (!strcmp(path, "/api/dlq")) {
        dlq_list(c, req, &q);
    } else if (!strncmp(path, "/api/dlq/", 9)) {
        if (ids_is_uuid(path + 9))
            dlq_detail(c, req, path + 9);
        else
            http_reply_error(req, 400, "a dead letter id is a UUID");
    } else if (!strcmp(path, "/api/schemas")) {
        schemas_list(c, req);
    } else if (!strcmp(path, "/api/stream")) {
        console_sse_open(c, req);
    } else if (!strcmp(path, "/api/chats")) {
        chat_recent(c, req);
    } else {
        http_reply_error(req, 404, "no such API");
    }
    evhttp_clear_headers(&q.q);
}
