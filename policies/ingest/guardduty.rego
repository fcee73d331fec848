# Amazon GuardDuty findings -> Hutch alerts (Warren contract: ingest.<schema>, set `alerts`).
#
# Accepted input shapes (one alert per finding):
#   (a) a raw finding as in the GuardDuty API / EventBridge `detail` (camelCase keys),
#   (b) the EventBridge event {"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {...}},
#   (c) the AWS CLI `get-findings` output {"Findings": [...]} (PascalCase keys),
#   (d) GuardDuty findings imported into Security Hub (ASFF: ProductArn .../product/aws/guardduty),
#       bare, in {"Findings": [...]} or in an EventBridge "Security Hub Findings - Imported" event,
#   (e) EventBridge "GuardDuty Malware Protection Object Scan Result" events with threats found.
# Both key styles of (a)-(c) are read through `get`, which tries the camelCase path then
# the same path with every key capitalised (ipAddressV4 -> IpAddressV4 ...).
# Severity: GuardDuty's 1.0-10.0 scale, < 4 low, < 7 medium, < 9 high, else critical
# (low-severity findings, port probes included, are alerts: the cluster service groups
# them). Non-detections (ignored with a reason): archived findings, an empty findings
# list, malware scans that found nothing, Runtime Monitoring coverage notices. Anything
# else: "guardduty: unrecognised event (<detail-type or type>)".
package ingest.guardduty

import rego.v1

import data.hutch.lib

source := "guardduty"

# --- input shapes ---------------------------------------------------------

findings contains input.detail if {
	input["detail-type"] == "GuardDuty Finding"
	is_object(input.detail)
}

findings contains input.detail if {
	input.source == "aws.guardduty"
	not input["detail-type"]
	is_object(input.detail)
}

findings contains input if {
	is_string(input.type)
	is_number(input.severity)
}

findings contains f if {
	some f in input.Findings
	is_object(f)
	not asff(f)
}

# --- Security Hub (ASFF) imports of GuardDuty findings ------------------------

asff(f) if contains(lib.str(object.get(f, "ProductArn", "")), "/aws/guardduty")

asff_findings contains f if {
	some f in object.get(input, "Findings", object.get(input, ["detail", "findings"], []))
	asff(f)
}

asff_findings contains input if asff(input)

asff_severity(f) := s if {
	s := {"INFORMATIONAL": "info", "LOW": "low", "MEDIUM": "medium", "HIGH": "high", "CRITICAL": "critical"}[upper(lib.str(object.get(f, ["Severity", "Label"], "")))]
} else := severity_label(to_number(object.get(f, ["FindingProviderFields", "Severity", "Original"], object.get(f, ["Severity", "Product"], 5))))

asff_attributes(f) := array.concat(
	lib.attrs([
		["account_id", lib.str(object.get(f, "AwsAccountId", ""))],
		["region", lib.str(object.get(f, "Region", object.get(f, ["Resources", 0, "Region"], "")))],
		["finding_type", lib.str(object.get(f, ["Types", 0], ""))],
		["severity", asff_severity(f)],
		["remote_ip", lib.str(object.get(f, ["ProductFields", "aws/guardduty/service/action/networkConnectionAction/remoteIpDetails/ipAddressV4"], object.get(f, ["ProductFields", "aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV4"], "")))],
		["finding_id", lib.str(object.get(f, "Id", "")), lib.str(object.get(f, "SourceUrl", ""))],
	]),
	[{"key": k, "value": r.Id} |
		some r in object.get(f, "Resources", [])
		is_string(r.Id)
		k := {"AwsEc2Instance": "instance_id", "AwsIamAccessKey": "access_key_user", "AwsS3Bucket": "bucket", "AwsEksCluster": "cluster"}[r.Type]
	],
)

# --- other GuardDuty EventBridge events -----------------------------------------

scan_result := lib.str(object.get(input, ["detail", "scanResultDetails", "scanResultStatus"], "")) if {
	input["detail-type"] == "GuardDuty Malware Protection Object Scan Result"
}

coverage_notice if startswith(lib.str(object.get(input, "detail-type", "")), "GuardDuty Runtime Protection")

# --- accessors ------------------------------------------------------------

cap(k) := concat("", [upper(substring(k, 0, 1)), substring(k, 1, -1)])

pascal(path) := [cap(k) | some k in path]

# camelCase first; the PascalCase path is only built when that misses
get(f, path, d) := v if {
	v := object.get(f, path, absent)
	v != absent
} else := object.get(f, pascal(path), d)

absent := "\u0000absent"

str(v) := v if is_string(v)

str(v) := sprintf("%v", [v]) if not is_string(v)

severity(f) := get(f, ["severity"], 0)

severity_label(s) := "low" if s < 4

severity_label(s) := "medium" if {
	s >= 4
	s < 7
}

severity_label(s) := "high" if {
	s >= 7
	s < 9
}

severity_label(s) := "critical" if s >= 9

finding_type(f) := get(f, ["type"], "unknown")

account_id(f) := get(f, ["accountId"], object.get(input, "account", ""))

region(f) := get(f, ["region"], object.get(input, "region", ""))

action(f) := get(f, ["service", "action"], {})

remote_ips(f) := ips if {
	a := action(f)
	direct := {ip |
		some kind in ["networkConnectionAction", "awsApiCallAction", "kubernetesApiCallAction", "rdsLoginAttemptAction"]
		ip := get(a, [kind, "remoteIpDetails", "ipAddressV4"], "")
		ip != ""
	}
	probes := {ip |
		some d in get(a, ["portProbeAction", "portProbeDetails"], [])
		ip := get(d, ["remoteIpDetails", "ipAddressV4"], "")
		ip != ""
	}
	k8s := {ip |
		some ip in get(a, ["kubernetesApiCallAction", "sourceIps"], [])
		is_string(ip)
	}
	ips := (direct | probes) | k8s
}

domains(f) := {d |
	some p in [["dnsRequestAction", "domain"], ["awsApiCallAction", "domainDetails", "domain"]]
	d := get(action(f), p, "")
	d != ""
}

console_link(f) := sprintf("https://console.aws.amazon.com/guardduty/home?region=%s#/findings?macros=current&fId=%s", [region(f), get(f, ["id"], "")])

attributes(f) := array.concat(
	array.concat(
		[{"key": c[0], "value": c[1]} |
			some c in [
				["instance_id", get(f, ["resource", "instanceDetails", "instanceId"], "")],
				["access_key_user", get(f, ["resource", "accessKeyDetails", "userName"], "")],
				["account_id", str(account_id(f))],
				["region", region(f)],
				["finding_type", finding_type(f)],
				["severity", severity_label(severity(f))],
			]
			c[1] != ""
		],
		[{"key": "remote_ip", "value": ip} | some ip in remote_ips(f)],
	),
	array.concat(
		[{"key": "domain", "value": d} | some d in domains(f)],
		[{"key": "finding_id", "value": id, "link": console_link(f)} |
			id := get(f, ["id"], "")
			id != ""
		],
	),
)

# --- decisions ------------------------------------------------------------

archived(f) if get(f, ["service", "archived"], false) == true

ignore contains sprintf("archived finding (archived by a suppression rule or a person): %s", [finding_type(f)]) if {
	some f in findings
	archived(f)
}

ignore contains sprintf("archived finding in Security Hub (RecordState ARCHIVED): %s", [lib.str(object.get(f, "Title", ""))]) if {
	some f in asff_findings
	f.RecordState == "ARCHIVED"
}

ignore contains "empty findings list (get-findings returned no finding)" if {
	is_array(input.Findings)
	count(input.Findings) == 0
}

ignore contains sprintf("malware scan completed: %s (not a detection)", [scan_result]) if {
	scan_result
	scan_result != "THREATS_FOUND"
}

ignore contains sprintf("Runtime Monitoring coverage notice: %s", [input["detail-type"]]) if coverage_notice

recognised if count(findings) > 0

recognised if count(asff_findings) > 0

recognised if is_array(input.Findings)

recognised if scan_result

recognised if coverage_notice

kind := k if {
	k := lib.str(object.get(input, "detail-type", ""))
	k != ""
} else := lib.kind(object.get(input, "type", ""), "detail-type or finding type")

ignore contains lib.unrecognised_reason(source, kind) if {
	not recognised
	lib.strict(source)
}

alerts contains lib.unrecognised_alert(source, kind) if {
	not recognised
	not lib.strict(source)
}

alerts contains {
	"title": get(f, ["title"], finding_type(f)),
	"description": get(f, ["description"], ""),
	"attributes": attributes(f),
	"tags": ["aws", "guardduty", severity_label(severity(f))],
	"severity": severity_label(severity(f)),
} if {
	some f in findings
	not archived(f)
}

alerts contains {
	"title": lib.str(object.get(f, "Title", object.get(f, ["Types", 0], "GuardDuty finding"))),
	"description": lib.str(object.get(f, "Description", "")),
	"attributes": asff_attributes(f),
	"tags": ["aws", "guardduty", "securityhub", asff_severity(f)],
	"severity": asff_severity(f),
} if {
	some f in asff_findings
	f.RecordState != "ARCHIVED"
}

alerts contains {
	"title": sprintf("GuardDuty Malware Protection: threats found in %s", [object_key]),
	"description": sprintf("GuardDuty Malware Protection scanned s3://%s/%s and found: %s", [bucket, object_key, concat(", ", threat_names)]),
	"attributes": lib.attrs([
		["bucket", bucket],
		["object_key", object_key],
		["account_id", lib.str(object.get(input, "account", ""))],
		["region", lib.str(object.get(input, "region", ""))],
		["threat", concat(", ", threat_names)],
	]),
	"tags": ["aws", "guardduty", "malware", "high"],
	"severity": "high",
} if {
	scan_result == "THREATS_FOUND"
}

bucket := lib.str(object.get(input, ["detail", "s3ObjectDetails", "bucketName"], ""))

object_key := lib.str(object.get(input, ["detail", "s3ObjectDetails", "objectKey"], ""))

threat_names := [lib.str(t.name) | some t in object.get(input, ["detail", "scanResultDetails", "threats"], [])]
