"""The shipped triage policy (policies/triage, `package triage`, seed 004's decision engine,
read by hutch-agent): its own tests pass under `hutchctl policy test` and, when it is
installed, under OPA; `policy eval` of `data.triage` on a login alert in the agent's input
shape gives the decision of the score table, the same under OPA.
"""
import json
import os
import subprocess

import pytest

from test_intel_policy import HUTCHCTL, OPA, ROOT

TRIAGE = os.path.join(ROOT, "policies", "triage")


def test_shipped_triage_tests_pass():
    p = subprocess.run([HUTCHCTL, "policy", "test", "--policy", TRIAGE], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "PASS: 10/10" in p.stdout


@pytest.mark.skipif(not OPA, reason="OPA is not installed")
def test_shipped_triage_tests_pass_under_opa():
    p = subprocess.run([OPA, "test", TRIAGE], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "PASS: 10/10" in p.stdout


def decide(tmp_path, attrs, verdict=None):
    alert = {"id": "01900000-0000-7000-8000-000000000001", "schema": "login", "tags": ["login", "high"],
             "metadata": {"title": "t", "attributes": [{"key": k, "value": v, "link": "", "auto": False}
                                                       for k, v in attrs.items()]},
             "data": None, "intel": []}
    if verdict:
        alert["intel"] = [{"provider": "abuseipdb", "kind": "ip", "value": "185.199.108.153", "verdict": verdict}]
    f = tmp_path / "input.json"
    f.write_text(json.dumps({"alert": alert, "enrich": []}))
    p = subprocess.run([HUTCHCTL, "policy", "eval", "--policy", TRIAGE, "--input", str(f), "data.triage"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    value = json.loads(p.stdout)["result"][0]["expressions"][0]["value"]
    if OPA:
        o = subprocess.run([OPA, "eval", "-f", "json", "-d", TRIAGE, "-i", str(f), "data.triage"],
                           capture_output=True, text=True, timeout=60)
        assert json.loads(o.stdout)["result"][0]["expressions"][0]["value"] == value
    return value


@pytest.mark.parametrize("attrs,verdict,score,publish,page", [
    ({"source_country": "RU"}, "malicious", 70, "alert", True),
    ({"source_country": "RU", "new_user": "true"}, None, 65, "alert", False),
    ({"source_country": "TH", "time_of_day": "02:00"}, None, 15, "discard", False),
    ({"source_country": "TH", "mfa": "none", "new_user": "true"}, None, 45, "alert", False),
])
def test_score_table(tmp_path, attrs, verdict, score, publish, page):
    v = decide(tmp_path, attrs, verdict)
    assert v["risk_score"] == score
    assert v["publish"] == publish
    assert v.get("page", False) is page
    assert v["attr"][0] == {"key": "risk_score", "value": score}
