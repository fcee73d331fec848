"""The end-to-end harness: a whole Hutch stack of real processes on loopback.

Postgres (scripts/postgres.sh, a temp data dir), a Kafka broker (scripts/kafka.sh:
real Apache Kafka in KRaft mode; HUTCH_BROKER=dev: build/bin/hutch-devbroker), the
topics (scripts/topics.py), and the six service binaries from HUTCH_BIN_DIR (default
build/bin), each on a free loopback port picked here and handed over in its
HUTCH_<SERVICE>_PORT. Helpers post alerts, query Postgres, produce to and tail Kafka
topics, kill and restart services, stop and start the broker.

Runs on Debian's /usr/bin/python3 with python3-pytest, -psycopg2, -requests and
-confluent-kafka (scripts/deps.sh installs them). Every wait is bounded; timeouts
scale by HUTCH_E2E_SLOW (default 3 in MODE=asan, else 1)."""
import copy
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import psycopg2
import requests
from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import topics as hutch_topics  # noqa: E402  (scripts/topics.py)
from services import service_names  # noqa: E402  (scripts/services.py)
sys.path.insert(0, os.path.join(ROOT, "build", "py"))  # `make pyproto`: proto/ as Python classes
from hutch.v1 import alert_pb2, envelope_pb2  # noqa: E402

MODE = os.environ.get("HUTCH_MODE", "debug")
BIN_DIR = os.environ.get("HUTCH_BIN_DIR") or os.path.join(
    ROOT, {"debug": "build", "asan": "build/asan", "release": "build/release"}.get(MODE, "build"), "bin")
BROKER_KIND = os.environ.get("HUTCH_BROKER", "kafka")
SLOW = float(os.environ.get("HUTCH_E2E_SLOW", "3" if MODE == "asan" or "/asan/" in BIN_DIR else "1"))
SERVICES = service_names()  # common/services.h, in pipeline order
SHARED_FIXTURES = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "alerts")
OWN_FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

_TOPICS = hutch_topics.topic_constants()  # common/topics.h
TOPIC_INGEST_JSON = _TOPICS["TOPIC_INGEST_JSON"]
TOPIC_EVENTS_RAW = _TOPICS["TOPIC_EVENTS_RAW"]
TOPIC_ALERTS_ACCEPTED = _TOPICS["TOPIC_ALERTS_ACCEPTED"]
TOPIC_DLQ = _TOPICS["TOPIC_DLQ"]


def scaled(seconds):
    return seconds * SLOW


def free_port(pair=False):
    """A free loopback port (and port+1 free too when pair: Kafka's controller)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pair or port >= 65535:
            if not pair:
                return port
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def wait_for(fn, timeout, interval=0.2, what="condition"):
    """Polls fn() until it returns a truthy value (returned), or raises after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # a transient error (database restarting...) is retried
            last_exc = e
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}"
                               + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


def load_fixture(name):
    with open(os.path.join(OWN_FIXTURES, name)) as f:
        return json.load(f)


GUARDDUTY_SAMPLE_IP, GUARDDUTY_SAMPLE_INSTANCE = "198.51.100.23", "i-0b1c2d3e4f5a6b7c8"


def guardduty_finding(tag=None):
    """Our GuardDuty sample (fixtures/guardduty, modelled on the shared samples) with a
    unique tag in its title and id, and an actor of its own derived from the tag (the
    remote IP in 100.64.0.0/10, the instance id), so that each test's alerts are its own
    tickets: cluster binds alerts of one actor and shape (services/cluster/bind.c), and
    the tag alone is masked out of the shape. One tag, one actor."""
    tag = tag or uuid.uuid4().hex[:12]
    h = hashlib.sha256(tag.encode()).digest()
    ip = f"100.{64 + (h[0] & 63)}.{h[1]}.{h[2]}"  # 22 bits: two tags of a session do not meet
    instance = "i-0" + h[3:11].hex()[:16]
    text = json.dumps(load_fixture("guardduty/ec2_ssh_bruteforce.json"))
    f = json.loads(text.replace(GUARDDUTY_SAMPLE_IP, ip).replace(GUARDDUTY_SAMPLE_INSTANCE, instance))
    f["id"] = uuid.uuid4().hex
    f["title"] = f"{f['title']} [e2e {tag}]"
    return f


def guardduty_actor(finding):
    """(remote IP, instance id) of a guardduty_finding."""
    return (finding["service"]["action"]["networkConnectionAction"]["remoteIpDetails"]["ipAddressV4"],
            finding["resource"]["instanceDetails"]["instanceId"])


# --- messages ----------------------------------------------------------------------

def decode_dead_letter(buf):
    """DeadLetter (proto/hutch/v1/envelope.proto) as a dict."""
    m = envelope_pb2.DeadLetter.FromString(buf)
    return {"reason": m.reason, "source_topic": m.source_topic, "source_partition": m.source_partition,
            "source_offset": m.source_offset, "payload": m.payload, "consumer": m.consumer}


# --- processes ---------------------------------------------------------------------

class Postgres:
    def __init__(self, base):
        self.dir = os.path.join(base, "pg")
        self.port = free_port()
        self.url = None
        self._conn = None

    def start(self):
        out = subprocess.run([os.path.join(ROOT, "scripts", "postgres.sh"), "start", self.dir, str(self.port)],
                             check=True, capture_output=True, text=True, timeout=120)
        self.url = out.stdout.strip().splitlines()[-1]

    def stop(self):
        if self._conn:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        subprocess.run([os.path.join(ROOT, "scripts", "postgres.sh"), "stop", self.dir],
                       capture_output=True, timeout=60)

    def conn(self):
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.url, connect_timeout=5)
            self._conn.autocommit = True
        return self._conn

    def query(self, sql, params=None):
        """Rows as dicts. Parameterised: pass values in params, never in sql."""
        try:
            with self.conn().cursor() as cur:
                cur.execute(sql, params)
                if cur.description is None:
                    return []
                cols = [d[0] for d in cur.description]
                return [dict(zip(cols, r)) for r in cur.fetchall()]
        except psycopg2.OperationalError:
            self._conn = None
            raise

    def scalar(self, sql, params=None):
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None


def make_test_tls(d):
    """A test CA and a broker certificate for 127.0.0.1 signed by it, made with the
    openssl tool. Returns (ca.pem, broker.pem: the broker's key and certificate)."""
    os.makedirs(d, exist_ok=True)

    def ssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60, cwd=d)
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=Hutch e2e test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "broker.crt", "-days", "2", "-extfile", "ext.cnf")
    with open(os.path.join(d, "broker.pem"), "w") as out:
        for name in ("broker.key", "broker.crt"):
            with open(os.path.join(d, name)) as f:
                out.write(f.read())
    return os.path.join(d, "ca.pem"), os.path.join(d, "broker.pem")


class KafkaBroker:
    """Real Apache Kafka via scripts/kafka.sh; stop/start keep the data and the port.
    sasl_users ({name: password}): a second listener, SASL_SSL (SCRAM-SHA-512 and
    PLAIN) with a test CA, at sasl_brokers; the test helpers keep the plain one."""
    restartable = True

    def __init__(self, base, sasl_users=None):
        self.dir = os.path.join(base, "kafka")
        self.port = free_port(pair=True)
        self.brokers = f"127.0.0.1:{self.port}"
        self.sasl_users = sasl_users
        self.env = dict(os.environ)
        if sasl_users:
            self.sasl_port = free_port()
            self.sasl_brokers = f"127.0.0.1:{self.sasl_port}"
            self.ca_pem, pem = make_test_tls(os.path.join(base, "tls"))
            self.env.update({"HUTCH_KAFKA_SASL_SSL_PORT": str(self.sasl_port), "HUTCH_KAFKA_TLS_PEM": pem,
                             "HUTCH_KAFKA_SASL_USERS": ",".join(f"{u}={p}" for u, p in sasl_users.items())})

    def start(self):
        subprocess.run([os.path.join(ROOT, "scripts", "kafka.sh"), "start", self.dir, str(self.port)],
                       check=True, capture_output=True, text=True, timeout=120, env=self.env)

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts", "kafka.sh"), "stop", self.dir],
                       capture_output=True, timeout=120)

    def log_tail(self, n=40):
        return tail_file(os.path.join(self.dir, "kafka.log"), n)


class DevBroker:
    """build/bin/hutch-devbroker (librdkafka mock cluster): nothing survives a restart."""
    restartable = False

    def __init__(self, base):
        self.log = os.path.join(base, "logs", "devbroker.log")
        self.proc = None
        self.brokers = None

    def start(self):
        exe = os.path.join(BIN_DIR, "hutch-devbroker")
        self.proc = subprocess.Popen([exe], stdout=subprocess.PIPE, stderr=open(self.log, "ab"),
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            raise RuntimeError(f"hutch-devbroker printed no address (log {self.log})")
        self.brokers = line

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, n=40):
        return tail_file(self.log, n)


def tail_file(path, n=40):
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
    except OSError:
        return f"(no {path})"


class Service:
    def __init__(self, name, base, env):
        self.name = name
        self.exe = os.path.join(BIN_DIR, f"hutch-{name}")
        self.port = free_port()
        self.log = os.path.join(base, "logs", f"{name}.log")
        self.env = dict(env)
        self.env[f"HUTCH_{name.upper()}_PORT"] = str(self.port)
        self.proc = None
        self.exit_codes = []  # of every stop/kill, for the final clean-shutdown check

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        if not os.access(self.exe, os.X_OK):
            raise FileNotFoundError(f"{self.exe} missing: build it (make MODE={MODE})")
        with open(self.log, "ab") as logf:
            logf.write(f"=== start {time.strftime('%H:%M:%S')} ===\n".encode())
            logf.flush()
            self.proc = subprocess.Popen([self.exe], env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def ready(self):
        try:
            return requests.get(self.url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout=None):
        timeout = timeout or scaled(60)

        def check():
            if not self.alive():
                raise RuntimeError(f"hutch-{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            return self.ready()
        try:
            wait_for(check, timeout, 0.2, f"hutch-{self.name} /readyz")
        except RuntimeError:
            raise
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n{self.log_tail()}") from None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self, timeout=None):
        """SIGTERM and wait (clean drain); returns the exit code (None if it had to be killed)."""
        if not self.alive():
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout or scaled(30))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            rc = None
        self.exit_codes.append(rc)
        return rc

    def restart(self):
        self.stop()
        self.start()
        self.wait_ready()

    def log_tail(self, n=40):
        return tail_file(self.log, n)

    def metrics(self):
        return read_metrics(self.url)


class Stack:
    """Everything for one pytest session. start() brings it all up; close() takes it down.
    kafka_env: how the services reach Kafka instead of the plain listener, given the
    broker (e.g. its SASL_SSL listener and credentials); broker: a KafkaBroker to use."""

    def __init__(self, broker=None, kafka_env=None):
        self.base = tempfile.mkdtemp(prefix="hutch-e2e-")
        os.chmod(self.base, 0o755)  # the postgres user must reach base/pg
        os.makedirs(os.path.join(self.base, "logs"))
        self.pg = Postgres(self.base)
        self.kafka_env = kafka_env
        self.broker = (broker(self.base) if broker else
                       DevBroker(self.base) if BROKER_KIND == "dev" else KafkaBroker(self.base))
        self.services = {}
        self._producer = None
        self.timings = {}

    # lifecycle
    def start(self):
        t = time.monotonic()
        self.pg.start()
        self.timings["postgres"] = time.monotonic() - t
        t = time.monotonic()
        self.broker.start()
        self.timings["broker"] = time.monotonic() - t
        hutch_topics.ensure_topics(self.broker.brokers, 8, timeout=60)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_")}
        env.update({
            "HUTCH_KAFKA_BROKERS": self.broker.brokers,
            "HUTCH_DATABASE_URL": self.pg.url,
            "HUTCH_HTTP_ADDR": "127.0.0.1",
            "HUTCH_POLICY_DIR": os.path.join(ROOT, "policies"),
            "HUTCH_LOG_LEVEL": os.environ.get("HUTCH_LOG_LEVEL", "info"),
            # a SIGKILLed consumer's partitions come back after 6 s, not 45 s
            "HUTCH_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "HUTCH_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            # threat intel: RDAP needs no key and is on by default; tests never call the
            # real one (test_intel_pipeline.py points enrich at the fake providers)
            "HUTCH_INTEL_RDAP": "0",
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1"),
            "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
        })
        if self.kafka_env:
            env.update(self.kafka_env(self.broker))
        self.env = env
        t = time.monotonic()
        for name in SERVICES:
            self.services[name] = Service(name, self.base, env)
            self.services[name].start()
        if "cluster" in self.services:  # hutchctl alert similar asks its index
            self.env["HUTCH_CLUSTER_URL"] = self.services["cluster"].url
        for s in self.services.values():
            s.wait_ready()
        self.timings["services"] = time.monotonic() - t

    def close(self):
        """Stops services (SIGTERM: clean drain), broker and Postgres. Returns the
        services that did not exit 0 on SIGTERM, as {name: [exit codes]}."""
        bad = {}
        for name in reversed(SERVICES):
            s = self.services.get(name)
            if s:
                s.stop()
                if any(rc != 0 for rc in s.exit_codes):
                    bad[name] = s.exit_codes
        if self._producer:
            self._producer.flush(5)
            self._producer = None
        self.broker.stop()
        self.pg.stop()
        if os.environ.get("HUTCH_E2E_KEEP"):
            print(f"e2e state kept in {self.base}", file=sys.stderr)
        else:
            shutil.rmtree(self.base, ignore_errors=True)
        return bad

    # HTTP
    @property
    def ingest_url(self):
        return self.services["ingest"].url

    def post_alert(self, schema, body, timeout=30, headers=None):
        """POST /hooks/alert/raw/{schema}; body: dict/list (sent as JSON) or bytes/str."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return requests.post(f"{self.ingest_url}/hooks/alert/raw/{schema}", data=body, headers=h, timeout=timeout)

    def post_until_accepted(self, schema, body, timeout=None):
        """Posts until 202 (ingest down or broker down answers otherwise). Returns the event id."""
        def attempt():
            try:
                r = self.post_alert(schema, body, timeout=15)
            except requests.RequestException:
                return None
            return r.json()["event_id"] if r.status_code == 202 else None
        return wait_for(attempt, timeout or scaled(90), 0.5, "ingest to accept an alert")

    # Kafka
    def producer(self):
        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.broker.brokers, "enable.idempotence": True,
                                       "message.timeout.ms": 30000, "log_level": 2})
        return self._producer

    def produce(self, topic, value, key=None, headers=None, timeout=30):
        """Produces one message and waits for the broker's acknowledgement; returns (partition, offset)."""
        result = {}

        def cb(err, msg):
            result["err"], result["msg"] = err, msg
        p = self.producer()
        p.produce(topic, value=value, key=key, headers=headers, on_delivery=cb)
        deadline = time.monotonic() + timeout
        while "err" not in result and time.monotonic() < deadline:
            p.poll(0.1)
        if "err" not in result:
            raise TimeoutError(f"no acknowledgement for a message to {topic}")
        if result["err"] is not None:
            raise RuntimeError(f"produce to {topic}: {result['err']}")
        return result["msg"].partition(), result["msg"].offset()

    def tail(self, topic):
        """A reader of `topic` from its current end (messages produced from now on)."""
        return TopicTail(self.broker.brokers, topic)

    # database
    def alerts_titled(self, title):
        return self.pg.query("SELECT * FROM alerts WHERE title = %s ORDER BY created_at", (title,))

    def wait_alert_done(self, title, timeout=None, count=1):
        """Waits until `count` alerts titled `title` went all the way: bound to a ticket
        and each with its notification row. Returns the alert rows."""
        def done():
            rows = self.pg.query(
                "SELECT a.alert_id, a.event_id, a.ticket_id,"
                " (SELECT count(*) FROM ticket_alerts ta WHERE ta.alert_id = a.alert_id) AS bound,"
                " (SELECT count(*) FROM notifications n WHERE n.alert_id = a.alert_id) AS notified"
                " FROM alerts a WHERE a.title = %s", (title,))
            if len(rows) >= count and all(r["bound"] and r["notified"] for r in rows):
                return rows
            return None
        return wait_for(done, timeout or scaled(60), 0.3, f"alert {title!r} to reach a ticket and a notification")

    def wait_agent_summary(self, ticket_id, timeout=None):
        """Waits until hutch-agent wrote its summary into a new ticket (without a model:
        the template summary, on by default), so that a test's own changes come after it.
        Returns that history row."""
        def edited():
            rows = self.pg.query("SELECT * FROM ticket_history WHERE ticket_id = %s AND kind = 'edited'"
                                 " AND actor = 'hutch-agent' ORDER BY seq", (str(ticket_id),))
            return rows[0] if rows else None
        return wait_for(edited, timeout or scaled(60), 0.2, f"hutch-agent's summary of ticket {ticket_id}")


class TopicTail:
    """Assigns every partition of a topic at its high watermark, then reads forward."""

    def __init__(self, brokers, topic):
        self.topic = topic
        self.c = Consumer({"bootstrap.servers": brokers, "group.id": f"e2e-tail-{uuid.uuid4().hex[:8]}",
                           "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 2})
        md = self.c.list_topics(topic, timeout=10)
        parts = list(md.topics[topic].partitions)
        tps = []
        for p in parts:
            # right after topic creation a partition may have no leader yet: retry
            high = wait_for(lambda: self.c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] + 1,
                            scaled(30), 0.3, f"{topic}[{p}] watermark") - 1
            tps.append(TopicPartition(topic, p, high))
        self.c.assign(tps)

    def read_until(self, pred, timeout):
        """Reads until pred(msg) is true for a message (returned); None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.c.poll(0.5)
            if m is None or m.error():
                continue
            if pred(m):
                return m
        return None

    def read_all(self, seconds):
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            m = self.c.poll(0.3)
            if m is not None and not m.error():
                out.append(m)
        return out

    def close(self):
        self.c.close()


# --- load ---------------------------------------------------------------------------

LOAD_RATE = int(os.environ.get("HUTCH_E2E_LOAD_RATE", "2000"))          # alerts/s offered
# for this long: 5 s (10,000 alerts); under ASan, whose services are about 3x slower, 5/3 s
LOAD_SECONDS = float(os.environ.get("HUTCH_E2E_LOAD_SECONDS", str(5 / SLOW)))


class Load:
    """Offers GuardDuty findings at `rate` per second for `seconds`, in a thread, on
    hutch.ingest.json (the log-router path: ingest derives the event id from the
    message's coordinates, so even a redelivery makes one event per message). The
    findings come from `groups` actors with their own titles, so they pile into that
    many tickets, as a storm does. check() then proves every one went all the way exactly once."""

    def __init__(self, st, rate=None, seconds=None, groups=10):
        self.st, self.rate, self.seconds, self.groups = st, rate or LOAD_RATE, seconds or LOAD_SECONDS, groups
        self.tag = f"load-{uuid.uuid4().hex[:8]}"
        self.sent = 0
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        # one actor per group (guardduty_finding): cluster binds by actor and shape
        self.templates = [guardduty_finding(f"{self.tag}-{g}") for g in range(groups)]
        self.titles = [f["title"] for f in self.templates]

    def _run(self):
        try:
            p = Producer({"bootstrap.servers": self.st.broker.brokers, "enable.idempotence": True,
                          "linger.ms": 5, "message.timeout.ms": 300000, "log_level": 2})
            total = int(self.rate * self.seconds)
            t0 = time.monotonic()
            for i in range(total):
                f = dict(self.templates[i % self.groups])
                f["id"] = f"{self.tag}-{i}"
                while True:
                    try:
                        p.produce(TOPIC_INGEST_JSON, value=json.dumps(f).encode(), key=f["id"].encode(),
                                  headers=[("hutch-schema", b"guardduty")])
                        break
                    except BufferError:
                        p.poll(0.05)
                self.sent += 1
                ahead = t0 + (i + 1) / self.rate - time.monotonic()
                if ahead > 0.002:
                    p.poll(0)
                    time.sleep(ahead)
            left = p.flush(300)
            if left:
                raise RuntimeError(f"{left} load messages not acknowledged")
            self.elapsed = time.monotonic() - t0
        except BaseException as e:  # reported by join()
            self.error = e

    def start(self):
        self.thread.start()
        return self

    def wait_sent(self, k, timeout):
        wait_for(lambda: self.sent >= k or self.error, timeout, 0.05, f"{k} load messages sent")

    def join(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "load did not finish"
        if self.error:
            raise self.error
        return self

    def check(self, timeout):
        """Every offered finding: one event, one alert, bound to its group's one ticket,
        one notification; nothing doubled."""
        n = self.sent
        like = f"%[e2e {self.tag}-%"

        def counts():
            return self.st.pg.query(
                "SELECT (SELECT count(*) FROM events WHERE payload->>'title' LIKE %(t)s) AS events,"
                " (SELECT count(*) FROM alerts WHERE title LIKE %(t)s) AS alerts,"
                " (SELECT count(DISTINCT event_id) FROM alerts WHERE title LIKE %(t)s) AS alert_events,"
                " (SELECT count(*) FROM alerts a JOIN ticket_alerts ta USING (alert_id) WHERE a.title LIKE %(t)s)"
                "  AS bound,"
                " (SELECT count(*) FROM notifications n JOIN alerts a USING (alert_id) WHERE a.title LIKE %(t)s)"
                "  AS notified,"
                " (SELECT count(*) FROM tickets WHERE title LIKE %(t)s) AS tickets,"
                " (SELECT coalesce(sum(alert_count), 0) FROM tickets WHERE title LIKE %(t)s) AS ticket_alerts",
                {"t": like})[0]
        last = {}

        def done():
            last.update(counts())
            return last["notified"] >= n and last["bound"] >= n
        try:
            wait_for(done, timeout, 1.0, f"{n} load alerts to be notified")
        except TimeoutError as e:
            raise TimeoutError(f"{e}: {last}") from None
        c = counts()
        assert c == {"events": n, "alerts": n, "alert_events": n, "bound": n, "notified": n,
                     "tickets": self.groups, "ticket_alerts": n}, c
        return c


# --- policy service helpers (test_policy.py) -----------------------------------------

def decode_alert(buf):
    """hutch.v1.Alert (proto/hutch/v1/alert.proto), the fields policy sets, as a dict."""
    m = alert_pb2.Alert.FromString(buf)
    attrs = [{"key": a.key, "value": a.value, "link": a.link, "type": a.type, "persist": a.persist,
              "ttl_seconds": a.ttl_seconds} for a in m.attributes]
    return {"alert_id": m.alert_id, "event_id": m.event_id, "schema": m.schema, "title": m.title,
            "description": m.description, "namespace": m.namespace, "source": m.source, "channel": m.channel,
            "tags": list(m.tags), "attributes": attrs, "policy_package": m.policy_package}


def read_metrics(url):
    """GET url/metrics -> {"name" or "name{labels}": float} (Prometheus text)."""
    r = requests.get(url + "/metrics", timeout=5)
    r.raise_for_status()
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            pass
    return out
