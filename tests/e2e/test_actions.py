"""Every action of the chain against its fake service (fake_actions.py), through
`hutchctl action run` (the agent's loop and actions, no pipeline): the request is
checked by the fake as the real API wants it, the documented answer comes back as the
action's result, and no secret is printed. Then `hutchctl action play` (no side
effects) and `action test` on the shipped playbooks, and a mismatch fails."""
import json
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_actions as fa  # noqa: E402
from fake_llm import FakeLLM  # noqa: E402
from hutch_e2e import BIN_DIR, ROOT  # noqa: E402

ALERT_POLICY = """package alert.test
import rego.v1
alert contains {"title": input.title, "description": "d", "source": "test", "namespace": "ns-1",
  "attrs": [{"key": "host", "value": "web-1"}]} if true
"""

# One action per event: uses and args come from the event, secrets from the env by name.
ACTION_POLICY = """package action
import rego.v1
secrets := {k: input.env[v] | some k, v in object.get(input.alert.data, "secret_env", {})}
run contains {"id": "act", "uses": input.alert.data.uses,
  "args": object.union(object.get(input.alert.data, "args", {}), secrets),
  "commit": object.get(input.alert.data, "commit", [])} if input.seq == 0
"""

SECRETS = {"OPENAI": fa.OPENAI_KEY, "JIRA": fa.JIRA_TOKEN, "GENIE": fa.OPSGENIE_KEY, "OTX": fa.OTX_KEY,
           "PD": fa.PD_KEY, "SLACK": None, "GH": None, "GCP": None}


@pytest.fixture(scope="module")
def fake():
    f = fa.FakeActions()
    yield f
    f.close()


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("actions")
    (d / "alert.rego").write_text(ALERT_POLICY)
    (d / "action.rego").write_text(ACTION_POLICY)
    return d


def env_of(fake):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_")}
    env.update({
        "HUTCH_ACTION_GITHUB_URL": fake.base + "/github", "HUTCH_ACTION_OPSGENIE_URL": fake.base + "/opsgenie",
        "HUTCH_ACTION_CHATGPT_URL": fake.base + "/openai", "HUTCH_ACTION_OTX_URL": fake.base + "/otx",
        "HUTCH_ACTION_BIGQUERY_URL": fake.base + "/bigquery",
        "HUTCH_ACTION_GOOGLE_TOKEN_URL": fake.base + "/google/token",
        "HUTCH_ACTION_PAGERDUTY_URL": fake.base + "/pagerduty", "HUTCH_ACTION_TIMEOUT_MS": "5000",
    })
    return env


def run_action(fake, policy_dir, tmp_path, uses, args, secret_env=None, commit=None, verb="run", extra=(),
               env=None):
    secret_values = {
        "SLACK_URL": fake.base + fa.SLACK_PATH, "OPENAI_KEY": fa.OPENAI_KEY, "JIRA_TOKEN": fa.JIRA_TOKEN,
        "GENIE_KEY": fa.OPSGENIE_KEY, "OTX_KEY": fa.OTX_KEY, "PD_KEY": fa.PD_KEY, "GH_PEM": fake.github_pem,
        "GCP_CRED": fake.service_account(),
    }
    ev = {"title": f"test {uses}", "uses": uses, "args": args, "secret_env": secret_env or {},
          "commit": commit or []}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(ev))
    cmd = [os.path.join(BIN_DIR, "hutchctl"), "-o", "json", "action", verb, "--policy", str(policy_dir),
           "--schema", "test", "--input", str(path), *extra]
    for k, v in secret_values.items():
        cmd += ["--env", f"{k}={v}"]
    r = subprocess.run(cmd, env={**env_of(fake), **(env or {})}, capture_output=True, text=True, timeout=60)
    for secret in (fa.OPENAI_KEY, fa.JIRA_TOKEN, fa.OPSGENIE_KEY, fa.OTX_KEY, fa.PD_KEY, "XXXXSECRET",
                   fa.GITHUB_TOKEN, fa.GOOGLE_TOKEN, "PRIVATE KEY"):
        assert secret not in r.stdout and secret not in r.stderr, f"{secret} printed"
    return r


def only_action(r):
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    chain = doc["chains"][0]
    act = chain["rounds"][0]["actions"][0]
    assert "error" not in act, act
    return chain, act


def test_slack_post(fake, policy_dir, tmp_path):
    before = len(fake.of("/slack/"))
    chain, act = only_action(run_action(fake, policy_dir, tmp_path, "slack.post", {"channel": "#alerts"},
                                        {"secret_url": "SLACK_URL"}))
    assert act["args"]["secret_url"] == "[REDACTED]" and act["result"] is None
    req = fake.of("/slack/")[before]
    assert req["body"]["channel"] == "#alerts" and req["body"]["text"] == "Notification from AlertChain"
    fields = json.dumps(req["body"]["attachments"][0]["blocks"])
    assert "web-1" in fields and "*test slack.post*" in fields
    assert not fake.errors


def test_chatgpt_query_commit_path(fake, policy_dir, tmp_path):
    chain, act = only_action(run_action(fake, policy_dir, tmp_path, "chatgpt.query", {"prompt": "Explain:"},
                                        {"secret_api_key": "OPENAI_KEY"},
                                        [{"key": "comment", "path": "choices[0].message.content"}]))
    assert act["result"]["choices"][0]["message"]["content"] == fake.llm_answer
    assert {"key": "comment", "value": fake.llm_answer}.items() <= chain["attrs"][-1].items()
    req = fake.of("/openai/")[-1]
    assert req["body"]["model"] == "gpt-4o" and req["body"]["messages"][0]["content"].startswith("Explain:\n\n{")
    assert not fake.errors


LLM_KEY = "sk-test-llm-action-secret"


@pytest.mark.parametrize("provider,model", [("openai", "gpt-override"), ("anthropic", None), ("gemini", None)])
def test_llm_query_asks_the_agents_model(fake, policy_dir, tmp_path, provider, model):
    """llm.query goes through common/llm.h with the HUTCH_LLM_* settings: the fake LLM
    sees the request in that provider's own format (it refuses anything else), and the
    result is the neutral {text, provider, model, usage}."""
    llm = FakeLLM(LLM_KEY)
    try:
        llm.script = [{"text": "Likely a cryptominer: isolate web-1."}]
        args = {"prompt": "Explain:", **({"model": model} if model else {})}
        r = run_action(fake, policy_dir, tmp_path, "llm.query", args,
                       commit=[{"key": "comment", "path": "text"}], env=llm.env(provider))
        assert LLM_KEY not in r.stdout and LLM_KEY not in r.stderr
        chain, act = only_action(r)
        want_model = model or "fake-model"
        assert act["result"] == {"text": "Likely a cryptominer: isolate web-1.", "provider": provider,
                                 "model": want_model, "usage": {"input_tokens": llm.usage["input"],
                                                                "output_tokens": llm.usage["output"]}}
        assert llm.usage["input"] > 0 and llm.usage["output"] > 0
        assert {"key": "comment", "value": "Likely a cryptominer: isolate web-1."}.items() <= chain["attrs"][-1].items()
        assert len(llm.requests) == 1
        req = llm.requests[0]
        assert req["provider"] == provider and req["view"] is not None
        user = req["view"]["messages"]
        assert len(user) == 1 and user[0]["role"] == "user"
        assert user[0]["text"].startswith("Explain:\n\n{") and "web-1" in user[0]["text"]
        if provider == "openai":
            assert req["path"] == "/v1/chat/completions" and req["body"]["model"] == "gpt-override"
        elif provider == "anthropic":
            assert req["path"] == "/v1/messages" and req["body"]["model"] == "fake-model"
            assert req["headers"]["x-api-key"] == LLM_KEY and req["body"]["max_tokens"] == 2048
        else:
            assert req["path"] == "/v1beta/models/fake-model:generateContent"
    finally:
        llm.close()


def test_llm_query_without_a_model_is_a_clear_error(fake, policy_dir, tmp_path):
    r = run_action(fake, policy_dir, tmp_path, "llm.query", {"prompt": "Explain:"},
                   env={"HUTCH_LLM_PROVIDER": "none"})
    assert r.returncode == 1, r.stdout + r.stderr
    chain = json.loads(r.stdout)["chains"][0]
    act = chain["rounds"][0]["actions"][0]
    assert "result" not in act or act["result"] is None
    assert act["error"] == "llm.query: no model configured (HUTCH_LLM_PROVIDER=none)"
    # a provider without URL or model is refused before any chain runs
    r = run_action(fake, policy_dir, tmp_path, "llm.query", {}, env={"HUTCH_LLM_PROVIDER": "anthropic"})
    assert r.returncode != 0 and "HUTCH_LLM_URL and HUTCH_LLM_MODEL are needed" in r.stderr


def test_github_app_issue_and_comment(fake, policy_dir, tmp_path):
    auth = {"app_id": fa.GITHUB_APP_ID, "install_id": str(fa.GITHUB_INSTALL_ID), "owner": "example",
            "repo": "security"}
    chain, act = only_action(run_action(fake, policy_dir, tmp_path, "github.create_issue",
                                        {**auth, "labels": ["hutch"], "assignee": "octocat"},
                                        {"secret_private_key": "GH_PEM"}))
    assert act["result"]["number"] == 7
    req = fake.of("/github/repos/")[-1]
    assert req["body"]["labels"] == ["hutch"] and req["body"]["assignees"] == ["octocat"]
    assert req["body"]["title"] == "test github.create_issue" and "web-1" in req["body"]["body"]
    chain, act = only_action(run_action(fake, policy_dir, tmp_path, "github.create_comment",
                                        {**auth, "issue_number": 7, "body": "more"}, {"secret_private_key": "GH_PEM"}))
    assert fake.of("/github/repos/")[-1]["path"] == "/github/repos/example/security/issues/7/comments"
    assert not fake.errors


def test_jira(fake, policy_dir, tmp_path):
    base = {"account_id": "5b10ac8d82e05b22cc7d4ef5", "user": fa.JIRA_USER, "base_url": fake.base + "/jira/"}
    s = {"secret_token": "JIRA_TOKEN"}
    _, act = only_action(run_action(fake, policy_dir, tmp_path, "jira.create_issue",
                                    {**base, "project": "SEC", "issue_type": "Task", "labels": ["x"]}, s))
    assert act["result"]["key"] == "SEC-1"
    _, act = only_action(run_action(fake, policy_dir, tmp_path, "jira.add_comment",
                                    {**base, "issue_id": "SEC-1", "body": "note"}, s))
    _, act = only_action(run_action(fake, policy_dir, tmp_path, "jira.add_attachment",
                                    {**base, "issue_id": "SEC-1", "file_name": "evidence.txt", "data": "hello"}, s))
    assert act["result"][0]["filename"] == "evidence.txt"
    assert not fake.errors


def test_opsgenie_alias_is_the_alert_id(fake, policy_dir, tmp_path):
    chain, act = only_action(run_action(fake, policy_dir, tmp_path, "opsgenie.create_alert",
                                        {"responder_teams": [{"name": "secops"}]}, {"secret_api_key": "GENIE_KEY"}))
    req = fake.of("/opsgenie/")[-1]["body"]
    assert req["alias"] == chain["alert"]["id"] and req["source"] == "hutch"
    assert req["responders"] == [{"name": "secops", "type": "team"}] and req["details"]["host"] == "web-1"
    assert act["result"]["result"] == "Request will be processed"
    assert not fake.errors


def test_otx_and_http_fetch(fake, policy_dir, tmp_path):
    _, act = only_action(run_action(fake, policy_dir, tmp_path, "otx.indicator",
                                    {"type": "ipv4", "indicator": "45.155.205.233", "section": "general"},
                                    {"secret_api_key": "OTX_KEY"}))
    assert act["result"]["pulse_info"]["count"] == 3
    _, act = only_action(run_action(fake, policy_dir, tmp_path, "http.fetch",
                                    {"method": "GET", "url": fake.base + "/fetch/json"}))
    assert act["result"] == {"answer": 42, "method": "GET"}
    _, act = only_action(run_action(fake, policy_dir, tmp_path, "http.fetch",
                                    {"method": "POST", "url": fake.base + "/fetch/text", "data": "hello",
                                     "header": {"X-Test": "1"}}))
    assert act["result"] == "plain answer"
    _, act = only_action(run_action(fake, policy_dir, tmp_path, "http.fetch",
                                    {"method": "GET", "url": fake.base + "/fetch/bytes"}))
    assert act["result"] == "AAH/"
    assert not fake.errors


def test_bigquery_service_account(fake, policy_dir, tmp_path):
    t = {"project_id": "proj", "dataset_id": "sec", "table_id": "alerts"}
    only_action(run_action(fake, policy_dir, tmp_path, "bigquery.insert_alert", t,
                           {"secret_credentials": "GCP_CRED"}))
    row = fake.of("/bigquery/")[-1]["body"]["rows"][0]["json"]
    assert row["title"] == "test bigquery.insert_alert" and row["attrs"][0]["key"] == "host"
    assert json.loads(row["data"])["uses"] == "bigquery.insert_alert"
    only_action(run_action(fake, policy_dir, tmp_path, "bigquery.insert_data", {**t, "data": {"n": 1}, "tags": ["a"]},
                           {"secret_credentials": "GCP_CRED"}))
    row = fake.of("/bigquery/")[-1]["body"]["rows"][0]["json"]
    assert json.loads(row["data"]) == {"n": 1} and row["tags"] == ["a"]
    assert not fake.errors


def test_pagerduty(fake, policy_dir, tmp_path):
    _, act = only_action(run_action(fake, policy_dir, tmp_path, "pagerduty.trigger", {"severity": "high"},
                                    {"secret_routing_key": "PD_KEY"}))
    body = fake.of("/pagerduty/")[-1]["body"]
    assert body["payload"]["severity"] == "error" and body["dedup_key"].startswith("hutch:")
    assert act["result"]["status"] == "success"
    only_action(run_action(fake, policy_dir, tmp_path, "pagerduty.resolve", {"dedup_key": body["dedup_key"]},
                           {"secret_routing_key": "PD_KEY"}))
    assert fake.of("/pagerduty/")[-1]["body"] == {"routing_key": fa.PD_KEY, "event_action": "resolve",
                                                    "dedup_key": body["dedup_key"]}
    # a 400 is the action's error, with PagerDuty's reason
    r = run_action(fake, policy_dir, tmp_path, "pagerduty.trigger", {"secret_routing_key": "short"})
    assert r.returncode == 1
    act = json.loads(r.stdout)["chains"][0]["rounds"][0]["actions"][0]
    assert "HTTP 400" in act["error"] and "routing_key" in act["error"]
    assert not fake.errors


def test_unknown_uses_is_a_policy_error_with_its_line(fake, tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "alert.rego").write_text(ALERT_POLICY)
    (d / "action.rego").write_text('package action\nimport rego.v1\n\nrun contains {"id": "x",\n'
                                   '  "uses": "slack.pots"} if true\n')
    (tmp_path / "e.json").write_text('{"title": "t"}')
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "-o", "json", "action", "play", "--policy", str(d),
                        "--schema", "test", "--input", str(tmp_path / "e.json")], capture_output=True, text=True)
    assert r.returncode == 1
    chain = json.loads(r.stdout)["chains"][0]
    assert chain["stopped"] == "policy_error" and "action.rego:5: unknown action \"slack.pots\"" in chain["error"]
    # a play that mocks the name makes it an action of the play (AlertChain's tests' "mock")
    (tmp_path / "m.json").write_text('{"ok": 1}')
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "-o", "json", "action", "play", "--policy", str(d),
                        "--schema", "test", "--input", str(tmp_path / "e.json"), "--mock",
                        f"slack.pots={tmp_path / 'm.json'}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    chain = json.loads(r.stdout)["chains"][0]
    assert chain["stopped"] == "no_new_action" and chain["rounds"][0]["actions"][0]["result"] == {"ok": 1}


def test_play_has_no_side_effects(fake, policy_dir, tmp_path):
    before = len(fake.requests)
    mock = tmp_path / "m.json"
    mock.write_text(json.dumps({"status": "success"}))
    r = run_action(fake, policy_dir, tmp_path, "pagerduty.trigger", {}, {"secret_routing_key": "PD_KEY"},
                   verb="play", extra=["--mock", f"pagerduty.trigger={mock}"])
    _, act = only_action(r)
    assert act["result"] == {"status": "success"} and act["args"]["secret_routing_key"] == "[REDACTED]"
    assert len(fake.requests) == before
    # the table output prints each round and why the chain stopped
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "action", "play", "--policy",
                        os.path.join(ROOT, "policies"), "--schema", "aws_guardduty", "--input",
                        os.path.join(ROOT, "policies/action/playbooks/guardduty_trojan.json"),
                        "--env", "CHATGPT_API_KEY=sk-zzz", "--env", "SLACK_INCOMING_WEBHOOK=https://h/zzz"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "seq 0:" in r.stdout and "seq 1:" in r.stdout and "stopped: no_new_action" in r.stdout
    assert "sk-zzz" not in r.stdout and "h/zzz" not in r.stdout


def test_shipped_playbooks_and_a_mismatch(tmp_path):
    books = sorted(os.path.join(ROOT, "policies/action/playbooks", f) for f in
                   os.listdir(os.path.join(ROOT, "policies/action/playbooks")) if f.endswith(".json") and
                   json.load(open(os.path.join(ROOT, "policies/action/playbooks", f))).__class__ is dict and
                   "scenarios" in json.load(open(os.path.join(ROOT, "policies/action/playbooks", f))))
    assert len(books) == 3
    hutchctl = os.path.join(BIN_DIR, "hutchctl")
    r = subprocess.run([hutchctl, "action", "test", "--policy", os.path.join(ROOT, "policies"), *books],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "8 passed, 0 failed" in r.stdout
    # the jsonnet playbook (evaluated by libjsonnet), and a jsonnet error is a failure
    r = subprocess.run([hutchctl, "action", "test", "--policy", os.path.join(ROOT, "policies"),
                        os.path.join(ROOT, "policies/action/playbooks/guardduty_llm_slack.jsonnet")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "2 passed, 0 failed" in r.stdout, r.stdout + r.stderr
    (tmp_path / "broken.jsonnet").write_text("{scenarios: [")
    r = subprocess.run([hutchctl, "action", "test", "--policy", os.path.join(ROOT, "policies"),
                        str(tmp_path / "broken.jsonnet")], capture_output=True, text=True)
    assert r.returncode == 1 and "broken.jsonnet" in r.stderr
    bad = json.load(open(books[1]))
    bad["scenarios"][0]["expect"]["actions"][1]["uses"] = "github.create_issue"
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(bad))
    shutil.copy(os.path.join(ROOT, "policies/action/playbooks/guardduty_trojan.json"), tmp_path)
    r = subprocess.run([hutchctl, "action", "test", "--policy", os.path.join(ROOT, "policies"), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "FAIL" in r.stdout and "1 failed" in r.stdout, r.stdout


@pytest.mark.parametrize("case", ["loop", "force", "control", "persist"])
def test_alertchain_behaviours_through_play(case):
    """tests/action-playbooks: AlertChain's chain-test behaviours, written for Hutch."""
    d = os.path.join(ROOT, "tests", "action-playbooks", case)
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "action", "test", "--policy", d,
                        os.path.join(d, "playbook.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout
