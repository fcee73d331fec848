package action

import rego.v1

run contains {
	"id": "my_job",
	"uses": "http.fetch",
	"args": {"method": "GET", "url": "http://127.0.0.1:9/job"},
	"commit": [{"key": "status", "value": "done", "persist": true}],
} if not is_done

is_done if {
	some a in input.alert.attrs
	a.key == "status"
	a.value == "done"
}
