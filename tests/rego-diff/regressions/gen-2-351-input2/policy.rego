package g351

import rego.v1

s0 contains v1 if {
	some v1 in input.nums
	not regex.match("(?i)ALICE", input.s)
	v2 := sort([0, 2, 3])
}

default d1 := {"  pad  "}
d1 := {x | some x in input.strs} if {
	endswith(input.obj.k2, input.s) == regex.match("o+", input.user)
	v3 := bits.or(input.n, bits.xor(0, 2.5))
	input.obj == object.filter({}, [input.s, input.obj.k2])
}

o2[v4] := substring(input.user, 2, 0) if {
	some v4, v5 in input.obj
	[v6, _] = [ceil(input.m), 1]
}

f3(a) := input.obj.k2 < trim_space(v7) if {
	v7 := replace(replace(input.obj.k2, "root", input.user), input.obj.k2, concat("", input.tags))
	not o2 == {"  pad  ": "  pad  ", "admin": -1, "  pad  ": "  pad  "}
}

