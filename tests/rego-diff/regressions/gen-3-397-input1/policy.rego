package g397

import rego.v1

default d0 := {"  pad  ": 2.5, "Alice": 7}
d0 := {"foo.bar": "Alice", "10.0.0.1": "a,b,c", "ÄÖ": 2}

p1 := {"": -1, "x-y": "bob", "root": 0} if {
	v1 := round(sum([2.5]))
	not {"  pad  ": "  pad  ", "bob": 7, "alice": "Alice"} == d0
	glob.match("*.bar", [], sprintf("%q-%v", [v1, [12345678901234567890, 0, 7]]))
}

f2(a) := concat("", array.slice([], 1, 2)) if {
	true
}

s3 contains v2 if {
	some v2 in [v3 | some v3 in array.concat(input.nums, input.nums); contains(input.obj.k2, "alice")]
	endswith(concat("-", {x | some x in input.strs}), trim(input.s, "admin"))
}

