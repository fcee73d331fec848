/* Rego evaluator: top-down evaluation with backtracking in continuation-passing style.
 *
 * Every evaluation step takes a continuation (K: "go on with the next expression",
 * KV: "here is one value of a term"). Backtracking is just returning: a binding is
 * set before calling the continuation and cleared after it returns, so no trail is
 * needed (and a binding borrows its value). Return codes: 0 = keep enumerating,
 * 1 = stop (a `not` or an existence check found what it wanted), -1 = error
 * (recorded in the ev).
 *
 * Fast paths, all driven by annotations made once at compile time (optimize.c) and
 * giving the same results, errors and step counts as the general path: data refs
 * start at their precomputed rule-tree node; single-valued terms (calls and
 * composites over constants, variables and constant-key refs) are evaluated
 * directly by eval_sv; `some v in coll` followed by a builtin test of v runs as one
 * loop (eval_fused); builtin operand types are checked against precomputed masks.
 *
 * Virtual documents are computed whole the first time a query touches them and
 * cached for the rest of the evaluation (one cache per `with` scope). Base data and
 * input are borrowed, never copied; `with input.x as v` builds a modified copy of
 * just the changed path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rego/alloc.h"
#include "rego/rego_int.h"
#include "rego/value_int.h"

/* A rule's (or query's) variables. A slot BORROWS its value: bindings are only made
 * around a continuation call (set, call, clear) with a value that its producer keeps
 * alive for the duration of that call, so no reference is taken. */
typedef struct {
    rv **s;
    int n;
} frame;

typedef struct {
    const char *name;  /* builtin or function path being replaced */
    rnode *fn;         /* replaced user function node (or NULL) */
    rv *val;           /* replacement value (or NULL) */
    bool off;          /* disabled while its own replacement runs */
    const char *fname; /* replacement function/builtin name */
    rnode *fnode;
} mock;

typedef struct ev {
    const rego_policy *pol;
    rv *input;
    rv *data;
    const rego_options *opts;
    uint64_t steps, max_steps;
    size_t mem, max_mem;
    rv **cache;     /* per node id; UNDEF_MARK when undefined */
    char *busy;     /* per node id: being computed */
    rnode **shadow; /* nodes replaced by `with data...` */
    int nshadow;
    mock *mocks;
    int nmocks;
    rego_error *err;
    rv *bcache;
    int64_t now_ns;
    int depth;
    bool strict;
    const char *file;     /* for errors */
    uintptr_t stack_base; /* address of a local in rego_query_eval (see step) */
} ev;

/* The evaluator recurses (continuations, rules, comprehensions, walk): a long chain
 * (e.g. a function mocked by itself with `with`) must end in eval_limit_error, not a
 * stack overflow (found by fuzzing), whatever the frame sizes of the build. */
#if defined(__SANITIZE_ADDRESS__)
#define REGO_MAX_STACK ((uintptr_t)5 << 20)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REGO_MAX_STACK ((uintptr_t)5 << 20)
#endif
#endif
#ifndef REGO_MAX_STACK
#define REGO_MAX_STACK ((uintptr_t)2 << 20)
#endif

static long undef_mark_s;
#define UNDEF_MARK ((rv *)&undef_mark_s)

typedef struct K K;
struct K {
    int (*fn)(ev *e, const K *k);
};
typedef struct KV KV;
struct KV {
    int (*fn)(ev *e, const KV *k, rv *v);
};

static int eval_term(ev *e, frame *fr, term *t, const KV *k);
static int eval_body(ev *e, frame *fr, body *b, int i, const K *k);
static int unify(ev *e, frame *fr, term *p, rv *v, const K *k);
static rv *node_full(ev *e, rnode *n, rv *base, int *st);

static int ev_error(ev *e, const char *code, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#include <stdarg.h>
static int ev_error(ev *e, const char *code, int line, int col, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rego_set_error(e->err, code, e->file, line, col, "%s", msg);
    return -1;
}

static int step(ev *e, int line, int col)
{
    char probe;
    if (e->stack_base - (uintptr_t)&probe > REGO_MAX_STACK && e->stack_base > (uintptr_t)&probe)
        return ev_error(e, "eval_limit_error", line, col, "evaluation too deep (stack limit)");
    e->steps++;
    if (e->max_steps && e->steps > e->max_steps)
        return ev_error(e, "eval_limit_error", line, col, "evaluation exceeded the step limit (%llu)",
                        (unsigned long long)e->max_steps);
    if (e->max_mem && e->mem > e->max_mem)
        return ev_error(e, "eval_limit_error", line, col, "evaluation exceeded the memory limit (%zu bytes)",
                        e->max_mem);
    return 0;
}

/* ------------------------------------------------------------ helpers */
static bool has_unbound(frame *fr, term *t)
{
    switch (t->kind) {
    case T_VAL: return false;
    case T_VAR: return t->slot >= 0 && !fr->s[t->slot];
    case T_ARRAY:
    case T_OBJECT:
        for (int i = 0; i < t->n; i++)
            if (has_unbound(fr, t->items[i])) return true;
        return false;
    default: return false;
    }
}

static bool is_pattern(frame *fr, term *t)
{
    if (t->kind == T_VAR) return t->slot >= 0 && !fr->s[t->slot];
    if (t->kind == T_ARRAY) {
        for (int i = 0; i < t->n; i++)
            if (is_pattern(fr, t->items[i])) return true;
        return false;
    }
    if (t->kind == T_OBJECT) {
        for (int i = 1; i < t->n; i += 2)
            if (is_pattern(fr, t->items[i])) return true;
        return false;
    }
    return false;
}

static rv *lookup(rv *cur, rv *key)
{
    if (cur->type == RV_OBJECT && key->type == RV_STRING) return rvi_object_get_str(cur, key); /* most refs */
    switch (rv_typeof(cur)) {
    case RV_OBJECT: return rv_object_get(cur, key);
    case RV_ARRAY: {
        if (rv_typeof(key) != RV_NUMBER) return NULL;
        int64_t i;
        if (!rv_number_as_int64(key, &i) || !rv_number_is_integer(key)) return NULL;
        if (i < 0 || (size_t)i >= rv_len(cur)) return NULL;
        return rv_array_at(cur, (size_t)i);
    }
    case RV_SET: return rv_set_contains(cur, key) ? key : NULL;
    default: return NULL;
    }
}

/* ------------------------------------------------------------ first value of a term */
typedef struct {
    KV k;
    rv *out;
} first_kv;
static int first_fn(ev *e, const KV *k, rv *v)
{
    first_kv *f = (first_kv *)k;
    f->out = rv_ref(v);
    return 1;
}
/* The first value evalf gives for t (NEW) or NULL; *st < 0 on error. */
static rv *first_through(ev *e, frame *fr, term *t, int *st, int (*evalf)(ev *, frame *, term *, const KV *))
{
    first_kv f = {{first_fn}, NULL};
    int r = evalf(e, fr, t, &f.k);
    *st = r < 0 ? -1 : 0;
    if (r < 0) {
        rv_unref(f.out);
        return NULL;
    }
    return f.out;
}

/* Evaluates t and returns its first value (NEW) or NULL; *st < 0 on error. */
static rv *eval_first(ev *e, frame *fr, term *t, int *st)
{
    if (t->kind == T_VAL) {
        *st = 0;
        return rv_ref(t->val);
    }
    if (t->kind == T_VAR && t->slot >= 0) {
        *st = 0;
        return rv_ref(fr->s[t->slot]);
    }
    return first_through(e, fr, t, st, eval_term);
}

/* ------------------------------------------------------------ bodies */
typedef struct {
    K k;
    frame *fr;
    body *b;
    int i;
    const K *next;
} body_k;
static int body_next(ev *e, const K *k)
{
    const body_k *bk = (const body_k *)k;
    return eval_body(e, bk->fr, bk->b, bk->i + 1, bk->next);
}

static int eval_expr(ev *e, frame *fr, expr *x, const K *k);

static int eval_fused(ev *e, frame *fr, body *b, int i, const K *k);

static int eval_body(ev *e, frame *fr, body *b, int i, const K *k)
{
    if (!b || i >= b->n) return k->fn(e, k);
    if (b->exprs[i]->fuse_pos && !e->nmocks) return eval_fused(e, fr, b, i, k);
    body_k bk = {{body_next}, fr, b, i, k};
    return eval_expr(e, fr, b->exprs[i], &bk.k);
}

static int stop_fn(ev *e, const K *k) { return 1; }
static const K stop_k = {stop_fn};

/* ------------------------------------------------------------ unification */
typedef struct {
    K k;
    frame *fr;
    term *p;
    rv *v;
    int i;
    const K *next;
} arr_k;
static int unify_arr_from(ev *e, frame *fr, term *p, rv *v, int i, const K *k);
static int arr_next(ev *e, const K *k)
{
    const arr_k *a = (const arr_k *)k;
    return unify_arr_from(e, a->fr, a->p, a->v, a->i + 1, a->next);
}
static int unify_arr_from(ev *e, frame *fr, term *p, rv *v, int i, const K *k)
{
    if (i >= p->n) return k->fn(e, k);
    arr_k a = {{arr_next}, fr, p, v, i, k};
    rv *item = rv_typeof(v) == RV_ARRAY ? rv_array_at(v, (size_t)i) : rv_object_val_at(v, (size_t)i);
    return unify(e, fr, p->items[i], item, &a.k);
}

typedef struct {
    K k;
    frame *fr;
    term *p;
    rv *v;
    int i;
    const K *next;
} obj_k;
static int unify_obj_from(ev *e, frame *fr, term *p, rv *v, int i, const K *k);
static int obj_next(ev *e, const K *k)
{
    const obj_k *a = (const obj_k *)k;
    return unify_obj_from(e, a->fr, a->p, a->v, a->i + 2, a->next);
}
static int unify_obj_from(ev *e, frame *fr, term *p, rv *v, int i, const K *k)
{
    if (i >= p->n) return k->fn(e, k);
    int st;
    rv *key = eval_first(e, fr, p->items[i], &st);
    if (st < 0) return -1;
    if (!key) return 0;
    rv *val = rv_object_get(v, key);
    rv_unref(key);
    if (!val) return 0;
    obj_k a = {{obj_next}, fr, p, v, i, k};
    return unify(e, fr, p->items[i + 1], val, &a.k);
}

typedef struct {
    KV k;
    rv *v;
    const K *next;
} eqv_k;
static int eqv_fn(ev *e, const KV *k, rv *w)
{
    const eqv_k *q = (const eqv_k *)k;
    if (!rv_equal(w, q->v)) return 0;
    return q->next->fn(e, q->next);
}

static int unify(ev *e, frame *fr, term *p, rv *v, const K *k)
{
    switch (p->kind) {
    case T_VAR:
        if (p->slot < 0) return ev_error(e, "rego_unsafe_var_error", p->line, p->col, "var %s is unsafe", p->name);
        if (fr->s[p->slot]) return rv_equal(fr->s[p->slot], v) ? k->fn(e, k) : 0;
        {
            fr->s[p->slot] = v; /* borrowed: v outlives the continuation (see frame) */
            int r = k->fn(e, k);
            fr->s[p->slot] = NULL;
            return r;
        }
    case T_VAL: return rv_equal(p->val, v) ? k->fn(e, k) : 0;
    case T_ARRAY:
        if (rv_typeof(v) != RV_ARRAY || rv_len(v) != (size_t)p->n) return 0;
        return unify_arr_from(e, fr, p, v, 0, k);
    case T_OBJECT:
        if (rv_typeof(v) != RV_OBJECT || rv_len(v) * 2 != (size_t)p->n) return 0;
        return unify_obj_from(e, fr, p, v, 0, k);
    default: {
        eqv_k q = {{eqv_fn}, v, k};
        return eval_term(e, fr, p, &q.k);
    }
    }
}

typedef struct {
    KV k;
    frame *fr;
    term *other;
    const K *next;
} unv_k;
static int unv_fn(ev *e, const KV *k, rv *v)
{
    const unv_k *u = (const unv_k *)k;
    return unify(e, u->fr, u->other, v, u->next);
}

static int unify_terms(ev *e, frame *fr, term *a, term *b, const K *k);
typedef struct {
    K k;
    frame *fr;
    term *a, *b;
    int i;
    const K *next;
} pair_k;
static int pair_from(ev *e, frame *fr, term *a, term *b, int i, const K *k);
static int pair_next(ev *e, const K *k)
{
    const pair_k *p = (const pair_k *)k;
    return pair_from(e, p->fr, p->a, p->b, p->i + 1, p->next);
}
static int pair_from(ev *e, frame *fr, term *a, term *b, int i, const K *k)
{
    if (i >= a->n) return k->fn(e, k);
    pair_k p = {{pair_next}, fr, a, b, i, k};
    return unify_terms(e, fr, a->items[i], b->items[i], &p.k);
}

static int unify_terms(ev *e, frame *fr, term *a, term *b, const K *k)
{
    if (!is_pattern(fr, a)) {
        unv_k u = {{unv_fn}, fr, b, k};
        return eval_term(e, fr, a, &u.k);
    }
    if (!is_pattern(fr, b)) {
        unv_k u = {{unv_fn}, fr, a, k};
        return eval_term(e, fr, b, &u.k);
    }
    if (a->kind == T_ARRAY && b->kind == T_ARRAY) {
        if (a->n != b->n) return 0;
        return pair_from(e, fr, a, b, 0, k);
    }
    if (a->kind == T_OBJECT && b->kind == T_OBJECT) {
        if (a->n != b->n) return 0;
        term *va[64], *vb[64];
        int np = 0;
        for (int i = 0; i < a->n && np < 64; i += 2) {
            int st;
            rv *ka = eval_first(e, fr, a->items[i], &st);
            if (st < 0) return -1;
            int j = -1;
            for (int q = 0; ka && q < b->n; q += 2) {
                rv *kb = eval_first(e, fr, b->items[q], &st);
                bool eq = kb && rv_equal(ka, kb);
                rv_unref(kb);
                if (eq) {
                    j = q;
                    break;
                }
            }
            rv_unref(ka);
            if (j < 0) return 0;
            va[np] = a->items[i + 1];
            vb[np] = b->items[j + 1];
            np++;
        }
        term ta = {.kind = T_ARRAY, .items = va, .n = np}, tb = {.kind = T_ARRAY, .items = vb, .n = np};
        return pair_from(e, fr, &ta, &tb, 0, k);
    }
    term *u = a->kind == T_VAR ? a : b;
    return ev_error(e, "rego_unsafe_var_error", u->line, u->col, "var %s is unsafe", u->name ? u->name : "?");
}

/* ------------------------------------------------------------ composite terms */
typedef struct {
    KV k;
    frame *fr;
    term *t;
    int i;
    rv **acc;
    const KV *next;
} comp_kv;
static int comp_from(ev *e, frame *fr, term *t, int i, rv **acc, const KV *k);
static int comp_item(ev *e, const KV *k, rv *v)
{
    const comp_kv *c = (const comp_kv *)k;
    c->acc[c->i] = v;
    return comp_from(e, c->fr, c->t, c->i + 1, c->acc, c->next);
}
static int comp_from(ev *e, frame *fr, term *t, int i, rv **acc, const KV *k)
{
    if (i < t->n) {
        term *it = t->items[i];
        if (it->kind == T_VAL) {
            acc[i] = it->val;
            return comp_from(e, fr, t, i + 1, acc, k);
        }
        if (it->kind == T_VAR && it->slot >= 0 && fr->s[it->slot]) {
            acc[i] = fr->s[it->slot];
            return comp_from(e, fr, t, i + 1, acc, k);
        }
        comp_kv c = {{comp_item}, fr, t, i, acc, k};
        return eval_term(e, fr, it, &c.k);
    }
    rv *v;
    if (t->kind == T_ARRAY) {
        v = rv_array_new((size_t)t->n);
        for (int j = 0; j < t->n; j++) rv_array_push(v, rv_ref(acc[j]));
    } else if (t->kind == T_SET) {
        v = rv_set_new((size_t)t->n);
        for (int j = 0; j < t->n; j++) rv_set_add(v, rv_ref(acc[j]));
    } else {
        v = rv_object_new((size_t)t->n / 2);
        for (int j = 0; j < t->n; j += 2) rv_object_set(v, rv_ref(acc[j]), rv_ref(acc[j + 1]));
    }
    e->mem += 32 * (size_t)t->n;
    int r = k->fn(e, k, v);
    rv_unref(v);
    return r;
}

/* ------------------------------------------------------------ comprehensions */
typedef struct {
    K k;
    frame *fr;
    term *t;
    rv *acc;
    int conflict;
} collect_k;
typedef struct {
    KV k;
    collect_k *c;
    rv *key;
} collect_kv;
static int collect_val(ev *e, const KV *k, rv *v)
{
    const collect_kv *ck = (const collect_kv *)k;
    collect_k *c = ck->c;
    e->mem += 48;
    if (step(e, c->t->line, c->t->col)) return -1;
    if (c->t->kind == T_ACOMP) rv_array_push(c->acc, rv_ref(v));
    else if (c->t->kind == T_SCOMP) rv_set_add(c->acc, rv_ref(v));
    else {
        rv *old = rv_object_get(c->acc, ck->key);
        if (old && !rv_equal(old, v))
            return ev_error(e, "eval_conflict_error", c->t->line, c->t->col, "object keys must be unique");
        rv_object_set(c->acc, rv_ref(ck->key), rv_ref(v));
    }
    return 0;
}
static int collect_key(ev *e, const KV *k, rv *v)
{
    const collect_kv *ck = (const collect_kv *)k;
    collect_kv vk = {{collect_val}, ck->c, v};
    return eval_term(e, ck->c->fr, ck->c->t->items[1], &vk.k);
}
static int collect_fn(ev *e, const K *k)
{
    collect_k *c = (collect_k *)k;
    collect_kv ck = {{c->t->kind == T_OCOMP ? collect_key : collect_val}, c, NULL};
    int r = eval_term(e, c->fr, c->t->items[0], &ck.k);
    return r < 0 ? r : 0;
}

static int eval_comprehension(ev *e, frame *fr, term *t, const KV *k)
{
    collect_k c = {{collect_fn}, fr, t, NULL, 0};
    c.acc = t->kind == T_ACOMP ? rv_array_new(0) : t->kind == T_SCOMP ? rv_set_new(0) : rv_object_new(0);
    int r = eval_body(e, fr, t->body, 0, &c.k);
    if (r < 0) {
        rv_unref(c.acc);
        return r;
    }
    r = k->fn(e, k, c.acc);
    rv_unref(c.acc);
    return r;
}

/* ------------------------------------------------------------ refs over values */
typedef struct {
    K k;
    frame *fr;
    term *t;
    int idx;
    rv *cur;
    const KV *next;
} walkk;
static int walk_value(ev *e, frame *fr, term *t, int idx, rv *cur, const KV *k);
static int walk_bound_next(ev *e, const K *k)
{
    const walkk *w = (const walkk *)k;
    return walk_value(e, w->fr, w->t, w->idx + 1, w->cur, w->next);
}
typedef struct {
    KV k;
    frame *fr;
    term *t;
    int idx;
    rv *cur;
    const KV *next;
} walkkv;
static int walk_key(ev *e, const KV *k, rv *key)
{
    const walkkv *w = (const walkkv *)k;
    rv *child = lookup(w->cur, key);
    if (!child) return 0;
    return walk_value(e, w->fr, w->t, w->idx + 1, child, w->next);
}

static int walk_value(ev *e, frame *fr, term *t, int idx, rv *cur, const KV *k)
{
    if (idx >= t->n) return k->fn(e, k, cur);
    term *p = t->items[idx];
    if (p->kind == T_VAL) {
        rv *child = lookup(cur, p->val);
        if (!child) return 0;
        return walk_value(e, fr, t, idx + 1, child, k);
    }
    if (p->kind == T_VAR && p->slot >= 0 && fr->s[p->slot]) {
        rv *child = lookup(cur, fr->s[p->slot]);
        if (!child) return 0;
        return walk_value(e, fr, t, idx + 1, child, k);
    }
    if (has_unbound(fr, p)) {
        rv_type ty = rv_typeof(cur);
        if (ty != RV_ARRAY && ty != RV_OBJECT && ty != RV_SET) return 0;
        size_t n = rv_len(cur);
        rv_ref(cur);
        int r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
            rv *key, *child;
            rv *tmp = NULL;
            if (ty == RV_ARRAY) {
                key = tmp = rv_int((int64_t)i);
                child = rv_array_at(cur, i);
            } else if (ty == RV_OBJECT) {
                key = rv_object_key_at(cur, i);
                child = rv_object_val_at(cur, i);
            } else {
                key = child = rv_set_at(cur, i);
            }
            if (p->kind == T_VAR) {
                fr->s[p->slot] = key; /* borrowed (see frame) */
                r = walk_value(e, fr, t, idx + 1, child, k);
                fr->s[p->slot] = NULL;
            } else {
                walkk w = {{walk_bound_next}, fr, t, idx, child, k};
                r = unify(e, fr, p, key, &w.k);
            }
            rv_unref(tmp);
        }
        rv_unref(cur);
        return r;
    }
    walkkv w = {{walk_key}, fr, t, idx, cur, k};
    return eval_term(e, fr, p, &w.k);
}

/* ------------------------------------------------------------ virtual documents */
static bool shadowed(ev *e, rnode *n)
{
    for (int i = 0; i < e->nshadow; i++)
        if (e->shadow[i] == n) return true;
    return false;
}

static int eval_rule_value_opt(ev *e, rnode *n, rv **out, bool with_default);
static int eval_rule_value(ev *e, rnode *n, rv **out) { return eval_rule_value_opt(e, n, out, true); }

/* Deep merge b into a (both NEW refs consumed), conflict -> NULL with *conf */
static rv *deep_merge_d(rv *a, rv *b, bool *conf, int depth)
{
    if (!a) return b;
    if (!b) return a;
    if (rv_typeof(a) == RV_SET && rv_typeof(b) == RV_SET) {
        rv *s = rv_set_new(rv_len(a) + rv_len(b));
        for (size_t i = 0; i < rv_len(a); i++) rv_set_add(s, rv_ref(rv_set_at(a, i)));
        for (size_t i = 0; i < rv_len(b); i++) rv_set_add(s, rv_ref(rv_set_at(b, i)));
        rv_unref(a);
        rv_unref(b);
        return s;
    }
    if (rv_typeof(a) != RV_OBJECT || rv_typeof(b) != RV_OBJECT || depth <= 0) {
        if (rv_equal(a, b)) {
            rv_unref(b);
            return a;
        }
        *conf = true;
        rv_unref(b);
        return a;
    }
    rv *o = rv_object_new(rv_len(a) + rv_len(b));
    for (size_t i = 0; i < rv_len(a); i++)
        rv_object_set(o, rv_ref(rv_object_key_at(a, i)), rv_ref(rv_object_val_at(a, i)));
    for (size_t i = 0; i < rv_len(b); i++) {
        rv *key = rv_object_key_at(b, i);
        rv *old = rv_object_get(o, key);
        rv *nv = rv_ref(rv_object_val_at(b, i));
        if (old) nv = deep_merge_d(rv_ref(old), nv, conf, depth - 1);
        rv_object_set(o, rv_ref(key), nv);
    }
    rv_unref(a);
    rv_unref(b);
    return o;
}

static rv *deep_merge(rv *a, rv *b, bool *conf) { return deep_merge_d(a, b, conf, 1 << 20); }

/* Full value of node n (virtual) merged over base. NEW or NULL (undefined). */
/* a function of no arguments (`f() = 1`) is also a value in refs (data.test.f is 1) */
static bool fn_arity0(const rnode *n)
{
    const rule *r = n->nrules ? n->rules[0] : n->def;
    return n->is_func && r && r->nargs == 0;
}

static int eval_func(ev *e, rnode *n, rv **argv, int argc, rv **out, int line, int col);

static rv *node_full(ev *e, rnode *n, rv *base, int *st);

/* The value of n where it is merged into the value of rules above it (`a[k] := v`
 * with rules under a, in its package or in package a.b): OPA applies no default rule
 * there and leaves out what is undefined, so an empty package or a child without a
 * value adds no key. NEW or NULL. */
static rv *node_below_rules(ev *e, rnode *n, int *st)
{
    *st = 0;
    if (n->is_func || shadowed(e, n)) return node_full(e, n, NULL, st);
    rv *val = NULL;
    if (eval_rule_value_opt(e, n, &val, false) < 0) {
        *st = -1;
        return NULL;
    }
    rv *kids = NULL;
    for (int i = 0; i < n->nkids; i++) {
        rv *kv = node_below_rules(e, n->kids[i], st);
        if (*st < 0) {
            rv_unref(kids);
            rv_unref(val);
            return NULL;
        }
        if (!kv) continue;
        if (!kids) kids = rv_object_new((size_t)n->nkids);
        rv_object_set(kids, rv_ref(n->kids[i]->key), kv);
    }
    if (!kids) return val;
    if (!val) return kids;
    bool conf = rv_typeof(val) != RV_OBJECT;
    if (!conf) val = deep_merge(val, kids, &conf);
    else rv_unref(kids);
    if (conf) {
        rv_unref(val);
        rule *r = n->rules[0];
        *st = ev_error(e, "eval_conflict_error", r->line, r->col, "object keys must be unique");
        return NULL;
    }
    return val;
}

static rv *node_full(ev *e, rnode *n, rv *base, int *st)
{
    *st = 0;
    if (!n || shadowed(e, n)) return rv_ref(base);
    if (n->is_func) {
        if (!fn_arity0(n)) return NULL;
        rule *r = n->nrules ? n->rules[0] : n->def;
        rv *out = NULL;
        if (eval_func(e, n, NULL, 0, &out, r->line, r->col) < 0) *st = -1;
        return out;
    }
    bool cacheable = true;
    if (cacheable && e->cache[n->id]) {
        rv *c = e->cache[n->id];
        return c == UNDEF_MARK ? NULL : rv_ref(c);
    }
    rv *val = NULL;
    if (!(n->nrules || n->def) && base && rv_typeof(base) != RV_OBJECT) {
        /* OPA merges a prefix's base and virtual documents only when both are
         * objects, else the base document wins; rules below such a base are a
         * conflict (data_conflict), so only empty packages are dropped here */
        e->cache[n->id] = rv_ref(base);
        return rv_ref(base);
    }
    if (n->nrules || n->def) {
        int r = eval_rule_value(e, n, &val);
        if (r < 0) {
            *st = -1;
            return NULL;
        }
    }
    if (n->nkids || !(n->nrules || n->def)) {
        rv *obj = NULL;
        if (!val && base && rv_typeof(base) == RV_OBJECT) {
            obj = rv_object_new(rv_len(base) + (size_t)n->nkids);
            for (size_t i = 0; i < rv_len(base); i++)
                rv_object_set(obj, rv_ref(rv_object_key_at(base, i)), rv_ref(rv_object_val_at(base, i)));
        }
        rv *kidsobj = rv_object_new((size_t)n->nkids);
        for (int i = 0; i < n->nkids; i++) {
            rnode *kid = n->kids[i];
            if (kid->is_func && !fn_arity0(kid)) continue;
            rv *kb = base ? rv_object_get(base, kid->key) : NULL;
            rv *kv = val ? node_below_rules(e, kid, st) : node_full(e, kid, kb, st);
            if (*st < 0) {
                rv_unref(obj);
                rv_unref(kidsobj);
                rv_unref(val);
                return NULL;
            }
            if (kv) rv_object_set(kidsobj, rv_ref(kid->key), kv);
        }
        if (val) {
            bool conf = false;
            if (rv_len(kidsobj) == 0) {
                /* nothing below to merge */
            } else if (rv_typeof(val) != RV_OBJECT) conf = true;
            else {
                rule *r0 = n->nrules ? n->rules[0] : n->def;
                int depth = r0 && r0->nref > r0->nstatic ? r0->nref - r0->nstatic : 1;
                if (r0 && r0->kind == R_SET) depth++;
                val = deep_merge_d(val, kidsobj, &conf, depth), kidsobj = NULL;
            }
            rv_unref(kidsobj);
            if (conf) {
                rv_unref(val);
                rule *r = n->nrules ? n->rules[0] : n->def;
                *st = ev_error(e, "eval_conflict_error", r->line, r->col, "object keys must be unique");
                return NULL;
            }
        } else {
            if (!obj) obj = rv_object_new(rv_len(kidsobj));
            for (size_t i = 0; i < rv_len(kidsobj); i++)
                rv_object_set(obj, rv_ref(rv_object_key_at(kidsobj, i)), rv_ref(rv_object_val_at(kidsobj, i)));
            rv_unref(kidsobj);
            val = obj;
        }
    } else if (!val && base) {
        val = rv_ref(base);
    }
    e->cache[n->id] = val ? rv_ref(val) : UNDEF_MARK;
    return val;
}

typedef struct {
    K k;
    frame *fr;
    term *t;
    int idx;
    rnode *n;
    rv *base;
    const KV *next;
} datak;
static int eval_data(ev *e, frame *fr, term *t, int idx, rnode *n, rv *base, const KV *k);

/* Base documents are JSON read by path in OPA's storage, so a number ref component
 * matches the object key of its decimal text there: data[2] reads data["2"]. Only
 * refs rooted at data do this (a value bound to a var is looked up as is). */
static rv *lookup_base(rv *cur, rv *key)
{
    rv *c = lookup(cur, key);
    if (c || rv_typeof(cur) != RV_OBJECT || rv_typeof(key) != RV_NUMBER) return c;
    char *txt = rv_number_text(key);
    if (!txt) return NULL;
    rv *sk = rv_cstring(txt);
    free(txt);
    c = rv_object_get(cur, sk);
    rv_unref(sk);
    return c;
}
static int walk_base(ev *e, frame *fr, term *t, int idx, rv *cur, const KV *k)
{
    while (idx < t->n) {
        term *p = t->items[idx];
        rv *key = p->kind == T_VAL ? p->val : (p->kind == T_VAR && p->slot >= 0) ? fr->s[p->slot] : NULL;
        if (!key) break;
        cur = lookup_base(cur, key);
        if (!cur) return 0;
        idx++;
    }
    return walk_value(e, fr, t, idx, cur, k);
}
typedef struct {
    KV k;
    frame *fr;
    term *t;
    int idx;
    rnode *n;
    rv *base;
    const KV *next;
} datakv;
static int data_key(ev *e, const KV *k, rv *key)
{
    const datakv *d = (const datakv *)k;
    rnode *kid = NULL;
    if (rv_typeof(key) == RV_STRING) kid = rego_node_child(d->n, rv_str(key));
    rv *kb = d->base ? lookup_base(d->base, key) : NULL;
    if (kid && (!kid->is_func || fn_arity0(kid))) return eval_data(e, d->fr, d->t, d->idx + 1, kid, kb, d->next);
    if (!kb) return 0;
    return walk_base(e, d->fr, d->t, d->idx + 1, kb, d->next);
}

/* The members of a prefix node (no rules of its own), the way OPA enumerates them
 * (topdown evalTree.enumerate): first the base document's keys (or indexes), then
 * the rule tree's children, each with its full value. A key in both (a base object
 * and rules under the same prefix) comes twice, as in OPA: that shows in arrays
 * and result sets, not in sets. fn gets the key and the member's value (BORROWED
 * for the call). */
typedef int (*member_fn)(ev *e, void *arg, rv *key, rv *val);
static int node_members(ev *e, rnode *n, rv *base, member_fn fn, void *arg)
{
    int r = 0;
    rv_type ty = base ? rv_typeof(base) : RV_NULL;
    if (ty == RV_ARRAY || ty == RV_OBJECT || ty == RV_SET) {
        for (size_t i = 0; i < rv_len(base) && r == 0; i++) {
            rv *key, *val, *tmp = NULL, *full = NULL;
            if (ty == RV_ARRAY) key = tmp = rv_int((int64_t)i), val = rv_array_at(base, i);
            else if (ty == RV_OBJECT) key = rv_object_key_at(base, i), val = rv_object_val_at(base, i);
            else key = val = rv_set_at(base, i);
            rnode *kid = rv_typeof(key) == RV_STRING ? rego_node_child(n, rv_str(key)) : NULL;
            if (kid && kid->is_func && !fn_arity0(kid)) kid = NULL;
            if (kid) {
                int st;
                val = full = node_full(e, kid, val, &st);
                if (st < 0) r = -1;
            }
            if (r == 0 && val) r = fn(e, arg, key, val);
            rv_unref(full);
            rv_unref(tmp);
        }
    }
    for (int i = 0; i < n->nkids && r == 0; i++) {
        rnode *kid = n->kids[i];
        if (kid->is_func && !fn_arity0(kid)) continue;
        int st;
        rv *val = node_full(e, kid, ty == RV_OBJECT ? rv_object_get(base, kid->key) : NULL, &st);
        if (st < 0) return -1;
        if (val) r = fn(e, arg, kid->key, val);
        rv_unref(val);
    }
    return r;
}

typedef struct {
    K k;
    const datakv *d;
    rv *key;
} data_enum_k;
static int data_enum_next(ev *e, const K *k)
{
    const data_enum_k *c = (const data_enum_k *)k;
    return data_key(e, &c->d->k, c->key);
}
static int data_enum_member(ev *e, void *arg, rv *key, rv *val)
{
    (void)val; /* data_key finds it again, descending into the rule tree */
    const datakv *d = arg;
    data_enum_k c = {{data_enum_next}, d, key};
    return unify(e, d->fr, d->t->items[d->idx], key, &c.k);
}

static int eval_data(ev *e, frame *fr, term *t, int idx, rnode *n, rv *base, const KV *k)
{
    if (!n || shadowed(e, n)) {
        if (!base) return 0;
        return walk_base(e, fr, t, idx, base, k);
    }
    if (n->is_func && !fn_arity0(n)) return 0;
    if (idx < t->n && !n->nrules && !n->def && has_unbound(fr, t->items[idx])) {
        datakv d = {{data_key}, fr, t, idx, n, base, k};
        return node_members(e, n, base, data_enum_member, &d);
    }
    if (idx >= t->n || n->nrules || n->def || has_unbound(fr, t->items[idx])) {
        rv *c = e->cache[n->id];
        if (c && !n->is_func && !shadowed(e, n)) {
            /* cached: the cache keeps it alive for this continuation, no reference taken */
            return c == UNDEF_MARK ? 0 : walk_value(e, fr, t, idx, c, k);
        }
        int st;
        rv *v = node_full(e, n, base, &st);
        if (st < 0) return -1;
        if (!v) return 0;
        int r = walk_value(e, fr, t, idx, v, k);
        rv_unref(v);
        return r;
    }
    term *p = t->items[idx];
    if (p->kind == T_VAL) {
        datakv d = {{data_key}, fr, t, idx, n, base, k};
        return data_key(e, &d.k, p->val);
    }
    datakv d = {{data_key}, fr, t, idx, n, base, k};
    return eval_term(e, fr, p, &d.k);
}

/* ------------------------------------------------------------ rules */
typedef struct {
    K k;
    frame *fr;
    rule *r;
    rv **result; /* complete / function */
    rv *acc;     /* set / object */
    bool found;
} rule_k;

static int set_path_insert(ev *e, rule *r, rv **objp, rv **keys, int nkeys, rv *leaf, bool leaf_set)
{
    /* rebuild nested object with conflict checks; objp is owned */
    rv *obj = *objp;
    rv *key = keys[0];
    rv *old = rv_object_get(obj, key);
    if (nkeys == 1) {
        if (leaf_set) {
            rv *s;
            if (old && rv_typeof(old) != RV_SET)
                return ev_error(e, "eval_conflict_error", r->line, r->col, "object keys must be unique");
            s = rv_set_new(old ? rv_len(old) + 1 : 1);
            if (old)
                for (size_t i = 0; i < rv_len(old); i++) rv_set_add(s, rv_ref(rv_set_at(old, i)));
            rv_set_add(s, rv_ref(leaf));
            rv_object_set(obj, rv_ref(key), s);
            return 0;
        }
        if (old) {
            if (rv_equal(old, leaf)) return 0;
            return ev_error(e, "eval_conflict_error", r->line, r->col, "object keys must be unique");
        }
        rv_object_set(obj, rv_ref(key), rv_ref(leaf));
        return 0;
    }
    rv *sub;
    if (old) {
        if (rv_typeof(old) != RV_OBJECT)
            return ev_error(e, "eval_conflict_error", r->line, r->col, "object keys must be unique");
        sub = rv_object_new(rv_len(old) + 1);
        for (size_t i = 0; i < rv_len(old); i++)
            rv_object_set(sub, rv_ref(rv_object_key_at(old, i)), rv_ref(rv_object_val_at(old, i)));
    } else sub = rv_object_new(1);
    int rc = set_path_insert(e, r, &sub, keys + 1, nkeys - 1, leaf, leaf_set);
    rv_object_set(obj, rv_ref(key), sub);
    return rc;
}

typedef struct {
    KV k;
    rule_k *rk;
} value_kv;
static int value_fn(ev *e, const KV *k, rv *v)
{
    rule_k *rk = ((const value_kv *)k)->rk;
    rule *r = rk->r;
    rk->found = true;
    if (*rk->result) {
        if (!rv_equal(*rk->result, v))
            return ev_error(e, "eval_conflict_error", r->line, r->col,
                            r->kind == R_FUNC ? "functions must not produce multiple outputs for same inputs"
                                              : "complete rules must not produce multiple outputs");
        return 0;
    }
    *rk->result = rv_ref(v);
    return 0;
}
static int setkey_fn(ev *e, const KV *k, rv *v)
{
    rule_k *rk = ((const value_kv *)k)->rk;
    rv_set_add(rk->acc, rv_ref(v));
    e->mem += 48;
    return 0;
}

static int rule_solution(ev *e, const K *k)
{
    rule_k *rk = (rule_k *)k;
    rule *r = rk->r;
    frame *fr = rk->fr;
    int st;
    if (r->kind == R_COMPLETE || r->kind == R_FUNC) {
        /* found is set by value_fn: a body that succeeds with an undefined value
         * falls through to the `else` (OPA moves the head value into the body) */
        value_kv vk = {{value_fn}, rk};
        return eval_term(e, fr, r->value, &vk.k);
    }
    rk->found = true;
    if (r->kind == R_SET && r->nstatic == r->nref) {
        value_kv vk = {{setkey_fn}, rk};
        return eval_term(e, fr, r->key, &vk.k);
    }
    if (r->kind == R_SET && r->nstatic == r->nref) {
        rv *v = eval_first(e, fr, r->key, &st);
        if (st < 0) return -1;
        if (!v) return 0;
        rv_set_add(rk->acc, v);
        e->mem += 48;
        return 0;
    }
    /* object (or set at a dynamic ref): keys from ref tail */
    int nk = r->nref - r->nstatic;
    rv *keys[16];
    if (nk > 16) return ev_error(e, "rego_compile_error", r->line, r->col, "rule head ref too deep");
    for (int i = 0; i < nk; i++) {
        keys[i] = eval_first(e, fr, r->ref[r->nstatic + i], &st);
        if (st < 0 || !keys[i]) {
            for (int j = 0; j < i; j++) rv_unref(keys[j]);
            return st < 0 ? -1 : 0;
        }
    }
    rv *leaf = eval_first(e, fr, r->kind == R_SET ? r->key : r->value, &st);
    int rc = st;
    if (leaf && st == 0) rc = set_path_insert(e, r, &rk->acc, keys, nk, leaf, r->kind == R_SET);
    rv_unref(leaf);
    for (int j = 0; j < nk; j++) rv_unref(keys[j]);
    e->mem += 64;
    return rc;
}

/* Evaluate one rule (and its else chain); args for functions. */
typedef struct {
    K k;
    frame *fr;
    term **args;
    rv **argv;
    int i, n;
    const K *next;
} args_k;
static int args_from(ev *e, frame *fr, term **args, rv **argv, int i, int n, const K *k);
static int args_next(ev *e, const K *k)
{
    const args_k *a = (const args_k *)k;
    return args_from(e, a->fr, a->args, a->argv, a->i + 1, a->n, a->next);
}
static int args_from(ev *e, frame *fr, term **args, rv **argv, int i, int n, const K *k)
{
    if (i >= n) return k->fn(e, k);
    args_k a = {{args_next}, fr, args, argv, i, n, k};
    return unify(e, fr, args[i], argv[i], &a.k);
}

typedef struct {
    K k;
    rule_k *rk;
    body *b;
} bodyrun_k;
static int bodyrun_fn(ev *e, const K *k)
{
    const bodyrun_k *b = (const bodyrun_k *)k;
    return eval_body(e, b->rk->fr, b->b, 0, &b->rk->k);
}

static int eval_one_rule(ev *e, rule *r0, rv **argv, rv **result, rv **acc)
{
    const char *saved_file = e->file;
    e->file = r0->file;
    for (rule *r = r0; r; r = r->els) {
        int ns = r->nslots;
        rv *slots_stack[32];
        rv **slots = ns <= 32 ? slots_stack : rego_xcalloc((size_t)ns, sizeof(rv *));
        if (ns <= 32) memset(slots_stack, 0, (size_t)ns * sizeof(rv *));
        frame fr = {slots, ns};
        rule_k rk = {{rule_solution}, &fr, r, result, acc ? *acc : NULL, false};
        int rc;
        if (r->kind == R_FUNC && r->nargs) {
            bodyrun_k b = {{bodyrun_fn}, &rk, r->body};
            rc = args_from(e, &fr, r->args, argv, 0, r->nargs, &b.k);
        } else rc = eval_body(e, &fr, r->body, 0, &rk.k);
        if (acc) *acc = rk.acc;
        if (slots != slots_stack) free(slots);
        if (rc < 0) return rc;
        if (rk.found) break;
    }
    e->file = saved_file;
    return 0;
}

static int eval_rule_value_opt(ev *e, rnode *n, rv **out, bool with_default)
{
    *out = NULL;
    if (!with_default && !n->nrules) return 0;
    if (e->busy[n->id]) {
        rule *r = n->nrules ? n->rules[0] : n->def;
        return ev_error(e, "rego_recursion_error", r->line, r->col, "rule %s is recursive", n->path);
    }
    if (++e->depth > 2000) {
        e->depth--;
        return ev_error(e, "eval_limit_error", 0, 0, "evaluation too deep");
    }
    e->busy[n->id] = 1;
    rule *first = n->nrules ? n->rules[0] : n->def;
    int rc = 0;
    rv *result = NULL, *acc = NULL;
    bool is_set = first->kind == R_SET && first->nstatic == first->nref;
    bool is_obj = !is_set && (first->kind == R_OBJECT || first->kind == R_SET);
    /* a complete rule first and an object rule later (`p = 1` and `p[0] = true`):
     * the node is an object all the same (found by fuzzing: acc was NULL) */
    for (int i = 1; i < n->nrules && !is_set && !is_obj; i++)
        is_obj =
            n->rules[i]->kind == R_OBJECT || (n->rules[i]->kind == R_SET && n->rules[i]->nstatic < n->rules[i]->nref);
    if (is_set) acc = rv_set_new((size_t)n->nrules); /* a hint: often one member per rule */
    else if (is_obj) acc = rv_object_new((size_t)n->nrules);
    for (int i = 0; i < n->nrules && rc == 0; i++) {
        rule *r = n->rules[i];
        if (r->kind == R_COMPLETE && (is_set || is_obj)) {
            /* complete rule mixed into an object node: merge later */
            rv *v = NULL;
            rc = eval_one_rule(e, r, NULL, &v, NULL);
            if (v && rc == 0) {
                bool conf = false;
                acc = deep_merge(acc, v, &conf);
                if (conf) rc = ev_error(e, "eval_conflict_error", r->line, r->col, "object keys must be unique");
            } else rv_unref(v);
            continue;
        }
        rc = eval_one_rule(e, r, NULL, &result, (is_set || is_obj) ? &acc : NULL);
    }
    if (rc == 0) {
        if (is_set || is_obj) {
            result = acc;
            acc = NULL;
        }
        if (!result && n->def && with_default) {
            frame fr = {NULL, 0};
            rv *slots[8] = {0};
            fr.s = slots;
            int st;
            result = eval_first(e, &fr, n->def->value, &st);
            if (st < 0) rc = -1;
        }
    }
    rv_unref(acc);
    e->busy[n->id] = 0;
    e->depth--;
    if (rc < 0) {
        rv_unref(result);
        return rc;
    }
    *out = result;
    return 0;
}

static int eval_func(ev *e, rnode *n, rv **argv, int argc, rv **out, int line, int col)
{
    *out = NULL;
    if (++e->depth > 2000) {
        e->depth--;
        return ev_error(e, "rego_recursion_error", line, col, "function %s is recursive", n->path);
    }
    rv *result = NULL;
    int rc = 0;
    for (int i = 0; i < n->nrules && rc == 0; i++) rc = eval_one_rule(e, n->rules[i], argv, &result, NULL);
    if (rc == 0 && !result && n->def) {
        rule *d = n->def;
        rv *slots_stack[32] = {0};
        rv **slots = d->nslots <= 32 ? slots_stack : rego_xcalloc((size_t)d->nslots, sizeof(rv *));
        frame fr = {slots, d->nslots};
        int st = 0;
        result = eval_first(e, &fr, d->value, &st);
        if (slots != slots_stack) free(slots);
        if (st < 0) rc = -1;
    }
    e->depth--;
    if (rc < 0) {
        rv_unref(result);
        return rc;
    }
    *out = result;
    return 0;
}

/* ------------------------------------------------------------ calls */
static bool type_ok(const char *types, const rv *v)
{
    if (!types || strcmp(types, "any") == 0) return true;
    const char *tn = rv_type_name(v);
    size_t tl = strlen(tn);
    const char *p = types;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if ((l == tl && strncmp(p, tn, l) == 0) || (l == 3 && strncmp(p, "any", 3) == 0)) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

static void type_desc(const char *types, char *buf, size_t len)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", types);
    char *parts[16];
    int n = 0;
    for (char *s = strtok(tmp, "|"); s && n < 16; s = strtok(NULL, "|")) parts[n++] = s;
    if (n == 1) {
        snprintf(buf, len, "%s", parts[0]);
        return;
    }
    size_t l = (size_t)snprintf(buf, len, "one of {");
    for (int i = 0; i < n; i++) l += (size_t)snprintf(buf + l, len - l, "%s%s", i ? ", " : "", parts[i]);
    snprintf(buf + l, len - l, "}");
}

static void print_sink_default(void *arg, const char *line) { (void)arg, (void)line; }

/* What a builtin's result adds to the memory estimate: its bytes for a string, a
 * slot per member for a collection (members are shared references). */
static size_t result_size(const rv *v)
{
    switch (rv_typeof(v)) {
    case RV_STRING: return rv_strlen(v);
    case RV_ARRAY:
    case RV_SET: return 16 + rv_len(v) * 16;
    case RV_OBJECT: return 16 + rv_len(v) * 32;
    default: return 0;
    }
}

static int call_builtin(ev *e, const rego_builtin_def *bi, term *t, rv **argv, int argc, rv **out)
{
    *out = NULL;
    bool masks = t->has_argmask && t->bi == bi;
    for (int i = 0; i < bi->nargs && i < 8; i++) {
        if (masks ? !(t->argmask[i] & (1u << rv_typeof(argv[i]))) : !type_ok(bi->arg_types[i], argv[i])) {
            /* OPA: an operand type error is an error only with strict builtin errors;
             * otherwise the call is undefined. */
            if (!e->strict) return 0;
            char d[200];
            type_desc(bi->arg_types[i], d, sizeof d);
            return ev_error(e, "eval_type_error", t->line, t->col, "%s: operand %d must be %s but got %s", bi->name,
                            i + 1, d, rv_type_name(argv[i]));
        }
    }
    rego_bctx ctx;
    ctx.msg[0] = 0;
    ctx.is_type_error = 0;
    ctx.now_ns = e->now_ns;
    ctx.cache = &e->bcache;
    ctx.print = e->opts && e->opts->print ? e->opts->print : print_sink_default;
    ctx.print_arg = e->opts ? e->opts->print_arg : NULL;
    ctx.name = bi->name;
    ctx.mem_left = !e->max_mem ? 0 : e->mem < e->max_mem ? e->max_mem - e->mem : 1;
    int r = bi->fn(&ctx, argv, out);
    if (r == REGO_OK) {
        if (*out) e->mem += result_size(*out);
        /* checked here too: a chain of rule values built on the way back up (no
         * expression, so no step, in between) must not outgrow the limit */
        if (e->max_mem && e->mem > e->max_mem) {
            rv_unref(*out);
            *out = NULL;
            return ev_error(e, "eval_limit_error", t->line, t->col, "evaluation exceeded the memory limit (%zu bytes)",
                            e->max_mem);
        }
        return *out ? 1 : 0;
    }
    if (ctx.is_type_error == 2) return ev_error(e, "eval_limit_error", t->line, t->col, "%s", ctx.msg);
    if (r == REGO_UNDEF) return 0;
    if (!e->strict) return 0; /* OPA: builtin errors make the call undefined */
    if (ctx.is_type_error) return ev_error(e, "eval_type_error", t->line, t->col, "%s", ctx.msg);
    return ev_error(e, "eval_builtin_error", t->line, t->col, "%s", ctx.msg);
}

/* ------------------------------------------------------------ fused loops */
/* `some v in coll` + a builtin test of v (optimize.c sets fuse_pos): the builtin is
 * called for each member directly; members that pass bind v and the body goes on
 * after the test. Same results, errors and step counts as the general path; only
 * used when no `with` mock is active (a mock could replace the builtin). */
typedef struct {
    KV k;
    frame *fr;
    body *b;
    int i;
    const K *next;
} fused_kv;
static int fused_coll(ev *e, const KV *k, rv *coll)
{
    const fused_kv *f = (const fused_kv *)k;
    frame *fr = f->fr;
    expr *x = f->b->exprs[f->i], *y = f->b->exprs[f->i + 1];
    term *t = y->a;
    int pos = x->fuse_pos - 1, slot = x->v->slot;
    rv_type ty = rv_typeof(coll);
    if (ty != RV_ARRAY && ty != RV_OBJECT && ty != RV_SET) return 0;
    size_t n = rv_len(coll);
    if (n == 0) return 0;
    rv *argv[8], *owned[8] = {0};
    int r = 0;
    for (int j = 0; j < t->n; j++) {
        if (j == pos) continue;
        term *a = t->items[j];
        if (a->kind == T_VAL) argv[j] = a->val;
        else if (a->kind == T_VAR) argv[j] = fr->s[a->slot];
        else {
            int st;
            argv[j] = owned[j] = eval_first(e, fr, a, &st);
            if (st < 0) r = -1;
        }
        if (r < 0 || !argv[j]) goto done; /* error, or an undefined operand: no solutions */
    }
    /* operands other than v checked once; then one type bit test per member */
    const rego_builtin_def *bi = t->bi;
    bool slow = false;
    for (int j = 0; j < t->n; j++)
        if (j != pos && !(t->argmask[j] & (1u << rv_typeof(argv[j])))) slow = true;
    rego_bctx ctx;
    ctx.now_ns = e->now_ns;
    ctx.cache = &e->bcache;
    ctx.print = e->opts && e->opts->print ? e->opts->print : print_sink_default;
    ctx.print_arg = e->opts ? e->opts->print_arg : NULL;
    ctx.name = bi->name;
    ctx.mem_left = !e->max_mem ? 0 : e->mem < e->max_mem ? e->max_mem - e->mem : 1;
    unsigned vmask = t->argmask[pos];
    /* limits never change during an evaluation; the direct call does call_builtin's
     * memory accounting itself (mem_left before, result size after) */
    bool limits = e->max_steps || e->max_mem, fast = !slow;
    rv_ref(coll);
    for (size_t m = 0; m < n && r == 0; m++) {
        rv *val = ty == RV_OBJECT ? rvi_val(coll, m) : rvi_item(coll, m);
        e->steps += 2; /* the `some` member and the call, as the general path counts them */
        if (limits && e->max_steps && e->steps > e->max_steps) {
            e->steps -= 2;
            if (step(e, x->line, x->col) || step(e, y->line, y->col)) {
                r = -1;
                break;
            }
        } else if (limits && e->max_mem && e->mem > e->max_mem && step(e, x->line, x->col)) {
            r = -1;
            break;
        }
        argv[pos] = val;
        rv *out = NULL;
        int c = -2;
        if (fast && (vmask & (1u << rvi_type(val)))) {
            ctx.msg[0] = 0;
            ctx.is_type_error = 0;
            if (e->max_mem) ctx.mem_left = e->mem < e->max_mem ? e->max_mem - e->mem : 1;
            int br = bi->fn(&ctx, argv, &out);
            if (br == REGO_OK) {
                c = out ? 1 : 0;
                if (out && rvi_type(out) >= RV_STRING) { /* as call_builtin accounts it */
                    e->mem += result_size(out);
                    if (e->max_mem && e->mem > e->max_mem) {
                        rvi_unref(out);
                        r = ev_error(e, "eval_limit_error", y->a->line, y->a->col,
                                     "evaluation exceeded the memory limit (%zu bytes)", e->max_mem);
                        break;
                    }
                }
            } else if (br == REGO_UNDEF) c = 0;
            else out = NULL; /* error: call_builtin below reports it the usual way */
        }
        if (c == -2) c = call_builtin(e, bi, t, argv, t->n, &out);
        if (c < 0) {
            r = -1;
            break;
        }
        bool pass = c > 0 && !rvi_is_false(out);
        rvi_unref(out);
        if (!pass) continue;
        fr->s[slot] = val; /* borrowed (see frame) */
        r = eval_body(e, fr, f->b, f->i + 2, f->next);
        fr->s[slot] = NULL;
    }
    rv_unref(coll);
done:
    for (int j = 0; j < t->n; j++) rv_unref(owned[j]);
    return r;
}

static int eval_fused(ev *e, frame *fr, body *b, int i, const K *k)
{
    expr *x = b->exprs[i];
    if (fr->s[x->v->slot]) { /* v already bound: the general path checks membership */
        body_k bk = {{body_next}, fr, b, i, k};
        return eval_expr(e, fr, x, &bk.k);
    }
    if (step(e, x->line, x->col)) return -1;
    fused_kv f = {{fused_coll}, fr, b, i, k};
    return eval_term(e, fr, x->coll, &f.k);
}

/* walk(x): yields [path, value] for every node */
static int walk_emit(ev *e, rv *path, rv *v, const KV *k)
{
    /* every node is a step and its path counts toward the memory estimate: a value
     * of shared subtrees (x1 := [x0, x0] ...) is exponentially large to walk */
    e->mem += 48 + 16 * rv_len(path);
    if (step(e, 0, 0)) return -1;
    rv *pair = rv_array_new(2);
    rv_array_push(pair, rv_ref(path));
    rv_array_push(pair, rv_ref(v));
    int r = k->fn(e, k, pair);
    rv_unref(pair);
    if (r) return r;
    rv_type ty = rv_typeof(v);
    if (ty != RV_ARRAY && ty != RV_OBJECT && ty != RV_SET) return 0;
    for (size_t i = 0; i < rv_len(v) && r == 0; i++) {
        rv *key, *child;
        rv *tmp = NULL;
        if (ty == RV_ARRAY) key = tmp = rv_int((int64_t)i), child = rv_array_at(v, i);
        else if (ty == RV_OBJECT) key = rv_object_key_at(v, i), child = rv_object_val_at(v, i);
        else key = child = rv_set_at(v, i);
        rv *np = rv_array_new(rv_len(path) + 1);
        for (size_t j = 0; j < rv_len(path); j++) rv_array_push(np, rv_ref(rv_array_at(path, j)));
        rv_array_push(np, rv_ref(key));
        r = walk_emit(e, np, child, k);
        rv_unref(np);
        rv_unref(tmp);
    }
    return r;
}

static mock *find_mock(ev *e, term *t)
{
    for (int i = e->nmocks - 1; i >= 0; i--) {
        mock *m = &e->mocks[i];
        if (m->off) continue;
        if (t->fn ? m->fn == t->fn : (m->name && strcmp(m->name, t->name) == 0)) return m;
    }
    return NULL;
}

static int invoke(ev *e, term *t, rv **argv, int argc, const KV *k);

static int invoke_named(ev *e, term *t, rnode *fn, const rego_builtin_def *bi, int special, rv **argv, int argc,
                        const KV *k)
{
    rv *out = NULL;
    /* compile checks call sites; a `with` mock can still route another arity here */
    if (!fn && rego_special_nargs(special) >= 0 && argc != rego_special_nargs(special))
        return ev_error(e, "rego_type_error", t->line, t->col, "%s: arity mismatch", t->name);
    if (fn) {
        int r = eval_func(e, fn, argv, argc, &out, t->line, t->col);
        if (r < 0) return r;
        if (!out) return 0;
        r = k->fn(e, k, out);
        rv_unref(out);
        return r;
    }
    switch (special) {
    case SP_PRINT: {
        size_t cap = 256, len = 0;
        char *line = rego_xmalloc(cap);
        line[0] = 0;
        for (int i = 0; i < argc; i++) {
            char *s = rv_typeof(argv[i]) == RV_STRING ? strdup(rv_str(argv[i])) : rv_to_rego_text(argv[i]);
            size_t sl = strlen(s);
            if (len + sl + 2 > cap) line = rego_xrealloc(line, cap = (len + sl + 2) * 2);
            if (i) line[len++] = ' ';
            memcpy(line + len, s, sl + 1);
            len += sl;
            free(s);
        }
        if (e->opts && e->opts->print) e->opts->print(e->opts->print_arg, line);
        free(line);
        return k->fn(e, k, rv_bool(true));
    }
    case SP_MEMBER2:
    case SP_MEMBER3: {
        rv *coll = argv[argc - 1];
        bool found = false;
        rv_type ty = rv_typeof(coll);
        if (special == SP_MEMBER2) {
            if (ty == RV_SET) found = rv_set_contains(coll, argv[0]);
            else if (rv_index_contains(coll, argv[0], &found)) {
                /* large array/object: hashed index attached to the collection */
            } else if (ty == RV_ARRAY || ty == RV_OBJECT)
                for (size_t i = 0; i < rv_len(coll) && !found; i++)
                    found = rv_equal(ty == RV_ARRAY ? rv_array_at(coll, i) : rv_object_val_at(coll, i), argv[0]);
        } else {
            rv *v = NULL;
            if (ty == RV_OBJECT) v = rv_object_get(coll, argv[0]);
            else if (ty == RV_ARRAY) v = lookup(coll, argv[0]);
            else if (ty == RV_SET) v = rv_set_contains(coll, argv[0]) ? argv[0] : NULL;
            found = v && rv_equal(v, argv[1]);
        }
        return k->fn(e, k, rv_bool(found));
    }
    case SP_WALK: {
        rv *root = rv_array_new(0);
        int r = walk_emit(e, root, argv[0], k);
        rv_unref(root);
        return r;
    }
    default: break;
    }
    if (!bi) return ev_error(e, "rego_type_error", t->line, t->col, "undefined function %s", t->name);
    if (argc != bi->nargs) return ev_error(e, "rego_type_error", t->line, t->col, "%s: arity mismatch", bi->name);
    int r = call_builtin(e, bi, t, argv, argc, &out);
    if (r <= 0) return r;
    r = k->fn(e, k, out);
    rv_unref(out);
    return r;
}

static int invoke(ev *e, term *t, rv **argv, int argc, const KV *k)
{
    if (e->nmocks) {
        mock *m = find_mock(e, t);
        if (m) {
            if (m->val) return k->fn(e, k, m->val);
            if (m->fnode) {
                /* OPA: no mock applies while a replacement function runs */
                int saved = e->nmocks;
                e->nmocks = 0;
                rv *out = NULL;
                int r = eval_func(e, m->fnode, argv, argc, &out, t->line, t->col);
                e->nmocks = saved;
                if (r < 0) return r;
                if (!out) return 0;
                r = k->fn(e, k, out);
                rv_unref(out);
                return r;
            }
            const rego_builtin_def *bi = m->fnode ? NULL : rego_builtin_find(m->fname);
            int sp = SP_NONE;
            if (!m->fnode && !bi) {
                if (strcmp(m->fname, "print") == 0) sp = SP_PRINT;
                else if (strcmp(m->fname, "walk") == 0) sp = SP_WALK;
            }
            return invoke_named(e, t, m->fnode, bi, sp, argv, argc, k);
        }
    }
    return invoke_named(e, t, t->fn, t->bi, t->special, argv, argc, k);
}

typedef struct {
    KV k;
    frame *fr;
    term *t;
    int i, argc;
    rv **argv;
    const KV *next;
} callargs_kv;
static int call_args_from(ev *e, frame *fr, term *t, int i, int argc, rv **argv, const KV *k);
static int callarg_fn(ev *e, const KV *k, rv *v)
{
    const callargs_kv *c = (const callargs_kv *)k;
    c->argv[c->i] = v;
    return call_args_from(e, c->fr, c->t, c->i + 1, c->argc, c->argv, c->next);
}
static int call_args_from(ev *e, frame *fr, term *t, int i, int argc, rv **argv, const KV *k)
{
    if (i >= argc) {
        /* re-read var args: one left unbound below was bound by a later ref arg */
        for (int j = 0; j < argc; j++) {
            term *a = t->items[j];
            if (a->kind == T_VAR && a->slot >= 0 && !(argv[j] = fr->s[a->slot])) return 0;
        }
        return invoke(e, t, argv, argc, k);
    }
    term *a = t->items[i];
    if (a->kind == T_VAL) {
        argv[i] = a->val;
        return call_args_from(e, fr, t, i + 1, argc, argv, k);
    }
    if (a->kind == T_VAR && a->slot >= 0) {
        /* unbound only when a later arg's ref binds it (`x == xs[x]`) */
        argv[i] = fr->s[a->slot];
        return call_args_from(e, fr, t, i + 1, argc, argv, k);
    }
    callargs_kv c = {{callarg_fn}, fr, t, i, argc, argv, k};
    return eval_term(e, fr, a, &c.k);
}

static int eval_call(ev *e, frame *fr, term *t, int argc, const KV *k)
{
    rv *argv[16];
    if (argc > 16) return ev_error(e, "rego_type_error", t->line, t->col, "too many arguments");
    if (argc < 0) argc = 0;
    return call_args_from(e, fr, t, 0, argc, argv, k);
}

/* ------------------------------------------------------------ eval_term */
typedef struct {
    KV k;
    frame *fr;
    term *t;
    const KV *next;
} head_kv;
static int head_fn(ev *e, const KV *k, rv *v)
{
    const head_kv *h = (const head_kv *)k;
    return walk_value(e, h->fr, h->t, 1, v, h->next);
}

/* ------------------------------------------------------------ single values */
static int eval_term_cps(ev *e, frame *fr, term *t, const KV *k);

/* First value through continuations (for what eval_sv does not do itself). */
static rv *eval_first_cps(ev *e, frame *fr, term *t, int *st) { return first_through(e, fr, t, st, eval_term_cps); }

/* Direct evaluation of a single-valued term (optimize.c sets t->sv): the value, or
 * NULL when undefined or on error (*st = -1). *owned says whether the caller must
 * release it; a value not owned is kept alive by the policy, the frame, the input or
 * data, or the evaluation's cache for as long as the caller's continuation runs.
 * Same results and errors as eval_term, in the same order, without a continuation
 * per operand. */
static rv *eval_sv(ev *e, frame *fr, term *t, int *st, bool *owned);
/* eval_sv with constants and bound variables (most operands) handled inline */
static inline rv *eval_svq(ev *e, frame *fr, term *t, int *st, bool *owned)
{
    if (t->kind == T_VAL) {
        *owned = false;
        return t->val;
    }
    if (t->kind == T_VAR && t->slot >= 0 && fr->s[t->slot]) {
        *owned = false;
        return fr->s[t->slot];
    }
    return eval_sv(e, fr, t, st, owned);
}

static rv *eval_sv(ev *e, frame *fr, term *t, int *st, bool *owned)
{
    *st = 0;
    *owned = false;
    switch (t->kind) {
    case T_VAL: return t->val;
    case T_VAR:
        if (t->slot >= 0 && fr->s[t->slot]) return fr->s[t->slot];
        if (t->slot >= 0) *st = ev_error(e, "rego_unsafe_var_error", t->line, t->col, "var %s is unsafe", t->name);
        return NULL;
    case T_REF: {
        rv *cur;
        int i = 1;
        if (t->root == ROOT_INPUT) cur = e->input;
        else if (t->root == ROOT_DATA) {
            if (!t->dnode || e->nshadow) break;
            rv *base = e->data;
            for (i = 1; i < t->nstatic && base; i++) base = lookup(base, t->items[i]->val);
            i = t->nstatic;
            rnode *n = t->dnode;
            if (i >= t->n || n->nrules || n->def) {
                rv *c = e->cache[n->id];
                if (!c) { /* computed once, then kept by the cache */
                    rv *v = node_full(e, n, base, st);
                    if (*st < 0) return NULL;
                    rv_unref(v);
                    c = e->cache[n->id];
                    if (!c) return NULL;
                }
                if (c == UNDEF_MARK) return NULL;
                cur = c;
            } else { /* below a node without rules and off the rule tree: base data */
                cur = base ? lookup(base, t->items[i]->val) : NULL;
                i++;
            }
        } else {
            term *h = t->items[0];
            if (!(h->kind == T_VAR && h->slot >= 0 && fr->s[h->slot])) break;
            cur = fr->s[h->slot];
        }
        for (; i < t->n && cur; i++) cur = lookup(cur, t->items[i]->val);
        return cur;
    }
    case T_OBJECT:
        if (t->korder[0]) { /* constant keys, order known: values in source order, then append */
            int np = t->n / 2;
            rv *vals[8];
            bool own[8];
            for (int i = 0; i < np; i++) {
                vals[i] = eval_svq(e, fr, t->items[2 * i + 1], st, &own[i]);
                if (!vals[i]) {
                    for (int j = 0; j < i; j++)
                        if (own[j]) rv_unref(vals[j]);
                    return NULL;
                }
            }
            rv *v = rv_object_new((size_t)np);
            for (int i = 0; i < np; i++) {
                int p = t->korder[i] - 1;
                rv_object_append_sorted(v, rv_ref(t->items[2 * p]->val), own[p] ? vals[p] : rv_ref(vals[p]));
            }
            e->mem += 32 * (size_t)t->n;
            *owned = true;
            return v;
        }
        /* fall through */
    case T_ARRAY:
    case T_SET: {
        size_t n = (size_t)t->n;
        rv *v = t->kind == T_ARRAY ? rv_array_new(n) : t->kind == T_SET ? rv_set_new(n) : rv_object_new(n / 2);
        rv *key = NULL;
        for (int i = 0; i < t->n; i++) {
            bool own;
            rv *x = eval_svq(e, fr, t->items[i], st, &own);
            if (!x) {
                rv_unref(key);
                rv_unref(v);
                return NULL;
            }
            if (!own) rv_ref(x);
            if (t->kind == T_ARRAY) rv_array_push(v, x);
            else if (t->kind == T_SET) rv_set_add(v, x);
            else if (i % 2 == 0) key = x;
            else {
                rv_object_set(v, key, x);
                key = NULL;
            }
        }
        e->mem += 32 * n;
        *owned = true;
        return v;
    }
    case T_CALL: {
        if (e->nmocks || t->special != SP_NONE || t->n > 16) break;
        int ar = rego_call_arity(t);
        if (t->n > ar) {
            *st = ev_error(e, "rego_type_error", t->line, t->col, "%s: too many arguments", t->name);
            return NULL;
        }
        rv *argv[16];
        bool own[16];
        int argc = 0, r = 0;
        rv *out = NULL;
        for (; argc < t->n; argc++) {
            argv[argc] = eval_svq(e, fr, t->items[argc], st, &own[argc]);
            if (!argv[argc]) goto call_done;
        }
        if (t->fn) {
            r = eval_func(e, t->fn, argv, argc, &out, t->line, t->col);
        } else if (argc != t->bi->nargs) {
            r = ev_error(e, "rego_type_error", t->line, t->col, "%s: arity mismatch", t->bi->name);
        } else {
            r = call_builtin(e, t->bi, t, argv, argc, &out);
        }
        if (r < 0) {
            *st = -1;
            rv_unref(out);
            out = NULL;
        }
    call_done:
        for (int j = 0; j < argc; j++)
            if (own[j]) rv_unref(argv[j]);
        *owned = out != NULL;
        return out;
    }
    default: break;
    }
    rv *v = eval_first_cps(e, fr, t, st);
    *owned = v != NULL;
    return v;
}

static int eval_term(ev *e, frame *fr, term *t, const KV *k)
{
    if (t->sv && (t->kind == T_CALL || t->kind == T_OBJECT || t->kind == T_ARRAY || t->kind == T_SET)) {
        int st;
        bool owned;
        rv *v = eval_sv(e, fr, t, &st, &owned);
        if (st < 0) return -1;
        if (!v) return 0;
        int r = k->fn(e, k, v);
        if (owned) rv_unref(v);
        return r;
    }
    return eval_term_cps(e, fr, t, k);
}

static int eval_term_cps(ev *e, frame *fr, term *t, const KV *k)
{
    switch (t->kind) {
    case T_VAL: return k->fn(e, k, t->val);
    case T_VAR:
        if (t->slot >= 0 && fr->s[t->slot]) return k->fn(e, k, fr->s[t->slot]);
        if (t->slot < 0) return 0;
        return ev_error(e, "rego_unsafe_var_error", t->line, t->col, "var %s is unsafe", t->name);
    case T_REF:
        switch (t->root) {
        case ROOT_INPUT:
            if (!e->input) return 0;
            return walk_value(e, fr, t, 1, e->input, k);
        case ROOT_DATA:
            if (t->dnode && !e->nshadow) {
                /* static prefix resolved at compile time (optimize.c); base data follows it */
                rv *base = e->data;
                for (int i = 1; i < t->nstatic && base; i++) base = lookup(base, t->items[i]->val);
                return eval_data(e, fr, t, t->nstatic, t->dnode, base, k);
            }
            return eval_data(e, fr, t, 1, e->pol->root, e->data, k);
        default: {
            term *h = t->items[0];
            if (h->kind == T_VAR && h->slot >= 0 && fr->s[h->slot]) return walk_value(e, fr, t, 1, fr->s[h->slot], k);
            head_kv hk = {{head_fn}, fr, t, k};
            return eval_term(e, fr, h, &hk.k);
        }
        }
    case T_ARRAY:
    case T_SET:
    case T_OBJECT: {
        if (t->n == 0) {
            rv *v = t->kind == T_ARRAY ? rv_array_new(0) : t->kind == T_SET ? rv_set_new(0) : rv_object_new(0);
            int r = k->fn(e, k, v);
            rv_unref(v);
            return r;
        }
        rv *stackacc[16];
        rv **acc = t->n <= 16 ? stackacc : rego_xmalloc((size_t)t->n * sizeof(rv *));
        int r = comp_from(e, fr, t, 0, acc, k);
        if (acc != stackacc) free(acc);
        return r;
    }
    case T_ACOMP:
    case T_SCOMP:
    case T_OCOMP: return eval_comprehension(e, fr, t, k);
    case T_CALL: {
        int ar = rego_call_arity(t);
        if (t->n > ar) return ev_error(e, "rego_type_error", t->line, t->col, "%s: too many arguments", t->name);
        return eval_call(e, fr, t, t->n, k);
    }
    }
    return 0;
}

/* ------------------------------------------------------------ expressions */
typedef struct {
    KV k;
    const K *next;
} truthy_kv;
static int truthy_fn(ev *e, const KV *k, rv *v)
{
    const truthy_kv *t = (const truthy_kv *)k;
    if (rv_typeof(v) == RV_BOOL && !rv_is_true(v)) return 0;
    return t->next->fn(e, t->next);
}

typedef struct {
    KV k;
    frame *fr;
    term *out;
    const K *next;
} callout_kv;
static int callout_fn(ev *e, const KV *k, rv *v)
{
    const callout_kv *c = (const callout_kv *)k;
    return unify(e, c->fr, c->out, v, c->next);
}

/* some-in / every iteration */
typedef struct {
    K k;
    frame *fr;
    expr *x;
    rv *val;
    const K *next;
} member_k;
static int member_val_fn(ev *e, const K *k)
{
    const member_k *m = (const member_k *)k;
    return unify(e, m->fr, m->x->v, m->val, m->next);
}
static int iterate_member(ev *e, frame *fr, expr *x, rv *key, rv *val, const K *k)
{
    if (step(e, x->line, x->col)) return -1;
    member_k m = {{member_val_fn}, fr, x, val, k};
    if (x->k) return unify(e, fr, x->k, key, &m.k);
    return member_val_fn(e, &m.k);
}
typedef struct {
    frame *fr;
    expr *x;
    const K *next;
} somein_member_arg;
static int somein_member(ev *e, void *arg, rv *key, rv *val)
{
    const somein_member_arg *a = arg;
    return iterate_member(e, a->fr, a->x, key, val, a->next);
}
static int iterate_members(ev *e, frame *fr, expr *x, rv *coll, const K *k)
{
    rv_type ty = rv_typeof(coll);
    if (ty != RV_ARRAY && ty != RV_OBJECT && ty != RV_SET) return 0;
    int r = 0;
    for (size_t i = 0; i < rv_len(coll) && r == 0; i++) {
        rv *key = NULL, *val, *tmp = NULL;
        if (ty == RV_ARRAY) {
            val = rv_array_at(coll, i);
            if (x->k) key = tmp = rv_int((int64_t)i); /* `some v in arr` needs no index value */
        } else if (ty == RV_OBJECT) key = rv_object_key_at(coll, i), val = rv_object_val_at(coll, i);
        else key = val = rv_set_at(coll, i);
        if (step(e, x->line, x->col)) {
            rv_unref(tmp);
            return -1;
        }
        member_k m = {{member_val_fn}, fr, x, val, k};
        if (x->k) r = unify(e, fr, x->k, key, &m.k);
        else r = member_val_fn(e, &m.k);
        rv_unref(tmp);
    }
    return r;
}

typedef struct {
    KV k;
    frame *fr;
    expr *x;
    const K *next;
} somein_kv;
static int somein_fn(ev *e, const KV *k, rv *coll)
{
    const somein_kv *s = (const somein_kv *)k;
    return iterate_members(e, s->fr, s->x, coll, s->next);
}

typedef struct {
    K k;
    frame *fr;
    expr *x;
} every_body_k;
static int every_elem_fn(ev *e, const K *k)
{
    const every_body_k *b = (const every_body_k *)k;
    int r = eval_body(e, b->fr, b->x->body, 0, &stop_k);
    if (r < 0) return r;
    return r == 1 ? 0 : 2; /* 2: an element failed */
}
static int every_fn(ev *e, const KV *k, rv *coll)
{
    const somein_kv *s = (const somein_kv *)k;
    rv_type ty = rv_typeof(coll);
    if (ty != RV_ARRAY && ty != RV_OBJECT && ty != RV_SET) return 0;
    every_body_k b = {{every_elem_fn}, s->fr, s->x};
    int r = iterate_members(e, s->fr, s->x, coll, &b.k);
    if (r < 0) return r;
    if (r == 2) return 0;
    return s->next->fn(e, s->next);
}

static int eval_expr_pos(ev *e, frame *fr, expr *x, const K *k)
{
    switch (x->kind) {
    case E_SOME_DECL: return k->fn(e, k);
    case E_UNIFY:
    case E_ASSIGN: return unify_terms(e, fr, x->a, x->b, k);
    case E_SOME_IN: {
        term *c = x->coll;
        if (c->kind == T_REF && c->root == ROOT_DATA && c->dnode && c->nstatic == c->n && !e->nshadow &&
            !c->dnode->nrules && !c->dnode->def && !c->dnode->is_func) {
            /* `some k, v in data.prefix` is data.prefix[k] = v in OPA: members as a ref enumerates them */
            rv *base = e->data;
            for (int i = 1; i < c->nstatic && base; i++) base = lookup(base, c->items[i]->val);
            somein_member_arg a = {fr, x, k};
            return node_members(e, c->dnode, base, somein_member, &a);
        }
        somein_kv s = {{somein_fn}, fr, x, k};
        return eval_term(e, fr, x->coll, &s.k);
    }
    case E_EVERY: {
        somein_kv s = {{every_fn}, fr, x, k};
        return eval_term(e, fr, x->coll, &s.k);
    }
    case E_NOT_BODY: return eval_body(e, fr, x->body, 0, k);
    case E_TERM: {
        term *t = x->a;
        if (t->kind == T_CALL) {
            int ar = rego_call_arity(t);
            if (t->n == ar + 1) {
                callout_kv c = {{callout_fn}, fr, t->items[ar], k};
                return eval_call(e, fr, t, ar, &c.k);
            }
        }
        truthy_kv tk = {{truthy_fn}, k};
        return eval_term(e, fr, t, &tk.k);
    }
    }
    return 0;
}

/* copy-on-write set of value at path (keys array) */
static rv *set_in(rv *base, rv **keys, int n, rv *val)
{
    if (n == 0) return rv_ref(val);
    rv *o;
    if (base && rv_typeof(base) == RV_OBJECT) {
        o = rv_object_new(rv_len(base) + 1);
        for (size_t i = 0; i < rv_len(base); i++)
            rv_object_set(o, rv_ref(rv_object_key_at(base, i)), rv_ref(rv_object_val_at(base, i)));
    } else o = rv_object_new(1);
    rv *old = base ? rv_object_get(base, keys[0]) : NULL;
    rv_object_set(o, rv_ref(keys[0]), set_in(old, keys + 1, n - 1, val));
    return o;
}

/* The state a `with` replaces. The modifiers apply to their expression only: the
 * continuation (the rest of the body) runs with the outer state put back. */
typedef struct {
    rv *input, *data;
    rv **cache;
    char *busy;
    rnode **shadow;
    int nshadow;
    mock *mocks;
    int nmocks;
} with_state;
static void with_save(const ev *e, with_state *s)
{
    s->input = e->input, s->data = e->data, s->cache = e->cache, s->busy = e->busy;
    s->shadow = e->shadow, s->nshadow = e->nshadow, s->mocks = e->mocks, s->nmocks = e->nmocks;
}
static void with_load(ev *e, const with_state *s)
{
    e->input = s->input, e->data = s->data, e->cache = s->cache, e->busy = s->busy;
    e->shadow = s->shadow, e->nshadow = s->nshadow, e->mocks = s->mocks, e->nmocks = s->nmocks;
}
typedef struct {
    K k;
    const K *next;
    with_state outer;
} with_k;
static int with_outer_fn(ev *e, const K *k)
{
    const with_k *w = (const with_k *)k;
    with_state inner;
    with_save(e, &inner);
    with_load(e, &w->outer);
    int r = w->next->fn(e, w->next);
    with_load(e, &inner);
    return r;
}

static int eval_expr_withs(ev *e, frame *fr, expr *x, const K *k)
{
    with_k wk = {{with_outer_fn}, k, {0}};
    with_save(e, &wk.outer);
    rv *saved_input = e->input, *saved_data = e->data;
    rv **saved_cache = e->cache;
    char *saved_busy = e->busy;
    int saved_nshadow = e->nshadow, saved_nmocks = e->nmocks;
    rnode **saved_shadow = e->shadow;
    mock *saved_mocks = e->mocks;
    rv *owned_input = NULL, *owned_data = NULL;
    rv **tmpvals = rego_xcalloc((size_t)x->nwith + 1, sizeof(rv *));
    int rc = 0;
    bool new_cache = false;
    e->shadow = rego_xmalloc(((size_t)e->nshadow + (size_t)x->nwith + 1) * sizeof(rnode *));
    if (e->nshadow) memcpy(e->shadow, saved_shadow, (size_t)e->nshadow * sizeof(rnode *));
    e->mocks = rego_xmalloc(((size_t)e->nmocks + (size_t)x->nwith + 1) * sizeof(mock));
    if (e->nmocks) memcpy(e->mocks, saved_mocks, (size_t)e->nmocks * sizeof(mock));
    for (int i = 0; i < x->nwith && rc == 0; i++) {
        with_mod *w = &x->withs[i];
        term *tg = w->target;
        if (tg->kind == T_CALL) {
            mock *m = &e->mocks[e->nmocks];
            memset(m, 0, sizeof *m);
            m->name = tg->name;
            m->fn = tg->fn;
            term *vt = w->value;
            if (vt->kind == T_FREF) {
                if (vt->fn) m->fnode = vt->fn;
                else m->fname = vt->name;
            } else if (vt->kind == T_REF && vt->root == ROOT_DATA) {
                /* replacement by a user function? */
                rnode *n = e->pol->root;
                for (int j = 1; j < vt->n && n; j++)
                    n = vt->items[j]->kind == T_VAL && rv_typeof(vt->items[j]->val) == RV_STRING
                            ? rego_node_child(n, rv_str(vt->items[j]->val))
                            : NULL;
                if (n && n->is_func) m->fnode = n;
            } else if (vt->kind == T_VAR && vt->slot >= 0 && !fr->s[vt->slot]) {
                m->fname = vt->name;
            } else if (vt->kind == T_REF && vt->root == ROOT_LOCAL && vt->items[0]->kind == T_VAR &&
                       vt->items[0]->slot >= 0 && !fr->s[vt->items[0]->slot]) {
                char buf[256];
                size_t l = (size_t)snprintf(buf, sizeof buf, "%s", vt->items[0]->name);
                for (int j = 1; j < vt->n && l < sizeof buf; j++)
                    if (vt->items[j]->kind == T_VAL && rv_typeof(vt->items[j]->val) == RV_STRING)
                        l += (size_t)snprintf(buf + l, sizeof buf - l, ".%s", rv_str(vt->items[j]->val));
                tmpvals[i] = rv_cstring(buf);
                m->fname = rv_str(tmpvals[i]);
            }
            if (!m->fnode && !m->fname) {
                int st;
                m->val = eval_first(e, fr, vt, &st);
                if (st < 0) {
                    rc = -1;
                    break;
                }
                if (!m->val) {
                    rc = 1; /* undefined value: expression undefined */
                    break;
                }
                rv_unref(tmpvals[i]);
                tmpvals[i] = m->val;
            }
            e->nmocks++;
            new_cache = true;
            continue;
        }
        int st;
        rv *val = eval_first(e, fr, w->value, &st);
        if (st < 0) {
            rc = -1;
            break;
        }
        if (!val) {
            rc = 1;
            break;
        }
        int np = tg->n - 1;
        rv *keys[32];
        if (np > 32) np = 32;
        bool ok = true;
        for (int j = 0; j < np; j++) {
            keys[j] = eval_first(e, fr, tg->items[j + 1], &st);
            if (!keys[j]) {
                for (int q = 0; q < j; q++) rv_unref(keys[q]);
                ok = false;
                break;
            }
        }
        if (!ok) {
            rv_unref(val);
            rc = 1;
            break;
        }
        if (tg->root == ROOT_INPUT) {
            rv *ni = set_in(e->input, keys, np, val);
            rv_unref(owned_input);
            owned_input = ni;
            e->input = ni;
        } else {
            rv *nd = set_in(e->data, keys, np, val);
            rv_unref(owned_data);
            owned_data = nd;
            e->data = nd;
            /* shadow the deepest virtual node on the path */
            /* shadow the virtual node the path names or passes through (a rule); a
             * path leaving the tree below a package keeps its sibling rules */
            rnode *n = e->pol->root, *deep = NULL;
            for (int j = 0; j < np && n; j++) {
                n = rv_typeof(keys[j]) == RV_STRING ? rego_node_child(n, rv_str(keys[j])) : NULL;
                deep = n;
                if (n && (n->nrules || n->def)) break;
            }
            if (deep) e->shadow[e->nshadow++] = deep;
            else if (np == 0) e->shadow[e->nshadow++] = e->pol->root;
        }
        for (int j = 0; j < np; j++) rv_unref(keys[j]);
        rv_unref(val);
        new_cache = true;
    }
    if (rc == 0) {
        if (new_cache) {
            e->cache = rego_xcalloc((size_t)e->pol->nnodes + 1, sizeof(rv *));
            e->busy = rego_xcalloc((size_t)e->pol->nnodes + 1, 1);
        }
        expr tmp = *x;
        tmp.nwith = 0;
        rc = eval_expr(e, fr, &tmp, &wk.k);
        if (new_cache) {
            for (int i = 0; i < e->pol->nnodes; i++)
                if (e->cache[i] != UNDEF_MARK) rv_unref(e->cache[i]);
            free(e->cache);
            free(e->busy);
        }
    } else if (rc == 1) rc = 0;
    e->cache = saved_cache;
    e->busy = saved_busy;
    e->input = saved_input;
    e->data = saved_data;
    free(e->shadow);
    e->shadow = saved_shadow;
    e->nshadow = saved_nshadow;
    free(e->mocks);
    e->mocks = saved_mocks;
    e->nmocks = saved_nmocks;
    rv_unref(owned_input);
    rv_unref(owned_data);
    for (int i = 0; i < x->nwith; i++) rv_unref(tmpvals[i]);
    free(tmpvals);
    return rc;
}

static int eval_expr(ev *e, frame *fr, expr *x, const K *k)
{
    if (step(e, x->line, x->col)) return -1;
    if (x->nwith) return eval_expr_withs(e, fr, x, k);
    if (x->neg) {
        expr pos = *x;
        pos.neg = 0;
        int r = eval_expr_pos(e, fr, &pos, &stop_k);
        if (r < 0) return r;
        if (r == 1) return 0;
        return k->fn(e, k);
    }
    return eval_expr_pos(e, fr, x, k);
}

/* ------------------------------------------------------------ queries */
typedef struct {
    K k;
    frame *fr;
    const rego_query *q;
    rv *rs;
} query_k;
static int query_solution(ev *e, const K *k)
{
    query_k *qk = (query_k *)k;
    rv *b = rv_object_new(4);
    for (int i = 0; i < qk->q->nslots; i++) {
        if (!qk->q->slot_keys[i] || !qk->fr->s[i]) continue;
        rv_object_set(b, rv_ref(qk->q->slot_keys[i]), rv_ref(qk->fr->s[i]));
    }
    rv_array_push(qk->rs, b);
    return 0;
}

/* After compiling a query body: optimisation and the result keys of its slots. */
static void query_finish(const rego_policy *pol, rego_query *q)
{
    rego_optimize_body(pol, &q->ar, q->body);
    q->slot_keys = ar_alloc(&q->ar, (size_t)(q->nslots + 1) * sizeof(rv *));
    for (int i = 0; i < q->nslots; i++) {
        const char *name = q->slot_names[i];
        if (name && name[0] != '_') q->slot_keys[i] = ar_keep(&q->ar, rv_cstring(name));
    }
}

/* The two steps of both prepare functions: parse the query into a new rego_query
 * (NULL with *err), and compile its (possibly rewritten) body (0, or -1 with *err). */
static rego_query *query_parse(const rego_policy *pol, const char *query, rego_error *err)
{
    memset(err, 0, sizeof *err);
    rego_query *q = rego_xcalloc(1, sizeof *q);
    if (!q) return NULL;
    q->pol = pol;
    parse_ctx pc = {.ar = &q->ar, .file = "query", .src = query, .len = strlen(query), .v1 = true, .err = err};
    q->body = rego_parse_query(&pc);
    if (!q->body) {
        rego_query_free(q);
        return NULL;
    }
    return q;
}

static int query_compile(const rego_policy *pol, rego_query *q, rego_error *err)
{
    if (rego_compile_body(pol, &q->ar, NULL, q->body, NULL, 0, NULL, 0, &q->nslots, &q->slot_names, err) < 0) return -1;
    query_finish(pol, q);
    return 0;
}

rego_query *rego_query_prepare(const rego_policy *pol, const char *query, rego_error *err)
{
    rego_error dummy;
    if (!err) err = &dummy;
    rego_query *q = query_parse(pol, query, err);
    if (q && query_compile(pol, q, err) < 0) {
        rego_query_free(q);
        return NULL;
    }
    return q;
}

/* opa eval's value capture (its rego.rewriteQueryToCaptureValue): every top-level
 * expression that is a term, or a call without an output argument, and is neither
 * negated nor `=`/`:=`, becomes `$N = term`; when the query has several expressions
 * or variables, `$N` must also be truthy (a lone `false` is a defined result). */
static bool term_has_vars(const term *t)
{
    if (!t) return false;
    if (t->kind == T_VAR) return true;
    if (t->body) return true;
    for (int i = 0; i < t->n; i++) {
        const term *u = t->items[i];
        if (i == 0 && t->kind == T_REF && u->kind == T_VAR && (!strcmp(u->name, "data") || !strcmp(u->name, "input")))
            continue; /* a root document, not a variable */
        if (term_has_vars(u)) return true;
    }
    return false;
}

rego_query *rego_query_prepare_capture(const rego_policy *pol, const char *query, rego_query_expr **exprs,
                                       size_t *nexprs, rego_error *err)
{
    rego_error dummy;
    if (!err) err = &dummy;
    *exprs = NULL;
    *nexprs = 0;
    rego_query *q = query_parse(pol, query, err);
    if (!q) return NULL;
    body *b = q->body;
    int n = b->n;
    bool check = n > 1;
    for (int i = 0; i < n && !check; i++)
        if (term_has_vars(b->exprs[i]->a) || term_has_vars(b->exprs[i]->b) || b->exprs[i]->kind != E_TERM) check = true;
    rego_query_expr *info = rego_xcalloc((size_t)(n ? n : 1), sizeof *info);
    expr **out = ar_alloc(&q->ar, (size_t)(2 * n + 1) * sizeof(expr *));
    int k = 0;
    for (int i = 0; i < n; i++) {
        expr *x = b->exprs[i];
        info[i].line = x->line;
        info[i].col = x->col;
        if (x->neg) { /* the parser places a negation after its `not` */
            size_t o = 0;
            for (int l = 1; query[o] && l < x->line; o++)
                if (query[o] == '\n') l++;
            o += x->col > 0 ? (size_t)x->col - 1 : 0;
            while (o > 0 && strchr(" \t\r\n", query[o - 1])) o--;
            if (o >= 3 && strncmp(query + o - 3, "not", 3) == 0) {
                o -= 3;
                int l = 1, col = 1;
                for (size_t j = 0; j < o; j++) {
                    if (query[j] == '\n') l++, col = 1;
                    else col++;
                }
                info[i].line = l;
                info[i].col = col;
            }
        }
        out[k++] = x;
        if (x->neg || x->kind != E_TERM) continue;
        term *t = x->a;
        if (t->kind == T_CALL) {
            const rego_builtin_def *d = rego_builtin_find(t->name);
            if (d && t->n > d->nargs) continue; /* has its output argument */
        }
        char name[24];
        int len = snprintf(name, sizeof name, "$%d", i);
        term *v = ar_alloc(&q->ar, sizeof(term));
        v->kind = T_VAR;
        v->name = ar_strndup(&q->ar, name, (size_t)len);
        v->slot = -1;
        v->line = x->line;
        v->col = x->col;
        x->kind = E_UNIFY; /* `term = $N`: an unsafe var of term is reported first */
        x->a = t;
        x->b = v;
        info[i].captured = true;
        if (check) {
            expr *c = ar_alloc(&q->ar, sizeof(expr));
            term *cv = ar_alloc(&q->ar, sizeof(term));
            *cv = *v;
            c->kind = E_TERM;
            c->a = cv;
            c->line = x->line;
            c->col = x->col;
            out[k++] = c;
        }
    }
    b->exprs = out;
    b->n = k;
    *exprs = info;
    *nexprs = (size_t)n;
    if (query_compile(pol, q, err) == 0) return q;
    free(*exprs);
    *exprs = NULL;
    *nexprs = 0;
    rego_query_free(q);
    return NULL;
}

void rego_query_free(rego_query *q)
{
    if (!q) return;
    ar_free(&q->ar);
    free(q);
}

/* OPA's path-conflict check, done when a policy is compiled against a store
 * (ast checkPathConflicts with storage.NonEmpty): a node with rules whose path the
 * base documents also hold, or that lies below a base value that is not an object,
 * is "conflicting rule for data path a/b/r found". Base documents are only known
 * here, so it runs per evaluation, walking the rule tree only where data has keys:
 * a few lookups. base is the document at n's path; scalar: a non-object was above. */
static const rnode *data_conflict(const rnode *n, const rv *base, bool scalar)
{
    if (n->nrules || n->def) return base || scalar ? n : NULL;
    if (!base && !scalar) return NULL;
    scalar = scalar || rv_typeof(base) != RV_OBJECT;
    for (int i = 0; i < n->nkids; i++) {
        const rnode *c = data_conflict(n->kids[i], scalar ? NULL : rv_object_get(base, n->kids[i]->key), scalar);
        if (c) return c;
    }
    return NULL;
}

static int check_data_conflicts(const rego_policy *pol, const rv *data, rego_error *err)
{
    if (!data || rv_typeof(data) != RV_OBJECT || rv_len(data) == 0) return 0;
    const rnode *c = NULL;
    for (int i = 0; i < pol->root->nkids && !c; i++)
        c = data_conflict(pol->root->kids[i], rv_object_get(data, pol->root->kids[i]->key), false);
    if (!c) return 0;
    const rnode *chain[256];
    int depth = 0;
    for (const rnode *p = c; p != pol->root && depth < 256; p = p->parent) chain[depth++] = p;
    rego_buf path = {0};
    while (depth--) {
        rego_buf_puts(&path, chain[depth]->name);
        if (depth) rego_buf_putc(&path, '/');
    }
    rego_set_error(err, "rego_compile_error", NULL, 0, 0, "conflicting rule for data path %s found", path.p);
    rego_buf_free(&path);
    return -1;
}

int rego_query_eval(const rego_query *q, rv *input, rv *data, const rego_options *opts, rv **result_set,
                    rego_error *err)
{
    rego_error dummy;
    if (!err) err = &dummy;
    /* cleared field by field: the struct is 1 KB and most evaluations succeed */
    err->code[0] = err->message[0] = err->file[0] = err->missing_function[0] = 0;
    err->line = err->col = 0;
    *result_set = NULL;
    if (check_data_conflicts(q->pol, data, err)) return -1;
    ev e = {0};
    e.pol = q->pol;
    e.input = input;
    e.data = data;
    e.opts = opts;
    e.err = err;
    e.file = "";
    e.strict = opts && opts->strict_builtin_errors;
    e.max_steps = opts ? opts->max_steps : 0;
    e.max_mem = opts ? opts->max_memory : 0;
    char stack_here;
    e.stack_base = (uintptr_t)&stack_here;
    if (opts && opts->now_ns) e.now_ns = opts->now_ns;
    else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        e.now_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    rv *cache_stack[64];
    char busy_stack[64];
    int nn = q->pol->nnodes;
    e.cache = nn <= 64 ? cache_stack : rego_xcalloc((size_t)nn, sizeof(rv *));
    e.busy = nn <= 64 ? busy_stack : rego_xcalloc((size_t)nn, 1);
    if (nn <= 64) {
        memset(cache_stack, 0, (size_t)nn * sizeof(rv *));
        memset(busy_stack, 0, (size_t)nn);
    }
    rv *slots_stack[32];
    rv **slots = q->nslots <= 32 ? slots_stack : rego_xcalloc((size_t)q->nslots, sizeof(rv *));
    if (slots == slots_stack) memset(slots_stack, 0, (size_t)q->nslots * sizeof(rv *));
    frame fr = {slots, q->nslots};
    /* values made by this evaluation stay on this thread until the result set is
     * handed out: plain reference counts for them (value.h, rv_local_begin) */
    rv_local_begin();
    query_k qk = {{query_solution}, &fr, q, rv_array_new(1)};
    int rc = eval_body(&e, &fr, q->body, 0, &qk.k);
    if (slots != slots_stack) free(slots);
    for (int i = 0; i < nn; i++)
        if (e.cache[i] && e.cache[i] != UNDEF_MARK) rv_unref(e.cache[i]);
    if (e.cache != cache_stack) free(e.cache);
    if (e.busy != busy_stack) free(e.busy);
    rv_unref(e.bcache);
    if (rc < 0) {
        if (!err->code[0]) rego_set_error(err, "eval_internal_error", NULL, 0, 0, "evaluation failed");
        rv_unref(qk.rs);
        rv_local_end();
        return -1;
    }
    rv_publish(qk.rs);
    rv_local_end();
    *result_set = qk.rs;
    return 0;
}

int rego_eval(const rego_policy *pol, const char *query, rv *input, rv *data, const rego_options *opts, rv **result_set,
              rego_error *err)
{
    rego_query *q = rego_query_prepare(pol, query, err);
    if (!q) return -1;
    int r = rego_query_eval(q, input, data, opts, result_set, err);
    rego_query_free(q);
    return r;
}

int rego_eval_json(const rego_policy *pol, const char *query, const char *input_json, rv *data,
                   const rego_options *opts, rv **result_set, rego_error *err)
{
    rv *input = NULL;
    if (input_json) {
        char eb[256];
        input = rv_from_json_text(input_json, strlen(input_json), eb, sizeof eb);
        if (!input) {
            if (err) {
                memset(err, 0, sizeof *err);
                rego_set_error(err, "invalid_input", NULL, 0, 0, "input is not valid JSON: %s", eb);
            }
            return -1;
        }
    }
    int r = rego_eval(pol, query, input, data, opts, result_set, err);
    rv_unref(input);
    return r;
}

json_t *rego_result_to_json(const rv *rs) { return rv_to_json(rs); }

rv *rego_parse_value(const char *text, rego_error *err)
{
    rego_error dummy;
    if (!err) err = &dummy;
    memset(err, 0, sizeof *err);
    arena ar = {0};
    parse_ctx pc = {.ar = &ar, .file = "term", .src = text, .len = strlen(text), .v1 = true, .err = err};
    term *t = rego_parse_term_text(&pc);
    rv *out = NULL;
    if (t) {
        /* evaluate with an empty policy: constants only */
        rego_policy pol = {0};
        rnode root = {.name = "data", .path = "data"};
        pol.root = &root;
        ev e = {0};
        e.pol = &pol;
        e.err = err;
        e.file = "term";
        rv *cache[1] = {0};
        char busy[1] = {0};
        e.cache = cache;
        e.busy = busy;
        frame fr = {NULL, 0};
        int st;
        /* vars in a value term are not allowed: they have slot -1 and evaluate undefined */
        out = eval_first(&e, &fr, t, &st);
        if (!out && !err->code[0]) rego_set_error(err, "rego_parse_error", "term", 1, 1, "term is not a value");
    }
    ar_free(&ar);
    return out;
}
