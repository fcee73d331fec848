package g268

import rego.v1

s0 contains v1 if {
	some v1 in array.concat(array.slice([1e3, 3, 1], 1, 2), numbers.range(1, 5))
	[v2, _] = [input.obj.k1, 1]
}

p1 := (({x | some x in input.strs} & {x | some x in input.strs}) & {"10.0.0.1"}) if {
	not is_number("admin")
	v3 := regex.match("^a", sprintf("%v %v", [input.obj.k2, input.nums]))
	[v4, _] = [strings.count("admin", input.obj.k2), 1]
}

s2 contains v5 if {
	some v5 in input.strs
	net.cidr_contains("192.168.1.0/24", "10.1.2.3")
	not contains(input.s, "admin")
}

p3 := replace(upper("admin"), concat(" ", [input.user, "root"]), input.user) if {
	not true
} else := json.marshal(input.nums) if {
	is_number(lower(input.obj.k2))
	[v6, _] = [input.obj.k1, 1]
}

default d4 := 3
d4 := 1 if {
	v7 := array.concat(input.nums, [])
	every v8 in split("foo.bar", ".") { type_name(v8) != "null"; true }
}

default d5 := false
d5 := contains(replace(input.obj.k2, p3, p3), strings.reverse(p3))

