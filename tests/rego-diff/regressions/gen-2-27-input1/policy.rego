package g27

import rego.v1

f0(a) := substring(trim_space("10.0.0.1"), 2, 5) if {
	v1 := ceil((100 + 2.5))
}

default d1 := true
d1 := true if {
	[v2, _] = [input.obj.k1, 1]
	[v3, _] = [abs(v2), 1]
	true
}

p2 := replace(v4, format_int(100, 8), json.marshal("bob")) if {
	glob.match("?lice", [], input.obj.k2) == glob.match("a*", ["."], "a,b,c")
	v4 := replace(replace(input.obj.k2, input.user, input.s), input.user, regex.replace(input.user, "^[a-z]+$", ""))
	not contains(input.user, input.obj.k2)
} else := f0(input.m) if {
	not true
}

o3[v5] := regex.replace(p2, "^[a-z]+$", "_") if {
	some v5, v6 in input.nums
}

f4(a) := p2 if {
	not o3 == o3
	some v7 in array.concat(input.tags, input.strs)
}

