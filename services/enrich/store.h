/* enrich's Postgres statements, inside the consumer frame's batch transaction (which
 * claimed the batch's message ids): one statement for the alerts' severity and risk
 * score, one for all their indicators. */
#ifndef HUTCH_ENRICH_STORE_H
#define HUTCH_ENRICH_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/pg.h"
#include "services/enrich/enrich.h"

/* One enriched alert. All BORROWED. */
typedef struct {
    const char *alert_id; /* canonical UUID */
    const char *severity; /* level name */
    double risk_score;
    double risk_base; /* the score before threat-intel verdicts (enrich_risk_score) */
    const enrich_indicators *indicators;
    bool found; /* out: the alert row exists (else dead-letter it) */
} enrich_row;

/* Writes rows[0..n). PG_OK (each row's `found` set), PG_RETRY or PG_FATAL. */
int enrich_store(pg *db, enrich_row *rows, size_t n);

#endif
