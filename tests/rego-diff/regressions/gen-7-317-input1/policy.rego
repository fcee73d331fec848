package g317

import rego.v1

p0 := input.nums if {
	some v1 in ({x | some x in input.nums} & {x | some x in input.nums})
	is_array({v2: v3 | some v2, v3 in input.obj; input.flag})
} else := input.nums if {
	not regex.match("x|y", "ÄÖ")
	some v4 in ({x | some x in input.nums} & {10, 0})
}

p1 := ({"Alice", "ÄÖ"} & (set() - {x | some x in input.strs})) if {
	every v5 in array.concat([""], input.tags) { type_name(v5) != "null"; net.cidr_contains("192.168.1.0/24", "10.0.0.1") }
	v6 := contains(type_name({10, -1}), trim_left(input.user, input.user))
	input.flag
} else := {v7 | some v7 in {x | some x in input.strs}; input.flag} if {
	not true
}

default d2 := true
d2 := input.flag

s3 contains v8 if {
	some v8 in sort(array.slice(input.tags, 1, 10))
	some v9 in array.concat(input.tags, ["bob", "admin"])
	not input.flag
}

o4[v10] := v11 if {
	some v10, v11 in input.strs
	some v12 in {2.5, 3, 10}
	not is_string(input.obj)
}

