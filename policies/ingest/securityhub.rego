# AWS Security Hub findings (ASFF and OCSF) -> Hutch alerts (Warren contract: ingest.securityhub).
#
# Accepted shapes, one alert per finding:
#   - EventBridge "Security Hub Findings - Imported" / "- Custom Action" events (detail.findings[]),
#   - the CLI `get-findings` output {"Findings": [...]},
#   - a bare ASFF finding object (SchemaVersion + Id),
#   - OCSF findings (Security Hub's OCSF schema: class_uid 2001-2007, "finding_info",
#     "severity_id" 0-6, "status", "compliance", "cloud", "resources"): bare, in an
#     EventBridge "Findings Imported V2" event (detail.findings[]) or a list {"Findings": [...]}.
# Severity: ASFF Severity.Label (else from Normalized: 0 informational, 1-39 low, 40-69
# medium, 70-89 high, 90-100 critical); OCSF severity_id 1 info, 2 low, 3 medium, 4 high,
# 5-6 critical, 0 / 99 (unknown / other) medium.
# Non-detections (ignored with a reason): workflow SUPPRESSED / RESOLVED, RecordState
# ARCHIVED, compliance PASSED, informational severity (check results and notes, not
# detections), "Security Hub Insight Results" events. Anything else:
# "securityhub: unrecognised event (<detail-type or what was missing>)".
package ingest.securityhub

import rego.v1

import data.hutch.lib

source := "securityhub"

findings contains f if {
	startswith(object.get(input, "detail-type", ""), "Security Hub Findings")
	some f in input.detail.findings
	not ocsf(f)
}

findings contains f if {
	some f in input.Findings
	is_object(f)
	not ocsf(f)
}

# --- OCSF findings ------------------------------------------------------------

ocsf(f) if {
	is_number(f.class_uid)
	is_object(f.finding_info)
}

ocsf_findings contains f if {
	some f in object.get(input, ["detail", "findings"], object.get(input, "Findings", []))
	ocsf(f)
}

ocsf_findings contains input if ocsf(input)

ocsf_severity(f) := s if {
	s := {1: "info", 2: "low", 3: "medium", 4: "high", 5: "critical", 6: "critical"}[f.severity_id]
} else := "medium"

ocsf_title(f) := lib.str(object.get(f, ["finding_info", "title"], object.get(f, "message", "Security Hub finding")))

ocsf_reasons(f) := [c.reason |
	some c in [
		{"hit": lower(lib.str(object.get(f, "status", ""))) in {"suppressed", "resolved"}, "reason": sprintf("finding status %s: %s", [lib.str(object.get(f, "status", "")), ocsf_title(f)])},
		{"hit": lower(lib.str(object.get(f, ["compliance", "status"], ""))) == "pass", "reason": sprintf("compliance status Pass: %s", [ocsf_title(f)])},
		{"hit": ocsf_severity(f) == "info", "reason": sprintf("informational severity: %s", [ocsf_title(f)])},
	]
	c.hit
]

ocsf_attributes(f) := array.concat(
	lib.attrs([
		["account_id", lib.str(object.get(f, ["cloud", "account", "uid"], ""))],
		["region", lib.str(object.get(f, ["cloud", "region"], ""))],
		["severity", ocsf_severity(f)],
		["product_name", lib.str(object.get(f, ["metadata", "product", "name"], ""))],
		["finding_type", lib.str(object.get(f, ["finding_info", "types", 0], object.get(f, "class_name", "")))],
		["compliance_status", lib.str(object.get(f, ["compliance", "status"], ""))],
		["finding_id", lib.str(object.get(f, ["finding_info", "uid"], "")), lib.str(object.get(f, ["finding_info", "src_url"], ""))],
	]),
	[{"key": "resource_id", "value": r.uid} |
		some r in object.get(f, "resources", [])
		is_string(r.uid)
	],
)

findings contains input if {
	is_string(input.SchemaVersion)
	is_string(input.Id)
}

get(f, path, d) := object.get(f, path, d)

# Severity.Label, else the ASFF mapping of Severity.Normalized.
severity(f) := f.Severity.Label

severity(f) := label if {
	not f.Severity.Label
	n := object.get(f, ["Severity", "Normalized"], 0)
	label := normalized_label(n)
}

normalized_label(n) := "INFORMATIONAL" if n == 0

normalized_label(n) := "LOW" if {
	n > 0
	n < 40
}

normalized_label(n) := "MEDIUM" if {
	n >= 40
	n < 70
}

normalized_label(n) := "HIGH" if {
	n >= 70
	n < 90
}

normalized_label(n) := "CRITICAL" if n >= 90

region(f) := r if {
	r := get(f, ["Region"], "")
	r != ""
} else := r if {
	r := get(f, ["Resources", 0, "Region"], "")
	r != ""
} else := object.get(input, "region", "")

product_name(f) := get(f, ["ProductName"], get(f, ["ProductFields", "aws/securityhub/ProductName"], ""))

title(f) := get(f, ["Title"], get(f, ["GeneratorId"], "Security Hub finding"))

reasons(f) := [c.reason |
	some c in [
		{
			"hit": get(f, ["Workflow", "Status"], "") in {"SUPPRESSED", "RESOLVED"},
			"reason": sprintf("workflow status %s: %s", [get(f, ["Workflow", "Status"], ""), title(f)]),
		},
		{
			"hit": get(f, ["RecordState"], "") == "ARCHIVED",
			"reason": sprintf("record state ARCHIVED: %s", [title(f)]),
		},
		{
			"hit": get(f, ["Compliance", "Status"], "") == "PASSED",
			"reason": sprintf("compliance status PASSED: %s", [title(f)]),
		},
		{
			"hit": severity(f) == "INFORMATIONAL",
			"reason": sprintf("informational severity: %s", [title(f)]),
		},
	]
	c.hit
]

attributes(f) := array.concat(
	[{"key": c[0], "value": c[1]} |
		some c in [
			["account_id", get(f, ["AwsAccountId"], "")],
			["region", region(f)],
			["severity", lower(severity(f))],
			["product_name", product_name(f)],
			["generator_id", get(f, ["GeneratorId"], "")],
			["compliance_status", get(f, ["Compliance", "Status"], "")],
			["finding_id", get(f, ["Id"], "")],
		]
		is_string(c[1])
		c[1] != ""
	],
	[{"key": "resource_id", "value": r.Id} |
		some r in get(f, ["Resources"], [])
		is_string(r.Id)
	],
)

ignore contains r if {
	some f in findings
	some r in reasons(f)
}

ignore contains r if {
	some f in ocsf_findings
	some r in ocsf_reasons(f)
}

ignore contains sprintf("%s event: a summary of insight results, not a finding", [input["detail-type"]]) if {
	input["detail-type"] == "Security Hub Insight Results"
}

ignore contains "empty findings list (get-findings returned no finding)" if {
	is_array(input.Findings)
	count(input.Findings) == 0
}

recognised if count(findings) > 0

recognised if count(ocsf_findings) > 0

recognised if input["detail-type"] == "Security Hub Insight Results"

recognised if is_array(input.Findings)

recognised if {
	startswith(object.get(input, "detail-type", ""), "Security Hub Findings")
	is_array(input.detail.findings)
}

recognised if {
	startswith(object.get(input, "detail-type", ""), "Findings Imported")
	is_array(input.detail.findings)
}

kind := lib.kind(object.get(input, "detail-type", ""), "detail-type, Findings or ASFF/OCSF finding")

ignore contains lib.unrecognised_reason(source, kind) if {
	not recognised
	lib.strict(source)
}

alerts contains lib.unrecognised_alert(source, kind) if {
	not recognised
	not lib.strict(source)
}

hutch_severity := {"INFORMATIONAL": "info", "LOW": "low", "MEDIUM": "medium", "HIGH": "high", "CRITICAL": "critical"}

finding_link(f) := l if {
	l := get(f, ["SourceUrl"], "")
	is_string(l)
	l != ""
} else := sprintf("https://console.aws.amazon.com/securityhub/home?region=%s#/findings?search=Id%%3D%%255Coperator%%255C%%253AEQUALS%%255C%%253A%s", [region(f), urlquery.encode(get(f, ["Id"], ""))]) if {
	region(f) != ""
} else := ""

alerts contains {
	"title": title(f),
	"description": get(f, ["Description"], ""),
	"attributes": array.concat(attributes(f), lib.attrs([["finding", get(f, ["Id"], ""), finding_link(f)]])),
	"tags": ["aws", "securityhub", lower(severity(f))],
	"severity": object.get(hutch_severity, upper(severity(f)), "medium"),
} if {
	some f in findings
	count(reasons(f)) == 0
}

alerts contains {
	"title": ocsf_title(f),
	"description": lib.str(object.get(f, ["finding_info", "desc"], object.get(f, "message", ""))),
	"attributes": ocsf_attributes(f),
	"tags": ["aws", "securityhub", "ocsf", ocsf_severity(f)],
	"severity": ocsf_severity(f),
} if {
	some f in ocsf_findings
	count(ocsf_reasons(f)) == 0
}
