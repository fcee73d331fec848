/* hutch-cluster: hutch.alerts.enriched -> bind to a ticket or open one ->
 * hutch.alerts.clustered (the Alert with ticket_id, new_ticket, fingerprint), and the
 * relay of the ticket history to hutch.tickets.events.
 *
 * The frame (common/consumer.h) hands over batches inside one transaction; the
 * decision is cluster.c's (pure), the statements and their lock order store.c's, the
 * output packing cluster.c's. Idempotency: the ticket an alert opens has an id
 * derived from the alert and the output Meta ids are derived from the input's, so a
 * redelivered alert (store.c re-reads its binding) produces the same bytes as the
 * first time. A declined alert (common/ticket.h) produces nothing again.
 *
 * TicketEvents: store.c writes an "opened" or "bound" ticket_history row per ticket
 * in the batch's transaction, as every other ticket change does (common/ticket.c);
 * the frame's tick (after each batch, and every HUTCH_CLUSTER_RELAY_INTERVAL while
 * idle) runs ticket_relay_publish, which sends the unpublished rows, each
 * acknowledged by the broker before it is marked. Any cluster instance may relay;
 * one does at a time. */
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
#include "common/ticket.h"
#include "common/topics.h"
#include "services/cluster/cluster.h"
#include "services/cluster/store.h"

typedef struct {
    int64_t window_ms;
    int64_t relay_interval_ms;
} cluster_config;

static const config_field cluster_config_table[] = {
    {"HUTCH_CLUSTER_WINDOW", CONFIG_DURATION_MS, "1h", offsetof(cluster_config, window_ms),
     "An alert joins an open ticket of its namespace or fingerprint whose last alert is this recent", 0, 0},
    {"HUTCH_CLUSTER_RELAY_INTERVAL", CONFIG_DURATION_MS, "1s", offsetof(cluster_config, relay_interval_ms),
     "While no alert comes, how often the ticket history is relayed to hutch.tickets.events", 0, 0},
    CONFIG_END,
};

typedef struct {
    int64_t window_ms;
    metric *m_opened, *m_bound, *m_relayed, *m_relay_failed;
} cluster_handler_ctx;

#define RELAY_BATCH 200
#define RELAY_ROUNDS 10 /* per tick: at most 2,000 events before the next batch of alerts */

static int relay_send(const char *ticket_id, const void *value, size_t len, void *arg)
{
    return kafka_produce_sync(arg, TOPIC_TICKETS_EVENTS, ticket_id, strlen(ticket_id), value, len, NULL, 5000);
}

/* The frame's tick: relay the ticket history (a failure waits for the next tick). */
static void relay_tick(void *vctx, pg *db, kafka_producer *producer)
{
    cluster_handler_ctx *h = vctx;
    for (int round = 0; round < RELAY_ROUNDS; round++) {
        int n = ticket_relay_publish(db, RELAY_BATCH, relay_send, producer);
        if (n < 0) {
            metrics_add(h->m_relay_failed, 1);
            LOG_WARN("ticket_relay_failed", "error", pg_last_error(db) ? pg_last_error(db) : "", NULL);
        } else {
            metrics_add(h->m_relayed, n);
        }
        if (n < RELAY_BATCH)
            break;
    }
}

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
        if (r->declined) {
            consumer_item_log(LOG_LEVEL_INFO, it, "alert_declined_not_clustered", "alert_id", a->alert_id, NULL);
            continue;
        }
        size_t alert_len = 0;
        uint8_t *alert_buf = cluster_pack_clustered(a, r->ticket_id, r->new_ticket, fingerprints[i], &alert_len);
        const char *key = *r->namespace_ ? r->namespace_ : a->alert_id;
        /* the frame takes the buffer (a NULL one fails): no copy */
        if (consumer_emit_take(it, TOPIC_ALERTS_CLUSTERED, key, alert_buf, alert_len) != 0)
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
                           "hutch.alerts.enriched -> hutch.alerts.clustered; relays the ticket history to "
                           "hutch.tickets.events.");
    service svc;
    memset(&svc, 0, sizeof svc);
    int status = 1;
    cluster_handler_ctx h = {.window_ms = cfg.window_ms};
    if (service_start(&svc, "cluster", argc, argv) != 0)
        goto out;
    h.m_opened = metrics_counter("hutch_cluster_alerts_total{result=\"opened\"}", "Alerts clustered, new effects only");
    h.m_bound = metrics_counter("hutch_cluster_alerts_total{result=\"bound\"}", "Alerts clustered, new effects only");
    h.m_relayed = metrics_counter("hutch_cluster_ticket_events_relayed_total",
                                  "Ticket history rows published on hutch.tickets.events");
    h.m_relay_failed = metrics_counter("hutch_cluster_ticket_relay_failures_total",
                                       "Relay rounds that failed (database); retried at the next tick");
    static const consumer_input inputs[] = {{TOPIC_ALERTS_ENRICHED, &hutch__v1__alert__descriptor, msg_check_alert},
                                            {NULL, NULL, NULL}};
    consumer_spec spec = {
        .inputs = inputs, .handle = handle_batch, .tick = relay_tick, .tick_ms = (int)cfg.relay_interval_ms};
    status = service_consume(&svc, &spec, &h) == 0 ? 0 : 1;
out:
    service_stop(&svc);
    config_free(cluster_config_table, &cfg);
    return status;
}
