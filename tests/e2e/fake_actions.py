"""A fake of every external service the action chain calls (services/agent/actions.h),
on loopback, each checking the request as the real API expects it and answering its
documented shape (EXTERNAL-APIS.md §2.2, §4, §6.1):

  POST /slack/services/...                 Slack incoming webhook: JSON body with text and
                                           attachments[].blocks -> 200 "ok" (text/plain)
  POST /openai/v1/chat/completions         Authorization: Bearer KEY, {model, messages} ->
                                           chat.completion with choices[0].message.content
  POST /github/app/installations/N/access_tokens   Bearer RS256 JWT (iss = app id,
                                           verified with the app's public key) -> 201 {token}
  POST /github/repos/O/R/issues[/N/comments]       Bearer <installation token> -> 201 object
  POST /jira/rest/api/3/issue[/ID/comment|/ID/attachments]   Basic user:token (ADF bodies;
                                           attachments multipart with X-Atlassian-Token) -> 201/200
  POST /opsgenie/v2/alerts                 Authorization: GenieKey KEY -> 202 {result, took, requestId}
  GET  /otx/api/v1/indicators/T/I/S        X-OTX-API-KEY -> the section's JSON
  POST /google/token                       jwt-bearer grant, RS256 assertion (iss, scope, aud)
                                           -> {access_token}
  POST /bigquery/bigquery/v2/projects/P/datasets/D/tables/T/insertAll   Bearer token ->
                                           {kind: bigquery#tableDataInsertAllResponse}
  POST /pagerduty/v2/enqueue               no auth header, 32-char routing_key -> 202 / 400
  *    /fetch/...                          http.fetch: /fetch/json, /fetch/text, /fetch/bytes, /fetch/count

A request that breaks a rule gets 400 {"fake_error": why} and the reason is kept in
`errors`; every request is kept in `requests` (path, headers, body)."""
import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SLACK_PATH = "/slack/services/T0000/B0000/XXXXSECRET"
OPENAI_KEY = "sk-test-7f3a"
GITHUB_APP_ID = 12345
GITHUB_INSTALL_ID = 67890
GITHUB_TOKEN = "ghs_fakeinstallationtoken"
JIRA_USER, JIRA_TOKEN = "bot@example.com", "jira-secret-token"
OPSGENIE_KEY = "genie-secret-key"
OTX_KEY = "otx-secret-key"
GOOGLE_TOKEN = "ya29.fake-access-token"
PD_KEY = "e93facc04764012d7bfb002500d5d1a6"


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def new_rsa_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return key, pem


class FakeActions:
    def __init__(self, llm_answer="The instance is compromised: isolate it."):
        self.llm_answer = llm_answer
        self.requests = []
        self.errors = []
        self.lock = threading.Lock()
        self.github_key, self.github_pem = new_rsa_pem()
        self.google_key, self.google_pem = new_rsa_pem()
        self.slow_slack = 0.0  # seconds the Slack webhook waits before answering
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

            def do_PUT(self):
                fake.handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def service_account(self):
        return json.dumps({"type": "service_account", "project_id": "proj", "client_email":
                           "hutch@proj.iam.gserviceaccount.com", "private_key": self.google_pem,
                           "token_uri": "https://oauth2.googleapis.com/token"})

    def of(self, prefix):
        with self.lock:
            return [r for r in self.requests if r["path"].startswith(prefix)]

    # --- plumbing ---

    def handle(self, h, method):
        n = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(n) if n else b""
        rec = {"method": method, "path": h.path, "headers": {k.lower(): v for k, v in h.headers.items()},
               "raw": raw}
        try:
            rec["body"] = json.loads(raw) if raw and "json" in (h.headers.get("Content-Type") or "") else None
        except ValueError:
            rec["body"] = None
        with self.lock:
            self.requests.append(rec)
        try:
            status, ctype, body = self.route(rec)
        except AssertionError as e:
            with self.lock:
                self.errors.append(f"{h.path}: {e}")
            status, ctype, body = 400, "application/json", json.dumps({"fake_error": str(e)})
        data = body.encode() if isinstance(body, str) else body
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def jwt(self, token, public_key):
        head, pay, sig = token.split(".")
        header = json.loads(b64url_decode(head))
        assert header == {"alg": "RS256", "typ": "JWT"}, f"JWT header {header}"
        public_key.verify(b64url_decode(sig), f"{head}.{pay}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return json.loads(b64url_decode(pay))

    # --- the services ---

    def route(self, r):
        p, hd, body = r["path"], r["headers"], r["body"]
        j = "application/json"
        if p.startswith("/slack/"):
            assert p == SLACK_PATH, "unknown webhook"
            assert hd.get("content-type") == "application/json", "Content-Type"
            assert isinstance(body, dict) and isinstance(body.get("text"), str), "text"
            blocks = body["attachments"][0]["blocks"]
            assert blocks[0] == {"type": "divider"}, "divider first"
            assert all(b["type"] in ("divider", "section") for b in blocks), "block types"
            if self.slow_slack:
                time.sleep(self.slow_slack)
            return 200, "text/plain", "ok"
        if p == "/openai/v1/chat/completions":
            assert hd.get("authorization") == f"Bearer {OPENAI_KEY}", "Authorization"
            assert isinstance(body.get("model"), str) and body["model"], "model"
            msgs = body.get("messages")
            assert isinstance(msgs, list) and msgs[0]["role"] == "user" and msgs[0]["content"], "messages"
            return 200, j, json.dumps({
                "id": "chatcmpl-" + uuid.uuid4().hex[:8], "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": self.llm_answer}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 12, "total_tokens": 112}})
        if p == f"/github/app/installations/{GITHUB_INSTALL_ID}/access_tokens":
            auth = hd.get("authorization", "")
            assert auth.startswith("Bearer "), "Authorization"
            claims = self.jwt(auth[7:], self.github_key.public_key())
            assert claims["iss"] == str(GITHUB_APP_ID), f"iss {claims.get('iss')}"
            now = time.time()
            assert claims["iat"] <= now and 0 < claims["exp"] - claims["iat"] <= 600, "iat/exp"
            assert hd.get("accept") == "application/vnd.github+json", "Accept"
            return 201, j, json.dumps({"token": GITHUB_TOKEN, "expires_at": "2030-01-01T00:00:00Z"})
        if p.startswith("/github/repos/"):
            assert hd.get("authorization") == f"Bearer {GITHUB_TOKEN}", "installation token"
            assert hd.get("accept") == "application/vnd.github+json", "Accept"
            if p.endswith("/comments"):
                assert isinstance(body.get("body"), str) and body["body"], "comment body"
                return 201, j, json.dumps({"id": 1, "body": body["body"],
                                           "html_url": "https://github.com/example/security/issues/7#issuecomment-1"})
            assert p == "/github/repos/example/security/issues", p
            assert isinstance(body.get("title"), str) and body["title"], "title"
            assert isinstance(body.get("body"), str), "body"
            return 201, j, json.dumps({"id": 99, "number": 7, "title": body["title"], "labels": [
                {"name": n} for n in body.get("labels", [])],
                "html_url": "https://github.com/example/security/issues/7"})
        if p.startswith("/jira/rest/api/3/issue"):
            want = "Basic " + base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode()
            assert hd.get("authorization") == want, "basic auth"
            if p.endswith("/attachments"):
                assert hd.get("x-atlassian-token") == "no-check", "X-Atlassian-Token"
                assert hd.get("content-type", "").startswith("multipart/form-data"), "multipart"
                assert b'name="file"; filename="evidence.txt"' in r["raw"], "file part"
                return 200, j, json.dumps([{"id": "10001", "filename": "evidence.txt", "size": 5}])
            if p.endswith("/comment"):
                assert body["body"]["type"] == "doc" and body["body"]["version"] == 1, "ADF body"
                return 201, j, json.dumps({"id": "10000", "body": body["body"]})
            assert p == "/jira/rest/api/3/issue", p
            f = body["fields"]
            assert f["project"] == {"key": "SEC"} and f["issuetype"] == {"name": "Task"}, "project/issuetype"
            assert f["summary"] and f["description"]["type"] == "doc", "summary/description"
            return 201, j, json.dumps({"id": "10000", "key": "SEC-1",
                                       "self": f"{self.base}/jira/rest/api/3/issue/10000"})
        if p == "/opsgenie/v2/alerts":
            assert hd.get("authorization") == f"GenieKey {OPSGENIE_KEY}", "GenieKey"
            assert body["message"] and len(body["message"]) <= 130, "message"
            assert body["alias"] and isinstance(body.get("details"), dict), "alias/details"
            return 202, j, json.dumps({"result": "Request will be processed", "took": 0.302,
                                       "requestId": str(uuid.uuid4())})
        if p.startswith("/otx/api/v1/indicators/"):
            assert hd.get("x-otx-api-key") == OTX_KEY, "X-OTX-API-KEY"
            parts = p.split("/")
            assert parts[5] in ("IPv4", "IPv6", "domain", "hostname", "file", "url"), "type"
            return 200, j, json.dumps({"indicator": parts[6], "type": parts[5], "pulse_info": {"count": 3}})
        if p == "/google/token":
            assert hd.get("content-type") == "application/x-www-form-urlencoded", "form"
            form = parse_qs(r["raw"].decode())
            assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"], "grant_type"
            claims = self.jwt(form["assertion"][0], self.google_key.public_key())
            assert claims["iss"] == "hutch@proj.iam.gserviceaccount.com", "iss"
            assert claims["scope"] == "https://www.googleapis.com/auth/bigquery.insertdata", "scope"
            assert claims["aud"] == f"{self.base}/google/token", "aud"
            return 200, j, json.dumps({"access_token": GOOGLE_TOKEN, "expires_in": 3599, "token_type": "Bearer"})
        if p.startswith("/bigquery/bigquery/v2/projects/"):
            assert hd.get("authorization") == f"Bearer {GOOGLE_TOKEN}", "Bearer"
            assert p.endswith("/insertAll"), "insertAll"
            rows = body["rows"]
            assert len(rows) == 1 and rows[0]["insertId"] and isinstance(rows[0]["json"], dict), "rows"
            return 200, j, json.dumps({"kind": "bigquery#tableDataInsertAllResponse"})
        if p == "/pagerduty/v2/enqueue":
            assert "authorization" not in hd, "no auth header"
            if len(body.get("routing_key", "")) != 32:
                return 400, j, json.dumps({"status": "invalid event", "message": "Event object is invalid",
                                           "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"]})
            assert body["event_action"] in ("trigger", "resolve"), "event_action"
            if body["event_action"] == "trigger":
                pl = body["payload"]
                assert pl["summary"] and pl["source"], "summary/source"
                assert pl["severity"] in ("critical", "error", "warning", "info"), "severity"
            else:
                assert body.get("dedup_key"), "dedup_key"
            return 202, j, json.dumps({"status": "success", "message": "Event processed",
                                       "dedup_key": body.get("dedup_key") or "srv01/HTTP"})
        if p == "/fetch/json":
            return 200, j, json.dumps({"answer": 42, "method": r["method"]})
        if p == "/fetch/text":
            assert r["raw"] == b"hello" and r["headers"].get("x-test") == "1", "data/header"
            return 200, "text/plain", "plain answer"
        if p == "/fetch/count":
            return 200, "text/plain", "counted"
        if p == "/fetch/bytes":
            return 200, "application/octet-stream", b"\x00\x01\xff"
        raise AssertionError(f"unknown path {p}")
