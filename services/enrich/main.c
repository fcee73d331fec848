/* hutch-enrich: hutch.alerts.accepted -> indicators + risk score -> hutch.alerts.enriched.
 *
 * Batches of Alerts come from the frame (common/consumer.h) inside one transaction.
 * Per alert: parse its payload (else dead-letter), extract indicators (enrich.c,
 * pure), decide its severity unless the policy did (common/severity.h, the one
 * home), score it; then the whole batch is written in two statements (store.c) and
 * each alert goes on with indicators, severity and risk score, without its payload.
 *
 * Idempotency: all of it is a function of the input and the output Meta id is
 * derived from the input's ("<input meta id>/enriched/0"), so a redelivered alert
 * writes nothing (the frame's claim said so) and produces the same bytes. */
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
#include "services/enrich/store.h"

/* No settings of its own (the HTTP port is a common setting, service.h). */
static const config_field enrich_config_table[] = {
    CONFIG_END,
};

typedef struct {
    enrich_ctx *extractor;
    metric *m_indicators;
} enrich_handler_ctx;

/* What one alert of the batch became. */
typedef struct {
    enrich_indicators ind;
    const char *severity;
    int severity_score;
    double risk_score;
} enriched;

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
        out[i].risk_score = enrich_risk_score(out[i].severity_score, &out[i].ind);
        json_decref(payload);
        if (!items[i]->redelivered) {
            rows[n_rows] = (enrich_row){a->alert_id, out[i].severity, out[i].risk_score, &out[i].ind, false};
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
        uint8_t *packed = enrich_pack(a, &out[i].ind, out[i].severity, out[i].severity_score, out[i].risk_score, &len);
        const char *key = a->namespace_ && *a->namespace_ ? a->namespace_ : a->alert_id;
        if (consumer_emit_take(it, TOPIC_ALERTS_ENRICHED, key, packed, len) != 0)
            rc = PG_RETRY;
        char nind[16], score_text[16];
        snprintf(nind, sizeof nind, "%zu", out[i].ind.count);
        snprintf(score_text, sizeof score_text, "%.0f", out[i].risk_score);
        consumer_item_log(LOG_LEVEL_INFO, it, it->redelivered ? "alert_enriched_again" : "alert_enriched", "alert_id",
                          a->alert_id, "trace_id", a->meta->trace_id, "indicators", nind, "severity", out[i].severity,
                          "risk_score", score_text, "truncated", out[i].ind.truncated ? "true" : NULL, NULL);
        if (!it->redelivered)
            metrics_add(h->m_indicators, (int64_t)out[i].ind.count);
    }
    for (size_t i = 0; out && i < n; i++)
        enrich_indicators_free(&out[i].ind);
    free(out);
    free(rows);
    free(row_of);
    return rc;
}

int main(int argc, char **argv)
{
    char no_settings = 0; /* the empty table writes nothing here */
    service_config_or_exit(enrich_config_table, &no_settings, argc, argv, "hutch-enrich",
                           "Extracts indicators (IP, domain, URL, hash, email) and a risk score from accepted "
                           "alerts: hutch.alerts.accepted -> hutch.alerts.enriched.");
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
    static const consumer_input inputs[] = {{TOPIC_ALERTS_ACCEPTED, &hutch__v1__alert__descriptor, msg_check_alert},
                                            {NULL, NULL, NULL}};
    consumer_spec spec = {.inputs = inputs, .handle = handle_batch};
    status = service_consume(&svc, &spec, &h) == 0 ? 0 : 1;
out:
    service_stop(&svc);
    enrich_free(h.extractor);
    config_free(enrich_config_table, &no_settings);
    return status;
}
