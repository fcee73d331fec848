package g51

import rego.v1

default d0 := "a,b,c"
d0 := regex.replace(concat(".", ["admin", input.obj.k2]), "^[a-z]+$", "$1") if {
	strings.reverse(input.obj.k2) in {x | some x in input.strs}
	is_string(sort(input.nums))
}

default d1 := 2.5
d1 := ((input.m % 1) + (input.obj.k1 * input.obj.k1))

p2 := {x | some x in input.strs} if {
	12345678901234567890 != input.obj.k1 == regex.match("\\.", d0)
} else := ({x | some x in input.strs} - {x | some x in input.strs}) if {
	endswith(concat("-", [d0, d0]), d0)
}

p3 := concat("", array.slice(input.strs, 0, 1)) if {
	v1 := trim_left(regex.replace(input.s, "b$", "_"), format_int(input.m, 2))
	v2 := {"Alice", "x-y"}
}

f4(a) := ({"  pad  ", "10.0.0.1", "bob"} - p2) == (p2 & p2) if {
	input.m > input.n == {"Alice"} == {x | some x in input.strs}
}

