package g103

import future.keywords.in
import future.keywords.every

p0 = object.remove(object.union(input.obj, {"a,b,c": "10.0.0.1"}), [replace(input.user, "foo.bar", input.user)])

p1 = (indexof(input.s, "Alice") / 12345678901234567890)

s2[v1] {
	some v1 in input.strs
	false
	not p1 in []
}

s3[v2] {
	some v2 in array.slice(input.nums, -1, 10)
	not input.flag
}

o4[sprintf("k%v", [v3])] = v4 {
	some v3, v4 in input.nums
	contains(type_name(input.obj.k2), trim_prefix("bob", "alice"))
	input.flag
}

default d5 = 7
d5 = input.obj.k1 {
	false
	v5 := {v6: v7 | some v6, v7 in input.obj; input.flag}
	[v8, _] = [(p1 + input.obj.k1), 1]
}

