/* hutch-rego-eval: evaluate one query with our Rego engine and print the outcome in the
 * normalised form the differential test (scripts/rego-diff.sh) compares with OPA's.
 *
 * Usage: hutch-rego-eval [--v0|--v1] [--strict] [--max-steps N] [-d FILE|DIR]... [-i input.json] QUERY
 *
 *   -d FILE   a .rego module, or a .json document merged into data (at the root, like
 *             `opa eval -d data.json`); a directory loads its *.rego and *.json (not recursive)
 *   -i FILE   input document (JSON)
 *   --v0      modules without a syntax marker are Rego v0 (opa eval --v0-compatible)
 *   --strict  builtin errors abort the evaluation (opa eval --strict-builtin-errors)
 *
 * Output, one line of compact JSON on stdout:
 *   {"outcome":"defined","result":[BINDINGS...]}   result set rows, as the engine returned them
 *   {"outcome":"undefined"}                        empty result set
 *   {"outcome":"error","code":"...","message":"..."}
 * The comparison script canonicalises rows (numbers by value, rows as a multiset), so
 * this program prints rows as they come. Exit status: 0 defined/undefined, 2 error
 * (as `opa eval` does), 3 usage or I/O error.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/rego.h"
#include "rego/value.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
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
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Deep merge of src into dst (both objects); returns a NEW object. */
static rv *merge(rv *dst, rv *src)
{
    if (!dst) return rv_ref(src);
    if (rv_typeof(dst) != RV_OBJECT || rv_typeof(src) != RV_OBJECT) return rv_ref(src);
    rv *out = rv_object_new(rv_len(dst) + rv_len(src));
    for (size_t i = 0; i < rv_len(dst); i++)
        rv_object_set(out, rv_ref(rv_object_key_at(dst, i)), rv_ref(rv_object_val_at(dst, i)));
    for (size_t i = 0; i < rv_len(src); i++) {
        rv *k = rv_object_key_at(src, i);
        rv *old = rv_object_get(out, k);
        rv *nv = old ? merge(old, rv_object_val_at(src, i)) : rv_ref(rv_object_val_at(src, i));
        rv_object_set(out, rv_ref(k), nv);
    }
    return out;
}

typedef struct {
    rego_module_src *mods;
    char **texts;
    char **names;
    size_t n;
    rv *data;
} loaded;

static int load_path(loaded *L, const char *path, rego_syntax syn);

static int load_file(loaded *L, const char *path, rego_syntax syn)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "hutch-rego-eval: cannot read %s\n", path);
        return -1;
    }
    if (ends_with(path, ".json")) {
        char eb[256];
        rv *d = rv_from_json_text(text, len, eb, sizeof eb);
        free(text);
        if (!d) {
            fprintf(stderr, "hutch-rego-eval: %s: %s\n", path, eb);
            return -1;
        }
        rv *m = merge(L->data, d);
        rv_unref(L->data);
        rv_unref(d);
        L->data = m;
        return 0;
    }
    L->mods = realloc(L->mods, (L->n + 1) * sizeof *L->mods);
    L->texts = realloc(L->texts, (L->n + 1) * sizeof *L->texts);
    L->names = realloc(L->names, (L->n + 1) * sizeof *L->names);
    L->texts[L->n] = text;
    L->names[L->n] = strdup(path);
    L->mods[L->n] = (rego_module_src){.name = L->names[L->n], .source = text, .len = len, .syntax = syn};
    L->n++;
    return 0;
}

static int load_path(loaded *L, const char *path, rego_syntax syn)
{
    DIR *d = opendir(path);
    if (!d) return load_file(L, path, syn);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!ends_with(e->d_name, ".rego") && !ends_with(e->d_name, ".json")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        rc = load_file(L, p, syn);
    }
    closedir(d);
    return rc;
}

static void print_error(const rego_error *err)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "outcome", "error", "code", err->code, "message", err->message);
    char *s = json_dumps(o, JSON_COMPACT);
    puts(s);
    free(s);
    json_decref(o);
}

int main(int argc, char **argv)
{
    loaded L = {0};
    const char *input_path = NULL, *query = NULL;
    rego_syntax syn = REGO_SYNTAX_V1;
    rego_options opts = {.max_steps = 20000000, .max_memory = (size_t)1 << 30};
    const char *dpaths[256];
    int nd = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--v0") == 0) syn = REGO_SYNTAX_V0;
        else if (strcmp(argv[i], "--v1") == 0) syn = REGO_SYNTAX_V1;
        else if (strcmp(argv[i], "--strict") == 0) opts.strict_builtin_errors = true;
        else if (strcmp(argv[i], "--max-steps") == 0 && i + 1 < argc) opts.max_steps = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc && nd < 256) dpaths[nd++] = argv[++i];
        else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) input_path = argv[++i];
        else if (argv[i][0] != '-' && !query) query = argv[i];
        else {
            fprintf(stderr, "usage: hutch-rego-eval [--v0|--v1] [--strict] [--max-steps N] [-d FILE]... [-i input.json] QUERY\n");
            return 3;
        }
    }
    if (!query) {
        fprintf(stderr, "hutch-rego-eval: no query\n");
        return 3;
    }
    for (int i = 0; i < nd; i++)
        if (load_path(&L, dpaths[i], REGO_SYNTAX_AUTO) < 0) return 3;
    rv *input = NULL;
    if (input_path) {
        size_t len;
        char *text = read_file(input_path, &len), eb[256];
        if (!text) {
            fprintf(stderr, "hutch-rego-eval: cannot read %s\n", input_path);
            return 3;
        }
        input = rv_from_json_text(text, len, eb, sizeof eb);
        free(text);
        if (!input) {
            fprintf(stderr, "hutch-rego-eval: %s: %s\n", input_path, eb);
            return 3;
        }
    }

    int status = 0;
    rego_error err;
    memset(&err, 0, sizeof err);
    rego_policy *pol = rego_compile(L.mods, L.n, syn, &err);
    rv *rs = NULL;
    if (!pol) {
        print_error(&err);
        status = 2;
    } else if (rego_eval(pol, query, input, L.data, &opts, &rs, &err) < 0) {
        print_error(&err);
        status = 2;
    } else if (rv_len(rs) == 0) {
        puts("{\"outcome\":\"undefined\"}");
    } else {
        char *t = rv_to_json_text(rs);
        printf("{\"outcome\":\"defined\",\"result\":%s}\n", t ? t : "null");
        free(t);
    }
    rv_unref(rs);
    rego_policy_free(pol);
    rv_unref(input);
    rv_unref(L.data);
    for (size_t i = 0; i < L.n; i++) {
        free(L.texts[i]);
        free(L.names[i]);
    }
    free(L.texts);
    free(L.names);
    free(L.mods);
    return status;
}
