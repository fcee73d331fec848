/* The batch consumer frame: how every Hutch consumer takes messages from Kafka,
 * changes Postgres and produces its outputs.
 *
 * One round (consumer_run):
 *   1. poll up to HUTCH_CONSUMER_BATCH messages, or what arrives within
 *      HUTCH_CONSUMER_LINGER after the first;
 *   2. decode each with the protobuf type of its topic (consumer_input) and check
 *      its envelope and the input's own check: a message that does not decode, has
 *      no valid meta.id or fails the check is dead-lettered alone;
 *   3. BEGIN; claim every message id in one statement (processed_messages, consumer
 *      "hutch-<service>"; the id is meta.id, or topic:partition:offset for inputs
 *      without an envelope); spec->handle gets the batch with each item's
 *      `redelivered` flag and does all its work in this transaction; COMMIT;
 *   4. spec->after_commit, if any (effects outside Postgres, e.g. an HTTP post
 *      through an outbox), until it succeeds;
 *   5. produce every output (and a DeadLetter for every dead item) without copying,
 *      wait until the broker acknowledged all of them (re-producing failures);
 *   6. store the offsets;
 *   7. spec->tick, if any (after each batch, and every tick_ms while idle).
 *
 * Delivery rule: an offset is stored only after its message's effects committed and
 * its outputs were acknowledged. A crash anywhere before 6 redelivers the message:
 * its claim then exists (redelivered = true), so the handler writes nothing new and
 * produces the same bytes as the first time (output ids derive from input ids).
 *
 * Failures: PG_RETRY from the handler or the commit (database down, serialization,
 * deadlock) rolls back and runs the same batch again after a backoff, for ever until
 * stopped (a down database pauses, never skips). PG_FATAL (a statement the database
 * refuses: a poison message) rolls back and bisects: each half in its own
 * transaction, down to the one message that fails alone, which is dead-lettered
 * with the database's reason while the rest of the batch goes on. A handler that
 * knows an item is bad says consumer_item_dead and the others commit.
 *
 * Metrics (once, here): hutch_<service>_messages_total{result="ok|redelivered|dead"},
 * hutch_<service>_batch_retries_total, histograms hutch_<service>_batch_size and
 * hutch_<service>_batch_seconds (poll to offsets stored). Every log line of an item
 * carries topic/partition/offset (consumer_item_log). */
#ifndef HUTCH_CONSUMER_H
#define HUTCH_CONSUMER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"

#define CONSUMER_REASON_MAX 512

typedef struct consumer_output consumer_output;

/* One message of a batch, as the handler sees it. */
typedef struct {
    kafka_msg msg;           /* the consumed message: coordinates, bytes, headers (BORROWED: the batch owns it) */
    ProtobufCMessage *value; /* the decoded input (cast to its type), or NULL for raw inputs; OWNED by the frame */
    const char *message_id;  /* the claimed id: BORROWED from value, or the item's own buffer */
    bool redelivered;        /* its claim was committed before: write nothing new, re-produce */
    bool dead;               /* set by consumer_item_dead */
    char reason[CONSUMER_REASON_MAX];
    char coords[2][24]; /* partition, offset as text (for logs) */
    char raw_id[96];
    consumer_output *outputs; /* what to produce once the batch committed */
    struct consumer *frame;   /* BORROWED: the frame handling it */
    size_t n_outputs, cap_outputs;
} consumer_item;

/* A topic, the protobuf type its messages hold (NULL: raw bytes, e.g. JSON), and an
 * optional check of a decoded message (NULL or a msg_check_* of msg.h: the reason it
 * is dead-lettered, or NULL when it is usable). The handler sees checked items only. */
typedef struct {
    const char *topic;
    const ProtobufCMessageDescriptor *type;
    const char *(*check)(const ProtobufCMessage *m);
} consumer_input;

typedef struct {
    /* Inputs, ended by {NULL, NULL}. BORROWED for the frame's life. */
    const consumer_input *inputs;
    /* Runs inside the batch transaction (never begins or commits itself). Sets
     * outputs and dead items. Returns PG_OK, PG_RETRY or PG_FATAL (a statement
     * failed: the transaction is rolled back and the batch bisected). NULL db when
     * the frame has no database (spec.no_database). */
    int (*handle)(void *ctx, pg *db, consumer_item **items, size_t n);
    /* Optional, after the commit: PG_OK, or anything else to be called again after
     * a backoff (the items' outputs are produced only once it returned PG_OK). */
    int (*after_commit)(void *ctx, pg *db, consumer_item **items, size_t n);
    /* No Postgres: no claim, no transaction (ingest's Kafka path, whose outputs
     * are idempotent by construction). */
    bool no_database;
    /* Optional periodic work of the service besides its batches (hutch-cluster's
     * ticket relay): runs on the frame's thread, outside any transaction, after
     * every batch and, while no message comes, every tick_ms (0: 1000). db and
     * producer are the frame's (BORROWED; db NULL with no_database). Its failures
     * are its own business: the frame only calls it again. */
    void (*tick)(void *ctx, pg *db, kafka_producer *producer);
    int tick_ms;
    size_t batch_max; /* 0: HUTCH_CONSUMER_BATCH (service_consume), else 500 */
    int linger_ms;    /* 0: HUTCH_CONSUMER_LINGER (service_consume); <0: 5 ms */
} consumer_spec;

typedef struct consumer consumer;

/* name: the service ("policy": group and claim consumer "hutch-policy", metrics
 * hutch_policy_*). db and producer are BORROWED and must outlive the consumer.
 * NEW; NULL with err set. */
consumer *consumer_new(const char *name, const char *brokers, pg *db, kafka_producer *producer,
                       const consumer_spec *spec, void *ctx, char *err, size_t errlen);
/* Runs rounds until *stop becomes non-zero; finishes or abandons (redelivered) the
 * batch in hand, commits stored offsets and returns 0 (-1 on a fatal Kafka error). */
int consumer_run(consumer *c, volatile sig_atomic_t *stop);
bool consumer_connected(consumer *c);
void consumer_free(consumer *c);

/* Outputs of an item: m packed, or bytes (copied), or a packed buffer the frame takes
 * (STOLEN, freed with the batch, even on failure: the one that avoids a copy). Keys
 * and headers are copied. 0, or -1 on OOM (return PG_RETRY: the batch runs again). */
int consumer_emit(consumer_item *it, const char *topic, const char *key, const ProtobufCMessage *m);
int consumer_emit_take(consumer_item *it, const char *topic, const char *key, uint8_t *value, size_t value_len);
int consumer_emit_bytes(consumer_item *it, const char *topic, const void *key, size_t key_len, const void *value,
                        size_t value_len, const char *const *headers);
/* A DeadLetter for one part (record, line) of the item's message, beside its other
 * outputs: for messages that hold several records of which some are bad. payload is
 * copied into the DeadLetter. 0, or -1 on OOM. */
int consumer_emit_dead_part(consumer_item *it, size_t part, const void *payload, size_t len, const char *reason);
/* Marks the item dead (dead-lettered with the reason; its outputs dropped). */
void consumer_item_dead(consumer_item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* log_kv with the item's topic, partition and offset appended. */
void consumer_item_log(log_level level, const consumer_item *it, const char *event, ...) __attribute__((sentinel));

/* The settings of the frame (HUTCH_CONSUMER_BATCH, HUTCH_CONSUMER_LINGER), for
 * service_common's table. */
typedef struct {
    int64_t batch;
    int64_t linger_ms;
} consumer_settings;

#endif
