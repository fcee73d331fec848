/* Postgres statements of the agent (see store.h). Parameterised queries only. */
#include "services/agent/store.h"

#include <stdlib.h>
#include <string.h>

#define CONSUMER "hutch-agent"

static const char sql_processed[] =
    "INSERT INTO processed_messages (consumer, message_id) VALUES ('" CONSUMER "', $1) "
    "ON CONFLICT DO NOTHING RETURNING 1";

/* FOR UPDATE: two alerts of one ticket triaged at once compute the maximum in turn,
 * each seeing the other's committed severity (READ COMMITTED re-reads after the lock). */
static const char sql_ticket[] = "SELECT alert_count FROM tickets WHERE ticket_id = $1 FOR UPDATE";

static const char sql_alert[] =
    "UPDATE alerts SET severity = $2, triaged_at = now() WHERE alert_id = $1";

/* The ticket's severity is the highest of its alerts': every alert passes here once
 * (processed_messages), so keeping the maximum of the ticket's and this alert's is the
 * same as taking it over all alerts, without reading them (O(1), not O(alerts)). */
#define SEVERITY_RANK(x) "COALESCE(array_position(ARRAY['info','low','medium','high','critical'], " x "), 0)"
static const char sql_ticket_severity[] =
    "UPDATE tickets SET severity = CASE WHEN severity IS NULL OR " SEVERITY_RANK("$2::text") " > "
    SEVERITY_RANK("severity") " THEN $2 ELSE severity END,"
    "  summary = CASE WHEN summary = '' THEN $3 ELSE summary END,"
    "  updated_at = now() "
    "WHERE ticket_id = $1";

int agent_store_triage(pg *db, const char *alert_id, const char *ticket_id, const char *severity,
                       const char *ticket_summary, agent_store_result *out)
{
    memset(out, 0, sizeof *out);
    PGresult *res = NULL;
    int rc = pg_begin(db);
    if (rc != PG_OK)
        goto fail;

    const char *p_alert[] = {alert_id};
    if ((rc = pg_exec(db, &res, sql_processed, 1, p_alert)) != PG_OK)
        goto fail;
    out->already_processed = PQntuples(res) == 0;
    PQclear(res);
    res = NULL;

    const char *p_ticket[] = {ticket_id};
    if ((rc = pg_exec(db, &res, sql_ticket, 1, p_ticket)) != PG_OK)
        goto fail;
    if (PQntuples(res) == 1) {
        out->ticket_found = true;
        out->alert_count = (int32_t)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    res = NULL;

    if (!out->already_processed) {
        const char *p_sev[] = {alert_id, severity};
        if ((rc = pg_exec(db, NULL, sql_alert, 2, p_sev)) != PG_OK)
            goto fail;
        if (out->ticket_found) {
            const char *p_t[] = {ticket_id, severity, ticket_summary ? ticket_summary : ""};
            if ((rc = pg_exec(db, NULL, sql_ticket_severity, 3, p_t)) != PG_OK)
                goto fail;
        }
    }
    if ((rc = pg_commit(db)) != PG_OK)
        goto fail;
    return PG_OK;

fail:
    PQclear(res);
    pg_rollback(db);
    return rc == PG_RETRY ? PG_RETRY : PG_FATAL;
}
