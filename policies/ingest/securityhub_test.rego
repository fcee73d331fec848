package ingest.securityhub_test

import rego.v1

import data.ingest.securityhub

f := {"SchemaVersion": "2018-10-08", "Id": "arn:x", "AwsAccountId": "123456789012", "Region": "eu-west-1", "GeneratorId": "gen/S3.2",
	"ProductName": "Security Hub", "Title": "S3.2", "Description": "d", "Severity": {"Label": "HIGH", "Normalized": 70},
	"Resources": [{"Id": "arn:aws:s3:::b"}], "Compliance": {"Status": "FAILED"}, "Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE"}

ev(x) := {"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub", "detail": {"findings": x}}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_eventbridge_alerts if {
	some a in securityhub.alerts with input as ev([f])
	attr(a, "resource_id") == {"arn:aws:s3:::b"}
	attr(a, "severity") == {"high"}
	attr(a, "product_name") == {"Security Hub"}
	attr(a, "generator_id") == {"gen/S3.2"}
}

test_bare_finding if count(securityhub.alerts) == 1 with input as f

test_one_alert_per_finding if {
	count(securityhub.alerts) == 2 with input as ev([f, object.union(f, {"Id": "arn:y", "Title": "other"})])
}

test_suppressed if {
	x := object.union(f, {"Workflow": {"Status": "SUPPRESSED"}})
	count(securityhub.alerts) == 0 with input as ev([x])
	securityhub.ignore == {"workflow status SUPPRESSED: S3.2"} with input as ev([x])
}

test_resolved if count(securityhub.alerts) == 0 with input as ev([object.union(f, {"Workflow": {"Status": "RESOLVED"}})])

test_archived if count(securityhub.alerts) == 0 with input as ev([object.union(f, {"RecordState": "ARCHIVED"})])

test_passed if count(securityhub.alerts) == 0 with input as ev([object.union(f, {"Compliance": {"Status": "PASSED"}})])

test_informational if count(securityhub.alerts) == 0 with input as ev([object.union(f, {"Severity": {"Label": "INFORMATIONAL"}})])

test_normalized_severity if {
	securityhub.normalized_label(0) == "INFORMATIONAL"
	securityhub.normalized_label(39) == "LOW"
	securityhub.normalized_label(40) == "MEDIUM"
	securityhub.normalized_label(70) == "HIGH"
	securityhub.normalized_label(90) == "CRITICAL"
}

test_mixed_batch if {
	count(securityhub.alerts) == 1 with input as ev([f, object.union(f, {"Id": "arn:z", "Title": "t2", "Compliance": {"Status": "PASSED"}})])
}
