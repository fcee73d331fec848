/* hutchctl ticket list | show. Each is one SQL statement returning
 * one JSON document; the table view is a column spec over it (output.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/ids.h"
#include "common/severity.h"

static const col_spec ticket_cols[] = {
    {"ticket_id", "TICKET", COL_TEXT, 0},
    {"status", "STATUS", COL_TEXT, 0},
    {"severity", "SEVERITY", COL_TEXT, 0},
    {"alert_count", "ALERTS", COL_TEXT, 0},
    {"last_alert_at", "LAST ALERT", COL_TIME, 0},
    {"namespace", "NAMESPACE", COL_TEXT, 20},
    {"title", "TITLE", COL_TEXT, 60},
    {NULL},
};

static const col_spec ticket_fields[] = {
    {"ticket_id", "ticket", COL_TEXT, 0},
    {"title", "title", COL_TEXT, 0},
    {"status", "status", COL_TEXT, 0},
    {"severity", "severity", COL_TEXT, 0},
    {"namespace", "namespace", COL_TEXT, 0},
    {"fingerprint", "fingerprint", COL_TEXT, 0},
    {"alert_count", "alerts", COL_TEXT, 0},
    {"created_at", "created", COL_TIME, 0},
    {"updated_at", "updated", COL_TIME, 0},
    {"last_alert_at", "last alert", COL_TIME, 0},
    {"summary", "summary", COL_TEXT, 300},
    {NULL},
};

static const col_spec ticket_alert_cols[] = {
    {"alert_id", "ALERT", COL_TEXT, 0},
    {"created_at", "CREATED", COL_TIME, 0},
    {"schema", "SCHEMA", COL_TEXT, 16},
    {"severity", "SEVERITY", COL_TEXT, 0},
    {"risk_score", "RISK", COL_SCORE, 0},
    {"title", "TITLE", COL_TEXT, 60},
    {NULL},
};

static const col_spec notification_cols[] = {
    {"created_at", "CREATED", COL_TIME, 0},
    {"kind", "KIND", COL_TEXT, 0},
    {"target", "TARGET", COL_TEXT, 0},
    {"channel", "CHANNEL", COL_TEXT, 0},
    {"status", "STATUS", COL_TEXT, 0},
    {"attempts", "TRIES", COL_TEXT, 0},
    {"sent_at", "SENT", COL_TIME, 0},
    {"last_error", "ERROR", COL_TEXT, 40},
    {NULL},
};

/* Open first, then the most severe (the levels' order is $3, from common/severity.h),
 * then the latest activity: what to look at first. */
#define TICKET_ORDER(t)                                                                                               \
    "(" t "status = 'open') DESC, coalesce(array_position($3::text[], " t "severity), 0) DESC, " t                  \
    "last_alert_at DESC, " t "ticket_id DESC"
static const char sql_ticket_list[] =
    "SELECT coalesce(json_agg(t ORDER BY " TICKET_ORDER("t.") "), '[]')::text FROM ("
    " SELECT ticket_id, status, severity, alert_count, namespace, title, created_at, last_alert_at"
    " FROM tickets WHERE ($1::text IS NULL OR status = $1)"
    " ORDER BY " TICKET_ORDER("") " LIMIT $2::int) t";

static const char sql_ticket_show[] =
    "SELECT json_build_object("
    " 'ticket', to_json(t),"
    " 'alerts', coalesce((SELECT json_agg(a ORDER BY a.created_at, a.alert_id) FROM"
    "   (SELECT x.alert_id, x.created_at, x.schema, x.title, x.namespace, x.severity, x.risk_score, x.event_id,"
    "    b.bound_at FROM ticket_alerts b JOIN alerts x USING (alert_id) WHERE b.ticket_id = t.ticket_id) a), '[]'),"
    " 'notifications', coalesce((SELECT json_agg(n ORDER BY n.created_at, n.request_id) FROM"
    "   (SELECT request_id, alert_id, kind, target, channel, status, attempts, last_error, slack_ts,"
    "    created_at, sent_at, message FROM notifications WHERE ticket_id = t.ticket_id) n), '[]'))::text"
    " FROM tickets t WHERE t.ticket_id = $1::uuid";

static int print_list(cli *c, const char *sql, int nparams, const char *const *params, const col_spec *cols)
{
    bool found;
    json_t *doc = cli_query_json(c, sql, nparams, params, &found);
    if (!doc)
        return CLI_FAIL;
    if (c->json)
        output_json(stdout, doc);
    else
        output_table(stdout, doc, cols);
    json_decref(doc);
    return CLI_OK;
}

int cmd_ticket_list(cli *c)
{
    static const char *const statuses[] = {"open", "acknowledged", "resolved", NULL};
    if (c->status) {
        bool known = false;
        for (size_t i = 0; statuses[i]; i++)
            known |= strcmp(statuses[i], c->status) == 0;
        if (!known) {
            cli_error("--status wants open, acknowledged or resolved");
            return CLI_USAGE;
        }
    }
    char limit[24];
    snprintf(limit, sizeof limit, "%lld", (long long)c->limit);
    pg_array levels;
    pg_array_init(&levels);
    for (int l = SEVERITY_INFO; l <= SEVERITY_CRITICAL; l++)
        pg_array_add(&levels, severity_name((severity_level)l));
    const char *params[] = {c->status, limit, pg_array_text(&levels)};
    int rc = params[2] ? print_list(c, sql_ticket_list, 3, params, ticket_cols) : CLI_FAIL;
    pg_array_free(&levels);
    return rc;
}

int cmd_ticket_show(cli *c)
{
    const char *id = c->args[0];
    if (!ids_is_uuid(id)) {
        cli_error("not a ticket id: \"%s\"", id);
        return CLI_USAGE;
    }
    const char *params[] = {id};
    bool found;
    json_t *doc = cli_query_json(c, sql_ticket_show, 1, params, &found);
    if (!doc) {
        if (!found)
            cli_error("ticket %s not found", id);
        return CLI_FAIL;
    }
    if (c->json) {
        output_json(stdout, doc);
    } else {
        output_fields(stdout, json_object_get(doc, "ticket"), ticket_fields);
        printf("\nalerts:\n");
        output_table(stdout, json_object_get(doc, "alerts"), ticket_alert_cols);
        printf("\nnotifications:\n");
        output_table(stdout, json_object_get(doc, "notifications"), notification_cols);
    }
    json_decref(doc);
    return CLI_OK;
}
