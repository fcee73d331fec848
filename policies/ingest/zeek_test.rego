package ingest.zeek_test

import rego.v1

import data.ingest.zeek

ev(note, o) := object.union({"ts": 1767225600.123, "uid": "CxYz1", "id.orig_h": "203.0.113.9", "id.orig_p": 51234, "id.resp_h": "10.0.0.22",
	"id.resp_p": 22, "proto": "tcp", "note": note, "msg": "something noticed", "src": "203.0.113.9", "dst": "10.0.0.22", "p": 22,
	"peer_descr": "zeek-sensor-1", "actions": ["Notice::ACTION_LOG"], "suppress_for": 3600}, o)

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_password_guessing if {
	some a in zeek.alerts with input as ev("SSH::Password_Guessing", {"msg": "203.0.113.9 appears to be guessing SSH passwords (seen in 30 connections).", "sub": "Sampled servers: 10.0.0.22"})
	a.title == "Zeek SSH::Password_Guessing"
	a.description == "203.0.113.9 appears to be guessing SSH passwords (seen in 30 connections)."
	a.severity == "medium"
	attr(a, "src_ip") == {"203.0.113.9"}
	attr(a, "dst_ip") == {"10.0.0.22"}
	attr(a, "sensor") == {"zeek-sensor-1"}
}

test_severity_by_note if {
	every n, s in {"Heartbleed::SSL_Heartbeat_Attack_Success": "critical", "Intel::Notice": "high", "Scan::Port_Scan": "low", "SSL::Invalid_Server_Cert": "low"} {
		some a in zeek.alerts with input as ev(n, {})
		a.severity == s
	}
}

test_sensor_notices_ignored if {
	count(zeek.alerts) == 0 with input as ev("CaptureLoss::Too_Much_Loss", {})
	zeek.ignore == {"Zeek sensor notice (CaptureLoss::Too_Much_Loss): capture loss on the sensor"} with input as ev("CaptureLoss::Too_Much_Loss", {})
	count(zeek.alerts) == 0 with input as ev("Software::Software_Version_Change", {})
}

test_other_logs_ignored if {
	conn := {"_path": "conn", "ts": 1767225600.1, "uid": "C1", "id.orig_h": "10.0.0.1", "id.resp_h": "10.0.0.2", "proto": "tcp", "conn_state": "SF"}
	count(zeek.alerts) == 0 with input as conn
	zeek.ignore == {"Zeek conn log record (not notice.log): protocol telemetry, not a detection"} with input as conn
}

test_unrecognised_note if {
	some a in zeek.alerts with input as ev("Site::Custom_Thing", {})
	a.title == "zeek: unrecognised event (Site::Custom_Thing)"
	a.severity == "low"
	count(zeek.alerts) == 0 with input as ev("Site::Custom_Thing", {}) with data.hutch.config.strict_sources as ["zeek"]
	some b in zeek.alerts with input as {"foo": "bar"}
	b.title == "zeek: unrecognised event (no note)"
}
