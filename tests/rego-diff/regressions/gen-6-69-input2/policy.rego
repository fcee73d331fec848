package g69

import future.keywords.in
import future.keywords.every

f0(a) = product({1}) {
	true
}

default d1 = {"  pad  ": "admin"}
d1 = {v1: v2 | some v1, v2 in input.obj; contains("Alice", input.user)} {
	not true
}

p2 = {x | some x in input.strs} {
	not input.s in input.strs
	input.flag
	some v3 in {v4 | some v4 in input.strs; input.flag}
}

o3[sprintf("k%v", [v5])] = v6 {
	some v5, v6 in input.strs
	every v7 in ["foo.bar" | some v8 in ["foo.bar", "Alice"]; input.flag] { type_name(v7) != "null"; true }
	every v9 in [] { type_name(v9) != "null"; any([true, false]) }
}

o4[v10] = v11 {
	some v10, v11 in input.strs
	some v12 in array.slice([0, 100], 1, 2)
}

