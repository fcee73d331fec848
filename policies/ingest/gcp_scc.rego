# Google Security Command Center findings -> Hutch alerts (Warren contract: ingest["gcp-scc"]).
#
# Accepted shapes: the Pub/Sub notification {"notificationConfigName", "finding", "resource"}
# and a bare finding (name + category). One alert per finding.
# Dropped, with a reason in `ignore`: state INACTIVE, mute MUTED, severity LOW, or an input
# that is not an SCC finding (e.g. a Cloud Logging Event Threat Detection entry).
package ingest["gcp-scc"]

import rego.v1

finding := input.finding if is_object(input.finding)

finding := input if {
	not input.finding
	is_string(input.category)
	is_string(input.name)
}

resource := object.get(input, "resource", {})

severity := object.get(finding, "severity", "SEVERITY_UNSPECIFIED")

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
		{"hit": severity == "LOW", "reason": sprintf("low severity finding: %s on %s", [category, resource_name])},
	]
	c.hit
]

ignore contains r if some r in reasons

ignore contains "not a Security Command Center finding (no finding with name and category)" if not finding

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
} if {
	finding
	count(reasons) == 0
}
