/* The ingest policies: every *.rego below a directory, compiled once, asked for
 * one decision per raw event (docs/ARCHITECTURE.md, "Policy contracts").
 *
 * For an event of schema S:
 *   - package ingest.S exists (Warren): its set `alerts` gives the alerts, each
 *     {title, description, attributes:[{key, value, link}], tags, channel};
 *   - else package alert.S exists (AlertChain): its set `alert` gives them, each
 *     {title, description, source, namespace, attrs:[{id, key, value, type,
 *     persist, ttl}], refs:[{title, url}]};
 *   - else Warren's non-strict default alert (policy_default_eval), or, strict,
 *     no alert with the reason "no policy".
 * An empty set means the event is ignored; the reason names the package and, when
 * the package defines `ignore` (a set of reason strings, or a boolean), its value.
 * A package exists when any rule lives under data.ingest.S / data.alert.S.
 *
 * Alerts are checked: a member that is not an object, a title that is not a
 * string, an attribute without a string key... is a policy error, like a conflict,
 * a builtin error (strict_builtin_errors) or a step/memory limit: eval returns -1
 * with a message naming the package and the position, and the caller dead-letters
 * the event. Nothing here does I/O besides reading the directory in load.
 *
 * A policy_rules is used by one thread at a time (it caches one prepared query per
 * schema); the service's consumer thread owns the current set, hutchctl its own. */
#ifndef HUTCH_POLICY_RULES_H
#define HUTCH_POLICY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "services/policy/policy.h"

typedef struct policy_rules policy_rules;

typedef struct {
    bool strict;                /* no package: ignore with a reason instead of the default alert */
    bool strict_builtin_errors; /* a builtin error is a policy error (else the expression is undefined) */
    uint64_t max_steps;         /* per evaluation; 0 = unlimited */
    size_t max_memory;          /* bytes per evaluation; 0 = unlimited */
} policy_rules_options;

/* Default TTL of a persisted AlertChain attribute whose policy gives none. */
#define POLICY_PERSIST_TTL_DEFAULT 86400

/* Loads and compiles every *.rego below dir (recursively, hidden entries skipped;
 * other files, e.g. test fixtures, are not read). Modules are Rego v1 unless they
 * reveal v0 syntax (AlertChain's `alert[res] { ... }`). NEW set, or NULL with
 * "file:line:col: code: message" in err. */
policy_rules *policy_rules_load(const char *dir, char *err, size_t errlen);
void policy_rules_free(policy_rules *r);
size_t policy_rules_module_count(const policy_rules *r);

/* The package that decides schema S: "ingest.S", "alert.S", or NULL (none). BORROWED. */
const char *policy_rules_package(policy_rules *r, const char *schema);

/* Decides one event (in->payload_json is what the policy sees as input). Fills out
 * (zeroed by the caller; policy_decision_free it either way) and returns 0, or
 * returns -1 with err set: a policy error (dead-letter the event). */
int policy_rules_decide(policy_rules *r, const policy_rules_options *opts, const policy_input *in,
                        policy_decision *out, char *err, size_t errlen);

#endif
