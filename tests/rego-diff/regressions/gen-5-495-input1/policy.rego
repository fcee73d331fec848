package g495

import future.keywords.in
import future.keywords.every

s0[v1] {
	some v1 in sort(split("ÄÖ", "-"))
}

p1 = input.m {
	every v2 in input.nums { type_name(v2) != "null"; contains(input.user, "10.0.0.1") }
	v3 := indexof(input.obj.k2, input.obj.k2) in array.slice(input.nums, -1, 2)
} else = min({0.5}) {
	not true
}

p2 = ({"alice", "x-y", "root"} & {"foo.bar"}) {
	not 2.5 != input.obj.k1
	every v4 in array.slice(input.strs, 0, 2) { type_name(v4) != "null"; any([true, false]) }
} else = (s0 - {x | some x in input.strs}) {
	v5 := object.union(input.obj, object.filter(input.obj, ["  pad  ", "bob"]))
	every v6 in array.concat(input.nums, [0, 100, -1, 0.5]) { type_name(v6) != "null"; false }
}

f3(a) = is_set([12345678901234567890, 0.5]) {
	[v7, _] = [(a * a), 1]
}

s4[v8] {
	some v8 in split(trim_right("alice", "alice"), "-")
}

