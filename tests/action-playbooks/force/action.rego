package action

import rego.v1

run contains {"id": "force_continue", "uses": "http.fetch", "args": {"method": "GET", "url": "http://127.0.0.1:9/1"},
	"force": true} if input.seq == 0

run contains {"id": "stop_by_error", "uses": "http.fetch", "args": {"method": "GET", "url": "http://127.0.0.1:9/2"}} if {
	input.seq == 1
}

run contains {"id": "not_run", "uses": "http.fetch", "args": {"method": "GET", "url": "http://127.0.0.1:9/3"}} if {
	input.seq == 1
}
