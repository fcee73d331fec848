/* hutchctl policy eval / policy test: the Rego engine (common/rego) on a policy
 * directory, the way `opa eval` and `opa test` run it, so an author can check a
 * policy without OPA and without the services.
 *
 *   policy eval --policy DIR [--input FILE] [--data FILE] [--v0] QUERY
 *   policy test --policy DIR [--v0] [--run REGEX]
 *
 * Loading (rego_bundle_load, common/rego/bundle.c), as OPA loads `-d DIR`: every *.rego below DIR
 * (recursively, hidden entries skipped, sorted) is a module; every *.json / *.yaml /
 * *.yml document is data, merged into `data` under its directory's path relative to
 * DIR (DIR/a/b/x.json lands at data.a.b); two documents that set the same leaf
 * differently are an error. YAML is read with the engine's own yaml.unmarshal, so a
 * document means the same as in a policy. --data FILE merges a document at the root.
 * Modules are Rego v1 unless they say otherwise; --v0 makes v0 the default (AlertChain
 * and older Warren policies).
 *
 * eval prints OPA's `--format json` shape: {"result":[{"expressions":[{"value",
 * "text","location"}],"bindings":{...}}]}, {} when undefined, and
 * {"errors":[{"message","code","location"}]} (exit 1) on an error.
 *
 * test runs every rule named test_* (not functions) defined in *_test.rego files: a
 * test passes when its value is defined and not false. One line per test
 * ("FILE:LINE: data.pkg.test_x: PASS (0.2ms)"), errors with file:line:col below
 * their test, then "PASS: n/m" (and FAIL / ERROR counts); exit 1 unless all passed.
 * Tests are collected into a list first (policy_test) and run by one loop, so other
 * kinds of test cases (e.g. alert fixtures) can be added as further collectors. */
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
#include "cli/output.h"
#include "rego/bundle.h"
#include "rego/rego.h"
#include "rego/value.h"

static bool ends_with_test_rego(const char *file)
{
    size_t n = strlen(file);
    return n >= 10 && strcmp(file + n - 10, "_test.rego") == 0;
}

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

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;
static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            abort();
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_indent(sbuf *b, int depth)
{
    sb_add(b, "\n", 1);
    for (int i = 0; i < depth; i++)
        sb_add(b, "  ", 2);
}

/* Pretty-prints compact JSON text the way `opa eval` does (2 spaces, "k": v), so
 * values keep exact numbers (the engine's own JSON text) end to end. */
static void pretty(FILE *out, const char *s)
{
    sbuf b = {0};
    int depth = 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (c == '"') {
            const char *q = p + 1;
            while (*q && *q != '"')
                q += *q == '\\' && q[1] ? 2 : 1;
            sb_add(&b, p, (size_t)(q - p) + (*q ? 1 : 0));
            p = *q ? q : q - 1;
        } else if (c == '{' || c == '[') {
            char close = c == '{' ? '}' : ']';
            if (p[1] == close) {
                sb_add(&b, p, 2);
                p++;
            } else {
                sb_add(&b, p, 1);
                sb_indent(&b, ++depth);
            }
        } else if (c == '}' || c == ']') {
            sb_indent(&b, --depth);
            sb_add(&b, p, 1);
        } else if (c == ',') {
            sb_add(&b, ",", 1);
            sb_indent(&b, depth);
        } else if (c == ':') {
            sb_add(&b, ": ", 2);
        } else {
            sb_add(&b, p, 1);
        }
    }
    fprintf(out, "%s\n", b.p ? b.p : "");
    free(b.p);
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
        sbuf b = {0};
        sb_str(&b, "{\"result\":[");
        for (size_t r = 0; r < rv_len(rs); r++) {
            rv *row = rv_array_at(rs, r);
            sb_str(&b, r ? ",{\"expressions\":[" : "{\"expressions\":[");
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
                sb_str(&b, i ? ",{\"value\":" : "{\"value\":");
                sb_str(&b, vt ? vt : "null");
                sb_str(&b, ",\"text\":");
                sb_str(&b, tj ? tj : "\"\"");
                sb_str(&b, loc);
                free(tj);
                json_decref(js);
                free(tx);
                free(vt);
            }
            sb_str(&b, "]");
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
                sb_str(&b, ",\"bindings\":");
                sb_str(&b, bt ? bt : "{}");
                free(bt);
            }
            rv_unref(bind);
            sb_str(&b, "}");
        }
        sb_str(&b, "]}");
        pretty(stdout, b.p);
        free(b.p);
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

/* One test case: today a test_* rule; fixture-based cases can be added as other
 * collectors that fill the same list. */
typedef struct {
    char *name;  /* "data.pkg.test_x" */
    char *query; /* evaluated for the verdict: defined and not false passes */
    const char *file;
    int line;
    test_outcome outcome;
    double ms;
    rego_error err;
} policy_test;

typedef struct {
    policy_test *v;
    size_t n, cap;
} test_list;

static void tests_free(test_list *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].name);
        free(t->v[i].query);
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

/* test_* rules of *_test.rego modules, once per rule name, filtered by run. */
static int collect_rule_tests(const rego_policy *pol, pcre2_code *run, test_list *out)
{
    rego_rule_info *rules = NULL;
    size_t n = rego_policy_rules(pol, &rules);
    pcre2_match_data *md = run ? pcre2_match_data_create_from_pattern(run, NULL) : NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const rego_rule_info *r = &rules[i];
        const char *last = strrchr(r->path, '.');
        if (!r->file || !ends_with_test_rego(r->file) || r->is_function || r->is_default || !r->static_ref ||
            !last || strncmp(last + 1, "test_", 5) != 0)
            continue;
        bool dup = false;
        for (size_t k = 0; k < out->n && !dup; k++)
            dup = strcmp(out->v[k].name, r->path) == 0;
        if (dup)
            continue;
        if (run && pcre2_match(run, (PCRE2_SPTR)r->path, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) < 0)
            continue;
        policy_test *t = tests_add(out);
        if (!t) {
            rc = -1;
            break;
        }
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
    pcre2_match_data_free(md);
    free(rules);
    return rc;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void run_test(const rego_policy *pol, rv *data, policy_test *t)
{
    /* a runaway test stops with eval_limit_error instead of hanging the run */
    rego_options opts = {.max_steps = 500000000, .max_memory = (size_t)2 << 30};
    rv *rs = NULL;
    double t0 = now_ms();
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
    t->ms = now_ms() - t0;
    rv_unref(rs);
}

static const char *outcome_name(test_outcome o)
{
    return o == TEST_PASS ? "PASS" : o == TEST_FAIL ? "FAIL" : "ERROR";
}

int cmd_policy_test(cli *c)
{
    rego_syntax syn = c->v0 ? REGO_SYNTAX_V0 : REGO_SYNTAX_V1;
    pcre2_code *run = NULL;
    if (c->run) {
        int ec;
        PCRE2_SIZE eo;
        run = pcre2_compile((PCRE2_SPTR)c->run, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
        if (!run) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            cli_error("--run: bad regular expression at %zu: %s", (size_t)eo, (const char *)msg);
            return CLI_USAGE;
        }
    }
    rego_bundle ps;
    char err[2048];
    if (rego_bundle_load(&ps, c->policy_dir, NULL, syn, err, sizeof err) != 0) {
        cli_error("%s", err);
        rego_bundle_free(&ps);
        pcre2_code_free(run);
        return CLI_FAIL;
    }
    rego_error e;
    memset(&e, 0, sizeof e);
    rego_policy *pol = rego_compile(ps.mods, ps.n, syn, &e);
    if (!pol) {
        fprintf(stderr, "%s\n", e.message);
        rego_bundle_free(&ps);
        pcre2_code_free(run);
        return CLI_FAIL;
    }
    test_list tests = {0};
    int rc = CLI_OK;
    if (collect_rule_tests(pol, run, &tests) != 0) {
        cli_error("out of memory");
        rc = CLI_FAIL;
    } else if (tests.n == 0) {
        cli_error("no tests found (rules named test_* in *_test.rego files under %s)", c->policy_dir);
        rc = CLI_FAIL;
    }
    size_t count[3] = {0, 0, 0};
    for (size_t i = 0; i < tests.n && rc == CLI_OK; i++) {
        run_test(pol, ps.data, &tests.v[i]);
        count[tests.v[i].outcome]++;
    }
    if (rc == CLI_OK && c->json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < tests.n; i++) {
            policy_test *t = &tests.v[i];
            json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:f}", "name", t->name, "file", t->file, "line", t->line,
                                  "result", outcome_name(t->outcome), "duration_ms", t->ms);
            if (t->outcome == TEST_ERROR)
                json_object_set_new(o, "error", error_doc(&t->err));
            json_array_append_new(arr, o);
        }
        json_t *doc = json_pack("{s:o,s:i,s:i,s:i,s:i}", "tests", arr, "passed", (int)count[TEST_PASS], "failed",
                                (int)count[TEST_FAIL], "errors", (int)count[TEST_ERROR], "total", (int)tests.n);
        output_json(stdout, doc);
        json_decref(doc);
    } else if (rc == CLI_OK) {
        for (size_t i = 0; i < tests.n; i++) {
            policy_test *t = &tests.v[i];
            printf("%s:%d: %s: %s (%.3fms)\n", t->file, t->line, t->name, outcome_name(t->outcome), t->ms);
            if (t->outcome == TEST_ERROR)
                printf("  %s\n", t->err.message);
        }
        puts("--------------------------------------------------------------------------------");
        printf("PASS: %zu/%zu\n", count[TEST_PASS], tests.n);
        if (count[TEST_FAIL])
            printf("FAIL: %zu/%zu\n", count[TEST_FAIL], tests.n);
        if (count[TEST_ERROR])
            printf("ERROR: %zu/%zu\n", count[TEST_ERROR], tests.n);
    }
    if (rc == CLI_OK && count[TEST_PASS] != tests.n)
        rc = CLI_FAIL;
    tests_free(&tests);
    rego_policy_free(pol);
    rego_bundle_free(&ps);
    pcre2_code_free(run);
    return rc;
}
