/* hutch-cluster: hutch.alerts.enriched -> bind to a ticket or open one ->
 * hutch.alerts.clustered (the Alert with ticket_id, new_ticket, fingerprint) and
 * hutch.tickets.events (TicketEvent "opened" or "alert_bound", keyed by ticket id).
 *
 * The decision is cluster.c's (pure), the transaction store.c's. Idempotency: the
 * ticket an alert opens has an id derived from the alert, the output Meta ids are
 * derived from the input's, and TicketEvent.detail_json holds only fields of the
 * alert, so a redelivered alert (store.c re-reads its binding) produces the same
 * bytes as the first time. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/service.h"
#include "common/topics.h"
#include "services/cluster/cluster.h"
#include "services/cluster/store.h"

#define PRODUCER "hutch-cluster"

typedef struct {
    int64_t window_ms;
} cluster_config;

static const config_field cluster_config_table[] = {
    {"HUTCH_CLUSTER_WINDOW", CONFIG_DURATION_MS, "1h", offsetof(cluster_config, window_ms),
     "An alert joins an open ticket of its namespace or fingerprint whose last alert is this recent", 0, 0},
    CONFIG_END,
};

typedef struct {
    service *svc;
    int64_t window_ms;
    metric *m_opened, *m_bound, *m_again, *m_dead, *m_retry;
} cluster_handler_ctx;

static kafka_result dead(cluster_handler_ctx *h, char *reason, size_t reason_len, const char *why)
{
    snprintf(reason, reason_len, "%s", why);
    metrics_add(h->m_dead, 1);
    return KAFKA_DEAD;
}

/* The clustered Alert: `a` with a new Meta and the cluster fields; the swapped
 * pointers are restored before returning. NEW buffer or NULL. */
static uint8_t *pack_clustered(Hutch__V1__Alert *a, const cluster_result *r, char *fingerprint, size_t *len)
{
    char seed[128];
    snprintf(seed, sizeof seed, "%s/clustered/0", a->meta->id);
    msg_meta_buf mb;
    msg_meta_init(&mb, a->meta->trace_id, PRODUCER, a->meta->created_unix_ms, seed);
    Hutch__V1__Meta *old_meta = a->meta;
    char *old_ticket = a->ticket_id, *old_fp = a->fingerprint;
    a->meta = &mb.meta;
    a->ticket_id = (char *)r->ticket_id; /* packing never writes through it */
    a->fingerprint = fingerprint;
    a->new_ticket = r->new_ticket;
    uint8_t *buf = msg_pack(&a->base, len);
    a->meta = old_meta;
    a->ticket_id = old_ticket;
    a->fingerprint = old_fp;
    return buf;
}

static uint8_t *pack_ticket_event(const Hutch__V1__Alert *a, const cluster_result *r, const char *fingerprint,
                                  size_t *len)
{
    json_t *detail = json_pack("{s:s, s:s, s:s, s:s}", "fingerprint", fingerprint, "namespace",
                               a->namespace_ ? a->namespace_ : "", "title", a->title ? a->title : "", "schema",
                               a->schema ? a->schema : "");
    char *detail_text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(detail);
    if (!detail_text)
        return NULL;
    char seed[128];
    snprintf(seed, sizeof seed, "%s/ticket_event/0", a->meta->id);
    msg_meta_buf mb;
    msg_meta_init(&mb, a->meta->trace_id, PRODUCER, a->meta->created_unix_ms, seed);
    Hutch__V1__TicketEvent ev = HUTCH__V1__TICKET_EVENT__INIT;
    ev.meta = &mb.meta;
    ev.ticket_id = (char *)r->ticket_id;
    ev.kind = r->new_ticket ? "opened" : "alert_bound";
    ev.alert_id = a->alert_id;
    ev.actor = PRODUCER;
    ev.detail_json = detail_text;
    uint8_t *buf = msg_pack(&ev.base, len);
    free(detail_text);
    return buf;
}

static kafka_result handle_alert(void *vctx, const kafka_msg *msg, kafka_out *out, char *reason,
                                 size_t reason_len)
{
    cluster_handler_ctx *h = vctx;
    kafka_result result = KAFKA_OK;
    uint8_t *alert_buf = NULL, *event_buf = NULL;
    char part[16], off[32], count[24];
    snprintf(part, sizeof part, "%" PRId32, msg->partition);
    snprintf(off, sizeof off, "%" PRId64, msg->offset);

    Hutch__V1__Alert *a = hutch__v1__alert__unpack(NULL, msg->value_len, msg->value);
    if (!a)
        return dead(h, reason, reason_len, "cannot unpack hutch.v1.Alert");
    if (!a->meta || !ids_is_uuid(a->meta->id) || !ids_is_uuid(a->alert_id)) {
        result = dead(h, reason, reason_len, "Alert without a valid meta.id or alert_id");
        goto out;
    }
    char fingerprint[CLUSTER_FINGERPRINT_LEN];
    if (cluster_fingerprint(a->schema, a->title, fingerprint) != 0) {
        snprintf(reason, reason_len, "cannot compute the fingerprint");
        result = KAFKA_RETRY;
        goto out;
    }
    char new_ticket_id[37];
    cluster_ticket_id(new_ticket_id, a->alert_id, a->created_unix_ms ? a->created_unix_ms : a->meta->created_unix_ms);
    cluster_input in = {
        .message_id = a->meta->id,
        .alert_id = a->alert_id,
        .namespace_ = a->namespace_ ? a->namespace_ : "",
        .fingerprint = fingerprint,
        .title = a->title ? a->title : "",
        .new_ticket_id = new_ticket_id,
    };
    cluster_result r;
    int rc = cluster_store(h->svc->db, &in, h->window_ms, &r);
    if (rc == PG_RETRY) {
        snprintf(reason, reason_len, "database unavailable");
        metrics_add(h->m_retry, 1);
        result = KAFKA_RETRY;
        goto out;
    }
    if (rc != 0) {
        snprintf(reason, reason_len, "database rejected the clustering of alert %s", a->alert_id);
        metrics_add(h->m_dead, 1);
        result = KAFKA_DEAD;
        goto out;
    }

    size_t alert_len = 0, event_len = 0;
    alert_buf = pack_clustered(a, &r, fingerprint, &alert_len);
    event_buf = pack_ticket_event(a, &r, fingerprint, &event_len);
    const char *key = *in.namespace_ ? in.namespace_ : a->alert_id;
    if (!alert_buf || !event_buf ||
        kafka_out_add(out, TOPIC_ALERTS_CLUSTERED, key, strlen(key), alert_buf, alert_len, NULL) != 0 ||
        kafka_out_add(out, TOPIC_TICKETS_EVENTS, r.ticket_id, strlen(r.ticket_id), event_buf, event_len, NULL) !=
            0) {
        snprintf(reason, reason_len, "cannot queue the clustered alert");
        result = KAFKA_RETRY;
        goto out;
    }
    snprintf(count, sizeof count, "%" PRId64, r.alert_count);
    LOG_INFO(r.again ? "alert_clustered_again" : r.new_ticket ? "ticket_opened" : "alert_bound", "alert_id",
             a->alert_id, "ticket_id", r.ticket_id, "trace_id", a->meta->trace_id, "topic", msg->topic, "partition",
             part, "offset", off, "alert_count", count, NULL);
    metrics_add(r.again ? h->m_again : r.new_ticket ? h->m_opened : h->m_bound, 1);
out:
    free(alert_buf);
    free(event_buf);
    if (a)
        hutch__v1__alert__free_unpacked(a, NULL);
    return result;
}

int main(int argc, char **argv)
{
    cluster_config cfg = {0};
    service_config_or_exit(cluster_config_table, &cfg, argc, argv, "hutch-cluster",
                           "Groups enriched alerts into tickets by namespace or fingerprint within a window: "
                           "hutch.alerts.enriched -> hutch.alerts.clustered + hutch.tickets.events.");
    service svc;
    memset(&svc, 0, sizeof svc);
    int status = 1;
    cluster_handler_ctx h = {.svc = &svc, .window_ms = cfg.window_ms};
    if (service_start(&svc, "cluster", argc, argv) != 0)
        goto out;
    h.m_opened = metrics_counter("hutch_cluster_alerts_total{result=\"opened\"}", "Alerts clustered");
    h.m_bound = metrics_counter("hutch_cluster_alerts_total{result=\"bound\"}", "Alerts clustered");
    h.m_again = metrics_counter("hutch_cluster_alerts_total{result=\"redelivered\"}", "Alerts clustered");
    h.m_dead = metrics_counter("hutch_cluster_alerts_total{result=\"dead\"}", "Alerts clustered");
    h.m_retry = metrics_counter("hutch_cluster_retries_total", "Alerts retried because the database was down");
    const char *const topics[] = {TOPIC_ALERTS_ENRICHED, NULL};
    status = service_consume(&svc, topics, handle_alert, &h) == 0 ? 0 : 1;
out:
    service_stop(&svc);
    config_free(cluster_config_table, &cfg);
    return status;
}
