package g395

import rego.v1

s0 contains v1 if {
	some v1 in numbers.range(1, 3)
}

default d1 := 10
d1 := bits.or((input.m / input.m), input.obj.k1) if {
	not true
} else := to_number("12") if {
	some v2 in sort(input.tags)
}

