package ingest.microsoft_defender_test

import rego.v1

import data.ingest["microsoft-defender"] as mde

al(sev, st) := {"id": "da1", "title": "Suspicious", "description": "d", "severity": sev, "status": st, "category": "Execution",
	"computerDnsName": "ws1.corp.example.com", "relatedUser": {"userName": "u", "domainName": "CORP"}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_high_alerts if {
	some a in mde.alerts with input as al("High", "New")
	attr(a, "device") == {"ws1.corp.example.com"}
	attr(a, "user") == {"CORP\\u"}
	attr(a, "alert_id") == {"da1"}
	attr(a, "severity") == {"high"}
}

test_medium_alerts if count(mde.alerts) == 1 with input as al("Medium", "InProgress")

test_low_and_informational_ignored if {
	count(mde.alerts) == 0 with input as al("Low", "New")
	count(mde.alerts) == 0 with input as al("Informational", "New")
	mde.ignore == {"low severity alert: Suspicious"} with input as al("Low", "New")
}

test_resolved_ignored if count(mde.alerts) == 0 with input as al("High", "Resolved")

test_portal_link if {
	some a in mde.alerts with input as object.union(al("high", "new"), {"alertWebUrl": "https://security.microsoft.com/alerts/da1"})
	some x in a.attributes
	x.key == "alert_id"
	x.link == "https://security.microsoft.com/alerts/da1"
}

test_streaming_alertinfo if {
	i := {"category": "AdvancedHunting-AlertInfo", "properties": {"AlertId": "a9", "Title": "T", "Severity": "High", "Category": "DefenseEvasion"}}
	some a in mde.alerts with input as i
	a.title == "T"
	attr(a, "alert_id") == {"a9"}
}
