package ingest.microsoft_sentinel_test

import rego.v1

import data.ingest["microsoft-sentinel"] as sentinel

inc(sev, status) := {"id": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws/providers/Microsoft.SecurityInsights/Incidents/i-1",
	"name": "i-1", "type": "Microsoft.SecurityInsights/Incidents",
	"properties": {"title": "Multi-stage attack on vm-3", "description": "Sign-in from a Tor exit node followed by mass download", "severity": sev, "status": status,
		"incidentNumber": 1207, "incidentUrl": "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/i-1",
		"owner": {"userPrincipalName": "soc@corp.example"}, "classification": "TruePositive",
		"additionalData": {"alertsCount": 3, "tactics": ["InitialAccess", "Exfiltration"], "alertProductNames": ["Azure Sentinel"]},
		"relatedEntities": [{"kind": "Account", "properties": {"accountName": "robin", "userPrincipalName": "robin@corp.example"}}, {"kind": "Ip", "properties": {"address": "203.0.113.99"}}, {"kind": "Host", "properties": {"hostName": "vm-3"}}]}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_incident if {
	some a in sentinel.alerts with input as inc("High", "New")
	a.title == "Sentinel incident: Multi-stage attack on vm-3"
	a.severity == "high"
	attr(a, "tactic") == {"InitialAccess", "Exfiltration"}
	attr(a, "account") == {"robin@corp.example"}
	attr(a, "src_ip") == {"203.0.113.99"}
	attr(a, "host") == {"vm-3"}
	attr(a, "owner") == {"soc@corp.example"}
	some x in a.attributes
	x.key == "incident_number"
	x.value == "1207"
	x.link == "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/i-1"
}

test_severity_scale if {
	every v, s in {"High": "high", "Medium": "medium", "Low": "low", "Informational": "info"} {
		some a in sentinel.alerts with input as inc(v, "Active")
		a.severity == s
	}
}

test_playbook_trigger_and_list if {
	count(sentinel.alerts) == 1 with input as {"object": inc("Medium", "New"), "workspaceId": "ws"}
	count(sentinel.alerts) == 2 with input as {"value": [inc("Medium", "New"), json.patch(inc("Low", "New"), [{"op": "replace", "path": "/properties/title", "value": "Other"}])]}
}

test_closed_ignored if {
	count(sentinel.alerts) == 0 with input as inc("High", "Closed")
	sentinel.ignore == {"incident 1207 closed (TruePositive): a status update of an incident already raised"} with input as inc("High", "Closed")
}

test_security_incident_row if {
	i := {"TenantId": "t", "IncidentName": "i-2", "Title": "Brute force against Azure Portal", "Severity": "Medium", "Status": "New", "IncidentNumber": 88,
		"IncidentUrl": "https://portal.azure.com/#asset/x/Incident/i-2", "Owner": "{\"assignedTo\":\"Sam\"}", "AdditionalData": "{\"alertsCount\":5,\"tactics\":[\"CredentialAccess\"]}"}
	some a in sentinel.alerts with input as i
	a.severity == "medium"
	attr(a, "owner") == {"Sam"}
	attr(a, "tactic") == {"CredentialAccess"}
	attr(a, "alerts_count") == {"5"}
}

test_unrecognised if {
	some a in sentinel.alerts with input as {"type": "Microsoft.SecurityInsights/Bookmarks", "properties": {"displayName": "b"}}
	a.title == "microsoft-sentinel: unrecognised event (Microsoft.SecurityInsights/Bookmarks)"
	a.severity == "low"
	count(sentinel.alerts) == 0 with input as {"foo": 1} with data.hutch.config.strict_sources as ["microsoft-sentinel"]
}
