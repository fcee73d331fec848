/* hutchctl policy eval / policy test: the Rego engine (common/rego) on a policy
 * directory, the way `opa eval` and `opa test` run it, so an author can check a
 * policy without OPA and without the services.
 *
 *   policy eval --policy DIR [--input FILE] [--data FILE] [--v0] QUERY
 *   policy test --policy DIR [--v0] [--run REGEX]
 *
 * Loading (policy_set_load), as OPA loads `-d DIR`: every *.rego below DIR
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
#include "rego/rego.h"
#include "rego/value.h"

/* ------------------------------------------------------------ loading */

typedef struct {
    rego_module_src *mods; /* names and sources point into names/texts */
    char **names, **texts;
    size_t n, cap;
    rv *data; /* NEW object */
} policy_set;

static void policy_set_free(policy_set *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->names[i]);
        free(ps->texts[i]);
    }
    free(ps->mods);
    free(ps->names);
    free(ps->texts);
    rv_unref(ps->data);
    memset(ps, 0, sizeof *ps);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 8192, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    *len = n;
    return buf;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* YAML through the engine's yaml.unmarshal. NEW value or NULL with err. */
static rv *yaml_to_rv(const char *text, size_t len, char *err, size_t errlen)
{
    rego_error e;
    rego_policy *pol = rego_compile(NULL, 0, REGO_SYNTAX_V1, &e);
    if (!pol) {
        snprintf(err, errlen, "%s", e.message);
        return NULL;
    }
    rv *in = rv_string(text, len), *rs = NULL, *out = NULL;
    rego_options opts = {.strict_builtin_errors = true};
    if (rego_eval(pol, "x := yaml.unmarshal(input)", in, NULL, &opts, &rs, &e) < 0)
        snprintf(err, errlen, "%s", e.message);
    else if (rv_len(rs) == 1)
        out = rv_ref(rv_object_get_cstr(rv_array_at(rs, 0), "x"));
    else
        snprintf(err, errlen, "not a YAML document");
    rv_unref(rs);
    rv_unref(in);
    rego_policy_free(pol);
    return out;
}

/* Deep merge of b into a (OPA's data merge): objects merge key by key, anything
 * else must be equal. NEW value, or NULL when they conflict (path in where). */
static rv *merge_docs(rv *a, rv *b, char *where, size_t wlen)
{
    if (rv_typeof(a) != RV_OBJECT || rv_typeof(b) != RV_OBJECT) {
        if (rv_equal(a, b))
            return rv_ref(a);
        return NULL;
    }
    rv *out = rv_object_new(rv_len(a) + rv_len(b));
    for (size_t i = 0; i < rv_len(a); i++)
        rv_object_set(out, rv_ref(rv_object_key_at(a, i)), rv_ref(rv_object_val_at(a, i)));
    for (size_t i = 0; i < rv_len(b); i++) {
        rv *k = rv_object_key_at(b, i), *old = rv_object_get(out, k);
        rv *nv = old ? merge_docs(old, rv_object_val_at(b, i), where, wlen) : rv_ref(rv_object_val_at(b, i));
        if (!nv) {
            if (rv_typeof(k) == RV_STRING) {
                char tail[1024];
                snprintf(tail, sizeof tail, "%s", where);
                snprintf(where, wlen, ".%s%s", rv_str(k), tail);
            }
            rv_unref(out);
            return NULL;
        }
        rv_object_set(out, rv_ref(k), nv);
    }
    return out;
}

/* Merges doc (BORROWED) into ps->data at path (n components). 0 or -1 with err. */
static int merge_at(policy_set *ps, char **path, int n, rv *doc, const char *file, char *err, size_t errlen)
{
    if (n == 0 && rv_typeof(doc) != RV_OBJECT) {
        snprintf(err, errlen, "%s: a data document at the root must be an object", file);
        return -1;
    }
    rv *wrapped = rv_ref(doc);
    for (int i = n - 1; i >= 0; i--) {
        rv *o = rv_object_new(1);
        rv_object_set(o, rv_cstring(path[i]), wrapped);
        wrapped = o;
    }
    char where[1024] = "";
    rv *m = ps->data ? merge_docs(ps->data, wrapped, where, sizeof where) : rv_ref(wrapped);
    rv_unref(wrapped);
    if (!m) {
        snprintf(err, errlen, "%s: merge error: data%s is set differently by another document", file, where);
        return -1;
    }
    rv_unref(ps->data);
    ps->data = m;
    return 0;
}

static int add_module(policy_set *ps, const char *path, char *text, size_t len, rego_syntax syn)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        rego_module_src *m = realloc(ps->mods, cap * sizeof *m);
        if (m)
            ps->mods = m;
        char **nm = realloc(ps->names, cap * sizeof *nm);
        if (nm)
            ps->names = nm;
        char **tx = realloc(ps->texts, cap * sizeof *tx);
        if (tx)
            ps->texts = tx;
        if (!m || !nm || !tx)
            return -1;
        ps->cap = cap;
    }
    ps->names[ps->n] = strdup(path);
    ps->texts[ps->n] = text;
    ps->mods[ps->n] = (rego_module_src){.name = ps->names[ps->n], .source = text, .len = len, .syntax = syn};
    ps->n++;
    return 0;
}

static int load_file(policy_set *ps, const char *path, char **dpath, int ndpath, rego_syntax syn, char *err,
                     size_t errlen)
{
    bool rego = has_suffix(path, ".rego"), json = has_suffix(path, ".json"),
         yaml = has_suffix(path, ".yaml") || has_suffix(path, ".yml");
    if (!rego && !json && !yaml)
        return 0;
    size_t len = 0;
    char *text = slurp(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (rego) {
        if (add_module(ps, path, text, len, syn) == 0)
            return 0;
        free(text);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char eb[512] = "";
    rv *doc = json ? rv_from_json_text(text, len, eb, sizeof eb) : yaml_to_rv(text, len, eb, sizeof eb);
    free(text);
    if (!doc) {
        snprintf(err, errlen, "%s: %s", path, eb);
        return -1;
    }
    int rc = merge_at(ps, dpath, ndpath, doc, path, err, errlen);
    rv_unref(doc);
    return rc;
}

static int visible(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Walks dir; dpath holds the data path of dir relative to the root. */
static int load_dir(policy_set *ps, const char *dir, char **dpath, int ndpath, rego_syntax syn, char *err,
                    size_t errlen)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, visible, alphasort);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        bool here = strcmp(dir, ".") == 0; /* "p.rego", not "./p.rego", in messages */
        if (rc == 0 && snprintf(path, sizeof path, "%s%s%s", here ? "" : dir, here ? "" : "/", ents[i]->d_name) <
                           (int)sizeof path) {
            struct stat st;
            if (stat(path, &st) != 0) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                rc = -1;
            } else if (S_ISDIR(st.st_mode)) {
                if (ndpath >= 64) {
                    snprintf(err, errlen, "%s: directories nested too deep", path);
                    rc = -1;
                } else {
                    dpath[ndpath] = ents[i]->d_name;
                    rc = load_dir(ps, path, dpath, ndpath + 1, syn, err, errlen);
                }
            } else if (S_ISREG(st.st_mode)) {
                rc = load_file(ps, path, dpath, ndpath, syn, err, errlen);
            }
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

/* Loads DIR (or a single file) and an optional extra data document at the root.
 * 0, or -1 with err. */
static int policy_set_load(policy_set *ps, const char *dir, const char *data_file, rego_syntax syn, char *err,
                           size_t errlen)
{
    memset(ps, 0, sizeof *ps);
    char *dpath[65];
    int rc = 0;
    struct stat st;
    if (dir) {
        if (stat(dir, &st) != 0) {
            snprintf(err, errlen, "%s: %s", dir, strerror(errno));
            return -1;
        }
        rc = S_ISDIR(st.st_mode) ? load_dir(ps, dir, dpath, 0, syn, err, errlen)
                                 : load_file(ps, dir, dpath, 0, syn, err, errlen);
    }
    if (rc == 0 && data_file) {
        if (has_suffix(data_file, ".json") || has_suffix(data_file, ".yaml") || has_suffix(data_file, ".yml"))
            rc = load_file(ps, data_file, dpath, 0, syn, err, errlen);
        else {
            size_t len;
            char *text = slurp(data_file, &len), eb[512] = "";
            rv *doc = text ? rv_from_json_text(text, len, eb, sizeof eb) : NULL;
            free(text);
            if (!doc) {
                snprintf(err, errlen, "%s: %s", data_file, text ? eb : strerror(errno));
                rc = -1;
            } else {
                rc = merge_at(ps, dpath, 0, doc, data_file, err, errlen);
                rv_unref(doc);
            }
        }
    }
    if (rc == 0 && !ps->data)
        ps->data = rv_object_new(0);
    return rc;
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
    policy_set ps;
    char err[2048];
    if (policy_set_load(&ps, c->policy_dir, c->data_path, syn, err, sizeof err) != 0) {
        cli_error("%s", err);
        policy_set_free(&ps);
        return CLI_FAIL;
    }
    rv *input = NULL;
    if (c->input_path) {
        size_t len;
        char *text = slurp(c->input_path, &len), eb[512] = "";
        if (text && (has_suffix(c->input_path, ".yaml") || has_suffix(c->input_path, ".yml")))
            input = yaml_to_rv(text, len, eb, sizeof eb);
        else if (text)
            input = rv_from_json_text(text, len, eb, sizeof eb);
        if (!input) {
            cli_error("%s: %s", c->input_path, text ? eb : strerror(errno));
            free(text);
            policy_set_free(&ps);
            return CLI_FAIL;
        }
        free(text);
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
    policy_set_free(&ps);
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
        if (!r->file || !has_suffix(r->file, "_test.rego") || r->is_function || r->is_default || !r->static_ref ||
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
    policy_set ps;
    char err[2048];
    if (policy_set_load(&ps, c->policy_dir, NULL, syn, err, sizeof err) != 0) {
        cli_error("%s", err);
        policy_set_free(&ps);
        pcre2_code_free(run);
        return CLI_FAIL;
    }
    rego_error e;
    memset(&e, 0, sizeof e);
    rego_policy *pol = rego_compile(ps.mods, ps.n, syn, &e);
    if (!pol) {
        fprintf(stderr, "%s\n", e.message);
        policy_set_free(&ps);
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
    policy_set_free(&ps);
    pcre2_code_free(run);
    return rc;
}
