package g98

import rego.v1

p0 := array.concat(v1, array.concat(v1, v1)) if {
	v1 := [1e3, 1e3, 2.5]
	some v2 in array.concat(input.strs, input.tags)
} else := [2, -1, -1] if {
	input.flag == {x | some x in input.strs} == {x | some x in input.strs}
	some v3 in [-1, 0.5]
}

f1(a) := type_name(a) if {
	not glob.match("*", ["."], "Alice")
}

default d2 := 1e3
d2 := floor(to_number("-3"))

