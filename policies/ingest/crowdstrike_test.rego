package ingest.crowdstrike_test

import rego.v1

import data.ingest.crowdstrike

det(name, sev) := {"metadata": {"eventType": "DetectionSummaryEvent"}, "event": {"DetectName": "Beacon", "DetectDescription": "d",
	"SeverityName": name, "Severity": sev, "ComputerName": "WS1", "UserName": "u1", "CommandLine": "x.exe", "SHA256String": "ab",
	"Tactic": "Command and Control", "Technique": "Encrypted Channel", "FalconHostLink": "https://falcon.example/d/1", "DetectId": "ldt:1"}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_high_detection if {
	some a in crowdstrike.alerts with input as det("High", 4)
	a.title == "CrowdStrike High detection: Beacon"
	attr(a, "hostname") == {"WS1"}
	attr(a, "sha256") == {"ab"}
	attr(a, "tactic") == {"Command and Control"}
}

test_low_ignored if {
	count(crowdstrike.alerts) == 0 with input as det("Low", 2)
	crowdstrike.ignore == {"low severity detection (Low): Beacon"} with input as det("Low", 2)
}

test_severity_from_number if {
	crowdstrike.severity_from_number(2) == "Low"
	crowdstrike.severity_from_number(5) == "Critical"
	crowdstrike.severity_from_number(70) == "High"
	crowdstrike.severity_from_number(30) == "Low"
}

fdr(ev) := {"fdr_event_type": ev.event_simpleName, "event": ev}

test_fdr_mimikatz if {
	count(crowdstrike.alerts) == 1 with input as fdr({"event_simpleName": "ProcessRollup2", "ImageFileName": "\\Device\\X\\mimikatz.exe", "CommandLine": "mimikatz.exe"})
}

test_fdr_netcat_listener_ignored if {
	i := fdr({"event_simpleName": "ProcessRollup2", "ImageFileName": "\\Device\\X\\nc.exe", "CommandLine": "nc.exe -l -p 80"})
	count(crowdstrike.alerts) == 0 with input as i
	crowdstrike.ignore == {"FDR ProcessRollup2 telemetry: no detection rule matched"} with input as i
}

test_fdr_dns_denylist if {
	count(crowdstrike.alerts) == 1 with input as fdr({"event_simpleName": "DnsRequest", "DomainName": "c2.example.org"})
	count(crowdstrike.alerts) == 0 with input as fdr({"event_simpleName": "DnsRequest", "DomainName": "example.com"})
}
