/* Passwords and tokens (password.h): scrypt by OpenSSL 3's EVP_KDF, random bytes by
 * RAND_bytes, base64 by EVP_EncodeBlock/EVP_DecodeBlock. */
#include "common/password.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define SALT_LEN 16
#define KEY_LEN 32
#define DEFAULT_LOG2_N 15
#define SCRYPT_R 8
#define SCRYPT_P 1
#define MAX_LOG2_N 20 /* a stored hash may not make us use more than 1 GiB */

static int scrypt(const char *password, size_t plen, const unsigned char *salt, size_t slen, uint64_t n, uint32_t r,
                  uint32_t p, unsigned char *key, size_t klen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    if (!kdf)
        return -1;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx)
        return -1;
    uint64_t maxmem = (uint64_t)128 * r * (n + p + 2) + (1u << 20);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password, plen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, slen),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(ctx, key, klen, params);
    EVP_KDF_CTX_free(ctx);
    return ok == 1 ? 0 : -1;
}

int password_hash_with(const char *password, int log2_n, const unsigned char salt[16], char out[PASSWORD_HASH_MAX],
                       char *err, size_t errlen)
{
    size_t plen = strlen(password);
    if (plen < PASSWORD_MIN_LEN || plen > PASSWORD_MAX_LEN) {
        snprintf(err, errlen, "a password has %d to %d bytes", PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
        return -1;
    }
    if (log2_n < 1 || log2_n > MAX_LOG2_N) {
        snprintf(err, errlen, "scrypt cost out of range");
        return -1;
    }
    unsigned char key[KEY_LEN];
    if (scrypt(password, plen, salt, SALT_LEN, (uint64_t)1 << log2_n, SCRYPT_R, SCRYPT_P, key, KEY_LEN) != 0) {
        snprintf(err, errlen, "OpenSSL scrypt failed");
        return -1;
    }
    unsigned char salt64[32], key64[64];
    EVP_EncodeBlock(salt64, salt, SALT_LEN);
    EVP_EncodeBlock(key64, key, KEY_LEN);
    OPENSSL_cleanse(key, sizeof key);
    snprintf(out, PASSWORD_HASH_MAX, "scrypt$%d$%d$%d$%s$%s", log2_n, SCRYPT_R, SCRYPT_P, (char *)salt64,
             (char *)key64);
    return 0;
}

int password_hash(const char *password, char out[PASSWORD_HASH_MAX], char *err, size_t errlen)
{
    unsigned char salt[SALT_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1) {
        snprintf(err, errlen, "no random bytes");
        return -1;
    }
    return password_hash_with(password, DEFAULT_LOG2_N, salt, out, err, errlen);
}

/* Decodes base64 text of a known decoded length; 0 or -1. */
static int decode_exact(const char *text, unsigned char *out, size_t want)
{
    size_t len = strlen(text);
    if (len == 0 || len % 4 != 0 || len > 128)
        return -1;
    unsigned char buf[128];
    int n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
    if (n < 0)
        return -1;
    size_t pad = (text[len - 1] == '=') + (len > 1 && text[len - 2] == '=');
    if ((size_t)n - pad != want)
        return -1;
    memcpy(out, buf, want);
    return 0;
}

bool password_verify(const char *password, const char *stored)
{
    if (!password || !stored)
        return false;
    int log2_n, r, p, used = 0;
    char salt64[64], key64[80];
    if (sscanf(stored, "scrypt$%d$%d$%d$%63[^$]$%79s%n", &log2_n, &r, &p, salt64, key64, &used) != 5 ||
        stored[used] != '\0')
        return false;
    if (log2_n < 1 || log2_n > MAX_LOG2_N || r < 1 || r > 32 || p < 1 || p > 16)
        return false;
    unsigned char salt[SALT_LEN], want[KEY_LEN], got[KEY_LEN];
    if (decode_exact(salt64, salt, SALT_LEN) != 0 || decode_exact(key64, want, KEY_LEN) != 0)
        return false;
    size_t plen = strlen(password);
    if (plen > PASSWORD_MAX_LEN)
        return false;
    if (scrypt(password, plen, salt, SALT_LEN, (uint64_t)1 << log2_n, (uint32_t)r, (uint32_t)p, got, KEY_LEN) != 0)
        return false;
    bool ok = CRYPTO_memcmp(got, want, KEY_LEN) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

/* base64url without padding of n bytes. */
static void b64url(const unsigned char *in, size_t n, char *out)
{
    unsigned char buf[128];
    int len = EVP_EncodeBlock(buf, in, (int)n);
    int j = 0;
    for (int i = 0; i < len; i++) {
        char ch = (char)buf[i];
        if (ch == '=')
            break;
        out[j++] = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    }
    out[j] = '\0';
}

int password_token(char out[PASSWORD_TOKEN_LEN])
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    b64url(raw, sizeof raw, out);
    return 0;
}

int password_generate(char out[32])
{
    unsigned char raw[15];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    b64url(raw, sizeof raw, out);
    return 0;
}

void password_sha256_hex(const char *text, char out[PASSWORD_SHA256_HEX])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, strlen(text), md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

bool password_equal(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}
