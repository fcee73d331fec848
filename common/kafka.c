/* Kafka producer and at-least-once consumer loop (kafka.h), on librdkafka.
 *
 * Producer: idempotent (enable.idempotence=true, acks=all), so librdkafka's own
 * retries never duplicate or reorder within a partition. Delivery callbacks are
 * served only by whoever calls kafka_producer_poll / kafka_produce_sync /
 * kafka_producer_flush (never by a hidden thread), as kafka.h promises.
 *
 * Consumer: auto commit of *stored* offsets (enable.auto.commit=true,
 * enable.auto.offset.store=false). kafka_consumer_run takes a batch of what is
 * immediately available (up to KAFKA_BATCH_MAX), runs the handler on each message
 * in order, produces the outputs asynchronously as soon as each handler returns,
 * waits until every output is acknowledged (re-producing any that failed), and
 * only then stores the offsets — per partition, only up to the first message that
 * is not completely done, because storing offset N means "everything before N is
 * done". A crash anywhere in between therefore redelivers, never loses.
 *
 * Batches are reference counted: each in-flight produce holds a reference, so a
 * delivery report arriving after the loop gave up waiting (only on stop) touches
 * live memory.
 *
 * Connectivity (kafka_*_connected): a watch thread per handle sends a small
 * metadata request every WATCH_INTERVAL_MS (timeout WATCH_TIMEOUT_MS). The error
 * callback's ALL_BROKERS_DOWN and successful deliveries update the same flag
 * sooner. reconnect.backoff.max.ms is lowered to 1 s so that a broker coming back
 * is used within a second.
 *
 * librdkafka's own logs go through log.h as JSON lines (event "rdkafka"). */
#include "common/kafka.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/topics.h"

extern char **environ;

#define KAFKA_BATCH_MAX 200
#define WATCH_INTERVAL_MS 500
#define WATCH_TIMEOUT_MS 1000
#define RETRY_BACKOFF_MIN_MS 100
#define RETRY_BACKOFF_MAX_MS 5000
#define STOP_GRACE_MS 10000

/* ---- shared client state ------------------------------------------------- */

/* First member of both kafka_producer and kafka_consumer, and librdkafka's opaque. */
typedef struct {
    char *name; /* client id / group, for logs and metric labels */
    const char *role;
    atomic_int connected;
    atomic_int fatal;
    metric *connected_gauge;

    rd_kafka_t *rk;
    pthread_t watch_thread;
    bool watch_started;
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cond;
    bool watch_quit;
} kafka_client;

struct kafka_producer {
    kafka_client c;
    metric *produced_ok, *produced_failed;
};

struct kafka_consumer {
    kafka_client c;
    kafka_producer *producer;
    bool closed, closed_cleanly;
    metric *m_consumed, *m_ok, *m_retry, *m_dead;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0) {
    }
}

static void set_connected(kafka_client *kc, int up)
{
    int prev = atomic_exchange(&kc->connected, up);
    metrics_set(kc->connected_gauge, up);
    if (prev != up) {
        if (up)
            LOG_INFO("kafka_connected", "client", kc->name, "role", kc->role, NULL);
        else
            LOG_WARN("kafka_disconnected", "client", kc->name, "role", kc->role, NULL);
    }
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_client *kc = rd_kafka_opaque(rk);
    const char *name = kc ? kc->name : "";
    /* Consumer settings passed through to a producer (and back) are expected. */
    if (!strcmp(fac, "CONFWARN") && strstr(buf, "will be ignored by this"))
        level = 7;
    /* Connection failures (FAIL) are expected while a broker restarts: warn. */
    if (level <= 3 && strcmp(fac, "FAIL") != 0)
        LOG_ERROR("rdkafka", "client", name, "facility", fac, "message", buf, NULL);
    else if (level <= 4)
        LOG_WARN("rdkafka", "client", name, "facility", fac, "message", buf, NULL);
    else if (level == 5)
        LOG_INFO("rdkafka", "client", name, "facility", fac, "message", buf, NULL);
    else
        LOG_DEBUG("rdkafka", "client", name, "facility", fac, "message", buf, NULL);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_client *kc = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        set_connected(kc, 0);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        atomic_store(&kc->fatal, 1);
        LOG_ERROR("kafka_fatal_error", "client", kc->name, "error", rd_kafka_err2name(orig), "reason", fatal, NULL);
        return;
    }
    LOG_WARN("kafka_error", "client", kc->name, "error", rd_kafka_err2name((rd_kafka_resp_err_t)err), "reason",
             reason, NULL);
}

/* Metadata probe: a broker answered within WATCH_TIMEOUT_MS. */
static void *watch_main(void *arg)
{
    kafka_client *kc = arg;
    pthread_mutex_lock(&kc->watch_lock);
    while (!kc->watch_quit) {
        pthread_mutex_unlock(&kc->watch_lock);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(kc->rk, 0, NULL, &md, WATCH_TIMEOUT_MS);
        int up = e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0 && !atomic_load(&kc->fatal);
        if (md)
            rd_kafka_metadata_destroy(md);
        set_connected(kc, up);
        pthread_mutex_lock(&kc->watch_lock);
        if (kc->watch_quit)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)WATCH_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&kc->watch_cond, &kc->watch_lock, &until);
    }
    pthread_mutex_unlock(&kc->watch_lock);
    return NULL;
}

static int client_init(kafka_client *kc, const char *name, const char *role)
{
    kc->name = strdup(name ? name : "hutch");
    kc->role = role;
    atomic_init(&kc->connected, 0);
    atomic_init(&kc->fatal, 0);
    pthread_mutex_init(&kc->watch_lock, NULL);
    pthread_cond_init(&kc->watch_cond, NULL);
    char mname[256];
    snprintf(mname, sizeof mname, "hutch_kafka_connected{client=\"%s\",role=\"%s\"}", kc->name ? kc->name : "",
             role);
    if (strcmp(role, "admin"))
        kc->connected_gauge = metrics_gauge(mname, "1 while a Kafka broker answers, else 0.");
    return kc->name ? 0 : -1;
}

static void watch_start(kafka_client *kc)
{
    kc->watch_quit = false;
    kc->watch_started = pthread_create(&kc->watch_thread, NULL, watch_main, kc) == 0;
}

static void watch_stop(kafka_client *kc)
{
    if (!kc->watch_started)
        return;
    pthread_mutex_lock(&kc->watch_lock);
    kc->watch_quit = true;
    pthread_cond_signal(&kc->watch_cond);
    pthread_mutex_unlock(&kc->watch_lock);
    pthread_join(kc->watch_thread, NULL);
    kc->watch_started = false;
}

static void client_destroy(kafka_client *kc)
{
    pthread_mutex_destroy(&kc->watch_lock);
    pthread_cond_destroy(&kc->watch_cond);
    free(kc->name);
    kc->name = NULL;
}

/* ---- configuration ------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        set_err(err, errlen, "kafka setting %s: %s", name, errstr);
        return -1;
    }
    return 0;
}

/* HUTCH_KAFKA_<NAME>=v -> <name>=v with '_' -> '.', except HUTCH_KAFKA_BROKERS and
 * variables that belong to a config table. Every bad one is reported (values are
 * not: they may be passwords). */
static int conf_passthrough(rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    static const char prefix[] = "HUTCH_KAFKA_";
    size_t used = 0;
    int bad = 0;
    if (err && errlen)
        err[0] = '\0';
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, prefix, sizeof prefix - 1))
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq || !eq[1])
            continue;
        char env[256], prop[256];
        size_t n = (size_t)(eq - *e);
        if (n >= sizeof env)
            continue;
        memcpy(env, *e, n);
        env[n] = '\0';
        if (!strcmp(env, "HUTCH_KAFKA_BROKERS") || config_is_known(env))
            continue;
        size_t k = 0;
        for (const char *p = env + sizeof prefix - 1; *p && k < sizeof prop - 1; p++)
            prop[k++] = *p == '_' ? '.' : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        prop[k] = '\0';
        char errstr[256];
        if (rd_kafka_conf_set(conf, prop, eq + 1, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            bad++;
            if (err && errlen > used + 1) {
                int w = snprintf(err + used, errlen - used, "%s%s (librdkafka property %s): %s", used ? "; " : "", env,
                                 prop, errstr);
                if (w > 0)
                    used = used + (size_t)w < errlen ? used + (size_t)w : errlen - 1;
            }
        }
    }
    return bad ? -1 : 0;
}

static rd_kafka_conf_t *base_conf(kafka_client *kc, const char *brokers, const char *client_id, char *err,
                                  size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", brokers ? brokers : "127.0.0.1:9092", err, errlen) < 0 ||
        conf_set(conf, "client.id", client_id ? client_id : "hutch", err, errlen) < 0 ||
        conf_set(conf, "reconnect.backoff.ms", "100", err, errlen) < 0 ||
        conf_set(conf, "reconnect.backoff.max.ms", "1000", err, errlen) < 0 ||
        conf_set(conf, "log.connection.close", "false", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, kc);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
}

/* ---- producer ------------------------------------------------------------ */

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
            set_connected(&p->c, 1);
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
    if (!p || client_init(&p->c, client_id, "producer") < 0) {
        if (p)
            client_destroy(&p->c);
        free(p);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    char mname[256];
    snprintf(mname, sizeof mname, "hutch_kafka_produced_total{client=\"%s\",result=\"ok\"}", p->c.name);
    p->produced_ok = metrics_counter(mname, "Messages produced, by delivery result.");
    snprintf(mname, sizeof mname, "hutch_kafka_produced_total{client=\"%s\",result=\"failed\"}", p->c.name);
    p->produced_failed = metrics_counter(mname, "Messages produced, by delivery result.");

    rd_kafka_conf_t *conf = base_conf(&p->c, brokers, client_id, err, errlen);
    if (!conf || conf_set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        conf_set(conf, "acks", "all", err, errlen) < 0 || conf_set(conf, "linger.ms", "5", err, errlen) < 0 ||
        /* The broker's message.max.bytes (tools/kafka/server.properties.in): an
         * event of ingest's largest body (1 MiB) plus its envelope must fit. */
        conf_set(conf, "message.max.bytes", "4194304", err, errlen) < 0 ||
        conf_passthrough(conf, err, errlen) < 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        client_destroy(&p->c);
        free(p);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    char errstr[512];
    p->c.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!p->c.rk) {
        set_err(err, errlen, "kafka producer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        client_destroy(&p->c);
        free(p);
        return NULL;
    }
    conf = NULL; /* now owned by rk */
    watch_start(&p->c);
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
                                       const void *value, size_t value_len, const char *const *headers, delivery *d)
{
    if (!p || !topic)
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    rd_kafka_headers_t *h = make_headers(headers);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->c.rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY((void *)key, key ? key_len : 0), RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && h)
        rd_kafka_headers_destroy(h); /* not taken on failure */
    return e;
}

int kafka_produce_async(kafka_producer *p, const char *topic, const void *key, size_t key_len, const void *value,
                        size_t value_len, const char *const *headers, kafka_delivery_cb cb, void *cb_ctx)
{
    delivery *d = malloc(sizeof *d);
    if (!d)
        return -1;
    d->cb = cb;
    d->ctx = cb_ctx;
    rd_kafka_resp_err_t e = produce_raw(p, topic, key, key_len, value, value_len, headers, d);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        free(d);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            LOG_WARN("kafka_produce_failed", "client", p ? p->c.name : "", "topic", topic, "error",
                     rd_kafka_err2str(e), NULL);
        return -1;
    }
    return 0;
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
        rd_kafka_resp_err_t e = produce_raw(p, topic, key, key_len, value, value_len, headers, d);
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
    watch_stop(&p->c);
    if (rd_kafka_flush(p->c.rk, flush_timeout_ms > 0 ? flush_timeout_ms : 0) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        char n[32];
        snprintf(n, sizeof n, "%d", rd_kafka_outq_len(p->c.rk));
        LOG_WARN("kafka_flush_incomplete", "client", p->c.name, "pending", n, NULL);
        /* Fail what is left so every delivery callback runs (and frees its context). */
        rd_kafka_purge(p->c.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->c.rk, 1000);
    }
    rd_kafka_destroy(p->c.rk);
    client_destroy(&p->c);
    free(p);
}

/* ---- consumer: outputs --------------------------------------------------- */

enum { OUT_PENDING = 0, OUT_INFLIGHT, OUT_ACKED, OUT_FAILED };

typedef struct batch batch;

typedef struct {
    char *topic;
    void *key;
    size_t key_len;
    void *value;
    size_t value_len;
    char **headers; /* NULL-terminated name, value pairs, or NULL */
    atomic_int state;
    atomic_int err;
    batch *b;
} out_item;

struct kafka_out {
    out_item **items;
    size_t len, cap;
};

static void out_item_free(out_item *it)
{
    if (!it)
        return;
    free(it->topic);
    free(it->key);
    free(it->value);
    if (it->headers) {
        for (char **h = it->headers; *h; h++)
            free(*h);
        free(it->headers);
    }
    free(it);
}

static void out_reset(kafka_out *out)
{
    for (size_t i = 0; i < out->len; i++)
        out_item_free(out->items[i]);
    out->len = 0;
}

static void *memdup(const void *p, size_t n)
{
    void *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

int kafka_out_add(kafka_out *out, const char *topic, const void *key, size_t key_len, const void *value,
                  size_t value_len, const char *const *headers)
{
    if (!out || !topic || (!value && value_len))
        return -1;
    if (out->len == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 4;
        out_item **grown = realloc(out->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        out->items = grown;
        out->cap = cap;
    }
    out_item *it = calloc(1, sizeof *it);
    if (!it)
        return -1;
    it->topic = strdup(topic);
    it->key = key ? memdup(key, key_len) : NULL;
    it->key_len = key ? key_len : 0;
    it->value = memdup(value, value_len);
    it->value_len = value_len;
    bool ok = it->topic && (!key || it->key) && it->value;
    if (ok && headers && headers[0]) {
        size_t n = 0;
        while (headers[n] && headers[n + 1])
            n += 2;
        it->headers = calloc(n + 1, sizeof *it->headers);
        ok = it->headers != NULL;
        for (size_t i = 0; ok && i < n; i++)
            ok = (it->headers[i] = strdup(headers[i])) != NULL;
    }
    if (!ok) {
        out_item_free(it);
        return -1;
    }
    atomic_init(&it->state, OUT_PENDING);
    out->items[out->len++] = it;
    return 0;
}

/* ---- consumer: batches --------------------------------------------------- */

typedef struct {
    rd_kafka_message_t *rkm;
    kafka_out out;
    bool handled; /* handler returned OK or DEAD (outputs in out) */
} batch_entry;

struct batch {
    atomic_int refs;     /* the run loop + one per in-flight produce */
    atomic_int inflight; /* outputs produced but not yet reported */
    size_t n;
    batch_entry entries[KAFKA_BATCH_MAX];
};

static void batch_release(batch *b)
{
    if (atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    for (size_t i = 0; i < b->n; i++) {
        out_reset(&b->entries[i].out);
        free(b->entries[i].out.items);
    }
    free(b);
}

static void out_delivered(void *ctx, int err)
{
    out_item *it = ctx;
    batch *b = it->b;
    atomic_store(&it->err, err);
    atomic_store(&it->state, err == 0 ? OUT_ACKED : OUT_FAILED);
    atomic_fetch_sub(&b->inflight, 1);
    batch_release(b);
}

static void produce_item(kafka_producer *p, batch *b, out_item *it)
{
    it->b = b;
    atomic_fetch_add(&b->refs, 1);
    atomic_fetch_add(&b->inflight, 1);
    atomic_store(&it->state, OUT_INFLIGHT);
    if (kafka_produce_async(p, it->topic, it->key, it->key_len, it->value, it->value_len,
                            (const char *const *)it->headers, out_delivered, it) < 0) {
        atomic_store(&it->state, OUT_FAILED);
        atomic_fetch_sub(&b->inflight, 1);
        atomic_fetch_sub(&b->refs, 1); /* the loop still holds its own reference */
    }
}

static bool stopping(volatile sig_atomic_t *stop) { return stop && *stop; }

/* Sleeps up to ms while serving the producer; false if stop was raised. */
static bool wait_serving(kafka_consumer *c, int64_t ms, volatile sig_atomic_t *stop)
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

static void fill_msg(kafka_msg *km, rd_kafka_message_t *m)
{
    memset(km, 0, sizeof *km);
    km->topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    km->partition = m->partition;
    km->offset = m->offset;
    km->key = m->key;
    km->key_len = m->key_len;
    km->value = m->payload;
    km->value_len = m->len;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    km->timestamp_ms = ts > 0 ? ts : 0;
    km->rk_message = m;
}

const void *kafka_msg_header(const kafka_msg *msg, const char *name, size_t *len)
{
    if (!msg || !msg->rk_message || !name)
        return NULL;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg->rk_message, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
        return NULL;
    const void *val = NULL;
    size_t size = 0;
    if (rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !val)
        return NULL;
    if (len)
        *len = size;
    return val;
}

static void add_dead_letter(kafka_consumer *c, batch_entry *e, const kafka_msg *km, const char *reason)
{
    char seed[512], part[16], off[32];
    snprintf(part, sizeof part, "%d", (int)km->partition);
    snprintf(off, sizeof off, "%lld", (long long)km->offset);
    snprintf(seed, sizeof seed, "dlq|%s|%s|%d|%lld", c->c.name, km->topic, (int)km->partition, (long long)km->offset);
    msg_meta_buf mb;
    msg_meta_init(&mb, NULL, c->c.name, km->timestamp_ms > 0 ? km->timestamp_ms : ids_now_ms(), seed);

    Hutch__V1__DeadLetter dl = HUTCH__V1__DEAD_LETTER__INIT;
    dl.meta = &mb.meta;
    dl.reason = (char *)reason;
    dl.source_topic = (char *)km->topic;
    dl.source_partition = km->partition;
    dl.source_offset = km->offset;
    dl.payload.data = (uint8_t *)km->value;
    dl.payload.len = km->value ? km->value_len : 0;
    dl.consumer = c->c.name;
    size_t len = 0;
    uint8_t *buf = msg_pack(&dl.base, &len);

    out_reset(&e->out);
    const char *headers[] = {"hutch-dlq-source", km->topic, NULL};
    int rc = buf ? kafka_out_add(&e->out, TOPIC_DLQ, km->key, km->key_len, buf, len, headers) : -1;
    free(buf);
    LOG_ERROR("message_dead_lettered", "consumer", c->c.name, "topic", km->topic, "partition", part, "offset", off,
              "reason", reason, "dlq_id", mb.id, rc < 0 ? "error" : NULL, "out of memory", NULL);
}

/* Runs the handler until it returns OK or DEAD; false if stopped while retrying. */
static bool handle_one(kafka_consumer *c, batch_entry *e, kafka_handler handler, void *ctx,
                       volatile sig_atomic_t *stop)
{
    kafka_msg km;
    fill_msg(&km, e->rkm);
    int64_t backoff = RETRY_BACKOFF_MIN_MS;
    char part[16], off[32];
    snprintf(part, sizeof part, "%d", (int)km.partition);
    snprintf(off, sizeof off, "%lld", (long long)km.offset);
    for (;;) {
        char reason[512] = "";
        out_reset(&e->out);
        kafka_result r = handler(ctx, &km, &e->out, reason, sizeof reason);
        reason[sizeof reason - 1] = '\0';
        if (r == KAFKA_OK) {
            metrics_add(c->m_ok, 1);
            return true;
        }
        if (r == KAFKA_DEAD) {
            metrics_add(c->m_dead, 1);
            add_dead_letter(c, e, &km, reason[0] ? reason : "handler refused the message");
            return true;
        }
        metrics_add(c->m_retry, 1);
        char wait[32];
        snprintf(wait, sizeof wait, "%lld", (long long)backoff);
        LOG_WARN("message_retry", "consumer", c->c.name, "topic", km.topic, "partition", part, "offset", off, "reason",
                 reason[0] ? reason : "(none)", "backoff_ms", wait, NULL);
        out_reset(&e->out);
        if (!wait_serving(c, backoff, stop))
            return false;
        backoff = backoff * 2 > RETRY_BACKOFF_MAX_MS ? RETRY_BACKOFF_MAX_MS : backoff * 2;
    }
}

static bool is_permanent(int err)
{
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_INVALID_RECORD || err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED || err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
}

/* Waits for every output of the handled entries; re-produces failures with
 * backoff. On stop, gives up after STOP_GRACE_MS (those inputs keep their offsets
 * unstored and are redelivered). */
static void wait_outputs(kafka_consumer *c, batch *b, volatile sig_atomic_t *stop)
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
        bool failed = false;
        for (size_t i = 0; i < b->n; i++) {
            batch_entry *e = &b->entries[i];
            for (size_t j = 0; e->handled && j < e->out.len; j++) {
                out_item *it = e->out.items[j];
                if (atomic_load(&it->state) != OUT_FAILED)
                    continue;
                failed = true;
                int err = atomic_load(&it->err);
                if (is_permanent(err) && strcmp(it->topic, TOPIC_DLQ) != 0) {
                    /* This output can never be written: dead-letter the input instead. */
                    kafka_msg km;
                    fill_msg(&km, e->rkm);
                    char reason[512];
                    snprintf(reason, sizeof reason, "output to %s could not be produced: %s", it->topic,
                             rd_kafka_err2str((rd_kafka_resp_err_t)err));
                    metrics_add(c->m_dead, 1);
                    add_dead_letter(c, e, &km, reason);
                    break; /* e->out now holds only the DLQ item, pending */
                }
            }
        }
        bool pending = false;
        for (size_t i = 0; i < b->n; i++)
            for (size_t j = 0; b->entries[i].handled && j < b->entries[i].out.len; j++)
                pending |= atomic_load(&b->entries[i].out.items[j]->state) != OUT_ACKED;
        if (!pending)
            return;
        if (failed) {
            char wait[32];
            snprintf(wait, sizeof wait, "%lld", (long long)backoff);
            LOG_WARN("output_retry", "consumer", c->c.name, "backoff_ms", wait, NULL);
            if (stopping(stop) && give_up_at < 0)
                give_up_at = ids_now_ms() + STOP_GRACE_MS;
            if (give_up_at >= 0 && ids_now_ms() >= give_up_at)
                return;
            wait_serving(c, backoff, NULL);
            backoff = backoff * 2 > RETRY_BACKOFF_MAX_MS ? RETRY_BACKOFF_MAX_MS : backoff * 2;
        }
        for (size_t i = 0; i < b->n; i++)
            for (size_t j = 0; b->entries[i].handled && j < b->entries[i].out.len; j++) {
                out_item *it = b->entries[i].out.items[j];
                int st = atomic_load(&it->state);
                if (st == OUT_FAILED || st == OUT_PENDING)
                    produce_item(c->producer, b, it);
            }
    }
}

/* Stores, per partition, the offset after the last message of the unbroken run
 * of completely done messages from the start of the batch. */
static void store_offsets(kafka_consumer *c, batch *b)
{
    rd_kafka_topic_partition_list_t *store = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_list_t *blocked = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < b->n; i++) {
        batch_entry *e = &b->entries[i];
        const char *topic = rd_kafka_topic_name(e->rkm->rkt);
        int32_t partition = e->rkm->partition;
        bool done = e->handled;
        for (size_t j = 0; done && j < e->out.len; j++)
            done = atomic_load(&e->out.items[j]->state) == OUT_ACKED;
        if (rd_kafka_topic_partition_list_find(blocked, topic, partition))
            continue;
        if (!done) {
            rd_kafka_topic_partition_list_add(blocked, topic, partition);
            continue;
        }
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(store, topic, partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(store, topic, partition);
        tp->offset = e->rkm->offset + 1;
    }
    if (store->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->c.rk, store);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* Typically a partition revoked meanwhile: its new owner redelivers. */
            for (int i = 0; i < store->cnt; i++)
                if (store->elems[i].err) {
                    char part[16];
                    snprintf(part, sizeof part, "%d", (int)store->elems[i].partition);
                    LOG_INFO("offset_store_skipped", "consumer", c->c.name, "topic", store->elems[i].topic,
                             "partition", part, "error", rd_kafka_err2str(store->elems[i].err), NULL);
                }
        }
    }
    rd_kafka_topic_partition_list_destroy(store);
    rd_kafka_topic_partition_list_destroy(blocked);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    kafka_consumer *c = opaque;
    const char *proto = rd_kafka_rebalance_protocol(rk);
    bool coop = proto && !strcmp(proto, "COOPERATIVE");
    char count[16];
    snprintf(count, sizeof count, "%d", parts ? parts->cnt : 0);
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        LOG_INFO("kafka_partitions_assigned", "consumer", c->c.name, "count", count, NULL);
        if (coop)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
    } else {
        LOG_INFO("kafka_partitions_revoked", "consumer", c->c.name, "count", count, "reason", rd_kafka_err2name(err),
                 NULL);
        /* Commit what is stored before the partitions move, to limit redelivery.
         * Asynchronous: a synchronous commit blocks for the whole session timeout
         * when the coordinator is unreachable (closing while the broker is down). */
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk))
            rd_kafka_commit(rk, NULL, 1);
        if (coop)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        LOG_ERROR("kafka_rebalance_error", "consumer", c->c.name, "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    } else if (aerr) {
        LOG_ERROR("kafka_rebalance_error", "consumer", c->c.name, "error", rd_kafka_err2str(aerr), NULL);
    }
}

kafka_consumer *kafka_consumer_new(const char *brokers, const char *group, const char *const *topics,
                                   kafka_producer *producer, char *err, size_t errlen)
{
    if (!group || !topics || !topics[0] || !producer) {
        set_err(err, errlen, "kafka consumer: group, topics and producer are required");
        return NULL;
    }
    kafka_consumer *c = calloc(1, sizeof *c);
    if (!c || client_init(&c->c, group, "consumer") < 0) {
        if (c)
            client_destroy(&c->c);
        free(c);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    c->producer = producer;
    char mname[256];
    snprintf(mname, sizeof mname, "hutch_kafka_consumed_total{consumer=\"%s\"}", c->c.name);
    c->m_consumed = metrics_counter(mname, "Messages taken from Kafka.");
    snprintf(mname, sizeof mname, "hutch_kafka_handled_total{consumer=\"%s\",result=\"ok\"}", c->c.name);
    c->m_ok = metrics_counter(mname, "Handler results: ok, retry (run again later), dead (sent to hutch.dlq).");
    snprintf(mname, sizeof mname, "hutch_kafka_handled_total{consumer=\"%s\",result=\"retry\"}", c->c.name);
    c->m_retry = metrics_counter(mname, "Handler results: ok, retry (run again later), dead (sent to hutch.dlq).");
    snprintf(mname, sizeof mname, "hutch_kafka_handled_total{consumer=\"%s\",result=\"dead\"}", c->c.name);
    c->m_dead = metrics_counter(mname, "Handler results: ok, retry (run again later), dead (sent to hutch.dlq).");

    rd_kafka_conf_t *conf = base_conf(&c->c, brokers, group, err, errlen);
    if (!conf || conf_set(conf, "group.id", group, err, errlen) < 0 ||
        conf_set(conf, "enable.auto.commit", "true", err, errlen) < 0 ||
        conf_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        conf_set(conf, "auto.offset.reset", "earliest", err, errlen) < 0 ||
        conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, errlen) < 0 ||
        /* A short session (default 45 s): a member killed with SIGKILL gives its
         * partitions back within 10 s, and closing while the broker is down is
         * bounded by it too. HUTCH_KAFKA_SESSION_TIMEOUT_MS overrides. */
        conf_set(conf, "session.timeout.ms", "10000", err, errlen) < 0 ||
        conf_set(conf, "heartbeat.interval.ms", "2000", err, errlen) < 0 ||
        /* Prefetch at most 8 MB (default 64 MB): with a backlog the default made a
         * service's RSS 62 MiB for no gain in throughput (make bench-policy). */
        conf_set(conf, "queued.max.messages.kbytes", "8192", err, errlen) < 0 ||
        /* A subscribed topic that does not exist yet (ingest's router topics, made
         * by an operator after the start) is found at the next refresh: 10 s, not 5 min. */
        conf_set(conf, "topic.metadata.refresh.interval.ms", "10000", err, errlen) < 0 ||
        conf_passthrough(conf, err, errlen) < 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        client_destroy(&c->c);
        free(c);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    char errstr[512];
    c->c.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!c->c.rk) {
        set_err(err, errlen, "kafka consumer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        client_destroy(&c->c);
        free(c);
        return NULL;
    }
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(c->c.rk);

    size_t n = 0;
    while (topics[n])
        n++;
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->c.rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        set_err(err, errlen, "kafka subscribe: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(c->c.rk);
        client_destroy(&c->c);
        free(c);
        return NULL;
    }
    watch_start(&c->c);
    return c;
}

/* Commits synchronously and leaves the group, but never for longer than the
 * broker's state allows: librdkafka's close waits up to session.timeout.ms
 * for an unreachable coordinator, which would outlast a SIGTERM grace period. The
 * close runs on a queue we serve with a deadline; if it does not finish, the
 * handle is destroyed without it (offsets stored but not committed are then
 * redelivered: at least once, never lost). */
static void consumer_close(kafka_consumer *c)
{
    if (c->closed)
        return;
    c->closed = true;
    /* No explicit rd_kafka_commit: with enable.auto.commit the close itself
     * commits the stored offsets, and a synchronous commit would block for the
     * whole session timeout when the coordinator is unreachable. */
    bool up = atomic_load(&c->c.connected);
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->c.rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(c->c.rk, q);
    if (error) {
        LOG_WARN("kafka_close_failed", "consumer", c->c.name, "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    } else {
        int64_t deadline = ids_now_ms() + (up ? STOP_GRACE_MS : 1000);
        /* Served as events, not callbacks: messages prefetched before the close
         * still arrive here, and librdkafka aborts when a callback-served queue
         * meets one. They are dropped unprocessed (offsets not stored: redelivered);
         * the revocation comes as an event too and goes to our rebalance callback. */
        while (!rd_kafka_consumer_closed(c->c.rk) && ids_now_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
            if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rebalance_cb(c->c.rk, rd_kafka_event_error(ev), rd_kafka_event_topic_partition_list(ev), c);
            if (ev)
                rd_kafka_event_destroy(ev);
        }
    }
    c->closed_cleanly = rd_kafka_consumer_closed(c->c.rk);
    rd_kafka_queue_destroy(q);
    LOG_INFO("kafka_consumer_closed", "consumer", c->c.name, "clean", c->closed_cleanly ? "true" : "false", NULL);
}

/* Takes a consumed message into the batch, or logs and drops a consumer event. */
static bool take(kafka_consumer *c, batch *b, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            LOG_WARN("kafka_consume_error", "consumer", c->c.name, "topic", m->rkt ? rd_kafka_topic_name(m->rkt) : "",
                     "error", rd_kafka_message_errstr(m), NULL);
        rd_kafka_message_destroy(m);
        return false;
    }
    metrics_add(c->m_consumed, 1);
    b->entries[b->n].rkm = m;
    b->n++;
    return true;
}

int kafka_consumer_run(kafka_consumer *c, kafka_handler handler, void *ctx, volatile sig_atomic_t *stop)
{
    if (!c || !handler)
        return -1;
    int rc = 0;
    LOG_INFO("kafka_consumer_started", "consumer", c->c.name, NULL);
    while (!stopping(stop)) {
        if (atomic_load(&c->c.fatal)) {
            rc = -1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->c.rk, 100);
        kafka_producer_poll(c->producer, 0);
        if (!m)
            continue;
        batch *b = calloc(1, sizeof *b);
        if (!b) {
            rd_kafka_message_destroy(m);
            LOG_ERROR("out_of_memory", "consumer", c->c.name, NULL);
            sleep_ms(100);
            continue;
        }
        atomic_init(&b->refs, 1);
        atomic_init(&b->inflight, 0);
        take(c, b, m);
        while (b->n < KAFKA_BATCH_MAX && (m = rd_kafka_consumer_poll(c->c.rk, 0)))
            take(c, b, m);

        for (size_t i = 0; i < b->n; i++) {
            batch_entry *e = &b->entries[i];
            if (!handle_one(c, e, handler, ctx, stop))
                break; /* stopped while retrying: this one and the rest are redelivered */
            e->handled = true;
            for (size_t j = 0; j < e->out.len; j++)
                produce_item(c->producer, b, e->out.items[j]);
            kafka_producer_poll(c->producer, 0);
        }
        wait_outputs(c, b, stop);
        store_offsets(c, b);
        for (size_t i = 0; i < b->n; i++) {
            rd_kafka_message_destroy(b->entries[i].rkm);
            b->entries[i].rkm = NULL;
        }
        batch_release(b);
    }
    consumer_close(c);
    return rc;
}

bool kafka_consumer_connected(kafka_consumer *c)
{
    return c && atomic_load(&c->c.connected) && !atomic_load(&c->c.fatal);
}

void kafka_consumer_free(kafka_consumer *c)
{
    if (!c)
        return;
    watch_stop(&c->c);
    consumer_close(c);
    rd_kafka_destroy_flags(c->c.rk, c->closed_cleanly ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    client_destroy(&c->c);
    free(c);
}

/* ---- admin --------------------------------------------------------------- */

int kafka_create_topics(const char *brokers, const char *const *topics, int partitions, char *err, size_t errlen)
{
    if (!topics || partitions < 1) {
        set_err(err, errlen, "create topics: bad arguments");
        return -1;
    }
    kafka_client kc = {0};
    client_init(&kc, "hutch-admin", "admin");
    rd_kafka_conf_t *conf = base_conf(&kc, brokers, "hutch-admin", err, errlen);
    if (!conf || conf_passthrough(conf, err, errlen) < 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        client_destroy(&kc);
        return -1;
    }
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        set_err(err, errlen, "kafka admin: %s", errstr);
        rd_kafka_conf_destroy(conf);
        client_destroy(&kc);
        return -1;
    }
    size_t total = 0;
    while (topics[total])
        total++;
    /* Only ask for what is missing: brokers without the Admin API (the dev
     * broker, librdkafka's mock cluster) then start at once when the topics are
     * already there. */
    const char **missing = calloc(total ? total : 1, sizeof *missing);
    size_t n = 0;
    const struct rd_kafka_metadata *md = NULL;
    bool have_md = rd_kafka_metadata(rk, 1, NULL, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; missing && i < total; i++) {
        bool exists = false;
        for (int t = 0; have_md && t < md->topic_cnt && !exists; t++)
            exists = !strcmp(md->topics[t].topic, topics[i]) && md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!exists)
            missing[n++] = topics[i];
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_NewTopic_t **nt = calloc(n ? n : 1, sizeof *nt);
    int rc = nt && missing ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(missing[i], partitions, 1, errstr, sizeof errstr);
        if (!nt[i]) {
            set_err(err, errlen, "topic %s: %s", missing[i], errstr);
            rc = -1;
        }
    }
    if (rc == 0 && n > 0) {
        rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opts, 10000, errstr, sizeof errstr);
        rd_kafka_AdminOptions_set_operation_timeout(opts, 10000, errstr, sizeof errstr);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, nt, n, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 25000);
        if (!ev) {
            set_err(err, errlen, "create topics: no answer from the broker");
            rc = -1;
        } else if (rd_kafka_event_error(ev)) {
            set_err(err, errlen, "create topics: %s", rd_kafka_event_error_string(ev));
            rc = -1;
        } else {
            const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
            size_t cnt = 0;
            const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
            size_t used = 0;
            for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t te = rd_kafka_topic_result_error(tr[i]);
                if (te == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    LOG_INFO("kafka_topic_created", "topic", rd_kafka_topic_result_name(tr[i]), NULL);
                    continue;
                }
                if (te == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                    continue;
                rc = -1;
                if (err && errlen > used + 1) {
                    const char *es = rd_kafka_topic_result_error_string(tr[i]);
                    int w = snprintf(err + used, errlen - used, "%stopic %s: %s", used ? "; " : "",
                                     rd_kafka_topic_result_name(tr[i]), es ? es : rd_kafka_err2str(te));
                    if (w > 0)
                        used = used + (size_t)w < errlen ? used + (size_t)w : errlen - 1;
                }
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_AdminOptions_destroy(opts);
    }
    /* A consumer that subscribes before the broker's metadata shows a new topic sees
     * it as unknown until its next metadata refresh (minutes): wait, bounded, until
     * every created topic has a leader for each partition. */
    for (int64_t until = ids_now_ms() + 30000; rc == 0 && n > 0;) {
        size_t ready = 0;
        md = NULL;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            for (size_t i = 0; i < n; i++)
                for (int t = 0; t < md->topic_cnt; t++) {
                    const rd_kafka_metadata_topic_t *mt = &md->topics[t];
                    bool led = mt->err == RD_KAFKA_RESP_ERR_NO_ERROR && mt->partition_cnt > 0;
                    for (int p = 0; led && p < mt->partition_cnt; p++)
                        led = mt->partitions[p].leader >= 0;
                    ready += !strcmp(mt->topic, missing[i]) && led;
                }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (ready == n || ids_now_ms() >= until)
            break;
        sleep_ms(200);
    }
    for (size_t i = 0; nt && i < n; i++)
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    free(missing);
    rd_kafka_destroy(rk);
    client_destroy(&kc);
    return rc;
}
