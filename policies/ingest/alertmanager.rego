# Prometheus Alertmanager webhook notifications (webhook_config, payload version "4";
# Grafana's webhook contact point sends the same shape) -> Hutch alerts
# (ingest.alertmanager), the generic webhook for anything that alerts through Alertmanager.
#
# Input: {"version": "4", "groupKey", "truncatedAlerts", "status", "receiver",
# "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts": [{"status",
# "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}]}.
# One alert per firing entry of alerts[]: title labels.alertname (+ annotations.summary),
# description annotations.description / summary, severity from labels.severity
# (critical/page -> critical, error/high -> high, warning -> medium, low -> low,
# info/none -> info; none given -> medium), link the entry's generatorURL.
# Non-detections (ignored with a reason): resolved entries (the end of an alert already
# raised), heartbeat alerts (Watchdog, DeadMansSwitch, InfoInhibitor: always firing by design).
# A payload without an alerts[] list: "alertmanager: unrecognised event (<version>)".
package ingest.alertmanager

import rego.v1

import data.hutch.lib

source := "alertmanager"

heartbeats := {"Watchdog", "DeadMansSwitch", "DeadMansSnitch", "InfoInhibitor"}

severity_scale := {
	"critical": "critical", "page": "critical", "fatal": "critical", "disaster": "critical",
	"error": "high", "high": "high", "major": "high",
	"warning": "medium", "warn": "medium", "medium": "medium", "average": "medium",
	"low": "low", "minor": "low",
	"info": "info", "informational": "info", "none": "info",
}

entries contains a if {
	some a in input.alerts
	is_object(a)
}

labels(a) := object.union(object.get(input, "commonLabels", {}), object.get(a, "labels", {}))

annotations(a) := object.union(object.get(input, "commonAnnotations", {}), object.get(a, "annotations", {}))

alertname(a) := lib.str(object.get(labels(a), "alertname", "unnamed alert"))

status(a) := lower(lib.str(object.get(a, "status", object.get(input, "status", "firing"))))

severity(a) := s if {
	s := severity_scale[lower(lib.str(labels(a).severity))]
} else := "medium"

firing(a) if {
	status(a) != "resolved"
	not alertname(a) in heartbeats
}

ignore contains sprintf("resolved notification: %s (the alert it ends was raised when it fired)", [alertname(a)]) if {
	some a in entries
	status(a) == "resolved"
}

ignore contains sprintf("heartbeat alert %s (always firing by design)", [alertname(a)]) if {
	some a in entries
	alertname(a) in heartbeats
}

unrecognised if not is_array(object.get(input, "alerts", null))

kind := lib.kind(object.get(input, "version", ""), "version or alerts")

ignore contains lib.unrecognised_reason(source, kind) if {
	unrecognised
	lib.strict(source)
}

ignore contains "Alertmanager notification with an empty alerts list" if {
	is_array(input.alerts)
	count(input.alerts) == 0
}

title(a) := sprintf("%s: %s", [alertname(a), s]) if {
	s := lib.str(annotations(a).summary)
	s != ""
} else := alertname(a)

label_rows(a) := [[k, lib.str(v)] |
	some k, v in labels(a)
	not k in {"alertname", "severity"}
]

attributes(a) := lib.attrs(array.concat(
	[
		["alertname", alertname(a), lib.str(object.get(a, "generatorURL", ""))],
		["fingerprint", lib.str(object.get(a, "fingerprint", ""))],
		["runbook", lib.str(object.get(annotations(a), "runbook_url", "")), lib.str(object.get(annotations(a), "runbook_url", ""))],
		["receiver", lib.str(object.get(input, "receiver", ""))],
		["alertmanager", lib.str(object.get(input, "externalURL", "")), lib.str(object.get(input, "externalURL", ""))],
	],
	label_rows(a),
))

description(a) := d if {
	d := lib.str(annotations(a).description)
	d != ""
} else := d if {
	d := lib.str(annotations(a).summary)
	d != ""
} else := sprintf("Alertmanager alert %s firing since %s", [alertname(a), lib.str(object.get(a, "startsAt", "?"))])

alerts contains {
	"title": title(a),
	"description": description(a),
	"attributes": attributes(a),
	"tags": ["alertmanager", severity(a)],
	"severity": severity(a),
} if {
	some a in entries
	firing(a)
}

alerts contains lib.unrecognised_alert(source, kind) if {
	unrecognised
	not lib.strict(source)
}
