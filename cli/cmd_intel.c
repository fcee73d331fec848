/* hutchctl intel lookup: what threat intel says about one value, asked the way the
 * pipeline will ask (services/enrich/intel_*.c: the same normalisation, requests,
 * verdicts, shared rate limits and cache).
 *
 *   intel lookup [--provider P] [--no-cache] VALUE
 *
 * VALUE may be defanged (hxxp://, 1.2.3[.]4). A value that is never asked about
 * (private, loopback, documentation ranges, a name with no public suffix) is said so
 * and asks nobody. Without --provider every enabled provider that takes the kind is
 * asked (a provider is enabled by its key, HUTCH_INTEL_*_KEY; RDAP needs none).
 * With HUTCH_DATABASE_URL set, each provider's answer comes from the shared cache
 * when fresh; otherwise the provider is asked within the shared rate limit (a
 * refusal says how long to wait: hutchctl never sleeps on a quota) and the answer
 * is cached for everyone. --no-cache skips the cache's read and write, not the rate
 * limit. Without a database there is no cache and no shared limit.
 * Exit 1 when every provider asked failed. Keys never appear in the output.
 *
 *   intel quota
 *
 * The shared rate limits (below). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "common/config.h"
#include "common/ids.h"
#include "services/enrich/intel_client.h"
#include "services/enrich/intel_quota.h"

static const col_spec lookup_cols[] = {
    {"provider", "PROVIDER", COL_TEXT, 0},
    {"result", "RESULT", COL_TEXT, 0},
    {"verdict", "VERDICT", COL_TEXT, 0},
    {"score", "SCORE", COL_TEXT, 0},
    {"summary", "SUMMARY", COL_TEXT, 90},
    {"link", "LINK", COL_TEXT, 0},
    {NULL},
};

/* One provider's row: result is "answer", "cache", "in_flight", "rate_limited",
 * "error". */
static json_t *row(intel_provider p, const char *result, const intel_verdict *v, const char *note)
{
    json_t *r = json_pack("{s:s, s:s}", "provider", intel_provider_name(p), "result", result);
    if (v) {
        json_object_set_new(r, "verdict", json_string(intel_level_name(v->verdict)));
        json_object_set_new(r, "score", json_integer(v->score));
        json_object_set_new(r, "not_found", json_boolean(v->not_found));
        json_object_set_new(r, "summary", json_string(v->summary));
        json_object_set_new(r, "link", json_string(v->link));
    } else if (note) {
        json_object_set_new(r, "summary", json_string(note));
    }
    return r;
}

/* Asks p, within the shared limit and through the cache when db != NULL. Returns the
 * row (NEW) and sets *failed for an error. */
static json_t *ask(const intel_config *cfg, pg *db, bool use_cache, intel_provider p, const intel_indicator *ind,
                   bool *failed)
{
    char holder[64], err[512];
    snprintf(holder, sizeof holder, "hutchctl-%ld", (long)getpid());
    intel_verdict v;
    int64_t now = ids_now_ms();
    bool claimed = false;
    if (db && use_cache) {
        int cl = intel_cache_claim(db, p, ind, holder, now, cfg->timeout_ms + 5000, &v);
        if (cl == INTEL_CACHE_HIT)
            return row(p, "cache", &v, NULL);
        if (cl == INTEL_CACHE_BUSY)
            return row(p, "in_flight", NULL, "another process is asking right now; try again in a moment");
        if (cl < 0) {
            *failed = true;
            return row(p, "error", NULL, "the cache could not be read (see the log line above)");
        }
        claimed = true;
    }
    json_t *r = NULL;
    if (db) {
        int64_t wait = 0;
        if (intel_quota_take(db, p, intel_config_limit(cfg, p), now, &wait) != PG_OK) {
            *failed = true;
            r = row(p, "error", NULL, "the rate limit could not be read (see the log line above)");
            goto out;
        }
        if (wait > 0) {
            char note[128];
            snprintf(note, sizeof note, "rate limit reached: next request allowed in %.1f s", (double)wait / 1000.0);
            r = row(p, "rate_limited", NULL, note);
            goto out;
        }
    }
    char *raw = NULL;
    int64_t retry_ms = 0;
    intel_lookup_opts o = {.timeout_ms = cfg->timeout_ms, .now_ms = now};
    int rc = intel_lookup(p, intel_config_url(cfg, p), intel_config_key(cfg, p), ind, &o, &v, &raw, &retry_ms, err,
                          sizeof err);
    if (rc == INTEL_LOOKUP_OK) {
        if (claimed && intel_cache_store(db, &v, raw, holder, now, intel_cache_ttl_ms(cfg, p, v.not_found)) == PG_OK)
            claimed = false;
        free(raw);
        r = row(p, "answer", &v, NULL);
        goto out;
    }
    if (rc == INTEL_LOOKUP_RATE_LIMITED) {
        if (db)
            intel_quota_cool(db, p, now + retry_ms);
        char note[600];
        snprintf(note, sizeof note, "%s; cooling down for %.0f s", err, (double)retry_ms / 1000.0);
        r = row(p, "rate_limited", NULL, note);
        goto out;
    }
    *failed = true;
    r = row(p, "error", NULL, err);
out:
    if (claimed)
        intel_cache_release(db, p, ind, holder);
    return r;
}

int cmd_intel_lookup(cli *c)
{
    int pick = -1;
    if (c->provider && (pick = intel_provider_parse(c->provider)) < 0) {
        cli_error("--provider wants virustotal, abuseipdb, otx, shodan, urlscan, urlhaus, threatfox, "
                  "malwarebazaar or rdap");
        return CLI_USAGE;
    }
    intel_config cfg;
    char err[2048];
    if (config_load(intel_config_table, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "hutchctl: bad threat-intel settings:\n%s", err);
        config_free(intel_config_table, &cfg);
        return CLI_FAIL;
    }
    psl_ctx_t *psl = psl_latest(NULL);
    const psl_ctx_t *list = psl ? psl : psl_builtin();
    intel_indicator ind;
    int nrc = intel_normalize(list, c->args[0], &ind);
    psl_free(psl);
    int rc = CLI_OK;
    json_t *doc = NULL;
    if (nrc == INTEL_NORM_INVALID) {
        cli_error("\"%s\" is not an IP address, domain, URL, md5/sha1/sha256 or ASN", c->args[0]);
        rc = CLI_FAIL;
        goto done;
    }
    doc = json_pack("{s:s, s:s}", "kind", intel_kind_name(ind.kind), "value", ind.value);
    if (ind.domain[0])
        json_object_set_new(doc, "domain", json_string(ind.domain));
    json_t *rows = json_array();
    json_object_set_new(doc, "lookups", rows);
    if (nrc == INTEL_NORM_NOT_PUBLIC) {
        json_object_set_new(doc, "asked", json_false());
        json_object_set_new(doc, "reason", json_string("not public: private, reserved or documentation ranges and "
                                                       "names without a public suffix are never asked about"));
        goto print;
    }
    json_object_set_new(doc, "asked", json_true());
    pg *db = NULL;
    if (c->cfg.database_url && *c->cfg.database_url && !(db = cli_db(c))) {
        rc = CLI_FAIL;
        goto done;
    }
    int asked = 0, failed = 0;
    for (int p = 0; p < INTEL_PROVIDER_COUNT; p++) {
        if (pick >= 0 && p != pick)
            continue;
        if (!intel_provider_supports((intel_provider)p, ind.kind)) {
            if (pick >= 0) {
                cli_error("%s does not answer about a %s", intel_provider_name(p), intel_kind_name(ind.kind));
                rc = CLI_FAIL;
                goto done;
            }
            continue;
        }
        if (!intel_config_enabled(&cfg, (intel_provider)p)) {
            if (pick >= 0) {
                cli_error("%s is not enabled (%s)", intel_provider_name(p),
                          p == INTEL_RDAP ? "HUTCH_INTEL_RDAP=0" : "its HUTCH_INTEL_*_KEY is not set");
                rc = CLI_FAIL;
                goto done;
            }
            continue;
        }
        bool f = false;
        json_array_append_new(rows, ask(&cfg, db, !c->no_cache, (intel_provider)p, &ind, &f));
        asked++;
        failed += f;
    }
    if (asked == 0)
        json_object_set_new(doc, "reason", json_string("no enabled provider answers about this kind"));
    if (asked > 0 && failed == asked)
        rc = CLI_FAIL;
print:
    if (c->json) {
        output_json(stdout, doc);
    } else {
        if (ind.domain[0] && strcmp(ind.domain, ind.value))
            printf("%s %s (domain %s)\n", intel_kind_name(ind.kind), ind.value, ind.domain);
        else
            printf("%s %s\n", intel_kind_name(ind.kind), ind.value);
        if (json_object_get(doc, "reason"))
            printf("%s\n", json_string_value(json_object_get(doc, "reason")));
        else
            output_table(stdout, json_object_get(doc, "lookups"), lookup_cols);
    }
done:
    json_decref(doc);
    config_free(intel_config_table, &cfg);
    return rc;
}

/* hutchctl intel quota: per provider, the shared rate limit as every enrich instance
 * and hutchctl see it (intel_quota rows, refilled to now): what is left this minute
 * and today, the cool-down after a 429, and how long until the next request may go. */
static const col_spec quota_cols[] = {
    {"provider", "PROVIDER", COL_TEXT, 0},
    {"enabled", "ENABLED", COL_TEXT, 0},
    {"minute_left", "MINUTE LEFT", COL_TEXT, 0},
    {"per_minute", "PER MINUTE", COL_TEXT, 0},
    {"today_used", "TODAY USED", COL_TEXT, 0},
    {"per_day", "PER DAY", COL_TEXT, 0},
    {"cooling_down_until", "COOLING DOWN UNTIL", COL_TIME, 0},
    {"next_request_in_s", "NEXT IN (S)", COL_TEXT, 0},
    {NULL},
};

static json_t *iso_ms(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char buf[40];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

int cmd_intel_quota(cli *c)
{
    intel_config cfg;
    char err[2048];
    if (config_load(intel_config_table, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "hutchctl: bad threat-intel settings:\n%s", err);
        config_free(intel_config_table, &cfg);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    json_t *rows = json_array();
    pg *db = cli_db(c);
    if (!db) {
        rc = CLI_FAIL;
        goto done;
    }
    int64_t now = ids_now_ms();
    for (int p = 0; p < INTEL_PROVIDER_COUNT; p++) {
        intel_bucket b;
        int found = intel_quota_read(db, (intel_provider)p, &b);
        if (found < 0) {
            cli_error("cannot read intel_quota (see the log line above)");
            rc = CLI_FAIL;
            goto done;
        }
        intel_limit lim = intel_config_limit(&cfg, (intel_provider)p);
        intel_bucket_refill(&b, lim, now);
        intel_bucket probe = b;
        int64_t wait = intel_bucket_take(&probe, lim, now);
        json_t *r = json_pack("{s:s, s:b, s:I, s:I}", "provider", intel_provider_name(p), "enabled",
                              intel_config_enabled(&cfg, (intel_provider)p), "today_used", (json_int_t)b.day_used,
                              "per_day", (json_int_t)lim.per_day);
        if (lim.per_minute > 0) {
            json_object_set_new(r, "per_minute", json_real(lim.per_minute));
            json_object_set_new(r, "minute_left", json_integer((json_int_t)(b.tokens + 1e-6)));
        } else {
            json_object_set_new(r, "per_minute", json_string("no limit"));
        }
        if (lim.per_day <= 0)
            json_object_set_new(r, "per_day", json_string("no limit"));
        if (b.cooldown_until_ms > now)
            json_object_set_new(r, "cooling_down_until", iso_ms(b.cooldown_until_ms));
        json_object_set_new(r, "next_request_in_s", json_real((double)wait / 1000.0));
        json_array_append_new(rows, r);
    }
    if (c->json)
        output_json(stdout, rows);
    else
        output_table(stdout, rows, quota_cols);
done:
    json_decref(rows);
    config_free(intel_config_table, &cfg);
    return rc;
}
