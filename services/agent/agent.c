/* Default triage without an LLM (see agent.h): the alert's severity as decided
 * upstream (common/severity.h), a summary, and the NotifyRequest. */
#include "services/agent/agent.h"

#include "common/severity.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"

const char *agent_alert_severity(const Hutch__V1__Alert *alert)
{
    severity_level level;
    if (alert->severity && severity_parse(alert->severity, &level) == 0)
        return severity_name(level);
    return severity_name(severity_from_score(alert->risk_score));
}

static bool is_empty(const char *s) { return s == NULL || *s == '\0'; }

/* Fills out[] with up to max distinct, non-empty indicators of alert; returns the count. */
static size_t distinct_indicators(const Hutch__V1__Alert *alert, const Hutch__V1__Indicator **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < alert->n_indicators && n < max; i++) {
        const Hutch__V1__Indicator *ind = alert->indicators[i];
        if (ind == NULL || is_empty(ind->type) || is_empty(ind->value))
            continue;
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(out[j]->type, ind->type) == 0 && strcmp(out[j]->value, ind->value) == 0;
        if (!seen)
            out[n++] = ind;
    }
    return n;
}

char *agent_summary(const Hutch__V1__Alert *alert)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    const char *text = !is_empty(alert->description) ? alert->description
                       : !is_empty(alert->title)     ? alert->title
                                                     : "(no description)";
    size_t cut = utf8_cut(text, strlen(text), AGENT_SUMMARY_DESCRIPTION_MAX);
    fwrite(text, 1, cut, f);
    if (cut < strlen(text))
        fputs("\xE2\x80\xA6", f); /* … */
    const Hutch__V1__Indicator *top[AGENT_SUMMARY_INDICATORS];
    size_t n = distinct_indicators(alert, top, AGENT_SUMMARY_INDICATORS);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s:%s", i == 0 ? "\nIndicators: " : ", ", top[i]->type, top[i]->value);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int64_t agent_input_time_ms(const Hutch__V1__Alert *alert, int64_t fallback_ms)
{
    if (alert->meta != NULL && alert->meta->created_unix_ms > 0)
        return alert->meta->created_unix_ms;
    if (alert->created_unix_ms > 0)
        return alert->created_unix_ms;
    return fallback_ms;
}

/* The time in a UUIDv7 (its first 48 bits), so the request id depends on the alert id
 * alone and stays the same whoever re-sends the alert; fallback for other ids. */
static int64_t uuid7_time_ms(const char *id, int64_t fallback)
{
    if (id == NULL || strlen(id) < 36 || id[8] != '-' || id[14] != '7')
        return fallback;
    int64_t ms = 0;
    for (int i = 0; i < 13; i++) {
        if (i == 8)
            continue;
        char c = id[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return fallback;
        ms = ms * 16 + d;
    }
    return ms;
}

int agent_notify_build(agent_notify *n, const Hutch__V1__Alert *alert, const char *severity,
                       const char *default_channel, int32_t alert_count, int64_t created_ms)
{
    memset(n, 0, sizeof *n);
    hutch__v1__notify_request__init(&n->req);

    char seed[160];
    snprintf(seed, sizeof seed, "%s/notify-request", alert->alert_id);
    ids_uuid7_derived(n->request_id, uuid7_time_ms(alert->alert_id, created_ms), seed);
    snprintf(seed, sizeof seed, "%s/agent/notify", alert->alert_id);
    msg_meta_init(&n->meta, alert->meta != NULL && !is_empty(alert->meta->trace_id) ? alert->meta->trace_id : NULL,
                  AGENT_PRODUCER, created_ms, seed);

    n->summary = agent_summary(alert);
    const Hutch__V1__Indicator *top[AGENT_NOTIFY_INDICATORS];
    size_t count = distinct_indicators(alert, top, AGENT_NOTIFY_INDICATORS);
    if (count > 0) {
        n->indicators = calloc(count, sizeof *n->indicators);
        if (n->indicators == NULL)
            return -1;
        for (size_t i = 0; i < count; i++) {
            if (asprintf(&n->indicators[i], "%s:%s", top[i]->type, top[i]->value) < 0) {
                n->indicators[i] = NULL;
                return -1;
            }
            n->req.n_indicators = i + 1;
        }
    }
    if (n->summary == NULL)
        return -1;

    /* protobuf-c wants char *; these are only read (packed), never freed through req. */
    n->req.meta = &n->meta.meta;
    n->req.request_id = n->request_id;
    n->req.ticket_id = alert->ticket_id;
    n->req.alert_id = alert->alert_id;
    n->req.kind = alert->new_ticket ? "new_ticket" : "alert_bound";
    n->req.title = !is_empty(alert->ticket_title) ? alert->ticket_title /* a storm's: cluster counts it */
                   : !is_empty(alert->title)      ? alert->title
                                                  : "(no title)";
    n->req.summary = n->summary;
    n->req.severity = (char *)severity;
    n->req.channel = !is_empty(alert->channel) ? alert->channel : (char *)(default_channel ? default_channel : "");
    n->req.publish = "alert";
    n->req.alert_count = alert_count < 1 ? 1 : alert_count;
    n->req.indicators = n->indicators;
    return 0;
}

void agent_notify_free(agent_notify *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; n->indicators != NULL && i < n->req.n_indicators; i++)
        free(n->indicators[i]);
    free(n->indicators);
    free(n->summary);
    n->indicators = NULL;
    n->summary = NULL;
    n->req.n_indicators = 0;
}

uint8_t *agent_pack_triaged(const Hutch__V1__Alert *alert, const char *severity, const char *publish,
                            int32_t alert_count, int64_t created_ms, size_t *len)
{
    const char *trace_id = alert->meta ? alert->meta->trace_id : NULL;
    msg_meta_buf meta;
    char seed[160];
    snprintf(seed, sizeof seed, "%s/agent/triaged", alert->alert_id);
    msg_meta_init(&meta, trace_id && *trace_id ? trace_id : NULL, AGENT_PRODUCER, created_ms, seed);
    json_t *d = json_pack("{s:s, s:s, s:i}", "severity", severity, "publish", publish ? publish : "alert",
                          "alert_count", (json_int_t)alert_count);
    char *detail = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (!detail)
        return NULL;
    Hutch__V1__TicketEvent ev = HUTCH__V1__TICKET_EVENT__INIT;
    ev.meta = &meta.meta;
    ev.ticket_id = alert->ticket_id;
    ev.kind = "triaged";
    ev.alert_id = alert->alert_id;
    ev.actor = AGENT_PRODUCER;
    ev.detail_json = detail;
    uint8_t *buf = msg_pack(&ev.base, len);
    free(detail);
    return buf;
}

int agent_answer_build(agent_notify *n, const char *question_id, const char *ticket_id, const char *user,
                       const char *trace_id, const char *answer, int64_t created_ms)
{
    memset(n, 0, sizeof *n);
    hutch__v1__notify_request__init(&n->req);
    char seed[300];
    snprintf(seed, sizeof seed, "%s/agent-answer", question_id);
    /* the question's own time (a UUIDv7 request id), so a re-sent answer has the same id */
    ids_uuid7_derived(n->request_id, uuid7_time_ms(question_id, 0), seed);
    snprintf(seed, sizeof seed, "%s/agent/answer", question_id);
    msg_meta_init(&n->meta, trace_id && *trace_id ? trace_id : NULL, AGENT_PRODUCER, created_ms, seed);
    if (asprintf(&n->summary, "%s%s%s", user && *user ? user : "", user && *user ? ": " : "", answer ? answer : "") <
        0) {
        n->summary = NULL;
        return -1;
    }
    n->req.meta = &n->meta.meta;
    n->req.request_id = n->request_id;
    n->req.ticket_id = (char *)ticket_id;
    n->req.alert_id = "";
    n->req.kind = "agent_answer";
    n->req.title = "Answer from the agent";
    n->req.summary = n->summary;
    n->req.severity = "";
    n->req.channel = "";
    n->req.publish = "notice";
    n->req.alert_count = 0;
    return 0;
}
