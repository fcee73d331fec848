/* hutch-embed: embeds lines of text with the configured embedder (common/embed.h) and
 * prints the vectors as JSON -- to try a provider's settings by hand, to measure a model's
 * speed, and the program the provider tests drive against their fake servers.
 *
 *   printf 'text one\ntext two\n' | hutch-embed [--stats] [--shape]
 *
 * Settings: the HUTCH_EMBED_* environment variables (--help lists them).
 * Output: {"embedder":NAME,"note":WHY_FALLBACK,"dim":D,"vectors":[[..],..]} or, with
 * --stats, {"embedder","dim","texts","ms","per_second"} without the vectors. --shape
 * masks each line first (common/shape.h) as the cluster service will.
 * Exit: 0; 75 (EX_TEMPFAIL) when a retry may work (429, 5xx, network), with the delay
 * the server asked for; 1 when it will not; 78 bad settings; 2 usage. */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/embed.h"
#include "common/shape.h"
#include "common/strbuf.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"stats", no_argument, NULL, 's'},
        {"shape", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool stats = false, shape = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': stats = true; break;
        case 'm': shape = true; break;
        case 'h':
            config_print_help(embed_config_table, "hutch-embed",
                              "Embeds stdin's lines; prints JSON. Options: --stats (timing, no vectors), "
                              "--shape (mask each line first).");
            return 0;
        default: return 2;
        }
    }
    embed_config cfg = {0};
    char err[4096];
    if (config_load(embed_config_table, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "hutch-embed: %s\n", err);
        return 78;
    }
    embedder *e = embedder_new(&cfg, err, sizeof err);
    if (!e) {
        fprintf(stderr, "hutch-embed: %s\n", err);
        config_free(embed_config_table, &cfg);
        return 78;
    }
    char **texts = NULL, *line = NULL;
    size_t n = 0, cap = 0, lcap = 0;
    ssize_t len;
    int rc = 1;
    while ((len = getline(&line, &lcap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **t = realloc(texts, cap * sizeof *t);
            if (!t)
                goto out;
            texts = t;
        }
        texts[n] = shape ? shape_mask(line, (size_t)len, SHAPE_MAX_DESCRIPTION) : strdup(line);
        if (!texts[n])
            goto out;
        n++;
    }
    float *v = NULL;
    int64_t retry_after = 0;
    double t0 = now_ms();
    embed_result r = embedder_embed(e, (const char *const *)texts, n, &v, &retry_after, err, sizeof err);
    double ms = now_ms() - t0;
    if (r != EMBED_OK) {
        fprintf(stderr, "hutch-embed: %s: %s", embedder_name(e), err);
        if (retry_after > 0)
            fprintf(stderr, " (retry after %lld ms)", (long long)retry_after);
        fputc('\n', stderr);
        rc = r == EMBED_RETRY ? 75 : 1;
        goto out;
    }
    int dim = embedder_dim(e);
    json_t *o = json_pack("{s:s, s:s, s:i}", "embedder", embedder_name(e), "note", embedder_note(e), "dim", dim);
    if (stats) {
        json_object_set_new(o, "texts", json_integer((json_int_t)n));
        json_object_set_new(o, "ms", json_real(ms));
        json_object_set_new(o, "per_second", json_real(ms > 0 ? n * 1000.0 / ms : 0));
    } else {
        json_t *rows = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *row = json_array();
            for (int k = 0; k < dim; k++)
                json_array_append_new(row, json_real(v[i * (size_t)dim + k]));
            json_array_append_new(rows, row);
        }
        json_object_set_new(o, "vectors", rows);
    }
    json_dumpf(o, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    json_decref(o);
    free(v);
    rc = 0;
out:
    if (rc == 1 && n == 0 && !texts)
        fprintf(stderr, "hutch-embed: out of memory\n");
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(line);
    embedder_free(e);
    config_free(embed_config_table, &cfg);
    return rc;
}
