/* Policy's domain logic (policy.h): the default engine and Alert packing.
 *
 * The default engine follows Warren's non-strict mode: every event becomes one
 * alert; title and description come from the fields security products commonly
 * use (GuardDuty via EventBridge: detail.title / detail.type; Security Hub via
 * EventBridge: detail.findings[0].Title; Google SCC: finding.category; Falco: rule /
 * output; Wazuh: rule.description; SNS-style: Message), and
 * severity hints stay in the payload for the agent to read. */
#include "services/policy/policy.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"

static const char *const title_paths[] = {
    "title", "Title", "name", "rule", "Rule", "detail.title", "detail.type", "detail.findings.0.Title",
    "finding.category", "rule.description", "output", "Message", "message", "description", NULL,
};
static const char *const description_paths[] = {
    "description", "Description", "detail.description", "detail.findings.0.Description", "output", "full_log",
    NULL,
};
static const char *const namespace_paths[] = {"namespace", NULL};

#define NO_TITLE "(no title)"

const char *policy_first_string(const json_t *payload, const char *const *paths)
{
    for (size_t i = 0; paths[i]; i++) {
        const json_t *v = payload;
        const char *p = paths[i];
        while (v && *p) {
            const char *dot = strchr(p, '.');
            size_t n = dot ? (size_t)(dot - p) : strlen(p);
            char key[64];
            if (n >= sizeof key || !(json_is_object(v) || json_is_array(v))) {
                v = NULL;
                break;
            }
            memcpy(key, p, n);
            key[n] = '\0';
            /* a segment of digits indexes an array: "detail.findings.0.Title" */
            if (json_is_array(v) && n > 0 && strspn(key, "0123456789") == n)
                v = json_array_get(v, strtoul(key, NULL, 10));
            else
                v = json_object_get(v, key);
            p += n + (dot ? 1 : 0);
        }
        if (json_is_string(v) && json_string_length(v) > 0)
            return json_string_value(v);
    }
    return NULL;
}

policy_alert *policy_decision_add(policy_decision *d)
{
    policy_alert *grown = realloc(d->alerts, (d->count + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    d->alerts = grown;
    policy_alert *a = &d->alerts[d->count];
    memset(a, 0, sizeof *a);
    a->title = strdup("");
    a->description = strdup("");
    a->namespace = strdup("");
    a->source = strdup("");
    a->channel = strdup("");
    a->severity = strdup("");
    a->severity_score = -1;
    a->tags = json_array();
    a->attributes = json_array();
    d->count++; /* counted even when incomplete, so policy_decision_free releases it */
    if (!a->title || !a->description || !a->namespace || !a->source || !a->channel || !a->severity || !a->tags ||
        !a->attributes)
        return NULL;
    return a;
}

int policy_set_string(char **slot, const char *value)
{
    char *copy = strdup(value ? value : "");
    if (!copy)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

int policy_default_eval(const policy_input *in, policy_decision *out, char *err, size_t errlen)
{
    json_t *payload = in->payload_json ? json_loads(in->payload_json, JSON_DECODE_ANY, NULL) : NULL;
    out->package = strdup("");
    policy_alert *a = out->package ? policy_decision_add(out) : NULL;
    const char *title = policy_first_string(payload, title_paths);
    int rc = 0;
    if (!a || policy_set_string(&a->title, title ? title : NO_TITLE) != 0 ||
        policy_set_string(&a->description, policy_first_string(payload, description_paths)) != 0 ||
        policy_set_string(&a->namespace, policy_first_string(payload, namespace_paths)) != 0 ||
        policy_set_string(&a->source, in->schema) != 0) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    json_decref(payload);
    return rc;
}

const char *policy_json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

int policy_merge_attributes(policy_alert *a, const json_t *stored)
{
    size_t i;
    const json_t *attr;
    json_array_foreach(stored, i, attr) {
        const char *key = json_string_value(json_object_get(attr, "key"));
        if (!key)
            continue;
        bool present = false;
        size_t j;
        const json_t *own;
        json_array_foreach(a->attributes, j, own) {
            const char *k = json_string_value(json_object_get(own, "key"));
            if (k && strcmp(k, key) == 0) {
                present = true;
                break;
            }
        }
        if (!present && json_array_append(a->attributes, (json_t *)attr) != 0)
            return -1;
    }
    return 0;
}

int policy_add_event_attributes(policy_decision *d, const Hutch__V1__RawEvent *ev)
{
    if (!ev || ev->n_attributes == 0 || d->count == 0)
        return 0;
    json_t *list = json_array();
    int rc = list ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < ev->n_attributes; i++) {
        const Hutch__V1__Attribute *at = ev->attributes[i];
        if (!at->key || !*at->key)
            continue;
        rc = json_array_append_new(list, json_pack("{s:s, s:s}", "key", at->key, "value", at->value ? at->value : ""));
    }
    for (size_t i = 0; rc == 0 && i < d->count; i++)
        rc = policy_merge_attributes(&d->alerts[i], list);
    json_decref(list);
    return rc;
}

void policy_decision_free(policy_decision *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->count; i++) {
        policy_alert *a = &d->alerts[i];
        free(a->title);
        free(a->description);
        free(a->namespace);
        free(a->source);
        free(a->channel);
        free(a->severity);
        json_decref(a->tags);
        json_decref(a->attributes);
    }
    free(d->alerts);
    free(d->package);
    free(d->reason);
    memset(d, 0, sizeof *d);
}

void policy_alert_id(char out[37], const char *event_id, int64_t created_ms, size_t index)
{
    char seed[128];
    snprintf(seed, sizeof seed, "%s/alert/%zu", event_id, index);
    ids_uuid7_derived(out, created_ms, seed);
}

const char *policy_alert_key(const policy_alert *a, const char *alert_id)
{
    return a->namespace && *a->namespace ? a->namespace : alert_id;
}

static const char *json_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

uint8_t *policy_alert_pack(const Hutch__V1__RawEvent *ev, const policy_decision *d, size_t index, size_t *len)
{
    if (!ev || !ev->meta || index >= d->count)
        return NULL;
    const policy_alert *a = &d->alerts[index];
    int64_t created = ev->meta->created_unix_ms;
    char alert_id[37], seed[128];
    policy_alert_id(alert_id, ev->event_id, created, index);
    snprintf(seed, sizeof seed, "%s/alert-message/%zu", ev->event_id, index);
    msg_meta_buf mb;
    msg_meta_init(&mb, ev->meta->trace_id, "hutch-policy", created, seed);

    Hutch__V1__Alert m = HUTCH__V1__ALERT__INIT;
    m.meta = &mb.meta;
    m.alert_id = alert_id;
    m.event_id = ev->event_id;
    m.schema = ev->schema;
    m.title = a->title;
    m.description = a->description;
    m.namespace_ = a->namespace;
    m.source = a->source;
    m.channel = a->channel;
    m.payload_json = ev->payload_json;
    m.policy_package = d->package ? d->package : "";
    m.created_unix_ms = created;
    m.severity = a->severity;
    m.severity_score = a->severity_score > 0 ? a->severity_score : 0;

    size_t ntags = json_array_size(a->tags), nattrs = json_array_size(a->attributes);
    char **tags = calloc(ntags ? ntags : 1, sizeof *tags);
    Hutch__V1__Attribute *attrs = calloc(nattrs ? nattrs : 1, sizeof *attrs);
    Hutch__V1__Attribute **attr_ptrs = calloc(nattrs ? nattrs : 1, sizeof *attr_ptrs);
    uint8_t *out = NULL;
    if (!tags || !attrs || !attr_ptrs)
        goto done;
    for (size_t i = 0; i < ntags; i++) {
        const char *t = json_string_value(json_array_get(a->tags, i));
        tags[i] = (char *)(t ? t : "");
    }
    for (size_t i = 0; i < nattrs; i++) {
        const json_t *o = json_array_get(a->attributes, i);
        hutch__v1__attribute__init(&attrs[i]);
        attrs[i].key = (char *)json_str(o, "key");
        attrs[i].value = (char *)json_str(o, "value");
        attrs[i].link = (char *)json_str(o, "link");
        attrs[i].type = (char *)json_str(o, "type");
        attrs[i].id = (char *)json_str(o, "id");
        attrs[i].value_json = (char *)json_str(o, "value_json");
        attrs[i].persist = json_is_true(json_object_get(o, "persist"));
        attrs[i].ttl_seconds = json_integer_value(json_object_get(o, "ttl_seconds"));
        attr_ptrs[i] = &attrs[i];
    }
    m.n_tags = ntags;
    m.tags = tags;
    m.n_attributes = nattrs;
    m.attributes = attr_ptrs;
    out = msg_pack(&m.base, len);
done:
    free(tags);
    free(attrs);
    free(attr_ptrs);
    return out;
}
