/* What the Kafka producer, consumer and admin files share (private to common/kafka_*.c):
 * the client state every librdkafka handle of ours carries as its opaque (name for
 * logs and metric labels, the connected flag kept by a watch thread, the fatal flag),
 * and the configuration every handle starts from (brokers, client id, reconnect
 * backoff, our log and error callbacks, then the HUTCH_KAFKA_* pass-through). */
#ifndef HUTCH_KAFKA_CLIENT_H
#define HUTCH_KAFKA_CLIENT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/metrics.h"

#define KAFKA_WATCH_INTERVAL_MS 500
#define KAFKA_WATCH_TIMEOUT_MS 1000

/* First member of kafka_producer and kafka_consumer, and librdkafka's opaque. */
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

void kafka_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kafka_sleep_ms(int64_t ms);

/* role: "producer", "consumer" or "admin" (no connected gauge). -1 on OOM. */
int kafka_client_init(kafka_client *kc, const char *name, const char *role);
void kafka_client_destroy(kafka_client *kc);
void kafka_client_set_connected(kafka_client *kc, int up);
/* The watch thread probes metadata every KAFKA_WATCH_INTERVAL_MS (kc->rk must exist). */
void kafka_watch_start(kafka_client *kc);
void kafka_watch_stop(kafka_client *kc);

/* 0, or -1 with err set. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errlen);
/* HUTCH_KAFKA_<NAME>=v -> <name>=v; every bad one reported in err (values never). */
int kafka_conf_passthrough(rd_kafka_conf_t *conf, char *err, size_t errlen);
/* NEW conf with the common settings and kc as opaque, or NULL with err set. */
rd_kafka_conf_t *kafka_base_conf(kafka_client *kc, const char *brokers, const char *client_id, char *err,
                                 size_t errlen);

#endif
