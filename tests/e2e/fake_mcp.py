"""A fake MCP server (EXTERNAL-APIS.md §7, protocol 2025-06-18) with two tools, for
tests/e2e/test_llm.py:

  lookup_asset {ip}    read-only (annotations.readOnlyHint): {"host": "build-07", "owner": ...}
  isolate_host {host}  destructive: a change in the world, which must never run unapproved

tools/list is paginated (one tool per page, nextCursor), so a client that reads only the
first page misses isolate_host. Every tools/call is appended to the file CALLS (one JSON
line), so a test sees what ran whatever the transport.

  python3 fake_mcp.py --stdio CALLS          newline-delimited JSON-RPC on stdin/stdout
  FakeMCPHTTP(calls).url                     Streamable HTTP at /mcp: Mcp-Session-Id from
                                             initialize required afterwards (404 otherwise),
                                             MCP-Protocol-Version checked, tools/call answered
                                             as an SSE stream with a notification first

Before the handshake (initialize, then notifications/initialized) every request is
refused, as real servers do."""
import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOOLS = [
    {"name": "lookup_asset", "title": "Lookup asset", "description": "Find the device owning an IP",
     "inputSchema": {"type": "object", "properties": {"ip": {"type": "string"}}, "required": ["ip"]},
     "annotations": {"readOnlyHint": True}},
    {"name": "isolate_host", "title": "Isolate host", "description": "Cut a host off the network",
     "inputSchema": {"type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"]},
     "annotations": {"destructiveHint": True}},
]


class Session:
    def __init__(self, calls_path):
        self.calls_path = calls_path
        self.initialized = False
        self.inited_notified = False

    def handle(self, msg):
        """The response to one message (None for notifications)."""
        mid, method, params = msg.get("id"), msg.get("method"), msg.get("params") or {}
        if mid is None:
            if method == "notifications/initialized":
                self.inited_notified = True
            return None

        def ok(result):
            return {"jsonrpc": "2.0", "id": mid, "result": result}

        def err(code, message):
            return {"jsonrpc": "2.0", "id": mid, "error": {"code": code, "message": message}}
        if method == "initialize":
            if params.get("protocolVersion") != "2025-06-18" or "clientInfo" not in params:
                return err(-32602, "protocolVersion and clientInfo are required")
            self.initialized = True
            return ok({"protocolVersion": "2025-06-18", "capabilities": {"tools": {"listChanged": False}},
                       "serverInfo": {"name": "asset-db", "version": "1.2"}})
        if not (self.initialized and self.inited_notified):
            return err(-32002, "server not initialized")
        if method == "tools/list":
            page = int(params.get("cursor") or 0)
            result = {"tools": TOOLS[page:page + 1]}
            if page + 1 < len(TOOLS):
                result["nextCursor"] = str(page + 1)
            return ok(result)
        if method == "tools/call":
            name, args = params.get("name"), params.get("arguments") or {}
            with open(self.calls_path, "a") as f:
                f.write(json.dumps({"name": name, "arguments": args}) + "\n")
            if name == "lookup_asset":
                if "ip" not in args:
                    return err(-32602, "ip is required")
                if args["ip"] == "0.0.0.0":
                    return ok({"content": [{"type": "text", "text": "no asset owns 0.0.0.0"}], "isError": True})
                return ok({"content": [{"type": "text", "text": json.dumps({"host": "build-07",
                                                                            "owner": "platform-team"})}],
                           "structuredContent": {"host": "build-07", "owner": "platform-team"}, "isError": False})
            if name == "isolate_host":
                return ok({"content": [{"type": "text", "text": f"isolated {args.get('host')}"}], "isError": False})
            return err(-32602, f"Unknown tool: {name}")
        if method == "ping":
            return ok({})
        return err(-32601, f"Method not found: {method}")


def serve_stdio(calls_path):
    s = Session(calls_path)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        out = s.handle(json.loads(line))
        if out is not None:
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()


class FakeMCPHTTP:
    def __init__(self, calls_path):
        self.sessions = {}
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body=b"", ctype="application/json", headers=()):
                self.send_response(status)
                if body:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_DELETE(self):
                fake.sessions.pop(self.headers.get("Mcp-Session-Id"), None)
                self.reply(200)

            def do_POST(self):
                msg = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                fake.requests.append({"headers": dict(self.headers), "body": msg})
                accept = self.headers.get("Accept", "")
                if self.path != "/mcp":
                    return self.reply(404)
                if "application/json" not in accept or "text/event-stream" not in accept:
                    return self.reply(406, b'{"error":"Accept must list application/json and text/event-stream"}')
                if msg.get("method") == "initialize":
                    sid = uuid.uuid4().hex
                    fake.sessions[sid] = Session(calls_path)
                    out = fake.sessions[sid].handle(msg)
                    return self.reply(200, json.dumps(out).encode(), headers=[("Mcp-Session-Id", sid)])
                s = fake.sessions.get(self.headers.get("Mcp-Session-Id"))
                if s is None:
                    return self.reply(404, b'{"error":"unknown session"}')
                if self.headers.get("MCP-Protocol-Version") != "2025-06-18":
                    return self.reply(400, b'{"error":"MCP-Protocol-Version header missing"}')
                out = s.handle(msg)
                if out is None:
                    return self.reply(202)
                if msg.get("method") == "tools/call":  # an SSE stream: a notification, then the answer
                    note = {"jsonrpc": "2.0", "method": "notifications/progress",
                            "params": {"progressToken": 1, "progress": 1}}
                    body = (f"event: message\ndata: {json.dumps(note)}\n\n"
                            f"event: message\ndata: {json.dumps(out)}\n\n").encode()
                    return self.reply(200, body, "text/event-stream")
                self.reply(200, json.dumps(out).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mcp"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--stdio":
        serve_stdio(sys.argv[2])
    else:
        sys.exit("usage: fake_mcp.py --stdio CALLS_FILE")
