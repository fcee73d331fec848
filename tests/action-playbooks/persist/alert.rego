package alert.ac

import rego.v1

alert contains {"title": input.title, "source": "test", "namespace": "ns-1"} if true
