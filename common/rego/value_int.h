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
    uint8_t inl; /* container: items/vals live in the same allocation as the rv */
    uint8_t local; /* 1: made inside rv_local_begin/end on this thread: plain refcount;
                      2: member of a parsed JSON document: counts on its arena (value.c) */
    rv_aux *aux; /* derived data (rv_aux_attach), published atomically */
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
        } str;
        struct {
            size_t len, cap;
            rv **items; /* array items, set items, object keys */
            rv **vals;  /* object values */
        } c;
    } u;
};

extern rv rv_true_s, rv_false_s; /* the shared booleans (value.c) */
static inline rv *rvi_bool(bool b) { return b ? &rv_true_s : &rv_false_s; }
static inline rv_type rvi_type(const rv *v) { return (rv_type)v->type; }
/* Items of an array (or set), values of an object: no bounds check. */
static inline rv *rvi_item(const rv *v, size_t i) { return v->u.c.items[i]; }
static inline rv *rvi_val(const rv *v, size_t i) { return v->u.c.vals[i]; }
static inline size_t rvi_clen(const rv *v) { return v->u.c.len; } /* array/object/set */
static inline rv_aux *rvi_aux(const rv *v) { return __atomic_load_n(&v->aux, __ATOMIC_ACQUIRE); }
static inline bool rvi_is_false(const rv *v) { return v->type == RV_BOOL && !v->u.b; }
/* rv_unref without the call for the shared singletons (null, true, false). */
static inline void rvi_unref(rv *v)
{
    if (v && (v->local || v->refcnt >= 0)) rv_unref(v);
}

#endif
