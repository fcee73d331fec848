package g27

import future.keywords.in
import future.keywords.every

p0 = regex.replace(concat("", [input.obj.k2, "a,b,c"]), "b$", "$1") {
	v1 := indexof(input.user, concat(",", ["a,b,c", input.user]))
} else = format_int(10, 16) {
	every v2 in split(input.user, "-") { type_name(v2) != "null"; [1e3, 3] == [3, 3] }
	({x | some x in input.strs} & set()) == {x | some x in input.strs}
}

default d1 = true
d1 = input.m > (input.obj.k1 % input.n) {
	v3 := net.cidr_contains("10.0.0.0/8", "10.0.0.1")
	-1 in {x | some x in input.nums}
}

s2[v4] {
	some v4 in sort(input.nums)
}

f3(a) = abs(bits.or(0, a)) {
	true
}

