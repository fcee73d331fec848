#!/usr/bin/python3
"""Generated corpus for the Rego differential test (scripts/rego-diff.sh).

Writes N random-but-valid small policies, each with two inputs, from a typed grammar:
every expression is generated for a type (number, string, boolean, arrays, sets,
objects) out of literals, input fields, bound variables, earlier rules and builtins
of the families alert policies use (aggregates, strings, regex, sets/arrays/objects,
json, type checks), and bodies only use variables they bound before (so policies are
safe). Rules are complete rules (with default / else), partial sets, partial objects
and functions; about one in five policies is written in v0 syntax. Inputs follow the
schema the expressions read, but sometimes with the wrong type or a missing field, to
exercise undefinedness and runtime errors.

Two smaller families ride along, one case of each per five policies, for the places
where our engine once differed from OPA outside the shared conformance cases:
- docs-S-<i>: base documents (data.json) and rules (virtual documents) that define
  keys under the same prefixes: merged reads, iteration over a shared prefix (a key
  in both comes twice in OPA), `some k, v in data.x`, and data that conflicts with a
  rule (a value at a rule's path, or a non-object above it: OPA's "conflicting rule
  for data path" compile error).
- utf8-S-<i>: strings holding invalid UTF-8 (made with base64.decode, hex.decode,
  urlquery.decode of random byte strings): count() and the other rune-based
  builtins, and json.marshal (Go writes each invalid byte as \ufffd).

Deterministic: the same --seed gives the same corpus.

Usage: generate.py --seed S --count N OUTDIR
Each case is OUTDIR/<family>-S-<i>/ with policy.rego, input1.json, input2.json (gen
cases), data.json (docs cases), query (one query per line) and, for v0 cases, a file
named v0.
"""
import base64
import argparse
import json
import os
import random

STRS = ["alice", "bob", "admin", "root", "Alice", "a,b,c", "x-y", "", "10.0.0.1", "foo.bar", "ÄÖ", "  pad  "]
PATTERNS = ["^a", "b$", "[0-9]+", "^[a-z]+$", "o+", "\\.", "(?i)ALICE", "^$", "x|y"]
SEPS = [",", "-", ".", "", " "]


class Gen:
    def __init__(self, rnd, v0):
        self.r = rnd
        self.v0 = v0
        self.rules = []  # (name, type, is_function)
        self.nvar = 0

    def var(self):
        self.nvar += 1
        return "v%d" % self.nvar

    def pick(self, xs):
        return self.r.choice(xs)

    def lit(self, t):
        r = self.r
        if t == "num":
            return self.pick(["0", "1", "2", "3", "-1", "7", "10", "2.5", "0.5", "100", "1e3", "12345678901234567890"])
        if t == "str":
            return json.dumps(self.pick(STRS), ensure_ascii=False)
        if t == "bool":
            return self.pick(["true", "false"])
        if t == "arr_num":
            return "[" + ", ".join(self.lit("num") for _ in range(r.randint(0, 4))) + "]"
        if t == "arr_str":
            return "[" + ", ".join(self.lit("str") for _ in range(r.randint(0, 4))) + "]"
        if t == "set_num":
            n = r.randint(0, 3)
            return "set()" if n == 0 else "{" + ", ".join(self.lit("num") for _ in range(n)) + "}"
        if t == "set_str":
            n = r.randint(0, 3)
            return "set()" if n == 0 else "{" + ", ".join(self.lit("str") for _ in range(n)) + "}"
        if t == "obj":
            n = r.randint(0, 3)
            return "{" + ", ".join("%s: %s" % (self.lit("str"), self.lit(self.pick(["num", "str"]))) for _ in range(n)) + "}"
        raise ValueError(t)

    def expr(self, t, d, env):
        """An expression of type t; d = remaining depth; env = {var: type} bound so far."""
        r = self.r
        cands = [v for v, vt in env.items() if vt == t]
        rules = [n for n, rt, fn in self.rules if rt == t and not fn]
        if d <= 0 or r.random() < 0.25:
            opts = ["lit"] * 2 + ["input"] * 3 + (["var"] * 3 if cands else []) + (["rule"] * 2 if rules else [])
            k = self.pick(opts)
            if k == "var":
                return self.pick(cands)
            if k == "rule":
                return self.pick(rules)
            if k == "input":
                return {"num": self.pick(["input.n", "input.m", "input.obj.k1"]), "str": self.pick(["input.s", "input.user", "input.obj.k2"]),
                        "bool": "input.flag", "arr_num": "input.nums", "arr_str": self.pick(["input.strs", "input.tags"]),
                        "set_num": "{x | some x in input.nums}", "set_str": "{x | some x in input.strs}", "obj": "input.obj"}[t]
            return self.lit(t)
        e = lambda tt: self.expr(tt, d - 1, env)
        fns = [n for n, rt, fn in self.rules if fn and rt == t]
        if fns and r.random() < 0.15:
            return "%s(%s)" % (self.pick(fns), e("num"))
        if t == "num":
            c = self.pick(["bin", "bin", "count", "sum", "max", "abs", "round", "indexof", "len_str", "to_number", "ceil", "bits"])
            if c == "bin":
                return "(%s %s %s)" % (e("num"), self.pick(["+", "-", "*", "/", "%"]), e("num"))
            if c == "count":
                return "count(%s)" % e(self.pick(["arr_num", "arr_str", "set_str", "obj", "str"]))
            if c == "sum":
                return "%s(%s)" % (self.pick(["sum", "product"]), e(self.pick(["arr_num", "set_num"])))
            if c == "max":
                return "%s(%s)" % (self.pick(["max", "min"]), e(self.pick(["arr_num", "set_num"])))
            if c == "abs":
                return "abs(%s)" % e("num")
            if c == "round":
                return "%s(%s)" % (self.pick(["round", "floor"]), e("num"))
            if c == "ceil":
                return "ceil(%s)" % e("num")
            if c == "indexof":
                return "indexof(%s, %s)" % (e("str"), e("str"))
            if c == "len_str":
                return "strings.count(%s, %s)" % (e("str"), e("str"))
            if c == "bits":
                return "bits.%s(%s, %s)" % (self.pick(["and", "or", "xor"]), e("num"), e("num"))
            return "to_number(%s)" % self.pick(['"12"', '"1.5"', '"-3"', "input.n", '"x"'])
        if t == "str":
            c = self.pick(["concat", "case", "sprintf", "substring", "trim", "replace", "reverse", "format_int", "marshal", "type_name", "regex_replace", "join"])
            if c == "concat":
                return "concat(%s, %s)" % (json.dumps(self.pick(SEPS)), e(self.pick(["arr_str", "set_str"])))
            if c == "case":
                return "%s(%s)" % (self.pick(["lower", "upper", "trim_space"]), e("str"))
            if c == "sprintf":
                return 'sprintf("%s", [%s, %s])' % (self.pick(["%v/%v", "%s:%d", "%v %v", "%q-%v", "%x %v"]), e(self.pick(["str", "num"])), e(self.pick(["num", "str", "arr_num"])))
            if c == "substring":
                return "substring(%s, %s, %s)" % (e("str"), self.pick(["0", "1", "2"]), self.pick(["-1", "0", "2", "5"]))
            if c == "trim":
                return "%s(%s, %s)" % (self.pick(["trim", "trim_left", "trim_prefix", "trim_suffix", "trim_right"]), e("str"), e("str"))
            if c == "replace":
                return "replace(%s, %s, %s)" % (e("str"), e("str"), e("str"))
            if c == "reverse":
                return "strings.reverse(%s)" % e("str")
            if c == "format_int":
                return "format_int(%s, %s)" % (e("num"), self.pick(["2", "8", "10", "16"]))
            if c == "marshal":
                return "json.marshal(%s)" % e(self.pick(["obj", "arr_num", "set_str", "str", "num"]))
            if c == "type_name":
                return "type_name(%s)" % e(self.pick(["num", "str", "obj", "set_num"]))
            if c == "regex_replace":
                return "regex.replace(%s, %s, %s)" % (e("str"), json.dumps(self.pick(PATTERNS)), json.dumps(self.pick(["_", "$1", ""])))
            return "concat(%s, [%s, %s])" % (json.dumps(self.pick(SEPS)), e("str"), e("str"))
        if t == "bool":
            c = self.pick(["cmp", "cmp", "strcmp", "startswith", "contains", "regex", "in", "is", "eq", "glob", "cidr", "any"])
            if c == "cmp":
                return "%s %s %s" % (e("num"), self.pick(["<", "<=", ">", ">=", "==", "!="]), e("num"))
            if c == "strcmp":
                return "%s %s %s" % (e("str"), self.pick(["<", "==", "!=", ">="]), e("str"))
            if c == "startswith":
                return "%s(%s, %s)" % (self.pick(["startswith", "endswith"]), e("str"), e("str"))
            if c == "contains":
                return "contains(%s, %s)" % (e("str"), e("str"))
            if c == "regex":
                return "regex.match(%s, %s)" % (json.dumps(self.pick(PATTERNS)), e("str"))
            if c == "in":
                tt = self.pick(["num", "str"])
                return "%s in %s" % (e(tt), e(self.pick(["arr_" + tt, "set_" + tt])))
            if c == "is":
                return "%s(%s)" % (self.pick(["is_number", "is_string", "is_array", "is_set", "is_object"]), e(self.pick(["num", "str", "obj", "arr_num"])))
            if c == "eq":
                tt = self.pick(["arr_num", "set_str", "obj"])
                return "%s == %s" % (e(tt), e(tt))
            if c == "glob":
                return 'glob.match(%s, [%s], %s)' % (json.dumps(self.pick(["a*", "*.bar", "?lice", "*"])), self.pick(['"."', '']), e("str"))
            if c == "cidr":
                return 'net.cidr_contains(%s, %s)' % (json.dumps(self.pick(["10.0.0.0/8", "0.0.0.0/0", "192.168.1.0/24"])), self.pick(['"10.0.0.1"', "input.s", '"10.1.2.3"']))
            if self.v0:  # deprecated builtins are compile errors in v1
                return "%s(%s)" % (self.pick(["any", "all"]), "[%s, %s]" % (e("bool"), e("bool")))
            return "%s == %s" % (e("bool"), e("bool"))
        if t in ("arr_num", "arr_str"):
            et = t[4:]
            c = self.pick(["comp", "sort", "concat", "slice", "range", "split"])
            if c == "comp":
                x = self.var()
                env2 = dict(env)
                env2[x] = et
                cond = self.expr("bool", d - 1, env2)
                return "[%s | some %s in %s; %s]" % (self.expr(et, d - 1, env2) if self.r.random() < 0.3 else x, x, e(t), cond)
            if c == "sort":
                return "sort(%s)" % e(t)
            if c == "concat":
                return "array.concat(%s, %s)" % (e(t), e(t))
            if c == "slice":
                return "array.slice(%s, %s, %s)" % (e(t), self.pick(["0", "1", "-1"]), self.pick(["1", "2", "10"]))
            if c == "range" and et == "num":
                return "numbers.range(%s, %s)" % (self.pick(["0", "1", "-2"]), self.pick(["0", "3", "5"]))
            if et == "str":
                return "split(%s, %s)" % (e("str"), json.dumps(self.pick(SEPS[:3])))
            return e(t)
        if t in ("set_num", "set_str"):
            et = t[4:]
            c = self.pick(["comp", "union", "inter", "diff", "lit"])
            if c == "comp":
                x = self.var()
                env2 = dict(env)
                env2[x] = et
                return "{%s | some %s in %s; %s}" % (x, x, e(self.pick(["arr_" + et, "set_" + et])), self.expr("bool", d - 1, env2))
            if c in ("union", "inter", "diff"):
                return "(%s %s %s)" % (e(t), {"union": "|", "inter": "&", "diff": "-"}[c], e(t))
            return self.lit(t)
        if t == "obj":
            c = self.pick(["comp", "union", "remove", "filter", "lit"])
            if c == "comp":
                k, v = self.var(), self.var()
                env2 = dict(env)
                env2[k] = "str"
                env2[v] = "num"
                return "{%s: %s | some %s, %s in input.obj; %s}" % (k, v, k, v, self.expr("bool", d - 1, env2))
            if c == "union":
                return "object.union(%s, %s)" % (e("obj"), e("obj"))
            if c == "remove":
                return "object.remove(%s, [%s])" % (e("obj"), e("str"))
            if c == "filter":
                return "object.filter(%s, [%s, %s])" % (e("obj"), e("str"), e("str"))
            return self.lit(t)
        raise ValueError(t)

    def body(self, env, n):
        """n statements; returns list of strings, env updated in place."""
        out = []
        for _ in range(n):
            c = self.pick(["assign", "assign", "cond", "cond", "some", "not", "every", "unify"])
            if c == "assign":
                x = self.var()
                t = self.pick(["num", "str", "bool", "arr_num", "set_str", "obj"])
                out.append("%s := %s" % (x, self.expr(t, 2, env)))
                env[x] = t
            elif c == "cond":
                out.append(self.expr("bool", 2, env))
            elif c == "some":
                x = self.var()
                et = self.pick(["num", "str"])
                out.append("some %s in %s" % (x, self.expr(self.pick(["arr_", "set_"]) + et, 1, env)))
                env[x] = et
            elif c == "not":
                out.append("not %s" % self.expr("bool", 1, env))
            elif c == "every":
                x = self.var()
                et = self.pick(["num", "str"])
                env2 = dict(env)
                env2[x] = et
                # OPA rejects an every whose variable the body does not use
                out.append('every %s in %s { type_name(%s) != "null"; %s }' % (x, self.expr("arr_" + et, 1, env), x, self.expr("bool", 1, env2)))
            else:
                x = self.var()
                out.append("[%s, _] = [%s, 1]" % (x, self.expr("num", 1, env)))
                env[x] = "num"
        return out

    def block(self, stmts):
        return "{\n" + "".join("\t%s\n" % s for s in stmts) + "}"

    def rule(self, i):
        r = self.r
        kind = self.pick(["complete", "complete", "set", "obj", "func", "default"])
        name = "%s%d" % ({"complete": "p", "default": "d", "set": "s", "obj": "o", "func": "f"}[kind], i)
        if kind in ("complete", "default"):
            t = self.pick(["num", "str", "bool", "arr_num", "set_str", "obj"])
            env = {}
            stmts = self.body(env, r.randint(0, 3))
            val = self.expr(t, 2, env)
            text = ""
            if kind == "default":
                text += "default %s %s %s\n" % (name, "=" if self.v0 else ":=", self.lit(t))
            if not stmts:
                text += "%s %s %s\n" % (name, "=" if self.v0 else ":=", val)
            elif self.v0:
                text += "%s = %s %s\n" % (name, val, self.block(stmts))
            else:
                text += "%s := %s if %s\n" % (name, val, self.block(stmts))
            if stmts and r.random() < 0.3:
                env = {}
                s2 = self.body(env, r.randint(1, 2))
                text = text.rstrip("\n") + (" else = %s " if self.v0 else " else := %s if ") % self.expr(t, 1, env) + self.block(s2) + "\n"
            self.rules.append((name, t, False))
            return text
        if kind == "set":
            et = self.pick(["num", "str"])
            env = {}
            x = self.var()
            stmts = ["some %s in %s" % (x, self.expr("arr_" + et, 2, env))]
            env[x] = et
            stmts += self.body(env, r.randint(0, 2))
            head = "%s[%s]" % (name, x) if self.v0 else "%s contains %s if" % (name, x)
            self.rules.append((name, "set_" + et, False))
            return "%s %s\n" % (head, self.block(stmts))
        if kind == "obj":
            env = {}
            k, v = self.var(), self.var()
            stmts = ["some %s, %s in %s" % (k, v, self.pick(["input.obj", "input.nums", "input.strs"]))]
            env[k] = "any"
            env[v] = "any"
            stmts += self.body(env, r.randint(0, 2))
            val = self.pick([v, "count(%s)" % self.expr("arr_num", 1, env), self.expr("str", 1, env)])
            key = self.pick([k, "sprintf(\"k%%v\", [%s])" % k])
            head = "%s[%s] = %s" % (name, key, val) if self.v0 else "%s[%s] := %s if" % (name, key, val)
            self.rules.append((name, "obj", False))
            return "%s %s\n" % (head, self.block(stmts))
        # function of one number
        env = {"a": "num"}
        stmts = self.body(env, r.randint(0, 2))
        t = self.pick(["num", "str", "bool"])
        val = self.expr(t, 2, env)
        self.rules.append((name, t, True))
        if self.v0:
            return "%s(a) = %s %s\n" % (name, val, self.block(stmts or ["true"]))
        return "%s(a) := %s if %s\n" % (name, val, self.block(stmts or ["true"]))

    def policy(self, pkg):
        text = "package %s\n\n" % pkg
        text += "import future.keywords.in\nimport future.keywords.every\n\n" if self.v0 else "import rego.v1\n\n"
        for i in range(self.r.randint(2, 6)):
            text += self.rule(i) + "\n"
        return text


def gen_input(r):
    def maybe(v, alt):
        return alt if r.random() < 0.12 else v
    d = {
        "n": maybe(r.choice([0, 1, 2, 3, 5, -4, 2.5, 10, 100]), r.choice(["3", None, [1]])),
        "m": r.choice([0, 1, 7, -2, 0.25]),
        "s": maybe(r.choice(STRS), r.choice([5, None])),
        "user": r.choice(STRS),
        "flag": maybe(r.choice([True, False]), "yes"),
        "nums": maybe([r.choice([0, 1, 2, 3, 5, 8, -1, 2.5, 100]) for _ in range(r.randint(0, 5))], "1,2"),
        "strs": [r.choice(STRS) for _ in range(r.randint(0, 4))],
        "tags": [r.choice(STRS[:5]) for _ in range(r.randint(0, 3))],
        "obj": {"k%d" % i: r.choice([1, 2, 3, 0, -5, 2.5]) for i in range(r.randint(0, 3))},
    }
    if r.random() < 0.5:
        d["obj"]["k2"] = r.choice(STRS)
    if r.random() < 0.1:
        del d[r.choice(list(d))]
    return d


# ------------------------------------------------------------ base and virtual documents
KEYS = ["a", "b", "c", "d"]


def docs_rules(r):
    """Modules under packages p, p.a, p.a.b, p.b: complete rules, partial sets and
    objects, ref heads, default rules and empty packages, with constant values."""
    mods = []
    used = set()
    for pkg in r.sample(["p", "p.a", "p.b", "p.a.b", "p.c.d"], r.randint(1, 3)):
        lines = ["package %s" % pkg, ""]
        if r.random() < 0.15:  # an empty package: a node of the rule tree without rules
            mods.append("\n".join(lines) + "\n")
            continue
        for _ in range(r.randint(1, 3)):
            # the queries read into data.p.a: a rule p.a of a scalar type would make
            # them OPA's type error "undefined ref" (our type checker does not model it)
            name = r.choice(KEYS[1:] if pkg == "p" else KEYS)
            kind = r.choice(["complete", "complete", "set", "obj", "refhead", "default"])
            key = (pkg, name)
            if key in used:
                continue
            used.add(key)
            val = r.choice(["1", '"s"', "[1, 2]", '{"x": 1}', "true", "input.n"])
            if kind == "complete":
                lines.append("%s := %s" % (name, val))
            elif kind == "default":
                lines.append("default %s := 0\n%s := %s if input.n > 1" % (name, name, val))
            elif kind == "set":
                lines.append("%s contains x if some x in %s" % (name, r.choice(["[1, 2]", '["a", "b"]', "input.xs"])))
            elif kind == "obj":
                lines.append("%s[k] := v if some k, v in %s" % (name, r.choice(['{"x": 1, "y": 2}', "input.o"])))
            else:
                lines.append("%s.%s := %s" % (name, r.choice(KEYS), val))
        mods.append("\n".join(lines) + "\n")
    return mods


def docs_data(r, depth=0):
    """A random document with keys from KEYS (so it meets the rules' paths)."""
    if depth >= 3 or r.random() < 0.25:
        return r.choice([1, "v", [1, "a"], {}, None, True, 2.5])
    return {k: docs_data(r, depth + 1) for k in r.sample(KEYS + ["e", "z"], r.randint(1, 3))}


def docs_case(r):
    mods = docs_rules(r)
    data = docs_data(r)
    if not isinstance(data, dict):
        data = {"p": data}
    if r.random() < 0.7 and not isinstance(data.get("p"), dict):
        data["p"] = docs_data(r, 1) if r.random() < 0.5 else {}
    # most cases keep the base documents off the rules' own paths (merges, no conflict)
    if r.random() < 0.6:
        data = strip_rule_paths(data, mods)
    queries = [
        "x := data.p",
        "x := data",
        "x := [k | data.p[k]]",
        "x := [[k, v] | some k, v in data.p]",
        "x := [[k, j] | data.p[k][j]]",
        "some k; x := data.p[k]",
        "x := {k | some k; data.p.a[k]}",
        "x := [v | some v in data.p.a]",
        "x := data.p.a.b",
        "x := count([1 | data.p[_][_]])",
        "x := [p | walk(data.p, [p, _])]",
    ]
    return mods, data, r.sample(queries, 4)


def strip_rule_paths(data, mods):
    """Removes from data the values at rule paths and non-objects above them."""
    paths = []
    for m in mods:
        lines = m.splitlines()
        pkg = lines[0].split()[1].split(".")
        for l in lines[2:]:
            head = l.split()[0]
            if head == "default":
                head = l.split()[1]
            head = head.split("[")[0]
            paths.append(pkg + head.split("."))
    for path in paths:
        cur = data
        for i, k in enumerate(path):
            if not isinstance(cur, dict) or k not in cur:
                break
            if i == len(path) - 1 or not isinstance(cur[k], dict):
                del cur[k]
                break
            cur = cur[k]
    return data


# ------------------------------------------------------------ invalid UTF-8
BYTES = [b"a", b"Z", b" ", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80",  # valid
         b"\xff", b"\x80", b"\xbf", b"\xc0\x80", b"\xe2\x82", b"\xf0\x9f", b"\xed\xa0\x80",  # invalid
         b"\xf4\x90\x80\x80", b"\xc3", b"\xe0\x80\xaf", b"\xf8\x88\x80\x80\x80"]


def utf8_string(r):
    """A Rego expression of a string with invalid UTF-8, and its bytes."""
    raw = b"".join(r.choice(BYTES) for _ in range(r.randint(1, 5)))
    how = r.choice(["b64", "b64", "hex", "url"])
    if how == "b64":
        return 'base64.decode("%s")' % base64.b64encode(raw).decode()
    if how == "hex":
        return 'hex.decode("%s")' % raw.hex()
    return 'urlquery.decode("%s")' % "".join("%%%02x" % c for c in raw)


def utf8_case(r):
    qs = []
    for _ in range(4):
        s = utf8_string(r)
        # strings.reverse is left out: OPA 1.19 panics on invalid UTF-8 (utf8.EncodeRune)
        qs.append(r.choice([
            "x := count(%s)" % s,
            "x := count(%s)" % s,
            'x := count(concat("", [%s, "x"]))' % s,
            "x := json.marshal(%s)" % s,
            "x := [count(%s), count(json.marshal([%s]))]" % (s, s),
            'x := indexof(%s, "a")' % s,
            "x := count(substring(%s, 1, 2))" % s,
            "x := count(upper(%s))" % s,
            'x := count(split(%s, ""))' % s,
            "x := {%s: 1}" % s,
        ]))
    return qs


def write_docs_case(d, r):
    mods, data, queries = docs_case(r)
    os.makedirs(d, exist_ok=True)
    for i, m in enumerate(mods):
        with open(os.path.join(d, "policy%d.rego" % i), "w") as f:
            f.write(m)
    with open(os.path.join(d, "data.json"), "w") as f:
        json.dump(data, f)
    for k in (1, 2):
        with open(os.path.join(d, "input%d.json" % k), "w") as f:
            json.dump({"n": r.choice([0, 2]), "xs": [r.choice([1, 3]), "b"], "o": {r.choice(KEYS): 1}}, f)
    with open(os.path.join(d, "query"), "w") as f:
        f.write("\n".join(queries) + "\n")


def write_utf8_case(d, r):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "policy.rego"), "w") as f:
        f.write("package u\n")
    with open(os.path.join(d, "query"), "w") as f:
        f.write("\n".join(utf8_case(r)) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("outdir")
    a = ap.parse_args()
    for i in range(a.count):
        r = random.Random("%d/%d" % (a.seed, i))
        v0 = r.random() < 0.2
        g = Gen(r, v0)
        name = "gen-%d-%d" % (a.seed, i)
        d = os.path.join(a.outdir, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "policy.rego"), "w") as f:
            f.write(g.policy("g%d" % i))
        for k in (1, 2):
            with open(os.path.join(d, "input%d.json" % k), "w") as f:
                json.dump(gen_input(r), f, ensure_ascii=False)
        with open(os.path.join(d, "query"), "w") as f:
            f.write("x := data.g%d\n" % i)
        if v0:
            open(os.path.join(d, "v0"), "w").close()
        elif os.path.exists(os.path.join(d, "v0")):
            os.unlink(os.path.join(d, "v0"))
    for i in range(0, a.count, 5):
        write_docs_case(os.path.join(a.outdir, "docs-%d-%d" % (a.seed, i)), random.Random("docs/%d/%d" % (a.seed, i)))
        write_utf8_case(os.path.join(a.outdir, "utf8-%d-%d" % (a.seed, i)), random.Random("utf8/%d/%d" % (a.seed, i)))


if __name__ == "__main__":
    main()
