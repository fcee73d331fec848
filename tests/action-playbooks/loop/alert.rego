# AlertChain (v0) syntax on purpose: an alert with a counter attribute "c" = 0.
package alert.ac

alert[res] {
	res := {"title": input.title, "source": "test", "attrs": [{"key": "c", "value": 0}]}
}
