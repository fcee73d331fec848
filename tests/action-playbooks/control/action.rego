package action

import rego.v1

run contains {
	"id": "run_first",
	"uses": "mock",
	"commit": [{"id": a.id, "key": "k2", "value": "v2a"}, {"key": "k3", "value": "v3"}],
} if {
	some a in input.alert.attrs
	a.key == "k2"
}

run contains {"id": "run_after", "uses": "mock.after", "args": {"secret_url": "https://hooks.example/x", "channel": "#c"}} if {
	input.called[_].id == "run_first"
}
