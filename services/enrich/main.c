/* hutch-enrich: hutch.alerts.accepted -> indicators + risk score -> hutch.alerts.enriched.
 *
 * Batches of Alerts come from the frame (common/consumer.h) inside one transaction.
 * Per alert: parse its payload (else dead-letter), extract indicators (enrich.c,
 * pure), decide its severity unless the policy did (common/severity.h, the one
 * home), score it; then the whole batch is written in two statements (store.c) and
 * each alert goes on with indicators, severity and risk score, without its payload.
 *
 * Threat intel (intel_policy.h, intel_store.h, intel_worker.h): the intel policy
 * names the lookups of each alert; in the same transaction their cached verdicts are
 * read (one statement for the batch) and every lookup is recorded in alert_lookups,
 * done or pending. Cached verdicts are attached to the Alert at once (field intel)
 * and count in its risk score (enrich_risk_with_intel); pending ones say "pending"
 * and the alert goes on: the worker threads ask the providers and publish the
 * verdicts as TicketEvents "intel" when they arrive. The consumer never waits on a
 * provider or a quota.
 *
 * Idempotency: all of it but the cached verdicts is a function of the input and the
 * output Meta id is derived from the input's ("<input meta id>/enriched/0"), so a
 * redelivered alert writes nothing (the frame's claim said so) and produces the
 * same message id (its intel field may show verdicts that arrived in between). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/service.h"
#include "common/severity.h"
#include "common/topics.h"
#include "services/enrich/enrich.h"
#include "services/enrich/intel_policy.h"
#include "services/enrich/intel_store.h"
#include "services/enrich/intel_worker.h"
#include "services/enrich/store.h"

/* The threat-intel settings (intel_quota.h's table, intel first so its offsets hold)
 * and enrich's own. */
typedef struct {
    intel_config intel;
    char *policy_dir;
    int64_t concurrency;
    int64_t max_attempts;
    int64_t poll_ms;
} enrich_config;

static const config_field enrich_own_table[] = {
    {"HUTCH_POLICY_DIR", CONFIG_STRING, "policies", offsetof(enrich_config, policy_dir),
     "policy directory: its package intel decides the lookups (none: every enabled provider, every public "
     "indicator)"},
    {"HUTCH_INTEL_CONCURRENCY", CONFIG_INT, "4", offsetof(enrich_config, concurrency),
     "threat-intel lookups in flight at once (lookup threads)", 1, 64},
    {"HUTCH_INTEL_MAX_ATTEMPTS", CONFIG_INT, "5", offsetof(enrich_config, max_attempts),
     "attempts of a lookup that fails with 5xx or a timeout before it is given up", 1, 100},
    {"HUTCH_INTEL_POLL", CONFIG_DURATION_MS, "1s", offsetof(enrich_config, poll_ms),
     "how often idle lookup threads look for due lookups", 10, 600000},
    CONFIG_END,
};

/* intel_config_table then enrich_own_table. NEW (free()), NULL on OOM. */
static config_field *enrich_config_table(void)
{
    size_t a = 0, b = 0;
    while (intel_config_table[a].env)
        a++;
    while (enrich_own_table[b].env)
        b++;
    config_field *t = calloc(a + b + 1, sizeof *t);
    if (t) {
        memcpy(t, intel_config_table, a * sizeof *t);
        memcpy(t + a, enrich_own_table, (b + 1) * sizeof *t);
    }
    return t;
}

typedef struct {
    enrich_ctx *extractor;
    metric *m_indicators;
    const enrich_config *cfg;
    intel_policy *policy;
    psl_ctx_t *psl_owned;
    const psl_ctx_t *psl;
    bool enabled[INTEL_PROVIDER_COUNT];
    intel_worker *worker;
    bool woke; /* the batch recorded pending lookups: wake the worker after the commit */
} enrich_handler_ctx;

/* What one alert of the batch became. */
typedef struct {
    enrich_indicators ind;
    const char *severity;
    int severity_score;
    double risk_base, risk_score;
    intel_asks asks;
    size_t first_row; /* its lookups are attach rows [first_row, first_row + asks.n) */
} enriched;

/* The lookups of every alert of the batch: decided by the intel policy, attached
 * from the cache, recorded (intel_store_attach). Sets each alert's risk score.
 * *rows_out: NEW (free after intel_attach_rows_free). */
static int intel_batch(enrich_handler_ctx *h, pg *db, consumer_item **items, size_t n, enriched *out,
                       intel_attach_row **rows_out, size_t *nrows_out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        Hutch__V1__Alert *a = (Hutch__V1__Alert *)items[i]->value;
        if (items[i]->dead)
            continue;
        char err[512];
        int rc = intel_policy_decide(h->policy, h->psl, h->enabled, a, out[i].severity, out[i].severity_score,
                                     &out[i].ind, &out[i].asks, err, sizeof err);
        if (rc == -1)
            return PG_RETRY;
        if (rc == -2) { /* the alert goes on without lookups: a policy bug must not stop the pipeline */
            consumer_item_log(LOG_LEVEL_WARN, items[i], "intel_policy_error", "alert_id", a->alert_id, "error", err,
                              NULL);
            intel_asks_free(&out[i].asks);
        }
        total += out[i].asks.n;
    }
    intel_attach_row *rows = calloc(total ? total : 1, sizeof *rows);
    if (!rows)
        return PG_RETRY;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        Hutch__V1__Alert *a = (Hutch__V1__Alert *)items[i]->value;
        out[i].first_row = k;
        for (size_t j = 0; !items[i]->dead && j < out[i].asks.n; j++)
            rows[k++] = (intel_attach_row){
                .alert_id = a->alert_id, .ask = &out[i].asks.items[j], .record = !items[i]->redelivered};
    }
    *rows_out = rows;
    *nrows_out = total;
    int rc = intel_store_attach(db, rows, total, ids_now_ms());
    if (rc != PG_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (items[i]->dead)
            continue;
        int worst = INTEL_UNKNOWN;
        for (size_t j = 0; j < out[i].asks.n; j++) {
            const intel_attach_row *r = &rows[out[i].first_row + j];
            if (r->hit && r->level > worst)
                worst = r->level;
            if (r->record && r->hit)
                intel_metrics_count(r->ask->provider, "hit", 1);
            if (r->record && !r->hit)
                h->woke = true;
        }
        for (int p = 0; !items[i]->redelivered && p < INTEL_PROVIDER_COUNT; p++)
            if (out[i].asks.skipped[p])
                intel_metrics_count((intel_provider)p, "skipped", (int64_t)out[i].asks.skipped[p]);
        out[i].risk_score = enrich_risk_with_intel(out[i].risk_base, worst);
    }
    return PG_OK;
}

/* The IntelVerdict messages of one alert (for enrich_pack_intel): NEW arrays whose
 * strings are BORROWED from rows. */
static Hutch__V1__IntelVerdict **intel_messages(const enriched *e, const intel_attach_row *rows,
                                                Hutch__V1__IntelVerdict **storage)
{
    size_t n = e->asks.n;
    Hutch__V1__IntelVerdict *v = calloc(n ? n : 1, sizeof *v);
    Hutch__V1__IntelVerdict **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (!v || !ptrs) {
        free(v);
        free(ptrs);
        return NULL;
    }
    for (size_t j = 0; j < n; j++) {
        const intel_attach_row *r = &rows[e->first_row + j];
        hutch__v1__intel_verdict__init(&v[j]);
        v[j].provider = (char *)intel_provider_name(r->ask->provider);
        v[j].kind = (char *)intel_kind_name(r->ask->ind.kind);
        v[j].value = (char *)r->ask->ind.value;
        v[j].indicator = r->ask->indicator;
        v[j].state = r->hit ? "done" : "pending";
        if (r->hit) {
            v[j].verdict = (char *)intel_level_name((intel_level)r->level);
            v[j].score = r->score;
            v[j].summary = r->summary;
            v[j].link = r->link;
            v[j].not_found = r->not_found;
        }
        ptrs[j] = &v[j];
    }
    *storage = v;
    return ptrs;
}

/* The alert's severity: the policy's when it named one, else the normaliser's. */
static void decide_severity(const Hutch__V1__Alert *a, const json_t *payload, enriched *e)
{
    severity_level level;
    if (a->severity && severity_parse(a->severity, &level) == 0) {
        e->severity_score = a->severity_score > 0 ? a->severity_score : severity_score(level);
    } else {
        int hint = severity_score_from_json(payload, a->attributes, a->n_attributes);
        e->severity_score = hint >= 0 ? hint : ENRICH_DEFAULT_SEVERITY_SCORE;
        level = severity_from_score(e->severity_score);
    }
    e->severity = severity_name(level);
}

/* One batch, inside the frame's transaction: extract and score each alert (pure),
 * write them all (two statements), queue each enriched alert. */
static int handle_batch(void *vctx, pg *db, consumer_item **items, size_t n)
{
    enrich_handler_ctx *h = vctx;
    enriched *out = calloc(n, sizeof *out);
    enrich_row *rows = calloc(n, sizeof *rows);
    size_t *row_of = calloc(n, sizeof *row_of);
    int rc = out && rows && row_of ? PG_OK : PG_RETRY;
    size_t n_rows = 0;
    intel_attach_row *irows = NULL;
    size_t n_irows = 0;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        Hutch__V1__Alert *a = (Hutch__V1__Alert *)items[i]->value;
        json_error_t jerr;
        json_t *payload = json_loads(a->payload_json ? a->payload_json : "", JSON_DECODE_ANY, &jerr);
        if (!payload) {
            consumer_item_dead(items[i], "invalid JSON payload (%s at line %d): alert %s", jerr.text, jerr.line,
                               a->alert_id);
            continue;
        }
        if (enrich_extract(h->extractor, payload, a->attributes, a->n_attributes, &out[i].ind) < 0)
            rc = PG_RETRY; /* out of memory: the batch runs again */
        decide_severity(a, payload, &out[i]);
        out[i].risk_base = enrich_risk_score(out[i].severity_score, &out[i].ind);
        out[i].risk_score = out[i].risk_base;
        json_decref(payload);
    }
    if (rc == PG_OK)
        rc = intel_batch(h, db, items, n, out, &irows, &n_irows);
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        Hutch__V1__Alert *a = (Hutch__V1__Alert *)items[i]->value;
        if (!items[i]->dead && !items[i]->redelivered) {
            rows[n_rows] =
                (enrich_row){a->alert_id, out[i].severity, out[i].risk_score, out[i].risk_base, &out[i].ind, false};
            row_of[i] = ++n_rows; /* 1-based: 0 = no row */
        }
    }
    if (rc == PG_OK)
        rc = enrich_store(db, rows, n_rows);
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        consumer_item *it = items[i];
        Hutch__V1__Alert *a = (Hutch__V1__Alert *)it->value;
        if (it->dead)
            continue;
        if (row_of[i] && !rows[row_of[i] - 1].found) {
            consumer_item_dead(it, "no such alert in the alerts table: alert %s", a->alert_id);
            continue;
        }
        size_t len = 0;
        Hutch__V1__IntelVerdict *vstore = NULL;
        Hutch__V1__IntelVerdict **vptrs = intel_messages(&out[i], irows, &vstore);
        uint8_t *packed = vptrs ? enrich_pack_intel(a, &out[i].ind, out[i].severity, out[i].severity_score,
                                                    out[i].risk_score, vptrs, out[i].asks.n, &len)
                                : NULL;
        free(vptrs);
        free(vstore);
        if (!packed) {
            rc = PG_RETRY;
            break;
        }
        const char *key = a->namespace_ && *a->namespace_ ? a->namespace_ : a->alert_id;
        if (consumer_emit_take(it, TOPIC_ALERTS_ENRICHED, key, packed, len) != 0)
            rc = PG_RETRY;
        char nind[16], score_text[16], nintel[16];
        snprintf(nind, sizeof nind, "%zu", out[i].ind.count);
        snprintf(nintel, sizeof nintel, "%zu", out[i].asks.n);
        snprintf(score_text, sizeof score_text, "%.0f", out[i].risk_score);
        consumer_item_log(LOG_LEVEL_INFO, it, it->redelivered ? "alert_enriched_again" : "alert_enriched", "alert_id",
                          a->alert_id, "trace_id", a->meta->trace_id, "indicators", nind, "severity", out[i].severity,
                          "risk_score", score_text, "intel_lookups", nintel, "truncated",
                          out[i].ind.truncated ? "true" : NULL, NULL);
        if (!it->redelivered)
            metrics_add(h->m_indicators, (int64_t)out[i].ind.count);
    }
    for (size_t i = 0; out && i < n; i++) {
        enrich_indicators_free(&out[i].ind);
        intel_asks_free(&out[i].asks);
    }
    intel_attach_rows_free(irows, n_irows);
    free(irows);
    free(out);
    free(rows);
    free(row_of);
    return rc;
}

/* After each commit: the batch's pending lookups are visible to the worker now. */
static int wake_worker(void *vctx, pg *db, consumer_item **items, size_t n)
{
    (void)db, (void)items, (void)n;
    enrich_handler_ctx *h = vctx;
    if (h->woke)
        intel_worker_wake(h->worker);
    h->woke = false;
    return PG_OK;
}

int main(int argc, char **argv)
{
    config_field *table = enrich_config_table();
    if (!table)
        return 1;
    enrich_config cfg;
    memset(&cfg, 0, sizeof cfg);
    service_config_or_exit(table, &cfg, argc, argv, "hutch-enrich",
                           "Extracts indicators (IP, domain, URL, hash, email) and a risk score from accepted "
                           "alerts, asks threat intel about them without waiting: hutch.alerts.accepted -> "
                           "hutch.alerts.enriched, verdicts later as TicketEvents \"intel\" on "
                           "hutch.tickets.events.");
    service svc;
    memset(&svc, 0, sizeof svc);
    int status = 1;
    enrich_handler_ctx h = {0};
    if (service_start(&svc, "enrich", argc, argv) != 0)
        goto out;
    char err[256];
    h.extractor = enrich_new(err, sizeof err);
    if (!h.extractor) {
        LOG_ERROR("enrich_init_failed", "error", err, NULL);
        goto out;
    }
    h.m_indicators = metrics_counter("hutch_enrich_indicators_total", "Indicators extracted");
    h.cfg = &cfg;
    h.policy = intel_policy_load(cfg.policy_dir, err, sizeof err);
    if (!h.policy) {
        LOG_ERROR("intel_policy_invalid", "dir", cfg.policy_dir, "error", err, NULL);
        goto out;
    }
    h.psl_owned = psl_latest(NULL);
    h.psl = h.psl_owned ? h.psl_owned : psl_builtin();
    char on[256] = "";
    for (int p = 0; p < INTEL_PROVIDER_COUNT; p++) {
        h.enabled[p] = intel_config_enabled(&cfg.intel, (intel_provider)p);
        if (h.enabled[p])
            snprintf(on + strlen(on), sizeof on - strlen(on), "%s%s", *on ? "," : "",
                     intel_provider_name((intel_provider)p));
    }
    LOG_INFO("intel_config", "policy", intel_policy_is_rego(h.policy) ? "rego package intel" : "built-in default",
             "providers", *on ? on : "(none)", NULL);
    char instance[37];
    ids_uuid7(instance);
    intel_worker_opts wo = {.cfg = &cfg.intel,
                            .database_url = svc.common.database_url,
                            .brokers = svc.common.kafka_brokers,
                            .instance = instance,
                            .threads = (int)cfg.concurrency,
                            .max_attempts = (int)cfg.max_attempts,
                            .poll_ms = cfg.poll_ms};
    h.worker = intel_worker_start(&wo, err, sizeof err);
    if (!h.worker) {
        LOG_ERROR("intel_worker_failed", "error", err, NULL);
        goto out;
    }
    static const consumer_input inputs[] = {{TOPIC_ALERTS_ACCEPTED, &hutch__v1__alert__descriptor, msg_check_alert},
                                            {NULL, NULL, NULL}};
    consumer_spec spec = {.inputs = inputs, .handle = handle_batch, .after_commit = wake_worker};
    status = service_consume(&svc, &spec, &h) == 0 ? 0 : 1;
out:
    intel_worker_stop(h.worker);
    service_stop(&svc);
    enrich_free(h.extractor);
    intel_policy_free(h.policy);
    psl_free(h.psl_owned);
    config_free(table, &cfg);
    free(table);
    return status;
}
