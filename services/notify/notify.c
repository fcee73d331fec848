/* Rendering and outbox planning for notify (see notify.h). Pure: no I/O.
 *
 * Every text that reaches Slack goes through one pass (fit_text) that replaces
 * invalid UTF-8, escapes mrkdwn when asked and stops on a character boundary at a
 * length limit counted in characters of the OUTPUT, so an escape is never cut in
 * half and no block exceeds Slack's limits (Slack rejects the whole message
 * otherwise, which for us would be a permanent 4xx). */
#include "services/notify/notify.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

#define ELLIPSIS "\xE2\x80\xA6"

/* The one text pass (see the file comment). escape: Slack mrkdwn escaping;
 * no_backtick: ` becomes ' (text placed inside a code span). NEW or NULL (OOM). */
static char *fit_text(const char *text, size_t max_chars, bool escape, bool no_backtick)
{
    if (text == NULL)
        text = "";
    size_t len = strlen(text);
    /* worst case: every byte becomes "&amp;" (5 bytes), plus the ellipsis */
    char *out = malloc(len * 5 + sizeof ELLIPSIS);
    if (out == NULL)
        return NULL;
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, o = 0, chars = 0;
    /* total output characters, to know whether an ellipsis will be needed */
    size_t total = 0;
    for (size_t j = 0; j < len;) {
        size_t n = utf8_seq_len(text + j, len - j);
        unsigned char c = p[j];
        total += escape && c == '&' ? 5 : escape && (c == '<' || c == '>') ? 4 : 1;
        j += n ? n : 1;
    }
    size_t limit = total > max_chars ? (max_chars > 0 ? max_chars - 1 : 0) : max_chars;
    while (i < len) {
        size_t n = utf8_seq_len(text + i, len - i);
        const char *rep = NULL;
        size_t rep_len = 1;
        char one = '?';
        if (n == 1) {
            one = (char)p[i];
            if (escape && one == '&')
                rep = "&amp;", rep_len = 5;
            else if (escape && one == '<')
                rep = "&lt;", rep_len = 4;
            else if (escape && one == '>')
                rep = "&gt;", rep_len = 4;
            else if (no_backtick && one == '`')
                one = '\'';
        }
        if (chars + rep_len > limit)
            break;
        if (rep != NULL) {
            memcpy(out + o, rep, rep_len);
            o += rep_len;
        } else if (n > 1) {
            memcpy(out + o, p + i, n);
            o += n;
        } else {
            out[o++] = one;
        }
        chars += rep_len;
        i += n ? n : 1;
    }
    if (total > max_chars && max_chars > 0) {
        memcpy(out + o, ELLIPSIS, sizeof ELLIPSIS - 1);
        o += sizeof ELLIPSIS - 1;
    }
    out[o] = '\0';
    return out;
}

char *notify_escape_mrkdwn(const char *text)
{
    return fit_text(text, SIZE_MAX, true, false);
}

char *notify_fit(const char *text, size_t max_chars, bool escape)
{
    return fit_text(text, max_chars, escape, false);
}

char *notify_truncate(const char *text, size_t max_chars)
{
    return fit_text(text, max_chars, false, false);
}

/* A JSON string of valid UTF-8 (NULL -> ""). NEW json_t or NULL. */
static json_t *jstr(const char *s)
{
    json_t *v = json_string(s ? s : "");
    if (v == NULL) {
        char *clean = fit_text(s, SIZE_MAX, false, false);
        v = clean ? json_string(clean) : NULL;
        free(clean);
    }
    return v;
}

/* Takes ownership of a NEW string and makes a JSON string of it. */
static json_t *jstr_take(char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    free(s);
    return v;
}

static bool empty(const char *s)
{
    return s == NULL || *s == '\0';
}

const char *notify_severity_emoji(const char *severity)
{
    if (severity == NULL)
        return ":white_circle:";
    if (!strcmp(severity, "critical"))
        return ":rotating_light:";
    if (!strcmp(severity, "high"))
        return ":red_circle:";
    if (!strcmp(severity, "medium"))
        return ":large_orange_circle:";
    if (!strcmp(severity, "low"))
        return ":large_yellow_circle:";
    if (!strcmp(severity, "info"))
        return ":large_blue_circle:";
    return ":white_circle:";
}

bool notify_pages(const Hutch__V1__NotifyRequest *r)
{
    return r->page || (r->severity != NULL && !strcmp(r->severity, "critical"));
}

static json_t *mrkdwn(char *text_new) /* takes the string */
{
    json_t *t = jstr_take(text_new);
    return t ? json_pack("{s:s, s:o}", "type", "mrkdwn", "text", t) : NULL;
}

static json_t *section(char *text_new)
{
    json_t *t = mrkdwn(text_new);
    return t ? json_pack("{s:s, s:o}", "type", "section", "text", t) : NULL;
}

/* "High" from "high", escaped (the severity is input, not trusted). NEW. */
static char *severity_label(const char *severity)
{
    char *s = fit_text(empty(severity) ? "unknown" : severity, 20, true, false);
    if (s != NULL && s[0] >= 'a' && s[0] <= 'z')
        s[0] = (char)(s[0] - 'a' + 'A');
    return s;
}

/* "Indicators: `ipv4:1.2.3.4`, `domain:x`" fitted to the context limit, or NULL if none. */
static char *indicators_text(const Hutch__V1__NotifyRequest *r)
{
    if (r->n_indicators == 0)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    fputs("Indicators:", f);
    for (size_t i = 0; i < r->n_indicators; i++) {
        char *v = fit_text(r->indicators[i], 200, true, true);
        if (v != NULL)
            fprintf(f, "%s `%s`", i ? "," : "", v);
        free(v);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    /* already escaped: only cut to the limit */
    char *fitted = fit_text(buf, NOTIFY_CONTEXT_MAX, false, false);
    free(buf);
    return fitted;
}

static char *printf_new(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *printf_new(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static json_t *button(const char *label, const char *action_id, const char *value, const char *style)
{
    json_t *b = json_pack("{s:s, s:{s:s, s:s}, s:s, s:o}", "type", "button", "text", "type", "plain_text", "text",
                          label, "action_id", action_id, "value", jstr(value));
    if (b != NULL && style != NULL)
        json_object_set_new(b, "style", json_string(style));
    return b;
}

static json_t *render_new_ticket(const Hutch__V1__NotifyRequest *r, json_t *blocks)
{
    const char *title = empty(r->title) ? "(no title)" : r->title;
    char *sev = severity_label(r->severity);
    char *title_esc = fit_text(title, 200, true, false);
    char *ticket = fit_text(r->ticket_id, 64, true, true);
    char *fallback = sev && title_esc ? printf_new("[%s] %s", sev, title_esc) : NULL;
    json_t *msg = NULL;
    int32_t n = r->alert_count < 1 ? 1 : r->alert_count;

    json_t *header = json_pack("{s:s, s:{s:s, s:o, s:b}}", "type", "header", "text", "type", "plain_text", "text",
                               jstr_take(notify_truncate(title, NOTIFY_HEADER_MAX)), "emoji", 1);
    json_array_append_new(blocks, header);
    json_array_append_new(blocks, section(sev ? printf_new("%s *%s* severity \xC2\xB7 %d alert%s",
                                                          notify_severity_emoji(r->severity), sev, (int)n,
                                                          n == 1 ? "" : "s")
                                              : NULL));
    if (!empty(r->summary))
        json_array_append_new(blocks, section(fit_text(r->summary, NOTIFY_SECTION_MAX, true, false)));
    json_t *ctx = json_array();
    json_array_append_new(ctx, mrkdwn(ticket ? printf_new("Ticket `%s`", ticket) : NULL));
    char *ind = indicators_text(r);
    bool has_ind = ind != NULL;
    if (has_ind)
        json_array_append_new(ctx, mrkdwn(ind));
    json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "context", "elements", ctx));
    json_t *buttons = json_array();
    json_array_append_new(buttons, button("Acknowledge", "hutch_ack", r->ticket_id, "primary"));
    json_array_append_new(buttons, button("Resolve", "hutch_resolve", r->ticket_id, NULL));
    json_array_append_new(blocks,
                          json_pack("{s:s, s:s, s:o}", "type", "actions", "block_id", "hutch_ticket", "elements", buttons));

    /* every append above must have worked: a message missing a block is not sent */
    if (fallback != NULL && json_array_size(blocks) == (empty(r->summary) ? 4u : 5u) &&
        json_array_size(ctx) == (has_ind ? 2u : 1u) && json_array_size(buttons) == 2)
        msg = json_pack("{s:o, s:O}", "text", jstr_take(fit_text(fallback, NOTIFY_SECTION_MAX, false, false)),
                        "blocks", blocks);
    free(sev);
    free(title_esc);
    free(ticket);
    free(fallback);
    return msg;
}

static json_t *render_bound(const Hutch__V1__NotifyRequest *r, json_t *blocks)
{
    const char *title = empty(r->title) ? "(no title)" : r->title;
    char *sev = severity_label(r->severity);
    char *title_esc = fit_text(title, NOTIFY_HEADER_MAX, true, false);
    char *ticket = fit_text(r->ticket_id, 64, true, true);
    char *alert = fit_text(r->alert_id, 64, true, true);
    json_t *msg = NULL;
    int32_t n = r->alert_count < 1 ? 1 : r->alert_count;

    char *line = sev && title_esc
                     ? printf_new(":link: Another alert bound to *%s* \xE2\x80\x94 %s *%s* \xC2\xB7 %d alert%s",
                                  title_esc, notify_severity_emoji(r->severity), sev, (int)n, n == 1 ? "" : "s")
                     : NULL;
    char *fallback = title_esc ? printf_new("Another alert bound to ticket: %s", title_esc) : NULL;
    json_array_append_new(blocks, section(line));
    if (!empty(r->summary))
        json_array_append_new(blocks, section(fit_text(r->summary, NOTIFY_BOUND_SUMMARY_MAX, true, false)));
    json_t *ctx = json_array();
    json_array_append_new(ctx, mrkdwn(ticket && alert ? printf_new("Ticket `%s` \xC2\xB7 alert `%s`", ticket, alert)
                                                      : NULL));
    json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "context", "elements", ctx));
    if (fallback != NULL && json_array_size(blocks) == (empty(r->summary) ? 2u : 3u) && json_array_size(ctx) == 1)
        msg = json_pack("{s:o, s:O}", "text", jstr_take(fit_text(fallback, NOTIFY_SECTION_MAX, false, false)),
                        "blocks", blocks);
    free(sev);
    free(title_esc);
    free(ticket);
    free(alert);
    free(fallback);
    return msg;
}

/* The agent's answer to a question (kind agent_answer; summary "USER: answer"): a
 * reply in the ticket's thread in bot mode, a message of its own through a webhook. */
static json_t *render_answer(const Hutch__V1__NotifyRequest *r, json_t *blocks)
{
    char *ticket = fit_text(r->ticket_id, 64, true, true);
    char *answer = fit_text(r->summary, NOTIFY_SECTION_MAX - 64, true, false);
    json_t *msg = NULL;
    json_array_append_new(blocks,
                          section(answer ? printf_new(":speech_balloon: *Answer from the agent*\n%s", answer) : NULL));
    json_t *ctx = json_array();
    json_array_append_new(
        ctx, mrkdwn(ticket ? printf_new("Ticket `%s` \xC2\xB7 written by a model: it may be wrong", ticket) : NULL));
    json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "context", "elements", ctx));
    if (json_array_size(blocks) == 2 && json_array_size(ctx) == 1)
        msg = json_pack("{s:o, s:O}", "text", jstr_take(fit_text(r->summary, NOTIFY_SECTION_MAX, false, false)),
                        "blocks", blocks);
    free(ticket);
    free(answer);
    return msg;
}

json_t *notify_render_slack(const Hutch__V1__NotifyRequest *r)
{
    json_t *blocks = json_array();
    if (blocks == NULL)
        return NULL;
    const char *kind = r->kind ? r->kind : "";
    json_t *msg = !strcmp(kind, "new_ticket")         ? render_new_ticket(r, blocks)
                  : !strcmp(kind, NOTIFY_KIND_ANSWER) ? render_answer(r, blocks)
                                                      : render_bound(r, blocks);
    json_decref(blocks);
    return msg;
}

static json_t *indicator_array(const Hutch__V1__NotifyRequest *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < r->n_indicators; i++)
        if (json_array_append_new(a, jstr(r->indicators[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *notify_render_pagerduty(const Hutch__V1__NotifyRequest *r)
{
    const char *pd_sev = r->severity && !strcmp(r->severity, "critical") ? "critical" : r->page ? "error" : "warning";
    char *summary = printf_new("[%s] %s", empty(r->severity) ? "unknown" : r->severity,
                               empty(r->title) ? "(no title)" : r->title);
    json_t *details = json_pack("{s:o, s:o, s:o, s:o, s:i, s:o, s:o}", "ticket_id", jstr(r->ticket_id), "alert_id",
                                jstr(r->alert_id), "request_id", jstr(r->request_id), "kind", jstr(r->kind),
                                "alert_count", (json_int_t)r->alert_count, "summary", jstr(r->summary), "indicators",
                                indicator_array(r));
    json_t *body = details ? json_pack("{s:s, s:o, s:s, s:{s:o, s:s, s:s, s:o}}", "event_action", "trigger",
                                       "dedup_key", jstr(r->ticket_id), "client", "Hutch", "payload", "summary",
                                       jstr_take(fit_text(summary, 1024, false, false)), "source", "hutch",
                                       "severity", pd_sev, "custom_details", details)
                           : NULL;
    free(summary);
    return body;
}

json_t *notify_render_pagerduty_action(const char *ticket_id, const char *action)
{
    return json_pack("{s:s, s:o}", "event_action", action, "dedup_key", jstr(ticket_id));
}

json_t *notify_request_json(const Hutch__V1__NotifyRequest *r)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:b}", "request_id",
                     jstr(r->request_id), "ticket_id", jstr(r->ticket_id), "alert_id", jstr(r->alert_id), "kind",
                     jstr(r->kind), "title", jstr(r->title), "summary", jstr(r->summary), "severity", jstr(r->severity),
                     "channel", jstr(r->channel), "publish", jstr(r->publish), "alert_count",
                     (json_int_t)r->alert_count, "indicators", indicator_array(r), "trace_id",
                     jstr(r->meta ? r->meta->trace_id : ""), "page", (int)r->page);
}

static int add_target(notify_plan *plan, const char *request_id, const char *suffix, const char *target, json_t *msg)
{
    if (msg == NULL)
        return -1;
    notify_target *t = &plan->targets[plan->n];
    int n = snprintf(t->row_id, sizeof t->row_id, "%s%s", request_id, suffix);
    if (n < 0 || (size_t)n >= sizeof t->row_id) {
        json_decref(msg);
        return -1;
    }
    t->target = target;
    t->message = msg;
    plan->n++;
    return 0;
}

int notify_plan_make(notify_plan *plan, const Hutch__V1__NotifyRequest *r, const notify_settings *s)
{
    memset(plan, 0, sizeof *plan);
    const char *rid = r->request_id ? r->request_id : "";
    bool answer = r->kind != NULL && !strcmp(r->kind, NOTIFY_KIND_ANSWER);
    /* bot mode: the ticket's one message, edited; an answer is a reply in its thread */
    const char *slack = s->slack_bot                  ? (answer ? NOTIFY_TARGET_SLACK_REPLY : NOTIFY_TARGET_SLACK_BOT)
                        : empty(s->slack_webhook_url) ? NOTIFY_TARGET_LOG
                                                      : NOTIFY_TARGET_SLACK;
    if (add_target(plan, rid, "", slack, notify_render_slack(r)) != 0)
        return -1;
    /* one page per ticket: the row is keyed by the ticket, so later requests find it done */
    if (!empty(s->pagerduty_routing_key) && notify_pages(r) &&
        add_target(plan, r->ticket_id ? r->ticket_id : "", "/pagerduty", NOTIFY_TARGET_PAGERDUTY,
                   notify_render_pagerduty(r)) != 0)
        return -1;
    if (!empty(s->webhook_url) &&
        add_target(plan, rid, "/webhook", NOTIFY_TARGET_WEBHOOK, notify_request_json(r)) != 0)
        return -1;
    return 0;
}

void notify_plan_free(notify_plan *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < plan->n; i++)
        json_decref(plan->targets[i].message);
    plan->n = 0;
}

notify_outcome notify_classify(bool answered, long http_status)
{
    if (!answered)
        return NOTIFY_RETRY;
    if (http_status >= 200 && http_status < 300)
        return NOTIFY_SENT;
    if (http_status == 408 || http_status == 429 || (http_status >= 500 && http_status < 600))
        return NOTIFY_RETRY;
    return NOTIFY_FAILED;
}
