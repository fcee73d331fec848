#!/usr/bin/python3
"""Pipeline benchmark driver (scripts/bench.sh runs it against stacks it started).

The HTTP load is made by build/<mode>/bin/hutch-loadgen (tools/loadgen: C, epoll,
HTTP/1.1 keep-alive), which posts GuardDuty findings (EventBridge events, made here
deterministically, with the severities the shipped policy keeps or drops) to
/hooks/alert/raw/guardduty, and writes one record per 202: the event id and the
wall-clock time of the 202. This script only orchestrates and reads Postgres.

  ingest    (a stack with ingest alone: Kafka, Postgres, hutch-ingest)
            full speed for --seconds over --connections: ingest's 202s per second,
            CPU per 1,000 requests of ingest, Kafka and the generator.
  pipeline  (a stack with all six services), three phases one after the other:
            1. open loop at --rate-low (1,000/s) for --seconds (after --warmup s that
               are not recorded): latency from the 202 to the end of the alert's
               path, p50/p90/p99, waiting at most --drain s for the last alerts; CPU
               seconds per 1,000 alerts of every process (Kafka and Postgres
               included) from the start of the phase to its last alert;
            2. the same at --rate-high (5,000/s);
            3. open loop at --e2e-rate for --e2e-seconds (after --e2e-warmup): the
               alerts/s through all six services, i.e. alerts triaged in the measured
               window; not drained (the stack is stopped afterwards).
            Then each service's peak RSS (VmHWM).

The end of an alert's path is its triage by the agent (alerts.triaged_at, joined
through alerts.event_id): every alert gets there, and there its NotifyRequest is
produced. notify posts once per ticket, not once per alert (a storm's later alerts
are quiet, README "Tickets"), so the 202 -> notification row latency is reported
too, over the alerts that made one (notifications.created_at).
Latency percentiles count an alert that was not triaged when the wait ended as
slower than any that was (so p99 is null rather than flattering when more than 1%
are missing). The clocks of this machine's processes and of Postgres are one clock
(loopback only). Figures of each run are written as JSON (--out); `merge` joins the
two runs into bench/results/pipeline.json and prints the table. A pipeline too slow to
notify every alert within --drain is a figure (INCOMPLETE, percentiles null), not a
failure: the exit status is 1 only when something did not run (generator, database).
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import psycopg2

from procfs import children, proc_cpu, proc_status, read_pid  # bench/procfs.py

SERVICES = ["ingest", "policy", "enrich", "cluster", "agent", "notify"]

# (type, description, severity): severity 2 findings are dropped by the shipped
# policies/ingest/guardduty.rego (below its threshold), the others become alerts.
GD_TYPES = [
    ("Recon:EC2/PortProbeUnprotectedPort", "Unprotected port on EC2 instance {i} is being probed.", 2),
    ("UnauthorizedAccess:EC2/SSHBruteForce", "{ip} is performing SSH brute force attacks against {i}.", 5),
    ("Backdoor:EC2/C&CActivity.B!DNS", "EC2 instance {i} is querying a domain name associated with a known command and control server.", 8),
    ("CryptoCurrency:EC2/BitcoinTool.B!DNS", "EC2 instance {i} is querying a domain name that is associated with Bitcoin-related activity.", 8),
    ("UnauthorizedAccess:IAMUser/TorIPCaller", "API DescribeInstances was invoked from a Tor exit node IP address {ip}.", 5),
    ("Trojan:EC2/DNSDataExfiltration", "EC2 instance {i} is attempting to query domain names that resemble exfiltrated data.", 8),
]
EVIL_DOMAINS = ["download-update.online", "cdn.bad-site.net", "xr7v2k9q.com", "p3nh8xzv.net",
                "login-portal.zip", "c2.evil-c2.io", "pool.minexmr.com", "exfil.data-sync.org"]


def guardduty_findings(n, seed):
    """n GuardDuty findings as EventBridge events (JSON text, one per line)."""
    r = random.Random(seed)

    def hexs(k):
        return "".join(r.choice("0123456789abcdef") for _ in range(k))

    def ip():
        return f"{r.choice([45, 91, 103, 185, 193, 198, 203])}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def ts(i):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1735689600 + i * 7)) + "Z"

    out = []
    for i in range(n):
        typ, desc, sev = r.choice(GD_TYPES)
        inst, addr, dom = "i-" + hexs(17), ip(), r.choice(EVIL_DOMAINS)
        title = typ.split("/")[0] + ": " + typ.split("/")[1].split("!")[0]
        doc = {
            "version": "0", "id": f"{hexs(8)}-{hexs(4)}-{hexs(4)}-{hexs(4)}-{hexs(12)}",
            "detail-type": "GuardDuty Finding", "source": "aws.guardduty", "account": "123456789012",
            "time": ts(i), "region": "ap-northeast-1", "resources": [],
            "detail": {
                "schemaVersion": "2.0", "accountId": "123456789012", "region": "ap-northeast-1",
                "id": hexs(32), "type": typ, "title": title, "description": desc.format(i=inst, ip=addr),
                "severity": sev,
                "resource": {"resourceType": "Instance", "instanceDetails": {
                    "instanceId": inst, "instanceType": r.choice(["m3.xlarge", "t3.micro", "c5.2xlarge"]),
                    "networkInterfaces": [{"privateIpAddress": f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}",
                                           "publicIp": ip(),
                                           "privateDnsName": "ip-10-0-0-1.ap-northeast-1.compute.internal"}]}},
                "service": {"serviceName": "guardduty", "detectorId": hexs(32),
                            "action": {"actionType": "DNS_REQUEST", "dnsRequestAction": {"domain": dom, "protocol": "UDP"}},
                            "remoteIpDetails": {"ipAddressV4": addr, "organization": {"asn": "16509", "isp": "Amazon.com"}},
                            "count": r.randrange(1, 50), "eventFirstSeen": ts(i), "eventLastSeen": ts(i + 1)},
            },
        }
        out.append(json.dumps(doc, separators=(",", ":")))
    return out


# ---- processes -------------------------------------------------------------------

def stack_pids(state, services):
    pids = {s: read_pid(os.path.join(state, "pids", s + ".pid")) for s in services}
    pids["kafka"] = read_pid(os.path.join(state, "kafka", "kafka.pid")) or read_pid(os.path.join(state, "devbroker.pid"))
    pids["postgres"] = read_pid(os.path.join(state, "pg", "data", "postmaster.pid"))
    return {k: v for k, v in pids.items() if v}


def cpu_snapshot(pids):
    snap = {}
    for name, pid in pids.items():
        procs = [pid] + children(pid) if name == "postgres" else [pid]  # postmaster + backends
        snap[name] = {p: c for p in procs if (c := proc_cpu(p)) is not None}
    return snap


def cpu_used(before, after):
    return {name: round(sum(c - before.get(name, {}).get(p, 0.0) for p, c in procs.items()), 2)
            for name, procs in after.items()}


def loadgen(a, rate, seconds, warmup, connections, records=None, pids=None):
    """Runs hutch-loadgen; with pids, also the CPU each process used during the
    measured window (sampled when the warm-up ends and when the generator exits)."""
    cmd = [a.loadgen, "--url", a.url.rstrip("/") + "/hooks/alert/raw/guardduty", "--body", a.bodies,
           "--connections", str(connections), "--threads", str(a.loadgen_threads), "--rate", str(rate),
           "--duration", str(seconds), "--warmup", str(warmup)]
    if records:
        cmd += ["--records", records]
    if a.token:
        cmd += ["--token", a.token]
    t_launch = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    cpu0 = None
    if pids:
        while time.time() < t_launch + 0.1 + warmup:  # the generator starts 0.1 s after launch
            time.sleep(0.02)
        cpu0 = cpu_snapshot(pids)
    t0 = time.time()
    out, _ = proc.communicate(timeout=seconds + warmup + 60)
    t1 = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"hutch-loadgen failed (exit {proc.returncode})")
    lg = json.loads(out)
    lg["wall_start"], lg["wall_end"] = t0, t1
    return lg, (cpu_used(cpu0, cpu_snapshot(pids)) if pids else None)


# ---- Postgres ----------------------------------------------------------------------

def load_records(cur, path):
    cur.execute("DROP TABLE IF EXISTS bench_acks")
    cur.execute("CREATE TEMP TABLE bench_acks (event_id uuid PRIMARY KEY, t_ack_ns bigint, lat_ns bigint)")
    with open(path) as f:
        cur.copy_from(f, "bench_acks", columns=("event_id", "t_ack_ns", "lat_ns"))
    cur.execute("ANALYZE bench_acks")


PROGRESS_SQL = """
SELECT (SELECT count(*) FROM bench_acks),
       (SELECT count(*) FROM events e JOIN bench_acks b USING (event_id) WHERE e.status <> 'received'),
       (SELECT count(*) FROM alerts a JOIN bench_acks b USING (event_id)),
       (SELECT count(*) FROM alerts a JOIN bench_acks b USING (event_id) WHERE a.triaged_at IS NOT NULL)"""

# While waiting: what is still on its way since the phase began, from two indexes
# (events_status_received_at, alerts_created_at), not a join of every ack: the full
# PROGRESS_SQL took 0.4 s of the database at each poll, a load on what it measured.
WAITING_SQL = """
SELECT (SELECT count(*) FROM events WHERE status = 'received' AND received_at >= to_timestamp(%s)),
       (SELECT count(*) FROM alerts WHERE created_at >= to_timestamp(%s) AND triaged_at IS NULL)"""

LATENCY_SQL = """
SELECT extract(epoch FROM a.triaged_at) * 1000.0 - b.t_ack_ns / 1e6
  FROM bench_acks b JOIN alerts a ON a.event_id = b.event_id
 WHERE a.triaged_at IS NOT NULL"""

NOTIFY_LATENCY_SQL = """
SELECT extract(epoch FROM min(n.created_at)) * 1000.0 - b.t_ack_ns / 1e6
  FROM bench_acks b JOIN alerts a ON a.event_id = b.event_id JOIN notifications n ON n.alert_id = a.alert_id
 GROUP BY a.alert_id, b.t_ack_ns"""


def pct(sorted_vals, total, q):
    """q-th percentile over `total` values of which sorted_vals are the known (the
    missing ones count as slower than all): None when it falls among the missing."""
    if total == 0:
        return None
    k = max(0, min(total - 1, int(round(q / 100.0 * total + 0.5)) - 1))
    return round(sorted_vals[k], 1) if k < len(sorted_vals) else None


def latency_phase(a, cur, pids, rate, label):
    fd, records = tempfile.mkstemp(prefix="hutch-bench-", suffix=".tsv")
    os.close(fd)
    print(f"{label}: open loop at {rate}/s, {a.warmup} s warm-up + {a.seconds} s measured, then up to {a.drain} s "
          "for the last alert's triage", flush=True)
    cpu0 = cpu_snapshot(pids)
    t_start = time.time()
    lg, _ = loadgen(a, rate, a.seconds, a.warmup, a.connections, records)
    deadline = time.time() + a.drain
    while True:
        cur.execute(WAITING_SQL, (t_start, t_start))
        undecided, untriaged = cur.fetchone()
        if (undecided == 0 and untriaged == 0) or time.time() > deadline:
            break
        time.sleep(1.0)
    t_end = time.time()
    cpu = cpu_used(cpu0, cpu_snapshot(pids))
    load_records(cur, records)
    os.unlink(records)
    cur.execute(PROGRESS_SQL)
    acked, decided, made, triaged = cur.fetchone()
    cur.execute(LATENCY_SQL)
    lat = sorted(float(r[0]) for r in cur.fetchall())
    cur.execute(NOTIFY_LATENCY_SQL)
    nlat = sorted(float(r[0]) for r in cur.fetchall())
    complete = decided >= acked and triaged >= made
    # Events policy has not decided yet will make alerts too: count them as missing,
    # in the proportion of the decided ones.
    expected = max(made, round(made * acked / decided)) if decided else acked
    res = {
        "rate": rate, "seconds": a.seconds, "loadgen": lg,
        "accepted": acked, "decided": decided, "alerts": made, "triaged": triaged, "complete": complete,
        "seconds_after_last_202": round(t_end - lg["wall_end"], 1),
        "latency_202_to_triaged_ms": {
            "p50": pct(lat, expected, 50), "p90": pct(lat, expected, 90), "p99": pct(lat, expected, 99),
            "max": round(lat[-1], 1) if lat and complete else None},
        # over the alerts triaged in time only: flattering when the run is incomplete
        "latency_of_triaged_ms": {"p50": pct(lat, len(lat), 50), "p90": pct(lat, len(lat), 90),
                                  "p99": pct(lat, len(lat), 99)},
        # the alerts that made a notification row (a ticket's first, a storm's notifying one)
        "notified": len(nlat),
        "latency_202_to_notification_ms": {"p50": pct(nlat, len(nlat), 50), "p90": pct(nlat, len(nlat), 90),
                                           "p99": pct(nlat, len(nlat), 99),
                                           "max": round(nlat[-1], 1) if nlat else None},
        "expected_alerts": expected,
        "cpu_seconds": cpu,
        "cpu_seconds_per_1000_alerts": {k: round(v * 1000.0 / triaged, 3) for k, v in cpu.items()} if triaged else {},
        "loadgen_cpu_seconds_per_1000_alerts": round(lg["loadgen_cpu_s"] * 1000.0 / triaged, 3) if triaged else None,
    }
    L = res["latency_202_to_triaged_ms"]
    N = res["latency_202_to_notification_ms"]
    print(f"  {acked} accepted, {made} alerts, {triaged} triaged{'' if complete else ' (INCOMPLETE)'}; "
          f"202 -> triaged p50 {L['p50']} ms, p90 {L['p90']} ms, p99 {L['p99']} ms; "
          f"{len(nlat)} notified, 202 -> notification p50 {N['p50']} ms, p99 {N['p99']} ms", flush=True)
    return res


def e2e_phase(a, cur, pids):
    print(f"e2e: open loop at {a.e2e_rate}/s, {a.e2e_warmup} s warm-up + {a.e2e_seconds} s measured", flush=True)
    lg, cpu = loadgen(a, a.e2e_rate, a.e2e_seconds, a.e2e_warmup, a.e2e_connections, pids=pids)
    t0, t1 = lg["wall_start"], lg["wall_end"]
    cur.execute("SELECT count(*) FROM alerts WHERE triaged_at >= to_timestamp(%s) AND triaged_at < to_timestamp(%s)",
                (t0, t1))
    triaged = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM alerts WHERE created_at >= to_timestamp(%s) AND created_at < to_timestamp(%s)",
                (t0, t1))
    made = cur.fetchone()[0]
    res = {
        "rate": a.e2e_rate, "seconds": round(t1 - t0, 1), "loadgen": lg,
        "alerts_triaged_per_s": round(triaged / (t1 - t0), 1),
        "alerts_made_per_s": round(made / (t1 - t0), 1),
        "ingest_accepted_per_s": lg["accepted_per_s"],
        "cpu_seconds": cpu,
        "cpu_seconds_per_1000_alerts": {k: round(v * 1000.0 / triaged, 3) for k, v in cpu.items()} if triaged else {},
    }
    print(f"  ingest {lg['accepted_per_s']}/s accepted; through all six services {res['alerts_triaged_per_s']} "
          f"alerts/s (policy made {res['alerts_made_per_s']} alerts/s)", flush=True)
    return res


def memory(pids):
    return {s: {"vm_hwm_kb": proc_status(pids[s], "VmHWM"), "vm_rss_kb": proc_status(pids[s], "VmRSS")}
            for s in SERVICES if s in pids}


# ---- runs --------------------------------------------------------------------------

def run_ingest(a):
    pids = stack_pids(a.state, ["ingest"])
    print(f"ingest alone: full speed over {a.connections} connections, {a.warmup} s warm-up + {a.seconds} s",
          flush=True)
    lg, cpu = loadgen(a, 0, a.seconds, a.warmup, a.connections, pids=pids)
    n = lg["accepted"]
    res = {
        "connections": a.connections, "seconds": a.seconds, "loadgen": lg,
        "requests_per_s": lg["accepted_per_s"], "latency_ms": lg["latency_ms"], "cpu_seconds": cpu,
        "cpu_us_per_request": {k: round(v * 1e6 / n, 1) for k, v in cpu.items()} if n else {},
        "loadgen_cpu_us_per_request": round(lg["loadgen_cpu_s"] * 1e6 / n, 1) if n else None,
        "memory": memory(pids),
    }
    print(f"  {lg['accepted_per_s']} requests/s (202), p50 {lg['latency_ms']['p50']} ms, "
          f"p99 {lg['latency_ms']['p99']} ms; CPU us per request: {res['cpu_us_per_request']}, "
          f"generator {res['loadgen_cpu_us_per_request']}", flush=True)
    return res


def run_pipeline(a):
    pids = stack_pids(a.state, SERVICES)
    db = psycopg2.connect(a.db)
    db.autocommit = True
    cur = db.cursor()
    res = {"low": latency_phase(a, cur, pids, a.rate_low, "latency (low rate)"),
           "high": latency_phase(a, cur, pids, a.rate_high, "latency (high rate)"),
           "e2e": e2e_phase(a, cur, pids), "memory": memory(pids)}
    cur.execute("SELECT status, count(*) FROM events GROUP BY status")
    res["events_by_status"] = dict(cur.fetchall())
    cur.execute("SELECT count(*) FROM tickets")
    res["tickets"] = cur.fetchone()[0]
    db.close()
    return res


def fmt(v, unit=""):
    return "-" if v is None else f"{v:,}{unit}" if isinstance(v, int) else f"{v:,.1f}{unit}"


def pcts(L):
    return f"p50 {fmt(L['p50'], ' ms')}, p90 {fmt(L['p90'], ' ms')}, p99 {fmt(L['p99'], ' ms')}"


def merge(a):
    ingest = json.load(open(a.ingest_json)) if a.ingest_json and os.path.exists(a.ingest_json) else None
    pipe = json.load(open(a.pipeline_json)) if a.pipeline_json and os.path.exists(a.pipeline_json) else None
    result = {"benchmark": "pipeline", "mode": a.mode,
              "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(a.started)),
              "cpus": os.cpu_count(), "loadavg_after": [round(x, 2) for x in os.getloadavg()],
              "body": "GuardDuty findings (EventBridge), /hooks/alert/raw/guardduty",
              "threat_intel": os.environ.get("HUTCH_BENCH_INTEL", "off"),
              "ingest_alone": ingest, "pipeline": pipe,
              "notes": "alerts.triaged_at and notifications.created_at are now() of the agent's and notify's "
                       "transactions (their start); latency is from "
                       "the 202 as the generator read it. CPU seconds from /proc (utime+stime); Postgres is the "
                       "postmaster and its children."}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    print()
    print(f"Hutch pipeline benchmark ({a.mode}, threat intel {result['threat_intel']}, {os.cpu_count()} CPUs, "
          f"load average now "
          f"{os.getloadavg()[0]:.1f})")
    if ingest:
        print(f"  ingest alone (202s/s, {ingest['connections']} connections)   {fmt(ingest['requests_per_s'])} "
              f"requests/s, p50 {ingest['latency_ms']['p50']} ms, p99 {ingest['latency_ms']['p99']} ms")
        print(f"    CPU us per request: " + ", ".join(f"{k} {v}" for k, v in ingest["cpu_us_per_request"].items())
              + f", generator {ingest['loadgen_cpu_us_per_request']}")
    if pipe:
        e = pipe["e2e"]
        print(f"  through all six services                 {fmt(e['alerts_triaged_per_s'])} alerts/s over "
              f"{e['seconds']} s (offered {e['rate']}/s, ingest accepted {fmt(e['ingest_accepted_per_s'])}/s)")
        for k in ("low", "high"):
            p = pipe[k]
            print(f"  202 -> triaged at {p['rate']}/s                {pcts(p['latency_202_to_triaged_ms'])} "
                  f"({p['triaged']}/{p['alerts']} alerts triaged{'' if p['complete'] else ', INCOMPLETE'})")
            print(f"    202 -> notification row, the {p['notified']} alerts that made one: "
                  f"{pcts(p['latency_202_to_notification_ms'])}")
            if not p["complete"]:
                print(f"    of the {p['triaged']} triaged in time: {pcts(p['latency_of_triaged_ms'])}; {p['decided']} "
                      f"of {p['accepted']} events decided by policy, about {p['expected_alerts']} alerts expected")
            g = p["loadgen"]
            print(f"    the 202s themselves: p50 {g['latency_ms']['p50']} ms, p99 {g['latency_ms']['p99']} ms from the "
                  f"due time; {g['accepted']} of {g['answered'] + g['errors'] + g['unanswered_at_end']} due requests "
                  "accepted")
        low = pipe["low"]
        print(f"  CPU s per 1,000 alerts at {low['rate']}/s: " + ", ".join(
            f"{k} {v}" for k, v in low["cpu_seconds_per_1000_alerts"].items())
            + f", generator {low['loadgen_cpu_seconds_per_1000_alerts']}")
        print("  peak RSS: " + ", ".join(f"{s} {m['vm_hwm_kb'] / 1024:.0f} MiB" for s, m in pipe["memory"].items()
                                        if m.get("vm_hwm_kb")))
    print(f"\n  written to {a.out}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", choices=["ingest", "pipeline", "merge"])
    ap.add_argument("--url", help="ingest base URL, e.g. http://127.0.0.1:8081")
    ap.add_argument("--db", help="HUTCH_DATABASE_URL")
    ap.add_argument("--state", help="the stack's state dir (pid files)")
    ap.add_argument("--loadgen", help="hutch-loadgen binary")
    ap.add_argument("--loadgen-threads", type=int, default=1)
    ap.add_argument("--bodies", help="JSONL file of findings (written when missing)")
    ap.add_argument("--findings", type=int, default=2000, help="distinct findings to cycle through")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--token", default=os.environ.get("HUTCH_BENCH_TOKEN", ""))
    ap.add_argument("--connections", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5, help="seconds of load before the measured ones (not recorded)")
    ap.add_argument("--drain", type=float, default=60)
    ap.add_argument("--rate-low", type=float, default=1000)
    ap.add_argument("--rate-high", type=float, default=5000)
    ap.add_argument("--e2e-rate", type=float, default=10000)
    ap.add_argument("--e2e-seconds", type=float, default=60)
    ap.add_argument("--e2e-warmup", type=float, default=10)
    ap.add_argument("--e2e-connections", type=int, default=512)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ingest-json")
    ap.add_argument("--pipeline-json")
    ap.add_argument("--mode", default="release")
    ap.add_argument("--started", type=float, default=time.time())
    a = ap.parse_args()
    if a.run == "merge":
        return merge(a)
    if not os.path.exists(a.bodies):
        with open(a.bodies, "w") as f:
            f.write("\n".join(guardduty_findings(a.findings, a.seed)) + "\n")
    res = run_ingest(a) if a.run == "ingest" else run_pipeline(a)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
