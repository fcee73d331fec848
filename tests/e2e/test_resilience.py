"""End-to-end failure tests: poison messages, a service SIGKILLed mid-stream, two
instances of a service sharing its partitions while one is killed, the Kafka broker
stopped for 20 s, Postgres stopped for 15 s. Each failure happens under a load of
HUTCH_E2E_LOAD_RATE (2,000) alerts/s on the log-router path (hutch_e2e.Load) beside
the tracked HTTP alerts. Nothing accepted may be lost, and no alert, ticket or
notification may be duplicated."""
import os
import threading
import time
import uuid

import pytest
import requests

from hutch_e2e import (SERVICES, TOPIC_DLQ, TOPIC_EVENTS_RAW, TOPIC_INGEST_JSON, Load, Service,
                       decode_dead_letter, guardduty_finding, scaled, wait_for)


@pytest.mark.parametrize("topic,consumer", [(TOPIC_EVENTS_RAW, "policy"), (TOPIC_INGEST_JSON, "ingest")])
def test_poison_message_goes_to_dlq_and_pipeline_goes_on(healthy, topic, consumer):
    st = healthy
    dlq = st.tail(TOPIC_DLQ)
    try:
        garbage = b"\xff\xfe\x00poison-" + uuid.uuid4().hex.encode() + b"\x07{{{not protobuf, not json"
        part, off = st.produce(topic, garbage, key=b"poison", headers=[("hutch-schema", b"guardduty")])
        m = dlq.read_until(lambda m: decode_dead_letter(m.value())["payload"] == garbage, scaled(60))
        assert m is not None, f"no DeadLetter for the poison message on {topic}"
        dl = decode_dead_letter(m.value())
        assert dl["source_topic"] == topic
        assert (dl["source_partition"], dl["source_offset"]) == (part, off)
        assert dl["reason"], dl
        assert consumer in dl["consumer"], dl
        # exactly once in the DLQ
        again = dlq.read_all(2.0)
        assert not [x for x in again if decode_dead_letter(x.value())["payload"] == garbage]
    finally:
        dlq.close()
    # the pipeline goes on
    f = guardduty_finding()
    assert st.post_alert("guardduty", f).status_code == 202
    st.wait_alert_done(f["title"])
    for s in st.services.values():
        assert s.alive(), f"{s.name} died on the poison message"


class Poster:
    """Posts n unique GuardDuty findings in a background thread, one after another,
    each retried until 202 (connection refused or 503 while something is down)."""

    def __init__(self, st, n, pause=0.1):
        self.st, self.n, self.pause = st, n, pause
        self.tag = uuid.uuid4().hex[:8]
        self.titles, self.accepted, self.statuses = [], {}, []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.error = None

    def run(self):
        try:
            for i in range(self.n):
                f = guardduty_finding(f"{self.tag}-{i:03d}")
                self.titles.append(f["title"])
                deadline = time.monotonic() + scaled(120)
                while time.monotonic() < deadline:
                    try:
                        r = self.st.post_alert("guardduty", f, timeout=15)
                        self.statuses.append((time.monotonic(), r.status_code))
                        if r.status_code == 202:
                            self.accepted[f["title"]] = r.json()["event_id"]
                            break
                    except requests.RequestException:
                        self.statuses.append((time.monotonic(), "conn"))
                    time.sleep(0.2)
                else:
                    raise TimeoutError(f"alert {i} never accepted")
                time.sleep(self.pause)
        except BaseException as e:  # reported by join()
            self.error = e

    def start(self):
        self.thread.start()
        return self

    def wait_accepted(self, k, timeout):
        wait_for(lambda: len(self.accepted) >= k or self.error, timeout, 0.05, f"{k} accepted alerts")

    def join(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "poster did not finish"
        if self.error:
            raise self.error


def check_exactly_once(st, poster, timeout, ingest_may_duplicate=False):
    """Every accepted alert reached a ticket and a notification; no duplicates."""
    for title in poster.titles:
        st.wait_alert_done(title, timeout=timeout)
    for title in poster.titles:
        alerts = st.pg.query("SELECT alert_id, event_id, ticket_id FROM alerts WHERE title = %s", (title,))
        events = {str(a["event_id"]) for a in alerts}
        if title in poster.accepted:
            assert poster.accepted[title] in events, f"accepted event of {title!r} lost"
        # one alert per event, whatever was redelivered
        assert len(alerts) == len(events), f"duplicate alerts for {title!r}: {alerts}"
        if not ingest_may_duplicate:
            assert len(alerts) == 1, f"{title!r}: {len(alerts)} alerts"
        tickets = {a["ticket_id"] for a in alerts}
        assert len(tickets) == 1, f"{title!r} split over tickets {tickets}"
        assert st.pg.scalar("SELECT count(*) FROM tickets WHERE title = %s", (title,)) == 1, \
            f"duplicate tickets for {title!r}"
        ticket = tickets.pop()
        assert st.pg.scalar("SELECT alert_count FROM tickets WHERE ticket_id = %s", (ticket,)) == len(alerts)
        notes = st.pg.query("SELECT kind, alert_id FROM notifications WHERE ticket_id = %s", (ticket,))
        assert len(notes) == len(alerts), f"{title!r}: {len(notes)} notifications for {len(alerts)} alerts"
        assert sorted(n["kind"] for n in notes) == sorted(["new_ticket"] + ["alert_bound"] * (len(alerts) - 1)), notes
        assert len({str(n["alert_id"]) for n in notes}) == len(notes)


@pytest.mark.parametrize("victim", SERVICES)
def test_service_sigkilled_midstream_loses_and_duplicates_nothing(healthy, victim):
    st = healthy
    n = int(os.environ.get("HUTCH_E2E_KILL_ALERTS", "30"))
    load = Load(st).start()
    poster = Poster(st, n, pause=0.05).start()
    poster.wait_accepted(n // 3, scaled(60))
    load.wait_sent(load.rate * load.seconds // 2, scaled(60))
    svc = st.services[victim]
    svc.kill()  # SIGKILL: no drain, no commit
    time.sleep(1.0)
    svc.start()
    svc.wait_ready()
    poster.join(scaled(180))
    load.join(scaled(180))
    check_exactly_once(st, poster, scaled(120), ingest_may_duplicate=(victim == "ingest"))
    load.check(scaled(300))


@pytest.mark.parametrize("name", ["policy", "cluster"])
def test_two_instances_share_partitions_one_killed(healthy, name):
    """A second instance of a service joins its consumer group; under load both take
    partitions; one is SIGKILLed midway (its partitions move to the other). No alert,
    ticket or notification is doubled, nothing is lost."""
    st = healthy
    second = Service(name, st.base, st.env)
    second.log = second.log.replace(".log", "-2.log")
    second.start()
    try:
        second.wait_ready()
        load = Load(st).start()
        poster = Poster(st, 20, pause=0.05).start()
        load.wait_sent(load.rate * load.seconds // 2, scaled(60))
        # both members consume: each has handled messages
        def consumed(svc):
            m = svc.metrics()
            return sum(v for k, v in m.items() if k.startswith(f"hutch_{name}_messages_total"))
        wait_for(lambda: consumed(second) > 0 and consumed(st.services[name]) > 0, scaled(60), 0.5,
                 "both instances to consume")
        st.services[name].kill()  # SIGKILL one of the two mid-stream
        poster.join(scaled(180))
        load.join(scaled(180))
        load.check(scaled(300))
        check_exactly_once(st, poster, scaled(120))
    finally:
        second.stop()
        st.services[name].start()
        st.services[name].wait_ready()


def sample_statuses(seconds, request):
    """Calls request() every 0.5 s for `seconds`: [(seconds since start, status code or
    the exception's name)], to see what a component answered during an outage."""
    t0 = time.monotonic()
    out = []
    while time.monotonic() - t0 < seconds:
        try:
            out.append((round(time.monotonic() - t0, 1), request().status_code))
        except requests.RequestException as e:
            out.append((round(time.monotonic() - t0, 1), type(e).__name__))
        time.sleep(0.5)
    return out


def test_broker_down_20s_loses_nothing(healthy):
    st = healthy
    if not st.broker.restartable:
        pytest.skip("the dev broker keeps nothing across restarts (HUTCH_BROKER=dev)")
    n = int(os.environ.get("HUTCH_E2E_OUTAGE_ALERTS", "20"))
    load = Load(st).start()
    # slow enough to keep posting (retrying on 503) through the whole outage
    before = Poster(st, n, pause=0.3).start()
    before.wait_accepted(n // 4, scaled(60))
    load.wait_sent(load.rate * load.seconds // 2, scaled(60))
    st.broker.stop()
    # while the broker is down, ingest answers 503 (it may take a moment to notice)
    codes = sample_statuses(20, lambda: st.post_alert("guardduty", guardduty_finding(), timeout=15))
    st.broker.start()
    late = [c for t, c in codes if t >= 5]
    assert late and all(c == 503 for c in late), f"ingest during the outage: {codes}"
    before.join(scaled(180))
    after = Poster(st, 5).start()
    after.join(scaled(180))
    for s in st.services.values():
        assert s.alive(), f"{s.name} died during the broker outage:\n{s.log_tail()}"
    load.join(scaled(300))
    check_exactly_once(st, before, scaled(180), ingest_may_duplicate=True)
    check_exactly_once(st, after, scaled(120))
    load.check(scaled(300))


def test_postgres_down_15s_loses_nothing(healthy):
    """Postgres stopped for 15 s mid-stream: ingest keeps taking alerts (it needs only
    Kafka), the other services retry and report not ready, and once Postgres is back
    every alert arrives exactly once."""
    st = healthy
    n = int(os.environ.get("HUTCH_E2E_PG_OUTAGE_ALERTS", "20"))
    load = Load(st).start()
    poster = Poster(st, n, pause=0.3).start()
    poster.wait_accepted(n // 4, scaled(60))
    load.wait_sent(load.rate * load.seconds // 2, scaled(60))
    st.pg.stop()
    policy_readiness = sample_statuses(15, lambda: requests.get(st.services["policy"].url + "/readyz", timeout=5))
    st.pg.start()
    late = [c for t, c in policy_readiness if t >= 5]
    assert late and all(c == 503 for c in late), f"policy /readyz during the outage: {policy_readiness}"
    poster.join(scaled(180))
    load.join(scaled(180))
    for s in st.services.values():
        assert s.alive(), f"{s.name} died during the Postgres outage:\n{s.log_tail()}"
    check_exactly_once(st, poster, scaled(180))
    load.check(scaled(300))
