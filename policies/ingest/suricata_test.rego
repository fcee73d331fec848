package ingest.suricata_test

import rego.v1

import data.ingest.suricata

ev(sev) := {"event_type": "alert", "src_ip": "192.168.2.14", "src_port": 50096, "dest_ip": "209.53.113.5",
	"dest_port": 80, "proto": "TCP", "app_proto": "http", "host": "sensor-1",
	"http": {"hostname": "209.53.113.5", "url": "/1/post.php"},
	"alert": {"action": "allowed", "signature_id": 2018358, "signature": "ET HUNTING GENERIC SUSPICIOUS POST",
		"category": "Potentially Bad Traffic", "severity": sev}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_severities_1_to_3_alert if {
	every s in [1, 2, 3] {
		count(suricata.alerts) == 1 with input as ev(s)
		count(suricata.ignore) == 0 with input as ev(s)
	}
}

test_alert_fields if {
	some a in suricata.alerts with input as ev(2)
	a.title == "ET HUNTING GENERIC SUSPICIOUS POST"
	a.description == "Potentially Bad Traffic: 192.168.2.14:50096 -> 209.53.113.5:80 (TCP)"
	attr(a, "src_ip") == {"192.168.2.14"}
	attr(a, "dest_port") == {"80"}
	attr(a, "signature_id") == {"2018358"}
	attr(a, "server_name") == {"209.53.113.5"}
	attr(a, "sensor") == {"sensor-1"}
	a.tags == ["suricata", "potentially bad traffic"]
}

test_severity_4_ignored if {
	count(suricata.alerts) == 0 with input as ev(4)
	suricata.ignore == {"suricata severity 4 > 3: ET HUNTING GENERIC SUSPICIOUS POST"} with input as ev(4)
}

test_other_event_types_ignored if {
	count(suricata.alerts) == 0 with input as {"event_type": "flow", "src_ip": "10.0.0.1"}
	suricata.ignore == {"suricata event_type flow is not an alert"} with input as {"event_type": "flow"}
	suricata.ignore == {"not a Suricata EVE event (no event_type)"} with input as {"foo": 1}
}
