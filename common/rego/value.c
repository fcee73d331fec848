/* Rego values: implementation of value.h.
 *
 * Layout: one struct rv per value (value_int.h) with an atomic reference count
 * (compiled policies share constant values between threads; the count is the only
 * mutable part once a value is built, besides the derived data below). Objects and
 * sets are sorted arrays kept in rv_compare order: builders insert by binary search,
 * readers look up by binary search. A string's bytes and a container's first
 * arrays live in the same allocation as the rv (one malloc per value).
 *
 * Speed (see also eval.c): values made during an evaluation (rv_local_begin/end)
 * count references without atomic instructions until rv_publish hands them out;
 * dropping the last reference of a shared value needs no locked instruction either.
 * Derived data is attached to a value on first use and published with one CAS
 * (rv_aux: an array's membership index, a pattern's compiled regex, a parsed
 * CIDR), so it is shared by all threads without locks.
 *
 * Numbers: NK_INT (int64), NK_BIG (integer too big for int64, canonical decimal
 * text, arithmetic through OpenSSL BIGNUM) and NK_FLT (a double, plus the source
 * text when the number came from JSON/Rego text so it prints back unchanged).
 * Equality and order are by numeric value; the hash of an integral number is the
 * hash of its int64 so that 1 and 1.0 collide as they must.
 */
#include "rego/value.h"
#include "rego/builtins.h"

#include <errno.h>
#include <stdint.h>
#include <math.h>
#include <openssl/bn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/alloc.h"
#include "rego/value_int.h"

static rv rv_null_s = {.refcnt = -1, .type = RV_NULL};
rv rv_true_s = {.refcnt = -1, .type = RV_BOOL, .u.b = true}; /* value_int.h: rvi_bool */
rv rv_false_s = {.refcnt = -1, .type = RV_BOOL, .u.b = false};

/* Members of a parsed JSON document (rv_from_json_text) share their document's
 * arena and its reference count (see there). */
enum { RV_ARENA = 2 }; /* rv.local of an arena member (1 = thread-local value) */
typedef struct rv_arena rv_arena;
static void arena_ref(rv *v);
static void arena_unref(rv *v);
static void arena_note_aux(const rv *v);

/* Values made during an evaluation are seen by its thread only until the evaluation
 * hands them out (rv_publish), so their counts need no atomic instructions (which
 * cost more than the rest of a typical evaluation step). */
static __thread int tls_local;

/* Inside an evaluation, references to members of one document (arena) -- typically
 * the input -- are counted on this thread and added to the arena's atomic count
 * once, when the evaluation ends or another arena's member is counted (arena_flush):
 * an evaluation takes and drops a few dozen references to input members, each a
 * locked instruction otherwise. Safe because the counted value is reached from a
 * reference this thread holds for the whole evaluation (the caller keeps input and
 * data alive during rego_query_eval), so the arena's real count cannot reach zero
 * while references are pending here; a count that reaches zero through the pending
 * delta is released at the flush. */
static __thread rv_arena *tls_pend_arena;
static __thread int tls_pend_delta;
static void arena_flush(void);

void rv_local_begin(void) { tls_local++; }
void rv_local_end(void)
{
    if (--tls_local == 0) arena_flush();
}

void rv_publish(rv *v)
{
    /* values made elsewhere hold only published values; arena members count atomically */
    if (!v || v->local != 1) return;
    v->local = 0;
    if (v->type >= RV_ARRAY)
        for (size_t i = 0; i < v->u.c.len; i++) { /* only local children need the call */
            if (v->u.c.items[i]->local == 1) rv_publish(v->u.c.items[i]);
            if (v->u.c.vals && v->u.c.vals[i]->local == 1) rv_publish(v->u.c.vals[i]);
        }
}

/* Value blocks are recycled through per-thread free lists by size class (16-byte
 * steps up to 256 bytes): an evaluation makes and drops a few dozen small values,
 * and glibc's own per-thread cache (7 blocks a size) overflows into its slower
 * paths. A block is an ordinary malloc block of its class size, so one whose size
 * is no longer known (a container that outgrew its inline arrays) is simply
 * free()d, and a block freed by another thread joins that thread's lists. Lists are
 * bounded and drained at thread exit. */
enum { VB_CLASSES = 17, VB_MAX = 64 };
typedef struct vblock {
    struct vblock *next;
} vblock;
typedef struct {
    vblock *head[VB_CLASSES];
    uint16_t n[VB_CLASSES];
    bool registered;
} vcache;
static __thread vcache tls_vc;
static pthread_key_t vc_key;
static pthread_once_t vc_once = PTHREAD_ONCE_INIT;

static void vc_drain(void *arg)
{
    vcache *c = arg;
    for (int i = 0; i < VB_CLASSES; i++) {
        for (vblock *b = c->head[i], *n; b; b = n) {
            n = b->next;
            free(b);
        }
        c->head[i] = NULL;
        c->n[i] = 0;
    }
    c->registered = false; /* a later free registers again */
}
static void vc_key_init(void) { pthread_key_create(&vc_key, vc_drain); }

static inline void *vb_alloc(size_t size)
{
    size_t k = (size + 15) >> 4;
    if (k < VB_CLASSES) {
        vcache *c = &tls_vc;
        vblock *b = c->head[k];
        if (b) {
            c->head[k] = b->next;
            c->n[k]--;
            return b;
        }
        return rego_xmalloc(k << 4);
    }
    return rego_xmalloc(size);
}

__attribute__((noinline)) static void vc_register(vcache *c)
{
    pthread_once(&vc_once, vc_key_init);
    pthread_setspecific(vc_key, c); /* vc_drain at thread exit */
    c->registered = true;
}

/* size: what the block was allocated for, 0 = unknown */
static inline void vb_free(void *p, size_t size)
{
    size_t k = (size + 15) >> 4;
    vcache *c = &tls_vc;
    if (size && k < VB_CLASSES && c->n[k] < VB_MAX) {
        if (!c->registered) vc_register(c);
        vblock *b = p;
        b->next = c->head[k];
        c->head[k] = b;
        c->n[k]++;
        return;
    }
    free(p);
}

static rv *rv_alloc(rv_type t)
{
    rv *v = vb_alloc(sizeof(rv));
    memset(v, 0, sizeof(*v));
    v->refcnt = 1;
    v->type = (uint8_t)t;
    v->local = tls_local > 0;
    return v;
}

rv *rv_ref(rv *v)
{
    if (!v) return v;
    if (v->local == 1) v->refcnt++;
    else if (v->local) arena_ref(v);
    else if (__atomic_load_n(&v->refcnt, __ATOMIC_RELAXED) >= 0) __atomic_add_fetch(&v->refcnt, 1, __ATOMIC_RELAXED);
    return v;
}

static void rv_free(rv *v);

/* Only the count here, the freeing in rv_free: most calls just count down and
 * return without the frame that freeing (a recursion) needs. */
void rv_unref(rv *v)
{
    if (!v) return;
    if (v->local == 1) {
        if (--v->refcnt != 0) return;
    } else if (v->local) {
        arena_unref(v);
        return;
    } else {
        int c = __atomic_load_n(&v->refcnt, __ATOMIC_ACQUIRE);
        if (c < 0) return;
        /* the only reference is ours: nobody else can take one, free without a
         * locked instruction */
        if (c != 1 && __atomic_sub_fetch(&v->refcnt, 1, __ATOMIC_ACQ_REL) != 0) return;
    }
    rv_free(v);
}

__attribute__((noinline)) static void rv_free(rv *v)
{
    if (v->aux) v->aux->free_fn(v->aux);
    switch (v->type) {
    case RV_NUMBER: free(v->u.num.text); break;
    case RV_STRING: break; /* bytes live in the rv's allocation */
    case RV_ARRAY:
    case RV_SET:
    case RV_OBJECT:
        for (size_t i = 0; i < v->u.c.len; i++) { /* immortal children (constants) need no call */
            rvi_unref(v->u.c.items[i]);
            if (v->u.c.vals) rvi_unref(v->u.c.vals[i]);
        }
        if (v->inl != 1) {
            free(v->u.c.items);
            free(v->u.c.vals);
        }
        break;
    default: break;
    }
    size_t size = sizeof(rv); /* the block's size (see vb_alloc) */
    if (v->type == RV_STRING) size += v->u.str.len + 1;
    else if (v->type >= RV_ARRAY && v->inl)
        size = v->inl == 1 ? size + v->u.c.cap * (v->type == RV_OBJECT ? 2 : 1) * sizeof(rv *) : 0;
    vb_free(v, size);
}

rv_type rv_typeof(const rv *v) { return (rv_type)v->type; }

const char *rv_type_name(const rv *v)
{
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object", "set"};
    return v ? names[v->type] : "undefined";
}

rv *rv_null(void) { return &rv_null_s; }
rv *rv_bool(bool b) { return b ? &rv_true_s : &rv_false_s; }
bool rv_is_true(const rv *v) { return v == &rv_true_s || (v && v->type == RV_BOOL && v->u.b); }

/* ---------------------------------------------------------------- numbers */

rv *rv_int(int64_t i)
{
    rv *v = rv_alloc(RV_NUMBER);
    v->nk = NK_INT;
    v->u.num.i = i;
    v->u.num.d = (double)i;
    return v;
}

static rv *num_from_double(double d)
{
    if (isnan(d) || isinf(d)) return NULL;
    if (d == floor(d) && fabs(d) < 9.0e15) return rv_int((int64_t)d);
    rv *v = rv_alloc(RV_NUMBER);
    v->nk = NK_FLT;
    v->u.num.d = d;
    return v;
}

rv *rv_double(double d) { return num_from_double(d); }

static rv *num_big_from_bn(const BIGNUM *bn)
{
    /* int64 if it fits */
    int bits = BN_num_bits(bn);
    if (bits <= 62) {
        char *dec = BN_bn2dec(bn);
        int64_t i = strtoll(dec, NULL, 10);
        OPENSSL_free(dec);
        return rv_int(i);
    }
    char *dec = BN_bn2dec(bn);
    rv *v = rv_alloc(RV_NUMBER);
    v->nk = NK_BIG;
    v->u.num.text = strdup(dec);
    v->u.num.d = strtod(dec, NULL);
    OPENSSL_free(dec);
    return v;
}

rv *rv_number_from_text(const char *text, size_t len)
{
    char buf[64];
    char *s = len < sizeof(buf) ? buf : rego_xmalloc(len + 1);
    memcpy(s, text, len);
    s[len] = 0;
    /* validate JSON-ish number */
    size_t i = 0;
    if (s[i] == '-' || s[i] == '+') i++;
    size_t digits = 0;
    while (s[i] >= '0' && s[i] <= '9') i++, digits++;
    bool integral = true;
    if (s[i] == '.') {
        integral = false;
        i++;
        while (s[i] >= '0' && s[i] <= '9') i++, digits++;
    }
    if (digits == 0) goto bad;
    if (s[i] == 'e' || s[i] == 'E') {
        integral = false;
        i++;
        if (s[i] == '-' || s[i] == '+') i++;
        size_t ed = 0;
        while (s[i] >= '0' && s[i] <= '9') i++, ed++;
        if (!ed) goto bad;
    }
    if (i != len) goto bad;
    rv *v;
    if (integral) {
        errno = 0;
        char *end;
        long long ll = strtoll(s, &end, 10);
        if (errno == 0 && *end == 0) {
            v = rv_int(ll);
        } else {
            BIGNUM *bn = NULL;
            BN_dec2bn(&bn, s[0] == '+' ? s + 1 : s);
            v = num_big_from_bn(bn);
            BN_free(bn);
        }
    } else {
        double d = strtod(s, NULL);
        /* beyond float64 (e.g. 2e308): OPA keeps the number's text; so do we, with
         * an infinite approximation for comparisons and float arithmetic */
        if (isnan(d)) goto bad;
        v = rv_alloc(RV_NUMBER);
        v->nk = NK_FLT;
        v->u.num.d = d;
        if (d == floor(d) && fabs(d) < 9.0e15) {
            v->u.num.i = (int64_t)d; /* integral float: keeps its text */
        }
        v->u.num.text = strdup(s);
    }
    if (s != buf) free(s);
    return v;
bad:
    if (s != buf) free(s);
    return NULL;
}

bool rv_number_is_integer(const rv *n)
{
    if (n->nk != NK_FLT) return true;
    double d = n->u.num.d;
    return d == floor(d);
}

bool rv_number_as_int64(const rv *n, int64_t *out)
{
    if (n->nk == NK_INT) {
        *out = n->u.num.i;
        return true;
    }
    if (n->nk == NK_FLT) {
        double d = n->u.num.d;
        if (d == floor(d) && fabs(d) < 9.2e18) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

double rv_number_as_double(const rv *n) { return n->u.num.d; }

static char *fmt_double(double d)
{
    char buf[64];
    if (d == floor(d) && fabs(d) < 1e21) {
        snprintf(buf, sizeof buf, "%.0f", d);
        return strdup(buf);
    }
    for (int p = 15; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, d);
        if (strtod(buf, NULL) == d) break;
    }
    /* Go prints exponents as e+21 / e-07 -> e-7 */
    char *e = strchr(buf, 'e');
    if (e) {
        char *q = e + 2;
        while (*q == '0' && q[1]) memmove(q, q + 1, strlen(q));
    }
    return strdup(buf);
}

char *rv_number_text(const rv *n)
{
    char buf[32];
    switch (n->nk) {
    case NK_INT: snprintf(buf, sizeof buf, "%lld", (long long)n->u.num.i); return strdup(buf);
    case NK_BIG: return strdup(n->u.num.text);
    default:
        if (n->u.num.text) return strdup(n->u.num.text);
        return fmt_double(n->u.num.d);
    }
}

static BIGNUM *num_to_bn(const rv *n)
{
    BIGNUM *bn = NULL;
    if (n->nk == NK_BIG) {
        BN_dec2bn(&bn, n->u.num.text);
    } else {
        char buf[32];
        int64_t i = 0;
        rv_number_as_int64(n, &i);
        snprintf(buf, sizeof buf, "%lld", (long long)i);
        BN_dec2bn(&bn, buf);
    }
    return bn;
}

static bool num_is_int(const rv *n) { return n->nk == NK_INT || n->nk == NK_BIG; }

/* OPA computes with non-integers (and integers in a division) as big.Float numbers of
 * a 64-bit mantissa, parsed from each operand's text, and prints a result with
 * FloatToNumber: the shortest text that reads back as the same 64-bit value, in Go's
 * %f form when it is an integer, else %g (exponent form below 1e-4 or from 1e6 on).
 * x86-64's long double has that mantissa, and strtold/printf round correctly. */
#if __LDBL_MANT_DIG__ == 64
typedef long double opa_float;
#define OF_STRTO strtold
#define OF_FMT "%.*Le"
#else
typedef double opa_float; /* no 64-bit mantissa: float64 as before */
#define OF_STRTO strtod
#define OF_FMT "%.*e"
#endif

static opa_float num_of(const rv *n)
{
    if (n->nk == NK_INT) return (opa_float)n->u.num.i;
    if (n->u.num.text) return OF_STRTO(n->u.num.text, NULL);
    return (opa_float)n->u.num.d;
}

/* the number OPA's FloatToNumber makes of x; NULL if x is not finite */
static rv *num_from_of(opa_float x)
{
    if (isnan(x) || isinf(x)) return NULL;
    if (x == 0) return rv_int(0);
    char e[64];
    int lo = 1, hi = 21; /* 21 significant digits always read back the same */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(e, sizeof e, OF_FMT, mid - 1, x);
        if (OF_STRTO(e, NULL) == x) hi = mid;
        else lo = mid + 1;
    }
    snprintf(e, sizeof e, OF_FMT, lo - 1, x);
    /* e: [-]D[.DDD]e(+|-)XX -> digits, decimal point position */
    const char *q = e;
    bool neg = *q == '-';
    if (neg) q++;
    char dig[32];
    int nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && nd < 31) dig[nd++] = *q;
    int exp10 = *q == 'e' ? atoi(q + 1) : 0;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    int dp = exp10 + 1; /* digits before the decimal point */
    char out[128];
    size_t n = 0;
    if (neg) out[n++] = '-';
    bool isint = x == truncl((long double)x);
    if (!isint && (exp10 < -4 || exp10 >= 6)) {
        out[n++] = dig[0];
        if (nd > 1) {
            out[n++] = '.';
            for (int i = 1; i < nd; i++) out[n++] = dig[i];
        }
        n += (size_t)snprintf(out + n, sizeof out - n, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (dp <= 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -dp; i++) out[n++] = '0';
        for (int i = 0; i < nd; i++) out[n++] = dig[i];
    } else {
        /* integers may need up to ~4933 digits: build on the heap */
        size_t cap = n + (size_t)dp + (size_t)nd + 4;
        char *big = rego_xmalloc(cap);
        memcpy(big, out, n);
        for (int i = 0; i < dp; i++) big[n++] = i < nd ? dig[i] : '0';
        if (nd > dp) {
            big[n++] = '.';
            for (int i = dp; i < nd; i++) big[n++] = dig[i];
        }
        rv *v = rv_number_from_text(big, n);
        free(big);
        return v;
    }
    return rv_number_from_text(out, n);
}

static int num_cmp(const rv *a, const rv *b)
{
    if (a->nk == NK_INT && b->nk == NK_INT) return a->u.num.i < b->u.num.i ? -1 : a->u.num.i > b->u.num.i;
    if (a->nk == NK_BIG || b->nk == NK_BIG) {
        if (rv_number_is_integer(a) && rv_number_is_integer(b) && (a->nk != NK_FLT || fabs(a->u.num.d) < 9e18) &&
            (b->nk != NK_FLT || fabs(b->u.num.d) < 9e18)) {
            BIGNUM *x = num_to_bn(a), *y = num_to_bn(b);
            int c = BN_cmp(x, y);
            BN_free(x);
            BN_free(y);
            return c;
        }
    }
    double x = a->u.num.d, y = b->u.num.d;
    if (x == y && (a->nk == NK_FLT || b->nk == NK_FLT)) {
        /* equal as float64: OPA compares 1/3 and 0.3333333333333333333 finer */
        opa_float p = num_of(a), q = num_of(b);
        return p < q ? -1 : p > q;
    }
    return x < y ? -1 : x > y;
}

typedef enum { OP_ADD, OP_SUB, OP_MUL } arith_op;

static rv *big_arith(const rv *a, const rv *b, arith_op op)
{
    BIGNUM *x = num_to_bn(a), *y = num_to_bn(b), *r = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    if (op == OP_ADD) BN_add(r, x, y);
    else if (op == OP_SUB) BN_sub(r, x, y);
    else BN_mul(r, x, y, ctx);
    rv *v = num_big_from_bn(r);
    BN_free(x);
    BN_free(y);
    BN_free(r);
    BN_CTX_free(ctx);
    return v;
}

static rv *arith(const rv *a, const rv *b, arith_op op, const char **err)
{
    if (a->nk == NK_INT && b->nk == NK_INT) {
        int64_t r;
        bool ovf;
        if (op == OP_ADD) ovf = __builtin_add_overflow(a->u.num.i, b->u.num.i, &r);
        else if (op == OP_SUB) ovf = __builtin_sub_overflow(a->u.num.i, b->u.num.i, &r);
        else ovf = __builtin_mul_overflow(a->u.num.i, b->u.num.i, &r);
        if (!ovf) return rv_int(r);
        return big_arith(a, b, op);
    }
    if (num_is_int(a) && num_is_int(b)) return big_arith(a, b, op);
    opa_float x = num_of(a), y = num_of(b), r;
    if (op == OP_ADD) r = x + y;
    else if (op == OP_SUB) r = x - y;
    else r = x * y;
    rv *v = num_from_of(r);
    if (!v) *err = "arithmetic overflow";
    return v;
}

rv *rv_num_add(const rv *a, const rv *b, const char **err) { return arith(a, b, OP_ADD, err); }
rv *rv_num_sub(const rv *a, const rv *b, const char **err) { return arith(a, b, OP_SUB, err); }
rv *rv_num_mul(const rv *a, const rv *b, const char **err) { return arith(a, b, OP_MUL, err); }

rv *rv_num_div(const rv *a, const rv *b, const char **err)
{
    if (b->u.num.d == 0 && (b->nk != NK_BIG)) {
        *err = "divide by zero";
        return NULL;
    }
    if (a->nk == NK_INT && b->nk == NK_INT && b->u.num.i != 0 && a->u.num.i % b->u.num.i == 0 &&
        !(a->u.num.i == INT64_MIN && b->u.num.i == -1))
        return rv_int(a->u.num.i / b->u.num.i);
    /* anything else, big integers included, is a float quotient (OPA) */
    opa_float y = num_of(b);
    if (y == 0) {
        *err = "divide by zero";
        return NULL;
    }
    rv *v = num_from_of(num_of(a) / y);
    if (!v) *err = "arithmetic overflow";
    return v;
}

rv *rv_num_rem(const rv *a, const rv *b, const char **err)
{
    if (!rv_number_is_integer(a) || !rv_number_is_integer(b)) {
        *err = "modulo on floating-point number";
        return NULL;
    }
    int64_t x, y;
    if (rv_number_as_int64(a, &x) && rv_number_as_int64(b, &y)) {
        if (y == 0) {
            *err = "modulo by zero";
            return NULL;
        }
        if (y == -1) return rv_int(0);
        return rv_int(x % y);
    }
    BIGNUM *bx = num_to_bn(a), *by = num_to_bn(b), *r = BN_new();
    if (BN_is_zero(by)) {
        BN_free(bx);
        BN_free(by);
        BN_free(r);
        *err = "modulo by zero";
        return NULL;
    }
    BN_CTX *ctx = BN_CTX_new();
    BN_div(NULL, r, bx, by, ctx); /* truncated, sign of dividend like Go */
    rv *v = num_big_from_bn(r);
    BN_free(bx);
    BN_free(by);
    BN_free(r);
    BN_CTX_free(ctx);
    return v;
}

/* ---------------------------------------------------------------- strings */

rv *rv_string(const char *s, size_t len)
{
    rv *v = vb_alloc(sizeof(rv) + len + 1); /* one allocation: header then bytes */
    memset(v, 0, sizeof(*v));
    v->refcnt = 1;
    v->type = RV_STRING;
    v->local = tls_local > 0;
    v->u.str.s = (char *)(v + 1);
    if (len) memcpy(v->u.str.s, s, len);
    v->u.str.s[len] = 0;
    v->u.str.len = len;
    v->u.str.pre = rvi_str_pre(v->u.str.s, len);
    return v;
}
rv *rv_cstring(const char *s) { return rv_string(s, strlen(s)); }

rv *rvi_string_immortal(const char *s, size_t len)
{
    int saved = tls_local;
    tls_local = 0;
    rv *v = rv_string(s, len);
    tls_local = saved;
    v->refcnt = -1;
    return v;
}
const char *rv_str(const rv *s) { return s->u.str.s; }
size_t rv_strlen(const rv *s) { return s->u.str.len; }

/* ---------------------------------------------------------------- collections */

size_t rv_len(const rv *v)
{
    if (v->type == RV_STRING) return v->u.str.len;
    if (v->type >= RV_ARRAY) return v->u.c.len;
    return 0;
}

static void c_grow_slow(rv *v, bool vals);
static inline void c_grow(rv *v, bool vals)
{
    if (v->u.c.len < v->u.c.cap) return;
    c_grow_slow(v, vals);
}

__attribute__((noinline)) static void c_grow_slow(rv *v, bool vals)
{
    size_t cap = v->u.c.cap ? v->u.c.cap * 2 : 4;
    if (v->inl == 1) { /* outgrew the inline arrays: move to separate ones */
        rv **items = rego_xmalloc(cap * sizeof(rv *)), **vs = vals ? rego_xmalloc(cap * sizeof(rv *)) : NULL;
        memcpy(items, v->u.c.items, v->u.c.len * sizeof(rv *));
        if (vals) memcpy(vs, v->u.c.vals, v->u.c.len * sizeof(rv *));
        v->u.c.items = items;
        v->u.c.vals = vs;
        v->inl = 2; /* block size no longer known: plain free() */
    } else {
        v->u.c.items = rego_xrealloc(v->u.c.items, cap * sizeof(rv *));
        if (vals) v->u.c.vals = rego_xrealloc(v->u.c.vals, cap * sizeof(rv *));
    }
    v->u.c.cap = cap;
}

static rv *c_new(rv_type t, size_t hint)
{
    if (!hint) return rv_alloc(t);
    /* one allocation: header, then the item (and value) arrays for `hint` entries */
    size_t per = t == RV_OBJECT ? 2 : 1;
    rv *v = vb_alloc(sizeof(rv) + hint * per * sizeof(rv *));
    memset(v, 0, sizeof(*v));
    v->refcnt = 1;
    v->type = (uint8_t)t;
    v->local = tls_local > 0;
    v->inl = 1;
    v->u.c.items = (rv **)(v + 1);
    if (t == RV_OBJECT) v->u.c.vals = v->u.c.items + hint;
    v->u.c.cap = hint;
    return v;
}

rv *rv_array_new(size_t hint) { return c_new(RV_ARRAY, hint); }
void rv_array_push(rv *arr, rv *item)
{
    c_grow(arr, false);
    arr->u.c.items[arr->u.c.len++] = item;
}
rv *rv_array_at(const rv *arr, size_t i) { return i < arr->u.c.len ? arr->u.c.items[i] : NULL; }

/* Binary search: returns index of key if found (*found=true) or insertion point. */
static size_t c_search(const rv *v, const rv *key, bool *found)
{
    size_t lo = 0, hi = v->u.c.len;
    /* fast path: appending in order */
    if (hi > 0) {
        int c = rv_compare(v->u.c.items[hi - 1], key);
        if (c < 0) {
            *found = false;
            return hi;
        }
        if (c == 0) {
            *found = true;
            return hi - 1;
        }
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = rv_compare(v->u.c.items[mid], key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

rv *rv_object_new(size_t hint) { return c_new(RV_OBJECT, hint); }

void rv_object_set(rv *obj, rv *key, rv *val)
{
    bool found;
    size_t i = c_search(obj, key, &found);
    if (found) {
        rv_unref(key);
        rv_unref(obj->u.c.vals[i]);
        obj->u.c.vals[i] = val;
        return;
    }
    c_grow(obj, true);
    size_t n = obj->u.c.len - i;
    memmove(obj->u.c.items + i + 1, obj->u.c.items + i, n * sizeof(rv *));
    memmove(obj->u.c.vals + i + 1, obj->u.c.vals + i, n * sizeof(rv *));
    obj->u.c.items[i] = key;
    obj->u.c.vals[i] = val;
    obj->u.c.len++;
}

void rv_object_append_sorted(rv *obj, rv *key, rv *val)
{
    c_grow(obj, true);
    obj->u.c.items[obj->u.c.len] = key;
    obj->u.c.vals[obj->u.c.len] = val;
    obj->u.c.len++;
}

rv *rv_object_get(const rv *obj, const rv *key)
{
    if (!obj || obj->type != RV_OBJECT) return NULL;
    if (key->type == RV_STRING) return rvi_object_get_str(obj, key); /* JSON objects: inline (value_int.h) */
    bool found;
    size_t i = c_search(obj, key, &found);
    return found ? obj->u.c.vals[i] : NULL;
}

rv *rv_object_get_cstr(const rv *obj, const char *key)
{
    if (!obj || obj->type != RV_OBJECT) return NULL;
    size_t klen = strlen(key);
    size_t lo = 0, hi = obj->u.c.len;
    /* string keys sort after null/bool/number keys and before composites */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const rv *k = obj->u.c.items[mid];
        int c;
        if (k->type != RV_STRING) c = k->type < RV_STRING ? -1 : 1;
        else {
            size_t m = k->u.str.len < klen ? k->u.str.len : klen;
            c = memcmp(k->u.str.s, key, m);
            if (c == 0) c = k->u.str.len < klen ? -1 : k->u.str.len > klen;
        }
        if (c == 0) return obj->u.c.vals[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

rv *rv_object_key_at(const rv *obj, size_t i) { return obj->u.c.items[i]; }
rv *rv_object_val_at(const rv *obj, size_t i) { return obj->u.c.vals[i]; }

rv *rv_set_new(size_t hint) { return c_new(RV_SET, hint); }

void rv_set_add(rv *set, rv *item)
{
    bool found;
    size_t i = c_search(set, item, &found);
    if (found) {
        rv_unref(item);
        return;
    }
    c_grow(set, false);
    memmove(set->u.c.items + i + 1, set->u.c.items + i, (set->u.c.len - i) * sizeof(rv *));
    set->u.c.items[i] = item;
    set->u.c.len++;
}

bool rv_set_contains(const rv *set, const rv *item)
{
    if (!set || set->type != RV_SET) return false;
    bool found;
    c_search(set, item, &found);
    return found;
}

rv *rv_set_at(const rv *set, size_t i) { return set->u.c.items[i]; }

/* ---------------------------------------------------------------- derived data */

rv_aux *rv_aux_get(const rv *v) { return v ? __atomic_load_n(&v->aux, __ATOMIC_ACQUIRE) : NULL; }

rv_aux *rv_aux_attach(const rv *v, rv_aux *a)
{
    /* the shared singletons carry none; an immortal string (rvi_string_immortal)
     * keeps its aux for the life of the process */
    if (!v || (__atomic_load_n(&v->refcnt, __ATOMIC_RELAXED) < 0 && v->type != RV_STRING)) {
        a->free_fn(a);
        return NULL;
    }
    if (v->local == RV_ARENA) arena_note_aux(v);
    rv_aux *expected = NULL;
    /* the value is shared read-only; aux is its only lazily written field */
    if (__atomic_compare_exchange_n(&((rv *)v)->aux, &expected, a, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return a;
    a->free_fn(a);
    return expected;
}

typedef struct {
    rv_aux base;
    size_t mask;
    bool unusable; /* holds a big integer (equal to an int64 of another form): scan */
    rv *slots[];   /* BORROWED items of the collection, NULL = empty */
} rv_index;

static void index_free(rv_aux *a) { free(a); }

static bool index_probe_ok(const rv *item)
{
    switch (item->type) {
    case RV_NULL:
    case RV_BOOL:
    case RV_STRING: return true;
    case RV_NUMBER: {
        /* integral int64 numbers hash by value (rv_hash); others could be equal to a
         * differently hashed form (big text vs float), so they scan */
        int64_t i;
        return item->nk != NK_BIG && rv_number_as_int64(item, &i) && rv_number_is_integer(item);
    }
    default: return false;
    }
}

bool rv_index_contains(const rv *coll, const rv *item, bool *found)
{
    if (!coll || (coll->type != RV_ARRAY && coll->type != RV_OBJECT) || coll->u.c.len < 16) return false;
    if (!index_probe_ok(item)) return false;
    rv_aux *a = rv_aux_get(coll);
    if (!a) {
        size_t n = coll->u.c.len, cap = 16;
        while (cap < 2 * n) cap *= 2;
        rv_index *ix = calloc(1, sizeof *ix + cap * sizeof(rv *));
        if (!ix) return false;
        ix->base.kind = RV_AUX_INDEX;
        ix->base.free_fn = index_free;
        ix->mask = cap - 1;
        rv **src = coll->type == RV_ARRAY ? coll->u.c.items : coll->u.c.vals;
        for (size_t i = 0; i < n; i++) {
            if (src[i]->type == RV_NUMBER && src[i]->nk == NK_BIG) ix->unusable = true;
            size_t h = (size_t)rv_hash(src[i]) & ix->mask;
            while (ix->slots[h]) h = (h + 1) & ix->mask;
            ix->slots[h] = src[i];
        }
        a = rv_aux_attach(coll, &ix->base);
        if (!a) return false;
    }
    if (a->kind != RV_AUX_INDEX) return false;
    const rv_index *ix = (const rv_index *)a;
    if (ix->unusable) return false;
    for (size_t h = (size_t)rv_hash(item) & ix->mask; ix->slots[h]; h = (h + 1) & ix->mask)
        if (rv_equal(ix->slots[h], item)) {
            *found = true;
            return true;
        }
    *found = false;
    return true;
}

/* ---------------------------------------------------------------- order */

/* rv_compare of members: the same (interned) value, or strings that differ in their
 * pre words, without a call */
static inline int cmp_child(const rv *a, const rv *b)
{
    if (a == b) return 0;
    if (a->type == RV_STRING && b->type == RV_STRING && a->u.str.pre != b->u.str.pre)
        return a->u.str.pre < b->u.str.pre ? -1 : 1;
    return rv_compare(a, b);
}

int rv_compare(const rv *a, const rv *b)
{
    if (a == b) return 0;
    if (a->type != b->type) return a->type < b->type ? -1 : 1;
    switch (a->type) {
    case RV_NULL: return 0;
    case RV_BOOL: return (int)a->u.b - (int)b->u.b;
    case RV_NUMBER: return num_cmp(a, b);
    case RV_STRING: {
        if (a->u.str.pre != b->u.str.pre) return a->u.str.pre < b->u.str.pre ? -1 : 1;
        size_t m = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
        int c = m > 8 ? memcmp(a->u.str.s + 8, b->u.str.s + 8, m - 8) : 0;
        if (c) return c < 0 ? -1 : 1;
        return a->u.str.len < b->u.str.len ? -1 : a->u.str.len > b->u.str.len;
    }
    default: {
        size_t n = a->u.c.len < b->u.c.len ? a->u.c.len : b->u.c.len;
        for (size_t i = 0; i < n; i++) {
            int c = cmp_child(a->u.c.items[i], b->u.c.items[i]);
            if (c) return c;
            if (a->type == RV_OBJECT) {
                c = cmp_child(a->u.c.vals[i], b->u.c.vals[i]);
                if (c) return c;
            }
        }
        return a->u.c.len < b->u.c.len ? -1 : a->u.c.len > b->u.c.len;
    }
    }
}

bool rv_equal(const rv *a, const rv *b)
{
    if (a == b) return true;
    if (a->type != b->type) return false;
    if (a->type == RV_STRING)
        return a->u.str.len == b->u.str.len && a->u.str.pre == b->u.str.pre &&
               (a->u.str.len <= 8 || memcmp(a->u.str.s + 8, b->u.str.s + 8, a->u.str.len - 8) == 0);
    if (a->type >= RV_ARRAY && a->u.c.len != b->u.c.len) return false;
    return rv_compare(a, b) == 0;
}

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

uint64_t rv_hash(const rv *v)
{
    switch (v->type) {
    case RV_NULL: return 0x1234;
    case RV_BOOL: return v->u.b ? 0x55 : 0x66;
    case RV_NUMBER: {
        int64_t i;
        if (rv_number_as_int64(v, &i)) return mix(7, (uint64_t)i);
        if (v->nk == NK_BIG) {
            uint64_t h = 11;
            for (const char *p = v->u.num.text; *p; p++) h = mix(h, (uint8_t)*p);
            return h;
        }
        double d = v->u.num.d;
        uint64_t x;
        memcpy(&x, &d, sizeof x);
        return mix(9, x);
    }
    case RV_STRING: {
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < v->u.str.len; i++) h = (h ^ (uint8_t)v->u.str.s[i]) * 1099511628211ULL;
        return h;
    }
    default: {
        uint64_t h = v->type;
        for (size_t i = 0; i < v->u.c.len; i++) {
            h = mix(h, rv_hash(v->u.c.items[i]));
            if (v->u.c.vals) h = mix(h, rv_hash(v->u.c.vals[i]));
        }
        return h;
    }
    }
}

/* ---------------------------------------------------------------- JSON */

static int pair_cmp(const void *x, const void *y)
{
    rv *const *a = x, *const *b = y;
    return rv_compare(a[0], b[0]);
}

rv *rv_from_json(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL: return rv_null();
    case JSON_TRUE: return rv_bool(true);
    case JSON_FALSE: return rv_bool(false);
    case JSON_INTEGER: return rv_int(json_integer_value(j));
    case JSON_REAL: {
        rv *v = rv_double(json_real_value(j));
        return v ? v : rv_null();
    }
    case JSON_STRING: return rv_string(json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        rv *a = rv_array_new(n);
        for (size_t i = 0; i < n; i++) rv_array_push(a, rv_from_json(json_array_get(j, i)));
        return a;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(j);
        rv **pairs = rego_xmalloc(2 * n * sizeof(rv *));
        size_t k = 0;
        const char *key;
        json_t *val;
        json_object_foreach ((json_t *)j, key, val) {
            pairs[2 * k] = rv_cstring(key);
            pairs[2 * k + 1] = rv_from_json(val);
            k++;
        }
        qsort(pairs, k, 2 * sizeof(rv *), pair_cmp);
        rv *o = rv_object_new(k);
        for (size_t i = 0; i < k; i++) {
            o->u.c.items[i] = pairs[2 * i];
            o->u.c.vals[i] = pairs[2 * i + 1];
        }
        o->u.c.len = k;
        free(pairs);
        return o;
    }
    }
    return rv_null();
}

json_t *rv_to_json(const rv *v)
{
    switch (v->type) {
    case RV_NULL: return json_null();
    case RV_BOOL: return json_boolean(v->u.b);
    case RV_NUMBER: {
        int64_t i;
        if (v->nk == NK_INT) return json_integer(v->u.num.i);
        if (v->nk == NK_FLT && rv_number_as_int64(v, &i) && !v->u.num.text) return json_integer(i);
        return json_real(v->u.num.d);
    }
    case RV_STRING: return json_stringn(v->u.str.s, v->u.str.len);
    case RV_ARRAY:
    case RV_SET: {
        json_t *a = json_array();
        for (size_t i = 0; i < v->u.c.len; i++) json_array_append_new(a, rv_to_json(v->u.c.items[i]));
        return a;
    }
    case RV_OBJECT: {
        json_t *o = json_object();
        for (size_t i = 0; i < v->u.c.len; i++) {
            const rv *k = v->u.c.items[i];
            json_t *jv = rv_to_json(v->u.c.vals[i]);
            if (k->type == RV_STRING) json_object_setn_new(o, k->u.str.s, k->u.str.len, jv);
            else {
                char *t = rv_to_json_text(k);
                json_object_set_new(o, t, jv);
                free(t);
            }
        }
        return o;
    }
    }
    return json_null();
}

/* JSON text straight to values (no jansson tree), in one pass: numbers keep their
 * exact text (integers of any size, floats beyond float64), as OPA's json.Number
 * does; duplicate object keys: the last one wins; strings must be valid UTF-8
 * (escapes included: a lone surrogate is an error).
 *
 * The values of one parsed document live in one arena (rv_arena): a bump allocator
 * over a few large blocks, so parsing allocates a handful of blocks instead of one
 * malloc per value, and releasing the document is one free per block instead of a
 * walk. A member is marked local == RV_ARENA and the word before it points to its
 * arena. Members share the arena's reference count: rv_ref/rv_unref of any member
 * count on the arena, links inside the tree are not counted, and the arena (every
 * member) is released when the last outside reference goes. So a member outlives
 * its document exactly as an ordinary value would; the price is that one kept
 * member keeps the whole document's memory. The count is atomic (a parsed document
 * may be shared read-only between threads, like any published value). Derived data
 * (rv_aux) attached to members is released with the arena. */

typedef struct arena_block {
    struct arena_block *next;
} arena_block;

struct rv_arena {
    int refcnt;  /* outside references to members */
    int has_aux; /* some member got derived data (walk on release) */
    rv *root;
    arena_block *blocks; /* further blocks (the first is this allocation) */
    char *p, *end;       /* free part of the current block */
    size_t next_size;
};

static inline rv_arena *arena_of(const rv *v) { return ((rv_arena *const *)v)[-1]; }

static void arena_free_aux(rv *v)
{
    if (v->aux) v->aux->free_fn(v->aux);
    if (v->type >= RV_ARRAY)
        for (size_t i = 0; i < v->u.c.len; i++) {
            arena_free_aux(v->u.c.items[i]);
            if (v->u.c.vals) arena_free_aux(v->u.c.vals[i]);
        }
}

static void arena_release(rv_arena *a)
{
    if (a->has_aux && a->root) arena_free_aux(a->root);
    for (arena_block *b = a->blocks, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

static void arena_note_aux(const rv *v) { __atomic_store_n(&arena_of(v)->has_aux, 1, __ATOMIC_RELAXED); }

static void arena_flush(void)
{
    rv_arena *a = tls_pend_arena;
    int d = tls_pend_delta;
    tls_pend_arena = NULL;
    tls_pend_delta = 0;
    /* d == 0: nothing to add, and the arena may be gone (its last reference dropped
     * on another thread) */
    if (a && d && __atomic_add_fetch(&a->refcnt, d, __ATOMIC_ACQ_REL) == 0) arena_release(a);
}

static void arena_ref(rv *v)
{
    rv_arena *a = arena_of(v);
    if (tls_local > 0) { /* counted here until the evaluation ends (tls_pend_arena) */
        if (a != tls_pend_arena) {
            arena_flush();
            tls_pend_arena = a;
        }
        tls_pend_delta++;
        return;
    }
    __atomic_add_fetch(&a->refcnt, 1, __ATOMIC_RELAXED);
}

static void arena_unref(rv *v)
{
    rv_arena *a = arena_of(v);
    if (tls_local > 0) {
        if (a != tls_pend_arena) {
            arena_flush();
            tls_pend_arena = a;
        }
        tls_pend_delta--; /* released at the flush if that was the last reference */
        return;
    }
    /* the only reference is ours: nobody else can take one (see rv_unref) */
    if (__atomic_load_n(&a->refcnt, __ATOMIC_ACQUIRE) != 1 && __atomic_sub_fetch(&a->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    arena_release(a);
}

static rv_arena *arena_new(size_t text_len)
{
    /* a parsed document takes about twice its text (GuardDuty finding: 4 KB -> 7 KB) */
    size_t first = text_len * 2 + 256;
    if (first > ((size_t)256 << 10)) first = (size_t)256 << 10;
    rv_arena *a = rego_xmalloc(sizeof *a + first);
    memset(a, 0, sizeof *a);
    a->refcnt = 1;
    a->p = (char *)(a + 1);
    a->end = a->p + first;
    a->next_size = first < 4096 ? 8192 : first * 2;
    return a;
}

__attribute__((noinline)) static char *arena_grow(rv_arena *a, size_t need)
{
    size_t size = a->next_size;
    if (size < (size_t)1 << 20) a->next_size *= 2;
    bool own = need > size / 4; /* a big value gets a block of its own; the current one stays */
    if (own) size = need;
    arena_block *b = rego_xmalloc(sizeof *b + size);
    b->next = a->blocks;
    a->blocks = b;
    char *p = (char *)(b + 1);
    if (!own) {
        a->p = p + need;
        a->end = p + size;
    }
    return p;
}

/* n bytes for a member (8-aligned), after the word that points to the arena. */
static inline rv *arena_rv(rv_arena *a, size_t n)
{
    size_t need = (sizeof(rv_arena *) + n + 7) & ~(size_t)7;
    char *p = a->p;
    if ((size_t)(a->end - p) >= need) a->p = p + need;
    else p = arena_grow(a, need);
    *(rv_arena **)p = a;
    rv *v = (rv *)(p + sizeof(rv_arena *));
    v->refcnt = 1;
    v->local = RV_ARENA;
    v->inl = 0;
    v->nk = 0;
    v->aux = NULL;
    return v;
}

/* bytes for a member's data (number text), not a value */
static inline char *arena_bytes(rv_arena *a, size_t n)
{
    size_t need = (n + 7) & ~(size_t)7;
    char *p = a->p;
    if ((size_t)(a->end - p) >= need) a->p = p + need;
    else p = arena_grow(a, need);
    return p;
}

typedef struct {
    const char *s, *cur, *end;
    int depth;
    const char *err;
    rv_arena *a;
    rv **stk; /* members of the open containers, in order (objects: key, value) */
    size_t sp, scap;
    rv *stk0[256];
} jparse;

static const unsigned char jp_is_ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static inline void jp_ws(jparse *p)
{
    const char *c = p->cur, *e = p->end;
    if (c < e && !jp_is_ws[(unsigned char)*c]) return; /* compact JSON */
    while (c < e && jp_is_ws[(unsigned char)*c]) {
        c++;
        /* indentation of pretty-printed JSON: 8 spaces at a time */
        while (e - c >= 8) {
            uint64_t w;
            memcpy(&w, c, 8);
            if (w != 0x2020202020202020ULL) break;
            c += 8;
        }
    }
    p->cur = c;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* four hex digits at s (the caller checked there are four) */
static int jp_hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int d = hex_digit(s[k]);
        if (d < 0) return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
               o[2] = (char)(0x80 | (cp & 0x3F)), 3;
    o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* length of a valid UTF-8 sequence at s (n bytes available), 0 if invalid */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t l;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) l = 2, min = 0x80, c &= 0x1F;
    else if ((c & 0xF0) == 0xE0) l = 3, min = 0x800, c &= 0x0F;
    else if ((c & 0xF8) == 0xF0) l = 4, min = 0x10000, c &= 0x07;
    else return 0;
    if (l > n) return 0;
    for (size_t k = 1; k < l; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[k] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return l;
}

/* The bytes of w (8 bytes of text, little-endian) that end a plain run of a string:
 * '"', '\\', a control character or non-ASCII. Bit 7 of each such byte is set; the
 * lowest set bit is exact (borrows only make false marks above a true one). */
static inline uint64_t jp_special8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
}

static rv *jp_string(jparse *p)
{
    const char *c = ++p->cur, *e = p->end, *start = c; /* after the opening quote */
    bool simple = true;
    for (;;) {
        while (e - c >= 8) {
            uint64_t w;
            memcpy(&w, c, 8);
            uint64_t m = jp_special8(w);
            if (m) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                c += __builtin_ctzll(m) >> 3;
#endif
                break;
            }
            c += 8;
        }
        if (c >= e) {
            p->cur = c;
            return p->err = "unterminated string", NULL;
        }
        unsigned char ch = (unsigned char)*c;
        if (ch == '"') break;
        if (ch == '\\') {
            simple = false;
            c += 2;
            if (c > e) c = e;
            continue;
        }
        if (ch < 0x20) {
            p->cur = c;
            return p->err = "control character in string", NULL;
        }
        if (ch < 0x80) {
            c++;
            continue;
        }
        size_t l = utf8_seq((const unsigned char *)c, (size_t)(e - c));
        if (!l) {
            p->cur = c;
            return p->err = "invalid UTF-8 in string", NULL;
        }
        c += l;
    }
    size_t n = (size_t)(c - start);
    p->cur = c + 1;
    rv *v = arena_rv(p->a, sizeof(rv) + n + 1);
    v->type = RV_STRING;
    char *o = (char *)(v + 1);
    v->u.str.s = o;
    if (simple) {
        memcpy(o, start, n);
        o[n] = 0;
        v->u.str.len = n;
        v->u.str.pre = rvi_str_pre(o, n);
        return v;
    }
    /* decode the escapes (the text is never shorter than what it decodes to) */
    for (const char *i = start; i < c;) {
        const char *bs = memchr(i, '\\', (size_t)(c - i));
        if (!bs) bs = c;
        memcpy(o, i, (size_t)(bs - i));
        o += bs - i;
        i = bs;
        if (i >= c) break;
        i++;
        switch (*i++) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (c - i < 4 || jp_hex4(i, &cp)) goto bad_escape;
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate needs its low half */
                if (c - i < 6 || i[0] != '\\' || i[1] != 'u' || jp_hex4(i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    goto bad_escape;
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) goto bad_escape;
            o += utf8_put(o, cp);
            break;
        }
        default: goto bad_escape;
        }
    }
    *o = 0;
    v->u.str.len = (size_t)(o - v->u.str.s);
    v->u.str.pre = rvi_str_pre(v->u.str.s, v->u.str.len);
    return v;
bad_escape:
    p->err = "invalid escape in string";
    return NULL; /* the arena goes with the whole parse */
}

static inline int jp_str_cmp(const rv *a, const rv *b)
{
    if (a->u.str.pre != b->u.str.pre) return a->u.str.pre < b->u.str.pre ? -1 : 1;
    size_t m = a->u.str.len < b->u.str.len ? a->u.str.len : b->u.str.len;
    const unsigned char *x = (const unsigned char *)a->u.str.s, *y = (const unsigned char *)b->u.str.s;
    for (size_t i = 8; i < m; i++) /* the first 8 bytes are equal (pre) */
        if (x[i] != y[i]) return (int)x[i] - (int)y[i];
    return a->u.str.len < b->u.str.len ? -1 : a->u.str.len > b->u.str.len;
}

static int jp_key_cmp(const void *x, const void *y)
{
    rv *const *a = x, *const *b = y;
    int c = jp_str_cmp(a[0], b[0]);
    if (c) return c;
    /* equal keys: keep input order (the last one wins) */
    return (uintptr_t)a[2] < (uintptr_t)b[2] ? -1 : (uintptr_t)a[2] > (uintptr_t)b[2];
}

/* Sorts k (key, value) pairs by key, equal keys in input order. */
static void jp_sort_pairs(rv **pr, size_t k)
{
    if (k <= 32) { /* insertion sort: objects are small and often nearly sorted */
        for (size_t i = 1; i < k; i++) {
            rv *key = pr[2 * i], *val = pr[2 * i + 1];
            size_t j = i;
            while (j > 0 && jp_str_cmp(pr[2 * (j - 1)], key) > 0) {
                pr[2 * j] = pr[2 * (j - 1)];
                pr[2 * j + 1] = pr[2 * (j - 1) + 1];
                j--;
            }
            pr[2 * j] = key;
            pr[2 * j + 1] = val;
        }
        return;
    }
    rv **t = rego_xmalloc(3 * k * sizeof(rv *));
    for (size_t i = 0; i < k; i++) {
        t[3 * i] = pr[2 * i];
        t[3 * i + 1] = pr[2 * i + 1];
        t[3 * i + 2] = (rv *)(uintptr_t)i;
    }
    qsort(t, k, 3 * sizeof(rv *), jp_key_cmp);
    for (size_t i = 0; i < k; i++) {
        pr[2 * i] = t[3 * i];
        pr[2 * i + 1] = t[3 * i + 1];
    }
    free(t);
}

__attribute__((noinline)) static void jp_grow(jparse *p)
{
    rv **n = rego_xmalloc(2 * p->scap * sizeof(rv *));
    memcpy(n, p->stk, p->sp * sizeof(rv *));
    if (p->stk != p->stk0) free(p->stk);
    p->stk = n;
    p->scap *= 2;
}

static inline void jp_push(jparse *p, rv *v)
{
    if (p->sp == p->scap) jp_grow(p);
    p->stk[p->sp++] = v;
}

static rv *jp_number(jparse *p)
{
    const char *c = p->cur, *e = p->end, *st = c;
    bool neg = false, integral = true;
    if (*c == '-') neg = true, c++;
    uint64_t m = 0;
    const char *d0 = c;
    if (c < e && *c == '0') c++;
    else if (c < e && *c >= '1' && *c <= '9')
        while (c < e && *c >= '0' && *c <= '9') m = m * 10 + (uint64_t)(*c++ - '0');
    else return p->cur = c, p->err = "invalid number", NULL;
    size_t nd = (size_t)(c - d0);
    if (c < e && *c == '.') {
        integral = false;
        const char *d = ++c;
        while (c < e && *c >= '0' && *c <= '9') c++;
        if (c == d) return p->cur = c, p->err = "invalid number", NULL;
    }
    if (c < e && (*c == 'e' || *c == 'E')) {
        integral = false;
        c++;
        if (c < e && (*c == '+' || *c == '-')) c++;
        const char *d = c;
        while (c < e && *c >= '0' && *c <= '9') c++;
        if (c == d) return p->cur = c, p->err = "invalid number", NULL;
    }
    p->cur = c;
    size_t len = (size_t)(c - st);
    rv *v;
    if (integral && nd <= 18) { /* fits int64 */
        v = arena_rv(p->a, sizeof(rv));
        v->type = RV_NUMBER;
        v->nk = NK_INT;
        v->u.num.i = neg ? -(int64_t)m : (int64_t)m;
        v->u.num.d = (double)v->u.num.i;
        v->u.num.text = NULL;
        return v;
    }
    /* anything else exactly as rv_number_from_text makes it, then moved into the arena */
    rv *h = rv_number_from_text(st, len);
    if (!h) return p->err = "invalid number", NULL;
    v = arena_rv(p->a, sizeof(rv));
    v->type = RV_NUMBER;
    v->nk = h->nk;
    v->u.num = h->u.num;
    if (h->u.num.text) {
        size_t tl = strlen(h->u.num.text) + 1;
        v->u.num.text = memcpy(arena_bytes(p->a, tl), h->u.num.text, tl);
    }
    rv_unref(h);
    return v;
}

static rv *jp_value(jparse *p)
{
    jp_ws(p);
    if (p->cur >= p->end) return p->err = "unexpected end of input", NULL;
    char c = *p->cur;
    if (c == '"') return jp_string(p);
    if (c == '{' || c == '[') {
        if (++p->depth > 2048) return p->err = "nesting too deep", NULL;
        p->cur++;
        bool obj = c == '{';
        char close = obj ? '}' : ']';
        size_t base = p->sp;
        jp_ws(p);
        if (p->cur < p->end && *p->cur == close) p->cur++;
        else
            for (;;) {
                if (obj) {
                    jp_ws(p);
                    if (p->cur >= p->end || *p->cur != '"') return p->err = "expected string key", NULL;
                    rv *key = jp_string(p);
                    if (!key) return NULL;
                    jp_ws(p);
                    if (p->cur >= p->end || *p->cur != ':') return p->err = "expected ':'", NULL;
                    p->cur++;
                    jp_push(p, key);
                }
                rv *val = jp_value(p);
                if (!val) return NULL;
                jp_push(p, val);
                jp_ws(p);
                if (p->cur < p->end && *p->cur == ',') {
                    p->cur++;
                    continue;
                }
                if (p->cur < p->end && *p->cur == close) {
                    p->cur++;
                    break;
                }
                return p->err = obj ? "expected ',' or '}'" : "expected ',' or ']'", NULL;
            }
        p->depth--;
        rv **it = p->stk + base;
        size_t n = p->sp - base, k = obj ? n / 2 : n;
        if (obj && k > 1) {
            jp_sort_pairs(it, k);
            size_t m = 0; /* drop all but the last of equal keys */
            for (size_t i = 0; i < k; i++) {
                if (i + 1 < k && jp_str_cmp(it[2 * i], it[2 * (i + 1)]) == 0) continue;
                it[2 * m] = it[2 * i];
                it[2 * m + 1] = it[2 * i + 1];
                m++;
            }
            k = m;
        }
        rv *v = arena_rv(p->a, sizeof(rv) + k * (obj ? 2 : 1) * sizeof(rv *));
        v->type = obj ? RV_OBJECT : RV_ARRAY;
        v->inl = 1;
        v->u.c.len = v->u.c.cap = k;
        v->u.c.items = (rv **)(v + 1);
        v->u.c.vals = NULL;
        if (obj) {
            v->u.c.vals = v->u.c.items + k;
            for (size_t i = 0; i < k; i++) {
                v->u.c.items[i] = it[2 * i];
                v->u.c.vals[i] = it[2 * i + 1];
            }
        } else if (k) memcpy(v->u.c.items, it, k * sizeof(rv *));
        p->sp = base;
        return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return jp_number(p);
    size_t left = (size_t)(p->end - p->cur);
    if (left >= 4 && memcmp(p->cur, "null", 4) == 0) return p->cur += 4, rv_null();
    if (left >= 4 && memcmp(p->cur, "true", 4) == 0) return p->cur += 4, rv_bool(true);
    if (left >= 5 && memcmp(p->cur, "false", 5) == 0) return p->cur += 5, rv_bool(false);
    return p->err = "invalid token", NULL;
}

rv *rv_from_json_text(const char *text, size_t len, char *errbuf, size_t errlen)
{
    if (!text) text = "", len = 0;
    jparse p;
    p.s = p.cur = text;
    p.end = text + len;
    p.depth = 0;
    p.err = NULL;
    p.a = arena_new(len);
    p.stk = p.stk0;
    p.sp = 0;
    p.scap = sizeof p.stk0 / sizeof p.stk0[0];
    rv *v = jp_value(&p);
    if (v) {
        jp_ws(&p);
        if (p.cur < p.end) {
            v = NULL;
            p.err = "end of file expected";
        }
    }
    if (p.stk != p.stk0) free(p.stk);
    if (!v || v->local != RV_ARENA) { /* error, or a shared singleton */
        arena_release(p.a);
        if (!v && errbuf && errlen) {
            int line = 1, col = 1;
            for (const char *i = text; i < p.cur && i < p.end; i++) {
                if (*i == '\n') line++, col = 1;
                else col++;
            }
            snprintf(errbuf, errlen, "%d:%d: %s", line, col, p.err ? p.err : "invalid JSON");
        }
        return v;
    }
    p.a->root = v;
    return v;
}

/* html (JSON text, not Rego term text): as Go's json.Marshal writes a string, so
 * <, >, & U+2028 and U+2029 escaped, and each byte of invalid UTF-8 (OPA's strings
 * may hold any bytes, e.g. from base64.decode) written as \ufffd. */
static void sb_json_string(rego_buf *b, const char *s, size_t n, bool html)
{
    rego_buf_putn(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': rego_buf_putn(b, "\\\"", 2); break;
        case '\\': rego_buf_putn(b, "\\\\", 2); break;
        case '\n': rego_buf_putn(b, "\\n", 2); break;
        case '\r': rego_buf_putn(b, "\\r", 2); break;
        case '\t': rego_buf_putn(b, "\\t", 2); break;
        case '<': html ? rego_buf_putn(b, "\\u003c", 6) : rego_buf_putn(b, "<", 1); break;
        case '>': html ? rego_buf_putn(b, "\\u003e", 6) : rego_buf_putn(b, ">", 1); break;
        case '&': html ? rego_buf_putn(b, "\\u0026", 6) : rego_buf_putn(b, "&", 1); break;
        default:
            if (c < 0x20) {
                rego_buf_printf(b, "\\u%04x", c);
            } else if (c >= 0x80 && html) {
                size_t w;
                uint32_t cp = rego_utf8_decode((const unsigned char *)s + i, n - i, &w);
                if (cp == 0xFFFD && w == 1) rego_buf_putn(b, "\\ufffd", 6);
                else if (cp == 0x2028 || cp == 0x2029) rego_buf_printf(b, "\\u%04x", (unsigned)cp);
                else rego_buf_putn(b, s + i, w);
                i += w - 1;
            } else rego_buf_putn(b, (const char *)&s[i], 1);
        }
    }
    rego_buf_putn(b, "\"", 1);
}

static void to_text(rego_buf *b, const rv *v, bool rego)
{
    switch (v->type) {
    case RV_NULL: rego_buf_puts(b, "null"); break;
    case RV_BOOL: rego_buf_puts(b, v->u.b ? "true" : "false"); break;
    case RV_NUMBER: {
        char *t = rv_number_text(v);
        rego_buf_puts(b, t);
        free(t);
        break;
    }
    case RV_STRING: sb_json_string(b, v->u.str.s, v->u.str.len, !rego); break;
    case RV_ARRAY:
        rego_buf_puts(b, "[");
        for (size_t i = 0; i < v->u.c.len; i++) {
            if (i) rego_buf_puts(b, rego ? ", " : ",");
            to_text(b, v->u.c.items[i], rego);
        }
        rego_buf_puts(b, "]");
        break;
    case RV_SET:
        if (rego && v->u.c.len == 0) {
            rego_buf_puts(b, "set()");
            break;
        }
        rego_buf_puts(b, rego ? "{" : "[");
        for (size_t i = 0; i < v->u.c.len; i++) {
            if (i) rego_buf_puts(b, rego ? ", " : ",");
            to_text(b, v->u.c.items[i], rego);
        }
        rego_buf_puts(b, rego ? "}" : "]");
        break;
    case RV_OBJECT:
        rego_buf_puts(b, "{");
        for (size_t i = 0; i < v->u.c.len; i++) {
            if (i) rego_buf_puts(b, rego ? ", " : ",");
            const rv *k = v->u.c.items[i];
            if (k->type == RV_STRING || rego) to_text(b, k, rego);
            else {
                char *t = rv_to_json_text(k);
                sb_json_string(b, t, strlen(t), true);
                free(t);
            }
            rego_buf_puts(b, rego ? ": " : ":");
            to_text(b, v->u.c.vals[i], rego);
        }
        rego_buf_puts(b, "}");
        break;
    }
}

char *rv_to_json_text(const rv *v)
{
    rego_buf b = {0};
    to_text(&b, v, false);
    return b.p;
}

char *rv_to_rego_text(const rv *v)
{
    rego_buf b = {0};
    to_text(&b, v, true);
    return b.p;
}
