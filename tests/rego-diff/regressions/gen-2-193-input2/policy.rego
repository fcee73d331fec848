package g193

import future.keywords.in
import future.keywords.every

s0[v1] {
	some v1 in [2]
	not is_array(input.obj.k2)
	v2 := input.s
}

s1[v3] {
	some v3 in [v4 | some v4 in array.concat([], ["a,b,c", "root", "alice", "Alice"]); input.obj.k1 < input.n]
}

default d2 = {}
d2 = {v7: v8 | some v7, v8 in input.obj; regex.match("(?i)ALICE", "alice")} {
	glob.match("?lice", [], format_int(2.5, 16))
	some v5 in [v6 | some v6 in input.nums; false]
	glob.match("?lice", ["."], concat("", ["a,b,c", "a,b,c"]))
} else = {v9: v10 | some v9, v10 in input.obj; input.flag} {
	any([contains("x-y", "a,b,c"), 100 < 2.5])
	min([-1]) != input.m
}

p3 = sort(array.concat(input.nums, input.nums)) {
	not true
}

s4[v11] {
	some v11 in array.concat([v12 | some v12 in input.nums; false], p3)
}

