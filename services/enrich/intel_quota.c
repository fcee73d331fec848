/* intel_quota: token buckets, settings, cache TTLs and the Postgres statements of
 * threat intel (see the header; the SQL function is migration 4 in
 * common/migrations.c and must keep the rule of intel_bucket_take).
 *
 * Times cross into SQL as Unix milliseconds (to_timestamp($n / 1000.0)) so the
 * tests drive the clock; the services pass ids_now_ms(). */
#include "services/enrich/intel_quota.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL
#define TOKEN_EPS 1e-6

/* The bucket holds at least one token, so a rate below 1/min still lets one through. */
static double capacity(intel_limit lim)
{
    return lim.per_minute > 1 ? lim.per_minute : 1;
}

void intel_bucket_refill(intel_bucket *b, intel_limit lim, int64_t now_ms)
{
    int64_t day = now_ms / DAY_MS;
    if (b->refilled_ms == 0) { /* never used: a full bucket */
        b->tokens = lim.per_minute > 0 ? capacity(lim) : 0;
        b->refilled_ms = now_ms;
        b->day = day;
        b->day_used = 0;
    }
    if (lim.per_minute > 0 && now_ms > b->refilled_ms) {
        b->tokens += (double)(now_ms - b->refilled_ms) * lim.per_minute / 60000.0;
        if (b->tokens > capacity(lim))
            b->tokens = capacity(lim);
    }
    if (now_ms > b->refilled_ms)
        b->refilled_ms = now_ms;
    if (day > b->day) {
        b->day = day;
        b->day_used = 0;
    }
}

int64_t intel_bucket_take(intel_bucket *b, intel_limit lim, int64_t now_ms)
{
    intel_bucket_refill(b, lim, now_ms);
    if (b->cooldown_until_ms > now_ms)
        return b->cooldown_until_ms - now_ms;
    if (lim.per_day > 0 && b->day_used >= lim.per_day)
        return (b->day + 1) * DAY_MS - now_ms;
    /* TOKEN_EPS absorbs floating-point dust (0.666...+0.333... < 1): the SQL side
     * uses the same constant */
    if (lim.per_minute > 0 && b->tokens < 1.0 - TOKEN_EPS) {
        int64_t w = (int64_t)ceil((1.0 - b->tokens) * 60000.0 / lim.per_minute - TOKEN_EPS);
        return w > 0 ? w : 1;
    }
    if (lim.per_minute > 0)
        b->tokens -= 1.0;
    b->day_used++;
    return 0;
}

void intel_bucket_cool(intel_bucket *b, int64_t until_ms)
{
    if (until_ms > b->cooldown_until_ms)
        b->cooldown_until_ms = until_ms;
}

intel_limit intel_default_limit(intel_provider p)
{
    switch (p) {
    case INTEL_VIRUSTOTAL: return (intel_limit){4, 500};
    case INTEL_ABUSEIPDB: return (intel_limit){60, 1000};
    case INTEL_URLSCAN: return (intel_limit){60, 1000};
    case INTEL_RDAP: return (intel_limit){30, 0};
    default: return (intel_limit){60, 0};
    }
}

/* ---- settings ---- */

#define KEY(P, ENV, WHAT)                                                                                             \
    {"HUTCH_INTEL_" ENV "_KEY", CONFIG_SECRET, "", offsetof(intel_config, keys[P]),                                   \
     WHAT " API key; empty: provider off"}
#define URL(P, ENV, DEF) {"HUTCH_INTEL_" ENV "_URL", CONFIG_STRING, DEF, offsetof(intel_config, urls[P]), "base URL"}
#define RATE(P, ENV)                                                                                                  \
    {"HUTCH_INTEL_" ENV "_PER_MINUTE", CONFIG_INT, "-1", offsetof(intel_config, per_minute[P]),                        \
     "requests a minute, shared by every instance (-1: the free tier, 0: no limit)", -1, 1000000},                    \
    {"HUTCH_INTEL_" ENV "_PER_DAY", CONFIG_INT, "-1", offsetof(intel_config, per_day[P]),                              \
     "requests a UTC day (-1: the free tier, 0: no limit)", -1, 100000000}

const config_field intel_config_table[] = {
    KEY(INTEL_VIRUSTOTAL, "VIRUSTOTAL", "VirusTotal v3"),
    URL(INTEL_VIRUSTOTAL, "VIRUSTOTAL", "https://www.virustotal.com/api/v3"),
    RATE(INTEL_VIRUSTOTAL, "VIRUSTOTAL"),
    KEY(INTEL_ABUSEIPDB, "ABUSEIPDB", "AbuseIPDB v2"),
    URL(INTEL_ABUSEIPDB, "ABUSEIPDB", "https://api.abuseipdb.com/api/v2"),
    RATE(INTEL_ABUSEIPDB, "ABUSEIPDB"),
    KEY(INTEL_OTX, "OTX", "AlienVault OTX"),
    URL(INTEL_OTX, "OTX", "https://otx.alienvault.com/api/v1"),
    RATE(INTEL_OTX, "OTX"),
    KEY(INTEL_SHODAN, "SHODAN", "Shodan"),
    URL(INTEL_SHODAN, "SHODAN", "https://api.shodan.io"),
    RATE(INTEL_SHODAN, "SHODAN"),
    KEY(INTEL_URLSCAN, "URLSCAN", "urlscan.io"),
    URL(INTEL_URLSCAN, "URLSCAN", "https://urlscan.io/api/v1"),
    RATE(INTEL_URLSCAN, "URLSCAN"),
    KEY(INTEL_URLHAUS, "ABUSECH", "abuse.ch (URLhaus, ThreatFox, MalwareBazaar) Auth-Key"),
    URL(INTEL_URLHAUS, "URLHAUS", "https://urlhaus-api.abuse.ch/v1"),
    RATE(INTEL_URLHAUS, "URLHAUS"),
    URL(INTEL_THREATFOX, "THREATFOX", "https://threatfox-api.abuse.ch/api/v1"),
    RATE(INTEL_THREATFOX, "THREATFOX"),
    URL(INTEL_MALWAREBAZAAR, "MALWAREBAZAAR", "https://mb-api.abuse.ch/api/v1"),
    RATE(INTEL_MALWAREBAZAAR, "MALWAREBAZAAR"),
    URL(INTEL_RDAP, "RDAP", "https://rdap.org"),
    RATE(INTEL_RDAP, "RDAP"),
    {"HUTCH_INTEL_RDAP", CONFIG_BOOL, "1", offsetof(intel_config, rdap_enabled), "ask RDAP (no key needed)"},
    {"HUTCH_INTEL_CACHE_TTL", CONFIG_DURATION_MS, "24h", offsetof(intel_config, ttl_ms),
     "how long a verdict is kept", 1000, 366LL * DAY_MS},
    {"HUTCH_INTEL_NOT_FOUND_TTL", CONFIG_DURATION_MS, "6h", offsetof(intel_config, not_found_ttl_ms),
     "how long a provider's \"not found\" is kept", 1000, 366LL * DAY_MS},
    {"HUTCH_INTEL_RDAP_TTL", CONFIG_DURATION_MS, "168h", offsetof(intel_config, rdap_ttl_ms),
     "how long an RDAP answer is kept", 1000, 366LL * DAY_MS},
    {"HUTCH_INTEL_TIMEOUT", CONFIG_DURATION_MS, "20s", offsetof(intel_config, timeout_ms),
     "timeout of one provider request", 100, 600000},
    CONFIG_END,
};

const char *intel_config_key(const intel_config *cfg, intel_provider p)
{
    if (p == INTEL_THREATFOX || p == INTEL_MALWAREBAZAAR)
        p = INTEL_URLHAUS;
    const char *k = (unsigned)p < INTEL_PROVIDER_COUNT ? cfg->keys[p] : NULL;
    return k ? k : "";
}

const char *intel_config_url(const intel_config *cfg, intel_provider p)
{
    const char *u = (unsigned)p < INTEL_PROVIDER_COUNT ? cfg->urls[p] : NULL;
    return u && *u ? u : intel_provider_default_url(p);
}

bool intel_config_enabled(const intel_config *cfg, intel_provider p)
{
    if (p == INTEL_RDAP)
        return cfg->rdap_enabled;
    return *intel_config_key(cfg, p) != 0;
}

intel_limit intel_config_limit(const intel_config *cfg, intel_provider p)
{
    intel_limit lim = intel_default_limit(p);
    if (cfg->per_minute[p] >= 0)
        lim.per_minute = (double)cfg->per_minute[p];
    if (cfg->per_day[p] >= 0)
        lim.per_day = cfg->per_day[p];
    return lim;
}

int64_t intel_cache_ttl_ms(const intel_config *cfg, intel_provider p, bool not_found)
{
    return p == INTEL_RDAP ? cfg->rdap_ttl_ms : not_found ? cfg->not_found_ttl_ms : cfg->ttl_ms;
}

/* ---- Postgres ---- */

int intel_quota_take(pg *db, intel_provider p, intel_limit lim, int64_t now_ms, int64_t *wait_ms)
{
    char pm[32], pd[32], now[32];
    snprintf(pm, sizeof pm, "%.17g", lim.per_minute);
    snprintf(pd, sizeof pd, "%" PRId64, lim.per_day);
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    const char *params[] = {intel_provider_name(p), pm, pd, now};
    PGresult *r = NULL;
    int rc = pg_exec(db, &r, "SELECT intel_quota_take($1, $2::float8, $3::bigint, $4::bigint)", 4, params);
    if (rc != PG_OK)
        return rc;
    *wait_ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return PG_OK;
}

int intel_quota_cool(pg *db, intel_provider p, int64_t until_ms)
{
    char until[32];
    snprintf(until, sizeof until, "%" PRId64, until_ms);
    const char *params[] = {intel_provider_name(p), until};
    return pg_exec(db, NULL,
                   "INSERT INTO intel_quota (provider, tokens, refilled_ms, day, day_used, cooldown_until_ms)"
                   " VALUES ($1, 0, 0, 0, 0, $2::bigint)"
                   " ON CONFLICT (provider) DO UPDATE SET cooldown_until_ms ="
                   "   greatest(intel_quota.cooldown_until_ms, EXCLUDED.cooldown_until_ms)",
                   2, params);
}

int intel_quota_read(pg *db, intel_provider p, intel_bucket *out)
{
    memset(out, 0, sizeof *out);
    const char *params[] = {intel_provider_name(p)};
    PGresult *r = NULL;
    int rc = pg_exec(db, &r,
                     "SELECT tokens, refilled_ms, day, day_used, cooldown_until_ms FROM intel_quota WHERE provider = $1",
                     1, params);
    if (rc != PG_OK)
        return rc;
    int found = PQntuples(r) > 0;
    if (found) {
        out->tokens = strtod(PQgetvalue(r, 0, 0), NULL);
        out->refilled_ms = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        out->day = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        out->day_used = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        out->cooldown_until_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    }
    PQclear(r);
    return found;
}

static void verdict_from_row(PGresult *r, int row, int col, intel_provider p, const intel_indicator *ind,
                             intel_verdict *out)
{
    memset(out, 0, sizeof *out);
    out->provider = p;
    out->kind = ind->kind;
    snprintf(out->value, sizeof out->value, "%s", ind->value);
    int lv = intel_level_parse(PQgetvalue(r, row, col));
    out->verdict = lv < 0 ? INTEL_UNKNOWN : (intel_level)lv;
    out->score = atoi(PQgetvalue(r, row, col + 1));
    snprintf(out->summary, sizeof out->summary, "%s", PQgetvalue(r, row, col + 2));
    snprintf(out->link, sizeof out->link, "%s", PQgetvalue(r, row, col + 3));
    out->not_found = !strcmp(PQgetvalue(r, row, col + 4), "true"); /* boolean::text */
}

/* Single flight in one statement. The CTE's INSERT either creates the row or takes an
 * expired claim of a stale row; the SELECT (the statement's snapshot: the row as it
 * was before) tells a fresh verdict from someone else's claim. A concurrent first
 * insert of the same key makes the loser's INSERT do nothing and its SELECT see no
 * row: zero rows = BUSY. */
int intel_cache_claim(pg *db, intel_provider p, const intel_indicator *ind, const char *holder, int64_t now_ms,
                      int64_t claim_ms, intel_verdict *out)
{
    char now[32], until[32];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(until, sizeof until, "%" PRId64, now_ms + claim_ms);
    const char *params[] = {intel_provider_name(p), intel_kind_name(ind->kind), ind->value, holder, now, until};
    PGresult *r = NULL;
    int rc = pg_exec(db, &r,
                     "WITH claim AS ("
                     "  INSERT INTO intel_cache AS c (provider, kind, value, claimed_by, claimed_until_ms)"
                     "  VALUES ($1, $2, $3, $4, $6::bigint)"
                     "  ON CONFLICT (provider, kind, value) DO UPDATE"
                     "    SET claimed_by = EXCLUDED.claimed_by, claimed_until_ms = EXCLUDED.claimed_until_ms"
                     "    WHERE (c.expires_at IS NULL OR c.expires_at <= to_timestamp($5::bigint / 1000.0))"
                     "      AND (c.claimed_until_ms IS NULL OR c.claimed_until_ms <= $5::bigint)"
                     "  RETURNING 1)"
                     " SELECT 'claimed', NULL, NULL, NULL, NULL, NULL FROM claim"
                     " UNION ALL"
                     " SELECT CASE WHEN c.expires_at > to_timestamp($5::bigint / 1000.0) THEN 'hit' ELSE 'busy' END,"
                     "   c.verdict, c.score::text, c.summary, c.link, c.not_found::text"
                     "   FROM intel_cache c WHERE c.provider = $1 AND c.kind = $2 AND c.value = $3"
                     "   AND NOT EXISTS (SELECT 1 FROM claim)",
                     6, params);
    if (rc != PG_OK)
        return rc;
    int res = INTEL_CACHE_BUSY;
    if (PQntuples(r) > 0) {
        const char *s = PQgetvalue(r, 0, 0);
        if (!strcmp(s, "claimed")) {
            res = INTEL_CACHE_CLAIMED;
        } else if (!strcmp(s, "hit")) {
            res = INTEL_CACHE_HIT;
            if (out)
                verdict_from_row(r, 0, 1, p, ind, out);
        }
    }
    PQclear(r);
    return res;
}

/* The batch form of intel_cache_claim: k numbers the keys; old is every key's row
 * as it was (the statement's snapshot); claim takes what is free, distinct keys in
 * lock order. */
int intel_cache_claim_many(pg *db, intel_cache_key *keys, size_t n, const char *holder, int64_t now_ms,
                           int64_t claim_ms)
{
    if (n == 0)
        return PG_OK;
    pg_array prov, kind, val;
    pg_array_init(&prov);
    pg_array_init(&kind);
    pg_array_init(&val);
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&prov, intel_provider_name(keys[i].provider));
        pg_array_add(&kind, intel_kind_name(keys[i].ind->kind));
        pg_array_add(&val, keys[i].ind->value);
    }
    char now[32], until[32];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(until, sizeof until, "%" PRId64, now_ms + claim_ms);
    int rc = PG_RETRY; /* out of memory: try the batch again later */
    PGresult *r = NULL;
    if (!pg_array_failed(&prov) && !pg_array_failed(&kind) && !pg_array_failed(&val)) {
        const char *params[] = {pg_array_text(&prov), pg_array_text(&kind), pg_array_text(&val), holder, now, until};
        rc = pg_exec(db, &r,
                     "WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY"
                     "   AS k(provider, kind, value, i)),"
                     " claim AS ("
                     "  INSERT INTO intel_cache AS c (provider, kind, value, claimed_by, claimed_until_ms)"
                     "  SELECT DISTINCT provider, kind, value, $4, $6::bigint FROM k ORDER BY provider, kind, value"
                     "  ON CONFLICT (provider, kind, value) DO UPDATE"
                     "    SET claimed_by = EXCLUDED.claimed_by, claimed_until_ms = EXCLUDED.claimed_until_ms"
                     "    WHERE (c.expires_at IS NULL OR c.expires_at <= to_timestamp($5::bigint / 1000.0))"
                     "      AND (c.claimed_until_ms IS NULL OR c.claimed_until_ms <= $5::bigint)"
                     "  RETURNING provider, kind, value)"
                     " SELECT k.i,"
                     "   CASE WHEN EXISTS (SELECT 1 FROM claim cl WHERE (cl.provider, cl.kind, cl.value) ="
                     "                     (k.provider, k.kind, k.value)) THEN 'claimed'"
                     "        WHEN o.expires_at > to_timestamp($5::bigint / 1000.0) THEN 'hit' ELSE 'busy' END,"
                     "   o.verdict, o.score::text, o.summary, o.link, o.not_found::text"
                     " FROM k LEFT JOIN intel_cache o"
                     "   ON (o.provider, o.kind, o.value) = (k.provider, k.kind, k.value)"
                     " ORDER BY k.i",
                     6, params);
    }
    pg_array_free(&prov);
    pg_array_free(&kind);
    pg_array_free(&val);
    if (rc != PG_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        keys[i].result = INTEL_CACHE_BUSY;
    for (int row = 0; row < PQntuples(r); row++) {
        long i = strtol(PQgetvalue(r, row, 0), NULL, 10) - 1;
        if (i < 0 || (size_t)i >= n)
            continue;
        const char *s = PQgetvalue(r, row, 1);
        if (!strcmp(s, "claimed")) {
            keys[i].result = INTEL_CACHE_CLAIMED;
        } else if (!strcmp(s, "hit")) {
            keys[i].result = INTEL_CACHE_HIT;
            verdict_from_row(r, row, 2, keys[i].provider, keys[i].ind, &keys[i].verdict);
        }
    }
    PQclear(r);
    return PG_OK;
}

int intel_cache_store(pg *db, const intel_verdict *v, const char *raw_json, const char *holder, int64_t now_ms,
                      int64_t ttl_ms)
{
    char now[32], exp[32], score[16];
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(exp, sizeof exp, "%" PRId64, now_ms + ttl_ms);
    snprintf(score, sizeof score, "%d", v->score);
    const char *params[] = {intel_provider_name(v->provider),
                            intel_kind_name(v->kind),
                            v->value,
                            intel_level_name(v->verdict),
                            score,
                            v->summary,
                            v->link,
                            v->not_found ? "true" : "false",
                            raw_json,
                            now,
                            exp,
                            holder};
    /* The row exists (the claim made it); an upsert all the same, so a caller that
     * lost its claim to expiry still records what it learnt. */
    return pg_exec(db, NULL,
                   "INSERT INTO intel_cache AS c (provider, kind, value, verdict, score, summary, link, not_found,"
                   "  body, fetched_at, expires_at)"
                   " VALUES ($1, $2, $3, $4, $5::int, $6, $7, $8::boolean, $9::jsonb,"
                   "  to_timestamp($10::bigint / 1000.0), to_timestamp($11::bigint / 1000.0))"
                   " ON CONFLICT (provider, kind, value) DO UPDATE SET verdict = EXCLUDED.verdict,"
                   "  score = EXCLUDED.score, summary = EXCLUDED.summary, link = EXCLUDED.link,"
                   "  not_found = EXCLUDED.not_found, body = EXCLUDED.body, fetched_at = EXCLUDED.fetched_at,"
                   "  expires_at = EXCLUDED.expires_at,"
                   "  claimed_by = CASE WHEN c.claimed_by = $12 THEN NULL ELSE c.claimed_by END,"
                   "  claimed_until_ms = CASE WHEN c.claimed_by = $12 THEN NULL ELSE c.claimed_until_ms END",
                   12, params);
}

int intel_cache_release(pg *db, intel_provider p, const intel_indicator *ind, const char *holder)
{
    const char *params[] = {intel_provider_name(p), intel_kind_name(ind->kind), ind->value, holder};
    return pg_exec(db, NULL,
                   "UPDATE intel_cache SET claimed_by = NULL, claimed_until_ms = NULL"
                   " WHERE provider = $1 AND kind = $2 AND value = $3 AND claimed_by = $4",
                   4, params);
}
