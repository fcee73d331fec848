/* hutchctl policy eval / test / decide: the Rego engine (common/rego) on a policy
 * directory, the way `opa eval` and `opa test` run it, and the policy service's own
 * decision (services/policy/rules.h), so an author can check a policy without OPA
 * and without the services.
 *
 *   policy eval   --policy DIR [--input FILE] [--data FILE] [--v0] QUERY
 *   policy test   --policy DIR [--detect DIR] [--ignore DIR] [--data PATH] [--v0] [--run REGEX]
 *   policy decide --policy DIR --schema S [--input FILE] [--strict]
 *   policy coverage --policy DIR EVENTS_DIR
 *
 * eval loads (rego_bundle_load, common/rego/bundle.c) as OPA loads `-d DIR`: every
 * *.rego below DIR (recursively, hidden entries skipped, sorted) is a module; every
 * *.json / *.yaml / *.yml document is data, merged into `data` under its directory's
 * path relative to DIR (DIR/a/b/x.json lands at data.a.b); two documents that set the
 * same leaf differently are an error. YAML is read with the engine's own
 * yaml.unmarshal, so a document means the same as in a policy. --data FILE merges a
 * document at the root. Modules are Rego v1 unless they say otherwise; --v0 makes v0
 * the default (AlertChain and older Warren policies).
 *
 * eval prints OPA's `--format json` shape: {"result":[{"expressions":[{"value",
 * "text","location"}],"bindings":{...}}]}, {} when undefined, and
 * {"errors":[{"message","code","location"}]} (exit 1) on an error.
 *
 * test and decide read the modules only (bundle modules_only): Warren-style policy
 * directories keep their fixtures (.json, possibly several concatenated objects)
 * beside the modules, and those are not data. test's --data PATH gives the test_*
 * rules data documents (a file at the root, or a directory loaded like `opa test`).
 *
 * test collects its cases into one list, then runs and reports them in one loop:
 *   - every rule named test_* (not functions), in any module as opa test does: passes
 *     when its value is defined and not false;
 *   - with --detect/--ignore, Warren's fixtures: ROOT/<schema>/ then every *.json /
 *     *.jsonl below (fixture.h splits a file into objects); each object is decided by
 *     policy_rules_decide in strict mode, with the service's limits; a detect case
 *     passes with at least one alert, an ignore case with none. Unreadable files, bad
 *     JSON, a policy error, a file with no schema directory are ERROR cases, never
 *     skipped. With fixtures, modules are compiled the way hutch-policy compiles them
 *     (each module's syntax detected, v0 when it does not tell) unless --v0.
 * One line per case ("FILE:LINE: NAME: PASS (0.2ms)"), the error or what came out
 * indented below a FAIL/ERROR, then "PASS: n/m" (and FAIL / ERROR counts); exit 1
 * unless all passed. --run REGEX filters cases by name (rule path or fixture name).
 *
 * decide prints one decision as JSON: {schema, package, status, reason, alerts}.
 *
 * coverage reads every event under EVENTS_DIR/<schema>/ the way test reads fixtures
 * (the same walker: *.json, *.jsonl at any depth) and decides each as hutch-policy
 * does in strict mode, then reports per schema how many events were accepted,
 * ignored (each distinct reason with its count; an ignore without a reason from the
 * package is a silent drop and says so), unrecognised (only "<source>: unrecognised
 * event (...)" alerts, an "unrecognised ... strict mode" reason, or no policy for the
 * schema) and errors (bad JSON, unreadable files, policy errors). Exit 1 when there
 * were errors. An operator points it at a dump of their own alerts. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <dirent.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/fixture.h"
#include "cli/output.h"
#include "common/strbuf.h"
#include "rego/bundle.h"
#include "rego/rego.h"
#include "rego/value.h"
#include "services/policy/decide_json.h"
#include "services/policy/rules.h"

/* ------------------------------------------------------------ output helpers */

/* The bare message of an error (its text without the "file:l:c: code: " prefix). */
static const char *bare_message(const rego_error *e)
{
    char pre[64];
    snprintf(pre, sizeof pre, "%s: ", e->code);
    const char *p = e->code[0] ? strstr(e->message, pre) : NULL;
    return p ? p + strlen(pre) : e->message;
}

static json_t *error_doc(const rego_error *e)
{
    json_t *loc = json_pack("{s:s,s:i,s:i}", "file", e->file, "row", e->line, "col", e->col);
    json_t *one = json_pack("{s:s,s:s,s:o}", "message", bare_message(e), "code", e->code[0] ? e->code : "rego_error",
                            "location", loc);
    return json_pack("{s:[o]}", "errors", one);
}

static void sb_indent(strbuf *b, int depth)
{
    strbuf_add(b, "\n", 1);
    for (int i = 0; i < depth; i++)
        strbuf_add(b, "  ", 2);
}

/* Pretty-prints compact JSON text the way `opa eval` does (2 spaces, "k": v), so
 * values keep exact numbers (the engine's own JSON text) end to end. */
static void pretty(FILE *out, const char *s)
{
    strbuf b = {0};
    int depth = 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '"') {
            const char *q = p + 1;
            while (*q && *q != '"')
                q += *q == '\\' && q[1] ? 2 : 1;
            strbuf_add(&b, p, (size_t)(q - p) + (*q ? 1 : 0));
            p = *q ? q : q - 1;
        } else if (c == '{' || c == '[') {
            char close = c == '{' ? '}' : ']';
            if (p[1] == close) {
                strbuf_add(&b, p, 2);
                p++;
            } else {
                strbuf_add(&b, p, 1);
                sb_indent(&b, ++depth);
            }
        } else if (c == '}' || c == ']') {
            sb_indent(&b, --depth);
            strbuf_add(&b, p, 1);
        } else if (c == ',') {
            strbuf_add(&b, ",", 1);
            sb_indent(&b, depth);
        } else if (c == ':') {
            strbuf_add(&b, ": ", 2);
        } else {
            strbuf_add(&b, p, 1);
        }
    }
    if (b.failed)
        cli_error("out of memory");
    else
        fprintf(out, "%s\n", b.p ? b.p : "");
    strbuf_free(&b);
}

static void print_error_json(const rego_error *e)
{
    json_t *doc = error_doc(e);
    output_json(stdout, doc);
    json_decref(doc);
}

/* ------------------------------------------------------------ policy eval */

/* Text of expression i of the query: from its start to the next one's. */
static char *expr_text(const char *query, const rego_query_expr *ex, size_t n, size_t i)
{
    size_t off[2] = {0, strlen(query)};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && i + 1 >= n)
            break;
        const rego_query_expr *x = &ex[i + (size_t)k];
        size_t o = 0;
        int line = 1;
        while (query[o] && line < x->line)
            if (query[o++] == '\n')
                line++;
        o += x->col > 0 ? (size_t)x->col - 1 : 0;
        off[k] = o < off[1] || k == 1 ? o : off[1];
    }
    if (off[1] > strlen(query))
        off[1] = strlen(query);
    size_t a = off[0], z = off[1];
    while (z > a && strchr(" \t\r\n;", query[z - 1]))
        z--;
    return strndup(query + a, z > a ? z - a : 0);
}

int cmd_policy_eval(cli *c)
{
    const char *query = c->args[0];
    rego_syntax syn = c->v0 ? REGO_SYNTAX_V0 : REGO_SYNTAX_V1;
    rego_bundle ps;
    char err[2048];
    if (rego_bundle_load(&ps, c->policy_dir, c->data_path, syn, err, sizeof err) != 0) {
        cli_error("%s", err);
        rego_bundle_free(&ps);
        return CLI_FAIL;
    }
    rv *input = NULL;
    if (c->input_path) {
        input = rego_read_document(c->input_path, err, sizeof err);
        if (!input) {
            cli_error("%s", err);
            rego_bundle_free(&ps);
            return CLI_FAIL;
        }
    }
    int rc = CLI_OK;
    rego_error e;
    memset(&e, 0, sizeof e);
    rego_query_expr *ex = NULL;
    size_t nex = 0;
    rv *rs = NULL;
    rego_query *q = NULL;
    rego_policy *pol = rego_compile(ps.mods, ps.n, syn, &e);
    if (pol)
        q = rego_query_prepare_capture(pol, query, &ex, &nex, &e);
    if (!pol || !q || rego_query_eval(q, input, ps.data, NULL, &rs, &e) != 0) {
        print_error_json(&e);
        rc = CLI_FAIL;
    } else if (rv_len(rs) == 0) {
        puts("{}");
    } else {
        strbuf b = {0};
        strbuf_puts(&b, "{\"result\":[");
        for (size_t r = 0; r < rv_len(rs); r++) {
            rv *row = rv_array_at(rs, r);
            strbuf_puts(&b, r ? ",{\"expressions\":[" : "{\"expressions\":[");
            for (size_t i = 0; i < nex; i++) {
                char key[24];
                snprintf(key, sizeof key, "$%zu", i);
                rv *v = ex[i].captured ? rv_object_get_cstr(row, key) : NULL;
                char *vt = v ? rv_to_json_text(v) : strdup("true");
                char *tx = expr_text(query, ex, nex, i);
                json_t *js = json_string(tx ? tx : "");
                char *tj = json_dumps(js, JSON_ENCODE_ANY);
                char loc[96];
                snprintf(loc, sizeof loc, ",\"location\":{\"row\":%d,\"col\":%d}}", ex[i].line, ex[i].col);
                strbuf_puts(&b, i ? ",{\"value\":" : "{\"value\":");
                strbuf_puts(&b, vt ? vt : "null");
                strbuf_puts(&b, ",\"text\":");
                strbuf_puts(&b, tj ? tj : "\"\"");
                strbuf_puts(&b, loc);
                free(tj);
                json_decref(js);
                free(tx);
                free(vt);
            }
            strbuf_puts(&b, "]");
            /* bindings: the row without the captured "$N" values */
            rv *bind = rv_object_new(rv_len(row));
            for (size_t k = 0; k < rv_len(row); k++) {
                rv *key = rv_object_key_at(row, k);
                if (rv_typeof(key) == RV_STRING && rv_str(key)[0] == '$')
                    continue;
                rv_object_set(bind, rv_ref(key), rv_ref(rv_object_val_at(row, k)));
            }
            if (rv_len(bind)) {
                char *bt = rv_to_json_text(bind);
                strbuf_puts(&b, ",\"bindings\":");
                strbuf_puts(&b, bt ? bt : "{}");
                free(bt);
            }
            rv_unref(bind);
            strbuf_puts(&b, "}");
        }
        strbuf_puts(&b, "]}");
        if (b.failed) {
            cli_error("out of memory");
            rc = CLI_FAIL;
        } else {
            pretty(stdout, b.p);
        }
        strbuf_free(&b);
    }
    free(ex);
    rv_unref(rs);
    rego_query_free(q);
    rego_policy_free(pol);
    rv_unref(input);
    rego_bundle_free(&ps);
    return rc;
}

/* ------------------------------------------------------------ policy test */

typedef enum { TEST_PASS, TEST_FAIL, TEST_ERROR } test_outcome;
typedef enum { CASE_RULE, CASE_DETECT, CASE_IGNORE, CASE_EVENT } case_kind;

/* One test case: a test_* rule, or one object of a detect/ignore fixture file.
 * Collectors fill one list, one loop runs it, one report prints it. */
typedef struct {
    case_kind kind;
    char *name;       /* "data.pkg.test_x" / "detect/guardduty/sub/file.json#2" */
    char *query;      /* rule: evaluated for the verdict: defined and not false passes */
    const char *file; /* rule: BORROWED from the policy; fixture: == path */
    int line;
    char *path;       /* fixture: the file */
    char *schema;     /* fixture: its schema (first directory level) */
    char *payload;    /* fixture: the object's own text (the input, numbers exact) */
    json_t *doc;      /* fixture: the parsed object; NULL when the case is an ERROR already */
    test_outcome outcome;
    double ms;
    rego_error err;   /* rule: the evaluation error */
    char *detail;     /* fixture: what came out on FAIL, the message on ERROR */
    json_t *alerts;   /* fixture: the titles of the alerts that came out */
} policy_test;

typedef struct {
    policy_test *v;
    size_t n, cap;
} test_list;

static void tests_free(test_list *t)
{
    for (size_t i = 0; i < t->n; i++) {
        policy_test *p = &t->v[i];
        free(p->name);
        free(p->query);
        free(p->path);
        free(p->schema);
        free(p->payload);
        json_decref(p->doc);
        free(p->detail);
        json_decref(p->alerts);
    }
    free(t->v);
}

static policy_test *tests_add(test_list *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        policy_test *nv = realloc(t->v, cap * sizeof *nv);
        if (!nv)
            return NULL;
        t->v = nv;
        t->cap = cap;
    }
    policy_test *p = &t->v[t->n++];
    memset(p, 0, sizeof *p);
    return p;
}

/* --run: a case runs when its name matches (no filter: all run). */
typedef struct {
    pcre2_code *re;
    pcre2_match_data *md;
} name_filter;

static bool wanted(const name_filter *f, const char *name)
{
    return !f->re || pcre2_match(f->re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, f->md, NULL) >= 0;
}

/* test_* rules of every module, once per rule name, filtered by run. */
static int collect_rule_tests(const rego_policy *pol, const name_filter *run, test_list *out)
{
    rego_rule_info *rules = NULL;
    size_t n = rego_policy_rules(pol, &rules);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const rego_rule_info *r = &rules[i];
        const char *last = strrchr(r->path, '.');
        /* as opa test: every rule named test_* is a test, whatever its file is called */
        if (!r->file || r->is_function || r->is_default || !r->static_ref ||
            !last || strncmp(last + 1, "test_", 5) != 0)
            continue;
        bool dup = false;
        for (size_t k = 0; k < out->n && !dup; k++)
            dup = out->v[k].kind == CASE_RULE && strcmp(out->v[k].name, r->path) == 0;
        if (dup || !wanted(run, r->path))
            continue;
        policy_test *t = tests_add(out);
        if (!t) {
            rc = -1;
            break;
        }
        t->kind = CASE_RULE;
        t->name = strdup(r->path);
        size_t ql = strlen(r->path) + 16;
        t->query = malloc(ql);
        if (t->query)
            snprintf(t->query, ql, "x := %s", r->path);
        t->file = r->file;
        t->line = r->line;
        if (!t->name || !t->query)
            rc = -1;
    }
    free(rules);
    return rc;
}

/* ---- fixtures (Warren's layout): ROOT/<schema>/ then *.json|*.jsonl at any depth,
 * one case per object */

static int visible_entry(const struct dirent *e) { return e->d_name[0] != '.'; }

static const char *kind_dir(case_kind k)
{
    return k == CASE_DETECT ? "detect" : k == CASE_IGNORE ? "ignore" : "events";
}

/* A case that is an ERROR before it runs (an unreadable file, bad JSON, a misplaced
 * file): reported and counted like any other. 0, or -1 on OOM. */
static int add_error_case(test_list *out, case_kind kind, const char *name, const char *path, const char *schema,
                          int line, const char *msg, const name_filter *f)
{
    if (!wanted(f, name))
        return 0;
    policy_test *t = tests_add(out);
    if (!t)
        return -1;
    t->kind = kind;
    t->outcome = TEST_ERROR;
    t->name = strdup(name);
    t->path = strdup(path);
    t->file = t->path;
    t->schema = strdup(schema ? schema : "");
    t->line = line;
    t->detail = strdup(msg);
    return t->name && t->path && t->schema && t->detail ? 0 : -1;
}

/* The cases of one fixture file; rel is its name ("detect/<schema>/sub/file.json"). */
static int collect_fixture_file(test_list *out, case_kind kind, const char *schema, const char *path, const char *rel,
                                const name_filter *f)
{
    bool jsonl = false;
    fixture_is_file(rel, &jsonl);
    size_t len = 0;
    char *text = rego_read_file(path, &len);
    if (!text) {
        char msg[4200];
        snprintf(msg, sizeof msg, "cannot read %s: %s", path, strerror(errno));
        return add_error_case(out, kind, rel, path, schema, 0, msg, f);
    }
    fixture_docs docs = {0};
    int rc = fixture_split(text, len, jsonl, &docs);
    for (size_t i = 0; i < docs.n && rc == 0; i++) {
        const fixture_doc *d = &docs.v[i];
        char name[4200];
        if (docs.n > 1)
            snprintf(name, sizeof name, "%s#%zu", rel, i + 1);
        else
            snprintf(name, sizeof name, "%s", rel);
        if (!d->value) {
            rc = add_error_case(out, kind, name, path, schema, d->line, d->error, f);
            continue;
        }
        if (!wanted(f, name))
            continue;
        policy_test *t = tests_add(out);
        if (!t) {
            rc = -1;
            break;
        }
        t->kind = kind;
        t->name = strdup(name);
        t->path = strdup(path);
        t->file = t->path;
        t->schema = strdup(schema);
        t->line = d->line;
        t->payload = strndup(text + d->off, d->len);
        t->doc = json_incref(d->value);
        if (!t->name || !t->path || !t->schema || !t->payload)
            rc = -1;
    }
    fixture_docs_free(&docs);
    free(text);
    return rc;
}

/* Everything below a schema directory: *.json / *.jsonl at any depth (other files
 * are not fixtures), sorted, hidden entries skipped. */
static int walk_fixtures(test_list *out, case_kind kind, const char *schema, const char *dir, const char *rel,
                         const name_filter *f)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, visible_entry, alphasort);
    if (n < 0) {
        char msg[4200];
        snprintf(msg, sizeof msg, "cannot read directory %s: %s", dir, strerror(errno));
        return add_error_case(out, kind, rel, dir, schema, 0, msg, f);
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096], relp[4096];
        struct stat st;
        if (rc == 0 && snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name) < (int)sizeof path &&
            snprintf(relp, sizeof relp, "%s/%s", rel, ents[i]->d_name) < (int)sizeof relp) {
            if (stat(path, &st) != 0) {
                char msg[4200];
                snprintf(msg, sizeof msg, "cannot read %s: %s", path, strerror(errno));
                rc = add_error_case(out, kind, relp, path, schema, 0, msg, f);
            } else if (S_ISDIR(st.st_mode)) {
                rc = walk_fixtures(out, kind, schema, path, relp, f);
            } else if (fixture_is_file(ents[i]->d_name, NULL)) {
                rc = collect_fixture_file(out, kind, schema, path, relp, f);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

/* ROOT's first level names the schemas. A fixture file right under ROOT has no
 * schema: an ERROR case. ROOT itself missing is a plain failure (err). */
static int collect_fixture_tests(const char *root, case_kind kind, const name_filter *f, test_list *out, char *err,
                                 size_t errlen)
{
    struct dirent **ents = NULL;
    int n = scandir(root, &ents, visible_entry, alphasort);
    if (n < 0) {
        if (kind == CASE_EVENT)
            snprintf(err, errlen, "%s: %s", root, strerror(errno));
        else
            snprintf(err, errlen, "--%s %s: %s", kind_dir(kind), root, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096], rel[4096];
        struct stat st;
        const char *name = ents[i]->d_name;
        if (rc == 0 && snprintf(path, sizeof path, "%s/%s", root, name) < (int)sizeof path &&
            (kind == CASE_EVENT ? snprintf(rel, sizeof rel, "%s", name)
                                : snprintf(rel, sizeof rel, "%s/%s", kind_dir(kind), name)) < (int)sizeof rel) {
            if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
                rc = walk_fixtures(out, kind, name, path, rel, f);
            } else if (fixture_is_file(name, NULL)) {
                char msg[4200];
                if (kind == CASE_EVENT)
                    snprintf(msg, sizeof msg, "an event file needs a schema directory: put it in %s/<schema>/", root);
                else
                    snprintf(msg, sizeof msg, "a fixture file needs a schema directory: put it in %s/<schema>/",
                             kind_dir(kind));
                rc = add_error_case(out, kind, rel, path, NULL, 0, msg, f);
            }
        }
        free(ents[i]);
    }
    free(ents);
    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    return rc;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void run_rule_test(const rego_policy *pol, rv *data, policy_test *t)
{
    /* a runaway test stops with eval_limit_error instead of hanging the run */
    rego_options opts = {.max_steps = 500000000, .max_memory = (size_t)2 << 30};
    rv *rs = NULL;
    if (rego_eval(pol, t->query, NULL, data, &opts, &rs, &t->err) != 0) {
        t->outcome = TEST_ERROR;
    } else {
        t->outcome = TEST_FAIL;
        for (size_t i = 0; i < rv_len(rs); i++) {
            rv *v = rv_object_get_cstr(rv_array_at(rs, i), "x");
            if (v && !(rv_typeof(v) == RV_BOOL && !rv_is_true(v)))
                t->outcome = TEST_PASS;
        }
    }
    rv_unref(rs);
}

/* The service's defaults (HUTCH_POLICY_MAX_STEPS, HUTCH_POLICY_MAX_MEMORY_MB), so a
 * policy that passes here does not hit the limits in hutch-policy. */

/* A fixture case, decided as hutch-policy would in strict mode (a schema without a
 * policy fails a detect case with the reason instead of raising the default alert). */
static void run_fixture(policy_rules *rules, policy_test *t)
{
    if (!t->doc)
        return; /* an ERROR already (bad JSON, unreadable file) */
    policy_rules_options o = {.strict = true, .max_steps = DECIDE_MAX_STEPS, .max_memory = DECIDE_MAX_MEMORY};
    policy_input in = {.event_id = DECIDE_EVENT_ID, .schema = t->schema, .source = "hutchctl",
                       .payload_json = t->payload};
    policy_decision d;
    memset(&d, 0, sizeof d);
    char err[2048];
    if (policy_rules_decide(rules, &o, &in, &d, err, sizeof err) != 0) {
        t->outcome = TEST_ERROR;
        t->detail = strdup(err);
        policy_decision_free(&d);
        return;
    }
    t->alerts = json_array();
    strbuf b = {0};
    for (size_t i = 0; i < d.count; i++) {
        json_array_append_new(t->alerts, json_string(d.alerts[i].title ? d.alerts[i].title : ""));
        json_t *s = json_string(d.alerts[i].title ? d.alerts[i].title : "");
        char *q = json_dumps(s, JSON_ENCODE_ANY);
        strbuf_puts(&b, i ? ", " : "");
        strbuf_puts(&b, q ? q : "\"\"");
        free(q);
        json_decref(s);
    }
    char msg[4096];
    if (t->kind == CASE_DETECT && d.count == 0) {
        t->outcome = TEST_FAIL;
        snprintf(msg, sizeof msg, "expected an alert, got none: %s",
                 d.reason && *d.reason ? d.reason : "the policy gave no alert");
        t->detail = strdup(msg);
    } else if (t->kind == CASE_IGNORE && d.count > 0) {
        t->outcome = TEST_FAIL;
        snprintf(msg, sizeof msg, "expected no alert, got %zu from %s: %s", d.count,
                 d.package && *d.package ? d.package : "the default alert",
                 b.failed ? "(titles lost: out of memory)" : b.p ? b.p : "");
        t->detail = strdup(msg);
    } else {
        t->outcome = TEST_PASS;
    }
    strbuf_free(&b);
    policy_decision_free(&d);
}

static const char *outcome_name(test_outcome o)
{
    return o == TEST_PASS ? "PASS" : o == TEST_FAIL ? "FAIL" : "ERROR";
}

static json_t *fixture_error_doc(const policy_test *t)
{
    json_t *loc = json_pack("{s:s,s:i,s:i}", "file", t->file ? t->file : "", "row", t->line, "col", 0);
    json_t *one = json_pack("{s:s,s:s,s:o}", "message", t->detail ? t->detail : "", "code",
                            t->doc ? "hutch_policy_error" : "hutch_fixture_error", "location", loc);
    return json_pack("{s:[o]}", "errors", one);
}

static void report(const test_list *tests, const size_t count[3], bool json)
{
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < tests->n; i++) {
            const policy_test *t = &tests->v[i];
            json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:s,s:f}", "name", t->name, "kind",
                                  t->kind == CASE_RULE ? "rule" : kind_dir(t->kind), "file", t->file ? t->file : "",
                                  "line", t->line, "result", outcome_name(t->outcome), "duration_ms", t->ms);
            if (t->kind != CASE_RULE) {
                json_object_set_new(o, "schema", json_string(t->schema ? t->schema : ""));
                if (t->alerts)
                    json_object_set(o, "alerts", t->alerts);
                if (t->outcome == TEST_FAIL)
                    json_object_set_new(o, "detail", json_string(t->detail ? t->detail : ""));
            }
            if (t->outcome == TEST_ERROR)
                json_object_set_new(o, "error", t->kind == CASE_RULE ? error_doc(&t->err) : fixture_error_doc(t));
            json_array_append_new(arr, o);
        }
        json_t *doc = json_pack("{s:o,s:i,s:i,s:i,s:i}", "tests", arr, "passed", (int)count[TEST_PASS], "failed",
                                (int)count[TEST_FAIL], "errors", (int)count[TEST_ERROR], "total", (int)tests->n);
        output_json(stdout, doc);
        json_decref(doc);
        return;
    }
    for (size_t i = 0; i < tests->n; i++) {
        const policy_test *t = &tests->v[i];
        printf("%s:%d: %s: %s (%.3fms)\n", t->file ? t->file : "", t->line, t->name, outcome_name(t->outcome), t->ms);
        if (t->kind == CASE_RULE && t->outcome == TEST_ERROR)
            printf("  %s\n", t->err.message);
        else if (t->kind != CASE_RULE && t->outcome != TEST_PASS)
            printf("  %s\n", t->detail ? t->detail : "");
    }
    puts("--------------------------------------------------------------------------------");
    printf("PASS: %zu/%zu\n", count[TEST_PASS], tests->n);
    if (count[TEST_FAIL])
        printf("FAIL: %zu/%zu\n", count[TEST_FAIL], tests->n);
    if (count[TEST_ERROR])
        printf("ERROR: %zu/%zu\n", count[TEST_ERROR], tests->n);
}

int cmd_policy_test(cli *c)
{
    bool fixtures = c->detect_dir || c->ignore_dir;
    /* With fixtures, modules are read as hutch-policy reads them (each tells its own
     * syntax, v0 when it does not: AlertChain); else v1 unless --v0, like opa test. */
    rego_syntax syn = c->v0 ? REGO_SYNTAX_V0 : REGO_SYNTAX_V1;
    rego_syntax load_syn = fixtures && !c->v0 ? REGO_SYNTAX_AUTO : syn;
    rego_syntax compile_syn = fixtures && !c->v0 ? REGO_SYNTAX_V0 : syn;
    name_filter run = {0};
    if (c->run) {
        int ec;
        PCRE2_SIZE eo;
        run.re = pcre2_compile((PCRE2_SPTR)c->run, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
        if (!run.re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            cli_error("--run: bad regular expression at %zu: %s", (size_t)eo, (const char *)msg);
            return CLI_USAGE;
        }
        run.md = pcre2_match_data_create_from_pattern(run.re, NULL);
    }
    int rc = CLI_OK;
    char err[2048];
    rego_bundle ps, data;
    /* modules only: Warren-style policy directories keep fixtures (.json) beside
     * the modules, which are no data documents; --data gives the tests data */
    rego_bundle_init(&ps);
    ps.modules_only = true;
    rego_bundle_init(&data);
    rego_policy *pol = NULL;
    policy_rules *rules = NULL;
    test_list tests = {0};
    rv *empty = rv_object_new(0);
    if (rego_bundle_add(&ps, c->policy_dir, load_syn, err, sizeof err) != 0 ||
        (c->data_path && rego_bundle_add(&data, c->data_path, syn, err, sizeof err) != 0)) {
        cli_error("%s", err);
        rc = CLI_FAIL;
        goto done;
    }
    {
        rego_error e;
        memset(&e, 0, sizeof e);
        pol = rego_compile(ps.mods, ps.n, compile_syn, &e);
        if (!pol) {
            fprintf(stderr, "%s\n", e.message);
            rc = CLI_FAIL;
            goto done;
        }
        if (collect_rule_tests(pol, &run, &tests) != 0) {
            cli_error("out of memory");
            rc = CLI_FAIL;
            goto done;
        }
    }
    if (fixtures) {
        if (!(rules = policy_rules_load(c->policy_dir, err, sizeof err))) {
            fprintf(stderr, "%s\n", err);
            rc = CLI_FAIL;
            goto done;
        }
        if ((c->detect_dir && collect_fixture_tests(c->detect_dir, CASE_DETECT, &run, &tests, err, sizeof err) != 0) ||
            (c->ignore_dir && collect_fixture_tests(c->ignore_dir, CASE_IGNORE, &run, &tests, err, sizeof err) != 0)) {
            cli_error("%s", err);
            rc = CLI_FAIL;
            goto done;
        }
    }
    if (tests.n == 0) {
        if (fixtures)
            cli_error("no tests found (no test_* rules under %s, no fixture files%s)",
                      c->policy_dir, c->run ? " matching --run" : "");
        else
            cli_error("no tests found (no rules named test_* under %s)", c->policy_dir);
        rc = CLI_FAIL;
        goto done;
    }
    size_t count[3] = {0, 0, 0};
    for (size_t i = 0; i < tests.n; i++) {
        policy_test *t = &tests.v[i];
        double t0 = now_ms();
        if (t->kind == CASE_RULE)
            run_rule_test(pol, data.data ? data.data : empty, t);
        else
            run_fixture(rules, t);
        t->ms = now_ms() - t0;
        count[t->outcome]++;
    }
    report(&tests, count, c->json);
    if (count[TEST_PASS] != tests.n)
        rc = CLI_FAIL;
done:
    tests_free(&tests);
    rv_unref(empty);
    policy_rules_free(rules);
    rego_policy_free(pol);
    rego_bundle_free(&ps);
    rego_bundle_free(&data);
    pcre2_match_data_free(run.md);
    pcre2_code_free(run.re);
    return rc;
}

/* ------------------------------------------------------------ policy decide */

int cmd_policy_decide(cli *c)
{
    if (!c->schema || !*c->schema) {
        cli_error("usage: hutchctl policy decide --policy DIR --schema S [--input F] [--strict] (--schema is needed)");
        return CLI_USAGE;
    }
    char err[2048];
    size_t len = 0;
    char *text = cli_read_input(c->input_path, SIZE_MAX, &len);
    if (!text)
        return CLI_FAIL;
    json_error_t je;
    json_t *payload = json_loadb(text, len, JSON_DECODE_ANY, &je);
    if (!payload) {
        cli_error("%s: invalid JSON at line %d, column %d: %s", c->input_path ? c->input_path : "stdin", je.line,
                  je.column, je.text);
        free(text);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    json_t *doc = NULL;
    policy_rules *rules = policy_rules_load(c->policy_dir, err, sizeof err);
    if (!rules) {
        cli_error("%s", err);
        rc = CLI_FAIL;
        goto done;
    }
    doc = policy_decide_json(rules, c->schema, text, "hutchctl", c->strict, err, sizeof err);
    if (!doc) {
        cli_error("%s", err);
        rc = CLI_FAIL;
        goto done;
    }
    output_json(stdout, doc);
    json_decref(doc);
done:
    policy_rules_free(rules);
    json_decref(payload);
    free(text);
    return rc;
}

/* ------------------------------------------------------------ policy coverage */

/* A source's counters and what it saw, kept as JSON (the --output json document is
 * built from them): {"schema", "package", "events", "accepted", "ignored", "silent",
 * "unrecognised", "errors", "ignored_reasons": {reason: n}, "unrecognised_kinds":
 * {what: n}, "error_cases": [{"case", "file", "line", "message"}]}. */
static json_t *coverage_source(json_t *sources, const char *schema)
{
    json_t *s = json_object_get(sources, schema);
    if (!s) {
        s = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:o,s:o,s:o}", "schema", schema, "package", "", "events", 0,
                      "accepted", 0, "ignored", 0, "silent", 0, "unrecognised", 0, "errors", 0, "ignored_reasons",
                      json_object(), "unrecognised_kinds", json_object(), "error_cases", json_array());
        json_object_set_new(sources, schema, s);
    }
    return s;
}

static void coverage_bump(json_t *o, const char *key)
{
    json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + 1));
}

static void coverage_error(json_t *s, const policy_test *t, const char *msg)
{
    coverage_bump(s, "errors");
    json_array_append_new(json_object_get(s, "error_cases"),
                          json_pack("{s:s,s:s,s:i,s:s}", "case", t->name, "file", t->path ? t->path : "", "line",
                                    t->line, "message", msg ? msg : ""));
}

/* The package's own words in "<pkg>: no alert (ignore: <words>)", or NULL when it
 * gave none (a silent drop). NEW. */
static char *ignore_words(const char *reason)
{
    const char *p = reason ? strstr(reason, "(ignore: ") : NULL;
    if (!p)
        return NULL;
    p += strlen("(ignore: ");
    size_t n = strlen(p);
    if (n && p[n - 1] == ')')
        n--;
    return strndup(p, n);
}

/* The title hutch.lib gives an event its policy does not recognise (policies/ingest/lib.rego). */
static bool unrecognised_title(const char *title) { return title && strstr(title, ": unrecognised event ("); }

/* One event: accepted, ignored (why), unrecognised (what) or an error. */
static void coverage_decide(policy_rules *rules, json_t *s, const policy_test *t)
{
    coverage_bump(s, "events");
    if (!t->doc) {
        coverage_error(s, t, t->detail);
        return;
    }
    policy_rules_options o = {.strict = true, .max_steps = DECIDE_MAX_STEPS, .max_memory = DECIDE_MAX_MEMORY};
    policy_input in = {.event_id = DECIDE_EVENT_ID, .schema = t->schema, .source = "hutchctl",
                       .payload_json = t->payload};
    policy_decision d;
    memset(&d, 0, sizeof d);
    char err[2048];
    if (policy_rules_decide(rules, &o, &in, &d, err, sizeof err) != 0) {
        coverage_error(s, t, err);
        policy_decision_free(&d);
        return;
    }
    if (d.package && *d.package)
        json_object_set_new(s, "package", json_string(d.package));
    json_t *kinds = json_object_get(s, "unrecognised_kinds");
    if (d.count > 0) {
        bool all_unrecognised = true;
        for (size_t i = 0; i < d.count; i++)
            all_unrecognised = all_unrecognised && unrecognised_title(d.alerts[i].title);
        if (all_unrecognised) {
            coverage_bump(s, "unrecognised");
            for (size_t i = 0; i < d.count; i++)
                coverage_bump(kinds, d.alerts[i].title ? d.alerts[i].title : "");
        } else {
            coverage_bump(s, "accepted");
        }
    } else if (!d.package || !*d.package) {
        coverage_bump(s, "unrecognised");
        coverage_bump(kinds, d.reason ? d.reason : "no policy for schema");
    } else {
        char *words = ignore_words(d.reason);
        if (words && strstr(words, "unrecognised ") == words && strstr(words, "strict mode")) {
            coverage_bump(s, "unrecognised");
            coverage_bump(kinds, words);
        } else if (words) {
            coverage_bump(s, "ignored");
            coverage_bump(json_object_get(s, "ignored_reasons"), words);
        } else {
            coverage_bump(s, "ignored");
            coverage_bump(s, "silent");
            coverage_bump(json_object_get(s, "ignored_reasons"), "(no reason: a silent drop, the package has no ignore reason for it)");
        }
        free(words);
    }
    policy_decision_free(&d);
}

static json_t *counts_array(const json_t *counts, const char *name)
{
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)counts, k, v)
        json_array_append_new(arr, json_pack("{s:s,s:O}", name, k, "count", v));
    return arr;
}

static int cint(const json_t *s, const char *k) { return (int)json_integer_value(json_object_get(s, k)); }

static void coverage_report(json_t *sources, bool json)
{
    static const char *const totals_keys[] = {"events", "accepted", "ignored", "silent", "unrecognised", "errors"};
    int totals[6] = {0};
    const char *schema;
    json_t *s;
    json_object_foreach(sources, schema, s)
        for (size_t i = 0; i < 6; i++)
            totals[i] += cint(s, totals_keys[i]);
    if (json) {
        json_t *arr = json_array();
        json_object_foreach(sources, schema, s) {
            json_t *o = json_deep_copy(s);
            json_object_set_new(o, "ignored_reasons", counts_array(json_object_get(s, "ignored_reasons"), "reason"));
            json_object_set_new(o, "unrecognised_kinds", counts_array(json_object_get(s, "unrecognised_kinds"), "what"));
            json_array_append_new(arr, o);
        }
        json_t *tot = json_object();
        for (size_t i = 0; i < 6; i++)
            json_object_set_new(tot, totals_keys[i], json_integer(totals[i]));
        json_object_set_new(tot, "sources", json_integer((json_int_t)json_object_size(sources)));
        json_t *doc = json_pack("{s:o,s:o}", "sources", arr, "totals", tot);
        output_json(stdout, doc);
        json_decref(doc);
        return;
    }
    json_object_foreach(sources, schema, s) {
        const char *pkg = json_string_value(json_object_get(s, "package"));
        printf("%s (%s): %d events: %d accepted, %d ignored, %d unrecognised, %d errors\n", schema,
               pkg && *pkg ? pkg : "no policy", cint(s, "events"), cint(s, "accepted"), cint(s, "ignored"),
               cint(s, "unrecognised"), cint(s, "errors"));
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(s, "ignored_reasons"), k, v)
            printf("  %-12s %5d  %s\n", "ignored", (int)json_integer_value(v), k);
        json_object_foreach(json_object_get(s, "unrecognised_kinds"), k, v)
            printf("  %-12s %5d  %s\n", "unrecognised", (int)json_integer_value(v), k);
        size_t i;
        json_array_foreach(json_object_get(s, "error_cases"), i, v)
            printf("  %-12s %s:%d: %s: %s\n", "error", json_string_value(json_object_get(v, "file")),
                   (int)json_integer_value(json_object_get(v, "line")), json_string_value(json_object_get(v, "case")),
                   json_string_value(json_object_get(v, "message")));
    }
    puts("--------------------------------------------------------------------------------");
    printf("total: %d events from %zu sources: %d accepted, %d ignored (%d without a reason), %d unrecognised, %d "
           "errors\n",
           totals[0], json_object_size(sources), totals[1], totals[2], totals[3], totals[4], totals[5]);
}

int cmd_policy_coverage(cli *c)
{
    const char *root = c->args[0];
    char err[4200];
    int rc = CLI_OK;
    test_list events = {0};
    name_filter all = {0};
    json_t *sources = json_object();
    policy_rules *rules = policy_rules_load(c->policy_dir, err, sizeof err);
    if (!rules) {
        cli_error("%s", err);
        rc = CLI_FAIL;
        goto done;
    }
    if (collect_fixture_tests(root, CASE_EVENT, &all, &events, err, sizeof err) != 0) {
        cli_error("%s", err);
        rc = CLI_FAIL;
        goto done;
    }
    if (events.n == 0) {
        cli_error("no event files under %s (it is read as %s/<schema>/*.json|*.jsonl)", root, root);
        rc = CLI_FAIL;
        goto done;
    }
    for (size_t i = 0; i < events.n; i++) {
        const policy_test *t = &events.v[i];
        coverage_decide(rules, coverage_source(sources, t->schema && *t->schema ? t->schema : "(no schema)"), t);
    }
    coverage_report(sources, c->json);
    const char *schema;
    json_t *s;
    json_object_foreach(sources, schema, s)
        if (cint(s, "errors") > 0)
            rc = CLI_FAIL;
done:
    tests_free(&events);
    json_decref(sources);
    policy_rules_free(rules);
    return rc;
}
