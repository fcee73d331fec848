/* Postgres statements of the agent (store.h). Parameterised, one per table per batch.
 *
 * Lock order: the batch's tickets are locked FOR UPDATE in one statement, ordered by
 * ticket id, before any write; two agents (or batches) lock shared tickets in the same
 * order, so they take turns and never deadlock.
 *
 * The ticket's severity is the highest of its alerts': every alert passes here once
 * (the frame's claim), so keeping the maximum of the ticket's and the batch's is the
 * same as taking it over all alerts, without reading them (O(1), not O(alerts)). */
#include "services/agent/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/severity.h"

/* The order of the levels comes from common/severity.h as parameter $4 (the one home
 * of severity), not from a list written again here. */
#define SEVERITY_RANK(x) "COALESCE(array_position($4::text[], " x "), 0)"

static const char sql_lock[] =
    "SELECT ticket_id::text, alert_count FROM tickets WHERE ticket_id = ANY($1::uuid[]) ORDER BY ticket_id FOR UPDATE";

static const char sql_tickets[] = "UPDATE tickets SET severity = CASE WHEN tickets.severity IS NULL OR " SEVERITY_RANK(
    "x.severity") " > " SEVERITY_RANK("tickets.severity") " THEN x.severity ELSE tickets.severity END,"
                                                          "  summary = CASE WHEN tickets.summary = '' THEN x.summary "
                                                          "ELSE tickets.summary END,"
                                                          "  updated_at = now() "
                                                          "FROM unnest($1::uuid[], $2::text[], $3::text[]) AS "
                                                          "x(ticket_id, severity, summary) "
                                                          "WHERE tickets.ticket_id = x.ticket_id";

static const char sql_alerts[] =
    "UPDATE alerts SET triaged_at = now() WHERE alert_id = ANY($1::uuid[]) AND triaged_at IS NULL";

int agent_store_triage(pg *db, agent_triage_row *rows, size_t n)
{
    pg_array tickets, fresh_alerts, up_ticket, up_sev, up_summary;
    pg_array *all[] = {&tickets, &fresh_alerts, &up_ticket, &up_sev, &up_summary};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        pg_array_init(all[i]);
    for (size_t i = 0; i < n; i++) {
        rows[i].ticket_found = false;
        rows[i].alert_count = 0;
        pg_array_add(&tickets, rows[i].ticket_id);
        if (rows[i].fresh)
            pg_array_add(&fresh_alerts, rows[i].alert_id);
    }
    /* per ticket: the highest severity and the summary among the batch's fresh alerts */
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].fresh)
            continue;
        bool first = true;
        const char *sev = rows[i].severity, *summary = rows[i].ticket_summary;
        for (size_t j = 0; j < n && first; j++)
            if (j < i && rows[j].fresh && !strcasecmp(rows[j].ticket_id, rows[i].ticket_id))
                first = false;
        if (!first)
            continue;
        for (size_t j = i + 1; j < n; j++) {
            if (!rows[j].fresh || strcasecmp(rows[j].ticket_id, rows[i].ticket_id))
                continue;
            if (severity_rank(rows[j].severity) > severity_rank(sev))
                sev = rows[j].severity;
            if (!*summary)
                summary = rows[j].ticket_summary;
        }
        pg_array_add(&up_ticket, rows[i].ticket_id);
        pg_array_add(&up_sev, sev);
        pg_array_add(&up_summary, summary ? summary : "");
    }
    int rc = PG_RETRY; /* out of memory building the arrays */
    PGresult *res = NULL;
    const char *p_lock[] = {pg_array_text(&tickets)};
    pg_array levels;
    pg_array_init(&levels);
    for (int l = SEVERITY_INFO; l <= SEVERITY_CRITICAL; l++)
        pg_array_add(&levels, severity_name((severity_level)l));
    const char *p_up[] = {pg_array_text(&up_ticket), pg_array_text(&up_sev), pg_array_text(&up_summary),
                          pg_array_text(&levels)};
    const char *p_alerts[] = {pg_array_text(&fresh_alerts)};
    if (p_lock[0] && p_up[0] && p_up[1] && p_up[2] && p_up[3] && p_alerts[0])
        rc = pg_exec(db, &res, sql_lock, 1, p_lock);
    if (rc == PG_OK) {
        for (int r = 0; r < PQntuples(res); r++)
            for (size_t i = 0; i < n; i++)
                if (!strcasecmp(rows[i].ticket_id, PQgetvalue(res, r, 0))) {
                    rows[i].ticket_found = true;
                    rows[i].alert_count = (int32_t)strtol(PQgetvalue(res, r, 1), NULL, 10);
                }
        if (up_ticket.n)
            rc = pg_exec(db, NULL, sql_tickets, 4, p_up);
    }
    if (rc == PG_OK && fresh_alerts.n)
        rc = pg_exec(db, NULL, sql_alerts, 1, p_alerts);
    PQclear(res);
    pg_array_free(&levels);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        pg_array_free(all[i]);
    return rc;
}
