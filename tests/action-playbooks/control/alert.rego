package alert.ac

import rego.v1

alert contains {"title": input.title, "source": "test",
	"attrs": [{"id": "attr-k1", "key": "k1", "value": "v1"}, {"id": "attr-k2", "key": "k2", "value": "v2"}]} if true
