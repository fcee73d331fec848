/* hutch-rego-eval: evaluate one query with our Rego engine and print the outcome in the
 * normalised form the differential test (scripts/rego-diff.sh) compares with OPA's.
 *
 * Usage: hutch-rego-eval [--v0|--v1] [--strict] [--max-steps N] [-d FILE|DIR]... [-i input.json] QUERY
 *
 *   -d PATH   a .rego module, a JSON document merged into data at the root, or a
 *             directory loaded like `opa eval -d DIR` (common/rego/bundle.h)
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/bundle.h"
#include "rego/rego.h"
#include "rego/value.h"

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
    rego_bundle L;
    rego_bundle_init(&L);
    char lerr[1024];
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
            fprintf(
                stderr,
                "usage: hutch-rego-eval [--v0|--v1] [--strict] [--max-steps N] [-d FILE]... [-i input.json] QUERY\n");
            return 3;
        }
    }
    if (!query) {
        fprintf(stderr, "hutch-rego-eval: no query\n");
        return 3;
    }
    for (int i = 0; i < nd; i++)
        if (rego_bundle_add(&L, dpaths[i], REGO_SYNTAX_AUTO, lerr, sizeof lerr) < 0) {
            fprintf(stderr, "hutch-rego-eval: %s\n", lerr);
            rego_bundle_free(&L);
            return 3;
        }
    rv *input = NULL;
    if (input_path && !(input = rego_read_document(input_path, lerr, sizeof lerr))) {
        fprintf(stderr, "hutch-rego-eval: %s\n", lerr);
        rego_bundle_free(&L);
        return 3;
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
    rego_bundle_free(&L);
    return status;
}
