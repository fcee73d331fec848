# Falco events (falco JSON output / falcosidekick payload) -> Hutch alerts (ingest.falco).
#
# Input: {"rule", "priority", "output", "output_fields": {...}, "hostname", "tags", "time"}.
# Priorities Emergency, Alert, Critical, Error and Warning alert; Notice, Informational
# (Info) and Debug are dropped with a reason in `ignore`.
package ingest.falco

import rego.v1

alerting_priorities := {"emergency", "alert", "critical", "error", "warning"}

quiet_priorities := {"notice", "informational", "info", "debug"}

priority := lower(input.priority)

fields := object.get(input, "output_fields", {})

container_image := sprintf("%s:%s", [fields["container.image.repository"], fields["container.image.tag"]]) if {
	fields["container.image.tag"]
} else := object.get(fields, "container.image.repository", "")

attributes := [{"key": c[0], "value": c[1]} |
	some c in [
		["rule", input.rule],
		["priority", input.priority],
		["hostname", object.get(input, "hostname", "")],
		["container_id", object.get(fields, "container.id", "")],
		["container_name", object.get(fields, "container.name", "")],
		["container_image", container_image],
		["k8s_namespace", object.get(fields, "k8s.ns.name", "")],
		["k8s_pod", object.get(fields, "k8s.pod.name", "")],
		["user", object.get(fields, "user.name", "")],
		["proc_cmdline", object.get(fields, "proc.cmdline", "")],
		["file", object.get(fields, "fd.name", "")],
	]
	is_string(c[1])
	c[1] != ""
	c[1] != "<NA>"
]

ignore contains sprintf("falco priority %s is below Warning: %s", [input.priority, input.rule]) if {
	priority in quiet_priorities
}

ignore contains sprintf("unknown falco priority %v: %v", [object.get(input, "priority", null), object.get(input, "rule", null)]) if {
	not priority in quiet_priorities
	not priority in alerting_priorities
}

alerts contains {
	"title": input.rule,
	"description": input.output,
	"attributes": attributes,
	"tags": [t | some t in ({"falco", priority} | {t | some t in object.get(input, "tags", []); is_string(t)})],
} if {
	priority in alerting_priorities
	is_string(input.rule)
}
