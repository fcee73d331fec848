/* String builtins: concat, split, replace, trim*, case, search, substring,
 * format_int, sprintf and the strings.* family, with OPA v1 semantics.
 *
 * Rego strings are UTF-8; OPA (Go) indexes them by rune for substring/indexof and
 * by byte nowhere user-visible, so every index here is a rune index. Invalid UTF-8
 * bytes count as one rune each (Go decodes them as U+FFFD, width 1).
 *
 * sprintf follows Go's fmt the way OPA feeds it: integers arrive as Go int64s (or
 * *big.Int when they do not fit int64), numbers written with a '.' as float64, other
 * numbers ("1e3", or overflowing float64) as their text, strings as strings, and every other value as its
 * Rego text (so %s of true prints "true" while %t of true is a bad verb, exactly as
 * in OPA). Unsupported combinations print Go's %!v(type=value) markers.
 *
 * Case mapping uses the C.UTF-8 locale through towlower_l/towupper_l, which is
 * thread-safe; the locale is created once.
 */
#include "rego/alloc.h"
#include "rego/builtins.h"
#include "rego/value_int.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

/* ------------------------------------------------------------ utilities */

/* A builder bounded by the evaluation's memory budget (see sb_done). */
#define SB_LIMITED(ctx)                                                                                                \
    {                                                                                                                  \
        .limit = rego_bctx_mem_left(ctx) == SIZE_MAX ? 0 : rego_bctx_mem_left(ctx) + 1                                 \
    }

static void sb_repeat(rego_buf *b, char c, long n)
{
    for (long i = 0; i < n; i++) rego_buf_putc(b, c);
}
/* The result of a bounded builder: REGO_OK with *out, or the memory-limit error. */
static int sb_done(rego_bctx *ctx, rego_buf *b, rv **out)
{
    if (b->over) {
        rego_buf_free(b);
        rego_bctx_may_alloc(ctx, SIZE_MAX); /* records the memory-limit error */
        return REGO_ERR;
    }
    *out = rego_buf_take(b);
    return REGO_OK;
}

static size_t utf8_enc(uint32_t cp, char *out)
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Byte offsets of every rune start, plus the total length as a last entry. NEW, free(). */
static size_t *rune_offsets(const char *s, size_t n, size_t *count)
{
    size_t *off = rego_xmalloc((n + 1) * sizeof *off);
    size_t k = 0, i = 0;
    while (i < n) {
        size_t w;
        rego_utf8_decode((const unsigned char *)s + i, n - i, &w);
        off[k++] = i;
        i += w;
    }
    off[k] = n;
    *count = k;
    return off;
}

static const char *memfind(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    return memmem(h, hn, nd, nn);
}

/* An integer operand; OPA's message for anything else. */
static int int_operand(rego_bctx *ctx, const char *fn, int pos, const rv *v, int64_t *out)
{
    if (rv_typeof(v) != RV_NUMBER)
        return rego_bctx_type_errorf(ctx, "%s: operand %d must be number but got %s", fn, pos, rv_type_name(v));
    if (!rv_number_is_integer(v) || !rv_number_as_int64(v, out))
        return rego_bctx_type_errorf(ctx, "%s: operand %d must be integer number but got floating-point number", fn,
                                     pos);
    return REGO_OK;
}

/* Checks that every element of an array or set is a string. */
static int strings_elems(rego_bctx *ctx, const char *fn, int pos, const rv *c)
{
    size_t n = rv_len(c);
    bool set = rv_typeof(c) == RV_SET;
    for (size_t i = 0; i < n; i++) {
        const rv *e = set ? rv_set_at(c, i) : rv_array_at(c, i);
        if (rv_typeof(e) != RV_STRING)
            return rego_bctx_type_errorf(ctx, "%s: operand %d must be %s of strings but got %s containing %s", fn, pos,
                                         set ? "set" : "array", set ? "set" : "array", rv_type_name(e));
    }
    return REGO_OK;
}

static const rv *coll_at(const rv *c, size_t i) { return rv_typeof(c) == RV_SET ? rv_set_at(c, i) : rv_array_at(c, i); }

/* ------------------------------------------------------------ simple ones */

static int bi_concat(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (rv_typeof(a[1]) != RV_ARRAY && rv_typeof(a[1]) != RV_SET)
        return rego_bctx_type_errorf(ctx, "concat: operand 2 must be one of {set, array} but got %s",
                                     rv_type_name(a[1]));
    if (strings_elems(ctx, "concat", 2, a[1]) != REGO_OK) return REGO_ERR;
    rego_buf b = SB_LIMITED(ctx);
    size_t n = rv_len(a[1]);
    for (size_t i = 0; i < n && !b.over; i++) {
        if (i) rego_buf_putn(&b, rv_str(a[0]), rv_strlen(a[0]));
        const rv *e = coll_at(a[1], i);
        rego_buf_putn(&b, rv_str(e), rv_strlen(e));
    }
    return sb_done(ctx, &b, out);
}

/* Go's strings.Split (n < 0: all parts). */
static rv *split_all(const char *s, size_t n, const char *sep, size_t sn)
{
    rv *arr = rv_array_new(4);
    if (sn == 0) {
        size_t i = 0, w;
        while (i < n) {
            rego_utf8_decode((const unsigned char *)s + i, n - i, &w);
            rv_array_push(arr, rv_string(s + i, w));
            i += w;
        }
        return arr;
    }
    const char *p = s, *end = s + n, *q;
    while ((q = memfind(p, (size_t)(end - p), sep, sn)) != NULL) {
        rv_array_push(arr, rv_string(p, (size_t)(q - p)));
        p = q + sn;
    }
    rv_array_push(arr, rv_string(p, (size_t)(end - p)));
    return arr;
}

static int bi_split(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = split_all(rv_str(a[0]), rv_strlen(a[0]), rv_str(a[1]), rv_strlen(a[1]));
    return REGO_OK;
}

/* strings.split_n: the first n parts (n > 0) or the last -n parts (n < 0). */
static int bi_split_n(rego_bctx *ctx, rv *const *a, rv **out)
{
    int64_t n;
    if (int_operand(ctx, "strings.split_n", 3, a[2], &n) != REGO_OK) return REGO_ERR;
    rv *all = split_all(rv_str(a[0]), rv_strlen(a[0]), rv_str(a[1]), rv_strlen(a[1]));
    size_t len = rv_len(all), from = 0, to = 0;
    if (n > 0) to = (uint64_t)n < len ? (size_t)n : len;
    else if (n < 0) {
        uint64_t m = (uint64_t)(-(n + 1)) + 1;
        from = m < len ? len - (size_t)m : 0;
        to = len;
    }
    rv *r = rv_array_new(to - from);
    for (size_t i = from; i < to; i++) rv_array_push(r, rv_ref(rv_array_at(all, i)));
    rv_unref(all);
    *out = r;
    return REGO_OK;
}

/* Go's strings.Replace(s, old, new, -1). */
static void replace_all(rego_buf *b, const char *s, size_t n, const char *old, size_t on, const char *nw, size_t nn)
{
    if (on == 0) {
        size_t i = 0, w;
        rego_buf_putn(b, nw, nn);
        while (i < n) {
            rego_utf8_decode((const unsigned char *)s + i, n - i, &w);
            rego_buf_putn(b, s + i, w);
            rego_buf_putn(b, nw, nn);
            i += w;
        }
        return;
    }
    const char *p = s, *end = s + n, *q;
    while ((q = memfind(p, (size_t)(end - p), old, on)) != NULL) {
        rego_buf_putn(b, p, (size_t)(q - p));
        rego_buf_putn(b, nw, nn);
        p = q + on;
    }
    rego_buf_putn(b, p, (size_t)(end - p));
}

static int bi_replace(rego_bctx *ctx, rv *const *a, rv **out)
{
    rego_buf b = SB_LIMITED(ctx);
    replace_all(&b, rv_str(a[0]), rv_strlen(a[0]), rv_str(a[1]), rv_strlen(a[1]), rv_str(a[2]), rv_strlen(a[2]));
    return sb_done(ctx, &b, out);
}

/* strings.replace_n(patterns, s): Go's strings.NewReplacer with the pairs in key
 * order; at each position the first pattern (in that order) that matches wins. */
static int bi_replace_n(rego_bctx *ctx, rv *const *a, rv **out)
{
    const rv *pat = a[0];
    size_t np = rv_len(pat);
    for (size_t i = 0; i < np; i++) {
        if (rv_typeof(rv_object_key_at(pat, i)) != RV_STRING)
            return rego_bctx_type_errorf(ctx, "strings.replace_n: operand 1 non-string key found in pattern object");
        if (rv_typeof(rv_object_val_at(pat, i)) != RV_STRING)
            return rego_bctx_type_errorf(ctx, "strings.replace_n: operand 1 non-string value found in pattern object");
    }
    const char *s = rv_str(a[1]);
    size_t n = rv_strlen(a[1]);
    rego_buf b = SB_LIMITED(ctx);
    rego_buf_putn(&b, "", 0);
    size_t i = 0;
    bool prev_empty = false;
    while (i <= n && !b.over) {
        size_t k;
        for (k = 0; k < np; k++) {
            const rv *key = rv_object_key_at(pat, k);
            size_t kl = rv_strlen(key);
            if (kl == 0 && prev_empty) continue; /* Go never matches "" twice at one spot */
            if (kl <= n - i && memcmp(s + i, rv_str(key), kl) == 0) break;
        }
        if (k < np) {
            const rv *key = rv_object_key_at(pat, k), *val = rv_object_val_at(pat, k);
            rego_buf_putn(&b, rv_str(val), rv_strlen(val));
            size_t kl = rv_strlen(key);
            if (kl) {
                i += kl;
                prev_empty = false;
                continue;
            }
            prev_empty = true;
        } else prev_empty = false;
        if (i == n) break;
        size_t w;
        rego_utf8_decode((const unsigned char *)s + i, n - i, &w);
        rego_buf_putn(&b, s + i, w);
        i += w;
        prev_empty = false;
    }
    return sb_done(ctx, &b, out);
}

static bool cutset_has(const char *cs, size_t cn, uint32_t r)
{
    size_t i = 0, w;
    while (i < cn) {
        uint32_t c = rego_utf8_decode((const unsigned char *)cs + i, cn - i, &w);
        if (c == r) return true;
        i += w;
    }
    return false;
}

/* Go's unicode.IsSpace. */
static bool is_space_rune(uint32_t r)
{
    switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return r >= 0x2000 && r <= 0x200A;
    }
}

/* Trims runes from the left and/or right while keep() says they belong to the set. */
static rv *trim_runes(const rv *str, const char *cs, size_t cn, bool left, bool right, bool space)
{
    const char *s = rv_str(str);
    size_t n = rv_strlen(str), cnt;
    size_t *off = rune_offsets(s, n, &cnt);
    size_t lo = 0, hi = cnt;
    while (left && lo < hi) {
        size_t w;
        uint32_t r = rego_utf8_decode((const unsigned char *)s + off[lo], n - off[lo], &w);
        if (space ? !is_space_rune(r) : !cutset_has(cs, cn, r)) break;
        lo++;
    }
    while (right && hi > lo) {
        size_t w;
        uint32_t r = rego_utf8_decode((const unsigned char *)s + off[hi - 1], n - off[hi - 1], &w);
        if (space ? !is_space_rune(r) : !cutset_has(cs, cn, r)) break;
        hi--;
    }
    rv *r = rv_string(s + off[lo], off[hi] - off[lo]);
    free(off);
    return r;
}

static int bi_trim(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = trim_runes(a[0], rv_str(a[1]), rv_strlen(a[1]), true, true, false);
    return REGO_OK;
}
static int bi_trim_left(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = trim_runes(a[0], rv_str(a[1]), rv_strlen(a[1]), true, false, false);
    return REGO_OK;
}
static int bi_trim_right(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = trim_runes(a[0], rv_str(a[1]), rv_strlen(a[1]), false, true, false);
    return REGO_OK;
}
static int bi_trim_space(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = trim_runes(a[0], NULL, 0, true, true, true);
    return REGO_OK;
}

static bool has_prefix(const rv *s, const rv *p)
{
    return rv_strlen(p) <= rv_strlen(s) && memcmp(rv_str(s), rv_str(p), rv_strlen(p)) == 0;
}
static bool has_suffix(const rv *s, const rv *p)
{
    size_t n = rv_strlen(s), m = rv_strlen(p);
    return m <= n && memcmp(rv_str(s) + n - m, rv_str(p), m) == 0;
}

static int bi_trim_prefix(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (has_prefix(a[0], a[1])) *out = rv_string(rv_str(a[0]) + rv_strlen(a[1]), rv_strlen(a[0]) - rv_strlen(a[1]));
    else *out = rv_ref(a[0]);
    return REGO_OK;
}
static int bi_trim_suffix(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (has_suffix(a[0], a[1])) *out = rv_string(rv_str(a[0]), rv_strlen(a[0]) - rv_strlen(a[1]));
    else *out = rv_ref(a[0]);
    return REGO_OK;
}

static locale_t g_utf8_loc;
static pthread_once_t g_loc_once = PTHREAD_ONCE_INIT;
static void loc_init(void) { g_utf8_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0); }
__attribute__((destructor)) static void loc_fini(void)
{
    if (g_utf8_loc) freelocale(g_utf8_loc);
    g_utf8_loc = (locale_t)0;
}

static rv *map_case(const rv *str, bool upper)
{
    pthread_once(&g_loc_once, loc_init);
    const char *s = rv_str(str);
    size_t n = rv_strlen(str), i = 0, w;
    rego_buf b = {0};
    rego_buf_putn(&b, "", 0);
    while (i < n) {
        uint32_t r = rego_utf8_decode((const unsigned char *)s + i, n - i, &w);
        if (r < 0x80) {
            char c = s[i];
            if (upper && c >= 'a' && c <= 'z') c = (char)(c - 32);
            if (!upper && c >= 'A' && c <= 'Z') c = (char)(c + 32);
            rego_buf_putc(&b, c);
        } else if (r == 0xFFFD && w == 1) {
            rego_buf_putn(&b, "\xEF\xBF\xBD", 3); /* Go rewrites invalid bytes */
        } else {
            uint32_t m = r;
            if (g_utf8_loc)
                m = (uint32_t)(upper ? towupper_l((wint_t)r, g_utf8_loc) : towlower_l((wint_t)r, g_utf8_loc));
            char enc[4];
            rego_buf_putn(&b, enc, utf8_enc(m, enc));
        }
        i += w;
    }
    return rego_buf_take(&b);
}

static int bi_lower(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = map_case(a[0], false);
    return REGO_OK;
}
static int bi_upper(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = map_case(a[0], true);
    return REGO_OK;
}

static int bi_startswith(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = rv_bool(has_prefix(a[0], a[1]));
    return REGO_OK;
}
static int bi_endswith(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = rv_bool(has_suffix(a[0], a[1]));
    return REGO_OK;
}
static int bi_contains(rego_bctx *ctx, rv *const *a, rv **out)
{
    *out = rv_bool(memfind(rv_str(a[0]), rv_strlen(a[0]), rv_str(a[1]), rv_strlen(a[1])) != NULL);
    return REGO_OK;
}

/* Rune index of every occurrence (overlapping), or only the first. */
static rv *rune_indexes(const rv *base, const rv *search, bool all)
{
    const char *s = rv_str(base), *q = rv_str(search);
    size_t n = rv_strlen(base), m = rv_strlen(search), i = 0, w;
    int64_t ri = 0;
    rv *arr = all ? rv_array_new(4) : NULL;
    while (i < n && m <= n - i) {
        if (memcmp(s + i, q, m) == 0) {
            if (!all) return rv_int(ri);
            rv_array_push(arr, rv_int(ri));
        }
        rego_utf8_decode((const unsigned char *)s + i, n - i, &w);
        i += w;
        ri++;
    }
    return all ? arr : rv_int(-1);
}

static int bi_indexof(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (rv_strlen(a[1]) == 0) return rego_bctx_errorf(ctx, "indexof: empty search character");
    *out = rune_indexes(a[0], a[1], false);
    return REGO_OK;
}
static int bi_indexof_n(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (rv_strlen(a[1]) == 0) return rego_bctx_errorf(ctx, "indexof_n: empty search character");
    *out = rune_indexes(a[0], a[1], true);
    return REGO_OK;
}

static int bi_substring(rego_bctx *ctx, rv *const *a, rv **out)
{
    int64_t start, length;
    if (int_operand(ctx, "substring", 2, a[1], &start) != REGO_OK) return REGO_ERR;
    if (int_operand(ctx, "substring", 3, a[2], &length) != REGO_OK) return REGO_ERR;
    if (start < 0) return rego_bctx_errorf(ctx, "substring: negative offset");
    const char *s = rv_str(a[0]);
    size_t n = rv_strlen(a[0]), cnt;
    size_t *off = rune_offsets(s, n, &cnt);
    if ((uint64_t)start >= cnt) *out = rv_string("", 0);
    else {
        size_t end = cnt;
        if (length >= 0 && (uint64_t)length < cnt - (size_t)start) end = (size_t)start + (size_t)length;
        *out = rv_string(s + off[start], off[end] - off[start]);
    }
    free(off);
    return REGO_OK;
}

static int bi_reverse(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (rv_typeof(a[0]) != RV_STRING)
        return rego_bctx_type_errorf(ctx, "reverse: operand 1 must be string but got %s", rv_type_name(a[0]));
    const char *s = rv_str(a[0]);
    size_t n = rv_strlen(a[0]), cnt;
    size_t *off = rune_offsets(s, n, &cnt);
    char *buf = rego_xmalloc(n + 1);
    size_t w = 0;
    for (size_t k = cnt; k-- > 0;) {
        memcpy(buf + w, s + off[k], off[k + 1] - off[k]);
        w += off[k + 1] - off[k];
    }
    *out = rv_string(buf, w);
    free(buf);
    free(off);
    return REGO_OK;
}

/* Go's strings.Count: non-overlapping; the empty string counts runes + 1. */
static int bi_count(rego_bctx *ctx, rv *const *a, rv **out)
{
    const char *s = rv_str(a[0]), *q = rv_str(a[1]);
    size_t n = rv_strlen(a[0]), m = rv_strlen(a[1]);
    if (m == 0) {
        *out = rv_int((int64_t)rego_utf8_count(s, n) + 1);
        return REGO_OK;
    }
    int64_t c = 0;
    const char *p = s, *end = s + n, *hit;
    while ((hit = memfind(p, (size_t)(end - p), q, m)) != NULL) {
        c++;
        p = hit + m;
    }
    *out = rv_int(c);
    return REGO_OK;
}

/* strings.any_prefix_match / any_suffix_match: string, array or set on both sides. */
static int any_match(rego_bctx *ctx, rv *const *a, rv **out, const char *fn, bool prefix)
{
    for (int k = 0; k < 2; k++) {
        rv_type t = rv_typeof(a[k]);
        if (t != RV_STRING && t != RV_ARRAY && t != RV_SET)
            return rego_bctx_type_errorf(ctx, "%s: operand %d must be one of {string, set, array} but got %s", fn,
                                         k + 1, rv_type_name(a[k]));
        if (t != RV_STRING && strings_elems(ctx, fn, k + 1, a[k]) != REGO_OK) return REGO_ERR;
    }
    size_t ns = rv_typeof(a[0]) == RV_STRING ? 1 : rv_len(a[0]);
    size_t np = rv_typeof(a[1]) == RV_STRING ? 1 : rv_len(a[1]);
    bool hit = false;
    for (size_t i = 0; i < ns && !hit; i++) {
        const rv *s = rv_typeof(a[0]) == RV_STRING ? a[0] : coll_at(a[0], i);
        for (size_t j = 0; j < np && !hit; j++) {
            const rv *p = rv_typeof(a[1]) == RV_STRING ? a[1] : coll_at(a[1], j);
            hit = prefix ? has_prefix(s, p) : has_suffix(s, p);
        }
    }
    *out = rv_bool(hit);
    return REGO_OK;
}
static int bi_any_prefix(rego_bctx *ctx, rv *const *a, rv **out)
{
    return any_match(ctx, a, out, "strings.any_prefix_match", true);
}
static int bi_any_suffix(rego_bctx *ctx, rv *const *a, rv **out)
{
    return any_match(ctx, a, out, "strings.any_suffix_match", false);
}

/* ------------------------------------------------------------ format_int */

/* Integer part (truncated toward zero) of a number's decimal text, as digits and a sign.
 * NEW digit string ("0" for zero), free(). */
static char *int_digits(const rv *num, bool *neg)
{
    char *t = rv_number_text(num);
    const char *p = t;
    *neg = false;
    if (*p == '-' || *p == '+') *neg = (*p++ == '-');
    size_t cap = strlen(p) + 2;
    char *mant = rego_xmalloc(cap);
    size_t ml = 0;
    long point = -1;
    for (; *p && *p != 'e' && *p != 'E'; p++) {
        if (*p == '.') point = (long)ml;
        else mant[ml++] = *p;
    }
    if (point < 0) point = (long)ml;
    long exp = (*p == 'e' || *p == 'E') ? strtol(p + 1, NULL, 10) : 0;
    /* strtol saturates at LONG_MAX/MIN: keep point + exp from overflowing */
    if (exp > 1000000) exp = 1000000;
    if (exp < -1000000) exp = -1000000;
    long intlen = point + exp;
    char *out;
    if (intlen <= 0) {
        out = strdup("0");
    } else {
        if (intlen > 100000) intlen = 100000; /* absurd exponents: cap the work */
        out = rego_xmalloc((size_t)intlen + 1);
        for (long i = 0; i < intlen; i++) out[i] = i < (long)ml ? mant[i] : '0';
        out[intlen] = 0;
    }
    free(mant);
    free(t);
    /* strip leading zeros */
    size_t z = 0;
    while (out[z] == '0' && out[z + 1]) z++;
    if (z) memmove(out, out + z, strlen(out + z) + 1);
    if (strcmp(out, "0") == 0) *neg = false;
    return out;
}

/* Converts decimal digits to another base by repeated division. NEW string. */
static char *digits_to_base(const char *dec, int base)
{
    size_t n = strlen(dec);
    unsigned char *d = rego_xmalloc(n);
    for (size_t i = 0; i < n; i++) d[i] = (unsigned char)(dec[i] - '0');
    size_t cap = n * 4 + 2, ol = 0;
    char *o = rego_xmalloc(cap);
    size_t start = 0;
    while (start < n && d[start] == 0) start++;
    if (start == n) o[ol++] = '0';
    while (start < n) {
        unsigned rem = 0;
        for (size_t i = start; i < n; i++) {
            unsigned cur = rem * 10 + d[i];
            d[i] = (unsigned char)(cur / (unsigned)base);
            rem = cur % (unsigned)base;
        }
        o[ol++] = "0123456789abcdef"[rem];
        while (start < n && d[start] == 0) start++;
    }
    for (size_t i = 0; i < ol / 2; i++) {
        char c = o[i];
        o[i] = o[ol - 1 - i];
        o[ol - 1 - i] = c;
    }
    o[ol] = 0;
    free(d);
    return o;
}

static int bi_format_int(rego_bctx *ctx, rv *const *a, rv **out)
{
    int64_t base;
    if (!rv_number_as_int64(a[1], &base) || (base != 2 && base != 8 && base != 10 && base != 16))
        return rego_bctx_type_errorf(ctx, "format_int: operand 2 must be one of {2, 8, 10, 16}");
    bool neg;
    char *dec = int_digits(a[0], &neg);
    /* conversion is quadratic in the digits: refuse absurd magnitudes (1e300000)
     * rather than spend minutes (found by fuzzing) */
    if (strlen(dec) > 4096) {
        free(dec);
        return rego_bctx_errorf(ctx, "format_int: operand 1 is too large");
    }
    char *s = base == 10 ? strdup(dec) : digits_to_base(dec, (int)base);
    if (!s) abort();
    rego_buf b = {0};
    if (neg) rego_buf_putc(&b, '-');
    rego_buf_puts(&b, s);
    free(s);
    free(dec);
    *out = rego_buf_take(&b);
    return REGO_OK;
}

/* ------------------------------------------------------------ sprintf */

enum { ARG_INT, ARG_BIG, ARG_FLOAT, ARG_STR };

typedef struct {
    int kind;
    int64_t i;
    double f;
    char *s; /* ARG_BIG: decimal digits with optional '-'; ARG_STR: bytes (owned unless borrowed) */
    size_t sl;
    bool borrowed; /* s points into the argument value (a string operand): not freed */
} farg;

typedef struct {
    bool minus, plus, sharp, space, zero;
    bool wid_set, prec_set;
    long wid, prec;
} fflags;

/* Appends s padded to the width (counted in runes). */
static void pad(rego_buf *b, const fflags *f, const char *s, size_t n, bool zero_ok)
{
    long w = f->wid_set ? f->wid : 0;
    if (w <= 0 || (size_t)w <= n / 4) { /* no padding possible: skip counting runes */
        rego_buf_putn(b, s, n);
        return;
    }
    long rc = (long)rego_utf8_count(s, n);
    if (w <= rc) {
        rego_buf_putn(b, s, n);
        return;
    }
    if (f->minus) {
        rego_buf_putn(b, s, n);
        sb_repeat(b, ' ', w - rc);
    } else if (f->zero && zero_ok) {
        /* sign before the zeros */
        if (n && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) {
            rego_buf_putc(b, s[0]);
            sb_repeat(b, '0', w - rc);
            rego_buf_putn(b, s + 1, n - 1);
        } else {
            sb_repeat(b, '0', w - rc);
            rego_buf_putn(b, s, n);
        }
    } else {
        sb_repeat(b, ' ', w - rc);
        rego_buf_putn(b, s, n);
    }
}

/* Integer formatting from an unsigned magnitude in decimal digits (any size). */
static void fmt_integer(rego_buf *b, const fflags *f, bool neg, const char *dec, char verb)
{
    int base = 10;
    bool upper = false;
    switch (verb) {
    case 'b': base = 2; break;
    case 'o':
    case 'O': base = 8; break;
    case 'x': base = 16; break;
    case 'X': base = 16, upper = true; break;
    default: break;
    }
    char *digits = base == 10 ? strdup(dec) : digits_to_base(dec, base);
    if (upper)
        for (char *p = digits; *p; p++)
            if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 32);
    rego_buf t = {0};
    rego_buf_putn(&t, "", 0);
    if (neg) rego_buf_putc(&t, '-');
    else if (f->plus) rego_buf_putc(&t, '+');
    else if (f->space) rego_buf_putc(&t, ' ');
    if (verb == 'O') rego_buf_puts(&t, "0o");
    if (f->sharp) {
        if (verb == 'x') rego_buf_puts(&t, "0x");
        else if (verb == 'X') rego_buf_puts(&t, "0X");
        else if (verb == 'b') rego_buf_puts(&t, "0b");
        else if (verb == 'o' && digits[0] != '0') rego_buf_puts(&t, "0");
    }
    size_t dl = strlen(digits);
    if (f->prec_set) {
        if (f->prec == 0 && strcmp(digits, "0") == 0) dl = 0; /* %.0d of 0 prints nothing */
        else if ((long)dl < f->prec) sb_repeat(&t, '0', f->prec - (long)dl);
    }
    rego_buf_putn(&t, digits, dl);
    free(digits);
    /* precision disables zero padding */
    fflags g = *f;
    if (f->prec_set) g.zero = false;
    if (g.zero && !g.minus && g.wid_set && (f->sharp || verb == 'O')) {
        /* zeros go after the prefix: emulate by padding digits */
        long rc = (long)t.len;
        if (rc < g.wid) {
            size_t pre = (neg || f->plus || f->space) ? 1 : 0;
            pre += (verb == 'O' || (f->sharp && (verb == 'x' || verb == 'X' || verb == 'b'))) ? 2 : 0;
            rego_buf_putn(b, t.p, pre);
            sb_repeat(b, '0', g.wid - rc);
            rego_buf_putn(b, t.p + pre, t.len - pre);
            free(t.p);
            return;
        }
    }
    pad(b, &g, t.p, t.len, true);
    free(t.p);
}

static void u64_to_dec(uint64_t u, char *buf) { snprintf(buf, 24, "%llu", (unsigned long long)u); }

/* Shortest round-trip digits of |d| in %e form: fills digits (no dot) and the decimal exponent. */
static void shortest_digits(double d, char *digits, int *exp10)
{
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, fabs(d));
        if (strtod(buf, NULL) == fabs(d)) break;
    }
    char *e = strchr(buf, 'e');
    *exp10 = atoi(e + 1);
    size_t k = 0;
    for (char *p = buf; p < e; p++)
        if (*p != '.') digits[k++] = *p;
    digits[k] = 0;
    while (k > 1 && digits[k - 1] == '0') digits[--k] = 0;
}

/* Go's %e layout from digits: d.ddddde±XX with prec digits after the dot (-1: all). */
static void lay_e(rego_buf *t, const char *dg, int exp10, int prec, char e)
{
    size_t nd = strlen(dg);
    rego_buf_putc(t, dg[0]);
    int after = prec < 0 ? (int)nd - 1 : prec;
    if (after > 0) {
        rego_buf_putc(t, '.');
        for (int i = 1; i <= after; i++) rego_buf_putc(t, (size_t)i < nd ? dg[i] : '0');
    }
    char eb[16];
    if (dg[0] == '0') exp10 = 0;
    snprintf(eb, sizeof eb, "%c%c%02d", e, exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    rego_buf_puts(t, eb);
}

/* Go's %f layout from digits: prec digits after the dot (-1: as many as needed). */
static void lay_f(rego_buf *t, const char *dg, int exp10, int prec)
{
    size_t nd = strlen(dg);
    int dp = exp10 + 1; /* digits before the point */
    if (dg[0] == '0') dp = 1;
    if (dp <= 0) rego_buf_putc(t, '0');
    for (int i = 0; i < dp; i++) rego_buf_putc(t, (size_t)i < nd && dg[0] != '0' ? dg[i] : '0');
    int after = prec;
    if (prec < 0) after = (int)nd - dp > 0 ? (int)nd - dp : 0;
    if (after > 0) {
        rego_buf_putc(t, '.');
        for (int i = 0; i < after; i++) {
            int idx = dp + i;
            rego_buf_putc(t, idx >= 0 && (size_t)idx < nd ? dg[idx] : '0');
        }
    }
}

/* Digits of |d| rounded to n significant digits (n >= 1), trailing zeros removed. */
static void rounded_digits(double d, int n, char *digits, int *exp10)
{
    char buf[400];
    if (n > 300) n = 300;
    snprintf(buf, sizeof buf, "%.*e", n - 1, fabs(d));
    char *e = strchr(buf, 'e');
    *exp10 = atoi(e + 1);
    size_t k = 0;
    for (char *p = buf; p < e; p++)
        if (*p != '.') digits[k++] = *p;
    digits[k] = 0;
    while (k > 1 && digits[k - 1] == '0') digits[--k] = 0;
}

static void fmt_float(rego_buf *b, const fflags *f, double d, char verb)
{
    rego_buf t = {0};
    rego_buf_putn(&t, "", 0);
    bool neg = signbit(d);
    if (neg) rego_buf_putc(&t, '-');
    else if (f->plus) rego_buf_putc(&t, '+');
    else if (f->space) rego_buf_putc(&t, ' ');
    long prec = f->prec_set ? f->prec : -1;
    char dg[420];
    int ex;
    switch (verb) {
    case 'e':
    case 'E': {
        if (prec < 0) prec = 6;
        rounded_digits(d, (int)prec + 1, dg, &ex);
        lay_e(&t, dg, ex, (int)prec, verb);
        break;
    }
    case 'f':
    case 'F': {
        if (prec < 0) prec = 6;
        char buf[512];
        snprintf(buf, sizeof buf, "%.*f", (int)(prec > 300 ? 300 : prec), fabs(d));
        rego_buf_puts(&t, buf);
        break;
    }
    case 'x':
    case 'X': {
        char buf[128];
        if (prec >= 0) snprintf(buf, sizeof buf, verb == 'x' ? "%.*a" : "%.*A", (int)prec, fabs(d));
        else snprintf(buf, sizeof buf, verb == 'x' ? "%a" : "%A", fabs(d));
        /* Go writes at least two exponent digits */
        char *p = strchr(buf, verb == 'x' ? 'p' : 'P');
        if (p && (p[1] == '+' || p[1] == '-') && p[2] && !p[3]) {
            memmove(p + 3, p + 2, 2);
            p[2] = '0';
        }
        rego_buf_puts(&t, buf);
        break;
    }
    default: { /* g, G, v */
        char e = verb == 'G' ? 'E' : 'e';
        int eprec;
        if (prec < 0) {
            shortest_digits(d, dg, &ex);
            eprec = 6;
            if (d == 0) ex = 0;
            int x = ex;
            if (x < -4 || x >= eprec) lay_e(&t, dg, ex, -1, e);
            else lay_f(&t, dg, ex, -1);
        } else {
            if (prec == 0) prec = 1;
            rounded_digits(d, (int)prec, dg, &ex);
            if (d == 0) ex = 0;
            int nd = (int)strlen(dg);
            eprec = (int)prec;
            if (eprec > nd && nd >= ex + 1) eprec = nd;
            if (ex < -4 || ex >= eprec) lay_e(&t, dg, ex, nd - 1, e);
            else lay_f(&t, dg, ex, nd - (ex + 1) > 0 ? nd - (ex + 1) : 0);
        }
        break;
    }
    }
    fflags g = *f;
    pad(b, &g, t.p, t.len, true);
    free(t.p);
}

/* Go's strconv.Quote (QuoteToASCII when ascii_only), see builtins.h. */
void rego_go_quote(rego_buf *t, const char *s, size_t n, bool ascii_only)
{
    rego_buf_putc(t, '"');
    size_t i = 0, w;
    while (i < n) {
        uint32_t r = rego_utf8_decode((const unsigned char *)s + i, n - i, &w);
        if (r == 0xFFFD && w == 1) {
            rego_buf_printf(t, "\\x%02x", (unsigned char)s[i]);
        } else if (r == '"' || r == '\\') {
            rego_buf_putc(t, '\\');
            rego_buf_putc(t, (char)r);
        } else if (r >= 0x20 && r < 0x7F) {
            rego_buf_putc(t, (char)r);
        } else if (r < 0x20 || r == 0x7F) {
            switch (r) {
            case '\a': rego_buf_puts(t, "\\a"); break;
            case '\b': rego_buf_puts(t, "\\b"); break;
            case '\f': rego_buf_puts(t, "\\f"); break;
            case '\n': rego_buf_puts(t, "\\n"); break;
            case '\r': rego_buf_puts(t, "\\r"); break;
            case '\t': rego_buf_puts(t, "\\t"); break;
            case '\v': rego_buf_puts(t, "\\v"); break;
            default: rego_buf_printf(t, "\\x%02x", r);
            }
        } else if (!ascii_only && r >= 0xA0 && r != 0xAD && !(r >= 0x2028 && r <= 0x2029) && r != 0xFEFF) {
            rego_buf_putn(t, s + i, w); /* approximately Go's IsPrint */
        } else if (r < 0x10000) {
            rego_buf_printf(t, "\\u%04x", r);
        } else {
            rego_buf_printf(t, "\\U%08x", r);
        }
        i += w;
    }
    rego_buf_putc(t, '"');
}

static void fmt_string(rego_buf *b, const fflags *f, const char *s, size_t n, char verb)
{
    if (f->prec_set) { /* precision truncates to runes */
        size_t i = 0, k = 0, w;
        while (i < n && (long)k < f->prec) {
            rego_utf8_decode((const unsigned char *)s + i, n - i, &w);
            i += w;
            k++;
        }
        n = i;
    }
    if (verb == 's' || verb == 'v') {
        pad(b, f, s, n, true);
        return;
    }
    rego_buf t = {0};
    rego_buf_putn(&t, "", 0);
    if (verb == 'q') {
        if (f->sharp && !memchr(s, '`', n)) {
            rego_buf_putc(&t, '`');
            rego_buf_putn(&t, s, n);
            rego_buf_putc(&t, '`');
        } else rego_go_quote(&t, s, n, f->plus);
    } else { /* x, X */
        const char *hex = verb == 'x' ? "0123456789abcdef" : "0123456789ABCDEF";
        for (size_t i = 0; i < n; i++) {
            if (f->space && i) rego_buf_putc(&t, ' ');
            if (f->sharp && (f->space || i == 0)) rego_buf_puts(&t, verb == 'x' ? "0x" : "0X");
            rego_buf_putc(&t, hex[(unsigned char)s[i] >> 4]);
            rego_buf_putc(&t, hex[(unsigned char)s[i] & 15]);
        }
    }
    pad(b, f, t.p, t.len, true);
    free(t.p);
}

static const char *arg_type_name(const farg *a)
{
    switch (a->kind) {
    case ARG_INT: return "int64";
    case ARG_BIG: return "*big.Int";
    case ARG_FLOAT: return "float64";
    default: return "string";
    }
}

static void fmt_arg(rego_buf *b, const fflags *f, const farg *a, char verb);

static void bad_verb(rego_buf *b, const farg *a, char verb)
{
    rego_buf_puts(b, "%!");
    rego_buf_putc(b, verb);
    rego_buf_putc(b, '(');
    if (!a) {
        rego_buf_puts(b, "MISSING)");
        return;
    }
    /* big.Int formats its own bad verbs: "%!q(big.Int=1...)", no '*' */
    rego_buf_puts(b, a->kind == ARG_BIG ? "big.Int" : arg_type_name(a));
    rego_buf_putc(b, '=');
    fflags none = {0};
    fmt_arg(b, &none, a, 'v');
    rego_buf_putc(b, ')');
}

static void fmt_arg(rego_buf *b, const fflags *f, const farg *a, char verb)
{
    if (verb == 'T') {
        pad(b, f, arg_type_name(a), strlen(arg_type_name(a)), false);
        return;
    }
    switch (a->kind) {
    case ARG_INT:
    case ARG_BIG: {
        bool neg;
        char dec[24];
        const char *digits;
        if (a->kind == ARG_INT) {
            neg = a->i < 0;
            u64_to_dec(neg ? (uint64_t)0 - (uint64_t)a->i : (uint64_t)a->i, dec);
            digits = dec;
        } else {
            neg = a->s[0] == '-';
            digits = neg ? a->s + 1 : a->s;
        }
        switch (verb) {
        case 'd':
        case 'v':
        case 'b':
        case 'o':
        case 'O':
        case 'x':
        case 'X': fmt_integer(b, f, neg, digits, verb); return;
        case 's':
            if (a->kind == ARG_BIG) {
                fmt_integer(b, f, neg, digits, 'd');
                return;
            }
            break;
        case 'c':
        case 'q':
        case 'U':
            if (a->kind == ARG_INT) {
                int64_t v = a->i;
                uint32_t r = (v < 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) ? 0xFFFD : (uint32_t)v;
                char enc[4], buf[32];
                size_t el = utf8_enc(r, enc);
                rego_buf t = {0};
                rego_buf_putn(&t, "", 0);
                if (verb == 'c') rego_buf_putn(&t, enc, el);
                else if (verb == 'U') {
                    snprintf(buf, sizeof buf, "U+%04llX", (unsigned long long)(v < 0 ? 0 : v));
                    rego_buf_puts(&t, buf);
                    if (f->sharp) {
                        rego_buf_puts(&t, " '");
                        rego_buf_putn(&t, enc, el);
                        rego_buf_putc(&t, '\'');
                    }
                } else {
                    rego_buf_putc(&t, '\'');
                    if (r == '\'') rego_buf_puts(&t, "\\'");
                    else if (r == '\n') rego_buf_puts(&t, "\\n");
                    else if (r == '\t') rego_buf_puts(&t, "\\t");
                    else if (r < 0x20) {
                        rego_buf_printf(&t, "\\x%02x", r);
                    } else rego_buf_putn(&t, enc, el);
                    rego_buf_putc(&t, '\'');
                }
                pad(b, f, t.p, t.len, false);
                free(t.p);
                return;
            }
            break;
        default: break;
        }
        bad_verb(b, a, verb);
        return;
    }
    case ARG_FLOAT:
        switch (verb) {
        case 'v':
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
        case 'x':
        case 'X': fmt_float(b, f, a->f, verb); return;
        default: bad_verb(b, a, verb); return;
        }
    default:
        switch (verb) {
        case 'v':
        case 's':
        case 'q':
        case 'x':
        case 'X': fmt_string(b, f, a->s, a->sl, verb); return;
        default: bad_verb(b, a, verb); return;
        }
    }
}

static void args_free(farg *args, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!args[i].borrowed) free(args[i].s);
    free(args);
}

/* Converts Rego values to what OPA hands Go's fmt. */
static farg *args_make(const rv *arr)
{
    size_t n = rv_len(arr);
    farg *args = rego_xcalloc(n ? n : 1, sizeof *args);
    for (size_t i = 0; i < n; i++) {
        const rv *v = rv_array_at(arr, i);
        farg *a = &args[i];
        if (rv_typeof(v) == RV_NUMBER) {
            /* OPA: Int() if the text is an int64, else big.Int if it is an integer,
             * else float64, else (overflow) the text itself */
            char *t = rv_number_text(v);
            bool plain_int = t[0] && t[strspn(t, "-0123456789")] == 0;
            if (plain_int && rv_number_as_int64(v, &a->i)) {
                a->kind = ARG_INT;
                free(t);
            } else if (plain_int) {
                a->kind = ARG_BIG;
                a->s = t;
            } else {
                double d = strtod(t, NULL);
                /* OPA 1.19 hands an exponent-only number ("1e3", no '.') to fmt as its text */
                if (isinf(d) || isnan(d) || !strchr(t, '.')) {
                    a->kind = ARG_STR;
                    a->s = t;
                    a->sl = strlen(t);
                } else {
                    a->kind = ARG_FLOAT;
                    a->f = d;
                    free(t);
                }
            }
        } else if (rv_typeof(v) == RV_STRING) {
            a->kind = ARG_STR;
            a->sl = rv_strlen(v);
            a->s = (char *)rv_str(v); /* NUL-terminated, lives as long as the operand */
            a->borrowed = true;
        } else {
            a->kind = ARG_STR;
            a->s = rv_to_rego_text(v);
            a->sl = strlen(a->s);
        }
    }
    return args;
}

/* Parses a decimal number at *p; false if none. */
static bool parse_num(const char *fmt, size_t n, size_t *p, long *out)
{
    size_t s = *p;
    long v = 0;
    while (*p < n && fmt[*p] >= '0' && fmt[*p] <= '9') {
        if (v < 1000000) v = v * 10 + (fmt[*p] - '0');
        (*p)++;
    }
    *out = v;
    return *p > s;
}

/* Go's fmt.Sprintf over our argument model (argument indexes [n] included). */
static char *go_sprintf(const char *fmt, size_t n, farg *args, size_t nargs)
{
    rego_buf b = {0};
    /* room for the usual output up front (the format plus the string operands) */
    size_t want = n + 32;
    for (size_t k = 0; k < nargs; k++)
        if (args[k].kind == ARG_STR) want += args[k].sl;
    b.p = rego_xmalloc(want);
    b.cap = want;
    b.p[0] = 0;
    size_t argi = 0, i = 0;
    bool reordered = false;
    while (i < n) {
        size_t lit = i;
        while (i < n && fmt[i] != '%') i++;
        rego_buf_putn(&b, fmt + lit, i - lit);
        if (i >= n) break;
        i++; /* skip % */
        fflags f = {0};
        for (; i < n; i++) {
            char c = fmt[i];
            if (c == '#') f.sharp = true;
            else if (c == '0') f.zero = !f.minus;
            else if (c == '+') f.plus = true;
            else if (c == '-') f.minus = true, f.zero = false;
            else if (c == ' ') f.space = true;
            else break;
        }
        bool good_arg = true;
        /* argument index */
        if (i < n && fmt[i] == '[') {
            size_t j = i + 1;
            long idx;
            reordered = true;
            if (parse_num(fmt, n, &j, &idx) && j < n && fmt[j] == ']' && idx >= 1) {
                argi = (size_t)idx - 1;
                i = j + 1;
            } else {
                while (i < n && fmt[i] != ']') i++;
                if (i < n) i++;
                good_arg = false;
            }
        }
        /* width */
        if (i < n && fmt[i] == '*') {
            i++;
            if (argi < nargs && args[argi].kind == ARG_INT) {
                long w = (long)args[argi].i;
                if (w < 0) f.minus = true, f.zero = false, w = -w;
                if (w > 1000000) rego_buf_puts(&b, "%!(BADWIDTH)");
                else f.wid = w, f.wid_set = true;
            } else rego_buf_puts(&b, "%!(BADWIDTH)");
            argi++;
        } else {
            f.wid_set = parse_num(fmt, n, &i, &f.wid);
        }
        /* precision */
        if (i < n && fmt[i] == '.') {
            i++;
            if (i < n && fmt[i] == '[') {
                size_t j = i + 1;
                long idx;
                if (parse_num(fmt, n, &j, &idx) && j < n && fmt[j] == ']' && idx >= 1) {
                    argi = (size_t)idx - 1;
                    i = j + 1;
                    reordered = true;
                }
            }
            if (i < n && fmt[i] == '*') {
                i++;
                if (argi < nargs && args[argi].kind == ARG_INT && args[argi].i >= 0 && args[argi].i < 1000000) {
                    f.prec = (long)args[argi].i;
                    f.prec_set = true;
                } else {
                    rego_buf_puts(&b, "%!(BADPREC)");
                }
                argi++;
            } else {
                parse_num(fmt, n, &i, &f.prec);
                f.prec_set = true;
            }
        }
        if (i < n && fmt[i] == '[') {
            size_t j = i + 1;
            long idx;
            reordered = true;
            if (parse_num(fmt, n, &j, &idx) && j < n && fmt[j] == ']' && idx >= 1) {
                argi = (size_t)idx - 1;
                i = j + 1;
            } else good_arg = false;
        }
        if (i >= n) {
            rego_buf_puts(&b, "%!(NOVERB)");
            break;
        }
        size_t vw;
        uint32_t verb = rego_utf8_decode((const unsigned char *)fmt + i, n - i, &vw);
        char vbuf[5];
        size_t vl = utf8_enc(verb, vbuf);
        vbuf[vl] = 0;
        i += vw;
        if (verb == '%') {
            rego_buf_putc(&b, '%');
            continue;
        }
        if (!good_arg) {
            rego_buf_puts(&b, "%!");
            rego_buf_puts(&b, vbuf);
            rego_buf_puts(&b, "(BADINDEX)");
            continue;
        }
        if (argi >= nargs) {
            rego_buf_puts(&b, "%!");
            rego_buf_puts(&b, vbuf);
            rego_buf_puts(&b, "(MISSING)");
            continue;
        }
        if (verb == 'w') verb = 'v'; /* Sprintf treats %w as a bad verb only for non-errors */
        if (verb > 0x7F) {
            rego_buf_puts(&b, "%!");
            rego_buf_puts(&b, vbuf);
            rego_buf_putc(&b, '(');
            rego_buf_puts(&b, arg_type_name(&args[argi]));
            rego_buf_putc(&b, '=');
            fflags none = {0};
            fmt_arg(&b, &none, &args[argi], 'v');
            rego_buf_putc(&b, ')');
        } else {
            fmt_arg(&b, &f, &args[argi], (char)verb);
        }
        argi++;
    }
    if (!reordered && argi < nargs) {
        rego_buf_puts(&b, "%!(EXTRA ");
        for (size_t k = argi; k < nargs; k++) {
            if (k > argi) rego_buf_puts(&b, ", ");
            rego_buf_puts(&b, arg_type_name(&args[k]));
            rego_buf_putc(&b, '=');
            fflags none = {0};
            fmt_arg(&b, &none, &args[k], 'v');
        }
        rego_buf_putc(&b, ')');
    }
    return b.p;
}

/* The common case: only %s/%v of string operands and %%, one operand per verb.
 * Output is then the bytes themselves, as go_sprintf would write them; anything
 * else (flags, widths, other verbs or operand types, a count mismatch) returns
 * false and takes the general path. */
/* A constant format string's pieces, parsed once (rv_aux on the format value):
 * literal runs and %s/%v argument places. simple = false: other verbs, the general
 * path is taken at once. */
typedef struct {
    rv_aux base;
    bool simple;
    uint32_t nargs, nseg;
    struct {
        uint32_t off, len; /* literal bytes of the format; len == UINT32_MAX: the next argument */
    } seg[];
} fmt_aux;

static void fmt_aux_free(rv_aux *a) { free(a); }

/* The parsed format for a published (constant) format string, or NULL (parse it
 * each time: values made by the evaluation are not worth an aux). */
static const fmt_aux *fmt_get(const rv *fmtv)
{
    rv_aux *a = rv_aux_get(fmtv);
    if (a) return a->kind == RV_AUX_FORMAT ? (const fmt_aux *)a : NULL;
    if (fmtv->local) return NULL;
    const char *f = rv_str(fmtv), *end = f + rv_strlen(fmtv);
    if (rv_strlen(fmtv) >= UINT32_MAX / 2) return NULL;
    size_t n = 1;
    for (const char *p = f; p < end; p++) n += *p == '%';
    fmt_aux *x = calloc(1, sizeof *x + (2 * n + 1) * sizeof x->seg[0]);
    if (!x) return NULL;
    x->base.kind = RV_AUX_FORMAT;
    x->base.free_fn = fmt_aux_free;
    x->simple = true;
    for (const char *p = f; p < end;) {
        const char *pc = memchr(p, '%', (size_t)(end - p));
        const char *le = pc ? pc : end;
        if (le > p) x->seg[x->nseg].off = (uint32_t)(p - f), x->seg[x->nseg++].len = (uint32_t)(le - p);
        if (!pc) break;
        if (pc + 1 >= end) {
            x->simple = false;
            break;
        }
        char c = pc[1];
        if (c == '%') x->seg[x->nseg].off = (uint32_t)(pc - f), x->seg[x->nseg++].len = 1;
        else if (c == 's' || c == 'v') x->seg[x->nseg++].len = UINT32_MAX, x->nargs++;
        else {
            x->simple = false;
            break;
        }
        p = pc + 2;
    }
    a = rv_aux_attach(fmtv, &x->base);
    return a && a->kind == RV_AUX_FORMAT ? (const fmt_aux *)a : NULL;
}

/* sprintf_simple with the format parsed once */
static bool sprintf_parsed(const fmt_aux *x, const rv *fmtv, const rv *arr, rv **out)
{
    if (!x->simple || rvi_clen(arr) != x->nargs) return false;
    rv *const *items = arr->u.c.items;
    size_t len = 0, ai = 0;
    for (uint32_t i = 0; i < x->nseg; i++) {
        if (x->seg[i].len != UINT32_MAX) len += x->seg[i].len;
        else {
            const rv *a = items[ai++];
            if (a->type != RV_STRING) return false;
            len += a->u.str.len;
        }
    }
    char stackbuf[512];
    char *buf = len < sizeof stackbuf ? stackbuf : malloc(len + 1);
    if (!buf) abort();
    const char *f = fmtv->u.str.s;
    size_t o = 0;
    ai = 0;
    for (uint32_t i = 0; i < x->nseg; i++) {
        if (x->seg[i].len != UINT32_MAX) {
            memcpy(buf + o, f + x->seg[i].off, x->seg[i].len);
            o += x->seg[i].len;
        } else {
            const rv *a = items[ai++];
            memcpy(buf + o, a->u.str.s, a->u.str.len);
            o += a->u.str.len;
        }
    }
    *out = rv_string(buf, o);
    if (buf != stackbuf) free(buf);
    return true;
}

static bool sprintf_simple(const rv *fmtv, const rv *arr, rv **out)
{
    const fmt_aux *x = fmt_get(fmtv);
    if (x) return sprintf_parsed(x, fmtv, arr, out);
    const char *f = rv_str(fmtv), *end = f + rv_strlen(fmtv);
    size_t na = rv_len(arr), ai = 0, len = 0;
    for (const char *p = f; p < end;) {
        const char *pc = memchr(p, '%', (size_t)(end - p));
        if (!pc) {
            len += (size_t)(end - p);
            break;
        }
        len += (size_t)(pc - p);
        if (pc + 1 >= end) return false;
        char c = pc[1];
        if (c == '%') len++;
        else if ((c == 's' || c == 'v') && ai < na && rv_typeof(rv_array_at(arr, ai)) == RV_STRING)
            len += rv_strlen(rv_array_at(arr, ai++));
        else return false;
        p = pc + 2;
    }
    if (ai != na) return false;
    char stackbuf[512];
    char *buf = len < sizeof stackbuf ? stackbuf : malloc(len + 1);
    if (!buf) abort();
    size_t o = 0;
    ai = 0;
    for (const char *p = f; p < end;) {
        const char *pc = memchr(p, '%', (size_t)(end - p));
        size_t lit = pc ? (size_t)(pc - p) : (size_t)(end - p);
        memcpy(buf + o, p, lit);
        o += lit;
        if (!pc) break;
        if (pc[1] == '%') buf[o++] = '%';
        else {
            const rv *sv = rv_array_at(arr, ai++);
            memcpy(buf + o, rv_str(sv), rv_strlen(sv));
            o += rv_strlen(sv);
        }
        p = pc + 2;
    }
    *out = rv_string(buf, o);
    if (buf != stackbuf) free(buf);
    return true;
}

static int bi_sprintf(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (rv_typeof(a[1]) != RV_ARRAY)
        return rego_bctx_type_errorf(ctx, "sprintf: operand 2 must be array but got %s", rv_type_name(a[1]));
    if (sprintf_simple(a[0], a[1], out)) return REGO_OK;
    size_t nargs = rv_len(a[1]);
    if (!rego_bctx_may_render(ctx, a[1])) return REGO_ERR; /* composites print as their text */
    farg *args = args_make(a[1]);
    char *s = go_sprintf(rv_str(a[0]), rv_strlen(a[0]), args, nargs);
    args_free(args, nargs);
    *out = rv_cstring(s);
    free(s);
    return REGO_OK;
}

/* ------------------------------------------------------------ table */

/* internal.template_string(parts): the value of a template string $"..{x}..". parts
 * holds literal strings and, per expression, the array of its values (a closure:
 * empty when undefined); a string value is printed as is, others as Rego terms. */
static int bi_template_string(rego_bctx *ctx, rv *const *a, rv **out)
{
    (void)ctx;
    size_t cap = 64, n = 0;
    char *buf = rego_xmalloc(cap);
    for (size_t i = 0; i < rv_len(a[0]); i++) {
        rv *part = rv_array_at(a[0], i);
        char *tmp = NULL;
        const char *s;
        size_t len;
        if (rv_typeof(part) == RV_STRING) {
            s = rv_str(part);
            len = rv_strlen(part);
        } else if (rv_typeof(part) != RV_ARRAY || rv_len(part) == 0) {
            s = "<undefined>";
            len = strlen(s);
        } else {
            rv *v = rv_array_at(part, 0);
            if (rv_typeof(v) == RV_STRING) {
                s = rv_str(v);
                len = rv_strlen(v);
            } else {
                s = tmp = rv_to_rego_text(v);
                len = strlen(s);
            }
        }
        if (n + len + 1 > cap) {
            while (n + len + 1 > cap) cap *= 2;
            buf = rego_xrealloc(buf, cap);
        }
        memcpy(buf + n, s, len);
        n += len;
        free(tmp);
    }
    *out = rv_string(buf, n);
    free(buf);
    return REGO_OK;
}

const rego_builtin_def rego_builtins_strings[] = {
    {"internal.template_string", 1, bi_template_string, {"array"}, 0},
    {"concat", 2, bi_concat, {"string", NULL}, 0},
    {"split", 2, bi_split, {"string", "string"}, 0},
    {"strings.split_n", 3, bi_split_n, {"string", "string", "number"}, 0},
    {"replace", 3, bi_replace, {"string", "string", "string"}, 0},
    {"strings.replace_n", 2, bi_replace_n, {"object", "string"}, 0},
    {"trim", 2, bi_trim, {"string", "string"}, 0},
    {"trim_left", 2, bi_trim_left, {"string", "string"}, 0},
    {"trim_right", 2, bi_trim_right, {"string", "string"}, 0},
    {"trim_prefix", 2, bi_trim_prefix, {"string", "string"}, 0},
    {"trim_suffix", 2, bi_trim_suffix, {"string", "string"}, 0},
    {"trim_space", 1, bi_trim_space, {"string"}, 0},
    {"lower", 1, bi_lower, {"string"}, 0},
    {"upper", 1, bi_upper, {"string"}, 0},
    {"startswith", 2, bi_startswith, {"string", "string"}, 0},
    {"endswith", 2, bi_endswith, {"string", "string"}, 0},
    {"contains", 2, bi_contains, {"string", "string"}, 0},
    {"indexof", 2, bi_indexof, {"string", "string"}, 0},
    {"indexof_n", 2, bi_indexof_n, {"string", "string"}, 0},
    {"substring", 3, bi_substring, {"string", "number", "number"}, 0},
    {"format_int", 2, bi_format_int, {"number", "number"}, 0},
    /* type checked inside: OPA reports this one as "reverse: ..." */
    {"strings.reverse", 1, bi_reverse, {NULL}, 0},
    {"strings.any_prefix_match", 2, bi_any_prefix, {NULL, NULL}, 0},
    {"strings.any_suffix_match", 2, bi_any_suffix, {NULL, NULL}, 0},
    {"strings.count", 2, bi_count, {"string", "string"}, 0},
    {"sprintf", 2, bi_sprintf, {"string", "array"}, 0},
    {NULL, 0, NULL, {NULL}, 0},
};
