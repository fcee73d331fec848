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

test_high_detection_severity if {
	some a in crowdstrike.alerts with input as det("High", 4)
	a.severity == "high"
	some x in a.attributes
	x.key == "detection_id"
	x.link == "https://falcon.example/d/1"
}

test_low_and_informational_alert_low_and_info if {
	some a in crowdstrike.alerts with input as det("Low", 2)
	a.severity == "low"
	a.title == "CrowdStrike Low detection: Beacon"
	some b in crowdstrike.alerts with input as det("Informational", 1)
	b.severity == "info"
}

test_severity_name_from_number if {
	i := {"metadata": {"eventType": "EppDetectionSummaryEvent"}, "event": {"Name": "Ransomware", "Severity": 95, "Hostname": "h1", "CompositeId": "c:1"}}
	some a in crowdstrike.alerts with input as i
	a.title == "CrowdStrike Critical detection: Ransomware"
	a.severity == "critical"
	attr(a, "hostname") == {"h1"}
}

test_identity_and_mobile_detections if {
	idp := {"metadata": {"eventType": "IdpDetectionSummaryEvent"}, "event": {"Name": "Credential scanning", "SeverityName": "Medium", "SourceAccountUpn": "bob@corp.example", "SourceAccountName": "bob", "SourceEndpointIpAddress": "10.0.0.9", "TargetAccountName": "svc-db"}}
	some a in crowdstrike.alerts with input as idp
	a.severity == "medium"
	attr(a, "user") == {"bob@corp.example"}
	attr(a, "src_ip") == {"10.0.0.9"}
	attr(a, "target_account") == {"svc-db"}
	mob := {"metadata": {"eventType": "MobileDetectionSummaryEvent"}, "event": {"Name": "Jailbroken device", "Severity": 50, "ComputerName": "iphone-7"}}
	some b in crowdstrike.alerts with input as mob
	b.severity == "medium"
}

test_flattened_siem_connector if {
	i := {"ExternalApiType": "Event_XdrDetectionSummaryEvent", "Name": "Lateral tool transfer", "SeverityName": "High", "Hostname": "srv-2"}
	some a in crowdstrike.alerts with input as i
	a.severity == "high"
}

test_alerts_api if {
	i := {"composite_id": "cid:ind:1", "severity": 70, "display_name": "Malicious PowerShell", "device": {"hostname": "ws-3", "local_ip": "10.1.1.3"}, "user_name": "eve", "cmdline": "powershell -enc x", "falcon_host_link": "https://falcon.example/a/1"}
	some a in crowdstrike.alerts with input as i
	a.title == "CrowdStrike High detection: Malicious PowerShell"
	a.severity == "high"
	attr(a, "hostname") == {"ws-3"}
	attr(a, "command_line") == {"powershell -enc x"}
}

test_incident_by_fine_score if {
	i := {"metadata": {"eventType": "IncidentSummaryEvent"}, "event": {"IncidentID": "inc:1", "FineScore": 85, "State": "open", "FalconHostLink": "https://falcon.example/i/1", "LateralMovement": 1}}
	some a in crowdstrike.alerts with input as i
	a.title == "CrowdStrike incident (score 8.5)"
	a.severity == "critical"
	count(crowdstrike.alerts) == 1 with input as i
	some b in crowdstrike.alerts with input as json.patch(i, [{"op": "replace", "path": "/event/FineScore", "value": 30}])
	b.severity == "low"
}

test_audit_events_ignored if {
	i := {"metadata": {"eventType": "UserActivityAuditEvent"}, "event": {"OperationName": "detection_update", "UserId": "admin@corp.example"}}
	count(crowdstrike.alerts) == 0 with input as i
	crowdstrike.ignore == {"UserActivityAuditEvent: audit / session record, not a detection"} with input as i
}

test_unrecognised_event_type if {
	i := {"metadata": {"eventType": "BrandNewEvent"}, "event": {"X": 1}}
	some a in crowdstrike.alerts with input as i
	a.title == "crowdstrike: unrecognised event (BrandNewEvent)"
	a.severity == "low"
	count(crowdstrike.alerts) == 0 with input as i with data.hutch.config.strict_sources as ["crowdstrike"]
	crowdstrike.ignore == {"unrecognised crowdstrike event (BrandNewEvent): strict mode (data.hutch.config.strict_sources)"} with input as i with data.hutch.config.strict_sources as ["crowdstrike"]
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
	some a in crowdstrike.alerts with input as fdr({"event_simpleName": "ProcessRollup2", "ImageFileName": "\\Device\\X\\mimikatz.exe", "CommandLine": "mimikatz.exe"})
	a.severity == "high"
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
