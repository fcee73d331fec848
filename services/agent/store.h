/* The agent's Postgres statements, inside the consumer frame's batch transaction
 * (which claimed the batch's message ids): the tickets of the batch are locked in one
 * statement (ticket id order), raised to the highest severity among their alerts and
 * given a summary when they have none, and the alerts are stamped triaged. */
#ifndef HUTCH_AGENT_STORE_H
#define HUTCH_AGENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pg.h"

/* One alert of the batch. Strings BORROWED; ids must be UUIDs. */
typedef struct {
    const char *alert_id;
    const char *ticket_id;
    const char *severity;       /* a severity name */
    const char *ticket_summary; /* "" unless this alert opened its ticket */
    bool fresh;                 /* first delivery: its effects are written (else only read) */
    bool ticket_found;          /* out: false if the ticket row is missing */
    int32_t alert_count;        /* out: tickets.alert_count when the batch ran */
} agent_triage_row;

/* Records the batch's triage. PG_OK (outs set), PG_RETRY or PG_FATAL. */
int agent_store_triage(pg *db, agent_triage_row *rows, size_t n);

#endif
