"""End-to-end: an alert goes through all six services (issue 2, "Tests").

HTTP and Kafka entrances, the rows each service writes (events, alerts, indicators,
tickets, ticket_alerts, notifications: common/migrations.c), and the refusals that
must write nothing (400, 413)."""
import json
import os
import re
import uuid

from hutch_e2e import (SHARED_FIXTURES, TOPIC_EVENTS_RAW, TOPIC_INGEST_JSON, guardduty_actor, guardduty_finding,
                       scaled)
import hutch_e2e

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def check_full_path(st, event_id, title, schema="guardduty"):
    """Rows of one alert from event to notification; returns (alert, ticket, notifications)."""
    [alert] = st.wait_alert_done(title)
    assert str(alert["event_id"]) == event_id

    [ev] = st.pg.query("SELECT * FROM events WHERE event_id = %s", (event_id,))
    assert ev["schema"] == schema
    assert ev["status"] == "accepted"
    assert ev["alert_count"] == 1
    assert ev["payload"]["title"] == title
    if schema == "guardduty":  # decided by the shipped policy (policies/ingest/guardduty.rego)
        assert ev["policy_package"] == "ingest.guardduty", ev["policy_package"]

    [a] = st.pg.query("SELECT * FROM alerts WHERE event_id = %s", (event_id,))
    assert a["schema"] == schema and a["title"] == title
    assert a["ticket_id"] is not None
    ip, instance = guardduty_actor(ev["payload"]) if schema == "guardduty" else (None, None)
    if schema == "guardduty":
        assert a["policy_package"] == "ingest.guardduty"
        attrs = {x["key"]: x["value"] for x in a["attributes"]}
        assert attrs.get("remote_ip") == ip and attrs.get("instance_id") == instance, attrs
    assert a["enriched_at"] is not None and a["clustered_at"] is not None

    inds = st.pg.query("SELECT type, value, unnest(paths) AS path FROM indicators WHERE alert_id = %s",
                       (a["alert_id"],))
    by = {}
    for i in inds:
        by.setdefault((i["type"], i["value"]), set()).add(i["path"])
    assert ("ipv4", ip) in by, inds
    assert any("ipAddressV4" in p for p in by[("ipv4", ip)]), by
    assert ("ipv4", "203.0.113.17") in by
    assert ("ipv6", "2001:db8::17") in by
    assert ("sha256", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08") in by
    assert ("url", "https://threatintel.example.net/report/ssh-brute") in by
    assert ("email", "platform-team@example.org") in by
    assert any(t == "domain" for t, _ in by), inds

    [t] = st.pg.query("SELECT * FROM tickets WHERE ticket_id = %s", (a["ticket_id"],))
    assert t["status"] == "open"
    assert t["alert_count"] == 1
    assert st.pg.scalar("SELECT count(*) FROM tickets WHERE title = %s", (title,)) == 1
    assert st.pg.scalar("SELECT count(*) FROM ticket_alerts WHERE alert_id = %s AND ticket_id = %s",
                        (a["alert_id"], a["ticket_id"])) == 1

    notes = st.pg.query("SELECT * FROM notifications WHERE ticket_id = %s", (a["ticket_id"],))
    assert len(notes) == 1, notes
    n = notes[0]
    assert n["kind"] == "new_ticket"
    assert str(n["alert_id"]) == str(a["alert_id"])
    assert n["target"] == "log"  # no Slack settings: rendered and recorded
    assert isinstance(n["message"], dict) and n["message"].get("blocks"), n["message"]
    assert title in json.dumps(n["message"])
    return a, t, notes


def test_guardduty_over_http(healthy):
    st = healthy
    finding = guardduty_finding()
    r = st.post_alert("guardduty", finding)
    assert r.status_code == 202, r.text
    event_id = r.json()["event_id"]
    assert UUID_RE.match(event_id)
    check_full_path(st, event_id, finding["title"])


def test_guardduty_over_kafka_ingest_topic(healthy):
    st = healthy
    finding = guardduty_finding()
    st.produce(TOPIC_INGEST_JSON, json.dumps(finding).encode(), key=finding["id"],
               headers=[("hutch-schema", b"guardduty")])
    [alert] = st.wait_alert_done(finding["title"])
    check_full_path(st, str(alert["event_id"]), finding["title"])


def test_shared_guardduty_samples_become_tickets(healthy):
    """The public GuardDuty samples (../shared/fixtures, read in place) all go through."""
    st = healthy
    d = os.path.join(SHARED_FIXTURES, "guardduty")
    if not os.path.isdir(d):
        import pytest
        pytest.skip(f"{d} not present")
    titles = []
    for name in sorted(os.listdir(d)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(d, name)) as f:
            doc = json.load(f)
        tag = uuid.uuid4().hex[:8]
        # a unique title so each sample is its own ticket in this shared database
        if "title" in doc:
            doc["title"] = f"{doc['title']} [e2e {tag}]"
            titles.append(doc["title"])
        elif isinstance(doc.get("detail"), dict) and "title" in doc["detail"]:
            doc["detail"]["title"] = f"{doc['detail']['title']} [e2e {tag}]"
            titles.append(doc["detail"]["title"])
        else:
            continue
        r = st.post_alert("guardduty", doc)
        assert r.status_code == 202, (name, r.text)
    assert titles
    for title in titles:
        st.wait_alert_done(title)


def _nothing_written(st, tail, marker, probe_title):
    """After a refused request: a later good alert goes through, and neither Kafka nor
    Postgres holds anything with the marker."""
    st.wait_alert_done(probe_title)
    seen = tail.read_all(1.0)
    assert not [m for m in seen if marker.encode() in (m.value() or b"")]
    assert st.pg.scalar("SELECT count(*) FROM events WHERE payload::text LIKE %s", (f"%{marker}%",)) == 0
    assert st.pg.scalar("SELECT count(*) FROM alerts WHERE title LIKE %s", (f"%{marker}%",)) == 0


def test_bad_json_is_refused_and_writes_nothing(healthy):
    st = healthy
    marker = f"badjson-{uuid.uuid4().hex}"
    tail = st.tail(TOPIC_EVENTS_RAW)
    try:
        for body in [f'{{"title": "{marker}", ', f'{marker}', f'{{"title": "{marker}"}} trailing']:
            r = st.post_alert("guardduty", body.encode())
            assert r.status_code == 400, (body, r.status_code, r.text)
        probe = guardduty_finding()
        assert st.post_alert("guardduty", probe).status_code == 202
        _nothing_written(st, tail, marker, probe["title"])
    finally:
        tail.close()


def test_oversize_body_is_refused_and_writes_nothing(healthy):
    st = healthy
    marker = f"oversize-{uuid.uuid4().hex}"
    tail = st.tail(TOPIC_EVENTS_RAW)
    try:
        # real GuardDuty findings (the shipped policy ignores anything else), padded
        doc = guardduty_finding(marker)
        big_title = doc["title"]
        doc["pad"] = ""
        base = len(json.dumps(doc))
        doc["pad"] = "x" * (1024 * 1024 + 1 - base)  # valid JSON of 1 MiB + 1 byte
        body = json.dumps(doc).encode()
        assert len(body) == 1024 * 1024 + 1
        r = st.post_alert("guardduty", body, timeout=scaled(30))
        assert r.status_code == 413, (r.status_code, r.text[:200])
        # just under the limit is fine
        small = guardduty_finding(f"{marker}-small")
        small["pad"] = ""
        small["pad"] = "y" * (1024 * 1024 - len(json.dumps(small)) - 64)
        r = st.post_alert("guardduty", small, timeout=scaled(30))
        assert r.status_code == 202, r.text
        st.wait_alert_done(small["title"])
        probe = guardduty_finding()
        assert st.post_alert("guardduty", probe).status_code == 202
        st.wait_alert_done(probe["title"])
        assert st.pg.scalar("SELECT count(*) FROM events WHERE payload->>'title' = %s", (big_title,)) == 0
        assert st.pg.scalar("SELECT count(*) FROM alerts WHERE title = %s", (big_title,)) == 0
        seen = tail.read_all(1.0)
        assert not [m for m in seen if f"[e2e {marker}]".encode() in (m.value() or b"")]
    finally:
        tail.close()


def test_http_errors(healthy):
    st = healthy
    import requests
    r = requests.get(f"{st.ingest_url}/hooks/alert/raw/guardduty", timeout=10)
    assert r.status_code == 405
    r = requests.post(f"{st.ingest_url}/nope", data="{}", timeout=10)
    assert r.status_code == 404
    for s in st.services.values():
        assert requests.get(s.url + "/healthz", timeout=5).status_code == 200
        m = requests.get(s.url + "/metrics", timeout=5)
        assert m.status_code == 200 and "# TYPE" in m.text, s.name


def test_bearer_tokens(healthy):
    """A second ingest with HUTCH_INGEST_TOKENS: 401 without or with a wrong token,
    nothing queued; 202 with a right one, and that alert goes through."""
    st = healthy
    import requests
    env = dict(st.env, HUTCH_INGEST_TOKENS="tok-one,tok-two")
    guarded = hutch_e2e.Service("ingest", st.base, env)
    guarded.start()
    try:
        guarded.wait_ready()
        url = f"{guarded.url}/hooks/alert/raw/guardduty"
        marker = f"token-{uuid.uuid4().hex}"
        body = json.dumps(guardduty_finding(marker))  # a finding the shipped policy accepts
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "tok-one"}):
            r = requests.post(url, data=body, headers=headers, timeout=10)
            assert r.status_code == 401, (headers, r.status_code, r.text)
        assert st.pg.scalar("SELECT count(*) FROM events WHERE payload::text LIKE %s", (f"%{marker}%",)) == 0
        r = requests.post(url, data=body, headers={"Authorization": "Bearer tok-two"}, timeout=10)
        assert r.status_code == 202, r.text
        event_id = r.json()["event_id"]
        hutch_e2e.wait_for(lambda: st.pg.scalar("SELECT count(*) FROM alerts WHERE event_id = %s", (event_id,)) == 1,
                           scaled(60), 0.2, "alert of the authorised event")
    finally:
        assert guarded.stop() == 0, guarded.log_tail()
