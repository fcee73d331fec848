/* Rego builtins: message digests and HMACs (crypto.md5, crypto.sha1, crypto.sha256,
 * crypto.hmac.{md5,sha1,sha256,sha512}, crypto.hmac.equal).
 *
 * Everything goes through OpenSSL's one-shot EVP_Digest/HMAC calls, which keep no
 * shared state, so these are safe to call from several evaluations at once. Digests
 * are returned as lowercase hex, as OPA does. crypto.hmac.equal compares in
 * constant time (CRYPTO_memcmp) once the lengths match, like Go's hmac.Equal.
 * x509, JWT and key parsing are deliberately not implemented here.
 */
#include "rego/builtins.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string.h>

static rv *crypto_hex_value(const unsigned char *md, unsigned int len)
{
    static const char digits[] = "0123456789abcdef";
    char buf[2 * EVP_MAX_MD_SIZE];
    for (unsigned int i = 0; i < len; i++) {
        buf[2 * i] = digits[md[i] >> 4];
        buf[2 * i + 1] = digits[md[i] & 15];
    }
    return rv_string(buf, 2 * (size_t)len);
}

static int crypto_digest(rego_bctx *ctx, const char *name, const EVP_MD *md, rv *const *args, rv **out)
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (md == NULL || !EVP_Digest(rv_str(args[0]), rv_strlen(args[0]), buf, &len, md, NULL))
        return rego_bctx_errorf(ctx, "%s: digest failed", name);
    *out = crypto_hex_value(buf, len);
    return REGO_OK;
}

static int crypto_hmac(rego_bctx *ctx, const char *name, const EVP_MD *md, rv *const *args, rv **out)
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    /* HMAC() wants a non-NULL key pointer even for an empty key. */
    const char *key = rv_str(args[1]);
    size_t keylen = rv_strlen(args[1]);
    if (md == NULL || keylen > (size_t)0x7fffffff ||
        HMAC(md, key ? key : "", (int)keylen, (const unsigned char *)rv_str(args[0]), rv_strlen(args[0]), buf, &len) ==
            NULL)
        return rego_bctx_errorf(ctx, "%s: hmac failed", name);
    *out = crypto_hex_value(buf, len);
    return REGO_OK;
}

static int bi_md5(rego_bctx *ctx, rv *const *args, rv **out)
{
    return crypto_digest(ctx, "crypto.md5", EVP_md5(), args, out);
}

static int bi_sha1(rego_bctx *ctx, rv *const *args, rv **out)
{
    return crypto_digest(ctx, "crypto.sha1", EVP_sha1(), args, out);
}

static int bi_sha256(rego_bctx *ctx, rv *const *args, rv **out)
{
    return crypto_digest(ctx, "crypto.sha256", EVP_sha256(), args, out);
}

static int bi_hmac_md5(rego_bctx *ctx, rv *const *args, rv **out)
{
    return crypto_hmac(ctx, "crypto.hmac.md5", EVP_md5(), args, out);
}

static int bi_hmac_sha1(rego_bctx *ctx, rv *const *args, rv **out)
{
    return crypto_hmac(ctx, "crypto.hmac.sha1", EVP_sha1(), args, out);
}

static int bi_hmac_sha256(rego_bctx *ctx, rv *const *args, rv **out)
{
    return crypto_hmac(ctx, "crypto.hmac.sha256", EVP_sha256(), args, out);
}

static int bi_hmac_sha512(rego_bctx *ctx, rv *const *args, rv **out)
{
    return crypto_hmac(ctx, "crypto.hmac.sha512", EVP_sha512(), args, out);
}

static int bi_hmac_equal(rego_bctx *ctx, rv *const *args, rv **out)
{
    (void)ctx;
    size_t la = rv_strlen(args[0]), lb = rv_strlen(args[1]);
    bool eq = la == lb && (la == 0 || CRYPTO_memcmp(rv_str(args[0]), rv_str(args[1]), la) == 0);
    *out = rv_bool(eq);
    return REGO_OK;
}

const rego_builtin_def rego_builtins_crypto[] = {
    {"crypto.md5", 1, bi_md5, {"string"}, 0},
    {"crypto.sha1", 1, bi_sha1, {"string"}, 0},
    {"crypto.sha256", 1, bi_sha256, {"string"}, 0},
    {"crypto.hmac.md5", 2, bi_hmac_md5, {"string", "string"}, 0},
    {"crypto.hmac.sha1", 2, bi_hmac_sha1, {"string", "string"}, 0},
    {"crypto.hmac.sha256", 2, bi_hmac_sha256, {"string", "string"}, 0},
    {"crypto.hmac.sha512", 2, bi_hmac_sha512, {"string", "string"}, 0},
    {"crypto.hmac.equal", 2, bi_hmac_equal, {"string", "string"}, 0},
    {NULL, 0, NULL, {NULL}, 0},
};
