# AlertChain-style alert policy for GuardDuty (AlertChain contract: alert.<schema>, set `alert`).
#
# Input: the AWS CLI `get-findings` output {"Findings": [...]} (PascalCase keys), as in
# AlertChain's example. Accepts Trojan:* findings and any finding with Severity > 7;
# attributes carry types for later actions, and the instance id is persisted for a day
# in the namespace of its instance so that alerts on the same instance share it.
package alert.aws_guardduty

import rego.v1

accepted(f) if startswith(f.Type, "Trojan:")

accepted(f) if f.Severity > 7

# GuardDuty's 1.0-10.0 scale on the Hutch one
severity(f) := "critical" if f.Severity >= 9

else := "high" if f.Severity >= 7

else := "medium" if f.Severity >= 4

else := "low"

instance_id(f) := object.get(f, ["Resource", "InstanceDetails", "InstanceId"], "")

namespace(f) := sprintf("aws_guardduty/instance/%s", [instance_id(f)]) if instance_id(f) != ""

namespace(f) := sprintf("aws_guardduty/account/%v", [object.get(f, "AccountId", "unknown")]) if instance_id(f) == ""

action(f) := object.get(f, ["Service", "Action"], {})

remote_ips(f) := {ip |
	some kind in ["NetworkConnectionAction", "AwsApiCallAction", "KubernetesApiCallAction"]
	ip := object.get(action(f), [kind, "RemoteIpDetails", "IpAddressV4"], "")
	ip != ""
} | {ip |
	some d in object.get(action(f), ["PortProbeAction", "PortProbeDetails"], [])
	ip := object.get(d, ["RemoteIpDetails", "IpAddressV4"], "")
	ip != ""
}

attrs(f) := array.concat(
	array.concat(
		[{"key": "instance_id", "value": id, "type": "instance_id", "persist": true, "ttl": 86400} |
			id := instance_id(f)
			id != ""
		],
		[{"key": "domain", "value": d, "type": "domain", "persist": false, "ttl": 0} |
			d := object.get(action(f), ["DnsRequestAction", "Domain"], "")
			d != ""
		],
	),
	array.concat(
		[{"key": "remote_ip", "value": ip, "type": "ip_addr", "persist": false, "ttl": 0} | some ip in remote_ips(f)],
		[{"key": "account_id", "value": a, "type": "aws_account_id", "persist": false, "ttl": 0} |
			a := sprintf("%v", [object.get(f, "AccountId", "")])
			a != ""
		],
	),
)

alert contains {
	"title": f.Type,
	"description": object.get(f, "Description", ""),
	"source": "aws",
	"severity": severity(f),
	"namespace": namespace(f),
	"attrs": attrs(f),
	"refs": [{
		"title": "GuardDuty finding types",
		"url": "https://docs.aws.amazon.com/guardduty/latest/ug/guardduty_finding-types-active.html",
	}],
} if {
	some f in input.Findings
	accepted(f)
}

# Why a finding was not accepted (Hutch records it when `alert` is empty).
ignore contains sprintf("not a Trojan finding and severity %v <= 7: %s", [f.Severity, f.Type]) if {
	some f in input.Findings
	not accepted(f)
}

ignore contains "not a GuardDuty Findings list" if not is_array(object.get(input, "Findings", null))
