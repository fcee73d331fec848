package ingest.azure_test

import rego.v1

import data.ingest.azure

signin(o) := object.union({"time": "2026-02-01T10:00:00Z", "resourceId": "/tenants/t1/providers/Microsoft.aadiam", "operationName": "Sign-in activity",
	"category": "SignInLogs", "resultType": "0", "callerIpAddress": "203.0.113.80", "identity": "Robin",
	"properties": {"id": "s-1", "userPrincipalName": "robin@corp.example", "ipAddress": "203.0.113.80", "appDisplayName": "Azure Portal",
		"riskLevelDuringSignIn": "none", "riskLevelAggregated": "none", "riskState": "none", "riskEventTypes_v2": [], "status": {"errorCode": 0}}}, o)

with_props(p) := json.patch(signin({}), [{"op": "add", "path": sprintf("/properties/%s", [k]), "value": v} | some k, v in p])

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_risky_sign_in if {
	i := with_props({"riskLevelDuringSignIn": "high", "riskState": "atRisk", "riskEventTypes_v2": ["anonymizedIPAddress"]})
	some a in azure.alerts with input as i
	a.title == "Entra ID risky sign-in (high risk)"
	a.severity == "high"
	attr(a, "actor") == {"robin@corp.example"}
	attr(a, "src_ip") == {"203.0.113.80"}
	attr(a, "risk_event_types") == {"anonymizedIPAddress"}
	some b in azure.alerts with input as with_props({"riskLevelDuringSignIn": "medium", "riskState": "atRisk"})
	b.severity == "medium"
}

test_higher_of_the_two_risk_levels if {
	some a in azure.alerts with input as with_props({"riskLevelDuringSignIn": "low", "riskLevelAggregated": "high", "riskState": "atRisk"})
	a.severity == "high"
}

test_dismissed_risk_and_clean_sign_in_ignored if {
	count(azure.alerts) == 0 with input as with_props({"riskLevelDuringSignIn": "high", "riskState": "dismissed"})
	azure.ignore == {"sign-in risk already dismissed: robin@corp.example"} with input as with_props({"riskLevelDuringSignIn": "high", "riskState": "dismissed"})
	count(azure.alerts) == 0 with input as signin({})
	azure.ignore == {"successful sign-in without risk: robin@corp.example"} with input as signin({})
}

test_failed_sign_in_is_low if {
	some a in azure.alerts with input as with_props({"status": {"errorCode": 50126, "failureReason": "Invalid username or password"}})
	a.title == "Entra ID sign-in failure (50126)"
	a.severity == "low"
}

test_graph_sign_in_object if {
	i := {"id": "g-1", "userPrincipalName": "kai@corp.example", "ipAddress": "198.51.100.81", "riskLevelDuringSignIn": "low", "riskState": "atRisk", "status": {"errorCode": 0}}
	some a in azure.alerts with input as i
	a.severity == "low"
	attr(a, "actor") == {"kai@corp.example"}
}

test_risk_detection if {
	i := {"id": "r-1", "riskEventType": "unfamiliarFeatures", "riskLevel": "medium", "riskState": "atRisk", "userPrincipalName": "kai@corp.example", "ipAddress": "198.51.100.81", "activity": "signin"}
	some a in azure.alerts with input as i
	a.title == "Entra ID risk detection: unfamiliarFeatures"
	a.severity == "medium"
	count(azure.alerts) == 0 with input as object.union(i, {"riskState": "remediated"})
}

activity(op, cat, o) := object.union({"time": "2026-02-01T10:00:00Z", "resourceId": "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Insights/diagnosticSettings/ds1",
	"operationName": op, "category": cat, "resultType": "Success", "callerIpAddress": "198.51.100.90", "level": "Informational",
	"identity": {"claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "admin@corp.example"}}, "properties": {}}, o)

test_administrative_detections if {
	some a in azure.alerts with input as activity("MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE", "Administrative", {})
	a.title == "Azure diagnostic setting deleted"
	a.severity == "high"
	attr(a, "actor") == {"admin@corp.example"}
	some x in a.attributes
	x.key == "resource_id"
	x.link == "https://portal.azure.com/#resource/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Insights/diagnosticSettings/ds1"
	some b in azure.alerts with input as {"records": [activity("Microsoft.Authorization/roleAssignments/write", "Administrative", {})]}
	b.severity == "medium"
}

test_policy_deny_and_security if {
	some a in azure.alerts with input as activity("Microsoft.Authorization/policies/deny/action", "Policy", {"level": "Error"})
	a.severity == "low"
	some b in azure.alerts with input as activity("Microsoft.Security/locations/alerts/activate/action", "Security", {"level": "Warning", "properties": {"alertDisplayName": "Suspicious login"}})
	b.title == "Azure security event: Suspicious login"
	b.severity == "medium"
}

test_rest_api_entry if {
	i := {"caller": "ops@corp.example", "category": {"value": "Administrative"}, "operationName": {"value": "Microsoft.KeyVault/vaults/delete"}, "level": "Informational",
		"status": {"value": "Succeeded"}, "resourceId": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1", "httpRequest": {"clientIpAddress": "203.0.113.91"}}
	some a in azure.alerts with input as i
	a.title == "Azure Key Vault deleted"
	attr(a, "actor") == {"ops@corp.example"}
	attr(a, "src_ip") == {"203.0.113.91"}
}

test_non_detections_ignored if {
	r := activity("Microsoft.Compute/virtualMachines/write", "Administrative", {})
	count(azure.alerts) == 0 with input as r
	azure.ignore == {"informational audit event: Microsoft.Compute/virtualMachines/write (Administrative)"} with input as r
	h := activity("Microsoft.ResourceHealth/healthevent/Activated/action", "ResourceHealth", {})
	azure.ignore == {"ResourceHealth record: operational, not a security detection (Microsoft.ResourceHealth/healthevent/Activated/action)"} with input as h
}

test_unrecognised if {
	some a in azure.alerts with input as activity("x", "BrandNewCategory", {})
	a.title == "azure: unrecognised event (BrandNewCategory)"
	a.severity == "low"
	some b in azure.alerts with input as {"foo": 1}
	b.title == "azure: unrecognised event (no category)"
	count(azure.alerts) == 0 with input as {"foo": 1} with data.hutch.config.strict_sources as ["azure"]
}
