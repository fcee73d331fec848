package ingest.alertmanager_test

import rego.v1

import data.ingest.alertmanager

entry(name, sev, status) := {"status": status, "labels": {"alertname": name, "severity": sev, "instance": "node-7:9100", "job": "node"},
	"annotations": {"summary": "Disk almost full", "description": "node-7 / has 3% left", "runbook_url": "https://runbooks.example/disk"},
	"startsAt": "2026-02-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus.example:9090/graph?g0.expr=x", "fingerprint": "a1b2c3"}

payload(alerts) := {"version": "4", "groupKey": "{}:{alertname=\"X\"}", "truncatedAlerts": 0, "status": "firing", "receiver": "hutch",
	"groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager.example:9093", "alerts": alerts}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_one_alert_per_entry if {
	i := payload([entry("NodeDiskFull", "critical", "firing"), entry("NodeHighLoad", "warning", "firing")])
	count(alertmanager.alerts) == 2 with input as i
	some a in alertmanager.alerts with input as i
	a.title == "NodeDiskFull: Disk almost full"
	a.description == "node-7 / has 3% left"
	a.severity == "critical"
	attr(a, "instance") == {"node-7:9100"}
	attr(a, "fingerprint") == {"a1b2c3"}
	some x in a.attributes
	x.key == "alertname"
	x.link == "http://prometheus.example:9090/graph?g0.expr=x"
}

test_severity_labels if {
	every l, s in {"critical": "critical", "page": "critical", "error": "high", "warning": "medium", "low": "low", "info": "info", "none": "info"} {
		some a in alertmanager.alerts with input as payload([entry("A", l, "firing")])
		a.severity == s
	}
	some b in alertmanager.alerts with input as payload([json.remove(entry("A", "x", "firing"), ["labels/severity"])])
	b.severity == "medium"
}

test_resolved_and_heartbeat_ignored if {
	i := payload([entry("NodeDiskFull", "critical", "resolved"), entry("Watchdog", "none", "firing")])
	count(alertmanager.alerts) == 0 with input as i
	alertmanager.ignore == {"resolved notification: NodeDiskFull (the alert it ends was raised when it fired)", "heartbeat alert Watchdog (always firing by design)"} with input as i
}

test_unrecognised if {
	some a in alertmanager.alerts with input as {"version": "5", "message": "x"}
	a.title == "alertmanager: unrecognised event (5)"
	a.severity == "low"
	count(alertmanager.alerts) == 0 with input as {"foo": 1} with data.hutch.config.strict_sources as ["alertmanager"]
}
