"""A fake Slack Web API on loopback (EXTERNAL-APIS.md §3.4, §3.5), for test_slack.py,
and a fake PagerDuty Events API v2 (§4.1).

Slack:
  POST /api/chat.postMessage  {"channel","text","blocks","thread_ts"?} ->
      {"ok":true,"channel":<id>,"ts":"<seconds>.<6 digits>","message":{...}}
      (a top-level message's `metadata` {"event_type","event_payload"} is kept with it)
  GET  /api/conversations.history?channel&oldest&include_all_metadata&limit&cursor ->
      {"ok":true,"messages":[{"type":"message","ts","text","metadata"?}, ...newest first],
      "has_more":bool,"response_metadata":{"next_cursor":"..." or ""}}: the channel's
      top-level messages with ts >= oldest, `limit` a page (default 100); metadata only
      with include_all_metadata=true; an unknown channel -> channel_not_found
  POST /api/chat.update       {"channel","ts","text","blocks"} -> {"ok":true,"channel","ts"};
      a ts that was never posted in that channel -> {"ok":false,"error":"message_not_found"}
  POST /api/views.open        {"trigger_id","view"} -> {"ok":true,"view":{"id":"V<n>","hash":...}}
  POST /api/views.update      {"view_id","hash"?,"view"} -> {"ok":true,"view":{"id","hash"}}; an
      unknown view_id -> not_found, a hash that is not the view's latest -> hash_conflict
      (each open or update gives the view a new hash)
Every request must carry Authorization: Bearer <token> (else {"ok":false,"error":
"invalid_auth"}) and Content-Type application/json; its JSON is checked against
Slack's limits (50 blocks, header plain_text <= 150, section text <= 3000, fields <= 10
x 2000, context <= 10 elements x 2000, actions <= 25, ids <= 255, values <= 2000): a
violation answers {"ok":false,"error":"invalid_blocks"} and is recorded in `invalid`.
Channels: names or ids in `channels` exist; others -> channel_not_found. `rate_limit(n,
seconds)` answers the next n calls 429 with Retry-After. Calls are counted per method;
messages are kept by (channel, ts) with their latest text and blocks, replies by
thread_ts. `hold_next_post(seconds, match)` makes the next top-level chat.postMessage
(whose JSON contains match, when given) be recorded as usual and its answer held for
that long (its ts in `held`), so a test can kill the caller inside that window;
`history_calls` lists the query of every conversations.history call.

Socket Mode (§3.7): POST /api/apps.connections.open with the app-level token (xapp-...)
-> {"ok":true,"url":"ws://127.0.0.1:<port>/link/?ticket=<n>"}; FakeSocketMode is that
WebSocket endpoint (RFC 6455 by hand: the opening handshake, text frames, close, ping):
it sends {"type":"hello"} on connect, `send(envelope)` pushes an envelope to the live
connection, every client frame must be masked and an acknowledgement must be exactly
{"envelope_id": ...} (anything else is recorded in `invalid`); `acks` lists the
acknowledged envelope ids in order.

PagerDuty: POST /v2/enqueue with a 32-char routing_key -> 202
{"status":"success","dedup_key":...}; events are recorded in order."""
import base64
import hashlib
import json
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _chars(s):
    return len(s) if isinstance(s, str) else 0


def check_limits(msg):
    """None if msg keeps Slack's Block Kit limits, else the first violation."""
    blocks = msg.get("blocks")
    if blocks is None:
        return None if isinstance(msg.get("text"), str) else "no text and no blocks"
    if not isinstance(blocks, list):
        return "blocks is not a list"
    if len(blocks) > 50:
        return "more than 50 blocks"
    for b in blocks:
        t = b.get("type")
        if len(b.get("block_id", "")) > 255:
            return "block_id > 255"
        if t == "header":
            if b["text"].get("type") != "plain_text" or _chars(b["text"].get("text")) > 150:
                return "header"
        elif t == "section":
            if "text" not in b and "fields" not in b:
                return "empty section"
            if "text" in b and _chars(b["text"].get("text")) > 3000:
                return "section > 3000"
            fields = b.get("fields", [])
            if len(fields) > 10 or any(_chars(f.get("text")) > 2000 for f in fields):
                return "fields"
        elif t == "context":
            els = b.get("elements", [])
            if not 1 <= len(els) <= 10 or any(_chars(e.get("text")) > 2000 for e in els):
                return "context"
        elif t == "actions":
            els = b.get("elements", [])
            if not 1 <= len(els) <= 25:
                return "actions"
            for e in els:
                if len(e.get("action_id", "")) > 255 or _chars(e.get("value", "")) > 2000:
                    return "action element"
        elif t != "divider":
            return f"unknown block type {t}"
    return None


class FakeSocketMode:
    """Slack's Socket Mode WebSocket endpoint on loopback."""
    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self):
        self.lock = threading.Lock()
        self.acks = []           # acknowledged envelope ids, in order
        self.invalid = []        # what a client sent that Socket Mode does not accept
        self.connections = 0     # handshakes completed
        self._conn = None        # the live connection
        self._tickets = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def new_url(self):
        with self.lock:
            self._tickets += 1
            return f"ws://127.0.0.1:{self.port}/link/?ticket=t{self._tickets}"

    def close(self):
        self.sock.close()
        with self.lock:
            if self._conn:
                self._conn.close()

    def send(self, envelope):
        """Pushes envelope (a dict) to the live connection; False if there is none."""
        with self.lock:
            conn = self._conn
        if conn is None:
            return False
        try:
            conn.sendall(self._frame(0x1, json.dumps(envelope).encode()))
            return True
        except OSError:
            return False

    @staticmethod
    def _frame(opcode, data):
        head = bytes([0x80 | opcode])
        n = len(data)
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack("!H", n)
        else:
            head += bytes([127]) + struct.pack("!Q", n)
        return head + data

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _serve(self, conn):
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            lines = request.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:] if ":" in h)}
            if not lines[0].startswith("GET /link/?ticket=") or headers.get("upgrade", "").lower() != "websocket" \
                    or "sec-websocket-key" not in headers:
                with self.lock:
                    self.invalid.append(("handshake", lines[0]))
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + self.GUID).encode()).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            with self.lock:
                old, self._conn = self._conn, conn
                self.connections += 1
            if old is not None:
                old.close()
            conn.sendall(self._frame(0x1, json.dumps({"type": "hello", "num_connections": 1,
                                                      "connection_info": {"app_id": "A0HUTCH"}}).encode()))
            while True:
                b0, b1 = self._read(conn, 2)
                opcode, masked, n = b0 & 0x0F, b1 & 0x80, b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._read(conn, 2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._read(conn, 8))[0]
                if not masked:
                    with self.lock:
                        self.invalid.append(("unmasked frame", opcode))
                    return
                mask = self._read(conn, 4)
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(self._read(conn, n)))
                if opcode == 0x8:
                    conn.sendall(self._frame(0x8, data[:2]))
                    return
                if opcode == 0x9:
                    conn.sendall(self._frame(0xA, data))
                    continue
                if opcode != 0x1:
                    continue
                try:
                    ack = json.loads(data)
                except ValueError:
                    ack = None
                with self.lock:
                    if isinstance(ack, dict) and set(ack) == {"envelope_id"}:
                        self.acks.append(ack["envelope_id"])
                    else:
                        self.invalid.append(("not an acknowledgement", data))
        except (EOFError, OSError):
            pass
        finally:
            with self.lock:
                if self._conn is conn:
                    self._conn = None
            conn.close()


class FakeSlack:
    def __init__(self, token="xoxb-test-token", channels=("C0ALERTS", "alerts", "C0SEC", "security"),
                 app_token="xapp-1-A0HUTCH-test"):
        self.token = token
        self.app_token = app_token
        self.socket_mode = FakeSocketMode()
        self.channels = set(channels)
        self.lock = threading.Lock()
        self.calls = {}          # method -> count (accepted or not)
        self.posts = []          # every accepted chat.postMessage body, in order
        self.updates = []        # every accepted chat.update body
        self.views = []          # views.open bodies
        self.view_updates = []   # accepted views.update bodies
        self._view_hash = {}     # view id -> its latest hash
        self.messages = {}       # (channel, ts) -> latest body
        self.invalid = []        # (method, reason, body)
        self.unauthorized = 0
        self._rate_limited = 0
        self._retry_after = 1
        self._seq = 0
        self._hold = None        # (seconds, match) for the next top-level post
        self.held = []           # ts of the posts whose answer was held
        self.history_calls = []  # conversations.history queries (dicts), in order
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                if self.path.startswith("/v2/enqueue"):
                    return fake._pagerduty(self, raw)
                method = self.path.rsplit("/", 1)[-1]
                status, body, headers = fake._handle(method, self.headers, raw)
                hold = headers.pop("_hold", None)
                if hold:
                    time.sleep(hold)
                self._answer(status, body, headers)

            def do_GET(self):
                path, _, query = self.path.partition("?")
                method = path.rsplit("/", 1)[-1]
                if method != "conversations.history":
                    return self._answer(200, {"ok": False, "error": "unknown_method"}, {})
                status, body = fake._history(self.headers, urllib.parse.parse_qs(query))
                self._answer(status, body, {})

            def _answer(self, status, body, headers):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller is gone (killed while its answer was held)

        self.pd_events = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def pagerduty_url(self):
        return f"http://127.0.0.1:{self.port}/v2/enqueue"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.socket_mode.close()

    def rate_limit(self, n, retry_after=1):
        with self.lock:
            self._rate_limited = n
            self._retry_after = retry_after

    def hold_next_post(self, seconds, match=None):
        with self.lock:
            self._hold = (seconds, match)

    def _history(self, headers, q):
        arg = lambda k, d=None: q.get(k, [d])[0]  # noqa: E731
        with self.lock:
            self.calls["conversations.history"] = self.calls.get("conversations.history", 0) + 1
            if headers.get("Authorization") != f"Bearer {self.token}":
                self.unauthorized += 1
                return 200, {"ok": False, "error": "invalid_auth"}
            self.history_calls.append({k: v[0] for k, v in q.items()})
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return 429, {"ok": False, "error": "ratelimited"}
            channel = arg("channel")
            if channel not in self.channels:
                return 200, {"ok": False, "error": "channel_not_found"}
            channel_id = channel if channel.startswith("C") else "C0" + channel.upper()
            oldest = float(arg("oldest", "0") or 0)
            metadata = arg("include_all_metadata") in ("true", "1")
            limit = max(1, min(int(arg("limit", "100")), 999))
            start = int(arg("cursor", "") or 0) if (arg("cursor", "") or "0").isdigit() else None
            if start is None:
                return 200, {"ok": False, "error": "invalid_cursor"}
            found = sorted(((ts, b) for (c, ts), b in self.messages.items()
                            if c == channel_id and float(ts) >= oldest),
                           key=lambda x: tuple(int(p) for p in x[0].split(".")), reverse=True)
            page = found[start:start + limit]
            msgs = []
            for ts, b in page:
                m = {"type": "message", "ts": ts, "text": b.get("text", "")}
                if metadata and b.get("metadata"):
                    m["metadata"] = b["metadata"]
                msgs.append(m)
            more = start + limit < len(found)
            return 200, {"ok": True, "messages": msgs, "has_more": more,
                         "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def count(self, method):
        with self.lock:
            return self.calls.get(method, 0)

    def top_level_posts(self):
        with self.lock:
            return [p for p in self.posts if not p.get("thread_ts")]

    def user_message(self, channel, ts, text=""):
        """A message a person posted (Slack knows it; a reply may name it as thread_ts)."""
        with self.lock:
            self.messages[(channel, ts)] = {"channel": channel, "ts": ts, "text": text}

    def replies(self, thread_ts):
        with self.lock:
            return [p for p in self.posts if p.get("thread_ts") == thread_ts]

    def _handle(self, method, headers, raw):
        if method == "apps.connections.open":
            with self.lock:
                self.calls[method] = self.calls.get(method, 0) + 1
                if headers.get("Authorization") != f"Bearer {self.app_token}":
                    self.unauthorized += 1
                    return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.socket_mode.new_url()}, {}
        with self.lock:
            self.calls[method] = self.calls.get(method, 0) + 1
            if headers.get("Authorization") != f"Bearer {self.token}":
                self.unauthorized += 1
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            if not (headers.get("Content-Type") or "").startswith("application/json"):
                return 200, {"ok": False, "error": "invalid_form_data"}, {}
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self._retry_after)}
            try:
                body = json.loads(raw)
            except ValueError:
                return 200, {"ok": False, "error": "invalid_json"}, {}
            if method == "views.open":
                if not body.get("trigger_id") or body.get("view", {}).get("type") != "modal":
                    return 200, {"ok": False, "error": "invalid_arguments"}, {}
                self.views.append(body)
                vid = f"V{len(self.views)}"
                self._view_hash[vid] = f"{vid}.h0"
                return 200, {"ok": True, "view": {"id": vid, "hash": self._view_hash[vid]}}, {}
            if method == "views.update":
                vid = body.get("view_id")
                if vid not in self._view_hash:
                    return 200, {"ok": False, "error": "not_found"}, {}
                if body.get("view", {}).get("type") != "modal" or len(body["view"].get("blocks", [])) > 100:
                    self.invalid.append((method, "not a modal of <= 100 blocks", body))
                    return 200, {"ok": False, "error": "invalid_arguments"}, {}
                if body.get("hash") and body["hash"] != self._view_hash[vid]:
                    return 200, {"ok": False, "error": "hash_conflict"}, {}
                self.view_updates.append(body)
                self._view_hash[vid] = f"{vid}.h{len(self.view_updates)}"
                return 200, {"ok": True, "view": {"id": vid, "hash": self._view_hash[vid]}}, {}
            if method not in ("chat.postMessage", "chat.update"):
                return 200, {"ok": False, "error": "unknown_method"}, {}
            why = check_limits(body)
            if why:
                self.invalid.append((method, why, body))
                return 200, {"ok": False, "error": "invalid_blocks", "detail": why}, {}
            channel = body.get("channel")
            if channel not in self.channels:
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            channel_id = channel if channel.startswith("C") else "C0" + channel.upper()
            self.channels.add(channel_id)
            if method == "chat.update":
                key = (channel_id, body.get("ts"))
                if key not in self.messages:
                    return 200, {"ok": False, "error": "message_not_found"}, {}
                self.messages[key] = body
                self.updates.append(body)
                return 200, {"ok": True, "channel": channel_id, "ts": body["ts"]}, {}
            if body.get("thread_ts") and (channel_id, body["thread_ts"]) not in self.messages:
                return 200, {"ok": False, "error": "thread_not_found"}, {}
            self._seq += 1
            ts = f"{int(time.time())}.{self._seq:06d}"
            self.posts.append(body)
            headers = {}
            if not body.get("thread_ts"):
                self.messages[(channel_id, ts)] = body
                if self._hold and (self._hold[1] is None or self._hold[1] in json.dumps(body)):
                    headers["_hold"] = self._hold[0]
                    self._hold = None
                    self.held.append(ts)
            return 200, {"ok": True, "channel": channel_id, "ts": ts, "message": {"ts": ts}}, headers

    def _pagerduty(self, handler, raw):
        try:
            body = json.loads(raw)
            ok = (len(body.get("routing_key", "")) == 32 and body.get("event_action") in
                  ("trigger", "acknowledge", "resolve") and body.get("dedup_key"))
        except ValueError:
            ok, body = False, None
        with self.lock:
            if ok:
                self.pd_events.append(body)
        data = json.dumps({"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]}
                          if ok else {"status": "invalid event", "message": "Event object is invalid"}).encode()
        handler.send_response(202 if ok else 400)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
