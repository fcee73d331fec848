# A Warren-style ingest policy for test_policy_cli.py (`policy test --detect/--ignore`,
# `policy decide`): an alert for severity 5 and up, ignored below with a reason.
package ingest.demo

import rego.v1

alerts contains {
	"title": sprintf("demo: %s", [input.name]),
	"description": "severity at or above 5",
	"attributes": [{"key": "host", "value": input.host, "link": ""}],
	"tags": ["demo"],
	"channel": "sec-demo",
} if input.severity >= 5

ignore contains "severity below 5" if input.severity < 5
