/* Default triage without an LLM (see agent.h): severity from payload hints,
 * a summary, and the NotifyRequest for one alert.
 *
 * Severity hints are looked up in a fixed list of places (the payload itself and
 * the wrappers vendors use: EventBridge "detail", Security Hub "findings[0]",
 * CrowdStrike "event", Azure "properties", Google SCC "finding"), first hit wins.
 * Within one object, the most specific key wins: ASFF Severity.Label, then
 * CrowdStrike SeverityName, then Falco priority, then severity/Severity. */
#include "services/agent/agent.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"

static const char *const severity_names[] = {"info", "low", "medium", "high", "critical"};

const char *agent_severity_name(agent_severity s)
{
    if (s < AGENT_SEV_INFO || s > AGENT_SEV_CRITICAL)
        return "medium";
    return severity_names[s];
}

agent_severity agent_severity_parse(const char *name)
{
    if (name == NULL)
        return AGENT_SEV_NONE;
    for (int i = AGENT_SEV_INFO; i <= AGENT_SEV_CRITICAL; i++)
        if (strcmp(name, severity_names[i]) == 0)
            return (agent_severity)i;
    return AGENT_SEV_NONE;
}

agent_severity agent_severity_from_guardduty(double severity)
{
    if (isnan(severity))
        return AGENT_SEV_NONE;
    if (severity < 4.0)
        return AGENT_SEV_LOW;
    if (severity < 7.0)
        return AGENT_SEV_MEDIUM;
    if (severity < 9.0)
        return AGENT_SEV_HIGH;
    return AGENT_SEV_CRITICAL;
}

agent_severity agent_severity_from_risk(double risk_score)
{
    if (isnan(risk_score) || risk_score < 30.0)
        return AGENT_SEV_LOW;
    if (risk_score < 60.0)
        return AGENT_SEV_MEDIUM;
    if (risk_score < 80.0)
        return AGENT_SEV_HIGH;
    return AGENT_SEV_CRITICAL;
}

/* Copies text trimmed into buf (lowercase); false when it does not fit or is empty. */
static bool normalise(const char *text, char *buf, size_t buflen)
{
    if (text == NULL)
        return false;
    while (isspace((unsigned char)*text))
        text++;
    size_t len = strlen(text);
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == 0 || len >= buflen)
        return false;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)tolower((unsigned char)text[i]);
    buf[len] = '\0';
    return true;
}

static bool parse_number(const char *text, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

agent_severity agent_severity_from_text(const char *text)
{
    static const struct {
        const char *word;
        agent_severity sev;
    } words[] = {
        {"critical", AGENT_SEV_CRITICAL}, {"crit", AGENT_SEV_CRITICAL},
        {"emergency", AGENT_SEV_CRITICAL}, {"emerg", AGENT_SEV_CRITICAL},
        {"alert", AGENT_SEV_CRITICAL},    {"fatal", AGENT_SEV_CRITICAL},
        {"high", AGENT_SEV_HIGH},         {"error", AGENT_SEV_HIGH},
        {"err", AGENT_SEV_HIGH},          {"severe", AGENT_SEV_HIGH},
        {"medium", AGENT_SEV_MEDIUM},     {"moderate", AGENT_SEV_MEDIUM},
        {"warning", AGENT_SEV_MEDIUM},    {"warn", AGENT_SEV_MEDIUM},
        {"low", AGENT_SEV_LOW},           {"notice", AGENT_SEV_LOW},
        {"info", AGENT_SEV_INFO},         {"informational", AGENT_SEV_INFO},
        {"information", AGENT_SEV_INFO},  {"debug", AGENT_SEV_INFO},
    };
    char buf[32];
    if (!normalise(text, buf, sizeof buf))
        return AGENT_SEV_NONE;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(buf, words[i].word) == 0)
            return words[i].sev;
    double v;
    if (parse_number(buf, &v) && v >= 0.0) /* "8.0": GuardDuty-like up to 10, else 0-100 */
        return v <= 10.0 ? agent_severity_from_guardduty(v) : agent_severity_from_risk(v);
    return AGENT_SEV_NONE;
}

agent_severity agent_severity_from_falco(const char *priority)
{
    char buf[32];
    if (!normalise(priority, buf, sizeof buf))
        return AGENT_SEV_NONE;
    if (!strcmp(buf, "emergency") || !strcmp(buf, "alert") || !strcmp(buf, "critical"))
        return AGENT_SEV_CRITICAL;
    if (!strcmp(buf, "error"))
        return AGENT_SEV_HIGH;
    if (!strcmp(buf, "warning"))
        return AGENT_SEV_MEDIUM;
    if (!strcmp(buf, "notice") || !strcmp(buf, "informational") || !strcmp(buf, "info") ||
        !strcmp(buf, "debug"))
        return AGENT_SEV_LOW;
    return agent_severity_from_text(priority);
}

/* CrowdStrike "Severity": 1-5 (informational .. critical), or 0-100 in some APIs. */
static agent_severity from_crowdstrike_number(double v)
{
    if (isnan(v) || v < 0.0)
        return AGENT_SEV_NONE;
    if (v <= 5.0) {
        if (v < 2.0)
            return AGENT_SEV_INFO;
        if (v < 3.0)
            return AGENT_SEV_LOW;
        if (v < 4.0)
            return AGENT_SEV_MEDIUM;
        if (v < 5.0)
            return AGENT_SEV_HIGH;
        return AGENT_SEV_CRITICAL;
    }
    return agent_severity_from_risk(v);
}

/* Wazuh rule.level 0-15. */
static agent_severity from_wazuh_level(double v)
{
    if (v >= 12.0)
        return AGENT_SEV_CRITICAL;
    if (v >= 8.0)
        return AGENT_SEV_HIGH;
    if (v >= 4.0)
        return AGENT_SEV_MEDIUM;
    return AGENT_SEV_LOW;
}

static agent_severity hints_in(const json_t *obj)
{
    if (!json_is_object(obj))
        return AGENT_SEV_NONE;
    agent_severity s;
    const json_t *v = json_object_get(obj, "Severity");
    if (json_is_object(v)) { /* ASFF */
        const json_t *label = json_object_get(v, "Label");
        if (json_is_string(label) && (s = agent_severity_from_text(json_string_value(label))) != AGENT_SEV_NONE)
            return s;
        const json_t *norm = json_object_get(v, "Normalized");
        if (json_is_number(norm))
            return agent_severity_from_risk(json_number_value(norm));
    }
    v = json_object_get(obj, "SeverityName"); /* CrowdStrike */
    if (json_is_string(v) && (s = agent_severity_from_text(json_string_value(v))) != AGENT_SEV_NONE)
        return s;
    v = json_object_get(obj, "priority"); /* Falco */
    if (json_is_string(v) && (s = agent_severity_from_falco(json_string_value(v))) != AGENT_SEV_NONE)
        return s;
    v = json_object_get(obj, "severity"); /* GuardDuty (number), Defender, SCC, generic (text) */
    if (json_is_number(v))
        return agent_severity_from_guardduty(json_number_value(v));
    if (json_is_string(v) && (s = agent_severity_from_text(json_string_value(v))) != AGENT_SEV_NONE)
        return s;
    v = json_object_get(obj, "Severity"); /* CrowdStrike number, or text */
    if (json_is_number(v))
        return from_crowdstrike_number(json_number_value(v));
    if (json_is_string(v) && (s = agent_severity_from_text(json_string_value(v))) != AGENT_SEV_NONE)
        return s;
    return AGENT_SEV_NONE;
}

static const json_t *first_of(const json_t *v)
{
    return json_is_array(v) ? json_array_get(v, 0) : NULL;
}

agent_severity agent_severity_from_payload(const json_t *payload)
{
    if (!json_is_object(payload))
        return AGENT_SEV_NONE;
    const json_t *detail = json_object_get(payload, "detail");
    const json_t *candidates[] = {
        payload,
        detail,
        first_of(json_object_get(detail, "findings")),
        first_of(json_object_get(payload, "findings")),
        json_object_get(payload, "finding"),
        json_object_get(payload, "event"),
        json_object_get(payload, "properties"),
    };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        agent_severity s = hints_in(candidates[i]);
        if (s != AGENT_SEV_NONE)
            return s;
    }
    const json_t *rule = json_object_get(payload, "rule"); /* Wazuh */
    const json_t *level = json_is_object(rule) ? json_object_get(rule, "level") : NULL;
    if (json_is_number(level))
        return from_wazuh_level(json_number_value(level));
    return AGENT_SEV_NONE;
}

agent_severity agent_triage_severity(const Hutch__V1__Alert *alert, const json_t *payload)
{
    agent_severity s = agent_severity_from_payload(payload);
    if (s != AGENT_SEV_NONE)
        return s;
    for (size_t i = 0; alert != NULL && i < alert->n_attributes; i++) {
        const Hutch__V1__Attribute *a = alert->attributes[i];
        if (a != NULL && a->key != NULL && strcasecmp(a->key, "severity") == 0 &&
            (s = agent_severity_from_text(a->value)) != AGENT_SEV_NONE)
            return s;
    }
    return agent_severity_from_risk(alert != NULL ? alert->risk_score : 0.0);
}

static bool is_empty(const char *s)
{
    return s == NULL || *s == '\0';
}

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
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
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
                  "hutch-agent", created_ms, seed);

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
    n->req.title = !is_empty(alert->title) ? alert->title : "(no title)";
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
