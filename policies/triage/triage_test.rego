# Tests of the shipped triage policy (seed 004's score table): hutchctl policy test
# --policy policies/triage (and opa test policies/triage).
package triage_test

import rego.v1

import data.triage

login_alert(attrs) := {
	"id": "01900000-0000-7000-8000-000000000001",
	"schema": "login",
	"tags": ["login", "high"],
	"metadata": {"title": "Multiple login failures", "attributes": [{"key": k, "value": v} | some k, v in attrs]},
	"data": null,
	"intel": [],
}

with_intel(alert, verdict) := object.union(alert, {"intel": [{"provider": "abuseipdb", "kind": "ip", "value": "185.199.108.153", "verdict": verdict}]})

test_non_domestic_and_malicious_ip_pages if {
	a := with_intel(login_alert({"source_ip": "185.199.108.153", "source_country": "RU"}), "malicious")
	triage.risk_score == 70 with input as {"alert": a, "enrich": []}
	triage.decision == "create_case_and_page" with input as {"alert": a, "enrich": []}
	triage.publish == "alert" with input as {"alert": a, "enrich": []}
	triage.page with input as {"alert": a, "enrich": []}
	triage.severity == "critical" with input as {"alert": a, "enrich": []}
}

test_non_domestic_alone_is_a_case_without_page if {
	a := login_alert({"source_country": "RU"})
	triage.risk_score == 40 with input as {"alert": a, "enrich": []}
	triage.decision == "create_case" with input as {"alert": a, "enrich": []}
	triage.publish == "alert" with input as {"alert": a, "enrich": []}
	not triage.page with input as {"alert": a, "enrich": []}
}

test_domestic_new_user_is_log_only if {
	a := login_alert({"source_country": "TH", "new_user": "true"})
	triage.risk_score == 25 with input as {"alert": a, "enrich": []}
	triage.decision == "ignore" with input as {"alert": a, "enrich": []}
	triage.publish == "discard" with input as {"alert": a, "enrich": []}
}

test_every_factor_sums if {
	a := with_intel(
		login_alert({"source_country": "RU", "new_user": "true", "time_of_day": "03:10", "mfa": "false"}),
		"suspicious",
	)
	triage.risk_score == 130 with input as {"alert": a, "enrich": []}
	triage.attr[2].value == "high_risk_ip +30, new_user +25, no_mfa +20, non_domestic_login +40, unusual_hour +15" with input as {"alert": a, "enrich": []}
}

test_sixty_nine_is_a_case if {
	# new user 25 + unusual hour 15 + no MFA 20 = 60, domestic
	a := login_alert({"country": "Thailand", "new_user": "yes", "login_hour": "23", "mfa_used": "no"})
	triage.risk_score == 60 with input as {"alert": a, "enrich": []}
	triage.decision == "create_case" with input as {"alert": a, "enrich": []}
}

test_factors_from_the_payload if {
	a := object.union(login_alert({}), {"data": {"source_country": "RU", "mfa": false, "time_of_day": "12:00"}})
	triage.risk_score == 60 with input as {"alert": a, "enrich": []}
}

test_enrich_result_marks_the_ip if {
	a := login_alert({"source_country": "TH"})
	triage.risk_score == 30 with input as {"alert": a, "enrich": [{"id": "ioc", "prompt": "p", "result": {"is_malicious": true}}]}
}

test_home_countries_setting if {
	a := login_alert({"source_country": "JP"})
	triage.risk_score == 0 with input as {"alert": a, "enrich": []} with data.hutch.config.home_countries as ["jp"]
	triage.risk_score == 40 with input as {"alert": a, "enrich": []}
}

test_other_alerts_get_no_decision if {
	a := {"id": "x", "schema": "guardduty", "tags": [], "metadata": {"attributes": [{"key": "source_country", "value": "RU"}]}, "intel": []}
	not triage.publish with input as {"alert": a, "enrich": []}
	not triage.attr with input as {"alert": a, "enrich": []}
	not triage.page with input as {"alert": a, "enrich": []}
}

test_garbage_hour_is_no_hour if {
	a := login_alert({"source_country": "TH", "login_hour": "late"})
	triage.risk_score == 0 with input as {"alert": a, "enrich": []}
	triage.publish == "discard" with input as {"alert": a, "enrich": []}
}
