/* One event decided against a policy set, as the JSON document of `hutchctl policy
 * decide` and the web console's policy playground (one code for both):
 *   {schema, package, status: "accepted"|"ignored", reason|null,
 *    alerts: [{title, description, namespace, source, channel, severity|null,
 *              severity_score|null, tags, attributes}]}
 * Limits are hutch-policy's defaults (1e6 steps, 64 MiB). */
#ifndef HUTCH_POLICY_DECIDE_JSON_H
#define HUTCH_POLICY_DECIDE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "services/policy/rules.h"

#define DECIDE_MAX_STEPS 1000000
#define DECIDE_MAX_MEMORY ((size_t)64 << 20)
#define DECIDE_EVENT_ID "00000000-0000-7000-8000-000000000000"

/* payload_json: the event as JSON text (BORROWED); source: who asks ("hutchctl",
 * "console"). NEW document, or NULL with err (a policy error, or out of memory). */
json_t *policy_decide_json(policy_rules *rules, const char *schema, const char *payload_json, const char *source,
                           bool strict, char *err, size_t errlen);

#endif
