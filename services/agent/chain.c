/* The round loop of the action chain (chain.h): evaluate data.action.run, run the
 * actions not run yet through the executor, commit their results as attributes,
 * stop on abort, on a quiet round, on the cap or on an unforced error.
 *
 * The working state is jansson: the alert (a private copy whose attrs grow), the
 * called list and the set of ids run; each round converts the input to a Rego value
 * once. The report is built as it goes, with args masked. */
#include "services/agent/chain.h"

#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET_PREFIX "secret_"

json_t *chain_mask(const json_t *v)
{
    if (v == NULL)
        return NULL;
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *m;
        json_object_foreach ((json_t *)v, k, m) {
            json_t *c = strncmp(k, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0 ? json_string(CHAIN_MASK) : chain_mask(m);
            if (out == NULL || c == NULL || json_object_set_new(out, k, c) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        for (size_t i = 0; out && i < json_array_size(v); i++)
            if (json_array_append_new(out, chain_mask(json_array_get(v, i))) != 0) {
                json_decref(out);
                return NULL;
            }
        return out;
    }
    return json_deep_copy(v);
}

/* One step of a path: a member name or an index; *wild for [*] / .* */
static const char *path_step(const char *p, char *name, size_t nlen, long *index, bool *is_index, bool *wild)
{
    *wild = *is_index = false;
    if (*p == '.') {
        p++;
        if (*p == '*') {
            *wild = true;
            return p + 1;
        }
        size_t n = strcspn(p, ".[");
        if (n == 0 || n >= nlen)
            return NULL;
        memcpy(name, p, n);
        name[n] = '\0';
        return p + n;
    }
    if (*p != '[')
        return NULL;
    p++;
    if (*p == '*' && p[1] == ']') {
        *wild = true;
        return p + 2;
    }
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        const char *end = strchr(p, q);
        if (end == NULL || end[1] != ']' || (size_t)(end - p) >= nlen)
            return NULL;
        memcpy(name, p, (size_t)(end - p));
        name[end - p] = '\0';
        return end + 2;
    }
    char *end = NULL;
    *index = strtol(p, &end, 10);
    if (end == p || *end != ']')
        return NULL;
    *is_index = true;
    return end + 1;
}

const json_t *chain_jsonpath(const json_t *root, const char *path, bool *bad)
{
    *bad = false;
    const char *p = path;
    if (*p == '$')
        p++;
    else if (*p != '.' && *p != '[' && *p != '\0') {
        /* AlertChain's paths are written without "$.": "choices[0].message.content" */
        static __thread char buf[1024];
        if (snprintf(buf, sizeof buf, ".%s", p) >= (int)sizeof buf) {
            *bad = true;
            return NULL;
        }
        p = buf;
    }
    const json_t *cur = root;
    char name[256];
    while (*p && cur) {
        long index = 0;
        bool is_index, wild;
        const char *next = path_step(p, name, sizeof name, &index, &is_index, &wild);
        if (next == NULL) {
            *bad = true;
            return NULL;
        }
        p = next;
        if (wild) {
            if (json_is_array(cur))
                cur = json_array_get(cur, 0);
            else if (json_is_object(cur)) {
                void *it = json_object_iter((json_t *)cur);
                cur = it ? json_object_iter_value(it) : NULL;
            } else
                cur = NULL;
        } else if (is_index) {
            long n = (long)json_array_size(cur);
            if (index < 0)
                index += n;
            cur = json_is_array(cur) && index >= 0 && index < n ? json_array_get(cur, (size_t)index) : NULL;
        } else
            cur = json_is_object(cur) ? json_object_get(cur, name) : NULL;
    }
    return cur;
}

json_t *chain_env(char *const *envp, const char *allow)
{
    json_t *env = json_object();
    if (env == NULL || allow == NULL || *allow == '\0')
        return env;
    char *pats = strdup(allow);
    if (pats == NULL) {
        json_decref(env);
        return NULL;
    }
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *eq = strchr(envp[i], '=');
        if (eq == NULL || eq == envp[i] || (size_t)(eq - envp[i]) >= 256)
            continue;
        char name[256];
        memcpy(name, envp[i], (size_t)(eq - envp[i]));
        name[eq - envp[i]] = '\0';
        bool ok = false;
        size_t plen = strlen(allow);
        memcpy(pats, allow, plen + 1);
        for (char *save = NULL, *pat = strtok_r(pats, ",", &save); pat && !ok; pat = strtok_r(NULL, ",", &save)) {
            while (*pat == ' ')
                pat++;
            size_t l = strlen(pat);
            while (l && pat[l - 1] == ' ')
                pat[--l] = '\0';
            ok = *pat && fnmatch(pat, name, 0) == 0;
        }
        if (ok)
            json_object_set_new(env, name, json_string(eq + 1));
    }
    free(pats);
    return env;
}

const char *chain_locate(const chain_spec *spec, const char *needle, char *buf, size_t len)
{
    if (needle == NULL || *needle == '\0')
        return NULL;
    char quoted[300];
    if (snprintf(quoted, sizeof quoted, "\"%s\"", needle) >= (int)sizeof quoted)
        return NULL;
    for (size_t m = 0; m < spec->n_src; m++) {
        const char *text = spec->src_texts[m];
        const char *hit = text ? strstr(text, quoted) : NULL;
        if (hit == NULL)
            continue;
        int line = 1;
        for (const char *c = text; c < hit; c++)
            line += *c == '\n';
        snprintf(buf, len, "%s:%d", spec->src_names[m], line);
        return buf;
    }
    return NULL;
}

json_t *chain_alert_new(const char *id, const char *schema, const char *created_at, const char *title,
                        const char *description, const char *source, const char *namespace_, const json_t *attributes,
                        const char *payload_json)
{
    json_t *data = payload_json ? json_loads(payload_json, JSON_DECODE_ANY, NULL) : NULL;
    if (data == NULL)
        data = json_null();
    char *raw = json_dumps(data, JSON_INDENT(2) | JSON_ENCODE_ANY);
    json_t *attrs = json_array(), *refs = json_array();
    for (size_t i = 0; i < json_array_size(attributes); i++) {
        const json_t *a = json_array_get(attributes, i);
        const char *key = json_string_value(json_object_get(a, "key"));
        if (key == NULL)
            continue;
        const char *link = json_string_value(json_object_get(a, "link"));
        if (link && *link)
            json_array_append_new(refs, json_pack("{s:s, s:s}", "title", key, "url", link));
        const char *aid = json_string_value(json_object_get(a, "id"));
        char idbuf[300];
        if (aid == NULL || *aid == '\0') {
            snprintf(idbuf, sizeof idbuf, "attr-%s", key);
            aid = idbuf;
        }
        json_t *ttl = json_object_get(a, "ttl_seconds");
        if (ttl == NULL)
            ttl = json_object_get(a, "ttl");
        const char *type = json_string_value(json_object_get(a, "type"));
        const char *typed = json_string_value(json_object_get(a, "value_json"));
        json_t *value = typed && *typed ? json_loads(typed, JSON_DECODE_ANY, NULL) : NULL;
        if (value == NULL)
            value = json_incref(json_object_get(a, "value"));
        json_array_append_new(attrs, json_pack("{s:s, s:s, s:o, s:s, s:b, s:I}", "id", aid, "key", key, "value",
                                               value ? value : json_null(), "type", type ? type : "", "persist",
                                               json_is_true(json_object_get(a, "persist")), "ttl",
                                               (json_int_t)(json_is_integer(ttl) ? json_integer_value(ttl) : 0)));
    }
#define S_(x) ((x) ? (x) : "")
    json_t *alert = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "id", S_(id), "schema",
                              S_(schema), "created_at", S_(created_at), "title", S_(title), "description",
                              S_(description), "source", S_(source), "namespace", S_(namespace_), "attrs", attrs,
                              "refs", refs, "data", data, "raw", raw ? raw : "null");
#undef S_
    free(raw);
    return alert;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* An id for an action that has none: new every round (as AlertChain's random ids),
 * the same on a replay. */
static void derived_id(char *out, size_t len, int seq, size_t pos, const char *uses, const json_t *args)
{
    char *text = args ? json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ULL, uses), text);
    free(text);
    snprintf(out, len, "seq%d-%zu-%016llx", seq, pos, (unsigned long long)h);
}

static bool get_bool(const json_t *o, const char *k) { return json_is_true(json_object_get(o, k)); }

static const char *get_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Appends attr to attrs, replacing an earlier one with the same id (AlertChain's Tidy). */
static void attrs_put(json_t *attrs, json_t *attr /* stolen */)
{
    const char *id = get_str(attr, "id");
    for (size_t i = 0; i < json_array_size(attrs); i++)
        if (strcmp(get_str(json_array_get(attrs, i), "id"), id) == 0) {
            json_array_remove(attrs, i);
            break;
        }
    json_array_append_new(attrs, attr);
}

/* The attributes of one action's commit list, from its result. NEW array, or NULL
 * with err (a commit item that is not an object, a malformed path). */
static json_t *commit_attrs(const json_t *commit, const json_t *result, const char *action_id, char *err, size_t errlen)
{
    json_t *out = json_array();
    for (size_t i = 0; out && i < json_array_size(commit); i++) {
        const json_t *c = json_array_get(commit, i);
        if (!json_is_object(c)) {
            snprintf(err, errlen, "action %s: commit[%zu] is not an object", action_id, i);
            json_decref(out);
            return NULL;
        }
        const json_t *value = NULL;
        const char *path = json_string_value(json_object_get(c, "path"));
        if (path && *path) {
            bool bad = false;
            value = result ? chain_jsonpath(result, path, &bad) : NULL;
            if (bad) {
                snprintf(err, errlen, "action %s: commit[%zu]: malformed path \"%s\"", action_id, i, path);
                json_decref(out);
                return NULL;
            }
        }
        if (value == NULL)
            value = json_object_get(c, "value");
        if (value == NULL)
            continue; /* nothing to commit: AlertChain skips it */
        char id[256];
        const char *given = json_string_value(json_object_get(c, "id"));
        if (given && *given)
            snprintf(id, sizeof id, "%s", given);
        else
            snprintf(id, sizeof id, "%.200s/%016llx", action_id,
                     (unsigned long long)fnv1a(0xcbf29ce484222325ULL, get_str(c, "key")));
        json_t *ttl = json_object_get(c, "ttl");
        json_t *attr = json_pack("{s:s, s:s, s:O, s:s, s:b, s:I}", "id", id, "key", get_str(c, "key"), "value", value,
                                 "type", get_str(c, "type"), "persist", get_bool(c, "persist"), "ttl",
                                 (json_int_t)(json_is_integer(ttl) ? json_integer_value(ttl) : 86400));
        if (attr == NULL || json_array_append_new(out, attr) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static int finish(json_t *report, const char *stopped, const char *error, int rc)
{
    json_object_set_new(report, "stopped", json_string(stopped));
    if (error)
        json_object_set_new(report, "error", json_string(error));
    return rc;
}

/* Evaluates the run rule for input; NEW array of action objects, or NULL with err. */
static json_t *eval_run(const chain_spec *spec, const json_t *input, char *err, size_t errlen)
{
    rv *in = rv_from_json(input);
    rv *rs = NULL;
    rego_error e;
    memset(&e, 0, sizeof e);
    int rc = in ? rego_query_eval(spec->query, in, spec->data, &spec->opts, &rs, &e) : -1;
    rv_unref(in);
    if (rc != 0) {
        snprintf(err, errlen, "%s", in ? e.message : "out of memory");
        return NULL;
    }
    json_t *set = json_array();
    if (rv_len(rs) > 0) {
        rv *run = rv_object_get_cstr(rv_array_at(rs, 0), "run");
        if (run == NULL || (rv_typeof(run) != RV_SET && rv_typeof(run) != RV_ARRAY)) {
            snprintf(err, errlen, "data.action.run is a %s, not a set of actions", run ? rv_type_name(run) : "nothing");
            json_decref(set);
            rv_unref(rs);
            return NULL;
        }
        json_decref(set);
        set = rv_to_json(run);
    }
    rv_unref(rs);
    for (size_t i = 0; set && i < json_array_size(set); i++) {
        const json_t *a = json_array_get(set, i);
        const json_t *args = json_object_get(a, "args"), *commit = json_object_get(a, "commit");
        const char *why = !json_is_object(a) ? "is not an object"
                          : json_object_get(a, "uses") && !json_is_string(json_object_get(a, "uses"))
                              ? "has a uses that is not a string"
                          : json_object_get(a, "id") && !json_is_string(json_object_get(a, "id"))
                              ? "has an id that is not a string"
                          : args && !json_is_object(args)    ? "has args that are not an object"
                          : commit && !json_is_array(commit) ? "has a commit that is not an array"
                                                             : NULL;
        if (why) {
            snprintf(err, errlen, "action %zu of data.action.run %s", i, why);
            json_decref(set);
            return NULL;
        }
    }
    return set;
}

int chain_run(const chain_spec *spec, const json_t *alert_in, const json_t *env, json_t **report_out)
{
    json_t *report = json_pack("{s:[]}", "rounds");
    json_t *alert = json_deep_copy(alert_in);
    json_t *called = json_array();
    json_t *ran = json_object(); /* ids run so far */
    *report_out = report;
    if (!report || !alert || !called || !ran) {
        json_decref(alert);
        json_decref(called);
        json_decref(ran);
        json_decref(report);
        *report_out = NULL;
        return CHAIN_RETRY;
    }
    if (!json_is_array(json_object_get(alert, "attrs")))
        json_object_set_new(alert, "attrs", json_array());
    json_t *attrs = json_object_get(alert, "attrs");
    json_t *no_env = json_object(), *no_args = json_object();
    int max = spec->max_rounds > 0 ? spec->max_rounds : CHAIN_DEFAULT_MAX_ROUNDS;
    int rc = CHAIN_OK;
    char err[1024];
    bool done = false;
    for (int seq = 0; seq < max && !done; seq++) {
        json_t *input =
            json_pack("{s:O, s:O, s:i, s:O}", "alert", alert, "env", env ? env : no_env, "seq", seq, "called", called);
        json_t *set = input ? eval_run(spec, input, err, sizeof err) : NULL;
        json_decref(input);
        if (set == NULL) {
            rc = finish(report, "policy_error", err, CHAIN_POLICY);
            done = true;
            break;
        }
        json_t *round = json_pack("{s:i, s:[]}", "seq", seq, "actions");
        json_array_append_new(json_object_get(report, "rounds"), round);
        json_t *round_actions = json_object_get(round, "actions");
        size_t fresh = 0;
        bool abort = false;
        for (size_t i = 0; i < json_array_size(set) && !done; i++) {
            json_t *a = json_array_get(set, i);
            char idbuf[96];
            const char *id = json_string_value(json_object_get(a, "id"));
            const json_t *args = json_object_get(a, "args");
            if (id == NULL || *id == '\0') {
                derived_id(idbuf, sizeof idbuf, seq, i, get_str(a, "uses"), args);
                id = idbuf;
            }
            if (json_object_get(ran, id))
                continue;
            fresh++;
            json_object_set_new(ran, id, json_true());
            chain_action act = {.id = id,
                                .name = get_str(a, "name"),
                                .uses = get_str(a, "uses"),
                                .args = args ? args : no_args,
                                .force = get_bool(a, "force"),
                                .abort = get_bool(a, "abort"),
                                .seq = seq};
            abort |= act.abort;
            json_t *entry = json_pack("{s:s, s:s, s:s, s:o, s:b, s:b}", "id", id, "name", act.name, "uses", act.uses,
                                      "args", chain_mask(act.args), "force", act.force, "abort", act.abort);
            json_array_append_new(round_actions, entry);
            if (*act.uses && spec->uses_known && !spec->uses_known(spec->exec_ctx, act.uses)) {
                char where[200], msg[600];
                const char *at = chain_locate(spec, act.uses, where, sizeof where);
                snprintf(msg, sizeof msg, "%s%sunknown action \"%s\" (uses) in action %s", at ? at : "", at ? ": " : "",
                         act.uses, id);
                rc = finish(report, "policy_error", msg, CHAIN_POLICY);
                done = true;
                break;
            }
            json_t *result = NULL;
            int xrc = 0;
            err[0] = '\0';
            if (*act.uses)
                xrc = spec->exec(spec->exec_ctx, &act, alert, &result, err, sizeof err);
            json_t *done_action = json_deep_copy(a);
            json_object_set_new(done_action, "id", json_string(id));
            if (xrc == CHAIN_RETRY) {
                json_decref(done_action);
                rc = finish(report, "retry", err, CHAIN_RETRY);
                done = true;
                break;
            }
            if (xrc != 0) {
                json_object_set_new(entry, "error", json_string(err));
                json_object_set_new(done_action, "error", json_string(err));
                json_array_append_new(called, done_action);
                if (!act.force) {
                    char msg[1200];
                    snprintf(msg, sizeof msg, "action %s (%s) failed: %s", id, act.uses, err);
                    rc = finish(report, "error", msg, CHAIN_FAILED);
                    done = true;
                }
                continue;
            }
            json_object_set_new(entry, "result", result ? chain_mask(result) : json_null());
            json_object_set_new(done_action, "result", result ? json_incref(result) : json_null());
            json_array_append_new(called, done_action);
            json_t *committed = commit_attrs(json_object_get(a, "commit"), result, id, err, sizeof err);
            json_decref(result);
            if (committed == NULL) {
                rc = finish(report, "policy_error", err, CHAIN_POLICY);
                done = true;
                break;
            }
            json_object_set(entry, "commit", committed);
            for (size_t k = 0; k < json_array_size(committed); k++)
                attrs_put(attrs, json_incref(json_array_get(committed, k)));
            json_decref(committed);
        }
        json_decref(set);
        if (done)
            break;
        if (abort) {
            rc = finish(report, "abort", NULL, CHAIN_OK);
            done = true;
        } else if (fresh == 0) {
            rc = finish(report, "no_new_action", NULL, CHAIN_OK);
            done = true;
        }
    }
    if (!done)
        rc = finish(report, "max_rounds", NULL, CHAIN_OK);
    json_object_set(report, "attrs", attrs);
    json_decref(alert);
    json_decref(called);
    json_decref(ran);
    json_decref(no_env);
    json_decref(no_args);
    return rc;
}
