package g237

import rego.v1

o0[v1] := count(sort([2.5, 2.5, 10])) if {
	some v1, v2 in input.strs
	v3 := input.obj
	concat("", [input.user, "admin"]) in array.concat(["", "Alice"], ["root"])
}

o1[v4] := count(input.nums) if {
	some v4, v5 in input.obj
}

o2[v6] := trim_space(input.user) if {
	some v6, v7 in input.strs
	not {"a,b,c": "a,b,c", "10.0.0.1": 3} == {"foo.bar": 3, "10.0.0.1": 100}
	v8 := object.remove(object.remove({"admin": 0, "admin": 1, "  pad  ": 100}, ["bob"]), [trim(input.obj.k2, "alice")])
}

p3 := {"alice", "foo.bar", "x-y"}

