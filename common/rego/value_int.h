/* Internal layout of Rego values (value.c), for the engine's hot paths only.
 *
 * value.h is the interface; this header exposes struct rv so that the evaluator and
 * builtins can read a value's type, length and items without a function call per
 * access (most evaluation steps are a handful of such reads). Read-only use: every
 * value is built and released through value.h. Not for code outside common/rego.
 */
#ifndef HUTCH_REGO_VALUE_INT_H
#define HUTCH_REGO_VALUE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rego/value.h"

enum { NK_INT, NK_BIG, NK_FLT };

struct rv {
    int refcnt; /* < 0: immortal */
    uint8_t type;
    uint8_t nk;
    uint8_t inl;   /* container: items/vals live in the same allocation as the rv */
    uint8_t local; /* 1: made inside rv_local_begin/end on this thread: plain refcount;
                      2: member of a parsed JSON document: counts on its arena (value.c) */
    rv_aux *aux;   /* derived data (rv_aux_attach), published atomically */
    union {
        bool b;
        struct {
            int64_t i;
            double d;
            char *text; /* NK_BIG: canonical; NK_FLT: source text or NULL */
        } num;
        struct {
            size_t len;
            char *s;
            uint64_t pre; /* the first 8 bytes big-endian, zero-padded (rvi_str_pre):
                             set by both string constructors in value.c, so comparing
                             two pre words orders strings as memcmp does (a tie, e.g.
                             "a" and "a\0", falls back to the bytes) */
        } str;
        struct {
            size_t len, cap;
            rv **items; /* array items, set items, object keys */
            rv **vals;  /* object values */
        } c;
    } u;
};

/* The pre word of a string's bytes (value_int.h struct rv). */
static inline uint64_t rvi_str_pre(const char *s, size_t len)
{
    uint64_t w = 0;
    if (len >= 8) {
        __builtin_memcpy(&w, s, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        return w;
    }
    for (size_t i = 0; i < len; i++) w |= (uint64_t)(unsigned char)s[i] << (56 - 8 * i);
    return w;
}

extern rv rv_true_s, rv_false_s; /* the shared booleans (value.c) */
static inline rv *rvi_bool(bool b) { return b ? &rv_true_s : &rv_false_s; }
static inline rv_type rvi_type(const rv *v) { return (rv_type)v->type; }
/* Items of an array (or set), values of an object: no bounds check. */
static inline rv *rvi_item(const rv *v, size_t i) { return v->u.c.items[i]; }
static inline rv *rvi_val(const rv *v, size_t i) { return v->u.c.vals[i]; }
static inline size_t rvi_clen(const rv *v) { return v->u.c.len; } /* array/object/set */
static inline rv_aux *rvi_aux(const rv *v) { return __atomic_load_n(&v->aux, __ATOMIC_ACQUIRE); }
static inline bool rvi_is_false(const rv *v) { return v->type == RV_BOOL && !v->u.b; }
/* A string that is never freed (count < 0: rv_ref/rv_unref do nothing, so sharing it
 * costs no atomic instruction). For optimize.c's process-wide interning of a
 * policy's short string constants only (bounded there). */
rv *rvi_string_immortal(const char *s, size_t len);

/* rv_object_get for an object and a string key (both checked by the caller),
 * inline for the evaluator's refs: binary search over the sorted keys, decided by
 * the pre words (struct rv) for nearly every key. String keys sort after
 * null/bool/number keys and before composites (rv_compare). */
static inline rv *rvi_object_get_str(const rv *obj, const rv *key)
{
    size_t klen = key->u.str.len, lo = 0, hi = obj->u.c.len;
    uint64_t kp = key->u.str.pre;
    rv *const *items = obj->u.c.items;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const rv *k = items[mid];
        int c;
        if (k == key) return obj->u.c.vals[mid];
        if (k->type != RV_STRING) c = k->type < RV_STRING ? -1 : 1;
        else if (k->u.str.pre != kp) c = k->u.str.pre < kp ? -1 : 1;
        else {
            size_t kl = k->u.str.len;
            if (kl == klen && kl <= 8) return obj->u.c.vals[mid]; /* same pre, same length: equal */
            size_t m = kl < klen ? kl : klen;
            c = m > 8 ? __builtin_memcmp(k->u.str.s + 8, key->u.str.s + 8, m - 8) : 0;
            if (c == 0) c = kl < klen ? -1 : kl > klen;
        }
        if (c == 0) return obj->u.c.vals[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
/* rv_unref without the call for the shared singletons (null, true, false). */
static inline void rvi_unref(rv *v)
{
    if (v && (v->local || __atomic_load_n(&v->refcnt, __ATOMIC_RELAXED) >= 0)) rv_unref(v);
}

#endif
