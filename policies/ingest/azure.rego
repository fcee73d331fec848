# Azure Activity Log and Microsoft Entra ID (sign-ins, risk detections, audit) records
# -> Hutch alerts (ingest.azure).
#
# Accepted shapes, one decision per record:
#   - diagnostic-settings export (Event Hub, storage): {"records": [<record>, ...]} or one
#     record {"time", "resourceId", "operationName", "category", "resultType",
#     "callerIpAddress", "identity", "level", "properties": {...}};
#   - Activity Log REST API entries ({"category": {"value"}, "operationName": {"value"},
#     "caller", "level", "status": {"value"}, "httpRequest": {"clientIpAddress"}, ...});
#   - Microsoft Graph signIn objects ({"userPrincipalName", "ipAddress",
#     "riskLevelDuringSignIn", "riskState", "status": {"errorCode"}, ...}) and
#     riskDetection objects ({"riskEventType", "riskLevel", "riskState", ...}).
# Detections: risky sign-ins (riskLevelDuringSignIn / riskLevelAggregated low, medium,
# high), Identity Protection risk detections (by riskLevel), failed sign-ins (low),
# security-category activity (Defender alerts in the Activity Log), role assignments,
# diagnostic settings / Key Vaults / policy assignments deleted, requests Azure Policy
# denied, Entra role and credential changes.
# Non-detections (ignored with a reason): successful sign-ins without risk, risk already
# dismissed / remediated / confirmed safe, every other administrative or audit operation
# (informational audit events), and the operational categories (ServiceHealth,
# ResourceHealth, Autoscale, Recommendation, Alert). Another category:
# "azure: unrecognised event (<category>)".
package ingest.azure

import rego.v1

import data.hutch.lib

source := "azure"

records contains r if {
	some r in input.records
	is_object(r)
}

records contains input if not is_array(object.get(input, "records", null))

value(v) := lib.str(v.value) if is_object(v)

else := lib.str(v)

props(r) := p if {
	p := object.get(r, "properties", {})
	is_object(p)
} else := {}

# a field of the record, else of its properties (Graph objects are flat)
f(r, k) := object.get(r, k, object.get(props(r), k, null))

category(r) := c if {
	c := value(object.get(r, "category", ""))
	c != ""
} else := "SignInLogs" if {
	f(r, "userPrincipalName") != null
	f(r, "riskLevelDuringSignIn") != null
} else := "UserRiskEvents" if {
	f(r, "riskEventType") != null
} else := ""

operation(r) := value(object.get(r, "operationName", ""))

level(r) := lib.str(object.get(r, "level", ""))

operational := {"ServiceHealth", "ResourceHealth", "Autoscale", "Recommendation", "Alert"}

signin_categories := {"SignInLogs", "NonInteractiveUserSignInLogs", "ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs"}

risk_categories := {"UserRiskEvents", "RiskyUsers", "RiskDetections"}

known := ((operational | signin_categories) | risk_categories) | {"Administrative", "Security", "Policy", "AuditLogs"}

risk_scale := {"low": "low", "medium": "medium", "high": "high"}

level_scale := {"Critical": "critical", "Error": "high", "Warning": "medium", "Informational": "info", "Verbose": "info"}

closed_risk := {"dismissed", "remediated", "confirmedSafe"}

# the higher of riskLevelDuringSignIn and riskLevelAggregated
signin_risk(r) := ls[0] if {
	levels := {lower(lib.str(f(r, k))) | some k in ["riskLevelDuringSignIn", "riskLevelAggregated"]}
	ls := [l | some l in ["high", "medium", "low"]; l in levels]
	count(ls) > 0
}

signin_error(r) := c if {
	c := object.get(f(r, "status"), "errorCode", 0)
	c != 0
}

admin_ops := {
	"microsoft.authorization/roleassignments/write": ["Azure role assignment created", "medium"],
	"microsoft.insights/diagnosticsettings/delete": ["Azure diagnostic setting deleted", "high"],
	"microsoft.keyvault/vaults/delete": ["Azure Key Vault deleted", "medium"],
	"microsoft.authorization/policyassignments/delete": ["Azure Policy assignment deleted", "medium"],
	"microsoft.network/networksecuritygroups/securityrules/write": ["Azure network security group rule changed", "low"],
	"microsoft.security/pricings/write": ["Microsoft Defender for Cloud plan changed", "medium"],
}

audit_ops := {
	"Add member to role": ["Entra ID role assigned", "medium"],
	"Add eligible member to role": ["Entra ID role made eligible", "low"],
	"Add service principal credentials": ["Entra ID service principal credentials added", "medium"],
	"Update conditional access policy": ["Entra ID conditional access policy changed", "medium"],
	"Delete conditional access policy": ["Entra ID conditional access policy deleted", "high"],
	"Disable Strong Authentication": ["Entra ID MFA disabled for a user", "high"],
}

succeeded(r) if not lower(value(object.get(r, "resultType", object.get(r, "status", "")))) in {"failure", "failed"}

detection(r) := {"title": sprintf("Entra ID risky sign-in (%s risk)", [signin_risk(r)]), "severity": risk_scale[signin_risk(r)]} if {
	category(r) in signin_categories
	not lower(lib.str(f(r, "riskState"))) in {lower(s) | some s in closed_risk}
} else := {"title": sprintf("Entra ID sign-in failure (%v)", [signin_error(r)]), "severity": "low"} if {
	category(r) in signin_categories
	signin_error(r)
} else := {"title": sprintf("Entra ID risk detection: %s", [lib.str(f(r, "riskEventType"))]), "severity": s} if {
	category(r) in risk_categories
	not lib.str(f(r, "riskState")) in closed_risk
	s := object.get(risk_scale, lower(lib.str(f(r, "riskLevel"))), "low")
} else := {"title": sprintf("Azure security event: %s", [t]), "severity": s} if {
	category(r) == "Security"
	t := security_title(r)
	s := object.get(level_scale, level(r), "medium")
} else := {"title": "Azure Policy denied a request", "severity": "low"} if {
	category(r) == "Policy"
	endswith(lower(operation(r)), "/deny/action")
} else := {"title": a[0], "severity": a[1]} if {
	category(r) == "Administrative"
	a := admin_ops[lower(operation(r))]
	succeeded(r)
} else := {"title": a[0], "severity": a[1]} if {
	category(r) == "AuditLogs"
	a := audit_ops[lib.str(f(r, "activityDisplayName"))]
} else := {"title": sprintf("Azure request denied: %s", [operation(r)]), "severity": "low"} if {
	category(r) == "Administrative"
	value(object.get(r, "resultSignature", object.get(r, "subStatus", ""))) in {"Forbidden", "Forbidden.AuthorizationFailed"}
}

security_title(r) := t if {
	t := lib.str(f(r, "alertDisplayName"))
	t != ""
} else := t if {
	t := lib.str(f(r, "eventName"))
	t != ""
} else := operation(r)

ignore contains sprintf("%s record: operational, not a security detection (%s)", [category(r), operation(r)]) if {
	some r in records
	category(r) in operational
}

ignore contains sprintf("successful sign-in without risk: %s", [lib.str(f(r, "userPrincipalName"))]) if {
	some r in records
	category(r) in signin_categories
	not detection(r)
	not signin_risk(r)
}

ignore contains sprintf("sign-in risk already %s: %s", [lib.str(f(r, "riskState")), lib.str(f(r, "userPrincipalName"))]) if {
	some r in records
	category(r) in signin_categories
	not detection(r)
	signin_risk(r)
}

ignore contains sprintf("risk already %s: %s", [lib.str(f(r, "riskState")), lib.str(f(r, "riskEventType"))]) if {
	some r in records
	category(r) in risk_categories
	not detection(r)
}

ignore contains sprintf("informational audit event: %s (%s)", [op_text(r), category(r)]) if {
	some r in records
	category(r) in {"Administrative", "Security", "Policy", "AuditLogs"}
	not detection(r)
}

op_text(r) := a if {
	a := lib.str(f(r, "activityDisplayName"))
	a != ""
} else := operation(r)

ignore contains "Azure diagnostic export with no records" if {
	is_array(input.records)
	count(input.records) == 0
}

unrecognised_kinds contains lib.kind(category(r), "category") if {
	some r in records
	not category(r) in known
}

ignore contains lib.unrecognised_reason(source, k) if {
	lib.strict(source)
	some k in unrecognised_kinds
}

actor(r) := a if {
	a := lib.str(f(r, "userPrincipalName"))
	a != ""
} else := a if {
	a := lib.str(object.get(r, "caller", ""))
	a != ""
} else := a if {
	a := lib.str(object.get(r, ["identity", "claims", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"], ""))
	a != ""
} else := lib.str(object.get(r, ["identity", "claims", "appid"], ""))

src_ip(r) := ip if {
	ip := lib.str(f(r, "ipAddress"))
	ip != ""
} else := ip if {
	ip := lib.str(object.get(r, "callerIpAddress", ""))
	ip != ""
} else := lib.str(object.get(r, ["httpRequest", "clientIpAddress"], ""))

resource_id(r) := lib.str(object.get(r, "resourceId", object.get(r, "resourceUri", "")))

portal_link(r) := sprintf("https://portal.azure.com/#resource%s", [resource_id(r)]) if startswith(resource_id(r), "/subscriptions/")

else := ""

attributes(r) := lib.attrs([
	["actor", actor(r)],
	["src_ip", src_ip(r)],
	["category", category(r)],
	["operation", op_text(r)],
	["resource_id", resource_id(r), portal_link(r)],
	["app", lib.str(f(r, "appDisplayName"))],
	["risk_state", lib.str(f(r, "riskState"))],
	["risk_event_types", concat(",", [lib.str(t) | some t in object.get(props(r), "riskEventTypes_v2", object.get(r, "riskEventTypes_v2", []))])],
	["level", level(r)],
	["correlation_id", lib.str(object.get(r, "correlationId", f(r, "correlationId")))],
])

alerts contains {
	"title": d.title,
	"description": sprintf("Azure %s record: %s by %s from %s", [category(r), op_text(r), actor(r), src_ip(r)]),
	"attributes": attributes(r),
	"tags": ["azure", d.severity],
	"severity": d.severity,
} if {
	some r in records
	d := detection(r)
}

alerts contains lib.unrecognised_alert(source, k) if {
	not lib.strict(source)
	some k in unrecognised_kinds
}
