"""`make run` (scripts/stack.sh run) as a user runs it: Postgres, Kafka, the six
services, the web console and the fake threat-intel providers come up together, the
sample alerts are sent and become tickets, the console's admin is printed, and the
stack stops by itself (HUTCH_RUN_SECONDS). The console and the fake providers keep
their default ports when those are free (as on a fresh machine), so two defaults that
clash fail here."""
import os
import re
import socket
import subprocess

from hutch_e2e import BIN_DIR, MODE, ROOT, free_port, scaled

SERVICES = ["ingest", "policy", "enrich", "cluster", "agent", "notify"]


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_make_run_brings_everything_up_and_makes_tickets(tmp_path):
    env = dict(os.environ)
    env.update({
        "HUTCH_STATE": str(tmp_path / "stack"),
        "HUTCH_BIN_DIR": BIN_DIR,
        "HUTCH_PG_PORT": str(free_port()),
        "HUTCH_BROKER_PORT": str(free_port(pair=True)),
        "HUTCH_RUN_SECONDS": "1",
    })
    for s in SERVICES:
        env[f"HUTCH_{s.upper()}_PORT"] = str(free_port())
    for var, default in (("HUTCH_CONSOLE_PORT", 8090), ("HUTCH_INTEL_FAKE_PORT", 8099)):
        if not port_free(default):
            env[var] = str(free_port())
        else:
            env.pop(var, None)
    for var in list(env):  # real provider keys would turn the fake providers off
        if re.fullmatch(r"HUTCH_INTEL_\w+_KEY", var) or var == "HUTCH_STACK_SERVICES":
            del env[var]
    try:
        p = subprocess.run([os.path.join(ROOT, "scripts", "stack.sh"), "run", MODE], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=scaled(300))
    finally:
        subprocess.run([os.path.join(ROOT, "scripts", "stack.sh"), "down"], env=env, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=scaled(120))
    out = p.stdout
    assert p.returncode == 0, out[-4000:]
    console_port = env.get("HUTCH_CONSOLE_PORT", "8090")
    assert f"web console: http://127.0.0.1:{console_port}  sign in as admin, password " in out, out[-4000:]
    assert "threat intel: the fake providers on http://127.0.0.1:%s" % env.get("HUTCH_INTEL_FAKE_PORT", "8099") in out
    sent = re.search(r"sent (\d+) sample alerts", out)
    assert sent and int(sent.group(1)) > 0, out[-4000:]
    assert "failed to send" not in out, out[-4000:]
    # hutchctl ticket list printed at least one open ticket (a line with its id) after the samples
    listed = out[sent.end():]
    assert re.search(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\s+open\s", listed, re.M), \
        listed[:4000]
