# Okta System Log events (LogEvent objects of /api/v1/logs, Event Hooks, log streaming)
# -> Hutch alerts (ingest.okta).
#
# Input: one LogEvent {"uuid", "published", "eventType", "severity": DEBUG|INFO|WARN|ERROR,
# "displayMessage", "actor": {id, type, alternateId, displayName}, "client": {ipAddress,
# geographicalContext, userAgent}, "outcome": {result, reason}, "target": [...],
# "securityContext": {isProxy, ...}, "debugContext": {"debugData": {...}}}; an Event Hook
# delivery {"data": {"events": [...]}} and a /api/v1/logs page (a JSON array) give one
# decision per event. Keys are read in Okta's camelCase and all-lowercase (as some log
# pipelines store them).
#
# Detections: threat/security events (security.*), policy denials, failed sign-ins and
# MFA failures (low: the cluster service groups them into storm tickets), account lockout,
# admin privilege grants, MFA factors deactivated or reset, sign-ins through anonymizing
# proxies, API token creation, impersonation, anything Okta itself rates WARN or ERROR.
# Non-detections (ignored, reason in `ignore`): successful / allowed events Okta rates
# DEBUG or INFO (ordinary sign-ins, SSO, token grants, profile reads: informational audit
# events). Anything else: "okta: unrecognised event (<eventType>)".
package ingest.okta

import rego.v1

import data.hutch.lib

source := "okta"

events contains e if {
	some e in input.data.events
	is_object(e)
}

events contains e if {
	is_array(input)
	some e in input
	is_object(e)
}

events contains input if {
	is_object(input)
	not input.data.events
}

# camelCase first, then all-lowercase
g(e, k, d) := object.get(e, k, object.get(e, lower(k), d))

event_type(e) := g(e, "eventType", "")

outcome(e) := upper(lib.str(object.get(g(e, "outcome", {}), "result", "")))

okta_severity(e) := upper(lib.str(g(e, "severity", "INFO")))

security_context(e) := g(e, "securityContext", {})

debug_data(e) := object.get(g(e, "debugContext", {}), ["debugData"], {})

failed(e) if outcome(e) in {"FAILURE", "DENY"}

auth_types := {"user.session.start", "user.authentication.sso", "user.authentication.verify",
	"user.authentication.auth_via_mfa", "user.authentication.auth_via_richclient",
	"user.authentication.authenticate", "core.user.factor.attempt_fail", "user.mfa.attempt_bypass",
	"policy.evaluate_sign_on", "application.policy.sign_on.deny_access", "user.mfa.okta_verify.deny_push"}

# The detection an event is, first match wins; undefined when it is none.
detection(e) := {"title": sprintf("Okta security event: %s", [t]), "severity": "high"} if {
	t := lib.str(event_type(e))
	startswith(t, "security.")
} else := {"title": "User reported suspicious Okta activity", "severity": "high"} if {
	event_type(e) == "user.account.report_suspicious_activity_by_enduser"
} else := {"title": "Okta session impersonation", "severity": "high"} if {
	startswith(lib.str(event_type(e)), "user.session.impersonation.")
} else := {"title": "Okta admin privilege granted", "severity": privilege_severity(e)} if {
	event_type(e) in {"user.account.privilege.grant", "group.privilege.grant"}
} else := {"title": sprintf("Okta MFA factor removed (%s)", [event_type(e)]), "severity": "medium"} if {
	event_type(e) in {"system.mfa.factor.deactivate", "user.mfa.factor.deactivate", "user.mfa.factor.reset_all"}
} else := {"title": "Okta account locked out", "severity": "medium"} if {
	event_type(e) == "user.account.lock"
} else := {"title": "Okta API token created", "severity": "medium"} if {
	event_type(e) == "system.api_token.create"
} else := {"title": "Okta sign-in through an anonymizing proxy", "severity": "medium"} if {
	security_context(e).isProxy == true
} else := {"title": "Okta sign-on policy denied access", "severity": "low"} if {
	event_type(e) in {"policy.evaluate_sign_on", "application.policy.sign_on.deny_access"}
	failed(e)
} else := {"title": sprintf("Okta authentication failure (%s)", [event_type(e)]), "severity": "low"} if {
	event_type(e) in auth_types
	failed(e)
} else := {"title": sprintf("Okta %s event: %s", [okta_severity(e), event_type(e)]), "severity": okta_scale[okta_severity(e)]} if {
	okta_severity(e) in {"WARN", "ERROR"}
}

privilege_severity(e) := "critical" if contains(lib.str(object.get(debug_data(e), "privilegeGranted", "")), "Super administrator")

else := "high"

# Okta's LogEvent.severity
okta_scale := {"DEBUG": "info", "INFO": "info", "WARN": "medium", "ERROR": "high"}

routine(e) if {
	not detection(e)
	outcome(e) in {"SUCCESS", "ALLOW"}
	okta_severity(e) in {"DEBUG", "INFO"}
}

unrecognised(e) if {
	not detection(e)
	not routine(e)
}

ignore contains sprintf("informational audit event: %s (%s, severity %s)", [event_type(e), outcome(e), okta_severity(e)]) if {
	some e in events
	routine(e)
}

ignore contains "Okta Event Hook delivery with no events" if {
	is_array(input.data.events)
	count(input.data.events) == 0
}

ignore contains lib.unrecognised_reason(source, lib.kind(event_type(e), "eventType")) if {
	lib.strict(source)
	some e in events
	unrecognised(e)
}

actor(e) := object.get(g(e, "actor", {}), "alternateId", "")

client_ip(e) := object.get(g(e, "client", {}), "ipAddress", "")

targets(e) := [t.alternateId | some t in g(e, "target", []); is_string(t.alternateId)]

attributes(e) := array.concat(
	lib.attrs([
		["actor", actor(e)],
		["actor_name", object.get(g(e, "actor", {}), "displayName", "")],
		["src_ip", client_ip(e)],
		["event_type", event_type(e)],
		["outcome", outcome(e)],
		["outcome_reason", object.get(g(e, "outcome", {}), "reason", "")],
		["okta_severity", okta_severity(e)],
		["proxy_domain", object.get(security_context(e), "domain", "")],
		["event_id", g(e, "uuid", "")],
	]),
	[{"key": "target", "value": t} | some t in targets(e)],
)

alerts contains {
	"title": d.title,
	"description": sprintf("%s: %s by %s from %s", [g(e, "displayMessage", event_type(e)), outcome(e), actor(e), client_ip(e)]),
	"attributes": attributes(e),
	"tags": ["okta", d.severity],
	"severity": d.severity,
} if {
	some e in events
	d := detection(e)
}

alerts contains lib.unrecognised_alert(source, lib.kind(event_type(e), "eventType")) if {
	not lib.strict(source)
	some e in events
	unrecognised(e)
}
