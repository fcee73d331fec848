/* The action chain (AlertChain's `package action`): what happens after an alert,
 * written in Rego, evaluated round after round.
 *
 * Each round (seq 0, 1, ...) evaluates data.action.run with the input
 *   {alert: {id, schema, created_at, title, description, source, namespace,
 *            attrs: [{id, key, value, type, persist, ttl}], refs, data, raw},
 *    env: {allowed environment variables}, seq: N,
 *    called: [{<action>, result|error}]}
 * and gets a set of actions {id, name, uses, args, force, abort, commit}. In the set's
 * order (OPA's sort order, so deterministic) each action whose id has not run yet is
 * run by the executor (`uses`; an action without `uses` only carries abort/commit);
 * an action without id gets one derived from (seq, position, uses, args), so it is new
 * every round, as AlertChain's random ids are, but the same on a replay. Its `commit`
 * items become attributes: `path` (a JSONPath into the result) or, when the path
 * matches nothing or is absent, `value`; an attribute replaces an earlier one with the
 * same id. The chain stops after a round with `abort: true`, after a round that ran
 * nothing new, after max_rounds (AlertChain's 32), or at an action's error unless the
 * action says `force: true`.
 *
 * Everything here is pure: no I/O, no clock, no randomness. Effects are the
 * executor's (actions.h for real ones, a mock table for `hutchctl action play`, the
 * agent's recording executor for redelivery). What must stay true: the same policy,
 * alert, env and executor answers give the same rounds, which is what lets a
 * redelivered alert replay its chain from recorded results without repeating one.
 *
 * Secrets: every object member whose name starts with "secret_" is masked
 * (CHAIN_MASK) in what the report holds (args of every action, the called list is
 * not reported); the input the policy sees keeps the real values. */
#ifndef HUTCH_AGENT_CHAIN_H
#define HUTCH_AGENT_CHAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "rego/rego.h"

#define CHAIN_DEFAULT_MAX_ROUNDS 32
#define CHAIN_MASK "[REDACTED]"
#define CHAIN_QUERY "run := data.action.run"

/* Outcomes of chain_run. */
enum {
    CHAIN_OK = 0,      /* stopped normally: see report "stopped" */
    CHAIN_FAILED = -1, /* an action failed without force: report "error" */
    CHAIN_POLICY = -2, /* the policy is wrong (eval error, not a set of objects, unknown uses): dead-letter */
    CHAIN_RETRY = -3,  /* the executor asked to retry later (e.g. database down): nothing is final */
};

/* One action as the policy asked for it. All BORROWED from the round's result. */
typedef struct {
    const char *id; /* given or derived */
    const char *name, *uses;
    const json_t *args; /* object (real values, secrets included) */
    bool force, abort;
    int seq;
} chain_action;

/* Runs one action. Returns 0 with *result NEW (NULL = null), -1 with err (the action
 * failed), or CHAIN_RETRY with err (stop the chain, nothing is final).
 * ctx is the chain_spec's exec_ctx. */
typedef int (*chain_exec_fn)(void *ctx, const chain_action *a, const json_t *alert, json_t **result, char *err,
                             size_t errlen);

typedef struct {
    const rego_query *query; /* prepared from CHAIN_QUERY (BORROWED) */
    rv *data;                /* base documents (BORROWED, may be NULL) */
    rego_options opts;       /* limits of each evaluation */
    int max_rounds;          /* 0 = CHAIN_DEFAULT_MAX_ROUNDS */
    chain_exec_fn exec;
    void *exec_ctx;
    /* Is `uses` an action that exists (ctx is exec_ctx)? NULL = every name. An unknown
     * one is CHAIN_POLICY. */
    bool (*uses_known)(void *ctx, const char *uses);
    /* Where a name appears in the policy's sources, for errors: "file:line" or NULL. */
    const char *const *src_names; /* BORROWED: n_src module names and texts */
    const char *const *src_texts;
    size_t n_src;
} chain_spec;

/* Runs the chain for alert (BORROWED, an object shaped as above; its attrs are not
 * changed) with env (BORROWED object). Returns CHAIN_OK / CHAIN_FAILED /
 * CHAIN_POLICY / CHAIN_RETRY and sets *report (NEW, json_decref) to
 *   {rounds: [{seq, actions: [{id, name, uses, args (masked), result | error,
 *              commit: [attrs]}]}],
 *    attrs: [the alert's attrs after the chain], stopped: "no_new_action" | "abort" |
 *    "max_rounds" | "error" | "policy_error" | "retry", error: "..." (when any)}.
 * *report is NULL only on OOM. */
int chain_run(const chain_spec *spec, const json_t *alert, const json_t *env, json_t **report);

/* A NEW deep copy of v with every member named "secret_*" (at any depth) replaced by
 * CHAIN_MASK. NULL in, NULL out. */
json_t *chain_mask(const json_t *v);

/* JSONPath subset over a result: optional "$", then ".name", "[N]" (N may be
 * negative: from the end), "['name']" / "[\"name\"]", "[*]" / ".*" (the first
 * match). "choices[0].message.content" and "$.choices[0].message.content" are the
 * same. Returns the matched value (BORROWED from root) or NULL (no match, or a
 * malformed path, which *bad then says). */
const json_t *chain_jsonpath(const json_t *root, const char *path, bool *bad);

/* The environment the policy sees: the variables of envp (NULL-terminated "K=V")
 * whose name matches one of the comma-separated fnmatch patterns of allow (e.g.
 * "SLACK_*,GITHUB_APP_ID"). "" allows none. NEW object. */
json_t *chain_env(char *const *envp, const char *allow);

/* The chain's alert object from Hutch's fields (all BORROWED; NULL = ""): attrs from
 * Hutch attributes ([{key, value, value_json, type, link, id, persist, ttl_seconds}]:
 * value_json, when set, is the typed value (AlertChain's non-string values), ttl_seconds
 * becomes ttl, an attribute without id gets "attr-<key>"), refs from the link
 * attributes ({title: key, url: link}), data = payload_json parsed (null if it is not
 * JSON), raw = payload pretty-printed as AlertChain shows it. NEW or NULL (OOM). */
json_t *chain_alert_new(const char *id, const char *schema, const char *created_at, const char *title,
                        const char *description, const char *source, const char *namespace_, const json_t *attributes,
                        const char *payload_json);

/* "file:line" (into buf) of the first line of the policy sources that contains
 * `"needle"` as a string literal; NULL when none does. */
const char *chain_locate(const chain_spec *spec, const char *needle, char *buf, size_t len);

#endif
