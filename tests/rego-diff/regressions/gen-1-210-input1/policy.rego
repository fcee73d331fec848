package g210

import rego.v1

p0 := input.s if {
	not [10, 7] == [1e3]
}

p1 := 1e3

f2(a) := round(p1) <= count(input.user) if {
	not [12345678901234567890, 3, 7, 0] == [3, -1, 7, 3]
}

p3 := input.user if {
	some v1 in sort(input.nums)
}

p4 := ({v2 | some v2 in []; false} - {v3 | some v3 in set(); input.flag}) if {
	not true
}

p5 := 2.5 if {
	v4 := 100
	v5 := {"  pad  ": "ÄÖ", "root": 12345678901234567890, "Alice": "alice"}
}

