/* The Kafka client state and configuration shared by producer, consumer and admin
 * (kafka_client.h).
 *
 * Connectivity (kafka_*_connected): a watch thread per handle sends a small
 * metadata request every KAFKA_WATCH_INTERVAL_MS (timeout KAFKA_WATCH_TIMEOUT_MS).
 * The error callback's ALL_BROKERS_DOWN and successful deliveries update the same
 * flag sooner. reconnect.backoff.max.ms is lowered to 1 s so that a broker coming
 * back is used within a second.
 *
 * librdkafka's own logs go through log.h as JSON lines (event "rdkafka"). */
#include "common/kafka_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/log.h"

extern char **environ;

#include <pthread.h>

void kafka_set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void kafka_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0) {
    }
}

void kafka_client_set_connected(kafka_client *kc, int up)
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
        kafka_client_set_connected(kc, 0);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        atomic_store(&kc->fatal, 1);
        LOG_ERROR("kafka_fatal_error", "client", kc->name, "error", rd_kafka_err2name(orig), "reason", fatal, NULL);
        return;
    }
    LOG_WARN("kafka_error", "client", kc->name, "error", rd_kafka_err2name((rd_kafka_resp_err_t)err), "reason", reason,
             NULL);
}

/* Metadata probe: a broker answered within KAFKA_WATCH_TIMEOUT_MS. */
static void *watch_main(void *arg)
{
    kafka_client *kc = arg;
    pthread_mutex_lock(&kc->watch_lock);
    while (!kc->watch_quit) {
        pthread_mutex_unlock(&kc->watch_lock);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(kc->rk, 0, NULL, &md, KAFKA_WATCH_TIMEOUT_MS);
        int up = e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->broker_cnt > 0 && !atomic_load(&kc->fatal);
        if (md)
            rd_kafka_metadata_destroy(md);
        kafka_client_set_connected(kc, up);
        pthread_mutex_lock(&kc->watch_lock);
        if (kc->watch_quit)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)KAFKA_WATCH_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&kc->watch_cond, &kc->watch_lock, &until);
    }
    pthread_mutex_unlock(&kc->watch_lock);
    return NULL;
}

int kafka_client_init(kafka_client *kc, const char *name, const char *role)
{
    kc->name = strdup(name ? name : "hutch");
    kc->role = role;
    atomic_init(&kc->connected, 0);
    atomic_init(&kc->fatal, 0);
    pthread_mutex_init(&kc->watch_lock, NULL);
    pthread_cond_init(&kc->watch_cond, NULL);
    char mname[256];
    snprintf(mname, sizeof mname, "hutch_kafka_connected{client=\"%s\",role=\"%s\"}", kc->name ? kc->name : "", role);
    if (strcmp(role, "admin"))
        kc->connected_gauge = metrics_gauge(mname, "1 while a Kafka broker answers, else 0.");
    return kc->name ? 0 : -1;
}

void kafka_watch_start(kafka_client *kc)
{
    kc->watch_quit = false;
    kc->watch_started = pthread_create(&kc->watch_thread, NULL, watch_main, kc) == 0;
}

void kafka_watch_stop(kafka_client *kc)
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

void kafka_client_destroy(kafka_client *kc)
{
    pthread_mutex_destroy(&kc->watch_lock);
    pthread_cond_destroy(&kc->watch_cond);
    free(kc->name);
    kc->name = NULL;
}

/* ---- configuration ------------------------------------------------------- */

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err, size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        kafka_set_err(err, errlen, "kafka setting %s: %s", name, errstr);
        return -1;
    }
    return 0;
}

/* HUTCH_KAFKA_<NAME>=v -> <name>=v with '_' -> '.', except HUTCH_KAFKA_BROKERS and
 * variables that belong to a config table. Every bad one is reported (values are
 * not: they may be passwords). */
int kafka_conf_passthrough(rd_kafka_conf_t *conf, char *err, size_t errlen)
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

rd_kafka_conf_t *kafka_base_conf(kafka_client *kc, const char *brokers, const char *client_id, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kafka_conf_set(conf, "bootstrap.servers", brokers ? brokers : "127.0.0.1:9092", err, errlen) < 0 ||
        kafka_conf_set(conf, "client.id", client_id ? client_id : "hutch", err, errlen) < 0 ||
        kafka_conf_set(conf, "reconnect.backoff.ms", "100", err, errlen) < 0 ||
        kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", err, errlen) < 0 ||
        kafka_conf_set(conf, "log.connection.close", "false", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, kc);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
}
