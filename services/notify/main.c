/* hutch-notify: consumes NotifyRequests and tells people, through an outbox.
 *
 * Per request: plan the targets and render their messages (notify.h), write the
 * outbox rows and processed_messages in one transaction and commit (store.h), and
 * only then deliver each row still 'pending' (post.h), holding the row's lock
 * (FOR UPDATE) across the POST so that a second consumer handed the same request
 * during a rebalance waits and then sees 'sent'. Without Slack settings the
 * Slack message goes to target "log": recorded 'sent' at once and written to the
 * log as one line (event notification_rendered), the first time only.
 *
 * Delivery outcomes: 2xx -> 'sent'; 4xx other than 408/429 -> 'failed' (a bad
 * message, never retried); no answer / 5xx / 408 / 429 -> attempts + 1 and
 * KAFKA_RETRY (the loop runs this message again after a backoff) until
 * HUTCH_NOTIFY_MAX_ATTEMPTS, then 'failed' and the partition moves on.
 * URLs and the PagerDuty routing key are secrets: never logged, never stored (the
 * routing key is added to the PagerDuty body only when posting). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/service.h"
#include "common/topics.h"
#include "services/notify/notify.h"
#include "services/notify/post.h"
#include "services/notify/store.h"

typedef struct {
    char *slack_webhook_url;
    char *pagerduty_routing_key;
    char *pagerduty_url;
    char *webhook_url;
    int64_t max_attempts;
    int64_t http_timeout_ms;
} notify_config;

static const config_field notify_config_table[] = {
    {"HUTCH_SLACK_WEBHOOK_URL", CONFIG_SECRET, "", offsetof(notify_config, slack_webhook_url),
     "Slack incoming webhook; unset: messages are rendered to the log only", 0, 0},
    {"HUTCH_PAGERDUTY_ROUTING_KEY", CONFIG_SECRET, "", offsetof(notify_config, pagerduty_routing_key),
     "PagerDuty Events v2 routing key; set: high/critical tickets page", 0, 0},
    {"HUTCH_PAGERDUTY_URL", CONFIG_STRING, "https://events.pagerduty.com/v2/enqueue",
     offsetof(notify_config, pagerduty_url), "PagerDuty Events v2 endpoint", 0, 0},
    {"HUTCH_NOTIFY_WEBHOOK_URL", CONFIG_SECRET, "", offsetof(notify_config, webhook_url),
     "Generic webhook receiving each NotifyRequest as JSON", 0, 0},
    {"HUTCH_NOTIFY_MAX_ATTEMPTS", CONFIG_INT, "5", offsetof(notify_config, max_attempts),
     "Deliveries tried per notification before it is marked failed", 1, 1000},
    {"HUTCH_NOTIFY_HTTP_TIMEOUT", CONFIG_DURATION_MS, "10s", offsetof(notify_config, http_timeout_ms),
     "Timeout of one delivery (whole HTTP exchange)", 0, 0},
    CONFIG_END,
};

typedef struct {
    service *svc;
    const notify_config *cfg;
} notify_ctx;

static void count(const char *target, const char *result)
{
    char name[160];
    snprintf(name, sizeof name, "hutch_notify_notifications_total{target=\"%s\",result=\"%s\"}", target, result);
    metrics_add(metrics_counter(name, "Notifications by target and result"), 1);
}

typedef enum { DELIVER_DONE = 0, DELIVER_AGAIN = 1, DELIVER_DB_RETRY = -1, DELIVER_DB_FATAL = -2 } deliver_result;

/* Delivers one pending outbox row. text: the stored message (JSON text). */
static deliver_result deliver(notify_ctx *ctx, const Hutch__V1__NotifyRequest *r, const notify_target *t,
                              const char *text, char *reason, size_t reason_len)
{
    const notify_config *cfg = ctx->cfg;
    const char *trace_id = r->meta ? r->meta->trace_id : NULL;
    char status[16];
    int attempts = 0;
    int rc = notify_store_claim(ctx->svc->db, t->row_id, status, sizeof status, &attempts);
    if (rc != PG_OK)
        return rc == PG_RETRY ? DELIVER_DB_RETRY : DELIVER_DB_FATAL;
    if (strcmp(status, "pending") != 0) {
        pg_rollback(ctx->svc->db);
        LOG_INFO("notification_already_done", "request_id", t->row_id, "ticket_id", r->ticket_id, "trace_id",
                 trace_id, "target", t->target, "status", status, NULL);
        return DELIVER_DONE;
    }

    const char *url = !strcmp(t->target, NOTIFY_TARGET_SLACK)       ? cfg->slack_webhook_url
                      : !strcmp(t->target, NOTIFY_TARGET_PAGERDUTY) ? cfg->pagerduty_url
                                                                     : cfg->webhook_url;
    char *body = NULL;
    if (!strcmp(t->target, NOTIFY_TARGET_PAGERDUTY)) {
        json_t *copy = json_deep_copy(t->message);
        if (copy != NULL && json_object_set_new(copy, "routing_key", json_string(cfg->pagerduty_routing_key)) == 0)
            body = json_dumps(copy, JSON_COMPACT);
        json_decref(copy);
    } else {
        body = strdup(text);
    }
    if (body == NULL) {
        pg_rollback(ctx->svc->db);
        snprintf(reason, reason_len, "out of memory");
        return DELIVER_AGAIN;
    }
    notify_post_result res;
    notify_post_json(url, body, (long)cfg->http_timeout_ms, &res);
    free(body);

    notify_outcome outcome = notify_classify(res.answered, res.status);
    char http_status[16];
    snprintf(http_status, sizeof http_status, "%ld", res.status);
    char attempt_text[16];
    snprintf(attempt_text, sizeof attempt_text, "%d", attempts + 1);
    char *err = NULL;
    if (outcome != NOTIFY_SENT) {
        char raw[700];
        if (res.answered)
            snprintf(raw, sizeof raw, "HTTP %ld: %s", res.status, res.body);
        else
            snprintf(raw, sizeof raw, "%s", res.error);
        err = notify_truncate(raw, 300); /* valid UTF-8 for the text column */
    }
    const char *new_status = outcome == NOTIFY_SENT     ? "sent"
                             : outcome == NOTIFY_FAILED ? "failed"
                             : attempts + 1 >= cfg->max_attempts ? "failed"
                                                                 : "pending";
    rc = notify_store_attempt(ctx->svc->db, t->row_id, new_status, err);
    if (rc == PG_OK)
        rc = pg_commit(ctx->svc->db);
    if (rc != PG_OK)
        pg_rollback(ctx->svc->db);
    deliver_result result = DELIVER_DONE;
    if (rc != PG_OK) {
        snprintf(reason, reason_len, "cannot record the delivery of %s", t->row_id);
        result = rc == PG_RETRY ? DELIVER_DB_RETRY : DELIVER_DB_FATAL;
    } else if (!strcmp(new_status, "sent")) {
        LOG_INFO("notification_sent", "request_id", t->row_id, "ticket_id", r->ticket_id, "alert_id", r->alert_id,
                 "trace_id", trace_id, "target", t->target, "http_status", http_status, "attempt", attempt_text, NULL);
    } else if (!strcmp(new_status, "failed")) {
        LOG_WARN("notification_failed", "request_id", t->row_id, "ticket_id", r->ticket_id, "alert_id", r->alert_id,
                 "trace_id", trace_id, "target", t->target, "attempt", attempt_text, "error", err, NULL);
    } else {
        LOG_WARN("notification_retry", "request_id", t->row_id, "ticket_id", r->ticket_id, "trace_id", trace_id,
                 "target", t->target, "attempt", attempt_text, "error", err, NULL);
        snprintf(reason, reason_len, "%s delivery failed (attempt %d of %" PRId64 "): %s", t->target, attempts + 1,
                 cfg->max_attempts, err ? err : "");
        result = DELIVER_AGAIN;
    }
    if (rc == PG_OK)
        count(t->target, new_status);
    free(err);
    return result;
}

static bool valid_request(const Hutch__V1__NotifyRequest *r, char *reason, size_t reason_len)
{
    if (r->request_id == NULL || r->request_id[0] == '\0' || strlen(r->request_id) > 100) {
        snprintf(reason, reason_len, "NotifyRequest without a usable request_id");
        return false;
    }
    if (!ids_is_uuid(r->ticket_id)) {
        snprintf(reason, reason_len, "NotifyRequest without a valid ticket_id");
        return false;
    }
    if (r->alert_id != NULL && r->alert_id[0] != '\0' && !ids_is_uuid(r->alert_id)) {
        snprintf(reason, reason_len, "NotifyRequest with an invalid alert_id");
        return false;
    }
    if (r->kind == NULL || r->kind[0] == '\0') {
        snprintf(reason, reason_len, "NotifyRequest without a kind");
        return false;
    }
    return true;
}

static kafka_result handle(void *vctx, const kafka_msg *msg, kafka_out *out, char *reason, size_t reason_len)
{
    notify_ctx *ctx = vctx;
    kafka_result result = KAFKA_OK;
    notify_plan plan;
    memset(&plan, 0, sizeof plan);
    char *texts[NOTIFY_MAX_TARGETS] = {NULL};
    char partition[16], offset[32];
    snprintf(partition, sizeof partition, "%" PRId32, msg->partition);
    snprintf(offset, sizeof offset, "%" PRId64, msg->offset);

    Hutch__V1__NotifyRequest *r = hutch__v1__notify_request__unpack(NULL, msg->value_len, msg->value);
    if (r == NULL) {
        snprintf(reason, reason_len, "cannot unpack NotifyRequest");
        return KAFKA_DEAD;
    }
    const char *trace_id = r->meta ? r->meta->trace_id : NULL;
    if (!valid_request(r, reason, reason_len)) {
        result = KAFKA_DEAD;
        goto done;
    }
    notify_settings settings = {ctx->cfg->slack_webhook_url, ctx->cfg->pagerduty_routing_key, ctx->cfg->webhook_url};
    if (notify_plan_make(&plan, r, &settings) != 0) {
        snprintf(reason, reason_len, "cannot render the notification");
        result = KAFKA_RETRY; /* OOM: the only way rendering fails on a valid request */
        goto done;
    }
    notify_row rows[NOTIFY_MAX_TARGETS];
    memset(rows, 0, sizeof rows);
    for (size_t i = 0; i < plan.n; i++) {
        texts[i] = json_dumps(plan.targets[i].message, JSON_COMPACT);
        if (texts[i] == NULL) {
            snprintf(reason, reason_len, "out of memory");
            result = KAFKA_RETRY;
            goto done;
        }
        rows[i] = (notify_row){.row_id = plan.targets[i].row_id,
                               .ticket_id = r->ticket_id,
                               .alert_id = r->alert_id,
                               .kind = r->kind,
                               .target = plan.targets[i].target,
                               .channel = r->channel,
                               .message = texts[i],
                               .sent = !strcmp(plan.targets[i].target, NOTIFY_TARGET_LOG)};
    }
    const char *message_id = r->meta && r->meta->id && r->meta->id[0] ? r->meta->id : r->request_id;
    int rc = notify_store_record(ctx->svc->db, message_id, rows, plan.n);
    if (rc != PG_OK) {
        snprintf(reason, reason_len, rc == PG_RETRY ? "database unavailable" : "database rejected the outbox rows");
        result = rc == PG_RETRY ? KAFKA_RETRY : KAFKA_DEAD;
        goto done;
    }

    bool again = false;
    for (size_t i = 0; i < plan.n; i++) {
        const notify_target *t = &plan.targets[i];
        if (!strcmp(t->target, NOTIFY_TARGET_LOG)) {
            if (rows[i].inserted) {
                LOG_INFO("notification_rendered", "request_id", t->row_id, "ticket_id", r->ticket_id, "alert_id",
                         r->alert_id, "trace_id", trace_id, "kind", r->kind, "severity", r->severity, "channel",
                         r->channel, "target", t->target, "message", texts[i], NULL);
                count(t->target, "sent");
            }
            continue;
        }
        deliver_result d = deliver(ctx, r, t, texts[i], reason, reason_len);
        if (d == DELIVER_DB_RETRY || d == DELIVER_DB_FATAL) {
            /* an unrecorded outcome: run again (the row is re-read; FATAL here is a bug, not the message) */
            result = KAFKA_RETRY;
            goto done;
        }
        if (d == DELIVER_AGAIN)
            again = true;
    }
    if (again)
        result = KAFKA_RETRY;
    else
        LOG_INFO("notify_request_done", "request_id", r->request_id, "ticket_id", r->ticket_id, "alert_id",
                 r->alert_id, "trace_id", trace_id, "kind", r->kind, "topic", msg->topic, "partition", partition,
                 "offset", offset, NULL);

done:
    if (result == KAFKA_DEAD)
        LOG_WARN("notify_request_dead", "request_id", r->request_id, "trace_id", trace_id, "reason", reason, "topic",
                 msg->topic, "partition", partition, "offset", offset, NULL);
    for (size_t i = 0; i < NOTIFY_MAX_TARGETS; i++)
        free(texts[i]);
    notify_plan_free(&plan);
    hutch__v1__notify_request__free_unpacked(r, NULL);
    return result;
}

int main(int argc, char **argv)
{
    notify_config cfg;
    memset(&cfg, 0, sizeof cfg);
    service_config_or_exit(notify_config_table, &cfg, argc, argv, "hutch-notify",
                           "Renders notifications (Slack Block Kit, PagerDuty, webhook) through an outbox.");
    if (notify_post_init() != 0) {
        fprintf(stderr, "hutch-notify: cannot initialise libcurl\n");
        config_free(notify_config_table, &cfg);
        return 1;
    }
    service svc;
    memset(&svc, 0, sizeof svc);
    int rc = 1;
    if (service_start(&svc, "notify", argc, argv) == 0) {
        LOG_INFO("notify_targets", "slack", cfg.slack_webhook_url[0] ? "webhook" : "log", "pagerduty",
                 cfg.pagerduty_routing_key[0] ? "on" : "off", "webhook", cfg.webhook_url[0] ? "on" : "off", NULL);
        notify_ctx ctx = {.svc = &svc, .cfg = &cfg};
        static const char *const topics[] = {TOPIC_NOTIFY_REQUESTS, NULL};
        rc = service_consume(&svc, topics, handle, &ctx) == 0 ? 0 : 1;
    }
    service_stop(&svc);
    notify_post_cleanup();
    config_free(notify_config_table, &cfg);
    return rc;
}
