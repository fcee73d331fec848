package ingest.cloudtrail_test

import rego.v1

import data.ingest.cloudtrail

rec(name, src, o) := object.union({"eventVersion": "1.09", "eventTime": "2026-02-01T10:00:00Z", "eventSource": src, "eventName": name,
	"eventType": "AwsApiCall", "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.44", "userAgent": "aws-cli/2.15",
	"userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::123456789012:user/ops", "accountId": "123456789012", "accessKeyId": "AKIAEXAMPLE", "userName": "ops"},
	"requestParameters": {}, "responseElements": null, "eventID": "0a1b2c3d-0000-4000-8000-000000000001", "readOnly": false, "recipientAccountId": "123456789012"}, o)

eb(r) := {"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": sprintf("aws.%s", [trim_suffix(r.eventSource, ".amazonaws.com")]), "account": "123456789012", "region": "eu-west-1", "detail": r}

attr(a, k) := {x.value | some x in a.attributes; x.key == k}

test_console_login_failure_is_low if {
	r := rec("ConsoleLogin", "signin.amazonaws.com", {"eventType": "AwsConsoleSignIn", "responseElements": {"ConsoleLogin": "Failure"}, "errorMessage": "Failed authentication"})
	i := object.union(eb(r), {"detail-type": "AWS Console Sign In via CloudTrail"})
	some a in cloudtrail.alerts with input as i
	a.title == "AWS console sign-in failure"
	a.severity == "low"
	attr(a, "principal") == {"arn:aws:iam::123456789012:user/ops"}
	attr(a, "src_ip") == {"198.51.100.44"}
	some x in a.attributes
	x.key == "event_id"
	x.link == "https://console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/0a1b2c3d-0000-4000-8000-000000000001"
}

test_root_use_is_high if {
	r := rec("CreateBucket", "s3.amazonaws.com", {"userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"}})
	some a in cloudtrail.alerts with input as eb(r)
	a.title == "AWS root account used: s3:CreateBucket"
	a.severity == "high"
}

test_iam_changes if {
	some a in cloudtrail.alerts with input as eb(rec("CreateAccessKey", "iam.amazonaws.com", {"requestParameters": {"userName": "build-bot"}}))
	a.title == "AWS IAM change: CreateAccessKey"
	a.severity == "medium"
	attr(a, "target") == {"build-bot"}
	some b in cloudtrail.alerts with input as eb(rec("AttachUserPolicy", "iam.amazonaws.com", {"requestParameters": {"userName": "x", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}}))
	b.severity == "high"
}

test_logging_turned_off if {
	some a in cloudtrail.alerts with input as eb(rec("StopLogging", "cloudtrail.amazonaws.com", {"requestParameters": {"name": "org-trail"}}))
	a.title == "AWS logging or detection turned off: cloudtrail:StopLogging"
	a.severity == "high"
}

test_denied_call_is_low if {
	some a in cloudtrail.alerts with input as eb(rec("DeleteTrail", "cloudtrail.amazonaws.com", {"errorCode": "AccessDenied", "errorMessage": "not authorized"}))
	a.title == "AWS call denied: cloudtrail:DeleteTrail"
	a.severity == "low"
	attr(a, "error_code") == {"AccessDenied"}
}

test_routine_calls_ignored if {
	i := eb(rec("DescribeInstances", "ec2.amazonaws.com", {"readOnly": true}))
	count(cloudtrail.alerts) == 0 with input as i
	cloudtrail.ignore == {"informational audit event: ec2:DescribeInstances by arn:aws:iam::123456789012:user/ops (read-only)"} with input as i
}

test_log_file_records if {
	i := {"Records": [rec("ConsoleLogin", "signin.amazonaws.com", {"eventType": "AwsConsoleSignIn", "responseElements": {"ConsoleLogin": "Failure"}}), rec("ListBuckets", "s3.amazonaws.com", {})]}
	count(cloudtrail.alerts) == 1 with input as i
	count(cloudtrail.ignore) == 1 with input as i
}

test_insight if {
	r := rec("RunInstances", "ec2.amazonaws.com", {"eventType": "AwsCloudTrailInsight", "insightDetails": {"state": "Start", "insightType": "ApiCallRateInsight"}})
	some a in cloudtrail.alerts with input as r
	a.title == "CloudTrail Insight: unusual ApiCallRateInsight of ec2:RunInstances"
	a.severity == "medium"
	e := json.patch(r, [{"op": "replace", "path": "/insightDetails/state", "value": "End"}])
	count(cloudtrail.alerts) == 0 with input as e
	cloudtrail.ignore == {"CloudTrail Insight RunInstances ended (its start was the detection)"} with input as e
}

test_console_login_without_mfa if {
	r := rec("ConsoleLogin", "signin.amazonaws.com", {"eventType": "AwsConsoleSignIn", "responseElements": {"ConsoleLogin": "Success"}, "additionalEventData": {"MFAUsed": "No"}})
	some a in cloudtrail.alerts with input as r
	a.severity == "medium"
}

test_unrecognised if {
	some a in cloudtrail.alerts with input as {"detail-type": "EC2 Instance State-change Notification", "detail": {}}
	a.title == "cloudtrail: unrecognised event (EC2 Instance State-change Notification)"
	a.severity == "low"
	some b in cloudtrail.alerts with input as rec("X", "ec2.amazonaws.com", {"eventType": "SomethingNew"})
	b.title == "cloudtrail: unrecognised event (SomethingNew)"
	count(cloudtrail.alerts) == 0 with input as {"foo": 1} with data.hutch.config.strict_sources as ["cloudtrail"]
}
