/* hutch-rego-conformance: runs OPA's YAML conformance cases against our Rego engine.
 *
 * Usage: hutch-rego-conformance [--syntax v1|v0] [--json] [--verbose] [--filter S] DIR...
 *
 * Every *.yaml under each DIR is loaded with libyaml (converted to jansson, with
 * YAML 1.1-ish scalar typing for plain scalars), each case is compiled and run, and
 * judged like OPA's own harness: result sets are compared as unordered sets of
 * binding objects (numbers by value), want_result [] or absent means undefined,
 * errors match by exact code and message substring. A case whose compilation fails
 * because a called function does not exist (a builtin we have not registered) is
 * counted as skipped, never as passed. Figures are printed per category (the first
 * path component of the case's note).
 *
 * Exit status: 0 always when the run completed (the baseline script judges), 2 on
 * usage or I/O errors.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "rego/alloc.h"
#include "rego/rego.h"
#include "rego/value.h"

typedef struct {
    char name[128];
    int passed, failed, skipped;
} category;

static category *g_cats;
static int g_ncats;
static bool g_verbose;
static const char *g_filter;
static rego_syntax g_syntax = REGO_SYNTAX_V1;

static category *cat_get(const char *note)
{
    char name[128];
    const char *slash = strchr(note, '/');
    size_t n = slash ? (size_t)(slash - note) : strlen(note);
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, note, n);
    name[n] = 0;
    for (int i = 0; i < g_ncats; i++)
        if (strcmp(g_cats[i].name, name) == 0) return &g_cats[i];
    g_cats = rego_xrealloc(g_cats, (size_t)(g_ncats + 1) * sizeof(category));
    category *c = &g_cats[g_ncats++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

/* ------------------------------------------------------------ YAML -> jansson */
static json_t *plain_scalar(const char *s, size_t len)
{
    if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) return json_false();
    /* integer */
    const char *p = s;
    if (*p == '-' || *p == '+') p++;
    bool digits = *p != 0;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') digits = false;
    if (digits) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == 0) return json_integer(v);
        return json_real(strtod(s, NULL));
    }
    char *end;
    double d = strtod(s, &end);
    if (end == s + len && len > 0 && strchr("+-.0123456789", s[0]) && !strchr(s, 'x') && !strchr(s, 'X') &&
        !strstr(s, "inf") && !strstr(s, "nan"))
        return json_real(d);
    return json_stringn(s, len);
}

static json_t *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
    if (!n || depth > 200) return json_null();
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            if (n->tag && strcmp((const char *)n->tag, YAML_STR_TAG) == 0 && strchr(s, '!') == NULL)
                return plain_scalar(s, len);
            return plain_scalar(s, len);
        }
        return json_stringn(s, len);
    }
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            json_array_append_new(a, yaml_to_json(doc, yaml_document_get_node(doc, *it), depth + 1));
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(doc, pr->key);
            yaml_node_t *v = yaml_document_get_node(doc, pr->value);
            if (!k || k->type != YAML_SCALAR_NODE) continue;
            json_object_setn_new(o, (const char *)k->data.scalar.value, k->data.scalar.length,
                                 yaml_to_json(doc, v, depth + 1));
        }
        return o;
    }
    default: return json_null();
    }
}

static json_t *load_yaml(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    json_t *out = NULL;
    if (yaml_parser_load(&parser, &doc)) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root) out = yaml_to_json(&doc, root, 0);
        yaml_document_delete(&doc);
    } else {
        fprintf(stderr, "%s: YAML error: %s (line %zu)\n", path, parser.problem ? parser.problem : "?",
                parser.problem_mark.line + 1);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return out;
}

/* ------------------------------------------------------------ judging */
static bool json_eq(const json_t *a, const json_t *b);

static bool json_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        if (json_is_integer(a) && json_is_integer(b)) return json_integer_value(a) == json_integer_value(b);
        return x == y || fabs(x - y) <= 1e-9 * fmax(fabs(x), fabs(y));
    }
    if (json_typeof(a) != json_typeof(b)) return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!json_eq(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !json_eq(v, w)) return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static int jcmp(const void *x, const void *y)
{
    /* order via rv_compare of the converted values */
    rv *a = rv_from_json(*(json_t *const *)x), *b = rv_from_json(*(json_t *const *)y);
    int c = rv_compare(a, b);
    rv_unref(a);
    rv_unref(b);
    return c;
}

static void sort_binding_arrays(json_t *rs)
{
    size_t i;
    json_t *b;
    json_array_foreach (rs, i, b) {
        const char *k;
        json_t *v;
        json_object_foreach (b, k, v) {
            if (!json_is_array(v)) continue;
            size_t n = json_array_size(v);
            json_t **items = malloc((n ? n : 1) * sizeof(json_t *));
            for (size_t j = 0; j < n; j++) items[j] = json_incref(json_array_get(v, j));
            qsort(items, n, sizeof(json_t *), jcmp);
            json_array_clear(v);
            for (size_t j = 0; j < n; j++) json_array_append_new(v, items[j]);
            free(items);
        }
    }
}

static bool result_sets_equal(json_t *got, json_t *want)
{
    if (json_array_size(got) != json_array_size(want)) {
        /* OPA compares sets: duplicates collapse */
    }
    size_t i;
    json_t *w;
    json_array_foreach (want, i, w) {
        bool found = false;
        for (size_t j = 0; j < json_array_size(got) && !found; j++) found = json_eq(w, json_array_get(got, j));
        if (!found) return false;
    }
    json_array_foreach (got, i, w) {
        bool found = false;
        for (size_t j = 0; j < json_array_size(want) && !found; j++) found = json_eq(w, json_array_get(want, j));
        if (!found) return false;
    }
    return true;
}

typedef enum { R_PASS, R_FAIL, R_SKIP } verdict;

static void print_collect(void *arg, const char *line) { (void)arg, (void)line; }

static verdict run_case(json_t *c, char *why, size_t whylen)
{
    why[0] = 0;
    json_t *mods = json_object_get(c, "modules");
    size_t nm = json_array_size(mods);
    rego_module_src *srcs = calloc(nm + 1, sizeof *srcs);
    char(*names)[32] = calloc(nm + 1, 32);
    for (size_t i = 0; i < nm; i++) {
        snprintf(names[i], 32, "test-%zu.rego", i);
        srcs[i].name = names[i];
        srcs[i].source = json_string_value(json_array_get(mods, i));
        if (!srcs[i].source) srcs[i].source = "";
        srcs[i].syntax = g_syntax;
    }
    rego_error err;
    verdict v = R_FAIL;
    rv *input = NULL, *data = NULL, *rs = NULL;
    rego_policy *pol = rego_compile(srcs, nm, g_syntax, &err);
    json_t *want_result = json_object_get(c, "want_result");
    const char *want_code = json_string_value(json_object_get(c, "want_error_code"));
    const char *want_err = json_string_value(json_object_get(c, "want_error"));
    bool want_error = want_code || want_err;
    int rc;
    if (!pol) {
        rc = -1;
        goto judge;
    }
    json_t *jd = json_object_get(c, "data");
    if (jd && !json_is_null(jd)) data = rv_from_json(jd);
    json_t *ji = json_object_get(c, "input");
    json_t *jit = json_object_get(c, "input_term");
    if (ji) input = rv_from_json(ji);
    else if (jit && json_is_string(jit)) {
        input = rego_parse_value(json_string_value(jit), &err);
        if (!input) {
            snprintf(why, whylen, "input_term: %s", err.message);
            goto out;
        }
    }
    rego_options opts = {0};
    json_t *se = json_object_get(c, "strict_error");
    opts.strict_builtin_errors = se && json_is_true(se);
    opts.print = print_collect;
    opts.max_steps = 50000000;
    const char *query = json_string_value(json_object_get(c, "query"));
    rc = rego_eval(pol, query ? query : "", input, data, &opts, &rs, &err);
judge:
    if (rc < 0 && err.missing_function[0]) {
        v = R_SKIP;
        snprintf(why, whylen, "missing builtin %s", err.missing_function);
        goto out;
    }
    if (want_error) {
        if (rc == 0) {
            char *t = rs ? rv_to_json_text(rs) : strdup("?");
            snprintf(why, whylen, "want error %s %s, got result %s", want_code ? want_code : "",
                     want_err ? want_err : "", t);
            free(t);
            goto out;
        }
        if (want_code && strcmp(want_code, err.code) != 0) {
            snprintf(why, whylen, "want error code %s, got %s", want_code, err.message);
            goto out;
        }
        /* OPA's harness matches its own error text, "file:line: code: message" (no
         * column); our message may carry a column, so match either form */
        char opa_msg[sizeof err.message + sizeof err.file + 16];
        const char *cm = strstr(err.message, err.code);
        if (err.file[0] && err.line > 0 && cm) snprintf(opa_msg, sizeof opa_msg, "%s:%d: %s", err.file, err.line, cm);
        else snprintf(opa_msg, sizeof opa_msg, "%s", err.message);
        if (want_err && !strstr(err.message, want_err) && !strstr(opa_msg, want_err)) {
            snprintf(why, whylen, "want error containing \"%s\", got %s", want_err, err.message);
            goto out;
        }
        v = R_PASS;
        goto out;
    }
    if (rc < 0) {
        snprintf(why, whylen, "unexpected error: %s", err.message);
        goto out;
    }
    {
        json_t *got = rego_result_to_json(rs);
        json_t *want = want_result && json_is_array(want_result) ? json_deep_copy(want_result) : json_array();
        json_t *sb = json_object_get(c, "sort_bindings");
        if (sb && json_is_true(sb)) {
            sort_binding_arrays(got);
            sort_binding_arrays(want);
        }
        if (result_sets_equal(got, want)) v = R_PASS;
        else {
            char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
            char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
            snprintf(why, whylen, "want %.900s\n      got  %.900s", w, g);
            free(g);
            free(w);
        }
        json_decref(got);
        json_decref(want);
    }
out:
    rv_unref(rs);
    rv_unref(input);
    rv_unref(data);
    rego_policy_free(pol);
    free(srcs);
    free(names);
    return v;
}

static void run_file(const char *path)
{
    json_t *doc = load_yaml(path);
    if (!doc) {
        fprintf(stderr, "%s: cannot load\n", path);
        return;
    }
    json_t *cases = json_object_get(doc, "cases");
    size_t i;
    json_t *c;
    json_array_foreach (cases, i, c) {
        const char *note = json_string_value(json_object_get(c, "note"));
        if (!note) note = "unknown/unknown";
        if (g_filter && !strstr(note, g_filter)) continue;
        category *cat = cat_get(note);
        char why[2048];
        verdict v = run_case(c, why, sizeof why);
        if (v == R_PASS) cat->passed++;
        else if (v == R_SKIP) cat->skipped++;
        else cat->failed++;
        if (g_verbose && v != R_PASS) printf("%s %s (%s)\n      %s\n", v == R_SKIP ? "SKIP" : "FAIL", note, path, why);
    }
    json_decref(doc);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) run_file(dir);
        else fprintf(stderr, "%s: %s\n", dir, strerror(errno));
        return;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        names = rego_xrealloc(names, (n + 1) * sizeof(char *));
        if (!(names[n] = strdup(de->d_name))) {
            fprintf(stderr, "hutch-rego-conformance: out of memory\n");
            exit(2);
        }
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode)) run_dir(path);
            else {
                size_t l = strlen(names[i]);
                if (l > 5 && strcmp(names[i] + l - 5, ".yaml") == 0) run_file(path);
            }
        }
        free(names[i]);
    }
    free(names);
}

static int cmp_cat(const void *a, const void *b)
{
    return strcmp(((const category *)a)->name, ((const category *)b)->name);
}

int main(int argc, char **argv)
{
    bool as_json = false;
    int ndirs = 0;
    const char **dirs = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) as_json = true;
        else if (strcmp(argv[i], "--verbose") == 0) g_verbose = true;
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) g_filter = argv[++i];
        else if (strcmp(argv[i], "--syntax") == 0 && i + 1 < argc) {
            const char *s = argv[++i];
            if (strcmp(s, "v0") == 0) g_syntax = REGO_SYNTAX_V0;
            else if (strcmp(s, "v1") == 0) g_syntax = REGO_SYNTAX_V1;
            else {
                fprintf(stderr, "--syntax must be v0 or v1\n");
                return 2;
            }
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--syntax v1|v0] [--json] [--verbose] [--filter S] DIR...\n", argv[0]);
            return 2;
        } else dirs[ndirs++] = argv[i];
    }
    if (!ndirs) {
        fprintf(stderr, "usage: %s [--syntax v1|v0] [--json] [--verbose] [--filter S] DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < ndirs; i++) run_dir(dirs[i]);
    qsort(g_cats, (size_t)g_ncats, sizeof(category), cmp_cat);
    int tp = 0, tf = 0, ts = 0;
    json_t *out = json_object(), *cats = json_object();
    for (int i = 0; i < g_ncats; i++) {
        category *c = &g_cats[i];
        tp += c->passed;
        tf += c->failed;
        ts += c->skipped;
        if (as_json)
            json_object_set_new(
                cats, c->name,
                json_pack("{s:i,s:i,s:i}", "passed", c->passed, "failed", c->failed, "skipped", c->skipped));
        else printf("%-45s passed %4d  failed %4d  skipped %4d\n", c->name, c->passed, c->failed, c->skipped);
    }
    if (as_json) {
        json_object_set_new(out, "syntax", json_string(g_syntax == REGO_SYNTAX_V0 ? "v0" : "v1"));
        json_object_set_new(out, "categories", cats);
        json_object_set_new(out, "total", json_pack("{s:i,s:i,s:i}", "passed", tp, "failed", tf, "skipped", ts));
        char *s = json_dumps(out, JSON_INDENT(1) | JSON_SORT_KEYS);
        puts(s);
        free(s);
    } else {
        json_decref(cats);
        printf("%-45s passed %4d  failed %4d  skipped %4d\n", "TOTAL", tp, tf, ts);
    }
    json_decref(out);
    free(dirs);
    free(g_cats);
    return 0;
}
