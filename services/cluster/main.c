/* hutch-cluster: hutch.alerts.enriched -> bind to a ticket or open one ->
 * hutch.alerts.clustered (the Alert with ticket_id, new_ticket, fingerprint, and for
 * storm tickets notify and ticket_title), and the relay of the ticket history to
 * hutch.tickets.events.
 *
 * The frame (common/consumer.h) hands over batches inside one transaction. Per batch:
 * each alert's shape text and hash (common/shape.h), actor keys and storm kind
 * (bind.h); the shapes' vectors (shapes.h: memory, Postgres, then one embedder call
 * for the misses); the locks, the decisions (bind.c's, pure) and the statements
 * (store.c's); the output packing (cluster.c's). Idempotency: the ticket an alert
 * opens has an id derived from the alert and the output Meta ids are derived from the
 * input's, so a redelivered alert (store.c re-reads its binding, and a storm's
 * notifying alert) produces the same bytes as the first time. A declined alert
 * (common/ticket.h) produces nothing again.
 *
 * TicketEvents: store.c writes an "opened" or "bound" ticket_history row per ticket
 * in the batch's transaction, as every other ticket change does (common/ticket.c);
 * the frame's tick (after each batch, and every HUTCH_CLUSTER_RELAY_INTERVAL while
 * idle) runs ticket_relay_publish, which sends the unpublished rows, up to 1,000 at
 * once, each acknowledged by the broker before it is marked. Any cluster instance may relay;
 * one does at a time.
 *
 * Similarity reads: each instance keeps the shapes of the last HUTCH_CLUSTER_INDEX_WINDOW
 * in memory (shape_index.h), loaded from Postgres at start (on a thread of its own)
 * and refreshed by the tick (at most every HUTCH_CLUSTER_INDEX_REFRESH) from what every
 * instance embedded, and answers GET /v1/similar from it (`hutchctl alert similar`). */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
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
#include "common/shape.h"
#include "services/cluster/bind.h"
#include "services/cluster/cluster.h"
#include "services/cluster/shape_index.h"
#include "services/cluster/shapes.h"
#include "services/cluster/store.h"

typedef struct {
    int64_t window_ms;
    char *threshold;
    int64_t relay_interval_ms;
    int64_t index_window_ms;
    int64_t index_refresh_ms;
    char *index_storage;
} cluster_config;

static const config_field cluster_config_table[] = {
    {"HUTCH_CLUSTER_WINDOW", CONFIG_DURATION_MS, "1h", offsetof(cluster_config, window_ms),
     "An alert joins an open ticket whose last alert is this recent (binding rules: README, services/cluster/bind.c)",
     0, 0},
    {"HUTCH_CLUSTER_BIND_THRESHOLD", CONFIG_STRING, "0.9", offsetof(cluster_config, threshold),
     "An alert joins a ticket of a shared actor when its shape's cosine similarity to one of the ticket's is at "
     "least this (0 to 1)",
     0, 0},
    {"HUTCH_CLUSTER_RELAY_INTERVAL", CONFIG_DURATION_MS, "1s", offsetof(cluster_config, relay_interval_ms),
     "While no alert comes, how often the ticket history is relayed to hutch.tickets.events", 0, 0},
    {"HUTCH_CLUSTER_INDEX_WINDOW", CONFIG_DURATION_MS, "30d", offsetof(cluster_config, index_window_ms),
     "The similarity index (GET /v1/similar, `hutchctl alert similar`) holds the shapes of the alerts of this window",
     0, 0},
    {"HUTCH_CLUSTER_INDEX_REFRESH", CONFIG_DURATION_MS, "1s", offsetof(cluster_config, index_refresh_ms),
     "How often the similarity index takes in the shapes every instance embedded since", 0, 0},
    {"HUTCH_CLUSTER_INDEX_STORAGE", CONFIG_STRING, "f32", offsetof(cluster_config, index_storage),
     "The similarity index's vectors: f32 (exact), or i8 (4x less memory, scores within about 1%)", 0, 0},
    CONFIG_END,
};

/* A shape embedded this long before the newest one seen may still commit after it (a
 * batch's transaction): each refresh reads this far back again. */
#define INDEX_OVERLAP_MS 60000
#define SIMILAR_MAX 1000

typedef struct {
    cluster_store_params params;
    shapes *shapes;
    shape_index *index; /* NULL until loaded (index_load); then read by the HTTP threads */
    bool index_by_tick; /* index_load could not: the tick makes the index */
    const char *database_url, *embedder_name;
    volatile sig_atomic_t *stop; /* the service's: ends a load early */
    int index_dim;
    vindex_storage index_storage;
    int64_t index_window_ms, index_refresh_ms, index_newest_ms, index_refreshed_at;
    metric *m_index_shapes;
    metric *m_opened, *m_bound, *m_memory, *m_database, *m_model, *m_failed, *m_relayed, *m_relay_failed;
} cluster_handler_ctx;

/* The shapes of the batch: texts, hashes, vectors. */
static int embed_batch(cluster_handler_ctx *h, pg *db, consumer_item **items, size_t n, char **texts,
                       char (*hashes)[SHAPE_HASH_LEN], const float **vectors)
{
    for (size_t i = 0; i < n; i++) {
        texts[i] = shape_text((Hutch__V1__Alert *)items[i]->value);
        if (!texts[i] || shape_hash(texts[i], hashes[i]) != 0)
            return PG_RETRY; /* out of memory */
    }
    const char **hp = calloc(n ? n : 1, sizeof *hp);
    if (!hp)
        return PG_RETRY;
    for (size_t i = 0; i < n; i++)
        hp[i] = hashes[i];
    shapes_stats st = {0};
    shapes_trim(h->shapes);
    int rc = shapes_vectors(h->shapes, db, hp, (const char *const *)texts, n, vectors, &st);
    free(hp);
    if (rc == PG_OK) {
        metrics_add(h->m_memory, st.memory);
        metrics_add(h->m_database, st.database);
        metrics_add(h->m_model, st.model);
        metrics_add(h->m_failed, st.failed);
    }
    return rc;
}

#define RELAY_BATCH 1000
#define RELAY_ROUNDS 10 /* per tick: at most 10,000 events before the next batch of alerts */

/* The relay round's events, all produced at once and then waited for (one linger and
 * one broker round trip per round, not per event). */
static void relay_send(ticket_relay_event *events, size_t n, void *arg)
{
    kafka_batch_msg *msgs = calloc(n, sizeof *msgs);
    for (size_t i = 0; msgs && i < n; i++)
        msgs[i] = (kafka_batch_msg){.key = events[i].ticket_id,
                                    .key_len = strlen(events[i].ticket_id),
                                    .value = events[i].value,
                                    .value_len = events[i].len};
    if (msgs)
        kafka_produce_all(arg, TOPIC_TICKETS_EVENTS, msgs, n);
    for (size_t i = 0; i < n; i++)
        events[i].acked = msgs && msgs[i].acked;
    free(msgs);
}

/* Makes the index and fills it with the window's shapes, partitions it when large
 * (shape_index_partition), then publishes it to the HTTP threads (h->index). A load that
 * failed part way is kept, and the next refresh reads the whole window again. */
static void index_fill(cluster_handler_ctx *h, pg *db, int dim)
{
    int64_t t0 = ids_now_ms();
    shape_index *ix = shape_index_new(dim, h->index_storage);
    if (!ix)
        return;
    h->index_newest_ms = t0 - h->index_window_ms + INDEX_OVERLAP_MS;
    size_t added = 0;
    int rc =
        shape_index_refresh(ix, db, h->embedder_name, t0 - h->index_window_ms, &h->index_newest_ms, &added, h->stop);
    if (rc != PG_OK) {
        LOG_WARN("similarity_index_load_failed", "error", pg_last_error(db) ? pg_last_error(db) : "", NULL);
        h->index_newest_ms = t0 - h->index_window_ms + INDEX_OVERLAP_MS;
    }
    long parts = shape_index_partition(ix);
    char n[24], ms[24], np[24];
    snprintf(n, sizeof n, "%zu", shape_index_count(ix));
    snprintf(ms, sizeof ms, "%" PRId64, ids_now_ms() - t0);
    snprintf(np, sizeof np, "%ld", parts);
    LOG_INFO("similarity_index_loaded", "shapes", n, "partitions", np, "ms", ms, "ok", rc == PG_OK ? "true" : "false",
             NULL);
    metrics_set(h->m_index_shapes, (int64_t)shape_index_count(ix));
    h->index_refreshed_at = t0;
    __atomic_store_n(&h->index, ix, __ATOMIC_RELEASE);
}

/* The first load, on a thread and a connection of its own: a large window does not
 * hold up the first batches. An embedder whose size is not known yet leaves the index
 * to the tick, once the first batch tells. */
static void *index_load(void *arg)
{
    cluster_handler_ctx *h = arg;
    char err[256] = "";
    pg *db = h->index_dim > 0 ? pg_connect(h->database_url, 60000, err, sizeof err) : NULL;
    if (db)
        index_fill(h, db, h->index_dim);
    else {
        if (h->index_dim > 0)
            LOG_WARN("similarity_index_load_failed", "error", err, NULL);
        __atomic_store_n(&h->index_by_tick, true, __ATOMIC_RELEASE);
    }
    pg_free(db);
    return NULL;
}

/* The tick's part: takes in the shapes every instance embedded since the last refresh
 * (at most every HUTCH_CLUSTER_INDEX_REFRESH). */
static void index_refresh(cluster_handler_ctx *h, pg *db)
{
    shape_index *ix = __atomic_load_n(&h->index, __ATOMIC_ACQUIRE);
    if (!ix) {
        if (__atomic_load_n(&h->index_by_tick, __ATOMIC_ACQUIRE) && shapes_dim(h->shapes) > 0)
            index_fill(h, db, shapes_dim(h->shapes));
        return; /* else still loading, or the size is not known yet */
    }
    int64_t now = ids_now_ms();
    if (now - h->index_refreshed_at < h->index_refresh_ms)
        return;
    size_t added = 0;
    if (shape_index_refresh(ix, db, h->embedder_name, h->index_newest_ms - INDEX_OVERLAP_MS, &h->index_newest_ms,
                            &added, h->stop) != PG_OK &&
        !*h->stop)
        LOG_WARN("similarity_index_refresh_failed", "error", pg_last_error(db) ? pg_last_error(db) : "", NULL);
    h->index_refreshed_at = now;
    metrics_set(h->m_index_shapes, (int64_t)shape_index_count(ix));
}

/* GET /v1/similar?shape_hash=H[&limit=N][&min_score=S]: the shapes of the index's
 * window most like H's, best first (H's own first), as JSON. */
static void on_similar(struct evhttp_request *req, void *vctx)
{
    cluster_handler_ctx *h = vctx;
    shape_index *ix = __atomic_load_n(&h->index, __ATOMIC_ACQUIRE);
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        http_reply_error(req, 405, "GET only");
        return;
    }
    if (!ix) {
        http_reply_error(req, 503, "the similarity index is not loaded yet");
        return;
    }
    struct evkeyvalq q;
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!qs || evhttp_parse_query_str(qs, &q) != 0) {
        http_reply_error(req, 400, "shape_hash is required");
        return;
    }
    const char *hash = evhttp_find_header(&q, "shape_hash"), *limit = evhttp_find_header(&q, "limit"),
               *min_score = evhttp_find_header(&q, "min_score");
    char *end = NULL;
    long k = limit ? strtol(limit, &end, 10) : 10;
    double min = min_score ? strtod(min_score, &end) : -1.0;
    shape_hit *hits = NULL;
    int known = 0, n = -1;
    if (!hash || (limit && (k < 1 || k > SIMILAR_MAX)) || (end && *end) || !(min >= -1 && min <= 1))
        http_reply_error(req, 400, "shape_hash (64 hex digits), limit (1..1000), min_score (-1..1)");
    else if (!(hits = calloc((size_t)k, sizeof *hits)) ||
             (n = shape_index_search_like(ix, hash, (size_t)k, (float)min, ids_now_ms() - h->index_window_ms, hits,
                                          &known)) < 0)
        http_reply_error(req, 500, "out of memory");
    else if (!known)
        http_reply_error(req, 404, "no alert of this shape in the similarity index's window");
    else {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(arr,
                                  json_pack("{s:s, s:f, s:I}", "shape_hash", hits[i].hash, "score",
                                            (double)hits[i].score, "last_seen_ms", (json_int_t)hits[i].last_seen_ms));
        json_t *doc =
            json_pack("{s:s, s:I, s:I, s:o}", "embedder", shapes_embedder_name(h->shapes), "window_ms",
                      (json_int_t)h->index_window_ms, "index_shapes", (json_int_t)shape_index_count(ix), "shapes", arr);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (text)
            http_reply_json(req, 200, text);
        else
            http_reply_error(req, 500, "out of memory");
        free(text);
        json_decref(doc);
    }
    free(hits);
    evhttp_clear_headers(&q);
}

/* The frame's tick: relay the ticket history (a failure waits for the next tick), then
 * refresh the similarity index. */
static void relay_tick(void *vctx, pg *db, kafka_producer *producer)
{
    cluster_handler_ctx *h = vctx;
    index_refresh(h, db);
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

/* One batch, inside the frame's transaction: embed the batch's shapes, lock every
 * key of the batch at once, bind or open for all (store.c's few statements), then
 * queue each alert's output. */
static int handle_batch(void *vctx, pg *db, consumer_item **items, size_t n)
{
    cluster_handler_ctx *h = vctx;
    char(*fingerprints)[CLUSTER_FINGERPRINT_LEN] = calloc(n, sizeof *fingerprints);
    char(*new_ids)[37] = calloc(n, sizeof *new_ids);
    const char **keys = calloc((BIND_MAX_KEYS + 1) * n, sizeof *keys);
    cluster_row *rows = calloc(n, sizeof *rows);
    size_t *row_of = calloc(n, sizeof *row_of);
    char **texts = calloc(n, sizeof *texts);
    char(*hashes)[SHAPE_HASH_LEN] = calloc(n, sizeof *hashes);
    const float **vectors = calloc(n, sizeof *vectors);
    bind_alert *binds = calloc(n, sizeof *binds);
    int rc = fingerprints && new_ids && keys && rows && row_of && texts && hashes && vectors && binds ? PG_OK
                                                                                                      : PG_RETRY;
    size_t n_rows = 0, n_keys = 0;
    if (rc == PG_OK)
        rc = embed_batch(h, db, items, n, texts, hashes, vectors);
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        Hutch__V1__Alert *a = (Hutch__V1__Alert *)items[i]->value;
        if (cluster_fingerprint(a->schema, a->title, fingerprints[i]) != 0) {
            rc = PG_RETRY; /* the digest failed: out of memory */
            break;
        }
        cluster_ticket_id(new_ids[i], a->alert_id, a->created_unix_ms ? a->created_unix_ms : a->meta->created_unix_ms);
        bind_alert_read(a, fingerprints[i], &binds[i]);
        keys[n_keys++] = a->namespace_;
        for (size_t k = 0; k < binds[i].n_keys; k++)
            keys[n_keys++] = binds[i].keys[k];
        rows[n_rows] = (cluster_row){.redelivered = items[i]->redelivered,
                                     .alert_id = a->alert_id,
                                     .namespace_ = a->namespace_ ? a->namespace_ : "",
                                     .fingerprint = fingerprints[i],
                                     .title = a->title ? a->title : "",
                                     .severity = a->severity ? a->severity : "",
                                     .shape_hash = hashes[i],
                                     .vector = vectors[i],
                                     .bind = &binds[i],
                                     .new_ticket_id = new_ids[i]};
        row_of[i] = ++n_rows; /* 1-based: 0 = no row */
    }
    if (rc == PG_OK)
        rc = cluster_store_lock(db, keys, n_keys);
    if (rc == PG_OK && n_rows)
        rc = cluster_store_batch(db, h->shapes, rows, n_rows, &h->params);
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
        uint8_t *alert_buf = cluster_pack_clustered(a, r->ticket_id, r->new_ticket, fingerprints[i], r->notify,
                                                    r->ticket_title, &alert_len);
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
                          "alert_count", count, "bound_by", r->again ? "" : bind_reason_name(r->reason),
                          "notify", r->notify, NULL);
        if (!r->again)
            metrics_add(r->new_ticket ? h->m_opened : h->m_bound, 1);
    }
    free(fingerprints);
    free(new_ids);
    free(keys);
    free(rows);
    free(row_of);
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(hashes);
    free(vectors);
    free(binds);
    return rc;
}

int main(int argc, char **argv)
{
    cluster_config cfg = {0};
    embed_config ecfg = {0};
    service_config_or_exit(cluster_config_table, &cfg, argc, argv, "hutch-cluster",
                           "Groups enriched alerts into tickets by actor and shape (or namespace) within a window, "
                           "storms into one ticket per actor and kind: "
                           "hutch.alerts.enriched -> hutch.alerts.clustered; relays the ticket history to "
                           "hutch.tickets.events. Embedding settings: HUTCH_EMBED_* (hutch-embed --help).");
    char err[1024] = "";
    char *end = NULL;
    double threshold = strtod(cfg.threshold, &end);
    if (end == cfg.threshold || *end || !(threshold >= 0 && threshold <= 1)) {
        fprintf(stderr, "hutch-cluster: HUTCH_CLUSTER_BIND_THRESHOLD: not a number from 0 to 1: %s\n", cfg.threshold);
        config_free(cluster_config_table, &cfg);
        return 78;
    }
    if (config_load(embed_config_table, &ecfg, err, sizeof err) != 0) {
        fprintf(stderr, "hutch-cluster: %s\n", err);
        config_free(cluster_config_table, &cfg);
        return 78;
    }
    service svc;
    memset(&svc, 0, sizeof svc);
    pthread_t loader;
    bool loading = false;
    int status = 1;
    cluster_handler_ctx h = {.params = {.threshold = threshold, .window_ms = cfg.window_ms},
                             .index_window_ms = cfg.index_window_ms,
                             .index_refresh_ms = cfg.index_refresh_ms};
    if (strcmp(cfg.index_storage, "f32") == 0 || strcmp(cfg.index_storage, "i8") == 0) {
        h.index_storage = strcmp(cfg.index_storage, "i8") == 0 ? VINDEX_I8 : VINDEX_F32;
    } else {
        fprintf(stderr, "hutch-cluster: HUTCH_CLUSTER_INDEX_STORAGE: f32 or i8, not %s\n", cfg.index_storage);
        config_free(cluster_config_table, &cfg);
        return 78;
    }
    embedder *emb = embedder_new(&ecfg, err, sizeof err);
    if (!emb) {
        fprintf(stderr, "hutch-cluster: embedder: %s\n", err);
        goto out;
    }
    if (!(h.shapes = shapes_new(emb)))
        goto out;
    if (service_start(&svc, "cluster", argc, argv) != 0)
        goto out;
    LOG_INFO("cluster_embedder", "embedder", embedder_name(emb), "note", embedder_note(emb), NULL);
    h.m_opened = metrics_counter("hutch_cluster_alerts_total{result=\"opened\"}", "Alerts clustered, new effects only");
    h.m_bound = metrics_counter("hutch_cluster_alerts_total{result=\"bound\"}", "Alerts clustered, new effects only");
    h.m_memory = metrics_counter("hutch_cluster_shape_vectors_total{source=\"memory\"}",
                                 "Alert shapes' vectors, by where they came from (memory, database: cache hits)");
    h.m_database = metrics_counter("hutch_cluster_shape_vectors_total{source=\"database\"}",
                                   "Alert shapes' vectors, by where they came from (memory, database: cache hits)");
    h.m_model = metrics_counter("hutch_cluster_shape_vectors_total{source=\"model\"}",
                                "Alert shapes' vectors, by where they came from (model: embedded now)");
    h.m_failed = metrics_counter("hutch_cluster_shape_vectors_total{source=\"failed\"}",
                                 "Alert shapes the embedder refused (bound without similarity)");
    h.m_relayed = metrics_counter("hutch_cluster_ticket_events_relayed_total",
                                  "Ticket history rows published on hutch.tickets.events");
    h.m_index_shapes =
        metrics_gauge("hutch_cluster_similarity_index_shapes", "Shapes in this instance's similarity index");
    http_server_route(svc.http, "/v1/similar", on_similar, &h);
    h.database_url = svc.common.database_url;
    h.embedder_name = shapes_embedder_name(h.shapes);
    h.index_dim = shapes_dim(h.shapes);
    h.stop = &svc.stop;
    loading = pthread_create(&loader, NULL, index_load, &h) == 0;
    if (!loading)
        h.index_by_tick = true;
    h.m_relay_failed = metrics_counter("hutch_cluster_ticket_relay_failures_total",
                                       "Relay rounds that failed (database); retried at the next tick");
    static const consumer_input inputs[] = {{TOPIC_ALERTS_ENRICHED, &hutch__v1__alert__descriptor, msg_check_alert},
                                            {NULL, NULL, NULL}};
    consumer_spec spec = {
        .inputs = inputs, .handle = handle_batch, .tick = relay_tick, .tick_ms = (int)cfg.relay_interval_ms};
    status = service_consume(&svc, &spec, &h) == 0 ? 0 : 1;
out:
    if (loading)
        pthread_join(loader, NULL);
    service_stop(&svc);
    shape_index_free(h.index);
    shapes_free(h.shapes);
    embedder_free(emb);
    config_free(embed_config_table, &ecfg);
    config_free(cluster_config_table, &cfg);
    return status;
}
