/* hutch-ingest: the front door. Webhooks (POST /hooks/alert/{raw,pubsub,sns}/{schema})
 * and the Kafka JSON topics (HUTCH_INGEST_TOPICS, hutch.ingest.json by default)
 * become RawEvents on hutch.events.raw.
 *
 * HTTP: a request is answered 202 only once Kafka acknowledged its RawEvent, and the
 * loop thread never waits for that. The handler queues the produce and parks the
 * request in a pending list; the delivery callback (on the producer's poll thread)
 * only marks the entry and asks the loop thread, through http_server_defer, to
 * sweep the list; the sweep answers 202 (acknowledged) or 503 (delivery failed).
 * The same sweep runs every 200 ms from a timer and answers 503 to requests whose
 * acknowledgement takes longer than HUTCH_INGEST_ACK_TIMEOUT (the entry stays until
 * the delivery report arrives, since librdkafka still owns the message).
 *
 * What must stay true: an entry of the pending list is freed exactly once, by the
 * sweep (loop thread, or main inside http_server_stop) or, after service_stop, by
 * main; a request is answered exactly once (entry->req is cleared when it is); the
 * delivery callback never touches its entry after unlocking, since the sweep may
 * free it at once. Stop order: drain (bounded), free the timer, join the poll
 * thread, then service_stop (its flush still delivers replies through
 * http_server_defer, which fails harmlessly once HTTP is stopped).
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
#include "services/ingest/ingest.h"
#include "services/ingest/router.h"

typedef struct {
    int64_t port;
    int64_t max_body;
    char *tokens;
    char *default_schema;
    int64_t ack_timeout_ms;
    char *topics;
    char *schema_field;
    char *schema_map;
    char *unwrap;
} ingest_config;

static const config_field ingest_config_table[] = {
    {"HUTCH_INGEST_PORT", CONFIG_INT, "8081", offsetof(ingest_config, port), "HTTP port (0 = any free port)", 0, 65535},
    {"HUTCH_INGEST_MAX_BODY", CONFIG_INT, "1048576", offsetof(ingest_config, max_body),
     "largest accepted request body in bytes (413 above)", 1, 64 * 1024 * 1024},
    {"HUTCH_INGEST_TOKENS", CONFIG_SECRET, "", offsetof(ingest_config, tokens),
     "comma-separated bearer tokens; when set, webhooks without one of them get 401", 0, 0},
    {"HUTCH_INGEST_DEFAULT_SCHEMA", CONFIG_STRING, "json", offsetof(ingest_config, default_schema),
     "schema of Kafka JSON messages that nothing else names (header, field, topic)", 0, 0},
    {"HUTCH_INGEST_ACK_TIMEOUT", CONFIG_DURATION_MS, "10s", offsetof(ingest_config, ack_timeout_ms),
     "answer 503 when Kafka has not acknowledged an event within this time", 0, 0},
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

typedef struct pending pending;

typedef struct {
    service svc;
    ingest_config cfg;
    pthread_mutex_t lock;   /* guards the pending list */
    pending *head;
    int inflight;           /* entries in the list */
    volatile sig_atomic_t draining; /* refuse new requests with 503 */
    struct event *sweep_timer;
    pthread_t poll_thread;
    volatile sig_atomic_t poll_stop;
    metric *m_accepted, *m_rejected, *m_unavailable, *m_kafka_events, *m_kafka_dead;
    router *router;
} ingest_app;

struct pending {
    pending *prev, *next;
    ingest_app *app;
    struct evhttp_request *req; /* NULL once answered */
    int64_t deadline_ms;
    bool delivered;
    int err;
    char event_id[IDS_UUID_LEN];
    char trace_id[IDS_UUID_LEN];
    char schema[INGEST_SCHEMA_MAX + 1];
    const char *source;
};

static void list_link(ingest_app *app, pending *p)
{
    p->prev = NULL;
    p->next = app->head;
    if (app->head)
        app->head->prev = p;
    app->head = p;
    app->inflight++;
}

static void list_unlink(ingest_app *app, pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        app->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    app->inflight--;
}

static void reply_accepted(pending *p)
{
    char body[80];
    snprintf(body, sizeof body, "{\"event_id\":\"%s\"}", p->event_id);
    http_reply_json(p->req, 202, body);
    metrics_add(p->app->m_accepted, 1);
    LOG_INFO("event_accepted", "event_id", p->event_id, "trace_id", p->trace_id, "schema", p->schema,
             "source", p->source, "topic", TOPIC_EVENTS_RAW, NULL);
}

/* Loop thread: answers what can be answered, frees what was delivered. */
static void sweep(ingest_app *app)
{
    int64_t now = ids_now_ms();
    pending *done = NULL;
    pthread_mutex_lock(&app->lock);
    for (pending *p = app->head, *next; p; p = next) {
        next = p->next;
        if (p->delivered) {
            list_unlink(app, p);
            p->next = done;
            done = p;
        } else if (p->req && now >= p->deadline_ms) {
            http_reply_error(p->req, 503, "Kafka did not acknowledge the event in time");
            metrics_add(app->m_unavailable, 1);
            LOG_WARN("event_ack_timeout", "event_id", p->event_id, "trace_id", p->trace_id, NULL);
            p->req = NULL;
        }
    }
    pthread_mutex_unlock(&app->lock);
    while (done) {
        pending *p = done;
        done = p->next;
        if (p->req && p->err == 0) {
            reply_accepted(p);
        } else if (p->req) {
            http_reply_error(p->req, 503, "Kafka is unavailable");
            metrics_add(app->m_unavailable, 1);
            LOG_WARN("event_not_delivered", "event_id", p->event_id, "trace_id", p->trace_id, NULL);
        } else if (p->err == 0) {
            /* Answered 503 on timeout, yet delivered after all: the client will
             * likely retry, so this event may arrive twice under two ids. */
            LOG_WARN("event_delivered_after_timeout", "event_id", p->event_id, "trace_id", p->trace_id, NULL);
        }
        free(p);
    }
}

static void sweep_deferred(void *ctx)
{
    sweep(ctx);
}

static void sweep_timer_cb(evutil_socket_t fd, short what, void *ctx)
{
    sweep(ctx);
}

/* Producer poll thread (or wherever librdkafka serves delivery reports). */
static void on_delivery(void *ctx, int err)
{
    pending *p = ctx;
    ingest_app *app = p->app;
    pthread_mutex_lock(&app->lock);
    p->delivered = true;
    p->err = err;
    pthread_mutex_unlock(&app->lock);
    /* p may be gone now. On failure (HTTP stopping) the timer or main cleans up. */
    http_server_defer(app->svc.http, sweep_deferred, app);
}

static void *poll_main(void *ctx)
{
    ingest_app *app = ctx;
    while (!app->poll_stop)
        kafka_producer_poll(app->svc.producer, 100);
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
    if (!ingest_token_ok(app->cfg.tokens, auth)) {
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

    pending *p = calloc(1, sizeof *p);
    if (!p) {
        free(payload);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    ingest_ids ids;
    ingest_ids_random(&ids);
    p->app = app;
    p->req = req;
    p->source = ingest_kind_source(kind);
    memcpy(p->event_id, ids.event_id, sizeof p->event_id);
    memcpy(p->trace_id, ids.trace_id, sizeof p->trace_id);
    snprintf(p->schema, sizeof p->schema, "%s", schema);
    int64_t now = ids_now_ms();
    p->deadline_ms = now + app->cfg.ack_timeout_ms;
    ingest_event ev = {
        .event_id = ids.event_id, .trace_id = ids.trace_id, .meta_seed = NULL, .schema = schema,
        .source = p->source, .payload_json = payload, .received_ms = now,
    };
    size_t vlen = 0;
    uint8_t *value = ingest_raw_event_pack(&ev, &vlen);
    free(payload);
    if (!value) {
        free(p);
        http_reply_error(req, 500, "out of memory");
        return;
    }
    pthread_mutex_lock(&app->lock);
    list_link(app, p);
    pthread_mutex_unlock(&app->lock);
    if (kafka_produce_async(app->svc.producer, TOPIC_EVENTS_RAW, p->event_id, strlen(p->event_id), value, vlen,
                            NULL, on_delivery, p) != 0) {
        pthread_mutex_lock(&app->lock);
        list_unlink(app, p);
        pthread_mutex_unlock(&app->lock);
        LOG_WARN("event_not_queued", "event_id", p->event_id, "trace_id", p->trace_id, NULL);
        metrics_add(app->m_unavailable, 1);
        http_reply_error(req, 503, "Kafka is unavailable");
        free(p);
    }
    free(value);
}

/* A DeadLetter for one record of a message whose other records went on. */
static int dead_letter_record(const kafka_msg *msg, const router_error *e, kafka_out *out)
{
    char seed[400];
    snprintf(seed, sizeof seed, "dlq|hutch-ingest|%s|%d|%lld|%zu", msg->topic, (int)msg->partition,
             (long long)msg->offset, e->index);
    msg_meta_buf mb;
    msg_meta_init(&mb, NULL, "hutch-ingest", msg->timestamp_ms > 0 ? msg->timestamp_ms : ids_now_ms(), seed);
    Hutch__V1__DeadLetter dl = HUTCH__V1__DEAD_LETTER__INIT;
    dl.meta = &mb.meta;
    dl.reason = (char *)e->reason;
    dl.source_topic = (char *)msg->topic;
    dl.source_partition = msg->partition;
    dl.source_offset = msg->offset;
    dl.payload.data = (uint8_t *)e->line;
    dl.payload.len = e->line ? e->line_len : 0;
    dl.consumer = "hutch-ingest";
    size_t len = 0;
    uint8_t *buf = msg_pack(&dl.base, &len);
    const char *headers[] = {"hutch-dlq-source", msg->topic, NULL};
    int rc = buf ? kafka_out_add(out, TOPIC_DLQ, msg->key, msg->key_len, buf, len, headers) : -1;
    free(buf);
    return rc;
}

static kafka_result on_json_message(void *ctx, const kafka_msg *msg, kafka_out *out, char *reason,
                                    size_t reason_len)
{
    ingest_app *app = ctx;
    size_t hlen = 0;
    const char *h = kafka_msg_header(msg, HEADER_SCHEMA, &hlen);
    router_msg rm = {.topic = msg->topic, .partition = msg->partition, .offset = msg->offset,
                     .timestamp_ms = msg->timestamp_ms, .header_schema = h, .header_schema_len = h ? hlen : 0,
                     .value = msg->value, .value_len = msg->value ? msg->value_len : 0};
    router_result res;
    router_status st = router_route(app->router, &rm, &res, reason, reason_len);
    if (st == ROUTER_NOMEM)
        return KAFKA_RETRY;
    if (st == ROUTER_OK && res.n_events == 0) { /* nothing usable: the whole message */
        snprintf(reason, reason_len, "%s%s", res.errors[0].reason, res.n_errors > 1 ? " (and more lines)" : "");
        router_result_free(&res);
        st = ROUTER_BAD;
    }
    if (st != ROUTER_OK) {
        metrics_add(app->m_kafka_dead, 1);
        return KAFKA_DEAD;
    }

    kafka_result result = KAFKA_OK;
    char source[300], part[16], off[24], index[24];
    snprintf(source, sizeof source, "kafka:%s", msg->topic);
    snprintf(part, sizeof part, "%d", (int)msg->partition);
    snprintf(off, sizeof off, "%lld", (long long)msg->offset);
    for (size_t i = 0; i < res.n_events && result == KAFKA_OK; i++) {
        const router_event *e = &res.events[i];
        const char *attrs[2 * ROUTER_MAX_ATTRS + 1];
        for (size_t j = 0; j < e->n_attrs; j++) {
            attrs[2 * j] = e->attrs[j].key;
            attrs[2 * j + 1] = e->attrs[j].value;
        }
        attrs[2 * e->n_attrs] = NULL;
        ingest_event ev = {
            .event_id = e->ids.event_id, .trace_id = e->ids.trace_id, .meta_seed = e->ids.meta_seed,
            .schema = e->schema, .source = source, .payload_json = e->payload,
            .received_ms = msg->timestamp_ms > 0 ? msg->timestamp_ms : 0, .attributes = attrs,
        };
        size_t vlen = 0;
        uint8_t *value = ingest_raw_event_pack(&ev, &vlen);
        if (!value || kafka_out_add(out, TOPIC_EVENTS_RAW, e->ids.event_id, strlen(e->ids.event_id), value, vlen,
                                    NULL) != 0) {
            snprintf(reason, reason_len, "cannot queue the RawEvent");
            result = KAFKA_RETRY;
        }
        free(value);
        snprintf(index, sizeof index, "%zu", e->index);
        if (result == KAFKA_OK) {
            metrics_add(app->m_kafka_events, 1);
            LOG_INFO("event_received", "event_id", e->ids.event_id, "trace_id", e->ids.trace_id, "schema", e->schema,
                     "source", source, "topic", msg->topic, "partition", part, "offset", off, "index", index, NULL);
        }
    }
    for (size_t i = 0; i < res.n_errors && result == KAFKA_OK; i++) {
        if (dead_letter_record(msg, &res.errors[i], out) != 0) {
            snprintf(reason, reason_len, "cannot queue a DeadLetter");
            result = KAFKA_RETRY;
            break;
        }
        snprintf(index, sizeof index, "%zu", res.errors[i].index);
        metrics_add(app->m_kafka_dead, 1);
        LOG_WARN("record_dead_lettered", "topic", msg->topic, "partition", part, "offset", off, "index", index,
                 "reason", res.errors[i].reason, NULL);
    }
    router_result_free(&res);
    return result;
}

/* Waits (bounded) until every parked request got its delivery report. */
static void drain(ingest_app *app, int64_t wait_ms)
{
    int64_t until = ids_now_ms() + wait_ms;
    for (;;) {
        pthread_mutex_lock(&app->lock);
        int left = app->inflight;
        pthread_mutex_unlock(&app->lock);
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
    pthread_mutex_init(&app.lock, NULL);
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
    if (service_start(&app.svc, "ingest", argc, argv, app.cfg.port) != 0)
        goto out;
    if (pthread_create(&app.poll_thread, NULL, poll_main, &app) != 0)
        goto out;
    poll_started = true;
    app.sweep_timer = event_new(http_server_base(app.svc.http), -1, EV_PERSIST, sweep_timer_cb, &app);
    struct timeval period = {0, 200 * 1000};
    if (!app.sweep_timer || event_add(app.sweep_timer, &period) != 0)
        goto out;
    http_server_set_max_body(app.svc.http, (size_t)app.cfg.max_body);
    http_server_route(app.svc.http, "/hooks/", on_hook, &app);

    /* The router topics beyond the common ones are ingest's own to create. */
    const char *const *topics = router_topics(app.router);
    bool own_topics = topics[1] || strcmp(topics[0], TOPIC_INGEST_JSON) != 0;
    if (own_topics && kafka_create_topics(app.svc.common.kafka_brokers, router_topics(app.router),
                            (int)app.svc.common.topic_partitions, rerr, sizeof rerr) < 0)
        LOG_ERROR("ingest_topics_not_created", "topics", app.cfg.topics, "error", rerr, NULL);
    status = service_consume(&app.svc, topics, on_json_message, &app) == 0 ? 0 : 1;

out:
    /* Stop: refuse new requests, let parked ones get their reports (bounded). */
    app.draining = 1;
    if (poll_started)
        drain(&app, 10000);
    if (app.sweep_timer)
        event_free(app.sweep_timer); /* waits for a running sweep */
    if (poll_started) {
        app.poll_stop = 1;
        pthread_join(app.poll_thread, NULL);
    }
    service_stop(&app.svc); /* its flush may still answer parked requests */
    while (app.head) {
        pending *p = app.head;
        list_unlink(&app, p);
        free(p);
    }
    pthread_mutex_destroy(&app.lock);
    router_free(app.router);
    config_free(ingest_config_table, &app.cfg);
    return status;
}
