/* hutchctl event list: what ingest received and what policy decided about it
 * (events rows), newest first, with what became of each event: its status, the
 * package that decided, the reason (why ignored or dead-lettered) and the ids of
 * the alerts it made (alerts.event_id).
 *
 *   event list [--ignored | --status S] [--limit N]
 *
 * --ignored is --status ignored, the question "what did policy drop, and why". */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"

static const col_spec event_cols[] = {
    {"event_id", "EVENT", COL_TEXT, 0},
    {"received_at", "RECEIVED", COL_TIME, 0},
    {"schema", "SCHEMA", COL_TEXT, 16},
    {"source", "SOURCE", COL_TEXT, 24},
    {"status", "STATUS", COL_TEXT, 0},
    {"alert_count", "ALERTS", COL_TEXT, 0},
    {"policy_package", "POLICY", COL_TEXT, 24},
    {"reason", "REASON", COL_TEXT, 40},
    {NULL},
};

/* $1 limit, $2 status ('' = any). The alert ids come from the alerts table (the
 * rows policy wrote for the event, alerts_event_id index), oldest first. */
static const char sql_event_list[] =
    "SELECT coalesce(json_agg(e ORDER BY e.received_at DESC, e.event_id DESC), '[]')::text FROM ("
    " SELECT ev.event_id, ev.received_at, ev.schema, ev.source, ev.status, ev.alert_count, ev.policy_package,"
    " ev.reason, ev.trace_id, ev.decided_at,"
    " coalesce((SELECT json_agg(a.alert_id ORDER BY a.created_at, a.alert_id) FROM alerts a"
    " WHERE a.event_id = ev.event_id), '[]'::json) AS alerts"
    " FROM events ev WHERE ($2::text = '' OR ev.status = $2::text)"
    " ORDER BY ev.received_at DESC, ev.event_id DESC LIMIT $1::int) e";

static const char *const event_statuses[] = {"received", "accepted", "ignored", "dead", NULL};

int cmd_event_list(cli *c)
{
    const char *status = c->status ? c->status : "";
    if (c->ignored && c->status && strcmp(c->status, "ignored") != 0) {
        cli_error("--ignored and --status %s contradict each other", c->status);
        return CLI_USAGE;
    }
    if (c->ignored)
        status = "ignored";
    if (*status) {
        size_t i = 0;
        while (event_statuses[i] && strcmp(event_statuses[i], status) != 0)
            i++;
        if (!event_statuses[i]) {
            cli_error("--status wants received, accepted, ignored or dead");
            return CLI_USAGE;
        }
    }
    char limit[24];
    snprintf(limit, sizeof limit, "%lld", (long long)c->limit);
    const char *params[] = {limit, status};
    bool found;
    json_t *doc = cli_query_json(c, sql_event_list, 2, params, &found);
    if (!doc)
        return CLI_FAIL;
    if (c->json)
        output_json(stdout, doc);
    else
        output_table(stdout, doc, event_cols);
    json_decref(doc);
    return CLI_OK;
}
