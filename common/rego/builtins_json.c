/* JSON and YAML builtins: json.marshal, json.marshal_with_options, json.unmarshal,
 * json.is_valid, json.patch, json.filter, json.remove, yaml.marshal,
 * yaml.unmarshal, yaml.is_valid (OPA v1 semantics).
 *
 * json.unmarshal uses its own small parser so numbers keep their exact text (OPA
 * decodes with json.Number) and integers of any size survive; messages follow Go's
 * encoding/json. It is not rv_from_json_text (value.c) on purpose: that one is a
 * strict input validator that rejects a lone surrogate escape and invalid UTF-8 in
 * strings, which Go (so OPA) accepts (the escape reads as U+FFFD); Go nests up to
 * 10000 levels (value.c: 2048); and Go's messages ("invalid character 'x'
 * looking for beginning of value", pinned by test_rego_builtins_a) are not
 * value.c's ("1:1: invalid token").
 *
 * Paths: json.filter/json.remove take "a/b/c" strings (JSON-pointer escapes ~0 ~1,
 * leading slashes ignored) or arrays of segments. They are merged into a path tree
 * (ptree) where a shorter path wins over a longer one below it; filter keeps what
 * the tree reaches, remove drops the tree's leaves. json.patch uses RFC 6902 on
 * immutable values: every operation rebuilds the spine from the root to the
 * target and shares the rest. A failing operation makes the result undefined, a
 * malformed one is an error, as in OPA. Sets are addressed by their members.
 *
 * YAML goes through libyaml: scalars resolve the YAML 1.1 way go-yaml v2 does
 * (true/yes/on, null/~, ints, floats), mapping keys become strings, and
 * yaml.marshal quotes strings that would otherwise read back as another type.
 */
#include "rego/alloc.h"
#include "rego/builtins.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ------------------------------------------------------------ JSON parser */

typedef struct {
    const char *s;
    size_t n, i;
    char err[160];
    int depth;
} jparser;

static void jp_ws(jparser *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

static rv *jp_fail(jparser *p, const char *what)
{
    if (p->err[0]) return NULL;
    if (p->i >= p->n) snprintf(p->err, sizeof p->err, "unexpected end of JSON input");
    else {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c >= 0x20 && c < 0x7F && c != '\'') snprintf(p->err, sizeof p->err, "invalid character '%c' %s", c, what);
        else if (c == '\'') snprintf(p->err, sizeof p->err, "invalid character '\\'' %s", what);
        else snprintf(p->err, sizeof p->err, "invalid character '\\x%02x' %s", c, what);
    }
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool jp_hex4(jparser *p, unsigned *out)
{
    if (p->i + 4 > p->n) return false;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + (size_t)k]);
        if (h < 0) return false;
        v = v * 16 + (unsigned)h;
    }
    p->i += 4;
    *out = v;
    return true;
}

static void put_utf8(rego_buf *b, unsigned cp)
{
    char o[4];
    size_t n;
    if (cp < 0x80) o[0] = (char)cp, n = 1;
    else if (cp < 0x800) o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[2] = (char)(0x80 | (cp & 0x3F)),
        n = 3;
    else
        o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    rego_buf_putn(b, o, n);
}

static rv *jp_string(jparser *p)
{
    p->i++; /* opening quote */
    rego_buf b = {0};
    rego_buf_putn(&b, "", 0);
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            rv *r = rv_string(b.p, b.len);
            free(b.p);
            return r;
        }
        if (c < 0x20) {
            free(b.p);
            return jp_fail(p, "in string literal");
        }
        if (c != '\\') {
            rego_buf_putc(&b, (char)c);
            p->i++;
            continue;
        }
        p->i++;
        if (p->i >= p->n) break;
        char e = p->s[p->i++];
        switch (e) {
        case '"': rego_buf_putc(&b, '"'); break;
        case '\\': rego_buf_putc(&b, '\\'); break;
        case '/': rego_buf_putc(&b, '/'); break;
        case 'b': rego_buf_putc(&b, '\b'); break;
        case 'f': rego_buf_putc(&b, '\f'); break;
        case 'n': rego_buf_putc(&b, '\n'); break;
        case 'r': rego_buf_putc(&b, '\r'); break;
        case 't': rego_buf_putc(&b, '\t'); break;
        case 'u': {
            unsigned cp;
            if (!jp_hex4(p, &cp)) {
                free(b.p);
                return jp_fail(p, "in \\u hexadecimal character escape");
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                size_t save = p->i;
                if (p->i + 1 < p->n && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u' && (p->i += 2, jp_hex4(p, &lo)) &&
                    lo >= 0xDC00 && lo < 0xE000)
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else {
                    p->i = save;
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) cp = 0xFFFD;
            put_utf8(&b, cp);
            break;
        }
        default:
            p->i--;
            free(b.p);
            return jp_fail(p, "in string escape code");
        }
    }
    free(b.p);
    p->i = p->n;
    return jp_fail(p, "");
}

static rv *jp_number(jparser *p)
{
    size_t st = p->i;
    if (p->s[p->i] == '-') p->i++;
    if (p->i >= p->n) return jp_fail(p, "");
    if (p->s[p->i] == '0') p->i++;
    else if (p->s[p->i] >= '1' && p->s[p->i] <= '9')
        while (p->i < p->n && isdigit((unsigned char)p->s[p->i])) p->i++;
    else return jp_fail(p, "in numeric literal");
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || !isdigit((unsigned char)p->s[p->i]))
            return jp_fail(p, "after decimal point in numeric literal");
        while (p->i < p->n && isdigit((unsigned char)p->s[p->i])) p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || !isdigit((unsigned char)p->s[p->i])) return jp_fail(p, "in exponent of numeric literal");
        while (p->i < p->n && isdigit((unsigned char)p->s[p->i])) p->i++;
    }
    rv *v = rv_number_from_text(p->s + st, p->i - st);
    if (!v) snprintf(p->err, sizeof p->err, "json: cannot unmarshal number %.*s", (int)(p->i - st), p->s + st);
    return v;
}

static rv *jp_value(jparser *p);

static bool jp_lit(jparser *p, const char *lit)
{
    size_t l = strlen(lit);
    for (size_t k = 0; k < l; k++) {
        if (p->i + k >= p->n || p->s[p->i + k] != lit[k]) {
            p->i += k;
            jp_fail(p, "in literal true (expecting 'r')");
            /* Go names the literal and the expected byte */
            if (p->i < p->n) {
                const char *name = lit[0] == 't' ? "true" : lit[0] == 'f' ? "false" : "null";
                char c = p->s[p->i];
                snprintf(p->err, sizeof p->err, "invalid character '%c' in literal %s (expecting '%c')", c, name,
                         lit[k]);
            }
            return false;
        }
    }
    p->i += l;
    return true;
}

static rv *jp_value(jparser *p)
{
    jp_ws(p);
    if (p->i >= p->n) return jp_fail(p, "");
    if (++p->depth > 10000) {
        snprintf(p->err, sizeof p->err, "exceeded max depth");
        return NULL;
    }
    rv *r = NULL;
    char c = p->s[p->i];
    if (c == '{') {
        p->i++;
        r = rv_object_new(4);
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            goto done;
        }
        for (;;) {
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != '"') {
                jp_fail(p, "looking for beginning of object key string");
                goto fail;
            }
            rv *k = jp_string(p);
            if (!k) goto fail;
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                rv_unref(k);
                jp_fail(p, "after object key");
                goto fail;
            }
            p->i++;
            rv *v = jp_value(p);
            if (!v) {
                rv_unref(k);
                goto fail;
            }
            rv_object_set(r, k, v);
            jp_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == '}') {
                p->i++;
                break;
            }
            jp_fail(p, "after object key:value pair");
            goto fail;
        }
    } else if (c == '[') {
        p->i++;
        r = rv_array_new(4);
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            goto done;
        }
        for (;;) {
            rv *v = jp_value(p);
            if (!v) goto fail;
            rv_array_push(r, v);
            jp_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == ']') {
                p->i++;
                break;
            }
            jp_fail(p, "after array element");
            goto fail;
        }
    } else if (c == '"') {
        r = jp_string(p);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        r = jp_number(p);
    } else if (c == 't') {
        if (jp_lit(p, "true")) r = rv_bool(true);
    } else if (c == 'f') {
        if (jp_lit(p, "false")) r = rv_bool(false);
    } else if (c == 'n') {
        if (jp_lit(p, "null")) r = rv_null();
    } else {
        jp_fail(p, "looking for beginning of value");
    }
done:
    p->depth--;
    return r;
fail:
    rv_unref(r);
    p->depth--;
    return NULL;
}

/* Parses a whole JSON document. NEW value, or NULL with err filled. */
static rv *json_parse(const char *s, size_t n, char *err, size_t errlen)
{
    jparser p = {.s = s, .n = n};
    rv *v = jp_value(&p);
    if (v) {
        jp_ws(&p);
        if (p.i < p.n) {
            rv_unref(v);
            v = NULL;
            jp_fail(&p, "after top-level value");
        }
    }
    if (!v) snprintf(err, errlen, "%s", p.err[0] ? p.err : "unexpected end of JSON input");
    return v;
}

/* ------------------------------------------------------------ marshal */

static int bi_json_marshal(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (!rego_bctx_may_render(ctx, a[0])) return REGO_ERR;
    char *s = rv_to_json_text(a[0]);
    *out = rv_cstring(s);
    free(s);
    return REGO_OK;
}

static void put_key(rego_buf *b, const rv *k)
{
    char *t = rv_to_json_text(k);
    if (rv_typeof(k) == RV_STRING) rego_buf_puts(b, t);
    else {
        rv *ks = rv_cstring(t);
        char *q = rv_to_json_text(ks);
        rego_buf_puts(b, q);
        free(q);
        rv_unref(ks);
    }
    free(t);
}

static void newline(rego_buf *b, const char *prefix, const char *indent, int depth)
{
    rego_buf_putc(b, '\n');
    rego_buf_puts(b, prefix);
    for (int i = 0; i < depth; i++) rego_buf_puts(b, indent);
}

/* Go's json.MarshalIndent layout. */
static void pretty(rego_buf *b, const rv *v, const char *prefix, const char *indent, int depth)
{
    rv_type t = rv_typeof(v);
    size_t n = (t == RV_ARRAY || t == RV_SET || t == RV_OBJECT) ? rv_len(v) : 0;
    if ((t != RV_ARRAY && t != RV_SET && t != RV_OBJECT) || n == 0) {
        char *s = rv_to_json_text(v);
        rego_buf_puts(b, s);
        free(s);
        return;
    }
    rego_buf_putc(b, t == RV_OBJECT ? '{' : '[');
    for (size_t i = 0; i < n; i++) {
        if (i) rego_buf_putc(b, ',');
        newline(b, prefix, indent, depth + 1);
        if (t == RV_OBJECT) {
            put_key(b, rv_object_key_at(v, i));
            rego_buf_puts(b, ": ");
            pretty(b, rv_object_val_at(v, i), prefix, indent, depth + 1);
        } else {
            pretty(b, t == RV_SET ? rv_set_at(v, i) : rv_array_at(v, i), prefix, indent, depth + 1);
        }
    }
    newline(b, prefix, indent, depth);
    rego_buf_putc(b, t == RV_OBJECT ? '}' : ']');
}

static int bi_json_marshal_with_options(rego_bctx *ctx, rv *const *a, rv **out)
{
    const char *fn = "json.marshal_with_options";
    const rv *opts = a[1];
    const char *indent = "\t", *prefix = "";
    bool implicit = false, explicit_set = false, pp = false;
    for (size_t i = 0; i < rv_len(opts); i++) {
        const rv *k = rv_object_key_at(opts, i), *v = rv_object_val_at(opts, i);
        const char *ks = rv_typeof(k) == RV_STRING ? rv_str(k) : "";
        if (strcmp(ks, "prefix") == 0 || strcmp(ks, "indent") == 0) {
            if (rv_typeof(v) != RV_STRING)
                return rego_bctx_type_errorf(ctx, "%s: operand 2 %s option must be a string, got %s", fn, ks,
                                             rv_type_name(v));
            if (ks[0] == 'p') prefix = rv_str(v);
            else indent = rv_str(v);
            implicit = true;
        } else if (strcmp(ks, "pretty") == 0) {
            if (rv_typeof(v) != RV_BOOL)
                return rego_bctx_type_errorf(ctx, "%s: operand 2 pretty option must be a boolean, got %s", fn,
                                             rv_type_name(v));
            explicit_set = true;
            pp = rv_is_true(v);
        } else {
            char *kt = rv_to_rego_text(k);
            int rc = rego_bctx_type_errorf(ctx, "%s: operand 2 object contained unknown key %s", fn, kt);
            free(kt);
            return rc;
        }
    }
    if (!explicit_set) pp = implicit;
    if (!pp) return bi_json_marshal(ctx, a, out);
    rego_buf b = {0};
    rego_buf_puts(&b, prefix);
    pretty(&b, a[0], prefix, indent, 0);
    *out = rv_string(b.p, b.len);
    free(b.p);
    return REGO_OK;
}

static int bi_json_unmarshal(rego_bctx *ctx, rv *const *a, rv **out)
{
    char err[200];
    rv *v = json_parse(rv_str(a[0]), rv_strlen(a[0]), err, sizeof err);
    if (!v) return rego_bctx_errorf(ctx, "json.unmarshal: %s", err);
    *out = v;
    return REGO_OK;
}

static int bi_json_is_valid(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (rv_typeof(a[0]) != RV_STRING) {
        *out = rv_bool(false);
        return REGO_OK;
    }
    char err[200];
    rv *v = json_parse(rv_str(a[0]), rv_strlen(a[0]), err, sizeof err);
    *out = rv_bool(v != NULL);
    rv_unref(v);
    return REGO_OK;
}

/* ------------------------------------------------------------ paths */

/* Splits a "/a/b~1c" path into string segments. NEW array. */
static rv *split_path(const char *s, size_t n, bool keep_leading_empty)
{
    rv *arr = rv_array_new(4);
    size_t i = 0;
    if (!keep_leading_empty)
        while (i < n && s[i] == '/') i++;
    else if (i < n && s[i] == '/') i++;
    for (;;) {
        size_t j = i;
        while (j < n && s[j] != '/') j++;
        rego_buf seg = {0};
        rego_buf_putn(&seg, "", 0);
        for (size_t k = i; k < j; k++) {
            if (s[k] == '~' && k + 1 < j && s[k + 1] == '1') rego_buf_putc(&seg, '/'), k++;
            else if (s[k] == '~' && k + 1 < j && s[k + 1] == '0') rego_buf_putc(&seg, '~'), k++;
            else rego_buf_putc(&seg, s[k]);
        }
        rv_array_push(arr, rv_string(seg.p, seg.len));
        free(seg.p);
        if (j >= n) break;
        i = j + 1;
    }
    return arr;
}

typedef struct ptree {
    rv *key;
    bool leaf;
    struct ptree *kids;
    size_t n, cap;
} ptree;

static void ptree_free(ptree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        ptree_free(&t->kids[i]);
        rv_unref(t->kids[i].key);
    }
    free(t->kids);
    t->kids = NULL;
    t->n = t->cap = 0;
}

/* Child matching key; array positions also match the index written as a string. */
static ptree *ptree_child(ptree *t, const rv *key, int64_t index)
{
    for (size_t i = 0; i < t->n; i++) {
        const rv *k = t->kids[i].key;
        if (rv_equal(k, key)) return &t->kids[i];
        if (index >= 0) {
            char buf[24];
            snprintf(buf, sizeof buf, "%lld", (long long)index);
            if (rv_typeof(k) == RV_STRING && strcmp(rv_str(k), buf) == 0) return &t->kids[i];
        }
    }
    return NULL;
}

static void ptree_add(ptree *t, const rv *segs)
{
    size_t n = rv_len(segs);
    for (size_t i = 0; i < n; i++) {
        if (t->leaf) return; /* a shorter path already covers this one */
        rv *seg = rv_array_at(segs, i);
        ptree *c = ptree_child(t, seg, -1);
        if (!c) {
            if (t->n == t->cap) {
                t->cap = t->cap ? t->cap * 2 : 4;
                t->kids = rego_xrealloc(t->kids, t->cap * sizeof *t->kids);
            }
            c = &t->kids[t->n++];
            memset(c, 0, sizeof *c);
            c->key = rv_ref(seg);
        }
        t = c;
    }
    t->leaf = true;
    ptree_free(t);
}

/* Builds the tree from a set/array of paths; type error for anything else. */
static int ptree_build(rego_bctx *ctx, const char *fn, const rv *paths, ptree *root)
{
    memset(root, 0, sizeof *root);
    if (rv_typeof(paths) != RV_SET && rv_typeof(paths) != RV_ARRAY)
        return rego_bctx_type_errorf(ctx, "%s: operand 2 must be one of {set, array} but got %s", fn,
                                     rv_type_name(paths));
    bool set = rv_typeof(paths) == RV_SET;
    for (size_t i = 0; i < rv_len(paths); i++) {
        const rv *p = set ? rv_set_at(paths, i) : rv_array_at(paths, i);
        if (rv_typeof(p) == RV_STRING) {
            rv *segs = split_path(rv_str(p), rv_strlen(p), false);
            ptree_add(root, segs);
            rv_unref(segs);
        } else if (rv_typeof(p) == RV_ARRAY) {
            ptree_add(root, p);
        } else {
            ptree_free(root);
            return rego_bctx_type_errorf(ctx,
                                         "%s: operand 2 must be one of {set, array} containing string paths or array "
                                         "of path segments but got %s",
                                         fn, rv_type_name(p));
        }
    }
    return REGO_OK;
}

/* NEW: the parts of v the tree reaches. */
static rv *tree_filter(const rv *v, ptree *t)
{
    if (t->leaf) return rv_ref((rv *)v);
    switch (rv_typeof(v)) {
    case RV_OBJECT: {
        rv *r = rv_object_new(t->n);
        for (size_t i = 0; i < rv_len(v); i++) {
            ptree *c = ptree_child(t, rv_object_key_at(v, i), -1);
            if (c) rv_object_set(r, rv_ref(rv_object_key_at(v, i)), tree_filter(rv_object_val_at(v, i), c));
        }
        return r;
    }
    case RV_ARRAY: {
        rv *r = rv_array_new(t->n);
        for (size_t i = 0; i < rv_len(v); i++) {
            rv *idx = rv_int((int64_t)i);
            ptree *c = ptree_child(t, idx, (int64_t)i);
            rv_unref(idx);
            if (c) rv_array_push(r, tree_filter(rv_array_at(v, i), c));
        }
        return r;
    }
    case RV_SET: {
        rv *r = rv_set_new(t->n);
        for (size_t i = 0; i < rv_len(v); i++) {
            ptree *c = ptree_child(t, rv_set_at(v, i), -1);
            if (c) rv_set_add(r, tree_filter(rv_set_at(v, i), c));
        }
        return r;
    }
    default: return rv_ref((rv *)v);
    }
}

/* NEW: v without the tree's leaves; NULL when v itself is removed. */
static rv *tree_remove(const rv *v, ptree *t)
{
    if (!t) return rv_ref((rv *)v);
    if (t->leaf) return NULL;
    switch (rv_typeof(v)) {
    case RV_OBJECT: {
        rv *r = rv_object_new(rv_len(v));
        for (size_t i = 0; i < rv_len(v); i++) {
            rv *kept = tree_remove(rv_object_val_at(v, i), ptree_child(t, rv_object_key_at(v, i), -1));
            if (kept) rv_object_set(r, rv_ref(rv_object_key_at(v, i)), kept);
        }
        return r;
    }
    case RV_ARRAY: {
        rv *r = rv_array_new(rv_len(v));
        for (size_t i = 0; i < rv_len(v); i++) {
            rv *idx = rv_int((int64_t)i);
            rv *kept = tree_remove(rv_array_at(v, i), ptree_child(t, idx, (int64_t)i));
            rv_unref(idx);
            if (kept) rv_array_push(r, kept);
        }
        return r;
    }
    case RV_SET: {
        rv *r = rv_set_new(rv_len(v));
        for (size_t i = 0; i < rv_len(v); i++) {
            rv *kept = tree_remove(rv_set_at(v, i), ptree_child(t, rv_set_at(v, i), -1));
            if (kept) rv_set_add(r, kept);
        }
        return r;
    }
    default: return rv_ref((rv *)v);
    }
}

static int bi_json_filter(rego_bctx *ctx, rv *const *a, rv **out)
{
    ptree root;
    if (ptree_build(ctx, "json.filter", a[1], &root) != REGO_OK) return REGO_ERR;
    *out = tree_filter(a[0], &root);
    ptree_free(&root);
    return REGO_OK;
}

static int bi_json_remove(rego_bctx *ctx, rv *const *a, rv **out)
{
    ptree root;
    if (ptree_build(ctx, "json.remove", a[1], &root) != REGO_OK) return REGO_ERR;
    rv *r = tree_remove(a[0], &root);
    ptree_free(&root);
    *out = r ? r : rv_object_new(0);
    return REGO_OK;
}

/* ------------------------------------------------------------ json.patch */

/* Array index from a path segment: digits without leading zeros, or an integer
 * number. -1 if invalid. "-" is handled by the caller. */
static int64_t seg_index(const rv *seg)
{
    if (rv_typeof(seg) == RV_NUMBER) {
        int64_t i;
        if (rv_number_is_integer(seg) && rv_number_as_int64(seg, &i) && i >= 0) return i;
        return -1;
    }
    if (rv_typeof(seg) != RV_STRING) return -1;
    const char *s = rv_str(seg);
    size_t n = rv_strlen(seg);
    if (n == 0 || n > 18 || (n > 1 && s[0] == '0')) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool seg_is_dash(const rv *seg)
{
    return rv_typeof(seg) == RV_STRING && rv_strlen(seg) == 1 && rv_str(seg)[0] == '-';
}

enum { P_ADD, P_REMOVE, P_REPLACE };

/* Copy of a container (array, object or set) with its items. NEW. */
static rv *shallow_copy_except(const rv *c, const rv *skip_key, int64_t skip_index)
{
    size_t n = rv_len(c);
    switch (rv_typeof(c)) {
    case RV_OBJECT: {
        rv *r = rv_object_new(n);
        for (size_t i = 0; i < n; i++)
            if (!skip_key || !rv_equal(rv_object_key_at(c, i), skip_key))
                rv_object_set(r, rv_ref(rv_object_key_at(c, i)), rv_ref(rv_object_val_at(c, i)));
        return r;
    }
    case RV_SET: {
        rv *r = rv_set_new(n);
        for (size_t i = 0; i < n; i++)
            if (!skip_key || !rv_equal(rv_set_at(c, i), skip_key)) rv_set_add(r, rv_ref(rv_set_at(c, i)));
        return r;
    }
    default: {
        rv *r = rv_array_new(n);
        for (size_t i = 0; i < n; i++)
            if ((int64_t)i != skip_index) rv_array_push(r, rv_ref(rv_array_at(c, i)));
        return r;
    }
    }
}

/* Applies op at the last segment of path inside container c. NEW or NULL (failure). */
static rv *patch_leaf(const rv *c, const rv *seg, int op, rv *val)
{
    switch (rv_typeof(c)) {
    case RV_OBJECT: {
        bool has = rv_object_get(c, seg) != NULL;
        if (op != P_ADD && !has) return NULL;
        rv *r = shallow_copy_except(c, seg, -1);
        if (op != P_REMOVE) rv_object_set(r, rv_ref((rv *)seg), rv_ref(val));
        return r;
    }
    case RV_SET: {
        bool has = rv_set_contains(c, seg);
        if (op != P_ADD && !has) return NULL;
        if (op != P_REMOVE && !rv_equal(seg, val)) return NULL;
        rv *r = shallow_copy_except(c, seg, -1);
        if (op != P_REMOVE) rv_set_add(r, rv_ref(val));
        return r;
    }
    case RV_ARRAY: {
        size_t n = rv_len(c);
        int64_t k = (op == P_ADD && seg_is_dash(seg)) ? (int64_t)n : seg_index(seg);
        if (k < 0) return NULL;
        if (op == P_ADD) {
            if ((uint64_t)k > n) return NULL;
            rv *r = rv_array_new(n + 1);
            for (size_t i = 0; i <= n; i++) {
                if ((int64_t)i == k) rv_array_push(r, rv_ref(val));
                if (i < n) rv_array_push(r, rv_ref(rv_array_at(c, i)));
            }
            return r;
        }
        if ((uint64_t)k >= n) return NULL;
        rv *r = rv_array_new(n);
        for (size_t i = 0; i < n; i++) {
            if ((int64_t)i != k) rv_array_push(r, rv_ref(rv_array_at(c, i)));
            else if (op == P_REPLACE) rv_array_push(r, rv_ref(val));
        }
        return r;
    }
    default: return NULL;
    }
}

/* Rebuilds doc with op applied at path[depth..]. NEW or NULL. */
static rv *patch_apply(const rv *doc, const rv *path, size_t depth, int op, rv *val)
{
    size_t n = rv_len(path);
    if (n == 0) return op == P_REMOVE ? NULL : rv_ref(val);
    const rv *seg = rv_array_at(path, depth);
    if (depth == n - 1) return patch_leaf(doc, seg, op, val);
    rv *child = NULL;
    int64_t k = -1;
    switch (rv_typeof(doc)) {
    case RV_OBJECT: child = rv_object_get(doc, seg); break;
    case RV_ARRAY:
        k = seg_index(seg);
        if (k >= 0 && (uint64_t)k < rv_len(doc)) child = rv_array_at(doc, (size_t)k);
        break;
    case RV_SET:
        for (size_t i = 0; i < rv_len(doc) && !child; i++)
            if (rv_equal(rv_set_at(doc, i), seg)) child = rv_set_at(doc, i);
        break;
    default: break;
    }
    if (!child) return NULL;
    rv *nc = patch_apply(child, path, depth + 1, op, val);
    if (!nc) return NULL;
    rv *r;
    switch (rv_typeof(doc)) {
    case RV_OBJECT:
        r = shallow_copy_except(doc, NULL, -1);
        rv_object_set(r, rv_ref((rv *)seg), nc);
        break;
    case RV_ARRAY: {
        size_t len = rv_len(doc);
        r = rv_array_new(len);
        for (size_t i = 0; i < len; i++) rv_array_push(r, (int64_t)i == k ? rv_ref(nc) : rv_ref(rv_array_at(doc, i)));
        rv_unref(nc);
        break;
    }
    default: /* set: the member is replaced by its patched version */
        r = shallow_copy_except(doc, child, -1);
        rv_set_add(r, nc);
        break;
    }
    return r;
}

/* Path operand of a patch: string pointer or array of segments. NEW or NULL. */
static rv *patch_path(const rv *p)
{
    if (rv_typeof(p) == RV_ARRAY) return rv_ref((rv *)p);
    if (rv_typeof(p) != RV_STRING) return NULL;
    if (rv_strlen(p) == 0) return rv_array_new(0);
    return split_path(rv_str(p), rv_strlen(p), true);
}

static rv *lookup(const rv *doc, const rv *path)
{
    const rv *cur = doc;
    for (size_t i = 0; i < rv_len(path) && cur; i++) {
        const rv *seg = rv_array_at(path, i);
        rv *next = NULL;
        switch (rv_typeof(cur)) {
        case RV_OBJECT: next = rv_object_get(cur, seg); break;
        case RV_ARRAY: {
            int64_t k = seg_index(seg);
            if (k >= 0 && (uint64_t)k < rv_len(cur)) next = rv_array_at(cur, (size_t)k);
            break;
        }
        case RV_SET:
            for (size_t j = 0; j < rv_len(cur) && !next; j++)
                if (rv_equal(rv_set_at(cur, j), seg)) next = rv_set_at(cur, j);
            break;
        default: break;
        }
        cur = next;
    }
    return (rv *)cur;
}

static int bi_json_patch(rego_bctx *ctx, rv *const *a, rv **out)
{
    const char *fn = "json.patch";
    rv *doc = rv_ref(a[0]);
    const rv *ops = a[1];
    int rc = REGO_OK;
    for (size_t i = 0; i < rv_len(ops); i++) {
        const rv *o = rv_array_at(ops, i);
        if (rv_typeof(o) != RV_OBJECT) {
            rc = rego_bctx_errorf(
                ctx, "%s: must be an array of JSON-Patch objects, but at least one element is not an object", fn);
            break;
        }
        rv *opv = rv_object_get_cstr(o, "op"), *pathv = rv_object_get_cstr(o, "path");
        if (!opv) {
            rc = rego_bctx_errorf(ctx, "%s: missing 'op' attribute", fn);
            break;
        }
        if (rv_typeof(opv) != RV_STRING) {
            rc = rego_bctx_errorf(ctx, "%s: attribute 'op' must be a string", fn);
            break;
        }
        if (!pathv) {
            rc = rego_bctx_errorf(ctx, "%s: missing 'path' attribute", fn);
            break;
        }
        const char *op = rv_str(opv);
        rv *path = patch_path(pathv);
        if (!path) {
            rc = REGO_UNDEF;
            break;
        }
        rv *val = rv_object_get_cstr(o, "value");
        rv *from = NULL, *nd = NULL;
        bool needs_value = !strcmp(op, "add") || !strcmp(op, "replace") || !strcmp(op, "test");
        bool needs_from = !strcmp(op, "move") || !strcmp(op, "copy");
        if (!needs_value && !needs_from && strcmp(op, "remove") != 0) {
            rc = rego_bctx_errorf(ctx, "%s: unrecognized op '%s'", fn, op);
        } else if (needs_value && !val) {
            rc = rego_bctx_errorf(ctx, "%s: missing 'value' attribute", fn);
        } else if (needs_from && !rv_object_get_cstr(o, "from")) {
            rc = rego_bctx_errorf(ctx, "%s: missing 'from' attribute", fn);
        } else if (needs_from && !(from = patch_path(rv_object_get_cstr(o, "from")))) {
            rc = REGO_UNDEF;
        } else if (!strcmp(op, "add")) {
            nd = patch_apply(doc, path, 0, P_ADD, val);
        } else if (!strcmp(op, "remove")) {
            nd = patch_apply(doc, path, 0, P_REMOVE, NULL);
        } else if (!strcmp(op, "replace")) {
            nd = patch_apply(doc, path, 0, P_REPLACE, val);
        } else if (!strcmp(op, "test")) {
            rv *cur = lookup(doc, path);
            if (cur && rv_equal(cur, val)) nd = rv_ref(doc);
        } else { /* move, copy */
            rv *src = lookup(doc, from);
            if (src) {
                src = rv_ref(src);
                if (!strcmp(op, "copy")) nd = patch_apply(doc, path, 0, P_ADD, src);
                else if (rv_equal(from, path)) nd = rv_ref(doc);
                else {
                    rv *tmp = patch_apply(doc, from, 0, P_REMOVE, NULL);
                    if (tmp) nd = patch_apply(tmp, path, 0, P_ADD, src);
                    rv_unref(tmp);
                }
                rv_unref(src);
            }
        }
        rv_unref(from);
        rv_unref(path);
        if (rc != REGO_OK) break;
        if (!nd) {
            rc = REGO_UNDEF;
            break;
        }
        rv_unref(doc);
        doc = nd;
    }
    if (rc != REGO_OK) {
        rv_unref(doc);
        return rc;
    }
    *out = doc;
    return REGO_OK;
}

/* ------------------------------------------------------------ YAML */

static bool all_digits(const char *s, size_t n, const char *allowed)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr(allowed, s[i]) || !s[i]) return false;
    return true;
}

/* go-yaml v2 resolution of a plain scalar. NEW value; NULL for .inf/.nan (not JSON). */
static rv *yaml_resolve(const char *s, size_t n, bool *bad)
{
    static const char *nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *trues[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
    static const char *falses[] = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
    *bad = false;
    for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
        if (strlen(nulls[i]) == n && !memcmp(nulls[i], s, n)) return rv_null();
    for (size_t i = 0; i < sizeof trues / sizeof *trues; i++)
        if (strlen(trues[i]) == n && !memcmp(trues[i], s, n)) return rv_bool(true);
    for (size_t i = 0; i < sizeof falses / sizeof *falses; i++)
        if (strlen(falses[i]) == n && !memcmp(falses[i], s, n)) return rv_bool(false);
    if (n == 0 || n > 400) return NULL;
    char buf[408];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_') buf[k++] = s[i];
    buf[k] = 0;
    const char *b = buf;
    bool neg = false;
    if (*b == '+' || *b == '-') neg = (*b++ == '-');
    if (!strcmp(b, ".inf") || !strcmp(b, ".Inf") || !strcmp(b, ".INF") || !strcmp(b, ".nan") || !strcmp(b, ".NaN") ||
        !strcmp(b, ".NAN")) {
        *bad = true;
        return NULL;
    }
    size_t bl = strlen(b);
    if (bl > 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'b' || b[1] == 'o')) {
        int base = b[1] == 'x' ? 16 : b[1] == 'b' ? 2 : 8;
        const char *set = base == 16 ? "0123456789abcdefABCDEF" : base == 2 ? "01" : "01234567";
        if (!all_digits(b + 2, bl - 2, set) || bl > 20) return NULL;
        long long v = (long long)strtoull(b + 2, NULL, base);
        return rv_int(neg ? -v : v);
    }
    if (bl > 1 && b[0] == '0' && all_digits(b, bl, "01234567") && bl < 22) { /* YAML 1.1 octal */
        long long v = (long long)strtoull(b, NULL, 8);
        return rv_int(neg ? -v : v);
    }
    if (s[0] != '+' && strchr(buf, '_') == NULL) {
        rv *v = rv_number_from_text(buf, k);
        if (v) return v;
    }
    /* floats Go accepts but JSON does not: "1.", ".5", "+1.5" */
    if (all_digits(b, bl, "0123456789.eE+-") && strpbrk(b, "0123456789") &&
        (isdigit((unsigned char)b[bl - 1]) || b[bl - 1] == '.')) {
        char *end;
        double d = strtod(buf, &end);
        if (*end == 0 && !isinf(d)) return rv_double(d);
    }
    return NULL;
}

typedef struct {
    yaml_document_t *doc;
    char err[200];
    int depth;
} ycvt;

static rv *yaml_node_to_rv(ycvt *c, yaml_node_t *node)
{
    if (!node) return rv_null();
    if (++c->depth > 1000) {
        snprintf(c->err, sizeof c->err, "yaml: exceeded max depth");
        return NULL;
    }
    rv *r = NULL;
    switch (node->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)node->data.scalar.value;
        size_t n = node->data.scalar.length;
        if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            bool bad;
            r = yaml_resolve(s, n, &bad);
            if (bad) {
                snprintf(c->err, sizeof c->err, "json: unsupported value: %.*s", (int)(n > 40 ? 40 : n), s);
                break;
            }
        }
        if (!r) r = rv_string(s, n);
        break;
    }
    case YAML_SEQUENCE_NODE: {
        r = rv_array_new(4);
        for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
            rv *v = yaml_node_to_rv(c, yaml_document_get_node(c->doc, *it));
            if (!v) {
                rv_unref(r);
                r = NULL;
                break;
            }
            rv_array_push(r, v);
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        r = rv_object_new(4);
        for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top; pr++) {
            yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
            rv *k;
            if (kn && kn->type == YAML_SCALAR_NODE) {
                /* JSON keys are strings: a resolved non-string key prints as text */
                bool bad;
                rv *kv = kn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                             ? yaml_resolve((const char *)kn->data.scalar.value, kn->data.scalar.length, &bad)
                             : NULL;
                if (kv && rv_typeof(kv) == RV_NULL) k = rv_cstring("null");
                else k = rv_string((const char *)kn->data.scalar.value, kn->data.scalar.length);
                rv_unref(kv);
            } else {
                rv *kv = yaml_node_to_rv(c, kn);
                if (!kv) {
                    rv_unref(r);
                    r = NULL;
                    break;
                }
                char *t = rv_to_json_text(kv);
                k = rv_cstring(t);
                free(t);
                rv_unref(kv);
            }
            rv *v = yaml_node_to_rv(c, yaml_document_get_node(c->doc, pr->value));
            if (!v) {
                rv_unref(k);
                rv_unref(r);
                r = NULL;
                break;
            }
            rv_object_set(r, k, v);
        }
        break;
    }
    default: r = rv_null();
    }
    c->depth--;
    return r;
}

/* Parses the first YAML document. NEW value or NULL with err. */
rv *rego_yaml_parse(const char *s, size_t n, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "yaml: out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)s, n);
    rv *r = NULL;
    if (!yaml_parser_load(&parser, &doc)) {
        /* go-yaml v2's report: marks as libyaml gives them, scanner errors one line on */
        size_t line = 0;
        if (parser.problem_mark.line != 0) {
            line = parser.problem_mark.line;
            if (parser.error == YAML_SCANNER_ERROR) line++;
        } else if (parser.context_mark.line != 0) {
            line = parser.context_mark.line;
        }
        const char *problem = parser.problem ? parser.problem : "unknown problem parsing YAML content";
        if (line) snprintf(err, errlen, "yaml: line %zu: %s", line, problem);
        else snprintf(err, errlen, "yaml: %s", problem);
        yaml_parser_delete(&parser);
        return NULL;
    }
    ycvt c = {.doc = &doc};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    r = yaml_node_to_rv(&c, root);
    if (!r) snprintf(err, errlen, "%s", c.err);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return r;
}

static int bi_yaml_unmarshal(rego_bctx *ctx, rv *const *a, rv **out)
{
    char err[256];
    rv *v = rego_yaml_parse(rv_str(a[0]), rv_strlen(a[0]), err, sizeof err);
    if (!v) return rego_bctx_errorf(ctx, "yaml.unmarshal: %s", err);
    *out = v;
    return REGO_OK;
}

static int bi_yaml_is_valid(rego_bctx *ctx, rv *const *a, rv **out)
{
    if (rv_typeof(a[0]) != RV_STRING) {
        *out = rv_bool(false);
        return REGO_OK;
    }
    char err[256];
    rv *v = rego_yaml_parse(rv_str(a[0]), rv_strlen(a[0]), err, sizeof err);
    *out = rv_bool(v != NULL);
    rv_unref(v);
    return REGO_OK;
}

static int y_write(void *data, unsigned char *buf, size_t size)
{
    rego_buf_putn((rego_buf *)data, (const char *)buf, size);
    return 1;
}

static bool y_scalar(yaml_emitter_t *em, const char *s, size_t n, bool is_string)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    if (is_string) {
        bool bad;
        rv *r = yaml_resolve(s, n, &bad);
        bool other = bad || (r && rv_typeof(r) != RV_STRING);
        rv_unref(r);
        if (memchr(s, '\n', n)) style = YAML_LITERAL_SCALAR_STYLE;
        else if (other) style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    }
    yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *)YAML_STR_TAG, (yaml_char_t *)s, (int)n, 1, 1, style);
    return yaml_emitter_emit(em, &ev);
}

static bool y_emit(yaml_emitter_t *em, const rv *v)
{
    yaml_event_t ev;
    switch (rv_typeof(v)) {
    case RV_NULL: return y_scalar(em, "null", 4, false);
    case RV_BOOL: return rv_is_true(v) ? y_scalar(em, "true", 4, false) : y_scalar(em, "false", 5, false);
    case RV_NUMBER: {
        char *t = rv_number_text(v);
        bool ok = y_scalar(em, t, strlen(t), false);
        free(t);
        return ok;
    }
    case RV_STRING: return y_scalar(em, rv_str(v), rv_strlen(v), true);
    case RV_ARRAY:
    case RV_SET: {
        yaml_sequence_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_SEQ_TAG, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(em, &ev)) return false;
        for (size_t i = 0; i < rv_len(v); i++)
            if (!y_emit(em, rv_typeof(v) == RV_SET ? rv_set_at(v, i) : rv_array_at(v, i))) return false;
        yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    }
    case RV_OBJECT: {
        yaml_mapping_start_event_initialize(&ev, NULL, (yaml_char_t *)YAML_MAP_TAG, 1, YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit(em, &ev)) return false;
        for (size_t i = 0; i < rv_len(v); i++) {
            const rv *k = rv_object_key_at(v, i);
            bool ok;
            if (rv_typeof(k) == RV_STRING) ok = y_scalar(em, rv_str(k), rv_strlen(k), true);
            else {
                char *t = rv_to_json_text(k);
                ok = y_scalar(em, t, strlen(t), true);
                free(t);
            }
            if (!ok || !y_emit(em, rv_object_val_at(v, i))) return false;
        }
        yaml_mapping_end_event_initialize(&ev);
        return yaml_emitter_emit(em, &ev);
    }
    }
    return false;
}

static int bi_yaml_marshal(rego_bctx *ctx, rv *const *a, rv **out)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    rego_buf b = {0};
    rego_buf_putn(&b, "", 0);
    if (!yaml_emitter_initialize(&em)) return rego_bctx_errorf(ctx, "yaml.marshal: out of memory");
    yaml_emitter_set_output(&em, y_write, &b);
    yaml_emitter_set_unicode(&em, 1);
    bool ok = true;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    ok = ok && y_emit(&em, a[0]);
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_emitter_flush(&em);
    const char *problem = em.problem;
    yaml_emitter_delete(&em);
    if (!ok) {
        free(b.p);
        return rego_bctx_errorf(ctx, "yaml.marshal: %s", problem ? problem : "emitter error");
    }
    *out = rv_string(b.p, b.len);
    free(b.p);
    return REGO_OK;
}

/* ------------------------------------------------------------ table */

const rego_builtin_def rego_builtins_json[] = {
    {"json.marshal", 1, bi_json_marshal, {NULL}, 0},
    {"json.marshal_with_options", 2, bi_json_marshal_with_options, {NULL, "object"}, 0},
    {"json.unmarshal", 1, bi_json_unmarshal, {"string"}, 0},
    {"json.is_valid", 1, bi_json_is_valid, {NULL}, 0},
    {"json.patch", 2, bi_json_patch, {NULL, "array"}, 0},
    {"json.filter", 2, bi_json_filter, {"object", NULL}, 0},
    {"json.remove", 2, bi_json_remove, {"object", NULL}, 0},
    {"yaml.marshal", 1, bi_yaml_marshal, {NULL}, 0},
    {"yaml.unmarshal", 1, bi_yaml_unmarshal, {"string"}, 0},
    {"yaml.is_valid", 1, bi_yaml_is_valid, {NULL}, 0},
    {NULL, 0, NULL, {NULL}, 0},
};
