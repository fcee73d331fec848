# AWS CloudTrail records -> Hutch alerts (ingest.cloudtrail).
#
# Accepted shapes, one decision per record:
#   - EventBridge events {"detail-type": "AWS API Call via CloudTrail" | "AWS Console Sign
#     In via CloudTrail" | "AWS Service Event via CloudTrail" | "AWS Insight via
#     CloudTrail", "source": "aws.<service>", "account", "region", "detail": <record>},
#   - a CloudTrail log file {"Records": [<record>, ...]} (S3 delivery),
#   - a bare record {"eventVersion", "eventSource", "eventName", "eventType", "userIdentity",
#     "sourceIPAddress", "awsRegion", "recipientAccountId", "errorCode", ...}.
# Detections: console sign-in failures (low) and sign-ins without MFA (medium), any use of
# the root account (high), IAM changes (users, keys, policies, roles, MFA devices: medium;
# administrator policies attached: high), logging and detection turned off (CloudTrail,
# GuardDuty, Security Hub, Config, VPC flow logs: high), S3 public access blocks removed,
# calls denied (AccessDenied, UnauthorizedOperation: low), CloudTrail Insights (medium).
# Non-detections (ignored with a reason): every other API call, sign-in or service event:
# informational audit events. Records of another eventType, or events that are no
# CloudTrail record: "cloudtrail: unrecognised event (<eventType or detail-type>)".
package ingest.cloudtrail

import rego.v1

import data.hutch.lib

source := "cloudtrail"

eventbridge_types := {"AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail",
	"AWS Service Event via CloudTrail", "AWS Insight via CloudTrail", "AWS Console Action via CloudTrail"}

records contains input.detail if {
	input["detail-type"] in eventbridge_types
	is_object(input.detail)
}

records contains r if {
	some r in input.Records
	is_object(r)
}

records contains input if is_string(input.eventName)

record_types := {"AwsApiCall", "AwsConsoleSignIn", "AwsServiceEvent", "AwsCloudTrailInsight", "AwsConsoleAction", "AwsVpceEvent"}

event_type(r) := lib.str(object.get(r, "eventType", ""))

name(r) := lib.str(object.get(r, "eventName", ""))

service(r) := trim_suffix(lib.str(object.get(r, "eventSource", "")), ".amazonaws.com")

identity(r) := object.get(r, "userIdentity", {})

principal(r) := p if {
	p := lib.str(object.get(identity(r), "arn", ""))
	p != ""
} else := p if {
	p := lib.str(object.get(identity(r), "userName", ""))
	p != ""
} else := lib.str(object.get(identity(r), "type", ""))

root(r) if {
	identity(r).type == "Root"
	not identity(r).invokedBy
	event_type(r) != "AwsServiceEvent"
}

iam_changes := {"CreateUser", "DeleteUser", "CreateAccessKey", "UpdateAccessKey", "CreateLoginProfile",
	"UpdateLoginProfile", "DeleteLoginProfile", "AddUserToGroup", "AttachUserPolicy", "AttachRolePolicy",
	"AttachGroupPolicy", "PutUserPolicy", "PutRolePolicy", "PutGroupPolicy", "CreatePolicyVersion",
	"SetDefaultPolicyVersion", "CreateRole", "UpdateAssumeRolePolicy", "DeactivateMFADevice",
	"DeleteVirtualMFADevice", "CreateSAMLProvider", "UpdateSAMLProvider", "CreateOpenIDConnectProvider"}

defense_evasion := {
	"cloudtrail": {"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"},
	"guardduty": {"DeleteDetector", "UpdateDetector", "DisassociateFromMasterAccount", "DeleteMembers"},
	"securityhub": {"DisableSecurityHub", "BatchDisableStandards", "DeleteMembers"},
	"config": {"StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteDeliveryChannel"},
	"ec2": {"DeleteFlowLogs"},
	"s3": {"DeleteBucketPublicAccessBlock", "PutBucketPolicy", "PutBucketAcl"},
	"access-analyzer": {"DeleteAnalyzer"},
}

admin_policy(r) if contains(lib.str(object.get(r, ["requestParameters", "policyArn"], "")), "AdministratorAccess")

denied(r) if lib.str(object.get(r, "errorCode", "")) in {"AccessDenied", "UnauthorizedOperation", "Client.UnauthorizedOperation", "AccessDeniedException"}

login_result(r) := lib.str(object.get(r, ["responseElements", "ConsoleLogin"], ""))

# The detection a record is, first match wins.
detection(r) := {"title": sprintf("CloudTrail Insight: unusual %s of %s:%s", [lib.str(object.get(r, ["insightDetails", "insightType"], "activity")), service(r), name(r)]), "severity": "medium"} if {
	event_type(r) == "AwsCloudTrailInsight"
	lib.str(object.get(r, ["insightDetails", "state"], "Start")) == "Start"
} else := {"title": "AWS console sign-in failure", "severity": "low"} if {
	name(r) == "ConsoleLogin"
	login_result(r) == "Failure"
} else := {"title": sprintf("AWS root account used: %s:%s", [service(r), name(r)]), "severity": "high"} if {
	root(r)
} else := {"title": sprintf("AWS logging or detection turned off: %s:%s", [service(r), name(r)]), "severity": "high"} if {
	name(r) in defense_evasion[service(r)]
	not denied(r)
} else := {"title": sprintf("AWS administrator policy attached: %s", [name(r)]), "severity": "high"} if {
	name(r) in iam_changes
	admin_policy(r)
	not denied(r)
} else := {"title": sprintf("AWS IAM change: %s", [name(r)]), "severity": "medium"} if {
	service(r) == "iam"
	name(r) in iam_changes
	not denied(r)
} else := {"title": sprintf("AWS call denied: %s:%s", [service(r), name(r)]), "severity": "low"} if {
	denied(r)
} else := {"title": "AWS console sign-in without MFA", "severity": "medium"} if {
	name(r) == "ConsoleLogin"
	login_result(r) == "Success"
	object.get(r, ["additionalEventData", "MFAUsed"], "") == "No"
	identity(r).type == "IAMUser"
}

routine(r) if {
	not detection(r)
	event_type(r) in record_types
	event_type(r) != "AwsCloudTrailInsight"
}

ignore contains sprintf("informational audit event: %s:%s by %s%s", [service(r), name(r), principal(r), read_only_note(r)]) if {
	some r in records
	routine(r)
}

read_only_note(r) := " (read-only)" if r.readOnly == true

else := ""

ignore contains "CloudTrail log file with no records" if {
	is_array(input.Records)
	count(input.Records) == 0
}

ignore contains sprintf("CloudTrail Insight %s ended (its start was the detection)", [name(r)]) if {
	some r in records
	event_type(r) == "AwsCloudTrailInsight"
	lib.str(object.get(r, ["insightDetails", "state"], "")) == "End"
}

unrecognised_kinds contains lib.kind(object.get(input, "detail-type", ""), "eventName, Records or CloudTrail detail-type") if {
	count(records) == 0
	not is_array(object.get(input, "Records", null))
}

unrecognised_kinds contains lib.kind(object.get(r, "eventType", ""), "eventType") if {
	some r in records
	not event_type(r) in record_types
}

ignore contains lib.unrecognised_reason(source, k) if {
	lib.strict(source)
	some k in unrecognised_kinds
}

region(r) := lib.str(object.get(r, "awsRegion", object.get(input, "region", "")))

account(r) := lib.str(object.get(r, "recipientAccountId", object.get(input, "account", "")))

target(r) := t if {
	rp := object.get(r, "requestParameters", {})
	is_object(rp)
	ts := [lib.str(v) |
		some k in ["userName", "roleName", "groupName", "policyArn", "name", "bucketName", "detectorId", "instanceId", "trailName"]
		v := object.get(rp, k, "")
		v != ""
	]
	t := ts[0]
} else := ""

event_link(r) := sprintf("https://console.aws.amazon.com/cloudtrailv2/home?region=%s#/events/%s", [region(r), r.eventID]) if {
	is_string(r.eventID)
	region(r) != ""
} else := ""

attributes(r) := lib.attrs([
	["principal", principal(r)],
	["identity_type", lib.str(object.get(identity(r), "type", ""))],
	["access_key_id", lib.str(object.get(identity(r), "accessKeyId", ""))],
	["src_ip", lib.str(object.get(r, "sourceIPAddress", ""))],
	["target", target(r)],
	["event_name", sprintf("%s:%s", [service(r), name(r)])],
	["error_code", lib.str(object.get(r, "errorCode", ""))],
	["account_id", account(r)],
	["region", region(r)],
	["user_agent", lib.str(object.get(r, "userAgent", ""))],
	["event_id", lib.str(object.get(r, "eventID", "")), event_link(r)],
])

alerts contains {
	"title": d.title,
	"description": sprintf("CloudTrail %s %s:%s by %s from %s in account %s%s", [event_type(r), service(r), name(r), principal(r), lib.str(object.get(r, "sourceIPAddress", "?")), account(r), error_note(r)]),
	"attributes": attributes(r),
	"tags": ["aws", "cloudtrail", d.severity],
	"severity": d.severity,
} if {
	some r in records
	d := detection(r)
}

error_note(r) := sprintf(" (%s: %s)", [r.errorCode, lib.str(object.get(r, "errorMessage", ""))]) if is_string(r.errorCode)

else := ""

alerts contains lib.unrecognised_alert(source, k) if {
	not lib.strict(source)
	some k in unrecognised_kinds
}
