"""The agent's chat on the whole stack, with tests/e2e/fake_llm.py as the model
(services/agent/chat.h): a question on hutch.agent.requests delivered twice is answered
and stored once, its answer addressed to the question's Slack thread, every stored turn
announced as a TicketEvent "chat"; a planned question (a plan of two tasks that run at
once, then a replan that concludes) with its phases recorded and replayable; the
10-phase cap ends cleanly; without a model the answer says so, recorded once; `hutchctl
ticket history` shows the ticket's agent sessions among its history; `hutchctl chat`
plans with the same code.

The fake plays three parts, told apart by the system prompt: the planner ("You are the
planner"), a task ("You are a helper") and the direct chat."""
import json
import os
import subprocess
import threading
import time
import uuid

import hutch_e2e
from fake_llm import called, last_results
from hutch_e2e import scaled, wait_for
from test_agent_llm import answer, hutchctl, llm_agent, post, public_ip, tagged_finding, ticket_of  # noqa: F401

PLANNER = "You are the planner"
TASK = "You are a helper"


def user_turns(view):
    return [m for m in view["messages"] if m["role"] == "user" and m["text"]]


def make_request(ticket_id, text, user="U123", channel="C42", thread="1700000000.000100"):
    from hutch.v1 import envelope_pb2, ticket_pb2  # noqa: E402  (build/py)
    rid = str(uuid.uuid4())
    req = ticket_pb2.AgentRequest(request_id=rid, ticket_id=str(ticket_id), user=user, text=text,
                                  reply_channel=channel, reply_thread_ts=thread)
    req.meta.CopyFrom(envelope_pb2.Meta(id=str(uuid.uuid4()), schema_version=1, trace_id=uuid.uuid4().hex,
                                        created_unix_ms=int(time.time() * 1000), producer="e2e"))
    return rid, req.SerializeToString()


def send(st, ticket_id, raw):
    st.produce(hutch_e2e._TOPICS["TOPIC_AGENT_REQUESTS"], raw, key=str(ticket_id).encode())


def answers(st, tid):
    return st.pg.query("SELECT * FROM notifications WHERE ticket_id = %s AND kind = 'agent_answer'", (tid,))


def request_row(st, rid):
    rows = st.pg.query("SELECT * FROM agent_requests WHERE request_id = %s", (rid,))
    return rows[0] if rows else None


def turns(st, session_id):
    return st.pg.query("SELECT seq, role, phase, task, content FROM agent_messages WHERE session_id = %s ORDER BY seq",
                       (session_id,))


def new_ticket(st, model, tag):
    model.by_tag[tag] = lambda view: {"json": answer(f"Chat ticket {tag}", "low")}
    f = tagged_finding(tag)
    post(st, f)
    return str(ticket_of(st, f["title"]))


def chat_events(tail, tid, n, timeout):
    """The TicketEvents "chat" of ticket tid, until n of them came."""
    from hutch.v1 import ticket_pb2  # noqa: E402
    got = []

    def enough(m):
        ev = ticket_pb2.TicketEvent.FromString(m.value())
        if ev.ticket_id == tid and ev.kind == "chat":
            got.append(ev)
        return len(got) >= n
    tail.read_until(enough, timeout)
    return got


def test_request_delivered_twice_is_answered_and_stored_once(llm_agent):
    st, fake, model = llm_agent
    tag = uuid.uuid4().hex[:12]
    tid = new_ticket(st, model, tag)
    question = f"what does the source address do? {tag}"
    calls = []

    def chat(view):
        assert PLANNER not in view["system"]  # a short question: answered directly
        calls.append(1)
        if not called(view, "hutch_search_alerts"):
            return {"delay": 1, "calls": [["hutch_search_alerts", {"limit": 5}]]}
        assert json.loads(last_results(view)[0])  # the tool answered
        return {"text": f"It probes SSH from {public_ip(tag)}."}
    model.by_tag = {question: chat, **model.by_tag}
    events = st.tail(hutch_e2e._TOPICS["TOPIC_TICKETS_EVENTS"])
    notes = st.tail(hutch_e2e._TOPICS["TOPIC_NOTIFY_REQUESTS"])
    rid, raw = make_request(tid, question)
    send(st, tid, raw)
    send(st, tid, raw)  # delivered twice
    [a] = wait_for(lambda: answers(st, tid), scaled(60), what="the answer's notification")
    assert f"U123: It probes SSH from {public_ip(tag)}." in json.dumps(a["message"])
    wait_for(lambda: (request_row(st, rid) or {}).get("state") == "answered", scaled(30), what="answered")
    send(st, tid, raw)  # and once more after the answer
    time.sleep(3)
    assert len(answers(st, tid)) == 1 and len(calls) == 2
    sessions = st.pg.query("SELECT * FROM agent_sessions WHERE request_id = %s", (rid,))
    assert len(sessions) == 1
    s = sessions[0]
    assert (s["kind"], s["status"], s["requester"], s["model_calls"]) == ("chat", "answered", "U123", 2)
    assert s["input_tokens"] > 0 and s["output_tokens"] > 0
    row = request_row(st, rid)
    assert row["session_id"] == s["session_id"] and row["answer"] == f"It probes SSH from {public_ip(tag)}."
    msgs = turns(st, s["session_id"])
    assert [m["role"] for m in msgs] == ["context", "user", "assistant", "tool", "assistant", "answer"]
    assert "<ticket-data>" in msgs[0]["content"] and msgs[1]["content"] == question
    assert msgs[3]["content"]["name"] == "hutch_search_alerts"
    # the answer is addressed to the question's Slack thread
    from hutch.v1 import ticket_pb2  # noqa: E402

    def the_answer(m):
        r = ticket_pb2.NotifyRequest.FromString(m.value())
        return r.ticket_id == tid and r.kind == "agent_answer"
    m = notes.read_until(the_answer, scaled(30))
    assert m is not None
    r = ticket_pb2.NotifyRequest.FromString(m.value())
    assert (r.reply_channel, r.reply_thread_ts, r.session_id) == ("C42", "1700000000.000100", str(s["session_id"]))
    notes.close()
    # one TicketEvent "chat" per stored turn, in order, naming the session
    evs = chat_events(events, tid, len(msgs), scaled(30))
    events.close()
    details = [json.loads(e.detail_json) for e in evs]
    assert [d["seq"] for d in details] == [m["seq"] for m in msgs]
    assert [d["role"] for d in details] == [m["role"] for m in msgs]
    assert {d["session_id"] for d in details} == {str(s["session_id"])}
    assert {e.actor for e in evs} == {"hutch-agent"}


def test_planned_question_runs_tasks_at_once_then_replans(llm_agent):
    st, fake, model = llm_agent
    tag = uuid.uuid4().hex[:12]
    tid = new_ticket(st, model, tag)
    st.pg.query("INSERT INTO intel_cache (provider, kind, value, verdict, score, summary, fetched_at, expires_at)"
                " VALUES ('virustotal', 'ip', %s, 'malicious', 7, '7/67 engines', now(), now() + interval '1 day')"
                " ON CONFLICT (provider, kind, value) DO UPDATE SET verdict = 'malicious', expires_at = now()"
                " + interval '1 day' RETURNING 1", (public_ip(tag),))
    question = f"analyse every IP in this ticket {tag}"
    started = {}
    lock = threading.Lock()

    def planner(view):
        assert view["json"] and not view["tools"]
        if len(user_turns(view)) == 1:
            return {"json": {"message": "Two lookups.", "tasks": [
                {"id": "attacker", "title": "the attacker's IP", "description": f"look up {public_ip(tag)}",
                 "acceptance_criteria": "a verdict", "tools": ["intel_lookup"]},
                {"id": "target", "title": "the target", "description": "look up 10.20.30.40",
                 "tools": ["intel_lookup"]}]}}
        replan = user_turns(view)[-1]["text"]
        assert "Phase 1 is done" in replan and "malicious" in replan
        return {"json": {"message": "done", "tasks": [],
                         "answer": f"{public_ip(tag)} is malicious (7/67); 10.20.30.40 is internal."}}

    def task(view):
        assert view["tools"] == ["intel_lookup"]  # restricted to the plan's tools
        first = view["messages"][0]["text"]
        which = "attacker" if "Your task (attacker)" in first else "target"
        if not called(view, "intel_lookup"):
            with lock:
                started[which] = time.monotonic()
            ip = public_ip(tag) if which == "attacker" else "10.20.30.40"
            return {"delay": 1.5, "calls": [["intel_lookup", {"indicator": ip}]]}
        return {"text": f"{which}: {last_results(view)[0]}"}

    def chat(view):
        return planner(view) if PLANNER in view["system"] else task(view) if TASK in view["system"] else \
            {"text": "not planned?"}
    model.by_tag = {question: chat, **model.by_tag}
    rid, raw = make_request(tid, question)
    send(st, tid, raw)
    [a] = wait_for(lambda: answers(st, tid), scaled(60), what="the planned answer")
    assert f"{public_ip(tag)} is malicious (7/67)" in json.dumps(a["message"])
    # the two tasks ran at once: each first call waited 1.5 s, they began together
    assert set(started) == {"attacker", "target"}
    assert abs(started["attacker"] - started["target"]) < 1.0, started
    s = st.pg.query("SELECT * FROM agent_sessions WHERE request_id = %s", (rid,))[0]
    assert s["status"] == "answered" and s["reason"] == "answer" and s["phases"] == 1
    assert s["model_calls"] == 6  # plan, 2 x (tool call, result), replan
    msgs = turns(st, s["session_id"])
    roles = [m["role"] for m in msgs]
    assert roles[:3] == ["context", "user", "assistant"] and roles[-1] == "answer"
    assert msgs[2]["task"] == "planner" and msgs[2]["phase"] == 0  # the first plan, before phase 1
    [plan] = [m for m in msgs if m["role"] == "plan"]
    assert plan["phase"] == 1 and [t["id"] for t in plan["content"]["tasks"]] == ["attacker", "target"]
    results = {m["task"]: m["content"] for m in msgs if m["role"] == "task_result"}
    assert set(results) == {"attacker", "target"} and "malicious" in results["attacker"]["result"]
    tools = [m for m in msgs if m["role"] == "tool"]
    assert sorted(m["task"] for m in tools) == ["attacker", "target"] and all(m["phase"] == 1 for m in tools)
    replans = [m for m in msgs if m["role"] == "user" and m["task"] == "planner"]
    assert len(replans) == 1 and replans[0]["phase"] == 1
    assert msgs[-1]["content"] == f"{public_ip(tag)} is malicious (7/67); 10.20.30.40 is internal."
    # replayed turn by turn
    replay = json.loads(hutchctl(st, {}, "-o", "json", "agent", "session", str(s["session_id"])).stdout)
    assert [(t["seq"], t["role"], t["phase"], t["task"]) for t in replay] == \
        [(m["seq"], m["role"], m["phase"], m["task"]) for m in msgs]
    # the ticket's history shows its sessions (the analysis, the chat) among its changes, in time order
    p = hutchctl(st, {}, "-o", "json", "ticket", "history", tid)
    assert p.returncode == 0, p.stderr
    hist = json.loads(p.stdout)
    sessions = [h for h in hist if h["kind"] == "session"]
    kinds = {h["detail"]["kind"]: h for h in sessions}
    assert set(kinds) == {"triage", "chat"}
    chat_row = kinds["chat"]
    assert chat_row["actor"] == "U123" and chat_row["seq"] is None
    d = chat_row["detail"]
    assert (d["session_id"], d["status"], d["model_calls"], d["phases"]) == (str(s["session_id"]), "answered", 6, 1)
    assert d["input_tokens"] == s["input_tokens"] and d["output_tokens"] == s["output_tokens"]
    assert [h["kind"] for h in hist if h["kind"] != "session"][0] == "opened"
    assert hist.index(chat_row) > hist.index(next(h for h in hist if h["kind"] == "opened"))
    table = hutchctl(st, {}, "ticket", "history", tid)
    assert table.returncode == 0 and "session" in table.stdout and str(s["session_id"]) in table.stdout


def test_ten_phase_cap_ends_cleanly(llm_agent):
    st, fake, model = llm_agent
    tag = uuid.uuid4().hex[:12]
    tid = new_ticket(st, model, tag)
    question = f"check each alert again and again {tag}"

    def chat(view):
        if PLANNER in view["system"]:  # never concludes
            n = len(user_turns(view))
            return {"json": {"message": f"still looking after {n - 1} phase(s)", "answer": "",
                             "tasks": [{"id": "again", "title": "once more", "description": "look again"}]}}
        return {"text": "nothing new"}
    model.by_tag = {question: chat, **model.by_tag}
    rid, raw = make_request(tid, question)
    send(st, tid, raw)
    [a] = wait_for(lambda: answers(st, tid), scaled(90), what="the answer at the cap")
    assert "still looking after 10 phase(s)" in json.dumps(a["message"])
    s = st.pg.query("SELECT * FROM agent_sessions WHERE request_id = %s", (rid,))[0]
    assert s["status"] == "answered" and s["reason"] == "phase_limit" and s["phases"] == 10
    assert s["model_calls"] == 21  # the plan, then 10 x (a task, a replan)
    msgs = turns(st, s["session_id"])
    assert [m["phase"] for m in msgs if m["role"] == "plan"] == list(range(1, 11))
    assert "No phase is left" in [m for m in msgs if m["role"] == "user" and m["task"] == "planner"][-1]["content"]
    assert st.services["agent"].alive()


def test_request_without_a_model_is_answered_once(healthy):
    st = healthy  # the session's agent: no model
    tag = uuid.uuid4().hex[:12]
    f = tagged_finding(tag)
    post(st, f)
    tid = str(ticket_of(st, f["title"]))
    rid, raw = make_request(tid, "analyse every IP in this ticket")
    send(st, tid, raw)
    send(st, tid, raw)
    [a] = wait_for(lambda: answers(st, tid), scaled(60), what="the answer")
    assert "No model is configured" in json.dumps(a["message"])
    row = request_row(st, rid)
    assert row["state"] == "answered" and row["answer"].startswith("No model is configured")
    assert row["reply_channel"] == "C42"
    time.sleep(1)
    assert len(answers(st, tid)) == 1
    assert st.pg.query("SELECT count(*) AS n FROM agent_requests WHERE request_id = %s", (rid,))[0]["n"] == 1


def test_hutchctl_chat_plans_with_the_agents_code(llm_agent):
    st, fake, model = llm_agent
    tag = uuid.uuid4().hex[:12]
    tid = new_ticket(st, model, tag)
    question = f"summarise this ticket {tag}"

    def chat(view):
        assert PLANNER in view["system"]  # HUTCH_CHAT_PLANNING=always
        return {"json": {"message": f"One SSH brute force from {public_ip(tag)}.", "tasks": []}}
    model.by_tag = {question: chat, **model.by_tag}
    env = fake.env("openai", HUTCH_CHAT_PLANNING="always", HUTCH_USER="alice")
    assert st.env.get("HUTCH_KAFKA_BROKERS")  # hutchctl announces its turns too
    events = st.tail(hutch_e2e._TOPICS["TOPIC_TICKETS_EVENTS"])
    p = hutchctl(st, env, "-o", "json", "chat", tid, "-m", question)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["answer"] == f"One SSH brute force from {public_ip(tag)}." and out["planned"] and out["phases"] == 0
    s = st.pg.query("SELECT * FROM agent_sessions WHERE session_id = %s", (out["session_id"],))[0]
    assert (s["kind"], s["requester"], s["model_calls"]) == ("chat", "user:alice", 1)
    msgs = turns(st, out["session_id"])
    assert [m["role"] for m in msgs] == ["context", "user", "assistant", "answer"]
    evs = chat_events(events, tid, len(msgs), scaled(30))
    events.close()
    assert [(json.loads(e.detail_json)["seq"], json.loads(e.detail_json)["session_id"]) for e in evs] == \
        [(m["seq"], out["session_id"]) for m in msgs]
    p = hutchctl(st, {**env, "HUTCH_CHAT_PLANNING": "sometimes"}, "chat", tid, "-m", question)
    assert p.returncode == 1 and "HUTCH_CHAT_PLANNING" in p.stderr


def test_sigkill_mid_chat_answers_once(llm_agent):
    st, fake, model = llm_agent
    agent = st.services["agent"]
    agent.env["HUTCH_CHAT_TIMEOUT"] = "5s"  # a question's lease: 5 s + 5 s
    agent.restart()
    tag = uuid.uuid4().hex[:12]
    tid = new_ticket(st, model, tag)
    question = f"is this a real attack? {tag}"
    asked = []

    def chat(view):
        asked.append(1)
        return {"delay": 2, "text": f"Yes: {public_ip(tag)} is a known scanner."}
    model.by_tag = {question: chat, **model.by_tag}
    rid, raw = make_request(tid, question)
    send(st, tid, raw)
    wait_for(lambda: asked, scaled(30), what="the model asked")
    agent.kill()  # mid-answer
    agent.start()
    agent.wait_ready()
    [a] = wait_for(lambda: answers(st, tid), scaled(60), what="the answer after the restart")
    assert f"Yes: {public_ip(tag)} is a known scanner." in json.dumps(a["message"])
    time.sleep(2)
    assert len(answers(st, tid)) == 1
    sessions = st.pg.query("SELECT status FROM agent_sessions WHERE request_id = %s ORDER BY created_at", (rid,))
    assert [s["status"] for s in sessions] == ["interrupted", "answered"]
    row = request_row(st, rid)
    assert row["state"] == "answered" and row["attempts"] == 2
