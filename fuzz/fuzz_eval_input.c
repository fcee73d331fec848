/* libFuzzer target: the evaluator and builtins on fuzzed input documents.
 *
 * A fixed set of policies (alert-style ingest rules using strings, regex, net, json,
 * time, aggregates, comprehensions, every, with) is compiled once; each fuzz input is
 * parsed as JSON (non-JSON inputs are wrapped as a string so every byte reaches
 * the builtins) and evaluated against every policy's query, with step and memory
 * limits. Errors are fine; crashes, sanitizer reports and leaks are findings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rego/rego.h"

static const char *const POLICIES[] = {
    "package ingest.guardduty\nimport rego.v1\n"
    "alerts contains {\"title\": input.detail.title, \"description\": sprintf(\"%s (%v)\", [input.detail.type, "
    "input.detail.severity]),\n"
    "  \"attrs\": [{\"key\": \"ip\", \"value\": ip}], \"sev\": sev} if {\n"
    "  input.detail.severity >= 4\n  ip := "
    "input.detail.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4\n"
    "  not net.cidr_contains(\"10.0.0.0/8\", ip)\n  sev := [\"low\", \"mid\", "
    "\"high\"][min([floor(input.detail.severity / 3), 2])]\n}\n",

    "package t\nimport rego.v1\n"
    "s contains x if { some x in input; is_string(x); regex.match(`^[a-z]+[0-9]*$`, x) }\n"
    "o[k] := upper(v) if { some k, v in input; is_string(v) }\n"
    "n := count(input) if is_array(input)\n"
    "j := json.unmarshal(input.j) if json.is_valid(input.j)\n"
    "m := json.marshal(input)\n"
    "parts := split(input.s, \",\")\n"
    "r := regex.find_n(input.re, input.s, 3) if regex.is_valid(input.re)\n"
    "g := glob.match(input.g, [\".\"], input.s)\n"
    "t := time.parse_rfc3339_ns(input.t)\n"
    "d := time.date(t)\n"
    "c := net.cidr_contains(input.cidr, input.ip)\n"
    "sum_ := sum([x | some x in input; is_number(x)])\n"
    "all_pos if every x in input.nums { x > 0 }\n"
    "b := base64.decode(input.b)\n"
    "f := sprintf(input.fmt, [input.s, input.n])\n"
    "w := [p | walk(input, [p, _])]\n"
    "u := units.parse_bytes(input.u)\n"
    "sv := semver.compare(input.a, input.b) if { semver.is_valid(input.a); semver.is_valid(input.b) }\n"
    "obj := object.union(input, {\"x\": 1}) if is_object(input)\n"
    "patched := json.patch(input.doc, input.ops)\n"
    "fi := format_int(input.n, 16)\n"
    "tn := to_number(input.s)\n"
    "sub := substring(input.s, input.n, 3)\n",

    "package v0\nimport future.keywords.in\n"
    "alert[res] { input.severity > 3; res := {\"t\": concat(\"/\", [input.a, input.b])} }\n"
    "deny[msg] { some i; input.items[i].x == \"y\"; msg := sprintf(\"%d\", [i]) }\n",
};
static const char *const QUERIES[] = {"x := data.ingest.guardduty.alerts", "x := data.t", "x := data.v0"};
#define NPOL (sizeof POLICIES / sizeof *POLICIES)
static rego_query *g_q[NPOL];
static rego_policy *g_p[NPOL];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (size_t i = 0; i < NPOL; i++) {
        rego_module_src m = {.name = "fixed.rego", .source = POLICIES[i], .syntax = REGO_SYNTAX_AUTO};
        rego_error err;
        g_p[i] = rego_compile(&m, 1, i == 2 ? REGO_SYNTAX_V0 : REGO_SYNTAX_V1, &err);
        if (!g_p[i]) {
            fprintf(stderr, "fixed policy %zu does not compile: %s\n", i, err.message);
            abort();
        }
        g_q[i] = rego_query_prepare(g_p[i], QUERIES[i], &err);
        if (!g_q[i]) abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024) return 0;
    char eb[128];
    rv *in = rv_from_json_text((const char *)data, size, eb, sizeof eb);
    if (!in) in = rv_string((const char *)data, size);
    rego_options opts = {.max_steps = 50000, .max_memory = 16 << 20, .now_ns = 1};
    for (size_t i = 0; i < NPOL; i++) {
        rv *rs = NULL;
        rego_error err;
        if (rego_query_eval(g_q[i], in, NULL, &opts, &rs, &err) == 0) {
            json_t *j = rego_result_to_json(rs);
            json_decref(j);
            rv_unref(rs);
        }
    }
    rv_unref(in);
    return 0;
}
