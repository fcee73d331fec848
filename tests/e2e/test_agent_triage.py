"""Warren's triage and enrich policies in hutch-agent, on the whole stack:

- a triage policy's `publish: alert | notice | discard`, `channel`, `page` and `title` as the
  NotifyRequests on hutch.notify.requests show them; notice and discard leave no open
  ticket (archived by hutch-agent), discard posts nothing and is recorded with the policy
  that decided; a policy error dead-letters the alert with file:line;
- an enrich prompt answered by the fake model (tests/e2e/fake_llm.py) reaches the
  triage's input.enrich; with HUTCH_LLM_PROVIDER=none the prompt is skipped with the
  reason recorded and the alert is triaged at once;
- seed 004's decision engine, the shipped policies/triage, on login alerts: the score
  table's cases (a threat-intel verdict on the IP counts), and the same IP again joining
  the open case.

The triage tests restart the session stack's agent with a policy directory of their own
(and back afterwards); the seed-004 tests use the stack as it is (HUTCH_POLICY_DIR is the
project's policies/, which ships the triage package) with enrich given one provider whose
verdict is already in the cache."""
import hashlib
import json
import os
import subprocess
import time
import uuid

import pytest

import hutch_e2e
from fake_llm import FakeLLM, called, last_results
from hutch_e2e import guardduty_finding, scaled, wait_for

KEY = "sk-triage-test-key"

TRIAGE_POLICY = """package triage
import rego.v1

marked(m) if contains(input.alert.title, m)

publish := "notice" if marked("NOTICE")
publish := "notice" if input.alert.data.e2e_publish == "notice"
publish := "discard" if marked("DISCARD")
channel := "#triage-e2e" if marked("CHANNEL")
page := true if marked("PAGE")
title := sprintf("Triaged: %s", [input.alert.metadata.title]) if marked("RENAME")
attr := [{"key": "triaged_by", "value": "e2e policy"}] if marked("RENAME")
# a policy error: a title that is not a string
title := 42 if marked("BOOM")

# enrich results (from the fake model) decide
verdict := r.verdict if {
	some e in input.enrich
	e.id == "ioc"
	r := e.result
}
title := sprintf("Enriched: %s", [verdict]) if marked("ENRICH")
publish := "notice" if verdict == "benign"
"""

ENRICH_POLICY = """package enrich
import rego.v1

prompts contains {"id": "ioc", "template": "ioc.md", "params": {"focus": "source IP"}, "format": "json"} if {
	contains(input.title, "ENRICH")
}
"""

IOC_TEMPLATE = "Is the {{ .params.focus }} of \"{{ .alert.title }}\" malicious? Answer JSON {verdict}.\n"


def notify_pb2():
    from hutch.v1 import ticket_pb2  # noqa: E402  (build/py)
    return ticket_pb2


def requests_of(tail, ticket_ids, seconds):
    """The NotifyRequests of the tickets read from tail within `seconds`, by ticket id."""
    out = {}
    for m in tail.read_all(seconds):
        r = notify_pb2().NotifyRequest.FromString(m.value())
        if r.ticket_id in ticket_ids:
            out.setdefault(r.ticket_id, []).append(r)
    return out


def wait_request(tail, ticket_id, timeout):
    holder = {}

    def pred(m):
        r = notify_pb2().NotifyRequest.FromString(m.value())
        if r.ticket_id == str(ticket_id):
            holder["r"] = r
            return True
        return False
    assert tail.read_until(pred, timeout) is not None, f"no NotifyRequest for ticket {ticket_id}"
    return holder["r"]


def ticket_of(st, title):
    def bound():
        rows = st.pg.query("SELECT ticket_id FROM alerts WHERE title = %s AND ticket_id IS NOT NULL", (title,))
        return rows[0]["ticket_id"] if rows else None
    return wait_for(bound, scaled(60), what=f"a ticket for {title!r}")


def decision(st, title):
    def rec():
        rows = st.pg.query("SELECT d.* FROM triage_decisions d JOIN alerts a USING (alert_id) WHERE a.title = %s",
                           (title,))
        return rows[0] if rows else None
    return wait_for(rec, scaled(60), what=f"the triage decision of {title!r}")


def ticket(st, tid):
    return st.pg.query("SELECT * FROM tickets WHERE ticket_id = %s", (tid,))[0]


def hutchctl(st, *args):
    return subprocess.run([os.path.join(hutch_e2e.BIN_DIR, "hutchctl"), *args], env=dict(st.env),
                          capture_output=True, text=True, timeout=scaled(60))


def post(st, schema, body):
    r = st.post_alert(schema, body)
    assert r.status_code == 202, r.text


@pytest.fixture
def policy_dir(tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    (d / "triage.rego").write_text(TRIAGE_POLICY)
    (d / "enrich.rego").write_text(ENRICH_POLICY)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "ioc.md").write_text(IOC_TEMPLATE)
    return d, prompts


def restart_agent(st, env):
    agent = st.services["agent"]
    saved = dict(agent.env)
    agent.env.update(env)
    agent.restart()
    return saved


@pytest.fixture
def triage_agent(healthy, policy_dir):
    """The agent with the tests' triage and enrich policies, no model."""
    st = healthy
    d, prompts = policy_dir
    saved = restart_agent(st, {"HUTCH_POLICY_DIR": str(d), "HUTCH_PROMPT_DIR": str(prompts)})
    yield st
    st.services["agent"].env = saved
    st.services["agent"].restart()


@pytest.fixture
def triage_agent_llm(healthy, policy_dir):
    """The same with tests/e2e/fake_llm.py as the model."""
    st = healthy
    d, prompts = policy_dir
    fake = FakeLLM(KEY)
    saved = restart_agent(st, fake.env("openai", HUTCH_POLICY_DIR=str(d), HUTCH_PROMPT_DIR=str(prompts),
                                       HUTCH_AGENT_POLL="100ms", HUTCH_LLM_TIMEOUT="5s",
                                       HUTCH_TRIAGE_ENRICH_WAIT="30s", HUTCH_AGENT_RUN_TIMEOUT="10s"))
    yield st, fake
    st.services["agent"].env = saved
    st.services["agent"].restart()
    fake.close()


def marked_finding(tag, marks):
    f = guardduty_finding(tag)
    f["title"] = f"{f['title']} {marks}"
    return f


def test_publish_alert_notice_discard(triage_agent):
    st = triage_agent
    tail = st.tail(hutch_e2e._TOPICS["TOPIC_NOTIFY_REQUESTS"])
    tag = uuid.uuid4().hex[:10]
    alert_f = marked_finding(tag + "a", "CHANNEL PAGE RENAME")
    notice_f = marked_finding(tag + "n", "NOTICE")
    discard_f = marked_finding(tag + "d", "DISCARD")
    for f in (alert_f, notice_f, discard_f):
        post(st, "guardduty", f)
    t_alert, t_notice, t_discard = (str(ticket_of(st, f["title"])) for f in (alert_f, notice_f, discard_f))
    assert len({t_alert, t_notice, t_discard}) == 3
    for f in (alert_f, notice_f, discard_f):
        decision(st, f["title"])
    got = requests_of(tail, {t_alert, t_notice, t_discard}, scaled(6))
    tail.close()
    # publish alert: the policy's channel, page and title
    [r] = got[t_alert]
    assert (r.publish, r.channel, r.page) == ("alert", "#triage-e2e", True)
    assert r.title == f"Triaged: {alert_f['title']}"
    wait_for(lambda: ticket(st, t_alert)["title"] == r.title, scaled(30), what="the ticket renamed")
    assert ticket(st, t_alert)["status"] == "open"
    attrs = st.pg.scalar("SELECT attributes FROM alerts WHERE title = %s", (alert_f["title"],))
    assert {"key": "triaged_by", "value": "e2e policy", "link": "", "auto": True} in attrs
    # notice: one quiet message, and no open ticket left
    [r] = got[t_notice]
    assert (r.publish, r.page) == ("notice", False)
    wait_for(lambda: ticket(st, t_notice)["status"] == "archived", scaled(30), what="the notice's ticket archived")
    # discard: nothing posted, recorded with the policy that decided, no open ticket
    assert t_discard not in got
    d = decision(st, discard_f["title"])
    assert d["publish"] == "discard" and "triage.rego" in d["policy"] and d["output"] == {"publish": "discard"}
    wait_for(lambda: ticket(st, t_discard)["status"] == "archived", scaled(30), what="the discard's ticket archived")
    assert st.pg.scalar("SELECT count(*) FROM notifications WHERE ticket_id = %s", (t_discard,)) == 0
    h = st.pg.query("SELECT actor FROM ticket_history WHERE ticket_id = %s AND kind = 'archived'", (t_discard,))
    assert [x["actor"] for x in h] == ["hutch-agent"]
    assert decision(st, discard_f["title"])["ticket_action"] == "archived"
    # what an analyst sees: the open list has the alert's ticket, not the notice's or the discard's
    p = hutchctl(st, "-o", "json", "ticket", "list", "--status", "open", "--limit", "1000")
    assert p.returncode == 0, p.stderr
    open_ids = {t["ticket_id"] for t in json.loads(p.stdout)}
    assert t_alert in open_ids and t_notice not in open_ids and t_discard not in open_ids


def test_notice_bound_into_a_shared_ticket_is_declined(triage_agent):
    st = triage_agent
    tag = uuid.uuid4().hex[:10]
    first = guardduty_finding(tag)
    post(st, "guardduty", first)
    tid = str(ticket_of(st, first["title"]))
    decision(st, first["title"])
    second = guardduty_finding(tag)  # the same actor and shape: it joins the open ticket
    second["e2e_publish"] = "notice"
    post(st, "guardduty", second)

    def second_decided():
        rows = st.pg.query("SELECT * FROM triage_decisions WHERE ticket_id = %s AND publish = 'notice'", (tid,))
        return rows[0] if rows and rows[0]["ticket_action"] else None
    d = wait_for(second_decided, scaled(60), what="the notice decided and applied")
    assert d["ticket_action"] == "declined"
    t = ticket(st, tid)
    assert t["status"] == "open" and t["alert_count"] == 1  # the ticket stays for the first alert
    declined = st.pg.query("SELECT declined_at, ticket_id FROM alerts WHERE alert_id = %s", (d["alert_id"],))[0]
    assert declined["declined_at"] is not None and declined["ticket_id"] is None
    h = st.pg.query("SELECT actor FROM ticket_history WHERE ticket_id = %s AND kind = 'declined'", (tid,))
    assert [x["actor"] for x in h] == ["hutch-agent"]


def test_policy_error_dead_letters_the_alert(triage_agent):
    st = triage_agent
    dlq = st.tail(hutch_e2e._TOPICS["TOPIC_DLQ"])
    f = marked_finding(uuid.uuid4().hex[:10], "BOOM")
    post(st, "guardduty", f)
    holder = {}

    def pred(m):
        d = hutch_e2e.decode_dead_letter(m.value())
        if d["consumer"] == "hutch-agent" and f["title"].encode() in d["payload"]:
            holder["d"] = d
            return True
        return False
    assert dlq.read_until(pred, scaled(60)) is not None
    dlq.close()
    assert "triage.rego:" in holder["d"]["reason"] and "triage.title must be a string" in holder["d"]["reason"]
    assert holder["d"]["source_topic"] == hutch_e2e._TOPICS["TOPIC_ALERTS_CLUSTERED"]
    tid = ticket_of(st, f["title"])
    assert st.pg.scalar("SELECT count(*) FROM notifications WHERE ticket_id = %s", (tid,)) == 0


def test_enrich_prompt_answer_reaches_triage(triage_agent_llm):
    st, fake = triage_agent_llm
    tag = uuid.uuid4().hex[:10]
    f = marked_finding(tag, "ENRICH")

    def model(view):
        first = view["messages"][0]["text"] if view["messages"] else ""
        if "<alert-data>" in first and "malicious? Answer JSON" in first:
            return {"json": {"verdict": "benign", "reason": "a known scanner"}}
        return {"json": {"title": "analysis", "summary": "s", "finding": {
            "severity": "low", "summary": "s", "reason": "r", "recommendation": "none"}}}
    fake.responder = model
    tail = st.tail(hutch_e2e._TOPICS["TOPIC_NOTIFY_REQUESTS"])
    post(st, "guardduty", f)
    tid = str(ticket_of(st, f["title"]))
    r = wait_request(tail, tid, scaled(60))
    tail.close()
    # the triage ran with the model's answer in input.enrich
    assert r.title == "Enriched: benign" and r.publish == "notice"
    d = decision(st, f["title"])
    assert [e["id"] for e in d["enrich"]] == ["ioc"]
    assert d["enrich"][0]["result"] == {"verdict": "benign", "reason": "a known scanner"}
    assert f"Is the source IP of \"{f['title']}\" malicious?" in d["enrich"][0]["prompt"]
    assert d["enrich_skipped"] == []
    s = st.pg.query("SELECT * FROM agent_sessions WHERE ticket_id = %s AND kind = 'enrich'", (tid,))
    assert len(s) == 1 and s[0]["status"] == "answered" and s[0]["model_calls"] == 1
    q = st.pg.query("SELECT state, results FROM triage_enrich WHERE ticket_id = %s", (tid,))
    assert q[0]["state"] == "done"


def test_enrich_prompt_calls_an_mcp_servers_tool(triage_agent_llm, tmp_path):
    st, fake = triage_agent_llm
    calls = tmp_path / "mcp-calls.jsonl"
    calls.write_text("")
    fake_mcp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_mcp.py")
    agent = st.services["agent"]
    agent.env.update({"HUTCH_MCP_SERVERS": f"assets=/usr/bin/python3 {fake_mcp} --stdio {calls}",
                      "HUTCH_MCP_READ_ONLY": "assets_lookup_asset"})
    agent.restart()
    f = marked_finding(uuid.uuid4().hex[:10], "ENRICH")

    def model(view):
        first = view["messages"][0]["text"] if view["messages"] else ""
        if "<alert-data>" not in first:
            return {"json": {"title": "analysis", "summary": "s", "finding": {
                "severity": "low", "summary": "s", "reason": "r", "recommendation": "none"}}}
        if not called(view, "assets_lookup_asset"):
            assert "assets_lookup_asset" in view["tools"] and "hutch_update_finding" not in view["tools"]
            return {"calls": [["assets_lookup_asset", {"ip": "10.20.30.40"}],
                              ["assets_isolate_host", {"host": "build-07"}]]}
        looked_up = [r for r in last_results(view) if "build-07" in r]
        return {"json": {"verdict": "owned by " + ("build-07" if looked_up else "?")}}
    fake.responder = model
    post(st, "guardduty", f)
    d = decision(st, f["title"])
    assert d["enrich"][0]["result"] == {"verdict": "owned by build-07"}
    ran = [json.loads(line)["name"] for line in calls.read_text().splitlines()]
    assert ran == ["lookup_asset"]  # isolate_host is risky: not run without a person's grant
    tid = str(ticket_of(st, f["title"]))
    ap = st.pg.query("SELECT tool, status FROM agent_approvals WHERE ticket_id = %s", (tid,))
    assert ap == [{"tool": "assets_isolate_host", "status": "pending"}]


def test_slow_enrich_prompt_ends_at_the_deadline(triage_agent_llm):
    st, fake = triage_agent_llm
    agent = st.services["agent"]
    agent.env["HUTCH_TRIAGE_ENRICH_WAIT"] = "2s"
    agent.restart()
    tag = uuid.uuid4().hex[:10]
    f = marked_finding(tag, "ENRICH")

    def model(view):  # slow, and never done: it keeps calling a tool
        first = view["messages"][0]["text"] if view["messages"] else ""
        if "<alert-data>" in first:
            return {"delay": 2.5, "calls": [["hutch_get_ticket", {}]]}
        return {"json": {"title": "analysis", "summary": "s", "finding": {
            "severity": "low", "summary": "s", "reason": "r", "recommendation": "none"}}}
    fake.responder = model
    tail = st.tail(hutch_e2e._TOPICS["TOPIC_NOTIFY_REQUESTS"])
    t0 = time.monotonic()
    post(st, "guardduty", f)
    tid = str(ticket_of(st, f["title"]))
    r = wait_request(tail, tid, scaled(60))
    took = time.monotonic() - t0
    tail.close()
    assert r.publish == "alert" and r.title == f["title"]  # no result: the triage went on without it
    d = decision(st, f["title"])
    assert d["enrich"] == [] and len(d["enrich_skipped"]) == 1
    assert d["enrich_skipped"][0]["id"] == "ioc" and d["enrich_skipped"][0]["reason"].startswith("wall_time")
    assert took < scaled(15), took
    print(f"\nslow prompt: NotifyRequest {took:.2f} s after the post (wait 2 s, one model call 2.5 s)")


def test_enrich_without_a_model_is_skipped_with_the_reason(triage_agent):
    st = triage_agent
    tail = st.tail(hutch_e2e._TOPICS["TOPIC_NOTIFY_REQUESTS"])
    f = marked_finding(uuid.uuid4().hex[:10], "ENRICH")
    t0 = time.monotonic()
    post(st, "guardduty", f)
    tid = str(ticket_of(st, f["title"]))
    r = wait_request(tail, tid, scaled(60))
    tail.close()
    took = time.monotonic() - t0
    assert r.publish == "alert"  # no result, so no "benign" notice
    d = decision(st, f["title"])
    assert d["enrich"] == []
    assert d["enrich_skipped"] == [{"id": "ioc", "reason": "no model configured (HUTCH_LLM_PROVIDER=none)"}]
    assert st.pg.scalar("SELECT count(*) FROM triage_enrich WHERE ticket_id = %s", (tid,)) == 0
    print(f"\nno model: NotifyRequest {took:.2f} s after the post")


# --- seed 004: the shipped policies/triage -------------------------------------------

def public_ip(tag):
    h = hashlib.sha256(tag.encode()).digest()
    return f"45.{h[0]}.{h[1]}.{1 + h[2] % 254}"


@pytest.fixture(scope="module")
def seed004_enrich(stack):
    """The stack with enrich asking AbuseIPDB (the URL of nothing: the tests put the
    verdicts in the cache first, so it is never called); restored after the module."""
    enrich = stack.services["enrich"]
    saved = dict(enrich.env)
    enrich.env.update({"HUTCH_INTEL_ABUSEIPDB_KEY": "k", "HUTCH_INTEL_ABUSEIPDB_URL": "http://127.0.0.1:9/none",
                       "HUTCH_INTEL_TIMEOUT": "1s"})
    enrich.restart()
    yield stack
    enrich.env = saved
    enrich.restart()


@pytest.fixture
def seed004(seed004_enrich, healthy):
    return healthy


def cache_verdict(st, ip, verdict):
    st.pg.query("INSERT INTO intel_cache (provider, kind, value, verdict, score, summary, fetched_at, expires_at)"
                " VALUES ('abuseipdb', 'ip', %s, %s, 90, 'reported', now(), now() + interval '1 day')"
                " ON CONFLICT (provider, kind, value) DO UPDATE SET verdict = excluded.verdict,"
                " expires_at = excluded.expires_at, fetched_at = now() RETURNING 1", (ip, verdict))


def login_event(ip, user, country, **extra):
    e = {"event_type": "login_failure", "failure_count": 12, "time_window_minutes": 3, "source_ip": ip,
         "username": user, "target_system": "vpn-gw", "time_of_day": "13:20", "source_country": country}
    e.update(extra)
    return e


@pytest.mark.parametrize("case,country,verdict,extra,score,publish,page", [
    ("abroad_bad_ip", "RU", "malicious", {}, 70, "alert", True),
    ("abroad", "RU", None, {}, 40, "alert", False),
    ("abroad_new_user_night", "RU", None, {"new_user": True, "time_of_day": "03:05"}, 80, "alert", True),
    ("home_no_mfa_new_user", "TH", None, {"mfa": False, "new_user": True}, 45, "alert", False),
    ("home_new_user", "TH", None, {"new_user": True}, 25, "discard", False),
])
def test_seed004_score_table(seed004, case, country, verdict, extra, score, publish, page):
    st = seed004
    tag = f"{case}-{uuid.uuid4().hex[:8]}"
    ip, user = public_ip(tag), f"u{uuid.uuid4().hex[:8]}"
    if verdict:
        cache_verdict(st, ip, verdict)
    tail = st.tail(hutch_e2e._TOPICS["TOPIC_NOTIFY_REQUESTS"])
    post(st, "login", login_event(ip, user, country, **extra))
    title = f"Multiple login failures from {ip}"
    tid = str(ticket_of(st, title))
    d = decision(st, title)
    assert d["publish"] == publish and d["page"] is page
    assert {"key": "risk_score", "value": score} in d["output"]["attr"]
    assert "policies/triage/triage.rego" in d["policy"]
    if publish == "discard":
        assert requests_of(tail, {tid}, scaled(4)) == {}
        wait_for(lambda: ticket(st, tid)["status"] == "archived", scaled(30), what="the ticket archived")
    else:
        r = wait_request(tail, tid, scaled(30))
        assert (r.publish, r.page) == ("alert", page)
        assert r.severity == ("critical" if page else "high")
        assert ticket(st, tid)["status"] == "open"
    tail.close()
    if verdict:  # the verdict was on the alert: enrich put it there from the cache, asking nobody
        row = st.pg.query("SELECT ai.state FROM alert_intel ai JOIN alerts a USING (alert_id)"
                          " WHERE a.title = %s AND ai.provider = 'abuseipdb'", (title,))
        assert row and row[0]["state"] == "done"


def test_seed004_same_ip_appends_to_the_open_case(seed004):
    st = seed004
    tag = f"append-{uuid.uuid4().hex[:8]}"
    ip, user = public_ip(tag), f"u{uuid.uuid4().hex[:8]}"
    title = f"Multiple login failures from {ip}"
    tail = st.tail(hutch_e2e._TOPICS["TOPIC_NOTIFY_REQUESTS"])
    post(st, "login", login_event(ip, user, "RU"))
    tid = str(ticket_of(st, title))
    first = wait_request(tail, tid, scaled(30))
    assert first.kind == "new_ticket"
    post(st, "login", login_event(ip, user, "RU", failure_count=40))
    second = wait_request(tail, tid, scaled(30))
    tail.close()
    assert second.kind == "alert_bound" and second.ticket_id == tid and second.alert_id != first.alert_id
    assert ticket(st, tid)["alert_count"] == 2 and ticket(st, tid)["status"] == "open"
    assert st.pg.scalar("SELECT count(*) FROM triage_decisions WHERE ticket_id = %s AND publish = 'alert'",
                        (tid,)) == 2
