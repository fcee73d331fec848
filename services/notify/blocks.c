/* Block Kit of a ticket's Slack message (see blocks.h). Pure: no I/O.
 *
 * Every builder appends to a blocks array and the message is returned only when
 * every allocation worked (a message missing a block is never sent): the helpers
 * return NULL on OOM and `ok` collects it. */
#include "services/notify/blocks.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/utf8.h"
#include "services/notify/notify.h"

static bool empty(const char *s) { return s == NULL || *s == '\0'; }

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

/* Escaped and cut copy (see notify_fit). NEW. */
static char *esc(const char *text, size_t max) { return notify_fit(text ? text : "", max, true); }

typedef struct {
    json_t *blocks;
    bool ok;
} builder;

static void add(builder *b, json_t *block)
{
    if (block == NULL || json_array_size(b->blocks) >= SLACK_MAX_BLOCKS || json_array_append_new(b->blocks, block))
        b->ok = false;
}

/* A JSON string taken from a NEW C string (freed here); NULL if s is NULL. */
static json_t *take(char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    free(s);
    return v;
}

static json_t *mrkdwn_take(char *s)
{
    json_t *t = take(s);
    return t ? json_pack("{s:s, s:o}", "type", "mrkdwn", "text", t) : NULL;
}

/* A section whose text is already escaped (s NEW, taken), cut to the section limit. */
static json_t *section_take(char *s)
{
    char *fitted = s ? notify_fit(s, NOTIFY_SECTION_MAX, false) : NULL;
    free(s);
    json_t *t = mrkdwn_take(fitted);
    return t ? json_pack("{s:s, s:o}", "type", "section", "text", t) : NULL;
}

static json_t *context_take(char *s)
{
    char *fitted = s ? notify_fit(s, NOTIFY_CONTEXT_MAX, false) : NULL;
    free(s);
    json_t *t = mrkdwn_take(fitted);
    return t ? json_pack("{s:s, s:[o]}", "type", "context", "elements", t) : NULL;
}

static json_t *plain(const char *text)
{
    return json_pack("{s:s, s:s, s:b}", "type", "plain_text", "text", text, "emoji", 1);
}

static json_t *button(const char *label, const char *action_id, const char *value, const char *style)
{
    char *v = notify_fit(value, SLACK_VALUE_MAX, false);
    json_t *b = v ? json_pack("{s:s, s:o, s:s, s:s}", "type", "button", "text", plain(label), "action_id", action_id,
                              "value", v)
                  : NULL;
    free(v);
    if (b != NULL && style != NULL && json_object_set_new(b, "style", json_string(style)) != 0) {
        json_decref(b);
        b = NULL;
    }
    return b;
}

static json_t *confirm(const char *title, const char *text, const char *yes)
{
    return json_pack("{s:o, s:{s:s, s:s}, s:o, s:o}", "title", plain(title), "text", "type", "mrkdwn", "text", text,
                     "confirm", plain(yes), "deny", plain("Cancel"));
}

static const char *severity_or_unknown(const char *s) { return empty(s) ? "unknown" : s; }

/* A Slack user id: what "slack:U123" names, when it looks like one (letters, digits). */
static bool slack_user_of(const char *actor, char out[32])
{
    if (actor == NULL || strncmp(actor, "slack:", 6) != 0)
        return false;
    const char *id = actor + 6;
    size_t n = strlen(id);
    if (n == 0 || n >= 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9')))
            return false;
    memcpy(out, id, n + 1);
    return true;
}

/* "<@U123>" for a Slack actor, else the escaped name, "_unassigned_" when empty. NEW. */
static char *assignee_text(const char *assignee)
{
    char user[32];
    if (empty(assignee))
        return strdup("_unassigned_");
    if (slack_user_of(assignee, user))
        return printf_new("<@%s>", user);
    return esc(assignee, 200);
}

/* A policy link is shown as <link|value> only when it cannot break out of the link
 * syntax: http(s), no spaces, no '|', '<', '>'. */
static bool safe_link(const char *link)
{
    if (empty(link) || (strncmp(link, "https://", 8) != 0 && strncmp(link, "http://", 7) != 0))
        return false;
    if (strlen(link) > 1000)
        return false;
    for (const char *p = link; *p; p++)
        if (*p == '|' || *p == '<' || *p == '>' || (unsigned char)*p <= ' ')
            return false;
    return true;
}

static json_t *field_take(char *s)
{
    char *fitted = s ? notify_fit(s, SLACK_FIELD_MAX, false) : NULL;
    free(s);
    return mrkdwn_take(fitted);
}

static json_t *attribute_field(const slack_field *f)
{
    char *key = esc(f->key, 100);
    /* the value sits in a code span or a link label: no backtick, '|' would end the label */
    char *value = esc(f->value, 1500);
    for (char *p = value; p && *p; p++)
        if (*p == '`' || (*p == '|' && safe_link(f->link)))
            *p = '\'';
    char *text = NULL;
    if (key && value)
        text = safe_link(f->link) ? printf_new("*%s:*\n<%s|%s>", key, f->link, value)
                                  : printf_new("*%s:*\n`%s`", key, value);
    free(key);
    free(value);
    return field_take(text);
}

static void add_header(builder *b, const slack_ticket_view *v)
{
    const char *icon = v->notice ? "\xF0\x9F\x94\x94" /* bell */ : "\xF0\x9F\x8E\xAB" /* ticket */;
    char *line = printf_new("%s %s", icon, empty(v->title) ? "(no title)" : v->title);
    char *cut = line ? notify_fit(line, NOTIFY_HEADER_MAX, false) : NULL; /* plain_text: no escaping */
    json_t *t = cut ? plain(cut) : NULL;
    add(b, t ? json_pack("{s:s, s:o}", "type", "header", "text", t) : NULL);
    free(line);
    free(cut);
}

static void add_summary(builder *b, const slack_ticket_view *v)
{
    char *id = esc(v->ticket_id, 64);
    char *sev = esc(severity_or_unknown(v->severity), 20);
    char *desc = empty(v->description) ? strdup("_no description_") : esc(v->description, NOTIFY_SECTION_MAX);
    long n = v->alert_count < 1 ? 1 : v->alert_count;
    char *text = id && sev && desc ? printf_new("%s *%s* \xC2\xB7 %ld alert%s \xC2\xB7 ticket `%s`\n%s",
                                                notify_severity_emoji(v->severity), sev, n, n == 1 ? "" : "s", id, desc)
                                   : NULL;
    add(b, section_take(text));
    free(id);
    free(sev);
    free(desc);
}

static void add_state_fields(builder *b, const slack_ticket_view *v)
{
    json_t *fields = json_array();
    char *status = esc(empty(v->status) ? "open" : v->status, 40);
    json_array_append_new(fields, field_take(status ? printf_new("*Status:*\n%s", status) : NULL));
    char *who = assignee_text(v->assignee);
    json_array_append_new(fields, field_take(who ? printf_new("*Assignee:*\n%s", who) : NULL));
    size_t want = 2;
    if (!empty(v->conclusion)) {
        char *c = esc(v->conclusion, 100);
        json_array_append_new(fields, field_take(c ? printf_new("*Conclusion:*\n%s", c) : NULL));
        free(c);
        want++;
    }
    if (!empty(v->reason)) {
        char *r = esc(v->reason, 1500);
        json_array_append_new(fields, field_take(r ? printf_new("*Reason:*\n%s", r) : NULL));
        free(r);
        want++;
    }
    free(status);
    free(who);
    if (fields == NULL || json_array_size(fields) != want) {
        json_decref(fields);
        b->ok = false;
        return;
    }
    add(b, json_pack("{s:s, s:o}", "type", "section", "fields", fields));
}

static void add_attributes(builder *b, const slack_ticket_view *v)
{
    if (v->n_fields == 0)
        return;
    json_t *fields = json_array();
    for (size_t i = 0; fields && i < v->n_fields && i < SLACK_MAX_FIELDS; i++)
        if (json_array_append_new(fields, attribute_field(&v->fields[i])) != 0)
            b->ok = false;
    if (fields == NULL ||
        json_array_size(fields) != (v->n_fields < SLACK_MAX_FIELDS ? v->n_fields : SLACK_MAX_FIELDS)) {
        json_decref(fields);
        b->ok = false;
        return;
    }
    add(b, json_pack("{s:s, s:o}", "type", "section", "fields", fields));
}

/* The verdicts as one section: "• `value`: *verdict* · provider · <link|details>". A
 * line is added whole or not at all (a cut could break a link), while the section
 * stays within Slack's limit with room for the closing "and more" line. */
#define VERDICTS_MORE "\n_and more: `hutchctl alert show` lists every verdict_"
static void add_verdicts(builder *b, const slack_ticket_view *v)
{
    if (v->n_verdicts == 0)
        return;
    strbuf text = {0};
    bool more = v->more_verdicts;
    strbuf_printf(&text, "\xF0\x9F\x9B\xA1 *Threat intel*");
    for (size_t i = 0; i < v->n_verdicts && i < SLACK_MAX_VERDICTS; i++) {
        const slack_verdict *x = &v->verdicts[i];
        char *value = esc(x->value, 200);
        for (char *p = value; p && *p; p++) /* it sits in a code span */
            if (*p == '`')
                *p = '\'';
        char *verdict = esc(empty(x->verdict) ? "unknown" : x->verdict, 20);
        char *provider = esc(x->provider, 40);
        char *line = value && verdict && provider
                         ? printf_new("\n\xE2\x80\xA2 `%s`: *%s* \xC2\xB7 %s%s%s%s", value, verdict, provider,
                                      safe_link(x->link) ? " \xC2\xB7 <" : "", safe_link(x->link) ? x->link : "",
                                      safe_link(x->link) ? "|details>" : "")
                         : NULL;
        if (line == NULL)
            text.failed = true;
        else if (text.len + strlen(line) + strlen(VERDICTS_MORE) > NOTIFY_SECTION_MAX) /* bytes >= characters */
            more = true;
        else
            strbuf_puts(&text, line);
        free(line);
        free(value);
        free(verdict);
        free(provider);
    }
    if (more)
        strbuf_puts(&text, VERDICTS_MORE);
    add(b, section_take(strbuf_take(&text)));
    strbuf_free(&text);
}

static bool has_finding(const slack_ticket_view *v)
{
    return !empty(v->finding_summary) || !empty(v->finding_reason) || !empty(v->finding_recommendation);
}

/* The finding as one section, then the disclaimer when the LLM wrote it. */
static void add_finding(builder *b, const slack_ticket_view *v)
{
    char *sev = esc(severity_or_unknown(v->finding_severity), 20);
    char *sum = esc(v->finding_summary, 1200);
    char *why = esc(v->finding_reason, 800);
    char *rec = esc(v->finding_recommendation, 800);
    char *text = sev && sum && why && rec
                     ? printf_new("\xF0\x9F\x94\x8D *Finding* \xC2\xB7 %s *%s*%s%s%s%s%s%s",
                                  notify_severity_emoji(v->finding_severity), sev, *sum ? "\n" : "", sum,
                                  *why ? "\n*Why:* " : "", why, *rec ? "\n*Suggested response:* " : "", rec)
                     : NULL;
    add(b, section_take(text));
    if (v->finding_by_llm)
        add(b, context_take(strdup(SLACK_LLM_DISCLAIMER)));
    free(sev);
    free(sum);
    free(why);
    free(rec);
}

static bool is_status(const slack_ticket_view *v, const char *s) { return v->status != NULL && !strcmp(v->status, s); }

static void add_actions(builder *b, const slack_ticket_view *v)
{
    bool closed = is_status(v, "resolved") || is_status(v, "archived");
    char block_id[SLACK_ID_MAX + 1];
    if (v->notice && !closed) {
        char *value = printf_new("escalate:%s", v->ticket_id ? v->ticket_id : "");
        json_t *opt = value ? json_pack("{s:o, s:s}", "text", plain("Escalate"), "value", value) : NULL;
        free(value);
        add(b, opt ? json_pack("{s:s, s:s, s:[{s:s, s:s, s:[o]}]}", "type", "actions", "block_id", "notice_actions",
                               "elements", "type", "overflow", "action_id", "notice_actions", "options", opt)
                   : NULL);
        return;
    }
    if (!empty(v->first_alert_id) && snprintf(block_id, sizeof block_id, "alert_actions:%s",
                                              v->ticket_id ? v->ticket_id : "") < (int)sizeof block_id) {
        json_t *el = json_array();
        size_t want = 0;
        if (closed) {
            json_array_append_new(el, button("Re-open", "reopen_alert", v->first_alert_id, NULL));
            want = 1;
        } else if (empty(v->assignee)) {
            json_array_append_new(el, button("Acknowledge", "ack_alert", v->first_alert_id, "primary"));
            json_array_append_new(el, button("Bind to ticket", "bind_alert", v->first_alert_id, NULL));
            json_t *decline = button("Decline", "decline_alert", v->first_alert_id, "danger");
            if (decline != NULL &&
                json_object_set_new(decline, "confirm", confirm("Decline?", "Mark as not actionable", "Decline")))
                b->ok = false;
            json_array_append_new(el, decline);
            want = 3;
        }
        if (el == NULL || json_array_size(el) != want) {
            json_decref(el);
            b->ok = false;
        } else if (want > 0) {
            add(b, json_pack("{s:s, s:s, s:o}", "type", "actions", "block_id", block_id, "elements", el));
        } else {
            json_decref(el);
        }
    }
    json_t *el = json_array();
    size_t want = 1;
    json_array_append_new(el, button("Edit", "edit_ticket", v->ticket_id, NULL));
    if (!closed) {
        json_array_append_new(el, button("Resolve", "resolve_ticket", v->ticket_id, "primary"));
        json_array_append_new(el, button("Salvage", "salvage", v->ticket_id, NULL));
        want = 3;
    }
    if (el == NULL || json_array_size(el) != want) {
        json_decref(el);
        b->ok = false;
        return;
    }
    add(b, json_pack("{s:s, s:s, s:o}", "type", "actions", "block_id", "ticket_actions", "elements", el));
}

/* The notification text (shown in pushes; Slack parses it as mrkdwn: escaped). */
static json_t *fallback_text(const slack_ticket_view *v)
{
    char *title = esc(empty(v->title) ? "(no title)" : v->title, 200);
    char *sev = esc(severity_or_unknown(v->severity), 20);
    char *text = title && sev ? printf_new("[%s] %s", sev, title) : NULL;
    free(title);
    free(sev);
    char *fitted = text ? notify_fit(text, NOTIFY_SECTION_MAX, false) : NULL;
    free(text);
    return take(fitted);
}

static json_t *finish(builder *b, json_t *text)
{
    json_t *msg = b->ok && text ? json_pack("{s:o, s:O}", "text", text, "blocks", b->blocks) : NULL;
    if (msg == NULL && text != NULL && !b->ok)
        json_decref(text);
    json_decref(b->blocks);
    return msg;
}

json_t *slack_render_ticket(const slack_ticket_view *v)
{
    builder b = {json_array(), true};
    if (b.blocks == NULL)
        return NULL;
    add_header(&b, v);
    add_summary(&b, v);
    if (!v->notice)
        add_state_fields(&b, v);
    add_attributes(&b, v);
    add_verdicts(&b, v);
    if (has_finding(v)) {
        add(&b, json_pack("{s:s}", "type", "divider"));
        add_finding(&b, v);
    }
    if (!empty(v->note))
        add(&b, context_take(printf_new(":information_source: %s", v->note)));
    add_actions(&b, v);
    return finish(&b, fallback_text(v));
}

json_t *slack_render_finding_reply(const slack_ticket_view *v)
{
    builder b = {json_array(), true};
    if (b.blocks == NULL)
        return NULL;
    add_finding(&b, v);
    char *sum = esc(empty(v->finding_summary) ? "The agent has a finding." : v->finding_summary, 300);
    char *text = sum ? printf_new("Finding: %s", sum) : NULL;
    free(sum);
    return finish(&b, take(text));
}

json_t *slack_render_text_reply(const char *text)
{
    builder b = {json_array(), true};
    if (b.blocks == NULL)
        return NULL;
    add(&b, section_take(esc(text, NOTIFY_SECTION_MAX)));
    return finish(&b, take(esc(text, 300)));
}

/* ---- reading the view from the JSON document ---- */

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *first_of(const json_t *o, const char *a, const char *b)
{
    const char *s = str_at(o, a);
    return !empty(s) ? s : str_at(o, b);
}

int slack_view_from_json(const json_t *doc, slack_ticket_view *v)
{
    memset(v, 0, sizeof *v);
    const json_t *t = json_object_get(doc, "ticket");
    if (!json_is_object(t) || empty(str_at(t, "ticket_id")))
        return -1;
    v->ticket_id = str_at(t, "ticket_id");
    v->title = str_at(t, "title");
    v->description = first_of(t, "description", "summary");
    v->status = str_at(t, "status");
    v->severity = str_at(t, "severity");
    v->assignee = str_at(t, "assignee");
    v->conclusion = str_at(t, "conclusion");
    v->reason = first_of(t, "reason", "resolution_reason");
    const json_t *count = json_object_get(t, "alert_count");
    v->alert_count = json_is_integer(count) ? (long)json_integer_value(count) : 0;
    const json_t *f = json_object_get(t, "finding");
    if (json_is_string(f)) /* a jsonb stored as text */
        f = NULL;
    if (json_is_object(f)) {
        v->finding_severity = str_at(f, "severity");
        v->finding_summary = str_at(f, "summary");
        v->finding_reason = str_at(f, "reason");
        v->finding_recommendation = str_at(f, "recommendation");
        const char *actor = str_at(f, "actor");
        if (actor == NULL)
            actor = str_at(doc, "finding_actor");
        v->finding_by_llm = actor == NULL || !strcmp(actor, "hutch-agent");
    }
    v->first_alert_id = str_at(doc, "first_alert_id");
    const char *publish = str_at(doc, "publish");
    v->notice = publish != NULL && !strcmp(publish, "notice");
    v->note = str_at(doc, "note");
    const json_t *attrs = json_object_get(doc, "attributes");
    size_t i;
    const json_t *a;
    json_array_foreach (attrs, i, a) {
        if (v->n_fields == SLACK_MAX_FIELDS)
            break;
        if (empty(str_at(a, "key")) || str_at(a, "value") == NULL)
            continue;
        v->fields[v->n_fields++] = (slack_field){str_at(a, "key"), str_at(a, "value"), str_at(a, "link")};
    }
    const json_t *intel = json_object_get(doc, "intel");
    json_array_foreach (intel, i, a) {
        if (empty(str_at(a, "value")) || empty(str_at(a, "provider")))
            continue;
        if (v->n_verdicts == SLACK_MAX_VERDICTS) {
            v->more_verdicts = true;
            break;
        }
        v->verdicts[v->n_verdicts++] =
            (slack_verdict){str_at(a, "value"), str_at(a, "provider"), str_at(a, "verdict"), str_at(a, "link")};
    }
    return 0;
}

/* ---- limits ---- */

static size_t chars_of(const json_t *text_obj)
{
    const char *s = json_string_value(json_object_get(text_obj, "text"));
    return s ? utf8_chars(s) : 0;
}

const char *slack_check_limits(const json_t *msg)
{
    const json_t *blocks = json_object_get(msg, "blocks");
    if (blocks == NULL)
        return json_is_string(json_object_get(msg, "text")) ? NULL : "a message needs text or blocks";
    if (!json_is_array(blocks))
        return "blocks is not an array";
    if (json_array_size(blocks) > SLACK_MAX_BLOCKS)
        return "more than 50 blocks";
    size_t i;
    const json_t *b;
    json_array_foreach (blocks, i, b) {
        const char *type = str_at(b, "type");
        const char *block_id = str_at(b, "block_id");
        if (type == NULL)
            return "a block without a type";
        if (block_id != NULL && strlen(block_id) > SLACK_ID_MAX)
            return "block_id longer than 255";
        if (!strcmp(type, "header")) {
            const json_t *t = json_object_get(b, "text");
            if (strcmp(str_at(t, "type") ? str_at(t, "type") : "", "plain_text") != 0)
                return "header text is not plain_text";
            if (chars_of(t) > NOTIFY_HEADER_MAX)
                return "header longer than 150 characters";
        } else if (!strcmp(type, "section")) {
            const json_t *t = json_object_get(b, "text");
            const json_t *fields = json_object_get(b, "fields");
            if (t == NULL && fields == NULL)
                return "section without text or fields";
            if (t != NULL && chars_of(t) > NOTIFY_SECTION_MAX)
                return "section text longer than 3000 characters";
            if (json_array_size(fields) > SLACK_MAX_FIELDS)
                return "more than 10 fields";
            size_t j;
            const json_t *f;
            json_array_foreach (fields, j, f)
                if (chars_of(f) > SLACK_FIELD_MAX)
                    return "field longer than 2000";
        } else if (!strcmp(type, "context")) {
            const json_t *els = json_object_get(b, "elements");
            if (json_array_size(els) == 0 || json_array_size(els) > 10)
                return "context needs 1 to 10 elements";
            size_t j;
            const json_t *e;
            json_array_foreach (els, j, e)
                if (chars_of(e) > NOTIFY_CONTEXT_MAX)
                    return "context element too long";
        } else if (!strcmp(type, "actions")) {
            const json_t *els = json_object_get(b, "elements");
            if (json_array_size(els) == 0 || json_array_size(els) > 25)
                return "actions needs 1 to 25 elements";
            size_t j;
            const json_t *e;
            json_array_foreach (els, j, e) {
                const char *aid = str_at(e, "action_id");
                const char *value = str_at(e, "value");
                if (aid != NULL && strlen(aid) > SLACK_ID_MAX)
                    return "action_id longer than 255";
                if (value != NULL && utf8_chars(value) > SLACK_VALUE_MAX)
                    return "button value longer than 2000";
            }
        } else if (strcmp(type, "divider") != 0) {
            return "unknown block type";
        }
    }
    return NULL;
}
