"""End-to-end: real log routers publish alert files to Hutch over Kafka (issue 17).

Debian's rsyslog (omkafka, package rsyslog-kafka) and syslog-ng (kafka-c(), package
syslog-ng-mod-rdkafka, unpacked by scripts/deps.sh into the cache because the two
daemons conflict as packages) run as ordinary processes started here, with the
configs users copy (deploy/log-routers/*/hutch.conf) rendered for this stack: the
broker's address and the files of this test instead of kafka:9092 and /var/log/...
They tail real-format Falco, Wazuh and Suricata EVE lines (fixtures/log-routers) and
publish them to one topic per schema; ingest, restarted for this module with
HUTCH_INGEST_TOPICS mapping those topics to schemas, makes each line an event of its
schema, which the schema's policy decides (the events table). A line that is not
JSON reaches hutch.dlq with its coordinates. Killing the router and ingest (SIGKILL)
mid-stream loses nothing the router had delivered: every message on the topic is an
event, exactly once."""
import copy
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest

import hutch_e2e
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from hutch_e2e import OWN_FIXTURES, ROOT, TOPIC_DLQ, TOPIC_INGEST_JSON, decode_dead_letter, scaled, wait_for

TOPICS = {"falco": "hutch.ingest.falco", "wazuh": "hutch.ingest.wazuh", "suricata": "hutch.ingest.suricata"}
INGEST_TOPICS = ",".join(f"{t}={s}" for s, t in TOPICS.items()) + ",hutch.ingest.json"
# the files the shipped configs tail, replaced by this test's
CONFIG_FILES = {"falco": "/var/log/falco/events.json", "wazuh": "/var/ossec/logs/alerts/alerts.json",
                "suricata": "/var/log/suricata/eve.json"}
PACKAGES = {"falco": "ingest.falco", "wazuh": "ingest.wazuh", "suricata": "ingest.suricata"}
CACHE = os.environ.get("HUTCH_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hutch")
SYSLOG_NG_ROOT = os.environ.get("HUTCH_SYSLOG_NG") or os.path.join(CACHE, "syslog-ng", "root")


def fixture_lines(schema):
    with open(os.path.join(OWN_FIXTURES, "log-routers", f"{schema}.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def marked(schema, doc, marker):
    """The alert with a unique marker in its title field (falco rule, wazuh rule
    description, suricata signature; a suricata non-alert gets it as its sensor name)."""
    d = copy.deepcopy(doc)
    if schema == "falco":
        d["rule"] = f"{d['rule']} {marker}"
    elif schema == "wazuh":
        d["rule"]["description"] = f"{d['rule']['description']} {marker}"
    elif "alert" in d:
        d["alert"]["signature"] = f"{d['alert']['signature']} {marker}"
    else:
        d["host"] = f"sensor {marker}"
    return d


class Router:
    """A log router process on a config rendered from deploy/log-routers."""

    def __init__(self, base, brokers):
        self.dir = base
        os.makedirs(self.dir, exist_ok=True)
        self.files = {s: os.path.join(self.dir, f"{s}.json") for s in TOPICS}
        for path in self.files.values():
            open(path, "a").close()
        self.log = os.path.join(self.dir, "router.log")
        self.brokers = brokers
        self.proc = None

    def render(self, shipped, out, state_dirs=()):
        with open(os.path.join(ROOT, "deploy", "log-routers", shipped)) as f:
            text = f.read()
        assert "kafka:9092" in text
        text = text.replace("kafka:9092", self.brokers)
        for d in state_dirs:  # the router's state (queues, buffers) in this test's dir
            assert d in text, (shipped, d)
            text = text.replace(d, self.dir)
        for schema, path in CONFIG_FILES.items():
            assert path in text, (shipped, path)
            text = text.replace(path, self.files[schema])
        with open(out, "w") as f:
            f.write(text)

    def append(self, schema, line):
        with open(self.files[schema], "a") as f:
            f.write(line + "\n")

    def start(self):
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(self.command(), stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True, env=self.env())
        time.sleep(0.5)
        assert self.proc.poll() is None, f"{self.name} exited at once:\n{self.log_tail()}"

    def env(self):
        return dict(os.environ)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, n=30):
        try:
            with open(self.log, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""


class Rsyslog(Router):
    name = "rsyslog"

    def __init__(self, base, brokers):
        super().__init__(base, brokers)
        os.makedirs(os.path.join(self.dir, "work"), exist_ok=True)
        self.render("rsyslog/hutch.conf", os.path.join(self.dir, "hutch.conf"))
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        with open(self.conf, "w") as f:  # what /etc/rsyslog.conf would hold around the include
            f.write(f'global(workDirectory="{self.dir}/work")\n'
                    f'include(file="{self.dir}/hutch.conf")\n')

    def command(self):
        return ["rsyslogd", "-n", "-f", self.conf, "-i", os.path.join(self.dir, "rsyslogd.pid")]


class SyslogNg(Router):
    name = "syslog-ng"

    def __init__(self, base, brokers):
        super().__init__(base, brokers)
        self.render("syslog-ng/hutch.conf", os.path.join(self.dir, "hutch.conf"), ["/var/lib/syslog-ng"])
        self.conf = os.path.join(self.dir, "syslog-ng.conf")
        with open(self.conf, "w") as f:  # what /etc/syslog-ng/syslog-ng.conf would hold around the include
            f.write(f'@version: 3.38\noptions {{ stats-freq(0); }};\n@include "{self.dir}/hutch.conf"\n')

    def env(self):
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.path.join(SYSLOG_NG_ROOT, "usr", "lib", "syslog-ng")
        return env

    def command(self):
        modules = os.path.join(SYSLOG_NG_ROOT, "usr", "lib", "syslog-ng", "3.38")
        return [os.path.join(SYSLOG_NG_ROOT, "usr", "sbin", "syslog-ng"), f"--module-path={modules}", "-F",
                "--no-caps", "-f", self.conf, "-R", os.path.join(self.dir, "syslog-ng.persist"),
                "-p", os.path.join(self.dir, "syslog-ng.pid"), "-c", os.path.join(self.dir, "syslog-ng.ctl")]


ROUTERS = {"rsyslog": Rsyslog, "syslog-ng": SyslogNg}


def router_missing(name):
    if name == "rsyslog":
        return None if shutil.which("rsyslogd") and os.path.exists("/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so") \
            else "rsyslogd with omkafka not installed (scripts/deps.sh: rsyslog-kafka)"
    return None if os.path.exists(os.path.join(SYSLOG_NG_ROOT, "usr", "lib", "syslog-ng", "3.38", "libkafka.so")) \
        else f"syslog-ng with kafka-c() not in {SYSLOG_NG_ROOT} (scripts/deps.sh)"


@pytest.fixture(scope="module")
def routed(stack):
    """The session stack with ingest consuming the router topics, taking alerts out of
    Fluent Bit's `log` and the schema from a pod label when there is one."""
    if hutch_e2e.BROKER_KIND == "dev":
        pytest.skip("the dev broker (librdkafka's mock cluster) creates only the topics of common/topics.h")
    ingest = stack.services["ingest"]
    settings = {"HUTCH_INGEST_TOPICS": INGEST_TOPICS, "HUTCH_INGEST_UNWRAP": "log",
                "HUTCH_INGEST_SCHEMA_FIELD": "kubernetes.labels.hutch-schema"}
    before = {k: ingest.env.get(k) for k in settings}
    ingest.env.update(settings)
    ingest.restart()
    yield stack
    for k, v in before.items():
        if v is None:
            ingest.env.pop(k, None)
        else:
            ingest.env[k] = v
    ingest.restart()


def make_router(st, name):
    missing = router_missing(name)
    if missing:
        pytest.skip(missing)
    return ROUTERS[name](os.path.join(st.base, f"{name}-{uuid.uuid4().hex[:6]}"), st.broker.brokers)


def events_marked(st, marker):
    return st.pg.query("SELECT event_id, schema, source, status, policy_package, decided_at, payload::text AS payload"
                       " FROM events WHERE payload::text LIKE %s", (f"%{marker}%",))


@pytest.mark.parametrize("router_name", list(ROUTERS))
def test_router_lines_become_events_of_their_schema(routed, router_name):
    st = routed
    router = make_router(st, router_name)
    tag = uuid.uuid4().hex[:8]
    expected = {}  # marker -> (schema, alerting)
    ignored_marker = None
    lines = []
    for schema in TOPICS:
        for i, doc in enumerate(fixture_lines(schema)):
            marker = f"[e2e {router_name} {tag}-{schema}-{i}]"
            d = marked(schema, doc, marker)
            if schema == "suricata" and d.get("event_type") != "alert":
                ignored_marker = marker  # not an alert: the router's filter keeps it out
            else:
                expected[marker] = schema
            lines.append((schema, json.dumps(d, separators=(",", ":"))))
    garbage = f"{router_name} {tag}: this line is not JSON {{ at all"
    dlq = st.tail(TOPIC_DLQ)
    try:
        for schema, line in lines[:3]:  # some before the router starts, the rest while it runs
            router.append(schema, line)
        router.start()
        for schema, line in lines[3:]:
            router.append(schema, line)
        router.append("falco", garbage)

        def all_decided():
            found = {}
            for marker in expected:
                rows = [r for r in events_marked(st, marker) if r["decided_at"] is not None]
                if not rows:
                    return None
                found[marker] = rows
            return found
        try:
            found = wait_for(all_decided, scaled(90), 0.5, f"every line {router_name} published to be decided")
        except TimeoutError:
            missing = {m: [(r["schema"], r["status"], r["decided_at"]) for r in events_marked(st, m)] for m in expected}
            raise AssertionError(f"not every line was decided: {missing}") from None
        for marker, schema in expected.items():
            [ev] = found[marker]  # once
            assert ev["schema"] == schema, (marker, ev)
            assert ev["source"] == f"kafka:{TOPICS[schema]}", ev
            assert ev["policy_package"] == PACKAGES[schema], (marker, ev)
            assert ev["status"] in ("accepted", "ignored"), ev
            assert marker in json.loads(ev["payload"]).__repr__()
        # the shipped policies' verdicts: every Falco priority is an alert (Notice a low
        # one: detections are grouped, not dropped), Wazuh level 10 alerts and the level-3
        # successful sudo is ignored, Suricata alerts alert
        status = {m: found[m][0]["status"] for m in expected}
        assert sorted(status[m] for m in expected if "-falco-" in m) == ["accepted", "accepted", "accepted"]
        assert sorted(status[m] for m in expected if "-wazuh-" in m) == ["accepted", "ignored"]
        assert {status[m] for m in expected if "-suricata-" in m} == {"accepted"}

        m = dlq.read_until(lambda m: decode_dead_letter(m.value())["payload"] == garbage.encode(), scaled(30))
        assert m is not None, f"the non-JSON line did not reach {TOPIC_DLQ}"
        dl = decode_dead_letter(m.value())
        assert dl["source_topic"] == TOPICS["falco"], dl
        assert dl["source_offset"] >= 0 and dl["source_partition"] >= 0
        assert "not JSON" in dl["reason"], dl
        assert "ingest" in dl["consumer"], dl
        assert not events_marked(st, ignored_marker), "the router's filter let a Suricata flow event through"
    except BaseException:
        print(f"--- {router_name} log ---\n{router.log_tail()}")
        raise
    finally:
        dlq.close()
        router.stop()


def topic_messages(brokers, topic, needle):
    """Every message of a topic (all partitions, from the beginning up to the high
    watermarks) whose value contains needle: [(partition, offset, value)]."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"e2e-read-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "log_level": 2})
    try:
        parts = list(c.list_topics(topic, timeout=10).topics[topic].partitions)
        highs = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        todo = {p for p, h in highs.items() if h > 0}
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in todo])
        out, deadline, seen = [], time.monotonic() + scaled(60), {}
        while todo and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                for tp in c.position([TopicPartition(topic, p) for p in list(todo)]):
                    if tp.offset >= highs[tp.partition]:
                        todo.discard(tp.partition)
                continue
            seen[m.partition()] = m.offset()
            if needle.encode() in m.value():
                out.append((m.partition(), m.offset(), m.value()))
            # by position, not by the last message's offset: the last offsets of a
            # partition may be control records, which a consumer never sees
            for tp in c.position([TopicPartition(topic, p) for p in list(todo)]):
                if tp.offset >= highs[tp.partition]:
                    todo.discard(tp.partition)
        assert not todo, f"could not read {topic} to its end: high watermarks {highs}, last read {seen}"
        return out
    finally:
        c.close()


@pytest.mark.parametrize("router_name", list(ROUTERS))
def test_killing_router_and_ingest_mid_stream_loses_nothing_delivered(routed, router_name):
    st = routed
    router = make_router(st, router_name)
    ingest = st.services["ingest"]
    tag = uuid.uuid4().hex[:8]
    notice = next(d for d in fixture_lines("falco") if d["priority"] == "Notice")  # a low alert
    n = 80
    markers = [f"[e2e kill {router_name} {tag}-{i:03d}]" for i in range(n)]
    written = []

    def writer():
        for i, marker in enumerate(markers):
            router.append("falco", json.dumps(marked("falco", notice, marker), separators=(",", ":")))
            written.append(marker)
            time.sleep(0.1)
    t = threading.Thread(target=writer, daemon=True)
    try:
        router.start()
        t.start()
        wait_for(lambda: len(written) >= 15, scaled(30), 0.1, "the first lines")
        router.kill()
        wait_for(lambda: len(written) >= 25, scaled(30), 0.1, "more lines")
        ingest.kill()
        wait_for(lambda: len(written) >= 35, scaled(30), 0.1, "more lines")
        router.start()
        wait_for(lambda: len(written) >= 45, scaled(30), 0.1, "more lines")
        ingest.start()
        ingest.wait_ready()
        t.join(scaled(60))
        assert len(written) == n

        # the router caught up: the last line (written long after its restart) is on the topic
        needle = f"kill {router_name} {tag}-"
        wait_for(lambda: any(markers[-1].encode() in v for _, _, v in topic_messages(st.broker.brokers, TOPICS["falco"],
                                                                                      needle)),
                 scaled(60), 1, f"{router_name} to publish the last line")
        time.sleep(2)
        msgs = topic_messages(st.broker.brokers, TOPICS["falco"], needle)
        # every message the router delivered is one event, exactly once (a line the
        # router sent again after its crash is a new message, hence a new event)
        try:
            evs = wait_for(lambda: (lambda e: e if len(e) >= len(msgs) else None)(events_marked(st, needle)),
                           scaled(120), 1, "every delivered message to be an event")
        except TimeoutError:
            raise AssertionError(f"{len(msgs)} messages on the topic, {len(events_marked(st, needle))} events") \
                from None
        time.sleep(1)
        evs = events_marked(st, needle)
        on_topic = sorted(next(mk for mk in markers if mk.encode() in v) for _, _, v in msgs)
        in_events = sorted(next(mk for mk in markers if mk in e["payload"]) for e in evs)
        assert on_topic == in_events  # the same lines, as many times each
        assert len({e["event_id"] for e in evs}) == len(evs)
        assert all(e["schema"] == "falco" and e["policy_package"] == "ingest.falco" for e in evs)
        # what the router itself lost or repeated around its SIGKILL is its business
        # (rsyslog's in-memory queue); report it
        print(f"{router_name}: {n} lines written, {len(set(on_topic))} distinct on the topic, "
              f"{len(on_topic) - len(set(on_topic))} sent twice; {len(evs)} events")
    except BaseException:
        print(f"--- {router_name} log ---\n{router.log_tail()}")
        raise
    finally:
        router.stop()
        if not ingest.alive():
            ingest.start()
            ingest.wait_ready()


def test_wrapped_batches_from_a_kubernetes_router(routed):
    """What Fluent Bit's kafka output sends (fluent-bit.conf): records with the alert as
    a JSON string in `log` and the pod's metadata beside it, here batched in one JSON
    array on hutch.ingest.json, the schema named by a pod label; and an NDJSON message
    with a blank and a broken line. Every good record is an event of its schema, the
    Kubernetes metadata reaches the alerts as router.* attributes, each bad record
    reaches hutch.dlq alone with its reason and the message's coordinates."""
    st = routed
    tag = uuid.uuid4().hex[:8]
    falco = [marked("falco", d, f"[e2e k8s {tag}-{i}]") for i, d in enumerate(fixture_lines("falco")[:2])]
    kube = {"pod_name": f"falco-{tag}", "namespace_name": "falco", "host": "node-3", "container_name": "falco",
            "labels": {"app.kubernetes.io/name": "falco", "hutch-schema": "falco"}}
    records = [{"@timestamp": 1700000727.374458, "log": json.dumps(a) + "\n", "stream": "stdout", "kubernetes": kube}
               for a in falco]
    plain = f"Falco initialized with configuration file /etc/falco/falco.yaml {tag}"
    records.insert(1, {"@timestamp": 1700000727.5, "log": plain + "\n", "stream": "stderr", "kubernetes": kube})
    wazuh = [marked("wazuh", d, f"[e2e ndjson {tag}-{i}]") for i, d in enumerate(fixture_lines("wazuh"))]
    broken = f'{{"rule": {{"level": 12, "description": "truncated {tag}"'
    ndjson = json.dumps(wazuh[0]) + "\n\n" + broken + "\n" + json.dumps(wazuh[1]) + "\n"
    dlq = st.tail(TOPIC_DLQ)
    try:
        p1, o1 = st.produce(TOPIC_INGEST_JSON, json.dumps(records).encode())
        p2, o2 = st.produce(TOPICS["wazuh"], ndjson.encode())

        def decided(marker):
            return lambda: [r for r in events_marked(st, marker) if r["decided_at"] is not None]
        for i, a in enumerate(falco):
            [ev] = wait_for(decided(f"[e2e k8s {tag}-{i}]"), scaled(60), 0.5, f"wrapped record {i}")
            assert ev["schema"] == "falco" and ev["policy_package"] == "ingest.falco", ev
            assert json.loads(ev["payload"]) == a  # the alert itself, out of `log`
        accepted = st.pg.query("SELECT attributes FROM alerts WHERE title LIKE %s", (f"%[e2e k8s {tag}-%",))
        assert len(accepted) == 2, accepted  # Warning and Error both alert
        for row in accepted:
            attrs = {x["key"]: x["value"] for x in row["attributes"]}
            assert attrs["router.kubernetes.pod"] == f"falco-{tag}", attrs
            assert attrs["router.kubernetes.namespace"] == "falco"
            assert attrs["router.kubernetes.node"] == "node-3"
            assert attrs["router.kubernetes.container"] == "falco"
            assert attrs["router.stream"] == "stdout"
            assert attrs["rule"].startswith(("Terminal shell", "Write below")), attrs  # the policy's own stay
        for i in range(2):
            [ev] = wait_for(decided(f"[e2e ndjson {tag}-{i}]"), scaled(60), 0.5, f"NDJSON line {i}")
            assert ev["schema"] == "wazuh" and ev["policy_package"] == "ingest.wazuh", ev

        dead = {}
        for _ in range(2):
            m = dlq.read_until(lambda m: tag.encode() in decode_dead_letter(m.value())["payload"], scaled(30))
            assert m is not None, f"dead letters so far: {list(dead)}"
            dl = decode_dead_letter(m.value())
            dead[dl["source_topic"]] = dl
        wrapped_dl, line_dl = dead[TOPIC_INGEST_JSON], dead[TOPICS["wazuh"]]
        assert (wrapped_dl["source_partition"], wrapped_dl["source_offset"]) == (p1, o1)
        assert "log holds a string that is not JSON" in wrapped_dl["reason"], wrapped_dl
        assert (line_dl["source_partition"], line_dl["source_offset"]) == (p2, o2)
        assert line_dl["payload"] == broken.encode(), line_dl  # the line alone
        assert "line 3 is not JSON" in line_dl["reason"], line_dl
    finally:
        dlq.close()
