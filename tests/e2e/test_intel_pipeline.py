"""Threat intel in the pipeline: hutch-enrich against the fake providers (tests/intel/fake_intel.py).

enrich is restarted with VirusTotal, AbuseIPDB and OTX keys and RDAP on, every base URL
at the fake, and the shipped intel policy (policies/intel). Then:
- 500 alerts with the same public IP make exactly one request per enabled provider
  (single flight through the cache claim), every alert's lookups settle, the risk
  score takes the malicious verdicts in, and TicketEvents "intel" carry them;
- a private IP asks nobody;
- VirusTotal at a fast limit (60/min, the shared bucket drained first) with 20
  distinct IPs: every alert's notification row is there while VirusTotal verdicts
  are still pending; they fill in afterwards, one request each;
- SIGKILL of enrich while lookups are pending and alerts are in flight: after a
  restart every alert is enriched and every lookup settled;
- a 5xx is retried with backoff, a 429 cools the provider down, and both settle;
- the key is in no log line and no database row;
- a verdict that comes after the ticket's Slack post is shown by an edit of that
  message (notify in bot mode against tests/e2e/fake_slack.py).
"""
import concurrent.futures
import copy
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hutch_e2e import BIN_DIR, ROOT, load_fixture, scaled, wait_for  # noqa: E402
from hutch.v1 import ticket_pb2  # noqa: E402
from test_slack import check_limits, message_of, slack  # noqa: E402,F401  (slack: the fake-Slack notify)
from test_slack import ticket_of as slack_ticket_of  # noqa: E402

KEY = "e2e-pipeline-intel-key-5d2e9a"
BAD_IP = "45.155.205.233"  # the fake's known-malicious IP
PREFIXES = {
    "VIRUSTOTAL": "/vt/api/v3", "ABUSEIPDB": "/abuseipdb/api/v2", "OTX": "/otx/api/v1", "SHODAN": "/shodan",
    "URLSCAN": "/urlscan/api/v1", "URLHAUS": "/urlhaus/v1", "THREATFOX": "/threatfox/api/v1",
    "MALWAREBAZAAR": "/mb/api/v1", "RDAP": "/rdap",
}
ENABLED = {"virustotal", "abuseipdb", "otx", "rdap"}


@pytest.fixture(scope="module")
def fake():
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "intel", "fake_intel.py"), "--key", KEY],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline())
    yield f"http://127.0.0.1:{port}"
    p.stdin.close()
    p.wait(timeout=10)


@pytest.fixture(scope="module")
def intel_stack(stack, fake):
    """The shared stack with enrich pointed at the fake providers; restored afterwards."""
    enrich = stack.services["enrich"]
    saved = dict(enrich.env)
    for name, prefix in PREFIXES.items():
        enrich.env[f"HUTCH_INTEL_{name}_URL"] = fake + prefix
    for name in ("VIRUSTOTAL", "ABUSEIPDB", "OTX"):
        enrich.env[f"HUTCH_INTEL_{name}_KEY"] = KEY
    enrich.env.update({"HUTCH_INTEL_RDAP": "1", "HUTCH_INTEL_VIRUSTOTAL_PER_MINUTE": "60",
                       "HUTCH_INTEL_VIRUSTOTAL_PER_DAY": "0", "HUTCH_INTEL_POLL": "200ms",
                       "HUTCH_INTEL_TIMEOUT": "3s"})
    enrich.restart()
    yield stack
    enrich.env = saved
    enrich.restart()


def calls(fake):
    return requests.get(fake + "/_control/calls", timeout=5).json()


def reset(fake, st):
    requests.post(fake + "/_control/reset", timeout=5)
    st.pg.query("DELETE FROM intel_cache")
    st.pg.query("DELETE FROM intel_quota")


def drain_virustotal(st):
    """The shared VirusTotal bucket empty now: tokens come back at the limit's rate."""
    now = int(time.time() * 1000)
    st.pg.query("INSERT INTO intel_quota VALUES ('virustotal', 0, %s, %s, 0, 0) ON CONFLICT (provider) DO UPDATE"
                " SET tokens = 0, refilled_ms = EXCLUDED.refilled_ms, day = EXCLUDED.day, day_used = 0,"
                " cooldown_until_ms = 0", (now, now // 86400000))


def finding(tag, ip, severity=8):
    """A GuardDuty finding (high at 8) whose only public indicator is ip."""
    f = copy.deepcopy(load_fixture("guardduty/ec2_ssh_bruteforce.json"))
    f["id"] = uuid.uuid4().hex
    f["title"] = f"{ip} is performing SSH brute force attacks [intel {tag}]"
    f["description"] = "brute force"
    f["severity"] = severity
    f["arn"] = "arn:aws:guardduty:eu-west-1:123456789012:detector/12c0ffee/finding/" + f["id"]
    f["resource"]["instanceDetails"]["networkInterfaces"] = [{"privateIpAddress": "10.20.30.40"}]
    f["resource"]["instanceDetails"]["tags"] = []
    f["service"]["action"]["networkConnectionAction"]["remoteIpDetails"] = {"ipAddressV4": ip}
    f["service"]["additionalInfo"] = {"sample": True}
    return f


def post_all(st, bodies):
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return list(ex.map(lambda b: st.post_until_accepted("guardduty", b), bodies))


def alerts_like(st, tag):
    return st.pg.query("SELECT alert_id::text, risk_score, risk_base, enriched_at FROM alerts WHERE title LIKE %s",
                       (f"%[intel {tag}]",))


def intel_rows(st, tag, state=None):
    q = ("SELECT ai.* FROM alert_intel ai JOIN alerts a USING (alert_id) WHERE a.title LIKE %s"
         + (" AND ai.state = %s" if state else ""))
    return st.pg.query(q, (f"%[intel {tag}]", state) if state else (f"%[intel {tag}]",))


def wait_settled(st, tag, n_alerts, timeout):
    def done():
        rows = alerts_like(st, tag)
        if len(rows) < n_alerts or any(r["enriched_at"] is None for r in rows):
            return None
        return not intel_rows(st, tag, "pending")
    wait_for(done, timeout, 0.3, f"the lookups of [intel {tag}] to settle")


def test_500_alerts_same_ip_one_request_per_provider(intel_stack, fake):
    st = intel_stack
    reset(fake, st)
    tag = uuid.uuid4().hex[:8]
    tail = st.tail("hutch.tickets.events")
    try:
        post_all(st, [finding(tag, BAD_IP) for _ in range(500)])
        wait_settled(st, tag, 500, scaled(180))
        c = calls(fake)
        assert {p: c[p] for p in ENABLED} == {p: 1 for p in ENABLED}, c
        assert sum(v for p, v in c.items() if p not in ENABLED) == 0, c
        rows = intel_rows(st, tag)
        # the shipped policy: a high alert's IP to VirusTotal, AbuseIPDB, OTX and RDAP
        assert len(rows) == 500 * 4 and {r["state"] for r in rows} == {"done"}
        alerts = alerts_like(st, tag)
        wrong = [a for a in alerts if a["risk_score"] != min(100, a["risk_base"] + 30)]
        assert not wrong, wrong[:3]
        ids = {a["alert_id"] for a in alerts}

        def intel_event(m):
            ev = ticket_pb2.TicketEvent.FromString(m.value())
            return ev if ev.kind == "intel" and ev.alert_id in ids else None
        ev = None
        for m in tail.read_all(scaled(10)):
            ev = intel_event(m) or ev
        assert ev is not None, "no TicketEvent intel for the alerts"
        assert ev.actor == "hutch-enrich"
        detail = json.loads(ev.detail_json)
        assert {v["provider"] for v in detail["intel"]} <= ENABLED
        assert any(v.get("verdict") == "malicious" for v in detail["intel"]), detail
    finally:
        tail.close()
    # hutchctl alert show: each indicator with its verdicts and links
    alert_id = next(iter(ids))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_")}
    env["HUTCH_DATABASE_URL"] = st.pg.url
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "alert", "show", alert_id], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "threat intel:" in r.stdout and "malicious" in r.stdout and "virustotal.com/gui/ip-address" in r.stdout
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "-o", "json", "alert", "show", alert_id], env=env,
                       capture_output=True, text=True, timeout=30)
    doc = json.loads(r.stdout)
    ind = [i for i in doc["indicators"] if i["value"] == BAD_IP]
    assert ind and {v["provider"] for v in ind[0]["intel"]} == ENABLED
    m = st.services["enrich"].metrics()
    assert m['hutch_intel_lookups_total{provider="virustotal",result="miss"}'] >= 1
    # hits: each alert whose lookup was settled from the cache (a resolve covers every alert waiting)
    assert m['hutch_intel_lookups_total{provider="virustotal",result="hit"}'] >= 1
    assert m["hutch_intel_cache_hit_percent"] >= 90
    assert 'hutch_intel_quota_minute_left{provider="virustotal"}' in m
    print(f"500 alerts, one IP: requests {calls(fake)}; enrich RSS "
          f"{m['process_resident_memory_bytes'] / 2**20:.1f} MiB")


def test_private_ip_asks_nobody(intel_stack, fake):
    st = intel_stack
    reset(fake, st)
    tag = uuid.uuid4().hex[:8]
    post_all(st, [finding(tag, "10.1.2.3")])
    wait_for(lambda: [a for a in alerts_like(st, tag) if a["enriched_at"]], scaled(60), 0.3, "the alert enriched")
    time.sleep(1)
    assert intel_rows(st, tag) == []
    assert sum(calls(fake).values()) == 0


def test_rate_limited_provider_never_holds_the_pipeline(intel_stack, fake):
    st = intel_stack
    reset(fake, st)
    drain_virustotal(st)  # 60/min from empty: one VirusTotal request a second
    tag = uuid.uuid4().hex[:8]
    ips = [f"45.155.206.{i}" for i in range(1, 21)]
    t0 = time.monotonic()
    post_all(st, [finding(tag, ip) for ip in ips])
    title_rows = wait_for(lambda: (lambda rows: rows if len(rows) == 20 and all(r["n"] for r in rows) else None)(
        st.pg.query("SELECT a.alert_id, (SELECT count(*) FROM notifications n WHERE n.alert_id = a.alert_id) AS n"
                    " FROM alerts a WHERE a.title LIKE %s", (f"%[intel {tag}]",))), scaled(60), 0.2,
        "notification rows of the 20 alerts")
    notified_after = time.monotonic() - t0
    pending_vt = [r for r in intel_rows(st, tag, "pending") if r["provider"] == "virustotal"]
    assert len(title_rows) == 20
    assert pending_vt, f"VirusTotal was not the bottleneck (notified after {notified_after:.1f}s)"
    wait_settled(st, tag, 20, scaled(120))
    filled_after = time.monotonic() - t0
    assert filled_after > notified_after
    assert calls(fake)["virustotal"] == 20
    vt = [r for r in intel_rows(st, tag) if r["provider"] == "virustotal"]
    assert len(vt) == 20 and all(r["state"] == "done" for r in vt)
    print(f"20 alerts: notified after {notified_after:.1f}s, VirusTotal verdicts all in after {filled_after:.1f}s")


def test_sigkill_loses_nothing(intel_stack, fake):
    st = intel_stack
    reset(fake, st)
    drain_virustotal(st)
    enrich = st.services["enrich"]
    tag = uuid.uuid4().hex[:8]
    ips = [f"45.155.207.{i}" for i in range(1, 11)]
    post_all(st, [finding(tag, ip) for ip in ips[:5]])
    wait_for(lambda: len(intel_rows(st, tag, "pending")) > 0, scaled(60), 0.2, "pending lookups")
    # more alerts on their way while enrich dies mid-way
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        more = ex.submit(post_all, st, [finding(tag, ip) for ip in ips[5:]])
        time.sleep(0.3)
        enrich.kill()
        more.result()
    assert intel_rows(st, tag, "pending"), "nothing was pending at the kill"
    enrich.start()
    enrich.wait_ready()
    wait_settled(st, tag, 10, scaled(120))
    rows = intel_rows(st, tag)
    assert len(rows) == 10 * 4 and {r["state"] for r in rows} == {"done"}
    assert calls(fake)["virustotal"] >= 10


def test_retry_and_cooldown_settle(intel_stack, fake):
    st = intel_stack
    reset(fake, st)
    requests.post(fake + "/_control/mode", json={"provider": "abuseipdb", "mode": "500"}, timeout=5)
    requests.post(fake + "/_control/mode", json={"provider": "otx", "mode": "429", "retry_after": "2"}, timeout=5)
    tag = uuid.uuid4().hex[:8]
    post_all(st, [finding(tag, "45.155.208.1")])
    wait_for(lambda: calls(fake)["abuseipdb"] >= 2 and calls(fake)["otx"] >= 1, scaled(30), 0.2,
             "a retried 5xx and a 429")
    assert [r for r in intel_rows(st, tag, "pending") if r["provider"] in ("abuseipdb", "otx")]
    requests.post(fake + "/_control/mode", json={"provider": "abuseipdb", "mode": "ok"}, timeout=5)
    requests.post(fake + "/_control/mode", json={"provider": "otx", "mode": "ok"}, timeout=5)
    wait_settled(st, tag, 1, scaled(60))
    assert {r["provider"]: r["state"] for r in intel_rows(st, tag)} == {p: "done" for p in ENABLED}
    q = st.pg.query("SELECT cooldown_until_ms FROM intel_quota WHERE provider = 'otx'")
    assert q and q[0]["cooldown_until_ms"] > 0


def test_key_in_no_log_and_no_row(intel_stack, fake):
    st = intel_stack
    log = open(st.services["enrich"].log, encoding="utf-8", errors="replace").read()
    assert "intel_update_published" in log
    assert KEY not in log
    tables = [r["table_name"] for r in st.pg.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
    for t in tables:
        n = st.pg.scalar(f'SELECT count(*) FROM "{t}" t WHERE t::text LIKE %s', (f"%{KEY}%",))
        assert n == 0, f"the key is in {t}"


def intel_section(body):
    """The text of the message's threat-intel section ("" when it has none)."""
    return "".join(b["text"]["text"] for b in body.get("blocks", [])
                   if b.get("type") == "section" and "*Threat intel*" in b.get("text", {}).get("text", ""))


def test_verdicts_edit_the_slack_message(intel_stack, fake, slack):
    """A verdict that comes after the ticket's Slack post (VirusTotal cooled down for a
    while) reaches the message by an edit (enrich's TicketEvent "intel" -> notify):
    the indicator, the verdict, the provider and its link."""
    st = intel_stack
    fake_slack, _ = slack
    reset(fake, st)
    now = int(time.time() * 1000)
    st.pg.query("INSERT INTO intel_quota VALUES ('virustotal', 60, %s, %s, 0, %s)", (now, now // 86400000,
                                                                                  now + int(scaled(10) * 1000)))
    tag = uuid.uuid4().hex[:8]
    f = finding(tag, BAD_IP)
    st.post_until_accepted("guardduty", f)
    ticket_id = wait_for(lambda: slack_ticket_of(st, f["title"]), scaled(60), 0.3, "the ticket")

    def posted():
        return [p for p in fake_slack.top_level_posts() if ticket_id in json.dumps(p)] or None
    [first] = wait_for(posted, scaled(60), 0.3, "the ticket's Slack post")
    assert "virustotal" not in intel_section(first)  # still cooling down when it was posted
    want = (f"`{BAD_IP}`: *malicious* \u00b7 virustotal \u00b7 "
            f"<https://www.virustotal.com/gui/ip-address/{BAD_IP}|details>")

    def edited():
        found = message_of(fake_slack, ticket_id)
        return found if found and want in intel_section(found[0][1]) else None
    [(_, body)] = wait_for(edited, scaled(60), 0.3, "the VirusTotal verdict in the edited message")
    with fake_slack.lock:
        assert any(ticket_id in json.dumps(u) and want in intel_section(u) for u in fake_slack.updates)
    assert len(posted()) == 1  # one post, then edits
    assert [r["state"] for r in intel_rows(st, tag) if r["provider"] == "virustotal"] == ["done"]
    assert check_limits(body) is None
