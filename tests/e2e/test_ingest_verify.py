"""End-to-end: what ingest verifies before an event enters the pipeline (issue 15):
SNS signatures, Pub/Sub push OIDC tokens, Warren's auth.http policy, and every valid
JSON (numbers beyond int64/double) passed on byte for byte.

A local CA is made here with openssl; a fake certificate/JWKS host serves HTTPS on
127.0.0.1 with a certificate of that CA: the SNS signing certificate (as
sns.<region>.amazonaws.com would), the SubscribeURL of confirmations, and a JWKS (as
www.googleapis.com would). The module runs a second hutch-ingest on the session's
Kafka with HUTCH_INGEST_SNS_CERT_HOSTS, HUTCH_INGEST_CA_FILE and the Pub/Sub
settings pointed at that host, and an auth.http policy. Every refusal is checked
to have produced nothing on hutch.events.raw."""
import base64
import hashlib
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import hutch_e2e
from hutch_e2e import TOPIC_EVENTS_RAW, TOPIC_INGEST_JSON, alert_pb2, scaled, wait_for

TOPIC = "arn:aws:sns:us-east-1:123456789012:hutch-alerts"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:someone-else"
AUDIENCE = "https://hutch.example/hooks/alert/pubsub/scc"
EMAIL = "push@hutch-test.iam.gserviceaccount.com"
HOOK_TOKEN = "e2e-" + uuid.uuid4().hex

AUTH_POLICY = """package auth.http

import rego.v1

default allow := false

# verified SNS deliveries of our topic, verified Pub/Sub pushes of our project
allow if input.sns.TopicArn == "%s"

allow if endswith(input.google.email, "@hutch-test.iam.gserviceaccount.com")

# raw hooks with the shared token kept in the environment (Warren's example)
allow if {
	startswith(input.req.path, "/hooks/alert/raw/")
	input.req.header["X-Hook-Token"][0] == input.env.HUTCH_E2E_HOOK_TOKEN
}

# a broken rule (allow must be a boolean): an evaluation error -> 500
allow := "broken" if input.req.header["X-Break"]
""" % TOPIC


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class FakeHost:
    """HTTPS on 127.0.0.1 with a certificate of the test's CA. Serves `files`
    (path -> bytes, mutable), records every request path."""

    def __init__(self, certfile, keyfile):
        self.files = {}
        self.seen = []
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host.seen.append(self.path)
                body = host.files.get(self.path.split("?")[0])
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def count(self, path):
        return sum(1 for p in self.seen if p.split("?")[0] == path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Rig:
    """The module's CA, keys, fake host and verifying hutch-ingest."""

    def __init__(self, st):
        self.st = st
        self.dir = os.path.join(st.base, f"verify-{uuid.uuid4().hex[:6]}")
        os.makedirs(os.path.join(self.dir, "policy"))
        d = self.dir
        # the local CA and the fake host's certificate (IP SAN 127.0.0.1)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=hutch e2e CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "host.key", "-out", "host.csr",
                "-subj", "/CN=127.0.0.1", cwd=d)
        with open(os.path.join(d, "host.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", "host.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "host.pem", "-days", "2", "-extfile", "host.ext", cwd=d)
        # SNS's signing certificate (self-signed: SNS's is trusted for where it is served from)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "sns.key", "-out", "sns.pem", "-days", "2",
                "-subj", "/CN=sns.amazonaws.com", cwd=d)
        with open(os.path.join(d, "sns.key"), "rb") as f:
            self.sns_key = serialization.load_pem_private_key(f.read(), None)
        self.evil_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # Google's token keys
        self.jwt_keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
                         "k2": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.host = FakeHost(os.path.join(d, "host.pem"), os.path.join(d, "host.key"))
        with open(os.path.join(d, "sns.pem"), "rb") as f:
            self.host.files["/SimpleNotificationService-e2e.pem"] = f.read()
        self.host.files["/confirm"] = b"<ConfirmSubscriptionResponse/>"
        self.publish_jwks(["k1"])
        with open(os.path.join(d, "policy", "auth.rego"), "w") as f:
            f.write(AUTH_POLICY)
        self.cert_url = self.host.url("/SimpleNotificationService-e2e.pem")
        self.svc = None

    def publish_jwks(self, kids):
        keys = []
        for kid in kids:
            pub = self.jwt_keys[kid].public_key().public_numbers()
            keys.append({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
                         "n": b64url(pub.n.to_bytes((pub.n.bit_length() + 7) // 8, "big")),
                         "e": b64url(pub.e.to_bytes(3, "big"))})
        self.host.files["/oauth2/v3/certs"] = json.dumps({"keys": keys}).encode()

    def env(self, **over):
        e = dict(self.st.env,
                 HUTCH_INGEST_CA_FILE=os.path.join(self.dir, "ca.pem"),
                 HUTCH_INGEST_SNS_CERT_HOSTS=r"^127\.0\.0\.1:%d$" % self.host.port,
                 HUTCH_INGEST_SNS_TOPICS=TOPIC + "," + OTHER_TOPIC.replace("someone-else", "x"),
                 HUTCH_INGEST_SNS_AUTO_CONFIRM="1",
                 HUTCH_INGEST_PUBSUB_AUDIENCE=AUDIENCE,
                 HUTCH_INGEST_PUBSUB_JWKS_URL=self.host.url("/oauth2/v3/certs"),
                 HUTCH_INGEST_PUBSUB_EMAILS=EMAIL,
                 HUTCH_INGEST_PUBSUB_JWKS_MIN_REFRESH="0",
                 HUTCH_INGEST_POLICY_DIR=os.path.join(self.dir, "policy"),
                 HUTCH_E2E_HOOK_TOKEN=HOOK_TOKEN)
        e.update(over)
        return e

    def start_ingest(self, tag="verify", **over):
        svc = hutch_e2e.Service("ingest", self.st.base, self.env(**over))
        svc.log = os.path.join(self.st.base, "logs", f"ingest-{tag}.log")
        svc.start()
        svc.wait_ready()
        return svc

    def close(self):
        self.host.close()

    # --- SNS messages ---------------------------------------------------------
    def sns_message(self, msg_type="Notification", message=None, topic=TOPIC, version="1", key=None,
                    cert_url=None, subject=None, token="tok-" + uuid.uuid4().hex):
        m = {"Type": msg_type, "MessageId": str(uuid.uuid4()), "TopicArn": topic,
             "Message": message if message is not None else json.dumps({"detail": {"id": uuid.uuid4().hex}}),
             "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
             "SignatureVersion": version, "SigningCertURL": cert_url or self.cert_url}
        if subject is not None:
            m["Subject"] = subject
        if msg_type != "Notification":
            m["Token"] = token
            m["SubscribeURL"] = self.host.url(f"/confirm?Action=ConfirmSubscription&Token={token}")
        else:
            m["UnsubscribeURL"] = self.host.url("/unsubscribe")
        self.sign(m, key or self.sns_key)
        return m

    @staticmethod
    def canonical(m):
        # AWS: "Verifying the signatures of Amazon SNS messages"
        if m["Type"] == "Notification":
            keys = ["Message", "MessageId"] + (["Subject"] if "Subject" in m else []) + ["Timestamp", "TopicArn", "Type"]
        else:
            keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        return "".join(f"{k}\n{m[k]}\n" for k in keys).encode()

    def sign(self, m, key):
        h = hashes.SHA1() if m["SignatureVersion"] == "1" else hashes.SHA256()
        m["Signature"] = base64.b64encode(key.sign(self.canonical(m), padding.PKCS1v15(), h)).decode()

    # --- Pub/Sub tokens -------------------------------------------------------
    def token(self, kid="k1", key=None, **claims):
        now = int(time.time())
        c = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "iat": now - 5, "exp": now + 600,
             "email": EMAIL, "email_verified": True, "sub": "1234567890"}
        c.update(claims)
        c = {k: v for k, v in c.items() if v is not None}
        head = b64url(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
        body = b64url(json.dumps(c).encode())
        k = key or self.jwt_keys.get(kid) or self.jwt_keys["k1"]
        sig = k.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{head}.{body}.{b64url(sig)}"


@pytest.fixture(scope="module")
def rig(stack):
    r = Rig(stack)
    r.svc = r.start_ingest()
    yield r
    rc = r.svc.stop()
    r.close()
    assert rc == 0, f"the verifying hutch-ingest did not exit 0 on SIGTERM: {rc}"


@pytest.fixture
def ing(rig):
    if not rig.svc.alive():
        rig.svc.start()
    rig.svc.wait_ready()
    return rig


def post(url, body, headers=None):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return requests.post(url, data=body, headers=dict({"Content-Type": "application/json"}, **(headers or {})),
                         timeout=30)


def raw_payloads(msgs):
    return [alert_pb2.RawEvent.FromString(m.value()).payload_json for m in msgs]


def expect_only(tail, marker_text, forbidden):
    """Reads hutch.events.raw until the event carrying marker_text arrives; no event
    carrying any of `forbidden` (texts unique to refused requests) may come before it
    or with it."""
    seen = []

    def arrived(m):
        p = alert_pb2.RawEvent.FromString(m.value()).payload_json
        seen.append(p)
        return marker_text in p
    assert tail.read_until(arrived, scaled(30)), "the accepted marker event never reached hutch.events.raw"
    seen += raw_payloads(tail.read_all(1.0))
    leaked = [p for p in seen for f in forbidden if f in p]
    assert not leaked, f"refused requests produced events: {leaked}"


def sns_url(rig, schema="sns_e2e"):
    return f"{rig.svc.url}/hooks/alert/sns/{schema}"


def test_sns_valid_signatures_v1_and_v2_accepted(ing):
    tail = ing.st.tail(TOPIC_EVENTS_RAW)
    try:
        tags = []
        for version in ("1", "2"):
            tag = uuid.uuid4().hex
            tags.append(tag)
            msg = ing.sns_message(message=json.dumps({"tag": tag, "id": 18446744073709551615}), version=version,
                                  subject="GuardDuty finding" if version == "2" else None)
            r = post(sns_url(ing), msg)
            assert r.status_code == 202, (version, r.status_code, r.text)
        got = {}

        def both(m):
            ev = alert_pb2.RawEvent.FromString(m.value())
            for t in tags:
                if t in ev.payload_json:
                    got[t] = ev
            return len(got) == 2
        assert tail.read_until(both, scaled(30)), f"only {list(got)} arrived"
        for t in tags:
            assert got[t].payload_json == json.dumps({"tag": t, "id": 18446744073709551615})
            assert got[t].source == "http:sns" and got[t].schema == "sns_e2e"
    finally:
        tail.close()
    assert ing.host.count("/SimpleNotificationService-e2e.pem") == 1  # fetched once, then cached


def test_sns_unverifiable_refused_and_nothing_produced(ing):
    tail = ing.st.tail(TOPIC_EVENTS_RAW)
    try:
        forbidden = []

        def refused(msg, status, what):
            tag = uuid.uuid4().hex
            forbidden.append(tag)
            if callable(msg):
                msg = msg(tag)
            r = post(sns_url(ing), msg)
            assert r.status_code == status, (what, r.status_code, r.text)
            return r

        # issue 15's forgery: a made-up signature, a certificate on the attacker's host
        refused(lambda t: {"Type": "Notification", "MessageId": "x", "TopicArn": TOPIC, "Timestamp": "t",
                           "Message": json.dumps({"tag": t}), "SignatureVersion": "1", "Signature": "AAAA",
                           "SigningCertURL": "https://evil.example/cert.pem"}, 401, "issue 15 forgery")
        # signed with another key, pointing at the genuine certificate
        refused(lambda t: ing.sns_message(message=json.dumps({"tag": t}), key=ing.evil_key), 401, "forged signature")
        refused(lambda t: ing.sns_message(message=json.dumps({"tag": t}), key=ing.evil_key, version="2"), 401,
                "forged signature v2")
        # the certificate on a host the pattern does not allow (same server, other name)
        refused(lambda t: ing.sns_message(message=json.dumps({"tag": t}),
                                          cert_url=f"https://localhost:{ing.host.port}/SimpleNotificationService-e2e.pem"),
                401, "wrong host")
        refused(lambda t: ing.sns_message(message=json.dumps({"tag": t}), cert_url="http://127.0.0.1:%d/x.pem"
                                          % ing.host.port), 401, "plain http certificate URL")

        # a genuine message replayed with its body tampered: Message, Subject added, TopicArn
        def tampered(field, value):
            def make(t):
                m = ing.sns_message(message=json.dumps({"tag": t}))
                m[field] = value(t) if callable(value) else value
                return m
            return make
        refused(tampered("Message", lambda t: json.dumps({"tag": t, "severity": 10})), 401, "tampered Message")
        refused(tampered("Subject", "added"), 401, "Subject added")
        refused(tampered("TopicArn", OTHER_TOPIC.replace("someone-else", "x")), 401, "TopicArn changed")
        # version 2 claimed for a version 1 signature
        refused(tampered("SignatureVersion", "2"), 401, "SignatureVersion changed")
        # verified, but from a topic that is not allowed: 403
        r = refused(lambda t: ing.sns_message(message=json.dumps({"tag": t}), topic=OTHER_TOPIC), 403, "topic")
        assert "TopicArn" in r.json()["error"]

        marker = uuid.uuid4().hex
        assert post(sns_url(ing), ing.sns_message(message=json.dumps({"tag": marker}))).status_code == 202
        expect_only(tail, marker, forbidden)
    finally:
        tail.close()
    assert not any(p.startswith("/cert.pem") for p in ing.host.seen)
    log = open(ing.svc.log).read()
    assert '"sns_refused"' in log


def test_sns_subscription_confirmation(ing):
    before = ing.host.count("/confirm")
    tok = "tok-" + uuid.uuid4().hex
    r = post(sns_url(ing), ing.sns_message("SubscriptionConfirmation", message="You have chosen to subscribe", token=tok))
    assert r.status_code == 200, r.text
    assert ing.host.count("/confirm") == before + 1
    assert any(tok in p for p in ing.host.seen)  # the verified SubscribeURL, token and all
    # forged: no GET
    bad = "tok-" + uuid.uuid4().hex
    r = post(sns_url(ing), ing.sns_message("SubscriptionConfirmation", message="x", token=bad, key=ing.evil_key))
    assert r.status_code == 401
    assert not any(bad in p for p in ing.host.seen)
    r = post(sns_url(ing), ing.sns_message("UnsubscribeConfirmation", message="unsubscribed"))
    assert r.status_code == 200, r.text

    # auto-confirm without a topic allow-list (any AWS account could subscribe): refused at start
    env = ing.env(HUTCH_INGEST_SNS_TOPICS="")
    env["HUTCH_INGEST_PORT"] = "0"
    p = subprocess.run([os.path.join(hutch_e2e.BIN_DIR, "hutch-ingest")], env=env, capture_output=True, text=True,
                       timeout=scaled(30))
    assert p.returncode == 78 and "HUTCH_INGEST_SNS_TOPICS" in p.stderr, (p.returncode, p.stderr)

    # without HUTCH_INGEST_SNS_AUTO_CONFIRM: not confirmed, the URL logged for an operator
    manual = ing.start_ingest("manual", HUTCH_INGEST_SNS_AUTO_CONFIRM="0")
    try:
        tok = "tok-" + uuid.uuid4().hex
        r = post(f"{manual.url}/hooks/alert/sns/sns_e2e",
                 ing.sns_message("SubscriptionConfirmation", message="subscribe?", token=tok))
        assert r.status_code == 200, r.text
        assert not any(tok in p for p in ing.host.seen)
        lines = [json.loads(x) for x in open(manual.log) if x.startswith("{") and tok in x]
        assert lines and lines[0].get("event") == "sns_confirmation_pending", lines
        assert tok in lines[0]["subscribe_url"]
    finally:
        assert manual.stop() == 0


def pubsub_body(tag):
    data = base64.b64encode(json.dumps({"tag": tag, "v": 1e300}).encode()).decode()
    return {"message": {"data": data, "messageId": "1", "attributes": {}},
            "subscription": "projects/p/subscriptions/s"}


def test_pubsub_oidc_tokens(ing):
    url = f"{ing.svc.url}/hooks/alert/pubsub/scc"
    tail = ing.st.tail(TOPIC_EVENTS_RAW)
    try:
        forbidden = []

        def refused(headers, what):
            tag = uuid.uuid4().hex
            forbidden.append(tag)
            r = post(url, pubsub_body(tag), headers)
            assert r.status_code == 401, (what, r.status_code, r.text)

        now = int(time.time())
        refused({}, "no token")
        refused({"Authorization": "Bearer " + ing.token(exp=now - 120)}, "expired")
        refused({"Authorization": "Bearer " + ing.token(aud="https://other.example/push")}, "wrong audience")
        refused({"Authorization": "Bearer " + ing.token(iss="https://evil.example")}, "wrong issuer")
        refused({"Authorization": "Bearer " + ing.token(key=ing.evil_key)}, "forged signature")
        refused({"Authorization": "Bearer " + ing.token(email="mallory@evil.iam.gserviceaccount.com")}, "email")
        refused({"Authorization": "Bearer " + ing.token(email_verified=False)}, "unverified email")
        t = ing.token().split(".")
        claims = json.loads(base64.urlsafe_b64decode(t[1] + "=="))
        claims["aud"] = AUDIENCE  # unchanged audience, longer validity: a tampered payload
        claims["exp"] += 3600
        refused({"Authorization": "Bearer " + ".".join([t[0], b64url(json.dumps(claims).encode()), t[2]])},
                "tampered token")
        # unknown kid: the JWKS is fetched again (min refresh 0), still unknown -> 401
        fetches = ing.host.count("/oauth2/v3/certs")
        refused({"Authorization": "Bearer " + ing.token(kid="k-unknown", key=ing.jwt_keys["k1"])}, "unknown kid")
        assert ing.host.count("/oauth2/v3/certs") == fetches + 1

        ok = uuid.uuid4().hex
        r = post(url, pubsub_body(ok), {"Authorization": "Bearer " + ing.token()})
        assert r.status_code == 202, r.text
        # key rotation: a token of a new kid makes ingest fetch the JWKS again
        ing.publish_jwks(["k1", "k2"])
        marker = uuid.uuid4().hex
        r = post(url, pubsub_body(marker), {"Authorization": "Bearer " + ing.token(kid="k2")})
        assert r.status_code == 202, r.text
        expect_only(tail, marker, forbidden)
    finally:
        tail.close()


def test_auth_http_policy(ing):
    url = f"{ing.svc.url}/hooks/alert/raw/auth_e2e"
    tail = ing.st.tail(TOPIC_EVENTS_RAW)
    try:
        wrong = "wrong-" + uuid.uuid4().hex
        denied = uuid.uuid4().hex
        r = post(url, {"tag": denied}, {"X-Hook-Token": wrong})
        assert r.status_code == 403, r.text
        broken = uuid.uuid4().hex
        r = post(url, {"tag": broken}, {"X-Break": "1"})
        assert r.status_code == 500, r.text
        marker = uuid.uuid4().hex
        r = post(url + "?src=e2e", {"tag": marker}, {"X-Hook-Token": HOOK_TOKEN})
        assert r.status_code == 202, r.text
        expect_only(tail, marker, [denied, broken])
    finally:
        tail.close()
    log = open(ing.svc.log).read()
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    [deny] = [x for x in lines if x.get("event") == "auth_denied" and "auth_e2e" == x.get("schema")][-1:]
    req = json.loads(deny["request"])
    assert req["method"] == "POST" and req["path"] == "/hooks/alert/raw/auth_e2e"
    assert req["remote"].startswith("127.0.0.1:")
    assert req["header"]["X-Hook-Token"] == ["[redacted]"]
    assert wrong not in log and HOOK_TOKEN not in log  # secrets never logged
    assert any(x.get("event") == "auth_policy_error" for x in lines)


NUMBERS = ('{"id": 18446744073709551615, "big": 1234567890123456789012345678901234567890,'
           ' "huge": 1e400, "neg0": -0, "tiny": 1E-400, "tag": "%s"}')


def test_every_valid_json_passes_byte_for_byte(healthy):
    """Over HTTP (the session's ingest) and on the Kafka JSON path: the payload that
    reaches hutch.events.raw is the bytes sent."""
    st = healthy
    tail = st.tail(TOPIC_EVENTS_RAW)
    try:
        http_body = NUMBERS % uuid.uuid4().hex
        r = st.post_alert("numbers", http_body)
        assert r.status_code == 202, r.text
        kafka_body = NUMBERS % uuid.uuid4().hex
        st.produce(TOPIC_INGEST_JSON, kafka_body.encode(), headers=[("hutch-schema", b"numbers")])
        want = {http_body, kafka_body}
        got = set()

        def both(m):
            p = alert_pb2.RawEvent.FromString(m.value()).payload_json
            if p in want:
                got.add(p)
            return got == want
        assert tail.read_until(both, scaled(30)), f"arrived: {got}"
    finally:
        tail.close()
    # still refused: not JSON, and what jsonb cannot store
    assert st.post_alert("numbers", '{"a": 1e}').status_code == 400
    assert st.post_alert("numbers", '{"a": "\\u0000"}').status_code == 400
