"""The web console's JSON API (docs/API.md) on the real hutch-console, Postgres and
Kafka: sign-in and sessions, roles, CSRF, login rate limiting, trusted-header mode,
every read endpoint with its bad input (400 with a message), keyset paging (also over
100 000 tickets), the policy playground against `hutchctl policy decide`, the live
stream, and ticket changes through the ticket module."""
import http.client
import json
import time
import uuid

import pytest
import requests

from console_harness import (Client, add_user, stop_console, alertmanager_alert, hutchctl_decide, start_console,
                             unique, wait_ticket_titled)
from hutch_e2e import scaled, wait_for


@pytest.fixture(scope="module")
def console(stack):
    svc = start_console(stack)
    yield svc
    stop_console(svc)


@pytest.fixture(scope="module")
def users(stack):
    pw = {r: f"pw-{r}-{uuid.uuid4().hex[:8]}" for r in ("viewer", "analyst", "admin")}
    for role, p in pw.items():
        add_user(stack, f"api-{role}", role, p)
    return pw


@pytest.fixture(scope="module")
def analyst(console, users):
    return Client(console.url, "api-analyst", users["analyst"])


@pytest.fixture(scope="module")
def viewer(console, users):
    return Client(console.url, "api-viewer", users["viewer"])


@pytest.fixture(scope="module")
def a_ticket(stack, console):
    """A ticket from an alert posted to ingest (title unique to this module)."""
    tag = unique("api")
    stack.post_until_accepted("alertmanager", alertmanager_alert(f"ApiTicket {tag}", "from the console API test"))
    return wait_ticket_titled(stack, tag)


def error_of(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    msg = r.json()["error"]
    assert isinstance(msg, str) and msg
    return msg


# ---------------------------------------------------------------- sign-in

def test_everything_needs_a_session(console):
    for path in ("/api/me", "/api/dashboard", "/api/tickets", "/api/events", "/api/dlq", "/api/schemas",
                 f"/api/tickets/{uuid.uuid4()}", f"/api/alerts/{uuid.uuid4()}", "/api/stream"):
        assert "sign in" in error_of(requests.get(console.url + path, timeout=10), 401)
    r = requests.post(console.url + "/api/playground", json={"schema": "x", "event": {}}, timeout=10)
    error_of(r, 401)
    # the pages themselves load (they show the sign-in form), with the security headers
    r = requests.get(console.url + "/tickets", timeout=10)
    assert r.status_code == 200 and "<main" in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(console.url + "/app.js", timeout=10).headers["Content-Type"].startswith("text/javascript")
    conn = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
    for raw in ("/../../../../etc/os-release.txt", "/%2e%2e/%2e%2e/etc/os-release.txt", "/web/../../main.c"):
        conn.request("GET", raw)
        resp = conn.getresponse()
        assert resp.status in (400, 404) and b"NAME=" not in resp.read(), raw
    assert requests.get(console.url + "/.hidden.js", timeout=10).status_code == 404


def test_login_sets_a_strict_cookie_and_me(console, users):
    c = Client(console.url, "api-admin", users["admin"])
    cookie = c.login_response.headers["Set-Cookie"]
    assert cookie.startswith("hutch_session=")
    for attr in ("HttpOnly", "SameSite=Lax", "Path=/"):
        assert attr in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert "hutch_session" not in c.login_response.text  # the token is only in the cookie
    me = c.get("/api/me").json()
    assert me["name"] == "api-admin" and me["role"] == "admin" and len(me["csrf"]) == 43
    assert me["csrf"] == c.me["csrf"]


def test_secure_cookie_when_served_over_tls(stack, users):
    svc = start_console(stack, name="console-tls", HUTCH_CONSOLE_SECURE_COOKIES="1")
    try:
        c = Client(svc.url, "api-admin", users["admin"])
        assert "; Secure" in c.login_response.headers["Set-Cookie"]
    finally:
        stop_console(svc)


def test_wrong_password_and_bad_login_bodies(console, users):
    assert "wrong name or password" in error_of(
        requests.post(console.url + "/api/login", json={"name": "api-admin", "password": "nope-nope"}, timeout=30), 401)
    assert "wrong name or password" in error_of(
        requests.post(console.url + "/api/login", json={"name": "nobody-x", "password": "whatever1"}, timeout=30), 401)
    error_of(requests.post(console.url + "/api/login", json={"name": "api-admin"}, timeout=10), 400)
    error_of(requests.post(console.url + "/api/login", json=["api-admin"], timeout=10), 400)
    error_of(requests.post(console.url + "/api/login", data="{not json", timeout=10,
                           headers={"Content-Type": "application/json"}), 400)
    error_of(requests.post(console.url + "/api/login", data="name=x", timeout=10,
                           headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    error_of(requests.get(console.url + "/api/login", timeout=10), 405)
    time.sleep(3.2)  # let this test's failures age out of the 3 s window


def test_login_rate_limit(stack, users):
    """3 failures per 30 s (a console of its own: its window outlasts a slow machine).
    The window's end is unit-tested (services/console/test_console.c)."""
    svc = start_console(stack, name="console-limit", HUTCH_CONSOLE_LOGIN_LIMIT="3", HUTCH_CONSOLE_LOGIN_WINDOW="30s")
    try:
        name = unique("limited")
        pw = add_user(stack, name, "viewer", "right-password-1")
        for _ in range(3):
            error_of(requests.post(svc.url + "/api/login", json={"name": name, "password": "wrong-pass"}, timeout=30),
                     401)
        # over the limit even the right password is refused, with Retry-After
        r = requests.post(svc.url + "/api/login", json={"name": name, "password": pw}, timeout=30)
        assert "too many failed sign-ins" in error_of(r, 429)
        assert 1 <= int(r.headers["Retry-After"]) <= 30
        # the address is over its limit too: another account from it waits as well
        r = requests.post(svc.url + "/api/login", json={"name": "api-admin", "password": users["admin"]}, timeout=30)
        error_of(r, 429)
    finally:
        stop_console(svc)


def test_logout_ends_the_session(console, users):
    c = Client(console.url, "api-viewer", users["viewer"])
    assert c.get("/api/me").status_code == 200
    error_of(c.post("/api/logout", csrf=False), 403)
    r = c.post("/api/logout")
    assert r.status_code == 200 and "Max-Age=0" in r.headers["Set-Cookie"]
    error_of(c.get("/api/me"), 401)


def test_changed_password_ends_sessions(stack, console):
    name = unique("rotated")
    add_user(stack, name, "analyst", "first-password")
    c = Client(console.url, name, "first-password")
    add_user(stack, name, "viewer", "second-password")
    error_of(c.get("/api/me"), 401)
    assert Client(console.url, name, "second-password").me["role"] == "viewer"


def test_user_add_refuses_bad_input(stack):
    import os
    import subprocess
    from hutch_e2e import BIN_DIR
    exe = os.path.join(BIN_DIR, "hutchctl")
    for args, stdin, want in ((["user", "add", "--role", "root", "x"], "password-123\n", "--role"),
                              (["user", "add", "x"], "password-123\n", "--role"),
                              (["user", "add", "--role", "viewer", "bad name"], "password-123\n", "user name"),
                              (["user", "add", "--role", "viewer", "shortpw"], "short\n", "8 to 1024")):
        out = subprocess.run([exe, *args], input=stdin, capture_output=True, text=True, env=stack.env, timeout=60)
        assert out.returncode != 0 and want in out.stderr, (args, out.stderr)
    assert not stack.pg.query("SELECT 1 FROM console_users WHERE name IN ('x', 'bad name', 'shortpw')")
    row = stack.pg.query("SELECT password_hash FROM console_users WHERE name = 'api-admin'")[0]
    assert row["password_hash"].startswith("scrypt$15$8$1$")


# ---------------------------------------------------------------- trusted header

def test_trusted_header_only_from_trusted_proxies(stack, users):
    trusted = start_console(stack, name="console-sso", HUTCH_CONSOLE_TRUSTED_HEADER="X-Forwarded-User",
                            HUTCH_CONSOLE_TRUSTED_PROXIES="127.0.0.1")
    untrusted = start_console(stack, name="console-sso-no", HUTCH_CONSOLE_TRUSTED_HEADER="X-Forwarded-User",
                              HUTCH_CONSOLE_TRUSTED_PROXIES="10.9.8.7")
    try:
        h = {"X-Forwarded-User": "api-analyst"}
        me = requests.get(trusted.url + "/api/me", headers=h, timeout=10).json()
        assert me == {"name": "api-analyst", "role": "analyst", "csrf": me["csrf"], "trusted_header": True}
        # an SSO user without an account gets HUTCH_CONSOLE_TRUSTED_ROLE (viewer)
        sso = requests.get(trusted.url + "/api/me", headers={"X-Forwarded-User": "sso-only"}, timeout=10).json()
        assert sso["role"] == "viewer"
        # changes still need the CSRF token
        body = {"schema": "alertmanager", "event": alertmanager_alert("x")}
        error_of(requests.post(trusted.url + "/api/playground", json=body, headers=h, timeout=10), 403)
        r = requests.post(trusted.url + "/api/playground", json=body, headers={**h, "X-CSRF-Token": me["csrf"]},
                          timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "accepted"
        # from a peer that is not a trusted proxy the header means nothing
        error_of(requests.get(untrusted.url + "/api/me", headers=h, timeout=10), 401)
    finally:
        stop_console(trusted)
        stop_console(untrusted)


# ---------------------------------------------------------------- roles and CSRF

def test_csrf_is_required_for_every_change(analyst, a_ticket):
    body = {"schema": "alertmanager", "event": alertmanager_alert("csrf")}
    assert "X-CSRF-Token" in error_of(analyst.post("/api/playground", body, csrf=False), 403)
    assert "X-CSRF-Token" in error_of(analyst.post("/api/playground", body, headers={"X-CSRF-Token": "x" * 43},
                                                   csrf=False), 403)
    error_of(analyst.post(f"/api/tickets/{a_ticket}/assign", {"assignee": "me"}, csrf=False), 403)
    assert analyst.post("/api/playground", body).status_code == 200


def test_viewers_cannot_change_anything(stack, viewer, a_ticket):
    before = stack.pg.query("SELECT to_jsonb(t) AS t FROM tickets t WHERE ticket_id = %s", (a_ticket,))[0]["t"]
    for verb, body in (("resolve", {"conclusion": "false_positive", "reason": "viewer"}), ("assign", {"assignee": "v"}),
                       ("reopen", {}), ("edit", {"title": "viewer was here"}), ("merge", {"source": str(uuid.uuid4())}),
                       ("salvage", {"threshold": 0.9, "dry_run": True})):
        assert "viewers cannot" in error_of(viewer.post(f"/api/tickets/{a_ticket}/{verb}", body), 403)
    assert "viewers cannot" in error_of(viewer.post("/api/playground", {"schema": "x", "event": {}}), 403)
    after = stack.pg.query("SELECT to_jsonb(t) AS t FROM tickets t WHERE ticket_id = %s", (a_ticket,))[0]["t"]
    assert after == before
    # reading is fine
    assert viewer.get(f"/api/tickets/{a_ticket}").status_code == 200


# ---------------------------------------------------------------- reads

def test_dashboard(analyst, a_ticket):
    d = analyst.get("/api/dashboard").json()
    assert d["open_tickets"] >= 1 and sum(d["open_by_severity"].values()) == d["open_tickets"]
    assert any(r["source"] == "alertmanager" and r["count"] >= 1 for r in d["alerts_per_hour"])
    assert d["playground_policy"]["modules"] > 10 and d["playground_policy"]["error"] is None
    # hutch-policy's own reload state (service_state), written within a second of its start
    [p] = d["policy_service"]
    assert p["state"] == "ok" and p["modules"] > 10 and p["generation"] >= 1 and p["loaded_at"]
    assert isinstance(d["dead_events"], int) and isinstance(d["dead_letters"], int)
    assert isinstance(d["intel_quota"], list)
    assert isinstance(d["ignored_reasons"], list)


def test_ticket_detail_and_alert_detail(stack, analyst, a_ticket):
    d = analyst.get(f"/api/tickets/{a_ticket}").json()
    assert d["ticket"]["ticket_id"] == a_ticket and d["ticket"]["title"].startswith("ApiTicket")
    assert len(d["alerts"]) == 1
    alert = d["alerts"][0]
    assert alert["schema"] == "alertmanager" and alert["policy_package"] == "ingest.alertmanager"
    assert any(a["key"] == "alertname" for a in alert["attributes"])
    assert isinstance(d["similar"], list)
    a = analyst.get(f"/api/alerts/{alert['alert_id']}").json()
    assert a["alert"]["alert_id"] == alert["alert_id"]
    assert a["payload"]["receiver"] == "hutch" and a["event"]["status"] == "accepted"
    assert a["event"]["policy_package"] == "ingest.alertmanager"
    assert a["ticket"]["ticket_id"] == a_ticket
    error_of(analyst.get("/api/tickets/not-a-uuid"), 400)
    error_of(analyst.get(f"/api/tickets/{uuid.uuid4()}"), 404)
    error_of(analyst.get("/api/alerts/123"), 400)
    error_of(analyst.get(f"/api/alerts/{uuid.uuid4()}"), 404)
    error_of(analyst.get(f"/api/events/{uuid.uuid4()}"), 404)
    e = analyst.get(f"/api/events/{a['event']['event_id']}").json()
    assert e["payload"] == a["payload"] and e["alert_ids"] == [alert["alert_id"]]


def test_events_filters_and_reasons(stack, analyst):
    tag = unique("ignored")
    body = alertmanager_alert(f"Watchdog")
    body["alerts"][0]["labels"]["tag"] = tag
    ev = stack.post_until_accepted("alertmanager", body)
    wait_for(lambda: stack.pg.scalar("SELECT status FROM events WHERE event_id = %s", (ev,)) == "ignored",
             scaled(60), 0.3, "the heartbeat to be ignored")
    doc = analyst.get("/api/events?status=ignored&schema=alertmanager&limit=200").json()
    mine = [e for e in doc["events"] if e["event_id"] == ev]
    assert mine and "heartbeat alert Watchdog" in mine[0]["reason"]
    assert all(e["status"] == "ignored" and e["schema"] == "alertmanager" for e in doc["events"])
    assert analyst.get("/api/schemas").json().count("alertmanager") == 1
    error_of(analyst.get("/api/events?status=lost"), 400)
    error_of(analyst.get("/api/events?schema=" + "x" * 101), 400)
    dlq = analyst.get("/api/dlq").json()
    assert isinstance(dlq["dead_letters"], list) and "next" in dlq  # test_console_dlq.py has the rest


def test_paging_limits_and_bad_filters(analyst):
    for q in ("limit=0", "limit=201", "limit=abc", "limit=-1", "after=yesterday", "after=2026-01-01T00:00:00Z,nope",
              "status=pending", "severity=urgent", "sort=title", "order=sideways", "q=" + "x" * 201):
        error_of(analyst.get("/api/tickets?" + q), 400)
    assert len(analyst.get("/api/tickets?limit=1").json()["tickets"]) <= 1


def test_keyset_paging_over_100k_tickets(stack, analyst):
    """100 000 tickets of a namespace of their own: every page is the next slice with no
    gap or repeat, the last page is as quick as the first."""
    ns = unique("bulk")
    stack.pg.query(
        "INSERT INTO tickets (ticket_id, title, status, severity, namespace, created_at, last_alert_at)"
        " SELECT gen_random_uuid(), 'bulk ticket ' || g || ' " + ns + "', 'resolved', 'low', %s,"
        " now() - g * interval '1 second', now() - g * interval '1 second' FROM generate_series(1, 100000) g",
        (ns,))
    try:
        # walk the first 1 000 with pages of 200 under a search filter: in order, no repeats
        seen, after, pages = [], None, 0
        while len(seen) < 1000:
            url = f"/api/tickets?status=resolved&q={ns}&limit=200" + (f"&after={after}" if after else "")
            doc = analyst.get(url).json()
            seen += [t["ticket_id"] for t in doc["tickets"]]
            after = doc["next"]
            pages += 1
        assert len(seen) == len(set(seen)) == 1000 and pages == 5
        want = [r["id"] for r in stack.pg.query(
            "SELECT ticket_id::text AS id FROM tickets WHERE namespace = %s ORDER BY last_alert_at DESC, ticket_id DESC"
            " LIMIT 1000", (ns,))]
        assert seen == want
        # deep page: the cursor of the 99 950th ticket, unfiltered
        deep = stack.pg.query(
            "SELECT to_char(last_alert_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ',' || ticket_id AS c"
            " FROM tickets WHERE namespace = %s ORDER BY last_alert_at DESC, ticket_id DESC OFFSET 99949 LIMIT 1",
            (ns,))[0]["c"]
        t0 = time.monotonic()
        first = analyst.get("/api/tickets?limit=50")
        t_first = time.monotonic() - t0
        t0 = time.monotonic()
        doc = analyst.get(f"/api/tickets?limit=50&after={deep}").json()
        t_deep = time.monotonic() - t0
        assert first.status_code == 200
        assert [t["title"] for t in doc["tickets"] if ns in t["title"]][:50] == \
            [f"bulk ticket {g} {ns}" for g in range(99951, 100001)]
        print(f"keyset page over 100k tickets: first {t_first * 1000:.0f} ms, at 99 950 {t_deep * 1000:.0f} ms")
        assert t_deep < scaled(1.0)
    finally:
        stack.pg.query("DELETE FROM tickets WHERE namespace = %s", (ns,))


# ---------------------------------------------------------------- playground

def test_playground_decides_like_hutchctl(analyst):
    event = alertmanager_alert("PlaygroundAlert", "decided in the console")
    got = analyst.post("/api/playground", {"schema": "alertmanager", "event": event}).json()
    assert got == hutchctl_decide("alertmanager", event)
    assert got["status"] == "accepted" and got["alerts"][0]["title"] == "PlaygroundAlert: decided in the console"
    # the event as pasted text is the same
    assert analyst.post("/api/playground", {"schema": "alertmanager", "event": json.dumps(event)}).json() == got
    ignored = analyst.post("/api/playground", {"schema": "alertmanager", "event": alertmanager_alert("Watchdog")}).json()
    assert ignored["status"] == "ignored" and "heartbeat" in ignored["reason"] and ignored["alerts"] == []


def test_playground_bad_input(analyst):
    assert "not valid JSON" in error_of(analyst.post("/api/playground", {"schema": "alertmanager", "event": "{oops"}),
                                        400)
    error_of(analyst.post("/api/playground", {"event": {}}), 400)
    error_of(analyst.post("/api/playground", {"schema": "", "event": {}}), 400)
    error_of(analyst.post("/api/playground", {"schema": "../etc", "event": {}}), 400)
    error_of(analyst.post("/api/playground", {"schema": "alertmanager"}), 400)
    error_of(analyst.post("/api/playground", {"schema": 5, "event": {}}), 400)
    r = analyst.s.post(analyst.url + "/api/playground", data="[1]", timeout=10,
                       headers={"Content-Type": "application/json", "X-CSRF-Token": analyst.me["csrf"]})
    error_of(r, 400)


def test_unknown_api_and_methods(analyst):
    error_of(analyst.get("/api/nothing"), 404)
    error_of(analyst.post("/api/nothing", {}), 404)
    error_of(analyst.s.delete(analyst.url + "/api/tickets", timeout=10), 405)
    error_of(analyst.get("/api/chat"), 404)
    error_of(analyst.get(f"/api/tickets/{uuid.uuid4()}/nothing"), 404)


# ---------------------------------------------------------------- live stream

def test_stream_pushes_ticket_events(stack, analyst):
    tag = unique("live")
    r = analyst.s.get(analyst.url + "/api/stream", stream=True, timeout=scaled(60))
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
    lines = r.iter_lines(decode_unicode=True)
    assert next(lines) == "retry: 2000"
    stack.post_until_accepted("alertmanager", alertmanager_alert(f"LiveTicket {tag}"))
    ticket = wait_ticket_titled(stack, tag)
    deadline = time.monotonic() + scaled(60)
    event = None
    for line in lines:
        if line.startswith("data: ") and ticket in line:
            event = json.loads(line[6:])
            break
        assert time.monotonic() < deadline, "no ticket event on the stream"
    r.close()
    assert event["ticket_id"] == ticket and event["kind"]


# ---------------------------------------------------------------- ticket changes

def test_ticket_change_bad_input_changes_nothing(stack, analyst, a_ticket):
    before = stack.pg.query("SELECT to_jsonb(t) AS t FROM tickets t WHERE ticket_id = %s", (a_ticket,))[0]["t"]
    base = f"/api/tickets/{a_ticket}/"
    cases = (("resolve", {}, "conclusion is required"), ("resolve", {"conclusion": "maybe"}, "conclusion must be"),
             ("resolve", {"conclusion": 3}, "conclusion must be a string"),
             ("assign", {}, "assignee is required"), ("assign", {"assignee": "x" * 101}, "at most 100"),
             ("edit", {}, "title or description"), ("edit", {"title": ""}, "cannot be empty"),
             ("severity", {"severity": "urgent"}, "severity must be"),
             ("merge", {"source": "nope"}, "source must be"), ("merge", {"source": a_ticket}, "another ticket"),
             ("unmerge", {"alert_ids": []}, "alert_ids"), ("unmerge", {"alert_ids": ["x"]}, "UUID"),
             ("salvage", {"threshold": 2}, "threshold"), ("salvage", {"threshold": 0.5, "dry_run": "yes"}, "dry_run"),
             ("salvage", {"threshold": 0.5, "window_hours": -1}, "window_hours"))
    for verb, body, want in cases:
        assert want in error_of(analyst.post(base + verb, body), 400), (verb, body)
    error_of(analyst.post(base + "explode", {}), 404)
    error_of(analyst.s.post(analyst.url + base + "resolve", data="nope", timeout=10,
                            headers={"Content-Type": "application/json", "X-CSRF-Token": analyst.me["csrf"]}), 400)
    after = stack.pg.query("SELECT to_jsonb(t) AS t FROM tickets t WHERE ticket_id = %s", (a_ticket,))[0]["t"]
    assert after == before


def test_ticket_changes_go_through_the_ticket_module(stack, analyst):
    tag = unique("change")
    stack.post_until_accepted("alertmanager", alertmanager_alert(f"ChangeMe {tag}"))
    ticket = wait_ticket_titled(stack, tag)
    base = f"/api/tickets/{ticket}/"
    assert analyst.post(base + "assign", {"assignee": "api-analyst"}).json()["ok"] is True
    assert analyst.post(base + "resolve", {"conclusion": "false_positive", "reason": "lab noise"}).status_code == 200
    # resolving twice is refused by the module (409), nothing changes
    assert error_of(analyst.post(base + "resolve", {"conclusion": "intended"}), 409)
    d = analyst.get(f"/api/tickets/{ticket}").json()
    assert d["ticket"]["status"] == "resolved"
    kinds = [(h["actor"], h["kind"]) for h in d["history"]]
    assert ("user:api-analyst", "assigned") in kinds and ("user:api-analyst", "resolved") in kinds
    resolved = [h for h in d["history"] if h["kind"] == "resolved"][0]
    assert resolved["detail"] == {"conclusion": "false_positive", "reason": "lab noise"}
    assert d["ticket"]["conclusion"] == "false_positive" and d["ticket"]["assignee"] == "api-analyst"
    assert analyst.post(base + "reopen", {}).status_code == 200
    assert analyst.get(f"/api/tickets/{ticket}").json()["ticket"]["status"] == "open"
    error_of(analyst.post(f"/api/tickets/{uuid.uuid4()}/reopen", {}), 409)


def test_edit_severity_merge_unmerge_salvage_archive(stack, analyst):
    tags = [unique("merge"), unique("merge")]
    for t in tags:
        stack.post_until_accepted("alertmanager", alertmanager_alert(f"MergeCase {t}", labels={"severity": "warning"}))
    target, source = (wait_ticket_titled(stack, t) for t in tags)
    stack.wait_agent_summary(target)  # the agent's template summary before the analyst's edit
    tb, sb = f"/api/tickets/{target}/", f"/api/tickets/{source}/"
    me = "user:api-analyst"

    assert analyst.post(tb + "edit", {"title": f"Renamed {tags[0]}", "description": "<b>two</b> lines\nhere"}).ok
    assert analyst.post(tb + "severity", {"severity": "critical"}).ok
    t = analyst.get(f"/api/tickets/{target}").json()["ticket"]
    assert t["title"] == f"Renamed {tags[0]}" and t["description"] == "<b>two</b> lines\nhere"
    assert t["severity"] == "critical"

    # the source's alert joins the target; the source is resolved, merged into it
    source_alert = analyst.get(f"/api/tickets/{source}").json()["alerts"][0]["alert_id"]
    assert analyst.post(tb + "merge", {"source": source}).ok
    d = analyst.get(f"/api/tickets/{target}").json()
    assert source_alert in [a["alert_id"] for a in d["alerts"]] and len(d["alerts"]) == 2
    s = analyst.get(f"/api/tickets/{source}").json()["ticket"]
    assert s["status"] == "resolved" and s["merged_into"] == target
    error_of(analyst.post(tb + "merge", {"source": source}), 409)  # merged already: refused

    # unmerge sends it back to the ticket it came from, reopened
    r = analyst.post(tb + "unmerge", {"alert_ids": [source_alert]}).json()
    assert r == {"ok": True, "ticket_id": source}
    assert analyst.get(f"/api/tickets/{source}").json()["ticket"]["status"] == "open"
    error_of(analyst.post(tb + "unmerge", {"alert_ids": [str(uuid.uuid4())]}), 409)

    # salvage: a dry run counts and binds nothing (without embeddings of the ticket's
    # alerts the module refuses, saying so)
    before = len(analyst.get(f"/api/tickets/{target}").json()["alerts"])
    r = analyst.post(tb + "salvage", {"threshold": 0.99, "keyword": tags[0], "dry_run": True})
    if stack.pg.scalar("SELECT count(*) FROM embeddings e JOIN alerts a USING (alert_id) WHERE a.ticket_id = %s",
                       (target,)):
        assert r.status_code == 200 and r.json()["dry_run"] is True and isinstance(r.json()["count"], int), r.text
    else:
        assert "no embedded alerts" in error_of(r, 409)
    assert len(analyst.get(f"/api/tickets/{target}").json()["alerts"]) == before

    assert analyst.post(sb + "archive", {}).ok
    assert analyst.get(f"/api/tickets/{source}").json()["ticket"]["status"] == "archived"
    kinds = {(h["actor"], h["kind"]) for h in analyst.get(f"/api/tickets/{target}").json()["history"]}
    assert {(me, "edited"), (me, "severity"), (me, "merged"), (me, "unmerged")} <= kinds
    assert analyst.get(f"/api/tickets?status=archived&q={tags[1]}").json()["tickets"][0]["ticket_id"] == source
