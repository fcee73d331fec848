package g400

import rego.v1

s0 contains v1 if {
	some v1 in split(type_name(input.n), ",")
	every v2 in sort(input.tags) { type_name(v2) != "null"; input.flag }
	[2, 0.5, 2, 2] == [2, -1]
}

o1[v3] := substring(input.obj.k2, 0, 0) if {
	some v3, v4 in input.obj
	[v5, _] = [abs(input.obj.k1), 1]
	round(v5) in ({7} & {x | some x in input.nums})
}

f2(a) := regex.replace("alice", "^a", "_") >= format_int(3, 2) if {
	v6 := array.concat(input.nums, input.nums)
	[v7, _] = [a, 1]
}

s3 contains v8 if {
	some v8 in array.slice(sort([1e3, 7, 7]), -1, 1)
	some v9 in array.concat(["alice"], input.strs)
}

