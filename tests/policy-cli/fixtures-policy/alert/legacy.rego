# An AlertChain-style (Rego v0) alert policy: `alert[res] { ... }` with attrs that
# persist in the namespace and refs, which Hutch turns into link attributes.
package alert.legacy

alert[res] {
	input.kind == "bad"
	res := {
		"title": sprintf("legacy: bad thing on %s", [input.host]),
		"description": "an AlertChain policy",
		"source": "legacy-scanner",
		"namespace": input.host,
		"attrs": [
			{"id": "a1", "key": "ip", "value": input.ip, "type": "ip_addr", "persist": true},
			{"id": "a2", "key": "user", "value": input.user, "persist": true, "ttl": 600},
			{"key": "note", "value": "kept only with the alert"},
		],
		"refs": [{"title": "runbook", "url": "https://runbooks.example/legacy"}],
	}
}
