/* Rego builtins: units.parse, units.parse_bytes, semver.is_valid, semver.compare,
 * uuid.rfc4122, uuid.parse, rand.intn.
 *
 * units.*: the amount is kept exact as decimal digits times a power of ten, so
 * "0.0005K" is exactly 0.5 (OPA uses big.Rat for the same reason); binary units
 * multiply the digit string by 2^(10k). The result goes to the value layer as
 * number text, which keeps arbitrary precision.
 *
 * semver follows the lenient coreos/go-semver rules OPA vendors: "+meta" then
 * "-prerelease" are split off, the rest must be three dot-separated int64s, and
 * identifiers must match [0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*.
 *
 * uuid.rfc4122 and rand.intn are nondeterministic: their result is cached in the
 * evaluation's cache under "<name>\x1f<args>" so repeated calls with the same
 * arguments agree (OPA's semantics). Randomness comes from libuuid and OpenSSL's
 * RAND_bytes, both thread-safe. No static mutable state here.
 */
#include "rego/builtins.h"

#include <openssl/rand.h>
#include <uuid/uuid.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- units ------------------------------------------------------------ */

#define UNITS_MAX_EXP 1000000

/* OPA's split of "<number><unit>": the number is digits, '.', signs and an 'e'/'E'
 * exponent when a digit or sign follows it; the unit is the rest. */
static size_t units_split(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!isdigit((unsigned char)c) && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-') return i;
        if (c == 'e' || c == 'E') {
            if (i == n - 1 || (!isdigit((unsigned char)s[i + 1]) && s[i + 1] != '+' && s[i + 1] != '-')) return i;
            if (s[i + 1] == '+' || s[i + 1] == '-') i++;
        }
    }
    return n;
}

typedef struct {
    bool neg;
    char *digits; /* NEW, most significant first, no leading zeros ("" for zero) */
    size_t ndigits;
    long exp; /* value = digits * 10^exp */
} units_dec;

/* Parses a decimal like big.Rat/big.Float would: [sign] digits [. digits] [e [sign] digits].
 * Returns 0, -1 malformed, -2 exponent too large, -3 OOM. */
static int units_parse_dec(const char *s, size_t n, units_dec *d)
{
    size_t i = 0;
    memset(d, 0, sizeof *d);
    if (i < n && (s[i] == '+' || s[i] == '-')) d->neg = s[i++] == '-';
    d->digits = malloc(n + 1);
    if (d->digits == NULL) return -3;
    size_t nd = 0, intd = 0, fracd = 0;
    while (i < n && isdigit((unsigned char)s[i])) {
        d->digits[nd++] = s[i++];
        intd++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && isdigit((unsigned char)s[i])) {
            d->digits[nd++] = s[i++];
            fracd++;
        }
    }
    if (intd + fracd == 0) return -1;
    long e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        if (i >= n || !isdigit((unsigned char)s[i])) return -1;
        while (i < n && isdigit((unsigned char)s[i])) {
            if (e <= UNITS_MAX_EXP * 10L) e = e * 10 + (s[i] - '0');
            i++;
        }
        if (eneg) e = -e;
    }
    if (i != n) return -1;
    if (e > UNITS_MAX_EXP || e < -UNITS_MAX_EXP) return -2;
    d->exp = e - (long)fracd;
    /* strip leading zeros */
    size_t lz = 0;
    while (lz < nd && d->digits[lz] == '0') lz++;
    memmove(d->digits, d->digits + lz, nd - lz);
    d->ndigits = nd - lz;
    d->digits[d->ndigits] = '\0';
    return 0;
}

/* digits *= m (m < 2^60), in place; the buffer is reallocated. Returns -1 on OOM. */
static int units_mul_small(units_dec *d, uint64_t m)
{
    if (d->ndigits == 0 || m == 1) return 0;
    size_t cap = d->ndigits + 21;
    char *r = malloc(cap + 1);
    if (r == NULL) return -1;
    /* produce digits least significant first into r */
    size_t rn = 0;
    unsigned __int128 carry = 0;
    for (size_t i = d->ndigits; i-- > 0;) {
        unsigned __int128 v = (unsigned __int128)(d->digits[i] - '0') * m + carry;
        r[rn++] = (char)('0' + (int)(v % 10));
        carry = v / 10;
    }
    while (carry > 0) {
        r[rn++] = (char)('0' + (int)(carry % 10));
        carry /= 10;
    }
    while (rn > 1 && r[rn - 1] == '0') rn--;
    for (size_t i = 0; i < rn / 2; i++) {
        char t = r[i];
        r[i] = r[rn - 1 - i];
        r[rn - 1 - i] = t;
    }
    r[rn] = '\0';
    free(d->digits);
    d->digits = r;
    d->ndigits = rn;
    return 0;
}

/* Renders d as JSON number text; truncate drops the fraction (toward zero).
 * NEW string or NULL on OOM / absurd size. */
static char *units_dec_text(const units_dec *d, bool truncate)
{
    if (d->ndigits == 0) return strdup("0");
    long exp = d->exp;
    size_t nd = d->ndigits;
    /* trailing zeros of the digit string move into the exponent */
    while (nd > 1 && d->digits[nd - 1] == '0' && exp < 0) {
        nd--;
        exp++;
    }
    if (exp > 2L * UNITS_MAX_EXP || exp < -2L * UNITS_MAX_EXP) return NULL;
    size_t cap = nd + (exp > 0 ? (size_t)exp : (size_t)(-exp)) + 4;
    char *t = malloc(cap);
    if (t == NULL) return NULL;
    size_t k = 0;
    if (d->neg) t[k++] = '-';
    if (exp >= 0) {
        memcpy(t + k, d->digits, nd);
        k += nd;
        memset(t + k, '0', (size_t)exp);
        k += (size_t)exp;
    } else {
        size_t frac = (size_t)(-exp);
        if (frac >= nd) {
            if (truncate) {
                free(t);
                return strdup("0");
            }
            t[k++] = '0';
            t[k++] = '.';
            memset(t + k, '0', frac - nd);
            k += frac - nd;
            memcpy(t + k, d->digits, nd);
            k += nd;
        } else {
            memcpy(t + k, d->digits, nd - frac);
            k += nd - frac;
            if (!truncate) {
                t[k++] = '.';
                memcpy(t + k, d->digits + nd - frac, frac);
                k += frac;
            }
        }
    }
    t[k] = '\0';
    return t;
}

typedef struct {
    const char *unit;
    int pow10; /* multiply by 10^pow10 */
    int pow2;  /* then by 2^pow2 */
} units_def;

static const units_def units_si[] = {
    {"", 0, 0},    {"m", -3, 0},  {"k", 3, 0},   {"K", 3, 0},   {"ki", 0, 10}, {"Ki", 0, 10}, {"M", 6, 0},
    {"mi", 0, 20}, {"Mi", 0, 20}, {"g", 9, 0},   {"G", 9, 0},   {"gi", 0, 30}, {"Gi", 0, 30}, {"t", 12, 0},
    {"T", 12, 0},  {"ti", 0, 40}, {"Ti", 0, 40}, {"p", 15, 0},  {"P", 15, 0},  {"pi", 0, 50}, {"Pi", 0, 50},
    {"e", 18, 0},  {"E", 18, 0},  {"ei", 0, 60}, {"Ei", 0, 60}, {NULL, 0, 0},
};

static const units_def units_bytes[] = {
    {"", 0, 0},     {"kb", 3, 0},   {"k", 3, 0},    {"kib", 0, 10}, {"ki", 0, 10},  {"mb", 6, 0},   {"m", 6, 0},
    {"mib", 0, 20}, {"mi", 0, 20},  {"gb", 9, 0},   {"g", 9, 0},    {"gib", 0, 30}, {"gi", 0, 30},  {"tb", 12, 0},
    {"t", 12, 0},   {"tib", 0, 40}, {"ti", 0, 40},  {"pb", 15, 0},  {"p", 15, 0},   {"pib", 0, 50}, {"pi", 0, 50},
    {"eb", 18, 0},  {"e", 18, 0},   {"eib", 0, 60}, {"ei", 0, 60},  {NULL, 0, 0},
};

static int units_common(rego_bctx *ctx, const rv *arg, bool bytes, rv **out)
{
    const char *name = bytes ? "units.parse_bytes" : "units.parse";
    size_t n = rv_strlen(arg);
    const char *src = rv_str(arg);
    char *s = malloc(n + 1);
    if (s == NULL) return rego_bctx_errorf(ctx, "%s: out of memory", name);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '"') continue;
        s[m++] = bytes ? (char)tolower((unsigned char)src[i]) : src[i];
    }
    s[m] = '\0';
    int rc = REGO_ERR;
    units_dec d = {0};
    if (memchr(s, ' ', m) != NULL) {
        rego_bctx_errorf(ctx, "%s: spaces not allowed in resource strings", name);
        goto out;
    }
    size_t split = units_split(s, m);
    if (split == 0) {
        rego_bctx_errorf(ctx, "%s: no %samount provided", name, bytes ? "byte " : "");
        goto out;
    }
    char *unit = s + split;
    /* units.parse: only the letters after the first are case-insensitive (m vs M). */
    if (!bytes)
        for (char *p = unit + (*unit ? 1 : 0); *p; p++) *p = (char)tolower((unsigned char)*p);
    const units_def *u = bytes ? units_bytes : units_si;
    while (u->unit && strcmp(u->unit, unit) != 0) u++;
    if (u->unit == NULL) {
        rego_bctx_errorf(ctx, "%s: %sunit %s not recognized", name, bytes ? "byte " : "", unit);
        goto out;
    }
    int prc = units_parse_dec(s, split, &d);
    if (prc == -1) {
        rego_bctx_errorf(ctx, "%s: could not parse %samount to a number", name, bytes ? "byte " : "");
        goto out;
    }
    if (prc == -2) {
        rego_bctx_errorf(ctx, "%s: exponent too large", name);
        goto out;
    }
    if (prc < 0 || units_mul_small(&d, (uint64_t)1 << u->pow2) < 0) {
        rego_bctx_errorf(ctx, "%s: out of memory", name);
        goto out;
    }
    d.exp += u->pow10;
    char *text = units_dec_text(&d, bytes);
    /* a 700000-digit integer took minutes to convert (found by fuzzing); OPA
     * would build it, nobody means it */
    if (text && strlen(text) > 4096) {
        free(text);
        text = NULL;
    }
    if (text == NULL) {
        rego_bctx_errorf(ctx, "%s: exponent too large", name);
        goto out;
    }
    *out = rv_number_from_text(text, strlen(text));
    free(text);
    if (*out == NULL) {
        rego_bctx_errorf(ctx, "%s: could not parse %samount to a number", name, bytes ? "byte " : "");
        goto out;
    }
    rc = REGO_OK;
out:
    free(d.digits);
    free(s);
    return rc;
}

static int bi_units_parse(rego_bctx *ctx, rv *const *args, rv **out) { return units_common(ctx, args[0], false, out); }

static int bi_units_parse_bytes(rego_bctx *ctx, rv *const *args, rv **out)
{
    return units_common(ctx, args[0], true, out);
}

/* ---- semver ----------------------------------------------------------- */

typedef struct {
    int64_t v[3];
    const char *pre; /* points into the caller's copy; "" if none */
} semver_t;

/* [0-9A-Za-z-]+(\.[0-9A-Za-z-]+)* or empty */
static bool semver_ident_ok(const char *s)
{
    if (*s == '\0') return true;
    bool need = true;
    for (; *s; s++) {
        if (*s == '.') {
            if (need) return false;
            need = true;
        } else if (isalnum((unsigned char)*s) || *s == '-') {
            need = false;
        } else {
            return false;
        }
    }
    return !need;
}

/* strconv.ParseInt(s, 10, 64) */
static bool semver_parse_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i >= n) return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        if (v > (UINT64_C(1) << 63) / 10) return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > (UINT64_C(1) << 63)) return false;
    }
    if (!neg && v > (uint64_t)INT64_MAX) return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* buf is a modifiable copy of the version text. */
static bool semver_parse(char *buf, semver_t *sv)
{
    char *plus = strchr(buf, '+');
    if (plus) {
        *plus = '\0';
        if (!semver_ident_ok(plus + 1)) return false;
    }
    char *dash = strchr(buf, '-');
    sv->pre = "";
    if (dash) {
        *dash = '\0';
        sv->pre = dash + 1;
    }
    /* strings.SplitN(version, ".", 3): the third part keeps any further dots */
    char *p = buf;
    for (int i = 0; i < 3; i++) {
        char *dot = i < 2 ? strchr(p, '.') : NULL;
        if (i < 2 && dot == NULL) return false;
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!semver_parse_int(p, len, &sv->v[i])) return false;
        p = dot ? dot + 1 : p + len;
    }
    return semver_ident_ok(sv->pre);
}

static bool semver_atoi(const char *s, size_t n, int64_t *out) { return semver_parse_int(s, n, out); }

static int semver_pre_compare(const char *a, const char *b)
{
    for (;;) {
        if (*a == '\0') return *b ? -1 : 0;
        if (*b == '\0') return 1;
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        int64_t ia = 0, ib = 0;
        bool na = semver_atoi(a, la, &ia), nb = semver_atoi(b, lb, &ib);
        if (na && !nb) return -1;
        if (!na && nb) return 1;
        if (na && nb && ia != ib) return ia > ib ? 1 : -1;
        size_t l = la < lb ? la : lb;
        int c = memcmp(a, b, l);
        if (c != 0) return c > 0 ? 1 : -1;
        if (la != lb) return la > lb ? 1 : -1;
        a += la;
        b += lb;
        if (*a == '.') a++;
        if (*b == '.') b++;
    }
}

static int semver_compare(const semver_t *a, const semver_t *b)
{
    for (int i = 0; i < 3; i++)
        if (a->v[i] != b->v[i]) return a->v[i] > b->v[i] ? 1 : -1;
    if (*a->pre == '\0' && *b->pre != '\0') return 1;
    if (*b->pre == '\0' && *a->pre != '\0') return -1;
    return semver_pre_compare(a->pre, b->pre);
}

static int bi_semver_is_valid(rego_bctx *ctx, rv *const *args, rv **out)
{
    if (rv_typeof(args[0]) != RV_STRING) {
        *out = rv_bool(false);
        return REGO_OK;
    }
    char *buf = strndup(rv_str(args[0]), rv_strlen(args[0]));
    if (buf == NULL) return rego_bctx_errorf(ctx, "semver.is_valid: out of memory");
    semver_t sv;
    bool ok = strlen(buf) == rv_strlen(args[0]) && semver_parse(buf, &sv);
    free(buf);
    *out = rv_bool(ok);
    return REGO_OK;
}

static int bi_semver_compare(rego_bctx *ctx, rv *const *args, rv **out)
{
    char *buf[2] = {NULL, NULL};
    semver_t sv[2];
    int rc = REGO_OK;
    for (int i = 0; i < 2; i++) {
        buf[i] = strndup(rv_str(args[i]), rv_strlen(args[i]));
        if (buf[i] == NULL) {
            rc = rego_bctx_errorf(ctx, "semver.compare: out of memory");
            goto out;
        }
        if (strlen(buf[i]) != rv_strlen(args[i]) || !semver_parse(buf[i], &sv[i])) {
            rc = rego_bctx_errorf(ctx, "semver.compare: operand %d: string \"%s\" is not a valid SemVer", i + 1,
                                  rv_str(args[i]));
            goto out;
        }
    }
    *out = rv_int(semver_compare(&sv[0], &sv[1]));
out:
    free(buf[0]);
    free(buf[1]);
    return rc;
}

/* ---- uuid ------------------------------------------------------------- */

static char *misc_cache_key(const char *name, rv *const *args, int nargs)
{
    size_t len = strlen(name) + 1;
    char *parts[4] = {NULL};
    for (int i = 0; i < nargs; i++) {
        parts[i] = rv_to_json_text(args[i]);
        if (parts[i] == NULL) goto fail;
        len += strlen(parts[i]) + 1;
    }
    char *key = malloc(len);
    if (key == NULL) goto fail;
    strcpy(key, name);
    for (int i = 0; i < nargs; i++) {
        strcat(key, "\x1f");
        strcat(key, parts[i]);
        free(parts[i]);
    }
    return key;
fail:
    for (int i = 0; i < nargs; i++) free(parts[i]);
    return NULL;
}

static int bi_uuid_rfc4122(rego_bctx *ctx, rv *const *args, rv **out)
{
    char *key = misc_cache_key("uuid.rfc4122", args, 1);
    if (key == NULL) return rego_bctx_errorf(ctx, "uuid.rfc4122: out of memory");
    rv *cached = rego_bctx_cache_get(ctx, key);
    if (cached) {
        free(key);
        *out = rv_ref(cached);
        return REGO_OK;
    }
    uuid_t u;
    char text[37];
    uuid_generate_random(u);
    uuid_unparse_lower(u, text);
    rv *v = rv_string(text, 36);
    rego_bctx_cache_put(ctx, key, rv_ref(v));
    free(key);
    *out = v;
    return REGO_OK;
}

static int uuid_hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* google/uuid Parse: 36 chars with dashes, {..}, urn:uuid:.., or 32 hex digits. */
static bool uuid_parse_text(const char *s, size_t n, unsigned char u[16])
{
    if (n == 45) {
        if (strncasecmp(s, "urn:uuid:", 9) != 0) return false;
        s += 9;
        n = 36;
    } else if (n == 38) {
        if (s[0] != '{' || s[37] != '}') return false;
        s++;
        n = 36;
    } else if (n == 32) {
        for (int i = 0; i < 16; i++) {
            int a = uuid_hex(s[2 * i]), b = uuid_hex(s[2 * i + 1]);
            if (a < 0 || b < 0) return false;
            u[i] = (unsigned char)(a << 4 | b);
        }
        return true;
    }
    if (n != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
    static const int pos[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
    for (int i = 0; i < 16; i++) {
        int a = uuid_hex(s[pos[i]]), b = uuid_hex(s[pos[i] + 1]);
        if (a < 0 || b < 0) return false;
        u[i] = (unsigned char)(a << 4 | b);
    }
    return true;
}

static void obj_set_cstr(rv *obj, const char *k, rv *v) { rv_object_set(obj, rv_cstring(k), v); }

static int bi_uuid_parse(rego_bctx *ctx, rv *const *args, rv **out)
{
    (void)ctx;
    unsigned char u[16];
    if (!uuid_parse_text(rv_str(args[0]), rv_strlen(args[0]), u)) return REGO_UNDEF;
    int version = u[6] >> 4;
    const char *variant;
    if ((u[8] & 0xc0) == 0x80) variant = "RFC4122";
    else if ((u[8] & 0xe0) == 0xc0) variant = "Microsoft";
    else if ((u[8] & 0xe0) == 0xe0) variant = "Future";
    else variant = "Reserved";
    rv *obj = rv_object_new(8);
    obj_set_cstr(obj, "version", rv_int(version));
    obj_set_cstr(obj, "variant", rv_cstring(variant));
    if (version == 1 || version == 2) {
        uint32_t low = (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
        uint32_t mid = (uint32_t)u[4] << 8 | u[5];
        uint32_t hi = ((uint32_t)u[6] << 8 | u[7]) & 0xfff;
        /* google/uuid's Time() keeps time_low even for v2, where it holds the id */
        int64_t t = (int64_t)low | (int64_t)mid << 32 | (int64_t)hi << 48;
        /* 100ns ticks since 1582-10-15 -> Unix ns */
        int64_t since = t - INT64_C(122192928000000000);
        int64_t sec = since / 10000000, nsec = (since % 10000000) * 100;
        obj_set_cstr(obj, "time", rv_int(sec * 1000000000 + nsec));
        obj_set_cstr(obj, "clocksequence", rv_int(((u[8] << 8) | u[9]) & 0x3fff));
        char node[18];
        snprintf(node, sizeof node, "%02x-%02x-%02x-%02x-%02x-%02x", u[10], u[11], u[12], u[13], u[14], u[15]);
        obj_set_cstr(obj, "nodeid", rv_cstring(node));
        char mac[32];
        snprintf(mac, sizeof mac, "%s:%s", (u[10] & 2) ? "local" : "global", (u[10] & 1) ? "multicast" : "unicast");
        obj_set_cstr(obj, "macvariables", rv_cstring(mac));
        if (version == 2) {
            const char *dom[] = {"Person", "Group", "Org"};
            char dbuf[16];
            if (u[9] < 3) {
                obj_set_cstr(obj, "domain", rv_cstring(dom[u[9]]));
            } else {
                snprintf(dbuf, sizeof dbuf, "Domain%d", u[9]);
                obj_set_cstr(obj, "domain", rv_cstring(dbuf));
            }
            obj_set_cstr(obj, "id", rv_int((int64_t)low));
        }
    }
    *out = obj;
    return REGO_OK;
}

/* ---- rand ------------------------------------------------------------- */

static int bi_rand_intn(rego_bctx *ctx, rv *const *args, rv **out)
{
    int64_t n;
    if (!rv_number_as_int64(args[1], &n))
        return rego_bctx_type_errorf(ctx, "rand.intn: operand 2 must be integer number but got floating-point number");
    if (n == 0) {
        *out = rv_int(0);
        return REGO_OK;
    }
    uint64_t un = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    char *key = misc_cache_key("rand.intn", args, 2);
    if (key == NULL) return rego_bctx_errorf(ctx, "rand.intn: out of memory");
    rv *cached = rego_bctx_cache_get(ctx, key);
    if (cached) {
        free(key);
        *out = rv_ref(cached);
        return REGO_OK;
    }
    /* rejection sampling for an unbiased value in [0, un) */
    uint64_t limit = UINT64_MAX - UINT64_MAX % un, r;
    do {
        if (RAND_bytes((unsigned char *)&r, sizeof r) != 1) {
            free(key);
            return rego_bctx_errorf(ctx, "rand.intn: random source failed");
        }
    } while (r >= limit);
    rv *v = rv_int((int64_t)(r % un));
    rego_bctx_cache_put(ctx, key, rv_ref(v));
    free(key);
    *out = v;
    return REGO_OK;
}

const rego_builtin_def rego_builtins_misc[] = {
    {"units.parse", 1, bi_units_parse, {"string"}, 0},
    {"units.parse_bytes", 1, bi_units_parse_bytes, {"string"}, 0},
    {"semver.is_valid", 1, bi_semver_is_valid, {"any"}, 0},
    {"semver.compare", 2, bi_semver_compare, {"string", "string"}, 0},
    {"uuid.rfc4122", 1, bi_uuid_rfc4122, {"string"}, REGO_BUILTIN_NONDETERMINISTIC},
    {"uuid.parse", 1, bi_uuid_parse, {"string"}, 0},
    {"rand.intn", 2, bi_rand_intn, {"string", "number"}, REGO_BUILTIN_NONDETERMINISTIC},
    {NULL, 0, NULL, {NULL}, 0},
};
