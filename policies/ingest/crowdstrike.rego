# CrowdStrike Falcon events -> Hutch alerts (ingest.crowdstrike).
#
# Accepted shapes:
#   - Event Streams API events {"metadata": {"eventType", "offset", "customerIDString",
#     "eventCreationTime", "version"}, "event": {...}}, every detection / incident type:
#     DetectionSummaryEvent, EppDetectionSummaryEvent, IdpDetectionSummaryEvent (identity
#     protection), MobileDetectionSummaryEvent, XdrDetectionSummaryEvent, CustomerIOCEvent,
#     ReconNotificationSummaryEvent, IncidentSummaryEvent;
#   - the same flattened by the SIEM connector / log pipelines:
#     {"ExternalApiType": "Event_<eventType>", ...};
#   - the Alerts API (alerts/entities/alerts/v2) alert {"composite_id", "severity" 0-100,
#     "severity_name", "display_name" | "name", "description", "device": {...},
#     "user_name", "cmdline", "sha256", "tactic", "technique", "falcon_host_link", ...};
#   - Falcon Data Replicator telemetry ({"event_simpleName" | "fdr_event_type", "event": {...}}):
#     not detections by themselves; alerts only for ProcessRollup2 running a credential
#     dumping tool or a netcat reverse shell, and DnsRequest to a denylisted domain.
# Severity: SeverityName / severity_name (Informational, Low, Medium, High, Critical) when
# given, else the number: 1-5 (legacy DetectionSummaryEvent) or 0-100 (EPP, Alerts API);
# incidents by FineScore (0-100, the console's score x 10: >= 80 critical, >= 60 high,
# >= 40 medium, else low). Low and informational detections alert too (the cluster
# service groups them).
# Non-detections (ignored with a reason): audit and session events (AuthActivityAuditEvent,
# UserActivityAuditEvent, RemoteResponseSession*Event), firewall rule match logs,
# scheduled report notifications, FDR telemetry no rule matched.
# Anything else: "crowdstrike: unrecognised event (<eventType>)".
package ingest.crowdstrike

import rego.v1

import data.hutch.lib

source := "crowdstrike"

# --- detections -----------------------------------------------------------

detection_event_types := {"DetectionSummaryEvent", "EppDetectionSummaryEvent", "IdpDetectionSummaryEvent",
	"IdentityProtectionEvent", "MobileDetectionSummaryEvent", "XdrDetectionSummaryEvent", "CustomerIOCEvent",
	"ReconNotificationSummaryEvent"}

audit_event_types := {"AuthActivityAuditEvent", "UserActivityAuditEvent", "RemoteResponseSessionStartEvent",
	"RemoteResponseSessionEndEvent", "FirewallMatchEvent", "ScheduledReportNotificationEvent", "HashSpreadingEvent"}

stream_type := t if {
	t := object.get(input, ["metadata", "eventType"], "")
	t != ""
} else := substring(input.ExternalApiType, 6, -1) if {
	startswith(lib.str(object.get(input, "ExternalApiType", "")), "Event_")
} else := ""

stream_event := input.event if is_object(input.event)

else := input

detection := stream_event if stream_type in detection_event_types

# Alerts API: composite_id and a severity
detection := api if {
	is_string(input.composite_id)
	input.severity != null
}

api := {
	"Name": object.get(input, "display_name", object.get(input, "name", "detection")),
	"Description": object.get(input, "description", ""),
	"Severity": input.severity,
	"SeverityName": object.get(input, "severity_name", null),
	"Hostname": object.get(input, ["device", "hostname"], ""),
	"LocalIP": object.get(input, ["device", "local_ip"], ""),
	"ExternalIP": object.get(input, ["device", "external_ip"], ""),
	"UserName": object.get(input, "user_name", ""),
	"FileName": object.get(input, "filename", ""),
	"CommandLine": object.get(input, "cmdline", ""),
	"SHA256String": object.get(input, "sha256", ""),
	"Tactic": object.get(input, "tactic", ""),
	"Technique": object.get(input, "technique", ""),
	"TechniqueId": object.get(input, "technique_id", ""),
	"CompositeId": input.composite_id,
	"FalconHostLink": object.get(input, "falcon_host_link", ""),
}

# SeverityName when given, else the number: 1-5 (legacy DetectionSummaryEvent) or 0-100 (EPP).
severity_name := n if {
	n := object.get(detection, "SeverityName", null)
	is_string(n)
} else := severity_from_number(to_number(object.get(detection, "Severity", 0)))

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

hutch_scale := {"informational": "info", "info": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}

severity := object.get(hutch_scale, lower(severity_name), "medium")

detection_name := object.get(detection, "DetectName", object.get(detection, "Name", object.get(detection, "Technique", stream_type)))

detection_host := lib.first([object.get(detection, k, "") | some k in ["ComputerName", "Hostname", "HostName", "SourceEndpointHostName"]])

detection_user := lib.first([object.get(detection, k, "") | some k in ["UserName", "SourceAccountUpn", "SourceAccountName", "UserPrincipal"]])

detection_attributes := lib.attrs([
	["hostname", detection_host],
	["user", detection_user],
	["file_name", lib.str(object.get(detection, "FileName", ""))],
	["command_line", lib.str(object.get(detection, "CommandLine", ""))],
	["sha256", lib.str(object.get(detection, "SHA256String", ""))],
	["tactic", lib.str(object.get(detection, "Tactic", ""))],
	["technique", lib.str(object.get(detection, "Technique", ""))],
	["technique_id", lib.str(object.get(detection, "TechniqueId", ""))],
	["severity", severity],
	["local_ip", lib.str(object.get(detection, "LocalIP", ""))],
	["src_ip", lib.str(object.get(detection, "SourceEndpointIpAddress", object.get(detection, "ExternalIP", "")))],
	["target_account", lib.str(object.get(detection, "TargetAccountName", ""))],
	["event_type", stream_type],
	["detection_id", lib.str(object.get(detection, "DetectId", object.get(detection, "CompositeId", ""))), lib.str(object.get(detection, "FalconHostLink", ""))],
])

alerts contains {
	"title": sprintf("CrowdStrike %s detection: %s", [severity_name, detection_name]),
	"description": object.get(detection, "DetectDescription", object.get(detection, "Description", "")),
	"attributes": detection_attributes,
	"tags": ["crowdstrike", severity],
	"severity": severity,
} if {
	detection
}

# --- incidents --------------------------------------------------------------

incident := stream_event if stream_type == "IncidentSummaryEvent"

incident_score := to_number(object.get(incident, "FineScore", 0))

incident_severity := "critical" if incident_score >= 80

else := "high" if incident_score >= 60

else := "medium" if incident_score >= 40

else := "low"

alerts contains {
	"title": sprintf("CrowdStrike incident (score %.1f)", [incident_score / 10]),
	"description": sprintf("CrowdStrike incident %s, %s to %s, state %s%s", [lib.str(object.get(incident, "IncidentID", "")), lib.str(object.get(incident, "IncidentStartTime", "")), lib.str(object.get(incident, "IncidentEndTime", "")), lib.str(object.get(incident, "State", "")), lateral]),
	"attributes": lib.attrs([
		["incident_id", lib.str(object.get(incident, "IncidentID", "")), lib.str(object.get(incident, "FalconHostLink", ""))],
		["hostname", lib.str(object.get(incident, "HostName", object.get(incident, "ComputerName", "")))],
		["fine_score", lib.str(incident_score)],
		["state", lib.str(object.get(incident, "State", ""))],
		["event_type", stream_type],
	]),
	"tags": ["crowdstrike", "incident", incident_severity],
	"severity": incident_severity,
} if incident

lateral := " (lateral movement)" if object.get(incident, "LateralMovement", 0) in {1, true}

else := ""

ignore contains sprintf("%s: audit / session record, not a detection", [stream_type]) if stream_type in audit_event_types

# --- FDR telemetry --------------------------------------------------------

fdr_type := object.get(input, "fdr_event_type", object.get(input, ["event", "event_simpleName"], ""))

fdr := object.get(input, "event", input) if {
	not detection
	not incident
	not stream_type in audit_event_types
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

recognised if detection

recognised if incident

recognised if fdr

recognised if stream_type in audit_event_types

kind := stream_type if stream_type != ""

else := "no metadata.eventType, ExternalApiType, composite_id or event_simpleName"

ignore contains lib.unrecognised_reason(source, kind) if {
	not recognised
	lib.strict(source)
}

alerts contains lib.unrecognised_alert(source, kind) if {
	not recognised
	not lib.strict(source)
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
	"tags": ["crowdstrike", "fdr", "high"],
	"severity": "high",
} if {
	some h in fdr_hits
}
