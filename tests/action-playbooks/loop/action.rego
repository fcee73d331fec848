package action

import rego.v1

# No id: a new action every round while the counter is below 10.
run contains {
	"uses": "http.fetch",
	"args": {"method": "GET", "url": "http://127.0.0.1:9/count"},
	"commit": [{"id": p.id, "key": "c", "value": p.value + 1}],
} if {
	some p in input.alert.attrs
	p.key == "c"
	p.value < 10
}
