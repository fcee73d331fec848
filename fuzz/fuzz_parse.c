/* libFuzzer target: the Rego parser and compiler on arbitrary module text.
 *
 * The input is one module; the first byte picks the syntax (v0, v1 or auto) and the
 * rest is the text. A module that compiles is also given a query over its whole
 * data tree with tight step and memory limits, so the compiler's output is exercised
 * too. rego_parse_value runs on the same text. Anything but a clean return (crash,
 * sanitizer report, leak) is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rego/rego.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024) return 0;
    rego_syntax syn = (rego_syntax)(data[0] % 3);
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    rego_module_src m = {.name = "fuzz.rego", .source = text, .len = size - 1, .syntax = syn};
    rego_error err;
    rego_policy *pol = rego_compile(&m, 1, REGO_SYNTAX_V1, &err);
    if (pol) {
        rego_options opts = {.max_steps = 20000, .max_memory = 8 << 20, .now_ns = 1};
        rv *rs = NULL;
        if (rego_eval(pol, "x := data", NULL, NULL, &opts, &rs, &err) == 0) rv_unref(rs);
        rego_policy_free(pol);
    }
    rv *v = rego_parse_value(text, &err);
    rv_unref(v);
    free(text);
    return 0;
}
