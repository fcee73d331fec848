package hutch.detect_test

import rego.v1

import data.hutch.detect

test_high_severity if detect.severity == "high" with input as {"detail": {"severity": 8}}

test_medium_severity if detect.severity == "medium" with input as {"detail": {"severity": 5}}

test_default_low if detect.severity == "low" with input as {"detail": {}}

test_trusted_user_no_alert if {
	count(detect.alerts) == 0 with input as {"detail": {"user": "deploy-bot", "ip": "203.0.113.5", "type": "x"}}
}

test_alert_for_stranger if {
	some a in detect.alerts with input as {"detail": {"user": "eve", "ip": "203.0.113.5", "type": "SSH", "severity": 9}}
	a.severity == "high"
	a.title == "SSH from 203.0.113.5"
}

# helpers are not tests
stranger(ip) := {"detail": {"user": "eve", "ip": ip, "type": "SSH", "severity": 1}}

test_trusted_network if count(detect.alerts) == 0 with input as stranger("10.1.2.3")
