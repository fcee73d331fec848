package ingest.guardduty_test

import rego.v1

import data.ingest.guardduty

raw := {"type": "Backdoor:EC2/C&CActivity.B!DNS", "severity": 8, "accountId": "123456789012", "region": "eu-west-1", "id": "f1",
	"title": "C&C domain queried", "description": "desc",
	"resource": {"instanceDetails": {"instanceId": "i-0aaa"}},
	"service": {"action": {"dnsRequestAction": {"domain": "c2.example.org"}}}}

pascal := {"Type": "Trojan:EC2/DriveBySourceTraffic!DNS", "Severity": 8, "AccountId": "123456789012", "Region": "ap-northeast-1", "Id": "f2",
	"Title": "probed", "Description": "d", "Resource": {"InstanceDetails": {"InstanceId": "i-0bbb"}},
	"Service": {"Action": {"PortProbeAction": {"PortProbeDetails": [{"RemoteIpDetails": {"IpAddressV4": "203.0.113.1"}}, {"RemoteIpDetails": {"IpAddressV4": "203.0.113.2"}}]}}}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_raw_finding if {
	some a in guardduty.alerts with input as raw
	a.title == "C&C domain queried"
	attr(a, "instance_id") == {"i-0aaa"}
	attr(a, "domain") == {"c2.example.org"}
	attr(a, "severity") == {"high"}
	attr(a, "account_id") == {"123456789012"}
}

test_eventbridge_wrapped if {
	count(guardduty.alerts) == 1 with input as {"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": raw}
}

test_cli_findings_one_alert_each if {
	alerts := guardduty.alerts with input as {"Findings": [pascal, object.union(pascal, {"Id": "f3", "Title": "other"})]}
	count(alerts) == 2
	some a in alerts
	attr(a, "remote_ip") == {"203.0.113.1", "203.0.113.2"}
	attr(a, "instance_id") == {"i-0bbb"}
}

test_api_call_remote_ip if {
	f := object.union(raw, {"service": {"action": {"awsApiCallAction": {"remoteIpDetails": {"ipAddressV4": "198.51.100.5"}}}}})
	some a in guardduty.alerts with input as f
	attr(a, "remote_ip") == {"198.51.100.5"}
}

test_severity_labels if {
	guardduty.severity_label(3.9) == "low"
	guardduty.severity_label(4) == "medium"
	guardduty.severity_label(6.9) == "medium"
	guardduty.severity_label(7) == "high"
	guardduty.severity_label(8.9) == "high"
	guardduty.severity_label(9) == "critical"
}

test_low_severity_ignored_with_reason if {
	f := object.union(raw, {"severity": 3.9})
	count(guardduty.alerts) == 0 with input as f
	guardduty.ignore == {"low severity finding (3.9 < 4): Backdoor:EC2/C&CActivity.B!DNS"} with input as f
}

test_severity_4_alerts if {
	count(guardduty.alerts) == 1 with input as object.union(raw, {"severity": 4})
}

test_title_falls_back_to_type if {
	some a in guardduty.alerts with input as object.remove(raw, ["title"])
	a.title == "Backdoor:EC2/C&CActivity.B!DNS"
}

test_unrelated_input if {
	count(guardduty.alerts) == 0 with input as {"foo": 1}
	count(guardduty.ignore) == 1 with input as {"foo": 1}
}
