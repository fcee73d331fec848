package ingest.suricata_test

import rego.v1

import data.ingest.suricata

ev(o) := object.union({"timestamp": "2026-02-01T10:00:00.000000+0000", "flow_id": 42, "in_iface": "eth0", "event_type": "alert",
	"src_ip": "203.0.113.5", "src_port": 44123, "dest_ip": "10.0.0.8", "dest_port": 443, "proto": "TCP", "app_proto": "tls",
	"alert": {"action": "allowed", "gid": 1, "signature_id": 2030000, "rev": 3, "signature": "ET MALWARE Test C2 TLS SNI",
		"category": "A Network Trojan was detected", "severity": 1}, "tls": {"sni": "c2.example.net"}}, o)

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_alert if {
	some a in suricata.alerts with input as ev({})
	a.title == "ET MALWARE Test C2 TLS SNI"
	a.severity == "high"
	attr(a, "src_ip") == {"203.0.113.5"}
	attr(a, "dest") == {"10.0.0.8:443"}
	attr(a, "signature_id") == {"2030000"}
	attr(a, "hostname") == {"c2.example.net"}
}

test_severity_from_priority if {
	every p, s in {1: "high", 2: "medium", 3: "low", 4: "info"} {
		some a in suricata.alerts with input as json.patch(ev({}), [{"op": "replace", "path": "/alert/severity", "value": p}])
		a.severity == s
	}
}

test_severity_from_rule_metadata if {
	i := json.patch(ev({}), [{"op": "add", "path": "/alert/metadata", "value": {"signature_severity": ["Critical"]}}])
	some a in suricata.alerts with input as i
	a.severity == "critical"
}

test_anomaly_is_low if {
	i := {"event_type": "anomaly", "src_ip": "203.0.113.5", "dest_ip": "10.0.0.8", "anomaly": {"type": "decode", "event": "ipv4.trunc_pkt", "layer": "proto_detect"}}
	some a in suricata.alerts with input as i
	a.title == "Suricata decode anomaly: ipv4.trunc_pkt"
	a.severity == "low"
}

test_protocol_records_ignored if {
	every t in ["flow", "dns", "http", "tls", "fileinfo", "netflow"] {
		count(suricata.alerts) == 0 with input as {"event_type": t, "src_ip": "10.0.0.1"}
		suricata.ignore == {sprintf("%s record: protocol / flow telemetry, not a detection", [t])} with input as {"event_type": t}
	}
	suricata.ignore == {"stats record: engine statistics (a heartbeat)"} with input as {"event_type": "stats", "stats": {"uptime": 10}}
}

test_unrecognised if {
	some a in suricata.alerts with input as {"event_type": "new_thing"}
	a.title == "suricata: unrecognised event (new_thing)"
	a.severity == "low"
	some b in suricata.alerts with input as {"event_type": "alert", "alert": {}}
	b.title == "suricata: unrecognised event (alert)"
	count(suricata.alerts) == 0 with input as {"event_type": "new_thing"} with data.hutch.config.strict_sources as ["suricata"]
}
