/* The agent's Postgres statements: record one alert's triage in one transaction
 * with its processed_messages row (consumer "hutch-agent", message id = alert id),
 * so a redelivered alert changes nothing the second time. */
#ifndef HUTCH_AGENT_STORE_H
#define HUTCH_AGENT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/pg.h"

typedef struct {
    bool already_processed; /* the alert was triaged before: no row changed now */
    bool ticket_found;      /* false if the ticket row is missing (alert_count then 0) */
    int32_t alert_count;    /* tickets.alert_count after this alert */
} agent_store_result;

/* In one transaction: marks the alert processed; sets alerts.severity/triaged_at;
 * sets tickets.severity to the highest severity among the ticket's alerts (the
 * ticket row is locked first, so concurrent triages of one ticket take turns) and,
 * when ticket_summary is non-empty and the ticket has none yet, its summary; reads
 * tickets.alert_count. All strings BORROWED; ids must be UUIDs.
 * Returns PG_OK, PG_RETRY (database unavailable: try again) or PG_FATAL. */
int agent_store_triage(pg *db, const char *alert_id, const char *ticket_id, const char *severity,
                       const char *ticket_summary, agent_store_result *out);

#endif
