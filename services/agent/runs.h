/* The agent's side of action chains: the Postgres records that make a chain's
 * effects happen once, the namespace's persisted attributes, and the alert object the
 * chain sees.
 *
 * The chain runs after the batch's triage committed (the frame's after_commit), on
 * the frame's connection in autocommit, so each record is durable the moment it is
 * written:
 *   - before an action runs, a row (alert_id, action_id) 'started' with its masked
 *     args; after it, 'done' with the (masked) result or 'failed' with the error and
 *     the duration;
 *   - a chain that runs again for the same alert (redelivery after a crash, or the
 *     frame retrying after_commit) meets those rows: a 'done' action answers its
 *     recorded result without running (the chain takes the same path), a 'failed'
 *     one its recorded error, and a 'started' one — the agent died during it, so it
 *     may have half-run — becomes 'interrupted' and answers an error without being
 *     repeated.
 * A namespace's chains are serialised with a session advisory lock on the namespace
 * (alerts of one namespace also share a partition, so this only matters across a
 * rebalance); its live persisted attributes are merged into the alert before the
 * chain (the store's value wins: read under the lock, it is newer than the copy
 * hutch-policy merged upstream) and the chain's persist:true attributes are written
 * after it, with their TTL (namespace_attributes, as hutch-policy writes them). */
#ifndef HUTCH_AGENT_RUNS_H
#define HUTCH_AGENT_RUNS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/msg.h"
#include "common/pg.h"
#include "services/agent/actions.h"
#include "services/agent/chain.h"

/* The executor context of one alert's chain. */
typedef struct {
    pg *db;                              /* BORROWED, autocommit */
    const actions_config *cfg;           /* BORROWED */
    const char *alert_id;                /* BORROWED, a UUID */
    int executed, replayed, interrupted; /* counts, for the log line */
} agent_runs;

/* chain_exec_fn over agent_runs (see above). A database error is CHAIN_RETRY. */
int agent_runs_exec(void *ctx, const chain_action *a, const json_t *alert, json_t **result, char *err, size_t errlen);

/* The chain's alert object for a pipeline alert: the Alert's fields, its payload
 * (Alert.payload_json, else the events row's), severity, ticket_id and new_ticket.
 * NEW in *out; PG_OK, PG_RETRY. */
int agent_runs_alert(pg *db, const Hutch__V1__Alert *a, json_t **out);

/* Locks the namespace (blocking; "" = nothing) and merges its live persisted
 * attributes into alert's attrs (replacing the alert's attributes of the same key).
 * PG_OK or PG_RETRY. */
int agent_runs_namespace_begin(pg *db, const char *ns, json_t *alert);
/* Writes the persist:true attributes of attrs (BORROWED) and unlocks. PG_OK or PG_RETRY
 * (the lock is released either way: it belongs to the session, which a lost
 * connection ends). */
int agent_runs_namespace_end(pg *db, const char *ns, const json_t *attrs, int rc_so_far);

#endif
