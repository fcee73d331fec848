/* Unit tests for llm.c without a network: the three providers' request bodies, URLs
 * and headers; their answers (recorded shapes from the API references: OpenAI tool
 * calls with string arguments, Anthropic tool_use blocks, Gemini functionCall parts,
 * error objects, a compatible server's object arguments and missing ids); the
 * conversation a tool round leaves; the JSON-answer check; Retry-After. The HTTP
 * exchange (retries, timeouts) is tested against tests/fake_llm.py end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/llm.h"

static llm_config cfg_of(llm_provider p)
{
    llm_config c = {.provider = p, .url = "http://127.0.0.1:9/", .model = "m1", .api_key = "sk-secret"};
    return c;
}

static json_t *tools(void)
{
    return json_pack("[{s:s, s:s, s:{s:s, s:{s:{s:s}}, s:[s], s:b}}]", "name", "vt_ip", "description", "Look up an IP",
                     "parameters", "type", "object", "properties", "target", "type", "string", "required", "target",
                     "additionalProperties", 0);
}

static void test_endpoints_and_headers(void **state)
{
    (void)state;
    llm_config c = cfg_of(LLM_OPENAI);
    char *u = llm_endpoint(&c);
    assert_string_equal(u, "http://127.0.0.1:9/chat/completions");
    free(u);
    c = cfg_of(LLM_ANTHROPIC);
    u = llm_endpoint(&c);
    assert_string_equal(u, "http://127.0.0.1:9/v1/messages");
    free(u);
    c.url = "https://api.anthropic.com/v1";
    u = llm_endpoint(&c);
    assert_string_equal(u, "https://api.anthropic.com/v1/messages");
    free(u);
    c = cfg_of(LLM_GEMINI);
    u = llm_endpoint(&c);
    assert_string_equal(u, "http://127.0.0.1:9/v1beta/models/m1:generateContent");
    free(u);

    char **h = llm_headers(&c);
    assert_string_equal(h[0], "x-goog-api-key: sk-secret");
    assert_null(h[1]);
    llm_headers_free(h);
    c = cfg_of(LLM_ANTHROPIC);
    h = llm_headers(&c);
    assert_string_equal(h[0], "anthropic-version: 2023-06-01");
    assert_string_equal(h[1], "x-api-key: sk-secret");
    llm_headers_free(h);
    c = cfg_of(LLM_OPENAI);
    c.api_key = "";
    h = llm_headers(&c);
    assert_null(h[0]); /* local servers without a key: no header at all */
    llm_headers_free(h);

    llm_provider p;
    assert_int_equal(llm_provider_parse("Gemini", &p), 0);
    assert_int_equal(p, LLM_GEMINI);
    assert_int_equal(llm_provider_parse("azure", &p), -1);
}

static void test_openai_round(void **state)
{
    (void)state;
    llm_config cfg = cfg_of(LLM_OPENAI);
    llm_chat *c = llm_chat_new(LLM_OPENAI, "You are a SOC analyst");
    llm_chat_set_tools(c, tools());
    llm_chat_set_schema(c, "finding", json_pack("{s:s}", "type", "object"));
    assert_int_equal(llm_chat_add_user(c, "Is 45.227.255.100 malicious?"), 0);
    json_t *b = llm_request_body(&cfg, c);
    assert_string_equal(json_string_value(json_object_get(b, "model")), "m1");
    json_t *msgs = json_object_get(b, "messages");
    assert_int_equal(json_array_size(msgs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "system");
    json_t *t0 = json_array_get(json_object_get(b, "tools"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "type")), "function");
    assert_string_equal(json_string_value(json_object_get(json_object_get(t0, "function"), "name")), "vt_ip");
    assert_true(json_is_true(json_object_get(b, "parallel_tool_calls")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "response_format"), "type")),
                        "json_schema");
    json_decref(b);

    const char *ans =
        "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\",\"message\":{\"role\":"
        "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_abc123\",\"type\":\"function\",\"function\":{"
        "\"name\":\"vt_ip\",\"arguments\":\"{\\\"target\\\":\\\"45.227.255.100\\\"}\"}},{\"id\":\"call_2\",\"type\":"
        "\"function\",\"function\":{\"name\":\"vt_ip\",\"arguments\":\"{not json\"}}]}}],\"usage\":{\"prompt_tokens\":"
        "120,\"completion_tokens\":20,\"total_tokens\":140}}";
    llm_reply r;
    char err[256];
    assert_int_equal(llm_reply_parse(LLM_OPENAI, ans, strlen(ans), &r, err, sizeof err), 0);
    assert_int_equal(r.n_calls, 2);
    assert_string_equal(r.calls[0].id, "call_abc123");
    assert_string_equal(r.calls[0].name, "vt_ip");
    assert_string_equal(json_string_value(json_object_get(r.calls[0].args, "target")), "45.227.255.100");
    assert_string_equal(json_string_value(json_object_get(r.calls[1].args, "_invalid_arguments")), "{not json");
    assert_int_equal(r.input_tokens, 120);
    assert_int_equal(r.output_tokens, 20);
    assert_string_equal(r.stop, "tool_calls");
    assert_string_equal(r.text, "");
    assert_int_equal(llm_chat_add_reply(c, &r), 0);
    const char *results[] = {"{\"malicious\":7}", "arguments are not JSON"};
    bool errs[] = {false, true};
    assert_int_equal(llm_chat_add_tool_results(c, &r, results, errs), 0);
    llm_reply_free(&r);
    /* user, assistant verbatim (arguments still a string), two tool messages */
    assert_int_equal(json_array_size(c->messages), 4);
    json_t *asst = json_array_get(c->messages, 1);
    json_t *call = json_array_get(json_object_get(asst, "tool_calls"), 0);
    assert_true(json_is_string(json_object_get(json_object_get(call, "function"), "arguments")));
    json_t *tool = json_array_get(c->messages, 2);
    assert_string_equal(json_string_value(json_object_get(tool, "role")), "tool");
    assert_string_equal(json_string_value(json_object_get(tool, "tool_call_id")), "call_abc123");
    assert_string_equal(json_string_value(json_object_get(tool, "content")), "{\"malicious\":7}");
    llm_chat_free(c);

    /* llama.cpp-like: arguments as an object, no id; a made-up id is echoed too */
    const char *compat =
        "{\"choices\":[{\"finish_reason\":\"tool_calls\",\"message\":{\"role\":\"assistant\","
        "\"tool_calls\":[{\"function\":{\"name\":\"vt_ip\",\"arguments\":{\"target\":\"1.2.3.4\"}}}]}}]}";
    assert_int_equal(llm_reply_parse(LLM_OPENAI, compat, strlen(compat), &r, err, sizeof err), 0);
    assert_string_equal(r.calls[0].id, "call_0");
    assert_string_equal(json_string_value(json_object_get(r.calls[0].args, "target")), "1.2.3.4");
    json_t *echoed = json_array_get(json_object_get(r.assistant, "tool_calls"), 0);
    assert_string_equal(json_string_value(json_object_get(echoed, "id")), "call_0");
    llm_reply_free(&r);

    const char *e429 = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}";
    assert_int_equal(llm_reply_parse(LLM_OPENAI, e429, strlen(e429), &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "Rate limit reached"));
    assert_int_equal(llm_reply_parse(LLM_OPENAI, "[1]", 3, &r, err, sizeof err), -1);
    assert_int_equal(llm_reply_parse(LLM_OPENAI, "{}", 2, &r, err, sizeof err), -1);
}

static void test_anthropic_round(void **state)
{
    (void)state;
    llm_config cfg = cfg_of(LLM_ANTHROPIC);
    cfg.max_tokens = 1000;
    llm_chat *c = llm_chat_new(LLM_ANTHROPIC, "You are a SOC analyst");
    llm_chat_set_tools(c, tools());
    llm_chat_set_schema(c, "finding", json_pack("{s:s, s:[s]}", "type", "object", "required", "summary"));
    llm_chat_add_user(c, "Is 45.227.255.100 malicious?");
    json_t *b = llm_request_body(&cfg, c);
    assert_int_equal(json_integer_value(json_object_get(b, "max_tokens")), 1000);
    assert_non_null(strstr(json_string_value(json_object_get(b, "system")), "JSON Schema"));
    json_t *t0 = json_array_get(json_object_get(b, "tools"), 0);
    assert_non_null(json_object_get(t0, "input_schema"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "tool_choice"), "type")), "auto");
    json_decref(b);

    const char *ans = "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"stop_reason\":\"tool_use\","
                      "\"content\":[{\"type\":\"text\",\"text\":\"Checking VirusTotal.\"},{\"type\":\"tool_use\","
                      "\"id\":\"toolu_01A\",\"name\":\"vt_ip\",\"input\":{\"target\":\"45.227.255.100\"}}],"
                      "\"usage\":{\"input_tokens\":410,\"output_tokens\":60}}";
    llm_reply r;
    char err[256];
    assert_int_equal(llm_reply_parse(LLM_ANTHROPIC, ans, strlen(ans), &r, err, sizeof err), 0);
    assert_string_equal(r.text, "Checking VirusTotal.");
    assert_int_equal(r.n_calls, 1);
    assert_string_equal(r.calls[0].id, "toolu_01A");
    assert_int_equal(r.input_tokens, 410);
    assert_int_equal(r.output_tokens, 60);
    llm_chat_add_reply(c, &r);
    const char *results[] = {"{\"malicious\":7}"};
    llm_chat_add_tool_results(c, &r, results, NULL);
    llm_reply_free(&r);
    json_t *asst = json_array_get(c->messages, 1);
    assert_int_equal(json_array_size(json_object_get(asst, "content")), 2);
    json_t *tr = json_array_get(json_object_get(json_array_get(c->messages, 2), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(tr, "type")), "tool_result");
    assert_string_equal(json_string_value(json_object_get(tr, "tool_use_id")), "toolu_01A");
    assert_true(json_is_false(json_object_get(tr, "is_error")));
    llm_chat_free(c);

    const char *over = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
    assert_int_equal(llm_reply_parse(LLM_ANTHROPIC, over, strlen(over), &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "Overloaded"));
}

static void test_gemini_round(void **state)
{
    (void)state;
    llm_config cfg = cfg_of(LLM_GEMINI);
    llm_chat *c = llm_chat_new(LLM_GEMINI, "You are a SOC analyst");
    llm_chat_set_tools(c, tools());
    llm_chat_add_user(c, "Is 45.227.255.100 malicious?");
    json_t *b = llm_request_body(&cfg, c);
    assert_non_null(json_object_get(json_object_get(b, "systemInstruction"), "parts"));
    json_t *decl =
        json_array_get(json_object_get(json_array_get(json_object_get(b, "tools"), 0), "functionDeclarations"), 0);
    assert_string_equal(json_string_value(json_object_get(decl, "name")), "vt_ip");
    assert_null(json_object_get(json_object_get(decl, "parameters"), "additionalProperties"));
    json_t *first = json_array_get(json_object_get(b, "contents"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "role")), "user");
    json_decref(b);

    const char *ans = "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":"
                      "\"vt_ip\",\"args\":{\"target\":\"45.227.255.100\"}},\"thoughtSignature\":\"abc\"}]},"
                      "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":50,"
                      "\"candidatesTokenCount\":7}}";
    llm_reply r;
    char err[256];
    assert_int_equal(llm_reply_parse(LLM_GEMINI, ans, strlen(ans), &r, err, sizeof err), 0);
    assert_int_equal(r.n_calls, 1);
    assert_string_equal(r.calls[0].name, "vt_ip");
    assert_int_equal(r.input_tokens, 50);
    assert_int_equal(r.output_tokens, 7);
    llm_chat_add_reply(c, &r);
    const char *results[] = {"not an object"};
    llm_chat_add_tool_results(c, &r, results, NULL);
    llm_reply_free(&r);
    /* the model turn verbatim (with its signature), then the function response wrapped */
    json_t *model = json_array_get(c->messages, 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(model, "parts"), 0), "thoughtSignature")),
        "abc");
    json_t *fr = json_object_get(json_array_get(json_object_get(json_array_get(c->messages, 2), "parts"), 0),
                                 "functionResponse");
    assert_string_equal(json_string_value(json_object_get(fr, "name")), "vt_ip");
    assert_string_equal(json_string_value(json_object_get(json_object_get(fr, "response"), "result")), "not an object");

    /* without tools, the schema goes to generationConfig */
    llm_chat_set_tools(c, NULL);
    llm_chat_set_schema(c, "finding", json_pack("{s:s, s:b}", "type", "object", "additionalProperties", 0));
    b = llm_request_body(&cfg, c);
    json_t *gen = json_object_get(b, "generationConfig");
    assert_string_equal(json_string_value(json_object_get(gen, "responseMimeType")), "application/json");
    assert_null(json_object_get(json_object_get(gen, "responseSchema"), "additionalProperties"));
    json_decref(b);
    llm_chat_free(c);

    const char *blocked = "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"}}";
    assert_int_equal(llm_reply_parse(LLM_GEMINI, blocked, strlen(blocked), &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "SAFETY"));
}

static void test_json_check(void **state)
{
    (void)state;
    json_t *schema = json_pack("{s:s, s:[s,s], s:b, s:{s:{s:s, s:[s,s,s,s,s]}, s:{s:s}, s:{s:s, s:{s:s}}}}", "type",
                               "object", "required", "severity", "summary", "additionalProperties", 0, "properties",
                               "severity", "type", "string", "enum", "info", "low", "medium", "high", "critical",
                               "summary", "type", "string", "tags", "type", "array", "items", "type", "string");
    char err[256];
    json_t *v = llm_json_check("```json\n{\"severity\":\"high\",\"summary\":\"x\",\"tags\":[\"a\"]}\n```", schema, err,
                               sizeof err);
    assert_non_null(v);
    json_decref(v);
    assert_null(llm_json_check("{\"severity\":\"high\"", schema, err, sizeof err));
    assert_non_null(strstr(err, "not valid JSON"));
    assert_null(llm_json_check("{\"severity\":\"urgent\",\"summary\":\"x\"}", schema, err, sizeof err));
    assert_non_null(strstr(err, "$.severity"));
    assert_null(llm_json_check("{\"severity\":\"low\"}", schema, err, sizeof err));
    assert_non_null(strstr(err, "summary"));
    assert_null(llm_json_check("{\"severity\":\"low\",\"summary\":\"x\",\"extra\":1}", schema, err, sizeof err));
    assert_null(llm_json_check("{\"severity\":\"low\",\"summary\":\"x\",\"tags\":[1]}", schema, err, sizeof err));
    assert_non_null(strstr(err, "$.tags[0]"));
    assert_null(llm_json_check("   ", schema, err, sizeof err));
    json_decref(schema);
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(llm_retry_after_ms("2", 0), 2000);
    assert_int_equal(llm_retry_after_ms(" 0.5 ", 0), 500);
    assert_int_equal(llm_retry_after_ms("", 0), -1);
    assert_int_equal(llm_retry_after_ms(NULL, 0), -1);
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 */
    assert_int_equal(llm_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470), 10000);
    assert_int_equal(llm_retry_after_ms("soon", 0), -1);
}

static void test_client_settings(void **state)
{
    (void)state;
    char err[256];
    llm_config c = cfg_of(LLM_NONE);
    assert_null(llm_client_new(&c, err, sizeof err));
    assert_non_null(strstr(err, "no model configured"));
    c = cfg_of(LLM_OPENAI);
    c.model = "";
    assert_null(llm_client_new(&c, err, sizeof err));
    assert_null(strstr(err, "sk-secret"));
    c = cfg_of(LLM_OPENAI);
    llm_client *cl = llm_client_new(&c, err, sizeof err);
    assert_non_null(cl);
    /* nothing listens on port 9: the call fails after its retries, with the URL, not the key */
    c.max_retries = 1;
    c.max_backoff_ms = 10;
    llm_client_free(cl);
    cl = llm_client_new(&c, err, sizeof err);
    llm_chat *chat = llm_chat_new(LLM_OPENAI, "");
    llm_chat_add_user(chat, "hi");
    llm_reply r;
    assert_int_equal(llm_client_call(cl, chat, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "after 2 attempts"));
    assert_null(strstr(err, "sk-secret"));
    llm_chat_free(chat);
    llm_client_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints_and_headers),
        cmocka_unit_test(test_openai_round),
        cmocka_unit_test(test_anthropic_round),
        cmocka_unit_test(test_gemini_round),
        cmocka_unit_test(test_json_check),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_client_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
