"""hutch-loadgen (tools/loadgen, the generator of `make bench`) against the real
ingest of the e2e stack: what it reports is what happened. In open loop every
record is a 202 whose event exists (policy stores it), with the time of the 202
inside the run; at full speed every answer is counted."""
import json
import os
import re
import subprocess
import time

from hutch_e2e import BIN_DIR, guardduty_finding, scaled

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
LOADGEN = os.path.join(BIN_DIR, "hutch-loadgen")


def run_loadgen(st, tmp_path, *args):
    # one request first: a fresh broker makes the idempotent producer wait for its id
    r = st.post_alert("guardduty", guardduty_finding(), timeout=scaled(60))
    assert r.status_code == 202, r.text
    bodies = tmp_path / "findings.jsonl"
    bodies.write_text("".join(json.dumps(guardduty_finding()) + "\n" for _ in range(3)))
    cmd = [LOADGEN, "--url", f"{st.ingest_url}/hooks/alert/raw/guardduty", "--body", str(bodies), *args]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=scaled(60))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_http_loadgen_open_loop_records(healthy, tmp_path):
    st = healthy
    records = tmp_path / "acks.tsv"
    t0 = time.time()
    out = run_loadgen(st, tmp_path, "--rate", "100", "--duration", "2", "--warmup", "1", "--connections", "32",
                      "--records", str(records))
    t1 = time.time()
    assert out["mode"] == "open-loop"
    assert out["errors"] == 0, out
    assert out["answered"] == sum(out["status"].values()), out  # 503s may come from a slow broker
    # 200 requests are due in the measured 2 s: each is answered or reported unanswered
    # (in flight or still waiting for a connection at the end); how many are answered
    # depends on how fast this machine's Kafka acknowledges
    assert 199 <= out["answered"] + out["unanswered_at_end"] <= 201, out
    assert out["accepted"] > 0, out
    lines = records.read_text().splitlines()
    assert len(lines) == out["accepted"]
    ids = []
    for line in lines:
        event_id, t_ns, lat_ns = line.split("\t")
        assert UUID_RE.match(event_id), line
        assert t0 <= int(t_ns) / 1e9 <= t1, line
        assert 0 < int(lat_ns) < scaled(30) * 1e9, line
        ids.append(event_id)
    assert len(set(ids)) == len(ids)
    # every acknowledged event reached policy (an events row), none was invented
    deadline = time.time() + scaled(60)
    while True:
        [row] = st.pg.query("SELECT count(*) AS n FROM events WHERE event_id = ANY(%s::uuid[])", (ids,))
        if row["n"] == len(ids) or time.time() > deadline:
            break
        time.sleep(0.5)
    assert row["n"] == len(ids)


def test_http_loadgen_full_speed(healthy, tmp_path):
    out = run_loadgen(healthy, tmp_path, "--rate", "0", "--duration", "1", "--warmup", "0.2", "--connections", "4")
    assert out["mode"] == "full-speed"
    assert out["answered"] > 0 and out["accepted"] == out["answered"], out
    assert out["errors"] == 0, out
    assert out["latency_ms"]["p50"] > 0
