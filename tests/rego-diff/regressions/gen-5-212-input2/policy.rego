package g212

import rego.v1

default d0 := 7
d0 := min(input.nums) if {
	every v1 in array.slice([], -1, 10) { type_name(v1) != "null"; [100] == input.nums }
} else := min(input.nums) if {
	some v2 in sort(["ÄÖ", "ÄÖ"])
	abs(100) in [7, 1e3, 3]
}

p1 := type_name(substring(input.s, 0, 0))

s2 contains v3 if {
	some v3 in input.nums
	-1 >= bits.xor(d0, input.obj.k1)
}

f3(a) := input.flag if {
	[v4, _] = [max(s2), 1]
	every v5 in ["ÄÖ"] { type_name(v5) != "null"; 12345678901234567890 in input.nums }
}

