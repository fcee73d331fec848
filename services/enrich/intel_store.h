/* intel_store: the Postgres side of threat intel in the pipeline (migrations 6, 16,
 * 17: alert_lookups, intel_waiting, intel_queue, alerts.risk_base), beside the cache
 * and quota of intel_quota.h.
 *
 * alert_lookups is the record: one row per alert holding every lookup the intel
 * policy asked for it, in order, each with its indicator and state: 'done' (its
 * verdict is in intel_cache), 'pending' (the lookup worker owes it one) or 'error'
 * (with why). One row per alert, not per lookup: a batch of 500 alerts with ~26
 * lookups each writes 500 rows, not 13,000. The view alert_intel shows it one row per
 * lookup for the readers. intel_waiting lists the alerts whose lookup of a
 * (provider, kind, value) was pending when recorded: only misses pay a row, and a
 * resolve finds its alerts there. intel_queue is the durable queue (migration 16): one
 * row per (provider, kind, value) some alert waits for, with its attempts and when it
 * is due; intel_queue_hold when each provider may be asked again. So the worker's
 * work per round is bounded by the keys it takes, not by the backlog, which behind a
 * provider's quota can be millions of waiting alerts.
 * The batch handler writes each alert's lookups, its waiting rows and queues their
 * keys in the batch's transaction (so a SIGKILL loses nothing: a committed alert has
 * its lookups, waiting rows and queued keys, an uncommitted one is redelivered); the
 * worker reads due keys, defers them (quota, 429, backoff) and resolves them, settling
 * the key in each waiting alert's lookups and recomputing its risk score in the same
 * transaction as the key's removal from the queue and the waiting list.
 *
 * Lock order: a batch locks the queue rows of its pending keys in key order; a
 * resolve deletes its key's queue row (so it waits for a batch queueing that key),
 * then locks the waiting alerts (alerts rows) in alert order before rewriting their
 * lookups.
 *
 * Every function is one or two statements; PG_OK / PG_RETRY / PG_FATAL. */
#ifndef HUTCH_INTEL_STORE_H
#define HUTCH_INTEL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pg.h"
#include "services/enrich/intel_policy.h"

/* ---- the batch (inside the frame's transaction) ---- */

/* One lookup of one alert of the batch. */
typedef struct {
    const char *alert_id; /* BORROWED */
    const intel_ask *ask; /* BORROWED */
    bool record;          /* record it in its alert's lookups (false for a redelivered alert) */
    /* out */
    bool hit;  /* a fresh verdict is cached */
    int level; /* intel_level, on hit */
    int score; /* on hit */
    bool not_found;
    char *summary; /* NEW on hit (free) */
    char *link;    /* NEW on hit (free) */
} intel_attach_row;

/* Reads the fresh verdicts of rows[0..n) at now_ms (one statement) and, in a second,
 * records the rows with record set as each alert's lookups (one alert_lookups row per
 * alert that exists and has none yet; a key asked twice for one alert counts once),
 * done (hit) or pending (miss); the pending ones wait in intel_waiting and their keys
 * are queued. */
int intel_store_attach(pg *db, intel_attach_row *rows, size_t n, int64_t now_ms);
void intel_attach_rows_free(intel_attach_row *rows, size_t n); /* the strings only */

/* ---- the worker ---- */

typedef struct {
    intel_provider provider;
    intel_kind kind;
    char value[INTEL_VALUE_MAX + 1];
    int attempts; /* failed attempts so far */
} intel_due;

/* Up to max queued keys due at now_ms whose provider is not on hold, the
 * longest-waiting first. */
int intel_store_due(pg *db, int64_t now_ms, intel_due *out, size_t max, size_t *n);
/* The key is due again at until_ms; attempt: count one more attempt. */
int intel_store_defer(pg *db, const intel_due *k, int64_t until_ms, bool attempt);
/* Provider p is on hold until until_ms (never earlier than a hold already set): its
 * bucket is empty or it is cooling down, so asking about any of its keys before is
 * pointless. One row, whatever its backlog. */
int intel_store_defer_provider(pg *db, intel_provider p, int64_t until_ms);
/* How many keys are queued (the hutch_intel_pending gauge). */
int intel_store_pending_count(pg *db, int64_t *n);

/* One alert touched by a resolve, as the update to publish. */
typedef struct {
    char alert_id[40];
    char ticket_id[40]; /* "" while cluster has not bound it */
    char trace_id[40];
    int64_t created_ms; /* the alert's: the update's Meta id derives from it */
    double risk_score;  /* recomputed (enrich_risk_with_intel) */
    size_t pending;     /* its lookups still pending */
    size_t settled;     /* its lookups done or error: the update's sequence number */
    char *detail_json;  /* NEW: {"risk_score", "pending", "intel": [IntelVerdict as JSON]} */
} intel_update;

/* Inside a transaction the caller began: takes the key off the queue and off the
 * waiting list, marks its pending lookup in each waiting alert's lookups state ("done"
 * or "error", with error, BORROWED, may be NULL), recomputes and stores the risk
 * score of each of those alerts, and returns them in *out (NEW array of *n,
 * intel_updates_free). */
int intel_store_resolve(pg *db, const intel_due *k, const char *state, const char *error, intel_update **out,
                        size_t *n);
void intel_updates_free(intel_update *u, size_t n);

#endif
