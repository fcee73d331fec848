package g486

import rego.v1

default d0 := 12345678901234567890
d0 := to_number("1.5") if {
	not contains(input.obj.k2, input.obj.k2)
	not [1] == [12345678901234567890, 1, 0.5, 3]
	v1 := [v2 | some v2 in array.concat([-1], input.nums); endswith(input.user, "foo.bar")]
}

s1 contains v3 if {
	some v3 in ["x-y"]
	some v4 in {x | some x in input.strs}
	not "alice" in {"ÄÖ", "admin", "admin"}
}

s2 contains v5 if {
	some v5 in array.slice(split("  pad  ", "."), 0, 10)
	some v6 in [v7 | some v7 in input.tags; true]
	v8 := {v9: v10 | some v9, v10 in input.obj; startswith(v9, "alice")}
}

f3(a) := trim_space(json.marshal(a)) if {
	true
}

s4 contains v11 if {
	some v11 in numbers.range(0, 5)
}

