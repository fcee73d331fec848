# Suricata EVE JSON (eve.json lines) -> Hutch alerts (ingest.suricata).
#
# Input: {"event_type", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "app_proto",
# "alert": {"signature", "signature_id", "category", "severity", "action"}, "http" | "tls" |
# "dns": {...}, "host"}. Only event_type "alert" alerts, and only severities 1 (high) to 3
# (low); every other event type (flow, dns, http, ... when a router forwards the whole
# file) and severity 4 and above are dropped with a reason in `ignore`.
package ingest.suricata

import rego.v1

max_severity := 3

alert := input.alert if input.event_type == "alert"

severity := to_number(object.get(alert, "severity", 3))

# the name the traffic was for, when the protocol log has one
server_name := object.get(input, ["http", "hostname"], object.get(input, ["tls", "sni"], object.get(input, ["dns", "rrname"], "")))

attributes := [{"key": c[0], "value": c[1]} |
	some c in [
		["src_ip", object.get(input, "src_ip", "")],
		["src_port", sprintf("%v", [object.get(input, "src_port", "")])],
		["dest_ip", object.get(input, "dest_ip", "")],
		["dest_port", sprintf("%v", [object.get(input, "dest_port", "")])],
		["proto", object.get(input, "proto", "")],
		["app_proto", object.get(input, "app_proto", "")],
		["server_name", server_name],
		["signature_id", sprintf("%v", [object.get(alert, "signature_id", "")])],
		["category", object.get(alert, "category", "")],
		["severity", sprintf("%v", [severity])],
		["action", object.get(alert, "action", "")],
		["sensor", object.get(input, "host", "")],
	]
	is_string(c[1])
	c[1] != ""
]

ignore contains sprintf("suricata event_type %v is not an alert", [object.get(input, "event_type", null)]) if {
	input.event_type != "alert"
}

ignore contains "not a Suricata EVE event (no event_type)" if not input.event_type

ignore contains sprintf("suricata severity %v > %d: %s", [severity, max_severity, alert.signature]) if {
	severity > max_severity
}

alerts contains {
	"title": alert.signature,
	"description": sprintf("%s: %s:%v -> %s:%v (%s)", [
		object.get(alert, "category", "Suricata alert"),
		object.get(input, "src_ip", "?"), object.get(input, "src_port", "?"),
		object.get(input, "dest_ip", "?"), object.get(input, "dest_port", "?"),
		object.get(input, "proto", "?"),
	]),
	"attributes": attributes,
	"tags": ["suricata", lower(object.get(alert, "category", "alert"))],
} if {
	is_string(alert.signature)
	severity <= max_severity
}
