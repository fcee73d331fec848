/* hutch-intel-bench: how fast hutch-enrich's batch path answers threat-intel lookups
 * from a warm cache (`make bench-intel`; README "Threat intelligence").
 *
 * Against the database of HUTCH_DATABASE_URL (migrated here; use a scratch one: the
 * bench writes alerts, intel_cache and alert_lookups rows): --ips distinct public IPs
 * get a fresh verdict from each of the --providers first providers in the cache, then
 * --alerts alerts (--per-alert IPs each, default 1; rows inserted first) go through
 * what the batch handler does for threat intel, in batches of --batch inside one
 * transaction each: the lookup decision (the built-in default policy, or --policy
 * DIR) and intel_store_attach (one read of the cache, one insert of alert_lookups
 * rows, one per alert). One JSON line: lookups a second (every one a cache hit),
 * alerts a second, CPU time. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/pg.h"
#include "services/enrich/intel_policy.h"
#include "services/enrich/intel_quota.h"
#include "services/enrich/intel_store.h"

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, pg *db)
{
    fprintf(stderr, "hutch-intel-bench: %s%s%s\n", what, db ? ": " : "", db ? pg_last_error(db) : "");
    exit(1);
}

int main(int argc, char **argv)
{
    long alerts = 20000, batch = 500, ips = 100, providers = 4, per_alert = 1;
    const char *policy_dir = NULL;
    static const struct option opts[] = {{"alerts", required_argument, NULL, 'a'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"ips", required_argument, NULL, 'i'},
                                         {"providers", required_argument, NULL, 'p'},
                                         {"policy", required_argument, NULL, 'P'},
                                         {"per-alert", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a': alerts = strtol(optarg, NULL, 10); break;
        case 'b': batch = strtol(optarg, NULL, 10); break;
        case 'i': ips = strtol(optarg, NULL, 10); break;
        case 'p': providers = strtol(optarg, NULL, 10); break;
        case 'P': policy_dir = optarg; break;
        case 'n': per_alert = strtol(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: hutch-intel-bench [--alerts N] [--batch N] [--ips N] [--providers 1-4] "
                            "[--per-alert N] [--policy DIR]\n");
            return 2;
        }
    }
    if (alerts < 1 || batch < 1 || ips < 1 || ips > 60000 || providers < 1 || providers > 4 || per_alert < 1 ||
        per_alert > 64 || per_alert > ips) {
        fprintf(stderr, "hutch-intel-bench: sizes out of range\n");
        return 2;
    }
    log_init("hutch-intel-bench", LOG_LEVEL_ERROR);
    const char *url = getenv("HUTCH_DATABASE_URL");
    char err[512];
    pg *db = url ? pg_connect(url, 10000, err, sizeof err) : NULL;
    if (!db || pg_migrate(db, err, sizeof err) != PG_OK) {
        fprintf(stderr, "hutch-intel-bench: %s\n", url ? err : "HUTCH_DATABASE_URL is not set");
        return 1;
    }
    psl_ctx_t *psl_owned = psl_latest(NULL);
    const psl_ctx_t *psl = psl_owned ? psl_owned : psl_builtin();
    intel_policy *pol = intel_policy_load(policy_dir, err, sizeof err);
    if (!pol) {
        fprintf(stderr, "hutch-intel-bench: %s\n", err);
        return 1;
    }
    static const intel_provider order[] = {INTEL_VIRUSTOTAL, INTEL_ABUSEIPDB, INTEL_OTX, INTEL_RDAP};
    bool enabled[INTEL_PROVIDER_COUNT] = {0};
    for (long p = 0; p < providers; p++) enabled[order[p]] = true;

    /* warm the cache: every (provider, ip) fresh for a day */
    char(*ip)[32] = calloc((size_t)ips, sizeof *ip);
    intel_verdict *v = calloc(1, sizeof *v);
    int64_t now = ids_now_ms();
    for (long i = 0; i < ips; i++) {
        snprintf(ip[i], sizeof ip[i], "45.%ld.%ld.%ld", 150 + i / 65536 % 50, i / 256 % 256, i % 256);
        for (long p = 0; p < providers; p++) {
            memset(v, 0, sizeof *v);
            v->provider = order[p];
            v->kind = INTEL_KIND_IP;
            snprintf(v->value, sizeof v->value, "%s", ip[i]);
            v->verdict = i % 3 ? INTEL_UNKNOWN : INTEL_MALICIOUS;
            v->score = i % 3 ? 0 : 80;
            snprintf(v->summary, sizeof v->summary, "bench verdict");
            snprintf(v->link, sizeof v->link, "https://example.invalid/%s", ip[i]);
            if (intel_cache_store(db, v, "{}", "bench", now, 86400000) != PG_OK) die("warming the cache", db);
        }
    }
    /* the alerts */
    char(*id)[IDS_UUID_LEN] = calloc((size_t)alerts, sizeof *id);
    for (long a = 0; a < alerts; a++) {
        ids_uuid7(id[a]);
        const char *params[] = {id[a]};
        if (pg_exec(db, NULL,
                    "INSERT INTO alerts (alert_id, event_id, trace_id, schema, title) VALUES ($1, $1, 'bench',"
                    " 'bench', 'intel bench')",
                    1, params) != PG_OK)
            die("inserting alerts", db);
    }

    enrich_indicators *ind = calloc((size_t)batch, sizeof *ind);
    intel_asks *asks = calloc((size_t)batch, sizeof *asks);
    intel_attach_row *rows = calloc((size_t)(batch * providers * per_alert), sizeof *rows);
    enrich_indicator *items = calloc((size_t)(batch * per_alert), sizeof *items);
    Hutch__V1__Alert alert = HUTCH__V1__ALERT__INIT;
    alert.schema = "bench";
    long lookups = 0, hits = 0;
    double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    for (long start = 0; start < alerts; start += batch) {
        long n = alerts - start < batch ? alerts - start : batch;
        size_t nrows = 0;
        for (long k = 0; k < n; k++) {
            for (long j = 0; j < per_alert; j++)
                items[k * per_alert + j] =
                    (enrich_indicator){.type = "ipv4", .value = ip[((start + k) * per_alert + j) % ips], .path = "ip"};
            ind[k] = (enrich_indicators){.items = &items[k * per_alert], .count = (size_t)per_alert};
            alert.alert_id = id[start + k];
            if (intel_policy_decide(pol, psl, enabled, &alert, "high", 75, &ind[k], &asks[k], err, sizeof err) != 0)
                die(err, NULL);
            for (size_t j = 0; j < asks[k].n; j++)
                rows[nrows++] = (intel_attach_row){.alert_id = id[start + k], .ask = &asks[k].items[j], .record = true};
        }
        if (pg_begin(db) != PG_OK || intel_store_attach(db, rows, nrows, ids_now_ms()) != PG_OK ||
            pg_commit(db) != PG_OK)
            die("attach", db);
        for (size_t r = 0; r < nrows; r++) hits += rows[r].hit;
        lookups += (long)nrows;
        intel_attach_rows_free(rows, nrows);
        for (long k = 0; k < n; k++) intel_asks_free(&asks[k]);
    }
    double wall = now_s(CLOCK_MONOTONIC) - t0, cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"bench\":\"intel_warm_cache\",\"alerts\":%ld,\"batch\":%ld,\"ips\":%ld,\"per_alert\":%ld,"
           "\"providers\":%ld,"
           "\"policy\":\"%s\",\"lookups\":%ld,\"hits\":%ld,\"seconds\":%.3f,\"lookups_per_s\":%.0f,"
           "\"alerts_per_s\":%.0f,\"cpu_seconds\":%.3f}\n",
           alerts, batch, ips, per_alert, providers, intel_policy_is_rego(pol) ? "rego" : "default", lookups, hits,
           wall, lookups / wall, alerts / wall, cpu);
    free(ind);
    free(asks);
    free(rows);
    free(items);
    free(id);
    free(ip);
    free(v);
    intel_policy_free(pol);
    psl_free(psl_owned);
    pg_free(db);
    return hits == lookups ? 0 : 1;
}
