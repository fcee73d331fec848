/* hutch-policy: hutch.events.raw -> decision -> hutch.alerts.accepted.
 *
 * For each RawEvent: unpack and check it (anything malformed is dead-lettered with
 * the reason), let the ingest policies decide (rules.h: ingest.<schema>,
 * alert.<schema>, or the default alert), record the decision and the message id in
 * one Postgres transaction (store.c), then hand one Alert per decided alert to the
 * consumer loop, which produces them and stores the offset once they are
 * acknowledged. A policy error dead-letters the event (its events row says 'dead'
 * and why). A redelivered event finds its processed_messages row, writes nothing and
 * re-produces the Alerts the first delivery stored.
 *
 * The policy set is the one of HUTCH_POLICY_DIR, reloaded on SIGHUP and when its
 * files change (reload.h); the consumer swaps sets between two events. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    int64_t port;
    char *dir;
    bool strict, strict_builtin_errors;
    int64_t max_steps, max_memory_mb, reload_interval_ms;
} policy_config;

static const config_field policy_config_table[] = {
    {"HUTCH_POLICY_PORT", CONFIG_INT, "8082", offsetof(policy_config, port), "HTTP port (0 = any free port)", 0, 65535},
    {"HUTCH_POLICY_DIR", CONFIG_STRING, "policies", offsetof(policy_config, dir),
     "directory of the ingest policies (every *.rego below it)"},
    {"HUTCH_POLICY_STRICT", CONFIG_BOOL, "0", offsetof(policy_config, strict),
     "1: an event whose schema has no ingest.<schema>/alert.<schema> package is ignored (recorded), not a default alert"},
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

static kafka_result dead(policy_app *app, char *reason, size_t reason_len, const char *fmt, const char *detail)
{
    snprintf(reason, reason_len, fmt, detail ? detail : "");
    metrics_add(app->m_dead, 1);
    return KAFKA_DEAD;
}

static kafka_result on_raw_event(void *ctx, const kafka_msg *msg, kafka_out *out, char *reason, size_t reason_len)
{
    policy_app *app = ctx;
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)msg->partition);
    snprintf(off, sizeof off, "%lld", (long long)msg->offset);

    Hutch__V1__RawEvent *ev = hutch__v1__raw_event__unpack(NULL, msg->value_len, msg->value);
    if (!ev)
        return dead(app, reason, reason_len, "cannot unpack hutch.v1.RawEvent%s", NULL);
    kafka_result result = KAFKA_OK;
    rv *payload = NULL; /* parsed once, here: the policies evaluate this value */
    policy_decision decision = {0};
    char err[256] = "";

    if (!ev->meta || !ev->meta->id || !*ev->meta->id) {
        result = dead(app, reason, reason_len, "RawEvent without meta.id%s", NULL);
        goto done;
    }
    if (!ids_is_uuid(ev->event_id)) {
        result = dead(app, reason, reason_len, "RawEvent event_id is not a UUID: \"%.64s\"", ev->event_id);
        goto done;
    }
    if (!ev->schema || !*ev->schema) {
        result = dead(app, reason, reason_len, "RawEvent without schema%s", NULL);
        goto done;
    }
    char jerr[256];
    payload = ev->payload_json ? rv_from_json_text(ev->payload_json, strlen(ev->payload_json), jerr, sizeof jerr) : NULL;
    if (!payload) {
        result = dead(app, reason, reason_len, "RawEvent payload_json is not valid JSON: %s", jerr);
        goto done;
    }

    policy_rules *newer = policy_reload_take(app->reload);
    if (newer) { /* between two events: this one is decided by the new set only */
        policy_rules_free(app->rules);
        app->rules = newer;
    }
    policy_input in = {.event_id = ev->event_id,
                       .schema = ev->schema,
                       .source = ev->source,
                       .payload_json = ev->payload_json,
                       .input = payload};
    int rc;
    if (policy_rules_decide(app->rules, &app->options, &in, &decision, err, sizeof err) != 0) {
        rc = policy_store_dead(app->svc.db, ev, policy_rules_package(app->rules, ev->schema), err);
        if (rc == PG_RETRY) {
            snprintf(reason, reason_len, "database unavailable");
            result = KAFKA_RETRY;
            goto done;
        }
        result = dead(app, reason, reason_len, "policy error: %s", err);
        goto done;
    }

    if (policy_add_event_attributes(&decision, ev) != 0) {
        snprintf(reason, reason_len, "out of memory");
        result = KAFKA_RETRY;
        goto done;
    }
    int already = 0;
    rc = policy_store_decision(app->svc.db, ev, &decision, &already);
    if (rc == PG_RETRY) {
        snprintf(reason, reason_len, "database unavailable");
        result = KAFKA_RETRY;
        goto done;
    }
    if (rc != PG_OK) {
        result = dead(app, reason, reason_len, "database refused the event (see hutch-policy's log)%s", NULL);
        goto done;
    }
    if (already) {
        /* produce what the first delivery stored, whatever the policies say now */
        policy_decision_free(&decision);
        rc = policy_store_read_decision(app->svc.db, ev, &decision);
        if (rc != PG_OK) {
            snprintf(reason, reason_len, "cannot read the stored decision back");
            result = rc == PG_RETRY ? KAFKA_RETRY : dead(app, reason, reason_len, "%s", reason);
            goto done;
        }
        metrics_add(app->m_duplicates, 1);
        LOG_INFO("event_redelivered", "event_id", ev->event_id, "trace_id", ev->meta->trace_id, "topic", msg->topic,
                 "partition", part, "offset", off, NULL);
    }

    for (size_t i = 0; i < decision.count; i++) {
        char alert_id[37];
        policy_alert_id(alert_id, ev->event_id, ev->meta->created_unix_ms, i);
        const char *key = policy_alert_key(&decision.alerts[i], alert_id);
        size_t len = 0;
        uint8_t *value = policy_alert_pack(ev, &decision, i, &len);
        int qrc = value ? kafka_out_add(out, TOPIC_ALERTS_ACCEPTED, key, strlen(key), value, len, NULL) : -1;
        free(value);
        if (qrc != 0) {
            snprintf(reason, reason_len, "cannot queue the Alert");
            result = KAFKA_RETRY;
            goto done;
        }
        LOG_INFO("alert_accepted", "alert_id", alert_id, "event_id", ev->event_id, "trace_id", ev->meta->trace_id,
                 "title", decision.alerts[i].title, "namespace", decision.alerts[i].namespace, NULL);
    }
    char count[16];
    snprintf(count, sizeof count, "%zu", decision.count);
    LOG_INFO("event_decided", "event_id", ev->event_id, "trace_id", ev->meta->trace_id, "schema", ev->schema,
             "policy", decision.package, "alert_count", count, "reason", decision.reason, "topic", msg->topic,
             "partition", part, "offset", off, NULL);
    metrics_add(app->m_events, 1);
    if (decision.count == 0)
        metrics_add(app->m_ignored, 1);
    metrics_add(app->m_alerts, (int64_t)decision.count);

done:
    if (result == KAFKA_DEAD)
        LOG_WARN("event_dead", "event_id", ev->event_id, "reason", reason, "topic", msg->topic, "partition", part,
                 "offset", off, NULL);
    policy_decision_free(&decision);
    rv_unref(payload);
    hutch__v1__raw_event__free_unpacked(ev, NULL);
    return result;
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
    if (service_start(&app.svc, "policy", argc, argv, app.cfg.port) == 0) {
        char err[1024];
        app.reload = policy_reload_start(app.cfg.dir, app.cfg.reload_interval_ms, &app.rules, err, sizeof err);
        if (!app.reload) {
            LOG_ERROR("policy_load_failed", "dir", app.cfg.dir, "error", err, NULL);
        } else {
            sighup_target = app.reload;
            http_server_set_status(app.svc.http, readyz_status, &app);
            static const char *const topics[] = {TOPIC_EVENTS_RAW, NULL};
            status = service_consume(&app.svc, topics, on_raw_event, &app) == 0 ? 0 : 1;
        }
    }
    service_stop(&app.svc); /* stops HTTP first: readyz_status no longer runs */
    sighup_target = NULL;
    policy_reload_stop(app.reload);
    policy_rules_free(app.rules);
    config_free(policy_config_table, &app.cfg);
    return status;
}
