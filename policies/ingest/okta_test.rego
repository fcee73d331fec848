package ingest.okta_test

import rego.v1

import data.ingest.okta

ev(t, result, o) := object.union({"uuid": "e-1", "published": "2026-02-01T10:00:00.000Z", "eventType": t, "version": "0", "severity": "INFO",
	"displayMessage": "msg", "actor": {"id": "00u1", "type": "User", "alternateId": "dana@corp.example", "displayName": "Dana"},
	"client": {"ipAddress": "203.0.113.10"}, "outcome": {"result": result},
	"target": [{"id": "00u2", "type": "User", "alternateId": "lee@corp.example", "displayName": "Lee"}]}, o)

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_failed_sign_in_is_low if {
	some a in okta.alerts with input as ev("user.session.start", "FAILURE", {"outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"}})
	a.title == "Okta authentication failure (user.session.start)"
	a.severity == "low"
	attr(a, "actor") == {"dana@corp.example"}
	attr(a, "src_ip") == {"203.0.113.10"}
	attr(a, "target") == {"lee@corp.example"}
	attr(a, "outcome_reason") == {"INVALID_CREDENTIALS"}
}

test_mfa_failure_and_policy_denial if {
	some a in okta.alerts with input as ev("user.authentication.auth_via_mfa", "FAILURE", {})
	a.severity == "low"
	some b in okta.alerts with input as ev("policy.evaluate_sign_on", "DENY", {})
	b.title == "Okta sign-on policy denied access"
	b.severity == "low"
}

test_security_events if {
	some a in okta.alerts with input as ev("security.threat.detected", "DENY", {"severity": "WARN"})
	a.title == "Okta security event: security.threat.detected"
	a.severity == "high"
	some b in okta.alerts with input as ev("user.account.lock", "SUCCESS", {})
	b.severity == "medium"
}

test_super_admin_grant_is_critical if {
	i := ev("user.account.privilege.grant", "SUCCESS", {"debugContext": {"debugData": {"privilegeGranted": "Super administrator"}}})
	some a in okta.alerts with input as i
	a.severity == "critical"
	some b in okta.alerts with input as ev("user.account.privilege.grant", "SUCCESS", {})
	b.severity == "high"
}

test_anonymizing_proxy if {
	some a in okta.alerts with input as ev("user.session.start", "SUCCESS", {"securityContext": {"isProxy": true, "domain": "tor.example"}})
	a.title == "Okta sign-in through an anonymizing proxy"
	a.severity == "medium"
	attr(a, "proxy_domain") == {"tor.example"}
}

test_lowercase_keys if {
	i := {"eventtype": "user.mfa.factor.deactivate", "severity": "INFO", "displaymessage": "x", "actor": {"alternateId": "a@corp.example"}, "outcome": {"result": "SUCCESS"}}
	some a in okta.alerts with input as i
	a.title == "Okta MFA factor removed (user.mfa.factor.deactivate)"
}

test_warn_severity_events if {
	some a in okta.alerts with input as ev("app.generic.unauth_app_access_attempt", "SUCCESS", {"severity": "WARN"})
	a.severity == "medium"
	some b in okta.alerts with input as ev("system.org.rate_limit.violation", "SUCCESS", {"severity": "ERROR"})
	b.severity == "high"
}

test_ordinary_sign_in_ignored if {
	i := ev("user.session.start", "SUCCESS", {})
	count(okta.alerts) == 0 with input as i
	okta.ignore == {"informational audit event: user.session.start (SUCCESS, severity INFO)"} with input as i
}

test_event_hook_delivery if {
	i := {"eventType": "com.okta.event_hook", "data": {"events": [ev("user.session.start", "FAILURE", {}), ev("user.session.start", "SUCCESS", {"uuid": "e-2"})]}}
	count(okta.alerts) == 1 with input as i
	count(okta.ignore) == 1 with input as i
}

test_logs_api_page if {
	i := [ev("user.session.start", "FAILURE", {}), ev("user.account.lock", "SUCCESS", {}), ev("user.session.start", "SUCCESS", {})]
	count(okta.alerts) == 2 with input as i
	count(okta.ignore) == 1 with input as i
}

test_unrecognised if {
	i := ev("user.lifecycle.something_new", "UNKNOWN", {})
	some a in okta.alerts with input as i
	a.title == "okta: unrecognised event (user.lifecycle.something_new)"
	a.severity == "low"
	count(okta.alerts) == 0 with input as i with data.hutch.config.strict_sources as ["okta"]
	okta.ignore == {"unrecognised okta event (user.lifecycle.something_new): strict mode (data.hutch.config.strict_sources)"} with input as i with data.hutch.config.strict_sources as ["okta"]
	some b in okta.alerts with input as {"foo": 1}
	b.title == "okta: unrecognised event (no eventType)"
}
