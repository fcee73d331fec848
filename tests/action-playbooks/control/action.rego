package action

import rego.v1

run contains {
	"id": "run_first",
	"uses": "http.fetch",
	"args": {"method": "GET", "url": "http://127.0.0.1:9/first"},
	"commit": [{"id": a.id, "key": "k2", "value": "v2a"}, {"key": "k3", "value": "v3"}],
} if {
	some a in input.alert.attrs
	a.key == "k2"
}

run contains {"id": "run_after", "uses": "slack.post", "args": {"secret_url": "https://hooks.example/x", "channel": "#c"}} if {
	input.called[_].id == "run_first"
}
