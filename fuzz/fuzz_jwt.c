/* libFuzzer target: the JWT and JWKS parsers of common/jwt.c.
 *
 * Byte 0 selects: even = the input is a compact token (jwt_decode, then the claim
 * checks and an RS256 verification with a key made at start: must never verify a
 * token it did not sign); odd = a JWKS document (jwt_jwks_parse; every key kept is
 * an RSA key of at least 2048 bits). */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jwt.h"

static EVP_PKEY *key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    key = EVP_RSA_gen(2048);
    return key ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char err[256];
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        jwt_token t;
        if (jwt_decode(text, n, &t, err, sizeof err) != 0) {
            if (t.header || t.claims || t.sig) __builtin_trap(); /* emptied on failure */
            return 0;
        }
        jwt_expect e = {.issuers = "https://accounts.google.com,accounts.google.com", .audience = "aud",
                        .now_s = 1700000000, .leeway_s = 60};
        (void)jwt_check_claims(&t, &e, err, sizeof err);
        if (jwt_verify_sig(&t, key) == 0) __builtin_trap(); /* a forgery of a fresh key */
        jwt_token_free(&t);
    } else {
        jwt_jwks s;
        if (jwt_jwks_parse(text, n, &s, err, sizeof err) == 0) {
            for (size_t i = 0; i < s.n; i++)
                if (!s.keys[i].kid || EVP_PKEY_get_bits(s.keys[i].key) < 2048) __builtin_trap();
            jwt_jwks_free(&s);
        }
    }
    return 0;
}
