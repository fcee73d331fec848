package g72

import rego.v1

f0(a) := a if {
	true
}

o1[v1] := v2 if {
	some v1, v2 in input.obj
	v3 := array.concat(sort(input.nums), array.slice(input.nums, -1, 1))
	[v4, _] = [(input.obj.k1 / input.obj.k1), 1]
}

p2 := array.concat(array.concat(input.nums, input.nums), numbers.range(1, 0)) if {
	endswith(input.obj.k2, trim_right("x-y", "root"))
	v5 := ({"bob", "10.0.0.1", "alice"} - {"ÄÖ"})
}

s3 contains v6 if {
	some v6 in sort(numbers.range(0, 3))
	every v7 in [input.obj.k1 | some v8 in p2; false] { type_name(v7) != "null"; false }
	some v9 in input.nums
}

default d4 := 7
d4 := 10 if {
	not input.nums == input.nums
	glob.match("*.bar", [], input.obj.k2) == {"root": 12345678901234567890} == {"ÄÖ": 7}
	v10 := ({v11 | some v11 in {"10.0.0.1", "ÄÖ"}; input.flag} - ({x | some x in input.strs} - set()))
}

p5 := {x | some x in input.strs} if {
	not input.obj.k1 == 7
	[v12, _] = [strings.count("admin", "  pad  "), 1]
	every v13 in array.concat([2, 1e3, 1e3], [1e3, 2]) { type_name(v13) != "null"; contains("foo.bar", "  pad  ") }
}

