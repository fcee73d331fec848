/* Kafka on librdkafka: an idempotent producer, a consumer that hands out batches
 * and stores offsets only when told, and topic creation. The at-least-once loop
 * built on them (the delivery rule, transactions, dead letters) is the batch frame
 * of consumer.h; nothing else consumes.
 *
 * Files: kafka_client.c (state and configuration every handle shares),
 * kafka_producer.c, kafka_consumer.c, kafka_admin.c.
 *
 * Settings: brokers from HUTCH_KAFKA_BROKERS; any environment variable
 * HUTCH_KAFKA_<NAME> is passed to librdkafka as <name> with '_' -> '.'
 * (HUTCH_KAFKA_SECURITY_PROTOCOL -> security.protocol), which is how SASL/TLS work. */
#ifndef HUTCH_KAFKA_H
#define HUTCH_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kafka_producer kafka_producer;
typedef struct kafka_consumer kafka_consumer;

/* A consumed message. Its pointers are BORROWED from rk_message and valid until
 * kafka_msg_release. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms;
    void *rk_message; /* rd_kafka_message_t *, OWNED by this kafka_msg */
} kafka_msg;

/* Returns a header's value (BORROWED, not NUL-terminated, len in *len) or NULL. */
const void *kafka_msg_header(const kafka_msg *msg, const char *name, size_t *len);
/* Frees the underlying librdkafka message. NULL rk_message is fine. */
void kafka_msg_release(kafka_msg *msg);

/* ---- producer ---- */

/* client_id names the service in logs and metrics. NEW; NULL with err set. */
kafka_producer *kafka_producer_new(const char *brokers, const char *client_id, char *err, size_t errlen);
/* Produce and wait for the broker's acknowledgement, up to timeout_ms.
 * 0 on ack; -1 if not acknowledged (broker down, timeout): retryable. */
int kafka_produce_sync(kafka_producer *p, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, const char *const *headers, int timeout_ms);
/* Asynchronous produce: cb(ctx, err) is called from kafka_producer_poll's thread
 * (err 0 = acknowledged). 0 if queued, -1 if the queue is full or the topic invalid.
 * kafka_produce_async copies key and value; kafka_produce_borrowed does not: they are
 * BORROWED until cb has run. Headers are always copied. */
typedef void (*kafka_delivery_cb)(void *ctx, int err);
int kafka_produce_async(kafka_producer *p, const char *topic, const void *key, size_t key_len,
                        const void *value, size_t value_len, const char *const *headers,
                        kafka_delivery_cb cb, void *cb_ctx);
int kafka_produce_borrowed(kafka_producer *p, const char *topic, const void *key, size_t key_len,
                           const void *value, size_t value_len, const char *const *headers,
                           kafka_delivery_cb cb, void *cb_ctx);
/* One message of kafka_produce_all: key and value BORROWED until it returns. */
typedef struct {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    bool acked; /* out */
} kafka_batch_msg;
/* Produces msgs[0..n) to topic at once and waits until each one sent is acknowledged
 * or failed (the producer's message timeout bounds the wait), setting acked: one
 * linger and one broker round trip for the lot. A message the local queue refuses
 * and every later one are not sent. Thread-safe like the producer. Returns how many
 * were acknowledged. */
size_t kafka_produce_all(kafka_producer *p, const char *topic, kafka_batch_msg *msgs, size_t n);
/* True for a delivery error that no retry can mend (too large, invalid, not allowed). */
bool kafka_error_permanent(int err);
/* librdkafka's text for a delivery error. BORROWED, static. */
const char *kafka_error_text(int err);
/* Serves delivery callbacks; call regularly (or from a dedicated thread). */
void kafka_producer_poll(kafka_producer *p, int timeout_ms);
/* True if a broker connection is up (for /readyz and ingest's 503). */
bool kafka_producer_connected(kafka_producer *p);
/* Waits up to timeout_ms for every queued message to be acknowledged, serving
 * delivery callbacks on the calling thread. 0 if all were. */
int kafka_producer_flush(kafka_producer *p, int timeout_ms);
/* Flushes (up to timeout_ms) and frees. NULL is fine. */
void kafka_producer_free(kafka_producer *p, int flush_timeout_ms);

/* ---- consumer ---- */

/* group: consumer group id ("hutch-policy"). topics: NULL-terminated. Offsets are
 * committed automatically, but only those stored with kafka_consumer_store.
 * NEW; NULL with err set. */
kafka_consumer *kafka_consumer_new(const char *brokers, const char *group, const char *const *topics, char *err,
                                   size_t errlen);
/* Takes up to max messages: waits up to first_wait_ms for the first one, then up to
 * fill_ms more while the batch is not full. Returns how many were put in msgs (each
 * NEW: kafka_msg_release it). Consumer errors are logged and skipped. */
size_t kafka_consumer_poll(kafka_consumer *c, kafka_msg *msgs, size_t max, int first_wait_ms, int fill_ms);
/* Stores offsets for the messages of msgs[0..n) in poll order: per partition, up to
 * (not past) the first message whose done[i] is false, because storing offset N
 * means "everything before N is done". */
void kafka_consumer_store(kafka_consumer *c, const kafka_msg *msgs, const bool *done, size_t n);
bool kafka_consumer_connected(kafka_consumer *c);
/* True after librdkafka reported a fatal error: the loop should end. */
bool kafka_consumer_failed(kafka_consumer *c);
/* Commits what is stored and leaves the group, bounded in time. Idempotent. */
void kafka_consumer_close(kafka_consumer *c);
/* Closes if needed and frees. NULL is fine. */
void kafka_consumer_free(kafka_consumer *c);

/* ---- admin ---- */

/* Creates topics (idempotent: existing ones are fine) with `partitions`
 * partitions and replication factor 1. 0 on success. */
int kafka_create_topics(const char *brokers, const char *const *topics, int partitions, char *err, size_t errlen);

#endif
