/* Warren's enrich and triage policies, evaluated by the agent on each clustered alert:
 * pure functions over plain inputs (an Alert, JSON), no Kafka, no Postgres, no model.
 *
 * The policies come from the policy directory (HUTCH_POLICY_DIR, every *.rego below
 * it, compiled once at start, the way hutch-enrich loads its `intel` package):
 *
 *   package enrich  ->  prompts contains {id, template | inline, params, format}
 *       input: the alert object (below). Each member is a prompt task; `template` is a
 *       file under HUTCH_PROMPT_DIR rendered with {"alert": ..., "params": ...}
 *       (triage_render), `inline` is the prompt itself; format "text" (default) or
 *       "json". An id is made from the task's content when the policy gives none.
 *   package triage  ->  {title, description, channel, attr, publish, page, severity}
 *       input: {"alert": the alert object, "enrich": [{id, prompt, result}]}
 *       publish: "alert" (default, also for an empty or unknown value and when the
 *       package is missing), "notice" or "discard"; page: true asks notify to page
 *       (NotifyRequest.page); severity raises the alert's (never lowers it);
 *       attr: attributes appended to the alert ({key, value, link}).
 *
 * The alert object is Warren's (flattened for enrich, `metadata` for triage) with
 * Hutch's own fields beside it:
 *   {"id", "schema", "title", "description", "attributes": [{key, value, link, auto}],
 *    "tags", "channel", "metadata": {title, description, attributes, tags, channel},
 *    "data": the raw payload, "severity", "severity_score", "risk_score", "namespace",
 *    "source", "ticket_id", "new_ticket", "created_at",
 *    "indicators": [{type, value}], "intel": [{provider, kind, value, indicator,
 *    state, verdict, score}]}
 *
 * A policy error (an evaluation error, a conflict, an output of the wrong shape, a
 * template that cannot be read or rendered) is returned as -2 with a message that
 * names the file and line (rego's "file:line:col: ..." or the rule's position): the
 * caller dead-letters the alert with it. The compiled policy is read-only: any
 * thread may evaluate it. */
#ifndef HUTCH_AGENT_TRIAGE_H
#define HUTCH_AGENT_TRIAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/msg.h"

typedef struct triage_policy triage_policy;

/* Loads the *.rego files below dir (NULL, "" or a missing directory: no packages,
 * every alert published as an alert). NEW (triage_policy_free), or NULL with
 * "file:line:col: ..." in err when a module does not compile. prompt_dir BORROWED for
 * the policy's life ("" = the current directory). */
triage_policy *triage_policy_load(const char *dir, const char *prompt_dir, char *err, size_t errlen);
void triage_policy_free(triage_policy *pol); /* NULL is fine */
/* Whether a package triage / enrich is there. */
bool triage_policy_has_triage(const triage_policy *pol);
bool triage_policy_has_enrich(const triage_policy *pol);
/* "data.triage (file, file...)": the files that define the package. BORROWED, "" when none. */
const char *triage_policy_source(const triage_policy *pol);

/* The alert object (above) of a (BORROWED); payload_json: the raw payload (NULL or
 * "": Alert.payload_json, else null). NEW, NULL on OOM. */
json_t *triage_alert_object(const Hutch__V1__Alert *a, const char *payload_json);

/* The enrich tasks of an alert: *tasks a NEW array of {id, prompt, format} with the
 * prompt rendered (an empty array without a package enrich). 0; -1 OOM; -2 a policy
 * error (err). alert BORROWED. */
int triage_enrich_tasks(const triage_policy *pol, const json_t *alert, json_t **tasks, char *err, size_t errlen);

typedef enum { TRIAGE_PUBLISH_ALERT, TRIAGE_PUBLISH_NOTICE, TRIAGE_PUBLISH_DISCARD } triage_publish;

typedef struct {
    bool decided; /* the package gave an output (false: the default, publish alert) */
    triage_publish publish;
    char *title, *description, *channel, *severity; /* NEW or NULL (unchanged) */
    bool page;
    json_t *attr;   /* NEW array of {key, value, link} or NULL */
    json_t *output; /* NEW: the policy's output as it came (recorded), or NULL */
} triage_decision;

/* The triage of an alert: input {"alert": alert, "enrich": enrich (NULL: [])}, both
 * BORROWED. Fills out (triage_decision_free it either way). 0; -1 OOM; -2 a policy
 * error (err). */
int triage_decide(const triage_policy *pol, const json_t *alert, const json_t *enrich, triage_decision *out, char *err,
                  size_t errlen);
void triage_decision_free(triage_decision *d);
const char *triage_publish_name(triage_publish p); /* "alert", "notice", "discard" */

/* Renders a prompt template: Go text/template's field actions only, which is what
 * Warren's prompt templates use: `{{ .alert.title }}`, `{{ .params.ip }}` (a path of
 * object keys from vars; a string as is, another value as compact JSON, a missing
 * key as "<no value>" like Go), comment actions, with `{{-`/`-}}` trimming the
 * spaces beside the action. Anything else inside {{ }} (pipelines, range, if) is an
 * error. vars BORROWED. NEW string, or NULL with err. */
char *triage_render(const char *tmpl, const json_t *vars, char *err, size_t errlen);

/* The system prompt of an enrich task (static). */
extern const char triage_enrich_system[];
/* The first user turn of an enrich task: the alert object between <alert-data> markers
 * (a closing marker inside it defused: alert content is data, never instructions),
 * then the task's prompt. alert, prompt BORROWED. NEW or NULL (OOM). */
char *triage_enrich_prompt(const json_t *alert, const char *prompt);

/* The task of a prompt whose result is JSON: the answer parsed (a ``` fence allowed),
 * else the text as it came (Warren keeps the raw text). NEW. */
json_t *triage_enrich_result(const char *format, const char *answer);

#endif
