# A small alert policy in the style Hutch users bring (Warren-like), used by
# test_policy_cli.py to check `hutchctl policy eval/test` against `opa eval/test`.
package hutch.detect

import rego.v1

default severity := "low"

severity := "high" if input.detail.severity >= 7

severity := "medium" if {
	input.detail.severity >= 4
	input.detail.severity < 7
}

trusted_user if input.detail.user in data.lists.users

trusted_ip if {
	some cidr in data.lists.cidrs
	net.cidr_contains(cidr, input.detail.ip)
}

alerts contains alert if {
	not trusted_user
	not trusted_ip
	alert := {
		"title": sprintf("%s from %s", [input.detail.type, input.detail.ip]),
		"severity": severity,
		"attrs": [{"key": "user", "value": input.detail.user}],
	}
}

tags[k] := upper(v) if some k, v in input.detail.tags

ratio := input.detail.severity / 3
