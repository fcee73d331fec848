/* Kafka: an idempotent producer and an at-least-once consumer loop (librdkafka).
 *
 * Delivery rule (DESIGN.md): a consumed message's offset is stored only after its
 * handler returned (its Postgres transaction committed) AND every message the
 * handler asked to produce was acknowledged by the broker. A handler that says
 * KAFKA_DEAD gets its input sent to hutch.dlq (DeadLetter with reason and origin)
 * and the loop goes on; KAFKA_RETRY re-runs the handler on the same message after
 * a backoff, for ever, until the loop is stopped (so a down database pauses, never
 * skips).
 *
 * Settings: brokers from HUTCH_KAFKA_BROKERS; any environment variable
 * HUTCH_KAFKA_<NAME> is passed to librdkafka as <name> with '_' -> '.'
 * (HUTCH_KAFKA_SECURITY_PROTOCOL -> security.protocol), which is how SASL/TLS work. */
#ifndef HUTCH_KAFKA_H
#define HUTCH_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>

typedef struct kafka_producer kafka_producer;
typedef struct kafka_consumer kafka_consumer;

/* A consumed message, BORROWED for the duration of the handler call. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms;
    void *rk_message; /* rd_kafka_message_t *, for kafka_msg_header */
} kafka_msg;

/* Returns a header's value (BORROWED, not NUL-terminated, len in *len) or NULL. */
const void *kafka_msg_header(const kafka_msg *msg, const char *name, size_t *len);

/* Outputs a handler wants produced for the message it is handling. Values are
 * copied. Headers: NULL or a NULL-terminated list of name, value pairs (strings). */
typedef struct kafka_out kafka_out;
int kafka_out_add(kafka_out *out, const char *topic, const void *key, size_t key_len,
                  const void *value, size_t value_len, const char *const *headers);

typedef enum {
    KAFKA_OK = 0,      /* done: produce outputs, then store offset */
    KAFKA_RETRY = -1,  /* transient (database down...): run again later */
    KAFKA_DEAD = -2,   /* this message can never succeed: dead-letter it */
} kafka_result;

/* reason: a buffer for KAFKA_DEAD/KAFKA_RETRY explanations (logged, put in DLQ). */
typedef kafka_result (*kafka_handler)(void *ctx, const kafka_msg *msg, kafka_out *out,
                                      char *reason, size_t reason_len);

/* client_id names the service in logs and metrics. NEW; NULL with err set. */
kafka_producer *kafka_producer_new(const char *brokers, const char *client_id, char *err, size_t errlen);
/* Produce and wait for the broker's acknowledgement, up to timeout_ms.
 * 0 on ack; -1 if not acknowledged (broker down, timeout): retryable. */
int kafka_produce_sync(kafka_producer *p, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, const char *const *headers, int timeout_ms);
/* Asynchronous produce: cb(ctx, err) is called from kafka_producer_poll's thread
 * (err 0 = acknowledged). 0 if queued, -1 if the queue is full or the topic invalid. */
typedef void (*kafka_delivery_cb)(void *ctx, int err);
int kafka_produce_async(kafka_producer *p, const char *topic, const void *key, size_t key_len,
                        const void *value, size_t value_len, const char *const *headers,
                        kafka_delivery_cb cb, void *cb_ctx);
/* Serves delivery callbacks; call regularly (or from a dedicated thread). */
void kafka_producer_poll(kafka_producer *p, int timeout_ms);
/* True if a broker connection is up (for /readyz and ingest's 503). */
bool kafka_producer_connected(kafka_producer *p);
/* Added by the implementation: waits up to timeout_ms for every queued message to be
 * acknowledged, serving delivery callbacks on the calling thread. 0 if all were. */
int kafka_producer_flush(kafka_producer *p, int timeout_ms);
/* Flushes (up to timeout_ms) and frees. NULL is fine. */
void kafka_producer_free(kafka_producer *p, int flush_timeout_ms);

/* group: consumer group id ("hutch-policy"). topics: NULL-terminated.
 * The consumer uses `producer` (BORROWED, must outlive it) for outputs and the DLQ. */
kafka_consumer *kafka_consumer_new(const char *brokers, const char *group, const char *const *topics,
                                   kafka_producer *producer, char *err, size_t errlen);
/* Runs until *stop becomes non-zero: poll, handle, produce, wait for acks, store
 * offsets, commit. On stop: finishes the message in hand, commits, returns 0. */
int kafka_consumer_run(kafka_consumer *c, kafka_handler handler, void *ctx, volatile sig_atomic_t *stop);
bool kafka_consumer_connected(kafka_consumer *c);
void kafka_consumer_free(kafka_consumer *c);

/* Creates topics (idempotent: existing ones are fine) with `partitions`
 * partitions and replication factor 1. 0 on success. */
int kafka_create_topics(const char *brokers, const char *const *topics, int partitions, char *err, size_t errlen);

#endif
