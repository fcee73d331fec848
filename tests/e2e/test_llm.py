"""The LLM client and the tool loop (common/llm.h, common/llm_loop.h) through hutch-llm
against tests/e2e/fake_llm.py, for each of the three wire formats: a tool call then a
final JSON answer; invalid JSON then valid (and four invalid: the run ends); 429 with
Retry-After then success; an answer slower than the timeout; a model that never stops
calling tools (iteration limit); the budget; a risky tool without and with approval;
usage counted; many runs on one thread. The fake refuses any request a real API would
refuse (auth headers, tool results not answering the calls of the turn before). No
stack needed."""
import json
import os
import subprocess
import time

import pytest

import hutch_e2e
from fake_llm import FakeLLM, called, last_results

LLM = os.path.join(hutch_e2e.BIN_DIR, "hutch-llm")
KEY = "sk-test-llm-secret"
PROVIDERS = ["openai", "anthropic", "gemini"]

VT = {"name": "vt_ip", "description": "Look up an IP on VirusTotal", "cost": 6,
      "parameters": {"type": "object", "properties": {"target": {"type": "string"}}, "required": ["target"]},
      "result": {"malicious": 7, "harmless": 60}}
FINDING = {"type": "object", "required": ["severity", "summary"], "additionalProperties": False,
           "properties": {"severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
                          "summary": {"type": "string"}}}


@pytest.fixture
def fake():
    f = FakeLLM(KEY)
    yield f
    f.close()


def run(fake, provider, question, *args, env=None, timeout=60):
    full = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_LLM_")}
    full.update(fake.env(provider))
    full["HUTCH_LLM_API_KEY"] = KEY
    full.update(env or {})
    p = subprocess.run([LLM, *args], input=json.dumps(question), env=full, capture_output=True, text=True,
                       timeout=hutch_e2e.scaled(timeout))
    assert KEY not in p.stdout and KEY not in p.stderr
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def question(**kw):
    q = {"system": "You are a SOC analyst.", "prompt": "Is 45.227.255.100 malicious?", "tools": [VT],
         "schema": FINDING}
    q.update(kw)
    return q


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_call_then_json(fake, provider):
    fake.script = [{"calls": [["vt_ip", {"target": "45.227.255.100"}]]},
                   {"json": {"severity": "high", "summary": "known scanner"}}]
    out = run(fake, provider, question())["runs"][0]
    assert out["rc"] == 0, out
    assert out["json"] == {"severity": "high", "summary": "known scanner"}
    assert out["tools_run"] == ["vt_ip"]
    assert out["model_calls"] == 2
    assert out["input_tokens"] == fake.usage["input"] and out["output_tokens"] == fake.usage["output"]
    assert out["input_tokens"] > 0 and out["output_tokens"] > 0
    first, second = fake.requests[0]["view"], fake.requests[1]["view"]
    assert first["tools"] == ["vt_ip"] and first["json"]
    assert "SOC analyst" in first["system"]
    assert json.loads(last_results(second)[0]) == {"malicious": 7, "harmless": 60}
    assert called(second, "vt_ip")
    hdr = fake.requests[0]["headers"]
    if provider == "anthropic":
        assert hdr["anthropic-version"] == "2023-06-01" and hdr["x-api-key"] == KEY
        assert fake.requests[0]["body"]["max_tokens"] == 2048
    elif provider == "gemini":
        assert hdr["x-goog-api-key"] == KEY
        assert fake.requests[0]["path"] == "/v1beta/models/fake-model:generateContent"
    else:
        assert hdr["Authorization"] == f"Bearer {KEY}"
        assert fake.requests[0]["path"] == "/v1/chat/completions"
        assert fake.requests[0]["body"]["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_parallel_tool_calls(fake, provider):
    fake.script = [{"calls": [["vt_ip", {"target": "1.1.1.1"}], ["vt_ip", {"target": "2.2.2.2"}]]},
                   {"json": {"severity": "low", "summary": "two lookups"}}]
    out = run(fake, provider, question())["runs"][0]
    assert out["rc"] == 0, out
    assert out["tools_run"] == ["vt_ip", "vt_ip"]
    assert len(last_results(fake.requests[1]["view"])) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_invalid_json_then_valid(fake, provider):
    fake.script = [{"text": "I think it is bad"}, {"json": {"severity": "urgent", "summary": "x"}},
                   {"json": {"severity": "medium", "summary": "ok now"}}]
    out = run(fake, provider, question(tools=[]))["runs"][0]
    assert out["rc"] == 0 and out["json"]["summary"] == "ok now"
    assert out["model_calls"] == 3
    reasks = [m["text"] for m in fake.requests[2]["view"]["messages"] if m["role"] == "user"]
    assert "not valid JSON" in reasks[1] and "$.severity" in reasks[2]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_invalid_json_gives_up_after_three_reasks(fake, provider):
    fake.responder = lambda view: {"text": "no JSON here"}
    out = run(fake, provider, question(tools=[]))["runs"][0]
    assert out["rc"] == -1 and out["reason"] == "invalid_json"
    assert out["model_calls"] == 4


@pytest.mark.parametrize("provider", PROVIDERS)
def test_429_then_success_after_retry_after(fake, provider):
    fake.script = [{"status": 429, "retry_after": "1"}, {"status": 529 if provider == "anthropic" else 503},
                   {"json": {"severity": "low", "summary": "fine"}}]
    t0 = time.monotonic()
    out = run(fake, provider, question(tools=[]))["runs"][0]
    assert out["rc"] == 0, out
    assert time.monotonic() - t0 >= 1.0  # Retry-After honoured
    assert len(fake.requests) == 3 and out["model_calls"] == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_error_answer_is_reported_without_retry(fake, provider):
    fake.script = [{"status": 400, "message": "bad thing in request"}]
    out = run(fake, provider, question(tools=[]))["runs"][0]
    assert out["rc"] == -1 and out["reason"] == "error"
    assert "HTTP 400" in out["err"] and "bad thing in request" in out["err"]
    assert len(fake.requests) == 1


def test_wrong_key_is_refused_and_not_shown(fake):
    out = run(fake, "openai", question(tools=[]), env={"HUTCH_LLM_API_KEY": "sk-wrong-key"})["runs"][0]
    assert out["rc"] == -1 and "HTTP 401" in out["err"] and "sk-wrong" not in out["err"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_slow_answer_past_the_timeout(fake, provider):
    fake.script = [{"delay": 3, "json": {"severity": "low", "summary": "late"}}]
    t0 = time.monotonic()
    out = run(fake, provider, question(tools=[]), env={"HUTCH_LLM_TIMEOUT": "500ms", "HUTCH_LLM_RETRIES": "0"})
    out = out["runs"][0]
    assert out["rc"] == -1 and out["reason"] == "error"
    assert "Timeout" in out["err"] or "timed out" in out["err"].lower()
    assert time.monotonic() - t0 < 2.5


@pytest.mark.parametrize("provider", PROVIDERS)
def test_model_that_never_stops_calling_tools(fake, provider):
    fake.responder = lambda view: {"calls": [["vt_ip", {"target": "9.9.9.9"}]]}
    out = run(fake, provider, question(limits={"iterations": 5}))["runs"][0]
    assert out["rc"] == -1 and out["reason"] == "iterations"
    assert out["model_calls"] == 5 and len(fake.requests) == 5
    assert out["tools_run"] == ["vt_ip"] * 4  # the concluding call may not run tools
    last = fake.requests[-1]["view"]
    assert last["no_tool_calls"] and "iteration limit" in last["messages"][-1]["text"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_iteration_limit_lets_the_model_conclude(fake, provider):
    def model(view):
        if view["no_tool_calls"]:
            return {"json": {"severity": "medium", "summary": "concluded at the limit"}}
        return {"calls": [["vt_ip", {"target": "9.9.9.9"}]]}
    fake.responder = model
    out = run(fake, provider, question(limits={"iterations": 3}))["runs"][0]
    assert out["rc"] == 0 and out["json"]["summary"] == "concluded at the limit"
    assert out["model_calls"] == 3


def test_default_iteration_limit_is_32(fake):
    fake.responder = lambda view: {"calls": [["vt_ip", {"target": "9.9.9.9"}]]}
    out = run(fake, "openai", question())["runs"][0]
    assert out["reason"] == "iterations" and out["model_calls"] == 32


@pytest.mark.parametrize("provider", PROVIDERS)
def test_budget_exhausted_tools_answer_so(fake, provider):
    def model(view):
        results = last_results(view)
        if any("budget exhausted" in r for r in results):
            return {"json": {"severity": "low", "summary": "stopped on budget"}}
        return {"calls": [["vt_ip", {"target": "9.9.9.9"}]]}
    fake.responder = model
    out = run(fake, provider, question(limits={"budget": 13}))["runs"][0]
    assert out["rc"] == 0 and out["json"]["summary"] == "stopped on budget"
    assert out["tools_run"] == ["vt_ip", "vt_ip"] and out["spent"] == 12
    assert out["tools_refused"] == 1


def test_token_limit_ends_the_run(fake):
    fake.responder = lambda view: {"calls": [["vt_ip", {"target": "9.9.9.9"}]]}
    out = run(fake, "openai", question(limits={"tokens": 300}))["runs"][0]
    assert out["rc"] == -1 and out["reason"] == "tokens"
    assert out["input_tokens"] + out["output_tokens"] >= 300 and out["model_calls"] < 32


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_errors_go_back_to_the_model(fake, provider):
    broken = dict(VT, name="broken", result="upstream said 502", error=True)
    fake.script = [{"calls": [["broken", {"target": "1.1.1.1"}], ["nope", {}], ["vt_ip", {"wrong": 1}]]},
                   {"json": {"severity": "low", "summary": "tools failed"}}]
    out = run(fake, provider, question(tools=[VT, broken]))["runs"][0]
    assert out["rc"] == 0
    results = last_results(fake.requests[1]["view"])
    assert "upstream said 502" in results[0]
    assert "nope is not found" in results[1]
    assert "invalid arguments for vt_ip" in results[2] and "target" in results[2]
    assert out["tools_run"] == ["broken"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_risky_tool_needs_approval(fake, provider):
    fetch = {"name": "http_fetch", "description": "GET a URL", "risky": True, "cost": 1,
             "parameters": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
             "result": "<html>"}
    fake.script = [{"calls": [["http_fetch", {"url": "https://evil.example/x"}]]},
                   {"json": {"severity": "low", "summary": "no fetch"}}]
    out = run(fake, provider, question(tools=[VT, fetch]))["runs"][0]
    assert out["rc"] == 0 and out["tools_run"] == []
    assert "needs a person's approval" in last_results(fake.requests[1]["view"])[0]
    fake.script = [{"calls": [["http_fetch", {"url": "https://evil.example/x"}]]},
                   {"json": {"severity": "low", "summary": "fetched"}}]
    out = run(fake, provider, question(tools=[VT, fetch], approved=["http_fetch"]))["runs"][0]
    assert out["tools_run"] == ["http_fetch"]


def test_one_thread_drives_many_calls(fake):
    fake.responder = lambda view: {"delay": 0.5, "json": {"severity": "low", "summary": "slow"}}
    out = run(fake, "openai", question(tools=[]), "--runs", "20")
    assert [r["rc"] for r in out["runs"]] == [0] * 20
    assert out["ms"] < 20 * 500 / 3  # concurrent, not one after the other


def test_settings_errors():
    full = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_LLM_")}
    p = subprocess.run([LLM], input="{}", env=dict(full, HUTCH_LLM_PROVIDER="azure"), capture_output=True, text=True)
    assert p.returncode == 78 and "HUTCH_LLM_PROVIDER" in p.stderr
    p = subprocess.run([LLM], input="{}", env=dict(full, HUTCH_LLM_PROVIDER="openai"), capture_output=True, text=True)
    assert p.returncode == 78 and "HUTCH_LLM_URL" in p.stderr
    p = subprocess.run([LLM], input="{}", env=full, capture_output=True, text=True)
    assert p.returncode == 78 and "no model configured" in p.stderr


# --- MCP servers' tools (common/mcp.h) against tests/e2e/fake_mcp.py ---

FAKE_MCP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_mcp.py")


@pytest.fixture(params=["stdio", "http"])
def mcp(request, tmp_path):
    from fake_mcp import FakeMCPHTTP
    calls = tmp_path / "calls.jsonl"
    calls.write_text("")
    if request.param == "stdio":
        yield f"assets=/usr/bin/python3 {FAKE_MCP} --stdio {calls}", calls, None
    else:
        srv = FakeMCPHTTP(str(calls))
        yield f"assets={srv.url}", calls, srv
        srv.close()


def mcp_calls(calls):
    return [json.loads(line) for line in calls.read_text().splitlines()]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mcp_tools_read_only_runs_risky_needs_approval(fake, mcp, provider):
    servers, calls, http = mcp
    fake.script = [{"calls": [["assets_lookup_asset", {"ip": "10.1.2.3"}], ["assets_isolate_host", {"host": "build-07"}],
                              ["assets_lookup_asset", {"ip": "0.0.0.0"}]]},
                   {"json": {"severity": "medium", "summary": "asset found"}}]
    env = {"HUTCH_MCP_SERVERS": servers, "HUTCH_MCP_READ_ONLY": "assets_lookup_asset"}
    out = run(fake, provider, question(tools=[]), env=env)["runs"][0]
    assert out["rc"] == 0, out
    # both pages of tools/list were read: both tools offered, prefixed with the server name
    assert fake.requests[0]["view"]["tools"] == ["assets_lookup_asset", "assets_isolate_host"]
    results = last_results(fake.requests[1]["view"])
    assert json.loads(results[0]) == {"host": "build-07", "owner": "platform-team"}
    assert "needs a person's approval" in results[1]
    assert "no asset owns 0.0.0.0" in results[2]  # isError goes back to the model
    assert [c["name"] for c in mcp_calls(calls)] == ["lookup_asset", "lookup_asset"]  # isolate_host never ran
    if http:
        hdrs = [r["headers"] for r in http.requests]
        assert all("text/event-stream" in h["Accept"] for h in hdrs)
        assert all(h.get("MCP-Protocol-Version") == "2025-06-18" for h in hdrs[1:])
        assert [r["body"].get("method") for r in http.requests][:4] == [
            "initialize", "notifications/initialized", "tools/list", "tools/list"]
        assert not http.sessions  # the session was ended (DELETE)
    # approved, the risky tool runs
    fake.script = [{"calls": [["assets_isolate_host", {"host": "build-07"}]]},
                   {"json": {"severity": "high", "summary": "isolated"}}]
    q = question(tools=[], approved=["assets_isolate_host"])
    out = run(fake, provider, q, env=env)["runs"][0]
    assert out["rc"] == 0 and mcp_calls(calls)[-1] == {"name": "isolate_host", "arguments": {"host": "build-07"}}


def test_mcp_server_that_cannot_start_is_an_error(fake):
    p = subprocess.run([LLM], input=json.dumps(question()), capture_output=True, text=True, timeout=30,
                       env=dict({k: v for k, v in os.environ.items() if not k.startswith("HUTCH_")},
                                **fake.env("openai"), HUTCH_MCP_SERVERS="broken=/nonexistent/mcp-server",
                                HUTCH_MCP_TIMEOUT="2s"))
    assert p.returncode == 1 and "broken" in p.stderr
    p = subprocess.run([LLM], input="{}", capture_output=True, text=True, timeout=30,
                       env=dict({k: v for k, v in os.environ.items() if not k.startswith("HUTCH_")},
                                **fake.env("openai"), HUTCH_MCP_SERVERS="no-equals-sign"))
    assert p.returncode == 1 and "name=URL" in p.stderr
