package ingest.wazuh_test

import rego.v1

import data.ingest.wazuh

ev(l) := {"rule": {"level": l, "description": "sshd: brute force", "id": "5763", "mitre": {"id": ["T1110"]}},
	"agent": {"name": "db-01"}, "data": {"srcip": "192.0.2.45", "srcuser": "admin"}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_level_7_alerts if {
	some a in wazuh.alerts with input as ev(7)
	attr(a, "agent") == {"db-01"}
	attr(a, "srcip") == {"192.0.2.45"}
	attr(a, "srcuser") == {"admin"}
	attr(a, "rule_id") == {"5763"}
	attr(a, "level") == {"7"}
	attr(a, "mitre_id") == {"T1110"}
}

test_level_6_ignored if {
	count(wazuh.alerts) == 0 with input as ev(6)
	wazuh.ignore == {"wazuh rule level 6 < 7: sshd: brute force (rule 5763)"} with input as ev(6)
}
