# Wazuh alerts and documents -> Hutch alerts (ingest.wazuh).
#
# Accepted shapes:
#   (a) Wazuh 4.x alerts (alerts.json lines, the wazuh-alerts-4.x index, the integrator):
#       {"rule": {"level", "description", "id", "groups", "mitre": {...}}, "agent": {...},
#       "data": {...}, "syscheck": {...}, "full_log", "location"}: rootcheck, FIM (syscheck),
#       vulnerability-detector (data.vulnerability), SCA checks (data.sca) included.
#       Severity from rule.level, Wazuh's 0-15 scale: 4-6 low, 7-11 medium, 12-14 high,
#       15 critical. Levels 0-3 (system notifications, successful / authorized events) are
#       informational audit events: ignored with a reason.
#   (b) Wazuh Common Schema (ECS-style, Wazuh 5) documents: findings (a "rule" with a
#       name and a Sigma level informational..critical, or event.severity), and
#       vulnerability state documents (vulnerability.id, vulnerability.severity,
#       package.*, wazuh.agent.*). event.kind "event" documents without a rule are
#       normalized telemetry and inventory state documents are inventory: ignored.
# Non-detections also: active-response records (wazuh-execd's own actions, 4.x and 5),
# agent lifecycle notices (rules 501-506: agent started / connected / disconnected /
# stopped), SCA scan summaries (scan-completed notices).
# Anything else: "wazuh: unrecognised event (<what was missing>)".
package ingest.wazuh

import rego.v1

import data.hutch.lib

source := "wazuh"

level_scale(l) := "info" if l < 4

else := "low" if l < 7

else := "medium" if l < 12

else := "high" if l < 15

else := "critical"

# --- (a) 4.x alerts -------------------------------------------------------------

classic if is_number(to_number(input.rule.level))

level := to_number(input.rule.level) if classic

groups := {g | some g in object.get(input, ["rule", "groups"], []); is_string(g)}

rule_id := lib.str(object.get(input, ["rule", "id"], ""))

agent_lifecycle if {
	classic
	rule_id in {"501", "502", "503", "504", "505", "506"}
}

active_response if {
	classic
	"active_response" in groups
}

active_response if {
	is_object(input.parameters)
	input.origin.module == "wazuh-execd"
}

active_response if {
	is_string(input.command)
	is_string(input.parameters.program)
}

sca_summary if {
	classic
	input.data.sca.type == "summary"
}

classic_detection if {
	classic
	level >= 4
	not agent_lifecycle
	not active_response
	not sca_summary
}

data_field(k) := lib.str(object.get(object.get(input, "data", {}), k, ""))

vuln := object.get(input, ["data", "vulnerability"], {})

classic_title := t if {
	is_string(vuln.cve)
	t := sprintf("%s: %s in %s", [input.rule.description, vuln.cve, lib.str(object.get(vuln, ["package", "name"], "?"))])
} else := lib.str(input.rule.description)

classic_attributes := array.concat(
	lib.attrs([
		["agent", lib.str(object.get(input, ["agent", "name"], ""))],
		["agent_ip", lib.str(object.get(input, ["agent", "ip"], ""))],
		["srcip", data_field("srcip")],
		["srcuser", data_field("srcuser")],
		["dstuser", data_field("dstuser")],
		["rule_id", rule_id],
		["level", lib.str(level)],
		["file", lib.str(object.get(input, ["syscheck", "path"], data_field("file")))],
		["cve", lib.str(object.get(vuln, "cve", "")), lib.str(object.get(vuln, "reference", ""))],
		["package", lib.str(object.get(vuln, ["package", "name"], ""))],
		["sca_check", lib.str(object.get(input, ["data", "sca", "check", "title"], ""))],
	]),
	[{"key": "mitre_id", "value": id} | some id in object.get(input, ["rule", "mitre", "id"], []); is_string(id)],
)

ignore contains sprintf("wazuh rule level %v <= 3 (system notification or successful / authorized event, an informational audit event): %s (rule %s)", [input.rule.level, lib.str(input.rule.description), rule_id]) if {
	classic
	level < 4
	not agent_lifecycle
	not active_response
}

ignore contains sprintf("agent lifecycle notice (rule %s): %s", [rule_id, lib.str(input.rule.description)]) if agent_lifecycle

ignore contains "active-response record (Wazuh's own response action, not a detection)" if active_response

ignore contains sprintf("SCA scan summary (scan-completed notice): %s", [lib.str(object.get(input, ["data", "sca", "policy"], ""))]) if sca_summary

alerts contains {
	"title": classic_title,
	"description": lib.str(object.get(input, "full_log", input.rule.description)),
	"attributes": classic_attributes,
	"tags": [t | some t in ({"wazuh", level_scale(level)} | groups)],
	"severity": level_scale(level),
} if classic_detection

# --- (b) Wazuh Common Schema documents ------------------------------------------------

wcs if {
	not classic
	not active_response
	is_object(input.wazuh)
}

wcs_vulnerability if {
	wcs
	is_string(input.vulnerability.id)
}

sigma_levels := {"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}

wcs_rule_name := n if {
	n := lib.first([object.get(input, ["rule", k], "") | some k in ["name", "title", "description"]])
	n != ""
}

wcs_severity := s if {
	s := sigma_levels[lower(lib.str(object.get(input, ["rule", "level"], object.get(input, ["wazuh", "rule", "level"], ""))))]
} else := level_scale(input.event.severity) if {
	is_number(input.event.severity)
	input.event.severity <= 15
} else := "critical" if {
	is_number(input.event.severity)
	input.event.severity >= 90
} else := "high" if {
	is_number(input.event.severity)
	input.event.severity >= 70
} else := "medium" if {
	is_number(input.event.severity)
	input.event.severity >= 40
} else := "low" if {
	is_number(input.event.severity)
} else := "medium"

wcs_finding if {
	wcs
	not wcs_vulnerability
	wcs_rule_name
}

wcs_telemetry if {
	wcs
	not wcs_vulnerability
	not wcs_rule_name
	object.get(input, ["event", "kind"], "") in {"event", "metric", "state", "enrichment"}
}

wcs_inventory if {
	wcs
	not wcs_vulnerability
	not wcs_rule_name
	not input.event
	some k in ["package", "process", "host", "file", "port", "network", "hotfix", "user", "group", "service", "browser_extension"]
	is_object(input[k])
}

wcs_agent := lib.str(object.get(input, ["wazuh", "agent", "name"], object.get(input, ["agent", "name"], "")))

wcs_attributes := array.concat(
	lib.attrs([
		["agent", wcs_agent],
		["agent_id", lib.str(object.get(input, ["wazuh", "agent", "id"], object.get(input, ["agent", "id"], "")))],
		["src_ip", lib.str(object.get(input, ["source", "ip"], ""))],
		["user", lib.str(object.get(input, ["user", "name"], ""))],
		["host", lib.str(object.get(input, ["host", "name"], object.get(input, ["wazuh", "agent", "host", "hostname"], "")))],
		["file", lib.str(object.get(input, ["file", "path"], ""))],
		["rule_id", lib.str(object.get(input, ["rule", "id"], ""))],
		["cve", lib.str(object.get(input, ["vulnerability", "id"], "")), lib.str(object.get(input, ["vulnerability", "reference"], ""))],
		["package", lib.str(object.get(input, ["package", "name"], ""))],
		["package_version", lib.str(object.get(input, ["package", "version"], ""))],
		["category", concat(",", [lib.str(c) | some c in object.get(input, ["event", "category"], [])])],
	]),
	[{"key": "mitre_id", "value": id} | some id in object.get(input, ["threat", "technique", "id"], []); is_string(id)],
)

vuln_severity := object.get(sigma_levels, lower(lib.str(object.get(input, ["vulnerability", "severity"], ""))), "medium")

alerts contains {
	"title": sprintf("Vulnerability %s in %s", [input.vulnerability.id, lib.str(object.get(input, ["package", "name"], "a package"))]),
	"description": lib.str(object.get(input, ["vulnerability", "description"], input.vulnerability.id)),
	"attributes": wcs_attributes,
	"tags": ["wazuh", "vulnerability", vuln_severity],
	"severity": vuln_severity,
} if wcs_vulnerability

ignore contains sprintf("informational Wazuh finding (rule level informational): %s", [wcs_rule_name]) if {
	wcs_finding
	wcs_severity == "info"
}

alerts contains {
	"title": wcs_rule_name,
	"description": lib.str(object.get(input, "message", object.get(input, ["event", "original"], wcs_rule_name))),
	"attributes": wcs_attributes,
	"tags": ["wazuh", wcs_severity],
	"severity": wcs_severity,
} if {
	wcs_finding
	wcs_severity != "info"
}

ignore contains sprintf("normalized %s event without a rule match (telemetry, not a detection)", [lib.str(object.get(input, ["event", "kind"], ""))]) if wcs_telemetry

ignore contains "inventory state document (not a detection)" if wcs_inventory

# --- anything else --------------------------------------------------------------------

recognised if classic

recognised if active_response

recognised if wcs_vulnerability

recognised if wcs_finding

recognised if wcs_telemetry

recognised if wcs_inventory

kind := "Wazuh Common Schema document without rule, vulnerability or event.kind" if wcs

else := "no rule.level"

ignore contains lib.unrecognised_reason(source, kind) if {
	not recognised
	lib.strict(source)
}

alerts contains lib.unrecognised_alert(source, kind) if {
	not recognised
	not lib.strict(source)
}
