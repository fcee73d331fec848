# CrowdStrike Falcon events -> Hutch alerts (ingest.crowdstrike).
#
# Accepted shapes:
#   - Streaming API detections: {"metadata": {"eventType": "DetectionSummaryEvent" |
#     "EppDetectionSummaryEvent"}, "event": {...}}
#   - flattened detection summaries (SIEM connector / Panther passthrough):
#     {"ExternalApiType": "Event_EppDetectionSummaryEvent" | "Event_DetectionSummaryEvent", ...}
#   - Falcon Data Replicator telemetry ({"event_simpleName" | "fdr_event_type", "event": {...}}):
#     not detections by themselves; alerts only for ProcessRollup2 running a credential
#     dumping tool or a netcat reverse shell, and DnsRequest to a denylisted domain.
# Detections of severity Informational or Low are dropped; every other FDR event is dropped
# as telemetry. `ignore` says why.
package ingest.crowdstrike

import rego.v1

# --- detections -----------------------------------------------------------

detection_event_types := {"DetectionSummaryEvent", "EppDetectionSummaryEvent"}

detection := input.event if {
	object.get(input, ["metadata", "eventType"], "") in detection_event_types
}

detection := input if {
	startswith(object.get(input, "ExternalApiType", ""), "Event_")
	endswith(input.ExternalApiType, "DetectionSummaryEvent")
}

# SeverityName when given, else the number: 1-5 (legacy DetectionSummaryEvent) or 0-100 (EPP).
severity_name := detection.SeverityName

severity_name := n if {
	not detection.SeverityName
	n := severity_from_number(to_number(object.get(detection, "Severity", 0)))
}

severity_from_number(s) := name if {
	s <= 5
	name := ["Informational", "Informational", "Low", "Medium", "High", "Critical"][s]
} else := "Informational" if {
	s < 20
} else := "Low" if {
	s < 40
} else := "Medium" if {
	s < 70
} else := "High" if {
	s < 90
} else := "Critical"

quiet_severities := {"informational", "low"}

detection_name := object.get(detection, "DetectName", object.get(detection, "Name", object.get(detection, "Technique", "detection")))

detection_host := object.get(detection, "ComputerName", object.get(detection, "Hostname", ""))

detection_attributes := [{"key": c[0], "value": c[1], "link": c[2]} |
	some c in [
		["hostname", detection_host, ""],
		["user", object.get(detection, "UserName", ""), ""],
		["file_name", object.get(detection, "FileName", ""), ""],
		["command_line", object.get(detection, "CommandLine", ""), ""],
		["sha256", object.get(detection, "SHA256String", ""), ""],
		["tactic", object.get(detection, "Tactic", ""), ""],
		["technique", object.get(detection, "Technique", ""), ""],
		["technique_id", object.get(detection, "TechniqueId", ""), ""],
		["severity", lower(severity_name), ""],
		["local_ip", object.get(detection, "LocalIP", ""), ""],
		["detection_id", object.get(detection, "DetectId", object.get(detection, "CompositeId", "")), object.get(detection, "FalconHostLink", "")],
	]
	is_string(c[1])
	c[1] != ""
]

ignore contains sprintf("low severity detection (%s): %s", [severity_name, detection_name]) if {
	lower(severity_name) in quiet_severities
}

alerts contains {
	"title": sprintf("CrowdStrike %s detection: %s", [severity_name, detection_name]),
	"description": object.get(detection, "DetectDescription", object.get(detection, "Description", "")),
	"attributes": [strip_link(a) | some a in detection_attributes],
	"tags": ["crowdstrike", lower(severity_name)],
} if {
	detection
	not lower(severity_name) in quiet_severities
}

strip_link(a) := a if a.link != ""

strip_link(a) := object.remove(a, ["link"]) if a.link == ""

# --- FDR telemetry --------------------------------------------------------

fdr_type := object.get(input, "fdr_event_type", object.get(input, ["event", "event_simpleName"], ""))

fdr := object.get(input, "event", input) if {
	not detection
	fdr_type != ""
}

credential_dumping_tools := {"mimikatz.exe", "wce.exe", "pwdump.exe", "gsecdump.exe", "lazagne.exe"}

netcat_binaries := {"nc.exe", "ncat.exe", "nc", "ncat", "netcat"}

# Operators extend this list; the examples are placeholders.
denylisted_domains := {"malicious.example.net", "c2.example.org"}

image_base := lower(parts[count(parts) - 1]) if {
	parts := split(replace(object.get(fdr, "ImageFileName", ""), "\\", "/"), "/")
}

command_line := object.get(fdr, "CommandLine", "")

fdr_hits contains {"title": sprintf("Credential dumping tool executed: %s", [image_base]), "technique": "T1003"} if {
	fdr_type == "ProcessRollup2"
	image_base in credential_dumping_tools
}

fdr_hits contains {"title": sprintf("Reverse shell tool executed: %s", [image_base]), "technique": "T1059"} if {
	fdr_type == "ProcessRollup2"
	image_base in netcat_binaries
	regex.match(`\s-(e|c)\s`, concat("", [command_line, " "]))
}

fdr_hits contains {"title": sprintf("DNS request to denylisted domain %s", [d]), "technique": "T1071.004"} if {
	fdr_type == "DnsRequest"
	d := lower(object.get(fdr, "DomainName", ""))
	d in denylisted_domains
}

ignore contains sprintf("FDR %s telemetry: no detection rule matched", [fdr_type]) if {
	fdr
	count(fdr_hits) == 0
}

ignore contains "not a CrowdStrike detection or FDR event" if {
	not detection
	not fdr
}

fdr_attributes(h) := [{"key": c[0], "value": c[1]} |
	some c in [
		["hostname", object.get(fdr, "ComputerName", "")],
		["sensor_id", object.get(fdr, "aid", object.get(input, "aid", ""))],
		["user", object.get(fdr, "UserName", object.get(fdr, "UserSid", ""))],
		["image_file", object.get(fdr, "ImageFileName", "")],
		["command_line", command_line],
		["sha256", object.get(fdr, "SHA256HashData", "")],
		["domain", object.get(fdr, "DomainName", "")],
		["technique_id", h.technique],
		["event_type", fdr_type],
	]
	is_string(c[1])
	c[1] != ""
]

alerts contains {
	"title": h.title,
	"description": sprintf("CrowdStrike FDR %s event on sensor %s: %s", [fdr_type, object.get(fdr, "aid", "unknown"), object.get(fdr, "CommandLine", object.get(fdr, "DomainName", ""))]),
	"attributes": fdr_attributes(h),
	"tags": ["crowdstrike", "fdr"],
} if {
	some h in fdr_hits
}
