"""Hutch's shipped policies (policies/) against every shared real-world alert sample.

Each file under the shared samples directory ($HUTCH_SHARED_ALERTS, default
../shared/fixtures/alerts beside the repository) must have an entry in
tests/policy-samples/expected.json (a .jsonl file: a list, one entry per line):
    {"schema": S, "alerts": [{"title": exact, "attributes": {key: value, ...subset}}]}
    {"schema": S, "ignored": true, "reason_contains": "..."}
    {"schema": S, "unsupported": true}        (no policy for S: ignored under --strict)
and `hutchctl policy decide --policy policies --schema S --input FILE --strict` must agree.
Samples are read in place, never copied into the project.
"""
import json
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.abspath(os.environ.get("HUTCH_BIN_DIR", os.path.join(ROOT, "build", "bin")))
HUTCHCTL = os.path.join(BIN, "hutchctl")
POLICIES = os.path.join(ROOT, "policies")
SHARED = os.path.abspath(os.environ.get("HUTCH_SHARED_ALERTS",
                                        os.path.join(ROOT, "..", "shared", "fixtures", "alerts")))
EXPECTED_FILE = os.path.join(ROOT, "tests", "policy-samples", "expected.json")

with open(EXPECTED_FILE) as fh:
    EXPECTED = json.load(fh)


def sample_files():
    if not os.path.isdir(SHARED):
        return []
    out = []
    for dirpath, _, files in os.walk(SHARED):
        for name in files:
            if name.endswith((".json", ".jsonl")):
                out.append(os.path.relpath(os.path.join(dirpath, name), SHARED))
    return sorted(out)


def cases():
    """(id, relative path, line number or None, expectation)"""
    out = []
    for rel, exp in sorted(EXPECTED.items()):
        if isinstance(exp, list):
            for i, e in enumerate(exp, 1):
                out.append(pytest.param(rel, i, e, id=f"{rel}:{i}"))
        else:
            out.append(pytest.param(rel, None, exp, id=rel))
    return out


def decide(schema, path):
    p = subprocess.run([HUTCHCTL, "policy", "decide", "--policy", POLICIES, "--schema", schema,
                        "--input", path, "--strict"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"decide failed ({p.returncode}): {p.stdout}{p.stderr}"
    return json.loads(p.stdout)


def test_shared_samples_present():
    if not os.path.isdir(SHARED):
        pytest.skip(f"shared samples not found at {SHARED} (set HUTCH_SHARED_ALERTS)")
    files = sample_files()
    missing = [f for f in files if f not in EXPECTED]
    assert not missing, ("shared samples without an entry in tests/policy-samples/expected.json "
                         "(add one, naming its schema and what must come out): " + ", ".join(missing))
    stale = [f for f in EXPECTED if f not in files]
    assert not stale, "expected.json names samples that no longer exist: " + ", ".join(stale)


def check(decision, exp, where):
    assert decision["schema"] == exp["schema"], where
    if exp.get("unsupported"):
        assert decision["status"] == "ignored", f"{where}: {decision}"
        assert decision["package"] == "", f"{where}: unsupported schema matched {decision['package']}"
        assert decision.get("reason"), f"{where}: no reason for an unsupported schema"
        return
    want_pkg = "alert." + exp["schema"] if exp["schema"] == "aws_guardduty" else "ingest." + exp["schema"]
    assert decision["package"] in (want_pkg, f'ingest["{exp["schema"]}"]'), f"{where}: {decision['package']}"
    if exp.get("ignored"):
        assert decision["status"] == "ignored", f"{where}: {json.dumps(decision)[:2000]}"
        assert decision["alerts"] == [], where
        assert exp["reason_contains"] in (decision.get("reason") or ""), f"{where}: reason {decision.get('reason')!r}"
        return
    assert decision["status"] == "accepted", f"{where}: {json.dumps(decision)[:2000]}"
    got = sorted(decision["alerts"], key=lambda a: a["title"])
    assert [a["title"] for a in got] == [a["title"] for a in exp["alerts"]], where
    for g, e in zip(got, exp["alerts"]):
        have = {}
        for attr in g.get("attributes") or []:
            have.setdefault(attr["key"], set()).add(attr["value"])
        for k, v in e.get("attributes", {}).items():
            assert v in have.get(k, set()), f"{where}: attribute {k}={v!r} missing from {sorted(have.items())}"


@pytest.mark.parametrize("rel,line,exp", cases())
def test_shared_sample(rel, line, exp, tmp_path):
    path = os.path.join(SHARED, rel)
    if not os.path.exists(path):
        pytest.skip(f"{path} not present (checked by test_shared_samples_present)")
    if not os.access(HUTCHCTL, os.X_OK):
        pytest.fail(f"{HUTCHCTL} not built")
    if line is not None:
        with open(path) as fh:
            lines = [ln for ln in fh if ln.strip()]
        one = tmp_path / "event.json"
        one.write_text(lines[line - 1])
        path = str(one)
    check(decide(exp["schema"], path), exp, f"{rel}" + (f":{line}" if line else ""))


def test_no_sample_unsupported():
    """Every shared sample's source has a shipped policy now."""
    unsupported = [rel for rel, exp in EXPECTED.items()
                   if any(e.get("unsupported") for e in (exp if isinstance(exp, list) else [exp]))]
    assert not unsupported, "samples still marked unsupported: " + ", ".join(unsupported)
