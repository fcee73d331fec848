"""pytest fixtures of the end-to-end tests (see hutch_e2e.py for the harness).

One stack per session: Postgres in a temp dir, the Kafka broker (real Kafka; with
HUTCH_BROKER=dev the dev broker), the topics, the six services. Tests keep to their
own data (unique titles), so they share it. At the end every service gets SIGTERM and
must exit 0 (clean drain; in MODE=asan that is also the leak check): otherwise the
session's last test reports an error.

Run: /usr/bin/python3 -m pytest tests/e2e   (scripts/test.sh does, with HUTCH_BIN_DIR)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hutch_e2e  # noqa: E402


def pytest_report_header(config):
    return (f"hutch e2e: binaries {hutch_e2e.BIN_DIR}, broker {hutch_e2e.BROKER_KIND}, "
            f"timeouts x{hutch_e2e.SLOW:g}")


@pytest.fixture(scope="session")
def stack():
    st = hutch_e2e.Stack()
    try:
        st.start()
    except BaseException:
        for s in st.services.values():
            sys.stderr.write(f"--- {s.name} log ---\n{s.log_tail(30)}\n")
        st.close()
        raise
    sys.stderr.write(f"\nstack up: {', '.join(f'{k} {v:.1f}s' for k, v in st.timings.items())}\n")
    yield st
    bad = st.close()
    if bad:
        pytest.fail(f"services did not exit 0 on SIGTERM: {bad} (logs were in {st.base})")


@pytest.fixture
def healthy(stack):
    """The stack, checked alive and ready before the test (and restored if a previous
    test left a service down)."""
    for s in stack.services.values():
        if not s.alive():
            s.start()
    for s in stack.services.values():
        s.wait_ready()
    return stack


def pytest_runtest_makereport(item, call):
    """On failure, append the tail of every service log to the report."""
    if call.when == "call" and call.excinfo is not None:
        st = item.funcargs.get("stack") or item.funcargs.get("healthy")
        if st is not None:
            for s in st.services.values():
                item.add_report_section("call", f"{s.name} log", s.log_tail(6))
