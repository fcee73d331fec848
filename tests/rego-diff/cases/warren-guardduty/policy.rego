# Warren-style ingest policy: GuardDuty finding -> alerts
package ingest.guardduty

import rego.v1

sev_name(s) := "high" if s >= 7
sev_name(s) := "medium" if {
	s >= 4
	s < 7
}
sev_name(s) := "low" if s < 4

remote_ip := input.detail.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4

internal if net.cidr_contains("10.0.0.0/8", remote_ip)

ignored if some p in data.ignore.types; glob.match(p, [":", "/"], input.detail.type)

alerts contains alert if {
	input.detail.severity >= 4
	not internal
	not ignored
	alert := {
		"title": input.detail.title,
		"description": sprintf("%s (severity %v)", [input.detail.type, input.detail.severity]),
		"severity": sev_name(input.detail.severity),
		"attrs": [{"key": "remote_ip", "value": remote_ip, "link": concat("", ["https://ipinfo.io/", remote_ip])}],
		"tags": {lower(t.key): t.value | some t in input.detail.resource.instanceDetails.tags},
	}
}

finding_id := id if {
	parts := split(input.detail.arn, "/")
	id := parts[count(parts) - 1]
}
