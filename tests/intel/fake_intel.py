#!/usr/bin/env python3
"""A fake of the threat-intel providers of issue 9, on loopback, for tests.

One HTTP server answers every provider under its own path prefix, so each base URL
setting points at it: HUTCH_INTEL_VIRUSTOTAL_URL=http://127.0.0.1:PORT/vt/api/v3 and
so on (PREFIXES below). Each provider's real request shape is checked — method, path,
query or form fields, JSON body, the key header (or Shodan's key= query parameter),
Accept headers — and a request that does not match gets the status the provider
would give (400/401/404/405), so a client bug shows up as a failure, not a pass.

Answers are the recorded-shape files of tests/fixtures/intel: the KNOWN values get
the "malicious" file, everything else the provider's "not found" answer.

Control (JSON over HTTP, under /_control/):
  POST /_control/mode   {"provider": "virustotal", "mode": "ok|429|500|slow|malformed",
                         "retry_after": "7", "delay": 2.0}
  GET  /_control/calls  {"virustotal": 3, ...}  requests per provider (control excluded)
  POST /_control/reset  modes back to ok, counts to zero

Usage: fake_intel.py [--port N] [--key KEY]   prints the port on its first stdout line,
serves until killed or until its stdin closes (so a test runner's death ends it).
"""
import argparse
import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "intel")

PREFIXES = {
    "/vt/api/v3": "virustotal",
    "/abuseipdb/api/v2": "abuseipdb",
    "/otx/api/v1": "otx",
    "/shodan": "shodan",
    "/urlscan/api/v1": "urlscan",
    "/urlhaus/v1": "urlhaus",
    "/threatfox/api/v1": "threatfox",
    "/mb/api/v1": "malwarebazaar",
    "/rdap": "rdap",
}

BAD_IP = "45.155.205.233"
BAD_URL = "http://45.155.205.233/bins/mozi.m"
BAD_MD5 = "44d88612fea8a8f36de82e1278abb02f"
BAD_SHA1 = "3395856ce81f2b7382dee72602f798b642f14140"
BAD_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
BAD_HASHES = {BAD_MD5, BAD_SHA1, BAD_SHA256}
BAD_IOC = "45.155.205.233:50050"
BAD_DOMAIN = "evil.example.net"
NEW_DOMAIN = "evil-login.com"


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


class State:
    def __init__(self, key):
        self.key = key
        self.lock = threading.Lock()
        self.modes = {}
        self.calls = {p: 0 for p in PREFIXES.values()}

    def reset(self):
        with self.lock:
            self.modes = {}
            self.calls = {p: 0 for p in PREFIXES.values()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-intel/1"

    def log_message(self, fmt, *args):  # quiet: tests read counts, not logs
        pass

    # ---- plumbing ----
    def send(self, status, body=b"", ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        st = self.server.state
        url = urlsplit(self.path)
        raw = self.body() if method == "POST" else b""
        if url.path.startswith("/_control/"):
            return self.control(method, url.path[len("/_control/"):], raw)
        for prefix, provider in PREFIXES.items():
            if url.path.startswith(prefix + "/"):
                break
        else:
            return self.send(404, {"error": "no such provider"})
        with st.lock:
            st.calls[provider] += 1
            mode = dict(st.modes.get(provider, {}))
        m = mode.get("mode", "ok")
        if m == "429":
            return self.send(429, {"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}},
                             headers={"Retry-After": str(mode.get("retry_after", "7"))})
        if m == "500":
            return self.send(500, b"<html>500 Internal Server Error</html>", "text/html")
        if m == "slow":
            time.sleep(float(mode.get("delay", 2.0)))
        path = url.path[len(prefix):]
        query = parse_qs(url.query)
        status, answer = getattr(self, "p_" + provider)(method, path, query, raw)
        if m == "malformed" and status == 200:
            answer = b'{"data": {"attributes": {"last_analysis_stats": '
        ctype = "application/rdap+json" if provider == "rdap" else "application/json"
        self.send(status, answer, ctype)

    def control(self, method, what, raw):
        st = self.server.state
        if what == "calls" and method == "GET":
            with st.lock:
                return self.send(200, dict(st.calls))
        if what == "reset" and method == "POST":
            st.reset()
            return self.send(200, {"ok": True})
        if what == "mode" and method == "POST":
            req = json.loads(raw or b"{}")
            with st.lock:
                st.modes[req["provider"]] = req
            return self.send(200, {"ok": True})
        return self.send(404, {"error": "no such control"})

    def key_ok(self, header):
        return self.headers.get(header) == self.server.state.key

    # ---- providers: (status, body) ----
    def p_virustotal(self, method, path, query, raw):
        if method != "GET":
            return 405, {"error": {"code": "MethodNotAllowedError"}}
        if not self.key_ok("x-apikey"):
            return 401, {"error": {"code": "WrongCredentialsError", "message": "Wrong API key"}}
        parts = path.strip("/").split("/")
        if len(parts) != 2:
            return 404, {"error": {"code": "NotFoundError"}}
        coll, ident = parts[0], unquote(parts[1])
        nf = (404, fixture("virustotal/not_found.json"))
        if coll == "ip_addresses":
            return (200, fixture("virustotal/ip_malicious.json")) if ident == BAD_IP else nf
        if coll == "domains":
            return (200, fixture("virustotal/domain_harmless.json")) if ident == "example.com" else nf
        if coll == "files":
            return (200, fixture("virustotal/file_malicious.json")) if ident in BAD_HASHES else nf
        if coll == "urls":
            if "=" in ident:
                return 400, {"error": {"code": "InvalidArgumentError", "message": "padding in URL id"}}
            url = base64.urlsafe_b64decode(ident + "=" * (-len(ident) % 4)).decode()
            return (200, fixture("virustotal/ip_malicious.json")) if url == BAD_URL else nf
        return 404, {"error": {"code": "NotFoundError"}}

    def p_abuseipdb(self, method, path, query, raw):
        if method != "GET" or path != "/check":
            return 404, {"errors": [{"detail": "not found", "status": 404}]}
        if not self.key_ok("Key"):
            return 401, {"errors": [{"detail": "Authentication failed", "status": 401}]}
        if self.headers.get("Accept") != "application/json":
            return 406, {"errors": [{"detail": "Accept must be application/json"}]}
        ip = query.get("ipAddress", [""])[0]
        if not ip or query.get("maxAgeInDays", [""])[0] != "90":
            return 422, {"errors": [{"detail": "The ip address field is required.", "status": 422}]}
        if ip == BAD_IP:
            return 200, fixture("abuseipdb/check_malicious.json")
        ans = json.loads(fixture("abuseipdb/check_clean.json"))
        ans["data"].update(ipAddress=ip, isWhitelisted=False, totalReports=0, numDistinctUsers=0)
        return 200, ans

    def p_otx(self, method, path, query, raw):
        parts = path.strip("/").split("/")
        if method != "GET" or len(parts) != 4 or parts[0] != "indicators" or parts[3] != "general":
            return 404, {"detail": "Not found."}
        if parts[1] not in ("IPv4", "IPv6", "domain", "hostname", "url", "file"):
            return 404, {"detail": "Not found."}
        if self.headers.get("X-OTX-API-KEY") not in (None, self.server.state.key):
            return 403, {"detail": "Invalid API key"}
        value = unquote(parts[2])
        if value in (BAD_IP, BAD_URL) or value in BAD_HASHES:
            return 200, fixture("otx/ip_pulses.json")
        ans = json.loads(fixture("otx/none.json"))
        ans["indicator"] = value
        return 200, ans

    def p_shodan(self, method, path, query, raw):
        if method != "GET" or not path.startswith("/shodan/host/"):
            return 404, {"error": "No information available for that IP."}
        if query.get("key", [""])[0] != self.server.state.key:
            return 401, {"error": "Please provide a valid API key."}
        ip = unquote(path[len("/shodan/host/"):])
        if ip == BAD_IP:
            return 200, fixture("shodan/host_c2.json")
        return 404, fixture("shodan/not_found.json")

    def p_urlscan(self, method, path, query, raw):
        if method != "GET" or path != "/search/":
            return 404, {"message": "Not found", "status": 404}
        if not self.key_ok("API-Key"):
            return 401, {"message": "API key invalid", "status": 401}
        q = query.get("q", [""])[0]
        if q in ("domain:" + BAD_DOMAIN, 'ip:"%s"' % BAD_IP):
            return 200, fixture("urlscan/search_malicious.json")
        if not q.startswith(("domain:", "ip:", "page.url:")):
            return 400, {"message": "bad query", "status": 400}
        return 200, fixture("urlscan/search_empty.json")

    def form(self, raw):
        if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return None
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}

    def p_urlhaus(self, method, path, query, raw):
        if method != "POST":
            return 405, {"query_status": "http_post_expected"}
        if not self.key_ok("Auth-Key"):
            return 401, {"query_status": "unknown_auth_key"}
        f = self.form(raw)
        if f is None:
            return 200, {"query_status": "invalid_request"}
        nores = fixture("urlhaus/no_results.json")
        if path == "/url/":
            return 200, fixture("urlhaus/url_ok.json") if f.get("url") == BAD_URL else nores
        if path == "/host/":
            if "host" not in f:
                return 200, {"query_status": "invalid_host"}
            return 200, fixture("urlhaus/host_ok.json") if f["host"] == BAD_IP else nores
        if path == "/payload/":
            h = f.get("md5_hash") or f.get("sha256_hash")
            if not h:
                return 200, {"query_status": "invalid_hash"}
            return 200, fixture("urlhaus/payload_ok.json") if h in BAD_HASHES else nores
        return 404, {"query_status": "unknown_endpoint"}

    def p_threatfox(self, method, path, query, raw):
        if method != "POST" or path != "/":
            return 405, {"query_status": "http_post_expected"}
        if not self.key_ok("Auth-Key"):
            return 401, {"query_status": "unknown_auth_key"}
        try:
            req = json.loads(raw)
        except ValueError:
            return 200, {"query_status": "illegal_json"}
        if req.get("query") == "search_ioc" and req.get("exact_match") is True:
            term = req.get("search_term", "")
            return 200, fixture("threatfox/ioc_ok.json") if term == BAD_IOC else fixture("threatfox/no_result.json")
        if req.get("query") == "search_hash":
            h = req.get("hash", "")
            return 200, fixture("threatfox/ioc_ok.json") if h in BAD_HASHES else fixture("threatfox/no_result.json")
        return 200, {"query_status": "unknown_query"}

    def p_malwarebazaar(self, method, path, query, raw):
        if method != "POST" or path != "/":
            return 405, {"query_status": "http_post_expected"}
        if not self.key_ok("Auth-Key"):
            return 401, {"query_status": "unknown_auth_key"}
        f = self.form(raw)
        if f is None or f.get("query") != "get_info":
            return 200, {"query_status": "unknown_operation"}
        h = f.get("hash", "")
        return 200, fixture("malwarebazaar/get_info_ok.json") if h in BAD_HASHES else fixture(
            "malwarebazaar/hash_not_found.json")

    def p_rdap(self, method, path, query, raw):
        if method != "GET":
            return 405, {"errorCode": 405}
        if self.headers.get("Accept") != "application/rdap+json":
            return 406, {"errorCode": 406}
        parts = path.strip("/").split("/")
        if len(parts) != 2:
            return 400, {"errorCode": 400, "title": "bad request"}
        kind, value = parts[0], unquote(parts[1])
        if kind == "ip":
            return 200, fixture("rdap/ip.json")
        if kind == "domain":
            return 200, fixture("rdap/domain_new.json" if value == NEW_DOMAIN else "rdap/domain_old.json")
        if kind == "autnum" and value.isdigit():
            return 200, fixture("rdap/autnum.json")
        return 404, {"errorCode": 404, "title": "not found"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default="test-key")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args.key)
    print(srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        sys.stdin.read()  # returns when the parent closes the pipe or dies
    except KeyboardInterrupt:
        pass
    srv.shutdown()


if __name__ == "__main__":
    main()
