package alert.aws_guardduty_test

import rego.v1

import data.alert.aws_guardduty

f := {"Type": "Trojan:EC2/DropPoint!DNS", "Severity": 8, "AccountId": "123456789012", "Description": "d",
	"Resource": {"InstanceDetails": {"InstanceId": "i-0abc"}},
	"Service": {"Action": {"DnsRequestAction": {"Domain": "drop.example.net"}}}}

test_trojan_alert if {
	some a in aws_guardduty.alert with input as {"Findings": [f]}
	a.namespace == "aws_guardduty/instance/i-0abc"
	a.source == "aws"
	a.severity == "high"
	some x in a.attrs
	x.key == "instance_id"
	x.persist == true
	x.ttl == 86400
	some d in a.attrs
	d.type == "domain"
	d.value == "drop.example.net"
}

test_high_severity_non_trojan if count(aws_guardduty.alert) == 1 with input as {"Findings": [object.union(f, {"Type": "Backdoor:EC2/X", "Severity": 7.1})]}

test_severity_scale if {
	every v, s in {2: "low", 5: "medium", 8: "high", 9: "critical"} {
		some a in aws_guardduty.alert with input as {"Findings": [object.union(f, {"Severity": v})]}
		a.severity == s
	}
}

test_severity_7_non_trojan_ignored if {
	i := {"Findings": [object.union(f, {"Type": "Backdoor:EC2/X", "Severity": 7})]}
	count(aws_guardduty.alert) == 0 with input as i
	count(aws_guardduty.ignore) == 1 with input as i
}
