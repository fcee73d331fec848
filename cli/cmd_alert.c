/* hutchctl alert send | list | show.
 *
 * send posts the file to ingest's raw webhook (libcurl) and prints the event id
 * once ingest answered 202 (that is, once Kafka holds the event). list and show
 * ask Postgres for one JSON document (json_agg / json_build_object), so --output
 * json prints exactly what the database said and the table view reads the same. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "services/ingest/ingest.h"
#include "common/ids.h"
#include "common/strbuf.h"

#define SEND_MAX_BYTES (64 * 1024 * 1024)

static const col_spec alert_cols[] = {
    {"alert_id", "ALERT", COL_TEXT, 0},
    {"created_at", "CREATED", COL_TIME, 0},
    {"schema", "SCHEMA", COL_TEXT, 16},
    {"severity", "SEVERITY", COL_TEXT, 0},
    {"risk_score", "RISK", COL_SCORE, 0},
    {"ticket_id", "TICKET", COL_TEXT, 0},
    {"title", "TITLE", COL_TEXT, 60},
    {NULL},
};

static const col_spec alert_fields[] = {
    {"alert_id", "alert", COL_TEXT, 0},
    {"event_id", "event", COL_TEXT, 0},
    {"trace_id", "trace", COL_TEXT, 0},
    {"created_at", "created", COL_TIME, 0},
    {"schema", "schema", COL_TEXT, 0},
    {"source", "source", COL_TEXT, 0},
    {"namespace", "namespace", COL_TEXT, 0},
    {"title", "title", COL_TEXT, 0},
    {"description", "description", COL_TEXT, 200},
    {"severity", "severity", COL_TEXT, 0},
    {"risk_score", "risk score", COL_SCORE, 0},
    {"policy_package", "policy", COL_TEXT, 0},
    {"fingerprint", "fingerprint", COL_TEXT, 0},
    {"ticket_id", "ticket", COL_TEXT, 0},
    {"enriched_at", "enriched", COL_TIME, 0},
    {"clustered_at", "clustered", COL_TIME, 0},
    {"triaged_at", "triaged", COL_TIME, 0},
    {NULL},
};

static const col_spec indicator_cols[] = {
    {"type", "TYPE", COL_TEXT, 0},
    {"value", "VALUE", COL_TEXT, 70},
    {"path", "PATH", COL_TEXT, 0},
    {NULL},
};

static const col_spec intel_cols[] = {
    {"indicator", "INDICATOR", COL_TEXT, 40},
    {"provider", "PROVIDER", COL_TEXT, 0},
    {"verdict", "VERDICT", COL_TEXT, 0},
    {"score", "SCORE", COL_TEXT, 0},
    {"summary", "SUMMARY", COL_TEXT, 60},
    {"link", "LINK", COL_TEXT, 0},
    {NULL},
};

static const col_spec ticket_brief[] = {
    {"ticket_id", "ticket", COL_TEXT, 0},
    {"status", "status", COL_TEXT, 0},
    {"severity", "severity", COL_TEXT, 0},
    {"alert_count", "alerts", COL_TEXT, 0},
    {"title", "title", COL_TEXT, 0},
    {NULL},
};

static const char sql_alert_list[] =
    "SELECT coalesce(json_agg(a ORDER BY a.created_at DESC, a.alert_id DESC), '[]')::text FROM ("
    " SELECT alert_id, created_at, schema, title, namespace, severity, risk_score, ticket_id, event_id"
    " FROM alerts ORDER BY created_at DESC, alert_id DESC LIMIT $1::int) a";

/* Threat intel (services/enrich/intel_store.h): every lookup of the alert with its
 * verdict once done ("pending" / "error" in verdict until then), under the indicator
 * it came from; JSON gives each indicator its own list too. */
// clang-format off
#define SQL_ALERT_INTEL(WHERE)                                                                                        \
    "SELECT ai.indicator, ai.provider, ai.kind, ai.value, ai.state,"                                                 \
    " CASE WHEN ai.state = 'done' THEN c.verdict ELSE ai.state END AS verdict, c.score, c.summary, c.link,"         \
    " c.not_found, c.fetched_at, ai.error"                                                                           \
    " FROM alert_intel ai LEFT JOIN intel_cache c ON (c.provider, c.kind, c.value) = (ai.provider, ai.kind, ai.value)" \
    "  AND ai.state = 'done' WHERE ai.alert_id = a.alert_id" WHERE

static const char sql_alert_show[] =
    "SELECT json_build_object("
    " 'alert', to_json(a),"
    " 'indicators', coalesce((SELECT json_agg(i ORDER BY i.type, i.value, i.path) FROM"
    "   (SELECT x.type, x.value, x.path, coalesce((SELECT json_agg(v ORDER BY v.provider, v.kind) FROM ("
    SQL_ALERT_INTEL(" AND ai.indicator = x.value") ") v), '[]') AS intel"
    "    FROM (SELECT type, value, unnest(paths) AS path FROM indicators WHERE alert_id = a.alert_id) x) i), '[]'),"
    " 'intel', coalesce((SELECT json_agg(v ORDER BY v.indicator, v.provider, v.kind) FROM ("
    SQL_ALERT_INTEL("") ") v), '[]'),"
    " 'ticket', (SELECT to_json(t) FROM (SELECT ticket_id, title, status, severity, alert_count, namespace,"
    "   created_at, last_alert_at FROM tickets WHERE ticket_id = a.ticket_id) t))::text"
    " FROM alerts a WHERE a.alert_id = $1::uuid";
// clang-format on

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    strbuf *b = ctx;
    size_t n = size * nmemb;
    if (b->len + n > 1024 * 1024)
        return 0; /* an answer this big is not ingest's */
    return strbuf_add(b, ptr, n) == 0 ? n : 0; /* 0 ends the transfer */
}

int cmd_alert_send(cli *c)
{
    if (!c->schema) {
        cli_error("usage: hutchctl alert send --schema S FILE|-");
        return CLI_USAGE;
    }
    if (!ingest_schema_valid(c->schema)) {
        cli_error("invalid schema \"%s\" (want [a-z0-9][a-z0-9_.-]{0,63})", c->schema);
        return CLI_USAGE;
    }
    strbuf reply = {0};
    size_t body_len = 0;
    char *body = NULL;
    int rc = CLI_FAIL;
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    char *auth = NULL, *url = NULL;
    json_t *doc = NULL;

    if (!(body = cli_read_input(c->args[0], SEND_MAX_BYTES, &body_len)))
        goto done;
    if (body_len == 0) {
        cli_error("%s is empty", c->args[0]);
        goto done;
    }
    const char *base = c->cfg.ingest_url;
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    if (asprintf(&url, "%.*s/hooks/alert/raw/%s", (int)blen, base, c->schema) < 0) {
        url = NULL;
        goto done;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(curl = curl_easy_init())) {
        cli_error("cannot initialise libcurl");
        goto done;
    }
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (c->cfg.ingest_token && *c->cfg.ingest_token) {
        if (asprintf(&auth, "Authorization: Bearer %s", c->cfg.ingest_token) < 0) {
            auth = NULL;
            goto done;
        }
        headers = curl_slist_append(headers, auth);
    }
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        cli_error("cannot reach ingest at %.*s: %s", (int)blen, base, curl_easy_strerror(cc));
        goto done;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    json_error_t jerr;
    doc = reply.p ? json_loadb(reply.p, reply.len, 0, &jerr) : NULL;
    const char *event_id = json_string_value(json_object_get(doc, "event_id"));
    if (status != 202 || !event_id) {
        const char *msg = json_string_value(json_object_get(doc, "error"));
        cli_error("ingest answered %ld: %s", status, msg ? msg : (reply.p ? reply.p : "(no body)"));
        goto done;
    }
    if (c->json)
        output_json(stdout, doc);
    else
        printf("%s\n", event_id);
    rc = CLI_OK;
done:
    json_decref(doc);
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    curl_global_cleanup();
    free(auth);
    free(url);
    free(body);
    strbuf_free(&reply);
    return rc;
}

int cmd_alert_list(cli *c)
{
    char limit[24];
    snprintf(limit, sizeof limit, "%lld", (long long)c->limit);
    const char *params[] = {limit};
    bool found;
    json_t *doc = cli_query_json(c, sql_alert_list, 1, params, &found);
    if (!doc)
        return CLI_FAIL;
    if (c->json)
        output_json(stdout, doc);
    else
        output_table(stdout, doc, alert_cols);
    json_decref(doc);
    return CLI_OK;
}

int cmd_alert_show(cli *c)
{
    const char *id = c->args[0];
    if (!ids_is_uuid(id)) {
        cli_error("not an alert id: \"%s\"", id);
        return CLI_USAGE;
    }
    const char *params[] = {id};
    bool found;
    json_t *doc = cli_query_json(c, sql_alert_show, 1, params, &found);
    if (!doc) {
        if (!found)
            cli_error("alert %s not found", id);
        return CLI_FAIL;
    }
    if (c->json) {
        output_json(stdout, doc);
    } else {
        json_t *alert = json_object_get(doc, "alert");
        output_fields(stdout, alert, alert_fields);
        json_t *ticket = json_object_get(doc, "ticket");
        printf("\nticket:\n");
        if (json_is_object(ticket))
            output_fields(stdout, ticket, ticket_brief);
        else
            printf("(none yet)\n");
        printf("\nindicators:\n");
        output_table(stdout, json_object_get(doc, "indicators"), indicator_cols);
        printf("\nthreat intel:\n");
        if (json_array_size(json_object_get(doc, "intel")))
            output_table(stdout, json_object_get(doc, "intel"), intel_cols);
        else
            printf("(no lookups)\n");
        printf("\npayload:\n");
        output_json(stdout, json_object_get(alert, "payload"));
    }
    json_decref(doc);
    return CLI_OK;
}
