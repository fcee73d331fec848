package alert.ac

import rego.v1

alert contains {"title": input.title, "source": "test"} if true
