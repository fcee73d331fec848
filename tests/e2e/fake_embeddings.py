"""A fake embeddings server on loopback speaking the OpenAI and Gemini wire formats
(EXTERNAL-APIS.md §6.4), for tests/e2e/test_embed_providers.py.

  POST /v1/embeddings                         OpenAI: Authorization: Bearer KEY,
      {"model","input":[..],"encoding_format","dimensions"?} ->
      {"object":"list","data":[{"object":"embedding","index":i,"embedding":[..]}],"model","usage"}
      (data in reverse order: clients must place rows by index)
  POST /v1beta/models/M:embedContent          Gemini: x-goog-api-key: KEY,
      {"content":{"parts":[{"text"}]},"outputDimensionality"?,"taskType"?} -> {"embedding":{"values"}}
  POST /v1beta/models/M:batchEmbedContents    {"requests":[{"model":"models/M",...}]} -> {"embeddings":[{"values"}]}

Vectors are a deterministic function of the text (fake_vector), NOT normalised, of the
asked size (OpenAI's default 1536, Gemini's 3072 otherwise). A wrong key gets each
provider's documented error answer; `fail` scripts the next answers (429 with
Retry-After, 500, a wrong size). Every request is recorded (path, headers, body)."""
import hashlib
import json
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def fake_vector(text, dim):
    out = []
    i = 0
    while len(out) < dim:
        h = hashlib.sha256(f"{i}:{text}".encode()).digest()
        out.extend(x / 2**31 for x in struct.unpack("<8i", h))
        i += 1
    return [round(x * 3, 6) for x in out[:dim]]  # length ~1.7, not 1


class FakeEmbeddings:
    def __init__(self, key="sk-test-key"):
        self.key = key
        self.requests = []
        self.fail = []  # scripted answers, popped one per request: "429", "500", "short"
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    scripted = fake.fail.pop(0) if fake.fail else None
                if self.path.startswith("/v1beta/"):
                    fake.gemini(self, body, scripted)
                else:
                    fake.openai(self, body, scripted)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def send(h, status, obj, headers=()):
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def openai(self, h, body, scripted):
        if h.path != "/v1/embeddings":
            return self.send(h, 404, {"error": {"message": f"Invalid URL (POST {h.path})",
                                                "type": "invalid_request_error", "param": None, "code": None}})
        if self.key and h.headers.get("Authorization") != f"Bearer {self.key}":
            return self.send(h, 401, {"error": {"message": "Incorrect API key provided: sk-wr****. You can find "
                                                "your API key at https://platform.openai.com/account/api-keys.",
                                                "type": "invalid_request_error", "param": None,
                                                "code": "invalid_api_key"}})
        if scripted == "429":
            return self.send(h, 429, {"error": {"message": "Rate limit reached for text-embedding-3-small on "
                                                "requests per min (RPM): Limit 3000.",
                                                "type": "requests", "param": None, "code": "rate_limit_exceeded"}},
                             [("Retry-After", "7")])
        if scripted == "500":
            return self.send(h, 500, {"error": {"message": "The server had an error while processing your request.",
                                                "type": "server_error", "param": None, "code": None}})
        if not isinstance(body, dict) or not isinstance(body.get("input"), list) or "model" not in body:
            return self.send(h, 400, {"error": {"message": "'input' is a required property",
                                                "type": "invalid_request_error", "param": None, "code": None}})
        dim = body.get("dimensions", 1536) - (1 if scripted == "short" else 0)
        data = [{"object": "embedding", "index": i, "embedding": fake_vector(t, dim)}
                for i, t in enumerate(body["input"])]
        self.send(h, 200, {"object": "list", "data": list(reversed(data)), "model": body["model"],
                           "usage": {"prompt_tokens": 8, "total_tokens": 8}})

    def gemini(self, h, body, scripted):
        if self.key and h.headers.get("x-goog-api-key") != self.key:
            return self.send(h, 400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid "
                                                "API key.", "status": "INVALID_ARGUMENT"}})
        if scripted == "429":
            return self.send(h, 429, {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check "
                                                "quota).", "status": "RESOURCE_EXHAUSTED"}})
        if scripted == "500":
            return self.send(h, 500, {"error": {"code": 500, "message": "An internal error has occurred.",
                                                "status": "INTERNAL"}})

        def one(req):
            dim = req.get("outputDimensionality", 3072) - (1 if scripted == "short" else 0)
            return {"values": fake_vector(req["content"]["parts"][0]["text"], dim)}

        if h.path.endswith(":embedContent"):
            return self.send(h, 200, {"embedding": one(body)})
        if h.path.endswith(":batchEmbedContents"):
            return self.send(h, 200, {"embeddings": [one(r) for r in body["requests"]]})
        self.send(h, 404, {"error": {"code": 404, "message": f"{h.path} not found", "status": "NOT_FOUND"}})
