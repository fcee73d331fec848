package b.nettime

import rego.v1

out := {
	"cidr": [net.cidr_contains("10.0.0.0/8", input.ip), net.cidr_intersects("10.0.0.0/8", "10.1.0.0/16"), net.cidr_is_valid(input.cidr)],
	"expand": net.cidr_expand("192.168.1.0/30"),
	"merge": net.cidr_merge(["10.0.0.0/24", "10.0.1.0/24", "192.168.0.1"]),
	"t": time.parse_rfc3339_ns(input.ts),
	"date": time.date(time.parse_rfc3339_ns(input.ts)),
	"clock": time.clock([time.parse_rfc3339_ns(input.ts), "America/New_York"]),
	"weekday": time.weekday(time.parse_rfc3339_ns(input.ts)),
	"add": time.add_date(time.parse_rfc3339_ns(input.ts), 0, 1, 1),
	"diff": time.diff(time.parse_rfc3339_ns(input.ts), time.parse_rfc3339_ns("2020-02-29T12:00:00Z")),
	"format": time.format([time.parse_rfc3339_ns(input.ts), "UTC", "2006-01-02 15:04"]),
	"dur": time.parse_duration_ns("1h30m"),
	"objects": [object.get(input, ["a", "b"], "dflt"), object.keys({"x": 1, "y": 2}), object.remove({"a": 1, "b": 2}, ["a"]), object.union_n([{"a": 1}, {"a": {"b": 2}}])],
	"arrays": [array.reverse([1, 2, 3]), array.slice([1, 2, 3, 4], 1, 3), sum([1, 2.5]), max([3, 1]), sort(["b", "a"])],
}
