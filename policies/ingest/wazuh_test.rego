package ingest.wazuh_test

import rego.v1

import data.ingest.wazuh

ev(l) := {"rule": {"level": l, "description": "sshd: brute force", "id": "5763", "mitre": {"id": ["T1110"]}},
	"agent": {"name": "db-01"}, "data": {"srcip": "192.0.2.45", "srcuser": "admin"}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_level_7_alerts if {
	some a in wazuh.alerts with input as ev(7)
	attr(a, "agent") == {"db-01"}
	attr(a, "srcip") == {"192.0.2.45"}
	attr(a, "srcuser") == {"admin"}
	attr(a, "rule_id") == {"5763"}
	attr(a, "level") == {"7"}
	attr(a, "mitre_id") == {"T1110"}
	a.severity == "medium"
}

test_level_severity if {
	every l, s in {4: "low", 6: "low", 7: "medium", 11: "medium", 12: "high", 14: "high", 15: "critical"} {
		some a in wazuh.alerts with input as ev(l)
		a.severity == s
	}
}

test_level_3_ignored if {
	count(wazuh.alerts) == 0 with input as ev(3)
	wazuh.ignore == {"wazuh rule level 3 <= 3 (system notification or successful / authorized event, an informational audit event): sshd: brute force (rule 5763)"} with input as ev(3)
}

test_level_as_string if {
	some a in wazuh.alerts with input as ev("10")
	a.severity == "medium"
}

test_agent_lifecycle_ignored if {
	i := {"rule": {"level": 3, "description": "Wazuh agent started.", "id": "503", "groups": ["ossec"]}, "agent": {"name": "web-1"}}
	count(wazuh.alerts) == 0 with input as i
	wazuh.ignore == {"agent lifecycle notice (rule 503): Wazuh agent started."} with input as i
}

test_active_response_ignored if {
	i := {"version": 1, "origin": {"name": "node01", "module": "wazuh-execd"}, "command": "add", "parameters": {"extra_args": [], "alert": {"rule": {"level": 10, "id": "5763"}}, "program": "active-response/bin/firewall-drop"}}
	count(wazuh.alerts) == 0 with input as i
	wazuh.ignore == {"active-response record (Wazuh's own response action, not a detection)"} with input as i
	j := {"rule": {"level": 3, "description": "Host Blocked by firewall-drop Active Response", "id": "651", "groups": ["ossec", "active_response"]}}
	count(wazuh.alerts) == 0 with input as j
}

test_vulnerability_detector if {
	i := {"rule": {"level": 10, "description": "CVE-2024-0001 affects openssl", "id": "23505", "groups": ["vulnerability-detector"]}, "agent": {"name": "db-02"},
		"data": {"vulnerability": {"cve": "CVE-2024-0001", "severity": "High", "reference": "https://nvd.example/CVE-2024-0001", "package": {"name": "openssl"}}}}
	some a in wazuh.alerts with input as i
	a.title == "CVE-2024-0001 affects openssl: CVE-2024-0001 in openssl"
	some x in a.attributes
	x.key == "cve"
	x.link == "https://nvd.example/CVE-2024-0001"
}

test_sca_summary_ignored if {
	i := {"rule": {"level": 7, "description": "SCA summary", "id": "19004", "groups": ["sca"]}, "data": {"sca": {"type": "summary", "policy": "CIS Ubuntu"}}}
	count(wazuh.alerts) == 0 with input as i
	wazuh.ignore == {"SCA scan summary (scan-completed notice): CIS Ubuntu"} with input as i
}

test_wcs_finding if {
	i := {"@timestamp": "2026-01-01T00:00:00Z", "wazuh": {"agent": {"id": "003", "name": "ubuntu-1"}}, "event": {"kind": "alert", "category": ["authentication"]},
		"rule": {"name": "Multiple SSH failures", "id": "r-1", "level": "high"}, "source": {"ip": "203.0.113.4"}, "user": {"name": "root"}, "threat": {"technique": {"id": ["T1110"]}}}
	some a in wazuh.alerts with input as i
	a.title == "Multiple SSH failures"
	a.severity == "high"
	attr(a, "src_ip") == {"203.0.113.4"}
	attr(a, "mitre_id") == {"T1110"}
}

test_wcs_vulnerability if {
	i := {"wazuh": {"agent": {"name": "ubuntu-1"}}, "package": {"name": "curl", "version": "8.5.0"}, "vulnerability": {"id": "CVE-2024-1111", "severity": "Critical", "description": "heap overflow"}}
	some a in wazuh.alerts with input as i
	a.title == "Vulnerability CVE-2024-1111 in curl"
	a.severity == "critical"
}

test_wcs_telemetry_and_inventory_ignored if {
	t := {"wazuh": {"agent": {"name": "a"}}, "event": {"kind": "event", "category": ["process"]}, "process": {"name": "bash"}}
	count(wazuh.alerts) == 0 with input as t
	wazuh.ignore == {"normalized event event without a rule match (telemetry, not a detection)"} with input as t
	inv := {"wazuh": {"agent": {"name": "a"}}, "package": {"name": "curl"}}
	wazuh.ignore == {"inventory state document (not a detection)"} with input as inv
}

test_unrecognised if {
	some a in wazuh.alerts with input as {"message": "hello"}
	a.title == "wazuh: unrecognised event (no rule.level)"
	a.severity == "low"
	wazuh.ignore == {"unrecognised wazuh event (no rule.level): strict mode (data.hutch.config.strict_sources)"} with input as {"message": "hello"} with data.hutch.config.strict_sources as ["*"]
}
