# Sigma rule matches from a SIEM or a log scanner -> Hutch alerts (ingest.sigma).
#
# Accepted shapes, one alert per match (fields as the Sigma rule specification names
# them: title, id, level, status, description, tags, references, logsource):
#   - a flat match {"title", "level", "tags", "id", ...} with the matched event beside
#     it ("event", "document" or "fields"),
#   - {"rule": {title, level, tags, ...}, "event": {...}} (rule and event apart),
#   - Chainsaw's JSON output {"kind": "individual"|"aggregate", "name", "level",
#     "document": {"data": {...}} | "documents": [...], "timestamp"},
#   - Zircolite's JSON output {"title", "rule_level", "tags", "matches": [...]}.
# Severity: the rule's level (informational, low, medium, high, critical). A match of an
# informational rule is ignored: the Sigma specification says such rules enrich events
# and trigger no case. Anything without a title and a level is
# "sigma: unrecognised event (<level, or what was missing>)".
package ingest.sigma

import rego.v1

import data.hutch.lib

source := "sigma"

rule := input.rule if is_object(input.rule)

else := input

title := lib.str(object.get(rule, "title", object.get(rule, "name", "")))

level := lower(lib.str(object.get(rule, "level", object.get(rule, "rule_level", ""))))

levels := {"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}

severity := levels[level]

event := es[0] if {
	es := [e |
		some p in [["event"], ["document"], ["fields"], ["documents", 0], ["matches", 0]]
		e := object.get(input, p, null)
		is_object(e)
	]
	count(es) > 0
} else := {}

# the event as Windows / Sysmon (Chainsaw wraps it in data.Event.EventData), ECS or flat
ev_fields := object.union(event, object.get(event, ["data", "Event", "EventData"], object.get(event, ["Event", "EventData"], {})))

first(keys) := v if {
	vs := [v | some k in keys; v := lib.str(object.get(ev_fields, k, "")); v != ""]
	v := vs[0]
} else := ""

host := h if {
	h := first(["Computer", "hostname", "host", "ComputerName", "host.name"])
	h != ""
} else := lib.str(object.get(event, ["data", "Event", "System", "Computer"], object.get(event, ["host", "name"], "")))

techniques := {upper(substring(t, 7, -1)) |
	some t in object.get(rule, "tags", [])
	is_string(t)
	regex.match(`^attack\.t\d{4}`, t)
}

reference_rows := [["reference", r, r] | some r in object.get(rule, "references", []); is_string(r)]

attributes := array.concat(
	lib.attrs(array.concat([
		["rule_id", lib.str(object.get(rule, "id", ""))],
		["level", level],
		["host", host],
		["user", first(["User", "user", "SubjectUserName", "TargetUserName", "user.name", "UserName"])],
		["src_ip", first(["SourceIp", "IpAddress", "src_ip", "source.ip", "ClientIP"])],
		["dest_ip", first(["DestinationIp", "dst_ip", "destination.ip"])],
		["process", first(["Image", "process.executable", "NewProcessName"])],
		["command_line", first(["CommandLine", "process.command_line"])],
		["logsource", lib.str(object.get(rule, ["logsource", "product"], ""))],
	], reference_rows)),
	[{"key": "mitre_technique", "value": t} | some t in techniques],
)

ignore contains sprintf("informational Sigma rule (enrichment only, no case per the Sigma specification): %s", [title]) if {
	level == "informational"
	title != ""
}

unrecognised if title == ""

unrecognised if not levels[level]

kind := lib.str(object.get(rule, "level", object.get(rule, "rule_level", ""))) if level != ""

else := "no level" if title != ""

else := "no title"

ignore contains lib.unrecognised_reason(source, kind) if {
	unrecognised
	lib.strict(source)
}

alerts contains {
	"title": title,
	"description": d,
	"attributes": attributes,
	"tags": array.concat(["sigma", severity], [t | some t in object.get(rule, "tags", []); is_string(t)]),
	"severity": severity,
} if {
	not unrecognised
	level != "informational"
	d := lib.str(object.get(rule, "description", sprintf("Sigma rule %s matched on %s", [title, host])))
}

alerts contains lib.unrecognised_alert(source, kind) if {
	unrecognised
	not lib.strict(source)
}
