/* The ingest policies (rules.h): load, find the package of a schema, evaluate, and
 * turn the policy's objects into policy_alerts, checking their shape. */
#include "services/policy/rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/severity.h"
#include "rego/bundle.h"
#include "rego/rego.h"

/* What a schema resolves to, prepared on first use. */
typedef enum { PKG_NONE, PKG_WARREN, PKG_ALERTCHAIN } pkg_kind;

typedef struct {
    char *schema;
    pkg_kind kind;
    char *package;      /* "ingest.S" / "alert.S" */
    rego_query *alerts; /* x = data.ingest["S"].alerts / data.alert["S"].alert */
    rego_query *ignore; /* x = data.ingest["S"].ignore (NULL: the package has no ignore rule) */
} schema_entry;

/* Schemas seen are cached; past this many (schemas come from the events) the
 * oldest half is dropped, so odd schema names cannot grow memory without bound. */
#define SCHEMA_CACHE_MAX 256

struct policy_rules {
    rego_policy *pol;
    rv *data;
    size_t modules;
    rego_rule_info *rules;
    size_t nrules;
    schema_entry *cache;
    size_t ncache;
};

policy_rules *policy_rules_load(const char *dir, char *err, size_t errlen)
{
    rego_bundle b;
    rego_bundle_init(&b);
    b.modules_only = true;
    policy_rules *r = NULL;
    if (rego_bundle_add(&b, dir, REGO_SYNTAX_AUTO, err, errlen) != 0)
        goto done;
    rego_error e;
    memset(&e, 0, sizeof e);
    /* AUTO modules: v1 when they say so (`if`, `contains`, import rego.v1), else v0,
     * which is what AlertChain's `alert[res] { ... }` policies are. */
    rego_policy *pol = rego_compile(b.mods, b.n, REGO_SYNTAX_V0, &e);
    if (!pol) {
        snprintf(err, errlen, "%s", e.message);
        goto done;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        rego_policy_free(pol);
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    r->pol = pol;
    r->data = rv_object_new(0);
    r->modules = b.n;
    r->nrules = rego_policy_rules(pol, &r->rules);
done:
    rego_bundle_free(&b);
    return r;
}

static void entry_free(schema_entry *s)
{
    free(s->schema);
    free(s->package);
    rego_query_free(s->alerts);
    rego_query_free(s->ignore);
}

void policy_rules_free(policy_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncache; i++)
        entry_free(&r->cache[i]);
    free(r->cache);
    free(r->rules);
    rv_unref(r->data);
    rego_policy_free(r->pol);
    free(r);
}

size_t policy_rules_module_count(const policy_rules *r)
{
    return r ? r->modules : 0;
}

/* True when a rule lives at or below data.<root>.<schema>. */
static bool has_rule_under(const policy_rules *r, const char *root, const char *schema, const char *name)
{
    char prefix[256];
    int n = snprintf(prefix, sizeof prefix, "data.%s.%s", root, schema);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return false;
    for (size_t i = 0; i < r->nrules; i++) {
        const char *p = r->rules[i].path;
        if (strncmp(p, prefix, (size_t)n) != 0)
            continue;
        if (!name && (p[n] == '\0' || p[n] == '.'))
            return true;
        if (name && p[n] == '.' && strcmp(p + n + 1, name) == 0)
            return true;
    }
    return false;
}

/* x = data.<root>["<seg>"]...["<seg>"].<rule>: the schema's dot-separated parts
 * as quoted keys, so "aws.guardduty" is package ingest.aws.guardduty (Warren joins
 * "data.ingest." and the schema) and "gcp-scc" is ingest["gcp-scc"]. */
static rego_query *prepare(const policy_rules *r, const char *root, const char *schema, const char *rule,
                           char *err, size_t errlen)
{
    char q[1024];
    int n = snprintf(q, sizeof q, "x = data.%s", root);
    const char *seg = schema;
    while (n > 0 && (size_t)n < sizeof q) {
        const char *dot = strchr(seg, '.');
        size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
        json_t *js = json_stringn(seg, len);
        char *quoted = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
        json_decref(js);
        if (!quoted) {
            snprintf(err, errlen, "schema is not valid UTF-8");
            return NULL;
        }
        n += snprintf(q + n, sizeof q - (size_t)n, "[%s]", quoted);
        free(quoted);
        if (!dot)
            break;
        seg = dot + 1;
    }
    if (n < 0 || (size_t)n + strlen(rule) + 2 >= sizeof q) {
        snprintf(err, errlen, "schema name too long");
        return NULL;
    }
    snprintf(q + n, sizeof q - (size_t)n, ".%s", rule);
    rego_error e;
    memset(&e, 0, sizeof e);
    rego_query *query = rego_query_prepare(r->pol, q, &e);
    if (!query)
        snprintf(err, errlen, "%s", e.message);
    return query;
}

static schema_entry *entry_for(policy_rules *r, const char *schema, char *err, size_t errlen)
{
    for (size_t i = 0; i < r->ncache; i++)
        if (strcmp(r->cache[i].schema, schema) == 0)
            return &r->cache[i];
    if (r->ncache >= SCHEMA_CACHE_MAX) {
        size_t keep = r->ncache / 2;
        for (size_t i = 0; i < r->ncache - keep; i++)
            entry_free(&r->cache[i]);
        memmove(r->cache, r->cache + (r->ncache - keep), keep * sizeof *r->cache);
        r->ncache = keep;
    }
    schema_entry *grown = realloc(r->cache, (r->ncache + 1) * sizeof *grown);
    if (!grown) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->cache = grown;
    schema_entry s = {.schema = strdup(schema), .kind = PKG_NONE};
    const char *root = NULL, *rule = NULL;
    if (has_rule_under(r, "ingest", schema, NULL)) {
        s.kind = PKG_WARREN, root = "ingest", rule = "alerts";
    } else if (has_rule_under(r, "alert", schema, NULL)) {
        s.kind = PKG_ALERTCHAIN, root = "alert", rule = "alert";
    }
    bool ok = s.schema != NULL;
    if (ok && root) {
        size_t n = strlen(root) + strlen(schema) + 2;
        s.package = malloc(n);
        ok = s.package != NULL;
        if (ok)
            snprintf(s.package, n, "%s.%s", root, schema);
        if (ok)
            ok = (s.alerts = prepare(r, root, schema, rule, err, errlen)) != NULL;
        if (ok && has_rule_under(r, root, schema, "ignore"))
            ok = (s.ignore = prepare(r, root, schema, "ignore", err, errlen)) != NULL;
    } else if (!ok) {
        snprintf(err, errlen, "out of memory");
    }
    if (!ok) {
        entry_free(&s);
        return NULL;
    }
    r->cache[r->ncache] = s;
    return &r->cache[r->ncache++];
}

const char *policy_rules_package(policy_rules *r, const char *schema)
{
    char err[64];
    schema_entry *s = entry_for(r, schema, err, sizeof err);
    return s ? s->package : NULL;
}

/* ---- checking what a policy returned -------------------------------------- */

typedef struct {
    char *err;
    size_t errlen;
    const char *package;
    size_t index;
} check_ctx;

static int bad(check_ctx *c, const char *fmt, const char *detail)
{
    char what[256];
    snprintf(what, sizeof what, fmt, detail ? detail : "");
    snprintf(c->err, c->errlen, "%s: alert %zu: %s", c->package, c->index, what);
    return -1;
}

/* An optional string member: absent or null is "", another type is an error. */
static int take_string(check_ctx *c, const json_t *o, const char *key, char **slot)
{
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        char what[96];
        snprintf(what, sizeof what, "\"%s\" must be a string, not %s", key, policy_json_type(v));
        return bad(c, "%s", what);
    }
    return policy_set_string(slot, json_string_value(v)) == 0 ? 0 : bad(c, "out of memory%s", NULL);
}

/* An attribute value as text: strings as they are, anything else as JSON. */
static json_t *value_text(const json_t *v)
{
    if (json_is_string(v))
        return json_incref((json_t *)v);
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_t *s = t ? json_string(t) : NULL;
    free(t);
    return s;
}

/* One attribute {key, value, link} (Warren) or {id, key, value, type, persist, ttl}
 * (AlertChain), normalised to the stored form {key, value, link, type, id, persist,
 * ttl_seconds} (policy_alert_pack reads it). */
static int take_attribute(check_ctx *c, const json_t *in, bool alertchain, size_t i, json_t *out_list)
{
    char where[64];
    snprintf(where, sizeof where, "%s[%zu]", alertchain ? "attrs" : "attributes", i);
    if (!json_is_object(in))
        return bad(c, "%s must be an object", where);
    const json_t *key = json_object_get(in, "key");
    if (!json_is_string(key) || json_string_length(key) == 0)
        return bad(c, "%s needs a non-empty string \"key\"", where);
    const json_t *value = json_object_get(in, "value");
    json_t *attr = json_object();
    json_t *text = value_text(value ? value : json_null());
    if (!attr || !text || json_object_set(attr, "key", (json_t *)key) != 0 ||
        json_object_set_new(attr, "value", text) != 0) {
        json_decref(attr);
        return bad(c, "out of memory%s", NULL);
    }
    /* AlertChain's values keep their type for the action chain (value holds the text;
     * with_attr_texts marked a value that was not a string) */
    const json_t *typed = json_object_get(in, "value_json");
    if (alertchain && json_is_string(typed) && json_object_set(attr, "value_json", (json_t *)typed) != 0) {
        json_decref(attr);
        return bad(c, "out of memory%s", NULL);
    }
    static const char *const strings[] = {"link", "type", "id", NULL};
    for (size_t k = 0; strings[k]; k++) {
        const json_t *v = json_object_get(in, strings[k]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            json_decref(attr);
            char what[128];
            snprintf(what, sizeof what, "%s.%s must be a string", where, strings[k]);
            return bad(c, "%s", what);
        }
        json_object_set(attr, strings[k], (json_t *)v);
    }
    const json_t *persist = json_object_get(in, "persist");
    if (persist && !json_is_boolean(persist) && !json_is_null(persist)) {
        json_decref(attr);
        return bad(c, "%s.persist must be a boolean", where);
    }
    const json_t *ttl = json_object_get(in, "ttl");
    json_int_t ttl_s = 0;
    if (ttl && !json_is_null(ttl)) {
        double d = json_number_value(ttl);
        if (!json_is_number(ttl) || d < 0 || d > 10 * 365 * 86400.0) {
            json_decref(attr);
            return bad(c, "%s.ttl must be a number of seconds (0 to 10 years)", where);
        }
        ttl_s = (json_int_t)d;
    }
    if (json_is_true(persist)) {
        json_object_set_new(attr, "persist", json_true());
        json_object_set_new(attr, "ttl_seconds", json_integer(ttl_s > 0 ? ttl_s : POLICY_PERSIST_TTL_DEFAULT));
    }
    if (json_array_append_new(out_list, attr) != 0)
        return bad(c, "out of memory%s", NULL);
    return 0;
}

/* "severity": a level name (any case) or a 0-100 score (common/severity.h). */
static int take_severity(check_ctx *c, const json_t *o, policy_alert *a)
{
    const json_t *v = json_object_get(o, "severity");
    if (!v || json_is_null(v))
        return 0;
    severity_level level;
    int score;
    if (json_is_string(v)) {
        char lower[16];
        const char *text = json_string_value(v);
        size_t i = 0;
        for (; text[i] && i < sizeof lower - 1; i++)
            lower[i] = (char)tolower((unsigned char)text[i]);
        lower[i] = '\0';
        if (text[i] || severity_parse(lower, &level) != 0)
            return bad(c, "\"severity\" must be info, low, medium, high, critical or a number 0-100%s", "");
        score = severity_score(level);
    } else if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 100) {
        score = (int)(json_number_value(v) + 0.5);
        level = severity_from_score(score);
    } else {
        return bad(c, "\"severity\" must be info, low, medium, high, critical or a number 0-100%s", "");
    }
    a->severity_score = score;
    return policy_set_string(&a->severity, severity_name(level)) == 0 ? 0 : bad(c, "out of memory%s", NULL);
}

static int take_list(check_ctx *c, const json_t *o, const char *key, const json_t **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v)) { /* sets arrive as arrays already (rv_to_json) */
        char what[96];
        snprintf(what, sizeof what, "\"%s\" must be an array, not %s", key, policy_json_type(v));
        return bad(c, "%s", what);
    }
    *out = v;
    return 0;
}

static int take_alert(check_ctx *c, const json_t *o, bool alertchain, const policy_input *in, policy_alert *a)
{
    if (!json_is_object(o))
        return bad(c, "must be an object, not %s", policy_json_type(o));
    if (take_string(c, o, "title", &a->title) || take_string(c, o, "description", &a->description) ||
        take_string(c, o, "channel", &a->channel))
        return -1;
    if (alertchain && (take_string(c, o, "source", &a->source) || take_string(c, o, "namespace", &a->namespace)))
        return -1;
    if (take_severity(c, o, a))
        return -1;
    if (!*a->source && policy_set_string(&a->source, in->schema) != 0)
        return bad(c, "out of memory%s", NULL);
    if (!*a->title) { /* a policy that gives no title gets the default's */
        policy_decision d = {0};
        char e[64];
        int rc = policy_default_eval(in, &d, e, sizeof e) == 0 && d.count == 1
                     ? policy_set_string(&a->title, d.alerts[0].title)
                     : 0;
        policy_decision_free(&d);
        if (rc != 0)
            return bad(c, "out of memory%s", NULL);
    }
    const json_t *tags, *attrs, *refs = NULL;
    if (take_list(c, o, "tags", &tags) || take_list(c, o, alertchain ? "attrs" : "attributes", &attrs) ||
        (alertchain && take_list(c, o, "refs", &refs)))
        return -1;
    size_t i;
    const json_t *v;
    json_array_foreach(tags, i, v) {
        if (!json_is_string(v)) {
            char what[64];
            snprintf(what, sizeof what, "tags[%zu] must be a string", i);
            return bad(c, "%s", what);
        }
        json_array_append(a->tags, (json_t *)v);
    }
    json_array_foreach(attrs, i, v)
        if (take_attribute(c, v, alertchain, i, a->attributes) != 0)
            return -1;
    json_array_foreach(refs, i, v) { /* AlertChain refs: {title, url} as link attributes */
        const char *url = json_string_value(json_object_get(v, "url"));
        const char *title = json_string_value(json_object_get(v, "title"));
        if (!json_is_object(v) || !url) {
            char what[64];
            snprintf(what, sizeof what, "refs[%zu] needs a string \"url\"", i);
            return bad(c, "%s", what);
        }
        json_t *ref = json_pack("{s:s,s:s,s:s,s:s}", "key", title && *title ? title : "reference", "value", url,
                                "link", url, "type", "reference");
        if (!ref || json_array_append_new(a->attributes, ref) != 0)
            return bad(c, "out of memory%s", NULL);
    }
    return 0;
}

/* ---- deciding ------------------------------------------------------------- */

/* Attribute values that are not strings become their JSON text as the engine
 * prints it (OPA's json.marshal) before the result goes to jansson, which holds
 * numbers as int64 or double: 18446744073709551615, 1e400 or 0.1 would otherwise
 * reach the attribute rounded (or, beyond double, not at all). Returns a NEW value:
 * v itself (a reference) when nothing needed changing. */
static rv *attr_value_text(const rv *v)
{
    if (rv_typeof(v) == RV_STRING)
        return rv_ref((rv *)v);
    char *t = rv_to_json_text(v);
    rv *s = t ? rv_cstring(t) : NULL;
    free(t);
    return s ? s : rv_ref((rv *)v);
}

static rv *with_attr_texts(rv *alert, const char *list_key)
{
    rv *list = rv_typeof(alert) == RV_OBJECT ? rv_object_get_cstr(alert, list_key) : NULL;
    if (!list || rv_typeof(list) != RV_ARRAY)
        return rv_ref(alert);
    rv *nl = rv_array_new(rv_len(list));
    for (size_t i = 0; i < rv_len(list); i++) {
        rv *at = rv_array_at(list, i);
        rv *val = rv_typeof(at) == RV_OBJECT ? rv_object_get_cstr(at, "value") : NULL;
        if (!val || rv_typeof(val) == RV_STRING) {
            rv_array_push(nl, rv_ref(at));
            continue;
        }
        rv *na = rv_object_new(rv_len(at) + 1);
        for (size_t k = 0; k < rv_len(at); k++) {
            rv *key = rv_object_key_at(at, k), *kv = rv_object_val_at(at, k);
            bool is_value = rv_typeof(key) == RV_STRING && strcmp(rv_str(key), "value") == 0;
            rv_object_set(na, rv_ref(key), is_value ? attr_value_text(kv) : rv_ref(kv));
            /* the same text, marked as JSON: AlertChain's action chain gets the typed value back */
            if (is_value && rv_typeof(kv) != RV_NULL)
                rv_object_set(na, rv_cstring("value_json"), attr_value_text(kv));
        }
        rv_array_push(nl, na);
    }
    rv *no = rv_object_new(rv_len(alert));
    for (size_t k = 0; k < rv_len(alert); k++) {
        rv *key = rv_object_key_at(alert, k);
        bool is_list = rv_typeof(key) == RV_STRING && strcmp(rv_str(key), list_key) == 0;
        rv_object_set(no, rv_ref(key), is_list ? rv_ref(nl) : rv_ref(rv_object_val_at(alert, k)));
    }
    rv_unref(nl);
    return no;
}

/* The alerts set with with_attr_texts applied to each member (NEW). */
static rv *alerts_with_attr_texts(rv *alerts, const char *list_key)
{
    if (rv_typeof(alerts) != RV_SET && rv_typeof(alerts) != RV_ARRAY)
        return rv_ref(alerts);
    bool set = rv_typeof(alerts) == RV_SET;
    rv *out = set ? rv_set_new(rv_len(alerts)) : rv_array_new(rv_len(alerts));
    for (size_t i = 0; i < rv_len(alerts); i++) {
        rv *m = with_attr_texts(set ? rv_set_at(alerts, i) : rv_array_at(alerts, i), list_key);
        if (set)
            rv_set_add(out, m);
        else
            rv_array_push(out, m);
    }
    return out;
}

static int eval_query(const rego_query *q, rv *input, const policy_rules *r, const policy_rules_options *opts,
                      const char *package, const char *attrs_key, json_t **value, char *err, size_t errlen)
{
    rego_options ro = {
        .strict_builtin_errors = opts->strict_builtin_errors,
        .max_steps = opts->max_steps,
        .max_memory = opts->max_memory,
    };
    rv *rs = NULL;
    rego_error e;
    memset(&e, 0, sizeof e);
    *value = NULL;
    if (rego_query_eval(q, input, r->data, &ro, &rs, &e) != 0) {
        snprintf(err, errlen, "%s: %s", package, e.message);
        return -1;
    }
    if (rv_len(rs) > 0) {
        rv *x = rv_object_get_cstr(rv_array_at(rs, 0), "x");
        rv *t = x && attrs_key ? alerts_with_attr_texts(x, attrs_key) : (x ? rv_ref(x) : NULL);
        *value = t ? rv_to_json(t) : NULL;
        rv_unref(t);
    }
    rv_unref(rs);
    return 0;
}

/* Why nothing came out: the package, and its ignore rule's value when it has one. */
static char *ignore_reason(const char *package, const json_t *ignore)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s: no alert", package);
    if (json_is_array(ignore) && json_array_size(ignore) > 0) {
        n += snprintf(buf + n, sizeof buf - (size_t)n, " (ignore: ");
        size_t i;
        const json_t *v;
        json_array_foreach(ignore, i, v) {
            char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            if ((size_t)n < sizeof buf)
                n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%s", i ? "; " : "",
                              t ? t : json_string_value(v));
            free(t);
        }
        if ((size_t)n < sizeof buf)
            snprintf(buf + n, sizeof buf - (size_t)n, ")");
    } else if (json_is_true(ignore)) {
        snprintf(buf + n, sizeof buf - (size_t)n, " (ignore is true)");
    }
    return strdup(buf);
}

int policy_rules_decide(policy_rules *r, const policy_rules_options *opts, const policy_input *in,
                        policy_decision *out, char *err, size_t errlen)
{
    static const policy_rules_options defaults = {0};
    if (!opts)
        opts = &defaults;
    schema_entry *s = entry_for(r, in->schema, err, errlen);
    if (!s)
        return -1;
    if (s->kind == PKG_NONE) {
        if (!opts->strict)
            return policy_default_eval(in, out, err, errlen);
        char reason[256];
        snprintf(reason, sizeof reason, "no policy for schema \"%s\" (neither ingest.%s nor alert.%s) in strict mode",
                 in->schema, in->schema, in->schema);
        out->package = strdup("");
        out->reason = strdup(reason);
        if (!out->package || !out->reason) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }

    rv *input = in->input ? rv_ref(in->input) : NULL;
    if (!input) {
        char eb[256];
        const char *text = in->payload_json ? in->payload_json : "null";
        if (!(input = rv_from_json_text(text, strlen(text), eb, sizeof eb))) {
            snprintf(err, errlen, "payload is not valid JSON: %s", eb);
            return -1;
        }
    }
    json_t *alerts = NULL, *ignore = NULL;
    int rc = eval_query(s->alerts, input, r, opts, s->package,
                        s->kind == PKG_WARREN ? "attributes" : "attrs", &alerts, err, errlen);
    if (rc == 0 && alerts && !json_is_array(alerts)) {
        snprintf(err, errlen, "%s: %s must be a set of objects, not %s", s->package,
                 s->kind == PKG_WARREN ? "alerts" : "alert", policy_json_type(alerts));
        rc = -1;
    }
    if (rc == 0 && !(out->package = strdup(s->package))) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    check_ctx c = {err, errlen, s->package, 0};
    for (size_t i = 0; rc == 0 && i < json_array_size(alerts); i++) {
        c.index = i;
        policy_alert *a = policy_decision_add(out);
        rc = a ? take_alert(&c, json_array_get(alerts, i), s->kind == PKG_ALERTCHAIN, in, a)
               : bad(&c, "out of memory%s", NULL);
    }
    if (rc == 0 && out->count == 0) {
        if (s->ignore)
            rc = eval_query(s->ignore, input, r, opts, s->package, NULL, &ignore, err, errlen);
        if (rc == 0 && !(out->reason = ignore_reason(s->package, ignore))) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    json_decref(alerts);
    json_decref(ignore);
    rv_unref(input);
    return rc;
}
