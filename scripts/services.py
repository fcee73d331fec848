#!/usr/bin/python3
"""Hutch's services in pipeline order with their default HTTP ports, read from the one
list, the X(name, port) lines of common/services.h (service.c makes each service's
HUTCH_<NAME>_PORT setting from it; scripts/lib.sh reads it too).

    from services import hutch_services   # [("ingest", 8081), ...]

Run as a script, prints "name port" lines."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def hutch_services():
    with open(os.path.join(ROOT, "common", "services.h")) as f:
        found = re.findall(r"^\s*X\((\w+),\s*(\d+)\)", f.read(), re.M)
    if not found:
        raise RuntimeError("no X(name, port) line in common/services.h")
    return [(name, int(port)) for name, port in found]


def service_names():
    return [name for name, _ in hutch_services()]


if __name__ == "__main__":
    for name, port in hutch_services():
        print(name, port)
