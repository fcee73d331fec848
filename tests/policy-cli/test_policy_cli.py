"""`hutchctl policy eval`, `policy test` and `policy decide` on small policy directories.

Run by scripts/test.sh (stage "policy cli") or directly:
    HUTCH_BIN_DIR=build/bin python3 -m pytest tests/policy-cli
`policy eval` output must equal `opa eval --format json` on the same directory, input
and query when OPA is installed ($HUTCH_OPA, `make deps`); without OPA those
comparisons are skipped and only our own expected values are checked.
"""
import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.abspath(os.environ.get("HUTCH_BIN_DIR", os.path.join(ROOT, "build", "bin")))
HUTCHCTL = os.path.join(BIN, "hutchctl")
OPA = os.environ.get("HUTCH_OPA") or os.path.join(
    os.environ.get("HUTCH_CACHE", os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "hutch")),
    "opa-" + os.environ.get("HUTCH_OPA_VERSION", "v1.19.0"), "opa")
POLICY = os.path.join(HERE, "policy")
INPUT = os.path.join(HERE, "input.json")

QUERIES = [
    "data.hutch.detect",
    "x := data.hutch.detect.alerts",
    "data.hutch.detect.severity",
    "data.lists.users[i]",
    "data.hutch.detect.tags[k] == \"PROD\"",
    "1 > 2",
    "data.hutch.detect.nope",
    "x := data.hutch.detect.ratio; y := x * 3",
    "not data.hutch.detect.trusted_user",
]


def hutchctl(*args, cwd=HERE):
    p = subprocess.run([HUTCHCTL, *args], capture_output=True, text=True, cwd=cwd, timeout=60)
    return p.returncode, p.stdout, p.stderr


def our_eval(query, inp=INPUT):
    args = ["policy", "eval", "--policy", "policy"] + (["--input", inp] if inp else []) + [query]
    rc, out, err = hutchctl(*args)
    assert rc == 0, err
    return json.loads(out)


@pytest.mark.parametrize("query", QUERIES)
def test_eval_matches_opa(query):
    ours = our_eval(query)
    if not os.access(OPA, os.X_OK):
        pytest.skip("OPA not installed (make deps): only our own results are checked")
    p = subprocess.run([OPA, "eval", "--format", "json", "-d", "policy", "-i", INPUT, query],
                       capture_output=True, text=True, cwd=HERE, timeout=60)
    assert p.returncode == 0, p.stderr
    assert ours == json.loads(p.stdout)


def test_eval_values():
    r = our_eval("x := data.hutch.detect.alerts")["result"]
    assert len(r) == 1
    assert r[0]["expressions"][0]["value"] is True
    assert r[0]["bindings"]["x"] == [{
        "attrs": [{"key": "user", "value": "eve"}],
        "severity": "medium",
        "title": "Recon:EC2/PortProbe from 203.0.113.77",
    }]
    assert our_eval("data.hutch.detect.nope") == {}
    v = our_eval("1 > 2")["result"][0]["expressions"][0]
    assert v == {"value": False, "text": "1 > 2", "location": {"row": 1, "col": 1}}
    rows = our_eval("data.lists.users[i]")["result"]
    assert [(r["bindings"]["i"], r["expressions"][0]["value"]) for r in rows] == [(0, "deploy-bot"), (1, "backup")]


def test_eval_data_file_and_v0(tmp_path):
    (tmp_path / "p.rego").write_text("package legacy\n\nalert[msg] { input.n > data.limit; msg := \"over\" }\n")
    (tmp_path / "extra.json").write_text('{"limit": 3}\n')
    (tmp_path / "in.json").write_text('{"n": 5}\n')
    rc, out, err = hutchctl("policy", "eval", "--policy", str(tmp_path / "p.rego"), "--v0", "--data",
                            str(tmp_path / "extra.json"), "--input", str(tmp_path / "in.json"), "data.legacy.alert")
    assert rc == 0, err
    assert json.loads(out)["result"][0]["expressions"][0]["value"] == ["over"]


def test_eval_error_shape():
    rc, out, _ = hutchctl("policy", "eval", "--policy", "policy", "x := 1;\ny := z")
    assert rc == 1
    e = json.loads(out)["errors"][0]
    assert e["code"] == "rego_unsafe_var_error"
    assert e["message"] == "var z is unsafe"
    assert e["location"] == {"file": "query", "row": 2, "col": 1}  # the expression, as OPA points


def test_test_passes():
    # policy test reads modules only (Warren-style directories keep fixtures beside
    # them); --data gives the tests the data documents `opa test DIR` would load
    rc, out, err = hutchctl("policy", "test", "--policy", "policy", "--data", "policy")
    assert rc == 0, out + err
    assert "data.hutch.detect_test.test_alert_for_stranger: PASS" in out
    assert out.strip().splitlines()[-1] == "PASS: 6/6"
    if os.access(OPA, os.X_OK):
        p = subprocess.run([OPA, "test", "policy"], capture_output=True, text=True, cwd=HERE, timeout=60)
        assert p.returncode == 0 and "PASS: 6/6" in p.stdout


def test_test_loads_modules_only():
    rc, out, _ = hutchctl("policy", "test", "--policy", "policy")
    assert rc == 1  # data.lists is not loaded: the two tests that need it fail
    assert "data.hutch.detect_test.test_trusted_user_no_alert: FAIL" in out
    assert "PASS: 4/6" in out and "FAIL: 2/6" in out


def test_test_run_filter():
    rc, out, _ = hutchctl("policy", "test", "--policy", "policy", "--run", "medium")
    assert rc == 0
    assert out.strip().splitlines()[-1] == "PASS: 1/1"


def test_test_failures_and_errors(tmp_path):
    d = tmp_path / "policy"
    shutil.copytree(POLICY, d)
    (d / "more_test.rego").write_text(
        "package more_test\n\nimport rego.v1\n\n"
        "test_fails if data.hutch.detect.severity == \"high\" with input as {}\n\n"
        "test_conflict := x if some x in [1, 2]\n")
    rc, out, _ = hutchctl("policy", "test", "--policy", str(d), "--data", str(d))
    assert rc == 1
    assert "data.more_test.test_fails: FAIL" in out
    assert "data.more_test.test_conflict: ERROR" in out
    assert "more_test.rego:7:1: eval_conflict_error: complete rules must not produce multiple outputs" in out
    assert "PASS: 6/8" in out and "FAIL: 1/8" in out and "ERROR: 1/8" in out


def test_test_compile_error_position(tmp_path):
    d = tmp_path / "policy"
    d.mkdir()
    (d / "bad_test.rego").write_text("package bad_test\n\nimport rego.v1\n\ntest_x if {\n  x\n}\n")
    rc, out, err = hutchctl("policy", "test", "--policy", str(d))
    assert rc == 1
    assert "bad_test.rego:6:3: rego_unsafe_var_error: var x is unsafe" in err
