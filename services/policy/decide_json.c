/* policy_decide_json (decide_json.h): policy_rules_decide and the decision as JSON. */
#include "services/policy/decide_json.h"

#include <stdio.h>
#include <string.h>

static json_t *alert_doc(const policy_alert *a)
{
    /* severity: the policy's, or null when it named none (enrich's normaliser decides) */
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "title", a->title ? a->title : "", "description",
                     a->description ? a->description : "", "namespace", a->namespace ? a->namespace : "", "source",
                     a->source ? a->source : "", "channel", a->channel ? a->channel : "", "severity",
                     a->severity && *a->severity ? json_string(a->severity) : json_null(), "severity_score",
                     a->severity && *a->severity ? json_integer(a->severity_score) : json_null(), "tags",
                     a->tags ? json_incref(a->tags) : json_array(), "attributes",
                     a->attributes ? json_incref(a->attributes) : json_array());
}

json_t *policy_decide_json(policy_rules *rules, const char *schema, const char *payload_json, const char *source,
                           bool strict, char *err, size_t errlen)
{
    policy_decision d;
    memset(&d, 0, sizeof d);
    policy_rules_options o = {.strict = strict, .max_steps = DECIDE_MAX_STEPS, .max_memory = DECIDE_MAX_MEMORY};
    policy_input in = {.event_id = DECIDE_EVENT_ID, .schema = schema, .source = source, .payload_json = payload_json};
    json_t *doc = NULL;
    if (policy_rules_decide(rules, &o, &in, &d, err, errlen) == 0) {
        json_t *alerts = json_array();
        for (size_t i = 0; alerts && i < d.count; i++)
            json_array_append_new(alerts, alert_doc(&d.alerts[i]));
        doc = json_pack("{s:s,s:s,s:s,s:o,s:o*}", "schema", schema, "package", d.package ? d.package : "", "status",
                        d.count ? "accepted" : "ignored", "reason", d.reason ? json_string(d.reason) : json_null(),
                        "alerts", alerts);
        if (!doc)
            snprintf(err, errlen, "out of memory");
    }
    policy_decision_free(&d);
    return doc;
}
