package ingest.sigma_test

import rego.v1

import data.ingest.sigma

flat(level) := {"title": "Suspicious Encoded PowerShell Command Line", "id": "ca2092a1-c273-4878-9b4b-0d60115bf5ea", "status": "test", "level": level,
	"description": "Detects encoded PowerShell", "tags": ["attack.execution", "attack.t1059.001"], "references": ["https://attack.mitre.org/techniques/T1059/001/"],
	"logsource": {"product": "windows", "category": "process_creation"},
	"event": {"Computer": "WS-12", "User": "CORP\\kim", "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "CommandLine": "powershell -enc SQBFAFgA"}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_flat_match if {
	some a in sigma.alerts with input as flat("high")
	a.title == "Suspicious Encoded PowerShell Command Line"
	a.severity == "high"
	attr(a, "host") == {"WS-12"}
	attr(a, "user") == {"CORP\\kim"}
	attr(a, "command_line") == {"powershell -enc SQBFAFgA"}
	attr(a, "mitre_technique") == {"T1059.001"}
	some x in a.attributes
	x.key == "reference"
	x.link == "https://attack.mitre.org/techniques/T1059/001/"
	"attack.execution" in a.tags
}

test_levels if {
	every l, s in {"low": "low", "medium": "medium", "high": "high", "critical": "critical", "HIGH": "high"} {
		some a in sigma.alerts with input as flat(l)
		a.severity == s
	}
}

test_informational_ignored if {
	count(sigma.alerts) == 0 with input as flat("informational")
	sigma.ignore == {"informational Sigma rule (enrichment only, no case per the Sigma specification): Suspicious Encoded PowerShell Command Line"} with input as flat("informational")
}

test_rule_and_event_apart if {
	i := {"rule": {"title": "Failed logon burst", "level": "medium", "tags": ["attack.t1110"]}, "event": {"hostname": "dc-1", "src_ip": "198.51.100.3", "user": "admin"}}
	some a in sigma.alerts with input as i
	a.severity == "medium"
	attr(a, "host") == {"dc-1"}
	attr(a, "src_ip") == {"198.51.100.3"}
}

test_chainsaw_output if {
	i := {"group": "Sigma", "kind": "individual", "name": "Mimikatz Use", "level": "critical", "status": "stable", "authors": ["x"],
		"timestamp": "2026-02-01T10:00:00Z", "document": {"kind": "evtx", "data": {"Event": {"System": {"Computer": "srv-9"}, "EventData": {"CommandLine": "mimikatz.exe sekurlsa::logonpasswords"}}}}}
	some a in sigma.alerts with input as i
	a.title == "Mimikatz Use"
	a.severity == "critical"
	attr(a, "host") == {"srv-9"}
	attr(a, "command_line") == {"mimikatz.exe sekurlsa::logonpasswords"}
}

test_zircolite_output if {
	i := {"title": "Whoami Execution", "id": "z-1", "rule_level": "low", "tags": ["attack.discovery"], "count": 1, "matches": [{"Computer": "ws-2", "CommandLine": "whoami /all"}]}
	some a in sigma.alerts with input as i
	a.severity == "low"
	attr(a, "host") == {"ws-2"}
}

test_unrecognised if {
	some a in sigma.alerts with input as {"title": "x", "level": "urgent"}
	a.title == "sigma: unrecognised event (urgent)"
	some d in sigma.alerts with input as {"title": "x", "level": "P2"}
	d.title == "sigma: unrecognised event (P2)"
	a.severity == "low"
	some b in sigma.alerts with input as {"title": "x"}
	b.title == "sigma: unrecognised event (no level)"
	some c in sigma.alerts with input as {"foo": 1}
	c.title == "sigma: unrecognised event (no title)"
	count(sigma.alerts) == 0 with input as {"foo": 1} with data.hutch.config.strict_sources as ["sigma"]
}
