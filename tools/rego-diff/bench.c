/* hutch-rego-bench: evaluations per second of one prepared query, on one thread.
 *
 * Usage: hutch-rego-bench [--v0] [--runs R] [--iterations N | --min-ms MS] [--fresh-input] [--limits]
 *                         [-d FILE]... -i input.json QUERY
 *
 * --fresh-input parses the input JSON text again for every evaluation (timed too), as
 * a service does per event: nothing derived from the input survives between runs.
 * --limits evaluates with the limits rego.h recommends for a service (max_steps 1e6,
 * max_memory 64 MB), so the figure includes the limit accounting.
 *
 * The modules (-d *.rego) are compiled once, .json files merged into data, the input
 * parsed once into a value and the query prepared once; then each run evaluates the
 * query N times in a loop (a fresh result set each time, released at once), timed
 * with CLOCK_MONOTONIC. Without --iterations, N is calibrated so one run lasts about
 * --min-ms (default 300 ms). Prints one JSON object on stdout:
 *   {"ns_per_eval":MEDIAN,"runs_ns_per_eval":[...],"evals_per_sec":...,"iterations":N,
 *    "peak_rss_kb":...,"result_rows":...}
 * peak_rss_kb is ru_maxrss of the process (getrusage), i.e. compile + evaluations.
 * Exit 0, or 2 when compilation or an evaluation fails (message on stderr).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "rego/bundle.h"
#include "rego/rego.h"
#include "rego/value.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *g_fresh_text; /* --fresh-input: the input's JSON text */
static size_t g_fresh_len;

/* Evaluates n times; returns elapsed ns or -1 on error. */
static int64_t run(const rego_query *q, rv *input, rv *data, const rego_options *opts, long n, size_t *rows)
{
    rego_error err;
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        rv *rs = NULL, *fresh = NULL;
        if (g_fresh_text) {
            char eb[64];
            input = fresh = rv_from_json_text(g_fresh_text, g_fresh_len, eb, sizeof eb);
        }
        int rc = rego_query_eval(q, input, data, opts, &rs, &err);
        rv_unref(fresh);
        if (rc < 0) {
            fprintf(stderr, "hutch-rego-bench: eval: %s: %s\n", err.code, err.message);
            return -1;
        }
        *rows = rv_len(rs);
        rv_unref(rs);
    }
    return now_ns() - t0;
}

int main(int argc, char **argv)
{
    const char *files[64], *input_path = NULL, *query = NULL;
    int nf = 0, runs = 5;
    long iters = 0, min_ms = 300;
    rego_syntax syn = REGO_SYNTAX_V1;
    bool fresh_input = false, limits = false;
    char *fresh_text = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--v0") == 0) syn = REGO_SYNTAX_V0;
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) iters = atol(argv[++i]);
        else if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc) min_ms = atol(argv[++i]);
        else if (strcmp(argv[i], "--fresh-input") == 0) fresh_input = true;
        else if (strcmp(argv[i], "--limits") == 0) limits = true;
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc && nf < 64) files[nf++] = argv[++i];
        else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) input_path = argv[++i];
        else if (argv[i][0] != '-' && !query) query = argv[i];
        else {
            fprintf(stderr, "usage: hutch-rego-bench [--v0] [--runs R] [--iterations N|--min-ms MS] [--fresh-input] "
                            "[--limits] [-d FILE]... -i input.json QUERY\n");
            return 2;
        }
    }
    if (!query || runs < 1 || runs > 101) {
        fprintf(stderr, "hutch-rego-bench: need a QUERY (and 1..101 runs)\n");
        return 2;
    }
    rego_module_src mods[64];
    char *texts[64];
    int nm = 0;
    rv *data = NULL, *input = NULL;
    for (int i = 0; i < nf; i++) {
        size_t len;
        char *t = rego_read_file(files[i], &len);
        if (!t) {
            fprintf(stderr, "hutch-rego-bench: cannot read %s\n", files[i]);
            return 2;
        }
        size_t fl = strlen(files[i]);
        if (fl > 5 && strcmp(files[i] + fl - 5, ".json") == 0) {
            char eb[256];
            rv_unref(data);
            data = rv_from_json_text(t, len, eb, sizeof eb); /* one data file is enough here */
            free(t);
            if (!data) {
                fprintf(stderr, "hutch-rego-bench: %s: %s\n", files[i], eb);
                return 2;
            }
            continue;
        }
        texts[nm] = t;
        mods[nm] = (rego_module_src){.name = files[i], .source = t, .len = len, .syntax = REGO_SYNTAX_AUTO};
        nm++;
    }
    if (input_path) {
        size_t len;
        char eb[256], *t = rego_read_file(input_path, &len);
        if (!t || !(input = rv_from_json_text(t, len, eb, sizeof eb))) {
            fprintf(stderr, "hutch-rego-bench: cannot load input %s\n", input_path);
            return 2;
        }
        if (fresh_input) {
            fresh_text = t;
            g_fresh_text = t;
            g_fresh_len = len;
        } else free(t);
    }
    rego_error err;
    rego_policy *pol = rego_compile(mods, (size_t)nm, syn, &err);
    if (!pol) {
        fprintf(stderr, "hutch-rego-bench: compile: %s: %s\n", err.code, err.message);
        return 2;
    }
    rego_query *q = rego_query_prepare(pol, query, &err);
    if (!q) {
        fprintf(stderr, "hutch-rego-bench: query: %s: %s\n", err.code, err.message);
        return 2;
    }
    rego_options opts = {.now_ns = 1}; /* fixed clock: no clock_gettime per evaluation */
    if (limits) {
        opts.max_steps = 1000000;
        opts.max_memory = (size_t)64 << 20;
    }
    size_t rows = 0;
    /* warm-up and calibration */
    int64_t t = run(q, input, data, &opts, 100, &rows);
    if (t < 0) return 2;
    if (iters <= 0) {
        double per = (double)t / 100.0;
        iters = (long)((double)min_ms * 1e6 / (per > 1 ? per : 1));
        if (iters < 100) iters = 100;
    }
    double res[101];
    for (int r = 0; r < runs; r++) {
        t = run(q, input, data, &opts, iters, &rows);
        if (t < 0) return 2;
        res[r] = (double)t / (double)iters;
    }
    double sorted[101];
    memcpy(sorted, res, sizeof(double) * (size_t)runs);
    qsort(sorted, (size_t)runs, sizeof(double), cmp_double);
    double med = sorted[runs / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"ns_per_eval\":%.1f,\"runs_ns_per_eval\":[", med);
    for (int r = 0; r < runs; r++) printf("%s%.1f", r ? "," : "", res[r]);
    printf("],\"evals_per_sec\":%.0f,\"iterations\":%ld,\"peak_rss_kb\":%ld,\"result_rows\":%zu}\n", 1e9 / med, iters,
           ru.ru_maxrss, rows);
    rego_query_free(q);
    rego_policy_free(pol);
    rv_unref(input);
    rv_unref(data);
    for (int i = 0; i < nm; i++) free(texts[i]);
    free(fresh_text);
    return 0;
}
