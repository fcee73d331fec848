#!/usr/bin/python3
"""Policy service benchmark driver (scripts/bench-policy.sh runs it against Postgres
and a Kafka broker it started, with no Hutch service running).

Measures hutch-policy alone: Kafka in (hutch.events.raw), Postgres (events, alerts,
processed_messages rows) and Kafka out (hutch.alerts.accepted).

  1. Builds N GuardDuty findings (EventBridge-wrapped; twelve finding types of
     realistic shapes: instance, access key and S3 bucket resources; network, DNS,
     API-call and port-probe actions), about --low-fraction of them (default 20%)
     low severity (< 4, the kind the shipped policy ignores), each packed as a
     hutch.v1.RawEvent exactly as ingest packs one (meta with a UUIDv7 id, a trace
     id, created time, producer "hutch-ingest"; event_id UUIDv7; schema
     "guardduty"; source "http:raw"; payload_json; Kafka key = event id). The
     protobuf is written by hand (the wire format of two flat messages), so no
     generated Python code or python3-protobuf is needed.
  2. Produces them all to hutch.events.raw and waits for every acknowledgement
     BEFORE hutch-policy starts, so what is measured is the service's consumption
     rate and not this producer's.
  3. Starts hutch-policy (--bin) with HUTCH_POLICY_DIR=--policy-dir, writes its pid
     to <state>/pids/policy.pid (so `stack.sh down` stops it if this script dies),
     and polls (bounded by --timeout) until every event has its events row (or was
     dead-lettered) and hutch.alerts.accepted holds as many messages as there are
     alerts rows.
  4. Reports:
     - events/s and alerts/s over the consumption span: first .. last
       events.decided_at (now() of the service's transaction, i.e. its start; the
       last commit is left out, a few ms over 20,000 events);
     - the same over the whole run including start-up (exec .. the poller seeing
       everything done: Postgres connection, migrations, consumer group join);
     - peak RSS (VmHWM of /proc/<pid>/status once done, before SIGTERM), CPU seconds
       of the service (utime + stime since exec) and of Kafka and Postgres during
       the run; VmRSS is also sampled every second (memory.rss_samples: seconds,
       events rows, kB) to tell a backlog's buffers from growth;
     - checks: every event id has its row and no other row exists, processed_messages
       holds N rows, sum(alert_count) = alerts rows = messages on
       hutch.alerts.accepted = distinct alert ids in those messages (each message
       decoded: no duplicate produce), nothing on hutch.dlq, the service's
       redelivered and dead counters are 0, and it exits 0 on SIGTERM.

Exit status 0, or 1 when the run is incomplete or a check fails (the JSON is written
anyway, with "complete": false and the failed checks listed).
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request

import psycopg2

from procfs import proc_cpu, proc_status, read_pid, tree_cpu  # bench/procfs.py
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

TOPIC_RAW = "hutch.events.raw"
TOPIC_ALERTS = "hutch.alerts.accepted"
TOPIC_DLQ = "hutch.dlq"

# ---- protobuf wire format (proto/hutch/v1/envelope.proto, alert.proto) ------------


def pb_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_str(field, s):
    b = s.encode() if isinstance(s, str) else s
    return pb_varint(field << 3 | 2) + pb_varint(len(b)) + b


def pb_int(field, n):
    return pb_varint(field << 3) + pb_varint(n) if n else b""


def pb_fields(buf):
    """Top-level (field number, value) pairs of a message: ints or bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, shift = 0, 0
            while True:
                b = buf[i]
                i += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
        elif wt == 2:
            ln, shift = 0, 0
            while True:
                b = buf[i]
                i += 1
                ln |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            v = bytes(buf[i:i + ln])
            i += ln
        elif wt == 1:
            v = bytes(buf[i:i + 8])
            i += 8
        elif wt == 5:
            v = bytes(buf[i:i + 4])
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, v


def raw_event(meta_id, trace_id, created_ms, event_id, payload_json):
    """hutch.v1.RawEvent as services/ingest/ingest.c packs it (MSG_SCHEMA_VERSION 1)."""
    meta = pb_str(1, meta_id) + pb_int(2, 1) + pb_str(3, trace_id) + pb_int(4, created_ms) + pb_str(5, "hutch-ingest")
    return (pb_str(1, meta) + pb_str(2, event_id) + pb_str(3, "guardduty") + pb_str(4, "http:raw")
            + pb_str(5, payload_json) + pb_int(6, created_ms))


def uuid7(ms, r):
    b = bytearray(ms.to_bytes(6, "big") + r.getrandbits(80).to_bytes(10, "big"))
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# ---- GuardDuty findings ---------------------------------------------------------

# (type, severity range, resource kind, action kind, title template)
LOW_TYPES = [
    ("Recon:EC2/PortProbeUnprotectedPort", (2.0, 2.0), "instance", "port_probe",
     "Unprotected port on EC2 instance {inst} is being probed."),
    ("Stealth:S3/ServerAccessLoggingDisabled", (2.0, 2.0), "bucket", "api",
     "S3 server access logging was disabled for bucket {bucket}."),
    ("Policy:S3/BucketBlockPublicAccessDisabled", (2.0, 2.0), "bucket", "api",
     "Amazon S3 Block Public Access was disabled for S3 bucket {bucket}."),
    ("Recon:IAMUser/NetworkPermissions", (2.0, 3.0), "access_key", "api",
     "Unusual network permission reconnaissance activity by {user}."),
]
TYPES = [
    ("UnauthorizedAccess:EC2/SSHBruteForce", (5.0, 5.0), "instance", "network",
     "{ip} is performing SSH brute force attacks against {inst}."),
    ("Recon:EC2/Portscan", (5.0, 5.0), "instance", "network",
     "EC2 instance {inst} is performing outbound port scans against remote host {ip}."),
    ("UnauthorizedAccess:IAMUser/TorIPCaller", (5.0, 5.0), "access_key", "api",
     "API {api} was invoked from a Tor exit node."),
    ("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", (8.0, 8.0), "access_key", "api",
     "Credentials for instance role {user} used from external IP address."),
    ("Backdoor:EC2/C&CActivity.B!DNS", (8.0, 8.0), "instance", "dns",
     "EC2 instance {inst} is querying a domain name associated with a known command and control server."),
    ("CryptoCurrency:EC2/BitcoinTool.B!DNS", (8.0, 8.0), "instance", "dns",
     "EC2 instance {inst} is querying a domain name that is associated with Bitcoin-related activity."),
    ("Trojan:EC2/DNSDataExfiltration", (8.0, 8.0), "instance", "dns",
     "EC2 instance {inst} is attempting to query domain names that resemble exfiltrated data."),
    ("Impact:S3/MaliciousIPCaller", (5.0, 8.0), "bucket", "api",
     "An S3 API commonly used to tamper with data was invoked from a known malicious IP address {ip}."),
]
REGIONS = ["ap-northeast-1", "us-east-1", "eu-west-1", "us-west-2"]
ACCOUNTS = ["123456789012", "210987654321", "333344445555"]
DOMAINS = ["download-update.online", "xr7v2k9q.com", "pool.minexmr.com", "c2.evil-c2.io",
           "aGVsbG8gd29ybGQ.exfil.data-sync.org", "p3nh8xzv.net"]
USERS = ["ci-deployer", "k.suzuki", "backup-role", "terraform", "j.smith"]
APIS = [("ListBuckets", "s3.amazonaws.com"), ("GetObject", "s3.amazonaws.com"), ("PutBucketPolicy", "s3.amazonaws.com"),
        ("DescribeInstances", "ec2.amazonaws.com"), ("GetCallerIdentity", "sts.amazonaws.com")]


class Gen:
    def __init__(self, seed, base_ms):
        self.r = random.Random(seed)
        self.base_ms = base_ms

    def hexs(self, n):
        return "%0*x" % (n, self.r.getrandbits(4 * n))

    def ip(self):
        r = self.r
        return f"{r.choice([45, 91, 103, 185, 193, 198, 203])}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def iso(self, ms):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"

    def remote(self, ip):
        r = self.r
        return {"ipAddressV4": ip,
                "organization": {"asn": str(r.choice([14061, 16276, 24940, 4134])), "asnOrg": "Example Hosting",
                                 "isp": "Example Hosting", "org": "Example Hosting"},
                "country": {"countryName": r.choice(["Netherlands", "Russia", "China", "Unknown", "Brazil"])},
                "geoLocation": {"lat": round(r.uniform(-60, 60), 4), "lon": round(r.uniform(-150, 150), 4)}}

    def finding(self, i, low):
        r = self.r
        typ, (smin, smax), res_kind, act_kind, tmpl = r.choice(LOW_TYPES if low else TYPES)
        sev = smin if smin == smax else round(r.uniform(smin, smax), 1)
        region, account = r.choice(REGIONS), r.choice(ACCOUNTS)
        fid = self.hexs(32)
        detector = self.hexs(32)
        ip, inst, bucket = self.ip(), "i-" + self.hexs(17), f"corp-{r.choice(['logs', 'data', 'backup'])}-{r.randrange(100)}"
        user = r.choice(USERS)
        api, api_svc = r.choice(APIS)
        ms = self.base_ms - 60000 + i
        first = ms - r.randrange(60000, 7200000)

        if res_kind == "instance":
            resource = {"resourceType": "Instance", "instanceDetails": {
                "instanceId": inst, "instanceType": r.choice(["t3.medium", "m5.xlarge", "c5.2xlarge"]),
                "imageId": "ami-" + self.hexs(17), "availabilityZone": region + "a",
                "networkInterfaces": [{"privateIpAddress": f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}",
                                       "publicIp": self.ip(), "subnetId": "subnet-" + self.hexs(8), "vpcId": "vpc-" + self.hexs(8),
                                       "securityGroups": [{"groupId": "sg-" + self.hexs(8), "groupName": "default"}]}],
                "tags": [{"key": "Name", "value": r.choice(["bastion-prod", "web-1", "batch-worker", "jenkins"])}]}}
        elif res_kind == "access_key":
            resource = {"resourceType": "AccessKey", "accessKeyDetails": {
                "accessKeyId": "AKIA" + self.hexs(16).upper(), "principalId": "AIDA" + self.hexs(16).upper(),
                "userName": user, "userType": "IAMUser"}}
        else:
            resource = {"resourceType": "S3Bucket", "s3BucketDetails": [{
                "name": bucket, "arn": f"arn:aws:s3:::{bucket}", "type": "Destination",
                "owner": {"id": self.hexs(64)}, "publicAccess": {"effectivePermission": "NOT_PUBLIC"}}]}

        if act_kind == "network":
            action = {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
                "connectionDirection": "INBOUND" if "Brute" in typ else "OUTBOUND", "protocol": "TCP", "blocked": False,
                "remoteIpDetails": self.remote(ip), "remotePortDetails": {"port": r.randrange(1024, 65535), "portName": "Unknown"},
                "localPortDetails": {"port": 22, "portName": "SSH"}}}
        elif act_kind == "dns":
            action = {"actionType": "DNS_REQUEST", "dnsRequestAction": {
                "domain": r.choice(DOMAINS), "protocol": "UDP", "blocked": False}}
        elif act_kind == "port_probe":
            action = {"actionType": "PORT_PROBE", "portProbeAction": {"blocked": False, "portProbeDetails": [
                {"localPortDetails": {"port": p, "portName": n}, "remoteIpDetails": self.remote(self.ip())}
                for p, n in r.sample([(22, "SSH"), (80, "HTTP"), (3389, "RDP"), (5432, "PostgreSQL")], 2)]}}
        else:
            action = {"actionType": "AWS_API_CALL", "awsApiCallAction": {
                "api": api, "serviceName": api_svc, "callerType": "Remote IP", "remoteIpDetails": self.remote(ip)}}

        title = tmpl.format(ip=ip, inst=inst, bucket=bucket, user=user, api=api)
        detail = {
            "schemaVersion": "2.0", "accountId": account, "region": region, "partition": "aws", "id": fid,
            "arn": f"arn:aws:guardduty:{region}:{account}:detector/{detector}/finding/{fid}",
            "type": typ, "resource": resource,
            "service": {"serviceName": "guardduty", "detectorId": detector, "action": action,
                        "resourceRole": "TARGET", "eventFirstSeen": self.iso(first), "eventLastSeen": self.iso(ms),
                        "archived": False, "count": r.randrange(1, 200)},
            "severity": sev, "createdAt": self.iso(first), "updatedAt": self.iso(ms),
            "title": title, "description": title + " See the GuardDuty console for details.",
        }
        return {"version": "0", "id": f"{self.hexs(8)}-{self.hexs(4)}-{self.hexs(4)}-{self.hexs(4)}-{self.hexs(12)}",
                "detail-type": "GuardDuty Finding", "source": "aws.guardduty", "account": account,
                "time": self.iso(ms), "region": region,
                "resources": [], "detail": detail}, typ


# ---- process figures ------------------------------------------------------------

def metrics(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    m = {}
    for line in text.splitlines():
        if line.startswith("hutch_policy_"):
            parts = line.split()
            try:
                m[parts[0]] = float(parts[-1])
            except ValueError:
                pass
    return m


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


# ---- Kafka helpers --------------------------------------------------------------

def topic_counts(consumer, topic, attempts=5):
    """Messages per partition (high watermark - low) of a topic; retried a few times
    (a broker that just started can answer a metadata or offsets request with a
    transient error)."""
    for attempt in range(attempts):
        try:
            md = consumer.list_topics(topic, timeout=10).topics[topic]
            if md.error is not None:
                raise KafkaException(md.error)
            counts = {}
            for p in md.partitions:
                lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                counts[p] = hi - lo
            return counts
        except KafkaException as e:
            if attempt == attempts - 1:
                raise
            print(f"  {topic}: {e}; retrying", file=sys.stderr, flush=True)
            time.sleep(0.5)


def read_alert_ids(brokers, timeout):
    """Decodes every message of hutch.alerts.accepted: (alert ids, event ids, bad)."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-policy-check-{os.getpid()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    md = c.list_topics(TOPIC_ALERTS, timeout=10).topics[TOPIC_ALERTS]
    ends, assign = {}, []
    for p in md.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(TOPIC_ALERTS, p), timeout=10)
        if hi > lo:
            ends[p] = hi
            assign.append(TopicPartition(TOPIC_ALERTS, p, lo))
    alert_ids, event_ids, bad = [], set(), 0
    if assign:
        c.assign(assign)
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for m in c.consume(1000, 1.0):
                if m.error():
                    continue
                try:
                    f = dict(pb_fields(m.value()))
                    alert_ids.append(f[2].decode())
                    event_ids.add(f[3].decode())
                except (KeyError, ValueError, IndexError, UnicodeDecodeError):
                    bad += 1
                if m.offset() + 1 >= ends.get(m.partition(), 0):
                    ends.pop(m.partition(), None)
    c.close()
    return alert_ids, event_ids, bad, not ends


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--db", required=True, help="HUTCH_DATABASE_URL")
    ap.add_argument("--state", required=True, help="the stack's state dir (pid files, logs)")
    ap.add_argument("--bin", required=True, help="the hutch-policy binary")
    ap.add_argument("--policy-dir", default="policies", help="HUTCH_POLICY_DIR for the service")
    ap.add_argument("--port", type=int, default=28282, help="HUTCH_POLICY_PORT")
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--low-fraction", type=float, default=0.2, help="share of low-severity findings")
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for the last event")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="bench/results/policy.json")
    ap.add_argument("--mode", default="release")
    a = ap.parse_args()
    n = a.events

    # 1. build the RawEvents
    base_ms = int(time.time() * 1000)
    gen = Gen(a.seed, base_ms)
    ids_r = random.Random(a.seed + 1)
    msgs, ids, types = [], [], {}
    low_n = 0
    payload_bytes = 0
    for i in range(n):
        low = gen.r.random() < a.low_fraction
        low_n += low
        doc, typ = gen.finding(i, low)
        types[typ] = types.get(typ, 0) + 1
        payload = json.dumps(doc, separators=(",", ":"))
        payload_bytes += len(payload)
        created = base_ms + i // 50
        event_id, trace_id, meta_id = uuid7(created, ids_r), uuid7(created, ids_r), uuid7(created, ids_r)
        ids.append(event_id)
        msgs.append((event_id.encode(), raw_event(meta_id, trace_id, created, event_id, payload)))
    mean_payload = payload_bytes / max(1, n)

    # 2. pre-load hutch.events.raw, every message acknowledged
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    prod = Producer({"bootstrap.servers": a.brokers, "enable.idempotence": True, "linger.ms": 20,
                     "batch.num.messages": 10000, "queue.buffering.max.messages": max(100000, n + 1000),
                     "queue.buffering.max.kbytes": 1048576, "message.max.bytes": 4000000})
    t_load = time.time()
    for key, value in msgs:
        while True:
            try:
                prod.produce(TOPIC_RAW, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                prod.poll(0.1)
        prod.poll(0)
    left = prod.flush(120)
    load_s = time.time() - t_load
    del msgs
    admin = Consumer({"bootstrap.servers": a.brokers, "group.id": f"bench-policy-admin-{os.getpid()}"})
    raw_counts = topic_counts(admin, TOPIC_RAW)
    print(f"pre-loaded {sum(raw_counts.values())} RawEvents ({low_n} low severity, mean payload {mean_payload:.0f} B) "
          f"into {TOPIC_RAW} ({len(raw_counts)} partitions) in {load_s:.2f} s", flush=True)
    if left or errors or sum(raw_counts.values()) != n:
        print(f"error: pre-load incomplete: {left} unflushed, {len(errors)} errors {errors[:3]}, "
              f"{sum(raw_counts.values())} on the topic", file=sys.stderr)
        return 1

    db = psycopg2.connect(a.db)
    db.autocommit = True
    cur = db.cursor()

    # 3. start hutch-policy and wait for everything
    pg_pid = read_pid(os.path.join(a.state, "pg", "data", "postmaster.pid"))
    kafka_pid = read_pid(os.path.join(a.state, "kafka", "kafka.pid")) or read_pid(os.path.join(a.state, "devbroker.pid"))
    cpu0 = {"postgres": tree_cpu(pg_pid) if pg_pid else {}, "kafka": tree_cpu(kafka_pid) if kafka_pid else {}}
    load0 = os.getloadavg()
    env = dict(os.environ, HUTCH_KAFKA_BROKERS=a.brokers, HUTCH_DATABASE_URL=a.db, HUTCH_HTTP_ADDR="127.0.0.1",
               HUTCH_POLICY_PORT=str(a.port), HUTCH_POLICY_DIR=os.path.abspath(a.policy_dir))
    os.makedirs(os.path.join(a.state, "logs"), exist_ok=True)
    os.makedirs(os.path.join(a.state, "pids"), exist_ok=True)
    logf = open(os.path.join(a.state, "logs", "policy.log"), "ab")
    t_start = time.time()
    proc = subprocess.Popen([a.bin], env=env, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    with open(os.path.join(a.state, "pids", "policy.pid"), "w") as f:
        f.write(f"{proc.pid}\n")
    print(f"started {a.bin} (pid {proc.pid}, HUTCH_POLICY_DIR={env['HUTCH_POLICY_DIR']})", flush=True)

    deadline = t_start + a.timeout
    t_ready = None
    t_events_done = None
    t_done = None
    events_rows = alerts_rows = 0
    dead = 0.0
    last_print = last_metrics = last_sample = t_start
    samples = []  # [seconds since exec, events rows, VmRSS kB] every second
    failed = []
    while True:
        now = time.time()
        if proc.poll() is not None:
            failed.append(f"hutch-policy exited with status {proc.returncode} during the run "
                          f"(log: {a.state}/logs/policy.log)")
            break
        if t_ready is None and ready(a.port):
            t_ready = time.time()
        try:
            cur.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM alerts)")
            events_rows, alerts_rows = cur.fetchone()
        except psycopg2.errors.UndefinedTable:  # the service has not migrated the database yet
            events_rows = alerts_rows = 0
        if events_rows < n and now - last_metrics >= 1:
            dead = metrics(a.port).get("hutch_policy_dead_total", 0.0)
            last_metrics = now
        if events_rows + int(dead) >= n:
            if t_events_done is None:
                t_events_done = time.time()
            alert_msgs = sum(topic_counts(admin, TOPIC_ALERTS).values())
            if alert_msgs >= alerts_rows:
                t_done = time.time()
                break
        if now > deadline:
            failed.append(f"timeout: {events_rows}/{n} events rows after {a.timeout:.0f} s")
            break
        if now - last_sample >= 1:
            samples.append([round(now - t_start, 1), events_rows, proc_status(proc.pid, "VmRSS")])
            last_sample = now
        if now - last_print >= 5:
            print(f"  {events_rows}/{n} events decided after {now - t_start:.0f} s", flush=True)
            last_print = now
        time.sleep(0.1)
    complete = t_done is not None

    # 4. figures (before stopping the service), then checks
    pid = proc.pid
    hwm, rss, cpu_policy = proc_status(pid, "VmHWM"), proc_status(pid, "VmRSS"), proc_cpu(pid)
    cpu1 = {"postgres": tree_cpu(pg_pid) if pg_pid else {}, "kafka": tree_cpu(kafka_pid) if kafka_pid else {}}
    cpu_other = {k: round(sum(c - cpu0[k].get(p, 0.0) for p, c in v.items()), 2) for k, v in cpu1.items() if v}
    load1 = os.getloadavg()
    m = metrics(a.port)

    # stop the service (it must drain and exit 0), then check what it left
    proc.send_signal(signal.SIGTERM)
    try:
        exit_status = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        exit_status = proc.wait(10)
        failed.append("hutch-policy did not stop within 30 s of SIGTERM")
    logf.close()
    try:
        os.unlink(os.path.join(a.state, "pids", "policy.pid"))
    except OSError:
        pass

    cur.execute("SELECT extract(epoch FROM min(decided_at)), extract(epoch FROM max(decided_at)),"
                " coalesce(sum(alert_count), 0), count(*) FILTER (WHERE event_id = ANY(%s::uuid[])), count(*)"
                " FROM events", (ids,))
    first_dec, last_dec, alert_count_sum, ours, events_rows = cur.fetchone()
    cur.execute("SELECT status, count(*) FROM events GROUP BY status ORDER BY status")
    by_status = dict(cur.fetchall())
    cur.execute("SELECT coalesce(nullif(policy_package, ''), '(default engine)'), count(*) FROM events"
                " GROUP BY 1 ORDER BY 2 DESC")
    by_package = dict(cur.fetchall())
    cur.execute("SELECT coalesce(reason, ''), count(*) FROM events WHERE status <> 'accepted' GROUP BY 1"
                " ORDER BY 2 DESC LIMIT 5")
    reasons = dict(cur.fetchall())
    cur.execute("SELECT count(*) FROM processed_messages WHERE consumer = 'hutch-policy'")
    processed = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM alerts")
    alerts_rows = cur.fetchone()[0]
    db.close()

    alert_counts = topic_counts(admin, TOPIC_ALERTS)
    alert_msgs = sum(alert_counts.values())
    dlq_msgs = sum(topic_counts(admin, TOPIC_DLQ).values())
    admin.close()
    alert_ids, alert_events, bad_msgs, read_all = read_alert_ids(a.brokers, 60)

    def check(ok, what):
        if not ok:
            failed.append(what)

    check(exit_status == 0, f"hutch-policy exit status {exit_status} after SIGTERM" +
          (f" (killed by {signal.Signals(-exit_status).name}; log: {a.state}/logs/policy.log)" if exit_status < 0 else ""))
    check(events_rows == n and ours == n, f"events rows: {events_rows} in all, {ours} of the {n} event ids sent")
    check(processed == n, f"processed_messages rows: {processed}, expected {n}")
    check(alert_count_sum == alerts_rows, f"sum(events.alert_count) {alert_count_sum} != alerts rows {alerts_rows}")
    check(alert_msgs == alerts_rows, f"{alert_msgs} messages on {TOPIC_ALERTS} != {alerts_rows} alerts rows")
    check(read_all and bad_msgs == 0, f"{TOPIC_ALERTS}: read all {read_all}, undecodable {bad_msgs}")
    check(len(set(alert_ids)) == len(alert_ids), f"{len(alert_ids) - len(set(alert_ids))} duplicate alert ids on {TOPIC_ALERTS}")
    check(alert_events <= set(ids), f"{len(alert_events - set(ids))} alerts on {TOPIC_ALERTS} name an event never sent")
    check(dlq_msgs == 0, f"{dlq_msgs} messages on {TOPIC_DLQ}")
    check(m.get("hutch_policy_redelivered_total", 0) == 0, f"redelivered {m.get('hutch_policy_redelivered_total')}")

    decided = events_rows  # n when complete; the rates of an incomplete run cover what was decided
    span = float(last_dec) - float(first_dec) if first_dec is not None and last_dec is not None else None
    wall = t_done - t_start if t_done else None
    result = {
        "benchmark": "policy", "mode": a.mode, "complete": complete and not failed, "failed_checks": failed,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
        "events": n, "low_severity_events": low_n, "finding_types": types, "mean_payload_bytes": round(mean_payload),
        "policy_dir": env["HUTCH_POLICY_DIR"], "policy_packages": by_package,
        "preload_seconds": round(load_s, 3), "raw_partitions": len(raw_counts),
        "ready_seconds": round(t_ready - t_start, 3) if t_ready else None,
        "first_decision_seconds": round(float(first_dec) - t_start, 3) if first_dec is not None else None,
        "consume_seconds": round(span, 3) if span else None,
        "events_per_s": round(decided / span, 1) if span else None,
        "alerts_per_s": round(alerts_rows / span, 1) if span else None,
        "wall_seconds_incl_startup": round(wall, 3) if wall else None,
        "events_per_s_incl_startup": round(n / wall, 1) if wall else None,
        "events_by_status": by_status, "not_accepted_reasons": reasons,
        "alerts_rows": alerts_rows, "alerts_messages": alert_msgs, "distinct_alert_ids": len(set(alert_ids)),
        "dlq_messages": dlq_msgs, "processed_messages": processed, "service_metrics": m,
        "exit_status_after_sigterm": exit_status,
        "memory": {"vm_hwm_kb": hwm, "vm_rss_kb": rss, "rss_samples": samples},
        "cpu_seconds": {"policy": cpu_policy, **cpu_other},
        "cpu_ms_per_event": round(cpu_policy * 1000 / n, 3) if cpu_policy else None,
        "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in load1],
        "cpus": os.cpu_count(),
        "notes": "events/s over first..last events.decided_at (now() of each transaction's start); "
                 "incl_startup: exec of hutch-policy .. every row and message seen by the poller (0.1 s). "
                 "CPU of the service since exec; of Kafka and Postgres during the run.",
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    print()
    print(f"Hutch policy service benchmark ({a.mode}, {os.cpu_count()} CPUs, load before {load0[0]:.2f}, "
          f"after {load1[0]:.2f})")
    print(f"  events pre-loaded / decided          {n} / {events_rows}"
          f"{'' if result['complete'] else '  (INCOMPLETE)'}")
    print(f"  accepted / ignored                   {by_status.get('accepted', 0)} / {by_status.get('ignored', 0)}"
          f"   ({low_n} low severity sent; decided by {', '.join(f'{k} {v}' for k, v in by_package.items())})")
    print(f"  alerts rows / messages / distinct    {alerts_rows} / {alert_msgs} / {len(set(alert_ids))}   dlq {dlq_msgs}")
    print(f"  events/s (first..last decision)      {result['events_per_s']}   ({result['consume_seconds']} s)")
    print(f"  alerts/s                             {result['alerts_per_s']}")
    print(f"  events/s incl. start-up              {result['events_per_s_incl_startup']}   "
          f"({result['wall_seconds_incl_startup']} s; ready {result['ready_seconds']} s, "
          f"first decision {result['first_decision_seconds']} s)")
    print(f"  peak RSS (VmHWM)                     {hwm / 1024:.1f} MiB" if hwm else "  peak RSS                             -")
    print(f"  CPU s: policy {cpu_policy} ({result['cpu_ms_per_event']} ms/event), "
          f"postgres {cpu_other.get('postgres', '-')}, kafka {cpu_other.get('kafka', '-')}")
    for f_ in failed:
        print(f"  FAILED: {f_}")
    print(f"\n  written to {a.out}")
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
