"""The Kafka cluster id of scripts/kafka.sh (issue 15, "starts that never flake").

The old id was base64 of random bytes: about 1 start in 64 it began with '-', the
storage format read it as an option and failed, and so did every later start. The id is
now in `kafka-storage random-uuid`'s form (a version-4 UUID, url-safe base64 without
padding, never starting with '-'). 500 ids from the generator are checked (with the old
generator 500 draws hold an id starting with '-' with probability 1 - (63/64)^500 >
99.9%), and a few real ones are formatted by Kafka's StorageTool, one of them in a
directory where an older kafka.sh left an id starting with '-'. Needs no stack."""
import base64
import os
import re
import subprocess
import tempfile

from hutch_e2e import ROOT

KAFKA_SH = os.path.join(ROOT, "scripts", "kafka.sh")
ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{21}$")


def decode_id(cid):
    raw = base64.urlsafe_b64decode(cid + "==")
    assert len(raw) == 16, cid
    return raw


def test_500_cluster_ids_are_uuids_that_are_not_options():
    out = subprocess.run([KAFKA_SH, "cluster-id", "500"], capture_output=True, text=True, timeout=120, check=True)
    ids = out.stdout.split()
    assert len(ids) == 500
    assert len(set(ids)) == 500, "cluster ids repeat"
    for cid in ids:
        assert ID_RE.match(cid), f"{cid!r}: not 22 url-safe base64 characters, or starts with '-'"
        raw = decode_id(cid)
        assert raw[6] >> 4 == 4, f"{cid}: not a version-4 UUID"
        assert raw[8] >> 6 == 2, f"{cid}: not an RFC 4122 variant UUID"
        # url-safe base64 without padding, exactly as Kafka's Uuid.toString writes it
        assert base64.urlsafe_b64encode(raw).decode().rstrip("=") == cid


def meta_cluster_id(d):
    with open(os.path.join(d, "meta", "meta.properties")) as f:
        return dict(l.strip().split("=", 1) for l in f if "=" in l and not l.startswith("#"))["cluster.id"]


def test_real_format_with_new_ids_and_after_a_stale_dash_id():
    with tempfile.TemporaryDirectory(prefix="hutch-clusterid-") as base:
        dirs = [os.path.join(base, n) for n in ("a", "b", "stale")]
        os.makedirs(dirs[2])
        stale = "-t" + "A" * 20   # what the old generator could leave behind
        with open(os.path.join(dirs[2], "cluster.id"), "w") as f:
            f.write(stale + "\n")
        seen = set()
        for d in dirs:
            r = subprocess.run([KAFKA_SH, "format", d, "61990"], capture_output=True, text=True, timeout=180)
            assert r.returncode == 0, f"format failed in {d}: {r.stderr}"
            with open(os.path.join(d, "cluster.id")) as f:
                cid = f.read().strip()
            assert ID_RE.match(cid), cid
            assert meta_cluster_id(d) == cid, "the storage was formatted with another id"
            seen.add(cid)
        assert stale not in seen
        assert len(seen) == 3
        # formatting again is a no-op: the id stays
        r = subprocess.run([KAFKA_SH, "format", dirs[0], "61990"], capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        assert meta_cluster_id(dirs[0]) == open(os.path.join(dirs[0], "cluster.id")).read().strip()
