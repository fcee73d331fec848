/* The frame every Hutch service runs in (service.h).
 *
 * Start order: settings, logging, signals, Postgres (wait up to 60 s, migrate),
 * topics (best effort), producer, HTTP. Stop order is the reverse, arranged so that
 * nothing is freed while something else may still call into it:
 *   1. the consumer (its loop has returned; close commits its offsets),
 *   2. flush the producer while the HTTP loop still runs, so replies that wait on a
 *      delivery (ingest's 202) still go out,
 *   3. stop HTTP (no handler runs any more, so nobody produces),
 *   4. free the producer (a last flush), HTTP, Postgres, settings.
 * Every step tolerates a NULL member, so a half-started service stops cleanly. */
#include "common/service.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/services.h"
#include "common/topics.h"

#define PG_WAIT_MS 60000
#define FLUSH_TIMEOUT_MS 10000

/* The port setting of the service being started (name_port_setting, before the
 * table is used): HUTCH_<NAME>_PORT with the default of common/services.h ("0", any
 * free port, for a name not in that list). */
static char port_env[64], port_default[8];

static config_field service_common_config[] = {
    {"HUTCH_KAFKA_BROKERS", CONFIG_STRING, "127.0.0.1:9092", offsetof(service_common, kafka_brokers),
     "Kafka bootstrap servers (host:port,...)"},
    {"HUTCH_DATABASE_URL", CONFIG_SECRET, "postgresql:///hutch", offsetof(service_common, database_url),
     "Postgres connection URL (may hold a password)"},
    {"HUTCH_HTTP_ADDR", CONFIG_STRING, "127.0.0.1", offsetof(service_common, http_addr),
     "address the HTTP server (/healthz, /readyz, /metrics) listens on"},
    {port_env, CONFIG_INT, port_default, offsetof(service_common, http_port),
     "HTTP port: /healthz, /readyz, /metrics and the service's routes (0 = any free port)", 0, 65535},
    {"HUTCH_LOG_LEVEL", CONFIG_STRING, "info", offsetof(service_common, log_level), "least severe level logged", 0, 0,
     "debug|info|warn|error"},
    {"HUTCH_TOPIC_PARTITIONS", CONFIG_INT, "8", offsetof(service_common, topic_partitions),
     "partitions of the topics created at start-up", 1, 1024},
    {"HUTCH_CONSUMER_BATCH", CONFIG_INT, "500", offsetof(service_common, consumer_batch),
     "most messages a consumer takes into one batch (one Postgres transaction)", 1, 10000},
    {"HUTCH_CONSUMER_LINGER", CONFIG_DURATION_MS, "5ms", offsetof(service_common, consumer_linger_ms),
     "how long a consumer waits for a batch to fill after its first message", 0, 0},
    CONFIG_END,
};

static service_common loaded_common; /* by service_config_or_exit */
static bool common_loaded;

static void name_port_setting(const char *name)
{
    static const struct {
        const char *name, *port;
    } services[] = {
#define SERVICE_ROW(service, port) {#service, #port},
        HUTCH_SERVICES(SERVICE_ROW) HUTCH_SIDE_SERVICES(SERVICE_ROW)
#undef SERVICE_ROW
    };
    size_t n = (size_t)snprintf(port_env, sizeof port_env, "HUTCH_%s_PORT", name);
    for (size_t i = 0; i < n && i < sizeof port_env; i++)
        port_env[i] = (char)(port_env[i] == '-' ? '_' : toupper((unsigned char)port_env[i]));
    snprintf(port_default, sizeof port_default, "0");
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        if (strcmp(services[i].name, name) == 0)
            snprintf(port_default, sizeof port_default, "%s", services[i].port);
}

void service_config_or_exit(const config_field *table, void *cfg, int argc, char **argv, const char *program,
                            const char *about)
{
    name_port_setting(strncmp(program, "hutch-", 6) == 0 ? program + 6 : program);
    config_section sections[] = {
        {table, cfg, "Settings"},
        {service_common_config, &loaded_common, "Common settings"},
    };
    config_sections_load_or_exit(sections, 2, argc, argv, program, about);
    common_loaded = true;
}

static volatile sig_atomic_t *signal_stop;
static char program_name[64] = "hutch";

static void on_signal(int sig)
{
    if (signal_stop) {
        if (*signal_stop && sig == SIGINT)
            _exit(130); /* second Ctrl-C: the operator really means it */
        *signal_stop = 1;
    }
}

static void install_signals(service *svc)
{
    signal_stop = &svc->stop;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static bool service_ready(void *ctx, char *reason, size_t reason_len)
{
    service *svc = ctx;
    if (!pg_connected(svc->db)) {
        snprintf(reason, reason_len, "postgres not connected");
        return false;
    }
    if (!kafka_producer_connected(svc->producer)) {
        snprintf(reason, reason_len, "kafka not connected");
        return false;
    }
    if (svc->stop) {
        snprintf(reason, reason_len, "stopping");
        return false;
    }
    return true;
}

int service_start(service *svc, const char *name, int argc, char **argv)
{
    if (!svc || !name)
        return -1;
    svc->name = name;
    svc->stop = 0;
    svc->http = NULL;
    svc->db = NULL;
    svc->producer = NULL;
    svc->consumer = NULL;
    memset(&svc->common, 0, sizeof svc->common);
    snprintf(program_name, sizeof program_name, "hutch-%s", name);

    if (common_loaded) {
        svc->common = loaded_common; /* the strings move to svc */
        common_loaded = false;
    } else {
        /* --help was the caller's business (its own table); argc 0 skips it here. */
        name_port_setting(name);
        config_load_or_exit(service_common_config, &svc->common, 0, argv, program_name, NULL);
    }
    log_init(program_name, log_level_parse(svc->common.log_level));
    install_signals(svc);

    char err[1024];
    svc->db = pg_connect(svc->common.database_url, PG_WAIT_MS, err, sizeof err);
    if (!svc->db) {
        LOG_ERROR("postgres_unavailable", "error", err, NULL);
        return -1;
    }
    if (pg_migrate(svc->db, err, sizeof err) != PG_OK) {
        LOG_ERROR("migration_failed", "error", err, NULL);
        return -1;
    }

    if (kafka_create_topics(svc->common.kafka_brokers, hutch_topics, (int)svc->common.topic_partitions, err,
                            sizeof err) < 0)
        LOG_WARN("kafka_create_topics_failed", "error", err, NULL);

    svc->producer = kafka_producer_new(svc->common.kafka_brokers, program_name, err, sizeof err);
    if (!svc->producer) {
        LOG_ERROR("kafka_producer_failed", "error", err, NULL);
        return -1;
    }

    int port = (int)svc->common.http_port;
    svc->http = http_server_new(svc->common.http_addr, port, HTTP_DEFAULT_MAX_BODY, err, sizeof err);
    if (!svc->http) {
        LOG_ERROR("http_listen_failed", "error", err, NULL);
        return -1;
    }
    http_server_set_ready(svc->http, service_ready, svc);
    if (http_server_start(svc->http) < 0) {
        LOG_ERROR("http_start_failed", NULL);
        return -1;
    }
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", http_server_port(svc->http));
    LOG_INFO("service_started", "port", port_text, "addr", svc->common.http_addr, "brokers", svc->common.kafka_brokers,
             NULL);
    return 0;
}

int service_consume(service *svc, const consumer_spec *spec, void *ctx)
{
    if (!svc || !svc->producer || !spec)
        return -1;
    consumer_spec with_settings = *spec;
    if (!with_settings.batch_max)
        with_settings.batch_max = (size_t)svc->common.consumer_batch;
    if (!with_settings.linger_ms)
        with_settings.linger_ms = (int)svc->common.consumer_linger_ms;
    char err[1024];
    svc->consumer = consumer_new(svc->name, svc->common.kafka_brokers, svc->db, svc->producer, &with_settings, ctx, err,
                                 sizeof err);
    if (!svc->consumer) {
        LOG_ERROR("kafka_consumer_failed", "error", err, NULL);
        return -1;
    }
    return consumer_run(svc->consumer, &svc->stop);
}

void service_wait(service *svc)
{
    if (!svc)
        return;
    while (!svc->stop) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void service_stop(service *svc)
{
    if (!svc)
        return;
    svc->stop = 1;
    LOG_INFO("service_stopping", NULL);
    consumer_free(svc->consumer);
    svc->consumer = NULL;
    if (svc->producer && kafka_producer_flush(svc->producer, FLUSH_TIMEOUT_MS) < 0)
        LOG_WARN("kafka_flush_incomplete", NULL);
    http_server_stop(svc->http);
    kafka_producer_free(svc->producer, FLUSH_TIMEOUT_MS);
    svc->producer = NULL;
    http_server_free(svc->http);
    svc->http = NULL;
    pg_free(svc->db);
    svc->db = NULL;
    config_free(service_common_config, &svc->common);
    LOG_INFO("service_stopped", NULL);
    if (signal_stop == &svc->stop)
        signal_stop = NULL;
}
