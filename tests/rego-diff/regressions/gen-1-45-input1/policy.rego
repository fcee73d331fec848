package g45

import rego.v1

p0 := array.concat(array.slice([10, 100], 1, 10), [100])

p1 := startswith(input.s, input.user) == true if {
	every v1 in sort(p0) { type_name(v1) != "null"; v1 != -1 }
	is_string([])
	every v2 in [v3 | some v3 in p0; input.flag] { type_name(v2) != "null"; v2 < input.n }
}

p2 := numbers.range(0, 0) if {
	{"alice": 1e3} == {"admin": "a,b,c", "root": "10.0.0.1", "10.0.0.1": "a,b,c"}
	contains(regex.replace(input.obj.k2, "^a", "_"), type_name(input.obj.k2))
	input.flag
}

s3 contains v4 if {
	some v4 in array.slice(array.concat(input.nums, []), -1, 1)
}

