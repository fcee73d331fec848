/* The chain's actions (actions.h): argument checks, request bodies, one libcurl
 * exchange each (http_call), answers turned into results.
 *
 * What must stay true: no secret in an error (webhook URLs, keys, tokens, private
 * keys); a 429/5xx/transport failure is ACTIONS_RETRYABLE, a 4xx ACTIONS_FAILED; a
 * result is the service's documented answer, unchanged, so a policy's commit path
 * (e.g. "choices[0].message.content") reads what AlertChain's would. */
#include "services/agent/actions.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ids.h"
#include "common/ticket.h"
#include "services/enrich/intel_indicator.h"
#include "services/enrich/intel_provider.h"
#include "services/enrich/intel_quota.h"

#include <libpsl.h>

#define MAX_ANSWER (8 * 1024 * 1024)
#define SLACK_DEFAULT_TEXT "Notification from AlertChain"
#define SLACK_DEFAULT_COLOR "#2EB67D"
#define CHATGPT_DEFAULT_MODEL "gpt-4o"
#define CHATGPT_DEFAULT_PROMPT                                                                                         \
    "Please analyze and summarize the given JSON-formatted security alert data, and suggest appropriate actions for "  \
    "the security administrator to respond to the alert:"

const char *const actions_names[] = {
    "slack.post",
    "github.create_issue",
    "github.create_comment",
    "jira.create_issue",
    "jira.add_comment",
    "jira.add_attachment",
    "opsgenie.create_alert",
    "chatgpt.query",
    "llm.query",
    "http.fetch",
    "otx.indicator",
    "bigquery.insert_alert",
    "bigquery.insert_data",
    "pagerduty.trigger",
    "pagerduty.resolve",
    "hutch.ticket",
    NULL,
};

bool actions_known_in(void *ctx, const char *uses) { return actions_known(uses); }

bool actions_known(const char *uses)
{
    for (size_t i = 0; uses && actions_names[i]; i++)
        if (strcmp(actions_names[i], uses) == 0)
            return true;
    return false;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

void actions_config_from_env(actions_config *c)
{
    memset(c, 0, sizeof *c);
    c->github_url = env_or("HUTCH_ACTION_GITHUB_URL", "https://api.github.com");
    c->opsgenie_url = env_or("HUTCH_ACTION_OPSGENIE_URL", "https://api.opsgenie.com");
    c->openai_url = env_or("HUTCH_ACTION_CHATGPT_URL", "https://api.openai.com");
    c->otx_url = env_or("HUTCH_ACTION_OTX_URL", "https://otx.alienvault.com");
    c->bigquery_url = env_or("HUTCH_ACTION_BIGQUERY_URL", "https://bigquery.googleapis.com");
    c->google_token_url = env_or("HUTCH_ACTION_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token");
    c->pagerduty_url = env_or("HUTCH_ACTION_PAGERDUTY_URL", "https://events.pagerduty.com");
    c->timeout_ms = strtol(env_or("HUTCH_ACTION_TIMEOUT_MS", "10000"), NULL, 10);
    if (c->timeout_ms <= 0)
        c->timeout_ms = 10000;
}

/* ---- one HTTP exchange ---- */

typedef struct {
    char *buf;
    size_t len;
    bool too_big;
    char content_type[128];
} answer;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    answer *a = ud;
    size_t add = sz * n;
    if (a->len + add > MAX_ANSWER) {
        a->too_big = true;
        return 0;
    }
    char *nb = realloc(a->buf, a->len + add + 1);
    if (nb == NULL)
        return 0;
    a->buf = nb;
    memcpy(a->buf + a->len, p, add);
    a->len += add;
    a->buf[a->len] = '\0';
    return add;
}

typedef struct {
    const char *method; /* "POST", "GET", ... */
    const char *url;
    const char *body; /* NULL = none */
    size_t body_len;
    struct curl_slist *headers; /* BORROWED */
    curl_mime *mime;            /* BORROWED: a multipart body instead of body */
    const char *userpwd;        /* basic auth "user:token" or NULL */
} request;

/* Sends r; 0 with *status and the answer, or ACTIONS_RETRYABLE with err. */
static int http_call(const actions_config *c, CURL *h, const request *r, long *status, answer *ans, char *err,
                     size_t errlen)
{
    memset(ans, 0, sizeof *ans);
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "hutch-agent");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, ans);
    if (r->headers)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
    if (r->mime)
        curl_easy_setopt(h, CURLOPT_MIMEPOST, r->mime);
    else if (r->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
    }
    if (r->userpwd) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, r->userpwd);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        free(ans->buf);
        ans->buf = NULL;
        snprintf(err, errlen, "%s", ans->too_big ? "answer too large" : curl_easy_strerror(rc));
        return ACTIONS_RETRYABLE;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    char *ct = NULL;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        snprintf(ans->content_type, sizeof ans->content_type, "%s", ct);
    return 0;
}

/* The class of an HTTP status, with the start of the answer in err. */
static int status_class(long status, const answer *ans, const char *what, char *err, size_t errlen)
{
    if (status >= 200 && status < 300)
        return ACTIONS_OK;
    snprintf(err, errlen, "%s: HTTP %ld: %.200s", what, status, ans->buf ? ans->buf : "");
    return status == 429 || status >= 500 ? ACTIONS_RETRYABLE : ACTIONS_FAILED;
}

/* One JSON exchange: body (BORROWED json, NULL = none) -> the answer parsed (NEW, or
 * NULL for an empty answer). extra: header lines, NULL-terminated. */
static int json_call(const actions_config *c, const char *method, const char *url, const json_t *body,
                     const char *const *extra, const char *userpwd, const char *what, json_t **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    CURL *h = curl_easy_init();
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct curl_slist *hd = curl_slist_append(NULL, "Accept: application/json");
    if (body)
        hd = curl_slist_append(hd, "Content-Type: application/json");
    for (size_t i = 0; extra && extra[i]; i++)
        hd = curl_slist_append(hd, extra[i]);
    int rc = ACTIONS_RETRYABLE;
    if (h == NULL || hd == NULL || (body && text == NULL)) {
        snprintf(err, errlen, "%s: out of memory", what);
    } else {
        request r = {.method = method,
                     .url = url,
                     .body = text,
                     .body_len = text ? strlen(text) : 0,
                     .headers = hd,
                     .userpwd = userpwd};
        long status = 0;
        answer ans;
        rc = http_call(c, h, &r, &status, &ans, err, errlen);
        if (rc == 0)
            rc = status_class(status, &ans, what, err, errlen);
        if (rc == 0 && ans.len > 0) {
            json_error_t je;
            *out = json_loadb(ans.buf, ans.len, JSON_DECODE_ANY, &je);
            if (*out == NULL) {
                snprintf(err, errlen, "%s: the answer is not JSON (%s)", what, je.text);
                rc = ACTIONS_FAILED;
            }
        }
        free(ans.buf);
    }
    curl_slist_free_all(hd);
    free(text);
    curl_easy_cleanup(h);
    return rc;
}

/* ---- arguments ---- */

static const char *arg_str(const chain_action *a, const char *k)
{
    return json_string_value(json_object_get(a->args, k));
}

/* Required string arguments: NULL if all there, else the first missing name. */
static const char *missing(const chain_action *a, ...)
{
    va_list ap;
    va_start(ap, a);
    const char *k, *miss = NULL;
    while ((k = va_arg(ap, const char *)) != NULL && miss == NULL) {
        const json_t *v = json_object_get(a->args, k);
        if (v == NULL || (json_is_string(v) && *json_string_value(v) == '\0'))
            miss = k;
    }
    va_end(ap);
    return miss;
}

#define REQUIRE(a, err, errlen, ...)                                                                                   \
    do {                                                                                                               \
        const char *miss_ = missing((a), __VA_ARGS__, NULL);                                                           \
        if (miss_) {                                                                                                   \
            snprintf((err), (errlen), "%s: argument %s is required", (a)->uses, miss_);                                \
            return ACTIONS_FAILED;                                                                                     \
        }                                                                                                              \
    } while (0)

/* An argument given as a number or a numeric string (app_id, install_id). */
static bool arg_int(const chain_action *a, const char *k, long long *out)
{
    const json_t *v = json_object_get(a->args, k);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_string(v)) {
        char *end = NULL;
        *out = strtoll(json_string_value(v), &end, 10);
        return end && *end == '\0' && end != json_string_value(v);
    }
    return false;
}

static const char *alert_str(const json_t *alert, const char *k)
{
    const char *s = json_string_value(json_object_get(alert, k));
    return s ? s : "";
}

/* An attribute value as text (strings as they are, the rest as JSON). NEW. */
static char *value_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ---- slack.post ---- */

static int slack_post(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                      size_t errlen)
{
    /* secret_webhook_url: the older name (seed 001's policy); the webhook's own channel when none */
    const char *hook = arg_str(a, "secret_url") ? arg_str(a, "secret_url") : arg_str(a, "secret_webhook_url");
    if (hook == NULL || *hook == '\0') {
        snprintf(err, errlen, "slack.post: argument secret_url is required");
        return ACTIONS_FAILED;
    }
    char *body = NULL;
    if (arg_str(a, "body"))
        body = strdup(arg_str(a, "body"));
    else if (asprintf(&body, "*%s*\n%s", alert_str(alert, "title"), alert_str(alert, "description")) < 0)
        body = NULL;
    json_t *fields = json_array();
    const char *names[] = {"schema", "source", "created_at"};
    const char *labels[] = {"Schema", "Source", "Created at"};
    for (size_t i = 0; i < 3; i++) {
        char *t = NULL;
        if (asprintf(&t, "*%s:*\n%s", labels[i], alert_str(alert, names[i])) >= 0)
            json_array_append_new(fields, json_pack("{s:s, s:s}", "type", "mrkdwn", "text", t));
        free(t);
    }
    const json_t *attrs = json_object_get(alert, "attrs");
    for (size_t i = 0; i < json_array_size(attrs) && json_array_size(fields) < 10; i++) {
        const json_t *at = json_array_get(attrs, i);
        char *v = value_text(json_object_get(at, "value")), *t = NULL;
        if (v && asprintf(&t, "*%s:*\n%s", json_string_value(json_object_get(at, "key")) ?: "", v) >= 0)
            json_array_append_new(fields, json_pack("{s:s, s:s}", "type", "mrkdwn", "text", t));
        free(t);
        free(v);
    }
    char *raw = NULL;
    if (asprintf(&raw, "```%s```", alert_str(alert, "raw")) < 0)
        raw = NULL;
    const char *color = arg_str(a, "color") ? arg_str(a, "color") : SLACK_DEFAULT_COLOR;
    json_t *msg =
        body && raw
            ? json_pack("{s:s, s:[{s:s, s:[{s:s}, {s:s, s:{s:s, s:s}}, {s:s, s:o}, {s:s, s:{s:s, s:s}}]}]}", "text",
                        arg_str(a, "text") ? arg_str(a, "text") : SLACK_DEFAULT_TEXT, "attachments", "color", color,
                        "blocks", "type", "divider", "type", "section", "text", "type", "mrkdwn", "text", body, "type",
                        "section", "fields", fields, "type", "section", "text", "type", "mrkdwn", "text", raw)
            : NULL;
    fields = msg ? NULL : fields;
    if (msg && arg_str(a, "channel"))
        json_object_set_new(msg, "channel", json_string(arg_str(a, "channel")));
    json_decref(fields);
    free(body);
    free(raw);
    if (msg == NULL) {
        snprintf(err, errlen, "slack.post: out of memory");
        return ACTIONS_RETRYABLE;
    }
    /* Slack's webhook answers "ok" as text/plain, not JSON: read it raw. */
    CURL *h = curl_easy_init();
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    int rc = ACTIONS_RETRYABLE;
    if (h && text && hd) {
        request r = {.method = "POST", .url = hook, .body = text, .body_len = strlen(text), .headers = hd};
        long status = 0;
        answer ans;
        rc = http_call(c, h, &r, &status, &ans, err, errlen);
        if (rc == 0)
            rc = status_class(status, &ans, "slack.post", err, errlen);
        free(ans.buf);
    } else
        snprintf(err, errlen, "slack.post: out of memory");
    curl_slist_free_all(hd);
    free(text);
    curl_easy_cleanup(h);
    *result = NULL;
    return rc;
}

/* ---- chatgpt.query ---- */

/* AlertChain's contract, kept as a raw OpenAI call rather than going through
 * common/llm.h: its policies commit paths into OpenAI's own answer (e.g.
 * "choices[0].message.content") and bring their key in `secret_api_key`, so the
 * result must be that answer, unchanged, from api.openai.com (or
 * HUTCH_ACTION_CHATGPT_URL) whatever model the agent itself is configured with.
 * llm.query is the provider-neutral action. */
static int chatgpt_query(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result,
                         char *err, size_t errlen)
{
    REQUIRE(a, err, errlen, "secret_api_key");
    const char *key = arg_str(a, "secret_api_key");
    const char *prompt = arg_str(a, "prompt") ? arg_str(a, "prompt") : CHATGPT_DEFAULT_PROMPT;
    const char *model = arg_str(a, "model") ? arg_str(a, "model") : CHATGPT_DEFAULT_MODEL;
    char *alert_json = json_dumps(alert, JSON_INDENT(2) | JSON_SORT_KEYS);
    char *content = NULL, *url = NULL, *auth = NULL;
    if (alert_json == NULL || asprintf(&content, "%s\n\n%s", prompt, alert_json) < 0)
        content = NULL;
    free(alert_json);
    if (asprintf(&url, "%s/v1/chat/completions", c->openai_url) < 0)
        url = NULL;
    if (*key && asprintf(&auth, "Authorization: Bearer %s", key) < 0)
        auth = NULL;
    json_t *body =
        content ? json_pack("{s:s, s:[{s:s, s:s}]}", "model", model, "messages", "role", "user", "content", content)
                : NULL;
    free(content);
    const char *extra[] = {auth, NULL};
    int rc = ACTIONS_RETRYABLE;
    if (body && url)
        rc = json_call(c, "POST", url, body, extra, NULL, a->uses, result, err, errlen);
    else
        snprintf(err, errlen, "%s: out of memory", a->uses);
    json_decref(body);
    free(url);
    free(auth);
    return rc;
}

/* ---- llm.query ---- */

/* One question to the agent's model through common/llm.h (any provider): the prompt
 * and the alert JSON as the user turn, `model` overriding HUTCH_LLM_MODEL. Result:
 * {text, provider, model, usage: {input_tokens, output_tokens}}. The client already
 * retried 429/5xx after Retry-After; a call that still failed is ACTIONS_RETRYABLE
 * (llm_client_call does not tell a 4xx apart; a query has no effect to repeat). */
static int llm_query(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                     size_t errlen)
{
    if (c->llm.provider == LLM_NONE) {
        snprintf(err, errlen, "llm.query: no model configured (HUTCH_LLM_PROVIDER=none)");
        return ACTIONS_FAILED;
    }
    llm_config cfg = c->llm;
    const char *model = arg_str(a, "model");
    if (model && *model)
        cfg.model = model;
    const char *prompt = arg_str(a, "prompt") ? arg_str(a, "prompt") : CHATGPT_DEFAULT_PROMPT;
    char *alert_json = json_dumps(alert, JSON_INDENT(2) | JSON_SORT_KEYS);
    char *content = NULL, cerr[512] = "";
    if (alert_json == NULL || asprintf(&content, "%s\n\n%s", prompt, alert_json) < 0)
        content = NULL;
    free(alert_json);
    llm_client *client = content ? llm_client_new(&cfg, cerr, sizeof cerr) : NULL;
    llm_chat *chat = client ? llm_chat_new(cfg.provider, NULL) : NULL;
    int rc = ACTIONS_RETRYABLE;
    if (content == NULL || (client && chat == NULL) || (chat && llm_chat_add_user(chat, content) != 0)) {
        snprintf(err, errlen, "llm.query: out of memory");
    } else if (client == NULL) {
        snprintf(err, errlen, "llm.query: %s", cerr);
        rc = ACTIONS_FAILED;
    } else {
        llm_reply r;
        if (llm_client_call(client, chat, &r, cerr, sizeof cerr) != 0) {
            snprintf(err, errlen, "llm.query: %s", cerr);
        } else {
            *result = json_pack("{s:s, s:s, s:s, s:{s:I, s:I}}", "text", r.text ? r.text : "", "provider",
                                llm_provider_name(cfg.provider), "model", cfg.model, "usage", "input_tokens",
                                (json_int_t)r.input_tokens, "output_tokens", (json_int_t)r.output_tokens);
            if (*result)
                rc = ACTIONS_OK;
            else
                snprintf(err, errlen, "llm.query: out of memory");
            llm_reply_free(&r);
        }
    }
    llm_chat_free(chat);
    llm_client_free(client);
    free(content);
    return rc;
}

/* ---- http.fetch ---- */

static int http_fetch(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                      size_t errlen)
{
    REQUIRE(a, err, errlen, "method", "url");
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    const char *k;
    json_t *v;
    json_object_foreach (json_object_get(a->args, "header"), k, v) {
        char *line = NULL;
        if (json_is_string(v) && asprintf(&line, "%s: %s", k, json_string_value(v)) >= 0) {
            hd = curl_slist_append(hd, line);
            free(line);
        }
    }
    const char *data = arg_str(a, "data");
    request r = {.method = arg_str(a, "method"),
                 .url = arg_str(a, "url"),
                 .body = data,
                 .body_len = data ? strlen(data) : 0,
                 .headers = hd};
    long status = 0;
    answer ans;
    int rc = h ? http_call(c, h, &r, &status, &ans, err, errlen) : ACTIONS_RETRYABLE;
    if (rc == 0)
        rc = status_class(status, &ans, "http.fetch", err, errlen);
    if (rc == 0) {
        const char *ct = ans.content_type;
        if (strncmp(ct, "application/json", 16) == 0) {
            *result = json_loadb(ans.buf ? ans.buf : "null", ans.buf ? ans.len : 4, JSON_DECODE_ANY, NULL);
            if (*result == NULL) {
                snprintf(err, errlen, "http.fetch: the answer says JSON but is not");
                rc = ACTIONS_FAILED;
            }
        } else if (strncmp(ct, "application/octet-stream", 24) == 0) {
            size_t cap = 4 * ((ans.len + 2) / 3) + 1;
            unsigned char *b64 = malloc(cap);
            if (b64) {
                EVP_EncodeBlock(b64, (const unsigned char *)(ans.buf ? ans.buf : ""), (int)ans.len);
                *result = json_string((char *)b64);
            }
            free(b64);
        } else
            *result = json_stringn(ans.buf ? ans.buf : "", ans.len);
        if (rc == 0 && *result == NULL) {
            snprintf(err, errlen, "http.fetch: the answer is not UTF-8 text");
            rc = ACTIONS_FAILED;
        }
    }
    free(ans.buf);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return rc;
}

/* ---- JWT (GitHub App, Google service account) ---- */

static char *b64url(const unsigned char *in, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

char *actions_jwt_rs256(const json_t *claims, const char *pem, char *err, size_t errlen)
{
    char *result = NULL, *hdr = NULL, *pay = NULL, *input = NULL, *sig64 = NULL;
    unsigned char *sig = NULL;
    EVP_MD_CTX *md = NULL;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    if (key == NULL) {
        snprintf(err, errlen, "the private key is not a PEM private key");
        goto out;
    }
    static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    char *claims_text = json_dumps(claims, JSON_COMPACT);
    hdr = b64url((const unsigned char *)header, strlen(header));
    pay = claims_text ? b64url((const unsigned char *)claims_text, strlen(claims_text)) : NULL;
    free(claims_text);
    if (!hdr || !pay || asprintf(&input, "%s.%s", hdr, pay) < 0) {
        input = NULL;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    size_t siglen = 0;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1 ||
        (sig = malloc(siglen)) == NULL ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1) {
        snprintf(err, errlen, "signing the token failed (an RSA key is needed)");
        goto out;
    }
    sig64 = b64url(sig, siglen);
    if (sig64 && asprintf(&result, "%s.%s", input, sig64) < 0)
        result = NULL;
out:
    free(hdr);
    free(pay);
    free(input);
    free(sig);
    free(sig64);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return result;
}

static int64_t now_s(const actions_config *c) { return c->now_s ? c->now_s : (int64_t)time(NULL); }

/* ---- GitHub ---- */

/* The installation token of a GitHub App (NEW string) or NULL with err / *rc. */
static char *github_token(const actions_config *c, const chain_action *a, int *rc, char *err, size_t errlen)
{
    long long app_id = 0, install_id = 0;
    *rc = ACTIONS_FAILED;
    if (!arg_int(a, "app_id", &app_id) || !arg_int(a, "install_id", &install_id)) {
        snprintf(err, errlen, "%s: app_id and install_id must be numbers", a->uses);
        return NULL;
    }
    int64_t now = now_s(c);
    /* GitHub: iat 60 s in the past against clock drift, exp at most 10 minutes ahead */
    json_t *claims =
        json_pack("{s:I, s:I, s:s}", "iat", (json_int_t)(now - 60), "exp", (json_int_t)(now + 540), "iss", "");
    char iss[32];
    snprintf(iss, sizeof iss, "%lld", app_id);
    json_object_set_new(claims, "iss", json_string(iss));
    char jerr[200];
    char *jwt = actions_jwt_rs256(claims, arg_str(a, "secret_private_key"), jerr, sizeof jerr);
    json_decref(claims);
    if (jwt == NULL) {
        snprintf(err, errlen, "%s: %s", a->uses, jerr);
        return NULL;
    }
    char *url = NULL, *auth = NULL;
    json_t *ans = NULL;
    if (asprintf(&url, "%s/app/installations/%lld/access_tokens", c->github_url, install_id) >= 0 &&
        asprintf(&auth, "Authorization: Bearer %s", jwt) >= 0) {
        const char *extra[] = {auth, "Accept: application/vnd.github+json", "X-GitHub-Api-Version: 2022-11-28", NULL};
        *rc = json_call(c, "POST", url, NULL, extra, NULL, "github installation token", &ans, err, errlen);
    }
    free(url);
    free(auth);
    free(jwt);
    const char *tok = json_string_value(json_object_get(ans, "token"));
    char *out = *rc == 0 && tok ? strdup(tok) : NULL;
    if (*rc == 0 && out == NULL) {
        snprintf(err, errlen, "github installation token: the answer has no token");
        *rc = ACTIONS_FAILED;
    }
    json_decref(ans);
    return out;
}

static int github_post(const actions_config *c, const chain_action *a, const char *token, const char *path,
                       const json_t *body, json_t **result, char *err, size_t errlen)
{
    char *url = NULL, *auth = NULL;
    int rc = ACTIONS_RETRYABLE;
    if (asprintf(&url, "%s/repos/%s/%s%s", c->github_url, arg_str(a, "owner"), arg_str(a, "repo"), path) >= 0 &&
        asprintf(&auth, "Authorization: Bearer %s", token) >= 0) {
        const char *extra[] = {auth, "Accept: application/vnd.github+json", "X-GitHub-Api-Version: 2022-11-28", NULL};
        rc = json_call(c, "POST", url, body, extra, NULL, a->uses, result, err, errlen);
    }
    free(url);
    free(auth);
    return rc;
}

/* The issue body: the alert as people read it (AlertChain fills a Markdown template). NEW. */
static char *issue_body(const json_t *alert)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return NULL;
    fprintf(f, "## %s\n\n%s\n\n| | |\n|---|---|\n| ID | %s |\n| Schema | %s |\n| Source | %s |\n| Created at | %s |\n",
            alert_str(alert, "title"), alert_str(alert, "description"), alert_str(alert, "id"),
            alert_str(alert, "schema"), alert_str(alert, "source"), alert_str(alert, "created_at"));
    const json_t *attrs = json_object_get(alert, "attrs");
    if (json_array_size(attrs))
        fputs("\n### Attributes\n\n| Key | Value |\n|---|---|\n", f);
    for (size_t i = 0; i < json_array_size(attrs); i++) {
        const json_t *at = json_array_get(attrs, i);
        char *v = value_text(json_object_get(at, "value"));
        fprintf(f, "| %s | %s |\n", alert_str(at, "key"), v ? v : "");
        free(v);
    }
    fprintf(f, "\n### Data\n\n```json\n%s\n```\n", alert_str(alert, "raw"));
    fclose(f);
    return buf;
}

static int github_issue(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                        size_t errlen)
{
    REQUIRE(a, err, errlen, "app_id", "install_id", "owner", "repo", "secret_private_key");
    bool comment = strcmp(a->uses, "github.create_comment") == 0;
    long long number = 0;
    if (comment) {
        REQUIRE(a, err, errlen, "issue_number", "body");
        if (!arg_int(a, "issue_number", &number)) {
            snprintf(err, errlen, "%s: issue_number must be a number", a->uses);
            return ACTIONS_FAILED;
        }
    }
    int rc;
    char *token = github_token(c, a, &rc, err, errlen);
    if (token == NULL)
        return rc;
    json_t *body;
    char path[64];
    if (comment) {
        body = json_pack("{s:s}", "body", arg_str(a, "body"));
        snprintf(path, sizeof path, "/issues/%lld/comments", number);
    } else {
        char *text = issue_body(alert);
        body = json_pack("{s:s, s:s}", "title", alert_str(alert, "title"), "body", text ? text : "");
        free(text);
        if (arg_str(a, "assignee"))
            json_object_set_new(body, "assignees", json_pack("[s]", arg_str(a, "assignee")));
        if (json_is_array(json_object_get(a->args, "labels")))
            json_object_set(body, "labels", json_object_get(a->args, "labels"));
        snprintf(path, sizeof path, "/issues");
    }
    rc = github_post(c, a, token, path, body, result, err, errlen);
    json_decref(body);
    free(token);
    return rc;
}

/* ---- Jira Cloud ---- */

/* Atlassian Document Format for plain text. NEW. */
static json_t *adf(const char *text)
{
    return json_pack("{s:s, s:i, s:[{s:s, s:[{s:s, s:s}]}]}", "type", "doc", "version", 1, "content", "type",
                     "paragraph", "content", "type", "text", "text", *text ? text : " ");
}

static int jira(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                size_t errlen)
{
    REQUIRE(a, err, errlen, "account_id", "user", "secret_token", "base_url");
    char *userpwd = NULL, *url = NULL;
    if (asprintf(&userpwd, "%s:%s", arg_str(a, "user"), arg_str(a, "secret_token")) < 0)
        return ACTIONS_RETRYABLE;
    const char *base = arg_str(a, "base_url");
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    int rc = ACTIONS_FAILED;
    if (strcmp(a->uses, "jira.create_issue") == 0) {
        const char *miss = missing(a, "project", "issue_type", NULL);
        if (miss) {
            snprintf(err, errlen, "%s: argument %s is required", a->uses, miss);
            goto out;
        }
        char *text = issue_body(alert);
        json_t *fields =
            json_pack("{s:{s:s}, s:s, s:o, s:{s:s}, s:{s:s}}", "project", "key", arg_str(a, "project"), "summary",
                      alert_str(alert, "title"), "description", adf(text ? text : ""), "issuetype", "name",
                      arg_str(a, "issue_type"), "reporter", "accountId", arg_str(a, "account_id"));
        free(text);
        if (json_is_array(json_object_get(a->args, "labels")))
            json_object_set(fields, "labels", json_object_get(a->args, "labels"));
        if (arg_str(a, "assignee"))
            json_object_set_new(fields, "assignee", json_pack("{s:s}", "accountId", arg_str(a, "assignee")));
        json_t *body = json_pack("{s:o}", "fields", fields);
        if (asprintf(&url, "%.*s/rest/api/3/issue", (int)bl, base) >= 0)
            rc = json_call(c, "POST", url, body, NULL, userpwd, a->uses, result, err, errlen);
        json_decref(body);
    } else if (strcmp(a->uses, "jira.add_comment") == 0) {
        const char *miss = missing(a, "issue_id", "body", NULL);
        if (miss) {
            snprintf(err, errlen, "%s: argument %s is required", a->uses, miss);
            goto out;
        }
        json_t *body = json_pack("{s:o}", "body", adf(arg_str(a, "body")));
        if (asprintf(&url, "%.*s/rest/api/3/issue/%s/comment", (int)bl, base, arg_str(a, "issue_id")) >= 0)
            rc = json_call(c, "POST", url, body, NULL, userpwd, a->uses, result, err, errlen);
        json_decref(body);
    } else {
        const char *miss = missing(a, "issue_id", "file_name", "data", NULL);
        if (miss) {
            snprintf(err, errlen, "%s: argument %s is required", a->uses, miss);
            goto out;
        }
        if (asprintf(&url, "%.*s/rest/api/3/issue/%s/attachments", (int)bl, base, arg_str(a, "issue_id")) < 0)
            goto out;
        CURL *h = curl_easy_init();
        curl_mime *mime = h ? curl_mime_init(h) : NULL;
        curl_mimepart *part = mime ? curl_mime_addpart(mime) : NULL;
        struct curl_slist *hd = curl_slist_append(NULL, "X-Atlassian-Token: no-check");
        hd = curl_slist_append(hd, "Accept: application/json");
        rc = ACTIONS_RETRYABLE;
        if (part && hd) {
            curl_mime_name(part, "file");
            curl_mime_filename(part, arg_str(a, "file_name"));
            curl_mime_data(part, arg_str(a, "data"), CURL_ZERO_TERMINATED);
            request r = {.method = "POST", .url = url, .headers = hd, .mime = mime, .userpwd = userpwd};
            long status = 0;
            answer ans;
            rc = http_call(c, h, &r, &status, &ans, err, errlen);
            if (rc == 0)
                rc = status_class(status, &ans, a->uses, err, errlen);
            if (rc == 0 && ans.len) {
                *result = json_loadb(ans.buf, ans.len, JSON_DECODE_ANY, NULL);
                if (*result == NULL) {
                    snprintf(err, errlen, "%s: the answer is not JSON", a->uses);
                    rc = ACTIONS_FAILED;
                }
            }
            free(ans.buf);
        }
        curl_slist_free_all(hd);
        curl_mime_free(mime);
        curl_easy_cleanup(h);
    }
out:
    free(userpwd);
    free(url);
    return rc;
}

/* ---- Opsgenie ---- */

static int opsgenie(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                    size_t errlen)
{
    REQUIRE(a, err, errlen, "secret_api_key");
    char message[131];
    snprintf(message, sizeof message, "%s", alert_str(alert, "title")); /* Opsgenie: at most 130 characters */
    json_t *details = json_object();
    const json_t *attrs = json_object_get(alert, "attrs");
    for (size_t i = 0; i < json_array_size(attrs); i++) {
        const json_t *at = json_array_get(attrs, i);
        char *v = value_text(json_object_get(at, "value"));
        if (v)
            json_object_set_new(details, alert_str(at, "key"), json_string(v));
        free(v);
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:o}", "message", message, "alias", alert_str(alert, "id"),
                             "description", alert_str(alert, "description"), "source", "hutch", "details", details);
    /* AlertChain's README says responders, its code reads responder_teams: take both */
    const json_t *resp = json_object_get(a->args, "responder_teams");
    if (!json_is_array(resp))
        resp = json_object_get(a->args, "responders");
    if (json_is_array(resp)) {
        json_t *list = json_array();
        for (size_t i = 0; i < json_array_size(resp); i++) {
            const json_t *r = json_array_get(resp, i);
            json_t *o = json_object();
            const char *keys[] = {"id", "name", "username", "type"};
            for (size_t k = 0; k < 4; k++)
                if (json_is_string(json_object_get(r, keys[k])) && *json_string_value(json_object_get(r, keys[k])))
                    json_object_set(o, keys[k], json_object_get(r, keys[k]));
            if (!json_object_get(o, "type"))
                json_object_set_new(o, "type", json_string("team"));
            json_array_append_new(list, o);
        }
        json_object_set_new(body, "responders", list);
    }
    if (arg_str(a, "priority"))
        json_object_set_new(body, "priority", json_string(arg_str(a, "priority")));
    char *url = NULL, *auth = NULL;
    int rc = ACTIONS_RETRYABLE;
    if (asprintf(&url, "%s/v2/alerts", c->opsgenie_url) >= 0 &&
        asprintf(&auth, "Authorization: GenieKey %s", arg_str(a, "secret_api_key")) >= 0) {
        const char *extra[] = {auth, NULL};
        rc = json_call(c, "POST", url, body, extra, NULL, a->uses, result, err, errlen);
    }
    json_decref(body);
    free(url);
    free(auth);
    return rc;
}

static int64_t now_s(const actions_config *c);

/* ---- OTX ---- */

static int otx(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
               size_t errlen)
{
    REQUIRE(a, err, errlen, "secret_api_key", "type", "indicator", "section");
    static const char *const types[][2] = {{"ipv4", "IPv4"},         {"ipv6", "IPv6"}, {"domain", "domain"},
                                           {"hostname", "hostname"}, {"file", "file"}, {"url", "url"}};
    static const char *const sections[] = {"general",  "reputation",  "geo",       "malware",
                                           "url_list", "passive_dns", "http_scans"};
    const char *type = NULL, *section = NULL;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(types[i][0], arg_str(a, "type")) == 0)
            type = types[i][1];
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
        if (strcmp(sections[i], arg_str(a, "section")) == 0)
            section = sections[i];
    if (!type || !section) {
        snprintf(err, errlen, "otx.indicator: unknown %s \"%s\"", type ? "section" : "type",
                 type ? arg_str(a, "section") : arg_str(a, "type"));
        return ACTIONS_FAILED;
    }
    /* The "general" section is what enrich caches (intel_cache, shared with every
     * process): with a database, a fresh cached answer is the result, a new answer is
     * cached, and the shared OTX rate limit is taken before asking. */
    intel_indicator ind;
    bool cached = c->db && strcmp(section, "general") == 0 &&
                  intel_normalize(psl_builtin(), arg_str(a, "indicator"), &ind) == INTEL_NORM_OK &&
                  intel_provider_supports(INTEL_OTX, ind.kind);
    if (cached) {
        const char *p[] = {intel_kind_name(ind.kind), ind.value};
        PGresult *res = NULL;
        if (pg_exec(c->db, &res,
                    "SELECT body::text FROM intel_cache WHERE provider = 'otx' AND kind = $1 AND value = $2"
                    " AND expires_at > now() AND body IS NOT NULL",
                    2, p) != PG_OK) {
            snprintf(err, errlen, "otx.indicator: the intel cache is unavailable");
            return ACTIONS_RETRYABLE;
        }
        *result = PQntuples(res) ? json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, NULL) : NULL;
        PQclear(res);
        if (*result)
            return ACTIONS_OK;
        int64_t wait_ms = 0;
        if (intel_quota_take(c->db, INTEL_OTX, intel_default_limit(INTEL_OTX), ids_now_ms(), &wait_ms) != PG_OK) {
            snprintf(err, errlen, "otx.indicator: the intel quota is unavailable");
            return ACTIONS_RETRYABLE;
        }
        if (wait_ms > 0) {
            snprintf(err, errlen, "otx.indicator: rate limited (shared OTX limit), retry in %lld ms",
                     (long long)wait_ms);
            return ACTIONS_RETRYABLE;
        }
    }
    CURL *h = curl_easy_init();
    char *esc = h ? curl_easy_escape(h, arg_str(a, "indicator"), 0) : NULL;
    char *url = NULL, *auth = NULL;
    int rc = ACTIONS_RETRYABLE;
    if (esc && asprintf(&url, "%s/api/v1/indicators/%s/%s/%s", c->otx_url, type, esc, section) >= 0 &&
        asprintf(&auth, "X-OTX-API-KEY: %s", arg_str(a, "secret_api_key")) >= 0) {
        const char *extra[] = {auth, NULL};
        rc = json_call(c, "GET", url, NULL, extra, NULL, a->uses, result, err, errlen);
    }
    curl_free(esc);
    curl_easy_cleanup(h);
    free(url);
    free(auth);
    if (rc == ACTIONS_OK && cached && *result) {
        char *body = json_dumps(*result, JSON_COMPACT);
        intel_verdict v;
        char rerr[200];
        if (body &&
            intel_reduce(INTEL_OTX, &ind, 200, body, strlen(body), now_s(c), &v, rerr, sizeof rerr) == INTEL_REDUCE_OK)
            intel_cache_store(c->db, &v, body, "hutch-agent", ids_now_ms(), 24LL * 3600 * 1000); /* enrich's default */
        free(body);
    }
    return rc;
}

/* ---- BigQuery ---- */

/* An OAuth access token for a service account (credentials JSON text). NEW or NULL. */
static char *google_token(const actions_config *c, const char *credentials, int *rc, char *err, size_t errlen)
{
    *rc = ACTIONS_FAILED;
    json_t *cred = json_loads(credentials, 0, NULL);
    const char *email = json_string_value(json_object_get(cred, "client_email"));
    const char *pem = json_string_value(json_object_get(cred, "private_key"));
    const char *token_url = json_string_value(json_object_get(cred, "token_uri"));
    if (!email || !pem) {
        snprintf(err, errlen, "bigquery: the credentials are not a service-account key (client_email, private_key)");
        json_decref(cred);
        return NULL;
    }
    /* the setting wins over the key file's token_uri, so tests and private endpoints work */
    const char *aud = c->google_token_url && *c->google_token_url ? c->google_token_url : token_url;
    int64_t now = now_s(c);
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", email, "scope",
                               "https://www.googleapis.com/auth/bigquery.insertdata", "aud", aud, "iat",
                               (json_int_t)now, "exp", (json_int_t)(now + 3600));
    char jerr[200];
    char *jwt = actions_jwt_rs256(claims, pem, jerr, sizeof jerr);
    json_decref(claims);
    char *out = NULL;
    if (jwt == NULL) {
        snprintf(err, errlen, "bigquery: %s", jerr);
    } else {
        CURL *h = curl_easy_init();
        char *body = NULL;
        if (h && asprintf(&body, "grant_type=%s&assertion=%s", "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
                          jwt) >= 0) {
            struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
            request r = {.method = "POST", .url = aud, .body = body, .body_len = strlen(body), .headers = hd};
            long status = 0;
            answer ans;
            *rc = http_call(c, h, &r, &status, &ans, err, errlen);
            if (*rc == 0)
                *rc = status_class(status, &ans, "google oauth token", err, errlen);
            json_t *tok = *rc == 0 && ans.buf ? json_loads(ans.buf, 0, NULL) : NULL;
            const char *t = json_string_value(json_object_get(tok, "access_token"));
            out = t ? strdup(t) : NULL;
            if (*rc == 0 && out == NULL) {
                snprintf(err, errlen, "google oauth token: the answer has no access_token");
                *rc = ACTIONS_FAILED;
            }
            json_decref(tok);
            free(ans.buf);
            curl_slist_free_all(hd);
        }
        free(body);
        curl_easy_cleanup(h);
    }
    free(jwt);
    json_decref(cred);
    return out;
}

static int bigquery(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                    size_t errlen)
{
    REQUIRE(a, err, errlen, "project_id", "dataset_id", "table_id");
    bool data = strcmp(a->uses, "bigquery.insert_data") == 0;
    if (data)
        REQUIRE(a, err, errlen, "data");
    const char *cred = arg_str(a, "secret_credentials");
    char *cred_file = NULL;
    if (cred == NULL || *cred == '\0') {
        const char *path = getenv("HUTCH_ACTION_BIGQUERY_CREDENTIALS");
        FILE *f = path && *path ? fopen(path, "r") : NULL;
        if (f) {
            size_t len = 0;
            FILE *m = open_memstream(&cred_file, &len);
            char buf[4096];
            size_t n;
            while (m && (n = fread(buf, 1, sizeof buf, f)) > 0)
                fwrite(buf, 1, n, m);
            if (m)
                fclose(m);
            fclose(f);
        }
        cred = cred_file;
    }
    if (cred == NULL) {
        snprintf(err, errlen, "%s: no credentials (secret_credentials or HUTCH_ACTION_BIGQUERY_CREDENTIALS)", a->uses);
        return ACTIONS_FAILED;
    }
    int rc;
    char *token = google_token(c, cred, &rc, err, errlen);
    free(cred_file);
    if (token == NULL)
        return rc;
    json_t *row;
    char insert_id[200];
    if (data) {
        char *text = json_dumps(json_object_get(a->args, "data"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        json_t *tags = json_object_get(a->args, "tags");
        row = json_pack("{s:s, s:s, s:s, s:O, s:s}", "id", a->id, "alert_id", alert_str(alert, "id"), "created_at",
                        alert_str(alert, "created_at"), "tags", json_is_array(tags) ? tags : json_array(), "data",
                        text ? text : "null");
        if (!json_is_array(tags))
            json_decref(json_object_get(row, "tags")); /* the fresh array's own reference */
        free(text);
        snprintf(insert_id, sizeof insert_id, "%s/%s", alert_str(alert, "id"), a->id);
    } else {
        json_t *refs = json_array();
        const json_t *r = json_object_get(alert, "refs");
        for (size_t i = 0; i < json_array_size(r); i++)
            json_array_append_new(refs, json_pack("{s:s, s:s}", "Title", alert_str(json_array_get(r, i), "title"),
                                                  "URL", alert_str(json_array_get(r, i), "url")));
        json_t *attrs = json_array();
        const json_t *at = json_object_get(alert, "attrs");
        for (size_t i = 0; i < json_array_size(at); i++) {
            const json_t *x = json_array_get(at, i);
            char *v = value_text(json_object_get(x, "value"));
            json_array_append_new(attrs,
                                  json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "id", alert_str(x, "id"), "key",
                                            alert_str(x, "key"), "value", v ? v : "", "type", alert_str(x, "type"),
                                            "ttl", json_integer_value(json_object_get(x, "ttl")), "persist",
                                            json_is_true(json_object_get(x, "persist"))));
            free(v);
        }
        char *text = json_dumps(json_object_get(alert, "data"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s}", "id", alert_str(alert, "id"), "schema",
                        alert_str(alert, "schema"), "created_at", alert_str(alert, "created_at"), "title",
                        alert_str(alert, "title"), "description", alert_str(alert, "description"), "source",
                        alert_str(alert, "source"), "namespace", alert_str(alert, "namespace"), "attrs", attrs, "refs",
                        refs, "data", text ? text : "null");
        free(text);
        snprintf(insert_id, sizeof insert_id, "%s", alert_str(alert, "id"));
    }
    /* insertId: BigQuery's best-effort dedupe of a re-sent row */
    json_t *body = json_pack("{s:[{s:s, s:o}]}", "rows", "insertId", insert_id, "json", row);
    char *url = NULL, *auth = NULL;
    rc = ACTIONS_RETRYABLE;
    if (asprintf(&url, "%s/bigquery/v2/projects/%s/datasets/%s/tables/%s/insertAll", c->bigquery_url,
                 arg_str(a, "project_id"), arg_str(a, "dataset_id"), arg_str(a, "table_id")) >= 0 &&
        asprintf(&auth, "Authorization: Bearer %s", token) >= 0) {
        const char *extra[] = {auth, NULL};
        rc = json_call(c, "POST", url, body, extra, NULL, a->uses, result, err, errlen);
    }
    if (rc == 0 && json_array_size(json_object_get(*result, "insertErrors")) > 0) {
        char *e = json_dumps(json_object_get(*result, "insertErrors"), JSON_COMPACT);
        snprintf(err, errlen, "%s: insertErrors %.300s", a->uses, e ? e : "");
        free(e);
        rc = ACTIONS_FAILED;
    }
    json_decref(body);
    free(url);
    free(auth);
    free(token);
    return rc;
}

/* ---- PagerDuty Events API v2 ---- */

static const char *pd_severity(const char *s)
{
    if (s == NULL)
        return "warning";
    if (!strcmp(s, "critical") || !strcmp(s, "error") || !strcmp(s, "warning") || !strcmp(s, "info"))
        return s;
    return !strcmp(s, "high") ? "error" : !strcmp(s, "medium") ? "warning" : "info"; /* EXTERNAL-APIS §4.1 map */
}

static int pagerduty(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                     size_t errlen)
{
    REQUIRE(a, err, errlen, "secret_routing_key");
    bool trigger = strcmp(a->uses, "pagerduty.trigger") == 0;
    char dedup[300];
    const char *ticket = alert_str(alert, "ticket_id");
    if (arg_str(a, "dedup_key"))
        snprintf(dedup, sizeof dedup, "%s", arg_str(a, "dedup_key"));
    else /* one page per ticket (EXTERNAL-APIS §4.1), per alert when it has none */
        snprintf(dedup, sizeof dedup, "hutch:%s", *ticket ? ticket : alert_str(alert, "id"));
    json_t *body = json_pack("{s:s, s:s, s:s}", "routing_key", arg_str(a, "secret_routing_key"), "event_action",
                             trigger ? "trigger" : "resolve", "dedup_key", dedup);
    if (trigger) {
        char summary[1025]; /* PagerDuty truncates at 1024 */
        snprintf(summary, sizeof summary, "%s",
                 arg_str(a, "summary") ? arg_str(a, "summary") : alert_str(alert, "title"));
        const char *source = arg_str(a, "source")          ? arg_str(a, "source")
                             : *alert_str(alert, "source") ? alert_str(alert, "source")
                                                           : "hutch";
        json_t *payload =
            json_pack("{s:s, s:s, s:s}", "summary", summary, "source", source, "severity",
                      pd_severity(arg_str(a, "severity") ? arg_str(a, "severity") : alert_str(alert, "severity")));
        const char *opt[] = {"component", "group", "class"};
        for (size_t i = 0; i < 3; i++)
            if (arg_str(a, opt[i]))
                json_object_set_new(payload, opt[i], json_string(arg_str(a, opt[i])));
        if (*alert_str(alert, "created_at"))
            json_object_set_new(payload, "timestamp", json_string(alert_str(alert, "created_at")));
        json_t *details = json_object_get(a->args, "custom_details");
        json_object_set_new(payload, "custom_details",
                            json_is_object(details)
                                ? json_deep_copy(details)
                                : json_pack("{s:s, s:s}", "alert_id", alert_str(alert, "id"), "ticket_id", ticket));
        json_object_set_new(body, "payload", payload);
        json_object_set_new(body, "client", json_string("Hutch"));
        if (arg_str(a, "client_url"))
            json_object_set_new(body, "client_url", json_string(arg_str(a, "client_url")));
    }
    char *url = NULL;
    int rc = ACTIONS_RETRYABLE;
    if (asprintf(&url, "%s/v2/enqueue", c->pagerduty_url) >= 0)
        rc = json_call(c, "POST", url, body, NULL, NULL, a->uses, result, err, errlen);
    json_decref(body);
    free(url);
    return rc;
}

/* ---- hutch.ticket ---- */

static int hutch_ticket(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                        size_t errlen)
{
    REQUIRE(a, err, errlen, "op");
    const char *op = arg_str(a, "op");
    const char *ticket = arg_str(a, "ticket_id") ? arg_str(a, "ticket_id") : alert_str(alert, "ticket_id");
    if (*ticket == '\0') {
        snprintf(err, errlen, "hutch.ticket: the alert has no ticket (give ticket_id)");
        return ACTIONS_FAILED;
    }
    if (c->db == NULL) {
        snprintf(err, errlen, "hutch.ticket: no database here");
        return ACTIONS_FAILED;
    }
    const char *actor = "hutch-agent";
    char terr[512] = "";
    int rc;
    if (strcmp(op, "severity") == 0) {
        REQUIRE(a, err, errlen, "severity");
        rc = ticket_raise_severity(c->db, actor, ticket, arg_str(a, "severity"), terr, sizeof terr);
    } else if (strcmp(op, "assign") == 0) {
        rc = ticket_assign(c->db, actor, ticket, arg_str(a, "assignee") ? arg_str(a, "assignee") : "", terr,
                           sizeof terr);
    } else if (strcmp(op, "resolve") == 0) {
        REQUIRE(a, err, errlen, "conclusion");
        rc = ticket_resolve(c->db, actor, ticket, arg_str(a, "conclusion"),
                            arg_str(a, "reason") ? arg_str(a, "reason") : "", terr, sizeof terr);
    } else if (strcmp(op, "reopen") == 0) {
        rc = ticket_reopen(c->db, actor, ticket, terr, sizeof terr);
    } else if (strcmp(op, "bind") == 0) {
        const char *ids[] = {alert_str(alert, "id")};
        rc = ticket_bind(c->db, actor, ticket, ids, 1, terr, sizeof terr);
    } else if (strcmp(op, "finding") == 0) {
        ticket_finding f = {.severity = arg_str(a, "severity"),
                            .summary = arg_str(a, "summary"),
                            .reason = arg_str(a, "reason"),
                            .recommendation = arg_str(a, "recommendation")};
        rc = ticket_set_finding(c->db, actor, ticket, &f, terr, sizeof terr);
    } else {
        snprintf(err, errlen, "hutch.ticket: unknown op \"%s\" (severity, assign, resolve, reopen, bind, finding)", op);
        return ACTIONS_FAILED;
    }
    if (rc != PG_OK) {
        snprintf(err, errlen, "hutch.ticket %s: %s", op, *terr ? terr : "database error");
        return rc == PG_RETRY ? ACTIONS_RETRYABLE : ACTIONS_FAILED;
    }
    *result = json_pack("{s:s, s:s, s:b}", "ticket_id", ticket, "op", op, "ok", 1);
    return ACTIONS_OK;
}

typedef int (*action_fn)(const actions_config *, const chain_action *, const json_t *, json_t **, char *, size_t);

static const struct {
    const char *prefix;
    action_fn fn;
} dispatch[] = {
    {"slack.", slack_post},      {"github.", github_issue}, {"jira.", jira},          {"opsgenie.", opsgenie},
    {"chatgpt.", chatgpt_query}, {"llm.", llm_query},       {"http.", http_fetch},    {"otx.", otx},
    {"bigquery.", bigquery},     {"pagerduty.", pagerduty}, {"hutch.", hutch_ticket},
};

int actions_run(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                size_t errlen)
{
    *result = NULL;
    if (!actions_known(a->uses)) {
        snprintf(err, errlen, "unknown action \"%s\"", a->uses);
        return ACTIONS_FAILED;
    }
    for (size_t i = 0; i < sizeof dispatch / sizeof *dispatch; i++)
        if (strncmp(a->uses, dispatch[i].prefix, strlen(dispatch[i].prefix)) == 0)
            return dispatch[i].fn(c, a, alert, result, err, errlen);
    snprintf(err, errlen, "unknown action \"%s\"", a->uses);
    return ACTIONS_FAILED;
}

int actions_exec(void *ctx, const chain_action *a, const json_t *alert, json_t **result, char *err, size_t errlen)
{
    return actions_run(ctx, a, alert, result, err, errlen) == ACTIONS_OK ? 0 : -1;
}
