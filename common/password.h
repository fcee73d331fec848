/* Passwords and secret tokens of the web console (services/console, hutchctl user).
 *
 * A password is stored as "scrypt$N$r$p$SALT$HASH" (SALT 16 random bytes, HASH 32
 * bytes, both base64): scrypt through OpenSSL 3's EVP_KDF "SCRYPT", N = 2^15, r = 8,
 * p = 1 (32 MiB, about 0.1 s a check): the parameters travel with the hash, so they
 * can be raised later and old hashes still verify. Verification compares in constant
 * time (CRYPTO_memcmp). Tokens (session cookies, CSRF) are 32 random bytes as
 * base64url; a session is stored by the hex SHA-256 of its token. */
#ifndef HUTCH_PASSWORD_H
#define HUTCH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PASSWORD_HASH_MAX 160
#define PASSWORD_TOKEN_LEN 44 /* 43 base64url characters + NUL */
#define PASSWORD_SHA256_HEX 65

/* Shortest and longest password accepted (bytes). */
#define PASSWORD_MIN_LEN 8
#define PASSWORD_MAX_LEN 1024

/* Hashes password with a fresh salt and the default parameters into out (NUL-ended).
 * 0, or -1 (too short/long, or OpenSSL failed: reason in err). */
int password_hash(const char *password, char out[PASSWORD_HASH_MAX], char *err, size_t errlen);
/* As password_hash with given cost (log2 N) and salt: for tests. */
int password_hash_with(const char *password, int log2_n, const unsigned char salt[16], char out[PASSWORD_HASH_MAX],
                       char *err, size_t errlen);
/* True if password matches stored (a hash of password_hash); false on a mismatch or a
 * malformed stored value. */
bool password_verify(const char *password, const char *stored);
/* A random token (base64url, 43 characters). 0 or -1. */
int password_token(char out[PASSWORD_TOKEN_LEN]);
/* A random password for `hutchctl user add` without one: 20 base64url characters. */
int password_generate(char out[32]);
/* Hex SHA-256 of text. */
void password_sha256_hex(const char *text, char out[PASSWORD_SHA256_HEX]);
/* Constant-time equality of two NUL-ended strings (lengths are not secret). */
bool password_equal(const char *a, const char *b);

#endif
