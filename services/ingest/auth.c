/* auth.http for ingest (see auth.h for the input and the outcomes).
 *
 * The environment is read once at load (Warren exposes it as input.env; a policy
 * compares a header with a token kept in an environment variable) and shared by
 * every evaluation. Header names are canonicalised as Go's net/http does
 * ("x-api-key" -> "X-Api-Key") so Warren's policies, written against Go's map, read
 * the same keys; repeated headers and query parameters keep every value in order. */
#include "services/ingest/auth.h"

#include <ctype.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rego/bundle.h"
#include "rego/rego.h"

extern char **environ;

#define AUTH_MAX_STEPS 1000000
#define AUTH_MAX_MEMORY (64u * 1024 * 1024)

struct ingest_auth {
    rego_policy *pol;
    rego_query *allow;
    rv *env;
    rv *data;
};

void ingest_auth_free(ingest_auth *a)
{
    if (!a)
        return;
    rego_query_free(a->allow);
    rego_policy_free(a->pol);
    rv_unref(a->env);
    rv_unref(a->data);
    free(a);
}

static rv *environment(void)
{
    rv *o = rv_object_new(0);
    for (char **e = environ; o && e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (eq)
            rv_object_set(o, rv_string(*e, (size_t)(eq - *e)), rv_cstring(eq + 1));
    }
    return o;
}

ingest_auth *ingest_auth_load(const char *dir, char *err, size_t errlen)
{
    rego_bundle b;
    rego_bundle_init(&b);
    b.modules_only = true;
    ingest_auth *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (rego_bundle_add(&b, dir, REGO_SYNTAX_AUTO, err, errlen) != 0)
        goto fail;
    rego_error e;
    memset(&e, 0, sizeof e);
    a->pol = rego_compile(b.mods, b.n, REGO_SYNTAX_V0, &e);
    if (!a->pol) {
        snprintf(err, errlen, "%s", e.message);
        goto fail;
    }
    rego_rule_info *rules = NULL;
    size_t n = rego_policy_rules(a->pol, &rules);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = strncmp(rules[i].path, "data.auth.http.", 15) == 0;
    free(rules);
    if (!found) {
        snprintf(err, errlen, "%s: no package auth.http (its `allow` decides every ingest request)", dir);
        goto fail;
    }
    a->allow = rego_query_prepare(a->pol, "x := data.auth.http.allow", &e);
    if (!a->allow) {
        snprintf(err, errlen, "%s", e.message);
        goto fail;
    }
    a->env = environment();
    a->data = rv_object_new(0);
    if (!a->env || !a->data) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    rego_bundle_free(&b);
    return a;
fail:
    rego_bundle_free(&b);
    ingest_auth_free(a);
    return NULL;
}

/* Go's textproto.CanonicalMIMEHeaderKey for the usual token characters. NEW. */
static char *canonical_header(const char *name)
{
    char *c = strdup(name);
    if (!c)
        return NULL;
    for (const char *p = c; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.' || *p == '!' || *p == '#' ||
              *p == '$' || *p == '%' || *p == '&' || *p == '\'' || *p == '*' || *p == '+' || *p == '^' ||
              *p == '`' || *p == '|' || *p == '~'))
            return c; /* Go leaves such names as they are */
    bool upper = true;
    for (char *p = c; *p; p++) {
        *p = upper ? (char)toupper((unsigned char)*p) : (char)tolower((unsigned char)*p);
        upper = *p == '-';
    }
    return c;
}

/* Appends value to the array under key in obj (creating it). key stolen. */
static void multi_add(rv *obj, rv *key, rv *value)
{
    rv *old = rv_object_get(obj, key);
    size_t n = old ? rv_len(old) : 0;
    rv *arr = rv_array_new(n + 1);
    for (size_t i = 0; i < n; i++)
        rv_array_push(arr, rv_ref(rv_array_at(old, i)));
    rv_array_push(arr, value);
    rv_object_set(obj, key, arr);
}

static rv *query_object(const char *query)
{
    rv *q = rv_object_new(0);
    if (!query || !*query)
        return q;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    if (evhttp_parse_query_str(query, &kv) == 0) {
        struct evkeyval *e;
        TAILQ_FOREACH(e, &kv, next) multi_add(q, rv_cstring(e->key), rv_cstring(e->value));
    }
    evhttp_clear_headers(&kv);
    return q;
}

rv *ingest_auth_input(const ingest_auth *a, const ingest_auth_request *r)
{
    rv *header = rv_object_new(r->nheaders);
    for (size_t i = 0; i < r->nheaders; i++) {
        char *name = canonical_header(r->header_names[i]);
        if (!name) {
            rv_unref(header);
            return NULL;
        }
        multi_add(header, rv_cstring(name), rv_cstring(r->header_values[i] ? r->header_values[i] : ""));
        free(name);
    }
    rv *req = rv_object_new(7);
    rv_object_set(req, rv_cstring("method"), rv_cstring(r->method ? r->method : ""));
    rv_object_set(req, rv_cstring("path"), rv_cstring(r->path ? r->path : ""));
    rv_object_set(req, rv_cstring("body"), rv_string(r->body ? r->body : "", r->body ? r->body_len : 0));
    rv_object_set(req, rv_cstring("header"), header);
    rv_object_set(req, rv_cstring("remote"), rv_cstring(r->remote ? r->remote : ""));
    rv_object_set(req, rv_cstring("query"), query_object(r->query));
    rv *in = rv_object_new(4);
    rv_object_set(in, rv_cstring("req"), req);
    rv_object_set(in, rv_cstring("env"), rv_ref(a->env));
    if (r->google)
        rv_object_set(in, rv_cstring("google"), rv_from_json(r->google));
    if (r->sns)
        rv_object_set(in, rv_cstring("sns"), rv_from_json(r->sns));
    return in;
}

int ingest_auth_decide(const ingest_auth *a, rv *input, bool *allow, char *err, size_t errlen)
{
    *allow = false;
    rego_options o = {.strict_builtin_errors = true, .max_steps = AUTH_MAX_STEPS, .max_memory = AUTH_MAX_MEMORY};
    rego_error e;
    memset(&e, 0, sizeof e);
    rv *rs = NULL;
    if (rego_query_eval(a->allow, input, a->data, &o, &rs, &e) != 0) {
        snprintf(err, errlen, "auth.http: %s", e.message);
        return -1;
    }
    int rc = 0;
    if (rv_len(rs) > 0) {
        rv *x = rv_object_get_cstr(rv_array_at(rs, 0), "x");
        if (!x || rv_typeof(x) != RV_BOOL) {
            snprintf(err, errlen, "auth.http: allow must be a boolean, not %s", x ? rv_type_name(x) : "undefined");
            rc = -1;
        } else {
            *allow = rv_is_true(x);
        }
    }
    rv_unref(rs);
    return rc;
}

static bool secret_name(const char *name)
{
    static const char *const words[] = {"auth", "cookie", "token", "key", "secret", "signature", "password",
                                        "passwd", "credential", "sig", NULL};
    for (int i = 0; words[i]; i++)
        if (strcasestr(name, words[i]))
            return true;
    return false;
}

json_t *ingest_auth_redacted(const ingest_auth_request *r)
{
    json_t *h = json_object();
    for (size_t i = 0; i < r->nheaders; i++) {
        char *name = canonical_header(r->header_names[i]);
        if (!name)
            continue;
        json_t *arr = json_object_get(h, name);
        if (!arr) {
            arr = json_array();
            json_object_set_new(h, name, arr);
        }
        json_array_append_new(arr, json_string(secret_name(name) ? "[redacted]" : r->header_values[i]));
        free(name);
    }
    json_t *q = json_object();
    if (r->query && *r->query) {
        struct evkeyvalq kv;
        TAILQ_INIT(&kv);
        if (evhttp_parse_query_str(r->query, &kv) == 0) {
            struct evkeyval *e;
            TAILQ_FOREACH(e, &kv, next) {
                json_t *arr = json_object_get(q, e->key);
                if (!arr) {
                    arr = json_array();
                    json_object_set_new(q, e->key, arr);
                }
                json_array_append_new(arr, json_string(secret_name(e->key) ? "[redacted]" : e->value));
            }
        }
        evhttp_clear_headers(&kv);
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "method", r->method ? r->method : "", "path",
                     r->path ? r->path : "", "remote", r->remote ? r->remote : "", "query", q, "header", h);
}
