/* hutch-enrich: hutch.alerts.accepted -> indicators + risk score -> hutch.alerts.enriched.
 *
 * For each Alert: unpack (else dead-letter), parse its payload (else dead-letter),
 * extract indicators and score (enrich.c, pure), write them with the
 * processed_messages row in one transaction (store.c), then hand the same Alert,
 * now carrying indicators and risk_score and a new Meta, to the consumer loop,
 * which produces it and stores the offset only after the broker acknowledged it.
 *
 * Idempotency: extraction is a function of the input and the output Meta id is
 * derived from the input's ("<input meta id>/enriched/0"), so a redelivered alert
 * skips the database (processed_messages said so) and produces the same bytes. */
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
#include "common/topics.h"
#include "services/enrich/enrich.h"
#include "services/enrich/store.h"

#define PRODUCER "hutch-enrich"

/* No settings of its own (the HTTP port is a common setting, service.h). */
static const config_field enrich_config_table[] = {
    CONFIG_END,
};

typedef struct {
    service *svc;
    enrich_ctx *extractor;
    metric *m_ok, *m_redelivered, *m_dead, *m_retry, *m_indicators;
} enrich_handler_ctx;

static kafka_result dead(enrich_handler_ctx *h, char *reason, size_t reason_len, const char *why,
                         const char *alert_id)
{
    snprintf(reason, reason_len, "%s%s%s", why, alert_id ? ": alert " : "", alert_id ? alert_id : "");
    metrics_add(h->m_dead, 1);
    return KAFKA_DEAD;
}

/* Packs `a` with indicators and a new Meta; the fields swapped in are restored before
 * returning, so `a` can still be freed by protobuf-c. NEW buffer or NULL (OOM). */
static uint8_t *pack_enriched(Hutch__V1__Alert *a, const enrich_indicators *ind, double score, size_t *len)
{
    Hutch__V1__Indicator *items = calloc(ind->count ? ind->count : 1, sizeof *items);
    Hutch__V1__Indicator **ptrs = calloc(ind->count ? ind->count : 1, sizeof *ptrs);
    uint8_t *buf = NULL;
    if (!items || !ptrs)
        goto out;
    for (size_t i = 0; i < ind->count; i++) {
        hutch__v1__indicator__init(&items[i]);
        /* protobuf-c's fields are char *, but packing never writes through them */
        items[i].type = (char *)ind->items[i].type;
        items[i].value = ind->items[i].value;
        items[i].path = ind->items[i].path;
        ptrs[i] = &items[i];
    }
    char seed[128];
    snprintf(seed, sizeof seed, "%s/enriched/0", a->meta->id);
    int64_t created = a->meta->created_unix_ms ? a->meta->created_unix_ms : a->created_unix_ms;
    msg_meta_buf mb;
    msg_meta_init(&mb, a->meta->trace_id, PRODUCER, created, seed);

    Hutch__V1__Meta *old_meta = a->meta;
    size_t old_n = a->n_indicators;
    Hutch__V1__Indicator **old_ind = a->indicators;
    a->meta = &mb.meta;
    a->n_indicators = ind->count;
    a->indicators = ptrs;
    a->risk_score = score;
    buf = msg_pack(&a->base, len);
    a->meta = old_meta;
    a->n_indicators = old_n;
    a->indicators = old_ind;
out:
    free(items);
    free(ptrs);
    return buf;
}

static kafka_result handle_alert(void *vctx, const kafka_msg *msg, kafka_out *out, char *reason,
                                 size_t reason_len)
{
    enrich_handler_ctx *h = vctx;
    kafka_result result = KAFKA_OK;
    json_t *payload = NULL;
    enrich_indicators ind = {0};
    uint8_t *packed = NULL;
    char part[16], off[32], nind[16], score_text[16];
    snprintf(part, sizeof part, "%" PRId32, msg->partition);
    snprintf(off, sizeof off, "%" PRId64, msg->offset);

    Hutch__V1__Alert *a = hutch__v1__alert__unpack(NULL, msg->value_len, msg->value);
    if (!a)
        return dead(h, reason, reason_len, "cannot unpack hutch.v1.Alert", NULL);
    if (!a->meta || !ids_is_uuid(a->meta->id) || !ids_is_uuid(a->alert_id)) {
        result = dead(h, reason, reason_len, "Alert without a valid meta.id or alert_id", NULL);
        goto out;
    }
    json_error_t jerr;
    payload = json_loads(a->payload_json, JSON_DECODE_ANY, &jerr);
    if (!payload) {
        char why[256];
        snprintf(why, sizeof why, "invalid JSON payload (%s at line %d)", jerr.text, jerr.line);
        result = dead(h, reason, reason_len, why, a->alert_id);
        goto out;
    }
    if (enrich_extract(h->extractor, payload, a->attributes, a->n_attributes, &ind) < 0) {
        snprintf(reason, reason_len, "out of memory extracting indicators");
        result = KAFKA_RETRY;
        goto out;
    }
    double score = enrich_risk_score(payload, a->attributes, a->n_attributes, &ind);

    enrich_store_outcome outcome = ENRICH_STORED;
    int rc = enrich_store(h->svc->db, a->meta->id, a->alert_id, &ind, score, &outcome);
    if (rc == PG_RETRY) {
        snprintf(reason, reason_len, "database unavailable");
        metrics_add(h->m_retry, 1);
        result = KAFKA_RETRY;
        goto out;
    }
    if (rc != 0) {
        result = dead(h, reason, reason_len, "database rejected the alert's indicators", a->alert_id);
        goto out;
    }
    if (outcome == ENRICH_NO_ALERT) {
        result = dead(h, reason, reason_len, "no such alert in the alerts table", a->alert_id);
        goto out;
    }

    size_t len = 0;
    packed = pack_enriched(a, &ind, score, &len);
    const char *key = a->namespace_ && *a->namespace_ ? a->namespace_ : a->alert_id;
    if (!packed || kafka_out_add(out, TOPIC_ALERTS_ENRICHED, key, strlen(key), packed, len, NULL) != 0) {
        snprintf(reason, reason_len, "cannot queue the enriched alert");
        result = KAFKA_RETRY;
        goto out;
    }
    snprintf(nind, sizeof nind, "%zu", ind.count);
    snprintf(score_text, sizeof score_text, "%.0f", score);
    LOG_INFO(outcome == ENRICH_ALREADY ? "alert_enriched_again" : "alert_enriched", "alert_id", a->alert_id,
             "trace_id", a->meta->trace_id, "topic", msg->topic, "partition", part, "offset", off, "indicators",
             nind, "risk_score", score_text, "truncated", ind.truncated ? "true" : NULL, NULL);
    metrics_add(outcome == ENRICH_ALREADY ? h->m_redelivered : h->m_ok, 1);
    metrics_add(h->m_indicators, (int64_t)ind.count);
out:
    free(packed);
    enrich_indicators_free(&ind);
    json_decref(payload);
    if (a)
        hutch__v1__alert__free_unpacked(a, NULL);
    return result;
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
    enrich_handler_ctx h = {.svc = &svc};
    if (service_start(&svc, "enrich", argc, argv) != 0)
        goto out;
    char err[256];
    h.extractor = enrich_new(err, sizeof err);
    if (!h.extractor) {
        LOG_ERROR("enrich_init_failed", "error", err, NULL);
        goto out;
    }
    h.m_ok = metrics_counter("hutch_enrich_alerts_total{result=\"ok\"}", "Alerts enriched");
    h.m_redelivered = metrics_counter("hutch_enrich_alerts_total{result=\"redelivered\"}", "Alerts enriched");
    h.m_dead = metrics_counter("hutch_enrich_alerts_total{result=\"dead\"}", "Alerts enriched");
    h.m_retry = metrics_counter("hutch_enrich_retries_total", "Alerts retried because the database was down");
    h.m_indicators = metrics_counter("hutch_enrich_indicators_total", "Indicators extracted");
    const char *const topics[] = {TOPIC_ALERTS_ACCEPTED, NULL};
    status = service_consume(&svc, topics, handle_alert, &h) == 0 ? 0 : 1;
out:
    service_stop(&svc);
    enrich_free(h.extractor);
    config_free(enrich_config_table, &no_settings);
    return status;
}
