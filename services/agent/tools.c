/* The agent's tools (tools.h). Each answers JSON text; a database error or bad
 * arguments answer an error text the model reads (the loop marks it as an error). */
#include "services/agent/tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fetch.h"
#include "services/agent/jobs.h"
#include "services/enrich/intel_indicator.h"

#define TOOL_TEXT_MAX 16000 /* bytes of a tool answer handed to the model */

/* Runs a statement whose one row, one column is JSON text; *out NEW. */
static int json_query(agent_tool_ctx *c, const char *sql, int n, const char *const *p, char **out)
{
    PGresult *res = NULL;
    if (pg_exec(c->db, &res, sql, n, p) != PG_OK) {
        *out = strdup("the database did not answer; try again later");
        return -1;
    }
    const char *v = PQntuples(res) && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : "null";
    size_t len = strlen(v);
    if (len > TOOL_TEXT_MAX) {
        /* too long for the model: the list is cut (still JSON) */
        json_t *all = json_loads(v, 0, NULL);
        while (json_is_array(all) && json_array_size(all) > 1) {
            json_array_remove(all, json_array_size(all) - 1);
            char *t = json_dumps(all, JSON_COMPACT);
            if (t && strlen(t) <= TOOL_TEXT_MAX) {
                json_decref(all);
                PQclear(res);
                *out = t;
                return 0;
            }
            free(t);
        }
        json_decref(all);
        *out = strndup(v, TOOL_TEXT_MAX);
    } else {
        *out = strdup(v);
    }
    PQclear(res);
    return 0;
}

static int limit_of(const json_t *args, int def, int max)
{
    json_int_t n = json_integer_value(json_object_get(args, "limit"));
    return n <= 0 ? def : n > max ? max : (int)n;
}

static int get_ticket(void *vctx, const llm_tool *self, const json_t *args, char **out)
{
    (void)self;
    (void)args;
    agent_tool_ctx *c = vctx;
    const char *p[] = {c->ticket_id};
    return json_query(c,
                      "SELECT (to_jsonb(t) - 'fingerprint' - 'history_seq')::text FROM tickets t"
                      " WHERE ticket_id = $1::uuid",
                      1, p, out);
}

static int search_alerts(void *vctx, const llm_tool *self, const json_t *args, char **out)
{
    (void)self;
    agent_tool_ctx *c = vctx;
    char lim[16], off[24];
    snprintf(lim, sizeof lim, "%d", limit_of(args, 20, 50));
    json_int_t o = json_integer_value(json_object_get(args, "offset"));
    snprintf(off, sizeof off, "%lld", (long long)(o > 0 ? o : 0));
    const char *q = json_string_value(json_object_get(args, "query"));
    const char *p[] = {c->ticket_id, q && *q ? q : NULL, lim, off};
    return json_query(c,
                      "SELECT COALESCE(jsonb_agg(a ORDER BY a->>'created_at' DESC), '[]')::text FROM ("
                      " SELECT jsonb_build_object('alert_id', al.alert_id, 'title', al.title,"
                      "  'description', al.description, 'schema', al.schema, 'severity', al.severity,"
                      "  'created_at', al.created_at, 'attributes', al.attributes,"
                      "  'indicators', COALESCE((SELECT jsonb_agg(jsonb_build_object('type', i.type, 'value', i.value))"
                      "    FROM indicators i WHERE i.alert_id = al.alert_id), '[]')) AS a"
                      " FROM alerts al WHERE al.ticket_id = $1::uuid"
                      "  AND ($2::text IS NULL OR al.title ILIKE '%' || $2 || '%' OR al.description ILIKE '%' || $2 || "
                      "'%')"
                      " ORDER BY al.created_at DESC LIMIT $3::int OFFSET $4::int) s",
                      4, p, out);
}

static int similar_tickets(void *vctx, const llm_tool *self, const json_t *args, char **out)
{
    (void)self;
    agent_tool_ctx *c = vctx;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit_of(args, 5, 20));
    const char *p[] = {c->ticket_id, lim};
    return json_query(
        c,
        "WITH mine AS (SELECT DISTINCT i.type, i.value FROM indicators i JOIN alerts al ON al.alert_id = i.alert_id"
        "               WHERE al.ticket_id = $1::uuid LIMIT 200),"
        " other AS (SELECT al.ticket_id, count(DISTINCT (i.type, i.value)) AS shared"
        "            FROM indicators i JOIN mine m ON m.type = i.type AND m.value = i.value"
        "            JOIN alerts al ON al.alert_id = i.alert_id"
        "           WHERE al.ticket_id IS NOT NULL AND al.ticket_id <> $1::uuid GROUP BY al.ticket_id)"
        "SELECT COALESCE(jsonb_agg(x ORDER BY (x->>'shared')::int DESC, x->>'updated_at' DESC), '[]')::text FROM ("
        " SELECT jsonb_build_object('ticket_id', t.ticket_id, 'title', t.title, 'status', t.status,"
        "  'severity', t.severity, 'alert_count', t.alert_count, 'updated_at', t.updated_at,"
        "  'summary', t.summary, 'finding', to_jsonb(t)->'finding', 'shared', COALESCE(o.shared, 0),"
        "  'same_fingerprint', t.fingerprint = me.fingerprint) AS x"
        " FROM tickets t CROSS JOIN (SELECT fingerprint FROM tickets WHERE ticket_id = $1::uuid) me"
        " LEFT JOIN other o ON o.ticket_id = t.ticket_id"
        " WHERE t.ticket_id <> $1::uuid AND (o.ticket_id IS NOT NULL OR"
        "       (me.fingerprint <> '' AND t.fingerprint = me.fingerprint))"
        " ORDER BY COALESCE(o.shared, 0) DESC, t.updated_at DESC LIMIT $2::int) s",
        2, p, out);
}

static int update_finding(void *vctx, const llm_tool *self, const json_t *args, char **out)
{
    (void)self;
    agent_tool_ctx *c = vctx;
    json_decref(c->finding);
    c->finding = json_pack("{s:O, s:O, s:O, s:O}", "severity", json_object_get(args, "severity"), "summary",
                           json_object_get(args, "summary"), "reason", json_object_get(args, "reason"),
                           "recommendation", json_object_get(args, "recommendation"));
    *out = strdup("{\"recorded\":true,\"note\":\"the finding is written to the ticket when this analysis ends\"}");
    return c->finding ? 0 : -1;
}

static int intel_lookup(void *vctx, const llm_tool *self, const json_t *args, char **out)
{
    (void)self;
    agent_tool_ctx *c = vctx;
    const char *text = json_string_value(json_object_get(args, "indicator"));
    intel_indicator ind;
    int n = intel_normalize(c->psl, text ? text : "", &ind);
    if (n == INTEL_NORM_INVALID) {
        *out = strdup("not an indicator Hutch looks up (IP, domain, hostname, URL, hash, ASN)");
        return -1;
    }
    if (n == INTEL_NORM_NOT_PUBLIC) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "kind", intel_kind_name(ind.kind), "value", ind.value, "note",
                              "not public: never looked up");
        *out = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return 0;
    }
    const char *p[] = {intel_kind_name(ind.kind), ind.value};
    int rc = json_query(c,
                        "SELECT jsonb_build_object('kind', $1::text, 'value', $2::text, 'verdicts',"
                        " COALESCE(jsonb_agg(jsonb_build_object('provider', provider, 'verdict', verdict,"
                        "  'score', score, 'summary', summary, 'link', link, 'not_found', not_found,"
                        "  'fetched_at', fetched_at, 'response', CASE WHEN length(body::text) <= 4000 THEN body END)"
                        "  ORDER BY provider), '[]'),"
                        " 'note', CASE WHEN count(*) = 0 THEN 'no cached verdict: enrich has not looked this"
                        " indicator up (lookups go through its quota, not through the agent)' END)::text"
                        " FROM intel_cache WHERE kind = $1 AND value = $2 AND verdict IS NOT NULL",
                        2, p, out);
    return rc;
}

static int http_fetch(void *vctx, const llm_tool *self, const json_t *args, char **out)
{
    (void)self;
    (void)vctx;
    const char *url = json_string_value(json_object_get(args, "url"));
    fetch_options o = {.timeout_ms = 10000, .max_bytes = 256 * 1024};
    char *body = NULL, err[256];
    size_t len = 0;
    if (fetch_get(url ? url : "", &o, &body, &len, err, sizeof err) != 0) {
        *out = strdup(err);
        return -1;
    }
    if (len > TOOL_TEXT_MAX)
        body[TOOL_TEXT_MAX] = '\0';
    *out = body;
    return 0;
}

bool agent_tool_approve(void *vctx, const char *tool, const json_t *args)
{
    agent_tool_ctx *c = vctx;
    return agent_approval_granted(c->db, c->ticket_id, c->session_id, tool, args);
}

const llm_tool agent_tools[] = {
    {"hutch_get_ticket", "The ticket being analysed: title, summary, severity, status, alert count, finding.",
     "{\"type\":\"object\",\"properties\":{}}", 3, false, get_ticket},
    {"hutch_search_alerts",
     "The ticket's alerts, newest first, with their indicators; optionally only those whose title or description "
     "contains query.",
     "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\"},\"limit\":{\"type\":\"integer\"},"
     "\"offset\":{\"type\":\"integer\"}}}",
     3, false, search_alerts},
    {"hutch_similar_tickets",
     "Other tickets sharing indicators or a fingerprint with this one, with their status and finding.",
     "{\"type\":\"object\",\"properties\":{\"limit\":{\"type\":\"integer\"}}}", 3, false, similar_tickets},
    {"intel_lookup",
     "Threat-intel verdicts cached by Hutch for an indicator (IP, domain, hostname, URL, file hash, ASN): "
     "VirusTotal, AbuseIPDB, OTX and others as enrich looked them up.",
     "{\"type\":\"object\",\"properties\":{\"indicator\":{\"type\":\"string\"}},\"required\":[\"indicator\"]}", 6.25,
     false, intel_lookup},
    {"hutch_update_finding",
     "Record the finding of this ticket: severity (info, low, medium, high, critical), summary, reason, "
     "recommendation.",
     "{\"type\":\"object\",\"properties\":{\"severity\":{\"type\":\"string\",\"enum\":[\"info\",\"low\",\"medium\","
     "\"high\",\"critical\"]},\"summary\":{\"type\":\"string\"},\"reason\":{\"type\":\"string\"},"
     "\"recommendation\":{\"type\":\"string\"}},\"required\":[\"severity\",\"summary\",\"reason\","
     "\"recommendation\"]}",
     0, false, update_finding},
    {"http_fetch", "GET an https URL and return its body (needs a person's approval).",
     "{\"type\":\"object\",\"properties\":{\"url\":{\"type\":\"string\"}},\"required\":[\"url\"]}", 6.25, true,
     http_fetch},
};
const size_t agent_tools_count = sizeof agent_tools / sizeof agent_tools[0];
