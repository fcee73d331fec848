/* A chat question about a ticket, answered by the configured model: the one
 * implementation behind hutch.agent.requests (the agent's worker) and `hutchctl chat`.
 *
 * A question is answered in one of two ways (plan.h decides which):
 *   - direct: Warren's basic tool loop (llm_loop.h) on the conversation, with the chat's
 *     tools (read-only: the agent's without hutch_update_finding, and the MCP servers');
 *   - planned (Warren's "aster"): a planner call returns a JSON plan (JSON mode, re-asked
 *     up to 3 times when invalid), the phase's tasks run at once as tool-using sub-runs
 *     on the same client, their results go to a replan call that adds tasks or answers;
 *     at most HUTCH_CHAT_MAX_PHASES phases of at most HUTCH_CHAT_MAX_TASKS tasks.
 * Limits of one question, over every call it makes: HUTCH_CHAT_BUDGET tool cost units
 * (a phase's tasks share what is left), HUTCH_CHAT_TOKENS, HUTCH_CHAT_TIMEOUT.
 *
 * Every turn is stored in the caller's session (agent_messages, requests.h) as it
 * happens: "context" (the ticket data, once per conversation), "user" (the question),
 * the model's "assistant" turns and "tool" calls (with their plan phase and task),
 * "plan" (a phase's tasks), "task_result", and "answer" (the final text, always last).
 * on_turn is told of each stored turn (the agent publishes a TicketEvent "chat").
 *
 * A chat is a state machine on an llm_client (llm.h): the driver runs the client and
 * calls chat_step after each run until it returns true; chat_ask_sync does both. The
 * model's callbacks only mark sub-runs done; chat_step starts the next ones, so nothing
 * is freed inside a callback. Not thread-safe: a chat belongs to its client's thread. */
#ifndef HUTCH_AGENT_CHAT_H
#define HUTCH_AGENT_CHAT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpsl.h>

#include "common/config.h"
#include "common/llm.h"
#include "common/llm_loop.h"
#include "common/pg.h"
#include "services/agent/plan.h"

/* The HUTCH_CHAT_* settings (config_load(chat_settings_table, ...), config_free). */
typedef struct {
    char *planning; /* auto | always | never */
    int64_t plan_min_words;
    int64_t max_phases;
    int64_t max_tasks;
    int64_t task_iterations;
    int64_t iterations;
    int64_t budget;
    int64_t tokens;
    int64_t timeout_ms;
} chat_settings;
extern const config_field chat_settings_table[];

/* What a chat works with; every pointer BORROWED for the chat's life. */
typedef struct {
    pg *db;
    const psl_ctx_t *psl;
    llm_client *client;
    llm_provider provider;
    const llm_tool *tools; /* the chat's tools (chat_tools_select) */
    size_t n_tools;
    const chat_settings *settings;
    /* Each stored turn, after it was stored. May be NULL. */
    void (*on_turn)(void *arg, const char *ticket_id, const char *session_id, int seq, const char *role, int phase,
                    const char *task);
    void *turn_arg;
} chat_env;

/* A conversation's session, owned by the caller (open it with agent_chat_session_open,
 * close it with agent_session_close and the totals). */
typedef struct {
    char session_id[37];
    char ticket_id[37];
    int seq; /* last stored turn */
    int model_calls, tool_calls, phases;
    int64_t input_tokens, output_tokens;
} chat_session;

typedef struct {
    int rc;          /* 0: answered; -1: no answer (reason, err) */
    char reason[32]; /* the loop's ("answer", "iterations", ...) or the plan's ("answer", "phase_limit") */
    char *answer;    /* NEW (NULL without an answer) */
    bool planned;
    int phases, tasks;
    char err[512];
} chat_outcome;

typedef struct chat_run chat_run;

/* The chat tools of a tool table: every tool but hutch_update_finding (a chat reads; the
 * analysis writes). out has room for n. Returns the count. */
size_t chat_tools_select(const llm_tool *all, size_t n, llm_tool *out);

/* Starts answering question about the ticket of ctx (agent_load_context; BORROWED) in
 * session sess (BORROWED for the chat's life). history: the conversation so far (STOLEN;
 * NULL for the first question, which gets the ticket's data). NEW chat, or NULL (OOM). */
chat_run *chat_start(const chat_env *env, chat_session *sess, const json_t *ctx, const char *question,
                     llm_chat *history);
/* Advances the chat after its client ran; true once it has ended. */
bool chat_step(chat_run *c);
/* The outcome once chat_step returned true. BORROWED until chat_free. */
const chat_outcome *chat_result(const chat_run *c);
/* The conversation with this question and its answer, for the next question. NEW. */
llm_chat *chat_release_history(chat_run *c);
void chat_free(chat_run *c);

/* chat_start, then drives env->client until the chat ended. The outcome is copied to
 * out (out->answer NEW: free it). history as chat_start; *next (may be NULL) gets the
 * conversation for the next question (NEW). 0 or -1 as out->rc. */
int chat_ask_sync(const chat_env *env, chat_session *sess, const json_t *ctx, const char *question, llm_chat *history,
                  llm_chat **next, chat_outcome *out);

/* The TicketEvent of a stored turn: kind "chat", actor "hutch-agent", detail_json
 * {session_id, role, seq, phase?, task?}; meta id derived from (session, seq). trace_id
 * may be NULL. NEW packed buffer (free), length in *len; NULL on OOM. */
uint8_t *chat_pack_turn_event(const char *ticket_id, const char *session_id, int seq, const char *role, int phase,
                              const char *task, const char *trace_id, int64_t created_ms, size_t *len);

#endif
