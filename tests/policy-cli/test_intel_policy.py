"""The shipped threat-intel policy (policies/intel, `package intel`, read by hutch-enrich):
its own tests pass under `hutchctl policy test`, and `policy eval` of `lookups` on an
alert in enrich's input shape gives what the contract says (README "Threat
intelligence", docs/ARCHITECTURE.md "Policy contracts"); the same under OPA when it is
installed.
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
INTEL = os.path.join(ROOT, "policies", "intel")
# the OPA binary the other policy-cli tests compare with, when it is there
OPA_PATH = os.environ.get("HUTCH_OPA") or os.path.join(
    os.environ.get("HUTCH_CACHE", os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "hutch")),
    "opa-" + os.environ.get("HUTCH_OPA_VERSION", "v1.19.0"), "opa")
OPA = OPA_PATH if os.access(OPA_PATH, os.X_OK) else shutil.which("opa")

PROVIDERS = [{"name": "virustotal", "kinds": ["ip", "domain", "hostname", "url", "md5", "sha1", "sha256"]},
             {"name": "abuseipdb", "kinds": ["ip"]}, {"name": "rdap", "kinds": ["ip", "domain", "asn"]}]


def alert(severity, score):
    return {"alert_id": "0190b0c4-0000-7000-8000-000000000001", "schema": "guardduty", "title": "t",
            "severity": severity, "severity_score": score, "providers": PROVIDERS, "tags": [], "attributes": [],
            "indicators": [
                {"type": "ipv4", "value": "45.155.205[.]233", "path": "a", "kind": "ip",
                 "normalized": "45.155.205.233", "public": True},
                {"type": "ipv4", "value": "10.0.0.1", "path": "b", "kind": "ip", "normalized": "10.0.0.1",
                 "public": False},
                {"type": "url", "value": "http://evil-login.com/x", "path": "c", "kind": "url",
                 "normalized": "http://evil-login.com/x", "public": True},
                {"type": "email", "value": "a@b.com", "path": "d", "public": False}]}


def test_shipped_intel_tests_pass():
    p = subprocess.run([HUTCHCTL, "policy", "test", "--policy", INTEL], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "PASS: 6/6" in p.stdout


def lookups(tmp_path, doc):
    f = tmp_path / "input.json"
    f.write_text(json.dumps(doc))
    p = subprocess.run([HUTCHCTL, "policy", "eval", "--policy", INTEL, "--input", str(f), "data.intel.lookups"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    value = json.loads(p.stdout)["result"][0]["expressions"][0]["value"]
    if OPA:
        o = subprocess.run([OPA, "eval", "-f", "json", "-d", INTEL, "-i", str(f), "data.intel.lookups"],
                           capture_output=True, text=True, timeout=60)
        assert json.loads(o.stdout)["result"][0]["expressions"][0]["value"] == value
    return sorted(value, key=lambda m: (m["kind"], m["value"]))


@pytest.mark.parametrize("severity,score,expect", [
    ("high", 75, [{"kind": "ip", "value": "45.155.205.233", "providers": ["virustotal", "abuseipdb", "rdap"]},
                  {"kind": "url", "value": "http://evil-login.com/x", "providers": ["virustotal"]}]),
    ("low", 20, [{"kind": "ip", "value": "45.155.205.233", "providers": ["abuseipdb", "rdap"]}]),
    ("info", 0, []),
])
def test_lookups_by_severity(tmp_path, severity, score, expect):
    assert lookups(tmp_path, alert(severity, score)) == expect
