/* Rego engine: annotations computed once after compilation, so that evaluation
 * does less work per step. They are a pure speed-up: eval.c falls back to the
 * general path whenever an annotation is absent or does not apply.
 *
 * - Data references: a `data.a.b.c` term walks the rule tree from the root on every
 *   evaluation (a child lookup by name per component). The static prefix is resolved
 *   here: term->dnode is the node reached by items[1..nstatic), stopping at the first
 *   node that has rules (its value comes from the per-evaluation cache) or where the
 *   path leaves the tree. eval.c starts there, walking only the base data (borrowed
 *   JSON, which can change per evaluation) along the same keys, unless a `with`
 *   modifier has shadowed part of the tree (then it takes the general path).
 * - Fused loops: `some v in coll` followed by a builtin test of v whose other operands
 *   are single values (`net.cidr_contains(v, ip)`, `regex.match(p, v)`) is marked on
 *   the `some` (fuse_pos); eval.c then calls the builtin for each member in a plain
 *   loop instead of going through unification and continuations per member.
 * - Single-valued terms (term->sv): calls and composites whose operands have one
 *   value each are evaluated directly (eval.c: eval_sv) instead of one continuation
 *   per operand.
 * - Composite literals of constants are built once (folded into a constant).
 * - String constants are interned (one value per distinct string in a policy), so
 *   comparisons between values built from literals often end at pointer equality.
 * - Builtin operand types: a builtin declares operand types as text ("string|set");
 *   term->argmask holds them as bit sets of rv_type, so a call checks its operands
 *   with one AND each instead of parsing the text.
 *
 * Runs single-threaded inside rego_compile / rego_query_prepare; afterwards the
 * annotations are read-only like the rest of the policy.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rego/rego_int.h"
#include "rego/value_int.h"

static void opt_body(const rego_policy *pol, body *b);

/* String constants interned per policy: equal strings become one value, so that
 * comparing two objects built from literals (`{"key": ..., "value": ...}` in
 * several rules) finds equal keys by pointer. Only for this pass. */
typedef struct {
    rv **slots;
    size_t cap, n;
} intern_tab;
static __thread intern_tab *g_intern;
static __thread arena *g_arena; /* where folded constants are kept */

/* A composite literal of constants becomes one constant (built once here rather
 * than on every evaluation): T_ARRAY/T_SET/T_OBJECT whose items are all T_VAL. */
static void fold_constant(term *t)
{
    if (!g_arena || (t->kind != T_ARRAY && t->kind != T_SET && t->kind != T_OBJECT)) return;
    if (t->kind == T_OBJECT && t->n % 2) return;
    for (int i = 0; i < t->n; i++)
        if (t->items[i]->kind != T_VAL || !t->items[i]->val) return;
    rv *v;
    if (t->kind == T_ARRAY) {
        v = rv_array_new((size_t)t->n);
        for (int i = 0; i < t->n; i++) rv_array_push(v, rv_ref(t->items[i]->val));
    } else if (t->kind == T_SET) {
        v = rv_set_new((size_t)t->n);
        for (int i = 0; i < t->n; i++) rv_set_add(v, rv_ref(t->items[i]->val));
    } else {
        v = rv_object_new((size_t)t->n / 2);
        for (int i = 0; i < t->n; i += 2) rv_object_set(v, rv_ref(t->items[i]->val), rv_ref(t->items[i + 1]->val));
    }
    t->val = ar_keep(g_arena, v);
    t->kind = T_VAL;
    t->ground = 1;
}

/* Short string constants (object keys, labels, formats) are interned process-wide
 * as immortal values (value_int.h rvi_string_immortal): values built from literals
 * share them without counting references, which are atomic on published values
 * (a result set holds a few dozen of them). Bounded: at most IMM_MAX strings of at
 * most IMM_LEN bytes over the life of the process (policies reloaded with the same
 * keys share them); the rest is interned per policy as before. */
enum { IMM_MAX = 16384, IMM_LEN = 64 };
static pthread_mutex_t g_imm_lock = PTHREAD_MUTEX_INITIALIZER;
static rv **g_imm;
static size_t g_imm_cap, g_imm_n;

static rv *intern_immortal(const rv *v)
{
    size_t len = rv_strlen(v);
    if (len > IMM_LEN) return NULL;
    rv *r = NULL;
    pthread_mutex_lock(&g_imm_lock);
    if (2 * (g_imm_n + 1) > g_imm_cap && g_imm_n < IMM_MAX) {
        size_t cap = g_imm_cap ? g_imm_cap * 2 : 1024;
        rv **ns = calloc(cap, sizeof(rv *));
        if (ns) {
            for (size_t i = 0; i < g_imm_cap; i++)
                if (g_imm[i]) {
                    size_t h = (size_t)rv_hash(g_imm[i]) & (cap - 1);
                    while (ns[h]) h = (h + 1) & (cap - 1);
                    ns[h] = g_imm[i];
                }
            free(g_imm);
            g_imm = ns;
            g_imm_cap = cap;
        }
    }
    if (g_imm_cap) {
        size_t h = (size_t)rv_hash(v) & (g_imm_cap - 1);
        for (; g_imm[h]; h = (h + 1) & (g_imm_cap - 1))
            if (rv_equal(g_imm[h], v)) {
                r = g_imm[h];
                break;
            }
        if (!r && g_imm_n < IMM_MAX && 2 * (g_imm_n + 1) <= g_imm_cap) {
            r = g_imm[h] = rvi_string_immortal(rv_str(v), len);
            g_imm_n++;
        }
    }
    pthread_mutex_unlock(&g_imm_lock);
    return r;
}

static rv *intern(rv *v)
{
    intern_tab *t = g_intern;
    if (!t || rv_typeof(v) != RV_STRING) return v;
    rv *im = intern_immortal(v);
    if (im) return im; /* v stays kept by the policy's arena */
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        rv **ns = calloc(cap, sizeof(rv *));
        if (!ns) return v;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i]) {
                size_t h = (size_t)rv_hash(t->slots[i]) & (cap - 1);
                while (ns[h]) h = (h + 1) & (cap - 1);
                ns[h] = t->slots[i];
            }
        free(t->slots);
        t->slots = ns;
        t->cap = cap;
    }
    size_t h = (size_t)rv_hash(v) & (t->cap - 1);
    for (; t->slots[h]; h = (h + 1) & (t->cap - 1))
        if (rv_equal(t->slots[h], v)) return t->slots[h];
    t->slots[h] = v;
    t->n++;
    return v;
}

static uint8_t type_bits(const char *types)
{
    if (!types) return 0x7f;
    uint8_t m = 0;
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object", "set"};
    const char *p = types;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == 3 && strncmp(p, "any", 3) == 0) m |= 0x7f;
        for (int t = 0; t < 7; t++)
            if (strlen(names[t]) == l && strncmp(p, names[t], l) == 0) m |= (uint8_t)(1u << t);
        if (!bar) break;
        p = bar + 1;
    }
    return m;
}

static void opt_data_ref(const rego_policy *pol, term *t)
{
    rnode *n = pol->root;
    int i = 1;
    while (i < t->n && !(n->nrules || n->def) && !n->is_func) {
        term *p = t->items[i];
        if (p->kind != T_VAL || rv_typeof(p->val) != RV_STRING) break;
        rnode *kid = rego_node_child(n, rv_str(p->val));
        if (!kid || kid->is_func) break;
        n = kid;
        i++;
    }
    t->dnode = n;
    t->nstatic = i;
}

/* A term with at most one value whatever the bindings (children already marked):
 * constants, variables, refs with constant keys, builtin and function calls and
 * composites over such terms. */
static uint8_t single_valued_term(const term *t)
{
    switch (t->kind) {
    case T_VAL:
    case T_VAR: return 1;
    case T_REF:
        if (t->n < 1) return 0;
        if (t->root != ROOT_INPUT && t->root != ROOT_DATA && t->items[0]->kind != T_VAR) return 0;
        for (int i = 1; i < t->n; i++)
            if (t->items[i]->kind != T_VAL) return 0;
        return 1;
    case T_CALL:
        if ((!t->bi && !t->fn) || t->special != SP_NONE) return 0;
        /* fall through */
    case T_ARRAY:
    case T_SET:
    case T_OBJECT:
        for (int i = 0; i < t->n; i++)
            if (!t->items[i]->sv) return 0;
        return 1;
    default: return 0;
    }
}

/* Object literal with constant, distinct keys (at most 8): the order of its pairs
 * by key, so that eval.c builds it by appending (values still evaluated in source
 * order). */
static void key_order(term *t)
{
    int np = t->n / 2;
    t->korder[0] = 0;
    if (np < 2 || np > 8 || t->n % 2) return;
    int ord[8];
    for (int i = 0; i < np; i++) {
        if (t->items[2 * i]->kind != T_VAL) return;
        ord[i] = i;
    }
    for (int i = 1; i < np; i++) /* insertion sort by key */
        for (int j = i; j > 0 && rv_compare(t->items[2 * ord[j - 1]]->val, t->items[2 * ord[j]]->val) > 0; j--) {
            int x = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = x;
        }
    for (int i = 1; i < np; i++)
        if (rv_compare(t->items[2 * ord[i - 1]]->val, t->items[2 * ord[i]]->val) == 0) return; /* duplicate */
    for (int i = 0; i < np; i++) t->korder[i] = (uint8_t)(ord[i] + 1);
}

static void opt_term(const rego_policy *pol, term *t)
{
    if (!t) return;
    if (t->kind == T_VAL && t->val) t->val = intern(t->val); /* both kept by the arena */
    if (t->kind == T_REF && t->root == ROOT_DATA && t->n >= 1) opt_data_ref(pol, t);
    if (t->kind == T_CALL && t->bi) {
        for (int i = 0; i < t->bi->nargs && i < 8; i++) t->argmask[i] = type_bits(t->bi->arg_types[i]);
        t->has_argmask = t->bi->nargs <= 8;
    }
    for (int i = 0; i < t->n; i++) opt_term(pol, t->items[i]);
    if (t->body) opt_body(pol, t->body);
    fold_constant(t);
    t->sv = single_valued_term(t);
    if (t->kind == T_OBJECT) key_order(t);
}

/* A term that yields at most one value and does not mention slot s. */
static bool single_valued(const term *t, int s)
{
    if (t->kind == T_VAL) return true;
    if (t->kind == T_VAR) return t->slot >= 0 && t->slot != s;
    if (t->kind == T_REF && (t->root == ROOT_INPUT || t->root == ROOT_DATA)) {
        for (int i = 1; i < t->n; i++)
            if (t->items[i]->kind != T_VAL) return false;
        return true;
    }
    return false;
}

/* `some v in coll` then a builtin call used as a test with v as one operand and
 * single-valued other operands: eval.c runs it as one loop over coll (fused). */
static void opt_fuse(body *b, int i)
{
    expr *x = b->exprs[i], *y = b->exprs[i + 1];
    if (x->kind != E_SOME_IN || x->neg || x->nwith || x->k || !x->v || x->v->kind != T_VAR || x->v->slot < 0 ||
        x->v->wildcard)
        return;
    if (y->kind != E_TERM || y->neg || y->nwith || !y->a || y->a->kind != T_CALL) return;
    term *t = y->a;
    if (!t->bi || t->fn || t->special != SP_NONE || !t->has_argmask || t->n != t->bi->nargs || t->n > 8) return;
    if (t->bi->flags & REGO_BUILTIN_NONDETERMINISTIC) return;
    int pos = -1;
    for (int j = 0; j < t->n; j++) {
        term *a = t->items[j];
        if (a->kind == T_VAR && a->slot == x->v->slot) {
            if (pos >= 0) return;
            pos = j;
        } else if (!single_valued(a, x->v->slot)) return;
    }
    if (pos >= 0) x->fuse_pos = (uint8_t)(pos + 1);
}

static void opt_body(const rego_policy *pol, body *b)
{
    if (!b) return;
    for (int i = 0; i < b->n; i++) {
        expr *x = b->exprs[i];
        opt_term(pol, x->a);
        opt_term(pol, x->b);
        opt_term(pol, x->k);
        opt_term(pol, x->v);
        opt_term(pol, x->coll);
        opt_body(pol, x->body);
        for (int j = 0; j < x->ndecl; j++) opt_term(pol, x->decl[j]);
        for (int j = 0; j < x->nwith; j++) opt_term(pol, x->withs[j].value);
    }
    for (int i = 0; i + 1 < b->n; i++) opt_fuse(b, i);
}

static void opt_rule(const rego_policy *pol, rule *r)
{
    for (; r; r = r->els) {
        for (int i = 0; i < r->nref; i++) opt_term(pol, r->ref[i]);
        opt_term(pol, r->key);
        opt_term(pol, r->value);
        for (int i = 0; i < r->nargs; i++) opt_term(pol, r->args[i]);
        opt_body(pol, r->body);
    }
}

void rego_optimize_policy(rego_policy *pol)
{
    intern_tab tab = {0};
    g_intern = &tab;
    g_arena = &pol->ar;
    for (int mi = 0; mi < pol->nmods; mi++) {
        module *m = pol->mods[mi];
        for (int ri = 0; ri < m->nrules; ri++) opt_rule(pol, m->rules[ri]);
    }
    g_intern = NULL;
    g_arena = NULL;
    free(tab.slots);
}

void rego_optimize_body(const rego_policy *pol, arena *ar, body *b)
{
    g_arena = ar;
    opt_body(pol, b);
    g_arena = NULL;
}
