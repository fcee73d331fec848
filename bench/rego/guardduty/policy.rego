# Benchmark (a): a Warren-style ingest policy for Amazon GuardDuty findings delivered
# through EventBridge. It turns one finding into one alert (title, description,
# attributes with links), ignores low-severity and known-noisy findings, and labels
# the severity the way an analyst reads it. Query: data.ingest.guardduty.alerts
package ingest.guardduty

import rego.v1

# Finding types that are noise in this organisation.
noisy_types := {
	"Stealth:S3/ServerAccessLoggingDisabled",
	"Policy:IAMUser/RootCredentialUsage",
	"Recon:EC2/PortProbeUnprotectedPort",
}

finding := input.detail

ignore if input.source != "aws.guardduty"

ignore if finding.severity < 4.0

ignore if noisy_types[finding.type]

ignore if finding.service.archived == true

severity_label := "critical" if finding.severity >= 8.0
else := "high" if finding.severity >= 6.0
else := "medium"

console_link := sprintf("https://console.aws.amazon.com/guardduty/home?region=%s#/findings?search=id%%3D%s", [
	finding.region,
	finding.id,
])

instance_id := finding.resource.instanceDetails.instanceId

default remote_ip := ""

remote_ip := finding.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4

attrs contains {"key": "severity", "value": severity_label, "link": ""}

attrs contains {"key": "account", "value": finding.accountId, "link": ""}

attrs contains {"key": "finding_id", "value": finding.id, "link": console_link}

attrs contains {
	"key": "instance",
	"value": instance_id,
	"link": sprintf("https://console.aws.amazon.com/ec2/home?region=%s#Instances:instanceId=%s", [finding.region, instance_id]),
}

attrs contains {"key": "remote_ip", "value": remote_ip, "link": ""} if remote_ip != ""

attrs contains {"key": "count", "value": finding.service.count, "link": ""}

alerts contains {
	"title": sprintf("%s in %s", [finding.type, finding.region]),
	"description": finding.description,
	"topic": "aws-guardduty",
	"attrs": attrs,
} if {
	not ignore
}
