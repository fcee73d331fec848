/* enrich's Postgres statements: one transaction per consumed alert, holding the
 * processed_messages row, the indicators and the alert's risk score, so a
 * redelivered alert changes nothing the second time. */
#ifndef HUTCH_ENRICH_STORE_H
#define HUTCH_ENRICH_STORE_H

#include <stdbool.h>

#include "common/pg.h"
#include "services/enrich/enrich.h"

typedef enum {
    ENRICH_STORED = 0,        /* committed: indicators and score written */
    ENRICH_ALREADY = 1,       /* committed nothing new: this message was processed before */
    ENRICH_NO_ALERT = 2,      /* rolled back: the alert row does not exist (dead-letter) */
} enrich_store_outcome;

/* All strings BORROWED. message_id: the input Meta id; alert_id: a canonical UUID.
 * Returns 0 with *outcome set, or PG_RETRY / PG_FATAL (rolled back). */
int enrich_store(pg *db, const char *message_id, const char *alert_id, const enrich_indicators *ind,
                 double risk_score, enrich_store_outcome *outcome);

#endif
