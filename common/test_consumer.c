/* Tests for the batch consumer frame (consumer.h).
 *
 * Always, against librdkafka's mock cluster started here, with frames that have no
 * database: outputs with keys and headers, a dead message dead-lettered alone, a
 * handler that asks for a retry (the failed attempts' outputs never produced), no
 * redelivery after a clean stop, stopping while the broker is down, stopping with a
 * prefetched backlog.
 * With HUTCH_TEST_DATABASE_URL and HUTCH_TEST_KAFKA_BROKERS (scripts/test.sh starts
 * both): a batch with a poison message (the database refuses one row: bisected, that
 * one dead-lettered with the database's reason, the others committed once), a
 * half-done batch redelivered (committed, stopped before its outputs: the claim makes
 * every message "redelivered", nothing written twice, outputs produced once), and a
 * rebalance mid-batch (a second member joins while the first is inside a slow
 * batch: every message has its effect exactly once). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/consumer.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/topics.h"

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static char mock_brokers[256];

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    log_init("test-consumer", getenv("TEST_LOG_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!mock_rk)
        return -1;
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    if (!mock)
        return -1;
    snprintf(mock_brokers, sizeof mock_brokers, "%s", rd_kafka_mock_cluster_bootstraps(mock));
    const char *topics[] = {"t.in", "t.out", TOPIC_DLQ};
    for (size_t i = 0; i < 3; i++)
        rd_kafka_mock_topic_create(mock, topics[i], 3, 1);
    /* the mock ignores LeaveGroup: short sessions so a restarted member is assigned soon */
    setenv("HUTCH_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    setenv("HUTCH_KAFKA_HEARTBEAT_INTERVAL_MS", "1000", 1);
    return 0;
}

static int teardown(void **state)
{
    unsetenv("HUTCH_KAFKA_SESSION_TIMEOUT_MS");
    unsetenv("HUTCH_KAFKA_HEARTBEAT_INTERVAL_MS");
    if (mock)
        rd_kafka_mock_cluster_destroy(mock);
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    return 0;
}

/* Reads everything currently in topic with a plain consumer (fresh group): values,
 * or for the DLQ "consumer|source topic|payload|reason" (cut at 255 bytes). */
static int read_all(const char *brokers, const char *topic, char values[][256], int max, int expect)
{
    char errstr[512], group[64], id[IDS_UUID_LEN];
    ids_uuid7(id);
    snprintf(group, sizeof group, "reader-%s", id);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0;
    int64_t deadline = ids_now_ms() + 20000, quiet_until = -1;
    while (ids_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (n >= expect && quiet_until < 0)
                quiet_until = ids_now_ms() + 1000;
            if (quiet_until > 0 && ids_now_ms() > quiet_until)
                break;
            continue;
        }
        if (!m->err && n < max) {
            size_t len = m->len < 255 ? m->len : 255;
            memcpy(values[n], m->payload, len);
            values[n][len] = '\0';
            if (!strcmp(topic, TOPIC_DLQ)) {
                Hutch__V1__DeadLetter *dl = hutch__v1__dead_letter__unpack(NULL, m->len, m->payload);
                assert_non_null(dl);
                snprintf(values[n], 256, "%s|%s|%.*s|%s", dl->consumer, dl->source_topic, (int)dl->payload.len,
                         (const char *)dl->payload.data, dl->reason);
                hutch__v1__dead_letter__free_unpacked(dl, NULL);
            }
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* ---- frames without a database (mock cluster) ---- */

typedef struct {
    const char *in, *out;
    atomic_int handled; /* items handled with OK */
    atomic_int flaky_calls;
    atomic_int batches;
    int delay_ms; /* per batch */
    volatile sig_atomic_t stop;
    consumer *c;
    int rc;
} scenario;

static int raw_handler(void *ctx, pg *db, consumer_item **items, size_t n)
{
    scenario *s = ctx;
    (void)db;
    atomic_fetch_add(&s->batches, 1);
    if (s->delay_ms)
        sleep_ms(s->delay_ms);
    for (size_t i = 0; i < n; i++) {
        consumer_item *it = items[i];
        char value[64];
        snprintf(value, sizeof value, "%.*s", (int)it->msg.value_len, (const char *)it->msg.value);
        if (!strcmp(value, "poison")) {
            consumer_item_dead(it, "not valid protobuf");
            continue;
        }
        if (!strcmp(value, "flaky") && atomic_fetch_add(&s->flaky_calls, 1) < 2) {
            /* the outputs of a failed attempt must not be produced */
            consumer_emit_bytes(it, s->out, NULL, 0, "discarded", 9, NULL);
            return PG_RETRY;
        }
        size_t hlen = 0;
        const char *schema = kafka_msg_header(&it->msg, HEADER_SCHEMA, &hlen);
        char outv[128];
        snprintf(outv, sizeof outv, "out:%s:%.*s", value, schema ? (int)hlen : 1, schema ? schema : "-");
        const char *headers[] = {"hutch-from", s->in, NULL};
        assert_int_equal(consumer_emit_bytes(it, s->out, it->msg.key, it->msg.key_len, outv, strlen(outv), headers), 0);
    }
    for (size_t i = 0; i < n; i++)
        if (!items[i]->dead)
            atomic_fetch_add(&s->handled, 1);
    return PG_OK;
}

static void *run(void *arg)
{
    scenario *s = arg;
    s->rc = consumer_run(s->c, &s->stop);
    return NULL;
}

static consumer *raw_consumer(const char *brokers, const char *name, const char *topic, kafka_producer *p, scenario *s,
                              size_t batch)
{
    static consumer_input inputs[2];
    inputs[0] = (consumer_input){topic, NULL};
    inputs[1] = (consumer_input){NULL, NULL};
    consumer_spec spec = {
        .inputs = inputs, .handle = raw_handler, .no_database = true, .batch_max = batch, .linger_ms = 20};
    char err[512];
    consumer *c = consumer_new(name, brokers, NULL, p, &spec, s, err, sizeof err);
    if (!c)
        fail_msg("consumer_new: %s", err);
    return c;
}

static void test_outputs_dead_retry(void **state)
{
    char err[512];
    kafka_producer *p = kafka_producer_new(mock_brokers, "hutch-test", err, sizeof err);
    assert_non_null(p);
    const char *headers[] = {HEADER_SCHEMA, "falco", NULL};
    for (int i = 0; i < 10; i++) {
        char key[16], v[16];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(v, sizeof v, "m%d", i);
        assert_int_equal(kafka_produce_sync(p, "t.in", key, strlen(key), v, strlen(v), i == 3 ? headers : NULL, 10000),
                         0);
    }
    assert_int_equal(kafka_produce_sync(p, "t.in", "kp", 2, "poison", 6, NULL, 10000), 0);
    assert_int_equal(kafka_produce_sync(p, "t.in", "kf", 2, "flaky", 5, NULL, 10000), 0);

    scenario s = {.in = "t.in", .out = "t.out"};
    s.c = raw_consumer(mock_brokers, "test", "t.in", p, &s, 500);
    pthread_t th;
    pthread_create(&th, NULL, run, &s);
    for (int i = 0; i < 600 && atomic_load(&s.handled) < 11; i++)
        sleep_ms(50);
    assert_int_equal(atomic_load(&s.handled), 11);
    assert_true(consumer_connected(s.c));
    sleep_ms(300);
    s.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(s.rc, 0);
    assert_int_equal(atomic_load(&s.flaky_calls), 3);
    consumer_free(s.c);

    char(*values)[256] = calloc(64, 256);
    int n = read_all(mock_brokers, "t.out", values, 64, 11);
    int found_header = 0, found_flaky = 0, discarded = 0;
    for (int i = 0; i < n; i++) {
        discarded += strstr(values[i], "discarded") != NULL;
        found_header += !strcmp(values[i], "out:m3:falco");
        found_flaky += !strcmp(values[i], "out:flaky:-");
    }
    /* at least once: a retried batch re-produces its outputs only once it succeeded */
    assert_int_equal(discarded, 0);
    assert_int_equal(found_header, 1);
    assert_int_equal(found_flaky, 1);
    assert_int_equal(n, 11);

    memset(values, 0, 64 * 256);
    n = read_all(mock_brokers, TOPIC_DLQ, values, 64, 1);
    assert_int_equal(n, 1);
    assert_string_equal(values[0], "hutch-test|t.in|poison|not valid protobuf");
    free(values);

    /* Restart with the same group: everything was committed, nothing comes back. */
    scenario s2 = {.in = "t.in", .out = "t.out"};
    s2.c = raw_consumer(mock_brokers, "test", "t.in", p, &s2, 500);
    pthread_create(&th, NULL, run, &s2);
    sleep_ms(6000);
    assert_int_equal(atomic_load(&s2.handled), 0);
    assert_int_equal(kafka_produce_sync(p, "t.in", "k", 1, "late", 4, NULL, 10000), 0);
    for (int i = 0; i < 600 && atomic_load(&s2.handled) < 1; i++)
        sleep_ms(50);
    assert_int_equal(atomic_load(&s2.handled), 1);
    s2.stop = 1;
    pthread_join(th, NULL);
    consumer_free(s2.c);
    kafka_producer_free(p, 5000);
}

/* The tick: after a batch, and every tick_ms while idle, on the frame's thread with
 * its producer. */
typedef struct {
    scenario s;
    atomic_int ticks;
    atomic_int ticks_after_batch; /* ticks seen once a batch was handled */
    kafka_producer *producer;
    int producer_ok;
} tick_scenario;

static void count_tick(void *ctx, pg *db, kafka_producer *producer)
{
    tick_scenario *t = ctx; /* the scenario is the first member */
    assert_null(db);        /* no_database */
    t->producer_ok += producer == t->producer;
    atomic_fetch_add(&t->ticks, 1);
    if (atomic_load(&t->s.handled) > 0)
        atomic_fetch_add(&t->ticks_after_batch, 1);
}

static void test_tick(void **state)
{
    char err[512];
    rd_kafka_mock_topic_create(mock, "t.tick", 1, 1);
    kafka_producer *p = kafka_producer_new(mock_brokers, "hutch-test", err, sizeof err);
    assert_non_null(p);
    tick_scenario t = {.s = {.in = "t.tick", .out = "t.tick.out"}, .producer = p};
    static consumer_input inputs[] = {{"t.tick", NULL}, {NULL, NULL}};
    consumer_spec spec = {.inputs = inputs,
                          .handle = raw_handler,
                          .no_database = true,
                          .batch_max = 10,
                          .linger_ms = 20,
                          .tick = count_tick,
                          .tick_ms = 100};
    t.s.c = consumer_new("test-tick", mock_brokers, NULL, p, &spec, &t, err, sizeof err);
    assert_non_null(t.s.c);
    pthread_t th;
    pthread_create(&th, NULL, run, &t.s);
    sleep_ms(1500); /* idle: about one tick per 100 ms */
    int idle = atomic_load(&t.ticks);
    assert_true(idle >= 5 && idle <= 20);
    assert_int_equal(kafka_produce_sync(p, "t.tick", "k", 1, "m", 1, NULL, 10000), 0);
    for (int i = 0; i < 300 && atomic_load(&t.ticks_after_batch) < 1; i++)
        sleep_ms(20);
    assert_int_equal(atomic_load(&t.s.handled), 1);
    assert_true(atomic_load(&t.ticks_after_batch) >= 1);
    t.s.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(t.producer_ok, atomic_load(&t.ticks));
    consumer_free(t.s.c);
    kafka_producer_free(p, 1000);
}

/* Stop while the broker is down: the loop and the close must not hang. */
static void test_stop_while_broker_down(void **state)
{
    char err[512];
    rd_kafka_mock_topic_create(mock, "t.down", 1, 1);
    kafka_producer *p = kafka_producer_new(mock_brokers, "hutch-test", err, sizeof err);
    assert_non_null(p);
    assert_int_equal(kafka_produce_sync(p, "t.down", "k", 1, "m", 1, NULL, 10000), 0);
    scenario s = {.in = "t.down", .out = "t.out"};
    s.c = raw_consumer(mock_brokers, "test-down", "t.down", p, &s, 500);
    pthread_t th;
    pthread_create(&th, NULL, run, &s);
    for (int i = 0; i < 300 && atomic_load(&s.handled) < 1; i++)
        sleep_ms(50);
    assert_int_equal(atomic_load(&s.handled), 1);
    sleep_ms(500);
    rd_kafka_mock_broker_set_down(mock, 1);
    sleep_ms(2000);
    int64_t t0 = ids_now_ms();
    s.stop = 1;
    pthread_join(th, NULL);
    consumer_free(s.c);
    kafka_producer_free(p, 1000);
    int64_t took = ids_now_ms() - t0;
    print_message("stop with broker down took %lld ms\n", (long long)took);
    rd_kafka_mock_broker_set_up(mock, 1);
    assert_true(took < 20000);
}

/* A slow handler with a prefetched backlog, stopped midway: the close must not abort
 * on the prefetched messages, and a restarted consumer gets the rest. */
static void test_stop_with_backlog(void **state)
{
    char err[512];
    enum { N = 3000 };
    rd_kafka_mock_topic_create(mock, "t.backlog", 2, 1);
    kafka_producer *p = kafka_producer_new(mock_brokers, "hutch-test", err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof v, "b%d", i);
        assert_int_equal(kafka_produce_async(p, "t.backlog", v, strlen(v), v, strlen(v), NULL, NULL, NULL), 0);
    }
    assert_int_equal(kafka_producer_flush(p, 10000), 0);
    int total = 0;
    for (int round = 0; round < 2; round++) {
        scenario s = {.in = "t.backlog", .out = "t.out", .delay_ms = 20};
        s.c = raw_consumer(mock_brokers, "test-backlog", "t.backlog", p, &s, 50);
        pthread_t th;
        pthread_create(&th, NULL, run, &s);
        if (round == 0) {
            for (int i = 0; i < 600 && atomic_load(&s.handled) < 100; i++)
                sleep_ms(50);
            assert_true(atomic_load(&s.handled) >= 100);
        } else {
            for (int i = 0; i < 1200 && total + atomic_load(&s.handled) < N; i++)
                sleep_ms(50);
        }
        s.stop = 1;
        pthread_join(th, NULL);
        consumer_free(s.c);
        total += atomic_load(&s.handled);
        if (round == 0)
            assert_true(total < N); /* really stopped with a backlog */
    }
    assert_true(total >= N); /* nothing lost (at least once: a few may come twice) */
    kafka_producer_free(p, 1000);
}

/* ---- with Postgres and a real broker ---- */

static const char *db_url(void)
{
    const char *u = getenv("HUTCH_TEST_DATABASE_URL");
    return u && *u ? u : NULL;
}

static const char *real_brokers(void)
{
    const char *b = getenv("HUTCH_TEST_KAFKA_BROKERS");
    return b && *b ? b : NULL;
}

typedef struct {
    pg *db;
    const char *out;
    atomic_int items, redelivered, batches;
    atomic_int block_after_commit; /* 1: after_commit never succeeds (a crash after commit) */
    int delay_ms;
    volatile sig_atomic_t stop;
    consumer *c;
} db_scenario;

/* Each message "<n>" inserts (n, value) into frame_effects (n < 0 violates its CHECK:
 * the poison) unless redelivered, and produces "done:<n>". */
static int db_handler(void *ctx, pg *db, consumer_item **items, size_t n)
{
    db_scenario *s = ctx;
    atomic_fetch_add(&s->batches, 1);
    if (s->delay_ms)
        sleep_ms(s->delay_ms);
    pg_array nums;
    pg_array_init(&nums);
    for (size_t i = 0; i < n; i++) {
        const Hutch__V1__TicketEvent *ev = (const Hutch__V1__TicketEvent *)items[i]->value;
        atomic_fetch_add(&s->items, 1);
        if (items[i]->redelivered)
            atomic_fetch_add(&s->redelivered, 1);
        else
            pg_array_add(&nums, ev->alert_id);
        char out[64];
        snprintf(out, sizeof out, "done:%s", ev->alert_id);
        if (consumer_emit_bytes(items[i], s->out, NULL, 0, out, strlen(out), NULL) != 0) {
            pg_array_free(&nums);
            return PG_RETRY;
        }
    }
    int rc = PG_OK;
    if (nums.n) {
        const char *params[] = {pg_array_text(&nums)};
        rc = pg_exec(db, NULL, "INSERT INTO frame_effects (n) SELECT unnest($1::int[])", 1, params);
    }
    pg_array_free(&nums);
    return rc;
}

static int db_after_commit(void *ctx, pg *db, consumer_item **items, size_t n)
{
    db_scenario *s = ctx;
    return atomic_load(&s->block_after_commit) ? PG_RETRY : PG_OK;
}

static void *run_db(void *arg)
{
    db_scenario *s = arg;
    consumer_run(s->c, &s->stop);
    return NULL;
}

static consumer *db_consumer(const char *name, const char *topic, kafka_producer *p, db_scenario *s)
{
    static consumer_input inputs[2];
    inputs[0] = (consumer_input){topic, &hutch__v1__ticket_event__descriptor};
    inputs[1] = (consumer_input){NULL, NULL};
    consumer_spec spec = {
        .inputs = inputs, .handle = db_handler, .after_commit = db_after_commit, .batch_max = 500, .linger_ms = 50};
    char err[512];
    consumer *c = consumer_new(name, real_brokers(), s->db, p, &spec, s, err, sizeof err);
    if (!c)
        fail_msg("consumer_new: %s", err);
    return c;
}

/* Publishes messages "from".."to" (TicketEvents whose alert_id carries the number). */
static void publish(kafka_producer *p, const char *topic, int from, int to)
{
    for (int i = from; i <= to; i++) {
        char num[16], seed[64];
        snprintf(num, sizeof num, "%d", i);
        snprintf(seed, sizeof seed, "%s/%d", topic, i);
        msg_meta_buf mb;
        msg_meta_init(&mb, NULL, "test", 1720000000000, seed);
        Hutch__V1__TicketEvent ev = HUTCH__V1__TICKET_EVENT__INIT;
        ev.meta = &mb.meta;
        ev.alert_id = num;
        size_t len = 0;
        uint8_t *buf = msg_pack(&ev.base, &len);
        assert_int_equal(kafka_produce_async(p, topic, num, strlen(num), buf, len, NULL, NULL, NULL), 0);
        free(buf);
    }
    assert_int_equal(kafka_producer_flush(p, 10000), 0);
}

static pg *fresh_db(void)
{
    char err[512];
    pg *db = pg_connect(db_url(), 10000, err, sizeof err);
    if (!db)
        fail_msg("pg_connect: %s", err);
    assert_int_equal(pg_migrate(db, err, sizeof err), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "DROP TABLE IF EXISTS frame_effects", 0, NULL), PG_OK);
    assert_int_equal(pg_exec(db, NULL, "DELETE FROM processed_messages WHERE consumer LIKE 'hutch-test-%'", 0, NULL),
                     PG_OK);
    assert_int_equal(pg_exec(db, NULL, "CREATE TABLE frame_effects (n int NOT NULL CHECK (n >= 0))", 0, NULL), PG_OK);
    return db;
}

static pg *checker; /* the test's own connection: a pg handle is one thread's */

static long long scalar(pg *unused, const char *sql)
{
    (void)unused;
    char err[512];
    if (!checker && !(checker = pg_connect(db_url(), 10000, err, sizeof err)))
        fail_msg("pg_connect: %s", err);
    pg *db = checker;
    PGresult *res = NULL;
    assert_int_equal(pg_exec(db, &res, sql, 0, NULL), PG_OK);
    long long v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static void unique_topics(char *in, char *out, size_t len, const char *what)
{
    char id[IDS_UUID_LEN], err[512];
    ids_uuid7(id);
    snprintf(in, len, "test.%s.in.%s", what, id);
    snprintf(out, len, "test.%s.out.%s", what, id);
    const char *topics[] = {in, out, TOPIC_DLQ, NULL};
    assert_int_equal(kafka_create_topics(real_brokers(), topics, 3, err, sizeof err), 0);
}

static void wait_items(db_scenario *s, int n, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms && atomic_load(&s->items) < n; waited += 50)
        sleep_ms(50);
}

static void test_poison_in_batch(void **state)
{
    if (!db_url() || !real_brokers())
        skip();
    char in[128], out[128], err[512];
    unique_topics(in, out, sizeof in, "poison");
    kafka_producer *p = kafka_producer_new(real_brokers(), "hutch-test", err, sizeof err);
    assert_non_null(p);
    db_scenario s = {.db = fresh_db(), .out = out};
    publish(p, in, 0, 99);
    publish(p, in, -7, -7); /* refused by the CHECK constraint */
    publish(p, in, 100, 199);
    s.c = db_consumer("test-poison", in, p, &s);
    pthread_t th;
    pthread_create(&th, NULL, run_db, &s);
    for (int i = 0; i < 600 && scalar(s.db, "SELECT count(*) FROM frame_effects") < 200; i++)
        sleep_ms(50);
    sleep_ms(500);
    s.stop = 1;
    pthread_join(th, NULL);
    consumer_free(s.c);
    /* every good message's effect exactly once, the poison's never */
    assert_int_equal(scalar(s.db, "SELECT count(*) FROM frame_effects"), 200);
    assert_int_equal(scalar(s.db, "SELECT count(DISTINCT n) FROM frame_effects"), 200);
    assert_int_equal(scalar(s.db, "SELECT count(*) FROM processed_messages WHERE consumer = 'hutch-test-poison'"), 200);
    print_message("poison batch: %d handler calls for 201 messages\n", atomic_load(&s.batches));

    char(*values)[256] = calloc(1024, 256);
    int n = read_all(real_brokers(), out, values, 1024, 200);
    assert_int_equal(n, 200);
    for (int i = 0; i < n; i++)
        assert_null(strstr(values[i], "done:-7"));
    n = read_all(real_brokers(), TOPIC_DLQ, values, 1024, 1);
    int dead = 0;
    for (int i = 0; i < n; i++)
        if (!strncmp(values[i], "hutch-test-poison|", 18) && strstr(values[i], in) &&
            strstr(values[i], "database refused the message"))
            dead++;
    assert_int_equal(dead, 1);
    free(values);
    pg_free(s.db);
    kafka_producer_free(p, 5000);
}

static void test_redelivery_of_half_done_batch(void **state)
{
    if (!db_url() || !real_brokers())
        skip();
    char in[128], out[128], err[512];
    unique_topics(in, out, sizeof in, "half");
    kafka_producer *p = kafka_producer_new(real_brokers(), "hutch-test", err, sizeof err);
    assert_non_null(p);
    db_scenario s = {.db = fresh_db(), .out = out};
    atomic_store(&s.block_after_commit, 1);
    publish(p, in, 1, 50);
    s.c = db_consumer("test-half", in, p, &s);
    pthread_t th;
    pthread_create(&th, NULL, run_db, &s);
    wait_items(&s, 50, 30000);
    for (int i = 0; i < 200 && scalar(s.db, "SELECT count(*) FROM frame_effects") < 50; i++)
        sleep_ms(50);
    /* committed, but stopped before its outputs were produced: like a crash there */
    s.stop = 1;
    pthread_join(th, NULL);
    consumer_free(s.c);
    assert_int_equal(scalar(s.db, "SELECT count(*) FROM frame_effects"), 50);

    db_scenario s2 = {.db = s.db, .out = out};
    s2.c = db_consumer("test-half", in, p, &s2);
    pthread_create(&th, NULL, run_db, &s2);
    wait_items(&s2, 50, 60000);
    sleep_ms(1000);
    s2.stop = 1;
    pthread_join(th, NULL);
    consumer_free(s2.c);
    assert_int_equal(atomic_load(&s2.items), 50);
    assert_int_equal(atomic_load(&s2.redelivered), 50);                       /* the claims said so */
    assert_int_equal(scalar(s.db, "SELECT count(*) FROM frame_effects"), 50); /* nothing written twice */
    char(*values)[256] = calloc(256, 256);
    assert_int_equal(read_all(real_brokers(), out, values, 256, 50), 50); /* outputs once */
    free(values);
    pg_free(s.db);
    kafka_producer_free(p, 5000);
}

static void test_rebalance_mid_batch(void **state)
{
    if (!db_url() || !real_brokers())
        skip();
    char in[128], out[128], err[512];
    unique_topics(in, out, sizeof in, "rebalance");
    kafka_producer *p = kafka_producer_new(real_brokers(), "hutch-test", err, sizeof err);
    assert_non_null(p);
    pg *db = fresh_db();
    char url_err[512];
    pg *db2 = pg_connect(db_url(), 10000, url_err, sizeof url_err);
    assert_non_null(db2);
    enum { N = 3000 };
    publish(p, in, 1, N);
    db_scenario a = {.db = db, .out = out, .delay_ms = 300};
    db_scenario b = {.db = db2, .out = out, .delay_ms = 300};
    a.c = db_consumer("test-rebalance", in, p, &a);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run_db, &a);
    wait_items(&a, 1, 30000);
    b.c = db_consumer("test-rebalance", in, p, &b); /* joins while a is inside a batch */
    pthread_create(&tb, NULL, run_db, &b);
    for (int i = 0; i < 1200 && scalar(db, "SELECT count(DISTINCT n) FROM frame_effects") < N; i++)
        sleep_ms(50);
    a.stop = b.stop = 1;
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    consumer_free(a.c);
    consumer_free(b.c);
    print_message("rebalance: member a %d items, b %d items (%d + %d redelivered)\n", atomic_load(&a.items),
                  atomic_load(&b.items), atomic_load(&a.redelivered), atomic_load(&b.redelivered));
    assert_true(atomic_load(&b.items) > 0); /* b really took partitions */
    assert_int_equal(scalar(db, "SELECT count(DISTINCT n) FROM frame_effects"), N);
    assert_int_equal(scalar(db, "SELECT count(*) FROM frame_effects"), N); /* each effect once */
    pg_free(db);
    pg_free(db2);
    kafka_producer_free(p, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outputs_dead_retry),
        cmocka_unit_test(test_tick),
        cmocka_unit_test(test_stop_while_broker_down),
        cmocka_unit_test(test_stop_with_backlog),
        cmocka_unit_test(test_poison_in_batch),
        cmocka_unit_test(test_redelivery_of_half_done_batch),
        cmocka_unit_test(test_rebalance_mid_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
