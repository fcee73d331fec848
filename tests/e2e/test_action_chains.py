"""Seed 001's action chain through the running stack: a GuardDuty Trojan finding goes
ingest -> policy -> enrich -> cluster -> agent, whose chain (the shipped
policies/action/guardduty_llm_slack.rego) asks the fake LLM, commits its answer and
posts to the fake Slack webhook with that comment; every action is recorded in
action_runs with its secrets masked. Then the agent is SIGKILLed while the Slack post
is in flight (after the LLM action completed): restarted, it replays the LLM's
recorded answer without asking again and records the Slack post as interrupted
instead of posting twice."""
import copy
import subprocess
import json
import os
import shutil
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_actions as fa  # noqa: E402
from hutch_e2e import BIN_DIR, ROOT, scaled, wait_for  # noqa: E402

EVENT = os.path.join(ROOT, "policies/action/playbooks/guardduty_trojan.json")


@pytest.fixture(scope="module")
def fake():
    f = fa.FakeActions(llm_answer="Isolate the instance: it talks to a drop point.")
    yield f
    f.close()


# Recon findings of one instance (one namespace) count themselves through a persisted
# attribute: only chains that run one after another, each seeing the last one's commit,
# number them 1..N without a gap or a repeat.
COUNT_POLICY = """package action
import rego.v1
seen := v if {
	some a in input.alert.attrs
	a.key == "seen"
	v := a.value
} else := 0
run contains {"id": "count", "uses": "http.fetch",
	"args": {"method": "POST", "url": "FAKE/fetch/count", "data": sprintf("%d %s", [seen + 1, input.alert.namespace])},
	"commit": [{"id": "seen", "key": "seen", "value": seen + 1, "persist": true, "ttl": 3600}]} if {
	startswith(input.alert.title, "Recon:")
}
"""


@pytest.fixture(scope="module")
def chain_agent(stack, fake, tmp_path_factory):
    """The stack's agent restarted with the shipped seed-001 chain and the fakes; put back
    after the module (once: every restart is a chance for librdkafka 2.0.2's sticky
    assignor assertion on close)."""
    d = tmp_path_factory.mktemp("action")
    shutil.copy(os.path.join(ROOT, "policies/action/guardduty_llm_slack.rego"), d)
    (d / "count.rego").write_text(COUNT_POLICY.replace("FAKE", fake.base))
    agent = stack.services["agent"]
    saved = dict(agent.env)
    agent.stop()
    agent.env.update({
        "HUTCH_ACTION_POLICY_DIR": str(d),
        "HUTCH_ACTION_ENV_ALLOW": "CHATGPT_API_KEY,SLACK_INCOMING_WEBHOOK",
        "CHATGPT_API_KEY": fa.OPENAI_KEY,
        "SLACK_INCOMING_WEBHOOK": fake.base + fa.SLACK_PATH,
        "HUTCH_ACTION_CHATGPT_URL": fake.base + "/openai",
        "HUTCH_ACTION_TIMEOUT_MS": "20000",
    })
    agent.start()
    agent.wait_ready()
    yield agent
    agent.stop()
    agent.env = saved
    agent.start()
    agent.wait_ready()


def trojan_event():
    ev = json.load(open(EVENT))
    ev = copy.deepcopy(ev)
    f = ev["Findings"][0]
    f["Id"] = uuid.uuid4().hex
    f["Resource"]["InstanceDetails"]["InstanceId"] = "i-" + uuid.uuid4().hex[:17]
    return ev, f["Resource"]["InstanceDetails"]["InstanceId"]


def runs_of(stack, event_id):
    return stack.pg.query(
        "SELECT r.action_id, r.action, r.status, r.args::text AS args, r.result::text AS result, r.error, r.seq,"
        " r.duration_ms FROM action_runs r JOIN alerts a ON a.alert_id = r.alert_id"
        " WHERE a.event_id = %s ORDER BY r.seq, r.action_id", (event_id,))


def slack_posts_for(fake, instance):
    return [r for r in fake.of("/slack/") if instance in json.dumps(r["body"])]


def llm_asks_for(fake, instance):
    return [r for r in fake.of("/openai/") if instance in json.dumps(r["body"])]


def test_seed_001_chain_llm_then_slack(healthy, chain_agent, fake):
    ev, instance = trojan_event()
    event_id = healthy.post_until_accepted("aws_guardduty", ev)
    rows = wait_for(lambda: (lambda r: r if len(r) == 2 and all(x["status"] == "done" for x in r) else None)(
        runs_of(healthy, event_id)), scaled(90), 0.3, "both actions recorded done")
    assert [(r["action_id"], r["action"], r["seq"]) for r in rows] == [
        ("ask-chatgpt", "chatgpt.query", 0), ("notify-slack", "slack.post", 1)]
    for r in rows:
        assert json.loads(r["args"]).get("secret_api_key", "[REDACTED]") == "[REDACTED]"
        assert fa.OPENAI_KEY not in r["args"] and "XXXXSECRET" not in r["args"]
        assert r["duration_ms"] is not None
    assert json.loads(rows[0]["result"])["choices"][0]["message"]["content"] == fake.llm_answer
    posts = slack_posts_for(fake, instance)
    assert len(posts) == 1 and len(llm_asks_for(fake, instance)) == 1
    body = json.dumps(posts[0]["body"])
    assert fake.llm_answer in body and "ChatGPT's comment" in body
    assert posts[0]["body"]["text"] == "Trojan:EC2/DropPoint!DNS"
    # the notification still goes out after the chain
    wait_for(lambda: healthy.pg.query("SELECT 1 FROM notifications n JOIN alerts a ON a.alert_id = n.alert_id"
                                      " WHERE a.event_id = %s", (event_id,)), scaled(60), 0.3, "notification")
    assert not fake.errors
    log = open(chain_agent.log).read()
    assert fa.OPENAI_KEY not in log and "XXXXSECRET" not in log


def test_sigkill_between_actions_runs_nothing_twice(healthy, chain_agent, fake):
    fake.slow_slack = 4.0
    try:
        ev, instance = trojan_event()
        event_id = healthy.post_until_accepted("aws_guardduty", ev)
        # the LLM answered and the Slack post is in flight: kill the agent now
        wait_for(lambda: slack_posts_for(fake, instance), scaled(90), 0.05, "the Slack post to start")
        chain_agent.kill()
    finally:
        fake.slow_slack = 0.0
    chain_agent.start()
    chain_agent.wait_ready()
    rows = wait_for(lambda: (lambda r: r if len(r) == 2 and r[1]["status"] != "started" else None)(
        runs_of(healthy, event_id)), scaled(90), 0.3, "the chain to be replayed")
    assert rows[0]["action_id"] == "ask-chatgpt" and rows[0]["status"] == "done"
    assert rows[1]["action_id"] == "notify-slack" and rows[1]["status"] == "interrupted"
    assert "not repeated" in rows[1]["error"]
    time.sleep(scaled(2))  # anything that would run twice has had its chance
    assert len(llm_asks_for(fake, instance)) == 1, "the LLM was asked again"
    assert len(slack_posts_for(fake, instance)) == 1, "Slack got the post twice"
    assert not fake.errors


TICKET_POLICY = """package action
import rego.v1
run contains {"id": "raise", "uses": "hutch.ticket",
  "args": {"op": "severity", "severity": "critical", "ticket_id": input.alert.data.ticket}} if input.seq == 0
run contains {"id": "assign", "uses": "hutch.ticket",
  "args": {"op": "assign", "assignee": "secops", "ticket_id": input.alert.data.ticket}} if input.called[_].id == "raise"
"""


def test_hutch_ticket_action_through_the_ticket_module(healthy, tmp_path):
    ev, _ = trojan_event()
    event_id = healthy.post_until_accepted("aws_guardduty", ev)
    row = wait_for(lambda: (healthy.pg.query("SELECT ticket_id::text AS t FROM alerts WHERE event_id = %s"
                                             " AND ticket_id IS NOT NULL", (event_id,)) or [None])[0],
                   scaled(90), 0.3, "the alert's ticket")
    ticket = row["t"]
    d = tmp_path / "p"
    d.mkdir()
    (d / "alert.rego").write_text('package alert.t\nimport rego.v1\nalert contains {"title": "t"} if true\n')
    (d / "action.rego").write_text(TICKET_POLICY)
    (tmp_path / "e.json").write_text(json.dumps({"ticket": ticket}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_")}
    env["HUTCH_DATABASE_URL"] = healthy.pg.url


    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "-o", "json", "action", "run", "--policy", str(d),
                        "--schema", "t", "--input", str(tmp_path / "e.json")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    acts = [a for rd in json.loads(r.stdout)["chains"][0]["rounds"] for a in rd["actions"]]
    assert [a["result"]["op"] for a in acts] == ["severity", "assign"]
    t = healthy.pg.query("SELECT severity, assignee FROM tickets WHERE ticket_id = %s", (ticket,))[0]
    assert t["severity"] == "critical" and t["assignee"] == "secops"
    # the two changes of the chain (the agent's template summary is an "edited" row of its own)
    hist = healthy.pg.query("SELECT kind FROM ticket_history WHERE ticket_id = %s AND actor = 'hutch-agent'"
                            " AND kind <> 'edited' ORDER BY seq", (ticket,))
    assert [h["kind"] for h in hist] == ["severity", "assigned"]


OTX_POLICY = """package action
import rego.v1
run contains {"id": "otx", "uses": "otx.indicator", "args": {"secret_api_key": input.env.OTX_KEY,
  "type": "ipv4", "indicator": input.alert.data.ip, "section": "general"},
  "commit": [{"key": "otx_pulses", "path": "pulse_info.count"}]} if input.seq == 0
"""


def test_otx_indicator_goes_through_the_intel_cache(healthy, fake, tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "alert.rego").write_text('package alert.t\nimport rego.v1\nalert contains {"title": "t"} if true\n')
    (d / "action.rego").write_text(OTX_POLICY)
    ip = f"45.155.{uuid.uuid4().int % 200 + 1}.{uuid.uuid4().int % 200 + 1}"
    (tmp_path / "e.json").write_text(json.dumps({"ip": ip}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_")}
    env.update({"HUTCH_DATABASE_URL": healthy.pg.url, "HUTCH_ACTION_OTX_URL": fake.base + "/otx"})

    def run():
        r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "-o", "json", "action", "run", "--policy", str(d),
                            "--schema", "t", "--input", str(tmp_path / "e.json"), "--env", f"OTX_KEY={fa.OTX_KEY}"],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert fa.OTX_KEY not in r.stdout
        return json.loads(r.stdout)["chains"][0]

    asked = lambda: [q for q in fake.of("/otx/") if ip in q["path"]]  # noqa: E731
    first = run()
    assert len(asked()) == 1 and first["attrs"][-1]["value"] == 3
    second = run()
    assert len(asked()) == 1, "the cached answer was not used"
    assert second["rounds"][0]["actions"][0]["result"] == first["rounds"][0]["actions"][0]["result"]
    row = healthy.pg.query("SELECT verdict, body::text AS body FROM intel_cache WHERE provider = 'otx' AND value = %s",
                           (ip,))
    assert len(row) == 1 and json.loads(row[0]["body"])["pulse_info"]["count"] == 3


def test_one_namespace_runs_its_chains_one_after_another(healthy, chain_agent, fake):
    n = int(os.environ.get("HUTCH_E2E_NAMESPACE_ALERTS", "30"))
    ev, instance = trojan_event()
    f = ev["Findings"][0]
    f["Type"] = "Recon:EC2/PortProbeUnprotectedPort"
    for i in range(n):
        f["Id"] = uuid.uuid4().hex
        healthy.post_until_accepted("aws_guardduty", ev)
    ns = f"aws_guardduty/instance/{instance}"

    def counted():
        return [int(r["raw"].split()[0]) for r in fake.of("/fetch/count") if r["raw"].decode().endswith(ns)]
    try:
        wait_for(lambda: len(counted()) >= n, scaled(60 + n // 5), 0.5, f"{n} chains of one namespace")
    except TimeoutError:
        act = healthy.pg.query("SELECT state, wait_event_type, wait_event, left(query, 120) AS q FROM pg_stat_activity"
                               " WHERE datname = current_database()")
        alerts = healthy.pg.query("SELECT alert_id::text, triaged_at IS NOT NULL AS triaged FROM alerts"
                                  " WHERE namespace = %s", (ns,))
        runs = healthy.pg.query("SELECT r.status, r.error, count(*) AS c FROM action_runs r JOIN alerts a"
                                " ON a.alert_id = r.alert_id WHERE a.namespace = %s GROUP BY 1, 2", (ns,))
        raise AssertionError(f"{len(counted())} of {n} counted; {len(alerts)} alerts, "
                             f"{sum(1 for a in alerts if a['triaged'])} triaged; runs {runs}; sessions: {act}") from None
    got = counted()
    assert got == list(range(1, n + 1)), f"not one after another: {got[:20]}..."
    rows = healthy.pg.query("SELECT value FROM namespace_attributes WHERE namespace = %s AND key = 'seen'", (ns,))
    assert rows and json.loads(rows[0]["value"]["value_json"]) == n  # stored as hutch-policy stores typed values
    done = healthy.pg.query("SELECT count(*) AS c FROM action_runs r JOIN alerts a ON a.alert_id = r.alert_id"
                            " WHERE a.namespace = %s AND r.status = 'done'", (ns,))
    assert done[0]["c"] == n
