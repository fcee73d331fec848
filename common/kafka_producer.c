/* The Kafka producer (kafka.h): idempotent (enable.idempotence=true, acks=all), so
 * librdkafka's own retries never duplicate or reorder within a partition. Delivery
 * callbacks are served only by whoever calls kafka_producer_poll /
 * kafka_produce_sync / kafka_producer_flush (never by a hidden thread), as kafka.h
 * promises. */
#include "common/kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/kafka_client.h"
#include "common/log.h"

struct kafka_producer {
    kafka_client c;
    metric *produced_ok, *produced_failed;
};

typedef struct {
    kafka_delivery_cb cb;
    void *ctx;
} delivery;

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kafka_producer *p = opaque;
    delivery *d = m->_private;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        metrics_add(p->produced_ok, 1);
        if (!atomic_load(&p->c.connected))
            kafka_client_set_connected(&p->c, 1);
    } else {
        metrics_add(p->produced_failed, 1);
        LOG_WARN("kafka_delivery_failed", "client", p->c.name, "topic", rd_kafka_topic_name(m->rkt), "error",
                 rd_kafka_err2str(m->err), NULL);
    }
    if (d) {
        if (d->cb)
            d->cb(d->ctx, (int)m->err);
        free(d);
    }
}

kafka_producer *kafka_producer_new(const char *brokers, const char *client_id, char *err, size_t errlen)
{
    kafka_producer *p = calloc(1, sizeof *p);
    if (!p || kafka_client_init(&p->c, client_id, "producer") < 0) {
        if (p)
            kafka_client_destroy(&p->c);
        free(p);
        kafka_set_err(err, errlen, "out of memory");
        return NULL;
    }
    char mname[256];
    snprintf(mname, sizeof mname, "hutch_kafka_produced_total{client=\"%s\",result=\"ok\"}", p->c.name);
    p->produced_ok = metrics_counter(mname, "Messages produced, by delivery result.");
    snprintf(mname, sizeof mname, "hutch_kafka_produced_total{client=\"%s\",result=\"failed\"}", p->c.name);
    p->produced_failed = metrics_counter(mname, "Messages produced, by delivery result.");

    rd_kafka_conf_t *conf = kafka_base_conf(&p->c, brokers, client_id, err, errlen);
    if (!conf || kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        kafka_conf_set(conf, "acks", "all", err, errlen) < 0 ||
        kafka_conf_set(conf, "linger.ms", "5", err, errlen) < 0 ||
        /* The broker's message.max.bytes (tools/kafka/server.properties.in): an
         * event of ingest's largest body (1 MiB) plus its envelope must fit. */
        kafka_conf_set(conf, "message.max.bytes", "4194304", err, errlen) < 0 ||
        kafka_conf_passthrough(conf, err, errlen) < 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        kafka_client_destroy(&p->c);
        free(p);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    char errstr[512];
    p->c.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!p->c.rk) {
        kafka_set_err(err, errlen, "kafka producer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        kafka_client_destroy(&p->c);
        free(p);
        return NULL;
    }
    conf = NULL; /* now owned by rk */
    kafka_watch_start(&p->c);
    return p;
}

static rd_kafka_headers_t *make_headers(const char *const *headers)
{
    if (!headers || !headers[0])
        return NULL;
    size_t n = 0;
    while (headers[n] && headers[n + 1])
        n += 2;
    rd_kafka_headers_t *h = rd_kafka_headers_new(n / 2);
    for (size_t i = 0; i < n; i += 2)
        rd_kafka_header_add(h, headers[i], -1, headers[i + 1], -1);
    return h;
}

/* 0 queued; otherwise the librdkafka error (d is not freed on error). */
static rd_kafka_resp_err_t produce_raw(kafka_producer *p, const char *topic, const void *key, size_t key_len,
                                       const void *value, size_t value_len, const char *const *headers, delivery *d,
                                       bool copy)
{
    if (!p || !topic)
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    rd_kafka_headers_t *h = make_headers(headers);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->c.rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(copy ? RD_KAFKA_MSG_F_COPY : 0),
        RD_KAFKA_V_KEY((void *)key, key ? key_len : 0), RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && h)
        rd_kafka_headers_destroy(h); /* not taken on failure */
    return e;
}

static int produce_with(kafka_producer *p, const char *topic, const void *key, size_t key_len, const void *value,
                        size_t value_len, const char *const *headers, kafka_delivery_cb cb, void *cb_ctx, bool copy)
{
    delivery *d = malloc(sizeof *d);
    if (!d)
        return -1;
    d->cb = cb;
    d->ctx = cb_ctx;
    rd_kafka_resp_err_t e = produce_raw(p, topic, key, key_len, value, value_len, headers, d, copy);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        free(d);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            LOG_WARN("kafka_produce_failed", "client", p ? p->c.name : "", "topic", topic, "error", rd_kafka_err2str(e),
                     NULL);
        return -1;
    }
    return 0;
}

int kafka_produce_async(kafka_producer *p, const char *topic, const void *key, size_t key_len, const void *value,
                        size_t value_len, const char *const *headers, kafka_delivery_cb cb, void *cb_ctx)
{
    return produce_with(p, topic, key, key_len, value, value_len, headers, cb, cb_ctx, true);
}

int kafka_produce_borrowed(kafka_producer *p, const char *topic, const void *key, size_t key_len, const void *value,
                           size_t value_len, const char *const *headers, kafka_delivery_cb cb, void *cb_ctx)
{
    return produce_with(p, topic, key, key_len, value, value_len, headers, cb, cb_ctx, false);
}

typedef struct {
    atomic_int refs;
    atomic_int done;
    atomic_int err;
} sync_wait;

static void sync_wait_release(sync_wait *w)
{
    if (atomic_fetch_sub(&w->refs, 1) == 1)
        free(w);
}

static void sync_delivered(void *ctx, int err)
{
    sync_wait *w = ctx;
    atomic_store(&w->err, err);
    atomic_store(&w->done, 1);
    sync_wait_release(w);
}

int kafka_produce_sync(kafka_producer *p, const char *topic, const void *key, size_t key_len, const void *value,
                       size_t value_len, const char *const *headers, int timeout_ms)
{
    if (!p)
        return -1;
    sync_wait *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    atomic_init(&w->refs, 2);
    int64_t deadline = ids_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        delivery *d = malloc(sizeof *d);
        if (!d) {
            free(w);
            return -1;
        }
        d->cb = sync_delivered;
        d->ctx = w;
        rd_kafka_resp_err_t e = produce_raw(p, topic, key, key_len, value, value_len, headers, d, true);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        free(d);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || ids_now_ms() >= deadline) {
            LOG_WARN("kafka_produce_failed", "client", p->c.name, "topic", topic, "error", rd_kafka_err2str(e), NULL);
            free(w);
            return -1;
        }
        rd_kafka_poll(p->c.rk, 10);
    }
    while (!atomic_load(&w->done)) {
        int64_t left = deadline - ids_now_ms();
        if (left <= 0)
            break;
        rd_kafka_poll(p->c.rk, left < 50 ? (int)left : 50);
    }
    int rc = atomic_load(&w->done) && atomic_load(&w->err) == 0 ? 0 : -1;
    sync_wait_release(w);
    return rc;
}

typedef struct {
    kafka_batch_msg *msg;
    atomic_size_t *answered;
} batch_wait;

static void batch_delivered(void *ctx, int err)
{
    batch_wait *w = ctx;
    w->msg->acked = err == 0;
    atomic_fetch_add(w->answered, 1);
}

size_t kafka_produce_all(kafka_producer *p, const char *topic, kafka_batch_msg *msgs, size_t n)
{
    batch_wait *waits = calloc(n ? n : 1, sizeof *waits);
    atomic_size_t answered;
    atomic_init(&answered, 0);
    size_t sent = 0, acked = 0;
    for (size_t i = 0; i < n; i++)
        msgs[i].acked = false;
    for (size_t i = 0; waits && i < n; i++) {
        waits[i] = (batch_wait){.msg = &msgs[i], .answered = &answered};
        if (kafka_produce_borrowed(p, topic, msgs[i].key, msgs[i].key_len, msgs[i].value, msgs[i].value_len, NULL,
                                   batch_delivered, &waits[i]) != 0)
            break;
        sent++;
    }
    /* every callback must have run before waits and answered go out of scope */
    while (atomic_load(&answered) < sent)
        kafka_producer_poll(p, 50);
    free(waits);
    for (size_t i = 0; i < sent; i++)
        acked += msgs[i].acked;
    return acked;
}

void kafka_producer_poll(kafka_producer *p, int timeout_ms)
{
    if (p)
        rd_kafka_poll(p->c.rk, timeout_ms);
}

bool kafka_producer_connected(kafka_producer *p)
{
    return p && atomic_load(&p->c.connected) && !atomic_load(&p->c.fatal);
}

int kafka_producer_flush(kafka_producer *p, int timeout_ms)
{
    if (!p)
        return 0;
    return rd_kafka_flush(p->c.rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

void kafka_producer_free(kafka_producer *p, int flush_timeout_ms)
{
    if (!p)
        return;
    kafka_watch_stop(&p->c);
    if (rd_kafka_flush(p->c.rk, flush_timeout_ms > 0 ? flush_timeout_ms : 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        char n[32];
        snprintf(n, sizeof n, "%d", rd_kafka_outq_len(p->c.rk));
        LOG_WARN("kafka_flush_incomplete", "client", p->c.name, "pending", n, NULL);
        /* Fail what is left so every delivery callback runs (and frees its context). */
        rd_kafka_purge(p->c.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->c.rk, 1000);
    }
    rd_kafka_destroy(p->c.rk);
    kafka_client_destroy(&p->c);
    free(p);
}

bool kafka_error_permanent(int err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || err == RD_KAFKA_RESP_ERR_INVALID_RECORD ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE || err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
           err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
}

const char *kafka_error_text(int err) { return rd_kafka_err2str((rd_kafka_resp_err_t)err); }
