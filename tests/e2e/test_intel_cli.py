"""`hutchctl intel lookup` and `intel quota` against the fake providers (tests/intel/fake_intel.py).

Without a database: every provider answers the shapes it documents, a private address
asks nobody, a provider that does not take the kind is refused. With the stack's
Postgres (migrated by the services): the shared cache answers the second lookup
without a request, --no-cache asks again, the shared per-minute limit refuses without
a request, a 429 cools the provider down for everyone, and the key is in no output,
no log line and no database row."""
import json
import os
import random
import subprocess
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hutch_e2e import BIN_DIR, ROOT  # noqa: E402

KEY = "e2e-intel-key-7c1f0b"
PREFIXES = {
    "VIRUSTOTAL": "/vt/api/v3", "ABUSEIPDB": "/abuseipdb/api/v2", "OTX": "/otx/api/v1", "SHODAN": "/shodan",
    "URLSCAN": "/urlscan/api/v1", "URLHAUS": "/urlhaus/v1", "THREATFOX": "/threatfox/api/v1",
    "MALWAREBAZAAR": "/mb/api/v1", "RDAP": "/rdap",
}


@pytest.fixture(scope="module")
def fake():
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "intel", "fake_intel.py"), "--key", KEY],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline())
    base = f"http://127.0.0.1:{port}"
    yield base
    p.stdin.close()
    p.wait(timeout=10)


def intel_env(fake, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_")}
    for name, prefix in PREFIXES.items():
        env[f"HUTCH_INTEL_{name}_URL"] = fake + prefix
    for name in ("VIRUSTOTAL", "ABUSEIPDB", "OTX", "SHODAN", "URLSCAN", "ABUSECH"):
        env[f"HUTCH_INTEL_{name}_KEY"] = KEY
    env.update(extra)
    return env


def lookup(env, *args):
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "-o", "json", "intel", "lookup", *args], env=env,
                       capture_output=True, text=True, timeout=60)
    assert KEY not in r.stdout and KEY not in r.stderr
    return r


def calls(fake):
    return requests.get(fake + "/_control/calls", timeout=5).json()


def mode(fake, provider, m, **kw):
    requests.post(fake + "/_control/mode", json={"provider": provider, "mode": m, **kw}, timeout=5)


def by_provider(doc):
    return {row["provider"]: row for row in doc["lookups"]}


def test_every_provider_without_a_database(fake):
    env = intel_env(fake)
    r = lookup(env, "45.155.205[.]233")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["kind"] == "ip" and doc["value"] == "45.155.205.233" and doc["asked"] is True
    rows = by_provider(doc)
    assert set(rows) == {"virustotal", "abuseipdb", "otx", "shodan", "urlscan", "urlhaus", "rdap"}
    for name in ("virustotal", "abuseipdb", "otx", "shodan", "urlscan", "urlhaus"):
        assert rows[name]["result"] == "answer" and rows[name]["verdict"] == "malicious", rows[name]
    assert rows["virustotal"]["summary"].startswith("VT 14/92 engines malicious")
    assert rows["abuseipdb"]["score"] == 100
    assert rows["rdap"]["verdict"] == "unknown" and "EXAMPLE-HOSTING-NET" in rows["rdap"]["summary"]

    doc = json.loads(lookup(env, "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F").stdout)
    assert doc["kind"] == "sha256"
    rows = by_provider(doc)
    assert set(rows) == {"virustotal", "otx", "urlhaus", "threatfox", "malwarebazaar"}
    assert all(row["verdict"] == "malicious" for row in rows.values()), rows

    doc = json.loads(lookup(env, "45.155.205.233:50050").stdout)
    assert by_provider(doc)["threatfox"]["summary"].startswith("ThreatFox: Cobalt Strike botnet_cc")

    doc = json.loads(lookup(env, "--provider", "rdap", "evil-login[.]com").stdout)
    assert by_provider(doc)["rdap"]["verdict"] == "suspicious"


def test_never_asked_and_refused(fake):
    env = intel_env(fake)
    before = calls(fake)
    for value in ("10.1.2.3", "192.168.0.1", "100.64.1.1", "169.254.169.254", "fe80::1", "2001:db8::5",
                  "http://intranet.corp.local/x", "203.0.113.7"):
        r = lookup(env, value)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["asked"] is False and doc["lookups"] == [], doc
    assert calls(fake) == before
    r = lookup(env, "--provider", "shodan", "example.com")
    assert r.returncode == 1 and "shodan does not answer about a domain" in r.stderr
    r = lookup(env, "--provider", "whois", "example.com")
    assert r.returncode == 2
    r = lookup(env, "not an indicator")
    assert r.returncode == 1 and "is not an IP address" in r.stderr
    env.pop("HUTCH_INTEL_SHODAN_KEY")
    r = lookup(env, "--provider", "shodan", "8.8.8.8")
    assert r.returncode == 1 and "not enabled" in r.stderr
    assert calls(fake) == before


def test_cache_limit_and_cooldown(stack, fake):
    ip = f"45.{random.randint(160, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    env = intel_env(fake, HUTCH_DATABASE_URL=stack.pg.url, HUTCH_INTEL_VIRUSTOTAL_PER_MINUTE="2")
    stack.pg.query("DELETE FROM intel_quota")
    vt0 = calls(fake)["virustotal"]

    first = by_provider(json.loads(lookup(env, "--provider", "virustotal", ip).stdout))["virustotal"]
    assert first["result"] == "answer" and first["not_found"] is True
    second = by_provider(json.loads(lookup(env, "--provider", "virustotal", ip).stdout))["virustotal"]
    assert second["result"] == "cache" and second["summary"] == first["summary"]
    assert calls(fake)["virustotal"] == vt0 + 1

    # --no-cache asks again; the shared limit (2/min) then refuses without a request
    assert by_provider(json.loads(lookup(env, "--provider", "virustotal", "--no-cache", ip).stdout))[
        "virustotal"]["result"] == "answer"
    r = lookup(env, "--provider", "virustotal", "--no-cache", ip)
    refused = by_provider(json.loads(r.stdout))["virustotal"]
    assert refused["result"] == "rate_limited" and "next request allowed in" in refused["summary"]
    assert r.returncode == 0
    assert calls(fake)["virustotal"] == vt0 + 2

    row = stack.pg.query("SELECT verdict, not_found, expires_at - fetched_at AS ttl FROM intel_cache"
                         " WHERE provider = 'virustotal' AND kind = 'ip' AND value = %s", (ip,))[0]
    assert row["verdict"] == "unknown" and row["not_found"] is True
    assert row["ttl"].total_seconds() == 6 * 3600

    # a 429 cools the provider down for every caller
    mode(fake, "abuseipdb", "429", retry_after="120")
    ab0 = calls(fake)["abuseipdb"]
    hit = by_provider(json.loads(lookup(env, "--provider", "abuseipdb", ip).stdout))["abuseipdb"]
    assert hit["result"] == "rate_limited" and "cooling down for 120 s" in hit["summary"]
    mode(fake, "abuseipdb", "ok")
    again = by_provider(json.loads(lookup(env, "--provider", "abuseipdb", ip).stdout))["abuseipdb"]
    assert again["result"] == "rate_limited"
    assert calls(fake)["abuseipdb"] == ab0 + 1

    # intel quota shows the shared state
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "-o", "json", "intel", "quota"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert KEY not in r.stdout and KEY not in r.stderr
    quota = {row["provider"]: row for row in json.loads(r.stdout)}
    vt = quota["virustotal"]
    assert vt["enabled"] is True and vt["per_minute"] == 2 and vt["per_day"] == 500
    assert vt["today_used"] == 2 and vt["minute_left"] == 0 and 0 < vt["next_request_in_s"] <= 30
    assert quota["abuseipdb"]["cooling_down_until"] and 100 < quota["abuseipdb"]["next_request_in_s"] <= 120
    assert quota["shodan"]["today_used"] == 0 and "cooling_down_until" not in quota["shodan"]
    stack.pg.query("DELETE FROM intel_quota WHERE provider = 'abuseipdb'")

    # the key is stored nowhere
    assert stack.pg.scalar("SELECT count(*) FROM intel_cache c WHERE c::text LIKE %s", (f"%{KEY}%",)) == 0
    assert stack.pg.scalar("SELECT count(*) FROM intel_quota q WHERE q::text LIKE %s", (f"%{KEY}%",)) == 0
