/* Regular-expression and glob builtins (regex.*, glob.*) on PCRE2.
 *
 * OPA uses Go's RE2 syntax. PCRE2 accepts a superset, so patterns go through a
 * checker/translator first (re2_translate) that rejects what RE2 rejects
 * (backreferences, lookaround, atomic groups, possessive or nested repetition,
 * unknown escapes, repeat counts over 1000) and rewrites the few escapes whose
 * meaning differs (\v, \s, octal). `$` is compiled with PCRE2_DOLLAR_ENDONLY
 * because RE2's `$` without (?m) matches only at the very end.
 *
 * Iteration over matches (find_n, submatches, split, replace) reproduces Go's
 * rules for empty matches: an empty match right after a previous match is
 * skipped, and the search always advances by at least one rune.
 *
 * Compiled patterns live in a process-wide cache shared by every evaluation
 * thread: a mutex guards the table, entries are reference counted so the table
 * can be flushed while another thread still matches with an entry. Compiled
 * pcre2_code is read-only during matching; each call makes its own match data.
 *
 * glob.match translates gobwas/glob syntax (*, **, ?, [a-z], [!abc], {a,b}, \x)
 * into an anchored regex over the delimiter runes and reuses the same cache.
 * regex.globs_match decides whether two simple patterns (literals, `.`, [sets],
 * `*`, `+`) share a match by walking pairs of positions in both.
 */
#include "rego/alloc.h"
#include "rego/builtins.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ buffers */

/* Width of the UTF-8 sequence at s (1 for invalid bytes, like Go). */
static size_t rune_width(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    if (need > n) return 1;
    for (size_t k = 1; k < need; k++)
        if ((s[k] & 0xC0) != 0x80) return 1;
    return need;
}

/* ------------------------------------------------------------ RE2 -> PCRE2 */

static bool is_quant_start(const char *p, size_t n, size_t i, size_t *qlen);

/* Parses a {n}, {n,}, {n,m} repeat at p[i]; false if it is not one (then '{' is literal). */
static bool parse_repeat(const char *p, size_t n, size_t i, size_t *len, long *lo, long *hi)
{
    size_t j = i + 1;
    long a = 0, b = -1;
    size_t d = 0;
    while (j < n && p[j] >= '0' && p[j] <= '9') {
        if (a < 100000) a = a * 10 + (p[j] - '0');
        j++, d++;
    }
    if (!d) return false;
    if (j < n && p[j] == ',') {
        j++;
        size_t d2 = 0;
        long bb = 0;
        while (j < n && p[j] >= '0' && p[j] <= '9') {
            if (bb < 100000) bb = bb * 10 + (p[j] - '0');
            j++, d2++;
        }
        b = d2 ? bb : -2; /* -2: open ended */
    } else b = a;
    if (j >= n || p[j] != '}') return false;
    *len = j - i + 1;
    *lo = a;
    *hi = b;
    return true;
}

static bool is_quant_start(const char *p, size_t n, size_t i, size_t *qlen)
{
    if (p[i] == '*' || p[i] == '+' || p[i] == '?') {
        *qlen = 1;
        return true;
    }
    long lo, hi;
    if (p[i] == '{' && parse_repeat(p, n, i, qlen, &lo, &hi)) return true;
    return false;
}

/* Checks pattern against RE2's grammar and writes the PCRE2 equivalent into out.
 * Returns false with a Go-style message in err. */
static bool re2_translate(const char *p, size_t n, rego_buf *out, char *err, size_t errlen)
{
    bool in_class = false;
    size_t class_start = 0;
    bool last_quant = false; /* previous token was a repetition */
    size_t i = 0;
    rego_buf_putn(out, "", 0);
    while (i < n) {
        char c = p[i];
        if (c == '\\') {
            if (i + 1 >= n) {
                snprintf(err, errlen, "trailing backslash at end of expression: ``");
                return false;
            }
            char e = p[i + 1];
            if (e == 'Q') { /* literal text up to \E */
                size_t j = i + 2;
                const char *end = NULL;
                for (size_t k = j; k + 1 < n; k++)
                    if (p[k] == '\\' && p[k + 1] == 'E') {
                        end = p + k;
                        break;
                    }
                size_t stop = end ? (size_t)(end - p) : n;
                for (size_t k = j; k < stop; k++) {
                    char lit[8];
                    snprintf(lit, sizeof lit, "\\x{%02x}", (unsigned char)p[k]);
                    if ((unsigned char)p[k] >= 0x80) rego_buf_putc(out, p[k]);
                    else rego_buf_puts(out, lit);
                }
                i = end ? stop + 2 : n;
                last_quant = false;
                continue;
            }
            if (e >= '0' && e <= '7' && !(e != '0' && (i + 2 >= n || p[i + 2] < '0' || p[i + 2] > '7'))) {
                /* octal: up to three digits */
                unsigned v = 0;
                size_t j = i + 1, d = 0;
                while (j < n && d < 3 && p[j] >= '0' && p[j] <= '7') v = v * 8 + (unsigned)(p[j++] - '0'), d++;
                rego_buf_printf(out, "\\x{%x}", v);
                i = j;
                last_quant = false;
                continue;
            }
            if ((e >= '0' && e <= '9') || (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) {
                const char *ok = in_class ? "aftnrvxpPdDsSwW" : "aftnrvxpPdDsSwWbBAz";
                if (!strchr(ok, e)) {
                    snprintf(err, errlen, "invalid escape sequence: `\\%c`", e);
                    return false;
                }
            }
            if (e == 'v') rego_buf_puts(out, "\\x{0b}");
            else if (e == 's') rego_buf_puts(out, in_class ? "\\t\\n\\f\\r " : "[\\t\\n\\f\\r ]");
            else if (e == 'S' && !in_class) rego_buf_puts(out, "[^\\t\\n\\f\\r ]");
            else if ((e == 'p' || e == 'P') && i + 2 < n && p[i + 2] == '{') {
                const char *close = memchr(p + i + 2, '}', n - i - 2);
                if (!close) {
                    snprintf(err, errlen, "invalid character class range: `%.*s`", (int)(n - i), p + i);
                    return false;
                }
                rego_buf_putn(out, p + i, (size_t)(close - (p + i)) + 1);
                i = (size_t)(close - p) + 1;
                last_quant = false;
                continue;
            } else rego_buf_putn(out, p + i, 2);
            i += 2;
            last_quant = false;
            continue;
        }
        if (in_class) {
            if (c == '[' && i + 1 < n && p[i + 1] == ':') {
                const char *close = NULL;
                for (size_t k = i + 2; k + 1 < n; k++)
                    if (p[k] == ':' && p[k + 1] == ']') {
                        close = p + k;
                        break;
                    }
                if (close) {
                    rego_buf_putn(out, p + i, (size_t)(close - (p + i)) + 2);
                    i = (size_t)(close - p) + 2;
                    continue;
                }
            }
            if (c == '[') rego_buf_puts(out, "\\["); /* PCRE2 would read [: :] or nested forms */
            else rego_buf_putc(out, c);
            if (c == ']') in_class = false;
            i++;
            continue;
        }
        size_t ql;
        if (is_quant_start(p, n, i, &ql)) {
            if (last_quant) {
                /* lazy marker is fine, anything else is nested repetition */
                snprintf(err, errlen, "invalid nested repetition operator: `%.*s`", (int)ql, p + i);
                return false;
            }
            if (p[i] == '{') {
                long lo, hi;
                size_t len;
                parse_repeat(p, n, i, &len, &lo, &hi);
                if (lo > 1000 || hi > 1000 || (hi >= 0 && hi < lo)) {
                    snprintf(err, errlen, "invalid repeat count: `%.*s`", (int)ql, p + i);
                    return false;
                }
            }
            rego_buf_putn(out, p + i, ql);
            i += ql;
            if (i < n && p[i] == '?') rego_buf_putc(out, p[i++]);
            last_quant = true;
            continue;
        }
        last_quant = false;
        if (c == '[') {
            in_class = true;
            class_start = i;
            rego_buf_putc(out, c);
            i++;
            if (i < n && p[i] == '^') rego_buf_putc(out, p[i++]);
            if (i < n && p[i] == ']') { /* a ']' right here is literal */
                rego_buf_puts(out, "\\]");
                i++;
            }
            continue;
        }
        if (c == '(' && i + 1 < n && p[i + 1] == '?') {
            size_t j = i + 2;
            if (j < n && p[j] == 'P' && j + 1 < n && p[j + 1] == '<') j += 1;
            if (j < n && p[j] == '<' && !(j + 1 < n && (p[j + 1] == '=' || p[j + 1] == '!'))) {
                const char *close = memchr(p + j, '>', n - j);
                if (!close) {
                    snprintf(err, errlen, "invalid named capture: `%.*s`", (int)(n - i), p + i);
                    return false;
                }
                rego_buf_puts(out, "(?<");
                rego_buf_putn(out, p + j + 1, (size_t)(close - (p + j + 1)));
                rego_buf_putc(out, '>');
                i = (size_t)(close - p) + 1;
                continue;
            }
            /* flags: (?i) (?-s) (?im:...) */
            size_t k = j;
            while (k < n && strchr("imsU-", p[k])) k++;
            if (k < n && (p[k] == ')' || p[k] == ':') && (k > j || p[k] == ':')) {
                rego_buf_putn(out, p + i, k - i + 1);
                i = k + 1;
                continue;
            }
            snprintf(err, errlen, "invalid or unsupported Perl syntax: `%.*s`", (int)(k + 1 - i > 3 ? 3 : k + 1 - i),
                     p + i);
            return false;
        }
        rego_buf_putc(out, c);
        i++;
    }
    if (in_class) {
        snprintf(err, errlen, "missing closing ]: `%.*s`", (int)(n - class_start), p + class_start);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ cache */

typedef struct re_entry {
    atomic_int refs;
    pcre2_code *code; /* NULL: invalid pattern, message in err */
    char *key;
    size_t keylen;
    char err[256];
} re_entry;

#define RE_CACHE_SLOTS 1024
#define RE_CACHE_MAX 512

static pthread_mutex_t g_re_mu = PTHREAD_MUTEX_INITIALIZER;
static re_entry *g_re_tab[RE_CACHE_SLOTS];
static size_t g_re_count;

static void re_release(re_entry *e)
{
    if (!e) return;
    if (atomic_fetch_sub(&e->refs, 1) == 1) {
        pcre2_code_free(e->code);
        free(e->key);
        free(e);
    }
}

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void re_flush_locked(void)
{
    for (size_t i = 0; i < RE_CACHE_SLOTS; i++) {
        re_release(g_re_tab[i]);
        g_re_tab[i] = NULL;
    }
    g_re_count = 0;
}

__attribute__((destructor)) static void re_cache_fini(void)
{
    pthread_mutex_lock(&g_re_mu);
    re_flush_locked();
    pthread_mutex_unlock(&g_re_mu);
}

static re_entry *re_compile_entry(const char *pat, size_t n)
{
    re_entry *e = rego_xcalloc(1, sizeof *e);
    atomic_init(&e->refs, 1);
    e->key = rego_xmalloc(n + 1);
    memcpy(e->key, pat, n);
    e->key[n] = 0;
    e->keylen = n;
    rego_buf tr = {0};
    char msg[200];
    if (!re2_translate(pat, n, &tr, msg, sizeof msg)) {
        snprintf(e->err, sizeof e->err, "error parsing regexp: %s", msg);
        free(tr.p);
        return e;
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (cc) pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    int ec;
    PCRE2_SIZE eo;
    uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY;
#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    e->code = pcre2_compile((PCRE2_SPTR)tr.p, tr.len, opts, &ec, &eo, cc);
    pcre2_compile_context_free(cc);
    if (!e->code) {
        PCRE2_UCHAR buf[160];
        pcre2_get_error_message(ec, buf, sizeof buf);
        snprintf(e->err, sizeof e->err, "error parsing regexp: %s: `%.*s`", (const char *)buf, (int)(n > 60 ? 60 : n),
                 pat);
    } else {
        pcre2_jit_compile(e->code, PCRE2_JIT_COMPLETE); /* optional speed-up; failure is fine */
    }
    free(tr.p);
    return e;
}

/* Returns a referenced entry for the pattern (release with re_release). */
static re_entry *re_get(const char *pat, size_t n)
{
    uint64_t h = fnv(pat, n);
    pthread_mutex_lock(&g_re_mu);
    for (size_t k = 0; k < RE_CACHE_SLOTS; k++) {
        re_entry *e = g_re_tab[(h + k) % RE_CACHE_SLOTS];
        if (!e) break;
        if (e->keylen == n && memcmp(e->key, pat, n) == 0) {
            atomic_fetch_add(&e->refs, 1);
            pthread_mutex_unlock(&g_re_mu);
            return e;
        }
    }
    pthread_mutex_unlock(&g_re_mu);

    re_entry *e = re_compile_entry(pat, n); /* compile outside the lock */

    pthread_mutex_lock(&g_re_mu);
    if (g_re_count >= RE_CACHE_MAX) re_flush_locked();
    for (size_t k = 0; k < RE_CACHE_SLOTS; k++) {
        re_entry **slot = &g_re_tab[(h + k) % RE_CACHE_SLOTS];
        if (!*slot) {
            atomic_fetch_add(&e->refs, 1); /* the table's reference */
            *slot = e;
            g_re_count++;
            break;
        }
        if ((*slot)->keylen == n && memcmp((*slot)->key, pat, n) == 0) break; /* raced: keep ours uncached */
    }
    pthread_mutex_unlock(&g_re_mu);
    return e;
}

/* A pattern value remembers its compiled entry (rv_aux): a policy's constant
 * patterns skip the cache's lock and hash after their first use. */
typedef struct {
    rv_aux base;
    re_entry *e; /* one reference */
} re_aux;

static void re_aux_free(rv_aux *a)
{
    re_release(((re_aux *)a)->e);
    free(a);
}

/* Returns a referenced entry for the pattern value (release with re_release). */
static re_entry *re_get_value(const rv *pat)
{
    rv_aux *a = rv_aux_get(pat);
    if (a && a->kind == RV_AUX_REGEX) {
        re_entry *e = ((re_aux *)a)->e;
        atomic_fetch_add(&e->refs, 1);
        return e;
    }
    re_entry *e = re_get(rv_str(pat), rv_strlen(pat));
    if (!a) {
        re_aux *x = malloc(sizeof *x);
        if (x) {
            x->base.kind = RV_AUX_REGEX;
            x->base.free_fn = re_aux_free;
            x->e = e;
            atomic_fetch_add(&e->refs, 1);
            rv_aux_attach(pat, &x->base);
        }
    }
    return e;
}

/* Compiles or reports OPA's error. Returns NULL after rego_bctx_errorf. */
static re_entry *re_get_or_err(rego_bctx *ctx, const char *fn, const rv *pat)
{
    re_entry *e = re_get_value(pat);
    if (!e->code) {
        rego_bctx_errorf(ctx, "%s: %s", fn, e->err);
        re_release(e);
        return NULL;
    }
    return e;
}

/* One search from pos. Returns number of pairs in ov (>0) or 0 for no match. */
static int re_exec(re_entry *e, pcre2_match_data *md, const char *s, size_t n, size_t pos)
{
    int rc = pcre2_match(e->code, (PCRE2_SPTR)s, n, pos, 0, md, NULL);
    return rc > 0 ? rc : (rc == 0 ? (int)pcre2_get_ovector_count(md) : 0);
}

typedef void (*match_fn)(void *arg, const char *s, const PCRE2_SIZE *ov, uint32_t npairs);

/* Go's allMatches: at most max matches (max < 0: all). */
static void re_all(re_entry *e, const char *s, size_t n, int64_t max, match_fn cb, void *arg)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(e->code, NULL);
    if (!md) abort();
    uint32_t npairs = pcre2_get_ovector_count(md);
    size_t pos = 0;
    long prev_end = -1;
    int64_t count = 0;
    while ((max < 0 || count < max) && pos <= n) {
        if (!re_exec(e, md, s, n, pos)) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        bool accept = true;
        if (ov[1] == pos) { /* empty match */
            if ((long)ov[0] == prev_end) accept = false;
            pos += pos < n ? rune_width((const unsigned char *)s + pos, n - pos) : 1;
        } else {
            pos = ov[1];
        }
        prev_end = (long)ov[1];
        if (accept) {
            cb(arg, s, ov, npairs);
            count++;
        }
    }
    pcre2_match_data_free(md);
}

/* ------------------------------------------------------------ regex builtins */

/* Match data for yes/no matches, one per thread (a match needs only its own match
 * data; an ovector of one pair is enough to know whether the pattern matched). */
static pthread_key_t g_md_key;
static pthread_once_t g_md_once = PTHREAD_ONCE_INIT;
static void md_free(void *p) { pcre2_match_data_free(p); }
static atomic_bool g_md_key_made;
static void md_key_init(void)
{
    pthread_key_create(&g_md_key, md_free);
    atomic_store(&g_md_key_made, true);
}
static bool g_md_key_ok(void) { return atomic_load(&g_md_key_made); }
static pcre2_match_data *md_thread(void)
{
    pthread_once(&g_md_once, md_key_init);
    pcre2_match_data *md = pthread_getspecific(g_md_key);
    if (!md) {
        md = pcre2_match_data_create(1, NULL);
        if (!md) abort();
        pthread_setspecific(g_md_key, md);
    }
    return md;
}

__attribute__((destructor)) static void md_fini(void)
{
    /* the main thread's match data: key destructors do not run at exit() */
    pcre2_match_data *md = g_md_key_ok() ? pthread_getspecific(g_md_key) : NULL;
    if (md) {
        pthread_setspecific(g_md_key, NULL);
        pcre2_match_data_free(md);
    }
}

static int regex_match_as(rego_bctx *ctx, const char *name, rv *const *a, rv **out)
{
    re_entry *e = re_get_or_err(ctx, name, a[0]);
    if (!e) return REGO_ERR;
    pcre2_match_data *md = md_thread();
    *out = rv_bool(re_exec(e, md, rv_str(a[1]), rv_strlen(a[1]), 0) > 0);
    re_release(e);
    return REGO_OK;
}
static int bi_regex_match(rego_bctx *ctx, rv *const *a, rv **out) { return regex_match_as(ctx, "regex.match", a, out); }
/* re_match: the deprecated name, which OPA's errors use */
static int bi_re_match(rego_bctx *ctx, rv *const *a, rv **out) { return regex_match_as(ctx, "re_match", a, out); }

static int bi_regex_is_valid(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (rv_typeof(a[0]) != RV_STRING) {
        *out = rv_bool(false);
        return REGO_OK;
    }
    re_entry *e = re_get(rv_str(a[0]), rv_strlen(a[0]));
    *out = rv_bool(e->code != NULL);
    re_release(e);
    return REGO_OK;
}

static int n_operand(rego_bctx *ctx, const char *fn, int pos, const rv *v, int64_t *n)
{
    if (!rv_number_is_integer(v) || !rv_number_as_int64(v, n))
        return rego_bctx_type_errorf(ctx, "%s: operand %d must be integer number but got floating-point number", fn,
                                     pos);
    return REGO_OK;
}

static void cb_find(void *arg, const char *s, const PCRE2_SIZE *ov, uint32_t np)
{
    rv_array_push((rv *)arg, rv_string(s + ov[0], ov[1] - ov[0]));
}

static int bi_regex_find_n(rego_bctx *ctx, rv *const *a, rv **out)
{
    int64_t n;
    if (n_operand(ctx, "regex.find_n", 3, a[2], &n) != REGO_OK) return REGO_ERR;
    re_entry *e = re_get_or_err(ctx, "regex.find_n", a[0]);
    if (!e) return REGO_ERR;
    rv *arr = rv_array_new(4);
    re_all(e, rv_str(a[1]), rv_strlen(a[1]), n, cb_find, arr);
    re_release(e);
    *out = arr;
    return REGO_OK;
}

static void cb_submatch(void *arg, const char *s, const PCRE2_SIZE *ov, uint32_t np)
{
    rv *m = rv_array_new(np);
    for (uint32_t g = 0; g < np; g++) {
        if (ov[2 * g] == PCRE2_UNSET) rv_array_push(m, rv_string("", 0));
        else rv_array_push(m, rv_string(s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]));
    }
    rv_array_push((rv *)arg, m);
}

static int bi_regex_submatch(rego_bctx *ctx, rv *const *a, rv **out)
{
    int64_t n;
    if (n_operand(ctx, "regex.find_all_string_submatch_n", 3, a[2], &n) != REGO_OK) return REGO_ERR;
    re_entry *e = re_get_or_err(ctx, "regex.find_all_string_submatch_n", a[0]);
    if (!e) return REGO_ERR;
    rv *arr = rv_array_new(4);
    re_all(e, rv_str(a[1]), rv_strlen(a[1]), n, cb_submatch, arr);
    re_release(e);
    *out = arr;
    return REGO_OK;
}

typedef struct {
    size_t *pairs;
    size_t n, cap;
} span_list;

static void cb_span(void *arg, const char *s, const PCRE2_SIZE *ov, uint32_t np)
{
    span_list *l = arg;
    if (l->n + 2 > l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->pairs = rego_xrealloc(l->pairs, l->cap * sizeof *l->pairs);
    }
    l->pairs[l->n++] = ov[0];
    l->pairs[l->n++] = ov[1];
}

/* Go's Regexp.Split(s, -1). */
static int bi_regex_split(rego_bctx *ctx, rv *const *a, rv **out)
{
    re_entry *e = re_get_or_err(ctx, "regex.split", a[0]);
    if (!e) return REGO_ERR;
    const char *s = rv_str(a[1]);
    size_t n = rv_strlen(a[1]);
    rv *arr = rv_array_new(4);
    if (rv_strlen(a[0]) > 0 && n == 0) {
        rv_array_push(arr, rv_string("", 0));
    } else {
        span_list l = {0};
        re_all(e, s, n, -1, cb_span, &l);
        size_t beg = 0, end = 0;
        for (size_t i = 0; i < l.n; i += 2) {
            end = l.pairs[i];
            if (l.pairs[i + 1] != 0) rv_array_push(arr, rv_string(s + beg, end - beg));
            beg = l.pairs[i + 1];
        }
        if (end != n) rv_array_push(arr, rv_string(s + beg, n - beg));
        free(l.pairs);
    }
    re_release(e);
    *out = arr;
    return REGO_OK;
}

/* Go's Regexp.Expand for $1, ${1}, $name, ${name}, $$. */
static void expand_template(rego_buf *b, re_entry *e, const char *tpl, size_t tn, const char *s, const PCRE2_SIZE *ov,
                            uint32_t np)
{
    size_t i = 0;
    while (i < tn) {
        const char *d = memchr(tpl + i, '$', tn - i);
        if (!d) {
            rego_buf_putn(b, tpl + i, tn - i);
            return;
        }
        rego_buf_putn(b, tpl + i, (size_t)(d - (tpl + i)));
        i = (size_t)(d - tpl) + 1;
        if (i < tn && tpl[i] == '$') {
            rego_buf_putc(b, '$');
            i++;
            continue;
        }
        /* extract name */
        size_t ns, nl;
        bool brace = i < tn && tpl[i] == '{';
        size_t j = brace ? i + 1 : i;
        ns = j;
        while (j < tn && (tpl[j] == '_' || (tpl[j] >= '0' && tpl[j] <= '9') || (tpl[j] >= 'a' && tpl[j] <= 'z') ||
                          (tpl[j] >= 'A' && tpl[j] <= 'Z') || (unsigned char)tpl[j] >= 0x80))
            j++;
        nl = j - ns;
        if (nl == 0 || (brace && (j >= tn || tpl[j] != '}'))) { /* malformed: emit the '$' literally */
            rego_buf_putc(b, '$');
            continue;
        }
        i = brace ? j + 1 : j;
        /* number? */
        long g = -1;
        bool num = true;
        for (size_t k = ns; k < ns + nl; k++)
            if (tpl[k] < '0' || tpl[k] > '9') num = false;
        if (num) {
            g = 0;
            for (size_t k = ns; k < ns + nl && g < 100000; k++) g = g * 10 + (tpl[k] - '0');
        } else {
            char name[128];
            if (nl < sizeof name) {
                memcpy(name, tpl + ns, nl);
                name[nl] = 0;
                int gn = pcre2_substring_number_from_name(e->code, (PCRE2_SPTR)name);
                if (gn > 0) g = gn;
            }
        }
        if (g >= 0 && (uint32_t)g < np && ov[2 * g] != PCRE2_UNSET)
            rego_buf_putn(b, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    }
}

/* regex.replace(s, pattern, value): Go's ReplaceAllString. */
static int bi_regex_replace(rego_bctx *ctx, rv *const *a, rv **out)
{
    re_entry *e = re_get_or_err(ctx, "regex.replace", a[1]);
    if (!e) return REGO_ERR;
    const char *s = rv_str(a[0]), *tpl = rv_str(a[2]);
    size_t n = rv_strlen(a[0]), tn = rv_strlen(a[2]);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(e->code, NULL);
    if (!md) abort();
    uint32_t np = pcre2_get_ovector_count(md);
    rego_buf b = {0};
    rego_buf_putn(&b, "", 0);
    size_t last = 0, pos = 0;
    while (pos <= n) {
        if (b.len > rego_bctx_mem_left(ctx)) { /* `regex.replace(big, "", big)` */
            free(b.p);
            pcre2_match_data_free(md);
            re_release(e);
            rego_bctx_may_alloc(ctx, SIZE_MAX);
            return REGO_ERR;
        }
        if (!re_exec(e, md, s, n, pos)) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        rego_buf_putn(&b, s + last, ov[0] - last);
        if (ov[1] > last || ov[0] == 0) expand_template(&b, e, tpl, tn, s, ov, np);
        last = ov[1];
        size_t w = pos < n ? rune_width((const unsigned char *)s + pos, n - pos) : 1;
        if (pos + w > ov[1]) pos += w;
        else if (pos + 1 > ov[1]) pos++;
        else pos = ov[1];
    }
    rego_buf_putn(&b, s + last, n - last);
    pcre2_match_data_free(md);
    re_release(e);
    *out = rego_buf_take(&b);
    return REGO_OK;
}

/* Go's regexp.QuoteMeta. */
static void quote_meta(rego_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strchr("\\.+*?()|[]{}^$", s[i]) && s[i]) rego_buf_putc(b, '\\');
        rego_buf_putc(b, s[i]);
    }
}

/* regex.template_match(template, value, start, end): {regex} parts inside literal text. */
static int bi_regex_template_match(rego_bctx *ctx, rv *const *a, rv **out)
{
    const char *t = rv_str(a[0]);
    size_t n = rv_strlen(a[0]);
    if (rv_strlen(a[2]) == 0 || rv_strlen(a[3]) == 0)
        return rego_bctx_errorf(ctx, "regex.template_match: delimiters must not be empty");
    char ds = rv_str(a[2])[0], de = rv_str(a[3])[0];
    rego_buf pat = {0};
    rego_buf_putc(&pat, '^');
    int level = 0;
    size_t idx = 0, end = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == ds) {
            if (++level == 1) idx = i;
        } else if (t[i] == de) {
            if (--level == 0) {
                quote_meta(&pat, t + end, idx - end);
                rego_buf_putc(&pat, '(');
                rego_buf_putn(&pat, t + idx + 1, i - idx - 1);
                rego_buf_putc(&pat, ')');
                end = i + 1;
            } else if (level < 0) break;
        }
    }
    if (level != 0) {
        free(pat.p);
        return rego_bctx_errorf(ctx, "regex.template_match: unbalanced braces in \"%s\"", t);
    }
    quote_meta(&pat, t + end, n - end);
    rego_buf_putc(&pat, '$');
    re_entry *e = re_get(pat.p, pat.len);
    free(pat.p);
    if (!e->code) {
        int rc = rego_bctx_errorf(ctx, "regex.template_match: %s", e->err);
        re_release(e);
        return rc;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(e->code, NULL);
    if (!md) abort();
    *out = rv_bool(re_exec(e, md, rv_str(a[1]), rv_strlen(a[1]), 0) > 0);
    pcre2_match_data_free(md);
    re_release(e);
    return REGO_OK;
}

/* ------------------------------------------------------------ globs */

static void re_lit(rego_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            rego_buf_printf(b, "\\x{%02x}", c);
        } else rego_buf_putc(b, (char)c);
    }
}

typedef struct {
    const char *p;
    size_t n, i;
    const char *seps; /* regex class body of the separators, or "" */
    char err[128];
} glob_parser;

static bool glob_seq(glob_parser *g, rego_buf *b, int depth);

/* [abc] [!abc] [a-z] [!a-z] */
static bool glob_range(glob_parser *g, rego_buf *b)
{
    g->i++; /* '[' */
    rego_buf_putc(b, '[');
    if (g->i < g->n && g->p[g->i] == '!') {
        rego_buf_putc(b, '^');
        g->i++;
    }
    size_t w0 = g->i;
    if (g->i >= g->n) goto eof;
    size_t w = rune_width((const unsigned char *)g->p + g->i, g->n - g->i);
    if (g->i + w < g->n && g->p[g->i + w] == '-') {
        size_t lo = g->i, hi = g->i + w + 1;
        if (hi >= g->n) goto eof;
        size_t hw = rune_width((const unsigned char *)g->p + hi, g->n - hi);
        if (hi + hw >= g->n) goto eof;
        if (g->p[hi + hw] != ']') {
            snprintf(g->err, sizeof g->err, "expected close range character");
            return false;
        }
        re_lit(b, g->p + lo, w);
        rego_buf_putc(b, '-');
        re_lit(b, g->p + hi, hw);
        rego_buf_putc(b, ']');
        g->i = hi + hw + 1;
        return true;
    }
    /* list text up to ']' with escapes */
    bool any = false;
    while (g->i < g->n && g->p[g->i] != ']') {
        if (g->p[g->i] == '\\' && g->i + 1 < g->n) g->i++;
        size_t cw = rune_width((const unsigned char *)g->p + g->i, g->n - g->i);
        re_lit(b, g->p + g->i, cw);
        g->i += cw;
        any = true;
    }
    if (g->i >= g->n) goto eof;
    (void)w0;
    if (!any) {
        snprintf(g->err, sizeof g->err, "unexpected length of lo character");
        return false;
    }
    rego_buf_putc(b, ']');
    g->i++;
    return true;
eof:
    snprintf(g->err, sizeof g->err, "unexpected end of input");
    return false;
}

/* Parses until end, or until ',' / '}' when inside braces (depth > 0). */
static bool glob_seq(glob_parser *g, rego_buf *b, int depth)
{
    while (g->i < g->n) {
        char c = g->p[g->i];
        if (depth > 0 && (c == ',' || c == '}')) return true;
        if (c == '\\') {
            if (g->i + 1 >= g->n) {
                snprintf(g->err, sizeof g->err, "unexpected end of input");
                return false;
            }
            g->i++;
            size_t w = rune_width((const unsigned char *)g->p + g->i, g->n - g->i);
            re_lit(b, g->p + g->i, w);
            g->i += w;
        } else if (c == '*') {
            if (g->i + 1 < g->n && g->p[g->i + 1] == '*') {
                rego_buf_puts(b, ".*");
                while (g->i < g->n && g->p[g->i] == '*') g->i++;
            } else {
                if (g->seps[0]) {
                    rego_buf_puts(b, "[^");
                    rego_buf_puts(b, g->seps);
                    rego_buf_puts(b, "]*");
                } else rego_buf_puts(b, ".*");
                g->i++;
            }
        } else if (c == '?') {
            if (g->seps[0]) {
                rego_buf_puts(b, "[^");
                rego_buf_puts(b, g->seps);
                rego_buf_puts(b, "]");
            } else rego_buf_putc(b, '.');
            g->i++;
        } else if (c == '[') {
            if (!glob_range(g, b)) return false;
        } else if (c == '{') {
            g->i++;
            rego_buf_puts(b, "(?:");
            for (;;) {
                if (!glob_seq(g, b, depth + 1)) return false;
                if (g->i >= g->n) {
                    snprintf(g->err, sizeof g->err, "unexpected end of input");
                    return false;
                }
                if (g->p[g->i] == '}') {
                    g->i++;
                    break;
                }
                rego_buf_putc(b, '|');
                g->i++; /* ',' */
            }
            rego_buf_putc(b, ')');
        } else if (c == ']' || c == '}') {
            snprintf(g->err, sizeof g->err, "unexpected '%c'", c);
            return false;
        } else {
            size_t w = rune_width((const unsigned char *)g->p + g->i, g->n - g->i);
            re_lit(b, g->p + g->i, w);
            g->i += w;
        }
    }
    return true;
}

static int bi_glob_match(rego_bctx *ctx, rv *const *a, rv **out)
{
    rego_buf seps = {0};
    rego_buf_putn(&seps, "", 0);
    if (rv_typeof(a[1]) == RV_ARRAY) {
        size_t n = rv_len(a[1]);
        for (size_t i = 0; i < n; i++) {
            const rv *d = rv_array_at(a[1], i);
            if (rv_typeof(d) != RV_STRING) {
                free(seps.p);
                return rego_bctx_type_errorf(
                    ctx, "glob.match: operand 2 must be array of strings but got array containing %s", rv_type_name(d));
            }
            if (rv_strlen(d) == 0) continue;
            re_lit(&seps, rv_str(d), rune_width((const unsigned char *)rv_str(d), rv_strlen(d)));
        }
        if (n == 0) rego_buf_puts(&seps, "\\x{2e}");
    } else if (rv_typeof(a[1]) != RV_NULL) {
        free(seps.p);
        return rego_bctx_type_errorf(ctx, "glob.match: operand 2 must be one of {array, null} but got %s",
                                     rv_type_name(a[1]));
    }
    glob_parser g = {.p = rv_str(a[0]), .n = rv_strlen(a[0]), .seps = seps.p};
    rego_buf re = {0};
    rego_buf_puts(&re, "(?s)^(?:");
    bool ok = glob_seq(&g, &re, 0);
    free(seps.p);
    if (!ok) {
        free(re.p);
        return rego_bctx_errorf(ctx, "glob.match: %s", g.err);
    }
    rego_buf_puts(&re, ")$");
    re_entry *e = re_get(re.p, re.len);
    free(re.p);
    if (!e->code) {
        int rc = rego_bctx_errorf(ctx, "glob.match: %s", e->err);
        re_release(e);
        return rc;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(e->code, NULL);
    if (!md) abort();
    *out = rv_bool(re_exec(e, md, rv_str(a[2]), rv_strlen(a[2]), 0) > 0);
    pcre2_match_data_free(md);
    re_release(e);
    return REGO_OK;
}

static int bi_glob_quote_meta(rego_bctx *ctx, rv *const *a, rv **out)
{
    const char *s = rv_str(a[0]);
    size_t n = rv_strlen(a[0]);
    rego_buf b = {0};
    rego_buf_putn(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (s[i] && strchr("*?\\[]{}", s[i])) rego_buf_putc(&b, '\\');
        rego_buf_putc(&b, s[i]);
    }
    *out = rego_buf_take(&b);
    return REGO_OK;
}

/* ------------------------------------------------------------ regex.globs_match */

/* Intersection of two "globs" in the sense of yashi/glob-intersection (what OPA
 * uses): tokens are a literal byte, `.` (any), or a [set] with ranges and `^`
 * negation, each optionally followed by `*` or `+`; `\` escapes. Two globs
 * intersect when some string matches both: a breadth-first walk over pairs of
 * token positions. Characters are bytes, which is exact for ASCII patterns. */
typedef struct {
    uint8_t bits[32];
    char mod; /* 0, '*' or '+' */
} gtok;

static void bit_set(gtok *t, unsigned c) { t->bits[c >> 3] |= (uint8_t)(1u << (c & 7)); }

static bool gi_parse(const char *p, size_t n, gtok **out, size_t *count, char *err, size_t errlen)
{
    gtok *v = rego_xcalloc(n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '*' || c == '+') {
            if (k == 0 || v[k - 1].mod) {
                snprintf(err, errlen,
                         "input:%.*s, pos:%zu, modifier '%c' with no preceding element: the input provided is invalid",
                         (int)n, p, i + 1, c);
                free(v);
                return false;
            }
            v[k - 1].mod = c;
            continue;
        }
        gtok *t = &v[k++];
        if (c == '.') {
            memset(t->bits, 0xFF, sizeof t->bits);
        } else if (c == '\\') {
            if (i + 1 >= n) {
                snprintf(err, errlen, "input:%.*s, pos:%zu, escape at end of input: the input provided is invalid",
                         (int)n, p, i + 1);
                free(v);
                return false;
            }
            bit_set(t, (unsigned char)p[++i]);
        } else if (c == ']') {
            snprintf(err, errlen,
                     "input:%.*s, pos:%zu, set-close ']' with no preceding '[': the input provided is invalid", (int)n,
                     p, i + 1);
            free(v);
            return false;
        } else if (c == '[') {
            size_t j = i + 1;
            bool neg = j < n && p[j] == '^';
            if (neg) j++;
            bool closed = false;
            while (j < n) {
                if (p[j] == ']') {
                    closed = true;
                    break;
                }
                unsigned lo = (unsigned char)p[j];
                if (p[j] == '\\' && j + 1 < n) lo = (unsigned char)p[++j];
                unsigned hi = lo;
                if (j + 2 < n && p[j + 1] == '-' && p[j + 2] != ']') {
                    j += 2;
                    hi = (unsigned char)p[j];
                    if (p[j] == '\\' && j + 1 < n) hi = (unsigned char)p[++j];
                }
                for (unsigned ch = lo; ch <= hi && ch < 256; ch++) bit_set(t, ch);
                j++;
            }
            if (!closed) {
                snprintf(err, errlen,
                         "input:%.*s, pos:%zu, set-open '[' with no closing ']': the input provided is invalid", (int)n,
                         p, i + 1);
                free(v);
                return false;
            }
            if (neg)
                for (size_t b = 0; b < sizeof t->bits; b++) t->bits[b] = (uint8_t)~t->bits[b];
            i = j;
        } else {
            bit_set(t, (unsigned char)c);
        }
    }
    *out = v;
    *count = k;
    return true;
}

static bool gi_overlap(const gtok *a, const gtok *b)
{
    for (size_t i = 0; i < sizeof a->bits; i++)
        if (a->bits[i] & b->bits[i]) return true;
    return false;
}

/* State (i, j, ri, rj): positions in both token lists; r* = the current '+' token
 * has been consumed once (so it now behaves like '*'). */
static bool gi_intersect(const gtok *a, size_t na, const gtok *b, size_t nb)
{
    size_t W = (nb + 1) * 2, N = (na + 1) * 2 * W;
    uint8_t *seen = rego_xcalloc(N, 1);
    size_t *queue = rego_xmalloc(N * sizeof *queue);
    size_t qh = 0, qt = 0;
#define GI_ID(i, ri, j, rj) ((((i)*2 + (ri)) * W) + (j)*2 + (rj))
#define GI_PUSH(i, ri, j, rj)                                                                                          \
    do {                                                                                                               \
        size_t id_ = GI_ID(i, ri, j, rj);                                                                              \
        if (!seen[id_]) seen[id_] = 1, queue[qt++] = id_;                                                              \
    } while (0)
    GI_PUSH(0, 0, 0, 0);
    bool found = false;
    while (qh < qt && !found) {
        size_t id = queue[qh++];
        size_t rj = id % 2, j = (id / 2) % (nb + 1), ri = (id / W) % 2, i = id / W / 2;
        bool a_opt = i < na && (a[i].mod == '*' || (a[i].mod == '+' && ri));
        bool b_opt = j < nb && (b[j].mod == '*' || (b[j].mod == '+' && rj));
        if (i == na && j == nb) {
            found = true;
            break;
        }
        /* epsilon moves: leave an optional token */
        if (a_opt) GI_PUSH(i + 1, 0, j, rj);
        if (b_opt) GI_PUSH(i, ri, j + 1, 0);
        if (i < na && j < nb && gi_overlap(&a[i], &b[j])) {
            /* consume one char on both sides: repeatable tokens may stay */
            size_t ni[2], nri[2], nj[2], nrj[2];
            int ca = 0, cb = 0;
            ni[ca] = i + 1, nri[ca++] = 0;
            if (a[i].mod) ni[ca] = i, nri[ca++] = 1;
            nj[cb] = j + 1, nrj[cb++] = 0;
            if (b[j].mod) nj[cb] = j, nrj[cb++] = 1;
            for (int x = 0; x < ca; x++)
                for (int y = 0; y < cb; y++) GI_PUSH(ni[x], nri[x], nj[y], nrj[y]);
        }
    }
#undef GI_PUSH
#undef GI_ID
    free(seen);
    free(queue);
    return found;
}

static int bi_regex_globs_match(rego_bctx *ctx, rv *const *a, rv **out)
{
    gtok *x = NULL, *y = NULL;
    size_t nx, ny;
    char err[512];
    if (!gi_parse(rv_str(a[0]), rv_strlen(a[0]), &x, &nx, err, sizeof err) ||
        !gi_parse(rv_str(a[1]), rv_strlen(a[1]), &y, &ny, err, sizeof err)) {
        free(x);
        return rego_bctx_errorf(ctx, "regex.globs_match: %s", err);
    }
    *out = rv_bool(gi_intersect(x, nx, y, ny));
    free(x);
    free(y);
    return REGO_OK;
}

/* ------------------------------------------------------------ table */

const rego_builtin_def rego_builtins_regex[] = {
    {"regex.match", 2, bi_regex_match, {"string", "string"}, 0},
    {"re_match", 2, bi_re_match, {"string", "string"}, 0},
    {"regex.is_valid", 1, bi_regex_is_valid, {NULL}, 0},
    {"regex.find_n", 3, bi_regex_find_n, {"string", "string", "number"}, 0},
    {"regex.find_all_string_submatch_n", 3, bi_regex_submatch, {"string", "string", "number"}, 0},
    {"regex.split", 2, bi_regex_split, {"string", "string"}, 0},
    {"regex.replace", 3, bi_regex_replace, {"string", "string", "string"}, 0},
    {"regex.template_match", 4, bi_regex_template_match, {"string", "string", "string", "string"}, 0},
    {"glob.match", 3, bi_glob_match, {"string", "array|null", "string"}, 0},
    {"regex.globs_match", 2, bi_regex_globs_match, {"string", "string"}, 0},
    {"glob.quote_meta", 1, bi_glob_quote_meta, {"string"}, 0},
    {NULL, 0, NULL, {NULL}, 0},
};
