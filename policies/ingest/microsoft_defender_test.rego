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

test_severity_scale if {
	every v, s in {"High": "high", "Medium": "medium", "Low": "low", "Informational": "info", "UnknownFutureValue": "medium"} {
		some a in mde.alerts with input as al(v, "New")
		a.severity == s
	}
}

test_resolved_ignored if {
	count(mde.alerts) == 0 with input as al("High", "Resolved")
	mde.ignore == {"alert already resolved (a status update): Suspicious"} with input as al("High", "Resolved")
}

test_defender_for_cloud_arm_alert if {
	i := {"id": "/subscriptions/s1/providers/Microsoft.Security/locations/westeurope/alerts/2517", "name": "2517", "type": "Microsoft.Security/Locations/alerts",
		"properties": {"alertDisplayName": "Suspicious process executed", "severity": "High", "status": "Active", "compromisedEntity": "vm-web-01",
			"alertUri": "https://portal.azure.com/#blade/Microsoft_Azure_Security/AlertBlade/alertId/2517", "productName": "Microsoft Defender for Cloud", "alertType": "VM_SuspectProcess",
			"entities": [{"type": "ip", "address": "198.51.100.20"}, {"type": "host", "hostName": "vm-web-01"}]}}
	some a in mde.alerts with input as i
	a.title == "Suspicious process executed"
	a.severity == "high"
	attr(a, "device") == {"vm-web-01"}
	attr(a, "src_ip") == {"198.51.100.20"}
	some x in a.attributes
	x.key == "alert_id"
	x.link == "https://portal.azure.com/#blade/Microsoft_Azure_Security/AlertBlade/alertId/2517"
}

test_defender_for_cloud_export_shape if {
	i := {"AlertDisplayName": "Access from a Tor exit node", "Severity": "Medium", "CompromisedEntity": "storage-acct-1", "SystemAlertId": "a-77", "Status": "Active",
		"Entities": [{"Type": "ip", "Address": "203.0.113.66"}, {"Type": "account", "Name": "sa-reader"}], "AlertUri": "https://portal.azure.com/#alert/a-77"}
	some a in mde.alerts with input as i
	a.severity == "medium"
	attr(a, "src_ip") == {"203.0.113.66"}
	attr(a, "account") == {"sa-reader"}
}

test_security_alert_table_row if {
	i := {"AlertName": "Brute force attack", "AlertSeverity": "Low", "CompromisedEntity": "vm-2", "SystemAlertId": "s-9", "ProviderName": "ASC", "Status": "New",
		"Entities": "[{\"Type\":\"ip\",\"Address\":\"192.0.2.77\"}]", "AlertLink": "https://portal.azure.com/#alert/s-9"}
	some a in mde.alerts with input as i
	a.severity == "low"
	attr(a, "src_ip") == {"192.0.2.77"}
	count(mde.alerts) == 0 with input as object.union(i, {"Status": "Dismissed"})
}

test_alert_evidence_ignored if {
	i := {"category": "AdvancedHunting-AlertEvidence", "properties": {"AlertId": "a9", "EntityType": "Ip", "RemoteIP": "192.0.2.1"}}
	count(mde.alerts) == 0 with input as i
	mde.ignore == {"alert evidence record (an entity of alert a9, raised by its AlertInfo record)"} with input as i
}

test_unrecognised if {
	some a in mde.alerts with input as {"category": "AdvancedHunting-DeviceEvents", "properties": {}}
	a.title == "microsoft-defender: unrecognised event (AdvancedHunting-DeviceEvents)"
	a.severity == "low"
}

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
