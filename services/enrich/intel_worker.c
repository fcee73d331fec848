/* intel_worker: the lookup threads of hutch-enrich (intel_worker.h).
 *
 * Threads share the config (read-only), the public suffix list (read-only), one
 * Kafka producer (librdkafka's producers are thread-safe) and the wake-up condition;
 * each has its own Postgres connection. Delivery of a resolve's updates: produced at
 * once and waited for (kafka_produce_all) before its transaction commits. */
#include "services/enrich/intel_worker.h"

#include <inttypes.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ids.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/topics.h"
#include "services/enrich/intel_client.h"
#include "services/enrich/intel_store.h"

#define DUE_MAX 16
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS (5 * 60 * 1000)
#define WORKER_PRODUCER "hutch-enrich"

enum { R_HIT, R_MISS, R_ERROR, R_RATE_LIMITED, R_SKIPPED, R_COUNT };
static const char *const result_names[R_COUNT] = {"hit", "miss", "error", "rate_limited", "skipped"};

static metric *m_lookups[INTEL_PROVIDER_COUNT][R_COUNT];
static metric *m_hit_percent, *m_pending;
static metric *m_minute_left[INTEL_PROVIDER_COUNT], *m_day_left[INTEL_PROVIDER_COUNT];
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_register(void)
{
    for (int p = 0; p < INTEL_PROVIDER_COUNT; p++) {
        char name[160];
        for (int r = 0; r < R_COUNT; r++) {
            snprintf(name, sizeof name, "hutch_intel_lookups_total{provider=\"%s\",result=\"%s\"}",
                     intel_provider_name((intel_provider)p), result_names[r]);
            m_lookups[p][r] = metrics_counter(name, "Threat-intel lookups by provider and result");
        }
        snprintf(name, sizeof name, "hutch_intel_quota_minute_left{provider=\"%s\"}",
                 intel_provider_name((intel_provider)p));
        m_minute_left[p] = metrics_gauge(name, "Requests left in the shared minute bucket (-1: no limit)");
        snprintf(name, sizeof name, "hutch_intel_quota_day_left{provider=\"%s\"}",
                 intel_provider_name((intel_provider)p));
        m_day_left[p] = metrics_gauge(name, "Requests left today, UTC (-1: no limit)");
    }
    m_hit_percent = metrics_gauge("hutch_intel_cache_hit_percent", "Cache hits / (hits + misses), percent");
    m_pending = metrics_gauge("hutch_intel_pending", "Lookups (distinct provider, kind, value) queued for the worker");
}

void intel_metrics_count(intel_provider p, const char *result, int64_t n)
{
    pthread_once(&metrics_once, metrics_register);
    if ((unsigned)p >= INTEL_PROVIDER_COUNT)
        return;
    for (int r = 0; r < R_COUNT; r++)
        if (!strcmp(result_names[r], result))
            metrics_add(m_lookups[p][r], n);
    int64_t hits = 0, misses = 0;
    for (int q = 0; q < INTEL_PROVIDER_COUNT; q++) {
        hits += metrics_value(m_lookups[q][R_HIT]);
        misses += metrics_value(m_lookups[q][R_MISS]);
    }
    if (hits + misses > 0)
        metrics_set(m_hit_percent, hits * 100 / (hits + misses));
}

struct intel_worker {
    const intel_config *cfg;
    int max_attempts;
    int64_t poll_ms;
    char instance[96];
    psl_ctx_t *psl_owned;
    const psl_ctx_t *psl;
    kafka_producer *producer;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    unsigned wakeups; /* under mu */
    atomic_bool stop;
    int nthreads;
    struct worker_thread *threads;
};

typedef struct worker_thread {
    intel_worker *w;
    pthread_t tid;
    bool started;
    pg *db;
    char holder[128];
} worker_thread;

static int64_t now_ms(void) { return ids_now_ms(); }

/* ---- publishing ---- */

/* Produces one TicketEvent "intel" per update and waits for every acknowledgement.
 * 0, or -1 when one was not acknowledged (the caller rolls back: retried later). */
static int publish(intel_worker *w, const intel_update *u, size_t n)
{
    kafka_batch_msg *msgs = calloc(n ? n : 1, sizeof *msgs);
    int rc = msgs ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char seed[96];
        snprintf(seed, sizeof seed, "%s/intel/%zu", u[i].alert_id, u[i].settled);
        msg_meta_buf meta;
        msg_meta_init(&meta, u[i].trace_id[0] ? u[i].trace_id : NULL, WORKER_PRODUCER, u[i].created_ms, seed);
        Hutch__V1__TicketEvent ev = HUTCH__V1__TICKET_EVENT__INIT;
        ev.meta = &meta.meta;
        ev.ticket_id = (char *)u[i].ticket_id;
        ev.kind = "intel";
        ev.alert_id = (char *)u[i].alert_id;
        ev.actor = WORKER_PRODUCER;
        ev.detail_json = u[i].detail_json;
        const char *key = u[i].ticket_id[0] ? u[i].ticket_id : u[i].alert_id;
        msgs[i].key = key;
        msgs[i].key_len = strlen(key);
        if (!(msgs[i].value = msg_pack(&ev.base, &msgs[i].value_len)))
            rc = -1;
    }
    if (rc == 0 && kafka_produce_all(w->producer, TOPIC_TICKETS_EVENTS, msgs, n) != n)
        rc = -1;
    for (size_t i = 0; msgs && i < n; i++)
        free((void *)msgs[i].value);
    free(msgs);
    return rc;
}

/* ---- one key ---- */

static void count(intel_provider p, int r) { intel_metrics_count(p, result_names[r], 1); }

static void quota_gauges(worker_thread *t, intel_provider p, intel_limit lim)
{
    intel_bucket b;
    if (intel_quota_read(t->db, p, &b) < 0)
        return;
    intel_bucket_refill(&b, lim, now_ms());
    metrics_set(m_minute_left[p], lim.per_minute > 0 ? (int64_t)b.tokens : -1);
    metrics_set(m_day_left[p], lim.per_day > 0 ? lim.per_day - b.day_used : -1);
}

/* Settles the key (state "done" or "error") and publishes the updates, in one
 * transaction. PG_OK or an error (left pending: tried again at the next round). */
static int resolve(worker_thread *t, const intel_due *k, const char *state, const char *error)
{
    intel_update *u = NULL;
    size_t n = 0;
    int rc = pg_begin(t->db);
    if (rc == PG_OK)
        rc = intel_store_resolve(t->db, k, state, error, &u, &n);
    if (rc == PG_OK && publish(t->w, u, n) != 0) {
        LOG_WARN("intel_publish_failed", "provider", intel_provider_name(k->provider), "kind", intel_kind_name(k->kind),
                 NULL);
        rc = PG_RETRY;
    }
    if (rc == PG_OK)
        rc = pg_commit(t->db);
    else
        pg_rollback(t->db);
    if (rc == PG_OK) {
        char nalerts[16];
        snprintf(nalerts, sizeof nalerts, "%zu", n);
        for (size_t i = 0; i < n; i++)
            LOG_INFO("intel_update_published", "alert_id", u[i].alert_id, "trace_id", u[i].trace_id, "ticket_id",
                     u[i].ticket_id, "provider", intel_provider_name(k->provider), "state", state, NULL);
    }
    intel_updates_free(u, n);
    return rc;
}

static int64_t backoff_ms(int attempts)
{
    int64_t ms = BACKOFF_FIRST_MS;
    for (int i = 1; i < attempts && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* Returns 1 when it asked a provider or settled the key, 0 when the key waits
 * (busy elsewhere, deferred), <0 on a database error. */
static int process(worker_thread *t, const intel_due *k, intel_indicator *ind, intel_verdict *v)
{
    intel_worker *w = t->w;
    const intel_config *cfg = w->cfg;
    intel_provider p = k->provider;
    if (intel_normalize(w->psl, k->value, ind) != INTEL_NORM_OK || ind->kind != k->kind ||
        !intel_config_enabled(cfg, p)) {
        count(p, R_SKIPPED);
        return resolve(t, k, "error", intel_config_enabled(cfg, p) ? "not a public indicator" : "provider off") == PG_OK
                   ? 1
                   : -1;
    }
    int64_t now = now_ms();
    int64_t claim_ms = cfg->timeout_ms + 10000; /* one request and the store; a dead holder's claim expires */
    int rc = intel_cache_claim(t->db, p, ind, t->holder, now, claim_ms, v);
    if (rc < 0)
        return rc;
    if (rc == INTEL_CACHE_BUSY)
        return 0;
    if (rc == INTEL_CACHE_HIT) {
        count(p, R_HIT);
        return resolve(t, k, "done", NULL) == PG_OK ? 1 : -1;
    }
    intel_limit lim = intel_config_limit(cfg, p);
    int64_t wait = 0;
    rc = intel_quota_take(t->db, p, lim, now, &wait);
    quota_gauges(t, p, lim);
    if (rc < 0 || wait > 0) {
        intel_cache_release(t->db, p, ind, t->holder);
        if (rc < 0)
            return rc;
        count(p, R_RATE_LIMITED);
        /* all of the provider's lookups wait for the token, not just this one: a
         * backlog is not tried again key by key at every refill */
        return intel_store_defer_provider(t->db, p, now + wait) == PG_OK ? 0 : -1;
    }
    intel_lookup_opts lo = {.timeout_ms = cfg->timeout_ms, .now_ms = now};
    char *raw = NULL, err[256] = "";
    int64_t retry_after = 0;
    int r = intel_lookup(p, intel_config_url(cfg, p), intel_config_key(cfg, p), ind, &lo, v, &raw, &retry_after, err,
                         sizeof err);
    char attempts[16];
    snprintf(attempts, sizeof attempts, "%d", k->attempts + 1);
    int out = 1;
    if (r == INTEL_LOOKUP_OK) {
        count(p, R_MISS);
        now = now_ms();
        rc = intel_cache_store(t->db, v, raw, t->holder, now, intel_cache_ttl_ms(cfg, p, v->not_found));
        out = rc == PG_OK && resolve(t, k, "done", NULL) == PG_OK ? 1 : -1;
    } else if (r == INTEL_LOOKUP_RATE_LIMITED) {
        count(p, R_RATE_LIMITED);
        char ms[24];
        snprintf(ms, sizeof ms, "%" PRId64, retry_after);
        LOG_WARN("intel_rate_limited", "provider", intel_provider_name(p), "retry_after_ms", ms, NULL);
        intel_quota_cool(t->db, p, now + retry_after);
        intel_cache_release(t->db, p, ind, t->holder);
        out = intel_store_defer_provider(t->db, p, now + retry_after) == PG_OK ? 0 : -1;
    } else if (r == INTEL_LOOKUP_RETRY && k->attempts + 1 < w->max_attempts) {
        count(p, R_ERROR);
        LOG_WARN("intel_lookup_retry", "provider", intel_provider_name(p), "kind", intel_kind_name(k->kind), "attempts",
                 attempts, "error", err, NULL);
        intel_cache_release(t->db, p, ind, t->holder);
        out = intel_store_defer(t->db, k, now_ms() + backoff_ms(k->attempts + 1), true) == PG_OK ? 0 : -1;
    } else {
        count(p, R_ERROR);
        LOG_WARN("intel_lookup_failed", "provider", intel_provider_name(p), "kind", intel_kind_name(k->kind),
                 "attempts", attempts, "error", err, NULL);
        intel_cache_release(t->db, p, ind, t->holder);
        out = resolve(t, k, "error", err) == PG_OK ? 1 : -1;
    }
    free(raw);
    return out;
}

static void idle(intel_worker *w, unsigned seen)
{
    pthread_mutex_lock(&w->mu);
    if (w->wakeups == seen && !atomic_load(&w->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (w->poll_ms % 1000) * 1000000;
        ts.tv_sec += w->poll_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
}

static void *thread_main(void *arg)
{
    worker_thread *t = arg;
    intel_worker *w = t->w;
    intel_due *due = calloc(DUE_MAX, sizeof *due);
    intel_indicator *ind = malloc(sizeof *ind);
    intel_verdict *v = malloc(sizeof *v);
    int64_t counted_at = 0;
    while (due && ind && v && !atomic_load(&w->stop)) {
        pthread_mutex_lock(&w->mu);
        unsigned seen = w->wakeups;
        pthread_mutex_unlock(&w->mu);
        size_t n = 0;
        int did = 0;
        if (intel_store_due(t->db, now_ms(), due, DUE_MAX, &n) == PG_OK) {
            for (size_t i = 0; i < n && !atomic_load(&w->stop); i++) {
                int rc = process(t, &due[i], ind, v);
                if (rc > 0)
                    did++;
                else if (rc < 0)
                    break; /* the database: wait a poll */
            }
        }
        int64_t pending = 0; /* the gauge, at most once a second (a count of the queue) */
        if (t == &w->threads[0] && now_ms() >= counted_at + 1000 &&
            intel_store_pending_count(t->db, &pending) == PG_OK) {
            metrics_set(m_pending, pending);
            counted_at = now_ms();
        }
        if (!did)
            idle(w, seen);
    }
    free(due);
    free(ind);
    free(v);
    return NULL;
}

intel_worker *intel_worker_start(const intel_worker_opts *o, char *err, size_t errlen)
{
    pthread_once(&metrics_once, metrics_register);
    intel_worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->cfg = o->cfg;
    w->max_attempts = o->max_attempts > 0 ? o->max_attempts : 1;
    w->poll_ms = o->poll_ms > 0 ? o->poll_ms : 1000;
    snprintf(w->instance, sizeof w->instance, "%s", o->instance);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    atomic_init(&w->stop, false);
    w->psl_owned = psl_latest(NULL);
    w->psl = w->psl_owned ? w->psl_owned : psl_builtin();
    w->nthreads = o->threads > 0 ? o->threads : 1;
    w->threads = calloc((size_t)w->nthreads, sizeof *w->threads);
    if (!w->threads || !w->psl) {
        snprintf(err, errlen, "out of memory or no public suffix list");
        goto fail;
    }
    w->producer = kafka_producer_new(o->brokers, "hutch-enrich-intel", err, errlen);
    if (!w->producer)
        goto fail;
    for (int i = 0; i < w->nthreads; i++) {
        worker_thread *t = &w->threads[i];
        t->w = w;
        snprintf(t->holder, sizeof t->holder, "%s/%d", w->instance, i);
        t->db = pg_connect(o->database_url, 60000, err, errlen);
        if (!t->db)
            goto fail;
    }
    for (int p = 0; p < INTEL_PROVIDER_COUNT; p++) {
        if (!intel_config_enabled(w->cfg, (intel_provider)p))
            continue;
        quota_gauges(&w->threads[0], (intel_provider)p, intel_config_limit(w->cfg, (intel_provider)p));
    }
    for (int i = 0; i < w->nthreads; i++) {
        if (pthread_create(&w->threads[i].tid, NULL, thread_main, &w->threads[i]) != 0) {
            snprintf(err, errlen, "cannot start a lookup thread");
            goto fail;
        }
        w->threads[i].started = true;
    }
    return w;
fail:
    intel_worker_stop(w);
    return NULL;
}

void intel_worker_wake(intel_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->wakeups++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

void intel_worker_stop(intel_worker *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    intel_worker_wake(w);
    for (int i = 0; w->threads && i < w->nthreads; i++) {
        if (w->threads[i].started)
            pthread_join(w->threads[i].tid, NULL);
        pg_free(w->threads[i].db);
    }
    free(w->threads);
    kafka_producer_free(w->producer, 5000);
    psl_free(w->psl_owned);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
