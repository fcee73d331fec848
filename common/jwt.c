/* RS256 JWTs and JWKS key sets with OpenSSL 3 and jansson (see jwt.h for the
 * contract).
 *
 * Decoding is strict: exactly three base64url parts without padding, header and
 * payload JSON objects, nothing skipped. An RSA key is built from its JWK "n" and
 * "e" with EVP_PKEY_fromdata. The key cache keeps the last good set; a refresh
 * replaces the whole set (a kid removed from the JWKS stops verifying once the set
 * is fetched again), and never runs more often than min_refresh_ms. */
#include "common/jwt.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/ids.h"

/* base64url without padding (RFC 7515 §2). NEW buffer (with a NUL after the
 * data) or NULL when the text is not base64url. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 == 1)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v;
        if (c >= 'A' && c <= 'Z') v = c - 'A';
        else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
        else if (c >= '0' && c <= '9') v = c - '0' + 52;
        else if (c == '-') v = 62;
        else if (c == '_') v = 63;
        else {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* leftover bits must be zero (one canonical encoding per byte string) */
    if (bits && (acc & ((1u << bits) - 1))) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static json_t *b64url_json_object(const char *s, size_t n)
{
    size_t len = 0;
    unsigned char *raw = b64url_decode(s, n, &len);
    if (!raw)
        return NULL;
    json_t *j = json_loadb((const char *)raw, len, 0, NULL);
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

void jwt_token_free(jwt_token *t)
{
    if (!t)
        return;
    json_decref(t->header);
    json_decref(t->claims);
    free(t->signing_input);
    free(t->sig);
    memset(t, 0, sizeof *t);
}

int jwt_decode(const char *token, size_t len, jwt_token *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token))) {
        snprintf(err, errlen, "not a compact JWS (want three dot-separated parts)");
        return -1;
    }
    out->header = b64url_json_object(token, (size_t)(d1 - token));
    if (!out->header) {
        snprintf(err, errlen, "JWT header is not a base64url JSON object");
        goto bad;
    }
    out->claims = b64url_json_object(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!out->claims) {
        snprintf(err, errlen, "JWT payload is not a base64url JSON object");
        goto bad;
    }
    out->sig = b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), &out->sig_len);
    if (!out->sig || out->sig_len == 0) {
        snprintf(err, errlen, "JWT signature is not base64url");
        goto bad;
    }
    out->signing_input_len = (size_t)(d2 - token);
    out->signing_input = strndup(token, out->signing_input_len);
    if (!out->signing_input) {
        snprintf(err, errlen, "out of memory");
        goto bad;
    }
    out->kid = json_string_value(json_object_get(out->header, "kid"));
    return 0;
bad:
    jwt_token_free(out);
    return -1;
}

static BIGNUM *b64url_bn(const char *s)
{
    size_t n = 0;
    unsigned char *raw = s ? b64url_decode(s, strlen(s), &n) : NULL;
    BIGNUM *bn = raw && n ? BN_bin2bn(raw, (int)n, NULL) : NULL;
    free(raw);
    return bn;
}

static EVP_PKEY *rsa_from_jwk(const char *n64, const char *e64, char *err, size_t errlen)
{
    BIGNUM *n = b64url_bn(n64), *e = b64url_bn(e64);
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    if (!n || !e) {
        snprintf(err, errlen, "RSA key with a missing or malformed \"n\"/\"e\"");
        goto out;
    }
    if (BN_num_bits(n) < 2048) {
        snprintf(err, errlen, "RSA key shorter than 2048 bits");
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) || !(params = OSSL_PARAM_BLD_to_param(bld))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        snprintf(err, errlen, "RSA key refused by OpenSSL");
        key = NULL;
    }
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return key;
}

void jwt_jwks_free(jwt_jwks *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->keys[i].kid);
        EVP_PKEY_free(s->keys[i].key);
    }
    free(s->keys);
    s->keys = NULL;
    s->n = 0;
}

int jwt_jwks_parse(const char *json, size_t len, jwt_jwks *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_t *doc = json_loadb(json, len, 0, NULL);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        snprintf(err, errlen, "not a JWKS (want {\"keys\": [...]})");
        json_decref(doc);
        return -1;
    }
    size_t cap = json_array_size(keys);
    out->keys = calloc(cap ? cap : 1, sizeof *out->keys);
    if (!out->keys) {
        snprintf(err, errlen, "out of memory");
        json_decref(doc);
        return -1;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *kid = json_string_value(json_object_get(k, "kid"));
        const char *use = json_string_value(json_object_get(k, "use"));
        const char *alg = json_string_value(json_object_get(k, "alg"));
        if (!kty || strcmp(kty, "RSA") != 0 || !kid || (use && strcmp(use, "sig") != 0) ||
            (alg && strcmp(alg, "RS256") != 0))
            continue;
        char kerr[128];
        EVP_PKEY *key = rsa_from_jwk(json_string_value(json_object_get(k, "n")),
                                     json_string_value(json_object_get(k, "e")), kerr, sizeof kerr);
        if (!key) {
            snprintf(err, errlen, "key \"%.64s\": %s", kid, kerr);
            jwt_jwks_free(out);
            json_decref(doc);
            return -1;
        }
        out->keys[out->n].kid = strdup(kid);
        out->keys[out->n].key = key;
        out->n++;
        if (!out->keys[out->n - 1].kid) {
            snprintf(err, errlen, "out of memory");
            jwt_jwks_free(out);
            json_decref(doc);
            return -1;
        }
    }
    json_decref(doc);
    return 0;
}

int jwt_verify_sig(const jwt_token *t, jwt_pkey *key)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, t->sig, t->sig_len, (const unsigned char *)t->signing_input,
                              t->signing_input_len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

/* A NumericDate claim: a JSON number of seconds. */
static int numeric_date(const json_t *claims, const char *name, bool required, int64_t *out, char *err,
                        size_t errlen)
{
    const json_t *v = json_object_get(claims, name);
    if (!v) {
        if (required)
            snprintf(err, errlen, "token without \"%s\"", name);
        return required ? -1 : 1;
    }
    if (!json_is_number(v)) {
        snprintf(err, errlen, "\"%s\" is not a number", name);
        return -1;
    }
    double d = json_number_value(v);
    if (d != d || d < -9e15 || d > 9e15) {
        snprintf(err, errlen, "\"%s\" out of range", name);
        return -1;
    }
    *out = (int64_t)d;
    return 0;
}

int jwt_check_claims(const jwt_token *t, const jwt_expect *e, char *err, size_t errlen)
{
    const char *alg = json_string_value(json_object_get(t->header, "alg"));
    if (!alg || strcmp(alg, "RS256") != 0) {
        snprintf(err, errlen, "alg \"%.32s\" refused (want RS256)", alg ? alg : "");
        return -1;
    }
    if (e->issuers && *e->issuers) {
        const char *iss = json_string_value(json_object_get(t->claims, "iss"));
        if (!iss || !config_list_has(e->issuers, iss)) {
            snprintf(err, errlen, "issuer not accepted");
            return -1;
        }
    }
    if (e->audience && *e->audience) {
        const json_t *aud = json_object_get(t->claims, "aud");
        bool ok = json_is_string(aud) && strcmp(json_string_value(aud), e->audience) == 0;
        size_t i;
        const json_t *a;
        if (json_is_array(aud))
            json_array_foreach(aud, i, a) ok = ok || (json_is_string(a) && strcmp(json_string_value(a), e->audience) == 0);
        if (!ok) {
            snprintf(err, errlen, "audience not accepted");
            return -1;
        }
    }
    int64_t v;
    int rc = numeric_date(t->claims, "exp", true, &v, err, errlen);
    if (rc < 0)
        return -1;
    if (e->now_s >= v + e->leeway_s) {
        snprintf(err, errlen, "token expired");
        return -1;
    }
    rc = numeric_date(t->claims, "nbf", false, &v, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0 && e->now_s + e->leeway_s < v) {
        snprintf(err, errlen, "token not valid yet (nbf)");
        return -1;
    }
    rc = numeric_date(t->claims, "iat", false, &v, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0 && e->now_s + e->leeway_s < v) {
        snprintf(err, errlen, "token issued in the future (iat)");
        return -1;
    }
    return 0;
}

struct jwt_keyset {
    pthread_mutex_t lock;
    char *url;
    char *ca_file;
    fetch_options fo;
    int64_t min_refresh_ms, max_age_ms;
    jwt_jwks set;
    int64_t fetched_ms;    /* last successful fetch; 0 = never */
    int64_t attempted_ms;  /* last attempt, successful or not */
};

jwt_keyset *jwt_keyset_new(const char *url, const fetch_options *fo, int64_t min_refresh_ms, int64_t max_age_ms)
{
    jwt_keyset *ks = calloc(1, sizeof *ks);
    if (!ks)
        return NULL;
    ks->url = strdup(url);
    ks->fo = *fo;
    ks->ca_file = fo->ca_file ? strdup(fo->ca_file) : NULL;
    ks->fo.ca_file = ks->ca_file;
    ks->min_refresh_ms = min_refresh_ms;
    ks->max_age_ms = max_age_ms;
    pthread_mutex_init(&ks->lock, NULL);
    if (!ks->url || (fo->ca_file && !ks->ca_file)) {
        jwt_keyset_free(ks);
        return NULL;
    }
    return ks;
}

void jwt_keyset_free(jwt_keyset *ks)
{
    if (!ks)
        return;
    jwt_jwks_free(&ks->set);
    free(ks->url);
    free(ks->ca_file);
    pthread_mutex_destroy(&ks->lock);
    free(ks);
}

/* Under the lock. */
static void refresh(jwt_keyset *ks, int64_t now, char *err, size_t errlen)
{
    ks->attempted_ms = now;
    char *body = NULL;
    size_t len = 0;
    char ferr[256];
    if (fetch_get(ks->url, &ks->fo, &body, &len, ferr, sizeof ferr) != 0) {
        snprintf(err, errlen, "JWKS fetch failed: %s", ferr);
        return;
    }
    jwt_jwks fresh;
    if (jwt_jwks_parse(body, len, &fresh, ferr, sizeof ferr) != 0) {
        snprintf(err, errlen, "JWKS refused: %s", ferr);
        free(body);
        return;
    }
    free(body);
    jwt_jwks_free(&ks->set);
    ks->set = fresh;
    ks->fetched_ms = now;
}

static EVP_PKEY *find_key(jwt_keyset *ks, const char *kid)
{
    for (size_t i = 0; i < ks->set.n; i++)
        if (strcmp(ks->set.keys[i].kid, kid) == 0)
            return ks->set.keys[i].key;
    return NULL;
}

/* A NEW reference to kid's key, or NULL with err. */
static EVP_PKEY *key_for(jwt_keyset *ks, const char *kid, char *err, size_t errlen)
{
    snprintf(err, errlen, "unknown key id");
    pthread_mutex_lock(&ks->lock);
    int64_t now = ids_now_ms();
    bool stale = ks->fetched_ms == 0 || (ks->max_age_ms > 0 && now - ks->fetched_ms >= ks->max_age_ms);
    EVP_PKEY *k = stale ? NULL : find_key(ks, kid);
    if (!k && (ks->attempted_ms == 0 || now - ks->attempted_ms >= ks->min_refresh_ms)) {
        refresh(ks, now, err, errlen);
        k = find_key(ks, kid);
        if (!k && ks->fetched_ms == now)
            snprintf(err, errlen, "unknown key id (not in the JWKS fetched now)");
    } else if (!k && stale) {
        k = find_key(ks, kid); /* too soon to fetch again: the held set still serves */
    }
    if (k && EVP_PKEY_up_ref(k) != 1)
        k = NULL;
    pthread_mutex_unlock(&ks->lock);
    return k;
}

int jwt_keyset_verify(jwt_keyset *ks, const char *token, size_t len, const jwt_expect *e, json_t **claims, char *err,
                      size_t errlen)
{
    *claims = NULL;
    jwt_token t;
    if (jwt_decode(token, len, &t, err, errlen) != 0)
        return -1;
    int rc = -1;
    if (jwt_check_claims(&t, e, err, errlen) != 0)
        goto out;
    if (!t.kid) {
        snprintf(err, errlen, "token without \"kid\"");
        goto out;
    }
    EVP_PKEY *k = key_for(ks, t.kid, err, errlen);
    if (!k)
        goto out;
    rc = jwt_verify_sig(&t, k);
    EVP_PKEY_free(k);
    if (rc != 0) {
        snprintf(err, errlen, "bad signature");
        goto out;
    }
    *claims = json_incref(t.claims);
out:
    jwt_token_free(&t);
    return rc;
}
