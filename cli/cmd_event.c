/* hutchctl event list: what ingest received and what policy decided about it
 * (events rows), newest first. */
#include <stdio.h>

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

static const char sql_event_list[] =
    "SELECT coalesce(json_agg(e ORDER BY e.received_at DESC, e.event_id DESC), '[]')::text FROM ("
    " SELECT event_id, received_at, schema, source, status, alert_count, policy_package, reason, trace_id,"
    " decided_at FROM events ORDER BY received_at DESC, event_id DESC LIMIT $1::int) e";

int cmd_event_list(cli *c)
{
    char limit[24];
    snprintf(limit, sizeof limit, "%lld", (long long)c->limit);
    const char *params[] = {limit};
    bool found;
    json_t *doc = cli_query_json(c, sql_event_list, 1, params, &found);
    if (!doc)
        return CLI_FAIL;
    if (c->json)
        output_json(stdout, doc);
    else
        output_table(stdout, doc, event_cols);
    json_decref(doc);
    return CLI_OK;
}
