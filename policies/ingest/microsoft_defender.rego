# Microsoft Defender alerts -> Hutch alerts (Warren contract: ingest["microsoft-defender"]).
#
# Accepted shapes:
#   - Defender for Endpoint API alert ({"id", "title", "severity", "status", "category",
#     "computerDnsName", "relatedUser", ...}) and Microsoft Graph security alert v2
#     ({"id", "title", "severity", "status", "alertWebUrl", "evidence", ...});
#   - Defender XDR streaming (Event Hub) AlertInfo records
#     ({"category": "AdvancedHunting-AlertInfo", "properties": {"AlertId", "Title", "Severity", ...}}).
# Dropped, with a reason in `ignore`: informational or low severity, resolved status.
package ingest["microsoft-defender"]

import rego.v1

alert := object.union(input.properties, {
	"id": object.get(input.properties, "AlertId", ""),
	"title": object.get(input.properties, "Title", ""),
	"severity": object.get(input.properties, "Severity", ""),
	"status": object.get(input.properties, "Status", ""),
	"category": object.get(input.properties, "Category", ""),
	"computerDnsName": object.get(input.properties, "DeviceName", ""),
}) if {
	startswith(object.get(input, "category", ""), "AdvancedHunting-Alert")
	is_object(input.properties)
}

alert := input if {
	is_string(input.title)
	is_string(input.severity)
}

severity := lower(str(alert.severity))

status := lower(str(object.get(alert, "status", "")))

str(v) := v if is_string(v)

str(v) := "" if not is_string(v)

quiet_severities := {"informational", "low"}

user := sprintf("%s\\%s", [alert.relatedUser.domainName, alert.relatedUser.userName]) if {
	is_string(alert.relatedUser.domainName)
	is_string(alert.relatedUser.userName)
} else := u if {
	some e in object.get(alert, "evidence", [])
	u := object.get(e, "userPrincipalName", null)
	is_string(u)
} else := ""

device := d if {
	d := str(object.get(alert, "computerDnsName", ""))
	d != ""
} else := d if {
	some e in object.get(alert, "evidence", [])
	d := object.get(e, "deviceDnsName", null)
	is_string(d)
} else := ""

portal_link := l if {
	l := str(object.get(alert, "alertWebUrl", ""))
	l != ""
} else := str(object.get(alert, "incidentWebUrl", ""))

reasons := [c.reason |
	some c in [
		{"hit": severity in quiet_severities, "reason": sprintf("%s severity alert: %s", [severity, alert.title])},
		{"hit": status == "resolved", "reason": sprintf("alert already resolved: %s", [alert.title])},
	]
	c.hit
]

ignore contains r if some r in reasons

ignore contains "not a Microsoft Defender alert (no title and severity)" if not alert

techniques := {t | some t in object.get(alert, "mitreTechniques", []); is_string(t)}

attributes := array.concat(
	array.concat(
		[{"key": c[0], "value": c[1]} |
			some c in [
				["device", device],
				["user", user],
				["severity", severity],
				["category", str(object.get(alert, "category", ""))],
				["threat_name", str(object.get(alert, "threatName", ""))],
				["detection_source", str(object.get(alert, "detectionSource", object.get(alert, "DetectionSource", "")))],
			]
			c[1] != ""
		],
		[a |
			id := str(alert.id)
			id != ""
			a := object.union({"key": "alert_id", "value": id}, link_field)
		],
	),
	[{"key": "mitre_technique", "value": t} | some t in techniques],
)

description := d if {
	d := str(object.get(alert, "description", ""))
	d != ""
} else := sprintf("Microsoft Defender %s alert (%s) from %s", [severity, str(object.get(alert, "category", "")), str(object.get(alert, "ServiceSource", object.get(alert, "serviceSource", "Defender")))])

link_field := {"link": portal_link} if portal_link != ""

link_field := {} if portal_link == ""

alerts contains {
	"title": alert.title,
	"description": description,
	"attributes": attributes,
	"tags": ["microsoft-defender", severity],
} if {
	alert
	count(reasons) == 0
}
