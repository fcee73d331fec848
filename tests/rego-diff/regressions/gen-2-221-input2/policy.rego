package g221

import rego.v1

p0 := abs(count(input.obj)) if {
	v1 := ({x | some x in input.strs} & ({"  pad  ", "Alice"} | {"admin"}))
	v2 := (({x | some x in input.strs} & {"admin", "  pad  ", "a,b,c"}) - ({x | some x in input.strs} | v1))
	every v3 in split("alice", ".") { type_name(v3) != "null"; is_string(input.obj.k2) }
} else := (12345678901234567890 + 0.5) if {
	input.flag
	v4 := {"ÄÖ"}
}

p1 := [v7 | some v7 in input.nums; input.nums == [100, 2.5, 2, 0]] if {
	[v5, _] = [round(input.m), 1]
	[v6, _] = [max({x | some x in input.nums}), 1]
}

f2(a) := strings.count(regex.replace(input.user, "[0-9]+", "_"), strings.reverse(input.user)) if {
	v8 := {}
	not input.nums == input.nums
}

p3 := upper(trim_left("x-y", input.obj.k2)) if {
	not input.s < "alice"
} else := regex.replace(input.user, "x|y", "_") if {
	not true
}

f4(a) := regex.replace(input.s, "^[a-z]+$", "$1") < concat("", [p3, input.user]) if {
	[v9, _] = [input.n, 1]
	v10 := regex.replace("foo.bar", "\\.", "")
}

o5[v11] := v12 if {
	some v11, v12 in input.strs
}

