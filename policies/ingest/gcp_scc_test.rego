package ingest.gcp_scc_test

import rego.v1

import data.ingest["gcp-scc"] as scc

finding := {"name": "organizations/1/sources/2/findings/3", "resourceName": "//compute.googleapis.com/projects/p1/zones/z/instances/vm1",
	"state": "ACTIVE", "category": "C2: Bad IP", "severity": "HIGH", "mute": "UNMUTED", "externalUri": "https://console.cloud.google.com/x"}

note(f) := {"notificationConfigName": "organizations/1/notificationConfigs/n", "finding": f, "resource": {"name": f.resourceName, "projectDisplayName": "proj-one", "displayName": "vm1"}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_notification if {
	some a in scc.alerts with input as note(finding)
	a.title == "C2: Bad IP in proj-one"
	attr(a, "resource") == {"vm1"}
	attr(a, "project") == {"proj-one"}
	attr(a, "category") == {"C2: Bad IP"}
	some x in a.attributes
	x.key == "external_uri"
	x.link == "https://console.cloud.google.com/x"
}

# one title for a kind of finding in a project, whatever the resource: one ticket
test_title_does_not_name_the_resource if {
	other := object.union(finding, {"resourceName": "//compute.googleapis.com/projects/p1/zones/z/instances/vm2"})
	some a in scc.alerts with input as finding
	some b in scc.alerts with input as other
	a.title == "C2: Bad IP in p1"
	b.title == a.title
	attr(b, "resource") == {"vm2"}
}

test_bare_finding_project_from_name if {
	some a in scc.alerts with input as finding
	attr(a, "project") == {"p1"}
	attr(a, "resource_name") == {finding.resourceName}
}

test_inactive if count(scc.alerts) == 0 with input as note(object.union(finding, {"state": "INACTIVE"}))

test_muted if count(scc.alerts) == 0 with input as note(object.union(finding, {"mute": "MUTED"}))

test_low if {
	count(scc.alerts) == 0 with input as object.union(finding, {"severity": "LOW"})
	count(scc.ignore) == 1 with input as object.union(finding, {"severity": "LOW"})
}

test_medium_alerts if count(scc.alerts) == 1 with input as object.union(finding, {"severity": "MEDIUM"})

test_not_a_finding if {
	count(scc.alerts) == 0 with input as {"jsonPayload": {}}
	count(scc.ignore) == 1 with input as {"jsonPayload": {}}
}
