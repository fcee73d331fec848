/* Builtin registry: finds builtins across every family table.
 *
 * The families are named once, in REGO_BUILTIN_FAMILIES below: the list declares
 * each family's table and builds the array the index is made from. The references
 * are ordinary (strong) ones, so linking libhutch_rego.a pulls in every family file
 * and a program that does not use the engine pulls in none. The name index is built
 * once (pthread_once) into a sorted array and searched by binary search; after that
 * it is read-only and safe to share between threads.
 *
 * The rego_bctx_* functions operate on the per-call context the evaluator owns
 * (struct rego_bctx is defined in rego_int.h).
 */
#include "rego/builtins.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/rego_int.h"

/* Every builtin family, in registration order (a name registered twice: the first
 * family wins). Family F is the table rego_builtins_F of builtins_F.c. */
#define REGO_BUILTIN_FAMILIES(X) \
    X(core)                      \
    X(strings)                   \
    X(regex)                     \
    X(collections)               \
    X(encoding)                  \
    X(json)                      \
    X(net)                       \
    X(time)                      \
    X(crypto)                    \
    X(misc)

#define DECLARE_FAMILY(family) extern const rego_builtin_def rego_builtins_##family[];
REGO_BUILTIN_FAMILIES(DECLARE_FAMILY)
#undef DECLARE_FAMILY

#define FAMILY_TABLE(family) rego_builtins_##family,
static const rego_builtin_def *const families[] = {REGO_BUILTIN_FAMILIES(FAMILY_TABLE)};
#undef FAMILY_TABLE

static const rego_builtin_def **g_index;
static size_t g_count;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int def_cmp(const void *a, const void *b)
{
    const rego_builtin_def *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static void build_index(void)
{
    size_t n = 0;
    for (size_t t = 0; t < sizeof families / sizeof families[0]; t++)
        for (const rego_builtin_def *d = families[t]; d->name; d++) n++;
    g_index = calloc(n ? n : 1, sizeof *g_index);
    if (!g_index) return;
    for (size_t t = 0; t < sizeof families / sizeof families[0]; t++)
        for (const rego_builtin_def *d = families[t]; d->name; d++) g_index[g_count++] = d;
    qsort(g_index, g_count, sizeof *g_index, def_cmp);
    /* first registration of a name wins: drop later duplicates */
    size_t w = 0;
    for (size_t i = 0; i < g_count; i++)
        if (w == 0 || strcmp(g_index[w - 1]->name, g_index[i]->name) != 0) g_index[w++] = g_index[i];
    g_count = w;
}

const rego_builtin_def *rego_builtin_find(const char *name)
{
    pthread_once(&g_once, build_index);
    size_t lo = 0, hi = g_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(g_index[mid]->name, name);
        if (c == 0) return g_index[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int bctx_verr(rego_bctx *ctx, int type, const char *fmt, va_list ap)
{
    vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
    ctx->is_type_error = type;
    return REGO_ERR;
}

int rego_bctx_errorf(rego_bctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bctx_verr(ctx, 0, fmt, ap);
    va_end(ap);
    return REGO_ERR;
}

int rego_bctx_type_errorf(rego_bctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bctx_verr(ctx, 1, fmt, ap);
    va_end(ap);
    return REGO_ERR;
}

int64_t rego_bctx_now_ns(rego_bctx *ctx) { return ctx->now_ns; }

size_t rego_bctx_mem_left(const rego_bctx *ctx) { return ctx->mem_left ? ctx->mem_left : SIZE_MAX; }

/* Approximate length of v's JSON text, walking at most until it passes cap (values of
 * shared subtrees can be exponentially larger as text than in memory). */
static size_t text_size_capped(const rv *v, size_t cap)
{
    switch (rv_typeof(v)) {
    case RV_STRING: return rv_strlen(v) + 2;
    case RV_NUMBER: return 24;
    case RV_ARRAY:
    case RV_SET:
    case RV_OBJECT: {
        bool obj = rv_typeof(v) == RV_OBJECT;
        size_t n = rv_len(v), total = 2 + n;
        for (size_t i = 0; i < n && total <= cap; i++) {
            if (obj) total += text_size_capped(rv_object_key_at(v, i), cap - total) + 1;
            if (total <= cap)
                total += text_size_capped(obj                      ? rv_object_val_at(v, i)
                                          : rv_typeof(v) == RV_SET ? rv_set_at(v, i)
                                                                   : rv_array_at(v, i),
                                          cap - total);
        }
        return total;
    }
    default: return 5;
    }
}

bool rego_bctx_may_render(rego_bctx *ctx, const rv *v)
{
    if (!ctx->mem_left) return true;
    return rego_bctx_may_alloc(ctx, text_size_capped(v, ctx->mem_left));
}

bool rego_bctx_may_alloc(rego_bctx *ctx, size_t bytes)
{
    if (bytes <= rego_bctx_mem_left(ctx)) return true;
    rego_bctx_errorf(ctx, "%s: result would exceed the evaluation's memory limit", ctx->name ? ctx->name : "builtin");
    ctx->is_type_error = 2; /* an eval_limit_error, also in non-strict mode */
    return false;
}

rv *rego_bctx_cache_get(rego_bctx *ctx, const char *key)
{
    rv *c = ctx->cache ? *ctx->cache : NULL;
    return c ? rv_object_get_cstr(c, key) : NULL;
}

void rego_bctx_cache_put(rego_bctx *ctx, const char *key, rv *val)
{
    if (!ctx->cache) {
        rv_unref(val);
        return;
    }
    /* the cache object is private to this evaluation, so rebuilding it is safe */
    rv *old = *ctx->cache;
    rv *n = rv_object_new(old ? rv_len(old) + 1 : 1);
    if (old)
        for (size_t i = 0; i < rv_len(old); i++)
            rv_object_set(n, rv_ref(rv_object_key_at(old, i)), rv_ref(rv_object_val_at(old, i)));
    rv_object_set(n, rv_cstring(key), val);
    rv_unref(old);
    *ctx->cache = n;
}

void rego_bctx_print(rego_bctx *ctx, const char *line)
{
    if (ctx->print) ctx->print(ctx->print_arg, line);
}

uint32_t rego_utf8_decode(const unsigned char *s, size_t n, size_t *w)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *w = 1;
        return c;
    }
    size_t need;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) need = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) need = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) need = 4, cp = c & 0x07, min = 0x10000;
    else goto bad;
    if (need > n) goto bad;
    for (size_t k = 1; k < need; k++) {
        if ((s[k] & 0xC0) != 0x80) goto bad;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    /* overlong forms, surrogates and values past U+10FFFF are invalid in Go too */
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
    *w = need;
    return cp;
bad:
    *w = 1;
    return 0xFFFD;
}

size_t rego_utf8_count(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k = 0, i = 0, w;
    while (i < n) {
        if (u[i] < 0x80) i++;
        else {
            rego_utf8_decode(u + i, n - i, &w);
            i += w;
        }
        k++;
    }
    return k;
}
