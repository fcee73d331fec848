"""Chat with the agent in the web console (services/console/chat.c), on the real stack with
tests/e2e/fake_llm.py as the model: the console hands a question to hutch-agent as an
AgentRequest, the agent answers with the ticket in context (scripted: one tool call, then
the answer), every stored turn reaches the page over the stream, and the tool call is
shown folded. The API: auth, roles, CSRF, bad input (400, nothing sent), an unknown
ticket (404), no model configured (409, and the page says so); a chat in headless
Chromium.

The session stack's agent runs without a model; this module restarts it against the fake
(and back at the end), and starts its consoles with HUTCH_LLM_PROVIDER=openai (one with
none, for the refusal)."""
import json
import time
import uuid

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from console_harness import Client, add_user, alertmanager_alert, start_console, stop_console, unique
from fake_llm import FakeLLM, called, last_results
from hutch_e2e import scaled, wait_for
from test_console_browser import browser, shot, sign_in, wait  # noqa: F401  (fixtures and helpers)

KEY = "sk-console-chat-key"


class Model:
    """Plays the model: a chat question names its script by a tag; anything else (the
    tickets' analyses) gets a plain answer."""

    def __init__(self):
        self.by_tag = {}

    def __call__(self, view):
        text = view["messages"][0]["text"] if view["messages"] else ""
        for tag, fn in list(self.by_tag.items()):
            if tag in text:
                return fn(view)
        if view.get("json"):
            return {"json": {"title": "Analysed", "summary": "Analysed.",
                             "finding": {"severity": "low", "summary": "s", "reason": "r", "recommendation": "n"}}}
        return {"text": "ok"}


@pytest.fixture(scope="module")
def llm(stack):
    fake = FakeLLM(KEY)
    model = Model()
    fake.responder = model
    agent = stack.services["agent"]
    if not agent.alive():
        agent.start()
    saved = dict(agent.env)
    agent.env.update(fake.env("openai", HUTCH_AGENT_POLL="100ms", HUTCH_AGENT_MAX_ITERATIONS=6,
                              HUTCH_AGENT_RUN_TIMEOUT="20s", HUTCH_LLM_TIMEOUT="10s"))
    agent.restart()
    agent.wait_ready()
    yield fake, model
    agent.env = saved
    agent.restart()
    agent.wait_ready()
    fake.close()


@pytest.fixture(scope="module")
def console(stack, llm):
    svc = start_console(stack, name="console-chat", HUTCH_LLM_PROVIDER="openai")
    yield svc
    stop_console(svc)


@pytest.fixture(scope="module")
def users(stack):
    pw = {r: f"chat-{r}-{uuid.uuid4().hex[:8]}" for r in ("viewer", "analyst")}
    for role, p in pw.items():
        add_user(stack, f"chat-{role}", role, p)
    return pw


@pytest.fixture(scope="module")
def analyst(console, users):
    return Client(console.url, "chat-analyst", users["analyst"])


@pytest.fixture(scope="module")
def a_ticket(stack, console):
    tag = unique("chat")
    stack.post_until_accepted("alertmanager", alertmanager_alert(f"ChatTicket {tag}", "ssh from 45.1.2.3",
                                                                 labels={"instance": "bastion-2"}))
    return ticket_of_alert(stack, tag)


def ticket_of_alert(stack, tag):
    """The ticket of the alert titled ...tag... (the model's analysis renames the ticket)."""
    def bound():
        rows = stack.pg.query("SELECT ticket_id::text AS id FROM alerts WHERE title LIKE %s AND ticket_id IS NOT NULL",
                              (f"%{tag}%",))
        return rows[0]["id"] if rows else None
    return wait_for(bound, scaled(90), 0.3, f"the ticket of the alert ...{tag}...")


def error_of(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    msg = r.json()["error"]
    assert isinstance(msg, str) and msg
    return msg


def script(tag, answer):
    """One tool call (the ticket's alerts), then the answer naming how many there were."""
    def play(view):
        if not called(view, "hutch_search_alerts"):
            return {"calls": [["hutch_search_alerts", {"limit": 5}]]}
        n = len(json.loads(last_results(view)[0]))
        return {"text": f"{answer} ({n} alert)"}
    return play


def requests_count(stack, ticket):
    return stack.pg.scalar("SELECT count(*) FROM agent_requests WHERE ticket_id = %s", (ticket,))


def test_ask_streams_the_turns_and_records_the_user(stack, llm, console, analyst, a_ticket):
    fake, model = llm
    tag = unique("q")
    question = f"Who is behind this? {tag}"
    model.by_tag[tag] = script(tag, f"A scanner, see the alert {tag}")
    stream = analyst.s.get(analyst.url + "/api/stream", stream=True, timeout=scaled(90))
    lines = stream.iter_lines(decode_unicode=True)
    assert next(lines) == "retry: 2000"
    r = analyst.post(f"/api/tickets/{a_ticket}/chat", {"text": question})
    assert r.status_code == 202, r.text
    rid = r.json()["request_id"]
    # the stream carries each stored turn of this question's session, as "chat" events,
    # the answer last
    sid = wait_for(lambda: stack.pg.scalar("SELECT session_id::text FROM agent_requests WHERE request_id = %s",
                                           (rid,)), scaled(90), 0.2, "the question's session")
    roles, deadline, event = [], time.monotonic() + scaled(90), None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "chat":
            e = json.loads(line[6:])
            if e["detail"] and e["detail"].get("session_id") == sid:
                assert e["ticket_id"] == a_ticket and e["kind"] == "chat"
                roles.append(e["detail"]["role"])
                if e["detail"]["role"] == "answer":
                    break
        assert time.monotonic() < deadline, f"the answer did not stream: {roles}"
    stream.close()
    assert [r for r in roles if r != "context"] == ["user", "assistant", "tool", "assistant", "answer"], roles
    doc = analyst.get(f"/api/tickets/{a_ticket}/chat").json()
    assert doc["model"] is True and doc["provider"] == "openai"
    [q] = [x for x in doc["requests"] if x["request_id"] == rid]
    assert q["requester"] == "chat-analyst" and q["question"] == question and q["state"] == "answered"
    assert q["answer"] == f"A scanner, see the alert {tag} (1 alert)" and q["session_status"] == "answered"
    roles = [t["role"] for t in q["turns"]]
    assert roles == ["assistant", "tool", "assistant"]
    tool = q["turns"][1]["content"]
    assert tool["name"] == "hutch_search_alerts" and "ChatTicket" in tool["result"]
    # the model saw the ticket and the question, and was offered no writing tool
    seen = [x for x in fake.requests if x["view"] and tag in x["view"]["messages"][0]["text"]]
    assert len(seen) == 2 and "ChatTicket" in seen[0]["view"]["messages"][0]["text"]
    assert "hutch_update_finding" not in seen[0]["view"]["tools"]
    recent = analyst.get("/api/chats").json()
    assert any(x["request_id"] == rid and x["ticket_id"] == a_ticket for x in recent)


def test_ask_needs_a_session_a_role_and_the_csrf_token(stack, console, users, analyst, a_ticket):
    before = requests_count(stack, a_ticket)
    url = f"/api/tickets/{a_ticket}/chat"
    error_of(requests.post(console.url + url, json={"text": "hi"}, timeout=10), 401)
    error_of(requests.get(console.url + url, timeout=10), 401)
    error_of(requests.get(console.url + "/api/chats", timeout=10), 401)
    viewer = Client(console.url, "chat-viewer", users["viewer"])
    error_of(viewer.post(url, {"text": "hi"}), 403)
    assert viewer.get(url).status_code == 200  # viewers read the chats
    error_of(analyst.post(url, {"text": "hi"}, csrf=False), 403)
    error_of(analyst.post(url, {"text": "hi"}, headers={"X-CSRF-Token": "wrong"}, csrf=False), 403)
    for body, want in (({}, "text"), ({"text": ""}, "text"), ({"text": "   \n"}, "text"), ({"text": 5}, "text"),
                       ({"text": "x" * 4001}, "4000"), ({"text": "a\u0000b"}, "")):
        assert want in error_of(analyst.post(url, body), 400), body
    error_of(analyst.s.post(analyst.url + url, data="{nope", timeout=10,
                            headers={"Content-Type": "application/json", "X-CSRF-Token": analyst.me["csrf"]}), 400)
    error_of(analyst.s.post(analyst.url + url, data="text=hi", timeout=10,
                            headers={"Content-Type": "application/x-www-form-urlencoded",
                                     "X-CSRF-Token": analyst.me["csrf"]}), 415)
    assert "no such ticket" in error_of(analyst.post(f"/api/tickets/{uuid.uuid4()}/chat", {"text": "hi"}), 404)
    error_of(analyst.get(f"/api/tickets/{uuid.uuid4()}/chat"), 404)
    error_of(analyst.get("/api/tickets/not-a-uuid/chat"), 400)
    time.sleep(1.5)  # anything sent would be recorded by now
    assert requests_count(stack, a_ticket) == before


def test_without_a_model_asking_is_refused(stack, users, a_ticket):
    svc = start_console(stack, name="console-nomodel")  # the stack's settings: HUTCH_LLM_PROVIDER unset = none
    try:
        c = Client(svc.url, "chat-analyst", users["analyst"])
        before = requests_count(stack, a_ticket)
        assert "no model is configured" in error_of(c.post(f"/api/tickets/{a_ticket}/chat", {"text": "hi"}), 409)
        doc = c.get(f"/api/tickets/{a_ticket}/chat").json()
        assert doc["model"] is False and doc["provider"] == "none"
        assert requests_count(stack, a_ticket) == before
    finally:
        stop_console(svc)


def test_chat_in_the_browser(stack, llm, console, users, a_ticket, browser):  # noqa: F811
    fake, model = llm
    tag = unique("web")
    model.by_tag[tag] = script(tag, f"<img src=x onerror=alert(1)> looks benign {tag}")
    d = browser
    sign_in(d, console.url, "chat-analyst", users["analyst"])
    d.get(f"{console.url}/tickets/{a_ticket}")
    wait(d).until(EC.presence_of_element_located((By.LINK_TEXT, "Chat with the agent about this ticket"))).click()
    box = wait(d).until(EC.presence_of_element_located((By.ID, "chat-text")))
    d.execute_script("window.__same_page = 'yes'")
    box.send_keys(f"Is this benign? {tag}")
    d.find_element(By.ID, "chat-send").click()
    # the question shows at once, the tool call folded, then the answer, all without a reload
    answer = f"<img src=x onerror=alert(1)> looks benign {tag} (1 alert)"
    # each stored turn redraws the conversation: an element read during a redraw is stale, and read again
    WebDriverWait(d, scaled(90), ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: any(answer == e.text for e in d.find_elements(By.CSS_SELECTOR, ".msg.agent p"))
        and not d.find_elements(By.CSS_SELECTOR, ".working"))  # the last redraw: answered
    assert d.execute_script("return window.__same_page") == "yes"
    tools = d.find_elements(By.CSS_SELECTOR, "details.tool")
    assert tools and "hutch_search_alerts" in tools[-1].find_element(By.TAG_NAME, "summary").text
    assert tools[-1].get_attribute("open") is None  # folded
    assert not d.find_elements(By.CSS_SELECTOR, "#chat-log img")  # the model's text is text
    tools[-1].find_element(By.TAG_NAME, "summary").click()
    assert "ChatTicket" in tools[-1].text
    shot(d, "console-chat.png", full=True)
    # the /chat page lists the question
    d.get(console.url + "/chat")
    wait(d).until(EC.presence_of_element_located((By.XPATH, f"//table[@id='chats']//td[text()='Is this benign? {tag}']")))


def test_the_page_says_when_no_model_is_configured(stack, users, a_ticket, browser):  # noqa: F811
    svc = start_console(stack, name="console-nomodel-web")
    try:
        d = browser
        sign_in(d, svc.url, "chat-analyst", users["analyst"])
        d.get(f"{svc.url}/tickets/{a_ticket}/chat")
        note = wait(d).until(EC.presence_of_element_located((By.ID, "chat-no-model")))
        assert "No model is configured" in note.text
        assert not d.find_elements(By.ID, "chat-text")
    finally:
        stop_console(svc)
