# Google Security Command Center findings -> Hutch alerts (Warren contract: ingest["gcp-scc"]).
#
# Accepted shapes, one alert per finding:
#   - the notification {"notificationConfigName", "finding", "resource"} SCC publishes,
#   - the same inside a Pub/Sub push envelope {"message": {"data": <base64 JSON>,
#     "attributes", "messageId"}, "subscription"},
#   - a bare finding (name + category),
#   - an Event Threat Detection Cloud Logging entry {"logName": ".../threatdetection...",
#     "jsonPayload": {"detectionCategory": {"ruleName", "subRuleName"}, "detectionPriority",
#     "properties", "sourceId"}} (titled "ETD <ruleName>", severity from detectionPriority).
# Severity: CRITICAL, HIGH, MEDIUM, LOW as is; SEVERITY_UNSPECIFIED medium.
# Non-detections (ignored with a reason): state INACTIVE (the finding is over), mute MUTED
# (a person or a mute rule silenced it), finding classes OBSERVATION (informational) and
# SCC_ERROR (a detector's configuration error, not a detection). Anything else:
# "gcp-scc: unrecognised event (<what was missing>)".
package ingest["gcp-scc"]

import rego.v1

import data.hutch.lib

source := "gcp-scc"

# the Pub/Sub push envelope's data, decoded
envelope := json.unmarshal(base64.decode(input.message.data)) if is_string(input.message.data)

doc_from_envelope if is_object(envelope)

doc := envelope if doc_from_envelope

else := input

finding := doc.finding if is_object(doc.finding)

finding := doc if {
	not doc.finding
	is_string(doc.category)
	is_string(doc.name)
}

finding := etd_finding if etd_finding

etd_finding := {
	"name": lib.str(object.get(doc, "insertId", "")),
	"category": sprintf("ETD %s", [concat(": ", [n | some n in [etd.detectionCategory.ruleName, object.get(etd, ["detectionCategory", "subRuleName"], "")]; n != ""])]),
	"severity": upper(lib.str(object.get(etd, "detectionPriority", "MEDIUM"))),
	"state": "ACTIVE",
	"resourceName": etd_resource,
	"findingClass": "THREAT",
} if {
	contains(lib.str(object.get(doc, "logName", "")), "threatdetection")
	is_string(etd.detectionCategory.ruleName)
}

etd := object.get(doc, "jsonPayload", {})

etd_resource := r if {
	r := lib.str(object.get(etd, ["properties", "instanceDetails"], ""))
	r != ""
} else := sprintf("projects/%s", [lib.str(object.get(etd, ["properties", "network", "project"], object.get(etd, ["properties", "project_id"], "unknown")))])

resource := object.get(doc, "resource", {})

severity := object.get(finding, "severity", "SEVERITY_UNSPECIFIED")

hutch_severity := object.get({"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low"}, severity, "medium")

category := object.get(finding, "category", "UNKNOWN")

resource_name := n if {
	n := object.get(finding, "resourceName", "")
	n != ""
} else := object.get(resource, "name", "")

# Last path element of the resource name, or the display names SCC provides.
display_name := n if {
	n := object.get(resource, "displayName", object.get(finding, "assetDisplayName", ""))
	n != ""
} else := n if {
	parts := split(resource_name, "/")
	n := parts[count(parts) - 1]
}

project := p if {
	p := object.get(resource, "projectDisplayName", "")
	p != ""
} else := p if {
	parts := split(resource_name, "/")
	some i, seg in parts
	seg == "projects"
	p := parts[i + 1]
} else := ""

external_uri := object.get(finding, "externalUri", "")

reasons := [c.reason |
	some c in [
		{"hit": object.get(finding, "state", "") == "INACTIVE", "reason": sprintf("finding state INACTIVE: %s on %s", [category, resource_name])},
		{"hit": object.get(finding, "mute", "") == "MUTED", "reason": sprintf("finding muted: %s on %s", [category, resource_name])},
		{"hit": object.get(finding, "findingClass", "") == "OBSERVATION", "reason": sprintf("observation (informational finding class): %s on %s", [category, resource_name])},
		{"hit": object.get(finding, "findingClass", "") == "SCC_ERROR", "reason": sprintf("SCC_ERROR finding (a detector configuration error, not a detection): %s", [category])},
	]
	c.hit
]

ignore contains r if some r in reasons

kind := "undecodable Pub/Sub message data" if {
	is_string(input.message.data)
	not doc_from_envelope
} else := "no finding with name and category"

ignore contains lib.unrecognised_reason(source, kind) if {
	not finding
	lib.strict(source)
}

alerts contains lib.unrecognised_alert(source, kind) if {
	not finding
	not lib.strict(source)
}

attributes := array.concat(
	[{"key": c[0], "value": c[1]} |
		some c in [
			["category", category],
			["resource_name", resource_name],
			["resource", display_name],
			["project", project],
			["severity", lower(severity)],
			["finding_class", object.get(finding, "findingClass", "")],
			["finding_name", object.get(finding, "name", "")],
		]
		is_string(c[1])
		c[1] != ""
	],
	[{"key": "external_uri", "value": external_uri, "link": external_uri} | external_uri != ""],
)

description := d if {
	d := object.get(finding, "description", "")
	d != ""
} else := sprintf("Security Command Center finding %s (%s) on %s", [category, lower(severity), resource_name])

# The title names the kind of finding and the project, not the resource (that is in
# the attributes and the description): 40 open firewalls of one project are one
# ticket, not 40 (cluster groups alerts by schema + title).
title := sprintf("%s in %s", [category, project]) if project != ""

else := category

alerts contains {
	"title": title,
	"description": description,
	"attributes": attributes,
	"tags": ["gcp", "scc", lower(severity)],
	"severity": hutch_severity,
} if {
	finding
	count(reasons) == 0
}
