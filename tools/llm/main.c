/* hutch-llm: runs the tool loop (common/llm_loop.h) with the HUTCH_LLM_* model on a
 * question read as JSON from stdin, and prints the outcome as JSON -- to try a
 * provider's settings by hand, and the program the client and loop tests drive
 * against tests/e2e/fake_llm.py.
 *
 *   echo '{"system":"..","prompt":"..","tools":[..],"schema":{..},"limits":{..}}' | hutch-llm [--runs N]
 *
 * Tools are declared in the input with the answer they give (this program has no
 * store to query): {"name","description","parameters","cost","risky","result",
 * "error"(bool)}. "approved": [tool names] grants risky tools. limits: {iterations,
 * wall_ms, tokens, budget, json_retries}. --runs N starts N copies of the run at once
 * on one client (one thread drives them all).
 * Output: {"runs":[{"rc","reason","text","json","model_calls","tool_calls",
 * "tools_refused","input_tokens","output_tokens","spent","err","tools_run":[names]}],
 * "ms"}. Exit 0 when every run answered, 1 otherwise, 78 bad settings, 2 usage. */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/llm.h"
#include "common/llm_loop.h"
#include "common/mcp.h"

typedef struct {
    json_t *input;     /* BORROWED */
    json_t *tools_run; /* names, in order */
} run_ctx;

static int canned(void *vctx, const llm_tool *self, const json_t *args, char **result)
{
    run_ctx *ctx = vctx;
    (void)args;
    json_array_append_new(ctx->tools_run, json_string(self->name));
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get(ctx->input, "tools"), i, t) {
        if (strcmp(json_string_value(json_object_get(t, "name")) ?: "", self->name)) continue;
        json_t *r = json_object_get(t, "result");
        *result = json_is_string(r) ? strdup(json_string_value(r)) : json_dumps(r ? r : json_null(), JSON_ENCODE_ANY);
        return json_is_true(json_object_get(t, "error")) ? -1 : 0;
    }
    *result = strdup("no such tool");
    return -1;
}

#define MAX_TOOLS 64

static bool approve(void *vctx, const char *tool, const json_t *args)
{
    run_ctx *ctx = vctx;
    (void)args;
    size_t i;
    json_t *n;
    json_array_foreach (json_object_get(ctx->input, "approved"), i, n)
        if (!strcmp(json_string_value(n) ?: "", tool)) return true;
    return false;
}

typedef struct {
    llm_run *run;
    bool done;
} slot;

static void on_done(void *arg, llm_run *run)
{
    (void)run;
    ((slot *)arg)->done = true;
}

int main(int argc, char **argv)
{
    int runs = 1;
    static const struct option opts[] = {
        {"runs", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        if (o == 'n') runs = atoi(optarg);
        else {
            fprintf(o == 'h' ? stdout : stderr, "usage: hutch-llm [--runs N] < question.json\n");
            config_print_settings(o == 'h' ? stdout : stderr, llm_settings_table, "Settings");
            config_print_settings(o == 'h' ? stdout : stderr, mcp_settings_table, "MCP servers");
            return o == 'h' ? 0 : 2;
        }
    }
    if (runs < 1 || runs > 1000) runs = 1;
    llm_settings st;
    char err[1024];
    if (config_load(llm_settings_table, &st, err, sizeof err) != 0) {
        fprintf(stderr, "hutch-llm: %s\n", err);
        return 78;
    }
    mcp_settings mcp_cfg;
    if (config_load(mcp_settings_table, &mcp_cfg, err, sizeof err) != 0) {
        fprintf(stderr, "hutch-llm: %s\n", err);
        config_free(llm_settings_table, &st);
        return 78;
    }
    mcp_set mcp;
    if (mcp_set_open(&mcp, mcp_cfg.servers, mcp_cfg.read_only, (long)mcp_cfg.timeout_ms, err, sizeof err) != 0) {
        fprintf(stderr, "hutch-llm: %s\n", err);
        config_free(mcp_settings_table, &mcp_cfg);
        config_free(llm_settings_table, &st);
        return 1;
    }
    llm_config cfg;
    llm_client *client = NULL;
    if (llm_settings_config(&st, &cfg, err, sizeof err) != 0 || !(client = llm_client_new(&cfg, err, sizeof err))) {
        fprintf(stderr, "hutch-llm: %s\n", err);
        mcp_set_close(&mcp);
        config_free(mcp_settings_table, &mcp_cfg);
        config_free(llm_settings_table, &st);
        return 78;
    }
    json_error_t je;
    json_t *input = json_loadf(stdin, 0, &je);
    if (!json_is_object(input)) {
        fprintf(stderr, "hutch-llm: the input is not a JSON object: %s\n", je.text);
        return 2;
    }
    llm_tool tools[MAX_TOOLS];
    size_t n_tools = 0;
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get(input, "tools"), i, t) {
        if (n_tools == MAX_TOOLS) break;
        json_t *p = json_object_get(t, "parameters");
        char *params = p ? json_dumps(p, 0) : strdup("{\"type\":\"object\"}");
        tools[n_tools] = (llm_tool){.name = json_string_value(json_object_get(t, "name")) ?: "tool",
                                    .description = json_string_value(json_object_get(t, "description")) ?: "",
                                    .parameters = params,
                                    .cost = json_number_value(json_object_get(t, "cost")),
                                    .risky = json_is_true(json_object_get(t, "risky")),
                                    .run = canned};
        n_tools++;
    }
    json_t *lim = json_object_get(input, "limits");
    llm_limits limits = {.max_iterations = (int)json_integer_value(json_object_get(lim, "iterations")),
                         .max_wall_ms = json_integer_value(json_object_get(lim, "wall_ms")),
                         .max_tokens = json_integer_value(json_object_get(lim, "tokens")),
                         .budget = json_number_value(json_object_get(lim, "budget")),
                         .json_retries = (int)json_integer_value(json_object_get(lim, "json_retries"))};
    size_t n_own = n_tools; /* the input's tools (their parameters are ours to free), then the MCP servers' */
    for (size_t k = 0; k < mcp.n_tools && n_tools < MAX_TOOLS; k++) tools[n_tools++] = mcp.tools[k];
    slot *slots = calloc((size_t)runs, sizeof *slots);
    run_ctx *ctxs = calloc((size_t)runs, sizeof *ctxs);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < runs; r++) {
        ctxs[r] = (run_ctx){.input = input, .tools_run = json_array()};
        llm_chat *chat = llm_chat_new(cfg.provider, json_string_value(json_object_get(input, "system")) ?: "");
        llm_chat_add_user(chat, json_string_value(json_object_get(input, "prompt")) ?: "");
        json_t *schema = json_object_get(input, "schema");
        if (schema) llm_chat_set_schema(chat, "answer", json_incref(schema));
        llm_loop_spec spec = {.tools = tools,
                              .n_tools = n_tools,
                              .tool_ctx = &ctxs[r],
                              .limits = limits,
                              .approve = approve,
                              .done = on_done,
                              .done_arg = &slots[r]};
        slots[r].run = llm_run_start(client, chat, &spec);
    }
    for (;;) {
        bool all = true;
        for (int r = 0; r < runs; r++) all = all && (slots[r].done || !slots[r].run);
        if (all) break;
        llm_client_run(client, 1000);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    json_t *out = json_array();
    int rc = 0;
    for (int r = 0; r < runs; r++) {
        const llm_run_result *res = slots[r].run ? llm_run_outcome(slots[r].run) : NULL;
        if (!res) {
            rc = 1;
            continue;
        }
        if (res->rc != 0) rc = 1;
        json_array_append_new(
            out, json_pack("{s:i, s:s, s:s?, s:O?, s:i, s:i, s:i, s:I, s:I, s:f, s:s, s:O}", "rc", res->rc, "reason",
                           res->reason, "text", res->text, "json", res->json, "model_calls", res->model_calls,
                           "tool_calls", res->tool_calls, "tools_refused", res->tools_refused, "input_tokens",
                           (json_int_t)res->input_tokens, "output_tokens", (json_int_t)res->output_tokens, "spent",
                           res->spent, "err", res->err, "tools_run", ctxs[r].tools_run));
        llm_run_free(slots[r].run);
        json_decref(ctxs[r].tools_run);
    }
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    json_t *doc = json_pack("{s:o, s:f}", "runs", out, "ms", ms);
    json_dumpf(doc, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(doc);
    for (size_t k = 0; k < n_own; k++) free((char *)tools[k].parameters);
    mcp_set_close(&mcp);
    config_free(mcp_settings_table, &mcp_cfg);
    free(slots);
    free(ctxs);
    json_decref(input);
    llm_client_free(client);
    config_free(llm_settings_table, &st);
    return rc;
}
