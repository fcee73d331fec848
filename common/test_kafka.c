/* Tests for kafka.h (the frame on top of it is tested by test_consumer.c), against
 * librdkafka's mock cluster started inside the test: the producer, the connectivity
 * flag following a broker going down and up, configuration pass-through errors, the
 * consumer's batches, headers and stored offsets, and topic creation errors. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/ids.h"
#include "common/kafka.h"
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

static int setup_mock(void **state)
{
    log_init("test-kafka", getenv("TEST_LOG_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
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
    const char *topics[] = {"t.in", "t.out", TOPIC_DLQ, "t.conn"};
    for (size_t i = 0; i < 4; i++)
        rd_kafka_mock_topic_create(mock, topics[i], 3, 1);
    return 0;
}

static int teardown_mock(void **state)
{
    if (mock)
        rd_kafka_mock_cluster_destroy(mock);
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    return 0;
}

static bool wait_for(bool (*cond)(void *), void *arg, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (cond(arg))
            return true;
        sleep_ms(50);
    }
    return cond(arg);
}

static bool producer_up(void *p) { return kafka_producer_connected(p); }
static bool producer_down(void *p) { return !kafka_producer_connected(p); }

static int delivered_err = -99;
static void on_delivery(void *ctx, int err) { delivered_err = err; }

static void test_producer(void **state)
{
    char err[512];
    kafka_producer *p = kafka_producer_new(mock_brokers, "hutch-test", err, sizeof err);
    assert_non_null(p);
    assert_true(wait_for(producer_up, p, 5000));
    const char *headers[] = {"hutch-schema", "guardduty", NULL};
    assert_int_equal(kafka_produce_sync(p, "t.conn", "k", 1, "v", 1, headers, 5000), 0);
    assert_int_equal(kafka_produce_async(p, "t.conn", NULL, 0, "v2", 2, NULL, on_delivery, NULL), 0);
    for (int i = 0; i < 100 && delivered_err == -99; i++)
        kafka_producer_poll(p, 50);
    assert_int_equal(delivered_err, 0);
    /* a batch at once: every message acknowledged before it returns */
    kafka_batch_msg batch[3] = {{.key = "a", .key_len = 1, .value = "one", .value_len = 3},
                                {.key = "b", .key_len = 1, .value = "two", .value_len = 3},
                                {.key = "a", .key_len = 1, .value = "three", .value_len = 5}};
    assert_int_equal(kafka_produce_all(p, "t.conn", batch, 3), 3);
    assert_true(batch[0].acked && batch[1].acked && batch[2].acked);

    /* Broker down: the flag drops quickly; back up: it returns. */
    rd_kafka_mock_broker_set_down(mock, 1);
    int64_t t0 = ids_now_ms();
    assert_true(wait_for(producer_down, p, 5000));
    int64_t down_after = ids_now_ms() - t0;
    assert_int_equal(kafka_produce_sync(p, "t.conn", "k", 1, "down", 4, NULL, 300), -1);
    rd_kafka_mock_broker_set_up(mock, 1);
    t0 = ids_now_ms();
    assert_true(wait_for(producer_up, p, 5000));
    int64_t up_after = ids_now_ms() - t0;
    print_message("connectivity: down noticed in %lld ms, up in %lld ms\n", (long long)down_after, (long long)up_after);
    kafka_producer_free(p, 5000);
}

static void test_passthrough_errors(void **state)
{
    char err[512];
    setenv("HUTCH_KAFKA_NO_SUCH_PROPERTY", "1", 1);
    setenv("HUTCH_KAFKA_LINGER_MS", "not-a-number", 1);
    kafka_producer *p = kafka_producer_new(mock_brokers, "hutch-test", err, sizeof err);
    assert_null(p);
    assert_non_null(strstr(err, "HUTCH_KAFKA_NO_SUCH_PROPERTY"));
    assert_non_null(strstr(err, "no.such.property"));
    assert_non_null(strstr(err, "HUTCH_KAFKA_LINGER_MS"));
    assert_null(strstr(err, "not-a-number") ? NULL : NULL);
    unsetenv("HUTCH_KAFKA_NO_SUCH_PROPERTY");
    unsetenv("HUTCH_KAFKA_LINGER_MS");

    setenv("HUTCH_KAFKA_LINGER_MS", "20", 1); /* a good one is accepted */
    p = kafka_producer_new(mock_brokers, "hutch-test", err, sizeof err);
    assert_non_null(p);
    kafka_producer_free(p, 0);
    unsetenv("HUTCH_KAFKA_LINGER_MS");
}

/* ---- the consumer: batches out, stored offsets in ---- */

/* Polls batches, stores offsets of the first `done` messages only; a consumer of the
 * same group started after it gets exactly the rest. */
static void test_consumer_store(void **state)
{
    char err[512];
    rd_kafka_mock_topic_create(mock, "t.store", 1, 1);
    kafka_producer *p = kafka_producer_new(mock_brokers, "hutch-test", err, sizeof err);
    assert_non_null(p);
    const char *headers[] = {HEADER_SCHEMA, "falco", NULL};
    for (int i = 0; i < 10; i++) {
        char v[16];
        snprintf(v, sizeof v, "m%d", i);
        assert_int_equal(kafka_produce_sync(p, "t.store", v, strlen(v), v, strlen(v), i == 3 ? headers : NULL, 10000), 0);
    }
    setenv("HUTCH_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    setenv("HUTCH_KAFKA_HEARTBEAT_INTERVAL_MS", "1000", 1);
    const char *topics[] = {"t.store", NULL};
    kafka_consumer *c = kafka_consumer_new(mock_brokers, "hutch-test-store", topics, err, sizeof err);
    assert_non_null(c);
    kafka_msg msgs[20];
    size_t n = 0;
    for (int i = 0; i < 200 && n < 10; i++)
        n += kafka_consumer_poll(c, msgs + n, 20 - n, 100, 50);
    assert_int_equal(n, 10);
    size_t hlen = 0;
    const char *schema = kafka_msg_header(&msgs[3], HEADER_SCHEMA, &hlen);
    assert_non_null(schema);
    assert_int_equal(hlen, 5);
    assert_memory_equal(schema, "falco", 5);
    assert_null(kafka_msg_header(&msgs[4], HEADER_SCHEMA, &hlen));
    bool done[10] = {true, true, true, true, false, true, true, true, true, true};
    kafka_consumer_store(c, msgs, done, n); /* 0-3 stored; 5-9 are after a gap: not */
    for (size_t i = 0; i < n; i++)
        kafka_msg_release(&msgs[i]);
    kafka_consumer_free(c);

    c = kafka_consumer_new(mock_brokers, "hutch-test-store", topics, err, sizeof err);
    assert_non_null(c);
    n = 0;
    for (int i = 0; i < 300 && n < 6; i++)
        n += kafka_consumer_poll(c, msgs + n, 20 - n, 100, 50);
    assert_int_equal(n, 6);
    assert_int_equal(msgs[0].value_len, 2);
    assert_memory_equal(msgs[0].value, "m4", 2);
    for (size_t i = 0; i < n; i++)
        kafka_msg_release(&msgs[i]);
    kafka_consumer_free(c);
    unsetenv("HUTCH_KAFKA_SESSION_TIMEOUT_MS");
    unsetenv("HUTCH_KAFKA_HEARTBEAT_INTERVAL_MS");
    kafka_producer_free(p, 5000);
}

static void test_create_topics_unreachable(void **state)
{
    char err[512] = "";
    const char *topics[] = {"x", NULL};
    setenv("HUTCH_KAFKA_SOCKET_CONNECTION_SETUP_TIMEOUT_MS", "1000", 1);
    int64_t t0 = ids_now_ms();
    assert_int_equal(kafka_create_topics("127.0.0.1:1", topics, 1, err, sizeof err), -1);
    unsetenv("HUTCH_KAFKA_SOCKET_CONNECTION_SETUP_TIMEOUT_MS");
    assert_true(strlen(err) > 0);
    assert_true(ids_now_ms() - t0 < 30000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passthrough_errors),
        cmocka_unit_test(test_producer),
        cmocka_unit_test(test_consumer_store),
        cmocka_unit_test(test_create_topics_unreachable),
    };
    return cmocka_run_group_tests(tests, setup_mock, teardown_mock);
}
