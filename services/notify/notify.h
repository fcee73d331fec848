/* What notify says and to whom, as pure functions on a NotifyRequest: Slack Block
 * Kit rendering, the PagerDuty Events v2 body, the generic webhook body, the
 * outbox plan (one row per target), and how an HTTP answer is classified.
 * Nothing here does I/O; main.c, store.c and post.c do.
 *
 * Slack rules kept here: mrkdwn text escapes &, <, > (and only those) as
 * &amp; &lt; &gt;; header text is plain_text of at most 150 characters; section
 * text at most 3000; every string is valid UTF-8 (bad bytes become '?'). */
#ifndef HUTCH_NOTIFY_H
#define HUTCH_NOTIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/msg.h"

#define NOTIFY_HEADER_MAX 150      /* Slack header block plain_text limit (characters) */
#define NOTIFY_SECTION_MAX 3000    /* Slack section text limit (characters) */
#define NOTIFY_CONTEXT_MAX 2000    /* Slack context element text limit (characters) */
#define NOTIFY_BOUND_SUMMARY_MAX 300 /* summary bytes kept in an "alert bound" message */

/* Text with &, <, > escaped for Slack mrkdwn; invalid UTF-8 bytes as '?'. NEW (free()), NULL on OOM. */
char *notify_escape_mrkdwn(const char *text);
/* Copy of text cut to at most max_chars characters (code points) without splitting
 * one, with "…" appended when cut; invalid UTF-8 bytes as '?'. NEW, NULL on OOM. */
char *notify_truncate(const char *text, size_t max_chars);
/* text escaped for mrkdwn (when escape) and cut to at most max_chars characters of
 * the OUTPUT, never inside an escape or a character, "…" appended when cut; invalid
 * UTF-8 as '?'. NEW (free()), NULL on OOM. */
char *notify_fit(const char *text, size_t max_chars, bool escape);
/* Slack emoji shortcode for a severity name (":red_circle:" ...). Static string. */
const char *notify_severity_emoji(const char *severity);

/* {"text": fallback, "blocks": [...]} for an incoming webhook. new_ticket: header,
 * severity section, summary section, context (ticket id, indicators), actions
 * (hutch_ack / hutch_resolve buttons, value = ticket id). Any other kind: the short
 * "another alert bound" message. r BORROWED. NEW json_t, NULL on OOM. */
json_t *notify_render_slack(const Hutch__V1__NotifyRequest *r);

/* True when r pages: the triage said so (r->page) or the severity is critical. A high
 * ticket pages only on the triage's word. r BORROWED. */
bool notify_pages(const Hutch__V1__NotifyRequest *r);
/* PagerDuty Events v2 "acknowledge" or "resolve" body (without routing_key) for a
 * ticket: dedup_key = ticket id. NEW json_t, NULL on OOM. */
json_t *notify_render_pagerduty_action(const char *ticket_id, const char *action);
/* PagerDuty Events v2 "trigger" body WITHOUT routing_key (a secret, added only at
 * post time so it is never stored): dedup_key = ticket id. NEW json_t, NULL on OOM. */
json_t *notify_render_pagerduty(const Hutch__V1__NotifyRequest *r);
/* The NotifyRequest as a JSON object (generic webhook body). NEW json_t, NULL on OOM. */
json_t *notify_request_json(const Hutch__V1__NotifyRequest *r);

/* Where notifications go, from the settings (strings BORROWED; "" = not set). */
typedef struct {
    const char *slack_webhook_url;
    const char *pagerduty_routing_key;
    const char *webhook_url;
    bool slack_bot;   /* bot mode (HUTCH_SLACK_BOT_TOKEN set): target "slack" instead of the webhook */
} notify_settings;

/* Outbox targets (notifications.target values). */
#define NOTIFY_TARGET_LOG "log"
#define NOTIFY_TARGET_SLACK "slack-webhook"
#define NOTIFY_TARGET_PAGERDUTY "pagerduty"
#define NOTIFY_TARGET_WEBHOOK "webhook"
#define NOTIFY_TARGET_SLACK_BOT "slack"        /* the ticket's one message (slack_bot.h) */
#define NOTIFY_TARGET_SLACK_REPLY "slack-reply" /* a reply in the ticket's thread */

/* The request kind of the agent's answer to a question of hutch.agent.requests. */
#define NOTIFY_KIND_ANSWER "agent_answer"

#define NOTIFY_MAX_TARGETS 3

/* One outbox row to write. row_id is the notifications.request_id: the request id
 * for Slack/log, "<ticket id>/pagerduty" (one trigger per ticket, whatever the number
 * of requests) and "<request id>/webhook" for the others, so each target has its own
 * effect-once key. */
typedef struct {
    char row_id[128];
    const char *target;  /* static NOTIFY_TARGET_* */
    json_t *message;     /* NEW, owned by the plan */
} notify_target;

typedef struct {
    notify_target targets[NOTIFY_MAX_TARGETS];
    size_t n;
} notify_plan;

/* Fills plan for r: Slack (or "log" without a webhook URL), PagerDuty when a
 * routing key is set and r pages, the generic webhook when its URL is set.
 * Returns 0, or -1 on OOM / a request id too long (plan then safe to free). */
int notify_plan_make(notify_plan *plan, const Hutch__V1__NotifyRequest *r, const notify_settings *s);
void notify_plan_free(notify_plan *plan);

/* How an HTTP attempt ended. */
typedef enum {
    NOTIFY_SENT = 0,   /* 2xx */
    NOTIFY_RETRY,      /* no answer (timeout, connection), 5xx, 408, 429: try again */
    NOTIFY_FAILED,     /* other 4xx (a bad message: retrying will not help), 1xx/3xx */
} notify_outcome;

/* answered: false when no HTTP status came back (transport error). */
notify_outcome notify_classify(bool answered, long http_status);

#endif
