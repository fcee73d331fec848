# What every shipped ingest policy shares (package hutch.lib, not a schema: the policy
# service only looks under data.ingest / data.alert):
#
#   - the one Hutch severity scale: each alert a shipped policy returns carries
#     "severity", one of info | low | medium | high | critical, mapped by the policy
#     from the vendor's own scale (policies/README.md has the table);
#   - fail open: an event a policy does not recognise (neither one of its source's
#     detection shapes nor a known non-detection) becomes a low-severity alert titled
#     "<source>: unrecognised event (<its type field>)"; the raw event is stored with
#     the alert, so a person sees it and a rule can be written;
#   - strict per source: when data.hutch.config.strict_sources (a set or array of
#     schema names, "*" for all) names the source, such events are ignored instead,
#     with the reason "unrecognised <source> event (<type>): strict mode".
#     Give it as a data document (`policy test --data`, `opa -d`) or as a module:
#         package hutch.config
#         strict_sources := {"okta", "github"}
package hutch.lib

import rego.v1

severities := ["info", "low", "medium", "high", "critical"]

strict(source) if source in data.hutch.config.strict_sources

strict(_) if "*" in data.hutch.config.strict_sources

# The value of an event's type field as text, or what was missing.
kind(v, _) := v if {
	is_string(v)
	v != ""
}

kind(v, _) := sprintf("%v", [v]) if {
	not is_string(v)
	not is_null(v)
}

kind(v, field) := sprintf("no %s", [field]) if v == ""

kind(v, field) := sprintf("no %s", [field]) if is_null(v)

unrecognised_title(source, k) := sprintf("%s: unrecognised event (%s)", [source, k])

unrecognised_alert(source, k) := {
	"title": unrecognised_title(source, k),
	"description": sprintf("The %s policy does not recognise this event (%s): it is neither one of the source's detection shapes nor a known non-detection. The raw event is stored with this alert; write a rule for it, or name it as a non-detection in the policy's ignore set.", [source, k]),
	"attributes": [{"key": "event_type", "value": k}],
	"tags": [source, "unrecognised"],
	"severity": "low",
}

unrecognised_reason(source, k) := sprintf("unrecognised %s event (%s): strict mode (data.hutch.config.strict_sources)", [source, k])

# Attribute objects from [key, value] or [key, value, link] rows; empty, "<NA>" and
# non-string values are left out, an empty link is not set.
attrs(rows) := [a |
	some r in rows
	is_string(r[1])
	r[1] != ""
	r[1] != "<NA>"
	a := with_link({"key": r[0], "value": r[1]}, r)
]

with_link(a, r) := object.union(a, {"link": r[2]}) if {
	count(r) > 2
	is_string(r[2])
	r[2] != ""
} else := a

str(v) := v if is_string(v)

str(v) := sprintf("%v", [v]) if {
	not is_string(v)
	not is_null(v)
}

str(v) := "" if is_null(v)

# The first non-empty string of vals (in order), else "".
first(vals) := xs[0] if {
	xs := [x | some x in vals; is_string(x); x != ""]
	count(xs) > 0
} else := ""
