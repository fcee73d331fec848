"""The console's dead letters and the policy service's reload state (services/console/dlq.c,
the dashboard), on the real stack: a poison event (a policy whose rules conflict) is
dead-lettered by hutch-policy, reaches the console's DLQ page through its hutch.dlq
consumer, the policy is fixed (hot reload), the dead letter is replayed (by the API, and
in headless Chromium) and the event goes through, the replay recorded with the user.
Replay's API: auth, roles, CSRF, bad input (400), unknown ids (404), a source topic that
is not a Hutch input (409), nothing produced. The dashboard shows hutch-policy's own
reload state (a failed reload with its error, then the good one) and the threat-intel
quota.

For this module the stack's hutch-policy is swapped for one with a scratch policy
directory (test_policy.PolicyRig), and back at the end."""
import os
import uuid

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from console_harness import Client, add_user, start_console, stop_console, unique
from hutch_e2e import scaled, wait_for
from test_console_browser import browser, shot, sign_in, wait  # noqa: F401  (fixtures and helpers)
from test_policy import PolicyRig

BROKEN = """package ingest.e2e_dlqfix

import rego.v1

alerts := {{"title": "one"}} if input.boom

alerts := {{"title": "two"}} if input.boom
"""

FIXED = """package ingest.e2e_dlqfix

import rego.v1

alerts := {{"title": sprintf("fixed %s", [input.name])}}
"""


@pytest.fixture(scope="module")
def rig(stack):
    r = PolicyRig(stack)
    r.write("dlqfix.rego", BROKEN)
    r.start()
    yield r
    r.close()
    assert all(rc == 0 for rc in r.exit_codes), r.exit_codes


@pytest.fixture(scope="module")
def console(stack, rig):
    svc = start_console(stack, name="console-dlq")
    yield svc
    stop_console(svc)


@pytest.fixture(scope="module")
def users(stack):
    pw = {r: f"dlq-{r}-{uuid.uuid4().hex[:8]}" for r in ("viewer", "analyst")}
    for role, p in pw.items():
        add_user(stack, f"dlq-{role}", role, p)
    return pw


@pytest.fixture(scope="module")
def analyst(console, users):
    return Client(console.url, "dlq-analyst", users["analyst"])


def error_of(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    msg = r.json()["error"]
    assert isinstance(msg, str) and msg
    return msg


def event_status(stack, event_id):
    return stack.pg.scalar("SELECT status FROM events WHERE event_id = %s", (event_id,))


def poison(stack, analyst, name):
    """Posts an event the broken policy cannot decide; returns (event_id, its dead letter
    as GET /api/dlq lists it)."""
    r = stack.post_alert("e2e_dlqfix", {"boom": True, "name": name})
    assert r.status_code == 202, r.text
    event_id = r.json()["event_id"]
    wait_for(lambda: event_status(stack, event_id) == "dead", scaled(60), 0.2, "the event to be dead")

    def listed():
        doc = analyst.get("/api/dlq?topic=hutch.events.raw&limit=200").json()
        return next((d for d in doc["dead_letters"] if name in d["preview"]), None)
    return event_id, wait_for(listed, scaled(60), 0.3, "the dead letter on the DLQ page")


@pytest.fixture(scope="module")
def dead(stack, rig, analyst):
    """Two events dead-lettered by the broken policy, then the policy fixed."""
    a, b = unique("dlq-api"), unique("dlq-web") + "<img src=x onerror=alert(1)><b>bold</b>"
    got = {n: poison(stack, analyst, n) for n in (a, b)}
    gen = rig.generation()
    rig.write("dlqfix.rego", FIXED)
    rig.wait_generation(gen + 1)
    return {"api": (a, *got[a]), "web": (b, *got[b])}


def test_dead_letter_is_listed_with_its_reason(stack, analyst, dead):
    name, event_id, d = dead["api"]
    assert d["consumer"] == "hutch-policy" and d["source_topic"] == "hutch.events.raw"
    assert "eval_conflict_error" in d["reason"] and "ingest.e2e_dlqfix" in d["reason"]
    assert d["payload_size"] > 0 and d["replay_count"] == 0 and d["replayed_by"] is None
    one = analyst.get(f"/api/dlq/{d['dlq_id']}").json()
    assert one["dead_letter"]["dlq_id"] == d["dlq_id"] and one["payload_size"] == d["payload_size"]
    assert one["payload_base64"] and one["dead_letter"]["source_offset"] >= 0
    assert analyst.get("/api/dashboard").json()["dead_letters"] >= 2
    # filters and paging
    assert all(x["consumer"] == "hutch-policy" for x in analyst.get("/api/dlq?consumer=hutch-policy").json()["dead_letters"])
    assert analyst.get("/api/dlq?topic=nope.topic").json() == {"dead_letters": [], "next": None}
    page = analyst.get("/api/dlq?limit=1").json()
    assert len(page["dead_letters"]) == 1 and page["next"]
    nxt = analyst.get("/api/dlq?limit=1&after=" + page["next"]).json()
    assert nxt["dead_letters"][0]["dlq_id"] != page["dead_letters"][0]["dlq_id"]
    for q in ("limit=0", "limit=201", "after=yesterday", "topic=" + "t" * 201, "consumer=" + "c" * 101):
        error_of(analyst.get("/api/dlq?" + q), 400)
    error_of(analyst.get("/api/dlq/not-a-uuid"), 400)
    error_of(analyst.get(f"/api/dlq/{uuid.uuid4()}"), 404)


def test_replay_refusals_change_nothing(stack, console, users, analyst, dead):
    name, event_id, d = dead["api"]
    url = f"/api/dlq/{d['dlq_id']}/replay"
    error_of(requests.post(console.url + url, json={}, timeout=10), 401)
    error_of(requests.get(console.url + "/api/dlq", timeout=10), 401)
    viewer = Client(console.url, "dlq-viewer", users["viewer"])
    assert viewer.get("/api/dlq").status_code == 200  # viewers read
    error_of(viewer.post(url, {}), 403)
    error_of(analyst.post(url, {}, csrf=False), 403)
    error_of(analyst.post(url, {}, headers={"X-CSRF-Token": "x" * 43}, csrf=False), 403)
    error_of(analyst.s.post(analyst.url + url, data="{", timeout=10,
                            headers={"Content-Type": "application/json", "X-CSRF-Token": analyst.me["csrf"]}), 400)
    error_of(analyst.s.post(analyst.url + url, data="x", timeout=10,
                            headers={"Content-Type": "text/plain", "X-CSRF-Token": analyst.me["csrf"]}), 415)
    error_of(analyst.post(f"/api/dlq/{uuid.uuid4()}/replay", {}), 404)
    error_of(analyst.post("/api/dlq/nope/replay", {}), 404)
    error_of(analyst.post(f"/api/dlq/{d['dlq_id']}/explode", {}), 404)
    # a dead letter whose source is not a Hutch input topic is never produced anywhere
    odd = str(uuid.uuid4())
    stack.pg.query("INSERT INTO dead_letters (dlq_id, dead_at, source_topic, payload) VALUES (%s, now(),"
                   " 'hutch.dlq', '\\x00') RETURNING 1", (odd,))
    assert "cannot replay" in error_of(analyst.post(f"/api/dlq/{odd}/replay", {}), 409)
    stack.pg.query("DELETE FROM dead_letters WHERE dlq_id = %s RETURNING 1", (odd,))
    row = stack.pg.query("SELECT replay_count, replayed_by FROM dead_letters WHERE dlq_id = %s", (d["dlq_id"],))[0]
    assert row == {"replay_count": 0, "replayed_by": None}
    assert event_status(stack, event_id) == "dead"


def test_replay_after_the_fix_goes_through(stack, analyst, dead):
    name, event_id, d = dead["api"]
    r = analyst.post(f"/api/dlq/{d['dlq_id']}/replay", {})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["ok"] is True and doc["source_topic"] == "hutch.events.raw" and doc["replay_count"] == 1
    assert doc["replayed_by"] == "user:dlq-analyst"
    wait_for(lambda: event_status(stack, event_id) == "accepted", scaled(60), 0.2, "the replayed event accepted")
    assert stack.pg.scalar("SELECT title FROM alerts WHERE event_id = %s", (event_id,)) == f"fixed {name}"
    listed = [x for x in analyst.get("/api/dlq?topic=hutch.events.raw&limit=200").json()["dead_letters"]
              if x["dlq_id"] == d["dlq_id"]][0]
    assert listed["replay_count"] == 1 and listed["replayed_by"] == "user:dlq-analyst" and listed["replayed_at"]


def test_replay_in_the_browser(stack, console, users, dead, browser):  # noqa: F811
    name, event_id, d = dead["web"]
    b = browser
    sign_in(b, console.url, "dlq-analyst", users["analyst"])
    b.find_element(By.CSS_SELECTOR, "nav a[href='/dlq']").click()
    row = wait(b).until(EC.presence_of_element_located((By.CSS_SELECTOR, f"tr[data-id='{d['dlq_id']}']")))
    assert "eval_conflict_error" in row.find_element(By.CSS_SELECTOR, ".reason").text
    row.find_element(By.TAG_NAME, "summary").click()  # the payload, as text
    assert name in row.find_element(By.CSS_SELECTOR, "pre.preview").text
    assert not b.find_elements(By.CSS_SELECTOR, "#dead-letters img, #dead-letters b")
    shot(b, "console-dlq.png")
    row.find_element(By.CSS_SELECTOR, "button.replay").click()
    # the page is drawn again after the replay: an element read meanwhile is stale, and read again
    WebDriverWait(b, scaled(30), ignored_exceptions=[StaleElementReferenceException]).until(
        lambda b: "user:dlq-analyst" in b.find_element(By.CSS_SELECTOR, f"tr[data-id='{d['dlq_id']}'] .replayed").text)
    wait_for(lambda: event_status(stack, event_id) == "accepted", scaled(60), 0.2, "the replayed event accepted")
    # a viewer sees the list without the button
    b.find_element(By.ID, "signout").click()
    sign_in(b, console.url, "dlq-viewer", users["viewer"])
    b.get(console.url + "/dlq")
    wait(b).until(EC.presence_of_element_located((By.CSS_SELECTOR, f"tr[data-id='{d['dlq_id']}']")))
    assert not b.find_elements(By.CSS_SELECTOR, "button.replay")


def test_dashboard_shows_the_policy_service_reload_state_and_quota(stack, rig, users, analyst, dead, browser):  # noqa: F811
    def state():
        ps = analyst.get("/api/dashboard").json()["policy_service"]
        return ps[0] if len(ps) == 1 else None
    gen = rig.generation()
    ok = wait_for(lambda: (lambda s: s if s and s["generation"] == gen else None)(state()), scaled(20), 0.2,
                  "the policy service's state")
    assert ok["state"] == "ok" and ok["modules"] > 10 and ok["dir"] == rig.dir and ok["loaded_at"]
    assert "error" not in ok and ok["instance"]
    # a reload that fails: the service keeps its set and says why; the dashboard shows it
    rig.write("syntax.rego", "package ingest.e2e_syntax\n\nalerts := {{{\n")
    bad = wait_for(lambda: (lambda s: s if s and s["state"] == "stale" else None)(state()), scaled(20), 0.2,
                   "the failed reload on the dashboard")
    assert "syntax.rego" in bad["error"] and bad["failed_at"] and bad["generation"] == gen
    stack.pg.query("INSERT INTO intel_quota (provider, tokens, refilled_ms, day, day_used) VALUES ('e2e-dash', 3.5,"
                   " 1, 20000, 7) ON CONFLICT (provider) DO UPDATE SET day_used = 7, tokens = 3.5 RETURNING 1")
    quota = {q["provider"]: q for q in analyst.get("/api/dashboard").json()["intel_quota"]}
    assert quota["e2e-dash"]["used_today"] == 7 and float(quota["e2e-dash"]["tokens"]) == 3.5
    b = browser
    sign_in(b, analyst.url, "dlq-analyst", users["analyst"])
    err = wait(b).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#policy-state .policy-error")))
    assert "syntax.rego" in err.text
    assert "e2e-dash" in b.find_element(By.ID, "intel-quota").text
    shot(b, "console-dashboard-policy.png")
    os.remove(os.path.join(rig.dir, "e2e", "syntax.rego"))
    wait_for(lambda: (lambda s: s if s and s["state"] == "ok" and s["generation"] > gen else None)(state()),
             scaled(20), 0.2, "the good reload on the dashboard")
