/* One LLM client for three wire formats: OpenAI chat completions (and every
 * OpenAI-compatible server: vLLM, Ollama, llama.cpp, gateways), Anthropic Messages and
 * Gemini generateContent. Chosen by HUTCH_LLM_PROVIDER (none | openai | anthropic |
 * gemini); HUTCH_LLM_URL is the base URL, HUTCH_LLM_API_KEY a secret never logged.
 *
 * Two layers:
 *   - pure: a conversation (llm_chat) kept in the provider's own message shape, so an
 *     assistant turn is echoed back verbatim as each API asks (OpenAI's tool_calls with
 *     `arguments` as a JSON string, Anthropic's content blocks, Gemini's model content
 *     with its thought signatures); llm_request_body builds a request, llm_reply_parse
 *     reads an answer into a provider-neutral llm_reply (text, tool calls with their
 *     arguments as objects, token usage). Tested on recorded-shape bodies.
 *   - transport: llm_client drives many calls from one thread with libcurl's multi
 *     interface: llm_client_submit queues a call and llm_client_run performs transfers,
 *     retrying 429/5xx (and Anthropic's 529) after Retry-After or an exponential backoff,
 *     each attempt bounded by the timeout, and calls the completion callback once.
 *
 * JSON output: llm_chat.schema asks for a JSON answer (OpenAI response_format
 * json_schema, Gemini responseSchema when no tools are offered, otherwise an
 * instruction in the system prompt); llm_json_check validates the answer against the
 * subset of JSON Schema used here (type, required, properties, enum); the caller re-asks
 * with llm_chat_add_user on failure (the tool loop does, up to 3 times).
 *
 * Not thread-safe: one client belongs to the thread that runs it. */
#ifndef HUTCH_LLM_H
#define HUTCH_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/config.h"

typedef enum { LLM_NONE, LLM_OPENAI, LLM_ANTHROPIC, LLM_GEMINI } llm_provider;
typedef struct llm_config llm_config;

/* The HUTCH_LLM_* settings, one table for every program that talks to a model (the
 * agent, hutchctl chat, hutch-llm). Fill with config_load(llm_settings_table, ...),
 * release with config_free. */
typedef struct {
    char *provider; /* HUTCH_LLM_PROVIDER: none | openai | anthropic | gemini */
    char *url;      /* HUTCH_LLM_URL */
    char *model;    /* HUTCH_LLM_MODEL */
    char *api_key;  /* HUTCH_LLM_API_KEY (secret) */
    int64_t timeout_ms;
    int64_t max_retries;
    int64_t max_tokens;
} llm_settings;
extern const config_field llm_settings_table[];
/* The client configuration of loaded settings (strings BORROWED from s). 0, or -1 with
 * err (a provider other than none without URL or model). */
int llm_settings_config(const llm_settings *s, llm_config *out, char *err, size_t errlen);

/* "none", "openai", "anthropic", "gemini" <-> values. 0, or -1 on an unknown name. */
int llm_provider_parse(const char *name, llm_provider *out);
const char *llm_provider_name(llm_provider p);

struct llm_config {
    llm_provider provider;
    const char *url;     /* base URL, e.g. https://api.openai.com/v1 (BORROWED) */
    const char *model;   /* BORROWED */
    const char *api_key; /* BORROWED, secret: never logged; "" = no auth header */
    long timeout_ms;     /* per attempt; 0 = 60000 */
    int max_retries;     /* on 429/5xx/transport errors; <0 = 0 */
    long max_backoff_ms; /* cap on a Retry-After or backoff; 0 = 30000 */
    int max_tokens;      /* output tokens per call (Anthropic requires it); 0 = 2048 */
};

/* A conversation in the provider's message shape. Create with llm_chat_new, free with
 * llm_chat_free. tools: NEW array of {name, description, parameters (JSON Schema)}
 * (set with llm_chat_set_tools, STOLEN). schema: JSON Schema of the final answer or
 * NULL (STOLEN by llm_chat_set_schema). */
typedef struct {
    llm_provider provider;
    char *system;     /* NEW */
    json_t *messages; /* NEW array, provider shape */
    json_t *tools;    /* NEW or NULL */
    json_t *schema;   /* NEW or NULL */
    char schema_name[64];
    bool no_tool_calls; /* tools stay declared (history may hold calls) but may not be called */
} llm_chat;

llm_chat *llm_chat_new(llm_provider p, const char *system);
void llm_chat_free(llm_chat *c);
void llm_chat_set_tools(llm_chat *c, json_t *tools);
void llm_chat_set_schema(llm_chat *c, const char *name, json_t *schema);
/* Appends a user turn of text. 0 or -1 (OOM). */
int llm_chat_add_user(llm_chat *c, const char *text);
/* Appends an assistant turn of text (an answer given outside this conversation, e.g.
 * by a planned chat's tasks). 0 or -1 (OOM). */
int llm_chat_add_assistant_text(llm_chat *c, const char *text);

typedef struct {
    char *id;     /* NEW; the provider's call id, or a made-up one (Gemini, servers without ids) */
    char *name;   /* NEW */
    json_t *args; /* NEW object (OpenAI's string arguments parsed; an unparsable string
                   * becomes {"_invalid_arguments": "..."} so the tool can say why) */
} llm_tool_call;

typedef struct {
    char *text;           /* NEW; the text parts joined, "" when none */
    llm_tool_call *calls; /* NEW array */
    size_t n_calls;
    json_t *assistant; /* NEW: the assistant turn to append verbatim */
    char stop[32];     /* finish/stop reason as the provider said it */
    int64_t input_tokens, output_tokens;
    int http_status;
    int attempts; /* HTTP attempts this call took (transport) */
} llm_reply;

void llm_reply_free(llm_reply *r);

/* Appends the reply's assistant turn (a copy). 0 or -1. */
int llm_chat_add_reply(llm_chat *c, const llm_reply *r);
/* Appends the results of r's tool calls: results[i] is the text answer of calls[i]
 * (BORROWED; JSON text is passed as is, Gemini wraps a non-object as {"result": ...}),
 * is_error[i] marks a failed call (may be NULL). 0 or -1. */
int llm_chat_add_tool_results(llm_chat *c, const llm_reply *r, const char *const *results, const bool *is_error);

/* The endpoint of a call: "<url>/chat/completions", "<url>/v1/messages" or
 * "<url>/v1beta/models/<model>:generateContent" (a trailing '/' of url ignored;
 * an OpenAI url ending in /v1 is used as is). NEW string. */
char *llm_endpoint(const llm_config *cfg);
/* The request headers (without the content type), as "Name: value" lines. The API key
 * appears here only. NEW NULL-terminated array (llm_headers_free). */
char **llm_headers(const llm_config *cfg);
void llm_headers_free(char **h);
/* The JSON body of the next call on c. NEW object or NULL (OOM). */
json_t *llm_request_body(const llm_config *cfg, const llm_chat *c);
/* Parses an answer body of provider p. 0 (r filled, free with llm_reply_free) or -1
 * with the reason in err (r empty). An error object in the body is reported in err. */
int llm_reply_parse(llm_provider p, const char *body, size_t len, llm_reply *r, char *err, size_t errlen);

/* Validates a JSON answer (text, possibly inside a ``` fence) against schema (the
 * subset: type, properties, required, enum, items, additionalProperties=false).
 * NEW parsed value on success; NULL with the reason in err. */
json_t *llm_json_check(const char *text, const json_t *schema, char *err, size_t errlen);

/* --- transport --- */

typedef struct llm_client llm_client;

/* rc: 0 = r holds the answer (owned by the callback: llm_reply_free it), -1 = failed
 * (err says why: HTTP status and the provider's message, timeout, retries exhausted). */
typedef void (*llm_done_fn)(void *arg, int rc, llm_reply *r, const char *err);

/* cfg is copied (its strings too). NEW; NULL with err set (provider none, no URL). */
llm_client *llm_client_new(const llm_config *cfg, char *err, size_t errlen);
void llm_client_free(llm_client *c);
/* Queues the next call on chat (its body is built now: chat may change afterwards).
 * done runs from llm_client_run. 0 or -1 (OOM). */
int llm_client_submit(llm_client *c, const llm_chat *chat, llm_done_fn done, void *arg);
/* Performs transfers for up to wait_ms (returns earlier when a call completed).
 * Returns the number of calls still in flight or waiting for a retry. */
int llm_client_run(llm_client *c, int wait_ms);
/* Submits and runs until that call completes. 0 (r filled) or -1 (err). */
int llm_client_call(llm_client *c, const llm_chat *chat, llm_reply *r, char *err, size_t errlen);

/* Parses a Retry-After value (delta seconds or an HTTP date) into milliseconds from
 * now_s; -1 when absent or unreadable. */
long llm_retry_after_ms(const char *value, int64_t now_s);

#endif
