package ingest.falco_test

import rego.v1

import data.ingest.falco

ev(p) := {"rule": "Terminal shell in container", "priority": p, "output": "out", "hostname": "node-1", "tags": ["container"],
	"output_fields": {"container.id": "abc", "container.image.repository": "img", "k8s.ns.name": "ns", "k8s.pod.name": "pod", "user.name": "root", "proc.cmdline": "bash"}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_warning_and_above_alert if {
	every p in ["Emergency", "Alert", "Critical", "Error", "Warning"] {
		count(falco.alerts) == 1 with input as ev(p)
	}
}

test_below_warning_ignored if {
	every p in ["Notice", "Informational", "Debug"] {
		count(falco.alerts) == 0 with input as ev(p)
		count(falco.ignore) == 1 with input as ev(p)
	}
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
