/* The actions a chain can run (`uses`), with AlertChain's argument names so its
 * policies port unchanged (EXTERNAL-APIS.md §2.2), plus PagerDuty (§4.1) and
 * `llm.query`:
 *
 *   slack.post              incoming webhook (secret_url, channel, text, body, color)
 *   github.create_issue     GitHub App: RS256 JWT (OpenSSL) -> installation token -> issue
 *   github.create_comment   same auth -> issue comment
 *   jira.create_issue / jira.add_comment / jira.add_attachment   Jira Cloud REST v3, basic auth
 *   opsgenie.create_alert   Alert API v2, alias = the alert id
 *   chatgpt.query           OpenAI chat completions (secret_api_key, prompt, model);
 *                           result = OpenAI's answer unchanged (AlertChain's contract)
 *   llm.query               the agent's model through common/llm.h (HUTCH_LLM_*: openai,
 *                           anthropic, gemini; prompt, model overrides HUTCH_LLM_MODEL);
 *                           result = {text, provider, model, usage: {input_tokens,
 *                           output_tokens}}; HUTCH_LLM_PROVIDER=none: an action error
 *   http.fetch              one request, answer as JSON / text / base64 bytes
 *   otx.indicator           AlienVault OTX indicator section
 *   bigquery.insert_alert / bigquery.insert_data   service-account JWT -> OAuth token
 *                           -> tabledata.insertAll
 *   pagerduty.trigger / pagerduty.resolve   Events API v2, dedup key per ticket
 *   hutch.ticket            the alert's ticket through common/ticket.h (op: severity,
 *                           assign, resolve, reopen, bind, finding), actor "hutch-agent"
 *
 * Each is one blocking libcurl exchange (two for token-based ones), from the calling
 * thread, with a timeout. Base URLs are settings (actions_config: HUTCH_ACTION_<NAME>_URL)
 * for tests and enterprise hosts. Errors never hold a secret: not the URL of a
 * webhook, not a header, not a key. A 429 or 5xx answer, or no answer at all, is
 * ACTIONS_RETRYABLE (the caller decides whether a retry is safe; the agent does not
 * repeat an action that may have half-run). */
#ifndef HUTCH_AGENT_ACTIONS_H
#define HUTCH_AGENT_ACTIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/llm.h"
#include "common/pg.h"
#include "services/agent/chain.h"

enum {
    ACTIONS_OK = 0,
    ACTIONS_FAILED = -1,    /* the service refused (4xx), bad arguments */
    ACTIONS_RETRYABLE = -2, /* no answer, 429, 5xx: it may or may not have happened */
};

typedef struct {
    const char *github_url;       /* https://api.github.com */
    const char *opsgenie_url;     /* https://api.opsgenie.com */
    const char *openai_url;       /* https://api.openai.com (chatgpt.query) */
    const char *otx_url;          /* https://otx.alienvault.com */
    const char *bigquery_url;     /* https://bigquery.googleapis.com */
    const char *google_token_url; /* https://oauth2.googleapis.com/token */
    const char *pagerduty_url;    /* https://events.pagerduty.com */
    long timeout_ms;              /* per exchange */
    int64_t now_s;                /* 0 = the clock (JWT iat/exp) */
    pg *db;                       /* hutch.ticket's database (BORROWED, no transaction open); NULL: refused */
    llm_config llm;               /* llm.query's model (strings BORROWED: the caller's llm_settings);
                                   * provider LLM_NONE (the zero value) = no model */
} actions_config;

/* Fills c from the environment (HUTCH_ACTION_<NAME>_URL, HUTCH_ACTION_TIMEOUT_MS),
 * defaults for the rest. Strings BORROWED from the environment. c->llm is left at no
 * model: the caller sets it from its loaded llm_settings (llm_settings_config). */
void actions_config_from_env(actions_config *c);

/* Is uses one of the actions above? */
bool actions_known(const char *uses);
/* The same as a chain_spec.uses_known (ctx unused). */
bool actions_known_in(void *ctx, const char *uses);
/* The names, NULL-terminated, for help and errors. */
extern const char *const actions_names[];

/* Runs one action for alert (the chain's alert object, BORROWED). Returns ACTIONS_OK
 * with *result NEW (NULL = null), or an error with err. */
int actions_run(const actions_config *c, const chain_action *a, const json_t *alert, json_t **result, char *err,
                size_t errlen);

/* A chain_exec_fn over actions_run (ctx: const actions_config *). A retryable failure
 * is returned as an action error: the chain's force rule decides. */
int actions_exec(void *ctx, const chain_action *a, const json_t *alert, json_t **result, char *err, size_t errlen);

/* The compact RS256 JWT of claims (BORROWED) signed with the PEM private key
 * (BORROWED, PKCS#1 or PKCS#8). NEW string or NULL with err. */
char *actions_jwt_rs256(const json_t *claims, const char *pem, char *err, size_t errlen);

#endif
