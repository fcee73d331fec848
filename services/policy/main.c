/* hutch-policy: hutch.events.raw -> decision -> hutch.alerts.accepted.
 *
 * For each RawEvent: unpack and check it (anything malformed is dead-lettered with
 * the reason), let the engine decide, record the decision and the message id in
 * one Postgres transaction (store.c), then hand one Alert per decided alert to the
 * consumer loop, which produces them and stores the offset once they are
 * acknowledged. A redelivered event finds its processed_messages row, writes
 * nothing and re-produces the same Alerts (ids derive from the event, and the
 * default engine is deterministic; an engine whose rules can change between two
 * deliveries should re-read the alerts rows instead).
 *
 * The engine is chosen once, in main(): this is where the Rego engine plugs in. */
#include <jansson.h>
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
#include "services/policy/store.h"

typedef struct {
    int64_t port;
} policy_config;

static const config_field policy_config_table[] = {
    {"HUTCH_POLICY_PORT", CONFIG_INT, "8082", offsetof(policy_config, port), "HTTP port (0 = any free port)", 0, 65535},
    CONFIG_END,
};

typedef struct {
    service svc;
    policy_config cfg;
    policy_engine engine;
    metric *m_events, *m_alerts, *m_dead, *m_duplicates;
} policy_app;

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
    json_t *payload = NULL;
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
    json_error_t jerr;
    payload = json_loads(ev->payload_json, JSON_DECODE_ANY, &jerr);
    if (!payload) {
        result = dead(app, reason, reason_len, "RawEvent payload_json is not valid JSON: %s", jerr.text);
        goto done;
    }

    policy_input in = {.event_id = ev->event_id, .schema = ev->schema, .source = ev->source, .payload = payload};
    if (app->engine.eval(app->engine.ctx, &in, &decision, err, sizeof err) != 0) {
        result = dead(app, reason, reason_len, "policy evaluation failed: %s", err);
        goto done;
    }

    int already = 0;
    int rc = policy_store_decision(app->svc.db, ev, &decision, &already);
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
             "engine", app->engine.name, "alert_count", count, "topic", msg->topic, "partition", part, "offset", off,
             NULL);
    metrics_add(app->m_events, 1);
    metrics_add(app->m_alerts, (int64_t)decision.count);

done:
    if (result == KAFKA_DEAD)
        LOG_WARN("event_dead", "event_id", ev->event_id, "reason", reason, "topic", msg->topic, "partition", part,
                 "offset", off, NULL);
    policy_decision_free(&decision);
    json_decref(payload);
    hutch__v1__raw_event__free_unpacked(ev, NULL);
    return result;
}

int main(int argc, char **argv)
{
    static policy_app app;
    service_config_or_exit(policy_config_table, &app.cfg, argc, argv, "hutch-policy",
                           "Decides which raw events become alerts (hutch.events.raw -> hutch.alerts.accepted).");
    /* The one place an engine is chosen; the Rego engine replaces this line. */
    app.engine = policy_default_engine;
    app.m_events = metrics_counter("hutch_policy_events_total", "events decided");
    app.m_alerts = metrics_counter("hutch_policy_alerts_total", "alerts raised");
    app.m_dead = metrics_counter("hutch_policy_dead_total", "events dead-lettered");
    app.m_duplicates = metrics_counter("hutch_policy_redelivered_total", "events seen before (no new effect)");

    int status = 1;
    if (service_start(&app.svc, "policy", argc, argv, app.cfg.port) == 0) {
        static const char *const topics[] = {TOPIC_EVENTS_RAW, NULL};
        status = service_consume(&app.svc, topics, on_raw_event, &app) == 0 ? 0 : 1;
    }
    service_stop(&app.svc);
    config_free(policy_config_table, &app.cfg);
    return status;
}
