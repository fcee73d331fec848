/* Unit tests of common/jwt.c: RS256 tokens and JWKS documents with keys made here
 * (decode, claims, signature, key parsing), and the key cache of a JWKS URL served
 * by a test server on 127.0.0.1 (common/http.c, plain http through fetch.h's test
 * option): fetched on first use, cached by kid, fetched again for an unknown kid no
 * more often than min_refresh, a failed or bad fetch keeps the held keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http.h"
#include "common/jwt.h"


static EVP_PKEY *test_key;   /* made once: RSA generation is slow */
static EVP_PKEY *other_key;

static char *b64url(const unsigned char *d, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *o = malloc(n * 4 / 3 + 4);
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        o[j++] = a[v >> 18 & 63];
        o[j++] = a[v >> 12 & 63];
        if (i + 1 < n) o[j++] = a[v >> 6 & 63];
        if (i + 2 < n) o[j++] = a[v & 63];
    }
    o[j] = '\0';
    return o;
}

static char *jwk_of(EVP_PKEY *k, const char *kid)
{
    BIGNUM *n = NULL, *e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    unsigned char nb[1024], eb[16];
    int nl = BN_bn2bin(n, nb), el = BN_bn2bin(e, eb);
    char *n64 = b64url(nb, (size_t)nl), *e64 = b64url(eb, (size_t)el);
    char *out = malloc(2048);
    snprintf(out, 2048, "{\"kty\":\"RSA\",\"alg\":\"RS256\",\"use\":\"sig\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"}", kid,
             n64, e64);
    free(n64);
    free(e64);
    BN_free(n);
    BN_free(e);
    return out;
}

static char *sign_jwt(EVP_PKEY *k, const char *header, const char *claims)
{
    char *h = b64url((const unsigned char *)header, strlen(header));
    char *c = b64url((const unsigned char *)claims, strlen(claims));
    size_t il = strlen(h) + strlen(c) + 2;
    char *input = malloc(il);
    snprintf(input, il, "%s.%s", h, c);
    unsigned char sig[512];
    size_t sl = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &sl, (unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(md);
    char *s = b64url(sig, sl);
    char *tok = malloc(il + strlen(s) + 2);
    sprintf(tok, "%s.%s", input, s);
    free(h);
    free(c);
    free(input);
    free(s);
    return tok;
}

static int keys_setup(void **state)
{
    test_key = EVP_RSA_gen(2048);
    other_key = EVP_RSA_gen(2048);
    return test_key && other_key ? 0 : -1;
}

static int keys_teardown(void **state)
{
    EVP_PKEY_free(test_key);
    EVP_PKEY_free(other_key);
    return 0;
}

#define HDR "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}"

static char *claims_json(const char *iss, const char *aud, long exp_delta, const char *extra)
{
    char *c = malloc(1024);
    snprintf(c, 1024, "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%ld,\"iat\":%ld%s}", iss, aud, (long)time(NULL) + exp_delta,
             (long)time(NULL) - 10, extra ? extra : "");
    return c;
}

static int check(const char *tok, EVP_PKEY *key, const jwt_expect *e, char *err, size_t errlen)
{
    jwt_token t;
    if (jwt_decode(tok, strlen(tok), &t, err, errlen) != 0)
        return -1;
    int rc = jwt_check_claims(&t, e, err, errlen);
    if (rc == 0 && jwt_verify_sig(&t, key) != 0) {
        snprintf(err, errlen, "bad signature");
        rc = -1;
    }
    jwt_token_free(&t);
    return rc;
}

static void test_jwt(void **state)
{
    char err[256];
    jwt_expect e = {.issuers = "https://accounts.google.com,accounts.google.com", .audience = "https://hutch.example/push",
                    .now_s = time(NULL), .leeway_s = 60};
    char *c = claims_json("https://accounts.google.com", "https://hutch.example/push", 600, NULL);
    char *tok = sign_jwt(test_key, HDR, c);
    assert_int_equal(check(tok, test_key, &e, err, sizeof err), 0);
    jwt_token t;
    assert_int_equal(jwt_decode(tok, strlen(tok), &t, err, sizeof err), 0);
    assert_string_equal(t.kid, "k1");
    jwt_token_free(&t);
    /* another key's signature */
    assert_int_equal(check(tok, other_key, &e, err, sizeof err), -1);
    assert_string_equal(err, "bad signature");
    /* one byte of the payload changed: the signature no longer matches */
    char *dot = strchr(tok, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_int_equal(check(tok, test_key, &e, err, sizeof err), -1);
    free(tok);
    free(c);
    /* expired (beyond the leeway), wrong audience, wrong issuer, not yet valid */
    struct {
        const char *iss, *aud;
        long exp;
        const char *extra, *want;
    } cases[] = {
        {"accounts.google.com", "https://hutch.example/push", -61, NULL, "expired"},
        {"accounts.google.com", "https://other.example/", 600, NULL, "audience"},
        {"https://evil.example", "https://hutch.example/push", 600, NULL, "issuer"},
        {"accounts.google.com", "https://hutch.example/push", 600, ",\"nbf\":9999999999", "nbf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c = claims_json(cases[i].iss, cases[i].aud, cases[i].exp, cases[i].extra);
        tok = sign_jwt(test_key, HDR, c);
        assert_int_equal(check(tok, test_key, &e, err, sizeof err), -1);
        assert_non_null(strstr(err, cases[i].want));
        free(tok);
        free(c);
    }
    /* within the leeway; aud as an array */
    c = claims_json("accounts.google.com", "x", -30, NULL);
    char *arr = strstr(c, "\"aud\":\"x\"");
    char fixed[1100];
    snprintf(fixed, sizeof fixed, "%.*s\"aud\":[\"y\",\"https://hutch.example/push\"]%s", (int)(arr - c), c, arr + 9);
    tok = sign_jwt(test_key, HDR, fixed);
    assert_int_equal(check(tok, test_key, &e, err, sizeof err), 0);
    free(tok);
    free(c);
    /* alg none / HS256 refused whatever the signature */
    c = claims_json("accounts.google.com", "https://hutch.example/push", 600, NULL);
    tok = sign_jwt(test_key, "{\"alg\":\"none\",\"kid\":\"k1\"}", c);
    assert_int_equal(check(tok, test_key, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "alg"));
    free(tok);
    tok = sign_jwt(test_key, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", c);
    assert_int_equal(check(tok, test_key, &e, err, sizeof err), -1);
    free(tok);
    /* no exp */
    tok = sign_jwt(test_key, HDR, "{\"iss\":\"accounts.google.com\",\"aud\":\"https://hutch.example/push\"}");
    assert_int_equal(check(tok, test_key, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "exp"));
    free(tok);
    free(c);
    /* malformed compact forms */
    const char *bad[] = {"", "a.b", "a.b.c.d", "e30.e30.", "e30.e30.!!!!", "W10.e30.AAAA", "e30.W10.AAAA", "e30=.e30.AAAA",
                         NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(jwt_decode(bad[i], strlen(bad[i]), &t, err, sizeof err), -1);
}

static void test_jwks(void **state)
{
    char err[256];
    char *k1 = jwk_of(test_key, "k1"), *k2 = jwk_of(other_key, "k2");
    char doc[5000];
    snprintf(doc, sizeof doc,
             "{\"keys\":[%s,%s,{\"kty\":\"EC\",\"kid\":\"ec\"},{\"kty\":\"RSA\",\"kid\":\"enc\",\"use\":\"enc\"}]}", k1,
             k2);
    jwt_jwks s;
    assert_int_equal(jwt_jwks_parse(doc, strlen(doc), &s, err, sizeof err), 0);
    assert_int_equal(s.n, 2); /* EC and encryption keys skipped */
    assert_string_equal(s.keys[0].kid, "k1");
    char *c = claims_json("accounts.google.com", "aud", 600, NULL);
    char *tok = sign_jwt(test_key, HDR, c);
    jwt_token t;
    assert_int_equal(jwt_decode(tok, strlen(tok), &t, err, sizeof err), 0);
    assert_int_equal(jwt_verify_sig(&t, s.keys[0].key), 0);
    assert_int_equal(jwt_verify_sig(&t, s.keys[1].key), -1);
    jwt_token_free(&t);
    jwt_jwks_free(&s);
    free(tok);
    free(c);
    /* not a JWKS; a short RSA key; a malformed n */
    assert_int_equal(jwt_jwks_parse("[]", 2, &s, err, sizeof err), -1);
    const char *small = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"s\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}";
    assert_int_equal(jwt_jwks_parse(small, strlen(small), &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "2048"));
    const char *mal = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"s\",\"n\":\"!!\",\"e\":\"AQAB\"}]}";
    assert_int_equal(jwt_jwks_parse(mal, strlen(mal), &s, err, sizeof err), -1);
    free(k1);
    free(k2);
}

/* ---- the key cache -------------------------------------------------------------- */

static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;
static char served[8192];
static int served_status = 200;
static int fetches;

static void on_jwks(struct evhttp_request *req, void *ctx)
{
    pthread_mutex_lock(&served_lock);
    fetches++;
    if (served_status == 200)
        http_reply_json(req, 200, served);
    else
        http_reply_error(req, served_status, "down");
    pthread_mutex_unlock(&served_lock);
}

static void serve(const char *doc, int status)
{
    pthread_mutex_lock(&served_lock);
    snprintf(served, sizeof served, "%s", doc);
    served_status = status;
    pthread_mutex_unlock(&served_lock);
}

static int fetched(void)
{
    pthread_mutex_lock(&served_lock);
    int n = fetches;
    pthread_mutex_unlock(&served_lock);
    return n;
}

static int verify(jwt_keyset *ks, const char *kid, char *err, size_t errlen)
{
    jwt_expect e = {.issuers = "accounts.google.com", .audience = "aud", .now_s = time(NULL), .leeway_s = 60};
    char hdr[128];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
    char *c = claims_json("accounts.google.com", "aud", 600, NULL);
    char *tok = sign_jwt(test_key, hdr, c);
    json_t *claims = NULL;
    int rc = jwt_keyset_verify(ks, tok, strlen(tok), &e, &claims, err, errlen);
    if (rc == 0) {
        assert_string_equal(json_string_value(json_object_get(claims, "aud")), "aud");
        json_decref(claims);
    }
    free(tok);
    free(c);
    return rc;
}

static void test_keyset_cache(void **state)
{
    char err[256];
    http_server *srv = http_server_new("127.0.0.1", 0, 65536, err, sizeof err);
    assert_non_null(srv);
    http_server_route(srv, "/certs", on_jwks, NULL);
    assert_int_equal(http_server_start(srv), 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/certs", http_server_port(srv));
    /* the same key under two kids: the kid decides which entry is used */
    char *k1 = jwk_of(test_key, "k1"), *k2 = jwk_of(test_key, "k2");
    char doc[5000];
    snprintf(doc, sizeof doc, "{\"keys\":[%s]}", k1);
    serve(doc, 200);
    fetch_options fo = {.allow_http = true, .timeout_ms = 5000};

    /* min_refresh 60 s: one fetch, then the cache; an unknown kid does not fetch again so soon */
    jwt_keyset *ks = jwt_keyset_new(url, &fo, 60000, 0);
    int base = fetched();
    assert_int_equal(verify(ks, "k1", err, sizeof err), 0);
    assert_int_equal(fetched(), base + 1);
    assert_int_equal(verify(ks, "k1", err, sizeof err), 0);
    assert_int_equal(fetched(), base + 1);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(verify(ks, "made-up", err, sizeof err), -1);
        assert_non_null(strstr(err, "unknown key id"));
    }
    assert_int_equal(fetched(), base + 1);
    jwt_keyset_free(ks);

    /* min_refresh 0: an unknown kid fetches again, so a rotated key is found */
    ks = jwt_keyset_new(url, &fo, 0, 0);
    base = fetched();
    assert_int_equal(verify(ks, "k1", err, sizeof err), 0);
    assert_int_equal(verify(ks, "k2", err, sizeof err), -1);
    assert_int_equal(fetched(), base + 2);
    snprintf(doc, sizeof doc, "{\"keys\":[%s,%s]}", k1, k2);
    serve(doc, 200);
    assert_int_equal(verify(ks, "k2", err, sizeof err), 0);
    assert_int_equal(fetched(), base + 3);
    /* the JWKS down, then broken: the keys held keep serving */
    serve("", 503);
    assert_int_equal(verify(ks, "k3", err, sizeof err), -1);
    assert_non_null(strstr(err, "HTTP 503"));
    assert_int_equal(verify(ks, "k1", err, sizeof err), 0);
    serve("{\"keys\": 1}", 200);
    assert_int_equal(verify(ks, "k3", err, sizeof err), -1);
    assert_non_null(strstr(err, "JWKS refused"));
    assert_int_equal(verify(ks, "k2", err, sizeof err), 0);
    jwt_keyset_free(ks);

    /* max_age: a set older than it is fetched again on use (k1 removed: refused now) */
    ks = jwt_keyset_new(url, &fo, 0, 1);
    serve(doc, 200);
    assert_int_equal(verify(ks, "k1", err, sizeof err), 0);
    snprintf(doc, sizeof doc, "{\"keys\":[%s]}", k2);
    serve(doc, 200);
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(verify(ks, "k1", err, sizeof err), -1);
    jwt_keyset_free(ks);

    /* https only, unless the test option says otherwise */
    fo.allow_http = false;
    ks = jwt_keyset_new(url, &fo, 0, 0);
    assert_int_equal(verify(ks, "k1", err, sizeof err), -1);
    assert_non_null(strstr(err, "https"));
    jwt_keyset_free(ks);
    free(k1);
    free(k2);
    http_server_free(srv);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt),
        cmocka_unit_test(test_jwks),
        cmocka_unit_test(test_keyset_cache),
    };
    int rc = cmocka_run_group_tests(tests, keys_setup, keys_teardown);
    curl_global_cleanup();
    return rc;
}
