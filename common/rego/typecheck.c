/* Compile-time type check (the part of OPA's ast/check.go that rejects `=`/`==`
 * between terms whose types can never unify: rego_type_error "match error").
 *
 * Runs once per policy after compilation (rego_typecheck_policy, from compile.c),
 * never during evaluation. The overriding rule is never to reject a policy OPA
 * accepts, so every type here is an over-approximation of OPA's: whatever is not
 * understood is `any`, which unifies with everything.
 *
 * Types: any, null, boolean, number, string, array (static element types and/or a
 * dynamic element type), object (static string keys and/or a dynamic value type),
 * set (element type), and unions. Sources of types:
 *   - constants and composite literals (an empty array/object/set is of `any`
 *     elements, as in OPA);
 *   - vars: typed at their first binding by `x := t` / `x = t` (and element-wise
 *     for arrays of equal length) or as the value var of `some v in coll` (the
 *     union of coll's values); a var first bound any other way is `any`, as are
 *     function arguments, `some k` keys and `every` vars;
 *   - builtin calls: a small table of result types (bi_results, others `any`);
 *     user function calls: the union of the function's head values;
 *   - refs: input and base documents are `any`; a data ref reaching a rule node
 *     of plain complete rules (incl. default and else values), functions,
 *     partial set rules or `o[k]` partial object rules gets the union of their
 *     head types; refs continue into typed values by constant keys (a missing
 *     key is `any`: OPA's "undefined ref" is not modelled) or by var keys (any of
 *     the values); a node with children (ref-head subtree, package) is `any`;
 *   - comprehensions: array/set/object of their head's type in the closure's scope
 *     (comprehension bodies are checked in a copy of the enclosing var types).
 * Checked: every `=`, `:=` and top-level `a == b` (OPA rewrites it to `=`, negated
 * or not) of rule bodies (else bodies included) and comprehension bodies in them.
 * `every` and `not { }` bodies are not checked (OPA 1.19 does not report there).
 * `some .. in c` with c of a scalar type (e.g. a comparison's result) is an error as
 * in OPA: "match error" for a constant c, else "undefined ref" (OPA's rewritten
 * `__localN__[v]`; the message names the collection instead).
 * Unification follows OPA's types.unifies: arrays by position both ways (a missing
 * position on one side fails unless it has a dynamic part), objects by static key
 * both ways, then dynamic parts; sets by element; a union unifies if one member does.
 * Builtin operands (bi_sigs, ~35 common builtins) are checked the same way against
 * OPA's declared types: "<name>: invalid argument(s)" followed by OPA's have/want
 * lines. Only the first error is reported; rule types are inferred on demand
 * (quietly, memoised per rule node) and errors come from the pass in source order.
 *
 * Memory: types are malloc'd into a list owned by the checker and freed at its end.
 */
#include <stdlib.h>
#include <string.h>

#include "rego/alloc.h"
#include "rego/rego_int.h"

typedef enum { TY_ANY, TY_NULL, TY_BOOL, TY_NUM, TY_STR, TY_ARRAY, TY_OBJECT, TY_SET, TY_UNION } ty_kind;

typedef struct ty ty;
struct ty {
    ty_kind k;
    int n;             /* array: static elems; object: static keys; union: members */
    ty **elems;        /* array static / object values / union members */
    const char **keys; /* object static keys (sorted, distinct) */
    ty *dyn;           /* array dynamic elem, object dynamic value, set elem; NULL = none */
    ty *next_alloc;
};

typedef struct {
    const rego_policy *pol;
    rego_error *err;
    ty *allocs;
    bool failed;
    bool quiet; /* inferring a rule's type: no error reported */
    ty **slots; /* current rule: NULL = not yet bound */
    int nslots;
    uint8_t *node_state; /* by rnode id: 0 new, 1 computing, 2 done */
    ty **node_type;
    const char *file; /* of the rule being checked */
    const term *top;  /* the call that is a whole expression (no output operand) */
    const expr *top_expr;
    ty any;
} tcx;

static ty *ty_new(tcx *c, ty_kind k)
{
    ty *t = rego_xcalloc(1, sizeof *t);
    if (!t) return &c->any;
    t->k = k;
    t->next_alloc = c->allocs;
    c->allocs = t;
    return t;
}

static ty *ty_prim(tcx *c, ty_kind k) { return ty_new(c, k); }

static ty *ty_arr_dyn(tcx *c, ty *elem)
{
    ty *t = ty_new(c, TY_ARRAY);
    t->dyn = elem;
    return t;
}

static ty *ty_set(tcx *c, ty *elem)
{
    ty *t = ty_new(c, TY_SET);
    t->dyn = elem;
    return t;
}

static void ty_hold(tcx *c, ty *owner, size_t n, bool keys)
{
    /* arrays hung on a type are freed with it: kept in a helper alloc list */
    owner->elems = rego_xcalloc(n ? n : 1, sizeof(ty *));
    if (keys) owner->keys = rego_xcalloc(n ? n : 1, sizeof(char *));
    if (!owner->elems || (keys && !owner->keys)) {
        c->failed = true; /* out of memory: stop checking, accept */
        owner->k = TY_ANY;
    }
}

/* Or(a, b): a union of both (any absorbs everything). */
static ty *ty_or(tcx *c, ty *a, ty *b)
{
    if (!a) return b;
    if (!b) return a;
    if (a->k == TY_ANY || b->k == TY_ANY) return &c->any;
    int na = a->k == TY_UNION ? a->n : 1, nb = b->k == TY_UNION ? b->n : 1;
    ty *u = ty_new(c, TY_UNION);
    if (u->k != TY_UNION) return &c->any;
    ty_hold(c, u, (size_t)(na + nb), false);
    if (u->k != TY_UNION) return &c->any;
    for (int i = 0; i < na; i++) u->elems[u->n++] = a->k == TY_UNION ? a->elems[i] : a;
    for (int i = 0; i < nb; i++) u->elems[u->n++] = b->k == TY_UNION ? b->elems[i] : b;
    return u;
}

static ty *obj_select(const ty *o, const char *key)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0) return o->elems[i];
    return o->dyn;
}

static bool unifies(const ty *a, const ty *b);

static bool unifies_union(const ty *u, const ty *b)
{
    for (int i = 0; i < u->n; i++)
        if (unifies(u->elems[i], b)) return true;
    return u->n == 0;
}

static bool unifies(const ty *a, const ty *b)
{
    if (!a || !b) return false;
    if (a->k == TY_ANY || b->k == TY_ANY) return true;
    if (a->k == TY_UNION || b->k == TY_UNION) {
        if (a->k == TY_UNION && unifies_union(a, b)) return true;
        if (b->k == TY_UNION && unifies_union(b, a)) return true;
        return false;
    }
    if (a->k != b->k) return false;
    switch (a->k) {
    case TY_ARRAY:
        for (int i = 0; i < a->n; i++)
            if (!unifies(a->elems[i], i < b->n ? b->elems[i] : b->dyn)) return false;
        for (int i = 0; i < b->n; i++)
            if (!unifies(b->elems[i], i < a->n ? a->elems[i] : a->dyn)) return false;
        return !a->dyn || !b->dyn || unifies(a->dyn, b->dyn);
    case TY_OBJECT:
        for (int i = 0; i < a->n; i++)
            if (!unifies(a->elems[i], obj_select(b, a->keys[i]))) return false;
        for (int i = 0; i < b->n; i++)
            if (!unifies(b->elems[i], obj_select(a, b->keys[i]))) return false;
        return !a->dyn || !b->dyn || unifies(a->dyn, b->dyn);
    case TY_SET: return unifies(a->dyn, b->dyn);
    default: return true;
    }
}

/* ------------------------------------------------------------ types of terms */
static ty *ty_of_value(tcx *c, const rv *v)
{
    switch (rv_typeof(v)) {
    case RV_NULL: return ty_prim(c, TY_NULL);
    case RV_BOOL: return ty_prim(c, TY_BOOL);
    case RV_NUMBER: return ty_prim(c, TY_NUM);
    case RV_STRING: return ty_prim(c, TY_STR);
    case RV_ARRAY: {
        size_t n = rv_len(v);
        ty *t = ty_new(c, TY_ARRAY);
        if (n == 0) {
            t->dyn = &c->any;
            return t;
        }
        ty_hold(c, t, n, false);
        if (t->k != TY_ARRAY) return t;
        for (size_t i = 0; i < n; i++) t->elems[t->n++] = ty_of_value(c, rv_array_at(v, i));
        return t;
    }
    case RV_SET: {
        ty *e = NULL;
        for (size_t i = 0; i < rv_len(v); i++) e = ty_or(c, e, ty_of_value(c, rv_set_at(v, i)));
        return ty_set(c, e ? e : &c->any);
    }
    case RV_OBJECT: {
        size_t n = rv_len(v);
        ty *t = ty_new(c, TY_OBJECT);
        if (n == 0) {
            t->dyn = &c->any;
            return t;
        }
        for (size_t i = 0; i < n; i++)
            if (rv_typeof(rv_object_key_at(v, i)) != RV_STRING) return &c->any; /* non-string keys: not modelled */
        ty_hold(c, t, n, true);
        if (t->k != TY_OBJECT) return t;
        for (size_t i = 0; i < n; i++) {
            t->keys[t->n] = rv_str(rv_object_key_at(v, i));
            t->elems[t->n++] = ty_of_value(c, rv_object_val_at(v, i));
        }
        return t;
    }
    }
    return &c->any;
}

static void check_body(tcx *c, body *b);
static ty *node_type(tcx *c, const rnode *n);
static ty *ty_of(tcx *c, term *t);

static bool fresh_var(tcx *c, const term *t)
{
    return t->kind == T_VAR && !t->wildcard && t->slot >= 0 && t->slot < c->nslots && !c->slots[t->slot];
}

/* ------------------------------------------------------------ builtin arguments */
/* OPA's text of a type (types.Type.String()). */
static int kind_rank(const ty *t) { return (int)t->k; }

static void ty_text(const ty *t, char *buf, size_t cap);
static void ty_cat(char *buf, size_t cap, const char *s)
{
    size_t l = strlen(buf);
    if (l + 1 < cap) snprintf(buf + l, cap - l, "%s", s);
}

static void ty_text(const ty *t, char *buf, size_t cap)
{
    char sub[256];
    switch (t->k) {
    case TY_ANY: ty_cat(buf, cap, "any"); return;
    case TY_NULL: ty_cat(buf, cap, "null"); return;
    case TY_BOOL: ty_cat(buf, cap, "boolean"); return;
    case TY_NUM: ty_cat(buf, cap, "number"); return;
    case TY_STR: ty_cat(buf, cap, "string"); return;
    case TY_UNION: {
        /* members in OPA's type order, equal primitives once */
        const ty *m[32];
        int n = 0;
        for (int i = 0; i < t->n && n < 32; i++) {
            bool dup = false;
            for (int j = 0; j < n; j++)
                if (m[j]->k == t->elems[i]->k && t->elems[i]->k <= TY_STR) dup = true;
            if (!dup) m[n++] = t->elems[i];
        }
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && kind_rank(m[j - 1]) > kind_rank(m[j]); j--) {
                const ty *x = m[j];
                m[j] = m[j - 1];
                m[j - 1] = x;
            }
        if (n == 1) {
            ty_text(m[0], buf, cap);
            return;
        }
        ty_cat(buf, cap, "any<");
        for (int i = 0; i < n; i++) {
            if (i) ty_cat(buf, cap, ", ");
            ty_text(m[i], buf, cap);
        }
        ty_cat(buf, cap, ">");
        return;
    }
    case TY_ARRAY:
        ty_cat(buf, cap, "array");
        if (t->n) {
            ty_cat(buf, cap, "<");
            for (int i = 0; i < t->n; i++) {
                if (i) ty_cat(buf, cap, ", ");
                ty_text(t->elems[i], buf, cap);
            }
            ty_cat(buf, cap, ">");
        }
        if (t->dyn) {
            sub[0] = 0;
            ty_text(t->dyn, sub, sizeof sub);
            ty_cat(buf, cap, "[");
            ty_cat(buf, cap, sub);
            ty_cat(buf, cap, "]");
        }
        return;
    case TY_OBJECT:
        ty_cat(buf, cap, "object");
        if (t->n) {
            /* static keys sorted */
            int order[64];
            int n = t->n < 64 ? t->n : 64;
            for (int i = 0; i < n; i++) order[i] = i;
            for (int i = 1; i < n; i++)
                for (int j = i; j > 0 && strcmp(t->keys[order[j - 1]], t->keys[order[j]]) > 0; j--) {
                    int x = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = x;
                }
            ty_cat(buf, cap, "<");
            for (int i = 0; i < n; i++) {
                if (i) ty_cat(buf, cap, ", ");
                ty_cat(buf, cap, t->keys[order[i]]);
                ty_cat(buf, cap, ": ");
                ty_text(t->elems[order[i]], buf, cap);
            }
            ty_cat(buf, cap, ">");
        }
        if (t->dyn) {
            ty_cat(buf, cap, "[any: ");
            ty_text(t->dyn, buf, cap);
            ty_cat(buf, cap, "]");
        }
        return;
    case TY_SET:
        ty_cat(buf, cap, "set[");
        ty_text(t->dyn ? t->dyn : &(ty){.k = TY_ANY}, buf, cap);
        ty_cat(buf, cap, "]");
        return;
    }
}

/* Declared operand types of some builtins, as OPA 1.19 declares them, in a small
 * notation: s string, n number, b boolean, A any, a<X> array of X, S<X> set of X,
 * o object[any: any], u<X..> union. `want` is OPA's text of the signature. */
static const struct {
    const char *name;
    int nargs;
    const char *args;
    const char *want;
} bi_sigs[] = {
    {"count", 1, "u<s a<A> o S<A>>", "(collection: any<string, array[any], object[any: any], set[any]>, n: number)"},
    {"lower", 1, "s", "(x: string, y: string)"},
    {"upper", 1, "s", "(x: string, y: string)"},
    {"trim_space", 1, "s", "(value: string, output: string)"},
    {"concat", 2, "s u<a<s> S<s>>", "(delimiter: string, collection: any<array[string], set[string]>, output: string)"},
    {"startswith", 2, "s s", "(search: string, base: string, result: boolean)"},
    {"endswith", 2, "s s", "(search: string, base: string, result: boolean)"},
    {"contains", 2, "s s", "(haystack: string, needle: string, result: boolean)"},
    {"sprintf", 2, "s a<A>", "(format: string, values: array[any], output: string)"},
    {"abs", 1, "n", "(x: number, y: number)"},
    {"ceil", 1, "n", "(x: number, y: number)"},
    {"floor", 1, "n", "(x: number, y: number)"},
    {"round", 1, "n", "(x: number, y: number)"},
    {"split", 2, "s s", "(x: string, delimiter: string, ys: array[string])"},
    {"replace", 3, "s s s", "(x: string, old: string, new: string, y: string)"},
    {"substring", 3, "s n n", "(value: string, offset: number, length: number, output: string)"},
    {"indexof", 2, "s s", "(haystack: string, needle: string, output: number)"},
    {"trim", 2, "s s", "(value: string, cutset: string, output: string)"},
    {"trim_left", 2, "s s", "(value: string, cutset: string, output: string)"},
    {"trim_right", 2, "s s", "(value: string, cutset: string, output: string)"},
    {"trim_prefix", 2, "s s", "(value: string, prefix: string, output: string)"},
    {"trim_suffix", 2, "s s", "(value: string, suffix: string, output: string)"},
    {"regex.match", 2, "s s", "(pattern: string, value: string, result: boolean)"},
    {"sum", 1, "u<a<n> S<n>>", "(collection: any<array[number], set[number]>, n: number)"},
    {"product", 1, "u<a<n> S<n>>", "(collection: any<array[number], set[number]>, n: number)"},
    {"max", 1, "u<a<A> S<A>>", "(collection: any<array[any], set[any]>, n: any)"},
    {"min", 1, "u<a<A> S<A>>", "(collection: any<array[any], set[any]>, n: any)"},
    {"sort", 1, "u<a<A> S<A>>", "(collection: any<array[any], set[any]>, n: array[any])"},
    {"plus", 2, "n n", "(x: number, y: number, z: number)"},
    {"mul", 2, "n n", "(x: number, y: number, z: number)"},
    {"div", 2, "n n", "(x: number, y: number, z: number)"},
    {"rem", 2, "n n", "(x: number, y: number, z: number)"},
    {"minus", 2, "u<n S<A>> u<n S<A>>",
     "(x: any<number, set[any]>, y: any<number, set[any]>, z: any<number, set[any]>)"},
    {"format_int", 2, "n n", "(number: number, base: number, output: string)"},
};

static ty *sig_parse(tcx *c, const char **p)
{
    while (**p == ' ') (*p)++;
    char k = *(*p)++;
    switch (k) {
    case 's': return ty_prim(c, TY_STR);
    case 'n': return ty_prim(c, TY_NUM);
    case 'b': return ty_prim(c, TY_BOOL);
    case 'o': {
        ty *t = ty_new(c, TY_OBJECT);
        t->dyn = &c->any;
        return t;
    }
    case 'a':
    case 'S':
    case 'u': {
        (*p)++; /* '<' */
        ty *t = NULL;
        ty *u = NULL;
        while (**p && **p != '>') {
            ty *e = sig_parse(c, p);
            if (k == 'u') u = ty_or(c, u, e);
            else t = e;
            while (**p == ' ') (*p)++;
        }
        if (**p) (*p)++;
        if (k == 'u') return u ? u : &c->any;
        return k == 'a' ? ty_arr_dyn(c, t) : ty_set(c, t);
    }
    default: return &c->any;
    }
}

/* OPA's builtin operand check (unify1 of each operand with its declared type). */
static void check_call_args(tcx *c, const term *t, ty **at, int n)
{
    if (c->quiet || c->failed || t->fn || !t->bi || !t->name) return;
    for (size_t i = 0; i < sizeof bi_sigs / sizeof bi_sigs[0]; i++) {
        if (strcmp(bi_sigs[i].name, t->name) != 0) continue;
        if (n < bi_sigs[i].nargs) return;
        const char *p = bi_sigs[i].args;
        bool ok = true;
        for (int k = 0; k < bi_sigs[i].nargs; k++)
            if (!unifies(at[k], sig_parse(c, &p))) ok = false;
        if (ok) return;
        char have[400] = "";
        for (int k = 0; k < n; k++) {
            if (k) ty_cat(have, sizeof have, ", ");
            const term *a = t->items[k];
            if (a->kind == T_VAR && (a->wildcard || fresh_var(c, a))) ty_cat(have, sizeof have, "???");
            else ty_text(at[k], have, sizeof have);
        }
        if (t != c->top && n == bi_sigs[i].nargs) ty_cat(have, sizeof have, ", ???");
        /* position: the expression's for a whole-expression call, else the call's
         * first character (an infix call's is its left operand's) */
        int line = t->line, col = t->col;
        if (t == c->top && c->top_expr) {
            line = c->top_expr->line;
            col = c->top_expr->col;
        } else {
            const term *l = t;
            while (l->kind == T_CALL && l->n > 0 &&
                   (l->items[0]->line < l->line || (l->items[0]->line == l->line && l->items[0]->col < l->col))) {
                l = l->items[0];
                line = l->line;
                col = l->col;
            }
        }
        c->failed = true;
        rego_set_error(c->err, "rego_type_error", c->file, line, col,
                       "%s: invalid argument(s)\n\thave: (%s)\n\twant: %s", t->name, have, bi_sigs[i].want);
        return;
    }
}

/* Result types of builtins (OPA's declarations); anything not listed is any. */
static const struct {
    const char *name;
    ty_kind k;
} bi_results[] = {
    {"abs", TY_NUM},
    {"ceil", TY_NUM},
    {"concat", TY_STR},
    {"contains", TY_BOOL},
    {"count", TY_NUM},
    {"div", TY_NUM},
    {"endswith", TY_BOOL},
    {"equal", TY_BOOL},
    {"floor", TY_NUM},
    {"format_int", TY_STR},
    {"glob.match", TY_BOOL},
    {"gt", TY_BOOL},
    {"gte", TY_BOOL},
    {"indexof", TY_NUM},
    {"internal.member_2", TY_BOOL},
    {"internal.member_3", TY_BOOL},
    {"is_array", TY_BOOL},
    {"is_boolean", TY_BOOL},
    {"is_null", TY_BOOL},
    {"is_number", TY_BOOL},
    {"is_object", TY_BOOL},
    {"is_set", TY_BOOL},
    {"is_string", TY_BOOL},
    {"lower", TY_STR},
    {"lt", TY_BOOL},
    {"lte", TY_BOOL},
    {"mul", TY_NUM},
    {"neq", TY_BOOL},
    {"plus", TY_NUM},
    {"regex.match", TY_BOOL},
    {"rem", TY_NUM},
    {"replace", TY_STR},
    {"round", TY_NUM},
    {"sprintf", TY_STR},
    {"startswith", TY_BOOL},
    {"substring", TY_STR},
    {"trim", TY_STR},
    {"trim_left", TY_STR},
    {"trim_prefix", TY_STR},
    {"trim_right", TY_STR},
    {"trim_space", TY_STR},
    {"trim_suffix", TY_STR},
    {"type_name", TY_STR},
    {"upper", TY_STR},
    {"bits.and", TY_NUM},
    {"bits.or", TY_NUM},
    {"bits.xor", TY_NUM},
    {"bits.negate", TY_NUM},
    {"net.cidr_contains", TY_BOOL},
    {"net.cidr_intersects", TY_BOOL},
    {"bits.lsh", TY_NUM},
    {"bits.rsh", TY_NUM},
    /* TY_ARRAY entries: array of any (dynamic) */
    {"sort", TY_ARRAY},
    {"array.concat", TY_ARRAY},
    {"array.slice", TY_ARRAY},
    {"array.reverse", TY_ARRAY},
};

static ty *call_type(tcx *c, const term *t)
{
    if (t->fn) return node_type(c, t->fn);
    if (!t->bi || !t->name) return &c->any;
    if (strcmp(t->name, "minus") == 0) return ty_or(c, ty_prim(c, TY_NUM), ty_set(c, &c->any));
    if (strcmp(t->name, "and") == 0 || strcmp(t->name, "or") == 0) return ty_set(c, &c->any);
    for (size_t i = 0; i < sizeof bi_results / sizeof bi_results[0]; i++) {
        if (strcmp(bi_results[i].name, t->name) != 0) continue;
        if (bi_results[i].name[0] == 'i' && strncmp(t->name, "internal.member_", 16) == 0 &&
            t->n != (t->name[16] == '2' ? 2 : 3))
            return &c->any;
        if (bi_results[i].k == TY_ARRAY) return ty_arr_dyn(c, &c->any);
        return ty_prim(c, bi_results[i].k);
    }
    return &c->any;
}

/* The type of v[key] for a constant key; NULL when not known (then `any`). */
static ty *ty_values(tcx *c, ty *v)
{
    if (v->k == TY_SET) return v->dyn;
    if (v->k != TY_ARRAY && v->k != TY_OBJECT) return NULL;
    ty *r = v->dyn;
    for (int i = 0; i < v->n; i++) r = ty_or(c, r, v->elems[i]);
    return r;
}

static ty *ty_select(tcx *c, ty *v, const term *key)
{
    if (!v) return NULL;
    if (key->kind != T_VAL) {
        /* x[i]: any of its values, unless i's type cannot be a key of x (OPA then
         * reports "undefined ref", which is not modelled) */
        if (key->kind == T_VAR && key->slot >= 0 && key->slot < c->nslots && c->slots[key->slot]) {
            ty kt = {.k = v->k == TY_ARRAY ? TY_NUM : TY_STR};
            if (v->k == TY_SET ? !unifies(c->slots[key->slot], v->dyn)
                               : (v->k != TY_OBJECT || !v->dyn) && !unifies(c->slots[key->slot], &kt))
                return NULL;
        } else if (key->kind != T_VAR) {
            return NULL;
        }
        return ty_values(c, v);
    }
    switch (v->k) {
    case TY_ARRAY: {
        int64_t i;
        if (rv_typeof(key->val) != RV_NUMBER || !rv_number_as_int64(key->val, &i) || i < 0) return NULL;
        return i < v->n ? v->elems[i] : v->dyn;
    }
    case TY_OBJECT:
        if (rv_typeof(key->val) != RV_STRING) return NULL;
        return obj_select(v, rv_str(key->val));
    case TY_SET: {
        /* s[k]: the element type, when k can be an element at all */
        ty kt = {.k = TY_ANY};
        switch (rv_typeof(key->val)) {
        case RV_NULL: kt.k = TY_NULL; break;
        case RV_BOOL: kt.k = TY_BOOL; break;
        case RV_NUMBER: kt.k = TY_NUM; break;
        case RV_STRING: kt.k = TY_STR; break;
        default: return NULL;
        }
        return v->dyn && unifies(&kt, v->dyn) ? v->dyn : NULL;
    }
    default: return NULL;
    }
}

static ty *select_path(tcx *c, ty *v, term **items, int n)
{
    for (int i = 0; i < n; i++) {
        v = ty_select(c, v, items[i]);
        if (!v) return &c->any;
    }
    return v;
}

static ty *ref_type(tcx *c, term *t)
{
    if (t->root == ROOT_LOCAL) {
        ty *head = t->items[0]->kind == T_VAR ? (fresh_var(c, t->items[0]) ? &c->any : ty_of(c, t->items[0]))
                                              : ty_of(c, t->items[0]);
        return select_path(c, head, t->items + 1, t->n - 1);
    }
    if (t->root != ROOT_DATA) return &c->any;
    const rnode *n = c->pol->root;
    for (int i = 1; i < t->n; i++) {
        const term *it = t->items[i];
        if (n->nrules || n->def) return select_path(c, node_type(c, n), t->items + i, t->n - i);
        if (it->kind != T_VAL || rv_typeof(it->val) != RV_STRING) return &c->any;
        n = rego_node_child(n, rv_str(it->val));
        if (!n) return &c->any;
    }
    if (!n->nrules && !n->def) return &c->any;
    return node_type(c, n);
}

static ty *ty_of(tcx *c, term *t);

/* Type of a comprehension head in the comprehension's scope. */
static ty *closure_type(tcx *c, term *t)
{
    ty **saved = rego_xmalloc(((size_t)c->nslots + 1) * sizeof(ty *));
    if (!saved) {
        c->failed = true;
        return &c->any;
    }
    memcpy(saved, c->slots, (size_t)c->nslots * sizeof(ty *));
    check_body(c, t->body);
    ty *r;
    if (t->kind == T_ACOMP) r = ty_arr_dyn(c, ty_of(c, t->items[0]));
    else if (t->kind == T_SCOMP) r = ty_set(c, ty_of(c, t->items[0]));
    else {
        (void)ty_of(c, t->items[0]);
        r = ty_new(c, TY_OBJECT);
        r->dyn = ty_of(c, t->items[1]);
    }
    memcpy(c->slots, saved, (size_t)c->nslots * sizeof(ty *));
    free(saved);
    return r;
}

static ty *ty_of(tcx *c, term *t)
{
    if (!t || c->failed) return &c->any;
    switch (t->kind) {
    case T_VAL: return ty_of_value(c, t->val);
    case T_VAR:
        if (t->wildcard || t->slot < 0 || t->slot >= c->nslots || !c->slots[t->slot]) return &c->any;
        return c->slots[t->slot];
    case T_REF:
        for (int i = 1; i < t->n; i++) (void)ty_of(c, t->items[i]);
        return ref_type(c, t);
    case T_CALL: {
        ty *at[8];
        for (int i = 0; i < t->n; i++) {
            ty *x = ty_of(c, t->items[i]);
            if (i < 8) at[i] = x;
        }
        if (t->n <= 8) check_call_args(c, t, at, t->n);
        return call_type(c, t);
    }
    case T_ARRAY: {
        ty *r = ty_new(c, TY_ARRAY);
        if (t->n == 0) {
            r->dyn = &c->any;
            return r;
        }
        ty_hold(c, r, (size_t)t->n, false);
        if (r->k != TY_ARRAY) return r;
        for (int i = 0; i < t->n; i++) r->elems[r->n++] = ty_of(c, t->items[i]);
        return r;
    }
    case T_SET: {
        ty *e = NULL;
        for (int i = 0; i < t->n; i++) e = ty_or(c, e, ty_of(c, t->items[i]));
        return ty_set(c, e ? e : &c->any);
    }
    case T_OBJECT: {
        int pairs = t->n / 2;
        ty *r = ty_new(c, TY_OBJECT);
        if (pairs == 0) {
            r->dyn = &c->any;
            return r;
        }
        ty_hold(c, r, (size_t)pairs, true);
        if (r->k != TY_OBJECT) return r;
        bool modelled = true;
        for (int i = 0; i < pairs; i++) {
            term *k = t->items[2 * i];
            ty *vt = ty_of(c, t->items[2 * i + 1]);
            (void)ty_of(c, k);
            if (k->kind != T_VAL) {
                r->dyn = &c->any; /* non-constant key: a dynamic part */
                continue;
            }
            if (rv_typeof(k->val) != RV_STRING) {
                modelled = false;
                continue;
            }
            const char *ks = rv_str(k->val);
            int j = 0;
            while (j < r->n && strcmp(r->keys[j], ks) != 0) j++;
            if (j < r->n) {
                r->elems[j] = ty_or(c, r->elems[j], vt);
                continue;
            }
            r->keys[r->n] = ks;
            r->elems[r->n++] = vt;
        }
        return modelled ? r : &c->any;
    }
    case T_ACOMP:
    case T_SCOMP:
    case T_OCOMP: return closure_type(c, t);
    default: return &c->any;
    }
}

/* ------------------------------------------------------------ bodies */
static void mark_any(tcx *c, term *t)
{
    if (!t) return;
    if (t->kind == T_VAR) {
        if (!t->wildcard && t->slot >= 0 && t->slot < c->nslots && !c->slots[t->slot]) c->slots[t->slot] = &c->any;
        return;
    }
    if (t->kind == T_ACOMP || t->kind == T_SCOMP || t->kind == T_OCOMP) return; /* own scope */
    for (int i = 0; i < t->n; i++) mark_any(c, t->items[i]);
}

/* First binding of vars by `a = b` (types computed before binding). */
static void bind(tcx *c, term *a, ty *ta, term *b, ty *tb)
{
    if (fresh_var(c, a)) {
        c->slots[a->slot] = tb;
        return;
    }
    if (fresh_var(c, b)) {
        c->slots[b->slot] = ta;
        return;
    }
    if (a->kind == T_ARRAY && b->kind == T_ARRAY && a->n == b->n && ta->k == TY_ARRAY && tb->k == TY_ARRAY &&
        ta->n == a->n && tb->n == b->n) {
        for (int i = 0; i < a->n; i++) bind(c, a->items[i], ta->elems[i], b->items[i], tb->elems[i]);
    }
}

/* A type that can never be iterated (no member is an array, object, set or any). */
static bool ty_scalar(const ty *t)
{
    if (t->k == TY_UNION) {
        for (int i = 0; i < t->n; i++)
            if (!ty_scalar(t->elems[i])) return false;
        return t->n > 0;
    }
    return t->k == TY_NULL || t->k == TY_BOOL || t->k == TY_NUM || t->k == TY_STR;
}

static void check_expr(tcx *c, expr *e)
{
    term *a = NULL, *b = NULL;
    bool binds = false;
    if (e->kind == E_UNIFY || e->kind == E_ASSIGN) {
        a = e->a;
        b = e->b;
        binds = !e->neg;
    } else if (e->kind == E_TERM && e->a && e->a->kind == T_CALL && !e->a->fn && e->a->name &&
               strcmp(e->a->name, "equal") == 0 && e->a->n == 2) {
        a = e->a->items[0];
        b = e->a->items[1];
    }
    if (a && b) {
        ty *ta = ty_of(c, a), *tb = ty_of(c, b);
        if (c->failed) return;
        if (!unifies(ta, tb)) {
            if (!c->quiet) {
                c->failed = true;
                rego_set_error(c->err, "rego_type_error", c->file, e->line, e->col, "match error");
            }
            return;
        }
        if (binds) bind(c, a, ta, b, tb);
        mark_any(c, a);
        mark_any(c, b);
        return;
    }
    switch (e->kind) {
    case E_TERM:
        c->top = e->a;
        c->top_expr = e;
        (void)ty_of(c, e->a);
        c->top = NULL;
        mark_any(c, e->a);
        break;
    case E_SOME_IN: {
        ty *ct = ty_of(c, e->coll);
        if (c->failed) return;
        if (ty_scalar(ct)) { /* OPA: `some v in 5` is a match error, `in f(x)` an undefined ref */
            if (!c->quiet) {
                c->failed = true;
                if (e->coll->kind == T_VAL)
                    rego_set_error(c->err, "rego_type_error", c->file, e->line, e->col, "match error");
                else
                    rego_set_error(c->err, "rego_type_error", c->file, e->line, e->col,
                                   "undefined ref: collection of `some ... in` is not a collection");
            }
            return;
        }
        ty *vt = ty_values(c, ct);
        if (vt && e->v && fresh_var(c, e->v)) c->slots[e->v->slot] = vt;
        mark_any(c, e->k);
        mark_any(c, e->v);
        mark_any(c, e->coll);
        break;
    }
    case E_EVERY: (void)ty_of(c, e->coll); break; /* body not checked, as OPA */
    default: break;
    }
}

static void check_body(tcx *c, body *b)
{
    if (!b) return;
    for (int i = 0; i < b->n && !c->failed; i++) check_expr(c, b->exprs[i]);
}

/* Check one rule (or else) body; returns its head type contribution to its node
 * (NULL for functions). */
static ty *check_rule(tcx *c, rule *r)
{
    ty **slots = rego_xcalloc((size_t)r->nslots + 1, sizeof(ty *));
    if (!slots) {
        c->failed = true;
        return &c->any;
    }
    ty **old = c->slots;
    int oldn = c->nslots;
    const char *oldf = c->file;
    c->slots = slots;
    c->nslots = r->nslots;
    c->file = r->file;
    for (int i = 0; i < r->nargs; i++) mark_any(c, r->args[i]);
    check_body(c, r->body);
    ty *res = &c->any;
    if (!c->failed) {
        if ((r->kind == R_COMPLETE || r->kind == R_FUNC) && r->nref == r->nstatic) res = ty_of(c, r->value);
        else if (r->kind == R_SET && r->nref == r->nstatic) res = ty_set(c, ty_of(c, r->key));
        else if (r->kind == R_OBJECT && r->nref == r->nstatic + 1) {
            (void)ty_of(c, r->ref[r->nref - 1]);
            res = ty_new(c, TY_OBJECT);
            res->dyn = ty_of(c, r->value);
        }
    }
    c->slots = old;
    c->nslots = oldn;
    c->file = oldf;
    free(slots);
    return res;
}

static ty *node_type(tcx *c, const rnode *n)
{
    if (n->id < 0 || n->id >= c->pol->nnodes) return &c->any;
    if (c->node_state[n->id] == 2) return c->node_type[n->id];
    if (c->node_state[n->id] == 1) return &c->any; /* recursion through a comprehension etc. */
    if (n->nkids) {
        c->node_state[n->id] = 2;
        c->node_type[n->id] = &c->any;
        return &c->any;
    }
    c->node_state[n->id] = 1;
    bool q = c->quiet;
    bool f = c->failed;
    c->quiet = true;
    ty *t = NULL;
    for (int i = -1; i < n->nrules; i++) {
        rule *r = i < 0 ? n->def : n->rules[i];
        for (; r; r = r->els) t = ty_or(c, t, check_rule(c, r));
    }
    if (c->failed && !f) t = &c->any; /* inference stopped: unknown */
    c->failed = f;
    c->quiet = q;
    c->node_state[n->id] = 2;
    c->node_type[n->id] = t ? t : &c->any;
    return c->node_type[n->id];
}

int rego_typecheck_policy(const rego_policy *pol, rego_error *err)
{
    tcx c = {.pol = pol, .err = err};
    c.any.k = TY_ANY;
    c.node_state = rego_xcalloc((size_t)pol->nnodes + 1, 1);
    c.node_type = rego_xcalloc((size_t)pol->nnodes + 1, sizeof(ty *));
    if (c.node_state && c.node_type) {
        for (int mi = 0; mi < pol->nmods && !c.failed; mi++) {
            module *m = pol->mods[mi];
            for (int ri = 0; ri < m->nrules && !c.failed; ri++)
                for (rule *r = m->rules[ri]; r && !c.failed; r = r->els) (void)check_rule(&c, r);
        }
    }
    bool failed = c.failed && err && err->code[0];
    while (c.allocs) {
        ty *t = c.allocs;
        c.allocs = t->next_alloc;
        free(t->elems);
        free(t->keys);
        free(t);
    }
    free(c.node_state);
    free(c.node_type);
    return failed ? -1 : 0;
}
