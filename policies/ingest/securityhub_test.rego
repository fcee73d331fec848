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

test_alert_severity if {
	every v, s in {"LOW": "low", "MEDIUM": "medium", "HIGH": "high", "CRITICAL": "critical"} {
		some a in securityhub.alerts with input as object.union(f, {"Severity": {"Label": v}})
		a.severity == s
	}
}

test_finding_link if {
	some a in securityhub.alerts with input as f
	some x in a.attributes
	x.key == "finding"
	startswith(x.link, "https://console.aws.amazon.com/securityhub/home?region=eu-west-1#/findings")
}

ocsf := {"class_uid": 2004, "class_name": "Detection Finding", "severity_id": 4, "severity": "High", "status": "New",
	"finding_info": {"uid": "f-1", "title": "EC2 instance querying a C2 domain", "desc": "d", "types": ["TTPs/Command and Control"], "src_url": "https://console.aws.amazon.com/securityhub/v2/f-1"},
	"cloud": {"account": {"uid": "123456789012"}, "region": "us-east-1"}, "resources": [{"uid": "i-0abc", "type": "AWS::EC2::Instance"}],
	"metadata": {"product": {"name": "GuardDuty"}}}

test_ocsf_finding if {
	some a in securityhub.alerts with input as {"detail-type": "Findings Imported V2", "source": "aws.securityhub", "detail": {"findings": [ocsf]}}
	a.title == "EC2 instance querying a C2 domain"
	a.severity == "high"
	attr(a, "resource_id") == {"i-0abc"}
	attr(a, "account_id") == {"123456789012"}
	some x in a.attributes
	x.key == "finding_id"
	x.link == "https://console.aws.amazon.com/securityhub/v2/f-1"
}

test_ocsf_non_detections if {
	count(securityhub.alerts) == 0 with input as object.union(ocsf, {"status": "Resolved"})
	count(securityhub.alerts) == 0 with input as object.union(ocsf, {"compliance": {"status": "Pass"}})
	securityhub.ignore == {"informational severity: EC2 instance querying a C2 domain"} with input as object.union(ocsf, {"severity_id": 1})
}

test_insight_results_ignored if {
	i := {"detail-type": "Security Hub Insight Results", "source": "aws.securityhub", "detail": {"insightArn": "arn:i", "resultType": "ResourceAwsEc2InstanceId"}}
	count(securityhub.alerts) == 0 with input as i
	count(securityhub.ignore) == 1 with input as i
}

test_unrecognised if {
	some a in securityhub.alerts with input as {"detail-type": "Security Hub Something", "detail": {}}
	a.title == "securityhub: unrecognised event (Security Hub Something)"
	a.severity == "low"
	count(securityhub.alerts) == 0 with input as {"x": 1} with data.hutch.config.strict_sources as ["securityhub"]
}
