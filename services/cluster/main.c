/* hutch-cluster: hutch.alerts.enriched -> bind to a ticket or open one ->
 * hutch.alerts.clustered (the Alert with ticket_id, new_ticket, fingerprint) and
 * hutch.tickets.events (TicketEvent "opened" or "alert_bound", keyed by ticket id).
 *
 * The frame (common/consumer.h) hands over batches inside one transaction; the
 * decision is cluster.c's (pure), the statements and their lock order store.c's, the
 * output packing cluster.c's. Idempotency: the ticket an alert opens has an id
 * derived from the alert, the output Meta ids are derived from the input's, and
 * TicketEvent.detail_json holds only fields of the alert, so a redelivered alert
 * (store.c re-reads its binding) produces the same bytes as the first time. */
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

typedef struct {
    int64_t window_ms;
} cluster_config;

static const config_field cluster_config_table[] = {
    {"HUTCH_CLUSTER_WINDOW", CONFIG_DURATION_MS, "1h", offsetof(cluster_config, window_ms),
     "An alert joins an open ticket of its namespace or fingerprint whose last alert is this recent", 0, 0},
    CONFIG_END,
};

typedef struct {
    int64_t window_ms;
    metric *m_opened, *m_bound;
} cluster_handler_ctx;

/* One batch, inside the frame's transaction: check each alert, lock every key of the
 * batch at once, bind or open for all (store.c's few statements), then queue each
 * alert's two outputs. */
static int handle_batch(void *vctx, pg *db, consumer_item **items, size_t n)
{
    cluster_handler_ctx *h = vctx;
    char(*fingerprints)[CLUSTER_FINGERPRINT_LEN] = calloc(n, sizeof *fingerprints);
    char(*new_ids)[37] = calloc(n, sizeof *new_ids);
    const char **keys = calloc(2 * n, sizeof *keys);
    cluster_row *rows = calloc(n, sizeof *rows);
    size_t *row_of = calloc(n, sizeof *row_of);
    int rc = fingerprints && new_ids && keys && rows && row_of ? PG_OK : PG_RETRY;
    size_t n_rows = 0;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        Hutch__V1__Alert *a = (Hutch__V1__Alert *)items[i]->value;
        if (cluster_fingerprint(a->schema, a->title, fingerprints[i]) != 0) {
            rc = PG_RETRY; /* the digest failed: out of memory */
            break;
        }
        cluster_ticket_id(new_ids[i], a->alert_id, a->created_unix_ms ? a->created_unix_ms : a->meta->created_unix_ms);
        keys[2 * i] = a->namespace_;
        keys[2 * i + 1] = fingerprints[i];
        rows[n_rows] = (cluster_row){.redelivered = items[i]->redelivered,
                                     .alert_id = a->alert_id,
                                     .namespace_ = a->namespace_ ? a->namespace_ : "",
                                     .fingerprint = fingerprints[i],
                                     .title = a->title ? a->title : "",
                                     .new_ticket_id = new_ids[i]};
        row_of[i] = ++n_rows; /* 1-based: 0 = no row */
    }
    if (rc == PG_OK)
        rc = cluster_store_lock(db, keys, 2 * n);
    if (rc == PG_OK && n_rows)
        rc = cluster_store_batch(db, rows, n_rows, h->window_ms);
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        consumer_item *it = items[i];
        if (it->dead)
            continue;
        Hutch__V1__Alert *a = (Hutch__V1__Alert *)it->value;
        const cluster_row *r = &rows[row_of[i] - 1];
        size_t alert_len = 0, event_len = 0;
        uint8_t *alert_buf = cluster_pack_clustered(a, r->ticket_id, r->new_ticket, fingerprints[i], &alert_len);
        uint8_t *event_buf = cluster_pack_ticket_event(a, r->ticket_id, r->new_ticket, fingerprints[i], &event_len);
        const char *key = *r->namespace_ ? r->namespace_ : a->alert_id;
        /* the frame takes the buffers (NULL ones fail): no copy */
        int taken = consumer_emit_take(it, TOPIC_ALERTS_CLUSTERED, key, alert_buf, alert_len);
        if (consumer_emit_take(it, TOPIC_TICKETS_EVENTS, r->ticket_id, event_buf, event_len) != 0 || taken != 0)
            rc = PG_RETRY; /* out of memory: the batch runs again */
        char count[24];
        snprintf(count, sizeof count, "%" PRId64, r->alert_count);
        consumer_item_log(LOG_LEVEL_INFO, it,
                          r->again        ? "alert_clustered_again"
                          : r->new_ticket ? "ticket_opened"
                                          : "alert_bound",
                          "alert_id", a->alert_id, "ticket_id", r->ticket_id, "trace_id", a->meta->trace_id,
                          "alert_count", count, NULL);
        if (!r->again)
            metrics_add(r->new_ticket ? h->m_opened : h->m_bound, 1);
    }
    free(fingerprints);
    free(new_ids);
    free(keys);
    free(rows);
    free(row_of);
    return rc;
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
    cluster_handler_ctx h = {.window_ms = cfg.window_ms};
    if (service_start(&svc, "cluster", argc, argv) != 0)
        goto out;
    h.m_opened = metrics_counter("hutch_cluster_alerts_total{result=\"opened\"}", "Alerts clustered, new effects only");
    h.m_bound = metrics_counter("hutch_cluster_alerts_total{result=\"bound\"}", "Alerts clustered, new effects only");
    static const consumer_input inputs[] = {{TOPIC_ALERTS_ENRICHED, &hutch__v1__alert__descriptor, msg_check_alert},
                                            {NULL, NULL, NULL}};
    consumer_spec spec = {.inputs = inputs, .handle = handle_batch};
    status = service_consume(&svc, &spec, &h) == 0 ? 0 : 1;
out:
    service_stop(&svc);
    config_free(cluster_config_table, &cfg);
    return status;
}
