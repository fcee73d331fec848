package g23

import rego.v1

s0 contains v1 if {
	some v1 in numbers.range(-2, 3)
	(v1 % input.obj.k1) > count(input.obj)
}

o1[sprintf("k%v", [v2])] := input.obj.k2 if {
	some v2, v3 in input.obj
}

f2(a) := regex.match("^[a-z]+$", input.s) == regex.match("\\.", "bob") if {
	input.flag
}

o3[sprintf("k%v", [v4])] := count(array.slice(input.nums, 1, 1)) if {
	some v4, v5 in input.strs
	is_number(format_int(input.n, 10))
	input.n != indexof(input.s, "Alice")
}

s4 contains v6 if {
	some v6 in [v7 | some v7 in array.concat([0.5, 0.5], [0.5, -1, 12345678901234567890, 0]); {"a,b,c": -1, "": 2} == {"  pad  ": -1, "10.0.0.1": 12345678901234567890}]
	f2(to_number(input.n))
	false
}

p5 := ({"bob", "foo.bar", "x-y"} - {x | some x in input.strs}) if {
	object.remove(o1, [input.user]) == object.filter(o3, [input.user, "a,b,c"])
}

