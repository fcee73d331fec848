# AlertChain-style v0 policy
package alert.falco

alert[res] {
	input.priority == "Critical"
	not allowed_container
	res := {
		"title": sprintf("Falco: %s", [input.rule]),
		"source": "falco",
		"attrs": [{"key": k, "value": v} | v := input.output_fields[k]; startswith(k, "container.")],
	}
}

allowed_container {
	input.output_fields["container.image.repository"] == data.allowed_images[_]
}

severity = "critical" { input.priority == "Critical" } else = "info" { true }
