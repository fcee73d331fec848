"""The web console in the end-to-end tests: hutch-console started on the session's
stack (its Postgres and broker), accounts made with `hutchctl user add`, and a signed-in
HTTP client. Used by test_console_api.py and test_console_browser.py."""
import json
import os
import subprocess
import uuid

import requests

import hutch_e2e
from hutch_e2e import BIN_DIR, Service, scaled, wait_for

ROOT = hutch_e2e.ROOT


def start_console(stack, name="console", **settings):
    """A hutch-console on a free port with the stack's settings plus `settings`
    (HUTCH_CONSOLE_* and so on); ready when it returns."""
    svc = Service("console", stack.base, stack.env)
    svc.log = os.path.join(stack.base, "logs", f"{name}.log")
    svc.env.update({"HUTCH_CONSOLE_LOGIN_WINDOW": "3s"})
    svc.env.update(settings)
    svc.start()
    svc.wait_ready()
    return svc


def stop_console(svc):
    """SIGTERM; the console must exit 0 (a clean drain; in MODE=asan, no leak)."""
    rc = svc.stop()
    assert rc == 0, f"hutch-console exited {rc}:\n{svc.log_tail(30)}"


def add_user(stack, name, role, password=None):
    """`hutchctl user add`; returns the password (the generated one when none given)."""
    env = dict(stack.env)
    out = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "user", "add", "--role", role, name],
                         input=(password + "\n") if password else "", capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    if password:
        assert out.stdout.strip() == f"user {name} ({role})"
        return password
    assert "password: " in out.stdout
    return out.stdout.strip().rsplit("password: ", 1)[1]


class Client:
    """A signed-in client: cookie jar + the CSRF token."""

    def __init__(self, url, name, password):
        self.url = url
        self.s = requests.Session()
        r = self.s.post(url + "/api/login", json={"name": name, "password": password}, timeout=30)
        assert r.status_code == 200, r.text
        self.login_response = r
        self.me = r.json()

    def get(self, path, **kw):
        return self.s.get(self.url + path, timeout=30, **kw)

    def post(self, path, body=None, csrf=True, **kw):
        headers = kw.pop("headers", {})
        if csrf:
            headers["X-CSRF-Token"] = self.me["csrf"]
        return self.s.post(self.url + path, json=body if body is not None else {}, headers=headers, timeout=60, **kw)


def unique(prefix="console"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def alertmanager_alert(alertname, summary="", labels=None, annotations=None, generator_url=""):
    """An Alertmanager webhook with one firing alert (policies/ingest/alertmanager.rego:
    title alertname + summary, labels as attributes, generatorURL the link of the
    alertname attribute)."""
    lab = {"alertname": alertname, "severity": "critical"}
    lab.update(labels or {})
    ann = {"summary": summary} if summary else {}
    ann.update(annotations or {})
    return {"version": "4", "status": "firing", "receiver": "hutch",
            "alerts": [{"status": "firing", "labels": lab, "annotations": ann, "generatorURL": generator_url,
                        "fingerprint": uuid.uuid4().hex[:16]}]}


def wait_ticket_titled(stack, title_part, timeout=None):
    """The ticket whose title contains title_part, once cluster made it."""
    def find():
        rows = stack.pg.query("SELECT ticket_id::text AS id FROM tickets WHERE title LIKE %s", (f"%{title_part}%",))
        return rows[0]["id"] if rows else None
    return wait_for(find, timeout or scaled(90), 0.3, f"a ticket titled ...{title_part}...")


def hutchctl_decide(schema, event):
    out = subprocess.run([os.path.join(BIN_DIR, "hutchctl"), "policy", "decide", "--policy",
                          os.path.join(ROOT, "policies"), "--schema", schema, "--output", "json"],
                         input=json.dumps(event), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
