"""End-to-end: seed 000's night (seed000_night.py) through the whole pipeline with two
hutch-cluster instances at once (issue 10, "Tests and figures").

The night is 1,087 real-format events: 900 GuardDuty port probes from one scanner on
10 servers, 150 Wazuh sshd failures from one IP on 37 accounts, 30 backup-traffic
false positives, one shell in a production container, six non-detections. What an
analyst must find in the morning:
  - at most 4 tickets, the container shell first in `hutchctl ticket list`, critical;
  - the port scan and the brute force one ticket each, the counts in their titles;
  - the backup false positives one ticket;
  - no event lost: each is an alert bound to a ticket or an ignored event with its reason;
  - no ticket doubled by the two cluster instances; a storm notifies once.
It has its own stack (own Postgres and broker): the ticket counts are exact.
The embedding cache's hit ratio on the night is printed (and asserted high)."""
import json
import os
import subprocess
import sys

import pytest
import requests

import hutch_e2e
from hutch_e2e import BIN_DIR, TOPIC_INGEST_JSON, scaled, wait_for
import seed000_night

SCANNER, BRUTE = seed000_night.SCANNER, seed000_night.BRUTE


@pytest.fixture(scope="module")
def night_stack():
    st = hutch_e2e.Stack()
    try:
        st.start()
        second = hutch_e2e.Service("cluster", st.base, st.env)
        second.log = os.path.join(st.base, "logs", "cluster-2.log")
        second.start()
        second.wait_ready()
        st.services["cluster-2"] = second
    except BaseException:
        for s in st.services.values():
            sys.stderr.write(f"--- {s.name} log ---\n{s.log_tail(30)}\n")
        st.close()
        raise
    yield st
    st.services["cluster-2"].stop()  # not one of the stack's own services: close() leaves it running
    bad = st.close()
    assert not bad, f"services did not exit 0 on SIGTERM: {bad}"


def hutchctl(st, *args):
    r = run_hutchctl(st, *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def run_hutchctl(st, *args, cluster_url=None):
    env = dict(os.environ, HUTCH_DATABASE_URL=st.pg.url, HUTCH_CLUSTER_URL=cluster_url or st.services["cluster"].url)
    return subprocess.run([os.path.join(BIN_DIR, "hutchctl"), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def metric(st, name, service):
    return sum(v for k, v in st.services[service].metrics().items() if k.startswith(name))


def test_seed000_night(night_stack):
    st = night_stack
    events = seed000_night.night(seed=0)
    expected = seed000_night.EXPECTED
    n_alerts = sum(1 for e in events if e["kind"] != "ignored")
    # through the log-router entrance (hutch.ingest.json, the schema in a header): ingest
    # derives each event's id from its message's coordinates, so a slow broker makes a
    # producer retry, never a second event
    p = st.producer()
    for i, e in enumerate(events):
        while True:
            try:
                p.produce(TOPIC_INGEST_JSON, value=json.dumps(e["body"]).encode(), key=f"night-{i}".encode(),
                          headers=[("hutch-schema", e["schema"].encode())])
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(scaled(120)) == 0, "night events not acknowledged"

    def settled():
        decided = st.pg.scalar("SELECT count(*) FROM events WHERE status IN ('accepted', 'ignored', 'dead')")
        bound = st.pg.scalar("SELECT count(*) FROM ticket_alerts")
        return decided == len(events) and bound == n_alerts
    wait_for(settled, scaled(240), 1.0, "the night's events to be decided and their alerts bound")

    # no event lost: every event accepted with its alerts bound, or ignored with a reason
    by_status = {r["status"]: r["n"] for r in st.pg.query("SELECT status, count(*) AS n FROM events GROUP BY 1")}
    assert by_status == {"accepted": n_alerts, "ignored": expected["ignored"]}, by_status
    assert st.pg.scalar("SELECT count(*) FROM events WHERE status = 'ignored' AND coalesce(reason, '') = ''") == 0
    assert st.pg.scalar("SELECT count(*) FROM alerts") == n_alerts
    assert st.pg.scalar("SELECT count(*) FROM alerts a LEFT JOIN ticket_alerts b USING (alert_id)"
                        " WHERE b.ticket_id IS NULL OR a.ticket_id IS DISTINCT FROM b.ticket_id") == 0

    tickets = json.loads(hutchctl(st, "-o", "json", "ticket", "list", "--limit", "20"))
    assert len(tickets) <= 4, [(t["title"], t["alert_count"]) for t in tickets]
    first = tickets[0]
    assert first["title"] == "Terminal shell in container" and first["severity"] == "critical", tickets
    assert first["alert_count"] == 1
    titles = {t["title"]: t for t in tickets}
    scan = titles.get(f"Port scan from {SCANNER}: 900 probes on 10 hosts")
    brute = titles.get(f"SSH brute force from {BRUTE}: 150 failed logins, 37 accounts")
    assert scan and scan["alert_count"] == expected["port_probes"], titles.keys()
    assert brute and brute["alert_count"] == expected["ssh_failures"], titles.keys()
    backups = [t for t in tickets if "unusually large amounts of network traffic" in t["title"]]
    assert len(backups) == 1 and backups[0]["alert_count"] == expected["backup_traffic"], tickets
    assert len(tickets) == 4
    # severity rises with count and spread (bind.c's table): 900 probes on 10 hosts medium, 150/37 high
    assert scan["severity"] == "medium" and brute["severity"] == "high", (scan, brute)
    # no ticket doubled: one storm row per actor and kind, each alert bound once
    storms = st.pg.query("SELECT kind, actor, count(*) AS n FROM ticket_storms GROUP BY 1, 2")
    assert sorted((s["kind"], s["actor"], s["n"]) for s in storms) == [
        ("port_scan", SCANNER, 1), ("ssh_brute_force", BRUTE, 1)], storms

    # a storm notifies once (when it reaches its level), not per alert
    def notified():
        rows = st.pg.query("SELECT ticket_id::text AS t, count(*) AS n FROM notifications GROUP BY 1")
        got = {r["t"]: r["n"] for r in rows}
        return got if len(got) == 4 and got.get(str(backups[0]["ticket_id"])) == 30 else None
    got = wait_for(notified, scaled(120), 1.0, "the night's notifications")
    assert got[str(scan["ticket_id"])] == 1 and got[str(brute["ticket_id"])] == 1, got
    assert got[str(first["ticket_id"])] == 1
    [note] = st.pg.query("SELECT message::text AS m FROM notifications WHERE ticket_id = %s", (scan["ticket_id"],))
    assert "Port scan from 198.51.100.7" in note["m"]

    # both instances ran; the embedding cache on the night
    done = [metric(st, "hutch_cluster_alerts_total", s) for s in ("cluster", "cluster-2")]
    assert sum(done) == n_alerts, done
    model = sum(metric(st, 'hutch_cluster_shape_vectors_total{source="model"}', s) for s in ("cluster", "cluster-2"))
    cached = sum(metric(st, 'hutch_cluster_shape_vectors_total{source="memory"}', s) +
                 metric(st, 'hutch_cluster_shape_vectors_total{source="database"}', s)
                 for s in ("cluster", "cluster-2"))
    shapes = st.pg.scalar("SELECT count(*) FROM shape_embeddings")
    ratio = cached / (cached + model)
    sys.stderr.write(f"\nnight: {len(events)} events, {n_alerts} alerts, {len(tickets)} tickets; alerts per cluster "
                     f"instance {done}; shapes {shapes}, embedded {model}, cache hits {cached} "
                     f"(hit ratio {ratio:.3f})\n")
    assert st.pg.scalar("SELECT count(*) FROM embeddings") == n_alerts
    assert model <= 2 * shapes and ratio >= 0.9, (model, cached, shapes)


def test_similar_and_suggest_after_the_night(night_stack):
    """`hutchctl alert similar`, `ticket similar`, `ticket suggest` on the night's
    vectors; a second scanner opens its own storm ticket (another actor), which
    `ticket suggest` proposes to group with the first one: a suggestion only."""
    st = night_stack
    scan = st.pg.query("SELECT ticket_id::text AS t FROM ticket_storms WHERE kind = 'port_scan'")[0]["t"]
    probe = st.pg.query("SELECT alert_id::text AS a FROM ticket_alerts WHERE ticket_id = %s LIMIT 1", (scan,))[0]["a"]

    # each of the two instances embedded part of the night; both indexes hold all of it
    shapes = st.pg.scalar("SELECT count(DISTINCT shape_hash) FROM embeddings")
    for name in ("cluster", "cluster-2"):
        wait_for(lambda: metric(st, "hutch_cluster_similarity_index_shapes", name) == shapes, scaled(10), 0.2,
                 f"{name}'s similarity index to hold the night's {shapes} shapes")
    similar = json.loads(hutchctl(st, "-o", "json", "alert", "similar", probe, "--limit", "5"))
    assert len(similar) == 5 and all(s["ticket_id"] == scan and s["score"] >= 0.99 for s in similar), similar
    assert probe not in {s["alert_id"] for s in similar}
    table = hutchctl(st, "alert", "similar", probe, "--limit", "2")
    assert "SCORE" in table and "Unprotected port" in table
    # the shapes come from hutch-cluster's index: the night's few shapes, not its 900 probes
    answer = requests.get(st.services["cluster"].url + "/v1/similar", params={
        "shape_hash": st.pg.scalar("SELECT shape_hash FROM embeddings WHERE alert_id = %s", (probe,)), "limit": 3})
    assert answer.status_code == 200 and answer.json()["shapes"][0]["score"] >= 0.999, answer.text
    assert answer.json()["index_shapes"] == shapes
    # a restarted instance loads the window from Postgres at start
    second = st.services["cluster-2"]
    second.stop()
    second.start()
    second.wait_ready()
    wait_for(lambda: metric(st, "hutch_cluster_similarity_index_shapes", "cluster-2") == shapes, scaled(20), 0.2,
             "the restarted instance's index to hold the night's shapes")
    assert "similarity_index_loaded" in second.log_tail(200)
    for bad in ({"shape_hash": "nothex"}, {"shape_hash": "0" * 64, "limit": "0"}, {}):
        assert requests.get(st.services["cluster"].url + "/v1/similar", params=bad).status_code in (400, 404), bad
    assert requests.get(st.services["cluster"].url + "/v1/similar", params={"shape_hash": "0" * 64}).status_code == 404
    down = run_hutchctl(st, "alert", "similar", probe, cluster_url="http://127.0.0.1:9")
    assert down.returncode == 1 and "hutch-cluster's similarity index at http://127.0.0.1:9" in down.stderr

    # a second scanner: the same kind from another actor is another ticket
    import random
    rng = random.Random(7)
    other = "198.51.100.99"
    for i in range(5):
        t = seed000_night.NIGHT_START + seed000_night.timedelta(hours=3, minutes=i)
        f = seed000_night.port_probe(rng, t, seed000_night.SERVERS[i], 22)
        f["service"]["action"]["portProbeAction"]["portProbeDetails"][0]["remoteIpDetails"]["ipAddressV4"] = other
        st.produce(TOPIC_INGEST_JSON, json.dumps(seed000_night.guardduty_event(rng, t, f)).encode(),
                   key=f"second-scan-{i}".encode(), headers=[("hutch-schema", b"guardduty")])
    wait_for(lambda: st.pg.scalar("SELECT alert_count FROM tickets t JOIN ticket_storms s USING (ticket_id)"
                                  " WHERE s.actor = %s", (other,)) == 5, scaled(60), 0.5, "the second scan's ticket")
    [second] = [r["t"] for r in st.pg.query("SELECT ticket_id::text AS t FROM ticket_storms WHERE actor = %s",
                                             (other,))]
    assert second != scan

    tickets = json.loads(hutchctl(st, "-o", "json", "ticket", "similar", scan))
    assert tickets[0]["ticket_id"] == second and tickets[0]["score"] >= 0.99, tickets
    assert scan not in {t["ticket_id"] for t in tickets}

    groups = json.loads(hutchctl(st, "-o", "json", "ticket", "suggest"))
    both = [g for g in groups if {scan, second} <= set(g["tickets"])]
    assert both and both[0]["alerts"] >= 905, groups
    # suggestions only: nothing moved
    assert st.pg.scalar("SELECT alert_count FROM tickets WHERE ticket_id = %s", (second,)) == 5
    # a tight eps and a high min-samples change the answer, bad values are usage errors
    assert json.loads(hutchctl(st, "-o", "json", "ticket", "suggest", "--eps", "0.3", "--min-samples", "2"))
    env = dict(os.environ, HUTCH_DATABASE_URL=st.pg.url)
    r = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "ticket", "suggest", "--eps", "3"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--eps" in r.stderr
