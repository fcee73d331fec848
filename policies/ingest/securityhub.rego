# AWS Security Hub findings (ASFF) -> Hutch alerts (Warren contract: ingest.securityhub).
#
# Accepted shapes, one alert per finding:
#   - EventBridge "Security Hub Findings - Imported" / "- Custom Action" events (detail.findings[]),
#   - the CLI `get-findings` output {"Findings": [...]},
#   - a bare ASFF finding object (SchemaVersion + Id).
# Dropped, with a reason in `ignore`: workflow SUPPRESSED/RESOLVED, RecordState ARCHIVED,
# compliance PASSED, informational severity (Severity.Label, else derived from Normalized).
package ingest.securityhub

import rego.v1

findings contains f if {
	startswith(object.get(input, "detail-type", ""), "Security Hub Findings")
	some f in input.detail.findings
}

findings contains f if {
	some f in input.Findings
	is_object(f)
}

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

ignore contains "not a Security Hub finding (no EventBridge findings event, Findings list or ASFF object)" if {
	count(findings) == 0
}

alerts contains {
	"title": title(f),
	"description": get(f, ["Description"], ""),
	"attributes": attributes(f),
	"tags": ["aws", "securityhub", lower(severity(f))],
} if {
	some f in findings
	count(reasons(f)) == 0
}
