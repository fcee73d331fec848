/* hutch-ingest: the front door. Webhooks (POST /hooks/alert/{raw,pubsub,sns}/{schema})
 * and the Kafka JSON topics (HUTCH_INGEST_TOPICS, hutch.ingest.json by default)
 * become RawEvents on hutch.events.raw.
 *
 * HTTP: a request is answered 202 only once Kafka acknowledged its RawEvent, and no
 * loop thread ever waits for that: the handler produces asynchronously and parks
 * the request on its loop's queue (parked.h), which answers it on that loop when
 * the delivery report comes (202, or 503 when delivery failed), or 503 once
 * HUTCH_INGEST_ACK_TIMEOUT passed. HUTCH_INGEST_HTTP_THREADS event loops share the
 * listening socket; librdkafka's delivery reports are served by one poll thread.
 *
 * Stop order: refuse new requests (503), wait (bounded) until every parked request
 * got its report, stop HTTP, close the queues, join the poll thread, then
 * service_stop (its flush still delivers reports, which now only mark their
 * entries), and free the queues.
 *
 * Kafka path: router.h makes the events of a message (split, unwrapped, schema from
 * the header, a field, the topic or the default, ids derived from topic/partition/
 * offset/index so a redelivery reproduces the same events); on_json_message only
 * maps its result onto the consumer: a RawEvent per event, a DeadLetter per record
 * that failed, and the whole message dead-lettered when nothing in it was usable. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/metrics.h"
#include "common/service.h"
#include "common/topics.h"
#include "services/ingest/guard.h"
#include "services/ingest/ingest.h"
#include "services/ingest/parked.h"
#include "services/ingest/router.h"

typedef struct {
    int64_t max_body;
    char *tokens;
    char *default_schema;
    int64_t ack_timeout_ms;
    int64_t http_threads;
    ingest_guard_config guard;
    char *topics;
    char *schema_field;
    char *schema_map;
    char *unwrap;
} ingest_config;

static const config_field ingest_config_table[] = {
    {"HUTCH_INGEST_MAX_BODY", CONFIG_INT, "1048576", offsetof(ingest_config, max_body),
     "largest accepted request body in bytes (413 above)", 1, 64 * 1024 * 1024},
    {"HUTCH_INGEST_TOKENS", CONFIG_SECRET, "", offsetof(ingest_config, tokens),
     "comma-separated bearer tokens; when set, webhooks without one of them get 401", 0, 0},
    {"HUTCH_INGEST_DEFAULT_SCHEMA", CONFIG_STRING, "json", offsetof(ingest_config, default_schema),
     "schema of Kafka JSON messages that nothing else names (header, field, topic)", 0, 0},
    {"HUTCH_INGEST_ACK_TIMEOUT", CONFIG_DURATION_MS, "10s", offsetof(ingest_config, ack_timeout_ms),
     "answer 503 when Kafka has not acknowledged an event within this time", 0, 0},
    {"HUTCH_INGEST_HTTP_THREADS", CONFIG_INT, "2", offsetof(ingest_config, http_threads),
     "HTTP event loops (threads) sharing the listening socket", 1, HTTP_MAX_LOOPS},
    INGEST_GUARD_CONFIG_FIELDS(ingest_config, guard),
    {"HUTCH_INGEST_TOPICS", CONFIG_STRING, "hutch.ingest.json", offsetof(ingest_config, topics),
     "Kafka JSON topics to consume, topic[=schema],... (a topic's schema unless a header or field names one)", 0, 0},
    {"HUTCH_INGEST_SCHEMA_FIELD", CONFIG_STRING, "", offsetof(ingest_config, schema_field),
     "dotted JSON path whose value names the schema (mixed streams), mapped by HUTCH_INGEST_SCHEMA_MAP", 0, 0},
    {"HUTCH_INGEST_SCHEMA_MAP", CONFIG_STRING, "", offsetof(ingest_config, schema_map),
     "value=schema,... for HUTCH_INGEST_SCHEMA_FIELD (empty: the value is the schema)", 0, 0},
    {"HUTCH_INGEST_UNWRAP", CONFIG_STRING, "", offsetof(ingest_config, unwrap),
     "dotted JSON path of the alert inside a log router's record (a string holding JSON is parsed)", 0, 0},
    CONFIG_END,
};

typedef struct {
    service svc;
    ingest_config cfg;
    parked_queue *queues[HTTP_MAX_LOOPS]; /* one per HTTP loop, in loop order */
    int nqueues;
    volatile sig_atomic_t draining; /* refuse new requests with 503 */
    pthread_t poll_thread;
    volatile sig_atomic_t poll_stop;
    ingest_guard *guard;
    metric *m_accepted, *m_rejected, *m_unavailable, *m_kafka_events, *m_kafka_dead;
    router *router;
} ingest_app;

/* A parked request's answer, on its loop's thread (parked.h). */
static void answer(void *ctx, parked *p, parked_outcome outcome)
{
    ingest_app *app = ctx;
    switch (outcome) {
    case PARKED_ACKED: {
        char body[80];
        snprintf(body, sizeof body, "{\"event_id\":\"%s\"}", p->event_id);
        http_reply_json(p->req, 202, body);
        metrics_add(app->m_accepted, 1);
        LOG_INFO("event_accepted", "event_id", p->event_id, "trace_id", p->trace_id, "schema", p->schema, "source",
                 p->source, "topic", TOPIC_EVENTS_RAW, NULL);
        break;
    }
    case PARKED_FAILED:
        http_reply_error(p->req, 503, "Kafka is unavailable");
        metrics_add(app->m_unavailable, 1);
        LOG_WARN("event_not_delivered", "event_id", p->event_id, "trace_id", p->trace_id, NULL);
        break;
    case PARKED_TIMED_OUT:
        http_reply_error(p->req, 503, "Kafka did not acknowledge the event in time");
        metrics_add(app->m_unavailable, 1);
        LOG_WARN("event_ack_timeout", "event_id", p->event_id, "trace_id", p->trace_id, NULL);
        break;
    case PARKED_LATE_ACK:
        /* Answered 503 on timeout, yet delivered after all: the client will
         * likely retry, so this event may arrive twice under two ids. */
        LOG_WARN("event_delivered_after_timeout", "event_id", p->event_id, "trace_id", p->trace_id, NULL);
        break;
    case PARKED_LATE_FAIL: break;
    }
}

/* Producer poll thread (or wherever librdkafka serves delivery reports). */
static void on_delivery(void *ctx, int err) { parked_delivered(ctx, err); }

static void *poll_main(void *ctx)
{
    ingest_app *app = ctx;
    while (!app->poll_stop)
        kafka_producer_poll(app->svc.producer, 100);
    return NULL;
}

/* The queue of the loop the request arrived on. */
static parked_queue *queue_of(ingest_app *app, struct evhttp_request *req)
{
    struct event_base *base = evhttp_connection_get_base(evhttp_request_get_connection(req));
    for (int i = 0; i < app->nqueues; i++)
        if (parked_queue_base(app->queues[i]) == base)
            return app->queues[i];
    return NULL;
}

static void reject(ingest_app *app, struct evhttp_request *req, int status, const char *message)
{
    metrics_add(app->m_rejected, 1);
    http_reply_error(req, status, message);
}

static void on_hook(struct evhttp_request *req, void *ctx)
{
    ingest_app *app = ctx;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    ingest_kind kind;
    char schema[INGEST_SCHEMA_MAX + 1];
    int rc = ingest_parse_path(path, &kind, schema);
    if (rc == -1) {
        reject(app, req, 404, "not found");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        reject(app, req, 405, "method not allowed");
        return;
    }
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (kind == INGEST_KIND_RAW && !ingest_token_ok(app->cfg.tokens, auth)) { /* sns, pubsub: guard.h */
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        reject(app, req, 401, "missing or invalid bearer token");
        return;
    }
    if (rc == -2) {
        reject(app, req, 400, "invalid schema name (want [a-z0-9][a-z0-9_.-]{0,63})");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if ((int64_t)len > app->cfg.max_body) {
        reject(app, req, 413, "body too large");
        return;
    }
    if (app->draining || !kafka_producer_connected(app->svc.producer)) {
        metrics_add(app->m_unavailable, 1);
        http_reply_error(req, 503, "Kafka is unavailable");
        return;
    }
    const char *body = (const char *)evbuffer_pullup(in, -1);
    char *payload = NULL;
    char err[256];
    int refused = ingest_guard_check(app->guard, req, kind, schema, body ? body : "", len, err, sizeof err);
    if (refused) {
        reject(app, req, refused, err);
        return;
    }
    ingest_status st = ingest_decode(kind, body ? body : "", len, &payload, err, sizeof err);
    if (st == INGEST_CONFIRM) {
        LOG_INFO("sns_confirmation", "schema", schema, "detail", err, NULL);
        http_reply_json(req, 200, "{\"status\":\"ok\"}");
        return;
    }
    if (st == INGEST_BAD) {
        reject(app, req, 400, err);
        return;
    }
    if (st != INGEST_OK) {
        http_reply_error(req, 500, "out of memory");
        return;
    }

    parked_queue *q = queue_of(app, req);
    parked *p = q ? parked_add(q, req) : NULL;
    if (!p) {
        free(payload);
        http_reply_error(req, 500, q ? "out of memory" : "request on an unknown event loop");
        return;
    }
    ingest_ids ids;
    ingest_ids_random(&ids);
    p->source = ingest_kind_source(kind);
    memcpy(p->event_id, ids.event_id, sizeof p->event_id);
    memcpy(p->trace_id, ids.trace_id, sizeof p->trace_id);
    snprintf(p->schema, sizeof p->schema, "%s", schema);
    ingest_event ev = {
        .event_id = ids.event_id,
        .trace_id = ids.trace_id,
        .meta_seed = NULL,
        .schema = schema,
        .source = p->source,
        .payload_json = payload,
        .received_ms = ids_now_ms(),
    };
    size_t vlen = 0;
    uint8_t *value = ingest_raw_event_pack(&ev, &vlen);
    free(payload);
    if (!value) {
        parked_cancel(p);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    if (kafka_produce_async(app->svc.producer, TOPIC_EVENTS_RAW, ids.event_id, strlen(ids.event_id), value, vlen, NULL,
                            on_delivery, p) != 0) {
        LOG_WARN("event_not_queued", "event_id", ids.event_id, "trace_id", ids.trace_id, NULL);
        parked_cancel(p);
        metrics_add(app->m_unavailable, 1);
        http_reply_error(req, 503, "Kafka is unavailable");
    }
    free(value);
}

/* One message of a log router -> its events (router.h: split, unwrapped, schema from
 * the header, a field, the topic or the default, ids derived from topic/partition/
 * offset/index so a redelivery reproduces the same events): a RawEvent per event, a
 * DeadLetter per record that failed; the whole message dead when nothing in it was
 * usable. 0, or -1 on OOM (the batch runs again). */
static int json_message(ingest_app *app, consumer_item *it)
{
    const kafka_msg *msg = &it->msg;
    size_t hlen = 0;
    const char *h = kafka_msg_header(msg, HEADER_SCHEMA, &hlen);
    router_msg rm = {.topic = msg->topic,
                     .partition = msg->partition,
                     .offset = msg->offset,
                     .timestamp_ms = msg->timestamp_ms,
                     .header_schema = h,
                     .header_schema_len = h ? hlen : 0,
                     .value = msg->value,
                     .value_len = msg->value ? msg->value_len : 0};
    router_result res;
    char reason[CONSUMER_REASON_MAX];
    router_status st = router_route(app->router, &rm, &res, reason, sizeof reason);
    if (st == ROUTER_NOMEM)
        return -1;
    if (st == ROUTER_OK && res.n_events == 0) { /* nothing usable: the whole message */
        snprintf(reason, sizeof reason, "%s%s", res.errors[0].reason, res.n_errors > 1 ? " (and more lines)" : "");
        router_result_free(&res);
        st = ROUTER_BAD;
    }
    if (st != ROUTER_OK) {
        consumer_item_dead(it, "%s", reason);
        metrics_add(app->m_kafka_dead, 1);
        return 0;
    }

    int rc = 0;
    char source[300], index[24];
    snprintf(source, sizeof source, "kafka:%s", msg->topic);
    for (size_t i = 0; i < res.n_events && rc == 0; i++) {
        const router_event *e = &res.events[i];
        const char *attrs[2 * ROUTER_MAX_ATTRS + 1];
        for (size_t j = 0; j < e->n_attrs; j++) {
            attrs[2 * j] = e->attrs[j].key;
            attrs[2 * j + 1] = e->attrs[j].value;
        }
        attrs[2 * e->n_attrs] = NULL;
        ingest_event ev = {
            .event_id = e->ids.event_id,
            .trace_id = e->ids.trace_id,
            .meta_seed = e->ids.meta_seed,
            .schema = e->schema,
            .source = source,
            .payload_json = e->payload,
            .received_ms = msg->timestamp_ms > 0 ? msg->timestamp_ms : 0,
            .attributes = attrs,
        };
        size_t vlen = 0;
        uint8_t *value = ingest_raw_event_pack(&ev, &vlen);
        if ((rc = consumer_emit_take(it, TOPIC_EVENTS_RAW, e->ids.event_id, value, vlen)) != 0)
            break;
        snprintf(index, sizeof index, "%zu", e->index);
        metrics_add(app->m_kafka_events, 1);
        consumer_item_log(LOG_LEVEL_INFO, it, "event_received", "event_id", e->ids.event_id, "trace_id",
                          e->ids.trace_id, "schema", e->schema, "source", source, "index", index, NULL);
    }
    for (size_t i = 0; i < res.n_errors && rc == 0; i++) {
        const router_error *e = &res.errors[i];
        if ((rc = consumer_emit_dead_part(it, e->index, e->line, e->line ? e->line_len : 0, e->reason)) != 0)
            break;
        metrics_add(app->m_kafka_dead, 1);
    }
    router_result_free(&res);
    return rc;
}

/* A batch of the Kafka JSON topics: no database, the outputs' ids derive from the
 * messages' coordinates, so a redelivered message produces the same RawEvents. */
static int handle_json_batch(void *ctx, pg *db, consumer_item **items, size_t n)
{
    (void)db;
    for (size_t i = 0; i < n; i++)
        if (json_message(ctx, items[i]) != 0)
            return PG_RETRY;
    return PG_OK;
}

/* Waits (bounded) until every parked request got its delivery report and answer. */
static void drain(ingest_app *app, int64_t wait_ms)
{
    int64_t until = ids_now_ms() + wait_ms;
    for (;;) {
        int left = 0;
        for (int i = 0; i < app->nqueues; i++)
            left += parked_count(app->queues[i]);
        if (left == 0 || ids_now_ms() >= until)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    static ingest_app app;
    service_config_or_exit(ingest_config_table, &app.cfg, argc, argv, "hutch-ingest",
                           "Receives alerts by webhook and from hutch.ingest.json; produces RawEvents on hutch.events.raw.");
    char rerr[1024];
    app.router = router_new(app.cfg.topics, app.cfg.schema_field, app.cfg.schema_map, app.cfg.unwrap,
                            app.cfg.default_schema, rerr, sizeof rerr);
    if (!app.router) {
        fprintf(stderr, "hutch-ingest: %s\n", rerr);
        config_free(ingest_config_table, &app.cfg);
        return 78;
    }
    char gerr[1024];
    if (!(app.guard = ingest_guard_new(&app.cfg.guard, gerr, sizeof gerr))) {
        fprintf(stderr, "%s\n", gerr);
        config_free(ingest_config_table, &app.cfg);
        return 78;
    }
    app.m_accepted = metrics_counter("hutch_ingest_events_total{path=\"http\",result=\"accepted\"}",
                                     "events accepted by ingest");
    app.m_rejected = metrics_counter("hutch_ingest_events_total{path=\"http\",result=\"rejected\"}",
                                     "requests refused with a 4xx");
    app.m_unavailable = metrics_counter("hutch_ingest_events_total{path=\"http\",result=\"unavailable\"}",
                                        "requests answered 503");
    app.m_kafka_events = metrics_counter("hutch_ingest_events_total{path=\"kafka\",result=\"accepted\"}",
                                         "events taken from Kafka JSON topics");
    app.m_kafka_dead = metrics_counter("hutch_ingest_events_total{path=\"kafka\",result=\"dead\"}",
                                       "Kafka JSON messages dead-lettered");

    int status = 1;
    bool poll_started = false;
    if (service_start(&app.svc, "ingest", argc, argv) != 0)
        goto out;
    if (http_server_set_loops(app.svc.http, (int)app.cfg.http_threads) != 0) {
        LOG_ERROR("http_loops_failed", NULL);
        goto out;
    }
    for (int i = 0; i < http_server_loops(app.svc.http); i++) {
        app.queues[i] =
            parked_queue_new(http_server_loop_base(app.svc.http, i), app.cfg.ack_timeout_ms, 200, answer, &app);
        if (!app.queues[i])
            goto out;
        app.nqueues++;
    }
    if (pthread_create(&app.poll_thread, NULL, poll_main, &app) != 0)
        goto out;
    poll_started = true;
    http_server_set_max_body(app.svc.http, (size_t)app.cfg.max_body);
    http_server_route(app.svc.http, "/hooks/", on_hook, &app);

    /* The router topics beyond the common ones are ingest's own to create. */
    const char *const *topics = router_topics(app.router);
    bool own_topics = topics[1] || strcmp(topics[0], TOPIC_INGEST_JSON) != 0;
    if (own_topics && kafka_create_topics(app.svc.common.kafka_brokers, topics, (int)app.svc.common.topic_partitions,
                                          rerr, sizeof rerr) < 0)
        LOG_ERROR("ingest_topics_not_created", "topics", app.cfg.topics, "error", rerr, NULL);
    size_t n_topics = 0;
    while (topics[n_topics])
        n_topics++;
    consumer_input *inputs = calloc(n_topics + 1, sizeof *inputs); /* raw JSON: no type, no check */
    for (size_t i = 0; inputs && i < n_topics; i++)
        inputs[i].topic = topics[i];
    consumer_spec spec = {.inputs = inputs, .handle = handle_json_batch, .no_database = true};
    status = inputs && service_consume(&app.svc, &spec, &app) == 0 ? 0 : 1;
    free(inputs);

out:
    /* Stop: refuse new requests, let parked ones get their reports (bounded). */
    app.draining = 1;
    if (poll_started)
        drain(&app, 10000);
    http_server_stop(app.svc.http); /* no handler runs any more; idempotent */
    for (int i = 0; i < app.nqueues; i++)
        parked_queue_close(app.queues[i]);
    if (poll_started) {
        app.poll_stop = 1;
        pthread_join(app.poll_thread, NULL);
    }
    service_stop(&app.svc); /* its flush delivers the last reports: they only mark */
    for (int i = 0; i < app.nqueues; i++)
        parked_queue_free(app.queues[i]);
    ingest_guard_free(app.guard);
    router_free(app.router);
    config_free(ingest_config_table, &app.cfg);
    return status;
}
