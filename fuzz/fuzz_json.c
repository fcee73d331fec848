/* libFuzzer target: the single-pass JSON parser (rv_from_json_text, value.c).
 *
 * Each input is parsed; an accepted document must print back (rv_to_json_text) as
 * JSON that parses again to an equal value, and it must agree with jansson: what
 * jansson accepts (any value, NUL escapes allowed) we accept, with an equal value
 * (numbers compared by value; jansson refuses integers beyond int64 and floats
 * beyond float64, which we keep, so only that direction is checked; it also ends a
 * document at a raw NUL byte, which we refuse, so such inputs are not compared). Members are
 * used after the root is released (the arena's shared count). Crashes, sanitizer
 * reports, leaks and __builtin_trap on a disagreement are findings.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/value.h"

static size_t max_depth(const uint8_t *d, size_t n)
{
    size_t depth = 0, max = 0;
    for (size_t i = 0; i < n; i++)
        if (d[i] == '[' || d[i] == '{') {
            if (++depth > max) max = depth;
        }
    return max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char eb[128];
    rv *v = rv_from_json_text((const char *)data, size, eb, sizeof eb);
    if (v) {
        char *t = rv_to_json_text(v);
        rv *w = rv_from_json_text(t, strlen(t), eb, sizeof eb);
        if (!w || !rv_equal(v, w)) __builtin_trap(); /* our own output must parse back equal */
        rv_unref(w);
        free(t);
        /* a member kept past the root */
        rv *m = NULL;
        if ((rv_typeof(v) == RV_ARRAY || rv_typeof(v) == RV_OBJECT) && rv_len(v) > 0)
            m = rv_ref(rv_typeof(v) == RV_ARRAY ? rv_array_at(v, 0) : rv_object_val_at(v, 0));
        rv_unref(v);
        if (m) {
            char *mt = rv_to_json_text(m);
            free(mt);
            rv_unref(m);
        }
        v = NULL;
    }
    if (max_depth(data, size) > 1000) return 0; /* jansson's depth limit differs */
    if (memchr(data, 0, size)) return 0;        /* jansson stops at a raw NUL byte */
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (j) {
        rv *ours = rv_from_json_text((const char *)data, size, eb, sizeof eb);
        if (!ours) __builtin_trap(); /* jansson accepts what we refuse */
        /* Compared on jansson's side: jansson holds numbers as doubles, we keep the
         * exact decimal ("2e30" is not the double nearest to it), so both go through
         * the same lossy conversion before comparing. */
        json_t *back = rv_to_json(ours);
        if (!back || !json_equal(j, back)) __builtin_trap();
        json_decref(back);
        rv_unref(ours);
        json_decref(j);
    }
    return 0;
}
