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

test_low_severity_is_a_low_alert if {
	f := object.union(raw, {"severity": 3.9})
	some a in guardduty.alerts with input as f
	a.severity == "low"
	count(guardduty.ignore) == 0 with input as f
}

test_alert_severity if {
	every v, s in {2: "low", 5: "medium", 8: "high", 9.5: "critical"} {
		some a in guardduty.alerts with input as object.union(raw, {"severity": v})
		a.severity == s
	}
}

test_archived_ignored if {
	f := object.union(raw, {"service": {"archived": true}})
	count(guardduty.alerts) == 0 with input as f
	guardduty.ignore == {"archived finding (archived by a suppression rule or a person): Backdoor:EC2/C&CActivity.B!DNS"} with input as f
}

test_empty_findings_ignored if {
	count(guardduty.alerts) == 0 with input as {"Findings": []}
	guardduty.ignore == {"empty findings list (get-findings returned no finding)"} with input as {"Findings": []}
}

asff := {"SchemaVersion": "2018-10-08", "Id": "arn:aws:guardduty:eu-west-1:123456789012:detector/d/finding/f9", "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/guardduty",
	"AwsAccountId": "123456789012", "Region": "eu-west-1", "Types": ["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS"], "Title": "C&C domain queried by i-0ccc",
	"Severity": {"Label": "HIGH", "Product": 8}, "RecordState": "ACTIVE", "Resources": [{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:eu-west-1:123456789012:instance/i-0ccc"}],
	"ProductFields": {"aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4": "198.51.100.9"}}

test_security_hub_import if {
	some a in guardduty.alerts with input as {"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub", "detail": {"findings": [asff]}}
	a.title == "C&C domain queried by i-0ccc"
	a.severity == "high"
	attr(a, "instance_id") == {"arn:aws:ec2:eu-west-1:123456789012:instance/i-0ccc"}
	attr(a, "remote_ip") == {"198.51.100.9"}
	count(guardduty.alerts) == 1 with input as {"Findings": [asff]}
	count(guardduty.alerts) == 0 with input as object.union(asff, {"RecordState": "ARCHIVED"})
}

test_malware_scan_results if {
	clean := {"detail-type": "GuardDuty Malware Protection Object Scan Result", "source": "aws.guardduty", "detail": {"scanResultDetails": {"scanResultStatus": "NO_THREATS_FOUND"}, "s3ObjectDetails": {"bucketName": "b", "objectKey": "k"}}}
	count(guardduty.alerts) == 0 with input as clean
	guardduty.ignore == {"malware scan completed: NO_THREATS_FOUND (not a detection)"} with input as clean
	bad := json.patch(clean, [{"op": "replace", "path": "/detail/scanResultDetails", "value": {"scanResultStatus": "THREATS_FOUND", "threats": [{"name": "EICAR-Test-File"}]}}])
	some a in guardduty.alerts with input as bad
	a.severity == "high"
	attr(a, "threat") == {"EICAR-Test-File"}
}

test_severity_4_alerts if {
	count(guardduty.alerts) == 1 with input as object.union(raw, {"severity": 4})
}

test_title_falls_back_to_type if {
	some a in guardduty.alerts with input as object.remove(raw, ["title"])
	a.title == "Backdoor:EC2/C&CActivity.B!DNS"
}

test_unrelated_input_is_unrecognised if {
	some a in guardduty.alerts with input as {"foo": 1}
	a.title == "guardduty: unrecognised event (no detail-type or finding type)"
	a.severity == "low"
	some b in guardduty.alerts with input as {"detail-type": "GuardDuty Something New", "detail": {}}
	b.title == "guardduty: unrecognised event (GuardDuty Something New)"
	count(guardduty.alerts) == 0 with input as {"foo": 1} with data.hutch.config.strict_sources as ["guardduty"]
	guardduty.ignore == {"unrecognised guardduty event (no detail-type or finding type): strict mode (data.hutch.config.strict_sources)"} with input as {"foo": 1} with data.hutch.config.strict_sources as ["guardduty"]
}
