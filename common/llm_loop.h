/* The tool loop (Warren's basic loop, gollem's default strategy): call the model, run
 * the tool calls it asks for, feed the results back, stop on an answer.
 *
 * A run is a state machine on an llm_client (llm.h): each model answer arrives in the
 * client's callback, the tools run there (they are short: SQL on Hutch's own store, a
 * read of the intel cache) and the next call is submitted, so one thread driving the
 * client drives many runs at once.
 *
 * Limits of a run, each ending it cleanly with its reason (never a crash):
 *   - iterations: model calls (default 32); the last one is made without tools and
 *     with "conclude now", so a model that never stops calling tools still gets to
 *     answer, and if it calls tools even then the run ends with "iterations";
 *   - wall time, checked before each call (each call also has the client's timeout);
 *   - tokens (input + output summed over the run's calls);
 *   - budget: cost units per tool call (llm_tool.cost); a call over budget is not run
 *     and answers "budget exhausted", so the model must conclude with what it has.
 * Tool errors (unknown tool, invalid arguments, the tool's own failure) go back to the
 * model as error results. Risky tools (llm_tool.risky) run only when approve() says a
 * person granted this exact call; otherwise the model is told that approval was
 * requested and the tool did not run. Alert content the model reads is data: nothing
 * in it can approve anything.
 *
 * With a schema, the final answer must be JSON matching it: an invalid answer is sent
 * back with the reason, at most json_retries (3) times, then the run fails with
 * "invalid_json". Every turn is reported to on_message (for agent_messages). */
#ifndef HUTCH_LLM_LOOP_H
#define HUTCH_LLM_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/llm.h"

typedef struct llm_run llm_run;

typedef struct llm_tool llm_tool;
struct llm_tool {
    const char *name; /* the name the model sees */
    const char *description;
    const char *parameters; /* JSON Schema of the arguments, as text */
    double cost;            /* budget units per call */
    bool risky;             /* needs a person's approval */
    /* Runs the tool: 0 with *result a NEW text (JSON preferred), or -1 with *result a
     * NEW error text for the model. ctx: llm_loop_spec.tool_ctx; self: this entry
     * (for tools sharing one function); args BORROWED. */
    int (*run)(void *ctx, const llm_tool *self, const json_t *args, char **result);
    void *data; /* the tool's own state (e.g. an MCP server), BORROWED; may be NULL */
};

typedef struct {
    int max_iterations;  /* model calls; 0 = 32 */
    int64_t max_wall_ms; /* 0 = 300000 */
    int64_t max_tokens;  /* 0 = no limit */
    double budget;       /* 0 = no limit */
    int json_retries;    /* re-asks on an invalid JSON answer; 0 = 3, <0 = none */
} llm_limits;

typedef struct {
    const llm_tool *tools; /* BORROWED for the run's life */
    size_t n_tools;
    void *tool_ctx;
    llm_limits limits;
    /* Risky tools: true if a person granted this call (name, args). NULL = never. */
    bool (*approve)(void *ctx, const char *tool, const json_t *args);
    /* Every turn: role "assistant" (content = the provider turn), "tool" (content =
     * {"name","args","result","error"}), "user" (re-asks, conclude notes). May be NULL. */
    void (*on_message)(void *ctx, const char *role, const json_t *content);
    void (*done)(void *arg, llm_run *run);
    void *done_arg;
} llm_loop_spec;

typedef struct {
    int rc;          /* 0: answered; -1: ended without an answer (reason) */
    char reason[32]; /* "answer", "iterations", "wall_time", "tokens", "invalid_json", "error" */
    char *text;      /* NEW: the final text (NULL without an answer) */
    json_t *json;    /* NEW: the final JSON when a schema was asked (NULL otherwise) */
    int model_calls, tool_calls, tools_refused;
    int64_t input_tokens, output_tokens;
    double spent;
    char err[512];
} llm_run_result;

/* Starts a run on chat (STOLEN: freed with the run) whose first turn was added by the
 * caller; tools are offered from spec. spec is copied. spec->done runs exactly once,
 * from llm_client_run (or from here when the first call cannot be queued). NEW run
 * (free after done with llm_run_free) or NULL (OOM: chat freed, done not called). */
llm_run *llm_run_start(llm_client *client, llm_chat *chat, const llm_loop_spec *spec);
/* The outcome, valid once done ran. BORROWED until llm_run_free. */
const llm_run_result *llm_run_outcome(const llm_run *run);
void llm_run_free(llm_run *run);
/* The conversation of an ended run (every turn so far), for a next question in the
 * same chat: NEW (the run no longer has it), with no tools or schema set. */
llm_chat *llm_run_release_chat(llm_run *run);

/* Starts a run and drives client until it ends. 0 or -1 as result->rc; result is
 * filled (free its text/json with llm_run_result_clear). */
int llm_run_sync(llm_client *client, llm_chat *chat, const llm_loop_spec *spec, llm_run_result *result);
/* The same, leaving the conversation to the caller: chat is BORROWED and holds every
 * turn of the run afterwards (its tools and schema unset). */
int llm_run_sync_keep(llm_client *client, llm_chat *chat, const llm_loop_spec *spec, llm_run_result *result);
void llm_run_result_clear(llm_run_result *r);

#endif
