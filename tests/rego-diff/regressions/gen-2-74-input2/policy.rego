package g74

import future.keywords.in
import future.keywords.every

s0[v1] {
	some v1 in array.concat([0.5, 2.5, 12345678901234567890, 0.5], [-1, 0, 1])
}

f1(a) = type_name({}) {
	true
}

p2 = bits.xor(input.m, bits.or(7, input.obj.k1)) {
	ceil(input.n) < -1
	min([]) < bits.and(input.m, input.obj.k1)
}

p3 = array.concat(sort(input.nums), numbers.range(-2, 3)) {
	not {"alice": 2.5, "": 0} == {"  pad  ": 1e3}
	every v2 in input.nums { type_name(v2) != "null"; [2, 100, 0.5] == input.nums }
} else = sort([2.5, 7]) {
	count(input.user) in {0.5}
}

o4[v3] = input.obj.k2 {
	some v3, v4 in input.strs
	"foo.bar" < sprintf("%q-%v", [2, input.obj.k2])
	v5 := indexof(upper(input.s), input.s)
}

