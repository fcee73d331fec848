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
#include "common/similar.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/msg.h"
#include "common/service.h"
#include "common/topics.h"
#include "services/notify/notify.h"
#include "services/notify/post.h"
#include "services/notify/blocks.h"
#include "services/notify/slack_bot.h"
#include "services/notify/slack_commands.h"
#include "services/notify/slack_http.h"
#include "services/notify/slack_socket.h"
#include "services/notify/slack_store.h"
#include "services/notify/store.h"
#include "common/ticket.h"

typedef struct {
    char *slack_webhook_url;
    char *pagerduty_routing_key;
    char *pagerduty_url;
    char *webhook_url;
    int64_t max_attempts;
    int64_t http_timeout_ms;
    char *slack_bot_token;
    char *slack_channel;
    char *slack_api_url;
    char *slack_signing_secret;
    char *slack_app_token;
    int64_t slack_post_interval_ms;
    int64_t slack_post_burst;
    int64_t slack_edit_interval_ms;
    int64_t slack_edit_coalesce_ms;
} notify_config;

static const config_field notify_config_table[] = {
    {"HUTCH_SLACK_WEBHOOK_URL", CONFIG_SECRET, "", offsetof(notify_config, slack_webhook_url),
     "Slack incoming webhook; unset: messages are rendered to the log only", 0, 0},
    {"HUTCH_PAGERDUTY_ROUTING_KEY", CONFIG_SECRET, "", offsetof(notify_config, pagerduty_routing_key),
     "PagerDuty Events v2 routing key; set: critical tickets and those the triage pages (NotifyRequest.page) page", 0,
     0},
    {"HUTCH_PAGERDUTY_URL", CONFIG_STRING, "https://events.pagerduty.com/v2/enqueue",
     offsetof(notify_config, pagerduty_url), "PagerDuty Events v2 endpoint", 0, 0},
    {"HUTCH_NOTIFY_WEBHOOK_URL", CONFIG_SECRET, "", offsetof(notify_config, webhook_url),
     "Generic webhook receiving each NotifyRequest as JSON", 0, 0},
    {"HUTCH_NOTIFY_MAX_ATTEMPTS", CONFIG_INT, "5", offsetof(notify_config, max_attempts),
     "Deliveries tried per notification before it is marked failed", 1, 1000},
    {"HUTCH_NOTIFY_HTTP_TIMEOUT", CONFIG_DURATION_MS, "10s", offsetof(notify_config, http_timeout_ms),
     "Timeout of one delivery (whole HTTP exchange)", 0, 0},
    {"HUTCH_SLACK_BOT_TOKEN", CONFIG_SECRET, "", offsetof(notify_config, slack_bot_token),
     "Slack bot token (xoxb-...); set: bot mode, one message per ticket edited in place", 0, 0},
    {"HUTCH_SLACK_CHANNEL", CONFIG_STRING, "", offsetof(notify_config, slack_channel),
     "Default Slack channel (id or name) of bot mode; the triage policy's channel wins when Slack accepts it", 0, 0},
    {"HUTCH_SLACK_API_URL", CONFIG_STRING, "https://slack.com/api", offsetof(notify_config, slack_api_url),
     "Slack Web API base URL", 0, 0},
    {"HUTCH_SLACK_SIGNING_SECRET", CONFIG_SECRET, "", offsetof(notify_config, slack_signing_secret),
     "Slack app signing secret; set: /hooks/slack/interaction and /hooks/slack/event answer", 0, 0},
    {"HUTCH_SLACK_APP_TOKEN", CONFIG_SECRET, "", offsetof(notify_config, slack_app_token),
     "Slack app-level token (xapp-..., connections:write); set: Socket Mode, the callbacks over a WebSocket "
     "notify opens (no public HTTPS address needed)",
     0, 0},
    {"HUTCH_SLACK_POST_INTERVAL", CONFIG_DURATION_MS, "1s", offsetof(notify_config, slack_post_interval_ms),
     "Per channel: one chat.postMessage per interval on average", 0, 0},
    {"HUTCH_SLACK_POST_BURST", CONFIG_INT, "3", offsetof(notify_config, slack_post_burst),
     "Per channel: posts allowed at once after a quiet time", 1, 100},
    {"HUTCH_SLACK_EDIT_INTERVAL", CONFIG_DURATION_MS, "1s", offsetof(notify_config, slack_edit_interval_ms),
     "All channels: one chat.update per interval on average", 0, 0},
    {"HUTCH_SLACK_EDIT_COALESCE", CONFIG_DURATION_MS, "1s", offsetof(notify_config, slack_edit_coalesce_ms),
     "A ticket's message is edited once its first unshown change is this old (changes meanwhile join it)", 0, 0},
    CONFIG_END,
};

/* An acting SlackCommand's outcome, from the batch transaction to the log line after
 * its commit. */
typedef struct {
    const consumer_item *item; /* BORROWED: the batch's (with message_id: a freed batch's address may recur) */
    char message_id[128];
    int rc; /* PG_OK or TICKET_REFUSED */
    char err[512];
    bool logged; /* said once (a modal opener: opened once) */
} command_result;

typedef struct {
    service *svc;
    const notify_config *cfg;
    slack_bot *bot;              /* NULL unless bot mode */
    const slack_ticket_ops *ops; /* the ticket module's (slack_ticket_ops_default) */
    command_result *results;     /* OWNED; of the batch being handled and delivered */
    size_t n_results, cap_results;
} notify_ctx;

/* Notifications by target and result, registered once at start (metric_for). */
static const char *const targets[] = {NOTIFY_TARGET_LOG,     NOTIFY_TARGET_SLACK,     NOTIFY_TARGET_PAGERDUTY,
                                      NOTIFY_TARGET_WEBHOOK, NOTIFY_TARGET_SLACK_BOT, NOTIFY_TARGET_SLACK_REPLY};
#define N_TARGETS (sizeof targets / sizeof *targets)
static const char *const results[] = {"sent", "failed", "pending"};
static metric *notification_metrics[N_TARGETS][3];

static void register_metrics(void)
{
    for (size_t t = 0; t < N_TARGETS; t++)
        for (size_t r = 0; r < 3; r++) {
            char name[160];
            snprintf(name, sizeof name, "hutch_notify_notifications_total{target=\"%s\",result=\"%s\"}", targets[t],
                     results[r]);
            notification_metrics[t][r] = metrics_counter(name, "Notifications by target and result");
        }
}

static void count(const char *target, const char *result)
{
    for (size_t t = 0; t < N_TARGETS; t++)
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
        LOG_INFO("notification_already_done", "request_id", t->row_id, "ticket_id", r->ticket_id, "trace_id", trace_id,
                 "target", t->target, "status", status, NULL);
        return DELIVER_DONE;
    }

    notify_post_result res;
    char bot_err[256] = "";
    bool bot = !strcmp(t->target, NOTIFY_TARGET_SLACK_BOT) || !strcmp(t->target, NOTIFY_TARGET_SLACK_REPLY);
    notify_outcome bot_outcome = NOTIFY_FAILED;
    if (bot && ctx->bot == NULL) {
        snprintf(bot_err, sizeof bot_err, "bot mode is off (HUTCH_SLACK_BOT_TOKEN unset)");
    } else if (!strcmp(t->target, NOTIFY_TARGET_SLACK_BOT)) {
        bot_outcome = slack_bot_post(ctx->bot, ctx->svc->db, r->ticket_id, bot_err, sizeof bot_err);
    } else if (bot) {
        bot_outcome = slack_bot_reply(ctx->bot, ctx->svc->db, r->ticket_id, t->message, bot_err, sizeof bot_err);
    }
    if (bot)
        goto outcome;
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
    notify_post_json(url, body, (long)cfg->http_timeout_ms, &res);
    free(body);
outcome:;
    notify_outcome outcome = bot ? bot_outcome : notify_classify(res.answered, res.status);
    if (bot) {
        memset(&res, 0, sizeof res);
        res.answered = false;
        snprintf(res.error, sizeof res.error, "%s", bot_err);
    }
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
    const char *new_status = outcome == NOTIFY_SENT              ? "sent"
                             : outcome == NOTIFY_FAILED          ? "failed"
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
    notify_settings settings = {ctx->cfg->slack_webhook_url, ctx->cfg->pagerduty_routing_key, ctx->cfg->webhook_url,
                                ctx->bot != NULL};
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
static int handle_requests(void *vctx, pg *db, consumer_item **items, size_t n)
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
    /* bot mode: the ticket's message row, and a change to show (alert count, severity) */
    for (size_t i = 0; rc == PG_OK && ctx->bot != NULL && i < n; i++) {
        const Hutch__V1__NotifyRequest *r = (const Hutch__V1__NotifyRequest *)items[i]->value;
        if (items[i]->dead || (r->kind && !strcmp(r->kind, NOTIFY_KIND_ANSWER)))
            continue; /* an answer is a thread reply: the ticket's message does not change */
        const char *channel = r->channel && r->channel[0] == '#' ? r->channel + 1 : r->channel;
        rc =
            slack_store_register(db, r->ticket_id, channel && *channel ? channel : ctx->cfg->slack_channel, r->publish);
        if (rc == PG_OK)
            rc = slack_store_changed(db, r->ticket_id);
    }
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
static int deliver_requests(void *vctx, pg *db, consumer_item **items, size_t n)
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

/* ---- hutch.tickets.events: edits, thread replies, PagerDuty acknowledge/resolve ---- */

/* A TicketEvent as the NotifyRequest-shaped input of deliver (ticket id and ids only). */
static void event_as_request(const Hutch__V1__TicketEvent *e, Hutch__V1__NotifyRequest *r)
{
    hutch__v1__notify_request__init(r);
    r->meta = e->meta;
    r->request_id = e->meta->id;
    r->ticket_id = e->ticket_id;
    r->alert_id = e->alert_id;
    r->kind = e->kind;
}

/* The outbox rows an event asks for (deterministic): a thread reply for a finding or
 * an escalation (bot mode), PagerDuty acknowledge on assignment and resolve on
 * resolution (when PagerDuty is on). */
static int plan_event(const notify_ctx *ctx, const Hutch__V1__TicketEvent *e, planned *p)
{
    memset(p, 0, sizeof *p);
    const char *k = e->kind ? e->kind : "";
    json_error_t jerr;
    json_t *detail = e->detail_json && *e->detail_json ? json_loads(e->detail_json, 0, &jerr) : NULL;
    json_t *reply = NULL;
    if (ctx->bot != NULL && !strcmp(k, "finding")) {
        slack_ticket_view v;
        memset(&v, 0, sizeof v);
        v.ticket_id = e->ticket_id;
        v.finding_severity = json_string_value(json_object_get(detail, "severity"));
        v.finding_summary = json_string_value(json_object_get(detail, "summary"));
        v.finding_reason = json_string_value(json_object_get(detail, "reason"));
        v.finding_recommendation = json_string_value(json_object_get(detail, "recommendation"));
        v.finding_by_llm = e->actor == NULL || !strcmp(e->actor, "hutch-agent");
        reply = slack_render_finding_reply(&v);
    } else if (ctx->bot != NULL && !strcmp(k, "severity")) {
        const char *sev = json_string_value(json_object_get(detail, "severity"));
        char line[300];
        snprintf(line, sizeof line, "Severity raised to %s by %s.", sev ? sev : "?", e->actor ? e->actor : "?");
        reply = slack_render_text_reply(line);
    }
    json_decref(detail);
    int rc = 0;
    notify_plan *plan = &p->plan;
    if (reply != NULL) {
        notify_target *t = &plan->targets[plan->n++];
        snprintf(t->row_id, sizeof t->row_id, "%s/slack-reply", e->meta->id);
        t->target = NOTIFY_TARGET_SLACK_REPLY;
        t->message = reply;
    }
    const char *pd = !strcmp(k, "resolved") ? "resolve" : !strcmp(k, "assigned") ? "acknowledge" : NULL;
    if (pd != NULL && ctx->cfg->pagerduty_routing_key[0]) {
        notify_target *t = &plan->targets[plan->n];
        snprintf(t->row_id, sizeof t->row_id, "%s/pagerduty", e->meta->id);
        t->target = NOTIFY_TARGET_PAGERDUTY;
        t->message = notify_render_pagerduty_action(e->ticket_id, pd);
        if (t->message == NULL)
            rc = -1;
        else
            plan->n++;
    }
    for (size_t i = 0; rc == 0 && i < plan->n; i++)
        if (!(p->texts[i] = json_dumps(plan->targets[i].message, JSON_COMPACT)))
            rc = -1;
    return rc;
}

/* PagerDuty acknowledge/resolve only for a ticket that paged. */
static int ticket_paged(pg *db, const char *ticket_id, bool *paged)
{
    const char *p[] = {ticket_id};
    PGresult *res = NULL;
    int rc = pg_exec(db, &res,
                     "SELECT 1 FROM notifications WHERE ticket_id = $1::uuid AND target = 'pagerduty'"
                     " AND kind NOT IN ('resolved', 'assigned') LIMIT 1",
                     1, p);
    *paged = rc == PG_OK && PQntuples(res) == 1;
    PQclear(res);
    return rc;
}

static int handle_events(notify_ctx *ctx, pg *db, consumer_item **items, size_t n)
{
    int rc = PG_OK;
    for (size_t i = 0; rc == PG_OK && i < n; i++) {
        const Hutch__V1__TicketEvent *e = (const Hutch__V1__TicketEvent *)items[i]->value;
        /* enrich's verdicts of an alert cluster has not bound yet: keyed by the alert */
        bool unbound_intel =
            e->kind && !strcmp(e->kind, "intel") && (!e->ticket_id || !*e->ticket_id) && ids_is_uuid(e->alert_id);
        if ((!unbound_intel && !ids_is_uuid(e->ticket_id)) || e->meta == NULL || !e->meta->id ||
            strlen(e->meta->id) > 100) {
            consumer_item_dead(items[i], "TicketEvent without a valid ticket_id (or, of kind intel, alert_id) or "
                                         "meta.id");
            continue;
        }
        if (unbound_intel) {
            /* bound since? then its message shows the verdicts; if not, the message the
             * ticket gets later reads them from the database when it is posted */
            char tid[37] = "";
            if (ctx->bot != NULL && (rc = slack_store_ticket_of_alert(db, e->alert_id, tid)) == PG_OK && *tid)
                rc = slack_store_changed(db, tid);
            continue;
        }
        /* any change of the ticket, "intel" verdicts included, is shown by an edit; a
         * chat turn is not a change of the ticket (the answer comes as a reply) */
        bool chat = e->kind && !strcmp(e->kind, "chat");
        if (ctx->bot != NULL && !chat)
            rc = slack_store_changed(db, e->ticket_id);
        planned p;
        if (rc == PG_OK && plan_event(ctx, e, &p) != 0)
            rc = PG_RETRY;
        notify_row rows[NOTIFY_MAX_TARGETS];
        size_t n_rows = 0;
        for (size_t t = 0; rc == PG_OK && t < p.plan.n; t++) {
            bool paged = true;
            if (!strcmp(p.plan.targets[t].target, NOTIFY_TARGET_PAGERDUTY) &&
                (rc = ticket_paged(db, e->ticket_id, &paged)) != PG_OK)
                break;
            if (paged)
                rows[n_rows++] = (notify_row){.row_id = p.plan.targets[t].row_id,
                                              .ticket_id = e->ticket_id,
                                              .alert_id = e->alert_id,
                                              .kind = e->kind,
                                              .target = p.plan.targets[t].target,
                                              .message = p.texts[t]};
        }
        if (rc == PG_OK)
            rc = notify_store_record(db, rows, n_rows);
        if (rc == PG_OK || rc == PG_RETRY)
            planned_free(&p);
    }
    return rc;
}

static int deliver_events(notify_ctx *ctx, consumer_item **items, size_t n)
{
    int rc = PG_OK;
    for (size_t i = 0; i < n; i++) {
        if (items[i]->dead)
            continue;
        const Hutch__V1__TicketEvent *e = (const Hutch__V1__TicketEvent *)items[i]->value;
        Hutch__V1__NotifyRequest r;
        event_as_request(e, &r);
        planned p;
        if (plan_event(ctx, e, &p) != 0) {
            planned_free(&p);
            rc = PG_RETRY;
            continue;
        }
        for (size_t t = 0; t < p.plan.n; t++) {
            char reason[CONSUMER_REASON_MAX] = "";
            char status[16];
            int attempts;
            /* rows exist only when handle_events recorded them (a PagerDuty row only for a ticket that paged) */
            if (notify_store_status(ctx->svc->db, p.plan.targets[t].row_id, status, sizeof status, &attempts) !=
                PG_OK) {
                rc = PG_RETRY;
                continue;
            }
            if (strcmp(status, "pending") != 0)
                continue;
            if (deliver(ctx, &r, &p.plan.targets[t], p.texts[t], reason, sizeof reason) != DELIVER_DONE)
                rc = PG_RETRY;
        }
        planned_free(&p);
    }
    return rc;
}

/* ---- hutch.slack.commands ---- */

/* Modal openers (views.open) and the salvage modal's Refresh (views.update): after the
 * commit, once (Slack's trigger_id lives 3 s; nothing of the ticket changes). */
static bool modal_only(const char *action)
{
    return !strcmp(action, "resolve_ticket") || !strcmp(action, "salvage") || !strcmp(action, "edit_ticket") ||
           !strcmp(action, "bind_alert") || !strcmp(action, "salvage_refresh");
}

/* What handle_commands did with an acting command, for deliver_commands' log line
 * (written after the commit, once). Found by item; reset when a batch is delivered. */
static command_result *result_of(notify_ctx *ctx, const consumer_item *item, bool add)
{
    for (size_t i = 0; i < ctx->n_results; i++)
        if (ctx->results[i].item == item && !strcmp(ctx->results[i].message_id, item->message_id))
            return &ctx->results[i];
    if (!add)
        return NULL;
    if (ctx->n_results == ctx->cap_results) {
        size_t cap = ctx->cap_results ? 2 * ctx->cap_results : 16;
        command_result *r = reallocarray(ctx->results, cap, sizeof *r);
        if (r == NULL)
            return NULL;
        ctx->results = r;
        ctx->cap_results = cap;
    }
    command_result *r = &ctx->results[ctx->n_results++];
    memset(r, 0, sizeof *r);
    r->item = item;
    snprintf(r->message_id, sizeof r->message_id, "%s", item->message_id);
    return r;
}

/* In the batch transaction, after a refusal: the reason as a reply in the ticket's
 * thread, through the outbox (row "<command id>/slack-reply"), when the ticket has a
 * posted message. */
static int record_refusal(notify_ctx *ctx, pg *db, consumer_item *item, const Hutch__V1__SlackCommand *c,
                          const char *err)
{
    slack_row where;
    if (ctx->bot == NULL || !ids_is_uuid(c->ticket_id))
        return PG_OK;
    int rc = slack_store_message_of(db, c->ticket_id, &where);
    if (rc != PG_OK || !where.found)
        return rc;
    char line[700];
    snprintf(line, sizeof line, "Could not %s (asked by %s): %s", c->action, c->actor, err);
    json_t *msg = slack_render_text_reply(line);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (text == NULL)
        return PG_RETRY;
    char row_id[160];
    snprintf(row_id, sizeof row_id, "%s/slack-reply", item->message_id);
    notify_row row = {.row_id = row_id,
                      .ticket_id = c->ticket_id,
                      .alert_id = ids_is_uuid(c->alert_id) ? c->alert_id : NULL,
                      .kind = "slack_refusal",
                      .target = NOTIFY_TARGET_SLACK_REPLY,
                      .channel = where.channel,
                      .message = text};
    rc = notify_store_record(db, &row, 1);
    free(text);
    return rc;
}

/* In the batch transaction, which holds each command's claim: a button's change to the
 * ticket runs here, as a savepoint of this transaction (common/ticket.h), so the claim
 * and the change commit together: a crash before the commit leaves neither (the
 * command is redelivered and carried out), after it both (a redelivery finds the claim
 * and does nothing). A mention becomes an AgentRequest (id derived from the command's,
 * so a redelivery produces the same message). */
static int handle_commands(notify_ctx *ctx, pg *db, consumer_item **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Hutch__V1__SlackCommand *c = (const Hutch__V1__SlackCommand *)items[i]->value;
        if (c->meta == NULL || c->action == NULL || c->action[0] == '\0') {
            consumer_item_dead(items[i], "SlackCommand without an action");
            continue;
        }
        bool mention = !strcmp(c->action, "mention");
        if (!mention && strcmp(c->action, "thread_reply") != 0) {
            if (modal_only(c->action) || items[i]->redelivered)
                continue;
            command_result *res = result_of(ctx, items[i], true);
            if (res == NULL)
                return PG_RETRY;
            /* a command of several operations (bind) is all or nothing */
            int rc = pg_exec(db, NULL, "SAVEPOINT slack_command", 0, NULL);
            if (rc == PG_OK)
                rc = slack_command_run(ctx->ops, db, c, res->err, sizeof res->err);
            if (rc == PG_OK)
                rc = pg_exec(db, NULL, "RELEASE SAVEPOINT slack_command", 0, NULL);
            else if (rc == TICKET_REFUSED && pg_exec(db, NULL, "ROLLBACK TO SAVEPOINT slack_command", 0, NULL) != PG_OK)
                rc = PG_RETRY;
            if (rc == PG_RETRY || rc == PG_FATAL)
                return rc; /* the batch again (PG_FATAL: bisected, this command dead-lettered alone) */
            res->rc = rc;
            res->logged = false;
            if (rc == TICKET_REFUSED && (rc = record_refusal(ctx, db, items[i], c, res->err)) != PG_OK)
                return rc;
            continue;
        }
        char ticket[37] = "";
        int rc = slack_store_ticket_of_thread(db, c->channel, c->message_ts, ticket);
        if (rc != PG_OK)
            return rc;
        if (!mention && ticket[0] == '\0')
            continue; /* a reply in a thread that is not a ticket's: not for the agent */
        if (ticket[0] == '\0') {
            /* the agent answers about a ticket: a mention elsewhere gets a hint, not a chat */
            consumer_item_log(LOG_LEVEL_INFO, items[i], "slack_mention_outside_ticket", "user", c->actor, "channel",
                              c->channel, NULL);
            json_t *hint = ctx->bot ? slack_render_text_reply("Mention me in the thread of a ticket's message to "
                                                              "ask about that ticket.")
                                    : NULL;
            char say_err[200];
            if (hint != NULL)
                slack_bot_say(ctx->bot, c->channel, c->message_ts, hint, say_err, sizeof say_err);
            json_decref(hint);
            continue;
        }
        msg_meta_buf meta;
        msg_meta_init(&meta, c->meta->trace_id, "hutch-notify", ids_now_ms(), c->meta->id);
        ids_uuid7_derived(meta.id, 0, c->meta->id);
        Hutch__V1__AgentRequest req;
        hutch__v1__agent_request__init(&req);
        req.meta = &meta.meta;
        req.request_id = meta.id;
        req.ticket_id = ticket;
        req.user = c->actor;
        req.text = c->comment;
        req.reply_channel = c->channel;
        req.reply_thread_ts = c->message_ts;
        if (consumer_emit(items[i], TOPIC_AGENT_REQUESTS, ticket[0] ? ticket : meta.id, &req.base) != 0)
            return PG_RETRY;
        consumer_item_log(LOG_LEVEL_INFO, items[i], "slack_mention_to_agent", "request_id", meta.id, "ticket_id",
                          ticket, "user", c->actor, NULL);
    }
    return PG_OK;
}

/* The bind modal's choices: the open tickets nearest the alert (common/similar.h, the
 * ranking of `hutchctl ticket similar`), the alert's own ticket left out; the latest
 * open ones when there is nothing to rank by (the alert has no vector yet, or no open
 * ticket has one). [{ticket_id, title, score?}] best first,
 * at most BIND_CHOICES. NEW json array, or NULL on a database error. */
#define BIND_CHOICES 10
static json_t *bind_choices(pg *db, const Hutch__V1__SlackCommand *c)
{
    similar_query q = {.alert_id = c->alert_id,
                       .exclude_ticket_id = ids_is_uuid(c->ticket_id) ? c->ticket_id : NULL,
                       .open_only = true,
                       .limit = BIND_CHOICES};
    similar_ticket *near = NULL;
    size_t n = 0;
    char err[256];
    int rc = ids_is_uuid(c->alert_id) ? similar_tickets(db, &q, &near, &n, err, sizeof err) : SIMILAR_NO_VECTORS;
    if (rc != PG_OK && rc != SIMILAR_NO_VECTORS) {
        LOG_WARN("slack_bind_choices", "alert_id", c->alert_id, "error", err, NULL);
        return NULL;
    }
    pg_array ids, scores;
    pg_array_init(&ids);
    pg_array_init(&scores);
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&ids, near[i].ticket_id);
        pg_array_addf(&scores, "%.4f", near[i].score);
    }
    free(near);
    char limit[16];
    snprintf(limit, sizeof limit, "%d", BIND_CHOICES);
    const char *ranked[] = {pg_array_text(&ids), pg_array_text(&scores)};
    const char *latest[] = {q.exclude_ticket_id, limit};
    PGresult *res = NULL;
    int qrc;
    if (n > 0) /* the ranking's order, with the titles */
        qrc = ranked[0] && ranked[1]
                  ? pg_exec(db, &res,
                            "SELECT coalesce(json_agg(json_build_object('ticket_id', t.ticket_id, 'title', t.title,"
                            " 'score', s.sc) ORDER BY s.ord), '[]')::text FROM unnest($1::uuid[], $2::float8[])"
                            " WITH ORDINALITY AS s(id, sc, ord) JOIN tickets t ON t.ticket_id = s.id",
                            2, ranked)
                  : PG_RETRY;
    else /* nothing to rank by (no vector, no embedded open ticket): the latest */
        qrc = pg_exec(db, &res,
                      "SELECT coalesce(json_agg(x), '[]')::text FROM (SELECT ticket_id, title FROM tickets"
                      " WHERE status = 'open' AND ticket_id IS DISTINCT FROM $1::uuid"
                      " ORDER BY last_alert_at DESC LIMIT $2::int) x",
                      2, latest);
    json_t *list = NULL;
    if (qrc == PG_OK && PQntuples(res) == 1) {
        json_error_t jerr;
        list = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
    }
    PQclear(res);
    pg_array_free(&ids);
    pg_array_free(&scores);
    return list;
}

/* A modal button: views.open, once (not on a redelivery: its trigger_id is stale). A
 * failure is said in the thread the button was in, best effort. */
static void open_modal(notify_ctx *ctx, pg *db, consumer_item *item, const Hutch__V1__SlackCommand *c)
{
    char err[512] = "";
    json_t *open = !strcmp(c->action, "bind_alert") ? bind_choices(db, c) : NULL;
    json_t *modal = slack_modal_for(c, open);
    json_decref(open);
    bool ok = modal && ctx->bot && slack_bot_open_view(ctx->bot, c->trigger_id, modal, err, sizeof err) == 0;
    if (modal == NULL)
        snprintf(err, sizeof err, "nothing to choose from");
    else if (ctx->bot == NULL)
        snprintf(err, sizeof err, "bot mode is off");
    json_decref(modal);
    if (ok) {
        consumer_item_log(LOG_LEVEL_INFO, item, "slack_modal_opened", "action", c->action, "actor", c->actor,
                          "ticket_id", c->ticket_id, NULL);
        return;
    }
    consumer_item_log(LOG_LEVEL_WARN, item, "slack_command_refused", "action", c->action, "actor", c->actor,
                      "ticket_id", c->ticket_id, "reason", err, NULL);
    if (ctx->bot != NULL && c->channel[0] && c->message_ts[0]) {
        char line[700];
        snprintf(line, sizeof line, "Could not %s (asked by %s): %s", c->action, c->actor, err);
        json_t *msg = slack_render_text_reply(line);
        char say_err[200];
        if (msg != NULL)
            slack_bot_say(ctx->bot, c->channel, c->message_ts, msg, say_err, sizeof say_err);
        json_decref(msg);
    }
}

/* The salvage modal's Refresh: the count of matches now, in the open modal. */
static void refresh_modal(notify_ctx *ctx, pg *db, consumer_item *item, const Hutch__V1__SlackCommand *c)
{
    char err[256] = "bot mode is off";
    json_t *view = ctx->bot ? slack_salvage_refresh(ctx->ops, db, c) : NULL;
    if (view != NULL && slack_bot_update_view(ctx->bot, c->view_id, c->view_hash, view, err, sizeof err) == 0)
        consumer_item_log(LOG_LEVEL_INFO, item, "slack_modal_refreshed", "ticket_id", c->ticket_id, "view_id",
                          c->view_id, NULL);
    else
        consumer_item_log(LOG_LEVEL_WARN, item, "slack_modal_not_refreshed", "ticket_id", c->ticket_id, "view_id",
                          c->view_id, "reason", !ctx->bot || view ? err : "out of memory", NULL);
    json_decref(view);
}

/* After the commit: the outcome of each acting command logged once, a refusal's reply
 * delivered from the outbox (also on a redelivery: its row may still be pending), and
 * the modals opened. PG_RETRY while a refusal's reply is to be tried again. */
static int deliver_commands(notify_ctx *ctx, consumer_item **items, size_t n)
{
    pg *db = ctx->svc->db;
    int result = PG_OK;
    for (size_t i = 0; i < n; i++) {
        const Hutch__V1__SlackCommand *c = (const Hutch__V1__SlackCommand *)items[i]->value;
        if (items[i]->dead || !strcmp(c->action, "mention") || !strcmp(c->action, "thread_reply"))
            continue;
        command_result *res = result_of(ctx, items[i], false);
        if (modal_only(c->action)) {
            if (!items[i]->redelivered && (res = result_of(ctx, items[i], true)) != NULL && !res->logged) {
                res->logged = true;
                if (!strcmp(c->action, "salvage_refresh"))
                    refresh_modal(ctx, db, items[i], c);
                else
                    open_modal(ctx, db, items[i], c);
            }
            continue;
        }
        if (res != NULL && !res->logged) {
            res->logged = true;
            if (res->rc == PG_OK)
                consumer_item_log(LOG_LEVEL_INFO, items[i], "slack_command_done", "action", c->action, "actor",
                                  c->actor, "ticket_id", c->ticket_id, NULL);
            else
                consumer_item_log(LOG_LEVEL_WARN, items[i], "slack_command_refused", "action", c->action, "actor",
                                  c->actor, "ticket_id", c->ticket_id, "reason", res->err, NULL);
        }
        notify_target t = {.target = NOTIFY_TARGET_SLACK_REPLY};
        snprintf(t.row_id, sizeof t.row_id, "%s/slack-reply", items[i]->message_id);
        char *text = NULL;
        if (notify_store_pending_message(db, t.row_id, &text) != PG_OK) {
            result = PG_RETRY;
            continue;
        }
        if (text == NULL)
            continue;
        json_error_t jerr;
        t.message = json_loads(text, 0, &jerr);
        Hutch__V1__NotifyRequest r;
        hutch__v1__notify_request__init(&r);
        r.meta = c->meta;
        r.request_id = (char *)items[i]->message_id;
        r.ticket_id = c->ticket_id;
        r.kind = "slack_refusal";
        char reason[CONSUMER_REASON_MAX] = "";
        if (t.message != NULL && deliver(ctx, &r, &t, text, reason, sizeof reason) != DELIVER_DONE)
            result = PG_RETRY;
        json_decref(t.message);
        free(text);
    }
    return result;
}

/* ---- the batch, split by topic ---- */

typedef struct {
    consumer_item **requests, **events, **commands;
    size_t n_requests, n_events, n_commands;
} by_topic;

static int split(consumer_item **items, size_t n, by_topic *b)
{
    memset(b, 0, sizeof *b);
    b->requests = calloc(n, sizeof *items);
    b->events = calloc(n, sizeof *items);
    b->commands = calloc(n, sizeof *items);
    if (!b->requests || !b->events || !b->commands)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *topic = items[i]->msg.topic;
        if (!strcmp(topic, TOPIC_TICKETS_EVENTS))
            b->events[b->n_events++] = items[i];
        else if (!strcmp(topic, TOPIC_SLACK_COMMANDS))
            b->commands[b->n_commands++] = items[i];
        else
            b->requests[b->n_requests++] = items[i];
    }
    return 0;
}

static void split_free(by_topic *b)
{
    free(b->requests);
    free(b->events);
    free(b->commands);
}

static int handle_batch(void *vctx, pg *db, consumer_item **items, size_t n)
{
    by_topic b;
    int rc = split(items, n, &b) == 0 ? PG_OK : PG_RETRY;
    if (rc == PG_OK && b.n_requests)
        rc = handle_requests(vctx, db, b.requests, b.n_requests);
    if (rc == PG_OK && b.n_events)
        rc = handle_events(vctx, db, b.events, b.n_events);
    if (rc == PG_OK && b.n_commands)
        rc = handle_commands(vctx, db, b.commands, b.n_commands);
    split_free(&b);
    return rc;
}

static int deliver_batch(void *vctx, pg *db, consumer_item **items, size_t n)
{
    by_topic b;
    if (split(items, n, &b) != 0) {
        split_free(&b);
        return PG_RETRY;
    }
    int rc = b.n_requests ? deliver_requests(vctx, db, b.requests, b.n_requests) : PG_OK;
    int rc2 = b.n_events ? deliver_events(vctx, b.events, b.n_events) : PG_OK;
    if (rc == PG_OK && rc2 == PG_OK && b.n_commands)
        rc2 = deliver_commands(vctx, b.commands, b.n_commands);
    split_free(&b);
    if (rc == PG_OK && rc2 == PG_OK)
        ((notify_ctx *)vctx)->n_results = 0; /* the batch is done: its items go away */
    return rc != PG_OK ? rc : rc2;
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
        LOG_INFO("notify_targets", "slack",
                 cfg.slack_bot_token[0]     ? "bot"
                 : cfg.slack_webhook_url[0] ? "webhook"
                                            : "log",
                 "pagerduty", cfg.pagerduty_routing_key[0] ? "on" : "off", "webhook", cfg.webhook_url[0] ? "on" : "off",
                 NULL);
        notify_ctx ctx = {.svc = &svc, .cfg = &cfg, .ops = slack_ticket_ops_default()};
        slack_http *hooks = NULL;
        rc = 0;
        if (cfg.slack_bot_token[0]) {
            if (!cfg.slack_channel[0]) {
                LOG_ERROR("notify_config", "error", "HUTCH_SLACK_BOT_TOKEN needs HUTCH_SLACK_CHANNEL", NULL);
                rc = 1;
            }
            slack_bot_config bc = {
                .api_url = cfg.slack_api_url,
                .token = cfg.slack_bot_token,
                .default_channel = cfg.slack_channel,
                .database_url = svc.common.database_url,
                .timeout_ms = (long)cfg.http_timeout_ms,
                .post_rate = cfg.slack_post_interval_ms > 0 ? 1000.0 / cfg.slack_post_interval_ms : 1000,
                .post_burst = (double)cfg.slack_post_burst,
                .edit_rate = cfg.slack_edit_interval_ms > 0 ? 1000.0 / cfg.slack_edit_interval_ms : 1000,
                .edit_burst = 1,
                .coalesce_ms = cfg.slack_edit_coalesce_ms,
                .poll_ms = 200};
            if (rc == 0 && ((ctx.bot = slack_bot_new(&bc)) == NULL || slack_bot_start(ctx.bot) != 0))
                rc = 1;
        }
        char hooks_err[256] = "";
        if (rc == 0 && cfg.slack_signing_secret[0] &&
            (hooks = slack_http_register(svc.http, svc.common.kafka_brokers, cfg.slack_signing_secret, hooks_err,
                                         sizeof hooks_err)) == NULL) {
            LOG_ERROR("notify_slack_callbacks", "error", hooks_err, NULL);
            rc = 1;
        }
        slack_socket *socket_mode = NULL;
        if (rc == 0 && cfg.slack_app_token[0]) {
            slack_socket_config sc = {.api_url = cfg.slack_api_url,
                                      .app_token = cfg.slack_app_token,
                                      .brokers = svc.common.kafka_brokers,
                                      .timeout_ms = (long)cfg.http_timeout_ms};
            if ((socket_mode = slack_socket_start(&sc, hooks_err, sizeof hooks_err)) == NULL) {
                LOG_ERROR("notify_slack_socket_mode", "error", hooks_err, NULL);
                rc = 1;
            }
        }
        LOG_INFO("notify_slack", "mode", ctx.bot ? "bot" : "webhook-or-log", "callbacks",
                 hooks ? "on" : "off (HUTCH_SLACK_SIGNING_SECRET unset)", "socket_mode",
                 socket_mode ? "on" : "off (HUTCH_SLACK_APP_TOKEN unset)", NULL);
        static const consumer_input inputs[] = {{TOPIC_NOTIFY_REQUESTS, &hutch__v1__notify_request__descriptor},
                                                {TOPIC_TICKETS_EVENTS, &hutch__v1__ticket_event__descriptor},
                                                {TOPIC_SLACK_COMMANDS, &hutch__v1__slack_command__descriptor},
                                                {NULL, NULL}};
        consumer_spec spec = {.inputs = inputs, .handle = handle_batch, .after_commit = deliver_batch};
        if (rc == 0)
            rc = service_consume(&svc, &spec, &ctx) == 0 ? 0 : 1;
        slack_socket_stop(socket_mode);
        http_server_stop(svc.http);
        slack_http_free(hooks);
        slack_bot_free(ctx.bot);
        free(ctx.results);
    }
    service_stop(&svc);
    notify_post_cleanup();
    config_free(notify_config_table, &cfg);
    return rc;
}
