"""`hutchctl policy test --detect/--ignore` (Warren's fixture layout) and
`hutchctl policy decide`, on fixtures-policy/: a Warren ingest policy (ingest.demo),
an AlertChain v0 policy (alert.legacy) and fixtures inside the policy directory
(test/detect/<schema>/..., test/ignore/<schema>/...).

Run by scripts/test.sh (stage "policy cli") or directly:
    HUTCH_BIN_DIR=build/bin python3 -m pytest tests/policy-cli
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
POLICY = os.path.join(HERE, "fixtures-policy")
DETECT = os.path.join(POLICY, "test", "detect")
IGNORE = os.path.join(POLICY, "test", "ignore")


def hutchctl(*args, stdin=None):
    p = subprocess.run([HUTCHCTL, *args], capture_output=True, text=True, cwd=HERE, timeout=60, input=stdin)
    return p.returncode, p.stdout, p.stderr


def run_fixtures(policy=POLICY, detect=DETECT, ignore=IGNORE, *extra):
    args = ["policy", "test", "--policy", str(policy)]
    if detect:
        args += ["--detect", str(detect)]
    if ignore:
        args += ["--ignore", str(ignore)]
    return hutchctl(*args, *extra)


def result_of(out, name):
    """The verdict of one case in the text report ('PASS', 'FAIL', 'ERROR') and the
    detail line under it, if any."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if f": {name}: " in line:
            verdict = line.split(f": {name}: ")[1].split(" ")[0]
            detail = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith("  ") else None
            return verdict, detail
    raise AssertionError(f"{name} not in the report:\n{out}")


@pytest.fixture
def policy_copy(tmp_path):
    d = tmp_path / "policy"
    shutil.copytree(POLICY, d)
    return d


def test_all_pass():
    rc, out, err = run_fixtures()
    assert rc == 0, out + err
    lines = out.strip().splitlines()
    assert lines[-1] == "PASS: 12/12"
    assert lines[-2] == "-" * 80
    # the rule tests first, then the fixtures, in the existing line format
    assert "fixtures-policy/ingest/demo_test.rego:7: data.ingest.demo_test.test_high_severity_alerts: PASS (" in out
    assert "fixtures-policy/test/detect/demo/high.json:1: detect/demo/high.json: PASS (" in out
    assert "fixtures-policy/test/detect/legacy/bad.json:1: detect/legacy/bad.json: PASS (" in out
    assert "fixtures-policy/test/ignore/legacy/fine.json:1: ignore/legacy/fine.json: PASS (" in out


def test_jsonl_lines_and_concatenated_objects_are_cases():
    rc, out, _ = run_fixtures()
    assert rc == 0
    # batch.jsonl: 3 objects (a blank line between them), named by ordinal, at their line
    assert "batch.jsonl:1: detect/demo/batch.jsonl#1: PASS" in out
    assert "batch.jsonl:3: detect/demo/batch.jsonl#2: PASS" in out
    assert "batch.jsonl:4: detect/demo/batch.jsonl#3: PASS" in out
    assert "batch.jsonl#4" not in out
    # sub/two.json: two objects one after the other
    assert "detect/demo/sub/two.json#1: PASS" in out
    assert "detect/demo/sub/two.json#2: PASS" in out
    assert "two.json#3" not in out
    # a single-document file has no index
    assert "detect/demo/high.json#" not in out


def test_run_filter_applies_to_fixtures():
    rc, out, _ = run_fixtures(POLICY, DETECT, IGNORE, "--run", r"batch\.jsonl#[23]|ignore/legacy")
    assert rc == 0, out
    assert out.strip().splitlines()[-1] == "PASS: 3/3"
    assert "batch.jsonl#1" not in out and "test_high_severity_alerts" not in out


def test_detect_only_and_ignore_only():
    rc, out, _ = run_fixtures(POLICY, DETECT, None, "--run", "^detect/")
    assert rc == 0 and out.strip().splitlines()[-1] == "PASS: 7/7"
    rc, out, _ = run_fixtures(POLICY, None, IGNORE, "--run", "^ignore/")
    assert rc == 0 and out.strip().splitlines()[-1] == "PASS: 3/3"


def test_detect_without_alert_fails_with_reason(policy_copy):
    (policy_copy / "test/detect/demo/quiet.json").write_text('{"name": "q", "host": "h", "severity": 2}\n')
    rc, out, _ = run_fixtures(policy_copy, policy_copy / "test/detect", policy_copy / "test/ignore")
    assert rc == 1
    verdict, detail = result_of(out, "detect/demo/quiet.json")
    assert verdict == "FAIL"
    assert detail == "expected an alert, got none: ingest.demo: no alert (ignore: severity below 5)"
    assert "PASS: 12/13" in out and "FAIL: 1/13" in out


def test_ignore_with_alert_fails_with_titles(policy_copy):
    (policy_copy / "test/ignore/demo/loud.jsonl").write_text(
        '{"name": "ok", "host": "h", "severity": 1}\n{"name": "loud one", "host": "h", "severity": 9}\n')
    rc, out, _ = run_fixtures(policy_copy, policy_copy / "test/detect", policy_copy / "test/ignore")
    assert rc == 1
    assert result_of(out, "ignore/demo/loud.jsonl#1") == ("PASS", None)
    verdict, detail = result_of(out, "ignore/demo/loud.jsonl#2")
    assert verdict == "FAIL"
    assert detail == 'expected no alert, got 1 from ingest.demo: "demo: loud one"'
    assert "FAIL: 1/14" in out


def test_invalid_json_is_an_error(policy_copy):
    (policy_copy / "test/detect/demo/broken.json").write_text('{"name": "x", "host": "h", "severity": 9}\n{"name": \n')
    (policy_copy / "test/detect/demo/mixed.jsonl").write_text(
        '{"name": "x", "host": "h", "severity": 9}\nnot json\n[1, 2]\n')
    (policy_copy / "test/detect/demo/empty.json").write_text("\n")
    rc, out, _ = run_fixtures(policy_copy, policy_copy / "test/detect", policy_copy / "test/ignore")
    assert rc == 1
    assert result_of(out, "detect/demo/broken.json#1")[0] == "PASS"
    verdict, detail = result_of(out, "detect/demo/broken.json#2")
    assert verdict == "ERROR" and detail.startswith("invalid JSON at line 3")
    assert result_of(out, "detect/demo/mixed.jsonl#1")[0] == "PASS"
    verdict, detail = result_of(out, "detect/demo/mixed.jsonl#2")
    assert verdict == "ERROR" and detail.startswith("invalid JSON at line 2")
    verdict, detail = result_of(out, "detect/demo/mixed.jsonl#3")
    assert verdict == "ERROR" and "must be a JSON object, not array" in detail
    verdict, detail = result_of(out, "detect/demo/empty.json")
    assert verdict == "ERROR" and "no JSON document" in detail
    assert "ERROR: 4/" in out


def test_unreadable_file_is_an_error(policy_copy, tmp_path):
    # outside the policy directory: its loader stats every entry, fixtures included
    (tmp_path / "detect/demo").mkdir(parents=True)
    (tmp_path / "detect/demo/gone.json").symlink_to(tmp_path / "nowhere.json")  # dangling
    rc, out, _ = run_fixtures(policy_copy, tmp_path / "detect", None)
    assert rc == 1
    verdict, detail = result_of(out, "detect/demo/gone.json")
    assert verdict == "ERROR" and "cannot read" in detail and "No such file" in detail
    if os.geteuid() != 0:  # root reads anything
        f = policy_copy / "test/detect/demo/secret.json"
        f.write_text("{}")
        f.chmod(0)
        rc, out, _ = run_fixtures(policy_copy, policy_copy / "test/detect", None)
        verdict, detail = result_of(out, "detect/demo/secret.json")
        assert rc == 1 and verdict == "ERROR" and "cannot read" in detail


def test_schema_without_policy_fails_detect(policy_copy):
    d = policy_copy / "test/detect/unknown-schema"
    d.mkdir()
    (d / "x.json").write_text('{"title": "would be the default alert"}')
    # and an ignore case of a schema without policy passes: strict mode raises nothing
    d = policy_copy / "test/ignore/unknown-schema"
    d.mkdir()
    (d / "x.json").write_text('{"title": "t"}')
    rc, out, _ = run_fixtures(policy_copy, policy_copy / "test/detect", policy_copy / "test/ignore")
    assert rc == 1
    verdict, detail = result_of(out, "detect/unknown-schema/x.json")
    assert verdict == "FAIL"
    assert 'no policy for schema "unknown-schema"' in detail
    assert result_of(out, "ignore/unknown-schema/x.json")[0] == "PASS"


def test_file_at_the_top_is_an_error(policy_copy):
    (policy_copy / "test/detect/stray.json").write_text('{"severity": 9}')
    (policy_copy / "test/detect/NOTES.md").write_text("not a fixture")
    rc, out, _ = run_fixtures(policy_copy, policy_copy / "test/detect", None)
    assert rc == 1
    verdict, detail = result_of(out, "detect/stray.json")
    assert verdict == "ERROR" and "schema directory" in detail
    assert "NOTES.md" not in out


def test_policy_error_in_a_fixture_is_an_error(policy_copy):
    (policy_copy / "ingest/conflict.rego").write_text(
        "package ingest.conflict\n\nimport rego.v1\n\n"
        "level := \"high\" if input.a\n\nlevel := \"low\" if input.b\n\n"
        "alerts contains {\"title\": level}\n")
    d = policy_copy / "test/detect/conflict"
    d.mkdir()
    (d / "both.json").write_text('{"a": true, "b": true}')
    (d / "one.json").write_text('{"a": true}')
    rc, out, _ = run_fixtures(policy_copy, policy_copy / "test/detect", None)
    assert rc == 1
    verdict, detail = result_of(out, "detect/conflict/both.json")
    assert verdict == "ERROR"
    assert detail.startswith("ingest.conflict: ") and "eval_conflict_error" in detail
    assert result_of(out, "detect/conflict/one.json")[0] == "PASS"


def test_json_output():
    rc, out, _ = run_fixtures(POLICY, DETECT, IGNORE, "--output", "json")
    assert rc == 0
    doc = json.loads(out)
    assert (doc["passed"], doc["failed"], doc["errors"], doc["total"]) == (12, 0, 0, 12)
    by_name = {t["name"]: t for t in doc["tests"]}
    t = by_name["detect/demo/sub/two.json#2"]
    assert t["kind"] == "detect" and t["schema"] == "demo" and t["result"] == "PASS"
    assert t["alerts"] == ["demo: e"]
    assert by_name["ignore/demo/low.jsonl#1"]["alerts"] == []
    assert by_name["data.ingest.demo_test.test_low_severity_ignored"]["kind"] == "rule"


def test_json_output_failure_and_error(policy_copy):
    (policy_copy / "test/ignore/demo/loud.json").write_text('{"name": "L", "host": "h", "severity": 9}')
    (policy_copy / "test/ignore/demo/bad.json").write_text('{')
    rc, out, _ = run_fixtures(policy_copy, None, policy_copy / "test/ignore", "-o", "json")
    assert rc == 1
    doc = json.loads(out)
    by_name = {t["name"]: t for t in doc["tests"]}
    assert by_name["ignore/demo/loud.json"]["result"] == "FAIL"
    assert by_name["ignore/demo/loud.json"]["alerts"] == ["demo: L"]
    e = by_name["ignore/demo/bad.json"]["error"]["errors"][0]
    assert e["code"] == "hutch_fixture_error" and "invalid JSON" in e["message"]
    assert (doc["failed"], doc["errors"]) == (1, 1)


def test_missing_fixture_dir_fails():
    rc, out, err = run_fixtures(POLICY, os.path.join(HERE, "no-such-dir"), None)
    assert rc == 1
    assert "hutchctl: --detect" in err and "No such file" in err


def test_no_cases_at_all_fails(tmp_path):
    (tmp_path / "detect" / "demo").mkdir(parents=True)  # an empty schema directory is fine...
    rc, out, err = run_fixtures(POLICY, tmp_path / "detect", None, "--run", "^detect/")
    assert rc == 1  # ...but a run with no case at all is not
    assert "no tests found" in err


def test_bad_policy_dir_fails(tmp_path):
    (tmp_path / "ingest").mkdir()
    (tmp_path / "ingest" / "x.rego").write_text("package ingest.x\n\nalerts contains 1 if {\n")
    rc, out, err = run_fixtures(tmp_path, DETECT, None)
    assert rc == 1 and "x.rego" in err


# ---- policy decide


def decide(*args, stdin=None):
    rc, out, err = hutchctl("policy", "decide", *args, stdin=stdin)
    return rc, (json.loads(out) if rc == 0 else out), err


def test_decide_accepted():
    rc, doc, err = decide("--policy", POLICY, "--schema", "demo", "--input",
                          os.path.join(DETECT, "demo", "high.json"))
    assert rc == 0, err
    assert doc == {
        "schema": "demo", "package": "ingest.demo", "status": "accepted", "reason": None,
        "alerts": [{
            "title": "demo: port scan", "description": "severity at or above 5", "namespace": "",
            "source": "demo", "channel": "sec-demo", "tags": ["demo"],
            "attributes": [{"key": "host", "value": "web-1", "link": ""}],
            # the demo policy names no severity: enrich's normaliser will decide it
            "severity": None, "severity_score": None,
        }],
    }


def test_decide_ignored_from_stdin():
    rc, doc, err = decide("--policy", POLICY, "--schema", "demo",
                          stdin='{"name": "n", "host": "h", "severity": 1}')
    assert rc == 0, err
    assert doc["status"] == "ignored" and doc["alerts"] == []
    assert doc["package"] == "ingest.demo"
    assert doc["reason"] == "ingest.demo: no alert (ignore: severity below 5)"


def test_decide_pretty_output():
    rc, out, _ = hutchctl("policy", "decide", "--policy", POLICY, "--schema", "demo", "--input", "-",
                          stdin='{"severity": 1}')
    assert rc == 0
    assert out.startswith('{\n  "schema": "demo",\n  "package": "ingest.demo",\n')


def test_decide_default_and_strict():
    payload = '{"title": "Something odd", "description": "d"}'
    rc, doc, _ = decide("--policy", POLICY, "--schema", "nothing", stdin=payload)
    assert rc == 0
    assert doc["package"] == "" and doc["status"] == "accepted" and doc["reason"] is None
    assert [a["title"] for a in doc["alerts"]] == ["Something odd"]
    rc, doc, _ = decide("--policy", POLICY, "--schema", "nothing", "--strict", stdin=payload)
    assert rc == 0
    assert doc["package"] == "" and doc["status"] == "ignored" and doc["alerts"] == []
    assert 'no policy for schema "nothing"' in doc["reason"]


def test_decide_alertchain_v0():
    rc, doc, err = decide("--policy", POLICY, "--schema", "legacy", "--input",
                          os.path.join(DETECT, "legacy", "bad.json"))
    assert rc == 0, err
    assert doc["package"] == "alert.legacy" and doc["status"] == "accepted"
    (a,) = doc["alerts"]
    assert a["title"] == "legacy: bad thing on web-1"
    assert a["namespace"] == "web-1" and a["source"] == "legacy-scanner"
    attrs = {x["key"]: x for x in a["attributes"]}
    # persist without a ttl gets the default (a day); ttl becomes ttl_seconds
    assert attrs["ip"]["persist"] is True and attrs["ip"]["ttl_seconds"] == 86400
    assert attrs["ip"]["value"] == "203.0.113.9" and attrs["ip"]["type"] == "ip_addr"
    assert attrs["user"]["persist"] is True and attrs["user"]["ttl_seconds"] == 600
    assert "persist" not in attrs["note"] and "ttl_seconds" not in attrs["note"]
    # refs become link attributes
    assert attrs["runbook"]["link"] == "https://runbooks.example/legacy"
    assert attrs["runbook"]["value"] == "https://runbooks.example/legacy"
    rc, doc, _ = decide("--policy", POLICY, "--schema", "legacy", stdin='{"kind": "fine"}')
    assert rc == 0 and doc["status"] == "ignored" and doc["reason"].startswith("alert.legacy: no alert")


def test_decide_policy_error(tmp_path):
    (tmp_path / "c.rego").write_text(
        "package ingest.conflict\n\nimport rego.v1\n\n"
        "level := \"high\" if input.a\n\nlevel := \"low\" if input.b\n\n"
        "alerts contains {\"title\": level}\n")
    rc, out, err = decide("--policy", str(tmp_path), "--schema", "conflict", stdin='{"a": true, "b": true}')
    assert rc == 1 and out == ""
    assert err.startswith("hutchctl: ingest.conflict: ")
    assert "eval_conflict_error" in err
    rc, doc, _ = decide("--policy", str(tmp_path), "--schema", "conflict", stdin='{"a": true}')
    assert rc == 0 and doc["alerts"][0]["title"] == "high"


def test_decide_bad_shape_is_a_policy_error(tmp_path):
    (tmp_path / "s.rego").write_text("package ingest.shape\n\nimport rego.v1\n\nalerts contains \"just a string\"\n")
    rc, _, err = decide("--policy", str(tmp_path), "--schema", "shape", stdin="{}")
    assert rc == 1 and err.startswith("hutchctl: ") and "ingest.shape" in err


def test_decide_bad_input_and_usage(tmp_path):
    rc, _, err = decide("--policy", POLICY, "--schema", "demo", stdin='{"a": ')
    assert rc == 1 and err.startswith("hutchctl: stdin: invalid JSON")
    rc, _, err = decide("--policy", POLICY, "--schema", "demo", "--input", str(tmp_path / "missing.json"))
    assert rc == 1 and "missing.json" in err
    rc, _, err = decide("--policy", str(tmp_path / "nope"), "--schema", "demo", stdin="{}")
    assert rc == 1 and err.startswith("hutchctl: ")
    rc, _, _ = decide("--policy", POLICY, stdin="{}")  # no --schema
    assert rc == 2
    rc, _, _ = decide("--schema", "demo", stdin="{}")  # no --policy
    assert rc == 2
    rc, _, _ = hutchctl("policy", "test", "--policy", POLICY, "--strict")  # --strict is decide's
    assert rc == 2


def test_eval_still_loads_data_documents():
    # policy eval keeps `opa eval -d` semantics: DIR's JSON/YAML files are data
    rc, out, err = hutchctl("policy", "eval", "--policy", "policy", "data.lists.cidrs")
    assert rc == 0, err
    assert json.loads(out)["result"][0]["expressions"][0]["value"] == ["10.0.0.0/8", "192.168.0.0/16"]


def test_event_list_usage():
    # the database-backed behaviour runs in the e2e suite; here only the options
    rc, _, err = hutchctl("event", "list", "--ignored", "--status", "dead")
    assert rc == 2 and "contradict" in err
    rc, _, err = hutchctl("event", "list", "--status", "bogus")
    assert rc == 2
    rc, out, _ = hutchctl("event", "list", "--help")
    assert rc == 0 and "--ignored" in out
