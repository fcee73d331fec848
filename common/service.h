/* The frame every Hutch service runs in: settings shared by all services, logging,
 * signals, the HTTP server with /healthz /readyz /metrics, Postgres (migrated),
 * the Kafka producer and, for consuming services, the consumer loop.
 *
 * A service's main.c is then: declare its own config table, call service_start,
 * register routes, call service_consume (or wait for service_stopping), then
 * service_stop. SIGTERM/SIGINT set `stop`; the consumer finishes the batch in
 * hand, flushes, commits and returns. */
#ifndef HUTCH_SERVICE_H
#define HUTCH_SERVICE_H

#include <signal.h>
#include <stdint.h>

#include "common/config.h"
#include "common/http.h"
#include "common/consumer.h"
#include "common/kafka.h"
#include "common/pg.h"

/* Settings every service reads (service.c's table, with the port setting named for
 * the service). */
typedef struct {
    char *kafka_brokers;     /* HUTCH_KAFKA_BROKERS, default 127.0.0.1:9092 */
    char *database_url;      /* HUTCH_DATABASE_URL (secret: may hold a password) */
    char *http_addr;         /* HUTCH_HTTP_ADDR, default 127.0.0.1 */
    int64_t http_port;       /* HUTCH_<NAME>_PORT, default from common/services.h (0 for others) */
    char *log_level;         /* HUTCH_LOG_LEVEL */
    int64_t topic_partitions;/* HUTCH_TOPIC_PARTITIONS, default 8 */
    int64_t consumer_batch;  /* HUTCH_CONSUMER_BATCH, default 500 */
    int64_t consumer_linger_ms; /* HUTCH_CONSUMER_LINGER, default 5 ms */
} service_common;

typedef struct {
    const char *name;        /* "policy": logs, client id "hutch-policy", consumer group "hutch-policy" */
    service_common common;
    volatile sig_atomic_t stop;
    http_server *http;
    pg *db;                  /* connected and migrated */
    kafka_producer *producer;
    consumer *consumer; /* only after service_consume */
} service;

/* For main(), first: handles --help (the service's table, then the common one) and
 * loads both tables, reporting every problem of both before exiting 78. `table`
 * fills `cfg`; the common settings are kept for service_start. `program` is
 * "hutch-<name>": the common table's port setting is HUTCH_<NAME>_PORT. */
void service_config_or_exit(const config_field *table, void *cfg, int argc, char **argv, const char *program,
                            const char *about);
/* Takes the common settings loaded by service_config_or_exit (or loads them now,
 * exit 78 on errors), starts logging, signals, Postgres (waits up to 60 s,
 * migrates), the producer and the HTTP server on HUTCH_<NAME>_PORT. Returns 0 or -1
 * (logged). */
int service_start(service *svc, const char *name, int argc, char **argv);
/* Runs the batch frame (consumer.h) with group "hutch-<name>" until stopped; the
 * spec's batch size and linger default to HUTCH_CONSUMER_BATCH / _LINGER. */
int service_consume(service *svc, const consumer_spec *spec, void *ctx);
/* Blocks until SIGTERM/SIGINT (for services without a consumer). */
void service_wait(service *svc);
/* Flushes the producer, closes everything. Safe on a half-started service. */
void service_stop(service *svc);

#endif
