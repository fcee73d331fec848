package g171

import rego.v1

s0 contains v1 if {
	some v1 in split("", "-")
}

f1(a) := a >= bits.or(a, input.n) if {
	every v2 in array.concat([], [0, 1, 2.5, 10]) { type_name(v2) != "null"; a > input.n }
}

s2 contains v3 if {
	some v3 in sort([v4 | some v4 in input.strs; input.flag])
	f1(floor(input.m))
}

s3 contains v5 if {
	some v5 in [0.5, 12345678901234567890]
}

s4 contains v6 if {
	some v6 in input.tags
	every v7 in [v8 | some v8 in [0.5]; input.flag] { type_name(v7) != "null"; contains(v6, "  pad  ") }
	not input.flag
}

p5 := product(array.slice([1, 1e3, 3, 0], 1, 2)) if {
	not true
} else := abs(input.obj.k1) if {
	some v9 in [v10 | some v10 in input.tags; false]
	every v11 in split("foo.bar", "-") { type_name(v11) != "null"; f1(10) }
}

