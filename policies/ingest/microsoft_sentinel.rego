# Microsoft Sentinel incidents -> Hutch alerts (ingest["microsoft-sentinel"]).
#
# Accepted shapes, one alert per incident:
#   - the ARM / REST incident {"id", "name", "type": "Microsoft.SecurityInsights/Incidents",
#     "properties": {"title", "description", "severity": High|Medium|Low|Informational,
#     "status": New|Active|Closed, "incidentNumber", "incidentUrl", "owner": {...},
#     "additionalData": {"alertsCount", "tactics", "alertProductNames"}, "labels",
#     "relatedEntities": [...]}} (also what an automation-rule playbook or Logic App gets
#     as {"object": <incident>}), and a list {"value": [<incident>, ...]};
#   - SecurityIncident table rows (Log Analytics export): {"IncidentNumber", "Title",
#     "Severity", "Status", "IncidentUrl", "Owner", "AdditionalData", ...}.
# Severity: High -> high, Medium -> medium, Low -> low, Informational -> info.
# Non-detections (ignored with a reason): closed incidents (a status update of an
# incident already raised). Anything else: "microsoft-sentinel: unrecognised event (<type>)".
package ingest["microsoft-sentinel"]

import rego.v1

import data.hutch.lib

source := "microsoft-sentinel"

incident_object(o) if {
	is_object(o.properties)
	is_string(o.properties.title)
}

incidents contains normal(input.object) if incident_object(input.object)

incidents contains normal(input) if incident_object(input)

incidents contains normal(i) if {
	some i in input.value
	incident_object(i)
}

incidents contains row(input) if {
	is_string(input.Title)
	input.IncidentNumber != null
}

normal(o) := {
	"title": o.properties.title,
	"description": lib.str(object.get(o.properties, "description", "")),
	"severity": lib.str(object.get(o.properties, "severity", "")),
	"status": lib.str(object.get(o.properties, "status", "")),
	"number": lib.str(object.get(o.properties, "incidentNumber", "")),
	"url": lib.str(object.get(o.properties, "incidentUrl", "")),
	"owner": lib.str(object.get(o.properties, ["owner", "userPrincipalName"], object.get(o.properties, ["owner", "assignedTo"], ""))),
	"classification": lib.str(object.get(o.properties, "classification", "")),
	"alerts_count": lib.str(object.get(o.properties, ["additionalData", "alertsCount"], "")),
	"tactics": [lib.str(t) | some t in object.get(o.properties, ["additionalData", "tactics"], [])],
	"products": [lib.str(t) | some t in object.get(o.properties, ["additionalData", "alertProductNames"], [])],
	"entities": object.get(o.properties, "relatedEntities", []),
	"id": lib.str(object.get(o, "id", "")),
}

additional(r) := a if {
	a := json.unmarshal(r.AdditionalData)
	is_object(a)
} else := a if {
	a := r.AdditionalData
	is_object(a)
} else := {}

row(r) := {
	"title": r.Title,
	"description": lib.str(object.get(r, "Description", "")),
	"severity": lib.str(object.get(r, "Severity", "")),
	"status": lib.str(object.get(r, "Status", "")),
	"number": lib.str(r.IncidentNumber),
	"url": lib.str(object.get(r, "IncidentUrl", "")),
	"owner": lib.str(object.get(owner_of(r), "userPrincipalName", object.get(owner_of(r), "assignedTo", ""))),
	"classification": lib.str(object.get(r, "Classification", "")),
	"alerts_count": lib.str(object.get(additional(r), "alertsCount", "")),
	"tactics": [lib.str(t) | some t in object.get(additional(r), "tactics", [])],
	"products": [lib.str(t) | some t in object.get(additional(r), "alertProductNames", [])],
	"entities": [],
	"id": lib.str(object.get(r, "IncidentName", "")),
}

owner_of(r) := o if {
	o := json.unmarshal(r.Owner)
	is_object(o)
} else := o if {
	o := r.Owner
	is_object(o)
} else := {}

severity_scale := {"high": "high", "medium": "medium", "low": "low", "informational": "info"}

severity(i) := object.get(severity_scale, lower(i.severity), "medium")

ignore contains sprintf("incident %s closed (%s): a status update of an incident already raised", [i.number, i.classification]) if {
	some i in incidents
	lower(i.status) == "closed"
}

unrecognised if count(incidents) == 0

kind := k if {
	k := lib.str(object.get(input, "type", object.get(input, "Type", "")))
	k != ""
} else := "no incident properties"

ignore contains lib.unrecognised_reason(source, kind) if {
	unrecognised
	lib.strict(source)
}

entity_rows(i) := [[key, v] |
	some e in i.entities
	is_object(e)
	p := object.get(e, "properties", e)
	some m in [
		["Account", "account", lib.str(object.get(p, "userPrincipalName", object.get(p, "accountName", "")))],
		["Host", "host", lib.str(object.get(p, "hostName", ""))],
		["Ip", "src_ip", lib.str(object.get(p, "address", ""))],
		["Url", "url", lib.str(object.get(p, "url", ""))],
		["AzureResource", "resource_id", lib.str(object.get(p, "resourceId", ""))],
	]
	lower(lib.str(object.get(e, "kind", object.get(e, "Type", "")))) == lower(m[0])
	key := m[1]
	v := m[2]
]

attributes(i) := array.concat(
	lib.attrs(array.concat([
		["incident_number", i.number, i.url],
		["status", i.status],
		["owner", i.owner],
		["alerts_count", i.alerts_count],
		["incident_id", i.id],
	], entity_rows(i))),
	array.concat(
		[{"key": "tactic", "value": t} | some t in i.tactics; t != ""],
		[{"key": "product", "value": p} | some p in i.products; p != ""],
	),
)

alerts contains {
	"title": sprintf("Sentinel incident: %s", [i.title]),
	"description": d,
	"attributes": attributes(i),
	"tags": ["microsoft-sentinel", severity(i)],
	"severity": severity(i),
} if {
	some i in incidents
	lower(i.status) != "closed"
	d := description(i)
}

description(i) := i.description if i.description != ""

else := sprintf("Microsoft Sentinel incident %s (%s, %s alerts)", [i.number, i.severity, i.alerts_count])

alerts contains lib.unrecognised_alert(source, kind) if {
	unrecognised
	not lib.strict(source)
}
