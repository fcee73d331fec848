/* libFuzzer target: the evaluator on fuzzed policies against a fixed input.
 *
 * The fuzz input is a module body; it is prefixed with `package f\nimport rego.v1\n`
 * (so the fuzzer spends its time on rules, not on the header), compiled, and
 * `x := data.f` is evaluated against a fixed GuardDuty-like input with step and memory
 * limits. Seeds are the corpus policies with their header stripped.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rego/rego.h"

static const char INPUT[] =
    "{\"detail\":{\"severity\":5,\"type\":\"UnauthorizedAccess:EC2/SSHBruteForce\",\"title\":\"t\","
    "\"service\":{\"action\":{\"networkConnectionAction\":{\"remoteIpDetails\":{\"ipAddressV4\":\"203.0.113.77\"}}}},"
    "\"tags\":[{\"key\":\"Name\",\"value\":\"bastion\"}]},\"n\":3,\"m\":2.5,\"s\":\"alice,bob\",\"user\":\"alice\","
    "\"flag\":true,\"nums\":[1,2,3,5,8],\"strs\":[\"a\",\"b,c\",\"\"],\"obj\":{\"k1\":1,\"k2\":\"x\"},\"big\":"
    "12345678901234567890}";
static rv *g_input;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char eb[128];
    g_input = rv_from_json_text(INPUT, strlen(INPUT), eb, sizeof eb);
    return g_input ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 32 * 1024) return 0;
    static const char hdr[] = "package f\nimport rego.v1\n";
    char *text = malloc(sizeof hdr + size);
    memcpy(text, hdr, sizeof hdr - 1);
    memcpy(text + sizeof hdr - 1, data, size);
    text[sizeof hdr - 1 + size] = 0;
    rego_module_src m = {.name = "fuzz.rego", .source = text, .len = sizeof hdr - 1 + size, .syntax = REGO_SYNTAX_V1};
    rego_error err;
    rego_policy *pol = rego_compile(&m, 1, REGO_SYNTAX_V1, &err);
    if (pol) {
        rego_options opts = {.max_steps = 50000, .max_memory = 16 << 20, .now_ns = 1};
        rv *rs = NULL;
        if (rego_eval(pol, "x := data.f", g_input, NULL, &opts, &rs, &err) == 0) rv_unref(rs);
        rego_policy_free(pol);
    }
    free(text);
    return 0;
}
