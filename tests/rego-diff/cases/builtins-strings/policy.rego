package b.strings

import rego.v1

s := input.s

out := {
	"concat": concat("/", input.parts),
	"split": split(s, ","),
	"replace": replace(s, "o", "0"),
	"trim": [trim(s, " x"), trim_left(s, " "), trim_right(s, " "), trim_prefix(s, "fo"), trim_suffix(s, "ar"), trim_space(s)],
	"case": [lower(s), upper(s)],
	"tests": [startswith(s, "fo"), endswith(s, "ar"), contains(s, "o,b"), indexof(s, ","), indexof_n(s, "o")],
	"substring": [substring(s, 1, 3), substring(s, 0, -1)],
	"format_int": [format_int(input.n, 2), format_int(input.n, 16), format_int(input.n, 8)],
	"sprintf": sprintf("%s|%d|%v|%q|%x|%5.2f|%-4s|", [s, input.n, input.parts, s, input.n, input.f, "ab"]),
	"strings": [strings.count(s, "o"), strings.reverse(s), strings.replace_n({"o": "0", "a": "4"}, s), strings.any_prefix_match(s, ["x", "fo"])],
	"regex": [regex.match("^fo+", s), regex.find_n("[a-z]+", s, -1), regex.split(",\\s*", s), regex.replace(s, "(o+)", "<$1>"), regex.is_valid("(")],
	"glob": [glob.match("f*,*", [","], s), glob.match("*.example.com", ["."], input.host)],
	"json": [json.marshal(input.parts), json.unmarshal("{\"a\": [1, 2.5]}"), json.is_valid("{")],
	"enc": [base64.encode(s), base64url.encode(s), hex.encode(s), urlquery.encode(s), crypto.sha256(s), crypto.md5(s)],
	"units": [units.parse_bytes("1.5KiB"), units.parse("10m")],
	"semver": [semver.compare("1.2.3", "1.10.0"), semver.is_valid(s)],
}
