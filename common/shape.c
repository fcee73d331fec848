/* Shape text and its hash (see shape.h). The masks are one PCRE2 pattern of named
 * alternatives, compiled once (JIT when available) and shared by every thread; each
 * call makes its own match data. The alternative that matched is found by its group. */
#include "shape.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/strbuf.h"
#include "common/utf8.h"

#define HEX "[0-9A-Fa-f]"
#define IPV4 "(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"

/* In precedence order; group i+1 of the pattern is masks[i]. */
static const struct {
    const char *re, *replacement;
} masks[] = {
    {"(?<![0-9A-Za-z])" HEX "{8}-" HEX "{4}-" HEX "{4}-" HEX "{4}-" HEX "{12}(?![0-9A-Za-z])", "<uuid>"},
    {"(?<![0-9A-Za-z])\\d{4}-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2})?(?:[.,]\\d+)?)?"
     "(?:Z|[+-]\\d{2}:?\\d{2})?(?![0-9A-Za-z])",
     "<time>"},
    {"(?<![0-9A-Za-z:])\\d{1,2}:\\d{2}:\\d{2}(?:[.,]\\d+)?(?![0-9A-Za-z:])", "<time>"},
    {"(?<![0-9A-Za-z.])" IPV4 ":\\d{1,5}(?![0-9A-Za-z:])", "<ipv4>:<port>"},
    {"(?<![0-9A-Za-z.])" IPV4 "(?![0-9A-Za-z]|\\.\\d)", "<ipv4>"},
    /* two or more colons between hex groups, and either "::" or 3+ full groups: not a
     * clock time (taken above) nor "key:value:x" words (no hex digit then) */
    {"(?<![0-9A-Za-z:.])(?=[0-9A-Fa-f:.]*::|(?:" HEX "{1,4}:){3})(?=[0-9A-Fa-f:.]*\\d|::)"
     "(?:" HEX "{0,4}:){2,7}(?:" IPV4 "|" HEX "{1,4})?(?![0-9A-Za-z:])",
     "<ipv6>"},
    {"(?<![0-9A-Za-z])(?:0[xX])?(?=" HEX "*\\d)(?=" HEX "*[A-Fa-f])" HEX "{8,}(?![0-9A-Za-z])", "<hex>"},
    {"(?<![0-9A-Za-z_.])\\d+(?:\\.\\d+)*(?![0-9A-Za-z_]|\\.\\d)", "<num>"}, /* 7.5, 1.2.3 */
};
#define NMASKS (sizeof masks / sizeof masks[0])

static pcre2_code *pattern;
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

static void compile_pattern(void)
{
    strbuf b = {0};
    for (size_t i = 0; i < NMASKS; i++)
        strbuf_printf(&b, "%s(%s)", i ? "|" : "", masks[i].re);
    if (b.failed)
        return;
    int err;
    PCRE2_SIZE off;
    pattern = pcre2_compile((PCRE2_SPTR)b.p, b.len, PCRE2_UTF | PCRE2_NO_UTF_CHECK, &err, &off, NULL);
    /* the pattern is ours: failing to compile it is a bug, caught by every unit test */
    if (pattern)
        pcre2_jit_compile(pattern, PCRE2_JIT_COMPLETE); /* optional: the interpreter works too */
    strbuf_free(&b);
}

/* Appends s[0..n) with each whitespace run as one space (none at the start). */
static void add_collapsed(strbuf *out, const char *s, size_t n, bool *space)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            *space = out->len > 0;
            continue;
        }
        if (*space) {
            strbuf_add(out, " ", 1);
            *space = false;
        }
        strbuf_add(out, &s[i], 1);
    }
}

char *shape_mask(const char *text, size_t len, size_t max_bytes)
{
    pthread_once(&pattern_once, compile_pattern);
    if (!pattern || !text)
        return NULL;
    /* PCRE2 wants valid UTF-8: anything else is masked to '?' first */
    bool valid = utf8_valid(text, len);
    char *clean = valid ? NULL : utf8_sanitize(text, len);
    if (!valid && !clean)
        return NULL;
    const char *s = clean ? clean : text;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(pattern, NULL);
    if (!md) {
        free(clean);
        return NULL;
    }
    strbuf out = {0};
    bool space = false;
    size_t at = 0;
    while (at < len && out.len <= max_bytes) {
        int rc = pcre2_match(pattern, (PCRE2_SPTR)s, len, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0)
            break; /* no more matches (or a match limit): the rest is kept as is */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t g = 1;
        while (g < (size_t)rc && ov[2 * g] == PCRE2_UNSET)
            g++;
        add_collapsed(&out, s + at, ov[0] - at, &space);
        if (space) {
            strbuf_add(&out, " ", 1);
            space = false;
        }
        strbuf_puts(&out, masks[g - 1].replacement);
        at = ov[1] > ov[0] ? ov[1] : ov[1] + 1; /* no empty matches in masks; be safe */
    }
    if (at < len)
        add_collapsed(&out, s + at, len - at, &space);
    pcre2_match_data_free(md);
    free(clean);
    if (out.failed) {
        strbuf_free(&out);
        return NULL;
    }
    char *r = strbuf_take(&out);
    if (r) {
        size_t n = utf8_cut(r, strlen(r), max_bytes);
        while (n > 0 && r[n - 1] == ' ')
            n--;
        r[n] = '\0';
    }
    return r;
}

typedef struct {
    const char *key;
    char *value; /* NEW, masked */
} masked_attr;

static int cmp_attr(const void *a, const void *b)
{
    const masked_attr *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

/* Appends "name: masked(text)\n" when text is not empty. -1 when out of memory. */
static int add_part(strbuf *b, const char *name, const char *text, size_t max)
{
    if (!text || !*text)
        return 0;
    char *m = shape_mask(text, strlen(text), max);
    if (!m)
        return -1;
    if (*m)
        strbuf_printf(b, "%s: %s\n", name, m);
    free(m);
    return 0;
}

char *shape_text(const Hutch__V1__Alert *a)
{
    strbuf b = {0};
    size_t n = a->n_attributes < SHAPE_MAX_ATTRIBUTES ? a->n_attributes : SHAPE_MAX_ATTRIBUTES;
    masked_attr *attrs = calloc(n ? n : 1, sizeof *attrs);
    size_t used = 0;
    bool oom = !attrs;
    if (!oom && a->schema && *a->schema) {
        char *m = shape_mask(a->schema, strlen(a->schema), SHAPE_MAX_VALUE);
        oom = !m;
        if (m)
            strbuf_printf(&b, "schema: %s\n", m);
        free(m);
    }
    oom = oom || add_part(&b, "title", a->title, SHAPE_MAX_TITLE) != 0 ||
          add_part(&b, "description", a->description, SHAPE_MAX_DESCRIPTION) != 0;
    for (size_t i = 0; !oom && i < n; i++) {
        const Hutch__V1__Attribute *at = a->attributes[i];
        if (!at || !at->key || !*at->key)
            continue;
        attrs[used].key = at->key;
        attrs[used].value = shape_mask(at->value ? at->value : "", at->value ? strlen(at->value) : 0, SHAPE_MAX_VALUE);
        oom = !attrs[used++].value;
    }
    if (!oom) {
        qsort(attrs, used, sizeof *attrs, cmp_attr);
        for (size_t i = 0; i < used; i++) {
            char *k = shape_mask(attrs[i].key, strlen(attrs[i].key), SHAPE_MAX_VALUE);
            if (!k) {
                oom = true;
                break;
            }
            strbuf_printf(&b, "%s: %s\n", k, attrs[i].value);
            free(k);
        }
    }
    for (size_t i = 0; i < used; i++)
        free(attrs[i].value);
    free(attrs);
    if (oom || b.failed) {
        strbuf_free(&b);
        return NULL;
    }
    return strbuf_take(&b);
}

int shape_hash(const char *shape, char out[SHAPE_HASH_LEN])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, SHAPE_VERSION "\n", strlen(SHAPE_VERSION "\n")) == 1 &&
             EVP_DigestUpdate(c, shape, strlen(shape)) == 1 && EVP_DigestFinal_ex(c, d, NULL) == 1;
    EVP_MD_CTX_free(c);
    if (!ok)
        return -1;
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    return 0;
}
