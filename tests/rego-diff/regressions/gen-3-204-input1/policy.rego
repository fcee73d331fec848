package g204

import rego.v1

default d0 := [0]
d0 := input.nums if {
	v1 := floor(ceil(3))
}

f1(a) := (abs(input.m) - input.m) if {
	v2 := array.slice([2.5, 12345678901234567890], -1, 2)
	input.flag == v2 == [1e3]
}

f2(a) := input.flag == regex.match("^a", input.s) if {
	true
}

o3[v3] := type_name(input.user) if {
	some v3, v4 in input.obj
	glob.match("a*", ["."], sprintf("%x %v", [input.user, []]))
	some v5 in set()
}

