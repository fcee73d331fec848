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

test_severity_scale if {
	every v, s in {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low", "SEVERITY_UNSPECIFIED": "medium"} {
		some a in scc.alerts with input as object.union(finding, {"severity": v})
		a.severity == s
	}
}

test_low_alerts if {
	some a in scc.alerts with input as object.union(finding, {"severity": "LOW"})
	a.severity == "low"
	count(scc.ignore) == 0 with input as object.union(finding, {"severity": "LOW"})
}

test_observation_and_scc_error_ignored if {
	obs := object.union(finding, {"findingClass": "OBSERVATION"})
	count(scc.alerts) == 0 with input as obs
	scc.ignore == {"observation (informational finding class): C2: Bad IP on //compute.googleapis.com/projects/p1/zones/z/instances/vm1"} with input as obs
	count(scc.alerts) == 0 with input as object.union(finding, {"findingClass": "SCC_ERROR"})
}

test_pubsub_push_envelope if {
	env := {"message": {"data": base64.encode(json.marshal(note(finding))), "messageId": "1", "attributes": {}}, "subscription": "projects/p/subscriptions/s"}
	some a in scc.alerts with input as env
	a.title == "C2: Bad IP in proj-one"
	a.severity == "high"
}

test_event_threat_detection_log_entry if {
	etd := {"logName": "projects/p1/logs/threatdetection.googleapis.com%2Fdetection", "insertId": "abc",
		"jsonPayload": {"detectionCategory": {"ruleName": "bad_domain", "subRuleName": "malware"}, "detectionPriority": "HIGH", "properties": {"project_id": "p1"}}}
	some a in scc.alerts with input as etd
	a.title == "ETD bad_domain: malware in p1"
	a.severity == "high"
}

test_not_a_finding_is_unrecognised if {
	some a in scc.alerts with input as {"jsonPayload": {}}
	a.title == "gcp-scc: unrecognised event (no finding with name and category)"
	a.severity == "low"
	count(scc.alerts) == 0 with input as {"jsonPayload": {}} with data.hutch.config.strict_sources as ["gcp-scc"]
	scc.ignore == {"unrecognised gcp-scc event (no finding with name and category): strict mode (data.hutch.config.strict_sources)"} with input as {"jsonPayload": {}} with data.hutch.config.strict_sources as ["gcp-scc"]
	some b in scc.alerts with input as {"message": {"data": "bm90IGpzb24="}}
	b.title == "gcp-scc: unrecognised event (undecodable Pub/Sub message data)"
}
