/* intel_worker: enrich's threat-intel lookups, off the consumer's path.
 *
 * The batch handler never waits on a provider: it records each lookup the intel
 * policy asked for in alert_lookups (intel_store.h), 'done' when the cache had a fresh
 * verdict, else 'pending', and the alert goes on at once. This worker drains the
 * pending rows: HUTCH_INTEL_CONCURRENCY threads, each with its own Postgres
 * connection, loop over the due keys (provider, kind, value) and for each:
 *   1. claim it in the shared cache (single flight across threads and processes:
 *      BUSY -> another holder asks, try the next key; HIT -> a verdict is there);
 *   2. take a token of the provider's shared bucket (intel_quota.h); a refusal
 *      defers every pending lookup of that provider to when the bucket has one (no
 *      one sleeps on it, and a backlog is not retried key by key at each refill);
 *   3. ask the provider (intel_client.h): OK -> store the verdict in the cache;
 *      429 -> cool the provider down for everyone for Retry-After and defer its
 *      lookups as long;
 *      5xx / timeout -> defer with exponential backoff (1 s, 2 s, 4 s ... 5 min), up
 *      to HUTCH_INTEL_MAX_ATTEMPTS attempts, then 'error'; another failure -> 'error';
 *   4. resolve: in one transaction, mark the key's rows, recompute the risk score of
 *      every alert they belong to, and publish one TicketEvent kind "intel" per alert
 *      on hutch.tickets.events (acknowledged before the commit; a crash in between
 *      re-sends the same message id: "<alert id>/intel/<settled rows>").
 * A SIGKILL loses nothing: rows stay pending, a claim expires after its TTL, and the
 * next start (any instance) resumes them. The consumer wakes the worker after each
 * commit (intel_worker_wake); otherwise it polls every HUTCH_INTEL_POLL.
 *
 * Metrics (one place, here): hutch_intel_lookups_total{provider,result} with result
 * hit (a cached verdict, in the batch or at the claim), miss (asked the provider, got a
 * verdict), error (the provider failed: retried or given up), rate_limited (a refusal
 * of the shared bucket or a 429), skipped (the policy asked what is never asked: not
 * public, provider off or not answering about the kind); hutch_intel_cache_hit_percent
 * (hits / (hits + misses)); hutch_intel_quota_minute_left{provider} and
 * hutch_intel_quota_day_left{provider} after each take; hutch_intel_pending. */
#ifndef HUTCH_INTEL_WORKER_H
#define HUTCH_INTEL_WORKER_H

#include <stdint.h>

#include "services/enrich/intel_quota.h"

typedef struct {
    const intel_config *cfg;  /* BORROWED for the worker's life */
    const char *database_url; /* BORROWED during start */
    const char *brokers;      /* BORROWED during start */
    const char *instance;     /* BORROWED during start: the claims' holder prefix */
    int threads;              /* >= 1 */
    int max_attempts;         /* >= 1 */
    int64_t poll_ms;          /* idle poll */
} intel_worker_opts;

typedef struct intel_worker intel_worker;

/* Connects (Postgres per thread, one Kafka producer) and starts the threads. NEW
 * (intel_worker_stop), or NULL with err. */
intel_worker *intel_worker_start(const intel_worker_opts *opts, char *err, size_t errlen);
/* New pending rows were committed: look now. Any thread. NULL is fine. */
void intel_worker_wake(intel_worker *w);
/* Stops the threads after the lookup in hand, joins them, frees. NULL is fine. */
void intel_worker_stop(intel_worker *w);

/* The lookup counters (thread-safe). result: one of the names above. */
void intel_metrics_count(intel_provider p, const char *result, int64_t n);

#endif
