# Page once per namespace per 30 minutes: a high or critical alert with a namespace
# triggers PagerDuty unless the namespace already holds the persisted attribute
# "paged_at" (the namespace store keeps it 1800 s, then it expires and the next alert
# pages again). The agent serialises the alerts of one namespace, so two alerts
# arriving together do not both page.
package action

import rego.v1

paged_recently if {
	some a in input.alert.attrs
	a.key == "paged_at"
}

run contains {
	"id": "page-namespace",
	"name": "page the on-call once per namespace",
	"uses": "pagerduty.trigger",
	"args": {
		"secret_routing_key": input.env.PAGERDUTY_ROUTING_KEY,
		"summary": sprintf("[%s] %s", [input.alert.namespace, input.alert.title]),
		"severity": input.alert.severity,
		"dedup_key": sprintf("hutch:ns:%s", [input.alert.namespace]),
	},
	"commit": [{"id": "paged_at", "key": "paged_at", "value": input.alert.id, "persist": true, "ttl": 1800}],
} if {
	input.alert.namespace != ""
	input.alert.severity in {"high", "critical"}
	not paged_recently
	input.env.PAGERDUTY_ROUTING_KEY
}
