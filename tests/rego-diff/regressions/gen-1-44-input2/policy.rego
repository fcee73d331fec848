package g44

import rego.v1

f0(a) := "x-y" if {
	not {"10.0.0.1": 1, "a,b,c": "10.0.0.1", "admin": 1e3} == input.obj
}

p1 := {v3 | some v3 in ({x | some x in input.strs} & {x | some x in input.strs}); false} if {
	some v1 in ({3, -1} | {x | some x in input.nums})
	v2 := regex.replace(strings.reverse(input.user), "^$", "")
}

p2 := is_array(input.obj) if {
	some v4 in sort(["  pad  ", "10.0.0.1", ""])
	some v5 in [v6 | some v6 in input.nums; input.flag]
} else := true == input.flag if {
	some v7 in array.concat(input.strs, input.strs)
}

p3 := {"foo.bar", "  pad  ", "Alice"}

s4 contains v8 if {
	some v8 in sort([0, 2, 3])
	regex.match("^$", type_name(v8))
}

s5 contains v9 if {
	some v9 in numbers.range(1, 0)
	{"10.0.0.1": "bob"} == {"admin": 3}
	[v10, _] = [input.m, 1]
}

