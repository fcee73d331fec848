# Amazon GuardDuty findings -> Hutch alerts (Warren contract: ingest.<schema>, set `alerts`).
#
# Accepted input shapes (one alert per finding):
#   (a) a raw finding as in the GuardDuty API / EventBridge `detail` (camelCase keys),
#   (b) the EventBridge event {"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {...}},
#   (c) the AWS CLI `get-findings` output {"Findings": [...]} (PascalCase keys).
# Both key styles are read through `get`, which tries the camelCase path then the same
# path with every key capitalised (ipAddressV4 -> IpAddressV4 ...).
# Findings with severity < 4 (GuardDuty "Low") are dropped; `ignore` says why.
package ingest.guardduty

import rego.v1

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
}

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

reasons(f) := [r |
	some c in [{
		"hit": severity(f) < 4,
		"reason": sprintf("low severity finding (%v < 4): %s", [severity(f), finding_type(f)]),
	}]
	c.hit
	r := c.reason
]

ignore contains r if {
	some f in findings
	some r in reasons(f)
}

ignore contains "not a GuardDuty finding (no finding, EventBridge GuardDuty event or Findings list)" if {
	count(findings) == 0
}

alerts contains {
	"title": get(f, ["title"], finding_type(f)),
	"description": get(f, ["description"], ""),
	"attributes": attributes(f),
	"tags": ["aws", "guardduty", severity_label(severity(f))],
} if {
	some f in findings
	count(reasons(f)) == 0
}
