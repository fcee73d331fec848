package g337

import rego.v1

default d0 := false
d0 := input.flag

o1[v1] := count([1, 10, 2]) if {
	some v1, v2 in input.nums
	-1 > input.m
}

