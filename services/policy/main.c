/* hutch-policy: hutch.events.raw -> decision -> hutch.alerts.accepted.
 *
 * Batches of RawEvents come from the frame (common/consumer.h) inside one
 * transaction. Per event: check it (anything malformed is dead-lettered with the
 * reason), let the ingest policies decide (rules.h: ingest.<schema>, alert.<schema>,
 * or the default alert; the policy may name the alert's severity, the one home of
 * which is common/severity.h); the batch's decisions are stored together (store.c),
 * then one Alert per decided alert is produced. A policy error dead-letters the
 * event (its events row says 'dead' and why). A redelivered event (the frame's claim
 * says so) writes nothing and re-produces the Alerts the first delivery stored.
 *
 * The policy set is the one of HUTCH_POLICY_DIR, reloaded on SIGHUP and when its
 * files change (reload.h); the consumer swaps sets between two events. The reload
 * state (as /readyz shows it) is also written to service_state (service 'policy',
 * instance: the host name) whenever it changes and at least every minute (so the
 * console's dashboard can tell a live instance from one that is gone): the frame's
 * tick, on the consumer thread and its connection, outside any batch. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/service.h"
#include "common/topics.h"
#include "services/policy/policy.h"
#include "services/policy/reload.h"
#include "services/policy/rules.h"
#include "services/policy/store.h"

typedef struct {
    char *dir;
    bool strict, strict_builtin_errors;
    int64_t max_steps, max_memory_mb, reload_interval_ms;
} policy_config;

static const config_field policy_config_table[] = {
    {"HUTCH_POLICY_DIR", CONFIG_STRING, "policies", offsetof(policy_config, dir),
     "directory of the ingest policies (every *.rego below it)"},
    {"HUTCH_POLICY_STRICT", CONFIG_BOOL, "0", offsetof(policy_config, strict),
     "1: an event whose schema has no ingest.<schema>/alert.<schema> package is ignored (recorded), not a default "
     "alert"},
    {"HUTCH_POLICY_STRICT_BUILTIN_ERRORS", CONFIG_BOOL, "0", offsetof(policy_config, strict_builtin_errors),
     "1: a builtin error (e.g. a bad regex) is a policy error (dead-letter), as opa --strict-builtin-errors"},
    {"HUTCH_POLICY_MAX_STEPS", CONFIG_INT, "1000000", offsetof(policy_config, max_steps),
     "evaluation steps per event before it is a policy error", 1000, 1000000000},
    {"HUTCH_POLICY_MAX_MEMORY_MB", CONFIG_INT, "64", offsetof(policy_config, max_memory_mb),
     "memory per evaluation before it is a policy error", 1, 16384},
    {"HUTCH_POLICY_RELOAD_INTERVAL", CONFIG_DURATION_MS, "2s", offsetof(policy_config, reload_interval_ms),
     "how often the policy files are checked for changes (0 = only on SIGHUP)"},
    CONFIG_END,
};

typedef struct {
    service svc;
    policy_config cfg;
    policy_rules_options options;
    policy_reload *reload;
    policy_rules *rules; /* the set in use; the consumer thread's own */
    metric *m_events, *m_alerts, *m_ignored, *m_dead, *m_duplicates;
    char instance[256]; /* host name: the service_state row of this process */
    char *reported;     /* the reload state last written there (NEW), or NULL */
    int64_t reported_ms;
} policy_app;

static policy_reload *volatile sighup_target;

static void on_sighup(int sig)
{
    (void)sig;
    policy_reload_request(sighup_target);
}

static json_t *readyz_status(void *ctx)
{
    policy_app *app = ctx;
    json_t *o = json_object();
    json_object_set_new(o, "policy", policy_reload_status(app->reload));
    return o;
}

#define REPORT_EVERY_MS 60000

/* The frame's tick: writes the reload state to service_state when it changed since
 * the last write, or that write is a minute old (a failed write is tried again at
 * the next tick). */
static void report_reload_state(void *ctx, pg *db, kafka_producer *producer)
{
    (void)producer;
    policy_app *app = ctx;
    json_t *st = policy_reload_status(app->reload);
    char *text = st ? json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(st);
    int64_t now = ids_now_ms();
    if (text && (!app->reported || strcmp(text, app->reported) != 0 || now - app->reported_ms >= REPORT_EVERY_MS)) {
        const char *p[] = {app->instance, text};
        if (pg_exec(db, NULL,
                    "INSERT INTO service_state (service, instance, state) VALUES ('policy', $1, $2::jsonb)"
                    " ON CONFLICT (service, instance) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
                    2, p) == PG_OK) {
            free(app->reported);
            app->reported = text;
            app->reported_ms = now;
            text = NULL;
        }
    }
    free(text);
}

/* Decides one event; the item is left alive with *d filled, or dead (malformed:
 * nothing stored) or with row->reason set (a policy error: stored 'dead').
 * 0, or -1 on OOM. */
static int decide(policy_app *app, consumer_item *it, policy_decision *d, policy_event_row *row, char *err,
                  size_t errlen)
{
    int rc = 0;
    const Hutch__V1__RawEvent *ev = (const Hutch__V1__RawEvent *)it->value;
    if (!ids_is_uuid(ev->event_id)) {
        consumer_item_dead(it, "RawEvent event_id is not a UUID: \"%.64s\"", ev->event_id);
        return 0;
    }
    if (!ev->schema || !*ev->schema) {
        consumer_item_dead(it, "RawEvent without schema");
        return 0;
    }
    char jerr[256];
    rv *payload = ev->payload_json ? rv_from_json_text(ev->payload_json, strlen(ev->payload_json), jerr, sizeof jerr)
                                   : NULL; /* parsed once, here: the policies evaluate this value */
    if (!payload) {
        consumer_item_dead(it, "RawEvent payload_json is not valid JSON: %s", ev->payload_json ? jerr : "missing");
        return 0;
    }
    policy_input in = {.event_id = ev->event_id,
                       .schema = ev->schema,
                       .source = ev->source,
                       .payload_json = ev->payload_json,
                       .input = payload};
    row->ev = ev;
    if (policy_rules_decide(app->rules, &app->options, &in, d, err, errlen) == 0) {
        row->d = d;
        err[0] = '\0'; /* no error: the caller reads a non-empty err as a policy error */
        /* a log router's metadata (router.* attributes), after the policy's own */
        if (policy_add_event_attributes(d, ev) != 0)
            rc = -1;
    } else {
        row->package = policy_rules_package(app->rules, ev->schema);
        row->reason = err;
    }
    rv_unref(payload);
    return rc;
}

/* One batch of RawEvents, inside the frame's transaction: decide each (a newer policy
 * set is taken between two batches), store the batch (store.c), queue one Alert per
 * decided alert. A redelivered event re-produces what its first delivery stored. */
static int handle_batch(void *ctx, pg *db, consumer_item **items, size_t n)
{
    policy_app *app = ctx;
    policy_rules *newer = policy_reload_take(app->reload);
    if (newer) {
        policy_rules_free(app->rules);
        app->rules = newer;
    }
    policy_decision *decisions = calloc(n, sizeof *decisions);
    policy_event_row *rows = calloc(n, sizeof *rows);
    char(*errors)[256] = calloc(n, sizeof *errors);
    int rc = decisions && rows && errors ? PG_OK : PG_RETRY;
    size_t n_rows = 0;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        if (items[i]->redelivered)
            continue;
        if (decide(app, items[i], &decisions[i], &rows[n_rows], errors[i], sizeof errors[i]) != 0)
            rc = PG_RETRY; /* out of memory: the batch runs again */
        if (!items[i]->dead)
            n_rows++;
    }
    if (rc == PG_OK)
        rc = policy_store_events(db, rows, n_rows);
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        consumer_item *it = items[i];
        const Hutch__V1__RawEvent *ev = (const Hutch__V1__RawEvent *)it->value;
        policy_decision *d = &decisions[i];
        if (it->dead)
            continue;
        if (errors[i][0]) {
            consumer_item_dead(it, "policy error: %s", errors[i]);
            metrics_add(app->m_dead, 1);
            continue;
        }
        if (it->redelivered) {
            /* produce what the first delivery stored, whatever the policies say now */
            if ((rc = policy_store_read_decision(db, ev, d)) != PG_OK)
                break;
            metrics_add(app->m_duplicates, 1);
            consumer_item_log(LOG_LEVEL_INFO, it, "event_redelivered", "event_id", ev->event_id, "trace_id",
                              ev->meta->trace_id, NULL);
        }
        for (size_t k = 0; rc == PG_OK && k < d->count; k++) {
            char alert_id[37];
            policy_alert_id(alert_id, ev->event_id, ev->meta->created_unix_ms, k);
            const char *key = policy_alert_key(&d->alerts[k], alert_id);
            size_t len = 0;
            uint8_t *value = policy_alert_pack(ev, d, k, &len);
            if (consumer_emit_take(it, TOPIC_ALERTS_ACCEPTED, key, value, len) != 0)
                rc = PG_RETRY; /* out of memory: the batch runs again */
            LOG_DEBUG("alert_accepted", "alert_id", alert_id, "event_id", ev->event_id, "trace_id", ev->meta->trace_id,
                      "title", d->alerts[k].title, "namespace", d->alerts[k].namespace, NULL);
        }
        char count[16];
        snprintf(count, sizeof count, "%zu", d->count);
        consumer_item_log(LOG_LEVEL_INFO, it, "event_decided", "event_id", ev->event_id, "trace_id", ev->meta->trace_id,
                          "schema", ev->schema, "policy", d->package, "alert_count", count, "reason", d->reason, NULL);
        if (!it->redelivered) {
            metrics_add(app->m_events, 1);
            metrics_add(d->count ? app->m_alerts : app->m_ignored, d->count ? (int64_t)d->count : 1);
        }
    }
    for (size_t i = 0; decisions && i < n; i++)
        policy_decision_free(&decisions[i]);
    free(decisions);
    free(rows);
    free(errors);
    return rc;
}

int main(int argc, char **argv)
{
    static policy_app app;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sighup; /* before anything: SIGHUP must never terminate us */
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, NULL);

    service_config_or_exit(policy_config_table, &app.cfg, argc, argv, "hutch-policy",
                           "Decides which raw events become alerts (hutch.events.raw -> hutch.alerts.accepted).");
    app.options = (policy_rules_options){
        .strict = app.cfg.strict,
        .strict_builtin_errors = app.cfg.strict_builtin_errors,
        .max_steps = (uint64_t)app.cfg.max_steps,
        .max_memory = (size_t)app.cfg.max_memory_mb << 20,
    };
    app.m_events = metrics_counter("hutch_policy_events_total", "events decided");
    app.m_alerts = metrics_counter("hutch_policy_alerts_total", "alerts raised");
    app.m_ignored = metrics_counter("hutch_policy_ignored_total", "events decided with no alert (recorded as ignored)");
    app.m_dead = metrics_counter("hutch_policy_dead_total", "events dead-lettered (malformed, or a policy error)");
    app.m_duplicates = metrics_counter("hutch_policy_redelivered_total", "events seen before (no new effect)");

    int status = 1;
    if (service_start(&app.svc, "policy", argc, argv) == 0) {
        char err[1024];
        app.reload = policy_reload_start(app.cfg.dir, app.cfg.reload_interval_ms, &app.rules, err, sizeof err);
        if (!app.reload) {
            LOG_ERROR("policy_load_failed", "dir", app.cfg.dir, "error", err, NULL);
        } else {
            sighup_target = app.reload;
            http_server_set_status(app.svc.http, readyz_status, &app);
            static const consumer_input inputs[] = {{TOPIC_EVENTS_RAW, &hutch__v1__raw_event__descriptor},
                                                    {NULL, NULL}};
            if (gethostname(app.instance, sizeof app.instance - 1) != 0 || !app.instance[0])
                snprintf(app.instance, sizeof app.instance, "policy");
            consumer_spec spec = {.inputs = inputs, .handle = handle_batch, .tick = report_reload_state};
            status = service_consume(&app.svc, &spec, &app) == 0 ? 0 : 1;
        }
    }
    service_stop(&app.svc); /* stops HTTP first: readyz_status no longer runs */
    sighup_target = NULL;
    policy_reload_stop(app.reload);
    policy_rules_free(app.rules);
    free(app.reported);
    config_free(policy_config_table, &app.cfg);
    return status;
}
