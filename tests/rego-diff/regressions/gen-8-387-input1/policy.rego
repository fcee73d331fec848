package g387

import rego.v1

s0 contains v1 if {
	some v1 in []
}

p1 := object.filter(object.union(v2, v2), ["ÄÖ", format_int(input.obj.k1, 10)]) if {
	sum([-1, 12345678901234567890, -1]) == strings.count(input.s, "  pad  ")
	v2 := {"x-y": "foo.bar"}
	true
} else := {v4: v5 | some v4, v5 in input.obj; input.flag} if {
	some v3 in numbers.range(0, 0)
}

p2 := json.marshal(format_int(v7, 2)) if {
	some v6 in array.concat(["root"], input.strs)
	regex.match("[0-9]+", replace(input.obj.k2, v6, input.obj.k2))
	v7 := input.n
} else := input.user if {
	not input.n != input.n
}

p3 := ({x | some x in input.strs} - {v8 | some v8 in input.tags; input.flag}) if {
	not true
}

