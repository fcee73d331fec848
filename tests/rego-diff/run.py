#!/usr/bin/python3
"""Rego differential test: our engine (hutch-rego-eval) against OPA (`opa eval`).

A case is a directory holding *.rego modules, optional *.json data documents
(data*.json; loaded with -d like `opa eval -d`), inputs (input*.json, or none), a
`query` file (one query per line, e.g. `x := data.ingest.guardduty.alerts`), and
optional marker files `v0` (modules are v0 syntax: opa --v0-compatible) and `strict`
(--strict-builtin-errors). Every (input, query) pair is one comparison.

Both outcomes are normalised to {"outcome": defined|undefined|error, ...}:
  defined   the result set's binding objects, compared as a multiset with numbers by
            value (1.0 == 1, exact decimals, big integers kept exact)
  undefined an empty result set
  error     compared by code: our code must be one of OPA's error codes
Queries must bind their results to variables (`x := data.p`) since we compare bindings.

Regression cases (tests/rego-diff/regressions/<id>/) carry OPA's normalised answer in
expected.json, so they run without OPA. `--record` writes every new divergence found
among the other cases as a regression directory.

Known divergences: tests/rego-diff/known-divergences.txt, one `<id> <reason>` a line
(# comments); listed divergences are reported but do not fail the run.

Last line: "N passed, N failed, N known divergences" (failed: not listed as known).
Exit status: 0 when every divergence is known, 1 otherwise, 2 on usage errors.
"""
import argparse
import concurrent.futures
import decimal
import glob
import json
import os
import shutil
import subprocess
import sys

decimal.getcontext().prec = 2000
HERE = os.path.dirname(os.path.abspath(__file__))


def canon(v):
    """Canonical, hashable text of a JSON value with exact numbers."""
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, decimal.Decimal):
        n = v.normalize()
        if n == 0:
            return "0"
        return "N" + str(n)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canon(v[k]) for k in sorted(v)) + "}"
    raise TypeError(type(v))


def loads(text):
    return json.loads(text, parse_float=decimal.Decimal, parse_int=decimal.Decimal)


def norm_rows(rows):
    return sorted(canon(r) for r in rows)


def eval_command(prefix, v0_flag, strict_flag, case, inp, query):
    """The same evaluation for either engine: the case's flags, its files, input, query."""
    cmd = list(prefix)
    if os.path.exists(os.path.join(case, "v0")):
        cmd.append(v0_flag)
    if os.path.exists(os.path.join(case, "strict")):
        cmd.append(strict_flag)
    for f in case_files(case):
        cmd += ["-d", f]
    if inp:
        cmd += ["-i", inp]
    cmd.append(query)
    return cmd


def run_ours(binary, case, inp, query, timeout):
    cmd = eval_command([binary], "--v0", "--strict", case, inp, query)
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "error", "code": "timeout", "message": "hutch-rego-eval timed out"}
    if p.returncode not in (0, 2):
        return {"outcome": "error", "code": "crash", "message": "exit %d: %s" % (p.returncode, p.stderr.decode(errors="replace")[-600:])}
    try:
        o = loads(p.stdout.decode())
    except ValueError:
        return {"outcome": "error", "code": "crash", "message": "bad output: %r" % p.stdout[:300]}
    if o.get("outcome") == "defined":
        o["rows"] = norm_rows(o.pop("result"))
    return o


def run_opa(opa, case, inp, query, timeout):
    cmd = eval_command([opa, "eval", "-f", "json"], "--v0-compatible", "--strict-builtin-errors", case, inp, query)
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "error", "code": "timeout", "message": "opa timed out"}
    try:
        o = loads(p.stdout.decode())
    except ValueError:
        return {"outcome": "error", "code": "opa_failure", "message": p.stderr.decode(errors="replace")[-600:]}
    if "errors" in o:
        errs = o["errors"]
        return {"outcome": "error", "code": errs[0].get("code", "?"), "codes": sorted({e.get("code", "?") for e in errs}),
                "message": errs[0].get("message", "")}
    if not o.get("result"):
        return {"outcome": "undefined"}
    return {"outcome": "defined", "rows": norm_rows([r.get("bindings", {}) for r in o["result"]])}


def case_files(case):
    fs = sorted(glob.glob(os.path.join(case, "*.rego")))
    fs += sorted(f for f in glob.glob(os.path.join(case, "data*.json")))
    return fs


def case_inputs(case):
    ins = sorted(glob.glob(os.path.join(case, "input*.json")))
    return ins or [None]


def case_queries(case):
    with open(os.path.join(case, "query")) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def same(ours, theirs):
    if ours["outcome"] != theirs["outcome"]:
        return False
    if ours["outcome"] == "defined":
        return ours["rows"] == theirs["rows"]
    if ours["outcome"] == "error":
        return ours.get("code") in theirs.get("codes", [theirs.get("code")])
    return True


def short(o):
    if o["outcome"] == "defined":
        s = "defined " + "; ".join(o["rows"])
    elif o["outcome"] == "error":
        s = "error %s: %s" % (o.get("code"), o.get("message", ""))
    else:
        s = "undefined"
    return s if len(s) < 400 else s[:400] + "..."


def record(regdir, cid, case, inp, query, expected, ours):
    d = os.path.join(regdir, cid)
    os.makedirs(d, exist_ok=True)
    for f in case_files(case):
        shutil.copy(f, d)
    for m in ("v0", "strict"):
        if os.path.exists(os.path.join(case, m)):
            shutil.copy(os.path.join(case, m), d)
    if inp:
        shutil.copy(inp, os.path.join(d, "input.json"))
    with open(os.path.join(d, "query"), "w") as f:
        f.write(query + "\n")
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(to_plain(expected), f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(d, "ours.txt"), "w") as f:
        f.write("# what hutch-rego-eval answered when this case was recorded\n" + short(ours) + "\n")


def to_plain(o):
    o = dict(o)
    o.pop("codes", None)
    return o


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True, help="hutch-rego-eval binary")
    ap.add_argument("--opa", help="opa binary (without it only regressions run)")
    ap.add_argument("--record", action="store_true", help="write new divergences under regressions/")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("dirs", nargs="*", help="directories of cases (each subdirectory is a case)")
    a = ap.parse_args()

    regdir = os.path.join(HERE, "regressions")
    known = {}
    kf = os.path.join(HERE, "known-divergences.txt")
    if os.path.exists(kf):
        for line in open(kf):
            line = line.strip()
            if line and not line.startswith("#"):
                parts = line.split(None, 1)
                known[parts[0]] = parts[1] if len(parts) > 1 else ""

    # work items: (id, case, input, query, expected-or-None)
    items = []
    for reg in sorted(glob.glob(os.path.join(regdir, "*", "query"))):
        case = os.path.dirname(reg)
        cid = os.path.basename(case)
        with open(os.path.join(case, "expected.json")) as f:
            exp = loads(f.read())
        if exp.get("outcome") == "defined" and "rows" not in exp:
            exp["rows"] = norm_rows(exp.pop("result"))
        inp = os.path.join(case, "input.json")
        for q in case_queries(case):
            items.append((cid, case, inp if os.path.exists(inp) else None, q, exp))
    recorded = {os.path.basename(os.path.dirname(r)) for r in glob.glob(os.path.join(regdir, "*", "query"))}
    if a.opa:
        for d in a.dirs:
            for case in sorted(glob.glob(os.path.join(d, "*", "query"))):
                case = os.path.dirname(case)
                qs = case_queries(case)
                for inp in case_inputs(case):
                    for qi, q in enumerate(qs):
                        cid = os.path.basename(case)
                        if inp:
                            cid += "-" + os.path.basename(inp)[:-5]
                        if len(qs) > 1:
                            cid += "-q%d" % (qi + 1)
                        items.append((cid, case, inp, q, None))

    def work(it):
        cid, case, inp, q, exp = it
        ours = run_ours(a.eval, case, inp, q, a.timeout)
        theirs = exp if exp is not None else run_opa(a.opa, case, inp, q, a.timeout)
        return it, ours, theirs

    passed = failed = known_failed = 0
    new_unknown = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as ex:
        for it, ours, theirs in ex.map(work, items):
            cid, case, inp, q, exp = it
            if theirs.get("code") in ("timeout", "opa_failure"):
                print("SKIP %s: OPA %s %s" % (cid, theirs["code"], theirs.get("message", "")[:200]))
                continue
            if same(ours, theirs):
                passed += 1
                if cid in known and exp is not None:
                    print("NOTE %s is listed as a known divergence but now passes" % cid)
                continue
            failed += 1
            is_known = cid in known
            known_failed += is_known
            if not is_known:
                new_unknown.append(cid)
            print("%s %s\n  policy: %s\n  input:  %s\n  query:  %s\n  opa:    %s\n  ours:   %s" % (
                "KNOWN" if is_known else "FAIL", cid, case, inp, q, short(theirs), short(ours)))
            if a.record and exp is None and cid not in recorded:
                record(regdir, cid, case, inp, q, theirs, ours)
                recorded.add(cid)
                print("  recorded as regressions/%s" % cid)
    # failed counts only divergences not listed as known (what make test adds up)
    print("%d passed, %d failed, %d known divergences" % (passed, failed - known_failed, known_failed))
    if not a.opa:
        print("note: OPA not available: only the %d regression cases ran" % len(items))
    return 1 if new_unknown else 0


if __name__ == "__main__":
    sys.exit(main())
