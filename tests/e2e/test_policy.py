"""End-to-end: the policy service decides raw events with the Rego policies of
HUTCH_POLICY_DIR (services/policy: rules.h, reload.h, store.c).

Through the real binaries, Kafka and Postgres of the session's stack. For this module
the stack's hutch-policy is swapped for one whose HUTCH_POLICY_DIR is a scratch copy
of policies/ plus the test's own policies (tests may edit it: hot reload), run with
HUTCH_POLICY_STRICT=1 and HUTCH_POLICY_RELOAD_INTERVAL=500ms; the session's own
hutch-policy is back at the end of the module. Each test keeps to its own schemas
and unique names, so the tests do not see each other's events."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest
import requests

import hutch_e2e
from hutch_e2e import (BIN_DIR, ROOT, TOPIC_ALERTS_ACCEPTED, TOPIC_DLQ, TOPIC_EVENTS_RAW, decode_alert,
                       decode_dead_letter, read_metrics, scaled, wait_for)

SHIPPED = os.path.join(ROOT, "policies")

WARREN = """package ingest.e2e_warren

import rego.v1

ignore contains sprintf("benign marker %s", [input.name]) if input.benign

alerts contains {
	"title": sprintf("warren %s part %d", [input.name, i]),
	"description": sprintf("part %d of %s", [i, input.name]),
	"attributes": [
		{"key": "host", "value": input.host},
		{"key": "part", "value": i, "link": sprintf("https://e2e.example.org/%s/%d", [input.name, i])},
	],
	"tags": ["e2e", sprintf("part-%d", [i])],
} if {
	not input.benign
	some i in [1, 2]
}
"""

# AlertChain, Rego v0 syntax as in AlertChain's examples
CHAIN = """package alert.e2e_chain

alert[res] {
	res := {
		"title": sprintf("chain %s", [input.name]),
		"source": "e2e",
		"namespace": sprintf("e2e/user/%s", [input.user]),
		"attrs": attrs,
	}
}

attrs = a {
	input.session
	a := [
		{"key": "session", "value": input.session, "type": "session_id", "persist": true, "ttl": 3600},
		{"key": "ip", "value": input.ip, "type": "ip_addr"},
	]
}

attrs = a {
	not input.session
	a := [{"key": "ip", "value": input.ip, "type": "ip_addr"}]
}
"""

CONFLICT = """package ingest.e2e_conflict

import rego.v1

alerts := {{"title": "conflict one"}} if input.boom

alerts := {{"title": "conflict two"}} if input.boom

alerts := {{"title": sprintf("fine %s", [input.name])}} if not input.boom
"""

# a bad alert shape: a title that is not a string
SHAPE = """package ingest.e2e_shape

import rego.v1

alerts contains {"title": 42, "description": input.name}
"""


def versioned(package, version, parts=1):
    """A Warren policy whose alert titles carry `version` ("<package> <version> <name> p<i>")."""
    return f"""package ingest.{package}

import rego.v1

version := "{version}"

alerts contains {{
	"title": sprintf("{package} %s %s p%d", [version, input.name, i]),
	"attributes": [{{"key": "policy_version", "value": version}}],
}} if {{
	is_string(input.name)
	some i in numbers.range(1, {parts})
}}
"""


# copies the input's numbers into attributes (valid JSON beyond int64/double, issue 15)
NUMBERS = """package ingest.e2e_numbers

import rego.v1

alerts contains {
	"title": sprintf("numbers %s", [input.name]),
	"attributes": [{"key": k, "value": input[k]} | some k in ["id", "big", "huge", "neg0", "tiny"]],
}
"""

# line 6 has the syntax error (reported as .../e2e/reload.rego:6:16)
BROKEN_RELOAD = """package ingest.e2e_reload

import rego.v1

alerts contains {"title": "never"} if {
	input.name == == "x"
}
"""


class PolicyRig:
    """The module's hutch-policy and its scratch policy directory."""

    def __init__(self, st):
        self.st = st
        self.dir = os.path.join(st.base, f"policies-e2e-{uuid.uuid4().hex[:6]}")
        shutil.copytree(SHIPPED, self.dir, ignore=shutil.ignore_patterns("test"))
        os.makedirs(os.path.join(self.dir, "e2e"))
        self.original = st.services["policy"]
        self.svc = None
        self.exit_codes = []

    def write(self, name, text):
        """Writes e2e/<name> whole (a hidden temp file renamed: the watcher never reads half a file)."""
        path = os.path.join(self.dir, "e2e", name)
        tmp = os.path.join(self.dir, "e2e", f".{name}.{uuid.uuid4().hex[:6]}")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)

    def start(self, **env):
        """(Re)starts the module's hutch-policy with the scratch dir and env overrides."""
        if self.svc is None:
            self.original.stop()
        else:
            self.stop()
        e = dict(self.st.env, HUTCH_POLICY_DIR=self.dir, HUTCH_POLICY_STRICT="1",
                 HUTCH_POLICY_RELOAD_INTERVAL="500ms")
        e.update(env)
        self.svc = hutch_e2e.Service("policy", self.st.base, e)
        self.st.services["policy"] = self.svc  # failure reports show its log
        self.svc.start()
        self.svc.wait_ready()
        # ready (Postgres, Kafka) a moment before the policy set is loaded and shown
        hutch_e2e.wait_for(lambda: "policy" in self.readyz()[1], scaled(30), 0.1, "the policy state in /readyz")

    def stop(self):
        rc = self.svc.stop()
        self.exit_codes.append(rc)
        return rc

    def close(self):
        if self.svc is not None:
            self.stop()
        self.st.services["policy"] = self.original
        self.original.start()
        self.original.wait_ready()

    # observation
    @property
    def url(self):
        return self.svc.url

    def readyz(self):
        r = requests.get(self.url + "/readyz", timeout=5)
        return r.status_code, r.json()

    def policy_state(self):
        code, doc = self.readyz()
        assert code == 200, (code, doc)
        return doc["policy"]

    def generation(self):
        return self.policy_state()["generation"]

    def wait_generation(self, n, timeout=None):
        return wait_for(lambda: self.generation() >= n, timeout or scaled(20), 0.1, f"policy generation {n}")

    def metrics(self):
        return read_metrics(self.url)


@pytest.fixture(scope="module")
def rig(stack):
    r = PolicyRig(stack)
    for name, text in [("redeliver.rego", versioned("e2e_redeliver", "r1")), ("warren.rego", WARREN), ("chain.rego", CHAIN), ("conflict.rego", CONFLICT), ("shape.rego", SHAPE), ("numbers.rego", NUMBERS),
                       ("reload.rego", versioned("e2e_reload", "v1")),
                       ("stream.rego", versioned("e2e_stream", "s1", parts=2))]:
        r.write(name, text)
    r.start()
    yield r
    r.close()
    bad = [rc for rc in r.exit_codes if rc != 0]
    assert not bad, f"hutch-policy (scratch policies) did not exit 0 on SIGTERM: {r.exit_codes}"


@pytest.fixture
def pol(rig):
    """The rig, its service alive and ready (a failed test may have left it down)."""
    if not rig.svc.alive():
        rig.svc.start()
    rig.svc.wait_ready()
    return rig


# --- helpers ------------------------------------------------------------------------

def post(st, schema, body):
    r = st.post_alert(schema, body)
    assert r.status_code == 202, (schema, r.status_code, r.text)
    return r.json()["event_id"]


def wait_event(st, event_id, timeout=None):
    """The events row of event_id once policy decided it (accepted, ignored or dead)."""
    def decided():
        rows = st.pg.query("SELECT * FROM events WHERE event_id = %s", (event_id,))
        return rows if rows and rows[0]["status"] in ("accepted", "ignored", "dead") else None
    [row] = wait_for(decided, timeout or scaled(60), 0.2, f"events row of {event_id}")
    return row


def alerts_of(st, event_id):
    return st.pg.query("SELECT * FROM alerts WHERE event_id = %s ORDER BY title", (event_id,))


def attrs_by_key(attributes):
    out = {}
    for a in attributes:
        out.setdefault(a["key"], []).append(a)
    return out


def read_alert_messages(tail, event_ids, count, timeout):
    """Alert messages of hutch.alerts.accepted for event_ids: waits for `count`, then
    reads 1 s more (anything doubled shows). [(key, decoded Alert)]."""
    want, got = set(event_ids), []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(got) < count:
        m = tail.c.poll(0.3)
        if m is None or m.error():
            continue
        a = decode_alert(m.value())
        if a["event_id"] in want:
            got.append((m.key(), a))
    for m in tail.read_all(1.0):
        a = decode_alert(m.value())
        if a["event_id"] in want:
            got.append((m.key(), a))
    return got


def log_events(path, event):
    """The JSON log lines of a service log whose "event" is `event`."""
    with open(path, errors="replace") as f:
        return [json.loads(line) for line in f if f'"{event}"' in line and line.startswith("{")
                and json.loads(line).get("event") == event]


def hutchctl(st, *args):
    env = dict(os.environ, HUTCH_DATABASE_URL=st.pg.url, HUTCH_KAFKA_BROKERS=st.broker.brokers)
    return subprocess.run([os.path.join(BIN_DIR, "hutchctl"), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def hutchctl_has(*words):
    exe = os.path.join(BIN_DIR, "hutchctl")
    if not os.access(exe, os.X_OK):
        return False
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
    return all(w in out.stdout + out.stderr for w in words)


# --- 1. Warren policies: alerts as the policy says, ignored events recorded ---------

def test_warren_policy_alerts_and_ignore(pol):
    st = pol.st
    tag = uuid.uuid4().hex[:10]
    tail = st.tail(TOPIC_ALERTS_ACCEPTED)
    try:
        host = f"host-{tag}.example.org"
        ev = post(st, "e2e_warren", {"name": f"two-{tag}", "host": host})
        ign = post(st, "e2e_warren", {"name": f"calm-{tag}", "host": host, "benign": True})

        row = wait_event(st, ev)
        assert row["status"] == "accepted" and row["alert_count"] == 2, row
        assert row["policy_package"] == "ingest.e2e_warren" and row["schema"] == "e2e_warren"
        alerts = alerts_of(st, ev)
        assert [a["title"] for a in alerts] == [f"warren two-{tag} part 1", f"warren two-{tag} part 2"], alerts
        for i, a in enumerate(alerts, 1):
            assert a["description"] == f"part {i} of two-{tag}"
            assert a["policy_package"] == "ingest.e2e_warren"
            assert sorted(a["tags"]) == sorted(["e2e", f"part-{i}"])
            by = attrs_by_key(a["attributes"])
            assert [x["value"] for x in by["host"]] == [host], a["attributes"]
            assert [x["value"] for x in by["part"]] == [str(i)], a["attributes"]
            assert by["part"][0]["link"] == f"https://e2e.example.org/two-{tag}/{i}"
        assert len({a["alert_id"] for a in alerts}) == 2

        msgs = read_alert_messages(tail, [ev, ign], 2, scaled(30))
        assert len(msgs) == 2, msgs
        assert sorted(a["title"] for _, a in msgs) == [a["title"] for a in alerts]
        ids = {str(a["alert_id"]) for a in alerts}
        for key, a in msgs:
            assert a["alert_id"] in ids and a["event_id"] == ev
            assert key == a["alert_id"].encode(), "an alert without namespace is keyed by its alert id"
            assert a["policy_package"] == "ingest.e2e_warren"
            assert {x["key"]: x["value"] for x in a["attributes"]}["host"] == host

        row = wait_event(st, ign)
        assert row["status"] == "ignored" and row["alert_count"] == 0, row
        assert row["policy_package"] == "ingest.e2e_warren"
        assert "ingest.e2e_warren" in row["reason"] and f"benign marker calm-{tag}" in row["reason"], row["reason"]
        assert alerts_of(st, ign) == []
    finally:
        tail.close()

    if hutchctl_has("--ignored"):
        out = hutchctl(st, "--output", "json", "event", "list", "--ignored", "--limit", "200")
        assert out.returncode == 0, out.stderr
        listed = {e["event_id"]: e for e in json.loads(out.stdout)}
        assert ign in listed, f"ignored event {ign} not in `hutchctl event list --ignored`"
        assert f"benign marker calm-{tag}" in listed[ign]["reason"]
        assert ev not in listed, "an accepted event listed as ignored"
        assert all(e["status"] == "ignored" for e in listed.values())


def _load_first(path):
    with open(path) as f:
        text = f.read()
    if path.endswith(".jsonl"):
        return json.loads(text.splitlines()[0])
    return json.loads(text)


def test_shipped_guardduty_policy(pol):
    st = pol.st
    detect = os.path.join(SHIPPED, "test", "detect", "guardduty", "ssh_bruteforce.json")
    low = os.path.join(SHIPPED, "test", "detect", "guardduty", "low_severity_port_probe.jsonl")
    non = os.path.join(SHIPPED, "test", "ignore", "guardduty", "non_detections.jsonl")
    if not (os.path.exists(os.path.join(SHIPPED, "ingest", "guardduty.rego")) and os.path.exists(detect)
            and os.path.exists(low) and os.path.exists(non)):
        pytest.skip("the shipped GuardDuty policy or its fixtures are not there")
    tag = uuid.uuid4().hex[:10]
    finding = _load_first(detect)
    assert finding.get("detail-type") == "GuardDuty Finding", "expected an EventBridge-wrapped finding"
    d = finding["detail"]
    d["id"] = uuid.uuid4().hex
    d["title"] = f"{d['title']} [e2e {tag}]"
    ev = post(st, "guardduty", finding)

    lowf = _load_first(low)
    ld = lowf.get("detail", lowf)
    assert ld["severity"] < 4
    ld["id"] = uuid.uuid4().hex
    ld["title"] = f"{ld['title']} [e2e {tag}]"
    low_ev = post(st, "guardduty", lowf)
    nonf = _load_first(non)
    ign = post(st, "guardduty", nonf)

    row = wait_event(st, ev)
    assert row["status"] == "accepted" and row["alert_count"] == 1 and row["policy_package"] == "ingest.guardduty"
    [a] = alerts_of(st, ev)
    assert a["title"] == d["title"]
    assert a["policy_package"] == "ingest.guardduty"
    assert "guardduty" in a["tags"]
    by = attrs_by_key(a["attributes"])
    net = d["service"]["action"]["networkConnectionAction"]
    assert [x["value"] for x in by["instance_id"]] == [d["resource"]["instanceDetails"]["instanceId"]], by
    assert [x["value"] for x in by["remote_ip"]] == [net["remoteIpDetails"]["ipAddressV4"]], by
    assert [x["value"] for x in by["account_id"]] == [str(d["accountId"])], by

    # a low-severity detection is a low alert (storms are grouped, not dropped); the
    # policy named its severity, which is carried as decided (severity_source 'policy')
    row = wait_event(st, low_ev)
    assert row["status"] == "accepted" and row["alert_count"] == 1, row
    [la] = alerts_of(st, low_ev)
    assert st.pg.scalar("SELECT severity || '/' || severity_source FROM alerts WHERE alert_id = %s",
                        (la["alert_id"],)) == "low/policy"
    # a non-detection is ignored with its named reason
    row = wait_event(st, ign)
    assert row["status"] == "ignored" and row["alert_count"] == 0, row
    assert row["policy_package"] == "ingest.guardduty"
    assert row["reason"], row
    assert alerts_of(st, ign) == []
    # the accepted one goes the whole way (enrich, cluster, agent, notify) with its severity
    st.wait_alert_done(d["title"])
    sev = st.pg.scalar("SELECT severity || '/' || severity_source FROM alerts WHERE alert_id = %s", (a["alert_id"],))
    assert sev in {f"{s}/policy" for s in ("info", "low", "medium", "high", "critical")}, sev


# --- 2. AlertChain: namespace, persisted attributes, Kafka key --------------------

def test_alertchain_namespace_persisted_attrs(pol):
    st = pol.st
    tag = uuid.uuid4().hex[:10]
    user, session = f"alice-{tag}", f"sess-{tag}"
    ns = f"e2e/user/{user}"
    tail = st.tail(TOPIC_ALERTS_ACCEPTED)
    try:
        ev_a = post(st, "e2e_chain", {"name": f"A-{tag}", "user": user, "session": session, "ip": "198.51.100.1"})
        assert wait_event(st, ev_a)["status"] == "accepted"
        ev_b = post(st, "e2e_chain", {"name": f"B-{tag}", "user": user, "ip": "198.51.100.2"})
        row_b = wait_event(st, ev_b)
        assert row_b["status"] == "accepted" and row_b["policy_package"] == "alert.e2e_chain", row_b

        [a] = alerts_of(st, ev_a)
        [b] = alerts_of(st, ev_b)
        assert (a["title"], b["title"]) == (f"chain A-{tag}", f"chain B-{tag}")
        assert a["namespace"] == b["namespace"] == ns
        assert a["source"] == b["source"] == "e2e"
        by_a, by_b = attrs_by_key(a["attributes"]), attrs_by_key(b["attributes"])
        assert [x["value"] for x in by_a["session"]] == [session]
        assert by_a["session"][0].get("persist") is True and by_a["session"][0].get("ttl_seconds") == 3600, by_a
        # B did not give a session: it comes from the namespace; B's own ip wins
        assert [x["value"] for x in by_b.get("session", [])] == [session], b["attributes"]
        assert by_b["session"][0].get("ttl_seconds") == 3600
        assert [x["value"] for x in by_b["ip"]] == ["198.51.100.2"], b["attributes"]
        assert [x["value"] for x in by_a["ip"]] == ["198.51.100.1"]

        [na] = st.pg.query("SELECT key, value, extract(epoch FROM expires_at - now()) AS left_s"
                           " FROM namespace_attributes WHERE namespace = %s", (ns,))
        assert na["key"] == "session" and na["value"]["value"] == session
        assert 3300 < float(na["left_s"]) <= 3600, na

        msgs = read_alert_messages(tail, [ev_a, ev_b], 2, scaled(30))
        assert len(msgs) == 2, msgs
        for key, m in msgs:
            assert key == ns.encode(), f"Alert keyed {key!r}, not by its namespace"
            assert m["namespace"] == ns and m["policy_package"] == "alert.e2e_chain"
        mb = next(m for _, m in msgs if m["event_id"] == ev_b)
        sess = [x for x in mb["attributes"] if x["key"] == "session"]
        assert [x["value"] for x in sess] == [session] and sess[0]["persist"] and sess[0]["ttl_seconds"] == 3600, mb
    finally:
        tail.close()


# --- 3. strict mode ----------------------------------------------------------------

def test_strict_mode_no_package_is_ignored(pol):
    st = pol.st
    assert pol.svc.env["HUTCH_POLICY_STRICT"] == "1"
    tag = uuid.uuid4().hex[:10]
    before = pol.metrics().get("hutch_policy_ignored_total", 0)
    ev = post(st, "e2e_nopolicy", {"title": f"no package for me {tag}", "severity": 9})
    row = wait_event(st, ev)
    assert row["status"] == "ignored" and row["alert_count"] == 0, row
    assert "no policy" in row["reason"] and "e2e_nopolicy" in row["reason"], row["reason"]
    assert not row["policy_package"], row
    assert alerts_of(st, ev) == []
    assert st.pg.scalar("SELECT count(*) FROM alerts WHERE title LIKE %s", (f"%{tag}%",)) == 0
    assert pol.metrics().get("hutch_policy_ignored_total", 0) >= before + 1


# --- 4. policy errors: dead letter, and the stream goes on -------------------------

def test_conflict_goes_to_dlq_and_next_event_flows(pol):
    st = pol.st
    tag = uuid.uuid4().hex[:10]
    dlq = st.tail(TOPIC_DLQ)
    tail = st.tail(TOPIC_ALERTS_ACCEPTED)
    try:
        bad = post(st, "e2e_conflict", {"boom": True, "name": f"boom-{tag}"})
        shape = post(st, "e2e_shape", {"name": f"shape-{tag}"})
        good = post(st, "e2e_conflict", {"name": f"ok-{tag}"})
        letters = {}  # event id -> DeadLetter (the two may come in any order: partitions)

        def both(m):
            dl = decode_dead_letter(m.value())
            for ev in (bad, shape):
                if ev.encode() in dl["payload"]:
                    assert ev not in letters, f"{ev} dead-lettered twice"
                    letters[ev] = dl
            return len(letters) == 2
        dlq.read_until(both, scaled(60))
        assert bad in letters, "no DeadLetter for the conflicting event"
        dl = letters[bad]
        assert "ingest.e2e_conflict" in dl["reason"] and "eval_conflict_error" in dl["reason"], dl["reason"]
        assert dl["source_topic"] == hutch_e2e.TOPIC_EVENTS_RAW and "policy" in dl["consumer"], dl

        row = wait_event(st, bad)
        assert row["status"] == "dead" and row["alert_count"] == 0, row
        assert "eval_conflict_error" in row["reason"] and row["policy_package"] == "ingest.e2e_conflict", row
        assert alerts_of(st, bad) == []

        # a bad alert shape is a policy error too, named with the package and the alert
        assert shape in letters, "no DeadLetter for the badly shaped alert"
        reason = letters[shape]["reason"]
        assert "ingest.e2e_shape" in reason and "title" in reason and "string" in reason, reason
        row = wait_event(st, shape)
        assert row["status"] == "dead" and "ingest.e2e_shape" in row["reason"], row
        assert alerts_of(st, shape) == []

        row = wait_event(st, good)
        assert row["status"] == "accepted", row
        [a] = alerts_of(st, good)
        assert a["title"] == f"fine ok-{tag}"
        msgs = read_alert_messages(tail, [bad, shape, good], 1, scaled(30))
        assert [x["event_id"] for _, x in msgs] == [good], msgs
        # dead-lettered once
        again = [decode_dead_letter(x.value())["payload"] for x in dlq.read_all(1.0)]
        assert not [x for x in again if bad.encode() in x or shape.encode() in x]
    finally:
        dlq.close()
        tail.close()
    assert pol.svc.alive()
    if hutchctl_has("--status"):
        out = hutchctl(st, "--output", "json", "event", "list", "--status", "dead", "--limit", "200")
        assert out.returncode == 0, out.stderr
        listed = {e["event_id"]: e for e in json.loads(out.stdout)}
        assert bad in listed and "eval_conflict_error" in listed[bad]["reason"], listed.get(bad)
        assert good not in listed


# --- 5. hot reload -----------------------------------------------------------------

def decided_title(st, schema, name):
    ev = post(st, schema, {"name": name})
    row = wait_event(st, ev)
    assert row["status"] == "accepted", row
    return [a["title"] for a in alerts_of(st, ev)]


def test_hot_reload_broken_then_fixed(pol):
    st = pol.st
    tag = uuid.uuid4().hex[:8]
    state = pol.policy_state()
    assert state["state"] == "ok", state
    gen = state["generation"]
    assert decided_title(st, "e2e_reload", f"a-{tag}") == [f"e2e_reload v1 a-{tag} p1"]
    failed_before = pol.metrics().get('hutch_policy_reloads_total{result="failed"}', 0)

    # (a) a broken file: logged, counted, shown; the last good set keeps serving
    pol.write("reload.rego", BROKEN_RELOAD)
    try:
        _broken_then_fixed(pol, st, tag, gen, failed_before)
    finally:  # never leave a set that cannot compile to the tests after this one
        with open(os.path.join(pol.dir, "e2e", "reload.rego")) as f:
            if f.read() == BROKEN_RELOAD:
                pol.write("reload.rego", versioned("e2e_reload", "v2"))


def _broken_then_fixed(pol, st, tag, gen, failed_before):
    wait_for(lambda: pol.metrics().get("hutch_policy_reload_failed") == 1, scaled(10), 0.1,
             "hutch_policy_reload_failed 1")
    m = pol.metrics()
    assert m.get('hutch_policy_reloads_total{result="failed"}', 0) >= failed_before + 1, m
    assert m.get("hutch_policy_generation") == gen
    code, doc = pol.readyz()
    assert code == 200, (code, doc)
    p = doc["policy"]
    assert p["state"] == "stale" and p["generation"] == gen, p
    assert "reload.rego:6" in p.get("error", ""), p
    assert "failed_at" in p
    assert decided_title(st, "e2e_reload", f"b-{tag}") == [f"e2e_reload v1 b-{tag} p1"]
    logged = wait_for(lambda: log_events(pol.svc.log, "policy_reload_failed"), scaled(5), 0.2,
                      "policy_reload_failed log line")
    assert any("reload.rego:6" in json.dumps(x) for x in logged), logged[-1]
    assert pol.svc.alive()

    # (b) fixed, and changed: a new generation decides the next event
    pol.write("reload.rego", versioned("e2e_reload", "v2"))
    pol.wait_generation(gen + 1)
    p = pol.policy_state()
    assert p["state"] == "ok" and "error" not in p and p["generation"] == gen + 1, p
    assert pol.metrics().get("hutch_policy_reload_failed") == 0
    assert pol.metrics().get("hutch_policy_generation") == gen + 1
    assert decided_title(st, "e2e_reload", f"c-{tag}") == [f"e2e_reload v2 c-{tag} p1"]


class StreamPoster:
    """Posts n events of schema e2e_stream one after another in a thread."""

    def __init__(self, st, n, tag, pause):
        self.st, self.n, self.tag, self.pause = st, n, tag, pause
        self.events = []  # (name, event_id, when its POST began)
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        try:
            for i in range(self.n):
                name = f"{self.tag}-{i:03d}"
                started = time.monotonic()
                self.events.append((name, post(self.st, "e2e_stream", {"name": name}), started))
                time.sleep(self.pause)
        except BaseException as e:
            self.error = e

    def wait_posted(self, k, timeout):
        wait_for(lambda: len(self.events) >= k or self.error, timeout, 0.02, f"{k} posted events")
        if self.error:
            raise self.error


def test_hot_reload_midstream_loses_and_doubles_nothing(pol):
    st = pol.st
    n, parts = 200, 2
    tag = uuid.uuid4().hex[:8]
    tail = st.tail(TOPIC_ALERTS_ACCEPTED)
    try:
        gen = pol.generation()
        poster = StreamPoster(st, n, tag, pause=0.03)
        poster.thread.start()
        switched = {}
        for k, version in [(n // 3, "s2"), (2 * n // 3, "s3")]:
            poster.wait_posted(k, scaled(60))
            pol.write("stream.rego", versioned("e2e_stream", version, parts=parts))
            gen += 1
            pol.wait_generation(gen)
            switched[version] = time.monotonic()
        poster.thread.join(scaled(120))
        assert not poster.thread.is_alive() and not poster.error, poster.error
        assert len(poster.events) == n
        ids = [e for _, e, _ in poster.events]

        def all_decided():
            return st.pg.scalar("SELECT count(*) FROM events WHERE event_id = ANY(%s::uuid[])"
                                " AND status <> 'received'", (ids,)) == n
        wait_for(all_decided, scaled(120), 0.5, f"{n} decided events")
        rows = st.pg.query("SELECT event_id::text AS id, status, alert_count FROM events"
                           " WHERE event_id = ANY(%s::uuid[])", (ids,))
        assert len(rows) == n and len({r["id"] for r in rows}) == n
        assert all(r["status"] == "accepted" and r["alert_count"] == parts for r in rows), \
            [r for r in rows if r["status"] != "accepted" or r["alert_count"] != parts][:5]
        alerts = st.pg.query("SELECT alert_id::text AS alert_id, event_id::text AS event_id, title FROM alerts"
                             " WHERE event_id = ANY(%s::uuid[])", (ids,))
        assert len(alerts) == n * parts, f"{len(alerts)} alerts rows for {n} events x {parts}"
        assert len({a["alert_id"] for a in alerts}) == len(alerts)
        assert len({a["title"] for a in alerts}) == len(alerts), "duplicate alert titles"
        by_event = {}
        for a in alerts:
            by_event.setdefault(a["event_id"], []).append(a["title"])
        seen_versions = {}
        for name, ev, posted_at in poster.events:
            titles = sorted(by_event.get(ev, []))
            version = titles[0].split()[1] if titles else None
            assert version in ("s1", "s2", "s3") and \
                titles == [f"e2e_stream {version} {name} p{i}" for i in range(1, parts + 1)], (name, titles)
            seen_versions[name] = version
            # posted after the last switch was visible: decided by the last set
            if posted_at > switched["s3"]:
                assert version == "s3", (name, version)
        versions = [seen_versions[name] for name, _, _ in poster.events]
        assert versions[0] == "s1" and versions[-1] == "s3", versions
        assert {"s1", "s2", "s3"} <= set(versions), versions

        msgs = read_alert_messages(tail, ids, n * parts, scaled(60))
        assert len(msgs) == n * parts, f"{len(msgs)} Alert messages for {n * parts} alerts rows"
        assert sorted(a["alert_id"] for _, a in msgs) == sorted(a["alert_id"] for a in alerts)
        rows_title = {a["alert_id"]: a["title"] for a in alerts}
        assert all(rows_title[a["alert_id"]] == a["title"] for _, a in msgs)
        assert pol.policy_state()["state"] == "ok"
    finally:
        tail.close()


def test_sighup_reload_with_interval_zero(pol):
    """HUTCH_POLICY_RELOAD_INTERVAL=0: a file change alone is not picked up; SIGHUP is."""
    st = pol.st
    tag = uuid.uuid4().hex[:8]
    pol.write("reload.rego", versioned("e2e_reload", "h1"))
    pol.start(HUTCH_POLICY_RELOAD_INTERVAL="0")
    try:
        assert pol.generation() == 1
        assert decided_title(st, "e2e_reload", f"a-{tag}") == [f"e2e_reload h1 a-{tag} p1"]
        pol.write("reload.rego", versioned("e2e_reload", "h2"))
        time.sleep(2.0)
        assert pol.generation() == 1, "reloaded without SIGHUP though the interval is 0"
        assert decided_title(st, "e2e_reload", f"b-{tag}") == [f"e2e_reload h1 b-{tag} p1"]

        pol.svc.proc.send_signal(signal.SIGHUP)
        pol.wait_generation(2, scaled(10))
        assert pol.svc.alive(), "SIGHUP killed hutch-policy"
        assert pol.policy_state()["state"] == "ok"
        assert pol.metrics().get("hutch_policy_generation") == 2
        assert decided_title(st, "e2e_reload", f"c-{tag}") == [f"e2e_reload h2 c-{tag} p1"]
        # SIGHUP without a change compiles again too (a new generation), still serving
        pol.svc.proc.send_signal(signal.SIGHUP)
        pol.wait_generation(3, scaled(10))
        assert decided_title(st, "e2e_reload", f"d-{tag}") == [f"e2e_reload h2 d-{tag} p1"]
    finally:
        assert pol.stop() == 0, pol.svc.log_tail()
        pol.svc = None
        pol.start()  # back to the module's settings for any later test


def test_redelivery_after_reload_reproduces_the_stored_decision(pol):
    """A RawEvent delivered again after the policy changed is not decided again: the
    same Alerts (ids, v1 titles) are produced from what the first delivery stored."""
    st = pol.st
    tag = uuid.uuid4().hex[:8]
    raw_tail, alert_tail = st.tail(TOPIC_EVENTS_RAW), st.tail(TOPIC_ALERTS_ACCEPTED)
    try:
        ev = post(st, "e2e_redeliver", {"name": f"again-{tag}"})
        raw = raw_tail.read_until(lambda m: ev.encode() in m.value(), scaled(30))
        assert raw is not None, "the RawEvent never showed on hutch.events.raw"
        assert wait_event(st, ev)["status"] == "accepted"
        first = read_alert_messages(alert_tail, [ev], 1, scaled(30))
        assert [a["title"] for _, a in first] == [f"e2e_redeliver r1 again-{tag} p1"], first

        gen = pol.generation()
        pol.write("redeliver.rego", versioned("e2e_redeliver", "r2"))
        pol.wait_generation(gen + 1)
        before = pol.metrics().get("hutch_policy_redelivered_total", 0)
        st.produce(TOPIC_EVENTS_RAW, raw.value(), key=raw.key())  # the same message, delivered again
        wait_for(lambda: pol.metrics().get("hutch_policy_redelivered_total", 0) > before, scaled(30), 0.2,
                 "the redelivery to be seen")
        again = read_alert_messages(alert_tail, [ev], 1, scaled(30))
        assert [(a["alert_id"], a["title"]) for _, a in again] == [(a["alert_id"], a["title"]) for _, a in first]
        assert [a["title"] for a in alerts_of(st, ev)] == [f"e2e_redeliver r1 again-{tag} p1"]
        # a new event is decided by the new set
        ev2 = post(st, "e2e_redeliver", {"name": f"new-{tag}"})
        assert wait_event(st, ev2)["status"] == "accepted"
        assert [a["title"] for a in alerts_of(st, ev2)] == [f"e2e_redeliver r2 new-{tag} p1"]
    finally:
        raw_tail.close()
        alert_tail.close()


def test_numbers_beyond_int64_and_double_reach_the_policy_exactly(pol):
    """A uint64 id, a 40-digit integer, 1e400, -0 and 1E-400 (valid JSON that jansson
    refuses) pass ingest byte for byte, and the policy copies each into an attribute:
    the stored attribute holds the exact number (-0 as 0: equal as a number)."""
    st = pol.st
    name = uuid.uuid4().hex[:10]
    body = ('{"name": "%s", "id": 18446744073709551615, "big": 1234567890123456789012345678901234567890,'
            ' "huge": 1e400, "neg0": -0, "tiny": 1E-400}' % name)
    ev = post(st, "e2e_numbers", body)
    row = wait_event(st, ev)
    assert row["status"] == "accepted", row
    [a] = alerts_of(st, ev)
    assert a["title"] == f"numbers {name}"
    got = {x["key"]: x["value"] for x in a["attributes"]}
    assert got == {"id": "18446744073709551615", "big": "1234567890123456789012345678901234567890",
                   "huge": "1e400", "neg0": "0", "tiny": "1E-400"}, got
