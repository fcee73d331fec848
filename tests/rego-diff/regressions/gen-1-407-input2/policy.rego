package g407

import rego.v1

p0 := ({""} & ({x | some x in input.strs} & {"admin", "x-y"}))

o1[v1] := v2 if {
	some v1, v2 in input.strs
}

p2 := sort([-1, 100, 1e3, 3]) if {
	regex.match("(?i)ALICE", sprintf("%s:%d", [input.obj.k1, 7]))
	not 1e3 > input.n
	{"a,b,c": "Alice", "admin": 100} == {"10.0.0.1": 10, "alice": 0}
}

