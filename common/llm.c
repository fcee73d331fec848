/* The LLM client (llm.h): request builders and reply parsers of the three wire
 * formats (pure), and the libcurl multi transport with retries.
 *
 * What must stay true: an assistant turn goes back to the provider exactly as it came
 * (the APIs check tool call ids and Gemini its thought signatures); the API key is
 * only ever put in a header, never in a log line or an error message; one call's
 * callback runs exactly once. */
#include "common/llm.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <curl/curl.h>
#include <pthread.h>

#include "common/strbuf.h"

static const char *const provider_names[] = {"none", "openai", "anthropic", "gemini"};

int llm_provider_parse(const char *name, llm_provider *out)
{
    for (int i = 0; i < 4; i++)
        if (name && strcasecmp(name, provider_names[i]) == 0) {
            *out = (llm_provider)i;
            return 0;
        }
    return -1;
}

const char *llm_provider_name(llm_provider p) { return (unsigned)p < 4 ? provider_names[p] : "?"; }

const config_field llm_settings_table[] = {
    {"HUTCH_LLM_PROVIDER", CONFIG_STRING, "none", offsetof(llm_settings, provider),
     "the model's wire format: none (no model: template summaries), openai (every OpenAI-compatible server), "
     "anthropic, gemini",
     0, 0, "none|openai|anthropic|gemini"},
    {"HUTCH_LLM_URL", CONFIG_STRING, "", offsetof(llm_settings, url),
     "base URL (https://api.openai.com/v1, https://api.anthropic.com, https://generativelanguage.googleapis.com, "
     "http://127.0.0.1:8080/v1 for llama.cpp)",
     0, 0, NULL},
    {"HUTCH_LLM_MODEL", CONFIG_STRING, "", offsetof(llm_settings, model), "model name", 0, 0, NULL},
    {"HUTCH_LLM_API_KEY", CONFIG_SECRET, "", offsetof(llm_settings, api_key), "API key (\"\" = none)", 0, 0, NULL},
    {"HUTCH_LLM_TIMEOUT", CONFIG_DURATION_MS, "60s", offsetof(llm_settings, timeout_ms), "per HTTP attempt", 0, 0,
     NULL},
    {"HUTCH_LLM_RETRIES", CONFIG_INT, "3", offsetof(llm_settings, max_retries),
     "retries of a call on 429/5xx/network errors (after Retry-After)", 0, 20, NULL},
    {"HUTCH_LLM_MAX_TOKENS", CONFIG_INT, "2048", offsetof(llm_settings, max_tokens), "output tokens per call", 1,
     1000000, NULL},
    CONFIG_END,
};

int llm_settings_config(const llm_settings *s, llm_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (llm_provider_parse(s->provider, &out->provider) != 0) {
        snprintf(err, errlen, "HUTCH_LLM_PROVIDER: unknown provider \"%s\"", s->provider ? s->provider : "");
        return -1;
    }
    out->url = s->url;
    out->model = s->model;
    out->api_key = s->api_key;
    out->timeout_ms = (long)s->timeout_ms;
    out->max_retries = (int)s->max_retries;
    out->max_tokens = (int)s->max_tokens;
    if (out->provider != LLM_NONE && (!s->url || !*s->url || !s->model || !*s->model)) {
        snprintf(err, errlen, "HUTCH_LLM_URL and HUTCH_LLM_MODEL are needed for HUTCH_LLM_PROVIDER=%s", s->provider);
        return -1;
    }
    return 0;
}

/* --- conversation --- */

llm_chat *llm_chat_new(llm_provider p, const char *system)
{
    llm_chat *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->provider = p;
    c->system = strdup(system ? system : "");
    c->messages = json_array();
    if (!c->system || !c->messages) {
        llm_chat_free(c);
        return NULL;
    }
    return c;
}

void llm_chat_free(llm_chat *c)
{
    if (!c)
        return;
    free(c->system);
    json_decref(c->messages);
    json_decref(c->tools);
    json_decref(c->schema);
    free(c);
}

void llm_chat_set_tools(llm_chat *c, json_t *tools)
{
    json_decref(c->tools);
    c->tools = tools;
}

void llm_chat_set_schema(llm_chat *c, const char *name, json_t *schema)
{
    json_decref(c->schema);
    c->schema = schema;
    snprintf(c->schema_name, sizeof c->schema_name, "%s", name && *name ? name : "answer");
}

int llm_chat_add_user(llm_chat *c, const char *text)
{
    json_t *m = c->provider == LLM_GEMINI ? json_pack("{s:s, s:[{s:s}]}", "role", "user", "parts", "text", text)
                                          : json_pack("{s:s, s:s}", "role", "user", "content", text);
    return m ? json_array_append_new(c->messages, m) : -1;
}

int llm_chat_add_assistant_text(llm_chat *c, const char *text)
{
    json_t *m = c->provider == LLM_GEMINI ? json_pack("{s:s, s:[{s:s}]}", "role", "model", "parts", "text", text)
                                          : json_pack("{s:s, s:s}", "role", "assistant", "content", text);
    return m ? json_array_append_new(c->messages, m) : -1;
}

int llm_chat_add_reply(llm_chat *c, const llm_reply *r)
{
    if (!r->assistant)
        return -1;
    return json_array_append_new(c->messages, json_deep_copy(r->assistant));
}

/* A tool's text answer as a JSON object for Gemini's functionResponse.response. */
static json_t *as_object(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (json_is_object(v))
        return v;
    json_decref(v);
    return json_pack("{s:s}", "result", text);
}

int llm_chat_add_tool_results(llm_chat *c, const llm_reply *r, const char *const *results, const bool *is_error)
{
    if (r->n_calls == 0)
        return 0;
    if (c->provider == LLM_OPENAI) {
        for (size_t i = 0; i < r->n_calls; i++) {
            json_t *m =
                json_pack("{s:s, s:s, s:s}", "role", "tool", "tool_call_id", r->calls[i].id, "content", results[i]);
            if (!m || json_array_append_new(c->messages, m))
                return -1;
        }
        return 0;
    }
    json_t *blocks = json_array();
    for (size_t i = 0; blocks && i < r->n_calls; i++) {
        json_t *b;
        bool err = is_error && is_error[i];
        if (c->provider == LLM_ANTHROPIC) {
            b = json_pack("{s:s, s:s, s:s, s:b}", "type", "tool_result", "tool_use_id", r->calls[i].id, "content",
                          results[i], "is_error", err);
        } else {
            json_t *resp = err ? json_pack("{s:s}", "error", results[i]) : as_object(results[i]);
            json_t *fr = resp ? json_pack("{s:s, s:o}", "name", r->calls[i].name, "response", resp) : NULL;
            /* Newer models give calls ids; the response names the same one. */
            if (fr && strncmp(r->calls[i].id, "call_", 5) != 0)
                json_object_set_new(fr, "id", json_string(r->calls[i].id));
            b = fr ? json_pack("{s:o}", "functionResponse", fr) : NULL;
        }
        if (!b || json_array_append_new(blocks, b)) {
            json_decref(blocks);
            return -1;
        }
    }
    json_t *m = c->provider == LLM_ANTHROPIC ? json_pack("{s:s, s:o}", "role", "user", "content", blocks)
                                             : json_pack("{s:s, s:o}", "role", "user", "parts", blocks);
    return m ? json_array_append_new(c->messages, m) : -1;
}

/* --- requests --- */

static char *trimmed_url(const char *url)
{
    char *u = strdup(url ? url : "");
    if (u) {
        size_t n = strlen(u);
        while (n > 0 && u[n - 1] == '/')
            u[--n] = '\0';
    }
    return u;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

char *llm_endpoint(const llm_config *cfg)
{
    char *base = trimmed_url(cfg->url), *out = NULL;
    if (!base)
        return NULL;
    int rc = -1;
    switch (cfg->provider) {
    case LLM_OPENAI: rc = asprintf(&out, "%s/chat/completions", base); break;
    case LLM_ANTHROPIC: rc = asprintf(&out, "%s%s/messages", base, ends_with(base, "/v1") ? "" : "/v1"); break;
    case LLM_GEMINI:
        rc = asprintf(&out, "%s%s/models/%s:generateContent", base,
                      ends_with(base, "/v1beta") || ends_with(base, "/v1") ? "" : "/v1beta", cfg->model);
        break;
    case LLM_NONE: break;
    }
    free(base);
    return rc < 0 ? NULL : out;
}

char **llm_headers(const llm_config *cfg)
{
    char **h = calloc(3, sizeof *h);
    if (!h)
        return NULL;
    const char *key = cfg->api_key ? cfg->api_key : "";
    int n = 0, rc = 0;
    switch (cfg->provider) {
    case LLM_OPENAI:
        if (*key)
            rc = asprintf(&h[n++], "Authorization: Bearer %s", key);
        break;
    case LLM_ANTHROPIC:
        rc = asprintf(&h[n++], "anthropic-version: 2023-06-01");
        if (rc >= 0 && *key)
            rc = asprintf(&h[n++], "x-api-key: %s", key);
        break;
    case LLM_GEMINI:
        if (*key)
            rc = asprintf(&h[n++], "x-goog-api-key: %s", key);
        break;
    case LLM_NONE: break;
    }
    if (rc < 0) {
        h[n - 1] = NULL;
        llm_headers_free(h);
        return NULL;
    }
    return h;
}

void llm_headers_free(char **h)
{
    for (size_t i = 0; h && h[i]; i++)
        free(h[i]);
    free(h);
}

/* Gemini's parameter schemas are an OpenAPI subset: additionalProperties is refused by
 * older versions, so it is dropped (everywhere in the tree). */
static json_t *gemini_schema(const json_t *schema)
{
    json_t *s = json_deep_copy(schema);
    json_t *stack[64];
    size_t top = 0;
    if (s)
        stack[top++] = s;
    while (top > 0) {
        json_t *v = stack[--top];
        if (json_is_object(v)) {
            json_object_del(v, "additionalProperties");
            const char *k;
            json_t *x;
            json_object_foreach (v, k, x)
                if ((json_is_object(x) || json_is_array(x)) && top < 64)
                    stack[top++] = x;
        } else if (json_is_array(v)) {
            size_t i;
            json_t *x;
            json_array_foreach (v, i, x)
                if ((json_is_object(x) || json_is_array(x)) && top < 64)
                    stack[top++] = x;
        }
    }
    return s;
}

static const char *tool_str(const json_t *t, const char *k)
{
    const char *s = json_string_value(json_object_get(t, k));
    return s ? s : "";
}

static json_t *tool_params(const json_t *t)
{
    json_t *p = json_object_get(t, "parameters");
    return p ? json_incref(p) : json_pack("{s:s, s:{}}", "type", "object", "properties");
}

/* The system prompt, with the JSON instruction when the API itself cannot be asked. */
static char *system_text(const llm_chat *c, bool schema_in_prompt)
{
    if (!c->schema || !schema_in_prompt)
        return strdup(c->system);
    char *schema = json_dumps(c->schema, JSON_COMPACT | JSON_SORT_KEYS), *out = NULL;
    if (!schema)
        return NULL;
    int rc = asprintf(&out,
                      "%s%sWhen you give your final answer, answer with one JSON object only (no prose, no "
                      "code fence) that matches this JSON Schema: %s",
                      c->system, *c->system ? "\n\n" : "", schema);
    free(schema);
    return rc < 0 ? NULL : out;
}

json_t *llm_request_body(const llm_config *cfg, const llm_chat *c)
{
    int max_tokens = cfg->max_tokens > 0 ? cfg->max_tokens : 2048;
    bool has_tools = c->tools && json_array_size(c->tools) > 0;
    json_t *body = json_object(), *tools = has_tools ? json_array() : NULL;
    char *system = NULL;
    if (!body || (has_tools && !tools))
        goto fail;
    size_t i;
    json_t *t;
    switch (c->provider) {
    case LLM_OPENAI: {
        json_t *msgs = json_array();
        json_object_set_new(body, "model", json_string(cfg->model));
        json_object_set_new(body, "temperature", json_integer(0));
        json_object_set_new(body, "messages", msgs);
        if (!msgs || (*c->system &&
                      json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", c->system))))
            goto fail;
        if (json_array_extend(msgs, c->messages))
            goto fail;
        json_array_foreach (c->tools, i, t)
            json_array_append_new(tools, json_pack("{s:s, s:{s:s, s:s, s:o}}", "type", "function", "function", "name",
                                                   tool_str(t, "name"), "description", tool_str(t, "description"),
                                                   "parameters", tool_params(t)));
        if (has_tools) {
            json_object_set_new(body, "tools", tools);
            tools = NULL;
            json_object_set_new(body, "tool_choice", json_string(c->no_tool_calls ? "none" : "auto"));
            if (!c->no_tool_calls)
                json_object_set_new(body, "parallel_tool_calls", json_true());
        }
        if (c->schema)
            json_object_set_new(body, "response_format",
                                json_pack("{s:s, s:{s:s, s:b, s:O}}", "type", "json_schema", "json_schema", "name",
                                          c->schema_name, "strict", 0, "schema", c->schema));
        break;
    }
    case LLM_ANTHROPIC:
        system = system_text(c, true);
        if (!system)
            goto fail;
        json_object_set_new(body, "model", json_string(cfg->model));
        json_object_set_new(body, "max_tokens", json_integer(max_tokens));
        json_object_set_new(body, "temperature", json_integer(0));
        if (*system)
            json_object_set_new(body, "system", json_string(system));
        json_object_set_new(body, "messages", json_deep_copy(c->messages));
        json_array_foreach (c->tools, i, t)
            json_array_append_new(tools, json_pack("{s:s, s:s, s:o}", "name", tool_str(t, "name"), "description",
                                                   tool_str(t, "description"), "input_schema", tool_params(t)));
        if (has_tools) {
            json_object_set_new(body, "tools", tools);
            tools = NULL;
            json_object_set_new(body, "tool_choice", json_pack("{s:s}", "type", c->no_tool_calls ? "none" : "auto"));
        }
        break;
    case LLM_GEMINI: {
        system = system_text(c, has_tools);
        if (!system)
            goto fail;
        if (*system)
            json_object_set_new(body, "systemInstruction", json_pack("{s:[{s:s}]}", "parts", "text", system));
        json_object_set_new(body, "contents", json_deep_copy(c->messages));
        json_t *decls = json_array();
        json_array_foreach (c->tools, i, t) {
            json_t *p = tool_params(t), *gp = gemini_schema(p);
            json_decref(p);
            json_array_append_new(decls, json_pack("{s:s, s:s, s:o}", "name", tool_str(t, "name"), "description",
                                                   tool_str(t, "description"), "parameters", gp));
        }
        if (has_tools) {
            json_array_append_new(tools, json_pack("{s:o}", "functionDeclarations", decls));
            json_object_set_new(body, "tools", tools);
            tools = NULL;
            json_object_set_new(
                body, "toolConfig",
                json_pack("{s:{s:s}}", "functionCallingConfig", "mode", c->no_tool_calls ? "NONE" : "AUTO"));
        } else {
            json_decref(decls);
        }
        json_t *gen = json_pack("{s:i, s:i, s:{s:i}}", "temperature", 0, "maxOutputTokens", max_tokens,
                                "thinkingConfig", "thinkingBudget", 0);
        if (gen && c->schema && !has_tools) {
            json_object_set_new(gen, "responseMimeType", json_string("application/json"));
            json_object_set_new(gen, "responseSchema", gemini_schema(c->schema));
        }
        json_object_set_new(body, "generationConfig", gen);
        break;
    }
    case LLM_NONE: goto fail;
    }
    free(system);
    return body;
fail:
    free(system);
    json_decref(tools);
    json_decref(body);
    return NULL;
}

/* --- replies --- */

void llm_reply_free(llm_reply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_calls; i++) {
        free(r->calls[i].id);
        free(r->calls[i].name);
        json_decref(r->calls[i].args);
    }
    free(r->calls);
    free(r->text);
    json_decref(r->assistant);
    memset(r, 0, sizeof *r);
}

static int add_call(llm_reply *r, const char *id, const char *name, json_t *args /* STOLEN */)
{
    llm_tool_call *calls = realloc(r->calls, (r->n_calls + 1) * sizeof *calls);
    if (!calls) {
        json_decref(args);
        return -1;
    }
    r->calls = calls;
    char made[32];
    if (!id || !*id) {
        snprintf(made, sizeof made, "call_%zu", r->n_calls);
        id = made;
    }
    llm_tool_call *c = &r->calls[r->n_calls];
    c->id = strdup(id);
    c->name = strdup(name ? name : "");
    c->args = args ? args : json_object();
    r->n_calls++;
    return c->id && c->name && c->args ? 0 : -1;
}

/* OpenAI's arguments are a JSON string; compatible servers sometimes send an object. */
static json_t *openai_args(const json_t *a)
{
    if (json_is_object(a))
        return json_incref((json_t *)a);
    const char *s = json_string_value(a);
    if (!s || !*s)
        return json_object();
    json_t *v = json_loads(s, 0, NULL);
    if (json_is_object(v))
        return v;
    json_decref(v);
    return json_pack("{s:s}", "_invalid_arguments", s);
}

static void set_stop(llm_reply *r, const json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(r->stop, sizeof r->stop, "%s", s ? s : "");
}

static int parse_openai(json_t *root, llm_reply *r, strbuf *text, char *err, size_t errlen)
{
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *msg = json_object_get(choice, "message");
    if (!json_is_object(msg)) {
        snprintf(err, errlen, "no choices[0].message in the answer");
        return -1;
    }
    set_stop(r, json_object_get(choice, "finish_reason"));
    const char *content = json_string_value(json_object_get(msg, "content"));
    if (content)
        strbuf_puts(text, content);
    size_t i;
    json_t *tc;
    json_array_foreach (json_object_get(msg, "tool_calls"), i, tc) {
        json_t *fn = json_object_get(tc, "function");
        if (add_call(r, json_string_value(json_object_get(tc, "id")), json_string_value(json_object_get(fn, "name")),
                     openai_args(json_object_get(fn, "arguments"))))
            return -1;
    }
    json_t *usage = json_object_get(root, "usage");
    r->input_tokens = json_integer_value(json_object_get(usage, "prompt_tokens"));
    r->output_tokens = json_integer_value(json_object_get(usage, "completion_tokens"));
    r->assistant = json_deep_copy(msg);
    /* A compatible server that omitted call ids: the ones made up here must be in the
     * echoed turn too, or the tool messages would not match it. */
    json_array_foreach (json_object_get(r->assistant, "tool_calls"), i, tc)
        if (!json_string_value(json_object_get(tc, "id")))
            json_object_set_new(tc, "id", json_string(r->calls[i].id));
    return 0;
}

static int parse_anthropic(json_t *root, llm_reply *r, strbuf *text, char *err, size_t errlen)
{
    json_t *content = json_object_get(root, "content");
    if (!json_is_array(content)) {
        snprintf(err, errlen, "no content array in the answer");
        return -1;
    }
    set_stop(r, json_object_get(root, "stop_reason"));
    size_t i;
    json_t *b;
    json_array_foreach (content, i, b) {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (type && !strcmp(type, "text"))
            strbuf_puts(text, json_string_value(json_object_get(b, "text")) ?: "");
        else if (type && !strcmp(type, "tool_use")) {
            json_t *input = json_object_get(b, "input");
            if (add_call(r, json_string_value(json_object_get(b, "id")), json_string_value(json_object_get(b, "name")),
                         json_is_object(input) ? json_incref(input) : json_object()))
                return -1;
        }
    }
    json_t *usage = json_object_get(root, "usage");
    r->input_tokens = json_integer_value(json_object_get(usage, "input_tokens"));
    r->output_tokens = json_integer_value(json_object_get(usage, "output_tokens"));
    r->assistant = json_pack("{s:s, s:O}", "role", "assistant", "content", content);
    return 0;
}

static int parse_gemini(json_t *root, llm_reply *r, strbuf *text, char *err, size_t errlen)
{
    json_t *cand = json_array_get(json_object_get(root, "candidates"), 0);
    json_t *content = json_object_get(cand, "content");
    if (!json_is_object(cand)) {
        json_t *fb = json_object_get(json_object_get(root, "promptFeedback"), "blockReason");
        snprintf(err, errlen, "no candidates in the answer%s%s", fb ? ": blocked, " : "",
                 fb ? json_string_value(fb) : "");
        return -1;
    }
    set_stop(r, json_object_get(cand, "finishReason"));
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(content, "parts"), i, p) {
        json_t *fc = json_object_get(p, "functionCall");
        const char *t = json_string_value(json_object_get(p, "text"));
        if (fc) {
            json_t *args = json_object_get(fc, "args");
            if (add_call(r, json_string_value(json_object_get(fc, "id")),
                         json_string_value(json_object_get(fc, "name")),
                         json_is_object(args) ? json_incref(args) : json_object()))
                return -1;
        } else if (t && !json_is_true(json_object_get(p, "thought"))) {
            strbuf_puts(text, t);
        }
    }
    json_t *usage = json_object_get(root, "usageMetadata");
    r->input_tokens = json_integer_value(json_object_get(usage, "promptTokenCount"));
    r->output_tokens = json_integer_value(json_object_get(usage, "candidatesTokenCount"));
    r->assistant =
        json_is_object(content) ? json_deep_copy(content) : json_pack("{s:s, s:[]}", "role", "model", "parts");
    if (r->assistant && !json_object_get(r->assistant, "role"))
        json_object_set_new(r->assistant, "role", json_string("model"));
    return 0;
}

/* The provider's error message, if the body is an error object. */
static const char *error_message(const json_t *root)
{
    json_t *e = json_object_get(root, "error");
    if (json_is_string(e))
        return json_string_value(e);
    const char *m = json_string_value(json_object_get(e, "message"));
    return m ? m : e ? "error without a message" : NULL;
}

int llm_reply_parse(llm_provider p, const char *body, size_t len, llm_reply *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the answer is not a JSON object: %s", root ? "another JSON value" : je.text);
        json_decref(root);
        return -1;
    }
    const char *em = error_message(root);
    if (em) {
        snprintf(err, errlen, "the provider answered an error: %s", em);
        json_decref(root);
        return -1;
    }
    strbuf text = {0};
    int rc = p == LLM_OPENAI      ? parse_openai(root, r, &text, err, errlen)
             : p == LLM_ANTHROPIC ? parse_anthropic(root, r, &text, err, errlen)
             : p == LLM_GEMINI    ? parse_gemini(root, r, &text, err, errlen)
                                  : (snprintf(err, errlen, "no provider"), -1);
    json_decref(root);
    r->text = strbuf_take(&text);
    if (rc == 0 && (!r->text || !r->assistant)) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc != 0)
        llm_reply_free(r);
    return rc;
}

/* --- JSON answers --- */

static bool type_ok(const char *type, const json_t *v)
{
    if (!type)
        return true;
    if (!strcmp(type, "object"))
        return json_is_object(v);
    if (!strcmp(type, "array"))
        return json_is_array(v);
    if (!strcmp(type, "string"))
        return json_is_string(v);
    if (!strcmp(type, "integer"))
        return json_is_integer(v);
    if (!strcmp(type, "number"))
        return json_is_number(v);
    if (!strcmp(type, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(type, "null"))
        return json_is_null(v);
    return true;
}

static int check_value(const json_t *v, const json_t *schema, const char *path, char *err, size_t errlen, int depth)
{
    if (!json_is_object(schema) || depth > 32)
        return 0;
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!type_ok(type, v)) {
        snprintf(err, errlen, "%s: expected %s", path, type);
        return -1;
    }
    json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        bool found = false;
        size_t i;
        json_t *x;
        json_array_foreach (en, i, x)
            found = found || json_equal(x, (json_t *)v);
        if (!found) {
            char *allowed = json_dumps(en, JSON_COMPACT);
            snprintf(err, errlen, "%s: not one of %s", path, allowed ? allowed : "the allowed values");
            free(allowed);
            return -1;
        }
    }
    char sub[256];
    if (json_is_object(v)) {
        size_t i;
        json_t *x;
        json_array_foreach (json_object_get(schema, "required"), i, x) {
            const char *k = json_string_value(x);
            if (k && !json_object_get(v, k)) {
                snprintf(err, errlen, "%s: missing required property \"%s\"", path, k);
                return -1;
            }
        }
        json_t *props = json_object_get(schema, "properties");
        bool closed = json_is_false(json_object_get(schema, "additionalProperties"));
        const char *k;
        json_t *val;
        json_object_foreach ((json_t *)v, k, val) {
            json_t *ps = json_object_get(props, k);
            snprintf(sub, sizeof sub, "%s.%s", path, k);
            if (!ps && closed) {
                snprintf(err, errlen, "%s: property not allowed", sub);
                return -1;
            }
            if (ps && check_value(val, ps, sub, err, errlen, depth + 1))
                return -1;
        }
    } else if (json_is_array(v)) {
        json_t *items = json_object_get(schema, "items");
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (check_value(x, items, sub, err, errlen, depth + 1))
                return -1;
        }
    }
    return 0;
}

json_t *llm_json_check(const char *text, const json_t *schema, char *err, size_t errlen)
{
    const char *s = text ? text : "";
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    /* Models often fence JSON in ```json ... ``` even when told not to. */
    if (strncmp(s, "```", 3) == 0) {
        const char *nl = strchr(s, '\n');
        const char *end = nl ? strstr(nl, "```") : NULL;
        if (nl && end) {
            s = nl + 1;
            n = (size_t)(end - s);
        }
    }
    if (n == 0) {
        snprintf(err, errlen, "the answer is empty, a JSON object was expected");
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY, &je);
    if (!v) {
        snprintf(err, errlen, "the answer is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return NULL;
    }
    if (check_value(v, schema, "$", err, errlen, 0)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* --- transport --- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long llm_retry_after_ms(const char *value, int64_t now_s)
{
    if (!value)
        return -1;
    while (isspace((unsigned char)*value))
        value++;
    if (!*value)
        return -1;
    char *end;
    double secs = strtod(value, &end);
    if (end != value) {
        while (isspace((unsigned char)*end))
            end++;
        if (*end == '\0' && secs >= 0)
            return (long)(secs * 1000);
    }
    time_t t = curl_getdate(value, NULL);
    if (t < 0)
        return -1;
    return t > now_s ? (long)(t - now_s) * 1000 : 0;
}

typedef struct llm_call {
    TAILQ_ENTRY(llm_call) link;
    CURL *easy;
    char *body;
    strbuf resp;
    char retry_after[64];
    int attempts;
    int64_t not_before;
    llm_done_fn done;
    void *arg;
} llm_call;

TAILQ_HEAD(llm_call_list, llm_call);

struct llm_client {
    llm_config cfg; /* strings below */
    char *url, *model, *api_key, *endpoint;
    struct curl_slist *headers;
    CURLM *multi;
    struct llm_call_list waiting, running;
    int n_running;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

llm_client *llm_client_new(const llm_config *cfg, char *err, size_t errlen)
{
    if (cfg->provider == LLM_NONE) {
        snprintf(err, errlen, "no model configured (HUTCH_LLM_PROVIDER=none)");
        return NULL;
    }
    if (!cfg->url || !*cfg->url || !cfg->model || !*cfg->model) {
        snprintf(err, errlen, "HUTCH_LLM_URL and HUTCH_LLM_MODEL are needed for provider %s",
                 llm_provider_name(cfg->provider));
        return NULL;
    }
    pthread_once(&curl_once, curl_init);
    llm_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    TAILQ_INIT(&c->waiting);
    TAILQ_INIT(&c->running);
    c->cfg = *cfg;
    c->url = strdup(cfg->url);
    c->model = strdup(cfg->model);
    c->api_key = strdup(cfg->api_key ? cfg->api_key : "");
    c->cfg.url = c->url;
    c->cfg.model = c->model;
    c->cfg.api_key = c->api_key;
    if (c->cfg.timeout_ms <= 0)
        c->cfg.timeout_ms = 60000;
    if (c->cfg.max_backoff_ms <= 0)
        c->cfg.max_backoff_ms = 30000;
    if (c->cfg.max_retries < 0)
        c->cfg.max_retries = 0;
    c->endpoint = llm_endpoint(&c->cfg);
    c->multi = curl_multi_init();
    char **h = llm_headers(&c->cfg);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; h && h[i] && c->headers; i++) {
        struct curl_slist *n = curl_slist_append(c->headers, h[i]);
        if (!n) {
            curl_slist_free_all(c->headers);
            c->headers = NULL;
        } else
            c->headers = n;
    }
    llm_headers_free(h);
    if (!c->url || !c->model || !c->api_key || !c->endpoint || !c->multi || !c->headers) {
        snprintf(err, errlen, "out of memory");
        llm_client_free(c);
        return NULL;
    }
    return c;
}

static void call_free(llm_call *k)
{
    if (k->easy)
        curl_easy_cleanup(k->easy);
    free(k->body);
    strbuf_free(&k->resp);
    free(k);
}

void llm_client_free(llm_client *c)
{
    if (!c)
        return;
    llm_call *k;
    while ((k = TAILQ_FIRST(&c->running))) {
        TAILQ_REMOVE(&c->running, k, link);
        curl_multi_remove_handle(c->multi, k->easy);
        call_free(k);
    }
    while ((k = TAILQ_FIRST(&c->waiting))) {
        TAILQ_REMOVE(&c->waiting, k, link);
        call_free(k);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->model);
    if (c->api_key)
        memset(c->api_key, 0, strlen(c->api_key));
    free(c->api_key);
    free(c->endpoint);
    free(c);
}

int llm_client_submit(llm_client *c, const llm_chat *chat, llm_done_fn done, void *arg)
{
    llm_call *k = calloc(1, sizeof *k);
    json_t *body = llm_request_body(&c->cfg, chat);
    if (!k || !body) {
        free(k);
        json_decref(body);
        return -1;
    }
    k->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!k->body) {
        free(k);
        return -1;
    }
    k->done = done;
    k->arg = arg;
    k->not_before = 0;
    TAILQ_INSERT_TAIL(&c->waiting, k, link);
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    llm_call *k = arg;
    if (k->resp.len + size * n > (64u << 20))
        return 0; /* 64 MiB: not an answer */
    return strbuf_add(&k->resp, p, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    llm_call *k = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        size_t v = len - 12 < sizeof k->retry_after - 1 ? len - 12 : sizeof k->retry_after - 1;
        memcpy(k->retry_after, p + 12, v);
        k->retry_after[v] = '\0';
        for (char *e = k->retry_after + strlen(k->retry_after); e > k->retry_after && isspace((unsigned char)e[-1]);)
            *--e = '\0';
    }
    return len;
}

static int start(llm_client *c, llm_call *k)
{
    if (!k->easy)
        k->easy = curl_easy_init();
    if (!k->easy)
        return -1;
    CURL *e = k->easy;
    curl_easy_reset(e);
    strbuf_free(&k->resp);
    k->retry_after[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, c->endpoint);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, k->body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->cfg.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->cfg.timeout_ms < 10000 ? c->cfg.timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "hutch-llm");
    curl_easy_setopt(e, CURLOPT_PRIVATE, k);
    k->attempts++;
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
        return -1;
    TAILQ_INSERT_TAIL(&c->running, k, link);
    c->n_running++;
    return 0;
}

static bool retryable(CURLcode cc, long status)
{
    if (cc != CURLE_OK)
        return cc != CURLE_WRITE_ERROR && cc != CURLE_OUT_OF_MEMORY && cc != CURLE_URL_MALFORMAT;
    return status == 429 || status == 529 || status >= 500;
}

/* A finished transfer: complete the call or schedule its retry. 1 when completed. */
static int finish(llm_client *c, llm_call *k, CURLcode cc)
{
    long status = 0;
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(c->multi, k->easy);
    TAILQ_REMOVE(&c->running, k, link);
    c->n_running--;
    char err[768];
    if (retryable(cc, status) && k->attempts <= c->cfg.max_retries) {
        long wait = llm_retry_after_ms(k->retry_after, (int64_t)time(NULL));
        if (wait < 0)
            wait = 500L << (k->attempts - 1 < 6 ? k->attempts - 1 : 6);
        if (wait > c->cfg.max_backoff_ms)
            wait = c->cfg.max_backoff_ms;
        k->not_before = now_ms() + wait;
        TAILQ_INSERT_TAIL(&c->waiting, k, link);
        return 0;
    }
    llm_reply r;
    memset(&r, 0, sizeof r);
    int rc = -1;
    if (cc != CURLE_OK) {
        snprintf(err, sizeof err, "%s: %s (after %d attempts)", c->endpoint, curl_easy_strerror(cc), k->attempts);
    } else if (status < 200 || status > 299) {
        char perr[512];
        llm_reply tmp;
        if (llm_reply_parse(c->cfg.provider, k->resp.p ? k->resp.p : "", k->resp.len, &tmp, perr, sizeof perr) == 0) {
            llm_reply_free(&tmp);
            perr[0] = '\0';
        }
        snprintf(err, sizeof err, "%s: HTTP %ld%s%s (after %d attempts)", c->endpoint, status, *perr ? ": " : "", perr,
                 k->attempts);
    } else if (llm_reply_parse(c->cfg.provider, k->resp.p ? k->resp.p : "", k->resp.len, &r, err, sizeof err) == 0) {
        r.http_status = (int)status;
        r.attempts = k->attempts;
        rc = 0;
    }
    llm_done_fn done = k->done;
    void *arg = k->arg;
    call_free(k);
    done(arg, rc, rc == 0 ? &r : NULL, rc == 0 ? NULL : err);
    return 1;
}

int llm_client_run(llm_client *c, int wait_ms)
{
    int64_t deadline = now_ms() + (wait_ms > 0 ? wait_ms : 0);
    for (;;) {
        int64_t now = now_ms(), next = deadline;
        llm_call *k, *tmp;
        int completed = 0;
        for (k = TAILQ_FIRST(&c->waiting); k; k = tmp) {
            tmp = TAILQ_NEXT(k, link);
            if (k->not_before > now) {
                if (k->not_before < next)
                    next = k->not_before;
                continue;
            }
            TAILQ_REMOVE(&c->waiting, k, link);
            if (start(c, k) != 0) {
                llm_done_fn done = k->done;
                void *arg = k->arg;
                call_free(k);
                done(arg, -1, NULL, "could not start the HTTP transfer");
                completed++;
            }
        }
        int still = 0;
        curl_multi_perform(c->multi, &still);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            llm_call *done_call = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&done_call);
            completed += finish(c, done_call, m->data.result);
        }
        int pending = c->n_running;
        TAILQ_FOREACH (k, &c->waiting, link)
            pending++;
        now = now_ms();
        if (completed || pending == 0 || now >= deadline)
            return pending;
        int timeout = (int)((next > now ? next : now) - now);
        if (timeout > deadline - now)
            timeout = (int)(deadline - now);
        if (c->n_running)
            curl_multi_poll(c->multi, NULL, 0, timeout > 0 ? timeout : 1, NULL);
        else if (timeout > 0) {
            struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

typedef struct {
    bool finished;
    int rc;
    llm_reply *out;
    char *err;
    size_t errlen;
} sync_call;

static void sync_done(void *arg, int rc, llm_reply *r, const char *err)
{
    sync_call *s = arg;
    s->finished = true;
    s->rc = rc;
    if (rc == 0)
        *s->out = *r;
    else
        snprintf(s->err, s->errlen, "%s", err);
}

int llm_client_call(llm_client *c, const llm_chat *chat, llm_reply *r, char *err, size_t errlen)
{
    sync_call s = {.out = r, .err = err, .errlen = errlen};
    memset(r, 0, sizeof *r);
    if (llm_client_submit(c, chat, sync_done, &s) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (!s.finished)
        llm_client_run(c, 1000);
    return s.rc;
}
