package g244

import rego.v1

p0 := input.obj if {
	not true
}

p1 := {v1 | some v1 in {"foo.bar", "alice"}; net.cidr_contains("10.0.0.0/8", "10.0.0.1")}

