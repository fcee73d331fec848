/* Log-router messages -> events (router.h): settings parsing, splitting a message
 * into records, unwrapping, schema choice, router.* attributes, derived ids.
 *
 * Payload bytes: a record that is the whole message or a whole line, or an alert
 * that was a JSON string inside the record, is passed on verbatim (trimmed), so
 * what the sender wrote is what the policy and the events table see; only alerts
 * taken out of an array or an object are re-serialised (jansson, compact). */
#include "services/ingest/router.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/ingest/ingest.h"

#define TOPIC_NAME_MAX 249 /* Kafka's limit */
#define ATTR_KEY_MAX 128

typedef struct {
    char *value;
    char *schema;
} schema_entry;

struct router {
    char **topics;       /* NULL-terminated */
    char **topic_schema; /* parallel to topics; NULL = no schema of its own */
    size_t n_topics;
    char *schema_field; /* NULL = none */
    schema_entry *map;
    size_t n_map;
    char *unwrap; /* NULL = none */
    char *default_schema;
};

/* ---- helpers ------------------------------------------------------------- */

/* Checked growth of an array of `size`-byte items to hold n + 1. 0 or -1. */
static int grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*items, ncap * size);
    if (!p)
        return -1;
    *items = p;
    *cap = ncap;
    return 0;
}

static void append_err(char *err, size_t errlen, size_t *used, const char *text)
{
    if (!err || errlen == 0 || *used + 1 >= errlen)
        return;
    int w = snprintf(err + *used, errlen - *used, "%s%s", *used ? "; " : "", text);
    if (w > 0)
        *used = *used + (size_t)w < errlen ? *used + (size_t)w : errlen - 1;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

static void trim(const char **s, size_t *len)
{
    while (*len && is_space(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && is_space((*s)[*len - 1]))
        (*len)--;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static bool topic_name_valid(const char *s, size_t n)
{
    if (n == 0 || n > TOPIC_NAME_MAX || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

static bool path_valid(const char *p)
{
    size_t n = strlen(p);
    return n > 0 && p[0] != '.' && p[n - 1] != '.' && !strstr(p, "..");
}

/* Value at a dotted path. At each object the longest run of segments that is a key
 * wins, so keys that hold dots themselves ("k8s.ns.name") are reachable; a segment
 * of digits indexes an array. BORROWED from root, or NULL. */
static json_t *path_get(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    while (cur && *p) {
        if (json_is_object(cur)) {
            json_t *next = NULL;
            size_t take = 0, len = strlen(p);
            for (size_t k = len; k > 0 && !next; k--) {
                if (k < len && p[k] != '.')
                    continue;
                char key[256];
                if (k >= sizeof key)
                    continue;
                memcpy(key, p, k);
                key[k] = '\0';
                next = json_object_get(cur, key);
                take = k;
            }
            if (!next)
                return NULL;
            cur = next;
            p += take;
        } else if (json_is_array(cur)) {
            char *end = NULL;
            unsigned long i = strtoul(p, &end, 10);
            if (end == p || (*end && *end != '.'))
                return NULL;
            cur = json_array_get(cur, i);
            p = end;
        } else {
            return NULL;
        }
        if (*p == '.')
            p++;
    }
    return cur;
}

/* ---- settings ------------------------------------------------------------ */

void router_free(router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_topics; i++) {
        free(r->topics[i]);
        free(r->topic_schema[i]);
    }
    free(r->topics);
    free(r->topic_schema);
    for (size_t i = 0; i < r->n_map; i++) {
        free(r->map[i].value);
        free(r->map[i].schema);
    }
    free(r->map);
    free(r->schema_field);
    free(r->unwrap);
    free(r->default_schema);
    free(r);
}

/* Calls fn(ctx, item, len) for every non-empty, trimmed, comma-separated item. */
static int each_item(const char *list, int (*fn)(void *, const char *, size_t), void *ctx)
{
    const char *p = list ? list : "";
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = p;
        trim(&item, &n);
        if (n && fn(ctx, item, n) < 0)
            return -1;
        p += comma ? (size_t)(comma - p) + 1 : strlen(p);
    }
    return 0;
}

typedef struct {
    router *r;
    char *err;
    size_t errlen, used;
    size_t cap;
    bool nomem;
} parse_ctx;

static int add_topic(void *vctx, const char *item, size_t n)
{
    parse_ctx *pc = vctx;
    router *r = pc->r;
    char msg[400];
    const char *eq = memchr(item, '=', n);
    size_t tn = eq ? (size_t)(eq - item) : n;
    const char *schema = eq ? eq + 1 : NULL;
    size_t sn = eq ? n - tn - 1 : 0;
    const char *t = item;
    trim(&t, &tn);
    if (schema)
        trim(&schema, &sn);
    if (!topic_name_valid(t, tn)) {
        snprintf(msg, sizeof msg, "HUTCH_INGEST_TOPICS: \"%.*s\" is not a Kafka topic name", (int)(tn > 100 ? 100 : tn),
                 t);
        append_err(pc->err, pc->errlen, &pc->used, msg);
        return 0;
    }
    if (schema && !ingest_schema_valid_n(schema, sn)) {
        snprintf(msg, sizeof msg,
                 "HUTCH_INGEST_TOPICS: topic %.*s: invalid schema name \"%.*s\" (want [a-z0-9][a-z0-9_.-]{0,63})",
                 (int)tn, t, (int)(sn > 70 ? 70 : sn), schema);
        append_err(pc->err, pc->errlen, &pc->used, msg);
        return 0;
    }
    for (size_t i = 0; i < r->n_topics; i++) {
        if (strlen(r->topics[i]) == tn && !memcmp(r->topics[i], t, tn)) {
            snprintf(msg, sizeof msg, "HUTCH_INGEST_TOPICS: topic %.*s is listed twice", (int)tn, t);
            append_err(pc->err, pc->errlen, &pc->used, msg);
            return 0;
        }
    }
    size_t cap = pc->cap;
    /* room for the NULL terminator too */
    if (grow((void **)&r->topics, &pc->cap, r->n_topics + 1, sizeof *r->topics) < 0 ||
        grow((void **)&r->topic_schema, &cap, r->n_topics + 1, sizeof *r->topic_schema) < 0) {
        pc->nomem = true;
        return -1;
    }
    r->topics[r->n_topics] = dup_n(t, tn);
    r->topic_schema[r->n_topics] = schema ? dup_n(schema, sn) : NULL;
    r->n_topics++;
    r->topics[r->n_topics] = NULL;
    if (!r->topics[r->n_topics - 1] || (schema && !r->topic_schema[r->n_topics - 1])) {
        pc->nomem = true;
        return -1;
    }
    return 0;
}

static int add_map_entry(void *vctx, const char *item, size_t n)
{
    parse_ctx *pc = vctx;
    router *r = pc->r;
    char msg[400];
    const char *eq = memchr(item, '=', n);
    if (!eq) {
        snprintf(msg, sizeof msg, "HUTCH_INGEST_SCHEMA_MAP: \"%.*s\" is not value=schema", (int)(n > 100 ? 100 : n),
                 item);
        append_err(pc->err, pc->errlen, &pc->used, msg);
        return 0;
    }
    const char *v = item, *s = eq + 1;
    size_t vn = (size_t)(eq - item), sn = n - vn - 1;
    trim(&v, &vn);
    trim(&s, &sn);
    if (!vn || !ingest_schema_valid_n(s, sn)) {
        snprintf(msg, sizeof msg, "HUTCH_INGEST_SCHEMA_MAP: \"%.*s\": %s", (int)(n > 100 ? 100 : n), item,
                 vn ? "invalid schema name (want [a-z0-9][a-z0-9_.-]{0,63})" : "empty value");
        append_err(pc->err, pc->errlen, &pc->used, msg);
        return 0;
    }
    if (grow((void **)&r->map, &pc->cap, r->n_map, sizeof *r->map) < 0) {
        pc->nomem = true;
        return -1;
    }
    r->map[r->n_map].value = dup_n(v, vn);
    r->map[r->n_map].schema = dup_n(s, sn);
    r->n_map++;
    if (!r->map[r->n_map - 1].value || !r->map[r->n_map - 1].schema) {
        pc->nomem = true;
        return -1;
    }
    return 0;
}

router *router_new(const char *topics, const char *schema_field, const char *schema_map, const char *unwrap,
                   const char *default_schema, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    router *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    parse_ctx pc = {.r = r, .err = err, .errlen = errlen};
    char msg[300];

    if (each_item(topics && *topics ? topics : "hutch.ingest.json", add_topic, &pc) < 0 && pc.nomem)
        goto nomem;
    if (r->n_topics == 0 && pc.used == 0)
        append_err(err, errlen, &pc.used, "HUTCH_INGEST_TOPICS: no topic");
    pc.cap = 0;
    if (each_item(schema_map, add_map_entry, &pc) < 0 && pc.nomem)
        goto nomem;
    if (schema_field && *schema_field) {
        if (!path_valid(schema_field)) {
            snprintf(msg, sizeof msg, "HUTCH_INGEST_SCHEMA_FIELD: \"%.100s\" is not a dotted path (a.b.c)",
                     schema_field);
            append_err(err, errlen, &pc.used, msg);
        } else if (!(r->schema_field = strdup(schema_field))) {
            goto nomem;
        }
    } else if (r->n_map) {
        append_err(err, errlen, &pc.used, "HUTCH_INGEST_SCHEMA_MAP is set but HUTCH_INGEST_SCHEMA_FIELD is not");
    }
    if (unwrap && *unwrap) {
        if (!path_valid(unwrap)) {
            snprintf(msg, sizeof msg, "HUTCH_INGEST_UNWRAP: \"%.100s\" is not a dotted path (a.b.c)", unwrap);
            append_err(err, errlen, &pc.used, msg);
        } else if (!(r->unwrap = strdup(unwrap))) {
            goto nomem;
        }
    }
    if (!ingest_schema_valid(default_schema)) {
        snprintf(msg, sizeof msg,
                 "HUTCH_INGEST_DEFAULT_SCHEMA: invalid schema name \"%.70s\" (want [a-z0-9][a-z0-9_.-]{0,63})",
                 default_schema ? default_schema : "");
        append_err(err, errlen, &pc.used, msg);
    } else if (!(r->default_schema = strdup(default_schema))) {
        goto nomem;
    }
    if (pc.used) {
        router_free(r);
        return NULL;
    }
    return r;
nomem:
    router_free(r);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

const char *const *router_topics(const router *r) { return r ? (const char *const *)r->topics : NULL; }

/* ---- routing ------------------------------------------------------------- */

typedef struct {
    const router *r;
    const router_msg *msg;
    router_result *out;
    size_t ev_cap, err_cap;
    char header_schema[INGEST_SCHEMA_MAX + 1]; /* "" = no header */
    const char *topic_schema;                  /* this topic's, or the default */
} route_ctx;

static int add_error(route_ctx *c, size_t index, const char *line, size_t line_len, const char *fmt, const char *detail)
{
    router_result *o = c->out;
    if (grow((void **)&o->errors, &c->err_cap, o->n_errors, sizeof *o->errors) < 0)
        return -1;
    router_error *e = &o->errors[o->n_errors++];
    memset(e, 0, sizeof *e);
    e->index = index;
    e->line = line;
    e->line_len = line_len;
    snprintf(e->reason, sizeof e->reason, fmt, detail ? detail : "");
    return 0;
}

static int add_attr(router_event *ev, size_t *cap, const char *key, const char *value)
{
    if (ev->n_attrs >= ROUTER_MAX_ATTRS)
        return 0;
    if (grow((void **)&ev->attrs, cap, ev->n_attrs, sizeof *ev->attrs) < 0)
        return -1;
    size_t vn = strlen(value);
    router_attr *a = &ev->attrs[ev->n_attrs];
    a->key = strdup(key);
    a->value = dup_n(value, vn > ROUTER_ATTR_VALUE_MAX ? ROUTER_ATTR_VALUE_MAX : vn);
    if (!a->key || !a->value) {
        free(a->key);
        free(a->value);
        return -1;
    }
    ev->n_attrs++;
    return 0;
}

/* A scalar as attribute text into buf; false for null, objects and arrays. */
static bool scalar_text(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else
        return false;
    return true;
}

/* router.* attributes from the record around the alert: Fluent Bit's Kubernetes
 * block always; the other top-level scalars only when the alert was unwrapped
 * (otherwise they are the alert's own fields, the policy's business). */
static int record_attrs(const router *r, json_t *rec, bool wrapped, router_event *ev)
{
    static const struct {
        const char *field, *name;
    } k8s[] = {
        {"pod_name", "router.kubernetes.pod"},
        {"namespace_name", "router.kubernetes.namespace"},
        {"host", "router.kubernetes.node"},
        {"container_name", "router.kubernetes.container"},
    };
    size_t cap = 0;
    char value[ROUTER_ATTR_VALUE_MAX + 1], key[ATTR_KEY_MAX];
    if (!json_is_object(rec))
        return 0;
    json_t *kb = json_object_get(rec, "kubernetes");
    for (size_t i = 0; json_is_object(kb) && i < sizeof k8s / sizeof k8s[0]; i++)
        if (scalar_text(json_object_get(kb, k8s[i].field), value, sizeof value) && value[0] &&
            add_attr(ev, &cap, k8s[i].name, value) < 0)
            return -1;
    if (!wrapped)
        return 0;
    size_t root_len = strcspn(r->unwrap, ".");
    const char *k;
    json_t *v;
    json_object_foreach (rec, k, v) {
        if ((strlen(k) == root_len && !strncmp(k, r->unwrap, root_len)) || !strcmp(k, "kubernetes"))
            continue;
        if (!scalar_text(v, value, sizeof value))
            continue;
        snprintf(key, sizeof key, "router.%s", k);
        if (add_attr(ev, &cap, key, value) < 0)
            return -1;
    }
    return 0;
}

static const char *choose_schema(const route_ctx *c, json_t *alert, json_t *rec)
{
    const router *r = c->r;
    if (c->header_schema[0])
        return c->header_schema;
    if (r->schema_field) {
        json_t *v = path_get(alert, r->schema_field);
        if (!json_is_string(v) && rec != alert)
            v = path_get(rec, r->schema_field);
        const char *s = json_string_value(v);
        if (s && r->n_map) {
            for (size_t i = 0; i < r->n_map; i++)
                if (!strcmp(r->map[i].value, s))
                    return r->map[i].schema;
        } else if (s && ingest_schema_valid(s)) {
            return s;
        }
    }
    return c->topic_schema;
}

/* One record that is passed on as it is, without a look inside (no unwrap, no schema
 * field, no router metadata). 0, or -1 on OOM. */
static int route_verbatim(route_ctx *c, const char *raw, size_t raw_len)
{
    router_result *o = c->out;
    if (grow((void **)&o->events, &c->ev_cap, o->n_events, sizeof *o->events) < 0)
        return -1;
    router_event *ev = &o->events[o->n_events];
    memset(ev, 0, sizeof *ev);
    snprintf(ev->schema, sizeof ev->schema, "%s", choose_schema(c, NULL, NULL));
    if (!(ev->payload = dup_n(raw, raw_len)))
        return -1;
    ev->payload_len = raw_len;
    o->n_events++; /* from here on router_result_free owns it */
    ingest_ids_derived(&ev->ids, c->msg->topic, c->msg->partition, c->msg->offset, 0, c->msg->timestamp_ms);
    return 0;
}

/* One record (rec parsed; raw/raw_len its verbatim text or NULL). */
static int route_record(route_ctx *c, size_t index, json_t *rec, const char *raw, size_t raw_len, const char *line,
                        size_t line_len)
{
    const router *r = c->r;
    json_t *alert = rec, *parsed = NULL;
    bool wrapped = false;
    if (r->unwrap && json_is_object(rec)) {
        json_t *v = path_get(rec, r->unwrap);
        if (json_is_string(v)) {
            json_error_t jerr;
            const char *s = json_string_value(v);
            size_t sn = json_string_length(v);
            parsed = json_loadb(s, sn, JSON_DECODE_ANY, &jerr);
            if (!parsed) {
                char why[300];
                snprintf(why, sizeof why, "%.100s holds a string that is not JSON: %.150s", r->unwrap, jerr.text);
                return add_error(c, index, line, line_len, "%s", why);
            }
            alert = parsed;
            raw = s;
            raw_len = sn;
            wrapped = true;
        } else if (json_is_object(v) || json_is_array(v)) {
            alert = v;
            raw = NULL;
            wrapped = true;
        } else if (v && !json_is_null(v)) {
            char why[200];
            snprintf(why, sizeof why, "%.100s holds neither an object nor JSON text", r->unwrap);
            return add_error(c, index, line, line_len, "%s", why);
        }
    }

    router_result *o = c->out;
    int rc = -1;
    if (grow((void **)&o->events, &c->ev_cap, o->n_events, sizeof *o->events) < 0)
        goto done;
    router_event *ev = &o->events[o->n_events];
    memset(ev, 0, sizeof *ev);
    ev->index = index;
    snprintf(ev->schema, sizeof ev->schema, "%s", choose_schema(c, alert, rec));
    if (raw) {
        trim(&raw, &raw_len);
        ev->payload = dup_n(raw, raw_len);
        ev->payload_len = raw_len;
    } else {
        ev->payload = json_dumps(alert, JSON_COMPACT | JSON_ENCODE_ANY);
        ev->payload_len = ev->payload ? strlen(ev->payload) : 0;
    }
    if (!ev->payload)
        goto done;
    /* the rule of the HTTP path: what jansson let through (a NUL byte after the value,
     * "\u0000") is refused here with its reason, not at policy */
    char why[256];
    if (ingest_json_validate(ev->payload, ev->payload_len, why, sizeof why) != 0) {
        free(ev->payload);
        ev->payload = NULL;
        rc = add_error(c, index, line, line_len, "%s", why);
        goto done;
    }
    o->n_events++; /* from here on router_result_free owns it */
    ingest_ids_derived(&ev->ids, c->msg->topic, c->msg->partition, c->msg->offset, index, c->msg->timestamp_ms);
    if (record_attrs(r, rec, wrapped, ev) < 0)
        goto done;
    rc = 0;
done:
    json_decref(parsed);
    return rc;
}

/* Records beyond ROUTER_MAX_EVENTS become one error. true = go on. */
static bool under_limit(route_ctx *c, size_t index, int *rc)
{
    if (c->out->n_events < ROUTER_MAX_EVENTS)
        return true;
    char why[100];
    snprintf(why, sizeof why, "more than %d records in one message: the rest is refused", ROUTER_MAX_EVENTS);
    *rc = add_error(c, index, NULL, 0, "%s", why);
    return false;
}

static int route_lines(route_ctx *c, const char *text, size_t len)
{
    size_t index = 0, pos = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *line = text + pos, *t = line;
        size_t tn = n;
        trim(&t, &tn);
        if (tn) {
            if (!under_limit(c, index, &rc))
                break;
            json_error_t jerr;
            json_t *rec = json_loadb(t, tn, JSON_DECODE_ANY, &jerr);
            if (!rec) {
                char why[250];
                snprintf(why, sizeof why, "line %zu is not JSON: %.200s", index + 1, jerr.text);
                rc = add_error(c, index, t, tn, "%s", why);
            } else {
                rc = route_record(c, index, rec, t, tn, t, tn);
                json_decref(rec);
            }
        }
        pos += n + (nl ? 1 : 0);
        index++;
    }
    return rc;
}

router_status router_route(const router *r, const router_msg *msg, router_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    route_ctx c = {.r = r, .msg = msg, .out = out};
    if (msg->header_schema) {
        if (!ingest_schema_valid_n(msg->header_schema, msg->header_schema_len)) {
            snprintf(err, errlen, "invalid hutch-schema header (want [a-z0-9][a-z0-9_.-]{0,63})");
            return ROUTER_BAD;
        }
        memcpy(c.header_schema, msg->header_schema, msg->header_schema_len);
        c.header_schema[msg->header_schema_len] = '\0';
    }
    c.topic_schema = r->default_schema;
    for (size_t i = 0; msg->topic && i < r->n_topics; i++)
        if (!strcmp(r->topics[i], msg->topic) && r->topic_schema[i])
            c.topic_schema = r->topic_schema[i];

    const char *text = msg->value ? msg->value : "";
    size_t len = msg->value ? msg->value_len : 0;
    const char *t = text;
    size_t tn = len;
    trim(&t, &tn);
    if (tn == 0) {
        snprintf(err, errlen, "empty message");
        return ROUTER_BAD;
    }

    int rc = 0;
    json_error_t jerr;
    json_t *whole = json_loadb(t, tn, JSON_DECODE_ANY, &jerr);
    if (json_is_array(whole)) {
        size_t n = json_array_size(whole);
        if (n == 0) {
            json_decref(whole);
            snprintf(err, errlen, "empty JSON array");
            return ROUTER_BAD;
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!under_limit(&c, i, &rc))
                break;
            rc = route_record(&c, i, json_array_get(whole, i), NULL, 0, NULL, 0);
        }
        /* an element that failed to unwrap points at the whole message */
        for (size_t i = 0; i < out->n_errors; i++)
            if (!out->errors[i].line) {
                out->errors[i].line = t;
                out->errors[i].line_len = tn;
            }
    } else if (whole) {
        rc = route_record(&c, 0, whole, t, tn, t, tn);
    } else if (!c.r->unwrap && !c.r->schema_field && *t != '[' && ingest_json_validate(t, tn, NULL, 0) == 0) {
        /* one valid JSON value jansson cannot hold (an integer beyond int64, 1e400): with
         * nothing to look up inside it, it is one event, its bytes as they came */
        rc = route_verbatim(&c, t, tn);
    } else {
        rc = route_lines(&c, text, len);
    }
    json_decref(whole);
    if (rc < 0) {
        router_result_free(out);
        snprintf(err, errlen, "out of memory");
        return ROUTER_NOMEM;
    }
    return ROUTER_OK;
}

void router_result_free(router_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_events; i++) {
        router_event *ev = &res->events[i];
        free(ev->payload);
        for (size_t j = 0; j < ev->n_attrs; j++) {
            free(ev->attrs[j].key);
            free(ev->attrs[j].value);
        }
        free(ev->attrs);
    }
    free(res->events);
    free(res->errors);
    memset(res, 0, sizeof *res);
}
