/* Rego builtins: text encodings (base64.*, base64url.*, hex.*, urlquery.*, uri.*).
 *
 * OPA implements these with Go's encoding/base64, encoding/hex and net/url, and
 * policies see Go's behaviour (which inputs are accepted, the byte offset in
 * "illegal base64 data at input byte N", the quoting in "invalid URL escape"), so
 * the validation here walks the input the way Go's decoders do. The base64 bit
 * shuffling itself is OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock: the Go-style scan
 * only checks the input and rewrites it into a clean, padded, standard-alphabet
 * buffer for EVP_DecodeBlock.
 *
 * No static mutable state: safe from any number of threads.
 */
#include "rego/builtins.h"

#include <openssl/evp.h>

#include <ctype.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hands the buffer over as a string value; frees the buffer. */
static int enc_finish(rego_bctx *ctx, const char *name, rego_buf *b, rv **out)
{
    if (b->oom) {
        free(b->p);
        return rego_bctx_errorf(ctx, "%s: out of memory", name);
    }
    *out = rego_buf_take(b);
    return REGO_OK;
}

/* ---- base64 ----------------------------------------------------------- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(unsigned char c, bool url)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

static void b64_skip_newlines(const char *s, size_t n, size_t *si)
{
    while (*si < n && (s[*si] == '\n' || s[*si] == '\r')) (*si)++;
}

/* Go's padded base64 decoder (StdEncoding / URLEncoding), non-strict. On success
 * returns 0 and a NEW buffer (free()) with the decoded bytes; on bad input returns
 * -1 with the offset Go reports; -2 on OOM. */
static int b64_go_decode(const char *s, size_t n, bool url, unsigned char **out, size_t *outlen, size_t *errpos)
{
    char *clean = malloc(n + 4);
    unsigned char *dec = malloc(n / 4 * 3 + 4);
    if (clean == NULL || dec == NULL) {
        free(clean);
        free(dec);
        return -2;
    }
    size_t si = 0, ci = 0, pad = 0;
    int rc = 0;
    for (;;) {
        char q[4];
        int j;
        bool done = false;
        for (j = 0; j < 4; j++) {
            if (si == n) {
                if (j == 0) {
                    done = true;
                    break;
                }
                *errpos = si - (size_t)j;
                rc = -1;
                goto out;
            }
            unsigned char in = (unsigned char)s[si++];
            int v = b64_val(in, url);
            if (v >= 0) {
                q[j] = b64_std[v];
                continue;
            }
            if (in == '\n' || in == '\r') {
                j--;
                continue;
            }
            if (in != '=') {
                *errpos = si - 1;
                rc = -1;
                goto out;
            }
            if (j < 2) {
                *errpos = si - 1;
                rc = -1;
                goto out;
            }
            if (j == 2) {
                b64_skip_newlines(s, n, &si);
                if (si == n) {
                    *errpos = n;
                    rc = -1;
                    goto out;
                }
                if (s[si] != '=') {
                    *errpos = si - 1;
                    rc = -1;
                    goto out;
                }
                si++;
            }
            b64_skip_newlines(s, n, &si);
            if (si < n) {
                *errpos = si;
                rc = -1;
                goto out;
            }
            pad = 4 - (size_t)j;
            for (int k = j; k < 4; k++) q[k] = 'A';
            memcpy(clean + ci, q, 4);
            ci += 4;
            done = true;
            break;
        }
        if (done) break;
        memcpy(clean + ci, q, 4);
        ci += 4;
    }
    if (ci > 0) {
        int got = EVP_DecodeBlock(dec, (const unsigned char *)clean, (int)ci);
        if (got < 0 || (size_t)got != ci / 4 * 3) {
            *errpos = 0;
            rc = -1;
            goto out;
        }
    }
    *outlen = ci / 4 * 3 - pad;
    *out = dec;
    dec = NULL;
out:
    free(clean);
    free(dec);
    return rc;
}

static int b64_decode_builtin(rego_bctx *ctx, const char *name, const char *s, size_t n, bool url, rv **out)
{
    unsigned char *dec = NULL;
    size_t declen = 0, errpos = 0;
    int rc = b64_go_decode(s, n, url, &dec, &declen, &errpos);
    if (rc == -2) return rego_bctx_errorf(ctx, "%s: out of memory", name);
    if (rc < 0) return rego_bctx_errorf(ctx, "%s: illegal base64 data at input byte %zu", name, errpos);
    *out = rv_string((const char *)dec, declen);
    free(dec);
    return REGO_OK;
}

/* Standard-alphabet padded encoding through EVP_EncodeBlock, then optional URL
 * alphabet and optional padding removal. */
static int b64_encode_builtin(rego_bctx *ctx, const char *name, const rv *in, bool url, bool pad, rv **out)
{
    size_t n = rv_strlen(in);
    if (n > 0x3fffffff) return rego_bctx_errorf(ctx, "%s: input too large", name);
    size_t cap = (n + 2) / 3 * 4 + 1;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) return rego_bctx_errorf(ctx, "%s: out of memory", name);
    int len = EVP_EncodeBlock(buf, (const unsigned char *)rv_str(in), (int)n);
    if (len < 0) {
        free(buf);
        return rego_bctx_errorf(ctx, "%s: encoding failed", name);
    }
    size_t outlen = (size_t)len;
    if (url) {
        for (size_t i = 0; i < outlen; i++) {
            if (buf[i] == '+') buf[i] = '-';
            else if (buf[i] == '/') buf[i] = '_';
        }
    }
    if (!pad) {
        while (outlen > 0 && buf[outlen - 1] == '=') outlen--;
    }
    *out = rv_string((const char *)buf, outlen);
    free(buf);
    return REGO_OK;
}

static int bi_base64_encode(rego_bctx *ctx, rv *const *args, rv **out)
{
    return b64_encode_builtin(ctx, "base64.encode", args[0], false, true, out);
}

static int bi_base64_decode(rego_bctx *ctx, rv *const *args, rv **out)
{
    return b64_decode_builtin(ctx, "base64.decode", rv_str(args[0]), rv_strlen(args[0]), false, out);
}

static int bi_base64_is_valid(rego_bctx *ctx, rv *const *args, rv **out)
{
    unsigned char *dec = NULL;
    size_t declen = 0, errpos = 0;
    int rc = b64_go_decode(rv_str(args[0]), rv_strlen(args[0]), false, &dec, &declen, &errpos);
    free(dec);
    if (rc == -2) return rego_bctx_errorf(ctx, "base64.is_valid: out of memory");
    *out = rv_bool(rc == 0);
    return REGO_OK;
}

static int bi_base64url_encode(rego_bctx *ctx, rv *const *args, rv **out)
{
    return b64_encode_builtin(ctx, "base64url.encode", args[0], true, true, out);
}

static int bi_base64url_encode_no_pad(rego_bctx *ctx, rv *const *args, rv **out)
{
    return b64_encode_builtin(ctx, "base64url.encode_no_pad", args[0], true, false, out);
}

/* OPA accepts unpadded base64url (RFC 7515 appendix C): pad it, then decode strictly. */
static int bi_base64url_decode(rego_bctx *ctx, rv *const *args, rv **out)
{
    const char *s = rv_str(args[0]);
    size_t n = rv_strlen(args[0]);
    if (n > 0 && s[n - 1] == '=') return b64_decode_builtin(ctx, "base64url.decode", s, n, true, out);
    size_t extra = 0;
    switch (n % 4) {
    case 0: break;
    case 2: extra = 2; break;
    case 3: extra = 1; break;
    default: return rego_bctx_errorf(ctx, "base64url.decode: illegal base64url string: %s", s);
    }
    char *tmp = malloc(n + 3);
    if (tmp == NULL) return rego_bctx_errorf(ctx, "base64url.decode: out of memory");
    memcpy(tmp, s, n);
    memset(tmp + n, '=', extra);
    int rc = b64_decode_builtin(ctx, "base64url.decode", tmp, n + extra, true, out);
    free(tmp);
    return rc;
}

/* ---- hex -------------------------------------------------------------- */

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int bi_hex_encode(rego_bctx *ctx, rv *const *args, rv **out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)rv_str(args[0]);
    size_t n = rv_strlen(args[0]);
    char *buf = malloc(2 * n + 1);
    if (buf == NULL) return rego_bctx_errorf(ctx, "hex.encode: out of memory");
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = digits[s[i] >> 4];
        buf[2 * i + 1] = digits[s[i] & 15];
    }
    *out = rv_string(buf, 2 * n);
    free(buf);
    return REGO_OK;
}

/* Go's InvalidByteError text: "encoding/hex: invalid byte: %#U". */
static int hex_invalid_byte(rego_bctx *ctx, unsigned char c)
{
    if (c >= 0x20 && c < 0x7f)
        return rego_bctx_errorf(ctx, "hex.decode: encoding/hex: invalid byte: U+%04X '%c'", c, c);
    if (c >= 0xa1 && c != 0xad) {
        char u[3] = {(char)(0xc0 | (c >> 6)), (char)(0x80 | (c & 0x3f)), 0};
        return rego_bctx_errorf(ctx, "hex.decode: encoding/hex: invalid byte: U+%04X '%s'", c, u);
    }
    return rego_bctx_errorf(ctx, "hex.decode: encoding/hex: invalid byte: U+%04X", c);
}

static int bi_hex_decode(rego_bctx *ctx, rv *const *args, rv **out)
{
    const unsigned char *s = (const unsigned char *)rv_str(args[0]);
    size_t n = rv_strlen(args[0]);
    char *buf = malloc(n / 2 + 1);
    if (buf == NULL) return rego_bctx_errorf(ctx, "hex.decode: out of memory");
    size_t i = 0, j = 1;
    for (; j < n; j += 2) {
        int a = hex_val(s[j - 1]), b = hex_val(s[j]);
        if (a < 0 || b < 0) {
            free(buf);
            return hex_invalid_byte(ctx, a < 0 ? s[j - 1] : s[j]);
        }
        buf[i++] = (char)(a << 4 | b);
    }
    if (n % 2 == 1) {
        free(buf);
        if (hex_val(s[j - 1]) < 0) return hex_invalid_byte(ctx, s[j - 1]);
        return rego_bctx_errorf(ctx, "hex.decode: encoding/hex: odd length hex string");
    }
    *out = rv_string(buf, i);
    free(buf);
    return REGO_OK;
}

/* ---- urlquery --------------------------------------------------------- */

/* Go's url.QueryEscape. */
static void url_query_escape(rego_buf *b, const char *s, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            rego_buf_putc(b, (char)c);
        } else if (c == ' ') {
            rego_buf_putc(b, '+');
        } else {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            rego_buf_putn(b, esc, 3);
        }
    }
}

/* Go's url.QueryUnescape. Returns 0, or -1 with a NEW error text in *err (free()). */
static int url_query_unescape(const char *s, size_t n, rego_buf *b, char **err)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n || hex_val((unsigned char)s[i + 1]) < 0 || hex_val((unsigned char)s[i + 2]) < 0) {
                size_t el = n - i > 3 ? 3 : n - i;
                rego_buf e = REGO_BUF_SOFT;
                rego_buf_putn(&e, "invalid URL escape ", 19);
                rego_go_quote(&e, s + i, el, false);
                if (e.oom) {
                    free(e.p);
                    *err = NULL;
                } else {
                    *err = e.p;
                }
                return -1;
            }
            rego_buf_putc(b, (char)(hex_val((unsigned char)s[i + 1]) << 4 | hex_val((unsigned char)s[i + 2])));
            i += 2;
        } else if (c == '+') {
            rego_buf_putc(b, ' ');
        } else {
            rego_buf_putc(b, c);
        }
    }
    return 0;
}

static int bi_urlquery_encode(rego_bctx *ctx, rv *const *args, rv **out)
{
    rego_buf b = REGO_BUF_SOFT;
    url_query_escape(&b, rv_str(args[0]), rv_strlen(args[0]));
    return enc_finish(ctx, "urlquery.encode", &b, out);
}

static int bi_urlquery_decode(rego_bctx *ctx, rv *const *args, rv **out)
{
    rego_buf b = REGO_BUF_SOFT;
    char *err = NULL;
    if (url_query_unescape(rv_str(args[0]), rv_strlen(args[0]), &b, &err) < 0) {
        free(b.p);
        int rc = rego_bctx_errorf(ctx, "urlquery.decode: %s", err ? err : "invalid URL escape");
        free(err);
        return rc;
    }
    return enc_finish(ctx, "urlquery.decode", &b, out);
}

static void url_pair(rego_buf *b, const rv *key, const rv *val)
{
    if (b->len > 0) rego_buf_putc(b, '&');
    url_query_escape(b, rv_str(key), rv_strlen(key));
    rego_buf_putc(b, '=');
    url_query_escape(b, rv_str(val), rv_strlen(val));
}

/* Keys come out sorted: objects iterate in rv_compare order, which for strings is
 * byte order, the same as Go's sort.Strings in url.Values.Encode. */
static int bi_urlquery_encode_object(rego_bctx *ctx, rv *const *args, rv **out)
{
    const rv *obj = args[0];
    rego_buf b = REGO_BUF_SOFT;
    size_t n = rv_len(obj);
    for (size_t i = 0; i < n; i++) {
        rv *k = rv_object_key_at(obj, i), *v = rv_object_val_at(obj, i);
        if (rv_typeof(k) != RV_STRING) {
            free(b.p);
            return rego_bctx_type_errorf(ctx,
                                         "urlquery.encode_object: operand 1 must be object[string: "
                                         "string|array[string]|set[string]] but got object with %s key",
                                         rv_type_name(k));
        }
        switch (rv_typeof(v)) {
        case RV_STRING: url_pair(&b, k, v); break;
        case RV_ARRAY:
        case RV_SET: {
            size_t m = rv_len(v);
            for (size_t j = 0; j < m; j++) {
                rv *e = rv_typeof(v) == RV_ARRAY ? rv_array_at(v, j) : rv_set_at(v, j);
                if (rv_typeof(e) != RV_STRING) {
                    free(b.p);
                    return rego_bctx_type_errorf(ctx, "urlquery.encode_object: operand 1 must be array of strings");
                }
                url_pair(&b, k, e);
            }
            break;
        }
        default:
            free(b.p);
            return rego_bctx_type_errorf(
                ctx, "urlquery.encode_object: operand 1 must be one of {string, array, set} but got %s",
                rv_type_name(v));
        }
    }
    return enc_finish(ctx, "urlquery.encode_object", &b, out);
}

typedef struct {
    rv *key, *val;
    size_t order;
} url_kv;

static int url_kv_cmp(const void *a, const void *b)
{
    const url_kv *x = a, *y = b;
    int c = rv_compare(x->key, y->key);
    if (c != 0) return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Go's url.ParseQuery: '&'-separated, ';' is an error, first error wins but parsing
 * goes on (we only need whether there was one). */
static int bi_urlquery_decode_object(rego_bctx *ctx, rv *const *args, rv **out)
{
    const char *s = rv_str(args[0]);
    size_t n = rv_strlen(args[0]);
    url_kv *kv = NULL;
    size_t nkv = 0, cap = 0;
    char *err = NULL;
    bool failed = false;
    size_t pos = 0;
    while (pos < n) {
        const char *amp = memchr(s + pos, '&', n - pos);
        size_t end = amp ? (size_t)(amp - s) : n;
        const char *seg = s + pos;
        size_t seglen = end - pos;
        pos = amp ? end + 1 : n;
        if (memchr(seg, ';', seglen) != NULL) {
            if (!failed) {
                failed = true;
                err = strdup("invalid semicolon separator in query");
            }
            continue;
        }
        if (seglen == 0) continue;
        const char *eq = memchr(seg, '=', seglen);
        size_t klen = eq ? (size_t)(eq - seg) : seglen;
        rego_buf kb = REGO_BUF_SOFT, vb = REGO_BUF_SOFT;
        char *e1 = NULL;
        if (url_query_unescape(seg, klen, &kb, &e1) < 0 ||
            (eq && url_query_unescape(eq + 1, seglen - klen - 1, &vb, &e1) < 0)) {
            free(kb.p);
            free(vb.p);
            if (!failed) {
                failed = true;
                err = e1;
            } else {
                free(e1);
            }
            continue;
        }
        if (kb.oom || vb.oom) {
            free(kb.p);
            free(vb.p);
            failed = true;
            break;
        }
        if (nkv == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            url_kv *p = realloc(kv, ncap * sizeof *kv);
            if (p == NULL) {
                free(kb.p);
                free(vb.p);
                failed = true;
                break;
            }
            kv = p;
            cap = ncap;
        }
        kv[nkv].key = rv_string(kb.p ? kb.p : "", kb.len);
        kv[nkv].val = rv_string(vb.p ? vb.p : "", vb.len);
        kv[nkv].order = nkv;
        nkv++;
        free(kb.p);
        free(vb.p);
    }
    int rc = REGO_OK;
    if (failed) {
        rc = rego_bctx_errorf(ctx, "urlquery.decode_object: %s", err ? err : "invalid query");
    } else {
        if (nkv > 0) qsort(kv, nkv, sizeof *kv, url_kv_cmp);
        rv *obj = rv_object_new(nkv);
        for (size_t i = 0; i < nkv;) {
            size_t j = i;
            rv *arr = rv_array_new(1);
            while (j < nkv && rv_equal(kv[j].key, kv[i].key)) {
                rv_array_push(arr, rv_ref(kv[j].val));
                j++;
            }
            rv_object_set(obj, rv_ref(kv[i].key), arr);
            i = j;
        }
        *out = obj;
    }
    for (size_t i = 0; i < nkv; i++) {
        rv_unref(kv[i].key);
        rv_unref(kv[i].val);
    }
    free(kv);
    free(err);
    return rc;
}

/* ---- uri (Go's net/url.Parse) ----------------------------------------- */

enum { URL_PATH, URL_HOST, URL_ZONE, URL_FRAGMENT };

/* Go's shouldEscape for the modes used here. */
static bool url_should_escape(unsigned char c, int mode)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return false;
    if (mode == URL_HOST || mode == URL_ZONE) {
        switch (c) {
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '[':
        case ']':
        case '<':
        case '>':
        case '"': return false;
        default: break;
        }
    }
    switch (c) {
    case '-':
    case '_':
    case '.':
    case '~': return false;
    case '$':
    case '&':
    case '+':
    case ',':
    case '/':
    case ':':
    case ';':
    case '=':
    case '?':
    case '@':
        if (mode == URL_PATH) return c == '?';
        if (mode == URL_FRAGMENT) return false;
        return true;
    default: break;
    }
    if (mode == URL_FRAGMENT) {
        switch (c) {
        case '!':
        case '(':
        case ')':
        case '*': return false;
        default: break;
        }
    }
    return true;
}

/* Go's unescape for path/host/zone/fragment. Returns 0, or -1 with a NEW error text. */
static int url_unescape_mode(const char *s, size_t n, int mode, rego_buf *b, char **err)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || hex_val((unsigned char)s[i + 1]) < 0 || hex_val((unsigned char)s[i + 2]) < 0 ||
                (mode == URL_HOST && hex_val((unsigned char)s[i + 1]) < 8 && strncmp(s + i, "%25", 3) != 0)) {
                rego_buf e = REGO_BUF_SOFT;
                rego_buf_putn(&e, "invalid URL escape ", 19);
                rego_go_quote(&e, s + i, n - i > 3 ? 3 : n - i, false);
                *err = e.p;
                return -1;
            }
            rego_buf_putc(b, (char)(hex_val((unsigned char)s[i + 1]) << 4 | hex_val((unsigned char)s[i + 2])));
            i += 2;
            continue;
        }
        if ((mode == URL_HOST || mode == URL_ZONE) && c < 0x80 && url_should_escape(c, mode)) {
            rego_buf e = REGO_BUF_SOFT;
            rego_buf_putn(&e, "invalid character ", 18);
            rego_go_quote(&e, s + i, 1, false);
            rego_buf_putn(&e, " in host name", 13);
            *err = e.p;
            return -1;
        }
        rego_buf_putc(b, (char)c);
    }
    return 0;
}

static void url_escape_path(rego_buf *b, const char *s, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (url_should_escape(c, URL_PATH)) {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            rego_buf_putn(b, esc, 3);
        } else {
            rego_buf_putc(b, (char)c);
        }
    }
}

static bool url_valid_encoded_path(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '@':
        case '[':
        case ']':
        case '%': break;
        default:
            if (url_should_escape((unsigned char)s[i], URL_PATH)) return false;
        }
    }
    return true;
}

static bool url_valid_port(const char *s, size_t n)
{
    if (n == 0) return true;
    if (s[0] != ':') return false;
    for (size_t i = 1; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

typedef struct {
    rego_buf scheme, host, path, raw_path, query, fragment;
} url_parts;

static void url_parts_free(url_parts *u)
{
    free(u->scheme.p);
    free(u->host.p);
    free(u->path.p);
    free(u->raw_path.p);
    free(u->query.p);
    free(u->fragment.p);
}

static char *url_errf(const char *msg, const char *q, size_t qn, const char *tail)
{
    rego_buf e = REGO_BUF_SOFT;
    rego_buf_putn(&e, msg, strlen(msg));
    if (q) {
        rego_go_quote(&e, q, qn, false);
        rego_buf_putn(&e, tail, strlen(tail));
    }
    return e.p;
}

static int url_parse_host(const char *h, size_t n, rego_buf *out, char **err)
{
    if (n > 0 && h[0] == '[') {
        const char *rb = NULL;
        for (size_t i = n; i-- > 0;)
            if (h[i] == ']') {
                rb = h + i;
                break;
            }
        if (rb == NULL) {
            *err = url_errf("missing ']' in host", NULL, 0, NULL);
            return -1;
        }
        size_t i = (size_t)(rb - h);
        if (!url_valid_port(rb + 1, n - i - 1)) {
            *err = url_errf("invalid port ", rb + 1, n - i - 1, " after host");
            return -1;
        }
        const char *zone = NULL;
        for (size_t k = 0; k + 3 <= i; k++)
            if (strncmp(h + k, "%25", 3) == 0) {
                zone = h + k;
                break;
            }
        if (zone) {
            size_t zk = (size_t)(zone - h);
            if (url_unescape_mode(h, zk, URL_HOST, out, err) < 0 ||
                url_unescape_mode(zone, i - zk, URL_ZONE, out, err) < 0 ||
                url_unescape_mode(rb, n - i, URL_HOST, out, err) < 0)
                return -1;
            return 0;
        }
    } else {
        for (size_t i = n; i-- > 0;) {
            if (h[i] == ':') {
                if (!url_valid_port(h + i, n - i)) {
                    *err = url_errf("invalid port ", h + i, n - i, " after host");
                    return -1;
                }
                break;
            }
        }
    }
    return url_unescape_mode(h, n, URL_HOST, out, err);
}

static bool url_valid_userinfo(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || strchr("-._:~!$&'()*+,;=%@", c) != NULL) continue;
        return false;
    }
    return true;
}

/* Go's url.Parse (not via request). Returns 0, or -1 with a NEW error text. */
static int url_parse(const char *raw, size_t n, url_parts *u, char **err)
{
    memset(u, 0, sizeof *u);
    u->scheme.soft_oom = u->host.soft_oom = u->path.soft_oom = true;
    u->raw_path.soft_oom = u->query.soft_oom = u->fragment.soft_oom = true;
    const char *hash = memchr(raw, '#', n);
    size_t rn = hash ? (size_t)(hash - raw) : n;
    if (hash && url_unescape_mode(hash + 1, n - rn - 1, URL_FRAGMENT, &u->fragment, err) < 0) return -1;
    for (size_t i = 0; i < rn; i++)
        if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f) {
            *err = url_errf("net/url: invalid control character in URL", NULL, 0, NULL);
            return -1;
        }
    const char *rest = raw;
    size_t restn = rn;
    if (rn == 1 && raw[0] == '*') {
        rego_buf_putc(&u->path, '*');
        rego_buf_putc(&u->raw_path, '*');
        return 0;
    }
    /* scheme */
    for (size_t i = 0; i < rn; i++) {
        char c = raw[i];
        if (isalpha((unsigned char)c)) continue;
        if (isdigit((unsigned char)c) || c == '+' || c == '-' || c == '.') {
            if (i == 0) break;
            continue;
        }
        if (c == ':') {
            if (i == 0) {
                *err = url_errf("missing protocol scheme", NULL, 0, NULL);
                return -1;
            }
            for (size_t k = 0; k < i; k++) rego_buf_putc(&u->scheme, (char)tolower((unsigned char)raw[k]));
            rest = raw + i + 1;
            restn = rn - i - 1;
        }
        break;
    }
    const char *q = memchr(rest, '?', restn);
    if (q) {
        rego_buf_putn(&u->query, q + 1, restn - (size_t)(q - rest) - 1);
        restn = (size_t)(q - rest);
    }
    bool has_scheme = u->scheme.len > 0;
    if (restn == 0 || rest[0] != '/') {
        if (has_scheme) return 0; /* opaque */
        const char *sl = memchr(rest, '/', restn);
        size_t seg = sl ? (size_t)(sl - rest) : restn;
        if (memchr(rest, ':', seg) != NULL) {
            *err = url_errf("first path segment in URL cannot contain colon", NULL, 0, NULL);
            return -1;
        }
    }
    if ((has_scheme || !(restn >= 3 && strncmp(rest, "///", 3) == 0)) && restn >= 2 && strncmp(rest, "//", 2) == 0) {
        const char *auth = rest + 2;
        size_t an = restn - 2;
        const char *sl = memchr(auth, '/', an);
        if (sl) {
            rest = sl;
            restn = an - (size_t)(sl - auth);
            an = (size_t)(sl - auth);
        } else {
            rest = auth + an;
            restn = 0;
        }
        const char *at = NULL;
        for (size_t i = an; i-- > 0;)
            if (auth[i] == '@') {
                at = auth + i;
                break;
            }
        const char *h = at ? at + 1 : auth;
        if (url_parse_host(h, an - (size_t)(h - auth), &u->host, err) < 0) return -1;
        if (at && !url_valid_userinfo(auth, (size_t)(at - auth))) {
            *err = url_errf("net/url: invalid userinfo", NULL, 0, NULL);
            return -1;
        }
    }
    if (url_unescape_mode(rest, restn, URL_PATH, &u->path, err) < 0) return -1;
    /* EscapedPath(): the raw form when it is a valid encoding of the path */
    if (url_valid_encoded_path(rest, restn)) {
        rego_buf_putn(&u->raw_path, rest, restn);
    } else {
        url_escape_path(&u->raw_path, u->path.p ? u->path.p : "", u->path.len);
    }
    if (u->scheme.oom || u->host.oom || u->path.oom || u->raw_path.oom || u->query.oom || u->fragment.oom) {
        *err = NULL;
        return -1;
    }
    return 0;
}

static void url_set(rv *obj, const char *key, const char *s, size_t n)
{
    if (n > 0) rv_object_set(obj, rv_cstring(key), rv_string(s, n));
}

static int bi_uri_parse(rego_bctx *ctx, rv *const *args, rv **out)
{
    url_parts u;
    char *err = NULL;
    const char *raw = rv_str(args[0]);
    if (url_parse(raw, rv_strlen(args[0]), &u, &err) < 0) {
        rego_buf e = REGO_BUF_SOFT;
        rego_buf_putn(&e, "uri.parse: parse ", 17);
        rego_go_quote(&e, raw, rv_strlen(args[0]), false);
        rego_buf_putn(&e, ": ", 2);
        const char *m = err ? err : "out of memory";
        rego_buf_putn(&e, m, strlen(m));
        int rc = rego_bctx_errorf(ctx, "%s", e.p ? e.p : "uri.parse: invalid URI");
        free(e.p);
        free(err);
        url_parts_free(&u);
        return rc;
    }
    rv *obj = rv_object_new(7);
    url_set(obj, "scheme", u.scheme.p, u.scheme.len);
    /* Hostname() and Port(): split off a valid ":port", strip IPv6 brackets */
    const char *h = u.host.p ? u.host.p : "";
    size_t hn = u.host.len, pn = 0;
    const char *port = NULL;
    const char *colon = NULL;
    for (size_t i = hn; i-- > 0;)
        if (h[i] == ':') {
            colon = h + i;
            break;
        }
    if (colon && url_valid_port(colon, hn - (size_t)(colon - h))) {
        port = colon + 1;
        pn = hn - (size_t)(colon - h) - 1;
        hn = (size_t)(colon - h);
    }
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') {
        h++;
        hn -= 2;
    }
    url_set(obj, "hostname", h, hn);
    url_set(obj, "port", port, pn);
    url_set(obj, "path", u.path.p, u.path.len);
    url_set(obj, "raw_path", u.raw_path.p, u.raw_path.len);
    url_set(obj, "raw_query", u.query.p, u.query.len);
    url_set(obj, "fragment", u.fragment.p, u.fragment.len);
    url_parts_free(&u);
    *out = obj;
    return REGO_OK;
}

static int bi_uri_is_valid(rego_bctx *ctx, rv *const *args, rv **out)
{
    (void)ctx;
    url_parts u;
    char *err = NULL;
    bool ok = rv_strlen(args[0]) > 0 && url_parse(rv_str(args[0]), rv_strlen(args[0]), &u, &err) == 0;
    if (rv_strlen(args[0]) > 0) url_parts_free(&u);
    free(err);
    *out = rv_bool(ok);
    return REGO_OK;
}

const rego_builtin_def rego_builtins_encoding[] = {
    {"base64.encode", 1, bi_base64_encode, {"string"}, 0},
    {"base64.decode", 1, bi_base64_decode, {"string"}, 0},
    {"base64.is_valid", 1, bi_base64_is_valid, {"string"}, 0},
    {"base64url.encode", 1, bi_base64url_encode, {"string"}, 0},
    {"base64url.encode_no_pad", 1, bi_base64url_encode_no_pad, {"string"}, 0},
    {"base64url.decode", 1, bi_base64url_decode, {"string"}, 0},
    {"hex.encode", 1, bi_hex_encode, {"string"}, 0},
    {"hex.decode", 1, bi_hex_decode, {"string"}, 0},
    {"urlquery.encode", 1, bi_urlquery_encode, {"string"}, 0},
    {"urlquery.decode", 1, bi_urlquery_decode, {"string"}, 0},
    {"urlquery.encode_object", 1, bi_urlquery_encode_object, {"object"}, 0},
    {"urlquery.decode_object", 1, bi_urlquery_decode_object, {"string"}, 0},
    {"uri.parse", 1, bi_uri_parse, {"string"}, 0},
    {"uri.is_valid", 1, bi_uri_is_valid, {"string"}, 0},
    {NULL, 0, NULL, {NULL}, 0},
};
