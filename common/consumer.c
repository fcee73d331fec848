/* The batch consumer frame (consumer.h). What must stay true is said there; this
 * file is the round in order: take, decode, transact (with bisection), after-commit,
 * produce and wait, store offsets.
 *
 * Batches are reference counted: each in-flight produce holds a reference, so a
 * delivery report arriving after the round gave up waiting (only on stop) touches
 * live memory. Output buffers are handed to librdkafka without a copy and freed with
 * the batch. */
#include "common/consumer.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ids.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/topics.h"

#define RETRY_BACKOFF_MIN_MS 100
#define RETRY_BACKOFF_MAX_MS 5000
#define STOP_GRACE_MS 10000
#define DEFAULT_BATCH 500
#define DEFAULT_LINGER_MS 5

enum { OUT_PENDING = 0, OUT_INFLIGHT, OUT_ACKED, OUT_FAILED };

typedef struct batch batch;

struct consumer_output {
    char *topic;
    char *key;
    size_t key_len;
    uint8_t *value;
    size_t value_len;
    char **headers; /* NULL-terminated name, value pairs, or NULL */
    atomic_int state;
    atomic_int err;
    batch *b;
};

struct batch {
    atomic_int refs;     /* the round + one per in-flight produce */
    atomic_int inflight; /* outputs produced but not yet reported */
    size_t n;
    kafka_msg *msgs; /* poll order */
    consumer_item *items;
    bool *handled; /* went through the handler (or is dead): its outputs are final */
};

struct consumer {
    char *name; /* "hutch-policy": group, claim consumer, logs */
    pg *db;
    kafka_producer *producer;
    kafka_consumer *kc;
    consumer_spec spec;
    void *ctx;
    metric *m_ok, *m_redelivered, *m_dead, *m_retries;
    metric_histogram *h_size, *h_seconds;
};

/* ---- outputs ----------------------------------------------------------------- */

static void output_clear(consumer_output *o)
{
    free(o->topic);
    free(o->key);
    free(o->value);
    if (o->headers) {
        for (char **h = o->headers; *h; h++)
            free(*h);
        free(o->headers);
    }
    memset(o, 0, sizeof *o);
}

static void item_clear_outputs(consumer_item *it)
{
    for (size_t i = 0; i < it->n_outputs; i++)
        output_clear(&it->outputs[i]);
    it->n_outputs = 0;
}

/* Takes value (NEW buffer) whatever happens. */
static int emit_owned(consumer_item *it, const char *topic, const void *key, size_t key_len, uint8_t *value,
                      size_t value_len, const char *const *headers)
{
    if (!topic || !value) {
        free(value);
        return -1;
    }
    if (it->n_outputs == it->cap_outputs) {
        size_t cap = it->cap_outputs ? it->cap_outputs * 2 : 2;
        consumer_output *grown = realloc(it->outputs, cap * sizeof *grown);
        if (!grown) {
            free(value);
            return -1;
        }
        it->outputs = grown;
        it->cap_outputs = cap;
    }
    consumer_output *o = &it->outputs[it->n_outputs];
    memset(o, 0, sizeof *o);
    o->value = value;
    o->value_len = value_len;
    o->topic = strdup(topic);
    bool ok = o->topic != NULL;
    if (ok && key) {
        o->key = malloc(key_len ? key_len : 1);
        ok = o->key != NULL;
        if (ok)
            memcpy(o->key, key, key_len);
        o->key_len = key_len;
    }
    if (ok && headers && headers[0]) {
        size_t n = 0;
        while (headers[n] && headers[n + 1])
            n += 2;
        o->headers = calloc(n + 1, sizeof *o->headers);
        ok = o->headers != NULL;
        for (size_t i = 0; ok && i < n; i++)
            ok = (o->headers[i] = strdup(headers[i])) != NULL;
    }
    if (!ok) {
        output_clear(o);
        return -1;
    }
    atomic_init(&o->state, OUT_PENDING);
    atomic_init(&o->err, 0);
    it->n_outputs++;
    return 0;
}

int consumer_emit(consumer_item *it, const char *topic, const char *key, const ProtobufCMessage *m)
{
    size_t len = 0;
    uint8_t *buf = msg_pack(m, &len);
    return buf ? emit_owned(it, topic, key, key ? strlen(key) : 0, buf, len, NULL) : -1;
}

int consumer_emit_take(consumer_item *it, const char *topic, const char *key, uint8_t *value, size_t value_len)
{
    return emit_owned(it, topic, key, key ? strlen(key) : 0, value, value_len, NULL);
}

int consumer_emit_bytes(consumer_item *it, const char *topic, const void *key, size_t key_len, const void *value,
                        size_t value_len, const char *const *headers)
{
    uint8_t *copy = malloc(value_len ? value_len : 1);
    if (!copy)
        return -1;
    if (value_len)
        memcpy(copy, value, value_len);
    return emit_owned(it, topic, key, key_len, copy, value_len, headers);
}

void consumer_item_dead(consumer_item *it, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->reason, sizeof it->reason, fmt, ap);
    va_end(ap);
    it->dead = true;
    item_clear_outputs(it);
}

void consumer_item_log(log_level level, const consumer_item *it, const char *event, ...)
{
    const char *coords[] = {"topic", it->msg.topic, "partition", it->coords[0], "offset", it->coords[1], NULL};
    va_list ap;
    va_start(ap, event);
    log_kv_va(level, event, ap, coords);
    va_end(ap);
}

/* Packs the DeadLetter of (part of) an item's message and adds it to its outputs.
 * part < 0: the whole message; else one record of it (its own id and log line). */
static int add_dead_letter(consumer *c, consumer_item *it, long part, const void *payload, size_t len,
                           const char *reason)
{
    const kafka_msg *km = &it->msg;
    char seed[512], part_text[24];
    snprintf(seed, sizeof seed, "dlq|%s|%s|%d|%lld", c->name, km->topic, (int)km->partition, (long long)km->offset);
    if (part >= 0) {
        size_t used = strlen(seed);
        snprintf(seed + used, sizeof seed - used, "|%ld", part);
    }
    snprintf(part_text, sizeof part_text, "%ld", part);
    msg_meta_buf mb;
    msg_meta_init(&mb, NULL, c->name, km->timestamp_ms > 0 ? km->timestamp_ms : ids_now_ms(), seed);
    Hutch__V1__DeadLetter dl = HUTCH__V1__DEAD_LETTER__INIT;
    dl.meta = &mb.meta;
    dl.reason = (char *)(reason && *reason ? reason : "handler refused the message");
    dl.source_topic = (char *)km->topic;
    dl.source_partition = km->partition;
    dl.source_offset = km->offset;
    dl.payload.data = (uint8_t *)payload;
    dl.payload.len = payload ? len : 0;
    dl.consumer = c->name;
    size_t packed_len = 0;
    uint8_t *buf = msg_pack(&dl.base, &packed_len);
    const char *headers[] = {"hutch-dlq-source", km->topic, NULL};
    int rc = buf ? emit_owned(it, TOPIC_DLQ, km->key, km->key_len, buf, packed_len, headers) : -1;
    consumer_item_log(LOG_LEVEL_ERROR, it, "message_dead_lettered", "consumer", c->name, "reason", dl.reason, "dlq_id",
                      mb.id, "part", part >= 0 ? part_text : NULL, rc < 0 ? "error" : NULL, "out of memory", NULL);
    return rc;
}

/* Replaces the item's outputs with its DeadLetter (on hutch.dlq, keyed as the input). */
static void dead_letter(consumer *c, consumer_item *it)
{
    item_clear_outputs(it);
    add_dead_letter(c, it, -1, it->msg.value, it->msg.value_len, it->reason);
}

int consumer_emit_dead_part(consumer_item *it, size_t part, const void *payload, size_t len, const char *reason)
{
    return add_dead_letter(it->frame, it, (long)part, payload, len, reason);
}

/* ---- batches ------------------------------------------------------------------ */

static batch *batch_new(size_t max)
{
    batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->msgs = calloc(max, sizeof *b->msgs);
    b->items = calloc(max, sizeof *b->items);
    b->handled = calloc(max, sizeof *b->handled);
    if (!b->msgs || !b->items || !b->handled) {
        free(b->msgs);
        free(b->items);
        free(b->handled);
        free(b);
        return NULL;
    }
    atomic_init(&b->refs, 1);
    atomic_init(&b->inflight, 0);
    return b;
}

static void batch_release(batch *b)
{
    if (atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    for (size_t i = 0; i < b->n; i++) {
        item_clear_outputs(&b->items[i]);
        free(b->items[i].outputs);
        if (b->items[i].value)
            protobuf_c_message_free_unpacked(b->items[i].value, NULL);
        kafka_msg_release(&b->msgs[i]);
    }
    free(b->msgs);
    free(b->items);
    free(b->handled);
    free(b);
}

static void out_delivered(void *ctx, int err)
{
    consumer_output *o = ctx;
    batch *b = o->b;
    atomic_store(&o->err, err);
    atomic_store(&o->state, err == 0 ? OUT_ACKED : OUT_FAILED);
    atomic_fetch_sub(&b->inflight, 1);
    batch_release(b);
}

static void produce_output(consumer *c, batch *b, consumer_output *o)
{
    o->b = b;
    atomic_fetch_add(&b->refs, 1);
    atomic_fetch_add(&b->inflight, 1);
    atomic_store(&o->state, OUT_INFLIGHT);
    if (kafka_produce_borrowed(c->producer, o->topic, o->key, o->key_len, o->value, o->value_len,
                               (const char *const *)o->headers, out_delivered, o) < 0) {
        atomic_store(&o->state, OUT_FAILED);
        atomic_fetch_sub(&b->inflight, 1);
        atomic_fetch_sub(&b->refs, 1); /* the round still holds its own reference */
    }
}

static bool stopping(volatile sig_atomic_t *stop) { return stop && *stop; }

/* Sleeps up to ms while serving the producer; false if stop was raised. */
static bool wait_serving(consumer *c, int64_t ms, volatile sig_atomic_t *stop)
{
    int64_t until = ids_now_ms() + ms;
    while (!stopping(stop)) {
        int64_t left = until - ids_now_ms();
        if (left <= 0)
            return true;
        kafka_producer_poll(c->producer, left < 100 ? (int)left : 100);
    }
    return false;
}

static int64_t next_backoff(int64_t backoff)
{
    return backoff * 2 > RETRY_BACKOFF_MAX_MS ? RETRY_BACKOFF_MAX_MS : backoff * 2;
}

/* ---- decode ------------------------------------------------------------------- */

static const consumer_input *input_of(const consumer *c, const char *topic)
{
    for (const consumer_input *in = c->spec.inputs; in && in->topic; in++)
        if (!strcmp(in->topic, topic))
            return in;
    return NULL;
}

/* The envelope every Hutch message starts with: field "meta". */
static const Hutch__V1__Meta *meta_of(const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "meta");
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || f->descriptor != &hutch__v1__meta__descriptor)
        return NULL;
    return *(const Hutch__V1__Meta *const *)((const char *)m + f->offset);
}

/* Fills the item from its message; a bad one is marked dead. */
static void decode(consumer *c, consumer_item *it)
{
    it->frame = c;
    snprintf(it->coords[0], sizeof it->coords[0], "%d", (int)it->msg.partition);
    snprintf(it->coords[1], sizeof it->coords[1], "%lld", (long long)it->msg.offset);
    const consumer_input *in = input_of(c, it->msg.topic);
    if (!in) {
        consumer_item_dead(it, "no input declared for topic %s", it->msg.topic);
        return;
    }
    if (!in->type) {
        snprintf(it->raw_id, sizeof it->raw_id, "%s:%d:%lld", it->msg.topic, (int)it->msg.partition,
                 (long long)it->msg.offset);
        it->message_id = it->raw_id;
        return;
    }
    it->value = protobuf_c_message_unpack(in->type, NULL, it->msg.value_len, it->msg.value);
    if (!it->value) {
        consumer_item_dead(it, "cannot unpack %s", in->type->name);
        return;
    }
    const Hutch__V1__Meta *meta = meta_of(it->value);
    if (!meta || !ids_is_uuid(meta->id)) {
        consumer_item_dead(it, "%s without a valid meta.id", in->type->name);
        return;
    }
    it->message_id = meta->id;
    const char *why = in->check ? in->check(it->value) : NULL;
    if (why)
        consumer_item_dead(it, "%s", why);
}

/* ---- the transaction, bisected on a poison message --------------------------------- */

static void reset_attempt(consumer_item **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        item_clear_outputs(items[i]);
        items[i]->dead = false;
        items[i]->reason[0] = '\0';
        items[i]->redelivered = false;
    }
}

static int unclaim_dead(consumer *c, consumer_item **items, size_t n)
{
    pg_array ids;
    pg_array_init(&ids);
    for (size_t i = 0; i < n; i++)
        if (items[i]->dead && !items[i]->redelivered)
            pg_array_add(&ids, items[i]->message_id);
    int rc = PG_OK;
    if (ids.n) {
        const char *text = pg_array_text(&ids);
        const char *params[] = {c->name, text};
        rc = text ? pg_exec(c->db, NULL,
                            "DELETE FROM processed_messages WHERE consumer = $1 AND message_id = ANY($2::text[])", 2,
                            params)
                  : PG_RETRY;
    }
    pg_array_free(&ids);
    return rc;
}

static int transaction(consumer *c, consumer_item **items, size_t n)
{
    if (c->spec.no_database)
        return c->spec.handle(c->ctx, NULL, items, n);
    int rc = pg_begin(c->db);
    if (rc != PG_OK)
        return rc;
    const char **ids = malloc(n * sizeof *ids);
    bool *fresh = malloc(n * sizeof *fresh);
    if (!ids || !fresh) {
        rc = PG_RETRY;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = items[i]->message_id;
    if ((rc = pg_claim(c->db, c->name, ids, n, fresh)) != PG_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        items[i]->redelivered = !fresh[i];
    rc = c->spec.handle(c->ctx, c->db, items, n);
    /* A dead item leaves no claim: redelivered, it is decided (and dead-lettered) again. */
    if (rc == PG_OK)
        rc = unclaim_dead(c, items, n);
    if (rc == PG_OK)
        rc = pg_commit(c->db);
out:
    if (rc != PG_OK)
        pg_rollback(c->db);
    free(ids);
    free(fresh);
    return rc;
}

/* 0 when every item is handled (ok or dead); -1 if stopped while retrying. */
static int process(consumer *c, consumer_item **items, size_t n, volatile sig_atomic_t *stop)
{
    int64_t backoff = RETRY_BACKOFF_MIN_MS;
    for (;;) {
        reset_attempt(items, n);
        int rc = transaction(c, items, n);
        if (rc == PG_OK)
            return 0;
        if (rc != PG_RETRY) {
            reset_attempt(items, n);
            if (n == 1) {
                const char *why = c->spec.no_database ? "the handler refused it" : pg_last_error(c->db);
                consumer_item_dead(items[0], "database refused the message: %s", why);
                return 0;
            }
            size_t half = n / 2;
            if (process(c, items, half, stop) < 0)
                return -1;
            return process(c, items + half, n - half, stop);
        }
        metrics_add(c->m_retries, 1);
        char wait[32], count[16];
        snprintf(wait, sizeof wait, "%lld", (long long)backoff);
        snprintf(count, sizeof count, "%zu", n);
        consumer_item_log(LOG_LEVEL_WARN, items[0], "batch_retry", "consumer", c->name, "messages", count, "backoff_ms",
                          wait, "reason", c->spec.no_database ? "handler" : "database unavailable", NULL);
        if (!wait_serving(c, backoff, stop))
            return -1;
        backoff = next_backoff(backoff);
    }
}

/* ---- produce, wait, store ------------------------------------------------------------- */

/* Waits for every output of the handled items; re-produces failures with backoff.
 * On stop, gives up after STOP_GRACE_MS (those inputs keep their offsets unstored
 * and are redelivered). */
static void wait_outputs(consumer *c, batch *b, volatile sig_atomic_t *stop)
{
    int64_t backoff = RETRY_BACKOFF_MIN_MS;
    int64_t give_up_at = -1;
    for (;;) {
        while (atomic_load(&b->inflight) > 0) {
            if (stopping(stop)) {
                if (give_up_at < 0)
                    give_up_at = ids_now_ms() + STOP_GRACE_MS;
                if (ids_now_ms() >= give_up_at)
                    return;
            }
            kafka_producer_poll(c->producer, 100);
        }
        bool failed = false, pending = false;
        for (size_t i = 0; i < b->n; i++) {
            consumer_item *it = &b->items[i];
            for (size_t j = 0; b->handled[i] && j < it->n_outputs; j++) {
                consumer_output *o = &it->outputs[j];
                if (atomic_load(&o->state) != OUT_FAILED)
                    continue;
                failed = true;
                int err = atomic_load(&o->err);
                if (kafka_error_permanent(err) && strcmp(o->topic, TOPIC_DLQ) != 0) {
                    /* This output can never be written: dead-letter the input instead. */
                    snprintf(it->reason, sizeof it->reason, "output to %s could not be produced: %s", o->topic,
                             kafka_error_text(err));
                    it->dead = true;
                    dead_letter(c, it);
                    break; /* the item now holds only its DLQ output, pending */
                }
            }
        }
        for (size_t i = 0; i < b->n; i++)
            for (size_t j = 0; b->handled[i] && j < b->items[i].n_outputs; j++)
                pending |= atomic_load(&b->items[i].outputs[j].state) != OUT_ACKED;
        if (!pending)
            return;
        if (failed) {
            char wait[32];
            snprintf(wait, sizeof wait, "%lld", (long long)backoff);
            LOG_WARN("output_retry", "consumer", c->name, "backoff_ms", wait, NULL);
            if (stopping(stop) && give_up_at < 0)
                give_up_at = ids_now_ms() + STOP_GRACE_MS;
            if (give_up_at >= 0 && ids_now_ms() >= give_up_at)
                return;
            wait_serving(c, backoff, NULL);
            backoff = next_backoff(backoff);
        }
        for (size_t i = 0; i < b->n; i++)
            for (size_t j = 0; b->handled[i] && j < b->items[i].n_outputs; j++) {
                consumer_output *o = &b->items[i].outputs[j];
                int st = atomic_load(&o->state);
                if (st == OUT_FAILED || st == OUT_PENDING)
                    produce_output(c, b, o);
            }
    }
}

static void round_once(consumer *c, batch *b, volatile sig_atomic_t *stop)
{
    int64_t started = ids_now_ms();
    consumer_item **live;
    while (!(live = malloc(b->n * sizeof *live))) { /* skipping ahead would lose the batch */
        LOG_ERROR("out_of_memory", "consumer", c->name, NULL);
        if (!wait_serving(c, 100, stop))
            return; /* stopped: nothing of this round is stored, it is redelivered */
    }
    size_t n_live = 0;
    for (size_t i = 0; i < b->n; i++) {
        consumer_item *it = &b->items[i];
        it->msg = b->msgs[i];
        decode(c, it);
        if (!it->dead)
            live[n_live++] = it;
    }
    /* stopped while retrying: nothing of this round is produced or stored */
    int64_t decoded = ids_now_ms();
    bool all_handled = !n_live || process(c, live, n_live, stop) == 0;
    int64_t committed = ids_now_ms();
    if (all_handled && n_live && c->spec.after_commit) {
        int64_t backoff = RETRY_BACKOFF_MIN_MS;
        while (c->spec.after_commit(c->ctx, c->db, live, n_live) != PG_OK) {
            metrics_add(c->m_retries, 1);
            if (!wait_serving(c, backoff, stop)) {
                all_handled = false;
                break;
            }
            backoff = next_backoff(backoff);
        }
    }
    if (all_handled) {
        for (size_t i = 0; i < b->n; i++) {
            b->handled[i] = true;
            consumer_item *it = &b->items[i];
            if (it->dead)
                dead_letter(c, it);
            for (size_t j = 0; j < it->n_outputs; j++)
                produce_output(c, b, &it->outputs[j]);
        }
        kafka_producer_poll(c->producer, 0);
        wait_outputs(c, b, stop);
    }
    int64_t acked = ids_now_ms();
    free(live);

    bool *done = calloc(b->n ? b->n : 1, sizeof *done);
    int64_t ok = 0, again = 0, dead = 0;
    for (size_t i = 0; done && i < b->n; i++) {
        consumer_item *it = &b->items[i];
        done[i] = b->handled[i];
        for (size_t j = 0; done[i] && j < it->n_outputs; j++)
            done[i] = atomic_load(&it->outputs[j].state) == OUT_ACKED;
        if (done[i])
            *(it->dead ? &dead : it->redelivered ? &again : &ok) += 1;
    }
    if (done)
        kafka_consumer_store(c->kc, b->msgs, done, b->n);
    free(done);
    metrics_add(c->m_ok, ok);
    metrics_add(c->m_redelivered, again);
    metrics_add(c->m_dead, dead);
    metrics_observe(c->h_size, (double)b->n);
    metrics_observe(c->h_seconds, (double)(ids_now_ms() - started) / 1000.0);
    char n_text[16], ms[3][24];
    snprintf(n_text, sizeof n_text, "%zu", b->n);
    snprintf(ms[0], sizeof ms[0], "%lld", (long long)(decoded - started));
    snprintf(ms[1], sizeof ms[1], "%lld", (long long)(committed - decoded));
    snprintf(ms[2], sizeof ms[2], "%lld", (long long)(acked - committed));
    LOG_DEBUG("batch_done", "consumer", c->name, "messages", n_text, "decode_ms", ms[0], "transaction_ms", ms[1],
              "produce_ms", ms[2], NULL);
}

/* ---- the consumer ------------------------------------------------------------------- */

consumer *consumer_new(const char *name, const char *brokers, pg *db, kafka_producer *producer,
                       const consumer_spec *spec, void *ctx, char *err, size_t errlen)
{
    if (!name || !producer || !spec || !spec->inputs || !spec->inputs[0].topic || !spec->handle ||
        (!db && !spec->no_database)) {
        snprintf(err, errlen, "consumer: name, producer, inputs, handler and database are required");
        return NULL;
    }
    consumer *c = calloc(1, sizeof *c);
    size_t n_topics = 0;
    while (spec->inputs[n_topics].topic)
        n_topics++;
    const char **topics = calloc(n_topics + 1, sizeof *topics);
    if (!c || !topics || asprintf(&c->name, "hutch-%s", name) < 0) {
        if (c)
            c->name = NULL;
        snprintf(err, errlen, "out of memory");
        free(topics);
        consumer_free(c);
        return NULL;
    }
    for (size_t i = 0; i < n_topics; i++)
        topics[i] = spec->inputs[i].topic;
    c->db = db;
    c->producer = producer;
    c->spec = *spec;
    c->ctx = ctx;
    if (!c->spec.batch_max)
        c->spec.batch_max = DEFAULT_BATCH;
    if (c->spec.linger_ms < 0)
        c->spec.linger_ms = DEFAULT_LINGER_MS;
    c->kc = kafka_consumer_new(brokers, spec->group ? spec->group : c->name, topics, err, errlen);
    free(topics);
    if (!c->kc) {
        consumer_free(c);
        return NULL;
    }
    char mname[160];
    const char *help = "Messages done, by result: ok, redelivered (effects were there already), dead (hutch.dlq).";
    snprintf(mname, sizeof mname, "hutch_%s_messages_total{result=\"ok\"}", name);
    c->m_ok = metrics_counter(mname, help);
    snprintf(mname, sizeof mname, "hutch_%s_messages_total{result=\"redelivered\"}", name);
    c->m_redelivered = metrics_counter(mname, help);
    snprintf(mname, sizeof mname, "hutch_%s_messages_total{result=\"dead\"}", name);
    c->m_dead = metrics_counter(mname, help);
    snprintf(mname, sizeof mname, "hutch_%s_batch_retries_total", name);
    c->m_retries = metrics_counter(mname, "Batches run again after a backoff (database or handler unavailable).");
    static const double sizes[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
    static const double seconds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    snprintf(mname, sizeof mname, "hutch_%s_batch_size", name);
    c->h_size = metrics_histogram(mname, "Messages per batch.", sizes, (int)(sizeof sizes / sizeof *sizes));
    snprintf(mname, sizeof mname, "hutch_%s_batch_seconds", name);
    c->h_seconds = metrics_histogram(mname, "Time from a batch's poll to its offsets stored.", seconds,
                                     (int)(sizeof seconds / sizeof *seconds));
    return c;
}

int consumer_run(consumer *c, volatile sig_atomic_t *stop)
{
    if (!c)
        return -1;
    int rc = 0;
    char batch_text[16], linger_text[16];
    snprintf(batch_text, sizeof batch_text, "%zu", c->spec.batch_max);
    snprintf(linger_text, sizeof linger_text, "%d", c->spec.linger_ms);
    LOG_INFO("consumer_started", "consumer", c->name, "batch", batch_text, "linger_ms", linger_text, NULL);
    int64_t last_tick = ids_now_ms();
    while (!stopping(stop)) {
        if (kafka_consumer_failed(c->kc)) {
            rc = -1;
            break;
        }
        kafka_producer_poll(c->producer, 0);
        batch *b = batch_new(c->spec.batch_max);
        if (!b) {
            LOG_ERROR("out_of_memory", "consumer", c->name, NULL);
            wait_serving(c, 100, stop);
            continue;
        }
        b->n = kafka_consumer_poll(c->kc, b->msgs, c->spec.batch_max, 100, c->spec.linger_ms);
        bool had_batch = b->n > 0;
        if (had_batch)
            round_once(c, b, stop);
        batch_release(b);
        int64_t now = ids_now_ms();
        if (c->spec.tick && (had_batch || now - last_tick >= (c->spec.tick_ms > 0 ? c->spec.tick_ms : 1000))) {
            c->spec.tick(c->ctx, c->db, c->producer);
            last_tick = ids_now_ms();
        }
    }
    kafka_consumer_close(c->kc);
    return rc;
}

bool consumer_connected(consumer *c) { return c && kafka_consumer_connected(c->kc); }

void consumer_free(consumer *c)
{
    if (!c)
        return;
    kafka_consumer_free(c->kc);
    free(c->name);
    free(c);
}
