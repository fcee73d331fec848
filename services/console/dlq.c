/* The dead letters of hutch.dlq in the console (docs/API.md, "Dead letters").
 *
 * A DeadLetter lives only on the Kafka topic, which no page can page through or
 * search; so the console keeps them: a consumer of its own on hutch.dlq, group
 * "hutch-console_dlq" (one for every console process: each dead letter is stored
 * once, whichever console took it), with the frame's claims and transactions
 * (common/consumer.h), stores each one in dead_letters (migration 14), keyed by the
 * DeadLetter's meta.id. It runs on a thread of its own with its own Postgres
 * connection and producer (the frame dead-letters what it cannot decode there), and
 * stops with the service's stop flag. The consumer group starts at the earliest
 * offset, so a console started after the fact still sees the topic's history.
 *
 * Replay (POST /api/dlq/ID/replay, analyst or admin): the stored source message
 * (its bytes and key, as the consumer that gave up received them) is produced to
 * its source topic again, and the row records who replayed it and when. A consumer
 * leaves no claim for a message it dead-lettered, so the replayed message is decided
 * afresh: once the cause is mended (a policy fixed, a missing row added) it goes
 * through; if not, it is dead-lettered again (a new dead letter: it has a new offset).
 * Only the Kafka headers of the source message are not kept by a DeadLetter, so a
 * replay carries one header, hutch-replay-of: the dead letter's id. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/topics.h"
#include "services/console/console.h"

#define DLQ_PRODUCE_TIMEOUT_MS 10000

/* ------------------------------------------------------------ the consumer */

static char *hex_of(const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *out = malloc(n * 2 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int store_dead_letters(void *ctx, pg *db, consumer_item **items, size_t n)
{
    (void)ctx;
    int rc = PG_OK;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        consumer_item *it = items[i];
        if (it->dead || it->redelivered)
            continue;
        const Hutch__V1__DeadLetter *d = (const Hutch__V1__DeadLetter *)it->value;
        char *payload = hex_of(d->payload.data, d->payload.len);
        char *key = it->msg.key ? hex_of((const uint8_t *)it->msg.key, it->msg.key_len) : NULL;
        if (!payload || (it->msg.key && !key)) {
            free(payload);
            free(key);
            return PG_RETRY;
        }
        char created[24], part[16], off[24];
        snprintf(created, sizeof created, "%lld", (long long)d->meta->created_unix_ms);
        snprintf(part, sizeof part, "%d", (int)d->source_partition);
        snprintf(off, sizeof off, "%lld", (long long)d->source_offset);
        const char *p[] = {d->meta->id,
                           created,
                           d->consumer ? d->consumer : "",
                           d->reason ? d->reason : "",
                           d->source_topic ? d->source_topic : "",
                           part,
                           off,
                           key,
                           payload,
                           d->meta->trace_id ? d->meta->trace_id : "",
                           it->coords[0],
                           it->coords[1]};
        rc = pg_exec(db, NULL,
                     "INSERT INTO dead_letters (dlq_id, dead_at, consumer, reason, source_topic, source_partition,"
                     " source_offset, msg_key, payload, trace_id, dlq_partition, dlq_offset)"
                     " VALUES ($1::uuid, to_timestamp($2::bigint / 1000.0), $3, $4, $5, $6::int, $7::bigint,"
                     " decode($8, 'hex'), decode($9, 'hex'), $10, $11::int, $12::bigint)"
                     " ON CONFLICT (dlq_id) DO NOTHING",
                     12, p);
        free(payload);
        free(key);
        if (rc == PG_OK)
            consumer_item_log(LOG_LEVEL_INFO, it, "console_dead_letter_stored", "dlq_id", d->meta->id, "source_topic",
                              d->source_topic, "consumer", d->consumer, NULL);
    }
    return rc;
}

static void *dlq_thread(void *arg)
{
    console *c = arg;
    consumer_run(c->dlq_consumer, &c->svc->stop);
    return NULL;
}

int dlq_consumer_start(console *c)
{
    char err[512];
    static const consumer_input inputs[] = {{TOPIC_DLQ, &hutch__v1__dead_letter__descriptor}, {NULL, NULL}};
    consumer_spec spec = {.inputs = inputs, .handle = store_dead_letters, .batch_max = 200, .linger_ms = 20};
    c->dlq_db = pg_connect(c->svc->common.database_url, 60000, err, sizeof err);
    if (c->dlq_db)
        c->dlq_producer = kafka_producer_new(c->svc->common.kafka_brokers, "hutch-console-dlq", err, sizeof err);
    if (c->dlq_producer)
        c->dlq_consumer = consumer_new("console_dlq", c->svc->common.kafka_brokers, c->dlq_db, c->dlq_producer, &spec,
                                       c, err, sizeof err);
    if (!c->dlq_consumer || pthread_create(&c->dlq_thread, NULL, dlq_thread, c) != 0) {
        LOG_ERROR("console_dlq_consumer_failed", "error", c->dlq_consumer ? "no thread" : err, NULL);
        return -1;
    }
    c->dlq_running = true;
    return 0;
}

void dlq_consumer_stop(console *c)
{
    if (c->dlq_running)
        pthread_join(c->dlq_thread, NULL); /* consumer_run returns once svc->stop is set */
    c->dlq_running = false;
    consumer_free(c->dlq_consumer);
    c->dlq_consumer = NULL;
    kafka_producer_free(c->dlq_producer, 5000);
    c->dlq_producer = NULL;
    pg_free(c->dlq_db);
    c->dlq_db = NULL;
}

/* ------------------------------------------------------------ the API */

void dlq_detail(console *c, struct evhttp_request *req, const char *id)
{
    const char *params[] = {id};
    console_reply_query(c, req, "no such dead letter",
                        "SELECT json_build_object('dead_letter', to_jsonb(d) - 'payload' - 'msg_key',"
                        " 'payload_base64', encode(d.payload, 'base64'), 'payload_size', octet_length(d.payload),"
                        " 'key', encode(d.msg_key, 'escape'))"
                        " FROM dead_letters d WHERE d.dlq_id = $1::uuid",
                        1, params);
}

/* Postgres' hex text -> NEW bytes (*len of them), or NULL on OOM. */
static uint8_t *bytes_of_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *out = malloc(n + 1);
    for (size_t i = 0; out && i < n; i++) {
        char pair[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        out[i] = (uint8_t)strtoul(pair, NULL, 16);
    }
    *len = n;
    return out;
}

static bool replayable_topic(const char *topic)
{
    if (!strcmp(topic, TOPIC_DLQ))
        return false;
    for (const char *const *t = hutch_topics; *t; t++)
        if (!strcmp(*t, topic))
            return true;
    return false;
}

void dlq_replay(console *c, struct evhttp_request *req, const console_user *u, const char *id)
{
    const char *params[] = {id};
    PGresult *r = NULL;
    int rc = pg_exec(c->db, &r,
                     "SELECT source_topic, encode(coalesce(msg_key, ''), 'hex'), encode(payload, 'hex')"
                     " FROM dead_letters WHERE dlq_id = $1::uuid",
                     1, params);
    if (rc != PG_OK) {
        http_reply_error(req, rc == PG_RETRY ? 503 : 500, rc == PG_RETRY ? "database unavailable" : "query failed");
        return;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        http_reply_error(req, 404, "no such dead letter");
        return;
    }
    char topic[256];
    snprintf(topic, sizeof topic, "%s", PQgetvalue(r, 0, 0));
    if (!replayable_topic(topic)) {
        PQclear(r);
        char msg[400];
        snprintf(msg, sizeof msg, "cannot replay to \"%.200s\": not a Hutch input topic", topic);
        http_reply_error(req, 409, msg);
        return;
    }
    size_t key_len = 0, payload_len = 0;
    uint8_t *kb = bytes_of_hex(PQgetvalue(r, 0, 1), &key_len), *pb = bytes_of_hex(PQgetvalue(r, 0, 2), &payload_len);
    PQclear(r);
    const char *headers[] = {"hutch-replay-of", id, NULL};
    int sent = kb && pb ? kafka_produce_sync(c->svc->producer, topic, key_len ? kb : NULL, key_len, pb, payload_len,
                                             headers, DLQ_PRODUCE_TIMEOUT_MS)
                        : -1;
    free(kb);
    free(pb);
    if (sent != 0) {
        http_reply_error(req, 503, "the message could not be produced (Kafka unavailable): nothing was replayed");
        return;
    }
    char by[128];
    snprintf(by, sizeof by, "user:%s", u->name);
    const char *up[] = {id, by};
    LOG_INFO("console_dlq_replayed", "user", u->name, "dlq_id", id, "topic", topic, NULL);
    console_reply_query(c, req, "no such dead letter",
                        "UPDATE dead_letters SET replay_count = replay_count + 1, replayed_at = now(),"
                        " replayed_by = $2 WHERE dlq_id = $1::uuid RETURNING json_build_object('ok', true,"
                        " 'dlq_id', dlq_id, 'source_topic', source_topic, 'replay_count', replay_count,"
                        " 'replayed_at', replayed_at, 'replayed_by', replayed_by)",
                        2, up);
}
