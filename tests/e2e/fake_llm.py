"""A fake LLM server on loopback speaking three wire formats (EXTERNAL-APIS.md §6.1-6.3),
for the tests of common/llm.c, the tool loop and the agent:

  POST /v1/chat/completions (or /chat/completions)   OpenAI: Authorization: Bearer KEY;
      tool calls as message.tool_calls with `arguments` a JSON *string*,
      finish_reason tool_calls|stop, usage.{prompt,completion,total}_tokens
  POST /v1/messages                                   Anthropic: x-api-key: KEY and
      anthropic-version: 2023-06-01; max_tokens required; content blocks text/tool_use,
      next turn tool_result blocks; stop_reason tool_use|end_turn; usage.{input,output}_tokens
  POST /v1beta/models/MODEL:generateContent           Gemini: x-goog-api-key: KEY;
      parts functionCall{name,args} / functionResponse{name,response(object)};
      usageMetadata.{promptTokenCount,candidatesTokenCount}

Each request is checked as the real API would (auth, required fields, every tool result
answering a call of the turn before it, OpenAI arguments echoed as strings, Gemini
responses as objects) and refused with that API's error shape otherwise -- so a client
that does not echo turns verbatim fails here as it would there.

What the model says is scripted per test: `script` is a list of steps taken one per
request; when it is empty, `responder(view)` decides (default: the text "ok"). A step:
  {"calls": [[name, args], ...]}   tool calls (parallel when several)
  {"text": "..."} / {"json": obj}  a final answer
  {"status": 429, "retry_after": "1"} / {"status": 500} / {"status": 529}
  any step may add "delay": seconds (answer late: past the client's timeout)
`view` is the request in neutral form: {"provider", "system", "messages": [{"role",
"text", "calls", "results"}], "tools": [names], "json": bool, "no_tool_calls": bool}. Every request is recorded
(`requests`: provider, path, headers, body, view) and tokens are counted in `usage`."""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLLM:
    def __init__(self, key="sk-test-llm"):
        self.key = key
        self.script = []
        self.responder = None
        self.requests = []
        self.usage = {"input": 0, "output": 0, "calls": 0}
        self.lock = threading.Lock()
        self.ids = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                fake.handle(self, body, len(raw))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def env(self, provider, **kw):
        """The agent's settings for this fake."""
        url = {"openai": self.url + "/v1", "anthropic": self.url, "gemini": self.url}[provider]
        e = {"HUTCH_LLM_PROVIDER": provider, "HUTCH_LLM_URL": url, "HUTCH_LLM_MODEL": "fake-model",
             "HUTCH_LLM_API_KEY": self.key}
        e.update({k: str(v) for k, v in kw.items()})
        return e

    def model_calls(self):
        """Requests answered with a model turn (not the scripted HTTP errors)."""
        with self.lock:
            return self.usage["calls"]

    # --- transport ---

    @staticmethod
    def send(h, status, obj, headers=()):
        data = json.dumps(obj).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): as a real server would, carry on

    def next_id(self, prefix):
        with self.lock:
            self.ids += 1
            return f"{prefix}{self.ids:04d}"

    def handle(self, h, body, size):
        path = h.path.split("?")[0]
        if re.fullmatch(r"(/v1)?/chat/completions", path):
            provider = "openai"
        elif path == "/v1/messages":
            provider = "anthropic"
        elif re.fullmatch(r"/v1beta/models/[^/:]+:generateContent", path):
            provider = "gemini"
        else:
            return self.send(h, 404, {"error": {"message": f"no route {path}"}})
        problem = self.check_auth(provider, h.headers) or self.check_body(provider, body)
        view = self.view(provider, body) if problem is None else None
        with self.lock:
            self.requests.append({"provider": provider, "path": path, "headers": dict(h.headers), "body": body,
                                  "view": view})
            step = self.script.pop(0) if self.script and problem is None else None
        if problem:
            return self.error(h, provider, *problem)
        if step is None:
            step = self.responder(view) if self.responder else {"text": "ok"}
        if step.get("delay"):
            time.sleep(step["delay"])
        if step.get("status"):
            hdrs = [("Retry-After", str(step["retry_after"]))] if "retry_after" in step else []
            return self.error(h, provider, step["status"], step.get("message", "scripted failure"), hdrs)
        text = json.dumps(step["json"]) if "json" in step else step.get("text", "")
        calls = [(c[0], c[1]) for c in step.get("calls", [])]
        inp = size // 4
        out = len(text) // 4 + 1 + sum(5 + len(json.dumps(a)) // 4 for _, a in calls)
        with self.lock:
            self.usage["input"] += inp
            self.usage["output"] += out
            self.usage["calls"] += 1
        return self.send(h, 200, getattr(self, "answer_" + provider)(body, text, calls, inp, out))

    def error(self, h, provider, status, message, headers=()):
        if provider == "openai":
            obj = {"error": {"message": message, "type": "requests" if status == 429 else "invalid_request_error",
                             "param": None, "code": None}}
        elif provider == "anthropic":
            kind = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error"}.get(
                status, "api_error" if status >= 500 else "invalid_request_error")
            obj = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            obj = {"error": {"code": status, "message": message,
                             "status": {429: "RESOURCE_EXHAUSTED", 400: "INVALID_ARGUMENT"}.get(status, "INTERNAL")}}
        return self.send(h, status, obj, headers)

    # --- checks, as the real APIs make them ---

    def check_auth(self, provider, headers):
        if provider == "openai" and headers.get("Authorization") != f"Bearer {self.key}":
            return 401, "Incorrect API key provided."
        if provider == "anthropic":
            if headers.get("x-api-key") != self.key:
                return 401, "invalid x-api-key"
            if headers.get("anthropic-version") != "2023-06-01":
                return 400, "anthropic-version: header is required"
        if provider == "gemini" and headers.get("x-goog-api-key") != self.key:
            return 400, "API key not valid. Please pass a valid API key."
        return None

    def check_body(self, provider, body):
        if not isinstance(body, dict):
            return 400, "the body is not a JSON object"
        if provider == "openai":
            if not body.get("model") or not isinstance(body.get("messages"), list):
                return 400, "'model' and 'messages' are required"
            open_ids = set()
            for m in body["messages"]:
                if m.get("role") == "assistant":
                    open_ids = set()
                    for c in m.get("tool_calls") or []:
                        if not isinstance(c.get("function", {}).get("arguments"), str):
                            return 400, "tool_calls[].function.arguments must be a string"
                        open_ids.add(c.get("id"))
                elif m.get("role") == "tool":
                    if m.get("tool_call_id") not in open_ids:
                        return 400, ("Invalid parameter: messages with role 'tool' must be a response to a "
                                     "preceeding message with 'tool_calls'.")
                    if not isinstance(m.get("content"), str):
                        return 400, "tool message content must be a string"
        elif provider == "anthropic":
            if not body.get("model") or "max_tokens" not in body or not isinstance(body.get("messages"), list):
                return 400, "model, max_tokens and messages are required"
            prev_uses = set()
            for m in body["messages"]:
                content = m.get("content")
                if m.get("role") == "assistant":
                    prev_uses = {b.get("id") for b in content if b.get("type") == "tool_use"} \
                        if isinstance(content, list) else set()
                    continue
                if isinstance(content, list):
                    results = [b for b in content if b.get("type") == "tool_result"]
                    if results and content[:len(results)] != results:
                        return 400, "tool_result blocks must come first in the user turn"
                    ids = {b.get("tool_use_id") for b in results}
                    if ids - prev_uses:
                        return 400, "tool_result block(s) provided when previous message does not have " \
                                    "corresponding tool_use blocks"
                    if results and ids != prev_uses:
                        return 400, "tool_use ids were found without tool_result blocks immediately after"
                prev_uses = set()
        else:
            if not isinstance(body.get("contents"), list):
                return 400, "contents is required"
            prev_calls = []
            for c in body["contents"]:
                parts = c.get("parts") or []
                if c.get("role") == "model":
                    prev_calls = [p["functionCall"]["name"] for p in parts if "functionCall" in p]
                    continue
                responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
                if responses:
                    if sorted(r.get("name") for r in responses) != sorted(prev_calls):
                        return 400, "Please ensure that the number of function response parts is equal to the " \
                                    "number of function call parts of the function call turn."
                    if any(not isinstance(r.get("response"), dict) for r in responses):
                        return 400, "functionResponse.response must be an object"
                prev_calls = []
        return None

    # --- the request in neutral form ---

    def view(self, provider, body):
        v = {"provider": provider, "system": "", "messages": [], "tools": [], "json": False,
             "no_tool_calls": body.get("tool_choice") == "none"
             or (body.get("tool_choice") or {}) == {"type": "none"}
             or (body.get("toolConfig") or {}).get("functionCallingConfig", {}).get("mode") == "NONE"}
        if provider == "openai":
            v["tools"] = [t["function"]["name"] for t in body.get("tools") or []]
            v["json"] = "response_format" in body
            for m in body["messages"]:
                if m["role"] == "system":
                    v["system"] = m["content"]
                elif m["role"] == "tool":
                    v["messages"].append({"role": "tool", "text": "", "calls": [],
                                          "results": [{"id": m["tool_call_id"], "content": m["content"]}]})
                else:
                    v["messages"].append({"role": m["role"], "text": m.get("content") or "", "results": [],
                                          "calls": [[c["function"]["name"], json.loads(c["function"]["arguments"])]
                                                    for c in m.get("tool_calls") or []]})
        elif provider == "anthropic":
            v["system"] = body.get("system", "")
            v["tools"] = [t["name"] for t in body.get("tools") or []]
            v["json"] = "JSON Schema" in v["system"]
            for m in body["messages"]:
                c = m["content"]
                blocks = [{"type": "text", "text": c}] if isinstance(c, str) else c
                v["messages"].append({
                    "role": m["role"], "text": "".join(b.get("text", "") for b in blocks if b["type"] == "text"),
                    "calls": [[b["name"], b["input"]] for b in blocks if b["type"] == "tool_use"],
                    "results": [{"id": b["tool_use_id"], "content": b["content"], "is_error": b.get("is_error")}
                                for b in blocks if b["type"] == "tool_result"]})
        else:
            v["system"] = "".join(p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", []))
            v["tools"] = [d["name"] for t in body.get("tools") or [] for d in t.get("functionDeclarations", [])]
            v["json"] = "responseSchema" in body.get("generationConfig", {}) or "JSON Schema" in v["system"]
            for c in body["contents"]:
                parts = c.get("parts") or []
                v["messages"].append({
                    "role": "assistant" if c.get("role") == "model" else "user",
                    "text": "".join(p.get("text", "") for p in parts),
                    "calls": [[p["functionCall"]["name"], p["functionCall"].get("args", {})]
                              for p in parts if "functionCall" in p],
                    "results": [{"id": p["functionResponse"]["name"], "content": json.dumps(
                        p["functionResponse"]["response"])} for p in parts if "functionResponse" in p]})
        return v

    # --- answers ---

    def answer_openai(self, body, text, calls, inp, out):
        msg = {"role": "assistant", "content": text if not calls else (text or None)}
        if calls:
            msg["tool_calls"] = [{"id": self.next_id("call_"), "type": "function",
                                  "function": {"name": n, "arguments": json.dumps(a)}} for n, a in calls]
        return {"id": self.next_id("chatcmpl-"), "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if calls else "stop"}],
                "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}}

    def answer_anthropic(self, body, text, calls, inp, out):
        content = [{"type": "text", "text": text}] if text else []
        content += [{"type": "tool_use", "id": self.next_id("toolu_"), "name": n, "input": a} for n, a in calls]
        return {"id": self.next_id("msg_"), "type": "message", "role": "assistant", "model": body["model"],
                "content": content, "stop_reason": "tool_use" if calls else "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": inp, "output_tokens": out}}

    def answer_gemini(self, body, text, calls, inp, out):
        parts = [{"text": text}] if text else []
        parts += [{"functionCall": {"name": n, "args": a}, "thoughtSignature": self.next_id("sig")}
                  for n, a in calls]
        return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": inp, "candidatesTokenCount": out,
                                  "totalTokenCount": inp + out}, "modelVersion": "fake-model"}


def last_results(view):
    """The contents of the tool results after the request's last assistant turn."""
    out = []
    for m in reversed(view["messages"]):
        if m["role"] == "assistant":
            break
        out = [r["content"] for r in m["results"]] + out
    return out


def called(view, name):
    """True if the conversation already holds a call of tool `name`."""
    return any(c[0] == name for m in view["messages"] for c in m["calls"])
