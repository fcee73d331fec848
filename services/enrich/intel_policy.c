/* intel_policy: the intel Rego policy or the built-in default (intel_policy.h). */
#include "services/enrich/intel_policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rego/bundle.h"
#include "rego/rego.h"

/* Per alert: generous for a set comprehension over 1,000 indicators. */
#define INTEL_POLICY_MAX_STEPS 1000000
#define INTEL_POLICY_MAX_MEMORY (64u * 1024 * 1024)

struct intel_policy {
    rego_policy *pol; /* NULL: the built-in default */
    rego_query *lookups;
    rv *data;
};

intel_policy *intel_policy_load(const char *dir, char *err, size_t errlen)
{
    intel_policy *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct stat st;
    if (!dir || !*dir || stat(dir, &st) != 0)
        return p; /* no directory: the built-in default */
    rego_bundle b;
    rego_bundle_init(&b);
    b.modules_only = true;
    rego_error e;
    memset(&e, 0, sizeof e);
    if (rego_bundle_add(&b, dir, REGO_SYNTAX_AUTO, err, errlen) != 0)
        goto fail;
    if (b.n == 0) {
        rego_bundle_free(&b);
        return p;
    }
    p->pol = rego_compile(b.mods, b.n, REGO_SYNTAX_V0, &e);
    if (!p->pol) {
        snprintf(err, errlen, "%s", e.message);
        goto fail;
    }
    rego_rule_info *rules = NULL;
    size_t n = rego_policy_rules(p->pol, &rules);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = strncmp(rules[i].path, "data.intel.", 11) == 0;
    free(rules);
    if (!found) { /* other packages only: the built-in default */
        rego_policy_free(p->pol);
        p->pol = NULL;
        rego_bundle_free(&b);
        return p;
    }
    p->lookups = rego_query_prepare(p->pol, "x := data.intel.lookups", &e);
    p->data = rv_object_new(0);
    if (!p->lookups || !p->data) {
        snprintf(err, errlen, "%s", p->lookups ? "out of memory" : e.message);
        goto fail;
    }
    rego_bundle_free(&b);
    return p;
fail:
    rego_bundle_free(&b);
    intel_policy_free(p);
    return NULL;
}

void intel_policy_free(intel_policy *p)
{
    if (!p)
        return;
    rego_query_free(p->lookups);
    rego_policy_free(p->pol);
    rv_unref(p->data);
    free(p);
}

bool intel_policy_is_rego(const intel_policy *p) { return p && p->lookups; }

void intel_asks_free(intel_asks *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->items[i].indicator);
    free(a->items);
    memset(a, 0, sizeof *a);
}

/* Adds (p, ind) unless already there. 0, or -1 on OOM. */
static int ask_add(intel_asks *out, intel_provider p, const intel_indicator *ind, const char *indicator)
{
    for (size_t i = 0; i < out->n; i++)
        if (out->items[i].provider == p && out->items[i].ind.kind == ind->kind &&
            !strcmp(out->items[i].ind.value, ind->value))
            return 0;
    if (out->n == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 8;
        intel_ask *items = realloc(out->items, cap * sizeof *items);
        if (!items)
            return -1;
        out->items = items;
        out->cap = cap;
    }
    intel_ask *a = &out->items[out->n];
    a->provider = p;
    a->ind = *ind;
    a->indicator = strdup(indicator ? indicator : ind->value);
    if (!a->indicator)
        return -1;
    out->n++;
    return 0;
}

/* Enrich's indicator types that a provider may be asked about (emails are not). */
static bool askable_type(const char *type) { return strcmp(type, "email") != 0; }

/* The built-in default: every enabled provider, every public indicator. */
static int decide_default(const psl_ctx_t *psl, const bool enabled[INTEL_PROVIDER_COUNT], const enrich_indicators *ind,
                          intel_asks *out)
{
    intel_indicator *n = malloc(sizeof *n);
    if (!n)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && ind && i < ind->count; i++) {
        if (!askable_type(ind->items[i].type) || intel_normalize(psl, ind->items[i].value, n) != INTEL_NORM_OK)
            continue;
        for (int p = 0; rc == 0 && p < INTEL_PROVIDER_COUNT; p++)
            if (enabled[p] && intel_provider_supports((intel_provider)p, n->kind))
                rc = ask_add(out, (intel_provider)p, n, ind->items[i].value);
    }
    free(n);
    return rc;
}

static json_t *providers_json(const bool enabled[INTEL_PROVIDER_COUNT])
{
    json_t *arr = json_array();
    for (int p = 0; arr && p < INTEL_PROVIDER_COUNT; p++) {
        if (!enabled[p])
            continue;
        json_t *kinds = json_array();
        for (int k = 0; k <= INTEL_KIND_ASN; k++)
            if (intel_provider_supports((intel_provider)p, (intel_kind)k))
                json_array_append_new(kinds, json_string(intel_kind_name((intel_kind)k)));
        json_array_append_new(arr,
                              json_pack("{s:s, s:o}", "name", intel_provider_name((intel_provider)p), "kinds", kinds));
    }
    return arr;
}

static json_t *strings_json(char *const *s, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(s[i] ? s[i] : ""));
    return arr;
}

/* The policy's input (intel_policy.h). normalized[i] gets each indicator's canonical
 * value (NEW) or NULL. NEW json, NULL on OOM. */
static json_t *policy_input(const psl_ctx_t *psl, const bool enabled[INTEL_PROVIDER_COUNT], const Hutch__V1__Alert *a,
                            const char *severity, int severity_score, const enrich_indicators *ind, char **normalized)
{
    json_t *attrs = json_array();
    for (size_t i = 0; attrs && i < a->n_attributes; i++)
        json_array_append_new(attrs, json_pack("{s:s, s:s}", "key", a->attributes[i]->key ? a->attributes[i]->key : "",
                                               "value", a->attributes[i]->value ? a->attributes[i]->value : ""));
    json_t *inds = json_array();
    intel_indicator *n = malloc(sizeof *n);
    for (size_t i = 0; inds && n && ind && i < ind->count; i++) {
        const enrich_indicator *it = &ind->items[i];
        json_t *o = json_pack("{s:s, s:s, s:s}", "type", it->type, "value", it->value, "path", it->path);
        int rc = askable_type(it->type) ? intel_normalize(psl, it->value, n) : INTEL_NORM_INVALID;
        if (o && rc != INTEL_NORM_INVALID) {
            json_object_set_new(o, "kind", json_string(intel_kind_name(n->kind)));
            json_object_set_new(o, "normalized", json_string(n->value));
            normalized[i] = strdup(n->value);
        }
        if (o)
            json_object_set_new(o, "public", json_boolean(rc == INTEL_NORM_OK));
        json_array_append_new(inds, o);
    }
    free(n);
    json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:i, s:o, s:o}", "alert_id",
                           a->alert_id ? a->alert_id : "", "schema", a->schema ? a->schema : "", "title",
                           a->title ? a->title : "", "description", a->description ? a->description : "", "namespace",
                           a->namespace_ ? a->namespace_ : "", "source", a->source ? a->source : "", "tags",
                           strings_json(a->tags, a->n_tags), "attributes", attrs, "severity", severity ? severity : "",
                           "severity_score", severity_score, "indicators", inds, "providers", providers_json(enabled));
    return in;
}

/* One member of `lookups`: adds its asks. 0, -1 OOM, -2 bad shape (err). */
static int add_lookup(const psl_ctx_t *psl, const bool enabled[INTEL_PROVIDER_COUNT], const enrich_indicators *ind,
                      char *const *normalized, const json_t *m, intel_indicator *n, intel_asks *out, char *err,
                      size_t errlen)
{
    const json_t *value = json_object_get(m, "value");
    const json_t *provs = json_object_get(m, "providers");
    if (!json_is_object(m) || !json_is_string(value) ||
        (json_object_get(m, "kind") && !json_is_string(json_object_get(m, "kind"))) ||
        (provs && !json_is_array(provs))) {
        snprintf(err, errlen, "intel.lookups: each member must be {kind: string, value: string, providers: [string]}");
        return -2;
    }
    if (intel_normalize(psl, json_string_value(value), n) != INTEL_NORM_OK) {
        /* not an indicator, or never asked about (not public) */
        size_t i;
        const json_t *pv;
        json_array_foreach (provs, i, pv) {
            int p = intel_provider_parse(json_string_value(pv));
            if (p >= 0)
                out->skipped[p]++;
        }
        for (int p = 0; !provs && p < INTEL_PROVIDER_COUNT; p++)
            if (enabled[p])
                out->skipped[p]++;
        return 0;
    }
    const char *from = NULL;
    for (size_t i = 0; ind && i < ind->count && !from; i++)
        if (normalized[i] && !strcmp(normalized[i], n->value))
            from = ind->items[i].value;
    if (!provs || json_array_size(provs) == 0) {
        for (int p = 0; p < INTEL_PROVIDER_COUNT; p++)
            if (enabled[p] && intel_provider_supports((intel_provider)p, n->kind) &&
                ask_add(out, (intel_provider)p, n, from) != 0)
                return -1;
        return 0;
    }
    size_t i;
    const json_t *pv;
    json_array_foreach (provs, i, pv) {
        if (!json_is_string(pv)) {
            snprintf(err, errlen, "intel.lookups: providers must be strings");
            return -2;
        }
        int p = intel_provider_parse(json_string_value(pv));
        if (p < 0)
            continue; /* no such provider */
        if (!enabled[p] || !intel_provider_supports((intel_provider)p, n->kind)) {
            out->skipped[p]++;
            continue;
        }
        if (ask_add(out, (intel_provider)p, n, from) != 0)
            return -1;
    }
    return 0;
}

int intel_policy_decide(const intel_policy *pol, const psl_ctx_t *psl, const bool enabled[INTEL_PROVIDER_COUNT],
                        const Hutch__V1__Alert *a, const char *severity, int severity_score,
                        const enrich_indicators *ind, intel_asks *out, char *err, size_t errlen)
{
    if (!intel_policy_is_rego(pol))
        return decide_default(psl, enabled, ind, out);
    size_t count = ind ? ind->count : 0;
    char **normalized = calloc(count ? count : 1, sizeof *normalized);
    intel_indicator *n = malloc(sizeof *n);
    json_t *in = normalized && n ? policy_input(psl, enabled, a, severity, severity_score, ind, normalized) : NULL;
    rv *input = in ? rv_from_json(in) : NULL;
    rv *rs = NULL;
    json_t *res = NULL;
    int rc = -1;
    if (!input)
        goto out;
    rego_options o = {
        .strict_builtin_errors = true, .max_steps = INTEL_POLICY_MAX_STEPS, .max_memory = INTEL_POLICY_MAX_MEMORY};
    rego_error e;
    memset(&e, 0, sizeof e);
    if (rego_query_eval(pol->lookups, input, pol->data, &o, &rs, &e) != 0) {
        snprintf(err, errlen, "intel: %s", e.message);
        rc = -2;
        goto out;
    }
    res = rego_result_to_json(rs);
    rc = 0;
    const json_t *set = json_object_get(json_array_get(res, 0), "x");
    if (!set) /* undefined: nothing to ask */
        goto out;
    if (!json_is_array(set)) {
        snprintf(err, errlen, "intel.lookups must be a set, not a %s",
                 json_is_object(set)   ? "object"
                 : json_is_string(set) ? "string"
                                       : "scalar");
        rc = -2;
        goto out;
    }
    size_t i;
    const json_t *m;
    json_array_foreach (set, i, m) {
        rc = add_lookup(psl, enabled, ind, normalized, m, n, out, err, errlen);
        if (rc != 0)
            break;
    }
out:
    json_decref(res);
    rv_unref(rs);
    rv_unref(input);
    json_decref(in);
    for (size_t j = 0; normalized && j < count; j++)
        free(normalized[j]);
    free(normalized);
    free(n);
    return rc;
}
