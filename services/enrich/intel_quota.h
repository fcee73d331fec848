/* intel_quota: the rate limits and the cache of threat-intel lookups, shared by every
 * process through Postgres (migration 4: intel_quota, intel_cache, intel_quota_take).
 *
 * Rate limit, per provider: a token bucket of per_minute tokens refilled continuously
 * (per_minute / 60 a second) and a count per UTC day (providers reset daily quotas at
 * 00:00 UTC), plus a cool-down (a 429's Retry-After) during which nothing is asked.
 * A limit <= 0 means none. intel_bucket_take is the rule as a pure function; the SQL
 * function intel_quota_take (migrations.c) is the same rule on the shared row, one
 * statement per take, under the row's lock — test_intel runs one table of cases
 * through both. The caller never sleeps on a refusal: it gets the wait and goes on.
 *
 * Cache, per (provider, kind, normalised value): the verdict, the raw answer (jsonb,
 * for the agent; it never holds a key: keys travel in headers or the URL, never in
 * answers) and expires_at = fetched_at + TTL (intel_cache_ttl_s: positive 24 h, not
 * found 6 h, RDAP 7 days, settings). Single flight: intel_cache_claim is one
 * statement that either finds a fresh verdict (HIT), takes the row's claim for
 * claim_ms (CLAIMED: this caller asks the provider, then intel_cache_store or
 * intel_cache_release), or finds another caller's live claim (BUSY: ask nobody,
 * come back later). A claim whose holder died expires after claim_ms. */
#ifndef HUTCH_INTEL_QUOTA_H
#define HUTCH_INTEL_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/pg.h"
#include "services/enrich/intel_provider.h"

typedef struct {
    double per_minute; /* tokens a minute; <= 0: no minute limit */
    int64_t per_day;   /* requests a UTC day; <= 0: no daily limit */
} intel_limit;

typedef struct {
    double tokens;             /* minute bucket, 0..per_minute */
    int64_t refilled_ms;       /* when tokens was last computed (Unix ms); 0 = never used */
    int64_t day;               /* UTC day number (Unix ms / 86400000) of day_used */
    int64_t day_used;
    int64_t cooldown_until_ms; /* 0 = none */
} intel_bucket;

/* Takes one request's token at now_ms (Unix ms). Returns 0 (allowed; state updated)
 * or the milliseconds to wait before asking again (> 0; state refilled only). */
int64_t intel_bucket_take(intel_bucket *b, intel_limit lim, int64_t now_ms);
/* Brings b up to now_ms (refill, new UTC day) without taking: what is left now. */
void intel_bucket_refill(intel_bucket *b, intel_limit lim, int64_t now_ms);
/* A 429: nothing is asked before until_ms (a later cool-down wins). */
void intel_bucket_cool(intel_bucket *b, int64_t until_ms);

/* The free tiers (EXTERNAL-APIS.md §5): VirusTotal 4/min 500/day, AbuseIPDB 1000/day,
 * Shodan 60/min, OTX 60/min, urlscan 60/min 1000/day, abuse.ch 60/min, RDAP 30/min. */
intel_limit intel_default_limit(intel_provider p);

/* The settings of threat intel (config_load table intel_config_table; strings NEW,
 * config_free). keys[] are CONFIG_SECRET: masked in --help, never logged. */
typedef struct {
    char *keys[INTEL_PROVIDER_COUNT]; /* "" = provider off; abuse.ch's in keys[INTEL_URLHAUS] */
    char *urls[INTEL_PROVIDER_COUNT]; /* base URLs */
    bool rdap_enabled;
    int64_t per_minute[INTEL_PROVIDER_COUNT]; /* -1 = the free tier */
    int64_t per_day[INTEL_PROVIDER_COUNT];
    int64_t ttl_ms, not_found_ttl_ms, rdap_ttl_ms, timeout_ms;
} intel_config;
extern const config_field intel_config_table[];

/* True if provider p is enabled by cfg (a key set; RDAP: rdap_enabled). abuse.ch's
 * three share HUTCH_INTEL_ABUSECH_KEY. */
bool intel_config_enabled(const intel_config *cfg, intel_provider p);
/* The key of p (BORROWED from cfg; "" for none): abuse.ch's three share one. */
const char *intel_config_key(const intel_config *cfg, intel_provider p);
/* The base URL of p (BORROWED from cfg). */
const char *intel_config_url(const intel_config *cfg, intel_provider p);
intel_limit intel_config_limit(const intel_config *cfg, intel_provider p);

/* How long a verdict is kept, in ms: rdap_ttl for RDAP, not_found_ttl for "not
 * found", else ttl. */
int64_t intel_cache_ttl_ms(const intel_config *cfg, intel_provider p, bool not_found);

/* ---- Postgres (one statement each; PG_OK / PG_RETRY / PG_FATAL) ---- */

/* intel_quota_take at now_ms; *wait_ms = 0 when allowed. */
int intel_quota_take(pg *db, intel_provider p, intel_limit lim, int64_t now_ms, int64_t *wait_ms);
int intel_quota_cool(pg *db, intel_provider p, int64_t until_ms);
/* The shared bucket of p as stored (not refilled): 1 and *out, 0 when p was never
 * used (out zeroed), or a PG_* error. */
int intel_quota_read(pg *db, intel_provider p, intel_bucket *out);

enum { INTEL_CACHE_HIT = 1, INTEL_CACHE_CLAIMED = 2, INTEL_CACHE_BUSY = 3 };
/* Returns INTEL_CACHE_* (out filled on HIT) or a PG_* error. holder (BORROWED) names
 * the claimant (an instance id). */
int intel_cache_claim(pg *db, intel_provider p, const intel_indicator *ind, const char *holder, int64_t now_ms,
                      int64_t claim_ms, intel_verdict *out);
/* intel_cache_claim for a batch in one statement (what enrich's batch handler
 * needs: one round trip for every (provider, indicator) of a batch of alerts).
 * keys[i].provider and .ind (BORROWED) are the input; .result (INTEL_CACHE_*) and,
 * on HIT, .verdict are the output. A key given twice gets the same result twice
 * (ask once). Rows are claimed in (provider, kind, value) order, so concurrent
 * batches over overlapping keys do not deadlock. Returns PG_OK or a PG_* error. */
typedef struct {
    intel_provider provider;
    const intel_indicator *ind;
    int result;
    intel_verdict verdict;
} intel_cache_key;
int intel_cache_claim_many(pg *db, intel_cache_key *keys, size_t n, const char *holder, int64_t now_ms,
                           int64_t claim_ms);
/* Stores v with its raw answer (BORROWED JSON text, may be NULL) for ttl_ms and drops
 * holder's claim. */
int intel_cache_store(pg *db, const intel_verdict *v, const char *raw_json, const char *holder, int64_t now_ms,
                      int64_t ttl_ms);
/* Drops holder's claim without a verdict (the lookup failed): the next caller asks. */
int intel_cache_release(pg *db, intel_provider p, const intel_indicator *ind, const char *holder);

#endif
