#!/usr/bin/python3
"""Creates Hutch's Kafka topics (the HUTCH_TOPICS list of common/topics.h) with N
partitions, replication 1, on a broker; existing topics are left alone.

    /usr/bin/python3 scripts/topics.py BROKERS [PARTITIONS]

The start-up step of scripts/stack.sh and the e2e tests, before any service runs
(the services also create them, idempotently, on start). Exit 0 when every topic
exists afterwards, 1 otherwise. Bounded: 30 s."""
import os
import re
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def topic_constants():
    """{C constant: topic name} from the X(TOPIC_..., "name") lines of common/topics.h,
    in the list's order."""
    with open(os.path.join(ROOT, "common", "topics.h")) as f:
        found = dict(re.findall(r'^\s*X\((TOPIC_\w+),\s*"([^"]+)"\)', f.read(), re.M))
    if not found:
        raise RuntimeError("no X(TOPIC_..., \"name\") line in common/topics.h")
    return found


def hutch_topics():
    return list(topic_constants().values())


def ensure_topics(brokers, partitions=8, timeout=30.0):
    admin = AdminClient({"bootstrap.servers": brokers})
    want = hutch_topics()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            have = admin.list_topics(timeout=5).topics
        except Exception as e:  # broker not answering yet
            print(f"topics: waiting for broker: {e}", file=sys.stderr)
            time.sleep(0.5)
            continue
        missing = [t for t in want if t not in have]
        if not missing:
            return want
        futures = admin.create_topics([NewTopic(t, partitions, 1) for t in missing], request_timeout=10)
        for t, fut in futures.items():
            try:
                fut.result(timeout=15)
            except Exception as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    print(f"topics: {t}: {e}", file=sys.stderr)
        time.sleep(0.2)
    raise RuntimeError(f"topics not all created on {brokers} within {timeout}s")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    try:
        names = ensure_topics(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8)
    except Exception as e:
        print(f"topics: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"topics: {len(names)} present on {sys.argv[1]}", file=sys.stderr)
