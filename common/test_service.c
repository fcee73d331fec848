/* Test of service.c: the whole frame (settings, Postgres + migrations, topics,
 * producer, HTTP with /readyz, consumer loop, stop) against librdkafka's mock
 * cluster and the Postgres of HUTCH_TEST_DATABASE_URL (skipped without it). */
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
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/service.h"
#include "common/topics.h"

static size_t discard(char *p, size_t size, size_t n, void *arg) { return size * n; }

static long get(int port, const char *path)
{
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

typedef struct {
    service svc;
    atomic_int handled;
    int rc;
} app;

static int handler(void *ctx, pg *db, consumer_item **items, size_t n)
{
    app *a = ctx;
    for (size_t i = 0; i < n; i++) {
        const kafka_msg *msg = &items[i]->msg;
        if (consumer_emit_bytes(items[i], TOPIC_ALERTS_ACCEPTED, msg->key, msg->key_len, msg->value, msg->value_len,
                                NULL) != 0)
            return PG_RETRY;
    }
    atomic_fetch_add(&a->handled, (int)n);
    return PG_OK;
}

static void *consume(void *arg)
{
    app *a = arg;
    static const consumer_input inputs[] = {{TOPIC_EVENTS_RAW, NULL}, {NULL, NULL}};
    consumer_spec spec = {.inputs = inputs, .handle = handler};
    a->rc = service_consume(&a->svc, &spec, a);
    return NULL;
}

static void test_service(void **state)
{
    const char *db = getenv("HUTCH_TEST_DATABASE_URL");
    if (!db || !*db)
        skip();
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_mock_cluster_t *mock = rd_kafka_mock_cluster_new(mrk, 1);
    /* All of them exist (as with the dev broker): start-up must not wait on the
     * Admin API, which the mock cluster lacks. */
    for (size_t i = 0; hutch_topics[i]; i++)
        rd_kafka_mock_topic_create(mock, hutch_topics[i], 2, 1);
    setenv("HUTCH_KAFKA_BROKERS", rd_kafka_mock_cluster_bootstraps(mock), 1);
    setenv("HUTCH_DATABASE_URL", db, 1);
    setenv("HUTCH_LOG_LEVEL", getenv("TEST_LOG_DEBUG") ? "debug" : "warn", 1);
    setenv("HUTCH_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);

    static app a;
    char *argv[] = {"hutch-test", NULL};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(service_start(&a.svc, "test", 1, argv), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    int port = http_server_port(a.svc.http);
    assert_true(port > 0);
    assert_int_equal(get(port, "/healthz"), 200);
    long ready = 0;
    for (int i = 0; i < 100 && (ready = get(port, "/readyz")) != 200; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(ready, 200);

    pthread_t th;
    pthread_create(&th, NULL, consume, &a);
    for (int i = 0; i < 5; i++)
        assert_int_equal(kafka_produce_sync(a.svc.producer, TOPIC_EVENTS_RAW, "k", 1, "v", 1, NULL, 5000), 0);
    for (int i = 0; i < 300 && atomic_load(&a.handled) < 5; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&a.handled), 5);
    assert_int_equal(get(port, "/metrics"), 200);

    raise(SIGTERM); /* the handler sets svc.stop; the consumer returns */
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 0);
    service_stop(&a.svc);
    service_stop(&a.svc); /* twice is harmless */

    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mrk);
}

static void test_stop_half_started(void **state)
{
    service s;
    memset(&s, 0, sizeof s);
    service_stop(&s); /* nothing started: nothing to do, no crash */
    service_stop(NULL);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_stop_half_started),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
