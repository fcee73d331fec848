/* The tool loop (llm_loop.h) as a state machine on the client's callbacks.
 *
 * One step: on_reply receives a model answer; with tool calls it runs them (in the
 * order given; budget and approval decided per call), appends the results and submits
 * the next call; without, it checks the answer (JSON schema) and either ends the run
 * or re-asks. Every exit goes through finish(), which calls done once. */
#include "common/llm_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct llm_run {
    llm_client *client;
    llm_chat *chat;
    llm_loop_spec spec;
    json_t *tool_defs; /* offered to the model */
    int64_t started_ms;
    int json_retries_left;
    bool concluding; /* the last call: no tools */
    bool finished;
    llm_run_result res;
};

static const char conclude_note[] = "The iteration limit of this analysis is reached: no more tools can be called. "
                                    "Give your final answer now with the information you have.";
static const char budget_note[] = "budget exhausted: this tool was not run. Conclude with the information you have.";

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note(llm_run *run, const char *role, json_t *content /* STOLEN */)
{
    if (run->spec.on_message && content)
        run->spec.on_message(run->spec.tool_ctx, role, content);
    json_decref(content);
}

static void finish(llm_run *run, int rc, const char *reason, const char *err)
{
    if (run->finished)
        return;
    run->finished = true;
    run->res.rc = rc;
    snprintf(run->res.reason, sizeof run->res.reason, "%s", reason);
    if (err)
        snprintf(run->res.err, sizeof run->res.err, "%s", err);
    if (run->spec.done)
        run->spec.done(run->spec.done_arg, run);
}

static void on_reply(void *arg, int rc, llm_reply *r, const char *err);

/* Submits the next call, unless a limit says the run is over. */
static void next_call(llm_run *run)
{
    const llm_limits *l = &run->spec.limits;
    if (mono_ms() - run->started_ms >= l->max_wall_ms) {
        finish(run, -1, "wall_time", "the run's wall-time limit was reached");
        return;
    }
    if (l->max_tokens > 0 && run->res.input_tokens + run->res.output_tokens >= l->max_tokens) {
        finish(run, -1, "tokens", "the run's token limit was reached");
        return;
    }
    if (run->res.model_calls >= l->max_iterations) {
        finish(run, -1, "iterations", "the model still called tools after the iteration limit");
        return;
    }
    if (run->res.model_calls == l->max_iterations - 1 && run->res.model_calls > 0 && !run->concluding &&
        run->spec.n_tools > 0) { /* without tools there is nothing to stop calling */
        run->concluding = true;
        run->chat->no_tool_calls = true;
        llm_chat_add_user(run->chat, conclude_note);
        note(run, "user", json_string(conclude_note));
    }
    if (llm_client_submit(run->client, run->chat, on_reply, run) != 0)
        finish(run, -1, "error", "out of memory");
}

static const llm_tool *find_tool(const llm_run *run, const char *name)
{
    for (size_t i = 0; i < run->spec.n_tools; i++)
        if (!strcmp(run->spec.tools[i].name, name))
            return &run->spec.tools[i];
    return NULL;
}

/* Runs one call: 0 with *out NEW, or -1 with *out a NEW error text. */
static int run_tool(llm_run *run, const llm_tool_call *call, char **out)
{
    const llm_tool *t = run->concluding ? NULL : find_tool(run, call->name);
    char err[600];
    *out = NULL;
    if (!t) {
        snprintf(err, sizeof err, "%s is not found", call->name);
        goto refused;
    }
    const char *bad = json_string_value(json_object_get(call->args, "_invalid_arguments"));
    if (bad) {
        snprintf(err, sizeof err, "the arguments of %s are not a JSON object", call->name);
        goto refused;
    }
    json_t *schema = json_loads(t->parameters ? t->parameters : "{}", 0, NULL);
    char *args_text = json_dumps(call->args, JSON_COMPACT);
    char why[400];
    json_t *ok = args_text ? llm_json_check(args_text, schema, why, sizeof why) : NULL;
    free(args_text);
    json_decref(schema);
    if (!ok) {
        snprintf(err, sizeof err, "invalid arguments for %s: %s", call->name, why);
        goto refused;
    }
    json_decref(ok);
    if (run->spec.limits.budget > 0 && run->res.spent + t->cost > run->spec.limits.budget) {
        snprintf(err, sizeof err, "%s", budget_note);
        goto refused;
    }
    if (t->risky && (!run->spec.approve || !run->spec.approve(run->spec.tool_ctx, t->name, call->args))) {
        snprintf(err, sizeof err,
                 "%s needs a person's approval: an approval request was recorded and the tool was not run. "
                 "Go on without it.",
                 t->name);
        goto refused;
    }
    run->res.spent += t->cost;
    run->res.tool_calls++;
    int rc = t->run(run->spec.tool_ctx, t, call->args, out);
    if (!*out)
        *out = strdup(rc == 0 ? "" : "the tool failed");
    return rc == 0 ? 0 : -1;
refused:
    run->res.tools_refused++;
    *out = strdup(err);
    return -1;
}

static void on_reply(void *arg, int rc, llm_reply *r, const char *err)
{
    llm_run *run = arg;
    if (rc != 0) {
        finish(run, -1, "error", err);
        return;
    }
    run->res.model_calls++;
    run->res.input_tokens += r->input_tokens;
    run->res.output_tokens += r->output_tokens;
    llm_chat_add_reply(run->chat, r);
    note(run, "assistant",
         json_pack("{s:O, s:I, s:I}", "turn", r->assistant, "input_tokens", (json_int_t)r->input_tokens,
                   "output_tokens", (json_int_t)r->output_tokens));
    if (r->n_calls > 0) {
        char **results = calloc(r->n_calls, sizeof *results);
        bool *errs = calloc(r->n_calls, sizeof *errs);
        bool oom = !results || !errs;
        for (size_t i = 0; !oom && i < r->n_calls; i++) {
            errs[i] = run_tool(run, &r->calls[i], &results[i]) != 0;
            oom = results[i] == NULL;
            if (!oom)
                note(run, "tool",
                     json_pack("{s:s, s:O, s:s, s:b}", "name", r->calls[i].name, "args", r->calls[i].args, "result",
                               results[i], "error", errs[i]));
        }
        if (!oom)
            oom = llm_chat_add_tool_results(run->chat, r, (const char *const *)results, errs) != 0;
        for (size_t i = 0; results && i < r->n_calls; i++)
            free(results[i]);
        free(results);
        free(errs);
        llm_reply_free(r);
        if (oom)
            finish(run, -1, "error", "out of memory");
        else
            next_call(run);
        return;
    }
    if (run->chat->schema) {
        char why[400];
        json_t *v = llm_json_check(r->text, run->chat->schema, why, sizeof why);
        if (!v) {
            llm_reply_free(r);
            if (run->json_retries_left-- <= 0) {
                finish(run, -1, "invalid_json", why);
                return;
            }
            char *ask = NULL;
            if (asprintf(&ask,
                         "Your answer is not valid: %s. Answer again with only the JSON object the schema "
                         "asks for.",
                         why) < 0 ||
                llm_chat_add_user(run->chat, ask) != 0) {
                free(ask);
                finish(run, -1, "error", "out of memory");
                return;
            }
            note(run, "user", json_string(ask));
            free(ask);
            next_call(run);
            return;
        }
        run->res.json = v;
    }
    run->res.text = r->text;
    r->text = NULL;
    llm_reply_free(r);
    finish(run, 0, "answer", NULL);
}

llm_run *llm_run_start(llm_client *client, llm_chat *chat, const llm_loop_spec *spec)
{
    llm_run *run = calloc(1, sizeof *run);
    json_t *defs = json_array();
    if (!run || !defs) {
        free(run);
        json_decref(defs);
        llm_chat_free(chat);
        return NULL;
    }
    run->client = client;
    run->chat = chat;
    run->spec = *spec;
    llm_limits *l = &run->spec.limits;
    if (l->max_iterations <= 0)
        l->max_iterations = 32;
    if (l->max_wall_ms <= 0)
        l->max_wall_ms = 300000;
    run->json_retries_left = l->json_retries == 0 ? 3 : l->json_retries < 0 ? 0 : l->json_retries;
    for (size_t i = 0; i < spec->n_tools; i++) {
        const llm_tool *t = &spec->tools[i];
        json_t *params = json_loads(t->parameters ? t->parameters : "{\"type\":\"object\",\"properties\":{}}", 0, NULL);
        json_array_append_new(
            defs, json_pack("{s:s, s:s, s:o*}", "name", t->name, "description", t->description, "parameters", params));
    }
    if (json_array_size(defs) > 0)
        llm_chat_set_tools(chat, defs);
    else
        json_decref(defs);
    run->started_ms = mono_ms();
    if (l->max_iterations == 1 && spec->n_tools > 0) {
        run->concluding = true; /* one call: it must answer */
        chat->no_tool_calls = true;
    }
    next_call(run);
    return run;
}

const llm_run_result *llm_run_outcome(const llm_run *run) { return &run->res; }

void llm_run_result_clear(llm_run_result *r)
{
    free(r->text);
    json_decref(r->json);
    r->text = NULL;
    r->json = NULL;
}

void llm_run_free(llm_run *run)
{
    if (!run)
        return;
    llm_run_result_clear(&run->res);
    llm_chat_free(run->chat);
    free(run);
}

llm_chat *llm_run_release_chat(llm_run *run)
{
    llm_chat *c = run->chat;
    run->chat = NULL;
    if (c) {
        llm_chat_set_tools(c, NULL);
        llm_chat_set_schema(c, NULL, NULL);
        c->no_tool_calls = false;
    }
    return c;
}

static void sync_done(void *arg, llm_run *run)
{
    (void)run;
    *(bool *)arg = true;
}

static int run_sync(llm_client *client, llm_chat *chat, const llm_loop_spec *spec, llm_run_result *result, bool keep,
                    llm_chat *chat_dst)
{
    bool finished = false;
    llm_loop_spec s = *spec;
    s.done = sync_done;
    s.done_arg = &finished;
    memset(result, 0, sizeof *result);
    llm_run *run = llm_run_start(client, chat, &s);
    if (!run) {
        result->rc = -1;
        snprintf(result->reason, sizeof result->reason, "error");
        snprintf(result->err, sizeof result->err, "out of memory");
        return -1;
    }
    while (!finished)
        llm_client_run(client, 1000);
    *result = run->res;
    run->res.text = NULL;
    run->res.json = NULL;
    if (keep) { /* the caller's chat gets the turns back */
        llm_chat *mine = llm_run_release_chat(run);
        json_decref(chat_dst->messages);
        chat_dst->messages = json_incref(mine->messages);
        llm_chat_free(mine);
    }
    llm_run_free(run);
    return result->rc;
}

int llm_run_sync(llm_client *client, llm_chat *chat, const llm_loop_spec *spec, llm_run_result *result)
{
    return run_sync(client, chat, spec, result, false, NULL);
}

int llm_run_sync_keep(llm_client *client, llm_chat *chat, const llm_loop_spec *spec, llm_run_result *result)
{
    llm_chat *copy = llm_chat_new(chat->provider, chat->system);
    if (!copy || json_array_extend(copy->messages, chat->messages)) {
        llm_chat_free(copy);
        memset(result, 0, sizeof *result);
        result->rc = -1;
        snprintf(result->reason, sizeof result->reason, "error");
        return -1;
    }
    if (chat->schema)
        llm_chat_set_schema(copy, chat->schema_name, json_incref(chat->schema));
    return run_sync(client, copy, spec, result, true, chat);
}
