"""End-to-end: the ticket lifecycle (common/ticket.h) through hutchctl on the real stack.

Alerts go through the six services into tickets; then, as a person would, through
`hutchctl ticket ...`: merge, unmerge, salvage (embeddings rows inserted directly),
resolve / reopen / archive, forbidden changes (exit 1, the reason on stderr, nothing
changed), `ticket history` (every change with its actor), and the TicketEvent of every
change on hutch.tickets.events (relayed by hutch-cluster from ticket_history)."""
import json
import re
import os
import subprocess
import sys
import uuid

from hutch_e2e import BIN_DIR, ROOT, guardduty_finding, scaled, wait_for

sys.path.insert(0, os.path.join(ROOT, "build", "py"))
from hutch.v1 import ticket_pb2  # noqa: E402

USER = "e2e-ana"
ACTOR = "user:" + USER


def hutchctl(st, *args):
    env = dict(os.environ, HUTCH_DATABASE_URL=st.pg.url, HUTCH_USER=USER)
    return subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "--output", "json", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def ok(st, *args):
    r = hutchctl(st, *args)
    assert r.returncode == 0, f"hutchctl {' '.join(args)}: exit {r.returncode}: {r.stderr}"
    return json.loads(r.stdout)


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def state(st, ids):
    """Everything a refused change must leave as it was: the tickets and alerts it names
    and the tickets of those alerts (the rest of the stack may change other tickets
    meanwhile: the agent's summaries of other tests' tickets)."""
    tickets = ("SELECT ticket_id FROM tickets WHERE ticket_id::text = ANY(%(ids)s)"
               " UNION SELECT ticket_id FROM ticket_alerts WHERE alert_id::text = ANY(%(ids)s)")
    q = {"ids": ids}
    return (st.pg.query(f"SELECT * FROM tickets WHERE ticket_id IN ({tickets}) ORDER BY ticket_id", q),
            st.pg.query(f"SELECT * FROM ticket_alerts WHERE ticket_id IN ({tickets}) OR alert_id::text = ANY(%(ids)s)"
                        " ORDER BY alert_id", q),
            st.pg.scalar(f"SELECT count(*) FROM ticket_history WHERE ticket_id IN ({tickets})", q))


def refused(st, reason, *args):
    ids = [a for a in args if UUID.match(a)]
    assert ids, "a refused change names the tickets or alerts it would touch"
    before = state(st, ids)
    r = hutchctl(st, *args)
    assert r.returncode == 1, f"hutchctl {' '.join(args)}: exit {r.returncode}, want 1: {r.stdout} {r.stderr}"
    assert reason in r.stderr, r.stderr
    assert r.stdout == ""
    assert state(st, ids) == before, f"hutchctl {' '.join(args)} changed something"


def ticket(st, ticket_id):
    [t] = st.pg.query("SELECT * FROM tickets WHERE ticket_id = %s", (ticket_id,))
    return t


def post_alerts(st, n):
    """n GuardDuty findings of distinct titles: n alerts, n tickets. Returns [(alert_id, ticket_id)]."""
    out = []
    for _ in range(n):
        f = guardduty_finding()
        st.post_until_accepted("guardduty", f)
        [a] = st.wait_alert_done(f["title"])
        out.append((str(a["alert_id"]), str(a["ticket_id"])))
    return out


def test_ticket_lifecycle_through_hutchctl(healthy):
    st = healthy
    events = st.tail("hutch.tickets.events")
    try:
        (a1, ta), (a2, tb), (a3, tc) = post_alerts(st, 3)
        assert len({ta, tb, tc}) == 3
        for t in (ta, tb, tc):
            # opened by cluster, then the agent's template summary (no model in this stack)
            st.wait_agent_summary(t)
            hs = st.pg.query("SELECT * FROM ticket_history WHERE ticket_id = %s ORDER BY seq", (t,))
            assert [(h["seq"], h["kind"], h["actor"]) for h in hs] == [
                (1, "opened", "hutch-cluster"), (2, "edited", "hutch-agent")]

        # list: the three are open; show has the new fields
        listed = ok(st, "ticket", "list", "--status", "open", "--limit", "1000")
        assert {ta, tb, tc} <= {x["ticket_id"] for x in listed}
        shown = ok(st, "ticket", "show", ta)
        assert shown["ticket"]["status"] == "open" and shown["ticket"]["merged_into"] is None
        assert [x["alert_id"] for x in shown["alerts"]] == [a1]

        # merge B into A, unmerge B's alert: back to B, reopened
        r = ok(st, "ticket", "merge", ta, tb)
        assert r["ticket"]["alert_count"] == 2
        tb_row = ticket(st, tb)
        assert tb_row["status"] == "resolved" and str(tb_row["merged_into"]) == ta and tb_row["alert_count"] == 0
        assert str(st.pg.scalar("SELECT ticket_id FROM alerts WHERE alert_id = %s", (a2,))) == ta
        refused(st, "merged into another", "ticket", "reopen", tb)
        refused(st, "into itself", "ticket", "merge", ta, ta)
        r = ok(st, "ticket", "unmerge", ta, "--alert", a2)
        assert r["moved_to"] == tb
        assert ticket(st, tb)["status"] == "open" and ticket(st, tb)["merged_into"] is None
        assert ticket(st, ta)["alert_count"] == 1 and ticket(st, tb)["alert_count"] == 1

        # new: from an alert inserted unbound; then salvage another by its embedding
        free1, free2, far = (str(uuid.uuid4()) for _ in range(3))
        for aid, title in ((free1, "Recon probe e2e"), (free2, "Recon sweep e2e"), (far, "Unrelated e2e")):
            st.pg.query("INSERT INTO alerts (alert_id, event_id, trace_id, schema, title, severity)"
                        " VALUES (%s, %s, 't', 'e2e', %s, 'medium')", (aid, str(uuid.uuid4()), title))
        for aid, vec in ((a1, [1.0, 0.0, 0.0]), (free1, [0.96, 0.28, 0.0]), (free2, [0.8, 0.6, 0.0]),
                         (far, [0.0, 0.0, 1.0])):
            # a1 came through hutch-cluster, which stored its own vector: replaced by the test's
            st.pg.query("INSERT INTO embeddings (alert_id, vector, model, dims) VALUES (%s, %s, 'e2e', 3)"
                        " ON CONFLICT (alert_id) DO UPDATE SET vector = excluded.vector, model = excluded.model,"
                        " dims = excluded.dims", (aid, vec))
        r = ok(st, "ticket", "salvage", ta, "--dry-run")
        assert r["would_bind"] == 1 and r["ticket"]["alert_count"] == 1  # free1 only (0.96 >= 0.9)
        r = ok(st, "ticket", "salvage", ta, "--threshold", "0.75", "--keyword", "SWEEP")
        assert r["bound"] == 1 and r["ticket"]["alert_count"] == 2  # free2 (0.8), by its keyword
        assert str(st.pg.scalar("SELECT ticket_id FROM ticket_alerts WHERE alert_id = %s", (free2,))) == ta
        r = ok(st, "ticket", "new", "--alert", free1)
        td = r["ticket"]["ticket_id"]
        assert r["ticket"]["title"] == "Recon probe e2e" and r["ticket"]["severity"] == "medium"
        refused(st, "is bound to ticket", "ticket", "new", "--alert", free1)

        # resolve / reopen / archive, and the forbidden transitions
        refused(st, "unknown conclusion", "ticket", "resolve", ta, "--conclusion", "fixed", "--reason", "x")
        refused(st, "open already", "ticket", "reopen", ta)
        tag = uuid.uuid4().hex[:12]  # the session's other tests have tickets too
        title = f"Brute force on the bastion {tag}"
        ok(st, "ticket", "edit", ta, "--title", title, "--description", "one source")
        ok(st, "ticket", "assign", ta, "bob")
        r = ok(st, "ticket", "resolve", ta, "--conclusion", "true_positive", "--reason", "blocked at the edge")
        assert r["ticket"]["status"] == "resolved" and r["ticket"]["conclusion"] == "true_positive"
        refused(st, "resolved: reopen it first", "ticket", "salvage", ta)
        ok(st, "ticket", "reopen", ta)
        ok(st, "ticket", "archive", ta)
        refused(st, "archived", "ticket", "assign", ta, "carl")
        refused(st, "not found", "ticket", "archive", str(uuid.uuid4()))
        assert ticket(st, ta)["status"] == "archived" and ticket(st, ta)["title"] == title

        # the archived ticket is listed after the open ones
        order = [x["ticket_id"] for x in ok(st, "ticket", "list", "--limit", "100000")]
        assert order.index(tc) < order.index(ta) and order.index(tb) < order.index(ta)
        assert [x["ticket_id"] for x in ok(st, "ticket", "list", "--search", tag.upper())] == [ta]

        # history: every change, its actor
        hist = ok(st, "ticket", "history", ta)
        assert [(h["kind"], h["actor"]) for h in hist] == [
            ("opened", "hutch-cluster"), ("edited", "hutch-agent"), ("merged", ACTOR), ("unmerged", ACTOR),
            ("salvaged", ACTOR), ("edited", ACTOR), ("assigned", ACTOR), ("resolved", ACTOR), ("reopened", ACTOR),
            ("archived", ACTOR)]
        assert [h["seq"] for h in hist] == list(range(1, 11))
        assert hist[7]["detail"] == {"conclusion": "true_positive", "reason": "blocked at the edge"}
        assert [h["kind"] for h in ok(st, "ticket", "history", tb)] == ["opened", "edited", "merged", "unmerged"]
        assert [h["kind"] for h in ok(st, "ticket", "history", td)] == ["opened"]

        # every history row of these tickets reaches hutch.tickets.events, once published
        want = {(str(h["ticket_id"]), h["seq"]): h for h in st.pg.query(
            "SELECT * FROM ticket_history WHERE ticket_id = ANY(%s::uuid[])", ([ta, tb, tc, td],))}
        got = {}

        def collect():
            for m in events.read_all(0.5):
                ev = ticket_pb2.TicketEvent.FromString(m.value())
                assert m.key().decode() == ev.ticket_id
                if ev.meta.producer == "hutch-ticket-relay":  # (the agent's "triaged" are its own)
                    got.setdefault(ev.ticket_id, []).append(ev)
            return sum(len(v) for k, v in got.items() if k in {ta, tb, tc, td}) >= len(want) or None
        wait_for(collect, scaled(30), 0.1, "the TicketEvents of every change")
        assert st.pg.scalar("SELECT count(*) FROM ticket_history WHERE ticket_id = ANY(%s::uuid[])"
                            " AND published_at IS NULL", ([ta, tb, tc, td],)) == 0
        for t in (ta, tb, tc, td):
            rows = sorted((k[1], h) for k, h in want.items() if k[0] == t)
            evs = got.get(t, [])
            assert [e.kind for e in evs] == [h["kind"] for _, h in rows], (t, [e.kind for e in evs])
            for e, (_, h) in zip(evs, rows):
                assert e.actor == h["actor"] and json.loads(e.detail_json) == h["detail"]
            assert len({e.meta.id for e in evs}) == len(evs)
    finally:
        events.close()


def test_ticket_usage_errors(healthy):
    st = healthy
    for args in (("ticket", "resolve", str(uuid.uuid4()), "--reason", "x"),  # no conclusion
                 ("ticket", "new"),                                            # no alert
                 ("ticket", "list", "--status", "acknowledged"),
                 ("ticket", "list", "--severity", "urgent"),
                 ("ticket", "salvage", str(uuid.uuid4()), "--threshold", "2"),
                 ("ticket", "edit", str(uuid.uuid4()))):
        r = hutchctl(st, *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr.startswith("hutchctl: ")
