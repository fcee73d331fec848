/* Core builtins: comparison, arithmetic, aggregates, set operators, type checks,
 * casts and bits.*. The evaluator has already checked arity and declared operand
 * types; these functions check what the declaration cannot express (e.g. that both
 * operands of `-` are numbers or both are sets, integer-only operands).
 *
 * walk, print and internal.member_2/3 are evaluated by the evaluator itself (walk is
 * a relation), so they have no entry here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/alloc.h"
#include "rego/builtins.h"

#define B(name) static int name(rego_bctx *ctx, rv *const *a, rv **out)

/* ------------------------------------------------------------ comparison */
B(b_equal)
{
    *out = rv_bool(rv_compare(a[0], a[1]) == 0);
    return REGO_OK;
}
B(b_neq)
{
    *out = rv_bool(rv_compare(a[0], a[1]) != 0);
    return REGO_OK;
}
B(b_lt)
{
    *out = rv_bool(rv_compare(a[0], a[1]) < 0);
    return REGO_OK;
}
B(b_lte)
{
    *out = rv_bool(rv_compare(a[0], a[1]) <= 0);
    return REGO_OK;
}
B(b_gt)
{
    *out = rv_bool(rv_compare(a[0], a[1]) > 0);
    return REGO_OK;
}
B(b_gte)
{
    *out = rv_bool(rv_compare(a[0], a[1]) >= 0);
    return REGO_OK;
}

/* ------------------------------------------------------------ arithmetic */
static int arith_result(rego_bctx *ctx, const char *name, rv *r, const char *err, rv **out)
{
    if (!r) return rego_bctx_errorf(ctx, "%s: %s", name, err ? err : "arithmetic error");
    *out = r;
    return REGO_OK;
}

B(b_plus)
{
    const char *err = NULL;
    rv *r = rv_num_add(a[0], a[1], &err);
    return arith_result(ctx, "plus", r, err, out);
}
B(b_mul)
{
    const char *err = NULL;
    rv *r = rv_num_mul(a[0], a[1], &err);
    return arith_result(ctx, "mul", r, err, out);
}
B(b_div)
{
    const char *err = NULL;
    rv *r = rv_num_div(a[0], a[1], &err);
    return arith_result(ctx, "div", r, err, out);
}
B(b_rem)
{
    const char *err = NULL;
    rv *r = rv_num_rem(a[0], a[1], &err);
    return arith_result(ctx, "rem", r, err, out);
}

B(b_minus)
{
    rv_type t0 = rv_typeof(a[0]), t1 = rv_typeof(a[1]);
    if (t0 == RV_NUMBER && t1 == RV_NUMBER) {
        const char *err = NULL;
        rv *r = rv_num_sub(a[0], a[1], &err);
        return arith_result(ctx, "minus", r, err, out);
    }
    if (t0 == RV_SET && t1 == RV_SET) {
        rv *s = rv_set_new(rv_len(a[0]));
        for (size_t i = 0; i < rv_len(a[0]); i++)
            if (!rv_set_contains(a[1], rv_set_at(a[0], i))) rv_set_add(s, rv_ref(rv_set_at(a[0], i)));
        *out = s;
        return REGO_OK;
    }
    return rego_bctx_type_errorf(ctx, "minus: operand 2 must be %s but got %s", t0 == RV_SET ? "set" : "number",
                                 rv_type_name(a[1]));
}

B(b_abs)
{
    int64_t i;
    if (rv_number_as_int64(a[0], &i) && i != INT64_MIN) {
        *out = rv_int(i < 0 ? -i : i);
        return REGO_OK;
    }
    char *t = rv_number_text(a[0]);
    rv *r = rv_number_from_text(t[0] == '-' ? t + 1 : t, strlen(t[0] == '-' ? t + 1 : t));
    free(t);
    *out = r;
    return r ? REGO_OK : REGO_UNDEF;
}

static int round_like(rego_bctx *ctx, rv *const *a, rv **out, int mode)
{
    if (rv_number_is_integer(a[0])) {
        *out = rv_ref(a[0]);
        int64_t i;
        if (rv_number_as_int64(a[0], &i)) {
            rv_unref(*out);
            *out = rv_int(i);
        }
        return REGO_OK;
    }
    double d = rv_number_as_double(a[0]);
    double r = mode == 0 ? round(d) : mode == 1 ? ceil(d) : floor(d);
    /* OPA 1.19 rounds a fraction between -1 and 1 by its magnitude (its big.Float
     * rounding sees exponent <= 0): ceil(-0.5) is 1 and floor(-0.5) is 0 there. */
    if (mode != 0 && d > -1 && d < 0) r = mode == 1 ? 1 : 0;
    *out = rv_double(r);
    return *out ? REGO_OK : REGO_UNDEF;
}
B(b_round) { return round_like(ctx, a, out, 0); }
B(b_ceil) { return round_like(ctx, a, out, 1); }
B(b_floor) { return round_like(ctx, a, out, 2); }

static bool int_operand(rego_bctx *ctx, const char *name, int idx, const rv *v, int64_t *o, int *rc)
{
    if (!rv_number_is_integer(v)) {
        *rc = rego_bctx_type_errorf(ctx, "%s: operand %d must be integer number but got floating-point number", name,
                                    idx);
        return false;
    }
    if (!rv_number_as_int64(v, o)) {
        *rc = rego_bctx_errorf(ctx, "%s: operand %d is too large", name, idx);
        return false;
    }
    return true;
}

static int range_impl(rego_bctx *ctx, const char *name, int64_t lo, int64_t hi, int64_t step, rv **out)
{
    uint64_t n = (uint64_t)(lo <= hi ? hi - lo : lo - hi) / (uint64_t)step + 1;
    if (n > 100000000ULL) return rego_bctx_errorf(ctx, "%s: range too large", name);
    if (!rego_bctx_may_alloc(ctx, (size_t)n * 48)) return REGO_ERR; /* slot + number each */
    rv *arr = rv_array_new((size_t)n);
    if (lo <= hi)
        for (int64_t i = lo; i <= hi; i += step) {
            rv_array_push(arr, rv_int(i));
            if (i > INT64_MAX - step) break;
        }
    else
        for (int64_t i = lo; i >= hi; i -= step) {
            rv_array_push(arr, rv_int(i));
            if (i < INT64_MIN + step) break;
        }
    *out = arr;
    return REGO_OK;
}

B(b_range)
{
    int64_t x, y;
    int rc = REGO_ERR;
    if (!int_operand(ctx, "numbers.range", 1, a[0], &x, &rc)) return rc;
    if (!int_operand(ctx, "numbers.range", 2, a[1], &y, &rc)) return rc;
    return range_impl(ctx, "numbers.range", x, y, 1, out);
}

B(b_range_step)
{
    int64_t x, y, s;
    int rc = REGO_ERR;
    if (!int_operand(ctx, "numbers.range_step", 1, a[0], &x, &rc)) return rc;
    if (!int_operand(ctx, "numbers.range_step", 2, a[1], &y, &rc)) return rc;
    if (!rv_number_is_integer(a[2]) || rv_compare(a[2], rv_bool(true)) < 0)
        return rego_bctx_errorf(ctx, "numbers.range_step: step must be a positive integer");
    if (!rv_number_as_int64(a[2], &s)) {
        rv *zero = rv_int(0);
        bool pos = rv_compare(a[2], zero) > 0;
        rv_unref(zero);
        if (!pos) return rego_bctx_errorf(ctx, "numbers.range_step: step must be a positive integer");
        s = INT64_MAX;
    }
    if (s <= 0) return rego_bctx_errorf(ctx, "numbers.range_step: step must be a positive integer");
    return range_impl(ctx, "numbers.range_step", x, y, s, out);
}

/* ------------------------------------------------------------ aggregates */
B(b_count)
{
    if (rv_typeof(a[0]) == RV_STRING) *out = rv_int((int64_t)rego_utf8_count(rv_str(a[0]), rv_strlen(a[0])));
    else *out = rv_int((int64_t)rv_len(a[0]));
    return REGO_OK;
}

static rv *elem(const rv *c, size_t i) { return rv_typeof(c) == RV_ARRAY ? rv_array_at(c, i) : rv_set_at(c, i); }

static int fold(rego_bctx *ctx, const char *name, rv *const *a, rv **out, bool mul)
{
    rv *acc = rv_int(mul ? 1 : 0);
    for (size_t i = 0; i < rv_len(a[0]); i++) {
        rv *x = elem(a[0], i);
        if (rv_typeof(x) != RV_NUMBER) {
            rv_unref(acc);
            return rego_bctx_type_errorf(ctx, "%s: operand 1 must be one of {array, set} containing numbers but got %s",
                                         name, rv_type_name(x));
        }
        const char *err = NULL;
        rv *n = mul ? rv_num_mul(acc, x, &err) : rv_num_add(acc, x, &err);
        rv_unref(acc);
        if (!n) return rego_bctx_errorf(ctx, "%s: %s", name, err ? err : "arithmetic error");
        acc = n;
    }
    *out = acc;
    return REGO_OK;
}
B(b_sum) { return fold(ctx, "sum", a, out, false); }
B(b_product) { return fold(ctx, "product", a, out, true); }

static int extreme(rv *const *a, rv **out, int sign)
{
    size_t n = rv_len(a[0]);
    if (n == 0) return REGO_UNDEF;
    rv *best = elem(a[0], 0);
    for (size_t i = 1; i < n; i++) {
        rv *x = elem(a[0], i);
        if (rv_compare(x, best) * sign > 0) best = x;
    }
    *out = rv_ref(best);
    return REGO_OK;
}
B(b_max) { return extreme(a, out, 1); }
B(b_min) { return extreme(a, out, -1); }

static int cmp_rv(const void *x, const void *y) { return rv_compare(*(rv *const *)x, *(rv *const *)y); }

B(b_sort)
{
    size_t n = rv_len(a[0]);
    rv **v = rego_xmalloc(n * sizeof(rv *));
    for (size_t i = 0; i < n; i++) v[i] = elem(a[0], i);
    if (rv_typeof(a[0]) == RV_ARRAY) qsort(v, n, sizeof(rv *), cmp_rv);
    rv *arr = rv_array_new(n);
    for (size_t i = 0; i < n; i++) rv_array_push(arr, rv_ref(v[i]));
    free(v);
    *out = arr;
    return REGO_OK;
}

B(b_all)
{
    bool r = true;
    for (size_t i = 0; i < rv_len(a[0]) && r; i++) r = rv_is_true(elem(a[0], i));
    *out = rv_bool(r);
    return REGO_OK;
}
B(b_any)
{
    bool r = false;
    for (size_t i = 0; i < rv_len(a[0]) && !r; i++) r = rv_is_true(elem(a[0], i));
    *out = rv_bool(r);
    return REGO_OK;
}

/* ------------------------------------------------------------ sets */
B(b_and)
{
    rv *s = rv_set_new(0);
    for (size_t i = 0; i < rv_len(a[0]); i++)
        if (rv_set_contains(a[1], rv_set_at(a[0], i))) rv_set_add(s, rv_ref(rv_set_at(a[0], i)));
    *out = s;
    return REGO_OK;
}
B(b_or)
{
    rv *s = rv_set_new(rv_len(a[0]) + rv_len(a[1]));
    for (size_t i = 0; i < rv_len(a[0]); i++) rv_set_add(s, rv_ref(rv_set_at(a[0], i)));
    for (size_t i = 0; i < rv_len(a[1]); i++) rv_set_add(s, rv_ref(rv_set_at(a[1], i)));
    *out = s;
    return REGO_OK;
}
B(b_intersection)
{
    size_t n = rv_len(a[0]);
    if (n == 0) {
        *out = rv_set_new(0);
        return REGO_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (rv_typeof(rv_set_at(a[0], i)) != RV_SET)
            return rego_bctx_type_errorf(ctx, "intersection: operand 1 must be set of sets but got set containing %s",
                                         rv_type_name(rv_set_at(a[0], i)));
    rv *first = rv_set_at(a[0], 0);
    rv *s = rv_set_new(rv_len(first));
    for (size_t j = 0; j < rv_len(first); j++) {
        rv *x = rv_set_at(first, j);
        bool all = true;
        for (size_t i = 1; i < n && all; i++) all = rv_set_contains(rv_set_at(a[0], i), x);
        if (all) rv_set_add(s, rv_ref(x));
    }
    *out = s;
    return REGO_OK;
}
B(b_union)
{
    rv *s = rv_set_new(0);
    for (size_t i = 0; i < rv_len(a[0]); i++) {
        rv *x = rv_set_at(a[0], i);
        if (rv_typeof(x) != RV_SET) {
            rv_unref(s);
            return rego_bctx_type_errorf(ctx, "union: operand 1 must be set of sets but got set containing %s",
                                         rv_type_name(x));
        }
        for (size_t j = 0; j < rv_len(x); j++) rv_set_add(s, rv_ref(rv_set_at(x, j)));
    }
    *out = s;
    return REGO_OK;
}

B(b_set)
{
    *out = rv_set_new(0);
    return REGO_OK;
}

/* ------------------------------------------------------------ types */
#define TYPECHECK(fname, ty)                                                                                           \
    B(fname)                                                                                                           \
    {                                                                                                                  \
        *out = rv_bool(rv_typeof(a[0]) == ty);                                                                         \
        return REGO_OK;                                                                                                \
    }
TYPECHECK(b_is_string, RV_STRING)
TYPECHECK(b_is_number, RV_NUMBER)
TYPECHECK(b_is_boolean, RV_BOOL)
TYPECHECK(b_is_array, RV_ARRAY)
TYPECHECK(b_is_set, RV_SET)
TYPECHECK(b_is_object, RV_OBJECT)
TYPECHECK(b_is_null, RV_NULL)

B(b_type_name)
{
    *out = rv_cstring(rv_type_name(a[0]));
    return REGO_OK;
}

B(b_to_number)
{
    switch (rv_typeof(a[0])) {
    case RV_NULL: *out = rv_int(0); return REGO_OK;
    case RV_BOOL: *out = rv_int(rv_is_true(a[0]) ? 1 : 0); return REGO_OK;
    case RV_NUMBER: *out = rv_ref(a[0]); return REGO_OK;
    case RV_STRING: {
        const char *s = rv_str(a[0]);
        size_t n = rv_strlen(a[0]);
        /* Go's strconv.ParseFloat accepts leading '+', "Inf", "NaN": OPA rejects the non-finite */
        rv *v = NULL;
        if (n > 0 && s[0] == '+') v = rv_number_from_text(s + 1, n - 1);
        else if (n > 1 && s[0] == '.') {
            char *t = rego_xmalloc(n + 2);
            t[0] = '0';
            memcpy(t + 1, s, n + 1);
            v = rv_number_from_text(t, n + 1);
            free(t);
        } else v = rv_number_from_text(s, n);
        if (!v) {
            if (n >= 3 && (strcasestr(s, "nan") || strcasestr(s, "inf")))
                return rego_bctx_type_errorf(ctx, "to_number: invalid syntax");
            return rego_bctx_errorf(ctx, "to_number: strconv.ParseFloat: parsing \"%s\": invalid syntax", s);
        }
        *out = v;
        return REGO_OK;
    }
    default: return REGO_UNDEF;
    }
}

/* ------------------------------------------------------------ bits */
/* Integers beyond int64 for bits.and/or/xor/negate (OPA uses big.Int): two's
 * complement in __int128, enough for any integer of up to 38 digits. */
static bool big_int128(const rv *v, __int128 *o)
{
    if (!rv_number_is_integer(v)) return false;
    char *t = rv_number_text(v);
    const char *p = t;
    bool neg = *p == '-';
    if (neg || *p == '+') p++;
    size_t nd = strlen(p);
    bool ok = nd > 0 && nd <= 38 && p[strspn(p, "0123456789")] == 0;
    __int128 r = 0;
    for (size_t i = 0; ok && i < nd; i++) r = r * 10 + (p[i] - '0');
    free(t);
    *o = neg ? -r : r;
    return ok;
}
static rv *rv_int128(__int128 x)
{
    char buf[48], *p = buf + sizeof buf;
    *--p = 0;
    unsigned __int128 u = x < 0 ? -(unsigned __int128)x : (unsigned __int128)x;
    do *--p = (char)('0' + (int)(u % 10));
    while ((u /= 10) != 0);
    if (x < 0) *--p = '-';
    return rv_number_from_text(p, strlen(p));
}

static int bits2(rego_bctx *ctx, const char *name, rv *const *a, rv **out, int op)
{
    int64_t x, y;
    int rc = REGO_ERR;
    __int128 bx, by;
    if (op <= 2 && !(rv_number_as_int64(a[0], &x) && rv_number_as_int64(a[1], &y)) && big_int128(a[0], &bx) &&
        big_int128(a[1], &by)) {
        *out = rv_int128(op == 0 ? bx | by : op == 1 ? bx & by : bx ^ by);
        return *out ? REGO_OK : REGO_ERR;
    }
    if (!int_operand(ctx, name, 1, a[0], &x, &rc)) return rc;
    if (!int_operand(ctx, name, 2, a[1], &y, &rc)) return rc;
    int64_t r = 0;
    switch (op) {
    case 0: r = x | y; break;
    case 1: r = x & y; break;
    case 2: r = x ^ y; break;
    case 3:
        if (y < 0)
            return rego_bctx_type_errorf(
                ctx, "%s: operand 2 must be an unsigned integer number but got a negative integer", name);
        if (y < 62 && (x == 0 || (x > 0 ? x <= (INT64_MAX >> y) : x >= (INT64_MIN >> y)))) {
            r = (int64_t)((uint64_t)x << y);
            break;
        } else {
            /* exact: x * 2^y with big integers */
            const char *err = NULL;
            rv *acc = rv_int(x), *two = rv_int(2);
            for (int64_t i = 0; i < y && i < 4096; i++) {
                rv *n = rv_num_mul(acc, two, &err);
                rv_unref(acc);
                acc = n;
            }
            rv_unref(two);
            *out = acc;
            return REGO_OK;
        }
    case 4:
        if (y < 0)
            return rego_bctx_type_errorf(
                ctx, "%s: operand 2 must be an unsigned integer number but got a negative integer", name);
        r = y >= 63 ? (x < 0 ? -1 : 0) : x >> y;
        break;
    }
    *out = rv_int(r);
    return REGO_OK;
}
B(b_bits_or) { return bits2(ctx, "bits.or", a, out, 0); }
B(b_bits_and) { return bits2(ctx, "bits.and", a, out, 1); }
B(b_bits_xor) { return bits2(ctx, "bits.xor", a, out, 2); }
B(b_bits_lsh) { return bits2(ctx, "bits.lsh", a, out, 3); }
B(b_bits_rsh) { return bits2(ctx, "bits.rsh", a, out, 4); }
B(b_bits_negate)
{
    int64_t x;
    int rc = REGO_ERR;
    __int128 bx;
    if (!rv_number_as_int64(a[0], &x) && big_int128(a[0], &bx)) {
        *out = rv_int128(~bx);
        return *out ? REGO_OK : REGO_ERR;
    }
    if (!int_operand(ctx, "bits.negate", 1, a[0], &x, &rc)) return rc;
    *out = rv_int(~x);
    return REGO_OK;
}

/* opa.runtime(): OPA reports its runtime configuration; an embedded engine has none
 * (OPA as a library returns an empty object too). */
B(b_opa_runtime)
{
    (void)ctx, (void)a;
    *out = rv_object_new(0);
    return REGO_OK;
}

#define N "number"
#define COLL "array|set"
const rego_builtin_def rego_builtins_core[] = {
    {"equal", 2, b_equal, {NULL}, 0},
    {"neq", 2, b_neq, {NULL}, 0},
    {"lt", 2, b_lt, {NULL}, 0},
    {"lte", 2, b_lte, {NULL}, 0},
    {"gt", 2, b_gt, {NULL}, 0},
    {"gte", 2, b_gte, {NULL}, 0},
    {"plus", 2, b_plus, {N, N}, 0},
    {"minus", 2, b_minus, {"number|set", "number|set"}, 0},
    {"mul", 2, b_mul, {N, N}, 0},
    {"div", 2, b_div, {N, N}, 0},
    {"rem", 2, b_rem, {N, N}, 0},
    {"abs", 1, b_abs, {N}, 0},
    {"round", 1, b_round, {N}, 0},
    {"ceil", 1, b_ceil, {N}, 0},
    {"floor", 1, b_floor, {N}, 0},
    {"numbers.range", 2, b_range, {N, N}, 0},
    {"numbers.range_step", 3, b_range_step, {N, N, N}, 0},
    {"count", 1, b_count, {"array|object|set|string"}, 0},
    {"sum", 1, b_sum, {COLL}, 0},
    {"product", 1, b_product, {COLL}, 0},
    {"max", 1, b_max, {COLL}, 0},
    {"min", 1, b_min, {COLL}, 0},
    {"sort", 1, b_sort, {COLL}, 0},
    {"all", 1, b_all, {COLL}, 0},
    {"any", 1, b_any, {COLL}, 0},
    {"and", 2, b_and, {"set", "set"}, 0},
    {"or", 2, b_or, {"set", "set"}, 0},
    {"intersection", 1, b_intersection, {"set"}, 0},
    {"union", 1, b_union, {"set"}, 0},
    {"set", 0, b_set, {NULL}, 0},
    {"is_string", 1, b_is_string, {NULL}, 0},
    {"is_number", 1, b_is_number, {NULL}, 0},
    {"is_boolean", 1, b_is_boolean, {NULL}, 0},
    {"is_array", 1, b_is_array, {NULL}, 0},
    {"is_set", 1, b_is_set, {NULL}, 0},
    {"is_object", 1, b_is_object, {NULL}, 0},
    {"is_null", 1, b_is_null, {NULL}, 0},
    {"type_name", 1, b_type_name, {NULL}, 0},
    {"to_number", 1, b_to_number, {"null|boolean|number|string"}, 0},
    {"bits.or", 2, b_bits_or, {N, N}, 0},
    {"bits.and", 2, b_bits_and, {N, N}, 0},
    {"bits.xor", 2, b_bits_xor, {N, N}, 0},
    {"bits.lsh", 2, b_bits_lsh, {N, N}, 0},
    {"bits.rsh", 2, b_bits_rsh, {N, N}, 0},
    {"bits.negate", 1, b_bits_negate, {N}, 0},
    {"opa.runtime", 0, b_opa_runtime, {NULL}, 0},
    {NULL, 0, NULL, {NULL}, 0},
};
