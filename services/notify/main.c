/* hutch-notify: consumes NotifyRequests and tells people, through an outbox.
 *
 * Batches come from the frame (common/consumer.h). Per request: plan the targets and
 * render their messages (notify.h); the batch's outbox rows are written in one
 * statement inside the frame's transaction (store.h), and only after the commit is
 * each row still 'pending' delivered (post.h, the frame's after_commit), holding the
 * row's lock (FOR UPDATE) across the POST so that a second consumer handed the same
 * request during a rebalance waits and then sees 'sent'. Without Slack settings the
 * Slack message goes to target "log": recorded 'sent' at once and written to the
 * log as one line (event notification_rendered), the first time only.
 *
 * Delivery outcomes: 2xx -> 'sent'; 4xx other than 408/429 -> 'failed' (a bad
 * message, never retried); no answer / 5xx / 408 / 429 -> attempts + 1 and the
 * frame calls the delivery again after a backoff until HUTCH_NOTIFY_MAX_ATTEMPTS,
 * then 'failed' and the partition moves on.
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

/* Notifications by target and result, registered once at start (metric_for). */
static const char *const targets[] = {NOTIFY_TARGET_LOG, NOTIFY_TARGET_SLACK, NOTIFY_TARGET_PAGERDUTY,
                                      NOTIFY_TARGET_WEBHOOK};
static const char *const results[] = {"sent", "failed", "pending"};
static metric *notification_metrics[4][3];

static void register_metrics(void)
{
    for (size_t t = 0; t < 4; t++)
        for (size_t r = 0; r < 3; r++) {
            char name[160];
            snprintf(name, sizeof name, "hutch_notify_notifications_total{target=\"%s\",result=\"%s\"}", targets[t],
                     results[r]);
            notification_metrics[t][r] = metrics_counter(name, "Notifications by target and result");
        }
}

static void count(const char *target, const char *result)
{
    for (size_t t = 0; t < 4; t++)
        for (size_t r = 0; r < 3; r++)
            if (!strcmp(targets[t], target) && !strcmp(results[r], result))
                metrics_add(notification_metrics[t][r], 1);
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

/* One request's plan and rendered texts. */
typedef struct {
    notify_plan plan;
    char *texts[NOTIFY_MAX_TARGETS];
} planned;

static void planned_free(planned *p)
{
    for (size_t i = 0; i < NOTIFY_MAX_TARGETS; i++)
        free(p->texts[i]);
    notify_plan_free(&p->plan);
    memset(p, 0, sizeof *p);
}

/* Plans and renders r (deterministic: the same request gives the same texts).
 * 0, or -1 on OOM. */
static int plan_request(const notify_ctx *ctx, const Hutch__V1__NotifyRequest *r, planned *p)
{
    memset(p, 0, sizeof *p);
    notify_settings settings = {ctx->cfg->slack_webhook_url, ctx->cfg->pagerduty_routing_key, ctx->cfg->webhook_url};
    if (notify_plan_make(&p->plan, r, &settings) != 0)
        return -1;
    for (size_t i = 0; i < p->plan.n; i++)
        if (!(p->texts[i] = json_dumps(p->plan.targets[i].message, JSON_COMPACT)))
            return -1;
    return 0;
}

/* One batch, inside the frame's transaction: plan and render every request, write all
 * outbox rows in one statement. Targets "log" are recorded 'sent' at once and written
 * to the log the first time only; the others are posted after the commit. */
static int handle_batch(void *vctx, pg *db, consumer_item **items, size_t n)
{
    notify_ctx *ctx = vctx;
    planned *plans = calloc(n, sizeof *plans);
    notify_row *rows = calloc(n * NOTIFY_MAX_TARGETS, sizeof *rows);
    int rc = plans && rows ? PG_OK : PG_RETRY;
    size_t n_rows = 0;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        const Hutch__V1__NotifyRequest *r = (const Hutch__V1__NotifyRequest *)items[i]->value;
        char reason[256];
        if (!valid_request(r, reason, sizeof reason)) {
            consumer_item_dead(items[i], "%s", reason);
            continue;
        }
        if (plan_request(ctx, r, &plans[i]) != 0) {
            rc = PG_RETRY; /* OOM: the only way rendering fails on a valid request */
            break;
        }
        for (size_t t = 0; t < plans[i].plan.n; t++)
            rows[n_rows++] = (notify_row){.row_id = plans[i].plan.targets[t].row_id,
                                          .ticket_id = r->ticket_id,
                                          .alert_id = r->alert_id,
                                          .kind = r->kind,
                                          .target = plans[i].plan.targets[t].target,
                                          .channel = r->channel,
                                          .message = plans[i].texts[t],
                                          .sent = !strcmp(plans[i].plan.targets[t].target, NOTIFY_TARGET_LOG)};
    }
    if (rc == PG_OK)
        rc = notify_store_record(db, rows, n_rows);
    for (size_t i = 0, row = 0; rc == PG_OK && i < n; i++) {
        const Hutch__V1__NotifyRequest *r = (const Hutch__V1__NotifyRequest *)items[i]->value;
        for (size_t t = 0; !items[i]->dead && t < plans[i].plan.n; t++, row++) {
            if (rows[row].sent && rows[row].inserted) {
                consumer_item_log(LOG_LEVEL_INFO, items[i], "notification_rendered", "request_id", rows[row].row_id,
                                  "ticket_id", r->ticket_id, "alert_id", r->alert_id, "trace_id", r->meta->trace_id,
                                  "kind", r->kind, "severity", r->severity, "channel", r->channel, "target",
                                  rows[row].target, "message", rows[row].message, NULL);
                count(rows[row].target, "sent");
            }
        }
    }
    for (size_t i = 0; plans && i < n; i++)
        planned_free(&plans[i]);
    free(plans);
    free(rows);
    return rc;
}

/* After the commit: posts every row of the batch still 'pending'. PG_OK when all are
 * done (sent or failed for good); anything else has the frame call again after a
 * backoff (a failed post below HUTCH_NOTIFY_MAX_ATTEMPTS, or the database). */
static int deliver_batch(void *vctx, pg *db, consumer_item **items, size_t n)
{
    notify_ctx *ctx = vctx;
    int rc = PG_OK;
    for (size_t i = 0; i < n; i++) {
        if (items[i]->dead)
            continue;
        const Hutch__V1__NotifyRequest *r = (const Hutch__V1__NotifyRequest *)items[i]->value;
        planned p;
        if (plan_request(ctx, r, &p) != 0) {
            planned_free(&p);
            rc = PG_RETRY;
            continue;
        }
        bool again = false;
        for (size_t t = 0; t < p.plan.n; t++) {
            const notify_target *target = &p.plan.targets[t];
            if (!strcmp(target->target, NOTIFY_TARGET_LOG))
                continue;
            char reason[CONSUMER_REASON_MAX] = "";
            deliver_result d = deliver(ctx, r, target, p.texts[t], reason, sizeof reason);
            if (d != DELIVER_DONE) {
                again = true;
                consumer_item_log(LOG_LEVEL_WARN, items[i], "notify_request_again", "request_id", r->request_id,
                                  "trace_id", r->meta->trace_id, "reason", reason[0] ? reason : "database", NULL);
            }
        }
        if (again)
            rc = PG_RETRY;
        else
            consumer_item_log(LOG_LEVEL_INFO, items[i], "notify_request_done", "request_id", r->request_id, "ticket_id",
                              r->ticket_id, "alert_id", r->alert_id, "trace_id", r->meta->trace_id, "kind", r->kind,
                              NULL);
        planned_free(&p);
    }
    (void)db;
    return rc;
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
    register_metrics();
    if (service_start(&svc, "notify", argc, argv) == 0) {
        LOG_INFO("notify_targets", "slack", cfg.slack_webhook_url[0] ? "webhook" : "log", "pagerduty",
                 cfg.pagerduty_routing_key[0] ? "on" : "off", "webhook", cfg.webhook_url[0] ? "on" : "off", NULL);
        notify_ctx ctx = {.svc = &svc, .cfg = &cfg};
        static const consumer_input inputs[] = {{TOPIC_NOTIFY_REQUESTS, &hutch__v1__notify_request__descriptor},
                                                {NULL, NULL}};
        consumer_spec spec = {.inputs = inputs, .handle = handle_batch, .after_commit = deliver_batch};
        rc = service_consume(&svc, &spec, &ctx) == 0 ? 0 : 1;
    }
    service_stop(&svc);
    notify_post_cleanup();
    config_free(notify_config_table, &cfg);
    return rc;
}
