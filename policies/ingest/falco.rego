# Falco events (Falco's JSON output: json_output, http_output, program_output; the
# falcosidekick payload) -> Hutch alerts (ingest.falco).
#
# Input: {"uuid", "rule", "priority", "output", "output_fields": {...}, "source",
# "hostname", "tags", "time"}; a falcosidekick batch (JSON array) gives one decision per
# event. Every rule match alerts, whatever its priority: Emergency, Alert, Critical ->
# critical; Error -> high; Warning -> medium; Notice -> low; Informational / Info -> info.
# One raise: a shell in a container of a production namespace (shell_rules below; the
# namespaces are data.hutch.config.production_namespaces, default {"production", "prod"})
# is critical whatever the rule's priority -- Falco ships "Terminal shell in container" as
# Notice because kubectl exec is routine in development, not in production (seed 000's
# incident is exactly that shell).
# Attributes: container, image, k8s namespace / pod (syscall source) or the audited user,
# target namespace / resource (k8s_audit source), user, command line, file, host.
# Non-detections (ignored with a reason): Debug priority (Falco's own diagnostics),
# falcosidekick's test event ("Test rule"), Falco internal events (metrics snapshots,
# syscall drop reports). Anything else (no rule, unknown priority):
# "falco: unrecognised event (<priority>)".
package ingest.falco

import rego.v1

import data.hutch.lib

source := "falco"

scale := {"emergency": "critical", "alert": "critical", "critical": "critical", "error": "high",
	"warning": "medium", "notice": "low", "informational": "info", "info": "info"}

events contains e if {
	is_array(input)
	some e in input
	is_object(e)
}

events contains input if is_object(input)

priority(e) := lower(lib.str(object.get(e, "priority", "")))

rule(e) := lib.str(object.get(e, "rule", ""))

fields(e) := object.get(e, "output_fields", {})

internal(e) if startswith(rule(e), "Falco internal")

sidekick_test(e) if {
	rule(e) == "Test rule"
	contains(lib.str(object.get(e, "output", "")), "falcosidekick")
}

detection(e) if {
	scale[priority(e)]
	rule(e) != ""
	not internal(e)
	not sidekick_test(e)
}

ignore contains sprintf("falco debug-priority event (Falco's own diagnostics, not a detection): %s", [rule(e)]) if {
	some e in events
	priority(e) == "debug"
	not sidekick_test(e)
}

ignore contains "falcosidekick test event (a connectivity check)" if {
	some e in events
	sidekick_test(e)
}

ignore contains sprintf("%s: Falco's own health / metrics event", [rule(e)]) if {
	some e in events
	internal(e)
}

unrecognised(e) if {
	not detection(e)
	priority(e) != "debug"
	not internal(e)
	not sidekick_test(e)
}

kind(e) := lib.kind(object.get(e, "priority", ""), "priority") if rule(e) != ""

else := "no rule"

ignore contains lib.unrecognised_reason(source, kind(e)) if {
	lib.strict(source)
	some e in events
	unrecognised(e)
}

container_image(f) := sprintf("%s:%s", [f["container.image.repository"], f["container.image.tag"]]) if {
	is_string(f["container.image.tag"])
	is_string(f["container.image.repository"])
} else := lib.str(object.get(f, "container.image.repository", object.get(f, "container.image", "")))

fv(e, k) := lib.str(object.get(fields(e), k, ""))

attributes(e) := lib.attrs([
	["rule", rule(e)],
	["priority", lib.str(object.get(e, "priority", ""))],
	["hostname", lib.str(object.get(e, "hostname", ""))],
	["container_id", fv(e, "container.id")],
	["container_name", fv(e, "container.name")],
	["container_image", container_image(fields(e))],
	["k8s_namespace", fv(e, "k8s.ns.name")],
	["k8s_pod", fv(e, "k8s.pod.name")],
	["user", fv(e, "user.name")],
	["proc_cmdline", fv(e, "proc.cmdline")],
	["file", fv(e, "fd.name")],
	["src_ip", fv(e, "fd.cip")],
	["k8s_user", fv(e, "ka.user.name")],
	["k8s_target", concat("/", [x | some x in [fv(e, "ka.target.namespace"), fv(e, "ka.target.resource"), fv(e, "ka.target.name")]; x != ""])],
	["falco_source", lib.str(object.get(e, "source", ""))],
	["event_id", lib.str(object.get(e, "uuid", ""))],
])

shell_rules := {"Terminal shell in container", "Run shell untrusted", "Shell spawned by untrusted binary",
	"Redirect STDOUT/STDIN to Network Connection in Container", "Reverse shell"}

production_namespaces := {ns | some ns in data.hutch.config.production_namespaces} if {
	data.hutch.config.production_namespaces
} else := {"production", "prod"}

production_shell(e) if {
	rule(e) in shell_rules
	fv(e, "k8s.ns.name") in production_namespaces
}

severity(e) := "critical" if production_shell(e)

else := scale[priority(e)]

alerts contains {
	"title": rule(e),
	"description": lib.str(object.get(e, "output", rule(e))),
	"attributes": attributes(e),
	"tags": [t | some t in ({"falco", priority(e)} | {t | some t in object.get(e, "tags", []); is_string(t)})],
	"severity": severity(e),
} if {
	some e in events
	detection(e)
}

alerts contains lib.unrecognised_alert(source, kind(e)) if {
	not lib.strict(source)
	some e in events
	unrecognised(e)
}
