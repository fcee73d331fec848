/* Unit tests for password.c: a hash computed by Python's hashlib.scrypt (an
 * independent implementation) verifies and is reproduced byte for byte; wrong
 * passwords, malformed and out-of-range stored values are refused; tokens are
 * base64url of the promised length and differ. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/password.h"

/* hashlib.scrypt(b'correct horse battery', salt=bytes(range(16)), n=1024, r=8, p=1, dklen=32) */
static const char known[] = "scrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw==$hKGWL22WtdGfIbxEPAZ06BS2bWyYKuZIKvypfAlYOWk=";

static void test_known_vector(void **state)
{
    unsigned char salt[16];
    for (int i = 0; i < 16; i++)
        salt[i] = (unsigned char)i;
    char out[PASSWORD_HASH_MAX], err[128];
    assert_int_equal(password_hash_with("correct horse battery", 10, salt, out, err, sizeof err), 0);
    assert_string_equal(out, known);
    assert_true(password_verify("correct horse battery", known));
    assert_false(password_verify("correct horse batterY", known));
    assert_false(password_verify("", known));
}

static void test_round_trip_default_cost(void **state)
{
    char out[PASSWORD_HASH_MAX], out2[PASSWORD_HASH_MAX], err[128];
    assert_int_equal(password_hash("s3cret-enough", out, err, sizeof err), 0);
    assert_int_equal(strncmp(out, "scrypt$15$8$1$", 14), 0);
    assert_true(password_verify("s3cret-enough", out));
    assert_false(password_verify("s3cret-enougH", out));
    assert_int_equal(password_hash("s3cret-enough", out2, err, sizeof err), 0);
    assert_string_not_equal(out, out2); /* fresh salt */
}

static void test_length_limits(void **state)
{
    char out[PASSWORD_HASH_MAX], err[128] = "";
    assert_int_equal(password_hash("short", out, err, sizeof err), -1);
    assert_non_null(strstr(err, "8 to 1024"));
    char *big = malloc(PASSWORD_MAX_LEN + 2);
    memset(big, 'a', PASSWORD_MAX_LEN + 1);
    big[PASSWORD_MAX_LEN + 1] = '\0';
    assert_int_equal(password_hash(big, out, err, sizeof err), -1);
    assert_false(password_verify(big, known));
    free(big);
}

static void test_malformed_stored(void **state)
{
    static const char *bad[] = {
        "",
        "plain",
        "scrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw==",                                               /* no hash */
        "scrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw==$hKGWL22WtdGfIbxEPAZ06BS2bWyYKuZIKvypfAlYOWk=x", /* trailing */
        "scrypt$30$8$1$AAECAwQFBgcICQoLDA0ODw==$hKGWL22WtdGfIbxEPAZ06BS2bWyYKuZIKvypfAlYOWk=",  /* cost too high */
        "scrypt$10$8$1$AAECAw==$hKGWL22WtdGfIbxEPAZ06BS2bWyYKuZIKvypfAlYOWk=",                  /* short salt */
        "scrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw==$hKGW",                                          /* short hash */
        "bcrypt$10$8$1$AAECAwQFBgcICQoLDA0ODw==$hKGWL22WtdGfIbxEPAZ06BS2bWyYKuZIKvypfAlYOWk=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(password_verify("correct horse battery", bad[i]));
    assert_false(password_verify(NULL, known));
    assert_false(password_verify("x", NULL));
}

static void test_tokens(void **state)
{
    char a[PASSWORD_TOKEN_LEN], b[PASSWORD_TOKEN_LEN], g[32];
    assert_int_equal(password_token(a), 0);
    assert_int_equal(password_token(b), 0);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    for (const char *p = a; *p; p++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    assert_int_equal(password_generate(g), 0);
    assert_int_equal(strlen(g), 20);
    char hex[PASSWORD_SHA256_HEX];
    password_sha256_hex("abc", hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(password_equal("abc", "abc"));
    assert_false(password_equal("abc", "abd"));
    assert_false(password_equal("abc", "abcd"));
    assert_false(password_equal(NULL, "abc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vector),  cmocka_unit_test(test_round_trip_default_cost),
        cmocka_unit_test(test_length_limits), cmocka_unit_test(test_malformed_stored),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
