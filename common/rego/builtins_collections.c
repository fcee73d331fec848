/* Collection builtins: array.*, object.* (get, keys, remove, filter, union,
 * union_n, subset), and the set-of-sets intersection/union, with OPA v1 semantics.
 *
 * Values are immutable, so every builtin builds a fresh container and shares the
 * unchanged children by reference. Objects and sets come back in rv sort order,
 * which is OPA's order, so no builtin here sorts anything itself.
 */
#include "rego/builtins.h"

#include <stdlib.h>

static int int_operand(rego_bctx *ctx, const char *fn, int pos, const rv *v, int64_t *out)
{
    if (rv_typeof(v) != RV_NUMBER)
        return rego_bctx_type_errorf(ctx, "%s: operand %d must be number but got %s", fn, pos, rv_type_name(v));
    if (!rv_number_is_integer(v) || !rv_number_as_int64(v, out))
        return rego_bctx_type_errorf(ctx, "%s: operand %d must be integer number but got floating-point number", fn,
                                     pos);
    return REGO_OK;
}

/* ------------------------------------------------------------ arrays */

static int bi_array_concat(rego_bctx *ctx, rv *const *a, rv **out)
{
    size_t n0 = rv_len(a[0]), n1 = rv_len(a[1]);
    rv *r = rv_array_new(n0 + n1);
    for (size_t i = 0; i < n0; i++) rv_array_push(r, rv_ref(rv_array_at(a[0], i)));
    for (size_t i = 0; i < n1; i++) rv_array_push(r, rv_ref(rv_array_at(a[1], i)));
    *out = r;
    return REGO_OK;
}

/* array.slice: indices clamp to [0, len]; start >= stop gives []. */
static int bi_array_slice(rego_bctx *ctx, rv *const *a, rv **out)
{
    int64_t start, stop;
    if (int_operand(ctx, "array.slice", 2, a[1], &start) != REGO_OK) return REGO_ERR;
    if (int_operand(ctx, "array.slice", 3, a[2], &stop) != REGO_OK) return REGO_ERR;
    int64_t len = (int64_t)rv_len(a[0]);
    if (start < 0) start = 0;
    if (stop > len) stop = len;
    rv *r = rv_array_new(start < stop ? (size_t)(stop - start) : 0);
    for (int64_t i = start; i < stop; i++) rv_array_push(r, rv_ref(rv_array_at(a[0], (size_t)i)));
    *out = r;
    return REGO_OK;
}

static int bi_array_reverse(rego_bctx *ctx, rv *const *a, rv **out)
{
    size_t n = rv_len(a[0]);
    rv *r = rv_array_new(n);
    for (size_t i = n; i-- > 0;) rv_array_push(r, rv_ref(rv_array_at(a[0], i)));
    *out = r;
    return REGO_OK;
}

/* array.flatten: one level. */
static int bi_array_flatten(rego_bctx *ctx, rv *const *a, rv **out)
{
    size_t n = rv_len(a[0]);
    rv *r = rv_array_new(n);
    for (size_t i = 0; i < n; i++) {
        rv *e = rv_array_at(a[0], i);
        if (rv_typeof(e) == RV_ARRAY)
            for (size_t k = 0; k < rv_len(e); k++) rv_array_push(r, rv_ref(rv_array_at(e, k)));
        else rv_array_push(r, rv_ref(e));
    }
    *out = r;
    return REGO_OK;
}

/* ------------------------------------------------------------ objects */

/* Step of a nested lookup: object by key, array by integer index, set by member. BORROWED. */
static rv *step(const rv *v, const rv *key)
{
    switch (rv_typeof(v)) {
    case RV_OBJECT: return rv_object_get(v, key);
    case RV_ARRAY: {
        int64_t i;
        if (rv_typeof(key) != RV_NUMBER || !rv_number_is_integer(key) || !rv_number_as_int64(key, &i)) return NULL;
        if (i < 0 || (uint64_t)i >= rv_len(v)) return NULL;
        return rv_array_at(v, (size_t)i);
    }
    case RV_SET: {
        size_t n = rv_len(v);
        for (size_t i = 0; i < n; i++)
            if (rv_equal(rv_set_at(v, i), key)) return rv_set_at(v, i);
        return NULL;
    }
    default: return NULL;
    }
}

static int bi_object_get(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (rv_typeof(a[1]) != RV_ARRAY) {
        rv *v = rv_object_get(a[0], a[1]);
        *out = rv_ref(v ? v : a[2]);
        return REGO_OK;
    }
    size_t n = rv_len(a[1]);
    const rv *cur = a[0];
    for (size_t i = 0; i < n && cur; i++) cur = step(cur, rv_array_at(a[1], i));
    *out = rv_ref((rv *)(cur ? cur : a[2]));
    return REGO_OK;
}

static int bi_object_keys(rego_bctx *ctx, rv *const *a, rv **out)
{
    size_t n = rv_len(a[0]);
    rv *s = rv_set_new(n);
    for (size_t i = 0; i < n; i++) rv_set_add(s, rv_ref(rv_object_key_at(a[0], i)));
    *out = s;
    return REGO_OK;
}

/* Does keys (array, set or object keys) contain k? */
static bool keys_contain(const rv *keys, const rv *k)
{
    switch (rv_typeof(keys)) {
    case RV_SET: return rv_set_contains(keys, k);
    case RV_OBJECT: return rv_object_get(keys, k) != NULL;
    default:
        for (size_t i = 0; i < rv_len(keys); i++)
            if (rv_equal(rv_array_at(keys, i), k)) return true;
        return false;
    }
}

/* Multi-type operands are checked here so the message lists the types in OPA's order. */
static int keys_operand(rego_bctx *ctx, const char *fn, const rv *v)
{
    rv_type t = rv_typeof(v);
    if (t == RV_OBJECT || t == RV_SET || t == RV_ARRAY) return REGO_OK;
    return rego_bctx_type_errorf(ctx, "%s: operand 2 must be one of {object, set, array} but got %s", fn,
                                 rv_type_name(v));
}

static int keep_keys(rego_bctx *ctx, rv *const *a, rv **out, bool keep)
{
    if (keys_operand(ctx, keep ? "object.filter" : "object.remove", a[1]) != REGO_OK) return REGO_ERR;
    size_t n = rv_len(a[0]);
    rv *r = rv_object_new(n);
    for (size_t i = 0; i < n; i++) {
        rv *k = rv_object_key_at(a[0], i);
        if (keys_contain(a[1], k) == keep) rv_object_set(r, rv_ref(k), rv_ref(rv_object_val_at(a[0], i)));
    }
    *out = r;
    return REGO_OK;
}
static int bi_object_remove(rego_bctx *ctx, rv *const *a, rv **out) { return keep_keys(ctx, a, out, false); }
static int bi_object_filter(rego_bctx *ctx, rv *const *a, rv **out) { return keep_keys(ctx, a, out, true); }

/* Recursive merge: b wins, objects on both sides merge. NEW. */
static rv *merge(const rv *x, const rv *y)
{
    if (rv_typeof(x) != RV_OBJECT || rv_typeof(y) != RV_OBJECT) return rv_ref((rv *)y);
    size_t nx = rv_len(x), ny = rv_len(y);
    rv *r = rv_object_new(nx + ny);
    for (size_t i = 0; i < nx; i++) {
        rv *k = rv_object_key_at(x, i);
        rv *yv = rv_object_get(y, k);
        rv_object_set(r, rv_ref(k), yv ? merge(rv_object_val_at(x, i), yv) : rv_ref(rv_object_val_at(x, i)));
    }
    for (size_t i = 0; i < ny; i++) {
        rv *k = rv_object_key_at(y, i);
        if (!rv_object_get(x, k)) rv_object_set(r, rv_ref(k), rv_ref(rv_object_val_at(y, i)));
    }
    return r;
}

static int bi_object_union(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = merge(a[0], a[1]);
    return REGO_OK;
}

static int bi_object_union_n(rego_bctx *ctx, rv *const *a, rv **out)
{
    size_t n = rv_len(a[0]);
    for (size_t i = 0; i < n; i++)
        if (rv_typeof(rv_array_at(a[0], i)) != RV_OBJECT)
            return rego_bctx_type_errorf(
                ctx, "object.union_n: operand 1 must be array of objects but got array containing %s",
                rv_type_name(rv_array_at(a[0], i)));
    rv *acc = rv_object_new(0);
    for (size_t i = 0; i < n; i++) {
        rv *m = merge(acc, rv_array_at(a[0], i));
        rv_unref(acc);
        acc = m;
    }
    *out = acc;
    return REGO_OK;
}

static bool subset(const rv *sup, const rv *sub);

static bool array_subset(const rv *sup, const rv *sub)
{
    size_t np = rv_len(sup), nb = rv_len(sub);
    if (nb == 0) return true;
    for (size_t s = 0; s + nb <= np; s++) {
        size_t k = 0;
        while (k < nb && rv_equal(rv_array_at(sup, s + k), rv_array_at(sub, k))) k++;
        if (k == nb) return true;
    }
    return false;
}

/* OPA's object.subset: objects recurse per key, sets by membership, arrays as a
 * contiguous run, an array with a set by membership; anything else by equality. */
static bool subset(const rv *sup, const rv *sub)
{
    rv_type tp = rv_typeof(sup), tb = rv_typeof(sub);
    if (tp == RV_OBJECT && tb == RV_OBJECT) {
        for (size_t i = 0; i < rv_len(sub); i++) {
            rv *v = rv_object_get(sup, rv_object_key_at(sub, i));
            if (!v || !subset(v, rv_object_val_at(sub, i))) return false;
        }
        return true;
    }
    if (tp == RV_SET && tb == RV_SET) {
        for (size_t i = 0; i < rv_len(sub); i++)
            if (!rv_set_contains(sup, rv_set_at(sub, i))) return false;
        return true;
    }
    if (tp == RV_ARRAY && tb == RV_ARRAY) return array_subset(sup, sub);
    if (tp == RV_ARRAY && tb == RV_SET) {
        for (size_t i = 0; i < rv_len(sub); i++) {
            bool found = false;
            for (size_t k = 0; k < rv_len(sup) && !found; k++) found = rv_equal(rv_array_at(sup, k), rv_set_at(sub, i));
            if (!found) return false;
        }
        return true;
    }
    return rv_equal(sup, sub);
}

static int bi_object_subset(rego_bctx *ctx, rv *const *a, rv **out)
{
    rv_type tp = rv_typeof(a[0]), tb = rv_typeof(a[1]);
    for (int k = 0; k < 2; k++) {
        rv_type t = rv_typeof(a[k]);
        if (t != RV_OBJECT && t != RV_SET && t != RV_ARRAY)
            return rego_bctx_type_errorf(ctx,
                                         "object.subset: operand %d must be one of {object, set, array} but got %s",
                                         k + 1, rv_type_name(a[k]));
    }
    if (!(tp == tb || (tp == RV_ARRAY && tb == RV_SET)))
        return rego_bctx_type_errorf(
            ctx, "object.subset: both arguments object.subset must be of the same type or array and set");
    *out = rv_bool(subset(a[0], a[1]));
    return REGO_OK;
}

/* ------------------------------------------------------------ sets of sets */

static int sets_check(rego_bctx *ctx, const char *fn, const rv *s)
{
    for (size_t i = 0; i < rv_len(s); i++)
        if (rv_typeof(rv_set_at(s, i)) != RV_SET)
            return rego_bctx_type_errorf(ctx, "%s: operand 1 must be set of sets but got set containing %s", fn,
                                         rv_type_name(rv_set_at(s, i)));
    return REGO_OK;
}

static int bi_intersection(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (sets_check(ctx, "intersection", a[0]) != REGO_OK) return REGO_ERR;
    size_t n = rv_len(a[0]);
    rv *r = rv_set_new(0);
    if (n == 0) {
        *out = r;
        return REGO_OK;
    }
    const rv *first = rv_set_at(a[0], 0);
    for (size_t i = 0; i < rv_len(first); i++) {
        rv *e = rv_set_at(first, i);
        bool all = true;
        for (size_t k = 1; k < n && all; k++) all = rv_set_contains(rv_set_at(a[0], k), e);
        if (all) rv_set_add(r, rv_ref(e));
    }
    *out = r;
    return REGO_OK;
}

static int bi_union(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (sets_check(ctx, "union", a[0]) != REGO_OK) return REGO_ERR;
    rv *r = rv_set_new(0);
    for (size_t k = 0; k < rv_len(a[0]); k++) {
        const rv *s = rv_set_at(a[0], k);
        for (size_t i = 0; i < rv_len(s); i++) rv_set_add(r, rv_ref(rv_set_at(s, i)));
    }
    *out = r;
    return REGO_OK;
}

/* ------------------------------------------------------------ table */

const rego_builtin_def rego_builtins_collections[] = {
    {"array.concat", 2, bi_array_concat, {"array", "array"}, 0},
    {"array.slice", 3, bi_array_slice, {"array", "number", "number"}, 0},
    {"array.reverse", 1, bi_array_reverse, {"array"}, 0},
    {"array.flatten", 1, bi_array_flatten, {"array"}, 0},
    {"object.get", 3, bi_object_get, {"object", NULL, NULL}, 0},
    {"object.keys", 1, bi_object_keys, {"object"}, 0},
    {"object.remove", 2, bi_object_remove, {"object", NULL}, 0},
    {"object.filter", 2, bi_object_filter, {"object", NULL}, 0},
    {"object.union", 2, bi_object_union, {"object", "object"}, 0},
    {"object.union_n", 1, bi_object_union_n, {"array"}, 0},
    {"object.subset", 2, bi_object_subset, {NULL, NULL}, 0},
    {"intersection", 1, bi_intersection, {"set"}, 0},
    {"union", 1, bi_union, {"set"}, 0},
    {NULL, 0, NULL, {NULL}, 0},
};
