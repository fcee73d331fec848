# Wazuh alerts (alerts.json lines) -> Hutch alerts (ingest.wazuh).
#
# Input: {"rule": {"level", "description", "id", "mitre": {...}}, "agent": {...}, "data": {...}, "full_log"}.
# Rule level >= 7 alerts; lower levels are dropped with a reason in `ignore`.
package ingest.wazuh

import rego.v1

min_level := 7

level := to_number(input.rule.level)

data_field(k) := object.get(object.get(input, "data", {}), k, "")

attributes := array.concat(
	[{"key": c[0], "value": c[1]} |
		some c in [
			["agent", object.get(input, ["agent", "name"], "")],
			["agent_ip", object.get(input, ["agent", "ip"], "")],
			["srcip", data_field("srcip")],
			["srcuser", data_field("srcuser")],
			["dstuser", data_field("dstuser")],
			["rule_id", sprintf("%v", [input.rule.id])],
			["level", format_int(level, 10)],
			["file", object.get(input, ["syscheck", "path"], data_field("file"))],
		]
		is_string(c[1])
		c[1] != ""
	],
	[{"key": "mitre_id", "value": id} | some id in object.get(input, ["rule", "mitre", "id"], [])],
)

ignore contains sprintf("wazuh rule level %v < %d: %s (rule %v)", [input.rule.level, min_level, input.rule.description, input.rule.id]) if {
	level < min_level
}

ignore contains "not a Wazuh alert (no rule.level)" if not input.rule.level

alerts contains {
	"title": input.rule.description,
	"description": object.get(input, "full_log", input.rule.description),
	"attributes": attributes,
	"tags": [t | some t in ({"wazuh"} | {g | some g in object.get(input, ["rule", "groups"], []); is_string(g)})],
} if {
	level >= min_level
}
