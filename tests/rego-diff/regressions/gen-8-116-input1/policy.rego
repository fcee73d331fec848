package g116

import rego.v1

s0 contains v1 if {
	some v1 in array.slice(array.concat(input.nums, input.nums), 1, 10)
	(v1 + input.obj.k1) < product({3, -1})
	[v2, _] = [floor(v1), 1]
}

p1 := {} if {
	glob.match("a*", ["."], input.user)
	some v3 in input.nums
}

p2 := object.filter({"alice": 12345678901234567890, "": "admin"}, ["alice", sprintf("%v %v", ["foo.bar", input.nums])]) if {
	array.slice(input.nums, 0, 2) == input.nums
	[v4, _] = [max({2.5}), 1]
} else := object.union(input.obj, input.obj) if {
	not true
}

o3[sprintf("k%v", [v5])] := upper("x-y") if {
	some v5, v6 in input.nums
	not input.flag
}

f4(a) := regex.replace(sprintf("%q-%v", [input.obj.k1, input.nums]), "[0-9]+", "") if {
	true
}

p5 := v7 if {
	[v7, _] = [count(input.obj), 1]
	v8 := numbers.range(0, 0)
}

