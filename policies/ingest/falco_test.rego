package ingest.falco_test

import rego.v1

import data.ingest.falco

ev(p) := {"rule": "Terminal shell in container", "priority": p, "output": "out", "hostname": "node-1", "tags": ["container"],
	"output_fields": {"container.id": "abc", "container.image.repository": "img", "k8s.ns.name": "ns", "k8s.pod.name": "pod", "user.name": "root", "proc.cmdline": "bash"}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_every_priority_alerts_with_its_severity if {
	every p, s in {"Emergency": "critical", "Alert": "critical", "Critical": "critical", "Error": "high", "Warning": "medium", "Notice": "low", "Informational": "info", "INFO": "info"} {
		count(falco.alerts) == 1 with input as ev(p)
		some a in falco.alerts with input as ev(p)
		a.severity == s
	}
}

prod(ns) := object.union(ev("Notice"), {"output_fields": object.union(ev("Notice").output_fields, {"k8s.ns.name": ns})})

test_shell_in_production_container_is_critical if {
	some a in falco.alerts with input as prod("production")
	a.severity == "critical"
	some b in falco.alerts with input as prod("staging")
	b.severity == "low"
	some c in falco.alerts with input as prod("payments-live") with data.hutch.config.production_namespaces as ["payments-live"]
	c.severity == "critical"
	some d in falco.alerts with input as prod("production") with data.hutch.config.production_namespaces as ["payments-live"]
	d.severity == "low"
}

test_debug_ignored if {
	count(falco.alerts) == 0 with input as ev("Debug")
	falco.ignore == {"falco debug-priority event (Falco's own diagnostics, not a detection): Terminal shell in container"} with input as ev("Debug")
}

test_sidekick_test_event_ignored if {
	i := {"rule": "Test rule", "priority": "Debug", "output": "This is a test from falcosidekick", "output_fields": {}}
	count(falco.alerts) == 0 with input as i
	falco.ignore == {"falcosidekick test event (a connectivity check)"} with input as i
}

test_internal_metrics_ignored if {
	i := {"rule": "Falco internal: metrics snapshot", "priority": "Informational", "output": "Falco metrics snapshot", "output_fields": {"falco.version": "0.39.0"}}
	count(falco.alerts) == 0 with input as i
	count(falco.ignore) == 1 with input as i
}

test_k8s_audit_source if {
	i := {"rule": "Attach/Exec Pod", "priority": "Notice", "source": "k8s_audit", "output": "exec", "output_fields": {"ka.user.name": "dev@corp.example", "ka.target.namespace": "prod", "ka.target.resource": "pods", "ka.target.name": "api-0"}}
	some a in falco.alerts with input as i
	a.severity == "low"
	attr(a, "k8s_user") == {"dev@corp.example"}
	attr(a, "k8s_target") == {"prod/pods/api-0"}
}

test_sidekick_batch if count(falco.alerts) == 2 with input as [ev("Critical"), object.union(ev("Warning"), {"rule": "Other"})]

test_unrecognised if {
	some a in falco.alerts with input as {"priority": "Critical", "output": "no rule"}
	a.title == "falco: unrecognised event (no rule)"
	a.severity == "low"
	some b in falco.alerts with input as ev("Loud")
	b.title == "falco: unrecognised event (Loud)"
	count(falco.alerts) == 0 with input as ev("Loud") with data.hutch.config.strict_sources as {"falco"}
}

test_attributes if {
	some a in falco.alerts with input as ev("Critical")
	attr(a, "container_id") == {"abc"}
	attr(a, "container_image") == {"img"}
	attr(a, "k8s_namespace") == {"ns"}
	attr(a, "k8s_pod") == {"pod"}
	attr(a, "user") == {"root"}
	attr(a, "proc_cmdline") == {"bash"}
	attr(a, "hostname") == {"node-1"}
	"container" in a.tags
}
