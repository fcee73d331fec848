# Microsoft Defender alerts (Microsoft 365 Defender / Defender XDR and Defender for
# Cloud) -> Hutch alerts (Warren contract: ingest["microsoft-defender"]).
#
# Accepted shapes, one alert each:
#   - Defender for Endpoint API alert ({"id", "title", "severity", "status", "category",
#     "computerDnsName", "relatedUser", ...}) and Microsoft Graph security alert v2
#     ({"id", "title", "severity", "status", "alertWebUrl", "evidence", ...});
#   - Defender XDR streaming (Event Hub) AlertInfo records
#     ({"category": "AdvancedHunting-AlertInfo", "properties": {"AlertId", "Title", "Severity", ...}});
#   - Defender for Cloud security alerts: the ARM alert ({"id", "name", "type":
#     "Microsoft.Security/Locations/alerts", "properties": {"alertDisplayName", "severity",
#     "compromisedEntity", "entities", "alertUri", "status", ...}}), the continuous-export /
#     workflow-automation shape ({"AlertDisplayName", "Severity", "CompromisedEntity",
#     "Entities", "AlertUri", "SystemAlertId", ...}) and SecurityAlert table rows
#     ({"AlertName", "AlertSeverity", "CompromisedEntity", "Entities" (JSON text),
#     "AlertLink", "SystemAlertId", "ProviderName", ...}).
# Severity: Informational -> info, Low -> low, Medium -> medium, High -> high
# (unknown / unspecified -> medium).
# Non-detections (ignored with a reason): resolved or dismissed alerts (status updates of
# alerts already raised), AdvancedHunting-AlertEvidence records (the entities of an alert
# its AlertInfo record raises). Anything else:
# "microsoft-defender: unrecognised event (<category or type>)".
package ingest["microsoft-defender"]

import rego.v1

import data.hutch.lib

source := "microsoft-defender"

alert := object.union(input.properties, {
	"id": object.get(input.properties, "AlertId", ""),
	"title": object.get(input.properties, "Title", ""),
	"severity": object.get(input.properties, "Severity", ""),
	"status": object.get(input.properties, "Status", ""),
	"category": object.get(input.properties, "Category", ""),
	"computerDnsName": object.get(input.properties, "DeviceName", ""),
}) if {
	object.get(input, "category", "") == "AdvancedHunting-AlertInfo"
	is_object(input.properties)
}

alert := input if {
	is_string(input.title)
	is_string(input.severity)
}

alert := cloud_alert(input.properties, input.id) if {
	is_string(input.properties.alertDisplayName)
}

alert := cloud_alert(pascal_to_camel, object.get(input, "SystemAlertId", object.get(input, "AlertId", ""))) if {
	is_string(input.AlertDisplayName)
}

alert := cloud_alert(row, object.get(input, "SystemAlertId", "")) if {
	is_string(input.AlertName)
	is_string(input.AlertSeverity)
}

pascal_to_camel := {
	"alertDisplayName": input.AlertDisplayName,
	"severity": object.get(input, "Severity", ""),
	"status": object.get(input, "Status", ""),
	"description": object.get(input, "Description", ""),
	"compromisedEntity": object.get(input, "CompromisedEntity", ""),
	"entities": object.get(input, "Entities", []),
	"alertUri": object.get(input, "AlertUri", ""),
	"productName": object.get(input, "ProductName", ""),
	"alertType": object.get(input, "AlertType", ""),
	"intent": object.get(input, "Intent", ""),
}

row := {
	"alertDisplayName": input.AlertName,
	"severity": input.AlertSeverity,
	"status": object.get(input, "Status", ""),
	"description": object.get(input, "Description", ""),
	"compromisedEntity": object.get(input, "CompromisedEntity", ""),
	"entities": entities_of(object.get(input, "Entities", [])),
	"alertUri": object.get(input, "AlertLink", ""),
	"productName": object.get(input, "ProductName", object.get(input, "ProviderName", "")),
	"alertType": object.get(input, "AlertType", ""),
	"intent": object.get(input, "Tactics", ""),
}

entities_of(e) := e if is_array(e)

else := json.unmarshal(e) if json.is_valid(e)

else := []

# Defender for Cloud alerts in the fields the other shapes use
cloud_alert(p, id) := {
	"id": lib.str(id),
	"title": p.alertDisplayName,
	"severity": lib.str(object.get(p, "severity", "")),
	"status": lib.str(object.get(p, "status", "")),
	"description": lib.str(object.get(p, "description", "")),
	"category": lib.str(object.get(p, "intent", "")),
	"computerDnsName": lib.str(object.get(p, "compromisedEntity", "")),
	"alertWebUrl": lib.str(object.get(p, "alertUri", "")),
	"detectionSource": lib.str(object.get(p, "productName", "")),
	"threatName": lib.str(object.get(p, "alertType", "")),
	"cloudEntities": entities_of(object.get(p, "entities", [])),
}

severity := lower(str(alert.severity))

status := lower(str(object.get(alert, "status", "")))

str(v) := v if is_string(v)

str(v) := "" if not is_string(v)

hutch_scale := {"informational": "info", "low": "low", "medium": "medium", "high": "high"}

hutch_severity := object.get(hutch_scale, severity, "medium")

cloud_entity_rows := [[k, v] |
	some e in object.get(alert, "cloudEntities", [])
	is_object(e)
	some m in [["account", "account", "Name"], ["account", "upn", "UPNSuffix"], ["ip", "src_ip", "Address"], ["host", "host", "HostName"], ["azure-resource", "resource_id", "ResourceId"]]
	lower(lib.str(object.get(e, "Type", object.get(e, "type", "")))) == m[0]
	k := m[1]
	v := lib.str(object.get(e, m[2], object.get(e, lower(m[2]), "")))
	v != ""
]

user := sprintf("%s\\%s", [alert.relatedUser.domainName, alert.relatedUser.userName]) if {
	is_string(alert.relatedUser.domainName)
	is_string(alert.relatedUser.userName)
} else := lib.first([object.get(e, "userPrincipalName", "") | some e in object.get(alert, "evidence", []); is_object(e)])

device := d if {
	d := str(object.get(alert, "computerDnsName", ""))
	d != ""
} else := lib.first([object.get(e, "deviceDnsName", "") | some e in object.get(alert, "evidence", []); is_object(e)])

portal_link := l if {
	l := str(object.get(alert, "alertWebUrl", ""))
	l != ""
} else := str(object.get(alert, "incidentWebUrl", ""))

reasons := [c.reason |
	some c in [
		{"hit": status == "resolved", "reason": sprintf("alert already resolved (a status update): %s", [alert.title])},
		{"hit": status == "dismissed", "reason": sprintf("alert dismissed (a status update): %s", [alert.title])},
	]
	c.hit
]

ignore contains r if some r in reasons

evidence if startswith(object.get(input, "category", ""), "AdvancedHunting-AlertEvidence")

ignore contains sprintf("alert evidence record (an entity of alert %s, raised by its AlertInfo record)", [lib.str(object.get(input, ["properties", "AlertId"], ""))]) if evidence

recognised if alert

recognised if evidence

kind := k if {
	k := lib.first([object.get(input, "category", ""), object.get(input, "type", ""), object.get(input, "@odata.type", "")])
	k != ""
} else := "no title and severity"

ignore contains lib.unrecognised_reason(source, kind) if {
	not recognised
	lib.strict(source)
}

alerts contains lib.unrecognised_alert(source, kind) if {
	not recognised
	not lib.strict(source)
}

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
	array.concat(
		[{"key": "mitre_technique", "value": t} | some t in techniques],
		lib.attrs(cloud_entity_rows),
	),
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
	"severity": hutch_severity,
} if {
	alert
	count(reasons) == 0
}
