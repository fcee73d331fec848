/* RS256 JSON Web Tokens (RFC 7519 / 7515) verified against a JSON Web Key Set
 * (RFC 7517) — what Google signs Pub/Sub push OIDC tokens with, and what other
 * services will need for RS256 bearer tokens.
 *
 * Two layers:
 *   - pure functions (no I/O, fuzzed): jwt_decode splits and parses a compact token,
 *     jwt_jwks_parse turns a JWKS document into RSA public keys, jwt_verify_sig
 *     checks an RS256 signature, jwt_check_claims checks iss/aud/exp/nbf/iat;
 *   - jwt_keyset: the keys of one JWKS URL, fetched (fetch.h) on first use, cached
 *     by kid, fetched again when a token names a kid it does not hold (at most once
 *     per min_refresh_ms, so a stream of made-up kids cannot turn into a stream of
 *     fetches) and when the cached set is older than max_age_ms. A failed fetch keeps
 *     the keys held. Thread-safe: one mutex around the cache; verification itself
 *     runs outside it.
 *
 * Only alg RS256 is accepted ("none", HS256 and friends are refused whatever the
 * key says), and an RSA key shorter than 2048 bits is refused. */
#ifndef HUTCH_JWT_H
#define HUTCH_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/fetch.h"

typedef struct evp_pkey_st jwt_pkey; /* OpenSSL's EVP_PKEY */

/* A decoded (not yet verified) token. Free with jwt_token_free. */
typedef struct {
    json_t *header;             /* NEW: the JOSE header object */
    json_t *claims;             /* NEW: the payload object */
    char *signing_input;        /* NEW: "<header b64>.<payload b64>", as signed */
    size_t signing_input_len;
    unsigned char *sig;         /* NEW: the raw signature */
    size_t sig_len;
    const char *kid;            /* BORROWED from header, or NULL */
} jwt_token;

/* Parses a compact JWS (three base64url parts; the header and payload JSON objects).
 * 0, or -1 with the reason in err (the token is then empty, jwt_token_free is fine). */
int jwt_decode(const char *token, size_t len, jwt_token *out, char *err, size_t errlen);
void jwt_token_free(jwt_token *t);

/* One key of a set: kid and RSA public key (both owned by the set). */
typedef struct {
    char *kid;
    jwt_pkey *key;
} jwt_key;

typedef struct {
    jwt_key *keys;
    size_t n;
} jwt_jwks;

/* Parses a JWKS document: every {"kty":"RSA","kid":..,"n":..,"e":..} key whose "use"
 * (if any) is "sig" and "alg" (if any) is "RS256" is kept; other keys are skipped.
 * 0 with *out NEW (jwt_jwks_free), or -1 with err (not a JWKS, a malformed RSA key). */
int jwt_jwks_parse(const char *json, size_t len, jwt_jwks *out, char *err, size_t errlen);
void jwt_jwks_free(jwt_jwks *s);

/* RS256 (RSASSA-PKCS1-v1_5 with SHA-256) over t->signing_input with key. 0 or -1. */
int jwt_verify_sig(const jwt_token *t, jwt_pkey *key);

/* What the claims must say. Strings BORROWED. */
typedef struct {
    const char *issuers;   /* comma-separated accepted "iss" values; NULL/"" = any */
    const char *audience;  /* required "aud" (a string, or an array holding it); NULL/"" = not checked */
    int64_t now_s;         /* Unix seconds */
    int64_t leeway_s;      /* clock skew allowed on exp/nbf/iat */
} jwt_expect;

/* Checks alg == RS256 in the header, then iss, aud, exp (required), nbf and iat (if
 * present) against e. 0 or -1 with the failed check in err. */
int jwt_check_claims(const jwt_token *t, const jwt_expect *e, char *err, size_t errlen);

/* The cached keys of one JWKS URL. */
typedef struct jwt_keyset jwt_keyset;

/* url and fetch options are copied. NEW, or NULL on OOM. */
jwt_keyset *jwt_keyset_new(const char *url, const fetch_options *fo, int64_t min_refresh_ms, int64_t max_age_ms);
void jwt_keyset_free(jwt_keyset *ks);

/* Decodes token, finds its kid's key (fetching as said above), verifies the
 * signature and the claims. 0 with *claims NEW (json_decref), or -1 with the reason
 * in err (fit for a log line; never contains the token). */
int jwt_keyset_verify(jwt_keyset *ks, const char *token, size_t len, const jwt_expect *e, json_t **claims, char *err,
                      size_t errlen);

#endif
